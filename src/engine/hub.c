/* The hub: channel streams, bounded history, publish-after-commit fan-out,
 * presence. See hub.h for the model.
 *
 * Memory: every channel ever published (or subscribed) has a chan_t; its
 * history is a ring of reference-counted publications, committed ones
 * only. Publications waiting for the open transaction sit in `pending`,
 * in publish order, with their offsets already assigned; after the commit
 * they move into their channel's history and go to its subscribers.
 *
 * Subscribers are a doubly linked list per channel. A sink may unsubscribe
 * (itself or another) while the hub is delivering: such subscriptions are
 * only marked dead then and freed after the delivery. */
#include "engine/hub.h"

#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct chan_s chan_t;

struct synq_hub_sub_s {
    chan_t *chan;
    synq_hub_sub_t *prev, *next;
    synq_hub_sink_t sink;
    void *arg;
    bool join_leave;
    bool has_who;
    bool dead;
    synq_hub_sub_t *next_dead;
    /* presence: copies of the client's details */
    char *client, *user, *conn_info, *chan_info;
};

struct chan_s {
    char *name;
    const synq_ns_t *ns;
    char epoch[SYNQ_EPOCH_LEN + 1];
    uint64_t top;       /* newest offset given out (pending ones included) */
    uint64_t committed; /* newest committed offset */
    /* history ring of committed publications, oldest first */
    synq_hub_pub_t **ring;
    size_t cap, head, len;
    bool trim_store;    /* history shrank: drop older rows from the store */
    synq_hub_sub_t *subs;
    size_t nsubs;
    int64_t idle_since; /* memory-only channels: when the last subscriber left */
};

typedef struct idem_s {
    char *key; /* channel "\n" idempotency key */
    synq_pos_t pos;
    int64_t at;
} idem_t;

struct synq_hub_s {
    synq_engine_t *engine;
    synq_store_t *store;
    synq_hub_config_t cfg;
    synq_map_t chans; /* name -> chan_t */
    synq_map_t idem;  /* idem key -> idem_t */
    idem_t **idem_fifo; /* by creation time, for expiry */
    size_t idem_head, idem_len, idem_cap;
    synq_hub_pub_t **pending;
    size_t npending, cappending;
    bool commit_armed;
    int delivering;
    synq_hub_sub_t *dead;
    uv_timer_t maint;
    synq_hub_stats_t stats;
    size_t nfeeds; /* channels of the job feeds (jobs:, queues:) */
};

/* ---- configuration ------------------------------------------------------- */

static void ns_defaults(synq_ns_t *ns, const char *name)
{
    memset(ns, 0, sizeof *ns);
    snprintf(ns->name, sizeof ns->name, "%s", name);
    ns->history_size = 100;
    ns->history_ttl_us = 3600LL * 1000000;
    ns->subscribe = true;
}

static synq_ns_t *ns_find(synq_hub_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nns; i++)
        if (strlen(cfg->ns[i].name) == len && memcmp(cfg->ns[i].name, name, len) == 0)
            return &cfg->ns[i];
    return NULL;
}

void synq_hub_config_init(synq_hub_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->idempotency_ttl_us = 300LL * 1000000;
    cfg->recovery_max = 1000;
    static const char *const names[] = {"", "jobs", "queues", "docs"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) ns_defaults(&cfg->ns[cfg->nns++], names[i]);
    /* job feeds: the job itself is the record; a short in-memory catch-up */
    for (size_t i = 1; i <= 2; i++) {
        cfg->ns[i].memory_only = true;
        cfg->ns[i].history_size = 50;
        cfg->ns[i].history_ttl_us = 600LL * 1000000;
    }
}

static int parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
        strcmp(v, "on") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0 ||
             strcmp(v, "off") == 0)
        *out = false;
    else
        return SYNQ_EINVAL;
    return 0;
}

