/* bench/fanout.c: the LiveSync fan-out load generator (bench/fanout.sh runs it).
 *
 * One thread, one libuv loop. It opens N WebSocket connections to
 * HOST:PORT/connection/websocket (RFC 6455 client: random key, masked
 * frames, no extensions offered), speaks Centrifugo's client protocol v2
 * JSON on each ({"id":1,"connect":{}} then {"id":2,"subscribe":{...}}),
 * answers the server's pings ("{}" messages, and WebSocket ping frames),
 * then publishes R messages a second for D seconds over REST: POST
 * /v1/channels/CH/messages with {"data":{"t":<send time, ns>,"pad":"..."}}
 * on P keep-alive HTTP/1.1 connections, pipelined up to W requests each,
 * paced by a 1 ms timer (each tick sends what the rate says is due, so a
 * late tick sends a batch). Every publication push received is parsed for t
 * and its offset; the latency (receive - send, same monotonic clock) goes
 * into a log-linear histogram (1/128 relative precision).
 *
 * At the end it prints one JSON object on stdout: connections, published,
 * delivered, deliveries/s, latency p50/p99/p99.9/max (ms), lost (expected -
 * delivered, expected = published x subscribed), gaps (offset
 * discontinuities seen by a connection), disconnects with their close
 * codes, and, when -p PID names the server, its CPU seconds and RSS over
 * the publishing window (from /proc/PID/stat and /proc/PID/status).
 *
 * Idle mode (--idle N): opens N connections, connects and subscribes them,
 * settles, holds them for --hold seconds and reports the server's VmRSS
 * before the first connection and while they are held (needs -p).
 *
 * What it does not do: TLS, permessage-deflate, publishing over the
 * WebSocket, reconnecting (a connection the server closes stays closed and
 * is reported). Timestamps are taken once per socket read, so a latency
 * includes the time the generator itself took to get to that read.
 *
 *   fanout [options] HOST:PORT
 *     -n N      subscriber connections (1000)
 *     -r R      publications per second (1000)
 *     -d D      publishing seconds (30)
 *     -s B      approximate size of the published data, bytes (100)
 *     -c CH     channel (bench)
 *     -P P      publisher HTTP connections (1)
 *     -W W      requests in flight per publisher connection (64)
 *     -a K      spread the subscribers over K source addresses 127.0.0.1..K (1)
 *     -C K      connection handshakes in flight while opening (200)
 *     -p PID    the server's pid: CPU and memory figures
 *     -w S      after the last publish response, wait up to S s for deliveries (10)
 *     -t S      overall time limit (D + 180); exit status 2 when hit
 *     -v        a line per second on stderr
 *     --idle N  idle mode with N connections; --hold S (5)
 *
 * Build: gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o fanout bench/fanout.c -luv */
#include <uv.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_FRAME_BYTES (16u << 20) /* a bigger server frame is a protocol error here */
#define READ_BUF_BYTES (256u << 10)

/* ---- options and global state ------------------------------------------------ */

static struct {
    const char *host;
    int port;
    int conns, rate, secs, size, pubconns, window, addrs, setup_conc, idle, hold_secs;
    int pid, drain_secs, limit_secs;
    bool verbose;
    const char *channel;
} opt = {.conns = 1000,
         .rate = 1000,
         .secs = 30,
         .size = 100,
         .pubconns = 1,
         .window = 64,
         .addrs = 1,
         .setup_conc = 200,
         .hold_secs = 5,
         .drain_secs = 10,
         .limit_secs = -1,
         .channel = "bench"};

static uv_loop_t *loop;
static struct sockaddr_in server_addr;
static char read_buf[READ_BUF_BYTES];
static uint64_t rng_state;

/* ---- small helpers -------------------------------------------------------------- */

static void die(const char *what, int rc)
{
    fprintf(stderr, "fanout: %s: %s\n", what, rc ? uv_strerror(rc) : strerror(errno));
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "fanout: out of memory\n");
        abort();
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "fanout: out of memory\n");
        abort();
    }
    return p;
}

static uint64_t rng_next(void)
{
    /* xorshift64*: masking keys and handshake nonces for a benchmark */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* Parses the decimal number at p[0..n) (after optional spaces); false if none. */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i == n || p[i] < '0' || p[i] > '9') return false;
    uint64_t v = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    *out = v;
    return true;
}

/* The number after "key": in p[0..n), or false. key includes its quotes. */
static bool json_u64_after(const char *p, size_t n, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    const char *k = memmem(p, n, key, kl);
    if (!k) return false;
    const char *e = p + n, *q = k + kl;
    while (q < e && (*q == ' ' || *q == ':'))
        q++;
    return parse_u64(q, (size_t)(e - q), out);
}

/* ---- latency histogram ---------------------------------------------------------- */

/* Log-linear buckets over microseconds: values below 128 exactly, then 128
 * sub-buckets per power of two (under 0.8 % error). */
#define HIST_SUB 128
#define HIST_BUCKETS (HIST_SUB + 40 * HIST_SUB)
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_count, hist_max_us;

