/* libFuzzer target for net/request, the HTTP/1.1 request parser.
 * The first input byte picks a split position; the rest is fed to a parser
 * in two parts, driven the way the server drives it (feed the buffered
 * bytes; on DONE take the request and feed the rest again; on AGAIN wait for
 * more; stop after an error, an upgrade or a request that closes the
 * connection). Every feed reads from an exact-size heap copy.
 *
 * Invariants: *consumed never exceeds the bytes offered and is all of them on
 * AGAIN; a DONE request has a path starting with '/', a non-NULL body no
 * longer than max_body_bytes, and header data within max_header_bytes; an
 * error has status 400, 413 or 431 and the parser then stays in error; and
 * the same input fed whole gives the same requests and the same outcome. */
#include "net/request.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_BYTES 512
#define MAX_BODY_BYTES 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http: invariant failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct {
    uint64_t hash; /* of every request delivered, in order */
    size_t nreqs;
    synq_req_result_t last; /* AGAIN or ERROR at the end */
    int error_status;
} outcome_t;

static void mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL; /* FNV-1a */
    *h = (*h ^ 0xff) * 0x100000001b3ULL;     /* field separator */
}

static void mix_str(uint64_t *h, const char *s)
{
    if (s)
        mix(h, s, strlen(s) + 1);
    else
        mix(h, "", 0);
}

static bool is_lower(const char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') return false;
    return true;
}

/* Checks a completed request and adds it to the outcome. */
static void take(outcome_t *o, synq_http_req_t *r, bool want_continue)
{
    CHECK(r != NULL);
    CHECK(r->path != NULL && r->path[0] == '/');
    CHECK(strchr(r->path, '?') == NULL);
    CHECK(r->method_name != NULL);
    CHECK(r->body.data != NULL);
    CHECK(r->body.len <= MAX_BODY_BYTES);
    CHECK(r->header_bytes <= MAX_HEADER_BYTES);
    /* what is stored of the header block is within the limit */
    size_t stored = r->url.len;
    for (size_t i = 0; i < r->nheaders; i++) {
        CHECK(r->headers[i].name != NULL && r->headers[i].value != NULL);
        CHECK(is_lower(r->headers[i].name));
        stored += strlen(r->headers[i].name) + strlen(r->headers[i].value);
    }
    CHECK(stored <= r->header_bytes);
    CHECK(synq_http_req_header(r, "\x01no-such-header") == NULL);
    char q[64];
    int n = synq_http_req_query(r, "a", q, sizeof q);
    CHECK(n >= -1 && n < (int)sizeof q);
    if (n >= 0) CHECK(q[n] == '\0');

    uint64_t *h = &o->hash;
    mix(h, &r->method, sizeof r->method);
    mix_str(h, r->method_name);
    mix_str(h, r->path);
    mix_str(h, r->query);
    mix(h, r->body.data, r->body.len);
    mix(h, &r->keep_alive, sizeof r->keep_alive);
    mix(h, &r->upgrade, sizeof r->upgrade);
    mix(h, &want_continue, sizeof want_continue);
    mix(h, &r->nheaders, sizeof r->nheaders);
    for (size_t i = 0; i < r->nheaders; i++) {
        mix_str(h, r->headers[i].name);
        mix_str(h, r->headers[i].value);
    }
    o->nreqs++;
}

/* Feeds data[0..size) in two parts cut at `split`. */
static void drive(const uint8_t *data, size_t size, size_t split, outcome_t *o)
{
    synq_reqparser_t p;
    synq_reqparser_init(&p, MAX_HEADER_BYTES, MAX_BODY_BYTES);
    memset(o, 0, sizeof *o);
    o->hash = 0xcbf29ce484222325ULL;
    o->last = SYNQ_REQ_AGAIN;
    char *pending = malloc(size ? size : 1);
    size_t npending = 0;
    bool stop = false, cont = false;
    const size_t ends[2] = {split, size};
    size_t off = 0;
    for (int piece = 0; piece < 2 && !stop; piece++) {
        memcpy(pending + npending, data + off, ends[piece] - off);
        npending += ends[piece] - off;
        off = ends[piece];
        while (npending > 0 && !stop) {
            char *copy = malloc(npending);
            memcpy(copy, pending, npending);
            size_t used = (size_t)-1;
            synq_http_req_t *r = NULL;
            synq_req_result_t res = synq_reqparser_feed(&p, copy, npending, &used, &r);
            free(copy);
            CHECK(used <= npending);
            if (p.want_continue) {
                cont = true; /* belongs to the request being parsed or just done */
                p.want_continue = false;
            }
            memmove(pending, pending + used, npending - used);
            npending -= used;
            if (res == SYNQ_REQ_ERROR) {
                CHECK(r == NULL);
                CHECK(p.error_status == 400 || p.error_status == 413 || p.error_status == 431);
                CHECK(p.error_code != NULL && p.error_message != NULL);
                o->last = SYNQ_REQ_ERROR;
                o->error_status = p.error_status;
                /* unusable from now on */
                CHECK(synq_reqparser_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18, &used, &r) ==
                      SYNQ_REQ_ERROR);
                CHECK(used == 0 && r == NULL);
                stop = true;
                break;
            }
            if (res == SYNQ_REQ_AGAIN) {
                CHECK(r == NULL);
                CHECK(npending == 0);
                break;
            }
            CHECK(res == SYNQ_REQ_DONE);
            CHECK(used > 0);
            CHECK(!synq_reqparser_busy(&p));
            take(o, r, cont);
            cont = false;
            /* the server stops reading after these */
            if (!r->keep_alive || r->upgrade) stop = true;
            synq_http_req_free(r);
        }
    }
    synq_reqparser_release(&p);
    free(pending);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t n = size - 1;
    size_t split = data[0] % (n + 1);
    outcome_t two, whole;
    drive(data + 1, n, split, &two);
    drive(data + 1, n, n, &whole);
    CHECK(two.nreqs == whole.nreqs);
    CHECK(two.hash == whole.hash);
    CHECK(two.last == whole.last);
    CHECK(two.error_status == whole.error_status);
    return 0;
}
