/* GET /v1/jobs/{id}/events: a job's life as Server-Sent Events.
 *
 * A new stream gets `event: state` (the job as GET /v1/jobs/{id} shows it),
 * then every stored progress report and log line after the resume point
 * (Last-Event-ID, or ?last_event_id= for the first request of an
 * EventSource, which cannot set headers) as `id: n` + `event: progress` or
 * `event: log`, then, for a final job, `event: done` and the end. A job still
 * running is followed live: state changes, progress and log lines as they
 * happen, and `event: done` after its final state.
 *
 * Nothing reaches a client before it is committed: engine events arrive
 * inside the call that caused them, with the change only in the open
 * transaction, so each stream queues its frames and the registry flushes
 * them all from one after-commit callback per loop turn (a failed commit
 * ends the streams instead: the client resumes from what it saw). The
 * frames of one engine event are built once and shared by the job's streams.
 *
 * It does not keep history itself (the store does) or bound the number of
 * streams (the HTTP server's connection limit does). */
#include "api/internal.h"

#include "core/map.h"
#include "core/rcbuf.h"
#include "net/sse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jstream_s jstream_t;

/* Frames in order, each holding one reference. */
typedef struct {
    synq_rcbuf_t **v;
    size_t n, cap;
    size_t bytes;
} frames_t;

/* The open streams that follow one job. */
typedef struct {
    char *id;           /* the map key */
    jstream_t *streams; /* doubly linked through next/prev */
} watch_t;

struct jstream_s {
    synq_job_streams_t *reg; /* NULL once the registry is closed */
    synq_sse_t *sse;
    watch_t *watch;           /* NULL when not following live events */
    jstream_t *next, *prev;   /* in watch->streams */
    jstream_t *anext, *aprev; /* in reg->all */
    jstream_t *dnext, *dprev; /* in reg->dirty while dirty */
    bool dirty;
    bool done;      /* the last frame is queued: end the stream after the flush */
    frames_t queue; /* waiting for the commit */
    int64_t last_n; /* the newest progress/log number queued */
};

struct synq_job_streams_s {
    synq_engine_t *engine;
    synq_map_t watches;  /* job id -> watch_t */
    jstream_t *all;      /* every stream until its on_close */
    jstream_t *dirty;    /* streams with queued frames */
    bool commit_pending; /* on_commit is registered for this loop turn */
    bool closed;         /* closed while on_commit was pending: it frees the registry */
};

/* ---- frames --------------------------------------------------------------- */

/* Appends frame, taking one more reference. */
static void frames_push(frames_t *f, synq_rcbuf_t *frame)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->v = synq_realloc(f->v, f->cap * sizeof *f->v);
    }
    f->v[f->n++] = synq_rcbuf_ref(frame);
    f->bytes += synq_rcbuf_len(frame);
}

static void frames_clear(frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        synq_rcbuf_unref(f->v[i]);
    f->n = 0;
    f->bytes = 0;
}

static void frames_release(frames_t *f)
{
    frames_clear(f);
    free(f->v);
    f->v = NULL;
    f->cap = 0;
}

/* `event: <event>` with the job JSON as data (no id: state is not resumable;
 * a client that reconnects gets the current state first anyway). */
static synq_rcbuf_t *job_frame(const char *event, const char *json, size_t len)
{
    return synq_sse_frame(NULL, event, json, len, NULL);
}

/* `id: n`, `event: progress|log`, the event's JSON. n == 0 (a report the
 * store did not keep: the job used its share of events) goes without an id
 * and leaves the client's resume point alone. */
static synq_rcbuf_t *numbered_frame(int64_t n, bool progress, const char *data)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)n);
    return synq_sse_frame(n > 0 ? id : NULL, progress ? "progress" : "log", data, strlen(data),
                          NULL);
}

/* ---- registry ------------------------------------------------------------- */

static void on_commit(int status, void *arg);

static void mark_dirty(synq_job_streams_t *reg, jstream_t *s)
{
    if (!s->dirty) {
        s->dirty = true;
        s->dprev = NULL;
        s->dnext = reg->dirty;
        if (reg->dirty) reg->dirty->dprev = s;
        reg->dirty = s;
    }
    if (!reg->commit_pending) {
        reg->commit_pending = true;
        synq_engine_after_commit(reg->engine, on_commit, reg);
    }
}

static void unlink_dirty(synq_job_streams_t *reg, jstream_t *s)
{
    if (!s->dirty) return;
    if (s->dprev)
        s->dprev->dnext = s->dnext;
    else
        reg->dirty = s->dnext;
    if (s->dnext) s->dnext->dprev = s->dprev;
    s->dirty = false;
    s->dnext = s->dprev = NULL;
}

/* Stops following live events; the watch goes with its last stream. */
static void unwatch(synq_job_streams_t *reg, jstream_t *s)
{
    watch_t *w = s->watch;
    if (w == NULL) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->watch = NULL;
    s->next = s->prev = NULL;
    if (w->streams == NULL) {
        synq_map_del(&reg->watches, w->id);
        free(w->id);
        free(w);
    }
}

