/* Asynchronous HTTP client: libcurl's multi interface driven by libuv.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to
 * wake it up (CURLMOPT_TIMERFUNCTION); we keep one uv_poll_t per curl socket
 * and one uv_timer_t per client, and hand every event back to curl with
 * curl_multi_socket_action. Finished transfers are collected with
 * curl_multi_info_read after each such call, and only there do user
 * callbacks run, never from inside a curl callback, so a user callback may
 * start, cancel or close freely.
 *
 * Calls beyond max_concurrent wait in a FIFO list with their easy handle
 * already configured (so a bad request is refused at once). timeout_ms is
 * curl's CURLOPT_TIMEOUT_MS and counts from the moment the call leaves the
 * wait list; elapsed_us counts from synq_httpc_request(), waiting included.
 *
 * It does not retry, follow redirects, decode Content-Encoding, or do
 * anything with cookies; name resolution is curl's (the threaded resolver in
 * the Debian builds, so it does not block the loop either).
 *
 * curl_global_init: `synq serve` never calls it (only the CLI commands do,
 * around each blocking call), so synq_httpc_new calls it once per process,
 * on first use, guarded by a static flag (everything runs on the loop
 * thread). It is never undone; a program that wants a clean exit under a
 * leak checker calls curl_global_cleanup() after its last client is freed. */
#include "net/httpc.h"

#include "core/buf.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_MAX_CONCURRENT 64
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY_BYTES (64u * 1024)
/* The response header block we keep; a server sending more fails the call
 * (curl itself caps a single header line at 100 KiB). */
#define MAX_HEADER_BYTES (64u * 1024)
/* Longest method token accepted. */
#define MAX_METHOD_LEN 32

typedef struct sock_s sock_t;

typedef enum { CALL_WAITING, CALL_RUNNING, CALL_DONE } call_state_t;

typedef struct {
    synq_httpc_call_t *head, *tail;
    size_t n;
} call_list_t;

struct synq_httpc_s {
    uv_loop_t *loop;
    CURLM *multi;     /* NULL once close has cleaned it up */
    uv_timer_t timer; /* curl's single timeout */
    sock_t *socks;    /* one poll handle per socket curl asked us to watch */
    int handles_open; /* timer + socks still to be closed or in closing */
    size_t max_concurrent;
    call_list_t running;
    call_list_t waiting;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
};

struct sock_s {
    uv_poll_t poll;
    synq_httpc_t *c;
    curl_socket_t fd;
    sock_t *next, *prev;
};

struct synq_httpc_call_s {
    synq_httpc_t *c;
    synq_httpc_call_t *next, *prev; /* in c->running or c->waiting */
    call_state_t state;
    CURL *easy;
    struct curl_slist *headers;
    char *req_body;
    synq_httpc_cb cb;
    void *arg;
    uint64_t start_us;
    size_t max_body_bytes;
    synq_buf_t res_headers;
    synq_buf_t res_body;
    bool body_truncated;
    bool headers_too_big;
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
    char errmsg[CURL_ERROR_SIZE + 64];
};

static bool curl_ready; /* curl_global_init done (see the file comment) */

/* ---- lists ------------------------------------------------------------- */

static void list_push(call_list_t *l, synq_httpc_call_t *call)
{
    call->next = NULL;
    call->prev = l->tail;
    if (l->tail)
        l->tail->next = call;
    else
        l->head = call;
    l->tail = call;
    l->n++;
}

static void list_remove(call_list_t *l, synq_httpc_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        l->head = call->next;
    if (call->next)
        call->next->prev = call->prev;
    else
        l->tail = call->prev;
    call->next = call->prev = NULL;
    l->n--;
}

/* ---- validation -------------------------------------------------------- */

/* tchar of RFC 9110 section 5.6.2: the characters of a method and of a
 * field name. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool valid_token(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i])) return false;
    return true;
}

/* "Name: value" with a token name and no CR, LF or other control byte but
 * HTAB in the value (a CR or LF would let a caller inject headers). */
