/* Blocking FWP client for the command line: plain sockets in non-blocking
 * mode driven by poll() against a deadline, the RESP2 reply reader and the
 * HELLO builder. See fwpclient.h for what it does and does not do. */
#include "cli/fwpclient.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536

struct synq_fwpclient_s {
    synq_fwp_url_t url;
    char *display; /* "tcp://host:port" */
    char *wid;
    char **labels; /* NULL-terminated copy, or NULL */
    char *hostname;
    long pid;
    int fd;        /* -1 while not connected */
    synq_buf_t rx; /* bytes read and not yet used */
    char errbuf[512];
};

/* ---- replies ------------------------------------------------------------------ */

void synq_fwpclient_reply_release(synq_fwpclient_reply_t *reply)
{
    free(reply->data);
    memset(reply, 0, sizeof *reply);
}

const char *synq_fwpclient_reply_error_text(const synq_fwpclient_reply_t *reply)
{
    const char *s = reply->data ? reply->data : "";
    if (strncmp(s, "ERR ", 4) == 0) return s + 4;
    return s;
}

/* Finds the first line of data[0..len), whose first byte is the type.
 * Returns 1 with *nl the index of its '\n' and *content_len the bytes
 * between the type byte and the ending ("\r\n" or "\n"); SYNQ_FWP_AGAIN;
 * or SYNQ_ETOOBIG once the content is known to be longer than max_line. */
static int find_line(const char *data, size_t len, size_t max_line, size_t *nl, size_t *content_len)
{
    /* type byte + content + "\r\n": nothing past this can end a line that
     * is within the bound */
    size_t look = max_line + 3 < len ? max_line + 3 : len;
    const char *p = memchr(data, '\n', look);
    if (p == NULL) return len < max_line + 3 ? SYNQ_FWP_AGAIN : SYNQ_ETOOBIG;
    size_t i = (size_t)(p - data);
    size_t n = i - 1; /* i >= 1: data[0] is the type byte, not '\n' */
    if (n > 0 && data[i - 1] == '\r') n--;
    if (n > max_line) return SYNQ_ETOOBIG;
    *nl = i;
    *content_len = n;
    return 1;
}

int synq_fwpclient_reply_parse(const char *data, size_t len, size_t max_bytes,
                               synq_fwpclient_reply_t *reply, size_t *consumed)
{
    memset(reply, 0, sizeof *reply);
    *consumed = 0;
    if (len == 0) return SYNQ_FWP_AGAIN;
    char type = data[0];
    if (type != '+' && type != '-' && type != '$') return SYNQ_EPROTO;
    size_t max_line = SYNQ_MIN(max_bytes, SYNQ_FWPCLIENT_MAX_LINE_BYTES);
    /* A bulk header is "$" and at most 20 digits; the bound on it must not
     * depend on max_bytes being large. */
    if (type == '$') max_line = 21;
    size_t nl = 0, n = 0;
    int rc = find_line(data, len, max_line, &nl, &n);
    if (rc != 1) return rc == SYNQ_ETOOBIG && type == '$' ? SYNQ_EPROTO : rc;

    if (type != '$') {
        reply->kind = type == '+' ? SYNQ_FWPCLIENT_SIMPLE : SYNQ_FWPCLIENT_ERROR;
        reply->data = synq_strndup(data + 1, n);
        reply->len = n;
        *consumed = nl + 1;
        return 1;
    }
    const char *h = data + 1;
    if (n == 2 && h[0] == '-' && h[1] == '1') {
        reply->kind = SYNQ_FWPCLIENT_NULL;
        *consumed = nl + 1;
        return 1;
    }
    if (n == 0) return SYNQ_EPROTO;
    size_t blen = 0;
    for (size_t k = 0; k < n; k++) {
        if (h[k] < '0' || h[k] > '9') return SYNQ_EPROTO;
        if (blen > (SIZE_MAX - 9) / 10) return SYNQ_ETOOBIG;
        blen = blen * 10 + (size_t)(h[k] - '0');
    }
    if (blen > max_bytes) return SYNQ_ETOOBIG;
    size_t start = nl + 1;
    /* the payload, then "\r\n" (or a bare "\n") */
    if (len - start < blen + 1) return SYNQ_FWP_AGAIN;
    size_t end = start + blen;
    size_t tail;
    if (data[end] == '\n') {
        tail = 1;
    } else if (data[end] == '\r') {
        if (len - end < 2) return SYNQ_FWP_AGAIN;
        if (data[end + 1] != '\n') return SYNQ_EPROTO;
        tail = 2;
    } else {
        return SYNQ_EPROTO;
    }
    reply->kind = SYNQ_FWPCLIENT_BULK;
    reply->data = synq_strndup(data + start, blen);
    reply->len = blen;
    *consumed = end + tail;
    return 1;
}

