/* The job record, its state machine, retry backoff, and its JSON forms.
 * Pure: no I/O, no clock (callers pass `now`), no global state.
 *
 * States: scheduled -> queued -> active -> completed
 *                                       -> retry -> queued ...
 *                                       -> dead  -> queued (manual retry)
 *         waiting (dependencies) -> queued | scheduled
 *         waiting|scheduled|queued|retry|active -> cancelled               */
#ifndef SYNQ_CORE_JOB_H
#define SYNQ_CORE_JOB_H

#include "core/buf.h"
#include "core/common.h"

#include <jansson.h>

typedef enum {
    SYNQ_JOB_SCHEDULED = 0,
    SYNQ_JOB_QUEUED,
    SYNQ_JOB_ACTIVE,
    SYNQ_JOB_RETRY,
    SYNQ_JOB_COMPLETED,
    SYNQ_JOB_DEAD,
    SYNQ_JOB_CANCELLED,
    SYNQ_JOB_WAITING, /* for its dependencies (depends_on) */
    SYNQ_JOB_NSTATES
} synq_job_state_t;

typedef enum {
    SYNQ_JOB_EV_FETCH,   /* queued -> active */
    SYNQ_JOB_EV_ACK,     /* active -> completed */
    SYNQ_JOB_EV_FAIL,    /* active -> retry | dead (also lease expiry) */
    SYNQ_JOB_EV_DUE,     /* scheduled | retry -> queued, when run_at passes */
    SYNQ_JOB_EV_RETRY,   /* dead | retry -> queued, by hand */
    SYNQ_JOB_EV_CANCEL,  /* scheduled | queued | retry -> cancelled */
} synq_job_event_t;

typedef enum {
    SYNQ_BACKOFF_DEFAULT = 0, /* Sidekiq's: n^4 + 15 + rand(10)*(n+1) seconds */
    SYNQ_BACKOFF_FIXED,
    SYNQ_BACKOFF_EXPONENTIAL,
    SYNQ_BACKOFF_FAKTORY,     /* Faktory's: n^4 + 15 + rand(30)*(n+1) seconds */
} synq_backoff_type_t;

typedef struct synq_backoff_s {
    synq_backoff_type_t type;
    int64_t base_us;
    int64_t max_us; /* 0 = no cap */
} synq_backoff_t;

#define SYNQ_JOB_DEFAULT_PRIORITY 5
#define SYNQ_JOB_DEFAULT_RETRY 25
#define SYNQ_JOB_DEFAULT_RESERVE_S 1800
#define SYNQ_JOB_MAX_RESERVE_S (7 * 86400)
#define SYNQ_JOB_MAX_RETRY 1000
#define SYNQ_NAME_MAX 128   /* queue names */
#define SYNQ_TYPE_MAX 256   /* job type names */
#define SYNQ_GROUP_MAX 256  /* ordering group keys, unique keys */
#define SYNQ_JOB_MAX_DEPS 100

/* Events a callback may ask for. */
#define SYNQ_CB_COMPLETED 1
#define SYNQ_CB_DEAD 2
#define SYNQ_CB_CANCELLED 4
#define SYNQ_CB_PROGRESS 8

typedef struct synq_job_s {
    char *id;
    char *queue;
    char *type;
    char *args;      /* JSON text, never NULL */
    char *custom;    /* JSON object text or NULL */
    char *backoff_json; /* JSON text as given, or NULL */
    synq_backoff_t backoff;
    int priority;    /* 1..9, higher first */
    synq_job_state_t state;
    int retry;       /* max retries */
    int reserve_for; /* seconds */
    int attempts;    /* executions started so far */
    int64_t run_at;  /* us; when scheduled/retry becomes due, else 0 */
    int64_t created_at, enqueued_at, started_at, finished_at; /* us, 0 = unset */
    int64_t lease_until; /* us, active only */
    char *worker;    /* holder of the lease, active only */
    char *result;    /* JSON text or NULL */
    char *err_message, *err_type; /* or NULL */
    char *err_backtrace; /* JSON text or NULL */
    int64_t seq;     /* store order: newest has the largest */
    char *schedule;  /* the schedule that fired it, or NULL (immutable) */
    int64_t fire_at; /* us; that fire's nominal time, 0 = none */
    char *group;     /* ordering key: one job of a group runs at a time, or NULL */
    char *batch;     /* the batch it belongs to, or NULL (immutable) */
    char *unique_key;        /* NULL: not unique */
    int64_t unique_until_us; /* the uniqueness window ends here (created + for) */
    bool unique_until_start; /* released when it starts, else when it finishes */
    char *traceparent;       /* W3C trace context, or NULL */
    int64_t keep_for_us;     /* how long a final job is kept; 0 = the default */
    int64_t expires_at;      /* us; when a final job is pruned; 0 while live */
    char *callback;          /* {"url","events":[..],"secrets":[..]} JSON, or NULL */
    char *depends_on;        /* JSON array of job ids, or NULL */
    bool run_on_dep_failure; /* on_dependency_failure: "run" */
    char *dep_results;       /* JSON object id -> result once dependencies completed */
    char *progress;          /* JSON of the latest progress report, or NULL */
    int group_blocked;       /* dead: jobs of its group it held while failing */
    int nevents;             /* progress and log events stored so far */
    int64_t failed_at;       /* us; the first failure, 0 = never failed */
    int64_t next_at;         /* us; when the latest retry was due, 0 = none */
    int64_t run_by;          /* us; not started by then: cancelled at fetch; 0 = no limit */
    bool discard;            /* deleted instead of kept when it would go dead */
    char *fwp;               /* Faktory job fields echoed back verbatim (JSON object), or NULL */

    /* engine bookkeeping (not persisted) */
    size_t timer_idx;                 /* slot in a timer heap or SYNQ_HEAP_NONE */
    struct synq_job_s *next, *prev;   /* ready list links */
    void *owner;                      /* the ready list or timer heap it is in */
    int deps_pending;                 /* waiting: dependencies not yet final */
} synq_job_t;