int synq_hub_config_namespace(synq_hub_config_t *cfg, const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (!colon) {
        snprintf(err, errlen, "namespace %s: expected name:key=value,...", spec);
        return SYNQ_EINVAL;
    }
    size_t nlen = (size_t)(colon - spec);
    if (nlen >= SYNQ_NS_MAX) {
        snprintf(err, errlen, "namespace name too long");
        return SYNQ_EINVAL;
    }
    for (size_t i = 0; i < nlen; i++) {
        char c = spec[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            snprintf(err, errlen, "namespace %.*s: letters, digits, - and _ only", (int)nlen, spec);
            return SYNQ_EINVAL;
        }
    }
    synq_ns_t ns;
    synq_ns_t *old = ns_find(cfg, spec, nlen);
    if (old)
        ns = *old;
    else {
        char name[SYNQ_NS_MAX];
        memcpy(name, spec, nlen);
        name[nlen] = '\0';
        ns_defaults(&ns, name);
    }
    char *opts = synq_strdup(colon + 1);
    int rc = 0;
    for (char *save = NULL, *kv = strtok_r(opts, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "namespace %s: %s needs =value", ns.name, kv);
            rc = SYNQ_EINVAL;
            break;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        bool *flag = strcmp(k, "anonymous") == 0    ? &ns.anonymous
                     : strcmp(k, "subscribe") == 0  ? &ns.subscribe
                     : strcmp(k, "publish") == 0    ? &ns.publish
                     : strcmp(k, "presence") == 0   ? &ns.presence
                     : strcmp(k, "join_leave") == 0 ? &ns.join_leave
                                                    : NULL;
        if (flag) {
            rc = parse_bool(v, flag);
        } else if (strcmp(k, "history_size") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end || n < 0 || n > 100000) rc = SYNQ_EINVAL;
            ns.history_size = (int)n;
        } else if (strcmp(k, "history_ttl") == 0) {
            rc = synq_duration_parse(v, strlen(v), &ns.history_ttl_us);
            if (rc == 0 && ns.history_ttl_us < 0) rc = SYNQ_EINVAL;
        } else {
            snprintf(err, errlen, "namespace %s: unknown option %s", ns.name, k);
            rc = SYNQ_EINVAL;
            break;
        }
        if (rc) {
            snprintf(err, errlen, "namespace %s: bad value for %s: %s", ns.name, k, v);
            break;
        }
    }
    free(opts);
    if (rc) return rc;
    if (old) {
        *old = ns;
    } else {
        if (cfg->nns == SYNQ_HUB_MAX_NS) {
            snprintf(err, errlen, "too many namespaces (at most %d)", SYNQ_HUB_MAX_NS);
            return SYNQ_EINVAL;
        }
        cfg->ns[cfg->nns++] = ns;
    }
    return 0;
}

/* ---- names --------------------------------------------------------------- */

bool synq_channel_valid(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.:/@", c)))
            return false;
    }
    return n > 0 && n <= SYNQ_CHANNEL_MAX;
}

const synq_ns_t *synq_hub_ns(const synq_hub_t *hub, const char *channel)
{
    const char *colon = strchr(channel, ':');
    size_t len = colon ? (size_t)(colon - channel) : 0;
    return ns_find((synq_hub_config_t *)&hub->cfg, channel, len);
}

/* ---- publications ------------------------------------------------------- */

static synq_hub_pub_t *pub_new(const chan_t *c, uint64_t offset, const char *data, size_t len,
                               const char *info, int64_t at)
{
    size_t nlen = strlen(c->name), ilen = info ? strlen(info) : 0;
    synq_hub_pub_t *p = synq_calloc(1, sizeof *p + nlen + 1 + SYNQ_EPOCH_LEN + 1 + len + 1 +
                                           (info ? ilen + 1 : 0));
    char *s = (char *)(p + 1);
    p->channel = memcpy(s, c->name, nlen + 1);
    s += nlen + 1;
    p->epoch = memcpy(s, c->epoch, SYNQ_EPOCH_LEN + 1);
    s += SYNQ_EPOCH_LEN + 1;
    memcpy(s, data, len);
    s[len] = '\0';
    p->data = s;
    p->len = len;
    s += len + 1;
    if (info) p->info = memcpy(s, info, ilen + 1);
    p->offset = offset;
    p->time_us = at;
    p->refs = 1;
    return p;
}

static void pub_unref(synq_hub_pub_t *p)
{
    if (!p || --p->refs > 0) return;
    for (int i = 0; i < SYNQ_ENC_MAX; i++) synq_rcbuf_unref(p->enc[i]);
    free(p);
}

synq_rcbuf_t *synq_hub_pub_encoded(synq_hub_pub_t *pub, synq_enc_t which,
                                   synq_hub_encode_cb build, void *arg)
{
    if (!pub->enc[which]) pub->enc[which] = build(pub, arg);
    return pub->enc[which];
}

/* ---- channels ------------------------------------------------------------ */

static void new_epoch(char out[SYNQ_EPOCH_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[SYNQ_EPOCH_LEN];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        uint64_t t = (uint64_t)synq_time_now_us();
        for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)(t >> (i * 7));
    }
    for (size_t i = 0; i < SYNQ_EPOCH_LEN; i++) out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[SYNQ_EPOCH_LEN] = '\0';
}

static chan_t *chan_get(synq_hub_t *hub, const char *name)
{
    return synq_map_get(&hub->chans, name);
}

