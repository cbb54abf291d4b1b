/* Job state machine, backoff and JSON conversion. */
#include "core/job.h"

#include "core/id.h"
#include "core/webhook.h"
#include "core/timeutil.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[SYNQ_JOB_NSTATES] = {
    "scheduled", "queued", "active", "retry", "completed", "dead", "cancelled", "waiting",
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
        if (synq_job_state_terminal(s)) return SYNQ_ECONFLICT;
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
    case SYNQ_BACKOFF_FAKTORY: {
        /* Faktory: count^4 + 15 + rand(30) * (count + 1), count from 0 */
        int64_t n = failures - 1;
        if (n > 1000) n = 1000;
        d = (n * n * n * n + 15 + (int64_t)(rnd % 30) * (n + 1)) * SYNQ_US_PER_SEC;
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
    free(job->group);
    free(job->batch);
    free(job->unique_key);
    free(job->traceparent);
    free(job->callback);
    free(job->depends_on);
    free(job->dep_results);
    free(job->progress);
    free(job->fwp);
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
    else if (ts && strcmp(ts, "faktory") == 0) {
        out->type = SYNQ_BACKOFF_FAKTORY;
        return 0;
    } else
        FAIL("backoff.type: must be \"fixed\", \"exponential\" or \"faktory\"");
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

bool synq_traceparent_valid(const char *s)
{
    /* W3C Trace Context §3.2: 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>,
     * lowercase, ids not all zero; version ff is invalid */
    static const int lens[4] = {2, 32, 16, 2};
    const char *p = s;
    for (int f = 0; f < 4; f++) {
        bool nonzero = false;
        for (int i = 0; i < lens[f]; i++, p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
            if (*p != '0') nonzero = true;
        }
        if ((f == 1 || f == 2) && !nonzero) return false;
        if (f < 3 && *p++ != '-') return false;
    }
    return *p == '\0' && strncmp(s, "ff", 2) != 0;
}

static const char *const cb_event_names[] = {"completed", "dead", "cancelled", "progress"};

int synq_job_callback_events(const char *callback_json)
{
    if (callback_json == NULL) return 0;
    /* the stored form lists events as plain names: a substring test suffices */
    const char *ev = strstr(callback_json, "\"events\":[");
    if (ev == NULL) return 0;
    const char *end = strchr(ev, ']');
    int mask = 0;
    for (int i = 0; i < 4; i++) {
        char q[16];
        snprintf(q, sizeof q, "\"%s\"", cb_event_names[i]);
        const char *hit = strstr(ev, q);
        if (hit && (end == NULL || hit < end)) mask |= 1 << i;
    }
    return mask;
}

static bool plain_string(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* An http(s) URL we can request: scheme, a host (name, IPv4 or [IPv6]),
 * an optional port 1-65535, no spaces or control characters. */
static bool url_usable(const char *u)
{
    size_t skip = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
    if (skip == 0) return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) return false;
    const char *h = u + skip, *end = h + strcspn(h, "/?#");
    const char *at = memchr(h, '@', (size_t)(end - h));
    if (at) h = at + 1; /* userinfo */
    const char *port = NULL;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (close == NULL || close == h + 1) return false;
        if (close + 1 < end) {
            if (close[1] != ':') return false;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        if ((colon ? colon : end) == h) return false; /* no host */
        if (colon) port = colon + 1;
    }
    if (port) {
        long v = 0;
        if (port == end) return false;
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535) return false;
        }
        if (v < 1) return false;
    }
    return true;
}

