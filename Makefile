# leasehold — the two commands that matter: `make run` and `make test`.
# Cargo's target dir lives outside the checkout so CI can cache it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/leasehold/target
export CARGO_TARGET_DIR
ROOT_TOKEN ?= root
ADDR ?= 127.0.0.1:8200

.PHONY: run build venv test test-rust test-hvac test-cluster test-chaos bench lint fmt

## run: a dev server on $(ADDR) with in-memory storage, a `database/` mount and root token $(ROOT_TOKEN)
run:
	cargo run --release --bin leasehold -- server -dev -dev-listen-address=$(ADDR) -dev-root-token-id=$(ROOT_TOKEN)

build:
	cargo build --workspace --all-targets

## test: unit + integration tests (throwaway PostgreSQL with SCRAM auth) and the hvac suite
test: build test-rust test-hvac test-cluster test-chaos

## venv: Python tools the tests drive (moto for IAM/STS, hvac), in ~/.cache/leasehold/venv
venv:
	integration/setup-venv.sh

test-rust: venv
	cargo test --workspace -- --test-threads=4

test-hvac:
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-hvac.sh

## test-cluster: three servers on one PostgreSQL storage database (issue, renew, revoke across
## nodes; a node killed during mass expiry; leader failover)
test-cluster:
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-cluster.sh

test-chaos:
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-chaos.sh

## bench: every benchmark side by side with its baseline (release builds; ~15 minutes); figures
## go to stdout and integration/.work/bench/results.json. BENCH="pg_issue renew" runs a few;
## BENCH_FLAGS=--quick a smoke run. Not part of `make test`: see BENCHMARKS.md.
BENCH ?=
BENCH_FLAGS ?=
bench:
	cargo build --release -p leasehold -p leasehold-bench
	mkdir -p integration/.work/bench
	$(CARGO_TARGET_DIR)/release/leasehold-bench --binary $(CARGO_TARGET_DIR)/release/leasehold \
		--out integration/.work/bench/results.json $(BENCH_FLAGS) $(BENCH)

## lint: formatting and clippy with warnings as errors
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## fuzz: every cargo-fuzz target in fuzz/ for $(FUZZ_SECONDS)s each (needs `cargo install cargo-fuzz`;
## the stable compiler is enough, see fuzz/README.md). Not part of `make test`.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh
