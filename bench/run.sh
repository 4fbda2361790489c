#!/usr/bin/env bash
# bench/run.sh — the core server's load benchmark (issue 6), loopback only.
#
# Builds release, starts anychat-server, runs anychat-bench in calls mode (each rate of
# RATES for CALL_SECONDS) and ramp mode; then, each on a fresh server, a leak check (the
# same run three times: does the server's RSS keep growing?), idle mode and media mode (each
# count of MEDIA_CALLS calls streaming 640x480@15 fps-sized frames both ways for MEDIA_SECONDS);
# prints the tables and stops everything it started. With --with-kamailio it also runs ../shared/bench/kamailio_ref.sh at 2000 and
# 5000 calls/s, for the reference figures of a SIP proxy measured in the same session.
#
# With --limits it runs only the cost of the limits against hostile clients: calls at LIMITS_RATE
# (5000/s) for CALL_SECONDS, alternately on a server with the default limits and on one with
# --no-rate-limits --max-connections-per-ip 0 --login-timeout 86400, LIMITS_ROUNDS (2) times each.
#
# Usage: bench/run.sh [--quick] [--with-kamailio] [--media-only] [--limits]
# Settings (environment): RATES="5000 20000" CALL_SECONDS=30 LEAK_SECONDS=30 PAIRS=1000 THREADS=1
#   RAMP_START=5000 RAMP_STEP=2500 RAMP_MAX=40000 RAMP_SECONDS=10
#   IDLE_USERS=100000 IDLE_SOURCES=8 IDLE_HOLD=20 OUT=<results folder>
#   MEDIA_CALLS="100 500" MEDIA_SECONDS=20 MEDIA_ARGS="" (e.g. "--audio"; empty MEDIA_CALLS skips media)
#   KAMAILIO_REF=<path of kamailio_ref.sh> (default ../shared/bench/kamailio_ref.sh)
#   PRIORITY=-10 (optional: the autogroup nice of the whole run, see below)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# PRIORITY=N (e.g. -10): run in a session of our own whose scheduler autogroup gets nice N, so
# that other jobs on a shared machine disturb the measurements less (nice alone does not help
# across autogroups). Everything measured here, kamailio included, runs in that group.
if [ -n "${PRIORITY:-}" ] && [ -z "${BENCH_RUN_SETSID:-}" ] && command -v setsid >/dev/null; then
  BENCH_RUN_SETSID=1 exec setsid --wait "$0" "$@"
fi
if [ -n "${PRIORITY:-}" ]; then
  echo "$PRIORITY" >/proc/self/autogroup 2>/dev/null || echo "cannot set the autogroup's nice to $PRIORITY"
  echo "scheduler group: $(cat /proc/self/autogroup 2>/dev/null)"
fi

QUICK=0; KAMAILIO=0; MEDIA_ONLY=0; LIMITS=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    --with-kamailio) KAMAILIO=1 ;;
    --media-only) MEDIA_ONLY=1 ;;
    --limits) LIMITS=1 ;;
    *) echo "usage: $0 [--quick] [--with-kamailio] [--media-only] [--limits]" >&2; exit 2 ;;
  esac
done
if [ $QUICK = 1 ]; then
  : "${RATES:=2000 5000}" "${CALL_SECONDS:=5}" "${RAMP_START:=5000}" "${RAMP_STEP:=5000}" "${RAMP_MAX:=15000}"
  : "${RAMP_SECONDS:=3}" "${IDLE_USERS:=5000}" "${IDLE_HOLD:=6}" "${MEDIA_CALLS:=100}" "${MEDIA_SECONDS:=5}"
