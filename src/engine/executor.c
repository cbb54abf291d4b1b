/* Built-in executors (see executor.h). One struct serves both kinds; what
 * differs is how a run starts (proc vs httpc) and how its outcome becomes a
 * result or an error. A run is owned by the executor's list from fetch to
 * ack/fail; a job cancelled meanwhile (overlap=replace) is stopped through
 * the engine's final-state hook. */
#include "engine/executor.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "engine/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BEAT_CHECK_MS 1000
#define FETCH_WAIT_MS 30000
#define OUT_TAIL_BYTES (64 * 1024)
#define HTTP_BODY_BYTES (64 * 1024)

extern char **environ;

typedef struct run_s run_t;

struct synq_executor_s {
    synq_engine_t *e;
    synq_executor_kind_t kind;
    const char *queue; /* = type */
    char worker[32];
    int cap, running;
    synq_httpc_t *httpc;
    synq_fetch_waiter_t *waiter;
    uv_timer_t beat;
    run_t *runs;
    bool closing;
    void (*done)(void *);
    void *done_arg;
};

struct run_s {
    synq_executor_t *x;
    char *id;
    int reserve_for;
    int64_t next_beat;
    synq_proc_t *proc;
    synq_httpc_call_t *call;
    bool stopped; /* cancelled or shutting down: no ack/fail from the outcome */
    const char *stop_reason;
    run_t *next, *prev;
};

/* ---- spec checks ----------------------------------------------------------- */

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return SYNQ_EINVAL;                                                                        \
    } while (0)

static int dur_ok(const json_t *v, int64_t *us)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 100LL * 365 * 86400) {
        *us = json_integer_value(v) * SYNQ_US_PER_SEC;
        return 0;
    }
    if (json_is_string(v) && synq_duration_parse(json_string_value(v), json_string_length(v), us) == 0)
        return 0;
    return -1;
}

static int string_map_ok(const json_t *v)
{
    if (!json_is_object(v)) return -1;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val)
    {
        if (!json_is_string(val) || !*k || strchr(k, '=') || strlen(k) > 256) return -1;
    }
    return 0;
}

/* The first key of obj that is not in keys, or NULL. */
static const char *unknown_key(const json_t *obj, const char *const *keys, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) known = strcmp(k, keys[i]) == 0;
        if (!known) return k;
    }
    return NULL;
}

int synq_exec_spec_check(const json_t *spec, char *err, size_t errlen)
{
    if (!json_is_object(spec)) BAD("exec: must be an object with argv or shell");
    static const char *const keys[] = {"argv", "shell", "shell_path", "env", "cwd", "timeout",
                                       "input"};
    const char *k = unknown_key(spec, keys, SYNQ_ARRAY_LEN(keys));
    json_t *v;
    if (k) BAD("%s: unknown field", k);
    const json_t *argv = json_object_get(spec, "argv"), *shell = json_object_get(spec, "shell");
    if (!!argv == !!shell) BAD("argv: give exactly one of argv (a list) or shell (a string)");
    if (argv) {
        if (!json_is_array(argv) || json_array_size(argv) == 0 || json_array_size(argv) > 4096)
            BAD("argv: must be a non-empty list of strings");
        size_t i;
        json_t *a;
        json_array_foreach(argv, i, a) if (!json_is_string(a) ||
                                           strlen(json_string_value(a)) != json_string_length(a))
            BAD("argv: must be a non-empty list of strings");
        if (json_string_length(json_array_get(argv, 0)) == 0) BAD("argv: the program is empty");
    } else if (!json_is_string(shell) || json_string_length(shell) == 0 ||
               strlen(json_string_value(shell)) != json_string_length(shell)) {
        BAD("shell: must be a non-empty command string");
    }
    if ((v = json_object_get(spec, "shell_path")) && (!json_is_string(v) || !json_string_length(v)))
        BAD("shell_path: must be a path such as /bin/bash");
    if ((v = json_object_get(spec, "env")) && string_map_ok(v))
        BAD("env: must be an object of NAME: \"value\" strings");
    if ((v = json_object_get(spec, "cwd")) && (!json_is_string(v) || !json_string_length(v)))
        BAD("cwd: must be a directory path");
    int64_t us;
    if ((v = json_object_get(spec, "timeout")) && dur_ok(v, &us))
        BAD("timeout: must be a duration such as \"30s\" or \"1h\"");
    if ((v = json_object_get(spec, "input")) && !json_is_string(v))
        BAD("input: must be a string");
    return 0;
}

