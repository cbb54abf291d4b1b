/* libFuzzer target for proto/fwp, the Faktory Work Protocol without sockets.
 * Input: a limit byte (the line bound: 1..64, or 4096 when the top bit is
 * set), a seed byte for random cuts, then the bytes a client sends.
 *
 * Invariants:
 *   - the reader fed whole, one byte at a time and in random pieces gives
 *     the same lines, the same end (need more, or SYNQ_ETOOBIG with the same
 *     lines before it) and keeps the same bytes at the end;
 *   - every line is exactly the input bytes before its ending ("\n", or
 *     "\r\n" when a CR precedes the LF), holds no LF, and is no longer than
 *     the limit; the reader never keeps more than the limit plus one byte,
 *     and the error comes exactly when the current line passes the limit;
 *   - the split of each line (an exact-size copy, so an overread shows)
 *     stays inside it and puts it back together; the verb has no space and
 *     the verb lookup agrees with the table's names; the words of the
 *     argument are inside it and hold no space;
 *   - every reply built from a line is one RESP line (or a bulk whose
 *     length prefix matches its bytes), and a line parsed as a FAKTORY_URL
 *     either fails cleanly or gives a host and a port in 1..65535. */
#include "proto/fwp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_fwp: invariant failed: %s (line %d)\n", #cond, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint64_t hash; /* of every line, in order */
    size_t nlines;
    int last;       /* SYNQ_FWP_AGAIN or the error */
    size_t pending; /* bytes kept at the end */
    size_t err_at;  /* input offset of the end of the piece that failed */
} outcome_t;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL; /* FNV-1a */
    *h = (*h ^ 0xff) * 0x100000001b3ULL;
}

/* One RESP simple/error line: starts with c, ends with the only CRLF. */
static void check_resp_line(const synq_buf_t *b, char c)
{
    CHECK(b->len >= 3 && b->data[0] == c);
    CHECK(b->data[b->len - 2] == '\r' && b->data[b->len - 1] == '\n');
    for (size_t i = 1; i < b->len - 2; i++)
        CHECK(b->data[i] != '\r' && b->data[i] != '\n' && b->data[i] != '\0');
}

/* The pure helpers on one complete line. */
static void check_line(const char *line, size_t len)
{
    char *copy = malloc(len ? len : 1); /* exact size */
    memcpy(copy, line, len);

    const char *verb, *arg;
    size_t vlen, alen;
    synq_fwp_split(copy, len, &verb, &vlen, &arg, &alen);
    CHECK(verb == copy && vlen <= len);
    CHECK(memchr(verb, ' ', vlen) == NULL);
    CHECK(arg >= copy && alen <= len && arg + alen == copy + len);
    if (vlen < len) {
        CHECK(copy[vlen] == ' ' && arg == copy + vlen + 1);
    } else {
        CHECK(alen == 0);
    }
    synq_fwp_cmd_t cmd = synq_fwp_cmd_lookup(verb, vlen);
    const char *name = synq_fwp_cmd_name(cmd);
    if (cmd == SYNQ_FWP_CMD_UNKNOWN) {
        CHECK(name[0] == '\0');
    } else {
        CHECK(strlen(name) == vlen && memcmp(name, verb, vlen) == 0);
    }

    const char *p = arg, *w;
    size_t left = alen, wl, words = 0;
    while (synq_fwp_word(&p, &left, &w, &wl)) {
        CHECK(w >= arg && w + wl <= arg + alen && wl > 0);
        CHECK(memchr(w, ' ', wl) == NULL);
        CHECK(p == w + wl && p + left == arg + alen);
        words++;
        CHECK(words <= alen);
    }
    CHECK(left == 0);

    synq_buf_t b;
    synq_buf_init(&b);
    synq_fwp_reply_simple(&b, copy, len);
    CHECK(b.len == len + 3);
    check_resp_line(&b, '+');
    b.len = 0;
    synq_fwp_reply_error(&b, vlen ? NULL : "X", copy, len);
    check_resp_line(&b, '-');
    b.len = 0;
    synq_fwp_reply_bulk(&b, copy, len);
    char *end;
    CHECK(b.data[0] == '$');
    unsigned long long n = strtoull(b.data + 1, &end, 10);
    CHECK(n == len && end[0] == '\r' && end[1] == '\n');
    CHECK((size_t)(end + 2 - b.data) + len + 2 == b.len);
    CHECK(len == 0 || memcmp(end + 2, copy, len) == 0);
    CHECK(memcmp(b.data + b.len - 2, "\r\n", 2) == 0);
    synq_buf_release(&b);

    if (memchr(copy, '\0', len) == NULL) {
        char *s = synq_strndup(copy, len);
        synq_fwp_url_t u;
        if (synq_fwp_url_parse(s, &u) == 0) {
            CHECK(u.host != NULL && u.port >= 1 && u.port <= 65535);
            if (u.username) CHECK(strlen(u.username) <= len);
            if (u.password) CHECK(strlen(u.password) <= len);
            synq_fwp_url_release(&u);
        } else {
            CHECK(u.host == NULL && u.username == NULL && u.password == NULL);
        }
        free(s);
    }
    free(copy);
}

