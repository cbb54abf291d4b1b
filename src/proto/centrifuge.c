/* Centrifugo client protocol v2 (JSON) over WebSocket. See centrifuge.h.
 *
 * A client_t lives from the upgrade until the WebSocket's on_close. Its
 * subscriptions are hub subscriptions whose sink writes the publication's
 * shared frame; commands are dispatched through a table that states, for
 * each method, whether it needs a connected client and a channel, so the
 * checks are done once. */
#include "proto/centrifuge.h"

#include "core/jwt.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Error codes (Centrifugo client protocol). */
enum {
    E_INTERNAL = 100,
    E_UNAUTHORIZED = 101,
    E_UNKNOWN_CHANNEL = 102,
    E_PERMISSION_DENIED = 103,
    E_METHOD_NOT_FOUND = 104,
    E_ALREADY_SUBSCRIBED = 105,
    E_LIMIT_EXCEEDED = 106,
    E_BAD_REQUEST = 107,
    E_NOT_AVAILABLE = 108,
    E_TOKEN_EXPIRED = 109,
    E_UNRECOVERABLE = 112,
};

/* Disconnect codes: 3000-3499 the client reconnects, 3500+ it does not. */
enum {
    D_SHUTDOWN = 3001,
    D_EXPIRED = 3005,
    D_SLOW = 3008,
    D_NO_PONG = 3012,
    D_INVALID_TOKEN = 3500,
    D_BAD_REQUEST = 3501,
    D_STALE = 3502,
};

/* subscribe flag: reply error 112 instead of recovered:false */
#define FLAG_REJECT_UNRECOVERED 2

/* A connection whose token expired is closed this long after "exp" (as
 * Centrifugo's client_expired_close_delay): the SDKs refresh `ttl` whole
 * seconds after the reply, and ttl counts from the current whole second, so
 * a refresh lands up to a second after "exp" even when nothing is late. */
#define EXPIRED_CLOSE_DELAY_S 25

typedef struct client_s client_t;

typedef struct csub_s {
    client_t *cl;
    synq_hub_sub_t *sub;
    char channel[SYNQ_CHANNEL_MAX + 1];
    int64_t expires_at_s; /* channel token expiry, 0 = none */
} csub_t;

struct client_s {
    synq_centrifuge_t *cf; /* NULL once detached (shutdown) */
    client_t *prev, *next;
    synq_ws_t *ws;
    char id[37];
    bool connected, pong, closing;
    char *user;      /* "" anonymous */
    char *conn_info; /* JSON text or NULL */
    int64_t expires_at_s; /* connection token expiry, 0 = none */
    synq_map_t subs;      /* channel -> csub_t */
    uv_timer_t timer;     /* connect deadline, then pings */
    int64_t last_seen_us; /* any data from the client */
    int64_t ping_sent_us; /* an unanswered ping, or 0 */
    int64_t next_ping_us; /* when the next ping is due */
    synq_buf_t out;       /* replies to the message being handled */
};

struct synq_centrifuge_s {
    synq_hub_t *hub;
    synq_centrifuge_config_t cfg;
    char *secret;
    char *origins;
    client_t *clients;
    size_t nclients;
};

void synq_centrifuge_config_init(synq_centrifuge_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    synq_ws_config_init(&cfg->ws);
    cfg->ping_interval_ms = 25000;
    cfg->pong_timeout_ms = 8000;
    cfg->connect_timeout_ms = 10000;
    cfg->max_subs = 512;
}

/* ---- output -------------------------------------------------------------- */

static void out_sep(client_t *c)
{
    if (c->out.len) synq_buf_append(&c->out, "\n", 1);
}

static void reply_error(client_t *c, int64_t id, int code, const char *message)
{
    out_sep(c);
    synq_buf_printf(&c->out, "{\"id\":%lld,\"error\":{\"code\":%d,\"message\":", (long long)id,
                    code);
    synq_buf_json_str(&c->out, message, strlen(message));
    if (code == E_INTERNAL || code == E_NOT_AVAILABLE)
        synq_buf_append(&c->out, ",\"temporary\":true", 17);
    synq_buf_append(&c->out, "}}", 2);
}

/* Starts {"id":N,"<method>":{ ; the handler appends the fields and
 * reply_end closes it. */
static void reply_begin(client_t *c, int64_t id, const char *method)
{
    out_sep(c);
    synq_buf_printf(&c->out, "{\"id\":%lld,\"%s\":{", (long long)id, method);
}

static void reply_end(client_t *c)
{
    synq_buf_append(&c->out, "}}", 2);
}

