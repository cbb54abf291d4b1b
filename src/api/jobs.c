/* Job endpoints: enqueue (one and bulk), fetch (with long-poll), ack, fail,
 * heartbeat, bulk ack, get, list, retry, cancel, delete. */
#include "api/internal.h"

#include "engine/executor.h"

#include "core/id.h"
#include "core/map.h"
#include "core/timeutil.h"

#include <openssl/evp.h>
#include <strings.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BULK 10000
#define MAX_FETCH 1000
#define MAX_WAIT_US (300LL * SYNQ_US_PER_SEC)
#define MAX_WORKER_LEN 256

/* ---- waiting for a result (Prefer: wait, ?wait=) ------------------------------ */

typedef struct result_waiter_s {
    synq_results_t *r;
    synq_http_req_t *req;
    char *id;
    uv_timer_t timer;
    bool is_get;          /* GET ?wait: on timeout answer 200 with the current state */
    char applied[64];     /* Preference-Applied value, or "" */
    synq_buf_t body;      /* the final job, once known */
    struct result_waiter_s *next, *prev; /* of the same job */
} result_waiter_t;

typedef struct idem_flight_s {
    char *key;
    synq_results_t *r; /* NULL once the registry is gone (shutdown) */
} idem_flight_t;

struct synq_results_s {
    synq_api_t *api;
    synq_map_t by_id;    /* job id -> first result_waiter_t */
    synq_map_t inflight; /* Idempotency-Key -> idem_flight_t, until committed */
};

static void on_waiter_closed(uv_handle_t *h)
{
    result_waiter_t *w = h->data;
    synq_buf_release(&w->body);
    free(w->id);
    free(w);
}

