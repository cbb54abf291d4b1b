/* HTTP/1.1 server: connections, parsing (http-parser), limits, responses,
 * streaming responses.
 *
 * One request is handled at a time per connection. When a request completes
 * the parser is paused, so bytes of pipelined requests stay in the input
 * buffer until the current response is sent; reading continues meanwhile
 * (to notice a client that goes away), bounded by a high-water mark.
 *
 * A streaming response takes over its connection until the connection
 * closes: no more requests are parsed on it, input is discarded, and the
 * connection timer only serves to bound the drain after the end.
 *
 * An upgraded connection (synq_http_upgrade) belongs to its new owner: the
 * parser is left paused, input goes to the owner as it arrives (first what
 * followed the request head, from the timer so never inside the upgrade
 * call), and the connection timer serves only that hand-off, the shutdown
 * cut-off and the lingering close. */
#include "net/http.h"

#include "core/log.h"
#include "net/listen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a stream ended by shutdown (or an upgraded connection) may take
 * to finish before it is cut. */
#define SHUTDOWN_DRAIN_MS 2000
/* How long a closing connection drains the client's input after our last
 * byte (the lingering close). */
#define LINGER_MS 2000

struct synq_http_server_s {
    uv_loop_t *loop;
    uv_tcp_t listener;
    synq_http_config_t cfg;
    synq_http_handler_cb handler;
    void *arg;
    char addr[64];
    synq_http_conn_t *conns; /* doubly linked */
    size_t nconns;
    bool closing;
    bool listener_closed;
    synq_http_closed_cb closed_cb;
    void *closed_arg;
};

struct synq_http_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer;
    synq_http_server_t *srv;
    synq_http_conn_t *next, *prev;
    synq_reqparser_t parser;
    synq_buf_t in;             /* received, not yet parsed */
    synq_http_req_t *active;   /* handed to the handler, not yet answered */
    synq_http_stream_t *stream; /* the streaming response that owns the connection */
    int handles_open;          /* tcp + timer, freed when both closed */
    uv_shutdown_t shutdown;
    bool reading;
    bool lingering;  /* response sent, write side shut, discarding input */
    bool closing;
    bool close_after_write;
    bool in_parse;
    bool upgraded;             /* handed over by synq_http_upgrade */
    size_t writes_pending;
    synq_http_upgrade_t up;    /* the owner's callbacks, once upgraded */
    void *up_arg;
    uint64_t cut_at;           /* loop time when server shutdown cuts it; 0 = none */
};

typedef struct {
    uv_write_t req;
    synq_http_conn_t *conn;
    char *data;
} write_req_t;

struct synq_http_stream_s {
    synq_http_conn_t *conn; /* NULL once the connection is gone */
    uv_loop_t *loop;
    synq_http_stream_closed_cb on_closed;
    void *arg;
    size_t max_queued_bytes; /* 0 = no bound */
    int reason;   /* the first cause of the end (synq_http_stream_reason_t), or -1 */
    bool chunked; /* HTTP/1.1 chunked coding; else raw bytes until the close */
    bool ended;   /* no more writes: the last chunk is queued (or HEAD) */
};

/* One chunk on the wire: size line, payload (shared, not copied), CRLF. */
typedef struct {
    uv_write_t req;
    synq_http_conn_t *conn;
    synq_rcbuf_t *chunk;
    char size_line[24];
} chunk_req_t;

void synq_http_config_init(synq_http_config_t *cfg)
{
    cfg->max_header_bytes = 16 * 1024;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->max_conns = 10000;
}

const char *synq_http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- requests ---------------------------------------------------------- */

void synq_http_req_on_abort(synq_http_req_t *req, synq_http_abort_cb cb, void *arg)
{
    req->abort_cb = cb;
    req->abort_arg = arg;
}

bool synq_http_req_connected(const synq_http_req_t *req)
{
    return req->conn != NULL && !req->conn->closing;
}

