/* Unit tests for net/httpc: the libcurl-on-libuv HTTP client, against a
 * small HTTP/1.1 server written here on plain uv_tcp (127.0.0.1, port 0).
 * The server reads a request, answers by path with a canned response and
 * closes the connection (all but /keep):
 *   /ok          200, "X-Test: yes", body "hello"
 *   /retry       503, Retry-After: 7
 *   /retry-date  500, Retry-After: an HTTP-date 60 s ahead
 *   /retry-bad   503, Retry-After: soon
 *   /big         200, a 2 MB body
 *   /hang        never answers
 *   /redirect    302 to /ok
 *   /continue    an interim 100 with its own field, then 200
 *   /echo        200, body = method "\n", the raw request header block (each
 *                line preceded by CRLF), "\n", the body
 *   /slow?i=N    200 after SLOW_MS; counts requests in flight
 *   /keep        200 "kept", and the connection stays open for the next one
 * Every test runs its own loop; teardown closes client and server, runs the
 * loop dry and checks uv_loop_close() returns 0 (no handle left behind). */
#include "net/httpc.h"

#include "core/buf.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#define SLOW_MS 40
#define BIG_BYTES (2u * 1024 * 1024)
#define MAX_GOT 16
#define RUN_LIMIT_MS 4000

/* ---- test server -------------------------------------------------------- */

typedef struct srv_s srv_t;
typedef struct conn_s conn_t;

struct srv_s {
    uv_tcp_t listener;
    int port;
    conn_t *conns;
    int nreqs;    /* complete requests received */
    int inflight; /* /slow requests received and not yet answered */
    int max_inflight;
    int arrivals[32]; /* the i of each /slow?i= in arrival order */
    int narrivals;
    int nclosed; /* connections whose peer (or we) closed them */
    int naccepted;
};

struct conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    srv_t *srv;
    conn_t *next, *prev;
    synq_buf_t in;
    int handles;
    bool handled; /* the request was read; further bytes are ignored */
    bool slow;
    bool keep; /* the answer being written keeps the connection open */
    bool closing;
};

typedef struct {
    uv_write_t req;
    conn_t *conn;
    char *data;
} wreq_t;

static void conn_closed(uv_handle_t *h)
{
    conn_t *k = h->data;
    if (--k->handles > 0) return;
    synq_buf_release(&k->in);
    free(k);
}

static void conn_close(conn_t *k)
{
    if (k->closing) return;
    k->closing = true;
    k->srv->nclosed++;
    if (k->slow) k->srv->inflight--;
    if (k->prev)
        k->prev->next = k->next;
    else
        k->srv->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    uv_close((uv_handle_t *)&k->timer, conn_closed);
    uv_close((uv_handle_t *)&k->tcp, conn_closed);
}

static void try_request(conn_t *k);

static void on_srv_written(uv_write_t *w, int status)
{
    wreq_t *wr = (wreq_t *)w;
    conn_t *k = wr->conn;
    free(wr->data);
    free(wr);
    if (k->keep && status == 0) {
        k->keep = false; /* ready for the next request on this connection */
        k->handled = false;
        if (k->in.len > 0) try_request(k);
    } else {
        conn_close(k);
    }
}

static void srv_write(conn_t *k, char *data, size_t len)
{
    wreq_t *wr = synq_calloc(1, sizeof *wr);
    wr->conn = k;
    wr->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&k->tcp, &b, 1, on_srv_written) < 0) {
        free(data);
        free(wr);
        conn_close(k);
    }
}

/* status line + extra header lines + Content-Length, Connection: close */
static void respond(conn_t *k, const char *status, const char *extra, const char *body,
                    size_t body_len)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_printf(&b, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                    extra, body_len);
    synq_buf_append(&b, body, body_len);
    size_t len;
    char *data = synq_buf_steal(&b, &len);
    srv_write(k, data, len);
}

static void on_slow_timer(uv_timer_t *t)
{
    conn_t *k = t->data;
    respond(k, "200 OK", "", "slow", 4);
}

