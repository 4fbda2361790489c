#!/usr/bin/env bash
# The soak run of the core server: builds in release and runs the soak test
# (tests/soak.rs: honest calls, rooms, media, floods and restarts at once
# against a real anychat-server) for SECONDS (default 3600), writing
#
#   target/soak/<UTC date-time>/soak.json   the summary (figures, checks, 10-s intervals)
#   target/soak/<UTC date-time>/soak.log    the run's log (a line every 10 s, then the summary)
#   target/soak/<UTC date-time>/server.log  the server's log (warnings, "limits since start")
#
# Usage: scripts/soak.sh [SECONDS]
#
# Its sizes are the test's environment variables (see tests/soak.rs), e.g.
#   SOAK_RESTART_EVERY=900 SOAK_FLOOD_EVERY=60 SOAK_PAIRS=4 SOAK_ROOMS=3 SOAK_ROOM_USERS=5
#   SOAK_MEDIA_CALLS=3 SOAK_MEDIA_CALL_SECONDS=60 SOAK_FLOOD_SECONDS=3 SOAK_SERVER_ARGS=...
# SOAK_OUT overrides the output folder; CARGO_BUILD_JOBS limits the build's jobs.
# Needs no network beyond fetching the crates pinned in Cargo.lock (--locked).
# Exit status: the test's (0 when every check passed).
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${1:-3600}
case $seconds in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

out=${SOAK_OUT:-target/soak/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The test opens a thousand connections at once (a connection burst).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "soak: building in release…"
cargo test --release --locked --test soak --no-run

{
    echo "soak: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), ${seconds} s"
    echo "soak: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
    echo "soak: machine: $(nproc) cores, $(uname -srm), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "soak: settings: $(env | grep '^SOAK_' | sort | tr '\n' ' ')"
    echo "soak: output in $out"
} | tee "$out/soak.log"

status=0
SOAK_SECONDS=$seconds SOAK_JSON=$out/soak.json SOAK_SERVER_LOG=$out/server.log \
    cargo test --release --locked --test soak -- --ignored --nocapture --test-threads 1 2>&1 |
    tee -a "$out/soak.log" || status=$?

echo
echo "soak: exit status $status"
echo "soak: summary  $out/soak.json"
echo "soak: log      $out/soak.log"
echo "soak: server   $out/server.log"
exit "$status"