static void hist_add(uint64_t us)
{
    unsigned idx;
    if (us < HIST_SUB) {
        idx = (unsigned)us;
    } else {
        unsigned k = 63u - (unsigned)__builtin_clzll(us); /* 2^k <= us, k >= 7 */
        idx = HIST_SUB + (k - 7) * HIST_SUB + (unsigned)((us >> (k - 7)) - HIST_SUB);
        if (idx >= HIST_BUCKETS) idx = HIST_BUCKETS - 1;
    }
    hist[idx]++;
    hist_count++;
    if (us > hist_max_us) hist_max_us = us;
}

/* The lower bound of bucket idx, microseconds. */
static double hist_value(unsigned idx)
{
    if (idx < HIST_SUB) return idx;
    unsigned k = (idx - HIST_SUB) / HIST_SUB + 7, sub = (idx - HIST_SUB) % HIST_SUB;
    /* the middle of the bucket */
    return (double)((uint64_t)(HIST_SUB + sub) << (k - 7)) + (double)(1ULL << (k - 7)) / 2;
}

static double hist_quantile_ms(double q)
{
    if (hist_count == 0) return 0;
    uint64_t want = (uint64_t)(q * (double)hist_count);
    if (want >= hist_count) want = hist_count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen > want) {
            double v = hist_value(i);
            if (v > (double)hist_max_us) v = (double)hist_max_us;
            return v / 1000.0;
        }
    }
    return (double)hist_max_us / 1000.0;
}

/* ---- /proc samples of the server ------------------------------------------------- */

static double proc_cpu_secs(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_status_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* CPU seconds the whole machine was busy (user nice system irq softirq steal). */
static double machine_busy_secs(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long u, ni, sy, id, io, irq, sirq, steal;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq,
                   &sirq, &steal);
    fclose(f);
    if (n != 8) return -1;
    return (double)(u + ni + sy + irq + sirq + steal) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- writes ------------------------------------------------------------------------ */

typedef struct {
    uv_write_t req;
    char data[];
} wreq_t;

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error or EOF */
    free(req);
}

/* Writes data[0..len) in order: straight to the socket when nothing is
 * queued, the rest copied into a uv_write. */
static void stream_write(uv_stream_t *s, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write(s, &b, 1);
    if (n == (int)len) return;
    if (n < 0 && n != UV_EAGAIN) return; /* the read side reports it */
    if (n < 0) n = 0;
    wreq_t *w = xmalloc(sizeof *w + len - (size_t)n);
    memcpy(w->data, data + n, len - (size_t)n);
    b = uv_buf_init(w->data, (unsigned)(len - (size_t)n));
    int rc = uv_write(&w->req, s, &b, 1, on_written);
    if (rc) free(w);
}

/* Appends one masked client frame (RFC 6455 §5.2, §5.3) to out; returns its length. */
static size_t ws_frame(char *out, int opcode, const char *payload, size_t len)
{
    size_t h = 0;
    out[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        out[h++] = (char)(0x80 | len);
    } else if (len < 65536) {
        out[h++] = (char)(0x80 | 126);
        out[h++] = (char)(len >> 8);
        out[h++] = (char)len;
    } else {
        out[h++] = (char)(0x80 | 127);
        for (int i = 7; i >= 0; i--)
            out[h++] = (char)((uint64_t)len >> (8 * i));
    }
    uint32_t m = (uint32_t)rng_next();
    unsigned char key[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                            (unsigned char)(m >> 24)};
    memcpy(out + h, key, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = (char)(payload[i] ^ key[i & 3]);
    return h + len;
}

/* ---- subscriber connections --------------------------------------------------------- */

enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };

typedef struct conn_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    int index, state;
    bool connected, subscribed, counted_setup;
    char *in; /* bytes not yet parsed (a partial frame) */
    size_t in_len, in_cap;
    char *msg; /* a fragmented message being reassembled */
    size_t msg_len, msg_cap;
    bool in_msg;
    uint64_t last_offset;
} conn_t;

static conn_t *conns;
static int next_conn;      /* next index to open */
static int setup_inflight; /* opened, not yet subscribed or failed */
static int n_subscribed, n_failed, n_closed;

static struct {
    uint64_t published;      /* publish requests answered 200 */
    uint64_t publish_errors; /* other answers */
    uint64_t sent;           /* publish requests written */
    uint64_t delivered, gaps, dups, pings, ws_pings, other_pushes, bad_pubs, reply_errors;
    uint64_t server_disconnects; /* disconnect pushes received */
    int close_codes[16][2];      /* close code, count */
    int nclose_codes;
    char first_error[256];
} st;

static uint64_t t_start_ns, t_setup_done_ns, t_pub_start_ns, t_pub_end_ns, t_last_delivery_ns;
static uint64_t *per_sec; /* deliveries in each second since publishing started */
static size_t per_sec_len;
static bool publishing, draining;
static int subs_at_start; /* subscribed when publishing began */
static size_t data_bytes; /* size of the last published data */

/* Keeps the first problem seen, for the report. */
__attribute__((format(printf, 1, 2))) static void note_error(const char *fmt, ...)
{
    if (st.first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.first_error, sizeof st.first_error, fmt, ap);
    va_end(ap);
}

static void note_close_code(int code)
{
    for (int i = 0; i < st.nclose_codes; i++)
        if (st.close_codes[i][0] == code) {
            st.close_codes[i][1]++;
            return;
        }
    if (st.nclose_codes < 16) {
        st.close_codes[st.nclose_codes][0] = code;
        st.close_codes[st.nclose_codes][1] = 1;
        st.nclose_codes++;
    }
}

