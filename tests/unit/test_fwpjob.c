/* Unit tests for proto/fwpjob: synq_fwp_job_from_json (every rule of a
 * Faktory job payload and its exact error text, the Enterprise keys of
 * custom, what is echoed in job->fwp), synq_fwp_job_to_json (round trip of
 * the echoed fields, args wrapping, the failure object as Faktory counts it,
 * time formats; every output parses with duplicate keys rejected),
 * synq_fwp_glob (Redis glob semantics, and a many-star pattern against a
 * long text stays linear-ish), synq_fwp_queue_valid, and Faktory's backoff
 * (SYNQ_BACKOFF_FAKTORY in synq_backoff_delay_us and synq_backoff_from_json). */
#include "proto/fwpjob.h"

#include "core/timeutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "job_fixture.h"

#define SEC SYNQ_US_PER_SEC
#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */

/* The job_fixture.h helpers with the Faktory mapping, at NOW. */
static synq_job_t *from_text(const char *text, char *err, size_t errlen)
{
    return job_from_text(synq_fwp_job_from_json, NOW, text, err, errlen);
}

static synq_job_t *from_ok(const char *text)
{
    return job_from_ok(synq_fwp_job_from_json, NOW, text);
}

/* Asserts the text is rejected with exactly `want`. */
static void expect_error(const char *text, const char *want)
{
    char err[256] = "";
    synq_job_t *job = from_text(text, err, sizeof err);
    if (job != NULL || strcmp(err, want) != 0)
        print_error("%s: got %s \"%s\", want \"%s\"\n", text, job ? "accepted" : "error", err,
                    want);
    assert_null(job);
    assert_string_equal(err, want);
}

/* Asserts every text given is rejected with exactly `want`. */
#define EXPECT_ERRORS(want, ...) expect_errors(want, (const char *const[]){__VA_ARGS__, NULL})

static void expect_errors(const char *want, const char *const *texts)
{
    for (; *texts; texts++)
        expect_error(*texts, want);
}

/* The job's Faktory JSON form, parsed back with duplicate keys rejected. */
static json_t *fk_json(const synq_job_t *job)
{
    return job_json(synq_fwp_job_to_json, job, JSON_REJECT_DUPLICATES);
}

/* job->fwp (the echoed fields) equals want_text; NULL for none. */
static void assert_echo(const synq_job_t *job, const char *want_text)
{
    if (want_text == NULL) {
        if (job->fwp) print_error("unexpected echo %s\n", job->fwp);
        assert_null(job->fwp);
        return;
    }
    assert_non_null(job->fwp);
    json_t *got = parse(job->fwp);
    assert_json_eq(got, want_text);
    json_decref(got);
}