static void waiter_unlink(result_waiter_t *w)
{
    synq_results_t *r = w->r;
    if (w->prev) {
        w->prev->next = w->next;
    } else if (w->next) {
        synq_map_put(&r->by_id, w->next->id, w->next);
    } else if (synq_map_get(&r->by_id, w->id) == w) {
        synq_map_del(&r->by_id, w->id);
    }
    if (w->next) w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

static void waiter_close(result_waiter_t *w)
{
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void respond_json(synq_http_req_t *req, int status, const char *headers, const synq_buf_t *b)
{
    synq_http_respond(req, status, "application/json", headers, b->data, b->len);
}

static void accepted_headers(char *hdr, size_t n, const char *id, const char *applied)
{
    snprintf(hdr, n, "Location: /v1/jobs/%s\r\nRetry-After: 1\r\n%s%s%s", id,
             applied[0] ? "Preference-Applied: " : "", applied, applied[0] ? "\r\n" : "");
}

static void on_wait_timeout(uv_timer_t *t)
{
    result_waiter_t *w = t->data;
    waiter_unlink(w);
    synq_buf_t b;
    synq_buf_init(&b);
    char hdr[512];
    if (synq_engine_get(w->r->api->engine, w->id, &b) != 0) synq_buf_puts(&b, "{}");
    if (w->is_get) {
        snprintf(hdr, sizeof hdr, "Preference-Applied: %s\r\n", w->applied);
        respond_json(w->req, 200, w->applied[0] ? hdr : NULL, &b);
    } else {
        accepted_headers(hdr, sizeof hdr, w->id, w->applied);
        respond_json(w->req, 202, hdr, &b);
    }
    synq_buf_release(&b);
    waiter_close(w);
}

static void on_waiter_abort(synq_http_req_t *req, void *arg)
{
    result_waiter_t *w = arg;
    waiter_unlink(w);
    synq_http_respond(req, 499, NULL, NULL, NULL, 0); /* only frees: the client is gone */
    waiter_close(w);
}

/* The final job's answer goes out after the transaction that made it final. */
static void on_final_committed(int status, void *arg)
{
    result_waiter_t *w = arg;
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Preference-Applied: %s\r\n", w->applied);
    respond_json(w->req, 200, w->applied[0] ? hdr : NULL, &w->body);
    waiter_close(w);
}

static void on_job_event(const synq_jobev_t *ev, void *arg)
{
    synq_results_t *r = arg;
    if (ev->kind != SYNQ_JOBEV_STATE || !synq_job_state_terminal(ev->job->state)) return;
    result_waiter_t *w = synq_map_del(&r->by_id, ev->job->id);
    while (w) {
        result_waiter_t *next = w->next;
        w->next = w->prev = NULL;
        uv_timer_stop(&w->timer);
        synq_http_req_on_abort(w->req, NULL, NULL);
        synq_job_to_json(ev->job, &w->body);
        synq_engine_after_commit(r->api->engine, on_final_committed, w);
        w = next;
    }
}

/* Holds req until job id is final or wait_ms passes. */
static void wait_for(synq_api_t *api, synq_http_req_t *req, const char *id, uint64_t wait_ms,
                     bool is_get, const char *applied)
{
    synq_results_t *r = api->results;
    result_waiter_t *w = synq_calloc(1, sizeof *w);
    w->r = r;
    w->req = req;
    w->id = synq_strdup(id);
    w->is_get = is_get;
    snprintf(w->applied, sizeof w->applied, "%s", applied ? applied : "");
    synq_buf_init(&w->body);
    uv_timer_init(synq_engine_loop(api->engine), &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_timeout, wait_ms, 0);
    result_waiter_t *head = synq_map_get(&r->by_id, w->id);
    if (head) {
        w->next = head->next;
        if (head->next) head->next->prev = w;
        head->next = w;
        w->prev = head;
    } else {
        synq_map_put(&r->by_id, w->id, w);
    }
    synq_http_req_on_abort(req, on_waiter_abort, w);
}

void synq_api_results_init(synq_api_t *api)
{
    synq_results_t *r = synq_calloc(1, sizeof *r);
    r->api = api;
    synq_map_init(&r->by_id);
    synq_map_init(&r->inflight);
    api->results = r;
    synq_engine_on_event(api->engine, on_job_event, r);
}

void synq_api_results_close(synq_api_t *api)
{
    synq_results_t *r = api->results;
    if (r == NULL) return;
    /* answer every waiting request with where to look later */
    for (;;) {
        void *it = NULL, *v;
        if (!synq_map_next(&r->by_id, &it, NULL, &v)) break;
        on_wait_timeout(&((result_waiter_t *)v)->timer);
    }
    /* keys still in flight are freed by their commit callbacks, which run
     * at the engine's last commit */
    void *it = NULL, *v;
    while (synq_map_next(&r->inflight, &it, NULL, &v)) ((idem_flight_t *)v)->r = NULL;
    synq_map_release(&r->by_id);
    synq_map_release(&r->inflight);
    free(r);
    api->results = NULL;
}

/* ---- Prefer (RFC 7240) ------------------------------------------------------------ */

typedef struct {
    bool respond_async;
    int64_t wait_us; /* 0 = not asked */
} prefer_t;

/* Reads Prefer: wait=N / respond-async and ?wait=D. false (and replied 422)
 * for a bad ?wait; unknown or bad preferences are ignored, as RFC 7240 §2
 * asks. */
static bool read_prefer(synq_api_ctx_t *ctx, prefer_t *p)
{
    memset(p, 0, sizeof *p);
    const char *h = synq_http_req_header(ctx->req, "prefer");
    while (h && *h) {
        while (*h == ' ' || *h == ',' || *h == '\t') h++;
        size_t n = strcspn(h, ",");
        if (n >= 13 && strncasecmp(h, "respond-async", 13) == 0) {
            p->respond_async = true;
        } else if (n > 5 && strncasecmp(h, "wait=", 5) == 0) {
            long v = strtol(h + 5, NULL, 10);
            if (v > 0) p->wait_us = (int64_t)v * SYNQ_US_PER_SEC;
        }
        h += n;
    }
    char q[32];
    if (synq_http_req_query(ctx->req, "wait", q, sizeof q) >= 0) {
        int64_t us;
        if (synq_duration_parse(q, strlen(q), &us) != 0 || us > MAX_WAIT_US) {
            synq_api_error(ctx, 422, "invalid_field", "wait: must be a duration of at most 5m",
                           "wait");
            return false;
        }
        p->wait_us = us;
    }
    if (p->wait_us > MAX_WAIT_US) p->wait_us = MAX_WAIT_US;
    return true;
}

/* ---- Idempotency-Key ------------------------------------------------------------- */

static void fingerprint(const synq_http_req_t *req, char out[65])
{
    unsigned char md[32];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) abort();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, req->method_name ? req->method_name : "", strlen(req->method_name ? req->method_name : ""));
    EVP_DigestUpdate(c, " ", 1);
    EVP_DigestUpdate(c, req->path, strlen(req->path));
    EVP_DigestUpdate(c, "\n", 1);
    EVP_DigestUpdate(c, req->body.data, req->body.len);
    EVP_DigestFinal_ex(c, md, NULL);
    EVP_MD_CTX_free(c);
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

/* Checks the request's Idempotency-Key. Returns true when the request was
 * answered here (a replay, a mismatch, one in flight, a bad key); else
 * false with key (or NULL when none) and fp for synq_api_idem_record. */
bool synq_api_idem_check(synq_api_ctx_t *ctx, const char **key, char fp[65])
{
    *key = synq_http_req_header(ctx->req, "idempotency-key");
    if (*key == NULL) return false;
    size_t n = strlen(*key);
    bool ok = n >= 1 && n <= 255;
    for (size_t i = 0; ok && i < n; i++) ok = (*key)[i] > 0x20 && (*key)[i] < 0x7f;
    if (!ok) {
        synq_api_error(ctx, 400, "invalid_idempotency_key",
                       "Idempotency-Key: must be 1 to 255 visible ASCII characters", NULL);
        return true;
    }
    synq_results_t *r = ctx->api->results;
    if (synq_map_get(&r->inflight, *key)) {
        synq_api_error(ctx, 409, "idempotency_in_flight",
                       "a request with this Idempotency-Key is still being processed; retry it",
                       NULL);
        return true;
    }
    fingerprint(ctx->req, fp);
    synq_store_t *st = synq_engine_store(ctx->engine);
    synq_idem_row_t row;
    if (st->ops->idem_get(st, *key, &row) != 0) return false;
    if (strcmp(row.fingerprint, fp) != 0) {
        synq_api_error(ctx, 422, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request", NULL);
        return true;
    }
    synq_buf_t b;
    synq_buf_init(&b);
    if (row.job_id && synq_engine_get(ctx->engine, row.job_id, &b) == 0) {
        synq_http_respond(ctx->req, 200, "application/json", "Idempotent-Replayed: true\r\n",
                          b.data, b.len);
    } else {
        synq_http_respond(ctx->req, row.status == 201 || row.status == 202 ? 200 : row.status,
                          "application/json", "Idempotent-Replayed: true\r\n",
                          row.body ? row.body : "", row.body ? strlen(row.body) : 0);
    }
    synq_buf_release(&b);
    return true;
}

static void on_idem_committed(int status, void *arg)
{
    idem_flight_t *f = arg;
    (void)status;
    if (f->r && synq_map_get(&f->r->inflight, f->key) == f) synq_map_del(&f->r->inflight, f->key);
    free(f->key);
    free(f);
}

/* Stores the answer under the key (same transaction as the write) and
 * marks the key in flight until the commit. */
void synq_api_idem_record(synq_api_ctx_t *ctx, const char *key, const char *fp, int status,
                          const char *job_id, const synq_buf_t *body)
{
    if (key == NULL) return;
    synq_store_t *st = synq_engine_store(ctx->engine);
    synq_idem_row_t row = {.key = key, .fingerprint = fp, .status = status, .job_id = job_id,
                           .body = body->data, .created_at = synq_time_now_us()};
    if (st->ops->idem_put(st, &row) != 0) return;
    synq_results_t *r = ctx->api->results;
    idem_flight_t *f = synq_calloc(1, sizeof *f);
    f->key = synq_strdup(key);
    f->r = r;
    synq_map_put(&r->inflight, f->key, f);
    synq_engine_after_commit(ctx->engine, on_idem_committed, f);
}


/* ---- enqueue -------------------------------------------------------------------- */

typedef struct {
    synq_api_t *api;
    synq_http_req_t *req;
    char *id;
    prefer_t prefer;
} posted_t;

/* After the enqueue committed: answer now, or hold until the job is final. */
static void on_posted(int status, void *arg)
{
    posted_t *p = arg;
    synq_buf_t b;
    synq_buf_init(&b);
    if (status != 0) {
        synq_http_respond_error(p->req, 503, "unavailable", "the store failed to commit", NULL);
    } else if (synq_engine_peek(p->api->engine, p->id) == NULL) {
        synq_engine_get(p->api->engine, p->id, &b); /* final already */
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Preference-Applied: wait=%lld\r\n",
                 (long long)((p->prefer.wait_us + SYNQ_US_PER_SEC - 1) / SYNQ_US_PER_SEC));
        respond_json(p->req, 200, hdr, &b);
    } else {
        char applied[32];
        snprintf(applied, sizeof applied, "wait=%lld",
                 (long long)((p->prefer.wait_us + SYNQ_US_PER_SEC - 1) / SYNQ_US_PER_SEC));
        wait_for(p->api, p->req, p->id, (uint64_t)(p->prefer.wait_us / 1000), false, applied);
    }
    synq_buf_release(&b);
    free(p->id);
    free(p);
}

typedef struct {
    synq_http_req_t *req;
    int status;
    char headers[300];
    synq_buf_t body;
} reply_t;

static void on_reply_committed(int status, void *arg)
{
    reply_t *r = arg;
    if (status == 0)
        respond_json(r->req, r->status, r->headers[0] ? r->headers : NULL, &r->body);
    else
        synq_http_respond_error(r->req, 503, "unavailable", "the store failed to commit", NULL);
    synq_buf_release(&r->body);
    free(r);
}

static void reply_committed_hdr(synq_api_ctx_t *ctx, int status, const char *headers,
                                synq_buf_t *body)
{
    reply_t *r = synq_calloc(1, sizeof *r);
    r->req = ctx->req;
    r->status = status;
    snprintf(r->headers, sizeof r->headers, "%s", headers ? headers : "");
    r->body = *body;
    synq_buf_init(body);
    synq_engine_after_commit(ctx->engine, on_reply_committed, r);
}

/* Builds jobs from a request's JSON (one object, or an array for bulk),
 * with the request's traceparent. false when it replied an error. */
bool synq_api_jobs_parse(synq_api_ctx_t *ctx, const json_t *arr, size_t n, bool many,
                         const char *prefix_name, synq_job_t **jobs)
{
    int64_t now = synq_time_now_us();
    const char *tp = synq_http_req_header(ctx->req, "traceparent");
    if (tp && !synq_traceparent_valid(tp)) tp = NULL; /* W3C: ignore an invalid one */
    for (size_t made = 0; made < n; made++) {
        char err[256];
        jobs[made] = synq_job_from_json(many ? json_array_get(arr, made) : arr, now, err, sizeof err);
        if (jobs[made] && synq_executor_job_check(jobs[made]->type, jobs[made]->args, err,
                                                  sizeof err) != 0) {
            synq_job_free(jobs[made]);
            jobs[made] = NULL;
        }
        if (jobs[made] == NULL) {
            char prefix[48] = "";
            if (many) snprintf(prefix, sizeof prefix, "%s[%zu].", prefix_name, made);
            synq_api_invalid(ctx, prefix, err);
            for (size_t i = 0; i < made; i++) synq_job_free(jobs[i]);
            return false;
        }
        if (tp && jobs[made]->traceparent == NULL) jobs[made]->traceparent = synq_strdup(tp);
    }
    return true;
}

/* Replies to an enqueue error from the engine. */
void synq_api_enqueue_error(synq_api_ctx_t *ctx, int rc, synq_job_t **jobs, size_t bad,
                            bool many, const char *prefix_name)
{
    char msg[300], field[64];
    if (rc == SYNQ_ECONFLICT) {
        snprintf(msg, sizeof msg, "a job with id %s exists already", jobs[bad]->id);
        snprintf(field, sizeof field, many ? "%s[%zu].id" : "id", prefix_name, bad);
        synq_http_respond_error(ctx->req, 409, "conflict", msg, field);
    } else if (rc == SYNQ_ENOTFOUND) {
        snprintf(field, sizeof field, many ? "%s[%zu].depends_on" : "depends_on", prefix_name,
                 bad);
        snprintf(msg, sizeof msg, "%s: names a job that does not exist", field);
        synq_http_respond_error(ctx->req, 422, "invalid_field", msg, field);
    } else {
        synq_api_engine_error(ctx, rc, "job");
    }
}

static void enqueue(synq_api_ctx_t *ctx, bool bulk)
{
    prefer_t prefer;
    const char *key;
    char fp[65];
    if (!read_prefer(ctx, &prefer) || synq_api_idem_check(ctx, &key, fp)) return;
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const json_t *arr = body;
    if (bulk && json_is_object(body)) arr = json_object_get(body, "jobs");
    if (bulk && !json_is_array(arr)) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must be an array of jobs", "jobs");
        goto out;
    }
    size_t n = bulk ? json_array_size(arr) : 1;
    if (bulk && (n == 0 || n > MAX_BULK)) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must hold 1 to 10000 jobs", "jobs");
        goto out;
    }
    synq_job_t **jobs = synq_calloc(n, sizeof *jobs);
    if (!synq_api_jobs_parse(ctx, arr, n, bulk, "jobs", jobs)) {
        free(jobs);
        goto out;
    }
    synq_buf_t res;
    synq_buf_init(&res);
    if (bulk) synq_buf_puts(&res, "{\"jobs\":");
    size_t bad = 0;
    int rc = synq_engine_enqueue(ctx->engine, jobs, n, bulk, &res, &bad);
    if (rc != 0) {
        synq_api_enqueue_error(ctx, rc, jobs, bad, bulk, "jobs");
        for (size_t i = 0; i < n; i++) synq_job_free(jobs[i]);
    } else if (bulk) {
        synq_buf_putc(&res, '}');
        synq_api_idem_record(ctx, key, fp, 201, NULL, &res);
        synq_api_reply_committed(ctx, 201, &res);
    } else {
        /* the answer names the job: created, or the unique job it
         * duplicates. synq_job_to_json starts with {"id":"...", and ids
         * are plain characters (synq_id_valid), so no parse is needed */
        char id[SYNQ_NAME_MAX + 1];
        const char *at = res.data + sizeof "{\"id\":\"" - 1;
        size_t idlen = strcspn(at, "\"");
        snprintf(id, sizeof id, "%.*s", (int)SYNQ_MIN(idlen, (size_t)SYNQ_NAME_MAX), at);
        bool dup = jobs[0] == NULL;
        int status = dup ? 200 : 201;
        char hdr[300];
        snprintf(hdr, sizeof hdr, "Location: /v1/jobs/%s\r\n", id);
        if (prefer.respond_async) {
            status = 202;
            snprintf(hdr, sizeof hdr,
                     "Location: /v1/jobs/%s\r\nRetry-After: 1\r\nPreference-Applied: respond-async\r\n",
                     id);
        }
        synq_api_idem_record(ctx, key, fp, status, id, &res);
        if (prefer.wait_us > 0 && !prefer.respond_async) {
            posted_t *p = synq_calloc(1, sizeof *p);
            p->api = ctx->api;
            p->req = ctx->req;
            p->id = synq_strdup(id);
            p->prefer = prefer;
            synq_engine_after_commit(ctx->engine, on_posted, p);
        } else {
            reply_committed_hdr(ctx, status, hdr, &res);
        }
    }
    synq_buf_release(&res);
    free(jobs);
