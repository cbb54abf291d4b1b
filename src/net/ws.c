/* WebSocket connections: the opening handshake on an HTTP request, then a
 * protocol session (net/ws_proto.h) on the connection the HTTP server hands
 * over, with the writes, the bound on what waits unsent, and the closing
 * handshake's timing.
 *
 * All output goes through uv_write in whole frames: the session's own
 * (pong, Close) as soon as an operation produced them, and data frames
 * (built by synq_ws_frame, often shared) as they are sent. libuv keeps the
 * order of writes, so frames never interleave. While a write is in flight,
 * further frames wait in `pend` and go out together, in one writev, when it
 * completes: a connection fed many publications in one loop turn (a fan-out
 * under load) costs one system call, not one per frame.
 *
 * Closing (RFC 6455 §7.1): after both Close frames, or after failing the
 * connection, the server closes TCP first; it does so as a lingering close
 * (the write side is shut once our Close is out, input is discarded until
 * the client closes or close_timeout_ms pass), so unread client bytes do
 * not turn our Close into a reset the client never reads. After our own
 * synq_ws_close the client has close_timeout_ms to answer. */
#include "net/ws.h"

#include "net/ws_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

struct synq_ws_s {
    uv_timer_t timer;       /* close timeout; the struct is freed in its close callback */
    synq_http_conn_t *conn; /* NULL once the connection is gone */
    uv_stream_t *stream;
    synq_ws_session_t *sess;
    synq_ws_config_t cfg;
    synq_ws_handlers_t h;
    void *arg;
    bool deflate;   /* permessage-deflate negotiated */
    bool closing;   /* sends fail */
    bool finishing; /* the TCP close is under way */
    bool in_read;   /* inside the session's feed: its output is flushed after */
    char peer[80];  /* "[ipv6]:port" */
    unsigned inflight;    /* uv_writes not completed */
    synq_rcbuf_t **pend;  /* frames waiting for the write in flight */
    size_t npend, cappend, pend_bytes;
};

typedef struct {
    uv_write_t req;
    synq_ws_t *ws;
    size_t n;
    synq_rcbuf_t *frames[];
} ws_write_t;

void synq_ws_config_init(synq_ws_config_t *cfg)
{
    cfg->max_message = 65536;
    cfg->max_queued_bytes = 1024 * 1024;
    cfg->deflate = true;
    cfg->deflate_min = 128;
    cfg->origins = NULL;
    cfg->close_timeout_ms = 2000;
}

/* ---- frames ---------------------------------------------------------------- */

/* Raw DEFLATE of data with a sync flush (RFC 7692 §7.2.1), appended to out,
 * the trailing 00 00 ff ff included. One compressor per thread, reset for
 * every frame: no context takeover, so any connection can take the frame. */
static void deflate_raw(const char *data, size_t len, synq_buf_t *out)
{
    static _Thread_local z_stream z;
    static _Thread_local bool ready;
    if (!ready) {
        memset(&z, 0, sizeof z);
        if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
            Z_OK) {
            fprintf(stderr, "synq: out of memory (zlib)\n");
            abort();
        }
        ready = true;
    } else {
        deflateReset(&z);
    }
    synq_buf_reserve(out, deflateBound(&z, (uLong)len) + 16);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    do {
        if (out->cap - out->len - 1 < 64) synq_buf_reserve(out, 4096);
        size_t room = out->cap - out->len - 1;
        z.next_out = (Bytef *)(out->data + out->len);
        z.avail_out = (uInt)room;
        deflate(&z, Z_SYNC_FLUSH);
        out->len += room - z.avail_out;
    } while (z.avail_out == 0);
    out->data[out->len] = '\0';
}

synq_rcbuf_t *synq_ws_frame(const char *data, size_t len, bool deflate)
{
    uint8_t hdr[10];
    synq_buf_t b;
    synq_buf_init(&b);
    if (!deflate) {
        size_t hl = synq_ws_frame_header(hdr, SYNQ_WS_OP_TEXT, false, len);
        synq_buf_reserve(&b, hl + len);
        synq_buf_append(&b, hdr, hl);
        synq_buf_append(&b, data, len);
        return synq_rcbuf_from_buf(&b);
    }
    synq_buf_t z;
    synq_buf_init(&z);
    deflate_raw(data, len, &z);
    /* §7.2.1: remove the 00 00 ff ff the sync flush ends with (an empty
     * message leaves the single 00 byte of §7.2.3.6) */
    size_t plen = z.len >= 4 ? z.len - 4 : z.len;
    size_t hl = synq_ws_frame_header(hdr, SYNQ_WS_OP_TEXT, true, plen);
    synq_buf_reserve(&b, hl + plen);
    synq_buf_append(&b, hdr, hl);
    synq_buf_append(&b, z.data, plen);
    synq_buf_release(&z);
    return synq_rcbuf_from_buf(&b);
}

