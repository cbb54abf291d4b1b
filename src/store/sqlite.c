/* SQLite store: one database file (synq.db) in WAL mode in the data
 * directory. Schema versions are applied in order and recorded in
 * PRAGMA user_version. Statements are prepared once and reused. Writes join
 * a transaction opened lazily and ended by commit(). */
#include "store/store.h"

#include "core/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Statements prepared on first use, by slot. */
enum {
    L_CHAN_PUT, L_CHAN_LOAD, L_CHAN_DEL, L_CHAN_DEL_PUBS, L_CHAN_DEL_IDEM, L_PUB_APPEND,
    L_PUB_LOAD, L_PUB_TRIM, L_CIDEM_PUT, L_CIDEM_LOAD, L_CIDEM_PRUNE, L_DOC_GET, L_DOC_PUT,
    L_DOC_CHANGES, L_DOC_TOP, L_MUT_GET, L_MUT_PUT, L_MUT_PRUNE, LAZY_MAX
};

typedef struct {
    synq_store_t base;
    sqlite3 *db;
    bool in_txn;
    sqlite3_stmt *begin, *commit, *insert, *update, *lease, *done, *due, *del, *get, *exists;
    sqlite3_stmt *sched_put, *sched_state, *sched_del, *run_del, *run_ins, *run_list, *run_prune,
        *run_del1;
    sqlite3_stmt *tomb_put, *ev_del, *idem_get, *idem_put, *ev_append, *dlv_put;
    char *idem_buf; /* idem_get's answer: its strings stay valid until the next idem_get */
    sqlite3_stmt *lazy[LAZY_MAX]; /* statements prepared on first use (see lazy()) */
} sqlite_store_t;

/* Each entry upgrades the schema from version i to i+1. Never edit one that
 * has shipped; append a new one. */
static const char *const migrations[] = {
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " queue TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " args TEXT NOT NULL,"
    " priority INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " retry INTEGER NOT NULL,"
    " reserve_for INTEGER NOT NULL,"
    " backoff TEXT,"
    " attempts INTEGER NOT NULL,"
    " run_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " enqueued_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " finished_at INTEGER NOT NULL,"
    " lease_until INTEGER NOT NULL,"
    " worker TEXT,"
    " result TEXT,"
    " err_message TEXT,"
    " err_type TEXT,"
    " err_backtrace TEXT,"
    " custom TEXT"
    ") STRICT;"
    "CREATE INDEX jobs_state ON jobs(state, seq);"
    "CREATE INDEX jobs_queue ON jobs(queue, state, seq);"
    "CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0) STRICT;",
    /* v2: jobs_state leaves out queued (1) and active (2), the states every job
     * passes through in a hurry; that saves two index writes per job. Listing
     * those states across all queues walks the table from the newest row. */
    "DROP INDEX jobs_state;"
    "CREATE INDEX jobs_state ON jobs(state, seq) WHERE state NOT IN (1, 2);",
    /* v3: schedules. A run row per fire, keyed by (schedule, nominal fire
     * time): inserting it in the same transaction as the fired job is what
     * makes each fire happen once. */
    "ALTER TABLE jobs ADD COLUMN schedule TEXT;"
    "ALTER TABLE jobs ADD COLUMN fire_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE schedules ("
    " name TEXT PRIMARY KEY,"
    " spec TEXT NOT NULL,"
    " paused INTEGER NOT NULL,"
    " last_fire INTEGER NOT NULL,"
    " source TEXT,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE schedule_runs ("
    " schedule TEXT NOT NULL,"
    " fire_at INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " job_id TEXT,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (schedule, fire_at)"
    ") STRICT, WITHOUT ROWID;",
    /* v4: groups, batches, unique keys and expiry on jobs; the rarely-set
     * options travel in one JSON column (extra) written by
     * synq_job_extra_dump. Tombstones answer "pruned" rather than "not
     * found" for a while; idempotency keys, job events (progress, logs),
     * batches and callback deliveries get their own tables. */
    "ALTER TABLE jobs ADD COLUMN grp TEXT;"
    "ALTER TABLE jobs ADD COLUMN batch TEXT;"
    "ALTER TABLE jobs ADD COLUMN unique_key TEXT;"
    "ALTER TABLE jobs ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN extra TEXT;"
    "CREATE INDEX jobs_batch ON jobs(batch) WHERE batch IS NOT NULL;"
    "CREATE INDEX jobs_expires ON jobs(expires_at) WHERE expires_at > 0;"
    "ALTER TABLE queues ADD COLUMN config TEXT;"
    "CREATE TABLE tombstones ("
    " id TEXT PRIMARY KEY,"
    " expired_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX tombstones_expired ON tombstones(expired_at);"
    "CREATE TABLE idempotency ("
    " key TEXT PRIMARY KEY,"
    " fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " job_id TEXT,"
    " body TEXT,"
    " created_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX idempotency_created ON idempotency(created_at);"
    "CREATE TABLE job_events ("
    " job_id TEXT NOT NULL,"
    " n INTEGER NOT NULL,"
    " at INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " data TEXT NOT NULL,"
    " PRIMARY KEY (job_id, n)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE batches ("
    " id TEXT PRIMARY KEY,"
    " spec TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " counts TEXT,"
    " created_at INTEGER NOT NULL,"
    " committed_at INTEGER NOT NULL,"
    " done_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE deliveries ("
    " id TEXT PRIMARY KEY,"
    " job_id TEXT NOT NULL,"
    " event TEXT NOT NULL,"
    " url TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " secrets TEXT,"
    " traceparent TEXT,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " log TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX deliveries_job ON deliveries(job_id, created_at);"
    "CREATE INDEX deliveries_pending ON deliveries(next_at) WHERE state = 0;",
    /* 5: LiveSync channels (stream rows, history, publish keys) and documents */
    "CREATE TABLE channels ("
    " name TEXT PRIMARY KEY,"
    " epoch TEXT NOT NULL,"
    " top INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE publications ("
    " channel TEXT NOT NULL,"
    " offset INTEGER NOT NULL,"
    " data TEXT NOT NULL,"
    " info TEXT,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (channel, offset)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE channel_idempotency ("
    " channel TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " epoch TEXT NOT NULL,"
    " offset INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (channel, key)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX channel_idempotency_created ON channel_idempotency(created_at);"
    "CREATE TABLE docs ("
    " collection TEXT NOT NULL,"
    " id TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " data TEXT,"
    " meta TEXT,"
    " changed TEXT,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (collection, id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE UNIQUE INDEX docs_version ON docs(collection, version);"
    "CREATE TABLE doc_mutations ("
    " client TEXT NOT NULL,"
    " mutation INTEGER NOT NULL,"
    " result TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (client, mutation)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX doc_mutations_created ON doc_mutations(created_at);",
};

