/* HS256 JSON Web Tokens (see jwt.h). Base64url (RFC 4648 §5) is written
 * here rather than shared with core/webhook.c: a different alphabet, and
 * decoding must be strict (no padding, no stray bits) so that a signature
 * has exactly one spelling. JSON is jansson's, the HMAC OpenSSL's. */
#include "core/jwt.h"

#include "core/base64.h"

#include <jansson.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_BYTES 32     /* HMAC-SHA256 */
#define SIG_B64_CHARS 43 /* ceil(32 * 4 / 3), unpadded */
/* RFC 7519 NumericDates beyond +-2^53 s (285 million years) are rejected:
 * a double holds every integer up to there, and there is room left to add
 * or subtract a leeway without overflow. */
#define DATE_LIMIT 9007199254740992LL

/* ---- verification --------------------------------------------------------- */

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* An RFC 7519 NumericDate (seconds, possibly fractional) as whole seconds,
 * rounded up: then for a whole `now`, now >= exp and nbf > now + leeway
 * come out as they would on the exact value. False when v is not a number
 * or is out of range. */
static bool numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > DATE_LIMIT || i < -DATE_LIMIT) return false;
        *out = (int64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= (double)-DATE_LIMIT && d <= (double)DATE_LIMIT)) return false;
        *out = (int64_t)ceil(d);
        return true;
    }
    return false;
}

/* The claims of payload into t (zeroed by the caller; released by the
 * caller on error). JSON null counts as absent for the optional strings and
 * info; "exp" and "nbf", when present, must be numbers. */
static int read_claims(json_t *payload, int64_t now_s, synq_jwt_t *t, char *err, size_t errlen)
{
    json_t *v;

    v = json_object_get(payload, "sub");
    if (v != NULL && !json_is_null(v) && !json_is_string(v))
        return fail(err, errlen, SYNQ_EINVAL, "claim sub: not a string");
    /* jansson rejects \u0000 in strings without JSON_ALLOW_NUL, so every
     * string here is a whole C string. */
    t->sub = synq_strdup(json_is_string(v) ? json_string_value(v) : "");

    v = json_object_get(payload, "channel");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return fail(err, errlen, SYNQ_EINVAL, "claim channel: not a string");
        t->channel = synq_strdup(json_string_value(v));
    }

    v = json_object_get(payload, "info");
    if (v != NULL && !json_is_null(v)) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s == NULL) return fail(err, errlen, SYNQ_EINVAL, "claim info: cannot be serialized");
        t->info = synq_strdup(s);
        free(s);
    }

    v = json_object_get(payload, "channels");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v))
            return fail(err, errlen, SYNQ_EINVAL, "claim channels: not an array of strings");
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if (!json_is_string(json_array_get(v, i)))
                return fail(err, errlen, SYNQ_EINVAL, "claim channels: element %zu is not a string",
                            i);
        if (n > 0) {
            /* bounded: every element took at least 3 bytes of the token */
            t->channels = synq_calloc(n, sizeof *t->channels);
            for (size_t i = 0; i < n; i++) {
                t->channels[i] = synq_strdup(json_string_value(json_array_get(v, i)));
                t->nchannels++;
            }
        }
    }

    int64_t nbf;
    v = json_object_get(payload, "nbf");
    if (v != NULL) {
        if (!numeric_date(v, &nbf))
            return fail(err, errlen, SYNQ_EINVAL, "claim nbf: not a number of seconds");
        /* RFC 7519 §4.1.5, with some leeway for clock skew */
        if (nbf - SYNQ_JWT_NBF_LEEWAY_S > now_s)
            return fail(err, errlen, SYNQ_EINVAL, "claim nbf: not valid before %lld",
                        (long long)nbf);
    }

    v = json_object_get(payload, "exp");
    if (v != NULL) {
        if (!numeric_date(v, &t->exp_s))
            return fail(err, errlen, SYNQ_EINVAL, "claim exp: not a number of seconds");
        t->has_exp = true;
        /* RFC 7519 §4.1.4: "on or after" the time, it must not be accepted */
        if (now_s >= t->exp_s)
            return fail(err, errlen, SYNQ_EEXPIRED, "claim exp: expired at %lld",
                        (long long)t->exp_s);
    }
    return 0;
}

