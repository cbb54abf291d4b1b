/* `synq work`: a generic worker that runs a command once per job. N threads
 * (--concurrency) each long-poll POST /v1/fetch for one job, run COMMAND in
 * its own process group with the job's JSON on stdin and SYNQ_JOB_* in its
 * environment, heartbeat the lease while it runs, and then ack the job with
 * the command's stdout as the result (exit 0) or fail it with the tail of
 * its stderr (non-zero exit, a signal, --timeout). Lines the command writes
 * to stderr starting with "progress:" or "log:" are forwarded to the job's
 * progress and log endpoints. A job cancelled while it runs (learnt from a
 * heartbeat reply, or from the "cancel" list of any thread's fetch reply)
 * has its command's process group killed and is neither acked nor failed.
 * SIGINT/SIGTERM stop the fetching and let running commands finish; a
 * second one ends them too.
 *
 * With a Faktory address (tcp://...) it speaks FWP instead (cli/fwpclient.h):
 * each thread FETCHes on its own connection under one wid, the job is the
 * Faktory job, exit 0 ACKs and anything else FAILs it; one more connection
 * BEATs every 15 s and obeys the server's "quiet" (stop fetching) and
 * "terminate" (also stop the running commands, FAIL them, END). Faktory
 * has no leases to extend, no cancels and no progress or log, so those
 * parts are off: a command must finish within the job's reserve_for.
 *
 * It does not batch, prefetch or run anything but an external command: a
 * worker written against the HTTP API or a Faktory library does more. */
#include "cli/cli.h"

#include "cli/client.h"
#include "cli/fwpclient.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define EXIT_USAGE 2
#define FETCH_WAIT "30s"
#define FETCH_TIMEOUT_MS 45000L /* the long poll plus a margin */
#define HEARTBEAT_TIMEOUT_MS 10000L
#define UPDATE_TIMEOUT_MS 10000L /* one progress or log request; not retried */
#define REPORT_TIMEOUT_MS 30000L
#define REPORT_TRIES 5                  /* ack/fail attempts on transport errors and 5xx */
#define MAX_STDOUT_BYTES (1024u * 1024) /* the result; more is dropped */
#define STDERR_TAIL_BYTES 4096u         /* kept for the failure message */
#define MIN_HEARTBEAT_MS 200            /* floor for reserve_for/3 and --heartbeat */
#define MAX_HEARTBEAT_MS 10000          /* default cap, so a cancel is noticed soon */
#define MAX_LINE_BYTES (64u * 1024)     /* a longer "progress:"/"log:" line is cut */
#define MAX_LOG_BATCH_BYTES 262144u     /* line text in one POST .../log */
#define STDERR_READS 16                 /* per drain, so updates are sent as we go */
#define UPDATE_ERRORS_LOGGED 5          /* per job; the rest are only counted */
#define CANCEL_RING 16                  /* cancels for jobs not (yet) running here */
#define TICK_MS 250                     /* longest sleep before looking at signals */
#define MAX_BACKOFF_MS 30000
/* FWP (Faktory) mode */
#define FWP_CONNECT_TIMEOUT_MS 10000L
#define FWP_FETCH_TIMEOUT_MS 15000L /* the server blocks up to 2 s */
#define FWP_CALL_TIMEOUT_MS 30000L  /* ACK, FAIL, BEAT */
#define FWP_BEAT_MS 15000           /* the interval Faktory recommends (§1.5) */
#define FWP_WID_BYTES 8             /* a wid of 16 hex digits */
#define FWP_MESSAGE_MAX 1000        /* what Faktory keeps of a FAIL message */
#define FWP_BACKTRACE_MAX 50        /* and of its backtrace, in lines */
/* Ends synq_log's key/value list; a bare NULL may be an int in varargs. */
#define LOG_END ((const char *)NULL)

typedef struct worker_s worker_t;

typedef struct {
    const char *server;  /* as given: SYNQ_SERVER for the commands */
    const char *display; /* for the logs (a Faktory address without its password) */
    bool fwp;            /* server is a Faktory address */
    json_t *queues;      /* array of strings */
    int concurrency;
    int64_t timeout_ms; /* 0 = none */
    const char *timeout_text;
    int64_t kill_after_ms;
    int64_t heartbeat_ms; /* --heartbeat; 0 = reserve_for/3, at most 10 s */
    char worker[256];     /* the lease holder name; in FWP mode the wid */
    char **cmd;           /* borrowed from argv, NULL-terminated */
    worker_t *workers;    /* all `concurrency` of them, for delivering cancels */
} work_cfg_t;

struct worker_s {
    const work_cfg_t *cfg;
    synq_client_t *client; /* HTTP mode */
    synq_fwpclient_t *fwp; /* FWP mode */
    pthread_t thread;
    char *job_id;       /* the job running on this thread or NULL; g_jobs_lock */
    atomic_bool cancel; /* a fetch reply said job_id was cancelled */
};

/* SIGINT/SIGTERM received so far (the main thread counts them with
 * sigtimedwait; the workers only read). */
static atomic_int g_signals;
static atomic_int g_live_threads;
static atomic_int g_running_jobs;
/* FWP: a BEAT reply said "quiet": stop fetching, keep running. */
static atomic_bool g_quiet;

/* Guards every worker's job_id and the ring below. A cancel can come on one
 * thread's fetch for the job another thread runs; one whose job is not
 * running here yet (its fetch reply still being read) waits in the ring. */
static pthread_mutex_t g_jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_cancel_ring[CANCEL_RING];
static size_t g_cancel_next;

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n bytes of s as valid UTF-8: ill-formed sequences become U+FFFD
 * (the well-formed ranges are Unicode's Table 3-7), so jansson accepts it. */
/* Sleeps up to ms, waking early once a stop was asked for. */
static void nap(int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (atomic_load(&g_signals) == 0) {
        int64_t left = end - now_ms();
        if (left <= 0) break;
        struct timespec ts = {0, (long)SYNQ_MIN(left, TICK_MS) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- the child process ---- */

typedef struct {
    pid_t pid;
    int pidfd;                 /* readable once the child exits; -1 if unsupported */
    int fd_in, fd_out, fd_err; /* our ends, -1 once closed */
    const char *in;
    size_t in_len, in_off;
    synq_buf_t out;
    size_t out_bytes; /* all of stdout, including what was dropped */
    synq_buf_t err;   /* at most 2 * STDERR_TAIL_BYTES, the tail */
    bool err_cut;
    /* stderr split into lines for "progress:" and "log:" */
    synq_buf_t line;        /* the line being read, at most MAX_LINE_BYTES */
    bool line_cut;          /* bytes past MAX_LINE_BYTES were dropped */
    json_t *updates;        /* to send, in order: objects (progress), arrays (log lines) */
    size_t log_batch_bytes; /* line text in the last array of updates */
    int update_errors;
} child_t;

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* "NAME=value" in a new string. */
static char *env_entry(const char *name, const char *value)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_printf(&b, "%s=%s", name, value);
    return synq_buf_steal(&b, NULL);
}

static bool env_is_ours(const char *entry)
{
    static const char *const ours[] = {"SYNQ_JOB_ID=",  "SYNQ_JOB_TYPE=", "SYNQ_QUEUE=",
                                       "SYNQ_ATTEMPT=", "SYNQ_WORKER=",   "SYNQ_SERVER="};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ours); i++)
        if (strncmp(entry, ours[i], strlen(ours[i])) == 0) return true;
    return false;
}

/* Starts cfg->cmd with stdin/stdout/stderr on pipes, in a new process
 * group, with default signal handling and an empty signal mask. Returns 0,
 * or a negative errno (the command could not be run). */
static int child_spawn(child_t *ch, const work_cfg_t *cfg, char **envp)
{
    int rc = 0;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* O_CLOEXEC: children of the other worker threads must not inherit
     * these, or they would hold our pipes open. */
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        rc = -errno;
        goto cleanup;
    }
    /* dup2 clears FD_CLOEXEC on the child's copies (and glibc clears it
     * when the numbers happen to be equal). */
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);

    sigemptyset(&none);
    sigemptyset(&dfl);
    static const int reset[] = {SIGPIPE, SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
                                SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(reset); i++)
        sigaddset(&dfl, reset[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setpgroup(&attr, 0); /* its own group: we signal -pid */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);

    int e = posix_spawnp(&ch->pid, cfg->cmd[0], &fa, &attr, cfg->cmd, envp);
    if (e != 0) {
        rc = -e;
        goto cleanup;
    }
#ifdef SYS_pidfd_open
    ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
#else
    ch->pidfd = -1;
#endif
    ch->fd_in = in[1], in[1] = -1;
    ch->fd_out = out[0], out[0] = -1;
    ch->fd_err = err[0], err[0] = -1;
    fcntl(ch->fd_in, F_SETFL, fcntl(ch->fd_in, F_GETFL) | O_NONBLOCK);
    fcntl(ch->fd_out, F_SETFL, fcntl(ch->fd_out, F_GETFL) | O_NONBLOCK);
    fcntl(ch->fd_err, F_SETFL, fcntl(ch->fd_err, F_GETFL) | O_NONBLOCK);

cleanup:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&err[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* Writes what the pipe takes of the job JSON; closes stdin when done or
 * when the child stopped reading. */
static void child_feed(child_t *ch)
{
    while (ch->fd_in >= 0 && ch->in_off < ch->in_len) {
        ssize_t n = write(ch->fd_in, ch->in + ch->in_off, ch->in_len - ch->in_off);
        if (n > 0) {
            ch->in_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            break; /* EPIPE: it exited or closed stdin; fine */
        }
    }
    close_fd(&ch->fd_in);
}

/* Is s[0..n) a percentage: digits, optionally a '.' and more digits? */
static bool is_percent(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || i > 15) return false;
    if (i < n && s[i] == '.') {
        size_t j = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == j) return false;
    }
    return i == n;
}