/* Repeats the partial index's condition: SQLite uses a partial index only
 * when the query's WHERE contains its terms (it does not infer them). */
#define PARTIAL " AND state NOT IN (1, 2)"

#define JOB_COLS                                                                                   \
    "seq,id,queue,type,args,priority,state,retry,reserve_for,backoff,attempts,run_at,created_at,"  \
    "enqueued_at,started_at,finished_at,lease_until,worker,result,err_message,err_type,"           \
    "err_backtrace,custom,schedule,fire_at,grp,batch,unique_key,expires_at,extra"

/* The final states (completed, dead, cancelled) as an SQL list. */
#define FINAL_STATES "(4, 5, 6)"

static int fail(sqlite_store_t *s, const char *what)
{
    synq_log(SYNQ_LOG_ERROR, "store error", "op", what, "error", sqlite3_errmsg(s->db), NULL);
    return SYNQ_ESTORE;
}

static int ensure_txn(sqlite_store_t *s)
{
    if (s->in_txn) return 0;
    int rc = sqlite3_step(s->begin);
    sqlite3_reset(s->begin);
    if (rc != SQLITE_DONE) return fail(s, "begin");
    s->in_txn = true;
    return 0;
}

static int st_commit(synq_store_t *base)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (!s->in_txn) return 0;
    int rc = sqlite3_step(s->commit);
    sqlite3_reset(s->commit);
    s->in_txn = false;
    if (rc != SQLITE_DONE) {
        fail(s, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return SYNQ_ESTORE;
    }
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds the job's extra options (synq_job_extra_dump's text, freed by
 * SQLite when the binding is cleared) or NULL. */
static void bind_extra(sqlite3_stmt *st, int i, const synq_job_t *j)
{
    char *extra = synq_job_extra_dump(j);
    if (extra)
        sqlite3_bind_text(st, i, extra, -1, free);
    else
        sqlite3_bind_null(st, i);
}

/* Binds the mutable columns in the order shared by INSERT and UPDATE
 * (MUTABLE_COLS of them). */
#define MUTABLE_COLS 20
static void bind_mutable(sqlite3_stmt *st, const synq_job_t *j, int first)
{
    int i = first;
    sqlite3_bind_int(st, i++, j->priority);
    sqlite3_bind_int(st, i++, j->state);
    sqlite3_bind_int(st, i++, j->retry);
    sqlite3_bind_int(st, i++, j->reserve_for);
    bind_text(st, i++, j->backoff_json);
    sqlite3_bind_int(st, i++, j->attempts);
    sqlite3_bind_int64(st, i++, j->run_at);
    sqlite3_bind_int64(st, i++, j->enqueued_at);
    sqlite3_bind_int64(st, i++, j->started_at);
    sqlite3_bind_int64(st, i++, j->finished_at);
    sqlite3_bind_int64(st, i++, j->lease_until);
    bind_text(st, i++, j->worker);
    bind_text(st, i++, j->result);
    bind_text(st, i++, j->err_message);
    bind_text(st, i++, j->err_type);
    bind_text(st, i++, j->err_backtrace);
    bind_text(st, i++, j->custom);
    bind_text(st, i++, j->unique_key);
    sqlite3_bind_int64(st, i++, j->expires_at);
    bind_extra(st, i++, j);
}

static int st_job_insert(synq_store_t *base, synq_job_t *job)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->insert;
    sqlite3_bind_text(st, 1, job->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job->queue, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, job->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, job->args, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, job->created_at);
    bind_mutable(st, job, 6);
    bind_text(st, 6 + MUTABLE_COLS, job->schedule);
    sqlite3_bind_int64(st, 7 + MUTABLE_COLS, job->fire_at);
    bind_text(st, 8 + MUTABLE_COLS, job->group);
    bind_text(st, 9 + MUTABLE_COLS, job->batch);
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(s->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_CONSTRAINT && ext == SQLITE_CONSTRAINT_UNIQUE) return SYNQ_ECONFLICT;
    if (rc != SQLITE_DONE) return fail(s, "job_insert");
    job->seq = sqlite3_last_insert_rowid(s->db);
    return 0;
}

static int st_job_update(synq_store_t *base, const synq_job_t *job)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->update;
    bind_mutable(st, job, 1);
    sqlite3_bind_int64(st, 1 + MUTABLE_COLS, job->seq);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_update");
}

static int st_job_update_lease(synq_store_t *base, const synq_job_t *job)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->lease;
    sqlite3_bind_int(st, 1, job->state);
    sqlite3_bind_int(st, 2, job->attempts);
    sqlite3_bind_int64(st, 3, job->started_at);
    sqlite3_bind_int64(st, 4, job->lease_until);
    bind_text(st, 5, job->worker);
    sqlite3_bind_int64(st, 6, job->seq);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_update_lease");
}

static int step_write(sqlite_store_t *s, sqlite3_stmt *st, const char *what);

/* A job finished: besides its state and result, its expiry and its extra
 * options (progress, dependency results...) change. */
static int st_job_update_done(synq_store_t *base, const synq_job_t *job)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->done;
    sqlite3_bind_int(st, 1, job->state);
    sqlite3_bind_int64(st, 2, job->finished_at);
    sqlite3_bind_int64(st, 3, job->lease_until);
    bind_text(st, 4, job->result);
    sqlite3_bind_int64(st, 5, job->expires_at);
    bind_extra(st, 6, job);
    sqlite3_bind_int64(st, 7, job->seq);
    return step_write(s, st, "job_update_done");
}

static int st_job_update_due(synq_store_t *base, const synq_job_t *job)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->due;
    sqlite3_bind_int(st, 1, job->state);
    sqlite3_bind_int64(st, 2, job->run_at);
    sqlite3_bind_int64(st, 3, job->enqueued_at);
    sqlite3_bind_int64(st, 4, job->seq);
    return step_write(s, st, "job_update_due");
}

/* Deletes a job's events (with the job). */
static int delete_events(sqlite_store_t *s, const char *id)
{
    sqlite3_bind_text(s->ev_del, 1, id, -1, SQLITE_STATIC);
    return step_write(s, s->ev_del, "job_events_delete");
}

