/* WebSocket server connections (RFC 6455) on libuv, with wslay parsing the
 * frames: the opening handshake on an HTTP request (taken over from the
 * HTTP server), masking and fragmentation rules, control frames interleaved
 * with fragments, ping/pong, the closing handshake with its codes (1002
 * protocol error, 1007 invalid UTF-8 in a text message, 1009 message too
 * big), and permessage-deflate (RFC 7692) with a bound on the inflated size.
 *
 * It knows nothing of what the messages mean: complete messages go to
 * on_message; the caller sends text messages back, or pre-built frames
 * (synq_ws_frame) shared by many connections: server frames are unmasked,
 * so one encoding of a message serves every connection that negotiated the
 * same compression (fan-out writes the same reference-counted buffer).
 *
 * Outbound bytes wait in a bounded queue; a send that would exceed it fails
 * with SYNQ_ETOOBIG (a slow consumer) and the caller decides (typically
 * synq_ws_close with an application code telling the client to reconnect).
 *
 * The protocol itself (frames, UTF-8, inflating, the closing handshake's
 * rules) is in net/ws_proto.h, without sockets; this module puts it on an
 * HTTP connection taken over with synq_http_upgrade.
 *
 * Lifetime: on_close runs exactly once, from the loop (never inside a
 * synq_ws_* call), when the TCP connection is gone; the ws is freed when it
 * returns. Between synq_ws_close (or a protocol error) and on_close, sends
 * fail with UV_EPIPE and do nothing. */
#ifndef SYNQ_NET_WS_H
#define SYNQ_NET_WS_H

#include "core/common.h"
#include "core/rcbuf.h"
#include "net/http.h"

typedef struct synq_ws_s synq_ws_t;

typedef struct synq_ws_config_s {
    size_t max_message;        /* largest inbound message (after inflating); default 65536 */
    size_t max_queued_bytes;   /* outbound bytes allowed to wait unsent; default 1 MiB */
    bool deflate;              /* accept permessage-deflate offers; default true */
    size_t deflate_min;        /* messages shorter than this are sent uncompressed; default 128 */
    const char *origins;       /* comma-separated allowed Origin values, or NULL = any;
                                * a request without Origin (not a browser) passes */
    uint64_t close_timeout_ms; /* after our Close, wait this long for the peer's; default 2000 */
} synq_ws_config_t;

typedef struct synq_ws_handlers_s {
    /* A complete message (text: valid UTF-8, checked; binary: any bytes).
     * data is valid for the call only. */
    void (*on_message)(synq_ws_t *ws, const char *data, size_t len, bool binary, void *arg);
    /* The connection is gone. code: the close code received from or sent
     * to the peer (1006 when the TCP connection ended without a Close). */
    void (*on_close)(synq_ws_t *ws, int code, void *arg);
} synq_ws_handlers_t;

/* Fills the defaults. */
void synq_ws_config_init(synq_ws_config_t *cfg);

/* True when req asks for a WebSocket upgrade (Upgrade: websocket). */
bool synq_ws_is_upgrade(const synq_http_req_t *req);

/* Answers the opening handshake of req. A bad handshake is answered with
 * an HTTP error and NULL returned: 400 (not GET, missing or malformed
 * Sec-WebSocket-Key, no Upgrade/Connection tokens), 426 with
 * "Sec-WebSocket-Version: 13" (another version), 403 (Origin not allowed).
 * Otherwise answers 101 with Sec-WebSocket-Accept (and the negotiated
 * permessage-deflate parameters: server_no_context_takeover is always
 * asserted, so a compressed frame built once serves every connection; an
 * offer asking for server_max_window_bits below 15 is declined, see
 * synq_ws_pmd_negotiate), takes the connection over from the HTTP server
 * (req is consumed), and returns the ws. Also NULL when the client is
 * already gone or the server is closing (see synq_http_upgrade); on_close
 * never runs for a NULL return. Messages the client sent right behind its
 * handshake are delivered from the loop, never from inside this call. cfg
 * and h are copied (cfg->origins is used during the call only). */
synq_ws_t *synq_ws_accept(synq_http_req_t *req, const synq_ws_config_t *cfg,
                          const synq_ws_handlers_t *h, void *arg);

/* Sends one text message (compressed when negotiated and len >=
 * deflate_min). Returns 0, SYNQ_ETOOBIG (queue bound: nothing sent),
 * UV_EPIPE (closing). The bound refuses a frame that would join bytes
 * already waiting past max_queued_bytes; a frame larger than the bound
 * alone still goes out when nothing waits (else it never could). */
int synq_ws_send_text(synq_ws_t *ws, const char *data, size_t len);

/* One complete unfragmented server text frame carrying data[0..len): raw
 * when !deflate, else compressed (RSV1 set, RFC 7692 §7.2.1, no context
 * takeover). One reference, returned. Pure (apart from zlib). */
synq_rcbuf_t *synq_ws_frame(const char *data, size_t len, bool deflate);
/* Whether this connection negotiated permessage-deflate (so which frame
 * from synq_ws_frame it takes). */
bool synq_ws_deflate(const synq_ws_t *ws);
/* The configured deflate_min of this connection. */
size_t synq_ws_deflate_min(const synq_ws_t *ws);
/* Queues a frame built by synq_ws_frame (the ws takes its own reference).
 * Returns as synq_ws_send_text. */
int synq_ws_send_frame(synq_ws_t *ws, synq_rcbuf_t *frame);

/* Bytes queued and not yet taken by the socket. */
size_t synq_ws_queued(const synq_ws_t *ws);
/* True once sends fail (closing). */
bool synq_ws_closing(const synq_ws_t *ws);

/* Starts the closing handshake: sends Close with code and reason (reason
 * cut to 123 bytes at a UTF-8 boundary; NULL for none), stops delivering
 * messages, and closes the TCP connection when the peer answers or after
 * close_timeout_ms. code must be one a Close may carry (1000-1003,
 * 1007-1014, 3000-4999); any other is sent as 1011. Idempotent: nothing
 * happens once the ws is closing. */
void synq_ws_close(synq_ws_t *ws, int code, const char *reason);

/* The peer address ("ip:port"), for logs. */
const char *synq_ws_peer(const synq_ws_t *ws);

#endif