/* ---- connection lifecycle --------------------------------------------- */

static void conn_close(synq_http_conn_t *c);
static void conn_process(synq_http_conn_t *c);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Records why the connection's stream ends; the first cause wins. */
static void stream_note(synq_http_conn_t *c, synq_http_stream_reason_t reason)
{
    if (c->stream && c->stream->reason < 0) c->stream->reason = (int)reason;
}

static synq_http_stream_reason_t write_error_reason(int err)
{
    return err == UV_EPIPE || err == UV_ECONNRESET ? SYNQ_HTTP_STREAM_CLIENT_GONE
                                                   : SYNQ_HTTP_STREAM_ERROR;
}

static void server_maybe_done(synq_http_server_t *srv)
{
    if (!srv->closing || srv->nconns > 0 || !srv->listener_closed) return;
    synq_http_closed_cb cb = srv->closed_cb;
    void *arg = srv->closed_arg;
    free(srv);
    if (cb) cb(NULL, arg);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    synq_http_conn_t *c = h->data;
    if (--c->handles_open > 0) return;
    synq_http_server_t *srv = c->srv;
    if (c->stream) {
        /* the one place on_closed runs: from the loop, after every write
         * callback of the connection (libuv runs those before close) */
        synq_http_stream_t *st = c->stream;
        c->stream = NULL;
        st->conn = NULL;
        int reason = st->reason < 0 ? SYNQ_HTTP_STREAM_CLIENT_GONE : st->reason;
        st->on_closed(st, (synq_http_stream_reason_t)reason, st->arg);
        free(st);
    }
    if (c->upgraded) c->up.on_closed(c, c->up_arg); /* after every write callback too */
    if (c->prev) c->prev->next = c->next; else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->nconns--;
    synq_buf_release(&c->in);
    synq_reqparser_release(&c->parser);
    free(c);
    server_maybe_done(srv);
}

