/* A small blocking Faktory Work Protocol client for the command line: the
 * FWP counterpart of cli/client.h, used when --server (or $FAKTORY_URL) is a
 * tcp:// address (reference: shared/reference/faktory-protocol.md §1).
 *
 * One synq_fwpclient_t is one TCP connection, opened on the first call: it
 * reads the server's `+HI {...}` greeting, answers HELLO (with the password
 * proof when the greeting has a salt, and a wid only for workers), and then
 * sends one command at a time and reads its one reply. Every wait is bounded
 * by poll() and a deadline; every reply by a size limit checked before it is
 * buffered. A transport or protocol failure closes the connection, and the
 * next call opens a new one, so a caller retries by calling again.
 *
 * The reply reader and the HELLO builder are pure (bytes in, result out) and
 * are tested on their own. This module does not speak TLS (tcp+tls:// is
 * refused), does not retry, and knows nothing of jobs: callers build the
 * command arguments and read the replies. Not thread-safe: one client per
 * thread. It is not used by the server. */
#ifndef SYNQ_CLI_FWPCLIENT_H
#define SYNQ_CLI_FWPCLIENT_H

#include "core/buf.h"
#include "core/common.h"
#include "proto/fwp.h"

/* The largest bulk payload synq_fwpclient_call accepts (an INFO, a job). */
#define SYNQ_FWPCLIENT_MAX_REPLY_BYTES ((size_t)64 << 20)
/* The longest line: a simple or error reply (without its ending), or the
 * "$n" header of a bulk string. FWP's lines are short ("OK", "HI {...}", an
 * error message); the bound keeps the reader linear. */
#define SYNQ_FWPCLIENT_MAX_LINE_BYTES ((size_t)64 << 10)

/* ---- replies (pure) ---------------------------------------------------------- */

typedef enum {
    SYNQ_FWPCLIENT_SIMPLE = 1, /* +text */
    SYNQ_FWPCLIENT_ERROR,      /* -CODE message */
    SYNQ_FWPCLIENT_BULK,       /* $n then n bytes */
    SYNQ_FWPCLIENT_NULL,       /* $-1 */
} synq_fwpclient_kind_t;

/* One reply. data is returned (NUL-terminated; free with
 * synq_fwpclient_reply_release): the text after '+' or '-' without the line
 * ending, or the bulk payload (which may hold NULs: use len); NULL for
 * SYNQ_FWPCLIENT_NULL. */
typedef struct synq_fwpclient_reply_s {
    synq_fwpclient_kind_t kind;
    char *data;
    size_t len;
} synq_fwpclient_reply_t;

/* Reads one RESP2 reply (§1.2) from the start of data[0..len).
 *
 * Returns 1 with *consumed the bytes it took and *reply filled (the caller
 * releases it); SYNQ_FWP_AGAIN (0) when data ends inside the reply (call
 * again with more bytes, from the same start); SYNQ_ETOOBIG when the bulk
 * payload is longer than max_bytes, or a line (without its ending) longer
 * than SYNQ_FWPCLIENT_MAX_LINE_BYTES or max_bytes, whichever is smaller
 * (decided from the bytes seen: a caller never buffers far past it);
 * SYNQ_EPROTO for anything else: a type byte other than '+', '-' or '$', a
 * bad bulk length, or a bulk payload not followed by its line ending.
 * Lines end with "\r\n"; a bare "\n" is accepted too. On 0 and errors
 * *reply is zeroed and *consumed is 0. Any prefix of a stream gives
 * SYNQ_FWP_AGAIN or the same result as the whole. */
int synq_fwpclient_reply_parse(const char *data, size_t len, size_t max_bytes,
                               synq_fwpclient_reply_t *reply, size_t *consumed);

/* Frees the reply's data and zeroes it; safe on a zeroed one. */
void synq_fwpclient_reply_release(synq_fwpclient_reply_t *reply);

/* The text to show for an error reply: its message without the "ERR "
 * code (the generic failure), or the whole text for another code
 * ("NOTUNIQUE Job not unique"). Borrowed from reply. */
const char *synq_fwpclient_reply_error_text(const synq_fwpclient_reply_t *reply);

/* ---- handshake (pure) -------------------------------------------------------- */

