# leasehold — the two commands that matter: `make run` and `make test`.
# Cargo's target dir lives outside the checkout so CI can cache it.
CARGO_TARGET_DIR ?= $(HOME)/.cache/leasehold/target
export CARGO_TARGET_DIR
ROOT_TOKEN ?= root
ADDR ?= 127.0.0.1:8200

.PHONY: run install build venv rabbitmq test test-rust test-hvac test-ui test-cluster test-chaos bench lint fmt

## run: a dev server on $(ADDR) with in-memory storage and root token $(ROOT_TOKEN); once it
## answers, `database/` is enabled for the README's walkthrough (a bare `server -dev` mounts
## nothing, as Vault's). A debug build: a first build takes a fraction of a release build's time.
LEASEHOLD_DEBUG = $(CARGO_TARGET_DIR)/debug/leasehold
run:
	cargo build --bin leasehold
	@( export VAULT_ADDR=http://$(ADDR) VAULT_TOKEN=$(ROOT_TOKEN); \
	  for i in $$(seq 1 150); do \
	    if $(LEASEHOLD_DEBUG) status >/dev/null 2>&1; then \
	      $(LEASEHOLD_DEBUG) secrets enable database >/dev/null \
	        && echo "make run: enabled the database secrets engine at database/" >&2; \
	      exit 0; \
	    fi; sleep 0.2; \
	  done ) &
	$(LEASEHOLD_DEBUG) server -dev -dev-listen-address=$(ADDR) -dev-root-token-id=$(ROOT_TOKEN)

## install: the leasehold binary into ~/.cargo/bin (cargo install; a release build, ~6 minutes)
install:
	cargo install --path . --locked --bin leasehold

build:
	cargo build --workspace --all-targets

## test: unit + integration tests (throwaway PostgreSQL with SCRAM auth) and the hvac suite
test: build test-rust test-hvac test-ui test-cluster test-chaos

## venv: Python tools the tests drive (moto for IAM/STS, hvac), in ~/.cache/leasehold/venv
venv:
	integration/setup-venv.sh

## rabbitmq: the machine's RabbitMQ with its management plugin enabled (off by default) and the
## management API answering on 15672, which the rabbitmq engine talks to (needs root)
rabbitmq:
	integration/setup-rabbitmq.sh

test-rust: venv rabbitmq
	cargo test --workspace -- --test-threads=4

test-hvac: rabbitmq
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-hvac.sh

## test-ui: the web console in Debian's Chromium driven by playwright-core, against `server -dev`
## and the throwaway PostgreSQL; setup-ui.sh installs both when missing. Screenshots land in
## integration/.work/ui/screenshots/.
test-ui:
	integration/setup-ui.sh
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-pytest.sh ui

## test-cluster: three servers on one PostgreSQL storage database (issue, renew, revoke across
## nodes; a node killed during mass expiry; leader failover)
test-cluster:
	LEASEHOLD_BIN=$(CARGO_TARGET_DIR)/debug/leasehold integration/run-cluster.sh

test-chaos: rabbitmq
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