static json_t *percent_json(const char *s, size_t n)
{
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)SYNQ_MIN(n, sizeof num - 1), s);
    if (memchr(num, '.', strlen(num))) return json_real(strtod(num, NULL));
    return json_integer((json_int_t)strtoll(num, NULL, 10));
}

/* One whole stderr line (without its newline): "progress: ..." and
 * "log: ..." become updates; anything else only goes to the tail. */
static void line_handle(child_t *ch)
{
    const char *raw = ch->line.data ? ch->line.data : "";
    size_t rn = ch->line.len;
    if (rn > 0 && raw[rn - 1] == '\r') rn--;
    bool is_progress = rn >= 9 && memcmp(raw, "progress:", 9) == 0;
    bool is_log = !is_progress && rn >= 4 && memcmp(raw, "log:", 4) == 0;
    if (!is_progress && !is_log) goto done;

    size_t skip = is_progress ? 9 : 4;
    if (skip < rn && raw[skip] == ' ') skip++;
    /* valid UTF-8 (a cut line may end inside a sequence) with no NULs */
    synq_buf_t t;
    synq_buf_init(&t);
    synq_buf_utf8(&t, raw + skip, rn - skip);
    const char *s = t.data ? t.data : "";
    size_t n = t.len;

    if (is_log) {
        size_t last = json_array_size(ch->updates);
        json_t *batch = last ? json_array_get(ch->updates, last - 1) : NULL;
        if (!json_is_array(batch) || ch->log_batch_bytes + n > MAX_LOG_BATCH_BYTES) {
            batch = json_array();
            json_array_append_new(ch->updates, batch);
            ch->log_batch_bytes = 0;
        }
        json_array_append_new(batch, json_stringn(s, n));
        ch->log_batch_bytes += n;
        synq_buf_release(&t);
        goto done;
    }

    json_t *p = NULL;
    size_t k = 0;
    while (k < n && s[k] != ' ')
        k++;
    if (n > 0 && s[0] == '{') {
        p = json_loadb(s, n, 0, NULL);
        if (p && !json_is_object(p)) {
            json_decref(p);
            p = NULL;
        }
    }
    if (p == NULL && is_percent(s, k)) {
        p = json_object();
        json_object_set_new(p, "percent", percent_json(s, k));
        while (k < n && s[k] == ' ')
            k++;
        if (k < n) json_object_set_new(p, "message", json_stringn(s + k, n - k));
    }
    if (p == NULL) p = json_pack("{s:s%}", "message", s, n);
    json_array_append_new(ch->updates, p);
    synq_buf_release(&t);

done:
    synq_buf_consume(&ch->line, ch->line.len);
    ch->line_cut = false;
}

/* Splits stderr bytes into lines, which may come split across reads. */
static void lines_feed(child_t *ch, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = MAX_LINE_BYTES - ch->line.len;
        synq_buf_append(&ch->line, p, SYNQ_MIN(take, room));
        if (take > room) ch->line_cut = true;
        if (!nl) break;
        line_handle(ch);
        p += take + 1;
        n -= take + 1;
    }
}

/* Reads what is there on stdout (is_err false) or stderr; closes the fd at
 * end of file. Returns true when it stopped with stderr possibly holding
 * more (after STDERR_READS reads), so the caller can send the updates
 * found so far and call again. */
