/* The engine: in-memory job state over the store, timers, waiters and group
 * commit. Live jobs (scheduled, queued, active, retry) are held in memory
 * and written through to the store on every change; finished jobs live only
 * in the store.
 *
 * Ready jobs sit in one FIFO list per queue and priority, so a fetch is
 * O(1). Scheduled and retrying jobs wait in the `due` heap (by run_at),
 * active jobs in the `leases` heap (by lease_until). One uv_timer sleeps
 * until the earliest of both. */
#include "engine/engine.h"

#include "core/heap.h"
#include "core/id.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPRIO 10 /* priorities 1..9; index 0 unused */
#define MAX_WAIT_QUEUES 32

typedef struct queue_s {
    char *name;
    bool paused;
    synq_job_t *head[NPRIO], *tail[NPRIO];
    int64_t counts[SYNQ_JOB_NSTATES];
    /* settings (PUT /v1/queues/{q}); config is their JSON text or NULL */
    char *config;
    int max_active;       /* 0 = no limit */
    int rate_limit;       /* starts per rate_per_us (token bucket), 0 = none */
    int64_t rate_per_us;
    double tokens;
    int64_t tokens_at;    /* when tokens was last topped up */
    int64_t keep_for_us;  /* 0 = the engine default */
    char *callback;
} queue_t;

/* An ordering group: its live jobs in enqueue order; only the first may run. */
typedef struct group_s {
    char *name;
    synq_job_t **v;
    size_t n, cap;
} group_t;

/* Jobs waiting on one dependency. */
typedef struct deplist_s {
    char *id; /* the dependency's id: the map key */
    synq_job_t **v;
    size_t n, cap;
} deplist_t;

/* A batch that is not done: how many of its jobs are still live. */
typedef struct batch_s {
    char *id;
    char *spec;
    bool open;
    int64_t pending;
    int64_t created_at, committed_at;
} batch_t;

/* A job cancelled while a worker held it, remembered so that worker's
 * heartbeat, ack or fail learns why its lease is gone. */
typedef struct cancelled_s {
    char *id; /* the map key */
    char *worker;
    int64_t until;
} cancelled_t;

typedef struct commit_waiter_s {
    synq_engine_commit_cb cb;
    void *arg;
} commit_waiter_t;

struct synq_fetch_waiter_s {
    synq_engine_t *e;
    uv_timer_t timer;
    char *queues[MAX_WAIT_QUEUES];
    size_t nqueues;
    int max;
    char *worker;
    synq_job_fmt_fn fmt;
    synq_fetch_cb cb;
    void *arg;
    synq_fetch_waiter_t *next, *prev;
};

struct synq_engine_s {
    uv_loop_t *loop;
    synq_store_t *store;
    synq_engine_config_t cfg;
    synq_map_t jobs;   /* id -> live job */
    synq_map_t queues; /* name -> queue_t */
    synq_map_t groups; /* name -> group_t */
    synq_map_t uniques;    /* unique key -> the live job holding it */
    synq_map_t dependants; /* job id -> deplist_t of waiting jobs */
    synq_map_t batches;    /* id -> batch_t (not done) */
    synq_map_t cancelled;  /* id -> cancelled_t */
    uv_timer_t rate_timer;
    int64_t rate_wake;     /* when rate_timer fires, 0 = not armed */
    synq_heap_t due;
    synq_heap_t leases;
    uv_timer_t timer;
    uv_timer_t maint;
    uv_check_t check;
    uv_idle_t idle;
    commit_waiter_t *commit_waiters;
    size_t ncommit, capcommit;
    synq_fetch_waiter_t *waiters, *waiters_tail;
    bool dispatch_needed;
    bool prune_needed;
    bool closing;
    int64_t totals[SYNQ_JOB_NSTATES];
    int64_t processed, failures; /* acks and failures (incl. lapsed leases) since start */
    int handles_open;
    void (*closed_cb)(void *);
    void *closed_arg;
    synq_idgen_t idgen;
    uint64_t rng;
    struct {
        synq_engine_job_cb cb;
        void *arg;
    } final_cbs[8];
    int nfinal;
    struct {
        synq_engine_event_cb cb;
        void *arg;
    } event_cbs[8];
    int nevent;
    struct {
        synq_engine_batch_cb cb;
        void *arg;
    } batch_cbs[4];
    int nbatch;
    int64_t last_cap_prune;
};

/* ---- helpers ----------------------------------------------------------- */

static uint64_t rnd(synq_engine_t *e)
{
    /* xorshift64*: jitter only, not security */
    e->rng ^= e->rng >> 12;
    e->rng ^= e->rng << 25;
    e->rng ^= e->rng >> 27;
    return e->rng * 2685821657736338717ULL;
}

static bool due_less(const void *a, const void *b)
{
    const synq_job_t *x = a, *y = b;
    return x->run_at < y->run_at || (x->run_at == y->run_at && x->seq < y->seq);
}

static bool lease_less(const void *a, const void *b)
{
    return ((const synq_job_t *)a)->lease_until < ((const synq_job_t *)b)->lease_until;
}

static void set_index(void *item, size_t idx)
{
    ((synq_job_t *)item)->timer_idx = idx;
}

static queue_t *queue_get(synq_engine_t *e, const char *name, bool create)
{
    queue_t *q = synq_map_get(&e->queues, name);
    if (q || !create) return q;
    q = synq_calloc(1, sizeof *q);
    q->name = synq_strdup(name);
    synq_map_put(&e->queues, q->name, q);
    return q;
}

static void on_idle(uv_idle_t *h)
{
    (void)h;
}

static void mark_dirty(synq_engine_t *e)
{
    /* an active idle handle keeps the loop from blocking in poll, so the
     * check phase (which commits) runs promptly even after timer writes */
    if (!uv_is_active((uv_handle_t *)&e->idle)) uv_idle_start(&e->idle, on_idle);
}

static void count(synq_engine_t *e, const synq_job_t *j, int delta)
{
    queue_t *q = queue_get(e, j->queue, true);
    q->counts[j->state] += delta;
    e->totals[j->state] += delta;
    /* a slot of a max_active queue came free: waiting fetches may now run */
    if (delta < 0 && j->state == SYNQ_JOB_ACTIVE && q->max_active && e->waiters)
        e->dispatch_needed = true, mark_dirty(e);
}

static void emit(synq_engine_t *e, synq_jobev_kind_t kind, const synq_job_t *j, int64_t n,
                 const char *data)
{
    synq_jobev_t ev = {kind, j, n, data};
    for (int i = 0; i < e->nevent; i++) e->event_cbs[i].cb(&ev, e->event_cbs[i].arg);
}

static void emit_state(synq_engine_t *e, const synq_job_t *j)
{
    if (e->nevent) emit(e, SYNQ_JOBEV_STATE, j, 0, NULL);
}

/* ---- ordering groups ------------------------------------------------------ */

static bool group_head(synq_engine_t *e, const synq_job_t *j)
{
    group_t *g = synq_map_get(&e->groups, j->group);
    return g == NULL || g->v[0] == j;
}

static void group_add(synq_engine_t *e, synq_job_t *j)
{
    group_t *g = synq_map_get(&e->groups, j->group);
    if (g == NULL) {
        g = synq_calloc(1, sizeof *g);
        g->name = synq_strdup(j->group);
        synq_map_put(&e->groups, g->name, g);
    }
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4;
        g->v = synq_realloc(g->v, g->cap * sizeof *g->v);
    }
    g->v[g->n++] = j;
}

static void ready_push(synq_engine_t *e, synq_job_t *j);

/* Takes a job that is no longer live out of its group; the next one, if
 * queued, becomes ready. */
static void group_remove(synq_engine_t *e, synq_job_t *j)
{
    group_t *g = synq_map_get(&e->groups, j->group);
    if (g == NULL) return;
    size_t i = 0;
    while (i < g->n && g->v[i] != j) i++;
    if (i == g->n) return;
    memmove(g->v + i, g->v + i + 1, (g->n - i - 1) * sizeof *g->v);
    g->n--;
    if (g->n == 0) {
        synq_map_del(&e->groups, g->name);
        free(g->name);
        free(g->v);
        free(g);
        return;
    }
    synq_job_t *h = g->v[0];
    if (i == 0 && h->state == SYNQ_JOB_QUEUED && h->owner == NULL) ready_push(e, h);
}

/* ---- uniqueness ----------------------------------------------------------- */

/* The live job holding key within its window, or NULL. */
static synq_job_t *unique_holder(synq_engine_t *e, const char *key, int64_t now)
{
    synq_job_t *h = synq_map_get(&e->uniques, key);
    if (h && h->unique_until_us <= now) {
        synq_map_del(&e->uniques, key); /* the window is over: the key is free */
        return NULL;
    }
    return h;
}

static void unique_release(synq_engine_t *e, const synq_job_t *j)
{
    if (j->unique_key && synq_map_get(&e->uniques, j->unique_key) == j)
        synq_map_del(&e->uniques, j->unique_key);
}

static bool group_head(synq_engine_t *e, const synq_job_t *j);

static void ready_push(synq_engine_t *e, synq_job_t *j)
{
    if (j->group && !group_head(e, j)) {
        j->owner = NULL; /* parked: it runs when it reaches its group's head */
        return;
    }
    queue_t *q = queue_get(e, j->queue, true);
    int p = j->priority;
    j->next = NULL;
    j->prev = q->tail[p];
    if (q->tail[p]) q->tail[p]->next = j; else q->head[p] = j;
    q->tail[p] = j;
    j->owner = q;
    if (e->waiters) e->dispatch_needed = true, mark_dirty(e);
}

static void ready_unlink(synq_job_t *j)
{
    queue_t *q = j->owner;
    int p = j->priority;
    if (j->prev) j->prev->next = j->next; else q->head[p] = j->next;
    if (j->next) j->next->prev = j->prev; else q->tail[p] = j->prev;
    j->next = j->prev = NULL;
    j->owner = NULL;
}

/* Removes a live job from whichever list or heap holds it. */
static void detach(synq_engine_t *e, synq_job_t *j)
{
    if (j->state == SYNQ_JOB_QUEUED && j->owner) {
        ready_unlink(j);
    } else if (j->timer_idx != SYNQ_HEAP_NONE) {
        synq_heap_remove(j->state == SYNQ_JOB_ACTIVE ? &e->leases : &e->due, j->timer_idx);
    }
}

static void arm_timer(synq_engine_t *e);

