/* synq's command line: `synq serve` runs the server; the other commands
 * (enqueue, job, jobs, queues, work, cron) are clients of a running server and
 * live in cli/. Every serve flag can also be set by a SYNQ_* variable. */
#include "api/api.h"
#include "engine/hub.h"
#include "core/hlc.h"
#include "engine/docs.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/crontab.h"
#include "engine/engine.h"
#include "engine/executor.h"
#include "engine/sched.h"
#include "net/http.h"
#include "net/httpc.h"
#include "engine/callback.h"
#include "proto/faktory.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define SYNQ_VERSION "0.1.0"

typedef struct {
    const char *http;
    const char *data;
    const char *log_level;
    const char *durability;
    const char *max_body;
    const char *dead_max, *dead_ttl, *completed_max, *completed_ttl;
    const char *header_timeout, *idle_timeout;
    const char *alert_url, *exec_concurrency, *http_concurrency, *crontab;
    const char *idempotency_ttl, *callback_retry;
    const char *api_key, *jwt_secret, *namespaces, *ws_origins, *ws_max_message, *node_id;
    const char *faktory, *faktory_password, *faktory_max_line, *faktory_worker_ttl;
} serve_opts_t;

static const struct {
    const char *flag, *env, *def, *help;
    size_t off;
} serve_flags[] = {
    {"http", "SYNQ_HTTP", "127.0.0.1:7700", "HTTP listen address (port 0 picks one)",
     offsetof(serve_opts_t, http)},
    {"data", "SYNQ_DATA", "./data", "data directory (SQLite database)", offsetof(serve_opts_t, data)},
    {"log-level", "SYNQ_LOG_LEVEL", "info", "debug, info, warn or error",
     offsetof(serve_opts_t, log_level)},
    {"durability", "SYNQ_DURABILITY", "full",
     "full: acknowledged writes survive power loss; normal: survive a process crash",
     offsetof(serve_opts_t, durability)},
    {"max-body", "SYNQ_MAX_BODY", "1048576", "largest request body in bytes (suffix k, m allowed)",
     offsetof(serve_opts_t, max_body)},
    {"dead-max", "SYNQ_DEAD_MAX", "10000", "dead jobs kept at most", offsetof(serve_opts_t, dead_max)},
    {"dead-ttl", "SYNQ_DEAD_TTL", "180d", "dead jobs kept this long", offsetof(serve_opts_t, dead_ttl)},
    {"completed-max", "SYNQ_COMPLETED_MAX", "1000000", "completed jobs kept at most",
     offsetof(serve_opts_t, completed_max)},
    {"completed-ttl", "SYNQ_COMPLETED_TTL", "7d", "completed jobs kept this long",
     offsetof(serve_opts_t, completed_ttl)},
    {"header-timeout", "SYNQ_HEADER_TIMEOUT", "10s", "time allowed for a request's headers",
     offsetof(serve_opts_t, header_timeout)},
    {"idle-timeout", "SYNQ_IDLE_TIMEOUT", "60s", "idle keep-alive connections are closed after this",
     offsetof(serve_opts_t, idle_timeout)},
    {"crontab", "SYNQ_CRONTAB", "", "crontab file loaded as schedules (reloaded on SIGHUP)",
     offsetof(serve_opts_t, crontab)},
    {"alert-url", "SYNQ_ALERT_URL", "", "URL POSTed a JSON alert when a scheduled job dies",
     offsetof(serve_opts_t, alert_url)},
    {"exec-concurrency", "SYNQ_EXEC_CONCURRENCY", "4", "built-in exec jobs run at once",
     offsetof(serve_opts_t, exec_concurrency)},
    {"idempotency-ttl", "SYNQ_IDEMPOTENCY_TTL", "24h", "how long an Idempotency-Key is remembered",
     offsetof(serve_opts_t, idempotency_ttl)},
    {"callback-retry", "SYNQ_CALLBACK_RETRY", "5s,5m,30m,2h,5h,10h,10h",
     "delays between callback delivery attempts (the last one ends it)",
     offsetof(serve_opts_t, callback_retry)},
    {"http-concurrency", "SYNQ_HTTP_CONCURRENCY", "16", "built-in http jobs run at once",
     offsetof(serve_opts_t, http_concurrency)},
    {"api-key", "SYNQ_API_KEY", "", "key required as Authorization: Bearer to publish and to write documents (empty: open)",
     offsetof(serve_opts_t, api_key)},
    {"jwt-secret", "SYNQ_JWT_SECRET", "", "HS256 secret of LiveSync subscriber tokens (empty: no tokens)",
     offsetof(serve_opts_t, jwt_secret)},
    {"namespaces", "SYNQ_NAMESPACES", "", "channel namespaces, ';'-separated name:key=value,... (see docs/livesync.md)",
     offsetof(serve_opts_t, namespaces)},
    {"ws-origins", "SYNQ_WS_ORIGINS", "", "comma-separated Origin values allowed on WebSocket (empty: any)",
     offsetof(serve_opts_t, ws_origins)},
    {"ws-max-message", "SYNQ_WS_MAX_MESSAGE", "64k", "largest inbound WebSocket message (after inflating)",
     offsetof(serve_opts_t, ws_max_message)},
    {"node-id", "SYNQ_NODE_ID", "", "this node's id in document clocks (HLC ties); empty: the hostname",
     offsetof(serve_opts_t, node_id)},
    {"faktory", "SYNQ_FAKTORY", "127.0.0.1:7419", "Faktory protocol listen address, or off",
     offsetof(serve_opts_t, faktory)},
    {"faktory-password", "SYNQ_FAKTORY_PASSWORD", "",
     "password Faktory clients must prove (a value starting with / names a file holding it)",
     offsetof(serve_opts_t, faktory_password)},
    {"faktory-max-line", "SYNQ_FAKTORY_MAX_LINE", "1m", "longest Faktory command line in bytes",
     offsetof(serve_opts_t, faktory_max_line)},
    {"faktory-worker-ttl", "SYNQ_FAKTORY_WORKER_TTL", "60s",
     "a Faktory worker silent (no BEAT) this long is dropped",
     offsetof(serve_opts_t, faktory_worker_ttl)},
};

