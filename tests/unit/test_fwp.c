/* Unit tests for proto/fwp, the Faktory Work Protocol without sockets.
 *
 * The line reader is fed every stream whole, one byte at a time and split
 * at every position (and at every pair of positions), and must give the
 * same lines and the same end state each time: CRLF, bare LF, mixed, empty
 * lines, CRs inside a line, several lines per piece, and the length bound
 * (a line of exactly the limit passes, one byte more fails at that byte,
 * and nothing past the limit is ever kept). The rest is checked byte for
 * byte: verb/argument split, the verb table, every reply encoding, the HI
 * greeting, the password hash against the reference vectors (§1.4 of
 * shared/reference/faktory-protocol.md), the salt and iteration pickers,
 * and FAKTORY_URL parsing. */
#include "proto/fwp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- line reader driver ------------------------------------------------------ */

/* Feeds s[0..len) to a fresh reader in pieces ending at cuts[] (then the
 * rest), each piece an exact-size heap copy, and records every line as
 * "<line>|" in *lines. Returns the last result (SYNQ_FWP_AGAIN or the
 * error); *npending is the number of bytes kept at the end. */
static int drive(const char *s, size_t len, size_t max, const size_t *cuts, size_t ncuts,
                 synq_buf_t *lines, size_t *npending)
{
    synq_fwp_reader_t r;
    synq_fwp_reader_init(&r, max);
    size_t off = 0;
    int rc = SYNQ_FWP_AGAIN;
    for (size_t k = 0; k <= ncuts && rc >= 0; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        if (end < off) end = off;
        size_t n = end - off;
        char *piece = malloc(n ? n : 1);
        memcpy(piece, s + off, n);
        size_t pos = 0;
        for (;;) {
            size_t used = (size_t)-1, llen = 99;
            const char *line = (const char *)1;
            rc = synq_fwp_read(&r, piece + pos, n - pos, &used, &line, &llen);
            if (rc < 0) {
                assert_int_equal(used, 0);
                assert_null(line);
                break;
            }
            assert_true(used <= n - pos);
            pos += used;
            /* never more than the limit and one CR kept */
            assert_true(r.partial.len <= (max ? max : SYNQ_FWP_MAX_LINE_DEFAULT) + 1);
            if (rc == SYNQ_FWP_AGAIN) {
                assert_int_equal(pos, n);
                assert_null(line);
                break;
            }
            assert_int_equal(rc, SYNQ_FWP_LINE);
            assert_true(used > 0);
            assert_true(llen <= (max ? max : SYNQ_FWP_MAX_LINE_DEFAULT));
            assert_non_null(line);
            synq_buf_append(lines, line, llen);
            synq_buf_putc(lines, '|');
        }
        free(piece);
        off = end;
    }
    *npending = r.partial.len;
    if (rc < 0) {
        /* sticky */
        size_t used = 7, llen;
        const char *line;
        assert_int_equal(synq_fwp_read(&r, "X\n", 2, &used, &line, &llen), rc);
        assert_int_equal(used, 0);
    } else {
        assert_int_equal(synq_fwp_reader_pending(&r), *npending > 0);
    }
    synq_fwp_reader_release(&r);
    return rc;
}

/* Checks that s gives exactly want_lines and want_rc (SYNQ_FWP_AGAIN or an
 * error) fed whole, byte by byte, and in two and three pieces cut
 * anywhere. */
static void check_stream(const char *s, size_t len, size_t max, const char *want_lines, int want_rc)
{
    synq_buf_t got;
    synq_buf_init(&got);
    size_t pend_whole;
    int rc = drive(s, len, max, NULL, 0, &got, &pend_whole);
    assert_int_equal(rc, want_rc);
    assert_string_equal(got.data ? got.data : "", want_lines);

    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    got.len = 0;
    size_t pend;
    rc = drive(s, len, max, cuts, len, &got, &pend);
    assert_int_equal(rc, want_rc);
    assert_string_equal(got.data ? got.data : "", want_lines);
    if (rc >= 0) assert_int_equal(pend, pend_whole);

    for (size_t i = 0; i <= len; i++) {
        for (size_t j = i; j <= len; j++) {
            size_t c2[2] = {i, j};
            got.len = 0;
            if (got.data) got.data[0] = '\0';
            rc = drive(s, len, max, c2, 2, &got, &pend);
            assert_int_equal(rc, want_rc);
            assert_string_equal(got.data ? got.data : "", want_lines);
            if (rc >= 0) assert_int_equal(pend, pend_whole);
        }
    }
    free(cuts);
    synq_buf_release(&got);
}