int synq_http_spec_check(const json_t *spec, char *err, size_t errlen)
{
    if (!json_is_object(spec)) BAD("http: must be an object with url");
    static const char *const keys[] = {"url", "method", "headers", "body", "timeout"};
    const char *k = unknown_key(spec, keys, SYNQ_ARRAY_LEN(keys));
    json_t *v;
    if (k) BAD("%s: unknown field", k);
    const json_t *url = json_object_get(spec, "url");
    if (!json_is_string(url) || (strncmp(json_string_value(url), "http://", 7) != 0 &&
                                 strncmp(json_string_value(url), "https://", 8) != 0) ||
        json_string_length(url) > 8192 || strpbrk(json_string_value(url), " \r\n"))
        BAD("url: must be an http:// or https:// URL");
    if ((v = json_object_get(spec, "method"))) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 16)
            BAD("method: must be an HTTP method such as \"POST\"");
        for (const char *p = json_string_value(v); *p; p++)
            if (!(*p >= 'A' && *p <= 'Z')) BAD("method: must be an HTTP method such as \"POST\"");
    }
    if ((v = json_object_get(spec, "headers"))) {
        if (string_map_ok(v)) BAD("headers: must be an object of \"Name\": \"value\" strings");
        json_object_foreach((json_t *)v, k, url)
        {
            if (strpbrk(k, " :\r\n") || strpbrk(json_string_value(url), "\r\n"))
                BAD("headers: \"%.64s\" is not a valid header", k);
        }
    }
    int64_t us;
    if ((v = json_object_get(spec, "timeout")) && dur_ok(v, &us))
        BAD("timeout: must be a duration such as \"30s\"");
    return 0;
}

int synq_executor_job_check(const char *type, const char *args_json, char *err, size_t errlen)
{
    bool ex = strcmp(type, SYNQ_EXEC_TYPE) == 0, http = strcmp(type, SYNQ_HTTP_TYPE) == 0;
    if (!ex && !http) return 0;
    json_t *args = json_loads(args_json, 0, NULL);
    int rc;
    char e2[200];
    if (!json_is_array(args) || json_array_size(args) != 1) {
        snprintf(err, errlen, "args: a %s job takes [SPEC] (see docs/api.md)", type);
        rc = SYNQ_EINVAL;
    } else {
        rc = ex ? synq_exec_spec_check(json_array_get(args, 0), e2, sizeof e2)
                : synq_http_spec_check(json_array_get(args, 0), e2, sizeof e2);
        if (rc) snprintf(err, errlen, "args[0].%s", e2);
    }
    json_decref(args);
    return rc;
}

/* ---- runs ---------------------------------------------------------------- */

static void poll_jobs(synq_executor_t *x);
static void maybe_done(synq_executor_t *x);

static void run_unlink(run_t *r)
{
    synq_executor_t *x = r->x;
    if (r->prev)
        r->prev->next = r->next;
    else
        x->runs = r->next;
    if (r->next) r->next->prev = r->prev;
    x->running--;
}

/* Ends a run: ack with result, or fail with message/type/backtrace. */
static void run_finish(run_t *r, bool ok, const char *result, const char *message,
                       const char *type, const char *backtrace, int64_t retry_in_us)
{
    synq_executor_t *x = r->x;
    run_unlink(r);
    if (!r->stopped) {
        int rc = ok ? synq_engine_ack(x->e, r->id, x->worker, result, NULL)
                    : synq_engine_fail_after(x->e, r->id, x->worker, message, type, backtrace,
                                             retry_in_us, NULL);
        if (rc)
            synq_log(SYNQ_LOG_WARN, "executor lost its job", "job", r->id, "error",
                     synq_strerror(rc), NULL);
    } else if (r->stop_reason) {
        synq_engine_fail(x->e, r->id, x->worker, r->stop_reason, "Shutdown", NULL, NULL);
    }
    free(r->id);
    free(r);
    if (x->closing)
        maybe_done(x);
    else
        poll_jobs(x);
}

static json_t *text_json(const char *s, size_t n)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_utf8(&b, s, n);
    json_t *v = json_stringn(b.data ? b.data : "", b.len);
    synq_buf_release(&b);
    return v;
}

/* The last non-empty line of s (for error messages). */
static void last_line(const char *s, size_t n, char *out, size_t outlen)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) n--;
    size_t st = n;
    while (st && s[st - 1] != '\n') st--;
    size_t len = n - st;
    if (len > outlen - 1) {
        st = n - (outlen - 1);
        len = outlen - 1;
    }
    memcpy(out, s + st, len);
    out[len] = 0;
}

