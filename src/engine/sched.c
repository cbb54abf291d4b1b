/* The scheduler (see sched.h for the contract). An item per schedule holds
 * its parsed definition and running state; items due soonest sit at the top
 * of a min-heap keyed by wake time (the next fire, minus the preparation
 * lead for overlap=allow). The definition is stored as the JSON the client
 * sent (validated), `paused` and the last handled fire beside it. */
#include "engine/sched.h"

#include "core/cron.h"
#include "core/heap.h"
#include "core/id.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "engine/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { WHEN_CRON, WHEN_AT } when_t;
typedef enum { WHAT_JOB, WHAT_EXEC, WHAT_HTTP } what_t;
typedef enum { OVERLAP_ALLOW, OVERLAP_FORBID, OVERLAP_REPLACE } overlap_t;
typedef enum { CATCHUP_NONE, CATCHUP_LATEST, CATCHUP_ALL } catchup_t;

static const char *const overlap_names[] = {"allow", "forbid", "replace"};
static const char *const catchup_names[] = {"none", "latest", "all"};
static const char *const run_kind_names[] = {"scheduled", "skipped", "manual"};

typedef struct item_s {
    char *name;
    json_t *def;    /* the definition as stored (no "paused") */
    char *source;
    when_t when;
    synq_cron_t cron;
    int64_t at_us;
    const synq_tz_t *tz; /* owned by the tz cache */
    what_t what;
    json_t *job_tmpl;    /* job JSON to build each fire's job from */
    overlap_t overlap;
    catchup_t catchup;
    int64_t window_us, jitter_us, start_us, end_us; /* end 0 = none */
    bool paused;
    int64_t last_fire;   /* us, nominal */
    int64_t next_fire;   /* us, 0 = none */
    int64_t wake;        /* heap key */
    size_t heap_idx;
    char *last_job;      /* job id of the newest fire */
    int64_t pending_fire; /* a prepared fire not yet due (its job is last_job) */
    int64_t created_at, updated_at;
    int runs_since_prune;
} item_t;

struct synq_sched_s {
    synq_engine_t *e;
    synq_store_t *store;
    synq_sched_config_t cfg;
    synq_map_t items; /* name -> item_t */
    synq_map_t tzs;   /* zone name -> synq_tz_t */
    synq_heap_t heap;
    uv_timer_t timer;
    bool closing;
    bool booting; /* until synq_sched_started: @reboot schedules created now fire */
    int64_t boot_us;
    uint64_t rng;
    void (*done)(void *);
    void *done_arg;
};

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rnd(synq_sched_t *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static bool wake_less(const void *a, const void *b)
{
    return ((const item_t *)a)->wake < ((const item_t *)b)->wake;
}

static void set_index(void *it, size_t idx)
{
    ((item_t *)it)->heap_idx = idx;
}

static void store_ok(int rc)
{
    if (rc == 0) return;
    synq_log(SYNQ_LOG_ERROR, "store write failed, exiting", "error", synq_strerror(rc), NULL);
    abort();
}

static json_t *time_json(int64_t us)
{
    char ts[40];
    synq_rfc3339_format(us, ts);
    return json_string(ts);
}

static bool name_valid(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > SYNQ_SCHED_NAME_MAX) return false;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.' || *p == ':'))
            return false;
    return true;
}

static const synq_tz_t *tz_get(synq_sched_t *s, const char *name, char *err, size_t errlen)
{
    const synq_tz_t *tz = synq_map_get(&s->tzs, name);
    if (tz) return tz;
    synq_tz_t *loaded = synq_tz_load(name, err, errlen);
    if (!loaded) return NULL;
    synq_map_put(&s->tzs, name, loaded);
    return loaded;
}

/* ---- definitions --------------------------------------------------------- */

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return SYNQ_EINVAL;                                                                        \
    } while (0)

static int dur_field(const json_t *def, const char *key, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(def, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 100LL * 365 * 86400) {
        *out = json_integer_value(v) * SYNQ_US_PER_SEC;
        return 0;
    }
    if (!json_is_string(v) ||
        synq_duration_parse(json_string_value(v), json_string_length(v), out) != 0)
        BAD("%s: must be a duration such as \"30s\", \"5m\" or \"1h\"", key);
    return 0;
}

static int time_field(const json_t *def, const char *key, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(def, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) ||
        synq_rfc3339_parse(json_string_value(v), json_string_length(v), out) != 0)
        BAD("%s: must be an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", key);
    return 0;
}

static int enum_field(const json_t *def, const char *key, const char *const *names, int n,
                      int *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(def, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v))
        for (int i = 0; i < n; i++)
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return 0;
            }
    if (n == 3) BAD("%s: must be one of \"%s\", \"%s\", \"%s\"", key, names[0], names[1], names[2]);
    BAD("%s: invalid value", key);
}

static const char *const def_keys[] = {
    "cron",    "every",   "at",     "tz",       "job",            "exec",   "http",
    "overlap", "catchup", "jitter", "start_at", "catchup_window", "end_at", "paused",
    "description", "retry", "backoff", "priority", "reserve_for", "queue",
};

/* Builds the job JSON a fire enqueues, from the schedule's `job`, `exec` or
 * `http` and its retry options. Returns a new reference. */