static void flush_out(client_t *c)
{
    if (c->out.len == 0) return;
    if (!c->closing) {
        int rc = synq_ws_send_text(c->ws, c->out.data, c->out.len);
        if (rc == SYNQ_ETOOBIG) {
            c->closing = true;
            synq_ws_close(c->ws, D_SLOW, "slow consumer, reconnect");
        }
    }
    c->out.len = 0;
}

static void send_push(client_t *c, const char *json, size_t len)
{
    if (c->closing) return;
    if (synq_ws_send_text(c->ws, json, len) == SYNQ_ETOOBIG) {
        c->closing = true;
        synq_ws_close(c->ws, D_SLOW, "slow consumer, reconnect");
    }
}

/* Sends a disconnect push and closes with the same code. */
static void disconnect(client_t *c, int code, const char *reason)
{
    if (c->closing) return;
    char push[256];
    int n = snprintf(push, sizeof push,
                     "{\"push\":{\"disconnect\":{\"code\":%d,\"reason\":\"%s\",\"reconnect\":%s}}}",
                     code, reason, code < 3500 ? "true" : "false");
    flush_out(c);
    send_push(c, push, (size_t)n);
    c->closing = true;
    synq_ws_close(c->ws, code, reason);
}

/* ---- publications -------------------------------------------------------- */

static void pub_fields(synq_buf_t *b, const synq_hub_pub_t *p)
{
    synq_buf_append(b, "{\"data\":", 8);
    synq_buf_append(b, p->data, p->len);
    if (p->info) {
        synq_buf_append(b, ",\"info\":", 8);
        synq_buf_append(b, p->info, strlen(p->info));
    }
    synq_buf_printf(b, ",\"offset\":%llu}", (unsigned long long)p->offset);
}

static void push_json(const synq_hub_pub_t *p, synq_buf_t *b)
{
    synq_buf_append(b, "{\"push\":{\"channel\":", 19);
    synq_buf_json_str(b, p->channel, strlen(p->channel));
    synq_buf_append(b, ",\"pub\":", 7);
    pub_fields(b, p);
    synq_buf_append(b, "}}", 2);
}

static synq_rcbuf_t *build_plain(const synq_hub_pub_t *p, void *arg)
{
    (void)arg;
    synq_buf_t b;
    synq_buf_init(&b);
    push_json(p, &b);
    synq_rcbuf_t *f = synq_ws_frame(b.data, b.len, false);
    synq_buf_release(&b);
    return f;
}

static synq_rcbuf_t *build_deflate(const synq_hub_pub_t *p, void *arg)
{
    size_t min = *(const size_t *)arg;
    synq_buf_t b;
    synq_buf_init(&b);
    push_json(p, &b);
    /* short messages are not worth compressing: an uncompressed frame is
     * valid on a compressing connection too */
    synq_rcbuf_t *f = synq_ws_frame(b.data, b.len, b.len >= min);
    synq_buf_release(&b);
    return f;
}

static void on_sub_pub(synq_hub_sub_t *sub, synq_hub_pub_t *p, void *arg)
{
    (void)sub;
    csub_t *s = arg;
    client_t *c = s->cl;
    if (c->closing) return;
    synq_rcbuf_t *frame;
    if (synq_ws_deflate(c->ws)) {
        size_t min = synq_ws_deflate_min(c->ws);
        frame = synq_hub_pub_encoded(p, SYNQ_ENC_WS_JSON_DEFLATE, build_deflate, &min);
    } else {
        frame = synq_hub_pub_encoded(p, SYNQ_ENC_WS_JSON, build_plain, NULL);
    }
    if (synq_ws_send_frame(c->ws, frame) == SYNQ_ETOOBIG) {
        /* a slow consumer: it reconnects and recovers from history */
        c->closing = true;
        synq_ws_close(c->ws, D_SLOW, "slow consumer, reconnect");
    }
}

static void client_info_json(synq_buf_t *b, const synq_hub_client_t *who)
{
    synq_buf_append(b, "{\"client\":", 10);
    synq_buf_json_str(b, who->client, strlen(who->client));
    synq_buf_append(b, ",\"user\":", 8);
    synq_buf_json_str(b, who->user, strlen(who->user));
    if (who->conn_info) {
        synq_buf_append(b, ",\"conn_info\":", 13);
        synq_buf_append(b, who->conn_info, strlen(who->conn_info));
    }
    if (who->chan_info) {
        synq_buf_append(b, ",\"chan_info\":", 13);
        synq_buf_append(b, who->chan_info, strlen(who->chan_info));
    }
    synq_buf_append(b, "}", 1);
}

