/* loadgen: the load generator behind bench/run.sh. It drives one synq server
 * over its HTTP/JSON API with blocking sockets, one thread per keep-alive
 * connection, and prints one `key=value` line per phase:
 *
 *   phase=enqueue-bulk jobs=100000 secs=1.234 jobs_per_sec=81037 ...
 *
 * It is deliberately small and not a general HTTP client: it speaks only to
 * 127.0.0.1, sends HTTP/1.1 requests with a Content-Length body, and reads
 * responses that carry Content-Length (or none at all for 204), which is all
 * synq sends. Job ids are pulled out of fetch responses by looking for
 * `{"id":"`, which opens every job object synq writes; the jobs loadgen
 * enqueues carry no "id" inside their args, so nothing else matches.
 *
 * Everything is bounded: fixed job counts, at most MAX_THREADS connections,
 * and a hard timeout (-t, default 120 s) after which the process exits with
 * status 2 whatever it is doing. Any unexpected status or a closed connection
 * ends the run with status 1 and a message on stderr. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"

#define MAX_THREADS 256
#define MAX_JOBS 10000000ULL
#define MAX_BULK 10000 /* synq's limit per bulk enqueue or bulk ack */
#define MAX_FETCH 1000 /* synq's limit per fetch */
#define ID_MAX 128     /* longest job id synq accepts */
#define HEADER_MAX (16 * 1024)
#define READ_CHUNK (64 * 1024)
/* Long-poll used by consumers that run alongside a producer. */
#define E2E_WAIT "500ms"

/* The end of the last producer (g_end is the last consumer's). */
static double g_enqueue_end;

/* ---- one keep-alive HTTP/1.1 connection ---------------------------------- */

typedef struct {
    int fd;
    buf_t in;   /* the last response: headers, body, NUL */
    int status; /* of the last response */
    char *body; /* into in.data, NUL-terminated */
    size_t body_len;
    bool closing; /* the server said Connection: close */
} conn_t;

static void conn_open(conn_t *c)
{
    memset(c, 0, sizeof *c);
    c->fd = connect_loopback();
}

static void conn_close(conn_t *c)
{
    close(c->fd);
    free(c->in.data);
}

/* Finds header `name` (case-insensitive, RFC 9110 section 5.1) in the block
 * [p, end); returns its value or NULL. */
static const char *find_header(const char *p, const char *end, const char *name)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Sends one request and reads the whole response: afterwards c->status,
 * c->body and c->body_len describe it. Requests are not pipelined, so the
 * input buffer holds exactly one response. */
static void conn_request(conn_t *c, const char *method, const char *path, const char *body,
                         size_t len)
{
    if (c->closing) die("the server closed a keep-alive connection");
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, len);
    if (hn < 0 || (size_t)hn >= sizeof head) die("request line too long");
    /* MSG_MORE corks the head so head and body leave in as few segments as
     * one write would produce. */
    send_all(c->fd, head, (size_t)hn, len ? MSG_MORE : 0);
    if (len) send_all(c->fd, body, len, 0);
    atomic_fetch_add_explicit(&g_requests, 1, memory_order_relaxed);

    c->in.len = 0;
    char *hend;
    for (;;) {
        recv_more(c->fd, &c->in, READ_CHUNK);
        c->in.data[c->in.len] = '\0';
        if ((hend = memmem(c->in.data, c->in.len, "\r\n\r\n", 4))) break;
        if (c->in.len > HEADER_MAX) die("response headers over %d bytes", HEADER_MAX);
    }
    if (c->in.len < 12 || strncmp(c->in.data, "HTTP/1.1 ", 9) != 0) die("not an HTTP/1.1 response");
    c->status = atoi(c->in.data + 9);
    size_t hlen = (size_t)(hend - c->in.data) + 4;
    const char *cl = find_header(c->in.data, hend, "Content-Length");
    size_t clen = cl ? strtoull(cl, NULL, 10) : 0;
    const char *conn = find_header(c->in.data, hend, "Connection");
    c->closing = conn && strncasecmp(conn, "close", 5) == 0;
    if (c->in.len < hlen + clen) {
        buf_reserve(&c->in, hlen + clen - c->in.len);
        while (c->in.len < hlen + clen)
            recv_more(c->fd, &c->in, 0);
    }
    if (c->in.len > hlen + clen) die("unexpected bytes after a response");
    c->body = c->in.data + hlen;
    c->body_len = clen;
    c->body[clen] = '\0';
}

static void expect_status(const conn_t *c, int want, const char *what)
{
    if (c->status != want)
        die("%s: HTTP %d (wanted %d): %.300s", what, c->status, want, c->body ? c->body : "");
}