static void conn_close(synq_http_conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    if (c->active) {
        /* the handler still owns it; it learns the client is gone */
        synq_http_req_t *r = c->active;
        c->active = NULL;
        r->conn = NULL;
        if (r->abort_cb) r->abort_cb(r, r->abort_arg);
    }
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void conn_fail(synq_http_conn_t *c, int status, const char *code, const char *message);
static void arm_timer(synq_http_conn_t *c, uint64_t ms);
static void upgraded_deliver(synq_http_conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the linger timer or the client's EOF ends it */
}

/* Closes gracefully after a final response: shut the write side and drain
 * what the client still sends for a moment (ms), so a client in the middle
 * of sending a body it was refused (413) still reads the answer instead of
 * getting a reset (the "lingering close" of HTTP servers). */
static void conn_linger(synq_http_conn_t *c, uint64_t ms)
{
    if (c->closing || c->lingering) return;
    c->lingering = true;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->in.len = 0;
    if (!c->reading) c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    arm_timer(c, ms);
}

static void on_timeout(uv_timer_t *t)
{
    synq_http_conn_t *c = t->data;
    if (c->lingering) {
        conn_close(c);
        return;
    }
    if (c->stream) {
        /* a live stream has no timeout; an ended one did not drain in time */
        if (c->stream->ended) conn_close(c);
        return;
    }
    if (c->upgraded) {
        /* the bytes that came with the request head, then the shutdown cut */
        upgraded_deliver(c);
        if (c->closing || c->lingering || c->cut_at == 0) return;
        uint64_t now = uv_now(c->srv->loop);
        if (now >= c->cut_at)
            conn_close(c);
        else
            arm_timer(c, c->cut_at - now);
        return;
    }
    if (c->active) return; /* the handler has it: no timeout while it works */
    if (synq_reqparser_busy(&c->parser) || c->in.len > 0)
        conn_fail(c, 408, "request_timeout", "request not received in time");
    else
        conn_close(c);
}

static void arm_timer(synq_http_conn_t *c, uint64_t ms)
{
    if (c->closing) return;
    if (c->cut_at) { /* nothing outlives the shutdown cut-off */
        uint64_t now = uv_now(c->srv->loop);
        ms = SYNQ_MIN(ms, c->cut_at > now ? c->cut_at - now : 0);
    }
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    synq_http_conn_t *c = h->data;
    /* an upgraded connection reads small messages for a long time: a
     * smaller buffer keeps thousands of idle ones cheap */
    synq_buf_reserve(&c->in, c->upgraded ? 8 * 1024 : 64 * 1024);
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len - 1;
}

static size_t high_water(const synq_http_conn_t *c)
{
    return c->srv->cfg.max_body_bytes + c->srv->cfg.max_header_bytes + 64 * 1024;
}

/* After any write completes (its request freed): a failed write ends the
 * connection; the last write of a closing response starts the lingering
 * close. */
static void write_finished(synq_http_conn_t *c, int status)
{
    c->writes_pending--;
    if (status < 0) {
        if (status != UV_ECANCELED) stream_note(c, write_error_reason(status));
        conn_close(c);
        return;
    }
    if (c->close_after_write && c->writes_pending == 0) conn_linger(c, LINGER_MS);
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    synq_http_conn_t *c = wr->conn;
    free(wr->data);
    free(wr);
    write_finished(c, status);
}

static void conn_write(synq_http_conn_t *c, char *data, size_t len)
{
    if (c->closing) {
        free(data);
        return;
    }
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int n = c->writes_pending ? 0 : uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len) {
        free(data);
        if (c->close_after_write) conn_linger(c, LINGER_MS);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(data);
        stream_note(c, write_error_reason(n));
        conn_close(c);
        return;
    }
    if (n < 0) n = 0;
    write_req_t *wr = synq_malloc(sizeof *wr);
    wr->conn = c;
    wr->data = data;
    b = uv_buf_init(data + n, (unsigned)(len - (size_t)n));
    c->writes_pending++;
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
    if (rc < 0) {
        c->writes_pending--;
        free(data);
        free(wr);
        stream_note(c, write_error_reason(rc));
        conn_close(c);
    }
}

/* Answers a request that could not be parsed, then closes. */
static void conn_fail(synq_http_conn_t *c, int status, const char *code, const char *message)
{
    c->in.len = 0;
    c->close_after_write = true;
    synq_http_req_t *r = synq_http_req_new();
    r->conn = c;
    c->active = r;
    synq_http_respond_error(r, status, code, message, NULL);
}