static void on_proc_done(const synq_proc_result_t *res, void *arg)
{
    run_t *r = arg;
    json_t *o = json_object();
    if (res->spawn_error) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot run the command: %s", uv_strerror(res->spawn_error));
        json_object_set_new(o, "error", json_string(uv_strerror(res->spawn_error)));
        char *bt = json_dumps(o, JSON_COMPACT);
        run_finish(r, false, NULL, msg, "SpawnError", bt, -1);
        free(bt);
        json_decref(o);
        return;
    }
    json_object_set_new(o, "exit_code", res->term_signal ? json_null() : json_integer(res->exit_status));
    json_object_set_new(o, "signal", res->term_signal ? json_integer(res->term_signal) : json_null());
    json_object_set_new(o, "timed_out", json_boolean(res->timed_out));
    json_object_set_new(o, "duration_ms", json_real((double)res->duration_us / 1000.0));
    json_object_set_new(o, "stdout", text_json(res->out, res->out_len));
    json_object_set_new(o, "stderr", text_json(res->err, res->err_len));
    json_object_set_new(o, "stdout_truncated", json_boolean(res->out_truncated));
    json_object_set_new(o, "stderr_truncated", json_boolean(res->err_truncated));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!res->term_signal && !res->timed_out && res->exit_status == 0) {
        run_finish(r, true, text, NULL, NULL, NULL, -1);
    } else {
        char msg[600], tail[400];
        last_line(res->err, res->err_len, tail, sizeof tail);
        const char *type;
        int n;
        if (res->timed_out) {
            n = snprintf(msg, sizeof msg, "timed out after %.1fs",
                         (double)res->duration_us / 1e6);
            type = "Timeout";
        } else if (res->term_signal) {
            n = snprintf(msg, sizeof msg, "killed by signal %d", res->term_signal);
            type = "Signal";
        } else {
            n = snprintf(msg, sizeof msg, "exit status %d", res->exit_status);
            type = "ExitStatus";
        }
        if (tail[0] && n > 0 && (size_t)n < sizeof msg)
            snprintf(msg + n, sizeof msg - (size_t)n, ": %s", tail);
        synq_buf_t clean;
        synq_buf_init(&clean);
        synq_buf_utf8(&clean, msg, strlen(msg));
        synq_buf_putc(&clean, 0);
        run_finish(r, false, NULL, clean.data, type, text, -1);
        synq_buf_release(&clean);
    }
    free(text);
}

static void add_env(char ***env, size_t *n, size_t *cap, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *kv = synq_malloc(nl + strlen(value) + 2);
    sprintf(kv, "%s=%s", name, value);
    for (size_t i = 0; i < *n; i++)
        if (strncmp((*env)[i], name, nl) == 0 && (*env)[i][nl] == '=') {
            free((*env)[i]);
            (*env)[i] = kv;
            return;
        }
    if (*n + 2 > *cap) *env = synq_realloc(*env, (*cap = *cap * 2 + 8) * sizeof **env);
    (*env)[(*n)++] = kv;
    (*env)[*n] = NULL;
}

