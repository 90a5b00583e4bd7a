#!/usr/bin/env bash
# Run every fuzz target (or those named as arguments) for $FUZZ_SECONDS seconds each (default 60),
# one after another; stop at the first crash, which cargo fuzz saves under fuzz/artifacts/<target>/.
#
# cargo-fuzz needs a nightly compiler; RUSTC_BOOTSTRAP=1 lets the stable one take the nightly
# flags it passes. The targets are safe Rust, so no sanitizer (`-s none`): a panic is the crash we
# look for, and building without ASan is much faster. The root Cargo.lock is copied in so that the
# fuzzed code is built with the same dependency versions as the server.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi
cp "$here/../Cargo.lock" "$here/Cargo.lock"
cd "$here"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none
mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    if [ -d "seeds/$t" ]; then seeds=("seeds/$t"); fi
    echo "== $t: ${seconds}s (log: fuzz/logs/$t.log)"
    status=0
    cargo fuzz run -s none "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"logs/$t.log" 2>&1 || status=$?
    grep -E '^(stat::number_of_executed_units|Done [0-9]+ runs)' "logs/$t.log" || true
    if [ "$status" -ne 0 ]; then
        grep -E -A3 'panicked at|^Failing input' "logs/$t.log" >&2 || true
        echo "fuzz target $t found a crash (exit $status): see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