static int64_t int_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) print_error("\"%s\" is not an integer\n", key);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) print_error("\"%s\" is not a string\n", key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

#define J(rest) "{\"jid\":\"abcdefgh12\",\"jobtype\":\"Send\",\"args\":[1]" rest "}"

/* ---- from_json: required fields ------------------------------------------------ */

static void test_minimal(void **state)
{
    synq_job_t *job = from_ok("{\"jid\":\"12345678\",\"jobtype\":\"T\",\"args\":[]}");
    assert_string_equal(job->id, "12345678");
    assert_string_equal(job->type, "T");
    assert_string_equal(job->args, "[]");
    assert_string_equal(job->queue, "default");
    assert_int_equal(job->state, SYNQ_JOB_QUEUED);
    assert_int_equal(job->enqueued_at, NOW);
    assert_int_equal(job->created_at, NOW);
    assert_int_equal(job->run_at, 0);
    assert_int_equal(job->reserve_for, SYNQ_FWP_RESERVE_DEFAULT);
    assert_int_equal(job->retry, 25);
    assert_false(job->discard);
    assert_int_equal(job->priority, SYNQ_JOB_DEFAULT_PRIORITY);
    assert_int_equal(job->attempts, 0);
    assert_int_equal(job->backoff.type, SYNQ_BACKOFF_FAKTORY);
    assert_string_equal(job->backoff_json, "{\"type\":\"faktory\"}");
    assert_null(job->custom);
    assert_null(job->batch);
    assert_null(job->unique_key);
    assert_int_equal(job->run_by, 0);
    assert_echo(job, NULL);
    synq_job_free(job);
}

static void test_not_object(void **state)
{
    static const char *const texts[] = {"[]", "\"job\"", "42", "null", "true"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(texts); i++)
        expect_error(texts[i], "invalid JSON: a job must be an object");
}

static void test_jid(void **state)
{
    const char *reasonable = "jobs must have a reasonable jid parameter";
    const char *chars = "jid must be at most 128 characters of A-Z a-z 0-9 _ - . :";
    EXPECT_ERRORS(reasonable, "{\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":null,\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":12345678,\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":\"\",\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":\"1234567\",\"jobtype\":\"T\",\"args\":[]}");
    EXPECT_ERRORS(chars, "{\"jid\":\"abc defgh\",\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":\"abcdefgh/\",\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":\"abcdefg\\u00e9\",\"jobtype\":\"T\",\"args\":[]}",
                  "{\"jid\":\"abcdefgh\\n\",\"jobtype\":\"T\",\"args\":[]}");
    /* 8 is the least; every allowed character; 128 is the most */
    synq_job_t *job = from_ok("{\"jid\":\"aZ09_-.:\",\"jobtype\":\"T\",\"args\":[]}");
    assert_string_equal(job->id, "aZ09_-.:");
    synq_job_free(job);
    char text[400], jid[130];
    memset(jid, 'j', 128);
    jid[128] = '\0';
    snprintf(text, sizeof text, "{\"jid\":\"%s\",\"jobtype\":\"T\",\"args\":[]}", jid);
    job = from_ok(text);
    assert_int_equal(strlen(job->id), 128);
    synq_job_free(job);
    jid[128] = 'j';
    jid[129] = '\0';
    snprintf(text, sizeof text, "{\"jid\":\"%s\",\"jobtype\":\"T\",\"args\":[]}", jid);
    expect_error(text, chars);
    /* a UUID as Node sends it */
    job =
        from_ok("{\"jid\":\"8f1e4b52-6a0c-4c59-9b1e-3a2f8d7c6e5b\",\"jobtype\":\"T\",\"args\":[]}");
    synq_job_free(job);
}

static void test_jobtype(void **state)
{
    const char *msg = "jobs must have a jobtype parameter";
    EXPECT_ERRORS(msg, "{\"jid\":\"abcdefgh\",\"args\":[]}",
                  "{\"jid\":\"abcdefgh\",\"jobtype\":null,\"args\":[]}",
                  "{\"jid\":\"abcdefgh\",\"jobtype\":\"\",\"args\":[]}",
                  "{\"jid\":\"abcdefgh\",\"jobtype\":5,\"args\":[]}",
                  "{\"jid\":\"abcdefgh\",\"jobtype\":[\"T\"],\"args\":[]}");
    char text[700], type[300];
    memset(type, 't', 256);
    type[256] = '\0';
    snprintf(text, sizeof text, "{\"jid\":\"abcdefgh\",\"jobtype\":\"%s\",\"args\":[]}", type);
    synq_job_t *job = from_ok(text);
    assert_int_equal(strlen(job->type), 256);
    synq_job_free(job);
    type[256] = 't';
    type[257] = '\0';
    snprintf(text, sizeof text, "{\"jid\":\"abcdefgh\",\"jobtype\":\"%s\",\"args\":[]}", type);
    expect_error(text, "jobtype must be at most 256 bytes");
    /* any text is a jobtype: Ruby class paths, spaces, UTF-8 */
    job = from_ok("{\"jid\":\"abcdefgh\",\"jobtype\":\"Mod::Job \\u00e9\",\"args\":[]}");
    assert_string_equal(job->type, "Mod::Job \xc3\xa9");
    synq_job_free(job);
    /* a NUL inside cannot become a C string (only with JSON_ALLOW_NUL) */
    json_t *o = json_loads("{\"jid\":\"abcdefgh\",\"jobtype\":\"a\\u0000b\",\"args\":[]}",
                           JSON_ALLOW_NUL, NULL);
    assert_non_null(o);
    char err[256] = "";
    assert_null(synq_fwp_job_from_json(o, NOW, err, sizeof err));
    assert_string_equal(err, "jobtype must be at most 256 bytes");
    json_decref(o);
}

static void test_args(void **state)
{
    EXPECT_ERRORS("jobs must have an args parameter", "{\"jid\":\"abcdefgh\",\"jobtype\":\"T\"}",
                  "{\"jid\":\"abcdefgh\",\"jobtype\":\"T\",\"args\":null}");
    static const char *const not_array[] = {"{}", "{\"a\":1}", "\"x\"", "1", "true"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(not_array); i++) {
        char text[200];
        snprintf(text, sizeof text, "{\"jid\":\"abcdefgh\",\"jobtype\":\"T\",\"args\":%s}",
                 not_array[i]);
        expect_error(text, "invalid JSON: args must be an array");
    }
    synq_job_t *job = from_ok("{\"jid\":\"abcdefgh\",\"jobtype\":\"T\","
                              "\"args\":[1,\"two\",{\"three\":[3.5]},null,true]}");
    json_t *args = parse(job->args);
    assert_json_eq(args, "[1,\"two\",{\"three\":[3.5]},null,true]");
    json_decref(args);
    synq_job_free(job);
}

static void test_queue(void **state)
{
    synq_job_t *job = from_ok(J(",\"queue\":null"));
    assert_string_equal(job->queue, "default");
    synq_job_free(job);
    static const char *const good[] = {"default", "critical", "a", "Q.1_x-Y", "0", "-", "..."};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(good); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"queue\":\"%s\""), good[i]);
        job = from_ok(text);
        assert_string_equal(job->queue, good[i]);
        synq_job_free(job);
    }
    expect_error(J(",\"queue\":\"\""), "queue name cannot be blank");
    static const char *const bad[] = {"a b", "a/b", "a:b", "q\\u00e9", "q*", " q", "q\\n", "q@x"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"queue\":\"%s\""), bad[i]);
        expect_error(text, "queue names must match \\A[a-zA-Z0-9._-]+\\z");
    }
    EXPECT_ERRORS("invalid JSON: queue must be a string", J(",\"queue\":5"),
                  J(",\"queue\":[\"a\"]"));
    char name[SYNQ_NAME_MAX + 2], text[400];
    memset(name, 'q', SYNQ_NAME_MAX);
    name[SYNQ_NAME_MAX] = '\0';
    snprintf(text, sizeof text, J(",\"queue\":\"%s\""), name);
    job = from_ok(text);
    assert_int_equal(strlen(job->queue), SYNQ_NAME_MAX);
    synq_job_free(job);
    name[SYNQ_NAME_MAX] = 'q';
    name[SYNQ_NAME_MAX + 1] = '\0';
    snprintf(text, sizeof text, J(",\"queue\":\"%s\""), name);
    expect_error(text, "queue names must match \\A[a-zA-Z0-9._-]+\\z");
}

static void test_queue_valid(void **state)
{
    assert_true(synq_fwp_queue_valid("default", 7));
    assert_true(synq_fwp_queue_valid("a.B_9-z", 7));
    assert_false(synq_fwp_queue_valid("", 0));
    assert_false(synq_fwp_queue_valid("a b", 3));
    assert_false(synq_fwp_queue_valid("a:b", 3));
    assert_false(synq_fwp_queue_valid("a\0b", 3));
    assert_false(synq_fwp_queue_valid("\xc3\xa9", 2));
    assert_true(synq_fwp_queue_valid("ab cd", 2)); /* only len bytes are looked at */
    char name[SYNQ_NAME_MAX + 1];
    memset(name, 'x', sizeof name);
    assert_true(synq_fwp_queue_valid(name, SYNQ_NAME_MAX));
    assert_false(synq_fwp_queue_valid(name, SYNQ_NAME_MAX + 1));
    /* every byte: exactly the class [a-zA-Z0-9._-] */
    for (int c = 0; c < 256; c++) {
        char s[1] = {(char)c};
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        assert_int_equal(synq_fwp_queue_valid(s, 1), want);
    }
}