static void on_sub_join(synq_hub_sub_t *sub, const char *channel, const synq_hub_client_t *who,
                        bool leave, void *arg)
{
    (void)sub;
    csub_t *s = arg;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "{\"push\":{\"channel\":", 19);
    synq_buf_json_str(&b, channel, strlen(channel));
    synq_buf_printf(&b, ",\"%s\":{\"info\":", leave ? "leave" : "join");
    client_info_json(&b, who);
    synq_buf_append(&b, "}}}", 3);
    send_push(s->cl, b.data, b.len);
    synq_buf_release(&b);
}

/* The channel's history was reset: the client's position is void. It is
 * unsubscribed with 2500 ("insufficient state", resubscribe), so the SDK
 * subscribes again, fails to recover and tells the app to reload. */
static void on_sub_reset(synq_hub_sub_t *sub, const char *channel, const synq_pos_t *pos,
                         void *arg)
{
    (void)sub, (void)pos;
    csub_t *s = arg;
    client_t *c = s->cl;
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "{\"push\":{\"channel\":", 19);
    synq_buf_json_str(&b, channel, strlen(channel));
    synq_buf_append(&b, ",\"unsubscribe\":{\"code\":2500,\"reason\":\"insufficient state\"}}}",
                    strlen(",\"unsubscribe\":{\"code\":2500,\"reason\":\"insufficient state\"}}}"));
    send_push(c, b.data, b.len);
    synq_buf_release(&b);
    if (c->cf) synq_hub_unsubscribe(c->cf->hub, s->sub);
    synq_map_del(&c->subs, s->channel);
    free(s);
}

static const synq_hub_sink_t sink = {.pub = on_sub_pub, .join = on_sub_join,
                                     .reset = on_sub_reset};

/* ---- tokens ----------------------------------------------------------------- */

/* Verifies a token: 0, SYNQ_EEXPIRED or another error. */
static int verify_token(client_t *c, const char *token, synq_jwt_t *jwt)
{
    const char *secret = c->cf->secret;
    char err[200];
    if (!secret) return SYNQ_EINVAL; /* no secret configured: no token is valid */
    return synq_jwt_verify(token, strlen(token), secret, strlen(secret),
                           synq_time_now_us() / 1000000, jwt, err, sizeof err);
}

/* Verifies a token; on failure replies with the error (109 expired, 101
 * otherwise) and returns false. */
static bool check_token(client_t *c, int64_t id, const char *token, synq_jwt_t *jwt)
{
    int rc = verify_token(c, token, jwt);
    if (rc == 0) return true;
    reply_error(c, id, rc == SYNQ_EEXPIRED ? E_TOKEN_EXPIRED : E_UNAUTHORIZED,
                rc == SYNQ_EEXPIRED ? "token expired" : "unauthorized");
    return false;
}

static void ttl_fields(client_t *c, int64_t expires_at_s)
{
    if (!expires_at_s) return;
    int64_t ttl = expires_at_s - synq_time_now_us() / 1000000;
    synq_buf_printf(&c->out, ",\"expires\":true,\"ttl\":%lld", (long long)(ttl > 0 ? ttl : 0));
}

/* ---- commands --------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

typedef struct {
    client_t *c;
    int64_t id;
    json_t *params;
    const char *channel; /* for methods that name one */
    csub_t *sub;         /* the client's subscription to it, if any */
} cmd_t;

static void cmd_connect(cmd_t *k)
{
    client_t *c = k->c;
    if (c->connected) {
        reply_error(c, k->id, E_BAD_REQUEST, "already connected");
        return;
    }
    const char *token = json_string_value(json_object_get(k->params, "token"));
    free(c->user);
    c->user = synq_strdup("");
    if (token && *token) {
        synq_jwt_t jwt;
        int rc = verify_token(c, token, &jwt);
        if (rc == SYNQ_EEXPIRED) {
            /* the SDK asks its getToken for a fresh one and connects again */
            reply_error(c, k->id, E_TOKEN_EXPIRED, "token expired");
            return;
        }
        if (rc) {
            /* a bad token: Centrifugo ends the connection for good */
            disconnect(c, D_INVALID_TOKEN, "invalid token");
            return;
        }
        free(c->user);
        c->user = synq_strdup(jwt.sub);
        free(c->conn_info);
        c->conn_info = jwt.info ? synq_strdup(jwt.info) : NULL;
        c->expires_at_s = jwt.has_exp ? jwt.exp_s : 0;
        synq_jwt_release(&jwt);
    }
    c->connected = true;
    c->pong = true;
    reply_begin(c, k->id, "connect");
    synq_buf_append(&c->out, "\"client\":\"", 10);
    synq_buf_append(&c->out, c->id, strlen(c->id));
    synq_buf_printf(&c->out, "\",\"version\":\"synq\",\"ping\":%llu,\"pong\":true",
                    (unsigned long long)(c->cf->cfg.ping_interval_ms / 1000));
    ttl_fields(c, c->expires_at_s);
    reply_end(c);
    /* from now on the timer pings */
    c->ping_sent_us = 0;
    c->next_ping_us = synq_time_now_us() + (int64_t)c->cf->cfg.ping_interval_ms * 1000;
    uv_timer_start(&c->timer, on_timer, c->cf->cfg.ping_interval_ms, 0);
}

