/* The Faktory Work Protocol (FWP) without the sockets: the pieces a Faktory
 * listener and a Faktory-style client put on a connection, kept pure so they
 * can be tested and fuzzed byte by byte (reference:
 * shared/reference/faktory-protocol.md §1.1-1.6).
 *
 *   - a line reader: client commands are one per line, ended by "\r\n" or a
 *     bare "\n" (the Ruby client sends only "\n"), with a bound on the line
 *     length checked before anything beyond it is buffered;
 *   - the split of a line into verb and argument, and the table of verbs;
 *   - the server's replies, a RESP2 subset: +simple, -CODE error, $bulk,
 *     $-1; every reply is framed correctly whatever bytes it is given;
 *   - the handshake: the +HI greeting, the iterated SHA-256 password hash,
 *     its constant-time check, and the random salt and iteration count;
 *   - FAKTORY_URL-style addresses (tcp://:password@host:7419) for the CLI.
 *
 * It does not know what commands mean, parse their JSON, keep connection
 * state, enforce the handshake order or deadline, or log: that is the
 * listener's business. Nothing here touches a socket or a clock; only the
 * salt and iteration pickers read the kernel's random source. */
#ifndef SYNQ_PROTO_FWP_H
#define SYNQ_PROTO_FWP_H

#include "core/buf.h"
#include "core/common.h"

#define SYNQ_FWP_PORT 7419
#define SYNQ_FWP_VERSION 2
/* Default bound on a command line (without its line ending). */
#define SYNQ_FWP_MAX_LINE_DEFAULT ((size_t)1 << 20)
/* The largest iteration count synq_fwp_pwdhash accepts: a server picks
 * 4000-8095; a larger one from a hostile server would only burn CPU. */
#define SYNQ_FWP_MAX_ITERATIONS 1000000

/* ---- line reader ---------------------------------------------------------- */

/* Results of synq_fwp_read besides the negative error. */
enum {
    SYNQ_FWP_AGAIN = 0, /* every byte was used and no line is complete: feed more */
    SYNQ_FWP_LINE = 1,  /* a complete line is in *line */
};

/* One connection's inbound command stream. Caller-embedded:
 * synq_fwp_reader_init / synq_fwp_reader_release. Fields are private. */
typedef struct synq_fwp_reader_s {
    size_t max_line_bytes;
    synq_buf_t partial; /* the start of a line that came in earlier pieces */
    bool delivered;     /* partial holds the line returned by the last call */
    int error;          /* sticky: once failed, every call fails */
} synq_fwp_reader_t;

/* max_line_bytes bounds a line without its ending; 0 means
 * SYNQ_FWP_MAX_LINE_DEFAULT. Allocates nothing. */
void synq_fwp_reader_init(synq_fwp_reader_t *r, size_t max_line_bytes);
void synq_fwp_reader_release(synq_fwp_reader_t *r);

/* Looks for the next line in data[0..len), after whatever earlier calls
 * kept. Lines may arrive split anywhere and several may come in one piece:
 * call again with the bytes not consumed.
 *
 * Returns SYNQ_FWP_LINE with *consumed the bytes used (up to and including
 * the "\n") and *line / *line_len the line without its ending: one "\n" and
 * then one "\r" before it are removed, as the Faktory server trims them
 * (any other CR stays in the line; an empty line is a line). *line is not
 * NUL-terminated; it points into data or into the reader and is valid until
 * the next call on r (or its release) and while data is unchanged.
 *
 * Returns SYNQ_FWP_AGAIN when data ends inside a line: all of it was used
 * (kept in the reader) and *line is NULL.
 *
 * Returns SYNQ_ETOOBIG as soon as the bytes seen make the current line
 * longer than max_line_bytes (a line of exactly max_line_bytes is fine; the
 * reader keeps at most max_line_bytes + 1 bytes, the last being a CR that
 * may start the ending). The outcome does not depend on how the stream was
 * split. The error is sticky: every later call returns it with *consumed 0;
 * the caller answers -ERR and closes. */
int synq_fwp_read(synq_fwp_reader_t *r, const char *data, size_t len, size_t *consumed,
                  const char **line, size_t *line_len);

/* True while part of a line is kept (the stream ended mid-line if the peer
 * closes now). */
bool synq_fwp_reader_pending(const synq_fwp_reader_t *r);

/* ---- commands --------------------------------------------------------------- */

/* Splits a line into the verb (everything up to the first space, possibly
 * empty) and the argument (everything after that one space, kept as it is:
 * further spaces belong to the argument; empty when the line has no space
 * or ends right after it). Both point into line[0..len); never reads
 * outside it. */
void synq_fwp_split(const char *line, size_t len, const char **verb, size_t *verb_len,
                    const char **arg, size_t *arg_len);

/* Takes the next word of a space-separated argument (FETCH q1 q2, QUEUE
 * PAUSE q1, BATCH OPEN bid): skips spaces, sets *word / *word_len, and moves
 * *p / *len past it. Returns false when only spaces (or nothing) are left. */
bool synq_fwp_word(const char **p, size_t *len, const char **word, size_t *word_len);

