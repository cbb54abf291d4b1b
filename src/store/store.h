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
typedef void (*synq_store_queue_cb)(const char *queue, bool paused, void *arg);

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
typedef void (*synq_store_run_cb)(const synq_run_row_t *run, void *arg);

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
    /* Deletes jobs in `state` finished before `before_us`, and then the
     * oldest ones beyond `keep_max`; cb reports each deleted job's queue. */
    int (*job_prune)(synq_store_t *s, synq_job_state_t state, int64_t before_us, int64_t keep_max,
                     void (*cb)(const char *queue, void *arg), void *arg);
    int (*queue_set_paused)(synq_store_t *s, const char *queue, bool paused);
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
    void (*close)(synq_store_t *s);
} synq_store_ops_t;

struct synq_store_s {
    const synq_store_ops_t *ops;
};

/* Opens (creating and migrating) the SQLite store in directory dir.
 * Returns NULL and logs the reason on failure. Close with s->ops->close. */
synq_store_t *synq_store_sqlite_open(const char *dir, synq_durability_t durability);

#endif
