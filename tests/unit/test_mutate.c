/* Unit tests for the engine's bulk admin and Faktory-only job rules on a real
 * engine and SQLite store in a temporary directory, on a loop of the test's
 * own (jobs are made with synq_fwp_job_from_json, as a PUSH makes them).
 *
 * Checked: synq_engine_mutate discard/kill/requeue on scheduled, retrying
 * and dead jobs with a match callback (only jobs in the target state are
 * offered to it; a requeued job keeps its failure record); synq_engine_flush
 * deletes live and final jobs (counts go to 0, also after a reopen); a
 * discard job (retry 0) that fails for good is gone after the next loop turn;
 * run_by in the past cancels a job at fetch instead of handing it out;
 * failed_at is set at the first failure and kept, next_at is the retry's
 * run_at, retries use Faktory's backoff (also after a reopen, with the
 * discard flag, retry -1 and the echoed fields);
 * synq_engine_extend_lease only moves a lease forward (the lease timer
 * follows: an extended job outlives its old lease end, a lapsed one fails
 * as ReservationExpired) and answers SYNQ_ECONFLICT for jobs that are not
 * active. A "turn" is one
 * uv_run(UV_RUN_NOWAIT): the engine commits (and prunes) at its end. Every
 * test closes the engine, runs the loop dry and checks uv_loop_close(). */
#include "engine/engine.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "proto/fwpjob.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine_fixture.h"

#define SEC SYNQ_US_PER_SEC
#define WORKER "w-test"

/* ---- fixture: loop + store + engine (engine_fixture.h) ------------------------------ */

typedef engine_fixture_t fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    engine_fixture_init(f, "mutate");
    engine_fixture_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    engine_fixture_release(f);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* PUSHes a Faktory job: {"jid":jid,"jobtype":type,"args":[1],"queue":queue} plus
 * the extra members in `extra` (",\"retry\":0" ...). */
static void push(fixture_t *f, const char *jid, const char *type, const char *queue,
                 const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"jid\":\"%s\",\"jobtype\":\"%s\",\"args\":[1],\"queue\":\"%s\"%s}", jid, type,
             queue, extra ? extra : "");
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    char err[256] = "";
    synq_job_t *job = synq_fwp_job_from_json(o, synq_time_now_us(), err, sizeof err);
    json_decref(o);
    if (job == NULL) fail_msg("%s: %s", text, err);
    size_t bad = 0;
    assert_int_equal(synq_engine_enqueue(f->engine, &job, 1, false, NULL, &bad), 0);
    assert_non_null(job);
}

/* ",\"at\":\"<now + 1 h>\"", the extra members of a job that stays scheduled
 * through the test. Returns a static buffer (push copies it). */
static const char *at_in_an_hour(void)
{
    static char buf[64];
    char ts[40];
    synq_rfc3339_format(synq_time_now_us() + 3600 * SEC, ts);
    snprintf(buf, sizeof buf, ",\"at\":\"%s\"", ts);
    return buf;
}

/* Fetches up to max jobs from queue; returns how many. */
static int fetch(fixture_t *f, const char *queue, int max)
{
    synq_buf_t out;
    synq_buf_init(&out);
    const char *qs[] = {queue};
    int n = synq_engine_fetch(f->engine, qs, 1, max, WORKER, &out);
    json_t *a = json_loadb(out.data, out.len, 0, NULL);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), (size_t)n);
    json_decref(a);
    synq_buf_release(&out);
    return n;
}

static void fail_job(fixture_t *f, const char *id, const char *msg)
{
    assert_int_equal(synq_engine_fail(f->engine, id, WORKER, msg, "RuntimeError", NULL, NULL), 0);
}

/* The job's state name ("queued"), or "gone" for SYNQ_ENOTFOUND. Returns a
 * static buffer. */
