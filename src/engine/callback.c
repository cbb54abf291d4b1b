/* Callback deliveries (see callback.h). Every delivery held in memory is in
 * the `live` map by id, in one of three places: LIMBO (its row is written
 * but not yet committed: an after-commit callback will move it on), WAITING
 * (in the heap by next_at) or RUNNING (an HTTP attempt is in flight). Only
 * pending deliveries are held; delivered and failed ones live in the store
 * alone. Every change of a delivery is written to the store before anything
 * else happens to it, so memory never runs ahead of disk by more than the
 * open transaction.
 *
 * Lifetime: the module is reference counted (the owner, the timer until its
 * close callback, and each after-commit callback registered), because the
 * engine's commit callbacks and its listeners may run after
 * synq_callbacks_close. */
#include "engine/callback.h"

#include "core/heap.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "core/webhook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RETRY_AFTER_US (24LL * 3600 * SYNQ_US_PER_SEC)
#define MAX_SECRETS 16

typedef enum { DLV_LIMBO, DLV_WAITING, DLV_RUNNING } dlv_place_t;

typedef struct dlv_s {
    synq_callbacks_t *cb;
    char *id, *job_id, *event, *url, *payload, *secrets, *traceparent, *log;
    synq_delivery_state_t state;
    int attempts;
    int64_t next_at, created_at, updated_at;
    dlv_place_t place;
    size_t heap_idx;
    synq_httpc_call_t *call;
    int64_t attempt_at; /* wall clock when the running attempt started */
} dlv_t;

struct synq_callbacks_s {
    synq_engine_t *e;
    synq_store_t *store;
    synq_httpc_t *httpc;
    int64_t schedule_us[SYNQ_CALLBACKS_MAX_SCHEDULE];
    size_t nschedule;
    uint64_t timeout_ms;
    uv_timer_t timer;
    synq_heap_t heap;
    synq_map_t live;
    int in_flight;
    uint64_t rng;
    int refs;
    bool closing;
};

static const int64_t default_schedule_us[] = {
    5 * SYNQ_US_PER_SEC,     300 * SYNQ_US_PER_SEC,   1800 * SYNQ_US_PER_SEC,
    7200 * SYNQ_US_PER_SEC,  18000 * SYNQ_US_PER_SEC, 36000 * SYNQ_US_PER_SEC,
    36000 * SYNQ_US_PER_SEC,
};

void synq_callbacks_config_init(synq_callbacks_config_t *cfg)
{
    cfg->schedule_us = default_schedule_us;
    cfg->nschedule = SYNQ_ARRAY_LEN(default_schedule_us);
    cfg->timeout_ms = SYNQ_CALLBACKS_DEFAULT_TIMEOUT_MS;
}

int synq_callbacks_parse_schedule(const char *s, int64_t *out_us, size_t max, size_t *n)
{
    if (s == NULL) return SYNQ_EINVAL;
    size_t count = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    if (*p == '\0' || strcmp(p, "none") == 0) {
        *n = 0;
        return 0;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        int64_t us;
        if (a == b || count == max || synq_duration_parse(a, (size_t)(b - a), &us) != 0)
            return SYNQ_EINVAL;
        out_us[count++] = us;
        if (*end == '\0') break;
        p = end + 1;
    }
    *n = count;
    return 0;
}

/* ---- deliveries in memory --------------------------------------------------- */

static bool dlv_less(const void *a, const void *b)
{
    const dlv_t *x = a, *y = b;
    if (x->next_at != y->next_at) return x->next_at < y->next_at;
    return strcmp(x->id, y->id) < 0; /* ids are ULIDs: older first */
}

static void dlv_set_index(void *item, size_t idx)
{
    ((dlv_t *)item)->heap_idx = idx;
}

static char *dup_or_null(const char *s)
{
    return s ? synq_strdup(s) : NULL;
}

