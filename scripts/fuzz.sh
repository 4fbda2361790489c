#!/usr/bin/env bash
# Fuzzes the wire-protocol decoders (fuzz/, see docs/FUZZING.md) for a bounded
# time: each target in turn for SECONDS_PER_TARGET, starting from and growing
# its corpus in fuzz/corpus/<target>/. Exits non-zero when any target finds a
# crash (a panic, an allocation over the limit, a timeout); the input that did
# it is in fuzz/artifacts/<target>/.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#   FUZZ_TARGETS  targets to run (default: client_msg server_msg frames)
#   FUZZ_CMIN     1 = minimise each corpus afterwards (cargo fuzz cmin)
#
# cargo-fuzz is installed if missing. It needs nightly compiler flags; the
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
targets=${FUZZ_TARGETS:-client_msg server_msg frames}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "=== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "=== building the fuzz targets"
start=$SECONDS
cargo fuzz build
echo "built in $((SECONDS - start)) s"

mkdir -p fuzz/artifacts
failed=()
size() { find "$1" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { print n + 0 " files, " s + 0 " bytes" }'; }
for t in $targets; do
    echo "=== fuzzing $t for $secs s"
    mkdir -p "fuzz/corpus/$t"
    log=fuzz/artifacts/$t.log
    # -max_len: room for the longest string (4096 bytes) and a few frames.
    # -timeout: an input that takes seconds is a hang.
    if cargo fuzz run "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=16384 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$log" || true
    else
        tail -n 60 "$log"
        failed+=("$t")
    fi
    echo "corpus: $(size "fuzz/corpus/$t")"
    if [ "${FUZZ_CMIN:-0}" = 1 ]; then
        cargo fuzz cmin "$t" "fuzz/corpus/$t" -- -max_len=16384 -rss_limit_mb=2048 >"fuzz/artifacts/$t.cmin.log" 2>&1
        echo "minimised: $(size "fuzz/corpus/$t")"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/artifacts/*.log)" >&2
    exit 1
fi
echo "fuzz.sh: no crash in $targets"