out:
    json_decref(body);
}

void synq_api_jobs_create(synq_api_ctx_t *ctx)
{
    enqueue(ctx, false);
}

void synq_api_jobs_bulk(synq_api_ctx_t *ctx)
{
    enqueue(ctx, true);
}

/* Reads the optional "worker" member; replies 422 and returns false if bad. */
static bool worker_field(synq_api_ctx_t *ctx, const json_t *body, const char **worker)
{
    const json_t *w = body ? json_object_get(body, "worker") : NULL;
    *worker = "";
    if (w == NULL || json_is_null(w)) return true;
    if (!json_is_string(w) || json_string_length(w) > MAX_WORKER_LEN) {
        synq_api_error(ctx, 422, "invalid_field", "worker: must be a string of at most 256 bytes",
                       "worker");
        return false;
    }
    *worker = json_string_value(w);
    return true;
}

static bool object_body(synq_api_ctx_t *ctx, json_t *body)
{
    if (body == NULL || json_is_object(body)) return true;
    synq_api_error(ctx, 422, "invalid_field", "body: must be a JSON object", NULL);
    return false;
}

/* ---- fetch --------------------------------------------------------------- */

static void on_fetch_done(const synq_buf_t *jobs, int n, const char *cancel, void *arg)
{
    synq_http_req_t *req = arg;
    if (cancel) {
        /* jobs this worker holds were cancelled: tell it now */
        synq_buf_t b;
        synq_buf_init(&b);
        synq_buf_printf(&b, "{\"jobs\":[],\"cancel\":%s}", cancel);
        synq_http_respond(req, 200, "application/json", NULL, b.data, b.len);
        synq_buf_release(&b);
        return;
    }
    if (n == 0) {
        synq_http_respond(req, 204, NULL, NULL, NULL, 0);
        return;
    }
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "{\"jobs\":");
    synq_buf_append(&b, jobs->data, jobs->len);
    synq_buf_putc(&b, '}');
    synq_http_respond(req, 200, "application/json", NULL, b.data, b.len);
    synq_buf_release(&b);
}

