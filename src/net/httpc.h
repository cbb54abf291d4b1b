/* Asynchronous HTTP client on the event loop: libcurl's multi interface
 * driven by libuv (curl_multi_socket_action with uv_poll handles per
 * socket and one uv_timer), so no request ever blocks the loop. Used by the
 * `http` executor and for alert and callback POSTs.
 *
 * It does not follow redirects (a 3xx is an answer like any other), keeps
 * connections alive between requests to the same host (curl's pool), and
 * caps the bytes of response body it keeps (the rest is read and dropped).
 * Everything runs on the loop thread. */
#ifndef SYNQ_NET_HTTPC_H
#define SYNQ_NET_HTTPC_H

#include "core/common.h"

#include <uv.h>

typedef struct synq_httpc_s synq_httpc_t;
typedef struct synq_httpc_call_s synq_httpc_call_t;

/* A request. Every pointer is borrowed only for the duration of
 * synq_httpc_request() (the client copies what it needs). */
typedef struct synq_httpc_req_s {
    const char *method;            /* "GET", "POST", ...; NULL = GET */
    const char *url;               /* http:// or https:// only */
    const char *const *headers;    /* "Name: value" strings, nheaders of them */
    size_t nheaders;
    const char *body;              /* may be NULL */
    size_t body_len;
    uint64_t timeout_ms;           /* whole request; 0 = 30 s */
    size_t max_body_bytes;         /* response body kept; 0 = 64 KiB */
} synq_httpc_req_t;

/* The outcome, borrowed by the callback only for its duration. */
typedef struct synq_httpc_res_s {
    int status;               /* HTTP status, or 0 when no response came */
    const char *error;        /* when status == 0: curl's message
                                 ("Connection refused", "Timeout was
                                 reached"); else NULL */
    const char *headers;      /* response header block of the final
                                 response ("Name: value\r\n" lines, status
                                 line excluded), NUL-terminated */
    size_t headers_len;
    const char *body;         /* first max_body_bytes of the body, NUL-terminated */
    size_t body_len;
    bool body_truncated;      /* the body was longer */
    int64_t retry_after_s;    /* Retry-After in seconds (delta or HTTP-date
                                 relative to now), -1 when absent/invalid */
    int64_t elapsed_us;       /* from start to completion */
} synq_httpc_res_t;

/* cb runs exactly once per started request, on the loop, after the request
 * completes or fails, unless the call was cancelled first. */
typedef void (*synq_httpc_cb)(const synq_httpc_res_t *res, void *arg);

/* Creates a client on loop; at most max_concurrent requests run at once
 * (more wait in FIFO order; 0 = 64). NULL on failure. */
synq_httpc_t *synq_httpc_new(uv_loop_t *loop, int max_concurrent);

/* Starts a request. Returns 0 and, when call_out is not NULL, a handle
 * valid until cb runs or the call is cancelled; SYNQ_EINVAL for a bad
 * method or a URL that is not http(s). */
int synq_httpc_request(synq_httpc_t *c, const synq_httpc_req_t *req, synq_httpc_cb cb, void *arg,
                       synq_httpc_call_t **call_out);

/* Aborts a call; its cb is not called. */
void synq_httpc_cancel(synq_httpc_t *c, synq_httpc_call_t *call);

/* Number of calls started and not yet finished (running or waiting). */
size_t synq_httpc_pending(const synq_httpc_t *c);

/* Aborts every call (their callbacks run with status 0 and error
 * "client closed"), closes every handle; done(arg) runs when the client is
 * freed. */
void synq_httpc_close(synq_httpc_t *c, void (*done)(void *arg), void *arg);

#endif
