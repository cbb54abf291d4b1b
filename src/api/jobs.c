/* Job endpoints: enqueue (one and bulk), fetch (with long-poll), ack, fail,
 * heartbeat, bulk ack, get, list, retry, cancel, delete. */
#include "api/internal.h"

#include "engine/executor.h"

#include "core/id.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BULK 10000
#define MAX_FETCH 1000
#define MAX_WAIT_US (300LL * SYNQ_US_PER_SEC)
#define MAX_WORKER_LEN 256

static void enqueue(synq_api_ctx_t *ctx, bool bulk)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const json_t *arr = body;
    if (bulk && json_is_object(body)) arr = json_object_get(body, "jobs");
    if (bulk && !json_is_array(arr)) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must be an array of jobs", "jobs");
        goto out;
    }
    size_t n = bulk ? json_array_size(arr) : 1;
    if (bulk && (n == 0 || n > MAX_BULK)) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must hold 1 to 10000 jobs", "jobs");
        goto out;
    }
    synq_job_t **jobs = synq_calloc(n, sizeof *jobs);
    int64_t now = synq_time_now_us();
    size_t made = 0;
    for (; made < n; made++) {
        char err[256];
        jobs[made] = synq_job_from_json(bulk ? json_array_get(arr, made) : body, now, err, sizeof err);
        if (jobs[made] && synq_executor_job_check(jobs[made]->type, jobs[made]->args, err,
                                                  sizeof err) != 0) {
            synq_job_free(jobs[made]);
            jobs[made] = NULL;
        }
        if (jobs[made] == NULL) {
            char prefix[32] = "";
            if (bulk) snprintf(prefix, sizeof prefix, "jobs[%zu].", made);
            synq_api_invalid(ctx, prefix, err);
            break;
        }
    }
    if (made == n) {
        synq_buf_t out;
        synq_buf_init(&out);
        if (bulk) synq_buf_puts(&out, "{\"jobs\":");
        size_t bad = 0;
        int rc = synq_engine_enqueue(ctx->engine, jobs, n, bulk, &out, &bad);
        if (rc == 0) {
            if (bulk) synq_buf_putc(&out, '}');
            synq_api_reply_committed(ctx, 201, &out);
            made = 0; /* the engine owns them now */
        } else if (rc == SYNQ_ECONFLICT) {
            char msg[200], field[32] = "id";
            snprintf(msg, sizeof msg, "a job with id %s exists already", jobs[bad]->id);
            if (bulk) snprintf(field, sizeof field, "jobs[%zu].id", bad);
            synq_http_respond_error(ctx->req, 409, "conflict", msg, field);
        } else {
            synq_api_engine_error(ctx, rc, "job");
        }
        synq_buf_release(&out);
    }
    for (size_t i = 0; i < made; i++) synq_job_free(jobs[i]);
    free(jobs);
out:
    json_decref(body);
}

void synq_api_jobs_create(synq_api_ctx_t *ctx)
{
    enqueue(ctx, false);
}

void synq_api_jobs_bulk(synq_api_ctx_t *ctx)
{
    enqueue(ctx, true);
}

/* Reads the optional "worker" member; replies 422 and returns false if bad. */
static bool worker_field(synq_api_ctx_t *ctx, const json_t *body, const char **worker)
{
    const json_t *w = body ? json_object_get(body, "worker") : NULL;
    *worker = "";
    if (w == NULL || json_is_null(w)) return true;
    if (!json_is_string(w) || json_string_length(w) > MAX_WORKER_LEN) {
        synq_api_error(ctx, 422, "invalid_field", "worker: must be a string of at most 256 bytes",
                       "worker");
        return false;
    }
    *worker = json_string_value(w);
    return true;
}

static bool object_body(synq_api_ctx_t *ctx, json_t *body)
{
    if (body == NULL || json_is_object(body)) return true;
    synq_api_error(ctx, 422, "invalid_field", "body: must be a JSON object", NULL);
    return false;
}

/* ---- fetch --------------------------------------------------------------- */

static void on_fetch_done(const synq_buf_t *jobs, int n, void *arg)
{
    synq_http_req_t *req = arg;
    if (n == 0) {
        synq_http_respond(req, 204, NULL, NULL, NULL, 0);
        return;
    }
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "{\"jobs\":");
    synq_buf_append(&b, jobs->data, jobs->len);
    synq_buf_putc(&b, '}');
    synq_http_respond(req, 200, "application/json", NULL, b.data, b.len);
    synq_buf_release(&b);
}

