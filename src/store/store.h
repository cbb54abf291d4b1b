/* The storage interface: everything the engine persists goes through this
 * struct of function pointers, so SQLite (store/sqlite.c) and later
 * PostgreSQL sit behind it without the engine naming either.
 *
 * Transactions: every write joins the open transaction (begun lazily);
 * commit() makes all of them durable at once. The engine commits once per
 * loop turn and answers acknowledged writes only afterwards (group commit).
 * Reads see the open transaction's writes. All calls are synchronous. */
#ifndef SYNQ_STORE_STORE_H
#define SYNQ_STORE_STORE_H

#include "core/job.h"

typedef struct synq_store_s synq_store_t;

typedef enum { SYNQ_DURABILITY_FULL, SYNQ_DURABILITY_NORMAL } synq_durability_t;

typedef struct synq_job_filter_s {
    const char *queue;  /* NULL = any */
    const char *type;   /* NULL = any */
    int state;          /* -1 = any */
    int64_t before_seq; /* only seq < before_seq; 0 = no bound */
    int limit;
} synq_job_filter_t;

/* Called for each job; takes ownership of job (free with synq_job_free).
 * Return non-zero to stop. */
typedef int (*synq_store_job_cb)(synq_job_t *job, void *arg);
typedef void (*synq_store_count_cb)(const char *queue, synq_job_state_t state, int64_t n,
                                    void *arg);
/* config: the queue's settings as JSON text (max_active, rate, keep_for,
 * callback), or NULL. */
typedef void (*synq_store_queue_cb)(const char *queue, bool paused, const char *config,
                                    void *arg);

/* A schedule as stored: its definition (JSON text, validated by the
 * scheduler) and its running state. Strings are borrowed. */
typedef struct synq_schedule_row_s {
    const char *name;
    const char *spec;
    const char *source; /* "crontab:/path" for imported ones, or NULL */
    bool paused;
    int64_t last_fire;  /* us: the latest nominal fire handled */
    int64_t created_at, updated_at;
} synq_schedule_row_t;

typedef enum {
    SYNQ_RUN_FIRED = 0,  /* a job was enqueued for the fire */
    SYNQ_RUN_SKIPPED,    /* overlap=forbid: the previous run was still going */
    SYNQ_RUN_MANUAL,     /* POST .../trigger */
} synq_run_kind_t;

/* One fire of a schedule. job_id is NULL for skipped fires. */
typedef struct synq_run_row_s {
    int64_t fire_at;    /* us, nominal (manual: when triggered) */
    synq_run_kind_t kind;
    const char *job_id;
    int64_t created_at;
} synq_run_row_t;

typedef void (*synq_store_schedule_cb)(const synq_schedule_row_t *row, void *arg);

/* A stored Idempotency-Key: the first request's fingerprint (a hash of
 * method, path and body) and its answer. Strings borrowed. */
typedef struct synq_idem_row_s {
    const char *key;
    const char *fingerprint;
    int status;           /* the first answer's HTTP status */
    const char *job_id;   /* the job it created, or NULL */
    const char *body;     /* the first answer's body (JSON text) */
    int64_t created_at;
} synq_idem_row_t;

/* A job's progress report or log line, numbered from 1 per job. */
typedef enum { SYNQ_EVENT_PROGRESS = 1, SYNQ_EVENT_LOG = 2 } synq_event_kind_t;
typedef struct synq_event_row_s {
    int64_t n;
    int64_t at;
    synq_event_kind_t kind;
    const char *data;     /* JSON text */
} synq_event_row_t;
typedef void (*synq_store_event_cb)(const synq_event_row_t *ev, void *arg);

/* A batch: its definition (JSON text: description, on_complete, on_success,
 * callback) and where it is in its life. */
typedef enum { SYNQ_BATCH_OPEN = 0, SYNQ_BATCH_COMMITTED, SYNQ_BATCH_DONE } synq_batch_state_t;
typedef struct synq_batch_row_s {
    const char *id;
    const char *spec;
    synq_batch_state_t state;
    const char *counts;   /* JSON of the final counts once done, else NULL */
    int64_t created_at, committed_at, done_at;
} synq_batch_row_t;
typedef void (*synq_store_batch_cb)(const synq_batch_row_t *row, void *arg);

