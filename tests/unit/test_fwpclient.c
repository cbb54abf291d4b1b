/* Unit tests for cli/fwpclient, the command line's Faktory client, and the
 * address resolution in cli/client (synq_client_url_pick, _url_is_fwp).
 *
 * The reply reader is fed every stream whole and growing one, two and three
 * bytes at a time (it parses from the start of what it is given, so one at
 * a time is every split),
 * each piece an exact-size heap copy so an over-read shows under ASan: the
 * replies and the end state must be the same. The HELLO builder is checked
 * byte for byte, with the password proof against the reference vectors
 * (shared/reference/faktory-protocol.md §1.4). The connection is run
 * against a scripted fake server on a thread: handshake with and without a
 * password, a reply dribbled one byte per write, an -ERR reply, a server
 * that closes (and the reconnect on the next call), a peer that is not a
 * Faktory server, a refused connection, a silent server, and addresses
 * that are refused before connecting. */
#include "cli/client.h"
#include "cli/fwpclient.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- reply reader ------------------------------------------------------------- */

static void describe(synq_buf_t *d, const synq_fwpclient_reply_t *r)
{
    switch (r->kind) {
    case SYNQ_FWPCLIENT_SIMPLE:
        synq_buf_putc(d, '+');
        break;
    case SYNQ_FWPCLIENT_ERROR:
        synq_buf_putc(d, '-');
        break;
    case SYNQ_FWPCLIENT_BULK:
        synq_buf_putc(d, '$');
        break;
    case SYNQ_FWPCLIENT_NULL:
        synq_buf_puts(d, "nil|");
        assert_null(r->data);
        assert_int_equal(r->len, 0);
        return;
    }
    assert_non_null(r->data);
    assert_int_equal(r->data[r->len], '\0');
    for (size_t i = 0; i < r->len; i++)
        synq_buf_putc(d, r->data[i] == '\0' ? '0' : r->data[i]);
    synq_buf_putc(d, '|');
}

/* Parses s[0..len) as it grows by step bytes at a time (step 0: whole),
 * giving each call an exact-size heap copy of the unconsumed bytes. Records
 * every reply in *d and returns the last result (SYNQ_FWP_AGAIN or the
 * error), with *left the bytes not consumed. */
static int drive(const char *s, size_t len, size_t max, size_t step, synq_buf_t *d, size_t *left)
{
    size_t off = 0, avail = step ? 0 : len;
    int rc = SYNQ_FWP_AGAIN;
    for (;;) {
        size_t n = avail - off;
        char *piece = malloc(n ? n : 1);
        memcpy(piece, s + off, n);
        synq_fwpclient_reply_t r;
        size_t used = 99;
        rc = synq_fwpclient_reply_parse(n ? piece : NULL, n, max, &r, &used);
        free(piece);
        if (rc == 1) {
            assert_true(used > 0 && used <= n);
            describe(d, &r);
            synq_fwpclient_reply_release(&r);
            assert_int_equal(r.kind, 0);
            off += used;
            continue;
        }
        assert_int_equal(used, 0);
        assert_int_equal(r.kind, 0);
        assert_null(r.data);
        if (rc < 0 || avail == len) break;
        avail = SYNQ_MIN(len, avail + step);
    }
    *left = len - off;
    return rc;
}

/* Asserts s[0..len) gives the replies want (as describe writes them) and
 * ends in want_rc, fed whole and growing 1, 2 and 3 bytes at a time, with the
 * same bytes left unconsumed every way. */
static void check_replies(const char *s, size_t len, size_t max, const char *want, int want_rc)
{
    synq_buf_t d;
    synq_buf_init(&d);
    size_t left_whole = 0;
    for (size_t step = 0; step <= 3; step++) { /* 0: whole */
        d.len = 0;
        if (d.data) d.data[0] = '\0';
        size_t left;
        int rc = drive(s, len, max, step, &d, &left);
        const char *got = d.data ? d.data : "";
        if (rc != want_rc || strcmp(got, want) != 0)
            print_error("input \"%.*s\", step %zu: rc %d, replies \"%s\"\n", (int)len, s, step, rc,
                        got);
        assert_int_equal(rc, want_rc);
        assert_string_equal(got, want);
        if (step == 0) left_whole = left;
        assert_int_equal(left, left_whole);
    }
    synq_buf_release(&d);
}

