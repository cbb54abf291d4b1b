/* A small blocking HTTP+JSON client for the command line (libcurl easy
 * interface): one handle per thread, keep-alive between requests, JSON
 * bodies in and out, and the shared pieces every client command needs
 * (server URL resolution, printing a server error). It is not used by the
 * server, which does its outbound HTTP on the event loop. */
#ifndef SYNQ_CLI_CLIENT_H
#define SYNQ_CLI_CLIENT_H

#include "core/common.h"

#include <jansson.h>

#define SYNQ_CLIENT_DEFAULT_URL "http://127.0.0.1:7700"

typedef struct synq_client_s synq_client_t;

/* Called every 100 ms or so while a request is in flight; returning true
 * aborts it (-ECANCELED). response_started: some of the answer has come. */
typedef bool (*synq_client_abort_cb)(void *data, bool response_started);

/* One response. body is a new reference to the parsed JSON, or NULL when the
 * body is empty or not JSON (then raw holds the text). Release with
 * synq_client_resp_release. */
typedef struct synq_client_resp_s {
    long status;
    json_t *body;
    char *raw;
    size_t raw_len;
} synq_client_resp_t;

/* The server to use, first found of: flag if non-NULL and non-empty;
 * $SYNQ_SERVER; then as Faktory's clients find theirs, the variable named by
 * $FAKTORY_PROVIDER when that is set, else $FAKTORY_URL; else
 * SYNQ_CLIENT_DEFAULT_URL (variables count when set and non-empty). Returns
 * 0 and sets *url (borrowed from flag or the environment), or SYNQ_EINVAL
 * with a one-line reason in err[0..errlen) when $FAKTORY_PROVIDER holds a
 * URL instead of a variable name, or names one that is not set (as the Go
 * client refuses both). */
int synq_client_url_pick(const char *flag, const char **url, char *err, size_t errlen);

/* True when url is a Faktory address (tcp:// or tcp+tls://, any case) and
 * not one for the HTTP API. */
bool synq_client_url_is_fwp(const char *url);

/* curl_global_init / curl_global_cleanup: call once from the main thread
 * before any client is created, and after all are freed. */
void synq_client_global_init(void);
void synq_client_global_release(void);

/* New client for base_url (copied; a trailing '/' is dropped). Aborts on
 * allocation failure. Free with synq_client_free. Not thread-safe: use one
 * client per thread. */
synq_client_t *synq_client_new(const char *base_url);
void synq_client_free(synq_client_t *c);

/* Borrowed base URL, as given to synq_client_new. */
const char *synq_client_url(const synq_client_t *c);

/* Sends `method path` (path starts with '/', already escaped) with body as
 * JSON (borrowed; NULL sends no body) and waits up to timeout_ms for the
 * whole exchange. abort_cb may be NULL. Returns 0 once any HTTP response
 * arrived (whatever its status) and fills *resp, which the caller releases;
 * or a negative errno-style code (-ECONNREFUSED, -ETIMEDOUT, -ECANCELED,
 * -EIO, SYNQ_ETOOBIG) with the reason in synq_client_errmsg. */
int synq_client_request(synq_client_t *c, const char *method, const char *path, json_t *body,
                        long timeout_ms, synq_client_abort_cb abort_cb, void *abort_data,
                        synq_client_resp_t *resp);

/* The reason the last request failed (borrowed until the next request). */
const char *synq_client_errmsg(const synq_client_t *c);

void synq_client_resp_release(synq_client_resp_t *resp);

/* Returns `s` percent-encoded for use as a path segment or a query value;
 * the caller frees it with free(). RFC 3986 unreserved characters (2.3) and
 * ':' (a pchar, 3.3, and part of synq's id alphabet) are kept as they are. */
char *synq_client_escape(const char *s);

/* The error code of a server error body ("not_found"), or "" if the body
 * has none. Borrowed from resp. */
const char *synq_client_resp_code(const synq_client_resp_t *resp);

/* Prints a server error to stderr as "<prog>: <code>: <message> (field F,
 * HTTP N)", falling back to the raw body when it is not a synq error. */
void synq_client_resp_print_error(const char *prog, const synq_client_resp_t *resp);

#endif