/* Parses buffered input and hands out complete requests, one at a time. */
static void conn_process(synq_http_conn_t *c)
{
    if (c->in_parse || c->upgraded) return;
    c->in_parse = true;
    while (!c->closing && c->active == NULL && c->stream == NULL && !c->upgraded &&
           !c->close_after_write) {
        bool was_busy = synq_reqparser_busy(&c->parser);
        if (c->in.len == 0) {
            if (!was_busy) arm_timer(c, c->srv->cfg.idle_timeout_ms);
            break;
        }
        if (!was_busy && c->srv->closing) {
            c->close_after_write = true;
            if (c->writes_pending == 0) conn_close(c);
            break;
        }
        bool had_headers = c->parser.headers_complete;
        size_t used;
        synq_http_req_t *r;
        synq_req_result_t res = synq_reqparser_feed(&c->parser, c->in.data, c->in.len, &used, &r);
        synq_buf_consume(&c->in, used);
        if (res == SYNQ_REQ_ERROR) {
            conn_fail(c, c->parser.error_status, c->parser.error_code, c->parser.error_message);
            break;
        }
        if (c->parser.want_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            c->parser.want_continue = false;
            conn_write(c, synq_strdup(cont), sizeof cont - 1);
        }
        if (res == SYNQ_REQ_AGAIN) {
            /* a request in progress: headers must arrive within header_timeout
             * of its first byte, then the body may not stall past idle_timeout */
            if (!was_busy && synq_reqparser_busy(&c->parser) && !c->parser.headers_complete)
                arm_timer(c, c->srv->cfg.header_timeout_ms);
            else if (c->parser.headers_complete && (!had_headers || used > 0))
                arm_timer(c, c->srv->cfg.idle_timeout_ms);
            break;
        }
        r->conn = c;
        c->active = r;
        uv_timer_stop(&c->timer);
        if (c->srv->closing || r->upgrade) r->keep_alive = false;
        c->srv->handler(r, c->srv->arg);
    }
    c->in_parse = false;
    if (c->upgraded) return; /* synq_http_upgrade started reading */
    if (!c->closing && !c->reading && c->in.len < high_water(c)) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    synq_http_conn_t *c = s->data;
    if (nread < 0) {
        /* EOF or error: answers to pending requests can't be delivered */
        stream_note(c, SYNQ_HTTP_STREAM_CLIENT_GONE);
        conn_close(c);
        return;
    }
    if (nread == 0) return;
    if (c->lingering || c->stream) return; /* discarded (on_alloc reuses the space) */
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    if (c->upgraded) {
        upgraded_deliver(c);
        return;
    }
    if (c->in.len >= high_water(c)) {
        uv_read_stop(s);
        c->reading = false;
    }
    conn_process(c);
}

/* ---- responses --------------------------------------------------------- */

void synq_http_respond(synq_http_req_t *req, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t len)
{
    synq_http_conn_t *c = req->conn;
    if (c == NULL || c->closing) {
        synq_http_req_free(req);
        return;
    }
    bool head = req->method == SYNQ_HTTP_HEAD;
    bool keep = req->keep_alive && !c->close_after_write && !c->srv->closing;
    if (!keep) c->close_after_write = true;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_reserve(&out, 160 + len);
    synq_buf_printf(&out, "HTTP/1.1 %d %s\r\n", status, synq_http_status_text(status));
    if (status != 204 && status != 304) {
        if (content_type) synq_buf_printf(&out, "Content-Type: %s\r\n", content_type);
        synq_buf_printf(&out, "Content-Length: %zu\r\n", len);
    }
    if (!keep) synq_buf_puts(&out, "Connection: close\r\n");
    if (extra_headers) synq_buf_puts(&out, extra_headers);
    synq_buf_puts(&out, "\r\n");
    if (!head && status != 204 && status != 304) synq_buf_append(&out, body, len);
    size_t n;
    char *data = synq_buf_steal(&out, &n);
    if (c->active == req) c->active = NULL;
    synq_http_req_free(req);
    conn_write(c, data, n);
    if (!c->closing) conn_process(c);
}

void synq_http_respond_error(synq_http_req_t *req, int status, const char *code,
                             const char *message, const char *field)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "{\"error\":{\"code\":");
    synq_buf_json_str(&b, code, strlen(code));
    synq_buf_puts(&b, ",\"message\":");
    synq_buf_json_str(&b, message, strlen(message));
    if (field) {
        synq_buf_puts(&b, ",\"field\":");
        synq_buf_json_str(&b, field, strlen(field));
    }
    synq_buf_puts(&b, "}}");
    synq_http_respond(req, status, "application/json", NULL, b.data, b.len);
    synq_buf_release(&b);
}

/* ---- streaming responses ---------------------------------------------- */

/* Stops the stream taking writes: sends the last chunk (RFC 9112 §7.1: a
 * zero size line, no trailers, CRLF), then the connection lingers and closes
 * once everything is written; drain_ms bounds the wait for a client that
 * does not read. */
