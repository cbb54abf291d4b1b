/* Running one child process for the `exec` executor (see proc.h).
 *
 * Six libuv handles per process: the process itself, three pipes (stdin,
 * stdout, stderr; libuv makes them socketpairs) and two timers, `timer` for
 * the timeout and then the SIGTERM -> SIGKILL grace (or the deferred report
 * of a spawn failure) and `drain` for the wait on the output pipes after the
 * child exited. The outcome is reported once the process has exited and
 * both output pipes are closed; then every handle is closed and the struct
 * is freed in the last close callback.
 *
 * The child runs with UV_PROCESS_DETACHED, so libuv calls setsid() in it:
 * its pid is also its process group id, and kill(-pid, ...) reaches the
 * grandchildren it started too (unless they made groups of their own).
 *
 * Writing stdin to a child that has exited or closed its end fails with
 * EPIPE; that only ends the writing. The process must ignore SIGPIPE (the
 * server does), or the write raises it first.
 *
 * It does not know about jobs, limit the size of stdin, or reap processes
 * that left the group. */
#include "engine/proc.h"

#include "core/buf.h"
#include "core/timeutil.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TAIL_BYTES (64u * 1024)
#define DEFAULT_KILL_GRACE_MS 5000
/* After the child exited, how long a grandchild that inherited stdout or
 * stderr may keep them open before we stop reading. */
#define DRAIN_AFTER_EXIT_MS 1000
#define READ_CHUNK_BYTES (64u * 1024)

/* The last `cap` bytes written. Grows as needed up to cap (most outputs
 * are much shorter than the tail), then wraps: `head` is the oldest byte
 * once len == cap, and 0 before that. */
typedef struct {
    char *data;
    size_t cap;   /* tail_bytes */
    size_t alloc; /* bytes allocated, <= cap */
    size_t len;   /* bytes held, <= cap */
    size_t head;
    uint64_t total; /* all bytes ever written */
} ring_t;

struct synq_proc_s {
    uv_process_t process;
    uv_pipe_t in, out, err;
    uv_timer_t timer; /* timeout, then the kill grace; or the spawn failure report */
    uv_timer_t drain; /* after exit: the last wait for the output pipes */
    uv_write_t write_req;
    int handles_open; /* freed when the last one is closed */

    synq_proc_cb cb;
    void *arg;
    uint64_t kill_grace_ms;
    char *input; /* our copy, until the write completes */
    ring_t out_ring, err_ring;
    char scratch[READ_CHUNK_BYTES]; /* read buffer shared by both output pipes */

    int pid;
    int spawn_error;
    int64_t exit_status;
    int term_signal;
    int64_t started_us;
    uint64_t started_ns, exited_ns;
    bool spawned;
    bool exited;
    bool out_open, err_open; /* still reading */
    bool killing;            /* SIGTERM sent (timeout or synq_proc_kill) */
    bool killed_hard;        /* SIGKILL sent */
    bool timed_out;
    bool finished; /* cb ran or is running */
};

/* ---- output tails ------------------------------------------------------ */

static void ring_init(ring_t *r, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->cap = cap;
}

static void ring_reserve(ring_t *r, size_t n)
{
    if (n <= r->alloc) return;
    size_t a = r->alloc ? r->alloc : 4096;
    while (a < n)
        a *= 2;
    a = SYNQ_MIN(a, r->cap);
    r->data = synq_realloc(r->data, a);
    r->alloc = a;
}

static void ring_write(ring_t *r, const char *p, size_t n)
{
    r->total += n;
    if (n >= r->cap) { /* only its end survives */
        ring_reserve(r, r->cap);
        memcpy(r->data, p + (n - r->cap), r->cap);
        r->len = r->cap;
        r->head = 0;
        return;
    }
    if (r->len < r->cap) { /* still linear: fill up to cap first */
        size_t k = SYNQ_MIN(n, r->cap - r->len);
        ring_reserve(r, r->len + k);
        memcpy(r->data + r->len, p, k);
        r->len += k;
        p += k;
        n -= k;
        if (n == 0) return;
    }
    /* full: overwrite the oldest n bytes (n < cap) */
    size_t first = SYNQ_MIN(n, r->cap - r->head);
    memcpy(r->data + r->head, p, first);
    memcpy(r->data, p + first, n - first);
    r->head = (r->head + n) % r->cap;
}

/* Appends n bytes of s to out as valid UTF-8 (synq_buf_utf8). When cut is
 * set, s begins in the middle of the output and up to three leading
 * continuation bytes are the rest of a character whose start was dropped:
 * they are skipped rather than replaced. */
static void utf8_clean(synq_buf_t *out, const unsigned char *s, size_t n, bool cut)
{
    size_t i = 0;
    if (cut)
        while (i < 3 && i < n && (s[i] & 0xC0) == 0x80)
            i++;
    synq_buf_utf8(out, (const char *)s + i, n - i);
}