/* Places a live job by its state: ready list, due heap or lease heap. */
static void attach(synq_engine_t *e, synq_job_t *j)
{
    j->timer_idx = SYNQ_HEAP_NONE;
    j->owner = NULL;
    switch (j->state) {
    case SYNQ_JOB_QUEUED: ready_push(e, j); break;
    case SYNQ_JOB_SCHEDULED:
    case SYNQ_JOB_RETRY: synq_heap_push(&e->due, j), arm_timer(e); break;
    case SYNQ_JOB_ACTIVE: synq_heap_push(&e->leases, j), arm_timer(e); break;
    default: break;
    }
}

static void store_write(synq_engine_t *e, int rc)
{
    if (rc == 0) {
        mark_dirty(e);
        return;
    }
    /* The store failed under us: memory and disk may now disagree, and no
     * further write can be acknowledged honestly. Stop, as Redis does on a
     * failed AOF write; nothing unacknowledged was promised. */
    synq_log(SYNQ_LOG_ERROR, "store write failed, exiting", "error", synq_strerror(rc), NULL);
    abort();
}

static void set_state(synq_engine_t *e, synq_job_t *j, synq_job_state_t s);
static void deps_resolve(synq_engine_t *e, const synq_job_t *dep);
static void cancel_live(synq_engine_t *e, synq_job_t *j, const char *message, const char *type,
                        synq_buf_t *out);
static void waiter_finish(synq_engine_t *e, synq_fetch_waiter_t *w, const synq_buf_t *jobs, int n,
                          const char *cancel);
static void deps_unregister(synq_engine_t *e, synq_job_t *j);
static void batch_job_done(synq_engine_t *e, const synq_job_t *j);

static int64_t keep_for_us(synq_engine_t *e, const synq_job_t *j)
{
    if (j->keep_for_us) return j->keep_for_us;
    queue_t *q = queue_get(e, j->queue, false);
    if (q && q->keep_for_us) return q->keep_for_us;
    return j->state == SYNQ_JOB_DEAD ? e->cfg.dead_ttl_us : e->cfg.completed_ttl_us;
}

/* Finishes a job that left the live set: persist, tell the listeners, move
 * its group, dependants and batch on, forget, free. */
static void retire(synq_engine_t *e, synq_job_t *j, synq_buf_t *out)
{
    j->expires_at = j->finished_at + keep_for_us(e, j);
    unique_release(e, j);
    if (j->deps_pending > 0) deps_unregister(e, j);
    if (j->group && j->state == SYNQ_JOB_DEAD) {
        group_t *g = synq_map_get(&e->groups, j->group);
        if (g && g->v[0] == j) j->group_blocked = (int)g->n - 1;
    }
    if (j->state == SYNQ_JOB_COMPLETED)
        store_write(e, e->store->ops->job_update_done(e->store, j));
    else
        store_write(e, e->store->ops->job_update(e->store, j));
    if (out) synq_job_to_json(j, out);
    emit_state(e, j);
    for (int i = 0; i < e->nfinal; i++) e->final_cbs[i].cb(j, e->final_cbs[i].arg);
    synq_map_del(&e->jobs, j->id);
    if (j->group) group_remove(e, j);
    deps_resolve(e, j);
    if (j->batch) batch_job_done(e, j);
    synq_job_free(j);
}

static void set_state(synq_engine_t *e, synq_job_t *j, synq_job_state_t s)
{
    count(e, j, -1);
    j->state = s;
    count(e, j, +1);
}

/* ---- timers ------------------------------------------------------------ */

static void on_timer(uv_timer_t *t);

static void arm_timer(synq_engine_t *e)
{
    if (e->closing) return;
    int64_t next = INT64_MAX;
    synq_job_t *d = synq_heap_peek(&e->due), *l = synq_heap_peek(&e->leases);
    if (d) next = d->run_at;
    if (l && l->lease_until < next) next = l->lease_until;
    if (next == INT64_MAX) {
        uv_timer_stop(&e->timer);
        return;
    }
    int64_t now = synq_time_now_us();
    uint64_t ms = next <= now ? 0 : (uint64_t)((next - now + 999) / 1000);
    uv_timer_start(&e->timer, on_timer, ms, 0);
}

static void fail_job(synq_engine_t *e, synq_job_t *j, const char *message, const char *type,
                     const char *backtrace, int64_t now, int64_t retry_in_us, synq_buf_t *out);

static void on_timer(uv_timer_t *t)
{
    synq_engine_t *e = t->data;
    int64_t now = synq_time_now_us();
    synq_job_t *j;
    while ((j = synq_heap_peek(&e->due)) && j->run_at <= now) {
        synq_heap_pop(&e->due);
        set_state(e, j, SYNQ_JOB_QUEUED);
        j->run_at = 0;
        j->enqueued_at = now;
        store_write(e, e->store->ops->job_update_due(e->store, j));
        ready_push(e, j);
        emit_state(e, j);
    }
    while ((j = synq_heap_peek(&e->leases)) && j->lease_until <= now) {
        synq_heap_pop(&e->leases);
        synq_log(SYNQ_LOG_WARN, "lease expired", "job", j->id, "worker", j->worker, NULL);
        fail_job(e, j, "lease expired", "LeaseExpired", NULL, now, -1, NULL);
    }
    arm_timer(e);
}

static void prune(synq_engine_t *e);

static void on_maint(uv_timer_t *t)
{
    prune(t->data);
}

/* ---- group commit and dispatch ------------------------------------------ */

static void dispatch(synq_engine_t *e);

static void on_check(uv_check_t *c)
{
    synq_engine_t *e = c->data;
    if (e->prune_needed) prune(e);
    int rc = e->store->ops->commit(e->store);
    if (rc) {
        synq_log(SYNQ_LOG_ERROR, "commit failed, exiting", NULL);
        abort(); /* see store_write */
    }
    /* callbacks may register more waiters: take the list first */
    while (e->ncommit) {
        size_t n = e->ncommit;
        commit_waiter_t *w = synq_malloc(n * sizeof *w);
        memcpy(w, e->commit_waiters, n * sizeof *w);
        e->ncommit = 0;
        for (size_t i = 0; i < n; i++) w[i].cb(0, w[i].arg);
        free(w);
        if (e->ncommit) e->store->ops->commit(e->store);
    }
    if (e->dispatch_needed) dispatch(e);
    uv_idle_stop(&e->idle);
    if (e->ncommit || e->dispatch_needed) mark_dirty(e);
}

void synq_engine_after_commit(synq_engine_t *e, synq_engine_commit_cb cb, void *arg)
{
    if (e->ncommit == e->capcommit) {
        e->capcommit = e->capcommit ? e->capcommit * 2 : 64;
        e->commit_waiters = synq_realloc(e->commit_waiters, e->capcommit * sizeof(commit_waiter_t));
    }
    e->commit_waiters[e->ncommit++] = (commit_waiter_t){cb, arg};
    mark_dirty(e);
}

/* ---- dependencies -------------------------------------------------------- */

static void deplist_add(synq_engine_t *e, const char *dep_id, synq_job_t *j)
{
    deplist_t *l = synq_map_get(&e->dependants, dep_id);
    if (l == NULL) {
        l = synq_calloc(1, sizeof *l);
        l->id = synq_strdup(dep_id);
        synq_map_put(&e->dependants, l->id, l);
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = synq_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = j;
}

/* Removes the list of dep_id from the map and returns it (or NULL). */
static deplist_t *deplist_take(synq_engine_t *e, const char *dep_id)
{
    return synq_map_del(&e->dependants, dep_id);
}

static void deplist_free(deplist_t *l)
{
    if (l == NULL) return;
    free(l->id);
    free(l->v);
    free(l);
}

/* A waiting job that stopped waiting for another reason (cancelled,
 * deleted): no dependency may point at it any more. */
static void deps_unregister(synq_engine_t *e, synq_job_t *j)
{
    json_t *ids = json_loads(j->depends_on, 0, NULL);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        deplist_t *l = synq_map_get(&e->dependants, json_string_value(id));
        if (l == NULL) continue;
        for (size_t k = 0; k < l->n; k++) {
            if (l->v[k] != j) continue;
            memmove(l->v + k, l->v + k + 1, (l->n - k - 1) * sizeof *l->v);
            l->n--;
            break;
        }
        if (l->n == 0) deplist_free(deplist_take(e, json_string_value(id)));
    }
    json_decref(ids);
    j->deps_pending = 0;
}