static void stream_finish(synq_http_stream_t *st, uint64_t drain_ms)
{
    if (st->ended) return;
    st->ended = true;
    synq_http_conn_t *c = st->conn;
    if (c == NULL || c->closing) return;
    c->close_after_write = true;
    arm_timer(c, drain_ms); /* conn_linger re-arms it once the writes are done */
    if (st->chunked) {
        static const char last[] = "0\r\n\r\n";
        conn_write(c, synq_strdup(last), sizeof last - 1);
    } else if (c->writes_pending == 0) {
        conn_linger(c, LINGER_MS);
    }
}

synq_http_stream_t *synq_http_stream_begin(synq_http_req_t *req, int status,
                                           const char *content_type, const char *extra_headers,
                                           size_t max_queued_bytes,
                                           synq_http_stream_closed_cb on_closed, void *arg)
{
    synq_http_conn_t *c = req->conn;
    if (c == NULL || c->closing) {
        synq_http_req_free(req);
        return NULL;
    }
    bool head = req->method == SYNQ_HTTP_HEAD;
    /* The paused parser still holds the version of the request it just
     * completed; an HTTP/1.0 client cannot read chunked coding (RFC 9112
     * §6.1), so its body is delimited by the close instead. */
    bool chunked = c->parser.parser.http_major > 1 ||
                   (c->parser.parser.http_major == 1 && c->parser.parser.http_minor >= 1);
    synq_http_stream_t *st = synq_calloc(1, sizeof *st);
    st->conn = c;
    st->loop = c->srv->loop;
    st->on_closed = on_closed;
    st->arg = arg;
    st->max_queued_bytes = max_queued_bytes;
    st->reason = -1;
    st->chunked = chunked;
    c->stream = st;
    if (c->active == req) c->active = NULL;
    synq_http_req_free(req);
    /* pipelined requests behind this one will not be answered: the
     * connection closes when the stream ends */
    c->in.len = 0;
    uv_timer_stop(&c->timer);

    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_printf(&out, "HTTP/1.1 %d %s\r\n", status, synq_http_status_text(status));
    if (content_type) synq_buf_printf(&out, "Content-Type: %s\r\n", content_type);
    if (chunked) synq_buf_puts(&out, "Transfer-Encoding: chunked\r\n");
    synq_buf_puts(&out, "Connection: close\r\n");
    if (extra_headers) synq_buf_puts(&out, extra_headers);
    synq_buf_puts(&out, "\r\n");
    size_t n;
    char *data = synq_buf_steal(&out, &n);
    conn_write(c, data, n);
    if (c->closing) return st; /* the write failed: on_closed follows */
    if (!c->reading) c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    if (head) {
        /* RFC 9110 §9.3.2: the head a GET would get, and no content */
        stream_note(c, SYNQ_HTTP_STREAM_ENDED);
        st->chunked = false; /* no last chunk either */
        stream_finish(st, c->srv->cfg.idle_timeout_ms);
    } else if (c->srv->closing) {
        stream_note(c, SYNQ_HTTP_STREAM_SHUTDOWN);
        stream_finish(st, SHUTDOWN_DRAIN_MS);
    }
    return st;
}

static void on_chunk_done(uv_write_t *w, int status)
{
    chunk_req_t *wr = (chunk_req_t *)w;
    synq_http_conn_t *c = wr->conn;
    synq_rcbuf_unref(wr->chunk);
    free(wr);
    write_finished(c, status);
}