static chan_t *chan_add(synq_hub_t *hub, const char *name, const synq_ns_t *ns, const char *epoch,
                        uint64_t top)
{
    chan_t *c = synq_calloc(1, sizeof *c);
    c->name = synq_strdup(name);
    c->ns = ns;
    if (epoch)
        snprintf(c->epoch, sizeof c->epoch, "%s", epoch);
    else
        new_epoch(c->epoch);
    c->top = c->committed = top;
    c->idle_since = synq_time_now_us();
    synq_map_put(&hub->chans, c->name, c);
    if (ns->memory_only) hub->nfeeds++;
    return c;
}

static int chan_store(synq_hub_t *hub, chan_t *c)
{
    if (c->ns->memory_only) return 0;
    synq_chan_row_t row = {.name = c->name, .epoch = c->epoch, .top = c->top,
                           .updated_at = synq_time_now_us()};
    return hub->store->ops->chan_put(hub->store, &row);
}

/* The channel, created (and its stream row stored) when new. Validates the
 * name and the namespace. */
static int chan_open(synq_hub_t *hub, const char *name, chan_t **out)
{
    chan_t *c = chan_get(hub, name);
    if (c) {
        *out = c;
        return 0;
    }
    if (!synq_channel_valid(name)) return SYNQ_EINVAL;
    const synq_ns_t *ns = synq_hub_ns(hub, name);
    if (!ns) return SYNQ_ENOTFOUND;
    /* stored with its first publication: reading or subscribing alone
     * does not make a channel durable (anyone may read any name) */
    c = chan_add(hub, name, ns, NULL, 0);
    *out = c;
    return 0;
}

static size_t ring_cap_for(const synq_ns_t *ns)
{
    return ns->history_size > 0 ? (size_t)ns->history_size : 0;
}

static synq_hub_pub_t *ring_at(const chan_t *c, size_t i)
{
    return c->ring[(c->head + i) % c->cap];
}

static void ring_drop_oldest(chan_t *c)
{
    pub_unref(c->ring[c->head]);
    c->head = (c->head + 1) % c->cap;
    c->len--;
    c->trim_store = true;
}

/* Appends a committed publication (taking a reference), evicting the
 * oldest beyond the namespace's history size. */
static void ring_push(chan_t *c, synq_hub_pub_t *p)
{
    size_t want = ring_cap_for(c->ns);
    if (want == 0) return;
    if (c->cap != want) { /* first use, or the configuration changed */
        synq_hub_pub_t **r = synq_calloc(want, sizeof *r);
        while (c->len > want) ring_drop_oldest(c);
        for (size_t i = 0; i < c->len; i++) r[i] = ring_at(c, i);
        free(c->ring);
        c->ring = r;
        c->cap = want;
        c->head = 0;
    }
    if (c->len == c->cap) ring_drop_oldest(c);
    c->ring[(c->head + c->len) % c->cap] = p;
    c->len++;
    p->refs++;
}

static void ring_clear(chan_t *c)
{
    while (c->len) ring_drop_oldest(c);
}

/* Drops publications older than the namespace's history age. */
static void ring_expire(chan_t *c, int64_t now)
{
    while (c->len && ring_at(c, 0)->time_us < now - c->ns->history_ttl_us) ring_drop_oldest(c);
}

static void chan_free(chan_t *c)
{
    ring_clear(c);
    free(c->ring);
    free(c->name);
    free(c);
}

/* ---- after commit: history and delivery ---------------------------------- */

static void sub_free(synq_hub_sub_t *s)
{
    free(s->client);
    free(s->user);
    free(s->conn_info);
    free(s->chan_info);
    free(s);
}

static void reap_dead(synq_hub_t *hub)
{
    while (hub->dead) {
        synq_hub_sub_t *s = hub->dead;
        hub->dead = s->next_dead;
        sub_free(s);
    }
}

static void deliver(synq_hub_t *hub, chan_t *c, synq_hub_pub_t *p)
{
    hub->delivering++;
    for (synq_hub_sub_t *s = c->subs; s; s = s->next) {
        if (s->dead) continue;
        s->sink.pub(s, p, s->arg);
        hub->stats.delivered++;
    }
    hub->delivering--;
}

static void on_commit(int status, void *arg)
{
    synq_hub_t *hub = arg;
    hub->commit_armed = false;
    size_t n = hub->npending;
    synq_hub_pub_t **list = hub->pending;
    hub->pending = NULL;
    hub->npending = hub->cappending = 0;
    for (size_t i = 0; i < n; i++) {
        synq_hub_pub_t *p = list[i];
        chan_t *c = chan_get(hub, p->channel);
        /* a reset since the publish gave the channel a new epoch: the
         * publication belongs to the old stream and is dropped */
        if (status == 0 && c && strcmp(c->epoch, p->epoch) == 0 && p->offset > c->committed) {
            c->committed = p->offset;
            ring_push(c, p);
            deliver(hub, c, p);
        }
        pub_unref(p);
    }
    free(list);
    if (!hub->delivering) reap_dead(hub);
}

