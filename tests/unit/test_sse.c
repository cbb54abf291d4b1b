/* Unit tests for net/sse and the streaming responses of net/http.
 *
 * The formatter is checked byte for byte on the corner cases (multi-line
 * data, CRLF and lone CR, empty data, id and event with line breaks, large
 * payloads) and, as a round trip, through a reference parser written here
 * from the WHATWG algorithm (HTML §9.2.5-6): whatever data goes in, the
 * client must see exactly it, with its line breaks as LF.
 *
 * The stream tests run the real HTTP server on 127.0.0.1 (port 0) and raw
 * uv_tcp clients on one loop per test: the head, chunked coding, HEAD,
 * HTTP/1.0, keep-alive comments, timeouts that must spare a live stream,
 * fan-out of one shared frame, a client that leaves, a slow consumer, and
 * server shutdown with a stream open. Every test ends by closing the server,
 * running the loop dry and checking uv_loop_close() returns 0. */
#include "net/sse.h"

#include "core/rcbuf.h"
#include "net/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

/* ---- a reference SSE parser (the client side of the spec) ----------------- */

#define MAX_EVENTS 64

typedef struct {
    char *id;    /* the last event id at dispatch */
    char *event; /* "message" when no type was set */
    synq_buf_t data;
} parsed_t;

typedef struct {
    parsed_t ev[MAX_EVENTS];
    int n;
    long retry; /* -1 when never set */
} stream_t;

static void parsed_release(stream_t *st)
{
    for (int i = 0; i < st->n; i++) {
        free(st->ev[i].id);
        free(st->ev[i].event);
        synq_buf_release(&st->ev[i].data);
    }
    st->n = 0;
}

/* Interprets a whole event stream as EventSource does: lines end at CRLF,
 * CR or LF; ":" starts a comment; one space after the colon is dropped;
 * a blank line dispatches when the data buffer is not empty (its last LF
 * removed); an unterminated last line or event is discarded. */
static void sse_parse(const char *s, size_t n, stream_t *st)
{
    synq_buf_t data, line;
    synq_buf_init(&data);
    synq_buf_init(&line);
    char *last_id = synq_strdup("");
    char *type = NULL;
    st->n = 0;
    st->retry = -1;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '\r' && s[j] != '\n')
            j++;
        if (j == n) break; /* no terminator: discarded */
        size_t next = j + (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n' ? 2 : 1);
        if (s[j] == '\r' && j + 1 == n) next = n; /* CR at the end still ends the line */
        const char *l = s + i;
        size_t len = j - i;
        i = next;
        if (len == 0) {
            if (data.len == 0) {
                free(type);
                type = NULL;
                continue;
            }
            assert_true(st->n < MAX_EVENTS);
            parsed_t *e = &st->ev[st->n++];
            e->id = synq_strdup(last_id);
            e->event = synq_strdup(type ? type : "message");
            synq_buf_init(&e->data);
            synq_buf_append(&e->data, data.data, data.len - 1);
            data.len = 0;
            free(type);
            type = NULL;
            continue;
        }
        if (l[0] == ':') continue;
        const char *colon = memchr(l, ':', len);
        size_t flen = colon ? (size_t)(colon - l) : len;
        const char *v = colon ? colon + 1 : l + len;
        size_t vlen = colon ? len - flen - 1 : 0;
        if (vlen > 0 && v[0] == ' ') v++, vlen--;
        if (flen == 4 && memcmp(l, "data", 4) == 0) {
            synq_buf_append(&data, v, vlen);
            synq_buf_putc(&data, '\n');
        } else if (flen == 5 && memcmp(l, "event", 5) == 0) {
            free(type);
            type = synq_strndup(v, vlen);
        } else if (flen == 2 && memcmp(l, "id", 2) == 0) {
            if (memchr(v, '\0', vlen) == NULL) {
                free(last_id);
                last_id = synq_strndup(v, vlen);
            }
        } else if (flen == 5 && memcmp(l, "retry", 5) == 0) {
            bool digits = vlen > 0;
            for (size_t k = 0; k < vlen; k++)
                digits = digits && v[k] >= '0' && v[k] <= '9';
            if (digits) st->retry = strtol(v, NULL, 10);
        }
    }
    free(last_id);
    free(type);
    synq_buf_release(&data);
    synq_buf_release(&line);
}

