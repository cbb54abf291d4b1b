/* Unit tests for core/jwt: the HS256 example of RFC 7515 appendix A.1 (its
 * key, its token, its exp); "alg" other than HS256 (none, HS512, lower
 * case, missing) and "crit" refused even when correctly signed; tampering
 * (every single-character change of a valid token is refused, including a
 * second spelling of the signature's last character); wrong and empty
 * secrets; base64url that is padded, uses the standard alphabet or has
 * stray bits; missing and extra parts; the exp boundary (whole and
 * fractional) and nbf leeway; every claim's types and nulls; duplicate
 * member names; sign -> verify round trips; and the 8 KiB limit from both
 * sides. Tokens with odd headers are built here with OpenSSL directly, so
 * the module is checked against an encoder it does not share. */
#include "core/jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SECRET "s3cr3t-for-tests"
#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

/* ---- helpers ------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) abort();
    return p;
}

/* Base64url without padding of p[0..n), through OpenSSL's standard base64. */
static void b64url(const void *p, size_t n, synq_buf_t *out)
{
    char *tmp = xmalloc(4 * (n / 3 + 1) + 1);
    int m = EVP_EncodeBlock((unsigned char *)tmp, p, (int)n);
    for (int i = 0; i < m; i++) {
        if (tmp[i] == '=') {
            m = i;
            break;
        }
        if (tmp[i] == '+') tmp[i] = '-';
        if (tmp[i] == '/') tmp[i] = '_';
    }
    synq_buf_append(out, tmp, (size_t)m);
    free(tmp);
}

/* Decodes unpadded base64url s into out (room for max); returns the size. */
static size_t unb64url(const char *s, unsigned char *out, size_t max)
{
    size_t n = strlen(s), pad = (4 - n % 4) % 4;
    char *tmp = xmalloc(n + pad + 1);
    for (size_t i = 0; i < n; i++)
        tmp[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    memset(tmp + n, '=', pad);
    unsigned char *dec = xmalloc(n + pad);
    int m = EVP_DecodeBlock(dec, (unsigned char *)tmp, (int)(n + pad));
    assert_true(m >= 0);
    size_t len = (size_t)m - pad;
    assert_true(len <= max);
    memcpy(out, dec, len);
    free(tmp);
    free(dec);
    return len;
}

/* header.payload.signature with any header, signed with secret; returned
 * (free with free()). */
static char *make_token(const char *header, const char *payload, const char *secret)
{
    synq_buf_t b;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    synq_buf_init(&b);
    b64url(header, strlen(header), &b);
    synq_buf_putc(&b, '.');
    b64url(payload, strlen(payload), &b);
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)b.data, b.len,
                         mac, &maclen));
    synq_buf_putc(&b, '.');
    b64url(mac, maclen, &b);
    return synq_buf_steal(&b, NULL);
}

/* Signs claims with synq_jwt_sign and SECRET; returned (free with free()). */
static char *sign(const char *claims)
{
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_jwt_sign(claims, strlen(claims), SECRET, strlen(SECRET), &b), 0);
    return synq_buf_steal(&b, NULL);
}

static int verify_at(const char *token, int64_t now, synq_jwt_t *t, char *err, size_t errlen)
{
    return synq_jwt_verify(token, strlen(token), SECRET, strlen(SECRET), now, t, err, errlen);
}

static bool is_zero(const synq_jwt_t *t)
{
    static const synq_jwt_t zero;
    return memcmp(t, &zero, sizeof zero) == 0;
}

/* Expects token to verify to code, with an error message starting with
 * prefix, and out zeroed. */
static void expect_fail(const char *token, int code, const char *prefix)
{
    synq_jwt_t t;
    char err[200] = "";
    int r = verify_at(token, NOW, &t, err, sizeof err);
    if (r != code) fail_msg("\"%s\": got %d (%s), want %d", token, r, err, code);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\": error \"%s\" does not start with \"%s\"", token, err, prefix);
    assert_true(is_zero(&t));
}

static void expect_claims_fail(const char *claims, int code, const char *prefix)
{
    char *tok = sign(claims);
    expect_fail(tok, code, prefix);
    free(tok);
}