/* A reply stream and what check_replies must describe for it. */
typedef struct {
    const char *in;
    size_t len;
    const char *want;
} reply_case_t;

/* A reply_case_t's in and len from a string literal (NULs inside count). */
#define S(lit) lit, sizeof(lit) - 1
#define BIG SYNQ_FWPCLIENT_MAX_REPLY_BYTES

/* check_replies on every case, each under max and ending in want_rc. */
static void check_cases(const reply_case_t *cases, size_t n, size_t max, int want_rc)
{
    for (size_t i = 0; i < n; i++)
        check_replies(cases[i].in, cases[i].len, max, cases[i].want, want_rc);
}

static void test_reply_kinds(void **state)
{
    static const reply_case_t ok[] = {
        {S("+OK\r\n"), "+OK|"},
        {S("+HI {\"v\":2}\r\n"), "+HI {\"v\":2}|"},
        {S("+\r\n"), "+|"},
        {S("-ERR Invalid password\r\n"), "-ERR Invalid password|"},
        {S("$3\r\nabc\r\n"), "$abc|"},
        {S("$0\r\n\r\n"), "$|"},
        {S("$-1\r\n"), "nil|"},
        /* the payload is taken by its length: line breaks and NULs inside */
        {S("$4\r\na\r\nb\r\n"), "$a\r\nb|"},
        {S("$3\r\na\0b\r\n"), "$a0b|"},
        /* a CR inside a line stays */
        {S("+a\rb\r\n"), "+a\rb|"},
    };
    check_cases(ok, SYNQ_ARRAY_LEN(ok), BIG, SYNQ_FWP_AGAIN);
}

static void test_reply_streams(void **state)
{
    static const reply_case_t ok[] = {
        {S("+OK\r\n$-1\r\n$2\r\n{}\r\n-ERR x\r\n"), "+OK|nil|${}|-ERR x|"},
        /* bare LF endings */
        {S("+OK\n$2\n{}\n$-1\n"), "+OK|${}|nil|"},
        /* a reply not complete yet */
        {S("+OK\r\n$5\r\nab"), "+OK|"},
        {S("+OK\r\n$2\r\nab\r"), "+OK|"},
        {S("+O"), ""},
        {S(""), ""},
    };
    check_cases(ok, SYNQ_ARRAY_LEN(ok), BIG, SYNQ_FWP_AGAIN);
}

static void test_reply_malformed(void **state)
{
    static const reply_case_t bad[] = {
        {S(":1\r\n"), ""},
        {S("*1\r\n"), ""},
        {S("HTTP/1.1 400 Bad Request\r\n"), ""},
        {S("+OK\r\n\r\n"), "+OK|"},
        {S("$\r\n"), ""},
        {S("$x\r\n"), ""},
        {S("$-2\r\n"), ""},
        {S("$+3\r\nabc\r\n"), ""},
        {S("$3\r\nabcX"), ""},
        {S("$3\r\nabc\rX"), ""},
        /* a bulk header is short: this is not one, whatever follows */
        {S("$1234567890123456789012345"), ""},
    };
    check_cases(bad, SYNQ_ARRAY_LEN(bad), BIG, SYNQ_EPROTO);
}