static void usage(FILE *f)
{
    fprintf(f, "synq %s: background jobs, schedules and real-time sync in one daemon\n\n"
               "usage: synq <command> [options]\n\n"
               "commands:\n"
               "  serve     run the server (synq serve --help for its options)\n"
               "  enqueue   enqueue a job on a running server\n"
               "  job ID    show one job\n"
               "  jobs      list jobs\n"
               "  queues    list queues\n"
               "  work      run a command once per job (synq work --help)\n"
               "  cron      manage schedules (synq cron --help)\n"
               "  version   print the version\n\n"
               "Client commands take --server URL (SYNQ_SERVER, default http://127.0.0.1:7700).\n",
            SYNQ_VERSION);
}

static void serve_usage(FILE *f)
{
    fprintf(f, "usage: synq serve [options]\n\noptions (each also set by its environment variable):\n");
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(serve_flags); i++)
        fprintf(f, "  --%-16s %-20s %s (default %s)\n", serve_flags[i].flag, serve_flags[i].env,
                serve_flags[i].help, serve_flags[i].def);
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s) return -1;
    if (*end == 'k' || *end == 'K') v *= 1024, end++;
    else if (*end == 'm' || *end == 'M') v *= 1024 * 1024, end++;
    if (*end == 'i' || *end == 'I') end++;
    if (*end == 'b' || *end == 'B') end++;
    if (*end != '\0' || v == 0 || v > (1ULL << 31)) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_count(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || v < 0) return -1;
    *out = v;
    return 0;
}

static int parse_dur(const char *s, int64_t *out)
{
    return synq_duration_parse(s, strlen(s), out);
}

/* A secret given as itself, or (starting with '/') as a file holding it,
 * trailing newlines dropped, as Faktory reads its password. */