/* ---- writes ---------------------------------------------------------------- */

static void ws_fail_io(synq_ws_t *ws)
{
    ws->closing = true;
    ws->finishing = true;
    if (ws->conn) synq_http_conn_close(ws->conn, 0);
}

static void flush_pending(synq_ws_t *ws);

static void on_written(uv_write_t *w, int status)
{
    /* always before on_closed: libuv completes (or cancels) every write
     * before the handle's close callback */
    ws_write_t *wr = (ws_write_t *)w;
    synq_ws_t *ws = wr->ws;
    for (size_t i = 0; i < wr->n; i++) synq_rcbuf_unref(wr->frames[i]);
    free(wr);
    ws->inflight--;
    if (status < 0 && status != UV_ECANCELED) {
        ws_fail_io(ws);
        return;
    }
    if (ws->inflight == 0) flush_pending(ws);
}

/* Writes frames[0..n) (references taken over) in one uv_write. */
static int write_frames(synq_ws_t *ws, synq_rcbuf_t **frames, size_t n)
{
    ws_write_t *wr = synq_malloc(sizeof *wr + n * sizeof wr->frames[0]);
    wr->ws = ws;
    wr->n = n;
    uv_buf_t small[16];
    uv_buf_t *bufs = n <= SYNQ_ARRAY_LEN(small) ? small : synq_malloc(n * sizeof *bufs);
    for (size_t i = 0; i < n; i++) {
        wr->frames[i] = frames[i];
        bufs[i] = uv_buf_init((char *)synq_rcbuf_data(frames[i]),
                              (unsigned)synq_rcbuf_len(frames[i]));
    }
    /* libuv copies the buffer array; the bytes stay referenced by wr */
    int rc = uv_write(&wr->req, ws->stream, bufs, (unsigned)n, on_written);
    if (bufs != small) free(bufs);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) synq_rcbuf_unref(wr->frames[i]);
        free(wr);
        ws_fail_io(ws);
        return UV_EPIPE;
    }
    ws->inflight++;
    return 0;
}

static void drop_pending(synq_ws_t *ws)
{
    for (size_t i = 0; i < ws->npend; i++) synq_rcbuf_unref(ws->pend[i]);
    ws->npend = 0;
    ws->pend_bytes = 0;
}

/* Sends every waiting frame now, in one write. */
static void flush_pending(synq_ws_t *ws)
{
    if (ws->npend == 0) return;
    if (ws->conn == NULL || ws->stream == NULL) {
        drop_pending(ws);
        return;
    }
    size_t n = ws->npend;
    ws->npend = 0;
    ws->pend_bytes = 0;
    write_frames(ws, ws->pend, n);
}

static int ws_write(synq_ws_t *ws, synq_rcbuf_t *frame)
{
    synq_rcbuf_ref(frame);
    if (ws->inflight == 0) return write_frames(ws, &frame, 1);
    if (ws->npend == ws->cappend) {
        ws->cappend = ws->cappend ? ws->cappend * 2 : 8;
        ws->pend = synq_realloc(ws->pend, ws->cappend * sizeof *ws->pend);
    }
    ws->pend[ws->npend++] = frame;
    ws->pend_bytes += synq_rcbuf_len(frame);
    return 0;
}

/* Writes what the session produced, then acts on its state: once both
 * Close frames are out, or the session failed the connection, TCP closes. */
static void ws_update(synq_ws_t *ws)
{
    synq_buf_t *out = synq_ws_session_output(ws->sess);
    if (ws->conn == NULL || ws->finishing) {
        out->len = 0; /* too late for it */
        return;
    }
    if (out->len > 0) {
        synq_rcbuf_t *rb = synq_rcbuf_from_buf(out);
        ws_write(ws, rb);
        synq_rcbuf_unref(rb);
    }
    if (ws->conn == NULL || ws->finishing) return;
    if (!synq_ws_session_close_sent(ws->sess)) return;
    ws->closing = true;
    if (synq_ws_session_close_received(ws->sess) || !synq_ws_session_reading(ws->sess)) {
        ws->finishing = true;
        flush_pending(ws); /* the lingering close sends what was written */
        uv_timer_stop(&ws->timer);
        synq_http_conn_close(ws->conn, ws->cfg.close_timeout_ms);
    }
}

/* ---- connection callbacks --------------------------------------------------- */

static void on_session_message(const char *data, size_t len, bool binary, void *arg)
{
    synq_ws_t *ws = arg;
    if (ws->closing) return;
    ws->h.on_message(ws, data, len, binary, ws->arg);
}

static void on_conn_read(synq_http_conn_t *c, const char *data, size_t len, void *arg)
{
    synq_ws_t *ws = arg;
    if (ws->finishing) return;
    ws->in_read = true;
    synq_ws_session_feed(ws->sess, data, len);
    ws->in_read = false;
    ws_update(ws);
}