/* What the client must see as data: every CRLF and lone CR turned into LF. */
static void normalize(const char *s, size_t n, synq_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            synq_buf_putc(out, '\n');
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else {
            synq_buf_putc(out, s[i]);
        }
    }
}

/* ---- formatter ------------------------------------------------------------- */

static void check_format(const char *id, const char *event, const char *data, size_t len,
                         const char *want)
{
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_sse_format(&b, id, event, data, len), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* and the client reads back the data */
    stream_t st;
    sse_parse(b.data, b.len, &st);
    assert_int_equal(st.n, 1);
    synq_buf_t norm;
    synq_buf_init(&norm);
    normalize(data, len, &norm);
    assert_int_equal(st.ev[0].data.len, norm.len);
    if (norm.len) assert_memory_equal(st.ev[0].data.data, norm.data, norm.len);
    assert_string_equal(st.ev[0].event, event && *event ? event : "message");
    assert_string_equal(st.ev[0].id, id ? id : "");
    parsed_release(&st);
    synq_buf_release(&norm);
    synq_buf_release(&b);
}

static void test_format_simple(void **state)
{
    check_format(NULL, NULL, "hello", 5, "data: hello\n\n");
    check_format("7", "progress", "{\"percent\":50}", 14,
                 "id: 7\nevent: progress\ndata: {\"percent\":50}\n\n");
    check_format(NULL, "state", "{}", 2, "event: state\ndata: {}\n\n");
    check_format("12", NULL, "x", 1, "id: 12\ndata: x\n\n");
    /* colons and field-like text in data are just data */
    check_format(NULL, NULL, "id: 3\nevent: x", 14, "data: id: 3\ndata: event: x\n\n");
}

static void test_format_multiline(void **state)
{
    check_format(NULL, NULL, "a\nb\nc", 5, "data: a\ndata: b\ndata: c\n\n");
    /* a trailing break is an empty last line, so the client keeps it */
    check_format(NULL, NULL, "a\n", 2, "data: a\ndata:\n\n");
    check_format(NULL, NULL, "\n", 1, "data:\ndata:\n\n");
    check_format(NULL, NULL, "a\n\nb", 4, "data: a\ndata:\ndata: b\n\n");
}

static void test_format_crlf_cr(void **state)
{
    check_format(NULL, NULL, "a\r\nb", 4, "data: a\ndata: b\n\n");
    check_format(NULL, NULL, "a\rb", 3, "data: a\ndata: b\n\n");
    check_format(NULL, NULL, "a\r\nb\rc\n", 7, "data: a\ndata: b\ndata: c\ndata:\n\n");
    /* CR LF is one break, LF CR two */
    check_format(NULL, NULL, "a\n\rb", 4, "data: a\ndata:\ndata: b\n\n");
    check_format(NULL, NULL, "a\r\r\nb", 5, "data: a\ndata:\ndata: b\n\n");
    check_format(NULL, NULL, "a\r", 2, "data: a\ndata:\n\n");
    check_format(NULL, NULL, "\r\n", 2, "data:\ndata:\n\n");
}

static void test_format_empty_data(void **state)
{
    /* one empty data line: the client still dispatches an event, data "" */
    check_format(NULL, NULL, "", 0, "data:\n\n");
    check_format(NULL, NULL, NULL, 0, "data:\n\n");
    check_format("5", "done", "", 0, "id: 5\nevent: done\ndata:\n\n");
}

static void test_format_spaces(void **state)
{
    /* the client drops one space after the colon: ours, not the data's */
    check_format(NULL, NULL, " x", 2, "data:  x\n\n");
    check_format(NULL, NULL, "  ", 2, "data:   \n\n");
    check_format(NULL, NULL, "a\n b", 4, "data: a\ndata:  b\n\n");
}

static void test_format_id_event(void **state)
{
    /* an empty id resets the client's last event id; an empty event is "message" */
    check_format("", NULL, "x", 1, "id:\ndata: x\n\n");
    check_format(NULL, "", "x", 1, "data: x\n\n");
    check_format("a b:c", "my-event", "x", 1, "id: a b:c\nevent: my-event\ndata: x\n\n");
}