static void open_more(void);
static void maybe_setup_done(void);

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    free(c->msg);
    c->msg = NULL;
    c->msg_len = c->msg_cap = 0;
}

/* Ends a connection: setup failure before it subscribed, a disconnect after. */
static void conn_end(conn_t *c, int code)
{
    if (c->state == C_CLOSED) return;
    bool was_setup = !c->counted_setup;
    c->state = C_CLOSED;
    n_closed++;
    note_close_code(code);
    /* the buffers go in the close callback: a parse may still be reading them */
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    if (was_setup) {
        c->counted_setup = true;
        n_failed++;
        setup_inflight--;
        open_more();
        maybe_setup_done();
    } else if (c->subscribed) {
        n_subscribed--;
    }
}

static void conn_send_text(conn_t *c, const char *text, size_t len)
{
    char stackbuf[512];
    char *f = len + 14 <= sizeof stackbuf ? stackbuf : xmalloc(len + 14);
    size_t n = ws_frame(f, 1, text, len);
    stream_write((uv_stream_t *)&c->tcp, f, n);
    if (f != stackbuf) free(f);
}

static void on_publication(conn_t *c, const char *line, size_t len, uint64_t now)
{
    uint64_t t, off;
    /* the data object comes first, the offset after it */
    const char *d = memmem(line, len, "\"data\"", 6);
    if (!d || !json_u64_after(d, (size_t)(line + len - d), "\"t\"", &t)) {
        st.bad_pubs++;
        return;
    }
    if (json_u64_after(d, (size_t)(line + len - d), "\"offset\"", &off)) {
        if (c->last_offset && off != c->last_offset + 1) {
            if (off <= c->last_offset)
                st.dups++;
            else
                st.gaps += off - c->last_offset - 1;
        }
        if (off > c->last_offset) c->last_offset = off;
    }
    st.delivered++;
    t_last_delivery_ns = now;
    hist_add(now > t ? (now - t) / 1000 : 0);
    if (t_pub_start_ns && now >= t_pub_start_ns) {
        size_t s = (size_t)((now - t_pub_start_ns) / 1000000000ULL);
        if (s < per_sec_len) per_sec[s]++;
    }
}

static void on_line(conn_t *c, const char *line, size_t len, uint64_t now)
{
    if (len == 2 && line[0] == '{' && line[1] == '}') {
        /* the server's ping: an empty command answers it */
        st.pings++;
        conn_send_text(c, "{}", 2);
        return;
    }
    if (len > 8 && memcmp(line, "{\"push\":", 8) == 0) {
        if (memmem(line, len < 64 ? len : 64, "\"pub\":", 6)) {
            on_publication(c, line, len, now);
        } else if (memmem(line, len, "\"disconnect\"", 12)) {
            st.server_disconnects++;
            note_error("disconnect push: %.*s", (int)(len < 200 ? len : 200), line);
        } else {
            st.other_pushes++;
        }
        return;
    }
    uint64_t id = 0;
    json_u64_after(line, len < 32 ? len : 32, "\"id\"", &id);
    if (memmem(line, len, "\"error\"", 7)) {
        st.reply_errors++;
        note_error("reply: %.*s", (int)(len < 190 ? len : 190), line);
        if (id == 1 || id == 2) conn_end(c, -1);
        return;
    }
    if (id == 1) {
        c->connected = true;
    } else if (id == 2 && !c->subscribed) {
        c->subscribed = true;
        n_subscribed++;
        if (!c->counted_setup) {
            c->counted_setup = true;
            setup_inflight--;
            open_more();
            maybe_setup_done();
        }
    }
}

static void on_message(conn_t *c, const char *data, size_t len, uint64_t now)
{
    size_t i = 0;
    while (i < len && c->state == C_OPEN) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        if (end > i) on_line(c, data + i, end - i, now);
        i = end + 1;
    }
}

/* One server frame (unmasked, RFC 6455 §5.1). */
static void on_frame(conn_t *c, bool fin, int op, const char *p, size_t len, uint64_t now)
{
    switch (op) {
    case 0x0: /* continuation */
    case 0x1: /* text */
    case 0x2: /* binary: not expected, treated as text */
        if (op == 0 && !c->in_msg) {
            note_error("continuation frame without a message");
            conn_end(c, -2);
            return;
        }
        if (fin && !c->in_msg) {
            on_message(c, p, len, now);
            return;
        }
        c->in_msg = true;
        if (c->msg_len + len > c->msg_cap) {
            c->msg_cap = (c->msg_len + len) * 2;
            c->msg = xrealloc(c->msg, c->msg_cap);
        }
        memcpy(c->msg + c->msg_len, p, len);
        c->msg_len += len;
        if (fin) {
            c->in_msg = false;
            on_message(c, c->msg, c->msg_len, now);
            c->msg_len = 0;
        }
        return;
    case 0x8: { /* close: note the code; we just drop the TCP connection */
        int code = len >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 1005;
        char reason[128];
        snprintf(reason, sizeof reason, "%.*s", len > 2 ? (int)(len - 2 < 100 ? len - 2 : 100) : 0,
                 p + 2);
        note_error("server closed a connection: reason \"%s\" code %d", reason, code);
        char f[16];
        size_t n = ws_frame(f, 8, p, len >= 2 ? 2 : 0);
        stream_write((uv_stream_t *)&c->tcp, f, n);
        conn_end(c, code);
        return;
    }
    case 0x9: { /* ping: pong with the same payload (§5.5.3) */
        char f[160];
        st.ws_pings++;
        if (len <= 125) stream_write((uv_stream_t *)&c->tcp, f, ws_frame(f, 0xA, p, len));
        return;
    }
    case 0xA:
        return;
    default:
        note_error("unknown opcode %d", op);
        conn_end(c, -2);
    }
}