static void on_fetch_abort(synq_http_req_t *req, void *arg)
{
    synq_engine_t *e = arg;
    synq_fetch_waiter_t *w = req->data;
    synq_engine_fetch_cancel(e, w);
    synq_http_respond(req, 204, NULL, NULL, NULL, 0); /* only frees: the client is gone */
}

void synq_api_jobs_fetch(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *queues[32];
    size_t nq = 0;
    int max = 1;
    int64_t wait_us = 0;
    const char *worker;
    const json_t *v;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    if (body && (v = json_object_get(body, "queues")) && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 32) {
            synq_api_error(ctx, 422, "invalid_field", "queues: must be an array of 1 to 32 names",
                           "queues");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *q = json_array_get(v, i);
            if (!json_is_string(q) || !synq_id_valid(json_string_value(q), json_string_length(q))) {
                synq_api_error(ctx, 422, "invalid_field",
                               "queues: each must be 1-128 characters of A-Z a-z 0-9 _ - . :",
                               "queues");
                goto out;
            }
            queues[nq++] = json_string_value(q);
        }
    } else {
        queues[nq++] = "default";
    }
    if (body && (v = json_object_get(body, "max")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > MAX_FETCH) {
            synq_api_error(ctx, 422, "invalid_field", "max: must be an integer from 1 to 1000",
                           "max");
            goto out;
        }
        max = (int)json_integer_value(v);
    }
    if (body && (v = json_object_get(body, "wait")) && !json_is_null(v)) {
        bool ok = false;
        if (json_is_string(v))
            ok = synq_duration_parse(json_string_value(v), json_string_length(v), &wait_us) == 0;
        else if (json_is_number(v) && json_number_value(v) >= 0)
            ok = true, wait_us = (int64_t)(json_number_value(v) * SYNQ_US_PER_SEC);
        if (!ok || wait_us > MAX_WAIT_US) {
            synq_api_error(ctx, 422, "invalid_field", "wait: must be a duration of at most 5m",
                           "wait");
            goto out;
        }
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int n = synq_engine_fetch(ctx->engine, queues, nq, max, worker, &out);
    if (n > 0 || wait_us == 0) {
        on_fetch_done(&out, n, NULL, ctx->req);
    } else {
        synq_http_req_t *req = ctx->req;
        req->data = synq_engine_fetch_wait(ctx->engine, queues, nq, max, worker,
                                           (uint64_t)(wait_us / 1000), on_fetch_done, req);
        synq_http_req_on_abort(req, on_fetch_abort, ctx->engine);
    }
    synq_buf_release(&out);
out:
    json_decref(body);
}