static void pending_add(synq_hub_t *hub, synq_hub_pub_t *p)
{
    if (hub->npending == hub->cappending) {
        hub->cappending = hub->cappending ? hub->cappending * 2 : 16;
        hub->pending = synq_realloc(hub->pending, hub->cappending * sizeof *hub->pending);
    }
    hub->pending[hub->npending++] = p;
    if (!hub->commit_armed) {
        hub->commit_armed = true;
        synq_engine_after_commit(hub->engine, on_commit, hub);
    }
}

/* ---- publishing ---------------------------------------------------------- */

static void idem_forget_oldest(synq_hub_t *hub)
{
    idem_t *d = hub->idem_fifo[hub->idem_head];
    hub->idem_head = (hub->idem_head + 1) % hub->idem_cap;
    hub->idem_len--;
    if (synq_map_get(&hub->idem, d->key) == d) synq_map_del(&hub->idem, d->key);
    free(d->key);
    free(d);
}

static void idem_remember(synq_hub_t *hub, const char *channel, const char *key,
                          const synq_pos_t *pos, int64_t at)
{
    idem_t *d = synq_calloc(1, sizeof *d);
    size_t cl = strlen(channel), kl = strlen(key);
    d->key = synq_malloc(cl + kl + 2);
    memcpy(d->key, channel, cl);
    d->key[cl] = '\n';
    memcpy(d->key + cl + 1, key, kl + 1);
    d->pos = *pos;
    d->at = at;
    idem_t *old = synq_map_put(&hub->idem, d->key, d);
    (void)old; /* still in the fifo, freed there */
    if (hub->idem_len == hub->idem_cap) {
        size_t ncap = hub->idem_cap ? hub->idem_cap * 2 : 64;
        idem_t **f = synq_malloc(ncap * sizeof *f);
        for (size_t i = 0; i < hub->idem_len; i++)
            f[i] = hub->idem_fifo[(hub->idem_head + i) % hub->idem_cap];
        free(hub->idem_fifo);
        hub->idem_fifo = f;
        hub->idem_cap = ncap;
        hub->idem_head = 0;
    }
    hub->idem_fifo[(hub->idem_head + hub->idem_len) % hub->idem_cap] = d;
    hub->idem_len++;
}

static const idem_t *idem_lookup(synq_hub_t *hub, const char *channel, const char *key)
{
    char buf[SYNQ_CHANNEL_MAX + 260];
    if (snprintf(buf, sizeof buf, "%s\n%s", channel, key) >= (int)sizeof buf) return NULL;
    const idem_t *d = synq_map_get(&hub->idem, buf);
    if (d && d->at < synq_time_now_us() - hub->cfg.idempotency_ttl_us) return NULL;
    return d;
}

static int publish(synq_hub_t *hub, chan_t *c, const char *data, size_t len, const char *info,
                   synq_pos_t *pos)
{
    int64_t now = synq_time_now_us();
    synq_hub_pub_t *p = pub_new(c, c->top + 1, data, len, info, now);
    if (!c->ns->memory_only && c->ns->history_size > 0 && c->ns->history_ttl_us > 0) {
        synq_pub_row_t row = {.channel = c->name, .offset = p->offset, .data = p->data,
                              .info = info, .created_at = now};
        int rc = hub->store->ops->pub_append(hub->store, &row);
        if (rc) {
            pub_unref(p);
            return rc;
        }
    }
    c->top = p->offset;
    int rc = chan_store(hub, c);
    if (rc) {
        /* the transaction is failing anyway; keep memory consistent with it */
        pub_unref(p);
        return rc;
    }
    if (pos) {
        memcpy(pos->epoch, c->epoch, sizeof pos->epoch);
        pos->offset = p->offset;
    }
    pending_add(hub, p);
    hub->stats.published++;
    return 0;
}