#define CHECK_STREAM(lit, max, lines, rc) check_stream(lit, sizeof(lit) - 1, max, lines, rc)

static void test_read_crlf(void **state)
{
    CHECK_STREAM("HELLO {\"v\":2}\r\n", 0, "HELLO {\"v\":2}|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("INFO\r\nFLUSH\r\nEND\r\n", 0, "INFO|FLUSH|END|", SYNQ_FWP_AGAIN);
}

static void test_read_bare_lf(void **state)
{
    CHECK_STREAM("PUSH {}\nFETCH a b\n", 0, "PUSH {}|FETCH a b|", SYNQ_FWP_AGAIN);
}

static void test_read_mixed_and_empty(void **state)
{
    CHECK_STREAM("A\r\nB\n\r\n\nC\r\n", 0, "A|B|||C|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("\n\n\n", 0, "|||", SYNQ_FWP_AGAIN);
    CHECK_STREAM("\r\n", 0, "|", SYNQ_FWP_AGAIN);
}

static void test_read_inner_cr(void **state)
{
    /* only one CR right before the LF is part of the ending */
    CHECK_STREAM("a\rb\r\n", 0, "a\rb|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("a\r\r\n", 0, "a\r|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("\r\r\n", 0, "\r|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("a\r", 0, "", SYNQ_FWP_AGAIN);
}

static void test_read_partial_tail(void **state)
{
    CHECK_STREAM("INFO\r\nPUSH {\"jid\"", 0, "INFO|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("", 0, "", SYNQ_FWP_AGAIN);

    synq_fwp_reader_t r;
    synq_fwp_reader_init(&r, 0);
    size_t used, len;
    const char *line;
    assert_int_equal(synq_fwp_read(&r, "AC", 2, &used, &line, &len), SYNQ_FWP_AGAIN);
    assert_int_equal(used, 2);
    assert_true(synq_fwp_reader_pending(&r));
    assert_int_equal(synq_fwp_read(&r, "K x\nEND\n", 8, &used, &line, &len), SYNQ_FWP_LINE);
    assert_int_equal(used, 4);
    assert_int_equal(len, 5);
    assert_memory_equal(line, "ACK x", 5);
    assert_false(synq_fwp_reader_pending(&r));
    const char *rest = "K x\nEND\n" + 4;
    assert_int_equal(synq_fwp_read(&r, rest, 4, &used, &line, &len), SYNQ_FWP_LINE);
    assert_ptr_equal(line, rest); /* a whole line in one piece is not copied */
    assert_int_equal(len, 3);
    assert_int_equal(synq_fwp_read(&r, NULL, 0, &used, &line, &len), SYNQ_FWP_AGAIN);
    assert_int_equal(used, 0);
    synq_fwp_reader_release(&r);
}

static void test_read_binary(void **state)
{
    static const char s[] = "a\0b\n\xff\xfe\r\n";
    synq_buf_t got;
    synq_buf_init(&got);
    size_t pend;
    assert_int_equal(drive(s, sizeof s - 1, 0, NULL, 0, &got, &pend), SYNQ_FWP_AGAIN);
    assert_int_equal(got.len, 7);
    assert_memory_equal(got.data, "a\0b|\xff\xfe|", 7);
    synq_buf_release(&got);
}

static void test_read_limit(void **state)
{
    /* max 8: exactly 8 bytes pass with either ending */
    CHECK_STREAM("12345678\n", 8, "12345678|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("12345678\r\n", 8, "12345678|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("1234567\r\r\n", 8, "1234567\r|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("12345678\r", 8, "", SYNQ_FWP_AGAIN);
    /* one more fails, whatever follows */
    CHECK_STREAM("123456789\n", 8, "", SYNQ_ETOOBIG);
    CHECK_STREAM("123456789\r\n", 8, "", SYNQ_ETOOBIG);
    CHECK_STREAM("123456789", 8, "", SYNQ_ETOOBIG);
    CHECK_STREAM("12345678\r\r\n", 8, "", SYNQ_ETOOBIG);
    CHECK_STREAM("12345678\rx", 8, "", SYNQ_ETOOBIG);
    /* the lines before the long one still come out */
    CHECK_STREAM("ok\r\n\n12345678\nabcdefghijkl\nnever\n", 8, "ok||12345678|", SYNQ_ETOOBIG);
    CHECK_STREAM("x\n", 1, "x|", SYNQ_FWP_AGAIN);
    CHECK_STREAM("xy\n", 1, "", SYNQ_ETOOBIG);
}

static void test_read_limit_exact_byte(void **state)
{
    /* byte by byte, the error comes with the 9th byte of the line */
    const char *s = "ACK\n123456789";
    synq_fwp_reader_t r;
    synq_fwp_reader_init(&r, 8);
    size_t used, len;
    const char *line;
    size_t i = 0;
    int rc = 0;
    for (; s[i]; i++) {
        rc = synq_fwp_read(&r, s + i, 1, &used, &line, &len);
        if (rc < 0) break;
        assert_int_equal(used, 1);
        assert_true(r.partial.len <= 8);
    }
    assert_int_equal(rc, SYNQ_ETOOBIG);
    assert_int_equal(i, 12);
    synq_fwp_reader_release(&r);

    /* the default is 1 MiB */
    synq_fwp_reader_init(&r, 0);
    assert_int_equal(r.max_line_bytes, SYNQ_FWP_MAX_LINE_DEFAULT);
    size_t big = SYNQ_FWP_MAX_LINE_DEFAULT;
    char *buf = malloc(big + 2);
    memset(buf, 'a', big + 2);
    buf[big] = '\n';
    assert_int_equal(synq_fwp_read(&r, buf, big + 1, &used, &line, &len), SYNQ_FWP_LINE);
    assert_int_equal(len, big);
    assert_int_equal(synq_fwp_read(&r, buf, big, &used, &line, &len), SYNQ_FWP_AGAIN);
    assert_int_equal(synq_fwp_read(&r, "b", 1, &used, &line, &len), SYNQ_ETOOBIG);
    assert_true(r.partial.len <= big);
    free(buf);
    synq_fwp_reader_release(&r);
}

static void test_read_many_lines_random(void **state)
{
    /* 200 random lines (CRLF or LF) of 0..40 bytes against limit 32, cut at
     * random positions: the same lines as fed whole */
    srand(7);
    for (int round = 0; round < 50; round++) {
        synq_buf_t s, want;
        synq_buf_init(&s);
        synq_buf_init(&want);
        int want_rc = SYNQ_FWP_AGAIN;
        for (int l = 0; l < 200; l++) {
            int n = rand() % (round < 25 ? 33 : 41);
            size_t start = s.len;
            for (int k = 0; k < n; k++)
                synq_buf_putc(&s, "ab \r{}"[rand() % 6]);
            bool crlf = rand() & 1;
            synq_buf_puts(&s, crlf ? "\r\n" : "\n");
            size_t content = (size_t)n;
            if (!crlf && n > 0 && s.data[start + (size_t)n - 1] == '\r') content--;
            if (content > 32) {
                want_rc = SYNQ_ETOOBIG;
                break;
            }
            synq_buf_append(&want, s.data + start, content);
            synq_buf_putc(&want, '|');
        }
        size_t cuts[64];
        size_t nc = 0;
        for (size_t c = 0; nc < 64 && c < s.len; c += (size_t)(rand() % 40))
            cuts[nc++] = c;
        synq_buf_t got;
        synq_buf_init(&got);
        size_t pend;
        assert_int_equal(drive(s.data, s.len, 32, cuts, nc, &got, &pend), want_rc);
        assert_int_equal(got.len, want.len);
        if (want.len) assert_memory_equal(got.data, want.data, want.len);
        synq_buf_release(&got);
        synq_buf_release(&s);
        synq_buf_release(&want);
    }
}

/* ---- split and verbs ------------------------------------------------------------- */

static void split(const char *s, const char *want_verb, const char *want_arg)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1); /* exact size: an overread shows under ASan */
    memcpy(copy, s, len);
    const char *verb, *arg;
    size_t vlen, alen;
    synq_fwp_split(copy, len, &verb, &vlen, &arg, &alen);
    assert_int_equal(vlen, strlen(want_verb));
    assert_memory_equal(verb, want_verb, vlen);
    assert_int_equal(alen, strlen(want_arg));
    assert_memory_equal(arg, want_arg, alen);
    assert_true(verb >= copy && verb + vlen <= copy + len);
    assert_true(arg >= copy && arg + alen <= copy + len);
    free(copy);
}

static void test_split(void **state)
{
    split("INFO", "INFO", "");
    split("INFO ", "INFO", "");
    split("PUSH {\"jid\":\"x\"}", "PUSH", "{\"jid\":\"x\"}");
    split("PUSH  {}", "PUSH", " {}"); /* extra spaces belong to the argument */
    split("FETCH a b  c ", "FETCH", "a b  c ");
    split(" PUSH", "", "PUSH");
    split("", "", "");
    split(" ", "", "");
}

static void test_word(void **state)
{
    const char *s = "  critical default   low ";
    const char *p = s, *w;
    size_t len = strlen(s), wl;
    const char *want[] = {"critical", "default", "low"};
    for (int i = 0; i < 3; i++) {
        assert_true(synq_fwp_word(&p, &len, &w, &wl));
        assert_int_equal(wl, strlen(want[i]));
        assert_memory_equal(w, want[i], wl);
    }
    assert_false(synq_fwp_word(&p, &len, &w, &wl));
    assert_int_equal(len, 0);
    p = "";
    len = 0;
    assert_false(synq_fwp_word(&p, &len, &w, &wl));
}

static void test_cmd_table(void **state)
{
    const char *names[] = {"HELLO", "PUSH",  "PUSHB", "FETCH",  "ACK",   "FAIL",  "BEAT",
                           "INFO",  "FLUSH", "END",   "MUTATE", "QUEUE", "TRACK", "BATCH"};
    assert_int_equal(SYNQ_ARRAY_LEN(names), SYNQ_FWP_CMD_COUNT_ - 1);
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) {
        synq_fwp_cmd_t c = synq_fwp_cmd_lookup(names[i], strlen(names[i]));
        assert_int_not_equal(c, SYNQ_FWP_CMD_UNKNOWN);
        assert_string_equal(synq_fwp_cmd_name(c), names[i]);
    }
    assert_int_equal(synq_fwp_cmd_lookup("PUSH", 4), SYNQ_FWP_CMD_PUSH);
    assert_int_equal(synq_fwp_cmd_lookup("PUSHB", 5), SYNQ_FWP_CMD_PUSHB);
    assert_int_equal(synq_fwp_cmd_lookup("PUSHB", 4), SYNQ_FWP_CMD_PUSH);
    assert_int_equal(synq_fwp_cmd_lookup("push", 4), SYNQ_FWP_CMD_UNKNOWN); /* case-sensitive */
    assert_int_equal(synq_fwp_cmd_lookup("PUS", 3), SYNQ_FWP_CMD_UNKNOWN);
    assert_int_equal(synq_fwp_cmd_lookup("", 0), SYNQ_FWP_CMD_UNKNOWN);
    assert_int_equal(synq_fwp_cmd_lookup("END\0", 4), SYNQ_FWP_CMD_UNKNOWN);
    assert_string_equal(synq_fwp_cmd_name(SYNQ_FWP_CMD_UNKNOWN), "");
    assert_string_equal(synq_fwp_cmd_name((synq_fwp_cmd_t)999), "");
}

/* ---- replies ------------------------------------------------------------------- */

#define ASSERT_BUF(b, lit)                                                                         \
    do {                                                                                           \
        assert_int_equal((b)->len, sizeof(lit) - 1);                                               \
        assert_memory_equal((b)->data, lit, sizeof(lit) - 1);                                      \
        (b)->len = 0;                                                                              \
    } while (0)

static void test_replies(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_fwp_reply_ok(&b);
    ASSERT_BUF(&b, "+OK\r\n");
    synq_fwp_reply_simple(&b, "b-123", 5);
    ASSERT_BUF(&b, "+b-123\r\n");
    synq_fwp_reply_simple(&b, "a\r\nb\0c", 6);
    ASSERT_BUF(&b, "+a  b c\r\n");
    synq_fwp_reply_simple(&b, "", 0);
    ASSERT_BUF(&b, "+\r\n");
    synq_fwp_reply_error(&b, NULL, "unknown command push", 20);
    ASSERT_BUF(&b, "-ERR unknown command push\r\n");
    synq_fwp_reply_error(&b, "", "x", 1);
    ASSERT_BUF(&b, "-ERR x\r\n");
    synq_fwp_reply_error(&b, "NOTUNIQUE", "Job not unique", 14);
    ASSERT_BUF(&b, "-NOTUNIQUE Job not unique\r\n");
    synq_fwp_reply_error(&b, "ERR", "invalid JSON: line 1\r\nline 2\n", 29);
    ASSERT_BUF(&b, "-ERR invalid JSON: line 1  line 2 \r\n");
    synq_fwp_reply_error(&b, "E\r\nX", NULL, 0);
    ASSERT_BUF(&b, "-E  X\r\n");
    synq_fwp_reply_errorf(&b, NULL, "unknown command %s", "FOO\nBAR");
    ASSERT_BUF(&b, "-ERR unknown command FOO BAR\r\n");
    synq_fwp_reply_errorf(&b, "ERR", "too many connections: %d", 2001);
    ASSERT_BUF(&b, "-ERR too many connections: 2001\r\n");
    /* longer than the stack buffer of errorf */
    char longmsg[1001];
    memset(longmsg, 'z', 1000);
    longmsg[1000] = '\0';
    synq_fwp_reply_errorf(&b, NULL, "%s\n", longmsg);
    assert_int_equal(b.len, 5 + 1000 + 1 + 2);
    assert_memory_equal(b.data, "-ERR zzz", 8);
    assert_memory_equal(b.data + b.len - 4, "z \r\n", 4);
    b.len = 0;

    synq_fwp_reply_bulk(&b, "{\"state\":\"quiet\"}", 17);
    ASSERT_BUF(&b, "$17\r\n{\"state\":\"quiet\"}\r\n");
    synq_fwp_reply_bulk(&b, "{}", 2);
    ASSERT_BUF(&b, "$2\r\n{}\r\n");
    synq_fwp_reply_bulk(&b, "", 0);
    ASSERT_BUF(&b, "$0\r\n\r\n");
    /* the length counts bytes: "é€😀" is 2 + 3 + 4 */
    synq_fwp_reply_bulk(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    ASSERT_BUF(&b, "$9\r\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\r\n");
    /* bulk bytes go as they are */
    synq_fwp_reply_bulk(&b, "a\r\nb", 4);
    ASSERT_BUF(&b, "$4\r\na\r\nb\r\n");
    synq_fwp_reply_null(&b);
    ASSERT_BUF(&b, "$-1\r\n");

    /* replies append */
    synq_fwp_reply_ok(&b);
    synq_fwp_reply_null(&b);
    ASSERT_BUF(&b, "+OK\r\n$-1\r\n");
    synq_buf_release(&b);
}

/* ---- handshake ------------------------------------------------------------------- */

static void test_hi(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_fwp_hi(&b, 0, NULL), 0);
    ASSERT_BUF(&b, "+HI {\"v\":2}\r\n");
    assert_int_equal(synq_fwp_hi(&b, 1545, "55104dc76695721d"), 0);
    ASSERT_BUF(&b, "+HI {\"v\":2,\"i\":1545,\"s\":\"55104dc76695721d\"}\r\n");
    assert_int_equal(synq_fwp_hi(&b, 0, "abc"), SYNQ_EINVAL);
    assert_int_equal(synq_fwp_hi(&b, SYNQ_FWP_MAX_ITERATIONS + 1, "abc"), SYNQ_EINVAL);
    assert_int_equal(synq_fwp_hi(&b, 5, ""), SYNQ_EINVAL);
    assert_int_equal(synq_fwp_hi(&b, 5, "a b"), SYNQ_EINVAL);
    assert_int_equal(synq_fwp_hi(&b, 5, "a\"b"), SYNQ_EINVAL);
    assert_int_equal(b.len, 0);
    synq_buf_release(&b);
}

static void test_pwdhash_vectors(void **state)
{
    char out[65];
    assert_int_equal(synq_fwp_pwdhash("foobar", "55104dc76695721d", 1545, out), 0);
    assert_string_equal(out, "6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30");
    assert_int_equal(synq_fwp_pwdhash("password", "123456789abc", 1735, out), 0);
    assert_string_equal(out, "e841e9ac451ce2f737d82f1655808c5a502be91dc8a9e01ad6a1f75497912ed6");
    assert_int_equal(synq_fwp_pwdhash("foobar", "123456789abc", 1, out), 0);
    assert_string_equal(out, "d30ae2acf55b9e6896725c3b4a2c1d26554ad2e1111c1b29056aa909f8260e39");
    /* i=1 is a single SHA-256 of password || salt: sha256("") here */
    assert_int_equal(synq_fwp_pwdhash("", "", 1, out), 0);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* i=2 is SHA-256 of the raw digest of round 1 */
    assert_int_equal(synq_fwp_pwdhash("", "", 2, out), 0);
    assert_string_equal(out, "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456");

    assert_int_equal(synq_fwp_pwdhash("x", "y", 0, out), SYNQ_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(synq_fwp_pwdhash("x", "y", -3, out), SYNQ_EINVAL);
    assert_int_equal(synq_fwp_pwdhash("x", "y", SYNQ_FWP_MAX_ITERATIONS + 1, out), SYNQ_EINVAL);
}

static void test_pwdhash_check(void **state)
{
    const char *exp = "6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30";
    assert_true(synq_fwp_pwdhash_check(exp, exp, 64));
    char given[64];
    memcpy(given, exp, 64); /* not NUL-terminated */
    assert_true(synq_fwp_pwdhash_check(exp, given, 64));
    given[63] = '1';
    assert_false(synq_fwp_pwdhash_check(exp, given, 64));
    assert_false(synq_fwp_pwdhash_check(exp, exp, 63));
    assert_false(synq_fwp_pwdhash_check(exp, NULL, 0));
    assert_false(synq_fwp_pwdhash_check("", "", 0));
    /* case matters: clients send lowercase */
    assert_false(synq_fwp_pwdhash_check(
        exp, "6D877F8E5544B1F2598768F817413AB8A357AFFFA924DEDAE99EB91472D4EC30", 64));
}

static void test_salt_and_iterations(void **state)
{
    char seen[8][17];
    for (int k = 0; k < 8; k++) {
        char *s = seen[k];
        assert_int_equal(synq_fwp_salt(s), 0);
        size_t n = strlen(s);
        assert_true(n >= 1 && n <= 16);
        for (size_t i = 0; i < n; i++)
            assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
        if (n > 1) assert_true(s[0] != '0');
        if (n == 16) assert_true(s[0] <= '7'); /* 63 bits */
        /* a salt makes a valid greeting */
        synq_buf_t b;
        synq_buf_init(&b);
        assert_int_equal(synq_fwp_hi(&b, 4000, s), 0);
        assert_int_equal(b.data[3], ' '); /* the only space: Node splits on it */
        assert_null(strchr(b.data + 4, ' '));
        synq_buf_release(&b);
    }
    int distinct = 0;
    for (int k = 1; k < 8; k++)
        distinct += strcmp(seen[k], seen[0]) != 0;
    assert_true(distinct > 0);

    int lo = 10000, hi = 0;
    for (int k = 0; k < 2000; k++) {
        int it = 0;
        assert_int_equal(synq_fwp_iterations(&it), 0);
        assert_true(it >= 4000 && it <= 8095);
        lo = SYNQ_MIN(lo, it);
        hi = SYNQ_MAX(hi, it);
    }
    assert_true(lo < 4300 && hi > 7800);
}

/* ---- URLs ----------------------------------------------------------------------- */

static void url_ok(const char *s, const char *host, int port, const char *user, const char *pass,
                   bool tls)
{
    synq_fwp_url_t u;
    assert_int_equal(synq_fwp_url_parse(s, &u), 0);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    if (user)
        assert_string_equal(u.username, user);
    else
        assert_null(u.username);
    if (pass)
        assert_string_equal(u.password, pass);
    else
        assert_null(u.password);
    assert_int_equal(u.tls, tls);
    synq_fwp_url_release(&u);
    assert_null(u.host);
    synq_fwp_url_release(&u); /* twice is fine */
}

static void url_bad(const char *s)
{
    synq_fwp_url_t u;
    memset(&u, 0xab, sizeof u);
    assert_int_equal(synq_fwp_url_parse(s, &u), SYNQ_EINVAL);
    assert_null(u.host);
    assert_null(u.username);
    assert_null(u.password);
}

static void test_url(void **state)
{
    url_ok("tcp://:password@host:7419", "host", 7419, NULL, "password", false);
    url_ok("tcp://localhost:7419", "localhost", 7419, NULL, NULL, false);
    url_ok("tcp://faktory", "faktory", SYNQ_FWP_PORT, NULL, NULL, false);
    url_ok("tcp://faktory/", "faktory", SYNQ_FWP_PORT, NULL, NULL, false);
    url_ok("tcp+tls://u:p@example.com:17419", "example.com", 17419, "u", "p", true);
    url_ok("TCP+TLS://h:1", "h", 1, NULL, NULL, true);
    url_ok("tcp://user@h:65535", "h", 65535, "user", NULL, false);
    url_ok("tcp://user:@h", "h", SYNQ_FWP_PORT, "user", "", false);
    url_ok("tcp://:7419", "localhost", 7419, NULL, NULL, false);
    url_ok("tcp://", "localhost", SYNQ_FWP_PORT, NULL, NULL, false);
    url_ok("tcp://:s3cr%40t%3A%20x@10.0.0.1:7419", "10.0.0.1", 7419, NULL, "s3cr@t: x", false);
    url_ok("tcp://:p@ss@h", "h", SYNQ_FWP_PORT, NULL, "p@ss", false); /* last '@' */
    url_ok("tcp://:a:b@h", "h", SYNQ_FWP_PORT, NULL, "a:b", false);
    url_ok("tcp://[::1]:7419", "::1", 7419, NULL, NULL, false);
    url_ok("tcp://:pw@[fe80::1%25eth0]", "fe80::1%25eth0", SYNQ_FWP_PORT, NULL, "pw", false);

    url_bad(NULL);
    url_bad("");
    url_bad("redis://h:6379");
    url_bad("http://h:7419");
    url_bad("tcp:/h");
    url_bad("h:7419");
    url_bad("tcp://h:0");
    url_bad("tcp://h:65536");
    url_bad("tcp://h:99999999999999999999");
    url_bad("tcp://h:");
    url_bad("tcp://h:74x9");
    url_bad("tcp://h:-1");
    url_bad("tcp://h/path");
    url_bad("tcp://h?x=1");
    url_bad("tcp://h#f");
    url_bad("tcp://:%zz@h");
    url_bad("tcp://:%4@h");
    url_bad("tcp://:%00@h");
    url_bad("tcp://h o:1");
    url_bad("tcp://[::1");
    url_bad("tcp://[]:1");
    url_bad("tcp://[::1]x");
    url_bad("tcp://[g::1]");
    url_bad("tcp://a[b]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_crlf),
        cmocka_unit_test(test_read_bare_lf),
        cmocka_unit_test(test_read_mixed_and_empty),
        cmocka_unit_test(test_read_inner_cr),
        cmocka_unit_test(test_read_partial_tail),
        cmocka_unit_test(test_read_binary),
        cmocka_unit_test(test_read_limit),
        cmocka_unit_test(test_read_limit_exact_byte),
        cmocka_unit_test(test_read_many_lines_random),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_word),
        cmocka_unit_test(test_cmd_table),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_hi),
        cmocka_unit_test(test_pwdhash_vectors),
        cmocka_unit_test(test_pwdhash_check),
        cmocka_unit_test(test_salt_and_iterations),
        cmocka_unit_test(test_url),
    };
    return cmocka_run_group_tests_name("fwp", tests, NULL, NULL);
}
