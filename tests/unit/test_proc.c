/* Unit tests for engine/proc: real child processes (sh, cat, sleep, seq,
 * printf, env, pwd from the system) on a real loop. Each test runs its own
 * loop until nothing is left and then checks that uv_loop_close() succeeds,
 * so a handle the module forgot to close fails the test, and ASan catches
 * what it forgot to free. Every result's texts are checked to be
 * NUL-terminated, NUL-free and valid UTF-8 (jansson accepts them). */
#include "engine/proc.h"

#include "core/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define MS 1000000ULL /* nanoseconds, for uv_hrtime() differences */
#define FFFD "\xEF\xBF\xBD"

/* What the callback saw, copied out of the borrowed result. */
typedef struct {
    int calls;
    synq_proc_result_t res; /* out/err point to the copies below */
    char *out, *err;
    uint64_t start_ns, done_ns;
    synq_proc_t *proc;
    bool kill_in_cb; /* calls synq_proc_kill() from the callback (a no-op) */
} outcome_t;

static void assert_text_ok(const char *s, size_t len)
{
    assert_non_null(s);
    assert_int_equal(s[len], '\0');
    assert_int_equal(strlen(s), len);
    json_t *j = json_stringn(s, len); /* NULL for invalid UTF-8 */
    assert_non_null(j);
    json_decref(j);
}

static void on_done(const synq_proc_result_t *res, void *arg)
{
    outcome_t *o = arg;
    o->calls++;
    o->done_ns = uv_hrtime();
    assert_text_ok(res->out, res->out_len);
    assert_text_ok(res->err, res->err_len);
    o->res = *res;
    o->out = strndup(res->out, res->out_len);
    o->err = strndup(res->err, res->err_len);
    o->res.out = o->out;
    o->res.err = o->err;
    if (o->kill_in_cb) synq_proc_kill(o->proc);
}

static void outcome_release(outcome_t *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

static synq_proc_t *start(uv_loop_t *loop, const synq_proc_opts_t *opts, outcome_t *o)
{
    bool kill_in_cb = o->kill_in_cb;
    memset(o, 0, sizeof *o);
    o->kill_in_cb = kill_in_cb;
    o->start_ns = uv_hrtime();
    synq_proc_t *p = NULL;
    assert_int_equal(synq_proc_start(loop, opts, on_done, o, &p), 0);
    assert_non_null(p);
    o->proc = p;
    assert_int_equal(o->calls, 0); /* never from inside start */
    return p;
}

static void finish(uv_loop_t *loop, outcome_t *o)
{
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(o->calls, 1);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void run(const synq_proc_opts_t *opts, outcome_t *o)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    start(&loop, opts, o);
    finish(&loop, o);
}

/* Runs argv with default options and returns stdout (the caller frees). */
static char *run_out(const char *const *argv, size_t tail_bytes, outcome_t *o)
{
    synq_proc_opts_t opts = {.argv = argv, .tail_bytes = tail_bytes};
    run(&opts, o);
    assert_int_equal(o->res.spawn_error, 0);
    char *out = o->out;
    o->out = NULL;
    outcome_release(o);
    return out;
}

static void assert_exited(const outcome_t *o, int status)
{
    assert_int_equal(o->res.spawn_error, 0);
    assert_int_equal(o->res.term_signal, 0);
    assert_int_equal(o->res.exit_status, status);
    assert_false(o->res.timed_out);
}

/* True once pid is gone: no such process, or a zombie waiting for init. */
static bool pid_gone(int pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH) return true;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(int pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (pid_gone(pid)) return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return pid_gone(pid);
}

/* ---- output, status, stdin, environment -------------------------------- */

static void test_echo(void **state)
{
    outcome_t o = {0};
    int64_t before = synq_time_now_us();
    synq_proc_opts_t opts = {.argv = ARGV("echo", "hi")};
    run(&opts, &o);
    int64_t after = synq_time_now_us();
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "hi\n");
    assert_int_equal(o.res.out_len, 3);
    assert_string_equal(o.res.err, "");
    assert_int_equal(o.res.err_len, 0);
    assert_false(o.res.out_truncated);
    assert_false(o.res.err_truncated);
    assert_true(o.res.started_us >= before && o.res.started_us <= after);
    assert_true(o.res.duration_us >= 0 && o.res.duration_us <= after - before);
    outcome_release(&o);
}