static void watch(synq_job_streams_t *reg, jstream_t *s, const char *id)
{
    watch_t *w = synq_map_get(&reg->watches, id);
    if (w == NULL) {
        w = synq_calloc(1, sizeof *w);
        w->id = synq_strdup(id);
        synq_map_put(&reg->watches, w->id, w);
    }
    s->watch = w;
    s->prev = NULL;
    s->next = w->streams;
    if (w->streams) w->streams->prev = s;
    w->streams = s;
}

/* Writes a stream's queued frames now that they are committed (or, when the
 * commit failed, drops them and ends the stream: what they described may
 * not have happened). Sends fail quietly once the stream is over (a slow
 * consumer is cut by its queue limit); its on_close cleans up. */
static void flush(synq_job_streams_t *reg, jstream_t *s, int status)
{
    bool end = s->done || status != 0;
    if (status == 0) {
        for (size_t i = 0; i < s->queue.n; i++)
            if (synq_sse_send_frame(s->sse, s->queue.v[i]) < 0) {
                end = true;
                break;
            }
    }
    frames_clear(&s->queue);
    if (end) {
        unwatch(reg, s);
        synq_sse_end(s->sse);
    }
}

static void registry_free(synq_job_streams_t *reg)
{
    synq_map_release(&reg->watches);
    free(reg);
}

static void on_commit(int status, void *arg)
{
    synq_job_streams_t *reg = arg;
    reg->commit_pending = false;
    if (reg->closed) {
        registry_free(reg);
        return;
    }
    /* flush never re-enters the registry: sends do not call back, and
     * on_close always runs later from the loop */
    while (reg->dirty) {
        jstream_t *s = reg->dirty;
        unlink_dirty(reg, s);
        flush(reg, s, status);
    }
}

/* The engine listener: queues the frames of one event on every stream of
 * its job. arg is the api (alive as long as the engine), as the registry
 * may be gone while the engine still runs. */
static void on_event(const synq_jobev_t *ev, void *arg)
{
    synq_api_t *api = arg;
    synq_job_streams_t *reg = api->streams;
    if (reg == NULL || ev->job == NULL) return;
    watch_t *w = synq_map_get(&reg->watches, ev->job->id);
    if (w == NULL) return;
    synq_rcbuf_t *frame = NULL, *done = NULL;
    bool numbered = ev->kind != SYNQ_JOBEV_STATE && ev->n > 0;
    if (ev->kind != SYNQ_JOBEV_STATE) {
        if (ev->data == NULL) return;
        frame = numbered_frame(ev->n, ev->kind == SYNQ_JOBEV_PROGRESS, ev->data);
    } else {
        synq_buf_t json;
        synq_buf_init(&json);
        synq_job_to_json(ev->job, &json);
        frame = job_frame("state", json.data, json.len);
        if (synq_job_state_terminal(ev->job->state)) done = job_frame("done", json.data, json.len);
        synq_buf_release(&json);
    }
    for (jstream_t *s = w->streams, *next; s; s = next) {
        next = s->next;
        if (numbered && ev->n <= s->last_n) continue; /* already in its replay */
        frames_push(&s->queue, frame);
        if (numbered) s->last_n = ev->n;
        if (done) {
            frames_push(&s->queue, done);
            s->done = true;
            unwatch(reg, s); /* frees w with the last stream */
        }
        mark_dirty(reg, s);
    }
    synq_rcbuf_unref(frame);
    synq_rcbuf_unref(done);
}

/* on_close of every stream: runs from the loop once the connection is gone. */
static void on_stream_close(synq_sse_t *sse, synq_sse_close_t reason, void *arg)
{
    jstream_t *s = arg;
    synq_job_streams_t *reg = s->reg;
    if (reg) {
        unwatch(reg, s);
        unlink_dirty(reg, s);
        if (s->aprev)
            s->aprev->anext = s->anext;
        else
            reg->all = s->anext;
        if (s->anext) s->anext->aprev = s->aprev;
    }
    frames_release(&s->queue);
    free(s);
}

void synq_api_job_streams_init(synq_api_t *api)
{
    if (api->streams) return;
    synq_job_streams_t *reg = synq_calloc(1, sizeof *reg);
    reg->engine = api->engine;
    synq_map_init(&reg->watches);
    api->streams = reg;
    synq_engine_on_event(api->engine, on_event, api);
}