/* Parses the frames in p[0..n); returns the bytes used. */
static size_t parse_frames(conn_t *c, const char *p, size_t n, uint64_t now)
{
    size_t used = 0;
    while (c->state == C_OPEN && n - used >= 2) {
        const unsigned char *b = (const unsigned char *)p + used;
        size_t avail = n - used, h = 2;
        uint64_t len = b[1] & 0x7f;
        if ((b[0] & 0x70) || (b[1] & 0x80)) {
            /* no extension was negotiated; servers do not mask (§5.1) */
            note_error("bad frame header %02x %02x", b[0], b[1]);
            conn_end(c, -2);
            return n;
        }
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)b[2] << 8 | b[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
            h = 10;
        }
        if (len > MAX_FRAME_BYTES) {
            note_error("frame of %" PRIu64 " bytes", len);
            conn_end(c, -2);
            return n;
        }
        if (avail < h + len) break;
        on_frame(c, b[0] & 0x80, b[0] & 0x0f, (const char *)b + h, (size_t)len, now);
        used += h + (size_t)len;
    }
    return used;
}

/* The 101 answer; returns the bytes it used, 0 when incomplete. */
static size_t parse_handshake(conn_t *c, const char *p, size_t n)
{
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n > 8192) {
            note_error("handshake answer too long");
            conn_end(c, -3);
        }
        return 0;
    }
    if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
        note_error("handshake refused: %.*s", (int)(end - p < 100 ? end - p : 100), p);
        conn_end(c, -3);
        return n;
    }
    c->state = C_OPEN;
    char cmd[160], f[400];
    size_t m = ws_frame(f, 1, "{\"id\":1,\"connect\":{}}", 21);
    int k = snprintf(cmd, sizeof cmd, "{\"id\":2,\"subscribe\":{\"channel\":\"%s\"}}", opt.channel);
    m += ws_frame(f + m, 1, cmd, (size_t)k);
    stream_write((uv_stream_t *)&c->tcp, f, m);
    return (size_t)(end - p) + 4;
}

static size_t conn_parse(conn_t *c, const char *p, size_t n, uint64_t now)
{
    size_t used = 0;
    if (c->state == C_HANDSHAKE) {
        used = parse_handshake(c, p, n);
        if (c->state != C_OPEN) return used;
    }
    return used + parse_frames(c, p + used, n - used, now);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread < 0) {
        if (c->state != C_CLOSED) {
            note_error("subscriber read: %s", uv_strerror((int)nread));
            conn_end(c, nread == UV_EOF ? 1006 : -4);
        }
        return;
    }
    if (nread == 0 || c->state == C_CLOSED) return;
    uint64_t now = uv_hrtime();
    const char *p = buf->base;
    size_t n = (size_t)nread;
    if (c->in_len) {
        /* a partial frame is waiting: append and parse from the carry buffer */
        if (c->in_len + n > c->in_cap) {
            c->in_cap = (c->in_len + n) * 2;
            c->in = xrealloc(c->in, c->in_cap);
        }
        memcpy(c->in + c->in_len, p, n);
        c->in_len += n;
        size_t used = conn_parse(c, c->in, c->in_len, now);
        if (c->state == C_CLOSED) return;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        return;
    }
    size_t used = conn_parse(c, p, n, now);
    if (c->state == C_CLOSED || used == n) return;
    if (n - used > c->in_cap) {
        c->in_cap = (n - used) * 2 > 4096 ? (n - used) * 2 : 4096;
        c->in = xrealloc(c->in, c->in_cap);
    }
    memcpy(c->in, p + used, n - used);
    c->in_len = n - used;
}

static void on_conn_connected(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    if (status) {
        note_error("connect: %s", uv_strerror(status));
        conn_end(c, -5);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->state = C_HANDSHAKE;
    unsigned char nonce[16];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rng_next();
        memcpy(nonce + i, &r, 8);
    }
    char key[32], head[512];
    base64(nonce, sizeof nonce, key);
    int n = snprintf(head, sizeof head,
                     "GET /connection/websocket HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     opt.host, opt.port, key);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_conn_read);
    stream_write((uv_stream_t *)&c->tcp, head, (size_t)n);
}

static void conn_open(conn_t *c)
{
    int rc;
    c->tcp.data = c;
    c->creq.data = c;
    c->state = C_CONNECTING;
    setup_inflight++;
    if ((rc = uv_tcp_init_ex(loop, &c->tcp, AF_INET))) die("uv_tcp_init_ex", rc);
    if (opt.addrs > 1) {
        /* several loopback source addresses: each gives its own ephemeral
         * port range towards the one server port */
        uv_os_fd_t fd;
        int one = 1;
        uv_fileno((uv_handle_t *)&c->tcp, &fd);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr.s_addr =
                                      htonl(0x7f000001u + (uint32_t)(c->index % opt.addrs))};
        if ((rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&src, 0))) die("uv_tcp_bind", rc);
    }
    rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&server_addr, on_conn_connected);
    if (rc) {
        note_error("uv_tcp_connect: %s", uv_strerror(rc));
        conn_end(c, -5);
    }
}

