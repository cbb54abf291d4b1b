# Shared by the bench scripts (sourced).

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