static int start_exec(run_t *r, const json_t *job, const json_t *spec)
{
    synq_executor_t *x = r->x;
    const json_t *argv = json_object_get(spec, "argv");
    const char **av;
    if (argv) {
        size_t ac = json_array_size(argv);
        av = synq_calloc(ac + 1, sizeof *av);
        for (size_t i = 0; i < ac; i++) av[i] = json_string_value(json_array_get(argv, i));
    } else {
        const json_t *sp = json_object_get(spec, "shell_path");
        av = synq_calloc(4, sizeof *av);
        av[0] = sp ? json_string_value(sp) : "/bin/sh";
        av[1] = "-c";
        av[2] = json_string_value(json_object_get(spec, "shell"));
    }
    /* the server's environment, the spec's variables, and the job's identity */
    char **env = NULL;
    size_t n = 0, cap = 0;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)SYNQ_MIN((size_t)(eq - *e), 255), *e);
        add_env(&env, &n, &cap, name, eq + 1);
    }
    const json_t *envs = json_object_get(spec, "env");
    const char *k;
    json_t *v;
    if (envs) json_object_foreach((json_t *)envs, k, v) add_env(&env, &n, &cap, k, json_string_value(v));
    add_env(&env, &n, &cap, "SYNQ_JOB_ID", r->id);
    char num[32];
    snprintf(num, sizeof num, "%lld",
             (long long)json_integer_value(json_object_get(job, "attempts")));
    add_env(&env, &n, &cap, "SYNQ_JOB_ATTEMPT", num);
    const json_t *sched = json_object_get(job, "schedule");
    if (json_is_string(sched)) {
        add_env(&env, &n, &cap, "SYNQ_SCHEDULE", json_string_value(sched));
        const json_t *fa = json_object_get(job, "fire_at");
        if (json_is_string(fa)) add_env(&env, &n, &cap, "SYNQ_FIRE_AT", json_string_value(fa));
    }
    int64_t timeout_us = 0;
    if ((v = json_object_get(spec, "timeout"))) dur_ok(v, &timeout_us);
    const json_t *input = json_object_get(spec, "input");
    const json_t *cwd = json_object_get(spec, "cwd");
    synq_proc_opts_t o = {
        .argv = av,
        .env = (const char *const *)env,
        .cwd = cwd ? json_string_value(cwd) : NULL,
        .input = input ? json_string_value(input) : NULL,
        .input_len = input ? json_string_length(input) : 0,
        .timeout_ms = (uint64_t)(timeout_us / 1000),
        .tail_bytes = OUT_TAIL_BYTES,
    };
    int rc = synq_proc_start(synq_engine_loop(x->e), &o, on_proc_done, r, &r->proc);
    for (size_t i = 0; i < n; i++) free(env[i]);
    free(env);
    free(av);
    return rc;
}

/* Response headers as an object (names lower-cased; repeats joined by ", "). */
static json_t *headers_json(const char *h, size_t n)
{
    json_t *o = json_object();
    const char *p = h, *end = h + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && colon > p) {
            char name[128];
            size_t nl = SYNQ_MIN((size_t)(colon - p), sizeof name - 1);
            for (size_t i = 0; i < nl; i++)
                name[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
            name[nl] = 0;
            const char *vs = colon + 1, *ve = eol;
            while (vs < ve && (*vs == ' ' || *vs == '\t')) vs++;
            while (ve > vs && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            synq_buf_t b;
            synq_buf_init(&b);
            const json_t *prev = json_object_get(o, name);
            if (prev) {
                synq_buf_puts(&b, json_string_value(prev));
                synq_buf_puts(&b, ", ");
            }
            synq_buf_utf8(&b, vs, (size_t)(ve - vs));
            json_object_set_new(o, name, json_stringn(b.data ? b.data : "", b.len));
            synq_buf_release(&b);
        }
        p = eol + 1;
    }
    return o;
}

static void on_http_done(const synq_httpc_res_t *res, void *arg)
{
    run_t *r = arg;
    r->call = NULL;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(res->status));
    json_object_set_new(o, "duration_ms", json_real((double)res->elapsed_us / 1000.0));
    if (res->status) {
        json_object_set_new(o, "headers", headers_json(res->headers, res->headers_len));
        json_object_set_new(o, "body", text_json(res->body, res->body_len));
        json_object_set_new(o, "body_truncated", json_boolean(res->body_truncated));
    } else {
        json_object_set_new(o, "error", json_string(res->error ? res->error : "request failed"));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (res->status >= 200 && res->status <= 299) {
        run_finish(r, true, text, NULL, NULL, NULL, -1);
    } else {
        char msg[300];
        if (res->status)
            snprintf(msg, sizeof msg, "HTTP %d", res->status);
        else
            snprintf(msg, sizeof msg, "request failed: %s", res->error ? res->error : "?");
        int64_t retry_in = res->retry_after_s >= 0 ? res->retry_after_s * SYNQ_US_PER_SEC : -1;
        run_finish(r, false, NULL, msg, res->status ? "HttpStatus" : "HttpError", text, retry_in);
    }
    free(text);
}

