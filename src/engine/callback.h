/* Durable callback delivery: when a job (or its queue) names a callback
 * {url, events, secrets} and one of those events happens (completed, dead,
 * cancelled, progress), or a batch with a callback finishes, synq POSTs a
 * JSON event {"type","timestamp","data"} to the URL, signed per Standard
 * Webhooks (core/webhook.h): headers webhook-id (the delivery id, the same
 * on every attempt), webhook-timestamp (of this attempt), webhook-signature
 * (when the callback has secrets), plus traceparent when the job has one.
 *
 * Durability: the delivery row is written in the same transaction as the
 * event that caused it and becomes due only after that commits; every
 * attempt updates the row (state, attempts, next_at, and a log of the last
 * 25 attempts). A 2xx answer delivers it, 410 fails it at once, anything
 * else (another status, a network error, a timeout) retries after the next
 * delay of the schedule (+-10% jitter) or after the receiver's Retry-After,
 * and fails it when the schedule is exhausted. Pending deliveries survive
 * restarts (loaded by synq_callbacks_new); delivery is at least once, the
 * receiver dedupes on webhook-id.
 *
 * Pending deliveries wait in a min-heap by next_at behind one uv_timer; at
 * most SYNQ_CALLBACKS_MAX_IN_FLIGHT attempts run at once on the shared
 * async HTTP client. Not done here: redirects (a 3xx is a failure), endpoint
 * auto-disable, SSRF filtering of callback URLs. */
#ifndef SYNQ_ENGINE_CALLBACK_H
#define SYNQ_ENGINE_CALLBACK_H

#include "core/buf.h"
#include "engine/engine.h"
#include "net/httpc.h"

#define SYNQ_CALLBACKS_MAX_SCHEDULE 32     /* retry delays */
#define SYNQ_CALLBACKS_MAX_IN_FLIGHT 32    /* attempts running at once */
#define SYNQ_CALLBACKS_LOG_KEPT 25         /* attempts kept in a delivery's log */
#define SYNQ_CALLBACKS_RESPONSE_BYTES 1024 /* response body kept per attempt */
#define SYNQ_CALLBACKS_DEFAULT_TIMEOUT_MS 15000

typedef struct synq_callbacks_s synq_callbacks_t;

typedef struct synq_callbacks_config_s {
    const int64_t *schedule_us; /* delays before attempt 2, 3, ... (copied);
                                   nschedule of them, at most SYNQ_CALLBACKS_MAX_SCHEDULE */
    size_t nschedule;           /* 0: the first attempt is the only one */
    uint64_t timeout_ms;        /* per attempt; 0 = SYNQ_CALLBACKS_DEFAULT_TIMEOUT_MS */
} synq_callbacks_config_t;

/* Defaults: the schedule 5s, 5m, 30m, 2h, 5h, 10h, 10h (Svix's: 8 attempts
 * over about 27.6 hours) and a 15 s timeout. */
void synq_callbacks_config_init(synq_callbacks_config_t *cfg);

/* Parses a retry schedule for --callback-retry: comma-separated durations
 * (core/timeutil.h syntax, e.g. "100ms,1s,5m"; spaces around commas
 * allowed); "" or "none" is the empty schedule. Writes at most max delays
 * into out_us and their count into *n. Returns 0 or SYNQ_EINVAL (an empty
 * or bad entry, more than max). Pure. */
int synq_callbacks_parse_schedule(const char *s, int64_t *out_us, size_t max, size_t *n);

/* Creates the delivery module on e's loop and store: loads the pending
 * deliveries (due ones start at once) and registers its event and batch
 * listeners with the engine. e and httpc are borrowed and must stay open
 * until synq_callbacks_close; cfg is copied (NULL = defaults). NULL when
 * the store cannot be read (logged). */
synq_callbacks_t *synq_callbacks_new(synq_engine_t *e, synq_httpc_t *httpc,
                                     const synq_callbacks_config_t *cfg);

/* Stops delivering: cancels the attempts in flight (their rows stay
 * pending, so they run again after a restart), stops and closes the timer.
 * Call it before synq_httpc_close (whose callbacks would otherwise count as
 * failed attempts) and before synq_engine_close. Events that still happen
 * afterwards are stored as pending deliveries for the next start. */
void synq_callbacks_close(synq_callbacks_t *cb);

/* Frees the module (after synq_callbacks_close; closes first if needed).
 * The engine keeps calling the listeners registered by synq_callbacks_new
 * until it is closed, so call this only after synq_engine_close's callback
 * ran. Memory still used by a pending loop callback is freed when that
 * runs. NULL is fine. */
void synq_callbacks_free(synq_callbacks_t *cb);

/* Appends {"deliveries":[...]} with the deliveries of a job (or batch) id,
 * oldest first; a delivery's form is
 *   {"id","job_id","event","url","state":"pending"|"delivered"|"failed",
 *    "attempts","next_at","created_at","updated_at","attempts_log":[...]}
 * with times in RFC 3339 (next_at null unless pending) and attempts_log
 * the last 25 attempts {"attempt","at","status"|null,"latency_ms",
 * "response"|null,"error"|null}. Returns 0 or SYNQ_ESTORE. */
int synq_callbacks_list(synq_callbacks_t *cb, const char *job_id, synq_buf_t *out);

/* Appends one delivery's form. 0, SYNQ_ENOTFOUND or SYNQ_ESTORE. */
int synq_callbacks_get(synq_callbacks_t *cb, const char *delivery_id, synq_buf_t *out);

/* Sends a delivery again: makes it pending and due now, in the open
 * transaction (answer after commit). A delivered or failed one starts a
 * fresh schedule (attempts from 0; its log is kept); a pending one keeps
 * its count and is only brought forward; one whose attempt is running is
 * left as it is. Appends its form. 0, SYNQ_ENOTFOUND or SYNQ_ESTORE. */
int synq_callbacks_replay(synq_callbacks_t *cb, const char *delivery_id, synq_buf_t *out);

#endif