static json_t *job_template(const json_t *def, what_t what)
{
    if (what == WHAT_JOB) return json_deep_copy(json_object_get(def, "job"));
    json_t *j = json_object();
    const char *type = what == WHAT_EXEC ? SYNQ_EXEC_TYPE : SYNQ_HTTP_TYPE;
    const json_t *q = json_object_get(def, "queue");
    json_object_set_new(j, "queue", q && json_is_string(q) ? json_copy((json_t *)q)
                                                           : json_string(type));
    json_object_set_new(j, "type", json_string(type));
    json_t *args = json_array();
    json_array_append(args, json_object_get(def, what == WHAT_EXEC ? "exec" : "http"));
    json_object_set_new(j, "args", args);
    static const char *const opts[] = {"retry", "backoff", "priority", "reserve_for"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(opts); i++) {
        json_t *v = json_object_get(def, opts[i]);
        if (v) json_object_set(j, opts[i], v);
    }
    return j;
}

/* Parses and validates definition def into it (fields only; state is the
 * caller's). On error nothing in `it` needs freeing beyond what
 * item_clear_def releases. */
static int def_parse(synq_sched_t *s, const json_t *def, item_t *it, char *err, size_t errlen)
{
    if (!json_is_object(def)) BAD("schedule: must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)def, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < SYNQ_ARRAY_LEN(def_keys) && !known; i++)
            known = strcmp(key, def_keys[i]) == 0;
        if (!known) BAD("%s: unknown field", key);
    }
    const json_t *cron = json_object_get(def, "cron"), *every = json_object_get(def, "every"),
                 *at = json_object_get(def, "at");
    int nwhen = (cron && !json_is_null(cron)) + (every && !json_is_null(every)) +
                (at && !json_is_null(at));
    if (nwhen != 1) BAD("cron: give exactly one of cron, every or at");
    char cerr[200];
    if (cron && !json_is_null(cron)) {
        if (!json_is_string(cron)) BAD("cron: must be a string such as \"0 2 * * *\"");
        if (synq_cron_parse(json_string_value(cron), &it->cron, cerr, sizeof cerr) != 0)
            BAD("cron: %s", cerr);
        it->when = WHEN_CRON;
    } else if (every && !json_is_null(every)) {
        char buf[80];
        if (!json_is_string(every) || json_string_length(every) > 60)
            BAD("every: must be a duration such as \"30s\"");
        snprintf(buf, sizeof buf, "@every %s", json_string_value(every));
        if (synq_cron_parse(buf, &it->cron, cerr, sizeof cerr) != 0)
            BAD("every: must be a whole number of seconds, at least 1s (e.g. \"30s\", \"5m\")");
        it->when = WHEN_CRON;
    } else {
        if (time_field(def, "at", &it->at_us, err, errlen)) return SYNQ_EINVAL;
        it->when = WHEN_AT;
    }
    const json_t *tz = json_object_get(def, "tz");
    if (tz && !json_is_null(tz)) {
        if (!json_is_string(tz)) BAD("tz: must be an IANA zone name such as \"Europe/Berlin\"");
        char terr[160];
        it->tz = tz_get(s, json_string_value(tz), terr, sizeof terr);
        if (!it->tz) BAD("tz: %s", terr);
    } else {
        it->tz = synq_tz_utc();
    }

    const json_t *job = json_object_get(def, "job"), *ex = json_object_get(def, "exec"),
                 *http = json_object_get(def, "http");
    if (job && json_is_null(job)) job = NULL;
    if (ex && json_is_null(ex)) ex = NULL;
    if (http && json_is_null(http)) http = NULL;
    if (!!job + !!ex + !!http != 1) BAD("job: give exactly one of job, exec or http");
    char jerr[200];
    if (job) {
        if (!json_is_object(job)) BAD("job: must be an object (queue, type, args, retry, ...)");
        static const char *const banned[] = {"id", "run_at", "delay"};
        for (size_t i = 0; i < SYNQ_ARRAY_LEN(banned); i++)
            if (json_object_get(job, banned[i])) BAD("job.%s: not allowed in a schedule", banned[i]);
        static const char *const only_exec[] = {"retry", "backoff", "priority", "reserve_for",
                                                "queue"};
        for (size_t i = 0; i < SYNQ_ARRAY_LEN(only_exec); i++)
            if (json_object_get(def, only_exec[i]))
                BAD("%s: give it inside job", only_exec[i]);
        it->what = WHAT_JOB;
    } else if (ex) {
        if (synq_exec_spec_check(ex, jerr, sizeof jerr)) BAD("exec.%s", jerr);
        it->what = WHAT_EXEC;
    } else {
        if (synq_http_spec_check(http, jerr, sizeof jerr)) BAD("http.%s", jerr);
        it->what = WHAT_HTTP;
    }
    it->job_tmpl = job_template(def, it->what);
    synq_job_t *probe = synq_job_from_json(it->job_tmpl, 0, jerr, sizeof jerr);
    if (!probe) BAD("%s%s", it->what == WHAT_JOB ? "job." : "", jerr);
    synq_job_free(probe);

    int o = OVERLAP_ALLOW, c = CATCHUP_LATEST;
    if (enum_field(def, "overlap", overlap_names, 3, &o, err, errlen) ||
        enum_field(def, "catchup", catchup_names, 3, &c, err, errlen))
        return SYNQ_EINVAL;
    it->overlap = (overlap_t)o;
    it->catchup = (catchup_t)c;
    it->window_us = 3600 * SYNQ_US_PER_SEC;
    if (dur_field(def, "catchup_window", &it->window_us, err, errlen) ||
        dur_field(def, "jitter", &it->jitter_us, err, errlen) ||
        time_field(def, "start_at", &it->start_us, err, errlen) ||
        time_field(def, "end_at", &it->end_us, err, errlen))
        return SYNQ_EINVAL;
    if (it->end_us && it->start_us && it->end_us < it->start_us)
        BAD("end_at: must not be before start_at");
    const json_t *p = json_object_get(def, "paused");
    if (p && !json_is_boolean(p) && !json_is_null(p)) BAD("paused: must be true or false");
    const json_t *d = json_object_get(def, "description");
    if (d && !json_is_null(d) && (!json_is_string(d) || json_string_length(d) > 4096))
        BAD("description: must be a string of at most 4096 bytes");
    return 0;
}