static void test_format_rejects_breaks_in_id_event(void **state)
{
    const char *bad[] = {"a\nb", "a\rb", "\n", "\r", "x\r\n", "\ndata: injected"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        synq_buf_t b;
        synq_buf_init(&b);
        synq_buf_puts(&b, "before");
        assert_int_equal(synq_sse_format(&b, bad[i], NULL, "x", 1), SYNQ_EINVAL);
        assert_int_equal(synq_sse_format(&b, NULL, bad[i], "x", 1), SYNQ_EINVAL);
        assert_int_equal(synq_sse_format(&b, "1", bad[i], "x", 1), SYNQ_EINVAL);
        assert_string_equal(b.data, "before"); /* nothing appended */
        int err = 0;
        assert_null(synq_sse_frame(bad[i], "e", "x", 1, &err));
        assert_int_equal(err, SYNQ_EINVAL);
        assert_null(synq_sse_frame("1", bad[i], "x", 1, NULL));
        synq_buf_release(&b);
    }
}

static void test_format_appends(void **state)
{
    /* several events into one buffer parse as several events */
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_sse_format(&b, "1", "log", "one", 3), 0);
    assert_int_equal(synq_sse_format(&b, NULL, NULL, "two\nlines", 9), 0);
    assert_int_equal(synq_sse_format(&b, "3", "log", "", 0), 0);
    stream_t st;
    sse_parse(b.data, b.len, &st);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.ev[0].id, "1");
    assert_string_equal(st.ev[0].event, "log");
    assert_string_equal(st.ev[0].data.data, "one");
    assert_string_equal(st.ev[1].id, "1"); /* the id persists until set again */
    assert_string_equal(st.ev[1].event, "message");
    assert_string_equal(st.ev[1].data.data, "two\nlines");
    assert_string_equal(st.ev[2].id, "3");
    assert_int_equal(st.ev[2].data.len, 0);
    parsed_release(&st);
    synq_buf_release(&b);
}

static void test_format_large(void **state)
{
    /* 4 MiB of one line, then 1 MiB with a break every few bytes of each kind */
    size_t n = 4u << 20;
    char *big = synq_malloc(n);
    memset(big, 'x', n);
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_sse_format(&b, "1", "big", big, n), 0);
    assert_int_equal(b.len, strlen("id: 1\nevent: big\ndata: ") + n + 2);
    assert_memory_equal(b.data + b.len - 2, "\n\n", 2);
    synq_buf_release(&b);

    n = 1u << 20;
    const char *breaks[] = {"\n", "\r", "\r\n"};
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t run = 1 + (i * 7919) % 37;
        for (size_t r = 0; r < run && i < n; r++, i++)
            big[i] = (char)('a' + (i % 26));
        const char *br = breaks[k++ % 3];
        for (size_t r = 0; br[r] && i < n; r++)
            big[i++] = br[r];
    }
    assert_int_equal(synq_sse_format(&b, NULL, NULL, big, n), 0);
    stream_t st;
    sse_parse(b.data, b.len, &st);
    assert_int_equal(st.n, 1);
    synq_buf_t norm;
    synq_buf_init(&norm);
    normalize(big, n, &norm);
    assert_int_equal(st.ev[0].data.len, norm.len);
    assert_memory_equal(st.ev[0].data.data, norm.data, norm.len);
    parsed_release(&st);
    synq_buf_release(&norm);
    synq_buf_release(&b);
    free(big);
}

/* Random data over an alphabet heavy in breaks, spaces and colons: the
 * client always reads back the normalized input. */
static void test_format_random_round_trip(void **state)
{
    static const char alphabet[] = {'a', ' ', ':', '\r', '\n', '\xc3', '\xa9', '\0', 'd'};
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char data[64];
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof data;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            data[i] = alphabet[(seed >> 16) % sizeof alphabet];
        }
        synq_buf_t b, norm;
        synq_buf_init(&b);
        synq_buf_init(&norm);
        assert_int_equal(
            synq_sse_format(&b, round % 2 ? "42" : NULL, round % 3 ? "e" : NULL, data, len), 0);
        /* every line the formatter writes ends in LF and none has a bare CR */
        for (size_t i = 0; i < b.len; i++)
            assert_true(b.data[i] != '\r');
        stream_t st;
        sse_parse(b.data, b.len, &st);
        assert_int_equal(st.n, 1);
        normalize(data, len, &norm);
        assert_int_equal(st.ev[0].data.len, norm.len);
        if (norm.len) assert_memory_equal(st.ev[0].data.data, norm.data, norm.len);
        parsed_release(&st);
        synq_buf_release(&b);
        synq_buf_release(&norm);
    }
}

