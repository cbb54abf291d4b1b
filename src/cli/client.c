/* Blocking HTTP+JSON client for the command line, on libcurl's easy
 * interface. One synq_client_t owns one curl handle, so connections are kept
 * alive between requests of the same thread. It knows nothing of jobs or
 * queues: callers build paths and bodies, and read statuses and bodies. */
#include "cli/client.h"

#include "core/buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A response body larger than this is refused rather than buffered. */
#define MAX_RESPONSE_BYTES (256u * 1024 * 1024)
/* How often a waiting request asks its abort callback. */
#define ABORT_CHECK_MS 100

struct synq_client_s {
    CURLM *multi; /* drives curl so an abort is noticed within ABORT_CHECK_MS */
    CURL *curl;
    char *base_url;
    char errbuf[CURL_ERROR_SIZE + 128];
    /* per request */
    synq_buf_t body;
    bool too_big;
    bool got_data;
};

int synq_client_url_pick(const char *flag, const char **url, char *err, size_t errlen)
{
    const char *env = getenv("SYNQ_SERVER");
    const char *provider = getenv("FAKTORY_PROVIDER");
    *url = SYNQ_CLIENT_DEFAULT_URL;
    if (flag && *flag) {
        *url = flag;
    } else if (env && *env) {
        *url = env;
    } else if (provider && *provider) {
        /* an indirection, not a URL (reference §1.1) */
        if (strchr(provider, ':')) {
            snprintf(err, errlen,
                     "FAKTORY_PROVIDER is not a URL but the name of the variable that holds "
                     "it (e.g. FAKTORY_PROVIDER=MY_FAKTORY_URL)");
            return SYNQ_EINVAL;
        }
        const char *v = getenv(provider);
        if (v == NULL || *v == '\0') {
            snprintf(err, errlen, "FAKTORY_PROVIDER names %s, which is not set", provider);
            return SYNQ_EINVAL;
        }
        *url = v;
    } else if ((env = getenv("FAKTORY_URL")) != NULL && *env) {
        *url = env;
    }
    return 0;
}

bool synq_client_url_is_fwp(const char *url)
{
    return strncasecmp(url, "tcp://", 6) == 0 || strncasecmp(url, "tcp+tls://", 10) == 0;
}

void synq_client_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void synq_client_global_release(void)
{
    curl_global_cleanup();
}

synq_client_t *synq_client_new(const char *base_url)
{
    synq_client_t *c = synq_calloc(1, sizeof *c);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    c->base_url = synq_strndup(base_url, n);
    c->curl = curl_easy_init();
    c->multi = curl_multi_init();
    if (c->curl == NULL || c->multi == NULL) {
        fprintf(stderr, "synq: curl_easy_init failed\n");
        abort();
    }
    synq_buf_init(&c->body);
    return c;
}

void synq_client_free(synq_client_t *c)
{
    if (c == NULL) return;
    curl_easy_cleanup(c->curl);
    curl_multi_cleanup(c->multi);
    synq_buf_release(&c->body);
    free(c->base_url);
    free(c);
}

const char *synq_client_url(const synq_client_t *c)
{
    return c->base_url;
}

const char *synq_client_errmsg(const synq_client_t *c)
{
    return c->errbuf;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    synq_client_t *c = userdata;
    size_t n = size * nmemb;
    c->got_data = true;
    if (c->body.len + n > MAX_RESPONSE_BYTES) {
        c->too_big = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    synq_buf_append(&c->body, ptr, n);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    synq_client_t *c = userdata;
    c->got_data = true;
    return size * nmemb;
}

/* curl_easy_perform, but through the multi handle so that abort_cb is
 * asked every ABORT_CHECK_MS (the easy interface only calls back about once
 * a second while a long poll waits). */
static CURLcode perform(synq_client_t *c, synq_client_abort_cb abort_cb, void *abort_data)
{
    CURLcode cc = CURLE_OK;
    int running = 1;
    if (curl_multi_add_handle(c->multi, c->curl) != CURLM_OK) return CURLE_FAILED_INIT;
    for (;;) {
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
            cc = CURLE_FAILED_INIT;
            break;
        }
        if (running == 0) {
            int left;
            CURLMsg *msg;
            cc = CURLE_RECV_ERROR;
            while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->curl) cc = msg->data.result;
            break;
        }
        if (abort_cb && abort_cb(abort_data, c->got_data)) {
            snprintf(c->errbuf, sizeof c->errbuf, "request cancelled");
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        curl_multi_poll(c->multi, NULL, 0, ABORT_CHECK_MS, NULL);
    }
    curl_multi_remove_handle(c->multi, c->curl);
    return cc;
}