static int st_job_delete(synq_store_t *base, const char *id)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_bind_text(s->del, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->del);
    sqlite3_reset(s->del);
    if (rc != SQLITE_DONE) return fail(s, "job_delete");
    return delete_events(s, id);
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? synq_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static synq_job_t *row_to_job(sqlite3_stmt *st)
{
    synq_job_t *j = synq_calloc(1, sizeof *j);
    int i = 0;
    j->seq = sqlite3_column_int64(st, i++);
    j->id = col_text(st, i++);
    j->queue = col_text(st, i++);
    j->type = col_text(st, i++);
    j->args = col_text(st, i++);
    j->priority = sqlite3_column_int(st, i++);
    j->state = (synq_job_state_t)sqlite3_column_int(st, i++);
    j->retry = sqlite3_column_int(st, i++);
    j->reserve_for = sqlite3_column_int(st, i++);
    j->backoff_json = col_text(st, i++);
    j->attempts = sqlite3_column_int(st, i++);
    j->run_at = sqlite3_column_int64(st, i++);
    j->created_at = sqlite3_column_int64(st, i++);
    j->enqueued_at = sqlite3_column_int64(st, i++);
    j->started_at = sqlite3_column_int64(st, i++);
    j->finished_at = sqlite3_column_int64(st, i++);
    j->lease_until = sqlite3_column_int64(st, i++);
    j->worker = col_text(st, i++);
    j->result = col_text(st, i++);
    j->err_message = col_text(st, i++);
    j->err_type = col_text(st, i++);
    j->err_backtrace = col_text(st, i++);
    j->custom = col_text(st, i++);
    j->schedule = col_text(st, i++);
    j->fire_at = sqlite3_column_int64(st, i++);
    j->group = col_text(st, i++);
    j->batch = col_text(st, i++);
    j->unique_key = col_text(st, i++);
    j->expires_at = sqlite3_column_int64(st, i++);
    synq_job_extra_load(j, (const char *)sqlite3_column_text(st, i++));
    j->timer_idx = (size_t)-1;
    if (j->backoff_json) {
        json_t *b = json_loads(j->backoff_json, 0, NULL);
        char err[8];
        if (b) synq_backoff_from_json(b, &j->backoff, err, sizeof err);
        json_decref(b);
    }
    return j;
}

static int st_job_get(synq_store_t *base, const char *id, synq_job_t **out)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_bind_text(s->get, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->get);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *out = row_to_job(s->get);
    else if (rc == SQLITE_DONE)
        ret = SYNQ_ENOTFOUND;
    else
        ret = fail(s, "job_get");
    sqlite3_reset(s->get);
    return ret;
}

static int st_job_exists(synq_store_t *base, const char *id)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_bind_text(s->exists, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->exists);
    sqlite3_reset(s->exists);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? SYNQ_ENOTFOUND : fail(s, "job_exists");
}

static int run_rows(sqlite_store_t *s, sqlite3_stmt *st, synq_store_job_cb cb, void *arg)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb(row_to_job(st), arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_list");
}

static int st_job_list(synq_store_t *base, const synq_job_filter_t *f, synq_store_job_cb cb,
                       void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    char sql[512], state[64] = "";
    /* the state goes in as a literal: SQLite uses the partial index
     * jobs_state only when it can see the state is not queued or active */
    if (f->state >= 0)
        snprintf(state, sizeof state, " AND state=%d%s", f->state,
                 f->state != SYNQ_JOB_QUEUED && f->state != SYNQ_JOB_ACTIVE ? PARTIAL : "");
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE 1=1%s%s%s%s ORDER BY seq DESC LIMIT ?5",
             f->queue ? " AND queue=?1" : "", f->type ? " AND type=?2" : "", state,
             f->before_seq > 0 ? " AND seq<?4" : "");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "job_list");
    if (f->queue) sqlite3_bind_text(st, 1, f->queue, -1, SQLITE_STATIC);
    if (f->type) sqlite3_bind_text(st, 2, f->type, -1, SQLITE_STATIC);
    if (f->before_seq > 0) sqlite3_bind_int64(st, 4, f->before_seq);
    sqlite3_bind_int(st, 5, f->limit);
    return run_rows(s, st, cb, arg);
}

static int st_job_load_live(synq_store_t *base, synq_store_job_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs WHERE state IN (%d,%d,%d,%d,%d) "
             "ORDER BY seq",
             SYNQ_JOB_SCHEDULED, SYNQ_JOB_QUEUED, SYNQ_JOB_ACTIVE, SYNQ_JOB_RETRY,
             SYNQ_JOB_WAITING);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "load_live");
    return run_rows(s, st, cb, arg);
}

static int st_job_counts(synq_store_t *base, synq_store_count_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "job_counts");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), (synq_job_state_t)sqlite3_column_int(st, 1),
           sqlite3_column_int64(st, 2), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_counts");
}

typedef void (*prune_cb)(const char *queue, synq_job_state_t state, void *arg);

/* Runs one pruning DELETE ... RETURNING id, queue, state, expired_at: each
 * deleted job leaves a tombstone and loses its events. RETURNING makes every
 * change during the first step, so writing other tables while reading the
 * returned rows is safe. */
static int prune_pass(sqlite_store_t *s, sqlite3_stmt *st, prune_cb cb, void *arg)
{
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        sqlite3_bind_text(s->tomb_put, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->tomb_put, 2, sqlite3_column_int64(st, 3));
        if ((ret = step_write(s, s->tomb_put, "job_prune")) || (ret = delete_events(s, id))) break;
        if (cb)
            cb((const char *)sqlite3_column_text(st, 1),
               (synq_job_state_t)sqlite3_column_int(st, 2), arg);
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) ret = fail(s, "job_prune");
    sqlite3_finalize(st);
    return ret;
}

static int st_job_prune(synq_store_t *base, int state, int64_t now_us, int64_t keep_max,
                        int64_t tombstone_before_us, prune_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st;
    int ret;
    /* Expiry. "expires_at > 0" is spelled out so the partial index
     * jobs_expires applies; the state test keeps a live job whose
     * expires_at was left set from being deleted under the engine. */
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM jobs WHERE expires_at > 0 AND expires_at <= ?1 AND "
                           "state IN " FINAL_STATES " RETURNING id, queue, state, expires_at",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "job_prune");
    sqlite3_bind_int64(st, 1, now_us);
    if ((ret = prune_pass(s, st, cb, arg))) return ret;
    /* The cap: everything in `state` past the newest keep_max. The state
     * goes in as a literal so the partial index jobs_state applies. */
    if (state >= 0 && keep_max >= 0) {
        char sql[320];
        snprintf(sql, sizeof sql,
                 "DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE state=%d%s "
                 "ORDER BY seq DESC LIMIT -1 OFFSET ?1) RETURNING id, queue, state, ?2",
                 state, state != SYNQ_JOB_QUEUED && state != SYNQ_JOB_ACTIVE ? PARTIAL : "");
        if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "job_prune");
        sqlite3_bind_int64(st, 1, keep_max);
        sqlite3_bind_int64(st, 2, now_us);
        if ((ret = prune_pass(s, st, cb, arg))) return ret;
    }
    if (sqlite3_prepare_v2(s->db, "DELETE FROM tombstones WHERE expired_at < ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "job_prune");
    sqlite3_bind_int64(st, 1, tombstone_before_us);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_prune");
}

static int st_tombstone_get(synq_store_t *base, const char *id, int64_t *expired_at)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT expired_at FROM tombstones WHERE id=?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "tombstone_get");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *expired_at = sqlite3_column_int64(st, 0);
    else
        ret = rc == SQLITE_DONE ? SYNQ_ENOTFOUND : fail(s, "tombstone_get");
    sqlite3_finalize(st);
    return ret;
}

