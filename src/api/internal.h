/* Shared by the api/ handler files only: the request context, the route
 * handler type, and reply helpers. */
#ifndef SYNQ_API_INTERNAL_H
#define SYNQ_API_INTERNAL_H

#include "api/api.h"
#include "engine/sched.h"

#include <jansson.h>

#define SYNQ_API_MAX_PARAMS 2

typedef struct synq_job_streams_s synq_job_streams_t;
typedef struct synq_callbacks_s synq_callbacks_t;
typedef struct synq_results_s synq_results_t;
typedef struct synq_hub_s synq_hub_t;
typedef struct synq_docs_s synq_docs_t;
typedef struct synq_channel_streams_s synq_channel_streams_t;

struct synq_api_s {
    synq_engine_t *engine;
    synq_sched_t *sched;
    synq_callbacks_t *callbacks; /* callback deliveries (engine/callback.h) */
    synq_job_streams_t *streams; /* SSE job event streams (api/job_events.c) */
    synq_results_t *results;     /* requests waiting for a job to finish (api/jobs.c) */
    synq_hub_t *hub;             /* LiveSync channels (engine/hub.h) */
    synq_docs_t *docs;           /* live documents (engine/docs.h) */
    synq_channel_streams_t *chstreams; /* SSE and long-poll subscribers (api/channels.c) */
    char *api_key;               /* required as "Authorization: Bearer" on publishing and
                                  * document endpoints; NULL = open */
    char *jwt_secret;            /* HS256 secret of subscriber tokens; NULL = none */
    struct synq_centrifuge_s *centrifuge; /* WebSocket clients (proto/centrifuge.h) */
    struct synq_faktory_s *faktory;       /* Faktory protocol workers, or NULL (off) */
};

typedef struct synq_api_ctx_s {
    synq_api_t *api;
    synq_engine_t *engine;
    synq_http_req_t *req;
    char params[SYNQ_API_MAX_PARAMS][260]; /* {id}, {q}, {channel} path segments */
} synq_api_ctx_t;

typedef void (*synq_api_handler_cb)(synq_api_ctx_t *ctx);

/* Replies now with status and JSON body (body may be NULL for 204). */
void synq_api_reply(synq_api_ctx_t *ctx, int status, const synq_buf_t *body);
/* Replies after the current transaction commits; takes the body's bytes. */
void synq_api_reply_committed(synq_api_ctx_t *ctx, int status, synq_buf_t *body);
void synq_api_error(synq_api_ctx_t *ctx, int status, const char *code, const char *message,
                    const char *field);
/* Maps an engine error to its status and code, and replies. */
void synq_api_engine_error(synq_api_ctx_t *ctx, int rc, const char *what);
/* Parses the request body as JSON. An empty body gives NULL without an
 * error unless required; a malformed one replies 400 and sets *failed. */
json_t *synq_api_body(synq_api_ctx_t *ctx, bool required, bool *failed);
/* Replies 422 for a message of the form "field: problem", prefixing the
 * field with prefix (e.g. "jobs[3].") when given. */
void synq_api_invalid(synq_api_ctx_t *ctx, const char *prefix, const char *msg);

/* handlers: api/jobs.c */
void synq_api_jobs_create(synq_api_ctx_t *ctx);
void synq_api_jobs_bulk(synq_api_ctx_t *ctx);
void synq_api_jobs_list(synq_api_ctx_t *ctx);
void synq_api_jobs_get(synq_api_ctx_t *ctx);
void synq_api_jobs_delete(synq_api_ctx_t *ctx);
void synq_api_jobs_ack(synq_api_ctx_t *ctx);
void synq_api_jobs_fail(synq_api_ctx_t *ctx);
void synq_api_jobs_heartbeat(synq_api_ctx_t *ctx);
void synq_api_jobs_retry(synq_api_ctx_t *ctx);
void synq_api_jobs_cancel(synq_api_ctx_t *ctx);
void synq_api_jobs_fetch(synq_api_ctx_t *ctx);
void synq_api_jobs_ack_many(synq_api_ctx_t *ctx);
void synq_api_jobs_progress(synq_api_ctx_t *ctx);
void synq_api_jobs_log(synq_api_ctx_t *ctx);
/* Result waiting and idempotency state (api/jobs.c). */
void synq_api_results_init(synq_api_t *api);
void synq_api_results_close(synq_api_t *api);
/* Idempotency-Key: true when the request was answered (replay, mismatch,
 * in flight, bad key); else *key (NULL = none) and fp for _record. */
bool synq_api_idem_check(synq_api_ctx_t *ctx, const char **key, char fp[65]);
void synq_api_idem_record(synq_api_ctx_t *ctx, const char *key, const char *fp, int status,
                          const char *job_id, const synq_buf_t *body);
/* Parses n jobs (arr is one object unless many) with the request's
 * traceparent; false after replying 422. */