int synq_hub_publish(synq_hub_t *hub, const char *channel, const char *data, size_t len,
                     const char *info, const char *idem_key, synq_pos_t *pos, bool *duplicate)
{
    if (duplicate) *duplicate = false;
    if (idem_key) {
        const idem_t *d = idem_lookup(hub, channel, idem_key);
        if (d) {
            if (pos) *pos = d->pos;
            if (duplicate) *duplicate = true;
            return 0;
        }
    }
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    synq_pos_t got;
    rc = publish(hub, c, data, len, info, &got);
    if (rc) return rc;
    if (idem_key) {
        int64_t now = synq_time_now_us();
        synq_chan_idem_row_t row = {.channel = channel, .key = idem_key, .epoch = got.epoch,
                                    .offset = got.offset, .created_at = now};
        /* a key still stored but past the TTL (not yet pruned) is replaced */
        if (!c->ns->memory_only) {
            rc = hub->store->ops->chan_idem_put(hub->store, &row);
            if (rc == SYNQ_ECONFLICT) {
                /* an expired twin not pruned yet: prune, then store this
                 * one, or a restart would forget the key within its TTL */
                rc = hub->store->ops->chan_idem_prune(hub->store,
                                                      now - hub->cfg.idempotency_ttl_us);
                if (rc == 0) rc = hub->store->ops->chan_idem_put(hub->store, &row);
            }
            if (rc) return rc;
        }
        idem_remember(hub, channel, idem_key, &got, now);
    }
    if (pos) *pos = got;
    return 0;
}

int synq_hub_publish_if_watched(synq_hub_t *hub, const char *channel, const char *data,
                                size_t len)
{
    chan_t *c = chan_get(hub, channel);
    if (!c) return 0;
    return publish(hub, c, data, len, NULL, NULL);
}

/* ---- reading -------------------------------------------------------------- */

static void pos_of(const chan_t *c, synq_pos_t *pos)
{
    memcpy(pos->epoch, c->epoch, sizeof pos->epoch);
    pos->offset = c->committed;
}

int synq_hub_position(synq_hub_t *hub, const char *channel, synq_pos_t *pos)
{
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    pos_of(c, pos);
    return 0;
}

int synq_hub_history(synq_hub_t *hub, const char *channel, const synq_pos_t *since, int limit,
                     bool reverse, synq_hub_pub_cb cb, void *arg, synq_pos_t *top)
{
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    ring_expire(c, synq_time_now_us());
    if (top) pos_of(c, top);
    size_t first = 0; /* index in the ring of the first publication to report */
    if (since) {
        if (since->epoch[0] && strcmp(since->epoch, c->epoch) != 0) return SYNQ_EGONE;
        if (since->offset > c->committed) return SYNQ_EGONE;
        if (since->offset < c->committed) {
            /* every publication after since must still be kept */
            if (c->len == 0 || ring_at(c, 0)->offset > since->offset + 1) return SYNQ_EGONE;
            first = (size_t)(since->offset + 1 - ring_at(c, 0)->offset);
        } else {
            first = c->len;
        }
    }
    size_t avail = c->len - first;
    size_t n = avail;
    if (limit < 0) {
        /* a recovery: all of it or nothing */
        if (since && avail > hub->cfg.recovery_max) return SYNQ_EGONE;
        if (n > hub->cfg.recovery_max) n = hub->cfg.recovery_max;
    } else if ((size_t)limit < n) {
        n = (size_t)limit;
    }
    if (!cb) return 0;
    for (size_t i = 0; i < n; i++) {
        size_t at = reverse ? c->len - 1 - i : first + i;
        if (reverse && since && at < first) break;
        cb(ring_at(c, at), arg);
    }
    return 0;
}

int synq_hub_reset(synq_hub_t *hub, const char *channel, synq_pos_t *pos)
{
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    ring_clear(c);
    c->trim_store = false;
    new_epoch(c->epoch);
    /* offsets go on after the old top so nothing old can be mistaken for new */
    c->committed = c->top;
    if (!c->ns->memory_only) {
        rc = hub->store->ops->pub_trim(hub->store, c->name, c->top + 1);
        if (rc == 0) rc = chan_store(hub, c);
        if (rc) return rc;
    }
    synq_pos_t p;
    pos_of(c, &p);
    if (pos) *pos = p;
    hub->delivering++;
    for (synq_hub_sub_t *s = c->subs; s; s = s->next)
        if (!s->dead && s->sink.reset) s->sink.reset(s, c->name, &p, s->arg);
    hub->delivering--;
    if (!hub->delivering) reap_dead(hub);
    return 0;
}