/* ---- settle ------------------------------------------------------------- */

static char *dump_or_null(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

void synq_api_jobs_ack(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker;
    if (object_body(ctx, body) && worker_field(ctx, body, &worker)) {
        char *result = dump_or_null(body ? json_object_get(body, "result") : NULL);
        synq_buf_t out;
        synq_buf_init(&out);
        int rc = synq_engine_ack(ctx->engine, ctx->params[0], worker, result, &out);
        if (rc == 0)
            synq_api_reply_committed(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
        free(result);
    }
    json_decref(body);
}

static bool opt_string(synq_api_ctx_t *ctx, const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return true;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "%s: must be a string", key);
    synq_api_error(ctx, 422, "invalid_field", msg, key);
    return false;
}

void synq_api_jobs_fail(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker, *message, *type;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    const json_t *src = body;
    json_t *inner = body ? json_object_get(body, "error") : NULL;
    if (json_is_object(inner)) src = inner;
    json_t *empty = json_object();
    if (src == NULL) src = empty;
    if (opt_string(ctx, src, "message", &message) && opt_string(ctx, src, "type", &type)) {
        char *bt = dump_or_null(json_object_get(src, "backtrace"));
        synq_buf_t out;
        synq_buf_init(&out);
        int rc = synq_engine_fail(ctx->engine, ctx->params[0], worker,
                                  message ? message : "failed", type, bt, &out);
        if (rc == 0)
            synq_api_reply_committed(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
        free(bt);
    }
    json_decref(empty);
out:
    json_decref(body);
}

void synq_api_jobs_heartbeat(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, false, &failed);
    if (failed) return;
    const char *worker;
    if (object_body(ctx, body) && worker_field(ctx, body, &worker)) {
        synq_buf_t out;
        synq_buf_init(&out);
        /* not awaited: a lost heartbeat costs at most a re-delivery */
        int rc = synq_engine_heartbeat(ctx->engine, ctx->params[0], worker, &out);
        if (rc == 0)
            synq_api_reply(ctx, 200, &out);
        else
            synq_api_engine_error(ctx, rc, "job");
        synq_buf_release(&out);
    }
    json_decref(body);
}

void synq_api_jobs_ack_many(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const char *worker;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    const json_t *jobs = json_object_get(body, "jobs");
    if (!json_is_array(jobs) || json_array_size(jobs) > MAX_BULK) {
        synq_api_error(ctx, 422, "invalid_field", "jobs: must be an array of at most 10000",
                       "jobs");
        goto out;
    }
    /* validate all entries before settling any */
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *it = json_array_get(jobs, i);
        const json_t *id = json_is_object(it) ? json_object_get(it, "id") : NULL;
        if (!json_is_string(id)) {
            char field[48], msg[96];
            snprintf(field, sizeof field, "jobs[%zu].id", i);
            snprintf(msg, sizeof msg, "%s: required string", field);
            synq_api_error(ctx, 422, "invalid_field", msg, field);
            goto out;
        }
    }
    synq_buf_t out;
    synq_buf_init(&out);
    synq_buf_puts(&out, "{\"results\":[");
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        const json_t *it = json_array_get(jobs, i);
        const char *id = json_string_value(json_object_get(it, "id"));
        char *result = dump_or_null(json_object_get(it, "result"));
        int rc = synq_engine_ack(ctx->engine, id, worker, result, NULL);
        free(result);
        if (i) synq_buf_putc(&out, ',');
        synq_buf_puts(&out, "{\"id\":");
        synq_buf_json_str(&out, id, strlen(id));
        if (rc == 0)
            synq_buf_puts(&out, ",\"ok\":true}");
        else if (rc == SYNQ_ENOTFOUND)
            synq_buf_puts(&out, ",\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":"
                                "\"job not found\"}}");
        else
            synq_buf_puts(&out, ",\"ok\":false,\"error\":{\"code\":\"lease_lost\",\"message\":"
                                "\"the job is not active or is leased to another worker\"}}");
    }
    synq_buf_puts(&out, "]}");
    synq_api_reply_committed(ctx, 200, &out);
    synq_buf_release(&out);
