#!/usr/bin/env bash
# bench/run.sh: the synq throughput benchmark (`make bench` runs it after
# building ./synq). For each durability it starts a fresh server on a free
# loopback port with a fresh data directory and runs bench/loadgen phases:
#
#   enqueue-bulk    N jobs, POST /v1/jobs/bulk with BATCH jobs per request
#   drain-batch     WORKERS workers fetch up to MAX jobs and ack them with POST /v1/ack
#   enqueue-single  N jobs, POST /v1/jobs over CONNS keep-alive connections
#   drain-single    CONNS workers fetch 1 job and POST /v1/jobs/{id}/ack
#   e2e-batch       (own fresh server) one bulk producer and WORKERS batch
#                   consumers at once, from the first enqueue to the last ack
#
# Each phase uses its own queue. It reports jobs/s, the server's CPU seconds
# per phase (from /proc/PID/stat) and its peak RSS (VmHWM). Results go to
# stdout and build/bench/results.txt; nothing is written to docs/.
#
# `bench/run.sh profile` instead profiles the server in the batched
# end-to-end case with full durability: callgrind over PROFILE_JOBS_CG
# (10000) jobs, and where perf can sample (cpu-clock; no hardware counters
# needed) perf record over BENCH_JOBS jobs. Reports go to build/bench/.
#
# Environment: SYNQ_BIN (default ./synq), BENCH_JOBS (100000),
# BENCH_DURABILITY ("full normal"), BENCH_BATCH (1000), BENCH_WORKERS (4),
# BENCH_MAX (100), BENCH_CONNS (64), BENCH_TIMEOUT (120 s per phase),
# BENCH_RUNS (1; the summary shows the median and range over the runs),
# BENCH_DATA_ROOT (${TMPDIR:-/tmp}; the data directory's file system decides
# what an fsync costs).
#
# The load generator shares the machine with the server, and so does
# anything else running: each phase line records other_cpu_secs, the CPU
# time everything else used meanwhile, so that figures taken on a busy
# machine can be recognised (more than a few percent of secs * cores).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

SYNQ_BIN=${SYNQ_BIN:-./synq}
JOBS=${BENCH_JOBS:-100000}
DURABILITIES=${BENCH_DURABILITY:-full normal}
BATCH=${BENCH_BATCH:-1000}
WORKERS=${BENCH_WORKERS:-4}
MAX=${BENCH_MAX:-100}
CONNS=${BENCH_CONNS:-64}
TIMEOUT=${BENCH_TIMEOUT:-120}
RUNS=${BENCH_RUNS:-1}
DATA_ROOT=${BENCH_DATA_ROOT:-${TMPDIR:-/tmp}}
OUT=build/bench
LOADGEN=$OUT/loadgen
RESULTS=$OUT/results.txt

[ -x "$SYNQ_BIN" ] || { echo "bench: $SYNQ_BIN is not an executable (set SYNQ_BIN)" >&2; exit 1; }
mkdir -p "$OUT"
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$LOADGEN" bench/loadgen.c

trap synq_stop_server EXIT
trap 'exit 130' INT TERM

# phase RUN DURABILITY QUEUE COMMAND ARGS...: runs one loadgen phase and
# records its line with the run, the durability, the server CPU seconds it
# took and other_cpu_secs: CPU used meanwhile by everything that is neither
# the server nor loadgen (other programs, kernel threads, steal).
phase() {
    local run=$1 dur=$2 queue=$3 cmd=$4
    shift 4
    local cpu0 busy0 cpu1 busy1 line
    cpu0=$(synq_server_cpu)
    busy0=$(synq_machine_busy)
    line=$("$LOADGEN" -t "$TIMEOUT" -q "$queue" "$cmd" "$URL" "$JOBS" "$@")
    cpu1=$(synq_server_cpu)
    busy1=$(synq_machine_busy)
    line="run=$run durability=$dur $line $(synq_cpu_fields "$line" "$cpu0" "$cpu1" "$busy0" "$busy1")"
    echo "$line" | tee -a "$RESULTS"
}

