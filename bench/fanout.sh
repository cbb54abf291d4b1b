#!/usr/bin/env bash
# bench/fanout.sh: the LiveSync fan-out benchmark (`make bench-fanout` runs
# it). Compiles bench/fanout.c (libuv) into build/bench/fanout and, unless
# SYNQ_BIN names a binary, builds the server with `make BUILD=build/bench
# build/bench/synq` (-O2 -g, no sanitizers).
#
# 1. fan-out: a fresh server (127.0.0.1:0, fresh data directory, durability
#    FANOUT_DURABILITY), FANOUT_N (1000) WebSocket subscribers on channel
#    "bench" (Centrifugo protocol v2 JSON), one publisher POSTing
#    /v1/channels/bench/messages at FANOUT_RATE (1000) msg/s of ~FANOUT_SIZE
#    (100) bytes for FANOUT_SECS (30) s. Reports deliveries/s, the
#    publish-to-receive latency p50/p99/max, lost deliveries, the server's
#    CPU over the publishing window (by fanout, from /proc/PID/stat) and over
#    the whole run (by this script), and its VmRSS / VmHWM.
# 2. idle: another fresh server, FANOUT_IDLE (10000) connections connected
#    and subscribed, held FANOUT_HOLD (5) s: server VmRSS before the first
#    connection and while they are held, so memory per connection.
#
# Environment: SYNQ_BIN, FANOUT_N, FANOUT_RATE, FANOUT_SECS, FANOUT_SIZE,
# FANOUT_PUBCONNS (1), FANOUT_WINDOW (64 requests in flight per publisher
# connection), FANOUT_IDLE (0 skips the idle phase), FANOUT_HOLD,
# FANOUT_ADDRS (source addresses for the idle connections: 1),
# FANOUT_DURABILITY (normal), BENCH_DATA_ROOT (${TMPDIR:-/tmp}).
# Output: stdout and build/bench/fanout.txt (the raw JSON lines of fanout
# too). Exit status: 1 when deliveries were lost or connections failed, 2 on
# a failure to run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

N=${FANOUT_N:-1000}
RATE=${FANOUT_RATE:-1000}
SECS=${FANOUT_SECS:-30}
SIZE=${FANOUT_SIZE:-100}
PUBCONNS=${FANOUT_PUBCONNS:-1}
WINDOW=${FANOUT_WINDOW:-64}
IDLE=${FANOUT_IDLE:-10000}
HOLD=${FANOUT_HOLD:-5}
ADDRS=${FANOUT_ADDRS:-1}
DURABILITY=${FANOUT_DURABILITY:-normal}
DATA_ROOT=${BENCH_DATA_ROOT:-${TMPDIR:-/tmp}}
OUT=build/bench
FANOUT=$OUT/fanout
RESULTS=$OUT/fanout.txt

synq_server_bin
mkdir -p "$OUT"
# shellcheck disable=SC2046
gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$FANOUT" bench/fanout.c \
    $(pkg-config --cflags --libs libuv)

