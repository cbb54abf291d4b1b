/* Unit tests for core/job: state names, the transition table (every event
 * from every state), retry backoff (Sidekiq default, fixed, exponential with
 * a cap), synq_job_from_json validation of every field (the error names the
 * field, docs/api.md) and synq_job_to_json (parses back with jansson and
 * carries every documented field). */
#include "core/job.h"

#include "core/timeutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job_fixture.h"

#define SEC SYNQ_US_PER_SEC
#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */

static const synq_job_event_t all_events[] = {
    SYNQ_JOB_EV_FETCH, SYNQ_JOB_EV_ACK,   SYNQ_JOB_EV_FAIL,
    SYNQ_JOB_EV_DUE,   SYNQ_JOB_EV_RETRY, SYNQ_JOB_EV_CANCEL,
};

/* The job_fixture.h helpers with the HTTP API's mapping, at NOW. */
static synq_job_t *from_text(const char *text, char *err, size_t errlen)
{
    return job_from_text(synq_job_from_json, NOW, text, err, errlen);
}

static synq_job_t *from_ok(const char *text)
{
    return job_from_ok(synq_job_from_json, NOW, text);
}

/* The job's JSON form, parsed back (the test fails if it does not parse). */
static json_t *to_json(const synq_job_t *job)
{
    return job_json(synq_job_to_json, job, JSON_ALLOW_NUL);
}

/* ---- states --------------------------------------------------------------- */

static void test_state_names(void **state)
{
    static const char *const names[] = {"scheduled", "queued",    "active",   "retry",
                                        "completed", "dead", "cancelled", "waiting"};
    assert_int_equal(SYNQ_ARRAY_LEN(names), SYNQ_JOB_NSTATES);
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++) {
        assert_string_equal(synq_job_state_name((synq_job_state_t)s), names[s]);
        synq_job_state_t back = SYNQ_JOB_NSTATES;
        assert_int_equal(synq_job_state_parse(names[s], &back), 0);
        assert_int_equal(back, s);
    }
    assert_null(synq_job_state_name(SYNQ_JOB_NSTATES));
    assert_null(synq_job_state_name((synq_job_state_t)-1));
    assert_null(synq_job_state_name((synq_job_state_t)1000));
    static const char *const bad[] = {"", "Queued", "QUEUED", "queued ", " queued", "queue",
                                      "canceled", "done", "failed"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        synq_job_state_t out = SYNQ_JOB_ACTIVE;
        assert_int_equal(synq_job_state_parse(bad[i], &out), SYNQ_EINVAL);
        assert_int_equal(out, SYNQ_JOB_ACTIVE);
    }
}

static void test_state_terminal(void **state)
{
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++) {
        bool want = s == SYNQ_JOB_COMPLETED || s == SYNQ_JOB_DEAD || s == SYNQ_JOB_CANCELLED;
        assert_int_equal(synq_job_state_terminal((synq_job_state_t)s), want);
    }
}

/* ---- transitions ---------------------------------------------------------- */

#define X (-1) /* not allowed */

/* next[state][event] per job.h and docs/api.md. FAIL here is for a job with
 * retries left (attempts 1, retry 25). */
static const int next_state[SYNQ_JOB_NSTATES][6] = {
    /*                 FETCH              ACK                  FAIL             DUE               RETRY             CANCEL */
    [SYNQ_JOB_SCHEDULED] = {X, X, X, SYNQ_JOB_QUEUED, X, SYNQ_JOB_CANCELLED},
    [SYNQ_JOB_QUEUED] = {SYNQ_JOB_ACTIVE, X, X, X, X, SYNQ_JOB_CANCELLED},
    [SYNQ_JOB_ACTIVE] = {X, SYNQ_JOB_COMPLETED, SYNQ_JOB_RETRY, X, X, SYNQ_JOB_CANCELLED},
    [SYNQ_JOB_RETRY] = {X, X, X, SYNQ_JOB_QUEUED, SYNQ_JOB_QUEUED, SYNQ_JOB_CANCELLED},
    [SYNQ_JOB_COMPLETED] = {X, X, X, X, X, X},
    [SYNQ_JOB_DEAD] = {X, X, X, X, SYNQ_JOB_QUEUED, X},
    [SYNQ_JOB_CANCELLED] = {X, X, X, X, X, X},
    [SYNQ_JOB_WAITING] = {X, X, X, X, X, SYNQ_JOB_CANCELLED},
};

static void test_transition_table(void **state)
{
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++) {
        for (size_t e = 0; e < SYNQ_ARRAY_LEN(all_events); e++) {
            synq_job_t job;
            memset(&job, 0, sizeof job);
            job.state = (synq_job_state_t)s;
            job.attempts = 1;
            job.retry = 25;
            job.priority = 5;
            synq_job_t before = job;
            int r = synq_job_transition(&job, all_events[e]);
            int want = next_state[s][e];
            if ((want == X) != (r != 0) || (want != X && (int)job.state != want))
                print_error("state %s event %zu: r=%d state %s, want %s\n",
                            synq_job_state_name((synq_job_state_t)s), e, r,
                            synq_job_state_name(job.state),
                            want == X ? "conflict" : synq_job_state_name((synq_job_state_t)want));
            if (want == X) {
                assert_int_equal(r, SYNQ_ECONFLICT);
                assert_memory_equal(&job, &before, sizeof job); /* unchanged */
            } else {
                assert_int_equal(r, 0);
                assert_int_equal(job.state, want);
                /* only the state changes */
                job.state = before.state;
                assert_memory_equal(&job, &before, sizeof job);
            }
        }
    }
}

static void test_transition_unknown_event(void **state)
{
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++) {
        synq_job_t job;
        memset(&job, 0, sizeof job);
        job.state = (synq_job_state_t)s;
        assert_int_not_equal(synq_job_transition(&job, (synq_job_event_t)99), 0);
        assert_int_equal(job.state, s);
    }
}