static dlv_t *dlv_from_row(synq_callbacks_t *cb, const synq_delivery_row_t *r)
{
    dlv_t *d = synq_calloc(1, sizeof *d);
    d->cb = cb;
    d->id = synq_strdup(r->id);
    d->job_id = synq_strdup(r->job_id);
    d->event = synq_strdup(r->event);
    d->url = synq_strdup(r->url);
    d->payload = synq_strdup(r->payload ? r->payload : "");
    d->secrets = dup_or_null(r->secrets);
    d->traceparent = dup_or_null(r->traceparent);
    d->log = synq_strdup(r->log ? r->log : "[]");
    d->state = r->state;
    d->attempts = r->attempts;
    d->next_at = r->next_at;
    d->created_at = r->created_at;
    d->updated_at = r->updated_at;
    d->heap_idx = SYNQ_HEAP_NONE;
    return d;
}

static void dlv_row(const dlv_t *d, synq_delivery_row_t *r)
{
    *r = (synq_delivery_row_t){
        .id = d->id,
        .job_id = d->job_id,
        .event = d->event,
        .url = d->url,
        .payload = d->payload,
        .secrets = d->secrets,
        .traceparent = d->traceparent,
        .state = d->state,
        .attempts = d->attempts,
        .next_at = d->state == SYNQ_DELIVERY_PENDING ? d->next_at : 0,
        .created_at = d->created_at,
        .updated_at = d->updated_at,
        .log = d->log,
    };
}

static void dlv_free(dlv_t *d)
{
    free(d->id);
    free(d->job_id);
    free(d->event);
    free(d->url);
    free(d->payload);
    free(d->secrets);
    free(d->traceparent);
    free(d->log);
    free(d);
}

static void cb_unref(synq_callbacks_t *cb)
{
    if (--cb->refs > 0) return;
    synq_heap_release(&cb->heap);
    synq_map_release(&cb->live);
    free(cb);
}

/* A failed write leaves memory and disk disagreeing: stop, as the engine
 * does (engine.c store_write). */
static void store_ok(int rc)
{
    if (rc == 0) return;
    synq_log(SYNQ_LOG_ERROR, "store write failed, exiting", "error", synq_strerror(rc), NULL);
    abort();
}

static void dlv_save(synq_callbacks_t *cb, const dlv_t *d)
{
    synq_delivery_row_t row;
    dlv_row(d, &row);
    store_ok(cb->store->ops->delivery_put(cb->store, &row));
}

static uint64_t rnd(synq_callbacks_t *cb)
{
    /* xorshift64*: jitter only, no secrecy needed */
    uint64_t x = cb->rng;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    cb->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- attempts --------------------------------------------------------------- */

static void kick(synq_callbacks_t *cb);

static void on_timer(uv_timer_t *t)
{
    kick(t->data);
}

/* Runs after a commit that holds writes made outside an engine call: the
 * registration makes the engine commit this loop turn (see
 * synq_engine_after_commit), and the reference keeps cb alive until then. */
static void on_nudge(int status, void *arg)
{
    cb_unref(arg);
}

static void nudge(synq_callbacks_t *cb)
{
    cb->refs++;
    synq_engine_after_commit(cb->e, on_nudge, cb);
}

static json_t *text_json(const char *s, size_t n)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_utf8(&b, s, n);
    json_t *v = json_stringn(b.data ? b.data : "", b.len);
    synq_buf_release(&b);
    return v;
}

/* Records the attempt that just ended and decides what comes next: the row
 * is written, then d goes back to the heap (pending) or is freed. status is
 * 0 when no response came; permanent fails it whatever the status. */