/* Parses callback {url, events?, secret?} into its stored form. */
int synq_job_callback_parse(const json_t *v, char **out, char *err, size_t errlen)
{
    json_t *norm = NULL;
    if (!json_is_object(v)) FAIL("callback: must be an object with a url");
    const json_t *url = json_object_get(v, "url");
    if (!plain_string(url, 2048) || !url_usable(json_string_value(url)))
        FAIL("callback.url: must be an http:// or https:// URL with a host (port 1-65535, no spaces) of at most 2048 bytes");
    norm = json_object();
    json_object_set(norm, "url", (json_t *)url);
    json_t *events = json_array();
    json_object_set_new(norm, "events", events);
    const json_t *ev = json_object_get(v, "events");
    if (ev == NULL || json_is_null(ev)) {
        json_array_append_new(events, json_string("completed"));
        json_array_append_new(events, json_string("dead"));
    } else {
        if (!json_is_array(ev) || json_array_size(ev) == 0)
            FAIL("callback.events: must be a non-empty array of completed, dead, cancelled, progress");
        size_t i;
        const json_t *e;
        json_array_foreach(ev, i, e) {
            int k = -1;
            for (int n = 0; n < 4 && json_is_string(e); n++)
                if (strcmp(json_string_value(e), cb_event_names[n]) == 0) k = n;
            if (k < 0)
                FAIL("callback.events: each must be one of completed, dead, cancelled, progress");
            json_array_append_new(events, json_string(cb_event_names[k]));
        }
    }
    const json_t *sec = json_object_get(v, "secret");
    if (sec == NULL || json_is_null(sec)) sec = json_object_get(v, "secrets");
    if (sec && !json_is_null(sec)) {
        json_t *list = json_array();
        json_object_set_new(norm, "secrets", list);
        size_t n = json_is_array(sec) ? json_array_size(sec) : 1;
        if (n == 0 || n > 8) FAIL("callback.secret: give 1 to 8 secrets");
        for (size_t i = 0; i < n; i++) {
            const json_t *one = json_is_array(sec) ? json_array_get(sec, i) : sec;
            unsigned char key[64];
            size_t keylen;
            if (!json_is_string(one) ||
                synq_webhook_secret_decode(json_string_value(one), key, &keylen) != 0)
                FAIL("callback.secret: must be \"whsec_\" followed by base64 of 24 to 64 "
                     "bytes (or a list of them)");
            json_array_append(list, (json_t *)one);
        }
    }
    *out = dump(norm);
    json_decref(norm);
    return 0;
fail:
    json_decref(norm);
    return SYNQ_EINVAL;
}

char *synq_job_unique_key_default(const synq_job_t *job)
{
    json_t *args = json_loads(job->args, JSON_DECODE_ANY, NULL);
    char *canon = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                       : synq_strdup(job->args);
    json_decref(args);
    unsigned char md[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) abort();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, job->queue, strlen(job->queue) + 1);
    EVP_DigestUpdate(c, job->type, strlen(job->type) + 1);
    EVP_DigestUpdate(c, canon, strlen(canon));
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    free(canon);
    char *key = synq_malloc(7 + 2 * SHA256_DIGEST_LENGTH + 1);
    memcpy(key, "sha256:", 7);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(key + 7 + 2 * i, "%02x", md[i]);
    return key;
}