static bool valid_header(const char *h)
{
    const char *colon = strchr(h, ':');
    if (colon == NULL || !valid_token(h, (size_t)(colon - h))) return false;
    for (const unsigned char *p = (const unsigned char *)colon + 1; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return false;
    return true;
}

static bool header_named(const char *h, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(h, name, n) == 0 && h[n] == ':';
}

/* An absolute http or https URL with a host, as curl itself parses it. */
static bool valid_url(const char *url)
{
    if (url == NULL) return false;
    CURLU *u = curl_url();
    if (u == NULL) return false;
    char *scheme = NULL, *host = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
              host[0] != '\0';
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* ---- Retry-After ------------------------------------------------------- */

/* Retry-After (RFC 9110 section 10.2.3) is delay-seconds or an HTTP-date.
 * Every HTTP-date form (IMF-fixdate, rfc850, asctime) begins with a day
 * name, so a value that begins with a digit must be all digits: this keeps
 * curl_getdate's lenient parser away from things like "12abc". A date in
 * the past gives 0. Returns -1 when absent or invalid. */
static int64_t parse_retry_after(const char *headers, size_t len)
{
    static const char name[] = "retry-after:";
    const char *end = headers + len;
    for (const char *line = headers; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *next = eol ? eol + 1 : end;
        if (eol == NULL) eol = end;
        if ((size_t)(eol - line) >= sizeof name - 1 &&
            strncasecmp(line, name, sizeof name - 1) == 0) {
            const char *v = line + sizeof name - 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (v == ve) return -1;
            if (*v >= '0' && *v <= '9') {
                int64_t s = 0;
                for (const char *p = v; p < ve; p++) {
                    if (*p < '0' || *p > '9') return -1;
                    if (s > (INT64_MAX - 9) / 10) return -1;
                    s = s * 10 + (*p - '0');
                }
                return s;
            }
            char date[128];
            if ((size_t)(ve - v) >= sizeof date) return -1;
            memcpy(date, v, (size_t)(ve - v));
            date[ve - v] = '\0';
            time_t t = curl_getdate(date, NULL);
            if (t == (time_t)-1) return -1;
            time_t now = time(NULL);
            return t > now ? (int64_t)(t - now) : 0;
        }
        line = next;
    }
    return -1;
}

/* ---- curl callbacks ---------------------------------------------------- */

static size_t on_curl_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    synq_httpc_call_t *call = userdata;
    size_t n = size * nmemb;
    size_t room = call->max_body_bytes - call->res_body.len;
    if (n > room) call->body_truncated = true; /* keep reading, drop the rest */
    synq_buf_append(&call->res_body, ptr, SYNQ_MIN(n, room));
    return n;
}

/* curl hands over each header line of every response, the interim 1xx ones
 * included (RFC 9110 section 15.2), then trailers if any. A status line
 * starts a new response, so the block is reset there and holds only the
 * final response's fields. */
static size_t on_curl_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    synq_httpc_call_t *call = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        call->res_headers.len = 0;
        if (call->res_headers.data) call->res_headers.data[0] = '\0';
        return n;
    }
    if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n'))
        return n; /* end of the block */
    if (call->res_headers.len + n > MAX_HEADER_BYTES) {
        call->headers_too_big = true;
        return 0; /* fails the transfer with CURLE_WRITE_ERROR */
    }
    synq_buf_append(&call->res_headers, ptr, n);
    return n;
}

static void on_handle_closed(uv_handle_t *h);
static void check_done(synq_httpc_t *c);

static void sock_close(synq_httpc_t *c, sock_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_t *s = h->data;
    synq_httpc_t *c = s->c;
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c); /* s may be closing by now: not touched again */
}

/* CURLMOPT_SOCKETFUNCTION. socketp is the sock_t we assigned to fd. curl
 * forgets the assignment itself after CURL_POLL_REMOVE. An error return
 * makes curl fail every transfer of the multi handle; it only happens when
 * libuv cannot watch the socket at all. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    synq_httpc_t *c = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) sock_close(c, s);
        return 0;
    }
    if (s == NULL) {
        s = synq_calloc(1, sizeof *s);
        if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->c = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks) c->socks->prev = s;
        c->socks = s;
        c->handles_open++;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN) events |= UV_READABLE;
    if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) < 0 ? -1 : 0;
}

static void on_timer(uv_timer_t *t)
{
    synq_httpc_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* CURLMOPT_TIMERFUNCTION: -1 removes the timeout, 0 means "as soon as
 * possible"; either way curl is only called back from the loop, never from
 * here (curl forbids re-entering it from its own callbacks). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    synq_httpc_t *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- calls ------------------------------------------------------------- */

static void call_free(synq_httpc_call_t *call)
{
    curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    free(call->req_body);
    synq_buf_release(&call->res_headers);
    synq_buf_release(&call->res_body);
    free(call);
}

/* Runs the callback of a call already out of every list and out of the
 * multi handle, then frees it. error is NULL for a completed exchange. */