/* The tail as cleaned UTF-8 text, in out (never NULL data). */
static void ring_text(const ring_t *r, synq_buf_t *out)
{
    bool cut = r->total > r->len;
    if (r->head == 0) {
        utf8_clean(out, (const unsigned char *)r->data, r->len, cut);
    } else {
        /* wrapped: put it in order first (a character may span the seam) */
        char *lin = synq_malloc(r->len);
        memcpy(lin, r->data + r->head, r->len - r->head);
        memcpy(lin + (r->len - r->head), r->data, r->head);
        utf8_clean(out, (const unsigned char *)lin, r->len, cut);
        free(lin);
    }
    synq_buf_append(out, "", 0); /* terminated, and "" rather than NULL when empty */
}

/* ---- teardown ---------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    synq_proc_t *p = h->data;
    if (--p->handles_open > 0) return;
    free(p->input);
    free(p->out_ring.data);
    free(p->err_ring.data);
    free(p);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
}

static void proc_signal(synq_proc_t *p, int sig)
{
    /* the group, which includes the grandchildren; ESRCH when all are gone */
    if (p->spawned) kill(-p->pid, sig);
}

/* Reports the outcome once the process has exited and both output pipes
 * are closed, then closes everything. */
static void proc_maybe_finish(synq_proc_t *p)
{
    if (p->finished || !p->exited || p->out_open || p->err_open) return;
    p->finished = true;
    uv_timer_stop(&p->timer);
    uv_timer_stop(&p->drain);
    /* Killed and the leader is gone before the grace ran out: what is left
     * of the group gets no more time, as nothing would wait for it. */
    if (p->killing && !p->killed_hard) {
        p->killed_hard = true;
        proc_signal(p, SIGKILL);
    }

    synq_buf_t out, err;
    synq_buf_init(&out);
    synq_buf_init(&err);
    synq_proc_result_t res = {0};
    res.spawn_error = p->spawn_error;
    res.exit_status = (int)p->exit_status;
    res.term_signal = p->term_signal;
    res.timed_out = p->timed_out;
    res.started_us = p->started_us;
    res.duration_us =
        p->exited_ns > p->started_ns ? (int64_t)((p->exited_ns - p->started_ns) / 1000) : 0;
    ring_text(&p->out_ring, &out);
    ring_text(&p->err_ring, &err);
    res.out = out.data;
    res.out_len = out.len;
    res.out_truncated = p->out_ring.total > p->out_ring.len;
    res.err = err.data;
    res.err_len = err.len;
    res.err_truncated = p->err_ring.total > p->err_ring.len;

    p->cb(&res, p->arg);

    synq_buf_release(&out);
    synq_buf_release(&err);
    close_handle((uv_handle_t *)&p->process); /* initialized by uv_spawn even when it failed */
    close_handle((uv_handle_t *)&p->in);      /* a pending write ends with UV_ECANCELED */
    close_handle((uv_handle_t *)&p->out);
    close_handle((uv_handle_t *)&p->err);
    close_handle((uv_handle_t *)&p->timer);
    close_handle((uv_handle_t *)&p->drain);
}

/* ---- the child's pipes ------------------------------------------------- */

static void close_output(synq_proc_t *p, uv_pipe_t *pipe)
{
    bool *open = pipe == &p->out ? &p->out_open : &p->err_open;
    if (!*open) return;
    *open = false;
    close_handle((uv_handle_t *)pipe);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One scratch buffer serves both pipes: libuv hands it back in the
     * read callback right after this, before reading any other stream. */
    synq_proc_t *p = h->data;
    *buf = uv_buf_init(p->scratch, sizeof p->scratch);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    synq_proc_t *p = s->data;
    if (nread > 0) {
        ring_write(s == (uv_stream_t *)&p->out ? &p->out_ring : &p->err_ring, buf->base,
                   (size_t)nread);
    } else if (nread < 0) { /* UV_EOF, or an error that ends it just as well */
        close_output(p, (uv_pipe_t *)s);
        proc_maybe_finish(p);
    }
}

static void on_written(uv_write_t *req, int status)
{
    /* status is 0, UV_EPIPE when the child exited or closed stdin without
     * reading everything (fine), or UV_ECANCELED when we closed the pipe */
    synq_proc_t *p = req->data;
    free(p->input);
    p->input = NULL;
    close_handle((uv_handle_t *)&p->in);
}

static void on_drain_timeout(uv_timer_t *t)
{
    /* the child is gone, but something it started still holds the pipes */
    synq_proc_t *p = t->data;
    close_output(p, &p->out);
    close_output(p, &p->err);
    proc_maybe_finish(p);
}