static void add_dep_result(synq_job_t *j, const char *dep_id, const char *result)
{
    json_t *o = j->dep_results ? json_loads(j->dep_results, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_t *r = result ? json_loads(result, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(o, dep_id, r ? r : json_null());
    free(j->dep_results);
    j->dep_results = json_dumps(o, JSON_COMPACT);
    json_decref(o);
}

/* Every dependency is final: the job becomes scheduled or queued. */
static void release_waiting(synq_engine_t *e, synq_job_t *j, int64_t now)
{
    if (j->run_at > now) {
        set_state(e, j, SYNQ_JOB_SCHEDULED);
    } else {
        set_state(e, j, SYNQ_JOB_QUEUED);
        j->run_at = 0;
        j->enqueued_at = now;
    }
    store_write(e, e->store->ops->job_update(e->store, j));
    attach(e, j);
    emit_state(e, j);
}

static void cancel_live(synq_engine_t *e, synq_job_t *j, const char *message, const char *type,
                        synq_buf_t *out);

/* Cancels a live job because dependency dep_id ended in state. */
static void cancel_for_dep(synq_engine_t *e, synq_job_t *j, const char *dep_id,
                           synq_job_state_t state, synq_buf_t *out)
{
    char msg[300];
    snprintf(msg, sizeof msg, "dependency %s is %s", dep_id, synq_job_state_name(state));
    j->deps_pending = 0; /* cancel_live must not unregister what was never registered */
    cancel_live(e, j, msg, "DependencyFailed", out);
}

/* dep (id, final state, result) is final: tell the waiting job d. */
static void dep_done(synq_engine_t *e, synq_job_t *d, const char *dep_id,
                     synq_job_state_t state, const char *result, int64_t now)
{
    if (state != SYNQ_JOB_COMPLETED && !d->run_on_dep_failure) {
        deps_unregister(e, d); /* from its other dependencies' lists */
        cancel_for_dep(e, d, dep_id, state, NULL);
        return;
    }
    add_dep_result(d, dep_id, state == SYNQ_JOB_COMPLETED ? result : NULL);
    if (--d->deps_pending == 0) release_waiting(e, d, now);
}

static void deps_resolve(synq_engine_t *e, const synq_job_t *dep)
{
    deplist_t *l = deplist_take(e, dep->id);
    if (l == NULL) return;
    int64_t now = synq_time_now_us();
    for (size_t i = 0; i < l->n; i++) dep_done(e, l->v[i], dep->id, dep->state, dep->result, now);
    deplist_free(l);
}

/* For a job with depends_on, not yet in the live set: counts the live
 * dependencies and collects the results of final ones. Returns the id of
 * a dependency that is dead or cancelled (when that cancels the job;
 * copied into failed, size 160) or "" . */
static void deps_scan(synq_engine_t *e, synq_job_t *j, char *failed, synq_job_state_t *fstate)
{
    json_t *ids = json_loads(j->depends_on, 0, NULL);
    size_t i;
    json_t *idv;
    failed[0] = '\0';
    j->deps_pending = 0;
    json_array_foreach(ids, i, idv) {
        const char *id = json_string_value(idv);
        if (synq_map_get(&e->jobs, id)) {
            j->deps_pending++;
            continue;
        }
        synq_job_t *d = NULL;
        synq_job_state_t st = SYNQ_JOB_CANCELLED; /* pruned or deleted: gone */
        if (e->store->ops->job_get(e->store, id, &d) == 0) st = d->state;
        if (st == SYNQ_JOB_COMPLETED || j->run_on_dep_failure) {
            add_dep_result(j, id, st == SYNQ_JOB_COMPLETED && d ? d->result : NULL);
        } else if (!failed[0]) {
            snprintf(failed, 160, "%s", id);
            *fstate = st;
        }
        synq_job_free(d);
    }
    json_decref(ids);
}

static void deps_register(synq_engine_t *e, synq_job_t *j)
{
    json_t *ids = json_loads(j->depends_on, 0, NULL);
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) {
        const char *id = json_string_value(idv);
        if (synq_map_get(&e->jobs, id)) deplist_add(e, id, j);
    }
    json_decref(ids);
}

/* ---- batches -------------------------------------------------------------- */

static void batch_free(batch_t *b)
{
    free(b->id);
    free(b->spec);
    free(b);
}

typedef struct {
    int64_t total, pending, succeeded, failed, dead, cancelled;
} batch_counts_t;

static int count_batch_job(synq_job_t *j, void *arg)
{
    batch_counts_t *c = arg;
    c->total++;
    switch (j->state) {
    case SYNQ_JOB_COMPLETED: c->succeeded++; break;
    case SYNQ_JOB_DEAD: c->dead++; break;
    case SYNQ_JOB_CANCELLED: c->cancelled++; break;
    default:
        c->pending++;
        if (j->err_message || j->state == SYNQ_JOB_RETRY) c->failed++;
    }
    synq_job_free(j);
    return 0;
}

static void counts_json(const batch_counts_t *c, synq_buf_t *out)
{
    synq_buf_printf(out,
                    "\"total\":%lld,\"pending\":%lld,\"succeeded\":%lld,\"failed\":%lld,"
                    "\"dead\":%lld,\"cancelled\":%lld",
                    (long long)c->total, (long long)c->pending, (long long)c->succeeded,
                    (long long)c->failed, (long long)c->dead, (long long)c->cancelled);
}

static const char *const batch_state_names[] = {"open", "committed", "done"};

/* The GET form of a batch row; counts from the store unless done. */
static void batch_json(synq_engine_t *e, const synq_batch_row_t *r, synq_buf_t *out)
{
    json_t *spec = json_loads(r->spec, 0, NULL);
    synq_buf_puts(out, "{\"id\":");
    synq_buf_json_str(out, r->id, strlen(r->id));
    const json_t *d = json_object_get(spec, "description");
    synq_buf_puts(out, ",\"description\":");
    if (json_is_string(d))
        synq_buf_json_str(out, json_string_value(d), json_string_length(d));
    else
        synq_buf_puts(out, "null");
    synq_buf_printf(out, ",\"state\":\"%s\",", batch_state_names[r->state]);
    if (r->state == SYNQ_BATCH_DONE && r->counts) {
        synq_buf_puts(out, r->counts + 1); /* {"total":..} without its brace */
        out->len--, out->data[out->len] = '\0';
    } else {
        batch_counts_t c = {0};
        e->store->ops->job_list_batch(e->store, r->id, count_batch_job, &c);
        counts_json(&c, out);
    }
    const int64_t times[] = {r->created_at, r->committed_at, r->done_at};
    const char *const names[] = {"created_at", "committed_at", "done_at"};
    for (int i = 0; i < 3; i++) {
        synq_buf_printf(out, ",\"%s\":", names[i]);
        synq_buf_put_time(out, times[i]);
    }
    const char *const keys[] = {"on_complete", "on_success"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(spec, keys[i]);
        char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
        synq_buf_printf(out, ",\"%s\":%s", keys[i], t ? t : "null");
        free(t);
    }
    json_t *cb = json_object_get(spec, "callback");
    if (json_is_object(cb)) {
        json_object_del(cb, "secrets");
        char *t = json_dumps(cb, JSON_COMPACT);
        synq_buf_printf(out, ",\"callback\":%s", t);
        free(t);
    }
    synq_buf_putc(out, '}');
    json_decref(spec);
}

static void batch_row(const batch_t *b, synq_batch_state_t state, synq_batch_row_t *r)
{
    *r = (synq_batch_row_t){.id = b->id, .spec = b->spec, .state = state,
                            .created_at = b->created_at, .committed_at = b->committed_at};
}

static int enqueue_apply(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                         synq_buf_t *out, batch_t *b);

/* Enqueues the batch's on_complete / on_success job, with the batch's
 * final counts in custom.batch. */
static void batch_follow_up(synq_engine_t *e, const json_t *spec_job, const char *id,
                            const char *counts)
{
    if (!json_is_object(spec_job)) return;
    char err[256];
    synq_job_t *j = synq_job_from_json(spec_job, synq_time_now_us(), err, sizeof err);
    if (j == NULL) {
        synq_log(SYNQ_LOG_ERROR, "batch follow-up job invalid", "batch", id, "error", err, NULL);
        return;
    }
    json_t *custom = j->custom ? json_loads(j->custom, 0, NULL) : json_object();
    json_t *c = json_loads(counts, 0, NULL);
    json_object_set_new(c, "id", json_string(id));
    json_object_set_new(custom, "batch", c);
    free(j->custom);
    j->custom = json_dumps(custom, JSON_COMPACT);
    json_decref(custom);
    free(j->id);
    j->id = NULL; /* a fresh id: the spec may be reused */
    enqueue_apply(e, &j, 1, false, NULL, NULL);
}

/* Every job of a committed batch is final: record it done (once: the batch
 * leaves memory in the same transaction), run the follow-ups, tell the
 * listeners. */
static void batch_finish(synq_engine_t *e, batch_t *b)
{
    batch_counts_t c = {0};
    e->store->ops->job_list_batch(e->store, b->id, count_batch_job, &c);
    synq_buf_t counts;
    synq_buf_init(&counts);
    synq_buf_putc(&counts, '{');
    counts_json(&c, &counts);
    synq_buf_putc(&counts, '}');
    synq_batch_row_t r;
    batch_row(b, SYNQ_BATCH_DONE, &r);
    r.counts = counts.data;
    r.done_at = synq_time_now_us();
    store_write(e, e->store->ops->batch_put(e->store, &r));
    synq_map_del(&e->batches, b->id);
    json_t *spec = json_loads(b->spec, 0, NULL);
    batch_follow_up(e, json_object_get(spec, "on_complete"), b->id, counts.data);
    if (c.succeeded == c.total)
        batch_follow_up(e, json_object_get(spec, "on_success"), b->id, counts.data);
    if (e->nbatch) {
        synq_buf_t bj;
        synq_buf_init(&bj);
        batch_json(e, &r, &bj);
        json_t *cb = json_object_get(spec, "callback");
        char *cbt = json_is_object(cb) ? json_dumps(cb, JSON_COMPACT) : NULL;
        for (int i = 0; i < e->nbatch; i++) e->batch_cbs[i].cb(b->id, bj.data, cbt, e->batch_cbs[i].arg);
        free(cbt);
        synq_buf_release(&bj);
    }
    json_decref(spec);
    synq_buf_release(&counts);
    batch_free(b);
}

static void batch_job_done(synq_engine_t *e, const synq_job_t *j)
{
    batch_t *b = synq_map_get(&e->batches, j->batch);
    if (b == NULL) return;
    if (--b->pending == 0 && !b->open) batch_finish(e, b);
}

/* ---- loading ------------------------------------------------------------ */

static int load_job(synq_job_t *j, void *arg)
{
    synq_engine_t *e = arg;
    synq_map_put(&e->jobs, j->id, j);
    /* jobs come oldest first, so groups rebuild in enqueue order */
    if (j->group) group_add(e, j);
    bool started = j->state == SYNQ_JOB_ACTIVE || j->state == SYNQ_JOB_RETRY || j->attempts > 0;
    if (j->unique_key && !(j->unique_until_start && started))
        synq_map_put(&e->uniques, j->unique_key, j);
    attach(e, j);
    return 0;
}

/* After loading: waiting jobs look at their dependencies again (some may
 * have finished while we were down... or in the same final commit). */
static void load_waiting(synq_engine_t *e)
{
    size_t n = 0, cap = 0;
    synq_job_t **w = NULL;
    void *it = NULL, *v;
    while (synq_map_next(&e->jobs, &it, NULL, &v)) {
        synq_job_t *j = v;
        if (j->state != SYNQ_JOB_WAITING) continue;
        if (n == cap) cap = cap ? cap * 2 : 16, w = synq_realloc(w, cap * sizeof *w);
        w[n++] = j;
    }
    int64_t now = synq_time_now_us();
    for (size_t i = 0; i < n; i++) {
        synq_job_t *j = w[i];
        char failed[160];
        synq_job_state_t fstate = SYNQ_JOB_CANCELLED;
        free(j->dep_results);
        j->dep_results = NULL;
        deps_scan(e, j, failed, &fstate);
        if (failed[0]) {
            cancel_for_dep(e, j, failed, fstate, NULL);
        } else if (j->deps_pending > 0) {
            deps_register(e, j);
        } else {
            release_waiting(e, j, now);
        }
    }
    free(w);
}

static void load_batch(const synq_batch_row_t *r, void *arg)
{
    synq_engine_t *e = arg;
    batch_t *b = synq_calloc(1, sizeof *b);
    b->id = synq_strdup(r->id);
    b->spec = synq_strdup(r->spec);
    b->open = r->state == SYNQ_BATCH_OPEN;
    b->created_at = r->created_at;
    b->committed_at = r->committed_at;
    batch_counts_t c = {0};
    e->store->ops->job_list_batch(e->store, r->id, count_batch_job, &c);
    b->pending = c.pending;
    synq_map_put(&e->batches, b->id, b);
}

static void queue_apply_config(queue_t *q, const char *config);
static void queue_json(const queue_t *q, int64_t now, synq_buf_t *out);

static void load_count(const char *queue, synq_job_state_t s, int64_t n, void *arg)
{
    synq_engine_t *e = arg;
    if ((unsigned)s >= SYNQ_JOB_NSTATES) return;
    queue_get(e, queue, true)->counts[s] += n;
    e->totals[s] += n;
}

static void load_queue(const char *name, bool paused, const char *config, void *arg)
{
    queue_t *q = queue_get(arg, name, true);
    q->paused = paused;
    queue_apply_config(q, config);
}

void synq_engine_config_init(synq_engine_config_t *cfg)
{
    cfg->dead_max = 10000;
    cfg->dead_ttl_us = 180LL * 86400 * SYNQ_US_PER_SEC;
    cfg->completed_max = 1000000;
    cfg->completed_ttl_us = 7LL * 86400 * SYNQ_US_PER_SEC;
    cfg->tombstone_ttl_us = 30LL * 86400 * SYNQ_US_PER_SEC;
    cfg->idempotency_ttl_us = 86400LL * SYNQ_US_PER_SEC;
    cfg->max_events_per_job = 1000;
}

synq_engine_t *synq_engine_new(uv_loop_t *loop, synq_store_t *store,
                               const synq_engine_config_t *cfg)
{
    synq_engine_t *e = synq_calloc(1, sizeof *e);
    e->loop = loop;
    e->store = store;
    e->cfg = *cfg;
    synq_map_init(&e->jobs);
    synq_map_init(&e->queues);
    synq_map_init(&e->groups);
    synq_map_init(&e->uniques);
    synq_map_init(&e->dependants);
    synq_map_init(&e->batches);
    synq_map_init(&e->cancelled);
    synq_heap_init(&e->due, due_less, set_index);
    synq_heap_init(&e->leases, lease_less, set_index);
    uint64_t seed[3];
    if (uv_random(NULL, NULL, seed, sizeof seed, 0, NULL) < 0) {
        seed[0] = (uint64_t)synq_time_now_us();
        seed[1] = seed[0] * 31 + 7;
        seed[2] = (uint64_t)uv_os_getpid();
    }
    synq_idgen_init(&e->idgen, seed[0], seed[1]);
    e->rng = seed[2] | 1;
    uv_timer_init(loop, &e->timer);
    uv_timer_init(loop, &e->maint);
    uv_check_init(loop, &e->check);
    uv_idle_init(loop, &e->idle);
    uv_timer_init(loop, &e->rate_timer);
    e->timer.data = e->maint.data = e->check.data = e->idle.data = e->rate_timer.data = e;
    e->handles_open = 5;

    if (store->ops->queue_load(store, load_queue, e) ||
        store->ops->job_counts(store, load_count, e) ||
        store->ops->job_load_live(store, load_job, e) ||
        store->ops->batch_load(store, load_batch, e)) {
        synq_log(SYNQ_LOG_ERROR, "cannot load jobs from the store", NULL);
        /* caller closes via synq_engine_close */
    }
    load_waiting(e);
    /* batches whose last job finished in the commit before a crash */
    void *bit = NULL, *bv;
    batch_t *ready[64];
    size_t nready = 0;
    while (synq_map_next(&e->batches, &bit, NULL, &bv) && nready < 64)
        if (!((batch_t *)bv)->open && ((batch_t *)bv)->pending == 0) ready[nready++] = bv;
    for (size_t i = 0; i < nready; i++) batch_finish(e, ready[i]);
    char n[32];
    snprintf(n, sizeof n, "%zu", e->jobs.len);
    synq_log(SYNQ_LOG_INFO, "jobs loaded", "live", n, NULL);
    uv_check_start(&e->check, on_check);
    /* retention: expired jobs go every second (an indexed range that is
     * usually empty); the size caps are checked every minute or on demand */
    uv_timer_start(&e->maint, on_maint, 1000, 1000);
    arm_timer(e);
    return e;
}

/* ---- enqueue ------------------------------------------------------------ */

/* Checks a call's jobs before anything is written: ids unused, and every
 * dependency known (live, stored, or earlier in the call). */
static int enqueue_validate(synq_engine_t *e, synq_job_t **jobs, size_t n, size_t *bad)
{
    for (size_t i = 0; i < n; i++) {
        synq_job_t *j = jobs[i];
        *bad = i;
        if (j->id) {
            bool dup = synq_map_get(&e->jobs, j->id) != NULL ||
                       e->store->ops->job_exists(e->store, j->id) == 0;
            for (size_t k = 0; !dup && k < i; k++)
                dup = jobs[k]->id && strcmp(jobs[k]->id, j->id) == 0;
            if (dup) return SYNQ_ECONFLICT;
        }
        if (j->depends_on == NULL) continue;
        json_t *ids = json_loads(j->depends_on, 0, NULL);
        size_t x;
        json_t *idv;
        int rc = 0;
        json_array_foreach(ids, x, idv) {
            const char *id = json_string_value(idv);
            bool known = synq_map_get(&e->jobs, id) != NULL ||
                         e->store->ops->job_exists(e->store, id) == 0;
            for (size_t k = 0; !known && k < i; k++)
                known = jobs[k]->id && strcmp(jobs[k]->id, id) == 0;
            if (!known) rc = SYNQ_ENOTFOUND;
        }
        json_decref(ids);
        if (rc) return rc;
    }
    return 0;
}

static void put_duplicate(const synq_job_t *holder, synq_buf_t *out)
{
    synq_job_to_json(holder, out);
    out->len--; /* reopen the object */
    synq_buf_puts(out, ",\"duplicate\":true}");
}

static int enqueue_apply(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                         synq_buf_t *out, batch_t *b)
{
    int64_t now = synq_time_now_us();
    uint64_t now_ms = (uint64_t)(now / 1000);
    if (out && as_array) synq_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        synq_job_t *j = jobs[i];
        if (out && as_array && i) synq_buf_putc(out, ',');
        synq_job_t *holder = j->unique_key ? unique_holder(e, j->unique_key, now) : NULL;
        if (holder) {
            if (out) put_duplicate(holder, out);
            synq_job_free(j);
            jobs[i] = NULL;
            continue;
        }
        if (j->id == NULL) {
            j->id = synq_malloc(SYNQ_ID_LEN + 1);
            synq_idgen_next(&e->idgen, now_ms, j->id);
        }
        if (b) {
            free(j->batch);
            j->batch = synq_strdup(b->id);
            b->pending++;
        }
        char failed[160] = "";
        synq_job_state_t fstate = SYNQ_JOB_CANCELLED;
        if (j->depends_on) {
            deps_scan(e, j, failed, &fstate);
            if (j->deps_pending > 0 || failed[0]) {
                j->state = SYNQ_JOB_WAITING;
                j->enqueued_at = 0; /* set when it is released */
            }
        }
        j->timer_idx = SYNQ_HEAP_NONE;
        store_write(e, e->store->ops->job_insert(e->store, j));
        synq_map_put(&e->jobs, j->id, j);
        count(e, j, +1);
        if (j->unique_key) synq_map_put(&e->uniques, j->unique_key, j);
        if (j->group) group_add(e, j);
        if (failed[0]) {
            cancel_for_dep(e, j, failed, fstate, out);
            continue;
        }
        if (j->deps_pending > 0) deps_register(e, j);
        attach(e, j);
        emit_state(e, j);
        if (out) synq_job_to_json(j, out);
    }
    if (out && as_array) synq_buf_putc(out, ']');
    return 0;
}

