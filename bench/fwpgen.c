/* fwpgen: the Faktory Work Protocol load generator behind bench/faktory.sh.
 * It drives one synq server over its FWP listener (issue 6; reference:
 * shared/reference/faktory-protocol.md) with blocking sockets, one thread per
 * connection, and prints one `key=value` line per phase, like loadgen:
 *
 *   phase=pushb jobs=100000 secs=1.234 jobs_per_sec=81037 requests=100 ...
 *
 * Phases: `pushb` sends PUSHB batches on one connection and checks that every
 * reply is the bulk `{}` (no job refused); `drain` runs CONNS consumers, each
 * on its own connection with its own wid, looping FETCH -> ACK until N jobs
 * are acked in total; `e2e` runs one pusher and CONNS consumers at once and
 * times the first push to the last ack.
 *
 * It is deliberately small and not a general Faktory client. It speaks only
 * to 127.0.0.1, does the handshake itself (+HI, HELLO, +OK) and refuses a
 * server that asks for a password. Replies are parsed as RESP: a reply may
 * arrive in several reads and a read may hold more than one reply; bulk
 * strings are read by their length. The jid of a fetched job is taken from
 * its "jid" member; the jobs fwpgen pushes carry no "jid" inside their args,
 * so nothing else matches. Each jid ends in the job's sequence number, which
 * is checked against the job's args ("seq") and used to count jobs delivered
 * twice (`dups=`, exit status 1 when not 0).
 *
 * Pushers say HELLO without a wid (producers, as Faktory clients do); each
 * consumer sends its own wid and BEATs every 15 s so that a slow run is not
 * reaped as a dead worker. Connections end with END.
 *
 * Everything is bounded: fixed job counts, at most MAX_THREADS connections,
 * and a hard timeout (-t, default 120 s) after which the process exits with
 * status 2 whatever it is doing. An -ERR reply, an unexpected reply or a
 * closed connection ends the run with status 1 and a message on stderr. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

#define MAX_THREADS 256
#define MAX_JOBS 10000000ULL
#define MAX_BATCH 5000 /* Node's client warns above 5001; synq bounds a line at 1 MiB */
#define JID_MAX 64
#define MAX_BULK_BYTES (16 * 1024 * 1024) /* largest bulk reply accepted */
#define READ_CHUNK (64 * 1024)
#define BEAT_EVERY_S 15.0 /* the interval Faktory recommends (reference §1.5) */

static char g_hostname[64] = "fwpgen";
static unsigned g_run_id; /* makes jids unique across runs on one server */
static atomic_uint_fast64_t g_empty_fetches, g_dups, g_beats;
static _Atomic(unsigned char) *g_seen; /* one byte per sequence number: acked */
static double g_push_end;              /* the pusher's end (g_end is the last ack's) */

/* Accepts 127.x.x.x:PORT, with or without tcp://; anything else is refused
 * so the tool never leaves the host. */
static void parse_addr(const char *addr)
{
    if (strchr(addr, '@')) die("a password in the address is not supported");
    parse_loopback(addr, "tcp://", "address must be 127.0.0.1:PORT");
}

/* ---- one FWP connection ----------------------------------------------------- */

/* One RESP reply. For '+' and '-' data is the line after the type byte; for
 * '$' it is the bulk's bytes, or NULL with len -1 for the null bulk. data is
 * NUL-terminated and valid until the next reply is read. */
typedef struct {
    char type;
    const char *data;
    long len;
} reply_t;

typedef struct {
    int fd;
    int index;
    buf_t in;     /* received bytes; [off, len) not yet parsed */
    size_t off;   /* start of the next reply in in.data */
    bool counted; /* commands count in requests= (not the handshake) */
    char wid[32];
} conn_t;

/* Appends at least one byte from the socket to c->in. */
static void read_more(conn_t *c)
{
    recv_more(c->fd, &c->in, READ_CHUNK);
}

/* Reads the next reply. Bytes after it stay in c->in for the next call, so
 * it does not matter how the server's writes were split by the network. */