static void handle(conn_t *k, const char *method, const char *path, const char *hdrs,
                   size_t hdrs_len, const char *body, size_t body_len)
{
    if (strcmp(path, "/keep") == 0) {
        static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept";
        k->keep = true;
        srv_write(k, synq_strndup(raw, sizeof raw - 1), sizeof raw - 1);
    } else if (strcmp(path, "/ok") == 0) {
        respond(k, "200 OK", "X-Test: yes\r\n", "hello", 5);
    } else if (strcmp(path, "/retry") == 0) {
        respond(k, "503 Service Unavailable", "Retry-After: 7\r\n", "busy", 4);
    } else if (strcmp(path, "/retry-date") == 0) {
        char extra[128], date[64];
        time_t t = time(NULL) + 60;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", date);
        respond(k, "500 Internal Server Error", extra, "", 0);
    } else if (strcmp(path, "/retry-bad") == 0) {
        respond(k, "503 Service Unavailable", "Retry-After: soon\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0) {
        char *big = synq_malloc(BIG_BYTES);
        for (size_t i = 0; i < BIG_BYTES; i++)
            big[i] = (char)('a' + i % 26);
        respond(k, "200 OK", "", big, BIG_BYTES);
        free(big);
    } else if (strcmp(path, "/hang") == 0) {
        /* no answer: the client times out, cancels or closes */
    } else if (strcmp(path, "/redirect") == 0) {
        respond(k, "302 Found", "Location: /ok\r\n", "moved", 5);
    } else if (strcmp(path, "/continue") == 0) {
        static const char raw[] = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                                  "HTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n"
                                  "Connection: close\r\n\r\nok";
        srv_write(k, synq_strndup(raw, sizeof raw - 1), sizeof raw - 1);
    } else if (strcmp(path, "/echo") == 0) {
        synq_buf_t b;
        synq_buf_init(&b);
        synq_buf_printf(&b, "%s\n", method);
        synq_buf_append(&b, hdrs, hdrs_len);
        synq_buf_putc(&b, '\n');
        synq_buf_append(&b, body, body_len);
        respond(k, "200 OK", "", b.data, b.len);
        synq_buf_release(&b);
    } else if (strncmp(path, "/slow?i=", 8) == 0) {
        srv_t *s = k->srv;
        k->slow = true;
        if (++s->inflight > s->max_inflight) s->max_inflight = s->inflight;
        if (s->narrivals < (int)SYNQ_ARRAY_LEN(s->arrivals))
            s->arrivals[s->narrivals++] = atoi(path + 8);
        uv_timer_start(&k->timer, on_slow_timer, SLOW_MS, 0);
    } else {
        respond(k, "404 Not Found", "", "", 0);
    }
}

static const char *find_ci(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(hay + i, needle, n) == 0) return hay + i;
    return NULL;
}

/* Handles the request once its header block and Content-Length body are in. */
static void try_request(conn_t *k)
{
    const char *d = k->in.data;
    const char *end = find_ci(d, k->in.len, "\r\n\r\n");
    if (end == NULL) return;
    size_t hdr_len = (size_t)(end - d) + 4;
    size_t body_len = 0;
    const char *cl = find_ci(d, hdr_len, "\r\ncontent-length:");
    if (cl) body_len = strtoul(cl + 17, NULL, 10);
    if (k->in.len < hdr_len + body_len) return;
    k->handled = true;
    k->srv->nreqs++;
    char method[16] = "", path[256] = "";
    assert_int_equal(sscanf(d, "%15s %255s", method, path), 2);
    const char *hdrs = strstr(d, "\r\n"); /* each field line then starts with CRLF */
    handle(k, method, path, hdrs, (size_t)(end + 2 - hdrs), d + hdr_len, body_len);
    synq_buf_consume(&k->in, hdr_len + body_len);
}

static void on_srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = synq_malloc(65536);
    buf->len = 65536;
}

static void on_srv_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *k = st->data;
    if (nread < 0) {
        conn_close(k);
    } else if (nread > 0 && !k->handled) {
        synq_buf_append(&k->in, buf->base, (size_t)nread);
        try_request(k);
    }
    free(buf->base);
}

static void on_srv_conn(uv_stream_t *l, int status)
{
    srv_t *s = l->data;
    assert_int_equal(status, 0);
    conn_t *k = synq_calloc(1, sizeof *k);
    s->naccepted++;
    k->srv = s;
    synq_buf_init(&k->in);
    uv_tcp_init(l->loop, &k->tcp);
    uv_timer_init(l->loop, &k->timer);
    k->tcp.data = k->timer.data = k;
    k->handles = 2;
    k->next = s->conns;
    if (s->conns) s->conns->prev = k;
    s->conns = k;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&k->tcp), 0);
    assert_int_equal(uv_read_start((uv_stream_t *)&k->tcp, on_srv_alloc, on_srv_read), 0);
}