static int start_http(run_t *r, const json_t *spec)
{
    synq_executor_t *x = r->x;
    const json_t *body = json_object_get(spec, "body"), *hdrs = json_object_get(spec, "headers");
    const json_t *m = json_object_get(spec, "method");
    char *body_text = NULL;
    bool json_body = false;
    if (body && json_is_string(body))
        body_text = synq_strndup(json_string_value(body), json_string_length(body));
    else if (body && !json_is_null(body)) {
        body_text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_body = true;
    }
    size_t nh = hdrs ? json_object_size(hdrs) : 0;
    char **hv = synq_calloc(nh + 1, sizeof *hv);
    size_t i = 0;
    bool has_ct = false;
    const char *k;
    json_t *v;
    if (hdrs)
        json_object_foreach((json_t *)hdrs, k, v)
        {
            hv[i] = synq_malloc(strlen(k) + json_string_length(v) + 3);
            sprintf(hv[i], "%s: %s", k, json_string_value(v));
            if (strcasecmp(k, "content-type") == 0) has_ct = true;
            i++;
        }
    if (json_body && !has_ct) hv[i++] = synq_strdup("Content-Type: application/json");
    int64_t timeout_us = 30 * SYNQ_US_PER_SEC;
    if ((v = json_object_get(spec, "timeout"))) dur_ok(v, &timeout_us);
    synq_httpc_req_t req = {
        .method = m ? json_string_value(m) : (body_text ? "POST" : "GET"),
        .url = json_string_value(json_object_get(spec, "url")),
        .headers = (const char *const *)hv,
        .nheaders = i,
        .body = body_text,
        .body_len = body_text ? strlen(body_text) : 0,
        .timeout_ms = (uint64_t)(timeout_us / 1000),
        .max_body_bytes = HTTP_BODY_BYTES,
    };
    int rc = synq_httpc_request(x->httpc, &req, on_http_done, r, &r->call);
    for (size_t j = 0; j < i; j++) free(hv[j]);
    free(hv);
    free(body_text);
    return rc;
}

static void start_run(synq_executor_t *x, const json_t *job)
{
    run_t *r = synq_calloc(1, sizeof *r);
    r->x = x;
    r->id = synq_strdup(json_string_value(json_object_get(job, "id")));
    r->reserve_for = (int)json_integer_value(json_object_get(job, "reserve_for"));
    if (r->reserve_for < 1) r->reserve_for = 1;
    r->next_beat = synq_time_now_us() + (int64_t)r->reserve_for * SYNQ_US_PER_SEC / 3;
    r->next = x->runs;
    if (x->runs) x->runs->prev = r;
    x->runs = r;
    x->running++;
    const json_t *args = json_object_get(job, "args");
    const json_t *spec = json_is_array(args) ? json_array_get(args, 0) : NULL;
    char err[200];
    int bad = x->kind == SYNQ_EXECUTOR_EXEC ? synq_exec_spec_check(spec, err, sizeof err)
                                            : synq_http_spec_check(spec, err, sizeof err);
    if (bad) {
        char msg[260];
        snprintf(msg, sizeof msg, "invalid %s spec: %s", x->queue, err);
        run_finish(r, false, NULL, msg, "InvalidSpec", NULL, -1);
        return;
    }
    int rc = x->kind == SYNQ_EXECUTOR_EXEC ? start_exec(r, job, spec) : start_http(r, spec);
    if (rc) {
        char msg[200];
        snprintf(msg, sizeof msg, "cannot start: %s", synq_strerror(rc));
        run_finish(r, false, NULL, msg, "StartError", NULL, -1);
    }
}

/* ---- fetching ------------------------------------------------------------ */

/* cancel: ignored, the final-state listener stops cancelled runs already */
static void on_jobs(const synq_buf_t *jobs, int n, const char *cancel, void *arg)
{
    (void)cancel;
    synq_executor_t *x = arg;
    x->waiter = NULL;
    if (n > 0) {
        json_t *arr = json_loadb(jobs->data, jobs->len, 0, NULL);
        size_t i;
        json_t *job;
        json_array_foreach(arr, i, job) start_run(x, job);
        json_decref(arr);
    }
    if (!x->closing) poll_jobs(x);
}

static void poll_jobs(synq_executor_t *x)
{
    if (x->closing || x->waiter || x->running >= x->cap) return;
    const char *qs[1] = {x->queue};
    x->waiter = synq_engine_fetch_wait(x->e, qs, 1, x->cap - x->running, x->worker,
                                       FETCH_WAIT_MS, on_jobs, x);
}

static void on_beat(uv_timer_t *t)
{
    synq_executor_t *x = t->data;
    int64_t now = synq_time_now_us();
    synq_buf_t scratch;
    synq_buf_init(&scratch);
    for (run_t *r = x->runs; r; r = r->next) {
        if (r->stopped || now < r->next_beat) continue;
        scratch.len = 0;
        synq_engine_heartbeat(x->e, r->id, x->worker, &scratch);
        r->next_beat = now + (int64_t)r->reserve_for * SYNQ_US_PER_SEC / 3;
    }
    synq_buf_release(&scratch);
}