/* ---- workload ------------------------------------------------------------- */

/* One job with ~100 bytes of args and no "id" member anywhere. */
static void put_job(buf_t *b, uint64_t seq)
{
    buf_printf(b,
               "{\"queue\":\"%s\",\"type\":\"bench.noop\",\"args\":{\"seq\":%llu,\"pad\":\"%s\"}}",
               g_queue, (unsigned long long)seq, PAD);
}

typedef struct {
    bench_thread_t t; /* first: run() fills in the thread and index */
    /* producers */
    uint64_t batch; /* jobs per bulk request; 0 = POST /v1/jobs one at a time */
    /* consumers */
    int max;       /* fetch max */
    bool ack_bulk; /* POST /v1/ack for the whole fetch, else one ack per job */
    bool wait;     /* long-poll and keep going on 204 (a producer is running) */
    bool producer;
} worker_t;

static void produce(conn_t *c, const worker_t *w)
{
    buf_t body = {0};
    uint64_t first, n;
    uint64_t step = w->batch ? w->batch : 1;
    while (claim(step, &first, &n)) {
        body.len = 0;
        if (w->batch) {
            buf_printf(&body, "{\"jobs\":[");
            for (uint64_t i = 0; i < n; i++) {
                if (i) buf_printf(&body, ",");
                put_job(&body, first + i);
            }
            buf_printf(&body, "]}");
            conn_request(c, "POST", "/v1/jobs/bulk", body.data, body.len);
        } else {
            put_job(&body, first);
            conn_request(c, "POST", "/v1/jobs", body.data, body.len);
        }
        expect_status(c, 201, "enqueue");
    }
    free(body.data);
}

/* Copies the ids of the jobs in a fetch response into ids[]; returns how
 * many. Every job object synq writes begins with {"id":". */
static int extract_ids(const char *body, char (*ids)[ID_MAX + 1], int cap)
{
    int n = 0;
    const char *p = body;
    while ((p = strstr(p, "{\"id\":\""))) {
        p += 7;
        size_t len = strcspn(p, "\"");
        if (len == 0 || len > ID_MAX || p[len] != '"') die("bad job id in a fetch response");
        if (n == cap) die("fetch returned more jobs than asked for");
        memcpy(ids[n], p, len);
        ids[n][len] = '\0';
        n++;
        p += len;
    }
    return n;
}

static void consume(conn_t *c, const worker_t *w)
{
    char(*ids)[ID_MAX + 1] = malloc((size_t)w->max * sizeof *ids);
    if (ids == NULL) die("out of memory");
    buf_t fetch = {0}, ack = {0};
    buf_printf(&fetch, "{\"queues\":[\"%s\"],\"max\":%d,\"worker\":\"w%d\"%s}", g_queue, w->max,
               w->t.index, w->wait ? ",\"wait\":\"" E2E_WAIT "\"" : "");
    while (atomic_load(&g_fetched) < g_jobs) {
        conn_request(c, "POST", "/v1/fetch", fetch.data, fetch.len);
        if (c->status == 204) {
            if (w->wait) continue;
            break; /* everything was enqueued before we began: the queue is empty */
        }
        expect_status(c, 200, "fetch");
        int n = extract_ids(c->body, ids, w->max);
        if (n == 0) die("fetch answered 200 with no jobs");
        atomic_fetch_add(&g_fetched, (uint64_t)n);
        if (w->ack_bulk) {
            ack.len = 0;
            buf_printf(&ack, "{\"worker\":\"w%d\",\"jobs\":[", w->t.index);
            for (int i = 0; i < n; i++)
                buf_printf(&ack, "%s{\"id\":\"%s\",\"result\":{\"ok\":true}}", i ? "," : "",
                           ids[i]);
            buf_printf(&ack, "]}");
            conn_request(c, "POST", "/v1/ack", ack.data, ack.len);
            expect_status(c, 200, "bulk ack");
            if (strstr(c->body, "\"ok\":false")) die("bulk ack refused a job: %.300s", c->body);
        } else {
            for (int i = 0; i < n; i++) {
                char path[ID_MAX + 32];
                snprintf(path, sizeof path, "/v1/jobs/%s/ack", ids[i]);
                ack.len = 0;
                buf_printf(&ack, "{\"worker\":\"w%d\",\"result\":{\"ok\":true}}", w->t.index);
                conn_request(c, "POST", path, ack.data, ack.len);
                expect_status(c, 200, "ack");
            }
        }
        if (atomic_fetch_add(&g_acked, (uint64_t)n) + (uint64_t)n >= g_jobs) mark_end(&g_end);
    }
    free(fetch.data);
    free(ack.data);
    free(ids);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    conn_t c;
    conn_open(&c);
    /* every connection is up before the clock starts */
    pthread_barrier_wait(&g_ready);
    if (w->producer) {
        produce(&c, w);
        mark_end(&g_enqueue_end);
    } else {
        consume(&c, w);
    }
    conn_close(&c);
    return NULL;
}

