/* Unit tests for core/webhook: Standard Webhooks signatures against the
 * spec's published vectors (and two more checked with standardwebhooks@1.1.1
 * and openssl), key rotation, secret decoding, the retry schedule with its
 * jitter, and engine/callback's pure schedule parser. */
#include "core/webhook.h"
#include "engine/callback.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* Signs body with the given secrets and checks the header value. */
static void check_sign(const char *const *secrets, size_t n, const char *id, int64_t ts,
                       const char *body, const char *want)
{
    synq_buf_t out;
    synq_buf_init(&out);
    assert_int_equal(synq_webhook_sign(secrets, n, id, ts, body, strlen(body), &out), 0);
    assert_non_null(out.data);
    assert_string_equal(out.data, want);
    synq_buf_release(&out);
}

static void test_spec_vector(void **state)
{
    const char *s[] = {SECRET};
    check_sign(s, 1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}",
               "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_more_vectors(void **state)
{
    const char *s[] = {SECRET};
    check_sign(s, 1, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1674087231,
               "{\"type\":\"contact.created\",\"timestamp\":\"2022-11-03T20:26:10.344522Z\","
               "\"data\":{\"id\":\"1f81eb52-5198-4599-803e-771906343485\"}}",
               "v1,ARw42xaAApl/nxRo+iPGYwSaMQaOwMo2eyH5JBRA+bQ=");
    check_sign(s, 1, "msg_empty", 1700000000, "",
               "v1,LrOGikvEp3ovC4ipwU5sfXzzFy9SMN1tDL3jPPGtLmc=");
    /* body NULL with len 0 is the empty body */
    synq_buf_t out;
    synq_buf_init(&out);
    assert_int_equal(synq_webhook_sign(s, 1, "msg_empty", 1700000000, NULL, 0, &out), 0);
    assert_string_equal(out.data, "v1,LrOGikvEp3ovC4ipwU5sfXzzFy9SMN1tDL3jPPGtLmc=");
    synq_buf_release(&out);
}

static void test_body_bytes_matter(void **state)
{
    /* the exact bytes are signed: re-serialised JSON gives another signature */
    const char *s[] = {SECRET};
    synq_buf_t a, b;
    synq_buf_init(&a);
    synq_buf_init(&b);
    assert_int_equal(synq_webhook_sign(s, 1, "m", 1, "{\"test\": 1}", 11, &a), 0);
    assert_int_equal(synq_webhook_sign(s, 1, "m", 1, "{\"test\":1}", 10, &b), 0);
    assert_string_not_equal(a.data, b.data);
    /* and so are the id and the timestamp */
    b.len = 0;
    assert_int_equal(synq_webhook_sign(s, 1, "m", 2, "{\"test\": 1}", 11, &b), 0);
    assert_string_not_equal(a.data, b.data);
    b.len = 0;
    assert_int_equal(synq_webhook_sign(s, 1, "n", 1, "{\"test\": 1}", 11, &b), 0);
    assert_string_not_equal(a.data, b.data);
    synq_buf_release(&a);
    synq_buf_release(&b);
}

static void test_two_secrets(void **state)
{
    /* rotation: one signature per secret, space-separated, in order */
    const char *other = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; /* bytes 0..31 */
    const char *id = "msg_p5jXN8AQM9LWM0D4loKWxJek", *body = "{\"test\": 2432232314}";
    const char *one[] = {other};
    synq_buf_t want;
    synq_buf_init(&want);
    assert_int_equal(synq_webhook_sign(one, 1, id, 1614265330, body, strlen(body), &want), 0);
    assert_int_equal(strncmp(want.data, "v1,", 3), 0);
    /* computed independently (Python hmac + base64) */
    assert_string_equal(want.data, "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=");
    char both_want[200];
    snprintf(both_want, sizeof both_want, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= %s",
             want.data);
    const char *two[] = {SECRET, other};
    check_sign(two, 2, id, 1614265330, body, both_want);
    /* appends to what out holds already */
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_puts(&out, "x=");
    assert_int_equal(synq_webhook_sign(two, 2, id, 1614265330, body, strlen(body), &out), 0);
    assert_int_equal(strncmp(out.data, "x=v1,g0hM", 9), 0);
    assert_string_equal(out.data + 2, both_want);
    synq_buf_release(&out);
    synq_buf_release(&want);
}

static void test_no_secrets(void **state)
{
    synq_buf_t out;
    synq_buf_init(&out);
    assert_int_equal(synq_webhook_sign(NULL, 0, "m", 1, "{}", 2, &out), 0);
    assert_int_equal(out.len, 0);
    synq_buf_release(&out);
}

static void test_sign_errors(void **state)
{
    const char *bad[] = {SECRET, "whsec_!!!!"};
    const char *good[] = {SECRET};
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_puts(&out, "keep");
    /* a bad second secret: error and nothing appended */
    assert_int_equal(synq_webhook_sign(bad, 2, "m", 1, "{}", 2, &out), SYNQ_EINVAL);
    assert_string_equal(out.data, "keep");
    /* ids with '.' would make the signed content ambiguous */
    assert_int_equal(synq_webhook_sign(good, 1, "a.b", 1, "{}", 2, &out), SYNQ_EINVAL);
    assert_int_equal(synq_webhook_sign(good, 1, "", 1, "{}", 2, &out), SYNQ_EINVAL);
    assert_int_equal(synq_webhook_sign(good, 1, NULL, 1, "{}", 2, &out), SYNQ_EINVAL);
    assert_string_equal(out.data, "keep");
    synq_buf_release(&out);
}

static void test_secret_decode(void **state)
{
    unsigned char key[SYNQ_WEBHOOK_KEY_MAX];
    size_t n = 0;
    assert_int_equal(synq_webhook_secret_decode(SECRET, key, &n), 0);
    assert_int_equal(n, 24);
    assert_int_equal(key[0], 0x31); /* "MfKQ" = 31 f2 90 */
    assert_int_equal(key[1], 0xf2);
    assert_int_equal(key[2], 0x90);
    /* padded and unpadded forms of bytes 0..31 */
    assert_int_equal(
        synq_webhook_secret_decode("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key, &n),
        0);
    assert_int_equal(n, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], i);
    assert_int_equal(
        synq_webhook_secret_decode("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", key, &n),
        0);
    assert_int_equal(n, 32);
    assert_int_equal(key[31], 31);
    /* 25 bytes: two padding characters */
    assert_int_equal(
        synq_webhook_secret_decode("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGA==", key, &n), 0);
    assert_int_equal(n, 25);
    assert_int_equal(key[24], 24);
    /* 64 bytes is the most */
    char s64[6 + 88 + 1] = "whsec_";
    memset(s64 + 6, 'A', 86);
    strcpy(s64 + 92, "==");
    assert_int_equal(synq_webhook_secret_decode(s64, key, &n), 0);
    assert_int_equal(n, 64);
}

static void test_secret_decode_bad(void **state)
{
    unsigned char key[SYNQ_WEBHOOK_KEY_MAX];
    size_t n = 12345;
    static const char *const bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        /* no prefix */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* prefix is case-sensitive */
        "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   /* asymmetric key prefix */
        "whsec_",                                  /* empty */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w",  /* not base64 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-aSw",  /* base64url, not standard */
        "whsec_MfKQ9r8GKYqrTwjUPD8I LPZIo2LaLaSw", /* space */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* 31 chars: a stray sextet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", /* padding that does not fit */
        "whsec_MfKQ=9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* padding in the middle */
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRY=",  /* 23 bytes: too short */
        "whsec_AAECAwQFBgcICQoLDA0ODw==",          /* 16 bytes */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        if (synq_webhook_secret_decode(bad[i], key, &n) != SYNQ_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
    assert_int_equal(synq_webhook_secret_decode(NULL, key, &n), SYNQ_EINVAL);
    /* 65 bytes: too long */
    char s65[6 + 88 + 1] = "whsec_";
    memset(s65 + 6, 'A', 88);
    s65[94] = 0;
    strcpy(s65 + 92, "AA"); /* 88 chars, no padding: 66 bytes */
    assert_int_equal(synq_webhook_secret_decode(s65, key, &n), SYNQ_EINVAL);
    strcpy(s65 + 92, "A="); /* 65 bytes */
    assert_int_equal(synq_webhook_secret_decode(s65, key, &n), SYNQ_EINVAL);
    assert_int_equal(n, 12345); /* untouched on error */
}

static const int64_t svix[] = {5000000LL,     300000000LL,   1800000000LL, 7200000000LL,
                               18000000000LL, 36000000000LL, 36000000000LL};

static void test_retry_bounds(void **state)
{
    size_t n = SYNQ_ARRAY_LEN(svix);
    assert_int_equal(synq_webhook_retry_delay_us(svix, n, 0, 7), 0);
    assert_int_equal(synq_webhook_retry_delay_us(svix, n, -3, 7), 0);
    for (int a = 1; a <= (int)n; a++) {
        int64_t d = synq_webhook_retry_delay_us(svix, n, a, 0x9e3779b97f4a7c15ULL * (uint64_t)a);
        assert_true(d >= svix[a - 1] - svix[a - 1] / 10);
        assert_true(d <= svix[a - 1] + svix[a - 1] / 10);
    }
    assert_int_equal(synq_webhook_retry_delay_us(svix, n, (int)n + 1, 7), -1);
    assert_int_equal(synq_webhook_retry_delay_us(svix, n, 1000, 7), -1);
    /* an empty schedule: no retry at all */
    assert_int_equal(synq_webhook_retry_delay_us(NULL, 0, 1, 7), -1);
    /* zero and tiny delays stay >= 0 */
    static const int64_t tiny[] = {0, 5, 9};
    assert_int_equal(synq_webhook_retry_delay_us(tiny, 3, 1, 12345), 0);
    assert_int_equal(synq_webhook_retry_delay_us(tiny, 3, 2, 12345), 5);
    assert_int_equal(synq_webhook_retry_delay_us(tiny, 3, 3, UINT64_MAX), 9);
}

static void test_retry_jitter(void **state)
{
    /* 1 s: the jitter is uniform over [0.9 s, 1.1 s] and reaches both ends */
    static const int64_t one[] = {1000000};
    assert_int_equal(synq_webhook_retry_delay_us(one, 1, 1, 0), 900000);
    assert_int_equal(synq_webhook_retry_delay_us(one, 1, 1, 200000), 1100000);
    assert_int_equal(synq_webhook_retry_delay_us(one, 1, 1, 100000), 1000000);
    int64_t lo = INT64_MAX, hi = 0;
    uint64_t x = 88172645463325252ULL;
    int below = 0;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t d = synq_webhook_retry_delay_us(one, 1, 1, x);
        assert_true(d >= 900000 && d <= 1100000);
        lo = SYNQ_MIN(lo, d);
        hi = SYNQ_MAX(hi, d);
        below += d < 1000000;
    }
    assert_true(lo < 905000 && hi > 1095000); /* spread over the whole range */
    assert_true(below > 9000 && below < 11000);
    /* the largest values do not overflow */
    static const int64_t big[] = {INT64_MAX / 2};
    int64_t d = synq_webhook_retry_delay_us(big, 1, 1, UINT64_MAX);
    assert_true(d > 0);
}

static void test_parse_schedule(void **state)
{
    int64_t s[8];
    size_t n = 99;
    assert_int_equal(synq_callbacks_parse_schedule("5s,5m,30m,2h,5h,10h,10h", s, 8, &n), 0);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s[i], svix[i]);
    assert_int_equal(synq_callbacks_parse_schedule("100ms, 1s ,1.5s", s, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(s[0], 100000);
    assert_int_equal(s[1], 1000000);
    assert_int_equal(s[2], 1500000);
    assert_int_equal(synq_callbacks_parse_schedule("0", s, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0], 0);
    /* empty: no retries after the first attempt */
    assert_int_equal(synq_callbacks_parse_schedule("", s, 8, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(synq_callbacks_parse_schedule("none", s, 8, &n), 0);
    assert_int_equal(n, 0);
    static const char *const bad[] = {
        ",", "1s,", ",1s", "1s,,2s", "x", "1s,-2s", "1s;2s", "1s 2s", "1s,2s,3s,4s,5s,6s,7s,8s,9s"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        n = 99;
        if (synq_callbacks_parse_schedule(bad[i], s, 8, &n) != SYNQ_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(synq_callbacks_parse_schedule(NULL, s, 8, &n), SYNQ_EINVAL);
    /* the default is Svix's */
    synq_callbacks_config_t cfg;
    synq_callbacks_config_init(&cfg);
    assert_int_equal(cfg.nschedule, 7);
    for (size_t i = 0; i < cfg.nschedule; i++)
        assert_int_equal(cfg.schedule_us[i], svix[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),       cmocka_unit_test(test_more_vectors),
        cmocka_unit_test(test_body_bytes_matter), cmocka_unit_test(test_two_secrets),
        cmocka_unit_test(test_no_secrets),        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_secret_decode),     cmocka_unit_test(test_secret_decode_bad),
        cmocka_unit_test(test_retry_bounds),      cmocka_unit_test(test_retry_jitter),
        cmocka_unit_test(test_parse_schedule),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
