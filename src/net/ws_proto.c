/* WebSocket protocol pieces: handshake key, permessage-deflate offers, frame
 * headers, UTF-8, the frame scanner, and the inbound session on wslay. */
#include "net/ws_proto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>
#include <zlib.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- handshake ---------------------------------------------------------- */

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int synq_ws_accept_key(const char *key, size_t len, char out[29])
{
    /* §4.1: a base64-encoded value that decodes to 16 bytes: 22 characters
     * of data (16 bytes = 128 bits, in 132) and "==" */
    if (len != 24 || key[22] != '=' || key[23] != '=') return SYNQ_EINVAL;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key[i])) return SYNQ_EINVAL;
    char cat[24 + sizeof WS_GUID];
    memcpy(cat, key, 24);
    memcpy(cat + 24, WS_GUID, sizeof WS_GUID - 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(cat, 24 + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        return SYNQ_EINVAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

/* ---- permessage-deflate offers (RFC 7692 §5, §7.1) ------------------------ */

typedef struct {
    const char *p, *end;
} cursor_t;

static void skip_ows(cursor_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool is_tchar(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Reads a token into out (NUL-terminated, cut to outlen - 1); false when
 * there is none. */
static bool read_token(cursor_t *c, char *out, size_t outlen)
{
    size_t n = 0;
    const char *start = c->p;
    while (c->p < c->end && is_tchar(*c->p)) {
        if (n + 1 < outlen) out[n++] = *c->p;
        c->p++;
    }
    out[n] = '\0';
    return c->p > start;
}

/* A parameter value: a token or a quoted string (§5.2: its unescaped
 * content must then be a token too, which the caller checks). */
static bool read_value(cursor_t *c, char *out, size_t outlen)
{
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        size_t n = 0;
        while (c->p < c->end && *c->p != '"') {
            if (*c->p == '\\') {
                c->p++;
                if (c->p == c->end) return false;
            }
            if (n + 1 < outlen) out[n++] = *c->p;
            c->p++;
        }
        if (c->p == c->end) return false;
        c->p++; /* closing quote */
        out[n] = '\0';
        return n > 0;
    }
    return read_token(c, out, outlen);
}

/* Window bits value: "8".."15", no sign or leading zero. */
static int window_bits(const char *v)
{
    if (strcmp(v, "8") == 0) return 8;
    if (strcmp(v, "9") == 0) return 9;
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0') return 10 + (v[1] - '0');
    return -1;
}

/* Parses one offer's parameters up to the next comma (or the end). Returns
 * true when the offer is acceptable; the cursor ends after the offer either
 * way, or at the end when the syntax is broken. */
static bool parse_offer(cursor_t *c, bool *syntax_ok, synq_ws_pmd_t *out)
{
    char name[32], value[32];
    bool ok = true;
    bool seen_snct = false, seen_cnct = false, seen_smwb = false, seen_cmwb = false;
    memset(out, 0, sizeof *out);
    *syntax_ok = true;
    skip_ows(c);
    if (!read_token(c, name, sizeof name)) goto bad_syntax;
    if (strcasecmp(name, "permessage-deflate") != 0) ok = false;
    for (;;) {
        skip_ows(c);
        if (c->p == c->end || *c->p == ',') break;
        if (*c->p != ';') goto bad_syntax;
        c->p++;
        skip_ows(c);
        if (!read_token(c, name, sizeof name)) goto bad_syntax;
        skip_ows(c);
        bool has_value = false;
        if (c->p < c->end && *c->p == '=') {
            c->p++;
            skip_ows(c);
            if (!read_value(c, value, sizeof value)) goto bad_syntax;
            has_value = true;
        }
        if (!ok) continue; /* another extension: skip its parameters */
        if (strcasecmp(name, "server_no_context_takeover") == 0) {
            ok = !seen_snct && !has_value;
            seen_snct = true;
        } else if (strcasecmp(name, "client_no_context_takeover") == 0) {
            ok = !seen_cnct && !has_value;
            seen_cnct = true;
            out->client_no_context_takeover = true;
        } else if (strcasecmp(name, "server_max_window_bits") == 0) {
            /* §7.1.2.1: a value is required; we deflate with 15 only */
            ok = !seen_smwb && has_value && window_bits(value) == 15;
            seen_smwb = true;
            out->server_max_window_bits = true;
        } else if (strcasecmp(name, "client_max_window_bits") == 0) {
            /* §7.1.2.2: with or without a value; ours reads any window */
            ok = !seen_cmwb && (!has_value || window_bits(value) > 0);
            seen_cmwb = true;
        } else {
            ok = false; /* §7.1: an unknown parameter declines the offer */
        }
    }
    return ok;
bad_syntax:
    *syntax_ok = false;
    c->p = c->end;
    return false;
}

bool synq_ws_pmd_negotiate(const char *s, size_t len, synq_ws_pmd_t *out)
{
    cursor_t c = {s, s + len};
    while (c.p < c.end) {
        skip_ows(&c);
        if (c.p < c.end && *c.p == ',') { /* empty list element (RFC 9110 §5.6.1) */
            c.p++;
            continue;
        }
        if (c.p == c.end) break;
        bool syntax_ok;
        synq_ws_pmd_t pmd;
        bool ok = parse_offer(&c, &syntax_ok, &pmd);
        if (!syntax_ok) return false; /* a broken header: no extension at all */
        if (ok) {
            *out = pmd;
            return true;
        }
        if (c.p < c.end) c.p++; /* the comma */
    }
    return false;
}

void synq_ws_pmd_response(const synq_ws_pmd_t *pmd, synq_buf_t *out)
{
    synq_buf_puts(out, "permessage-deflate; server_no_context_takeover");
    if (pmd->client_no_context_takeover) synq_buf_puts(out, "; client_no_context_takeover");
    if (pmd->server_max_window_bits) synq_buf_puts(out, "; server_max_window_bits=15");
}

/* ---- frames and text ---------------------------------------------------- */

size_t synq_ws_frame_header(uint8_t out[10], unsigned opcode, bool rsv1, uint64_t payload_len)
{
    out[0] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    if (payload_len < 126) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

/* Length of the well-formed sequence at s[i..n), or 0 (Table 3-7). */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t n)
{
    unsigned char c = s[i];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c == 0xE0)
        len = 3, lo = 0xA0; /* no overlong */
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        len = 3;
    else if (c == 0xED)
        len = 3, hi = 0x9F; /* no surrogates */
    else if (c == 0xF0)
        len = 4, lo = 0x90; /* no overlong */
    else if (c >= 0xF1 && c <= 0xF3)
        len = 4;
    else if (c == 0xF4)
        len = 4, hi = 0x8F; /* nothing above U+10FFFF */
    else
        return 0;
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if ((s[i + k] & 0xC0) != 0x80) return 0;
    return len;
}

bool synq_ws_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs, 8 bytes at a time */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i == n) break;
        size_t len = utf8_seq(s, i, n);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

size_t synq_ws_utf8_cut(const char *str, size_t n, size_t max)
{
    if (n <= max) return n;
    const unsigned char *s = (const unsigned char *)str;
    size_t cut = max;
    /* back up over continuation bytes to the start of the sequence at max */
    while (cut > 0 && (s[cut] & 0xC0) == 0x80)
        cut--;
    return cut;
}

/* ---- frame scanner (§5.2, §5.5) ------------------------------------------ */

void synq_ws_scan_init(synq_ws_scan_t *s)
{
    memset(s, 0, sizeof *s);
    s->need = 2;
}

static int scan_fail(synq_ws_scan_t *s, int code)
{
    s->failed = true;
    s->code = code;
    return SYNQ_EPROTO;
}

/* Checks the first two header bytes; 0 or a close code. */
static int scan_first(synq_ws_scan_t *s)
{
    unsigned b0 = s->hdr[0], b1 = s->hdr[1];
    unsigned opcode = b0 & 0x0f, len7 = b1 & 0x7f;
    bool fin = b0 & 0x80, control = opcode & 0x08;
    if (!(b1 & 0x80)) return SYNQ_WS_CLOSE_PROTOCOL; /* §5.1: a client masks */
    if (b0 & 0x30) return SYNQ_WS_CLOSE_PROTOCOL;    /* RSV2, RSV3 */
    if ((opcode >= 3 && opcode <= 7) || opcode >= 0xB) return SYNQ_WS_CLOSE_PROTOCOL;
    if (control && (!fin || len7 > 125)) return SYNQ_WS_CLOSE_PROTOCOL;         /* §5.5 */
    if (opcode == SYNQ_WS_OP_CLOSE && len7 == 1) return SYNQ_WS_CLOSE_PROTOCOL; /* §5.5.1 */
    s->need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return 0;
}

/* Reads the length of a complete header; false when not in its shortest
 * form or too large (§5.2). */
static bool scan_length(synq_ws_scan_t *s)
{
    const uint8_t *h = s->hdr;
    unsigned len7 = h[1] & 0x7f;
    uint64_t len = len7;
    if (len7 == 126) {
        len = ((uint64_t)h[2] << 8) | h[3];
        if (len < 126) return false;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[2 + i];
        if (len >> 63 || len <= 0xffff) return false;
    }
    s->left = len;
    return true;
}

/* A Close frame is complete: its code and reason (§7.4.1: codes 1005,
 * 1006, 1015 and unassigned ones never appear on the wire). 0 or a code. */
static int scan_close_body(const synq_ws_scan_t *s)
{
    if (s->close_len < 2) return 0;
    int code = (s->close[0] << 8) | s->close[1];
    if (!synq_ws_close_code_valid(code)) return SYNQ_WS_CLOSE_PROTOCOL;
    if (!synq_ws_utf8_valid((const char *)s->close + 2, s->close_len - 2u))
        return SYNQ_WS_CLOSE_BAD_DATA;
    return 0;
}

int synq_ws_scan(synq_ws_scan_t *s, const uint8_t *data, size_t len, uint8_t held[14],
                 size_t *nheld, size_t *ok)
{
    *ok = 0;
    *nheld = 0;
    if (s->failed) return SYNQ_EPROTO;
    if (s->closed) return 0;
    /* a header begun in an earlier piece: its bytes go out before this
     * piece's once it is complete and checked */
    size_t npre = s->have > 0 && s->have < s->need ? s->have : 0;
    memcpy(held, s->hdr, npre);
    size_t i = 0, frame_start = 0;
    while (i < len) {
        bool frame_done = false;
        if (s->have == s->need && s->left > 0) { /* in a payload */
            size_t take = (size_t)SYNQ_MIN(s->left, (uint64_t)(len - i));
            if (s->in_close) { /* at most 125 bytes: the header said so */
                const uint8_t *key = s->hdr + s->need - 4;
                for (size_t k = 0; k < take; k++, s->close_len++)
                    s->close[s->close_len] = (uint8_t)(data[i + k] ^ key[s->close_len % 4]);
            }
            i += take;
            s->left -= take;
            frame_done = s->left == 0;
        } else {
            s->hdr[s->have++] = data[i++];
            if (s->have == 1) s->in_close = (s->hdr[0] & 0x0f) == SYNQ_WS_OP_CLOSE;
            if (s->have == 2) {
                int code = scan_first(s);
                if (code) {
                    *ok = frame_start; /* nothing of the bad frame */
                    if (*ok > 0) *nheld = npre;
                    return scan_fail(s, code);
                }
            }
            if (s->have == s->need) {
                if (!scan_length(s)) {
                    *ok = frame_start;
                    if (*ok > 0) *nheld = npre;
                    return scan_fail(s, SYNQ_WS_CLOSE_PROTOCOL);
                }
                frame_done = s->left == 0;
            }
        }
        if (!frame_done) continue;
        if (s->in_close) {
            *ok = frame_start;
            if (*ok > 0) *nheld = npre;
            int code = scan_close_body(s);
            if (code) return scan_fail(s, code);
            s->closed = true;
            return 0;
        }
        s->have = 0;
        s->need = 2;
        frame_start = i;
    }
    /* hold back a Close, and a header not complete yet */
    *ok = s->in_close || s->have < s->need ? frame_start : len;
    if (*ok > 0) *nheld = npre;
    return 0;
}

/* ---- session ------------------------------------------------------------- */

struct synq_ws_session_s {
    wslay_event_context_ptr ctx;
    synq_ws_scan_t scan;
    synq_ws_message_cb on_message;
    void *arg;
    size_t max_message;
    bool deflate;
    bool reset_inflate; /* client_no_context_takeover */
    bool inflate_ready;
    z_stream inflater;
    synq_buf_t inflated; /* scratch for one message */
    synq_buf_t out;      /* frames to send */
    const uint8_t *in;   /* input being fed to wslay: held[0..nheld), then in[0..in_len) */
    size_t in_len;
    uint8_t held[14];
    size_t nheld;
    int local_code; /* the Close we started with, or 0 */
    int recv_code;  /* the client's Close (1005 without a code), or 0 */
    bool muted;     /* no more messages (we started closing) */
};

/* Gives wslay as much as fits in one go: it takes a short read for "no
 * more input now" and stops. */
static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                             void *user)
{
    synq_ws_session_t *s = user;
    size_t n = 0;
    if (s->nheld > 0) {
        n = SYNQ_MIN(len, s->nheld);
        memcpy(buf, s->held, n);
        memmove(s->held, s->held + n, s->nheld - n);
        s->nheld -= n;
    }
    size_t m = SYNQ_MIN(len - n, s->in_len);
    if (m > 0) {
        memcpy(buf + n, s->in, m);
        s->in += m;
        s->in_len -= m;
        n += m;
    }
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)n;
}