static int bind_local(uv_loop_t *loop, uv_tcp_t *t)
{
    struct sockaddr_in sa;
    struct sockaddr_storage name;
    int namelen = sizeof name;
    uv_tcp_init(loop, t);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(t, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_tcp_getsockname(t, (struct sockaddr *)&name, &namelen), 0);
    return ntohs(((struct sockaddr_in *)&name)->sin_port);
}

static void srv_start(uv_loop_t *loop, srv_t *s)
{
    memset(s, 0, sizeof *s);
    s->port = bind_local(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 64, on_srv_conn), 0);
}

static void srv_stop(srv_t *s)
{
    while (s->conns)
        conn_close(s->conns);
    if (!uv_is_closing((uv_handle_t *)&s->listener)) uv_close((uv_handle_t *)&s->listener, NULL);
}

/* ---- fixture ------------------------------------------------------------ */

/* What one callback saw (copied: the result is borrowed). */
typedef struct {
    int called;
    int order; /* completion rank, from 1 */
    int status;
    char *error;
    char *headers;
    size_t headers_len;
    char *body;
    size_t body_len;
    bool truncated;
    int64_t retry_after_s;
    int64_t elapsed_us;
} got_t;

typedef struct {
    uv_loop_t loop;
    uv_timer_t tick; /* so a UV_RUN_ONCE always returns */
    uv_tcp_t spare;  /* a bound port nobody listens on */
    srv_t srv;
    synq_httpc_t *c;
    bool client_freed;
    int ncompleted;
    got_t got[MAX_GOT];
    /* optional behaviour of on_done */
    synq_httpc_call_t *cancel_in_cb;
    bool close_in_cb;
    int request_rc_in_cb; /* synq_httpc_request() from inside a callback */
} fx_t;

static fx_t *F;

static void on_tick(uv_timer_t *t) {}

static void on_client_freed(void *arg)
{
    fx_t *f = arg;
    f->client_freed = true;
    f->c = NULL;
}

static void on_done(const synq_httpc_res_t *res, void *arg)
{
    got_t *g = arg;
    g->called++;
    g->order = ++F->ncompleted;
    g->status = res->status;
    free(g->error);
    free(g->headers);
    free(g->body);
    g->error = res->error ? synq_strdup(res->error) : NULL;
    assert_non_null(res->headers);
    assert_non_null(res->body);
    assert_int_equal(res->headers[res->headers_len], '\0');
    assert_int_equal(res->body[res->body_len], '\0');
    g->headers = synq_strndup(res->headers, res->headers_len);
    g->headers_len = res->headers_len;
    g->body = synq_strndup(res->body, res->body_len);
    g->body_len = res->body_len;
    g->truncated = res->body_truncated;
    g->retry_after_s = res->retry_after_s;
    g->elapsed_us = res->elapsed_us;
    if (F->cancel_in_cb) {
        synq_httpc_call_t *call = F->cancel_in_cb;
        F->cancel_in_cb = NULL;
        synq_httpc_cancel(F->c, call);
    }
    if (F->close_in_cb) {
        F->close_in_cb = false;
        synq_httpc_close(F->c, on_client_freed, F);
    }
    if (res->error && strcmp(res->error, "client closed") == 0) {
        synq_httpc_req_t req = {.url = "http://127.0.0.1:1/ok"};
        F->request_rc_in_cb = synq_httpc_request(F->c, &req, on_done, g, NULL);
    }
}

static int setup(void **state)
{
    F = synq_calloc(1, sizeof *F);
    assert_int_equal(uv_loop_init(&F->loop), 0);
    uv_timer_init(&F->loop, &F->tick);
    uv_timer_start(&F->tick, on_tick, 10, 10);
    srv_start(&F->loop, &F->srv);
    *state = F;
    return 0;
}

static int teardown(void **state)
{
    if (F->c) synq_httpc_close(F->c, on_client_freed, F);
    srv_stop(&F->srv);
    uv_close((uv_handle_t *)&F->tick, NULL);
    uv_run(&F->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&F->loop);
    bool freed = F->client_freed;
    for (int i = 0; i < MAX_GOT; i++) {
        free(F->got[i].error);
        free(F->got[i].headers);
        free(F->got[i].body);
    }
    free(F);
    F = NULL;
    assert_int_equal(rc, 0);
    assert_true(freed);
    return 0;
}

