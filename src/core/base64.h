/* Base64 (RFC 4648 §4) and base64url (§5): the standard alphabet with '='
 * padding for Standard Webhooks secrets and signatures, the URL alphabet
 * without padding for JWS (RFC 7515 §2). Pure. */
#ifndef SYNQ_CORE_BASE64_H
#define SYNQ_CORE_BASE64_H

#include "core/buf.h"
#include "core/common.h"

typedef enum {
    SYNQ_B64_STD, /* "+/", '=' padded on output, padding optional on input */
    SYNQ_B64_URL, /* "-_", never padded; input strict: no '=', no set unused bits */
} synq_b64_t;

/* Characters the encoding of n bytes takes. */
size_t synq_b64_len(synq_b64_t v, size_t n);
/* Appends the encoding of p[0..n) to out. */
void synq_b64_encode(synq_b64_t v, const void *p, size_t n, synq_buf_t *out);
/* Decodes s[0..len) into out (room for max bytes). A length of 4k+1 (a lone
 * sextet holds no whole byte), a character outside the alphabet, or more
 * than max bytes is an error; STD takes optional padding (when present the
 * length must be a multiple of 4); URL refuses '=' and set bits in the
 * unused low end of the last character (RFC 4648 §3.5: a second spelling
 * of the same bytes). Returns the byte count or -1. */
long synq_b64_decode(synq_b64_t v, const char *s, size_t len, unsigned char *out, size_t max);

#endif
