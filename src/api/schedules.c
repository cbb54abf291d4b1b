/* Schedule endpoints: create/replace, list, show, delete, pause, resume,
 * trigger, next-fire preview, crontab import, and a stateless expression
 * preview (GET /v1/cron/next) used by `synq cron next` and the oracle test.
 *
 * A schedule definition that does not validate is answered 400
 * invalid_schedule (the document as a whole is rejected and nothing is
 * stored), with the offending field named as in 422 answers elsewhere. */
#include "api/internal.h"

#include "core/cron.h"
#include "core/crontab.h"
#include "core/timeutil.h"
#include "engine/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEXT_MAX 1000

static void invalid(synq_api_ctx_t *ctx, const char *msg)
{
    char field[128] = "";
    const char *colon = strchr(msg, ':');
    size_t flen = colon ? (size_t)(colon - msg) : 0;
    if (flen >= sizeof field || strchr(msg, ' ') < colon) flen = 0;
    memcpy(field, msg, flen);
    field[flen] = 0;
    synq_api_error(ctx, 400, "invalid_schedule", msg, field[0] ? field : NULL);
}

/* Reads integer query parameter `key` in [lo, hi]; def when absent.
 * Returns false after answering 422. */
static bool query_int(synq_api_ctx_t *ctx, const char *key, int lo, int hi, int def, int *out)
{
    char v[32];
    *out = def;
    if (synq_http_req_query(ctx->req, key, v, sizeof v) <= 0) return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s: must be an integer from %d to %d", key, lo, hi);
        synq_api_error(ctx, 422, "invalid_field", msg, key);
        return false;
    }
    *out = (int)n;
    return true;
}

void synq_api_schedules_put(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *def = synq_api_body(ctx, true, &failed);
    if (failed) return;
    synq_buf_t out;
    synq_buf_init(&out);
    char err[300];
    bool created;
    int rc = synq_sched_put(ctx->api->sched, ctx->params[0], def, NULL, &created, &out, err,
                            sizeof err);
    json_decref(def);
    if (rc == 0)
        synq_api_reply_committed(ctx, created ? 201 : 200, &out);
    else
        invalid(ctx, err);
    synq_buf_release(&out);
}

void synq_api_schedules_list(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    synq_sched_list(ctx->api->sched, &out);
    synq_api_reply(ctx, 200, &out);
    synq_buf_release(&out);
}

void synq_api_schedules_get(synq_api_ctx_t *ctx)
{
    int nnext, nruns;
    if (!query_int(ctx, "next", 0, NEXT_MAX, 5, &nnext) ||
        !query_int(ctx, "runs", 0, SYNQ_SCHED_RUNS_KEPT, 20, &nruns))
        return;
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_sched_get(ctx->api->sched, ctx->params[0], nnext, nruns, &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "schedule");
    synq_buf_release(&out);
}

void synq_api_schedules_delete(synq_api_ctx_t *ctx)
{
    int rc = synq_sched_delete(ctx->api->sched, ctx->params[0]);
    if (rc) {
        synq_api_engine_error(ctx, rc, "schedule");
        return;
    }
    synq_buf_t none;
    synq_buf_init(&none);
    synq_api_reply_committed(ctx, 204, &none);
}

static void set_paused(synq_api_ctx_t *ctx, bool paused)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_sched_pause(ctx->api->sched, ctx->params[0], paused, &out);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "schedule");
    synq_buf_release(&out);
}

void synq_api_schedules_pause(synq_api_ctx_t *ctx)
{
    set_paused(ctx, true);
}

void synq_api_schedules_resume(synq_api_ctx_t *ctx)
{
    set_paused(ctx, false);
}

void synq_api_schedules_trigger(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_sched_trigger(ctx->api->sched, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "schedule");
    synq_buf_release(&out);
}

void synq_api_schedules_next(synq_api_ctx_t *ctx)
{
    int n;
    if (!query_int(ctx, "n", 1, NEXT_MAX, 10, &n)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_sched_next(ctx->api->sched, ctx->params[0], n, &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "schedule");
    synq_buf_release(&out);
}

/* POST /v1/schedules/import?source=S&prefix=P, body: crontab text. */
void synq_api_schedules_import(synq_api_ctx_t *ctx)
{
    char source[1024], prefix[128], err[300];
    if (synq_http_req_query(ctx->req, "source", source, sizeof source) <= 0) {
        synq_api_error(ctx, 422, "invalid_field",
                       "source: required (schedules from one source are replaced together)",
                       "source");
        return;
    }
    char raw[128];
    if (synq_http_req_query(ctx->req, "prefix", raw, sizeof raw) <= 0) snprintf(raw, sizeof raw, "crontab");
    synq_sched_name_prefix(raw, prefix, sizeof prefix);
    /* the crontab is the body as text, or {"text": "..."} as JSON */
    const synq_http_req_t *req = ctx->req;
    const char *text = req->body.data ? req->body.data : "";
    size_t len = req->body.len;
    json_t *doc = NULL;
    const char *ct = synq_http_req_header(req, "content-type");
    if (ct && strncmp(ct, "application/json", 16) == 0) {
        bool failed;
        doc = synq_api_body(ctx, true, &failed);
        if (failed) return;
        const json_t *t = json_object_get(doc, "text");
        if (!json_is_string(t)) {
            json_decref(doc);
            synq_api_error(ctx, 422, "invalid_field", "text: must be the crontab as a string",
                           "text");
            return;
        }
        text = json_string_value(t);
        len = json_string_length(t);
    }
    synq_crontab_t tab;
    int prc = synq_crontab_parse(text, len, &tab, err, sizeof err);
    json_decref(doc);
    if (prc != 0) {
        synq_api_error(ctx, 400, "invalid_crontab", err, NULL);
        return;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_sched_import(ctx->api->sched, source, prefix, &tab, &out, err, sizeof err);
    synq_crontab_release(&tab);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_error(ctx, 400, "invalid_crontab", err, NULL);
    synq_buf_release(&out);
}

/* GET /v1/cron/next?expr=E&tz=Z&n=N&after=RFC3339 */
void synq_api_cron_next(synq_api_ctx_t *ctx)
{
    char expr[SYNQ_CRON_MAX_LEN + 1], tz[160] = "", after[64], err[300];
    if (synq_http_req_query(ctx->req, "expr", expr, sizeof expr) <= 0) {
        synq_api_error(ctx, 422, "invalid_field", "expr: required, at most 1024 bytes", "expr");
        return;
    }
    synq_http_req_query(ctx->req, "tz", tz, sizeof tz);
    int n;
    if (!query_int(ctx, "n", 1, NEXT_MAX, 10, &n)) return;
    int64_t t = synq_time_now_us();
    if (synq_http_req_query(ctx->req, "after", after, sizeof after) > 0 &&
        synq_rfc3339_parse(after, strlen(after), &t) != 0) {
        synq_api_error(ctx, 422, "invalid_field", "after: must be an RFC 3339 time", "after");
        return;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    if (synq_sched_preview(expr, tz, t, n, &out, err, sizeof err) == 0)
        synq_api_reply(ctx, 200, &out);
    else
        invalid(ctx, err);
    synq_buf_release(&out);
}
