/* Job state machine, backoff and JSON conversion. */
#include "core/job.h"

#include "core/id.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[SYNQ_JOB_NSTATES] = {
    "scheduled", "queued", "active", "retry", "completed", "dead", "cancelled",
};

const char *synq_job_state_name(synq_job_state_t s)
{
    return (unsigned)s < SYNQ_JOB_NSTATES ? state_names[s] : NULL;
}

int synq_job_state_parse(const char *name, synq_job_state_t *out)
{
    for (int i = 0; i < SYNQ_JOB_NSTATES; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (synq_job_state_t)i;
            return 0;
        }
    }
    return SYNQ_EINVAL;
}

bool synq_job_state_terminal(synq_job_state_t s)
{
    return s == SYNQ_JOB_COMPLETED || s == SYNQ_JOB_DEAD || s == SYNQ_JOB_CANCELLED;
}

int synq_job_transition(synq_job_t *job, synq_job_event_t ev)
{
    synq_job_state_t s = job->state, next;
    switch (ev) {
    case SYNQ_JOB_EV_FETCH:
        if (s != SYNQ_JOB_QUEUED) return SYNQ_ECONFLICT;
        next = SYNQ_JOB_ACTIVE;
        break;
    case SYNQ_JOB_EV_ACK:
        if (s != SYNQ_JOB_ACTIVE) return SYNQ_ECONFLICT;
        next = SYNQ_JOB_COMPLETED;
        break;
    case SYNQ_JOB_EV_FAIL:
        if (s != SYNQ_JOB_ACTIVE) return SYNQ_ECONFLICT;
        /* attempts counts executions; retry counts re-executions allowed */
        next = job->attempts > job->retry ? SYNQ_JOB_DEAD : SYNQ_JOB_RETRY;
        break;
    case SYNQ_JOB_EV_DUE:
        if (s != SYNQ_JOB_SCHEDULED && s != SYNQ_JOB_RETRY) return SYNQ_ECONFLICT;
        next = SYNQ_JOB_QUEUED;
        break;
    case SYNQ_JOB_EV_RETRY:
        if (s != SYNQ_JOB_DEAD && s != SYNQ_JOB_RETRY) return SYNQ_ECONFLICT;
        next = SYNQ_JOB_QUEUED;
        break;
    case SYNQ_JOB_EV_CANCEL:
        if (s != SYNQ_JOB_SCHEDULED && s != SYNQ_JOB_QUEUED && s != SYNQ_JOB_RETRY)
            return SYNQ_ECONFLICT;
        next = SYNQ_JOB_CANCELLED;
        break;
    default:
        return SYNQ_EINVAL;
    }
    job->state = next;
    return 0;
}

int64_t synq_backoff_delay_us(const synq_backoff_t *b, int failures, uint64_t rnd)
{
    if (failures < 1) failures = 1;
    int64_t d;
    switch (b->type) {
    case SYNQ_BACKOFF_FIXED:
        d = b->base_us;
        break;
    case SYNQ_BACKOFF_EXPONENTIAL: {
        int shift = failures - 1 > 40 ? 40 : failures - 1;
        d = b->base_us;
        for (int i = 0; i < shift && (b->max_us == 0 || d < b->max_us); i++) {
            if (d > INT64_MAX / 4) break;
            d *= 2;
        }
        break;
    }
    default: {
        /* Sidekiq: count^4 + 15 + rand(10) * (count + 1), count from 0 */
        int64_t n = failures - 1;
        if (n > 1000) n = 1000;
        d = (n * n * n * n + 15 + (int64_t)(rnd % 10) * (n + 1)) * SYNQ_US_PER_SEC;
        break;
    }
    }
    if (b->max_us > 0 && d > b->max_us) d = b->max_us;
    return d;
}

