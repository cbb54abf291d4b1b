/* Built-in executors: internal workers inside the server that run jobs of
 * type `synq.exec` (a command, through engine/proc) and `synq.http` (a URL,
 * through net/httpc). Each is an ordinary consumer of its queue (named like
 * the type): it long-polls the engine for jobs while it has free slots,
 * heartbeats what it runs, and acks or fails with the outcome, so retries,
 * dead jobs, pausing the queue and cancelling work as usual.
 *
 * Job args are [SPEC], SPEC as in docs/api.md:
 *   exec: {"argv":[...]} or {"shell":"..."}, "env":{..}, "cwd", "timeout",
 *         "input" (standard input text)
 *   http: {"url", "method", "headers":{..}, "body" (string or JSON),
 *         "timeout"}
 * Results: exec {exit_code, signal, duration_ms, stdout, stderr, ...};
 * http {status, headers, body, duration_ms}. A non-zero exit, a signal, a
 * timeout, a non-2xx status or a network error fails the job (error
 * message says which; error.backtrace holds the same details as the
 * result would); an http failure with Retry-After retries after it. */
#ifndef SYNQ_ENGINE_EXECUTOR_H
#define SYNQ_ENGINE_EXECUTOR_H

#include "engine/engine.h"
#include "net/httpc.h"

#include <jansson.h>

#define SYNQ_EXEC_TYPE "synq.exec"
#define SYNQ_HTTP_TYPE "synq.http"

typedef struct synq_executor_s synq_executor_t;

typedef enum { SYNQ_EXECUTOR_EXEC, SYNQ_EXECUTOR_HTTP } synq_executor_kind_t;

/* Starts an executor of `kind` running at most `concurrency` jobs at once.
 * httpc (borrowed, must outlive it) is required for SYNQ_EXECUTOR_HTTP.
 * Jobs of its queue left active by a previous server process are failed
 * first ("server restarted"), so their retry policy applies. */
synq_executor_t *synq_executor_new(synq_engine_t *e, synq_executor_kind_t kind, int concurrency,
                                   synq_httpc_t *httpc);

/* Stops taking jobs, kills running commands / aborts running calls and
 * fails their jobs ("server shutting down"); done(arg) runs when every
 * handle is closed and the executor is freed. */
void synq_executor_close(synq_executor_t *x, void (*done)(void *arg), void *arg);

/* Validate a spec (the object in args[0]); 0 or SYNQ_EINVAL with
 * "field: problem" in err. */
int synq_exec_spec_check(const json_t *spec, char *err, size_t errlen);
int synq_http_spec_check(const json_t *spec, char *err, size_t errlen);

/* Checks a job of a built-in type: args must be [SPEC] with a valid SPEC.
 * 0 for other types. */
int synq_executor_job_check(const char *type, const char *args_json, char *err, size_t errlen);

#endif
