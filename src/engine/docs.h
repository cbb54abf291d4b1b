/* Live documents: JSON objects in named collections, kept in the store,
 * written by whole-document replace and delete (with version
 * preconditions: optimistic concurrency), by merge patches merged field by
 * field with last-writer-wins on hybrid logical clock stamps
 * (core/docmerge.h), and by server-side intent operations (counters with
 * bounds, sets) applied all or nothing, at most once per client mutation.
 *
 * Versions: a document's version is its collection's change sequence at
 * its last change, so versions are unique and increasing within a
 * collection and the changes feed is "versions after V". A write that
 * changes no data keeps the version (and publishes nothing). A deleted
 * document stays as a tombstone (data NULL) so the feed reports it and
 * older concurrent writes still lose to the delete.
 *
 * Clock: one HLC for the server (node id configurable). Replace, delete
 * and ops are stamped by the server clock after it observed the
 * document's newest stamp (so they win over everything the document
 * holds); a patch uses the writer's stamp when given (after the receive
 * rule ran on it: a stamp more than max_drift_ms ahead is refused), else
 * the server's.
 *
 * Durability and fan-out: every write joins the engine's open transaction
 * (group commit) and publishes {"collection","id","version","fields":
 * {changed top-level fields: new value or null},"deleted"?:true} on the
 * channels "docs:{collection}" and "docs:{collection}/{id}", delivered by
 * the hub after that transaction commits. Callers acknowledge writes after
 * the commit too (synq_engine_after_commit).
 *
 * Everything runs on the loop thread; a call is atomic with respect to
 * every other (read, merge, write happen in one call).
 *
 * Answers are JSON appended to out:
 *   document:  {"id","version","data":{...}|null}
 *   writes:    the document plus "changed":[top-level fields], and for a
 *              deleted result "deleted":true
 *   ops:       the write answer plus "results":[...] and, for a replayed
 *              request, "duplicate":true
 *   feed:      {"changes":[{"id","version","data"|null,"deleted"}...],"version"}
 * Return codes: 0; SYNQ_ENOTFOUND (no such document, or deleted);
 * SYNQ_ECONFLICT (a precondition failed: out gets the current document
 * {"id","version","data"}); SYNQ_EINVAL (res->err: "field: problem");
 * SYNQ_ETOOBIG (an incr would cross min/max; res->err names the field);
 * SYNQ_ESTORE. Not done here: garbage collection of tombstones (deleted
 * documents and deleted-field stamps stay until the document is replaced
 * or written over). */
#ifndef SYNQ_ENGINE_DOCS_H
#define SYNQ_ENGINE_DOCS_H

#include "core/buf.h"
#include "core/hlc.h"
#include "engine/engine.h"

#include <jansson.h>

typedef struct synq_docs_s synq_docs_t;
typedef struct synq_hub_s synq_hub_t;

#define SYNQ_DOCS_COLLECTION_MAX 64 /* bytes of a collection name */
#define SYNQ_DOCS_ID_MAX 128        /* bytes of a document id */
#define SYNQ_DOCS_MAX_ETAGS 8       /* versions listed in one precondition */
#define SYNQ_DOCS_FEED_MAX 1000     /* changes in one feed answer */

typedef struct synq_docs_config_s {
    const char *node;        /* HLC node id (valid per synq_hlc_node_valid); NULL = the
                              * hostname (invalid characters as '_'), else "synq" */
    int64_t max_drift_ms;    /* writer stamps further ahead are refused (default 60 s) */
    size_t max_doc_bytes;    /* largest document, as JSON text (default 1 MiB); also
                              * bounds its meta */
    int64_t mutation_ttl_us; /* applied client mutations are remembered (default 24 h) */
} synq_docs_config_t;

void synq_docs_config_init(synq_docs_config_t *cfg);

/* engine and hub are borrowed and must outlive the module; hub may be NULL
 * (nothing is published). cfg is copied (NULL = defaults). Returns NULL
 * when cfg->node is not a valid node id. */