static void on_fetch_abort(synq_http_req_t *req, void *arg)
{
    synq_engine_t *e = arg;
    synq_fetch_waiter_t *w = req->data;
    synq_engine_fetch_cancel(e, w);
    synq_http_respond(req, 204, NULL, NULL, NULL, 0); /* only frees: the client is gone */
}

void synq_api_jobs_fetch(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *queues[32];
    size_t nq = 0;
    int max = 1;
    int64_t wait_us = 0;
    const char *worker;
    const json_t *v;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    if (body && (v = json_object_get(body, "queues")) && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 32) {
            synq_api_error(ctx, 422, "invalid_field", "queues: must be an array of 1 to 32 names",
                           "queues");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *q = json_array_get(v, i);
            if (!json_is_string(q) || !synq_id_valid(json_string_value(q), json_string_length(q))) {
                synq_api_error(ctx, 422, "invalid_field",
                               "queues: each must be 1-128 characters of A-Z a-z 0-9 _ - . :",
                               "queues");
                goto out;
            }
            queues[nq++] = json_string_value(q);
        }
    } else {
        queues[nq++] = "default";
    }
    if (body && (v = json_object_get(body, "max")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_FETCH) {
            synq_api_error(ctx, 422, "invalid_field", "max: must be an integer from 1 to 1000",
                           "max");
            goto out;
        }
        max = (int)json_integer_value(v);
    }
    if (body && (v = json_object_get(body, "wait")) && !json_is_null(v)) {
        bool ok = false;
        if (json_is_string(v))
            ok = synq_duration_parse(json_string_value(v), json_string_length(v), &wait_us) == 0;
        else if (json_is_number(v) && json_number_value(v) >= 0)
            ok = true, wait_us = (int64_t)(json_number_value(v) * SYNQ_US_PER_SEC);
        if (!ok || wait_us > MAX_WAIT_US) {
            synq_api_error(ctx, 422, "invalid_field", "wait: must be a duration of at most 5m",
                           "wait");
            goto out;
        }
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int n = synq_engine_fetch(ctx->engine, queues, nq, max, worker, &out);
    if (n > 0 || wait_us == 0) {
        on_fetch_done(&out, n, ctx->req);
    } else {
        synq_http_req_t *req = ctx->req;
        req->data = synq_engine_fetch_wait(ctx->engine, queues, nq, max, worker,
                                           (uint64_t)(wait_us / 1000), on_fetch_done, req);
        synq_http_req_on_abort(req, on_fetch_abort, ctx->engine);
    }
    synq_buf_release(&out);
out:
    json_decref(body);
}

/* ---- settle ------------------------------------------------------------- */

static char *dump_or_null(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

void synq_api_jobs_ack(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker;
    if (object_body(ctx, body) && worker_field(ctx, body, &worker)) {
        char *result = dump_or_null(body ? json_object_get(body, "result") : NULL);
        synq_buf_t out;
        synq_buf_init(&out);
        int rc = synq_engine_ack(ctx->engine, ctx->params[0], worker, result, &out);
        if (rc == 0)
            synq_api_reply_committed(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
        free(result);
    }
    json_decref(body);
}

static bool opt_string(synq_api_ctx_t *ctx, const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return true;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "%s: must be a string", key);
    synq_api_error(ctx, 422, "invalid_field", msg, key);
    return false;
}

void synq_api_jobs_fail(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker, *message, *type;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    const json_t *src = body;
    json_t *inner = body ? json_object_get(body, "error") : NULL;
    if (json_is_object(inner)) src = inner;
    json_t *empty = json_object();
    if (src == NULL) src = empty;
    if (opt_string(ctx, src, "message", &message) && opt_string(ctx, src, "type", &type)) {
        char *bt = dump_or_null(json_object_get(src, "backtrace"));
        synq_buf_t out;
        synq_buf_init(&out);
        int rc = synq_engine_fail(ctx->engine, ctx->params[0], worker,
                                  message ? message : "failed", type, bt, &out);
        if (rc == 0)
            synq_api_reply_committed(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
        free(bt);
    }
    json_decref(empty);
out:
    json_decref(body);
}

void synq_api_jobs_heartbeat(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker;
    if (object_body(ctx, body) && worker_field(ctx, body, &worker)) {
        synq_buf_t out;
        synq_buf_init(&out);
        /* not awaited: a lost heartbeat costs at most a re-delivery */
        int rc = synq_engine_heartbeat(ctx->engine, ctx->params[0], worker, &out);
        if (rc == 0)
            synq_api_reply(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
    }
    json_decref(body);
}

void synq_api_jobs_ack_many(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const char *worker;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    const json_t *jobs = json_object_get(body, "jobs");
    if (!json_is_array(jobs) || json_array_size(jobs) > MAX_BULK) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must be an array of at most 10000",
                       "jobs");
        goto out;
    }
    /* validate all entries before settling any */
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *it = json_array_get(jobs, i);
        const json_t *id = json_is_object(it) ? json_object_get(it, "id") : NULL;
        if (!json_is_string(id)) {
            char field[48], msg[96];
            snprintf(field, sizeof field, "jobs[%zu].id", i);
            snprintf(msg, sizeof msg, "%s: required string", field);
            synq_api_error(ctx, 422, "invalid_field", msg, field);
            goto out;
        }
    }
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_puts(&out, "{\"results\":[");
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *it = json_array_get(jobs, i);
        const char *id = json_string_value(json_object_get(it, "id"));
        char *result = dump_or_null(json_object_get(it, "result"));
        int rc = synq_engine_ack(ctx->engine, id, worker, result, NULL);
        free(result);
        if (i) synq_buf_putc(&out, ',');
        synq_buf_puts(&out, "{\"id\":");
        synq_buf_json_str(&out, id, strlen(id));
        if (rc == 0)
            synq_buf_puts(&out, ",\"ok\":true}");
        else if (rc == SYNQ_ENOTFOUND)
            synq_buf_puts(&out, ",\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":"
                                "\"job not found\"}}");
        else
            synq_buf_puts(&out, ",\"ok\":false,\"error\":{\"code\":\"lease_lost\",\"message\":"
                                "\"the job is not active or is leased to another worker\"}}");
    }
    synq_buf_puts(&out, "]}");
    synq_api_reply_committed(ctx, 200, &out);
    synq_buf_release(&out);
