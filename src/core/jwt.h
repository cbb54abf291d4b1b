/* JSON Web Tokens (RFC 7519) signed with HS256 (RFC 7515 JWS compact
 * serialization, RFC 7518 §3.2), as LiveSync clients present them: a
 * connection token (user id, info, server-side channels) or a channel token
 * (one channel a connection may subscribe to). Pure: bytes in, result out; no
 * clock (callers pass the time), no I/O, no logging.
 *
 * Only HS256 with one shared secret. Every other "alg" (including "none"),
 * a "crit" header, base64url with padding or non-canonical trailing bits,
 * JSON with duplicate member names and claims of the wrong type are
 * rejected. It does not check "aud", "iss", "jti" or "iat", and it does not
 * know what the claims mean (whether the user may subscribe to a channel is
 * the hub's business), nor does it support JWKS, RSA or EC keys. */
#ifndef SYNQ_CORE_JWT_H
#define SYNQ_CORE_JWT_H

#include "core/buf.h"
#include "core/common.h"

/* Longest token accepted or produced, in bytes (the whole compact form). */
#define SYNQ_JWT_MAX_BYTES 8192
/* A token whose "nbf" is more than this many seconds ahead of now is not
 * valid yet (allowance for clock skew between the issuer and us). */
#define SYNQ_JWT_NBF_LEEWAY_S 30

/* The claims of a verified token. Caller-embedded; filled by
 * synq_jwt_verify, which owns nothing after returning: the strings are the
 * struct's, freed with synq_jwt_release. */
typedef struct synq_jwt_s {
    char *sub;       /* "sub": the user id; "" (never NULL) when missing or empty: anonymous */
    bool has_exp;    /* an "exp" claim was present */
    int64_t exp_s;   /* "exp", Unix seconds (a fractional value rounded up); 0 without one */
    char *channel;   /* "channel" (channel tokens), or NULL when absent */
    char *info;      /* "info" as compact JSON text (any JSON value), or NULL when absent
                      * or null */
    char **channels; /* "channels": nchannels strings, or NULL when absent or empty */
    size_t nchannels;
} synq_jwt_t;

/* Verifies token[0..len) (need not be NUL-terminated; no whitespace or
 * "Bearer " prefix) against secret[0..secret_len) (raw bytes, not decoded;
 * must not be empty) at time now_s (Unix seconds), and fills out.
 *
 * Checked in this order: the length (more than SYNQ_JWT_MAX_BYTES:
 * SYNQ_ETOOBIG, before anything is decoded or allocated); three base64url
 * parts without padding (RFC 7515 §2, §7.1); the header, a JSON object with
 * "alg":"HS256" ("typ" and other members ignored, "crit" rejected, RFC 7515
 * §4.1.11); the signature, HMAC-SHA256 of "header.payload" compared in
 * constant time; the payload, a JSON object; the types of the claims above
 * ("exp" and "nbf" numbers within +-2^53, "sub" and "channel" strings,
 * "channels" an array of strings; JSON null counts as absent for all but
 * "exp" and "nbf"); "nbf" at most SYNQ_JWT_NBF_LEEWAY_S
 * ahead of now_s; and last "exp": expired when now_s >= exp (RFC 7519
 * §4.1.4, no leeway). "iat" and unknown claims are ignored.
 *
 * Returns 0 (out filled: release it with synq_jwt_release); SYNQ_EEXPIRED
 * for a genuine token past its "exp" (Centrifugo answers 109 to it, so a
 * client refreshes, where a bad token gets 101); SYNQ_ETOOBIG for an
 * oversized token; SYNQ_EINVAL for anything else. On any error out is
 * zeroed (releasing it is harmless) and err (errlen bytes, may be 0) holds
 * a message starting with where the problem is: "token", "header",
 * "signature", "payload" or "claim <name>" ("signature: does not match"). */
int synq_jwt_verify(const char *token, size_t len, const char *secret, size_t secret_len,
                    int64_t now_s, synq_jwt_t *out, char *err, size_t errlen);

/* Frees what out holds and zeroes it. Idempotent; harmless on a zeroed
 * struct. */
void synq_jwt_release(synq_jwt_t *out);

/* Appends to out the HS256 token with header {"alg":"HS256","typ":"JWT"}
 * and the payload claims[0..len) exactly as given (not parsed or
 * re-serialized, so tests can sign malformed claims too), signed with
 * secret[0..secret_len). For tests and tools; the server only verifies.
 * Returns 0; SYNQ_EINVAL for an empty secret; SYNQ_ETOOBIG when the token
 * would exceed SYNQ_JWT_MAX_BYTES (out is then unchanged). */
int synq_jwt_sign(const char *claims, size_t len, const char *secret, size_t secret_len,
                  synq_buf_t *out);

#endif