/* Signs claims, verifies them at NOW and returns the claims (release them). */
static synq_jwt_t claims_ok(const char *claims)
{
    synq_jwt_t t;
    char err[200] = "";
    char *tok = sign(claims);
    int r = verify_at(tok, NOW, &t, err, sizeof err);
    if (r != 0) fail_msg("%s: %s", claims, err);
    free(tok);
    return t;
}

/* ---- RFC 7515 appendix A.1 ------------------------------------------------ */

static const char rfc_token[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
                                ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtc"
                                "GxlLmNvbS9pc19yb290Ijp0cnVlfQ"
                                ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
static const char rfc_k[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

static void test_rfc7515_a1(void **state)
{
    (void)state;
    unsigned char key[128];
    size_t keylen = unb64url(rfc_k, key, sizeof key);
    assert_int_equal(keylen, 64);
    synq_jwt_t t;
    char err[200] = "";

    int r = synq_jwt_verify(rfc_token, strlen(rfc_token), (char *)key, keylen, 1300819379, &t, err,
                            sizeof err);
    if (r != 0) fail_msg("%s", err);
    assert_string_equal(t.sub, ""); /* no sub: anonymous */
    assert_true(t.has_exp);
    assert_int_equal(t.exp_s, 1300819380);
    assert_null(t.channel);
    assert_null(t.info);
    assert_null(t.channels);
    assert_int_equal(t.nchannels, 0);
    synq_jwt_release(&t);
    assert_true(is_zero(&t));

    /* expired on and after exp */
    r = synq_jwt_verify(rfc_token, strlen(rfc_token), (char *)key, keylen, 1300819380, &t, err,
                        sizeof err);
    assert_int_equal(r, SYNQ_EEXPIRED);
    assert_string_equal(err, "claim exp: expired at 1300819380");
    assert_true(is_zero(&t));
    assert_int_equal(synq_jwt_verify(rfc_token, strlen(rfc_token), (char *)key, keylen, 1300819381,
                                     &t, err, sizeof err),
                     SYNQ_EEXPIRED);

    /* the same token with a wrong key: invalid, not "expired" */
    key[0] ^= 1;
    r = synq_jwt_verify(rfc_token, strlen(rfc_token), (char *)key, keylen, 1300819380, &t, err,
                        sizeof err);
    assert_int_equal(r, SYNQ_EINVAL);
    assert_string_equal(err, "signature: does not match");
    assert_true(is_zero(&t));
}

/* The signature's last character carries 2 unused bits: "k" and "l" decode
 * to the same bytes in a lenient decoder. Only the canonical one passes. */
static void test_signature_second_spelling(void **state)
{
    (void)state;
    unsigned char key[128];
    size_t keylen = unb64url(rfc_k, key, sizeof key);
    char tok[sizeof rfc_token];
    memcpy(tok, rfc_token, sizeof tok);
    assert_int_equal(tok[sizeof tok - 2], 'k');
    synq_jwt_t t;
    char err[200];
    const char *others = "lmn";
    for (const char *c = others; *c; c++) {
        tok[sizeof tok - 2] = *c;
        assert_int_equal(
            synq_jwt_verify(tok, strlen(tok), (char *)key, keylen, 1300819379, &t, err, sizeof err),
            SYNQ_EINVAL);
        assert_string_equal(err, "signature: not 32 bytes of base64url");
    }
}

/* ---- algorithms and headers ----------------------------------------------- */

static void test_alg(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"alg\":\"none\"}",
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS384\"}",
        "{\"alg\":\"RS256\"}",
        "{\"alg\":\"hs256\"}",
        "{\"alg\":\"HS256 \"}",
        "{\"alg\":\"HS2560\"}",
        "{\"alg\":null}",
        "{\"alg\":256}",
        "{\"alg\":[\"HS256\"]}",
        "{\"typ\":\"JWT\"}",
        "{}",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char *tok = make_token(bad[i], "{\"sub\":\"u\"}", SECRET);
        expect_fail(tok, SYNQ_EINVAL, "header: alg must be \"HS256\"");
        free(tok);
    }
    /* alg none the classic way: no signature at all */
    expect_fail("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.", SYNQ_EINVAL, "signature:");

    static const char *const not_objects[] = {"[\"HS256\"]", "\"HS256\"", "{\"alg\":\"HS256\"",
                                              "{\"alg\":\"HS256\",\"alg\":\"HS256\"}"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(not_objects); i++) {
        char *tok = make_token(not_objects[i], "{\"sub\":\"u\"}", SECRET);
        expect_fail(tok, SYNQ_EINVAL, "header: not a JSON object");
        free(tok);
    }

    char *tok = make_token("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
                           "{\"sub\":\"u\"}", SECRET);
    expect_fail(tok, SYNQ_EINVAL, "header: crit");
    free(tok);

    /* typ is optional and not checked; other members are ignored */
    static const char *const good[] = {"{\"alg\":\"HS256\"}", "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
                                       "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}",
                                       " {\"alg\" : \"HS256\"}\r\n"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(good); i++) {
        synq_jwt_t t;
        char err[200] = "";
        tok = make_token(good[i], "{\"sub\":\"u\"}", SECRET);
        if (verify_at(tok, NOW, &t, err, sizeof err) != 0) fail_msg("%s: %s", good[i], err);
        assert_string_equal(t.sub, "u");
        synq_jwt_release(&t);
        free(tok);
    }
}

/* ---- signatures and secrets ------------------------------------------------ */

static void test_tampering(void **state)
{
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *tok = sign("{\"sub\":\"alice\",\"channel\":\"chat:1\",\"exp\":1999999999}");
    char *other = sign("{\"sub\":\"mallory\",\"channel\":\"chat:1\",\"exp\":1999999999}");
    synq_jwt_t t;
    char err[200];

    /* another token's payload under this token's signature */
    const char *p1 = strchr(tok, '.'), *p2 = strchr(p1 + 1, '.');
    const char *o1 = strchr(other, '.'), *o2 = strchr(o1 + 1, '.');
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, tok, (size_t)(p1 - tok) + 1);
    synq_buf_append(&b, o1 + 1, (size_t)(o2 - o1 - 1));
    synq_buf_puts(&b, p2);
    expect_fail(b.data, SYNQ_EINVAL, "signature: does not match");

    /* every single-character change, to a character of the alphabet */
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.') continue;
        char save = tok[i];
        for (size_t k = 0; k < sizeof alphabet - 1; k += 7) {
            if (alphabet[k] == save) continue;
            tok[i] = alphabet[k];
            int r = verify_at(tok, NOW, &t, err, sizeof err);
            if (r == 0) fail_msg("changed at %zu to %c: accepted", i, alphabet[k]);
            assert_true(is_zero(&t));
        }
        tok[i] = save;
    }
    /* and still good when restored */
    assert_int_equal(verify_at(tok, NOW, &t, err, sizeof err), 0);
    synq_jwt_release(&t);

    /* a truncated signature, an extra character */
    synq_buf_release(&b);
    synq_buf_init(&b);
    synq_buf_append(&b, tok, n - 1);
    expect_fail(b.data, SYNQ_EINVAL, "signature: not 32 bytes");
    synq_buf_append(&b, tok + n - 1, 1);
    synq_buf_putc(&b, 'A');
    expect_fail(b.data, SYNQ_EINVAL, "signature: not 32 bytes");

    synq_buf_release(&b);
    free(tok);
    free(other);
}