if [ "${1:-}" = profile ]; then
    CG_JOBS=${PROFILE_JOBS_CG:-10000}
    if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
        SERVER_WRAP="valgrind --tool=callgrind --callgrind-out-file=$OUT/callgrind.out"
        synq_start_server bench full off
        SERVER_WRAP=
        # the server is ~50x slower under callgrind: a longer timeout
        "$LOADGEN" -t 1200 -q bench-e2e e2e-batch "$URL" "$CG_JOBS" "$BATCH" "$WORKERS" "$MAX"
        synq_stop_server
        callgrind_annotate --inclusive=yes "$OUT/callgrind.out" >"$OUT/callgrind.txt"
        echo "callgrind: $OUT/callgrind.txt (callgrind_annotate --inclusive=yes)"
    else
        echo "callgrind: valgrind not installed, skipped"
    fi
    if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
        synq_start_server bench full off
        perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 -p "$SERVER_PID" \
            -o "$OUT/perf.data" 2>"$OUT/perf.log" &
        perf_pid=$!
        sleep 0.5
        "$LOADGEN" -t "$TIMEOUT" -q bench-e2e e2e-batch "$URL" "$JOBS" "$BATCH" "$WORKERS" "$MAX"
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
        synq_stop_server
        perf report -i "$OUT/perf.data" --stdio --children --sort symbol -g none \
            --percent-limit 1 >"$OUT/perf.txt" 2>/dev/null
        echo "perf: $OUT/perf.txt (perf report --children)"
    else
        echo "perf: cannot sample here, skipped"
    fi
    exit 0
fi

: >"$RESULTS"
{
    synq_bench_header "synq bench"
    echo "# data_root=$DATA_ROOT fs=$(df -PT "$DATA_ROOT" | awk 'NR == 2 { print $2 }') jobs=$JOBS batch=$BATCH workers=$WORKERS max=$MAX conns=$CONNS runs=$RUNS"
} | tee -a "$RESULTS"

for run in $(seq "$RUNS"); do
    for dur in $DURABILITIES; do
        synq_start_server bench "$dur" off
        phase "$run" "$dur" bench-bulk enqueue-bulk "$BATCH"
        phase "$run" "$dur" bench-bulk drain-batch "$WORKERS" "$MAX"
        phase "$run" "$dur" bench-single enqueue-single "$CONNS"
        phase "$run" "$dur" bench-single drain-single "$CONNS"
        echo "run=$run durability=$dur phase=server vm_hwm_kb=$(synq_server_kb VmHWM)" | tee -a "$RESULTS"
        synq_stop_server

        synq_start_server bench "$dur" off
        phase "$run" "$dur" bench-e2e e2e-batch "$BATCH" "$WORKERS" "$MAX"
        echo "run=$run durability=$dur phase=server-e2e vm_hwm_kb=$(synq_server_kb VmHWM)" | tee -a "$RESULTS"
        synq_stop_server
    done
done

# Summary: per durability and phase, the median over the runs (and the
# range when there was more than one), in the order the phases ran.
echo
awk "$SYNQ_AWK_SUMMARY"'
    /^#/ { next }
    {
        key = get("durability") " " get("phase")
        if (!(key in n)) { n[key] = 0; order[++nkeys] = key }
        n[key]++
        if (get("jobs_per_sec") != "") {
            v[key "/r", n[key]] = get("jobs_per_sec"); v[key "/s", n[key]] = get("secs")
            v[key "/c", n[key]] = get("server_cpu_secs"); v[key "/o", n[key]] = get("other_cpu_secs")
            jobs[key] = get("jobs")
        } else {
            v[key "/h", n[key]] = get("vm_hwm_kb")
        }
    }
    END {
        printf "%-10s %-15s %8s %8s %9s %15s %11s %10s\n", "durability", "phase", "jobs", "secs",
               "jobs/s", "(min-max)", "server_cpu", "other_cpu"
        for (k = 1; k <= nkeys; k++) {
            key = order[k]; c = n[key]; split(key, dp, " ")
            if ((key "/r", 1) in v) {
                range = ""
                if (c > 1) { median(key "/r", c); range = sprintf("(%d-%d)", v[key "/r", 1], v[key "/r", c]) }
                secs = median(key "/s", c); other = median(key "/o", c)
                busy = other > 0.1 * secs && other >= 0.05
                flagged += busy
                printf "%-10s %-15s %8s %8.3f %9d %15s %10.2fs %9.2fs%s\n", dp[1], dp[2], jobs[key],
                       secs, median(key "/r", c), range, median(key "/c", c), other, busy ? " *" : ""
            } else {
                median(key "/h", c)
                hwm = hwm sprintf("  %-6s %-10s %8.1f MiB\n", dp[1],
                                  dp[2] == "server" ? "phases" : "e2e", v[key "/h", c] / 1024)
            }
        }
        if (flagged)
            printf "* other programs used over 10%% of a core meanwhile: this figure is low\n"
        printf "\nserver peak RSS (VmHWM at the end of each server run; largest over the runs):\n%s", hwm
    }
' "$RESULTS"