/* ---- handshake ------------------------------------------------------------------ */

int synq_fwpclient_hello_build(const char *hi, size_t hi_len, const char *password,
                               const char *username, const synq_fwpclient_hello_t *who,
                               synq_buf_t *out, char *err, size_t errlen)
{
    int rc = SYNQ_EPROTO;
    json_t *greeting = NULL, *hello = NULL;
    char *text = NULL;

    if (err && errlen) err[0] = '\0';
    if (hi_len < 4 || memcmp(hi, "HI ", 3) != 0) {
        snprintf(err, errlen, "unexpected greeting (not a Faktory server?)");
        goto cleanup;
    }
    greeting = json_loadb(hi + 3, hi_len - 3, 0, NULL);
    if (!json_is_object(greeting)) {
        snprintf(err, errlen, "unexpected greeting: not a JSON object");
        goto cleanup;
    }
    hello = json_object();
    if (who && who->hostname) json_object_set_new(hello, "hostname", json_string(who->hostname));
    if (who && who->wid) {
        json_object_set_new(hello, "wid", json_string(who->wid));
        json_t *labels = json_array();
        for (size_t i = 0; who->labels && who->labels[i]; i++)
            json_array_append_new(labels, json_string(who->labels[i]));
        json_object_set_new(hello, "labels", labels);
    }
    if (who && who->pid > 0) json_object_set_new(hello, "pid", json_integer(who->pid));
    json_object_set_new(hello, "v", json_integer(SYNQ_FWP_VERSION));
    if (username) json_object_set_new(hello, "username", json_string(username));

    json_t *salt = json_object_get(greeting, "s");
    if (salt && !json_is_null(salt)) {
        if (!json_is_string(salt)) {
            snprintf(err, errlen, "unexpected greeting: salt is not a string");
            goto cleanup;
        }
        json_int_t iter = 1;
        json_t *i = json_object_get(greeting, "i");
        if (i) {
            if (!json_is_integer(i) || json_integer_value(i) < 1 ||
                json_integer_value(i) > SYNQ_FWP_MAX_ITERATIONS) {
                snprintf(err, errlen, "unexpected greeting: bad iteration count");
                goto cleanup;
            }
            iter = json_integer_value(i);
        }
        if (password == NULL) {
            snprintf(err, errlen,
                     "the server wants a password: give it in the address, "
                     "tcp://:PASSWORD@host:port");
            rc = SYNQ_EINVAL;
            goto cleanup;
        }
        char hash[65];
        if (synq_fwp_pwdhash(password, json_string_value(salt), (int)iter, hash) < 0) {
            snprintf(err, errlen, "cannot hash the password");
            goto cleanup;
        }
        json_object_set_new(hello, "pwdhash", json_string(hash));
    }
    text = json_dumps(hello, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "cannot encode HELLO");
        rc = SYNQ_EINVAL;
        goto cleanup;
    }
    synq_buf_puts(out, text);
    rc = 0;

cleanup:
    free(text);
    json_decref(hello);
    json_decref(greeting);
    return rc;
}

/* ---- connection ------------------------------------------------------------------- */