void synq_api_job_streams_close(synq_api_t *api)
{
    synq_job_streams_t *reg = api->streams;
    if (reg == NULL) return;
    api->streams = NULL; /* the listener stays registered and sees NULL */
    /* Every stream ends now; frames not yet committed are dropped (the
     * client resumes from the store with Last-Event-ID). The streams live
     * on until their on_close, detached from the registry. */
    for (jstream_t *s = reg->all, *next; s; s = next) {
        next = s->anext;
        s->reg = NULL;
        s->watch = NULL;
        s->dirty = false;
        frames_clear(&s->queue);
        synq_sse_end(s->sse);
    }
    reg->all = reg->dirty = NULL;
    /* the map's keys live in its values: collect them before freeing */
    size_t n = reg->watches.len, i = 0;
    watch_t **ws = synq_calloc(n ? n : 1, sizeof *ws);
    void *it = NULL, *v;
    const char *key;
    while (i < n && synq_map_next(&reg->watches, &it, &key, &v))
        ws[i++] = v;
    synq_map_release(&reg->watches);
    synq_map_init(&reg->watches);
    for (size_t k = 0; k < i; k++) {
        free(ws[k]->id);
        free(ws[k]);
    }
    free(ws);
    if (reg->commit_pending)
        reg->closed = true; /* on_commit still holds it */
    else
        registry_free(reg);
}

/* ---- the endpoint ----------------------------------------------------------- */

typedef struct {
    frames_t frames;
    int64_t last_n; /* of the newest stored event replayed */
} replay_t;

static void on_stored_event(const synq_event_row_t *ev, void *arg)
{
    replay_t *r = arg;
    synq_rcbuf_t *frame =
        numbered_frame(ev->n, ev->kind == SYNQ_EVENT_PROGRESS, ev->data ? ev->data : "null");
    frames_push(&r->frames, frame);
    synq_rcbuf_unref(frame);
    if (ev->n > r->last_n) r->last_n = ev->n;
}

/* Parses a resume point: a non-negative decimal event number. */
static int parse_event_id(const char *s, int64_t *out)
{
    if (*s < '0' || *s > '9') return SYNQ_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno != 0) return SYNQ_EINVAL;
    *out = v;
    return 0;
}

void synq_api_jobs_events(synq_api_ctx_t *ctx)
{
    synq_job_streams_t *reg = ctx->api->streams;
    const char *id = ctx->params[0];
    synq_buf_t job;
    synq_buf_init(&job);
    replay_t replay = {0};
    frames_t *frames = &replay.frames;
    if (reg == NULL) {
        synq_api_error(ctx, 503, "unavailable", "the server is shutting down", NULL);
        goto out;
    }

    /* The header wins: on reconnect EventSource sends it with the original
     * URL, whose last_event_id is the first request's. */
    int64_t after = 0;
    const char *hdr = synq_http_req_header(ctx->req, "last-event-id");
    char q[32];
    if (hdr && *hdr) {
        if (parse_event_id(hdr, &after) < 0) {
            synq_api_error(ctx, 422, "invalid_field",
                           "Last-Event-ID: must be an event number (a non-negative integer)",
                           "Last-Event-ID");
            goto out;
        }
    } else if (synq_http_req_query(ctx->req, "last_event_id", q, sizeof q) > 0) {
        if (parse_event_id(q, &after) < 0) {
            synq_api_invalid(ctx, NULL,
                             "last_event_id: must be an event number (a non-negative integer)");
            goto out;
        }
    }

    int rc = synq_engine_get(ctx->engine, id, &job);
    if (rc < 0) {
        synq_api_engine_error(ctx, rc, "job");
        goto out;
    }
    const synq_job_t *live = synq_engine_peek(ctx->engine, id);
    bool final = live == NULL || synq_job_state_terminal(live->state);

    synq_rcbuf_t *f = job_frame("state", job.data, job.len);
    frames_push(frames, f);
    synq_rcbuf_unref(f);
    replay.last_n = after;
    rc = synq_engine_events(ctx->engine, id, after, on_stored_event, &replay);
    if (rc < 0) {
        synq_api_engine_error(ctx, rc, "job");
        goto out;
    }
    if (final) {
        f = job_frame("done", job.data, job.len);
        frames_push(frames, f);
        synq_rcbuf_unref(f);
    }

    /* The replay goes out in one burst: the queue bound counts it on top of
     * the usual allowance, so a long history does not look like a slow
     * consumer (the store caps it per job). */
    synq_sse_config_t cfg;
    synq_sse_config_init(&cfg);
    cfg.max_queued_bytes += frames->bytes;
    jstream_t *s = synq_calloc(1, sizeof *s);
    s->reg = reg;
    s->last_n = replay.last_n; /* live events up to it are in the replay */
    s->sse = synq_sse_start(ctx->req, &cfg, on_stream_close, s);
    ctx->req = NULL;      /* consumed */
    if (s->sse == NULL) { /* the client is gone */
        free(s);
        goto out;
    }
    s->anext = reg->all;
    if (reg->all) reg->all->aprev = s;
    reg->all = s;
    if (synq_sse_over(s->sse)) goto out; /* HEAD: the head was all; on_close follows */

    for (size_t i = 0; i < frames->n; i++)
        frames_push(&s->queue, frames->v[i]);
    if (final)
        s->done = true;
    else
        watch(reg, s, id);
    mark_dirty(reg, s);
out:
    frames_release(frames);
    synq_buf_release(&job);
}