/* One callback delivery (an event of a job or batch sent to a URL) and its
 * attempts so far. */
typedef enum {
    SYNQ_DELIVERY_PENDING = 0, /* an attempt is due at next_at */
    SYNQ_DELIVERY_DELIVERED,   /* a 2xx answer came */
    SYNQ_DELIVERY_FAILED,      /* attempts ran out, or the receiver said 410 */
} synq_delivery_state_t;
typedef struct synq_delivery_row_s {
    const char *id;        /* the webhook-id, the same for every attempt */
    const char *job_id;    /* or the batch id for batch events */
    const char *event;     /* "job.completed", "job.dead", "job.progress", "batch.complete"... */
    const char *url;
    const char *payload;   /* the exact body sent (JSON text) */
    const char *secrets;   /* JSON array of whsec_ secrets, or NULL (unsigned) */
    const char *traceparent; /* or NULL */
    synq_delivery_state_t state;
    int attempts;
    int64_t next_at;       /* pending: when the next attempt is due */
    int64_t created_at, updated_at;
    const char *log;       /* JSON array of attempts: {at,status,latency_ms,response,error} */
} synq_delivery_row_t;
typedef void (*synq_store_delivery_cb)(const synq_delivery_row_t *row, void *arg);
typedef void (*synq_store_run_cb)(const synq_run_row_t *run, void *arg);


/* ---- LiveSync: channels and documents ------------------------------------ */

/* A channel's stream: its epoch (changes when its history is reset or lost)
 * and the newest offset given out. Strings borrowed. */
typedef struct synq_chan_row_s {
    const char *name;
    const char *epoch;
    uint64_t top;
    int64_t updated_at;
} synq_chan_row_t;
typedef void (*synq_store_chan_cb)(const synq_chan_row_t *row, void *arg);

/* One publication kept in a channel's history. */
typedef struct synq_pub_row_s {
    const char *channel;
    uint64_t offset;
    const char *data;     /* JSON text */
    const char *info;     /* JSON text of the publisher's client info, or NULL */
    int64_t created_at;
} synq_pub_row_t;
typedef void (*synq_store_pub_cb)(const synq_pub_row_t *row, void *arg);

/* A publish idempotency key and the position its first publish got. */
typedef struct synq_chan_idem_row_s {
    const char *channel;
    const char *key;
    const char *epoch;
    uint64_t offset;
    int64_t created_at;
} synq_chan_idem_row_t;
typedef void (*synq_store_chan_idem_cb)(const synq_chan_idem_row_t *row, void *arg);

/* A live document. version is unique and increasing within its collection
 * (the collection's change sequence at the document's last change); a
 * deleted document stays as a tombstone (data NULL) so the changes feed can
 * report it. meta: JSON text of per-field HLC stamps; changed: JSON array
 * of the top-level fields the last change touched. Strings borrowed. */
typedef struct synq_doc_row_s {
    const char *collection;
    const char *id;
    uint64_t version;
    const char *data;     /* JSON object text, or NULL when deleted */
    const char *meta;     /* JSON text, or NULL */
    const char *changed;  /* JSON array text, or NULL */
    int64_t updated_at;
} synq_doc_row_t;
typedef int (*synq_store_doc_cb)(const synq_doc_row_t *row, void *arg);

