/* Queue endpoints (list, pause, resume, purge) and the health check. */
#include "api/internal.h"

#include "core/id.h"

#include <stdio.h>
#include <string.h>

void synq_api_healthz(synq_api_ctx_t *ctx)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    synq_http_respond(ctx->req, 200, "application/json", NULL, ok, sizeof ok - 1);
}

void synq_api_queues_list(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    synq_engine_queues(ctx->engine, &out);
    synq_api_reply(ctx, 200, &out);
    synq_buf_release(&out);
}

static bool valid_name(synq_api_ctx_t *ctx)
{
    const char *q = ctx->params[0];
    if (synq_id_valid(q, strlen(q))) return true;
    synq_api_error(ctx, 422, "invalid_field", "queue: must be 1-128 characters of A-Z a-z 0-9 _ - . :",
                   "queue");
    return false;
}

static void set_paused(synq_api_ctx_t *ctx, bool paused)
{
    if (!valid_name(ctx)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_engine_queue_pause(ctx->engine, ctx->params[0], paused, &out);
    synq_api_reply_committed(ctx, 200, &out);
}

void synq_api_queues_pause(synq_api_ctx_t *ctx)
{
    set_paused(ctx, true);
}

void synq_api_queues_resume(synq_api_ctx_t *ctx)
{
    set_paused(ctx, false);
}

void synq_api_queues_purge(synq_api_ctx_t *ctx)
{
    if (!valid_name(ctx)) return;
    int64_t n = 0;
    int rc = synq_engine_queue_purge(ctx->engine, ctx->params[0], &n);
    if (rc) {
        synq_api_engine_error(ctx, rc, "queue");
        return;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_printf(&out, "{\"purged\":%lld}", (long long)n);
    synq_api_reply_committed(ctx, 200, &out);
}

void synq_api_queues_get(synq_api_ctx_t *ctx)
{
    if (!valid_name(ctx)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_queue_get(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "queue");
    synq_buf_release(&out);
}

/* PUT /v1/queues/{q}: replaces the queue's settings (max_active, rate,
 * keep_for, callback); an empty object clears them. */
void synq_api_queues_put(synq_api_ctx_t *ctx)
{
    if (!valid_name(ctx)) return;
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    char err[256];
    synq_buf_t out;
    synq_buf_init(&out);
    if (synq_engine_queue_configure(ctx->engine, ctx->params[0], body, err, sizeof err, &out) == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_invalid(ctx, NULL, err);
    synq_buf_release(&out);
    json_decref(body);
}