/* FAIL goes to dead once the job has run retry + 1 times. */
static void test_transition_fail_dead(void **state)
{
    static const struct {
        int attempts, retry;
        synq_job_state_t want;
    } cases[] = {
        {1, 25, SYNQ_JOB_RETRY}, {25, 25, SYNQ_JOB_RETRY}, {26, 25, SYNQ_JOB_DEAD},
        {27, 25, SYNQ_JOB_DEAD}, {1, 0, SYNQ_JOB_DEAD},    {1, 1, SYNQ_JOB_RETRY},
        {2, 1, SYNQ_JOB_DEAD},   {1000, 1000, SYNQ_JOB_RETRY}, {1001, 1000, SYNQ_JOB_DEAD},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_job_t job;
        memset(&job, 0, sizeof job);
        job.state = SYNQ_JOB_ACTIVE;
        job.attempts = cases[i].attempts;
        job.retry = cases[i].retry;
        assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_FAIL), 0);
        assert_int_equal(job.state, cases[i].want);
    }
}

/* A job that always fails, driven the way the engine does (attempts counted
 * on fetch), runs exactly retry + 1 times; then a manual retry requeues it. */
static void test_lifecycle_always_failing(void **state)
{
    static const int retries[] = {0, 1, 3, 25};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(retries); i++) {
        synq_job_t job;
        memset(&job, 0, sizeof job);
        job.retry = retries[i];
        job.state = SYNQ_JOB_SCHEDULED;
        assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_DUE), 0);
        int runs = 0;
        for (;;) {
            assert_int_equal(job.state, SYNQ_JOB_QUEUED);
            assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_FETCH), 0);
            job.attempts++, runs++;
            assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_FAIL), 0);
            if (job.state == SYNQ_JOB_DEAD) break;
            assert_int_equal(job.state, SYNQ_JOB_RETRY);
            assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_DUE), 0);
            assert_true(runs < 100);
        }
        assert_int_equal(runs, retries[i] + 1);
        assert_true(synq_job_state_terminal(job.state));
        assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_RETRY), 0);
        assert_int_equal(job.state, SYNQ_JOB_QUEUED);
        assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_FETCH), 0);
        assert_int_equal(synq_job_transition(&job, SYNQ_JOB_EV_ACK), 0);
        assert_int_equal(job.state, SYNQ_JOB_COMPLETED);
        for (size_t e = 0; e < SYNQ_ARRAY_LEN(all_events); e++)
            assert_int_equal(synq_job_transition(&job, all_events[e]), SYNQ_ECONFLICT);
    }
}

/* ---- backoff -------------------------------------------------------------- */

/* Default (Sidekiq): before retry n, (n-1)^4 + 15 + rand(0..9) * n seconds. */
static void test_backoff_default(void **state)
{
    synq_backoff_t b = {.type = SYNQ_BACKOFF_DEFAULT};
    int64_t total_min = 0, total_max = 0;
    for (int n = 1; n <= 25; n++) {
        int64_t p = (int64_t)(n - 1) * (n - 1) * (n - 1) * (n - 1);
        for (uint64_t r = 0; r < 30; r++) {
            int64_t d = synq_backoff_delay_us(&b, n, r);
            assert_int_equal(d, (p + 15 + (int64_t)(r % 10) * n) * SEC);
        }
        int64_t lo = synq_backoff_delay_us(&b, n, 0), hi = synq_backoff_delay_us(&b, n, 9);
        assert_int_equal(lo, (p + 15) * SEC);
        assert_int_equal(hi, (p + 15 + 9 * n) * SEC);
        for (uint64_t r = 0; r < 1000; r += 7) {
            int64_t d = synq_backoff_delay_us(&b, n, r * 0x9e3779b97f4a7c15ULL);
            assert_true(d >= lo && d <= hi);
        }
        /* any 64-bit random number is fine */
        int64_t d = synq_backoff_delay_us(&b, n, UINT64_MAX);
        assert_true(d >= lo && d <= hi);
        total_min += lo, total_max += hi;
    }
    /* docs/api.md: 15-24 s, 16-34 s for the first two retries */
    assert_int_equal(synq_backoff_delay_us(&b, 1, 0), 15 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, 1, 9), 24 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, 2, 0), 16 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, 2, 9), 34 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, 3, 0), 31 * SEC);
    /* "about 20 days in all for 25 retries" */
    assert_true(total_min >= 19 * 86400 * SEC);
    assert_true(total_max <= 21 * 86400 * SEC);
    /* for the same random number the delay grows with n */
    for (int n = 2; n <= 1000; n++)
        for (uint64_t r = 0; r < 10; r += 9)
            assert_true(synq_backoff_delay_us(&b, n, r) > synq_backoff_delay_us(&b, n - 1, r));
    /* n below 1 counts as the first retry; huge n does not overflow */
    assert_int_equal(synq_backoff_delay_us(&b, 0, 3), synq_backoff_delay_us(&b, 1, 3));
    assert_int_equal(synq_backoff_delay_us(&b, -5, 3), synq_backoff_delay_us(&b, 1, 3));
    assert_true(synq_backoff_delay_us(&b, INT32_MAX, 9) > 0);
    /* a max caps the default too */
    synq_backoff_t capped = {.type = SYNQ_BACKOFF_DEFAULT, .max_us = 60 * SEC};
    assert_int_equal(synq_backoff_delay_us(&capped, 1, 0), 15 * SEC);
    assert_int_equal(synq_backoff_delay_us(&capped, 25, 9), 60 * SEC);
}

static void test_backoff_fixed(void **state)
{
    synq_backoff_t b = {.type = SYNQ_BACKOFF_FIXED, .base_us = 5 * SEC};
    for (int n = -1; n <= 100; n++)
        for (uint64_t r = 0; r < 20; r++) assert_int_equal(synq_backoff_delay_us(&b, n, r), 5 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, INT32_MAX, UINT64_MAX), 5 * SEC);
    b.max_us = 5 * SEC;
    assert_int_equal(synq_backoff_delay_us(&b, 7, 1), 5 * SEC);
    b.max_us = 60 * SEC;
    assert_int_equal(synq_backoff_delay_us(&b, 7, 1), 5 * SEC);
    b.base_us = 0, b.max_us = 0;
    assert_int_equal(synq_backoff_delay_us(&b, 3, 1), 0);
}