static void attempt_end(dlv_t *d, int status, const char *error, const char *body, size_t body_len,
                        int64_t latency_us, int64_t retry_after_s, bool permanent)
{
    synq_callbacks_t *cb = d->cb;
    int64_t now = synq_time_now_us();
    d->attempts++;

    char at[40];
    synq_rfc3339_format(d->attempt_at, at);
    json_t *entry = json_object();
    json_object_set_new(entry, "attempt", json_integer(d->attempts));
    json_object_set_new(entry, "at", json_string(at));
    json_object_set_new(entry, "status", status ? json_integer(status) : json_null());
    json_object_set_new(entry, "latency_ms", json_real((double)latency_us / 1000.0));
    json_object_set_new(entry, "response",
                        status ? text_json(body ? body : "", body_len) : json_null());
    json_object_set_new(entry, "error", error ? text_json(error, strlen(error)) : json_null());
    json_t *log = json_loads(d->log, 0, NULL);
    if (!json_is_array(log)) {
        json_decref(log);
        log = json_array();
    }
    json_array_append_new(log, entry);
    while (json_array_size(log) > SYNQ_CALLBACKS_LOG_KEPT)
        json_array_remove(log, 0);
    free(d->log);
    d->log = json_dumps(log, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(log);
    if (d->log == NULL) abort(); /* only on OOM */

    int64_t delay = -1;
    if (status >= 200 && status <= 299) {
        d->state = SYNQ_DELIVERY_DELIVERED;
    } else if (status == 410 || permanent) {
        d->state = SYNQ_DELIVERY_FAILED; /* Standard Webhooks: 410 disables the endpoint */
    } else {
        delay = synq_webhook_retry_delay_us(cb->schedule_us, cb->nschedule, d->attempts, rnd(cb));
        if (delay >= 0 && retry_after_s >= 0) /* capped before multiplying: no overflow */
            delay = retry_after_s >= MAX_RETRY_AFTER_US / SYNQ_US_PER_SEC
                        ? MAX_RETRY_AFTER_US
                        : retry_after_s * SYNQ_US_PER_SEC;
        d->state = delay >= 0 ? SYNQ_DELIVERY_PENDING : SYNQ_DELIVERY_FAILED;
    }
    d->next_at = delay >= 0 ? now + delay : 0;
    d->updated_at = now;
    dlv_save(cb, d);
    nudge(cb);

    char st[16], lat[32], n[16];
    snprintf(st, sizeof st, "%d", status);
    snprintf(lat, sizeof lat, "%.3f", (double)latency_us / 1000.0);
    snprintf(n, sizeof n, "%d", d->attempts);
    const char *outcome = d->state == SYNQ_DELIVERY_DELIVERED ? "delivered"
                          : d->state == SYNQ_DELIVERY_FAILED  ? "failed"
                                                              : "retrying";
    /* optional fields last, packed so the first absent key ends the list */
    const char *opt[5] = {NULL};
    int no = 0;
    if (error) opt[no++] = "error", opt[no++] = error;
    if (d->traceparent) opt[no++] = "traceparent", opt[no++] = d->traceparent;
    synq_log(d->state == SYNQ_DELIVERY_DELIVERED ? SYNQ_LOG_INFO : SYNQ_LOG_WARN,
             "callback attempt", "delivery", d->id, "job", d->job_id, "event", d->event, "url",
             d->url, "attempt", n, "status", st, "latency_ms", lat, "outcome", outcome, opt[0],
             opt[1], opt[2], opt[3], NULL);

    if (d->state == SYNQ_DELIVERY_PENDING && !cb->closing) {
        d->place = DLV_WAITING;
        synq_heap_push(&cb->heap, d);
    } else {
        if (!cb->closing) synq_map_del(&cb->live, d->id);
        dlv_free(d);
    }
}

static void on_attempt_done(const synq_httpc_res_t *res, void *arg)
{
    dlv_t *d = arg;
    synq_callbacks_t *cb = d->cb;
    d->call = NULL;
    cb->in_flight--;
    attempt_end(d, res->status, res->status ? NULL : (res->error ? res->error : "request failed"),
                res->body, res->body_len, res->elapsed_us, res->retry_after_s, false);
    kick(cb);
}

/* Starts an attempt of d (taken off the heap). A request that cannot even
 * start (bad URL, bad secret) fails the delivery now: no retry would help. */
static void attempt_start(dlv_t *d)
{
    synq_callbacks_t *cb = d->cb;
    d->place = DLV_RUNNING;
    d->attempt_at = synq_time_now_us();
    int64_t ts = d->attempt_at / SYNQ_US_PER_SEC;
    char h_id[64 + 16], h_ts[48];
    snprintf(h_id, sizeof h_id, "webhook-id: %s", d->id);
    snprintf(h_ts, sizeof h_ts, "webhook-timestamp: %lld", (long long)ts);
    synq_buf_t sig, tp;
    synq_buf_init(&sig);
    synq_buf_init(&tp);
    const char *headers[6] = {"Content-Type: application/json", "User-Agent: synq", h_id, h_ts};
    size_t nh = 4;
    const char *fail = NULL;

    if (d->secrets) {
        json_t *arr = json_loads(d->secrets, 0, NULL);
        const char *secrets[MAX_SECRETS];
        size_t ns = 0;
        for (size_t i = 0; i < json_array_size(arr) && ns < MAX_SECRETS; i++)
            if (json_is_string(json_array_get(arr, i)))
                secrets[ns++] = json_string_value(json_array_get(arr, i));
        if (ns) {
            synq_buf_puts(&sig, "webhook-signature: ");
            if (synq_webhook_sign(secrets, ns, d->id, ts, d->payload, strlen(d->payload), &sig))
                fail = "invalid callback secret (expected whsec_ and base64 of 24 to 64 bytes)";
            else
                headers[nh++] = sig.data;
        }
        json_decref(arr);
    }
    if (d->traceparent) {
        synq_buf_printf(&tp, "traceparent: %s", d->traceparent);
        headers[nh++] = tp.data;
    }
    int rc = 0;
    if (!fail) {
        synq_httpc_req_t req = {
            .method = "POST",
            .url = d->url,
            .headers = headers,
            .nheaders = nh,
            .body = d->payload,
            .body_len = strlen(d->payload),
            .timeout_ms = cb->timeout_ms,
            .max_body_bytes = SYNQ_CALLBACKS_RESPONSE_BYTES,
        };
        rc = synq_httpc_request(cb->httpc, &req, on_attempt_done, d, &d->call);
        if (rc) fail = synq_strerror(rc);
    }
    synq_buf_release(&sig);
    synq_buf_release(&tp);
    if (fail) {
        attempt_end(d, 0, fail, NULL, 0, 0, -1, rc == 0 || rc == SYNQ_EINVAL);
        return;
    }
    cb->in_flight++;
}

/* Starts what is due (up to the in-flight cap) and arms the timer for the
 * next one. */
static void kick(synq_callbacks_t *cb)
{
    if (cb->closing) return;
    int64_t now = synq_time_now_us();
    dlv_t *d;
    while (cb->in_flight < SYNQ_CALLBACKS_MAX_IN_FLIGHT && (d = synq_heap_peek(&cb->heap)) &&
           d->next_at <= now) {
        synq_heap_pop(&cb->heap);
        attempt_start(d);
    }
    d = synq_heap_peek(&cb->heap);
    if (d && cb->in_flight < SYNQ_CALLBACKS_MAX_IN_FLIGHT) {
        int64_t wait_us = d->next_at - now;
        uint64_t ms =
            wait_us <= 0 ? 0 : (uint64_t)((wait_us + SYNQ_US_PER_MS - 1) / SYNQ_US_PER_MS);
        uv_timer_start(&cb->timer, on_timer, ms, 0);
    } else {
        uv_timer_stop(&cb->timer); /* a finishing attempt kicks again */
    }
}

/* ---- creating deliveries ------------------------------------------------------ */

/* The row of d is committed: it may be attempted. */
static void on_row_committed(int status, void *arg)
{
    dlv_t *d = arg;
    synq_callbacks_t *cb = d->cb;
    if (cb->closing || status != 0) {
        /* closing: the committed row stays pending for the next start */
        if (!cb->closing) synq_map_del(&cb->live, d->id);
        dlv_free(d);
    } else {
        d->place = DLV_WAITING;
        synq_heap_push(&cb->heap, d);
        kick(cb);
    }
    cb_unref(cb);
}

/* Holds d (pending, its row written) until the open transaction commits. */
static void dlv_hold(synq_callbacks_t *cb, dlv_t *d)
{
    if (cb->closing) {
        dlv_free(d);
        return;
    }
    d->place = DLV_LIMBO;
    synq_map_put(&cb->live, d->id, d);
    cb->refs++;
    synq_engine_after_commit(cb->e, on_row_committed, d);
}

/* Writes a new pending delivery of payload (taken) for the callback JSON
 * text callback ({"url", "secrets"?}). */
static void deliver(synq_callbacks_t *cb, const char *callback, const char *subject_id,
                    const char *event, char *payload, const char *traceparent)
{
    json_t *c = json_loads(callback, 0, NULL);
    const char *url = json_string_value(json_object_get(c, "url"));
    if (url == NULL) {
        synq_log(SYNQ_LOG_WARN, "callback without a url ignored", "job", subject_id, NULL);
        json_decref(c);
        free(payload);
        return;
    }
    char id[32];
    synq_engine_new_id(cb->e, id);
    int64_t now = synq_time_now_us();
    synq_delivery_row_t row = {
        .id = id,
        .job_id = subject_id,
        .event = event,
        .url = url,
        .payload = payload,
        .traceparent = traceparent,
        .state = SYNQ_DELIVERY_PENDING,
        .next_at = now,
        .created_at = now,
        .updated_at = now,
        .log = "[]",
    };
    char *secrets = NULL;
    const json_t *sec = json_object_get(c, "secrets");
    if (json_is_string(sec)) { /* a single secret, in case a caller stored one */
        json_t *one = json_pack("[O]", sec);
        secrets = json_dumps(one, JSON_COMPACT);
        json_decref(one);
    } else if (json_is_array(sec) && json_array_size(sec) > 0) {
        secrets = json_dumps(sec, JSON_COMPACT);
    }
    row.secrets = secrets;
    dlv_t *d = dlv_from_row(cb, &row);
    dlv_save(cb, d);
    dlv_hold(cb, d);
    free(secrets);
    free(payload);
    json_decref(c);
}

/* {"type","timestamp","data"}: the Standard Webhooks payload shape. data
 * (JSON text) is parsed so the body is one canonical serialisation. */
static char *event_payload(const char *type, const char *data, const char *progress)
{
    char ts[40];
    synq_rfc3339_format(synq_time_now_us(), ts);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "timestamp", json_string(ts));
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    if (d && progress && json_is_object(d)) {
        json_t *p = json_loads(progress, JSON_DECODE_ANY, NULL);
        json_object_set_new(d, "progress", p ? p : json_null());
    }
    json_object_set_new(o, "data", d ? d : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s == NULL) abort(); /* only on OOM */
    return s;
}

