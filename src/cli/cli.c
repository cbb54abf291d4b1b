/* The client commands of the command line: `synq enqueue`, `synq job`,
 * `synq jobs` and `synq queues`. Each parses its flags, makes one or two
 * requests to a running server through cli/client.h and prints the answer:
 * JSON for single objects, aligned tables for lists (or JSON with --json).
 * With a Faktory address (tcp://, cli/fwpclient.h) `enqueue` and `queues`
 * speak FWP instead (PUSH, INFO); the others need the HTTP API and say so.
 * Exit status: 0 done, 1 the server said no or could not be reached (the
 * reason on stderr), 2 usage error. The worker, `synq work`, is in work.c. */
#include "cli/cli.h"

#include "cli/client.h"
#include "cli/fwpclient.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "engine/sched.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define REQUEST_TIMEOUT_MS 30000L
/* A Faktory job id made here: 12 random bytes as 24 hex digits. */
#define JID_BYTES 12
/* ARGS_JSON read from stdin ("-") is capped like the server's request body. */
#define MAX_STDIN_BYTES (16u * 1024 * 1024)

#define SERVER_HELP                                                                                \
    "  -s, --server URL       server to talk to: http://HOST:PORT, or a Faktory\n"                 \
    "                         address tcp://[:PASSWORD@]HOST[:PORT] (default\n"                    \
    "                         $SYNQ_SERVER, else $FAKTORY_URL, else\n"                             \
    "                         " SYNQ_CLIENT_DEFAULT_URL ")\n"                                      \
    "  -h, --help             show this help\n"

/* getopt_long with "synq <command>" as the program name in its messages.
 * cmdline_init copies argv with that name in front and resets optind. */
typedef struct {
    int argc;
    char **argv; /* owned array, borrowed strings */
    char name[64];
} cmdline_t;

static void cmdline_init(cmdline_t *cl, int argc, char **argv)
{
    snprintf(cl->name, sizeof cl->name, "synq %s", argc > 0 ? argv[0] : "?");
    cl->argc = argc > 0 ? argc : 1;
    cl->argv = synq_calloc((size_t)cl->argc + 1, sizeof *cl->argv);
    cl->argv[0] = cl->name;
    for (int i = 1; i < argc; i++)
        cl->argv[i] = argv[i];
    optind = 0; /* GNU: reinitialise the scanner */
    opterr = 1;
}

static void cmdline_release(cmdline_t *cl)
{
    free(cl->argv);
    cl->argv = NULL;
}

/* Prints "<name>: <message>" and a pointer to --help; returns EXIT_USAGE.
 * With fmt NULL only the pointer is printed (getopt has said the rest). */
static int usage_error(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *name, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", name);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s --help'.\n", name);
    return EXIT_USAGE;
}

/* Whole decimal integer in [lo, hi]; returns 0 or -1. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Reads all of stdin into a new string (free()), or NULL past the cap. */
static char *read_stdin(size_t *len)
{
    synq_buf_t b;
    synq_buf_init(&b);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0) {
        if (b.len + n > MAX_STDIN_BYTES) {
            synq_buf_release(&b);
            return NULL;
        }
        synq_buf_append(&b, tmp, n);
    }
    return synq_buf_steal(&b, len);
}

/* One request; on success (status == want, or any 2xx when want is 0)
 * *out takes the body (may be NULL). Returns an exit status: 0, or 1 with
 * the reason printed. */
static int call(const char *prog, const char *server, const char *method, const char *path,
                json_t *body, long want, json_t **out)
{
    int rc = 1;
    synq_client_resp_t resp = {0};
    synq_client_t *c = synq_client_new(server);

    if (out) *out = NULL;
    int err = synq_client_request(c, method, path, body, REQUEST_TIMEOUT_MS, NULL, NULL, &resp);
    if (err < 0) {
        fprintf(stderr, "%s: cannot reach %s: %s\n", prog, synq_client_url(c),
                synq_client_errmsg(c));
        goto cleanup;
    }
    if (want ? resp.status != want : resp.status / 100 != 2) {
        synq_client_resp_print_error(prog, &resp);
        goto cleanup;
    }
    if (out) {
        *out = resp.body;
        resp.body = NULL;
    }
    rc = 0;

cleanup:
    synq_client_resp_release(&resp);
    synq_client_free(c);
    return rc;
}

/* The server to talk to (see synq_client_url_pick) in *url. Returns 0, or
 * EXIT_USAGE after printing why. */
