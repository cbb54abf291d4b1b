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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_JOBS 10000000ULL
#define MAX_BULK 10000 /* synq's limit per bulk enqueue or bulk ack */
#define MAX_FETCH 1000 /* synq's limit per fetch */
#define ID_MAX 128     /* longest job id synq accepts */
#define HEADER_MAX (16 * 1024)
#define READ_CHUNK (64 * 1024)
/* Long-poll used by consumers that run alongside a producer. */
#define E2E_WAIT "500ms"

/* ---- small helpers -------------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

/* Makes room for `extra` more bytes plus a terminating NUL. */
static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = realloc(b->data, cap);
    if (b->data == NULL) die("out of memory");
    b->cap = cap;
}

static void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die("vsnprintf failed");
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static unsigned long parse_num(const char *s, const char *what, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die("%s: must be an integer from %lu to %lu, not '%s'", what, lo, hi, s);
    return v;
}

/* ---- configuration shared by every thread --------------------------------- */

static struct sockaddr_in g_addr;
static const char *g_queue = "bench";
static uint64_t g_jobs;

/* Progress counters: jobs claimed by producers, fetched and acked. */
static atomic_uint_fast64_t g_claimed, g_fetched, g_acked;
static atomic_uint_fast64_t g_requests;
static double g_start, g_end, g_enqueue_end;
static pthread_mutex_t g_end_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_ready;

/* Accepts http://127.0.0.1:PORT (any 127.0.0.0/8 address), with or without
 * the scheme; anything else is refused so the tool never leaves the host. */
static void parse_url(const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) p += 7;
    char host[64];
    const char *colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof host)
        die("URL must be http://127.0.0.1:PORT");
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    char port[16];
    size_t plen = strcspn(colon + 1, "/");
    if (plen == 0 || plen >= sizeof port) die("URL must be http://127.0.0.1:PORT");
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)parse_num(port, "port", 1, 65535));
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1 ||
        (ntohl(g_addr.sin_addr.s_addr) >> 24) != 127)
        die("only loopback addresses (127.x.x.x) are allowed, not '%s'", host);
}

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
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("TCP_NODELAY: %s", strerror(errno));
    if (connect(c->fd, (const struct sockaddr *)&g_addr, sizeof g_addr) < 0)
        die("connect: %s", strerror(errno));
}

static void conn_close(conn_t *c)
{
    close(c->fd);
    free(c->in.data);
}