static void test_frame(void **state)
{
    int err = 1;
    synq_rcbuf_t *f = synq_sse_frame("9", "log", "a\nb", 3, &err);
    assert_non_null(f);
    assert_int_equal(err, 0);
    assert_int_equal(synq_rcbuf_refs(f), 1);
    const char *want = "id: 9\nevent: log\ndata: a\ndata: b\n\n";
    assert_int_equal(synq_rcbuf_len(f), strlen(want));
    assert_string_equal(synq_rcbuf_data(f), want);
    synq_rcbuf_unref(f);
}

static void test_close_reason_names(void **state)
{
    assert_string_equal(synq_sse_close_reason(SYNQ_SSE_CLOSE_ENDED), "ended");
    assert_string_equal(synq_sse_close_reason(SYNQ_SSE_CLOSE_CLIENT_GONE), "client_gone");
    assert_string_equal(synq_sse_close_reason(SYNQ_SSE_CLOSE_SLOW), "slow_consumer");
    assert_string_equal(synq_sse_close_reason(SYNQ_SSE_CLOSE_ERROR), "write_error");
    assert_string_equal(synq_sse_close_reason(SYNQ_SSE_CLOSE_SHUTDOWN), "shutdown");
    synq_sse_config_t cfg;
    synq_sse_config_init(&cfg);
    assert_int_equal(cfg.keepalive_ms, 15000);
    assert_int_equal(cfg.retry_ms, 2000);
    assert_int_equal(cfg.max_queued_bytes, 1024 * 1024);
}

/* ---- streams over a real server ---------------------------------------------- */

#define MAX_SLOTS 4
#define MAX_CLIENTS 4

typedef struct env_s env_t;

typedef struct {
    env_t *env;
    synq_sse_t *sse;
    int closes;
    synq_sse_close_t reason;
    int sends_after_close; /* sends tried inside on_close (must fail) */
} slot_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    env_t *env;
    char *request;
    synq_buf_t got;
    bool read; /* start reading once connected */
    bool connected;
    bool eof;
    bool closed;
} client_t;

struct env_s {
    uv_loop_t loop;
    uv_timer_t tick;
    synq_http_server_t *srv;
    int port;
    synq_sse_config_t cfg;
    slot_t slots[MAX_SLOTS];
    int nslots;
    client_t *clients[MAX_CLIENTS];
    int nclients;
    bool end_at_once; /* the handler ends the stream right after two events */
    bool srv_closed;
};

static void on_slot_close(synq_sse_t *s, synq_sse_close_t reason, void *arg)
{
    slot_t *sl = arg;
    assert_ptr_equal(s, sl->sse);
    sl->closes++;
    sl->reason = reason;
    if (synq_sse_send(s, NULL, NULL, "late", 4) != 0) sl->sends_after_close++;
}

static void handler(synq_http_req_t *req, void *arg)
{
    env_t *env = arg;
    if (strcmp(req->path, "/plain") == 0) {
        synq_http_respond(req, 200, "text/plain", NULL, "ok", 2);
        return;
    }
    assert_true(env->nslots < MAX_SLOTS);
    slot_t *sl = &env->slots[env->nslots++];
    sl->env = env;
    sl->sse = synq_sse_start(req, &env->cfg, on_slot_close, sl);
    assert_non_null(sl->sse);
    if (env->end_at_once) {
        assert_int_equal(synq_sse_send(sl->sse, "1", "greet", "hi\nthere", 8), 0);
        assert_int_equal(synq_sse_send(sl->sse, NULL, NULL, "", 0), 0);
        synq_sse_end(sl->sse);
        synq_sse_end(sl->sse); /* idempotent */
        assert_true(synq_sse_send(sl->sse, NULL, NULL, "x", 1) < 0);
        assert_int_equal(sl->closes, 0); /* never from inside a call */
    }
}

