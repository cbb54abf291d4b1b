/* Unit tests for store/sqlite: every job field round trips (the columns and
 * the extra JSON column), start-up loading includes waiting jobs, pruning by
 * expiry and by cap leaves tombstones and drops events, tombstones expire,
 * and the idempotency, event, batch, delivery and queue-config tables work.
 * A database written by schema v3 is migrated on open. Each test opens a
 * fresh store in its own temporary directory. */
#include "store/store.h"

#include "core/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define SEC 1000000LL

typedef struct {
    char dir[64];
    synq_store_t *s;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/synq_test_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->s = synq_store_sqlite_open(f->dir, SYNQ_DURABILITY_NORMAL);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static void remove_db(const char *dir)
{
    static const char *const names[] = {"synq.db", "synq.db-wal", "synq.db-shm"};
    char path[128];
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->s) f->s->ops->close(f->s);
    remove_db(f->dir);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Commits, closes and opens the store again: what follows reads from disk. */
static void reopen(fixture_t *f)
{
    assert_int_equal(f->s->ops->commit(f->s), 0);
    f->s->ops->close(f->s);
    f->s = synq_store_sqlite_open(f->dir, SYNQ_DURABILITY_NORMAL);
    assert_non_null(f->s);
}

/* A minimal job; the caller sets the rest. */
static synq_job_t *new_job(const char *id, const char *queue, synq_job_state_t st)
{
    synq_job_t *j = synq_calloc(1, sizeof *j);
    j->id = synq_strdup(id);
    j->queue = synq_strdup(queue);
    j->type = synq_strdup("t");
    j->args = synq_strdup("[]");
    j->priority = SYNQ_JOB_DEFAULT_PRIORITY;
    j->retry = SYNQ_JOB_DEFAULT_RETRY;
    j->reserve_for = SYNQ_JOB_DEFAULT_RESERVE_S;
    j->state = st;
    j->created_at = NOW;
    return j;
}

/* Inserts a job and frees it; returns its seq. */
static int64_t put_job(synq_store_t *s, const char *id, const char *queue, synq_job_state_t st,
                       int64_t expires_at)
{
    synq_job_t *j = new_job(id, queue, st);
    j->expires_at = expires_at;
    assert_int_equal(s->ops->job_insert(s, j), 0);
    int64_t seq = j->seq;
    synq_job_free(j);
    return seq;
}

static synq_job_t *get_job(synq_store_t *s, const char *id)
{
    synq_job_t *j = NULL;
    assert_int_equal(s->ops->job_get(s, id, &j), 0);
    assert_non_null(j);
    return j;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void add_event(synq_store_t *s, const char *job_id, int64_t n)
{
    synq_event_row_t ev = {.n = n, .at = NOW + n, .kind = SYNQ_EVENT_LOG, .data = "\"line\""};
    assert_int_equal(s->ops->event_append(s, job_id, &ev), 0);
}

static void count_event(const synq_event_row_t *ev, void *arg)
{
    (*(int *)arg)++;
}

static int event_count(synq_store_t *s, const char *job_id)
{
    int n = 0;
    assert_int_equal(s->ops->event_list(s, job_id, 0, count_event, &n), 0);
    return n;
}

/* Collects job ids (in callback order) from job_load_live and friends. */
typedef struct {
    char ids[16][32];
    int n;
} id_list_t;

static int collect_job(synq_job_t *job, void *arg)
{
    id_list_t *l = arg;
    assert_true(l->n < 16);
    snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", job->id);
    synq_job_free(job);
    return 0;
}

/* ---- jobs ------------------------------------------------------------------ */

/* Every persisted field, set to something other than its zero value. */
static synq_job_t *full_job(void)
{
    synq_job_t *j = new_job("full", "mail", SYNQ_JOB_ACTIVE);
    free(j->args);
    j->args = synq_strdup("[1,\"two\"]");
    j->custom = synq_strdup("{\"k\":\"v\"}");
    j->backoff_json = synq_strdup("{\"type\":\"fixed\",\"base\":\"5s\"}");
    j->priority = 7;
    j->retry = 3;
    j->reserve_for = 60;
    j->attempts = 2;
    j->run_at = NOW + 1;
    j->enqueued_at = NOW + 2;
    j->started_at = NOW + 3;
    j->finished_at = NOW + 4;
    j->lease_until = NOW + 5;
    j->worker = synq_strdup("w1");
    j->result = synq_strdup("{\"ok\":true}");
    j->err_message = synq_strdup("boom");
    j->err_type = synq_strdup("Err");
    j->err_backtrace = synq_strdup("[\"a\"]");
    j->schedule = synq_strdup("nightly");
    j->fire_at = NOW - 1;
    j->group = synq_strdup("customer-42");
    j->batch = synq_strdup("b1");
    j->unique_key = synq_strdup("u1");
    j->unique_until_us = NOW + 3600 * SEC;
    j->unique_until_start = true;
    j->traceparent = synq_strdup("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    j->keep_for_us = 86400 * SEC;
    j->expires_at = NOW + 7 * 86400 * SEC;
    j->callback = synq_strdup("{\"url\":\"http://x/cb\",\"events\":[\"completed\"]}");
    j->depends_on = synq_strdup("[\"a\",\"b\"]");
    j->run_on_dep_failure = true;
    j->dep_results = synq_strdup("{\"a\":1,\"b\":null}");
    j->progress = synq_strdup("{\"percent\":50}");
    j->group_blocked = 3;
    j->nevents = 9;
    return j;
}

static void assert_jobs_equal(const synq_job_t *a, const synq_job_t *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->queue, b->queue);
    assert_string_equal(a->type, b->type);
    assert_string_equal(a->args, b->args);
    assert_str_or_null(a->custom, b->custom);
    assert_str_or_null(a->backoff_json, b->backoff_json);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->retry, b->retry);
    assert_int_equal(a->reserve_for, b->reserve_for);
    assert_int_equal(a->attempts, b->attempts);
    assert_int_equal(a->run_at, b->run_at);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->enqueued_at, b->enqueued_at);
    assert_int_equal(a->started_at, b->started_at);
    assert_int_equal(a->finished_at, b->finished_at);
    assert_int_equal(a->lease_until, b->lease_until);
    assert_str_or_null(a->worker, b->worker);
    assert_str_or_null(a->result, b->result);
    assert_str_or_null(a->err_message, b->err_message);
    assert_str_or_null(a->err_type, b->err_type);
    assert_str_or_null(a->err_backtrace, b->err_backtrace);
    assert_int_equal(a->seq, b->seq);
    assert_str_or_null(a->schedule, b->schedule);
    assert_int_equal(a->fire_at, b->fire_at);
    assert_str_or_null(a->group, b->group);
    assert_str_or_null(a->batch, b->batch);
    assert_str_or_null(a->unique_key, b->unique_key);
    assert_int_equal(a->unique_until_us, b->unique_until_us);
    assert_int_equal(a->unique_until_start, b->unique_until_start);
    assert_str_or_null(a->traceparent, b->traceparent);
    assert_int_equal(a->keep_for_us, b->keep_for_us);
    assert_int_equal(a->expires_at, b->expires_at);
    assert_str_or_null(a->callback, b->callback);
    assert_str_or_null(a->depends_on, b->depends_on);
    assert_int_equal(a->run_on_dep_failure, b->run_on_dep_failure);
    assert_str_or_null(a->dep_results, b->dep_results);
    assert_str_or_null(a->progress, b->progress);
    assert_int_equal(a->group_blocked, b->group_blocked);
    assert_int_equal(a->nevents, b->nevents);
}