int synq_engine_enqueue(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                        synq_buf_t *out, size_t *bad)
{
    int rc = enqueue_validate(e, jobs, n, bad);
    return rc ? rc : enqueue_apply(e, jobs, n, as_array, out, NULL);
}

/* ---- batch API -------------------------------------------------------------- */

int synq_engine_batch_create(synq_engine_t *e, const char *spec, bool open, synq_job_t **jobs,
                             size_t n, synq_buf_t *out, size_t *bad)
{
    int rc = enqueue_validate(e, jobs, n, bad);
    if (rc) return rc;
    batch_t *b = synq_calloc(1, sizeof *b);
    b->id = synq_malloc(SYNQ_ID_LEN + 1);
    synq_engine_new_id(e, b->id);
    b->spec = synq_strdup(spec);
    b->open = open;
    b->created_at = synq_time_now_us();
    b->committed_at = open ? 0 : b->created_at;
    synq_map_put(&e->batches, b->id, b);
    synq_batch_row_t r;
    batch_row(b, open ? SYNQ_BATCH_OPEN : SYNQ_BATCH_COMMITTED, &r);
    store_write(e, e->store->ops->batch_put(e->store, &r));
    synq_buf_t js;
    synq_buf_init(&js);
    enqueue_apply(e, jobs, n, true, &js, b);
    char *id = synq_strdup(b->id);
    if (!open && b->pending == 0) batch_finish(e, b); /* b is freed */
    synq_buf_puts(out, "{\"batch\":");
    synq_engine_batch_get(e, id, out);
    synq_buf_puts(out, ",\"jobs\":");
    synq_buf_append(out, js.data, js.len);
    synq_buf_putc(out, '}');
    synq_buf_release(&js);
    free(id);
    return 0;
}

int synq_engine_batch_open(synq_engine_t *e, const char *id)
{
    batch_t *b = synq_map_get(&e->batches, id);
    if (b == NULL) {
        int rc = e->store->ops->batch_get(e->store, id, NULL, NULL);
        return rc == 0 ? SYNQ_ECONFLICT : rc;
    }
    return b->open ? 0 : SYNQ_ECONFLICT;
}

int synq_engine_batch_add(synq_engine_t *e, const char *id, synq_job_t **jobs, size_t n,
                          synq_buf_t *out, size_t *bad)
{
    *bad = 0;
    int rc = synq_engine_batch_open(e, id);
    if (rc) return rc;
    batch_t *b = synq_map_get(&e->batches, id);
    rc = enqueue_validate(e, jobs, n, bad);
    if (rc) return rc;
    synq_buf_puts(out, "{\"jobs\":");
    enqueue_apply(e, jobs, n, true, out, b);
    synq_buf_putc(out, '}');
    return 0;
}

int synq_engine_batch_commit(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    batch_t *b = synq_map_get(&e->batches, id);
    if (b == NULL) {
        int rc = e->store->ops->batch_get(e->store, id, NULL, NULL);
        return rc == 0 ? SYNQ_ECONFLICT : rc;
    }
    if (b->open) {
        b->open = false;
        b->committed_at = synq_time_now_us();
        synq_batch_row_t r;
        batch_row(b, SYNQ_BATCH_COMMITTED, &r);
        store_write(e, e->store->ops->batch_put(e->store, &r));
        if (b->pending == 0) batch_finish(e, b);
    }
    return synq_engine_batch_get(e, id, out);
}