/* ---- from_json: reserve_for, retry ------------------------------------------------ */

static void test_reserve_for(void **state)
{
    static const struct {
        const char *given;
        int want;
    } cases[] = {
        {"0", 1800}, {"null", 1800}, {"1", 60},      {"30", 60},       {"59", 60},       {"60", 60},
        {"61", 61},  {"600", 600},   {"1800", 1800}, {"86399", 86399}, {"86400", 86400}, {"-5", 60},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"reserve_for\":%s"), cases[i].given);
        synq_job_t *job = from_ok(text);
        if (job->reserve_for != cases[i].want)
            print_error("reserve_for %s: got %d\n", cases[i].given, job->reserve_for);
        assert_int_equal(job->reserve_for, cases[i].want);
        synq_job_free(job);
    }
    synq_job_t *job = from_ok(J(""));
    assert_int_equal(job->reserve_for, 1800);
    synq_job_free(job);
    EXPECT_ERRORS("jobs cannot be reserved for more than one day", J(",\"reserve_for\":86401"),
                  J(",\"reserve_for\":9223372036854775807"));
    EXPECT_ERRORS("invalid JSON: reserve_for must be an integer", J(",\"reserve_for\":1.5"),
                  J(",\"reserve_for\":\"60\""), J(",\"reserve_for\":true"));
}

static void test_retry(void **state)
{
    static const struct {
        const char *given;
        int want;
        bool discard;
    } cases[] = {
        {"null", 25, false},
        {"25", 25, false},
        {"0", 0, true},
        {"1", 1, false},
        {"-1", -1, false},
        {"-5", -1, false},
        {"-9223372036854775807", -1, false},
        {"1000", 1000, false},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"retry\":%s"), cases[i].given);
        synq_job_t *job = from_ok(text);
        if (job->retry != cases[i].want || job->discard != cases[i].discard)
            print_error("retry %s: got %d discard %d\n", cases[i].given, job->retry, job->discard);
        assert_int_equal(job->retry, cases[i].want);
        assert_int_equal(job->discard, cases[i].discard);
        synq_job_free(job);
    }
    synq_job_t *job = from_ok(J(""));
    assert_int_equal(job->retry, 25);
    assert_false(job->discard);
    synq_job_free(job);
    /* huge counts are capped, never wrapped to negative */
    job = from_ok(J(",\"retry\":9223372036854775807"));
    assert_true(job->retry > 1000);
    synq_job_free(job);
    job = from_ok(J(",\"retry\":4294967296"));
    assert_true(job->retry > 1000);
    assert_false(job->discard);
    synq_job_free(job);
    EXPECT_ERRORS("invalid JSON: retry must be an integer", J(",\"retry\":1.0"),
                  J(",\"retry\":\"3\""), J(",\"retry\":false"));
}

/* ---- from_json: at, created_at ---------------------------------------------------- */

static void test_at(void **state)
{
    static const struct {
        const char *at;
        int64_t want; /* 0: queued now */
    } cases[] = {
        {"2025-12-31T23:59:59Z", 0},
        {"2026-01-01T00:00:00Z", 0}, /* now is not later than now */
        {"2020-01-01T00:00:00.000Z", 0},
        {"2026-01-01T00:00:01Z", NOW + SEC},
        {"2026-01-01T00:00:10.5Z", NOW + 10 * SEC + 500000},
        {"2026-01-01T00:00:10.123456789Z", NOW + 10 * SEC + 123456}, /* Go's RFC3339Nano */
        {"2026-01-01T00:00:10.000000001Z", NOW + 10 * SEC},
        {"2026-01-01T02:00:00+02:00", 0},
        {"2026-01-01T02:00:01+02:00", NOW + SEC},
        {"2025-12-31T19:00:00-05:00", 0},
        {"2025-12-31T19:30:00.25-05:00", NOW + 30 * 60 * SEC + 250000},
        {"2026-01-01t00:01:00z", NOW + 60 * SEC},
        {"2026-01-01 00:01:00Z", NOW + 60 * SEC},
        {"9999-12-31T23:59:59Z", 253402300799LL * SEC},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"at\":\"%s\""), cases[i].at);
        synq_job_t *job = from_ok(text);
        if (cases[i].want == 0) {
            assert_int_equal(job->state, SYNQ_JOB_QUEUED);
            assert_int_equal(job->run_at, 0);
            assert_int_equal(job->enqueued_at, NOW);
        } else {
            if (job->run_at != cases[i].want)
                print_error("at %s: run_at %lld, want %lld\n", cases[i].at, (long long)job->run_at,
                            (long long)cases[i].want);
            assert_int_equal(job->state, SYNQ_JOB_SCHEDULED);
            assert_int_equal(job->run_at, cases[i].want);
            assert_int_equal(job->enqueued_at, 0);
        }
        /* at is echoed as given either way */
        json_t *echo = parse(job->fwp);
        assert_string_equal(str_of(echo, "at"), cases[i].at);
        json_decref(echo);
        synq_job_free(job);
    }
    /* empty or null: now */
    synq_job_t *job = from_ok(J(",\"at\":\"\""));
    assert_int_equal(job->state, SYNQ_JOB_QUEUED);
    synq_job_free(job);
    job = from_ok(J(",\"at\":null"));
    assert_int_equal(job->state, SYNQ_JOB_QUEUED);
    synq_job_free(job);

    expect_error(J(",\"at\":\"tomorrow\""),
                 "invalid timestamp for 'at': \"tomorrow\": not an RFC 3339 time");
    expect_error(J(",\"at\":\"2026-01-01\""),
                 "invalid timestamp for 'at': \"2026-01-01\": not an RFC 3339 time");
    expect_error(J(",\"at\":\"2026-01-01T00:00:00\""),
                 "invalid timestamp for 'at': \"2026-01-01T00:00:00\": not an RFC 3339 time");
    expect_error(J(",\"at\":\"2026-02-30T00:00:00Z\""),
                 "invalid timestamp for 'at': \"2026-02-30T00:00:00Z\": not an RFC 3339 time");
    expect_error(J(",\"at\":1767225600"),
                 "invalid timestamp for 'at': 1767225600: not an RFC 3339 time");
    expect_error(J(",\"at\":{}"), "invalid timestamp for 'at': {}: not an RFC 3339 time");
}