static void test_job_round_trip(void **state)
{
    fixture_t *f = *state;
    synq_job_t *j = full_job();
    assert_int_equal(f->s->ops->job_insert(f->s, j), 0);
    assert_true(j->seq > 0);
    synq_job_t *got = get_job(f->s, "full");
    assert_jobs_equal(got, j);
    assert_int_equal(got->backoff.type, SYNQ_BACKOFF_FIXED);
    synq_job_free(got);
    /* and from disk, after a commit */
    reopen(f);
    got = get_job(f->s, "full");
    assert_jobs_equal(got, j);
    synq_job_free(got);
    synq_job_free(j);
}

static void test_job_round_trip_minimal(void **state)
{
    fixture_t *f = *state;
    synq_job_t *j = new_job("min", "q", SYNQ_JOB_QUEUED);
    assert_int_equal(f->s->ops->job_insert(f->s, j), 0);
    synq_job_t *got = get_job(f->s, "min");
    assert_jobs_equal(got, j);
    synq_job_free(got);
    synq_job_free(j);
    /* no extra options: the column stays NULL */
    synq_job_t *dup = new_job("min", "q", SYNQ_JOB_QUEUED);
    assert_int_equal(f->s->ops->job_insert(f->s, dup), SYNQ_ECONFLICT);
    synq_job_free(dup);
}

static void test_job_update(void **state)
{
    fixture_t *f = *state;
    synq_job_t *j = full_job();
    assert_int_equal(f->s->ops->job_insert(f->s, j), 0);
    /* the whole-row update writes unique_key (cleared), expires_at and the
     * extra options; group and batch are immutable */
    free(j->unique_key);
    j->unique_key = NULL;
    j->unique_until_us = 0;
    j->unique_until_start = false;
    j->expires_at = NOW + 99;
    free(j->progress);
    j->progress = synq_strdup("{\"percent\":75}");
    j->nevents = 10;
    j->state = SYNQ_JOB_COMPLETED;
    assert_int_equal(f->s->ops->job_update(f->s, j), 0);
    synq_job_t *got = get_job(f->s, "full");
    assert_jobs_equal(got, j);
    synq_job_free(got);

    free(j->group);
    j->group = synq_strdup("other");
    free(j->batch);
    j->batch = NULL;
    assert_int_equal(f->s->ops->job_update(f->s, j), 0);
    got = get_job(f->s, "full");
    assert_string_equal(got->group, "customer-42");
    assert_string_equal(got->batch, "b1");
    synq_job_free(got);
    synq_job_free(j);
}

static void test_job_update_done(void **state)
{
    fixture_t *f = *state;
    synq_job_t *j = new_job("d", "q", SYNQ_JOB_ACTIVE);
    j->worker = synq_strdup("w");
    assert_int_equal(f->s->ops->job_insert(f->s, j), 0);
    j->state = SYNQ_JOB_COMPLETED;
    j->finished_at = NOW + 10;
    j->lease_until = 0;
    j->result = synq_strdup("42");
    j->expires_at = NOW + 100;
    j->keep_for_us = 90 * SEC;
    j->progress = synq_strdup("{\"percent\":100}");
    j->dep_results = synq_strdup("{}");
    assert_int_equal(f->s->ops->job_update_done(f->s, j), 0);
    synq_job_t *got = get_job(f->s, "d");
    assert_jobs_equal(got, j);
    synq_job_free(got);

    /* the extra column is cleared when nothing is left in it */
    free(j->progress);
    j->progress = NULL;
    free(j->dep_results);
    j->dep_results = NULL;
    j->keep_for_us = 0;
    assert_int_equal(f->s->ops->job_update_done(f->s, j), 0);
    got = get_job(f->s, "d");
    assert_jobs_equal(got, j);
    synq_job_free(got);
    synq_job_free(j);
}

