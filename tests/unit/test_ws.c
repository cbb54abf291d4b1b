/* Unit tests for net/ws_proto and net/ws (and the upgrade hand-off of
 * net/http).
 *
 * Pure parts: the Sec-WebSocket-Accept vector of RFC 6455 §1.3, frame
 * headers at every length boundary (§5.2, shortest form), synq_ws_frame with
 * deflate as a round trip through zlib's inflate (RFC 7692 §7.2.1, every
 * frame decodable alone), permessage-deflate offers, the UTF-8 validator
 * (overlongs, surrogates, truncation) and the frame scanner.
 *
 * The session is driven with frames a client would send (masked), fed
 * whole, one byte at a time and split in two at every position: the same
 * messages and the same bytes out, in particular the Close code each
 * violation calls for (1002, 1007, 1009) and the echo of ping and Close.
 *
 * The connection tests run the real HTTP server on 127.0.0.1 (port 0) with
 * raw uv_tcp clients on one loop per test: the handshake and its refusals,
 * frames sent right behind the handshake, the closing handshake from either
 * side and its timeout, violations as the client sees them on the wire,
 * TCP loss (1006), server shutdown (1001), a slow consumer and fan-out of a
 * shared frame. Every test ends by closing the server, running the loop dry
 * and checking uv_loop_close() returns 0. */
#include "net/ws.h"

#include "net/ws_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include <cmocka.h>

/* ---- client-side helpers ---------------------------------------------------- */

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a client frame: first byte b0 (FIN, RSV, opcode), masked payload,
 * shortest length form. */
static void cframe(synq_buf_t *b, unsigned b0, const void *payload, size_t len)
{
    uint8_t h[14];
    size_t n = 0;
    h[n++] = (uint8_t)b0;
    if (len < 126) {
        h[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(h + n, MASK, 4);
    n += 4;
    synq_buf_append(b, h, n);
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        synq_buf_putc(b, (char)(p[i] ^ MASK[i % 4]));
}

static void ctext(synq_buf_t *b, const char *s)
{
    cframe(b, 0x81, s, strlen(s));
}

static void cclose(synq_buf_t *b, int code, const char *reason)
{
    uint8_t p[125];
    size_t n = 0;
    if (code) {
        p[n++] = (uint8_t)(code >> 8);
        p[n++] = (uint8_t)code;
        size_t r = reason ? strlen(reason) : 0;
        if (r) memcpy(p + n, reason, r);
        n += r;
    }
    cframe(b, 0x88, p, n);
}

/* A client compressor (RFC 7692 §7.2.1), kept across messages unless
 * reset: context takeover, as browsers do by default. */
typedef struct {
    z_stream z;
} cdeflate_t;

static void cdeflate_init(cdeflate_t *d)
{
    memset(&d->z, 0, sizeof d->z);
    assert_int_equal(deflateInit2(&d->z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
}

static void cdeflate_msg(cdeflate_t *d, synq_buf_t *b, unsigned opcode, const char *s, size_t n)
{
    size_t cap = n + n / 8 + 64;
    uint8_t *out = synq_malloc(cap);
    d->z.next_in = (Bytef *)s;
    d->z.avail_in = (uInt)n;
    d->z.next_out = out;
    d->z.avail_out = (uInt)cap;
    int zr = deflate(&d->z, Z_SYNC_FLUSH);
    assert_int_equal(d->z.avail_in, 0);
    size_t len = cap - d->z.avail_out;
    if (zr == Z_BUF_ERROR && len == 0) {
        /* nothing new since the last flush: §7.2.3.6, one 00 byte */
        cframe(b, 0x80 | 0x40 | opcode, "", 1);
        free(out);
        return;
    }
    assert_int_equal(zr, Z_OK);
    assert_true(len >= 4);
    assert_memory_equal(out + len - 4, "\x00\x00\xff\xff", 4);
    cframe(b, 0x80 | 0x40 | opcode, out, len - 4);
    free(out);
}

static void cdeflate_end(cdeflate_t *d)
{
    deflateEnd(&d->z);
}

/* One frame from the server (unmasked). */
typedef struct {
    unsigned b0;
    synq_buf_t payload;
} sframe_t;

#define MAX_FRAMES 64

typedef struct {
    sframe_t f[MAX_FRAMES];
    int n;
    size_t used; /* bytes of whole frames */
} sframes_t;

static void sframes_release(sframes_t *fs)
{
    for (int i = 0; i < fs->n; i++)
        synq_buf_release(&fs->f[i].payload);
    fs->n = 0;
}

/* Parses server frames from s[0..n); stops at an incomplete one. Checks the
 * server's own rules: no mask, shortest length form. */
static void sframes_parse(const char *s, size_t n, sframes_t *fs)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    fs->n = 0;
    for (;;) {
        if (n - i < 2) break;
        unsigned b0 = p[i], b1 = p[i + 1];
        assert_int_equal(b1 & 0x80, 0); /* §5.1: the server never masks */
        uint64_t len = b1 & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - i < 4) break;
            len = ((uint64_t)p[i + 2] << 8) | p[i + 3];
            assert_true(len >= 126);
            hl = 4;
        } else if (len == 127) {
            if (n - i < 10) break;
            len = 0;
            for (int k = 0; k < 8; k++)
                len = (len << 8) | p[i + 2 + k];
            assert_true(len > 0xffff);
            hl = 10;
        }
        if (n - i - hl < len) break;
        assert_true(fs->n < MAX_FRAMES);
        sframe_t *f = &fs->f[fs->n++];
        f->b0 = b0;
        synq_buf_init(&f->payload);
        synq_buf_append(&f->payload, p + i + hl, (size_t)len);
        i += hl + (size_t)len;
    }
    fs->used = i;
}

static int close_code(const sframe_t *f)
{
    assert_int_equal(f->b0, 0x88);
    if (f->payload.len < 2) return 0;
    return ((uint8_t)f->payload.data[0] << 8) | (uint8_t)f->payload.data[1];
}

/* Inflates one server payload with a fresh inflater (the server asserts
 * server_no_context_takeover). */
static void inflate_alone(const char *p, size_t n, synq_buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, -15), Z_OK);
    synq_buf_t in;
    synq_buf_init(&in);
    synq_buf_append(&in, p, n);
    synq_buf_append(&in, "\x00\x00\xff\xff", 4);
    z.next_in = (Bytef *)in.data;
    z.avail_in = (uInt)in.len;
    for (;;) {
        synq_buf_reserve(out, 4096);
        size_t room = out->cap - out->len - 1;
        z.next_out = (Bytef *)(out->data + out->len);
        z.avail_out = (uInt)room;
        int zr = inflate(&z, Z_SYNC_FLUSH);
        assert_true(zr == Z_OK || zr == Z_BUF_ERROR);
        out->len += room - z.avail_out;
        if (z.avail_in == 0 && z.avail_out > 0) break;
    }
    out->data[out->len] = '\0';
    inflateEnd(&z);
    synq_buf_release(&in);
}

/* ---- handshake pieces ---------------------------------------------------------- */

