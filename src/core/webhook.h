/* Standard Webhooks (v1.0.0) signing and the retry schedule of outgoing
 * callbacks. Pure: bytes in, result out; no clock (callers pass the
 * timestamp), no randomness of its own (callers pass a random number), no
 * I/O. Delivery itself (HTTP, persistence, timers) lives in
 * engine/callback.c; verifying incoming webhooks is not done here.
 *
 * Signed content (spec "Signature scheme"): msg_id "." timestamp "." body,
 * with the body bytes exactly as sent; the signature is HMAC-SHA256 keyed
 * with the base64-decoded secret, sent as "v1,<base64>". Several secrets
 * (key rotation) give several space-separated signatures. */
#ifndef SYNQ_CORE_WEBHOOK_H
#define SYNQ_CORE_WEBHOOK_H

#include "core/buf.h"
#include "core/common.h"

#define SYNQ_WEBHOOK_SECRET_PREFIX "whsec_"
#define SYNQ_WEBHOOK_KEY_MIN 24 /* bytes of a decoded secret */
#define SYNQ_WEBHOOK_KEY_MAX 64

/* Decodes a secret "whsec_<standard base64 of 24..64 bytes>" (padding
 * optional) into key, which has room for SYNQ_WEBHOOK_KEY_MAX bytes, and
 * sets *keylen. Returns 0, or SYNQ_EINVAL for a missing prefix, a character
 * outside the base64 alphabet, a bad length or a key of the wrong size
 * (key is then unspecified). */
int synq_webhook_secret_decode(const char *secret, unsigned char *key, size_t *keylen);

/* Appends the webhook-signature header value for body[0..len) sent as
 * message msg_id at timestamp_s (Unix seconds): "v1,<base64 sig>" for each
 * of secrets[0..n), space-separated, in order. secrets, msg_id and body are
 * borrowed for the call. Returns 0 (n == 0 appends nothing), or SYNQ_EINVAL
 * when a secret does not decode or msg_id is empty or contains '.' (the
 * spec forbids it); out is then unchanged. */
int synq_webhook_sign(const char *const *secrets, size_t n, const char *msg_id, int64_t timestamp_s,
                      const char *body, size_t len, synq_buf_t *out);

/* Delay before the next attempt after attempts_done failed ones:
 * schedule_us[attempts_done - 1] (so 1, the first failure, gives
 * schedule_us[0]) with a jitter of up to +-10% taken from rnd. Returns
 * microseconds (>= 0), 0 when attempts_done < 1, or -1 when the schedule
 * (n entries) is exhausted: no further attempt. */
int64_t synq_webhook_retry_delay_us(const int64_t *schedule_us, size_t n, int attempts_done,
                                    uint64_t rnd);

#endif