static void cmd_refresh(cmd_t *k)
{
    client_t *c = k->c;
    const char *token = json_string_value(json_object_get(k->params, "token"));
    if (!token || !*token) {
        reply_error(c, k->id, E_BAD_REQUEST, "token required");
        return;
    }
    synq_jwt_t jwt;
    if (!check_token(c, k->id, token, &jwt)) return;
    if (strcmp(jwt.sub, c->user) != 0) {
        synq_jwt_release(&jwt);
        reply_error(c, k->id, E_UNAUTHORIZED, "the token is for another user");
        return;
    }
    c->expires_at_s = jwt.has_exp ? jwt.exp_s : 0;
    synq_jwt_release(&jwt);
    reply_begin(c, k->id, "refresh");
    synq_buf_append(&c->out, "\"client\":\"", 10);
    synq_buf_append(&c->out, c->id, strlen(c->id));
    synq_buf_append(&c->out, "\",\"version\":\"synq\"", 18);
    ttl_fields(c, c->expires_at_s);
    reply_end(c);
}

typedef struct {
    synq_buf_t *b;
    size_t n;
} pubs_t;

static void on_pub_collect(synq_hub_pub_t *p, void *arg)
{
    pubs_t *ps = arg;
    if (ps->n++) synq_buf_append(ps->b, ",", 1);
    pub_fields(ps->b, p);
}

static void cmd_subscribe(cmd_t *k)
{
    client_t *c = k->c;
    synq_hub_t *hub = c->cf->hub;
    if (k->sub) {
        reply_error(c, k->id, E_ALREADY_SUBSCRIBED, "already subscribed");
        return;
    }
    if (c->subs.len >= c->cf->cfg.max_subs) {
        reply_error(c, k->id, E_LIMIT_EXCEEDED, "too many subscriptions");
        return;
    }
    const synq_ns_t *ns = synq_hub_ns(hub, k->channel);
    const char *token = json_string_value(json_object_get(k->params, "token"));
    char *grant = NULL;
    int64_t sub_exp = 0;
    if (token && *token) {
        synq_jwt_t jwt;
        if (!check_token(c, k->id, token, &jwt)) return;
        bool ok = jwt.channel && strcmp(jwt.channel, k->channel) == 0 &&
                  strcmp(jwt.sub, c->user) == 0;
        if (ok) grant = synq_strdup(jwt.channel);
        sub_exp = jwt.has_exp ? jwt.exp_s : 0;
        synq_jwt_release(&jwt);
        if (!ok) {
            reply_error(c, k->id, E_PERMISSION_DENIED, "the token is not for this channel");
            return;
        }
    }
    bool allowed = c->cf->cfg.open || synq_hub_may_subscribe(ns, k->channel, c->user, grant);
    free(grant);
    if (!allowed) {
        reply_error(c, k->id, E_PERMISSION_DENIED, "permission denied");
        return;
    }
    bool recover = json_is_true(json_object_get(k->params, "recover"));
    int flag = (int)json_integer_value(json_object_get(k->params, "flag"));
    bool join_leave = json_is_true(json_object_get(k->params, "join_leave"));
    bool history = ns->history_size > 0 && ns->history_ttl_us > 0;

    csub_t *s = synq_calloc(1, sizeof *s);
    s->cl = c;
    snprintf(s->channel, sizeof s->channel, "%s", k->channel);
    s->expires_at_s = sub_exp;
    synq_hub_client_t who = {.client = c->id, .user = c->user, .conn_info = c->conn_info};
    synq_pos_t top;
    s->sub = synq_hub_subscribe(hub, k->channel, ns->presence ? &who : NULL,
                                join_leave && ns->join_leave, &sink, s, &top);
    if (!s->sub) {
        free(s);
        reply_error(c, k->id, E_INTERNAL, "internal server error");
        return;
    }
    /* Recovery runs in the same loop turn as the subscription: what was
     * committed up to `top` comes from history, anything later through the
     * sink, nothing twice. */
    synq_buf_t pubs;
    synq_buf_init(&pubs);
    pubs_t ps = {.b = &pubs};
    bool recovered = false;
    if (recover && history) {
        synq_pos_t since = {.offset = 0};
        json_t *off = json_object_get(k->params, "offset");
        const char *ep = json_string_value(json_object_get(k->params, "epoch"));
        since.offset = json_is_integer(off) && json_integer_value(off) > 0
                           ? (uint64_t)json_integer_value(off)
                           : 0;
        snprintf(since.epoch, sizeof since.epoch, "%s", ep && strlen(ep) <= SYNQ_EPOCH_LEN ? ep : "_");
        if (ep && strlen(ep) > SYNQ_EPOCH_LEN) since.epoch[0] = '_';
        int rc = synq_hub_history(hub, k->channel, &since, -1, false, on_pub_collect, &ps, &top);
        recovered = rc == 0;
        if (!recovered) pubs.len = 0, ps.n = 0;
        if (!recovered && (flag & FLAG_REJECT_UNRECOVERED)) {
            synq_hub_unsubscribe(hub, s->sub);
            free(s);
            synq_buf_release(&pubs);
            reply_error(c, k->id, E_UNRECOVERABLE, "unrecoverable position");
            return;
        }
    }
    synq_map_put(&c->subs, s->channel, s);
    reply_begin(c, k->id, "subscribe");
    synq_buf_printf(&c->out, "\"recoverable\":%s,\"epoch\":\"%s\",\"offset\":%llu",
                    history ? "true" : "false", top.epoch, (unsigned long long)top.offset);
    if (recover && history) {
        synq_buf_printf(&c->out, ",\"was_recovering\":true,\"recovered\":%s",
                        recovered ? "true" : "false");
        if (ps.n) {
            synq_buf_append(&c->out, ",\"publications\":[", 17);
            synq_buf_append(&c->out, pubs.data, pubs.len);
            synq_buf_append(&c->out, "]", 1);
        }
    }
    ttl_fields(c, sub_exp);
    reply_end(c);
    synq_buf_release(&pubs);
}