static int st_job_list_batch(synq_store_t *base, const char *batch, synq_store_job_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    /* batch=?1 implies "batch IS NOT NULL": the partial index jobs_batch applies */
    if (sqlite3_prepare_v2(s->db, "SELECT " JOB_COLS " FROM jobs WHERE batch=?1 ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(s, "job_list_batch");
    sqlite3_bind_text(st, 1, batch, -1, SQLITE_STATIC);
    return run_rows(s, st, cb, arg);
}

static int st_job_states(synq_store_t *base, const char *const *ids, size_t n,
                         void (*cb)(const char *id, synq_job_state_t st, void *arg), void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT state FROM jobs WHERE id=?1", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "job_states");
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            cb(ids[i], (synq_job_state_t)sqlite3_column_int(st, 0), arg);
            rc = SQLITE_DONE;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "job_states");
}

static int st_queue_set_paused(synq_store_t *base, const char *queue, bool paused)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO queues(name, paused) VALUES(?1, ?2) "
                           "ON CONFLICT(name) DO UPDATE SET paused=excluded.paused",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "queue_set_paused");
    sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, paused);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "queue_set_paused");
}

static int st_queue_set_config(synq_store_t *base, const char *queue, const char *config)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO queues(name, config) VALUES(?1, ?2) "
                           "ON CONFLICT(name) DO UPDATE SET config=excluded.config",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "queue_set_config");
    sqlite3_bind_text(st, 1, queue, -1, SQLITE_STATIC);
    bind_text(st, 2, config);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "queue_set_config");
}

static int st_queue_load(synq_store_t *base, synq_store_queue_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT name, paused, config FROM queues", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(s, "queue_load");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1) != 0,
           (const char *)sqlite3_column_text(st, 2), arg);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "queue_load");
}

/* ---- schedules --------------------------------------------------------- */

/* Runs one prepared write statement: step, reset, clear. */
static int step_write(sqlite_store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(s->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_CONSTRAINT && (ext == SQLITE_CONSTRAINT_PRIMARYKEY ||
                                    ext == SQLITE_CONSTRAINT_UNIQUE))
        return SYNQ_ECONFLICT;
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

static int st_schedule_put(synq_store_t *base, const synq_schedule_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->sched_put;
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->spec, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->paused);
    sqlite3_bind_int64(st, 4, r->last_fire);
    bind_text(st, 5, r->source);
    sqlite3_bind_int64(st, 6, r->created_at);
    sqlite3_bind_int64(st, 7, r->updated_at);
    return step_write(s, st, "schedule_put");
}

static int st_schedule_set_state(synq_store_t *base, const char *name, bool paused,
                                 int64_t last_fire)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->sched_state;
    sqlite3_bind_int(st, 1, paused);
    sqlite3_bind_int64(st, 2, last_fire);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    return step_write(s, st, "schedule_set_state");
}

static int st_schedule_delete(synq_store_t *base, const char *name)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_bind_text(s->sched_del, 1, name, -1, SQLITE_STATIC);
    int rc = step_write(s, s->sched_del, "schedule_delete");
    if (rc) return rc;
    sqlite3_bind_text(s->run_del, 1, name, -1, SQLITE_STATIC);
    return step_write(s, s->run_del, "schedule_delete");
}

static int st_schedule_load(synq_store_t *base, synq_store_schedule_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name,spec,paused,last_fire,source,created_at,updated_at "
                           "FROM schedules ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "schedule_load");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_schedule_row_t r = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .spec = (const char *)sqlite3_column_text(st, 1),
            .paused = sqlite3_column_int(st, 2) != 0,
            .last_fire = sqlite3_column_int64(st, 3),
            .source = (const char *)sqlite3_column_text(st, 4),
            .created_at = sqlite3_column_int64(st, 5),
            .updated_at = sqlite3_column_int64(st, 6),
        };
        cb(&r, arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "schedule_load");
}

static int st_run_insert(synq_store_t *base, const char *schedule, const synq_run_row_t *run)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->run_ins;
    sqlite3_bind_text(st, 1, schedule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run->fire_at);
    sqlite3_bind_int(st, 3, (int)run->kind);
    bind_text(st, 4, run->job_id);
    sqlite3_bind_int64(st, 5, run->created_at);
    return step_write(s, st, "run_insert");
}

static int st_run_delete(synq_store_t *base, const char *schedule, int64_t fire_at)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_bind_text(s->run_del1, 1, schedule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->run_del1, 2, fire_at);
    return step_write(s, s->run_del1, "run_delete");
}

static int st_run_list(synq_store_t *base, const char *schedule, int limit, synq_store_run_cb cb,
                       void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = s->run_list;
    sqlite3_bind_text(st, 1, schedule, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_run_row_t r = {
            .fire_at = sqlite3_column_int64(st, 0),
            .kind = (synq_run_kind_t)sqlite3_column_int(st, 1),
            .job_id = (const char *)sqlite3_column_text(st, 2),
            .created_at = sqlite3_column_int64(st, 3),
        };
        cb(&r, arg);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "run_list");
}

static int st_run_prune(synq_store_t *base, const char *schedule, int keep)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_bind_text(s->run_prune, 1, schedule, -1, SQLITE_STATIC);
    sqlite3_bind_int(s->run_prune, 2, keep);
    return step_write(s, s->run_prune, "run_prune");
}

/* ---- idempotency keys ---------------------------------------------------- */

static int st_idem_get(synq_store_t *base, const char *key, synq_idem_row_t *out)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = s->idem_get;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        /* the strings are copied into one buffer the store owns, so they
         * outlive the statement's reset (a statement left stepping would
         * hold a read snapshot open across commits) */
        static const int text_cols[] = {0, 1, 3, 4};
        const char **dst[] = {&out->key, &out->fingerprint, &out->job_id, &out->body};
        size_t total = 0, len[4];
        for (int k = 0; k < 4; k++) {
            len[k] = (size_t)sqlite3_column_bytes(st, text_cols[k]);
            total += len[k] + 1;
        }
        free(s->idem_buf);
        s->idem_buf = synq_malloc(total);
        char *p = s->idem_buf;
        for (int k = 0; k < 4; k++) {
            const unsigned char *t = sqlite3_column_text(st, text_cols[k]);
            if (t == NULL) {
                *dst[k] = NULL;
                continue;
            }
            memcpy(p, t, len[k]);
            p[len[k]] = '\0';
            *dst[k] = p;
            p += len[k] + 1;
        }
        out->status = sqlite3_column_int(st, 2);
        out->created_at = sqlite3_column_int64(st, 5);
    } else {
        ret = rc == SQLITE_DONE ? SYNQ_ENOTFOUND : fail(s, "idem_get");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int st_idem_put(synq_store_t *base, const synq_idem_row_t *row)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->idem_put;
    sqlite3_bind_text(st, 1, row->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, row->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, row->status);
    bind_text(st, 4, row->job_id);
    bind_text(st, 5, row->body);
    sqlite3_bind_int64(st, 6, row->created_at);
    return step_write(s, st, "idem_put");
}