static void item_clear_def(item_t *it)
{
    json_decref(it->def);
    json_decref(it->job_tmpl);
    it->def = it->job_tmpl = NULL;
}

static void item_free(item_t *it)
{
    item_clear_def(it);
    free(it->name);
    free(it->source);
    free(it->last_job);
    free(it);
}

/* ---- time table ---------------------------------------------------------- */

/* The first fire strictly after `after` (us), within start/end; 0 = none. */
static int64_t fire_after(const item_t *it, int64_t after)
{
    if (it->start_us && after < it->start_us - 1) after = it->start_us - 1;
    int64_t f;
    if (it->when == WHEN_AT) {
        f = it->at_us > after ? it->at_us : 0;
    } else {
        int64_t t_s = after >= 0 ? after / SYNQ_US_PER_SEC : -((-after + 999999) / SYNQ_US_PER_SEC);
        int64_t n;
        if (synq_cron_next(&it->cron, it->tz, t_s, &n) != 0) return 0;
        f = n * SYNQ_US_PER_SEC;
    }
    if (f && it->end_us && f > it->end_us) return 0;
    return f;
}

/* The latest fire in (lo, hi], or 0. Searches back from hi in windows that
 * double, so a long downtime costs a few searches, not one per fire. */
static int64_t latest_fire(const item_t *it, int64_t lo, int64_t hi)
{
    int64_t win = 60 * SYNQ_US_PER_SEC;
    for (;;) {
        int64_t from = hi - win < lo ? lo : hi - win;
        int64_t f = fire_after(it, from), best = 0;
        while (f && f <= hi) {
            best = f;
            f = fire_after(it, f);
        }
        if (best || from == lo) return best;
        win *= 2;
    }
}

/* ---- heap and timer ------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void arm(synq_sched_t *s)
{
    if (s->closing) return;
    item_t *top = synq_heap_peek(&s->heap);
    if (!top) {
        uv_timer_stop(&s->timer);
        return;
    }
    int64_t now = synq_time_now_us();
    uint64_t ms = top->wake <= now ? 0 : (uint64_t)((top->wake - now + 999) / 1000);
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void unschedule(synq_sched_t *s, item_t *it)
{
    if (it->heap_idx != SYNQ_HEAP_NONE) synq_heap_remove(&s->heap, it->heap_idx);
    it->next_fire = 0;
}

/* Computes the next fire after `after` and (re)places the item in the heap. */
static void reschedule(synq_sched_t *s, item_t *it, int64_t after)
{
    unschedule(s, it);
    if (it->paused) return;
    it->next_fire = fire_after(it, after);
    if (!it->next_fire) return;
    it->wake = it->next_fire;
    if (it->overlap == OVERLAP_ALLOW) it->wake -= SYNQ_SCHED_LEAD_MS * SYNQ_US_PER_MS;
    synq_heap_push(&s->heap, it);
}

/* ---- firing -------------------------------------------------------------- */

static bool job_live(synq_sched_t *s, const char *id)
{
    return id && synq_engine_peek(s->e, id) != NULL;
}

static void record_state(synq_sched_t *s, item_t *it)
{
    store_ok(s->store->ops->schedule_set_state(s->store, it->name, it->paused, it->last_fire));
}

/* Fires `it` for nominal time fire_us. Returns the new job (borrowed from
 * the engine) in *job_out when one was enqueued. Returns 0, or
 * SYNQ_ECONFLICT when this fire was recorded before. */