static int read_secret(const char *v, char *out, size_t outlen)
{
    if (v[0] != '/') {
        if (strlen(v) >= outlen) return -1;
        strcpy(out, v);
        return 0;
    }
    FILE *f = fopen(v, "rb");
    if (f == NULL) return -1;
    size_t n = fread(out, 1, outlen - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = '\0';
    return n == 0 || strlen(out) != n ? -1 : 0;
}

/* ---- serve ---------------------------------------------------------------- */

typedef struct {
    uv_loop_t *loop;
    synq_engine_t *engine;
    synq_api_t *api;
    synq_http_server_t *http;
    synq_httpc_t *httpc;
    synq_callbacks_t *callbacks;
    synq_hub_t *hub;
    synq_docs_t *docs;
    synq_sched_t *sched;
    synq_executor_t *exec, *httpx;
    synq_faktory_t *faktory; /* freed after the loop: it hears engine events until then */
    bool faktory_closing;
    const char *crontab;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t deadline;
    bool stopping;
    int closing; /* modules still closing before the engine may close */
} server_t;

static void on_engine_closed(void *arg)
{
    server_t *s = arg;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
    uv_close((uv_handle_t *)&s->deadline, NULL);
    synq_callbacks_free(s->callbacks); /* its engine listener is gone now */
    s->callbacks = NULL;
    synq_hub_close(s->hub); /* after the engine's last commit and its replies */
    s->hub = NULL;
    synq_log(SYNQ_LOG_INFO, "stopped", NULL);
}

static void on_module_closed(void *arg)
{
    server_t *s = arg;
    if (--s->closing > 0) return;
    /* undelivered callbacks stay pending in the store; stop them before the
     * client aborts their calls (that would count as failed attempts) */
    if (s->callbacks) synq_callbacks_close(s->callbacks);
    if (s->httpc) {
        synq_httpc_t *h = s->httpc;
        s->httpc = NULL;
        s->closing = 1;
        synq_httpc_close(h, on_module_closed, s);
        return;
    }
    synq_engine_close(s->engine, on_engine_closed, s);
    s->engine = NULL;
}

/* Executors and the scheduler (and the HTTP server, when extra is 1) close
 * before the engine: stopping a run fails its job, which needs the engine
 * (and its last commit). */
static void close_modules(server_t *s, int extra)
{
    s->closing = 1 + extra;
    if (s->sched) s->closing++, synq_sched_close(s->sched, on_module_closed, s);
    if (s->exec) s->closing++, synq_executor_close(s->exec, on_module_closed, s);
    if (s->httpx) s->closing++, synq_executor_close(s->httpx, on_module_closed, s);
    if (s->faktory && !s->faktory_closing)
        s->closing++, s->faktory_closing = true, synq_faktory_close(s->faktory, on_module_closed, s);
    s->sched = NULL;
    s->exec = s->httpx = NULL;
    on_module_closed(s);
}

static void on_http_closed(synq_http_server_t *srv, void *arg)
{
    server_t *s = arg;
    s->http = NULL;
    on_module_closed(s);
}

/* Loads (or reloads) the crontab file into schedules tagged with its path.
 * Returns 0, or -1 after logging why. */
static int load_crontab(server_t *s)
{
    char real[PATH_MAX], err[300];
    if (!realpath(s->crontab, real)) {
        synq_log(SYNQ_LOG_ERROR, "cannot read crontab", "file", s->crontab, "error",
                 strerror(errno), NULL);
        return -1;
    }
    FILE *f = fopen(real, "rb");
    if (!f) {
        synq_log(SYNQ_LOG_ERROR, "cannot read crontab", "file", real, "error", strerror(errno),
                 NULL);
        return -1;
    }
    synq_buf_t text;
    synq_buf_init(&text);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len < 8u << 20)
        synq_buf_append(&text, chunk, n);
    fclose(f);
    synq_crontab_t tab;
    int rc = synq_crontab_parse(text.data ? text.data : "", text.len, &tab, err, sizeof err);
    synq_buf_release(&text);
    if (rc) {
        synq_log(SYNQ_LOG_ERROR, "invalid crontab", "file", real, "error", err, NULL);
        return -1;
    }
    char source[PATH_MAX + 16], prefix[128];
    snprintf(source, sizeof source, "crontab:%s", real);
    const char *base = strrchr(real, '/');
    synq_sched_name_prefix(base ? base + 1 : real, prefix, sizeof prefix);
    synq_buf_t out;
    synq_buf_init(&out);
    rc = synq_sched_import(s->sched, source, prefix, &tab, &out, err, sizeof err);
    synq_crontab_release(&tab);
    if (rc) {
        synq_log(SYNQ_LOG_ERROR, "invalid crontab", "file", real, "error", err, NULL);
    } else {
        synq_buf_putc(&out, 0);
        synq_log(SYNQ_LOG_INFO, "crontab loaded", "file", real, "changes", out.data, NULL);
    }
    synq_buf_release(&out);
    return rc ? -1 : 0;
}