static void test_backoff_exponential(void **state)
{
    synq_backoff_t b = {.type = SYNQ_BACKOFF_EXPONENTIAL, .base_us = SEC};
    /* base * 2^(n-1), no cap */
    for (int n = 1; n <= 40; n++)
        assert_int_equal(synq_backoff_delay_us(&b, n, (uint64_t)n * 12345), SEC << (n - 1));
    /* huge n: no overflow, never negative, never shrinking */
    int64_t prev = 0;
    for (int n = 1; n <= 5000; n++) {
        int64_t d = synq_backoff_delay_us(&b, n, 0);
        assert_true(d > 0);
        assert_true(d >= prev);
        prev = d;
    }
    assert_true(synq_backoff_delay_us(&b, INT32_MAX, 0) >= prev);
    b.base_us = INT64_MAX / 3;
    assert_true(synq_backoff_delay_us(&b, 10, 0) >= INT64_MAX / 3);

    /* with a cap: 1s, 2s, 4s, ... up to 1 h then 1 h for ever */
    synq_backoff_t c = {.type = SYNQ_BACKOFF_EXPONENTIAL, .base_us = SEC, .max_us = 3600 * SEC};
    for (int n = 1; n <= 12; n++) assert_int_equal(synq_backoff_delay_us(&c, n, 0), SEC << (n - 1));
    assert_int_equal(synq_backoff_delay_us(&c, 13, 0), 3600 * SEC); /* 4096 s capped */
    for (int n = 13; n <= 3000; n++) assert_int_equal(synq_backoff_delay_us(&c, n, 0), 3600 * SEC);
    assert_int_equal(synq_backoff_delay_us(&c, INT32_MAX, 0), 3600 * SEC);
    assert_int_equal(synq_backoff_delay_us(&c, 0, 0), SEC);
    /* a cap that is not a power-of-two multiple of base */
    synq_backoff_t d = {.type = SYNQ_BACKOFF_EXPONENTIAL, .base_us = 3 * SEC, .max_us = 10 * SEC};
    assert_int_equal(synq_backoff_delay_us(&d, 1, 0), 3 * SEC);
    assert_int_equal(synq_backoff_delay_us(&d, 2, 0), 6 * SEC);
    assert_int_equal(synq_backoff_delay_us(&d, 3, 0), 10 * SEC);
    assert_int_equal(synq_backoff_delay_us(&d, 100, 0), 10 * SEC);
    synq_backoff_t z = {.type = SYNQ_BACKOFF_EXPONENTIAL, .base_us = 0};
    assert_int_equal(synq_backoff_delay_us(&z, 30, 0), 0);
}

/* Checks that `err` reads "<field>: <problem>". */
static void assert_err_field(const char *err, const char *field, const char *input)
{
    size_t n = strlen(field);
    bool ok = strncmp(err, field, n) == 0 && err[n] == ':' && err[n + 1] == ' ' && err[n + 2];
    if (!ok) print_error("input %s: error \"%s\" does not name field \"%s\"\n", input, err, field);
    assert_true(ok);
}

static void test_backoff_from_json(void **state)
{
    static const struct {
        const char *json;
        synq_backoff_type_t type;
        int64_t base_us, max_us;
    } good[] = {
        {"{\"type\":\"fixed\",\"base\":\"1s\"}", SYNQ_BACKOFF_FIXED, SEC, 0},
        {"{\"type\":\"fixed\",\"base\":5}", SYNQ_BACKOFF_FIXED, 5 * SEC, 0},
        {"{\"type\":\"fixed\",\"base\":0.25}", SYNQ_BACKOFF_FIXED, 250000, 0},
        {"{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"1h\"}", SYNQ_BACKOFF_EXPONENTIAL, SEC,
         3600 * SEC},
        {"{\"type\":\"exponential\",\"base\":\"250ms\",\"max\":60}", SYNQ_BACKOFF_EXPONENTIAL,
         250000, 60 * SEC},
        {"{\"type\":\"exponential\",\"base\":\"2s\",\"max\":\"2s\"}", SYNQ_BACKOFF_EXPONENTIAL,
         2 * SEC, 2 * SEC},
        {"{\"base\":\"1m\",\"type\":\"fixed\",\"other\":1}", SYNQ_BACKOFF_FIXED, 60 * SEC, 0},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(good); i++) {
        json_t *v = parse(good[i].json);
        synq_backoff_t b;
        char err[128] = "";
        int r = synq_backoff_from_json(v, &b, err, sizeof err);
        if (r) print_error("%s: %s\n", good[i].json, err);
        assert_int_equal(r, 0);
        assert_int_equal(b.type, good[i].type);
        assert_int_equal(b.base_us, good[i].base_us);
        assert_int_equal(b.max_us, good[i].max_us);
        json_decref(v);
    }
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"\"fixed\"", "backoff"},
        {"[]", "backoff"},
        {"5", "backoff"},
        {"{}", "backoff.type"},
        {"{\"base\":\"1s\"}", "backoff.type"},
        {"{\"type\":\"linear\",\"base\":\"1s\"}", "backoff.type"},
        {"{\"type\":\"Fixed\",\"base\":\"1s\"}", "backoff.type"},
        {"{\"type\":\"default\",\"base\":\"1s\"}", "backoff.type"},
        {"{\"type\":5,\"base\":\"1s\"}", "backoff.type"},
        {"{\"type\":\"fixed\"}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":null}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":\"x\"}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":-1}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":\"-1s\"}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":true}", "backoff.base"},
        {"{\"type\":\"fixed\",\"base\":1e12}", "backoff.base"},
        {"{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"x\"}", "backoff.max"},
        {"{\"type\":\"exponential\",\"base\":\"1s\",\"max\":[]}", "backoff.max"},
        {"{\"type\":\"exponential\",\"base\":\"1m\",\"max\":\"1s\"}", "backoff.max"},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        json_t *v = parse(bad[i].json);
        synq_backoff_t b;
        char err[128] = "";
        assert_int_equal(synq_backoff_from_json(v, &b, err, sizeof err), SYNQ_EINVAL);
        assert_err_field(err, bad[i].field, bad[i].json);
        json_decref(v);
    }
}

/* ---- synq_job_from_json ------------------------------------------------- */

