/* HTTP/1.1 server on libuv with http-parser: keep-alive, pipelining (answers
 * go out in request order, one request handled at a time per connection),
 * Content-Length and chunked bodies, HEAD, Expect: 100-continue, and limits
 * (header block, body size, header and idle timeouts) that end bad requests
 * with a JSON error and a close. It knows nothing of jobs: every complete
 * request goes to one handler callback, which answers it with
 * synq_http_respond(), at once or later, or with a streaming response
 * (synq_http_stream_begin: chunked, written piece by piece from shared
 * reference-counted buffers, with a bound on what may wait unsent), or by
 * handing the connection over to another protocol (synq_http_upgrade). */
#ifndef SYNQ_NET_HTTP_H
#define SYNQ_NET_HTTP_H

#include "core/buf.h"
#include "core/rcbuf.h"
#include "core/common.h"
#include "net/request.h"

#include <uv.h>

typedef struct synq_http_server_s synq_http_server_t;

typedef void (*synq_http_handler_cb)(synq_http_req_t *req, void *arg);
typedef void (*synq_http_closed_cb)(synq_http_server_t *srv, void *arg);

typedef struct synq_http_config_s {
    size_t max_header_bytes; /* default 16 KiB */
    size_t max_body_bytes;   /* default 1 MiB */
    uint64_t header_timeout_ms; /* a request's header block must arrive within this */
    uint64_t idle_timeout_ms;   /* idle keep-alive connections, and stalled bodies */
    size_t max_conns;
} synq_http_config_t;

/* Fills the defaults. */
void synq_http_config_init(synq_http_config_t *cfg);

/* Binds and listens on addr ("host:port"; port 0 picks a free one). handler
 * is called for each complete request. Returns NULL and sets *err on failure.
 * cfg is copied. */
synq_http_server_t *synq_http_server_start(uv_loop_t *loop, const char *addr,
                                           const synq_http_config_t *cfg,
                                           synq_http_handler_cb handler, void *arg, int *err);
/* The bound address as "host:port" (borrowed, valid until closed). */
const char *synq_http_server_addr(const synq_http_server_t *srv);
/* Number of open connections. */
size_t synq_http_server_conn_count(const synq_http_server_t *srv);
/* Stops accepting, closes idle connections at once and the others after
 * their current response, and ends every open stream (its on_closed gets
 * SYNQ_HTTP_STREAM_SHUTDOWN unless it was already ended; a stream whose
 * client does not take the rest within 2 s is cut); cb runs when the last
 * connection is gone, after which the server is freed. */
void synq_http_server_close(synq_http_server_t *srv, synq_http_closed_cb cb, void *arg);

/* Registers a callback for when the connection closes before the response
 * is sent; the callback must still call synq_http_respond (which then only
 * frees the request). */
void synq_http_req_on_abort(synq_http_req_t *req, synq_http_abort_cb cb, void *arg);
/* True while the client is still connected. */
bool synq_http_req_connected(const synq_http_req_t *req);

/* Sends the response and frees req (every request is answered exactly once).
 * extra_headers: NULL or "Name: value\r\n..." lines. body is copied. For
 * HEAD requests the body is left out but Content-Length kept. */
void synq_http_respond(synq_http_req_t *req, int status, const char *content_type,
                       const char *extra_headers, const char *body, size_t len);
/* Sends {"error":{"code":...,"message":...}} (plus "field" when not NULL). */
void synq_http_respond_error(synq_http_req_t *req, int status, const char *code,
                             const char *message, const char *field);
/* Reason phrase for a status code. */
const char *synq_http_status_text(int status);

/* ---- streaming responses ----------------------------------------------------
 *
 * A response whose body is written piece by piece for as long as the server
 * likes (Server-Sent Events, long streams): HTTP/1.1 chunked transfer coding
 * (RFC 9112 §7.1); for an HTTP/1.0 client, the raw bytes delimited by the
 * close. The response carries "Connection: close": when the stream ends the
 * connection closes (pipelined requests behind it are not answered), which
 * keeps one rule for every way a stream can end.
 *
 * While a stream is open the header and idle timeouts do not apply; input
 * from the client is read and discarded, only to notice that it went away.
 *
 * Lifetime: the stream is the server's. on_closed(st, reason, arg) runs
 * exactly once, always from the loop (a libuv close callback), never from
 * inside a synq_http_stream_* call, when the connection is gone: after
 * synq_http_stream_end (once the client took the rest, or after a drain
 * timeout), the client closing, a write error, a slow consumer, or server
 * shutdown. The stream is freed when on_closed returns and must not be used
 * after it. Between the end and on_closed, writes fail harmlessly. */

typedef struct synq_http_stream_s synq_http_stream_t;

typedef enum {
    SYNQ_HTTP_STREAM_ENDED = 0,   /* synq_http_stream_end (or a HEAD request) */
    SYNQ_HTTP_STREAM_CLIENT_GONE, /* the client closed or reset the connection */
    SYNQ_HTTP_STREAM_SLOW,        /* more than max_queued_bytes waited unsent */
    SYNQ_HTTP_STREAM_ERROR,       /* a write failed */
    SYNQ_HTTP_STREAM_SHUTDOWN,    /* synq_http_server_close */
} synq_http_stream_reason_t;

typedef void (*synq_http_stream_closed_cb)(synq_http_stream_t *st,
                                           synq_http_stream_reason_t reason, void *arg);

