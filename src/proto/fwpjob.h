/* Faktory job payloads <-> synq jobs. Pure: no I/O, no clock (callers pass
 * `now`).
 *
 * A Faktory job {jid, jobtype, args, queue, reserve_for, at, retry,
 * backtrace, created_at, custom, ...} becomes a synq job with the same id,
 * type, args and queue, Faktory's backoff (c^4 + 15 + rand(30)(c+1)) and
 * its retry rule (0: discarded on failure; -1: dead at the first failure).
 * Keys of `custom` that Faktory Enterprise reads are honoured with synq's
 * own features: unique_for/unique_until -> a unique window, expires_at ->
 * the job is dropped if not started by then, bid -> the batch.
 *
 * Top-level fields synq has no column for (at, backtrace, reserve_for as
 * given, unknown keys) are kept verbatim in job->fwp and echoed back, so a
 * fetched job carries exactly what its producer sent plus what the server
 * sets (enqueued_at, failure); the legacy `priority` is accepted and
 * dropped, as Faktory does. */
#ifndef SYNQ_PROTO_FWPJOB_H
#define SYNQ_PROTO_FWPJOB_H

#include "core/buf.h"
#include "core/job.h"

#include <jansson.h>

#define SYNQ_FWP_MIN_JID 8
#define SYNQ_FWP_RESERVE_DEFAULT 1800
#define SYNQ_FWP_RESERVE_MIN 60
#define SYNQ_FWP_RESERVE_MAX 86400

/* Builds a synq job from a Faktory job object. On error returns NULL and
 * writes Faktory's own message ("jobs must have a jobtype parameter") into
 * err. The job is queued, or scheduled when `at` is after now_us.
 * Free with synq_job_free(). */
synq_job_t *synq_fwp_job_from_json(const json_t *obj, int64_t now_us, char *err, size_t errlen);

/* Appends the job as Faktory shows it: jid, queue, jobtype, args (wrapped in
 * an array when it is not one), created_at, enqueued_at, retry, the echoed
 * fields, failure (once it has failed) and custom. */
void synq_fwp_job_to_json(const synq_job_t *job, synq_buf_t *out);

/* True when name is a valid Faktory queue name (\A[a-zA-Z0-9._-]+\z, and
 * short enough for synq). */
bool synq_fwp_queue_valid(const char *name, size_t len);

/* Redis-style glob match (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) of pattern
 * against text, as MUTATE's "regexp" filter is really a SCAN pattern. */
bool synq_fwp_glob(const char *pattern, const char *text, size_t text_len);

#endif
