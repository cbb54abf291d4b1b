/* Faktory job payloads <-> synq jobs (see fwpjob.h). */
#include "proto/fwpjob.h"

#include "core/id.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

#define MAX_RETRY 1000000

/* Fields the mapping owns; every other top-level key is echoed verbatim
 * (priority is dropped, as Faktory does). */
static const char *const owned[] = {
    "jid", "jobtype", "args", "queue", "retry", "created_at", "enqueued_at", "failure",
    "custom", "priority",
};

static bool is_owned(const char *key)
{
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(owned); i++)
        if (strcmp(key, owned[i]) == 0) return true;
    return false;
}

bool synq_fwp_queue_valid(const char *name, size_t len)
{
    if (len == 0 || len > SYNQ_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static char *dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) abort(); /* only on OOM */
    return s;
}

/* Reads the Enterprise keys of custom: unique_for, unique_until,
 * expires_at, bid. */
static int custom_options(synq_job_t *job, const json_t *custom, int64_t now_us, char *err,
                          size_t errlen)
{
    const json_t *v;
    if ((v = json_object_get(custom, "unique_for")) && !json_is_null(v)) {
        double secs = json_is_number(v) ? json_number_value(v) : -1;
        if (secs <= 0 || secs > 100.0 * 365 * 86400)
            FAIL("custom.unique_for must be a positive number of seconds");
        job->unique_key = synq_job_unique_key_default(job);
        job->unique_until_us = now_us + (int64_t)(secs * SYNQ_US_PER_SEC);
        const json_t *u = json_object_get(custom, "unique_until");
        if (json_is_string(u) && strcmp(json_string_value(u), "start") == 0)
            job->unique_until_start = true;
        else if (u && !json_is_null(u) &&
                 !(json_is_string(u) && strcmp(json_string_value(u), "success") == 0))
            FAIL("custom.unique_until must be \"success\" or \"start\"");
    }
    if ((v = json_object_get(custom, "expires_at")) && !json_is_null(v)) {
        if (!json_is_string(v) ||
            synq_rfc3339_parse(json_string_value(v), json_string_length(v), &job->run_by))
            FAIL("invalid timestamp for 'expires_at'");
    }
    if ((v = json_object_get(custom, "bid")) && !json_is_null(v)) {
        if (!json_is_string(v) || !synq_id_valid(json_string_value(v), json_string_length(v)))
            FAIL("custom.bid must be a batch id");
        job->batch = synq_strdup(json_string_value(v));
    }
    return 0;
fail:
    return SYNQ_EINVAL;
}

