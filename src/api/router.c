/* Route table and dispatch: 404 for unknown paths, 405 with Allow for a
 * known path with the wrong method, and the reply helpers every handler
 * uses. */
#include "api/api.h"

#include "api/internal.h"

#include "core/timeutil.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    synq_http_method_t method;
    const char *pattern; /* segments; "{}" matches one non-empty segment */
    synq_api_handler_cb handler;
} route_t;

static const route_t routes[] = {
    {SYNQ_HTTP_GET, "/healthz", synq_api_healthz},
    {SYNQ_HTTP_POST, "/v1/jobs", synq_api_jobs_create},
    {SYNQ_HTTP_GET, "/v1/jobs", synq_api_jobs_list},
    {SYNQ_HTTP_POST, "/v1/jobs/bulk", synq_api_jobs_bulk},
    {SYNQ_HTTP_GET, "/v1/jobs/{}", synq_api_jobs_get},
    {SYNQ_HTTP_DELETE, "/v1/jobs/{}", synq_api_jobs_delete},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/ack", synq_api_jobs_ack},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/fail", synq_api_jobs_fail},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/heartbeat", synq_api_jobs_heartbeat},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/retry", synq_api_jobs_retry},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/cancel", synq_api_jobs_cancel},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/progress", synq_api_jobs_progress},
    {SYNQ_HTTP_POST, "/v1/jobs/{}/log", synq_api_jobs_log},
    {SYNQ_HTTP_GET, "/v1/jobs/{}/events", synq_api_jobs_events},
    {SYNQ_HTTP_GET, "/v1/jobs/{}/deliveries", synq_api_jobs_deliveries},
    {SYNQ_HTTP_GET, "/v1/deliveries/{}", synq_api_deliveries_get},
    {SYNQ_HTTP_POST, "/v1/deliveries/{}/replay", synq_api_deliveries_replay},
    {SYNQ_HTTP_POST, "/v1/batches", synq_api_batches_create},
    {SYNQ_HTTP_GET, "/v1/batches/{}", synq_api_batches_get},
    {SYNQ_HTTP_POST, "/v1/batches/{}/jobs", synq_api_batches_add},
    {SYNQ_HTTP_POST, "/v1/batches/{}/commit", synq_api_batches_commit},
    {SYNQ_HTTP_POST, "/v1/fetch", synq_api_jobs_fetch},
    {SYNQ_HTTP_POST, "/v1/ack", synq_api_jobs_ack_many},
    {SYNQ_HTTP_GET, "/v1/queues", synq_api_queues_list},
    {SYNQ_HTTP_GET, "/v1/queues/{}", synq_api_queues_get},
    {SYNQ_HTTP_PUT, "/v1/queues/{}", synq_api_queues_put},
    {SYNQ_HTTP_POST, "/v1/queues/{}/pause", synq_api_queues_pause},
    {SYNQ_HTTP_POST, "/v1/queues/{}/resume", synq_api_queues_resume},
    {SYNQ_HTTP_DELETE, "/v1/queues/{}", synq_api_queues_purge},
    {SYNQ_HTTP_GET, "/v1/schedules", synq_api_schedules_list},
    {SYNQ_HTTP_POST, "/v1/schedules/import", synq_api_schedules_import},
    {SYNQ_HTTP_PUT, "/v1/schedules/{}", synq_api_schedules_put},
    {SYNQ_HTTP_GET, "/v1/schedules/{}", synq_api_schedules_get},
    {SYNQ_HTTP_DELETE, "/v1/schedules/{}", synq_api_schedules_delete},
    {SYNQ_HTTP_POST, "/v1/schedules/{}/pause", synq_api_schedules_pause},
    {SYNQ_HTTP_POST, "/v1/schedules/{}/resume", synq_api_schedules_resume},
    {SYNQ_HTTP_POST, "/v1/schedules/{}/trigger", synq_api_schedules_trigger},
    {SYNQ_HTTP_GET, "/v1/schedules/{}/next", synq_api_schedules_next},
    {SYNQ_HTTP_GET, "/v1/cron/next", synq_api_cron_next},
    {SYNQ_HTTP_GET, "/v1/channels", synq_api_channels_list},
    {SYNQ_HTTP_POST, "/v1/publish", synq_api_publish_many},
    {SYNQ_HTTP_POST, "/v1/channels/{}/messages", synq_api_channels_publish},
    {SYNQ_HTTP_GET, "/v1/channels/{}/messages", synq_api_channels_history},
    {SYNQ_HTTP_DELETE, "/v1/channels/{}/messages", synq_api_channels_reset},
    {SYNQ_HTTP_GET, "/v1/channels/{}/events", synq_api_channels_events},
    {SYNQ_HTTP_GET, "/v1/channels/{}/presence", synq_api_channels_presence},
    {SYNQ_HTTP_GET, "/v1/channels/{}/presence_stats", synq_api_channels_presence_stats},
    {SYNQ_HTTP_GET, "/v1/events", synq_api_events},
    {SYNQ_HTTP_GET, "/connection/websocket", synq_api_websocket},
    {SYNQ_HTTP_GET, "/v1/ws", synq_api_websocket},
    {SYNQ_HTTP_GET, "/v1/docs/{}", synq_api_docs_changes},
    {SYNQ_HTTP_GET, "/v1/docs/{}/{}", synq_api_docs_get},
    {SYNQ_HTTP_PUT, "/v1/docs/{}/{}", synq_api_docs_put},
    {SYNQ_HTTP_PATCH, "/v1/docs/{}/{}", synq_api_docs_patch},
    {SYNQ_HTTP_DELETE, "/v1/docs/{}/{}", synq_api_docs_delete},
    {SYNQ_HTTP_POST, "/v1/docs/{}/{}/ops", synq_api_docs_ops},
    {SYNQ_HTTP_GET, "/v1/workers", synq_api_workers_list},
    {SYNQ_HTTP_POST, "/v1/workers/{}/quiet", synq_api_workers_quiet},
    {SYNQ_HTTP_POST, "/v1/workers/{}/terminate", synq_api_workers_terminate},
};