static void test_job_load_live_includes_waiting(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *id;
        synq_job_state_t st;
    } jobs[] = {
        {"w1", SYNQ_JOB_WAITING},  {"c", SYNQ_JOB_COMPLETED}, {"s", SYNQ_JOB_SCHEDULED},
        {"q", SYNQ_JOB_QUEUED},    {"d", SYNQ_JOB_DEAD},      {"a", SYNQ_JOB_ACTIVE},
        {"x", SYNQ_JOB_CANCELLED}, {"r", SYNQ_JOB_RETRY},     {"w2", SYNQ_JOB_WAITING},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(jobs); i++)
        put_job(f->s, jobs[i].id, "q", jobs[i].st, 0);
    id_list_t l = {.n = 0};
    assert_int_equal(f->s->ops->job_load_live(f->s, collect_job, &l), 0);
    static const char *const want[] = {"w1", "s", "q", "a", "r", "w2"};
    assert_int_equal(l.n, SYNQ_ARRAY_LEN(want));
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(want); i++)
        assert_string_equal(l.ids[i], want[i]);
}

static void test_job_list_batch(void **state)
{
    fixture_t *f = *state;
    const char *batches[] = {"b1", NULL, "b2", "b1", "b1"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(batches); i++) {
        char id[8];
        snprintf(id, sizeof id, "j%zu", i);
        synq_job_t *j = new_job(id, "q", i == 3 ? SYNQ_JOB_DEAD : SYNQ_JOB_QUEUED);
        j->batch = batches[i] ? synq_strdup(batches[i]) : NULL;
        assert_int_equal(f->s->ops->job_insert(f->s, j), 0);
        synq_job_free(j);
    }
    id_list_t l = {.n = 0};
    assert_int_equal(f->s->ops->job_list_batch(f->s, "b1", collect_job, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[0], "j0");
    assert_string_equal(l.ids[1], "j3");
    assert_string_equal(l.ids[2], "j4");
    l.n = 0;
    assert_int_equal(f->s->ops->job_list_batch(f->s, "none", collect_job, &l), 0);
    assert_int_equal(l.n, 0);
}

typedef struct {
    char ids[8][16];
    synq_job_state_t st[8];
    int n;
} state_list_t;

static void collect_state(const char *id, synq_job_state_t st, void *arg)
{
    state_list_t *l = arg;
    assert_true(l->n < 8);
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", id);
    l->st[l->n++] = st;
}

static void test_job_states(void **state)
{
    fixture_t *f = *state;
    put_job(f->s, "a", "q", SYNQ_JOB_COMPLETED, 0);
    put_job(f->s, "b", "q", SYNQ_JOB_DEAD, 0);
    put_job(f->s, "c", "q", SYNQ_JOB_QUEUED, 0);
    const char *const ids[] = {"c", "missing", "a", "b"};
    state_list_t l = {.n = 0};
    assert_int_equal(f->s->ops->job_states(f->s, ids, SYNQ_ARRAY_LEN(ids), collect_state, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[0], "c");
    assert_int_equal(l.st[0], SYNQ_JOB_QUEUED);
    assert_string_equal(l.ids[1], "a");
    assert_int_equal(l.st[1], SYNQ_JOB_COMPLETED);
    assert_string_equal(l.ids[2], "b");
    assert_int_equal(l.st[2], SYNQ_JOB_DEAD);
    l.n = 0;
    assert_int_equal(f->s->ops->job_states(f->s, ids, 0, collect_state, &l), 0);
    assert_int_equal(l.n, 0);
}

static void test_job_delete_drops_events(void **state)
{
    fixture_t *f = *state;
    put_job(f->s, "a", "q", SYNQ_JOB_ACTIVE, 0);
    put_job(f->s, "b", "q", SYNQ_JOB_ACTIVE, 0);
    for (int n = 1; n <= 3; n++) {
        add_event(f->s, "a", n);
        add_event(f->s, "b", n);
    }
    assert_int_equal(f->s->ops->job_delete(f->s, "a"), 0);
    assert_int_equal(f->s->ops->job_exists(f->s, "a"), SYNQ_ENOTFOUND);
    assert_int_equal(event_count(f->s, "a"), 0);
    assert_int_equal(event_count(f->s, "b"), 3);
}

/* ---- pruning --------------------------------------------------------------- */

typedef struct {
    char queues[16][16];
    synq_job_state_t st[16];
    int n;
} pruned_t;

static void on_pruned(const char *queue, synq_job_state_t st, void *arg)
{
    pruned_t *p = arg;
    assert_true(p->n < 16);
    snprintf(p->queues[p->n], sizeof p->queues[0], "%s", queue);
    p->st[p->n++] = st;
}

static int64_t tombstone(synq_store_t *s, const char *id)
{
    int64_t at = -1;
    int rc = s->ops->tombstone_get(s, id, &at);
    if (rc == SYNQ_ENOTFOUND) return 0;
    assert_int_equal(rc, 0);
    return at;
}

static void test_prune_expired(void **state)
{
    fixture_t *f = *state;
    put_job(f->s, "done1", "qa", SYNQ_JOB_COMPLETED, NOW - 10);
    put_job(f->s, "dead1", "qb", SYNQ_JOB_DEAD, NOW);
    put_job(f->s, "later", "qa", SYNQ_JOB_COMPLETED, NOW + 1);
    put_job(f->s, "forever", "qa", SYNQ_JOB_CANCELLED, 0);
    /* a live job is never pruned, even with a stale expires_at */
    put_job(f->s, "live", "qa", SYNQ_JOB_QUEUED, NOW - 10);
    for (int n = 1; n <= 2; n++) {
        add_event(f->s, "done1", n);
        add_event(f->s, "later", n);
    }
    pruned_t p = {.n = 0};
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, 0, 0, on_pruned, &p), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.queues[0], "qa");
    assert_int_equal(p.st[0], SYNQ_JOB_COMPLETED);
    assert_string_equal(p.queues[1], "qb");
    assert_int_equal(p.st[1], SYNQ_JOB_DEAD);

    assert_int_equal(f->s->ops->job_exists(f->s, "done1"), SYNQ_ENOTFOUND);
    assert_int_equal(f->s->ops->job_exists(f->s, "dead1"), SYNQ_ENOTFOUND);
    assert_int_equal(f->s->ops->job_exists(f->s, "later"), 0);
    assert_int_equal(f->s->ops->job_exists(f->s, "forever"), 0);
    assert_int_equal(f->s->ops->job_exists(f->s, "live"), 0);
    assert_int_equal(tombstone(f->s, "done1"), NOW - 10);
    assert_int_equal(tombstone(f->s, "dead1"), NOW);
    assert_int_equal(tombstone(f->s, "later"), 0);
    assert_int_equal(tombstone(f->s, "live"), 0);
    assert_int_equal(event_count(f->s, "done1"), 0);
    assert_int_equal(event_count(f->s, "later"), 2);

    /* the tombstones survive a commit */
    reopen(f);
    assert_int_equal(tombstone(f->s, "done1"), NOW - 10);
    /* nothing more to do at the same time; a cb of NULL is allowed */
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, 0, 0, NULL, NULL), 0);
    assert_int_equal(f->s->ops->job_exists(f->s, "later"), 0);
}