synq_job_t *synq_fwp_job_from_json(const json_t *obj, int64_t now_us, char *err, size_t errlen)
{
    synq_job_t *job = synq_calloc(1, sizeof *job);
    json_t *echo = NULL;
    const json_t *v;
    if (!json_is_object(obj)) FAIL("invalid JSON: a job must be an object");
    job->priority = SYNQ_JOB_DEFAULT_PRIORITY;
    job->created_at = now_us;
    job->backoff.type = SYNQ_BACKOFF_FAKTORY;
    job->backoff_json = synq_strdup("{\"type\":\"faktory\"}");

    v = json_object_get(obj, "jid");
    if (!json_is_string(v) || json_string_length(v) < SYNQ_FWP_MIN_JID)
        FAIL("jobs must have a reasonable jid parameter");
    if (!synq_id_valid(json_string_value(v), json_string_length(v)))
        FAIL("jid must be at most 128 characters of A-Z a-z 0-9 _ - . :");
    job->id = synq_strdup(json_string_value(v));

    v = json_object_get(obj, "jobtype");
    if (!json_is_string(v) || json_string_length(v) == 0) FAIL("jobs must have a jobtype parameter");
    if (json_string_length(v) > SYNQ_TYPE_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        FAIL("jobtype must be at most %d bytes", SYNQ_TYPE_MAX);
    job->type = synq_strdup(json_string_value(v));

    v = json_object_get(obj, "args");
    if (v == NULL || json_is_null(v)) FAIL("jobs must have an args parameter");
    if (!json_is_array(v)) FAIL("invalid JSON: args must be an array");
    job->args = dump(v);

    v = json_object_get(obj, "queue");
    if (v == NULL || json_is_null(v)) {
        job->queue = synq_strdup("default");
    } else {
        if (!json_is_string(v)) FAIL("invalid JSON: queue must be a string");
        if (json_string_length(v) == 0) FAIL("queue name cannot be blank");
        if (!synq_fwp_queue_valid(json_string_value(v), json_string_length(v)))
            FAIL("queue names must match \\A[a-zA-Z0-9._-]+\\z");
        job->queue = synq_strdup(json_string_value(v));
    }

    job->reserve_for = SYNQ_FWP_RESERVE_DEFAULT;
    v = json_object_get(obj, "reserve_for");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) FAIL("invalid JSON: reserve_for must be an integer");
        json_int_t r = json_integer_value(v);
        if (r > SYNQ_FWP_RESERVE_MAX) FAIL("jobs cannot be reserved for more than one day");
        if (r != 0) job->reserve_for = r < SYNQ_FWP_RESERVE_MIN ? SYNQ_FWP_RESERVE_MIN : (int)r;
    }

    job->retry = SYNQ_JOB_DEFAULT_RETRY;
    v = json_object_get(obj, "retry");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) FAIL("invalid JSON: retry must be an integer");
        json_int_t r = json_integer_value(v);
        job->retry = r < 0 ? -1 : r > MAX_RETRY ? MAX_RETRY : (int)r;
        job->discard = r == 0;
    }

    v = json_object_get(obj, "created_at");
    if (json_is_string(v))
        synq_rfc3339_parse(json_string_value(v), json_string_length(v), &job->created_at);

    int64_t at = 0;
    v = json_object_get(obj, "at");
    if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
        if (!json_is_string(v) || synq_rfc3339_parse(json_string_value(v), json_string_length(v), &at)) {
            char *t = dump(v);
            snprintf(err, errlen, "invalid timestamp for 'at': %s: not an RFC 3339 time", t);
            free(t);
            goto fail;
        }
    }

    v = json_object_get(obj, "custom");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) FAIL("invalid JSON: custom must be an object");
        job->custom = dump(v);
        if (custom_options(job, v, now_us, err, errlen)) goto fail;
    }

    const char *key;
    json_t *val;
    echo = json_object();
    json_object_foreach((json_t *)obj, key, val)
        if (!is_owned(key)) json_object_set(echo, key, val);
    if (json_object_size(echo)) job->fwp = dump(echo);
    json_decref(echo);

    synq_job_place(job, at, now_us);
    return job;
fail:
    synq_job_free(job);
    return NULL;
}

/* ---- synq job -> Faktory JSON ------------------------------------------- */

static void put_time(synq_buf_t *out, const char *key, int64_t t)
{
    synq_buf_printf(out, ",\"%s\":", key);
    synq_buf_put_time(out, t);
}

static void put_str(synq_buf_t *out, const char *key, const char *s)
{
    synq_buf_printf(out, ",\"%s\":", key);
    synq_buf_json_str(out, s, strlen(s));
}

/* The failure record: how many times it failed so far, from its attempts. */
static void put_failure(const synq_job_t *job, synq_buf_t *out)
{
    int failures = job->state == SYNQ_JOB_ACTIVE ? job->attempts - 1 : job->attempts;
    if (job->state == SYNQ_JOB_COMPLETED) failures = job->attempts - 1;
    if (failures < 1 && !job->failed_at) return;
    if (failures < 1) failures = 1;
    int count = failures - 1;
    int remaining = job->retry > 0 ? SYNQ_MAX(job->retry - count, 0) : job->retry;
    /* synq's own words for a lapsed lease, in Faktory's */
    bool lapsed = job->err_type && strcmp(job->err_type, "LeaseExpired") == 0;
    const char *message = lapsed ? "Faktory job reservation expired"
                          : job->err_message && *job->err_message ? job->err_message
                                                                  : "unknown";
    const char *type = lapsed ? "ReservationExpired"
                       : job->err_type && *job->err_type ? job->err_type
                                                         : "unknown";
    synq_buf_printf(out, ",\"failure\":{\"retry_count\":%d,\"remaining\":%d", count, remaining);
    if (job->failed_at) put_time(out, "failed_at", job->failed_at);
    if (job->next_at) put_time(out, "next_at", job->next_at);
    put_str(out, "message", message);
    put_str(out, "errtype", type);
    if (job->err_backtrace) synq_buf_printf(out, ",\"backtrace\":%s", job->err_backtrace);
    synq_buf_putc(out, '}');
}