static void test_reply_limits(void **state)
{
    static const reply_case_t fit[] = {
        {S("+abcd\r\n"), "+abcd|"},
        {S("+abcd\n"), "+abcd|"},
        {S("+abcd\r"), ""},
        {S("$4\r\nabcd\r\n"), "$abcd|"},
    };
    check_cases(fit, SYNQ_ARRAY_LEN(fit), 4, SYNQ_FWP_AGAIN);
    static const reply_case_t too_big[] = {
        {S("+abcde\r\n"), ""},
        {S("+abcd\r\r\n"), ""},
        {S("-abcdefghij"), ""},
        {S("$5\r\n"), ""},
    };
    check_cases(too_big, SYNQ_ARRAY_LEN(too_big), 4, SYNQ_ETOOBIG);
    check_replies(S("$99999999999999999999\r\n"), BIG, "", SYNQ_ETOOBIG);
    /* a long bulk under a large limit is fine; a long line is not */
    size_t n = SYNQ_FWPCLIENT_MAX_LINE_BYTES + 10;
    char *s = malloc(n + 16);
    int k = snprintf(s, 16, "$%zu\r\n", n);
    memset(s + k, 'x', n);
    memcpy(s + k + n, "\r\n", 2);
    synq_fwpclient_reply_t r;
    size_t used;
    assert_int_equal(synq_fwpclient_reply_parse(s, (size_t)k + n + 2, BIG, &r, &used), 1);
    assert_int_equal(r.len, n);
    assert_int_equal(used, (size_t)k + n + 2);
    synq_fwpclient_reply_release(&r);
    s[0] = '+';
    memset(s + 1, 'x', n);
    assert_int_equal(synq_fwpclient_reply_parse(s, n, BIG, &r, &used), SYNQ_ETOOBIG);
    free(s);
}

static void test_reply_error_text(void **state)
{
    synq_fwpclient_reply_t r = {.kind = SYNQ_FWPCLIENT_ERROR, .data = "ERR Invalid password"};
    assert_string_equal(synq_fwpclient_reply_error_text(&r), "Invalid password");
    r.data = "NOTUNIQUE Job not unique";
    assert_string_equal(synq_fwpclient_reply_error_text(&r), "NOTUNIQUE Job not unique");
    r.data = "ERR";
    assert_string_equal(synq_fwpclient_reply_error_text(&r), "ERR");
    r.data = NULL;
    assert_string_equal(synq_fwpclient_reply_error_text(&r), "");
}

/* ---- HELLO -------------------------------------------------------------------- */

static int hello(const char *hi, const char *pw, const char *user,
                 const synq_fwpclient_hello_t *who, char *out, size_t outlen)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "HELLO ");
    char err[256];
    int rc = synq_fwpclient_hello_build(hi, strlen(hi), pw, user, who, &b, err, sizeof err);
    if (rc == 0) {
        assert_string_equal(err, "");
        snprintf(out, outlen, "%s", b.data);
    } else {
        assert_int_equal(b.len, 6); /* nothing appended */
        assert_true(strlen(err) > 0);
        snprintf(out, outlen, "%s", err);
    }
    synq_buf_release(&b);
    return rc;
}

static void test_hello_producer_and_worker(void **state)
{
    char out[1024];
    synq_fwpclient_hello_t producer = {.hostname = "h1", .pid = 42};
    assert_int_equal(hello("HI {\"v\":2}", NULL, NULL, &producer, out, sizeof out), 0);
    assert_string_equal(out, "HELLO {\"hostname\":\"h1\",\"pid\":42,\"v\":2}");
    /* a password the server does not ask for is not used */
    assert_int_equal(hello("HI {\"v\":2}", "secret", NULL, &producer, out, sizeof out), 0);
    assert_string_equal(out, "HELLO {\"hostname\":\"h1\",\"pid\":42,\"v\":2}");
    assert_int_equal(hello("HI {\"v\":2}", NULL, "bob", NULL, out, sizeof out), 0);
    assert_string_equal(out, "HELLO {\"v\":2,\"username\":\"bob\"}");

    static const char *const labels[] = {"synq-work", NULL};
    synq_fwpclient_hello_t worker = {
        .wid = "0123abcd", .labels = labels, .hostname = "h1", .pid = 7};
    assert_int_equal(hello("HI {\"v\":2}", NULL, NULL, &worker, out, sizeof out), 0);
    assert_string_equal(out, "HELLO {\"hostname\":\"h1\",\"wid\":\"0123abcd\",\"labels\":"
                             "[\"synq-work\"],\"pid\":7,\"v\":2}");
    worker.labels = NULL;
    assert_int_equal(hello("HI {\"v\":2}", NULL, NULL, &worker, out, sizeof out), 0);
    assert_string_equal(out,
                        "HELLO {\"hostname\":\"h1\",\"wid\":\"0123abcd\",\"labels\":[],\"pid\":7,"
                        "\"v\":2}");
}

