#!/usr/bin/env bash
# bench/sched.sh: the scheduler benchmark (`make bench-sched` runs it after
# building ./synq and build/bench/cron_next). Builds nothing itself.
#
# 1. Starts `synq serve` on a free loopback port with a fresh data directory
#    and runs bench/sched_check.js against it: SCHED_N (10000) schedules
#    `{"every":"1s"}` over SCHED_QUEUES (10) queues, a SCHED_SECS (60) s
#    window, then pause, read every job back and check that every fire
#    happened exactly once. Reports fire lateness (enqueued_at - fire_at)
#    p50/p99/max, the lateness a worker long-polling a queue sees (its
#    fetch response's arrival - fire_at), the server's CPU in the window as
#    % of one core, and its peak RSS (VmHWM).
# 2. Runs CRON_NEXT (default build/bench/cron_next; skipped when missing):
#    synq_cron_next calls per second for a few expressions.
#
# Environment: SYNQ_BIN (./synq), CRON_NEXT, SCHED_N, SCHED_QUEUES,
# SCHED_SECS, SCHED_CONC (32 keep-alive connections for PUT and pause),
# SCHED_FETCH (1: how many queues get a worker; 0 = none),
# SCHED_DURABILITY (full), SCHED_VERBOSE (1 = a line per fire second),
# SCHED_KEEP_DATA (1 = keep the data directory), CRON_SECS (0.5 s of CPU
# per expression and mode), BENCH_DATA_ROOT (${TMPDIR:-/tmp}). Output goes to stdout and
# build/bench/sched.txt. Exit status: 1 when a fire was missed or
# duplicated, 2 on a timeout or failure. Takes about 2 minutes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SYNQ_BIN=${SYNQ_BIN:-./synq}
CRON_NEXT=${CRON_NEXT:-build/bench/cron_next}
DURABILITY=${SCHED_DURABILITY:-full}
SECS=${SCHED_SECS:-60}
DATA_ROOT=${BENCH_DATA_ROOT:-${TMPDIR:-/tmp}}
OUT=build/bench
RESULTS=$OUT/sched.txt
KEEP_DATA=${SCHED_KEEP_DATA:-}
export CLK_TCK # for bench/sched_check.js

[ -x "$SYNQ_BIN" ] || { echo "bench: $SYNQ_BIN is not an executable (set SYNQ_BIN)" >&2; exit 2; }
command -v node >/dev/null || { echo "bench: node is needed for bench/sched_check.js" >&2; exit 2; }
mkdir -p "$OUT"

trap synq_stop_server EXIT
trap 'exit 130' INT TERM

synq_start_server sched "$DURABILITY" off

{
    synq_bench_header "synq sched bench"
    echo "# data_root=$DATA_ROOT fs=$(df -PT "$DATA_ROOT" | awk 'NR == 2 { print $2 }')" \
        "durability=$DURABILITY secs=$SECS"
} | tee "$RESULTS"

rc=0
node bench/sched_check.js "$URL" "$SERVER_PID" | tee -a "$RESULTS" || rc=${PIPESTATUS[0]}
echo "server peak RSS (VmHWM, after reading every job back): $(awk '/^VmHWM:/ { printf "%.1f MiB", $2 / 1024 }' \
    "/proc/$SERVER_PID/status")" | tee -a "$RESULTS"
if grep -qE 'level=(warn|error)' "$DATA/server.log"; then
    echo "server warnings and errors (first 5):" | tee -a "$RESULTS"
    grep -E 'level=(warn|error)' "$DATA/server.log" | head -5 | tee -a "$RESULTS"
fi
synq_stop_server

if [ -x "$CRON_NEXT" ]; then
    echo | tee -a "$RESULTS"
    echo "synq_cron_next ($CRON_NEXT, ${CRON_SECS:-0.5} s of CPU per line):" | tee -a "$RESULTS"
    "$CRON_NEXT" "${CRON_SECS:-0.5}" | tee -a "$RESULTS"
else
    echo "cron_next: $CRON_NEXT not built (make build/bench/cron_next), skipped" | tee -a "$RESULTS"
fi
exit "$rc"