static const char *state_of(fixture_t *f, const char *id)
{
    static char st[32];
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_get(f->engine, id, &out);
    if (rc == SYNQ_ENOTFOUND) {
        synq_buf_release(&out);
        return "gone";
    }
    assert_int_equal(rc, 0);
    json_t *o = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(o);
    snprintf(st, sizeof st, "%s", json_string_value(json_object_get(o, "state")));
    json_decref(o);
    synq_buf_release(&out);
    return st;
}

#define assert_state(f, id, want)                                                                  \
    do {                                                                                           \
        const char *got_ = state_of(f, id);                                                        \
        if (strcmp(got_, want) != 0) print_error("%s: state %s, want %s\n", id, got_, want);       \
        assert_string_equal(got_, want);                                                           \
    } while (0)

/* The job's synq JSON (object, owned by the caller), or NULL when not found. */
static json_t *get_json(fixture_t *f, const char *id)
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_get(f->engine, id, &out);
    json_t *o = rc == 0 ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    synq_buf_release(&out);
    return o;
}

/* The job's Faktory JSON form (synq_fwp_job_to_json), parsed with duplicate
 * keys rejected; owned by the caller. */
static json_t *fk_json(const synq_job_t *j)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_fwp_job_to_json(j, &b);
    json_t *o = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    synq_buf_release(&b);
    assert_non_null(o);
    return o;
}

/* Asserts the failure object of a Faktory JSON form counts as Faktory does
 * and carries message; returns it (borrowed from o). */
static const json_t *assert_failure(const json_t *o, int retry_count, int remaining,
                                    const char *message)
{
    const json_t *fail = json_object_get(o, "failure");
    assert_non_null(fail);
    assert_int_equal(json_integer_value(json_object_get(fail, "retry_count")), retry_count);
    assert_int_equal(json_integer_value(json_object_get(fail, "remaining")), remaining);
    assert_string_equal(json_string_value(json_object_get(fail, "message")), message);
    return fail;
}

static const char *error_message(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "error"), "message"));
}

/* Sum of every state's count over all queues, and one state's count. */
static int64_t count_all(fixture_t *f, const char *state_name)
{
    synq_buf_t out;
    synq_buf_init(&out);
    synq_engine_queues(f->engine, &out);
    json_t *o = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(o);
    int64_t n = 0;
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(o, "queues"), i, q)
    {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(q, "counts"), key,
                            v) if (state_name == NULL || strcmp(key, state_name) == 0) n +=
            json_integer_value(v);
    }
    json_decref(o);
    synq_buf_release(&out);
    return n;
}

/* A match callback: by jobtype (NULL: any), checking every job offered is in
 * the target state. */
typedef struct {
    const char *type;
    synq_job_state_t state;
    int offered, wrong_state;
} match_t;

static bool by_type(const synq_job_t *j, void *arg)
{
    match_t *m = arg;
    m->offered++;
    if (j->state != m->state) m->wrong_state++;
    return m->type == NULL || strcmp(j->type, m->type) == 0;
}

static int64_t mutate(fixture_t *f, synq_job_state_t st, synq_mutate_op_t op, const char *type,
                      int want_offered)
{
    match_t m = {.type = type, .state = st};
    int64_t n = synq_engine_mutate(f->engine, st, op, by_type, &m);
    assert_int_equal(m.wrong_state, 0);
    if (want_offered >= 0) assert_int_equal(m.offered, want_offered);
    return n;
}

/* ---- MUTATE ------------------------------------------------------------------------- */