/* ---- subscribers ---------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? synq_strdup(s) : NULL;
}

static void who_of(const synq_hub_sub_t *s, synq_hub_client_t *who)
{
    who->client = s->client;
    who->user = s->user;
    who->conn_info = s->conn_info;
    who->chan_info = s->chan_info;
}

static void announce(synq_hub_t *hub, chan_t *c, const synq_hub_sub_t *about, bool leave)
{
    if (!c->ns->presence || !c->ns->join_leave || !about->has_who) return;
    synq_hub_client_t who;
    who_of(about, &who);
    hub->delivering++;
    for (synq_hub_sub_t *s = c->subs; s; s = s->next)
        if (!s->dead && s != about && s->join_leave && s->sink.join)
            s->sink.join(s, c->name, &who, leave, s->arg);
    hub->delivering--;
}

synq_hub_sub_t *synq_hub_subscribe(synq_hub_t *hub, const char *channel,
                                   const synq_hub_client_t *who, bool join_leave,
                                   const synq_hub_sink_t *sink, void *arg, synq_pos_t *pos)
{
    chan_t *c;
    if (chan_open(hub, channel, &c) != 0) return NULL;
    synq_hub_sub_t *s = synq_calloc(1, sizeof *s);
    s->chan = c;
    s->sink = *sink;
    s->arg = arg;
    s->join_leave = join_leave;
    if (who) {
        s->has_who = true;
        s->client = dup_or_null(who->client ? who->client : "");
        s->user = dup_or_null(who->user ? who->user : "");
        s->conn_info = dup_or_null(who->conn_info);
        s->chan_info = dup_or_null(who->chan_info);
    }
    s->next = c->subs;
    if (c->subs) c->subs->prev = s;
    c->subs = s;
    c->nsubs++;
    hub->stats.subscribers++;
    if (pos) pos_of(c, pos);
    announce(hub, c, s, false);
    return s;
}

void synq_hub_unsubscribe(synq_hub_t *hub, synq_hub_sub_t *s)
{
    if (!s || s->dead) return;
    chan_t *c = s->chan;
    announce(hub, c, s, true);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    c->nsubs--;
    hub->stats.subscribers--;
    if (c->nsubs == 0) c->idle_since = synq_time_now_us();
    s->dead = true;
    /* a delivery in progress may still hold a pointer to s (its `next`
     * field is read after the sink returns): free it afterwards */
    if (hub->delivering) {
        s->next_dead = hub->dead;
        hub->dead = s;
    } else {
        sub_free(s);
    }
}

const char *synq_hub_sub_channel(const synq_hub_sub_t *sub)
{
    return sub->chan->name;
}

/* ---- presence ------------------------------------------------------------- */

static void json_raw_or_null(synq_buf_t *out, const char *json)
{
    if (json)
        synq_buf_append(out, json, strlen(json));
    else
        synq_buf_append(out, "null", 4);
}

int synq_hub_presence(synq_hub_t *hub, const char *channel, synq_buf_t *out)
{
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    synq_buf_append(out, "{\"clients\":{", 12);
    bool first = true;
    for (synq_hub_sub_t *s = c->subs; s; s = s->next) {
        if (!s->has_who) continue;
        if (!first) synq_buf_append(out, ",", 1);
        first = false;
        synq_buf_json_str(out, s->client, strlen(s->client));
        synq_buf_append(out, ":{\"client\":", 11);
        synq_buf_json_str(out, s->client, strlen(s->client));
        synq_buf_append(out, ",\"user\":", 8);
        synq_buf_json_str(out, s->user, strlen(s->user));
        if (s->conn_info) {
            synq_buf_append(out, ",\"conn_info\":", 13);
            json_raw_or_null(out, s->conn_info);
        }
        if (s->chan_info) {
            synq_buf_append(out, ",\"chan_info\":", 13);
            json_raw_or_null(out, s->chan_info);
        }
        synq_buf_append(out, "}", 1);
    }
    synq_buf_append(out, "}}", 2);
    return 0;
}

int synq_hub_presence_stats(synq_hub_t *hub, const char *channel, synq_buf_t *out)
{
    chan_t *c;
    int rc = chan_open(hub, channel, &c);
    if (rc) return rc;
    size_t clients = 0, users = 0;
    synq_map_t seen;
    synq_map_init(&seen);
    for (synq_hub_sub_t *s = c->subs; s; s = s->next) {
        if (!s->has_who) continue;
        clients++;
        if (!synq_map_get(&seen, s->user)) {
            synq_map_put(&seen, s->user, s);
            users++;
        }
    }
    synq_map_release(&seen);
    synq_buf_printf(out, "{\"num_clients\":%zu,\"num_users\":%zu}", clients, users);
    return 0;
}

/* ---- listing and counters ------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(chan_t *const *)a)->name, (*(chan_t *const *)b)->name);
}

void synq_hub_channels(synq_hub_t *hub, const char *prefix, synq_buf_t *out)
{
    chan_t **list = synq_malloc((hub->chans.len + 1) * sizeof *list);
    size_t n = 0;
    void *it = NULL;
    const char *k;
    void *v;
    int64_t now = synq_time_now_us();
    while (synq_map_next(&hub->chans, &it, &k, &v)) {
        chan_t *c = v;
        ring_expire(c, now);
        if (c->nsubs == 0 && c->len == 0) continue;
        if (prefix && strncmp(c->name, prefix, strlen(prefix)) != 0) continue;
        list[n++] = c;
    }
    qsort(list, n, sizeof *list, cmp_name);
    synq_buf_append(out, "{\"channels\":[", 13);
    for (size_t i = 0; i < n; i++) {
        chan_t *c = list[i];
        if (i) synq_buf_append(out, ",", 1);
        synq_buf_append(out, "{\"name\":", 8);
        synq_buf_json_str(out, c->name, strlen(c->name));
        synq_buf_printf(out, ",\"subscribers\":%zu,\"offset\":%llu,\"epoch\":\"%s\",\"history\":%zu}",
                        c->nsubs, (unsigned long long)c->committed, c->epoch, c->len);
    }
    synq_buf_append(out, "]}", 2);
    free(list);
}

void synq_hub_stats(const synq_hub_t *hub, synq_hub_stats_t *st)
{
    *st = hub->stats;
    st->channels = hub->chans.len;
}

/* ---- maintenance ---------------------------------------------------------- */