static void test_hello_password(void **state)
{
    char out[1024];
    synq_fwpclient_hello_t who = {.hostname = "h"};
    /* the official vector (§1.4) */
    assert_int_equal(hello("HI {\"v\":2,\"i\":1545,\"s\":\"55104dc76695721d\"}", "foobar", NULL,
                           &who, out, sizeof out),
                     0);
    assert_string_equal(out,
                        "HELLO {\"hostname\":\"h\",\"v\":2,\"pwdhash\":"
                        "\"6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30\"}");
    /* no "i": one round, as the Go client does */
    assert_int_equal(
        hello("HI {\"v\":2,\"s\":\"123456789abc\"}", "foobar", NULL, &who, out, sizeof out), 0);
    assert_string_equal(out,
                        "HELLO {\"hostname\":\"h\",\"v\":2,\"pwdhash\":"
                        "\"d30ae2acf55b9e6896725c3b4a2c1d26554ad2e1111c1b29056aa909f8260e39\"}");
    assert_int_equal(hello("HI {\"v\":2,\"i\":1735,\"s\":\"123456789abc\"}", "password", "u", &who,
                           out, sizeof out),
                     0);
    assert_string_equal(out,
                        "HELLO {\"hostname\":\"h\",\"v\":2,\"username\":\"u\",\"pwdhash\":"
                        "\"e841e9ac451ce2f737d82f1655808c5a502be91dc8a9e01ad6a1f75497912ed6\"}");
    /* the server wants one and there is none */
    assert_int_equal(hello("HI {\"v\":2,\"i\":5,\"s\":\"ab\"}", NULL, NULL, &who, out, sizeof out),
                     SYNQ_EINVAL);
    assert_non_null(strstr(out, "password"));
    /* "s": null is no salt */
    assert_int_equal(hello("HI {\"v\":2,\"s\":null}", NULL, NULL, &who, out, sizeof out), 0);
}

static void test_hello_bad_greetings(void **state)
{
    static const char *const bad[] = {
        "",
        "HI",
        "HI ",
        "HELLO {}",
        "HI{\"v\":2}",
        "HI {",
        "HI []",
        "HI 2",
        "HI {\"v\":2} x",
        "HI {\"v\":2,\"s\":5}",
        "HI {\"v\":2,\"s\":\"ab\",\"i\":0}",
        "HI {\"v\":2,\"s\":\"ab\",\"i\":-3}",
        "HI {\"v\":2,\"s\":\"ab\",\"i\":1000001}",
        "HI {\"v\":2,\"s\":\"ab\",\"i\":\"5\"}",
        "HI {\"v\":2,\"s\":\"ab\",\"i\":5.5}",
    };
    char out[1024];
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++)
        assert_int_equal(hello(bad[i], "pw", NULL, NULL, out, sizeof out), SYNQ_EPROTO);
}

static void test_random_hex(void **state)
{
    char a[25], b[25];
    memset(a, 'Z', sizeof a);
    assert_int_equal(synq_fwpclient_random_hex(a, 12), 0);
    assert_int_equal(strlen(a), 24);
    assert_int_equal(strspn(a, "0123456789abcdef"), 24);
    assert_int_equal(synq_fwpclient_random_hex(b, 12), 0);
    assert_string_not_equal(a, b);
    char one[3];
    assert_int_equal(synq_fwpclient_random_hex(one, 1), 0);
    assert_int_equal(strlen(one), 2);
    char none[1] = {'Z'};
    assert_int_equal(synq_fwpclient_random_hex(none, 0), 0);
    assert_int_equal(none[0], '\0');
}

/* ---- address resolution (cli/client) ---------------------------------------- */