static void test_from_json_defaults(void **state)
{
    synq_job_t *job = from_ok("{\"type\":\"email\"}");
    assert_null(job->id); /* the caller generates it */
    assert_string_equal(job->queue, "default");
    assert_string_equal(job->type, "email");
    assert_string_equal(job->args, "[]");
    assert_null(job->custom);
    assert_null(job->backoff_json);
    assert_int_equal(job->backoff.type, SYNQ_BACKOFF_DEFAULT);
    assert_int_equal(job->priority, SYNQ_JOB_DEFAULT_PRIORITY);
    assert_int_equal(job->priority, 5);
    assert_int_equal(job->retry, 25);
    assert_int_equal(job->reserve_for, 1800);
    assert_int_equal(job->state, SYNQ_JOB_QUEUED);
    assert_int_equal(job->attempts, 0);
    assert_int_equal(job->run_at, 0);
    assert_int_equal(job->created_at, NOW);
    assert_int_equal(job->enqueued_at, NOW);
    assert_int_equal(job->started_at, 0);
    assert_int_equal(job->finished_at, 0);
    assert_int_equal(job->lease_until, 0);
    assert_null(job->worker);
    assert_null(job->result);
    assert_null(job->err_message);
    assert_null(job->err_type);
    assert_null(job->err_backtrace);
    synq_job_free(job);
    synq_job_free(NULL);
}

static void test_from_json_all_fields(void **state)
{
    synq_job_t *job = from_ok(
        "{\"id\":\"order-42:a_b.c\",\"queue\":\"critical\",\"type\":\"Mailer::Send\","
        "\"args\":[1,\"two\",{\"three\":3.5},null,true],\"priority\":9,\"retry\":3,"
        "\"reserve_for\":60,\"backoff\":{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"1h\"},"
        "\"custom\":{\"tenant\":\"acme\",\"n\":[1,2]},\"run_at\":\"2026-01-01T01:00:00Z\","
        "\"unknown\":{\"ignored\":true},\"state\":\"dead\",\"attempts\":7}");
    assert_string_equal(job->id, "order-42:a_b.c");
    assert_string_equal(job->queue, "critical");
    assert_string_equal(job->type, "Mailer::Send");
    json_t *args = parse(job->args);
    assert_json_eq(args, "[1,\"two\",{\"three\":3.5},null,true]");
    json_decref(args);
    assert_int_equal(job->priority, 9);
    assert_int_equal(job->retry, 3);
    assert_int_equal(job->reserve_for, 60);
    assert_int_equal(job->backoff.type, SYNQ_BACKOFF_EXPONENTIAL);
    assert_int_equal(job->backoff.base_us, SEC);
    assert_int_equal(job->backoff.max_us, 3600 * SEC);
    json_t *bo = parse(job->backoff_json);
    assert_json_eq(bo, "{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"1h\"}");
    json_decref(bo);
    json_t *custom = parse(job->custom);
    assert_json_eq(custom, "{\"tenant\":\"acme\",\"n\":[1,2]}");
    json_decref(custom);
    /* state and attempts are output-only: ignored on input */
    assert_int_equal(job->state, SYNQ_JOB_SCHEDULED);
    assert_int_equal(job->attempts, 0);
    assert_int_equal(job->run_at, NOW + 3600 * SEC);
    assert_int_equal(job->enqueued_at, 0);
    assert_int_equal(job->created_at, NOW);
    synq_job_free(job);
}