typedef struct {
    synq_engine_t *e;
    synq_buf_t *out;
} batch_get_ctx_t;

static void on_batch_row(const synq_batch_row_t *r, void *arg)
{
    batch_get_ctx_t *c = arg;
    batch_json(c->e, r, c->out);
}

int synq_engine_batch_get(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    batch_get_ctx_t c = {e, out};
    return e->store->ops->batch_get(e->store, id, on_batch_row, &c);
}

/* ---- fetch ------------------------------------------------------------- */

static void on_rate_timer(uv_timer_t *t)
{
    synq_engine_t *e = t->data;
    e->rate_wake = 0;
    if (e->waiters) e->dispatch_needed = true, mark_dirty(e);
}

/* Limits apply at fetch: at most max_active active, and a start only with
 * a token in the bucket (refilled continuously at rate_limit per
 * rate_per_us, holding at most rate_limit). When the bucket is empty, a
 * timer wakes the waiting fetches when the next token is due. */
static bool queue_may_start(synq_engine_t *e, queue_t *q, int64_t now)
{
    if (q->max_active && q->counts[SYNQ_JOB_ACTIVE] >= q->max_active) return false;
    if (q->rate_limit == 0) return true;
    double per_us = (double)q->rate_limit / (double)q->rate_per_us;
    q->tokens += (double)(now - q->tokens_at) * per_us;
    if (q->tokens > q->rate_limit) q->tokens = q->rate_limit;
    q->tokens_at = now;
    if (q->tokens >= 1.0) return true;
    int64_t wake = now + (int64_t)((1.0 - q->tokens) / per_us) + 1;
    if (e->rate_wake == 0 || wake < e->rate_wake) {
        e->rate_wake = wake;
        uv_timer_start(&e->rate_timer, on_rate_timer, (uint64_t)((wake - now + 999) / 1000), 0);
    }
    return false;
}

static synq_job_t *pop_ready(synq_engine_t *e, const char *qname, int64_t now)
{
    queue_t *q = queue_get(e, qname, false);
    if (q == NULL || q->paused) return NULL;
    for (int p = NPRIO - 1; p >= 1; p--) {
        synq_job_t *j = q->head[p];
        if (j) {
            if ((q->max_active || q->rate_limit) && !queue_may_start(e, q, now)) return NULL;
            if (q->rate_limit) q->tokens -= 1.0;
            ready_unlink(j);
            return j;
        }
    }
    return NULL;
}

static void lease(synq_engine_t *e, synq_job_t *j, const char *worker, int64_t now)
{
    set_state(e, j, SYNQ_JOB_ACTIVE);
    j->attempts++;
    j->started_at = now;
    j->lease_until = now + (int64_t)j->reserve_for * SYNQ_US_PER_SEC;
    free(j->worker);
    j->worker = synq_strdup(worker ? worker : "");
    store_write(e, e->store->ops->job_update_lease(e->store, j));
    synq_heap_push(&e->leases, j);
    if (j->unique_until_start) unique_release(e, j);
    emit_state(e, j);
}

int synq_engine_fetch(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                      const char *worker, synq_buf_t *out)
{
    return synq_engine_fetch_as(e, queues, nqueues, max, worker, synq_job_to_json, out);
}

int synq_engine_fetch_as(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                         const char *worker, synq_job_fmt_fn fmt, synq_buf_t *out)
{
    int n = 0;
    int64_t now = synq_time_now_us();
    synq_buf_putc(out, '[');
    for (size_t qi = 0; qi < nqueues && n < max; qi++) {
        synq_job_t *j;
        while (n < max && (j = pop_ready(e, queues[qi], now))) {
            if (j->run_by && now > j->run_by) {
                cancel_live(e, j, "expired before it started", "Expired", NULL);
                continue;
            }
            lease(e, j, worker, now);
            if (n++) synq_buf_putc(out, ',');
            fmt(j, out);
        }
    }
    synq_buf_putc(out, ']');
    if (n) arm_timer(e);
    return n;
}

static void waiter_unlink(synq_engine_t *e, synq_fetch_waiter_t *w)
{
    if (w->prev) w->prev->next = w->next; else e->waiters = w->next;
    if (w->next) w->next->prev = w->prev; else e->waiters_tail = w->prev;
    w->next = w->prev = NULL;
}

static void on_waiter_closed(uv_handle_t *h)
{
    synq_fetch_waiter_t *w = h->data;
    for (size_t i = 0; i < w->nqueues; i++) free(w->queues[i]);
    free(w->worker);
    free(w);
}

static void waiter_finish(synq_engine_t *e, synq_fetch_waiter_t *w, const synq_buf_t *jobs, int n,
                          const char *cancel)
{
    waiter_unlink(e, w);
    uv_timer_stop(&w->timer);
    if (w->cb) w->cb(jobs, n, cancel, w->arg);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void on_waiter_timeout(uv_timer_t *t)
{
    synq_fetch_waiter_t *w = t->data;
    synq_buf_t empty;
    synq_buf_init(&empty);
    synq_buf_puts(&empty, "[]");
    waiter_finish(w->e, w, &empty, 0, NULL);
    synq_buf_release(&empty);
}

/* Serves waiting fetches in arrival order from the ready lists. */
static void dispatch(synq_engine_t *e)
{
    e->dispatch_needed = false;
    synq_fetch_waiter_t *w = e->waiters;
    while (w) {
        synq_fetch_waiter_t *next = w->next;
        synq_buf_t out;
        synq_buf_init(&out);
        int n = synq_engine_fetch_as(e, (const char *const *)w->queues, w->nqueues, w->max,
                                     w->worker, w->fmt, &out);
        if (n > 0) waiter_finish(e, w, &out, n, NULL);
        synq_buf_release(&out);
        w = next;
    }
}

synq_fetch_waiter_t *synq_engine_fetch_wait(synq_engine_t *e, const char *const *queues,
                                            size_t nqueues, int max, const char *worker,
                                            uint64_t timeout_ms, synq_fetch_cb cb, void *arg)
{
    return synq_engine_fetch_wait_as(e, queues, nqueues, max, worker, synq_job_to_json,
                                     timeout_ms, cb, arg);
}

synq_fetch_waiter_t *synq_engine_fetch_wait_as(synq_engine_t *e, const char *const *queues,
                                               size_t nqueues, int max, const char *worker,
                                               synq_job_fmt_fn fmt, uint64_t timeout_ms,
                                               synq_fetch_cb cb, void *arg)
{
    synq_fetch_waiter_t *w = synq_calloc(1, sizeof *w);
    w->fmt = fmt;
    w->e = e;
    if (nqueues > MAX_WAIT_QUEUES) nqueues = MAX_WAIT_QUEUES;
    for (size_t i = 0; i < nqueues; i++) w->queues[i] = synq_strdup(queues[i]);
    w->nqueues = nqueues;
    w->max = max;
    w->worker = synq_strdup(worker ? worker : "");
    w->cb = cb;
    w->arg = arg;
    uv_timer_init(e->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_waiter_timeout, timeout_ms, 0);
    w->prev = e->waiters_tail;
    if (e->waiters_tail) e->waiters_tail->next = w; else e->waiters = w;
    e->waiters_tail = w;
    return w;
}

void synq_engine_fetch_cancel(synq_engine_t *e, synq_fetch_waiter_t *w)
{
    w->cb = NULL;
    waiter_finish(e, w, NULL, 0, NULL);
}

/* ---- settle ------------------------------------------------------------- */

/* True when id was cancelled while worker held it (and we still remember). */
static bool cancelled_under(synq_engine_t *e, const char *id, const char *worker)
{
    cancelled_t *c = synq_map_get(&e->cancelled, id);
    return c && strcmp(c->worker, worker ? worker : "") == 0;
}

static int held(synq_engine_t *e, const char *id, const char *worker, synq_job_t **out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) {
        if (cancelled_under(e, id, worker)) return SYNQ_ECANCELLED;
        return e->store->ops->job_exists(e->store, id) == 0 ? SYNQ_ELEASE : SYNQ_ENOTFOUND;
    }
    if (j->state != SYNQ_JOB_ACTIVE || strcmp(j->worker ? j->worker : "", worker ? worker : ""))
        return SYNQ_ELEASE;
    *out = j;
    return 0;
}

int synq_engine_ack(synq_engine_t *e, const char *id, const char *worker, const char *result,
                    synq_buf_t *out)
{
    synq_job_t *j;
    int rc = held(e, id, worker, &j);
    if (rc) return rc;
    synq_heap_remove(&e->leases, j->timer_idx);
    set_state(e, j, SYNQ_JOB_COMPLETED);
    e->processed++;
    j->finished_at = synq_time_now_us();
    j->lease_until = 0;
    free(j->result);
    j->result = result ? synq_strdup(result) : NULL;
    retire(e, j, out);
    arm_timer(e);
    if (e->totals[SYNQ_JOB_COMPLETED] > e->cfg.completed_max + e->cfg.completed_max / 10)
        e->prune_needed = true;
    return 0;
}

/* retry_in_us < 0: the job's backoff decides when a retry is due. */
static void fail_job(synq_engine_t *e, synq_job_t *j, const char *message, const char *type,
                     const char *backtrace, int64_t now, int64_t retry_in_us, synq_buf_t *out)
{
    free(j->err_message);
    free(j->err_type);
    free(j->err_backtrace);
    j->err_message = message ? synq_strdup(message) : NULL;
    j->err_type = type ? synq_strdup(type) : NULL;
    j->err_backtrace = backtrace ? synq_strdup(backtrace) : NULL;
    j->lease_until = 0;
    e->failures++;
    if (!j->failed_at) j->failed_at = now;
    count(e, j, -1);
    synq_job_transition(j, SYNQ_JOB_EV_FAIL);
    count(e, j, +1);
    if (j->state == SYNQ_JOB_DEAD) {
        j->finished_at = now;
        if (j->discard) {
            /* kept for no time: the next prune (this loop turn) deletes it */
            j->keep_for_us = 1;
            e->prune_needed = true;
        }
        synq_log(SYNQ_LOG_WARN, "job dead", "job", j->id, "queue", j->queue, "type", j->type,
                 "error", message, "traceparent", j->traceparent, NULL);
        if (e->totals[SYNQ_JOB_DEAD] > e->cfg.dead_max) e->prune_needed = true;
        retire(e, j, out);
        return;
    }
    j->run_at = now + (retry_in_us >= 0 ? retry_in_us
                                        : synq_backoff_delay_us(&j->backoff, j->attempts, rnd(e)));
    j->next_at = j->run_at;
    store_write(e, e->store->ops->job_update(e->store, j));
    attach(e, j);
    emit_state(e, j);
    if (out) synq_job_to_json(j, out);
}