static void drop_sub(client_t *c, csub_t *s)
{
    if (c->cf) synq_hub_unsubscribe(c->cf->hub, s->sub);
    synq_map_del(&c->subs, s->channel);
    free(s);
}

static void cmd_unsubscribe(cmd_t *k)
{
    if (k->sub) drop_sub(k->c, k->sub);
    reply_begin(k->c, k->id, "unsubscribe");
    reply_end(k->c);
}

static void cmd_publish(cmd_t *k)
{
    client_t *c = k->c;
    const synq_ns_t *ns = synq_hub_ns(c->cf->hub, k->channel);
    if (!ns->publish || (!k->sub && !c->cf->cfg.open)) {
        reply_error(c, k->id, E_PERMISSION_DENIED, "permission denied");
        return;
    }
    json_t *data = json_object_get(k->params, "data");
    if (!data) {
        reply_error(c, k->id, E_BAD_REQUEST, "data required");
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    synq_buf_t info;
    synq_buf_init(&info);
    synq_hub_client_t who = {.client = c->id, .user = c->user, .conn_info = c->conn_info};
    client_info_json(&info, &who);
    synq_pos_t pos;
    int rc = synq_hub_publish(c->cf->hub, k->channel, text, strlen(text), info.data, NULL, &pos,
                              NULL);
    free(text);
    synq_buf_release(&info);
    if (rc) {
        reply_error(c, k->id, E_INTERNAL, "internal server error");
        return;
    }
    /* the reply may precede the commit; the publication itself reaches
     * subscribers (this client too) only after it */
    reply_begin(c, k->id, "publish");
    reply_end(c);
}

/* History and presence need the right to subscribe (or a subscription). */
static bool may_read(cmd_t *k)
{
    client_t *c = k->c;
    if (k->sub || c->cf->cfg.open) return true;
    const synq_ns_t *ns = synq_hub_ns(c->cf->hub, k->channel);
    if (synq_hub_may_subscribe(ns, k->channel, c->user, NULL)) return true;
    reply_error(c, k->id, E_PERMISSION_DENIED, "permission denied");
    return false;
}

static void cmd_history(cmd_t *k)
{
    client_t *c = k->c;
    if (!may_read(k)) return;
    json_t *lim = json_object_get(k->params, "limit");
    int limit = json_is_integer(lim) ? (int)json_integer_value(lim) : 0;
    if (limit < 0 || limit > 1000) limit = 1000;
    json_t *since_j = json_object_get(k->params, "since");
    synq_pos_t since = {.offset = 0};
    bool has_since = json_is_object(since_j);
    if (has_since) {
        json_t *off = json_object_get(since_j, "offset");
        const char *ep = json_string_value(json_object_get(since_j, "epoch"));
        since.offset = json_is_integer(off) && json_integer_value(off) > 0
                           ? (uint64_t)json_integer_value(off)
                           : 0;
        snprintf(since.epoch, sizeof since.epoch, "%s", ep && strlen(ep) <= SYNQ_EPOCH_LEN ? ep : "");
        if (ep && strlen(ep) > SYNQ_EPOCH_LEN) since.epoch[0] = '_', since.epoch[1] = '\0';
    }
    bool reverse = json_is_true(json_object_get(k->params, "reverse"));
    synq_buf_t pubs;
    synq_buf_init(&pubs);
    pubs_t ps = {.b = &pubs};
    synq_pos_t top;
    int rc = synq_hub_history(c->cf->hub, k->channel, has_since ? &since : NULL, limit, reverse,
                              on_pub_collect, &ps, &top);
    if (rc == SYNQ_EGONE) {
        reply_error(c, k->id, E_UNRECOVERABLE, "unrecoverable position");
    } else if (rc) {
        reply_error(c, k->id, E_INTERNAL, "internal server error");
    } else {
        reply_begin(c, k->id, "history");
        synq_buf_append(&c->out, "\"publications\":[", 16);
        synq_buf_append(&c->out, pubs.data ? pubs.data : "", pubs.len);
        synq_buf_printf(&c->out, "],\"epoch\":\"%s\",\"offset\":%llu", top.epoch,
                        (unsigned long long)top.offset);
        reply_end(c);
    }
    synq_buf_release(&pubs);
}

static void presence(cmd_t *k, bool stats)
{
    client_t *c = k->c;
    const synq_ns_t *ns = synq_hub_ns(c->cf->hub, k->channel);
    if (!ns->presence) {
        reply_error(c, k->id, E_NOT_AVAILABLE, "not available");
        return;
    }
    if (!may_read(k)) return;
    synq_buf_t b;
    synq_buf_init(&b);
    int rc = stats ? synq_hub_presence_stats(c->cf->hub, k->channel, &b)
                   : synq_hub_presence(c->cf->hub, k->channel, &b);
    if (rc) {
        reply_error(c, k->id, E_INTERNAL, "internal server error");
    } else if (stats) {
        reply_begin(c, k->id, "presence_stats");
        /* {"num_clients":..,"num_users":..} without its braces */
        synq_buf_append(&c->out, b.data + 1, b.len - 2);
        reply_end(c);
    } else {
        /* {"clients":{...}} -> "presence":{...} */
        reply_begin(c, k->id, "presence");
        synq_buf_append(&c->out, "\"presence\":", 11);
        synq_buf_append(&c->out, b.data + 11, b.len - 12);
        reply_end(c);
    }
    synq_buf_release(&b);
}

static void cmd_presence(cmd_t *k)
{
    presence(k, false);
}

static void cmd_presence_stats(cmd_t *k)
{
    presence(k, true);
}

static void cmd_sub_refresh(cmd_t *k)
{
    client_t *c = k->c;
    if (!k->sub) {
        reply_error(c, k->id, E_BAD_REQUEST, "not subscribed");
        return;
    }
    const char *token = json_string_value(json_object_get(k->params, "token"));
    synq_jwt_t jwt;
    if (!token || !check_token(c, k->id, token, &jwt)) {
        if (!token) reply_error(c, k->id, E_BAD_REQUEST, "token required");
        return;
    }
    bool ok = jwt.channel && strcmp(jwt.channel, k->channel) == 0;
    k->sub->expires_at_s = jwt.has_exp ? jwt.exp_s : 0;
    synq_jwt_release(&jwt);
    if (!ok) {
        reply_error(c, k->id, E_PERMISSION_DENIED, "the token is not for this channel");
        return;
    }
    reply_begin(c, k->id, "sub_refresh");
    size_t mark = c->out.len;
    ttl_fields(c, k->sub->expires_at_s);
    if (c->out.len > mark) /* drop the leading comma */
        memmove(c->out.data + mark, c->out.data + mark + 1, c->out.len - mark), c->out.len--;
    reply_end(c);
}

static void cmd_ping(cmd_t *k)
{
    reply_begin(k->c, k->id, "ping");
    reply_end(k->c);
}

static void cmd_not_found(cmd_t *k)
{
    reply_error(k->c, k->id, E_METHOD_NOT_FOUND, "method not found");
}

#define NEEDS_CONNECT 1
#define NEEDS_CHANNEL 2

static const struct {
    const char *name;
    void (*handler)(cmd_t *k);
    int flags;
} methods[] = {
    {"connect", cmd_connect, 0},
    {"subscribe", cmd_subscribe, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"unsubscribe", cmd_unsubscribe, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"publish", cmd_publish, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"history", cmd_history, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"presence", cmd_presence, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"presence_stats", cmd_presence_stats, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"refresh", cmd_refresh, NEEDS_CONNECT},
    {"sub_refresh", cmd_sub_refresh, NEEDS_CONNECT | NEEDS_CHANNEL},
    {"ping", cmd_ping, NEEDS_CONNECT},
    {"rpc", cmd_not_found, NEEDS_CONNECT},
    {"send", NULL, NEEDS_CONNECT}, /* asynchronous message: nothing to answer */
};

/* Handles one command line. Returns false when the connection must end. */
static bool handle_command(client_t *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *cmd = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(cmd)) {
        json_decref(cmd);
        disconnect(c, D_BAD_REQUEST, "bad request");
        return false;
    }
    bool ok = true;
    json_t *idj = json_object_get(cmd, "id");
    int64_t id = json_is_integer(idj) ? (int64_t)json_integer_value(idj) : 0;
    if (json_object_size(cmd) == 0) {
        /* an empty command answers our ping */
        c->ping_sent_us = 0;
        goto out;
    }
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(methods); i++) {
        json_t *params = json_object_get(cmd, methods[i].name);
        if (!params) continue;
        if (!json_is_object(params) || (id <= 0 && methods[i].handler)) {
            disconnect(c, D_BAD_REQUEST, "bad request");
            ok = false;
            goto out;
        }
        if ((methods[i].flags & NEEDS_CONNECT) && !c->connected) {
            /* commands before connect are a protocol violation */
            disconnect(c, D_BAD_REQUEST, "bad request");
            ok = false;
            goto out;
        }
        if (!methods[i].handler) goto out;
        cmd_t k = {.c = c, .id = id, .params = params};
        if (methods[i].flags & NEEDS_CHANNEL) {
            k.channel = json_string_value(json_object_get(params, "channel"));
            if (!k.channel || !synq_channel_valid(k.channel)) {
                reply_error(c, id, E_BAD_REQUEST, "bad channel name");
                goto out;
            }
            if (!synq_hub_ns(c->cf->hub, k.channel)) {
                reply_error(c, id, E_UNKNOWN_CHANNEL, "unknown channel");
                goto out;
            }
            k.sub = synq_map_get(&c->subs, k.channel);
        }
        methods[i].handler(&k);
        goto out;
    }
    if (id > 0)
        reply_error(c, id, E_METHOD_NOT_FOUND, "method not found");
    else {
        disconnect(c, D_BAD_REQUEST, "bad request");
        ok = false;
    }
