/* LiveSync channels over plain HTTP: publishing (one channel or several),
 * history, long-polling, Server-Sent Events (one channel, or several on one
 * stream), presence, the channel list and history reset.
 *
 * One resume model for every transport: a position is (epoch, offset).
 * Long-poll takes it as ?since=&epoch= or as the ETag it was given
 * ("epoch:offset"); SSE as Last-Event-ID (or ?last_event_id=, since
 * EventSource cannot set headers on its first request) in the form
 * "epoch:offset" for one channel and "name=epoch:offset,..." for several.
 * A position that cannot be recovered is said so: 409 for long-poll, an
 * `unrecovered` event for SSE; never a silent gap.
 *
 * Access: publishing, reset and listing need the API key (when one is
 * configured); reading needs a subscriber's right to the channel: the API
 * key, or a JWT (Authorization: Bearer or ?token=) whose user the
 * namespace admits, or a channel token for that channel, or an anonymous
 * client in a namespace open to them. With neither an API key nor a JWT
 * secret configured everything is open (development). */
#include "api/internal.h"

#include "core/jwt.h"
#include "core/timeutil.h"
#include "engine/hub.h"
#include "net/sse.h"
#include "proto/centrifuge.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STREAM_CHANNELS 16
#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000
#define WAIT_MAX_US (300LL * 1000000)

typedef struct chconn_s chconn_t;

/* One channel of a stream or a poll. */
typedef struct {
    chconn_t *conn;
    synq_hub_sub_t *sub;
    char name[SYNQ_CHANNEL_MAX + 1];
    synq_pos_t pos; /* the newest position the client has */
} chan_ref_t;

struct chconn_s {
    synq_channel_streams_t *reg;
    chconn_t *prev, *next;
    synq_sse_t *sse;       /* an SSE stream, or */
    synq_http_req_t *req;  /* a waiting long-poll */
    uv_timer_t timer;      /* the long-poll's wait */
    bool woken;            /* a publication came: answer on the next turn */
    int limit;             /* the long-poll's limit */
    bool multi;
    size_t n;
    chan_ref_t ch[MAX_STREAM_CHANNELS];
};

struct synq_channel_streams_s {
    synq_hub_t *hub;
    chconn_t *all;
};

/* ---- access ---------------------------------------------------------------- */

static bool key_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

/* The credential: "Authorization: Bearer X" or ?token=X. */
static bool credential(synq_api_ctx_t *ctx, char *out, size_t outlen)
{
    const char *h = synq_http_req_header(ctx->req, "authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ') h++;
        snprintf(out, outlen, "%s", h);
        return strlen(h) < outlen;
    }
    return synq_http_req_query(ctx->req, "token", out, outlen) > 0;
}

bool synq_api_require_key(synq_api_ctx_t *ctx)
{
    const char *key = ctx->api->api_key;
    if (!key) return true;
    char cred[SYNQ_JWT_MAX_BYTES + 1];
    const char *h = synq_http_req_header(ctx->req, "authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && credential(ctx, cred, sizeof cred) &&
        key_equal(cred, strlen(cred), key))
        return true;
    static const char body[] = "{\"error\":{\"code\":\"unauthorized\",\"message\":\"this "
                               "endpoint needs the API key as Authorization: Bearer <key>\"}}";
    synq_http_respond(ctx->req, 401, "application/json", "WWW-Authenticate: Bearer\r\n", body,
                      sizeof body - 1);
    return false;
}

/* Who is reading. */
typedef struct {
    bool admin;     /* the API key, or nothing configured */
    synq_jwt_t jwt; /* when a token was given */
    bool has_jwt;
} reader_t;

/* Identifies the reader; false after replying 401. */
static bool identify(synq_api_ctx_t *ctx, reader_t *r)
{
    memset(r, 0, sizeof *r);
    synq_api_t *api = ctx->api;
    char cred[SYNQ_JWT_MAX_BYTES + 1];
    bool has = credential(ctx, cred, sizeof cred);
    if (!api->api_key && !api->jwt_secret) {
        r->admin = true;
        return true;
    }
    if (!has) return true; /* anonymous */
    if (api->api_key && key_equal(cred, strlen(cred), api->api_key)) {
        r->admin = true;
        return true;
    }
    char err[200] = "no JWT secret is configured";
    int rc = api->jwt_secret
                 ? synq_jwt_verify(cred, strlen(cred), api->jwt_secret, strlen(api->jwt_secret),
                                   synq_time_now_us() / 1000000, &r->jwt, err, sizeof err)
                 : SYNQ_EINVAL;
    if (rc) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", rc == SYNQ_EEXPIRED ? "token expired" : "bad token",
                 err);
        synq_http_respond_error(ctx->req, 401, rc == SYNQ_EEXPIRED ? "token_expired" : "unauthorized",
                                msg, NULL);
        return false;
    }
    r->has_jwt = true;
    return true;
}