static int server_pick(const char *prog, const char *flag, const char **url)
{
    char err[256];
    if (synq_client_url_pick(flag, url, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_USAGE;
    }
    return 0;
}

/* For the commands that only the HTTP API can serve. Returns 0, or
 * EXIT_USAGE after printing why when url is a Faktory address. */
static int need_http(const char *prog, const char *url)
{
    if (!synq_client_url_is_fwp(url)) return 0;
    /* the address is not echoed: it may hold a password */
    return usage_error(prog, "%s",
                       "needs the HTTP API (http://...), not a Faktory address (tcp://...)");
}

/* A producer connection for url. Returns 0 and *c, or EXIT_USAGE after
 * printing why (an address that does not parse, TLS). */
static int fwp_open(const char *prog, const char *url, synq_fwpclient_t **c)
{
    int err = synq_fwpclient_new(url, NULL, c);
    if (err == -EPROTONOSUPPORT)
        return usage_error(prog, "%s", "TLS is not supported (tcp+tls://); use tcp://");
    if (err < 0)
        return usage_error(prog, "%s", "not a Faktory address: want tcp://[:PASSWORD@]HOST[:PORT]");
    return 0;
}

/* Sends one FWP command on a new connection to url (arg may be NULL).
 * Returns an exit status: 0 with *reply filled (any kind but an error) for
 * the caller to release; 1 after printing the server's -ERR message or why
 * it could not be reached; EXIT_USAGE for an unusable address. */
static int fwp_call(const char *prog, const char *url, const char *verb, const char *arg,
                    synq_fwpclient_reply_t *reply)
{
    synq_fwpclient_t *c = NULL;
    memset(reply, 0, sizeof *reply);
    int rc = fwp_open(prog, url, &c);
    if (rc != 0) return rc;
    rc = 1;
    int err = synq_fwpclient_call(c, verb, arg, REQUEST_TIMEOUT_MS, reply);
    if (err < 0) {
        fprintf(stderr, "%s: %s\n", prog, synq_fwpclient_errmsg(c));
    } else if (reply->kind == SYNQ_FWPCLIENT_ERROR) {
        fprintf(stderr, "%s: %s\n", prog, synq_fwpclient_reply_error_text(reply));
        synq_fwpclient_reply_release(reply);
    } else {
        rc = 0;
    }
    synq_fwpclient_free(c);
    return rc;
}

static void print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
    }
    free(s);
}

/* ---- tables ---- */

typedef struct {
    size_t ncols;
    const char *const *head;
    const bool *right; /* right-align this column */
    char **cells;      /* nrows * ncols, owned */
    size_t nrows;
} table_t;

static void table_add(table_t *t, char **row)
{
    t->cells = synq_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof *t->cells);
    memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof *row);
    t->nrows++;
}

static void table_print_release(table_t *t)
{
    size_t *w = synq_calloc(t->ncols, sizeof *w);
    for (size_t c = 0; c < t->ncols; c++)
        w[c] = strlen(t->head[c]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++)
            w[c] = SYNQ_MAX(w[c], strlen(t->cells[r * t->ncols + c]));
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
            bool last = c + 1 == t->ncols;
            if (t->right[c])
                printf("%*s%s", (int)w[c], s, last ? "" : "  ");
            else if (last)
                printf("%s", s);
            else
                printf("%-*s  ", (int)w[c], s);
        }
        putchar('\n');
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(w);
    t->cells = NULL;
    t->nrows = 0;
}

/* A cell from a JSON value: strings as they are, null as "-", else JSON. */
static char *cell(const json_t *v)
{
    if (v == NULL || json_is_null(v)) return synq_strdup("-");
    if (json_is_string(v)) return synq_strdup(json_string_value(v));
    if (json_is_true(v)) return synq_strdup("yes");
    if (json_is_false(v)) return synq_strdup("no");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r = synq_strdup(s ? s : "?");
    free(s);
    return r;
}

/* ---- enqueue ---- */

static const char enqueue_help[] =
    "usage: synq enqueue [options] TYPE [ARGS_JSON]\n"
    "\n"
    "Enqueues one job of type TYPE and prints the stored job as JSON.\n"
    "ARGS_JSON is any JSON value (default []); \"-\" reads it from stdin.\n"
    "With a Faktory address (tcp://) the job is PUSHed as a Faktory job (args\n"
    "an array: another value is wrapped in one; --id is the jid; no\n"
    "--priority) and printed as pushed.\n"
    "\n"
    "  -q, --queue Q          queue name (default \"default\")\n"
    "  -p, --priority N       1-9, higher runs first (default 5)\n"
    "  -d, --delay D          run after a duration: \"30s\", \"5m\", \"1h30m\"\n"
    "  -t, --run-at TIME      run at an RFC 3339 time (not with --delay)\n"
    "  -r, --retry N          retries before the job is dead, 0-1000 (default 25)\n"
    "      --id ID            the job id (default: the server makes one)\n"
    "      --reserve-for D    lease length: whole seconds or a duration (default 30m)\n"
    "      --custom JSON      a JSON object stored with the job\n"
    "      --print-id         print only the job id\n" SERVER_HELP;

enum { OPT_ID = 256, OPT_RESERVE, OPT_CUSTOM, OPT_PRINT_ID, OPT_JSON, OPT_CURSOR, OPT_LIMIT };

/* The Faktory job (reference §1.7) for a synq job request built from the
 * flags: id -> jid (else 24 random hex digits), type -> jobtype, args (an
 * array as it is, another value wrapped in one, none -> []), queue, retry,
 * reserve_for and custom as they are, delay or run_at -> at (RFC 3339 UTC).
 * Returns 0 and *out (new reference), or an exit status after printing
 * why: EXIT_USAGE for --priority (Faktory jobs have none), 1 when no random
 * jid could be made. */