static void test_secrets(void **state)
{
    (void)state;
    synq_jwt_t t;
    char err[200];
    char *tok = sign("{\"sub\":\"u\"}");
    size_t n = strlen(tok);

    assert_int_equal(synq_jwt_verify(tok, n, "s3cr3t-for-test", 15, NOW, &t, err, sizeof err),
                     SYNQ_EINVAL);
    assert_string_equal(err, "signature: does not match");
    assert_int_equal(
        synq_jwt_verify(tok, n, SECRET "x", strlen(SECRET) + 1, NOW, &t, err, sizeof err),
        SYNQ_EINVAL);
    assert_int_equal(synq_jwt_verify(tok, n, "", 0, NOW, &t, err, sizeof err), SYNQ_EINVAL);
    assert_string_equal(err, "token: no secret to verify it with");
    assert_int_equal(synq_jwt_verify(tok, n, NULL, 0, NOW, &t, err, sizeof err), SYNQ_EINVAL);
    free(tok);

    /* secrets are bytes: a NUL inside counts */
    static const char bin[] = {'a', '\0', 'b'}, bin2[] = {'a', '\0', 'c'};
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_jwt_sign("{}", 2, bin, sizeof bin, &b), 0);
    assert_int_equal(synq_jwt_verify(b.data, b.len, bin, sizeof bin, NOW, &t, err, sizeof err), 0);
    synq_jwt_release(&t);
    assert_int_equal(synq_jwt_verify(b.data, b.len, bin2, sizeof bin2, NOW, &t, err, sizeof err),
                     SYNQ_EINVAL);
    assert_int_equal(synq_jwt_verify(b.data, b.len, bin, 1, NOW, &t, err, sizeof err), SYNQ_EINVAL);
    /* signing refuses an empty secret and leaves out alone */
    size_t before = b.len;
    assert_int_equal(synq_jwt_sign("{}", 2, "", 0, &b), SYNQ_EINVAL);
    assert_int_equal(synq_jwt_sign("{}", 2, NULL, 0, &b), SYNQ_EINVAL);
    assert_int_equal(b.len, before);
    synq_buf_release(&b);
}