static void client(int max_concurrent)
{
    F->c = synq_httpc_new(&F->loop, max_concurrent);
    assert_non_null(F->c);
}

static char *url(const char *path)
{
    static char buf[8][256];
    static int next;
    char *u = buf[next++ % 8];
    snprintf(u, 256, "http://127.0.0.1:%d%s", F->srv.port, path);
    return u;
}

static synq_httpc_call_t *get(const char *path, uint64_t timeout_ms, int slot)
{
    synq_httpc_req_t req = {.url = url(path), .timeout_ms = timeout_ms};
    synq_httpc_call_t *call = NULL;
    assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[slot], &call), 0);
    assert_non_null(call);
    return call;
}

static bool run_until(bool (*cond)(void *), void *arg)
{
    uint64_t deadline = uv_now(&F->loop) + RUN_LIMIT_MS;
    while (!cond(arg)) {
        if (uv_now(&F->loop) > deadline) return false;
        uv_run(&F->loop, UV_RUN_ONCE);
    }
    return true;
}

static bool completed_at_least(void *arg)
{
    return F->ncompleted >= *(int *)arg;
}

static void wait_completed(int n)
{
    assert_true(run_until(completed_at_least, &n));
}

static bool srv_reqs_at_least(void *arg)
{
    return F->srv.nreqs >= *(int *)arg;
}

static void wait_srv_reqs(int n)
{
    assert_true(run_until(srv_reqs_at_least, &n));
}

static bool client_gone(void *arg)
{
    return F->client_freed;
}

static bool srv_closed_at_least(void *arg)
{
    return F->srv.nclosed >= *(int *)arg;
}

/* ---- tests -------------------------------------------------------------- */

/* Whether the request header block echoed by /echo contains needle
 * (case-insensitive), leaving the echoed body out of the search. */
static bool echo_has(const got_t *g, const char *needle)
{
    const char *end = strstr(g->body, "\r\n\n");
    assert_non_null(end);
    return find_ci(g->body, (size_t)(end - g->body) + 2, needle) != NULL;
}

static void test_get_ok(void **state)
{
    client(0);
    get("/ok", 2000, 0);
    assert_int_equal(synq_httpc_pending(F->c), 1);
    wait_completed(1);
    got_t *g = &F->got[0];
    assert_int_equal(g->called, 1);
    assert_int_equal(g->status, 200);
    assert_null(g->error);
    assert_string_equal(g->body, "hello");
    assert_int_equal(g->body_len, 5);
    assert_false(g->truncated);
    assert_non_null(strstr(g->headers, "X-Test: yes\r\n"));
    assert_non_null(strstr(g->headers, "Content-Length: 5\r\n"));
    assert_null(strstr(g->headers, "HTTP/1.1"));
    assert_null(strstr(g->headers, "\r\n\r\n")); /* no blank end line */
    assert_int_equal(g->retry_after_s, -1);
    assert_true(g->elapsed_us > 0);
    assert_int_equal(synq_httpc_pending(F->c), 0);
}

