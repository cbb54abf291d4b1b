/* The Faktory Work Protocol listener (see faktory.h). Framing and replies
 * are in fwp.c, job payloads in fwpjob.c; this file holds connections,
 * the handshake, workers and the commands. */
#include "proto/faktory.h"

#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "net/listen.h"
#include "proto/fwp.h"
#include "proto/fwpjob.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FETCH_QUEUES 32
#define MAX_PUSHB 10000
#define ERRTYPE_MAX 100
#define MESSAGE_MAX 1000
#define BACKTRACE_MAX 50
#define READ_CHUNK 65536
/* Input kept while a command waits; reading pauses above it. Reading goes
 * on below it, so a peer that goes away during a blocking FETCH is seen
 * and its wait withdrawn (else the next job would be leased to nobody). */
#define INPUT_HIGH_WATER ((size_t)1 << 20)

typedef struct conn_s conn_t;

typedef struct worker_s {
    char *wid;
    char *hostname;
    char *username;
    char *labels; /* JSON array text */
    int64_t pid;
    int state;    /* SYNQ_FAKTORY_RUNNING, _QUIET, _TERMINATE */
    int64_t started_at, beat_at, rss_kb;
    conn_t *conns; /* linked through conn->wnext */
} worker_t;

struct conn_s {
    synq_faktory_t *f;
    uv_tcp_t tcp;
    uv_timer_t timer; /* the handshake deadline */
    int open_handles;
    int refs;         /* replies waiting for a commit */
    bool identified, closing, busy, reading;
    bool eof; /* the peer has sent everything: close once it is answered */
    int iterations;
    char salt[17];
    char ident[136];  /* the lease holder's name: the wid, or fwp-<n> */
    worker_t *worker;
    synq_fetch_waiter_t *waiter;
    synq_fwp_reader_t reader;
    synq_buf_t in;
    size_t in_off;
    synq_buf_t pending; /* the reply sent after the commit */
    conn_t *next, *prev;  /* every connection */
    conn_t *wnext, *wprev; /* the worker's connections */
};

struct synq_faktory_s {
    synq_engine_t *engine;
    uv_loop_t *loop;
    synq_faktory_config_t cfg;
    char *password;
    char addr[64];
    uv_tcp_t listener;
    uv_timer_t reaper;
    int open_handles;
    bool closing;
    void (*closed_cb)(void *);
    void *closed_arg;
    conn_t *conns;
    size_t nconns; /* open connections */
    size_t nlive;  /* connection objects not yet freed */
    uint64_t serial;
    synq_map_t workers; /* wid -> worker_t */
    int64_t started_at;
    int64_t commands, workers_reaped;
    int64_t processed0, failures0; /* the engine's counters at the last FLUSH */
};

typedef struct {
    uv_write_t req;
    conn_t *c;
    bool close_after;
    size_t len;
    char data[];
} write_req_t;

static void conn_close(conn_t *c);
static void process(conn_t *c);
static void resume(conn_t *c);

/* ---- workers ------------------------------------------------------------- */

static const char *const state_names[] = {"running", "quiet", "terminate"};

static void worker_unlink_conn(conn_t *c)
{
    worker_t *w = c->worker;
    if (w == NULL) return;
    if (c->wprev) c->wprev->wnext = c->wnext; else w->conns = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    c->wnext = c->wprev = NULL;
    c->worker = NULL;
}

static void worker_free(worker_t *w)
{
    free(w->wid);
    free(w->hostname);
    free(w->username);
    free(w->labels);
    free(w);
}

/* Drops a worker record and closes its connections. */
static void worker_drop(synq_faktory_t *f, worker_t *w)
{
    synq_map_del(&f->workers, w->wid);
    while (w->conns) {
        conn_t *c = w->conns;
        worker_unlink_conn(c);
        conn_close(c);
    }
    worker_free(w);
}

static void put_time(synq_buf_t *out, const char *key, int64_t t)
{
    synq_buf_printf(out, ",\"%s\":", key);
    synq_buf_put_time(out, t);
}

typedef struct {
    const char *wid;
    synq_buf_t *out;
    int n;
} jobs_ctx_t;

static void worker_job(const synq_job_t *j, void *arg)
{
    jobs_ctx_t *x = arg;
    if (j->state != SYNQ_JOB_ACTIVE || j->worker == NULL || strcmp(j->worker, x->wid) != 0) return;
    if (x->n++) synq_buf_putc(x->out, ',');
    synq_buf_puts(x->out, "{\"jid\":");
    synq_buf_json_str(x->out, j->id, strlen(j->id));
    synq_buf_puts(x->out, ",\"queue\":");
    synq_buf_json_str(x->out, j->queue, strlen(j->queue));
    synq_buf_puts(x->out, ",\"jobtype\":");
    synq_buf_json_str(x->out, j->type, strlen(j->type));
    put_time(x->out, "started_at", j->started_at);
    put_time(x->out, "reserved_until", j->lease_until);
    synq_buf_putc(x->out, '}');
}

static void worker_json(synq_faktory_t *f, const worker_t *w, synq_buf_t *out)
{
    int nconns = 0;
    for (conn_t *c = w->conns; c; c = c->wnext) nconns++;
    synq_buf_puts(out, "{\"wid\":");
    synq_buf_json_str(out, w->wid, strlen(w->wid));
    synq_buf_puts(out, ",\"hostname\":");
    synq_buf_json_str(out, w->hostname, strlen(w->hostname));
    synq_buf_printf(out, ",\"pid\":%lld,\"labels\":%s,\"state\":\"%s\",\"connections\":%d",
                    (long long)w->pid, w->labels, state_names[w->state], nconns);
    if (w->username) {
        synq_buf_puts(out, ",\"username\":");
        synq_buf_json_str(out, w->username, strlen(w->username));
    }
    put_time(out, "started_at", w->started_at);
    put_time(out, "last_beat_at", w->beat_at);
    if (w->rss_kb) synq_buf_printf(out, ",\"rss_kb\":%lld", (long long)w->rss_kb);
    synq_buf_puts(out, ",\"jobs\":[");
    jobs_ctx_t x = {w->wid, out, 0};
    synq_engine_each_live(f->engine, worker_job, &x);
    synq_buf_puts(out, "]}");
}

static int cmp_wid(const void *a, const void *b)
{
    return strcmp((*(worker_t *const *)a)->wid, (*(worker_t *const *)b)->wid);
}

void synq_faktory_workers_json(synq_faktory_t *f, synq_buf_t *out)
{
    size_t n = 0, cap = 16;
    worker_t **list = synq_malloc(cap * sizeof *list);
    void *it = NULL, *v;
    while (synq_map_next(&f->workers, &it, NULL, &v)) {
        if (n == cap) list = synq_realloc(list, (cap *= 2) * sizeof *list);
        list[n++] = v;
    }
    qsort(list, n, sizeof *list, cmp_wid);
    synq_buf_puts(out, "{\"workers\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) synq_buf_putc(out, ',');
        worker_json(f, list[i], out);
    }
    synq_buf_puts(out, "]}");
    free(list);
}