/* ---- encoding and structure ----------------------------------------------- */

/* Replaces part i (0..2) of a valid token with text. */
static char *with_part(const char *tok, int i, const char *text)
{
    synq_buf_t b;
    synq_buf_init(&b);
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    const char *start[3] = {tok, d1 + 1, d2 + 1};
    const char *end[3] = {d1, d2, tok + strlen(tok)};
    for (int k = 0; k < 3; k++) {
        if (k) synq_buf_putc(&b, '.');
        if (k == i)
            synq_buf_puts(&b, text);
        else
            synq_buf_append(&b, start[k], (size_t)(end[k] - start[k]));
    }
    return synq_buf_steal(&b, NULL);
}

static void test_bad_base64(void **state)
{
    (void)state;
    /* {"sub":"u"} is 11 bytes: its standard encoding ends in one '=' */
    char *tok = sign("{\"sub\":\"u\"}");
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    size_t plen = (size_t)(d2 - d1 - 1);
    assert_int_equal(plen % 4, 3); /* 11 bytes: 15 characters, 1 would-be "=" */
    char payload[64];
    memcpy(payload, d1 + 1, plen);
    payload[plen] = '\0';

    /* padding is not part of JWS base64url */
    char padded[70];
    snprintf(padded, sizeof padded, "%s=", payload);
    char *t1 = with_part(tok, 1, padded);
    expect_fail(t1, SYNQ_EINVAL, "payload: empty or not base64url");
    free(t1);
    size_t toklen = strlen(tok);
    char *sigpad = xmalloc(toklen + 2);
    memcpy(sigpad, tok, toklen);
    memcpy(sigpad + toklen, "=", 2);
    expect_fail(sigpad, SYNQ_EINVAL, "signature: not 32 bytes of base64url");
    free(sigpad);

    /* characters outside the url alphabet, whitespace, NUL */
    static const char bad_chars[] = {'+', '/', '=', ' ', '\n', '*', '\0', '\x80'};
    for (size_t i = 0; i < sizeof bad_chars; i++) {
        for (int part = 0; part < 3; part++) {
            char *c = synq_strdup(tok);
            char *p = part == 0 ? c + 3 : part == 1 ? strchr(c, '.') + 3 : strrchr(c, '.') + 3;
            *p = bad_chars[i];
            synq_jwt_t t;
            char err[200];
            size_t n = strlen(tok); /* the NUL case: the length says where it ends */
            int r = synq_jwt_verify(c, n, SECRET, strlen(SECRET), NOW, &t, err, sizeof err);
            assert_int_equal(r, SYNQ_EINVAL);
            const char *want = part == 0 ? "header:" : part == 1 ? "payload:" : "signature:";
            if (strncmp(err, want, strlen(want)) != 0) fail_msg("part %d: %s", part, err);
            free(c);
        }
    }

    /* a length of 4k+1 */
    char buf[80];
    snprintf(buf, sizeof buf, "%sAA", payload);
    t1 = with_part(tok, 1, buf);
    expect_fail(t1, SYNQ_EINVAL, "payload: empty or not base64url");
    free(t1);

    /* stray bits in the last character of the payload (3 chars left over:
     * the last carries 2 unused bits) */
    strcpy(buf, payload);
    char *last = buf + plen - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alpha, *last) - alpha);
    assert_int_equal(v & 3, 0);
    *last = alpha[v | 1];
    t1 = with_part(tok, 1, buf);
    expect_fail(t1, SYNQ_EINVAL, "payload: empty or not base64url");
    free(t1);

    free(tok);
}