static void on_tick(uv_timer_t *t) {}

static env_t *env_new(uint64_t idle_ms)
{
    env_t *env = synq_calloc(1, sizeof *env);
    assert_int_equal(uv_loop_init(&env->loop), 0);
    uv_timer_init(&env->loop, &env->tick);
    uv_timer_start(&env->tick, on_tick, 5, 5);
    synq_sse_config_init(&env->cfg);
    synq_http_config_t hc;
    synq_http_config_init(&hc);
    if (idle_ms) hc.idle_timeout_ms = hc.header_timeout_ms = idle_ms;
    int err = 0;
    env->srv = synq_http_server_start(&env->loop, "127.0.0.1:0", &hc, handler, env, &err);
    assert_non_null(env->srv);
    const char *a = synq_http_server_addr(env->srv);
    env->port = atoi(strrchr(a, ':') + 1);
    return env;
}

/* Runs the loop until pred(arg) or ms pass; returns pred's last value. */
static bool run_until(env_t *env, bool (*pred)(void *), void *arg, uint64_t ms)
{
    uv_update_time(&env->loop);
    uint64_t deadline = uv_now(&env->loop) + ms;
    while (!(pred && pred(arg))) {
        if (uv_now(&env->loop) >= deadline) return pred ? pred(arg) : true;
        uv_run(&env->loop, UV_RUN_ONCE);
    }
    return true;
}

static void run_for(env_t *env, uint64_t ms)
{
    run_until(env, NULL, NULL, ms);
}

static void on_client_closed(uv_handle_t *h)
{
    client_t *c = h->data;
    c->closed = true;
}

static void client_close(client_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    client_t *c = h->data;
    synq_buf_reserve(&c->got, 64 * 1024);
    buf->base = c->got.data + c->got.len;
    buf->len = c->got.cap - c->got.len - 1;
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    client_t *c = s->data;
    if (nread < 0) {
        c->eof = true;
        client_close(c);
        return;
    }
    c->got.len += (size_t)nread;
    c->got.data[c->got.len] = '\0';
}

static void on_client_written(uv_write_t *w, int status) {}

static void on_client_connected(uv_connect_t *cr, int status)
{
    client_t *c = cr->data;
    assert_int_equal(status, 0);
    c->connected = true;
    uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
    uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_client_written);
    if (c->read) uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc, on_client_read);
}

static client_t *client_new(env_t *env, const char *request, bool read)
{
    assert_true(env->nclients < MAX_CLIENTS);
    client_t *c = synq_calloc(1, sizeof *c);
    env->clients[env->nclients++] = c;
    c->env = env;
    c->request = synq_strdup(request);
    c->read = read;
    synq_buf_init(&c->got);
    uv_tcp_init_ex(&env->loop, &c->tcp, AF_INET);
    c->tcp.data = c;
    c->connect.data = c;
    int rcvbuf = 4096;
    if (!read) uv_recv_buffer_size((uv_handle_t *)&c->tcp, &rcvbuf);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", env->port, &sa);
    assert_int_equal(
        uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa, on_client_connected), 0);
    return c;
}

static void on_srv_closed(synq_http_server_t *srv, void *arg)
{
    env_t *env = arg;
    env->srv_closed = true;
}

static bool srv_closed(void *arg)
{
    return ((env_t *)arg)->srv_closed;
}

static void env_free(env_t *env)
{
    for (int i = 0; i < env->nclients; i++)
        client_close(env->clients[i]);
    if (!env->srv_closed) synq_http_server_close(env->srv, on_srv_closed, env);
    assert_true(run_until(env, srv_closed, env, 5000));
    uv_close((uv_handle_t *)&env->tick, NULL);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&env->loop), 0);
    for (int i = 0; i < env->nslots; i++)
        assert_int_equal(env->slots[i].closes, 1);
    for (int i = 0; i < env->nclients; i++) {
        synq_buf_release(&env->clients[i]->got);
        free(env->clients[i]->request);
        free(env->clients[i]);
    }
    free(env);
}