int synq_faktory_worker_signal(synq_faktory_t *f, const char *wid, int state, synq_buf_t *out)
{
    worker_t *w = synq_map_get(&f->workers, wid);
    if (w == NULL) return SYNQ_ENOTFOUND;
    if (state > w->state) {
        w->state = state;
        synq_log(SYNQ_LOG_INFO, "faktory worker signalled", "wid", wid, "state",
                 state_names[state], NULL);
    }
    if (out) worker_json(f, w, out);
    return 0;
}

static void on_reaper(uv_timer_t *t)
{
    synq_faktory_t *f = t->data;
    int64_t now = synq_time_now_us();
    int64_t ttl = (int64_t)f->cfg.worker_ttl_ms * 1000;
    worker_t *dead[64];
    size_t n = 0;
    void *it = NULL, *v;
    while (synq_map_next(&f->workers, &it, NULL, &v) && n < SYNQ_ARRAY_LEN(dead))
        if (now - ((worker_t *)v)->beat_at > ttl) dead[n++] = v;
    for (size_t i = 0; i < n; i++) {
        synq_log(SYNQ_LOG_WARN, "faktory worker reaped: no BEAT", "wid", dead[i]->wid, NULL);
        f->workers_reaped++;
        worker_drop(f, dead[i]);
    }
}

/* ---- connections ----------------------------------------------------------- */

static void maybe_free(conn_t *c)
{
    if (c->open_handles > 0 || c->refs > 0) return;
    synq_faktory_t *f = c->f;
    synq_fwp_reader_release(&c->reader);
    synq_buf_release(&c->in);
    synq_buf_release(&c->pending);
    free(c);
    f->nlive--;
    if (f->closing && f->nlive == 0 && f->open_handles == 0 && f->closed_cb) {
        void (*cb)(void *) = f->closed_cb;
        f->closed_cb = NULL;
        cb(f->closed_arg);
    }
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->open_handles--;
    maybe_free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing) return;
    c->closing = true;
    synq_faktory_t *f = c->f;
    if (c->waiter) {
        synq_engine_fetch_cancel(f->engine, c->waiter);
        c->waiter = NULL;
    }
    worker_unlink_conn(c);
    if (c->prev) c->prev->next = c->next; else f->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    f->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

/* After end of input: closes once every command is answered and written. */
static void close_if_done(conn_t *c)
{
    if (c->eof && !c->closing && !c->busy && c->refs == 0 && c->in_off == c->in.len)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    conn_t *c = w->c;
    c->refs--;
    if ((status < 0 || w->close_after) && !c->closing) conn_close(c);
    free(w);
    close_if_done(c);
    maybe_free(c);
}

static void send_bytes(conn_t *c, const char *data, size_t len, bool close_after)
{
    if (c->closing) return;
    write_req_t *w = synq_malloc(sizeof *w + len);
    w->c = c;
    w->close_after = close_after;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    c->refs++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        c->refs--;
        free(w);
        conn_close(c);
    }
}

static void send_buf(conn_t *c, const synq_buf_t *b)
{
    send_bytes(c, b->data, b->len, false);
}

/* -ERR and close once it is written. */
static void send_error_close(conn_t *c, const char *msg)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_fwp_reply_error(&b, "ERR", msg, strlen(msg));
    send_bytes(c, b.data, b.len, true);
    synq_buf_release(&b);
    c->busy = true; /* read nothing more */
}

static void on_committed(int status, void *arg)
{
    conn_t *c = arg;
    c->refs--;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (status) {
        c->pending.len = 0;
        synq_fwp_reply_errorf(&c->pending, "ERR", "storage failure");
    }
    send_buf(c, &c->pending);
    c->pending.len = 0;
    c->busy = false;
    process(c);
}

/* Sends reply now, or after the commit when the command wrote. */
static void finish(conn_t *c, synq_buf_t *reply, bool wrote)
{
    if (!wrote) {
        send_buf(c, reply);
        return;
    }
    c->pending.len = 0;
    synq_buf_append(&c->pending, reply->data, reply->len);
    c->busy = true;
    c->refs++;
    synq_engine_after_commit(c->f->engine, on_committed, c);
}

/* ---- handshake -------------------------------------------------------------- */

static void on_handshake_timeout(uv_timer_t *t)
{
    conn_t *c = t->data;
    if (!c->identified) {
        synq_log(SYNQ_LOG_DEBUG, "faktory handshake timed out", NULL);
        conn_close(c);
    }
}

static void hello(conn_t *c, const char *line, size_t len)
{
    synq_faktory_t *f = c->f;
    if (len < 7 || memcmp(line, "HELLO {", 7) != 0) {
        conn_close(c); /* not a Faktory client (or TLS): no reply, as Faktory does */
        return;
    }
    json_t *o = json_loadb(line + 6, len - 6, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        conn_close(c);
        return;
    }
    if (f->password) {
        const json_t *h = json_object_get(o, "pwdhash");
        int v = (int)json_integer_value(json_object_get(o, "v"));
        char want[65];
        synq_fwp_pwdhash(f->password, c->salt, v < 2 ? 1 : c->iterations, want);
        if (!json_is_string(h) ||
            !synq_fwp_pwdhash_check(want, json_string_value(h), json_string_length(h))) {
            json_decref(o);
            synq_log(SYNQ_LOG_WARN, "faktory client gave a wrong password", NULL);
            send_error_close(c, "Invalid password");
            return;
        }
    }
    const json_t *wid = json_object_get(o, "wid");
    if (json_is_string(wid) && json_string_length(wid) >= sizeof c->ident) {
        json_decref(o);
        send_error_close(c, "wid must be at most 135 bytes");
        return;
    }
    if (json_is_string(wid) && json_string_length(wid) > 0) {
        const char *id = json_string_value(wid);
        worker_t *w = synq_map_get(&f->workers, id);
        if (w == NULL) {
            w = synq_calloc(1, sizeof *w);
            w->wid = synq_strdup(id);
            w->started_at = synq_time_now_us();
            synq_map_put(&f->workers, w->wid, w);
        }
        const json_t *v;
        free(w->hostname);
        v = json_object_get(o, "hostname");
        w->hostname = synq_strdup(json_is_string(v) ? json_string_value(v) : "");
        free(w->username);
        v = json_object_get(o, "username");
        w->username = json_is_string(v) ? synq_strdup(json_string_value(v)) : NULL;
        free(w->labels);
        v = json_object_get(o, "labels");
        w->labels = json_is_array(v) ? json_dumps(v, JSON_COMPACT) : synq_strdup("[]");
        w->pid = json_integer_value(json_object_get(o, "pid"));
        w->beat_at = synq_time_now_us();
        c->worker = w;
        c->wnext = w->conns;
        if (w->conns) w->conns->wprev = c;
        w->conns = c;
        snprintf(c->ident, sizeof c->ident, "%s", id);
    }
    json_decref(o);
    c->identified = true;
    uv_timer_stop(&c->timer);
    synq_buf_t b;
    synq_buf_init(&b);
    synq_fwp_reply_ok(&b);
    send_buf(c, &b);
    synq_buf_release(&b);
}

