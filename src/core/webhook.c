/* Standard Webhooks signing (see webhook.h): base64 from core/base64 (the
 * standard alphabet of RFC 4648 §4), the HMAC from OpenSSL. */
#include "core/webhook.h"

#include "core/base64.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <string.h>

int synq_webhook_secret_decode(const char *secret, unsigned char *key, size_t *keylen)
{
    static const size_t plen = sizeof SYNQ_WEBHOOK_SECRET_PREFIX - 1;
    if (secret == NULL || strncmp(secret, SYNQ_WEBHOOK_SECRET_PREFIX, plen) != 0)
        return SYNQ_EINVAL;
    const char *b = secret + plen;
    long n = synq_b64_decode(SYNQ_B64_STD, b, strlen(b), key, SYNQ_WEBHOOK_KEY_MAX);
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
        synq_b64_encode(SYNQ_B64_STD, mac, maclen, &sigs);
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