static void conn_reply(conn_t *c, reply_t *r)
{
    /* drop the reply returned last time */
    if (c->off) {
        memmove(c->in.data, c->in.data + c->off, c->in.len - c->off);
        c->in.len -= c->off;
        c->off = 0;
    }
    char *eol;
    for (;;) {
        if (c->in.len && (eol = memmem(c->in.data, c->in.len, "\r\n", 2))) break;
        if (c->in.len > 4096) die("a reply line over 4096 bytes without CRLF");
        read_more(c);
    }
    char *p = c->in.data;
    size_t head = (size_t)(eol - p) + 2;
    r->type = p[0];
    switch (p[0]) {
    case '+':
    case '-':
        *eol = '\0';
        r->data = p + 1;
        r->len = (long)(eol - p - 1);
        c->off = head;
        return;
    case '$': {
        char *end;
        errno = 0;
        long n = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || end != eol || n < -1 || n > MAX_BULK_BYTES)
            die("bad bulk length line: %.*s", (int)(eol - p), p);
        if (n == -1) {
            r->data = NULL;
            r->len = -1;
            c->off = head;
            return;
        }
        size_t need = head + (size_t)n + 2;
        while (c->in.len < need) {
            buf_reserve(&c->in, need - c->in.len);
            read_more(c);
        }
        p = c->in.data; /* read_more may have moved the buffer */
        if (p[head + (size_t)n] != '\r' || p[head + (size_t)n + 1] != '\n')
            die("a bulk string of %ld bytes is not followed by CRLF", n);
        p[head + (size_t)n] = '\0';
        r->data = p + head;
        r->len = n;
        c->off = need;
        return;
    }
    default:
        die("unexpected RESP reply type '%c': %.*s", p[0], (int)(eol - p), p);
    }
}

/* Sends one command line (the CRLF is added) and reads its reply. Commands
 * are strictly request/response in FWP (reference §1.2). */
static void conn_command(conn_t *c, const char *line, size_t len, reply_t *r)
{
    /* the line and its ending in one segment */
    struct iovec iov[2] = {{(void *)line, len}, {(void *)"\r\n", 2}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t total = len + 2;
    while (total) {
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("send: %s", strerror(errno));
        }
        total -= (size_t)w;
        while (w > 0 && mh.msg_iovlen) {
            if ((size_t)w >= mh.msg_iov[0].iov_len) {
                w -= (ssize_t)mh.msg_iov[0].iov_len;
                mh.msg_iov++;
                mh.msg_iovlen--;
            } else {
                mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + w;
                mh.msg_iov[0].iov_len -= (size_t)w;
                w = 0;
            }
        }
    }
    if (c->counted) atomic_fetch_add_explicit(&g_requests, 1, memory_order_relaxed);
    conn_reply(c, r);
}

static void expect_ok(const reply_t *r, const char *what)
{
    if (r->type != '+' || strcmp(r->data, "OK") != 0)
        die("%s: wanted +OK, got %c%.300s", what, r->type, r->data ? r->data : "(null)");
}

/* Connects and does the handshake (reference §1.4): +HI {"v":2}, HELLO,
 * +OK. A consumer (worker) sends a wid of its own. */
static void conn_open(conn_t *c, int index, bool worker)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    c->fd = connect_loopback();

    reply_t r;
    conn_reply(c, &r);
    if (r.type != '+' || strncmp(r.data, "HI {", 4) != 0)
        die("greeting: wanted +HI {...}, got %c%.300s", r.type, r.data ? r.data : "(null)");
    /* the JSON has no spaces (Node splits the line on one) and v is 2 */
    const char *json = r.data + 3;
    if (strchr(json, ' ')) die("greeting JSON contains a space: %s", json);
    if (strstr(json, "\"v\":2") == NULL) die("greeting without \"v\":2: %s", json);
    if (strstr(json, "\"s\":")) die("the server wants a password; fwpgen does not send one");

    buf_t hello = {0};
    if (worker) {
        snprintf(c->wid, sizeof c->wid, "fwpgen-%x-%d", g_run_id, index);
        buf_printf(&hello,
                   "HELLO {\"hostname\":\"%s\",\"v\":2,\"wid\":\"%s\",\"pid\":%d,"
                   "\"labels\":[\"bench\"]}",
                   g_hostname, c->wid, (int)getpid());
    } else {
        buf_printf(&hello, "HELLO {\"hostname\":\"%s\",\"v\":2,\"pid\":%d,\"labels\":[\"bench\"]}",
                   g_hostname, (int)getpid());
    }
    conn_command(c, hello.data, hello.len, &r);
    expect_ok(&r, "HELLO");
    free(hello.data);
    c->counted = true;
}

/* END and close. The server should close the socket (Faktory writes
 * nothing; "+OK" first is allowed, reference §1.6); one that keeps it open
 * for a second is reported on stderr but does not fail the run. */
static void conn_close(conn_t *c)
{
    send_all(c->fd, "END\r\n", 5, 0);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char tmp[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(c->fd, tmp + got, sizeof tmp - got, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                fprintf(stderr, "fwpgen: warning: connection %d still open 1 s after END\n",
                        c->index);
            break; /* ECONNRESET is a close too */
        }
        got += (size_t)n;
        if (got == sizeof tmp) break;
    }
    if (got && !(got == 5 && memcmp(tmp, "+OK\r\n", 5) == 0))
        fprintf(stderr, "fwpgen: warning: connection %d: unexpected reply to END: %.*s\n", c->index,
                (int)got, tmp);
    close(c->fd);
    free(c->in.data);
}

/* ---- workload ------------------------------------------------------------- */