static bool child_drain(child_t *ch, bool is_err)
{
    int *fd = is_err ? &ch->fd_err : &ch->fd_out;
    char tmp[65536];
    int reads = 0;
    while (*fd >= 0) {
        if (is_err && reads++ == STDERR_READS) return true;
        ssize_t n = read(*fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        if (n <= 0) {
            close_fd(fd);
            /* a last line without its newline */
            if (is_err && (ch->line.len > 0 || ch->line_cut)) line_handle(ch);
            return false;
        }
        if (is_err) {
            lines_feed(ch, tmp, (size_t)n);
            synq_buf_append(&ch->err, tmp, (size_t)n);
            if (ch->err.len > 2 * STDERR_TAIL_BYTES) {
                synq_buf_consume(&ch->err, ch->err.len - STDERR_TAIL_BYTES);
                ch->err_cut = true;
            }
        } else {
            if (ch->out.len < MAX_STDOUT_BYTES)
                synq_buf_append(&ch->out, tmp, SYNQ_MIN((size_t)n, MAX_STDOUT_BYTES - ch->out.len));
            ch->out_bytes += (size_t)n;
        }
    }
    return false;
}

/* ---- talking to the server ---- */

static char *job_path(const char *id, const char *verb)
{
    char *e = synq_client_escape(id);
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_printf(&b, "/v1/jobs/%s/%s", e, verb);
    free(e);
    return synq_buf_steal(&b, NULL);
}

typedef enum { HB_OK, HB_LOST, HB_CANCELLED, HB_ERROR } hb_result_t;

static hb_result_t heartbeat(worker_t *w, const char *id)
{
    hb_result_t rc = HB_ERROR;
    synq_client_resp_t resp = {0};
    char *path = job_path(id, "heartbeat");
    json_t *body = json_pack("{s:s}", "worker", w->cfg->worker);

    int err =
        synq_client_request(w->client, "POST", path, body, HEARTBEAT_TIMEOUT_MS, NULL, NULL, &resp);
    if (err < 0) {
        synq_log(SYNQ_LOG_WARN, "heartbeat.error", "job", id, "error",
                 synq_client_errmsg(w->client), LOG_END);
    } else if (resp.status == 200) {
        /* The reply is the job; a cancel while it ran shows as "cancel":
         * true (and state "cancelled"): it is final, the command must go. */
        const char *state = json_string_value(json_object_get(resp.body, "state"));
        bool cancelled = json_is_true(json_object_get(resp.body, "cancel")) ||
                         (state && strcmp(state, "cancelled") == 0);
        rc = cancelled ? HB_CANCELLED : HB_OK;
    } else if (resp.status == 404 || resp.status == 409) {
        /* The lease is gone (expired, or the job was deleted or retried by
         * hand): someone else may run it now. */
        synq_log(SYNQ_LOG_WARN, "heartbeat.lease_lost", "job", id, "code",
                 synq_client_resp_code(&resp), LOG_END);
        rc = HB_LOST;
    } else {
        char st[24];
        snprintf(st, sizeof st, "%ld", resp.status);
        synq_log(SYNQ_LOG_WARN, "heartbeat.error", "job", id, "status", st, "code",
                 synq_client_resp_code(&resp), LOG_END);
    }
    synq_client_resp_release(&resp);
    json_decref(body);
    free(path);
    return rc;
}

/* POSTs one progress report or one batch of log lines, once. A failure is
 * logged (the first few of a job) and otherwise ignored: the job goes on. */
static void update_send(worker_t *w, const char *id, child_t *ch, const char *verb, json_t *body)
{
    synq_client_resp_t resp = {0};
    char *path = job_path(id, verb);
    int err =
        synq_client_request(w->client, "POST", path, body, UPDATE_TIMEOUT_MS, NULL, NULL, &resp);
    bool ok = err == 0 && resp.status >= 200 && resp.status < 300;
    if (!ok && ch->update_errors++ < UPDATE_ERRORS_LOGGED) {
        if (err < 0) {
            synq_log(SYNQ_LOG_WARN, "report.error", "job", id, "op", verb, "error",
                     synq_client_errmsg(w->client), LOG_END);
        } else {
            char st[24];
            snprintf(st, sizeof st, "%ld", resp.status);
            const char *msg =
                json_string_value(json_object_get(json_object_get(resp.body, "error"), "message"));
            synq_log(SYNQ_LOG_WARN, "report.error", "job", id, "op", verb, "status", st, "code",
                     synq_client_resp_code(&resp), "message", msg, LOG_END);
        }
    }
    synq_client_resp_release(&resp);
    free(path);
}

/* Sends the updates collected from stderr, in order; send false drops them
 * (the job is no longer ours to report on), as does FWP mode (Faktory has
 * no progress or log). */
static void updates_flush(worker_t *w, const char *id, child_t *ch, bool send)
{
    if (w->cfg->fwp) send = false;
    for (size_t i = 0; send && i < json_array_size(ch->updates); i++) {
        json_t *u = json_array_get(ch->updates, i);
        if (json_is_object(u)) {
            /* a progress object as the command wrote it; the lease is ours */
            json_object_set_new(u, "worker", json_string(w->cfg->worker));
            update_send(w, id, ch, "progress", u);
        } else {
            json_t *body = json_pack("{s:s,s:O}", "worker", w->cfg->worker, "lines", u);
            update_send(w, id, ch, "log", body);
            json_decref(body);
        }
    }
    json_array_clear(ch->updates);
    ch->log_batch_bytes = 0;
}

/* ---- cancels ---- */

/* Marks id as running on w; returns true if a cancel for it came already. */
static bool job_register(worker_t *w, const char *id)
{
    bool cancelled = false;
    pthread_mutex_lock(&g_jobs_lock);
    free(w->job_id);
    w->job_id = synq_strdup(id);
    for (size_t i = 0; i < CANCEL_RING; i++) {
        if (g_cancel_ring[i] && strcmp(g_cancel_ring[i], id) == 0) {
            free(g_cancel_ring[i]);
            g_cancel_ring[i] = NULL;
            cancelled = true;
        }
    }
    atomic_store(&w->cancel, cancelled);
    pthread_mutex_unlock(&g_jobs_lock);
    return cancelled;
}

static void job_unregister(worker_t *w)
{
    pthread_mutex_lock(&g_jobs_lock);
    free(w->job_id);
    w->job_id = NULL;
    atomic_store(&w->cancel, false);
    pthread_mutex_unlock(&g_jobs_lock);
}

/* A fetch reply listed id as cancelled: tell the thread running it, or keep
 * it for the thread about to (its fetch reply may still be arriving). */
static void cancel_deliver(const work_cfg_t *cfg, const char *id)
{
    bool found = false;
    pthread_mutex_lock(&g_jobs_lock);
    for (int i = 0; i < cfg->concurrency; i++) {
        worker_t *o = &cfg->workers[i];
        if (o->job_id && strcmp(o->job_id, id) == 0) {
            atomic_store(&o->cancel, true);
            found = true;
        }
    }
    if (!found) {
        free(g_cancel_ring[g_cancel_next]);
        g_cancel_ring[g_cancel_next] = synq_strdup(id);
        g_cancel_next = (g_cancel_next + 1) % CANCEL_RING;
    }
    pthread_mutex_unlock(&g_jobs_lock);
}

/* POSTs an ack or fail body, retrying transport errors and 5xx a few times
 * with a growing pause. Returns the final HTTP status, or 0 if none came. */
static long report(worker_t *w, const char *id, const char *verb, json_t *body)
{
    long status = 0;
    char *path = job_path(id, verb);
    for (int attempt = 0; attempt < REPORT_TRIES; attempt++) {
        synq_client_resp_t resp = {0};
        if (attempt > 0) {
            struct timespec ts = {0, 0};
            int64_t ms = 500LL << (attempt - 1);
            ts.tv_sec = (time_t)(ms / 1000);
            ts.tv_nsec = (long)(ms % 1000) * 1000000L;
            nanosleep(&ts, NULL);
        }
        int err = synq_client_request(w->client, "POST", path, body, REPORT_TIMEOUT_MS, NULL, NULL,
                                      &resp);
        if (err < 0) {
            synq_log(SYNQ_LOG_WARN, "report.error", "job", id, "op", verb, "error",
                     synq_client_errmsg(w->client), LOG_END);
            continue;
        }
        status = resp.status;
        if (status >= 500) {
            synq_log(SYNQ_LOG_WARN, "report.error", "job", id, "op", verb, "code",
                     synq_client_resp_code(&resp), LOG_END);
            synq_client_resp_release(&resp);
            continue;
        }
        if (status != 200) {
            char st[24];
            snprintf(st, sizeof st, "%ld", status);
            const char *msg =
                json_string_value(json_object_get(json_object_get(resp.body, "error"), "message"));
            synq_log(SYNQ_LOG_ERROR, "report.rejected", "job", id, "op", verb, "status", st, "code",
                     synq_client_resp_code(&resp), "message", msg, LOG_END);
        }
        synq_client_resp_release(&resp);
        break;
    }
    free(path);
    return status;
}

/* FWP: sends ACK or FAIL with body, on a new connection when the old one
 * broke, trying transport failures up to REPORT_TRIES times as report()
 * does. An -ERR reply is final (logged). Returns true on +OK. */
static bool fwp_report(worker_t *w, const char *id, const char *verb, json_t *body)
{
    bool ok = false;
    char *text = json_dumps(body, JSON_COMPACT);
    for (int attempt = 0; text && attempt < REPORT_TRIES; attempt++) {
        synq_fwpclient_reply_t reply = {0};
        if (attempt > 0) {
            int64_t ms = 500LL << (attempt - 1);
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        int err = synq_fwpclient_call(w->fwp, verb, text, FWP_CALL_TIMEOUT_MS, &reply);
        if (err < 0) {
            synq_log(SYNQ_LOG_WARN, "report.error", "job", id, "op", verb, "error",
                     synq_fwpclient_errmsg(w->fwp), LOG_END);
            continue;
        }
        if (reply.kind == SYNQ_FWPCLIENT_SIMPLE && strcmp(reply.data, "OK") == 0) {
            ok = true;
        } else {
            synq_log(SYNQ_LOG_ERROR, "report.rejected", "job", id, "op", verb, "message",
                     reply.kind == SYNQ_FWPCLIENT_ERROR ? synq_fwpclient_reply_error_text(&reply)
                                                        : "unexpected reply",
                     LOG_END);
        }
        synq_fwpclient_reply_release(&reply);
        break;
    }
    free(text);
    return ok;
}

/* FWP: the FAIL of job id (§1.6). msg is the failure message built as for
 * HTTP ("<what>" and perhaps "\n<stderr tail>", valid UTF-8): the message
 * is it cut to what Faktory keeps, the reason line and the end of the tail,
 * and the backtrace is the tail's last lines. */
static json_t *fwp_fail_body(const char *id, const char *errtype, const char *msg)
{
    size_t n = strlen(msg);
    const char *nl = strchr(msg, '\n');
    size_t head = nl ? (size_t)(nl - msg) : n;
    synq_buf_t m;
    synq_buf_init(&m);
    if (n <= FWP_MESSAGE_MAX) {
        synq_buf_append(&m, msg, n);
    } else {
        /* the reason line (cut if it alone is too long), "\n...", then as
         * much of the end as fits, not starting inside a UTF-8 sequence */
        head = SYNQ_MIN(head, (size_t)FWP_MESSAGE_MAX - 4);
        while (head > 0 && ((unsigned char)msg[head] & 0xC0) == 0x80)
            head--;
        synq_buf_append(&m, msg, head);
        size_t room = FWP_MESSAGE_MAX - head - 4;
        const char *t = msg + n - room;
        while (*t && ((unsigned char)*t & 0xC0) == 0x80)
            t++;
        if (nl && t <= nl) t = nl + 1;
        synq_buf_puts(&m, "\n...");
        synq_buf_puts(&m, t);
    }
    json_t *bt = json_array();
    if (nl) {
        /* the last lines after the reason, without the "..." of a cut tail */
        const char *lines[FWP_BACKTRACE_MAX];
        size_t lens[FWP_BACKTRACE_MAX], count = 0;
        const char *p = nl + 1;
        if (strncmp(p, "...", 3) == 0) p += 3;
        while (*p) {
            size_t len = strcspn(p, "\n");
            size_t k = count % FWP_BACKTRACE_MAX;
            lines[k] = p;
            lens[k] = len && p[len - 1] == '\r' ? len - 1 : len;
            count++;
            p += len + (p[len] == '\n');
        }
        size_t first = count > FWP_BACKTRACE_MAX ? count - FWP_BACKTRACE_MAX : 0;
        for (size_t i = first; i < count; i++) {
            size_t k = i % FWP_BACKTRACE_MAX;
            json_array_append_new(bt, json_stringn(lines[k], lens[k]));
        }
    }
    json_t *body = json_pack("{s:s,s:s,s:s%,s:o}", "jid", id, "errtype", errtype, "message",
                             m.data ? m.data : "", m.len, "backtrace", bt);
    synq_buf_release(&m);
    return body;
}

/* The result of a successful run: the output as JSON if it parses, else as
 * a string without its trailing newlines; null when there is no output. */
static json_t *make_result(const child_t *ch)
{
    const char *s = ch->out.data ? ch->out.data : "";
    size_t n = ch->out.len;
    size_t k = 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
        k++;
    if (k == n) return json_null();
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY, NULL);
    if (v) return v;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_utf8(&b, s, n);
    v = json_stringn(b.data ? b.data : "", b.len);
    synq_buf_release(&b);
    return v;
}

/* "<what>\n<stderr tail>", valid UTF-8. */
static char *fail_message(const char *what, const child_t *ch)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, what);
    const char *s = ch->err.data ? ch->err.data : "";
    size_t n = ch->err.len;
    if (n > STDERR_TAIL_BYTES) {
        s += n - STDERR_TAIL_BYTES;
        n = STDERR_TAIL_BYTES;
    }
    if (ch->err_cut || ch->err.len > STDERR_TAIL_BYTES) {
        /* do not start inside a UTF-8 sequence */
        while (n > 0 && ((unsigned char)*s & 0xC0) == 0x80)
            s++, n--;
    }
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n > 0) {
        synq_buf_puts(&b, (ch->err_cut || ch->err.len > STDERR_TAIL_BYTES) ? "\n..." : "\n");
        synq_buf_utf8(&b, s, n);
    }
    return synq_buf_steal(&b, NULL);
}