static void test_parts(void **state)
{
    (void)state;
    char *tok = sign("{\"sub\":\"u\"}");
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char two[200], four[300];
    snprintf(two, sizeof two, "%.*s", (int)(d2 - tok), tok);
    snprintf(four, sizeof four, "%s.%s", tok, d2 + 1);

    expect_fail("", SYNQ_EINVAL, "token: empty");
    expect_fail("abc", SYNQ_EINVAL, "token: not three parts");
    expect_fail(two, SYNQ_EINVAL, "token: not three parts");
    expect_fail(four, SYNQ_EINVAL, "token: not three parts");
    char extra[300];
    snprintf(extra, sizeof extra, "%s.", tok);
    expect_fail(extra, SYNQ_EINVAL, "token: not three parts");
    expect_fail("..", SYNQ_EINVAL, "header: empty");
    expect_fail("...", SYNQ_EINVAL, "token: not three parts");

    char *t1 = with_part(tok, 0, "");
    expect_fail(t1, SYNQ_EINVAL, "header: empty");
    free(t1);
    t1 = with_part(tok, 1, "");
    expect_fail(t1, SYNQ_EINVAL, "payload: empty");
    free(t1);
    t1 = with_part(tok, 2, "");
    expect_fail(t1, SYNQ_EINVAL, "signature: not 32 bytes");
    free(t1);

    /* a token inside a larger buffer: only len bytes are read */
    synq_jwt_t t;
    char err[200];
    size_t toklen = strlen(tok);
    char *padded = xmalloc(toklen + 16);
    memcpy(padded, tok, toklen);
    memcpy(padded + toklen, ".junk.more", 11);
    assert_int_equal(
        synq_jwt_verify(padded, toklen, SECRET, strlen(SECRET), NOW, &t, err, sizeof err), 0);
    synq_jwt_release(&t);
    /* and an exact-size heap copy without a NUL (ASan catches an overread) */
    char *exact = xmalloc(toklen);
    memcpy(exact, tok, toklen);
    assert_int_equal(
        synq_jwt_verify(exact, toklen, SECRET, strlen(SECRET), NOW, &t, err, sizeof err), 0);
    synq_jwt_release(&t);
    free(exact);
    free(padded);

    /* err may be NULL with no room, or small: truncated, terminated */
    assert_int_equal(synq_jwt_verify("a.b", 3, SECRET, strlen(SECRET), NOW, &t, NULL, 0),
                     SYNQ_EINVAL);
    char small[6];
    assert_int_equal(
        synq_jwt_verify("a.b", 3, SECRET, strlen(SECRET), NOW, &t, small, sizeof small),
        SYNQ_EINVAL);
    assert_string_equal(small, "token");
    free(tok);
}

/* ---- claims ---------------------------------------------------------------- */