static void test_accept_key(void **state)
{
    char out[29];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    assert_int_equal(synq_ws_accept_key(key, strlen(key), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const char *bad[] = {"",
                         "dGhlIHNhbXBsZSBub25jZQ=",
                         "dGhlIHNhbXBsZSBub25jZQ===",
                         "dGhlIHNhbXBsZSBub25jZ===",
                         "dGhlIHNhbXBsZSBub25j*Q==",
                         "dGhlIHNhbXBsZSBub25jZQAA",
                         "dGhlIHNhbXBsZSBub25jZQ== ",
                         "aGVsbG8=",
                         "dGhlIHNhbXBsZSBub25jZSBub25jZQ=="};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++)
        assert_int_equal(synq_ws_accept_key(bad[i], strlen(bad[i]), out), SYNQ_EINVAL);
}

static void check_offer(const char *offer, bool want, bool cnct, bool smwb)
{
    synq_ws_pmd_t pmd;
    bool got = synq_ws_pmd_negotiate(offer, strlen(offer), &pmd);
    if (got != want) fail_msg("offer \"%s\": %s", offer, got ? "accepted" : "declined");
    if (!want) return;
    if (pmd.client_no_context_takeover != cnct) fail_msg("offer \"%s\": cnct", offer);
    if (pmd.server_max_window_bits != smwb) fail_msg("offer \"%s\": smwb", offer);
}

static void test_pmd_offers(void **state)
{
    check_offer("permessage-deflate", true, false, false);
    check_offer("Permessage-Deflate", true, false, false);
    check_offer("permessage-deflate; client_max_window_bits", true, false, false);
    check_offer("permessage-deflate; client_max_window_bits=10", true, false, false);
    check_offer("permessage-deflate; client_max_window_bits=\"12\"", true, false, false);
    check_offer("permessage-deflate;server_no_context_takeover;client_no_context_takeover", true,
                true, false);
    check_offer("permessage-deflate; server_max_window_bits=15", true, false, true);
    check_offer("permessage-deflate ; server_max_window_bits = 15 ; client_no_context_takeover",
                true, true, true);
    /* declined: a smaller server window, a value where none belongs, bad
     * values, unknown or repeated parameters, other extensions */
    check_offer("permessage-deflate; server_max_window_bits=10", false, false, false);
    check_offer("permessage-deflate; server_max_window_bits", false, false, false);
    check_offer("permessage-deflate; client_max_window_bits=7", false, false, false);
    check_offer("permessage-deflate; client_max_window_bits=16", false, false, false);
    check_offer("permessage-deflate; client_max_window_bits=010", false, false, false);
    check_offer("permessage-deflate; server_no_context_takeover=1", false, false, false);
    check_offer("permessage-deflate; foo", false, false, false);
    check_offer("permessage-deflate; client_no_context_takeover; client_no_context_takeover", false,
                false, false);
    check_offer("x-webkit-deflate-frame", false, false, false);
    check_offer("", false, false, false);
    /* several offers: the first acceptable one */
    check_offer("permessage-deflate; server_max_window_bits=10, permessage-deflate; "
                "client_no_context_takeover",
                true, true, false);
    check_offer("foo; a=1; b=\"x,y\", permessage-deflate; server_max_window_bits=15", true, false,
                true);
    check_offer("permessage-deflate; client_no_context_takeover, permessage-deflate", true, true,
                false);
    check_offer(" , permessage-deflate", true, false, false);
    /* broken syntax: nothing at all */
    check_offer("permessage-deflate; =15", false, false, false);
    check_offer("permessage-deflate; client_max_window_bits=\"10", false, false, false);

    synq_buf_t b;
    synq_buf_init(&b);
    synq_ws_pmd_t pmd = {.client_no_context_takeover = true, .server_max_window_bits = true};
    synq_ws_pmd_response(&pmd, &b);
    assert_string_equal(b.data, "permessage-deflate; server_no_context_takeover; "
                                "client_no_context_takeover; server_max_window_bits=15");
    b.len = 0;
    pmd = (synq_ws_pmd_t){0};
    synq_ws_pmd_response(&pmd, &b);
    assert_string_equal(b.data, "permessage-deflate; server_no_context_takeover");
    synq_buf_release(&b);
}

/* ---- frames -------------------------------------------------------------------- */

static void test_frame_lengths(void **state)
{
    const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    const size_t hls[] = {2, 2, 2, 4, 4, 4, 10, 10};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(lens); i++) {
        char *data = synq_malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            data[k] = (char)('a' + k % 26);
        synq_rcbuf_t *f = synq_ws_frame(data, lens[i], false);
        assert_int_equal(synq_rcbuf_len(f), hls[i] + lens[i]);
        const uint8_t *p = (const uint8_t *)synq_rcbuf_data(f);
        assert_int_equal(p[0], 0x81); /* FIN, text, no RSV */
        sframes_t fs;
        sframes_parse(synq_rcbuf_data(f), synq_rcbuf_len(f), &fs);
        assert_int_equal(fs.n, 1);
        assert_int_equal(fs.used, synq_rcbuf_len(f));
        assert_int_equal(fs.f[0].payload.len, lens[i]);
        if (lens[i]) assert_memory_equal(fs.f[0].payload.data, data, lens[i]);
        sframes_release(&fs);
        synq_rcbuf_unref(f);
        free(data);
    }
    /* the exact bytes at the boundaries */
    uint8_t h[10];
    assert_int_equal(synq_ws_frame_header(h, SYNQ_WS_OP_TEXT, false, 125), 2);
    assert_memory_equal(h, "\x81\x7d", 2);
    assert_int_equal(synq_ws_frame_header(h, SYNQ_WS_OP_TEXT, true, 126), 4);
    assert_memory_equal(h, "\xc1\x7e\x00\x7e", 4);
    assert_int_equal(synq_ws_frame_header(h, SYNQ_WS_OP_BINARY, false, 65535), 4);
    assert_memory_equal(h, "\x82\x7e\xff\xff", 4);
    assert_int_equal(synq_ws_frame_header(h, SYNQ_WS_OP_CLOSE, false, 65536), 10);
    assert_memory_equal(h, "\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
}

static void test_frame_deflate_round_trip(void **state)
{
    const size_t lens[] = {0, 1, 5, 200, 4096, 70000, 300000};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(lens); i++) {
        size_t n = lens[i];
        char *data = synq_malloc(n + 1);
        uint32_t seed = (uint32_t)i + 1;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            /* half text-like, half noise: both stored and Huffman blocks */
            data[k] = k % 1000 < 500 ? (char)("synq websocket "[k % 15]) : (char)(seed >> 16);
        }
        for (int twice = 0; twice < 2; twice++) { /* the cached compressor resets */
            synq_rcbuf_t *f = synq_ws_frame(data, n, true);
            sframes_t fs;
            sframes_parse(synq_rcbuf_data(f), synq_rcbuf_len(f), &fs);
            assert_int_equal(fs.n, 1);
            assert_int_equal(fs.used, synq_rcbuf_len(f));
            assert_int_equal(fs.f[0].b0, 0xc1); /* FIN, RSV1, text */
            if (n == 0) {                       /* §7.2.3.6: an empty message is one 00 byte */
                assert_int_equal(fs.f[0].payload.len, 1);
                assert_int_equal(fs.f[0].payload.data[0], 0);
            }
            synq_buf_t out;
            synq_buf_init(&out);
            inflate_alone(fs.f[0].payload.data, fs.f[0].payload.len, &out);
            assert_int_equal(out.len, n);
            if (n) assert_memory_equal(out.data, data, n);
            synq_buf_release(&out);
            sframes_release(&fs);
            synq_rcbuf_unref(f);
        }
        free(data);
    }
    /* text compresses */
    char text[2000];
    for (size_t k = 0; k < sizeof text; k++)
        text[k] = "{\"channel\":\"news\",\"data\":{}}"[k % 28];
    synq_rcbuf_t *f = synq_ws_frame(text, sizeof text, true);
    assert_true(synq_rcbuf_len(f) < sizeof text / 4);
    synq_rcbuf_unref(f);
}

/* ---- UTF-8 ---------------------------------------------------------------------- */

static void test_utf8(void **state)
{
    static const struct {
        const char *s;
        size_t n;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"hello", 5, true},
        {"a\0b", 3, true},
        {"\xc3\xa9", 2, true},                                      /* é */
        {"\xe2\x82\xac", 3, true},                                  /* € */
        {"\xf0\x9f\x98\x80", 4, true},                              /* U+1F600 */
        {"\xef\xbf\xbf", 3, true},                                  /* U+FFFF */
        {"\xf4\x8f\xbf\xbf", 4, true},                              /* U+10FFFF */
        {"\xed\x9f\xbf", 3, true},                                  /* U+D7FF */
        {"\xee\x80\x80", 3, true},                                  /* U+E000 */
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, true}, /* Autobahn 6.2 */
        {"\x80", 1, false},                                         /* lone continuation */
        {"\xbf", 1, false},
        {"\xc0\x80", 2, false},                 /* overlong NUL */
        {"\xc1\xbf", 2, false},                 /* overlong */
        {"\xe0\x80\xaf", 3, false},             /* overlong '/' */
        {"\xe0\x9f\xbf", 3, false},             /* overlong */
        {"\xf0\x8f\xbf\xbf", 4, false},         /* overlong */
        {"\xed\xa0\x80", 3, false},             /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, false},             /* U+DFFF surrogate */
        {"\xed\xa0\x80\xed\xb0\x80", 6, false}, /* surrogate pair in CESU-8 */
        {"\xf4\x90\x80\x80", 4, false},         /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, false},
        {"\xff", 1, false},
        {"\xfe", 1, false},
        {"\xc3", 1, false}, /* truncated */
        {"\xe2\x82", 2, false},
        {"\xf0\x9f\x98", 3, false},
        {"abcdefgh\xe2\x82", 10, false}, /* truncated after an ASCII run */
        {"\xe2\x28\xa1", 3, false},      /* bad continuation */
        {"\xc3\xa9\x80", 3, false},
        {"abcdefghijklmnop\xce\xba", 18, true},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 20,
         false}, /* Autobahn 6.3.1 */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        /* an exact-size copy: a read past the end shows under ASan */
        char *copy = synq_malloc(cases[i].n ? cases[i].n : 1);
        memcpy(copy, cases[i].s, cases[i].n);
        if (synq_ws_utf8_valid(copy, cases[i].n) != cases[i].ok)
            fail_msg("case %zu: want %s", i, cases[i].ok ? "valid" : "invalid");
        free(copy);
    }
    /* every code point encodes to something valid; every lone byte >= 0x80 is not */
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x800 ? 1 : 7)) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        char b[4];
        size_t n;
        if (cp < 0x80)
            b[0] = (char)cp, n = 1;
        else if (cp < 0x800)
            b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
        else if (cp < 0x10000)
            b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
            b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
        else
            b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
            b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
        assert_true(synq_ws_utf8_valid(b, n));
        for (size_t k = 1; k < n; k++)
            assert_false(synq_ws_utf8_valid(b, k)); /* truncated */
    }
    for (int c = 0x80; c < 0x100; c++) {
        char b = (char)c;
        assert_false(synq_ws_utf8_valid(&b, 1));
    }

    /* cutting a close reason */
    const char *r = "ab\xe2\x82\xac"; /* "ab€" */
    assert_int_equal(synq_ws_utf8_cut(r, 5, 123), 5);
    assert_int_equal(synq_ws_utf8_cut(r, 5, 5), 5);
    assert_int_equal(synq_ws_utf8_cut(r, 5, 4), 2);
    assert_int_equal(synq_ws_utf8_cut(r, 5, 3), 2);
    assert_int_equal(synq_ws_utf8_cut(r, 5, 2), 2);
    assert_int_equal(synq_ws_utf8_cut(r, 5, 1), 1);
    assert_int_equal(synq_ws_utf8_cut(NULL, 0, 123), 0);
}