static int fwp_job_make(const char *prog, const json_t *req, json_t **out)
{
    static const char *const same[] = {"queue", "retry", "reserve_for", "custom"};
    json_t *job = NULL;
    *out = NULL;
    if (json_object_get(req, "priority"))
        return usage_error(prog, "%s",
                           "Faktory jobs have no priority (--priority needs the HTTP API)");
    job = json_object();
    const char *id = json_string_value(json_object_get(req, "id"));
    if (id) {
        json_object_set_new(job, "jid", json_string(id));
    } else {
        char jid[2 * JID_BYTES + 1];
        int err = synq_fwpclient_random_hex(jid, JID_BYTES);
        if (err < 0) {
            fprintf(stderr, "%s: cannot make a job id: %s\n", prog, strerror(-err));
            json_decref(job);
            return 1;
        }
        json_object_set_new(job, "jid", json_string(jid));
    }
    json_object_set(job, "jobtype", json_object_get(req, "type"));
    json_t *args = json_object_get(req, "args");
    if (args == NULL)
        json_object_set_new(job, "args", json_array());
    else if (json_is_array(args))
        json_object_set(job, "args", args);
    else
        json_object_set_new(job, "args", json_pack("[O]", args));
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(same); i++) {
        json_t *v = json_object_get(req, same[i]);
        if (v) json_object_set(job, same[i], v);
    }
    /* both were checked when the flags were read */
    const char *delay = json_string_value(json_object_get(req, "delay"));
    const char *run_at = json_string_value(json_object_get(req, "run_at"));
    if (delay || run_at) {
        int64_t at_us = 0;
        char at[40];
        if (delay) {
            synq_duration_parse(delay, strlen(delay), &at_us);
            at_us += synq_time_now_us();
        } else {
            synq_rfc3339_parse(run_at, strlen(run_at), &at_us);
        }
        synq_rfc3339_format(at_us, at);
        json_object_set_new(job, "at", json_string(at));
    }
    *out = job;
    return 0;
}

/* `synq enqueue` over FWP: PUSH the job made from req. Returns an exit
 * status; on 0 *out is the job as pushed (new reference). */
static int enqueue_fwp(const char *prog, const char *url, const json_t *req, json_t **out)
{
    json_t *job = NULL;
    char *text = NULL;
    synq_fwpclient_reply_t reply = {0};
    int rc = fwp_job_make(prog, req, &job);
    if (rc != 0) goto cleanup;
    text = json_dumps(job, JSON_COMPACT);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot encode the job\n", prog);
        rc = 1;
        goto cleanup;
    }
    rc = fwp_call(prog, url, "PUSH", text, &reply);
    if (rc != 0) goto cleanup;
    if (reply.kind != SYNQ_FWPCLIENT_SIMPLE || strcmp(reply.data, "OK") != 0) {
        fprintf(stderr, "%s: unexpected reply to PUSH\n", prog);
        rc = 1;
        goto cleanup;
    }
    *out = job;
    job = NULL;

cleanup:
    synq_fwpclient_reply_release(&reply);
    json_decref(job);
    free(text);
    return rc;
}

