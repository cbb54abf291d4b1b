/* Callback delivery endpoints: a job's deliveries, one delivery, and a
 * manual replay. The deliveries themselves are engine/callback.c's. */
#include "api/internal.h"

#include "engine/callback.h"

/* GET /v1/jobs/{id}/deliveries: 404 for an unknown job, else
 * {"deliveries":[...]} (empty when it has none). */
void synq_api_jobs_deliveries(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_get(ctx->engine, ctx->params[0], &out);
    if (rc) {
        synq_api_engine_error(ctx, rc, "job");
        goto out;
    }
    out.len = 0;
    if (ctx->api->callbacks == NULL) {
        synq_buf_puts(&out, "{\"deliveries\":[]}");
        rc = 0;
    } else {
        rc = synq_callbacks_list(ctx->api->callbacks, ctx->params[0], &out);
    }
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
out:
    synq_buf_release(&out);
}

/* GET /v1/deliveries/{id} */
void synq_api_deliveries_get(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = ctx->api->callbacks ? synq_callbacks_get(ctx->api->callbacks, ctx->params[0], &out)
                                 : SYNQ_ENOTFOUND;
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "delivery");
    synq_buf_release(&out);
}

/* POST /v1/deliveries/{id}/replay: the delivery, pending and due now; the
 * answer waits for the commit that makes it so. */
void synq_api_deliveries_replay(synq_api_ctx_t *ctx)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = ctx->api->callbacks ? synq_callbacks_replay(ctx->api->callbacks, ctx->params[0], &out)
                                 : SYNQ_ENOTFOUND;
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "delivery");
    synq_buf_release(&out);
}