/* group, unique, callback, depends_on, keep_for, traceparent. */
static int parse_options(synq_job_t *job, const json_t *obj, int64_t now_us, char *err,
                         size_t errlen)
{
    const json_t *v;
    if ((v = json_object_get(obj, "group")) && !json_is_null(v)) {
        if (!plain_string(v, SYNQ_GROUP_MAX))
            FAIL("group: must be a non-empty string of at most %d bytes", SYNQ_GROUP_MAX);
        job->group = synq_strdup(json_string_value(v));
    }
    if ((v = json_object_get(obj, "unique")) && !json_is_null(v)) {
        if (!json_is_object(v)) FAIL("unique: must be an object {key?, for, until?}");
        const json_t *f = json_object_get(v, "for");
        int64_t for_us;
        if (f == NULL || duration_field(f, &for_us) || for_us < SYNQ_US_PER_SEC / 1000)
            FAIL("unique.for: required, a duration such as \"10m\"");
        const json_t *u = json_object_get(v, "until");
        if (u && !json_is_null(u)) {
            if (json_is_string(u) && strcmp(json_string_value(u), "start") == 0)
                job->unique_until_start = true;
            else if (!json_is_string(u) || strcmp(json_string_value(u), "success") != 0)
                FAIL("unique.until: must be \"start\" or \"success\"");
        }
        const json_t *k = json_object_get(v, "key");
        if (k && !json_is_null(k)) {
            if (!plain_string(k, SYNQ_GROUP_MAX))
                FAIL("unique.key: must be a non-empty string of at most %d bytes", SYNQ_GROUP_MAX);
            size_t n = json_string_length(k);
            job->unique_key = synq_malloc(n + 5);
            memcpy(job->unique_key, "key:", 4);
            memcpy(job->unique_key + 4, json_string_value(k), n + 1);
        } else {
            job->unique_key = synq_job_unique_key_default(job);
        }
        job->unique_until_us = now_us + for_us;
    }
    if ((v = json_object_get(obj, "callback")) && !json_is_null(v)) {
        if (synq_job_callback_parse(v, &job->callback, err, errlen)) goto fail;
    }
    if ((v = json_object_get(obj, "depends_on")) && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SYNQ_JOB_MAX_DEPS)
            FAIL("depends_on: must be an array of 1 to %d job ids", SYNQ_JOB_MAX_DEPS);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *d = json_array_get(v, i);
            if (!json_is_string(d) || !synq_id_valid(json_string_value(d), json_string_length(d)))
                FAIL("depends_on: each must be a job id");
            for (size_t k = 0; k < i; k++)
                if (json_equal(d, json_array_get(v, k)))
                    FAIL("depends_on: %s is listed twice", json_string_value(d));
        }
        job->depends_on = dump(v);
    }
    if ((v = json_object_get(obj, "on_dependency_failure")) && !json_is_null(v)) {
        if (json_is_string(v) && strcmp(json_string_value(v), "run") == 0)
            job->run_on_dep_failure = true;
        else if (!json_is_string(v) || strcmp(json_string_value(v), "cancel") != 0)
            FAIL("on_dependency_failure: must be \"cancel\" or \"run\"");
    }
    if ((v = json_object_get(obj, "keep_for")) && !json_is_null(v)) {
        if (duration_field(v, &job->keep_for_us) || job->keep_for_us < SYNQ_US_PER_SEC)
            FAIL("keep_for: must be a duration of at least 1s, such as \"7d\"");
    }
    if ((v = json_object_get(obj, "traceparent")) && !json_is_null(v)) {
        if (!json_is_string(v) || !synq_traceparent_valid(json_string_value(v)))
            FAIL("traceparent: must be a W3C traceparent such as "
                 "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"");
        job->traceparent = synq_strdup(json_string_value(v));
    }
    return 0;
fail:
    return SYNQ_EINVAL;
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

    if (parse_options(job, obj, now_us, err, errlen)) goto fail;

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
    synq_job_place(job, run_at, now_us);
    return job;
fail:
    synq_job_free(job);
    return NULL;
}

void synq_job_place(synq_job_t *job, int64_t run_at, int64_t now_us)
{
    if (run_at > now_us) {
        job->state = SYNQ_JOB_SCHEDULED;
        job->run_at = run_at;
    } else {
        job->state = SYNQ_JOB_QUEUED;
        job->enqueued_at = now_us;
    }
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
    synq_buf_put_time(out, t);
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
    if (job->group) put_str(out, "group", job->group);
    if (job->batch) put_str(out, "batch", job->batch);
    if (job->unique_key) {
        /* explicit keys are stored as "key:K" (apart from "sha256:..." defaults) */
        const char *k = job->unique_key;
        if (strncmp(k, "key:", 4) == 0) k += 4;
        synq_buf_puts(out, ",\"unique\":{\"key\":");
        synq_buf_json_str(out, k, strlen(k));
        put_str(out, "until", job->unique_until_start ? "start" : "success");
        put_time(out, "expires_at", job->unique_until_us);
        synq_buf_putc(out, '}');
    }
    if (job->traceparent) put_str(out, "traceparent", job->traceparent);
    if (job->keep_for_us) {
        put_key(out, "keep_for");
        synq_buf_printf(out, "%.6g", (double)job->keep_for_us / SYNQ_US_PER_SEC);
    }
    if (job->expires_at) put_time(out, "expires_at", job->expires_at);
    if (job->run_by) put_time(out, "run_by", job->run_by);
    if (job->callback) {
        /* url and events only: secrets never leave the server */
        json_t *cb = json_loads(job->callback, 0, NULL);
        if (cb) {
            json_object_del(cb, "secrets");
            char *t = dump(cb);
            put_raw(out, "callback", t);
            free(t);
            json_decref(cb);
        }
    }
    if (job->depends_on) {
        put_raw(out, "depends_on", job->depends_on);
        put_str(out, "on_dependency_failure", job->run_on_dep_failure ? "run" : "cancel");
    }
    if (job->dep_results) put_raw(out, "dependency_results", job->dep_results);
    if (job->progress) put_raw(out, "progress", job->progress);
    if (job->group_blocked) put_int(out, "group_blocked", job->group_blocked);
    synq_buf_putc(out, '}');
}

