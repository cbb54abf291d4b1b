/* benchlib.h: what the load generators bench/loadgen.c (HTTP) and
 * bench/fwpgen.c (Faktory) share: dying with a message, a growable buffer,
 * number and loopback address parsing, blocking socket I/O, the job
 * counters the worker threads claim from and report on, the run that starts
 * the clock once every worker is connected, the `phase=... ` line and the
 * hard timeout.
 *
 * Header-only and single-use: each tool is one translation unit that sets
 * bench_prog in main (for messages) and includes this file once; everything
 * here is static. It is not a library for the server and never touches
 * anything but 127.0.0.1. Errors are fatal: die() prints
 * "<bench_prog>: <message>" on stderr and exits with status 1.
 *
 * Needs _GNU_SOURCE (the tools are built with -D_GNU_SOURCE) for MSG_MORE
 * and memmem. */
#ifndef BENCH_BENCHLIB_H
#define BENCH_BENCHLIB_H

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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The tool's name, the prefix of every message; main sets it first. */
static const char *bench_prog = "bench";

/* ---- small helpers -------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_prog);
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

static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* ---- configuration and counters shared by every thread -------------------- */

static struct sockaddr_in g_addr;
static const char *g_queue = "bench";
static uint64_t g_jobs;

/* Progress counters: jobs claimed by producers, fetched and acked. */
static atomic_uint_fast64_t g_claimed, g_fetched, g_acked;
static atomic_uint_fast64_t g_requests; /* the requests= of report() */
static double g_start, g_end;           /* the clock's start; the last ack */
static pthread_mutex_t g_end_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t g_ready; /* every worker is connected */

/* Parses [SCHEME]HOST:PORT[/...] into g_addr. HOST must be a 127.0.0.0/8
 * address so the tool never leaves the host; `form` is the message for an
 * address that is not HOST:PORT at all. */
static void parse_loopback(const char *addr, const char *scheme, const char *form)
{
    const char *p = addr;
    if (strncmp(p, scheme, strlen(scheme)) == 0) p += strlen(scheme);
    char host[64];
    const char *colon = strchr(p, ':');
    if (colon == NULL || (size_t)(colon - p) >= sizeof host) die("%s", form);
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    char port[16];
    size_t plen = strcspn(colon + 1, "/");
    if (plen == 0 || plen >= sizeof port) die("%s", form);
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)parse_num(port, "port", 1, 65535));
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1 ||
        (ntohl(g_addr.sin_addr.s_addr) >> 24) != 127)
        die("only loopback addresses (127.x.x.x) are allowed, not '%s'", host);
}

/* ---- blocking socket I/O --------------------------------------------------- */

