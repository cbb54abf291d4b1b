/* The WebSocket protocol without the sockets (RFC 6455, RFC 7692): the
 * pieces net/ws.c puts on a libuv connection, kept pure so they can be
 * tested and fuzzed byte by byte. Bytes in, results out; nothing here
 * touches a socket, a clock or the log.
 *
 *   - the opening handshake's Sec-WebSocket-Accept, and the choice among
 *     the client's permessage-deflate offers;
 *   - server frame headers (unmasked, minimal length encoding, §5.2);
 *   - UTF-8 validation of text messages and close reasons;
 *   - a frame scanner that checks the header rules wslay would only report
 *     as a bare failure (so the peer gets Close 1002 rather than a Close
 *     without a code), and takes the client's Close frame itself (wslay
 *     checks a close reason's UTF-8 differently depending on how the bytes
 *     arrive);
 *   - a session: one connection's inbound side on wslay (reassembly,
 *     control frames, masking, limits, inflating, UTF-8) that turns bytes
 *     from the client into complete messages, and writes the answers the
 *     protocol requires (pong, the closing handshake) into an output buffer
 *     the caller sends.
 *
 * Data frames going out are built by synq_ws_frame (net/ws.h) and never
 * pass through the session. */
#ifndef SYNQ_NET_WS_PROTO_H
#define SYNQ_NET_WS_PROTO_H

#include "core/buf.h"
#include "core/common.h"

/* Opcodes (RFC 6455 §5.2) and the close codes we send (§7.4.1). */
enum {
    SYNQ_WS_OP_CONT = 0x0,
    SYNQ_WS_OP_TEXT = 0x1,
    SYNQ_WS_OP_BINARY = 0x2,
    SYNQ_WS_OP_CLOSE = 0x8,
    SYNQ_WS_OP_PING = 0x9,
    SYNQ_WS_OP_PONG = 0xA,
};
enum {
    SYNQ_WS_CLOSE_NORMAL = 1000,
    SYNQ_WS_CLOSE_GOING_AWAY = 1001,
    SYNQ_WS_CLOSE_PROTOCOL = 1002,
    SYNQ_WS_CLOSE_NO_STATUS = 1005, /* received only: a Close without a code */
    SYNQ_WS_CLOSE_ABNORMAL = 1006,  /* never on the wire: no Close at all */
    SYNQ_WS_CLOSE_BAD_DATA = 1007,
    SYNQ_WS_CLOSE_TOO_BIG = 1009,
    SYNQ_WS_CLOSE_INTERNAL = 1011,
};

/* ---- handshake ---------------------------------------------------------- */

/* Writes Sec-WebSocket-Accept for the Sec-WebSocket-Key key[0..len) into
 * out (28 characters and a NUL): base64(SHA-1(key + GUID)), §4.2.2. Returns
 * 0, or SYNQ_EINVAL when the key is not the base64 form of 16 bytes (24
 * characters ending in "=="; surrounding whitespace is the caller's to
 * strip). */
int synq_ws_accept_key(const char *key, size_t len, char out[29]);

/* The accepted permessage-deflate parameters (RFC 7692 §7). */
typedef struct synq_ws_pmd_s {
    bool client_no_context_takeover; /* the client resets its compressor per message */
    bool server_max_window_bits;     /* the client asked for it (=15): echoed */
} synq_ws_pmd_t;

/* Picks the first acceptable permessage-deflate offer in a
 * Sec-WebSocket-Extensions value (s[0..len): offers separated by commas,
 * parameters by semicolons, values as tokens or quoted strings; several
 * header lines joined with commas). An offer is acceptable when its
 * parameters are known, not repeated and well-formed:
 * server_no_context_takeover, client_no_context_takeover,
 * client_max_window_bits (with or without a value 8..15; we inflate with a
 * 32 KiB window, which reads any smaller one), and server_max_window_bits
 * only with the value 15: our frames are deflated once for every
 * connection with the full window, so offers asking for a smaller one are
 * declined. Returns true and fills *out, or false (no extension). */
bool synq_ws_pmd_negotiate(const char *s, size_t len, synq_ws_pmd_t *out);
/* Appends the Sec-WebSocket-Extensions value answering an accepted offer:
 * always server_no_context_takeover (so one compressed frame serves every
 * connection), client_no_context_takeover echoed when offered, and
 * server_max_window_bits=15 when offered. */
void synq_ws_pmd_response(const synq_ws_pmd_t *pmd, synq_buf_t *out);

/* ---- frames and text ---------------------------------------------------- */

/* Writes the header of an unmasked server frame with FIN set, RSV1 when
 * rsv1, the opcode and the payload length in the shortest form (§5.2: 7
 * bits up to 125, 16 bits up to 65535, else 64). Returns its length: 2, 4
 * or 10. */
size_t synq_ws_frame_header(uint8_t out[10], unsigned opcode, bool rsv1, uint64_t payload_len);

/* True when s[0..n) is well-formed UTF-8 (RFC 3629, Unicode Table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF, no truncated
 * sequence at the end). NUL is valid. */