static void test_prune_cap(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        put_job(f->s, id, "q", SYNQ_JOB_COMPLETED, 0);
        add_event(f->s, id, 1);
    }
    put_job(f->s, "d0", "q", SYNQ_JOB_DEAD, 0);
    put_job(f->s, "x0", "q", SYNQ_JOB_COMPLETED, NOW - 1); /* expires as well */

    /* keep_max < 0: no cap, only expiry */
    pruned_t p = {.n = 0};
    assert_int_equal(f->s->ops->job_prune(f->s, SYNQ_JOB_COMPLETED, NOW, -1, 0, on_pruned, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(tombstone(f->s, "x0"), NOW - 1);

    /* keep the newest two completed: c0, c1, c2 go with expired_at = now */
    p.n = 0;
    assert_int_equal(f->s->ops->job_prune(f->s, SYNQ_JOB_COMPLETED, NOW + 5, 2, 0, on_pruned, &p),
                     0);
    assert_int_equal(p.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(p.queues[i], "q");
        assert_int_equal(p.st[i], SYNQ_JOB_COMPLETED);
    }
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        assert_int_equal(f->s->ops->job_exists(f->s, id), i < 3 ? SYNQ_ENOTFOUND : 0);
        assert_int_equal(tombstone(f->s, id), i < 3 ? NOW + 5 : 0);
        assert_int_equal(event_count(f->s, id), i < 3 ? 0 : 1);
    }
    assert_int_equal(f->s->ops->job_exists(f->s, "d0"), 0);

    /* keep_max 0 empties the state */
    p.n = 0;
    assert_int_equal(f->s->ops->job_prune(f->s, SYNQ_JOB_DEAD, NOW + 6, 0, 0, on_pruned, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.st[0], SYNQ_JOB_DEAD);
    assert_int_equal(f->s->ops->job_exists(f->s, "d0"), SYNQ_ENOTFOUND);

    /* the cap applies to queued jobs too (not covered by the partial index) */
    put_job(f->s, "q0", "q", SYNQ_JOB_QUEUED, 0);
    put_job(f->s, "q1", "q", SYNQ_JOB_QUEUED, 0);
    p.n = 0;
    assert_int_equal(f->s->ops->job_prune(f->s, SYNQ_JOB_QUEUED, NOW + 7, 1, 0, on_pruned, &p), 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(f->s->ops->job_exists(f->s, "q0"), SYNQ_ENOTFOUND);
    assert_int_equal(f->s->ops->job_exists(f->s, "q1"), 0);
}

static void test_tombstones_expire(void **state)
{
    fixture_t *f = *state;
    put_job(f->s, "old", "q", SYNQ_JOB_COMPLETED, NOW - 100);
    put_job(f->s, "new", "q", SYNQ_JOB_COMPLETED, NOW - 50);
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, -1, 0, NULL, NULL), 0);
    assert_int_equal(tombstone(f->s, "old"), NOW - 100);
    assert_int_equal(tombstone(f->s, "new"), NOW - 50);
    /* strictly older than tombstone_before goes */
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, -1, NOW - 100, NULL, NULL), 0);
    assert_int_equal(tombstone(f->s, "old"), NOW - 100);
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, -1, NOW - 99, NULL, NULL), 0);
    assert_int_equal(tombstone(f->s, "old"), 0);
    assert_int_equal(tombstone(f->s, "new"), NOW - 50);
    assert_int_equal(f->s->ops->job_prune(f->s, -1, NOW, -1, NOW, NULL, NULL), 0);
    assert_int_equal(tombstone(f->s, "new"), 0);
}