out:
    json_decref(body);
}

/* ---- inspection and admin --------------------------------------------------- */

void synq_api_jobs_get(synq_api_ctx_t *ctx)
{
    prefer_t prefer;
    if (!read_prefer(ctx, &prefer)) return;
    const synq_job_t *live = synq_engine_peek(ctx->engine, ctx->params[0]);
    if (live && prefer.wait_us > 0) {
        char applied[32];
        snprintf(applied, sizeof applied, "wait=%lld",
                 (long long)((prefer.wait_us + SYNQ_US_PER_SEC - 1) / SYNQ_US_PER_SEC));
        wait_for(ctx->api, ctx->req, ctx->params[0], (uint64_t)(prefer.wait_us / 1000), true,
                 applied);
        return;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_get(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

void synq_api_jobs_list(synq_api_ctx_t *ctx)
{
    synq_http_req_t *req = ctx->req;
    char queue[160], type[300], state[32], limit[16], cursor[32];
    synq_job_filter_t f = {.state = -1, .limit = 50};
    if (synq_http_req_query(req, "queue", queue, sizeof queue) > 0) f.queue = queue;
    if (synq_http_req_query(req, "type", type, sizeof type) > 0) f.type = type;
    if (synq_http_req_query(req, "state", state, sizeof state) > 0) {
        synq_job_state_t s;
        if (synq_job_state_parse(state, &s)) {
            synq_api_error(ctx, 422, "invalid_field",
                           "state: must be one of scheduled, queued, active, retry, completed, "
                           "dead, cancelled, waiting",
                           "state");
            return;
        }
        f.state = (int)s;
    }
    if (synq_http_req_query(req, "limit", limit, sizeof limit) >= 0) {
        char *end;
        long l = strtol(limit, &end, 10);
        if (*end || end == limit || l < 1 || l > 1000) {
            synq_api_error(ctx, 422, "invalid_field", "limit: must be an integer from 1 to 1000",
                           "limit");
            return;
        }
        f.limit = (int)l;
    }
    if (synq_http_req_query(req, "cursor", cursor, sizeof cursor) > 0) {
        char *end;
        long long c = strtoll(cursor, &end, 10);
        if (*end || c < 1) {
            synq_api_error(ctx, 422, "invalid_field", "cursor: not a cursor from next_cursor",
                           "cursor");
            return;
        }
        f.before_seq = c;
    }
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = synq_engine_list(ctx->engine, &f, &out);
    if (rc == 0)
        synq_api_reply(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

static void admin(synq_api_ctx_t *ctx, int (*op)(synq_engine_t *, const char *, synq_buf_t *))
{
    synq_buf_t out;
    synq_buf_init(&out);
    int rc = op(ctx->engine, ctx->params[0], &out);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &out);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&out);
}

void synq_api_jobs_retry(synq_api_ctx_t *ctx)
{
    admin(ctx, synq_engine_retry);
}

/* An active job is cancelled too: its worker hears it at its next
 * heartbeat, or at once on a waiting fetch. */
static int cancel_any(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    return synq_engine_cancel(e, id, SYNQ_CANCEL_ACTIVE, out);
}

void synq_api_jobs_cancel(synq_api_ctx_t *ctx)
{
    admin(ctx, cancel_any);
}

/* ---- progress and log ------------------------------------------------------------- */

void synq_api_jobs_progress(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const char *worker;
    json_t *p = NULL;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    p = json_object();
    const json_t *v;
    if ((v = json_object_get(body, "percent")) && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100) {
            synq_api_error(ctx, 422, "invalid_field", "percent: must be a number from 0 to 100",
                           "percent");
            goto out;
        }
        json_object_set(p, "percent", (json_t *)v);
    }
    if ((v = json_object_get(body, "message")) && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) > 4096) {
            synq_api_error(ctx, 422, "invalid_field",
                           "message: must be a string of at most 4096 bytes", "message");
            goto out;
        }
        json_object_set(p, "message", (json_t *)v);
    }
    if ((v = json_object_get(body, "data")) && !json_is_null(v)) json_object_set(p, "data", (json_t *)v);
    if (json_object_size(p) == 0) {
        synq_api_error(ctx, 422, "invalid_field", "body: give percent, message or data", NULL);
        goto out;
    }
    char *text = json_dumps(p, JSON_COMPACT);
    synq_buf_t res;
    synq_buf_init(&res);
    int rc = synq_engine_progress(ctx->engine, ctx->params[0], worker, text, &res);
    if (rc == 0)
        synq_api_reply_committed(ctx, 200, &res);
    else
        synq_api_engine_error(ctx, rc, "job");
    synq_buf_release(&res);
    free(text);
out:
    json_decref(p);
    json_decref(body);
}