/* ---- commands ------------------------------------------------------------------ */

/* Parses arg as one JSON value; on failure writes "-ERR invalid JSON: ...". */
static json_t *parse_json(const char *arg, size_t len, synq_buf_t *reply)
{
    json_error_t je;
    json_t *v = json_loadb(arg, len, JSON_DECODE_ANY, &je);
    if (v == NULL) synq_fwp_reply_errorf(reply, "ERR", "invalid JSON: %s", je.text);
    return v;
}

/* Enqueues one mapped job (into its batch when it names one). Returns 0,
 * or an error message in err: "NOTUNIQUE" sets *code. */
static int push_one(synq_faktory_t *f, synq_job_t *job, const char **code, char *err,
                    size_t errlen)
{
    synq_buf_t out;
    synq_buf_init(&out);
    size_t bad = 0;
    int rc;
    char jid[130];
    snprintf(jid, sizeof jid, "%s", job->id);
    if (job->batch) {
        rc = synq_engine_batch_open(f->engine, job->batch);
        if (rc == 0) rc = synq_engine_batch_add(f->engine, job->batch, &job, 1, &out, &bad);
        else if (rc == SYNQ_ECONFLICT) rc = SYNQ_EGONE;
    } else {
        rc = synq_engine_enqueue(f->engine, &job, 1, false, &out, &bad);
    }
    *code = "ERR";
    if (rc == 0 && job == NULL) {
        *code = "NOTUNIQUE";
        snprintf(err, errlen, "Job not unique");
        rc = SYNQ_ECONFLICT;
    } else if (rc) {
        if (rc == SYNQ_ECONFLICT)
            snprintf(err, errlen, "a job with jid %s exists already", jid);
        else if (rc == SYNQ_EGONE)
            snprintf(err, errlen, "batch %s is committed: no more jobs can join it", job->batch);
        else if (rc == SYNQ_ENOTFOUND && job->batch)
            snprintf(err, errlen, "unknown batch %s", job->batch);
        else
            snprintf(err, errlen, "%s", synq_strerror(rc));
        synq_job_free(job);
    }
    synq_buf_release(&out);
    return rc;
}

static bool cmd_push(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    json_t *o = parse_json(arg, len, reply);
    if (o == NULL) return false;
    char err[256];
    const char *code;
    synq_job_t *job = synq_fwp_job_from_json(o, synq_time_now_us(), err, sizeof err);
    json_decref(o);
    if (job == NULL) {
        synq_fwp_reply_error(reply, "ERR", err, strlen(err));
        return false;
    }
    if (push_one(c->f, job, &code, err, sizeof err)) {
        synq_fwp_reply_error(reply, code, err, strlen(err));
        return false;
    }
    synq_fwp_reply_ok(reply);
    return true;
}

static bool cmd_pushb(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    json_t *a = parse_json(arg, len, reply);
    if (a == NULL) return false;
    if (!json_is_array(a) || json_array_size(a) > MAX_PUSHB) {
        json_decref(a);
        synq_fwp_reply_errorf(reply, "ERR", "invalid JSON: PUSHB takes an array of at most %d jobs",
                              MAX_PUSHB);
        return false;
    }
    int64_t now = synq_time_now_us();
    json_t *errs = json_object();
    bool wrote = false;
    size_t i;
    json_t *o;
    json_array_foreach(a, i, o) {
        char err[256];
        const char *code;
        synq_job_t *job = synq_fwp_job_from_json(o, now, err, sizeof err);
        int rc = job ? push_one(c->f, job, &code, err, sizeof err) : SYNQ_EINVAL;
        if (rc == 0) {
            wrote = true;
            continue;
        }
        const json_t *jid = json_object_get(o, "jid");
        json_object_set_new(errs, json_is_string(jid) ? json_string_value(jid) : "", json_string(err));
    }
    char *t = json_dumps(errs, JSON_COMPACT);
    synq_fwp_reply_bulk(reply, t, strlen(t));
    free(t);
    json_decref(errs);
    json_decref(a);
    return wrote;
}

/* The body of a one-job fetch reply ("[{...}]") without its brackets. */
static void reply_job(synq_buf_t *reply, const synq_buf_t *jobs, int n)
{
    if (n > 0 && jobs->len >= 2)
        synq_fwp_reply_bulk(reply, jobs->data + 1, jobs->len - 2);
    else
        synq_fwp_reply_null(reply);
}

static void on_fetched(const synq_buf_t *jobs, int n, const char *cancel, void *arg)
{
    (void)cancel;
    conn_t *c = arg;
    c->waiter = NULL;
    synq_buf_t reply;
    synq_buf_init(&reply);
    reply_job(&reply, jobs, n);
    send_buf(c, &reply);
    synq_buf_release(&reply);
    c->busy = false;
    process(c);
}

static void cmd_fetch(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    synq_faktory_t *f = c->f;
    char *names[MAX_FETCH_QUEUES];
    size_t nq = 0;
    const char *p = arg, *w;
    size_t left = len, wl;
    bool more = false;
    while (synq_fwp_word(&p, &left, &w, &wl)) {
        if (nq == MAX_FETCH_QUEUES) {
            more = true;
            break;
        }
        names[nq++] = synq_strndup(w, wl);
    }
    if (nq == 0 || more) {
        if (nq == 0)
            synq_fwp_reply_errorf(reply, "ERR", "must call fetch with at least one queue");
        else
            synq_fwp_reply_errorf(reply, "ERR", "FETCH takes at most %d queues", MAX_FETCH_QUEUES);
        for (size_t i = 0; i < nq; i++) free(names[i]);
        return;
    }
    bool idle = c->worker && c->worker->state != SYNQ_FAKTORY_RUNNING;
    synq_buf_t jobs;
    synq_buf_init(&jobs);
    int n = idle ? 0
                 : synq_engine_fetch_as(f->engine, (const char *const *)names, nq, 1, c->ident,
                                        synq_fwp_job_to_json, &jobs);
    if (n > 0) {
        reply_job(reply, &jobs, n);
    } else {
        /* a quiet or terminating worker waits on no queue: it gets nothing */
        c->busy = true;
        c->waiter = synq_engine_fetch_wait_as(f->engine, (const char *const *)names, idle ? 0 : nq,
                                              1, c->ident, synq_fwp_job_to_json,
                                              f->cfg.fetch_wait_ms, on_fetched, c);
    }
    synq_buf_release(&jobs);
    for (size_t i = 0; i < nq; i++) free(names[i]);
}