static void test_mutate_scheduled(void **state)
{
    fixture_t *f = *state;
    const char *at = at_in_an_hour();
    push(f, "sched-a1", "A", "default", at);
    push(f, "sched-a2", "A", "default", at);
    push(f, "sched-b1", "B", "default", at);
    push(f, "sched-b2", "B", "other", at);
    push(f, "queued-a", "A", "default", NULL);
    engine_fixture_turn(f);
    assert_state(f, "sched-a1", "scheduled");
    assert_int_equal(count_all(f, "scheduled"), 4);

    /* discard: only the scheduled As; the queued A is not even offered */
    assert_int_equal(mutate(f, SYNQ_JOB_SCHEDULED, SYNQ_MUTATE_DISCARD, "A", 4), 2);
    assert_state(f, "sched-a1", "gone");
    assert_state(f, "sched-a2", "gone");
    assert_state(f, "sched-b1", "scheduled");
    assert_state(f, "queued-a", "queued");
    assert_int_equal(count_all(f, "scheduled"), 2);

    /* kill: scheduled -> dead at once, with an operator's error */
    assert_int_equal(mutate(f, SYNQ_JOB_SCHEDULED, SYNQ_MUTATE_KILL, "X", 2), 0);
    match_t m = {.type = "B", .state = SYNQ_JOB_SCHEDULED};
    assert_int_equal(
        synq_engine_mutate(f->engine, SYNQ_JOB_SCHEDULED, SYNQ_MUTATE_KILL, by_type, &m), 2);
    assert_state(f, "sched-b1", "dead");
    assert_state(f, "sched-b2", "dead");
    assert_null(synq_engine_peek(f->engine, "sched-b1"));
    json_t *o = get_json(f, "sched-b1");
    assert_string_equal(error_message(o), "killed by an operator");
    json_decref(o);
    assert_int_equal(count_all(f, "scheduled"), 0);
    assert_int_equal(count_all(f, "dead"), 2);

    /* requeue (NULL match: all): scheduled -> queued now, fetchable at once */
    push(f, "sched-c1", "C", "default", at);
    assert_int_equal(
        synq_engine_mutate(f->engine, SYNQ_JOB_SCHEDULED, SYNQ_MUTATE_REQUEUE, NULL, NULL), 1);
    assert_state(f, "sched-c1", "queued");
    const synq_job_t *j = synq_engine_peek(f->engine, "sched-c1");
    assert_non_null(j);
    assert_int_equal(j->run_at, 0);
    assert_true(j->enqueued_at > 0);
    assert_int_equal(fetch(f, "default", 10), 2); /* queued-a and sched-c1 */

    /* the changes are stored */
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_state(f, "sched-a1", "gone");
    assert_state(f, "sched-b1", "dead");
    assert_state(f, "sched-b2", "dead");
    assert_state(f, "sched-c1", "active");
    assert_int_equal(count_all(f, "dead"), 2);
    assert_int_equal(count_all(f, "scheduled"), 0);
}

/* Pushes, fetches and fails each job once: they end in retry. */
static void make_retry(fixture_t *f, const char *const *ids, const char *const *types, size_t n,
                       const char *queue)
{
    for (size_t i = 0; i < n; i++)
        push(f, ids[i], types[i], queue, NULL);
    assert_int_equal(fetch(f, queue, (int)n), (int)n);
    for (size_t i = 0; i < n; i++)
        fail_job(f, ids[i], "boom");
    for (size_t i = 0; i < n; i++)
        assert_state(f, ids[i], "retry");
}