/* ---- frame scanner ------------------------------------------------------------- */

/* Scans in two pieces cut at `at`, as the session feeds: the bytes the
 * scanner lets through (held ones, then the piece's), whether it failed
 * (and with which code) and whether it took a complete Close. */
typedef struct {
    synq_buf_t fed;
    bool failed;
    int code;
    bool closed;
} scanned_t;

static void scan_piece(synq_ws_scan_t *s, const char *data, size_t len, scanned_t *r, int *rc)
{
    char *copy = synq_malloc(len ? len : 1); /* exact size: overreads show */
    memcpy(copy, data, len);
    uint8_t held[14];
    size_t nheld, ok;
    *rc = synq_ws_scan(s, (const uint8_t *)copy, len, held, &nheld, &ok);
    assert_true(ok <= len);
    synq_buf_append(&r->fed, held, nheld);
    synq_buf_append(&r->fed, copy, ok);
    free(copy);
}

static void scan_split(const synq_buf_t *in, size_t at, scanned_t *r)
{
    synq_ws_scan_t s;
    synq_ws_scan_init(&s);
    memset(r, 0, sizeof *r);
    synq_buf_init(&r->fed);
    int rc;
    scan_piece(&s, in->data, at, r, &rc);
    if (rc == 0 && !s.closed) scan_piece(&s, in->data + at, in->len - at, r, &rc);
    r->failed = rc < 0;
    assert_int_equal(r->failed, s.failed);
    r->code = s.failed ? s.code : 0;
    r->closed = s.closed;
    /* once over, the scanner lets nothing more through */
    if (s.failed || s.closed) {
        size_t before = r->fed.len;
        int again;
        scan_piece(&s, "\x81\x80\x00\x00\x00\x00", 6, r, &again);
        assert_int_equal(again, rc);
        assert_int_equal(r->fed.len, before);
    }
}

/* Split positions to try: all of them for small inputs; for big ones every
 * byte of the first and last 300 (where the test inputs keep their frame
 * headers) and every 97th between. */
static bool try_split(size_t at, size_t len)
{
    return len < 2000 || at < 300 || at + 300 > len || at % 97 == 0;
}

/* Every split must agree: a violation at `stop` (code) or a Close starting
 * at `stop` (code 0, closed) or neither (stop = len). */
static void check_scan(const synq_buf_t *in, size_t stop, int code, bool closed)
{
    for (size_t at = 0; at <= in->len; at++) {
        if (!try_split(at, in->len)) continue;
        scanned_t r;
        scan_split(in, at, &r);
        if (r.code != code || r.closed != closed)
            fail_msg("split at %zu: code %d closed %d", at, r.code, r.closed);
        /* exactly the bytes before the Close or bad frame, in order */
        if (r.fed.len != stop || memcmp(r.fed.data, in->data, stop) != 0)
            fail_msg("split at %zu: %zu bytes through, want %zu", at, r.fed.len, stop);
        synq_buf_release(&r.fed);
    }
}