/* ---- idempotency keys ------------------------------------------------------ */

static void test_idem(void **state)
{
    fixture_t *f = *state;
    synq_store_t *s = f->s;
    synq_idem_row_t row = {.key = "k1",
                           .fingerprint = "fp1",
                           .status = 201,
                           .job_id = "j1",
                           .body = "{\"id\":\"j1\"}",
                           .created_at = NOW};
    assert_int_equal(s->ops->idem_put(s, &row), 0);
    synq_idem_row_t bare = {
        .key = "k2", .fingerprint = "fp2", .status = 400, .created_at = NOW + 5};
    assert_int_equal(s->ops->idem_put(s, &bare), 0);

    synq_idem_row_t got = {0};
    assert_int_equal(s->ops->idem_get(s, "k1", &got), 0);
    assert_string_equal(got.key, "k1");
    assert_string_equal(got.fingerprint, "fp1");
    assert_int_equal(got.status, 201);
    assert_string_equal(got.job_id, "j1");
    assert_string_equal(got.body, "{\"id\":\"j1\"}");
    assert_int_equal(got.created_at, NOW);
    /* still valid after an unrelated store call */
    assert_int_equal(s->ops->job_exists(s, "nothing"), SYNQ_ENOTFOUND);
    assert_string_equal(got.body, "{\"id\":\"j1\"}");

    assert_int_equal(s->ops->idem_get(s, "k2", &got), 0);
    assert_string_equal(got.key, "k2");
    assert_null(got.job_id);
    assert_null(got.body);
    assert_int_equal(got.status, 400);
    assert_int_equal(s->ops->idem_get(s, "k3", &got), SYNQ_ENOTFOUND);

    /* a second request with the same key conflicts, the first answer stays */
    synq_idem_row_t again = row;
    again.fingerprint = "other";
    assert_int_equal(s->ops->idem_put(s, &again), SYNQ_ECONFLICT);
    assert_int_equal(s->ops->idem_get(s, "k1", &got), 0);
    assert_string_equal(got.fingerprint, "fp1");

    reopen(f);
    s = f->s;
    assert_int_equal(s->ops->idem_prune(s, NOW + 1), 0);
    assert_int_equal(s->ops->idem_get(s, "k1", &got), SYNQ_ENOTFOUND);
    assert_int_equal(s->ops->idem_get(s, "k2", &got), 0);
    assert_int_equal(s->ops->idem_prune(s, NOW + 5), 0);
    assert_int_equal(s->ops->idem_get(s, "k2", &got), 0);
    assert_int_equal(s->ops->idem_prune(s, NOW + 6), 0);
    assert_int_equal(s->ops->idem_get(s, "k2", &got), SYNQ_ENOTFOUND);
    /* the key is free again */
    assert_int_equal(s->ops->idem_put(s, &row), 0);
}

/* ---- events ---------------------------------------------------------------- */

typedef struct {
    synq_event_row_t ev[8];
    char data[8][32];
    int n;
} event_list_t;

static void collect_event(const synq_event_row_t *ev, void *arg)
{
    event_list_t *l = arg;
    assert_true(l->n < 8);
    l->ev[l->n] = *ev;
    snprintf(l->data[l->n], sizeof l->data[0], "%s", ev->data);
    l->ev[l->n].data = l->data[l->n];
    l->n++;
}