/* Takes every byte: wslay never keeps part of a frame, so frames built
 * elsewhere can be written between its frames. */
static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user)
{
    synq_ws_session_t *s = user;
    synq_buf_append(&s->out, data, len);
    return (ssize_t)len;
}

/* Moves what wslay queued (pong, Close) into the output at once, also from
 * inside wslay_event_recv's callbacks (its send side is separate): wslay
 * drops control frames still queued when a Close is queued, so a pong must
 * not wait, or whether it goes out would depend on how the bytes arrived. */
static void session_flush(synq_ws_session_t *s)
{
    wslay_event_send(s->ctx);
}

/* Fails the connection (§7.1.7): Close with code, read no more. */
static void session_fail(synq_ws_session_t *s, int code)
{
    if (wslay_event_queue_close(s->ctx, (uint16_t)code, NULL, 0) == 0 && s->local_code == 0)
        s->local_code = code;
    wslay_event_shutdown_read(s->ctx);
}

/* Inflates one message (RFC 7692 §7.2.2: append 00 00 ff ff, then inflate)
 * into s->inflated, never past max_message + 1 bytes. Returns 0 or the
 * close code: 1009 when too big, 1007 when the data is not deflate. */
static int session_inflate(synq_ws_session_t *s, const uint8_t *msg, size_t len)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *z = &s->inflater;
    if (!s->inflate_ready) {
        memset(z, 0, sizeof *z);
        if (inflateInit2(z, -15) != Z_OK) return SYNQ_WS_CLOSE_INTERNAL;
        s->inflate_ready = true;
    } else if (s->reset_inflate) {
        inflateReset(z);
    }
    s->inflated.len = 0;
    for (int part = 0; part < 2; part++) {
        z->next_in = (Bytef *)(part == 0 ? msg : tail);
        z->avail_in = (uInt)(part == 0 ? len : sizeof tail);
        for (;;) {
            size_t room = SYNQ_MIN((size_t)16384, s->max_message + 1 - s->inflated.len);
            synq_buf_reserve(&s->inflated, room);
            z->next_out = (Bytef *)(s->inflated.data + s->inflated.len);
            z->avail_out = (uInt)room;
            int zr = inflate(z, Z_SYNC_FLUSH);
            s->inflated.len += room - z->avail_out;
            s->inflated.data[s->inflated.len] = '\0';
            if (s->inflated.len > s->max_message) return SYNQ_WS_CLOSE_TOO_BIG;
            if (zr == Z_STREAM_END) {
                /* a final block (BFINAL): what follows starts a new stream */
                inflateReset(z);
                if (z->avail_in == 0) break;
                continue;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR) return SYNQ_WS_CLOSE_BAD_DATA;
            /* done when all input is taken and all output out (room left),
             * or when zlib can make no progress */
            if (z->avail_out > 0 && (z->avail_in == 0 || zr == Z_BUF_ERROR)) break;
        }
    }
    return 0;
}