static void test_from_json_id_queue_type(void **state)
{
    char id128[129], q128[200], t256[300];
    memset(id128, 'i', 128), id128[128] = '\0';
    char json[1024];
    snprintf(json, sizeof json, "{\"id\":\"%s\",\"type\":\"t\"}", id128);
    synq_job_t *job = from_ok(json);
    assert_string_equal(job->id, id128);
    synq_job_free(job);

    memset(q128, 'q', 128), q128[128] = '\0';
    snprintf(json, sizeof json, "{\"queue\":\"%s\",\"type\":\"t\"}", q128);
    job = from_ok(json);
    assert_string_equal(job->queue, q128);
    synq_job_free(job);

    memset(t256, 't', 256), t256[256] = '\0';
    snprintf(json, sizeof json, "{\"type\":\"%s\"}", t256);
    job = from_ok(json);
    assert_string_equal(job->type, t256);
    synq_job_free(job);

    /* type is any non-empty string: spaces, quotes, UTF-8 (256 bytes, not chars) */
    job = from_ok("{\"type\":\"a b\\\"c\\\\d\\u00e9\\u20ac\\ud83d\\ude00\"}");
    assert_string_equal(job->type, "a b\"c\\d\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    synq_job_free(job);
    char t_utf8[1100] = "{\"type\":\"";
    for (int i = 0; i < 128; i++) strcat(t_utf8, "\xc3\xa9"); /* 128 chars, 256 bytes */
    strcat(t_utf8, "\"}");
    job = from_ok(t_utf8);
    assert_int_equal(strlen(job->type), 256);
    synq_job_free(job);

    /* null id and queue mean "not given" */
    job = from_ok("{\"id\":null,\"queue\":null,\"type\":\"t\"}");
    assert_null(job->id);
    assert_string_equal(job->queue, "default");
    synq_job_free(job);
}

/* Each entry: a job JSON (type valid unless type is the field tested) and
 * the field the error must name. */
static void test_from_json_errors_name_field(void **state)
{
    char long_id[200], long_queue[200], long_type[400], long_utf8[400];
    snprintf(long_id, sizeof long_id, "{\"type\":\"t\",\"id\":\"%0129d\"}", 0);
    snprintf(long_queue, sizeof long_queue, "{\"type\":\"t\",\"queue\":\"%0129d\"}", 0);
    snprintf(long_type, sizeof long_type, "{\"type\":\"%0257d\"}", 0);
    strcpy(long_utf8, "{\"type\":\"x");
    for (int i = 0; i < 128; i++) strcat(long_utf8, "\xc3\xa9"); /* 257 bytes */
    strcat(long_utf8, "\"}");
    const struct {
        const char *json, *field;
    } cases[] = {
        /* the body itself */
        {"[]", "job"},
        {"\"job\"", "job"},
        {"1", "job"},
        {"null", "job"},
        {"true", "job"},
        /* type */
        {"{}", "type"},
        {"{\"type\":null}", "type"},
        {"{\"type\":\"\"}", "type"},
        {"{\"type\":5}", "type"},
        {"{\"type\":true}", "type"},
        {"{\"type\":[\"t\"]}", "type"},
        {"{\"type\":{}}", "type"},
        {"{\"type\":\"a\\u0000b\"}", "type"},
        {long_type, "type"},
        {long_utf8, "type"},
        {"{\"Type\":\"t\"}", "type"},
        /* id */
        {"{\"type\":\"t\",\"id\":\"\"}", "id"},
        {"{\"type\":\"t\",\"id\":5}", "id"},
        {"{\"type\":\"t\",\"id\":true}", "id"},
        {"{\"type\":\"t\",\"id\":{}}", "id"},
        {"{\"type\":\"t\",\"id\":[\"a\"]}", "id"},
        {"{\"type\":\"t\",\"id\":\"a b\"}", "id"},
        {"{\"type\":\"t\",\"id\":\"a/b\"}", "id"},
        {"{\"type\":\"t\",\"id\":\"caf\\u00e9\"}", "id"},
        {"{\"type\":\"t\",\"id\":\"a\\u0000b\"}", "id"},
        {"{\"type\":\"t\",\"id\":\"a\\nb\"}", "id"},
        {long_id, "id"},
        /* queue */
        {"{\"type\":\"t\",\"queue\":\"\"}", "queue"},
        {"{\"type\":\"t\",\"queue\":7}", "queue"},
        {"{\"type\":\"t\",\"queue\":[]}", "queue"},
        {"{\"type\":\"t\",\"queue\":\"high priority\"}", "queue"},
        {"{\"type\":\"t\",\"queue\":\"q\\u0000\"}", "queue"},
        {"{\"type\":\"t\",\"queue\":\"q*\"}", "queue"},
        {long_queue, "queue"},
        /* priority */
        {"{\"type\":\"t\",\"priority\":0}", "priority"},
        {"{\"type\":\"t\",\"priority\":10}", "priority"},
        {"{\"type\":\"t\",\"priority\":-1}", "priority"},
        {"{\"type\":\"t\",\"priority\":5.0}", "priority"},
        {"{\"type\":\"t\",\"priority\":5.5}", "priority"},
        {"{\"type\":\"t\",\"priority\":\"5\"}", "priority"},
        {"{\"type\":\"t\",\"priority\":true}", "priority"},
        {"{\"type\":\"t\",\"priority\":[5]}", "priority"},
        {"{\"type\":\"t\",\"priority\":4294967301}", "priority"},
        /* retry */
        {"{\"type\":\"t\",\"retry\":-1}", "retry"},
        {"{\"type\":\"t\",\"retry\":1001}", "retry"},
        {"{\"type\":\"t\",\"retry\":1.5}", "retry"},
        {"{\"type\":\"t\",\"retry\":\"3\"}", "retry"},
        {"{\"type\":\"t\",\"retry\":[]}", "retry"},
        {"{\"type\":\"t\",\"retry\":{}}", "retry"},
        {"{\"type\":\"t\",\"retry\":4294967296}", "retry"},
        /* reserve_for */
        {"{\"type\":\"t\",\"reserve_for\":0}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":0.5}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":-1}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":604801}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":604800.5}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":1e300}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":\"0s\"}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":\"8d\"}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":\"abc\"}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":true}", "reserve_for"},
        {"{\"type\":\"t\",\"reserve_for\":[60]}", "reserve_for"},
        /* backoff */
        {"{\"type\":\"t\",\"backoff\":\"fixed\"}", "backoff"},
        {"{\"type\":\"t\",\"backoff\":[]}", "backoff"},
        {"{\"type\":\"t\",\"backoff\":{}}", "backoff.type"},
        {"{\"type\":\"t\",\"backoff\":{\"type\":\"linear\",\"base\":\"1s\"}}", "backoff.type"},
        {"{\"type\":\"t\",\"backoff\":{\"type\":\"fixed\"}}", "backoff.base"},
        {"{\"type\":\"t\",\"backoff\":{\"type\":\"fixed\",\"base\":\"soon\"}}", "backoff.base"},
        {"{\"type\":\"t\",\"backoff\":{\"type\":\"fixed\",\"base\":\"1s\",\"max\":\"x\"}}",
         "backoff.max"},
        {"{\"type\":\"t\",\"backoff\":{\"type\":\"fixed\",\"base\":\"1m\",\"max\":\"1s\"}}",
         "backoff.max"},
        /* custom */
        {"{\"type\":\"t\",\"custom\":[]}", "custom"},
        {"{\"type\":\"t\",\"custom\":\"x\"}", "custom"},
        {"{\"type\":\"t\",\"custom\":1}", "custom"},
        {"{\"type\":\"t\",\"custom\":false}", "custom"},
        /* run_at */
        {"{\"type\":\"t\",\"run_at\":\"tomorrow\"}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":\"\"}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":1767225600}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":true}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":{}}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":\"2026-13-01T00:00:00Z\"}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01T00:00:00\"}", "run_at"},
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01\"}", "run_at"},
        /* delay */
        {"{\"type\":\"t\",\"delay\":\"-1s\"}", "delay"},
        {"{\"type\":\"t\",\"delay\":-5}", "delay"},
        {"{\"type\":\"t\",\"delay\":\"abc\"}", "delay"},
        {"{\"type\":\"t\",\"delay\":\"\"}", "delay"},
        {"{\"type\":\"t\",\"delay\":true}", "delay"},
        {"{\"type\":\"t\",\"delay\":[]}", "delay"},
        {"{\"type\":\"t\",\"delay\":\"36501d\"}", "delay"},
        {"{\"type\":\"t\",\"delay\":1e10}", "delay"},
        /* both */
        {"{\"type\":\"t\",\"delay\":\"5s\",\"run_at\":\"2026-01-01T00:00:00Z\"}", "run_at"},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char err[256];
        memset(err, 0, sizeof err);
        synq_job_t *job = from_text(cases[i].json, err, sizeof err);
        if (job) print_error("accepted: %s\n", cases[i].json);
        assert_null(job);
        assert_err_field(err, cases[i].field, cases[i].json);
    }
}