int synq_engine_fail_after(synq_engine_t *e, const char *id, const char *worker,
                           const char *message, const char *type, const char *backtrace,
                           int64_t retry_in_us, synq_buf_t *out)
{
    synq_job_t *j;
    int rc = held(e, id, worker, &j);
    if (rc) return rc;
    synq_heap_remove(&e->leases, j->timer_idx);
    fail_job(e, j, message, type, backtrace, synq_time_now_us(), retry_in_us, out);
    arm_timer(e);
    return 0;
}

int synq_engine_fail(synq_engine_t *e, const char *id, const char *worker, const char *message,
                     const char *type, const char *backtrace, synq_buf_t *out)
{
    return synq_engine_fail_after(e, id, worker, message, type, backtrace, -1, out);
}

int synq_engine_heartbeat(synq_engine_t *e, const char *id, const char *worker, synq_buf_t *out)
{
    synq_job_t *j;
    int rc = held(e, id, worker, &j);
    if (rc == SYNQ_ECANCELLED) {
        /* the reply says cancel: the worker stops the work */
        rc = synq_engine_get(e, id, out);
        if (rc == 0) {
            out->len--;
            synq_buf_puts(out, ",\"cancel\":true}");
        }
        return rc;
    }
    if (rc) return rc;
    j->lease_until = synq_time_now_us() + (int64_t)j->reserve_for * SYNQ_US_PER_SEC;
    synq_heap_update(&e->leases, j->timer_idx);
    store_write(e, e->store->ops->job_update(e->store, j));
    synq_job_to_json(j, out);
    arm_timer(e);
    return 0;
}

void synq_engine_on_event(synq_engine_t *e, synq_engine_event_cb cb, void *arg)
{
    if (e->nevent >= (int)SYNQ_ARRAY_LEN(e->event_cbs)) abort();
    e->event_cbs[e->nevent].cb = cb;
    e->event_cbs[e->nevent].arg = arg;
    e->nevent++;
}

void synq_engine_on_batch_done(synq_engine_t *e, synq_engine_batch_cb cb, void *arg)
{
    if (e->nbatch >= (int)SYNQ_ARRAY_LEN(e->batch_cbs)) abort();
    e->batch_cbs[e->nbatch].cb = cb;
    e->batch_cbs[e->nbatch].arg = arg;
    e->nbatch++;
}

const char *synq_engine_queue_callback(synq_engine_t *e, const char *queue)
{
    queue_t *q = queue_get(e, queue, false);
    return q ? q->callback : NULL;
}

int synq_engine_expired_at(synq_engine_t *e, const char *id, int64_t *at)
{
    return e->store->ops->tombstone_get(e->store, id, at);
}

void synq_engine_on_final(synq_engine_t *e, synq_engine_job_cb cb, void *arg)
{
    if (e->nfinal >= (int)SYNQ_ARRAY_LEN(e->final_cbs)) abort();
    e->final_cbs[e->nfinal].cb = cb;
    e->final_cbs[e->nfinal].arg = arg;
    e->nfinal++;
}

void synq_engine_new_id(synq_engine_t *e, char *out)
{
    synq_idgen_next(&e->idgen, (uint64_t)(synq_time_now_us() / 1000), out);
}

const synq_job_t *synq_engine_peek(synq_engine_t *e, const char *id)
{
    return synq_map_get(&e->jobs, id);
}

uv_loop_t *synq_engine_loop(synq_engine_t *e)
{
    return e->loop;
}

synq_store_t *synq_engine_store(synq_engine_t *e)
{
    return e->store;
}

/* ---- inspection and admin ------------------------------------------------ */

int synq_engine_get(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j) {
        synq_job_to_json(j, out);
        return 0;
    }
    int rc = e->store->ops->job_get(e->store, id, &j);
    if (rc) return rc;
    synq_job_to_json(j, out);
    synq_job_free(j);
    return 0;
}

typedef struct {
    synq_buf_t *out;
    int n;
    int64_t last_seq;
} list_ctx_t;

static int list_row(synq_job_t *j, void *arg)
{
    list_ctx_t *c = arg;
    if (c->n++) synq_buf_putc(c->out, ',');
    c->last_seq = j->seq;
    synq_job_to_json(j, c->out);
    synq_job_free(j);
    return 0;
}

int synq_engine_list(synq_engine_t *e, const synq_job_filter_t *f, synq_buf_t *out)
{
    list_ctx_t c = {out, 0, 0};
    synq_buf_puts(out, "{\"jobs\":[");
    int rc = e->store->ops->job_list(e->store, f, list_row, &c);
    if (rc) return rc;
    if (c.n == f->limit && c.last_seq > 1)
        synq_buf_printf(out, "],\"next_cursor\":\"%lld\"}", (long long)c.last_seq);
    else
        synq_buf_puts(out, "],\"next_cursor\":null}");
    return 0;
}

int synq_engine_retry(synq_engine_t *e, const char *id, synq_buf_t *out)
{
    int64_t now = synq_time_now_us();
    synq_job_t *j = synq_map_get(&e->jobs, id);
    bool revived = j == NULL;
    if (!revived) {
        if (j->state != SYNQ_JOB_RETRY) return SYNQ_ECONFLICT;
        detach(e, j);
    } else {
        int rc = e->store->ops->job_get(e->store, id, &j);
        if (rc || j == NULL) return rc ? rc : SYNQ_ESTORE;
        if (j->state != SYNQ_JOB_DEAD) {
            synq_job_free(j);
            return SYNQ_ECONFLICT;
        }
        if (j->backoff_json == NULL) memset(&j->backoff, 0, sizeof j->backoff);
        synq_map_put(&e->jobs, j->id, j);
    }
    set_state(e, j, SYNQ_JOB_QUEUED);
    j->attempts = 0;
    j->run_at = 0;
    j->finished_at = 0;
    j->enqueued_at = now;
    j->expires_at = 0;
    store_write(e, e->store->ops->job_update(e->store, j));
    /* a dead job run again joins the end of its group: it is the newest */
    if (revived && j->group) group_add(e, j);
    attach(e, j);
    emit_state(e, j);
    synq_job_to_json(j, out);
    return 0;
}

/* ---- bulk admin (Faktory's MUTATE and FLUSH) -------------------------- */

/* Queues a scheduled or retrying job now, keeping its failure record. */
static void run_now(synq_engine_t *e, synq_job_t *j)
{
    detach(e, j);
    set_state(e, j, SYNQ_JOB_QUEUED);
    j->run_at = 0;
    j->enqueued_at = synq_time_now_us();
    store_write(e, e->store->ops->job_update(e->store, j));
    attach(e, j);
    emit_state(e, j);
    arm_timer(e);
}

/* Moves a scheduled or retrying job to dead at once. */
static void kill_live(synq_engine_t *e, synq_job_t *j)
{
    detach(e, j);
    set_state(e, j, SYNQ_JOB_DEAD);
    j->run_at = 0;
    j->finished_at = synq_time_now_us();
    if (!j->err_message) {
        j->err_message = synq_strdup("killed by an operator");
        free(j->err_type);
        j->err_type = synq_strdup("Killed");
    }
    if (e->totals[SYNQ_JOB_DEAD] > e->cfg.dead_max) e->prune_needed = true;
    retire(e, j, NULL);
    arm_timer(e);
}

static int mutate_one(synq_engine_t *e, const char *id, synq_mutate_op_t op)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    bool waiting = j && (j->state == SYNQ_JOB_SCHEDULED || j->state == SYNQ_JOB_RETRY);
    switch (op) {
    case SYNQ_MUTATE_DISCARD:
        return synq_engine_delete(e, id);
    case SYNQ_MUTATE_KILL:
        if (!waiting) return SYNQ_ECONFLICT;
        kill_live(e, j);
        return 0;
    case SYNQ_MUTATE_REQUEUE:
        if (waiting) {
            run_now(e, j);
            return 0;
        } else {
            synq_buf_t tmp;
            synq_buf_init(&tmp);
            int rc = synq_engine_retry(e, id, &tmp);
            synq_buf_release(&tmp);
            return rc;
        }
    }
    return SYNQ_EINVAL;
}

typedef struct {
    char **ids;
    size_t n, cap;
    synq_engine_match_cb match;
    void *arg;
    int rows;
    int64_t last_seq;
} idlist_t;

static void idlist_add(idlist_t *l, const char *id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ids = synq_realloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = synq_strdup(id);
}

static int idlist_row(synq_job_t *j, void *arg)
{
    idlist_t *l = arg;
    l->rows++;
    l->last_seq = j->seq;
    if (l->match == NULL || l->match(j, l->arg)) idlist_add(l, j->id);
    synq_job_free(j);
    return 0;
}

/* Ids of the stored jobs in state (-1: any) that match accepts, newest first. */
static int collect_stored(synq_engine_t *e, int state, idlist_t *l)
{
    synq_job_filter_t f = {.state = state, .limit = 1000};
    do {
        l->rows = 0;
        int rc = e->store->ops->job_list(e->store, &f, idlist_row, l);
        if (rc) return rc;
        f.before_seq = l->last_seq;
    } while (l->rows == f.limit && l->last_seq > 1);
    return 0;
}

int64_t synq_engine_mutate(synq_engine_t *e, synq_job_state_t state, synq_mutate_op_t op,
                           synq_engine_match_cb match, void *arg)
{
    idlist_t l = {.match = match, .arg = arg};
    if (state == SYNQ_JOB_SCHEDULED || state == SYNQ_JOB_RETRY) {
        void *it = NULL, *v;
        while (synq_map_next(&e->jobs, &it, NULL, &v)) {
            const synq_job_t *j = v;
            if (j->state == state && (match == NULL || match(j, arg))) idlist_add(&l, j->id);
        }
    } else if (state == SYNQ_JOB_DEAD) {
        collect_stored(e, SYNQ_JOB_DEAD, &l);
    }
    int64_t n = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (mutate_one(e, l.ids[i], op) == 0) n++;
        free(l.ids[i]);
    }
    free(l.ids);
    return n;
}

int64_t synq_engine_flush(synq_engine_t *e)
{
    int64_t n = 0;
    for (;;) {
        idlist_t l = {0};
        void *it = NULL, *v;
        while (synq_map_next(&e->jobs, &it, NULL, &v)) idlist_add(&l, ((synq_job_t *)v)->id);
        if (collect_stored(e, -1, &l) == 0 && l.n == 0) {
            free(l.ids);
            break;
        }
        size_t gone = 0;
        for (size_t i = 0; i < l.n; i++) {
            /* a live job and its stored row are listed twice: the second delete misses */
            if (synq_engine_delete(e, l.ids[i]) == 0) gone++;
            free(l.ids[i]);
        }
        free(l.ids);
        n += (int64_t)gone;
        if (gone == 0) break;
    }
    return n;
}