/* Once a second: history ages out, the store forgets what memory dropped,
 * publish keys expire, and memory-only channels nobody watches go. */
static void on_maint(uv_timer_t *t)
{
    synq_hub_t *hub = t->data;
    int64_t now = synq_time_now_us();
    chan_t **gone = NULL;
    size_t ngone = 0, capgone = 0;
    void *it = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&hub->chans, &it, &k, &v)) {
        chan_t *c = v;
        ring_expire(c, now);
        if (c->trim_store && !c->ns->memory_only) {
            uint64_t below = c->len ? ring_at(c, 0)->offset : c->committed + 1;
            if (hub->store->ops->pub_trim(hub->store, c->name, below) == 0) c->trim_store = false;
        }
        /* memory-only channels nobody watched for a history age, and
         * channels only ever read (never published: nothing stored), go */
        bool unused = c->nsubs == 0 && c->top == c->committed && c->len == 0;
        if (unused && ((c->ns->memory_only && c->idle_since < now - c->ns->history_ttl_us) ||
                       (c->top == 0 && c->idle_since < now - 60LL * 1000000))) {
            if (ngone == capgone) {
                capgone = capgone ? capgone * 2 : 16;
                gone = synq_realloc(gone, capgone * sizeof *gone);
            }
            gone[ngone++] = c;
        }
    }
    for (size_t i = 0; i < ngone; i++) {
        if (gone[i]->ns->memory_only) hub->nfeeds--;
        synq_map_del(&hub->chans, gone[i]->name);
        chan_free(gone[i]);
    }
    free(gone);
    bool pruned = false;
    while (hub->idem_len && hub->idem_fifo[hub->idem_head]->at < now - hub->cfg.idempotency_ttl_us) {
        idem_forget_oldest(hub);
        pruned = true;
    }
    if (pruned) hub->store->ops->chan_idem_prune(hub->store, now - hub->cfg.idempotency_ttl_us);
}

/* ---- start-up ------------------------------------------------------------- */

static void on_chan_row(const synq_chan_row_t *row, void *arg)
{
    synq_hub_t *hub = arg;
    const synq_ns_t *ns = synq_channel_valid(row->name) ? synq_hub_ns(hub, row->name) : NULL;
    if (!ns) return; /* a namespace no longer configured: ignored, kept stored */
    chan_add(hub, row->name, ns, row->epoch, row->top);
}

static void on_pub_row(const synq_pub_row_t *row, void *arg)
{
    synq_hub_t *hub = arg;
    chan_t *c = chan_get(hub, row->channel);
    if (!c || row->offset > c->committed) return;
    synq_hub_pub_t *p = pub_new(c, row->offset, row->data, strlen(row->data), row->info,
                                row->created_at);
    ring_push(c, p);
    pub_unref(p);
}

static void on_idem_row(const synq_chan_idem_row_t *row, void *arg)
{
    synq_hub_t *hub = arg;
    synq_pos_t pos;
    snprintf(pos.epoch, sizeof pos.epoch, "%s", row->epoch);
    pos.offset = row->offset;
    idem_remember(hub, row->channel, row->key, &pos, row->created_at);
}

synq_hub_t *synq_hub_new(synq_engine_t *engine, const synq_hub_config_t *cfg)
{
    synq_hub_t *hub = synq_calloc(1, sizeof *hub);
    hub->engine = engine;
    hub->store = synq_engine_store(engine);
    hub->cfg = *cfg;
    synq_map_init(&hub->chans);
    synq_map_init(&hub->idem);
    uv_timer_init(synq_engine_loop(engine), &hub->maint);
    hub->maint.data = hub;
    synq_store_t *st = hub->store;
    if (st->ops->chan_load(st, on_chan_row, hub) || st->ops->pub_load(st, on_pub_row, hub) ||
        st->ops->chan_idem_load(st, on_idem_row, hub)) {
        synq_hub_close(hub);
        return NULL;
    }
    /* history past its age (the server was down) goes at once */
    int64_t now = synq_time_now_us();
    void *it = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&hub->chans, &it, &k, &v)) ring_expire(v, now);
    uv_timer_start(&hub->maint, on_maint, 1000, 1000);
    uv_unref((uv_handle_t *)&hub->maint);
    return hub;
}