int synq_client_request(synq_client_t *c, const char *method, const char *path, json_t *body,
                        long timeout_ms, synq_client_abort_cb abort_cb, void *abort_data,
                        synq_client_resp_t *resp)
{
    int rc = 0;
    char *text = NULL;
    synq_buf_t url;
    struct curl_slist *headers = NULL;
    CURL *h = c->curl;

    synq_buf_init(&url);
    memset(resp, 0, sizeof *resp);
    c->errbuf[0] = '\0';
    synq_buf_consume(&c->body, c->body.len);
    c->too_big = false;
    c->got_data = false;

    synq_buf_printf(&url, "%s%s", c->base_url, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "synq-cli/1");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, SYNQ_MIN(timeout_ms, 10000L));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);

    headers = curl_slist_append(NULL, "Accept: application/json");
    /* No "Expect: 100-continue" round trip before large bodies. */
    headers = curl_slist_append(headers, "Expect:");
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL) {
            snprintf(c->errbuf, sizeof c->errbuf, "cannot encode the request body");
            rc = -EINVAL;
            goto cleanup;
        }
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    if (strcmp(method, "GET") == 0 && body == NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = perform(c, abort_cb, abort_data);
    if (cc != CURLE_OK) {
        if (c->too_big) {
            snprintf(c->errbuf, sizeof c->errbuf, "response over %u bytes", MAX_RESPONSE_BYTES);
            rc = SYNQ_ETOOBIG;
            goto cleanup;
        }
        if (c->errbuf[0] == '\0')
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_easy_strerror(cc));
        switch (cc) {
        case CURLE_COULDNT_CONNECT:
            rc = -ECONNREFUSED;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            rc = -ETIMEDOUT;
            break;
        case CURLE_ABORTED_BY_CALLBACK:
            rc = -ECANCELED;
            break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            rc = -EINVAL;
            break;
        default:
            rc = -EIO;
            break;
        }
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->raw = synq_buf_steal(&c->body, &resp->raw_len);
    if (resp->raw_len > 0) {
        resp->body = json_loadb(resp->raw, resp->raw_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    }

cleanup:
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    free(text);
    synq_buf_release(&url);
    return rc;
}

void synq_client_resp_release(synq_client_resp_t *resp)
{
    json_decref(resp->body);
    free(resp->raw);
    memset(resp, 0, sizeof *resp);
}

char *synq_client_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_reserve(&b, strlen(s));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == ':') {
            synq_buf_putc(&b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            synq_buf_append(&b, e, 3);
        }
    }
    return synq_buf_steal(&b, NULL);
}

const char *synq_client_resp_code(const synq_client_resp_t *resp)
{
    json_t *err = json_object_get(resp->body, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    return code ? code : "";
}

void synq_client_resp_print_error(const char *prog, const synq_client_resp_t *resp)
{
    json_t *err = json_object_get(resp->body, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *field = json_string_value(json_object_get(err, "field"));
    if (code || msg) {
        fprintf(stderr, "%s: %s: %s (", prog, code ? code : "error", msg ? msg : "");
        if (field) fprintf(stderr, "field %s, ", field);
        fprintf(stderr, "HTTP %ld)\n", resp->status);
        return;
    }
    /* Not a synq error body: show what came, shortened. */
    int n = resp->raw_len > 300 ? 300 : (int)resp->raw_len;
    while (n > 0 && (resp->raw[n - 1] == '\n' || resp->raw[n - 1] == '\r'))
        n--;
    fprintf(stderr, "%s: HTTP %ld%s%.*s\n", prog, resp->status, n ? ": " : "", n,
            resp->raw ? resp->raw : "");
}