/* A response as the client got it: the head and the decoded body. */
typedef struct {
    synq_buf_t head; /* up to and with the blank line */
    synq_buf_t body;
    bool chunked;
    bool complete; /* the last chunk arrived */
    size_t used;   /* bytes of the input it took */
} resp_t;

static bool resp_parse(const char *s, size_t n, resp_t *r)
{
    synq_buf_init(&r->head);
    synq_buf_init(&r->body);
    r->complete = false;
    const char *end = memmem(s, n, "\r\n\r\n", 4);
    if (end == NULL) return false;
    synq_buf_append(&r->head, s, (size_t)(end - s) + 4);
    r->chunked = strcasestr(r->head.data, "\r\ntransfer-encoding: chunked\r\n") != NULL;
    const char *p = end + 4, *e = s + n;
    const char *cl = strcasestr(r->head.data, "\r\ncontent-length: ");
    if (cl) {
        size_t len = strtoul(cl + 18, NULL, 10);
        if ((size_t)(e - p) < len) return false;
        synq_buf_append(&r->body, p, len);
        r->complete = true;
        r->used = (size_t)(p + len - s);
        return true;
    }
    if (!r->chunked) {
        synq_buf_append(&r->body, p, (size_t)(e - p));
        r->used = n;
        return true;
    }
    while (p < e) {
        const char *nl = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (nl == NULL) break;
        char *hex_end;
        size_t sz = strtoul(p, &hex_end, 16);
        assert_ptr_equal(hex_end, nl); /* no extensions from us */
        if (sz == 0) {
            if (e - nl >= 4) {
                assert_memory_equal(nl, "\r\n\r\n", 4);
                r->complete = true;
                r->used = (size_t)(nl + 4 - s);
            }
            break;
        }
        if ((size_t)(e - nl - 2) < sz + 2) break;
        synq_buf_append(&r->body, nl + 2, sz);
        assert_memory_equal(nl + 2 + sz, "\r\n", 2);
        p = nl + 2 + sz + 2;
    }
    return true;
}

static void resp_release(resp_t *r)
{
    synq_buf_release(&r->head);
    synq_buf_release(&r->body);
}

static bool client_done(void *arg)
{
    return ((client_t *)arg)->closed;
}

static bool slot0_closed(void *arg)
{
    return ((env_t *)arg)->slots[0].closes > 0;
}

static bool slot0_started(void *arg)
{
    return ((env_t *)arg)->nslots > 0;
}

static bool got_keepalive(void *arg)
{
    return strstr(((client_t *)arg)->got.data ? ((client_t *)arg)->got.data : "",
                  ": keep-alive\n\n") != NULL;
}

static const char GET_EVENTS[] = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";

static void test_stream_basic(void **state)
{
    env_t *env = env_new(0);
    env->end_at_once = true;
    client_t *c = client_new(env, GET_EVENTS, true);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(c->eof); /* the server closed after the last chunk */
    resp_t r;
    assert_true(resp_parse(c->got.data, c->got.len, &r));
    assert_true(strncmp(r.head.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(r.head.data, "\r\nContent-Type: text/event-stream; charset=utf-8\r\n"));
    assert_non_null(strstr(r.head.data, "\r\nCache-Control: no-cache\r\n"));
    assert_non_null(strstr(r.head.data, "\r\nX-Accel-Buffering: no\r\n"));
    assert_non_null(strstr(r.head.data, "\r\nConnection: close\r\n"));
    assert_null(strcasestr(r.head.data, "content-length"));
    assert_true(r.chunked);
    assert_true(r.complete);
    assert_int_equal(r.used, c->got.len); /* nothing after the last chunk */
    assert_string_equal(r.body.data, "retry: 2000\n\n"
                                     "id: 1\nevent: greet\ndata: hi\ndata: there\n\n"
                                     "data:\n\n");
    stream_t st;
    sse_parse(r.body.data, r.body.len, &st);
    assert_int_equal(st.retry, 2000);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.ev[0].data.data, "hi\nthere");
    assert_string_equal(st.ev[1].id, "1");
    parsed_release(&st);
    resp_release(&r);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].closes, 1);
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_ENDED);
    assert_int_equal(env->slots[0].sends_after_close, 1);
    env_free(env);
}