static void test_no_output(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("true")};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "");
    assert_string_equal(o.res.err, "");
    outcome_release(&o);
}

static void test_exit_status(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", "exit 3")};
    run(&opts, &o);
    assert_exited(&o, 3);
    outcome_release(&o);
}

static void test_stderr_separate(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", "echo out; echo err >&2; echo out2")};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "out\nout2\n");
    assert_string_equal(o.res.err, "err\n");
    outcome_release(&o);
}

static void test_duration(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sleep", "0.2")};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_true(o.res.duration_us >= 150 * 1000);
    assert_true(o.res.duration_us < 2 * 1000 * 1000);
    outcome_release(&o);
}

static void test_stdin_cat(void **state)
{
    outcome_t o = {0};
    const char in[] = "hello\nworld";
    synq_proc_opts_t opts = {.argv = ARGV("cat"), .input = in, .input_len = strlen(in)};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, in);
    outcome_release(&o);

    /* no input: cat reads EOF at once */
    synq_proc_opts_t none = {.argv = ARGV("cat")};
    run(&none, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "");
    outcome_release(&o);
}

static void test_stdin_read_line(void **state)
{
    outcome_t o = {0};
    const char in[] = "abc\nrest\n";
    synq_proc_opts_t opts = {
        .argv = ARGV("sh", "-c", "read x; echo \"got $x\""), .input = in, .input_len = strlen(in)};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "got abc\n");
    outcome_release(&o);
}

static char *make_input(size_t n)
{
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (i % 61 == 60) ? '\n' : (char)('a' + (i * 7) % 26);
    return s;
}

/* 1 MB through cat: stdin written while stdout is read, neither blocks. */
static void test_stdin_large_round_trip(void **state)
{
    const size_t n = 1024 * 1024;
    char *in = make_input(n);
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("cat"), .input = in, .input_len = n, .tail_bytes = 2 * n};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_int_equal(o.res.out_len, n);
    assert_memory_equal(o.res.out, in, n);
    assert_false(o.res.out_truncated);
    outcome_release(&o);
    free(in);
}

/* Children that never read a 1 MB input: the write ends in EPIPE (SIGPIPE is
 * ignored, as in the server), which must not matter. */
static void test_stdin_ignored(void **state)
{
    const size_t n = 1024 * 1024;
    char *in = make_input(n);
    static const char *const scripts[] = {
        "echo done",                        /* exits at once */
        "exec 0<&-; sleep 0.2; echo done",  /* closes stdin, exits later */
        "sleep 0.2; echo done",             /* exits with unread input */
        "head -c 10 >/dev/null; echo done", /* reads a little */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(scripts); i++) {
        outcome_t o = {0};
        synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", scripts[i]), .input = in, .input_len = n};
        run(&opts, &o);
        assert_exited(&o, 0);
        assert_string_equal(o.res.out, "done\n");
        outcome_release(&o);
    }
    free(in);
}

static void test_env_replaces(void **state)
{
    outcome_t o = {0};
    const char *const env[] = {"FOO=bar", "X=1", NULL};
    synq_proc_opts_t opts = {.argv = ARGV("env"), .env = env};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "FOO=bar\nX=1\n");
    outcome_release(&o);

    assert_int_equal(setenv("SYNQ_PROC_TEST", "inherited", 1), 0);
    synq_proc_opts_t sh = {.argv = ARGV("sh", "-c", "echo \"$FOO|$SYNQ_PROC_TEST\""), .env = env};
    run(&sh, &o);
    assert_string_equal(o.res.out, "bar|\n");
    outcome_release(&o);

    /* NULL: the server's environment */
    sh.env = NULL;
    run(&sh, &o);
    assert_string_equal(o.res.out, "|inherited\n");
    outcome_release(&o);
    unsetenv("SYNQ_PROC_TEST");
}