int synq_http_stream_write(synq_http_stream_t *st, synq_rcbuf_t *chunk)
{
    synq_http_conn_t *c = st->conn;
    if (st->ended || c == NULL || c->closing) return UV_EPIPE;
    size_t len = synq_rcbuf_len(chunk);
    if (len == 0) return 0;
    chunk_req_t *wr = synq_malloc(sizeof *wr);
    uv_buf_t b[3];
    unsigned nb = 0;
    size_t framing = 0;
    if (st->chunked) {
        int hl = snprintf(wr->size_line, sizeof wr->size_line, "%zx\r\n", len);
        b[nb++] = uv_buf_init(wr->size_line, (unsigned)hl);
        framing = (size_t)hl + 2;
    }
    /* Slow consumer: what the socket has not taken stays in libuv's write
     * queue (uv_write first writes what the kernel accepts). A chunk alone
     * may exceed the bound; it is refused only when it would join a backlog. */
    size_t waiting = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (st->max_queued_bytes && waiting > 0 && waiting + len + framing > st->max_queued_bytes) {
        free(wr);
        stream_note(c, SYNQ_HTTP_STREAM_SLOW);
        conn_close(c);
        return SYNQ_ETOOBIG;
    }
    static char crlf[] = "\r\n";
    b[nb++] = uv_buf_init((char *)synq_rcbuf_data(chunk), (unsigned)len);
    if (st->chunked) b[nb++] = uv_buf_init(crlf, 2);
    wr->conn = c;
    wr->chunk = synq_rcbuf_ref(chunk);
    c->writes_pending++;
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, b, nb, on_chunk_done);
    if (rc < 0) {
        c->writes_pending--;
        synq_rcbuf_unref(wr->chunk);
        free(wr);
        stream_note(c, write_error_reason(rc));
        conn_close(c);
        return UV_EPIPE;
    }
    return 0;
}

int synq_http_stream_write_bytes(synq_http_stream_t *st, const char *data, size_t len)
{
    synq_rcbuf_t *rb = synq_rcbuf_new(data, len);
    int rc = synq_http_stream_write(st, rb);
    synq_rcbuf_unref(rb);
    return rc;
}

size_t synq_http_stream_queued(const synq_http_stream_t *st)
{
    const synq_http_conn_t *c = st->conn;
    if (c == NULL || c->closing) return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

uv_loop_t *synq_http_stream_loop(const synq_http_stream_t *st)
{
    return st->loop;
}

bool synq_http_stream_over(const synq_http_stream_t *st)
{
    return st->ended || st->conn == NULL || st->conn->closing;
}

void synq_http_stream_end(synq_http_stream_t *st)
{
    synq_http_conn_t *c = st->conn;
    if (st->ended || c == NULL || c->closing) return;
    stream_note(c, SYNQ_HTTP_STREAM_ENDED);
    stream_finish(st, c->srv->cfg.idle_timeout_ms);
}

/* ---- upgrades ---------------------------------------------------------- */

/* Gives the owner everything buffered. The buffer is emptied before the
 * call: the owner may close the connection inside, and nothing more is
 * appended before the next read callback. */
static void upgraded_deliver(synq_http_conn_t *c)
{
    if (c->closing || c->lingering || c->in.len == 0) return;
    size_t n = c->in.len;
    c->in.len = 0;
    c->up.on_read(c, c->in.data, n, c->up_arg);
    /* the buffer grown for HTTP (or a burst) goes; on_alloc makes a small one */
    if (c->in.cap > 32 * 1024 && c->in.len == 0) {
        synq_buf_release(&c->in);
        synq_buf_init(&c->in);
    }
}

synq_http_conn_t *synq_http_upgrade(synq_http_req_t *req, const char *headers,
                                    const synq_http_upgrade_t *u, void *arg)
{
    synq_http_conn_t *c = req->conn;
    if (c == NULL || c->closing) {
        synq_http_req_free(req);
        return NULL;
    }
    if (c->srv->closing) {
        synq_http_respond_error(req, 503, "shutting_down", "the server is shutting down", NULL);
        return NULL;
    }
    if (c->active == req) c->active = NULL;
    synq_http_req_free(req);
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_printf(&out, "HTTP/1.1 101 %s\r\n", synq_http_status_text(101));
    if (headers) synq_buf_puts(&out, headers);
    synq_buf_puts(&out, "\r\n");
    size_t n;
    char *data = synq_buf_steal(&out, &n);
    conn_write(c, data, n);
    if (c->closing) return NULL; /* the write failed: nobody takes it over */
    c->upgraded = true;
    c->up = *u;
    c->up_arg = arg;
    uv_timer_stop(&c->timer);
    if (!c->reading) c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    /* bytes the client sent right behind the head (its first frames) go to
     * the owner from the loop, never from inside this call */
    if (c->in.len > 0) arm_timer(c, 0);
    return c;
}

uv_stream_t *synq_http_conn_stream(synq_http_conn_t *c)
{
    return (uv_stream_t *)&c->tcp;
}

void synq_http_conn_close(synq_http_conn_t *c, uint64_t linger_ms)
{
    if (c->closing) return;
    if (linger_ms == 0 || c->lingering)
        conn_close(c);
    else
        conn_linger(c, linger_ms);
}

/* ---- server ------------------------------------------------------------ */

static void on_connection(uv_stream_t *l, int status)
{
    synq_http_server_t *srv = l->data;
    if (status < 0 || srv->closing) return;
    synq_http_conn_t *c = synq_calloc(1, sizeof *c);
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    c->next = srv->conns;
    if (srv->conns) srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    synq_buf_init(&c->in);
    synq_reqparser_init(&c->parser, srv->cfg.max_header_bytes, srv->cfg.max_body_bytes);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || srv->nconns > srv->cfg.max_conns) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    arm_timer(c, srv->cfg.idle_timeout_ms);
}

