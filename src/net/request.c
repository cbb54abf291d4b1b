/* HTTP/1.1 request parsing on top of http-parser, with limits. */
#include "net/request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 128

static http_parser_settings settings;
static bool settings_ready;

synq_http_req_t *synq_http_req_new(void)
{
    synq_http_req_t *r = synq_calloc(1, sizeof *r);
    synq_buf_init(&r->body);
    synq_buf_init(&r->url);
    return r;
}

void synq_http_req_free(synq_http_req_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->path);
    free(r->query);
    synq_buf_release(&r->body);
    synq_buf_release(&r->url);
    free(r);
}

const char *synq_http_req_header(const synq_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int synq_http_pct_decode(const char *src, size_t n, char *out, size_t outlen, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '+' && plus_is_space) {
            ch = ' ';
        } else if (ch == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 &&
                   hexval(src[i + 2]) >= 0) {
            ch = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = ch;
    }
    if (outlen == 0) return -1;
    out[o] = '\0';
    return (int)o;
}

int synq_http_req_query(const synq_http_req_t *req, const char *name, char *out, size_t outlen)
{
    if (req->query == NULL) return -1;
    size_t nlen = strlen(name);
    const char *p = req->query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        if (klen == nlen && memcmp(p, name, nlen) == 0)
            return synq_http_pct_decode(eq ? eq + 1 : p + seg, eq ? seg - klen - 1 : 0, out, outlen,
                                        true);
        p += seg;
        if (*p == '&') p++;
    }
    return -1;
}

/* ---- http-parser callbacks --------------------------------------------- */

static int reject(synq_reqparser_t *p, int status, const char *code, const char *message)
{
    p->error_status = status;
    p->error_code = code;
    p->error_message = message;
    return -1; /* not 1: from on_headers_complete, 1 would mean "no body" */
}

static int too_big(synq_reqparser_t *p, size_t n)
{
    p->req->header_bytes += n;
    return p->req->header_bytes > p->max_header_bytes;
}

#define HEADERS_TOO_LARGE(p) reject(p, 431, "headers_too_large", "request header block too large")

static int on_message_begin(http_parser *hp)
{
    synq_reqparser_t *p = hp->data;
    p->req = synq_http_req_new();
    p->headers_complete = false;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    synq_reqparser_t *p = hp->data;
    if (too_big(p, len)) return HEADERS_TOO_LARGE(p);
    synq_buf_append(&p->req->url, at, len);
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    synq_reqparser_t *p = hp->data;
    synq_http_req_t *r = p->req;
    /* RFC 9110 §5.1: a field name is a token; Debian's http-parser is
     * lenient and lets "Content-Length : 3" through (a smuggling risk).
     * Validity is checked before size so the answer does not depend on how
     * the bytes were split. */
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)at[i]) && !strchr("!#$%&'*+-.^_`|~", at[i]))
            return reject(p, 400, "bad_request", "invalid header name");
    /* trailer fields (after a chunked body) count but are not kept: RFC 9110 §6.5.1 */
    if (p->headers_complete) return too_big(p, len) ? HEADERS_TOO_LARGE(p) : 0;
    if (too_big(p, len)) return HEADERS_TOO_LARGE(p);
    if (r->nheaders == 0 || r->last_was_value) {
        if (too_big(p, 4)) return HEADERS_TOO_LARGE(p); /* ": " and CRLF, once per field */
        if (r->nheaders == MAX_HEADERS) return HEADERS_TOO_LARGE(p);
        if (r->nheaders == 0 || (r->nheaders & (r->nheaders - 1)) == 0)
            r->headers = synq_realloc(r->headers, (r->nheaders ? r->nheaders * 2 : 8) *
                                                      sizeof *r->headers);
        r->headers[r->nheaders].name = synq_strdup("");
        r->headers[r->nheaders].value = synq_strdup("");
        r->nheaders++;
        r->last_was_value = false;
    }
    synq_http_header_t *h = &r->headers[r->nheaders - 1];
    size_t old = strlen(h->name);
    h->name = synq_realloc(h->name, old + len + 1);
    for (size_t i = 0; i < len; i++) h->name[old + i] = (char)tolower((unsigned char)at[i]);
    h->name[old + len] = '\0';
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    synq_reqparser_t *p = hp->data;
    synq_http_req_t *r = p->req;
    /* validity before size, so the answer does not depend on how the bytes were split */
    if (memchr(at, '\0', len)) return reject(p, 400, "bad_request", "NUL in header value");
    if (too_big(p, len)) return HEADERS_TOO_LARGE(p);
    if (p->headers_complete) return 0; /* trailer */
    if (r->nheaders == 0) return reject(p, 400, "bad_request", "header value without a name");
    synq_http_header_t *h = &r->headers[r->nheaders - 1];
    size_t old = strlen(h->value);
    h->value = synq_realloc(h->value, old + len + 1);
    memcpy(h->value + old, at, len);
    h->value[old + len] = '\0';
    r->last_was_value = true;
    return 0;
}

