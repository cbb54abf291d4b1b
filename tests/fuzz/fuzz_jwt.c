/* libFuzzer target for core/jwt. The input is used three ways:
 *
 *  as a token   - verified with a fixed secret. Never crashes or leaks; the
 *                 result is 0, SYNQ_EINVAL, SYNQ_EEXPIRED or SYNQ_ETOOBIG
 *                 (that one exactly when the input is too long); a failure
 *                 leaves out zeroed with a message naming its place; a
 *                 success has a non-NULL sub, channels matching nchannels,
 *                 info that parses back to the same compact text, and an
 *                 exp after now.
 *  as claims    - synq_jwt_sign(input) either fits or is SYNQ_ETOOBIG, as
 *                 its length says; what it signs verifies, or fails only on
 *                 the payload or a claim (never the token, the header or
 *                 the signature); the claims match an independent jansson
 *                 reading; with another secret, or a character of the
 *                 signature changed, it fails on the signature.
 *  as a header  - signed here with OpenSSL over "{}" claims; it verifies
 *                 exactly when jansson reads it as an object without
 *                 duplicate names, with "alg" the string "HS256" and no
 *                 "crit".
 *
 * Corpus: tests/fuzz/corpus/jwt (tokens, claims and headers). */
#include "core/jwt.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define SECRET "fuzz-secret"
#define SECRET_LEN (sizeof SECRET - 1)
#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_zero(const synq_jwt_t *t)
{
    static const synq_jwt_t zero;
    return memcmp(t, &zero, sizeof zero) == 0;
}

/* Checks the outcome of one verification; releases t. */
static void check_result(int rc, synq_jwt_t *t, const char *err, size_t len)
{
    CHECK(rc == 0 || rc == SYNQ_EINVAL || rc == SYNQ_EEXPIRED || rc == SYNQ_ETOOBIG);
    CHECK((rc == SYNQ_ETOOBIG) == (len > SYNQ_JWT_MAX_BYTES));
    if (rc != 0) {
        CHECK(is_zero(t));
        CHECK(starts(err, "token: ") || starts(err, "header: ") || starts(err, "signature: ") ||
              starts(err, "payload: ") || starts(err, "claim "));
        if (rc == SYNQ_EEXPIRED) CHECK(starts(err, "claim exp: expired at "));
        return;
    }
    CHECK(t->sub != NULL);
    CHECK((t->channels != NULL) == (t->nchannels > 0));
    for (size_t i = 0; i < t->nchannels; i++)
        CHECK(t->channels[i] != NULL);
    if (t->info != NULL) {
        json_t *v = json_loads(t->info, JSON_DECODE_ANY, NULL);
        CHECK(v != NULL && !json_is_null(v));
        char *again = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        CHECK(again != NULL && strcmp(again, t->info) == 0);
        free(again);
        json_decref(v);
    }
    if (t->has_exp)
        CHECK(t->exp_s > NOW);
    else
        CHECK(t->exp_s == 0);
    synq_jwt_release(t);
    CHECK(is_zero(t));
}

static void as_token(const uint8_t *data, size_t size)
{
    synq_jwt_t t;
    char err[128];
    int rc =
        synq_jwt_verify((const char *)data, size, SECRET, SECRET_LEN, NOW, &t, err, sizeof err);
    check_result(rc, &t, err, size);
}