bool synq_api_jobs_parse(synq_api_ctx_t *ctx, const json_t *arr, size_t n, bool many,
                         const char *prefix_name, synq_job_t **jobs);
void synq_api_enqueue_error(synq_api_ctx_t *ctx, int rc, synq_job_t **jobs, size_t bad,
                            bool many, const char *prefix_name);
/* handlers: api/workers.c */
void synq_api_workers_list(synq_api_ctx_t *ctx);
void synq_api_workers_quiet(synq_api_ctx_t *ctx);
void synq_api_workers_terminate(synq_api_ctx_t *ctx);
/* handlers: api/batches.c */
void synq_api_batches_create(synq_api_ctx_t *ctx);
void synq_api_batches_get(synq_api_ctx_t *ctx);
void synq_api_batches_add(synq_api_ctx_t *ctx);
void synq_api_batches_commit(synq_api_ctx_t *ctx);
/* api/queues.c */
void synq_api_queues_get(synq_api_ctx_t *ctx);
void synq_api_queues_put(synq_api_ctx_t *ctx);
/* Shuts the API's long-lived requests down (waits, streams). */
void synq_api_close(synq_api_t *api);
/* handlers: api/queues.c */
void synq_api_queues_list(synq_api_ctx_t *ctx);
void synq_api_queues_pause(synq_api_ctx_t *ctx);
void synq_api_queues_resume(synq_api_ctx_t *ctx);
void synq_api_queues_purge(synq_api_ctx_t *ctx);
void synq_api_healthz(synq_api_ctx_t *ctx);
void synq_api_schedules_put(synq_api_ctx_t *ctx);
void synq_api_schedules_list(synq_api_ctx_t *ctx);
void synq_api_schedules_get(synq_api_ctx_t *ctx);
void synq_api_schedules_delete(synq_api_ctx_t *ctx);
void synq_api_schedules_pause(synq_api_ctx_t *ctx);
void synq_api_schedules_resume(synq_api_ctx_t *ctx);
void synq_api_schedules_trigger(synq_api_ctx_t *ctx);
void synq_api_schedules_next(synq_api_ctx_t *ctx);
void synq_api_schedules_import(synq_api_ctx_t *ctx);
void synq_api_cron_next(synq_api_ctx_t *ctx);
/* handlers: api/job_events.c (SSE stream of one job) */
void synq_api_jobs_events(synq_api_ctx_t *ctx);
void synq_api_job_streams_init(synq_api_t *api);
/* Ends every open stream (shutdown) and frees the registry. */
void synq_api_job_streams_close(synq_api_t *api);
/* API key check for publishing and document writes: true when allowed (no
 * key configured, or "Authorization: Bearer <key>" matches); else replies
 * 401 and returns false. */
bool synq_api_require_key(synq_api_ctx_t *ctx);
/* handlers: api/channels.c */
void synq_api_channels_publish(synq_api_ctx_t *ctx);
void synq_api_publish_many(synq_api_ctx_t *ctx);
void synq_api_channels_reset(synq_api_ctx_t *ctx);
void synq_api_channels_list(synq_api_ctx_t *ctx);
void synq_api_channels_history(synq_api_ctx_t *ctx);
void synq_api_channels_presence(synq_api_ctx_t *ctx);
void synq_api_channels_presence_stats(synq_api_ctx_t *ctx);
void synq_api_channels_events(synq_api_ctx_t *ctx);
void synq_api_events(synq_api_ctx_t *ctx);
void synq_api_channel_streams_init(synq_api_t *api);
/* Ends every SSE stream and waiting long-poll (shutdown). */
void synq_api_channel_streams_close(synq_api_t *api);
/* the WebSocket endpoint (Centrifugo client protocol, proto/centrifuge.c) */
void synq_api_websocket(synq_api_ctx_t *ctx);
void synq_api_centrifuge_init(synq_api_t *api, const synq_api_config_t *cfg);
/* Disconnects every WebSocket client (shutdown: code 3001, reconnect). */
void synq_api_centrifuge_close(synq_api_t *api);
/* handlers: api/docs.c */
void synq_api_docs_get(synq_api_ctx_t *ctx);
void synq_api_docs_put(synq_api_ctx_t *ctx);
void synq_api_docs_patch(synq_api_ctx_t *ctx);
void synq_api_docs_delete(synq_api_ctx_t *ctx);
void synq_api_docs_ops(synq_api_ctx_t *ctx);
void synq_api_docs_changes(synq_api_ctx_t *ctx);
/* handlers: api/deliveries.c */
void synq_api_jobs_deliveries(synq_api_ctx_t *ctx);
void synq_api_deliveries_get(synq_api_ctx_t *ctx);
void synq_api_deliveries_replay(synq_api_ctx_t *ctx);

#endif