/* The jid of an ACK/FAIL/TRACK object, or NULL. */
static const char *jid_of(const json_t *o)
{
    const json_t *v = json_object_get(o, "jid");
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

static bool cmd_ack(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    json_t *o = json_loadb(arg, len, 0, NULL);
    const char *jid = json_is_object(o) ? jid_of(o) : NULL;
    if (jid == NULL) {
        synq_fwp_reply_errorf(reply, "ERR", "invalid ACK %.*s", (int)SYNQ_MIN(len, 200), arg);
        json_decref(o);
        return false;
    }
    bool wrote = false;
    const synq_job_t *j = synq_engine_peek(c->f->engine, jid);
    if (j && j->state == SYNQ_JOB_ACTIVE) {
        /* Faktory does not check who holds the reservation: ack as the holder */
        char *holder = synq_strdup(j->worker ? j->worker : "");
        const json_t *r = json_object_get(o, "result");
        char *result = r ? json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        wrote = synq_engine_ack(c->f->engine, jid, holder, result, NULL) == 0;
        free(result);
        free(holder);
    } else {
        synq_log(SYNQ_LOG_DEBUG, "faktory ACK of a job not reserved", "jid", jid, NULL);
    }
    json_decref(o);
    synq_fwp_reply_ok(reply);
    return wrote;
}

/* Trims s to at most max bytes without cutting a UTF-8 sequence. */
static char *trim_utf8(const char *s, size_t len, size_t max)
{
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    return synq_strndup(s, len);
}

static char *text_field(const json_t *o, const char *key, size_t max)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) == 0) return synq_strdup("unknown");
    return trim_utf8(json_string_value(v), json_string_length(v), max);
}

static bool cmd_fail(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    json_t *o = json_loadb(arg, len, 0, NULL);
    if (!json_is_object(o)) {
        synq_fwp_reply_errorf(reply, "ERR", "invalid FAIL %.*s", (int)SYNQ_MIN(len, 200), arg);
        json_decref(o);
        return false;
    }
    const char *jid = jid_of(o);
    if (jid == NULL) {
        synq_fwp_reply_errorf(reply, "ERR", "missing JID");
        json_decref(o);
        return false;
    }
    const synq_job_t *j = synq_engine_peek(c->f->engine, jid);
    if (j == NULL || j->state != SYNQ_JOB_ACTIVE) {
        synq_fwp_reply_errorf(reply, "ERR", "Job not found %s", jid);
        json_decref(o);
        return false;
    }
    char *holder = synq_strdup(j->worker ? j->worker : "");
    char *message = text_field(o, "message", MESSAGE_MAX);
    char *type = text_field(o, "errtype", ERRTYPE_MAX);
    char *bt = NULL;
    const json_t *b = json_object_get(o, "backtrace");
    if (json_is_array(b) && json_array_size(b) > 0) {
        json_t *lines = json_array();
        size_t i;
        json_t *l;
        json_array_foreach(b, i, l) {
            if (i >= BACKTRACE_MAX) break;
            if (json_is_string(l)) json_array_append(lines, l);
        }
        bt = json_dumps(lines, JSON_COMPACT);
        json_decref(lines);
    }
    synq_engine_fail(c->f->engine, jid, holder, message, type, bt, NULL);
    free(bt);
    free(type);
    free(message);
    free(holder);
    json_decref(o);
    synq_fwp_reply_ok(reply);
    return true;
}

static void cmd_beat(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    json_t *o = json_loadb(arg, len, 0, NULL);
    const json_t *wid = json_is_object(o) ? json_object_get(o, "wid") : NULL;
    if (!json_is_string(wid)) {
        synq_fwp_reply_errorf(reply, "ERR", "invalid BEAT %.*s", (int)SYNQ_MIN(len, 200), arg);
        json_decref(o);
        return;
    }
    worker_t *w = synq_map_get(&c->f->workers, json_string_value(wid));
    if (w == NULL) {
        synq_fwp_reply_errorf(reply, "ERR", "unknown worker %s", json_string_value(wid));
        json_decref(o);
        return;
    }
    w->beat_at = synq_time_now_us();
    const json_t *v = json_object_get(o, "current_state");
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "quiet") == 0 && w->state < SYNQ_FAKTORY_QUIET)
            w->state = SYNQ_FAKTORY_QUIET;
        else if (strcmp(json_string_value(v), "terminate") == 0)
            w->state = SYNQ_FAKTORY_TERMINATE;
    }
    if ((v = json_object_get(o, "rss_kb")) && json_is_integer(v)) w->rss_kb = json_integer_value(v);
    json_decref(o);
    if (w->state == SYNQ_FAKTORY_RUNNING) {
        synq_fwp_reply_ok(reply);
    } else {
        char body[40];
        int n = snprintf(body, sizeof body, "{\"state\":\"%s\"}", state_names[w->state]);
        synq_fwp_reply_bulk(reply, body, (size_t)n);
    }
}

static int64_t rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(fp);
    }
    return (int64_t)resident * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

static int64_t count_of(const json_t *q, const char *state)
{
    return json_integer_value(json_object_get(json_object_get(q, "counts"), state));
}

static void cmd_info(conn_t *c, synq_buf_t *reply)
{
    synq_faktory_t *f = c->f;
    int64_t now = synq_time_now_us();
    synq_buf_t qs, b;
    synq_buf_init(&qs);
    synq_buf_init(&b);
    synq_engine_queues(f->engine, &qs);
    json_t *all = json_loadb(qs.data, qs.len, 0, NULL);
    json_t *list = json_object_get(all, "queues");
    char ts[40];
    size_t tn = synq_rfc3339_format(now, ts);
    synq_buf_printf(&b, "{\"now\":\"%.*s\",\"server_utc_time\":\"%.8s UTC\",\"faktory\":{\"queues\":{",
                    (int)tn, ts, ts + 11);
    int64_t sched = 0, retries = 0, dead = 0, working = 0, enqueued = 0;
    size_t i;
    json_t *q;
    json_array_foreach(list, i, q) {
        const char *name = json_string_value(json_object_get(q, "name"));
        int64_t size = count_of(q, "queued");
        if (i) synq_buf_putc(&b, ',');
        synq_buf_json_str(&b, name, strlen(name));
        synq_buf_printf(&b, ":%lld", (long long)size);
        enqueued += size;
        sched += count_of(q, "scheduled");
        retries += count_of(q, "retry");
        dead += count_of(q, "dead");
        working += count_of(q, "active");
    }
    int64_t processed, failures;
    synq_engine_counters(f->engine, &processed, &failures);
    size_t nworkers = 0;
    void *it = NULL;
    while (synq_map_next(&f->workers, &it, NULL, NULL)) nworkers++;
    synq_buf_printf(&b,
                    "},\"sets\":{\"scheduled\":%lld,\"retries\":%lld,\"dead\":%lld,\"working\":%lld},"
                    "\"tasks\":{\"Busy\":{\"size\":%lld,\"reaped\":0},"
                    "\"Workers\":{\"size\":%zu,\"reaped\":%lld}},"
                    "\"total_failures\":%lld,\"total_processed\":%lld,\"total_enqueued\":%lld,"
                    "\"total_queues\":%zu},",
                    (long long)sched, (long long)retries, (long long)dead, (long long)working,
                    (long long)working, nworkers, (long long)f->workers_reaped,
                    (long long)(failures - f->failures0), (long long)(processed - f->processed0),
                    (long long)enqueued,
                    json_array_size(list));
    synq_buf_printf(&b,
                    "\"server\":{\"description\":\"synq (Faktory protocol)\",\"faktory_version\":"
                    "\"1.10.0\",\"uptime\":%lld,\"connections\":%zu,\"command_count\":%lld,"
                    "\"used_memory_mb\":%lld}}",
                    (long long)((now - f->started_at) / SYNQ_US_PER_SEC), f->nconns,
                    (long long)f->commands, (long long)rss_mb());
    synq_fwp_reply_bulk(reply, b.data, b.len);
    json_decref(all);
    synq_buf_release(&qs);
    synq_buf_release(&b);
}