/* Checks the channel name, its namespace and the reader's right to it;
 * false after replying 400, 404 or 403. */
static bool may_read(synq_api_ctx_t *ctx, const reader_t *r, const char *channel)
{
    if (!synq_channel_valid(channel)) {
        synq_api_error(ctx, 400, "bad_channel",
                       "channel names are 1-255 letters, digits and -_.:/@", "channel");
        return false;
    }
    const synq_ns_t *ns = synq_hub_ns(ctx->api->hub, channel);
    if (!ns) {
        synq_api_error(ctx, 404, "unknown_channel", "the channel's namespace is not configured",
                       "channel");
        return false;
    }
    if (r->admin) return true;
    const char *user = r->has_jwt ? r->jwt.sub : NULL;
    const char *grant = r->has_jwt ? r->jwt.channel : NULL;
    if (synq_hub_may_subscribe(ns, channel, user, grant)) return true;
    synq_api_error(ctx, 403, "permission_denied",
                   user && user[0] ? "this user may not subscribe to the channel"
                                   : "anonymous clients may not subscribe to the channel; "
                                     "present a token",
                   NULL);
    return false;
}

/* The publishing and admin endpoints: API key + a well-formed channel of a
 * known namespace. */
static bool may_write(synq_api_ctx_t *ctx, const char *channel)
{
    if (!synq_api_require_key(ctx)) return false;
    if (!channel) return true;
    reader_t admin = {.admin = true};
    return may_read(ctx, &admin, channel);
}

/* ---- JSON forms ------------------------------------------------------------- */

static void pub_json(synq_buf_t *b, const synq_hub_pub_t *p, bool with_channel)
{
    synq_buf_append(b, "{", 1);
    if (with_channel) {
        synq_buf_append(b, "\"channel\":", 10);
        synq_buf_json_str(b, p->channel, strlen(p->channel));
        synq_buf_printf(b, ",\"epoch\":\"%s\",", p->epoch);
    }
    synq_buf_printf(b, "\"offset\":%llu,\"data\":", (unsigned long long)p->offset);
    synq_buf_append(b, p->data, p->len);
    if (p->info) {
        synq_buf_append(b, ",\"info\":", 8);
        synq_buf_append(b, p->info, strlen(p->info));
    }
    char ts[40];
    ts[synq_rfc3339_format(p->time_us, ts)] = '\0';
    synq_buf_printf(b, ",\"time\":\"%s\"}", ts);
}

static void pos_json(synq_buf_t *b, const synq_pos_t *pos)
{
    synq_buf_printf(b, "\"epoch\":\"%s\",\"offset\":%llu", pos->epoch,
                    (unsigned long long)pos->offset);
}

/* Parses "epoch:offset" (the ETag and one-channel Last-Event-ID form,
 * quotes allowed around it). */
static bool parse_pos(const char *s, synq_pos_t *pos)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') s++, n -= 2;
    if (n >= 2 && s[0] == 'W' && s[1] == '/') return false;
    const char *colon = memchr(s, ':', n);
    if (!colon || (size_t)(colon - s) > SYNQ_EPOCH_LEN) return false;
    memcpy(pos->epoch, s, (size_t)(colon - s));
    pos->epoch[colon - s] = '\0';
    char num[24];
    size_t dl = n - (size_t)(colon - s) - 1;
    if (dl == 0 || dl >= sizeof num) return false;
    memcpy(num, colon + 1, dl);
    num[dl] = '\0';
    char *end;
    unsigned long long v = strtoull(num, &end, 10);
    if (*end || num[0] == '-') return false;
    pos->offset = v;
    return true;
}

/* ---- publishing -------------------------------------------------------------- */

/* Reads {"data": any, "idempotency_key"?: string} (and "channels" for
 * /v1/publish). NULL after replying. */
static json_t *publish_body(synq_api_ctx_t *ctx, char **data, const char **key)
{
    bool failed;
    json_t *body = synq_api_body(ctx, true, &failed);
    if (failed) return NULL;
    if (!json_is_object(body)) {
        synq_api_error(ctx, 422, "invalid_field", "the body must be a JSON object", NULL);
        goto bad;
    }
    json_t *d = json_object_get(body, "data");
    if (!d) {
        synq_api_error(ctx, 422, "invalid_field", "data: required (any JSON value)", "data");
        goto bad;
    }
    json_t *k = json_object_get(body, "idempotency_key");
    *key = NULL;
    if (k && !json_is_null(k)) {
        if (!json_is_string(k) || json_string_length(k) == 0 || json_string_length(k) > 255) {
            synq_api_error(ctx, 422, "invalid_field",
                           "idempotency_key: a string of 1-255 characters", "idempotency_key");
            goto bad;
        }
        *key = json_string_value(k);
    }
    *data = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
    return body;
bad:
    json_decref(body);
    return NULL;
}