static void test_mutate_retry(void **state)
{
    fixture_t *f = *state;
    static const char *const ids[] = {"retry-a1", "retry-a2", "retry-b1"};
    static const char *const types[] = {"A", "A", "B"};
    make_retry(f, ids, types, 3, "default");
    push(f, "queued-x", "A", "q2", NULL);
    engine_fixture_turn(f);

    /* requeue the As: queued now, failure record and attempts kept */
    const synq_job_t *j = synq_engine_peek(f->engine, "retry-a1");
    int64_t failed_at = j->failed_at;
    assert_true(failed_at > 0);
    assert_int_equal(mutate(f, SYNQ_JOB_RETRY, SYNQ_MUTATE_REQUEUE, "A", 3), 2);
    assert_state(f, "retry-a1", "queued");
    assert_state(f, "retry-a2", "queued");
    assert_state(f, "retry-b1", "retry");
    j = synq_engine_peek(f->engine, "retry-a1");
    assert_int_equal(j->attempts, 1);
    assert_int_equal(j->run_at, 0);
    assert_int_equal(j->failed_at, failed_at);
    assert_string_equal(j->err_message, "boom");
    assert_int_equal(fetch(f, "default", 10), 2);
    /* as Faktory shows it: one failure so far */
    json_t *o = fk_json(synq_engine_peek(f->engine, "retry-a1"));
    assert_failure(o, 0, 25, "boom");
    json_decref(o);

    /* kill the B: dead, its own error kept */
    assert_int_equal(mutate(f, SYNQ_JOB_RETRY, SYNQ_MUTATE_KILL, "B", 1), 1);
    assert_state(f, "retry-b1", "dead");
    o = get_json(f, "retry-b1");
    assert_string_equal(error_message(o), "boom");
    json_decref(o);

    /* fail the As again, then discard every retrying job */
    fail_job(f, "retry-a1", "boom 2");
    fail_job(f, "retry-a2", "boom 2");
    assert_int_equal(count_all(f, "retry"), 2);
    assert_int_equal(mutate(f, SYNQ_JOB_RETRY, SYNQ_MUTATE_DISCARD, NULL, 2), 2);
    assert_state(f, "retry-a1", "gone");
    assert_state(f, "retry-a2", "gone");
    assert_state(f, "queued-x", "queued");
    assert_int_equal(count_all(f, "retry"), 0);
    /* nothing left to offer */
    assert_int_equal(mutate(f, SYNQ_JOB_RETRY, SYNQ_MUTATE_DISCARD, NULL, 0), 0);
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_state(f, "retry-a1", "gone");
    assert_state(f, "retry-b1", "dead");
    assert_int_equal(count_all(f, "retry"), 0);
}

static void test_mutate_dead(void **state)
{
    fixture_t *f = *state;
    push(f, "dead-a01", "A", "default", ",\"retry\":-1");
    push(f, "dead-a02", "A", "default", ",\"retry\":-1");
    push(f, "dead-b01", "B", "default", ",\"retry\":-1");
    push(f, "done-a01", "A", "default", NULL);
    assert_int_equal(fetch(f, "default", 10), 4);
    fail_job(f, "dead-a01", "boom");
    fail_job(f, "dead-a02", "boom");
    fail_job(f, "dead-b01", "boom");
    assert_int_equal(synq_engine_ack(f->engine, "done-a01", WORKER, NULL, NULL), 0);
    engine_fixture_turn(f);
    assert_state(f, "dead-a01", "dead");
    assert_state(f, "done-a01", "completed");
    assert_int_equal(count_all(f, "dead"), 3);

    /* only dead jobs are offered; killing a dead job changes nothing */
    assert_int_equal(mutate(f, SYNQ_JOB_DEAD, SYNQ_MUTATE_KILL, NULL, 3), 0);
    assert_int_equal(count_all(f, "dead"), 3);

    /* requeue the As: queued, the failure record kept */
    assert_int_equal(mutate(f, SYNQ_JOB_DEAD, SYNQ_MUTATE_REQUEUE, "A", 3), 2);
    assert_state(f, "dead-a01", "queued");
    assert_state(f, "dead-a02", "queued");
    assert_state(f, "dead-b01", "dead");
    const synq_job_t *j = synq_engine_peek(f->engine, "dead-a01");
    assert_non_null(j);
    assert_non_null(j->err_message);
    assert_string_equal(j->err_message, "boom");
    assert_true(j->failed_at > 0);
    assert_int_equal(count_all(f, "dead"), 1);
    assert_int_equal(count_all(f, "queued"), 2);

    /* discard the rest of the dead */
    assert_int_equal(mutate(f, SYNQ_JOB_DEAD, SYNQ_MUTATE_DISCARD, NULL, 1), 1);
    assert_state(f, "dead-b01", "gone");
    assert_state(f, "done-a01", "completed");
    assert_int_equal(count_all(f, "dead"), 0);

    /* states without a Faktory set: nothing happens */
    assert_int_equal(mutate(f, SYNQ_JOB_QUEUED, SYNQ_MUTATE_DISCARD, NULL, 0), 0);
    assert_int_equal(mutate(f, SYNQ_JOB_COMPLETED, SYNQ_MUTATE_DISCARD, NULL, 0), 0);
    assert_state(f, "dead-a01", "queued");
    assert_state(f, "done-a01", "completed");

    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_state(f, "dead-a01", "queued");
    assert_state(f, "dead-b01", "gone");
    assert_int_equal(count_all(f, "dead"), 0);
    assert_int_equal(fetch(f, "default", 10), 2);
}