fi
RATES=${RATES:-5000 20000}; CALL_SECONDS=${CALL_SECONDS:-30}; LEAK_SECONDS=${LEAK_SECONDS:-$CALL_SECONDS}; PAIRS=${PAIRS:-1000}; THREADS=${THREADS:-1}
RAMP_START=${RAMP_START:-5000}; RAMP_STEP=${RAMP_STEP:-2500}; RAMP_MAX=${RAMP_MAX:-40000}; RAMP_SECONDS=${RAMP_SECONDS:-10}
IDLE_USERS=${IDLE_USERS:-100000}; IDLE_SOURCES=${IDLE_SOURCES:-8}; IDLE_HOLD=${IDLE_HOLD:-20}
MEDIA_CALLS=${MEDIA_CALLS-100 500}; MEDIA_SECONDS=${MEDIA_SECONDS:-20}; MEDIA_ARGS=${MEDIA_ARGS:-}
OUT=${OUT:-$ROOT/target/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

echo "=== build (release)"
cargo build --release --bin anychat-server --bin anychat-bench
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# Starts a server on a free loopback port; sets SERVER_PID and ADDR.
start_server() {
  local name=$1
  shift
  "$BIN/anychat-server" --listen 127.0.0.1:0 --business-listen off --log-level warn "$@" \
    >"$OUT/server-$name.out" 2>"$OUT/server-$name.err" &
  SERVER_PID=$!
  ADDR=
  for _ in $(seq 100); do
    ADDR=$(sed -n '1s/^anychat-server listening on //p' "$OUT/server-$name.out" 2>/dev/null)
    [ -n "$ADDR" ] && break
    sleep 0.1
  done
  [ -n "$ADDR" ] || { echo "the server did not start:"; cat "$OUT/server-$name.err"; exit 1; }
  echo "server ($name) pid $SERVER_PID on $ADDR"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# File descriptors: the server and the load generator each need one per connection.
HARD=$(ulimit -Hn)
if [ "$HARD" != unlimited ]; then ulimit -n "$HARD"; fi
echo "=== machine: $(nproc) cores; open files limit $(ulimit -n) (hard $HARD)"
free -h | sed -n 1,2p
{ date -u +%FT%TZ; uname -r; nproc; free -h; ulimit -n; git -C "$ROOT" rev-parse HEAD 2>/dev/null || true; } >"$OUT/machine.txt"

bench() { "$BIN/anychat-bench" "$@"; }

if [ $LIMITS = 1 ]; then
  LIMITS_RATE=${LIMITS_RATE:-5000}; LIMITS_ROUNDS=${LIMITS_ROUNDS:-2}
  for k in $(seq "$LIMITS_ROUNDS"); do
    for mode in on off; do
      if [ $mode = on ]; then
        start_server "limits-on-$k"
      else
        start_server "limits-off-$k" --no-rate-limits --max-connections-per-ip 0 --login-timeout 86400
      fi
      echo "=== limits $mode ($k): calls at $LIMITS_RATE/s for $CALL_SECONDS s"
      bench calls --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --pairs "$PAIRS" \
        --rate "$LIMITS_RATE" --duration "$CALL_SECONDS" --name-prefix "lim$k$mode-" \
        --json "$OUT/limits-$mode-$k.json" | tee "$OUT/limits-$mode-$k.log"
      stop_server
    done
  done
  MEDIA_ONLY=1; MEDIA_CALLS=""
fi

if [ $MEDIA_ONLY = 0 ]; then
# ---- calls mode, leak check and ramp, on one server
start_server calls
for r in $RATES; do
  echo "=== calls at $r/s for $CALL_SECONDS s"
  bench calls --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --pairs "$PAIRS" --rate "$r" \
    --duration "$CALL_SECONDS" --name-prefix calls- --json "$OUT/calls-$r.json" | tee "$OUT/calls-$r.log"
done
echo "=== ramp from $RAMP_START/s by $RAMP_STEP/s to $RAMP_MAX/s, $RAMP_SECONDS s per step"
bench ramp --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --pairs "$PAIRS" --start "$RAMP_START" \
  --step "$RAMP_STEP" --max "$RAMP_MAX" --step-seconds "$RAMP_SECONDS" --name-prefix calls- \
  --json "$OUT/ramp.json" | tee "$OUT/ramp.log"
stop_server

# ---- leak check: the same run three times on a server whose ring timers expire after 5 s
# (a call's ring timer stays in the timer heap for --ring-timeout, 60 s by default, even once
# the call is answered: with the default the heap keeps growing for a minute of calls).
start_server leak --ring-timeout 5
LEAK_RATE=${RATES%% *}
echo "=== leak check: calls at $LEAK_RATE/s for $LEAK_SECONDS s, three times; server RSS after each"
RSS=()
for k in 1 2 3; do
  bench calls --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --pairs "$PAIRS" --rate "$LEAK_RATE" \
    --duration "$LEAK_SECONDS" --name-prefix leak- --json "$OUT/leak-$k.json" >"$OUT/leak-$k.log"
  RSS+=("$(rss_kib "$SERVER_PID")")
done
BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server"]["rss_kib_before"])' "$OUT/leak-1.json" 2>/dev/null || echo "?")
echo "leak check: server RSS $BASE KiB with the users logged in before any call; after each run of" \
  "$((LEAK_RATE * LEAK_SECONDS)) calls: ${RSS[*]} KiB" | tee "$OUT/leak.txt"
stop_server

# ---- idle mode, on a fresh server
start_server idle --max-connections-per-ip 0
echo "=== idle: $IDLE_USERS users over $IDLE_SOURCES source addresses, held $IDLE_HOLD s"
bench idle --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --users "$IDLE_USERS" \
  --sources "$IDLE_SOURCES" --hold "$IDLE_HOLD" --connect-concurrency 512 --name-prefix idle- \
  --json "$OUT/idle.json" | tee "$OUT/idle.log"
stop_server
fi

# ---- media mode: each count of calls on a fresh server
for n in $MEDIA_CALLS; do
  start_server "media-$n"
  echo "=== media: $n calls streaming both ways for $MEDIA_SECONDS s"
  # shellcheck disable=SC2086 # MEDIA_ARGS is a list of options
  bench media --server "$ADDR" --server-pid "$SERVER_PID" --threads "$THREADS" --calls "$n" --seconds "$MEDIA_SECONDS" \
    --fps 15 --frame-bytes 6000 --key-every 30 --name-prefix media- $MEDIA_ARGS \
    --json "$OUT/media-$n.json" | tee "$OUT/media-$n.log"
  stop_server
done

# ---- the SIP proxy reference, same session
KREF=${KAMAILIO_REF:-$(dirname "$ROOT")/shared/bench/kamailio_ref.sh}
if [ $KAMAILIO = 1 ]; then
  if [ -x "$KREF" ] || [ -f "$KREF" ]; then
    for r in 2000 5000; do
      echo "=== kamailio reference at $r/s for 10 s"
      bash "$KREF" "$r" 10 | tee "$OUT/kamailio-$r.log" || true
    done
  else
    echo "no $KREF: kamailio reference skipped"
  fi
fi

# ---- one table
echo
echo "=== results ($OUT)"
python3 - "$OUT" <<'EOF' || { echo "(python3 missing: see the JSON files in $OUT)"; }
import glob, json, os, re, sys
out = sys.argv[1]
def load(p):
    with open(p) as f:
        return json.load(f)
rows = []
def call_row(name, v):
    s, l = v.get("server", {}), v["setup_latency_ms"]
    rows.append([name, f'{v["rate_offered"]:.0f}', f'{v["achieved_cps"]:.0f}', str(v["failed"]),
                 f'{l["p50"]:.3f}', f'{l["p99"]:.3f}', f'{l["p99_9"]:.3f}', f'{l["max"]:.3f}',
                 f'{s.get("cpu_s_per_1000_calls", 0):.4f}', f'{s.get("cpu_share_of_one_core", 0) * 100:.0f}%',
                 f'{s.get("rss_kib_peak_sampled", 0) / 1024:.1f}'])
for p in sorted(glob.glob(os.path.join(out, "calls-*.json")), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0])):
    call_row("calls", load(p))
