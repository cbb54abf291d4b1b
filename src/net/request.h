/* Incremental HTTP/1.1 request parser: bytes in, complete requests out.
 * Wraps http-parser and adds what a server needs on top: a cap on the
 * header block and on the body (checked before anything is stored), the
 * split of the target into path and query, lowercased header names, and a
 * pause after each request so pipelined requests come out one at a time.
 * Pure: no sockets, no clock, no logging; can be fed one byte at a time. */
#ifndef SYNQ_NET_REQUEST_H
#define SYNQ_NET_REQUEST_H

#include "core/buf.h"
#include "core/common.h"

#include <http_parser.h>

typedef struct synq_http_conn_s synq_http_conn_t;
typedef struct synq_http_req_s synq_http_req_t;

typedef enum {
    SYNQ_HTTP_GET, SYNQ_HTTP_HEAD, SYNQ_HTTP_POST, SYNQ_HTTP_PUT, SYNQ_HTTP_DELETE,
    SYNQ_HTTP_PATCH, SYNQ_HTTP_OPTIONS, SYNQ_HTTP_OTHER
} synq_http_method_t;

typedef struct synq_http_header_s {
    char *name;  /* lowercased */
    char *value;
} synq_http_header_t;

typedef void (*synq_http_abort_cb)(synq_http_req_t *req, void *arg);

struct synq_http_req_s {
    synq_http_method_t method;
    const char *method_name;
    char *path;   /* without the query, NUL-terminated */
    char *query;  /* after '?', or NULL */
    synq_http_header_t *headers;
    size_t nheaders;
    synq_buf_t body; /* data is never NULL once complete */
    bool keep_alive;
    bool upgrade;    /* the request asks for a protocol upgrade */
    void *data;      /* free for the handler */
    /* private */
    synq_http_conn_t *conn; /* set by the server; NULL once the connection is gone */
    synq_http_abort_cb abort_cb;
    void *abort_arg;
    synq_buf_t url;
    size_t header_bytes;
    bool last_was_value;
};

typedef enum {
    SYNQ_REQ_AGAIN = 0, /* need more bytes */
    SYNQ_REQ_DONE,      /* a request is complete */
    SYNQ_REQ_ERROR,     /* the input is bad: answer status and close */
} synq_req_result_t;

typedef struct synq_reqparser_s {
    http_parser parser;
    size_t max_header_bytes;
    size_t max_body_bytes;
    synq_http_req_t *req;  /* being parsed, or NULL between requests */
    synq_http_req_t *done; /* completed by the last feed */
    bool headers_complete; /* of the request being parsed */
    bool want_continue;    /* its headers asked for 100-continue; the caller clears it */
    int error_status;      /* on SYNQ_REQ_ERROR: 400, 413 or 431 */
    const char *error_code;
    const char *error_message;
} synq_reqparser_t;

void synq_reqparser_init(synq_reqparser_t *p, size_t max_header_bytes, size_t max_body_bytes);
/* Frees a request being parsed. */
void synq_reqparser_release(synq_reqparser_t *p);

/* Feeds len bytes. Sets *consumed to the bytes used: on SYNQ_REQ_DONE the
 * rest belongs to the next request (feed it again later); on SYNQ_REQ_AGAIN
 * all were used. On SYNQ_REQ_DONE *out is the request (the caller frees it
 * with synq_http_req_free). After SYNQ_REQ_ERROR the parser is unusable. */
synq_req_result_t synq_reqparser_feed(synq_reqparser_t *p, const char *data, size_t len,
                                      size_t *consumed, synq_http_req_t **out);
/* True while a request has started but not completed. */
bool synq_reqparser_busy(const synq_reqparser_t *p);

synq_http_req_t *synq_http_req_new(void);
void synq_http_req_free(synq_http_req_t *r);
/* Returns the value of a header (name in lowercase) or NULL. Borrowed. */
const char *synq_http_req_header(const synq_http_req_t *req, const char *name);
/* Copies the percent-decoded query parameter into out (size outlen) and
 * returns its length, or -1 if absent (or too long for out). */
int synq_http_req_query(const synq_http_req_t *req, const char *name, char *out, size_t outlen);

/* Percent-decodes src[0..n) into out (size outlen, NUL-terminated); with
 * plus_is_space, '+' decodes to a space (query strings). Returns the decoded
 * length, or -1 if out is too small. Malformed escapes are kept as they are. */
int synq_http_pct_decode(const char *src, size_t n, char *out, size_t outlen, bool plus_is_space);

#endif