out:
    json_decref(cmd);
    return ok && !c->closing;
}

/* ---- connection lifecycle ---------------------------------------------------- */

static void on_message(synq_ws_t *ws, const char *data, size_t len, bool binary, void *arg)
{
    (void)ws;
    client_t *c = arg;
    if (c->closing || !c->cf) return;
    c->last_seen_us = synq_time_now_us();
    if (binary) {
        disconnect(c, D_BAD_REQUEST, "bad request: JSON protocol expects text");
        return;
    }
    size_t i = 0;
    if (len == 0) {
        /* an empty frame is a pong in the v2 protocol too */
        c->ping_sent_us = 0;
        return;
    }
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t a = i, b = end;
        while (a < b && (data[a] == ' ' || data[a] == '\r' || data[a] == '\t')) a++;
        while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\r' || data[b - 1] == '\t')) b--;
        if (b > a && !handle_command(c, data + a, b - a)) break;
        i = end + 1;
    }
    flush_out(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    client_t *c = h->data;
    synq_buf_release(&c->out);
    free(c->user);
    free(c->conn_info);
    free(c);
}

static void client_detach(client_t *c)
{
    synq_centrifuge_t *cf = c->cf;
    if (!cf) return;
    void *it = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&c->subs, &it, &k, &v)) {
        csub_t *s = v;
        synq_hub_unsubscribe(cf->hub, s->sub);
        free(s);
    }
    synq_map_release(&c->subs);
    synq_map_init(&c->subs);
    if (c->prev)
        c->prev->next = c->next;
    else
        cf->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    cf->nclients--;
    c->cf = NULL;
}