static int fire(synq_sched_t *s, item_t *it, int64_t fire_us, synq_run_kind_t kind,
                synq_buf_t *job_json)
{
    int64_t now = synq_time_now_us();
    synq_run_row_t run = {.fire_at = fire_us, .kind = kind, .created_at = now};
    if (it->overlap != OVERLAP_ALLOW && job_live(s, it->last_job)) {
        if (it->overlap == OVERLAP_FORBID) {
            run.kind = SYNQ_RUN_SKIPPED;
            int rc = s->store->ops->run_insert(s->store, it->name, &run);
            if (rc == SYNQ_ECONFLICT) return rc;
            store_ok(rc);
            synq_log(SYNQ_LOG_INFO, "schedule fire skipped: previous run still going",
                     "schedule", it->name, "job", it->last_job, NULL);
            return 0;
        }
        synq_engine_cancel(s->e, it->last_job, SYNQ_CANCEL_ACTIVE, NULL);
    }

    char err[200];
    synq_job_t *j = synq_job_from_json(it->job_tmpl, now, err, sizeof err);
    if (!j) { /* validated at put; only a changed build could get here */
        synq_log(SYNQ_LOG_ERROR, "schedule cannot build its job", "schedule", it->name, "error",
                 err, NULL);
        return 0;
    }
    int64_t due = fire_us;
    if (it->jitter_us > 0 && kind != SYNQ_RUN_MANUAL) {
        int64_t bound = it->jitter_us;
        int64_t nf = fire_after(it, fire_us);
        if (nf && nf - fire_us - 1 < bound) bound = nf - fire_us - 1;
        if (bound > 0) due += (int64_t)(rnd(s) % (uint64_t)bound);
    }
    if (due > now) {
        j->state = SYNQ_JOB_SCHEDULED;
        j->run_at = due;
        j->enqueued_at = 0;
    } else {
        j->state = SYNQ_JOB_QUEUED;
        j->run_at = 0;
        j->enqueued_at = now;
    }
    j->schedule = synq_strdup(it->name);
    j->fire_at = fire_us;
    j->id = synq_malloc(SYNQ_ID_LEN + 1);
    synq_engine_new_id(s->e, j->id);
    run.job_id = j->id;
    int rc = s->store->ops->run_insert(s->store, it->name, &run);
    if (rc == SYNQ_ECONFLICT) {
        synq_job_free(j);
        return rc;
    }
    store_ok(rc);
    free(it->last_job);
    it->last_job = synq_strdup(j->id);
    it->pending_fire = due > now ? fire_us : 0;
    size_t bad;
    rc = synq_engine_enqueue(s->e, &j, 1, false, job_json, &bad);
    if (rc) { /* a ULID collision: cannot happen; keep the record honest */
        synq_log(SYNQ_LOG_ERROR, "schedule enqueue failed", "schedule", it->name, NULL);
        synq_job_free(j);
        return 0;
    }
    if (++it->runs_since_prune >= 20) {
        it->runs_since_prune = 0;
        store_ok(s->store->ops->run_prune(s->store, it->name, SYNQ_SCHED_RUNS_KEPT));
    }
    return 0;
}

/* A timetable fire: record it as handled, then fire. */
static void fire_nominal(synq_sched_t *s, item_t *it, int64_t fire_us)
{
    if (fire_us > it->last_fire) it->last_fire = fire_us;
    record_state(s, it);
    fire(s, it, fire_us, SYNQ_RUN_FIRED, NULL);
}

static void on_timer(uv_timer_t *t)
{
    synq_sched_t *s = t->data;
    int64_t now = synq_time_now_us();
    item_t *it;
    int budget = 100000; /* bounds one turn; the rest fire on the next */
    while ((it = synq_heap_peek(&s->heap)) && it->wake <= now && budget-- > 0) {
        int64_t f = it->next_fire;
        fire_nominal(s, it, f);
        reschedule(s, it, f);
    }
    arm(s);
}

/* Withdraws a prepared fire whose job has not become due yet (pause,
 * replace, delete): the job is cancelled and the fire forgotten, so the
 * new definition may fire at that instant after all. */
static void withdraw_pending(synq_sched_t *s, item_t *it)
{
    int64_t f = it->pending_fire; /* the cancel below clears it (on_job_final) */
    if (!f) return;
    const synq_job_t *j = it->last_job ? synq_engine_peek(s->e, it->last_job) : NULL;
    if (j && j->state == SYNQ_JOB_SCHEDULED && j->fire_at == f &&
        synq_engine_cancel(s->e, it->last_job, 0, NULL) == 0) {
        store_ok(s->store->ops->run_delete(s->store, it->name, f));
        int64_t now = synq_time_now_us();
        if (it->last_fire >= f) it->last_fire = now < f ? now : f - 1;
    }
    it->pending_fire = 0;
}

/* ---- alerts -------------------------------------------------------------- */

static void on_alert_done(const synq_httpc_res_t *res, void *arg)
{
    char *what = arg;
    if (res->status < 200 || res->status > 299) {
        char st[16];
        snprintf(st, sizeof st, "%d", res->status);
        synq_log(SYNQ_LOG_WARN, "alert POST failed", "status", st, "error",
                 res->error ? res->error : "", "alert", what, NULL);
    }
    free(what);
}

static void on_job_final(const synq_job_t *j, void *arg)
{
    synq_sched_t *s = arg;
    if (!j->schedule) return;
    item_t *it = synq_map_get(&s->items, j->schedule);
    if (it && it->pending_fire && it->last_job && strcmp(it->last_job, j->id) == 0)
        it->pending_fire = 0;
    if (j->state != SYNQ_JOB_DEAD) return;
    synq_log(SYNQ_LOG_ERROR, "scheduled job died", "schedule", j->schedule, "job", j->id, "type",
             j->type, "error", j->err_message ? j->err_message : "", NULL);
    if (!s->cfg.alert_url || !s->cfg.httpc) return;
    json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:o}", "type", "schedule.job_dead",
                          "schedule", j->schedule, "job_id", j->id, "job_type", j->type,
                          "fire_at", time_json(j->fire_at), "error", j->err_message,
                          "at", time_json(synq_time_now_us()));
    char *body = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    static const char *const hdrs[] = {"Content-Type: application/json"};
    synq_httpc_req_t req = {.method = "POST",
                            .url = s->cfg.alert_url,
                            .headers = hdrs,
                            .nheaders = 1,
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_ms = 10000};
    char *what = synq_strdup(j->id);
    if (synq_httpc_request(s->cfg.httpc, &req, on_alert_done, what, NULL) != 0) free(what);
    free(body);
}

/* ---- loading and catch-up ------------------------------------------------ */