/* The error text is truncated to errlen and stays a C string. */
static void test_from_json_small_err_buffer(void **state)
{
    char err[16];
    memset(err, 'z', sizeof err);
    synq_job_t *job = from_text("{\"type\":\"t\",\"priority\":0}", err, 9);
    assert_null(job);
    assert_string_equal(err, "priority");
    assert_int_equal(err[9], 'z');
    err[0] = 'z';
    job = from_text("{\"type\":\"t\",\"priority\":0}", err, 1);
    assert_null(job);
    assert_int_equal(err[0], '\0');
}

static void test_from_json_numbers(void **state)
{
    static const struct {
        const char *json;
        int priority, retry, reserve_for;
    } cases[] = {
        {"{\"type\":\"t\",\"priority\":1}", 1, 25, 1800},
        {"{\"type\":\"t\",\"priority\":9}", 9, 25, 1800},
        {"{\"type\":\"t\",\"priority\":null}", 5, 25, 1800},
        {"{\"type\":\"t\",\"retry\":0}", 5, 0, 1800},
        {"{\"type\":\"t\",\"retry\":1000}", 5, 1000, 1800},
        {"{\"type\":\"t\",\"retry\":true}", 5, 25, 1800},
        {"{\"type\":\"t\",\"retry\":false}", 5, 0, 1800},
        {"{\"type\":\"t\",\"retry\":null}", 5, 25, 1800},
        {"{\"type\":\"t\",\"reserve_for\":1}", 5, 25, 1},
        {"{\"type\":\"t\",\"reserve_for\":604800}", 5, 25, 604800},
        {"{\"type\":\"t\",\"reserve_for\":1.9}", 5, 25, 1},
        {"{\"type\":\"t\",\"reserve_for\":\"30m\"}", 5, 25, 1800},
        {"{\"type\":\"t\",\"reserve_for\":\"7d\"}", 5, 25, 604800},
        {"{\"type\":\"t\",\"reserve_for\":\"90\"}", 5, 25, 90},
        {"{\"type\":\"t\",\"reserve_for\":null}", 5, 25, 1800},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_job_t *job = from_ok(cases[i].json);
        assert_int_equal(job->priority, cases[i].priority);
        assert_int_equal(job->retry, cases[i].retry);
        assert_int_equal(job->reserve_for, cases[i].reserve_for);
        synq_job_free(job);
    }
}

static void test_from_json_args_custom(void **state)
{
    static const struct {
        const char *json, *args;
    } cases[] = {
        {"{\"type\":\"t\"}", "[]"},
        {"{\"type\":\"t\",\"args\":[]}", "[]"},
        {"{\"type\":\"t\",\"args\":{\"a\":[1,{\"b\":null}]}}", "{\"a\":[1,{\"b\":null}]}"},
        {"{\"type\":\"t\",\"args\":\"text\"}", "\"text\""},
        {"{\"type\":\"t\",\"args\":42}", "42"},
        {"{\"type\":\"t\",\"args\":-0.5}", "-0.5"},
        {"{\"type\":\"t\",\"args\":false}", "false"},
        {"{\"type\":\"t\",\"args\":null}", "null"},
        {"{\"type\":\"t\",\"args\":[\"\\u0000\\n\\\"\"]}", "[\"\\u0000\\n\\\"\"]"},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_job_t *job = from_ok(cases[i].json);
        assert_non_null(job->args);
        json_t *got = parse(job->args);
        assert_json_eq(got, cases[i].args);
        json_decref(got);
        synq_job_free(job);
    }
    synq_job_t *job = from_ok("{\"type\":\"t\",\"custom\":{}}");
    assert_string_equal(job->custom, "{}");
    synq_job_free(job);
    job = from_ok("{\"type\":\"t\",\"custom\":null}");
    assert_null(job->custom);
    synq_job_free(job);
}

static void test_from_json_schedule(void **state)
{
    static const struct {
        const char *json;
        synq_job_state_t state;
        int64_t run_at;
    } cases[] = {
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01T00:00:01Z\"}", SYNQ_JOB_SCHEDULED, NOW + SEC},
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01T00:00:00.000001Z\"}", SYNQ_JOB_SCHEDULED, NOW + 1},
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01T02:00:00+01:00\"}", SYNQ_JOB_SCHEDULED,
         NOW + 3600 * SEC},
        {"{\"type\":\"t\",\"run_at\":\"2026-01-01T00:00:00Z\"}", SYNQ_JOB_QUEUED, 0}, /* = now */
        {"{\"type\":\"t\",\"run_at\":\"2020-01-01T00:00:00Z\"}", SYNQ_JOB_QUEUED, 0}, /* past */
        {"{\"type\":\"t\",\"run_at\":null}", SYNQ_JOB_QUEUED, 0},
        {"{\"type\":\"t\",\"delay\":\"30s\"}", SYNQ_JOB_SCHEDULED, NOW + 30 * SEC},
        {"{\"type\":\"t\",\"delay\":\"1h30m\"}", SYNQ_JOB_SCHEDULED, NOW + 5400 * SEC},
        {"{\"type\":\"t\",\"delay\":2.5}", SYNQ_JOB_SCHEDULED, NOW + 2500000},
        {"{\"type\":\"t\",\"delay\":60}", SYNQ_JOB_SCHEDULED, NOW + 60 * SEC},
        {"{\"type\":\"t\",\"delay\":\"0s\"}", SYNQ_JOB_QUEUED, 0},
        {"{\"type\":\"t\",\"delay\":0}", SYNQ_JOB_QUEUED, 0},
        {"{\"type\":\"t\",\"delay\":null}", SYNQ_JOB_QUEUED, 0},
        {"{\"type\":\"t\",\"delay\":null,\"run_at\":\"2026-01-01T00:01:00Z\"}", SYNQ_JOB_SCHEDULED,
         NOW + 60 * SEC},
        {"{\"type\":\"t\",\"delay\":\"1m\",\"run_at\":null}", SYNQ_JOB_SCHEDULED, NOW + 60 * SEC},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_job_t *job = from_ok(cases[i].json);
        assert_int_equal(job->state, cases[i].state);
        assert_int_equal(job->run_at, cases[i].run_at);
        assert_int_equal(job->enqueued_at, cases[i].state == SYNQ_JOB_QUEUED ? NOW : 0);
        assert_int_equal(job->created_at, NOW);
        synq_job_free(job);
    }
}