static void call_finish(synq_httpc_call_t *call, int status, const char *error)
{
    synq_httpc_res_t res = {
        .status = status,
        .error = error,
        .headers = call->res_headers.data ? call->res_headers.data : "",
        .headers_len = call->res_headers.len,
        .body = call->res_body.data ? call->res_body.data : "",
        .body_len = call->res_body.len,
        .body_truncated = call->body_truncated,
        .retry_after_s = parse_retry_after(call->res_headers.data, call->res_headers.len),
        .elapsed_us = (int64_t)(uv_hrtime() / 1000 - call->start_us),
    };
    call->state = CALL_DONE; /* a cancel from inside cb is ignored */
    call->cb(&res, call->arg);
    call_free(call);
}

static void call_complete(synq_httpc_call_t *call, CURLcode rc)
{
    long status = 0;
    const char *error = NULL;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status <= 0) error = "no response";
    } else if (call->headers_too_big) {
        error = "response header block too large";
    } else {
        /* errbuf says more than curl_easy_strerror ("Failed to connect to
         * 127.0.0.1 port 9 after 0 ms: Couldn't connect to server"), but
         * curl 7.88 leaves out the reason of a socket failure, so the
         * system's is added: "... (connection refused)". libuv's text, as
         * strerror is not thread-safe. */
        long oserr = 0;
        if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR)
            curl_easy_getinfo(call->easy, CURLINFO_OS_ERRNO, &oserr);
        const char *text = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
        if (oserr > 0)
            snprintf(call->errmsg, sizeof call->errmsg, "%s (%s)", text,
                     uv_strerror(uv_translate_sys_error((int)oserr)));
        else
            snprintf(call->errmsg, sizeof call->errmsg, "%s", text);
        error = call->errmsg;
    }
    call_finish(call, error ? 0 : (int)status, error);
}

static void call_start(synq_httpc_t *c, synq_httpc_call_t *call)
{
    call->state = CALL_RUNNING;
    list_push(&c->running, call);
    /* fails only for a handle already added or out of memory */
    if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
        fprintf(stderr, "synq: curl_multi_add_handle failed\n");
        abort();
    }
}

static void start_waiting(synq_httpc_t *c)
{
    while (!c->closing && c->running.n < c->max_concurrent && c->waiting.head) {
        synq_httpc_call_t *call = c->waiting.head;
        list_remove(&c->waiting, call);
        call_start(c, call);
    }
}

/* Collects finished transfers. A callback may close the client, which
 * cleans up the multi handle: stop reading it at once then. */
static void check_done(synq_httpc_t *c)
{
    CURLMsg *msg;
    int left;
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        synq_httpc_call_t *call = (synq_httpc_call_t *)priv;
        curl_multi_remove_handle(c->multi, easy);
        list_remove(&c->running, call);
        start_waiting(c); /* before cb, so a call it starts queues behind */
        call_complete(call, rc);
    }
}

static void set_method_and_body(synq_httpc_call_t *call, const char *method,
                                const synq_httpc_req_t *req)
{
    CURL *e = call->easy;
    bool is_post = strcmp(method, "POST") == 0;
    bool sends_body = req->body != NULL || req->body_len > 0 || is_post ||
                      strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (sends_body) {
        /* POSTFIELDS with an explicit size sends exactly these bytes with a
         * Content-Length (also 0); CUSTOMREQUEST then renames the method */
        call->req_body = synq_malloc(req->body_len);
        if (req->body_len) memcpy(call->req_body, req->body, req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->req_body);
        if (!is_post) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
}

/* Caller headers first, then our overrides of curl's defaults unless the
 * caller set that field. A header with an empty value ("Name:") removes
 * curl's default of that name, as in curl. */
static void set_headers(synq_httpc_call_t *call, const synq_httpc_req_t *req)
{
    bool has_expect = false, has_type = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        call->headers = curl_slist_append(call->headers, req->headers[i]);
        if (call->headers == NULL) goto oom;
        has_expect |= header_named(req->headers[i], "Expect");
        has_type |= header_named(req->headers[i], "Content-Type");
    }
    if (call->req_body) {
        /* curl adds "Expect: 100-continue" to larger bodies and then waits
         * up to a second for a 100 that many servers never send (RFC 9110
         * section 10.1.1 lets a client skip it) */
        if (!has_expect && (call->headers = curl_slist_append(call->headers, "Expect:")) == NULL)
            goto oom;
        /* and labels any body application/x-www-form-urlencoded, which
         * would be a lie: no Content-Type unless the caller gives one */
        if (!has_type &&
            (call->headers = curl_slist_append(call->headers, "Content-Type:")) == NULL)
            goto oom;
    }
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    return;
oom:
    fprintf(stderr, "synq: out of memory in curl_slist_append\n");
    abort();
}

