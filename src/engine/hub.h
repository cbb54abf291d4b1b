/* The hub: LiveSync channels. Every publication gets the next offset of
 * its channel's stream; (epoch, offset) is a subscriber's position, and the
 * epoch changes whenever the stream's history is reset or lost. History is
 * bounded by size and age per namespace and, for ordinary channels, stored
 * (in the engine's open transaction, with the publication), so it survives
 * a restart; it is a catch-up cache, not the system of record.
 *
 * Delivery happens after commit: a publication joins the open transaction
 * and goes to subscribers (and into what history, recovery and positions
 * report) only once that transaction has committed, in offset order. A
 * subscriber therefore never sees a publication a crash could take back.
 *
 * Transports (WebSocket, SSE, long-poll) subscribe with a sink; the hub
 * calls it for each committed publication with a synq_hub_pub_t whose
 * per-transport encodings are built once, by the first subscriber that
 * asks (synq_hub_pub_encoded), and shared by all the others.
 *
 * Channel names: 1..255 bytes of letters, digits and "-_.:/@"; the part
 * before the first ':' is the namespace. Namespaces are configured
 * (synq_hub_config_t); a name in an unconfigured namespace is unknown.
 * Built in: "jobs" and "queues" (job events; history kept in memory only,
 * and only for channels someone subscribed to within the history age) and
 * "docs" (document changes). */
#ifndef SYNQ_ENGINE_HUB_H
#define SYNQ_ENGINE_HUB_H

#include "core/buf.h"
#include "core/rcbuf.h"
#include "engine/engine.h"

#define SYNQ_CHANNEL_MAX 255
#define SYNQ_NS_MAX 64
#define SYNQ_EPOCH_LEN 8

typedef struct synq_hub_s synq_hub_t;
typedef struct synq_hub_sub_s synq_hub_sub_t;

/* A namespace's options. */
typedef struct synq_ns_s {
    char name[SYNQ_NS_MAX];  /* "" = channels without a namespace */
    int history_size;        /* publications kept; 0 = no history (default 100) */
    int64_t history_ttl_us;  /* and for how long (default 1 h) */
    bool anonymous;          /* clients without a user may subscribe (default false) */
    bool subscribe;          /* any authenticated user may subscribe; false = only with a
                              * channel token (default true) */
    bool publish;            /* subscribed clients may publish (default false) */
    bool presence;           /* presence kept (default false) */
    bool join_leave;         /* join/leave pushes to subscribers that ask (default false) */
    bool memory_only;        /* history not stored (built-in job namespaces) */
} synq_ns_t;

#define SYNQ_HUB_MAX_NS 32
typedef struct synq_hub_config_s {
    synq_ns_t ns[SYNQ_HUB_MAX_NS];
    size_t nns;
    int64_t idempotency_ttl_us;  /* publish idempotency keys (default 5 min) */
    size_t recovery_max;         /* most publications one recovery returns (default 1000) */
} synq_hub_config_t;

/* Defaults: channels without a namespace, plus the built-in namespaces. */
void synq_hub_config_init(synq_hub_config_t *cfg);
/* Adds or replaces a namespace from "name:key=value,key=value" (an empty
 * name before ':' means channels without a namespace); keys:
 * history_size, history_ttl (duration), anonymous, subscribe, publish,
 * presence, join_leave (true/false). SYNQ_EINVAL with a message in err. */
int synq_hub_config_namespace(synq_hub_config_t *cfg, const char *spec, char *err, size_t errlen);

/* A stream position. */
typedef struct synq_pos_s {
    char epoch[SYNQ_EPOCH_LEN + 1];
    uint64_t offset;
} synq_pos_t;