/* Runs a one-off write statement with one int64 parameter. */
static int exec_write_i64(sqlite_store_t *s, const char *sql, int64_t v, const char *what)
{
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, what);
    sqlite3_bind_int64(st, 1, v);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

static int st_idem_prune(synq_store_t *base, int64_t before_us)
{
    return exec_write_i64((sqlite_store_t *)base, "DELETE FROM idempotency WHERE created_at < ?1",
                          before_us, "idem_prune");
}

/* ---- job events ---------------------------------------------------------- */

/* The store keeps every event it is given: the engine caps how many a job
 * appends (nevents). */
static int st_event_append(synq_store_t *base, const char *job_id, const synq_event_row_t *ev)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->ev_append;
    sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->n);
    sqlite3_bind_int64(st, 3, ev->at);
    sqlite3_bind_int(st, 4, (int)ev->kind);
    sqlite3_bind_text(st, 5, ev->data, -1, SQLITE_STATIC);
    return step_write(s, st, "event_append");
}

static int st_event_list(synq_store_t *base, const char *job_id, int64_t after_n,
                         synq_store_event_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT n, at, kind, data FROM job_events WHERE job_id=?1 AND n>?2 "
                           "ORDER BY n",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "event_list");
    sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_n);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_event_row_t ev = {
            .n = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
            .kind = (synq_event_kind_t)sqlite3_column_int(st, 2),
            .data = (const char *)sqlite3_column_text(st, 3),
        };
        cb(&ev, arg);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "event_list");
}

/* ---- batches ------------------------------------------------------------- */

static int st_batch_put(synq_store_t *base, const synq_batch_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st;
    /* an upsert, not INSERT OR REPLACE: the row keeps its rowid (and so its
     * place in batch_load's order) */
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO batches(id,spec,state,counts,created_at,committed_at,"
                           "done_at) VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(id) DO UPDATE SET "
                           "spec=excluded.spec,state=excluded.state,counts=excluded.counts,"
                           "created_at=excluded.created_at,committed_at=excluded.committed_at,"
                           "done_at=excluded.done_at",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "batch_put");
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->spec, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)r->state);
    bind_text(st, 4, r->counts);
    sqlite3_bind_int64(st, 5, r->created_at);
    sqlite3_bind_int64(st, 6, r->committed_at);
    sqlite3_bind_int64(st, 7, r->done_at);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(s, "batch_put");
}

#define BATCH_COLS "id,spec,state,counts,created_at,committed_at,done_at"

/* Calls cb for each row of a SELECT BATCH_COLS; finalizes st. Returns 0,
 * SYNQ_ENOTFOUND when want_one and no row came, or SYNQ_ESTORE. */
static int batch_rows(sqlite_store_t *s, sqlite3_stmt *st, bool want_one, synq_store_batch_cb cb,
                      void *arg)
{
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_batch_row_t r = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .spec = (const char *)sqlite3_column_text(st, 1),
            .state = (synq_batch_state_t)sqlite3_column_int(st, 2),
            .counts = (const char *)sqlite3_column_text(st, 3),
            .created_at = sqlite3_column_int64(st, 4),
            .committed_at = sqlite3_column_int64(st, 5),
            .done_at = sqlite3_column_int64(st, 6),
        };
        rows++;
        if (cb) cb(&r, arg);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(s, "batch");
    return want_one && rows == 0 ? SYNQ_ENOTFOUND : 0;
}

static int st_batch_load(synq_store_t *base, synq_store_batch_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT " BATCH_COLS " FROM batches WHERE state != %d ORDER BY rowid",
             SYNQ_BATCH_DONE);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "batch_load");
    return batch_rows(s, st, false, cb, arg);
}

static int st_batch_get(synq_store_t *base, const char *id, synq_store_batch_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT " BATCH_COLS " FROM batches WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "batch_get");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return batch_rows(s, st, true, cb, arg);
}

/* ---- callback deliveries ------------------------------------------------- */

#define DELIVERY_COLS                                                                              \
    "id,job_id,event,url,payload,secrets,traceparent,state,attempts,next_at,created_at,"           \
    "updated_at,log"

static int st_delivery_put(synq_store_t *base, const synq_delivery_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    if (ensure_txn(s)) return SYNQ_ESTORE;
    sqlite3_stmt *st = s->dlv_put;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->job_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->url, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->payload, -1, SQLITE_STATIC);
    bind_text(st, 6, r->secrets);
    bind_text(st, 7, r->traceparent);
    sqlite3_bind_int(st, 8, (int)r->state);
    sqlite3_bind_int(st, 9, r->attempts);
    sqlite3_bind_int64(st, 10, r->next_at);
    sqlite3_bind_int64(st, 11, r->created_at);
    sqlite3_bind_int64(st, 12, r->updated_at);
    sqlite3_bind_text(st, 13, r->log, -1, SQLITE_STATIC);
    return step_write(s, st, "delivery_put");
}

/* Calls cb for each row of a SELECT DELIVERY_COLS; finalizes st. Returns 0,
 * SYNQ_ENOTFOUND when want_one and no row came, or SYNQ_ESTORE. */
static int delivery_rows(sqlite_store_t *s, sqlite3_stmt *st, bool want_one,
                         synq_store_delivery_cb cb, void *arg)
{
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_delivery_row_t r = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .job_id = (const char *)sqlite3_column_text(st, 1),
            .event = (const char *)sqlite3_column_text(st, 2),
            .url = (const char *)sqlite3_column_text(st, 3),
            .payload = (const char *)sqlite3_column_text(st, 4),
            .secrets = (const char *)sqlite3_column_text(st, 5),
            .traceparent = (const char *)sqlite3_column_text(st, 6),
            .state = (synq_delivery_state_t)sqlite3_column_int(st, 7),
            .attempts = sqlite3_column_int(st, 8),
            .next_at = sqlite3_column_int64(st, 9),
            .created_at = sqlite3_column_int64(st, 10),
            .updated_at = sqlite3_column_int64(st, 11),
            .log = (const char *)sqlite3_column_text(st, 12),
        };
        rows++;
        cb(&r, arg);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail(s, "delivery");
    return want_one && rows == 0 ? SYNQ_ENOTFOUND : 0;
}