out:
    json_decref(body);
}

/* ---- inspection and admin --------------------------------------------------- */

void synq_api_jobs_get(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_get(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

void synq_api_jobs_list(synq_api_ctx_t *ctx)
{
    synq_http_req_t *req = ctx->req;
    char queue[160], type[300], state[32], limit[16], cursor[32];
    synq_job_filter_t f = {.state = -1, .limit = 50};
    if (synq_http_req_query(req, "queue", queue, sizeof queue) > 0) f.queue = queue;
    if (synq_http_req_query(req, "type", type, sizeof type) > 0) f.type = type;
    if (synq_http_req_query(req, "state", state, sizeof state) > 0) {
        synq_job_state_t s;
        if (synq_job_state_parse(state, &s)) {
            synq_api_error(ctx, 422, "invalid_field",
                           "state: must be one of scheduled, queued, active, retry, completed, "
                           "dead, cancelled",
                           "state");
            return;
        }
        f.state = (int)s;
    }
    if (synq_http_req_query(req, "limit", limit, sizeof limit) >= 0) {
        char *end;
        long l = strtol(limit, &end, 10);
        if (*end || end == limit || l < 1 || l > 1000) {
            synq_api_error(ctx, 422, "invalid_field", "limit: must be an integer from 1 to 1000",
                           "limit");
            return;
        }
        f.limit = (int)l;
    }
    if (synq_http_req_query(req, "cursor", cursor, sizeof cursor) > 0) {
        char *end;
        long long c = strtoll(cursor, &end, 10);
        if (*end || c < 1) {
            synq_api_error(ctx, 422, "invalid_field", "cursor: not a cursor from next_cursor",
                           "cursor");
            return;
        }
        f.before_seq = c;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_list(ctx->engine, &f, &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

static void admin(synq_api_ctx_t *ctx, int (*op)(synq_engine_t *, const char *, synq_buf_t *))
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = op(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

void synq_api_jobs_retry(synq_api_ctx_t *ctx)
{
    admin(ctx, synq_engine_retry);
}

/* Cancelling a running job is the job-features issue's business; here only
 * jobs that have not started can be cancelled. */
static int cancel_waiting(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    return synq_engine_cancel(e, id, 0, out);
}

void synq_api_jobs_cancel(synq_api_ctx_t *ctx)
{
    admin(ctx, cancel_waiting);
}

void synq_api_jobs_delete(synq_api_ctx_t *ctx)
{
    int rc = synq_engine_delete(ctx->engine, ctx->params[0]);
    if (rc) {
        synq_api_engine_error(ctx, rc, "job");
        return;
    }
    synq_buf_t none;
    synq_buf_init(&none);
    synq_api_reply_committed(ctx, 204, &none);
}
