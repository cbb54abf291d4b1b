/* Server-Sent Events (WHATWG HTML §9.2, "text/event-stream") on top of a
 * streaming HTTP response: the response head, the `retry:` hint, events,
 * and `: keep-alive` comments during silence so proxies do not drop the
 * connection. The formatter (synq_sse_format, synq_sse_frame) is pure and
 * can be used alone; a frame built once can be sent to many streams (fan-out
 * with one shared reference-counted buffer).
 *
 * It does not know what the events mean, keep history, or parse
 * Last-Event-ID: resuming is the caller's business (it reads the request
 * before calling synq_sse_start).
 *
 * Lifetime of a synq_sse_t: created by synq_sse_start, owned by this module.
 * on_close(s, reason, arg) runs exactly once, always from the loop (never
 * from inside a synq_sse_* call), when the stream is over: after synq_sse_end
 * once the client has the rest, the client going away, a write error, a slow
 * consumer (more than max_queued_bytes unsent), or server shutdown. s must
 * not be used after on_close returns. Between synq_sse_end (or a failed
 * send) and on_close, sends return an error and do nothing. */
#ifndef SYNQ_NET_SSE_H
#define SYNQ_NET_SSE_H

#include "core/buf.h"
#include "core/common.h"
#include "core/rcbuf.h"
#include "net/http.h"

typedef struct synq_sse_s synq_sse_t;

typedef struct synq_sse_config_s {
    uint64_t keepalive_ms;     /* a comment after this much silence; default 15000, 0 = none */
    uint64_t retry_ms;         /* the reconnection delay sent first; default 2000, 0 = not sent */
    size_t max_queued_bytes;   /* unsent bytes beyond which the client is cut; default 1 MiB */
    const char *extra_headers; /* NULL or "Name: value\r\n" lines for the head (copied) */
} synq_sse_config_t;

/* Why a stream ended (what on_close receives). */
typedef enum {
    SYNQ_SSE_CLOSE_ENDED = 0,   /* synq_sse_end, or a HEAD request */
    SYNQ_SSE_CLOSE_CLIENT_GONE, /* the client closed the connection */
    SYNQ_SSE_CLOSE_SLOW,        /* slow consumer: max_queued_bytes exceeded */
    SYNQ_SSE_CLOSE_ERROR,       /* a write failed */
    SYNQ_SSE_CLOSE_SHUTDOWN,    /* the HTTP server is closing */
} synq_sse_close_t;

typedef void (*synq_sse_close_cb)(synq_sse_t *s, synq_sse_close_t reason, void *arg);

/* Fills the defaults. */
void synq_sse_config_init(synq_sse_config_t *cfg);

/* A short name for a close reason ("ended", "client_gone", "slow_consumer",
 * "write_error", "shutdown"), for logs and counters. Static. */
const char *synq_sse_close_reason(synq_sse_close_t reason);

/* Answers req (consumed, as by synq_http_stream_begin) with 200,
 * Content-Type: text/event-stream; charset=utf-8, Cache-Control: no-cache,
 * X-Accel-Buffering: no (nginx would otherwise buffer the stream), then
 * `retry: N`, and arms the keep-alive timer. cfg may be NULL for the
 * defaults; it is copied. A HEAD request gets the head only and the stream
 * ends (on_close runs with SYNQ_SSE_CLOSE_ENDED). Returns NULL when the
 * client is already gone (req freed; on_close never runs). */
synq_sse_t *synq_sse_start(synq_http_req_t *req, const synq_sse_config_t *cfg,
                           synq_sse_close_cb on_close, void *arg);

/* Appends one event to out: `id: <id>` (when id is not NULL; an empty id
 * resets the client's last event id), `event: <event>` (when event is
 * neither NULL nor empty), one `data:` line per line of data[0..len) (lines
 * split at CRLF, CR and LF as the client splits them, so the client's data
 * is exactly the input; empty data gives one empty data line, which still
 * dispatches an event), and the blank line that dispatches it. id and event
 * must not contain CR or LF (they would end the field early and let the
 * value inject fields) and id no NUL (the client ignores such ids):
 * SYNQ_EINVAL then, and nothing is appended. data is passed through as it
 * is; it should be UTF-8. Returns 0 or SYNQ_EINVAL. Pure. */
int synq_sse_format(synq_buf_t *out, const char *id, const char *event, const char *data,
                    size_t len);

/* The same event as a new shared buffer (one reference, returned: drop it
 * with synq_rcbuf_unref), to send to many streams with synq_sse_send_frame.
 * NULL (and *err = SYNQ_EINVAL when err is not NULL) for a bad id or event. */
synq_rcbuf_t *synq_sse_frame(const char *id, const char *event, const char *data, size_t len,
                             int *err);

/* Formats and sends one event (see synq_sse_format). Returns 0 when queued;
 * SYNQ_EINVAL for a bad id or event (nothing sent, the stream goes on);
 * SYNQ_ETOOBIG when the client is too slow (the stream is being closed:
 * on_close follows with SYNQ_SSE_CLOSE_SLOW); UV_EPIPE when the stream is
 * over. */
int synq_sse_send(synq_sse_t *s, const char *id, const char *event, const char *data, size_t len);
/* Sends a frame built by synq_sse_frame (or any complete SSE text); the
 * stream takes its own reference, the caller keeps its. Returns as
 * synq_sse_send. */
int synq_sse_send_frame(synq_sse_t *s, synq_rcbuf_t *frame);
/* Sends a comment line (": text"; text without CR or LF, else SYNQ_EINVAL).
 * Clients ignore it; it keeps intermediaries from timing out. */
int synq_sse_comment(synq_sse_t *s, const char *text);
/* Bytes sent but not yet taken by the client's socket. */
size_t synq_sse_queued(const synq_sse_t *s);
/* True once sends can no longer succeed (ended or closing). */
bool synq_sse_over(const synq_sse_t *s);
/* Ends the stream after what was sent (see synq_http_stream_end); on_close
 * follows. Idempotent. */
void synq_sse_end(synq_sse_t *s);

#endif