/* ---- FLUSH -------------------------------------------------------------------------- */

static void test_flush(void **state)
{
    fixture_t *f = *state;
    const char *at = at_in_an_hour();
    push(f, "fl-active", "A", "q1", NULL);
    push(f, "fl-retry1", "A", "q1", NULL);
    push(f, "fl-dead01", "A", "q1", ",\"retry\":-1");
    push(f, "fl-done01", "A", "q1", NULL);
    assert_int_equal(fetch(f, "q1", 10), 4);
    fail_job(f, "fl-retry1", "x");
    fail_job(f, "fl-dead01", "x");
    assert_int_equal(synq_engine_ack(f->engine, "fl-done01", WORKER, NULL, NULL), 0);
    push(f, "fl-queued", "B", "q2", NULL);
    push(f, "fl-sched1", "B", "q2", at);
    engine_fixture_turn(f);
    static const char *const ids[] = {"fl-active", "fl-retry1", "fl-dead01",
                                      "fl-done01", "fl-queued", "fl-sched1"};
    assert_int_equal(count_all(f, NULL), 6);

    assert_int_equal(synq_engine_flush(f->engine), 6);
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ids); i++)
        assert_state(f, ids[i], "gone");
    assert_int_equal(count_all(f, NULL), 0);
    /* the holder of the flushed active job learns it is gone */
    assert_int_equal(synq_engine_ack(f->engine, "fl-active", WORKER, NULL, NULL), SYNQ_ENOTFOUND);
    assert_int_equal(fetch(f, "q2", 10), 0);
    assert_int_equal(synq_engine_flush(f->engine), 0);

    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_int_equal(count_all(f, NULL), 0);
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ids); i++)
        assert_state(f, ids[i], "gone");
    assert_int_equal(synq_engine_flush(f->engine), 0);
    /* the engine works on afterwards; a flushed jid may be pushed again */
    push(f, "fl-queued", "B", "q2", NULL);
    assert_int_equal(fetch(f, "q2", 10), 1);
}

/* More jobs than one store page (collect_stored reads 1000 at a time). */
static void test_flush_many(void **state)
{
    fixture_t *f = *state;
    char jid[32];
    for (int i = 0; i < 1200; i++) {
        snprintf(jid, sizeof jid, "many-%05d", i);
        push(f, jid, "A", "default", NULL);
    }
    assert_int_equal(fetch(f, "default", 1000), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(jid, sizeof jid, "many-%05d", i);
        assert_int_equal(synq_engine_ack(f->engine, jid, WORKER, NULL, NULL), 0);
    }
    engine_fixture_turn(f);
    assert_int_equal(count_all(f, NULL), 1200);
    assert_int_equal(synq_engine_flush(f->engine), 1200);
    assert_int_equal(count_all(f, NULL), 0);
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_int_equal(count_all(f, NULL), 0);
}

/* ---- Faktory job rules in the engine ------------------------------------------------ */

