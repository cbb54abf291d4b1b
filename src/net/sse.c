/* Server-Sent Events: the event formatter and the stream writer with its
 * keep-alive timer. */
#include "net/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct synq_sse_s {
    uv_timer_t timer;       /* keep-alive; freed with the struct in its close callback */
    synq_http_stream_t *st; /* NULL once the stream is closed */
    uint64_t keepalive_ms;
    synq_sse_close_cb on_close;
    void *arg;
};

void synq_sse_config_init(synq_sse_config_t *cfg)
{
    cfg->keepalive_ms = 15000;
    cfg->retry_ms = 2000;
    cfg->max_queued_bytes = 1024 * 1024;
    cfg->extra_headers = NULL;
}

const char *synq_sse_close_reason(synq_sse_close_t reason)
{
    switch (reason) {
    case SYNQ_SSE_CLOSE_ENDED:
        return "ended";
    case SYNQ_SSE_CLOSE_CLIENT_GONE:
        return "client_gone";
    case SYNQ_SSE_CLOSE_SLOW:
        return "slow_consumer";
    case SYNQ_SSE_CLOSE_ERROR:
        return "write_error";
    case SYNQ_SSE_CLOSE_SHUTDOWN:
        return "shutdown";
    }
    return "unknown";
}

/* ---- formatter ------------------------------------------------------------ */

static bool has_line_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int synq_sse_format(synq_buf_t *out, const char *id, const char *event, const char *data,
                    size_t len)
{
    /* A CR or LF would end the field and start another line the value
     * controls; an id with NUL is ignored by the client (§9.2.6 "id"), and
     * a C string cannot carry one anyway. */
    if ((id && has_line_break(id)) || (event && has_line_break(event))) return SYNQ_EINVAL;
    synq_buf_reserve(out, len + 32 + (id ? strlen(id) : 0) + (event ? strlen(event) : 0));
    if (id) {
        synq_buf_puts(out, *id ? "id: " : "id:");
        synq_buf_puts(out, id);
        synq_buf_putc(out, '\n');
    }
    if (event && *event) {
        synq_buf_puts(out, "event: ");
        synq_buf_puts(out, event);
        synq_buf_putc(out, '\n');
    }
    /* The client splits the stream into lines at CRLF, lone CR and LF
     * (§9.2.5) and joins data lines with LF: one data line per input line
     * gives back the input with its breaks turned into LF. "data: " with
     * the space, as the client strips exactly one leading space, so a line
     * that starts with a space keeps it. */
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\r' && data[j] != '\n')
            j++;
        if (j > i) {
            synq_buf_append(out, "data: ", 6);
            synq_buf_append(out, data + i, j - i);
        } else {
            synq_buf_append(out, "data:", 5);
        }
        synq_buf_putc(out, '\n');
        if (j == len) break;
        i = j + (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n' ? 2 : 1);
    }
    synq_buf_putc(out, '\n');
    return 0;
}

synq_rcbuf_t *synq_sse_frame(const char *id, const char *event, const char *data, size_t len,
                             int *err)
{
    synq_buf_t b;
    synq_buf_init(&b);
    int rc = synq_sse_format(&b, id, event, data, len);
    if (err) *err = rc;
    if (rc < 0) {
        synq_buf_release(&b);
        return NULL;
    }
    return synq_rcbuf_from_buf(&b);
}

/* ---- stream ------------------------------------------------------------- */

static void on_keepalive(uv_timer_t *t)
{
    synq_sse_t *s = t->data;
    static const char ka[] = ": keep-alive\n\n";
    if (s->st == NULL || synq_http_stream_write_bytes(s->st, ka, sizeof ka - 1) < 0)
        uv_timer_stop(&s->timer);
}