/* A TCP_NODELAY connection to g_addr; returns its fd. */
static int connect_loopback(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("TCP_NODELAY: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&g_addr, sizeof g_addr) < 0)
        die("connect: %s", strerror(errno));
    return fd;
}

/* Sends all n bytes; flags are added to MSG_NOSIGNAL (e.g. MSG_MORE). */
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

/* Makes room for `want` more bytes in `in` and appends at least one byte
 * from fd (as many as fit); a closed connection is fatal. */
static void recv_more(int fd, buf_t *in, size_t want)
{
    buf_reserve(in, want);
    for (;;) {
        ssize_t r = recv(fd, in->data + in->len, in->cap - in->len - 1, 0);
        if (r > 0) {
            in->len += (size_t)r;
            return;
        }
        if (r == 0) die("the server closed the connection");
        if (errno != EINTR) die("recv: %s", strerror(errno));
    }
}

/* ---- workload ------------------------------------------------------------- */

/* Padding that brings a job's args to ~100 bytes. */
static const char PAD[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc";

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

/* Moves *slot (an end time) forward to now. */
static void mark_end(double *slot)
{
    double t = now_s();
    pthread_mutex_lock(&g_end_lock);
    if (t > *slot) *slot = t;
    pthread_mutex_unlock(&g_end_lock);
}

/* ---- phases ----------------------------------------------------------------- */

/* The first member of each tool's worker_t; run() fills it in. */
typedef struct {
    pthread_t tid;
    int index; /* 0 .. n-1 */
} bench_thread_t;

/* Runs n workers: ws is an array of n structs of `size` bytes, each starting
 * with a bench_thread_t, and fn(&ws[i]) is worker i's thread. Each fn
 * connects and then waits on g_ready; the clock (g_start) starts when all
 * have, and run returns when all have ended. */
static bench_thread_t *thread_at(void *ws, size_t size, int i)
{
    return (bench_thread_t *)(void *)((char *)ws + (size_t)i * size);
}

static void run(void *ws, size_t size, int n, void *(*fn)(void *))
{
    if (pthread_barrier_init(&g_ready, NULL, (unsigned)n + 1)) die("pthread_barrier_init failed");
    for (int i = 0; i < n; i++) {
        bench_thread_t *t = thread_at(ws, size, i);
        t->index = i;
        if (pthread_create(&t->tid, NULL, fn, t)) die("pthread_create failed");
    }
    pthread_barrier_wait(&g_ready);
    g_start = now_s();
    for (int i = 0; i < n; i++)
        pthread_join(thread_at(ws, size, i)->tid, NULL);
    pthread_barrier_destroy(&g_ready);
}

/* Prints the phase's line on stdout: the time from g_start to end and the
 * rate over g_jobs, then `extra` (NULL or " key=value ..."). */
static void report(const char *phase, double end, const char *extra)
{
    double secs = end - g_start;
    if (secs <= 0) secs = 1e-9;
    printf("phase=%s jobs=%llu secs=%.3f jobs_per_sec=%.0f requests=%llu client_cpu_secs=%.2f%s\n",
           phase, (unsigned long long)g_jobs, secs, (double)g_jobs / secs,
           (unsigned long long)atomic_load(&g_requests), cpu_secs(), extra ? extra : "");
    fflush(stdout);
}

/* ---- command line and timeout ----------------------------------------------- */

/* Parses what every tool's command line begins with: the options -q QUEUE
 * (g_queue: 1 to 128 characters of A-Z a-z 0-9 and those in queue_punct)
 * and -t TIMEOUT_S (*timeout_s, 1 to 3600), then COMMAND ADDRESS N ...; an
 * unknown option or fewer than three arguments calls usage, which must not
 * return. Leaves *argc and *argv at COMMAND. */
static void parse_args(int *argc, char ***argv, unsigned long *timeout_s, const char *queue_punct,
                       void (*usage)(void))
{
    int opt;
    while ((opt = getopt(*argc, *argv, "+q:t:h")) != -1) {
        switch (opt) {
        case 'q':
            g_queue = optarg;
            break;
        case 't':
            *timeout_s = parse_num(optarg, "-t", 1, 3600);
            break;
        default:
            usage();
        }
    }
    *argc -= optind;
    *argv += optind;
    if (*argc < 3) usage();
    char allowed[128];
    snprintf(allowed, sizeof allowed, "%s%s",
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", queue_punct);
    size_t len = strlen(g_queue);
    if (len == 0 || len > 128 || strspn(g_queue, allowed) != len) {
        char shown[64] = ""; /* queue_punct spaced out: " _ - ." */
        for (const char *p = queue_punct; *p && strlen(shown) + 3 < sizeof shown; p++)
            snprintf(shown + strlen(shown), sizeof shown - strlen(shown), " %c", *p);
        die("-q: 1-128 characters of A-Z a-z 0-9%s", shown);
    }
}

static char g_timeout_msg[128];

static void on_alarm(int sig)
{
    (void)sig;
    ssize_t rc = write(2, g_timeout_msg, strlen(g_timeout_msg));
    (void)rc;
    _exit(2);
}

/* Ends the process with status 2 and a message after `secs` seconds,
 * whatever it is doing then. */
static void start_timeout(unsigned long secs)
{
    snprintf(g_timeout_msg, sizeof g_timeout_msg, "%s: hard timeout reached, giving up\n",
             bench_prog);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)secs);
}

#endif
