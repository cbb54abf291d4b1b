/* The Faktory Work Protocol listener: Faktory's worker and client libraries
 * talk to synq's engine over it, on the same loop as the HTTP API, so a job
 * pushed over one interface is fetched, acked and inspected over the other.
 *
 * Each connection gets `+HI` (with a salt and iteration count when a
 * password is set) and must answer HELLO within the handshake deadline.
 * Commands are served one at a time per connection; a reply that
 * acknowledges a write (PUSH, ACK, FAIL, ...) is sent after the engine's
 * group commit, so an `+OK` survives a crash. FETCH blocks in the engine's
 * long-poll for up to fetch_wait_ms.
 *
 * Workers (connections whose HELLO has a wid) are kept by wid: many
 * connections may share one. A worker's state only moves forward
 * (running -> quiet -> terminate), set by its own BEAT or by an operator
 * (synq_faktory_worker_signal); a quiet or terminating worker's FETCH
 * waits and gets nothing. A worker with no BEAT for worker_ttl_ms is
 * dropped and its connections closed. */
#ifndef SYNQ_PROTO_FAKTORY_H
#define SYNQ_PROTO_FAKTORY_H

#include "core/buf.h"
#include "engine/engine.h"

#include <uv.h>

typedef struct synq_faktory_s synq_faktory_t;

typedef struct synq_faktory_config_s {
    const char *addr;       /* "127.0.0.1:7419" */
    const char *password;   /* NULL or "": none */
    size_t max_line;        /* longest command line; 0: 1 MiB */
    uint64_t handshake_ms;  /* 0: 2000 */
    uint64_t fetch_wait_ms; /* 0: 2000 */
    uint64_t worker_ttl_ms; /* 0: 60000 */
} synq_faktory_config_t;

/* Starts listening. NULL with *err set (SYNQ_EINVAL or a libuv error) when
 * the address is bad or taken. */
synq_faktory_t *synq_faktory_start(synq_engine_t *e, const synq_faktory_config_t *cfg, int *err);

/* Frees f once synq_faktory_close has called back. NULL is fine. */
void synq_faktory_free(synq_faktory_t *f);

/* The bound address ("127.0.0.1:7419"). */
const char *synq_faktory_addr(const synq_faktory_t *f);

/* Stops listening and closes every connection; cb runs when all handles
 * are closed and f is freed. Call while the engine is still open. */
void synq_faktory_close(synq_faktory_t *f, void (*cb)(void *arg), void *arg);

/* Appends {"workers":[{wid, hostname, pid, labels, state, ...,
 * "jobs":[...]}]} for the REST API. */
void synq_faktory_workers_json(synq_faktory_t *f, synq_buf_t *out);

#define SYNQ_FAKTORY_RUNNING 0
#define SYNQ_FAKTORY_QUIET 1
#define SYNQ_FAKTORY_TERMINATE 2

/* Moves a worker to quiet or terminate (never back); its next BEAT hears
 * it. Appends the worker's JSON. SYNQ_ENOTFOUND for an unknown wid. */
int synq_faktory_worker_signal(synq_faktory_t *f, const char *wid, int state, synq_buf_t *out);

#endif