static void test_post_echo(void **state)
{
    client(0);
    /* over the 1 MiB from which curl 7.88 adds "Expect: 100-continue" to a
     * body of known size (smaller bodies have no Expect anyway) */
    size_t blen = 1536 * 1024;
    char *body = synq_malloc(blen);
    for (size_t i = 0; i < blen; i++)
        body[i] = (char)('A' + i % 23);
    const char *hdrs[] = {"X-Custom: abc", "Content-Type: application/json"};
    synq_httpc_req_t req = {.method = "POST",
                            .url = url("/echo"),
                            .headers = hdrs,
                            .nheaders = 2,
                            .body = body,
                            .body_len = blen,
                            .timeout_ms = 3000,
                            .max_body_bytes = 2 * blen};
    assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[0], NULL), 0);
    /* no Content-Type given: none sent (not curl's form-urlencoded) */
    synq_httpc_req_t req2 = {.method = "PUT", .url = url("/echo"), .body = "x", .body_len = 1};
    assert_int_equal(synq_httpc_request(F->c, &req2, on_done, &F->got[1], NULL), 0);
    synq_httpc_req_t req3 = {.method = "DELETE", .url = url("/echo")};
    assert_int_equal(synq_httpc_request(F->c, &req3, on_done, &F->got[2], NULL), 0);
    wait_completed(3);

    got_t *g = &F->got[0];
    assert_int_equal(g->status, 200);
    assert_true(strncmp(g->body, "POST\n", 5) == 0);
    assert_true(echo_has(g, "\r\nX-Custom: abc\r\n"));
    assert_true(echo_has(g, "\r\nContent-Type: application/json\r\n"));
    assert_true(echo_has(g, "\r\nUser-Agent: synq\r\n"));
    assert_true(echo_has(g, "\r\nContent-Length: 1572864\r\n"));
    assert_false(echo_has(g, "expect"));
    assert_false(g->truncated);
    assert_true(g->body_len > blen);
    int same = memcmp(g->body + g->body_len - blen, body, blen);
    free(body);
    assert_int_equal(same, 0);
    assert_true(g->elapsed_us < 900 * 1000); /* no one-second wait for a 100 */

    g = &F->got[1];
    assert_int_equal(g->status, 200);
    assert_true(strncmp(g->body, "PUT\n", 4) == 0);
    assert_false(echo_has(g, "content-type"));
    assert_false(echo_has(g, "expect"));
    assert_true(echo_has(g, "\r\nContent-Length: 1\r\n"));
    assert_int_equal(g->body[g->body_len - 1], 'x');

    g = &F->got[2];
    assert_int_equal(g->status, 200);
    assert_true(strncmp(g->body, "DELETE\n", 7) == 0);
}

static void test_interim_response_headers_dropped(void **state)
{
    client(0);
    get("/continue", 2000, 0);
    wait_completed(1);
    got_t *g = &F->got[0];
    assert_int_equal(g->status, 200);
    assert_string_equal(g->body, "ok");
    assert_non_null(strstr(g->headers, "X-Final: 1\r\n"));
    assert_null(strstr(g->headers, "X-Interim"));
    assert_null(strstr(g->headers, "HTTP/"));
}

static void test_redirect_not_followed(void **state)
{
    client(0);
    get("/redirect", 2000, 0);
    wait_completed(1);
    got_t *g = &F->got[0];
    assert_int_equal(g->status, 302);
    assert_null(g->error);
    assert_string_equal(g->body, "moved");
    assert_non_null(strstr(g->headers, "Location: /ok\r\n"));
    assert_int_equal(F->srv.nreqs, 1);
}

static void test_retry_after(void **state)
{
    client(0);
    get("/retry", 2000, 0);
    get("/retry-date", 2000, 1);
    get("/retry-bad", 2000, 2);
    wait_completed(3);
    assert_int_equal(F->got[0].status, 503);
    assert_int_equal(F->got[0].retry_after_s, 7);
    assert_int_equal(F->got[1].status, 500);
    assert_in_range(F->got[1].retry_after_s, 58, 61);
    assert_int_equal(F->got[2].status, 503);
    assert_int_equal(F->got[2].retry_after_s, -1);
}

static void test_body_truncated(void **state)
{
    client(0);
    synq_httpc_req_t req = {.url = url("/big"), .max_body_bytes = 1000, .timeout_ms = 3000};
    assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[0], NULL), 0);
    synq_httpc_req_t dflt = {.url = url("/big"), .timeout_ms = 3000};
    assert_int_equal(synq_httpc_request(F->c, &dflt, on_done, &F->got[1], NULL), 0);
    synq_httpc_req_t exact = {.url = url("/ok"), .max_body_bytes = 5};
    assert_int_equal(synq_httpc_request(F->c, &exact, on_done, &F->got[2], NULL), 0);
    wait_completed(3);

    got_t *g = &F->got[0];
    assert_int_equal(g->status, 200);
    assert_null(g->error); /* the rest was read, not an error */
    assert_int_equal(g->body_len, 1000);
    assert_true(g->truncated);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(g->body[i], 'a' + i % 26);
    assert_int_equal(F->got[1].status, 200);
    assert_int_equal(F->got[1].body_len, 64 * 1024);
    assert_true(F->got[1].truncated);
    assert_int_equal(F->got[2].body_len, 5);
    assert_false(F->got[2].truncated);
}

static void test_timeout(void **state)
{
    client(0);
    get("/hang", 150, 0);
    wait_completed(1);
    got_t *g = &F->got[0];
    assert_int_equal(g->status, 0);
    assert_non_null(g->error);
    assert_non_null(strcasestr(g->error, "timed out"));
    assert_true(g->elapsed_us >= 140 * 1000);
    assert_true(g->elapsed_us < 2000 * 1000);
    /* curl dropped the connection */
    int one = 1;
    assert_true(run_until(srv_closed_at_least, &one));
}