int synq_cli_enqueue(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queue", required_argument, NULL, 'q'},
        {"priority", required_argument, NULL, 'p'},
        {"delay", required_argument, NULL, 'd'},
        {"run-at", required_argument, NULL, 't'},
        {"retry", required_argument, NULL, 'r'},
        {"id", required_argument, NULL, OPT_ID},
        {"reserve-for", required_argument, NULL, OPT_RESERVE},
        {"custom", required_argument, NULL, OPT_CUSTOM},
        {"print-id", no_argument, NULL, OPT_PRINT_ID},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = EXIT_USAGE;
    cmdline_t cl = {0};
    json_t *job = json_object(), *out = NULL;
    const char *server = NULL;
    bool print_id = false;
    char *stdin_text = NULL;
    long n;
    int64_t us;

    cmdline_init(&cl, argc, argv);
    int ch;
    while ((ch = getopt_long(cl.argc, cl.argv, "q:p:d:t:r:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'q':
            json_object_set_new(job, "queue", json_string(optarg));
            break;
        case 'p':
            if (parse_int(optarg, LONG_MIN, LONG_MAX, &n) < 0) {
                rc = usage_error(cl.name, "--priority wants a whole number, not '%s'", optarg);
                goto cleanup;
            }
            json_object_set_new(job, "priority", json_integer(n));
            break;
        case 'd':
            if (synq_duration_parse(optarg, strlen(optarg), &us) < 0) {
                rc = usage_error(cl.name, "--delay wants a duration such as 30s or 5m, not '%s'",
                                 optarg);
                goto cleanup;
            }
            json_object_set_new(job, "delay", json_string(optarg));
            break;
        case 't':
            if (synq_rfc3339_parse(optarg, strlen(optarg), &us) < 0) {
                rc = usage_error(cl.name,
                                 "--run-at wants an RFC 3339 time such as 2026-01-02T15:04:05Z, "
                                 "not '%s'",
                                 optarg);
                goto cleanup;
            }
            json_object_set_new(job, "run_at", json_string(optarg));
            break;
        case 'r':
            if (parse_int(optarg, LONG_MIN, LONG_MAX, &n) < 0) {
                rc = usage_error(cl.name, "--retry wants a whole number, not '%s'", optarg);
                goto cleanup;
            }
            json_object_set_new(job, "retry", json_integer(n));
            break;
        case OPT_ID:
            json_object_set_new(job, "id", json_string(optarg));
            break;
        case OPT_RESERVE:
            if (synq_duration_parse(optarg, strlen(optarg), &us) < 0 || us % SYNQ_US_PER_SEC != 0) {
                rc = usage_error(cl.name, "--reserve-for wants whole seconds (30, 10m), not '%s'",
                                 optarg);
                goto cleanup;
            }
            json_object_set_new(job, "reserve_for", json_integer(us / SYNQ_US_PER_SEC));
            break;
        case OPT_CUSTOM: {
            json_t *v = json_loads(optarg, 0, NULL);
            if (!json_is_object(v)) {
                json_decref(v);
                rc = usage_error(cl.name, "--custom wants a JSON object, not '%s'", optarg);
                goto cleanup;
            }
            json_object_set_new(job, "custom", v);
            break;
        }
        case OPT_PRINT_ID:
            print_id = true;
            break;
        case 's':
            server = optarg;
            break;
        case 'h':
            fputs(enqueue_help, stdout);
            rc = 0;
            goto cleanup;
        default:
            rc = usage_error(cl.name, NULL);
            goto cleanup;
        }
    }
    if (json_object_get(job, "delay") && json_object_get(job, "run_at")) {
        rc = usage_error(cl.name, "%s", "give --delay or --run-at, not both");
        goto cleanup;
    }
    int nargs = cl.argc - optind;
    if (nargs < 1 || nargs > 2) {
        rc = usage_error(cl.name, "%s", nargs < 1 ? "missing TYPE" : "too many arguments");
        goto cleanup;
    }
    const char *type = cl.argv[optind];
    if (*type == '\0') {
        rc = usage_error(cl.name, "%s", "TYPE must not be empty");
        goto cleanup;
    }
    json_object_set_new(job, "type", json_string(type));
    if (nargs == 2) {
        const char *text = cl.argv[optind + 1];
        size_t len = strlen(text);
        if (strcmp(text, "-") == 0) {
            stdin_text = read_stdin(&len);
            if (stdin_text == NULL) {
                rc = usage_error(cl.name, "%s", "ARGS_JSON on stdin is too large");
                goto cleanup;
            }
            text = stdin_text;
        }
        json_error_t jerr;
        json_t *args = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
        if (args == NULL) {
            rc = usage_error(cl.name, "ARGS_JSON is not JSON: %s (column %d)", jerr.text,
                             jerr.column);
            goto cleanup;
        }
        json_object_set_new(job, "args", args);
    }

    const char *url;
    if ((rc = server_pick(cl.name, server, &url)) != 0) goto cleanup;
    bool fwp = synq_client_url_is_fwp(url);
    if (fwp) {
        rc = enqueue_fwp(cl.name, url, job, &out);
    } else {
        synq_client_global_init();
        rc = call(cl.name, url, "POST", "/v1/jobs", job, 201, &out);
        synq_client_global_release();
    }
    if (rc == 0) {
        const char *id = json_string_value(json_object_get(out, fwp ? "jid" : "id"));
        if (print_id)
            printf("%s\n", id ? id : "");
        else
            print_json(out);
    }

cleanup:
    json_decref(job);
    json_decref(out);
    free(stdin_text);
    cmdline_release(&cl);
    return rc;
}

/* ---- job ---- */

static const char job_help[] = "usage: synq job [options] ID\n"
                               "\n"
                               "Prints the job ID as JSON.\n"
                               "\n" SERVER_HELP;

int synq_cli_job(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = EXIT_USAGE;
    cmdline_t cl = {0};
    const char *server = NULL;
    json_t *out = NULL;
    char *id = NULL, *path = NULL;

    cmdline_init(&cl, argc, argv);
    int ch;
    while ((ch = getopt_long(cl.argc, cl.argv, "s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            server = optarg;
            break;
        case 'h':
            fputs(job_help, stdout);
            rc = 0;
            goto cleanup;
        default:
            rc = usage_error(cl.name, NULL);
            goto cleanup;
        }
    }
    if (cl.argc - optind != 1) {
        rc = usage_error(cl.name, "%s", cl.argc - optind < 1 ? "missing ID" : "too many arguments");
        goto cleanup;
    }
    if (cl.argv[optind][0] == '\0') {
        rc = usage_error(cl.name, "%s", "ID must not be empty");
        goto cleanup;
    }
    id = synq_client_escape(cl.argv[optind]);
    size_t plen = strlen(id) + 16;
    path = synq_malloc(plen);
    snprintf(path, plen, "/v1/jobs/%s", id);

    const char *url;
    if ((rc = server_pick(cl.name, server, &url)) != 0 || (rc = need_http(cl.name, url)) != 0)
        goto cleanup;
    synq_client_global_init();
    rc = call(cl.name, url, "GET", path, NULL, 200, &out);
    synq_client_global_release();
    if (rc == 0) print_json(out);

cleanup:
    json_decref(out);
    free(id);
    free(path);
    cmdline_release(&cl);
    return rc;
}

/* ---- jobs ---- */

static const char jobs_help[] =
    "usage: synq jobs [options]\n"
    "\n"
    "Lists jobs, newest first, as a table (or the server's JSON with --json).\n"
    "When there are more, the --cursor for the next page is printed on stderr.\n"
    "\n"
    "  -q, --queue Q          only jobs of queue Q\n"
    "      --state S          only jobs in state S: scheduled, queued, active,\n"
    "                         retry, completed, dead, cancelled\n"
    "      --type T           only jobs of type T\n"
    "  -n, --limit N          at most N jobs, 1-1000 (default 50)\n"
    "      --cursor C         continue after a previous page\n"
    "      --json             print the JSON response\n" SERVER_HELP;

static void query_add(synq_buf_t *q, const char *name, const char *value)
{
    if (value == NULL) return;
    char *e = synq_client_escape(value);
    synq_buf_printf(q, "%c%s=%s", q->len ? '&' : '?', name, e);
    free(e);
}

int synq_cli_jobs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"queue", required_argument, NULL, 'q'},
        {"state", required_argument, NULL, 'S'},
        {"type", required_argument, NULL, 'T'},
        {"limit", required_argument, NULL, 'n'},
        {"cursor", required_argument, NULL, OPT_CURSOR},
        {"json", no_argument, NULL, OPT_JSON},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const head[] = {"ID",  "STATE",    "QUEUE",  "TYPE",
                                       "PRI", "ATTEMPTS", "CREATED"};
    static const bool right[] = {false, false, false, false, true, true, false};
    int rc = EXIT_USAGE;
    cmdline_t cl = {0};
    const char *server = NULL, *queue = NULL, *state = NULL, *type = NULL, *limit = NULL,
               *cursor = NULL;
    bool as_json = false;
    json_t *out = NULL;
    synq_buf_t path, query;
    long n;

    synq_buf_init(&path);
    synq_buf_init(&query);
    cmdline_init(&cl, argc, argv);
    int ch;
    while ((ch = getopt_long(cl.argc, cl.argv, "q:n:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'q':
            queue = optarg;
            break;
        case 'S':
            state = optarg;
            break;
        case 'T':
            type = optarg;
            break;
        case 'n':
            if (parse_int(optarg, 1, INT_MAX, &n) < 0) {
                rc =
                    usage_error(cl.name, "--limit wants a positive whole number, not '%s'", optarg);
                goto cleanup;
            }
            limit = optarg;
            break;
        case OPT_CURSOR:
            cursor = optarg;
            break;
        case OPT_JSON:
            as_json = true;
            break;
        case 's':
            server = optarg;
            break;
        case 'h':
            fputs(jobs_help, stdout);
            rc = 0;
            goto cleanup;
        default:
            rc = usage_error(cl.name, NULL);
            goto cleanup;
        }
    }
    if (optind < cl.argc) {
        rc = usage_error(cl.name, "unexpected argument '%s'", cl.argv[optind]);
        goto cleanup;
    }
    query_add(&query, "queue", queue);
    query_add(&query, "state", state);
    query_add(&query, "type", type);
    query_add(&query, "limit", limit);
    query_add(&query, "cursor", cursor);
    synq_buf_printf(&path, "/v1/jobs%s", query.len ? query.data : "");

    const char *url;
    if ((rc = server_pick(cl.name, server, &url)) != 0 || (rc = need_http(cl.name, url)) != 0)
        goto cleanup;
    synq_client_global_init();
    rc = call(cl.name, url, "GET", path.data, NULL, 200, &out);
    synq_client_global_release();
    if (rc != 0) goto cleanup;
    if (as_json) {
        print_json(out);
        goto cleanup;
    }
    json_t *jobs = json_object_get(out, "jobs");
    if (!json_is_array(jobs)) {
        fprintf(stderr, "%s: unexpected response: no \"jobs\" array\n", cl.name);
        rc = 1;
        goto cleanup;
    }
    table_t t = {.ncols = SYNQ_ARRAY_LEN(head), .head = head, .right = right};
    for (size_t i = 0; i < json_array_size(jobs); i++) {
        json_t *j = json_array_get(jobs, i);
        char *row[] = {
            cell(json_object_get(j, "id")),         cell(json_object_get(j, "state")),
            cell(json_object_get(j, "queue")),      cell(json_object_get(j, "type")),
            cell(json_object_get(j, "priority")),   cell(json_object_get(j, "attempts")),
            cell(json_object_get(j, "created_at")),
        };
        table_add(&t, row);
    }
    table_print_release(&t);
    const char *next = json_string_value(json_object_get(out, "next_cursor"));
    if (next) {
        fflush(stdout);
        fprintf(stderr, "more: --cursor %s\n", next);
    }

cleanup:
    json_decref(out);
    synq_buf_release(&path);
    synq_buf_release(&query);
    cmdline_release(&cl);
    return rc;
}

/* ---- queues ---- */

static const char queues_help[] =
    "usage: synq queues [options]\n"
    "\n"
    "Lists the queues with their job counts by state as a table. LATENCY is\n"
    "the age of the oldest queued job. With a Faktory address (tcp://) it\n"
    "sends INFO and lists each queue's size (--json: the INFO reply).\n"
    "\n"
    "      --json             print the JSON response\n" SERVER_HELP;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* `synq queues` over FWP: INFO, then its faktory.queues as a table of
 * name and size, by name (or INFO itself with --json). Returns an exit
 * status. */
static int queues_fwp(const char *prog, const char *url, bool as_json)
{
    static const char *const head[] = {"QUEUE", "SIZE"};
    static const bool right[] = {false, true};
    synq_fwpclient_reply_t reply = {0};
    json_t *info = NULL;
    const char **names = NULL;
    int rc = fwp_call(prog, url, "INFO", NULL, &reply);
    if (rc != 0) goto cleanup;
    rc = 1;
    if (reply.kind == SYNQ_FWPCLIENT_BULK) info = json_loadb(reply.data, reply.len, 0, NULL);
    json_t *queues = json_object_get(json_object_get(info, "faktory"), "queues");
    if (!json_is_object(queues)) {
        fprintf(stderr, "%s: unexpected reply to INFO: no faktory.queues object\n", prog);
        goto cleanup;
    }
    rc = 0;
    if (as_json) {
        print_json(info);
        goto cleanup;
    }
    size_t n = 0;
    const char *k;
    json_t *v;
    names = synq_calloc(json_object_size(queues) + 1, sizeof *names);
    json_object_foreach(queues, k, v) names[n++] = k;
    qsort(names, n, sizeof *names, name_cmp);
    table_t t = {.ncols = SYNQ_ARRAY_LEN(head), .head = head, .right = right};
    for (size_t i = 0; i < n; i++) {
        char *row[SYNQ_ARRAY_LEN(head)] = {synq_strdup(names[i]),
                                           cell(json_object_get(queues, names[i]))};
        table_add(&t, row);
    }
    table_print_release(&t);

cleanup:
    free(names);
    json_decref(info);
    synq_fwpclient_reply_release(&reply);
    return rc;
}

int synq_cli_queues(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const head[] = {"QUEUE",     "PAUSED",    "SIZE",     "LATENCY",
                                       "SCHEDULED", "QUEUED",    "ACTIVE",   "RETRY",
                                       "DEAD",      "COMPLETED", "CANCELLED"};
    static const bool right[] = {false, false, true, true, true, true,
                                 true,  true,  true, true, true};
    static const char *const counted[] = {"scheduled", "queued",    "active",   "retry",
                                          "dead",      "completed", "cancelled"};
    int rc = EXIT_USAGE;
    cmdline_t cl = {0};
    const char *server = NULL;
    bool as_json = false;
    json_t *out = NULL;

    cmdline_init(&cl, argc, argv);
    int ch;
    while ((ch = getopt_long(cl.argc, cl.argv, "s:h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_JSON:
            as_json = true;
            break;
        case 's':
            server = optarg;
            break;
        case 'h':
            fputs(queues_help, stdout);
            rc = 0;
            goto cleanup;
        default:
            rc = usage_error(cl.name, NULL);
            goto cleanup;
        }
    }
    if (optind < cl.argc) {
        rc = usage_error(cl.name, "unexpected argument '%s'", cl.argv[optind]);
        goto cleanup;
    }

    const char *url;
    if ((rc = server_pick(cl.name, server, &url)) != 0) goto cleanup;
    if (synq_client_url_is_fwp(url)) {
        rc = queues_fwp(cl.name, url, as_json);
        goto cleanup;
    }
    synq_client_global_init();
    rc = call(cl.name, url, "GET", "/v1/queues", NULL, 200, &out);
    synq_client_global_release();
    if (rc != 0) goto cleanup;
    if (as_json) {
        print_json(out);
        goto cleanup;
    }
    json_t *queues = json_object_get(out, "queues");
    if (!json_is_array(queues)) {
        fprintf(stderr, "%s: unexpected response: no \"queues\" array\n", cl.name);
        rc = 1;
        goto cleanup;
    }
    table_t t = {.ncols = SYNQ_ARRAY_LEN(head), .head = head, .right = right};
    for (size_t i = 0; i < json_array_size(queues); i++) {
        json_t *q = json_array_get(queues, i);
        char *row[SYNQ_ARRAY_LEN(head)];
        json_t *counts = json_object_get(q, "counts");
        json_t *lat = json_object_get(q, "latency");
        row[0] = cell(json_object_get(q, "name"));
        row[1] = cell(json_object_get(q, "paused"));
        row[2] = cell(json_object_get(q, "size"));
        if (json_is_number(lat)) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.2fs", json_number_value(lat));
            row[3] = synq_strdup(tmp);
        } else {
            row[3] = cell(lat);
        }
        for (size_t k = 0; k < SYNQ_ARRAY_LEN(counted); k++)
            row[4 + k] = cell(json_object_get(counts, counted[k]));
        table_add(&t, row);
    }
    table_print_release(&t);

cleanup:
    json_decref(out);
    cmdline_release(&cl);
    return rc;
}

/* ---- cron ---- */

static const char cron_help[] =
    "usage: synq cron <command> [options]\n\n"
    "commands:\n"
    "  ls                          list schedules with their next fire\n"
    "  show NAME                   one schedule with its next fires and recent runs\n"
    "  add NAME EXPR -- COMMAND..  create or replace an exec schedule running COMMAND\n"
    "                              (one argument is run by /bin/sh -c, several as argv)\n"
    "  rm NAME                     delete a schedule\n"
    "  run NAME                    fire now, outside the timetable\n"
    "  pause NAME | resume NAME    stop and restart firing\n"
    "  next EXPR                   print the next fire times (computed here, no server)\n"
    "  import FILE                 load a crontab file (reloading updates, adds, removes)\n\n"
    "options:\n"
    "      --tz ZONE              time zone of EXPR (add, next; default UTC)\n"
    "  -n N                       how many fire times (next; default 10)\n"
    "      --after TIME           start after this RFC 3339 time (next; default now)\n"
    "      --overlap POLICY       allow, forbid or replace (add)\n"
    "      --catchup POLICY       none, latest or all (add)\n"
    "      --timeout DURATION     kill the command after this long (add)\n"
    "      --retry N              retries when the command fails (add)\n"
    "      --json                 print JSON (ls)\n" SERVER_HELP;

enum { OPT_TZ = 300, OPT_AFTER, OPT_OVERLAP, OPT_CATCHUP, OPT_TIMEOUT, OPT_RETRY };

static int cron_next_local(const char *prog, const char *expr, const char *tz, long n,
                           const char *after)
{
    int64_t t = synq_time_now_us();
    if (after && synq_rfc3339_parse(after, strlen(after), &t) != 0)
        return usage_error(prog, "--after: not an RFC 3339 time");
    synq_buf_t out;
    synq_buf_init(&out);
    char err[300];
    if (synq_sched_preview(expr, tz, t, (int)n, &out, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        synq_buf_release(&out);
        return 1;
    }
    json_t *v = json_loadb(out.data, out.len, 0, NULL);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(v, "next"), i, f) puts(json_string_value(f));
    if (json_array_size(json_object_get(v, "next")) == 0) fprintf(stderr, "%s: never fires\n", prog);
    json_decref(v);
    synq_buf_release(&out);
    return 0;
}

static int cron_import(const char *prog, const char *server, const char *file)
{
    char real[PATH_MAX];
    FILE *fp = realpath(file, real) ? fopen(real, "rb") : NULL;
    if (!fp) {
        fprintf(stderr, "%s: cannot read %s: %s\n", prog, file, strerror(errno));
        return 1;
    }
    synq_buf_t text;
    synq_buf_init(&text);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) synq_buf_append(&text, chunk, n);
    fclose(fp);
    const char *base = strrchr(real, '/');
    char source[PATH_MAX + 16];
    snprintf(source, sizeof source, "crontab:%s", real);
    char *src = synq_client_escape(source), *pre = synq_client_escape(base ? base + 1 : real);
    synq_buf_t path;
    synq_buf_init(&path);
    synq_buf_printf(&path, "/v1/schedules/import?source=%s&prefix=%s", src, pre);
    json_t *body = json_pack("{s:s%}", "text", text.data ? text.data : "", text.len);
    json_t *out = NULL;
    int rc = call(prog, server, "POST", path.data, body, 200, &out);
    if (rc == 0) print_json(out);
    json_decref(out);
    json_decref(body);
    free(src);
    free(pre);
    synq_buf_release(&path);
    synq_buf_release(&text);
    return rc;
}