/* ---- MUTATE ------------------------------------------------------------------- */

typedef struct {
    const char *jobtype;
    const json_t *jids;
    const char *glob;
    synq_buf_t tmp;
} filter_t;

static bool filter_match(const synq_job_t *j, void *arg)
{
    filter_t *f = arg;
    if (f->jids) { /* a jid list wins over the other filters */
        size_t i;
        const json_t *v;
        json_array_foreach(f->jids, i, v)
            if (json_is_string(v) && strcmp(json_string_value(v), j->id) == 0) return true;
        return false;
    }
    if (f->jobtype && strcmp(f->jobtype, j->type) != 0) return false;
    if (f->glob) {
        f->tmp.len = 0;
        synq_fwp_job_to_json(j, &f->tmp);
        if (!synq_fwp_glob(f->glob, f->tmp.data, f->tmp.len)) return false;
    }
    return true;
}

static bool cmd_mutate(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    /* Faktory splits the line on spaces and wants exactly two parts */
    if (memchr(arg, ' ', len)) {
        synq_fwp_reply_errorf(reply, "ERR", "invalid format");
        return false;
    }
    json_t *o = parse_json(arg, len, reply);
    if (o == NULL) return false;
    const char *cmd = json_string_value(json_object_get(o, "cmd"));
    const char *target = json_string_value(json_object_get(o, "target"));
    synq_job_state_t state;
    synq_mutate_op_t op = SYNQ_MUTATE_DISCARD;
    bool ok = false;
    if (target && strcmp(target, "retries") == 0) state = SYNQ_JOB_RETRY;
    else if (target && strcmp(target, "scheduled") == 0) state = SYNQ_JOB_SCHEDULED;
    else if (target && strcmp(target, "dead") == 0) state = SYNQ_JOB_DEAD;
    else {
        synq_fwp_reply_errorf(reply, "ERR", "invalid target for mutation command");
        goto out;
    }
    if (cmd && (strcmp(cmd, "clear") == 0 || strcmp(cmd, "discard") == 0)) op = SYNQ_MUTATE_DISCARD;
    else if (cmd && strcmp(cmd, "kill") == 0) op = SYNQ_MUTATE_KILL;
    else if (cmd && strcmp(cmd, "requeue") == 0) op = SYNQ_MUTATE_REQUEUE;
    else {
        synq_fwp_reply_errorf(reply, "ERR", "unknown mutate operation");
        goto out;
    }
    filter_t flt = {0};
    const json_t *fo = json_object_get(o, "filter");
    bool all = strcmp(cmd, "clear") == 0 || !json_is_object(fo);
    if (!all) {
        const json_t *v;
        if ((v = json_object_get(fo, "jids")) && json_is_array(v)) flt.jids = v;
        if ((v = json_object_get(fo, "jobtype")) && json_is_string(v) && json_string_length(v))
            flt.jobtype = json_string_value(v);
        if ((v = json_object_get(fo, "regexp")) && json_is_string(v) && json_string_length(v))
            flt.glob = json_string_value(v);
        all = !flt.jids && !flt.jobtype && !flt.glob;
    }
    synq_buf_init(&flt.tmp);
    int64_t n = synq_engine_mutate(c->f->engine, state, op, all ? NULL : filter_match, &flt);
    synq_buf_release(&flt.tmp);
    synq_log(SYNQ_LOG_DEBUG, "faktory MUTATE", "cmd", cmd, "target", target, NULL);
    synq_fwp_reply_ok(reply);
    ok = n > 0;
out:
    json_decref(o);
    return ok;
}

/* ---- QUEUE ----------------------------------------------------------------------- */

/* Calls fn on each named queue that exists, or on every queue for "*". */
typedef void (*queue_fn)(synq_faktory_t *f, const char *name, void *arg);

static void each_queue(synq_faktory_t *f, const char *p, size_t left, queue_fn fn, void *arg)
{
    const char *w;
    size_t wl;
    synq_buf_t tmp;
    synq_buf_init(&tmp);
    while (synq_fwp_word(&p, &left, &w, &wl)) {
        if (wl == 1 && w[0] == '*') {
            synq_buf_t qs;
            synq_buf_init(&qs);
            synq_engine_queues(f->engine, &qs);
            json_t *all = json_loadb(qs.data, qs.len, 0, NULL);
            size_t i;
            json_t *q;
            json_array_foreach(json_object_get(all, "queues"), i, q)
                fn(f, json_string_value(json_object_get(q, "name")), arg);
            json_decref(all);
            synq_buf_release(&qs);
            continue;
        }
        char *name = synq_strndup(w, wl);
        tmp.len = 0;
        if (synq_engine_queue_get(f->engine, name, &tmp) == 0) fn(f, name, arg);
        free(name);
    }
    synq_buf_release(&tmp);
}

static void q_pause(synq_faktory_t *f, const char *name, void *arg)
{
    synq_buf_t tmp;
    synq_buf_init(&tmp);
    synq_engine_queue_pause(f->engine, name, *(bool *)arg, &tmp);
    synq_buf_release(&tmp);
}

static void q_remove(synq_faktory_t *f, const char *name, void *arg)
{
    (void)arg;
    int64_t n;
    synq_engine_queue_purge(f->engine, name, &n);
}

