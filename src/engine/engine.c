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
} queue_t;

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
}

static void ready_push(synq_engine_t *e, synq_job_t *j)
{
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

/* Finishes a job that left the live set: persist, forget, free. */
static void retire(synq_engine_t *e, synq_job_t *j, synq_buf_t *out)
{
    if (j->state == SYNQ_JOB_COMPLETED)
        store_write(e, e->store->ops->job_update_done(e->store, j));
    else
        store_write(e, e->store->ops->job_update(e->store, j));
    if (out) synq_job_to_json(j, out);
    for (int i = 0; i < e->nfinal; i++) e->final_cbs[i].cb(j, e->final_cbs[i].arg);
    synq_map_del(&e->jobs, j->id);
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

/* ---- loading ------------------------------------------------------------ */

static int load_job(synq_job_t *j, void *arg)
{
    synq_engine_t *e = arg;
    synq_map_put(&e->jobs, j->id, j);
    attach(e, j);
    return 0;
}

static void load_count(const char *queue, synq_job_state_t s, int64_t n, void *arg)
{
    synq_engine_t *e = arg;
    if ((unsigned)s >= SYNQ_JOB_NSTATES) return;
    queue_get(e, queue, true)->counts[s] += n;
    e->totals[s] += n;
}

static void load_queue(const char *name, bool paused, void *arg)
{
    queue_get(arg, name, true)->paused = paused;
}

void synq_engine_config_init(synq_engine_config_t *cfg)
{
    cfg->dead_max = 10000;
    cfg->dead_ttl_us = 180LL * 86400 * SYNQ_US_PER_SEC;
    cfg->completed_max = 1000000;
    cfg->completed_ttl_us = 7LL * 86400 * SYNQ_US_PER_SEC;
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
    e->timer.data = e->maint.data = e->check.data = e->idle.data = e;
    e->handles_open = 4;

    if (store->ops->queue_load(store, load_queue, e) ||
        store->ops->job_counts(store, load_count, e) ||
        store->ops->job_load_live(store, load_job, e)) {
        synq_log(SYNQ_LOG_ERROR, "cannot load jobs from the store", NULL);
        /* caller closes via synq_engine_close */
    }
    char n[32];
    snprintf(n, sizeof n, "%zu", e->jobs.len);
    synq_log(SYNQ_LOG_INFO, "jobs loaded", "live", n, NULL);
    uv_check_start(&e->check, on_check);
    /* retention sweeps: every minute, or twice per TTL when a TTL is shorter */
    int64_t ttl = SYNQ_MIN(cfg->dead_ttl_us, cfg->completed_ttl_us) / 2 / 1000;
    uint64_t every_ms = (uint64_t)SYNQ_MAX(SYNQ_MIN(ttl, 60000), 100);
    uv_timer_start(&e->maint, on_maint, SYNQ_MIN(every_ms, 1000), every_ms);
    arm_timer(e);
    return e;
}

/* ---- enqueue ------------------------------------------------------------ */

int synq_engine_enqueue(synq_engine_t *e, synq_job_t **jobs, size_t n, bool as_array,
                        synq_buf_t *out, size_t *bad)
{
    /* validate everything before the first write: all or nothing */
    for (size_t i = 0; i < n; i++) {
        synq_job_t *j = jobs[i];
        if (j->id == NULL) continue;
        bool dup = synq_map_get(&e->jobs, j->id) != NULL ||
                   e->store->ops->job_exists(e->store, j->id) == 0;
        for (size_t k = 0; !dup && k < i; k++)
            dup = jobs[k]->id && strcmp(jobs[k]->id, j->id) == 0;
        if (dup) {
            *bad = i;
            return SYNQ_ECONFLICT;
        }
    }
    uint64_t now_ms = (uint64_t)(synq_time_now_us() / 1000);
    if (out && as_array) synq_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        synq_job_t *j = jobs[i];
        if (j->id == NULL) {
            j->id = synq_malloc(SYNQ_ID_LEN + 1);
            synq_idgen_next(&e->idgen, now_ms, j->id);
        }
        j->timer_idx = SYNQ_HEAP_NONE;
        store_write(e, e->store->ops->job_insert(e->store, j));
        synq_map_put(&e->jobs, j->id, j);
        count(e, j, +1);
        attach(e, j);
        if (!out) continue;
        if (as_array && i) synq_buf_putc(out, ',');
        synq_job_to_json(j, out);
    }
    if (out && as_array) synq_buf_putc(out, ']');
    return 0;
}

/* ---- fetch ------------------------------------------------------------- */

static synq_job_t *pop_ready(synq_engine_t *e, const char *qname)
{
    queue_t *q = queue_get(e, qname, false);
    if (q == NULL || q->paused) return NULL;
    for (int p = NPRIO - 1; p >= 1; p--) {
        synq_job_t *j = q->head[p];
        if (j) {
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
}

int synq_engine_fetch(synq_engine_t *e, const char *const *queues, size_t nqueues, int max,
                      const char *worker, synq_buf_t *out)
{
    int n = 0;
    int64_t now = synq_time_now_us();
    synq_buf_putc(out, '[');
    for (size_t qi = 0; qi < nqueues && n < max; qi++) {
        synq_job_t *j;
        while (n < max && (j = pop_ready(e, queues[qi]))) {
            lease(e, j, worker, now);
            if (n++) synq_buf_putc(out, ',');
            synq_job_to_json(j, out);
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

static void waiter_finish(synq_engine_t *e, synq_fetch_waiter_t *w, const synq_buf_t *jobs, int n)
{
    waiter_unlink(e, w);
    uv_timer_stop(&w->timer);
    if (w->cb) w->cb(jobs, n, w->arg);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void on_waiter_timeout(uv_timer_t *t)
{
    synq_fetch_waiter_t *w = t->data;
    synq_buf_t empty;
    synq_buf_init(&empty);
    synq_buf_puts(&empty, "[]");
    waiter_finish(w->e, w, &empty, 0);
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
        int n = synq_engine_fetch(e, (const char *const *)w->queues, w->nqueues, w->max,
                                  w->worker, &out);
        if (n > 0) waiter_finish(e, w, &out, n);
        synq_buf_release(&out);
        w = next;
    }
}

synq_fetch_waiter_t *synq_engine_fetch_wait(synq_engine_t *e, const char *const *queues,
                                            size_t nqueues, int max, const char *worker,
                                            uint64_t timeout_ms, synq_fetch_cb cb, void *arg)
{
    synq_fetch_waiter_t *w = synq_calloc(1, sizeof *w);
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
    waiter_finish(e, w, NULL, 0);
}

/* ---- settle ------------------------------------------------------------- */

static int held(synq_engine_t *e, const char *id, const char *worker, synq_job_t **out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) {
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
    count(e, j, -1);
    synq_job_transition(j, SYNQ_JOB_EV_FAIL);
    count(e, j, +1);
    if (j->state == SYNQ_JOB_DEAD) {
        j->finished_at = now;
        synq_log(SYNQ_LOG_WARN, "job dead", "job", j->id, "queue", j->queue, "type", j->type,
                 "error", message, NULL);
        if (e->totals[SYNQ_JOB_DEAD] > e->cfg.dead_max) e->prune_needed = true;
        retire(e, j, out);
        return;
    }
    j->run_at = now + (retry_in_us >= 0 ? retry_in_us
                                        : synq_backoff_delay_us(&j->backoff, j->attempts, rnd(e)));
    store_write(e, e->store->ops->job_update(e->store, j));
    attach(e, j);
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
    if (rc) return rc;
    j->lease_until = synq_time_now_us() + (int64_t)j->reserve_for * SYNQ_US_PER_SEC;
    synq_heap_update(&e->leases, j->timer_idx);
    store_write(e, e->store->ops->job_update(e->store, j));
    synq_job_to_json(j, out);
    arm_timer(e);
    return 0;
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
    if (j) {
        if (j->state != SYNQ_JOB_RETRY) return SYNQ_ECONFLICT;
        detach(e, j);
    } else {
        int rc = e->store->ops->job_get(e->store, id, &j);
        if (rc) return rc;
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
    store_write(e, e->store->ops->job_update(e->store, j));
    attach(e, j);
    synq_job_to_json(j, out);
    return 0;
}

int synq_engine_cancel(synq_engine_t *e, const char *id, int flags, synq_buf_t *out)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j == NULL) {
        int rc = e->store->ops->job_exists(e->store, id);
        return rc == 0 ? SYNQ_ECONFLICT : rc;
    }
    if (j->state == SYNQ_JOB_ACTIVE) {
        if (!(flags & SYNQ_CANCEL_ACTIVE)) return SYNQ_ECONFLICT;
        synq_heap_remove(&e->leases, j->timer_idx);
        j->lease_until = 0;
    } else {
        detach(e, j);
    }
    set_state(e, j, SYNQ_JOB_CANCELLED);
    j->run_at = 0;
    j->finished_at = synq_time_now_us();
    retire(e, j, out);
    arm_timer(e);
    return 0;
}

int synq_engine_delete(synq_engine_t *e, const char *id)
{
    synq_job_t *j = synq_map_get(&e->jobs, id);
    if (j) {
        detach(e, j);
        count(e, j, -1);
        store_write(e, e->store->ops->job_delete(e->store, id));
        synq_map_del(&e->jobs, id);
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
            synq_map_del(&e->jobs, j->id);
            synq_job_free(j);
            (*purged)++;
        }
    }
    return 0;
}

/* ---- retention ----------------------------------------------------------- */

typedef struct {
    synq_engine_t *e;
    synq_job_state_t state;
} prune_ctx_t;

static void pruned(const char *queue, void *arg)
{
    prune_ctx_t *c = arg;
    queue_t *q = queue_get(c->e, queue, false);
    if (q) q->counts[c->state]--;
    c->e->totals[c->state]--;
}

static void prune(synq_engine_t *e)
{
    e->prune_needed = false;
    int64_t now = synq_time_now_us();
    prune_ctx_t c = {e, SYNQ_JOB_DEAD};
    store_write(e, e->store->ops->job_prune(e->store, SYNQ_JOB_DEAD, now - e->cfg.dead_ttl_us,
                                            e->cfg.dead_max, pruned, &c));
    c.state = SYNQ_JOB_COMPLETED;
    store_write(e, e->store->ops->job_prune(e->store, SYNQ_JOB_COMPLETED,
                                            now - e->cfg.completed_ttl_us, e->cfg.completed_max,
                                            pruned, &c));
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
        free(((queue_t *)v)->name);
        free(v);
    }
    synq_map_release(&e->jobs);
    synq_map_release(&e->queues);
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
    while (e->waiters) waiter_finish(e, e->waiters, &empty, 0);
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
}
