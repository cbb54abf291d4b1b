# shellcheck shell=bash
# Shared by the bench scripts (sourced, after `set -euo pipefail`): starting
# and stopping a synq server, its CPU and memory from /proc, the machine's
# busy time, the head of a results file and the awk functions of the
# summaries. The server functions use SYNQ_BIN and DATA_ROOT, which the
# script sets, and keep the server in SERVER_PID, DATA and URL.

SERVER_PID=
DATA=
KEEP_DATA= # set by a script to keep the data directory at synq_stop_server
CLK_TCK=$(getconf CLK_TCK)

# synq_server_bin: unless SYNQ_BIN names a binary, builds the server with
# `make BUILD=build/bench build/bench/synq` (-O2 -g, no sanitizers) and sets
# SYNQ_BIN to it. Exits 2 when SYNQ_BIN is not an executable.
synq_server_bin() {
    if [ -z "${SYNQ_BIN:-}" ]; then
        make --no-print-directory BUILD=build/bench build/bench/synq
        SYNQ_BIN=build/bench/synq
    fi
    [ -x "$SYNQ_BIN" ] || { echo "bench: $SYNQ_BIN is not an executable (set SYNQ_BIN)" >&2; exit 2; }
}

# synq_wait_listening PID LOG: waits until the server PID has logged its
# address in LOG and sets URL; prints the log and exits 2 if it never does.
synq_wait_listening() {
    local pid=$1 log=$2 port= i
    for i in $(seq 600); do
        port=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" || true)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        echo "bench: the server did not start; its log:" >&2
        cat "$log" >&2
        exit 2
    fi
    URL=http://127.0.0.1:$port
}

# synq_start_server NAME DURABILITY FAKTORY: starts `$SYNQ_BIN serve`
# (behind $SERVER_WRAP when set, e.g. valgrind) with HTTP on a free loopback
# port, --faktory FAKTORY (off, or 127.0.0.1:0), --durability DURABILITY and
# a fresh data directory $DATA_ROOT/synq-NAME.XXXXXX whose server.log takes
# its stderr. Sets SERVER_PID, DATA and URL once the server listens.
synq_start_server() {
    DATA=$(mktemp -d "$DATA_ROOT/synq-$1.XXXXXX")
    : >"$DATA/server.log" # exists before the first poll below
    ${SERVER_WRAP:-} "$SYNQ_BIN" serve --http 127.0.0.1:0 --faktory "$3" --data "$DATA/db" \
        --durability "$2" --log-level info 2>"$DATA/server.log" &
    SERVER_PID=$!
    synq_wait_listening "$SERVER_PID" "$DATA/server.log"
}

# synq_server_report FILE: says on stdout and in FILE that the server died
# on its own (with the last lines of its log), and which warnings and errors
# it logged (the first 5; not the one for running without --api-key).
# Returns 1 when it died or logged an error, 0 too when none runs.
synq_server_report() {
    local file=$1 warns ret=0
    [ -n "$SERVER_PID" ] || return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "SERVER DIED; last lines of its log:" | tee -a "$file"
        tail -20 "$DATA/server.log" | tee -a "$file"
        ret=1
    fi
    warns=$(grep -E 'level=(warn|error)' "$DATA/server.log" | grep -v 'no --api-key' || true)
    if [ -n "$warns" ]; then
        echo "server warnings and errors ($(echo "$warns" | wc -l); the first 5):" | tee -a "$file"
        echo "$warns" | head -5 | tee -a "$file"
        if echo "$warns" | grep -q 'level=error'; then ret=1; fi
    fi
    return "$ret"
}

# synq_stop_server [FILE]: SIGTERM, up to 10 s for a clean exit, then
# SIGKILL (said on stdout and in FILE when FILE is given); then removes the
# data directory (unless KEEP_DATA is set: then it says where it is). Does
# nothing when no server runs and always returns 0, so it can be the EXIT
# trap.
synq_stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            if [ -n "${1:-}" ]; then
                echo "server did not exit within 10 s of SIGTERM; killed" | tee -a "$1"
            fi
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
    if [ -n "$DATA" ]; then
        if [ -n "$KEEP_DATA" ]; then echo "data kept in $DATA"; else rm -rf "$DATA"; fi
        DATA=
    fi
}

# synq_server_cpu: the server's CPU time so far (user + system), in seconds.
synq_server_cpu() {
    awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / tck }' \
        "/proc/$SERVER_PID/stat"
}

# synq_server_kb FIELD: a field of the server's /proc/PID/status in kB
# (VmRSS, VmHWM).
synq_server_kb() {
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status"
}

# synq_machine_busy: CPU seconds the whole machine has been busy (user,
# nice, system, irq, softirq and steal), to tell how much else ran during a
# phase.
synq_machine_busy() {
    awk -v tck="$CLK_TCK" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / tck }' /proc/stat
}

# synq_cpu_fields LINE CPU0 CPU1 BUSY0 BUSY1: "server_cpu_secs=S
# other_cpu_secs=O" for a client phase that printed LINE: S is the server's
# CPU seconds from CPU0 to CPU1 (synq_server_cpu before and after), O the CPU
# used meanwhile by everything that is neither the server nor the client:
# the machine's busy seconds from BUSY0 to BUSY1 (synq_machine_busy) less S
# and the client's own client_cpu_secs= in LINE; never below 0.
synq_cpu_fields() {
    echo "$1" | awk -v s0="$2" -v s1="$3" -v b0="$4" -v b1="$5" '{
        for (i = 1; i <= NF; i++) if ($i ~ /^client_cpu_secs=/) { split($i, kv, "="); c = kv[2] }
        o = (b1 - b0) - (s1 - s0) - c
        printf "server_cpu_secs=%.2f other_cpu_secs=%.2f", s1 - s0, o < 0 ? 0 : o
    }'
}

# synq_bench_header TITLE [MORE...]: the first three lines of a results
# file: TITLE and the time; the binary, when it was built and how many
# sources are newer; the machine and its load, then MORE.
synq_bench_header() {
    local title=$1
    shift
    echo "# $title $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# binary=$SYNQ_BIN built=$(date -u -r "$SYNQ_BIN" +%Y-%m-%dT%H:%M:%SZ)" \
        "head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "src_files_newer_than_binary=$(find src -newer "$SYNQ_BIN" -name '*.[ch]' 2>/dev/null | wc -l)"
    echo "# cpus=$(nproc) model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
        "load1=$(cut -d' ' -f1 /proc/loadavg)" "$@"
}

# Awk functions for the summaries, to put in front of an awk program:
# get(k) is the value of the field k=VALUE in the current line ("" when
# there is none); median(key, n) the median of the n values v[key, 1..n],
# which it sorts in place.
# shellcheck disable=SC2016,SC2034 # awk expands the $ fields; the scripts use it
SYNQ_AWK_SUMMARY='
    function get(k,   i, kv) {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
        return ""
    }
    function median(key, n,   i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && v[key, j - 1] + 0 > v[key, j] + 0; j--) {
                t = v[key, j]; v[key, j] = v[key, j - 1]; v[key, j - 1] = t
            }
        return n % 2 ? v[key, (n + 1) / 2] : (v[key, n / 2] + v[key, n / 2 + 1]) / 2
    }
'
