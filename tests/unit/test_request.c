/* Unit tests for net/request: the incremental HTTP/1.1 request parser.
 * Every input goes through a driver that uses the parser the way the server
 * does (feed the buffered bytes; on DONE take the request and feed the rest
 * again; on AGAIN wait for more) and is fed three ways: whole, one byte at a
 * time, and split in two at every position. All three must give the same
 * requests, the same final state and the same error. Each feed reads from an
 * exact-size heap copy so a read past `len` shows up under ASan, and every
 * feed checks that *consumed never exceeds what was offered. */
#include "net/request.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HDR_MAX 8192
#define BODY_MAX (1024 * 1024)
#define MAX_REQS 16

/* What one way of feeding an input produced. */
typedef struct {
    synq_http_req_t *reqs[MAX_REQS];
    bool cont[MAX_REQS]; /* want_continue was raised while this request was parsed */
    size_t nreqs;
    synq_req_result_t last; /* at the end: AGAIN (waiting for more) or ERROR */
    int error_status;
    const char *error_code;
    bool busy; /* a request was in progress at the end */
} run_t;

/* Requests the tests hold, so a failed test (which longjmps out) does not
 * show up as a leak as well: the teardown frees what is left. */
static synq_http_req_t *live[1024];
static size_t nlive;

static synq_http_req_t *track(synq_http_req_t *r)
{
    assert_true(nlive < SYNQ_ARRAY_LEN(live));
    live[nlive++] = r;
    return r;
}

static void req_free(synq_http_req_t *r)
{
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == r) {
            live[i] = live[--nlive];
            break;
        }
    synq_http_req_free(r);
}

static int free_live(void **state)
{
    while (nlive > 0)
        synq_http_req_free(live[--nlive]);
    return 0;
}

static void run_free(run_t *r)
{
    for (size_t i = 0; i < r->nreqs; i++)
        req_free(r->reqs[i]);
    memset(r, 0, sizeof *r);
}

/* Feeds in[0..len) cut at the ascending positions cuts[0..ncuts), as the
 * server would: bytes not consumed stay buffered and are offered again with
 * the next piece. */
static void drive(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                  size_t max_header_bytes, size_t max_body_bytes, run_t *out)
{
    synq_reqparser_t p;
    synq_reqparser_init(&p, max_header_bytes, max_body_bytes);
    memset(out, 0, sizeof *out);
    out->last = SYNQ_REQ_AGAIN;
    char *pending = malloc(len ? len : 1);
    size_t npending = 0, off = 0;
    bool failed = false;
    for (size_t piece = 0; piece <= ncuts && !failed; piece++) {
        size_t end = piece < ncuts ? cuts[piece] : len;
        assert_true(end >= off && end <= len);
        memcpy(pending + npending, in + off, end - off);
        npending += end - off;
        off = end;
        while (npending > 0) {
            char *copy = malloc(npending); /* exact size: no slack to read past */
            memcpy(copy, pending, npending);
            size_t used = (size_t)-1;
            synq_http_req_t *r = (synq_http_req_t *)1;
            synq_req_result_t res = synq_reqparser_feed(&p, copy, npending, &used, &r);
            free(copy);
            assert_true(used <= npending);
            if (p.want_continue) {
                /* the request being parsed, or the one this feed completed */
                if (out->nreqs < MAX_REQS) out->cont[out->nreqs] = true;
                p.want_continue = false; /* as the server does after writing 100 */
            }
            memmove(pending, pending + used, npending - used);
            npending -= used;
            out->last = res;
            if (res == SYNQ_REQ_ERROR) {
                assert_null(r);
                assert_true(p.error_status == 400 || p.error_status == 413 ||
                            p.error_status == 431);
                assert_non_null(p.error_code);
                assert_non_null(p.error_message);
                out->error_status = p.error_status;
                out->error_code = p.error_code;
                failed = true;
                break;
            }
            if (res == SYNQ_REQ_AGAIN) {
                assert_null(r);
                assert_int_equal(npending, 0); /* "on SYNQ_REQ_AGAIN all were used" */
                break;
            }
            assert_int_equal(res, SYNQ_REQ_DONE);
            assert_non_null(r);
            assert_true(used > 0);
            assert_false(synq_reqparser_busy(&p)); /* one request at a time */
            assert_non_null(r->path);
            assert_int_equal(r->path[0], '/');
            assert_non_null(r->body.data); /* "never NULL once complete" */
            assert_true(r->body.len <= max_body_bytes);
            assert_true(r->header_bytes <= max_header_bytes);
            assert_non_null(r->method_name);
            assert_true(out->nreqs < MAX_REQS);
            out->reqs[out->nreqs++] = track(r);
            out->last = SYNQ_REQ_AGAIN; /* ready for the next request */
        }
    }
    if (failed) {
        /* the parser stays unusable */
        size_t used = 1;
        synq_http_req_t *r = (synq_http_req_t *)1;
        assert_int_equal(synq_reqparser_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18, &used, &r),
                         SYNQ_REQ_ERROR);
        assert_int_equal(used, 0);
        assert_null(r);
    }
    out->busy = synq_reqparser_busy(&p);
    synq_reqparser_release(&p);
    free(pending);
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