static void test_exp_boundary(void **state)
{
    (void)state;
    synq_jwt_t t;
    char err[200];
    char *tok = sign("{\"sub\":\"u\",\"exp\":1000}");
    assert_int_equal(verify_at(tok, 999, &t, err, sizeof err), 0);
    assert_true(t.has_exp);
    assert_int_equal(t.exp_s, 1000);
    synq_jwt_release(&t);
    assert_int_equal(verify_at(tok, 1000, &t, err, sizeof err), SYNQ_EEXPIRED);
    assert_true(is_zero(&t));
    assert_int_equal(verify_at(tok, 1001, &t, err, sizeof err), SYNQ_EEXPIRED);
    assert_int_equal(verify_at(tok, INT64_MAX, &t, err, sizeof err), SYNQ_EEXPIRED);
    assert_int_equal(verify_at(tok, INT64_MIN, &t, err, sizeof err), 0);
    synq_jwt_release(&t);
    free(tok);

    /* fractional: valid through second 1000, expired from 1001 */
    tok = sign("{\"exp\":1000.5}");
    assert_int_equal(verify_at(tok, 1000, &t, err, sizeof err), 0);
    assert_int_equal(t.exp_s, 1001);
    synq_jwt_release(&t);
    assert_int_equal(verify_at(tok, 1001, &t, err, sizeof err), SYNQ_EEXPIRED);
    free(tok);

    /* exp 0 and negative are times like any other: long past */
    expect_claims_fail("{\"exp\":0}", SYNQ_EEXPIRED, "claim exp: expired at 0");
    expect_claims_fail("{\"exp\":-5}", SYNQ_EEXPIRED, "claim exp: expired at -5");
    expect_claims_fail("{\"exp\":-0.5}", SYNQ_EEXPIRED, "claim exp: expired at 0");

    /* no exp: no expiry */
    t = claims_ok("{\"sub\":\"u\"}");
    assert_false(t.has_exp);
    assert_int_equal(t.exp_s, 0);
    synq_jwt_release(&t);

    /* wrong types and ranges */
    expect_claims_fail("{\"exp\":\"1999999999\"}", SYNQ_EINVAL, "claim exp: not a number");
    expect_claims_fail("{\"exp\":null}", SYNQ_EINVAL, "claim exp: not a number");
    expect_claims_fail("{\"exp\":true}", SYNQ_EINVAL, "claim exp: not a number");
    expect_claims_fail("{\"exp\":9007199254740993}", SYNQ_EINVAL, "claim exp: not a number");
    expect_claims_fail("{\"exp\":1e300}", SYNQ_EINVAL, "claim exp: not a number");
    expect_claims_fail("{\"exp\":-1e300}", SYNQ_EINVAL, "claim exp: not a number");
    t = claims_ok("{\"exp\":9007199254740992}");
    assert_int_equal(t.exp_s, 9007199254740992LL);
    synq_jwt_release(&t);

    /* an expired token that is also malformed elsewhere: the other error */
    expect_claims_fail("{\"exp\":5,\"sub\":7}", SYNQ_EINVAL, "claim sub");
}

static void test_nbf_iat(void **state)
{
    (void)state;
    char claims[128];
    synq_jwt_t t;
    snprintf(claims, sizeof claims, "{\"nbf\":%d}", NOW + SYNQ_JWT_NBF_LEEWAY_S);
    t = claims_ok(claims);
    synq_jwt_release(&t);
    snprintf(claims, sizeof claims, "{\"nbf\":%d}", NOW + SYNQ_JWT_NBF_LEEWAY_S + 1);
    expect_claims_fail(claims, SYNQ_EINVAL, "claim nbf: not valid before");
    snprintf(claims, sizeof claims, "{\"nbf\":%d.5}", NOW + SYNQ_JWT_NBF_LEEWAY_S);
    expect_claims_fail(claims, SYNQ_EINVAL, "claim nbf: not valid before");
    snprintf(claims, sizeof claims, "{\"nbf\":%d.5}", NOW + SYNQ_JWT_NBF_LEEWAY_S - 1);
    t = claims_ok(claims);
    synq_jwt_release(&t);
    t = claims_ok("{\"nbf\":0}");
    synq_jwt_release(&t);
    t = claims_ok("{\"nbf\":-9007199254740992}");
    synq_jwt_release(&t);
    expect_claims_fail("{\"nbf\":\"0\"}", SYNQ_EINVAL, "claim nbf: not a number");
    expect_claims_fail("{\"nbf\":null}", SYNQ_EINVAL, "claim nbf: not a number");
    expect_claims_fail("{\"nbf\":1e20}", SYNQ_EINVAL, "claim nbf: not a number");

    /* iat is ignored, whatever it holds */
    t = claims_ok("{\"iat\":99999999999,\"sub\":\"u\"}");
    synq_jwt_release(&t);
    t = claims_ok("{\"iat\":\"yesterday\"}");
    synq_jwt_release(&t);
}