/* Keeps up to setup_conc connections between connect and subscribe reply. */
static void open_more(void)
{
    while (next_conn < opt.conns && setup_inflight < opt.setup_conc) {
        conn_t *c = &conns[next_conn];
        c->index = next_conn++;
        conn_open(c);
    }
}

/* ---- publisher: REST over keep-alive HTTP/1.1, pipelined ------------------------------ */

typedef struct pub_s {
    uv_tcp_t tcp;
    uv_connect_t creq;
    bool ready, dead;
    int inflight;
    uint64_t *sent_ns; /* send times of the requests in flight (FIFO ring of window) */
    int head;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_cap;
} pub_t;

static pub_t *pubs;
static int pubs_ready, pub_rr;
static uint64_t pub_due_total; /* R x D */
static uv_timer_t tick_timer, end_timer;
static char pad[65536];
static int pad_len;
static uint64_t max_backlog;
static uint64_t pub_lat_hist_max_us, pub_lat_sum_us; /* POST -> 200 */
static double srv_cpu0, self_cpu0, busy0;

static void finish(int status);

static void on_pub_lost(uv_timer_t *t)
{
    (void)t;
    finish(2);
}

static void on_drain_end(uv_timer_t *t)
{
    (void)t;
    finish(0); /* the report shows what was lost */
}

static bool all_delivered(void)
{
    return st.delivered >= st.published * (uint64_t)subs_at_start;
}

static void check_done(void)
{
    if (!publishing || st.sent < pub_due_total) return;
    if (st.published + st.publish_errors < st.sent) return;
    if (!draining) {
        draining = true;
        t_pub_end_ns = uv_hrtime();
        uv_timer_start(&end_timer, on_drain_end, (uint64_t)opt.drain_secs * 1000, 0);
    }
    if (all_delivered()) finish(0);
}

static void pub_flush(pub_t *p)
{
    if (p->out_len) {
        stream_write((uv_stream_t *)&p->tcp, p->out, p->out_len);
        p->out_len = 0;
    }
}

static void pub_queue_one(pub_t *p, uint64_t now)
{
    char body[66000];
    int bl = snprintf(body, sizeof body, "{\"data\":{\"t\":%" PRIu64 ",\"pad\":\"%.*s\"}}", now,
                      pad_len, pad);
    data_bytes = (size_t)bl - 9; /* less {"data": and } */
    size_t need = (size_t)bl + 256 + strlen(opt.channel);
    if (p->out_len + need > p->out_cap) {
        p->out_cap = (p->out_len + need) * 2;
        p->out = xrealloc(p->out, p->out_cap);
    }
    p->out_len += (size_t)snprintf(p->out + p->out_len, p->out_cap - p->out_len,
                                   "POST /v1/channels/%s/messages HTTP/1.1\r\n"
                                   "Host: %s:%d\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: %d\r\n\r\n%s",
                                   opt.channel, opt.host, opt.port, bl, body);
    p->sent_ns[(p->head + p->inflight) % opt.window] = now;
    p->inflight++;
    st.sent++;
}

/* Sends what the rate says is due by now, within the pipelining windows. */
static void pump(void)
{
    if (!publishing || st.sent >= pub_due_total) return;
    uint64_t now = uv_hrtime();
    uint64_t due = (uint64_t)((double)(now - t_pub_start_ns) * opt.rate / 1e9) + 1;
    if (due > pub_due_total) due = pub_due_total;
    if (due > st.sent && due - st.sent > max_backlog) max_backlog = due - st.sent;
    while (st.sent < due) {
        pub_t *p = NULL;
        for (int i = 0; i < opt.pubconns; i++) {
            pub_t *q = &pubs[(pub_rr + i) % opt.pubconns];
            if (!q->dead && q->inflight < opt.window) {
                p = q;
                pub_rr = (pub_rr + i + 1) % opt.pubconns;
                break;
            }
        }
        if (!p) break; /* every window is full: the rest goes when answers come */
        pub_queue_one(p, now);
    }
    for (int i = 0; i < opt.pubconns; i++)
        pub_flush(&pubs[i]);
}

/* Parses HTTP responses in p[0..n); returns the bytes used. */
static size_t pub_parse(pub_t *p, const char *b, size_t n, uint64_t now)
{
    size_t used = 0;
    while (used < n) {
        const char *s = b + used, *e = memmem(s, n - used, "\r\n\r\n", 4);
        if (!e) break;
        size_t head = (size_t)(e - s) + 4;
        int status = (n - used >= 12) ? atoi(s + 9) : 0;
        size_t clen = 0;
        for (const char *q = s; q < e; q++) {
            if (*q == '\n' && e - q > 16 && strncasecmp(q + 1, "Content-Length:", 15) == 0) {
                clen = strtoul(q + 16, NULL, 10);
                break;
            }
            if (*q == '\n' && e - q > 19 && strncasecmp(q + 1, "Transfer-Encoding:", 18) == 0) {
                fprintf(stderr, "fanout: chunked responses are not supported\n");
                exit(2);
            }
        }
        if (n - used < head + clen) break;
        if (p->inflight == 0) {
            fprintf(stderr, "fanout: a response to no request\n");
            exit(2);
        }
        uint64_t t = p->sent_ns[p->head];
        p->head = (p->head + 1) % opt.window;
        p->inflight--;
        uint64_t us = (now - t) / 1000;
        pub_lat_sum_us += us;
        if (us > pub_lat_hist_max_us) pub_lat_hist_max_us = us;
        if (status == 200) {
            st.published++;
        } else {
            st.publish_errors++;
            note_error("publish answered %d: %.*s", status, (int)(clen < 150 ? clen : 150),
                       s + head);
        }
        used += head + clen;
    }
    return used;
}