void synq_job_free(synq_job_t *job)
{
    if (job == NULL) return;
    free(job->id);
    free(job->queue);
    free(job->type);
    free(job->args);
    free(job->custom);
    free(job->backoff_json);
    free(job->worker);
    free(job->result);
    free(job->err_message);
    free(job->err_type);
    free(job->err_backtrace);
    free(job->schedule);
    free(job);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

static int duration_field(const json_t *v, int64_t *out)
{
    if (json_is_integer(v) || json_is_real(v)) {
        double secs = json_number_value(v);
        if (secs < 0 || secs > 100.0 * 365 * 86400) return SYNQ_EINVAL;
        *out = (int64_t)(secs * SYNQ_US_PER_SEC);
        return 0;
    }
    if (!json_is_string(v)) return SYNQ_EINVAL;
    return synq_duration_parse(json_string_value(v), json_string_length(v), out);
}

int synq_backoff_from_json(const json_t *obj, synq_backoff_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(obj)) FAIL("backoff: must be an object");
    const json_t *t = json_object_get(obj, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : NULL;
    if (ts && strcmp(ts, "fixed") == 0)
        out->type = SYNQ_BACKOFF_FIXED;
    else if (ts && strcmp(ts, "exponential") == 0)
        out->type = SYNQ_BACKOFF_EXPONENTIAL;
    else
        FAIL("backoff.type: must be \"fixed\" or \"exponential\"");
    const json_t *base = json_object_get(obj, "base");
    if (base == NULL) FAIL("backoff.base: required");
    if (duration_field(base, &out->base_us)) FAIL("backoff.base: not a duration (e.g. \"1s\")");
    const json_t *max = json_object_get(obj, "max");
    if (max && !json_is_null(max) && duration_field(max, &out->max_us)) FAIL("backoff.max: not a duration (e.g. \"1h\")");
    if (out->max_us && out->max_us < out->base_us) FAIL("backoff.max: must not be below base");
    return 0;
fail:
    return SYNQ_EINVAL;
}

static bool name_valid(const char *s, size_t len)
{
    return synq_id_valid(s, len) && len <= SYNQ_NAME_MAX;
}

static char *dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) abort(); /* only on OOM */
    return s;
}

synq_job_t *synq_job_from_json(const json_t *obj, int64_t now_us, char *err, size_t errlen)
{
    synq_job_t *job = synq_calloc(1, sizeof *job);
    const json_t *v;
    job->priority = SYNQ_JOB_DEFAULT_PRIORITY;
    job->retry = SYNQ_JOB_DEFAULT_RETRY;
    job->reserve_for = SYNQ_JOB_DEFAULT_RESERVE_S;
    job->created_at = now_us;

    if (!json_is_object(obj)) FAIL("job: must be a JSON object");

    if ((v = json_object_get(obj, "id")) && !json_is_null(v)) {
        if (!json_is_string(v) || !synq_id_valid(json_string_value(v), json_string_length(v)))
            FAIL("id: must be 1-128 characters of A-Z a-z 0-9 _ - . :");
        job->id = synq_strdup(json_string_value(v));
    }
    v = json_object_get(obj, "type");
    if (v == NULL || json_is_null(v)) FAIL("type: required");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > SYNQ_TYPE_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        FAIL("type: must be a non-empty string of at most %d bytes", SYNQ_TYPE_MAX);
    job->type = synq_strdup(json_string_value(v));
    if ((v = json_object_get(obj, "queue")) && !json_is_null(v)) {
        if (!json_is_string(v) || !name_valid(json_string_value(v), json_string_length(v)))
            FAIL("queue: must be 1-128 characters of A-Z a-z 0-9 _ - . :");
        job->queue = synq_strdup(json_string_value(v));
    } else if (strcmp(job->type, "synq.exec") == 0 || strcmp(job->type, "synq.http") == 0) {
        job->queue = synq_strdup(job->type); /* the built-in executors' queues */
    } else {
        job->queue = synq_strdup("default");
    }

    v = json_object_get(obj, "args");
    job->args = v ? dump(v) : synq_strdup("[]");

    if ((v = json_object_get(obj, "priority")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 9)
            FAIL("priority: must be an integer from 1 to 9");
        job->priority = (int)json_integer_value(v);
    }
    if ((v = json_object_get(obj, "retry")) && !json_is_null(v)) {
        if (json_is_boolean(v))
            job->retry = json_is_true(v) ? SYNQ_JOB_DEFAULT_RETRY : 0;
        else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
                 json_integer_value(v) <= SYNQ_JOB_MAX_RETRY)
            job->retry = (int)json_integer_value(v);
        else
            FAIL("retry: must be an integer from 0 to %d", SYNQ_JOB_MAX_RETRY);
    }
    if ((v = json_object_get(obj, "reserve_for")) && !json_is_null(v)) {
        int64_t us;
        if (duration_field(v, &us) || us < SYNQ_US_PER_SEC ||
            us > (int64_t)SYNQ_JOB_MAX_RESERVE_S * SYNQ_US_PER_SEC)
            FAIL("reserve_for: must be from 1 to %d seconds", SYNQ_JOB_MAX_RESERVE_S);
        job->reserve_for = (int)(us / SYNQ_US_PER_SEC);
    }
    if ((v = json_object_get(obj, "backoff")) && !json_is_null(v)) {
        if (synq_backoff_from_json(v, &job->backoff, err, errlen)) goto fail;
        job->backoff_json = dump(v);
    }
    if ((v = json_object_get(obj, "custom")) && !json_is_null(v)) {
        if (!json_is_object(v)) FAIL("custom: must be an object");
        job->custom = dump(v);
    }

    const json_t *at = json_object_get(obj, "run_at");
    const json_t *delay = json_object_get(obj, "delay");
    if (at && json_is_null(at)) at = NULL;
    if (delay && json_is_null(delay)) delay = NULL;
    if (at && delay) FAIL("run_at: give either run_at or delay, not both");
    int64_t run_at = 0;
    if (at) {
        if (!json_is_string(at) ||
            synq_rfc3339_parse(json_string_value(at), json_string_length(at), &run_at))
            FAIL("run_at: must be an RFC 3339 time such as \"2026-01-02T15:04:05Z\"");
    } else if (delay) {
        int64_t d;
        if (duration_field(delay, &d)) FAIL("delay: must be a duration such as \"30s\" or \"5m\"");
        run_at = now_us + d;
    }
    if (run_at > now_us) {
        job->state = SYNQ_JOB_SCHEDULED;
        job->run_at = run_at;
    } else {
        job->state = SYNQ_JOB_QUEUED;
        job->enqueued_at = now_us;
    }
    return job;