static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                           "OPTIONS", "OTHER"};

/* Matches path against pattern, filling params. */
static bool match(const char *pattern, const char *path, synq_api_ctx_t *ctx)
{
    int np = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            /* RFC 3986 §2.1: a segment may be percent-encoded ("my%2Eid") */
            if (len == 0 || np == SYNQ_API_MAX_PARAMS ||
                synq_http_pct_decode(path, len, ctx->params[np], sizeof ctx->params[0], false) <= 0)
                return false;
            np++;
            path += len;
            pattern += 2;
        } else if (*pattern == *path) {
            pattern++, path++;
        } else {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

void synq_api_handle(synq_http_req_t *req, void *arg)
{
    synq_api_t *api = arg;
    synq_api_ctx_t ctx = {.api = api, .engine = api->engine, .req = req};
    /* HEAD is served by the GET route without the body */
    synq_http_method_t m = req->method == SYNQ_HTTP_HEAD ? SYNQ_HTTP_GET : req->method;
    char allow[128] = "";
    bool path_known = false;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(routes); i++) {
        if (!match(routes[i].pattern, req->path, &ctx)) continue;
        if (routes[i].method == m) {
            routes[i].handler(&ctx);
            return;
        }
        path_known = true;
        if (!strstr(allow, method_names[routes[i].method])) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, method_names[routes[i].method]);
            if (routes[i].method == SYNQ_HTTP_GET) strcat(allow, ", HEAD");
        }
    }
    if (!path_known) {
        synq_api_error(&ctx, 404, "not_found", "no such endpoint", NULL);
        return;
    }
    char hdr[160];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_printf(&b, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"%s is not "
                        "allowed here; allowed: %s\"}}",
                    req->method_name ? req->method_name : "method", allow);
    synq_http_respond(req, 405, "application/json", hdr, b.data, b.len);
    synq_buf_release(&b);
}

synq_api_t *synq_api_new(synq_engine_t *engine, synq_sched_t *sched)
{
    synq_api_t *api = synq_calloc(1, sizeof *api);
    api->engine = engine;
    api->sched = sched;
    synq_api_results_init(api);
    synq_api_job_streams_init(api);
    return api;
}

void synq_api_set_callbacks(synq_api_t *api, synq_callbacks_t *callbacks)
{
    api->callbacks = callbacks;
}

void synq_api_set_docs(synq_api_t *api, synq_docs_t *docs)
{
    api->docs = docs;
}

void synq_api_set_faktory(synq_api_t *api, struct synq_faktory_s *faktory)
{
    api->faktory = faktory;
}

void synq_api_set_livesync(synq_api_t *api, synq_hub_t *hub, const synq_api_config_t *cfg)
{
    api->hub = hub;
    free(api->api_key);
    free(api->jwt_secret);
    api->api_key = cfg->api_key ? synq_strdup(cfg->api_key) : NULL;
    api->jwt_secret = cfg->jwt_secret ? synq_strdup(cfg->jwt_secret) : NULL;
    synq_api_channel_streams_init(api);
    synq_api_centrifuge_init(api, cfg);
}