int synq_fwpclient_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    size_t done = 0;
    out[0] = '\0';
    while (done < nbytes) {
        size_t want = SYNQ_MIN(sizeof b, nbytes - done);
        ssize_t got = getrandom(b, want, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (ssize_t k = 0; k < got; k++) {
            out[2 * (done + (size_t)k)] = hex[b[k] >> 4];
            out[2 * (done + (size_t)k) + 1] = hex[b[k] & 15];
        }
        done += (size_t)got;
    }
    out[2 * nbytes] = '\0';
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int synq_fwpclient_new(const char *url, const synq_fwpclient_hello_t *who, synq_fwpclient_t **out)
{
    synq_fwp_url_t u;
    *out = NULL;
    if (synq_fwp_url_parse(url, &u) < 0) return SYNQ_EINVAL;
    if (u.tls) {
        synq_fwp_url_release(&u);
        return -EPROTONOSUPPORT;
    }
    synq_fwpclient_t *c = synq_calloc(1, sizeof *c);
    c->url = u;
    c->fd = -1;
    synq_buf_init(&c->rx);
    synq_buf_t d;
    synq_buf_init(&d);
    if (strchr(u.host, ':'))
        synq_buf_printf(&d, "tcp://[%s]:%d", u.host, u.port);
    else
        synq_buf_printf(&d, "tcp://%s:%d", u.host, u.port);
    c->display = synq_buf_steal(&d, NULL);
    if (who) {
        c->wid = who->wid ? synq_strdup(who->wid) : NULL;
        c->hostname = who->hostname ? synq_strdup(who->hostname) : NULL;
        c->pid = who->pid;
        if (who->labels) {
            size_t n = 0;
            while (who->labels[n])
                n++;
            c->labels = synq_calloc(n + 1, sizeof *c->labels);
            for (size_t i = 0; i < n; i++)
                c->labels[i] = synq_strdup(who->labels[i]);
        }
    } else {
        char host[256];
        if (gethostname(host, sizeof host) == 0) {
            host[sizeof host - 1] = '\0';
            c->hostname = synq_strdup(host);
        }
        c->pid = (long)getpid();
    }
    *out = c;
    return 0;
}

static void disconnect(synq_fwpclient_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    synq_buf_consume(&c->rx, c->rx.len);
}

void synq_fwpclient_free(synq_fwpclient_t *c)
{
    if (c == NULL) return;
    if (c->fd >= 0) {
        /* END: the server closes without a reply (§1.6); a full socket
         * buffer or a dead peer only means it is not said. */
        ssize_t n = send(c->fd, "END\r\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    disconnect(c);
    synq_buf_release(&c->rx);
    synq_fwp_url_release(&c->url);
    free(c->display);
    free(c->wid);
    free(c->hostname);
    for (size_t i = 0; c->labels && c->labels[i]; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c);
}

const char *synq_fwpclient_url(const synq_fwpclient_t *c)
{
    return c->display;
}

const char *synq_fwpclient_errmsg(const synq_fwpclient_t *c)
{
    return c->errbuf;
}

/* Waits for events on the socket until deadline. Returns 0 when ready, or
 * -ETIMEDOUT / a negative errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)SYNQ_MIN(left, (int64_t)INT_MAX));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n > 0) return 0;
    }
}

/* Non-blocking connect to each address of the host in turn. */
static int open_socket(synq_fwpclient_t *c, int64_t deadline)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", c->url.port);
    int gai = getaddrinfo(c->url.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(c->errbuf, sizeof c->errbuf, "cannot reach %s: %s", c->display,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return -ENOENT;
    }
    int rc = -EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                rc = -errno;
                close(fd);
                continue;
            }
            rc = wait_fd(fd, POLLOUT, deadline);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
                rc = -soerr;
            }
            if (rc < 0) {
                close(fd);
                if (rc == -ETIMEDOUT) break;
                continue;
            }
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    if (rc < 0)
        snprintf(c->errbuf, sizeof c->errbuf, "cannot reach %s: %s", c->display,
                 rc == -ETIMEDOUT ? "connection timed out" : strerror(-rc));
    return rc;
}

static int send_all(synq_fwpclient_t *c, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        int rc = k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
                     ? wait_fd(c->fd, POLLOUT, deadline)
                     : -errno;
        if (rc < 0) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s: cannot send: %s", c->display,
                     rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* Reads until one whole reply is in. On failure the reason is in errbuf. */
static int read_reply(synq_fwpclient_t *c, int64_t deadline, long timeout_ms,
                      synq_fwpclient_reply_t *reply)
{
    for (;;) {
        size_t used = 0;
        int rc = synq_fwpclient_reply_parse(c->rx.data, c->rx.len, SYNQ_FWPCLIENT_MAX_REPLY_BYTES,
                                            reply, &used);
        if (rc == 1) {
            synq_buf_consume(&c->rx, used);
            return 0;
        }
        if (rc < 0) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s: %s", c->display,
                     rc == SYNQ_ETOOBIG ? "reply too large"
                                        : "malformed reply (not a Faktory server?)");
            return rc;
        }
        synq_buf_reserve(&c->rx, READ_CHUNK);
        ssize_t n = recv(c->fd, c->rx.data + c->rx.len, READ_CHUNK, 0);
        if (n > 0) {
            c->rx.len += (size_t)n;
            c->rx.data[c->rx.len] = '\0';
            continue;
        }
        if (n == 0) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s: the server closed the connection",
                     c->display);
            return -ECONNRESET;
        }
        if (errno == EINTR) continue;
        rc = errno == EAGAIN || errno == EWOULDBLOCK ? wait_fd(c->fd, POLLIN, deadline) : -errno;
        if (rc == -ETIMEDOUT) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s: no reply within %ld ms", c->display,
                     timeout_ms);
            return rc;
        }
        if (rc < 0) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s: %s", c->display, strerror(-rc));
            return rc;
        }
    }
}