/* ---- exit, timeout, kill ----------------------------------------------- */

static void on_process_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    synq_proc_t *p = proc->data;
    p->exited = true;
    p->exited_ns = uv_hrtime();
    p->exit_status = exit_status;
    p->term_signal = term_signal;
    if (!p->killing) uv_timer_stop(&p->timer); /* no timeout after the fact */
    if (p->out_open || p->err_open)
        uv_timer_start(&p->drain, on_drain_timeout, DRAIN_AFTER_EXIT_MS, 0);
    proc_maybe_finish(p);
}

static void on_grace_over(uv_timer_t *t)
{
    synq_proc_t *p = t->data;
    p->killed_hard = true;
    proc_signal(p, SIGKILL);
}

static void proc_terminate(synq_proc_t *p)
{
    p->killing = true;
    proc_signal(p, SIGTERM);
    uv_timer_start(&p->timer, on_grace_over, p->kill_grace_ms, 0);
}

static void on_timeout(uv_timer_t *t)
{
    synq_proc_t *p = t->data;
    p->timed_out = true;
    proc_terminate(p);
}

static void on_spawn_failed(uv_timer_t *t)
{
    proc_maybe_finish(t->data);
}

/* ---- public ------------------------------------------------------------ */

int synq_proc_start(uv_loop_t *loop, const synq_proc_opts_t *opts, synq_proc_cb cb, void *arg,
                    synq_proc_t **out)
{
    *out = NULL;
    if (opts->argv == NULL || opts->argv[0] == NULL || cb == NULL) return SYNQ_EINVAL;
    if (opts->input_len > UINT_MAX) return SYNQ_ETOOBIG; /* uv_buf_t's length is unsigned */

    synq_proc_t *p = synq_calloc(1, sizeof *p);
    p->cb = cb;
    p->arg = arg;
    p->kill_grace_ms = opts->kill_grace_ms ? opts->kill_grace_ms : DEFAULT_KILL_GRACE_MS;
    size_t tail = opts->tail_bytes ? opts->tail_bytes : DEFAULT_TAIL_BYTES;
    ring_init(&p->out_ring, tail);
    ring_init(&p->err_ring, tail);

    uv_pipe_init(loop, &p->in, 0);
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->timer);
    uv_timer_init(loop, &p->drain);
    p->process.data = p->in.data = p->out.data = p->err.data = p;
    p->timer.data = p->drain.data = p->write_req.data = p;
    p->handles_open = 6; /* with the process handle, which uv_spawn initializes */

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err;

    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.exit_cb = on_process_exit;
    po.file = opts->argv[0];
    /* libuv takes char ** but only reads them */
    po.args = (char **)opts->argv;
    po.env = (char **)opts->env;
    po.cwd = opts->cwd;
    po.flags = UV_PROCESS_DETACHED; /* setsid(): the child leads a new group */
    po.stdio_count = 3;
    po.stdio = stdio;

    p->started_us = synq_time_now_us();
    p->started_ns = uv_hrtime();
    int rc = uv_spawn(loop, &p->process, &po);
    if (rc < 0) {
        /* reported from the next loop turn, never from inside this call */
        p->spawn_error = rc;
        p->exited = true;
        p->exited_ns = p->started_ns;
        uv_timer_start(&p->timer, on_spawn_failed, 0, 0);
        *out = p;
        return 0;
    }
    p->spawned = true;
    p->pid = p->process.pid;

    p->out_open = uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read) == 0;
    p->err_open = uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read) == 0;
    if (!p->out_open) close_handle((uv_handle_t *)&p->out);
    if (!p->err_open) close_handle((uv_handle_t *)&p->err);

    if (opts->input != NULL && opts->input_len > 0) {
        p->input = synq_malloc(opts->input_len);
        memcpy(p->input, opts->input, opts->input_len);
        uv_buf_t b = uv_buf_init(p->input, (unsigned)opts->input_len);
        if (uv_write(&p->write_req, (uv_stream_t *)&p->in, &b, 1, on_written) < 0) {
            free(p->input);
            p->input = NULL;
            close_handle((uv_handle_t *)&p->in);
        }
    } else {
        close_handle((uv_handle_t *)&p->in); /* the child reads EOF at once */
    }

    if (opts->timeout_ms > 0) uv_timer_start(&p->timer, on_timeout, opts->timeout_ms, 0);
    *out = p;
    return 0;
}

void synq_proc_kill(synq_proc_t *p)
{
    /* After exit this still reaches what is left of the group, which may be
     * what keeps the output pipes open. */
    if (p == NULL || p->finished || !p->spawned || p->killing) return;
    proc_terminate(p);
}

int synq_proc_pid(const synq_proc_t *p)
{
    return p->pid;
}