static void on_job_event(const synq_jobev_t *ev, void *arg)
{
    synq_callbacks_t *cb = arg;
    const synq_job_t *j = ev->job;
    int bit;
    const char *type;
    if (ev->kind == SYNQ_JOBEV_PROGRESS) {
        bit = SYNQ_CB_PROGRESS, type = "job.progress";
    } else if (ev->kind != SYNQ_JOBEV_STATE) {
        return;
    } else if (j->state == SYNQ_JOB_COMPLETED) {
        bit = SYNQ_CB_COMPLETED, type = "job.completed";
    } else if (j->state == SYNQ_JOB_DEAD) {
        bit = SYNQ_CB_DEAD, type = "job.dead";
    } else if (j->state == SYNQ_JOB_CANCELLED) {
        bit = SYNQ_CB_CANCELLED, type = "job.cancelled";
    } else {
        return;
    }
    /* the job's own callback replaces its queue's */
    const char *callback = j->callback ? j->callback : synq_engine_queue_callback(cb->e, j->queue);
    if (!(synq_job_callback_events(callback) & bit)) return;
    synq_buf_t job;
    synq_buf_init(&job);
    synq_job_to_json(j, &job); /* leaves the secrets out */
    char *payload =
        event_payload(type, job.data, ev->kind == SYNQ_JOBEV_PROGRESS ? ev->data : NULL);
    synq_buf_release(&job);
    deliver(cb, callback, j->id, type, payload, j->traceparent);
}