static void on_wslay_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                         void *user)
{
    synq_ws_session_t *s = user;
    if (a->opcode == WSLAY_PING) session_flush(s); /* its pong, now */
    if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME) return;
    if (s->muted) return;
    const char *data = (const char *)a->msg;
    size_t len = a->msg_length;
    if (wslay_get_rsv1(a->rsv)) {
        int code = session_inflate(s, a->msg, len);
        if (code) {
            session_fail(s, code);
            return;
        }
        data = s->inflated.data;
        len = s->inflated.len;
    } else if (len > s->max_message) {
        /* wslay's bound has slack for compressed messages */
        session_fail(s, SYNQ_WS_CLOSE_TOO_BIG);
        return;
    }
    if (a->opcode == WSLAY_TEXT_FRAME && !synq_ws_utf8_valid(data, len)) { /* §8.1 */
        session_fail(s, SYNQ_WS_CLOSE_BAD_DATA);
        return;
    }
    s->on_message(data ? data : "", len, a->opcode == WSLAY_BINARY_FRAME, s->arg);
    if (s->inflated.cap > 64 * 1024) { /* do not keep a big message's buffer */
        synq_buf_release(&s->inflated);
        synq_buf_init(&s->inflated);
    }
}

synq_ws_session_t *synq_ws_session_new(size_t max_message, const synq_ws_pmd_t *pmd,
                                       synq_ws_message_cb on_message, void *arg)
{
    synq_ws_session_t *s = synq_calloc(1, sizeof *s);
    struct wslay_event_callbacks cb = {
        .recv_callback = on_wslay_recv,
        .send_callback = on_wslay_send,
        .on_msg_recv_callback = on_wslay_msg,
    };
    if (wslay_event_context_server_init(&s->ctx, &cb, s) != 0) {
        fprintf(stderr, "synq: out of memory (wslay)\n");
        abort();
    }
    s->on_message = on_message;
    s->arg = arg;
    s->max_message = max_message;
    s->deflate = pmd != NULL;
    s->reset_inflate = pmd && pmd->client_no_context_takeover;
    synq_buf_init(&s->inflated);
    synq_buf_init(&s->out);
    synq_ws_scan_init(&s->scan);
    /* wslay bounds what it buffers of a message; a compressed one may be a
     * little larger on the wire than inflated (fixed Huffman codes spend up
     * to 9 bits on a byte), and its inflated size is checked here */
    uint64_t wire_max = max_message;
    if (s->deflate) wire_max += max_message / 8 + 64;
    wslay_event_config_set_max_recv_msg_length(s->ctx, wire_max);
    wslay_event_config_set_allowed_rsv_bits(s->ctx, s->deflate ? WSLAY_RSV1_BIT : WSLAY_RSV_NONE);
    return s;
}