void synq_engine_counters(synq_engine_t *e, int64_t *processed, int64_t *failures)
{
    *processed = e->processed;
    *failures = e->failures;
}

void synq_engine_each_live(synq_engine_t *e, synq_engine_job_cb cb, void *arg)
{
    void *it = NULL, *v;
    while (synq_map_next(&e->jobs, &it, NULL, &v)) cb(v, arg);
}

int synq_engine_extend_lease(synq_engine_t *e, const char *id, int64_t until_us)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) return e->store->ops->job_exists(e->store, id) == 0 ? SYNQ_ECONFLICT
                                                                        : SYNQ_ENOTFOUND;
    if (j->state != SYNQ_JOB_ACTIVE) return SYNQ_ECONFLICT;
    if (until_us <= j->lease_until) return 0;
    j->lease_until = until_us;
    synq_heap_update(&e->leases, j->timer_idx);
    store_write(e, e->store->ops->job_update(e->store, j));
    arm_timer(e);
    return 0;
}

/* Cancels a live job now (final at once, never retried). */
static void cancel_live(synq_engine_t *e, synq_job_t *j, const char *message, const char *type,
                        synq_buf_t *out)
{
    int64_t now = synq_time_now_us();
    if (j->state == SYNQ_JOB_ACTIVE) {
        synq_heap_remove(&e->leases, j->timer_idx);
        /* remember the holder: its heartbeat, ack or fail learns why */
        cancelled_t *c = synq_map_get(&e->cancelled, j->id);
        if (c == NULL) {
            c = synq_calloc(1, sizeof *c);
            c->id = synq_strdup(j->id);
            synq_map_put(&e->cancelled, c->id, c);
        }
        free(c->worker);
        c->worker = synq_strdup(j->worker ? j->worker : "");
        c->until = SYNQ_MAX(j->lease_until, now + 60 * SYNQ_US_PER_SEC);
        /* a long-poll fetch of the same worker hears it at once */
        for (synq_fetch_waiter_t *w = e->waiters; w; w = w->next) {
            if (strcmp(w->worker, c->worker) != 0) continue;
            synq_buf_t ids, empty;
            synq_buf_init(&ids);
            synq_buf_init(&empty);
            synq_buf_putc(&ids, '[');
            synq_buf_json_str(&ids, j->id, strlen(j->id));
            synq_buf_putc(&ids, ']');
            synq_buf_puts(&empty, "[]");
            waiter_finish(e, w, &empty, 0, ids.data);
            synq_buf_release(&ids);
            synq_buf_release(&empty);
            break;
        }
        j->lease_until = 0;
    } else {
        detach(e, j);
    }
    if (message) {
        free(j->err_message);
        free(j->err_type);
        j->err_message = synq_strdup(message);
        j->err_type = type ? synq_strdup(type) : NULL;
    }
    set_state(e, j, SYNQ_JOB_CANCELLED);
    j->run_at = 0;
    j->finished_at = now;
    retire(e, j, out);
    arm_timer(e);
}

int synq_engine_cancel(synq_engine_t *e, const char *id, int flags, synq_buf_t *out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) {
        int rc = e->store->ops->job_exists(e->store, id);
        return rc == 0 ? SYNQ_ECONFLICT : rc;
    }
    if (j->state == SYNQ_JOB_ACTIVE && !(flags & SYNQ_CANCEL_ACTIVE)) return SYNQ_ECONFLICT;
    cancel_live(e, j, NULL, NULL, out);
    return 0;
}

/* ---- progress and log --------------------------------------------------------- */

static int active_job(synq_engine_t *e, const char *id, const char *worker, synq_job_t **out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) {
        if (worker && worker[0] && cancelled_under(e, id, worker)) return SYNQ_ECANCELLED;
        return e->store->ops->job_exists(e->store, id) == 0 ? SYNQ_ECONFLICT : SYNQ_ENOTFOUND;
    }
    if (j->state != SYNQ_JOB_ACTIVE) return SYNQ_ECONFLICT;
    if (worker && worker[0] && strcmp(j->worker ? j->worker : "", worker) != 0) return SYNQ_ELEASE;
    *out = j;
    return 0;
}

/* Appends one event, unless the job has used its share. */
static void add_event(synq_engine_t *e, synq_job_t *j, synq_event_kind_t kind, const char *data,
                      int64_t now)
{
    if (j->nevents >= e->cfg.max_events_per_job) return;
    synq_event_row_t ev = {.n = ++j->nevents, .at = now, .kind = kind, .data = data};
    store_write(e, e->store->ops->event_append(e->store, j->id, &ev));
    emit(e, kind == SYNQ_EVENT_PROGRESS ? SYNQ_JOBEV_PROGRESS : SYNQ_JOBEV_LOG, j, ev.n, data);
}

int synq_engine_progress(synq_engine_t *e, const char *id, const char *worker,
                         const char *progress_json, synq_buf_t *out)
{
    synq_job_t *j;
    int rc = active_job(e, id, worker, &j);
    if (rc) return rc;
    int64_t now = synq_time_now_us();
    json_t *p = json_loads(progress_json, 0, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return SYNQ_EINVAL;
    }
    char ts[40];
    ts[synq_rfc3339_format(now, ts)] = '\0';
    json_object_set_new(p, "at", json_string(ts));
    free(j->progress);
    j->progress = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    int before = j->nevents;
    add_event(e, j, SYNQ_EVENT_PROGRESS, j->progress, now);
    if (before == j->nevents) emit(e, SYNQ_JOBEV_PROGRESS, j, 0, j->progress);
    store_write(e, e->store->ops->job_update(e->store, j));
    if (out) synq_job_to_json(j, out);
    return 0;
}

int synq_engine_log(synq_engine_t *e, const char *id, const char *worker,
                    const char *const *lines, size_t n)
{
    synq_job_t *j;
    int rc = active_job(e, id, worker, &j);
    if (rc) return rc;
    int64_t now = synq_time_now_us();
    char ts[40];
    ts[synq_rfc3339_format(now, ts)] = '\0';
    synq_buf_t b;
    synq_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        b.len = 0;
        synq_buf_puts(&b, "{\"line\":");
        synq_buf_json_str(&b, lines[i], strlen(lines[i]));
        synq_buf_printf(&b, ",\"at\":\"%s\"}", ts);
        add_event(e, j, SYNQ_EVENT_LOG, b.data, now);
    }
    synq_buf_release(&b);
    store_write(e, e->store->ops->job_update(e->store, j));
    return 0;
}

int synq_engine_events(synq_engine_t *e, const char *id, int64_t after_n, synq_store_event_cb cb,
                       void *arg)
{
    return e->store->ops->event_list(e->store, id, after_n, cb, arg);
}

int synq_engine_delete(synq_engine_t *e, const char *id)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j) {
        detach(e, j);
        if (j->state == SYNQ_JOB_ACTIVE) synq_heap_remove(&e->leases, j->timer_idx);
        count(e, j, -1);
        store_write(e, e->store->ops->job_delete(e->store, id));
        unique_release(e, j);
        if (j->deps_pending > 0) deps_unregister(e, j);
        synq_map_del(&e->jobs, id);
        if (j->group) group_remove(e, j);
        /* its dependants, batch and streams see it as cancelled: it will never complete */
        j->state = SYNQ_JOB_CANCELLED;
        emit_state(e, j);
        deps_resolve(e, j);
        if (j->batch) batch_job_done(e, j);
        synq_job_free(j);
        arm_timer(e);
        return 0;
    }
    int rc = e->store->ops->job_get(e->store, id, &j);
    if (rc) return rc;
    count(e, j, -1);
    store_write(e, e->store->ops->job_delete(e->store, id));
    synq_job_free(j);
    return 0;
}

static int64_t oldest_enqueued(const queue_t *q)
{
    int64_t oldest = 0;
    for (int p = 1; p < NPRIO; p++)
        if (q->head[p] && (oldest == 0 || q->head[p]->enqueued_at < oldest))
            oldest = q->head[p]->enqueued_at;
    return oldest;
}

/* Applies stored settings (validated when they were set). */
static void queue_apply_config(queue_t *q, const char *config)
{
    free(q->config);
    free(q->callback);
    q->config = config ? synq_strdup(config) : NULL;
    q->callback = NULL;
    int old_limit = q->rate_limit;
    int64_t old_per = q->rate_per_us;
    q->max_active = q->rate_limit = 0;
    q->rate_per_us = 0;
    q->keep_for_us = 0;
    json_t *c = config ? json_loads(config, 0, NULL) : NULL;
    if (c == NULL) return;
    q->max_active = (int)json_integer_value(json_object_get(c, "max_active"));
    const json_t *r = json_object_get(c, "rate");
    if (json_is_object(r)) {
        q->rate_limit = (int)json_integer_value(json_object_get(r, "limit"));
        q->rate_per_us = json_integer_value(json_object_get(r, "per_us"));
        if (q->rate_limit <= 0 || q->rate_per_us <= 0) q->rate_limit = 0;
        if (q->rate_limit != old_limit || q->rate_per_us != old_per) {
            q->tokens = q->rate_limit; /* a new rate starts with a full bucket */
            q->tokens_at = synq_time_now_us();
        }
    }
    q->keep_for_us = json_integer_value(json_object_get(c, "keep_for_us"));
    const json_t *cb = json_object_get(c, "callback");
    if (json_is_object(cb)) q->callback = json_dumps(cb, JSON_COMPACT);
    json_decref(c);
}

static int duration_arg(const json_t *v, int64_t *us)
{
    if (json_is_number(v)) {
        *us = (int64_t)(json_number_value(v) * SYNQ_US_PER_SEC);
        return json_number_value(v) > 0 ? 0 : SYNQ_EINVAL;
    }
    return json_is_string(v) ? synq_duration_parse(json_string_value(v), json_string_length(v), us)
                             : SYNQ_EINVAL;
}