/* ---- synq_job_to_json ---------------------------------------------------- */

static const char *const always_keys[] = {
    "id",         "queue",      "type",        "args",       "priority",    "state",
    "retry",      "reserve_for", "attempts",   "run_at",     "created_at",  "enqueued_at",
    "started_at", "finished_at", "result",     "error",      "custom",
};

static void assert_has_documented_keys(const json_t *o, const synq_job_t *job)
{
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(always_keys); i++) {
        if (!json_object_get(o, always_keys[i])) print_error("missing \"%s\"\n", always_keys[i]);
        assert_non_null(json_object_get(o, always_keys[i]));
    }
    assert_int_equal(json_object_get(o, "backoff") != NULL, job->backoff_json != NULL);
    assert_int_equal(json_object_get(o, "worker") != NULL, job->state == SYNQ_JOB_ACTIVE);
    assert_int_equal(json_object_get(o, "lease_expires_at") != NULL, job->state == SYNQ_JOB_ACTIVE);
}

static void test_to_json_minimal(void **state)
{
    synq_job_t *job = from_ok("{\"type\":\"email\"}");
    job->id = strdup("01JD8Y5Q2ZV3M8X4K7N6B5C4D3");
    json_t *o = to_json(job);
    assert_has_documented_keys(o, job);
    assert_json_eq(json_object_get(o, "id"), "\"01JD8Y5Q2ZV3M8X4K7N6B5C4D3\"");
    assert_json_eq(json_object_get(o, "queue"), "\"default\"");
    assert_json_eq(json_object_get(o, "type"), "\"email\"");
    assert_json_eq(json_object_get(o, "args"), "[]");
    assert_json_eq(json_object_get(o, "priority"), "5");
    assert_json_eq(json_object_get(o, "state"), "\"queued\"");
    assert_json_eq(json_object_get(o, "retry"), "25");
    assert_json_eq(json_object_get(o, "reserve_for"), "1800");
    assert_json_eq(json_object_get(o, "attempts"), "0");
    assert_time_field(o, "run_at", 0);
    assert_time_field(o, "created_at", NOW);
    assert_time_field(o, "enqueued_at", NOW);
    assert_time_field(o, "started_at", 0);
    assert_time_field(o, "finished_at", 0);
    assert_json_eq(json_object_get(o, "created_at"), "\"2026-01-01T00:00:00.000000Z\"");
    assert_json_eq(json_object_get(o, "result"), "null");
    assert_json_eq(json_object_get(o, "error"), "null");
    assert_json_eq(json_object_get(o, "custom"), "null");
    json_decref(o);
    synq_job_free(job);
}

static void test_to_json_full(void **state)
{
    const char *in =
        "{\"id\":\"j1\",\"queue\":\"critical\",\"type\":\"Mailer::Send\","
        "\"args\":[1,\"two\",{\"three\":3.5},null,true,-7,\"\\u00e9\\n\"],\"priority\":9,"
        "\"retry\":3,\"reserve_for\":\"2m\","
        "\"backoff\":{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"1h\"},"
        "\"custom\":{\"tenant\":\"acme\",\"n\":[1,2]},\"delay\":\"90s\"}";
    synq_job_t *job = from_ok(in);
    json_t *o = to_json(job);
    assert_has_documented_keys(o, job);
    assert_json_eq(json_object_get(o, "id"), "\"j1\"");
    assert_json_eq(json_object_get(o, "queue"), "\"critical\"");
    assert_json_eq(json_object_get(o, "type"), "\"Mailer::Send\"");
    assert_json_eq(json_object_get(o, "args"), "[1,\"two\",{\"three\":3.5},null,true,-7,\"\\u00e9\\n\"]");
    assert_json_eq(json_object_get(o, "priority"), "9");
    assert_json_eq(json_object_get(o, "retry"), "3");
    assert_json_eq(json_object_get(o, "reserve_for"), "120");
    assert_json_eq(json_object_get(o, "state"), "\"scheduled\"");
    assert_json_eq(json_object_get(o, "backoff"),
                   "{\"type\":\"exponential\",\"base\":\"1s\",\"max\":\"1h\"}");
    assert_json_eq(json_object_get(o, "custom"), "{\"tenant\":\"acme\",\"n\":[1,2]}");
    assert_time_field(o, "run_at", NOW + 90 * SEC);
    assert_time_field(o, "enqueued_at", 0);
    assert_time_field(o, "created_at", NOW);

    /* the output is itself a valid job body giving the same job back */
    synq_job_t *again = synq_job_from_json(o, NOW, NULL, 0);
    assert_non_null(again);
    assert_string_equal(again->id, job->id);
    assert_string_equal(again->queue, job->queue);
    assert_string_equal(again->type, job->type);
    assert_string_equal(again->args, job->args);
    assert_string_equal(again->custom, job->custom);
    assert_string_equal(again->backoff_json, job->backoff_json);
    assert_int_equal(again->priority, job->priority);
    assert_int_equal(again->retry, job->retry);
    assert_int_equal(again->reserve_for, job->reserve_for);
    assert_int_equal(again->run_at, job->run_at);
    assert_int_equal(again->state, job->state);
    synq_job_free(again);
    json_decref(o);
    synq_job_free(job);
}