/* retry 0: failing deletes the job (after this loop turn's prune), no dead entry. */
static void test_discard(void **state)
{
    fixture_t *f = *state;
    push(f, "disc-0001", "A", "default", ",\"retry\":0");
    push(f, "keep-0001", "A", "default", ",\"retry\":-1");
    assert_int_equal(fetch(f, "default", 10), 2);
    fail_job(f, "disc-0001", "boom");
    fail_job(f, "keep-0001", "boom");
    assert_null(synq_engine_peek(f->engine, "disc-0001"));
    engine_fixture_turn(f);
    assert_state(f, "disc-0001", "gone");
    assert_state(f, "keep-0001", "dead");
    assert_int_equal(count_all(f, "dead"), 1);
    /* MUTATE on the dead set does not see it either */
    assert_int_equal(mutate(f, SYNQ_JOB_DEAD, SYNQ_MUTATE_REQUEUE, "A", 1), 1);
    assert_state(f, "disc-0001", "gone");
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_state(f, "disc-0001", "gone");
    assert_int_equal(count_all(f, "dead"), 0);
}

/* custom.expires_at (run_by) passed: cancelled when its turn comes, never handed out. */
static void test_run_by(void **state)
{
    fixture_t *f = *state;
    char ts[40], extra[128];
    synq_rfc3339_format(synq_time_now_us() - SEC, ts);
    snprintf(extra, sizeof extra, ",\"custom\":{\"expires_at\":\"%s\"}", ts);
    push(f, "late-0001", "A", "default", extra);
    synq_rfc3339_format(synq_time_now_us() + 3600 * SEC, ts);
    snprintf(extra, sizeof extra, ",\"custom\":{\"expires_at\":\"%s\"}", ts);
    push(f, "good-0001", "A", "default", extra);
    assert_state(f, "late-0001", "queued");

    synq_buf_t out;
    synq_buf_init(&out);
    const char *qs[] = {"default"};
    int n = synq_engine_fetch_as(f->engine, qs, 1, 10, WORKER, synq_fwp_job_to_json, &out);
    assert_int_equal(n, 1);
    json_t *a = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 1);
    json_t *job = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(job, "jid")), "good-0001");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(job, "custom"), "expires_at")), ts);
    json_decref(a);
    synq_buf_release(&out);
    assert_state(f, "late-0001", "cancelled");
    assert_state(f, "good-0001", "active");

    /* a single-job fetch that only finds expired jobs returns none */
    synq_rfc3339_format(synq_time_now_us() - SEC, ts);
    snprintf(extra, sizeof extra, ",\"custom\":{\"expires_at\":\"%s\"}", ts);
    push(f, "late-0002", "A", "q2", extra);
    push(f, "late-0003", "A", "q2", extra);
    assert_int_equal(fetch(f, "q2", 1), 0);
    assert_state(f, "late-0002", "cancelled");
    assert_state(f, "late-0003", "cancelled");
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    assert_state(f, "late-0001", "cancelled");
}

static void test_failed_at(void **state)
{
    fixture_t *f = *state;
    push(f, "fail-0001", "A", "default", NULL);
    assert_int_equal(fetch(f, "default", 1), 1);
    int64_t t0 = synq_time_now_us();
    fail_job(f, "fail-0001", "first");
    int64_t t1 = synq_time_now_us();
    const synq_job_t *j = synq_engine_peek(f->engine, "fail-0001");
    assert_non_null(j);
    assert_int_equal(j->state, SYNQ_JOB_RETRY);
    assert_int_equal(j->backoff.type, SYNQ_BACKOFF_FAKTORY);
    int64_t failed_at = j->failed_at;
    assert_true(failed_at >= t0 && failed_at <= t1);
    assert_int_equal(j->next_at, j->run_at);
    /* Faktory's first retry: 15..44 s */
    assert_true(j->run_at >= t0 + 15 * SEC && j->run_at <= t1 + 44 * SEC);

    /* second failure: failed_at kept, next_at follows the new run_at (16..74 s) */
    assert_int_equal(mutate(f, SYNQ_JOB_RETRY, SYNQ_MUTATE_REQUEUE, NULL, 1), 1);
    assert_int_equal(fetch(f, "default", 1), 1);
    t0 = synq_time_now_us();
    fail_job(f, "fail-0001", "second");
    t1 = synq_time_now_us();
    j = synq_engine_peek(f->engine, "fail-0001");
    assert_int_equal(j->attempts, 2);
    assert_int_equal(j->failed_at, failed_at);
    assert_int_equal(j->next_at, j->run_at);
    assert_true(j->run_at >= t0 + 16 * SEC && j->run_at <= t1 + 74 * SEC);
    int64_t next_at = j->next_at;

    json_t *o = fk_json(j);
    const json_t *fail = assert_failure(o, 1, 24, "second");
    char ts[40];
    synq_rfc3339_format(failed_at, ts);
    assert_string_equal(json_string_value(json_object_get(fail, "failed_at")), ts);
    synq_rfc3339_format(next_at, ts);
    assert_string_equal(json_string_value(json_object_get(fail, "next_at")), ts);
    json_decref(o);

    /* all of it is stored */
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    j = synq_engine_peek(f->engine, "fail-0001");
    assert_non_null(j);
    assert_int_equal(j->state, SYNQ_JOB_RETRY);
    assert_int_equal(j->failed_at, failed_at);
    assert_int_equal(j->next_at, next_at);
    assert_int_equal(j->run_at, next_at);
    assert_int_equal(j->backoff.type, SYNQ_BACKOFF_FAKTORY);
    assert_int_equal(j->attempts, 2);
    assert_int_equal(j->retry, 25);
    assert_false(j->discard);
}