static int cron_list(const char *prog, const char *server, bool as_json)
{
    json_t *out = NULL;
    int rc = call(prog, server, "GET", "/v1/schedules", NULL, 200, &out);
    if (rc) return rc;
    if (as_json) {
        print_json(out);
        json_decref(out);
        return 0;
    }
    static const char *const head[] = {"NAME", "WHEN", "TZ", "PAUSED", "NEXT", "LAST JOB"};
    static const bool right[] = {false, false, false, false, false, false};
    table_t t = {.ncols = 6, .head = head, .right = right};
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(out, "schedules"), i, s)
    {
        const json_t *when = json_object_get(s, "cron");
        char *w;
        if (json_is_string(when))
            w = synq_strdup(json_string_value(when));
        else if (json_is_string(json_object_get(s, "every"))) {
            w = synq_malloc(80);
            snprintf(w, 80, "@every %s", json_string_value(json_object_get(s, "every")));
        } else {
            w = synq_malloc(80);
            snprintf(w, 80, "at %s", json_string_value(json_object_get(s, "at")));
        }
        char *row[6] = {cell(json_object_get(s, "name")), w, cell(json_object_get(s, "tz")),
                        cell(json_object_get(s, "paused")),
                        cell(json_object_get(s, "next_fire_at")),
                        cell(json_object_get(s, "last_job_id"))};
        table_add(&t, row);
    }
    table_print_release(&t);
    json_decref(out);
    return 0;
}