/* ---- the extra column ------------------------------------------------------ */

static void set_raw(json_t *o, const char *key, const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    if (v) json_object_set_new(o, key, v);
}

char *synq_job_extra_dump(const synq_job_t *job)
{
    if (!job->unique_key && !job->traceparent && !job->keep_for_us && !job->callback &&
        !job->depends_on && !job->dep_results && !job->progress && !job->group_blocked &&
        !job->nevents && !job->failed_at && !job->next_at && !job->run_by && !job->discard &&
        !job->fwp)
        return NULL;
    json_t *o = json_object();
    if (job->unique_key) {
        json_object_set_new(o, "unique_until", json_integer(job->unique_until_us));
        if (job->unique_until_start) json_object_set_new(o, "unique_start", json_true());
    }
    if (job->traceparent) json_object_set_new(o, "traceparent", json_string(job->traceparent));
    if (job->keep_for_us) json_object_set_new(o, "keep_for", json_integer(job->keep_for_us));
    set_raw(o, "callback", job->callback);
    set_raw(o, "depends_on", job->depends_on);
    if (job->run_on_dep_failure) json_object_set_new(o, "dep_run", json_true());
    set_raw(o, "dep_results", job->dep_results);
    set_raw(o, "progress", job->progress);
    if (job->group_blocked) json_object_set_new(o, "group_blocked", json_integer(job->group_blocked));
    if (job->nevents) json_object_set_new(o, "nevents", json_integer(job->nevents));
    if (job->failed_at) json_object_set_new(o, "failed_at", json_integer(job->failed_at));
    if (job->next_at) json_object_set_new(o, "next_at", json_integer(job->next_at));
    if (job->run_by) json_object_set_new(o, "run_by", json_integer(job->run_by));
    if (job->discard) json_object_set_new(o, "discard", json_true());
    set_raw(o, "fwp", job->fwp);
    char *t = dump(o);
    json_decref(o);
    return t;
}

static char *get_raw(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return v ? dump(v) : NULL;
}

void synq_job_extra_load(synq_job_t *job, const char *text)
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const json_t *v;
    job->unique_until_us = json_integer_value(json_object_get(o, "unique_until"));
    job->unique_until_start = json_is_true(json_object_get(o, "unique_start"));
    if ((v = json_object_get(o, "traceparent")) && json_is_string(v))
        job->traceparent = synq_strdup(json_string_value(v));
    job->keep_for_us = json_integer_value(json_object_get(o, "keep_for"));
    job->callback = get_raw(o, "callback");
    job->depends_on = get_raw(o, "depends_on");
    job->run_on_dep_failure = json_is_true(json_object_get(o, "dep_run"));
    job->dep_results = get_raw(o, "dep_results");
    job->progress = get_raw(o, "progress");
    job->group_blocked = (int)json_integer_value(json_object_get(o, "group_blocked"));
    job->nevents = (int)json_integer_value(json_object_get(o, "nevents"));
    job->failed_at = json_integer_value(json_object_get(o, "failed_at"));
    job->next_at = json_integer_value(json_object_get(o, "next_at"));
    job->run_by = json_integer_value(json_object_get(o, "run_by"));
    job->discard = json_is_true(json_object_get(o, "discard"));
    job->fwp = get_raw(o, "fwp");
    json_decref(o);
}