static void test_cwd(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("pwd"), .cwd = "/"};
    run(&opts, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "/\n");
    outcome_release(&o);

    char here[4096];
    assert_non_null(getcwd(here, sizeof here - 1));
    strcat(here, "\n");
    opts.cwd = NULL;
    run(&opts, &o);
    assert_string_equal(o.res.out, here);
    outcome_release(&o);
}

/* ---- failures to start ------------------------------------------------- */

static void expect_spawn_error(const synq_proc_opts_t *opts, int err)
{
    outcome_t o = {0};
    run(opts, &o); /* run() checks the callback did not come from start */
    assert_int_equal(o.res.spawn_error, err);
    assert_int_equal(o.res.exit_status, 0);
    assert_int_equal(o.res.term_signal, 0);
    assert_false(o.res.timed_out);
    assert_string_equal(o.res.out, "");
    assert_string_equal(o.res.err, "");
    outcome_release(&o);
}

static void test_spawn_errors(void **state)
{
    synq_proc_opts_t opts = {.argv = ARGV("synq-no-such-program-here")};
    expect_spawn_error(&opts, UV_ENOENT);
    opts.argv = ARGV("/nonexistent/program");
    expect_spawn_error(&opts, UV_ENOENT);
    opts.argv = ARGV("/etc/passwd"); /* not executable */
    expect_spawn_error(&opts, UV_EACCES);
    /* the options that would have needed cleanup are ignored cleanly */
    synq_proc_opts_t all = {.argv = ARGV("sh", "-c", "echo never"),
                            .cwd = "/nonexistent-directory",
                            .input = "x",
                            .input_len = 1,
                            .timeout_ms = 50};
    expect_spawn_error(&all, UV_ENOENT);
}

static void test_invalid_options(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    outcome_t o = {0};
    synq_proc_t *p = (synq_proc_t *)&o;
    synq_proc_opts_t opts = {.argv = NULL};
    assert_int_equal(synq_proc_start(&loop, &opts, on_done, &o, &p), SYNQ_EINVAL);
    assert_null(p);
    const char *const empty[] = {NULL};
    opts.argv = empty;
    assert_int_equal(synq_proc_start(&loop, &opts, on_done, &o, &p), SYNQ_EINVAL);
    assert_null(p);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(o.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- timeout and kill -------------------------------------------------- */

static void test_timeout(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sleep", "30"), .timeout_ms = 200};
    run(&opts, &o);
    assert_int_equal(o.res.spawn_error, 0);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_true(o.res.duration_us >= 190 * 1000);
    assert_true(o.res.duration_us < 2 * 1000 * 1000);
    outcome_release(&o);

    /* a fast process is not marked as timed out */
    synq_proc_opts_t quick = {.argv = ARGV("true"), .timeout_ms = 5000};
    run(&quick, &o);
    assert_exited(&o, 0);
    outcome_release(&o);
}

/* The whole group is killed: the background sleep dies with the shell. */
static void test_timeout_kills_grandchild(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", "sleep 30 & echo $!; sleep 30"),
                             .timeout_ms = 300};
    run(&opts, &o);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_true(o.res.duration_us < 3 * 1000 * 1000);
    int grandchild = atoi(o.res.out);
    assert_true(grandchild > 1);
    assert_true(wait_gone(grandchild, 2000));
    outcome_release(&o);
}

/* SIGTERM ignored by the shell and (inherited) by its sleep: SIGKILL after
 * the grace period gets both. */
static void test_sigkill_after_grace(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", "trap '' TERM; sleep 30 & echo $!; sleep 30"),
                             .timeout_ms = 300,
                             .kill_grace_ms = 300};
    run(&opts, &o);
    assert_true(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_true(o.res.duration_us >= 550 * 1000);
    assert_true(o.res.duration_us < 3 * 1000 * 1000);
    int grandchild = atoi(o.res.out);
    assert_true(grandchild > 1);
    assert_true(wait_gone(grandchild, 2000));
    outcome_release(&o);
}

static void on_kill_timer(uv_timer_t *t)
{
    outcome_t *o = t->data;
    synq_proc_kill(o->proc);
    synq_proc_kill(o->proc); /* idempotent */
    uv_close((uv_handle_t *)t, NULL);
}

static void run_killed(const synq_proc_opts_t *opts, outcome_t *o, uint64_t after_ms)
{
    uv_loop_t loop;
    uv_timer_t t;
    assert_int_equal(uv_loop_init(&loop), 0);
    synq_proc_t *p = start(&loop, opts, o);
    assert_true(synq_proc_pid(p) > 0);
    uv_timer_init(&loop, &t);
    t.data = o;
    uv_timer_start(&t, on_kill_timer, after_ms, 0);
    finish(&loop, o);
}

static void test_kill(void **state)
{
    outcome_t o = {.kill_in_cb = true}; /* and once more from the callback */
    synq_proc_opts_t opts = {.argv = ARGV("sleep", "30"), .timeout_ms = 20000};
    run_killed(&opts, &o, 100);
    assert_int_equal(o.res.spawn_error, 0);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGTERM);
    assert_true(o.res.duration_us < 2 * 1000 * 1000);
    outcome_release(&o);

    /* with a grace: SIGKILL for a process that ignores SIGTERM */
    synq_proc_opts_t stubborn = {.argv = ARGV("sh", "-c", "trap '' TERM; sleep 30"),
                                 .kill_grace_ms = 200};
    run_killed(&stubborn, &o, 100);
    assert_false(o.res.timed_out);
    assert_int_equal(o.res.term_signal, SIGKILL);
    assert_true(o.res.duration_us >= 280 * 1000);
    assert_true(o.res.duration_us < 3 * 1000 * 1000);
    outcome_release(&o);
}