static void publish_result(synq_buf_t *b, const char *channel, const synq_pos_t *pos, bool dup)
{
    synq_buf_append(b, "{\"channel\":", 11);
    synq_buf_json_str(b, channel, strlen(channel));
    synq_buf_append(b, ",", 1);
    pos_json(b, pos);
    if (dup) synq_buf_append(b, ",\"duplicate\":true", 17);
    synq_buf_append(b, "}", 1);
}

void synq_api_channels_publish(synq_api_ctx_t *ctx)
{
    const char *channel = ctx->params[0];
    if (!may_write(ctx, channel)) return;
    char *data = NULL;
    const char *key;
    json_t *body = publish_body(ctx, &data, &key);
    if (!body) return;
    synq_pos_t pos;
    bool dup;
    int rc = synq_hub_publish(ctx->api->hub, channel, data, strlen(data), NULL, key, &pos, &dup);
    if (rc) {
        synq_api_engine_error(ctx, rc, "channel");
    } else {
        synq_buf_t b;
        synq_buf_init(&b);
        publish_result(&b, channel, &pos, dup);
        synq_api_reply_committed(ctx, 200, &b);
    }
    free(data);
    json_decref(body);
}

void synq_api_publish_many(synq_api_ctx_t *ctx)
{
    if (!may_write(ctx, NULL)) return;
    char *data = NULL;
    const char *key;
    json_t *body = publish_body(ctx, &data, &key);
    if (!body) return;
    json_t *chans = json_object_get(body, "channels");
    size_t i, n = json_array_size(chans);
    json_t *c;
    if (!json_is_array(chans) || n == 0 || n > 100) {
        synq_api_error(ctx, 422, "invalid_field", "channels: an array of 1-100 channel names",
                       "channels");
        goto out;
    }
    /* every name is checked before anything is published: all or nothing */
    json_array_foreach(chans, i, c) {
        if (!json_is_string(c) || !synq_channel_valid(json_string_value(c))) {
            char msg[80];
            snprintf(msg, sizeof msg, "channels[%zu]: not a valid channel name", i);
            synq_api_invalid(ctx, NULL, msg);
            goto out;
        }
        if (!synq_hub_ns(ctx->api->hub, json_string_value(c))) {
            char msg[80], field[40];
            snprintf(msg, sizeof msg, "channels[%zu]: the namespace is not configured", i);
            snprintf(field, sizeof field, "channels[%zu]", i);
            synq_api_error(ctx, 404, "unknown_channel", msg, field);
            goto out;
        }
    }
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "{\"results\":[", 12);
    json_array_foreach(chans, i, c) {
        synq_pos_t pos;
        bool dup;
        const char *name = json_string_value(c);
        int rc = synq_hub_publish(ctx->api->hub, name, data, strlen(data), NULL, key, &pos, &dup);
        if (rc) {
            synq_buf_release(&b);
            synq_api_engine_error(ctx, rc, "channel");
            goto out;
        }
        if (i) synq_buf_append(&b, ",", 1);
        publish_result(&b, name, &pos, dup);
    }
    synq_buf_append(&b, "]}", 2);
    synq_api_reply_committed(ctx, 200, &b);
out:
    free(data);
    json_decref(body);
}

void synq_api_channels_reset(synq_api_ctx_t *ctx)
{
    const char *channel = ctx->params[0];
    if (!may_write(ctx, channel)) return;
    synq_pos_t pos;
    int rc = synq_hub_reset(ctx->api->hub, channel, &pos);
    if (rc) {
        synq_api_engine_error(ctx, rc, "channel");
        return;
    }
    synq_buf_t b;
    synq_buf_init(&b);
    publish_result(&b, channel, &pos, false);
    synq_api_reply_committed(ctx, 200, &b);
}

void synq_api_channels_list(synq_api_ctx_t *ctx)
{
    if (!may_write(ctx, NULL)) return;
    char prefix[SYNQ_CHANNEL_MAX + 1];
    bool has = synq_http_req_query(ctx->req, "prefix", prefix, sizeof prefix) >= 0;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_hub_channels(ctx->api->hub, has ? prefix : NULL, &b);
    synq_api_reply(ctx, 200, &b);
    synq_buf_release(&b);
}

static void presence(synq_api_ctx_t *ctx, bool stats)
{
    const char *channel = ctx->params[0];
    reader_t r;
    if (!identify(ctx, &r)) return;
    if (!may_read(ctx, &r, channel)) goto out;
    const synq_ns_t *ns = synq_hub_ns(ctx->api->hub, channel);
    if (!ns->presence) {
        synq_api_error(ctx, 409, "presence_off", "presence is not enabled for this namespace",
                       NULL);
        goto out;
    }
    synq_buf_t b;
    synq_buf_init(&b);
    int rc = stats ? synq_hub_presence_stats(ctx->api->hub, channel, &b)
                   : synq_hub_presence(ctx->api->hub, channel, &b);
    if (rc)
        synq_api_engine_error(ctx, rc, "channel");
    else
        synq_api_reply(ctx, 200, &b);
    synq_buf_release(&b);
out:
    synq_jwt_release(&r.jwt);
}