static void test_created_at(void **state)
{
    synq_job_t *job = from_ok(J(",\"created_at\":\"2025-12-31T23:00:00.5Z\""));
    assert_int_equal(job->created_at, NOW - 3600 * SEC + 500000);
    assert_int_equal(job->enqueued_at, NOW);
    json_t *o = fk_json(job);
    assert_string_equal(str_of(o, "created_at"), "2025-12-31T23:00:00.500000Z");
    json_decref(o);
    assert_echo(job, NULL); /* owned, not echoed */
    synq_job_free(job);
    /* unreadable: the server's time */
    job = from_ok(J(",\"created_at\":\"yesterday\""));
    assert_int_equal(job->created_at, NOW);
    synq_job_free(job);
    job = from_ok(J(",\"created_at\":12"));
    assert_int_equal(job->created_at, NOW);
    synq_job_free(job);
    /* the server sets enqueued_at and failure: a client's are dropped */
    job = from_ok(J(",\"enqueued_at\":\"2020-01-01T00:00:00Z\",\"failure\":{\"retry_count\":3}"));
    assert_int_equal(job->enqueued_at, NOW);
    assert_int_equal(job->attempts, 0);
    assert_null(job->err_message);
    assert_echo(job, NULL);
    o = fk_json(job);
    assert_null(json_object_get(o, "failure"));
    assert_time_field(o, "enqueued_at", NOW);
    json_decref(o);
    synq_job_free(job);
}

/* ---- from_json: custom -------------------------------------------------------------- */

static void test_custom(void **state)
{
    synq_job_t *job = from_ok(J(",\"custom\":{\"tenant\":\"acme\",\"n\":[1,2]}"));
    json_t *c = parse(job->custom);
    assert_json_eq(c, "{\"tenant\":\"acme\",\"n\":[1,2]}");
    json_decref(c);
    assert_null(job->unique_key);
    assert_null(job->batch);
    assert_int_equal(job->run_by, 0);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":null"));
    assert_null(job->custom);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{}"));
    assert_string_equal(job->custom, "{}");
    synq_job_free(job);
    static const char *const bad[] = {"[]", "\"x\"", "1", "true", "[{\"a\":1}]"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char text[200];
        snprintf(text, sizeof text, J(",\"custom\":%s"), bad[i]);
        expect_error(text, "invalid JSON: custom must be an object");
    }
}

static void test_unique(void **state)
{
    synq_job_t *job = from_ok(J(",\"queue\":\"q1\",\"custom\":{\"unique_for\":60}"));
    assert_non_null(job->unique_key);
    char *want = synq_job_unique_key_default(job);
    assert_string_equal(job->unique_key, want);
    free(want);
    assert_true(strncmp(job->unique_key, "sha256:", 7) == 0);
    assert_int_equal(job->unique_until_us, NOW + 60 * SEC);
    assert_false(job->unique_until_start);
    /* the key depends on queue, jobtype and args, not on the jid */
    synq_job_t *same =
        from_ok("{\"jid\":\"otherjid99\",\"jobtype\":\"Send\",\"args\":[1],\"queue\":\"q1\","
                "\"custom\":{\"unique_for\":5}}");
    assert_string_equal(same->unique_key, job->unique_key);
    assert_int_equal(same->unique_until_us, NOW + 5 * SEC);
    synq_job_free(same);
    static const char *const other[] = {
        J(",\"queue\":\"q2\",\"custom\":{\"unique_for\":60}"),
        "{\"jid\":\"abcdefgh12\",\"jobtype\":\"Send\",\"args\":[2],\"queue\":\"q1\","
        "\"custom\":{\"unique_for\":60}}",
        "{\"jid\":\"abcdefgh12\",\"jobtype\":\"Other\",\"args\":[1],\"queue\":\"q1\","
        "\"custom\":{\"unique_for\":60}}",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(other); i++) {
        synq_job_t *o = from_ok(other[i]);
        assert_string_not_equal(o->unique_key, job->unique_key);
        synq_job_free(o);
    }
    synq_job_free(job);

    job = from_ok(J(",\"custom\":{\"unique_for\":1.5,\"unique_until\":\"start\"}"));
    assert_int_equal(job->unique_until_us, NOW + 1500000);
    assert_true(job->unique_until_start);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"unique_for\":10,\"unique_until\":\"success\"}"));
    assert_false(job->unique_until_start);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"unique_for\":10,\"unique_until\":null}"));
    assert_false(job->unique_until_start);
    synq_job_free(job);
    /* without unique_for nothing is unique, whatever unique_until says */
    job = from_ok(J(",\"custom\":{\"unique_until\":\"start\"}"));
    assert_null(job->unique_key);
    assert_false(job->unique_until_start);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"unique_for\":null}"));
    assert_null(job->unique_key);
    synq_job_free(job);

    const char *msg = "custom.unique_for must be a positive number of seconds";
    EXPECT_ERRORS(msg, J(",\"custom\":{\"unique_for\":0}"), J(",\"custom\":{\"unique_for\":-1}"),
                  J(",\"custom\":{\"unique_for\":\"60\"}"), J(",\"custom\":{\"unique_for\":1e12}"));
    EXPECT_ERRORS("custom.unique_until must be \"success\" or \"start\"",
                  J(",\"custom\":{\"unique_for\":10,\"unique_until\":\"later\"}"),
                  J(",\"custom\":{\"unique_for\":10,\"unique_until\":1}"));
}

