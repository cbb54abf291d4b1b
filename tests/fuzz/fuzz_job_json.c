/* Fuzz target for core/job's JSON forms: json_loadb -> synq_job_from_json ->
 * synq_job_to_json. Invariants (abort on violation):
 *  rejected - the error reads "<field>: <problem>" with a known field name.
 *  accepted - every field is in its documented range; the output parses as
 *             a JSON object with every documented field and the same id,
 *             queue, type, args (and custom, backoff, numbers, state, times);
 *             fed back in, the output gives the same job and the very same
 *             output bytes. */
#include "core/job.h"

#include "core/id.h"
#include "core/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

static const char *const fields[] = {
    "job",    "id",           "queue",        "type",        "priority", "retry",  "reserve_for",
    "backoff", "backoff.type", "backoff.base", "backoff.max", "custom",   "run_at", "delay",
};

static void check_error(const char *err)
{
    const char *colon = strstr(err, ": ");
    CHECK(colon != NULL && colon[2] != '\0');
    size_t n = (size_t)(colon - err);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i]) == n && memcmp(err, fields[i], n) == 0) return;
    fprintf(stderr, "error does not name a known field: \"%s\"\n", err);
    abort();
}

static bool same_string(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, strlen(s)) == 0;
}

static bool same_json_text(const json_t *v, const char *text)
{
    json_error_t e;
    json_t *w = json_loads(text, LOAD_FLAGS, &e);
    CHECK(w != NULL);
    bool eq = json_equal(v, w);
    json_decref(w);
    return eq;
}

static bool int_field(const json_t *o, const char *key, json_int_t want)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) == want;
}

static bool time_field(const json_t *o, const char *key, int64_t want)
{
    const json_t *v = json_object_get(o, key);
    if (want == 0) return json_is_null(v);
    int64_t t;
    return json_is_string(v) &&
           synq_rfc3339_parse(json_string_value(v), json_string_length(v), &t) == 0 && t == want;
}

/* Given input v (an optional field, null meaning absent) and the output o. */
static const json_t *given(const json_t *in, const char *key)
{
    const json_t *v = json_object_get(in, key);
    return v && !json_is_null(v) ? v : NULL;
}

static void check_job(const synq_job_t *job, const json_t *in)
{
    CHECK(job->id == NULL || synq_id_valid(job->id, strlen(job->id)));
    CHECK(job->queue && synq_id_valid(job->queue, strlen(job->queue)));
    CHECK(job->type && strlen(job->type) >= 1 && strlen(job->type) <= SYNQ_TYPE_MAX);
    CHECK(job->args != NULL);
    CHECK(job->priority >= 1 && job->priority <= 9);
    CHECK(job->retry >= 0 && job->retry <= SYNQ_JOB_MAX_RETRY);
    CHECK(job->reserve_for >= 1 && job->reserve_for <= SYNQ_JOB_MAX_RESERVE_S);
    CHECK(job->attempts == 0 && job->created_at == NOW);
    CHECK(job->state == SYNQ_JOB_QUEUED || job->state == SYNQ_JOB_SCHEDULED);
    if (job->state == SYNQ_JOB_SCHEDULED)
        CHECK(job->run_at > NOW && job->enqueued_at == 0);
    else
        CHECK(job->run_at == 0 && job->enqueued_at == NOW);
    CHECK((job->backoff_json != NULL) == (given(in, "backoff") != NULL));
    CHECK((job->custom != NULL) == (given(in, "custom") != NULL));
    if (job->backoff_json) {
        const synq_backoff_t *b = &job->backoff;
        CHECK(b->type == SYNQ_BACKOFF_FIXED || b->type == SYNQ_BACKOFF_EXPONENTIAL);
        CHECK(b->base_us >= 0 && b->max_us >= 0);
        CHECK(b->max_us == 0 || b->max_us >= b->base_us);
        int64_t prev = 0;
        for (int n = 1; n <= 70; n++) {
            int64_t d = synq_backoff_delay_us(b, n, (uint64_t)n);
            CHECK(d >= prev && d >= b->base_us);
            if (b->max_us) CHECK(d <= b->max_us);
            prev = d;
        }
    }
}