/* A job of ours was cancelled (or otherwise finished) behind our back. */
static void on_job_final(const synq_job_t *j, void *arg)
{
    synq_executor_t *x = arg;
    if (j->state != SYNQ_JOB_CANCELLED || strcmp(j->queue, x->queue) != 0) return;
    for (run_t *r = x->runs; r; r = r->next) {
        if (strcmp(r->id, j->id) != 0 || r->stopped) continue;
        r->stopped = true;
        if (r->proc) {
            synq_proc_kill(r->proc);
        } else if (r->call) {
            synq_httpc_cancel(x->httpc, r->call);
            r->call = NULL;
            run_finish(r, false, NULL, NULL, NULL, NULL, -1);
        }
        return;
    }
}

typedef struct {
    synq_executor_t *x;
    char **ids;
    size_t n, cap;
} orphan_ctx_t;

static int collect_orphan(synq_job_t *j, void *arg)
{
    orphan_ctx_t *c = arg;
    if (j->state == SYNQ_JOB_ACTIVE && j->worker && strcmp(j->worker, c->x->worker) == 0 &&
        strcmp(j->queue, c->x->queue) == 0) {
        if (c->n == c->cap) c->ids = synq_realloc(c->ids, (c->cap = c->cap * 2 + 4) * sizeof(char *));
        c->ids[c->n++] = synq_strdup(j->id);
    }
    synq_job_free(j);
    return 0;
}

synq_executor_t *synq_executor_new(synq_engine_t *e, synq_executor_kind_t kind, int concurrency,
                                   synq_httpc_t *httpc)
{
    synq_executor_t *x = synq_calloc(1, sizeof *x);
    x->e = e;
    x->kind = kind;
    x->queue = kind == SYNQ_EXECUTOR_EXEC ? SYNQ_EXEC_TYPE : SYNQ_HTTP_TYPE;
    snprintf(x->worker, sizeof x->worker, "%s", x->queue);
    x->cap = concurrency > 0 ? concurrency : 1;
    x->httpc = httpc;
    uv_timer_init(synq_engine_loop(e), &x->beat);
    x->beat.data = x;
    uv_timer_start(&x->beat, on_beat, BEAT_CHECK_MS, BEAT_CHECK_MS);
    synq_engine_on_final(e, on_job_final, x);

    /* a previous process's runs died with it: fail them so retries apply */
    synq_store_t *st = synq_engine_store(e);
    synq_job_filter_t f = {.queue = x->queue, .state = SYNQ_JOB_ACTIVE, .limit = 100000};
    orphan_ctx_t c = {x, NULL, 0, 0};
    st->ops->job_list(st, &f, collect_orphan, &c);
    for (size_t i = 0; i < c.n; i++) {
        synq_log(SYNQ_LOG_WARN, "built-in job interrupted by a restart", "job", c.ids[i], NULL);
        synq_engine_fail(e, c.ids[i], x->worker, "interrupted: the server restarted",
                         "Interrupted", NULL, NULL);
        free(c.ids[i]);
    }
    free(c.ids);
    poll_jobs(x);
    return x;
}

static void on_beat_closed(uv_handle_t *h)
{
    synq_executor_t *x = h->data;
    void (*done)(void *) = x->done;
    void *arg = x->done_arg;
    free(x);
    if (done) done(arg);
}

static void maybe_done(synq_executor_t *x)
{
    if (x->runs || uv_is_closing((uv_handle_t *)&x->beat)) return;
    uv_close((uv_handle_t *)&x->beat, on_beat_closed);
}

void synq_executor_close(synq_executor_t *x, void (*done)(void *arg), void *arg)
{
    x->closing = true;
    x->done = done;
    x->done_arg = arg;
    if (x->waiter) {
        synq_engine_fetch_cancel(x->e, x->waiter);
        x->waiter = NULL;
    }
    uv_timer_stop(&x->beat);
    run_t *next;
    for (run_t *r = x->runs; r; r = next) {
        next = r->next;
        r->stopped = true;
        r->stop_reason = "interrupted: the server is shutting down";
        if (r->proc) {
            synq_proc_kill(r->proc);
        } else if (r->call) {
            synq_httpc_cancel(x->httpc, r->call);
            r->call = NULL;
            run_finish(r, false, NULL, NULL, NULL, NULL, -1);
        }
    }
    maybe_done(x);
}