static void on_close(synq_ws_t *ws, int code, void *arg)
{
    (void)ws, (void)code;
    client_t *c = arg;
    client_detach(c);
    synq_map_release(&c->subs);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* The connect deadline, then the ping cycle: "{}" every interval; no answer
 * within the pong timeout ends the connection. Also enforces token expiry. */
/* Subscriptions whose channel token expired (and was not refreshed within
 * the grace period) end with unsubscribe 2501: the SDK resubscribes with a
 * fresh token from its getToken. Checked on each timer tick, so within a
 * ping interval of the deadline. */
static void expire_subs(client_t *c, int64_t now)
{
    csub_t *gone[64];
    size_t n = 0;
    void *it = NULL;
    const char *k;
    void *v;
    while (n < SYNQ_ARRAY_LEN(gone) && synq_map_next(&c->subs, &it, &k, &v)) {
        csub_t *s = v;
        if (s->expires_at_s && now >= (s->expires_at_s + EXPIRED_CLOSE_DELAY_S) * 1000000)
            gone[n++] = s;
    }
    for (size_t i = 0; i < n; i++) {
        synq_buf_t b;
        synq_buf_init(&b);
        synq_buf_append(&b, "{\"push\":{\"channel\":", 19);
        synq_buf_json_str(&b, gone[i]->channel, strlen(gone[i]->channel));
        synq_buf_puts(&b, ",\"unsubscribe\":{\"code\":2501,\"reason\":\"subscription expired\"}}}");
        send_push(c, b.data, b.len);
        synq_buf_release(&b);
        drop_sub(c, gone[i]);
    }
}

static void on_timer(uv_timer_t *t)
{
    client_t *c = t->data;
    if (c->closing || !c->cf) return;
    if (!c->connected) {
        disconnect(c, D_STALE, "stale");
        return;
    }
    int64_t now = synq_time_now_us();
    int64_t pong_us = (int64_t)c->cf->cfg.pong_timeout_ms * 1000;
    if (c->ping_sent_us && now - c->ping_sent_us >= pong_us) {
        disconnect(c, D_NO_PONG, "no pong");
        return;
    }
    int64_t expire_us = (c->expires_at_s + EXPIRED_CLOSE_DELAY_S) * 1000000;
    if (c->expires_at_s && now >= expire_us) {
        disconnect(c, D_EXPIRED, "expired");
        return;
    }
    expire_subs(c, now);
    if (!c->ping_sent_us && now >= c->next_ping_us) {
        send_push(c, "{}", 2);
        c->ping_sent_us = now;
        c->next_ping_us = now + (int64_t)c->cf->cfg.ping_interval_ms * 1000;
    }
    /* next: the pong deadline of a ping in flight, else the next ping */
    int64_t at = c->ping_sent_us ? c->ping_sent_us + pong_us : c->next_ping_us;
    if (c->expires_at_s && expire_us < at) at = expire_us;
    uv_timer_start(&c->timer, on_timer, at > now ? (uint64_t)(at - now + 999) / 1000 : 1, 0);
}

static void new_client_id(char out[37])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)rand();
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* UUID version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