/* ---- one job ---- */

typedef enum {
    END_EXIT,        /* exited on its own (status says how) */
    END_TIMEOUT,     /* ran past --timeout */
    END_INTERRUPTED, /* the worker was told twice to stop */
    END_LEASE_LOST,  /* the server took the job away */
    END_CANCELLED,   /* cancelled through the API: final, nothing to report */
} end_t;

/* The job is no longer ours: no heartbeat, update, ack or fail for it. */
static bool end_is_final(end_t end)
{
    return end == END_LEASE_LOST || end == END_CANCELLED;
}

static void run_job(worker_t *w, json_t *job)
{
    const work_cfg_t *cfg = w->cfg;
    child_t ch = {.pid = -1, .pidfd = -1, .fd_in = -1, .fd_out = -1, .fd_err = -1};
    char **envp = NULL;
    size_t nenv = 0;
    char *job_text = NULL, *msg = NULL;
    json_t *body = NULL;
    const char *type_name = NULL;
    char what[160];
    char attempt_s[24], ms_s[24];
    int wstatus = 0;
    end_t end = END_EXIT;
    const char *cancel_via = NULL; /* how the cancel was learnt */
    bool hard_killed = false;

    const char *id = json_string_value(json_object_get(job, cfg->fwp ? "jid" : "id"));
    const char *type = json_string_value(json_object_get(job, cfg->fwp ? "jobtype" : "type"));
    const char *queue = json_string_value(json_object_get(job, "queue"));
    json_int_t attempt = json_integer_value(json_object_get(job, "attempts"));
    json_int_t reserve_for = json_integer_value(json_object_get(job, "reserve_for"));
    if (cfg->fwp) {
        /* failure.retry_count is 0 after the first failure (§1.7) */
        json_t *failure = json_object_get(job, "failure");
        json_t *count = json_object_get(failure, "retry_count");
        attempt = json_is_integer(count) ? json_integer_value(count) + 2 : 1;
    }
    if (id == NULL) {
        synq_log(SYNQ_LOG_ERROR, "job.invalid", "error", "fetched job has no id", LOG_END);
        return;
    }
    if (type == NULL) type = "";
    if (queue == NULL) queue = "";
    if (reserve_for <= 0) reserve_for = 1800;
    snprintf(attempt_s, sizeof attempt_s, "%lld", (long long)attempt);
    atomic_fetch_add(&g_running_jobs, 1);
    synq_buf_init(&ch.out);
    synq_buf_init(&ch.err);
    synq_buf_init(&ch.line);
    ch.updates = json_array();

    /* environment: ours replace any inherited SYNQ_JOB_* */
    size_t n = 0;
    while (environ[n])
        n++;
    envp = synq_calloc(n + 7, sizeof *envp);
    for (size_t i = 0; i < n; i++)
        if (!env_is_ours(environ[i])) envp[nenv++] = synq_strdup(environ[i]);
    envp[nenv++] = env_entry("SYNQ_JOB_ID", id);
    envp[nenv++] = env_entry("SYNQ_JOB_TYPE", type);
    envp[nenv++] = env_entry("SYNQ_QUEUE", queue);
    envp[nenv++] = env_entry("SYNQ_ATTEMPT", attempt_s);
    envp[nenv++] = env_entry("SYNQ_WORKER", cfg->worker);
    envp[nenv++] = env_entry("SYNQ_SERVER", cfg->server);

    synq_buf_t jt;
    synq_buf_init(&jt);
    char *dumped = json_dumps(job, JSON_COMPACT);
    synq_buf_puts(&jt, dumped ? dumped : "{}");
    synq_buf_putc(&jt, '\n');
    free(dumped);
    job_text = synq_buf_steal(&jt, &ch.in_len);
    ch.in = job_text;

    synq_log(SYNQ_LOG_INFO, "job.start", "job", id, "type", type, "queue", queue, "attempt",
             attempt_s, LOG_END);
    int64_t t0 = now_ms();
    if (job_register(w, id)) {
        end = END_CANCELLED;
        cancel_via = "fetch";
        goto report;
    }
    int err = child_spawn(&ch, cfg, envp);
    if (err < 0) {
        synq_buf_t m;
        synq_buf_init(&m);
        synq_buf_printf(&m, "cannot run '%s': %s", cfg->cmd[0], strerror(-err));
        msg = synq_buf_steal(&m, NULL);
        type_name = "SpawnError";
        goto report;
    }

    /* A third of the lease leaves room for two late heartbeats; the cap
     * bounds how long a cancel can go unnoticed when no other thread of
     * ours is long-polling a fetch. */
    int64_t hb_every = (int64_t)reserve_for * 1000 / 3;
    hb_every =
        SYNQ_MIN(hb_every, cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : (int64_t)MAX_HEARTBEAT_MS);
    hb_every = SYNQ_MAX((int64_t)MIN_HEARTBEAT_MS, hb_every);
    /* Faktory has no lease to extend: no heartbeats in FWP mode */
    int64_t next_hb = cfg->fwp ? INT64_MAX : t0 + hb_every;
    int64_t deadline = cfg->timeout_ms > 0 ? t0 + cfg->timeout_ms : INT64_MAX;
    int64_t kill_at = INT64_MAX;
    bool killing = false;
    for (;;) {
        /* First, so a command that ended in time is never called late. */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)ch.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == ch.pid)
            break; /* exited; not reaped yet, so -pid still names its group */

        int64_t now = now_ms();
        if (!end_is_final(end) && atomic_load(&w->cancel)) {
            end = END_CANCELLED;
            cancel_via = "fetch";
            killing = true;
        }
        if (!killing && (now >= deadline || atomic_load(&g_signals) >= 2)) {
            end = now >= deadline ? END_TIMEOUT : END_INTERRUPTED;
            killing = true;
        }
        if (killing && kill_at == INT64_MAX) {
            kill(-ch.pid, SIGTERM);
            kill_at = now + cfg->kill_after_ms;
        } else if (killing && !hard_killed && now >= kill_at) {
            kill(-ch.pid, SIGKILL);
            hard_killed = true;
        }
        if (!end_is_final(end) && now >= next_hb) {
            hb_result_t hb = heartbeat(w, id);
            if (hb == HB_LOST || hb == HB_CANCELLED) {
                end = hb == HB_LOST ? END_LEASE_LOST : END_CANCELLED;
                if (hb == HB_CANCELLED) cancel_via = "heartbeat";
                killing = true;
                continue;
            }
            now = now_ms();
            next_hb = now + hb_every;
        }

        struct pollfd pfd[4];
        int nfd = 0;
        if (ch.fd_in >= 0) pfd[nfd++] = (struct pollfd){.fd = ch.fd_in, .events = POLLOUT};
        if (ch.fd_out >= 0) pfd[nfd++] = (struct pollfd){.fd = ch.fd_out, .events = POLLIN};
        if (ch.fd_err >= 0) pfd[nfd++] = (struct pollfd){.fd = ch.fd_err, .events = POLLIN};
        if (ch.pidfd >= 0) pfd[nfd++] = (struct pollfd){.fd = ch.pidfd, .events = POLLIN};
        int64_t wake = end_is_final(end) ? INT64_MAX : next_hb;
        if (!killing) wake = SYNQ_MIN(wake, deadline);
        if (killing && !hard_killed) wake = SYNQ_MIN(wake, kill_at);
        int64_t wait_ms = SYNQ_MAX((int64_t)0, SYNQ_MIN(wake - now, (int64_t)TICK_MS));
        if (ch.pidfd < 0 && ch.fd_out < 0 && ch.fd_err < 0) wait_ms = SYNQ_MIN(wait_ms, 20);
        if (poll(pfd, (nfds_t)nfd, (int)wait_ms) < 0 && errno != EINTR) {
            synq_log(SYNQ_LOG_ERROR, "poll.error", "error", strerror(errno), LOG_END);
            nap(20);
        }
        for (int i = 0; i < nfd; i++) {
            if (pfd[i].revents == 0) continue;
            if (pfd[i].fd == ch.fd_in)
                child_feed(&ch);
            else if (pfd[i].fd == ch.fd_out)
                child_drain(&ch, false);
            else if (pfd[i].fd == ch.fd_err)
                child_drain(&ch, true);
        }
        if (json_array_size(ch.updates) > 0) updates_flush(w, id, &ch, !end_is_final(end));
    }
    /* What it wrote before exiting is in the pipes now. */
    child_drain(&ch, false);
    while (child_drain(&ch, true))
        updates_flush(w, id, &ch, !end_is_final(end));
    /* A cancel that came as it exited: the job is final, so no ack/fail. */
    if (!end_is_final(end) && atomic_load(&w->cancel)) {
        end = END_CANCELLED;
        cancel_via = "fetch";
    }
    /* A last line without a newline, while the pipe is still open (a
     * process left in the group holds it); sent before the ack, which ends
     * the job's updates. */
    if (ch.line.len > 0 || ch.line_cut) line_handle(&ch);
    updates_flush(w, id, &ch, !end_is_final(end));
    /* Anything it left behind in its group goes too: it would hold our pipes
     * and outlive the job. */
    kill(-ch.pid, killing ? SIGKILL : SIGTERM);
    while (waitpid(ch.pid, &wstatus, 0) < 0 && errno == EINTR) {
    }

    switch (end) {
    case END_TIMEOUT:
        snprintf(what, sizeof what, "timed out after %s", cfg->timeout_text);
        type_name = "Timeout";
        break;
    case END_INTERRUPTED:
        snprintf(what, sizeof what, "interrupted: the worker was stopped");
        type_name = "Interrupted";
        break;
    case END_LEASE_LOST:
    case END_CANCELLED:
        break;
    case END_EXIT:
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) break;
        if (WIFEXITED(wstatus)) {
            snprintf(what, sizeof what, "exit code %d", WEXITSTATUS(wstatus));
            type_name = "ExitCode";
        } else {
            int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
            const char *abbrev = sigabbrev_np(sig);
            snprintf(what, sizeof what, "killed by signal %d (SIG%s)", sig, abbrev ? abbrev : "?");
            type_name = "Signal";
        }
        break;
    }
    if (type_name) msg = fail_message(what, &ch);