static void test_scan(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    char big[70000];
    memset(big, 'x', sizeof big);
    /* good: all lengths, control frames between fragments */
    ctext(&b, "hi");
    cframe(&b, 0x01, big, 126);
    cframe(&b, 0x89, "ping", 4);
    cframe(&b, 0x80, big, 65536);
    cframe(&b, 0x8a, "", 0);
    cframe(&b, 0x82, big, 0);
    check_scan(&b, b.len, 0, false);
    size_t good = b.len;

    /* a Close is held back, whole; what follows it does not count */
    cclose(&b, 1000, "bye \xe2\x82\xac");
    check_scan(&b, good, 0, true);
    ctext(&b, "after");
    synq_buf_append(&b, "\x89\xfe", 2); /* even a bad frame */
    check_scan(&b, good, 0, true);
    b.len = good;
    cclose(&b, 0, NULL);
    check_scan(&b, good, 0, true);
    synq_ws_scan_t s;
    synq_ws_scan_init(&s);
    uint8_t held[14];
    size_t ok, nheld;
    assert_int_equal(synq_ws_scan(&s, (const uint8_t *)b.data, b.len, held, &nheld, &ok), 0);
    assert_true(s.closed);
    assert_int_equal(s.close_len, 0);
    b.len = good;
    cclose(&b, 4999, "r");
    synq_ws_scan_init(&s);
    assert_int_equal(synq_ws_scan(&s, (const uint8_t *)b.data, b.len, held, &nheld, &ok), 0);
    assert_int_equal(s.close_len, 3);
    assert_memory_equal(s.close, "\x13\x87r", 3); /* unmasked */

    struct {
        const char *what;
        uint8_t bytes[16];
        size_t n;
        int code;
    } bad[] = {
        {"unmasked", {0x81, 0x00}, 2, 1002},
        {"ping 126", {0x89, 0xfe, 0x00, 0x7e}, 4, 1002},
        {"fragmented ping", {0x09, 0x80, 1, 2, 3, 4}, 6, 1002},
        {"close of 1 byte", {0x88, 0x81, 1, 2, 3, 4, 5}, 7, 1002},
        {"close code 1005", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, 1002},
        {"close code 1016", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xf8}, 8, 1002},
        {"close code 2999", {0x88, 0x82, 0, 0, 0, 0, 0x0b, 0xb7}, 8, 1002},
        {"close code 5000", {0x88, 0x82, 0, 0, 0, 0, 0x13, 0x88}, 8, 1002},
        {"close reason not UTF-8", {0x88, 0x83, 0, 0, 0, 0, 0x03, 0xe8, 0xc0}, 9, 1007},
        {"16-bit length under 126", {0x81, 0xfe, 0x00, 0x7d}, 4, 1002},
        {"64-bit length under 65536", {0x81, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 10, 1002},
        {"64-bit length top bit", {0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, 1002},
        {"RSV2", {0xa1, 0x80, 1, 2, 3, 4}, 6, 1002},
        {"RSV3", {0x91, 0x80, 1, 2, 3, 4}, 6, 1002},
        {"opcode 3", {0x83, 0x80, 1, 2, 3, 4}, 6, 1002},
        {"opcode 0xB", {0x8b, 0x80, 1, 2, 3, 4}, 6, 1002},
        {"opcode 0xF", {0x8f, 0x80, 1, 2, 3, 4}, 6, 1002},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        b.len = good;
        synq_buf_append(&b, bad[i].bytes, bad[i].n);
        ctext(&b, "after"); /* never reached */
        for (size_t at = 0; at <= b.len; at++) {
            if (!try_split(at, b.len)) continue;
            scanned_t r;
            scan_split(&b, at, &r);
            if (!r.failed || r.code != bad[i].code)
                fail_msg("%s, split at %zu: code %d", bad[i].what, at, r.code);
            if (r.fed.len != good || memcmp(r.fed.data, b.data, good) != 0)
                fail_msg("%s, split at %zu: %zu through", bad[i].what, at, r.fed.len);
            synq_buf_release(&r.fed);
        }
    }
    synq_buf_release(&b);
}

/* ---- session ------------------------------------------------------------------- */

#define MAX_MSGS 32

typedef struct {
    synq_buf_t msg[MAX_MSGS];
    bool binary[MAX_MSGS];
    int n;
    int close_at; /* close the session when this message arrives (or -1) */
    synq_ws_session_t *s;
} sink_t;

static void on_sink_message(const char *data, size_t len, bool binary, void *arg)
{
    sink_t *k = arg;
    assert_true(k->n < MAX_MSGS);
    synq_buf_init(&k->msg[k->n]);
    synq_buf_append(&k->msg[k->n], data, len);
    k->binary[k->n] = binary;
    if (k->n++ == k->close_at) assert_int_equal(synq_ws_session_close(k->s, 4000, "enough", 6), 0);
}

/* What feeding an input one way produced. */
typedef struct {
    sink_t sink;
    synq_buf_t out;
    int code;
    bool reading, close_sent, close_received;
} outcome_t;

static void outcome_release(outcome_t *o)
{
    for (int i = 0; i < o->sink.n; i++)
        synq_buf_release(&o->sink.msg[i]);
    synq_buf_release(&o->out);
}

/* Feeds in[0..len) in pieces: whole (step 0), `step` bytes at a time, or
 * cut in two at `at` (step -1). */
static void session_run(const synq_buf_t *in, size_t max, const synq_ws_pmd_t *pmd, int close_at,
                        long step, size_t at, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    o->sink.close_at = close_at;
    synq_buf_init(&o->out);
    synq_ws_session_t *s = synq_ws_session_new(max, pmd, on_sink_message, &o->sink);
    o->sink.s = s;
    size_t off = 0;
    for (int piece = 0; off < in->len; piece++) {
        size_t n = step > 0     ? SYNQ_MIN((size_t)step, in->len - off)
                   : step == 0  ? in->len
                   : piece == 0 ? at
                                : in->len - off;
        char *copy = synq_malloc(n ? n : 1); /* exact size */
        memcpy(copy, in->data + off, n);
        synq_ws_session_feed(s, copy, n);
        free(copy);
        off += n;
        synq_buf_t *out = synq_ws_session_output(s);
        synq_buf_append(&o->out, out->data, out->len);
        out->len = 0;
    }
    o->code = synq_ws_session_code(s);
    o->reading = synq_ws_session_reading(s);
    o->close_sent = synq_ws_session_close_sent(s);
    o->close_received = synq_ws_session_close_received(s);
    synq_ws_session_free(s);
}

static const char *session_label = "";

static void outcome_same(const outcome_t *a, const outcome_t *b, const char *how)
{
    if (a->out.len != b->out.len || memcmp(a->out.data, b->out.data, a->out.len) != 0)
        fail_msg("%s: %s: different output (%zu and %zu bytes)", session_label, how, a->out.len,
                 b->out.len);
    if (a->sink.n != b->sink.n) fail_msg("%s: %d messages, not %d", how, b->sink.n, a->sink.n);
    for (int i = 0; i < a->sink.n; i++) {
        assert_int_equal(a->sink.msg[i].len, b->sink.msg[i].len);
        assert_memory_equal(a->sink.msg[i].data, b->sink.msg[i].data, a->sink.msg[i].len);
        assert_int_equal(a->sink.binary[i], b->sink.binary[i]);
    }
    if (a->out.len != b->out.len || memcmp(a->out.data, b->out.data, a->out.len) != 0)
        fail_msg("%s: different output", how);
    if (a->code != b->code) fail_msg("%s: code %d, not %d", how, b->code, a->code);
    assert_int_equal(a->reading, b->reading);
}

/* Runs in whole, byte by byte and split everywhere (every len/97th for big
 * inputs); all must agree. Leaves the whole run in *o. */
static void session_check(const synq_buf_t *in, size_t max, const synq_ws_pmd_t *pmd, int close_at,
                          outcome_t *o)
{
    session_run(in, max, pmd, close_at, 0, 0, o);
    outcome_t x;
    session_run(in, max, pmd, close_at, 1, 0, &x);
    outcome_same(o, &x, "byte by byte");
    outcome_release(&x);
    size_t stride = in->len > 2000 ? in->len / 97 : 1;
    for (size_t at = 0; at <= in->len; at += stride) {
        session_run(in, max, pmd, close_at, -1, at, &x);
        char how[64];
        snprintf(how, sizeof how, "split at %zu", at);
        outcome_same(o, &x, how);
        outcome_release(&x);
    }
}

/* The outcome's frames, and the code of its Close (0 when none). */
static int out_close(const outcome_t *o, sframes_t *fs)
{
    sframes_parse(o->out.data, o->out.len, fs);
    assert_int_equal(fs->used, o->out.len);
    for (int i = 0; i < fs->n; i++)
        if (fs->f[i].b0 == 0x88) {
            assert_int_equal(i, fs->n - 1); /* nothing after a Close */
            return fs->f[i].payload.len >= 2 ? close_code(&fs->f[i]) : 1005;
        }
    return 0;
}

static void test_session_messages(void **state)
{
    synq_buf_t in;
    synq_buf_init(&in);
    ctext(&in, "hello");
    cframe(&in, 0x82, "\x00\x01\xff", 3);
    /* a fragmented text with a ping and a pong between fragments; the
     * fragments cut a multibyte character in two */
    cframe(&in, 0x01, "caf\xc3", 4);
    cframe(&in, 0x89, "are you there", 13);
    cframe(&in, 0x00, "\xa9 ", 2);
    cframe(&in, 0x8a, "unsolicited", 11);
    cframe(&in, 0x80, "au lait", 7);
    ctext(&in, "");
    cclose(&in, 1000, "done");
    ctext(&in, "after close: ignored");
    outcome_t o;
    session_check(&in, 1024, NULL, -1, &o);
    assert_int_equal(o.sink.n, 4);
    assert_string_equal(o.sink.msg[0].data, "hello");
    assert_false(o.sink.binary[0]);
    assert_int_equal(o.sink.msg[1].len, 3);
    assert_memory_equal(o.sink.msg[1].data, "\x00\x01\xff", 3);
    assert_true(o.sink.binary[1]);
    assert_string_equal(o.sink.msg[2].data, "caf\xc3\xa9 au lait");
    assert_int_equal(o.sink.msg[3].len, 0);
    /* out: the pong with the ping's payload, then the Close echoed */
    sframes_t fs;
    assert_int_equal(out_close(&o, &fs), 1000);
    assert_int_equal(fs.n, 2);
    assert_int_equal(fs.f[0].b0, 0x8a);
    assert_string_equal(fs.f[0].payload.data, "are you there");
    assert_string_equal(fs.f[1].payload.data + 2, "done");
    sframes_release(&fs);
    assert_int_equal(o.code, 1000);
    assert_true(o.close_received);
    assert_true(o.close_sent);
    assert_false(o.reading);
    outcome_release(&o);

    /* a Close without a code is echoed without one: 1005 */
    in.len = 0;
    cclose(&in, 0, NULL);
    session_check(&in, 1024, NULL, -1, &o);
    assert_int_equal(out_close(&o, &fs), 1005);
    assert_int_equal(fs.f[0].payload.len, 0);
    assert_int_equal(o.code, 1005);
    sframes_release(&fs);
    outcome_release(&o);
    synq_buf_release(&in);
}

/* Each violation and the Close code the client must get. */
static void test_session_violations(void **state)
{
    char big[300];
    memset(big, 'x', sizeof big);
    static const struct {
        const char *what;
        int code;
    } cases[] = {
        {"unmasked frame", 1002},
        {"ping of 126 bytes", 1002},
        {"fragmented ping", 1002},
        {"close of 1 byte", 1002},
        {"close code 1005", 1002},
        {"close code 999", 1002},
        {"close code 2000", 1002},
        {"16-bit length for 5 bytes", 1002},
        {"continuation first", 1002},
        {"text inside a fragmented text", 1002},
        {"reserved opcode", 1002},
        {"RSV1 without deflate", 1002},
        {"RSV2", 1002},
        {"invalid UTF-8", 1007},
        {"invalid UTF-8 across fragments", 1007},
        {"truncated UTF-8 at the end", 1007},
        {"invalid UTF-8 in a close reason", 1007},
        {"too big", 1009},
        {"too big in fragments", 1009},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_buf_t in;
        synq_buf_init(&in);
        session_label = cases[i].what;
        ctext(&in, "first");
        /* its pong goes out before the Close however the bytes arrive
         * (wslay drops control frames still queued with a Close) */
        cframe(&in, 0x89, "p", 1);
        switch (i) {
        case 0:
            synq_buf_append(&in, "\x81\x02hi", 4);
            break;
        case 1:
            cframe(&in, 0x89, big, 126);
            break;
        case 2:
            cframe(&in, 0x09, "x", 1);
            break;
        case 3:
            cframe(&in, 0x88, "\x03", 1);
            break;
        case 4:
            cclose(&in, 1005, NULL);
            break;
        case 5:
            cclose(&in, 999, NULL);
            break;
        case 6:
            cclose(&in, 2000, NULL);
            break;
        case 7:
            synq_buf_append(&in, "\x81\xfe\x00\x05\x00\x00\x00\x00hello", 13);
            break;
        case 8:
            cframe(&in, 0x80, "x", 1);
            break;
        case 9:
            cframe(&in, 0x01, "a", 1);
            cframe(&in, 0x81, "b", 1);
            break;
        case 10:
            cframe(&in, 0x85, "x", 1);
            break;
        case 11:
            cframe(&in, 0xc1, "x", 1);
            break;
        case 12:
            cframe(&in, 0xa1, "x", 1);
            break;
        case 13:
            cframe(&in, 0x81, "a\xc0\x80", 3);
            break;
        case 14:
            cframe(&in, 0x01, "a\xed", 2);
            cframe(&in, 0x80, "\xa0\x80", 2);
            break;
        case 15:
            cframe(&in, 0x01, "a", 1);
            cframe(&in, 0x80, "\xe2\x82", 2);
            break;
        case 16:
            cframe(&in, 0x88, "\x03\xe8\xff", 3);
            break;
        case 17:
            cframe(&in, 0x81, big, 257);
            break;
        case 18:
            cframe(&in, 0x01, big, 200);
            cframe(&in, 0x80, big, 57);
            break;
        }
        ctext(&in, "never delivered");
        outcome_t o;
        session_check(&in, 256, NULL, -1, &o);
        sframes_t fs;
        int got = out_close(&o, &fs);
        if (got != cases[i].code)
            fail_msg("%s: Close %d, want %d", cases[i].what, got, cases[i].code);
        assert_int_equal(fs.n, 2);
        assert_int_equal(fs.f[0].b0, 0x8a);
        if (o.code != cases[i].code) fail_msg("%s: code %d", cases[i].what, o.code);
        assert_int_equal(o.sink.n, 1); /* only "first" */
        assert_false(o.reading);
        assert_false(o.close_received);
        sframes_release(&fs);
        outcome_release(&o);
        synq_buf_release(&in);
    }
}

static void test_session_limit_exact(void **state)
{
    /* max_message itself passes, also fragmented */
    char big[256];
    memset(big, 'y', sizeof big);
    synq_buf_t in;
    synq_buf_init(&in);
    cframe(&in, 0x81, big, 256);
    cframe(&in, 0x01, big, 100);
    cframe(&in, 0x80, big, 156);
    outcome_t o;
    session_check(&in, 256, NULL, -1, &o);
    assert_int_equal(o.sink.n, 2);
    assert_int_equal(o.sink.msg[1].len, 256);
    assert_int_equal(o.out.len, 0);
    assert_true(o.reading);
    assert_int_equal(o.code, 0);
    outcome_release(&o);
    synq_buf_release(&in);
}

static void test_session_deflate(void **state)
{
    synq_ws_pmd_t pmd = {0};
    cdeflate_t d;
    cdeflate_init(&d);
    synq_buf_t in;
    synq_buf_init(&in);
    /* context takeover: the second and third refer back to the first */
    const char *m1 = "{\"method\":\"publish\",\"channel\":\"news\",\"data\":{\"n\":1}}";
    const char *m2 = "{\"method\":\"publish\",\"channel\":\"news\",\"data\":{\"n\":2}}";
    cdeflate_msg(&d, &in, 1, m1, strlen(m1));
    cdeflate_msg(&d, &in, 1, m2, strlen(m2));
    cdeflate_msg(&d, &in, 2, "\x01\x02\x03", 3);
    ctext(&in, "uncompressed between");
    cdeflate_msg(&d, &in, 1, "", 0);
    cdeflate_msg(&d, &in, 1, m2, strlen(m2));
    cdeflate_end(&d);
    outcome_t o;
    session_check(&in, 1024, &pmd, -1, &o);
    assert_int_equal(o.sink.n, 6);
    assert_string_equal(o.sink.msg[0].data, m1);
    assert_string_equal(o.sink.msg[1].data, m2);
    assert_true(o.sink.binary[2]);
    assert_memory_equal(o.sink.msg[2].data, "\x01\x02\x03", 3);
    assert_string_equal(o.sink.msg[3].data, "uncompressed between");
    assert_int_equal(o.sink.msg[4].len, 0);
    assert_string_equal(o.sink.msg[5].data, m2);
    assert_int_equal(o.out.len, 0);
    outcome_release(&o);

    /* a fragmented compressed message: RSV1 on the first frame only */
    in.len = 0;
    cdeflate_init(&d);
    synq_buf_t one;
    synq_buf_init(&one);
    cdeflate_msg(&d, &one, 1, m1, strlen(m1));
    cdeflate_end(&d);
    /* unmask it again to cut the payload in two */
    size_t hl = 6;
    size_t plen = one.len - hl;
    char *payload = synq_malloc(plen);
    for (size_t k = 0; k < plen; k++)
        payload[k] = (char)(one.data[hl + k] ^ MASK[k % 4]);
    cframe(&in, 0x41, payload, plen / 2);
    cframe(&in, 0x89, "p", 1);
    cframe(&in, 0x80, payload + plen / 2, plen - plen / 2);
    session_check(&in, 1024, &pmd, -1, &o);
    assert_int_equal(o.sink.n, 1);
    assert_string_equal(o.sink.msg[0].data, m1);
    outcome_release(&o);
    /* RSV1 on a continuation frame is a protocol error */
    in.len = 0;
    cframe(&in, 0x41, payload, plen / 2);
    cframe(&in, 0xc0, payload + plen / 2, plen - plen / 2);
    session_check(&in, 1024, &pmd, -1, &o);
    sframes_t fs;
    assert_int_equal(out_close(&o, &fs), 1002);
    sframes_release(&fs);
    outcome_release(&o);
    free(payload);
    synq_buf_release(&one);

    /* a bomb: 200 KB of zeros compress to a few hundred bytes, and stop
     * at max_message with 1009 */
    in.len = 0;
    size_t n = 200000;
    char *zeros = synq_calloc(1, n);
    cdeflate_init(&d);
    cdeflate_msg(&d, &in, 1, zeros, n);
    cdeflate_end(&d);
    assert_true(in.len < 1024);
    session_check(&in, 65536, &pmd, -1, &o);
    assert_int_equal(out_close(&o, &fs), 1009);
    assert_int_equal(o.sink.n, 0);
    sframes_release(&fs);
    outcome_release(&o);
    /* the same within the bound passes */
    session_run(&in, n, &pmd, -1, 0, 0, &o);
    assert_int_equal(o.sink.n, 1);
    assert_int_equal(o.sink.msg[0].len, n);
    outcome_release(&o);
    free(zeros);

    /* not deflate data: 1007 */
    in.len = 0;
    cframe(&in, 0xc1, "\xff\xff\xff\xff", 4);
    session_check(&in, 1024, &pmd, -1, &o);
    assert_int_equal(out_close(&o, &fs), 1007);
    sframes_release(&fs);
    outcome_release(&o);

    /* inflated text that is not UTF-8: 1007 */
    in.len = 0;
    cdeflate_init(&d);
    cdeflate_msg(&d, &in, 1, "ok\xed\xa0\x80", 5);
    cdeflate_end(&d);
    session_check(&in, 1024, &pmd, -1, &o);
    assert_int_equal(out_close(&o, &fs), 1007);
    sframes_release(&fs);
    outcome_release(&o);

    /* client_no_context_takeover: a client resetting per message */
    pmd.client_no_context_takeover = true;
    in.len = 0;
    for (int i = 0; i < 3; i++) {
        cdeflate_init(&d);
        cdeflate_msg(&d, &in, 1, m1, strlen(m1));
        cdeflate_end(&d);
    }
    session_check(&in, 1024, &pmd, -1, &o);
    assert_int_equal(o.sink.n, 3);
    assert_string_equal(o.sink.msg[2].data, m1);
    outcome_release(&o);
    synq_buf_release(&in);
}

static void test_session_close_first(void **state)
{
    /* we close inside the second message's callback: no more messages, the
     * client's messages are still read until its Close */
    synq_buf_t in;
    synq_buf_init(&in);
    ctext(&in, "one");
    ctext(&in, "two");
    ctext(&in, "three");
    cframe(&in, 0x89, "late ping", 9);
    cclose(&in, 1000, NULL);
    outcome_t o;
    session_check(&in, 1024, NULL, 1, &o);
    assert_int_equal(o.sink.n, 2);
    sframes_t fs;
    assert_int_equal(out_close(&o, &fs), 4000); /* ours, and no pong after it */
    assert_int_equal(fs.n, 1);
    assert_string_equal(fs.f[0].payload.data + 2, "enough");
    sframes_release(&fs);
    assert_int_equal(o.code, 4000);
    assert_true(o.close_received);
    assert_false(o.reading);
    outcome_release(&o);

    /* outside a feed: the Close is in the output at once; a second fails */
    sink_t k = {.close_at = -1};
    synq_ws_session_t *s = synq_ws_session_new(1024, NULL, on_sink_message, &k);
    assert_int_equal(synq_ws_session_close(s, 1006, NULL, 0), SYNQ_EINVAL);
    assert_int_equal(synq_ws_session_output(s)->len, 0);
    char reason[200];
    memset(reason, 'r', sizeof reason);
    memcpy(reason + 121, "\xe2\x82\xac", 3); /* a € across byte 123 */
    assert_int_equal(synq_ws_session_close(s, 1001, reason, sizeof reason), 0);
    assert_int_equal(synq_ws_session_close(s, 1000, NULL, 0), SYNQ_ECONFLICT);
    assert_true(synq_ws_session_close_sent(s));
    assert_true(synq_ws_session_reading(s));
    assert_int_equal(synq_ws_session_code(s), 1001);
    synq_buf_t *out = synq_ws_session_output(s);
    sframes_t f2;
    sframes_parse(out->data, out->len, &f2);
    assert_int_equal(f2.n, 1);
    assert_int_equal(close_code(&f2.f[0]), 1001);
    assert_int_equal(f2.f[0].payload.len, 2 + 121); /* cut before the € */
    sframes_release(&f2);
    out->len = 0;
    /* the client's answer completes the handshake; nothing more goes out */
    in.len = 0;
    cclose(&in, 1001, NULL);
    assert_int_equal(synq_ws_session_feed(s, in.data, in.len), 0);
    assert_int_equal(out->len, 0);
    assert_true(synq_ws_session_close_received(s));
    assert_false(synq_ws_session_reading(s));
    assert_int_equal(synq_ws_session_code(s), 1001);
    assert_int_equal(synq_ws_session_feed(s, in.data, in.len), SYNQ_EPROTO);
    synq_ws_session_free(s);
    synq_buf_release(&in);
}

/* ---- connections over a real server ------------------------------------------------ */

#define MAX_SLOTS 4
#define MAX_CLIENTS 4

typedef struct env_s env_t;

typedef struct {
    env_t *env;
    synq_ws_t *ws;
    int closes;
    int code;
    int messages;
    int sends_after_close;
} slot_t;

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t connect;
    env_t *env;
    synq_buf_t request;
    synq_buf_t got;
    bool read;
    bool connected;
    bool eof;
    bool closed;
} client_t;