static void test_expires_at(void **state)
{
    synq_job_t *job = from_ok(J(",\"custom\":{\"expires_at\":\"2026-01-01T01:00:00Z\"}"));
    assert_int_equal(job->run_by, NOW + 3600 * SEC);
    assert_int_equal(job->state, SYNQ_JOB_QUEUED);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"expires_at\":\"2026-01-01T01:00:00.123456789+01:00\"}"));
    assert_int_equal(job->run_by, NOW + 123456);
    synq_job_free(job);
    /* in the past: accepted (the engine cancels it at fetch) */
    job = from_ok(J(",\"custom\":{\"expires_at\":\"2000-01-01T00:00:00Z\"}"));
    assert_true(job->run_by > 0 && job->run_by < NOW);
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"expires_at\":null}"));
    assert_int_equal(job->run_by, 0);
    synq_job_free(job);
    EXPECT_ERRORS("invalid timestamp for 'expires_at'", J(",\"custom\":{\"expires_at\":\"soon\"}"),
                  J(",\"custom\":{\"expires_at\":1767229200}"),
                  J(",\"custom\":{\"expires_at\":\"\"}"));
}

static void test_bid(void **state)
{
    synq_job_t *job = from_ok(J(",\"custom\":{\"bid\":\"b-0123456789\"}"));
    assert_string_equal(job->batch, "b-0123456789");
    synq_job_free(job);
    job = from_ok(J(",\"custom\":{\"bid\":null}"));
    assert_null(job->batch);
    synq_job_free(job);
    const char *msg = "custom.bid must be a batch id";
    EXPECT_ERRORS(msg, J(",\"custom\":{\"bid\":\"\"}"), J(",\"custom\":{\"bid\":\"a b\"}"),
                  J(",\"custom\":{\"bid\":42}"), J(",\"custom\":{\"bid\":[\"x\"]}"));
}

/* ---- from_json: what is echoed ----------------------------------------------------- */

static void test_echo(void **state)
{
    synq_job_t *job = from_ok(J(",\"priority\":9"));
    assert_int_equal(job->priority, SYNQ_JOB_DEFAULT_PRIORITY); /* legacy: dropped */
    assert_echo(job, NULL);
    json_t *o = fk_json(job);
    assert_null(json_object_get(o, "priority"));
    json_decref(o);
    synq_job_free(job);

    job = from_ok(J(",\"queue\":\"q\",\"retry\":3,\"custom\":{\"a\":1},\"priority\":5,"
                    "\"at\":\"2026-01-01T00:05:00Z\",\"backtrace\":12,\"reserve_for\":30,"
                    "\"x-trace\":{\"id\":[1,2]},\"flag\":false,\"nothing\":null,"
                    "\"we\\\"ird\\\\key\\u00e9\":\"v\\n\""));
    assert_echo(job, "{\"at\":\"2026-01-01T00:05:00Z\",\"backtrace\":12,\"reserve_for\":30,"
                     "\"x-trace\":{\"id\":[1,2]},\"flag\":false,\"nothing\":null,"
                     "\"we\\\"ird\\\\key\\u00e9\":\"v\\n\"}");
    assert_int_equal(job->reserve_for, 60);
    synq_job_free(job);
}

/* ---- to_json ----------------------------------------------------------------------- */

static void test_to_json_round_trip(void **state)
{
    const char *in =
        "{\"jid\":\"abcdefgh12\",\"jobtype\":\"Send\\\"Mail\\u00e9\",\"args\":[42,\"x\",{\"k\":"
        "null}],"
        "\"queue\":\"critical\",\"retry\":7,\"reserve_for\":600,\"at\":\"2026-01-01T00:05:00Z\","
        "\"backtrace\":12,\"custom\":{\"tenant\":\"acme\"},\"created_at\":\"2025-12-31T23:59:00Z\","
        "\"priority\":5,\"x-extra\":[true,{\"deep\":\"\\u0001\"}],\"we\\\"ird\":1}";
    synq_job_t *job = from_ok(in);
    json_t *o = fk_json(job);
    assert_string_equal(str_of(o, "jid"), "abcdefgh12");
    assert_string_equal(str_of(o, "jobtype"), "Send\"Mail\xc3\xa9");
    assert_string_equal(str_of(o, "queue"), "critical");
    assert_json_eq(json_object_get(o, "args"), "[42,\"x\",{\"k\":null}]");
    assert_int_equal(int_of(o, "retry"), 7);
    assert_int_equal(int_of(o, "reserve_for"), 600);
    assert_string_equal(str_of(o, "at"), "2026-01-01T00:05:00Z");
    assert_int_equal(int_of(o, "backtrace"), 12);
    assert_json_eq(json_object_get(o, "custom"), "{\"tenant\":\"acme\"}");
    assert_json_eq(json_object_get(o, "x-extra"), "[true,{\"deep\":\"\\u0001\"}]");
    assert_int_equal(int_of(o, "we\"ird"), 1);
    assert_string_equal(str_of(o, "created_at"), "2025-12-31T23:59:00.000000Z");
    assert_null(json_object_get(o, "enqueued_at")); /* scheduled: not in a queue yet */
    assert_null(json_object_get(o, "priority"));
    assert_null(json_object_get(o, "failure"));
    /* fed back in, the same job and the same bytes */
    char err[256] = "";
    synq_job_t *again = synq_fwp_job_from_json(o, NOW, err, sizeof err);
    assert_non_null(again);
    assert_int_equal(again->state, job->state);
    assert_int_equal(again->run_at, job->run_at);
    assert_int_equal(again->created_at, job->created_at);
    assert_int_equal(again->reserve_for, job->reserve_for);
    assert_int_equal(again->retry, job->retry);
    synq_buf_t b1, b2;
    synq_buf_init(&b1);
    synq_buf_init(&b2);
    synq_fwp_job_to_json(job, &b1);
    synq_fwp_job_to_json(again, &b2);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.data, b2.data, b1.len);
    synq_buf_release(&b1);
    synq_buf_release(&b2);
    synq_job_free(again);
    json_decref(o);
    synq_job_free(job);

    /* no echoed reserve_for and the default: none written */
    job = from_ok(J(""));
    o = fk_json(job);
    assert_null(json_object_get(o, "reserve_for"));
    assert_null(json_object_get(o, "at"));
    assert_null(json_object_get(o, "custom"));
    assert_int_equal(int_of(o, "retry"), 25);
    assert_string_equal(str_of(o, "queue"), "default");
    assert_string_equal(str_of(o, "created_at"), "2026-01-01T00:00:00.000000Z");
    assert_string_equal(str_of(o, "enqueued_at"), "2026-01-01T00:00:00.000000Z");
    json_decref(o);
    synq_job_free(job);
}