/* Something went out: the silence starts again. */
static void touch(synq_sse_t *s)
{
    if (s->keepalive_ms) uv_timer_start(&s->timer, on_keepalive, s->keepalive_ms, s->keepalive_ms);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static synq_sse_close_t map_reason(synq_http_stream_reason_t r)
{
    switch (r) {
    case SYNQ_HTTP_STREAM_ENDED:
        return SYNQ_SSE_CLOSE_ENDED;
    case SYNQ_HTTP_STREAM_CLIENT_GONE:
        return SYNQ_SSE_CLOSE_CLIENT_GONE;
    case SYNQ_HTTP_STREAM_SLOW:
        return SYNQ_SSE_CLOSE_SLOW;
    case SYNQ_HTTP_STREAM_ERROR:
        return SYNQ_SSE_CLOSE_ERROR;
    case SYNQ_HTTP_STREAM_SHUTDOWN:
        return SYNQ_SSE_CLOSE_SHUTDOWN;
    }
    return SYNQ_SSE_CLOSE_ERROR;
}

static void on_stream_closed(synq_http_stream_t *st, synq_http_stream_reason_t reason, void *arg)
{
    synq_sse_t *s = arg;
    s->st = NULL;
    uv_timer_stop(&s->timer);
    s->on_close(s, map_reason(reason), s->arg);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

synq_sse_t *synq_sse_start(synq_http_req_t *req, const synq_sse_config_t *cfg,
                           synq_sse_close_cb on_close, void *arg)
{
    synq_sse_config_t defaults;
    if (cfg == NULL) {
        synq_sse_config_init(&defaults);
        cfg = &defaults;
    }
    synq_sse_t *s = synq_calloc(1, sizeof *s);
    s->keepalive_ms = cfg->keepalive_ms;
    s->on_close = on_close;
    s->arg = arg;
    synq_buf_t hdr;
    synq_buf_init(&hdr);
    synq_buf_puts(&hdr, "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    if (cfg->extra_headers) synq_buf_puts(&hdr, cfg->extra_headers);
    s->st = synq_http_stream_begin(req, 200, "text/event-stream; charset=utf-8", hdr.data,
                                   cfg->max_queued_bytes, on_stream_closed, s);
    synq_buf_release(&hdr);
    if (s->st == NULL) {
        free(s);
        return NULL;
    }
    uv_timer_init(synq_http_stream_loop(s->st), &s->timer);
    s->timer.data = s;
    if (cfg->retry_ms) {
        char line[48];
        int n = snprintf(line, sizeof line, "retry: %llu\n\n", (unsigned long long)cfg->retry_ms);
        synq_http_stream_write_bytes(s->st, line, (size_t)n);
    }
    if (!synq_http_stream_over(s->st)) touch(s);
    return s;
}

int synq_sse_send_frame(synq_sse_t *s, synq_rcbuf_t *frame)
{
    if (s->st == NULL) return UV_EPIPE;
    int rc = synq_http_stream_write(s->st, frame);
    if (rc == 0)
        touch(s);
    else
        uv_timer_stop(&s->timer);
    return rc;
}

int synq_sse_send(synq_sse_t *s, const char *id, const char *event, const char *data, size_t len)
{
    if (s->st == NULL || synq_http_stream_over(s->st)) return UV_EPIPE;
    int rc;
    synq_rcbuf_t *frame = synq_sse_frame(id, event, data, len, &rc);
    if (frame == NULL) return rc;
    rc = synq_sse_send_frame(s, frame);
    synq_rcbuf_unref(frame);
    return rc;
}

int synq_sse_comment(synq_sse_t *s, const char *text)
{
    if (has_line_break(text)) return SYNQ_EINVAL;
    if (s->st == NULL) return UV_EPIPE;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, ": ");
    synq_buf_puts(&b, text);
    synq_buf_puts(&b, "\n\n");
    synq_rcbuf_t *frame = synq_rcbuf_from_buf(&b);
    int rc = synq_sse_send_frame(s, frame);
    synq_rcbuf_unref(frame);
    return rc;
}

size_t synq_sse_queued(const synq_sse_t *s)
{
    return s->st ? synq_http_stream_queued(s->st) : 0;
}

bool synq_sse_over(const synq_sse_t *s)
{
    return s->st == NULL || synq_http_stream_over(s->st);
}

void synq_sse_end(synq_sse_t *s)
{
    if (s->st == NULL) return;
    uv_timer_stop(&s->timer);
    synq_http_stream_end(s->st);
}