/* Describes the first difference between two runs, or returns NULL. */
static const char *run_diff(const run_t *a, const run_t *b, char *msg, size_t msglen)
{
    if (a->nreqs != b->nreqs) {
        snprintf(msg, msglen, "%zu requests instead of %zu", b->nreqs, a->nreqs);
        return msg;
    }
    if (a->last != b->last || a->error_status != b->error_status) {
        snprintf(msg, msglen, "ended with result %d status %d instead of %d status %d",
                 (int)b->last, b->error_status, (int)a->last, a->error_status);
        return msg;
    }
    if (!str_eq(a->error_code, b->error_code)) return "different error code";
    if (a->busy != b->busy) return "different busy state at the end";
    for (size_t i = 0; i < a->nreqs; i++) {
        const synq_http_req_t *x = a->reqs[i], *y = b->reqs[i];
        snprintf(msg, msglen, "request %zu: ", i);
        size_t n = strlen(msg);
        const char *what = NULL;
        if (x->method != y->method || !str_eq(x->method_name, y->method_name))
            what = "method";
        else if (!str_eq(x->path, y->path))
            what = "path";
        else if (!str_eq(x->query, y->query))
            what = "query";
        else if (x->body.len != y->body.len || memcmp(x->body.data, y->body.data, x->body.len))
            what = "body";
        else if (x->keep_alive != y->keep_alive)
            what = "keep_alive";
        else if (x->upgrade != y->upgrade)
            what = "upgrade";
        else if (a->cont[i] != b->cont[i])
            what = "want_continue";
        else if (x->nheaders != y->nheaders)
            what = "header count";
        else
            for (size_t h = 0; h < x->nheaders && !what; h++)
                if (!str_eq(x->headers[h].name, y->headers[h].name) ||
                    !str_eq(x->headers[h].value, y->headers[h].value))
                    what = "a header";
        if (what) {
            snprintf(msg + n, msglen - n, "different %s", what);
            return msg;
        }
    }
    return NULL;
}

/* Feeds the input whole into *whole (the caller checks and frees it), then
 * byte by byte and split in two at every position (every len/64th for big
 * inputs), each of which must match the whole run. */
