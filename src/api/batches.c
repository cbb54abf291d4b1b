/* Batch endpoints: create (atomically, with its jobs), add jobs to an open
 * batch, commit, and status. The engine keeps the counts and runs the
 * on_complete / on_success jobs once. */
#include "api/internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BATCH_JOBS 10000

/* Validates and normalises the batch's definition: description,
 * on_complete, on_success (job objects), callback. Returns the stored
 * JSON text or NULL after replying 422. */
static char *batch_spec(synq_api_ctx_t *ctx, const json_t *body)
{
    json_t *spec = json_object();
    const json_t *v;
    char err[256];
    if ((v = json_object_get(body, "description")) && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) > 1024) {
            synq_api_error(ctx, 422, "invalid_field",
                           "description: must be a string of at most 1024 bytes", "description");
            goto fail;
        }
        json_object_set(spec, "description", (json_t *)v);
    }
    const char *const follow[] = {"on_complete", "on_success"};
    for (int i = 0; i < 2; i++) {
        if (!(v = json_object_get(body, follow[i])) || json_is_null(v)) continue;
        synq_job_t *j = synq_job_from_json(v, 0, err, sizeof err);
        if (j == NULL) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "%s.", follow[i]);
            synq_api_invalid(ctx, prefix, err);
            goto fail;
        }
        synq_job_free(j);
        json_object_set(spec, follow[i], (json_t *)v);
    }
    if ((v = json_object_get(body, "callback")) && !json_is_null(v)) {
        char *cb = NULL;
        if (synq_job_callback_parse(v, &cb, err, sizeof err)) {
            synq_api_invalid(ctx, NULL, err);
            goto fail;
        }
        json_object_set_new(spec, "callback", json_loads(cb, 0, NULL));
        free(cb);
    }
    char *t = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    return t;
fail:
    json_decref(spec);
    return NULL;
}

/* Reads body.jobs (optional when allow_empty). -1 after replying. */
static long batch_jobs(synq_api_ctx_t *ctx, const json_t *body, bool allow_empty,
                       synq_job_t ***out)
{
    const json_t *arr = json_object_get(body, "jobs");
    *out = NULL;
    if ((arr == NULL || json_is_null(arr)) && allow_empty) return 0;
    if (!json_is_array(arr) || json_array_size(arr) > MAX_BATCH_JOBS ||
        (json_array_size(arr) == 0 && !allow_empty)) {
        synq_api_error(ctx, 422, "invalid_field",
                       allow_empty ? "jobs: must be an array of at most 10000 jobs"
                                   : "jobs: must hold 1 to 10000 jobs",
                       "jobs");
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n == 0) return 0;
    *out = synq_calloc(n, sizeof **out);
    if (!synq_api_jobs_parse(ctx, arr, n, true, "jobs", *out)) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return (long)n;
}

static void free_jobs(synq_job_t **jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) synq_job_free(jobs[i]);
    free(jobs);
}

void synq_api_batches_create(synq_api_ctx_t *ctx)
{
    const char *key;
    char fp[65];
    if (synq_api_idem_check(ctx, &key, fp)) return;
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    synq_job_t **jobs = NULL;
    char *spec = NULL;
    if (!json_is_object(body)) {
        synq_api_error(ctx, 422, "invalid_field", "body: must be a JSON object", NULL);
        goto out;
    }
    const json_t *open = json_object_get(body, "open");
    if (open && !json_is_boolean(open) && !json_is_null(open)) {
        synq_api_error(ctx, 422, "invalid_field", "open: must be true or false", "open");
        goto out;
    }
    bool is_open = json_is_true(open);
    if (!(spec = batch_spec(ctx, body))) goto out;
    long n = batch_jobs(ctx, body, is_open, &jobs);
    if (n < 0) goto out;
    synq_buf_t res;
    synq_buf_init(&res);
    size_t bad = 0;
    int rc = synq_engine_batch_create(ctx->engine, spec, is_open, jobs, (size_t)n, &res, &bad);
    if (rc == 0) {
        free(jobs); /* the engine owns the jobs */
        jobs = NULL;
        synq_api_idem_record(ctx, key, fp, 201, NULL, &res);
        synq_api_reply_committed(ctx, 201, &res);
    } else {
        synq_api_enqueue_error(ctx, rc, jobs, bad, true, "jobs");
        free_jobs(jobs, (size_t)n);
        jobs = NULL;
    }
    synq_buf_release(&res);
out:
    free(spec);
    free(jobs);
    json_decref(body);
}

void synq_api_batches_get(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_batch_get(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "batch");
    synq_buf_release(&out);
}

void synq_api_batches_add(synq_api_ctx_t *ctx)
{
    int open = synq_engine_batch_open(ctx->engine, ctx->params[0]);
    if (open == SYNQ_ECONFLICT) {
        synq_api_error(ctx, 409, "batch_committed", "the batch is committed: no jobs can be added",
                       NULL);
        return;
    }
    if (open != 0) {
        synq_api_engine_error(ctx, open, "batch");
        return;
    }
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    synq_job_t **jobs = NULL;
    long n = json_is_object(body) ? batch_jobs(ctx, body, false, &jobs)
                                  : (synq_api_error(ctx, 422, "invalid_field",
                                                    "body: must be an object {jobs: [...]}", NULL),
                                     -1);
    if (n > 0) {
        synq_buf_t res;
        synq_buf_init(&res);
        size_t bad = 0;
        int rc = synq_engine_batch_add(ctx->engine, ctx->params[0], jobs, (size_t)n, &res, &bad);
        if (rc == 0) {
            free(jobs);
            synq_api_reply_committed(ctx, 201, &res);
        } else {
            /* the batch is open (checked above): a conflict is a job id,
             * not found a dependency */
            synq_api_enqueue_error(ctx, rc, jobs, bad, true, "jobs");
            free_jobs(jobs, (size_t)n);
        }
        synq_buf_release(&res);
    }
    json_decref(body);
}

void synq_api_batches_commit(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_batch_commit(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "batch"); /* 409 when done already */
    synq_buf_release(&out);
}