/* Answers req with the head of a streaming response: status, Content-Type
 * (when not NULL), extra_headers (NULL or "Name: value\r\n" lines, copied),
 * Transfer-Encoding: chunked and Connection: close. req is consumed: it
 * counts as answered and is freed. max_queued_bytes bounds the bytes that
 * may wait unsent (0 = no bound). For a HEAD request only the head is sent
 * and the stream ends at once (writes fail; on_closed still runs). When the
 * server is closing the stream is ended at once the same way. Returns the
 * stream, or NULL when the client is already gone (req is freed and
 * on_closed never runs). */
synq_http_stream_t *synq_http_stream_begin(synq_http_req_t *req, int status,
                                           const char *content_type, const char *extra_headers,
                                           size_t max_queued_bytes,
                                           synq_http_stream_closed_cb on_closed, void *arg);
/* Writes chunk as one chunk (size line, payload, CRLF in one uv_write; the
 * payload is not copied: the stream holds a reference to chunk until the
 * write completes; the caller keeps its own). An empty chunk is skipped
 * (it would read as the last chunk). Returns 0 when queued; SYNQ_ETOOBIG
 * when the bytes already waiting plus this chunk exceed max_queued_bytes
 * (a slow consumer: nothing is written and the connection is closed, so
 * on_closed follows with SYNQ_HTTP_STREAM_SLOW; a chunk larger than the
 * bound alone still goes out when nothing waits); UV_EPIPE when the stream
 * is over (ended, or its connection closing). */
int synq_http_stream_write(synq_http_stream_t *st, synq_rcbuf_t *chunk);
/* Like synq_http_stream_write for data[0..len), which is copied. */
int synq_http_stream_write_bytes(synq_http_stream_t *st, const char *data, size_t len);
/* Bytes written to the stream's connection that the socket has not yet
 * taken (0 once it is closing). */
size_t synq_http_stream_queued(const synq_http_stream_t *st);
/* The loop the stream's connection runs on (for timers beside it). */
uv_loop_t *synq_http_stream_loop(const synq_http_stream_t *st);
/* True once the stream can take no more writes (ended, or closing). */
bool synq_http_stream_over(const synq_http_stream_t *st);
/* Ends the stream: sends the last chunk, then closes the connection once the
 * client has taken everything (a client that does not read it within the
 * server's idle timeout is cut). on_closed runs later with
 * SYNQ_HTTP_STREAM_ENDED (unless the connection had already failed).
 * Calling it again, or on a stream that is over, does nothing. */
void synq_http_stream_end(synq_http_stream_t *st);

/* ---- protocol upgrades ------------------------------------------------------
 *
 * A request with req->upgrade (Upgrade and Connection: upgrade headers) that
 * the handler accepts is answered with 101 by synq_http_upgrade, after which
 * the connection belongs to a new owner (a WebSocket): no more requests are
 * parsed on it and the HTTP timeouts no longer apply. The TCP handle stays
 * inside the HTTP connection (libuv handles cannot move), so the owner:
 *
 *   - reads through on_read: every byte the client sends, starting with the
 *     ones that came right behind the request head (a client may send its
 *     first frames without waiting for the 101); always from the loop, never
 *     from inside a synq_http_* call;
 *   - writes with uv_write on synq_http_conn_stream (its own write requests,
 *     which must not outlive on_closed: libuv completes them, cancelled if
 *     need be, before on_closed runs), and may read the stream's
 *     write_queue_size;
 *   - ends it with synq_http_conn_close; it must not uv_close, uv_read_start
 *     or uv_read_stop the stream, or touch its data field.
 *
 * The connection still counts in synq_http_server_conn_count until it is
 * closed. It is closed, and on_closed runs exactly once from a libuv close
 * callback, after synq_http_conn_close, when the client closes or resets it,
 * when a read fails, or at server shutdown: synq_http_server_close calls
 * on_shutdown (so a WebSocket can send Close 1001 and go) and cuts whatever
 * is still open 2 s later; the server's closed callback waits for them. The
 * connection is freed when on_closed returns. */

typedef struct synq_http_upgrade_s {
    /* Bytes from the client, data[0..len) valid for the call only. */
    void (*on_read)(synq_http_conn_t *c, const char *data, size_t len, void *arg);
    /* The server is closing (may be NULL): finish soon. */
    void (*on_shutdown)(synq_http_conn_t *c, void *arg);
    /* The connection is gone; the last call. Required. */
    void (*on_closed)(synq_http_conn_t *c, void *arg);
} synq_http_upgrade_t;

/* Answers req with "HTTP/1.1 101 Switching Protocols", the given headers
 * (NULL or "Name: value\r\n" lines, copied; Upgrade and Connection are the
 * caller's to include) and the blank line, and hands the connection to the
 * owner described by u (copied) and arg. req is consumed. Returns the
 * connection, or NULL when the client is already gone or the write failed
 * (req is freed and no callback ever runs) or the server is closing (req is
 * then answered 503). */
synq_http_conn_t *synq_http_upgrade(synq_http_req_t *req, const char *headers,
                                    const synq_http_upgrade_t *u, void *arg);
/* The TCP stream of an upgraded connection, for uv_write and
 * uv_stream_get_write_queue_size only (see above). Borrowed until on_closed. */
uv_stream_t *synq_http_conn_stream(synq_http_conn_t *c);
/* Closes an upgraded connection; on_closed follows from the loop. With
 * linger_ms 0 at once (unsent bytes are dropped); otherwise once the bytes
 * written so far have gone out the write side is shut, and input is read and
 * discarded until the client closes or linger_ms pass, so the client reads
 * everything instead of getting a reset. Called while lingering it closes
 * at once; between the close and on_closed it does nothing. */
void synq_http_conn_close(synq_http_conn_t *c, uint64_t linger_ms);

#endif