typedef struct {
    const char *server, *tz, *after, *overlap, *catchup, *timeout;
    long n, retry;
    bool as_json;
} cron_opts_t;

/* Applies one getopt result. Returns 0, 1 for --help, or an exit status
 * (EXIT_USAGE) after printing the problem. */
static int cron_opt(cron_opts_t *o, int ch, const char *name)
{
    switch (ch) {
    case OPT_TZ: o->tz = optarg; break;
    case OPT_AFTER: o->after = optarg; break;
    case OPT_OVERLAP: o->overlap = optarg; break;
    case OPT_CATCHUP: o->catchup = optarg; break;
    case OPT_TIMEOUT: o->timeout = optarg; break;
    case OPT_RETRY:
        if (parse_int(optarg, 0, 1000, &o->retry))
            return usage_error(name, "--retry: must be an integer from 0 to 1000");
        break;
    case OPT_JSON: o->as_json = true; break;
    case 'n':
        if (parse_int(optarg, 1, 1000, &o->n))
            return usage_error(name, "-n: must be an integer from 1 to 1000");
        break;
    case 's': o->server = optarg; break;
    case 'h': fputs(cron_help, stdout); return 1;
    default: return usage_error(name, NULL);
    }
    return 0;
}

int synq_cli_cron(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tz", required_argument, NULL, OPT_TZ},
        {"after", required_argument, NULL, OPT_AFTER},
        {"overlap", required_argument, NULL, OPT_OVERLAP},
        {"catchup", required_argument, NULL, OPT_CATCHUP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retry", required_argument, NULL, OPT_RETRY},
        {"json", no_argument, NULL, OPT_JSON},
        {"server", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc = EXIT_USAGE;
    cmdline_t cl = {0};
    cron_opts_t o = {.n = 10, .retry = -1};
    json_t *def = NULL, *out = NULL;
    char *esc = NULL, path[600];
    int nargs = 0, ncmd = 0, ch, orc;
    char *args[3] = {NULL, NULL, NULL};
    char **cmd = NULL;
    const char *sub;

    cmdline_init(&cl, argc, argv);
    /* "+": stop at the first non-option so that "add NAME EXPR -- cmd -x" works */
    while ((ch = getopt_long(cl.argc, cl.argv, "+s:hn:", opts, NULL)) != -1)
        if ((orc = cron_opt(&o, ch, cl.name)) != 0) {
            rc = orc == 1 ? 0 : orc;
            goto cleanup;
        }
    if (optind >= cl.argc) {
        rc = usage_error(cl.name, "a subcommand is required");
        goto cleanup;
    }
    sub = cl.argv[optind++];
    /* options may also follow the subcommand's arguments (up to "--") */
    while (optind < cl.argc) {
        if (strcmp(cl.argv[optind], "--") == 0) {
            cmd = cl.argv + optind + 1;
            ncmd = cl.argc - optind - 1;
            break;
        }
        if (cl.argv[optind][0] == '-' && cl.argv[optind][1]) {
            ch = getopt_long(cl.argc, cl.argv, "+s:hn:", opts, NULL);
            if (ch == -1) continue;
            if ((orc = cron_opt(&o, ch, cl.name)) != 0) {
                rc = orc == 1 ? 0 : orc;
                goto cleanup;
            }
            continue;
        }
        if (nargs == 3) {
            rc = usage_error(cl.name, "unexpected argument %s", cl.argv[optind]);
            goto cleanup;
        }
        args[nargs++] = cl.argv[optind++];
    }
    const char *server = NULL;
    /* `next` is computed here; everything else needs the HTTP API */
    if (strcmp(sub, "next") != 0 && ((rc = server_pick(cl.name, o.server, &server)) != 0 ||
                                     (rc = need_http(cl.name, server)) != 0))
        goto cleanup;
    rc = EXIT_USAGE;
    int want = strcmp(sub, "add") == 0 ? 2 : (strcmp(sub, "ls") == 0 ? 0 : 1);
    if (nargs != want) {
        rc = usage_error(cl.name, "%s takes %d argument%s", sub, want, want == 1 ? "" : "s");
        goto cleanup;
    }
    if (strcmp(sub, "add") != 0 && cmd) {
        rc = usage_error(cl.name, "only add takes a command after --");
        goto cleanup;
    }
    if (nargs >= 1) esc = synq_client_escape(args[0]);
    if (strcmp(sub, "ls") == 0) {
        rc = cron_list(cl.name, server, o.as_json);
    } else if (strcmp(sub, "next") == 0) {
        rc = cron_next_local(cl.name, args[0], o.tz, o.n, o.after);
    } else if (strcmp(sub, "import") == 0) {
        rc = cron_import(cl.name, server, args[0]);
    } else if (strcmp(sub, "show") == 0) {
        snprintf(path, sizeof path, "/v1/schedules/%s?next=5&runs=20", esc);
        rc = call(cl.name, server, "GET", path, NULL, 200, &out);
        if (rc == 0) print_json(out);
    } else if (strcmp(sub, "rm") == 0) {
        snprintf(path, sizeof path, "/v1/schedules/%s", esc);
        rc = call(cl.name, server, "DELETE", path, NULL, 204, NULL);
    } else if (strcmp(sub, "run") == 0 || strcmp(sub, "pause") == 0 ||
               strcmp(sub, "resume") == 0) {
        snprintf(path, sizeof path, "/v1/schedules/%s/%s", esc,
                 strcmp(sub, "run") == 0 ? "trigger" : sub);
        rc = call(cl.name, server, "POST", path, NULL, 200, &out);
        if (rc == 0) print_json(out);
    } else if (strcmp(sub, "add") == 0) {
        if (!cmd || ncmd == 0) {
            rc = usage_error(cl.name, "add needs a command after --");
            goto cleanup;
        }
        json_t *ex = json_object();
        if (ncmd == 1) {
            json_object_set_new(ex, "shell", json_string(cmd[0]));
        } else {
            json_t *av = json_array();
            for (int i = 0; i < ncmd; i++) json_array_append_new(av, json_string(cmd[i]));
            json_object_set_new(ex, "argv", av);
        }
        if (o.timeout) json_object_set_new(ex, "timeout", json_string(o.timeout));
        def = json_pack("{s:s, s:o}", "cron", args[1], "exec", ex);
        if (o.tz) json_object_set_new(def, "tz", json_string(o.tz));
        if (o.overlap) json_object_set_new(def, "overlap", json_string(o.overlap));
        if (o.catchup) json_object_set_new(def, "catchup", json_string(o.catchup));
        if (o.retry >= 0) json_object_set_new(def, "retry", json_integer(o.retry));
        snprintf(path, sizeof path, "/v1/schedules/%s", esc);
        rc = call(cl.name, server, "PUT", path, def, 0, &out);
        if (rc == 0) print_json(out);
    } else {
        rc = usage_error(cl.name, "unknown subcommand %s", sub);
    }

cleanup:
    json_decref(def);
    json_decref(out);
    free(esc);
    cmdline_release(&cl);
    return rc;
}