typedef struct synq_store_ops_s {
    /* Commits the open transaction, if any. 0 or SYNQ_ESTORE. */
    int (*commit)(synq_store_t *s);
    /* Inserts a new job and sets job->seq. SYNQ_ECONFLICT if the id exists. */
    int (*job_insert)(synq_store_t *s, synq_job_t *job);
    /* Writes every mutable field of a stored job. */
    int (*job_update)(synq_store_t *s, const synq_job_t *job);
    /* Narrow updates for the two hottest transitions (a whole-row update
     * costs more): a lease (state, attempts, started_at, lease_until,
     * worker) and a completion (state, finished_at, lease_until, result). */
    int (*job_update_lease)(synq_store_t *s, const synq_job_t *job);
    int (*job_update_done)(synq_store_t *s, const synq_job_t *job);
    /* A scheduled or retrying job became due: state, run_at, enqueued_at. */
    int (*job_update_due)(synq_store_t *s, const synq_job_t *job);
    int (*job_delete)(synq_store_t *s, const char *id);
    /* 0 if a job with this id is stored, else SYNQ_ENOTFOUND (or SYNQ_ESTORE). */
    int (*job_exists)(synq_store_t *s, const char *id);
    /* Loads one job: 0 and *out (caller frees), or SYNQ_ENOTFOUND. */
    int (*job_get)(synq_store_t *s, const char *id, synq_job_t **out);
    /* Lists jobs newest first (by seq) matching the filter. */
    int (*job_list)(synq_store_t *s, const synq_job_filter_t *f, synq_store_job_cb cb, void *arg);
    /* Every job not in a terminal state, oldest first (start-up recovery). */
    int (*job_load_live)(synq_store_t *s, synq_store_job_cb cb, void *arg);
    /* Job counts by queue and state. */
    int (*job_counts)(synq_store_t *s, synq_store_count_cb cb, void *arg);
    /* Deletes final jobs whose expires_at is set and <= now, and then the
     * oldest (by seq) jobs in `state` beyond `keep_max` (keep_max < 0: no
     * cap); each deleted job leaves a tombstone (id, expired_at = now for
     * the cap, else its expires_at) and cb reports its queue and state.
     * With state < 0 only the expiry pass runs. Also drops tombstones
     * older than tombstone_before_us. */
    int (*job_prune)(synq_store_t *s, int state, int64_t now_us, int64_t keep_max,
                     int64_t tombstone_before_us,
                     void (*cb)(const char *queue, synq_job_state_t state, void *arg), void *arg);
    /* 0 and *expired_at when a pruned job left a tombstone, SYNQ_ENOTFOUND. */
    int (*tombstone_get)(synq_store_t *s, const char *id, int64_t *expired_at);
    /* The stored jobs with this batch id (any state), oldest first. */
    int (*job_list_batch)(synq_store_t *s, const char *batch, synq_store_job_cb cb, void *arg);
    /* State of each stored job named in ids (n of them): cb(id, state) for
     * those found (dependencies that are already final). */
    int (*job_states)(synq_store_t *s, const char *const *ids, size_t n,
                      void (*cb)(const char *id, synq_job_state_t st, void *arg), void *arg);
    int (*queue_set_paused)(synq_store_t *s, const char *queue, bool paused);
    /* Sets a queue's settings (JSON text, or NULL to clear), creating the row. */
    int (*queue_set_config)(synq_store_t *s, const char *queue, const char *config);
    int (*queue_load)(synq_store_t *s, synq_store_queue_cb cb, void *arg);
    /* Schedules: insert or replace the whole row; change only paused and
     * last_fire; delete (with its runs); load all. */
    int (*schedule_put)(synq_store_t *s, const synq_schedule_row_t *row);
    int (*schedule_set_state)(synq_store_t *s, const char *name, bool paused, int64_t last_fire);
    int (*schedule_delete)(synq_store_t *s, const char *name);
    int (*schedule_load)(synq_store_t *s, synq_store_schedule_cb cb, void *arg);
    /* Records a fire. SYNQ_ECONFLICT when (schedule, fire_at) is recorded
     * already: the fire happened. */
    int (*run_insert)(synq_store_t *s, const char *schedule, const synq_run_row_t *run);
    /* Forgets one recorded fire (a prepared fire withdrawn before it was due). */
    int (*run_delete)(synq_store_t *s, const char *schedule, int64_t fire_at);
    /* The newest `limit` runs of a schedule, newest first. */
    int (*run_list)(synq_store_t *s, const char *schedule, int limit, synq_store_run_cb cb,
                    void *arg);
    /* Keeps only the newest `keep` runs of a schedule. */
    int (*run_prune)(synq_store_t *s, const char *schedule, int keep);

    /* Idempotency keys: get (0 / SYNQ_ENOTFOUND; the row's strings valid
     * until the next store call), insert (SYNQ_ECONFLICT if the key exists),
     * and forget keys created before before_us. */
    int (*idem_get)(synq_store_t *s, const char *key, synq_idem_row_t *out);
    int (*idem_put)(synq_store_t *s, const synq_idem_row_t *row);
    int (*idem_prune)(synq_store_t *s, int64_t before_us);

    /* Job events: append one (n = the job's previous nevents + 1); list a
     * job's events with n > after_n in order; deleted with their job (by
     * job_delete and job_prune) and, beyond keep per job, the oldest. */
    int (*event_append)(synq_store_t *s, const char *job_id, const synq_event_row_t *ev);
    int (*event_list)(synq_store_t *s, const char *job_id, int64_t after_n,
                      synq_store_event_cb cb, void *arg);

    /* Batches: insert or replace the whole row; load those not done; get one
     * (0 / SYNQ_ENOTFOUND; cb called once). */
    int (*batch_put)(synq_store_t *s, const synq_batch_row_t *row);
    int (*batch_load)(synq_store_t *s, synq_store_batch_cb cb, void *arg);
    int (*batch_get)(synq_store_t *s, const char *id, synq_store_batch_cb cb, void *arg);

    /* Deliveries: insert or replace the whole row; load the pending ones;
     * list a job's (or batch's) oldest first; get one (SYNQ_ENOTFOUND). */
    int (*delivery_put)(synq_store_t *s, const synq_delivery_row_t *row);
    int (*delivery_load_pending)(synq_store_t *s, synq_store_delivery_cb cb, void *arg);
    int (*delivery_list)(synq_store_t *s, const char *job_id, synq_store_delivery_cb cb,
                         void *arg);
    int (*delivery_get)(synq_store_t *s, const char *id, synq_store_delivery_cb cb, void *arg);
    /* Channels: insert or replace a channel's stream row; load all; forget
     * one (with its history and keys). */
    int (*chan_put)(synq_store_t *s, const synq_chan_row_t *row);
    int (*chan_load)(synq_store_t *s, synq_store_chan_cb cb, void *arg);
    int (*chan_delete)(synq_store_t *s, const char *name);
    /* History: append one publication; load every stored one (by channel,
     * then offset); drop a channel's publications with offset < below. */
    int (*pub_append)(synq_store_t *s, const synq_pub_row_t *row);
    int (*pub_load)(synq_store_t *s, synq_store_pub_cb cb, void *arg);
    int (*pub_trim)(synq_store_t *s, const char *channel, uint64_t below);
    /* Publish idempotency keys: insert (SYNQ_ECONFLICT if the (channel, key)
     * exists), load all, forget those created before before_us. */
    int (*chan_idem_put)(synq_store_t *s, const synq_chan_idem_row_t *row);
    int (*chan_idem_load)(synq_store_t *s, synq_store_chan_idem_cb cb, void *arg);
    int (*chan_idem_prune)(synq_store_t *s, int64_t before_us);

    /* Documents: get one (0 and cb called once, including a tombstone, or
     * SYNQ_ENOTFOUND); insert or replace one; the changes feed (documents
     * of a collection with version > since, oldest change first, at most
     * limit; cb returns non-zero to stop); the newest version in a
     * collection (0 when none). */
    int (*doc_get)(synq_store_t *s, const char *collection, const char *id,
                   synq_store_doc_cb cb, void *arg);
    int (*doc_put)(synq_store_t *s, const synq_doc_row_t *row);
    int (*doc_changes)(synq_store_t *s, const char *collection, uint64_t since, int limit,
                       synq_store_doc_cb cb, void *arg);
    int (*doc_top)(synq_store_t *s, const char *collection, uint64_t *version);
    /* Applied client mutations ((client, mutation) at most once): get
     * (0 and *result, a malloc'd JSON text the caller frees, or
     * SYNQ_ENOTFOUND), insert, forget those created before before_us. */
    int (*mutation_get)(synq_store_t *s, const char *client, int64_t mutation, char **result);
    int (*mutation_put)(synq_store_t *s, const char *client, int64_t mutation,
                        const char *result, int64_t created_at);
    int (*mutation_prune)(synq_store_t *s, int64_t before_us);
    void (*close)(synq_store_t *s);
} synq_store_ops_t;

struct synq_store_s {
    const synq_store_ops_t *ops;
};

/* Opens (creating and migrating) the SQLite store in directory dir.
 * Returns NULL and logs the reason on failure. Close with s->ops->close. */
synq_store_t *synq_store_sqlite_open(const char *dir, synq_durability_t durability);

#endif