static void on_conn_shutdown(synq_http_conn_t *c, void *arg)
{
    synq_ws_close(arg, SYNQ_WS_CLOSE_GOING_AWAY, "server shutting down");
}

static void on_timer_closed(uv_handle_t *h)
{
    synq_ws_t *ws = h->data;
    synq_ws_session_free(ws->sess);
    drop_pending(ws);
    free(ws->pend);
    free(ws);
}

static void on_conn_closed(synq_http_conn_t *c, void *arg)
{
    synq_ws_t *ws = arg;
    ws->conn = NULL;
    ws->stream = NULL;
    ws->closing = true;
    drop_pending(ws);
    uv_timer_stop(&ws->timer);
    int code = synq_ws_session_code(ws->sess);
    ws->h.on_close(ws, code ? code : SYNQ_WS_CLOSE_ABNORMAL, ws->arg);
    uv_close((uv_handle_t *)&ws->timer, on_timer_closed);
}

static void on_close_timeout(uv_timer_t *t)
{
    synq_ws_t *ws = t->data;
    /* the client did not answer our Close in time */
    if (ws->conn && !ws->finishing) {
        ws->finishing = true;
        synq_http_conn_close(ws->conn, 0);
    }
}

/* ---- handshake --------------------------------------------------------------- */

/* True when the comma-separated list value contains token (case-insensitive). */
static bool has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - p) == tlen && strncasecmp(p, token, tlen) == 0) return true;
        p = end;
    }
    return false;
}

/* value without the surrounding whitespace: *start, returns the length */
static size_t trimmed(const char *value, const char **start)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    *start = value;
    return n;
}

static bool origin_allowed(const char *origins, const char *origin)
{
    if (origins == NULL || origin == NULL) return true;
    const char *o;
    size_t olen = trimmed(origin, &o);
    const char *p = origins;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > p && (size_t)(e - p) == olen && memcmp(p, o, olen) == 0) return true;
        p = end;
    }
    return false;
}

/* 426 with the version we speak (§4.4), the JSON error body of every other
 * answer. */
static void respond_version(synq_http_req_t *req)
{
    static const char body[] = "{\"error\":{\"code\":\"upgrade_required\",\"message\":"
                               "\"unsupported WebSocket version (13 is supported)\"}}";
    synq_http_respond(req, 426, "application/json", "Sec-WebSocket-Version: 13\r\n", body,
                      sizeof body - 1);
}

bool synq_ws_is_upgrade(const synq_http_req_t *req)
{
    const char *up = synq_http_req_header(req, "upgrade");
    return up != NULL && has_token(up, "websocket");
}

static void peer_name(uv_stream_t *s, char *out, size_t outlen)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char ip[48] = "?";
    snprintf(out, outlen, "?");
    if (uv_tcp_getpeername((uv_tcp_t *)s, (struct sockaddr *)&sa, &len) != 0) return;
    if (sa.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&sa, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%d", ip, ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    } else {
        uv_ip4_name((struct sockaddr_in *)&sa, ip, sizeof ip);
        snprintf(out, outlen, "%s:%d", ip, ntohs(((struct sockaddr_in *)&sa)->sin_port));
    }
}