#define MAX_LOG_LINES 1000
#define MAX_LOG_LINE 65536

void synq_api_jobs_log(synq_api_ctx_t *ctx)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return;
    const char *worker;
    const char *lines[MAX_LOG_LINES];
    size_t n = 0;
    if (!object_body(ctx, body) || !worker_field(ctx, body, &worker)) goto out;
    const json_t *one = json_object_get(body, "line"), *many = json_object_get(body, "lines");
    if (json_is_string(one)) {
        lines[n++] = json_string_value(one);
    } else if (json_is_array(many) && json_array_size(many) >= 1 &&
               json_array_size(many) <= MAX_LOG_LINES) {
        for (size_t i = 0; i < json_array_size(many); i++) {
            const json_t *l = json_array_get(many, i);
            if (!json_is_string(l) || json_string_length(l) > MAX_LOG_LINE) break;
            lines[n++] = json_string_value(l);
        }
        if (n != json_array_size(many)) n = 0;
    }
    if (n == 0 || (json_is_string(one) && json_string_length(one) > MAX_LOG_LINE)) {
        synq_api_error(ctx, 422, "invalid_field",
                       "lines: give \"line\" or \"lines\" (1 to 1000 strings of at most 64 KiB)",
                       "lines");
        goto out;
    }
    int rc = synq_engine_log(ctx->engine, ctx->params[0], worker, lines, n);
    if (rc == 0) {
        synq_buf_t res;
        synq_buf_init(&res);
        synq_buf_printf(&res, "{\"accepted\":%zu}", n);
        synq_api_reply_committed(ctx, 200, &res);
        synq_buf_release(&res);
    } else {
        synq_api_engine_error(ctx, rc, "job");
    }
out:
    json_decref(body);
}

void synq_api_jobs_delete(synq_api_ctx_t *ctx)
{
    int rc = synq_engine_delete(ctx->engine, ctx->params[0]);
    if (rc) {
        synq_api_engine_error(ctx, rc, "job");
        return;
    }
    synq_buf_t none;
    synq_buf_init(&none);
    synq_api_reply_committed(ctx, 204, &none);
}