void synq_api_channels_presence(synq_api_ctx_t *ctx)
{
    presence(ctx, false);
}

void synq_api_channels_presence_stats(synq_api_ctx_t *ctx)
{
    presence(ctx, true);
}

/* ---- history and long-poll ----------------------------------------------------- */

typedef struct {
    synq_buf_t *b;
    size_t n;
    synq_pos_t last;
} collect_t;

static void on_collect(synq_hub_pub_t *p, void *arg)
{
    collect_t *c = arg;
    if (c->n++) synq_buf_append(c->b, ",", 1);
    pub_json(c->b, p, false);
    memcpy(c->last.epoch, p->epoch, sizeof c->last.epoch);
    c->last.offset = p->offset;
}

static void etag_header(char *out, size_t outlen, const synq_pos_t *pos)
{
    snprintf(out, outlen, "ETag: \"%s:%llu\"\r\nCache-Control: no-store\r\n", pos->epoch,
             (unsigned long long)pos->offset);
}

static void reply_unrecovered(synq_http_req_t *req, const char *channel, const synq_pos_t *top)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "{\"error\":{\"code\":\"unrecoverable_position\",\"message\":\"the "
                        "position is no longer in the channel's history (or its epoch "
                        "changed): reload the state, then continue from the position "
                        "given\"},\"channel\":",
                    strlen("{\"error\":{\"code\":\"unrecoverable_position\",\"message\":\"the "
                           "position is no longer in the channel's history (or its epoch "
                           "changed): reload the state, then continue from the position "
                           "given\"},\"channel\":"));
    synq_buf_json_str(&b, channel, strlen(channel));
    synq_buf_append(&b, ",\"recovered\":false,", 19);
    pos_json(&b, top);
    synq_buf_append(&b, "}", 1);
    char hdr[128];
    etag_header(hdr, sizeof hdr, top);
    synq_http_respond(req, 409, "application/json", hdr, b.data, b.len);
    synq_buf_release(&b);
}

/* Answers a history read: the publications after since (or from the oldest
 * kept), at most limit. Returns false without replying when nothing is
 * newer and the caller may wait. */
static bool answer_history(synq_hub_t *hub, synq_http_req_t *req, const char *channel,
                           const synq_pos_t *since, int limit, bool reverse, bool may_wait,
                           bool not_modified)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "{\"publications\":[", 17);
    collect_t c = {.b = &b};
    synq_pos_t top;
    int rc = synq_hub_history(hub, channel, since, limit, reverse, on_collect, &c, &top);
    if (rc == SYNQ_EGONE) {
        synq_buf_release(&b);
        reply_unrecovered(req, channel, &top);
        return true;
    }
    if (rc) {
        synq_buf_release(&b);
        synq_http_respond_error(req, 503, "unavailable", synq_strerror(rc), NULL);
        return true;
    }
    if (c.n == 0 && since && may_wait) {
        synq_buf_release(&b);
        return false;
    }
    /* the ETag is the position the client has once it took this answer */
    synq_pos_t at = since && !reverse ? *since : top;
    if (since && !since->epoch[0]) memcpy(at.epoch, top.epoch, sizeof at.epoch);
    if (c.n && !reverse) at = c.last;
    char hdr[160];
    etag_header(hdr, sizeof hdr, &at);
    if (c.n == 0 && not_modified) {
        synq_http_respond(req, 304, NULL, hdr, "", 0);
        synq_buf_release(&b);
        return true;
    }
    synq_buf_append(&b, "],", 2);
    pos_json(&b, &top);
    synq_buf_printf(&b, ",\"more\":%s}",
                    !reverse && c.n && c.last.offset < top.offset ? "true" : "false");
    synq_http_respond(req, 200, "application/json", hdr, b.data, b.len);
    synq_buf_release(&b);
    return true;
}

static void conn_free_timer(uv_handle_t *h)
{
    free(h->data);
}

/* Unsubscribes everything and unlinks; the memory goes with the timer's
 * close (polls) or here (streams). */
static void conn_detach(chconn_t *c)
{
    synq_channel_streams_t *reg = c->reg;
    if (reg) {
        for (size_t i = 0; i < c->n; i++) {
            synq_hub_unsubscribe(reg->hub, c->ch[i].sub);
            c->ch[i].sub = NULL;
        }
        if (c->prev)
            c->prev->next = c->next;
        else
            reg->all = c->next;
        if (c->next) c->next->prev = c->prev;
        c->reg = NULL;
    }
}