/* Per-transport encodings of a publication, built once per publication. */
typedef enum {
    SYNQ_ENC_WS_JSON = 0,    /* Centrifugo JSON push, as a raw WebSocket frame */
    SYNQ_ENC_WS_JSON_DEFLATE, /* the same, compressed frame */
    SYNQ_ENC_SSE,            /* SSE event of a one-channel stream (id = epoch:offset) */
    SYNQ_ENC_SSE_MULTI,      /* SSE event body of a several-channel stream (no id line) */
    SYNQ_ENC_MAX
} synq_enc_t;

/* A committed publication, as subscribers see it. Borrowed for the call. */
typedef struct synq_hub_pub_s {
    const char *channel;
    const char *epoch;
    uint64_t offset;
    const char *data;   /* JSON text */
    size_t len;
    const char *info;   /* JSON text of the publisher's client info, or NULL */
    int64_t time_us;
    /* private */
    synq_rcbuf_t *enc[SYNQ_ENC_MAX];
    int refs;
} synq_hub_pub_t;

/* The encoding `which` of pub: built by build(pub, arg) on the first call
 * (one reference kept by pub), then shared. Borrowed: take a reference to
 * keep it beyond the call. */
typedef synq_rcbuf_t *(*synq_hub_encode_cb)(const synq_hub_pub_t *pub, void *arg);
synq_rcbuf_t *synq_hub_pub_encoded(synq_hub_pub_t *pub, synq_enc_t which,
                                   synq_hub_encode_cb build, void *arg);

/* Who is subscribed (for presence and join/leave). Strings borrowed. */
typedef struct synq_hub_client_s {
    const char *client;    /* the connection's id */
    const char *user;      /* "" for anonymous */
    const char *conn_info; /* JSON text or NULL */
    const char *chan_info; /* JSON text or NULL */
} synq_hub_client_t;

/* A subscriber's callbacks. All optional but pub. */
typedef struct synq_hub_sink_s {
    /* A committed publication (in offset order per channel). */
    void (*pub)(synq_hub_sub_t *sub, synq_hub_pub_t *pub, void *arg);
    /* Someone joined or left a presence channel (only when the subscriber
     * asked for join/leave and the namespace has it). */
    void (*join)(synq_hub_sub_t *sub, const char *channel, const synq_hub_client_t *who,
                 bool leave, void *arg);
    /* The channel's history was reset (a new epoch): positions held are
     * void; the subscription stays and continues at the new epoch. */
    void (*reset)(synq_hub_sub_t *sub, const char *channel, const synq_pos_t *pos, void *arg);
} synq_hub_sink_t;

/* engine is borrowed (store, loop, commit). Loads channel streams, history
 * and publish keys from the store. NULL on failure. cfg is copied. */
synq_hub_t *synq_hub_new(synq_engine_t *engine, const synq_hub_config_t *cfg);
/* Stops the maintenance timer and frees the hub from its close callback.
 * Call after the engine has closed (publications waiting for a commit are
 * dropped); transports should have unsubscribed (left subscriptions are
 * freed without notice). */
void synq_hub_close(synq_hub_t *hub);

/* Publishes job events from the engine: on "jobs:{id}" every state change
 * ({"type":"state",...}), progress report and log line of the job, and on
 * "queues:{name}" a compact state feed; only to channels being watched
 * (synq_hub_publish_if_watched). */
void synq_hub_watch_jobs(synq_hub_t *hub);

/* Whether name is a well-formed channel name. */
bool synq_channel_valid(const char *name);
/* The namespace of a well-formed name, or NULL when it is not configured. */
const synq_ns_t *synq_hub_ns(const synq_hub_t *hub, const char *channel);

/* Whether a subscriber may subscribe to channel in namespace ns: user is
 * NULL or "" for an anonymous one; channel_grant is the `channel` claim of a
 * valid channel token it presented (or NULL). A matching grant always
 * allows; otherwise anonymous users need ns->anonymous and authenticated
 * ones ns->subscribe. */
bool synq_hub_may_subscribe(const synq_ns_t *ns, const char *channel, const char *user,
                            const char *channel_grant);

