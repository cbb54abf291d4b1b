/* The running system's core: owns the store, the in-memory job state
 * (ready lists per queue and priority, timer heaps for due jobs and leases,
 * long-poll fetch waiters) and group commit.
 *
 * Group commit: every write goes into the store's open transaction at once;
 * a reply that acknowledges a write registers with synq_engine_after_commit()
 * and is sent after the transaction commits, at the end of the loop turn.
 * Fetches and heartbeats do not wait: losing one in a crash only hands the
 * job out again.
 *
 * Job operations that answer with a job append its JSON to `out`. They
 * return 0 or SYNQ_ENOTFOUND, SYNQ_ECONFLICT (duplicate id, wrong state),
 * SYNQ_ELEASE (caller is not the lease holder), SYNQ_ESTORE. */
#ifndef SYNQ_ENGINE_ENGINE_H
#define SYNQ_ENGINE_ENGINE_H

#include "core/buf.h"
#include "core/job.h"
#include "store/store.h"

#include <jansson.h>

#include <uv.h>

typedef struct synq_engine_s synq_engine_t;
typedef struct synq_fetch_waiter_s synq_fetch_waiter_t;

typedef struct synq_engine_config_s {
    int64_t dead_max;
    int64_t dead_ttl_us;      /* default keep_for of dead jobs */
    int64_t completed_max;
    int64_t completed_ttl_us; /* default keep_for of completed and cancelled jobs */
    int64_t tombstone_ttl_us; /* how long an expired id answers 410 (then 404) */
    int64_t idempotency_ttl_us;
    int max_events_per_job;   /* progress + log events stored per job */
} synq_engine_config_t;

void synq_engine_config_init(synq_engine_config_t *cfg);

/* Loads live jobs, counts and queue settings from the store (taken: the
 * engine closes it) and arms the timers. NULL on failure. */
synq_engine_t *synq_engine_new(uv_loop_t *loop, synq_store_t *store,
                               const synq_engine_config_t *cfg);
/* Answers waiting fetches with no jobs, commits, stops timers and closes
 * the store; cb runs when every handle is closed and the engine is freed. */
void synq_engine_close(synq_engine_t *e, void (*cb)(void *arg), void *arg);

/* Answers every waiting fetch with no jobs now (shutdown starts here). */
void synq_engine_drain(synq_engine_t *e);

/* cb(status, arg) runs after the current transaction commits (status 0) or
 * fails (SYNQ_ESTORE); at the end of this loop turn. */
typedef void (*synq_engine_commit_cb)(int status, void *arg);
void synq_engine_after_commit(synq_engine_t *e, synq_engine_commit_cb cb, void *arg);

/* Enqueues jobs[0..n) all or nothing; on success the engine owns them and
 * their JSON forms go to out (when not NULL) as a JSON array when as_array,
 * else as one object. A job whose unique key is held by a live job (or by
 * an earlier job of the same call) is not created: it is freed, its slot
 * set to NULL, and the holder's JSON is written with "duplicate":true.
 * A job with depends_on starts in state waiting unless every dependency
 * is final already. On error the caller keeps them, *bad = index of the
 * offending job: SYNQ_ECONFLICT (its id exists), SYNQ_ENOTFOUND (a job it
 * depends on is unknown; listed only earlier in the same call counts). */
int synq_engine_enqueue(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                        synq_buf_t *out, size_t *bad);

/* ---- batches ------------------------------------------------------------- */

/* Creates a batch (spec: JSON object text with description, on_complete,
 * on_success, callback — validated by the caller) with jobs[0..n) (n may be
 * 0 when open), all or nothing, like synq_engine_enqueue. An open batch
 * takes more jobs until committed; a committed one completes when its last
 * job is final. Appends the batch's JSON with a "jobs" array. */
int synq_engine_batch_create(synq_engine_t *e, const char *spec, bool open, synq_job_t **jobs,
                             size_t n, synq_buf_t *out, size_t *bad);
/* 0 when the batch is open, SYNQ_ECONFLICT when committed or done,
 * SYNQ_ENOTFOUND. */
int synq_engine_batch_open(synq_engine_t *e, const char *id);
/* Adds jobs to an open batch (check with synq_engine_batch_open first:
 * its errors come back unchanged), or an enqueue error with *bad.
 * Appends {"jobs":[...]}. */
int synq_engine_batch_add(synq_engine_t *e, const char *id, synq_job_t **jobs, size_t n,
                          synq_buf_t *out, size_t *bad);
int synq_engine_batch_commit(synq_engine_t *e, const char *id, synq_buf_t *out);
/* Appends {"id","description","state","total","pending","succeeded","failed",
 * "dead","cancelled",...}. */
int synq_engine_batch_get(synq_engine_t *e, const char *id, synq_buf_t *out);

/* ---- queue settings ------------------------------------------------------ */