static void poll_finish(chconn_t *c)
{
    conn_detach(c);
    uv_timer_stop(&c->timer);
    c->timer.data = c;
    uv_close((uv_handle_t *)&c->timer, conn_free_timer);
}

static void on_poll_timeout(uv_timer_t *t);

/* A publication reached a waiting poll. The answer goes out on the next
 * loop turn, from history: by then every publication of the same commit is
 * in it, so they all go in one answer. */
static void on_poll_pub(synq_hub_sub_t *sub, synq_hub_pub_t *p, void *arg)
{
    (void)sub, (void)p;
    chconn_t *c = ((chan_ref_t *)arg)->conn;
    if (!c->req || c->woken) return;
    c->woken = true;
    uv_timer_start(&c->timer, on_poll_timeout, 0, 0);
}

static void on_poll_reset(synq_hub_sub_t *sub, const char *channel, const synq_pos_t *pos,
                          void *arg)
{
    (void)sub;
    chan_ref_t *ref = arg;
    chconn_t *c = ref->conn;
    if (!c->req) return;
    synq_http_req_t *req = c->req;
    c->req = NULL;
    reply_unrecovered(req, channel, pos);
    poll_finish(c);
}

static void on_poll_timeout(uv_timer_t *t)
{
    chconn_t *c = t->data;
    if (!c->req) return;
    synq_http_req_t *req = c->req;
    c->req = NULL;
    if (c->woken && c->reg &&
        answer_history(c->reg->hub, req, c->ch[0].name, &c->ch[0].pos, c->limit, false, false,
                       false)) {
        poll_finish(c);
        return;
    }
    char hdr[160];
    etag_header(hdr, sizeof hdr, &c->ch[0].pos);
    synq_http_respond(req, 204, NULL, hdr, "", 0);
    poll_finish(c);
}

static void on_poll_abort(synq_http_req_t *req, void *arg)
{
    chconn_t *c = arg;
    if (!c->req) return;
    c->req = NULL;
    synq_http_respond(req, 499, NULL, NULL, "", 0); /* only frees it: the client is gone */
    poll_finish(c);
}

static const synq_hub_sink_t poll_sink = {.pub = on_poll_pub, .reset = on_poll_reset};

/* Whether the query string names parameter `name` at all (whatever the
 * length of its value). */
static bool query_has(const synq_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (const char *q = req->query; q && *q;) {
        if (strncmp(q, name, n) == 0 && (q[n] == '=' || q[n] == '&' || q[n] == '\0')) return true;
        q = strchr(q, '&');
        if (q) q++;
    }
    return false;
}

/* Parses a non-negative integer query parameter; -1 absent, -2 bad. */
static long long query_uint(synq_http_req_t *req, const char *name)
{
    char v[32];
    if (synq_http_req_query(req, name, v, sizeof v) < 0) return query_has(req, name) ? -2 : -1;
    char *end;
    if (!v[0] || v[0] == '-') return -2;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n > (1ULL << 62)) return -2;
    return (long long)n;
}

/* The position a read starts from: ?since= (with ?epoch=), else an
 * If-None-Match ETag (then *not_modified: "nothing newer" is a 304).
 * Returns 1 with *pos, 0 for none, -1 for one no stream can have (an epoch
 * longer than any we make, a malformed ETag): unrecoverable. */
static int read_position(synq_http_req_t *req, long long since, synq_pos_t *pos,
                         bool *not_modified)
{
    if (since >= 0) {
        pos->offset = (uint64_t)since;
        char ep[SYNQ_EPOCH_LEN + 8];
        int el = synq_http_req_query(req, "epoch", ep, sizeof ep);
        /* too long for ep (-1) is not absent */
        if (el > SYNQ_EPOCH_LEN || (el < 0 && query_has(req, "epoch"))) return -1;
        if (el > 0) memcpy(pos->epoch, ep, (size_t)el + 1);
        return 1;
    }
    const char *inm = synq_http_req_header(req, "if-none-match");
    if (!inm) return 0;
    if (!parse_pos(inm, pos)) return -1;
    *not_modified = true;
    return 1;
}

