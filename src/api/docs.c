/* Document endpoints (engine/docs.h):
 *   GET    /v1/docs/{collection}/{id}      the document, ETag "N"
 *   PUT    /v1/docs/{collection}/{id}      replace (201 when created)
 *   PATCH  /v1/docs/{collection}/{id}      JSON merge patch, field-level LWW
 *   DELETE /v1/docs/{collection}/{id}
 *   POST   /v1/docs/{collection}/{id}/ops  intent operations
 *   GET    /v1/docs/{collection}?since=V&limit=N   the changes feed
 * Every one needs the API key (when configured), reads included.
 *
 * Headers: If-Match and If-None-Match on writes ("*" or a list of
 * versions, quoted or not; a weak tag never matches, RFC 9110 §13.1.1);
 * If-None-Match on GET answers 304 when the version is listed. Synq-HLC on
 * writes carries the writer's HLC stamp (core/hlc.h text form); the answer
 * carries the stamp the write used. Every document answer has ETag "N".
 *
 * Every answer, reads included, goes out after the engine's transaction
 * commits, so nobody sees a version a crash could take back. */
#include "api/internal.h"

#include "core/hlc.h"
#include "engine/docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_DEFAULT 100

/* ---- replies --------------------------------------------------------------- */

typedef struct {
    synq_http_req_t *req;
    int status;
    synq_buf_t body;
    char headers[160];
} pending_t;

static void on_committed(int status, void *arg)
{
    pending_t *p = arg;
    if (status == 0)
        synq_http_respond(p->req, p->status, "application/json", p->headers, p->body.data,
                          p->body.len);
    else
        synq_http_respond_error(p->req, 503, "unavailable", "the store failed to commit", NULL);
    synq_buf_release(&p->body);
    free(p);
}

/* Replies after the current transaction commits, with ETag (when the
 * document has a version) and Synq-HLC (when a write was stamped); takes
 * body's bytes. */
static void reply(synq_api_ctx_t *ctx, int status, synq_buf_t *body, const synq_docs_res_t *res)
{
    pending_t *p = synq_calloc(1, sizeof *p);
    p->req = ctx->req;
    p->status = status;
    p->body = *body;
    synq_buf_init(body);
    size_t n = 0;
    if (res && res->version)
        n += (size_t)snprintf(p->headers, sizeof p->headers, "ETag: \"%llu\"\r\n",
                              (unsigned long long)res->version);
    if (res && res->stamped) {
        char t[SYNQ_HLC_TEXT_MAX];
        synq_hlc_format(&res->stamp, t);
        snprintf(p->headers + n, sizeof p->headers - n, "Synq-HLC: %s\r\n", t);
    }
    synq_engine_after_commit(ctx->engine, on_committed, p);
}

/* The field of a "field: problem" message, into field (size 128). */
static const char *field_of(const char *msg, char *field)
{
    const char *colon = strchr(msg, ':');
    size_t n = colon ? (size_t)(colon - msg) : 0;
    if (n == 0 || n >= 128) return NULL;
    memcpy(field, msg, n);
    field[n] = '\0';
    return field;
}

/* Answers a docs error: rc with res (and, for a failed precondition, the
 * current document in cur). */
static void fail(synq_api_ctx_t *ctx, int rc, const synq_docs_res_t *res, synq_buf_t *cur)
{
    char field[128];
    synq_buf_t b;
    switch (rc) {
    case SYNQ_ENOTFOUND:
        synq_api_error(ctx, 404, "not_found", "document not found", NULL);
        break;
    case SYNQ_ECONFLICT:
        synq_buf_init(&b);
        synq_buf_puts(&b, "{\"error\":{\"code\":\"precondition_failed\",\"message\":\"the "
                          "document's version does not meet If-Match / If-None-Match\"},"
                          "\"current\":");
        synq_buf_append(&b, cur->data, cur->len);
        synq_buf_putc(&b, '}');
        reply(ctx, 412, &b, res);
        break;
    case SYNQ_EINVAL:
        synq_api_error(ctx, 422, "invalid_field", res->err, field_of(res->err, field));
        break;
    case SYNQ_ETOOBIG:
        synq_api_error(ctx, 409, "bound", res->err, field_of(res->err, field));
        break;
    default:
        synq_api_error(ctx, 503, "unavailable", synq_strerror(rc), NULL);
    }
}