int synq_fwpclient_connect(synq_fwpclient_t *c, long timeout_ms)
{
    int rc;
    synq_fwpclient_reply_t r = {0};
    synq_buf_t line;
    synq_buf_init(&line);
    if (c->fd >= 0) return 0;
    c->errbuf[0] = '\0';
    int64_t deadline = mono_ms() + timeout_ms;

    rc = open_socket(c, deadline);
    if (rc < 0) goto cleanup;
    rc = read_reply(c, deadline, timeout_ms, &r);
    if (rc < 0) goto cleanup;
    if (r.kind != SYNQ_FWPCLIENT_SIMPLE) {
        snprintf(c->errbuf, sizeof c->errbuf, "%s: %s%s", c->display,
                 r.kind == SYNQ_FWPCLIENT_ERROR ? "refused: " : "unexpected greeting",
                 r.kind == SYNQ_FWPCLIENT_ERROR ? synq_fwpclient_reply_error_text(&r) : "");
        rc = r.kind == SYNQ_FWPCLIENT_ERROR ? -EACCES : SYNQ_EPROTO;
        goto cleanup;
    }
    synq_buf_puts(&line, "HELLO ");
    synq_fwpclient_hello_t who = {.wid = c->wid,
                                  .labels = (const char *const *)c->labels,
                                  .hostname = c->hostname,
                                  .pid = c->pid};
    char why[256];
    rc = synq_fwpclient_hello_build(r.data, r.len, c->url.password, c->url.username, &who, &line,
                                    why, sizeof why);
    if (rc < 0) {
        snprintf(c->errbuf, sizeof c->errbuf, "%s: %s", c->display, why);
        goto cleanup;
    }
    synq_buf_puts(&line, "\r\n");
    rc = send_all(c, line.data, line.len, deadline);
    if (rc < 0) goto cleanup;
    synq_fwpclient_reply_release(&r);
    rc = read_reply(c, deadline, timeout_ms, &r);
    if (rc < 0) goto cleanup;
    if (r.kind == SYNQ_FWPCLIENT_ERROR) {
        /* "Invalid password", and the server closes (§1.4) */
        snprintf(c->errbuf, sizeof c->errbuf, "%s", synq_fwpclient_reply_error_text(&r));
        rc = -EACCES;
        goto cleanup;
    }
    if (r.kind != SYNQ_FWPCLIENT_SIMPLE || strcmp(r.data, "OK") != 0) {
        snprintf(c->errbuf, sizeof c->errbuf, "%s: unexpected reply to HELLO", c->display);
        rc = SYNQ_EPROTO;
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (rc < 0) disconnect(c);
    synq_fwpclient_reply_release(&r);
    synq_buf_release(&line);
    return rc;
}

int synq_fwpclient_call(synq_fwpclient_t *c, const char *verb, const char *arg, long timeout_ms,
                        synq_fwpclient_reply_t *reply)
{
    synq_buf_t line;
    memset(reply, 0, sizeof *reply);
    int rc = synq_fwpclient_connect(c, timeout_ms);
    if (rc < 0) return rc;
    c->errbuf[0] = '\0';
    if (arg && strpbrk(arg, "\r\n")) {
        snprintf(c->errbuf, sizeof c->errbuf, "%s: argument holds a line break", verb);
        return SYNQ_EINVAL;
    }
    int64_t deadline = mono_ms() + timeout_ms;
    synq_buf_init(&line);
    synq_buf_puts(&line, verb);
    if (arg) {
        synq_buf_putc(&line, ' ');
        synq_buf_puts(&line, arg);
    }
    synq_buf_puts(&line, "\r\n");
    rc = send_all(c, line.data, line.len, deadline);
    synq_buf_release(&line);
    if (rc == 0) rc = read_reply(c, deadline, timeout_ms, reply);
    if (rc < 0) disconnect(c);
    return rc;
}