void synq_api_channels_history(synq_api_ctx_t *ctx)
{
    const char *channel = ctx->params[0];
    reader_t r;
    if (!identify(ctx, &r)) return;
    if (!may_read(ctx, &r, channel)) goto out;
    synq_http_req_t *req = ctx->req;
    long long since = query_uint(req, "since");
    long long limit = query_uint(req, "limit");
    if (since == -2) {
        synq_api_error(ctx, 422, "invalid_field", "since: an offset (a non-negative integer)",
                       "since");
        goto out;
    }
    if (limit == -2 || limit > LIMIT_MAX) {
        synq_api_error(ctx, 422, "invalid_field", "limit: an integer from 0 to 1000", "limit");
        goto out;
    }
    if (limit < 0) limit = LIMIT_DEFAULT;
    char v[40];
    bool reverse = synq_http_req_query(req, "reverse", v, sizeof v) >= 0 &&
                   (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
    int64_t wait_us = 0;
    if (synq_http_req_query(req, "wait", v, sizeof v) >= 0 &&
        (synq_duration_parse(v, strlen(v), &wait_us) != 0 || wait_us < 0 ||
         wait_us > WAIT_MAX_US)) {
        synq_api_error(ctx, 422, "invalid_field", "wait: a duration of at most 5m", "wait");
        goto out;
    }
    synq_pos_t pos = {.epoch = ""};
    bool not_modified = false;
    int got = read_position(req, since, &pos, &not_modified);
    if (got < 0) {
        synq_pos_t top;
        synq_hub_position(ctx->api->hub, channel, &top);
        reply_unrecovered(req, channel, &top);
        goto out;
    }
    bool have_pos = got > 0;
    if (answer_history(ctx->api->hub, req, channel, have_pos ? &pos : NULL, (int)limit, reverse,
                       have_pos && wait_us > 0 && !reverse, not_modified))
        goto out;
    /* nothing newer: wait for the next publication (or the end of the wait) */
    synq_channel_streams_t *reg = ctx->api->chstreams;
    chconn_t *c = synq_calloc(1, sizeof *c);
    c->reg = reg;
    c->req = req;
    c->limit = (int)limit;
    c->n = 1;
    c->ch[0].conn = c;
    snprintf(c->ch[0].name, sizeof c->ch[0].name, "%.255s", channel);
    synq_pos_t now;
    c->ch[0].sub = synq_hub_subscribe(reg->hub, channel, NULL, false, &poll_sink, &c->ch[0], &now);
    c->ch[0].pos = pos.epoch[0] ? pos : now;
    c->next = reg->all;
    if (reg->all) reg->all->prev = c;
    reg->all = c;
    uv_timer_init(synq_engine_loop(ctx->engine), &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_poll_timeout, (uint64_t)(wait_us / 1000), 0);
    synq_http_req_on_abort(req, on_poll_abort, c);
out:
    synq_jwt_release(&r.jwt);
}

/* ---- Server-Sent Events --------------------------------------------------------- */

static synq_rcbuf_t *build_sse_one(const synq_hub_pub_t *p, void *arg)
{
    (void)arg;
    char id[48];
    snprintf(id, sizeof id, "%s:%llu", p->epoch, (unsigned long long)p->offset);
    return synq_sse_frame(id, NULL, p->data, p->len, NULL);
}

static synq_rcbuf_t *build_sse_multi(const synq_hub_pub_t *p, void *arg)
{
    (void)arg;
    synq_buf_t b, ev;
    synq_buf_init(&b);
    synq_buf_init(&ev);
    pub_json(&b, p, true);
    synq_sse_format(&ev, NULL, NULL, b.data, b.len);
    synq_buf_release(&b);
    return synq_rcbuf_from_buf(&ev);
}

/* The compound id of a several-channel stream: "a=EPOCH:OFF,b=EPOCH:OFF". */
static void multi_id(const chconn_t *c, synq_buf_t *out)
{
    for (size_t i = 0; i < c->n; i++) {
        if (i) synq_buf_append(out, ",", 1);
        synq_buf_printf(out, "%s=%s:%llu", c->ch[i].name, c->ch[i].pos.epoch,
                        (unsigned long long)c->ch[i].pos.offset);
    }
}

/* Sends one publication to a stream. */
static void stream_send(chan_ref_t *ref, synq_hub_pub_t *p)
{
    chconn_t *c = ref->conn;
    if (!c->sse || synq_sse_over(c->sse)) return;
    memcpy(ref->pos.epoch, p->epoch, sizeof ref->pos.epoch);
    ref->pos.offset = p->offset;
    if (!c->multi) {
        synq_sse_send_frame(c->sse, synq_hub_pub_encoded(p, SYNQ_ENC_SSE, build_sse_one, NULL));
        return;
    }
    /* the id line is this stream's own; the event after it is shared */
    synq_buf_t id;
    synq_buf_init(&id);
    synq_buf_append(&id, "id: ", 4);
    multi_id(c, &id);
    synq_buf_append(&id, "\n", 1);
    synq_rcbuf_t *idf = synq_rcbuf_from_buf(&id);
    if (synq_sse_send_frame(c->sse, idf) == 0)
        synq_sse_send_frame(c->sse, synq_hub_pub_encoded(p, SYNQ_ENC_SSE_MULTI, build_sse_multi,
                                                         NULL));
    synq_rcbuf_unref(idf);
}

static void on_stream_pub(synq_hub_sub_t *sub, synq_hub_pub_t *p, void *arg)
{
    (void)sub;
    stream_send(arg, p);
}

/* Tells the client its position for channel is void: an `unrecovered`
 * event ({channel, epoch, offset, recovered:false}), whose id carries the
 * current position, from which the stream goes on. */
static void stream_unrecovered(chan_ref_t *ref, const synq_pos_t *top)
{
    chconn_t *c = ref->conn;
    ref->pos = *top;
    synq_buf_t data, id;
    synq_buf_init(&data);
    synq_buf_init(&id);
    synq_buf_append(&data, "{\"channel\":", 11);
    synq_buf_json_str(&data, ref->name, strlen(ref->name));
    synq_buf_append(&data, ",", 1);
    pos_json(&data, top);
    synq_buf_append(&data, ",\"recovered\":false}", 19);
    if (c->multi)
        multi_id(c, &id);
    else
        synq_buf_printf(&id, "%s:%llu", top->epoch, (unsigned long long)top->offset);
    synq_buf_append(&id, "", 0);
    synq_sse_send(c->sse, id.data, "unrecovered", data.data, data.len);
    synq_buf_release(&data);
    synq_buf_release(&id);
}

static void on_stream_reset(synq_hub_sub_t *sub, const char *channel, const synq_pos_t *pos,
                            void *arg)
{
    (void)sub, (void)channel;
    chan_ref_t *ref = arg;
    if (ref->conn->sse && !synq_sse_over(ref->conn->sse)) stream_unrecovered(ref, pos);
}

static const synq_hub_sink_t stream_sink = {.pub = on_stream_pub, .reset = on_stream_reset};

static void on_stream_close(synq_sse_t *sse, synq_sse_close_t reason, void *arg)
{
    (void)sse, (void)reason;
    chconn_t *c = arg;
    conn_detach(c);
    free(c);
}

static void on_replay(synq_hub_pub_t *p, void *arg)
{
    stream_send(arg, p);
}

/* The resume positions of a stream from Last-Event-ID (header first) or
 * ?last_event_id=: pos[i] set and have[i] true for the channels named. */
static void resume_positions(synq_http_req_t *req, chconn_t *c, bool *have)
{
    char buf[4096];
    const char *h = synq_http_req_header(req, "last-event-id");
    if (h)
        snprintf(buf, sizeof buf, "%s", h);
    else if (synq_http_req_query(req, "last_event_id", buf, sizeof buf) < 0)
        return;
    if (!c->multi) {
        have[0] = parse_pos(buf, &c->ch[0].pos);
        return;
    }
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(part, '=');
        if (!eq) continue;
        *eq = '\0';
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->ch[i].name, part) == 0) have[i] = parse_pos(eq + 1, &c->ch[i].pos);
    }
}

