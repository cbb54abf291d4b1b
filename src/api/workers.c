/* Faktory worker endpoints: list the workers connected over the Faktory
 * protocol with the jobs they hold, and tell one to go quiet or terminate
 * (it hears it in its next BEAT reply). */
#include "api/internal.h"

#include "proto/faktory.h"

#include <string.h>

static bool have_faktory(synq_api_ctx_t *ctx)
{
    if (ctx->api->faktory) return true;
    synq_api_error(ctx, 404, "not_found", "the Faktory listener is off (--faktory off)", NULL);
    return false;
}

void synq_api_workers_list(synq_api_ctx_t *ctx)
{
    if (!have_faktory(ctx)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    synq_faktory_workers_json(ctx->api->faktory, &out);
    synq_api_reply(ctx, 200, &out);
    synq_buf_release(&out);
}

static void signal_worker(synq_api_ctx_t *ctx, int state)
{
    if (!have_faktory(ctx)) return;
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_faktory_worker_signal(ctx->api->faktory, ctx->params[0], state, &out);
    if (rc)
        synq_api_engine_error(ctx, rc, "worker");
    else
        synq_api_reply(ctx, 200, &out);
    synq_buf_release(&out);
}

void synq_api_workers_quiet(synq_api_ctx_t *ctx)
{
    signal_worker(ctx, SYNQ_FAKTORY_QUIET);
}

void synq_api_workers_terminate(synq_api_ctx_t *ctx)
{
    signal_worker(ctx, SYNQ_FAKTORY_TERMINATE);
}
