/* The REST API: a route table mapping (method, path pattern) to handlers
 * that turn HTTP requests into engine calls and engine answers into JSON.
 * Replies to writes are sent after the write's group commit. */
#ifndef SYNQ_API_API_H
#define SYNQ_API_API_H

#include "engine/engine.h"
#include "engine/sched.h"
#include "net/http.h"

typedef struct synq_api_s synq_api_t;

/* engine and sched are borrowed and must outlive the API object. */
synq_api_t *synq_api_new(synq_engine_t *engine, synq_sched_t *sched);
/* Ends long-lived requests (result waits, event streams): call before the
 * HTTP server closes. synq_api_free calls it too. */
void synq_api_close(synq_api_t *api);
void synq_api_free(synq_api_t *api);
/* The callback deliveries object, for the deliveries endpoints. */
typedef struct synq_callbacks_s synq_callbacks_t;
void synq_api_set_callbacks(synq_api_t *api, synq_callbacks_t *callbacks);
/* LiveSync settings (strings copied). */
typedef struct synq_api_config_s {
    const char *api_key;    /* required to publish and write documents; NULL = open */
    const char *jwt_secret; /* HS256 secret of subscriber tokens; NULL = none */
    const char *ws_origins; /* comma-separated allowed WebSocket Origins; NULL = any */
    size_t ws_max_message;  /* largest inbound WebSocket message; 0 = default */
} synq_api_config_t;
typedef struct synq_hub_s synq_hub_t;
/* Wires the channels (hub borrowed; it must outlive the API's close) and
 * starts the LiveSync endpoints. */
void synq_api_set_livesync(synq_api_t *api, synq_hub_t *hub, const synq_api_config_t *cfg);
/* The live documents module (engine/docs.h; borrowed, it must outlive the
 * API's close). Without it the document endpoints answer 503. */
typedef struct synq_docs_s synq_docs_t;
void synq_api_set_docs(synq_api_t *api, synq_docs_t *docs);
/* The Faktory listener whose workers /v1/workers shows (NULL: off). */
struct synq_faktory_s;
void synq_api_set_faktory(synq_api_t *api, struct synq_faktory_s *faktory);
/* The synq_http_handler_cb for the server; arg is the synq_api_t. */
void synq_api_handle(synq_http_req_t *req, void *arg);

#endif
