/* HTTP/1.1 server: connections, parsing (http-parser), limits, responses.
 *
 * One request is handled at a time per connection. When a request completes
 * the parser is paused, so bytes of pipelined requests stay in the input
 * buffer until the current response is sent; reading continues meanwhile
 * (to notice a client that goes away), bounded by a high-water mark. */
#include "net/http.h"

#include "core/log.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    http_parser parser;
    synq_buf_t in;             /* received, not yet parsed */
    synq_http_req_t *parsing;  /* request being parsed */
    synq_http_req_t *active;   /* handed to the handler, not yet answered */
    int error_status;          /* set by a parser callback that rejects the request */
    const char *error_code;
    int handles_open;          /* tcp + timer, freed when both closed */
    bool reading;
    bool closing;
    bool close_after_write;
    bool in_parse;
    size_t writes_pending;
};

typedef struct {
    uv_write_t req;
    synq_http_conn_t *conn;
    char *data;
} write_req_t;

static http_parser_settings settings;

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

static synq_http_req_t *req_new(synq_http_conn_t *c)
{
    synq_http_req_t *r = synq_calloc(1, sizeof *r);
    r->conn = c;
    synq_buf_init(&r->body);
    synq_buf_init(&r->url);
    return r;
}

static void req_free(synq_http_req_t *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->path);
    free(r->query);
    synq_buf_release(&r->body);
    synq_buf_release(&r->url);
    free(r);
}

const char *synq_http_req_header(const synq_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into out; '+' means space (form encoding). */
static int pct_decode(const char *src, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            ch = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (int)o;
}

int synq_http_req_query(const synq_http_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query == NULL) return -1;
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            if (eq == NULL) {
                if (outlen == 0) return -1;
                out[0] = '\0';
                return 0;
            }
            return pct_decode(eq + 1, seg - klen - 1, out, outlen);
        }
        p += seg;
        if (*p == '&') p++;
    }
    return -1;
}

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
    if (c->prev) c->prev->next = c->next; else srv->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    srv->nconns--;
    synq_buf_release(&c->in);
    free(c);
    server_maybe_done(srv);
}

static void conn_close(synq_http_conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    if (c->parsing) {
        req_free(c->parsing);
        c->parsing = NULL;
    }
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

static void on_timeout(uv_timer_t *t)
{
    synq_http_conn_t *c = t->data;
    if (c->active) return; /* handler has it: no timeout while it works */
    if (c->parsing || c->in.len > 0) {
        /* request started but its headers or body stalled */
        synq_log(SYNQ_LOG_DEBUG, "request timeout", NULL);
        c->error_status = 408;
        c->error_code = "request_timeout";
        synq_http_req_t *r = req_new(c);
        r->keep_alive = false;
        c->close_after_write = true;
        if (c->parsing) req_free(c->parsing);
        c->parsing = NULL;
        c->active = r;
        synq_http_respond_error(r, 408, "request_timeout", "request not received in time", NULL);
    } else {
        conn_close(c);
    }
}

static void arm_timer(synq_http_conn_t *c, uint64_t ms)
{
    if (!c->closing) uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    synq_http_conn_t *c = h->data;
    synq_buf_reserve(&c->in, 64 * 1024);
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len - 1;
}

static size_t high_water(const synq_http_conn_t *c)
{
    return c->srv->cfg.max_body_bytes + c->srv->cfg.max_header_bytes + 64 * 1024;
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    synq_http_conn_t *c = wr->conn;
    free(wr->data);
    free(wr);
    c->writes_pending--;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write && c->writes_pending == 0) conn_close(c);
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
        if (c->close_after_write) conn_close(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(data);
        conn_close(c);
        return;
    }
    if (n < 0) n = 0;
    write_req_t *wr = synq_malloc(sizeof *wr);
    wr->conn = c;
    wr->data = data;
    b = uv_buf_init(data + n, (unsigned)(len - (size_t)n));
    c->writes_pending++;
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) < 0) {
        c->writes_pending--;
        free(data);
        free(wr);
        conn_close(c);
    }
}

/* ---- parser callbacks -------------------------------------------------- */