typedef struct {
    uv_write_t req;
    char *data;
} cwrite_t;

struct env_s {
    uv_loop_t loop;
    uv_timer_t tick;
    synq_http_server_t *srv;
    int port;
    synq_ws_config_t cfg;
    slot_t slots[MAX_SLOTS];
    int nslots;
    int refused; /* handshakes answered with an error */
    client_t *clients[MAX_CLIENTS];
    int nclients;
    bool srv_closed;
};

static void on_slot_message(synq_ws_t *ws, const char *data, size_t len, bool binary, void *arg)
{
    slot_t *sl = arg;
    sl->messages++;
    if (len == 5 && memcmp(data, "close", 5) == 0) {
        synq_ws_close(ws, 4000, "asked");
        synq_ws_close(ws, 4001, "again"); /* idempotent */
        assert_int_equal(synq_ws_send_text(ws, "x", 1), UV_EPIPE);
        return;
    }
    assert_int_equal(synq_ws_send_text(ws, data, len), 0); /* echo */
}

static void on_slot_close(synq_ws_t *ws, int code, void *arg)
{
    slot_t *sl = arg;
    assert_ptr_equal(ws, sl->ws);
    sl->closes++;
    sl->code = code;
    assert_true(synq_ws_closing(ws));
    if (synq_ws_send_text(ws, "late", 4) == UV_EPIPE) sl->sends_after_close++;
    synq_ws_close(ws, 1000, NULL); /* nothing happens */
}