static bool cmd_queue(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    const char *p = arg, *w;
    size_t left = len, wl;
    char sub[16] = "";
    if (synq_fwp_word(&p, &left, &w, &wl)) {
        size_t n = SYNQ_MIN(wl, sizeof sub - 1);
        for (size_t i = 0; i < n; i++) sub[i] = (char)(w[i] >= 'a' && w[i] <= 'z' ? w[i] - 32 : w[i]);
        sub[n] = '\0';
        if (wl >= sizeof sub) sub[0] = '?';
    }
    if (strcmp(sub, "PAUSE") == 0 || strcmp(sub, "RESUME") == 0) {
        bool paused = sub[0] == 'P';
        each_queue(c->f, p, left, q_pause, &paused);
        synq_fwp_reply_ok(reply);
        return true;
    }
    if (strcmp(sub, "REMOVE") == 0) {
        each_queue(c->f, p, left, q_remove, NULL);
        synq_fwp_reply_ok(reply);
        return true;
    }
    if (strcmp(sub, "LATENCY") == 0) {
        synq_buf_t b, tmp;
        synq_buf_init(&b);
        synq_buf_init(&tmp);
        synq_buf_putc(&b, '{');
        int n = 0;
        while (synq_fwp_word(&p, &left, &w, &wl)) {
            if (wl == 1 && w[0] == '*') {
                synq_buf_release(&b);
                synq_buf_release(&tmp);
                synq_fwp_reply_errorf(reply, "ERR", "QUEUE LATENCY does not support wildcards");
                return false;
            }
            char *name = synq_strndup(w, wl);
            tmp.len = 0;
            double latency = 0;
            if (synq_engine_queue_get(c->f->engine, name, &tmp) == 0) {
                json_t *q = json_loadb(tmp.data, tmp.len, 0, NULL);
                latency = json_number_value(json_object_get(q, "latency"));
                json_decref(q);
            }
            if (n++) synq_buf_putc(&b, ',');
            synq_buf_json_str(&b, name, wl);
            synq_buf_printf(&b, ":%.6g", latency);
            free(name);
        }
        synq_buf_putc(&b, '}');
        synq_fwp_reply_bulk(reply, b.data, b.len);
        synq_buf_release(&b);
        synq_buf_release(&tmp);
        return false;
    }
    synq_fwp_reply_errorf(reply, "ERR", "no such QUEUE subcommand: %s", sub);
    return false;
}

/* ---- TRACK and BATCH: onto synq's progress and batches --------------------------- */

static const char *track_state(const char *synq_state)
{
    static const char *const map[][2] = {
        {"queued", "enqueued"}, {"scheduled", "enqueued"}, {"waiting", "enqueued"},
        {"active", "working"},  {"completed", "success"},  {"retry", "failed"},
        {"dead", "dead"},       {"cancelled", "failed"},
    };
    for (size_t i = 0; synq_state && i < SYNQ_ARRAY_LEN(map); i++)
        if (strcmp(map[i][0], synq_state) == 0) return map[i][1];
    return "unknown";
}

static bool cmd_track(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    synq_faktory_t *f = c->f;
    const char *p = arg, *w;
    size_t left = len, wl;
    if (!synq_fwp_word(&p, &left, &w, &wl)) wl = 0;
    if (wl == 3 && memcmp(w, "GET", 3) == 0) {
        const char *jw;
        size_t jl;
        if (!synq_fwp_word(&p, &left, &jw, &jl)) {
            synq_fwp_reply_errorf(reply, "ERR", "missing JID");
            return false;
        }
        char *jid = synq_strndup(jw, jl);
        synq_buf_t b, out;
        synq_buf_init(&b);
        synq_buf_init(&out);
        json_t *job = NULL;
        if (synq_engine_get(f->engine, jid, &b) == 0) job = json_loadb(b.data, b.len, 0, NULL);
        const json_t *prog = json_object_get(job, "progress");
        synq_buf_puts(&out, "{\"jid\":");
        synq_buf_json_str(&out, jid, jl);
        const json_t *pct = json_object_get(prog, "percent");
        if (json_is_number(pct)) synq_buf_printf(&out, ",\"percent\":%d", (int)json_number_value(pct));
        const json_t *desc = json_object_get(prog, "message");
        if (json_is_string(desc)) {
            synq_buf_puts(&out, ",\"desc\":");
            synq_buf_json_str(&out, json_string_value(desc), json_string_length(desc));
        }
        synq_buf_printf(&out, ",\"state\":\"%s\"",
                        track_state(json_string_value(json_object_get(job, "state"))));
        const json_t *at = json_object_get(prog, "at");
        if (json_is_string(at)) synq_buf_printf(&out, ",\"updated_at\":\"%s\"", json_string_value(at));
        synq_buf_putc(&out, '}');
        synq_fwp_reply_bulk(reply, out.data, out.len);
        json_decref(job);
        synq_buf_release(&b);
        synq_buf_release(&out);
        free(jid);
        return false;
    }
    if (wl == 3 && memcmp(w, "SET", 3) == 0) {
        json_t *o = parse_json(p, left, reply);
        if (o == NULL) return false;
        const char *jid = jid_of(o);
        bool wrote = false;
        if (jid == NULL) {
            synq_fwp_reply_errorf(reply, "ERR", "missing JID");
            goto set_out;
        }
        const json_t *until = json_object_get(o, "reserve_until");
        int64_t until_us = 0;
        if (until && !json_is_null(until) &&
            (!json_is_string(until) ||
             synq_rfc3339_parse(json_string_value(until), json_string_length(until), &until_us) ||
             until_us > synq_time_now_us() + 86400 * SYNQ_US_PER_SEC)) {
            synq_fwp_reply_errorf(reply, "ERR", "reserve_until must be an RFC 3339 time within a day");
            goto set_out;
        }
        json_t *prog = json_object();
        const json_t *v;
        if ((v = json_object_get(o, "percent")) && json_is_number(v))
            json_object_set(prog, "percent", (json_t *)v);
        if ((v = json_object_get(o, "desc")) && json_is_string(v))
            json_object_set(prog, "message", (json_t *)v);
        char *t = json_dumps(prog, JSON_COMPACT);
        json_decref(prog);
        int rc = synq_engine_progress(f->engine, jid, NULL, t, NULL);
        free(t);
        if (rc == 0 && until_us) rc = synq_engine_extend_lease(f->engine, jid, until_us);
        if (rc == SYNQ_ENOTFOUND)
            synq_fwp_reply_errorf(reply, "ERR", "Job not found %s", jid);
        else if (rc)
            synq_fwp_reply_errorf(reply, "ERR", "job %s is not being worked on", jid);
        else
            synq_fwp_reply_ok(reply), wrote = true;
    set_out:
        json_decref(o);
        return wrote;
    }
    synq_fwp_reply_errorf(reply, "ERR", "no such TRACK subcommand: %.*s", (int)SYNQ_MIN(wl, 32), w);
    return false;
}

/* A Faktory callback job as a synq batch follow-up job spec. */
static json_t *follow_up(const json_t *job, char *err, size_t errlen)
{
    synq_job_t *j = synq_fwp_job_from_json(job, 0, err, errlen);
    if (j == NULL) return NULL;
    json_t *spec = json_pack("{s:s,s:s,s:o,s:i,s:o}", "type", j->type, "queue", j->queue, "args",
                             json_loads(j->args, 0, NULL), "retry", j->retry < 0 ? 0 : j->retry,
                             "backoff", json_pack("{s:s}", "type", "faktory"));
    if (j->custom) json_object_set_new(spec, "custom", json_loads(j->custom, 0, NULL));
    synq_job_free(j);
    return spec;
}