static void test_stream_head(void **state)
{
    env_t *env = env_new(0);
    client_t *c = client_new(env, "HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n", true);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(strncmp(c->got.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(c->got.data, "text/event-stream"));
    assert_true(c->got.len >= 4);
    assert_non_null(strstr(c->got.data, "\r\n\r\n"));
    assert_string_equal(strstr(c->got.data, "\r\n\r\n"), "\r\n\r\n"); /* no body at all */
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_ENDED);
    env_free(env);
}

static void test_stream_http10(void **state)
{
    env_t *env = env_new(0);
    env->end_at_once = true;
    client_t *c = client_new(env, "GET /events HTTP/1.0\r\n\r\n", true);
    assert_true(run_until(env, client_done, c, 3000));
    resp_t r;
    assert_true(resp_parse(c->got.data, c->got.len, &r));
    assert_false(r.chunked); /* an HTTP/1.0 client gets raw bytes, ended by the close */
    assert_string_equal(r.body.data, "retry: 2000\n\n"
                                     "id: 1\nevent: greet\ndata: hi\ndata: there\n\n"
                                     "data:\n\n");
    resp_release(&r);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_ENDED);
    env_free(env);
}

static void test_stream_keepalive_and_timeouts(void **state)
{
    /* idle and header timeouts of 60 ms must not touch a live stream */
    env_t *env = env_new(60);
    env->cfg.keepalive_ms = 0;
    env->cfg.retry_ms = 0;
    client_t *c = client_new(env, GET_EVENTS, true);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 400);
    assert_false(c->eof);
    assert_int_equal(env->slots[0].closes, 0);
    resp_t r;
    assert_true(resp_parse(c->got.data, c->got.len, &r));
    assert_int_equal(r.body.len, 0); /* no retry line, no comment */
    resp_release(&r);
    assert_int_equal(synq_sse_send(env->slots[0].sse, NULL, "late", "still here", 10), 0);
    run_for(env, 100);
    assert_non_null(strstr(c->got.data, "event: late\ndata: still here\n\n"));
    synq_sse_end(env->slots[0].sse);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_ENDED);
    env_free(env);

    /* silence gets a comment every keepalive_ms */
    env = env_new(0);
    env->cfg.keepalive_ms = 30;
    c = client_new(env, GET_EVENTS, true);
    assert_true(run_until(env, got_keepalive, c, 3000));
    resp_t r2;
    assert_true(resp_parse(c->got.data, c->got.len, &r2));
    assert_true(strncmp(r2.body.data, "retry: 2000\n\n: keep-alive\n\n", 27) == 0);
    resp_release(&r2);
    env_free(env);
}

static void test_stream_fanout(void **state)
{
    env_t *env = env_new(0);
    client_t *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = client_new(env, GET_EVENTS, true);
    assert_true(run_until(env, slot0_started, env, 3000));
    while (env->nslots < 3)
        uv_run(&env->loop, UV_RUN_ONCE);
    synq_rcbuf_t *f = synq_sse_frame("5", "progress", "{\"percent\":5}", 13, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(synq_sse_send_frame(env->slots[i].sse, f), 0);
    for (int i = 0; i < 3; i++)
        synq_sse_end(env->slots[i].sse);
    for (int i = 0; i < 3; i++)
        assert_true(run_until(env, client_done, c[i], 3000));
    /* every write dropped its reference: only ours is left */
    assert_int_equal(synq_rcbuf_refs(f), 1);
    for (int i = 0; i < 3; i++) {
        resp_t r;
        assert_true(resp_parse(c[i]->got.data, c[i]->got.len, &r));
        assert_true(r.complete);
        assert_string_equal(r.body.data,
                            "retry: 2000\n\nid: 5\nevent: progress\ndata: {\"percent\":5}\n\n");
        resp_release(&r);
    }
    synq_rcbuf_unref(f);
    env_free(env);
}

static void test_stream_client_gone(void **state)
{
    env_t *env = env_new(0);
    client_t *c = client_new(env, GET_EVENTS, true);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    client_close(c);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_CLIENT_GONE);
    assert_int_equal(env->slots[0].sends_after_close, 1);
    env_free(env);
}

