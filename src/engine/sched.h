/* The scheduler: named schedules (cron, @every, or a single `at`) that
 * enqueue a job at each fire, with time zones, overlap and catch-up
 * policies, jitter and start/end bounds. Runs on the engine's loop and
 * store.
 *
 * Exactly once: a fire is recorded as a run row keyed by (schedule, nominal
 * fire time) in the same transaction as the job it enqueues; a fire whose
 * row exists is never enqueued again (restart, retried enqueue, and later a
 * second cluster node). Next fires live in one min-heap under one uv_timer.
 *
 * Fires of `overlap: allow` schedules are prepared up to SYNQ_SCHED_LEAD_MS
 * ahead: the job is stored as `scheduled` with run_at = the fire time, and
 * the engine's own timer makes it due on the instant. Overlap decisions
 * for forbid/replace are taken at the fire time itself.
 *
 * Catch-up after downtime (fires between the last handled fire and start):
 * none skips them, latest runs the most recent one, all runs those within
 * catchup_window (at most SYNQ_SCHED_CATCHUP_MAX). Fires while a schedule is
 * paused are skipped; resume continues from the present. */
#ifndef SYNQ_ENGINE_SCHED_H
#define SYNQ_ENGINE_SCHED_H

#include "core/buf.h"
#include "core/crontab.h"
#include "engine/engine.h"
#include "net/httpc.h"

#include <jansson.h>

#define SYNQ_SCHED_LEAD_MS 500
#define SYNQ_SCHED_CATCHUP_MAX 1000
#define SYNQ_SCHED_RUNS_KEPT 100
#define SYNQ_SCHED_NAME_MAX 128

typedef struct synq_sched_s synq_sched_t;

typedef struct synq_sched_config_s {
    const char *alert_url; /* POSTed a JSON alert when a scheduled job dies; NULL = none */
    synq_httpc_t *httpc;   /* for alert POSTs (borrowed); NULL = no POSTs */
} synq_sched_config_t;

/* Loads every schedule from the engine's store, runs catch-up and @reboot
 * fires, and arms the timer. NULL on a store failure. */
synq_sched_t *synq_sched_new(synq_engine_t *e, const synq_sched_config_t *cfg);

/* Ends start-up: from now on a new @reboot schedule waits for the next
 * start (schedules created before this, e.g. from --crontab, run now). */
void synq_sched_started(synq_sched_t *s);

/* Stops the timer; done(arg) runs when the scheduler is freed. */
void synq_sched_close(synq_sched_t *s, void (*done)(void *arg), void *arg);

/* Result codes of the operations below: 0, SYNQ_EINVAL (err holds
 * "field: problem"), SYNQ_ENOTFOUND. Every operation that answers with a
 * schedule appends its JSON object to out. Writes join the engine's open
 * transaction: reply after synq_engine_after_commit. */

/* Creates or replaces schedule `name` from definition def (docs/api.md).
 * *created tells which. source tags imported schedules (NULL = API). */
int synq_sched_put(synq_sched_t *s, const char *name, const json_t *def, const char *source,
                   bool *created, synq_buf_t *out, char *err, size_t errlen);
/* Appends {"schedules":[...]} with each one's next fire times. */
void synq_sched_list(synq_sched_t *s, synq_buf_t *out);
/* Appends the schedule with `next` (nnext upcoming fires) and `runs`
 * (nruns newest runs with their jobs' states). */
int synq_sched_get(synq_sched_t *s, const char *name, int nnext, int nruns, synq_buf_t *out);
int synq_sched_delete(synq_sched_t *s, const char *name);
int synq_sched_pause(synq_sched_t *s, const char *name, bool paused, synq_buf_t *out);
/* Fires now, outside the timetable (overlap policy applies); appends
 * {"run":{...},"job":{...}}. */
int synq_sched_trigger(synq_sched_t *s, const char *name, synq_buf_t *out);
/* Appends {"next":[...]} with n upcoming fires. */
int synq_sched_next(synq_sched_t *s, const char *name, int n, synq_buf_t *out);

/* Makes the schedules tagged `source` match the crontab: adds, updates and
 * removes (others are untouched). Entries are named after their `# synq:
 * name=` directive or as "<prefix>:<line>". Appends {"added":[..],
 * "updated":[..],"removed":[..],"unchanged":[..]}. All or nothing: on
 * SYNQ_EINVAL nothing changed. */
int synq_sched_import(synq_sched_t *s, const char *source, const char *prefix,
                      const synq_crontab_t *tab, synq_buf_t *out, char *err, size_t errlen);

/* Makes a schedule-name prefix from a file's base name ("my crontab.txt"
 * -> "my_crontab.txt"): characters outside A-Z a-z 0-9 _ - . become '_',
 * at most 100 bytes, "crontab" when empty. */
void synq_sched_name_prefix(const char *base, char *out, size_t n);

/* Previews expression expr (cron text or "@every D") in zone tz (NULL =
 * UTC): appends {"next":[...]} with n fires after after_us. */
int synq_sched_preview(const char *expr, const char *tz, int64_t after_us, int n,
                       synq_buf_t *out, char *err, size_t errlen);

#endif