# stop_server: reports a server that died on its own and the server's
# warnings, then stops it.
stop_server() {
    synq_server_report "$RESULTS" || true
    synq_stop_server
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# j FIELD: a number from the JSON line in $LINE (jq when present).
j() {
    if command -v jq >/dev/null; then
        echo "$LINE" | jq -r ".$1 // empty"
    else
        echo "$LINE" | sed -n "s/.*\"${1##*.}\":\\([-0-9.]*\\).*/\\1/p" | head -1
    fi
}

# mib KB: "N MiB", or "?" when the server was gone.
mib() {
    if [ -n "$1" ] && [ "$1" -ge 0 ]; then echo "$(($1 / 1024)) MiB"; else echo "?"; fi
}

{
    synq_bench_header "synq fan-out bench"
    echo "# durability=$DURABILITY n=$N rate=$RATE secs=$SECS size=$SIZE pubconns=$PUBCONNS" \
        "window=$WINDOW idle=$IDLE hold=$HOLD"
} | tee "$RESULTS"

rc=0

# ---- 1. fan-out ---------------------------------------------------------------
synq_start_server fanout "$DURABILITY" off
cpu0=$(synq_server_cpu)
rss0=$(synq_server_kb VmRSS)
frc=0
LINE=$("$FANOUT" -n "$N" -r "$RATE" -d "$SECS" -s "$SIZE" -P "$PUBCONNS" -W "$WINDOW" \
    -p "$SERVER_PID" "${URL#http://}") || frc=$?
echo "$LINE" | tee -a "$RESULTS"
if kill -0 "$SERVER_PID" 2>/dev/null; then
    cpu1=$(synq_server_cpu)
    echo "server: rss_before_kb=$rss0 rss_kb=$(synq_server_kb VmRSS) hwm_kb=$(synq_server_kb VmHWM)" \
        "cpu_secs_whole_run=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" |
        tee -a "$RESULTS"
fi
stop_server
if [ -z "$LINE" ] || [ "$frc" -ge 2 ]; then
    echo "fanout failed (exit status $frc)" | tee -a "$RESULTS"
    rc=2
else
    [ "$(j lost)" = 0 ] && [ "$(j failed)" = 0 ] && [ "$(j closed)" = 0 ] || rc=1
    {
        echo
        echo "fan-out: $(j subscribed)/$N subscribers, $(j published) publications of $(j data_bytes) B" \
            "in $(j publish_secs) s ($(j publish_rate)/s, $(j publish_errors) errors)"
        echo "  deliveries:   $(j delivered) of $(j expected) (lost $(j lost), offset gaps $(j gaps))," \
            "$(j deliveries_per_sec)/s (per second: min $(j per_sec_min), max $(j per_sec_max))"
        echo "  latency ms:   p50 $(j latency_ms.p50)  p90 $(j latency_ms.p90)  p99 $(j latency_ms.p99)" \
            " p99.9 $(j latency_ms.p999)  max $(j latency_ms.max)   (publish POST mean $(j publish_latency_ms.mean))"
        echo "  server:       $(j server_cpu_secs) CPU s over $(j window_secs) s = $(j server_cpu_pct)% of a core;" \
            "RSS $(mib "$(j server_rss_kb)"), peak $(mib "$(j server_hwm_kb)")"
        echo "  generator:    $(j client_cpu_secs) CPU s; everything else: $(j other_cpu_secs) CPU s"
        echo "  disconnects:  closed $(j closed), close codes $(echo "$LINE" | sed -n 's/.*"close_codes":\({[^}]*}\).*/\1/p')"
        fe=$(j first_error)
        [ -z "$fe" ] || echo "  first problem: $fe"
    } | tee -a "$RESULTS"
fi

# ---- 2. idle connections ----------------------------------------------------------
if [ "$IDLE" -gt 0 ]; then
    echo | tee -a "$RESULTS"
    synq_start_server fanout "$DURABILITY" off
    sleep 0.5 # let the start-up settle before the baseline
    frc=0
    LINE=$("$FANOUT" --idle "$IDLE" --hold "$HOLD" -a "$ADDRS" -p "$SERVER_PID" "${URL#http://}") ||
        frc=$?
    echo "$LINE" | tee -a "$RESULTS"
    stop_server
    if [ -z "$LINE" ] || [ "$frc" -ge 2 ]; then
        echo "fanout --idle failed (exit status $frc)" | tee -a "$RESULTS"
        rc=2
    else
        if [ "$(j failed)" != 0 ] || [ "$(j closed)" != 0 ]; then
            [ "$rc" -ge 1 ] || rc=1
        fi
        {
            echo "idle: $(j subscribed)/$IDLE connections subscribed in $(j setup_secs) s" \
                "($(j failed) failed, $(j closed) closed)"
            echo "  server VmRSS: $(j server_rss_before_kb) KiB before, $(j server_rss_held_kb) KiB held" \
                "-> $(j server_bytes_per_conn) bytes per connection (peak $(j server_hwm_kb) KiB)"
            fe=$(j first_error)
            [ -z "$fe" ] || echo "  first problem: $fe"
        } | tee -a "$RESULTS"
    fi
fi
exit "$rc"