static int reject(synq_http_conn_t *c, int status, const char *code)
{
    c->error_status = status;
    c->error_code = code;
    return 1;
}

static int count_header(synq_http_conn_t *c, size_t n)
{
    c->parsing->header_bytes += n;
    return c->parsing->header_bytes > c->srv->cfg.max_header_bytes;
}

static int on_message_begin(http_parser *p)
{
    synq_http_conn_t *c = p->data;
    c->parsing = req_new(c);
    arm_timer(c, c->srv->cfg.header_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    synq_http_conn_t *c = p->data;
    if (count_header(c, len)) return reject(c, 431, "headers_too_large");
    synq_buf_append(&c->parsing->url, at, len);
    return 0;
}

#define MAX_HEADERS 128

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    synq_http_conn_t *c = p->data;
    synq_http_req_t *r = c->parsing;
    if (count_header(c, len + 4)) return reject(c, 431, "headers_too_large");
    if (r->nheaders == 0 || r->last_was_value) {
        if (r->nheaders == MAX_HEADERS) return reject(c, 431, "headers_too_large");
        if ((r->nheaders & (r->nheaders - 1)) == 0 || r->nheaders == 0)
            r->headers = synq_realloc(r->headers, (r->nheaders ? r->nheaders * 2 : 8) *
                                                      sizeof *r->headers);
        r->headers[r->nheaders].name = synq_strdup("");
        r->headers[r->nheaders].value = synq_strdup("");
        r->nheaders++;
        r->last_was_value = false;
    }
    synq_http_header_t *h = &r->headers[r->nheaders - 1];
    size_t old = strlen(h->name);
    h->name = synq_realloc(h->name, old + len + 1);
    for (size_t i = 0; i < len; i++) h->name[old + i] = (char)tolower((unsigned char)at[i]);
    h->name[old + len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    synq_http_conn_t *c = p->data;
    synq_http_req_t *r = c->parsing;
    if (count_header(c, len)) return reject(c, 431, "headers_too_large");
    if (r->nheaders == 0) return reject(c, 400, "bad_request");
    synq_http_header_t *h = &r->headers[r->nheaders - 1];
    size_t old = strlen(h->value);
    h->value = synq_realloc(h->value, old + len + 1);
    memcpy(h->value + old, at, len);
    h->value[old + len] = '\0';
    r->last_was_value = true;
    return 0;
}

static const struct {
    enum http_method m;
    synq_http_method_t ours;
} methods[] = {
    {HTTP_GET, SYNQ_HTTP_GET},       {HTTP_HEAD, SYNQ_HTTP_HEAD},
    {HTTP_POST, SYNQ_HTTP_POST},     {HTTP_PUT, SYNQ_HTTP_PUT},
    {HTTP_DELETE, SYNQ_HTTP_DELETE}, {HTTP_PATCH, SYNQ_HTTP_PATCH},
    {HTTP_OPTIONS, SYNQ_HTTP_OPTIONS},
};

static int on_headers_complete(http_parser *p)
{
    synq_http_conn_t *c = p->data;
    synq_http_req_t *r = c->parsing;
    r->method = SYNQ_HTTP_OTHER;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(methods); i++)
        if (methods[i].m == p->method) r->method = methods[i].ours;
    r->method_name = http_method_str(p->method);
    r->keep_alive = http_should_keep_alive(p) != 0;

    /* split path and query; only origin-form targets are served */
    const char *url = r->url.data ? r->url.data : "";
    if (url[0] != '/') return reject(c, 400, "bad_request");
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    const char *hash = memchr(url, '#', plen);
    if (hash) plen = (size_t)(hash - url);
    r->path = synq_strndup(url, plen);
    if (q) r->query = synq_strdup(q + 1);

    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->cfg.max_body_bytes)
        return reject(c, 413, "payload_too_large");
    const char *expect = synq_http_req_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) r->expect_continue = true;
    if (r->expect_continue && !c->closing) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, synq_strdup(cont), sizeof cont - 1);
    }
    arm_timer(c, c->srv->cfg.idle_timeout_ms);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    synq_http_conn_t *c = p->data;
    synq_http_req_t *r = c->parsing;
    if (r->body.len + len > c->srv->cfg.max_body_bytes) return reject(c, 413, "payload_too_large");
    synq_buf_append(&r->body, at, len);
    arm_timer(c, c->srv->cfg.idle_timeout_ms);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    synq_http_conn_t *c = p->data;
    c->active = c->parsing;
    c->parsing = NULL;
    if (c->active->body.data == NULL) synq_buf_reserve(&c->active->body, 0);
    http_parser_pause(p, 1);
    return 0;
}