/* ---- request parts --------------------------------------------------------- */

/* Parses an If-Match / If-None-Match value: "*", or a comma-separated list
 * of entity tags ("N", W/"N", or N bare). Tags that are not a version
 * cannot match and are left out. false when the list is too long. */
static bool parse_etags(const char *v, bool *any, uint64_t *list, size_t *n)
{
    *any = false;
    *n = 0;
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        if (!*v) break;
        const char *end = v;
        bool quoted = false;
        if (end[0] == 'W' && end[1] == '/') end += 2;
        if (*end == '"') {
            quoted = true;
            end = strchr(end + 1, '"');
            end = end ? end + 1 : v + strlen(v);
        }
        while (*end && *end != ',')
            end++;
        if (v[0] == '*' && (end == v + 1 || strspn(v + 1, " \t") == (size_t)(end - v - 1))) {
            *any = true;
        } else if (v[0] != 'W') { /* weak tags never match strongly */
            const char *s = v + quoted;
            char *stop;
            unsigned long long x = strtoull(s, &stop, 10);
            bool ok = stop > s && s[0] >= '0' && s[0] <= '9' && (!quoted || *stop == '"');
            if (ok) {
                if (*n == SYNQ_DOCS_MAX_ETAGS) return false;
                list[(*n)++] = x;
            }
        }
        v = end;
    }
    return true;
}

/* Checks the key, the names, the preconditions and Synq-HLC; false after
 * answering. */
static bool target(synq_api_ctx_t *ctx, synq_docs_write_t *w, synq_hlc_ts_t *hlc, bool write)
{
    if (!synq_api_require_key(ctx)) return false;
    if (ctx->api->docs == NULL) {
        synq_api_error(ctx, 503, "unavailable", "documents are not enabled", NULL);
        return false;
    }
    memset(w, 0, sizeof *w);
    w->collection = ctx->params[0];
    w->id = ctx->params[1];
    size_t cl = strlen(w->collection);
    if (cl > SYNQ_DOCS_COLLECTION_MAX || !synq_docs_name_valid(w->collection, "x")) {
        synq_api_error(ctx, 422, "invalid_field",
                       "collection: must be 1-64 characters of A-Z a-z 0-9 _ - . :", "collection");
        return false;
    }
    if (w->id[0] && !synq_docs_name_valid("x", w->id)) {
        synq_api_error(ctx, 422, "invalid_field",
                       "id: must be 1-128 characters of A-Z a-z 0-9 _ - . :", "id");
        return false;
    }
    synq_docs_cond_t *c = &w->cond;
    const char *im = synq_http_req_header(ctx->req, "if-match");
    const char *inm = synq_http_req_header(ctx->req, "if-none-match");
    if ((im && !parse_etags(im, &c->if_match_any, c->match, &c->nmatch)) ||
        (inm && !parse_etags(inm, &c->if_none_match_any, c->none, &c->nnone))) {
        synq_api_error(ctx, 400, "invalid_header", "If-Match / If-None-Match: too many versions",
                       NULL);
        return false;
    }
    c->if_match = im != NULL;
    c->if_none_match = inm != NULL;
    const char *h = synq_http_req_header(ctx->req, "synq-hlc");
    if (h && write) {
        if (synq_hlc_parse(h, strlen(h), hlc)) {
            synq_api_error(ctx, 400, "invalid_header",
                           "Synq-HLC: expected <13-digit ms>-<5-digit counter>-<node id>",
                           "Synq-HLC");
            return false;
        }
        w->hlc = hlc;
    }
    return true;
}

/* ---- handlers -------------------------------------------------------------- */

static bool listed(uint64_t v, const uint64_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v) return true;
    return false;
}