for p in sorted(glob.glob(os.path.join(out, "leak-*.json"))):
    call_row("leak " + p[-6], load(p))
for p in sorted(glob.glob(os.path.join(out, "limits-*.json")), key=lambda p: (p[-6], p)):
    call_row("limits " + os.path.basename(p)[7:-5].replace("-", " "), load(p))
if os.path.exists(os.path.join(out, "ramp.json")):
    for i, st in enumerate(load(os.path.join(out, "ramp.json"))["steps"]):
        call_row(f"ramp {i + 1}" + ("" if st["clean"] else " (x)"), st)
head = ["run", "offered/s", "achieved/s", "failed", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "srv cpu s/1k", "srv cpu", "srv RSS MiB"]
w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
fmt = lambda r: "  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r))
if rows:
    print(fmt(head))
    for r in rows:
        print(fmt(r))
if os.path.exists(os.path.join(out, "ramp.json")):
    print(f'ramp: highest clean rate {load(os.path.join(out, "ramp.json"))["highest_clean_rate"]} calls/s (no failure, p99 <= 10 ms)')
if os.path.exists(os.path.join(out, "leak.txt")):
    print(open(os.path.join(out, "leak.txt")).read().strip())
if os.path.exists(os.path.join(out, "idle.json")):
    v = load(os.path.join(out, "idle.json")); s = v["server"]
    print(f'idle: {v["connected"]} of {v["users_requested"]} users connected ({v["dropped"]} dropped); server RSS '
          f'{s["rss_kib_before"] / 1024:.1f} -> {s["rss_kib_after"] / 1024:.1f} MiB = {s["rss_bytes_per_user"]:.0f} bytes per user; '
          f'{s.get("rss_kib_after_disconnect", 0) / 1024:.1f} MiB after they left')
    for n in v.get("notes", []):
        print("  note: " + n)