/* A job made over HTTP (no echo): what Faktory would have stored for it. */
static void test_to_json_http_job(void **state)
{
    synq_job_t *job = from_ok(J(""));
    job->reserve_for = 90;
    job->state = SYNQ_JOB_SCHEDULED;
    job->run_at = NOW + 5 * SEC + 250;
    job->enqueued_at = 0;
    free(job->args);
    job->args = synq_strdup("{\"a\":1}"); /* not an array: wrapped */
    json_t *o = fk_json(job);
    assert_int_equal(int_of(o, "reserve_for"), 90);
    assert_time_field(o, "at", NOW + 5 * SEC + 250);
    assert_json_eq(json_object_get(o, "args"), "[{\"a\":1}]");
    json_decref(o);
    free(job->args);
    job->args = synq_strdup("\"text\"");
    o = fk_json(job);
    assert_json_eq(json_object_get(o, "args"), "[\"text\"]");
    json_decref(o);
    free(job->args);
    job->args = synq_strdup("null");
    o = fk_json(job);
    assert_json_eq(json_object_get(o, "args"), "[null]");
    json_decref(o);
    /* queued: no at */
    job->state = SYNQ_JOB_QUEUED;
    job->run_at = 0;
    o = fk_json(job);
    assert_null(json_object_get(o, "at"));
    json_decref(o);
    /* created_at unset: left out rather than 1970 */
    job->created_at = 0;
    o = fk_json(job);
    assert_null(json_object_get(o, "created_at"));
    assert_null(json_object_get(o, "enqueued_at"));
    json_decref(o);
    synq_job_free(job);
}

static void set_failure(synq_job_t *job, synq_job_state_t st, int attempts, const char *msg,
                        const char *type, const char *bt)
{
    job->state = st;
    job->attempts = attempts;
    free(job->err_message);
    free(job->err_type);
    free(job->err_backtrace);
    job->err_message = msg ? synq_strdup(msg) : NULL;
    job->err_type = type ? synq_strdup(type) : NULL;
    job->err_backtrace = bt ? synq_strdup(bt) : NULL;
}

static json_t *failure_of(const synq_job_t *job, json_t **whole)
{
    json_t *o = fk_json(job);
    json_t *f = json_object_get(o, "failure");
    *whole = o;
    return f;
}

static void test_failure(void **state)
{
    synq_job_t *job = from_ok(J(""));
    json_t *o, *f;

    /* never failed: no failure object (queued, or active on its first run) */
    f = failure_of(job, &o);
    assert_null(f);
    json_decref(o);
    set_failure(job, SYNQ_JOB_ACTIVE, 1, NULL, NULL, NULL);
    f = failure_of(job, &o);
    assert_null(f);
    json_decref(o);

    /* retry 25, failed once: retry_count 0, remaining 25 */
    job->failed_at = NOW + SEC;
    job->next_at = NOW + 40 * SEC;
    set_failure(job, SYNQ_JOB_RETRY, 1, "boom", "RuntimeError", "[\"a.rb:1\",\"b.rb:2\"]");
    f = failure_of(job, &o);
    assert_json_eq(f, "{\"retry_count\":0,\"remaining\":25,"
                      "\"failed_at\":\"2026-01-01T00:00:01.000000Z\","
                      "\"next_at\":\"2026-01-01T00:00:40.000000Z\",\"message\":\"boom\","
                      "\"errtype\":\"RuntimeError\",\"backtrace\":[\"a.rb:1\",\"b.rb:2\"]}");
    json_decref(o);

    /* three failures: retry_count 2, remaining 23 */
    set_failure(job, SYNQ_JOB_RETRY, 3, "boom 3", "RuntimeError", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(f, "retry_count"), 2);
    assert_int_equal(int_of(f, "remaining"), 23);
    assert_string_equal(str_of(f, "message"), "boom 3");
    assert_null(json_object_get(f, "backtrace"));
    json_decref(o);

    /* fetched again after three failures (attempts 4): still 3 failures */
    set_failure(job, SYNQ_JOB_ACTIVE, 4, "boom 3", "RuntimeError", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(f, "retry_count"), 2);
    assert_int_equal(int_of(f, "remaining"), 23);
    json_decref(o);

    /* fetched again after one failure (attempts 2) */
    set_failure(job, SYNQ_JOB_ACTIVE, 2, "boom", "E", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(f, "retry_count"), 0);
    assert_int_equal(int_of(f, "remaining"), 25);
    json_decref(o);

    /* dead after 26 runs: retry_count 25, remaining 0 */
    job->next_at = 0;
    set_failure(job, SYNQ_JOB_DEAD, 26, "last", "E", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(f, "retry_count"), 25);
    assert_int_equal(int_of(f, "remaining"), 0);
    assert_null(json_object_get(f, "next_at"));
    json_decref(o);

    /* a lapsed lease in Faktory's words */
    job->next_at = NOW + 20 * SEC;
    set_failure(job, SYNQ_JOB_RETRY, 1, "lease expired", "LeaseExpired", NULL);
    f = failure_of(job, &o);
    assert_string_equal(str_of(f, "message"), "Faktory job reservation expired");
    assert_string_equal(str_of(f, "errtype"), "ReservationExpired");
    json_decref(o);

    /* no message or type: "unknown" */
    set_failure(job, SYNQ_JOB_RETRY, 2, NULL, NULL, NULL);
    f = failure_of(job, &o);
    assert_string_equal(str_of(f, "message"), "unknown");
    assert_string_equal(str_of(f, "errtype"), "unknown");
    assert_int_equal(int_of(f, "retry_count"), 1);
    assert_int_equal(int_of(f, "remaining"), 24);
    json_decref(o);
    set_failure(job, SYNQ_JOB_RETRY, 2, "", "", NULL);
    f = failure_of(job, &o);
    assert_string_equal(str_of(f, "message"), "unknown");
    assert_string_equal(str_of(f, "errtype"), "unknown");
    json_decref(o);

    /* a message with quotes, newlines and UTF-8 is escaped */
    set_failure(job, SYNQ_JOB_RETRY, 1, "bad \"x\"\n\ttab \xc3\xa9", "Err\\Type", NULL);
    f = failure_of(job, &o);
    assert_string_equal(str_of(f, "message"), "bad \"x\"\n\ttab \xc3\xa9");
    assert_string_equal(str_of(f, "errtype"), "Err\\Type");
    json_decref(o);

    /* requeued by hand after dying (attempts reset, failed_at kept): the record stays */
    set_failure(job, SYNQ_JOB_QUEUED, 0, "last", "E", NULL);
    job->next_at = 0;
    f = failure_of(job, &o);
    assert_non_null(f);
    assert_int_equal(int_of(f, "retry_count"), 0);
    assert_string_equal(str_of(f, "message"), "last");
    json_decref(o);
    synq_job_free(job);

    /* retry 0: shown as 0 (not dropped), remaining 0 */
    job = from_ok(J(",\"retry\":0"));
    o = fk_json(job);
    assert_int_equal(int_of(o, "retry"), 0);
    json_decref(o);
    job->failed_at = NOW;
    set_failure(job, SYNQ_JOB_DEAD, 1, "x", "E", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(o, "retry"), 0);
    assert_int_equal(int_of(f, "retry_count"), 0);
    assert_int_equal(int_of(f, "remaining"), 0);
    json_decref(o);
    synq_job_free(job);

    /* retry -1: shown as -1, remaining -1 (Faktory starts remaining at retry) */
    job = from_ok(J(",\"retry\":-1"));
    job->failed_at = NOW;
    set_failure(job, SYNQ_JOB_DEAD, 1, "x", "E", NULL);
    f = failure_of(job, &o);
    assert_int_equal(int_of(o, "retry"), -1);
    assert_int_equal(int_of(f, "retry_count"), 0);
    assert_int_equal(int_of(f, "remaining"), -1);
    json_decref(o);
    synq_job_free(job);
}