static void handler(synq_http_req_t *req, void *arg)
{
    env_t *env = arg;
    if (strcmp(req->path, "/plain") == 0) {
        synq_http_respond(req, 200, "text/plain", NULL, "ok", 2);
        return;
    }
    assert_true(env->nslots < MAX_SLOTS);
    slot_t *sl = &env->slots[env->nslots];
    sl->env = env;
    synq_ws_handlers_t h = {on_slot_message, on_slot_close};
    sl->ws = synq_ws_accept(req, &env->cfg, &h, sl);
    if (sl->ws == NULL) {
        env->refused++;
        return;
    }
    env->nslots++;
    assert_int_equal(sl->closes, 0);
    assert_false(synq_ws_closing(sl->ws));
    assert_non_null(strstr(synq_ws_peer(sl->ws), "127.0.0.1:"));
}

static void on_tick(uv_timer_t *t) {}

static env_t *env_new(void)
{
    env_t *env = synq_calloc(1, sizeof *env);
    assert_int_equal(uv_loop_init(&env->loop), 0);
    uv_timer_init(&env->loop, &env->tick);
    uv_timer_start(&env->tick, on_tick, 5, 5);
    synq_ws_config_init(&env->cfg);
    synq_http_config_t hc;
    synq_http_config_init(&hc);
    hc.idle_timeout_ms = hc.header_timeout_ms = 100; /* must not touch upgraded connections */
    int err = 0;
    env->srv = synq_http_server_start(&env->loop, "127.0.0.1:0", &hc, handler, env, &err);
    assert_non_null(env->srv);
    const char *a = synq_http_server_addr(env->srv);
    env->port = atoi(strrchr(a, ':') + 1);
    return env;
}

static bool run_until(env_t *env, bool (*pred)(void *), void *arg, uint64_t ms)
{
    uv_update_time(&env->loop);
    uint64_t deadline = uv_now(&env->loop) + ms;
    while (!(pred && pred(arg))) {
        if (uv_now(&env->loop) >= deadline) return pred ? pred(arg) : true;
        uv_run(&env->loop, UV_RUN_ONCE);
    }
    return true;
}

static void run_for(env_t *env, uint64_t ms)
{
    run_until(env, NULL, NULL, ms);
}

static void on_client_closed(uv_handle_t *h)
{
    ((client_t *)h->data)->closed = true;
}

static void client_close(client_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    client_t *c = h->data;
    synq_buf_reserve(&c->got, 64 * 1024);
    buf->base = c->got.data + c->got.len;
    buf->len = c->got.cap - c->got.len - 1;
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    client_t *c = s->data;
    if (nread < 0) {
        c->eof = true;
        client_close(c);
        return;
    }
    c->got.len += (size_t)nread;
    c->got.data[c->got.len] = '\0';
}

static void on_client_written(uv_write_t *w, int status)
{
    cwrite_t *cw = (cwrite_t *)w;
    free(cw->data);
    free(cw);
}

static void client_send(client_t *c, const char *data, size_t len)
{
    cwrite_t *cw = synq_malloc(sizeof *cw);
    cw->data = synq_malloc(len ? len : 1);
    memcpy(cw->data, data, len);
    uv_buf_t b = uv_buf_init(cw->data, (unsigned)len);
    assert_int_equal(uv_write(&cw->req, (uv_stream_t *)&c->tcp, &b, 1, on_client_written), 0);
}

static void on_client_connected(uv_connect_t *cr, int status)
{
    client_t *c = cr->data;
    assert_int_equal(status, 0);
    c->connected = true;
    client_send(c, c->request.data, c->request.len);
    if (c->read) uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc, on_client_read);
}

static const char HANDSHAKE[] = "GET /ws HTTP/1.1\r\n"
                                "Host: x\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: keep-alive, Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n";

/* A client sending request (and extra, e.g. frames, in the same write). */
static client_t *client_new(env_t *env, const char *request, const synq_buf_t *extra, bool read)
{
    assert_true(env->nclients < MAX_CLIENTS);
    client_t *c = synq_calloc(1, sizeof *c);
    env->clients[env->nclients++] = c;
    c->env = env;
    c->read = read;
    synq_buf_init(&c->request);
    synq_buf_init(&c->got);
    synq_buf_puts(&c->request, request);
    if (extra) synq_buf_append(&c->request, extra->data, extra->len);
    uv_tcp_init_ex(&env->loop, &c->tcp, AF_INET);
    c->tcp.data = c;
    c->connect.data = c;
    int rcvbuf = 4096;
    if (!read) uv_recv_buffer_size((uv_handle_t *)&c->tcp, &rcvbuf);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", env->port, &sa);
    assert_int_equal(
        uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa, on_client_connected), 0);
    return c;
}

/* A WebSocket client: the handshake plus extra header lines, then frames. */
static client_t *ws_client(env_t *env, const char *headers, const synq_buf_t *frames)
{
    synq_buf_t req;
    synq_buf_init(&req);
    synq_buf_puts(&req, HANDSHAKE);
    if (headers) synq_buf_puts(&req, headers);
    synq_buf_puts(&req, "\r\n");
    client_t *c = client_new(env, req.data, frames, true);
    synq_buf_release(&req);
    return c;
}

static void on_srv_closed(synq_http_server_t *srv, void *arg)
{
    ((env_t *)arg)->srv_closed = true;
}

static bool srv_closed(void *arg)
{
    return ((env_t *)arg)->srv_closed;
}

static void env_free(env_t *env)
{
    for (int i = 0; i < env->nclients; i++)
        client_close(env->clients[i]);
    if (!env->srv_closed) synq_http_server_close(env->srv, on_srv_closed, env);
    assert_true(run_until(env, srv_closed, env, 5000));
    uv_close((uv_handle_t *)&env->tick, NULL);
    uv_run(&env->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&env->loop), 0);
    for (int i = 0; i < env->nslots; i++) {
        assert_int_equal(env->slots[i].closes, 1);
        assert_int_equal(env->slots[i].sends_after_close, 1);
    }
    for (int i = 0; i < env->nclients; i++) {
        synq_buf_release(&env->clients[i]->got);
        synq_buf_release(&env->clients[i]->request);
        free(env->clients[i]);
    }
    free(env);
}

