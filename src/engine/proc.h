/* Running one child process for the `exec` executor: uv_spawn in a new
 * process group (setsid), standard input from a string, the last N bytes of
 * stdout and stderr kept, a timeout that kills the whole group (SIGTERM,
 * then SIGKILL after a grace period), and one callback with the outcome.
 * It knows nothing about jobs. Everything runs on the loop thread. */
#ifndef SYNQ_ENGINE_PROC_H
#define SYNQ_ENGINE_PROC_H

#include "core/common.h"

#include <uv.h>

typedef struct synq_proc_s synq_proc_t;

/* What to run. Borrowed only during synq_proc_start(). */
typedef struct synq_proc_opts_s {
    const char *const *argv;   /* argv[0] is looked up in PATH; NULL-terminated */
    const char *const *env;    /* "NAME=value" list, NULL-terminated, or NULL:
                                  inherit the server's environment. When given,
                                  it is the whole environment. */
    const char *cwd;           /* NULL = the server's */
    const char *input;         /* written to stdin, then stdin is closed; NULL = empty */
    size_t input_len;
    uint64_t timeout_ms;       /* 0 = none */
    uint64_t kill_grace_ms;    /* SIGTERM -> SIGKILL; 0 = 5000 */
    size_t tail_bytes;         /* kept of stdout and of stderr each; 0 = 64 KiB */
} synq_proc_opts_t;

/* The outcome, borrowed by the callback for its duration. */
typedef struct synq_proc_result_s {
    int spawn_error;           /* 0, or a libuv error (UV_ENOENT: no such
                                  program, UV_EACCES, ...); then nothing ran */
    int exit_status;           /* when exited normally */
    int term_signal;           /* 0, or the signal that ended it */
    bool timed_out;            /* the timeout killed it */
    int64_t started_us, duration_us;
    const char *out;           /* last tail_bytes of stdout, valid UTF-8
                                  (invalid bytes become U+FFFD; a cut
                                  multi-byte character at the start is
                                  dropped), NUL-terminated */
    size_t out_len;
    bool out_truncated;        /* earlier output was dropped */
    const char *err;           /* the same for stderr */
    size_t err_len;
    bool err_truncated;
} synq_proc_result_t;

/* cb runs once, on the loop, after the process has exited and both of its
 * output pipes are closed (or at once, from the next loop turn, when the
 * spawn failed). The synq_proc_t is freed after cb returns. */
typedef void (*synq_proc_cb)(const synq_proc_result_t *res, void *arg);

/* Starts a process. Returns 0 with *out set (valid until cb runs), or a
 * negative error for invalid options (no argv). A spawn failure is
 * reported through cb, not here. */
int synq_proc_start(uv_loop_t *loop, const synq_proc_opts_t *opts, synq_proc_cb cb, void *arg,
                    synq_proc_t **out);

/* Kills the process group now (SIGTERM, then SIGKILL after the grace);
 * cb still runs, with term_signal set. Idempotent. */
void synq_proc_kill(synq_proc_t *p);

/* Process id (for logs). */
int synq_proc_pid(const synq_proc_t *p);

#endif