bool synq_ws_utf8_valid(const char *s, size_t n);
/* The longest prefix of s[0..n) not longer than max that does not end
 * inside a UTF-8 sequence (for cutting a close reason to 123 bytes). */
size_t synq_ws_utf8_cut(const char *s, size_t n, size_t max);

/* Walks the frames of an inbound byte stream, fed in any pieces, ahead of
 * the frame parser, and checks what wslay would only report as a bare
 * failure, or not at all: unmasked frames (§5.1), control frames longer
 * than 125 bytes or fragmented (§5.5), a length not in its shortest form or
 * with the top bit set (§5.2), RSV2 or RSV3 (no extension uses them) and
 * reserved opcodes: all 1002. RSV1 and the order of frames are wslay's to
 * check.
 *
 * It also takes the client's Close frame: its bytes are held back from the
 * parser and its body kept (unmasked) and checked (§5.5.1, §7.4): one byte,
 * or a code not allowed on the wire, is 1002; a reason that is not UTF-8 is
 * 1007. Nothing after a Close counts. */
typedef struct synq_ws_scan_s {
    uint8_t hdr[14];
    uint8_t have;  /* header bytes collected */
    uint8_t need;  /* header bytes this frame has (2 until the second byte) */
    uint64_t left; /* payload bytes still to walk */
    bool in_close; /* the current frame is a Close */
    bool closed;   /* a complete, valid Close: body in close[0..close_len) */
    bool failed;   /* a violation: code says which Close it calls for */
    uint8_t close_len;
    uint8_t close[125];
    int code;
} synq_ws_scan_t;

void synq_ws_scan_init(synq_ws_scan_t *s);
/* Walks data[0..len) and says what may go on to the frame parser, so that
 * it only ever sees complete, checked headers: held[0..*nheld) (the start
 * of a header that came in an earlier piece, copied here) and then
 * data[0..*ok). Held back: a header not complete yet (it goes out with a
 * later piece), a Close frame, a bad frame. Returns 0 (s->closed tells
 * whether the Close is complete), or SYNQ_EPROTO on a violation with the
 * close code in s->code. Once closed or failed, nothing more goes through
 * (and every call fails again after a violation). */
int synq_ws_scan(synq_ws_scan_t *s, const uint8_t *data, size_t len, uint8_t held[14],
                 size_t *nheld, size_t *ok);

/* ---- session ------------------------------------------------------------- */

typedef struct synq_ws_session_s synq_ws_session_t;

/* A complete message: text (valid UTF-8) or binary, after inflating. data
 * is valid for the call only. The callback may call synq_ws_session_close. */
typedef void (*synq_ws_message_cb)(const char *data, size_t len, bool binary, void *arg);

/* A session for one server connection. max_message bounds every message
 * (after inflating): a larger one is answered with Close 1009. pmd: the
 * negotiated permessage-deflate parameters, or NULL. Returned; free with
 * synq_ws_session_free. */
synq_ws_session_t *synq_ws_session_new(size_t max_message, const synq_ws_pmd_t *pmd,
                                       synq_ws_message_cb on_message, void *arg);
void synq_ws_session_free(synq_ws_session_t *s);

/* Takes data[0..len) received from the client: complete messages go to
 * on_message (none after synq_ws_session_close), pings are answered, a
 * Close is echoed, and a protocol violation is answered with the Close its
 * code calls for (1002, 1007, 1009); after a Close either way the session
 * stops reading and ignores further input. Whatever must be sent is
 * appended to the output. Returns 0, or SYNQ_EPROTO when the session is
 * not reading (any more). */
int synq_ws_session_feed(synq_ws_session_t *s, const char *data, size_t len);
/* True for a code a Close may carry: 1000-1003, 1007-1014, 3000-4999. */
bool synq_ws_close_code_valid(int code);
/* Starts the closing handshake: appends Close(code, reason[0..len)) to the
 * output (the reason is cut to 123 bytes at a UTF-8 boundary; code 0 sends
 * a Close without a body) and delivers no more messages, while still
 * reading until the client's Close. Returns 0, SYNQ_EINVAL for a code a
 * Close may not carry (nothing done), or SYNQ_ECONFLICT when a Close was
 * already sent. */
int synq_ws_session_close(synq_ws_session_t *s, int code, const char *reason, size_t len);
/* The bytes to send, whole frames only; the caller takes them (e.g. with
 * synq_rcbuf_from_buf) and leaves the buffer empty or as it is. Borrowed. */
synq_buf_t *synq_ws_session_output(synq_ws_session_t *s);

/* True once a Close was sent (queued into the output). */
bool synq_ws_session_close_sent(const synq_ws_session_t *s);
/* True once the client's Close was received. */
bool synq_ws_session_close_received(const synq_ws_session_t *s);
/* False once the session stopped reading (a Close received, or one sent
 * because of a violation): nothing more will come from the client. */
bool synq_ws_session_reading(const synq_ws_session_t *s);
/* The code of the Close that began the closing handshake: ours
 * (synq_ws_session_close, 1005 for code 0, or the one a violation called
 * for), else the client's (1005 when it had none); 0 while no Close was
 * exchanged. */
int synq_ws_session_code(const synq_ws_session_t *s);

#endif