/* ---- public API -------------------------------------------------------- */

synq_httpc_t *synq_httpc_new(uv_loop_t *loop, int max_concurrent)
{
    if (max_concurrent < 0) return NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        curl_ready = true;
    }
    synq_httpc_t *c = synq_calloc(1, sizeof *c);
    c->loop = loop;
    c->max_concurrent = max_concurrent ? (size_t)max_concurrent : DEFAULT_MAX_CONCURRENT;
    c->multi = curl_multi_init();
    if (c->multi == NULL || uv_timer_init(loop, &c->timer) < 0) {
        /* the timer is not initialised when we get here: nothing to close */
        if (c->multi) curl_multi_cleanup(c->multi);
        free(c);
        return NULL;
    }
    c->timer.data = c;
    c->handles_open = 1;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

/* Besides the codes of the header: SYNQ_ECONFLICT once the client is closing
 * (a callback run by synq_httpc_close may try), SYNQ_EINVAL as well for a
 * NULL cb, a header that is not "Name: value" or holds CR/LF, a body_len
 * without a body, or a HEAD with a body. */
int synq_httpc_request(synq_httpc_t *c, const synq_httpc_req_t *req, synq_httpc_cb cb, void *arg,
                       synq_httpc_call_t **call_out)
{
    if (call_out) *call_out = NULL;
    if (c->closing) return SYNQ_ECONFLICT;
    const char *method = req->method ? req->method : "GET";
    size_t mlen = strlen(method);
    if (cb == NULL || mlen > MAX_METHOD_LEN || !valid_token(method, mlen)) return SYNQ_EINVAL;
    if (!valid_url(req->url)) return SYNQ_EINVAL;
    if (req->body == NULL && req->body_len > 0) return SYNQ_EINVAL;
    if (strcmp(method, "HEAD") == 0 && req->body_len > 0) return SYNQ_EINVAL;
    if (req->nheaders > 0 && req->headers == NULL) return SYNQ_EINVAL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (req->headers[i] == NULL || !valid_header(req->headers[i])) return SYNQ_EINVAL;

    synq_httpc_call_t *call = synq_calloc(1, sizeof *call);
    call->c = c;
    call->cb = cb;
    call->arg = arg;
    call->start_us = uv_hrtime() / 1000;
    call->max_body_bytes = req->max_body_bytes ? req->max_body_bytes : DEFAULT_MAX_BODY_BYTES;
    synq_buf_init(&call->res_headers);
    synq_buf_init(&call->res_body);
    call->easy = curl_easy_init();
    if (call->easy == NULL) {
        fprintf(stderr, "synq: curl_easy_init failed\n");
        abort();
    }

    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "synq");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)(req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_curl_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_curl_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)call);
    set_method_and_body(call, method, req);
    set_headers(call, req);

    if (c->running.n < c->max_concurrent && c->waiting.head == NULL) {
        call_start(c, call);
    } else {
        call->state = CALL_WAITING;
        list_push(&c->waiting, call);
    }
    if (call_out) *call_out = call;
    return 0;
}

void synq_httpc_cancel(synq_httpc_t *c, synq_httpc_call_t *call)
{
    if (call == NULL || call->state == CALL_DONE) return;
    if (call->state == CALL_RUNNING) {
        list_remove(&c->running, call);
        curl_multi_remove_handle(c->multi, call->easy); /* closes its connection */
    } else {
        list_remove(&c->waiting, call);
    }
    call_free(call);
    start_waiting(c);
}

size_t synq_httpc_pending(const synq_httpc_t *c)
{
    return c->running.n + c->waiting.n;
}

static void on_handle_closed(uv_handle_t *h)
{
    synq_httpc_t *c;
    if (h->type == UV_POLL) {
        sock_t *s = h->data;
        c = s->c;
        free(s);
    } else {
        c = h->data;
    }
    if (--c->handles_open > 0 || !c->closing) return;
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    free(c);
    if (done) done(arg);
}

void synq_httpc_close(synq_httpc_t *c, void (*done)(void *arg), void *arg)
{
    if (c->closing) return;
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    /* one at a time from the head: a callback may cancel another call */
    synq_httpc_call_t *call;
    while ((call = c->running.head) != NULL) {
        list_remove(&c->running, call);
        curl_multi_remove_handle(c->multi, call->easy);
        call_finish(call, 0, "client closed");
    }
    while ((call = c->waiting.head) != NULL) {
        list_remove(&c->waiting, call);
        call_finish(call, 0, "client closed");
    }
    /* closes the pooled connections, which may still call on_curl_socket */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c, c->socks);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}