/* Replaces a queue's settings from a JSON object {max_active?, rate?:
 * {limit, per}, keep_for?, callback?}; SYNQ_EINVAL with "field: problem" in
 * err. Appends the queue's JSON. */
int synq_engine_queue_configure(synq_engine_t *e, const char *name, const json_t *cfg,
                                char *err, size_t errlen, synq_buf_t *out);
/* Appends one queue's JSON (SYNQ_ENOTFOUND for a queue never seen). */
int synq_engine_queue_get(synq_engine_t *e, const char *name, synq_buf_t *out);

/* When a job was pruned: 0 and *at, else SYNQ_ENOTFOUND. */
int synq_engine_expired_at(synq_engine_t *e, const char *id, int64_t *at);

/* Leases up to max jobs from queues (tried in order) to worker; appends a
 * JSON array of them to out and returns how many. */
int synq_engine_fetch(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                      const char *worker, synq_buf_t *out);

/* Long-poll: cb runs once, with a JSON array of jobs in `jobs` (n >= 1), or
 * n == 0 when timeout_ms passes or the engine closes, or n == 0 and
 * `cancel` (a JSON array of ids, else NULL) when jobs this worker holds
 * were cancelled. The waiter is freed after cb. queues and worker are
 * copied. */
typedef void (*synq_fetch_cb)(const synq_buf_t *jobs, int n, const char *cancel, void *arg);
synq_fetch_waiter_t *synq_engine_fetch_wait(synq_engine_t *e, const char *const *queues,
                                            size_t nqueues, int max, const char *worker,
                                            uint64_t timeout_ms, synq_fetch_cb cb, void *arg);
/* The same with the jobs written by fmt instead of synq_job_to_json (the
 * Faktory listener writes Faktory's form). */
typedef void (*synq_job_fmt_fn)(const synq_job_t *job, synq_buf_t *out);
int synq_engine_fetch_as(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                         const char *worker, synq_job_fmt_fn fmt, synq_buf_t *out);
synq_fetch_waiter_t *synq_engine_fetch_wait_as(synq_engine_t *e, const char *const *queues,
                                               size_t nqueues, int max, const char *worker,
                                               synq_job_fmt_fn fmt, uint64_t timeout_ms,
                                               synq_fetch_cb cb, void *arg);
/* Withdraws a waiter; its cb is not called. */
void synq_engine_fetch_cancel(synq_engine_t *e, synq_fetch_waiter_t *w);

/* result: JSON text or NULL (copied). out may be NULL. */
int synq_engine_ack(synq_engine_t *e, const char *id, const char *worker, const char *result,
                    synq_buf_t *out);
/* message/type: text or NULL; backtrace: JSON text or NULL (all copied). */
int synq_engine_fail(synq_engine_t *e, const char *id, const char *worker, const char *message,
                     const char *type, const char *backtrace, synq_buf_t *out);
/* A job cancelled while this worker held it: ack and fail answer
 * SYNQ_ECANCELLED, heartbeat answers 0 with the job's JSON carrying
 * "cancel":true (for a while after the cancel, then SYNQ_ELEASE). */
int synq_engine_heartbeat(synq_engine_t *e, const char *id, const char *worker, synq_buf_t *out);
int synq_engine_get(synq_engine_t *e, const char *id, synq_buf_t *out);
/* Appends {"jobs":[...],"next_cursor":...}. */
int synq_engine_list(synq_engine_t *e, const synq_job_filter_t *f, synq_buf_t *out);
/* Like synq_engine_fail, but a retry (if any is left) is due after
 * retry_in_us instead of the backoff delay (honouring a Retry-After). */
int synq_engine_fail_after(synq_engine_t *e, const char *id, const char *worker,
                           const char *message, const char *type, const char *backtrace,
                           int64_t retry_in_us, synq_buf_t *out);
int synq_engine_retry(synq_engine_t *e, const char *id, synq_buf_t *out);
/* Cancels a waiting, scheduled, queued or retrying job; with
 * SYNQ_CANCEL_ACTIVE also an active one (its lease ends; the holder learns
 * it from its next heartbeat or its waiting fetch). A cancelled job never
 * retries. SYNQ_ECONFLICT for final jobs. */
#define SYNQ_CANCEL_ACTIVE 1
int synq_engine_cancel(synq_engine_t *e, const char *id, int flags, synq_buf_t *out);

/* Listeners for jobs reaching a final state (completed, dead, cancelled):
 * cb runs synchronously inside the call that finished the job, before the
 * job is freed; the job is borrowed for the call. At most 8 listeners. */
typedef void (*synq_engine_job_cb)(const synq_job_t *job, void *arg);
void synq_engine_on_final(synq_engine_t *e, synq_engine_job_cb cb, void *arg);

/* ---- events: what streams and callbacks follow ---------------------------- */