void synq_api_docs_get(synq_api_ctx_t *ctx)
{
    synq_docs_write_t w;
    synq_hlc_ts_t hlc;
    if (!target(ctx, &w, &hlc, false)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_docs_res_t res;
    int rc = synq_docs_get(ctx->api->docs, w.collection, w.id, &out, &res);
    if (rc) {
        fail(ctx, rc, &res, &out);
    } else if (w.cond.if_none_match &&
               (w.cond.if_none_match_any || listed(res.version, w.cond.none, w.cond.nnone))) {
        out.len = 0; /* RFC 9110 §13.1.2: 304 for a GET whose tag matches */
        reply(ctx, 304, &out, &res);
    } else {
        reply(ctx, 200, &out, &res);
    }
    synq_buf_release(&out);
}

/* PUT, PATCH: the body is a JSON object. */
static void write_body(synq_api_ctx_t *ctx, bool patch)
{
    synq_docs_write_t w;
    synq_hlc_ts_t hlc;
    if (!target(ctx, &w, &hlc, true)) return;
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    if (!json_is_object(body)) {
        json_decref(body);
        synq_api_error(ctx, 422, "invalid_field", "data: the body must be a JSON object", "data");
        return;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    synq_docs_res_t res;
    int rc = patch ? synq_docs_patch(ctx->api->docs, &w, body, &out, &res)
                   : synq_docs_put(ctx->api->docs, &w, body, &out, &res);
    json_decref(body);
    if (rc)
        fail(ctx, rc, &res, &out);
    else
        reply(ctx, res.created ? 201 : 200, &out, &res);
    synq_buf_release(&out);
}

void synq_api_docs_put(synq_api_ctx_t *ctx)
{
    write_body(ctx, false);
}

void synq_api_docs_patch(synq_api_ctx_t *ctx)
{
    write_body(ctx, true);
}

void synq_api_docs_delete(synq_api_ctx_t *ctx)
{
    synq_docs_write_t w;
    synq_hlc_ts_t hlc;
    if (!target(ctx, &w, &hlc, true)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_docs_res_t res;
    int rc = synq_docs_delete(ctx->api->docs, &w, &out, &res);
    if (rc)
        fail(ctx, rc, &res, &out);
    else
        reply(ctx, 200, &out, &res);
    synq_buf_release(&out);
}

void synq_api_docs_ops(synq_api_ctx_t *ctx)
{
    synq_docs_write_t w;
    synq_hlc_ts_t hlc;
    if (!target(ctx, &w, &hlc, true)) return;
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_docs_res_t res;
    int rc = synq_docs_ops(ctx->api->docs, &w, body, &out, &res);
    json_decref(body);
    if (rc)
        fail(ctx, rc, &res, &out);
    else
        reply(ctx, res.created ? 201 : 200, &out, &res);
    synq_buf_release(&out);
}

void synq_api_docs_changes(synq_api_ctx_t *ctx)
{
    synq_docs_write_t w;
    synq_hlc_ts_t hlc;
    ctx->params[1][0] = '\0'; /* no id on this route */
    if (!target(ctx, &w, &hlc, false)) return;
    char v[32];
    unsigned long long since = 0;
    long limit = FEED_DEFAULT;
    char *end;
    if (synq_http_req_query(ctx->req, "since", v, sizeof v) >= 0) {
        since = strtoull(v, &end, 10);
        if (!v[0] || *end || v[0] < '0' || v[0] > '9') {
            synq_api_error(ctx, 422, "invalid_field", "since: must be a version (an integer >= 0)",
                           "since");
            return;
        }
    }
    if (synq_http_req_query(ctx->req, "limit", v, sizeof v) >= 0) {
        limit = strtol(v, &end, 10);
        if (!v[0] || *end || limit < 1 || limit > SYNQ_DOCS_FEED_MAX) {
            char msg[96];
            snprintf(msg, sizeof msg, "limit: must be an integer from 1 to %d", SYNQ_DOCS_FEED_MAX);
            synq_api_error(ctx, 422, "invalid_field", msg, "limit");
            return;
        }
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_docs_changes(ctx->api->docs, w.collection, since, (int)limit, &out);
    if (rc) {
        synq_docs_res_t res = {0};
        fail(ctx, rc, &res, &out);
    } else {
        reply(ctx, 200, &out, NULL);
    }
    synq_buf_release(&out);
}