/* The output o of to_json(job) for input in. */
static void check_output(const json_t *o, const synq_job_t *job, const json_t *in)
{
    CHECK(json_is_object(o));
    CHECK(same_string(json_object_get(o, "id"), job->id));
    if (given(in, "id")) CHECK(json_equal(json_object_get(o, "id"), given(in, "id")));
    CHECK(same_string(json_object_get(o, "queue"), job->queue));
    if (given(in, "queue")) CHECK(json_equal(json_object_get(o, "queue"), given(in, "queue")));
    else CHECK(same_string(json_object_get(o, "queue"), "default"));
    CHECK(json_equal(json_object_get(o, "type"), json_object_get(in, "type")));
    const json_t *args = json_object_get(in, "args");
    if (args)
        CHECK(json_equal(json_object_get(o, "args"), args));
    else
        CHECK(same_json_text(json_object_get(o, "args"), "[]"));
    CHECK(int_field(o, "priority", job->priority));
    CHECK(int_field(o, "retry", job->retry));
    CHECK(int_field(o, "reserve_for", job->reserve_for));
    CHECK(int_field(o, "attempts", 0));
    CHECK(same_string(json_object_get(o, "state"), synq_job_state_name(job->state)));
    CHECK(time_field(o, "created_at", NOW));
    CHECK(time_field(o, "run_at", job->run_at));
    CHECK(time_field(o, "enqueued_at", job->enqueued_at));
    CHECK(time_field(o, "started_at", 0));
    CHECK(time_field(o, "finished_at", 0));
    CHECK(json_is_null(json_object_get(o, "result")));
    CHECK(json_is_null(json_object_get(o, "error")));
    const json_t *custom = given(in, "custom");
    if (custom)
        CHECK(json_equal(json_object_get(o, "custom"), custom));
    else
        CHECK(json_is_null(json_object_get(o, "custom")));
    const json_t *backoff = given(in, "backoff");
    if (backoff)
        CHECK(json_equal(json_object_get(o, "backoff"), backoff));
    else
        CHECK(json_object_get(o, "backoff") == NULL);
    CHECK(json_object_get(o, "worker") == NULL && json_object_get(o, "lease_expires_at") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *in = json_loadb((const char *)data, size, LOAD_FLAGS, &e);
    if (in == NULL) return 0;

    char err[256];
    err[0] = '\0';
    synq_job_t *job = synq_job_from_json(in, NOW, err, sizeof err);
    if (job == NULL) {
        check_error(err);
        if (!json_is_object(in)) CHECK(strncmp(err, "job: ", 5) == 0);
        json_decref(in);
        return 0;
    }
    CHECK(json_is_object(in));
    check_job(job, in);
    if (job->id == NULL) job->id = synq_strdup("01JD8Y5Q2ZV3M8X4K7N6B5C4D3");

    synq_buf_t out;
    synq_buf_init(&out);
    synq_job_to_json(job, &out);
    json_t *o = json_loadb(out.data, out.len, LOAD_FLAGS, &e);
    if (o == NULL) {
        fprintf(stderr, "to_json output does not parse (%s): %s\n", e.text, out.data);
        abort();
    }
    check_output(o, job, in);

    /* the output is a valid job body for the same job, and writes the same bytes */
    synq_job_t *again = synq_job_from_json(o, NOW, err, sizeof err);
    if (again == NULL) {
        fprintf(stderr, "to_json output rejected (%s): %s\n", err, out.data);
        abort();
    }
    check_job(again, o);
    synq_buf_t out2;
    synq_buf_init(&out2);
    synq_job_to_json(again, &out2);
    CHECK(out2.len == out.len && memcmp(out2.data, out.data, out.len) == 0);

    synq_buf_release(&out2);
    synq_job_free(again);
    json_decref(o);
    synq_buf_release(&out);
    synq_job_free(job);
    json_decref(in);
    return 0;
}