static void stream_start(synq_api_ctx_t *ctx, const char *const *names, size_t n, bool multi)
{
    synq_channel_streams_t *reg = ctx->api->chstreams;
    chconn_t *c = synq_calloc(1, sizeof *c);
    c->multi = multi;
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        c->ch[i].conn = c;
        snprintf(c->ch[i].name, sizeof c->ch[i].name, "%.255s", names[i]);
    }
    bool have[MAX_STREAM_CHANNELS] = {false};
    resume_positions(ctx->req, c, have);
    synq_sse_config_t cfg;
    synq_sse_config_init(&cfg);
    cfg.max_queued_bytes = 1024 * 1024;
    /* a recovery goes out in one burst: allow for it on top of the bound */
    c->sse = synq_sse_start(ctx->req, &cfg, on_stream_close, c);
    ctx->req = NULL;
    if (!c->sse) {
        free(c);
        return;
    }
    c->reg = reg;
    c->next = reg->all;
    if (reg->all) reg->all->prev = c;
    reg->all = c;
    if (synq_sse_over(c->sse)) return; /* HEAD */
    /* Subscribing and replaying happen in one loop turn: publications
     * committed after the position taken here reach the sink, those before
     * it come from history, none twice. */
    synq_pos_t top;
    for (size_t i = 0; i < n; i++) {
        chan_ref_t *ref = &c->ch[i];
        ref->sub = synq_hub_subscribe(reg->hub, ref->name, NULL, false, &stream_sink, ref, &top);
        if (!have[i]) ref->pos = top;
    }
    /* replays only once every channel has its position: the compound ids
     * they carry must name a real position for the others too */
    for (size_t i = 0; i < n; i++) {
        chan_ref_t *ref = &c->ch[i];
        if (!have[i]) continue;
        synq_pos_t since = ref->pos;
        int rc = synq_hub_history(reg->hub, ref->name, &since, -1, false, on_replay, ref, &top);
        if (rc == SYNQ_EGONE)
            stream_unrecovered(ref, &top);
        else if (rc == 0 && !ref->pos.epoch[0])
            ref->pos = top; /* an empty epoch matched, nothing was missed: name the epoch */
    }
    /* A first `position` event carrying the current position as its id
     * (and in its data): the client has a position to resume from even if
     * it disconnects before any publication. It has data because some
     * clients (the eventsource npm package) ignore id-only events. */
    synq_buf_t id, data;
    synq_buf_init(&id);
    synq_buf_init(&data);
    if (multi)
        multi_id(c, &id);
    else
        synq_buf_printf(&id, "%s:%llu", c->ch[0].pos.epoch,
                        (unsigned long long)c->ch[0].pos.offset);
    synq_buf_append(&data, "{\"channels\":[", 13);
    for (size_t i = 0; i < n; i++) {
        if (i) synq_buf_append(&data, ",", 1);
        synq_buf_append(&data, "{\"channel\":", 11);
        synq_buf_json_str(&data, c->ch[i].name, strlen(c->ch[i].name));
        synq_buf_append(&data, ",", 1);
        pos_json(&data, &c->ch[i].pos);
        synq_buf_append(&data, "}", 1);
    }
    synq_buf_append(&data, "]}", 2);
    synq_sse_send(c->sse, id.data, "position", data.data, data.len);
    synq_buf_release(&id);
    synq_buf_release(&data);
}