static int st_delivery_load_pending(synq_store_t *base, synq_store_delivery_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    /* "state = 0" literally, for the partial index deliveries_pending */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " DELIVERY_COLS " FROM deliveries WHERE state = 0 "
                           "ORDER BY next_at",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "delivery_load_pending");
    return delivery_rows(s, st, false, cb, arg);
}

static int st_delivery_list(synq_store_t *base, const char *job_id, synq_store_delivery_cb cb,
                            void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " DELIVERY_COLS " FROM deliveries WHERE job_id=?1 "
                           "ORDER BY created_at, rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, "delivery_list");
    sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
    return delivery_rows(s, st, false, cb, arg);
}

static int st_delivery_get(synq_store_t *base, const char *id, synq_store_delivery_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT " DELIVERY_COLS " FROM deliveries WHERE id=?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(s, "delivery_get");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return delivery_rows(s, st, true, cb, arg);
}

/* ---- LiveSync: channels -------------------------------------------------- */

/* The statement in slot i, prepared from sql on first use (reset and
 * unbound after each use by the callers' done()). NULL on failure. */
static sqlite3_stmt *lazy(sqlite_store_t *s, int i, const char *sql)
{
    if (!s->lazy[i] &&
        sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->lazy[i], NULL) !=
            SQLITE_OK) {
        fail(s, "prepare");
        return NULL;
    }
    return s->lazy[i];
}

/* Resets a lazy statement after a read loop; rc is the last step's. */
static int done_read(sqlite_store_t *s, sqlite3_stmt *st, int rc, const char *what)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail(s, what);
}

/* Opens the transaction and fetches a lazy statement for a write. */
static sqlite3_stmt *lazy_write(sqlite_store_t *s, int i, const char *sql)
{
    if (ensure_txn(s)) return NULL;
    return lazy(s, i, sql);
}

static int st_chan_put(synq_store_t *base, const synq_chan_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy_write(s, L_CHAN_PUT,
                                  "INSERT OR REPLACE INTO channels(name,epoch,top,updated_at) "
                                  "VALUES(?1,?2,?3,?4)");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->epoch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)r->top);
    sqlite3_bind_int64(st, 4, r->updated_at);
    return step_write(s, st, "chan_put");
}

static int st_chan_load(synq_store_t *base, synq_store_chan_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy(s, L_CHAN_LOAD, "SELECT name,epoch,top,updated_at FROM channels");
    if (!st) return SYNQ_ESTORE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_chan_row_t r = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .epoch = (const char *)sqlite3_column_text(st, 1),
            .top = (uint64_t)sqlite3_column_int64(st, 2),
            .updated_at = sqlite3_column_int64(st, 3),
        };
        cb(&r, arg);
    }
    return done_read(s, st, rc, "chan_load");
}

static int st_chan_delete(synq_store_t *base, const char *name)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    static const char *const sql[] = {"DELETE FROM channels WHERE name=?1",
                                      "DELETE FROM publications WHERE channel=?1",
                                      "DELETE FROM channel_idempotency WHERE channel=?1"};
    static const int slot[] = {L_CHAN_DEL, L_CHAN_DEL_PUBS, L_CHAN_DEL_IDEM};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(sql); i++) {
        sqlite3_stmt *st = lazy_write(s, slot[i], sql[i]);
        if (!st) return SYNQ_ESTORE;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (step_write(s, st, "chan_delete")) return SYNQ_ESTORE;
    }
    return 0;
}

static int st_pub_append(synq_store_t *base, const synq_pub_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy_write(s, L_PUB_APPEND,
                                  "INSERT OR REPLACE INTO publications(channel,offset,data,info,"
                                  "created_at) VALUES(?1,?2,?3,?4,?5)");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)r->offset);
    sqlite3_bind_text(st, 3, r->data, -1, SQLITE_STATIC);
    bind_text(st, 4, r->info);
    sqlite3_bind_int64(st, 5, r->created_at);
    return step_write(s, st, "pub_append");
}

static int st_pub_load(synq_store_t *base, synq_store_pub_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy(s, L_PUB_LOAD,
                            "SELECT channel,offset,data,info,created_at FROM publications "
                            "ORDER BY channel, offset");
    if (!st) return SYNQ_ESTORE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_pub_row_t r = {
            .channel = (const char *)sqlite3_column_text(st, 0),
            .offset = (uint64_t)sqlite3_column_int64(st, 1),
            .data = (const char *)sqlite3_column_text(st, 2),
            .info = (const char *)sqlite3_column_text(st, 3),
            .created_at = sqlite3_column_int64(st, 4),
        };
        cb(&r, arg);
    }
    return done_read(s, st, rc, "pub_load");
}

static int st_pub_trim(synq_store_t *base, const char *channel, uint64_t below)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st =
        lazy_write(s, L_PUB_TRIM, "DELETE FROM publications WHERE channel=?1 AND offset<?2");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)below);
    return step_write(s, st, "pub_trim");
}

static int st_chan_idem_put(synq_store_t *base, const synq_chan_idem_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy_write(s, L_CIDEM_PUT,
                                  "INSERT INTO channel_idempotency(channel,key,epoch,offset,"
                                  "created_at) VALUES(?1,?2,?3,?4,?5)");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, r->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->epoch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)r->offset);
    sqlite3_bind_int64(st, 5, r->created_at);
    return step_write(s, st, "chan_idem_put");
}

static int st_chan_idem_load(synq_store_t *base, synq_store_chan_idem_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy(s, L_CIDEM_LOAD,
                            "SELECT channel,key,epoch,offset,created_at FROM channel_idempotency "
                            "ORDER BY created_at");
    if (!st) return SYNQ_ESTORE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_chan_idem_row_t r = {
            .channel = (const char *)sqlite3_column_text(st, 0),
            .key = (const char *)sqlite3_column_text(st, 1),
            .epoch = (const char *)sqlite3_column_text(st, 2),
            .offset = (uint64_t)sqlite3_column_int64(st, 3),
            .created_at = sqlite3_column_int64(st, 4),
        };
        cb(&r, arg);
    }
    return done_read(s, st, rc, "chan_idem_load");
}

static int st_chan_idem_prune(synq_store_t *base, int64_t before_us)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st =
        lazy_write(s, L_CIDEM_PRUNE, "DELETE FROM channel_idempotency WHERE created_at<?1");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_int64(st, 1, before_us);
    return step_write(s, st, "chan_idem_prune");
}

/* ---- LiveSync: documents ------------------------------------------------- */

#define DOC_COLS "collection,id,version,data,meta,changed,updated_at"

/* Calls cb for each row of a SELECT DOC_COLS until it returns non-zero;
 * resets st. *rows counts the rows seen. */