media = sorted(glob.glob(os.path.join(out, "media-*.json")), key=lambda p: int(re.findall(r"\d+", os.path.basename(p))[0]))
if media:
    print()
    mhead = ["media calls", "streams", "offered fr/s", "relayed fr/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "lost",
             "need-key", "failed", "srv ms/stream/s", "srv cpu", "srv RSS MiB", "gen cpu"]
    mrows = []
    for p in media:
        v = load(p); vid = v["video"]; l = vid["latency_ms"]; s = v.get("server", {})
        mrows.append([str(v["calls"]), str(vid["streams"]), f'{vid["offered_per_s"]:.0f}', f'{vid["relayed_per_s"]:.0f}',
                      f'{l["p50"]:.3f}', f'{l["p90"]:.3f}', f'{l["p99"]:.3f}', f'{l["max"]:.3f}', str(vid["dropped"]),
                      str(vid["need_key_frame"]), str(v["failed"]), f'{s.get("cpu_s_per_stream_per_s", 0) * 1000:.3f}',
                      f'{s.get("cpu_share_of_one_core", 0) * 100:.0f}%', f'{s.get("rss_kib_peak_sampled", 0) / 1024:.1f}',
                      f'{v["bench_cpu_s"] / max(v["window_s"], 1e-3) * 100:.0f}%'])
    mw = [max(len(r[i]) for r in mrows + [mhead]) for i in range(len(mhead))]
    print("  ".join(c.rjust(mw[i]) for i, c in enumerate(mhead)))
    for r in mrows:
        print("  ".join(c.rjust(mw[i]) for i, c in enumerate(r)))
    print("media: video frames; p99 target < 50 ms at 500 calls; a stream = one direction of one call")
for p in sorted(glob.glob(os.path.join(out, "kamailio-*.log"))):
    last = [l for l in open(p) if l.startswith("kamailio_ref ")]
    print(last[-1].strip() if last else f"{os.path.basename(p)}: no result")
EOF