static bool client_done(void *arg)
{
    return ((client_t *)arg)->closed;
}

static bool slot0_started(void *arg)
{
    return ((env_t *)arg)->nslots > 0;
}

static bool slot0_closed(void *arg)
{
    return ((env_t *)arg)->slots[0].closes > 0;
}

/* The 101 head the client got, and the frames after it. */
static const char *split_head(client_t *c, sframes_t *fs)
{
    const char *end = strstr(c->got.data ? c->got.data : "", "\r\n\r\n");
    assert_non_null(end);
    size_t hl = (size_t)(end + 4 - c->got.data);
    sframes_parse(c->got.data + hl, c->got.len - hl, fs);
    assert_int_equal(hl + fs->used, c->got.len); /* whole frames only */
    return c->got.data;
}

typedef struct {
    client_t *c;
    int frames;
} want_frames_t;

static bool got_frames(void *arg)
{
    want_frames_t *w = arg;
    const char *end = strstr(w->c->got.data ? w->c->got.data : "", "\r\n\r\n");
    if (end == NULL) return false;
    size_t hl = (size_t)(end + 4 - w->c->got.data);
    sframes_t fs;
    sframes_parse(w->c->got.data + hl, w->c->got.len - hl, &fs);
    bool ok = fs.n >= w->frames;
    sframes_release(&fs);
    return ok;
}

static void wait_frames(env_t *env, client_t *c, int n)
{
    want_frames_t w = {c, n};
    assert_true(run_until(env, got_frames, &w, 3000));
}

static void test_conn_handshake(void **state)
{
    env_t *env = env_new();
    client_t *c = ws_client(env, NULL, NULL);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 300); /* past the HTTP idle and header timeouts */
    assert_false(c->eof);
    sframes_t fs;
    const char *head = split_head(c, &fs);
    assert_true(strncmp(head, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    assert_non_null(strstr(head, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strstr(head, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_null(strcasestr(head, "sec-websocket-extensions"));
    assert_null(strcasestr(head, "content-length"));
    assert_int_equal(fs.n, 0);
    assert_false(synq_ws_deflate(env->slots[0].ws));
    assert_int_equal(synq_http_server_conn_count(env->srv), 1);
    /* EOF without a Close: 1006 */
    client_close(c);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].code, 1006);
    sframes_release(&fs);
    env_free(env);

    /* a deflate offer among others */
    env = env_new();
    c = ws_client(
        env,
        "Sec-WebSocket-Extensions: x-foo, permessage-deflate; server_max_window_bits=9\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        NULL);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    head = split_head(c, &fs);
    assert_non_null(strstr(head, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                 "server_no_context_takeover\r\n"));
    assert_true(synq_ws_deflate(env->slots[0].ws));
    assert_int_equal(synq_ws_deflate_min(env->slots[0].ws), 128);
    sframes_release(&fs);
    env_free(env);

    /* deflate turned off: the offer is ignored */
    env = env_new();
    env->cfg.deflate = false;
    c = ws_client(env, "Sec-WebSocket-Extensions: permessage-deflate\r\n", NULL);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    head = split_head(c, &fs);
    assert_null(strcasestr(head, "sec-websocket-extensions"));
    sframes_release(&fs);
    env_free(env);
}

static bool client_answered(void *arg)
{
    client_t *c = arg;
    return c->got.data && strstr(c->got.data, "\r\n\r\n") && strstr(c->got.data, "}}");
}

static void check_refused(const char *request, const char *origins, int status, const char *header)
{
    env_t *env = env_new();
    env->cfg.origins = origins;
    client_t *c = client_new(env, request, NULL, true);
    assert_true(run_until(env, client_answered, c, 3000));
    assert_int_equal(env->refused, 1);
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
    if (strncmp(c->got.data ? c->got.data : "", want, strlen(want)) != 0)
        fail_msg("want %d, got: %.60s", status, c->got.data ? c->got.data : "(nothing)");
    assert_non_null(strstr(c->got.data, "{\"error\":{\"code\":"));
    if (header) assert_non_null(strstr(c->got.data, header));
    assert_int_equal(env->nslots, 0);
    env_free(env);
}

static void test_conn_refused(void **state)
{
    const char *ext = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    char req[512];
    snprintf(req, sizeof req,
             "POST /ws HTTP/1.1\r\n%sContent-Length: 0\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             ext);
    check_refused(req, NULL, 400, NULL);
    snprintf(req, sizeof req, "GET /ws HTTP/1.1\r\n%sSec-WebSocket-Version: 13\r\n\r\n", ext);
    check_refused(req, NULL, 400, NULL); /* no key */
    snprintf(
        req, sizeof req,
        "GET /ws HTTP/1.1\r\n%sSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ext);
    check_refused(req, NULL, 400, NULL); /* not 16 bytes */
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\n%sSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 8\r\n\r\n",
             ext);
    check_refused(req, NULL, 426, "\r\nSec-WebSocket-Version: 13\r\n");
    snprintf(req, sizeof req,
             "GET /ws HTTP/1.1\r\n%sSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "\r\n",
             ext);
    check_refused(req, NULL, 426, "\r\nSec-WebSocket-Version: 13\r\n"); /* no version */
    check_refused(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        NULL, 400, NULL); /* no Connection: Upgrade */
    char with_origin[600];
    snprintf(with_origin, sizeof with_origin, "%sOrigin: https://evil.example\r\n\r\n", HANDSHAKE);
    check_refused(with_origin, "https://app.example, https://admin.example", 403, NULL);

    /* an allowed Origin, and none at all (not a browser), pass */
    const char *origins[] = {"Origin: https://admin.example\r\n", ""};
    for (size_t i = 0; i < 2; i++) {
        env_t *env = env_new();
        env->cfg.origins = " https://app.example , https://admin.example";
        ws_client(env, origins[i], NULL);
        assert_true(run_until(env, slot0_started, env, 3000));
        env_free(env);
    }
}

static void test_conn_echo_and_client_close(void **state)
{
    /* frames right behind the handshake, in the same write */
    env_t *env = env_new();
    synq_buf_t frames;
    synq_buf_init(&frames);
    ctext(&frames, "first");
    cframe(&frames, 0x89, "ping!", 5);
    ctext(&frames, "second");
    client_t *c = ws_client(env, NULL, &frames);
    wait_frames(env, c, 3);
    sframes_t fs;
    split_head(c, &fs);
    assert_int_equal(fs.f[0].b0, 0x81);
    assert_string_equal(fs.f[0].payload.data, "first");
    /* the pong goes out after the feed: after the echo written inside it */
    assert_int_equal(fs.f[1].b0, 0x81);
    assert_string_equal(fs.f[1].payload.data, "second");
    assert_int_equal(fs.f[2].b0, 0x8a);
    assert_string_equal(fs.f[2].payload.data, "ping!");
    sframes_release(&fs);
    assert_int_equal(env->slots[0].messages, 2);

    /* the client closes: the Close comes back, then the server's FIN */
    frames.len = 0;
    cclose(&frames, 1000, "bye");
    client_send(c, frames.data, frames.len);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(c->eof);
    split_head(c, &fs);
    assert_int_equal(fs.n, 4);
    assert_int_equal(close_code(&fs.f[3]), 1000);
    assert_string_equal(fs.f[3].payload.data + 2, "bye");
    sframes_release(&fs);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].code, 1000);
    synq_buf_release(&frames);
    env_free(env);
}

/* A violation as the client sees it: a Close with the code, then EOF (not a
 * reset, though the client keeps sending). */
static void check_violation(const synq_buf_t *frames, int code, size_t max_message)
{
    env_t *env = env_new();
    env->cfg.max_message = max_message;
    client_t *c = ws_client(env, NULL, NULL);
    assert_true(run_until(env, slot0_started, env, 3000));
    client_send(c, frames->data, frames->len);
    /* and more after it, which the server must read away */
    synq_buf_t junk;
    synq_buf_init(&junk);
    char k[1000];
    memset(k, 'j', sizeof k);
    for (int i = 0; i < 50; i++)
        cframe(&junk, 0x82, k, sizeof k);
    client_send(c, junk.data, junk.len);
    synq_buf_release(&junk);
    assert_true(run_until(env, client_done, c, 5000));
    assert_true(c->eof);
    sframes_t fs;
    split_head(c, &fs);
    assert_true(fs.n >= 1);
    if (close_code(&fs.f[fs.n - 1]) != code)
        fail_msg("Close %d, want %d", close_code(&fs.f[fs.n - 1]), code);
    sframes_release(&fs);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].code, code);
    env_free(env);
}