void synq_centrifuge_accept(synq_centrifuge_t *cf, synq_http_req_t *req)
{
    client_t *c = synq_calloc(1, sizeof *c);
    synq_ws_handlers_t h = {.on_message = on_message, .on_close = on_close};
    uv_loop_t *loop = synq_hub_loop(cf->hub);
    c->ws = synq_ws_accept(req, &cf->cfg.ws, &h, c);
    if (!c->ws) {
        free(c);
        return;
    }
    c->cf = cf;
    new_client_id(c->id);
    c->user = synq_strdup("");
    synq_map_init(&c->subs);
    synq_buf_init(&c->out);
    c->last_seen_us = synq_time_now_us();
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    /* first the connect deadline; after connect the same timer pings */
    uv_timer_start(&c->timer, on_timer, cf->cfg.connect_timeout_ms, 0);
    c->next = cf->clients;
    if (cf->clients) cf->clients->prev = c;
    cf->clients = c;
    cf->nclients++;
}

synq_centrifuge_t *synq_centrifuge_new(synq_hub_t *hub, const synq_centrifuge_config_t *cfg)
{
    synq_centrifuge_t *cf = synq_calloc(1, sizeof *cf);
    cf->hub = hub;
    cf->cfg = *cfg;
    cf->secret = cfg->jwt_secret ? synq_strdup(cfg->jwt_secret) : NULL;
    cf->cfg.jwt_secret = cf->secret;
    cf->origins = cfg->ws.origins ? synq_strdup(cfg->ws.origins) : NULL;
    cf->cfg.ws.origins = cf->origins;
    return cf;
}

void synq_centrifuge_close(synq_centrifuge_t *cf)
{
    if (!cf) return;
    while (cf->clients) {
        client_t *c = cf->clients;
        disconnect(c, D_SHUTDOWN, "shutdown");
        client_detach(c);
    }
    free(cf->secret);
    free(cf->origins);
    free(cf);
}

size_t synq_centrifuge_clients(const synq_centrifuge_t *cf)
{
    return cf->nclients;
}