static void on_pub_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    pub_t *p = s->data;
    if (nread < 0) {
        fprintf(stderr, "fanout: publisher connection: %s\n", uv_strerror((int)nread));
        p->dead = true;
        uv_read_stop(s);
        st.publish_errors += (uint64_t)p->inflight;
        p->inflight = 0;
        note_error("publisher connection: %s", uv_strerror((int)nread));
        bool any = false;
        for (int i = 0; i < opt.pubconns; i++)
            any |= !pubs[i].dead;
        if (!any) {
            /* the server went away? a moment for the subscribers' ends to be counted */
            publishing = false;
            uv_timer_start(&end_timer, on_pub_lost, 300, 0);
        }
        return;
    }
    if (nread == 0) return;
    uint64_t now = uv_hrtime();
    if (p->in_len + (size_t)nread > p->in_cap) {
        p->in_cap = (p->in_len + (size_t)nread) * 2;
        p->in = xrealloc(p->in, p->in_cap);
    }
    memcpy(p->in + p->in_len, buf->base, (size_t)nread);
    p->in_len += (size_t)nread;
    size_t used = pub_parse(p, p->in, p->in_len, now);
    memmove(p->in, p->in + used, p->in_len - used);
    p->in_len -= used;
    pump();
    check_done();
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    pump();
    check_done();
}

static void on_second(uv_timer_t *t);
static uv_timer_t second_timer;

static void start_publishing(void)
{
    per_sec_len = (size_t)opt.secs + (size_t)opt.drain_secs + 8;
    per_sec = calloc(per_sec_len, sizeof *per_sec);
    if (opt.pid) srv_cpu0 = proc_cpu_secs(opt.pid);
    self_cpu0 = self_cpu_secs();
    busy0 = machine_busy_secs();
    publishing = true;
    subs_at_start = n_subscribed;
    t_pub_start_ns = uv_hrtime();
    uv_timer_start(&tick_timer, on_tick, 1, 1);
    if (opt.verbose) uv_timer_start(&second_timer, on_second, 1000, 1000);
    pump();
}

static void on_pub_connected(uv_connect_t *req, int status)
{
    pub_t *p = req->data;
    if (status) die("publisher connect", status);
    uv_tcp_nodelay(&p->tcp, 1);
    uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_pub_read);
    p->ready = true;
    if (++pubs_ready == opt.pubconns) start_publishing();
}

static void pubs_open(void)
{
    pubs = calloc((size_t)opt.pubconns, sizeof *pubs);
    for (int i = 0; i < opt.pubconns; i++) {
        pub_t *p = &pubs[i];
        p->sent_ns = xmalloc(sizeof(uint64_t) * (size_t)opt.window);
        p->tcp.data = p;
        p->creq.data = p;
        int rc = uv_tcp_init(loop, &p->tcp);
        if (!rc)
            rc = uv_tcp_connect(&p->creq, &p->tcp, (struct sockaddr *)&server_addr,
                                on_pub_connected);
        if (rc) die("publisher connect", rc);
    }
}

/* ---- phases and the report ---------------------------------------------------------------- */

static uv_timer_t limit_timer, hold_timer;
static long idle_rss0_kb = -1, idle_rss1_kb = -1;