static void batch_status(synq_faktory_t *f, const char *bid, synq_buf_t *reply)
{
    synq_buf_t b, out;
    synq_buf_init(&b);
    synq_buf_init(&out);
    int rc = synq_engine_batch_get(f->engine, bid, &b);
    if (rc) {
        synq_fwp_reply_errorf(reply, "ERR", "unknown batch %s", bid);
        goto done;
    }
    json_t *o = json_loadb(b.data, b.len, 0, NULL);
    const char *state = json_string_value(json_object_get(o, "state"));
    bool done = state && strcmp(state, "done") == 0;
    int64_t failed = json_integer_value(json_object_get(o, "failed")) +
                     json_integer_value(json_object_get(o, "dead")) +
                     json_integer_value(json_object_get(o, "cancelled"));
    const json_t *d = json_object_get(o, "description");
    synq_buf_puts(&out, "{\"bid\":");
    synq_buf_json_str(&out, bid, strlen(bid));
    synq_buf_puts(&out, ",\"parent_bid\":\"\",\"description\":");
    synq_buf_json_str(&out, json_is_string(d) ? json_string_value(d) : "",
                      json_is_string(d) ? json_string_length(d) : 0);
    synq_buf_printf(&out, ",\"created_at\":\"%s\",\"total\":%lld,\"pending\":%lld,\"failed\":%lld,"
                          "\"complete_st\":\"%s\",\"success_st\":\"%s\"}",
                    json_string_value(json_object_get(o, "created_at")),
                    (long long)json_integer_value(json_object_get(o, "total")),
                    (long long)json_integer_value(json_object_get(o, "pending")), (long long)failed,
                    done ? "1" : "", done && failed == 0 ? "1" : "");
    synq_fwp_reply_bulk(reply, out.data, out.len);
    json_decref(o);
done:
    synq_buf_release(&b);
    synq_buf_release(&out);
}