static int doc_rows(sqlite_store_t *s, sqlite3_stmt *st, synq_store_doc_cb cb, void *arg,
                    int *rows)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        synq_doc_row_t r = {
            .collection = (const char *)sqlite3_column_text(st, 0),
            .id = (const char *)sqlite3_column_text(st, 1),
            .version = (uint64_t)sqlite3_column_int64(st, 2),
            .data = (const char *)sqlite3_column_text(st, 3),
            .meta = (const char *)sqlite3_column_text(st, 4),
            .changed = (const char *)sqlite3_column_text(st, 5),
            .updated_at = sqlite3_column_int64(st, 6),
        };
        (*rows)++;
        if (cb(&r, arg)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    return done_read(s, st, rc, "doc");
}

static int st_doc_get(synq_store_t *base, const char *collection, const char *id,
                      synq_store_doc_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st =
        lazy(s, L_DOC_GET, "SELECT " DOC_COLS " FROM docs WHERE collection=?1 AND id=?2");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rows = 0;
    int rc = doc_rows(s, st, cb, arg, &rows);
    if (rc) return rc;
    return rows ? 0 : SYNQ_ENOTFOUND;
}

static int st_doc_put(synq_store_t *base, const synq_doc_row_t *r)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy_write(s, L_DOC_PUT,
                                  "INSERT OR REPLACE INTO docs(" DOC_COLS ") "
                                  "VALUES(?1,?2,?3,?4,?5,?6,?7)");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, r->collection, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)r->version);
    bind_text(st, 4, r->data);
    bind_text(st, 5, r->meta);
    bind_text(st, 6, r->changed);
    sqlite3_bind_int64(st, 7, r->updated_at);
    return step_write(s, st, "doc_put");
}

static int st_doc_changes(synq_store_t *base, const char *collection, uint64_t since, int limit,
                          synq_store_doc_cb cb, void *arg)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy(s, L_DOC_CHANGES,
                            "SELECT " DOC_COLS " FROM docs WHERE collection=?1 AND version>?2 "
                            "ORDER BY version LIMIT ?3");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)since);
    sqlite3_bind_int(st, 3, limit);
    int rows = 0;
    return doc_rows(s, st, cb, arg, &rows);
}

static int st_doc_top(synq_store_t *base, const char *collection, uint64_t *version)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st =
        lazy(s, L_DOC_TOP, "SELECT coalesce(max(version),0) FROM docs WHERE collection=?1");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = (uint64_t)sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    return done_read(s, st, rc, "doc_top");
}

static int st_mutation_get(synq_store_t *base, const char *client, int64_t mutation,
                           char **result)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy(s, L_MUT_GET,
                            "SELECT result FROM doc_mutations WHERE client=?1 AND mutation=?2");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, mutation);
    int rc = sqlite3_step(st);
    bool found = rc == SQLITE_ROW;
    if (found) {
        *result = synq_strdup((const char *)sqlite3_column_text(st, 0));
        rc = SQLITE_DONE;
    }
    int r = done_read(s, st, rc, "mutation_get");
    if (r) return r;
    return found ? 0 : SYNQ_ENOTFOUND;
}

static int st_mutation_put(synq_store_t *base, const char *client, int64_t mutation,
                           const char *result, int64_t created_at)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st = lazy_write(s, L_MUT_PUT,
                                  "INSERT OR REPLACE INTO doc_mutations(client,mutation,result,"
                                  "created_at) VALUES(?1,?2,?3,?4)");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, mutation);
    sqlite3_bind_text(st, 3, result, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, created_at);
    return step_write(s, st, "mutation_put");
}

static int st_mutation_prune(synq_store_t *base, int64_t before_us)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    sqlite3_stmt *st =
        lazy_write(s, L_MUT_PRUNE, "DELETE FROM doc_mutations WHERE created_at<?1");
    if (!st) return SYNQ_ESTORE;
    sqlite3_bind_int64(st, 1, before_us);
    return step_write(s, st, "mutation_prune");
}

static void st_close(synq_store_t *base)
{
    sqlite_store_t *s = (sqlite_store_t *)base;
    st_commit(base);
    sqlite3_stmt *sts[] = {s->begin,       s->commit,    s->insert,    s->update,   s->lease,
                           s->done,        s->del,       s->get,       s->exists,   s->sched_put,
                           s->sched_state, s->sched_del, s->run_del,   s->run_ins,  s->run_list,
                           s->run_prune,   s->run_del1,  s->due,       s->tomb_put, s->ev_del,
                           s->idem_get,    s->idem_put,  s->ev_append, s->dlv_put};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(sts); i++) sqlite3_finalize(sts[i]);
    for (int i = 0; i < LAZY_MAX; i++) sqlite3_finalize(s->lazy[i]);
    sqlite3_close(s->db);
    free(s->idem_buf);
    free(s);
}

static const synq_store_ops_t ops = {
    .commit = st_commit,
    .job_insert = st_job_insert,
    .job_update = st_job_update,
    .job_update_lease = st_job_update_lease,
    .job_update_done = st_job_update_done,
    .job_update_due = st_job_update_due,
    .job_delete = st_job_delete,
    .job_exists = st_job_exists,
    .job_get = st_job_get,
    .job_list = st_job_list,
    .job_load_live = st_job_load_live,
    .job_counts = st_job_counts,
    .job_prune = st_job_prune,
    .tombstone_get = st_tombstone_get,
    .job_list_batch = st_job_list_batch,
    .job_states = st_job_states,
    .queue_set_paused = st_queue_set_paused,
    .queue_set_config = st_queue_set_config,
    .queue_load = st_queue_load,
    .schedule_put = st_schedule_put,
    .schedule_set_state = st_schedule_set_state,
    .schedule_delete = st_schedule_delete,
    .schedule_load = st_schedule_load,
    .run_insert = st_run_insert,
    .run_delete = st_run_delete,
    .run_list = st_run_list,
    .run_prune = st_run_prune,
    .idem_get = st_idem_get,
    .idem_put = st_idem_put,
    .idem_prune = st_idem_prune,
    .event_append = st_event_append,
    .event_list = st_event_list,
    .batch_put = st_batch_put,
    .batch_load = st_batch_load,
    .batch_get = st_batch_get,
    .delivery_put = st_delivery_put,
    .delivery_load_pending = st_delivery_load_pending,
    .delivery_list = st_delivery_list,
    .delivery_get = st_delivery_get,
    .chan_put = st_chan_put,
    .chan_load = st_chan_load,
    .chan_delete = st_chan_delete,
    .pub_append = st_pub_append,
    .pub_load = st_pub_load,
    .pub_trim = st_pub_trim,
    .chan_idem_put = st_chan_idem_put,
    .chan_idem_load = st_chan_idem_load,
    .chan_idem_prune = st_chan_idem_prune,
    .doc_get = st_doc_get,
    .doc_put = st_doc_put,
    .doc_changes = st_doc_changes,
    .doc_top = st_doc_top,
    .mutation_get = st_mutation_get,
    .mutation_put = st_mutation_put,
    .mutation_prune = st_mutation_prune,
    .close = st_close,
};