static void on_batch_done(const char *batch_id, const char *batch_json, const char *callback,
                          void *arg)
{
    if (callback == NULL) return;
    synq_callbacks_t *cb = arg;
    deliver(cb, callback, batch_id, "batch.complete",
            event_payload("batch.complete", batch_json, NULL), NULL);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void load_pending(const synq_delivery_row_t *row, void *arg)
{
    synq_callbacks_t *cb = arg;
    if (synq_map_get(&cb->live, row->id)) return;
    dlv_t *d = dlv_from_row(cb, row);
    d->place = DLV_WAITING;
    synq_map_put(&cb->live, d->id, d);
    synq_heap_push(&cb->heap, d);
}

static void free_live(synq_callbacks_t *cb)
{
    void *it = NULL, *v;
    while (synq_map_next(&cb->live, &it, NULL, &v)) {
        dlv_t *d = v;
        if (d->place == DLV_LIMBO) continue; /* its commit callback frees it */
        if (d->call) synq_httpc_cancel(cb->httpc, d->call);
        dlv_free(d);
    }
    synq_map_release(&cb->live);
    synq_map_init(&cb->live);
    synq_heap_release(&cb->heap);
    synq_heap_init(&cb->heap, dlv_less, dlv_set_index);
    cb->in_flight = 0;
}

synq_callbacks_t *synq_callbacks_new(synq_engine_t *e, synq_httpc_t *httpc,
                                     const synq_callbacks_config_t *cfg)
{
    synq_callbacks_config_t def;
    if (cfg == NULL) synq_callbacks_config_init(&def), cfg = &def;
    synq_callbacks_t *cb = synq_calloc(1, sizeof *cb);
    cb->e = e;
    cb->store = synq_engine_store(e);
    cb->httpc = httpc;
    cb->nschedule = SYNQ_MIN(cfg->nschedule, (size_t)SYNQ_CALLBACKS_MAX_SCHEDULE);
    if (cb->nschedule) memcpy(cb->schedule_us, cfg->schedule_us, cb->nschedule * sizeof(int64_t));
    cb->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : SYNQ_CALLBACKS_DEFAULT_TIMEOUT_MS;
    cb->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)cb) | 1;
    cb->refs = 1;
    synq_heap_init(&cb->heap, dlv_less, dlv_set_index);
    synq_map_init(&cb->live);
    int rc = cb->store->ops->delivery_load_pending(cb->store, load_pending, cb);
    if (rc) {
        synq_log(SYNQ_LOG_ERROR, "cannot load callback deliveries", "error", synq_strerror(rc),
                 NULL);
        free_live(cb);
        cb_unref(cb);
        return NULL;
    }
    if (cb->live.len) {
        char n[24];
        snprintf(n, sizeof n, "%zu", cb->live.len);
        synq_log(SYNQ_LOG_INFO, "callback deliveries pending", "count", n, NULL);
    }
    uv_timer_init(synq_engine_loop(e), &cb->timer);
    cb->timer.data = cb;
    cb->refs++; /* the timer's, dropped in its close callback */
    synq_engine_on_event(e, on_job_event, cb);
    synq_engine_on_batch_done(e, on_batch_done, cb);
    kick(cb);
    return cb;
}