/* One job with ~100 bytes of args and no "jid" member inside them. */
static void put_job(buf_t *b, uint64_t seq)
{
    buf_printf(b,
               "{\"jid\":\"fwp-%08x-%llu\",\"jobtype\":\"bench.noop\",\"queue\":\"%s\","
               "\"args\":[{\"seq\":%llu,\"pad\":\"%s\"}]}",
               g_run_id, (unsigned long long)seq, g_queue, (unsigned long long)seq, PAD);
}

typedef struct {
    bench_thread_t t; /* first: run() fills in the thread and index */
    bool pusher;
    uint64_t batch; /* jobs per PUSHB */
} worker_t;

static void push(conn_t *c, const worker_t *w)
{
    buf_t line = {0};
    reply_t r;
    uint64_t first, n;
    while (claim(w->batch, &first, &n)) {
        line.len = 0;
        buf_printf(&line, "PUSHB [");
        for (uint64_t i = 0; i < n; i++) {
            if (i) buf_printf(&line, ",");
            put_job(&line, first + i);
        }
        buf_printf(&line, "]");
        conn_command(c, line.data, line.len, &r);
        /* {} when every job was accepted, else {"<jid>":"<error>",...} */
        if (r.type != '$' || r.len != 2 || memcmp(r.data, "{}", 2) != 0)
            die("PUSHB of jobs %llu-%llu: wanted $2 {}, got %c%.300s", (unsigned long long)first,
                (unsigned long long)(first + n - 1), r.type, r.data ? r.data : "(null)");
    }
    free(line.data);
}

/* Finds `"key"` followed by optional spaces and a colon in json; returns the
 * first byte of the value after spaces, or NULL. */
static const char *json_value(const char *json, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL) return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

/* Copies the fetched job's jid into jid[] and returns its sequence number,
 * checked against the job's args. */
static uint64_t job_jid(const char *job, char jid[JID_MAX + 1])
{
    const char *p = json_value(job, "jid");
    if (p == NULL || *p != '"') die("fetched job without a jid: %.300s", job);
    p++;
    size_t len = strcspn(p, "\"\\");
    if (len == 0 || len > JID_MAX || p[len] != '"') die("bad jid in a fetched job: %.300s", job);
    memcpy(jid, p, len);
    jid[len] = '\0';
    const char *dash = strrchr(jid, '-');
    if (strncmp(jid, "fwp-", 4) != 0 || dash == NULL || dash[1] == '\0')
        die("fetched a job fwpgen did not push (jid %s); use a fresh queue", jid);
    char *end;
    unsigned long long seq = strtoull(dash + 1, &end, 10);
    if (*end || seq >= g_jobs)
        die("fetched jid %s: sequence number outside 0..%llu", jid, (unsigned long long)g_jobs - 1);
    const char *s = json_value(job, "seq");
    if (s == NULL || strtoull(s, NULL, 10) != seq)
        die("fetched jid %s carries other args: %.300s", jid, job);
    return seq;
}

static void beat(conn_t *c)
{
    char line[64];
    int n = snprintf(line, sizeof line, "BEAT {\"wid\":\"%s\"}", c->wid);
    reply_t r;
    conn_command(c, line, (size_t)n, &r);
    atomic_fetch_add(&g_beats, 1);
    /* a bulk {"state":...} means the server wants this worker to stop */
    expect_ok(&r, "BEAT");
}