/* What a PUSH sets survives a reopen: the discard flag (the job must still
 * vanish when it dies), retry -1 (dead at the first failure), Faktory's
 * backoff and the echoed fields. */
static void test_fields_after_reopen(void **state)
{
    fixture_t *f = *state;
    push(f, "disc-0002", "A", "default", ",\"retry\":0");
    push(f, "dead-0002", "A", "q2", ",\"retry\":-1,\"x-extra\":{\"k\":[1]},\"backtrace\":5");
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    const synq_job_t *j = synq_engine_peek(f->engine, "disc-0002");
    assert_non_null(j);
    assert_true(j->discard);
    assert_int_equal(j->retry, 0);
    j = synq_engine_peek(f->engine, "dead-0002");
    assert_non_null(j);
    assert_false(j->discard);
    assert_int_equal(j->retry, -1);
    assert_int_equal(j->backoff.type, SYNQ_BACKOFF_FAKTORY);
    json_t *o = fk_json(j);
    assert_int_equal(json_integer_value(json_object_get(o, "retry")), -1);
    assert_int_equal(json_integer_value(json_object_get(o, "backtrace")), 5);
    json_t *want = json_loads("{\"k\":[1]}", 0, NULL);
    assert_true(json_equal(json_object_get(o, "x-extra"), want));
    json_decref(want);
    json_decref(o);

    assert_int_equal(fetch(f, "default", 1), 1);
    fail_job(f, "disc-0002", "boom");
    assert_int_equal(fetch(f, "q2", 1), 1);
    fail_job(f, "dead-0002", "boom");
    engine_fixture_turn(f);
    assert_state(f, "disc-0002", "gone");
    assert_state(f, "dead-0002", "dead");
}