/* ---- the drain after exit ---------------------------------------------- */

/* A background process keeps stdout open after the shell exits: the result
 * comes about a second after the exit, not when the sleep ends. */
static void test_grandchild_holds_stdout(void **state)
{
    outcome_t o = {0};
    synq_proc_opts_t opts = {.argv = ARGV("sh", "-c", "sleep 5 >&1 & echo $!; exit 0")};
    run(&opts, &o);
    assert_exited(&o, 0);
    uint64_t waited_ns = o.done_ns - o.start_ns;
    assert_true(waited_ns >= 900 * MS);
    assert_true(waited_ns < 2500 * MS);
    assert_true(o.res.duration_us < 900 * 1000); /* the shell itself was quick */
    int grandchild = atoi(o.res.out);
    assert_true(grandchild > 1);
    kill(grandchild, SIGKILL);
    outcome_release(&o);
}

/* ---- output tails and UTF-8 -------------------------------------------- */

/* seq's output differs everywhere, so a tail in the wrong order shows. */
static void test_tail_truncation(void **state)
{
    const int count = 40000; /* about 230 KB */
    outcome_t o = {0};
    char *full = run_out(ARGV("seq", "1", "40000"), 1024 * 1024, &o);
    size_t full_len = strlen(full);
    assert_true(full_len > 200 * 1024);
    char line[16];
    snprintf(line, sizeof line, "%d\n", count);
    assert_string_equal(full + full_len - strlen(line), line);

    const size_t tails[] = {1, 7, 1000, 4096, 65536, 100000, full_len - 1, full_len, full_len + 1};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(tails); i++) {
        synq_proc_opts_t opts = {.argv = ARGV("seq", "1", "40000"), .tail_bytes = tails[i]};
        run(&opts, &o);
        assert_exited(&o, 0);
        size_t keep = SYNQ_MIN(tails[i], full_len);
        assert_int_equal(o.res.out_len, keep);
        assert_memory_equal(o.res.out, full + full_len - keep, keep);
        assert_int_equal(o.res.out_truncated, tails[i] < full_len);
        assert_false(o.res.err_truncated);
        outcome_release(&o);
    }
    free(full);

    /* 200 KiB on stderr with a small tail; stdout unaffected */
    synq_proc_opts_t big = {.argv = ARGV("sh", "-c",
                                         "echo small; head -c 204800 /dev/zero | tr '\\0' a >&2; "
                                         "printf END >&2"),
                            .tail_bytes = 100};
    run(&big, &o);
    assert_exited(&o, 0);
    assert_string_equal(o.res.out, "small\n");
    assert_false(o.res.out_truncated);
    assert_int_equal(o.res.err_len, 100);
    assert_true(o.res.err_truncated);
    for (size_t i = 0; i < 97; i++)
        assert_int_equal(o.res.err[i], 'a');
    assert_string_equal(o.res.err + 97, "END");
    outcome_release(&o);
}