void synq_ws_session_free(synq_ws_session_t *s)
{
    if (s == NULL) return;
    wslay_event_context_free(s->ctx);
    if (s->inflate_ready) inflateEnd(&s->inflater);
    synq_buf_release(&s->inflated);
    synq_buf_release(&s->out);
    free(s);
}

int synq_ws_session_feed(synq_ws_session_t *s, const char *data, size_t len)
{
    if (!wslay_event_get_read_enabled(s->ctx)) return SYNQ_EPROTO;
    size_t ok;
    int bad = synq_ws_scan(&s->scan, (const uint8_t *)data, len, s->held, &s->nheld, &ok);
    s->in = (const uint8_t *)data;
    s->in_len = ok;
    int rc = wslay_event_recv(s->ctx);
    s->in = NULL;
    s->in_len = s->nheld = 0;
    if (rc < 0) {
        /* wslay gave up (a rule the scanner did not see first) and queued
         * a Close without a code: at least report the right one */
        if (s->local_code == 0) s->local_code = SYNQ_WS_CLOSE_PROTOCOL;
        wslay_event_shutdown_read(s->ctx);
    } else if (wslay_event_get_read_enabled(s->ctx)) {
        if (bad) {
            session_fail(s, s->scan.code);
        } else if (s->scan.closed) {
            /* §5.5.1: echo the client's Close (unless ours went first),
             * and read no more */
            const uint8_t *body = s->scan.close;
            size_t n = s->scan.close_len;
            int code = n >= 2 ? (body[0] << 8) | body[1] : 0;
            s->recv_code = code ? code : SYNQ_WS_CLOSE_NO_STATUS;
            wslay_event_queue_close(s->ctx, (uint16_t)code, n > 2 ? body + 2 : NULL,
                                    n > 2 ? n - 2 : 0);
            wslay_event_shutdown_read(s->ctx);
        }
    }
    session_flush(s);
    return 0;
}

