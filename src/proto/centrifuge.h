/* Centrifugo's client protocol v2, JSON form, over WebSocket: what the
 * official centrifuge SDKs speak, so they connect to synq unchanged.
 *
 * Each WebSocket text message holds one or more commands separated by
 * newlines; each command {"id":N, "<method>":{...}} gets a reply with the
 * same id ({"id":N,"<method>":{...}} or {"id":N,"error":{code,message}}),
 * and the replies to one message go back together in one message. Pushes
 * (publications, join/leave, unsubscribe, disconnect) carry no id. The
 * server pings with an empty reply "{}" every ping interval; a client that
 * negotiated pong answers with an empty command, or is disconnected (3012).
 *
 * Methods: connect, subscribe (with recovery: recover/epoch/offset),
 * unsubscribe, publish, history, presence, presence_stats, refresh,
 * sub_refresh, ping; send and rpc are answered "method not found" (104).
 * Error codes, unsubscribe codes and disconnect codes are Centrifugo's
 * (docs/livesync.md lists what synq sends and when).
 *
 * Subscriptions go to the hub; publications are encoded once per
 * publication (plain and compressed frames, synq_hub_pub_encoded) and the
 * same frame is written to every subscribed connection. */
#ifndef SYNQ_PROTO_CENTRIFUGE_H
#define SYNQ_PROTO_CENTRIFUGE_H

#include "engine/hub.h"
#include "net/http.h"
#include "net/ws.h"

typedef struct synq_centrifuge_s synq_centrifuge_t;

typedef struct synq_centrifuge_config_s {
    const char *jwt_secret;    /* NULL: tokens are refused; anonymous connects only */
    bool open;                 /* no API key and no secret: every subscription allowed */
    synq_ws_config_t ws;
    uint64_t ping_interval_ms; /* default 25000 */
    uint64_t pong_timeout_ms;  /* default 8000 */
    uint64_t connect_timeout_ms; /* the connect command must come within; default 10000 */
    size_t max_subs;           /* subscriptions per connection; default 512 */
} synq_centrifuge_config_t;

void synq_centrifuge_config_init(synq_centrifuge_config_t *cfg);

/* hub is borrowed and must outlive the object. cfg (and its strings) copied. */
synq_centrifuge_t *synq_centrifuge_new(synq_hub_t *hub, const synq_centrifuge_config_t *cfg);
/* Takes a WebSocket upgrade request (answering a bad handshake itself). */
void synq_centrifuge_accept(synq_centrifuge_t *cf, synq_http_req_t *req);
/* Disconnects every client with 3001 "shutdown" (they reconnect later),
 * unsubscribes them from the hub at once, and frees the object; the
 * connections finish closing on their own. */
void synq_centrifuge_close(synq_centrifuge_t *cf);
/* Number of connected clients. */
size_t synq_centrifuge_clients(const synq_centrifuge_t *cf);

#endif
