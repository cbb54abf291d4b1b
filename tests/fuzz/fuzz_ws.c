/* libFuzzer target for net/ws_proto, the WebSocket protocol without sockets.
 * Input: a flags byte (bit 0: permessage-deflate negotiated, bit 1: with
 * client_no_context_takeover, bit 2: max_message 64 instead of 4096, bit 3:
 * the session closes itself at the first message), a split byte, then the
 * bytes a client sends. The same bytes also go through the pure helpers.
 *
 * Invariants:
 *   - the session fed whole, one byte at a time and in two pieces cut at
 *     the split gives the same messages, the same output and the same code;
 *   - every message is at most max_message bytes and a text one is UTF-8;
 *   - the output is whole, unmasked server frames with no RSV bits, control
 *     frames only (pong, Close), nothing after a Close, and a Close carries
 *     a code that may be sent (or none);
 *   - the session's code is 0 or a code a Close may carry or 1005, and once
 *     it stopped reading every feed is refused;
 *   - the frame scanner lets through, for every split, exactly the same
 *     prefix of the input;
 *   - the UTF-8 validator agrees with synq_buf_utf8 (which replaces exactly
 *     the bytes that are not well-formed), synq_ws_utf8_cut never cuts a
 *     valid text into an invalid one;
 *   - an accepted permessage-deflate offer is accepted again, and our
 *     answer read as an offer is accepted too;
 *   - an accepted Sec-WebSocket-Key gives 28 base64 characters. */
#include "net/ws_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_ws: invariant failed: %s (line %d)\n", #cond, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint64_t hash; /* of every message, in order */
    size_t nmsgs;
    size_t max;
    bool close_first;
    synq_ws_session_t *s;
} sink_t;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL; /* FNV-1a */
    *h = (*h ^ 0xff) * 0x100000001b3ULL;
}

static void on_message(const char *data, size_t len, bool binary, void *arg)
{
    sink_t *k = arg;
    CHECK(len <= k->max);
    CHECK(binary || synq_ws_utf8_valid(data, len));
    mix(&k->hash, data, len);
    mix(&k->hash, &binary, sizeof binary);
    k->nmsgs++;
    if (k->close_first && k->nmsgs == 1) CHECK(synq_ws_session_close(k->s, 4000, "x", 1) == 0);
}

typedef struct {
    sink_t sink;
    synq_buf_t out;
    int code;
    bool reading;
} outcome_t;

/* Feeds in[0..n): whole (step 0), byte by byte (step 1), or two pieces cut
 * at `at` (step -1). Each piece from an exact-size heap copy. */
static void drive(const uint8_t *in, size_t n, uint8_t flags, long step, size_t at, outcome_t *o)
{
    synq_ws_pmd_t pmd = {.client_no_context_takeover = (flags & 2) != 0};
    memset(o, 0, sizeof *o);
    o->sink.hash = 0xcbf29ce484222325ULL;
    o->sink.max = flags & 4 ? 64 : 4096;
    o->sink.close_first = (flags & 8) != 0;
    synq_buf_init(&o->out);
    synq_ws_session_t *s =
        synq_ws_session_new(o->sink.max, flags & 1 ? &pmd : NULL, on_message, &o->sink);
    o->sink.s = s;
    size_t off = 0;
    for (int piece = 0; off < n; piece++) {
        size_t len = step > 0 ? 1 : step == 0 ? n : piece == 0 ? at : n - off;
        char *copy = malloc(len ? len : 1);
        memcpy(copy, in + off, len);
        bool was_reading = synq_ws_session_reading(s);
        int rc = synq_ws_session_feed(s, copy, len);
        CHECK(was_reading ? rc == 0 : rc == SYNQ_EPROTO);
        free(copy);
        off += len;
        synq_buf_t *out = synq_ws_session_output(s);
        synq_buf_append(&o->out, out->data, out->len);
        out->len = 0;
    }
    o->code = synq_ws_session_code(s);
    o->reading = synq_ws_session_reading(s);
    CHECK(!synq_ws_session_close_received(s) || !o->reading);
    synq_ws_session_free(s);
}