static void drain(conn_t *c)
{
    char fetch[200], ack[JID_MAX + 32], jid[JID_MAX + 1];
    int fn = snprintf(fetch, sizeof fetch, "FETCH %s", g_queue);
    double last_beat = now_s();
    reply_t r;
    while (atomic_load(&g_fetched) < g_jobs) {
        if (now_s() - last_beat >= BEAT_EVERY_S) {
            beat(c);
            last_beat = now_s();
        }
        conn_command(c, fetch, (size_t)fn, &r);
        if (r.type == '$' && r.len == -1) {
            atomic_fetch_add(&g_empty_fetches, 1); /* nothing within 2 s (or a pusher is slow) */
            continue;
        }
        if (r.type != '$') die("FETCH: wanted a bulk job, got %c%.300s", r.type, r.data);
        uint64_t seq = job_jid(r.data, jid);
        atomic_fetch_add(&g_fetched, 1);
        int an = snprintf(ack, sizeof ack, "ACK {\"jid\":\"%s\"}", jid);
        conn_command(c, ack, (size_t)an, &r);
        expect_ok(&r, "ACK");
        if (atomic_exchange(&g_seen[seq], 1)) atomic_fetch_add(&g_dups, 1);
        if (atomic_fetch_add(&g_acked, 1) + 1 == g_jobs) mark_end(&g_end);
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    conn_t c;
    conn_open(&c, w->t.index, !w->pusher);
    /* every connection is up before the clock starts */
    pthread_barrier_wait(&g_ready);
    if (w->pusher) {
        push(&c, w);
        mark_end(&g_push_end);
    } else {
        drain(&c);
    }
    conn_close(&c);
    return NULL;
}

/* ---- phases ----------------------------------------------------------------- */

/* Runs the workers, all connected and greeted before the clock starts, and
 * joins them. */
static void run_workers(worker_t *ws, int n)
{
    run(ws, sizeof *ws, n, worker_main);
}

/* The consumers' extra fields; exits 1 after the report when a job came
 * twice or the count is off. */
static void drain_extra(char *out, size_t cap, int conns)
{
    snprintf(out + strlen(out), cap - strlen(out),
             " conns=%d empty_fetches=%llu beats=%llu dups=%llu", conns,
             (unsigned long long)atomic_load(&g_empty_fetches),
             (unsigned long long)atomic_load(&g_beats), (unsigned long long)atomic_load(&g_dups));
}

static int check_drained(void)
{
    uint64_t acked = atomic_load(&g_acked), dups = atomic_load(&g_dups);
    if (acked != g_jobs) {
        fprintf(stderr, "fwpgen: acked %llu jobs, expected %llu\n", (unsigned long long)acked,
                (unsigned long long)g_jobs);
        return 1;
    }
    if (dups) {
        fprintf(stderr, "fwpgen: %llu jobs were fetched and acked twice\n",
                (unsigned long long)dups);
        return 1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fwpgen [-q QUEUE] [-t TIMEOUT_S] COMMAND HOST:PORT N ARGS...\n"
            "  pushb HOST:PORT N BATCH         PUSHB N jobs, BATCH per command, one connection\n"
            "  drain HOST:PORT N CONNS         CONNS consumers (own connection and wid each):\n"
            "                                  FETCH, ACK until N jobs are acked\n"
            "  e2e   HOST:PORT N BATCH CONNS   one pusher and CONNS consumers at once; time\n"
            "                                  from the first push to the last ack\n"
            "HOST is a loopback address (127.x.x.x); tcp:// may precede it. -q names the queue\n"
            "(default 'bench'); -t bounds the whole run (default 120 s; exit status 2 when it\n"
            "passes). drain expects the queue to hold exactly the N jobs of one pushb.\n");
    exit(64);
}

int main(int argc, char **argv)
{
    bench_prog = "fwpgen";
    unsigned long timeout_s = 120;
    /* Faktory's queue names: \A[a-zA-Z0-9._-]+\z (reference §1.3) */
    parse_args(&argc, &argv, &timeout_s, "._-", usage);
    const char *cmd = argv[0];
    parse_addr(argv[1]);
    g_jobs = parse_num(argv[2], "N", 1, MAX_JOBS);
    if (gethostname(g_hostname, sizeof g_hostname) != 0 ||
        strspn(g_hostname, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") !=
            strlen(g_hostname))
        strcpy(g_hostname, "fwpgen");
    g_hostname[sizeof g_hostname - 1] = '\0';
    g_run_id = (unsigned)getpid() ^ (unsigned)time(NULL) << 8;
    g_seen = calloc(g_jobs, 1);
    if (g_seen == NULL) die("out of memory");

    start_timeout(timeout_s);

    static worker_t ws[MAX_THREADS + 1];
    char extra[256] = "";
    int rc = 0;
    if (strcmp(cmd, "pushb") == 0 && argc == 4) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BATCH);
        ws[0] = (worker_t){.pusher = true, .batch = batch};
        run_workers(ws, 1);
        snprintf(extra, sizeof extra, " batch=%llu", (unsigned long long)batch);
        report(cmd, g_push_end, extra);
    } else if (strcmp(cmd, "drain") == 0 && argc == 4) {
        int conns = (int)parse_num(argv[3], "CONNS", 1, MAX_THREADS);
        for (int i = 0; i < conns; i++)
            ws[i] = (worker_t){.pusher = false};
        run_workers(ws, conns);
        drain_extra(extra, sizeof extra, conns);
        report(cmd, g_end, extra);
        rc = check_drained();
    } else if (strcmp(cmd, "e2e") == 0 && argc == 5) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BATCH);
        int conns = (int)parse_num(argv[4], "CONNS", 1, MAX_THREADS);
        ws[0] = (worker_t){.pusher = true, .batch = batch};
        for (int i = 1; i <= conns; i++)
            ws[i] = (worker_t){.pusher = false};
        run_workers(ws, conns + 1);
        snprintf(extra, sizeof extra, " push_secs=%.3f batch=%llu", g_push_end - g_start,
                 (unsigned long long)batch);
        drain_extra(extra, sizeof extra, conns);
        report(cmd, g_end, extra);
        rc = check_drained();
    } else {
        usage();
    }
    free((void *)g_seen);
    return rc;
}