static int migrate(sqlite_store_t *s)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    int target = (int)SYNQ_ARRAY_LEN(migrations);
    if (version > target) {
        synq_log(SYNQ_LOG_ERROR, "database schema is newer than this synq", NULL);
        return -1;
    }
    for (int v = version; v < target; v++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v + 1);
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fail(s, "migrate");
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        char vs[16];
        snprintf(vs, sizeof vs, "%d", v + 1);
        synq_log(SYNQ_LOG_INFO, "schema migrated", "version", vs, NULL);
    }
    return 0;
}

static int prepare(sqlite_store_t *s, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return fail(s, "prepare");
    return 0;
}

synq_store_t *synq_store_sqlite_open(const char *dir, synq_durability_t durability)
{
    if (mkdir(dir, 0755) < 0) {
        struct stat sb;
        if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
            synq_log(SYNQ_LOG_ERROR, "cannot create data directory", "dir", dir, NULL);
            return NULL;
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/synq.db", dir);
    sqlite_store_t *s = synq_calloc(1, sizeof *s);
    s->base.ops = &ops;
    /* one thread owns the connection: no mutexes, no allocator statistics */
    static bool configured;
    if (!configured) {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        configured = true;
    }
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        synq_log(SYNQ_LOG_ERROR, "cannot open database", "path", path, "error",
                 sqlite3_errmsg(s->db), NULL);
        goto fail;
    }
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA busy_timeout=5000;"
             "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
             durability == SYNQ_DURABILITY_FULL ? "FULL" : "NORMAL");
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, "pragmas");
        goto fail;
    }
    if (migrate(s) < 0) goto fail;
    if (prepare(s, &s->begin, "BEGIN") || prepare(s, &s->commit, "COMMIT") ||
        prepare(s, &s->insert,
                "INSERT INTO jobs(id,queue,type,args,created_at,priority,state,retry,reserve_for,"
                "backoff,attempts,run_at,enqueued_at,started_at,finished_at,lease_until,worker,"
                "result,err_message,err_type,err_backtrace,custom,unique_key,expires_at,extra,"
                "schedule,fire_at,grp,batch) "
                "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,"
                "?21,?22,?23,?24,?25,?26,?27,?28,?29)") ||
        prepare(s, &s->update,
                "UPDATE jobs SET priority=?1,state=?2,retry=?3,reserve_for=?4,backoff=?5,"
                "attempts=?6,run_at=?7,enqueued_at=?8,started_at=?9,finished_at=?10,"
                "lease_until=?11,worker=?12,result=?13,err_message=?14,err_type=?15,"
                "err_backtrace=?16,custom=?17,unique_key=?18,expires_at=?19,extra=?20 "
                "WHERE seq=?21") ||
        prepare(s, &s->lease,
                "UPDATE jobs SET state=?1,attempts=?2,started_at=?3,lease_until=?4,worker=?5 "
                "WHERE seq=?6") ||
        prepare(s, &s->done,
                "UPDATE jobs SET state=?1,finished_at=?2,lease_until=?3,result=?4,expires_at=?5,"
                "extra=?6 WHERE seq=?7") ||
        prepare(s, &s->due, "UPDATE jobs SET state=?1,run_at=?2,enqueued_at=?3 WHERE seq=?4") ||
        prepare(s, &s->del, "DELETE FROM jobs WHERE id=?1") ||
        prepare(s, &s->get, "SELECT " JOB_COLS " FROM jobs WHERE id=?1") ||
        prepare(s, &s->exists, "SELECT 1 FROM jobs WHERE id=?1") ||
        prepare(s, &s->sched_put,
                "INSERT OR REPLACE INTO schedules(name,spec,paused,last_fire,source,created_at,"
                "updated_at) VALUES(?1,?2,?3,?4,?5,?6,?7)") ||
        prepare(s, &s->sched_state, "UPDATE schedules SET paused=?1,last_fire=?2 WHERE name=?3") ||
        prepare(s, &s->sched_del, "DELETE FROM schedules WHERE name=?1") ||
        prepare(s, &s->run_del, "DELETE FROM schedule_runs WHERE schedule=?1") ||
        prepare(s, &s->run_ins,
                "INSERT INTO schedule_runs(schedule,fire_at,kind,job_id,created_at) "
                "VALUES(?1,?2,?3,?4,?5)") ||
        prepare(s, &s->run_del1, "DELETE FROM schedule_runs WHERE schedule=?1 AND fire_at=?2") ||
        prepare(s, &s->run_list,
                "SELECT fire_at,kind,job_id,created_at FROM schedule_runs WHERE schedule=?1 "
                "ORDER BY fire_at DESC LIMIT ?2") ||
        prepare(s, &s->run_prune,
                "DELETE FROM schedule_runs WHERE schedule=?1 AND fire_at < (SELECT fire_at FROM "
                "schedule_runs WHERE schedule=?1 ORDER BY fire_at DESC LIMIT 1 OFFSET ?2-1)") ||
        prepare(s, &s->tomb_put,
                "INSERT OR REPLACE INTO tombstones(id,expired_at) VALUES(?1,?2)") ||
        prepare(s, &s->ev_del, "DELETE FROM job_events WHERE job_id=?1") ||
        prepare(s, &s->idem_get,
                "SELECT key,fingerprint,status,job_id,body,created_at FROM idempotency "
                "WHERE key=?1") ||
        prepare(s, &s->idem_put,
                "INSERT INTO idempotency(key,fingerprint,status,job_id,body,created_at) "
                "VALUES(?1,?2,?3,?4,?5,?6)") ||
        prepare(s, &s->ev_append,
                "INSERT INTO job_events(job_id,n,at,kind,data) VALUES(?1,?2,?3,?4,?5)") ||
        prepare(s, &s->dlv_put,
                "INSERT INTO deliveries(" DELIVERY_COLS ") "
                "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13) ON CONFLICT(id) DO UPDATE SET "
                "job_id=excluded.job_id,event=excluded.event,url=excluded.url,"
                "payload=excluded.payload,secrets=excluded.secrets,"
                "traceparent=excluded.traceparent,state=excluded.state,"
                "attempts=excluded.attempts,next_at=excluded.next_at,"
                "created_at=excluded.created_at,updated_at=excluded.updated_at,log=excluded.log"))
        goto fail;
    return &s->base;
fail:
    st_close(&s->base);
    return NULL;
}