static void env_clear(void)
{
    unsetenv("SYNQ_SERVER");
    unsetenv("FAKTORY_URL");
    unsetenv("FAKTORY_PROVIDER");
    unsetenv("MY_FAKTORY");
}

static const char *pick(const char *flag, int want_rc)
{
    const char *url = (const char *)1;
    char err[256] = "";
    assert_int_equal(synq_client_url_pick(flag, &url, err, sizeof err), want_rc);
    if (want_rc < 0) {
        assert_true(strlen(err) > 0);
        return err[0] ? "error" : "";
    }
    return url;
}

static void test_url_pick(void **state)
{
    env_clear();
    assert_string_equal(pick(NULL, 0), SYNQ_CLIENT_DEFAULT_URL);
    assert_string_equal(pick("", 0), SYNQ_CLIENT_DEFAULT_URL);
    setenv("FAKTORY_URL", "tcp://:pw@f:7419", 1);
    assert_string_equal(pick(NULL, 0), "tcp://:pw@f:7419");
    setenv("SYNQ_SERVER", "http://s:1", 1);
    assert_string_equal(pick(NULL, 0), "http://s:1");
    assert_string_equal(pick("tcp://flag", 0), "tcp://flag");
    unsetenv("SYNQ_SERVER");
    /* FAKTORY_PROVIDER names the variable; FAKTORY_URL is then not used */
    setenv("FAKTORY_PROVIDER", "MY_FAKTORY", 1);
    setenv("MY_FAKTORY", "tcp://other:1", 1);
    assert_string_equal(pick(NULL, 0), "tcp://other:1");
    unsetenv("MY_FAKTORY");
    assert_string_equal(pick(NULL, SYNQ_EINVAL), "error");
    setenv("FAKTORY_PROVIDER", "tcp://x:1", 1);
    assert_string_equal(pick(NULL, SYNQ_EINVAL), "error");
    /* ... but only when it is needed */
    assert_string_equal(pick("http://flag", 0), "http://flag");
    setenv("SYNQ_SERVER", "http://s:1", 1);
    assert_string_equal(pick(NULL, 0), "http://s:1");
    /* empty counts as unset */
    env_clear();
    setenv("SYNQ_SERVER", "", 1);
    setenv("FAKTORY_PROVIDER", "", 1);
    setenv("FAKTORY_URL", "", 1);
    assert_string_equal(pick(NULL, 0), SYNQ_CLIENT_DEFAULT_URL);
    env_clear();

    assert_true(synq_client_url_is_fwp("tcp://h:1"));
    assert_true(synq_client_url_is_fwp("TCP://h"));
    assert_true(synq_client_url_is_fwp("tcp+tls://h"));
    assert_false(synq_client_url_is_fwp("http://h"));
    assert_false(synq_client_url_is_fwp("tcp:/h"));
    assert_false(synq_client_url_is_fwp("127.0.0.1:7419"));
    assert_false(synq_client_url_is_fwp(""));
}

/* ---- a scripted server ---------------------------------------------------------- */

#define CLOSE_NOW ((const char *)1) /* a reply that closes the connection instead */

typedef struct {
    int lfd, port;
    const char *greeting;       /* sent on accept; NULL: say nothing, wait for EOF */
    const char *password;       /* check pwdhash against salt "ab12", 3 rounds */
    const char *const *replies; /* one per command after HELLO, NULL-terminated */
    int conns;                  /* connections to serve */
    pthread_t thread;
    /* what it saw */
    char hello[2048];
    char cmds[4096]; /* "LINE|" each */
    int accepted;
} fake_t;

static bool read_line(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t k = recv(fd, &c, 1, 0);
        if (k <= 0) return false;
        if (c == '\n') break;
        if (n + 1 < cap) out[n++] = c;
    }
    if (n > 0 && out[n - 1] == '\r') n--;
    out[n] = '\0';
    return true;
}