/* Who says HELLO. All borrowed. */
typedef struct synq_fwpclient_hello_s {
    const char *wid;           /* worker id; NULL for a producer (then no wid, labels) */
    const char *const *labels; /* NULL-terminated; sent only with wid; NULL for none */
    const char *hostname;      /* NULL: none sent */
    long pid;                  /* 0: none sent */
} synq_fwpclient_hello_t;

/* Builds the argument of HELLO (one line of compact JSON, appended to out)
 * answering the greeting hi[0..hi_len): the text of the +HI simple string,
 * `HI {"v":2[,"i":N,"s":"salt"]}`. With a salt it adds "pwdhash", the
 * iterated SHA-256 of password and salt (i rounds; 1 when "i" is missing,
 * as the Go client does); "username" goes when non-NULL. password and
 * username are borrowed and may be NULL.
 *
 * Returns 0, or with a one-line reason in err[0..errlen) and nothing
 * appended: SYNQ_EPROTO when hi is not a greeting (no "HI ", not a JSON
 * object, "s" not a string, "i" not an integer in
 * 1..SYNQ_FWP_MAX_ITERATIONS); SYNQ_EINVAL when the server wants a
 * password and password is NULL. */
int synq_fwpclient_hello_build(const char *hi, size_t hi_len, const char *password,
                               const char *username, const synq_fwpclient_hello_t *who,
                               synq_buf_t *out, char *err, size_t errlen);

/* ---- connection ---------------------------------------------------------------- */

typedef struct synq_fwpclient_s synq_fwpclient_t;

/* Writes nbytes random bytes from the kernel as 2 * nbytes lowercase hex
 * digits and a NUL into out (2 * nbytes + 1 bytes), for jids and wids.
 * Returns 0 or a negative errno from getrandom(2). */
int synq_fwpclient_random_hex(char *out, size_t nbytes);

/* A client for url, a FAKTORY_URL-style address (tcp://[:password@]host
 * [:port]; see synq_fwp_url_parse). who is copied (and its strings); NULL
 * means a producer with this host's name and pid. Nothing is sent until the
 * first call. Returns 0 and *out (free with synq_fwpclient_free), or
 * SYNQ_EINVAL for an address that does not parse and -EPROTONOSUPPORT for
 * tcp+tls:// (*out NULL). Aborts on allocation failure. */
int synq_fwpclient_new(const char *url, const synq_fwpclient_hello_t *who, synq_fwpclient_t **out);

/* Sends END if connected (best effort: not waiting for the server, which
 * closes without a reply), closes and frees. Safe on NULL. */
void synq_fwpclient_free(synq_fwpclient_t *c);

/* The address to show in messages and logs: "tcp://host:port", without the
 * password. Borrowed from c. */
const char *synq_fwpclient_url(const synq_fwpclient_t *c);

/* Connects and shakes hands if not connected yet, waiting up to timeout_ms
 * for each step. Returns 0 (also when already connected), or a negative
 * code with the reason in synq_fwpclient_errmsg: a negative errno for the
 * transport (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EHOSTUNREACH, ...,
 * and -ENOENT when the host name does not resolve), SYNQ_EPROTO for a peer
 * that does not speak FWP, SYNQ_EINVAL when the server wants a password and
 * the address has none, and -EACCES when the server refused the HELLO (its
 * message, such as "Invalid password", is the errmsg). */
int synq_fwpclient_connect(synq_fwpclient_t *c, long timeout_ms);

/* Sends "<verb> <arg>" (just "<verb>" when arg is NULL; arg must hold no
 * line break) after connecting if needed, and waits up to timeout_ms for
 * its reply. Returns 0 once a reply came, whatever its kind (an -ERR reply
 * too: the connection stays usable), with *reply filled for the caller to
 * release; or a negative code as for synq_fwpclient_connect, plus
 * SYNQ_ETOOBIG for a reply over SYNQ_FWPCLIENT_MAX_REPLY_BYTES; then
 * *reply is zeroed and the connection closed. */
int synq_fwpclient_call(synq_fwpclient_t *c, const char *verb, const char *arg, long timeout_ms,
                        synq_fwpclient_reply_t *reply);

/* Why the last connect or call failed, with the address where it helps
 * ("cannot reach tcp://127.0.0.1:7419: Connection refused"). Borrowed until
 * the next call. */
const char *synq_fwpclient_errmsg(const synq_fwpclient_t *c);

#endif