static void on_timer_closed(uv_handle_t *h)
{
    cb_unref(h->data);
}

void synq_callbacks_close(synq_callbacks_t *cb)
{
    if (cb == NULL || cb->closing) return;
    cb->closing = true;
    free_live(cb);
    uv_timer_stop(&cb->timer);
    uv_close((uv_handle_t *)&cb->timer, on_timer_closed);
}

void synq_callbacks_free(synq_callbacks_t *cb)
{
    if (cb == NULL) return;
    synq_callbacks_close(cb);
    cb_unref(cb);
}

/* ---- inspection and replay ------------------------------------------------------ */

static void put_time(synq_buf_t *out, const char *key, int64_t us)
{
    synq_buf_printf(out, ",\"%s\":", key);
    synq_buf_put_time(out, us);
}

static void row_json(const synq_delivery_row_t *r, synq_buf_t *out)
{
    static const char *const states[] = {"pending", "delivered", "failed"};
    synq_buf_puts(out, "{\"id\":");
    synq_buf_json_str(out, r->id, strlen(r->id));
    synq_buf_puts(out, ",\"job_id\":");
    synq_buf_json_str(out, r->job_id, strlen(r->job_id));
    synq_buf_puts(out, ",\"event\":");
    synq_buf_json_str(out, r->event, strlen(r->event));
    synq_buf_puts(out, ",\"url\":");
    synq_buf_json_str(out, r->url, strlen(r->url));
    synq_buf_printf(out, ",\"state\":\"%s\",\"attempts\":%d",
                    (unsigned)r->state < SYNQ_ARRAY_LEN(states) ? states[r->state] : "pending",
                    r->attempts);
    put_time(out, "next_at", r->state == SYNQ_DELIVERY_PENDING ? r->next_at : 0);
    put_time(out, "created_at", r->created_at);
    put_time(out, "updated_at", r->updated_at);
    synq_buf_puts(out, ",\"attempts_log\":");
    synq_buf_puts(out, r->log && *r->log ? r->log : "[]");
    synq_buf_putc(out, '}');
}