static void test_events(void **state)
{
    fixture_t *f = *state;
    synq_store_t *s = f->s;
    put_job(s, "j", "q", SYNQ_JOB_ACTIVE, 0);
    for (int n = 1; n <= 5; n++) {
        char data[16];
        snprintf(data, sizeof data, "{\"p\":%d}", n * 10);
        synq_event_row_t ev = {.n = n,
                               .at = NOW + n,
                               .kind = n % 2 ? SYNQ_EVENT_PROGRESS : SYNQ_EVENT_LOG,
                               .data = data};
        assert_int_equal(s->ops->event_append(s, "j", &ev), 0);
    }
    add_event(s, "other", 1);
    synq_event_row_t dup = {.n = 3, .at = NOW, .kind = SYNQ_EVENT_LOG, .data = "\"x\""};
    assert_int_equal(s->ops->event_append(s, "j", &dup), SYNQ_ECONFLICT);

    reopen(f);
    s = f->s;
    event_list_t l = {.n = 0};
    assert_int_equal(s->ops->event_list(s, "j", 0, collect_event, &l), 0);
    assert_int_equal(l.n, 5);
    for (int i = 0; i < 5; i++) {
        char data[16];
        snprintf(data, sizeof data, "{\"p\":%d}", (i + 1) * 10);
        assert_int_equal(l.ev[i].n, i + 1);
        assert_int_equal(l.ev[i].at, NOW + i + 1);
        assert_int_equal(l.ev[i].kind, (i + 1) % 2 ? SYNQ_EVENT_PROGRESS : SYNQ_EVENT_LOG);
        assert_string_equal(l.ev[i].data, data);
    }
    l.n = 0;
    assert_int_equal(s->ops->event_list(s, "j", 3, collect_event, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.ev[0].n, 4);
    assert_int_equal(l.ev[1].n, 5);
    l.n = 0;
    assert_int_equal(s->ops->event_list(s, "j", 5, collect_event, &l), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(event_count(s, "other"), 1);
    assert_int_equal(event_count(s, "nobody"), 0);
}

/* ---- batches --------------------------------------------------------------- */

typedef struct {
    char ids[8][16];
    char counts[8][32];
    synq_batch_row_t rows[8];
    int n;
} batch_list_t;

static void collect_batch(const synq_batch_row_t *r, void *arg)
{
    batch_list_t *l = arg;
    assert_true(l->n < 8);
    l->rows[l->n] = *r;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", r->id);
    snprintf(l->counts[l->n], sizeof l->counts[0], "%s", r->counts ? r->counts : "(null)");
    l->rows[l->n].spec = NULL;
    l->n++;
}

static void check_spec(const synq_batch_row_t *r, void *arg)
{
    assert_string_equal(r->spec, (const char *)arg);
}

static void test_batches(void **state)
{
    fixture_t *f = *state;
    synq_store_t *s = f->s;
    synq_batch_row_t b1 = {.id = "b1", .spec = "{\"description\":\"one\"}", .created_at = NOW};
    synq_batch_row_t b2 = {.id = "b2",
                           .spec = "{}",
                           .state = SYNQ_BATCH_COMMITTED,
                           .created_at = NOW + 1,
                           .committed_at = NOW + 2};
    synq_batch_row_t b3 = {.id = "b3",
                           .spec = "{}",
                           .state = SYNQ_BATCH_DONE,
                           .counts = "{\"completed\":2}",
                           .created_at = NOW + 3,
                           .committed_at = NOW + 4,
                           .done_at = NOW + 5};
    assert_int_equal(s->ops->batch_put(s, &b1), 0);
    assert_int_equal(s->ops->batch_put(s, &b2), 0);
    assert_int_equal(s->ops->batch_put(s, &b3), 0);

    batch_list_t l = {.n = 0};
    assert_int_equal(s->ops->batch_load(s, collect_batch, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "b1");
    assert_int_equal(l.rows[0].state, SYNQ_BATCH_OPEN);
    assert_string_equal(l.counts[0], "(null)");
    assert_string_equal(l.ids[1], "b2");
    assert_int_equal(l.rows[1].state, SYNQ_BATCH_COMMITTED);
    assert_int_equal(l.rows[1].committed_at, NOW + 2);

    l.n = 0;
    assert_int_equal(s->ops->batch_get(s, "b3", collect_batch, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.rows[0].state, SYNQ_BATCH_DONE);
    assert_string_equal(l.counts[0], "{\"completed\":2}");
    assert_int_equal(l.rows[0].created_at, NOW + 3);
    assert_int_equal(l.rows[0].committed_at, NOW + 4);
    assert_int_equal(l.rows[0].done_at, NOW + 5);
    assert_int_equal(s->ops->batch_get(s, "b1", check_spec, "{\"description\":\"one\"}"), 0);
    l.n = 0;
    assert_int_equal(s->ops->batch_get(s, "nope", collect_batch, &l), SYNQ_ENOTFOUND);
    assert_int_equal(l.n, 0);

    /* replacing b1 (committed, then done) keeps the order of the rest */
    b1.state = SYNQ_BATCH_COMMITTED;
    b1.committed_at = NOW + 9;
    assert_int_equal(s->ops->batch_put(s, &b1), 0);
    reopen(f);
    s = f->s;
    l.n = 0;
    assert_int_equal(s->ops->batch_load(s, collect_batch, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "b1");
    assert_int_equal(l.rows[0].committed_at, NOW + 9);
    b1.state = SYNQ_BATCH_DONE;
    b1.counts = "{}";
    assert_int_equal(s->ops->batch_put(s, &b1), 0);
    l.n = 0;
    assert_int_equal(s->ops->batch_load(s, collect_batch, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "b2");
}

/* ---- deliveries ------------------------------------------------------------ */

typedef struct {
    char ids[8][16];
    synq_delivery_row_t rows[8];
    int n;
} delivery_list_t;

static void collect_delivery(const synq_delivery_row_t *r, void *arg)
{
    delivery_list_t *l = arg;
    assert_true(l->n < 8);
    l->rows[l->n] = *r;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", r->id);
    /* the strings are borrowed: only valid here */
    l->rows[l->n].id = l->rows[l->n].job_id = l->rows[l->n].event = NULL;
    l->rows[l->n].url = l->rows[l->n].payload = l->rows[l->n].secrets = NULL;
    l->rows[l->n].traceparent = l->rows[l->n].log = NULL;
    l->n++;
}

static void check_full_delivery(const synq_delivery_row_t *r, void *arg)
{
    const synq_delivery_row_t *w = arg;
    assert_string_equal(r->id, w->id);
    assert_string_equal(r->job_id, w->job_id);
    assert_string_equal(r->event, w->event);
    assert_string_equal(r->url, w->url);
    assert_string_equal(r->payload, w->payload);
    assert_str_or_null(r->secrets, w->secrets);
    assert_str_or_null(r->traceparent, w->traceparent);
    assert_int_equal(r->state, w->state);
    assert_int_equal(r->attempts, w->attempts);
    assert_int_equal(r->next_at, w->next_at);
    assert_int_equal(r->created_at, w->created_at);
    assert_int_equal(r->updated_at, w->updated_at);
    assert_string_equal(r->log, w->log);
}

static synq_delivery_row_t delivery(const char *id, const char *job, synq_delivery_state_t st,
                                    int64_t created, int64_t next)
{
    synq_delivery_row_t r = {.id = id,
                             .job_id = job,
                             .event = "job.completed",
                             .url = "http://127.0.0.1:9/cb",
                             .payload = "{\"type\":\"job.completed\"}",
                             .state = st,
                             .next_at = next,
                             .created_at = created,
                             .updated_at = created,
                             .log = "[]"};
    return r;
}

static void test_deliveries(void **state)
{
    fixture_t *f = *state;
    synq_store_t *s = f->s;
    synq_delivery_row_t d1 = delivery("msg_1", "j1", SYNQ_DELIVERY_PENDING, NOW, NOW + 30);
    d1.secrets = "[\"whsec_abc\"]";
    d1.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    synq_delivery_row_t d2 = delivery("msg_2", "j1", SYNQ_DELIVERY_DELIVERED, NOW + 1, 0);
    synq_delivery_row_t d3 = delivery("msg_3", "j2", SYNQ_DELIVERY_PENDING, NOW + 2, NOW + 10);
    synq_delivery_row_t d4 = delivery("msg_4", "j1", SYNQ_DELIVERY_FAILED, NOW - 1, 0);
    assert_int_equal(s->ops->delivery_put(s, &d1), 0);
    assert_int_equal(s->ops->delivery_put(s, &d2), 0);
    assert_int_equal(s->ops->delivery_put(s, &d3), 0);
    assert_int_equal(s->ops->delivery_put(s, &d4), 0);

    delivery_list_t l = {.n = 0};
    assert_int_equal(s->ops->delivery_list(s, "j1", collect_delivery, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[0], "msg_4");
    assert_string_equal(l.ids[1], "msg_1");
    assert_string_equal(l.ids[2], "msg_2");

    l.n = 0;
    assert_int_equal(s->ops->delivery_load_pending(s, collect_delivery, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "msg_3");
    assert_string_equal(l.ids[1], "msg_1");

    assert_int_equal(s->ops->delivery_get(s, "msg_1", check_full_delivery, &d1), 0);
    assert_int_equal(s->ops->delivery_get(s, "msg_2", check_full_delivery, &d2), 0);
    l.n = 0;
    assert_int_equal(s->ops->delivery_get(s, "msg_9", collect_delivery, &l), SYNQ_ENOTFOUND);
    assert_int_equal(l.n, 0);

    /* an attempt failed: the whole row is written again */
    d1.attempts = 1;
    d1.next_at = NOW + 90;
    d1.updated_at = NOW + 31;
    d1.log = "[{\"status\":500}]";
    assert_int_equal(s->ops->delivery_put(s, &d1), 0);
    /* msg_3 delivered: no longer pending */
    d3.state = SYNQ_DELIVERY_DELIVERED;
    d3.attempts = 1;
    assert_int_equal(s->ops->delivery_put(s, &d3), 0);
    reopen(f);
    s = f->s;
    assert_int_equal(s->ops->delivery_get(s, "msg_1", check_full_delivery, &d1), 0);
    l.n = 0;
    assert_int_equal(s->ops->delivery_load_pending(s, collect_delivery, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "msg_1");
    assert_int_equal(l.rows[0].attempts, 1);
    assert_int_equal(l.rows[0].next_at, NOW + 90);
    l.n = 0;
    assert_int_equal(s->ops->delivery_list(s, "j1", collect_delivery, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[1], "msg_1");
}

/* ---- queues ---------------------------------------------------------------- */

typedef struct {
    char names[4][16];
    bool paused[4];
    char config[4][64];
    int n;
} queue_list_t;

static void collect_queue(const char *queue, bool paused, const char *config, void *arg)
{
    queue_list_t *l = arg;
    assert_true(l->n < 4);
    snprintf(l->names[l->n], sizeof l->names[0], "%s", queue);
    l->paused[l->n] = paused;
    snprintf(l->config[l->n], sizeof l->config[0], "%s", config ? config : "(null)");
    l->n++;
}

/* The row of queue name in l, or fails. */
static int queue_at(const queue_list_t *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return i;
    fail_msg("queue %s not loaded", name);
    return -1;
}

static void test_queue_config(void **state)
{
    fixture_t *f = *state;
    synq_store_t *s = f->s;
    assert_int_equal(s->ops->queue_set_paused(s, "a", true), 0);
    assert_int_equal(s->ops->queue_set_config(s, "a", "{\"max_active\":2}"), 0);
    assert_int_equal(s->ops->queue_set_config(s, "b", "{\"rate\":\"10/s\"}"), 0);
    assert_int_equal(s->ops->queue_set_paused(s, "c", false), 0);
    reopen(f);
    s = f->s;
    queue_list_t l = {.n = 0};
    assert_int_equal(s->ops->queue_load(s, collect_queue, &l), 0);
    assert_int_equal(l.n, 3);
    int a = queue_at(&l, "a"), b = queue_at(&l, "b"), c = queue_at(&l, "c");
    assert_true(l.paused[a]);
    assert_string_equal(l.config[a], "{\"max_active\":2}");
    assert_false(l.paused[b]);
    assert_string_equal(l.config[b], "{\"rate\":\"10/s\"}");
    assert_false(l.paused[c]);
    assert_string_equal(l.config[c], "(null)");

    /* clearing the config leaves paused alone, and the reverse */
    assert_int_equal(s->ops->queue_set_config(s, "a", NULL), 0);
    assert_int_equal(s->ops->queue_set_paused(s, "b", true), 0);
    l.n = 0;
    assert_int_equal(s->ops->queue_load(s, collect_queue, &l), 0);
    a = queue_at(&l, "a");
    b = queue_at(&l, "b");
    assert_true(l.paused[a]);
    assert_string_equal(l.config[a], "(null)");
    assert_true(l.paused[b]);
    assert_string_equal(l.config[b], "{\"rate\":\"10/s\"}");
}

/* ---- migration ------------------------------------------------------------- */

/* Schema v1..v3 exactly as shipped (src/store/sqlite.c migrations[0..2]). */
static const char v3_schema[] =
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,"
    " type TEXT NOT NULL, args TEXT NOT NULL, priority INTEGER NOT NULL,"
    " state INTEGER NOT NULL, retry INTEGER NOT NULL, reserve_for INTEGER NOT NULL,"
    " backoff TEXT, attempts INTEGER NOT NULL, run_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
    " lease_until INTEGER NOT NULL, worker TEXT, result TEXT, err_message TEXT,"
    " err_type TEXT, err_backtrace TEXT, custom TEXT"
    ") STRICT;"
    "CREATE INDEX jobs_state ON jobs(state, seq);"
    "CREATE INDEX jobs_queue ON jobs(queue, state, seq);"
    "CREATE TABLE queues (name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0) STRICT;"
    "DROP INDEX jobs_state;"
    "CREATE INDEX jobs_state ON jobs(state, seq) WHERE state NOT IN (1, 2);"
    "ALTER TABLE jobs ADD COLUMN schedule TEXT;"
    "ALTER TABLE jobs ADD COLUMN fire_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE schedules ("
    " name TEXT PRIMARY KEY, spec TEXT NOT NULL, paused INTEGER NOT NULL,"
    " last_fire INTEGER NOT NULL, source TEXT, created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE schedule_runs ("
    " schedule TEXT NOT NULL, fire_at INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " job_id TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (schedule, fire_at)"
    ") STRICT, WITHOUT ROWID;"
    "INSERT INTO jobs(id,queue,type,args,priority,state,retry,reserve_for,backoff,attempts,"
    " run_at,created_at,enqueued_at,started_at,finished_at,lease_until,worker,result,"
    " err_message,err_type,err_backtrace,custom,schedule,fire_at)"
    " VALUES('old1','q','t','[1]',5,1,25,1800,NULL,0,0,1,2,0,0,0,NULL,NULL,NULL,NULL,NULL,"
    " NULL,'nightly',7);"
    "INSERT INTO jobs(id,queue,type,args,priority,state,retry,reserve_for,backoff,attempts,"
    " run_at,created_at,enqueued_at,started_at,finished_at,lease_until,worker,result,"
    " err_message,err_type,err_backtrace,custom,schedule,fire_at)"
    " VALUES('old2','q','t','[]',5,4,25,1800,NULL,1,0,1,2,3,4,0,NULL,'1',NULL,NULL,NULL,"
    " NULL,NULL,0);"
    "INSERT INTO queues(name, paused) VALUES('q', 1);"
    "PRAGMA user_version=3;";

static int user_version(const char *dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/synq.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_migrate_from_v3(void **state)
{
    fixture_t *f = *state;
    f->s->ops->close(f->s);
    f->s = NULL;
    remove_db(f->dir);

    char path[128];
    snprintf(path, sizeof path, "%s/synq.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, v3_schema, NULL, NULL, &err);
    if (rc != SQLITE_OK) fail_msg("v3 schema: %s", err);
    sqlite3_close(db);
    assert_int_equal(user_version(f->dir), 3);

    f->s = synq_store_sqlite_open(f->dir, SYNQ_DURABILITY_NORMAL);
    assert_non_null(f->s);
    synq_store_t *s = f->s;
    assert_int_equal(user_version(f->dir), 5);

    /* old rows read back with the new fields empty */
    synq_job_t *j = get_job(s, "old1");
    assert_string_equal(j->args, "[1]");
    assert_string_equal(j->schedule, "nightly");
    assert_int_equal(j->fire_at, 7);
    assert_null(j->group);
    assert_null(j->batch);
    assert_null(j->unique_key);
    assert_int_equal(j->expires_at, 0);
    assert_null(j->callback);
    assert_int_equal(j->nevents, 0);
    synq_job_free(j);
    id_list_t l = {.n = 0};
    assert_int_equal(s->ops->job_load_live(s, collect_job, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "old1");
    queue_list_t ql = {.n = 0};
    assert_int_equal(s->ops->queue_load(s, collect_queue, &ql), 0);
    assert_int_equal(ql.n, 1);
    assert_true(ql.paused[0]);
    assert_string_equal(ql.config[0], "(null)");

    /* and the new parts work on the migrated database */
    synq_job_t *n = full_job();
    assert_int_equal(s->ops->job_insert(s, n), 0);
    synq_job_t *got = get_job(s, "full");
    assert_jobs_equal(got, n);
    synq_job_free(got);
    synq_job_free(n);
    synq_idem_row_t row = {.key = "k", .fingerprint = "f", .status = 200, .created_at = NOW};
    assert_int_equal(s->ops->idem_put(s, &row), 0);
    add_event(s, "old2", 1);
    assert_int_equal(event_count(s, "old2"), 1);
    /* old2 is completed without an expiry: only the cap removes it */
    assert_int_equal(s->ops->job_prune(s, SYNQ_JOB_COMPLETED, NOW, 0, 0, NULL, NULL), 0);
    assert_int_equal(tombstone(s, "old2"), NOW);
    assert_int_equal(event_count(s, "old2"), 0);

    /* opening again does not migrate again */
    reopen(f);
    assert_int_equal(user_version(f->dir), 5);
    assert_int_equal(tombstone(f->s, "old2"), NOW);
}

int main(void)
{
    synq_log_set_level(SYNQ_LOG_WARN); /* no "schema migrated" per test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_round_trip_minimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_update_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_load_live_includes_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_list_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_delete_drops_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v3, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