static void catch_up(synq_sched_t *s, item_t *it)
{
    int64_t now = s->boot_us;
    if (it->when == WHEN_CRON && it->cron.reboot) {
        /* @reboot: once per start, keyed by the start instant */
        int64_t f = now / SYNQ_US_PER_SEC * SYNQ_US_PER_SEC;
        fire_nominal(s, it, f);
        return;
    }
    if (it->last_fire >= now) return;
    int64_t first = fire_after(it, it->last_fire);
    if (!first || first > now) return;
    char n[32];
    switch (it->catchup) {
    case CATCHUP_NONE:
        it->last_fire = now;
        record_state(s, it);
        synq_log(SYNQ_LOG_INFO, "schedule missed fires skipped (catchup none)", "schedule",
                 it->name, NULL);
        break;
    case CATCHUP_LATEST: {
        int64_t f = latest_fire(it, it->last_fire, now);
        synq_log(SYNQ_LOG_INFO, "schedule catching up the latest missed fire", "schedule",
                 it->name, NULL);
        fire_nominal(s, it, f);
        it->last_fire = now;
        record_state(s, it);
        break;
    }
    case CATCHUP_ALL: {
        int64_t from = SYNQ_MAX(it->last_fire, now - it->window_us);
        int count = 0;
        for (int64_t f = fire_after(it, from); f && f <= now && count < SYNQ_SCHED_CATCHUP_MAX;
             f = fire_after(it, f), count++)
            fire_nominal(s, it, f);
        snprintf(n, sizeof n, "%d", count);
        synq_log(SYNQ_LOG_INFO, "schedule caught up missed fires", "schedule", it->name, "fires",
                 n, NULL);
        it->last_fire = now;
        record_state(s, it);
        break;
    }
    }
}

typedef struct {
    synq_sched_t *s;
    item_t *it;
} load_ctx_t;

static void newest_run(const synq_run_row_t *r, void *arg)
{
    item_t *it = arg;
    if (r->job_id && !it->last_job) it->last_job = synq_strdup(r->job_id);
}

static void load_row(const synq_schedule_row_t *r, void *arg)
{
    synq_sched_t *s = arg;
    item_t *it = synq_calloc(1, sizeof *it);
    it->heap_idx = SYNQ_HEAP_NONE;
    char err[256];
    json_t *def = json_loads(r->spec, 0, NULL);
    if (!def || def_parse(s, def, it, err, sizeof err) != 0) {
        synq_log(SYNQ_LOG_ERROR, "stored schedule is invalid; left out", "schedule", r->name,
                 "error", def ? err : "bad JSON", NULL);
        json_decref(def);
        item_free(it);
        return;
    }
    it->def = def;
    it->name = synq_strdup(r->name);
    it->source = r->source ? synq_strdup(r->source) : NULL;
    it->paused = r->paused;
    it->last_fire = r->last_fire;
    it->created_at = r->created_at;
    it->updated_at = r->updated_at;
    synq_map_put(&s->items, it->name, it);
}

synq_sched_t *synq_sched_new(synq_engine_t *e, const synq_sched_config_t *cfg)
{
    synq_sched_t *s = synq_calloc(1, sizeof *s);
    s->e = e;
    s->store = synq_engine_store(e);
    s->cfg = *cfg;
    s->boot_us = synq_time_now_us();
    s->booting = true;
    s->rng = (uint64_t)s->boot_us * 0x9E3779B97F4A7C15ull | 1;
    synq_map_init(&s->items);
    synq_map_init(&s->tzs);
    synq_heap_init(&s->heap, wake_less, set_index);
    uv_timer_init(synq_engine_loop(e), &s->timer);
    s->timer.data = s;
    synq_engine_on_final(e, on_job_final, s);
    if (s->store->ops->schedule_load(s->store, load_row, s) != 0) {
        synq_log(SYNQ_LOG_ERROR, "cannot load schedules", NULL);
        abort();
    }
    void *iter = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&s->items, &iter, &k, &v)) {
        item_t *it = v;
        s->store->ops->run_list(s->store, it->name, 1, newest_run, it);
        const synq_job_t *j = it->last_job ? synq_engine_peek(e, it->last_job) : NULL;
        if (j && j->state == SYNQ_JOB_SCHEDULED && j->fire_at > s->boot_us)
            it->pending_fire = j->fire_at; /* prepared before the restart */
        if (!it->paused) catch_up(s, it);
        reschedule(s, it, SYNQ_MAX(it->last_fire, s->boot_us));
    }
    arm(s);
    return s;
}

static void on_timer_closed(uv_handle_t *h)
{
    synq_sched_t *s = h->data;
    void *iter = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&s->items, &iter, &k, &v)) item_free(v);
    synq_map_release(&s->items);
    iter = NULL;
    while (synq_map_next(&s->tzs, &iter, &k, &v)) synq_tz_free(v);
    synq_map_release(&s->tzs);
    synq_heap_release(&s->heap);
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done) done(arg);
}