typedef struct {
    synq_buf_t *out;
    int n;
} list_ctx_t;

static void list_row(const synq_delivery_row_t *row, void *arg)
{
    list_ctx_t *c = arg;
    if (c->n++) synq_buf_putc(c->out, ',');
    row_json(row, c->out);
}

int synq_callbacks_list(synq_callbacks_t *cb, const char *job_id, synq_buf_t *out)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "{\"deliveries\":[");
    list_ctx_t c = {&b, 0};
    int rc = cb->store->ops->delivery_list(cb->store, job_id, list_row, &c);
    if (rc == 0) {
        synq_buf_puts(&b, "]}");
        synq_buf_append(out, b.data, b.len);
    }
    synq_buf_release(&b);
    return rc;
}

static void get_row(const synq_delivery_row_t *row, void *arg)
{
    row_json(row, arg);
}

int synq_callbacks_get(synq_callbacks_t *cb, const char *delivery_id, synq_buf_t *out)
{
    synq_buf_t b;
    synq_buf_init(&b);
    int rc = cb->store->ops->delivery_get(cb->store, delivery_id, get_row, &b);
    if (rc == 0 && b.len == 0) rc = SYNQ_ENOTFOUND;
    if (rc == 0) synq_buf_append(out, b.data, b.len);
    synq_buf_release(&b);
    return rc;
}

typedef struct {
    synq_callbacks_t *cb;
    dlv_t *d;
} load_ctx_t;

static void load_row(const synq_delivery_row_t *row, void *arg)
{
    load_ctx_t *c = arg;
    if (c->d == NULL) c->d = dlv_from_row(c->cb, row);
}

int synq_callbacks_replay(synq_callbacks_t *cb, const char *delivery_id, synq_buf_t *out)
{
    int64_t now = synq_time_now_us();
    synq_delivery_row_t row;
    dlv_t *d = cb->closing ? NULL : synq_map_get(&cb->live, delivery_id);
    if (d) {
        /* pending already: bring it forward (a running attempt decides itself) */
        if (d->place != DLV_RUNNING) {
            d->next_at = now;
            d->updated_at = now;
            dlv_save(cb, d);
            nudge(cb);
            if (d->place == DLV_WAITING) {
                synq_heap_update(&cb->heap, d->heap_idx);
                kick(cb);
            }
        }
        dlv_row(d, &row);
        row_json(&row, out);
        return 0;
    }
    load_ctx_t c = {cb, NULL};
    int rc = cb->store->ops->delivery_get(cb->store, delivery_id, load_row, &c);
    if (rc == 0 && c.d == NULL) rc = SYNQ_ENOTFOUND;
    if (rc) {
        if (c.d) dlv_free(c.d);
        return rc;
    }
    d = c.d;
    if (d->state != SYNQ_DELIVERY_PENDING) d->attempts = 0; /* a fresh schedule */
    d->state = SYNQ_DELIVERY_PENDING;
    d->next_at = now;
    d->updated_at = now;
    dlv_save(cb, d);
    dlv_row(d, &row);
    row_json(&row, out);
    synq_log(SYNQ_LOG_INFO, "callback replay", "delivery", d->id, "job", d->job_id, NULL);
    dlv_hold(cb, d); /* due once the replay is committed */
    return 0;
}