/* Publishes data (JSON text, len bytes) on channel. info: JSON text or
 * NULL. idem_key: NULL, or a key that makes a repeat within the
 * idempotency TTL return the first publish's position with *duplicate set
 * and publish nothing. *pos gets the publication's position. Returns 0,
 * SYNQ_EINVAL (bad name), SYNQ_ENOTFOUND (unknown namespace), SYNQ_ESTORE.
 * Subscribers get it after the open transaction commits. */
int synq_hub_publish(synq_hub_t *hub, const char *channel, const char *data, size_t len,
                     const char *info, const char *idem_key, synq_pos_t *pos, bool *duplicate);
/* Like synq_hub_publish, but only when the channel exists (someone
 * subscribed within its history age, or it has history): for event feeds
 * nobody may be watching. Returns 0 (published or skipped). */
int synq_hub_publish_if_watched(synq_hub_t *hub, const char *channel, const char *data,
                                size_t len);

/* The channel's current (committed) position; creates the stream (a new
 * epoch, offset 0) if it has none. SYNQ_EINVAL/SYNQ_ENOTFOUND as publish. */
int synq_hub_position(synq_hub_t *hub, const char *channel, synq_pos_t *pos);

/* Calls cb for committed publications of channel. since: NULL = from the
 * oldest kept; else those after since->offset, which must be recoverable:
 * same epoch (an empty epoch matches any) and every publication after it
 * still in history (else SYNQ_EGONE, nothing reported). At most limit
 * (limit < 0: no cap beyond recovery_max; 0: none, just the position);
 * reverse: newest first. *top gets the current position. */
typedef void (*synq_hub_pub_cb)(synq_hub_pub_t *pub, void *arg);
int synq_hub_history(synq_hub_t *hub, const char *channel, const synq_pos_t *since, int limit,
                     bool reverse, synq_hub_pub_cb cb, void *arg, synq_pos_t *top);
/* Empties a channel's history and gives it a new epoch (offsets restart
 * after the old top); subscribers get reset. */
int synq_hub_reset(synq_hub_t *hub, const char *channel, synq_pos_t *pos);

/* Subscribes a sink to channel (well-formed, known namespace: the caller
 * checked). who may be NULL (not in presence). join_leave: the sink wants
 * join/leave pushes. *pos gets the committed position at the moment of
 * subscribing: every publication after it will reach the sink. The caller
 * recovers what came before with synq_hub_history in the same loop turn. */
synq_hub_sub_t *synq_hub_subscribe(synq_hub_t *hub, const char *channel,
                                   const synq_hub_client_t *who, bool join_leave,
                                   const synq_hub_sink_t *sink, void *arg, synq_pos_t *pos);
void synq_hub_unsubscribe(synq_hub_t *hub, synq_hub_sub_t *sub);
/* The channel a subscription is on (borrowed). */
const char *synq_hub_sub_channel(const synq_hub_sub_t *sub);

/* Presence of a channel: appends {"clients":{id:{user,client,conn_info,
 * chan_info}}} or the stats {"num_clients":N,"num_users":M}. */
int synq_hub_presence(synq_hub_t *hub, const char *channel, synq_buf_t *out);
int synq_hub_presence_stats(synq_hub_t *hub, const char *channel, synq_buf_t *out);

/* Appends {"channels":[{"name","subscribers","offset","epoch"}...]} for
 * channels with subscribers or history, names starting with prefix (NULL =
 * all). */
void synq_hub_channels(synq_hub_t *hub, const char *prefix, synq_buf_t *out);

/* The loop the hub runs on. */
uv_loop_t *synq_hub_loop(const synq_hub_t *hub);

/* Counters for metrics. */
typedef struct synq_hub_stats_s {
    uint64_t published, delivered, channels, subscribers;
} synq_hub_stats_t;
void synq_hub_stats(const synq_hub_t *hub, synq_hub_stats_t *st);

#endif
