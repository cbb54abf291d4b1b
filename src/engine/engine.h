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

#include <uv.h>

typedef struct synq_engine_s synq_engine_t;
typedef struct synq_fetch_waiter_s synq_fetch_waiter_t;

typedef struct synq_engine_config_s {
    int64_t dead_max;
    int64_t dead_ttl_us;
    int64_t completed_max;
    int64_t completed_ttl_us;
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
 * else as one object. On error (SYNQ_ECONFLICT, *bad = index of the offending job) the
 * caller keeps them. */
int synq_engine_enqueue(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                        synq_buf_t *out, size_t *bad);

/* Leases up to max jobs from queues (tried in order) to worker; appends a
 * JSON array of them to out and returns how many. */
int synq_engine_fetch(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                      const char *worker, synq_buf_t *out);

/* Long-poll: cb runs once, with a JSON array of jobs in `jobs` (n >= 1), or
 * n == 0 when timeout_ms passes or the engine closes. The waiter is freed
 * after cb. queues and worker are copied. */
typedef void (*synq_fetch_cb)(const synq_buf_t *jobs, int n, void *arg);
synq_fetch_waiter_t *synq_engine_fetch_wait(synq_engine_t *e, const char *const *queues,
                                            size_t nqueues, int max, const char *worker,
                                            uint64_t timeout_ms, synq_fetch_cb cb, void *arg);
/* Withdraws a waiter; its cb is not called. */
void synq_engine_fetch_cancel(synq_engine_t *e, synq_fetch_waiter_t *w);

/* result: JSON text or NULL (copied). out may be NULL. */
int synq_engine_ack(synq_engine_t *e, const char *id, const char *worker, const char *result,
                    synq_buf_t *out);
/* message/type: text or NULL; backtrace: JSON text or NULL (all copied). */
int synq_engine_fail(synq_engine_t *e, const char *id, const char *worker, const char *message,
                     const char *type, const char *backtrace, synq_buf_t *out);
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
/* Cancels a scheduled, queued or retrying job; with SYNQ_CANCEL_ACTIVE also
 * an active one (its lease ends: the worker's ack or fail then answers
 * SYNQ_ELEASE). SYNQ_ECONFLICT for other states. */
#define SYNQ_CANCEL_ACTIVE 1
int synq_engine_cancel(synq_engine_t *e, const char *id, int flags, synq_buf_t *out);

/* Listeners for jobs reaching a final state (completed, dead, cancelled):
 * cb runs synchronously inside the call that finished the job, before the
 * job is freed; the job is borrowed for the call. At most 8 listeners. */
typedef void (*synq_engine_job_cb)(const synq_job_t *job, void *arg);
void synq_engine_on_final(synq_engine_t *e, synq_engine_job_cb cb, void *arg);

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

#endif