static bool cmd_batch(conn_t *c, const char *arg, size_t len, synq_buf_t *reply)
{
    synq_faktory_t *f = c->f;
    const char *p = arg, *w;
    size_t left = len, wl;
    if (!synq_fwp_word(&p, &left, &w, &wl)) wl = 0;
    char sub[8] = "";
    if (wl < sizeof sub) memcpy(sub, w, wl), sub[wl] = '\0';
    if (strcmp(sub, "NEW") == 0) {
        json_t *o = parse_json(p, left, reply);
        if (o == NULL) return false;
        bool wrote = false;
        json_t *spec = json_object();
        const json_t *v;
        char err[256];
        if ((v = json_object_get(o, "parent_bid")) && json_is_string(v) && json_string_length(v)) {
            synq_fwp_reply_errorf(reply, "ERR", "child batches (parent_bid) are not supported");
            goto new_out;
        }
        if ((v = json_object_get(o, "description")) && json_is_string(v))
            json_object_set(spec, "description", (json_t *)v);
        const char *const keys[][2] = {{"success", "on_success"}, {"complete", "on_complete"}};
        for (int i = 0; i < 2; i++) {
            if (!(v = json_object_get(o, keys[i][0])) || json_is_null(v)) continue;
            json_t *job = follow_up(v, err, sizeof err);
            if (job == NULL) {
                synq_fwp_reply_errorf(reply, "ERR", "%s: %s", keys[i][0], err);
                goto new_out;
            }
            json_object_set_new(spec, keys[i][1], job);
        }
        char *t = json_dumps(spec, JSON_COMPACT);
        synq_buf_t out;
        synq_buf_init(&out);
        size_t bad;
        int rc = synq_engine_batch_create(f->engine, t, true, NULL, 0, &out, &bad);
        free(t);
        if (rc) {
            synq_fwp_reply_errorf(reply, "ERR", "%s", synq_strerror(rc));
        } else {
            json_t *b = json_loadb(out.data, out.len, 0, NULL);
            const char *bid = json_string_value(json_object_get(json_object_get(b, "batch"), "id"));
            synq_fwp_reply_simple(reply, bid ? bid : "", bid ? strlen(bid) : 0);
            json_decref(b);
            wrote = true;
        }
        synq_buf_release(&out);
    new_out:
        json_decref(spec);
        json_decref(o);
        return wrote;
    }
    const char *bw;
    size_t bl;
    if (!synq_fwp_word(&p, &left, &bw, &bl)) {
        synq_fwp_reply_errorf(reply, "ERR", "missing batch id");
        return false;
    }
    char *bid = synq_strndup(bw, bl);
    bool wrote = false;
    int rc;
    if (strcmp(sub, "OPEN") == 0) {
        rc = synq_engine_batch_open(f->engine, bid);
        if (rc == 0) synq_fwp_reply_simple(reply, bid, bl);
    } else if (strcmp(sub, "COMMIT") == 0) {
        synq_buf_t out;
        synq_buf_init(&out);
        rc = synq_engine_batch_commit(f->engine, bid, &out);
        synq_buf_release(&out);
        if (rc == 0) synq_fwp_reply_ok(reply), wrote = true;
    } else if (strcmp(sub, "STATUS") == 0) {
        batch_status(f, bid, reply);
        rc = 0;
    } else {
        synq_fwp_reply_errorf(reply, "ERR", "no such BATCH subcommand: %s", sub);
        rc = 0;
    }
    if (rc == SYNQ_ENOTFOUND)
        synq_fwp_reply_errorf(reply, "ERR", "unknown batch %s", bid);
    else if (rc == SYNQ_ECONFLICT)
        synq_fwp_reply_errorf(reply, "ERR", "batch %s is committed already", bid);
    else if (rc)
        synq_fwp_reply_errorf(reply, "ERR", "%s", synq_strerror(rc));
    free(bid);
    return wrote;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void command(conn_t *c, const char *line, size_t len)
{
    synq_faktory_t *f = c->f;
    const char *verb, *arg;
    size_t vlen, alen;
    synq_fwp_split(line, len, &verb, &vlen, &arg, &alen);
    synq_fwp_cmd_t cmd = synq_fwp_cmd_lookup(verb, vlen);
    f->commands++;
    synq_buf_t reply;
    synq_buf_init(&reply);
    bool wrote = false;
    switch (cmd) {
    case SYNQ_FWP_CMD_PUSH: wrote = cmd_push(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_PUSHB: wrote = cmd_pushb(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_FETCH: cmd_fetch(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_ACK: wrote = cmd_ack(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_FAIL: wrote = cmd_fail(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_BEAT: cmd_beat(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_INFO: cmd_info(c, &reply); break;
    case SYNQ_FWP_CMD_FLUSH:
        synq_engine_flush(f->engine);
        synq_engine_counters(f->engine, &f->processed0, &f->failures0);
        synq_fwp_reply_ok(&reply);
        wrote = true;
        break;
    case SYNQ_FWP_CMD_END:
        conn_close(c); /* as Faktory: no reply */
        break;
    case SYNQ_FWP_CMD_MUTATE: wrote = cmd_mutate(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_QUEUE: wrote = cmd_queue(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_TRACK: wrote = cmd_track(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_BATCH: wrote = cmd_batch(c, arg, alen, &reply); break;
    case SYNQ_FWP_CMD_HELLO: /* only as the first line */
    default:
        synq_fwp_reply_errorf(&reply, "ERR", "unknown command %.*s", (int)SYNQ_MIN(vlen, 64), verb);
        break;
    }
    if (reply.len) finish(c, &reply, wrote);
    synq_buf_release(&reply);
}

/* Serves the lines received, one command at a time: a command that waits
 * (for a commit or a job) stops the loop and reading until it replies. */
static void process(conn_t *c)
{
    while (!c->closing && !c->busy && c->in_off < c->in.len) {
        size_t used = 0, len = 0;
        const char *line = NULL;
        int rc = synq_fwp_read(&c->reader, c->in.data + c->in_off, c->in.len - c->in_off, &used,
                               &line, &len);
        if (rc == SYNQ_ETOOBIG) {
            char msg[80];
            snprintf(msg, sizeof msg, "command line longer than %zu bytes", c->f->cfg.max_line);
            send_error_close(c, msg);
            break;
        }
        c->in_off += used;
        if (rc != SYNQ_FWP_LINE) break;
        if (c->identified)
            command(c, line, len);
        else
            hello(c, line, len);
    }
    if (c->closing) return;
    synq_buf_consume(&c->in, c->in_off);
    c->in_off = 0;
    if (c->eof) {
        close_if_done(c);
    } else if (c->reading && c->in.len > INPUT_HIGH_WATER) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    } else if (!c->reading && c->in.len <= INPUT_HIGH_WATER) {
        resume(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char chunk[READ_CHUNK]; /* one loop thread: used before the next read */
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (nread == UV_EOF && !c->waiter && !c->closing) {
        /* a half-close: answer what came, then close */
        c->eof = true;
        uv_read_stop(s);
        c->reading = false;
        process(c);
        return;
    }
    if (nread < 0) {
        conn_close(c); /* withdraws a waiting FETCH: no job goes to a peer that left */
        return;
    }
    if (nread == 0 || c->closing) return;
    synq_buf_append(&c->in, buf->base, (size_t)nread);
    process(c);
}

/* Resumes reading after a command that waited (process stops it). */
static void resume(conn_t *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

static void on_connection(uv_stream_t *server, int status)
{
    synq_faktory_t *f = server->data;
    if (status < 0 || f->closing) return;
    conn_t *c = synq_calloc(1, sizeof *c);
    c->f = f;
    uv_tcp_init(f->loop, &c->tcp);
    uv_timer_init(f->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    f->nlive++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    synq_fwp_reader_init(&c->reader, f->cfg.max_line);
    synq_buf_init(&c->in);
    synq_buf_init(&c->pending);
    snprintf(c->ident, sizeof c->ident, "fwp-%llu", (unsigned long long)++f->serial);
    c->next = f->conns;
    if (f->conns) f->conns->prev = c;
    f->conns = c;
    f->nconns++;
    synq_buf_t hi;
    synq_buf_init(&hi);
    if (f->password) {
        synq_fwp_salt(c->salt);
        synq_fwp_iterations(&c->iterations);
        synq_fwp_hi(&hi, c->iterations, c->salt);
    } else {
        synq_fwp_hi(&hi, 0, NULL);
    }
    send_buf(c, &hi);
    synq_buf_release(&hi);
    uv_timer_start(&c->timer, on_handshake_timeout, f->cfg.handshake_ms, 0);
    resume(c);
}

/* ---- lifetime ---------------------------------------------------------------------- */

synq_faktory_t *synq_faktory_start(synq_engine_t *e, const synq_faktory_config_t *cfg, int *err)
{
    synq_faktory_t *f = synq_calloc(1, sizeof *f);
    f->engine = e;
    f->loop = synq_engine_loop(e);
    f->cfg = *cfg;
    if (!f->cfg.max_line) f->cfg.max_line = SYNQ_FWP_MAX_LINE_DEFAULT;
    if (!f->cfg.handshake_ms) f->cfg.handshake_ms = 2000;
    if (!f->cfg.fetch_wait_ms) f->cfg.fetch_wait_ms = 2000;
    if (!f->cfg.worker_ttl_ms) f->cfg.worker_ttl_ms = 60000;
    f->cfg.addr = NULL;
    f->password = cfg->password && *cfg->password ? synq_strdup(cfg->password) : NULL;
    f->cfg.password = NULL;
    f->started_at = synq_time_now_us();
    synq_map_init(&f->workers);
    int rc = synq_listen(f->loop, &f->listener, cfg->addr, on_connection, f->addr, sizeof f->addr);
    f->listener.data = f;
    if (rc < 0) {
        *err = rc;
        uv_close((uv_handle_t *)&f->listener, NULL);
        uv_run(f->loop, UV_RUN_NOWAIT);
        synq_map_release(&f->workers);
        free(f->password);
        free(f);
        return NULL;
    }
    uv_timer_init(f->loop, &f->reaper);
    f->reaper.data = f;
    uint64_t every = SYNQ_MIN(f->cfg.worker_ttl_ms / 4, 15000);
    uv_timer_start(&f->reaper, on_reaper, every ? every : 1, every ? every : 1);
    f->open_handles = 2;
    return f;
}

const char *synq_faktory_addr(const synq_faktory_t *f)
{
    return f->addr;
}

static void on_handle_closed(uv_handle_t *h)
{
    synq_faktory_t *f = h->data;
    if (--f->open_handles > 0 || f->nlive > 0) return;
    if (f->closed_cb) {
        void (*cb)(void *) = f->closed_cb;
        f->closed_cb = NULL;
        cb(f->closed_arg);
    }
}

void synq_faktory_close(synq_faktory_t *f, void (*cb)(void *arg), void *arg)
{
    f->closing = true;
    f->closed_cb = cb;
    f->closed_arg = arg;
    void *it = NULL, *v;
    worker_t *list[256];
    size_t n;
    do {
        n = 0;
        it = NULL;
        while (synq_map_next(&f->workers, &it, NULL, &v) && n < SYNQ_ARRAY_LEN(list)) list[n++] = v;
        for (size_t i = 0; i < n; i++) worker_drop(f, list[i]);
    } while (n);
    while (f->conns) conn_close(f->conns);
    uv_close((uv_handle_t *)&f->listener, on_handle_closed);
    uv_close((uv_handle_t *)&f->reaper, on_handle_closed);
}

void synq_faktory_free(synq_faktory_t *f)
{
    if (f == NULL) return;
    synq_map_release(&f->workers);
    free(f->password);
    free(f);
}