void synq_fwp_job_to_json(const synq_job_t *job, synq_buf_t *out)
{
    synq_buf_reserve(out, 256 + strlen(job->args));
    synq_buf_puts(out, "{\"jid\":");
    synq_buf_json_str(out, job->id, strlen(job->id));
    put_str(out, "queue", job->queue);
    put_str(out, "jobtype", job->type);
    if (job->args[0] == '[')
        synq_buf_printf(out, ",\"args\":%s", job->args);
    else
        synq_buf_printf(out, ",\"args\":[%s]", job->args);
    if (job->created_at) put_time(out, "created_at", job->created_at);
    if (job->enqueued_at) put_time(out, "enqueued_at", job->enqueued_at);
    synq_buf_printf(out, ",\"retry\":%d", job->discard ? 0 : job->retry);
    bool echoed_reserve = false, echoed_at = false;
    json_t *echo = job->fwp ? json_loads(job->fwp, 0, NULL) : NULL;
    if (json_is_object(echo)) {
        const char *key;
        json_t *val;
        json_object_foreach(echo, key, val) {
            char *t = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            synq_buf_putc(out, ',');
            synq_buf_json_str(out, key, strlen(key));
            synq_buf_putc(out, ':');
            synq_buf_puts(out, t ? t : "null");
            free(t);
            if (strcmp(key, "reserve_for") == 0) echoed_reserve = true;
            if (strcmp(key, "at") == 0) echoed_at = true;
        }
    }
    json_decref(echo);
    /* jobs made over HTTP: what Faktory would have stored for them */
    if (!echoed_reserve && job->reserve_for != SYNQ_FWP_RESERVE_DEFAULT)
        synq_buf_printf(out, ",\"reserve_for\":%d", job->reserve_for);
    if (!echoed_at && job->state == SYNQ_JOB_SCHEDULED && job->run_at)
        put_time(out, "at", job->run_at);
    put_failure(job, out);
    if (job->custom) synq_buf_printf(out, ",\"custom\":%s", job->custom);
    synq_buf_putc(out, '}');
}

/* ---- MUTATE's "regexp": a Redis glob -------------------------------------- */

/* Matches one [...] class at p (just after '['); advances *pp past ']'. */
static bool glob_class(const char **pp, char c)
{
    const char *p = *pp;
    bool negate = *p == '^';
    if (negate) p++;
    bool match = false;
    while (*p && *p != ']') {
        if (*p == '\\' && p[1]) {
            p++;
            if (*p == c) match = true;
        } else if (p[1] == '-' && p[2] && p[2] != ']') {
            char lo = p[0], hi = p[2];
            if (lo > hi) {
                char t = lo;
                lo = hi;
                hi = t;
            }
            if (c >= lo && c <= hi) match = true;
            p += 2;
        } else if (*p == c) {
            match = true;
        }
        p++;
    }
    *pp = *p ? p + 1 : p;
    return negate ? !match : match;
}

/* One pattern element against one character; advances *pp past it. */
static bool glob_one(const char **pp, char c)
{
    const char *p = *pp;
    if (*p == '?') {
        *pp = p + 1;
        return true;
    }
    if (*p == '[') {
        *pp = p + 1;
        return glob_class(pp, c);
    }
    if (*p == '\\' && p[1]) p++;
    *pp = p + 1;
    return *p == c;
}

/* The classic iterative matcher: on a mismatch, go back to the last star
 * and let it eat one more character. O(pattern x text). */
bool synq_fwp_glob(const char *pattern, const char *text, size_t text_len)
{
    const char *p = pattern, *s = text, *end = text + text_len;
    const char *star_p = NULL, *star_s = NULL;
    while (s < end) {
        if (*p == '*') {
            while (*p == '*') p++;
            if (!*p) return true;
            star_p = p;
            star_s = s;
            continue;
        }
        const char *q = p;
        if (*p && glob_one(&q, *s)) {
            p = q;
            s++;
            continue;
        }
        if (star_p == NULL) return false;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*') p++;
    return *p == '\0';
}