/* ---- glob ------------------------------------------------------------------------- */

static bool glob(const char *pattern, const char *text)
{
    return synq_fwp_glob(pattern, text, strlen(text));
}

static void test_glob(void **state)
{
    static const struct {
        const char *pattern, *text;
        bool want;
    } cases[] = {
        {"", "", true},
        {"", "a", false},
        {"*", "", true},
        {"*", "anything at all", true},
        {"**", "", true},
        {"***x", "abcx", true},
        {"?", "", false},
        {"?", "a", true},
        {"?", "ab", false},
        {"??", "ab", true},
        {"a", "a", true},
        {"a", "A", false},
        {"abc", "abcd", false},
        {"abcd", "abc", false},
        {"a*", "a", true},
        {"a*", "abc", true},
        {"a*", "ba", false},
        {"*a", "bca", true},
        {"*a", "ab", false},
        {"a*b*c", "aXXbYYc", true},
        {"a*b*c", "aXXbYY", false},
        {"a*b*c", "abcbc", true},
        {"*uid:123*", "{\"jid\":\"x\",\"args\":[\"uid:123\"]}", true},
        {"*uid:123*", "{\"jid\":\"x\",\"args\":[\"uid:124\"]}", false},
        {"[abc]", "a", true},
        {"[abc]", "c", true},
        {"[abc]", "d", false},
        {"[abc]", "", false},
        {"x[abc]y", "xby", true},
        {"[a-z]", "m", true},
        {"[a-z]", "a", true},
        {"[a-z]", "z", true},
        {"[a-z]", "M", false},
        {"[a-z]", "-", false},
        {"[z-a]", "m", true}, /* Redis swaps a reversed range */
        {"[a-cx-z]", "y", true},
        {"[a-cx-z]", "d", false},
        {"[0-9][0-9]", "42", true},
        {"[^x]", "y", true},
        {"[^x]", "x", false},
        {"[^a-c]", "d", true},
        {"[^a-c]", "b", false},
        {"[^]", "a", true},
        {"[\\]]", "]", true},
        {"[\\]]", "\\", false},
        {"[\\^]", "^", true},
        {"[a\\-z]", "-", true},
        {"[a\\-z]", "m", false},
        {"[-a]", "-", true},
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"\\?", "?", true},
        {"\\?", "x", false},
        {"a\\[b", "a[b", true},
        {"a\\[b", "ab", false},
        {"\\\\", "\\", true},
        {"\\a", "a", true},
        {"a\\", "a\\", true}, /* a trailing backslash is literal */
        {"*\\*", "abc*", true},
        {"*\\*", "abc", false},
        {"[abc", "a", true}, /* an unterminated class ends the pattern, as in Redis */
        {"[abc", "d", false},
        {"*[0-9]", "job-7", true},
        {"*[0-9]", "job-x", false},
        {"*?", "", false},
        {"*?", "x", true},
        {"?*?", "x", false},
        {"?*?", "xy", true},
        {"*a?c*", "zzabcdd", true},
        {"h?llo*w[a-z]rld", "hello big world", true},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        bool got = glob(cases[i].pattern, cases[i].text);
        if (got != cases[i].want)
            print_error("glob(\"%s\", \"%s\") = %d, want %d\n", cases[i].pattern, cases[i].text,
                        got, cases[i].want);
        assert_int_equal(got, cases[i].want);
    }
    /* the text is counted, not NUL-terminated: a NUL inside is an ordinary byte */
    assert_true(synq_fwp_glob("a?b", "a\0b", 3));
    assert_true(synq_fwp_glob("a*", "a\0b", 3));
    assert_false(synq_fwp_glob("a", "a\0", 2));
    assert_true(synq_fwp_glob("abc", "abcdef", 3));
    assert_true(synq_fwp_glob("*", NULL, 0));
    assert_true(synq_fwp_glob("", NULL, 0));
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The classic exponential blow-up inputs stay O(pattern x text). */
static void test_glob_many_stars(void **state)
{
    size_t n = 200000;
    char *text = malloc(n);
    assert_non_null(text);
    memset(text, 'a', n);
    char pattern[200];
    size_t p = 0;
    for (int i = 0; i < 40; i++)
        pattern[p++] = '*', pattern[p++] = 'a';
    pattern[p++] = '*';
    pattern[p++] = 'b';
    pattern[p] = '\0';
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_false(synq_fwp_glob(pattern, text, n));
    assert_true(synq_fwp_glob("*a*a*a*a*a*a*a*a*a*a*", text, n));
    assert_false(synq_fwp_glob("*?*?*?*?*?*?*?*?*?*?[b]", text, n));
    assert_false(synq_fwp_glob("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", text, n));
    text[n - 1] = 'b';
    assert_true(synq_fwp_glob(pattern, text, n));
    double s = elapsed_s(&t0);
    if (s > 2.0) print_error("many-star globs took %.2f s\n", s);
    assert_true(s < 2.0);
    free(text);
}