static void test_conn_violations(void **state)
{
    synq_buf_t f;
    synq_buf_init(&f);
    synq_buf_append(&f, "\x81\x02hi", 4); /* unmasked */
    check_violation(&f, 1002, 65536);
    f.len = 0;
    char big[200];
    memset(big, 'p', sizeof big);
    cframe(&f, 0x89, big, 126); /* a control frame too long */
    check_violation(&f, 1002, 65536);
    f.len = 0;
    cframe(&f, 0x81, "\xff", 1);
    check_violation(&f, 1007, 65536);
    f.len = 0;
    cframe(&f, 0x81, big, 200);
    check_violation(&f, 1009, 100);
    synq_buf_release(&f);
}

static void test_conn_server_close(void **state)
{
    /* the client answers our Close: TCP closes, code ours */
    env_t *env = env_new();
    synq_buf_t f;
    synq_buf_init(&f);
    ctext(&f, "close");
    client_t *c = ws_client(env, NULL, &f);
    wait_frames(env, c, 1);
    sframes_t fs;
    split_head(c, &fs);
    assert_int_equal(fs.n, 1);
    assert_int_equal(close_code(&fs.f[0]), 4000);
    assert_string_equal(fs.f[0].payload.data + 2, "asked");
    sframes_release(&fs);
    assert_int_equal(env->slots[0].closes, 0);
    f.len = 0;
    ctext(&f, "ignored: the server is closing");
    cclose(&f, 4000, NULL);
    client_send(c, f.data, f.len);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(c->eof);
    assert_true(run_until(env, slot0_closed, env, 3000));
    assert_int_equal(env->slots[0].code, 4000);
    assert_int_equal(env->slots[0].messages, 1);
    env_free(env);

    /* the client does not answer: cut after close_timeout_ms */
    env = env_new();
    env->cfg.close_timeout_ms = 100;
    f.len = 0;
    ctext(&f, "close");
    c = ws_client(env, NULL, &f);
    wait_frames(env, c, 1);
    uv_update_time(&env->loop);
    uint64_t t0 = uv_now(&env->loop);
    assert_true(run_until(env, slot0_closed, env, 3000));
    uv_update_time(&env->loop);
    assert_true(uv_now(&env->loop) - t0 >= 90);
    assert_true(uv_now(&env->loop) - t0 < 1000);
    assert_int_equal(env->slots[0].code, 4000);
    assert_true(run_until(env, client_done, c, 3000));
    synq_buf_release(&f);
    env_free(env);
}

static void test_conn_shutdown(void **state)
{
    env_t *env = env_new();
    env->cfg.close_timeout_ms = 300;
    client_t *c = ws_client(env, NULL, NULL);
    client_t *idle = client_new(env, "GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", NULL, true);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    synq_http_server_close(env->srv, on_srv_closed, env);
    /* the client got Close 1001 and did not answer: the server waits
     * close_timeout_ms for it, then its closed callback runs */
    assert_true(run_until(env, srv_closed, env, 3000));
    assert_int_equal(env->slots[0].closes, 1);
    assert_int_equal(env->slots[0].code, 1001);
    assert_true(run_until(env, client_done, c, 3000));
    assert_true(run_until(env, client_done, idle, 3000));
    sframes_t fs;
    split_head(c, &fs);
    assert_int_equal(fs.n, 1);
    assert_int_equal(close_code(&fs.f[0]), 1001);
    sframes_release(&fs);
    env_free(env);

    /* a client that answers: the server closes as soon as it has */
    env = env_new();
    c = ws_client(env, NULL, NULL);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    synq_http_server_close(env->srv, on_srv_closed, env);
    wait_frames(env, c, 1);
    synq_buf_t f;
    synq_buf_init(&f);
    cclose(&f, 1001, NULL);
    client_send(c, f.data, f.len);
    synq_buf_release(&f);
    uv_update_time(&env->loop);
    uint64_t t0 = uv_now(&env->loop);
    assert_true(run_until(env, srv_closed, env, 3000));
    uv_update_time(&env->loop);
    assert_true(uv_now(&env->loop) - t0 < 1000);
    assert_int_equal(env->slots[0].code, 1001);
    env_free(env);
}

static void test_conn_deflate_frames(void **state)
{
    /* echoes to a deflate connection: compressed from deflate_min on */
    env_t *env = env_new();
    env->cfg.deflate_min = 10;
    cdeflate_t d;
    cdeflate_init(&d);
    synq_buf_t f;
    synq_buf_init(&f);
    const char *m = "{\"channel\":\"news\",\"data\":{\"text\":\"hello hello hello hello\"}}";
    cdeflate_msg(&d, &f, 1, m, strlen(m));
    ctext(&f, "short");
    cdeflate_msg(&d, &f, 1, m, strlen(m));
    cdeflate_end(&d);
    client_t *c = ws_client(env, "Sec-WebSocket-Extensions: permessage-deflate\r\n", &f);
    wait_frames(env, c, 3);
    sframes_t fs;
    split_head(c, &fs);
    for (int i = 0; i < 3; i++) {
        synq_buf_t out;
        synq_buf_init(&out);
        if (i == 1) {
            assert_int_equal(fs.f[i].b0, 0x81); /* under deflate_min: raw */
            assert_string_equal(fs.f[i].payload.data, "short");
        } else {
            assert_int_equal(fs.f[i].b0, 0xc1);
            inflate_alone(fs.f[i].payload.data, fs.f[i].payload.len, &out);
            assert_string_equal(out.data, m);
        }
        synq_buf_release(&out);
    }
    sframes_release(&fs);
    synq_buf_release(&f);
    env_free(env);
}

static bool slots3(void *arg)
{
    return ((env_t *)arg)->nslots == 3;
}

static void test_conn_fanout_and_slow(void **state)
{
    env_t *env = env_new();
    client_t *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = ws_client(env, NULL, NULL);
    assert_true(run_until(env, slots3, env, 3000));
    synq_rcbuf_t *f = synq_ws_frame("{\"pub\":1}", 9, false);
    for (int i = 0; i < 3; i++)
        assert_int_equal(synq_ws_send_frame(env->slots[i].ws, f), 0);
    for (int i = 0; i < 3; i++) {
        wait_frames(env, c[i], 1);
        sframes_t fs;
        split_head(c[i], &fs);
        assert_string_equal(fs.f[0].payload.data, "{\"pub\":1}");
        sframes_release(&fs);
    }
    assert_int_equal(synq_rcbuf_refs(f), 1); /* every write let go */
    synq_rcbuf_unref(f);
    env_free(env);

    /* a client that does not read: SYNQ_ETOOBIG, nothing queued, the
     * connection stays until the caller decides */
    env = env_new();
    env->cfg.max_queued_bytes = 256 * 1024;
    synq_buf_t req;
    synq_buf_init(&req);
    synq_buf_puts(&req, HANDSHAKE);
    synq_buf_puts(&req, "\r\n");
    client_t *slow = client_new(env, req.data, NULL, false);
    synq_buf_release(&req);
    assert_true(run_until(env, slot0_started, env, 3000));
    run_for(env, 20);
    size_t n = 64 * 1024;
    char *payload = synq_malloc(n);
    memset(payload, 'z', n);
    f = synq_ws_frame(payload, n, false);
    synq_ws_t *ws = env->slots[0].ws;
    int rc = 0, sent = 0;
    while (rc == 0 && sent < 100000) {
        rc = synq_ws_send_frame(ws, f);
        if (rc == 0) sent++;
        assert_true(synq_ws_queued(ws) <= env->cfg.max_queued_bytes);
    }
    assert_int_equal(rc, SYNQ_ETOOBIG);
    size_t q = synq_ws_queued(ws);
    assert_int_equal(synq_ws_send_text(ws, payload, n), SYNQ_ETOOBIG);
    assert_int_equal(synq_ws_queued(ws), q); /* nothing was queued */
    assert_false(synq_ws_closing(ws));
    assert_int_equal(synq_ws_send_text(ws, "", 0), 0); /* a small one still fits */
    synq_ws_close(ws, 4008, "slow");
    assert_true(synq_ws_closing(ws));
    assert_int_equal(synq_ws_send_frame(ws, f), UV_EPIPE);
    assert_true(run_until(env, slot0_closed, env, 5000));
    assert_int_equal(env->slots[0].code, 4008);
    assert_int_equal(synq_rcbuf_refs(f), 1); /* cancelled writes let go too */
    synq_rcbuf_unref(f);
    free(payload);
    (void)slow;
    env_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_pmd_offers),
        cmocka_unit_test(test_frame_lengths),
        cmocka_unit_test(test_frame_deflate_round_trip),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_session_messages),
        cmocka_unit_test(test_session_violations),
        cmocka_unit_test(test_session_limit_exact),
        cmocka_unit_test(test_session_deflate),
        cmocka_unit_test(test_session_close_first),
        cmocka_unit_test(test_conn_handshake),
        cmocka_unit_test(test_conn_refused),
        cmocka_unit_test(test_conn_echo_and_client_close),
        cmocka_unit_test(test_conn_violations),
        cmocka_unit_test(test_conn_server_close),
        cmocka_unit_test(test_conn_shutdown),
        cmocka_unit_test(test_conn_deflate_frames),
        cmocka_unit_test(test_conn_fanout_and_slow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