static void test_stream_slow_consumer(void **state)
{
    env_t *env = env_new(0);
    env->cfg.max_queued_bytes = 256 * 1024;
    client_t *c = client_new(env, GET_EVENTS, false); /* never reads */
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    size_t n = 64 * 1024;
    char *payload = synq_malloc(n);
    memset(payload, 'z', n);
    synq_rcbuf_t *f = synq_sse_frame(NULL, NULL, payload, n, NULL);
    free(payload);
    int rc = 0, sent = 0;
    while (rc == 0 && sent < 100000) {
        rc = synq_sse_send_frame(env->slots[0].sse, f);
        if (rc == 0) sent++;
        assert_true(synq_sse_queued(env->slots[0].sse) <= env->cfg.max_queued_bytes + n + 16);
    }
    assert_int_equal(rc, SYNQ_ETOOBIG);
    assert_int_equal(env->slots[0].closes, 0); /* on_close comes from the loop */
    assert_true(synq_sse_over(env->slots[0].sse));
    assert_true(synq_sse_send_frame(env->slots[0].sse, f) < 0);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_SLOW);
    assert_int_equal(synq_rcbuf_refs(f), 1); /* cancelled writes let go too */
    synq_rcbuf_unref(f);
    (void)c;
    env_free(env);
}

static void test_stream_server_close(void **state)
{
    env_t *env = env_new(0);
    client_t *c = client_new(env, GET_EVENTS, true);
    client_t *idle = client_new(env, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", true);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 50);
    assert_int_equal(synq_sse_send(env->slots[0].sse, NULL, NULL, "before", 6), 0);
    synq_http_server_close(env->srv, on_srv_closed, env);
    assert_true(run_until(env, srv_closed, env, 5000));
    assert_int_equal(env->slots[0].closes, 1);
    assert_int_equal(env->slots[0].reason, SYNQ_SSE_CLOSE_SHUTDOWN);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(run_until(env, client_done, idle, 3000));
    resp_t r;
    assert_true(resp_parse(c->got.data, c->got.len, &r));
    assert_true(r.complete); /* a clean end, not a cut */
    assert_string_equal(r.body.data, "retry: 2000\n\ndata: before\n\n");
    resp_release(&r);
    env_free(env);
}

static void test_stream_pipelined(void **state)
{
    /* a plain request and then a stream on one connection: in order */
    env_t *env = env_new(0);
    env->end_at_once = true;
    client_t *c = client_new(env,
                             "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n",
                             true);
    assert_true(run_until(env, client_done, c, 3000));
    resp_t r1, r2;
    assert_true(resp_parse(c->got.data, c->got.len, &r1));
    assert_true(r1.complete);
    assert_string_equal(r1.body.data, "ok");
    assert_true(resp_parse(c->got.data + r1.used, c->got.len - r1.used, &r2));
    assert_true(r2.complete);
    assert_non_null(strstr(r2.body.data, "data: hi\ndata: there\n\n"));
    /* the request behind the stream is not answered: the connection closed */
    assert_int_equal(r1.used + r2.used, c->got.len);
    resp_release(&r1);
    resp_release(&r2);
    assert_int_equal(env->nslots, 1);
    env_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_simple),
        cmocka_unit_test(test_format_multiline),
        cmocka_unit_test(test_format_crlf_cr),
        cmocka_unit_test(test_format_empty_data),
        cmocka_unit_test(test_format_spaces),
        cmocka_unit_test(test_format_id_event),
        cmocka_unit_test(test_format_rejects_breaks_in_id_event),
        cmocka_unit_test(test_format_appends),
        cmocka_unit_test(test_format_large),
        cmocka_unit_test(test_format_random_round_trip),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_close_reason_names),
        cmocka_unit_test(test_stream_basic),
        cmocka_unit_test(test_stream_head),
        cmocka_unit_test(test_stream_http10),
        cmocka_unit_test(test_stream_keepalive_and_timeouts),
        cmocka_unit_test(test_stream_fanout),
        cmocka_unit_test(test_stream_client_gone),
        cmocka_unit_test(test_stream_slow_consumer),
        cmocka_unit_test(test_stream_server_close),
        cmocka_unit_test(test_stream_pipelined),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
