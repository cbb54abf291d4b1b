#!/usr/bin/env bash
# bench/faktory.sh: the Faktory Work Protocol benchmark (issue 6). Compiles
# bench/fwpgen.c into build/bench/fwpgen and, unless SYNQ_BIN names a binary,
# builds the server with `make BUILD=build/bench build/bench/synq` (-O2 -g,
# no sanitizers). Each group of phases gets a fresh server (`--http
# 127.0.0.1:0 --faktory 127.0.0.1:0`, fresh data directory, durability
# FWP_DURABILITY); the FWP address is read from its `msg=listening` line.
#
#   1. C client (fwpgen), queue bench-c:
#        pushb   FWP_JOBS jobs, PUSHB with FWP_BATCH jobs each, one connection
#        drain   FWP_CONNS connections (own wid each): FETCH, ACK, until all are acked
#   2. faktory-worker (bench/faktory_node.js, npm faktory-worker from
#      tests/e2e/node_modules), queue bench-node, on a fresh server:
#        node-push  FWP_JOBS jobs with client.pushBulk, FWP_BATCH per call
#        node-work  faktory.work({concurrency: FWP_CONCURRENCY}) with a no-op
#                   handler until all are acked
#   3. C client, queue bench-e2e, on a fresh server:
#        e2e     one PUSHB pusher and FWP_CONNS consumers at once, from the
#                first push to the last ack
#
# Each phase line records the server's CPU seconds (/proc/PID/stat) and
# other_cpu_secs (CPU used meanwhile by everything else), as bench/run.sh
# does, over the client's whole run (wall_secs: start-up and handshakes
# included, and the consumers' last FETCH, which blocks up to 2 s in the
# server once the queue is empty). So server_cpu_secs includes the
# handshakes; secs and jobs/s do not. At the end of each server its warnings and errors are printed, and
# a summary table (median and range over FWP_RUNS runs) follows.
#
# Environment: SYNQ_BIN, FWP_JOBS (100000), FWP_BATCH (1000), FWP_CONNS (50),
# FWP_CONCURRENCY (50), FWP_DURABILITY (full), FWP_RUNS (1), BENCH_TIMEOUT
# (120 s per phase), BENCH_DATA_ROOT (${TMPDIR:-/tmp}). Output: stdout and
# build/bench/faktory.txt. Exit status: 1 when a phase failed or the server
# logged an error, 2 when the benchmark could not run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

JOBS=${FWP_JOBS:-100000}
BATCH=${FWP_BATCH:-1000}
CONNS=${FWP_CONNS:-50}
CONC=${FWP_CONCURRENCY:-50}
DURABILITY=${FWP_DURABILITY:-full}
RUNS=${FWP_RUNS:-1}
TIMEOUT=${BENCH_TIMEOUT:-120}
DATA_ROOT=${BENCH_DATA_ROOT:-${TMPDIR:-/tmp}}
OUT=build/bench
FWPGEN=$OUT/fwpgen
RESULTS=$OUT/faktory.txt

synq_server_bin
mkdir -p "$OUT"
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$FWPGEN" bench/fwpgen.c
command -v node >/dev/null || { echo "bench: node is not installed" >&2; exit 2; }
if [ ! -d tests/e2e/node_modules/faktory-worker ]; then
    (cd tests/e2e && npm ci --no-audit --no-fund)
fi

FWP=
rc=0

# start_server: sets SERVER_PID, DATA, URL (HTTP) and FWP (host:port).
start_server() {
    synq_start_server fwp "$DURABILITY" 127.0.0.1:0
    local port
    port=$(sed -n 's/.*msg=listening .*faktory=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
        "$DATA/server.log" | head -1)
    if [ -z "$port" ]; then
        echo "bench: the server's listening line names no faktory= address; its log:" >&2
        cat "$DATA/server.log" >&2
        exit 2
    fi
    FWP=127.0.0.1:$port
}

# stop_server: reports a server that died and the server's warnings and
# errors (rc=1 when it died or logged an error), then stops it, saying so
# when it had to be killed.
stop_server() {
    synq_server_report "$RESULTS" || rc=1
    synq_stop_server "$RESULTS"
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# The server's CPU seconds and peak RSS, 0 when it is gone.
server_cpu() {
    synq_server_cpu 2>/dev/null || echo 0
}

server_hwm_kb() {
    synq_server_kb VmHWM 2>/dev/null || echo 0
}

# phase RUN CLIENT COMMAND...: runs one client phase (bounded by `timeout`
# as well as by the client's own -t) and records its line with the run, the
# client, the server CPU seconds it took and other_cpu_secs. Returns the
# client's exit status; a failure is recorded with the client's stderr.
phase() {
    local run=$1 client=$2
    shift 2
    local cpu0 busy0 cpu1 busy1 line prc=0 err=$OUT/faktory.stderr
    local t0 t1
    cpu0=$(server_cpu)
    busy0=$(synq_machine_busy)
    t0=$(date +%s.%N)
    line=$(timeout -k 5 $((TIMEOUT + 15)) "$@" 2>"$err") || prc=$?
    t1=$(date +%s.%N)
    cpu1=$(server_cpu)
    busy1=$(synq_machine_busy)
    if [ -s "$err" ]; then sed 's/^/  stderr: /' "$err" | head -10 | tee -a "$RESULTS" >&2; fi
    if [ -z "$line" ] || [ "$prc" -ne 0 ]; then
        echo "run=$run client=$client FAILED (exit status $prc): $*" | tee -a "$RESULTS"
        [ -z "$line" ] || echo "  $line" | tee -a "$RESULTS"
        rc=1
        return 1
    fi
    line="run=$run client=$client $line $(synq_cpu_fields "$line" "$cpu0" "$cpu1" "$busy0" "$busy1")"
    line="$line wall_secs=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", t1 - t0 }')"
    echo "$line" | tee -a "$RESULTS"
}