report:;
    int64_t elapsed = now_ms() - t0;
    snprintf(ms_s, sizeof ms_s, "%lld", (long long)elapsed);
    if (end == END_LEASE_LOST) {
        synq_log(SYNQ_LOG_WARN, "job.abandoned", "job", id, "type", type, "ms", ms_s, "reason",
                 "lease lost", LOG_END);
    } else if (end == END_CANCELLED) {
        synq_log(SYNQ_LOG_INFO, "job.cancelled", "job", id, "type", type, "attempt", attempt_s,
                 "ms", ms_s, "via", cancel_via, LOG_END);
    } else if (type_name && cfg->fwp) {
        body = fwp_fail_body(id, type_name, msg);
        bool ok = fwp_report(w, id, "FAIL", body);
        synq_log(SYNQ_LOG_INFO, "job.failed", "job", id, "type", type, "attempt", attempt_s, "ms",
                 ms_s, "error", type_name, "reported", ok ? "yes" : "no", LOG_END);
    } else if (type_name) {
        body = json_pack("{s:s,s:s,s:s}", "worker", cfg->worker, "message", msg, "type", type_name);
        long st = report(w, id, "fail", body);
        synq_log(SYNQ_LOG_INFO, "job.failed", "job", id, "type", type, "attempt", attempt_s, "ms",
                 ms_s, "error", type_name, "reported", st == 200 ? "yes" : "no", LOG_END);
    } else if (cfg->fwp) {
        /* Faktory keeps no result: stdout was read only to keep the pipe moving */
        body = json_pack("{s:s}", "jid", id);
        bool ok = fwp_report(w, id, "ACK", body);
        synq_log(SYNQ_LOG_INFO, "job.done", "job", id, "type", type, "attempt", attempt_s, "ms",
                 ms_s, "reported", ok ? "yes" : "no", LOG_END);
    } else {
        json_t *result = NULL;
        if (ch.out_bytes > MAX_STDOUT_BYTES) {
            char sz[24];
            snprintf(sz, sizeof sz, "%zu", ch.out_bytes);
            synq_log(SYNQ_LOG_WARN, "job.result_dropped", "job", id, "bytes", sz, "reason",
                     "stdout over 1 MiB", LOG_END);
            result = json_null();
        } else {
            result = make_result(&ch);
        }
        body = json_pack("{s:s,s:o}", "worker", cfg->worker, "result", result);
        long st = report(w, id, "ack", body);
        if (st == 413) {
            synq_log(SYNQ_LOG_WARN, "job.result_dropped", "job", id, "reason",
                     "too large for the server", LOG_END);
            json_object_set_new(body, "result", json_null());
            st = report(w, id, "ack", body);
        }
        synq_log(SYNQ_LOG_INFO, "job.done", "job", id, "type", type, "attempt", attempt_s, "ms",
                 ms_s, "reported", st == 200 ? "yes" : "no", LOG_END);
    }

    close_fd(&ch.fd_in);
    close_fd(&ch.fd_out);
    close_fd(&ch.fd_err);
    close_fd(&ch.pidfd);
    if (ch.update_errors > UPDATE_ERRORS_LOGGED) {
        char nerr[24];
        snprintf(nerr, sizeof nerr, "%d", ch.update_errors);
        synq_log(SYNQ_LOG_WARN, "job.updates_failed", "job", id, "count", nerr, LOG_END);
    }
    job_unregister(w);
    synq_buf_release(&ch.out);
    synq_buf_release(&ch.err);
    synq_buf_release(&ch.line);
    json_decref(ch.updates);
    for (size_t i = 0; i < nenv; i++)
        free(envp[i]);
    free(envp);
    free(job_text);
    free(msg);
    json_decref(body);
    atomic_fetch_sub(&g_running_jobs, 1);
}