static void on_maint_closed(uv_handle_t *h)
{
    synq_hub_t *hub = h->data;
    void *it = NULL;
    const char *k;
    void *v;
    while (synq_map_next(&hub->chans, &it, &k, &v)) {
        chan_t *c = v;
        while (c->subs) {
            synq_hub_sub_t *s = c->subs;
            c->subs = s->next;
            sub_free(s);
        }
        chan_free(c);
    }
    synq_map_release(&hub->chans);
    while (hub->idem_len) idem_forget_oldest(hub);
    free(hub->idem_fifo);
    synq_map_release(&hub->idem);
    for (size_t i = 0; i < hub->npending; i++) pub_unref(hub->pending[i]);
    free(hub->pending);
    reap_dead(hub);
    free(hub);
}

void synq_hub_close(synq_hub_t *hub)
{
    if (!hub) return;
    uv_timer_stop(&hub->maint);
    uv_close((uv_handle_t *)&hub->maint, on_maint_closed);
}

/* ---- job events ----------------------------------------------------------- */

static void on_job_event(const synq_jobev_t *ev, void *arg)
{
    synq_hub_t *hub = arg;
    if (hub->nfeeds == 0) return; /* nobody watches any job: no work per event */
    const synq_job_t *j = ev->job;
    char chan[SYNQ_CHANNEL_MAX + 1];
    bool job_watched = snprintf(chan, sizeof chan, "jobs:%s", j->id) < (int)sizeof chan &&
                       chan_get(hub, chan) != NULL;
    char qchan[SYNQ_CHANNEL_MAX + 1];
    bool queue_watched = ev->kind == SYNQ_JOBEV_STATE &&
                         snprintf(qchan, sizeof qchan, "queues:%s", j->queue) < (int)sizeof qchan &&
                         chan_get(hub, qchan) != NULL;
    if (!job_watched && !queue_watched) return; /* the common case: nobody looks */
    synq_buf_t b;
    synq_buf_init(&b);
    const char *state = synq_job_state_name(j->state);
    if (ev->kind == SYNQ_JOBEV_STATE) {
        synq_buf_append(&b, "{\"type\":\"state\",\"id\":", 21);
        synq_buf_json_str(&b, j->id, strlen(j->id));
        synq_buf_append(&b, ",\"queue\":", 9);
        synq_buf_json_str(&b, j->queue, strlen(j->queue));
        synq_buf_printf(&b, ",\"state\":\"%s\",\"attempts\":%d", state, j->attempts);
        size_t compact = b.len;
        if (job_watched) {
            if (j->result) {
                synq_buf_append(&b, ",\"result\":", 10);
                synq_buf_append(&b, j->result, strlen(j->result));
            }
            if (j->err_message) {
                synq_buf_append(&b, ",\"error\":", 9);
                synq_buf_json_str(&b, j->err_message, strlen(j->err_message));
            }
            synq_buf_append(&b, "}", 1);
            synq_hub_publish_if_watched(hub, chan, b.data, b.len);
        }
        if (queue_watched) {
            b.len = compact;
            synq_buf_append(&b, "}", 1);
            synq_hub_publish_if_watched(hub, qchan, b.data, b.len);
        }
    } else {
        const char *type = ev->kind == SYNQ_JOBEV_PROGRESS ? "progress" : "log";
        synq_buf_printf(&b, "{\"type\":\"%s\",\"id\":", type);
        synq_buf_json_str(&b, j->id, strlen(j->id));
        synq_buf_printf(&b, ",\"n\":%lld,\"%s\":", (long long)ev->n, type);
        synq_buf_append(&b, ev->data, strlen(ev->data));
        synq_buf_append(&b, "}", 1);
        synq_hub_publish_if_watched(hub, chan, b.data, b.len);
    }
    synq_buf_release(&b);
}

void synq_hub_watch_jobs(synq_hub_t *hub)
{
    synq_engine_on_event(hub->engine, on_job_event, hub);
}

bool synq_hub_may_subscribe(const synq_ns_t *ns, const char *channel, const char *user,
                            const char *channel_grant)
{
    if (channel_grant && strcmp(channel_grant, channel) == 0) return true;
    if (!user || !user[0]) return ns->anonymous;
    return ns->subscribe;
}

uv_loop_t *synq_hub_loop(const synq_hub_t *hub)
{
    return synq_engine_loop(hub->engine);
}