static void expect_printf(const char *format, size_t tail_bytes, const char *want)
{
    outcome_t o = {0};
    char *out = run_out(ARGV("printf", format), tail_bytes, &o);
    assert_string_equal(out, want);
    free(out);
}

static void test_utf8(void **state)
{
    expect_printf("\\377\\376 ok", 0, FFFD FFFD " ok");
    expect_printf("a\\000b", 0, "a" FFFD "b");                        /* NUL */
    expect_printf("\\303\\251\\342\\202\\254\\360\\237\\230\\200", 0, /* valid: kept */
                  "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    expect_printf("\\300\\200.", 0, FFFD FFFD ".");                     /* overlong */
    expect_printf("\\355\\240\\200.", 0, FFFD FFFD FFFD ".");           /* surrogate */
    expect_printf("\\364\\220\\200\\200.", 0, FFFD FFFD FFFD FFFD "."); /* > U+10FFFF */
    expect_printf("\\200x", 0, FFFD "x");                               /* a stray continuation */
    expect_printf("x\\342\\202", 0, "x" FFFD FFFD);                     /* cut at the end */
    expect_printf("x\\342\\202y", 0, "x" FFFD FFFD "y");

    /* a tail that starts inside a character drops its rest: "xééé" is 7
     * bytes, the last 5 are "\251éé" */
    expect_printf("x\\303\\251\\303\\251\\303\\251", 5, "\xC3\xA9\xC3\xA9");
    expect_printf("x\\303\\251\\303\\251\\303\\251", 6, "\xC3\xA9\xC3\xA9\xC3\xA9");
    /* 4-byte characters cut after 1, 2 and 3 bytes */
    expect_printf("\\360\\237\\230\\200\\360\\237\\230\\200", 7, "\xF0\x9F\x98\x80");
    expect_printf("\\360\\237\\230\\200\\360\\237\\230\\200", 6, "\xF0\x9F\x98\x80");
    expect_printf("\\360\\237\\230\\200\\360\\237\\230\\200", 5, "\xF0\x9F\x98\x80");
    /* not cut (the whole output is there): a leading continuation is invalid */
    expect_printf("\\251ok", 3, FFFD "ok");
}

/* ---- several at once --------------------------------------------------- */

static void test_concurrent(void **state)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    outcome_t o[4] = {{0}};
    synq_proc_opts_t a = {.argv = ARGV("echo", "one")};
    synq_proc_opts_t b = {.argv = ARGV("sh", "-c", "sleep 0.1; echo two")};
    synq_proc_opts_t c = {.argv = ARGV("sleep", "30"), .timeout_ms = 150};
    synq_proc_opts_t d = {.argv = ARGV("synq-no-such-program-here")};
    start(&loop, &a, &o[0]);
    start(&loop, &b, &o[1]);
    start(&loop, &c, &o[2]);
    start(&loop, &d, &o[3]);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(o[i].calls, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_string_equal(o[0].res.out, "one\n");
    assert_string_equal(o[1].res.out, "two\n");
    assert_true(o[2].res.timed_out);
    assert_int_equal(o[3].res.spawn_error, UV_ENOENT);
    for (int i = 0; i < 4; i++)
        outcome_release(&o[i]);
}

int main(void)
{
    /* as the server does: a child that stops reading stdin gives EPIPE */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_no_output),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_stderr_separate),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_stdin_cat),
        cmocka_unit_test(test_stdin_read_line),
        cmocka_unit_test(test_stdin_large_round_trip),
        cmocka_unit_test(test_stdin_ignored),
        cmocka_unit_test(test_env_replaces),
        cmocka_unit_test(test_cwd),
        cmocka_unit_test(test_spawn_errors),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_timeout_kills_grandchild),
        cmocka_unit_test(test_sigkill_after_grace),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_grandchild_holds_stdout),
        cmocka_unit_test(test_tail_truncation),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests_name("proc", tests, NULL, NULL);
}