/* One byte per write, so the client sees the reply in pieces. */
static void dribble(int fd, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (send(fd, s + i, 1, MSG_NOSIGNAL) != 1) return;
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    size_t next = 0;
    for (int i = 0; i < f->conns; i++) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) break;
        f->accepted++;
        char line[2048];
        if (f->greeting == NULL) {
            while (read_line(fd, line, sizeof line)) {
            }
            close(fd);
            continue;
        }
        dribble(fd, f->greeting, strlen(f->greeting));
        if (!read_line(fd, line, sizeof line)) {
            close(fd);
            continue;
        }
        snprintf(f->hello, sizeof f->hello, "%s", line);
        if (f->password) {
            char want[65];
            synq_fwp_pwdhash(f->password, "ab12", 3, want);
            json_t *h = json_loads(line + 6, 0, NULL);
            const char *got = json_string_value(json_object_get(h, "pwdhash"));
            bool ok = got && strcmp(got, want) == 0;
            json_decref(h);
            if (!ok) {
                dribble(fd, "-ERR Invalid password\r\n", 23);
                close(fd);
                continue;
            }
        }
        dribble(fd, "+OK\r\n", 5);
        while (read_line(fd, line, sizeof line)) {
            size_t l = strlen(f->cmds);
            snprintf(f->cmds + l, sizeof f->cmds - l, "%s|", line);
            if (strcmp(line, "END") == 0) break;
            const char *r = f->replies ? f->replies[next] : NULL;
            if (r == NULL) break;
            next++;
            if (r == CLOSE_NOW) break;
            dribble(fd, r, strlen(r));
        }
        close(fd);
    }
    return NULL;
}