static void test_extend_lease(void **state)
{
    fixture_t *f = *state;
    push(f, "lease-001", "A", "default", ",\"reserve_for\":60");
    push(f, "lease-q01", "A", "q2", NULL);
    int64_t t0 = synq_time_now_us();
    assert_int_equal(fetch(f, "default", 1), 1);
    const synq_job_t *j = synq_engine_peek(f->engine, "lease-001");
    int64_t lease = j->lease_until;
    assert_true(lease >= t0 + 60 * SEC && lease <= synq_time_now_us() + 60 * SEC);

    /* forward: moved */
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", lease + 30 * SEC), 0);
    j = synq_engine_peek(f->engine, "lease-001");
    assert_int_equal(j->lease_until, lease + 30 * SEC);
    /* backward or equal: kept, still 0 */
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", lease), 0);
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", lease + 30 * SEC), 0);
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", 0), 0);
    assert_int_equal(synq_engine_peek(f->engine, "lease-001")->lease_until, lease + 30 * SEC);

    /* not active */
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-q01", lease + 60 * SEC),
                     SYNQ_ECONFLICT);
    assert_int_equal(synq_engine_peek(f->engine, "lease-q01")->lease_until, 0);
    assert_int_equal(synq_engine_extend_lease(f->engine, "no-such-job", lease), SYNQ_ENOTFOUND);

    /* stored: after a reopen the lease is the extended one, and the holder acks */
    engine_fixture_turn(f);
    engine_fixture_reopen(f);
    j = synq_engine_peek(f->engine, "lease-001");
    assert_non_null(j);
    assert_int_equal(j->state, SYNQ_JOB_ACTIVE);
    assert_int_equal(j->lease_until, lease + 30 * SEC);
    assert_int_equal(synq_engine_ack(f->engine, "lease-001", WORKER, NULL, NULL), 0);
    /* final: a conflict, not a miss */
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", lease + 90 * SEC),
                     SYNQ_ECONFLICT);
    engine_fixture_turn(f);
    assert_int_equal(synq_engine_extend_lease(f->engine, "lease-001", lease + 90 * SEC),
                     SYNQ_ECONFLICT);
}

/* Pushes a job whose lease is only lease_s long (below what a PUSH allows,
 * to keep the test short). */
static void push_short_lease(fixture_t *f, const char *jid, int lease_s)
{
    char text[256];
    snprintf(text, sizeof text, "{\"jid\":\"%s\",\"jobtype\":\"A\",\"args\":[]}", jid);
    json_t *o = json_loads(text, 0, NULL);
    char err[256] = "";
    synq_job_t *job = synq_fwp_job_from_json(o, synq_time_now_us(), err, sizeof err);
    json_decref(o);
    assert_non_null(job);
    job->reserve_for = lease_s;
    size_t bad = 0;
    assert_int_equal(synq_engine_enqueue(f->engine, &job, 1, false, NULL, &bad), 0);
}

/* A lapsed lease fails the job (Faktory: ReservationExpired); an extended
 * one does not lapse at its old time (the lease timer follows the change). */
static void test_lease_expiry(void **state)
{
    fixture_t *f = *state;
    push_short_lease(f, "lapse-001", 1);
    push_short_lease(f, "extend-01", 1);
    assert_int_equal(fetch(f, "default", 2), 2);
    int64_t until = synq_time_now_us() + 30 * SEC;
    assert_int_equal(synq_engine_extend_lease(f->engine, "extend-01", until), 0);
    int64_t deadline = synq_time_now_us() + 5 * SEC;
    while (strcmp(state_of(f, "lapse-001"), "active") == 0 && synq_time_now_us() < deadline) {
        usleep(20000);
        engine_fixture_turn(f);
    }
    /* a little past the old lease end of both */
    usleep(300000);
    engine_fixture_turn(f);
    assert_state(f, "lapse-001", "retry");
    assert_state(f, "extend-01", "active");
    assert_int_equal(synq_engine_peek(f->engine, "extend-01")->lease_until, until);

    const synq_job_t *j = synq_engine_peek(f->engine, "lapse-001");
    assert_non_null(j);
    assert_true(j->failed_at > 0);
    assert_int_equal(j->next_at, j->run_at);
    json_t *o = fk_json(j);
    const json_t *fail = assert_failure(o, 0, 25, "Faktory job reservation expired");
    assert_string_equal(json_string_value(json_object_get(fail, "errtype")), "ReservationExpired");
    json_decref(o);
    /* the late holder's ACK is refused */
    assert_int_not_equal(synq_engine_ack(f->engine, "lapse-001", WORKER, NULL, NULL), 0);
    assert_int_equal(synq_engine_ack(f->engine, "extend-01", WORKER, NULL, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mutate_scheduled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutate_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutate_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fields_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_by, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extend_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