bool synq_ws_close_code_valid(int code)
{
    /* §7.4.1, §7.4.2 and the IANA registry: 1004-1006 and 1015 are never
     * sent, 1016-2999 are unassigned */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int synq_ws_session_close(synq_ws_session_t *s, int code, const char *reason, size_t len)
{
    if (code != 0 && !synq_ws_close_code_valid(code)) return SYNQ_EINVAL;
    if (reason == NULL) len = 0;
    len = synq_ws_utf8_cut(reason, len, 123);
    if (code == 0) len = 0;
    if (wslay_event_queue_close(s->ctx, (uint16_t)code, (const uint8_t *)reason, len) != 0)
        return SYNQ_ECONFLICT;
    s->muted = true;
    if (s->local_code == 0 && s->recv_code == 0)
        s->local_code = code ? code : SYNQ_WS_CLOSE_NO_STATUS;
    session_flush(s);
    return 0;
}

synq_buf_t *synq_ws_session_output(synq_ws_session_t *s)
{
    return &s->out;
}

bool synq_ws_session_close_sent(const synq_ws_session_t *s)
{
    return wslay_event_get_close_sent(s->ctx) != 0;
}

bool synq_ws_session_close_received(const synq_ws_session_t *s)
{
    return s->recv_code != 0;
}

bool synq_ws_session_reading(const synq_ws_session_t *s)
{
    return wslay_event_get_read_enabled(s->ctx) != 0;
}

int synq_ws_session_code(const synq_ws_session_t *s)
{
    if (s->local_code) return s->local_code;
    if (s->recv_code) return s->recv_code;
    if (wslay_event_get_close_sent(s->ctx)) return wslay_event_get_status_code_sent(s->ctx);
    return 0;
}
