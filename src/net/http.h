/* HTTP/1.1 server on libuv with http-parser: keep-alive, pipelining (answers
 * go out in request order, one request handled at a time per connection),
 * Content-Length and chunked bodies, HEAD, Expect: 100-continue, and limits
 * (header block, body size, header and idle timeouts) that end bad requests
 * with a JSON error and a close. It knows nothing of jobs: every complete
 * request goes to one handler callback, which answers it with
 * synq_http_respond(), at once or later. */
#ifndef SYNQ_NET_HTTP_H
#define SYNQ_NET_HTTP_H

#include "core/buf.h"
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
 * their current response; cb runs when the last one is gone, after which the
 * server is freed. */
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

#endif