static void fake_start(fake_t *f)
{
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    socklen_t sl = sizeof a;
    getsockname(f->lfd, (struct sockaddr *)&a, &sl);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_join(fake_t *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

static synq_fwpclient_t *client_for(const char *fmt, int port, const synq_fwpclient_hello_t *who)
{
    char url[128];
    snprintf(url, sizeof url, fmt, port);
    synq_fwpclient_t *c = NULL;
    assert_int_equal(synq_fwpclient_new(url, who, &c), 0);
    assert_non_null(c);
    return c;
}

static void test_conn_commands(void **state)
{
    static const char *const replies[] = {"$2\r\n{}\r\n", "-ERR unknown command NOPE\r\n",
                                          "+OK\r\n", NULL};
    fake_t f = {.greeting = "+HI {\"v\":2}\r\n", .replies = replies, .conns = 1};
    fake_start(&f);
    synq_fwpclient_t *c = client_for("tcp://127.0.0.1:%d", f.port, NULL);
    char shown[64];
    snprintf(shown, sizeof shown, "tcp://127.0.0.1:%d", f.port);
    assert_string_equal(synq_fwpclient_url(c), shown);

    synq_fwpclient_reply_t r;
    assert_int_equal(synq_fwpclient_call(c, "INFO", NULL, 5000, &r), 0);
    assert_int_equal(r.kind, SYNQ_FWPCLIENT_BULK);
    assert_string_equal(r.data, "{}");
    synq_fwpclient_reply_release(&r);
    /* an error reply is a reply: the connection stays */
    assert_int_equal(synq_fwpclient_call(c, "NOPE", "x y", 5000, &r), 0);
    assert_int_equal(r.kind, SYNQ_FWPCLIENT_ERROR);
    assert_string_equal(synq_fwpclient_reply_error_text(&r), "unknown command NOPE");
    synq_fwpclient_reply_release(&r);
    assert_int_equal(synq_fwpclient_call(c, "PUSH", "{\"jid\":\"a b\"}", 5000, &r), 0);
    assert_int_equal(r.kind, SYNQ_FWPCLIENT_SIMPLE);
    assert_string_equal(r.data, "OK");
    synq_fwpclient_reply_release(&r);
    /* a line break would start another command: refused, nothing sent */
    assert_int_equal(synq_fwpclient_call(c, "PUSH", "{}\r\nFLUSH", 5000, &r), SYNQ_EINVAL);
    synq_fwpclient_free(c); /* END */
    fake_join(&f);

    assert_int_equal(f.accepted, 1);
    json_t *h = json_loads(f.hello + 6, 0, NULL);
    assert_true(strncmp(f.hello, "HELLO {", 7) == 0);
    assert_int_equal(json_integer_value(json_object_get(h, "v")), 2);
    assert_true(json_is_string(json_object_get(h, "hostname")));
    assert_int_equal(json_integer_value(json_object_get(h, "pid")), getpid());
    assert_null(json_object_get(h, "wid"));
    assert_null(json_object_get(h, "pwdhash"));
    json_decref(h);
    assert_string_equal(f.cmds, "INFO|NOPE x y|PUSH {\"jid\":\"a b\"}|END|");
}

static void test_conn_password(void **state)
{
    static const char *const replies[] = {"+OK\r\n", NULL};
    static const char *const labels[] = {"synq-work", NULL};
    synq_fwpclient_hello_t who = {.wid = "w1", .labels = labels, .hostname = "h", .pid = 9};
    fake_t f = {.greeting = "+HI {\"v\":2,\"i\":3,\"s\":\"ab12\"}\r\n",
                .password = "s3cr:t@",
                .replies = replies,
                .conns = 3};
    fake_start(&f);
    /* wrong */
    synq_fwpclient_t *c = client_for("tcp://:nope@127.0.0.1:%d", f.port, &who);
    assert_int_equal(synq_fwpclient_connect(c, 5000), -EACCES);
    assert_string_equal(synq_fwpclient_errmsg(c), "Invalid password");
    synq_fwpclient_free(c);
    /* none */
    c = client_for("tcp://127.0.0.1:%d", f.port, &who);
    assert_int_equal(synq_fwpclient_connect(c, 5000), SYNQ_EINVAL);
    assert_non_null(strstr(synq_fwpclient_errmsg(c), "password"));
    synq_fwpclient_free(c);
    /* right, percent-encoded, with an '@' in it */
    c = client_for("tcp://:s3cr%%3At@@127.0.0.1:%d", f.port, &who);
    assert_int_equal(synq_fwpclient_connect(c, 5000), 0);
    assert_int_equal(synq_fwpclient_connect(c, 5000), 0); /* already */
    synq_fwpclient_reply_t r;
    assert_int_equal(synq_fwpclient_call(c, "BEAT", "{\"wid\":\"w1\"}", 5000, &r), 0);
    assert_int_equal(r.kind, SYNQ_FWPCLIENT_SIMPLE);
    synq_fwpclient_reply_release(&r);
    synq_fwpclient_free(c);
    fake_join(&f);
    json_t *h = json_loads(f.hello + 6, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(h, "wid")), "w1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(h, "labels"), 0)),
                        "synq-work");
    assert_int_equal(json_integer_value(json_object_get(h, "pid")), 9);
    json_decref(h);
}

static void test_conn_close_and_reconnect(void **state)
{
    static const char *const replies[] = {CLOSE_NOW, "$-1\r\n", NULL};
    fake_t f = {.greeting = "+HI {\"v\":2}\r\n", .replies = replies, .conns = 2};
    fake_start(&f);
    synq_fwpclient_t *c = client_for("tcp://localhost:%d", f.port, NULL);
    synq_fwpclient_reply_t r;
    assert_int_equal(synq_fwpclient_call(c, "FETCH", "a b", 5000, &r), -ECONNRESET);
    assert_int_equal(r.kind, 0);
    assert_non_null(strstr(synq_fwpclient_errmsg(c), "closed"));
    /* the next call opens a new connection */
    assert_int_equal(synq_fwpclient_call(c, "FETCH", "a b", 5000, &r), 0);
    assert_int_equal(r.kind, SYNQ_FWPCLIENT_NULL);
    synq_fwpclient_reply_release(&r);
    synq_fwpclient_free(c);
    fake_join(&f);
    assert_int_equal(f.accepted, 2);
    assert_string_equal(f.cmds, "FETCH a b|FETCH a b|END|");
}

static void test_conn_not_faktory(void **state)
{
    /* an HTTP server answering something else */
    fake_t f = {.greeting = "HTTP/1.1 400 Bad Request\r\n\r\n", .conns = 1};
    fake_start(&f);
    synq_fwpclient_t *c = client_for("tcp://127.0.0.1:%d", f.port, NULL);
    assert_int_equal(synq_fwpclient_connect(c, 5000), SYNQ_EPROTO);
    assert_non_null(strstr(synq_fwpclient_errmsg(c), "not a Faktory server"));
    synq_fwpclient_free(c);
    fake_join(&f);
    /* a greeting that is an error */
    fake_t g = {.greeting = "-ERR too many connections: 3\r\n", .conns = 1};
    fake_start(&g);
    c = client_for("tcp://127.0.0.1:%d", g.port, NULL);
    assert_int_equal(synq_fwpclient_connect(c, 5000), -EACCES);
    assert_non_null(strstr(synq_fwpclient_errmsg(c), "too many connections"));
    synq_fwpclient_free(c);
    fake_join(&g);
}

static void test_conn_silent_and_refused(void **state)
{
    fake_t f = {.greeting = NULL, .conns = 1};
    fake_start(&f);
    synq_fwpclient_t *c = client_for("tcp://127.0.0.1:%d", f.port, NULL);
    assert_int_equal(synq_fwpclient_connect(c, 200), -ETIMEDOUT);
    assert_non_null(strstr(synq_fwpclient_errmsg(c), "no reply within 200 ms"));
    synq_fwpclient_free(c); /* closes, so the fake sees EOF */
    fake_join(&f);

    /* the port is free again: nothing listens */
    c = client_for("tcp://127.0.0.1:%d", f.port, NULL);
    synq_fwpclient_reply_t r;
    assert_int_equal(synq_fwpclient_call(c, "INFO", NULL, 2000, &r), -ECONNREFUSED);
    char want[128];
    snprintf(want, sizeof want, "cannot reach tcp://127.0.0.1:%d: Connection refused", f.port);
    assert_string_equal(synq_fwpclient_errmsg(c), want);
    synq_fwpclient_free(c);
}

static void test_new_refuses(void **state)
{
    synq_fwpclient_t *c = (synq_fwpclient_t *)1;
    assert_int_equal(synq_fwpclient_new("tcp+tls://h:1", NULL, &c), -EPROTONOSUPPORT);
    assert_null(c);
    assert_int_equal(synq_fwpclient_new("http://h:1", NULL, &c), SYNQ_EINVAL);
    assert_int_equal(synq_fwpclient_new("tcp://h:99999", NULL, &c), SYNQ_EINVAL);
    assert_int_equal(synq_fwpclient_new(NULL, NULL, &c), SYNQ_EINVAL);
    assert_null(c);
    assert_int_equal(synq_fwpclient_new("tcp://[::1]:7419", NULL, &c), 0);
    assert_string_equal(synq_fwpclient_url(c), "tcp://[::1]:7419");
    synq_fwpclient_free(c);
    assert_int_equal(synq_fwpclient_new("tcp://:pw@h", NULL, &c), 0);
    assert_string_equal(synq_fwpclient_url(c), "tcp://h:7419"); /* no password shown */
    synq_fwpclient_free(c);
    synq_fwpclient_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_kinds),
        cmocka_unit_test(test_reply_streams),
        cmocka_unit_test(test_reply_malformed),
        cmocka_unit_test(test_reply_limits),
        cmocka_unit_test(test_reply_error_text),
        cmocka_unit_test(test_hello_producer_and_worker),
        cmocka_unit_test(test_hello_password),
        cmocka_unit_test(test_hello_bad_greetings),
        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_url_pick),
        cmocka_unit_test(test_conn_commands),
        cmocka_unit_test(test_conn_password),
        cmocka_unit_test(test_conn_close_and_reconnect),
        cmocka_unit_test(test_conn_not_faktory),
        cmocka_unit_test(test_conn_silent_and_refused),
        cmocka_unit_test(test_new_refuses),
    };
    return cmocka_run_group_tests_name("fwpclient", tests, NULL, NULL);
}