/* ---- the fetch loop ---- */

/* Abort a waiting fetch once a stop was asked for, but not one whose
 * answer is already arriving: that job is leased to us and gets run. */
static bool fetch_should_abort(void *data, bool response_started)
{
    return atomic_load(&g_signals) > 0 && !response_started;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    const work_cfg_t *cfg = w->cfg;
    int64_t backoff_ms = 0;
    json_t *body = json_pack("{s:O,s:i,s:s,s:s}", "queues", cfg->queues, "max", 1, "wait",
                             FETCH_WAIT, "worker", cfg->worker);

    while (atomic_load(&g_signals) == 0) {
        synq_client_resp_t resp = {0};
        int err = synq_client_request(w->client, "POST", "/v1/fetch", body, FETCH_TIMEOUT_MS,
                                      fetch_should_abort, NULL, &resp);
        bool failed = false;
        if (err == -ECANCELED) {
            break;
        } else if (err < 0) {
            synq_log(SYNQ_LOG_ERROR, "fetch.error", "server", cfg->server, "error",
                     synq_client_errmsg(w->client), LOG_END);
            failed = true;
        } else if (resp.status == 200) {
            /* Jobs of ours cancelled while they run; "jobs" may be empty. */
            json_t *cancel = json_object_get(resp.body, "cancel");
            for (size_t i = 0; i < json_array_size(cancel); i++) {
                const char *cid = json_string_value(json_array_get(cancel, i));
                if (cid) cancel_deliver(cfg, cid);
            }
            json_t *jobs = json_object_get(resp.body, "jobs");
            for (size_t i = 0; i < json_array_size(jobs); i++)
                run_job(w, json_array_get(jobs, i));
        } else if (resp.status != 204) {
            char st[24];
            snprintf(st, sizeof st, "%ld", resp.status);
            const char *msg =
                json_string_value(json_object_get(json_object_get(resp.body, "error"), "message"));
            synq_log(SYNQ_LOG_ERROR, "fetch.error", "status", st, "code",
                     synq_client_resp_code(&resp), "message", msg, LOG_END);
            failed = true;
        }
        synq_client_resp_release(&resp);
        if (failed) {
            backoff_ms = backoff_ms ? SYNQ_MIN(backoff_ms * 2, (int64_t)MAX_BACKOFF_MS) : 1000;
            nap(backoff_ms);
        } else {
            backoff_ms = 0;
        }
    }
    json_decref(body);
    atomic_fetch_sub(&g_live_threads, 1);
    return NULL;
}

/* ---- the fetch loop and the heartbeat over FWP ---- */

/* FETCH on this thread's connection until told to stop, pausing while
 * quiet. A FETCH waits up to 2 s on the server, so a stop is seen within
 * that; a job that comes meanwhile is reserved for us and is run. */
static void *worker_main_fwp(void *arg)
{
    worker_t *w = arg;
    const work_cfg_t *cfg = w->cfg;
    int64_t backoff_ms = 0;
    synq_buf_t queues;
    synq_buf_init(&queues);
    for (size_t i = 0; i < json_array_size(cfg->queues); i++)
        synq_buf_printf(&queues, "%s%s", i ? " " : "",
                        json_string_value(json_array_get(cfg->queues, i)));

    while (atomic_load(&g_signals) == 0) {
        if (atomic_load(&g_quiet)) {
            nap(TICK_MS);
            continue;
        }
        synq_fwpclient_reply_t reply = {0};
        int err = synq_fwpclient_call(w->fwp, "FETCH", queues.data, FWP_FETCH_TIMEOUT_MS, &reply);
        bool failed = false;
        if (err < 0) {
            synq_log(SYNQ_LOG_ERROR, "fetch.error", "server", cfg->display, "error",
                     synq_fwpclient_errmsg(w->fwp), LOG_END);
            failed = true;
        } else if (reply.kind == SYNQ_FWPCLIENT_ERROR) {
            synq_log(SYNQ_LOG_ERROR, "fetch.error", "message",
                     synq_fwpclient_reply_error_text(&reply), LOG_END);
            failed = true;
        } else if (reply.kind == SYNQ_FWPCLIENT_BULK) {
            json_t *job = json_loadb(reply.data, reply.len, 0, NULL);
            if (json_is_object(job))
                run_job(w, job);
            else
                synq_log(SYNQ_LOG_ERROR, "job.invalid", "error", "fetched job is not a JSON object",
                         LOG_END);
            json_decref(job);
        }
        synq_fwpclient_reply_release(&reply);
        if (failed) {
            backoff_ms = backoff_ms ? SYNQ_MIN(backoff_ms * 2, (int64_t)MAX_BACKOFF_MS) : 1000;
            nap(backoff_ms);
        } else {
            backoff_ms = 0;
        }
    }
    synq_buf_release(&queues);
    atomic_fetch_sub(&g_live_threads, 1);
    return NULL;
}

typedef struct {
    const work_cfg_t *cfg;
    synq_fwpclient_t *fwp; /* its own connection, under the same wid */
    int64_t every_ms;
    atomic_bool stop;
    pthread_t thread;
} beat_t;

/* Moves the worker to "terminate": as a second SIGTERM would, running
 * commands are stopped and their jobs failed as Interrupted. */
static void terminate_now(void)
{
    int v = atomic_load(&g_signals);
    while (v < 2 && !atomic_compare_exchange_weak(&g_signals, &v, 2)) {
    }
}

/* Acts on the state in a BEAT reply: a bulk {"state":"quiet"|"terminate"}
 * (or, as the Node client also takes it, a simple string naming the state). */