int synq_engine_queue_configure(synq_engine_t *e, const char *name, const json_t *cfg,
                                char *err, size_t errlen, synq_buf_t *out)
{
    json_t *norm = json_object();
    const json_t *v;
    int rc = SYNQ_EINVAL;
    if (!json_is_object(cfg)) {
        snprintf(err, errlen, "body: must be an object {max_active?, rate?, keep_for?, callback?}");
        goto out;
    }
    if ((v = json_object_get(cfg, "max_active")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
            snprintf(err, errlen, "max_active: must be an integer from 1 to 1000000");
            goto out;
        }
        json_object_set(norm, "max_active", (json_t *)v);
    }
    if ((v = json_object_get(cfg, "rate")) && !json_is_null(v)) {
        const json_t *lim = json_is_object(v) ? json_object_get(v, "limit") : NULL;
        const json_t *per = json_is_object(v) ? json_object_get(v, "per") : NULL;
        int64_t per_us = SYNQ_US_PER_SEC;
        if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
            json_integer_value(lim) > 1000000) {
            snprintf(err, errlen, "rate.limit: must be an integer from 1 to 1000000");
            goto out;
        }
        if (per && (duration_arg(per, &per_us) || per_us < 1000 ||
                    per_us > 86400LL * SYNQ_US_PER_SEC)) {
            snprintf(err, errlen, "rate.per: must be a duration from 1ms to 24h, such as \"1s\"");
            goto out;
        }
        json_t *r = json_object();
        json_object_set(r, "limit", (json_t *)lim);
        json_object_set_new(r, "per_us", json_integer(per_us));
        json_object_set_new(norm, "rate", r);
    }
    if ((v = json_object_get(cfg, "keep_for")) && !json_is_null(v)) {
        int64_t us;
        if (duration_arg(v, &us) || us < SYNQ_US_PER_SEC) {
            snprintf(err, errlen, "keep_for: must be a duration of at least 1s, such as \"7d\"");
            goto out;
        }
        json_object_set_new(norm, "keep_for_us", json_integer(us));
    }
    if ((v = json_object_get(cfg, "callback")) && !json_is_null(v)) {
        char *cb = NULL;
        if (synq_job_callback_parse(v, &cb, err, errlen)) goto out;
        json_object_set_new(norm, "callback", json_loads(cb, 0, NULL));
        free(cb);
    }
    char *text = json_object_size(norm) ? json_dumps(norm, JSON_COMPACT) : NULL;
    queue_t *q = queue_get(e, name, true);
    store_write(e, e->store->ops->queue_set_config(e->store, name, text));
    queue_apply_config(q, text);
    free(text);
    if (e->waiters) e->dispatch_needed = true, mark_dirty(e);
    queue_json(q, synq_time_now_us(), out);
    rc = 0;
out:
    json_decref(norm);
    return rc;
}

int synq_engine_queue_get(synq_engine_t *e, const char *name, synq_buf_t *out)
{
    queue_t *q = queue_get(e, name, false);
    if (q == NULL) return SYNQ_ENOTFOUND;
    queue_json(q, synq_time_now_us(), out);
    return 0;
}

static void queue_json(const queue_t *q, int64_t now, synq_buf_t *out)
{
    int64_t oldest = oldest_enqueued(q);
    double latency = oldest ? (double)(now - oldest) / 1e6 : 0.0;
    if (latency < 0) latency = 0;
    synq_buf_puts(out, "{\"name\":");
    synq_buf_json_str(out, q->name, strlen(q->name));
    synq_buf_printf(out, ",\"paused\":%s,\"size\":%lld,\"latency\":%.6f,\"counts\":{",
                    q->paused ? "true" : "false", (long long)q->counts[SYNQ_JOB_QUEUED], latency);
    for (int s = 0; s < SYNQ_JOB_NSTATES; s++)
        synq_buf_printf(out, "%s\"%s\":%lld", s ? "," : "", synq_job_state_name(s),
                        (long long)q->counts[s]);
    synq_buf_puts(out, "},\"settings\":{");
    bool first = true;
    if (q->max_active)
        synq_buf_printf(out, "\"max_active\":%d", q->max_active), first = false;
    if (q->rate_limit)
        synq_buf_printf(out, "%s\"rate\":{\"limit\":%d,\"per\":%.6g}", first ? "" : ",",
                        q->rate_limit, (double)q->rate_per_us / SYNQ_US_PER_SEC),
            first = false;
    if (q->keep_for_us)
        synq_buf_printf(out, "%s\"keep_for\":%.6g", first ? "" : ",",
                        (double)q->keep_for_us / SYNQ_US_PER_SEC),
            first = false;
    if (q->callback) {
        json_t *cb = json_loads(q->callback, 0, NULL);
        json_object_del(cb, "secrets");
        char *t = json_dumps(cb, JSON_COMPACT);
        synq_buf_printf(out, "%s\"callback\":%s", first ? "" : ",", t);
        free(t);
        json_decref(cb);
    }
    synq_buf_puts(out, "}}");
}

static int cmp_queue(const void *a, const void *b)
{
    return strcmp((*(queue_t *const *)a)->name, (*(queue_t *const *)b)->name);
}

void synq_engine_queues(synq_engine_t *e, synq_buf_t *out)
{
    queue_t **list = synq_malloc((e->queues.len + 1) * sizeof *list);
    size_t n = 0;
    void *it = NULL, *v;
    while (synq_map_next(&e->queues, &it, NULL, &v)) list[n++] = v;
    qsort(list, n, sizeof *list, cmp_queue);
    int64_t now = synq_time_now_us();
    synq_buf_puts(out, "{\"queues\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) synq_buf_putc(out, ',');
        queue_json(list[i], now, out);
    }
    synq_buf_puts(out, "]}");
    free(list);
}

int synq_engine_queue_pause(synq_engine_t *e, const char *name, bool paused, synq_buf_t *out)
{
    queue_t *q = queue_get(e, name, true);
    if (q->paused != paused) {
        q->paused = paused;
        store_write(e, e->store->ops->queue_set_paused(e->store, name, paused));
        if (!paused && e->waiters) e->dispatch_needed = true, mark_dirty(e);
    }
    queue_json(q, synq_time_now_us(), out);
    return 0;
}

int synq_engine_queue_purge(synq_engine_t *e, const char *name, int64_t *purged)
{
    queue_t *q = queue_get(e, name, false);
    *purged = 0;
    if (q == NULL) return SYNQ_ENOTFOUND;
    for (int p = 1; p < NPRIO; p++) {
        synq_job_t *j;
        while ((j = q->head[p])) {
            ready_unlink(j);
            count(e, j, -1);
            store_write(e, e->store->ops->job_delete(e->store, j->id));
            unique_release(e, j);
            synq_map_del(&e->jobs, j->id);
            if (j->group) group_remove(e, j);
            j->state = SYNQ_JOB_CANCELLED;
            emit_state(e, j);
            deps_resolve(e, j);
            if (j->batch) batch_job_done(e, j);
            synq_job_free(j);
            (*purged)++;
        }
    }
    return 0;
}

/* ---- retention ----------------------------------------------------------- */

static void pruned(const char *queue, synq_job_state_t state, void *arg)
{
    synq_engine_t *e = arg;
    queue_t *q = queue_get(e, queue, false);
    if ((unsigned)state >= SYNQ_JOB_NSTATES) return;
    if (q) q->counts[state]--;
    e->totals[state]--;
}

static void prune(synq_engine_t *e)
{
    int64_t now = synq_time_now_us();
    bool caps = e->prune_needed || now - e->last_cap_prune >= 60 * SYNQ_US_PER_SEC;
    e->prune_needed = false;
    int64_t tomb = now - e->cfg.tombstone_ttl_us;
    if (!caps) {
        store_write(e, e->store->ops->job_prune(e->store, -1, now, -1, tomb, pruned, e));
    } else {
        e->last_cap_prune = now;
        store_write(e, e->store->ops->job_prune(e->store, SYNQ_JOB_DEAD, now, e->cfg.dead_max,
                                                tomb, pruned, e));
        store_write(e, e->store->ops->job_prune(e->store, SYNQ_JOB_COMPLETED, now,
                                                e->cfg.completed_max, tomb, pruned, e));
        store_write(e, e->store->ops->idem_prune(e->store, now - e->cfg.idempotency_ttl_us));
        /* forget cancellations whose holders had their chance to hear */
        void *it = NULL, *v;
        cancelled_t *old[64];
        size_t nold = 0;
        while (synq_map_next(&e->cancelled, &it, NULL, &v) && nold < 64)
            if (((cancelled_t *)v)->until < now) old[nold++] = v;
        for (size_t i = 0; i < nold; i++) {
            synq_map_del(&e->cancelled, old[i]->id);
            free(old[i]->id);
            free(old[i]->worker);
            free(old[i]);
        }
    }
}

/* ---- shutdown ------------------------------------------------------------- */

static void on_engine_handle_closed(uv_handle_t *h)
{
    synq_engine_t *e = h->data;
    if (--e->handles_open > 0) return;
    void *it = NULL, *v;
    while (synq_map_next(&e->jobs, &it, NULL, &v)) synq_job_free(v);
    it = NULL;
    while (synq_map_next(&e->queues, &it, NULL, &v)) {
        queue_t *q = v;
        free(q->name);
        free(q->config);
        free(q->callback);
        free(q);
    }
    it = NULL;
    while (synq_map_next(&e->groups, &it, NULL, &v)) {
        free(((group_t *)v)->name);
        free(((group_t *)v)->v);
        free(v);
    }
    it = NULL;
    while (synq_map_next(&e->dependants, &it, NULL, &v)) deplist_free(v);
    it = NULL;
    while (synq_map_next(&e->batches, &it, NULL, &v)) batch_free(v);
    it = NULL;
    while (synq_map_next(&e->cancelled, &it, NULL, &v)) {
        free(((cancelled_t *)v)->id);
        free(((cancelled_t *)v)->worker);
        free(v);
    }
    synq_map_release(&e->jobs);
    synq_map_release(&e->queues);
    synq_map_release(&e->groups);
    synq_map_release(&e->uniques);
    synq_map_release(&e->dependants);
    synq_map_release(&e->batches);
    synq_map_release(&e->cancelled);
    synq_heap_release(&e->due);
    synq_heap_release(&e->leases);
    free(e->commit_waiters);
    e->store->ops->close(e->store);
    void (*cb)(void *) = e->closed_cb;
    void *arg = e->closed_arg;
    free(e);
    if (cb) cb(arg);
}

void synq_engine_drain(synq_engine_t *e)
{
    synq_buf_t empty;
    synq_buf_init(&empty);
    synq_buf_puts(&empty, "[]");
    while (e->waiters) waiter_finish(e, e->waiters, &empty, 0, NULL);
    synq_buf_release(&empty);
}

void synq_engine_close(synq_engine_t *e, void (*cb)(void *arg), void *arg)
{
    synq_engine_drain(e);
    /* final commit, then the replies that waited for it */
    on_check(&e->check);
    e->closing = true;
    e->closed_cb = cb;
    e->closed_arg = arg;
    uv_close((uv_handle_t *)&e->timer, on_engine_handle_closed);
    uv_close((uv_handle_t *)&e->maint, on_engine_handle_closed);
    uv_close((uv_handle_t *)&e->check, on_engine_handle_closed);
    uv_close((uv_handle_t *)&e->idle, on_engine_handle_closed);
    uv_close((uv_handle_t *)&e->rate_timer, on_engine_handle_closed);
}