fwpgen() {
    local run=$1 queue=$2
    shift 2
    phase "$run" c "$FWPGEN" -t "$TIMEOUT" -q "$queue" "$1" "$FWP" "$JOBS" "${@:2}"
}

node_phase() {
    local run=$1 p=$2
    phase "$run" node env FAKTORY_URL="tcp://$FWP" node bench/faktory_node.js -p "$p" \
        -q bench-node -t "$TIMEOUT" "$JOBS" "$CONC" "$BATCH"
}

{
    synq_bench_header "synq faktory bench" "node=$(node --version)" \
        "faktory-worker=$(node -p 'require("./tests/e2e/node_modules/faktory-worker/package.json").version')"
    echo "# durability=$DURABILITY jobs=$JOBS batch=$BATCH conns=$CONNS concurrency=$CONC runs=$RUNS" \
        "data_root=$DATA_ROOT fs=$(df -PT "$DATA_ROOT" | awk 'NR == 2 { print $2 }')"
} | tee "$RESULTS"

for run in $(seq "$RUNS"); do
    start_server
    if fwpgen "$run" bench-c pushb "$BATCH"; then
        fwpgen "$run" bench-c drain "$CONNS" || true
    fi
    echo "run=$run client=c phase=server vm_hwm_kb=$(server_hwm_kb)" | tee -a "$RESULTS"
    stop_server

    start_server
    if node_phase "$run" push; then
        node_phase "$run" work || true
    fi
    echo "run=$run client=node phase=server vm_hwm_kb=$(server_hwm_kb)" | tee -a "$RESULTS"
    stop_server

    start_server
    fwpgen "$run" bench-e2e e2e "$BATCH" "$CONNS" || true
    echo "run=$run client=c phase=server-e2e vm_hwm_kb=$(server_hwm_kb)" | tee -a "$RESULTS"
    stop_server
done

# Summary: per client and phase, the median over the runs (and the range
# when there was more than one), in the order the phases ran.
echo
summary=$(awk -v conns="$CONNS" -v conc="$CONC" -v batch="$BATCH" "$SYNQ_AWK_SUMMARY"'
    /^run=/ && get("jobs_per_sec") != "" {
        key = get("phase")
        if (!(key in n)) { n[key] = 0; order[++nkeys] = key }
        c = ++n[key]
        v[key "/r", c] = get("jobs_per_sec"); v[key "/s", c] = get("secs")
        v[key "/c", c] = get("server_cpu_secs"); v[key "/o", c] = get("other_cpu_secs")
        v[key "/w", c] = get("wall_secs")
        jobs[key] = get("jobs")
    }
    /^run=/ && get("vm_hwm_kb") != "" {
        key = get("client") " " get("phase")
        if (get("vm_hwm_kb") + 0 > hwm[key] + 0) hwm[key] = get("vm_hwm_kb")
        if (!(key in hwm_seen)) { hwm_seen[key] = 1; horder[++nh] = key }
    }
    /FAILED/ { failed++ }
    END {
        what["pushb"] = "C, PUSHB " batch " per command, 1 conn"
        what["drain"] = "C, FETCH+ACK, " conns " conns"
        what["node-push"] = "faktory-worker pushBulk(" batch ")"
        what["node-work"] = "faktory-worker work(), concurrency " conc
        what["e2e"] = "C, 1 PUSHB pusher + " conns " consumers"
        printf "%-10s %-40s %8s %8s %9s %15s %11s %8s %10s\n", "phase", "client", "jobs", "secs",
               "jobs/s", "(min-max)", "server_cpu", "us/job", "other_cpu"
        for (k = 1; k <= nkeys; k++) {
            key = order[k]; c = n[key]
            range = ""
            if (c > 1) { median(key "/r", c); range = sprintf("(%d-%d)", v[key "/r", 1], v[key "/r", c]) }
            secs = median(key "/s", c); other = median(key "/o", c); cpu = median(key "/c", c)
            # other_cpu covers the whole client process (start-up, handshakes, the
            # last FETCH of each consumer, blocking up to 2 s): compare it with that
            busy = other > 0.1 * median(key "/w", c) && other >= 0.05
            flagged += busy
            printf "%-10s %-40s %8s %8.3f %9d %15s %10.2fs %8.1f %9.2fs%s\n", key, what[key], jobs[key],
                   secs, median(key "/r", c), range, cpu, cpu * 1e6 / jobs[key], other, busy ? " *" : ""
        }
        if (flagged)
            printf "* other programs used over 10%% of a core meanwhile: this figure is low\n"
        if (failed)
            printf "%d phase(s) FAILED: see above\n", failed
        printf "\nserver peak RSS (VmHWM at the end of each server; largest over the runs):\n"
        for (k = 1; k <= nh; k++) printf "  %-20s %8.1f MiB\n", horder[k], hwm[horder[k]] / 1024
    }
' "$RESULTS")
echo "$summary" | tee -a "$RESULTS"
exit "$rc"