static void as_claims(const uint8_t *data, size_t size)
{
    synq_buf_t b;
    synq_buf_init(&b);
    int rc = synq_jwt_sign((const char *)data, size, SECRET, SECRET_LEN, &b);
    size_t enc = size / 3 * 4 + (size % 3 ? size % 3 + 1 : 0);
    if (36 + 1 + enc + 1 + 43 > SYNQ_JWT_MAX_BYTES) {
        CHECK(rc == SYNQ_ETOOBIG && b.len == 0);
        synq_buf_release(&b);
        return;
    }
    CHECK(rc == 0 && b.len == 36 + 1 + enc + 1 + 43);

    synq_jwt_t t;
    char err[128] = "";
    rc = synq_jwt_verify(b.data, b.len, SECRET, SECRET_LEN, NOW, &t, err, sizeof err);
    CHECK(rc == 0 || rc == SYNQ_EINVAL || rc == SYNQ_EEXPIRED);
    if (rc != 0) CHECK(starts(err, "payload: ") || starts(err, "claim "));

    /* an independent reading of the same claims */
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) CHECK(rc == SYNQ_EINVAL && starts(err, "payload: "));
    if (rc == 0) {
        json_t *sub = json_object_get(j, "sub");
        CHECK(strcmp(t.sub, json_is_string(sub) ? json_string_value(sub) : "") == 0);
        json_t *ch = json_object_get(j, "channel");
        CHECK(json_is_string(ch) ? t.channel && strcmp(t.channel, json_string_value(ch)) == 0
                                 : t.channel == NULL);
        json_t *chs = json_object_get(j, "channels");
        CHECK(t.nchannels == (json_is_array(chs) ? json_array_size(chs) : 0));
        for (size_t i = 0; i < t.nchannels; i++)
            CHECK(strcmp(t.channels[i], json_string_value(json_array_get(chs, i))) == 0);
        CHECK(t.has_exp == (json_object_get(j, "exp") != NULL));
    }
    json_decref(j);
    check_result(rc, &t, err, b.len);

    /* another secret; a change to the signature (an empty payload is
     * refused before the signature is looked at) */
    const char *where = size > 0 ? "signature: " : "payload: empty";
    rc = synq_jwt_verify(b.data, b.len, SECRET "!", SECRET_LEN + 1, NOW, &t, err, sizeof err);
    CHECK(rc == SYNQ_EINVAL && starts(err, where));
    if (size > 0) CHECK(strcmp(err, "signature: does not match") == 0);
    size_t pos = b.len - 43 + (size % 43);
    char save = b.data[pos];
    b.data[pos] = save == 'A' ? 'B' : 'A';
    rc = synq_jwt_verify(b.data, b.len, SECRET, SECRET_LEN, NOW, &t, err, sizeof err);
    CHECK(rc == SYNQ_EINVAL && starts(err, where));
    b.data[pos] = save;
    synq_buf_release(&b);
}

static void b64url(const void *p, size_t n, synq_buf_t *out)
{
    char *tmp = malloc(4 * (n / 3 + 1) + 1);
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

static void as_header(const uint8_t *data, size_t size)
{
    if (size > 4096) return; /* the token would not fit anyway */
    synq_buf_t b;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    synq_buf_init(&b);
    b64url(data, size, &b);
    synq_buf_puts(&b, ".e30"); /* "{}" */
    CHECK(HMAC(EVP_sha256(), SECRET, (int)SECRET_LEN, (unsigned char *)b.data, b.len, mac,
               &maclen) != NULL);
    synq_buf_putc(&b, '.');
    b64url(mac, maclen, &b);

    synq_jwt_t t;
    char err[128] = "";
    int rc = synq_jwt_verify(b.data, b.len, SECRET, SECRET_LEN, NOW, &t, err, sizeof err);
    json_t *h = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *alg = json_object_get(h, "alg");
    bool good = size > 0 && json_is_object(h) && json_is_string(alg) &&
                strcmp(json_string_value(alg), "HS256") == 0 && json_object_get(h, "crit") == NULL;
    json_decref(h);
    if (good) {
        CHECK(rc == 0);
        CHECK(strcmp(t.sub, "") == 0);
    } else {
        CHECK(rc == SYNQ_EINVAL && starts(err, "header: "));
    }
    check_result(rc, &t, err, b.len);
    synq_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_token(data, size);
    as_claims(data, size);
    as_header(data, size);
    return 0;
}