/* Parses buffered input and hands out complete requests, one at a time. */
static void conn_process(synq_http_conn_t *c)
{
    if (c->in_parse) return;
    c->in_parse = true;
    while (!c->closing && c->active == NULL && !c->close_after_write) {
        if (c->in.len == 0) {
            if (c->parsing == NULL) arm_timer(c, c->srv->cfg.idle_timeout_ms);
            break;
        }
        if (c->parsing == NULL && c->srv->closing) {
            c->close_after_write = true;
            if (c->writes_pending == 0) conn_close(c);
            break;
        }
        http_parser_pause(&c->parser, 0);
        size_t n = http_parser_execute(&c->parser, &settings, c->in.data, c->in.len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            synq_buf_consume(&c->in, n);
        } else if (e != HPE_OK || c->parser.upgrade) {
            int status = c->error_status ? c->error_status : 400;
            const char *code = c->error_code ? c->error_code : "bad_request";
            const char *msg = status == 431   ? "request header block too large"
                              : status == 413 ? "request body too large"
                              : c->parser.upgrade ? "protocol upgrade not supported here"
                                                  : http_errno_description(e);
            if (e == HPE_HEADER_OVERFLOW) status = 431, code = "headers_too_large";
            if (c->parsing) req_free(c->parsing);
            c->parsing = NULL;
            c->in.len = 0;
            c->close_after_write = true;
            synq_http_req_t *r = req_new(c);
            c->active = r;
            synq_http_respond_error(r, status, code, msg, NULL);
            break;
        } else {
            synq_buf_consume(&c->in, n); /* partial request: wait for more */
            break;
        }
        if (c->active) {
            synq_http_req_t *r = c->active;
            uv_timer_stop(&c->timer);
            if (c->srv->closing) r->keep_alive = false;
            c->srv->handler(r, c->srv->arg);
        }
    }
    c->in_parse = false;
    if (!c->closing && !c->reading && c->in.len < high_water(c)) {
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    synq_http_conn_t *c = s->data;
    if (nread < 0) {
        /* EOF or error: answers to pending requests can't be delivered */
        conn_close(c);
        return;
    }
    if (nread == 0) return;
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
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
        req_free(req);
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
    req_free(req);
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
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
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
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    char host[64];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= sizeof host) {
        *err = SYNQ_EINVAL;
        return NULL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        *err = SYNQ_EINVAL;
        return NULL;
    }
    struct sockaddr_storage sa;
    int rc = uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)&sa);
    if (rc < 0) {
        char h6[64];
        snprintf(h6, sizeof h6, "%s", host);
        if (h6[0] == '[') { /* [::1]:7700 */
            memmove(h6, h6 + 1, strlen(h6));
            char *rb = strchr(h6, ']');
            if (rb) *rb = '\0';
        }
        rc = uv_ip6_addr(h6, (int)port, (struct sockaddr_in6 *)&sa);
    }
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    synq_http_server_t *srv = synq_calloc(1, sizeof *srv);
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->handler = handler;
    srv->arg = arg;
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection);
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
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
    char ip[48] = "";
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
        snprintf(srv->addr, sizeof srv->addr, "[%s]:%d", ip,
                 ntohs(((struct sockaddr_in6 *)&bound)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
        snprintf(srv->addr, sizeof srv->addr, "%s:%d", ip,
                 ntohs(((struct sockaddr_in *)&bound)->sin_port));
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
        if (c->active != NULL) continue; /* closes after its response */
        if (c->writes_pending == 0)
            conn_close(c);
        else
            c->close_after_write = true;
    }
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}
