/* Standard Webhooks signing (see webhook.h). Base64 is written here (the
 * standard alphabet of RFC 4648 §4) so decoding can be strict; the HMAC is
 * OpenSSL's. */
#include "core/webhook.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static void b64_encode(const unsigned char *p, size_t n, synq_buf_t *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {b64_alphabet[v >> 18], b64_alphabet[(v >> 12) & 63],
                     b64_alphabet[(v >> 6) & 63], b64_alphabet[v & 63]};
        synq_buf_append(out, q, 4);
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        char q[4] = {b64_alphabet[v >> 18], b64_alphabet[(v >> 12) & 63],
                     i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=', '='};
        synq_buf_append(out, q, 4);
    }
}

/* Decodes s[0..len) (padding optional; when present the length must be a
 * multiple of 4) into out (room for max bytes). Returns the byte count or -1. */
static long b64_decode(const char *s, size_t len, unsigned char *out, size_t max)
{
    size_t pad = 0;
    while (pad < 2 && len > 0 && s[len - 1] == '=')
        len--, pad++;
    if (pad && (len + pad) % 4 != 0) return -1;
    if (len % 4 == 1) return -1; /* a lone sextet holds no whole byte */
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > max) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

int synq_webhook_secret_decode(const char *secret, unsigned char *key, size_t *keylen)
{
    static const size_t plen = sizeof SYNQ_WEBHOOK_SECRET_PREFIX - 1;
    if (secret == NULL || strncmp(secret, SYNQ_WEBHOOK_SECRET_PREFIX, plen) != 0)
        return SYNQ_EINVAL;
    const char *b = secret + plen;
    long n = b64_decode(b, strlen(b), key, SYNQ_WEBHOOK_KEY_MAX);
    if (n < SYNQ_WEBHOOK_KEY_MIN) return SYNQ_EINVAL;
    *keylen = (size_t)n;
    return 0;
}

int synq_webhook_sign(const char *const *secrets, size_t n, const char *msg_id, int64_t timestamp_s,
                      const char *body, size_t len, synq_buf_t *out)
{
    if (n == 0) return 0;
    if (msg_id == NULL || !*msg_id || strchr(msg_id, '.')) return SYNQ_EINVAL;
    int rc = 0;
    synq_buf_t content, sigs;
    synq_buf_init(&content);
    synq_buf_init(&sigs);
    synq_buf_printf(&content, "%s.%lld.", msg_id, (long long)timestamp_s);
    if (len) synq_buf_append(&content, body, len);
    for (size_t i = 0; i < n; i++) {
        unsigned char key[SYNQ_WEBHOOK_KEY_MAX], mac[EVP_MAX_MD_SIZE];
        size_t keylen;
        unsigned int maclen = 0;
        rc = synq_webhook_secret_decode(secrets[i], key, &keylen);
        if (rc) goto done;
        if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)content.data, content.len,
                  mac, &maclen)) {
            rc = SYNQ_EINVAL;
            goto done;
        }
        if (i) synq_buf_putc(&sigs, ' ');
        synq_buf_puts(&sigs, "v1,");
        b64_encode(mac, maclen, &sigs);
    }
    synq_buf_append(out, sigs.data, sigs.len);
done:
    synq_buf_release(&content);
    synq_buf_release(&sigs);
    return rc;
}

int64_t synq_webhook_retry_delay_us(const int64_t *schedule_us, size_t n, int attempts_done,
                                    uint64_t rnd)
{
    if (attempts_done < 1) return 0;
    if ((size_t)attempts_done > n) return -1;
    int64_t d = schedule_us[attempts_done - 1];
    if (d <= 0) return 0;
    /* uniform in [d - d/10, d + d/10]: spreads retries of many deliveries
     * that failed together (a receiver outage) */
    int64_t j = d / 10;
    if (j > 0) d += (int64_t)(rnd % (uint64_t)(2 * j + 1)) - j;
    return d;
}