static void print_common(void)
{
    double setup = t_setup_done_ns ? (double)(t_setup_done_ns - t_start_ns) / 1e9 : -1;
    printf("\"connections\":%d,\"subscribed\":%d,\"failed\":%d,\"closed\":%d,\"setup_secs\":%.3f",
           opt.conns, n_subscribed, n_failed, n_closed, setup);
    printf(",\"close_codes\":{");
    for (int i = 0; i < st.nclose_codes; i++)
        printf("%s\"%d\":%d", i ? "," : "", st.close_codes[i][0], st.close_codes[i][1]);
    printf("},\"server_disconnect_pushes\":%" PRIu64 ",\"reply_errors\":%" PRIu64,
           st.server_disconnects, st.reply_errors);
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void finish(int status)
{
    static bool done;
    if (done) return;
    done = true;
    uint64_t now = uv_hrtime();
    printf("{\"mode\":\"%s\",", opt.idle ? "idle" : "fanout");
    print_common();
    if (opt.idle) {
        printf(",\"server_rss_before_kb\":%ld,\"server_rss_held_kb\":%ld", idle_rss0_kb,
               idle_rss1_kb);
        if (idle_rss0_kb >= 0 && idle_rss1_kb >= 0 && n_subscribed > 0)
            printf(",\"server_bytes_per_conn\":%.0f",
                   (double)(idle_rss1_kb - idle_rss0_kb) * 1024.0 / n_subscribed);
        if (opt.pid && proc_status_kb(opt.pid, "VmHWM") >= 0)
            printf(",\"server_hwm_kb\":%ld", proc_status_kb(opt.pid, "VmHWM"));
        else if (opt.pid)
            printf(",\"server_gone\":true");
    } else {
        uint64_t end = t_pub_end_ns ? t_pub_end_ns : now;
        double pub_secs = t_pub_start_ns ? (double)(end - t_pub_start_ns) / 1e9 : 0;
        uint64_t last = t_last_delivery_ns > t_pub_start_ns ? t_last_delivery_ns : now;
        double deliv_secs = t_pub_start_ns ? (double)(last - t_pub_start_ns) / 1e9 : 0;
        /* a connection the server closed while publishing loses what it
         * did not get: expected counts the subscribers at the start */
        uint64_t expected = st.published * (uint64_t)subs_at_start;
        printf(",\"rate\":%d,\"secs\":%d,\"data_bytes\":%d,\"publish_conns\":%d,\"window\":%d",
               opt.rate, opt.secs, (int)data_bytes, opt.pubconns, opt.window);
        printf(",\"sent\":%" PRIu64 ",\"published\":%" PRIu64 ",\"publish_errors\":%" PRIu64
               ",\"publish_secs\":%.3f,\"publish_rate\":%.1f,\"max_publish_backlog\":%" PRIu64,
               st.sent, st.published, st.publish_errors, pub_secs,
               pub_secs > 0 ? (double)st.published / pub_secs : 0, max_backlog);
        printf(",\"publish_latency_ms\":{\"mean\":%.3f,\"max\":%.3f}",
               st.published + st.publish_errors
                   ? (double)pub_lat_sum_us / 1000.0 / (double)(st.published + st.publish_errors)
                   : 0,
               (double)pub_lat_hist_max_us / 1000.0);
        printf(",\"expected\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"lost\":%" PRId64
               ",\"gaps\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"bad_pubs\":%" PRIu64,
               expected, st.delivered, (int64_t)(expected - st.delivered), st.gaps, st.dups,
               st.bad_pubs);
        printf(",\"delivery_secs\":%.3f,\"deliveries_per_sec\":%.0f", deliv_secs,
               deliv_secs > 0 ? (double)st.delivered / deliv_secs : 0);
        /* the full seconds of the publishing window */
        uint64_t mn = UINT64_MAX, mx = 0;
        for (size_t s = 0; s < (size_t)opt.secs && s < per_sec_len && per_sec; s++) {
            if (per_sec[s] < mn) mn = per_sec[s];
            if (per_sec[s] > mx) mx = per_sec[s];
        }
        printf(",\"per_sec_min\":%" PRIu64 ",\"per_sec_max\":%" PRIu64, mn == UINT64_MAX ? 0 : mn,
               mx);
        printf(
            ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
            hist_quantile_ms(0.50), hist_quantile_ms(0.90), hist_quantile_ms(0.99),
            hist_quantile_ms(0.999), (double)hist_max_us / 1000.0);
        printf(",\"pings\":%" PRIu64 ",\"ws_pings\":%" PRIu64, st.pings, st.ws_pings);
        double win = t_pub_start_ns ? (double)(now - t_pub_start_ns) / 1e9 : 0;
        double self = self_cpu_secs() - self_cpu0, busy = machine_busy_secs() - busy0;
        printf(",\"window_secs\":%.3f,\"client_cpu_secs\":%.2f", win, self);
        double srv_now = opt.pid ? proc_cpu_secs(opt.pid) : -1;
        if (opt.pid && srv_now < 0) printf(",\"server_gone\":true");
        if (srv_now >= 0) {
            double srv = srv_now - srv_cpu0;
            double other = busy - srv - self;
            printf(",\"server_cpu_secs\":%.2f,\"server_cpu_pct\":%.1f,\"other_cpu_secs\":%.2f"
                   ",\"server_rss_kb\":%ld,\"server_hwm_kb\":%ld",
                   srv, win > 0 ? 100.0 * srv / win : 0, other < 0 ? 0 : other,
                   proc_status_kb(opt.pid, "VmRSS"), proc_status_kb(opt.pid, "VmHWM"));
        }
    }
    if (st.first_error[0]) {
        printf(",\"first_error\":");
        print_json_string(st.first_error);
    }
    printf(",\"status\":%d}\n", status);
    fflush(stdout);
    /* no orderly teardown: the process exit closes every socket */
    _exit(status);
}

static void on_second(uv_timer_t *t)
{
    (void)t;
    static uint64_t last_deliv, last_pub;
    uint64_t now = uv_hrtime();
    fprintf(stderr,
            "t=%.1fs published=%" PRIu64 " (+%" PRIu64 ") delivered=+%" PRIu64
            " subscribed=%d backlog=%" PRIu64 "\n",
            (double)(now - t_pub_start_ns) / 1e9, st.published, st.published - last_pub,
            st.delivered - last_deliv, n_subscribed, max_backlog);
    last_deliv = st.delivered;
    last_pub = st.published;
}

static void on_hold_done(uv_timer_t *t)
{
    (void)t;
    if (opt.pid) idle_rss1_kb = proc_status_kb(opt.pid, "VmRSS");
    finish(n_failed || n_closed ? 1 : 0);
}

static void on_idle_settled(uv_timer_t *t)
{
    /* hold: the RSS is read at the end (the held state) */
    uv_timer_start(t, on_hold_done, (uint64_t)opt.hold_secs * 1000, 0);
}

static void maybe_setup_done(void)
{
    if (t_setup_done_ns || next_conn < opt.conns || setup_inflight > 0) return;
    t_setup_done_ns = uv_hrtime();
    if (opt.verbose)
        fprintf(stderr, "setup: %d subscribed, %d failed in %.2f s\n", n_subscribed, n_failed,
                (double)(t_setup_done_ns - t_start_ns) / 1e9);
    if (n_subscribed == 0) finish(2);
    if (opt.idle) {
        uv_timer_start(&hold_timer, on_idle_settled, 1000, 0);
    } else {
        pubs_open();
    }
}

static void on_limit(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "fanout: time limit of %d s reached\n", opt.limit_secs);
    finish(2);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: fanout [-n conns] [-r rate] [-d secs] [-s bytes] [-c channel] [-P pubconns]\n"
            "              [-W window] [-a srcaddrs] [-C setupconc] [-p serverpid] [-w drainsecs]\n"
            "              [-t limitsecs] [-v] [--idle N [--hold secs]] HOST:PORT\n");
    exit(2);
}