void synq_api_close(synq_api_t *api)
{
    synq_api_centrifuge_close(api);
    synq_api_channel_streams_close(api);
    synq_api_job_streams_close(api);
    synq_api_results_close(api);
}

void synq_api_free(synq_api_t *api)
{
    synq_api_close(api);
    free(api->api_key);
    free(api->jwt_secret);
    free(api);
}

/* ---- reply helpers -------------------------------------------------------- */

void synq_api_reply(synq_api_ctx_t *ctx, int status, const synq_buf_t *body)
{
    synq_http_respond(ctx->req, status, "application/json", NULL, body ? body->data : "",
                      body ? body->len : 0);
}

typedef struct {
    synq_http_req_t *req;
    int status;
    synq_buf_t body;
} pending_t;

static void on_committed(int status, void *arg)
{
    pending_t *p = arg;
    if (status == 0)
        synq_http_respond(p->req, p->status, "application/json", NULL, p->body.data, p->body.len);
    else
        synq_http_respond_error(p->req, 503, "unavailable", "the store failed to commit", NULL);
    synq_buf_release(&p->body);
    free(p);
}

void synq_api_reply_committed(synq_api_ctx_t *ctx, int status, synq_buf_t *body)
{
    pending_t *p = synq_malloc(sizeof *p);
    p->req = ctx->req;
    p->status = status;
    p->body = *body;
    synq_buf_init(body);
    synq_engine_after_commit(ctx->engine, on_committed, p);
}

void synq_api_error(synq_api_ctx_t *ctx, int status, const char *code, const char *message,
                    const char *field)
{
    synq_http_respond_error(ctx->req, status, code, message, field);
}

void synq_api_engine_error(synq_api_ctx_t *ctx, int rc, const char *what)
{
    char msg[256];
    int64_t at;
    switch (rc) {
    case SYNQ_ENOTFOUND:
        /* a job id we pruned is gone (410), not unknown (404) */
        if (strcmp(what, "job") == 0 &&
            synq_engine_expired_at(ctx->engine, ctx->params[0], &at) == 0) {
            char ts[40], body[512];
            ts[synq_rfc3339_format(at, ts)] = '\0';
            snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"expired\",\"message\":\"job %s expired at %s and "
                     "was pruned\",\"expired_at\":\"%s\"}}",
                     ctx->params[0], ts, ts);
            synq_http_respond(ctx->req, 410, "application/json", NULL, body, strlen(body));
            break;
        }
        snprintf(msg, sizeof msg, "%s not found", what);
        synq_api_error(ctx, 404, "not_found", msg, NULL);
        break;
    case SYNQ_ECANCELLED:
        synq_api_error(ctx, 409, "cancelled", "the job was cancelled while it ran; stop working on it",
                       NULL);
        break;
    case SYNQ_EINVAL:
        snprintf(msg, sizeof msg, "the %s request is invalid", what);
        synq_api_error(ctx, 422, "invalid_field", msg, NULL);
        break;
    case SYNQ_ELEASE:
        synq_api_error(ctx, 409, "lease_lost",
                       "the job is not active or is leased to another worker", NULL);
        break;
    case SYNQ_ECONFLICT:
        snprintf(msg, sizeof msg, "the %s's state does not allow this", what);
        synq_api_error(ctx, 409, "invalid_state", msg, NULL);
        break;
    default:
        synq_api_error(ctx, 503, "unavailable", synq_strerror(rc), NULL);
    }
}

json_t *synq_api_body(synq_api_ctx_t *ctx, bool required, bool *failed)
{
    synq_http_req_t *req = ctx->req;
    *failed = false;
    size_t i = 0;
    while (i < req->body.len && req->body.data[i] && strchr(" \t\r\n", req->body.data[i])) i++;
    if (i == req->body.len) {
        if (!required) return NULL;
        synq_api_error(ctx, 400, "malformed_json", "a JSON body is required", NULL);
        *failed = true;
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        char msg[300];
        snprintf(msg, sizeof msg, "body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        synq_api_error(ctx, 400, "malformed_json", msg, NULL);
        *failed = true;
    }
    return v;
}

void synq_api_invalid(synq_api_ctx_t *ctx, const char *prefix, const char *msg)
{
    char field[200] = "";
    const char *colon = strchr(msg, ':');
    size_t flen = colon ? (size_t)(colon - msg) : 0;
    if (flen >= 100) flen = 0;
    snprintf(field, sizeof field, "%s%.*s", prefix ? prefix : "", (int)flen, msg);
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", msg);
    synq_api_error(ctx, 422, "invalid_field", full, field[0] ? field : NULL);
}