/* The verbs of FWP (§1.6). Lookup is case-sensitive, as in Faktory. */
typedef enum {
    SYNQ_FWP_CMD_UNKNOWN = 0,
    SYNQ_FWP_CMD_HELLO,
    SYNQ_FWP_CMD_PUSH,
    SYNQ_FWP_CMD_PUSHB,
    SYNQ_FWP_CMD_FETCH,
    SYNQ_FWP_CMD_ACK,
    SYNQ_FWP_CMD_FAIL,
    SYNQ_FWP_CMD_BEAT,
    SYNQ_FWP_CMD_INFO,
    SYNQ_FWP_CMD_FLUSH,
    SYNQ_FWP_CMD_END,
    SYNQ_FWP_CMD_MUTATE,
    SYNQ_FWP_CMD_QUEUE,
    SYNQ_FWP_CMD_TRACK,
    SYNQ_FWP_CMD_BATCH,
    SYNQ_FWP_CMD_COUNT_
} synq_fwp_cmd_t;

/* The command named verb[0..len), or SYNQ_FWP_CMD_UNKNOWN. */
synq_fwp_cmd_t synq_fwp_cmd_lookup(const char *verb, size_t len);
/* The verb of a command ("PUSH"), static; "" for SYNQ_FWP_CMD_UNKNOWN and
 * out-of-range values. */
const char *synq_fwp_cmd_name(synq_fwp_cmd_t cmd);

/* ---- replies (RESP2 subset, §1.2) -------------------------------------------- */

/* "+OK\r\n". */
void synq_fwp_reply_ok(synq_buf_t *out);
/* "+<s>\r\n" for s[0..len). CR, LF and NUL in s become spaces, so the reply
 * is always one line. */
void synq_fwp_reply_simple(synq_buf_t *out, const char *s, size_t len);
/* "-<code> <msg>\r\n" ("-<code>\r\n" when len is 0). code is a word such as
 * "ERR" or "NOTUNIQUE"; NULL or "" means "ERR". CR, LF and NUL in code and
 * msg become spaces. Keep "ERR" for real failures (§1.3). */
void synq_fwp_reply_error(synq_buf_t *out, const char *code, const char *msg, size_t len);
/* The same with a printf-style message. */
void synq_fwp_reply_errorf(synq_buf_t *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "$<len>\r\n<data>\r\n": len is the byte length (of UTF-8 text too); data
 * goes as it is. */
void synq_fwp_reply_bulk(synq_buf_t *out, const char *data, size_t len);
/* "$-1\r\n" (null bulk: no job). */
void synq_fwp_reply_null(synq_buf_t *out);

/* ---- handshake (§1.4) ----------------------------------------------------- */

/* Appends the greeting, JSON with no spaces (the Node client splits the line
 * on a space): `+HI {"v":2}\r\n` when salt is NULL, else
 * `+HI {"v":2,"i":<iterations>,"s":"<salt>"}\r\n`. Returns 0, or SYNQ_EINVAL
 * (nothing appended) when salt is given but empty or not made of ASCII
 * letters and digits, or iterations is not 1..SYNQ_FWP_MAX_ITERATIONS. */
int synq_fwp_hi(synq_buf_t *out, int iterations, const char *salt);

/* The password proof: d = SHA-256(password || salt) (the salt's text, not
 * decoded), then iterations - 1 more rounds d = SHA-256(d) over the raw
 * digest, written as 64 lowercase hex digits and a NUL. Returns 0, or
 * SYNQ_EINVAL when iterations is not 1..SYNQ_FWP_MAX_ITERATIONS or the
 * digest fails (out is then an empty string). */
int synq_fwp_pwdhash(const char *password, const char *salt, int iterations, char out[65]);

/* True when given[0..len) equals expected_hex (a NUL-terminated
 * synq_fwp_pwdhash result), compared in constant time (CRYPTO_memcmp; only
 * the lengths leak). given may be NULL when len is 0. */
bool synq_fwp_pwdhash_check(const char *expected_hex, const char *given, size_t len);

/* A fresh salt as Faktory makes it: a random non-negative 63-bit integer in
 * lowercase hex without leading zeros (1 to 16 digits) and a NUL. Returns 0
 * or a negative errno from getrandom(2). */
int synq_fwp_salt(char out[17]);
/* A fresh iteration count, uniform in 4000..8095 as Faktory picks it.
 * Returns 0 or a negative errno from getrandom(2). */
int synq_fwp_iterations(int *out);

/* ---- addresses (§1.1) ------------------------------------------------------ */

/* A parsed FAKTORY_URL. Strings are returned (NUL-terminated, owned by the
 * struct): free them with synq_fwp_url_release. */
typedef struct synq_fwp_url_s {
    char *host;     /* never NULL; "localhost" when the URL has none; IPv6 without brackets */
    int port;       /* 1..65535; SYNQ_FWP_PORT when the URL has none */
    char *username; /* percent-decoded; NULL when the URL has none (or it is empty) */
    char *password; /* percent-decoded; NULL when the URL has no ':' in its userinfo */
    bool tls;       /* tcp+tls:// */
} synq_fwp_url_t;

/* Parses "tcp://[user][:password]@host[:port][/]" or the same with
 * "tcp+tls://" (scheme case-insensitive). The userinfo ends at the last '@'
 * of the authority (so an unescaped '@' in a password works, as in Go's
 * net/url); user and password are percent-decoded. The host is a name, an
 * IPv4 address or a bracketed IPv6 address. Returns 0 and fills *u, or
 * SYNQ_EINVAL (u is then zeroed and holds nothing to free) for another
 * scheme, a path other than "/", a query or fragment, a bad port, a bad
 * percent escape, a decoded NUL, or a host with spaces or control bytes.
 * url may be NULL (SYNQ_EINVAL). */
int synq_fwp_url_parse(const char *url, synq_fwp_url_t *u);
/* Frees the strings of a parsed URL and zeroes it; safe on a zeroed one. */
void synq_fwp_url_release(synq_fwp_url_t *u);

#endif