static void test_connection_refused(void **state)
{
    int port = bind_local(&F->loop, &F->spare); /* bound, never listening */
    client(0);
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/ok", port);
    synq_httpc_req_t req = {.url = u, .timeout_ms = 2000};
    assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[0], NULL), 0);
    wait_completed(1);
    uv_close((uv_handle_t *)&F->spare, NULL);
    got_t *g = &F->got[0];
    assert_int_equal(g->status, 0);
    assert_non_null(g->error);
    assert_non_null(strcasestr(g->error, "connection refused"));
    assert_string_equal(g->body, "");
    assert_string_equal(g->headers, "");
}

static void test_concurrency_cap(void **state)
{
    client(2);
    for (int i = 0; i < 10; i++) {
        char path[32];
        snprintf(path, sizeof path, "/slow?i=%d", i);
        get(path, 3000, i);
    }
    assert_int_equal(synq_httpc_pending(F->c), 10);
    wait_completed(10);
    assert_int_equal(synq_httpc_pending(F->c), 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(F->got[i].called, 1);
        assert_int_equal(F->got[i].status, 200);
    }
    assert_int_equal(F->srv.max_inflight, 2);
    assert_int_equal(F->srv.narrivals, 10);
    /* FIFO: with two slots a request can only overtake its neighbour */
    for (int p = 0; p < 10; p++)
        assert_in_range(F->srv.arrivals[p], p > 0 ? p - 1 : 0, p + 1);
}

static void test_cancel_running(void **state)
{
    client(1);
    synq_httpc_call_t *a = get("/hang", 3000, 0);
    get("/ok", 2000, 1); /* waits behind a */
    wait_srv_reqs(1);
    assert_int_equal(synq_httpc_pending(F->c), 2);
    synq_httpc_cancel(F->c, a);
    assert_int_equal(synq_httpc_pending(F->c), 1); /* b now runs */
    wait_completed(1);
    assert_int_equal(F->got[0].called, 0);
    assert_int_equal(F->got[1].called, 1);
    assert_int_equal(F->got[1].status, 200);
    /* the server sees the cancelled connection go away */
    int two = 2;
    assert_true(run_until(srv_closed_at_least, &two));
    assert_int_equal(F->got[0].called, 0);
}

static void test_cancel_queued(void **state)
{
    client(1);
    get("/slow?i=0", 2000, 0);
    synq_httpc_call_t *b = get("/ok", 2000, 1);
    get("/ok", 2000, 2);
    assert_int_equal(synq_httpc_pending(F->c), 3);
    synq_httpc_cancel(F->c, b);
    assert_int_equal(synq_httpc_pending(F->c), 2);
    wait_completed(2);
    assert_int_equal(F->got[0].status, 200);
    assert_int_equal(F->got[2].status, 200);
    assert_true(F->got[0].order < F->got[2].order);
    assert_int_equal(F->got[1].called, 0);
    assert_int_equal(F->srv.nreqs, 2);
    assert_int_equal(synq_httpc_pending(F->c), 0);
}

static void test_cancel_from_callback(void **state)
{
    client(1);
    get("/ok", 2000, 0);
    F->cancel_in_cb = get("/ok", 2000, 1);
    get("/ok", 2000, 2);
    wait_completed(2);
    assert_int_equal(F->got[0].status, 200);
    assert_int_equal(F->got[1].called, 0);
    assert_int_equal(F->got[2].status, 200);
    assert_int_equal(synq_httpc_pending(F->c), 0);
}

static void test_close_with_pending(void **state)
{
    client(1);
    get("/hang", 3000, 0);
    get("/hang", 3000, 1);
    get("/hang", 3000, 2);
    wait_srv_reqs(1);
    F->request_rc_in_cb = 0;
    synq_httpc_close(F->c, on_client_freed, F);
    /* the callbacks ran at once, in FIFO order; the client is freed later */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(F->got[i].called, 1);
        assert_int_equal(F->got[i].order, i + 1);
        assert_int_equal(F->got[i].status, 0);
        assert_string_equal(F->got[i].error, "client closed");
    }
    assert_int_not_equal(F->request_rc_in_cb, 0); /* refused while closing */
    assert_false(F->client_freed);
    assert_true(run_until(client_gone, NULL));
    /* teardown checks that the loop has no handle left */
}