static int int_arg(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < min || v > 100000000) usage();
    return (int)v;
}

int main(int argc, char **argv)
{
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-v") == 0)
            opt.verbose = true;
        else if (strcmp(a, "--idle") == 0 && has)
            opt.idle = opt.conns = int_arg(argv[++i], 1);
        else if (strcmp(a, "--hold") == 0 && has)
            opt.hold_secs = int_arg(argv[++i], 0);
        else if (strcmp(a, "-n") == 0 && has)
            opt.conns = int_arg(argv[++i], 1);
        else if (strcmp(a, "-r") == 0 && has)
            opt.rate = int_arg(argv[++i], 1);
        else if (strcmp(a, "-d") == 0 && has)
            opt.secs = int_arg(argv[++i], 1);
        else if (strcmp(a, "-s") == 0 && has)
            opt.size = int_arg(argv[++i], 0);
        else if (strcmp(a, "-c") == 0 && has)
            opt.channel = argv[++i];
        else if (strcmp(a, "-P") == 0 && has)
            opt.pubconns = int_arg(argv[++i], 1);
        else if (strcmp(a, "-W") == 0 && has)
            opt.window = int_arg(argv[++i], 1);
        else if (strcmp(a, "-a") == 0 && has)
            opt.addrs = int_arg(argv[++i], 1);
        else if (strcmp(a, "-C") == 0 && has)
            opt.setup_conc = int_arg(argv[++i], 1);
        else if (strcmp(a, "-p") == 0 && has)
            opt.pid = int_arg(argv[++i], 1);
        else if (strcmp(a, "-w") == 0 && has)
            opt.drain_secs = int_arg(argv[++i], 0);
        else if (strcmp(a, "-t") == 0 && has)
            opt.limit_secs = int_arg(argv[++i], 1);
        else if (a[0] != '-' && !target)
            target = a;
        else
            usage();
    }
    if (!target) usage();
    if (strncmp(target, "http://", 7) == 0) target += 7;
    static char host[256];
    const char *colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof host) usage();
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    opt.host = host;
    opt.port = int_arg(colon + 1, 1);
    if (uv_ip4_addr(host, opt.port, &server_addr)) {
        fprintf(stderr, "fanout: %s: an IPv4 address is needed\n", host);
        return 2;
    }
    if (opt.limit_secs < 0) opt.limit_secs = (opt.idle ? opt.hold_secs : opt.secs) + 180;

    /* ~size bytes of data: {"t":<digits>,"pad":"..."} is 15 + digits + pad */
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, uv_hrtime());
    pad_len = opt.size > 15 + nd ? opt.size - 15 - nd : 0;
    if (pad_len > (int)sizeof pad - 1) pad_len = (int)sizeof pad - 1;
    memset(pad, 'x', (size_t)pad_len);
    pub_due_total = (uint64_t)opt.rate * (uint64_t)opt.secs;

    /* one descriptor per connection, and a few more */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)opt.conns + (rlim_t)opt.pubconns + 32) {
            fprintf(stderr, "fanout: RLIMIT_NOFILE %llu is too low for %d connections\n",
                    (unsigned long long)rl.rlim_cur, opt.conns);
            return 2;
        }
    }
    if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state)
        rng_state = uv_hrtime() | 1;

    loop = uv_default_loop();
    uv_timer_init(loop, &tick_timer);
    uv_timer_init(loop, &end_timer);
    uv_timer_init(loop, &limit_timer);
    uv_timer_init(loop, &hold_timer);
    uv_timer_init(loop, &second_timer);
    uv_timer_start(&limit_timer, on_limit, (uint64_t)opt.limit_secs * 1000, 0);

    if (opt.idle && opt.pid) idle_rss0_kb = proc_status_kb(opt.pid, "VmRSS");
    conns = calloc((size_t)opt.conns, sizeof *conns);
    if (!conns) die("calloc", 0);
    t_start_ns = uv_hrtime();
    open_more();
    uv_run(loop, UV_RUN_DEFAULT);
    finish(2);
    return 2;
}