void synq_sched_close(synq_sched_t *s, void (*done)(void *arg), void *arg)
{
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

/* ---- JSON out ------------------------------------------------------------ */

static void next_json(const item_t *it, int64_t after, int n, synq_buf_t *out)
{
    synq_buf_putc(out, '[');
    int64_t f = after;
    for (int i = 0; i < n; i++) {
        f = fire_after(it, f);
        if (!f) break;
        if (i) synq_buf_putc(out, ',');
        synq_buf_put_time(out, f);
    }
    synq_buf_putc(out, ']');
}

typedef struct {
    synq_sched_t *s;
    synq_buf_t *out;
    int n;
} runs_ctx_t;

static void run_json(const synq_run_row_t *r, void *arg)
{
    runs_ctx_t *c = arg;
    synq_buf_t *out = c->out;
    if (c->n++) synq_buf_putc(out, ',');
    synq_buf_puts(out, "{\"fire_at\":");
    synq_buf_put_time(out, r->fire_at);
    synq_buf_printf(out, ",\"kind\":\"%s\",\"job_id\":", run_kind_names[r->kind]);
    if (r->job_id)
        synq_buf_json_str(out, r->job_id, strlen(r->job_id));
    else
        synq_buf_puts(out, "null");
    const char *state = r->kind == SYNQ_RUN_SKIPPED ? "skipped" : "pruned";
    int64_t started = 0, finished = 0;
    synq_job_t *stored = NULL;
    const synq_job_t *j = r->job_id ? synq_engine_peek(c->s->e, r->job_id) : NULL;
    if (!j && r->job_id && c->s->store->ops->job_get(c->s->store, r->job_id, &stored) == 0)
        j = stored;
    if (j) {
        state = synq_job_state_name(j->state);
        started = j->started_at;
        finished = j->finished_at;
    }
    synq_buf_printf(out, ",\"state\":\"%s\",\"started_at\":", state);
    synq_buf_put_time(out, started);
    synq_buf_puts(out, ",\"finished_at\":");
    synq_buf_put_time(out, finished);
    synq_buf_puts(out, ",\"duration_ms\":");
    if (started && finished && finished >= started)
        synq_buf_printf(out, "%.3f", (double)(finished - started) / 1000.0);
    else
        synq_buf_puts(out, "null");
    synq_buf_putc(out, '}');
    synq_job_free(stored);
}

/* The schedule object: its definition with defaults filled in, state, and
 * optionally next fires and runs. */
static void item_json(synq_sched_t *s, const item_t *it, int nnext, int nruns, synq_buf_t *out)
{
    json_t *o = json_deep_copy(it->def);
    json_object_set_new(o, "name", json_string(it->name));
    if (!json_object_get(o, "tz") || json_is_null(json_object_get(o, "tz")))
        json_object_set_new(o, "tz", json_string("UTC"));
    if (!json_object_get(o, "overlap")) json_object_set_new(o, "overlap", json_string("allow"));
    if (!json_object_get(o, "catchup")) json_object_set_new(o, "catchup", json_string("latest"));
    if (!json_object_get(o, "catchup_window"))
        json_object_set_new(o, "catchup_window", json_string("1h"));
    json_object_set_new(o, "paused", json_boolean(it->paused));
    json_object_set_new(o, "source", it->source ? json_string(it->source) : json_null());
    json_object_set_new(o, "created_at", time_json(it->created_at));
    json_object_set_new(o, "updated_at", time_json(it->updated_at));
    json_object_set_new(o, "last_fire_at", it->last_fire ? time_json(it->last_fire) : json_null());
    json_object_set_new(o, "next_fire_at", it->next_fire ? time_json(it->next_fire) : json_null());
    json_object_set_new(o, "last_job_id", it->last_job ? json_string(it->last_job) : json_null());
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t len = strlen(text);
    synq_buf_append(out, text, len - 1); /* without the closing brace */
    free(text);
    if (nnext > 0) {
        synq_buf_puts(out, ",\"next\":");
        /* while paused, show what the timetable would do from now */
        next_json(it, synq_time_now_us(), nnext, out);
    }
    if (nruns > 0) {
        synq_buf_puts(out, ",\"runs\":[");
        runs_ctx_t c = {s, out, 0};
        s->store->ops->run_list(s->store, it->name, nruns, run_json, &c);
        synq_buf_putc(out, ']');
    }
    synq_buf_putc(out, '}');
}

/* ---- operations ---------------------------------------------------------- */

static void persist(synq_sched_t *s, item_t *it)
{
    json_t *def = json_deep_copy(it->def);
    json_object_del(def, "paused");
    char *spec = json_dumps(def, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(def);
    synq_schedule_row_t row = {.name = it->name,
                               .spec = spec,
                               .source = it->source,
                               .paused = it->paused,
                               .last_fire = it->last_fire,
                               .created_at = it->created_at,
                               .updated_at = it->updated_at};
    store_ok(s->store->ops->schedule_put(s->store, &row));
    free(spec);
}

int synq_sched_put(synq_sched_t *s, const char *name, const json_t *def, const char *source,
                   bool *created, synq_buf_t *out, char *err, size_t errlen)
{
    if (!name_valid(name))
        BAD("name: must be 1-%d characters of A-Z a-z 0-9 _ - . :", SYNQ_SCHED_NAME_MAX);
    item_t tmp = {.heap_idx = SYNQ_HEAP_NONE};
    if (def_parse(s, def, &tmp, err, errlen) != 0) {
        item_clear_def(&tmp);
        return SYNQ_EINVAL;
    }
    int64_t now = synq_time_now_us();
    item_t *it = synq_map_get(&s->items, name);
    *created = it == NULL;
    if (!it) {
        it = synq_calloc(1, sizeof *it);
        it->heap_idx = SYNQ_HEAP_NONE;
        it->name = synq_strdup(name);
        it->created_at = now;
        synq_map_put(&s->items, it->name, it);
    } else {
        withdraw_pending(s, it);
        unschedule(s, it);
        item_clear_def(it);
    }
    /* keep the state, take the new definition */
    tmp.name = it->name;
    tmp.created_at = it->created_at;
    tmp.last_job = it->last_job;
    tmp.heap_idx = SYNQ_HEAP_NONE;
    tmp.runs_since_prune = it->runs_since_prune;
    free(it->source);
    *it = tmp;
    it->source = source ? synq_strdup(source) : NULL;
    it->def = json_deep_copy(def);
    const json_t *p = json_object_get(def, "paused");
    it->paused = p && json_is_true(p);
    json_object_del(it->def, "paused");
    it->updated_at = now;
    it->last_fire = now; /* fires before now are not "missed" */
    persist(s, it);
    /* a crontab loaded at start brings @reboot lines that must run now;
     * the boot instant keys the fire, so a stored one does not run twice */
    if (s->booting && it->when == WHEN_CRON && it->cron.reboot && !it->paused)
        fire(s, it, s->boot_us / SYNQ_US_PER_SEC * SYNQ_US_PER_SEC, SYNQ_RUN_FIRED, NULL);
    reschedule(s, it, now);
    arm(s);
    item_json(s, it, 5, 0, out);
    return 0;
}

void synq_sched_started(synq_sched_t *s)
{
    s->booting = false;
}

void synq_sched_list(synq_sched_t *s, synq_buf_t *out)
{
    /* sorted by name: collect, then sort */
    size_t n = 0, cap = 16;
    item_t **v = synq_malloc(cap * sizeof *v);
    void *iter = NULL;
    const char *k;
    void *val;
    while (synq_map_next(&s->items, &iter, &k, &val)) {
        if (n == cap) v = synq_realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = val;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: lists are small */
        for (size_t j = i; j > 0 && strcmp(v[j - 1]->name, v[j]->name) > 0; j--) {
            item_t *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    synq_buf_puts(out, "{\"schedules\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) synq_buf_putc(out, ',');
        item_json(s, v[i], 3, 0, out);
    }
    synq_buf_puts(out, "]}");
    free(v);
}

int synq_sched_get(synq_sched_t *s, const char *name, int nnext, int nruns, synq_buf_t *out)
{
    item_t *it = synq_map_get(&s->items, name);
    if (!it) return SYNQ_ENOTFOUND;
    item_json(s, it, nnext, nruns, out);
    return 0;
}

int synq_sched_delete(synq_sched_t *s, const char *name)
{
    item_t *it = synq_map_get(&s->items, name);
    if (!it) return SYNQ_ENOTFOUND;
    withdraw_pending(s, it);
    unschedule(s, it);
    store_ok(s->store->ops->schedule_delete(s->store, name));
    synq_map_del(&s->items, name);
    item_free(it);
    arm(s);
    return 0;
}

int synq_sched_pause(synq_sched_t *s, const char *name, bool paused, synq_buf_t *out)
{
    item_t *it = synq_map_get(&s->items, name);
    if (!it) return SYNQ_ENOTFOUND;
    if (it->paused != paused) {
        int64_t now = synq_time_now_us();
        if (paused) withdraw_pending(s, it);
        it->paused = paused;
        if (!paused && it->last_fire < now) it->last_fire = now; /* no catch-up for a pause */
        record_state(s, it);
        reschedule(s, it, it->last_fire);
        arm(s);
    }
    item_json(s, it, 5, 0, out);
    return 0;
}

int synq_sched_trigger(synq_sched_t *s, const char *name, synq_buf_t *out)
{
    item_t *it = synq_map_get(&s->items, name);
    if (!it) return SYNQ_ENOTFOUND;
    int64_t t = synq_time_now_us();
    synq_buf_t job;
    synq_buf_init(&job);
    int rc;
    /* manual fires are keyed by their own microsecond; step past a clash */
    while ((rc = fire(s, it, t, SYNQ_RUN_MANUAL, &job)) == SYNQ_ECONFLICT) t++;
    synq_buf_puts(out, "{\"run\":{\"fire_at\":");
    synq_buf_put_time(out, t);
    if (job.len) {
        synq_buf_puts(out, ",\"kind\":\"manual\"},\"job\":");
        synq_buf_append(out, job.data, job.len);
    } else {
        synq_buf_puts(out, ",\"kind\":\"skipped\"},\"job\":null");
    }
    synq_buf_putc(out, '}');
    synq_buf_release(&job);
    return 0;
}

int synq_sched_next(synq_sched_t *s, const char *name, int n, synq_buf_t *out)
{
    item_t *it = synq_map_get(&s->items, name);
    if (!it) return SYNQ_ENOTFOUND;
    synq_buf_puts(out, "{\"next\":");
    next_json(it, synq_time_now_us(), n, out);
    synq_buf_putc(out, '}');
    return 0;
}

int synq_sched_preview(const char *expr, const char *tz, int64_t after_us, int n,
                       synq_buf_t *out, char *err, size_t errlen)
{
    item_t it = {.when = WHEN_CRON};
    char cerr[200];
    if (synq_cron_parse(expr, &it.cron, cerr, sizeof cerr) != 0) BAD("cron: %s", cerr);
    synq_tz_t *zone = NULL;
    it.tz = synq_tz_utc();
    if (tz && *tz) {
        char terr[160];
        zone = synq_tz_load(tz, terr, sizeof terr);
        if (!zone) BAD("tz: %s", terr);
        it.tz = zone;
    }
    synq_buf_puts(out, "{\"next\":");
    next_json(&it, after_us, n, out);
    synq_buf_putc(out, '}');
    synq_tz_free(zone);
    return 0;
}

/* ---- crontab import ------------------------------------------------------ */

/* The schedule definition for one crontab entry. */
static json_t *entry_def(const synq_crontab_entry_t *en)
{
    json_t *ex = json_object();
    json_object_set_new(ex, "shell", json_string(en->command));
    if (en->input) json_object_set_new(ex, "input", json_string(en->input));
    if (en->nenv) {
        json_t *env = json_object();
        const char *shell = NULL;
        for (size_t i = 0; i < en->nenv; i++) {
            const char *eq = strchr(en->env[i], '=');
            if (!eq) continue;
            char k[256];
            snprintf(k, sizeof k, "%.*s", (int)SYNQ_MIN((size_t)(eq - en->env[i]), 255),
                     en->env[i]);
            json_object_set_new(env, k, json_string(eq + 1));
            if (strcmp(k, "SHELL") == 0) shell = eq + 1;
        }
        json_object_set_new(ex, "env", env);
        if (shell && *shell) json_object_set_new(ex, "shell_path", json_string(shell));
    }
    json_t *d = json_object();
    json_object_set_new(d, "cron", json_string(en->expr));
    if (en->tz) json_object_set_new(d, "tz", json_string(en->tz));
    json_object_set_new(d, "exec", ex);
    char desc[128];
    snprintf(desc, sizeof desc, "crontab line %d", en->line);
    json_object_set_new(d, "description", json_string(desc));
    return d;
}

void synq_sched_name_prefix(const char *base, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = base; *p && k + 1 < n && k < 100; p++)
        out[k++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')
                       ? *p
                       : '_';
    out[k] = 0;
    if (k == 0) snprintf(out, n, "crontab");
}

static void entry_name(const char *prefix, const synq_crontab_entry_t *en, char *out, size_t n)
{
    if (en->name) {
        snprintf(out, n, "%s", en->name);
        return;
    }
    snprintf(out, n, "%s:%d", prefix, en->line);
}

static void name_list(synq_buf_t *out, const char *key, json_t *arr, bool first)
{
    char *t = json_dumps(arr, JSON_COMPACT);
    synq_buf_printf(out, "%s\"%s\":%s", first ? "" : ",", key, t);
    free(t);
}

int synq_sched_import(synq_sched_t *s, const char *source, const char *prefix,
                      const synq_crontab_t *tab, synq_buf_t *out, char *err, size_t errlen)
{
    /* validate every entry first: all or nothing */
    json_t **defs = synq_calloc(tab->n + 1, sizeof *defs);
    char (*names)[SYNQ_SCHED_NAME_MAX + 8] = synq_calloc(tab->n + 1, sizeof *names);
    int rc = 0;
    for (size_t i = 0; i < tab->n && rc == 0; i++) {
        const synq_crontab_entry_t *en = &tab->entries[i];
        entry_name(prefix, en, names[i], sizeof names[i]);
        defs[i] = entry_def(en);
        item_t tmp = {.heap_idx = SYNQ_HEAP_NONE};
        char e2[256];
        if (!name_valid(names[i])) {
            snprintf(err, errlen, "line %d: name \"%s\" is not valid", en->line, names[i]);
            rc = SYNQ_EINVAL;
        } else if (def_parse(s, defs[i], &tmp, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "line %d: %s", en->line, e2);
            rc = SYNQ_EINVAL;
        } else {
            item_t *other = synq_map_get(&s->items, names[i]);
            if (other && (!other->source || strcmp(other->source, source) != 0)) {
                snprintf(err, errlen, "line %d: schedule \"%s\" exists and was not imported from "
                                      "this file", en->line, names[i]);
                rc = SYNQ_EINVAL;
            }
            for (size_t k = 0; k < i && rc == 0; k++)
                if (strcmp(names[k], names[i]) == 0) {
                    snprintf(err, errlen, "line %d: duplicate name \"%s\"", en->line, names[i]);
                    rc = SYNQ_EINVAL;
                }
        }
        item_clear_def(&tmp);
    }
    if (rc == 0) {
        json_t *added = json_array(), *updated = json_array(), *removed = json_array(),
               *same = json_array();
        synq_buf_t scratch;
        synq_buf_init(&scratch);
        for (size_t i = 0; i < tab->n; i++) {
            item_t *old = synq_map_get(&s->items, names[i]);
            if (old && json_equal(old->def, defs[i])) {
                json_array_append_new(same, json_string(names[i]));
                continue;
            }
            bool created;
            char e2[256];
            scratch.len = 0;
            synq_sched_put(s, names[i], defs[i], source, &created, &scratch, e2, sizeof e2);
            json_array_append_new(created ? added : updated, json_string(names[i]));
        }
        synq_buf_release(&scratch);
        /* remove this source's schedules that are gone from the file */
        json_t *gone = json_array();
        void *iter = NULL;
        const char *k;
        void *v;
        while (synq_map_next(&s->items, &iter, &k, &v)) {
            item_t *it = v;
            if (!it->source || strcmp(it->source, source) != 0) continue;
            bool keep = false;
            for (size_t i = 0; i < tab->n && !keep; i++) keep = strcmp(names[i], it->name) == 0;
            if (!keep) json_array_append_new(gone, json_string(it->name));
        }
        size_t i;
        json_t *nm;
        json_array_foreach(gone, i, nm)
        {
            synq_sched_delete(s, json_string_value(nm));
            json_array_append(removed, nm);
        }
        json_decref(gone);
        synq_buf_putc(out, '{');
        name_list(out, "added", added, true);
        name_list(out, "updated", updated, false);
        name_list(out, "removed", removed, false);
        name_list(out, "unchanged", same, false);
        synq_buf_putc(out, '}');
        json_decref(added);
        json_decref(updated);
        json_decref(removed);
        json_decref(same);
    }
    for (size_t i = 0; i < tab->n; i++) json_decref(defs[i]);
    free(defs);
    free(names);
    return rc;
}