typedef enum {
    SYNQ_JOBEV_STATE,    /* the job changed state (job is in its new state) */
    SYNQ_JOBEV_PROGRESS, /* a progress report: data is {"percent","message","data","at"} */
    SYNQ_JOBEV_LOG,      /* a log line: data is {"line","at"} */
} synq_jobev_kind_t;

typedef struct synq_jobev_s {
    synq_jobev_kind_t kind;
    const synq_job_t *job; /* borrowed for the call; a final job is freed after it */
    int64_t n;             /* progress/log: the event's number (from 1 per job) */
    const char *data;      /* progress/log: JSON text */
} synq_jobev_t;

typedef void (*synq_engine_event_cb)(const synq_jobev_t *ev, void *arg);
/* cb runs synchronously for every job state change, progress report and
 * log line, inside the call that caused it (the change is written to the
 * open transaction, not yet committed). At most 8 listeners. */
void synq_engine_on_event(synq_engine_t *e, synq_engine_event_cb cb, void *arg);

/* A batch finished (every job final, the batch committed): batch_json is
 * its GET form; callback is its callback JSON text or NULL. Runs once per
 * batch, inside the transaction that records it done. */
typedef void (*synq_engine_batch_cb)(const char *batch_id, const char *batch_json,
                                     const char *callback, void *arg);
void synq_engine_on_batch_done(synq_engine_t *e, synq_engine_batch_cb cb, void *arg);

/* Records a progress report of an active job (worker "" or NULL = any
 * holder): progress_json is an object {"percent"?, "message"?, "data"?}.
 * Appends the job to out. SYNQ_ECONFLICT when the job is not active. */
int synq_engine_progress(synq_engine_t *e, const char *id, const char *worker,
                         const char *progress_json, synq_buf_t *out);
/* Records log lines of an active job (copied). */
int synq_engine_log(synq_engine_t *e, const char *id, const char *worker,
                    const char *const *lines, size_t n);
/* Stored progress/log events of a job with number > after_n, in order. */
int synq_engine_events(synq_engine_t *e, const char *id, int64_t after_n,
                       synq_store_event_cb cb, void *arg);
/* The callback JSON text configured on a queue, or NULL (borrowed). */
const char *synq_engine_queue_callback(synq_engine_t *e, const char *queue);

/* Creates a new job id (ULID). out has room for 27 bytes. */
void synq_engine_new_id(synq_engine_t *e, char *out);

/* The live (not yet final) job with this id, or NULL. Borrowed until the
 * next engine call. */
const synq_job_t *synq_engine_peek(synq_engine_t *e, const char *id);

/* The loop and store the engine runs on (for modules built on it). */
uv_loop_t *synq_engine_loop(synq_engine_t *e);
synq_store_t *synq_engine_store(synq_engine_t *e);
int synq_engine_delete(synq_engine_t *e, const char *id);

/* Appends {"queues":[...]}. */
void synq_engine_queues(synq_engine_t *e, synq_buf_t *out);
/* Pauses or resumes a queue (creating it if new); appends the queue object. */
int synq_engine_queue_pause(synq_engine_t *e, const char *name, bool paused, synq_buf_t *out);
/* Deletes the queue's queued jobs; *purged gets how many. */
int synq_engine_queue_purge(synq_engine_t *e, const char *name, int64_t *purged);

/* ---- bulk admin (Faktory's MUTATE and FLUSH) ----------------------------- */

typedef enum {
    SYNQ_MUTATE_DISCARD, /* delete the job */
    SYNQ_MUTATE_KILL,    /* scheduled or retrying -> dead (a dead job stays) */
    SYNQ_MUTATE_REQUEUE, /* queue it now; a dead or retrying one keeps its failure record */
} synq_mutate_op_t;

/* A filter: true to include the job (borrowed for the call). */
typedef bool (*synq_engine_match_cb)(const synq_job_t *job, void *arg);

/* Applies op to every job in state (scheduled, retry or dead) that match
 * accepts (NULL: all). Returns how many changed. */
int64_t synq_engine_mutate(synq_engine_t *e, synq_job_state_t state, synq_mutate_op_t op,
                           synq_engine_match_cb match, void *arg);
/* Deletes every job, live and final. Returns how many. */
int64_t synq_engine_flush(synq_engine_t *e);
/* Jobs acknowledged and failures (failed attempts and lapsed leases)
 * since the engine started. */
void synq_engine_counters(synq_engine_t *e, int64_t *processed, int64_t *failures);
/* Calls cb for each live job (borrowed; do not call the engine from cb). */
void synq_engine_each_live(synq_engine_t *e, synq_engine_job_cb cb, void *arg);
/* Moves an active job's lease end to until_us if that is later.
 * SYNQ_ECONFLICT when the job is not active. */
int synq_engine_extend_lease(synq_engine_t *e, const char *id, int64_t until_us);

#endif