static void check_all_lim(const char *in, size_t len, size_t max_header_bytes,
                          size_t max_body_bytes, run_t *whole)
{
    char msg[160];
    const char *d;
    run_t other;
    drive(in, len, NULL, 0, max_header_bytes, max_body_bytes, whole);

    size_t *cuts = calloc(len ? len : 1, sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    drive(in, len, cuts, len ? len - 1 : 0, max_header_bytes, max_body_bytes, &other);
    d = run_diff(whole, &other, msg, sizeof msg);
    run_free(&other);
    free(cuts);
    if (d) fail_msg("byte by byte: %s for %.*s", d, (int)strcspn(in, "\r"), in);

    size_t step = len > 2048 ? len / 64 : 1;
    for (size_t at = 0; at <= len; at += step) {
        drive(in, len, &at, 1, max_header_bytes, max_body_bytes, &other);
        d = run_diff(whole, &other, msg, sizeof msg);
        run_free(&other);
        if (d) fail_msg("split at %zu of %zu: %s for %.*s", at, len, d, (int)strcspn(in, "\r"), in);
    }
}

static void check_all(const char *in, run_t *whole)
{
    check_all_lim(in, strlen(in), HDR_MAX, BODY_MAX, whole);
}

/* Parses one request fed whole (for the query and header helpers). */
static synq_http_req_t *parse_one(const char *in)
{
    synq_reqparser_t p;
    synq_reqparser_init(&p, HDR_MAX, BODY_MAX);
    size_t used;
    synq_http_req_t *r;
    assert_int_equal(synq_reqparser_feed(&p, in, strlen(in), &used, &r), SYNQ_REQ_DONE);
    assert_int_equal(used, strlen(in));
    synq_reqparser_release(&p);
    return track(r);
}

static void assert_body(const synq_http_req_t *r, const char *want)
{
    assert_non_null(r->body.data);
    assert_int_equal(r->body.len, strlen(want));
    assert_memory_equal(r->body.data, want, strlen(want));
}

static void assert_error(const run_t *run, int status)
{
    assert_int_equal(run->last, SYNQ_REQ_ERROR);
    assert_int_equal(run->error_status, status);
}

/* ---- request line and headers ----------------------------------------- */

static void test_simple_get(void **state)
{
    run_t w;
    check_all("GET /jobs/abc?queue=q1&limit=10 HTTP/1.1\r\n"
              "Host: example.org\r\n"
              "X-Mixed-CASE: Value With CASE \r\n"
              "ACCEPT: */*\r\n"
              "\r\n",
              &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_false(w.busy);
    assert_int_equal(w.nreqs, 1);
    const synq_http_req_t *r = w.reqs[0];
    assert_int_equal(r->method, SYNQ_HTTP_GET);
    assert_string_equal(r->method_name, "GET");
    assert_string_equal(r->path, "/jobs/abc");
    assert_string_equal(r->query, "queue=q1&limit=10");
    assert_int_equal(r->nheaders, 3);
    assert_string_equal(r->headers[0].name, "host");
    assert_string_equal(r->headers[0].value, "example.org");
    assert_string_equal(r->headers[1].name, "x-mixed-case");
    /* trailing whitespace is http-parser's business; the case is ours to keep */
    assert_non_null(strstr(r->headers[1].value, "Value With CASE"));
    assert_string_equal(r->headers[2].name, "accept");
    assert_string_equal(r->headers[2].value, "*/*");
    assert_string_equal(synq_http_req_header(r, "host"), "example.org");
    assert_string_equal(synq_http_req_header(r, "accept"), "*/*");
    assert_null(synq_http_req_header(r, "Host")); /* names are looked up lowercased */
    assert_null(synq_http_req_header(r, "content-length"));
    assert_body(r, "");
    assert_true(r->keep_alive);
    assert_false(r->upgrade);
    assert_false(w.cont[0]);
    run_free(&w);
}

static void test_path_without_query(void **state)
{
    run_t w;
    check_all("GET / HTTP/1.1\r\n\r\n", &w);
    assert_int_equal(w.nreqs, 1);
    assert_string_equal(w.reqs[0]->path, "/");
    assert_null(w.reqs[0]->query);
    assert_int_equal(w.reqs[0]->nheaders, 0);
    run_free(&w);

    check_all("GET /a/b? HTTP/1.1\r\n\r\n", &w); /* empty query */
    assert_int_equal(w.nreqs, 1);
    assert_string_equal(w.reqs[0]->path, "/a/b");
    assert_string_equal(w.reqs[0]->query, "");
    run_free(&w);

    check_all("GET /a#frag HTTP/1.1\r\n\r\n", &w); /* a fragment is not part of the path */
    assert_int_equal(w.nreqs, 1);
    assert_string_equal(w.reqs[0]->path, "/a");
    assert_null(w.reqs[0]->query);
    run_free(&w);
}

/* RFC 9112 §3.2: origin-form is absolute-path ["?" query] and a query has no
 * '#'. A fragment is cut from the path, so it must not end up in the query
 * either (rejecting the request would be fine too). */
static void test_fragment_not_in_query(void **state)
{
    run_t w;
    check_all("GET /p?a=1#frag HTTP/1.1\r\n\r\n", &w);
    if (w.last == SYNQ_REQ_ERROR) {
        assert_int_equal(w.error_status, 400);
    } else {
        assert_int_equal(w.nreqs, 1);
        assert_string_equal(w.reqs[0]->path, "/p");
        assert_string_equal(w.reqs[0]->query, "a=1");
    }
    run_free(&w);
}

static void test_methods(void **state)
{
    static const struct {
        const char *name;
        synq_http_method_t m;
    } cases[] = {
        {"GET", SYNQ_HTTP_GET},         {"HEAD", SYNQ_HTTP_HEAD},      {"POST", SYNQ_HTTP_POST},
        {"PUT", SYNQ_HTTP_PUT},         {"DELETE", SYNQ_HTTP_DELETE},  {"PATCH", SYNQ_HTTP_PATCH},
        {"OPTIONS", SYNQ_HTTP_OPTIONS}, {"PROPFIND", SYNQ_HTTP_OTHER}, {"MKCOL", SYNQ_HTTP_OTHER},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char in[128];
        snprintf(in, sizeof in, "%s /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", cases[i].name);
        run_t w;
        check_all(in, &w);
        assert_int_equal(w.nreqs, 1);
        assert_int_equal(w.reqs[0]->method, cases[i].m);
        assert_string_equal(w.reqs[0]->method_name, cases[i].name);
        assert_string_equal(w.reqs[0]->path, "/x");
        run_free(&w);
    }
}

static void test_head(void **state)
{
    run_t w;
    /* a HEAD request has no body; the next pipelined request follows at once */
    check_all("HEAD /jobs HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n\r\n", &w);
    assert_int_equal(w.nreqs, 2);
    assert_int_equal(w.reqs[0]->method, SYNQ_HTTP_HEAD);
    assert_string_equal(w.reqs[0]->method_name, "HEAD");
    assert_string_equal(w.reqs[0]->path, "/jobs");
    assert_body(w.reqs[0], "");
    assert_true(w.reqs[0]->keep_alive);
    assert_int_equal(w.reqs[1]->method, SYNQ_HTTP_GET);
    assert_string_equal(w.reqs[1]->path, "/next");
    run_free(&w);
}

static void test_keep_alive(void **state)
{
    static const struct {
        const char *in;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
        {"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", false},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        run_t w;
        check_all(cases[i].in, &w);
        assert_int_equal(w.last, SYNQ_REQ_AGAIN);
        assert_int_equal(w.nreqs, 1);
        if (w.reqs[0]->keep_alive != cases[i].keep_alive)
            fail_msg("keep_alive %d for %s", w.reqs[0]->keep_alive, cases[i].in);
        run_free(&w);
    }
}

/* Header names are lowercased, values kept, duplicates kept in order and the
 * first one is what synq_http_req_header returns. */
static void test_headers(void **state)
{
    run_t w;
    check_all("GET / HTTP/1.1\r\n"
              "X-Dup: one\r\n"
              "x-dup: Two\r\n"
              "Content-Type: application/JSON; Charset=UTF-8\r\n"
              "X-Empty:\r\n"
              "\r\n",
              &w);
    assert_int_equal(w.nreqs, 1);
    const synq_http_req_t *r = w.reqs[0];
    assert_int_equal(r->nheaders, 4);
    assert_string_equal(r->headers[0].name, "x-dup");
    assert_string_equal(r->headers[0].value, "one");
    assert_string_equal(r->headers[1].name, "x-dup");
    assert_string_equal(r->headers[1].value, "Two");
    assert_string_equal(synq_http_req_header(r, "x-dup"), "one");
    assert_string_equal(synq_http_req_header(r, "content-type"), "application/JSON; Charset=UTF-8");
    assert_string_equal(r->headers[3].name, "x-empty");
    assert_string_equal(synq_http_req_header(r, "x-empty"), "");
    run_free(&w);
}

/* RFC 9112 §5.2: obs-fold is accepted and the line break is not kept. */
static void test_header_folding(void **state)
{
    run_t w;
    check_all("GET / HTTP/1.1\r\nX-Folded: first\r\n  second\r\n\tthird\r\nY: z\r\n\r\n", &w);
    assert_int_equal(w.nreqs, 1);
    const synq_http_req_t *r = w.reqs[0];
    assert_int_equal(r->nheaders, 2);
    const char *v = synq_http_req_header(r, "x-folded");
    assert_non_null(v);
    assert_null(strpbrk(v, "\r\n"));
    const char *s = strstr(v, "second"), *t = strstr(v, "third");
    assert_true(strncmp(v, "first", 5) == 0 && s && t && s < t);
    assert_true(s > v + 5 && strchr(" \t", s[-1])); /* the pieces stay apart */
    assert_true(strchr(" \t", t[-1]) != NULL);
    assert_string_equal(synq_http_req_header(r, "y"), "z");
    run_free(&w);
}

/* RFC 9112 §2.2: empty lines before the request line are ignored. */
static void test_leading_empty_lines(void **state)
{
    run_t w;
    check_all("\r\n\r\nGET /a HTTP/1.1\r\n\r\n", &w);
    assert_int_equal(w.nreqs, 1);
    assert_string_equal(w.reqs[0]->path, "/a");
    run_free(&w);
}

/* ---- bodies ------------------------------------------------------------- */

static void test_content_length_body(void **state)
{
    run_t w;
    check_all("POST /jobs HTTP/1.1\r\n"
              "Content-Type: application/json\r\n"
              "Content-Length: 17\r\n"
              "\r\n"
              "{\"payload\":\"x\\n\"}",
              &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_false(w.busy);
    assert_int_equal(w.nreqs, 1);
    assert_int_equal(w.reqs[0]->method, SYNQ_HTTP_POST);
    assert_body(w.reqs[0], "{\"payload\":\"x\\n\"}");
    run_free(&w);

    /* a body with NUL and CR LF bytes inside */
    static const char bin[] = "PUT /b HTTP/1.1\r\nContent-Length: 6\r\n\r\na\0\r\n\xff"
                              "z";
    check_all_lim(bin, sizeof bin - 1, HDR_MAX, BODY_MAX, &w);
    assert_int_equal(w.nreqs, 1);
    assert_int_equal(w.reqs[0]->body.len, 6);
    assert_memory_equal(w.reqs[0]->body.data,
                        "a\0\r\n\xff"
                        "z",
                        6);
    run_free(&w);
}

static void test_body_incomplete(void **state)
{
    run_t w;
    check_all("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_int_equal(w.nreqs, 0);
    assert_true(w.busy); /* released mid-body: ASan checks nothing leaks */
    run_free(&w);

    check_all("GET / HTTP/1.1\r\nHost: x", &w);
    assert_int_equal(w.nreqs, 0);
    assert_true(w.busy);
    run_free(&w);
}

/* The body buffer is NUL-terminated like every synq_buf_t, so a handler may
 * read it as a string even when it is empty. */
static void test_empty_body_is_terminated(void **state)
{
    static const char *const ins[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ins); i++) {
        synq_http_req_t *r = parse_one(ins[i]);
        assert_non_null(r->body.data);
        assert_int_equal(r->body.len, 0);
        if (r->body.data[0] != '\0')
            fail_msg("empty body not NUL-terminated (byte 0x%02x) for %s",
                     (unsigned char)r->body.data[0], ins[i]);
        req_free(r);
    }
    synq_http_req_t *r = parse_one("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert_string_equal(r->body.data, "abc");
    req_free(r);
}

static void test_chunked_body(void **state)
{
    run_t w;
    check_all("POST /jobs HTTP/1.1\r\n"
              "Transfer-Encoding: chunked\r\n"
              "\r\n"
              "5\r\nhello\r\n"
              "1;name=value\r\n,\r\n"
              "A\r\n0123456789\r\n" /* hex sizes: this chunk is 10 bytes */
              "0\r\n"
              "\r\n",
              &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_false(w.busy);
    assert_int_equal(w.nreqs, 1);
    assert_body(w.reqs[0], "hello,0123456789");
    assert_string_equal(synq_http_req_header(w.reqs[0], "transfer-encoding"), "chunked");
    run_free(&w);

    check_all("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\nX-Checksum: 123\r\n\r\n"
              "GET /after HTTP/1.1\r\n\r\n",
              &w);
    assert_int_equal(w.nreqs, 2);
    assert_body(w.reqs[0], "abc");
    assert_string_equal(w.reqs[1]->path, "/after");
    run_free(&w);
}

/* RFC 9110 §6.5.1: a trailer field must not be merged into the header
 * section unless its definition allows it; a handler reading headers must
 * not see fields sent after the body. */
static void test_trailers_not_merged(void **state)
{
    run_t w;
    check_all("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\n0\r\nX-Trailer: late\r\n\r\n",
              &w);
    assert_int_equal(w.nreqs, 1);
    assert_body(w.reqs[0], "abc");
    assert_null(synq_http_req_header(w.reqs[0], "x-trailer"));
    run_free(&w);
}

/* RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling vector. */
static void test_chunked_and_length(void **state)
{
    run_t w;
    check_all("POST / HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0\r\n\r\n",
              &w);
    assert_error(&w, 400);
    run_free(&w);
    check_all("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", &w);
    assert_error(&w, 400);
    run_free(&w);
    check_all("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", &w);
    assert_error(&w, 400);
    run_free(&w);
    check_all("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &w);
    assert_error(&w, 400);
    run_free(&w);
}

/* Pipelined requests come out one at a time, in order, with their bodies;
 * a feed stops right after each request. */
static void test_pipelined(void **state)
{
    static const char *const parts[] = {
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz",
        "PUT /c?k=v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        "DELETE /d HTTP/1.1\r\n\r\n",
        "POST /e HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlast",
    };
    char in[1024] = "";
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(parts); i++)
        strcat(in, parts[i]);
    run_t w;
    check_all(in, &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_int_equal(w.nreqs, 5);
    assert_string_equal(w.reqs[0]->path, "/a");
    assert_body(w.reqs[0], "");
    assert_string_equal(w.reqs[1]->path, "/b");
    assert_body(w.reqs[1], "xyz");
    assert_string_equal(w.reqs[2]->path, "/c");
    assert_string_equal(w.reqs[2]->query, "k=v");
    assert_body(w.reqs[2], "hi");
    assert_int_equal(w.reqs[3]->method, SYNQ_HTTP_DELETE);
    assert_body(w.reqs[3], "");
    assert_body(w.reqs[4], "last");
    assert_true(w.reqs[3]->keep_alive);
    assert_false(w.reqs[4]->keep_alive);
    /* each request is dealt to the next feed alone; no header leaks across */
    assert_null(synq_http_req_header(w.reqs[1], "host"));
    assert_null(synq_http_req_header(w.reqs[3], "transfer-encoding"));
    run_free(&w);

    /* fed whole, each feed consumes exactly one request */
    synq_reqparser_t p;
    synq_reqparser_init(&p, HDR_MAX, BODY_MAX);
    size_t off = 0, len = strlen(in);
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(parts); i++) {
        size_t used;
        synq_http_req_t *r;
        assert_int_equal(synq_reqparser_feed(&p, in + off, len - off, &used, &r), SYNQ_REQ_DONE);
        assert_int_equal(used, strlen(parts[i]));
        off += used;
        req_free(r);
    }
    assert_int_equal(off, len);
    synq_reqparser_release(&p);
}

/* After "Connection: close" the server stops reading (RFC 9112 §9.6); the
 * request that said so comes out with keep_alive false wherever it is. */
static void test_pipelined_after_close(void **state)
{
    run_t w;
    check_all("GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n", &w);
    assert_true(w.nreqs >= 1);
    assert_string_equal(w.reqs[0]->path, "/a");
    assert_false(w.reqs[0]->keep_alive);
    run_free(&w);
}

/* ---- Expect: 100-continue and upgrades ---------------------------------- */

static void test_expect_continue(void **state)
{
    run_t w;
    /* only the headers have arrived: the server must send 100 now */
    check_all("POST /jobs HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_int_equal(w.nreqs, 0);
    assert_true(w.busy);
    assert_true(w.cont[0]);
    run_free(&w);

    check_all("POST /jobs HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello"
              "POST /two HTTP/1.1\r\nContent-Length: 1\r\n\r\n!",
              &w);
    assert_int_equal(w.nreqs, 2);
    assert_true(w.cont[0]);
    assert_false(w.cont[1]); /* the flag belongs to the request that asked */
    assert_body(w.reqs[0], "hello");
    assert_body(w.reqs[1], "!");
    run_free(&w);

    check_all("POST /jobs HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &w);
    assert_int_equal(w.nreqs, 1);
    assert_false(w.cont[0]);
    run_free(&w);

    /* refused by the body limit: no 100, a 413 */
    check_all_lim("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n",
                  strlen("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n"),
                  HDR_MAX, 100, &w);
    assert_error(&w, 413);
    assert_false(w.cont[0]);
    run_free(&w);
}

/* RFC 9110 §10.1.1: "A server that receives a 100-continue expectation in an
 * HTTP/1.0 request MUST ignore that expectation." */
static void test_expect_continue_http10(void **state)
{
    run_t w;
    check_all("POST /jobs HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", &w);
    assert_int_equal(w.last, SYNQ_REQ_AGAIN);
    assert_false(w.cont[0]);
    run_free(&w);
}

static void test_upgrade(void **state)
{
    static const char ws[] = "GET /connection/websocket HTTP/1.1\r\n"
                             "Host: x\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "\r\n";
    run_t w;
    check_all(ws, &w);
    assert_int_equal(w.nreqs, 1);
    assert_true(w.reqs[0]->upgrade);
    assert_string_equal(w.reqs[0]->path, "/connection/websocket");
    assert_string_equal(synq_http_req_header(w.reqs[0], "upgrade"), "websocket");
    run_free(&w);

    /* the bytes after the handshake belong to the new protocol: not consumed */
    char in[512];
    size_t hs = strlen(ws);
    memcpy(in, ws, hs);
    memcpy(in + hs, "\x81\x05hello", 7);
    synq_reqparser_t p;
    synq_reqparser_init(&p, HDR_MAX, BODY_MAX);
    size_t used;
    synq_http_req_t *r;
    assert_int_equal(synq_reqparser_feed(&p, in, hs + 7, &used, &r), SYNQ_REQ_DONE);
    assert_int_equal(used, hs);
    assert_true(r->upgrade);
    req_free(r);
    synq_reqparser_release(&p);

    /* an ordinary request is not an upgrade */
    check_all("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", &w);
    assert_false(w.reqs[0]->upgrade);
    run_free(&w);
}

/* ---- limits -------------------------------------------------------------- */

static void test_header_block_too_large(void **state)
{
    char in[1024];
    run_t w;
    /* one long header value */
    snprintf(in, sizeof in, "GET / HTTP/1.1\r\nX-Big: %0200d\r\n\r\n", 7);
    check_all_lim(in, strlen(in), 64, BODY_MAX, &w);
    assert_error(&w, 431);
    assert_string_equal(w.error_code, "headers_too_large");
    assert_int_equal(w.nreqs, 0);
    run_free(&w);

    /* a long target counts too */
    snprintf(in, sizeof in, "GET /%0200d HTTP/1.1\r\n\r\n", 7);
    check_all_lim(in, strlen(in), 64, BODY_MAX, &w);
    assert_error(&w, 431);
    run_free(&w);

    /* many small headers */
    strcpy(in, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20; i++)
        strcat(in, "A: b\r\n");
    strcat(in, "\r\n");
    check_all_lim(in, strlen(in), 64, BODY_MAX, &w);
    assert_error(&w, 431);
    run_free(&w);

    /* the same request fits a larger limit */
    check_all_lim(in, strlen(in), 1024, BODY_MAX, &w);
    assert_int_equal(w.nreqs, 1);
    assert_int_equal(w.reqs[0]->nheaders, 20);
    run_free(&w);

    /* the limit is on the header block; a large body is fine */
    snprintf(in, sizeof in, "POST / HTTP/1.1\r\nContent-Length: 300\r\n\r\n%0300d", 1);
    check_all_lim(in, strlen(in), 128, BODY_MAX, &w);
    assert_int_equal(w.nreqs, 1);
    assert_int_equal(w.reqs[0]->body.len, 300);
    run_free(&w);
}

/* More header lines than the parser keeps. */
static void test_too_many_headers(void **state)
{
    char *in = malloc(8192);
    strcpy(in, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 200; i++)
        sprintf(in + strlen(in), "H%d: v\r\n", i);
    strcat(in, "\r\n");
    run_t w;
    check_all_lim(in, strlen(in), 1 << 20, BODY_MAX, &w);
    assert_error(&w, 431);
    run_free(&w);
    free(in);
}

/* A header block larger than http-parser's own cap is a 431 as well. */
static void test_huge_header_block(void **state)
{
    size_t len = 100 * 1024;
    char *in = malloc(len + 1);
    strcpy(in, "GET / HTTP/1.1\r\n");
    for (int i = 0; strlen(in) + 1100 < len; i++) {
        size_t n = strlen(in);
        n += (size_t)sprintf(in + n, "X-%d: ", i);
        memset(in + n, 'v', 1000);
        strcpy(in + n + 1000, "\r\n");
    }
    strcat(in, "\r\n");
    synq_reqparser_t p;
    synq_reqparser_init(&p, 1 << 20, BODY_MAX);
    size_t used;
    synq_http_req_t *r;
    assert_int_equal(synq_reqparser_feed(&p, in, strlen(in), &used, &r), SYNQ_REQ_ERROR);
    assert_true(used <= strlen(in));
    assert_int_equal(p.error_status, 431);
    synq_reqparser_release(&p);
    free(in);
}

/* The header limit counts the bytes of the header block, so the same request
 * must be accepted or refused whatever the TCP segmentation. Here the block
 * is exactly at the limit. */
static void test_header_limit_any_split(void **state)
{
    static const char in[] = "GET /x HTTP/1.1\r\nHost: example\r\nX-Some-Long-Name: v\r\n\r\n";
    synq_http_req_t *r = parse_one(in);
    size_t exact = r->header_bytes; /* as counted when fed whole */
    req_free(r);
    assert_true(exact >= strlen("/x") + strlen("Host: example\r\nX-Some-Long-Name: v\r\n") - 4);

    run_t w;
    check_all_lim(in, strlen(in), exact, BODY_MAX, &w);
    assert_int_equal(w.nreqs, 1);
    run_free(&w);
}

/* Same, with twice the room: a client sending one byte per segment must not
 * run into the limit sooner than one sending the block at once. */
static void test_header_limit_byte_by_byte(void **state)
{
    static const char in[] = "GET /x HTTP/1.1\r\nHost: example\r\nX-Some-Long-Name: v\r\n\r\n";
    synq_http_req_t *r = parse_one(in);
    size_t limit = 2 * r->header_bytes;
    req_free(r);
    size_t cuts[sizeof in];
    for (size_t i = 0; i < strlen(in) - 1; i++)
        cuts[i] = i + 1;
    run_t w;
    drive(in, strlen(in), cuts, strlen(in) - 1, limit, BODY_MAX, &w);
    if (w.last == SYNQ_REQ_ERROR)
        fail_msg("byte by byte: status %d with a limit of twice the block", w.error_status);
    assert_int_equal(w.nreqs, 1);
    run_free(&w);
}

/* RFC 9110 §15.5.14: an announced body over the limit is refused from the
 * headers alone, before any of it is read. */
static void test_content_length_too_large(void **state)
{
    static const char over[] = "POST /jobs HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    run_t w;
    check_all_lim(over, strlen(over), HDR_MAX, 100, &w);
    assert_error(&w, 413);
    assert_string_equal(w.error_code, "payload_too_large");
    run_free(&w);

    static const char huge[] = "POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
    check_all_lim(huge, strlen(huge), HDR_MAX, 100, &w);
    assert_true(w.last == SYNQ_REQ_ERROR);
    assert_true(w.error_status == 413 || w.error_status == 400);
    run_free(&w);

    static const char exact[] = "POST /jobs HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    check_all_lim(exact, strlen(exact), HDR_MAX, 10, &w);
    assert_int_equal(w.nreqs, 1);
    assert_body(w.reqs[0], "0123456789");
    run_free(&w);

    static const char zero[] = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    check_all_lim(zero, strlen(zero), HDR_MAX, 0, &w);
    assert_int_equal(w.nreqs, 1);
    run_free(&w);
}

static void test_chunked_too_large(void **state)
{
    static const char over[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n"; /* 11 > 10 */
    run_t w;
    check_all_lim(over, strlen(over), HDR_MAX, 10, &w);
    assert_error(&w, 413);
    assert_int_equal(w.nreqs, 0);
    run_free(&w);

    /* one announced chunk bigger than the limit, its data not sent yet */
    static const char big[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "100000\r\nab";
    check_all_lim(big, strlen(big), HDR_MAX, 10, &w);
    assert_true(w.last == SYNQ_REQ_AGAIN || w.error_status == 413);
    run_free(&w);

    static const char exact[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n";
    check_all_lim(exact, strlen(exact), HDR_MAX, 10, &w);
    assert_int_equal(w.nreqs, 1);
    assert_body(w.reqs[0], "abcdefghij");
    run_free(&w);
}

/* ---- malformed requests ---------------------------------------------------- */

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET / HTTP/x.y\r\n\r\n",
        "GET / FTP/1.1\r\n\r\n",
        "FOO / HTTP/1.1\r\n\r\n",
        "get / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n: no-name\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        run_t w;
        check_all(bad[i], &w);
        if (w.last != SYNQ_REQ_ERROR || w.error_status != 400)
            fail_msg("result %d status %d for %s", (int)w.last, w.error_status, bad[i]);
        assert_int_equal(w.nreqs, 0);
        assert_string_equal(w.error_code, "bad_request");
        run_free(&w);
    }
}

/* RFC 9112 §5.1: "A server MUST reject, with a response status code of 400
 * (Bad Request), any received request message that contains whitespace
 * between a header field name and colon" -- a header smuggling vector
 * ("Transfer-Encoding : chunked"). A field name is a token (RFC 9110 §5.1),
 * so a space inside it is just as bad. */
static void test_whitespace_in_field_name(void **state)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nName : v\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        run_t w;
        check_all(bad[i], &w);
        if (w.last != SYNQ_REQ_ERROR || w.error_status != 400)
            fail_msg("result %d status %d (%zu requests, first header \"%s\") for %s", (int)w.last,
                     w.error_status, w.nreqs,
                     w.nreqs && w.reqs[0]->nheaders ? w.reqs[0]->headers[0].name : "", bad[i]);
        run_free(&w);
    }
    /* RFC 9112 §2.2: whitespace before the first field line: reject, or
     * ignore that line -- never a field named " lead" */
    run_t w;
    check_all("GET / HTTP/1.1\r\n Lead: v\r\n\r\n", &w);
    if (w.last != SYNQ_REQ_ERROR) {
        assert_int_equal(w.nreqs, 1);
        for (size_t h = 0; h < w.reqs[0]->nheaders; h++)
            if (strchr(w.reqs[0]->headers[h].name, ' '))
                fail_msg("header named \"%s\"", w.reqs[0]->headers[h].name);
    }
    run_free(&w);
}

/* RFC 9110 §5.5: "a recipient of CR, LF, or NUL within a field value MUST
 * either reject the message or replace each of those characters with SP".
 * A NUL right at the start of a value gets past http-parser. */
static void test_nul_in_field_value(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nX: \0ab\r\n\r\n";
    run_t w;
    check_all_lim(in, sizeof in - 1, HDR_MAX, BODY_MAX, &w);
    if (w.last != SYNQ_REQ_ERROR) {
        assert_int_equal(w.nreqs, 1);
        const char *v = synq_http_req_header(w.reqs[0], "x");
        assert_non_null(v);
        if (strcmp(v, " ab") != 0 && strcmp(v, "ab") != 0) fail_msg("value \"%s\"", v);
    } else {
        assert_int_equal(w.error_status, 400);
    }
    run_free(&w);

    /* later in the value http-parser refuses it */
    static const char later[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    check_all_lim(later, sizeof later - 1, HDR_MAX, BODY_MAX, &w);
    assert_error(&w, 400);
    run_free(&w);
}

/* Only origin-form targets are served (RFC 9112 §3.2.1). */
static void test_target_not_origin_form(void **state)
{
    static const char *const bad[] = {
        "GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\n\r\n",
        "CONNECT example.org:443 HTTP/1.1\r\n\r\n",
        "GET ?a=1 HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        run_t w;
        check_all(bad[i], &w);
        if (w.last != SYNQ_REQ_ERROR || w.error_status != 400)
            fail_msg("result %d status %d for %s", (int)w.last, w.error_status, bad[i]);
        assert_int_equal(w.nreqs, 0);
        run_free(&w);
    }
    /* the error comes after a good request, which is still delivered */
    run_t w;
    check_all("GET /ok HTTP/1.1\r\n\r\nOPTIONS * HTTP/1.1\r\n\r\n", &w);
    assert_int_equal(w.nreqs, 1);
    assert_string_equal(w.reqs[0]->path, "/ok");
    assert_error(&w, 400);
    run_free(&w);
}

static void test_feed_nothing(void **state)
{
    synq_reqparser_t p;
    synq_reqparser_init(&p, HDR_MAX, BODY_MAX);
    size_t used = 9;
    synq_http_req_t *r = (synq_http_req_t *)1;
    assert_int_equal(synq_reqparser_feed(&p, "", 0, &used, &r), SYNQ_REQ_AGAIN);
    assert_int_equal(used, 0);
    assert_null(r);
    assert_false(synq_reqparser_busy(&p));
    assert_int_equal(synq_reqparser_feed(&p, "GET", 3, &used, &r), SYNQ_REQ_AGAIN);
    assert_int_equal(used, 3);
    assert_true(synq_reqparser_busy(&p));
    assert_int_equal(synq_reqparser_feed(&p, "", 0, &used, &r), SYNQ_REQ_AGAIN);
    assert_true(synq_reqparser_busy(&p));
    synq_reqparser_release(&p);
    synq_reqparser_release(&p); /* twice is fine */
}

/* ---- query parameters ------------------------------------------------------ */

static void test_query(void **state)
{
    synq_http_req_t *r =
        parse_one("GET /q?a=1&path=x%2Fy%2f&msg=hello+world%21&empty=&flag&pct=100%25"
                  "&bad=%zz%2&last=%41 HTTP/1.1\r\n\r\n");
    char out[64];
    assert_int_equal(synq_http_req_query(r, "a", out, sizeof out), 1);
    assert_string_equal(out, "1");
    assert_int_equal(synq_http_req_query(r, "path", out, sizeof out), 4);
    assert_string_equal(out, "x/y/");
    assert_int_equal(synq_http_req_query(r, "msg", out, sizeof out), 12);
    assert_string_equal(out, "hello world!");
    assert_int_equal(synq_http_req_query(r, "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(synq_http_req_query(r, "flag", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(synq_http_req_query(r, "pct", out, sizeof out), 4);
    assert_string_equal(out, "100%");
    assert_int_equal(synq_http_req_query(r, "bad", out, sizeof out), 5);
    assert_string_equal(out, "%zz%2"); /* invalid escapes are kept as they are */
    assert_int_equal(synq_http_req_query(r, "last", out, sizeof out), 1);
    assert_string_equal(out, "A");
    /* missing keys, prefixes and suffixes of keys */
    assert_int_equal(synq_http_req_query(r, "missing", out, sizeof out), -1);
    assert_int_equal(synq_http_req_query(r, "pat", out, sizeof out), -1);
    assert_int_equal(synq_http_req_query(r, "paths", out, sizeof out), -1);
    assert_int_equal(synq_http_req_query(r, "", out, sizeof out), -1);
    /* output too small: the value and its NUL must fit */
    assert_int_equal(synq_http_req_query(r, "msg", out, 12), -1);
    assert_int_equal(synq_http_req_query(r, "msg", out, 13), 12);
    assert_string_equal(out, "hello world!");
    assert_int_equal(synq_http_req_query(r, "empty", out, 1), 0);
    assert_int_equal(synq_http_req_query(r, "empty", out, 0), -1);
    assert_int_equal(synq_http_req_query(r, "a", out, 1), -1);
    req_free(r);

    /* the first of repeated keys; an empty pair is skipped */
    r = parse_one("GET /q?&k=first&&k=second HTTP/1.1\r\n\r\n");
    assert_int_equal(synq_http_req_query(r, "k", out, sizeof out), 5);
    assert_string_equal(out, "first");
    req_free(r);

    /* no query at all */
    r = parse_one("GET /q HTTP/1.1\r\n\r\n");
    assert_int_equal(synq_http_req_query(r, "a", out, sizeof out), -1);
    req_free(r);
    r = parse_one("GET /q? HTTP/1.1\r\n\r\n");
    assert_int_equal(synq_http_req_query(r, "a", out, sizeof out), -1);
    req_free(r);

    /* an encoded NUL is returned as a byte, counted in the length */
    r = parse_one("GET /q?z=a%00b HTTP/1.1\r\n\r\n");
    assert_int_equal(synq_http_req_query(r, "z", out, sizeof out), 3);
    assert_memory_equal(out, "a\0b", 4);
    req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_simple_get, free_live),
        cmocka_unit_test_teardown(test_path_without_query, free_live),
        cmocka_unit_test_teardown(test_fragment_not_in_query, free_live),
        cmocka_unit_test_teardown(test_methods, free_live),
        cmocka_unit_test_teardown(test_head, free_live),
        cmocka_unit_test_teardown(test_keep_alive, free_live),
        cmocka_unit_test_teardown(test_headers, free_live),
        cmocka_unit_test_teardown(test_header_folding, free_live),
        cmocka_unit_test_teardown(test_leading_empty_lines, free_live),
        cmocka_unit_test_teardown(test_content_length_body, free_live),
        cmocka_unit_test_teardown(test_body_incomplete, free_live),
        cmocka_unit_test_teardown(test_empty_body_is_terminated, free_live),
        cmocka_unit_test_teardown(test_chunked_body, free_live),
        cmocka_unit_test_teardown(test_trailers_not_merged, free_live),
        cmocka_unit_test_teardown(test_chunked_and_length, free_live),
        cmocka_unit_test_teardown(test_pipelined, free_live),
        cmocka_unit_test_teardown(test_pipelined_after_close, free_live),
        cmocka_unit_test_teardown(test_expect_continue, free_live),
        cmocka_unit_test_teardown(test_expect_continue_http10, free_live),
        cmocka_unit_test_teardown(test_upgrade, free_live),
        cmocka_unit_test_teardown(test_header_block_too_large, free_live),
        cmocka_unit_test_teardown(test_too_many_headers, free_live),
        cmocka_unit_test_teardown(test_huge_header_block, free_live),
        cmocka_unit_test_teardown(test_header_limit_any_split, free_live),
        cmocka_unit_test_teardown(test_header_limit_byte_by_byte, free_live),
        cmocka_unit_test_teardown(test_content_length_too_large, free_live),
        cmocka_unit_test_teardown(test_chunked_too_large, free_live),
        cmocka_unit_test_teardown(test_malformed, free_live),
        cmocka_unit_test_teardown(test_whitespace_in_field_name, free_live),
        cmocka_unit_test_teardown(test_nul_in_field_value, free_live),
        cmocka_unit_test_teardown(test_target_not_origin_form, free_live),
        cmocka_unit_test_teardown(test_feed_nothing, free_live),
        cmocka_unit_test_teardown(test_query, free_live),
    };
    return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