static void send_all(int fd, const char *p, size_t n, int flags)
{
    while (n) {
        ssize_t w = send(fd, p, n, flags | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("send: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

static void read_more(conn_t *c, size_t want)
{
    buf_reserve(&c->in, want);
    for (;;) {
        ssize_t r = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (r > 0) {
            c->in.len += (size_t)r;
            return;
        }
        if (r == 0) die("the server closed the connection");
        if (errno != EINTR) die("recv: %s", strerror(errno));
    }
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
        read_more(c, READ_CHUNK);
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
            read_more(c, 0);
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

static const char PAD[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc";

/* One job with ~100 bytes of args and no "id" member anywhere. */
static void put_job(buf_t *b, uint64_t seq)
{
    buf_printf(b,
               "{\"queue\":\"%s\",\"type\":\"bench.noop\",\"args\":{\"seq\":%llu,\"pad\":\"%s\"}}",
               g_queue, (unsigned long long)seq, PAD);
}

/* Claims the next [*first, *first + *n) slice of at most `batch` jobs;
 * false when all g_jobs are claimed. */
static bool claim(uint64_t batch, uint64_t *first, uint64_t *n)
{
    uint64_t f = atomic_fetch_add(&g_claimed, batch);
    if (f >= g_jobs) return false;
    *first = f;
    *n = g_jobs - f < batch ? g_jobs - f : batch;
    return true;
}

static void mark_end(double *slot)
{
    double t = now_s();
    pthread_mutex_lock(&g_end_lock);
    if (t > *slot) *slot = t;
    pthread_mutex_unlock(&g_end_lock);
}

typedef struct {
    pthread_t tid;
    int index;
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
               w->index, w->wait ? ",\"wait\":\"" E2E_WAIT "\"" : "");
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
            buf_printf(&ack, "{\"worker\":\"w%d\",\"jobs\":[", w->index);
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
                buf_printf(&ack, "{\"worker\":\"w%d\",\"result\":{\"ok\":true}}", w->index);
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

static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Runs the workers, all connected before the clock starts, and joins them. */
static void run(worker_t *ws, int n)
{
    if (pthread_barrier_init(&g_ready, NULL, (unsigned)n + 1)) die("pthread_barrier_init failed");
    for (int i = 0; i < n; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i])) die("pthread_create failed");
    }
    pthread_barrier_wait(&g_ready);
    g_start = now_s();
    for (int i = 0; i < n; i++)
        pthread_join(ws[i].tid, NULL);
    pthread_barrier_destroy(&g_ready);
}

static void report(const char *phase, double end, const char *extra)
{
    double secs = end - g_start;
    if (secs <= 0) secs = 1e-9;
    printf("phase=%s jobs=%llu secs=%.3f jobs_per_sec=%.0f requests=%llu client_cpu_secs=%.2f%s\n",
           phase, (unsigned long long)g_jobs, secs, (double)g_jobs / secs,
           (unsigned long long)atomic_load(&g_requests), cpu_secs(), extra ? extra : "");
    fflush(stdout);
}

static void check_acked(void)
{
    uint64_t acked = atomic_load(&g_acked);
    if (acked != g_jobs)
        die("acked %llu jobs, expected %llu (was the queue '%s' filled by this run?)",
            (unsigned long long)acked, (unsigned long long)g_jobs, g_queue);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "loadgen: hard timeout reached, giving up\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(2);
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
    unsigned long timeout_s = 120;
    int opt;
    while ((opt = getopt(argc, argv, "+q:t:h")) != -1) {
        switch (opt) {
        case 'q':
            g_queue = optarg;
            break;
        case 't':
            timeout_s = parse_num(optarg, "-t", 1, 3600);
            break;
        default:
            usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 3) usage();
    if (strlen(g_queue) == 0 || strlen(g_queue) > 128 ||
        strspn(g_queue, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:") !=
            strlen(g_queue))
        die("-q: 1-128 characters of A-Z a-z 0-9 _ - . :");
    const char *cmd = argv[0];
    parse_url(argv[1]);
    g_jobs = parse_num(argv[2], "N", 1, MAX_JOBS);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)timeout_s);

    static worker_t ws[MAX_THREADS + 1];
    if (strcmp(cmd, "enqueue-bulk") == 0 && (argc == 4 || argc == 5)) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BULK);
        int conns = argc == 5 ? (int)parse_num(argv[4], "CONNS", 1, MAX_THREADS) : 1;
        for (int i = 0; i < conns; i++)
            ws[i] = (worker_t){.producer = true, .batch = batch};
        run(ws, conns);
        report(cmd, g_enqueue_end, NULL);
    } else if (strcmp(cmd, "enqueue-single") == 0 && argc == 4) {
        int conns = (int)parse_num(argv[3], "CONNS", 1, MAX_THREADS);
        for (int i = 0; i < conns; i++)
            ws[i] = (worker_t){.producer = true, .batch = 0};
        run(ws, conns);
        report(cmd, g_enqueue_end, NULL);
    } else if (strcmp(cmd, "drain-batch") == 0 && argc == 5) {
        int workers = (int)parse_num(argv[3], "WORKERS", 1, MAX_THREADS);
        int max = (int)parse_num(argv[4], "MAX", 1, MAX_FETCH);
        for (int i = 0; i < workers; i++)
            ws[i] = (worker_t){.max = max, .ack_bulk = true};
        run(ws, workers);
        check_acked();
        report(cmd, g_end, NULL);
    } else if (strcmp(cmd, "drain-single") == 0 && argc == 4) {
        int workers = (int)parse_num(argv[3], "WORKERS", 1, MAX_THREADS);
        for (int i = 0; i < workers; i++)
            ws[i] = (worker_t){.max = 1};
        run(ws, workers);
        check_acked();
        report(cmd, g_end, NULL);
    } else if (strcmp(cmd, "e2e-batch") == 0 && argc == 6) {
        uint64_t batch = parse_num(argv[3], "BATCH", 1, MAX_BULK);
        int workers = (int)parse_num(argv[4], "WORKERS", 1, MAX_THREADS);
        int max = (int)parse_num(argv[5], "MAX", 1, MAX_FETCH);
        ws[0] = (worker_t){.producer = true, .batch = batch};
        for (int i = 1; i <= workers; i++)
            ws[i] = (worker_t){.max = max, .ack_bulk = true, .wait = true};
        run(ws, workers + 1);
        check_acked();
        char extra[64];
        snprintf(extra, sizeof extra, " enqueue_secs=%.3f", g_enqueue_end - g_start);
        report(cmd, g_end, extra);
    } else {
        usage();
    }
    return 0;
}