/* Returns the lowercase name of a state ("queued") or NULL. */
const char *synq_job_state_name(synq_job_state_t s);
/* Parses a state name. Returns 0 or SYNQ_EINVAL. */
int synq_job_state_parse(const char *name, synq_job_state_t *out);
/* True when the state is final (completed, dead, cancelled). */
bool synq_job_state_terminal(synq_job_state_t s);

/* Applies event ev to job->state. For SYNQ_JOB_EV_FAIL the next state is
 * retry or dead, decided from attempts and retry. Returns 0, or
 * SYNQ_ECONFLICT when the event is not allowed in the current state (the
 * job is unchanged). Only the state changes; timestamps are the caller's. */
int synq_job_transition(synq_job_t *job, synq_job_event_t ev);

/* Delay before retry number `failures` (1 for the first retry). rnd is a
 * random number from the caller (jitter). Returns microseconds. */
int64_t synq_backoff_delay_us(const synq_backoff_t *b, int failures, uint64_t rnd);

/* Frees a job and every string it owns. NULL is fine. */
void synq_job_free(synq_job_t *job);

/* Builds a new job from a client's JSON object (POST /v1/jobs). The caller
 * fills id (when not given), seq and timestamps afterwards. On error returns
 * NULL and writes "field: problem" into err (size errlen).
 * Returned job is freed with synq_job_free(). */
synq_job_t *synq_job_from_json(const json_t *obj, int64_t now_us, char *err, size_t errlen);

/* Sets a new job's first state: scheduled at run_at when that is after
 * now_us, else queued (enqueued now). */
void synq_job_place(synq_job_t *job, int64_t run_at, int64_t now_us);

/* Appends the job's public JSON form to out (callback secrets left out). */
void synq_job_to_json(const synq_job_t *job, synq_buf_t *out);

/* The rarely-set options (unique window, traceparent, keep_for, callback,
 * dependencies, progress, ...) as one JSON object text for the store, or
 * NULL when none is set. Returned; free() it. */
char *synq_job_extra_dump(const synq_job_t *job);
/* Restores what synq_job_extra_dump wrote. NULL or bad text is ignored. */
void synq_job_extra_load(synq_job_t *job, const char *text);

/* Validates a client's callback object {url, events?, secret?} and writes
 * its stored form {"url","events":[..],"secrets"?:[..]} (returned; free()).
 * SYNQ_EINVAL with "callback...: problem" in err. */
int synq_job_callback_parse(const json_t *v, char **out, char *err, size_t errlen);
/* Callback event mask (SYNQ_CB_*) of a callback JSON text; 0 for NULL. */
int synq_job_callback_events(const char *callback_json);

/* The default unique key of a job: "sha256:" and the hex digest of its
 * queue, type and canonical args. Returned; free() it. */
char *synq_job_unique_key_default(const synq_job_t *job);

/* Validates a W3C traceparent header value (version 00 form). */
bool synq_traceparent_valid(const char *s);

/* Parses a backoff object {"type":"fixed"|"exponential","base":"1s","max":"1h"}
 * or {"type":"faktory"} (no base). */
int synq_backoff_from_json(const json_t *obj, synq_backoff_t *out, char *err, size_t errlen);

#endif