static void beat_reply(const synq_fwpclient_reply_t *reply)
{
    const char *state = NULL;
    json_t *v = NULL;
    if (reply->kind == SYNQ_FWPCLIENT_BULK) {
        v = json_loadb(reply->data, reply->len, 0, NULL);
        state = json_string_value(json_object_get(v, "state"));
    } else if (reply->kind == SYNQ_FWPCLIENT_SIMPLE) {
        state = reply->data;
    }
    char running[16];
    snprintf(running, sizeof running, "%d", atomic_load(&g_running_jobs));
    if (state && strcmp(state, "quiet") == 0 && !atomic_exchange(&g_quiet, true)) {
        synq_log(SYNQ_LOG_INFO, "worker.quiet", "running", running, LOG_END);
    } else if (state && strcmp(state, "terminate") == 0 && atomic_load(&g_signals) < 2) {
        synq_log(SYNQ_LOG_INFO, "worker.terminating", "running", running, LOG_END);
        atomic_store(&g_quiet, true);
        terminate_now();
    }
    json_decref(v);
}

/* BEAT every every_ms until stopped. After a stop signal the beat says so
 * ("current_state": quiet after the first, terminate after the second), so
 * the server shows it; what the server answers is then moot. */
static void *beat_main(void *arg)
{
    beat_t *b = arg;
    int64_t next = now_ms();
    while (!atomic_load(&b->stop)) {
        int64_t now = now_ms();
        if (now < next) {
            int64_t ms = SYNQ_MIN(next - now, (int64_t)50);
            struct timespec ts = {0, (long)ms * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        next = now + b->every_ms;
        int sig = atomic_load(&g_signals);
        json_t *body = json_pack("{s:s}", "wid", b->cfg->worker);
        if (sig > 0)
            json_object_set_new(body, "current_state",
                                json_string(sig >= 2 ? "terminate" : "quiet"));
        char *text = json_dumps(body, JSON_COMPACT);
        synq_fwpclient_reply_t reply = {0};
        int err = synq_fwpclient_call(b->fwp, "BEAT", text, FWP_CALL_TIMEOUT_MS, &reply);
        if (err < 0) {
            synq_log(SYNQ_LOG_WARN, "beat.error", "error", synq_fwpclient_errmsg(b->fwp), LOG_END);
        } else if (reply.kind == SYNQ_FWPCLIENT_ERROR) {
            synq_log(SYNQ_LOG_WARN, "beat.error", "message",
                     synq_fwpclient_reply_error_text(&reply), LOG_END);
        } else if (sig < 2) {
            beat_reply(&reply);
        }
        synq_fwpclient_reply_release(&reply);
        free(text);
        json_decref(body);
    }
    return NULL;
}

/* ---- the command ---- */

static const char work_help[] =
    "usage: synq work [options] [--] COMMAND [ARGS...]\n"
    "\n"
    "Fetches jobs and runs COMMAND once per job, with the job's JSON on stdin\n"
    "and SYNQ_JOB_ID, SYNQ_JOB_TYPE, SYNQ_QUEUE, SYNQ_ATTEMPT, SYNQ_WORKER and\n"
    "SYNQ_SERVER in its environment. Exit 0 acks the job with stdout as the\n"
    "result (JSON if it parses, else a string); anything else fails it with the\n"
    "tail of stderr as the message. The lease is kept with heartbeats.\n"
    "Lines on stderr starting with \"progress:\" (a percent, a percent and a\n"
    "message, a JSON object, or a message) or \"log:\" are sent to the job's\n"
    "progress and log. A job cancelled while it runs has its command killed\n"
    "(SIGTERM, then SIGKILL after --kill-after) and is not reported.\n"
    "SIGINT/SIGTERM: stop fetching, let running commands finish, exit 0; a\n"
    "second one stops the commands as well.\n"
    "\n"
    "  -q, --queue Q          fetch from Q; repeat or comma-separate for more,\n"
    "                         tried in order (default \"default\")\n"
    "  -c, --concurrency N    run up to N jobs at a time (default 1)\n"
    "  -t, --timeout D        fail a job whose command runs longer than D\n"
    "                         (\"30s\", \"5m\"; default: no limit)\n"
    "      --kill-after D     SIGKILL this long after SIGTERM (default 5s)\n"
    "      --heartbeat D      heartbeat running jobs every D, at least 200ms\n"
    "                         (default 10s; never more than a third of the\n"
    "                         job's reserve_for)\n"
    "  -w, --worker NAME      worker name for leases (default HOSTNAME:PID)\n"
    "  -s, --server URL       server to talk to: http://HOST:PORT, or a Faktory\n"
    "                         address tcp://[:PASSWORD@]HOST[:PORT] (default\n"
    "                         $SYNQ_SERVER, else $FAKTORY_URL, else\n"
    "                         " SYNQ_CLIENT_DEFAULT_URL ")\n"
    "  -h, --help             show this help\n"
    "\n"
    "With a Faktory address the worker FETCHes and ACKs/FAILs over FWP: the\n"
    "job on stdin is the Faktory job, --worker is the wid (default 16 random\n"
    "hex digits), --heartbeat is the BEAT interval (default 15s), progress and\n"
    "log lines only go to the failure message, and the server's \"quiet\"\n"
    "stops fetching, its \"terminate\" also stops the running commands.\n";

/* Prints "synq work: <message>" and a pointer to --help; returns
 * EXIT_USAGE. With fmt NULL only the pointer (getopt has said the rest). */
static int work_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int work_usage(const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("synq work: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fputs("Try 'synq work --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Makes sure fds 0-2 are open, so pipes never land on them. */
static void std_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) continue;
        int nfd = open("/dev/null", O_RDWR);
        if (nfd >= 0 && nfd != fd) {
            dup2(nfd, fd);
            close(nfd);
        }
    }
}

static int parse_duration_ms(const char *s, int64_t *out_ms)
{
    int64_t us;
    if (synq_duration_parse(s, strlen(s), &us) < 0) return -1;
    *out_ms = (us + 999) / 1000;
    return 0;
}

int synq_cli_work(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queue", required_argument, NULL, 'q'},
        {"concurrency", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"kill-after", required_argument, NULL, 'K'},
        {"worker", required_argument, NULL, 'w'},
        {"server", required_argument, NULL, 's'},
        {"heartbeat", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const fwp_labels[] = {"synq-work", NULL};
    int rc = EXIT_USAGE;
    work_cfg_t cfg = {.concurrency = 1, .kill_after_ms = 5000};
    worker_t *workers = NULL;
    beat_t beat = {0};
    bool beating = false;
    synq_fwpclient_hello_t who = {0};
    char **av = NULL;
    const char *server = NULL;
    int started = 0;
    sigset_t stop_set, old_set;
    bool masked = false;

    cfg.queues = json_array();
    /* getopt prints "synq work: ..." with this as argv[0]; "+" stops at the
     * first non-option so COMMAND's own flags are left alone. */
    av = synq_calloc((size_t)(argc > 0 ? argc : 1) + 1, sizeof *av);
    av[0] = "synq work";
    for (int i = 1; i < argc; i++)
        av[i] = argv[i];
    int ac = argc > 0 ? argc : 1;
    optind = 0;
    opterr = 1;
    int ch;
    long n;
    while ((ch = getopt_long(ac, av, "+q:c:t:w:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'q': {
            const char *p = optarg;
            for (;;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                if (len == 0) {
                    rc = work_usage("empty queue name in '%s'", optarg);
                    goto cleanup;
                }
                json_array_append_new(cfg.queues, json_stringn(p, len));
                if (!comma) break;
                p = comma + 1;
            }
            break;
        }
        case 'c': {
            char *end = NULL;
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > 1024) {
                rc = work_usage("--concurrency wants a number from 1 to 1024, not '%s'", optarg);
                goto cleanup;
            }
            cfg.concurrency = (int)n;
            break;
        }
        case 't':
            if (parse_duration_ms(optarg, &cfg.timeout_ms) < 0) {
                rc = work_usage("--timeout wants a duration such as 30s or 5m, not '%s'", optarg);
                goto cleanup;
            }
            cfg.timeout_text = optarg;
            break;
        case 'K':
            if (parse_duration_ms(optarg, &cfg.kill_after_ms) < 0) {
                rc = work_usage("--kill-after wants a duration such as 5s, not '%s'", optarg);
                goto cleanup;
            }
            break;
        case 'H':
            if (parse_duration_ms(optarg, &cfg.heartbeat_ms) < 0 ||
                cfg.heartbeat_ms < MIN_HEARTBEAT_MS) {
                rc = work_usage("--heartbeat wants a duration of at least 200ms, such as 5s, "
                                "not '%s'",
                                optarg);
                goto cleanup;
            }
            break;
        case 'w':
            if (*optarg == '\0' || strlen(optarg) >= sizeof cfg.worker) {
                rc = work_usage("--worker wants a name of 1 to 255 bytes, not '%s'", optarg);
                goto cleanup;
            }
            snprintf(cfg.worker, sizeof cfg.worker, "%s", optarg);
            break;
        case 's':
            server = optarg;
            break;
        case 'h':
            fputs(work_help, stdout);
            rc = 0;
            goto cleanup;
        default:
            rc = work_usage(NULL);
            goto cleanup;
        }
    }
    if (optind >= ac) {
        rc = work_usage("%s", "missing COMMAND (put it after --)");
        goto cleanup;
    }
    cfg.cmd = av + optind;
    if (json_array_size(cfg.queues) == 0) json_array_append_new(cfg.queues, json_string("default"));
    {
        char err[256];
        if (synq_client_url_pick(server, &cfg.server, err, sizeof err) < 0) {
            fprintf(stderr, "synq work: %s\n", err);
            goto cleanup;
        }
    }
    cfg.display = cfg.server;
    cfg.fwp = synq_client_url_is_fwp(cfg.server);
    char host[200];
    if (gethostname(host, sizeof host) < 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    if (cfg.fwp) {
        /* FETCH takes the queues as space-separated words */
        for (size_t i = 0; i < json_array_size(cfg.queues); i++) {
            const char *q = json_string_value(json_array_get(cfg.queues, i));
            if (strpbrk(q, " \t\r\n")) {
                rc = work_usage("queue name '%s' has a space in it", q);
                goto cleanup;
            }
        }
        if (cfg.worker[0] == '\0') {
            int e = synq_fwpclient_random_hex(cfg.worker, FWP_WID_BYTES);
            if (e < 0) {
                fprintf(stderr, "synq work: cannot make a wid: %s\n", strerror(-e));
                rc = 1;
                goto cleanup;
            }
        }
        who = (synq_fwpclient_hello_t){
            .wid = cfg.worker, .labels = fwp_labels, .hostname = host, .pid = (long)getpid()};
        int e = synq_fwpclient_new(cfg.server, &who, &beat.fwp);
        if (e == -EPROTONOSUPPORT) {
            rc = work_usage("%s", "TLS is not supported (tcp+tls://); use tcp://");
            goto cleanup;
        }
        if (e < 0) {
            rc = work_usage("%s", "not a Faktory address: want tcp://[:PASSWORD@]HOST[:PORT]");
            goto cleanup;
        }
        cfg.display = synq_fwpclient_url(beat.fwp);
        /* One handshake up front: a wrong password or address is an error
         * now rather than a retry loop in every thread. */
        if (synq_fwpclient_connect(beat.fwp, FWP_CONNECT_TIMEOUT_MS) < 0) {
            fprintf(stderr, "synq work: %s\n", synq_fwpclient_errmsg(beat.fwp));
            rc = 1;
            goto cleanup;
        }
        beat.cfg = &cfg;
        beat.every_ms = cfg.heartbeat_ms > 0 ? cfg.heartbeat_ms : FWP_BEAT_MS;
    } else if (cfg.worker[0] == '\0') {
        snprintf(cfg.worker, sizeof cfg.worker, "%s:%ld", host, (long)getpid());
    }

    std_fds_open();
    /* A command that closes its stdin early must not kill us with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    /* The stop signals are taken by sigtimedwait below; every thread
     * inherits the mask, children get an empty one from posix_spawn. */
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old_set);
    masked = true;
    atomic_store(&g_signals, 0);
    atomic_store(&g_quiet, false);

    synq_client_global_init();
    workers = synq_calloc((size_t)cfg.concurrency, sizeof *workers);
    cfg.workers = workers;
    {
        char *qs = NULL;
        synq_buf_t b;
        synq_buf_init(&b);
        for (size_t i = 0; i < json_array_size(cfg.queues); i++)
            synq_buf_printf(&b, "%s%s", i ? "," : "",
                            json_string_value(json_array_get(cfg.queues, i)));
        qs = synq_buf_steal(&b, NULL);
        char conc[16];
        snprintf(conc, sizeof conc, "%d", cfg.concurrency);
        synq_log(SYNQ_LOG_INFO, "worker.start", "worker", cfg.worker, "server", cfg.display,
                 "queues", qs, "concurrency", conc, "protocol", cfg.fwp ? "fwp" : "http", LOG_END);
        free(qs);
    }
    if (cfg.fwp) {
        int e = pthread_create(&beat.thread, NULL, beat_main, &beat);
        if (e != 0) {
            fprintf(stderr, "synq work: cannot start a thread: %s\n", strerror(e));
            rc = 1;
            synq_client_global_release();
            goto cleanup;
        }
        beating = true;
    }
    atomic_store(&g_live_threads, cfg.concurrency);
    for (started = 0; started < cfg.concurrency; started++) {
        workers[started].cfg = &cfg;
        if (cfg.fwp)
            synq_fwpclient_new(cfg.server, &who, &workers[started].fwp); /* parsed above */
        else
            workers[started].client = synq_client_new(cfg.server);
        int e = pthread_create(&workers[started].thread, NULL,
                               cfg.fwp ? worker_main_fwp : worker_main, &workers[started]);
        if (e != 0) {
            synq_client_free(workers[started].client);
            synq_fwpclient_free(workers[started].fwp);
            fprintf(stderr, "synq work: cannot start a thread: %s\n", strerror(e));
            atomic_fetch_sub(&g_live_threads, cfg.concurrency - started);
            atomic_fetch_add(&g_signals, 1);
            rc = 1;
            break;
        }
    }
    while (atomic_load(&g_live_threads) > 0) {
        struct timespec ts = {0, TICK_MS * 1000000L};
        int sig = sigtimedwait(&stop_set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) {
            int count = atomic_fetch_add(&g_signals, 1) + 1;
            char running[16];
            snprintf(running, sizeof running, "%d", atomic_load(&g_running_jobs));
            synq_log(SYNQ_LOG_INFO, count == 1 ? "worker.stopping" : "worker.interrupting",
                     "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "running", running, LOG_END);
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        synq_client_free(workers[i].client);
        synq_fwpclient_free(workers[i].fwp); /* END */
    }
    if (beating) {
        atomic_store(&beat.stop, true);
        pthread_join(beat.thread, NULL);
        beating = false;
    }
    if (rc != 1) rc = 0;
    synq_log(SYNQ_LOG_INFO, "worker.stopped", "worker", cfg.worker, LOG_END);
    synq_client_global_release();

cleanup:
    if (beating) {
        atomic_store(&beat.stop, true);
        pthread_join(beat.thread, NULL);
    }
    synq_fwpclient_free(beat.fwp); /* END */
    if (masked) pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    free(workers);
    for (size_t i = 0; i < CANCEL_RING; i++) {
        free(g_cancel_ring[i]);
        g_cancel_ring[i] = NULL;
    }
    free(av);
    json_decref(cfg.queues);
    return rc;
}