synq_docs_t *synq_docs_new(synq_engine_t *engine, synq_hub_t *hub, const synq_docs_config_t *cfg);
void synq_docs_free(synq_docs_t *d);
/* The server clock's node id (borrowed). */
const char *synq_docs_node(const synq_docs_t *d);

/* Preconditions of a write (RFC 9110 §13.1.1-2, strong comparison of
 * versions). If-Match is checked first: "*" needs the document to exist, a
 * list needs its version to be listed. Then If-None-Match: "*" needs it
 * not to exist (a deleted one does not), a list needs its version not to
 * be listed. */
typedef struct synq_docs_cond_s {
    bool if_match;     /* an If-Match was given */
    bool if_match_any; /* it was "*" */
    size_t nmatch;
    uint64_t match[SYNQ_DOCS_MAX_ETAGS];
    bool if_none_match;
    bool if_none_match_any;
    size_t nnone;
    uint64_t none[SYNQ_DOCS_MAX_ETAGS];
} synq_docs_cond_t;

/* A write's target and conditions. Strings and hlc borrowed for the call. */
typedef struct synq_docs_write_s {
    const char *collection;
    const char *id;
    synq_docs_cond_t cond;    /* zeroed = unconditional */
    const synq_hlc_ts_t *hlc; /* the writer's stamp, or NULL */
} synq_docs_write_t;

/* What a call did. */
typedef struct synq_docs_res_s {
    uint64_t version; /* the document's version after the call (0: never written) */
    bool exists;      /* the document exists after the call */
    bool created;     /* it exists now and did not before */
    bool duplicate;   /* ops: the whole request was a replay */
    bool stamped;     /* a write stamp was used: */
    synq_hlc_ts_t stamp;
    char err[300]; /* SYNQ_EINVAL, SYNQ_ETOOBIG: "field: problem" */
} synq_docs_res_t;

/* True when collection (1..64 bytes) and id (1..128 bytes) are made of
 * A-Z a-z 0-9 _ - . : (so "docs:{collection}/{id}" is a channel name). */
bool synq_docs_name_valid(const char *collection, const char *id);

/* Reads a document: 0 and the document form, or SYNQ_ENOTFOUND (res->version
 * is a tombstone's version, else 0). */
int synq_docs_get(synq_docs_t *d, const char *collection, const char *id, synq_buf_t *out,
                  synq_docs_res_t *res);

/* Replaces (or creates) a document with data (an object, borrowed). */
int synq_docs_put(synq_docs_t *d, const synq_docs_write_t *w, const json_t *data, synq_buf_t *out,
                  synq_docs_res_t *res);

/* Merges patch (an object, RFC 7396; borrowed) into a document, creating
 * it when absent. Parts that lose to newer writes are dropped (the answer
 * shows the merged result). */
int synq_docs_patch(synq_docs_t *d, const synq_docs_write_t *w, const json_t *patch,
                    synq_buf_t *out, synq_docs_res_t *res);

/* Deletes a document (SYNQ_ENOTFOUND when there is none). */
int synq_docs_delete(synq_docs_t *d, const synq_docs_write_t *w, synq_buf_t *out,
                     synq_docs_res_t *res);

/* Applies intent operations from a request body (borrowed)
 *   {"ops":[...], "client"?: id, "mutation"?: integer}
 * (ops as in synq_docops_parse). With client + mutation the request is
 * applied at most once: a repeat answers the first answer with
 * "duplicate":true and applies nothing. An op's own "mutation" (with the
 * request's client) makes that op at most once: a repeated op is skipped,
 * its result is the first one with "duplicate":true. Request and op
 * mutation ids share one space per client. */
int synq_docs_ops(synq_docs_t *d, const synq_docs_write_t *w, const json_t *body, synq_buf_t *out,
                  synq_docs_res_t *res);

/* The changes feed: documents of collection whose version is > since,
 * oldest change first, at most limit (1..SYNQ_DOCS_FEED_MAX); "version" is
 * the newest version included, or the collection's newest when none is. */
int synq_docs_changes(synq_docs_t *d, const char *collection, uint64_t since, int limit,
                      synq_buf_t *out);

#endif
