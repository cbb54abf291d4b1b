/* Helpers shared by the unit tests of the two job mappings, core/job
 * (test_job.c: the HTTP API's JSON) and proto/fwpjob (test_fwpjob.c:
 * Faktory's): parsing test JSON, making a job from a JSON text with the
 * mapping under test, parsing a job's JSON form back, and comparing JSON.
 * The mapping is a parameter (a from_json / to_json pair of the same
 * signature); each test file wraps these in one-line helpers of its own.
 *
 * Header only: everything here is static inline, and each tests/unit/test_X.c
 * is its own binary. Failures are cmocka assertions, with the text that
 * failed printed first. */
#ifndef TESTS_UNIT_JOB_FIXTURE_H
#define TESTS_UNIT_JOB_FIXTURE_H

#include "core/buf.h"
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

/* A mapping from a client's JSON object to a new job (synq_job_from_json,
 * synq_fwp_job_from_json), and back to JSON text (synq_job_to_json,
 * synq_fwp_job_to_json). */
typedef synq_job_t *(*job_from_json_fn)(const json_t *obj, int64_t now_us, char *err,
                                        size_t errlen);
typedef void (*job_to_json_fn)(const synq_job_t *job, synq_buf_t *out);

/* Parses a test's JSON text (any value; "\u0000" allowed in strings). The
 * test fails if it does not parse. Returned value owned by the caller. */
static inline json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (v == NULL) print_error("test JSON does not parse: %s: %s\n", text, e.text);
    assert_non_null(v);
    return v;
}

/* from_json on the parsed text at now_us: the job (freed with
 * synq_job_free), or NULL with the error in err (size errlen). */
static inline synq_job_t *job_from_text(job_from_json_fn from_json, int64_t now_us,
                                        const char *text, char *err, size_t errlen)
{
    json_t *v = parse(text);
    synq_job_t *job = from_json(v, now_us, err, errlen);
    json_decref(v);
    return job;
}

/* As job_from_text, and the test fails (printing the error) if the text is
 * rejected. */
static inline synq_job_t *job_from_ok(job_from_json_fn from_json, int64_t now_us, const char *text)
{
    char err[256] = "";
    synq_job_t *job = job_from_text(from_json, now_us, text, err, sizeof err);
    if (job == NULL) print_error("rejected: %s: %s\n", text, err);
    assert_non_null(job);
    return job;
}

/* The job's JSON form written by to_json, parsed back with the jansson
 * decoding flags `flags`; the test fails if it does not parse to an object.
 * Returned value owned by the caller. */
static inline json_t *job_json(job_to_json_fn to_json, const synq_job_t *job, size_t flags)
{
    synq_buf_t b;
    synq_buf_init(&b);
    to_json(job, &b);
    json_error_t e;
    json_t *v = json_loadb(b.data, b.len, flags, &e);
    if (v == NULL)
        print_error("to_json output does not parse (%s): %.*s\n", e.text, (int)b.len, b.data);
    assert_non_null(v);
    assert_true(json_is_object(v));
    synq_buf_release(&b);
    return v;
}

/* Asserts got (NULL for none) equals the JSON text want_text. */
static inline void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = parse(want_text);
    if (!json_equal(got, want)) {
        char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        print_error("got %s, want %s\n", g ? g : "(none)", want_text);
        free(g);
    }
    assert_true(json_equal(got, want));
    json_decref(want);
}

/* Asserts obj[key] is the time want as an RFC 3339 string in the format
 * synq_rfc3339_format writes that parses back to want; want 0 means the
 * member is null. */
static inline void assert_time_field(const json_t *obj, const char *key, int64_t want)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL) print_error("missing \"%s\"\n", key);
    assert_non_null(v);
    if (want == 0) {
        assert_true(json_is_null(v));
        return;
    }
    assert_true(json_is_string(v));
    int64_t t;
    assert_int_equal(synq_rfc3339_parse(json_string_value(v), json_string_length(v), &t), 0);
    assert_int_equal(t, want);
    char fmt[40];
    synq_rfc3339_format(want, fmt);
    assert_string_equal(json_string_value(v), fmt);
}

#endif