static void test_claims(void **state)
{
    (void)state;
    synq_jwt_t t = claims_ok("{\"sub\":\"alice\",\"channel\":\"chat:room-1\","
                             "\"info\": {\"name\" : \"Alice\", \"tags\": [1, 2.5, null]},"
                             "\"channels\":[\"news\",\"chat:lobby\"],\"exp\":1999999999,"
                             "\"aud\":\"x\",\"iss\":\"y\",\"jti\":\"z\",\"extra\":{\"a\":1}}");
    assert_string_equal(t.sub, "alice");
    assert_string_equal(t.channel, "chat:room-1");
    assert_string_equal(t.info, "{\"name\":\"Alice\",\"tags\":[1,2.5,null]}");
    assert_int_equal(t.nchannels, 2);
    assert_string_equal(t.channels[0], "news");
    assert_string_equal(t.channels[1], "chat:lobby");
    assert_true(t.has_exp);
    assert_int_equal(t.exp_s, 1999999999);
    synq_jwt_release(&t);
    assert_true(is_zero(&t));
    synq_jwt_release(&t); /* idempotent */

    /* anonymous: sub empty, missing or null */
    static const char *const anon[] = {"{}", "{\"sub\":\"\"}", "{\"sub\":null}"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(anon); i++) {
        t = claims_ok(anon[i]);
        assert_non_null(t.sub);
        assert_string_equal(t.sub, "");
        assert_null(t.channel);
        assert_null(t.info);
        assert_null(t.channels);
        synq_jwt_release(&t);
    }

    /* info: any JSON value, as compact text; null is absent */
    static const struct {
        const char *claims, *info;
    } infos[] = {
        {"{\"info\":\"text\"}", "\"text\""},
        {"{\"info\":42}", "42"},
        {"{\"info\":[ ]}", "[]"},
        {"{\"info\":false}", "false"},
        {"{\"info\":\"caf\\u00e9 \\\"q\\\"\"}", "\"caf\xc3\xa9 \\\"q\\\"\""},
        {"{\"info\":null}", NULL},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(infos); i++) {
        t = claims_ok(infos[i].claims);
        if (infos[i].info == NULL)
            assert_null(t.info);
        else
            assert_string_equal(t.info, infos[i].info);
        synq_jwt_release(&t);
    }

    /* channels: empty and null are absent */
    t = claims_ok("{\"channels\":[]}");
    assert_null(t.channels);
    assert_int_equal(t.nchannels, 0);
    synq_jwt_release(&t);
    t = claims_ok("{\"channels\":null,\"channel\":null}");
    assert_null(t.channels);
    assert_null(t.channel);
    synq_jwt_release(&t);

    /* wrong types */
    expect_claims_fail("{\"sub\":42}", SYNQ_EINVAL, "claim sub: not a string");
    expect_claims_fail("{\"sub\":[\"a\"]}", SYNQ_EINVAL, "claim sub: not a string");
    expect_claims_fail("{\"channel\":{}}", SYNQ_EINVAL, "claim channel: not a string");
    expect_claims_fail("{\"channels\":\"news\"}", SYNQ_EINVAL, "claim channels: not an array");
    expect_claims_fail("{\"channels\":[\"a\",1]}", SYNQ_EINVAL,
                       "claim channels: element 1 is not a string");
    expect_claims_fail("{\"channels\":[null]}", SYNQ_EINVAL,
                       "claim channels: element 0 is not a string");

    /* not a JSON object, or an ambiguous one */
    static const char *const bad[] = {
        "[]",
        "\"sub\"",
        "42",
        "null",
        "",
        "{",
        "{\"sub\":\"a\"} x",
        "{\"sub\":\"a\",\"sub\":\"b\"}", /* which one? */
        "{\"sub\":\"a\\u0000b\"}",       /* would be cut at the NUL */
        "{\"sub\":\"\xff\"}",            /* not UTF-8 */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        if (bad[i][0] == '\0') {
            /* an empty payload encodes to nothing */
            expect_claims_fail(bad[i], SYNQ_EINVAL, "payload: empty");
            continue;
        }
        expect_claims_fail(bad[i], SYNQ_EINVAL, "payload: not a JSON object");
    }
}

/* ---- round trips and limits ----------------------------------------------- */