/* The output: whole server control frames, nothing after a Close. */
static void check_output(const outcome_t *o)
{
    const uint8_t *p = (const uint8_t *)o->out.data;
    size_t i = 0, n = o->out.len;
    bool closed = false;
    while (i < n) {
        CHECK(!closed);
        CHECK(n - i >= 2);
        unsigned b0 = p[i], b1 = p[i + 1];
        CHECK((b1 & 0x80) == 0);    /* unmasked */
        CHECK((b0 & 0xf0) == 0x80); /* FIN, no RSV */
        unsigned op = b0 & 0x0f;
        CHECK(op == SYNQ_WS_OP_PONG || op == SYNQ_WS_OP_CLOSE);
        size_t len = b1 & 0x7f;
        CHECK(len <= 125);
        CHECK(n - i - 2 >= len);
        if (op == SYNQ_WS_OP_CLOSE) {
            closed = true;
            CHECK(len != 1);
            if (len >= 2) {
                int code = (p[i + 2] << 8) | p[i + 3];
                CHECK(synq_ws_close_code_valid(code));
                CHECK(synq_ws_utf8_valid((const char *)p + i + 4, len - 2));
            }
        }
        i += 2 + len;
    }
    CHECK(o->code == 0 || o->code == SYNQ_WS_CLOSE_NO_STATUS || synq_ws_close_code_valid(o->code));
    if (closed) CHECK(o->code != 0);
}

static void same(const outcome_t *a, const outcome_t *b)
{
    CHECK(a->sink.nmsgs == b->sink.nmsgs);
    CHECK(a->sink.hash == b->sink.hash);
    CHECK(a->out.len == b->out.len);
    CHECK(a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0);
    CHECK(a->code == b->code);
    CHECK(a->reading == b->reading);
}

static void check_scanner(const uint8_t *in, size_t n, size_t at)
{
    synq_buf_t fed[2];
    for (int way = 0; way < 2; way++) {
        synq_ws_scan_t s;
        synq_ws_scan_init(&s);
        synq_buf_init(&fed[way]);
        size_t cut = way == 0 ? n : at;
        const size_t ends[2] = {cut, n};
        size_t off = 0;
        for (int piece = 0; piece < 2; piece++) {
            uint8_t held[14];
            size_t nheld, ok;
            size_t len = ends[piece] - off;
            synq_ws_scan(&s, in + off, len, held, &nheld, &ok);
            CHECK(ok <= len && nheld <= 14);
            synq_buf_append(&fed[way], held, nheld);
            synq_buf_append(&fed[way], in + off, ok);
            off = ends[piece];
        }
        CHECK(fed[way].len <= n);
        CHECK(fed[way].len == 0 || memcmp(fed[way].data, in, fed[way].len) == 0);
    }
    CHECK(fed[0].len == fed[1].len);
    synq_buf_release(&fed[0]);
    synq_buf_release(&fed[1]);
}

static void check_text(const uint8_t *in, size_t n)
{
    const char *s = (const char *)in;
    bool valid = synq_ws_utf8_valid(s, n);
    /* the reference: synq_buf_utf8 keeps exactly the well-formed sequences
     * (it also replaces NUL, which is valid here) */
    char *copy = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        copy[i] = s[i] ? s[i] : 'a';
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_utf8(&b, copy, n);
    bool ref = b.len == n && (n == 0 || memcmp(b.data, copy, n) == 0);
    CHECK(valid == ref);
    synq_buf_release(&b);
    free(copy);
    for (size_t max = 0; max <= n && max < 130; max++) {
        size_t cut = synq_ws_utf8_cut(s, n, max);
        CHECK(cut <= max || (n <= max && cut == n));
        if (valid) CHECK(synq_ws_utf8_valid(s, cut));
    }

    synq_ws_pmd_t pmd, again;
    if (synq_ws_pmd_negotiate(s, n, &pmd)) {
        CHECK(synq_ws_pmd_negotiate(s, n, &again));
        CHECK(memcmp(&pmd, &again, sizeof pmd) == 0);
        synq_buf_t r;
        synq_buf_init(&r);
        synq_ws_pmd_response(&pmd, &r);
        CHECK(synq_ws_pmd_negotiate(r.data, r.len, &again));
        CHECK(again.client_no_context_takeover == pmd.client_no_context_takeover);
        CHECK(again.server_max_window_bits == pmd.server_max_window_bits);
        synq_buf_release(&r);
    }

    char accept[29];
    if (synq_ws_accept_key(s, n, accept) == 0) {
        CHECK(n == 24);
        CHECK(strlen(accept) == 28 && accept[27] == '=');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t flags = data[0];
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    size_t at = n ? data[1] % (n + 1) : 0;

    outcome_t whole, other;
    drive(in, n, flags, 0, 0, &whole);
    check_output(&whole);
    drive(in, n, flags, -1, at, &other);
    same(&whole, &other);
    synq_buf_release(&other.out);
    if (n <= 4096) { /* byte by byte is quadratic in wslay's buffer shifts */
        drive(in, n, flags, 1, 0, &other);
        same(&whole, &other);
        synq_buf_release(&other.out);
    }
    synq_buf_release(&whole.out);

    check_scanner(in, n, at);
    check_text(in, n);
    return 0;
}