void synq_api_channels_events(synq_api_ctx_t *ctx)
{
    const char *channel = ctx->params[0];
    reader_t r;
    if (!identify(ctx, &r)) return;
    if (may_read(ctx, &r, channel)) stream_start(ctx, &channel, 1, false);
    synq_jwt_release(&r.jwt);
}

void synq_api_events(synq_api_ctx_t *ctx)
{
    reader_t r;
    if (!identify(ctx, &r)) return;
    char names[MAX_STREAM_CHANNELS][SYNQ_CHANNEL_MAX + 1];
    const char *ptrs[MAX_STREAM_CHANNELS];
    size_t n = 0;
    /* ?channel=a&channel=b: every occurrence */
    const char *q = ctx->req->query;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > 8 && strncmp(q, "channel=", 8) == 0) {
            if (n == MAX_STREAM_CHANNELS) {
                synq_api_error(ctx, 422, "invalid_field", "channel: at most 16 per stream",
                               "channel");
                goto out;
            }
            if (synq_http_pct_decode(q + 8, len - 8, names[n], sizeof names[n], true) < 0) {
                synq_api_error(ctx, 400, "bad_channel", "channel name too long", "channel");
                goto out;
            }
            bool dup = false;
            for (size_t i = 0; i < n; i++) dup |= strcmp(names[i], names[n]) == 0;
            if (!dup) {
                if (!may_read(ctx, &r, names[n])) goto out;
                ptrs[n] = names[n];
                n++;
            }
        }
        q = amp ? amp + 1 : NULL;
    }
    if (n == 0) {
        synq_api_error(ctx, 422, "invalid_field", "channel: name at least one (?channel=a)",
                       "channel");
        goto out;
    }
    stream_start(ctx, ptrs, n, true);
out:
    synq_jwt_release(&r.jwt);
}

/* ---- registry ------------------------------------------------------------------- */

void synq_api_channel_streams_init(synq_api_t *api)
{
    synq_channel_streams_t *reg = synq_calloc(1, sizeof *reg);
    reg->hub = api->hub;
    api->chstreams = reg;
}

void synq_api_channel_streams_close(synq_api_t *api)
{
    synq_channel_streams_t *reg = api->chstreams;
    if (!reg) return;
    api->chstreams = NULL;
    while (reg->all) {
        chconn_t *c = reg->all;
        if (c->req) {
            synq_http_req_t *req = c->req;
            c->req = NULL;
            char hdr[160];
            etag_header(hdr, sizeof hdr, &c->ch[0].pos);
            synq_http_respond(req, 204, NULL, hdr, "", 0);
            poll_finish(c);
        } else {
            conn_detach(c); /* on_close frees it later */
            synq_sse_end(c->sse);
        }
    }
    free(reg);
}

/* ---- WebSocket (Centrifugo client protocol) ------------------------------------ */

void synq_api_centrifuge_init(synq_api_t *api, const synq_api_config_t *cfg)
{
    synq_centrifuge_config_t ccfg;
    synq_centrifuge_config_init(&ccfg);
    ccfg.jwt_secret = cfg->jwt_secret;
    ccfg.open = !cfg->api_key && !cfg->jwt_secret;
    ccfg.ws.origins = cfg->ws_origins;
    if (cfg->ws_max_message) ccfg.ws.max_message = cfg->ws_max_message;
    api->centrifuge = synq_centrifuge_new(api->hub, &ccfg);
}

void synq_api_centrifuge_close(synq_api_t *api)
{
    synq_centrifuge_close(api->centrifuge);
    api->centrifuge = NULL;
}

void synq_api_websocket(synq_api_ctx_t *ctx)
{
    if (!ctx->api->centrifuge) {
        synq_api_error(ctx, 503, "unavailable", "shutting down", NULL);
        return;
    }
    synq_centrifuge_accept(ctx->api->centrifuge, ctx->req);
}