static void test_sign_round_trip(void **state)
{
    (void)state;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "prefix:");
    const char *claims = "{\"sub\":\"bob\",\"info\":{\"k\":\"v\"},\"exp\":1767225601}";
    assert_int_equal(synq_jwt_sign(claims, strlen(claims), SECRET, strlen(SECRET), &b), 0);
    /* appended, header as documented */
    assert_memory_equal(b.data, "prefix:", 7);
    const char *tok = b.data + 7;
    assert_memory_equal(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37);
    /* the same bytes an independent encoder gives */
    char *ref = make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, SECRET);
    assert_string_equal(tok, ref);
    free(ref);

    synq_jwt_t t;
    char err[200];
    assert_int_equal(verify_at(tok, NOW, &t, err, sizeof err), 0);
    assert_string_equal(t.sub, "bob");
    assert_string_equal(t.info, "{\"k\":\"v\"}");
    assert_int_equal(t.exp_s, 1767225601);
    synq_jwt_release(&t);
    assert_int_equal(verify_at(tok, NOW + 1, &t, err, sizeof err), SYNQ_EEXPIRED);
    synq_buf_release(&b);

    /* every payload length modulo 3, and bytes that encode to '-' and '_' */
    for (int n = 0; n < 40; n++) {
        char c[128];
        snprintf(c, sizeof c, "{\"sub\":\"%.*s\",\"x\":\"\xef\xbf\xbf>?\"}", n,
                 "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~");
        t = claims_ok(c);
        assert_int_equal(strlen(t.sub), (size_t)n);
        synq_jwt_release(&t);
    }
}

static void test_size_limit(void **state)
{
    (void)state;
    synq_jwt_t t;
    char err[200];
    /* A token of exactly SYNQ_JWT_MAX_BYTES: header 36 + 2 dots + signature
     * 43 leave 8111 characters of payload, i.e. 6083 bytes of claims. */
    const size_t claims_len = 6083;
    char *claims = xmalloc(claims_len + 1);
    const char *head = "{\"sub\":\"big\",\"pad\":\"";
    size_t hl = strlen(head);
    memcpy(claims, head, hl);
    memset(claims + hl, 'x', claims_len - hl - 2);
    memcpy(claims + claims_len - 2, "\"}", 3);
    assert_int_equal(strlen(claims), claims_len);

    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_jwt_sign(claims, claims_len, SECRET, strlen(SECRET), &b), 0);
    assert_int_equal(b.len, SYNQ_JWT_MAX_BYTES);
    assert_int_equal(
        synq_jwt_verify(b.data, b.len, SECRET, strlen(SECRET), NOW, &t, err, sizeof err), 0);
    assert_string_equal(t.sub, "big");
    synq_jwt_release(&t);

    /* one byte more: refused on length alone, before anything is decoded */
    synq_buf_putc(&b, 'A');
    assert_int_equal(
        synq_jwt_verify(b.data, b.len, SECRET, strlen(SECRET), NOW, &t, err, sizeof err),
        SYNQ_ETOOBIG);
    assert_string_equal(err, "token: longer than 8192 bytes");
    assert_true(is_zero(&t));
    assert_int_equal(
        synq_jwt_verify(b.data, SIZE_MAX, SECRET, strlen(SECRET), NOW, &t, err, sizeof err),
        SYNQ_ETOOBIG);

    /* signing: one claims byte more does not fit; out unchanged */
    synq_buf_t o;
    synq_buf_init(&o);
    synq_buf_puts(&o, "keep");
    char *more = xmalloc(claims_len + 2);
    memcpy(more, claims, claims_len - 2);
    memcpy(more + claims_len - 2, "x\"}", 4);
    assert_int_equal(synq_jwt_sign(more, claims_len + 1, SECRET, strlen(SECRET), &o), SYNQ_ETOOBIG);
    assert_int_equal(synq_jwt_sign(more, SIZE_MAX, SECRET, strlen(SECRET), &o), SYNQ_ETOOBIG);
    assert_string_equal(o.data, "keep");
    synq_buf_release(&o);

    free(more);
    free(claims);
    synq_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a1),
        cmocka_unit_test(test_signature_second_spelling),
        cmocka_unit_test(test_alg),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_exp_boundary),
        cmocka_unit_test(test_nbf_iat),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_sign_round_trip),
        cmocka_unit_test(test_size_limit),
    };
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