synq_ws_t *synq_ws_accept(synq_http_req_t *req, const synq_ws_config_t *cfg,
                          const synq_ws_handlers_t *h, void *arg)
{
    /* §4.2.1: the client's handshake */
    if (req->method != SYNQ_HTTP_GET) {
        synq_http_respond_error(req, 400, "bad_handshake", "a WebSocket handshake is a GET", NULL);
        return NULL;
    }
    const char *conn_hdr = synq_http_req_header(req, "connection");
    if (!synq_ws_is_upgrade(req) || conn_hdr == NULL || !has_token(conn_hdr, "upgrade")) {
        synq_http_respond_error(req, 400, "bad_handshake",
                                "Upgrade: websocket and Connection: Upgrade required", NULL);
        return NULL;
    }
    const char *version = synq_http_req_header(req, "sec-websocket-version");
    const char *v;
    size_t vlen = version ? trimmed(version, &v) : 0;
    if (version == NULL || vlen != 2 || memcmp(v, "13", 2) != 0) {
        respond_version(req);
        return NULL;
    }
    const char *key_hdr = synq_http_req_header(req, "sec-websocket-key");
    const char *key;
    size_t klen = key_hdr ? trimmed(key_hdr, &key) : 0;
    char accept[29];
    if (key_hdr == NULL || synq_ws_accept_key(key, klen, accept) != 0) {
        synq_http_respond_error(req, 400, "bad_handshake",
                                "Sec-WebSocket-Key must be 16 bytes in base64", NULL);
        return NULL;
    }
    /* §10.2: browsers send Origin; an allow-list keeps other sites' pages
     * from connecting with the user's cookies */
    if (!origin_allowed(cfg->origins, synq_http_req_header(req, "origin"))) {
        synq_http_respond_error(req, 403, "origin_not_allowed", "Origin not allowed", NULL);
        return NULL;
    }
    /* permessage-deflate: every Sec-WebSocket-Extensions line, in order */
    synq_ws_pmd_t pmd;
    bool deflate = false;
    if (cfg->deflate) {
        synq_buf_t ext;
        synq_buf_init(&ext);
        for (size_t i = 0; i < req->nheaders; i++) {
            if (strcmp(req->headers[i].name, "sec-websocket-extensions") != 0) continue;
            if (ext.len) synq_buf_puts(&ext, ", ");
            synq_buf_puts(&ext, req->headers[i].value);
        }
        deflate = ext.len > 0 && synq_ws_pmd_negotiate(ext.data, ext.len, &pmd);
        synq_buf_release(&ext);
    }

    synq_buf_t head;
    synq_buf_init(&head);
    synq_buf_printf(&head,
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: %s\r\n",
                    accept);
    if (deflate) {
        synq_buf_puts(&head, "Sec-WebSocket-Extensions: ");
        synq_ws_pmd_response(&pmd, &head);
        synq_buf_puts(&head, "\r\n");
    }

    synq_ws_t *ws = synq_calloc(1, sizeof *ws);
    ws->cfg = *cfg;
    ws->cfg.origins = NULL; /* borrowed: not kept */
    ws->h = *h;
    ws->arg = arg;
    ws->deflate = deflate;
    ws->sess = synq_ws_session_new(cfg->max_message, deflate ? &pmd : NULL, on_session_message, ws);
    static const synq_http_upgrade_t up = {
        .on_read = on_conn_read,
        .on_shutdown = on_conn_shutdown,
        .on_closed = on_conn_closed,
    };
    ws->conn = synq_http_upgrade(req, head.data, &up, ws);
    synq_buf_release(&head);
    if (ws->conn == NULL) {
        synq_ws_session_free(ws->sess);
        free(ws);
        return NULL;
    }
    ws->stream = synq_http_conn_stream(ws->conn);
    uv_timer_init(ws->stream->loop, &ws->timer);
    ws->timer.data = ws;
    peer_name(ws->stream, ws->peer, sizeof ws->peer);
    return ws;
}

/* ---- sending and closing ------------------------------------------------------- */

bool synq_ws_deflate(const synq_ws_t *ws)
{
    return ws->deflate;
}

size_t synq_ws_deflate_min(const synq_ws_t *ws)
{
    return ws->cfg.deflate_min;
}

size_t synq_ws_queued(const synq_ws_t *ws)
{
    return ws->stream ? uv_stream_get_write_queue_size(ws->stream) + ws->pend_bytes : 0;
}

bool synq_ws_closing(const synq_ws_t *ws)
{
    return ws->closing || ws->conn == NULL;
}

const char *synq_ws_peer(const synq_ws_t *ws)
{
    return ws->peer;
}

int synq_ws_send_frame(synq_ws_t *ws, synq_rcbuf_t *frame)
{
    if (synq_ws_closing(ws)) return UV_EPIPE;
    size_t waiting = synq_ws_queued(ws);
    if (waiting > 0 && waiting + synq_rcbuf_len(frame) > ws->cfg.max_queued_bytes)
        return SYNQ_ETOOBIG;
    return ws_write(ws, frame);
}

int synq_ws_send_text(synq_ws_t *ws, const char *data, size_t len)
{
    if (synq_ws_closing(ws)) return UV_EPIPE;
    bool compress = ws->deflate && len >= ws->cfg.deflate_min;
    size_t waiting = synq_ws_queued(ws);
    if (!compress && waiting > 0 && waiting + len > ws->cfg.max_queued_bytes)
        return SYNQ_ETOOBIG; /* known before building the frame */
    synq_rcbuf_t *f = synq_ws_frame(data, len, compress);
    int rc = synq_ws_send_frame(ws, f);
    synq_rcbuf_unref(f);
    return rc;
}

void synq_ws_close(synq_ws_t *ws, int code, const char *reason)
{
    if (synq_ws_closing(ws)) return;
    ws->closing = true;
    if (!synq_ws_close_code_valid(code)) code = SYNQ_WS_CLOSE_INTERNAL;
    synq_ws_session_close(ws->sess, code, reason, reason ? strlen(reason) : 0);
    uv_timer_start(&ws->timer, on_close_timeout, ws->cfg.close_timeout_ms, 0);
    if (!ws->in_read) ws_update(ws); /* else on_conn_read does it after the feed */
}
