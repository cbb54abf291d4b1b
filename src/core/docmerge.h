/* Merging writes into JSON documents so that every replica that sees the
 * same set of writes ends with the same document, whatever the order they
 * arrived in: JSON merge patches (RFC 7396) field by field with
 * last-writer-wins on HLC stamps (core/hlc.h), whole-document replace and
 * delete, and server-side intent operations (counters, sets).
 *
 * Pure: jansson values in, jansson values out; no clock, no I/O.
 *
 * The model. A merge patch is a set of writes that share one stamp: a leaf
 * (a non-object value, or null = delete) is an assignment at its path; an
 * empty object is an "ensure object" at its path; a non-empty object
 * recurses (RFC 7396 §2: it makes its path an object and patches into it).
 * The document is what applying every write in stamp order gives. To get
 * it whatever the arrival order, the merge keeps, per path, the stamp of
 * the newest assignment (a) and of the newest ensure (o), and applies:
 *  - a write at p is dropped when an assignment at a strict ancestor of p
 *    is newer (that assignment replaced the whole subtree later);
 *  - an assignment at p with stamp s takes effect when newer than the
 *    assignment recorded at p; it then removes from p's subtree everything
 *    older than s (it overwrote those), keeps what is newer;
 *  - the value at p is the newest assignment's value when that is newer
 *    than every stamp below p and than p's ensure; otherwise p is an object
 *    of its children (writes below p that came later re-created it; RFC
 *    7396 turns a non-object into {} before patching into it).
 * Stamps of deletes stay in the meta (tombstones), so an older write that
 * arrives late still loses. Equal stamps mean the same write (a replay is
 * a no-op): writers must never reuse a stamp for a different write (an HLC
 * with distinct node ids guarantees it). This converges for merge patches
 * at any depth, parents against children included (tests/unit/test_docmerge.c
 * checks every arrival order against applying in stamp order).
 *
 * Replace (PUT) at stamp s is an assignment of null at the root plus the
 * new document as a merge patch at s; delete is an assignment of null at
 * the root. A document whose root value is absent is deleted.
 *
 * Meta: JSON, a tree mirroring the document, each node an object with
 * optional "a" and "o" (stamps in text form) and "c" (children by name).
 * A stamp a document value already implies is left out: a leaf's "a" when
 * equal to the nearest ancestor's "a", an empty object's "o" when equal to
 * the nearest "a" at or above it. Arrays are leaves (replaced whole). */
#ifndef SYNQ_CORE_DOCMERGE_H
#define SYNQ_CORE_DOCMERGE_H

#include "core/hlc.h"

#include <jansson.h>

typedef struct synq_docmerge_s synq_docmerge_t;

/* Loads a document's merge state from its data (an object, or NULL when
 * deleted or new) and meta (NULL when none). Both borrowed for the call.
 * Returns 0 and *out (free with synq_docmerge_free), or SYNQ_EINVAL when
 * the meta is malformed (bad stamps, not objects). */
int synq_docmerge_load(const json_t *data, const json_t *meta, synq_docmerge_t **out);
void synq_docmerge_free(synq_docmerge_t *m);

/* Applies a merge patch (an object; anything else is SYNQ_EINVAL) written
 * at stamp. Parts that lose to newer writes are dropped; that is not an
 * error. patch is borrowed (its values are referenced, not copied). */
int synq_docmerge_patch(synq_docmerge_t *m, const json_t *patch, const synq_hlc_ts_t *stamp);
/* Replaces the whole document (an object, else SYNQ_EINVAL) at stamp. */
int synq_docmerge_put(synq_docmerge_t *m, const json_t *data, const synq_hlc_ts_t *stamp);
/* Deletes the document at stamp. */
void synq_docmerge_delete(synq_docmerge_t *m, const synq_hlc_ts_t *stamp);

/* The document now: a new reference to an object, or NULL when deleted. */
json_t *synq_docmerge_data(const synq_docmerge_t *m);
/* The meta now: a new reference to an object, or NULL when there is none
 * (a never-written document). Serialise with JSON_SORT_KEYS for a
 * canonical text. */
json_t *synq_docmerge_meta(const synq_docmerge_t *m);
/* The newest stamp in the state (false when there is none). */
bool synq_docmerge_max_stamp(const synq_docmerge_t *m, synq_hlc_ts_t *out);

/* The top-level fields that differ between two documents (either may be
 * NULL = deleted): a new object {field: its value in after, or null when
 * after lacks it}; empty when nothing differs. */
json_t *synq_docmerge_changed(const json_t *before, const json_t *after);

/* ---- intent operations -------------------------------------------------- */

#define SYNQ_DOCOPS_MAX 100       /* ops in one request */
#define SYNQ_DOCOPS_FIELD_MAX 256 /* bytes of a field name */

typedef enum {
    SYNQ_DOCOP_INCR,   /* field += by (default 1), within [min, max] when given */
    SYNQ_DOCOP_ADD,    /* add value to the set (array of unique values) field */
    SYNQ_DOCOP_REMOVE, /* remove value from the set field */
} synq_docop_kind_t;

/* One parsed operation; json values borrowed from the parsed request. */
typedef struct synq_docop_s {
    synq_docop_kind_t kind;
    const char *field; /* a top-level field of the document */
    const json_t *by;  /* incr: a number (NULL = 1) */
    const json_t *min; /* incr: a number or NULL */
    const json_t *max;
    const json_t *value; /* add/remove: any JSON value */
    bool has_mutation;   /* a client mutation id for this op */
    int64_t mutation;
} synq_docop_t;

/* Parses a JSON array of 1..SYNQ_DOCOPS_MAX operations
 *   {"op":"incr","field":F,"by"?:N,"min"?:N,"max"?:N,"mutation"?:int}
 *   {"op":"add"|"remove","field":F,"value":V,"mutation"?:int}
 * into out (room for SYNQ_DOCOPS_MAX) and *n. Returns 0, or SYNQ_EINVAL
 * with "ops[i].name: problem" in err (unknown keys are errors too). */
int synq_docops_parse(const json_t *ops, synq_docop_t *out, size_t *n, char *err, size_t errlen);

/* Applies ops[0..n) in order to doc (an object or NULL = empty; borrowed,
 * not modified), all or nothing. On success returns 0, *fields gets a new
 * object {field: new value} of the fields the ops changed (to be written as
 * a merge patch; empty when none changed), and *results a new array with
 * one object per op: incr {"op","field","value": the new number}, add and
 * remove {"op","field","changed": bool}. Errors (nothing returned):
 * SYNQ_EINVAL when a field holds the wrong type (incr: a number, absent =
 * 0; add/remove: an array, absent = []) or a result overflows, and
 * SYNQ_ETOOBIG when an incr would leave [min, max]; err gets
 * "<field>: problem" naming the document field. skip: NULL, or n flags of
 * ops to leave out (already applied: their results are null). */
int synq_docops_apply(const json_t *doc, const synq_docop_t *ops, size_t n, const bool *skip,
                      json_t **fields, json_t **results, char *err, size_t errlen);

#endif