static const struct {
    enum http_method m;
    synq_http_method_t ours;
} methods[] = {
    {HTTP_GET, SYNQ_HTTP_GET},       {HTTP_HEAD, SYNQ_HTTP_HEAD},
    {HTTP_POST, SYNQ_HTTP_POST},     {HTTP_PUT, SYNQ_HTTP_PUT},
    {HTTP_DELETE, SYNQ_HTTP_DELETE}, {HTTP_PATCH, SYNQ_HTTP_PATCH},
    {HTTP_OPTIONS, SYNQ_HTTP_OPTIONS},
};

static int on_headers_complete(http_parser *hp)
{
    synq_reqparser_t *p = hp->data;
    synq_http_req_t *r = p->req;
    r->method = SYNQ_HTTP_OTHER;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(methods); i++)
        if (methods[i].m == hp->method) r->method = methods[i].ours;
    r->method_name = http_method_str(hp->method);
    r->keep_alive = http_should_keep_alive(hp) != 0;
    r->upgrade = hp->upgrade != 0;

    /* RFC 9112 §2.3: a request line without a version (HTTP/0.9) is malformed */
    if (hp->http_major < 1) return reject(p, 400, "bad_request", "HTTP version required");
    /* only origin-form targets ("/path?query") are served */
    const char *url = r->url.data ? r->url.data : "";
    if (url[0] != '/') return reject(p, 400, "bad_request", "request target must start with /");
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    const char *hash = memchr(url, '#', plen);
    if (hash) plen = (size_t)(hash - url);
    r->path = synq_strndup(url, plen);
    if (q) r->query = synq_strndup(q + 1, strcspn(q + 1, "#"));

    /* RFC 9110 §8.6: refuse an announced body over the limit before reading it */
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > p->max_body_bytes)
        return reject(p, 413, "payload_too_large", "request body too large");
    const char *expect = synq_http_req_header(r, "expect");
    /* RFC 9110 §10.1.1: a server MUST ignore 100-continue from HTTP/1.0 */
    if (expect && (hp->http_major > 1 || hp->http_minor >= 1) &&
        strcasecmp(expect, "100-continue") == 0)
        p->want_continue = true;
    p->headers_complete = true;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    synq_reqparser_t *p = hp->data;
    synq_http_req_t *r = p->req;
    if (r->body.len + len > p->max_body_bytes)
        return reject(p, 413, "payload_too_large", "request body too large");
    synq_buf_append(&r->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    synq_reqparser_t *p = hp->data;
    p->done = p->req;
    p->req = NULL;
    if (p->done->body.data == NULL) synq_buf_append(&p->done->body, "", 0); /* "" not NULL */
    /* stop here: the next pipelined request waits until this one is answered */
    http_parser_pause(hp, 1);
    return 0;
}

void synq_reqparser_init(synq_reqparser_t *p, size_t max_header_bytes, size_t max_body_bytes)
{
    if (!settings_ready) {
        settings.on_message_begin = on_message_begin;
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
        settings_ready = true;
    }
    memset(p, 0, sizeof *p);
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
}

void synq_reqparser_release(synq_reqparser_t *p)
{
    synq_http_req_free(p->req);
    synq_http_req_free(p->done);
    p->req = p->done = NULL;
}

bool synq_reqparser_busy(const synq_reqparser_t *p)
{
    return p->req != NULL;
}

synq_req_result_t synq_reqparser_feed(synq_reqparser_t *p, const char *data, size_t len,
                                      size_t *consumed, synq_http_req_t **out)
{
    *consumed = 0;
    *out = NULL;
    if (p->error_status) return SYNQ_REQ_ERROR;
    if (len == 0) return SYNQ_REQ_AGAIN;
    http_parser_pause(&p->parser, 0);
    size_t n = http_parser_execute(&p->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    *consumed = n;
    if (p->done) {
        *out = p->done;
        p->done = NULL;
        if (e == HPE_PAUSED || e == HPE_OK) return SYNQ_REQ_DONE;
    }
    if (e == HPE_OK) return SYNQ_REQ_AGAIN;
    if (!p->error_status) {
        if (e == HPE_HEADER_OVERFLOW)
            reject(p, 431, "headers_too_large", "request header block too large");
        else
            reject(p, 400, "bad_request", http_errno_description(e));
    }
    synq_http_req_free(*out);
    *out = NULL;
    return SYNQ_REQ_ERROR;
}