/* ---- Faktory's backoff ---------------------------------------------------------------- */

static void test_backoff_faktory(void **state)
{
    synq_backoff_t b = {.type = SYNQ_BACKOFF_FAKTORY};
    /* failures = c + 1; delay = c^4 + 15 + rand(30) * (c + 1) seconds */
    static const struct {
        int c;
        int64_t lo, hi;
    } cases[] = {
        {0, 15, 44},  {1, 16, 74},   {2, 31, 118},
        {3, 96, 212}, {5, 640, 814}, {24, 331791, 331791 + 29 * 25},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        int failures = cases[i].c + 1;
        assert_int_equal(synq_backoff_delay_us(&b, failures, 0), cases[i].lo * SEC);
        assert_int_equal(synq_backoff_delay_us(&b, failures, 29), cases[i].hi * SEC);
        for (uint64_t r = 0; r < 300; r++) {
            int64_t d = synq_backoff_delay_us(&b, failures, r * 0x9e3779b97f4a7c15ULL);
            assert_true(d >= cases[i].lo * SEC && d <= cases[i].hi * SEC);
            assert_int_equal(d % SEC, 0);
        }
        assert_int_equal(synq_backoff_delay_us(&b, failures, 30), cases[i].lo * SEC);
        assert_int_equal(synq_backoff_delay_us(&b, failures, UINT64_MAX),
                         synq_backoff_delay_us(&b, failures, UINT64_MAX % 30));
    }
    /* the whole default window (25 retries) is about 20.5 days */
    int64_t total = 0;
    for (int f = 1; f <= 25; f++)
        total += synq_backoff_delay_us(&b, f, 0);
    assert_int_equal(total, (1763020LL + 25 * 15) * SEC);
    /* out-of-range counts stay sane */
    assert_int_equal(synq_backoff_delay_us(&b, 0, 0), 15 * SEC);
    assert_int_equal(synq_backoff_delay_us(&b, -3, 5), synq_backoff_delay_us(&b, 1, 5));
    assert_true(synq_backoff_delay_us(&b, INT32_MAX, 29) > 0);
    /* a wider jitter than Sidekiq's default */
    synq_backoff_t sk = {.type = SYNQ_BACKOFF_DEFAULT};
    assert_true(synq_backoff_delay_us(&b, 1, 29) > synq_backoff_delay_us(&sk, 1, 29));
}

static void test_backoff_from_json_faktory(void **state)
{
    static const char *const texts[] = {"{\"type\":\"faktory\"}",
                                        "{\"type\":\"faktory\",\"base\":\"1s\",\"max\":\"2s\"}"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(texts); i++) {
        json_t *o = parse(texts[i]);
        synq_backoff_t b = {.base_us = 7, .max_us = 9};
        char err[200] = "";
        assert_int_equal(synq_backoff_from_json(o, &b, err, sizeof err), 0);
        assert_int_equal(b.type, SYNQ_BACKOFF_FAKTORY);
        assert_int_equal(b.base_us, 0); /* Faktory's formula has no base and no cap */
        assert_int_equal(b.max_us, 0);
        assert_int_equal(synq_backoff_delay_us(&b, 1, 0), 15 * SEC);
        json_decref(o);
    }
    json_t *o = parse("{\"type\":\"Faktory\"}");
    synq_backoff_t b;
    char err[200] = "";
    assert_int_equal(synq_backoff_from_json(o, &b, err, sizeof err), SYNQ_EINVAL);
    assert_string_equal(err, "backoff.type: must be \"fixed\", \"exponential\" or \"faktory\"");
    json_decref(o);
    /* a mapped job's backoff_json reads back as the same backoff */
    synq_job_t *job = from_ok(J(""));
    o = parse(job->backoff_json);
    assert_int_equal(synq_backoff_from_json(o, &b, err, sizeof err), 0);
    assert_int_equal(b.type, job->backoff.type);
    json_decref(o);
    synq_job_free(job);
}

/* A small err buffer truncates; it never overflows. */
static void test_small_err(void **state)
{
    json_t *o = parse("{\"jobtype\":\"T\",\"args\":[]}");
    char err[8];
    memset(err, 'X', sizeof err);
    assert_null(synq_fwp_job_from_json(o, NOW, err, 5));
    assert_string_equal(err, "jobs");
    assert_int_equal(err[5], 'X');
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_jid),
        cmocka_unit_test(test_jobtype),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_queue_valid),
        cmocka_unit_test(test_reserve_for),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_at),
        cmocka_unit_test(test_created_at),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_expires_at),
        cmocka_unit_test(test_bid),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_to_json_round_trip),
        cmocka_unit_test(test_to_json_http_job),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_glob_many_stars),
        cmocka_unit_test(test_backoff_faktory),
        cmocka_unit_test(test_backoff_from_json_faktory),
        cmocka_unit_test(test_small_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