/* Feeds in[0..n) in pieces: whole (mode 0), one byte at a time (1) or
 * random sizes from seed (2). */
static void drive(const char *in, size_t n, size_t max, int mode, uint32_t seed, bool helpers,
                  outcome_t *o)
{
    synq_fwp_reader_t r;
    synq_fwp_reader_init(&r, max);
    memset(o, 0, sizeof *o);
    o->hash = 0xcbf29ce484222325ULL;
    o->last = SYNQ_FWP_AGAIN;
    size_t off = 0;        /* input bytes handed to the reader so far */
    size_t line_start = 0; /* input offset where the current line began */
    while (off < n && o->last == SYNQ_FWP_AGAIN) {
        size_t piece = n - off;
        if (mode == 1) piece = 1;
        if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            piece = SYNQ_MIN(piece, 1 + (seed >> 16) % 17);
        }
        char *buf = malloc(piece); /* exact size */
        memcpy(buf, in + off, piece);
        size_t pos = 0;
        for (;;) {
            size_t used = (size_t)-1, llen = 0;
            const char *line = NULL;
            int rc = synq_fwp_read(&r, buf + pos, piece - pos, &used, &line, &llen);
            if (rc < 0) {
                CHECK(rc == SYNQ_ETOOBIG);
                CHECK(used == 0 && line == NULL);
                /* the current line is past the limit within what was seen:
                 * more than max bytes before any LF, not counting one CR
                 * right before an LF */
                size_t seen = off + piece;
                const char *lf = memchr(in + line_start, '\n', seen - line_start);
                size_t before = lf ? (size_t)(lf - (in + line_start)) : seen - line_start;
                CHECK(before > max);
                o->last = rc;
                o->err_at = line_start;
                break;
            }
            CHECK(used <= piece - pos);
            pos += used;
            CHECK(r.partial.len <= max + 1);
            if (rc == SYNQ_FWP_AGAIN) {
                CHECK(pos == piece && line == NULL);
                break;
            }
            CHECK(rc == SYNQ_FWP_LINE && used > 0 && line != NULL);
            CHECK(llen <= max);
            CHECK(memchr(line, '\n', llen) == NULL);
            /* the line is the input before its ending */
            size_t at = off + pos; /* just past the LF */
            CHECK(in[at - 1] == '\n');
            size_t ending = at - line_start - llen;
            CHECK(ending == 1 || (ending == 2 && in[at - 2] == '\r'));
            CHECK(llen == 0 || memcmp(line, in + line_start, llen) == 0);
            mix(&o->hash, line, llen);
            o->nlines++;
            if (helpers) check_line(line, llen);
            line_start = at;
        }
        free(buf);
        off += piece;
    }
    o->pending = r.partial.len;
    if (o->last == SYNQ_FWP_AGAIN) {
        CHECK(o->pending == n - line_start);
        CHECK(synq_fwp_reader_pending(&r) == (o->pending > 0));
        /* the tail is not past the limit (a trailing CR may be the one
         * byte over) */
        CHECK(o->pending <= max || (o->pending == max + 1 && in[n - 1] == '\r'));
    } else {
        size_t used = 1, llen;
        const char *line;
        CHECK(synq_fwp_read(&r, "\n", 1, &used, &line, &llen) == o->last && used == 0);
    }
    synq_fwp_reader_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t max = (data[0] & 0x80) ? 4096 : 1 + (data[0] & 63);
    uint32_t seed = data[1];
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    outcome_t whole, bytes, random;
    drive(in, n, max, 0, seed, true, &whole);
    drive(in, n, max, 1, seed, false, &bytes);
    drive(in, n, max, 2, seed, false, &random);
    CHECK(whole.nlines == bytes.nlines && whole.nlines == random.nlines);
    CHECK(whole.hash == bytes.hash && whole.hash == random.hash);
    CHECK(whole.last == bytes.last && whole.last == random.last);
    CHECK(whole.err_at == bytes.err_at && whole.err_at == random.err_at);
    if (whole.last == SYNQ_FWP_AGAIN)
        CHECK(whole.pending == bytes.pending && whole.pending == random.pending);
    return 0;
}