static void test_to_json_active_with_error(void **state)
{
    synq_job_t *job = from_ok("{\"id\":\"a1\",\"type\":\"t\"}");
    job->state = SYNQ_JOB_ACTIVE;
    job->attempts = 2;
    job->started_at = NOW + 5 * SEC;
    job->lease_until = NOW + 1805 * SEC;
    job->worker = strdup("host-1 \"pid\" 42\n");
    job->result = strdup("{\"ok\":[1,2,3]}");
    job->err_message = strdup("boom: \"quoted\"\ttab\x01\xc3\xa9");
    job->err_type = strdup("RuntimeError");
    job->err_backtrace = strdup("[\"a.rb:1\",\"b.rb:2\"]");
    json_t *o = to_json(job);
    assert_has_documented_keys(o, job);
    assert_json_eq(json_object_get(o, "state"), "\"active\"");
    assert_json_eq(json_object_get(o, "attempts"), "2");
    assert_json_eq(json_object_get(o, "worker"), "\"host-1 \\\"pid\\\" 42\\n\"");
    assert_time_field(o, "lease_expires_at", NOW + 1805 * SEC);
    assert_time_field(o, "started_at", NOW + 5 * SEC);
    assert_json_eq(json_object_get(o, "result"), "{\"ok\":[1,2,3]}");
    assert_json_eq(json_object_get(o, "error"),
                   "{\"message\":\"boom: \\\"quoted\\\"\\ttab\\u0001\\u00e9\","
                   "\"type\":\"RuntimeError\",\"backtrace\":[\"a.rb:1\",\"b.rb:2\"]}");
    json_decref(o);

    /* active without a worker yet: "worker": null */
    free(job->worker);
    job->worker = NULL;
    o = to_json(job);
    assert_json_eq(json_object_get(o, "worker"), "null");
    json_decref(o);

    /* partial error: missing parts are null */
    free(job->err_message);
    free(job->err_backtrace);
    job->err_message = job->err_backtrace = NULL;
    o = to_json(job);
    assert_json_eq(json_object_get(o, "error"),
                   "{\"message\":null,\"type\":\"RuntimeError\",\"backtrace\":null}");
    json_decref(o);
    free(job->err_type);
    job->err_type = NULL;
    job->err_message = strdup("only a message");
    o = to_json(job);
    assert_json_eq(json_object_get(o, "error"),
                   "{\"message\":\"only a message\",\"type\":null,\"backtrace\":null}");
    json_decref(o);
    synq_job_free(job);
}

/* Every state: its name, and worker/lease only while active. */
static void test_to_json_every_state(void **state)
{
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++) {
        synq_job_t *job = from_ok("{\"id\":\"s\",\"type\":\"t\"}");
        job->state = (synq_job_state_t)s;
        job->worker = strdup("w1");
        job->lease_until = NOW + 60 * SEC;
        job->finished_at = synq_job_state_terminal(job->state) ? NOW + 2 * SEC : 0;
        json_t *o = to_json(job);
        assert_has_documented_keys(o, job);
        const json_t *st = json_object_get(o, "state");
        assert_true(json_is_string(st));
        assert_string_equal(json_string_value(st), synq_job_state_name(job->state));
        assert_time_field(o, "finished_at", job->finished_at);
        if (s == SYNQ_JOB_ACTIVE) {
            assert_json_eq(json_object_get(o, "worker"), "\"w1\"");
            assert_time_field(o, "lease_expires_at", NOW + 60 * SEC);
        }
        json_decref(o);
        synq_job_free(job);
    }
}

/* Strings are escaped: type may hold quotes, backslashes, controls, UTF-8. */
static void test_to_json_escaping(void **state)
{
    synq_job_t *job = from_ok(
        "{\"id\":\"e\",\"type\":\"a\\\"b\\\\c\\nd\\u0001\\u001f\\u007f\\u00e9\\u2028/\"}");
    json_t *o = to_json(job);
    const json_t *t = json_object_get(o, "type");
    assert_true(json_is_string(t));
    assert_int_equal(json_string_length(t), strlen(job->type));
    assert_string_equal(json_string_value(t), job->type);
    json_decref(o);
    synq_job_free(job);
}

/* Big args (longer than any internal scratch buffer) come out whole, and the
 * output is appended after what the buffer already holds. */
static void test_to_json_big_args_appends(void **state)
{
    synq_buf_t body;
    synq_buf_init(&body);
    synq_buf_puts(&body, "{\"type\":\"t\",\"id\":\"big\",\"args\":[");
    for (int i = 0; i < 5000; i++) synq_buf_printf(&body, "%s\"item-%d\"", i ? "," : "", i);
    synq_buf_puts(&body, "]}");
    synq_job_t *job = from_ok(body.data);
    synq_buf_release(&body);

    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_puts(&out, "[");
    synq_job_to_json(job, &out);
    synq_buf_putc(&out, ',');
    synq_job_to_json(job, &out);
    synq_buf_putc(&out, ']');
    json_error_t e;
    json_t *arr = json_loadb(out.data, out.len, 0, &e);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    const json_t *args = json_object_get(json_array_get(arr, 1), "args");
    assert_int_equal(json_array_size(args), 5000);
    assert_string_equal(json_string_value(json_array_get(args, 4999)), "item-4999");
    assert_true(json_equal(json_array_get(arr, 0), json_array_get(arr, 1)));
    json_decref(arr);
    synq_buf_release(&out);
    synq_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_state_terminal),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_transition_unknown_event),
        cmocka_unit_test(test_transition_fail_dead),
        cmocka_unit_test(test_lifecycle_always_failing),
        cmocka_unit_test(test_backoff_default),
        cmocka_unit_test(test_backoff_fixed),
        cmocka_unit_test(test_backoff_exponential),
        cmocka_unit_test(test_backoff_from_json),
        cmocka_unit_test(test_from_json_defaults),
        cmocka_unit_test(test_from_json_all_fields),
        cmocka_unit_test(test_from_json_id_queue_type),
        cmocka_unit_test(test_from_json_errors_name_field),
        cmocka_unit_test(test_from_json_small_err_buffer),
        cmocka_unit_test(test_from_json_numbers),
        cmocka_unit_test(test_from_json_args_custom),
        cmocka_unit_test(test_from_json_schedule),
        cmocka_unit_test(test_to_json_minimal),
        cmocka_unit_test(test_to_json_full),
        cmocka_unit_test(test_to_json_active_with_error),
        cmocka_unit_test(test_to_json_every_state),
        cmocka_unit_test(test_to_json_escaping),
        cmocka_unit_test(test_to_json_big_args_appends),
    };
    return cmocka_run_group_tests_name("job", tests, NULL, NULL);
}