synq_http_server_t *synq_http_server_start(uv_loop_t *loop, const char *addr,
                                           const synq_http_config_t *cfg,
                                           synq_http_handler_cb handler, void *arg, int *err)
{
    synq_http_server_t *srv = synq_calloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->handler = handler;
    srv->arg = arg;
    int rc = synq_listen(loop, &srv->listener, addr, on_connection, srv->addr, sizeof srv->addr);
    srv->listener.data = srv;
    if (rc < 0) {
        *err = rc;
        srv->closing = true;
        srv->listener_closed = false;
        uv_close((uv_handle_t *)&srv->listener, NULL);
        /* freed after the close completes: leak-free once the loop runs */
        uv_run(loop, UV_RUN_NOWAIT);
        free(srv);
        return NULL;
    }
    return srv;
}

const char *synq_http_server_addr(const synq_http_server_t *srv)
{
    return srv->addr;
}

size_t synq_http_server_conn_count(const synq_http_server_t *srv)
{
    return srv->nconns;
}

static void on_listener_closed(uv_handle_t *h)
{
    synq_http_server_t *srv = h->data;
    srv->listener_closed = true;
    server_maybe_done(srv);
}

void synq_http_server_close(synq_http_server_t *srv, synq_http_closed_cb cb, void *arg)
{
    srv->closing = true;
    srv->closed_cb = cb;
    srv->closed_arg = arg;
    for (synq_http_conn_t *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing) continue;
        if (c->upgraded) {
            /* the owner is told and finishes its own way (a WebSocket sends
             * Close 1001); whatever it does, the connection is cut after
             * SHUTDOWN_DRAIN_MS */
            c->cut_at = uv_now(srv->loop) + SHUTDOWN_DRAIN_MS;
            if (c->up.on_shutdown) c->up.on_shutdown(c, c->up_arg);
            if (!c->closing && c->in.len == 0) arm_timer(c, SHUTDOWN_DRAIN_MS);
            continue;
        }
        if (c->stream) {
            synq_http_stream_t *st = c->stream;
            stream_note(c, SYNQ_HTTP_STREAM_SHUTDOWN);
            if (!st->ended)
                stream_finish(st, SHUTDOWN_DRAIN_MS);
            else if (!c->lingering)
                arm_timer(c, SHUTDOWN_DRAIN_MS); /* ended earlier: drain, but not for long */
            continue;
        }
        if (c->active != NULL) continue; /* closes after its response */
        if (c->writes_pending == 0)
            conn_close(c);
        else
            c->close_after_write = true;
    }
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}