fail:
    synq_job_free(job);
    return NULL;
}

/* Writers for the job's JSON form; keys are literals, so no escaping. */
static void put_key(synq_buf_t *out, const char *key)
{
    synq_buf_putc(out, ',');
    synq_buf_putc(out, '"');
    synq_buf_puts(out, key);
    synq_buf_append(out, "\":", 2);
}

static void put_time(synq_buf_t *out, const char *key, int64_t t)
{
    put_key(out, key);
    if (t == 0) {
        synq_buf_append(out, "null", 4);
        return;
    }
    char ts[40];
    ts[0] = '"';
    size_t n = synq_rfc3339_format(t, ts + 1);
    ts[n + 1] = '"';
    synq_buf_append(out, ts, n + 2);
}

static void put_str(synq_buf_t *out, const char *key, const char *s)
{
    put_key(out, key);
    if (s)
        synq_buf_json_str(out, s, strlen(s));
    else
        synq_buf_append(out, "null", 4);
}

static void put_raw(synq_buf_t *out, const char *key, const char *json)
{
    put_key(out, key);
    synq_buf_puts(out, json ? json : "null");
}

static void put_int(synq_buf_t *out, const char *key, int64_t v)
{
    put_key(out, key);
    synq_buf_put_int(out, v);
}

void synq_job_to_json(const synq_job_t *job, synq_buf_t *out)
{
    synq_buf_reserve(out, 512 + strlen(job->args));
    synq_buf_puts(out, "{\"id\":");
    synq_buf_json_str(out, job->id, strlen(job->id));
    put_str(out, "queue", job->queue);
    put_str(out, "type", job->type);
    put_raw(out, "args", job->args);
    put_int(out, "priority", job->priority);
    put_key(out, "state");
    synq_buf_putc(out, '"');
    synq_buf_puts(out, synq_job_state_name(job->state));
    synq_buf_putc(out, '"');
    put_int(out, "retry", job->retry);
    put_int(out, "reserve_for", job->reserve_for);
    put_int(out, "attempts", job->attempts);
    put_time(out, "run_at", job->run_at);
    put_time(out, "created_at", job->created_at);
    put_time(out, "enqueued_at", job->enqueued_at);
    put_time(out, "started_at", job->started_at);
    put_time(out, "finished_at", job->finished_at);
    if (job->backoff_json) put_raw(out, "backoff", job->backoff_json);
    if (job->state == SYNQ_JOB_ACTIVE) {
        put_str(out, "worker", job->worker);
        put_time(out, "lease_expires_at", job->lease_until);
    }
    put_raw(out, "result", job->result);
    if (job->err_message || job->err_type || job->err_backtrace) {
        synq_buf_puts(out, ",\"error\":{\"message\":");
        if (job->err_message)
            synq_buf_json_str(out, job->err_message, strlen(job->err_message));
        else
            synq_buf_puts(out, "null");
        put_str(out, "type", job->err_type);
        put_raw(out, "backtrace", job->err_backtrace);
        synq_buf_putc(out, '}');
    } else {
        synq_buf_puts(out, ",\"error\":null");
    }
    put_raw(out, "custom", job->custom);
    if (job->schedule) {
        put_str(out, "schedule", job->schedule);
        put_time(out, "fire_at", job->fire_at);
    }
    synq_buf_putc(out, '}');
}