static void test_close_from_callback(void **state)
{
    client(2);
    F->close_in_cb = true;
    get("/ok", 2000, 0);
    get("/hang", 3000, 1);
    wait_completed(2);
    assert_int_equal(F->got[0].status, 200);
    assert_int_equal(F->got[1].status, 0);
    assert_string_equal(F->got[1].error, "client closed");
    assert_true(run_until(client_gone, NULL));
    assert_int_equal(F->got[0].called, 1);
    assert_int_equal(F->got[1].called, 1);
}

static void test_idle_close(void **state)
{
    client(0);
    assert_int_equal(synq_httpc_pending(F->c), 0);
    synq_httpc_close(F->c, on_client_freed, F);
    assert_true(run_until(client_gone, NULL));
}

/* The second request reuses the pooled connection; closing the client then
 * closes that idle connection too (curl_multi_cleanup). */
static void test_keepalive_then_close(void **state)
{
    client(0);
    get("/keep", 2000, 0);
    wait_completed(1);
    get("/keep", 2000, 1);
    wait_completed(2);
    assert_int_equal(F->got[0].status, 200);
    assert_string_equal(F->got[1].body, "kept");
    assert_int_equal(F->srv.naccepted, 1);
    assert_int_equal(F->srv.nclosed, 0);
    synq_httpc_close(F->c, on_client_freed, F);
    assert_true(run_until(client_gone, NULL));
    int one = 1;
    assert_true(run_until(srv_closed_at_least, &one));
}

static void test_invalid(void **state)
{
    client(0);
    static const char *const bad_urls[] = {
        "ftp://127.0.0.1/x",
        "garbage",
        "",
        "http://",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "http://exa mple.com/",
        "127.0.0.1:80/ok",
        "//127.0.0.1/ok",
    };
    synq_httpc_call_t *call = (synq_httpc_call_t *)&call;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad_urls); i++) {
        synq_httpc_req_t req = {.url = bad_urls[i]};
        assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[0], &call), SYNQ_EINVAL);
        assert_null(call);
    }
    synq_httpc_req_t req = {.url = NULL};
    assert_int_equal(synq_httpc_request(F->c, &req, on_done, &F->got[0], NULL), SYNQ_EINVAL);

    static const char *const bad_methods[] = {"", "GE T", "GET\r\n", "G:ET", "(GET)"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad_methods); i++) {
        synq_httpc_req_t r = {.method = bad_methods[i], .url = url("/ok")};
        assert_int_equal(synq_httpc_request(F->c, &r, on_done, &F->got[0], NULL), SYNQ_EINVAL);
    }
    static const char *const bad_headers[] = {"X-A: b\r\nX-Evil: 1", "NoColon", ": empty",
                                              "Bad Name: x", "X-A: \n"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad_headers); i++) {
        synq_httpc_req_t r = {.url = url("/ok"), .headers = &bad_headers[i], .nheaders = 1};
        assert_int_equal(synq_httpc_request(F->c, &r, on_done, &F->got[0], NULL), SYNQ_EINVAL);
    }
    synq_httpc_req_t nobody = {.method = "POST", .url = url("/ok"), .body_len = 3};
    assert_int_equal(synq_httpc_request(F->c, &nobody, on_done, &F->got[0], NULL), SYNQ_EINVAL);
    assert_int_equal(
        synq_httpc_request(F->c, &(synq_httpc_req_t){.url = url("/ok")}, NULL, NULL, NULL),
        SYNQ_EINVAL);
    assert_int_equal(synq_httpc_pending(F->c), 0);

    /* the scheme is case-insensitive (RFC 3986 section 3.1) */
    char u[64];
    snprintf(u, sizeof u, "HTTP://127.0.0.1:%d/ok", F->srv.port);
    synq_httpc_req_t ok = {.url = u};
    assert_int_equal(synq_httpc_request(F->c, &ok, on_done, &F->got[1], NULL), 0);
    wait_completed(1);
    assert_int_equal(F->got[0].called, 0);
    assert_int_equal(F->got[1].status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_response_headers_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirect_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrency_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("httpc", tests, NULL, NULL);
    curl_global_cleanup(); /* balances the lazy curl_global_init of synq_httpc_new */
    return failed;
}