int synq_jwt_verify(const char *token, size_t len, const char *secret, size_t secret_len,
                    int64_t now_s, synq_jwt_t *out, char *err, size_t errlen)
{
    /* Decoded header and payload together: 3 bytes per 4 characters of a
     * token within the limit. On the stack, so an oversized or malformed
     * token costs no allocation. */
    unsigned char dec[SYNQ_JWT_MAX_BYTES / 4 * 3 + 3];
    unsigned char sig[SIG_BYTES], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    json_t *header = NULL, *payload = NULL;
    json_error_t jerr;
    synq_jwt_t t;
    int rc = 0;

    memset(out, 0, sizeof *out);
    memset(&t, 0, sizeof t);
    if (err != NULL && errlen > 0) err[0] = '\0';

    if (len > SYNQ_JWT_MAX_BYTES)
        return fail(err, errlen, SYNQ_ETOOBIG, "token: longer than %d bytes", SYNQ_JWT_MAX_BYTES);
    if (token == NULL || len == 0) return fail(err, errlen, SYNQ_EINVAL, "token: empty");
    if (secret == NULL || secret_len == 0 || secret_len > INT_MAX)
        return fail(err, errlen, SYNQ_EINVAL, "token: no secret to verify it with");

    /* header "." payload "." signature (RFC 7515 §7.1) */
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return fail(err, errlen, SYNQ_EINVAL, "token: not three parts separated by '.'");
    const char *h64 = token, *p64 = dot1 + 1, *s64 = dot2 + 1;
    size_t hlen = (size_t)(dot1 - h64), plen = (size_t)(dot2 - p64);
    size_t slen = len - (size_t)(s64 - token);

    long hn = synq_b64_decode(SYNQ_B64_URL, h64, hlen, dec, sizeof dec);
    if (hn <= 0) return fail(err, errlen, SYNQ_EINVAL, "header: empty or not base64url");
    long pn = synq_b64_decode(SYNQ_B64_URL, p64, plen, dec + hn, sizeof dec - (size_t)hn);
    if (pn <= 0) return fail(err, errlen, SYNQ_EINVAL, "payload: empty or not base64url");
    if (slen != SIG_B64_CHARS || synq_b64_decode(SYNQ_B64_URL, s64, slen, sig, sizeof sig) != SIG_BYTES)
        return fail(err, errlen, SYNQ_EINVAL, "signature: not 32 bytes of base64url");

    /* The header is read before the signature is checked, as it names the
     * algorithm; it picks nothing, though: anything but HS256 is refused
     * (no "none", RFC 8725 §2.1, §3.1). */
    header = json_loadb((const char *)dec, (size_t)hn, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(header)) {
        rc = fail(err, errlen, SYNQ_EINVAL, "header: not a JSON object");
        goto done;
    }
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0) {
        rc = fail(err, errlen, SYNQ_EINVAL, "header: alg must be \"HS256\"");
        goto done;
    }
    /* RFC 7515 §4.1.11: extensions listed in "crit" must be understood,
     * and we understand none (e.g. RFC 7797 "b64": false). */
    if (json_object_get(header, "crit") != NULL) {
        rc = fail(err, errlen, SYNQ_EINVAL, "header: crit extensions are not supported");
        goto done;
    }

    /* The signing input is the first two parts as sent (RFC 7515 §5.1). */
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token,
              (size_t)(dot2 - token), mac, &maclen) ||
        maclen != SIG_BYTES) {
        rc = fail(err, errlen, SYNQ_EINVAL, "signature: cannot compute HMAC-SHA256");
        goto done;
    }
    if (CRYPTO_memcmp(mac, sig, SIG_BYTES) != 0) {
        rc = fail(err, errlen, SYNQ_EINVAL, "signature: does not match");
        goto done;
    }

    payload = json_loadb((const char *)dec + hn, (size_t)pn, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(payload)) {
        rc = fail(err, errlen, SYNQ_EINVAL, "payload: not a JSON object");
        goto done;
    }
    rc = read_claims(payload, now_s, &t, err, errlen);
    if (rc == 0) {
        *out = t;
        memset(&t, 0, sizeof t);
    }
done:
    synq_jwt_release(&t);
    json_decref(header);
    json_decref(payload);
    return rc;
}

void synq_jwt_release(synq_jwt_t *out)
{
    free(out->sub);
    free(out->channel);
    free(out->info);
    for (size_t i = 0; i < out->nchannels; i++)
        free(out->channels[i]);
    free(out->channels);
    memset(out, 0, sizeof *out);
}

/* ---- signing -------------------------------------------------------------- */

int synq_jwt_sign(const char *claims, size_t len, const char *secret, size_t secret_len,
                  synq_buf_t *out)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    if (secret == NULL || secret_len == 0 || secret_len > INT_MAX) return SYNQ_EINVAL;
    if (len > SYNQ_JWT_MAX_BYTES ||
        synq_b64_len(SYNQ_B64_URL, sizeof header - 1) + 1 + synq_b64_len(SYNQ_B64_URL, len) + 1 + SIG_B64_CHARS >
            SYNQ_JWT_MAX_BYTES)
        return SYNQ_ETOOBIG;

    synq_buf_t t;
    synq_buf_init(&t);
    synq_b64_encode(SYNQ_B64_URL, (const unsigned char *)header, sizeof header - 1, &t);
    synq_buf_putc(&t, '.');
    synq_b64_encode(SYNQ_B64_URL, (const unsigned char *)claims, len, &t);
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)t.data, t.len, mac,
              &maclen) ||
        maclen != SIG_BYTES) {
        synq_buf_release(&t);
        return SYNQ_EINVAL;
    }
    synq_buf_putc(&t, '.');
    synq_b64_encode(SYNQ_B64_URL, mac, maclen, &t);
    synq_buf_append(out, t.data, t.len);
    synq_buf_release(&t);
    return 0;
}