/* ---- phases ----------------------------------------------------------------- */

/* Runs the workers, all connected before the clock starts, and joins them. */
static void run_workers(worker_t *ws, int n)
{
    run(ws, sizeof *ws, n, worker_main);
}

static void check_acked(void)
{
    uint64_t acked = atomic_load(&g_acked);
    if (acked != g_jobs)
        die("acked %llu jobs, expected %llu (was the queue '%s' filled by this run?)",
            (unsigned long long)acked, (unsigned long long)g_jobs, g_queue);
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: loadgen [-q QUEUE] [-t TIMEOUT_S] COMMAND URL N ARGS...\n"
        "  enqueue-bulk   URL N BATCH [CONNS]      POST /v1/jobs/bulk, BATCH jobs each (CONNS "
        "default 1)\n"
        "  enqueue-single URL N CONNS              POST /v1/jobs over CONNS connections\n"
        "  drain-batch    URL N WORKERS MAX        fetch up to MAX, ack them with POST /v1/ack\n"
        "  drain-single   URL N WORKERS            fetch 1, POST /v1/jobs/{id}/ack\n"
        "  e2e-batch      URL N BATCH WORKERS MAX  one bulk producer and WORKERS batch consumers\n"
        "                                          at once; time from first enqueue to last ack\n"
        "URL is http://127.0.0.1:PORT. -q names the queue (default 'bench'); -t bounds the\n"
        "whole run (default 120 s; exit status 2 when it passes).\n");
    exit(64);
}

int main(int argc, char **argv)
{
    bench_prog = "loadgen";
    unsigned long timeout_s = 120;
    parse_args(&argc, &argv, &timeout_s, "_-.:", usage);
    const char *cmd = argv[0];
    parse_loopback(argv[1], "http://", "URL must be http://127.0.0.1:PORT");
    g_jobs = parse_num(argv[2], "N", 1, MAX_JOBS);

    start_timeout(timeout_s);

    static worker_t ws[MAX_THREADS + 1];
    if (strcmp(cmd, "enqueue-bulk") == 0 && (argc == 4 || argc == 5)) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BULK);
        int conns = argc == 5 ? (int)parse_num(argv[4], "CONNS", 1, MAX_THREADS) : 1;
        for (int i = 0; i < conns; i++)
            ws[i] = (worker_t){.producer = true, .batch = batch};
        run_workers(ws, conns);
        report(cmd, g_enqueue_end, NULL);
    } else if (strcmp(cmd, "enqueue-single") == 0 && argc == 4) {
        int conns = (int)parse_num(argv[3], "CONNS", 1, MAX_THREADS);
        for (int i = 0; i < conns; i++)
            ws[i] = (worker_t){.producer = true, .batch = 0};
        run_workers(ws, conns);
        report(cmd, g_enqueue_end, NULL);
    } else if (strcmp(cmd, "drain-batch") == 0 && argc == 5) {
        int workers = (int)parse_num(argv[3], "WORKERS", 1, MAX_THREADS);
        int max = (int)parse_num(argv[4], "MAX", 1, MAX_FETCH);
        for (int i = 0; i < workers; i++)
            ws[i] = (worker_t){.max = max, .ack_bulk = true};
        run_workers(ws, workers);
        check_acked();
        report(cmd, g_end, NULL);
    } else if (strcmp(cmd, "drain-single") == 0 && argc == 4) {
        int workers = (int)parse_num(argv[3], "WORKERS", 1, MAX_THREADS);
        for (int i = 0; i < workers; i++)
            ws[i] = (worker_t){.max = 1};
        run_workers(ws, workers);
        check_acked();
        report(cmd, g_end, NULL);
    } else if (strcmp(cmd, "e2e-batch") == 0 && argc == 6) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BULK);
        int workers = (int)parse_num(argv[4], "WORKERS", 1, MAX_THREADS);
        int max = (int)parse_num(argv[5], "MAX", 1, MAX_FETCH);
        ws[0] = (worker_t){.producer = true, .batch = batch};
        for (int i = 1; i <= workers; i++)
            ws[i] = (worker_t){.max = max, .ack_bulk = true, .wait = true};
        run_workers(ws, workers + 1);
        check_acked();
        char extra[64];
        snprintf(extra, sizeof extra, " enqueue_secs=%.3f", g_enqueue_end - g_start);
        report(cmd, g_end, extra);
    } else {
        usage();
    }
    return 0;
}