static void on_sighup(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    if (s->crontab && !s->stopping) load_crontab(s);
}

static void on_deadline(uv_timer_t *t)
{
    synq_log(SYNQ_LOG_ERROR, "shutdown took too long, exiting", NULL);
    _exit(1);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    if (s->stopping) return;
    s->stopping = true;
    synq_log(SYNQ_LOG_INFO, "shutting down", "signal", signum == SIGINT ? "SIGINT" : "SIGTERM",
             NULL);
    uv_timer_start(&s->deadline, on_deadline, 15000, 0);
    uv_unref((uv_handle_t *)&s->deadline);
    /* modules first: an executor would answer a drained fetch by asking again */
    close_modules(s, 1);
    synq_engine_drain(s->engine);
    synq_api_close(s->api); /* result waits and event streams end now */
    synq_http_server_close(s->http, on_http_closed, s);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int serve_main(int argc, char **argv)
{
    serve_opts_t o;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(serve_flags); i++) {
        const char *env = getenv(serve_flags[i].env);
        *(const char **)((char *)&o + serve_flags[i].off) = env && *env ? env : serve_flags[i].def;
    }
    struct option longopts[SYNQ_ARRAY_LEN(serve_flags) + 2];
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(serve_flags); i++)
        longopts[i] = (struct option){serve_flags[i].flag, required_argument, NULL, (int)i};
    longopts[SYNQ_ARRAY_LEN(serve_flags)] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[SYNQ_ARRAY_LEN(serve_flags) + 1] = (struct option){NULL, 0, NULL, 0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            serve_usage(stdout);
            return 0;
        }
        if (c < 0 || (size_t)c >= SYNQ_ARRAY_LEN(serve_flags)) {
            serve_usage(stderr);
            return 2;
        }
        *(const char **)((char *)&o + serve_flags[c].off) = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "synq serve: unexpected argument %s\n", argv[optind]);
        return 2;
    }

    synq_log_level_t level;
    synq_http_config_t hcfg;
    synq_engine_config_t ecfg;
    synq_http_config_init(&hcfg);
    synq_engine_config_init(&ecfg);
    synq_durability_t dur = SYNQ_DURABILITY_FULL;
    int64_t ht, it, exec_n, http_n;
    const char *bad = NULL;
    if (synq_log_level_parse(o.log_level, &level)) bad = "--log-level";
    else if (strcmp(o.durability, "full") == 0) dur = SYNQ_DURABILITY_FULL;
    else if (strcmp(o.durability, "normal") == 0) dur = SYNQ_DURABILITY_NORMAL;
    else bad = "--durability";
    if (!bad && parse_size(o.max_body, &hcfg.max_body_bytes)) bad = "--max-body";
    if (!bad && parse_count(o.dead_max, &ecfg.dead_max)) bad = "--dead-max";
    if (!bad && parse_dur(o.dead_ttl, &ecfg.dead_ttl_us)) bad = "--dead-ttl";
    if (!bad && parse_count(o.completed_max, &ecfg.completed_max)) bad = "--completed-max";
    if (!bad && parse_dur(o.completed_ttl, &ecfg.completed_ttl_us)) bad = "--completed-ttl";
    if (!bad && (parse_dur(o.header_timeout, &ht) || ht < 1000)) bad = "--header-timeout";
    if (!bad && (parse_dur(o.idle_timeout, &it) || it < 1000)) bad = "--idle-timeout";
    int64_t cb_sched[SYNQ_CALLBACKS_MAX_SCHEDULE];
    size_t ncb = 0;
    if (!bad && synq_callbacks_parse_schedule(o.callback_retry, cb_sched, SYNQ_ARRAY_LEN(cb_sched),
                                              &ncb))
        bad = "--callback-retry";
    if (!bad && (parse_dur(o.idempotency_ttl, &ecfg.idempotency_ttl_us) ||
                 ecfg.idempotency_ttl_us < SYNQ_US_PER_SEC))
        bad = "--idempotency-ttl";
    if (!bad && (parse_count(o.exec_concurrency, &exec_n) || exec_n < 1 || exec_n > 1024))
        bad = "--exec-concurrency";
    if (!bad && (parse_count(o.http_concurrency, &http_n) || http_n < 1 || http_n > 4096))
        bad = "--http-concurrency";
    if (!bad && *o.alert_url && strncmp(o.alert_url, "http://", 7) &&
        strncmp(o.alert_url, "https://", 8))
        bad = "--alert-url";
    synq_hub_config_t hubcfg;
    synq_hub_config_init(&hubcfg);
    char nserr[256] = "";
    if (!bad && *o.namespaces) {
        char *all = synq_strdup(o.namespaces);
        for (char *save = NULL, *spec = strtok_r(all, ";", &save); spec && !bad;
             spec = strtok_r(NULL, ";", &save))
            if (synq_hub_config_namespace(&hubcfg, spec, nserr, sizeof nserr)) bad = "--namespaces";
        free(all);
    }
    synq_api_config_t acfg = {.api_key = *o.api_key ? o.api_key : NULL,
                              .jwt_secret = *o.jwt_secret ? o.jwt_secret : NULL,
                              .ws_origins = *o.ws_origins ? o.ws_origins : NULL};
    if (!bad && parse_size(o.ws_max_message, &acfg.ws_max_message)) bad = "--ws-max-message";
    if (!bad && *o.node_id && !synq_hlc_node_valid(o.node_id)) bad = "--node-id";
    synq_faktory_config_t fcfg = {.addr = strcmp(o.faktory, "off") ? o.faktory : NULL};
    int64_t fttl = 0;
    char fpw[1024];
    if (!bad && parse_size(o.faktory_max_line, &fcfg.max_line)) bad = "--faktory-max-line";
    if (!bad && (parse_dur(o.faktory_worker_ttl, &fttl) || fttl < SYNQ_US_PER_SEC))
        bad = "--faktory-worker-ttl";
    if (!bad && read_secret(o.faktory_password, fpw, sizeof fpw)) bad = "--faktory-password";
    fcfg.worker_ttl_ms = (uint64_t)fttl / 1000;
    fcfg.password = fpw;
    if (bad) {
        fprintf(stderr, "synq serve: invalid value for %s%s%s\n", bad, nserr[0] ? ": " : "", nserr);
        return 2;
    }
    hcfg.header_timeout_ms = (uint64_t)ht / 1000;
    hcfg.idle_timeout_ms = (uint64_t)it / 1000;
    synq_log_set_level(level);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    server_t s = {.loop = uv_default_loop()};
    /* initialised now: every failure path below closes them (on_engine_closed) */
    uv_signal_init(s.loop, &s.sigint);
    uv_signal_init(s.loop, &s.sigterm);
    uv_signal_init(s.loop, &s.sighup);
    uv_timer_init(s.loop, &s.deadline);
    s.sigint.data = s.sigterm.data = s.sighup.data = s.deadline.data = &s;
    synq_store_t *store = synq_store_sqlite_open(o.data, dur);
    if (store == NULL) return 1;
    s.engine = synq_engine_new(s.loop, store, &ecfg);
    s.httpc = synq_httpc_new(s.loop, (int)http_n);
    synq_callbacks_config_t ccfg;
    synq_callbacks_config_init(&ccfg);
    ccfg.schedule_us = cb_sched;
    ccfg.nschedule = ncb;
    s.callbacks = synq_callbacks_new(s.engine, s.httpc, &ccfg);
    synq_sched_config_t scfg = {.alert_url = *o.alert_url ? o.alert_url : NULL, .httpc = s.httpc};
    s.sched = synq_sched_new(s.engine, &scfg);
    s.exec = synq_executor_new(s.engine, SYNQ_EXECUTOR_EXEC, (int)exec_n, NULL);
    s.httpx = synq_executor_new(s.engine, SYNQ_EXECUTOR_HTTP, (int)http_n, s.httpc);
    s.crontab = *o.crontab ? o.crontab : NULL;
    if (s.crontab && load_crontab(&s) != 0) {
        close_modules(&s, 0);
        uv_run(s.loop, UV_RUN_DEFAULT);
        uv_loop_close(s.loop);
        return 1;
    }
    synq_sched_started(s.sched);
    s.hub = synq_hub_new(s.engine, &hubcfg);
    if (s.hub == NULL) {
        synq_log(SYNQ_LOG_ERROR, "cannot load channels", NULL);
        close_modules(&s, 0);
        uv_run(s.loop, UV_RUN_DEFAULT);
        uv_loop_close(s.loop);
        return 1;
    }
    synq_hub_watch_jobs(s.hub);
    if (!acfg.api_key)
        synq_log(SYNQ_LOG_WARN, "no --api-key: publishing and document writes are open", NULL);
    s.api = synq_api_new(s.engine, s.sched);
    synq_api_set_callbacks(s.api, s.callbacks);
    synq_api_set_livesync(s.api, s.hub, &acfg);
    synq_docs_config_t dcfg;
    synq_docs_config_init(&dcfg);
    dcfg.node = *o.node_id ? o.node_id : NULL;
    s.docs = synq_docs_new(s.engine, s.hub, &dcfg);
    synq_api_set_docs(s.api, s.docs);
    int err = 0;
    if (fcfg.addr) {
        s.faktory = synq_faktory_start(s.engine, &fcfg, &err);
        if (s.faktory == NULL)
            synq_log(SYNQ_LOG_ERROR, "cannot listen", "addr", fcfg.addr, "error",
                     synq_strerror(err), NULL);
    }
    if (err == 0) {
        s.http = synq_http_server_start(s.loop, o.http, &hcfg, synq_api_handle, s.api, &err);
        if (s.http == NULL)
            synq_log(SYNQ_LOG_ERROR, "cannot listen", "addr", o.http, "error", synq_strerror(err),
                     NULL);
    }
    if (err) {
        close_modules(&s, 0);
        uv_run(s.loop, UV_RUN_DEFAULT);
        synq_api_free(s.api);
        synq_docs_free(s.docs);
        synq_faktory_free(s.faktory);
        uv_loop_close(s.loop);
        return 1;
    }
    synq_api_set_faktory(s.api, s.faktory);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sighup, on_sighup, SIGHUP);
    synq_log(SYNQ_LOG_INFO, "listening", "addr", synq_http_server_addr(s.http), "faktory",
             s.faktory ? synq_faktory_addr(s.faktory) : "off", "data", o.data, "durability",
             o.durability, "version", SYNQ_VERSION, NULL);
    uv_run(s.loop, UV_RUN_DEFAULT);
    synq_api_free(s.api);
    synq_docs_free(s.docs);
    synq_faktory_free(s.faktory);
    int rc = uv_loop_close(s.loop);
    if (rc) synq_log(SYNQ_LOG_WARN, "loop closed with open handles", NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0) return serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "enqueue") == 0) return synq_cli_enqueue(argc - 1, argv + 1);
    if (strcmp(cmd, "job") == 0) return synq_cli_job(argc - 1, argv + 1);
    if (strcmp(cmd, "jobs") == 0) return synq_cli_jobs(argc - 1, argv + 1);
    if (strcmp(cmd, "queues") == 0) return synq_cli_queues(argc - 1, argv + 1);
    if (strcmp(cmd, "work") == 0) return synq_cli_work(argc - 1, argv + 1);
    if (strcmp(cmd, "cron") == 0) return synq_cli_cron(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("synq %s\n", SYNQ_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "synq: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
