/* Live documents over the store and the hub: each call loads the row,
 * checks preconditions, stamps, merges (core/docmerge), writes the row into
 * the open transaction with the collection's next version, and publishes
 * the change. */
#include "engine/docs.h"

#include "core/docmerge.h"
#include "core/id.h"
#include "core/log.h"
#include "core/map.h"
#include "core/timeutil.h"
#include "engine/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRUNE_EVERY_US (60 * SYNQ_US_PER_SEC)

typedef struct coll_s {
    char *name;
    uint64_t top; /* newest version given out */
} coll_t;

struct synq_docs_s {
    synq_engine_t *engine;
    synq_store_t *store;
    synq_hub_t *hub;
    synq_docs_config_t cfg;
    synq_hlc_t clock;
    synq_map_t colls; /* name -> coll_t, loaded lazily */
    int64_t pruned_at;
};

/* A loaded document row. */
typedef struct {
    bool found; /* a row exists (maybe a tombstone) */
    uint64_t version;
    json_t *data; /* NULL when deleted or not found */
    json_t *meta;
    char *changed; /* JSON array text or NULL */
} doc_t;

void synq_docs_config_init(synq_docs_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_drift_ms = SYNQ_HLC_DEFAULT_MAX_DRIFT_MS;
    cfg->max_doc_bytes = 1024 * 1024;
    cfg->mutation_ttl_us = 24 * 3600 * SYNQ_US_PER_SEC;
}

/* The hostname as a node id: characters a node id may not hold become '_'. */
static void default_node(char *out, size_t outlen)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
        snprintf(out, outlen, "synq");
        return;
    }
    size_t n = 0;
    for (const char *p = host; *p && n + 1 < outlen && n < SYNQ_HLC_NODE_MAX; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':';
        out[n] = ok ? c : '_';
    }
    out[n] = '\0';
    if (!synq_hlc_node_valid(out)) snprintf(out, outlen, "synq");
}

synq_docs_t *synq_docs_new(synq_engine_t *engine, synq_hub_t *hub, const synq_docs_config_t *cfg)
{
    synq_docs_config_t c;
    synq_docs_config_init(&c);
    if (cfg) c = *cfg;
    char node[SYNQ_HLC_NODE_MAX + 1];
    if (c.node) {
        if (!synq_hlc_node_valid(c.node)) return NULL;
        snprintf(node, sizeof node, "%s", c.node);
    } else {
        default_node(node, sizeof node);
    }
    c.node = NULL; /* not kept: the clock holds the node id */
    if (c.max_doc_bytes == 0) c.max_doc_bytes = 1024 * 1024;
    if (c.mutation_ttl_us <= 0) c.mutation_ttl_us = 24 * 3600 * SYNQ_US_PER_SEC;
    synq_docs_t *d = synq_calloc(1, sizeof *d);
    d->engine = engine;
    d->store = synq_engine_store(engine);
    d->hub = hub;
    d->cfg = c;
    synq_hlc_init(&d->clock, node, c.max_drift_ms);
    synq_map_init(&d->colls);
    return d;
}

void synq_docs_free(synq_docs_t *d)
{
    if (d == NULL) return;
    void *it = NULL, *v;
    const char *k;
    while (synq_map_next(&d->colls, &it, &k, &v)) {
        coll_t *c = v;
        free(c->name);
        free(c);
    }
    synq_map_release(&d->colls);
    free(d);
}

const char *synq_docs_node(const synq_docs_t *d)
{
    return d->clock.node;
}

bool synq_docs_name_valid(const char *collection, const char *id)
{
    size_t cl = strlen(collection);
    return cl <= SYNQ_DOCS_COLLECTION_MAX && synq_id_valid(collection, cl) &&
           synq_id_valid(id, strlen(id));
}

/* ---- rows ---------------------------------------------------------------- */

static void doc_release(doc_t *doc)
{
    json_decref(doc->data);
    json_decref(doc->meta);
    free(doc->changed);
    memset(doc, 0, sizeof *doc);
}

static int on_row(const synq_doc_row_t *row, void *arg)
{
    doc_t *doc = arg;
    doc->found = true;
    doc->version = row->version;
    if (row->data) doc->data = json_loads(row->data, 0, NULL);
    if (row->meta) doc->meta = json_loads(row->meta, 0, NULL);
    if (row->changed) doc->changed = synq_strdup(row->changed);
    return 1;
}

/* Loads a row; 0 (doc->found false when there is none) or SYNQ_ESTORE. */
static int load(synq_docs_t *d, const char *collection, const char *id, doc_t *doc)
{
    memset(doc, 0, sizeof *doc);
    int rc = d->store->ops->doc_get(d->store, collection, id, on_row, doc);
    if (rc == SYNQ_ENOTFOUND) return 0;
    if (rc) return rc;
    if (doc->data && !json_is_object(doc->data)) { /* not written by us */
        json_decref(doc->data);
        doc->data = NULL;
    }
    return 0;
}

static coll_t *coll_get(synq_docs_t *d, const char *collection, int *rc)
{
    coll_t *c = synq_map_get(&d->colls, collection);
    if (c) return c;
    uint64_t top = 0;
    *rc = d->store->ops->doc_top(d->store, collection, &top);
    if (*rc) return NULL;
    c = synq_calloc(1, sizeof *c);
    c->name = synq_strdup(collection);
    c->top = top;
    synq_map_put(&d->colls, c->name, c);
    return c;
}

/* ---- answers ------------------------------------------------------------- */

static void dump_into(synq_buf_t *out, const json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    synq_buf_puts(out, t);
    free(t);
}

/* {"id","version","data"} */
static json_t *doc_json(const char *id, uint64_t version, const json_t *data)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "version", json_integer((json_int_t)version));
    json_object_set(o, "data", data ? (json_t *)data : json_null());
    return o;
}

static bool version_in(uint64_t v, const uint64_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v) return true;
    return false;
}

/* Checks the preconditions against a loaded row; on failure appends the
 * current document to out and returns SYNQ_ECONFLICT. */
static int check_cond(const synq_docs_write_t *w, const doc_t *doc, synq_buf_t *out,
                      synq_docs_res_t *res)
{
    const synq_docs_cond_t *c = &w->cond;
    bool exists = doc->data != NULL;
    bool ok = true;
    if (c->if_match)
        ok = exists && (c->if_match_any || version_in(doc->version, c->match, c->nmatch));
    if (ok && c->if_none_match)
        ok = !exists || (!c->if_none_match_any && !version_in(doc->version, c->none, c->nnone));
    if (ok) return 0;
    res->version = doc->version;
    res->exists = exists;
    json_t *cur = doc_json(w->id, doc->version, doc->data);
    dump_into(out, cur);
    json_decref(cur);
    return SYNQ_ECONFLICT;
}

static int invalid(synq_docs_res_t *res, const char *fmt, const char *a)
{
    snprintf(res->err, sizeof res->err, fmt, a);
    return SYNQ_EINVAL;
}

/* ---- stamping ------------------------------------------------------------ */

static int64_t now_ms(void)
{
    return synq_time_now_us() / 1000;
}

/* The stamp for a write on m: the writer's (after the receive rule) when
 * use_writer and given, else the server clock's, after observing m's
 * newest stamp so it is newer than everything m holds. */
static int stamp_for(synq_docs_t *d, const synq_docs_write_t *w, const synq_docmerge_t *m,
                     bool use_writer, synq_docs_res_t *res)
{
    int64_t pt = now_ms();
    if (w->hlc) {
        if (strcmp(w->hlc->node, d->clock.node) == 0) {
            /* its stamps could equal the server's own: one stamp, two writes */
            snprintf(res->err, sizeof res->err,
                     "Synq-HLC: the node id %s is the server's; writers need their own",
                     d->clock.node);
            return SYNQ_EINVAL;
        }
        if (synq_hlc_recv(&d->clock, w->hlc, pt, NULL)) {
            snprintf(res->err, sizeof res->err,
                     "Synq-HLC: more than %lld ms ahead of the server's clock",
                     (long long)d->clock.max_drift_ms);
            return SYNQ_EINVAL;
        }
        if (use_writer) {
            res->stamp = *w->hlc;
            res->stamped = true;
            return 0;
        }
    }
    synq_hlc_ts_t newest;
    if (synq_docmerge_max_stamp(m, &newest)) synq_hlc_observe(&d->clock, &newest);
    synq_hlc_now(&d->clock, pt, &res->stamp);
    res->stamped = true;
    return 0;
}

/* ---- committing a merged state ------------------------------------------- */

static int publish(synq_docs_t *d, const char *collection, const char *id, uint64_t version,
                   const json_t *fields, bool deleted)
{
    if (d->hub == NULL) return 0;
    json_t *p = json_object();
    json_object_set_new(p, "collection", json_string(collection));
    json_object_set_new(p, "id", json_string(id));
    json_object_set_new(p, "version", json_integer((json_int_t)version));
    json_object_set(p, "fields", (json_t *)fields);
    if (deleted) json_object_set_new(p, "deleted", json_true());
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    char chan[SYNQ_CHANNEL_MAX + 1];
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (i == 0)
            snprintf(chan, sizeof chan, "docs:%s", collection);
        else
            snprintf(chan, sizeof chan, "docs:%s/%s", collection, id);
        synq_pos_t pos;
        bool dup = false;
        rc = synq_hub_publish(d->hub, chan, text, strlen(text), NULL, NULL, &pos, &dup);
        if (rc)
            synq_log(SYNQ_LOG_ERROR, "document change not published", "channel", chan, "error",
                     synq_strerror(rc), NULL);
    }
    free(text);
    return rc;
}

/* What a write produced, for its answer. */
typedef struct {
    json_t *data;    /* after (NULL = deleted) */
    json_t *changed; /* {field: value|null} */
} outcome_t;

/* Writes the merged state m of doc (when anything changed), publishes a
 * data change, and fills res and o (o->data and o->changed: new
 * references, released by the caller). */
static int commit(synq_docs_t *d, const synq_docs_write_t *w, const doc_t *doc,
                  const synq_docmerge_t *m, synq_docs_res_t *res, outcome_t *o)
{
    int rc = 0;
    json_t *meta = synq_docmerge_meta(m);
    char *data_text = NULL, *meta_text = NULL, *changed_text = NULL;
    o->data = synq_docmerge_data(m);
    o->changed = synq_docmerge_changed(doc->data, o->data);
    bool data_changed =
        json_object_size(o->changed) > 0 || (doc->data == NULL) != (o->data == NULL);
    bool meta_changed = !(meta == doc->meta || (meta && doc->meta && json_equal(meta, doc->meta)));
    res->version = doc->version;
    res->exists = o->data != NULL;
    res->created = o->data != NULL && doc->data == NULL;
    if (!data_changed && !meta_changed) goto done;

    if (o->data) data_text = json_dumps(o->data, JSON_COMPACT);
    if (meta) meta_text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    size_t max = d->cfg.max_doc_bytes;
    if (data_text && strlen(data_text) > max) {
        snprintf(res->err, sizeof res->err,
                 "data: the document would be %zu bytes, over the "
                 "limit of %zu",
                 strlen(data_text), max);
        rc = SYNQ_EINVAL;
        goto done;
    }
    if (meta_text && strlen(meta_text) > max) {
        snprintf(res->err, sizeof res->err,
                 "data: the document's field stamps would be %zu "
                 "bytes, over the limit of %zu (replace it with PUT to reset them)",
                 strlen(meta_text), max);
        rc = SYNQ_EINVAL;
        goto done;
    }
    uint64_t version = doc->version;
    if (data_changed) {
        coll_t *c = coll_get(d, w->collection, &rc);
        if (c == NULL) goto done;
        if (c->top < doc->version) c->top = doc->version; /* cannot happen; keeps versions unique */
        version = ++c->top;
        json_t *names = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(o->changed, k, v)
        {
            json_array_append_new(names, json_string(k));
        }
        changed_text = json_dumps(names, JSON_COMPACT);
        json_decref(names);
    }
    synq_doc_row_t row = {
        .collection = w->collection,
        .id = w->id,
        .version = version,
        .data = data_text,
        .meta = meta_text,
        .changed = changed_text ? changed_text : doc->changed,
        .updated_at = synq_time_now_us(),
    };
    rc = d->store->ops->doc_put(d->store, &row);
    if (rc) goto done;
    res->version = version;
    if (data_changed) rc = publish(d, w->collection, w->id, version, o->changed, o->data == NULL);
done:
    json_decref(meta);
    free(data_text);
    free(meta_text);
    free(changed_text);
    return rc;
}

/* The write answer: the document, "changed", and "deleted" when gone. */
static json_t *write_json(const synq_docs_write_t *w, const synq_docs_res_t *res,
                          const outcome_t *o)
{
    json_t *a = doc_json(w->id, res->version, o->data);
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(o->changed, k, v)
    {
        json_array_append_new(names, json_string(k));
    }
    json_object_set_new(a, "changed", names);
    if (o->data == NULL) json_object_set_new(a, "deleted", json_true());
    return a;
}

/* ---- operations ---------------------------------------------------------- */

int synq_docs_get(synq_docs_t *d, const char *collection, const char *id, synq_buf_t *out,
                  synq_docs_res_t *res)
{
    memset(res, 0, sizeof *res);
    doc_t doc;
    int rc = load(d, collection, id, &doc);
    if (rc) return rc;
    res->version = doc.version;
    if (doc.data == NULL) {
        doc_release(&doc);
        return SYNQ_ENOTFOUND;
    }
    res->exists = true;
    json_t *a = doc_json(id, doc.version, doc.data);
    dump_into(out, a);
    json_decref(a);
    doc_release(&doc);
    return 0;
}

typedef enum { W_PUT, W_PATCH, W_DELETE } wkind_t;

/* put, patch and delete: load, check, stamp, merge, commit, answer. */
static int write_doc(synq_docs_t *d, const synq_docs_write_t *w, wkind_t kind, const json_t *body,
                     synq_buf_t *out, synq_docs_res_t *res)
{
    memset(res, 0, sizeof *res);
    if (!synq_docs_name_valid(w->collection, w->id))
        return invalid(res,
                       "%s: must be 1-64 (collection) and 1-128 (id) characters of A-Z a-z "
                       "0-9 _ - . :",
                       "id");
    if (kind != W_DELETE && !json_is_object(body))
        return invalid(res, "%s: the body must be a JSON object", "data");
    doc_t doc;
    synq_docmerge_t *m = NULL;
    outcome_t o = {0};
    int rc = load(d, w->collection, w->id, &doc);
    if (rc) return rc;
    rc = check_cond(w, &doc, out, res);
    if (rc) goto done;
    if (kind == W_DELETE && doc.data == NULL) {
        res->version = doc.version;
        rc = SYNQ_ENOTFOUND;
        goto done;
    }
    if (synq_docmerge_load(doc.data, doc.meta, &m)) {
        synq_log(SYNQ_LOG_ERROR, "document meta is malformed; its stamps are reset", "collection",
                 w->collection, "id", w->id, NULL);
        rc = synq_docmerge_load(doc.data, NULL, &m);
        if (rc) goto done;
    }
    rc = stamp_for(d, w, m, kind == W_PATCH, res);
    if (rc) goto done;
    if (kind == W_PUT)
        rc = synq_docmerge_put(m, body, &res->stamp);
    else if (kind == W_PATCH)
        rc = synq_docmerge_patch(m, body, &res->stamp);
    else
        synq_docmerge_delete(m, &res->stamp);
    if (rc) {
        rc = invalid(res, "%s: objects nest too deep", "data");
        goto done;
    }
    rc = commit(d, w, &doc, m, res, &o);
    if (rc) goto done;
    json_t *a = write_json(w, res, &o);
    dump_into(out, a);
    json_decref(a);
done:
    json_decref(o.data);
    json_decref(o.changed);
    synq_docmerge_free(m);
    doc_release(&doc);
    return rc;
}

int synq_docs_put(synq_docs_t *d, const synq_docs_write_t *w, const json_t *data, synq_buf_t *out,
                  synq_docs_res_t *res)
{
    return write_doc(d, w, W_PUT, data, out, res);
}

int synq_docs_patch(synq_docs_t *d, const synq_docs_write_t *w, const json_t *patch,
                    synq_buf_t *out, synq_docs_res_t *res)
{
    return write_doc(d, w, W_PATCH, patch, out, res);
}

int synq_docs_delete(synq_docs_t *d, const synq_docs_write_t *w, synq_buf_t *out,
                     synq_docs_res_t *res)
{
    return write_doc(d, w, W_DELETE, NULL, out, res);
}

/* ---- intent operations --------------------------------------------------- */

/* A stored mutation answer with "duplicate":true, or NULL when the
 * (client, mutation) was never applied. *rc gets SYNQ_ESTORE on failure. */
static json_t *replayed(synq_docs_t *d, const char *client, int64_t mutation, int *rc)
{
    char *text = NULL;
    *rc = d->store->ops->mutation_get(d->store, client, mutation, &text);
    if (*rc == SYNQ_ENOTFOUND) {
        *rc = 0;
        return NULL;
    }
    if (*rc) return NULL;
    json_t *v = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(v)) { /* cannot happen: we stored it */
        json_decref(v);
        v = json_object();
    }
    json_object_set_new(v, "duplicate", json_true());
    return v;
}

static int remember(synq_docs_t *d, const char *client, int64_t mutation, const json_t *answer)
{
    char *text = json_dumps(answer, JSON_COMPACT);
    int rc = d->store->ops->mutation_put(d->store, client, mutation, text, synq_time_now_us());
    free(text);
    return rc;
}

/* Parses the ops request; 0 or SYNQ_EINVAL with res->err. */
static int parse_ops(const json_t *body, synq_docop_t *ops, size_t *n, const char **client,
                     bool *has_mutation, int64_t *mutation, synq_docs_res_t *res)
{
    *client = NULL;
    *has_mutation = false;
    if (!json_is_object(body)) return invalid(res, "%s: the body must be a JSON object", "ops");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        if (strcmp(k, "ops") && strcmp(k, "client") && strcmp(k, "mutation"))
            return invalid(res, "%s: unknown field", k);
    }
    json_t *c = json_object_get(body, "client");
    if (c) {
        if (!json_is_string(c) || !synq_id_valid(json_string_value(c), json_string_length(c)))
            return invalid(res, "%s: must be 1-128 characters of A-Z a-z 0-9 _ - . :", "client");
        *client = json_string_value(c);
    }
    json_t *mu = json_object_get(body, "mutation");
    if (mu) {
        if (!json_is_integer(mu) || json_integer_value(mu) < 0)
            return invalid(res, "%s: must be a non-negative integer", "mutation");
        *has_mutation = true;
        *mutation = json_integer_value(mu);
    }
    if (synq_docops_parse(json_object_get(body, "ops"), ops, n, res->err, sizeof res->err))
        return SYNQ_EINVAL;
    bool any = *has_mutation;
    for (size_t i = 0; i < *n; i++) {
        if (!ops[i].has_mutation) continue;
        any = true;
        if (*has_mutation && ops[i].mutation == *mutation) {
            snprintf(res->err, sizeof res->err, "ops[%zu].mutation: the same as the request's", i);
            return SYNQ_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (ops[j].has_mutation && ops[j].mutation == ops[i].mutation) {
                snprintf(res->err, sizeof res->err, "ops[%zu].mutation: repeats ops[%zu]'s", i, j);
                return SYNQ_EINVAL;
            }
    }
    if (any && *client == NULL) return invalid(res, "%s: required with a mutation id", "client");
    return 0;
}

static void maybe_prune(synq_docs_t *d)
{
    int64_t now = synq_time_now_us();
    if (now - d->pruned_at < PRUNE_EVERY_US) return;
    d->pruned_at = now;
    int rc = d->store->ops->mutation_prune(d->store, now - d->cfg.mutation_ttl_us);
    if (rc) synq_log(SYNQ_LOG_WARN, "pruning client mutations failed", NULL);
}

int synq_docs_ops(synq_docs_t *d, const synq_docs_write_t *w, const json_t *body, synq_buf_t *out,
                  synq_docs_res_t *res)
{
    memset(res, 0, sizeof *res);
    if (!synq_docs_name_valid(w->collection, w->id))
        return invalid(res,
                       "%s: must be 1-64 (collection) and 1-128 (id) characters of A-Z a-z "
                       "0-9 _ - . :",
                       "id");
    synq_docop_t ops[SYNQ_DOCOPS_MAX];
    size_t n = 0;
    const char *client;
    bool has_mutation;
    int64_t mutation = 0;
    int rc = parse_ops(body, ops, &n, &client, &has_mutation, &mutation, res);
    if (rc) return rc;
    maybe_prune(d);

    json_t *prev[SYNQ_DOCOPS_MAX] = {0};
    bool skip[SYNQ_DOCOPS_MAX] = {0};
    doc_t doc = {0};
    synq_docmerge_t *m = NULL;
    json_t *fields = NULL, *results = NULL, *answer = NULL;
    outcome_t o = {0};

    if (has_mutation) { /* the whole request, once */
        answer = replayed(d, client, mutation, &rc);
        if (rc) goto done;
        if (answer) {
            json_t *v = json_object_get(answer, "version");
            res->version = (uint64_t)json_integer_value(v);
            res->exists = json_is_object(json_object_get(answer, "data"));
            res->duplicate = true;
            goto answer;
        }
    }
    size_t nskip = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].has_mutation) continue;
        prev[i] = replayed(d, client, ops[i].mutation, &rc);
        if (rc) goto done;
        if (prev[i]) skip[i] = true, nskip++;
    }
    rc = load(d, w->collection, w->id, &doc);
    if (rc) goto done;
    if (nskip < n) {
        rc = check_cond(w, &doc, out, res);
        if (rc) goto done;
    }
    rc = synq_docops_apply(doc.data, ops, n, skip, &fields, &results, res->err, sizeof res->err);
    if (rc) goto done;
    if (synq_docmerge_load(doc.data, doc.meta, &m) && (rc = synq_docmerge_load(doc.data, NULL, &m)))
        goto done;
    if (json_object_size(fields) > 0) {
        rc = stamp_for(d, w, m, false, res);
        if (rc) goto done;
        synq_docmerge_patch(m, fields, &res->stamp);
    }
    rc = commit(d, w, &doc, m, res, &o);
    if (rc) goto done;
    for (size_t i = 0; i < n; i++) {
        if (skip[i]) {
            json_array_set(results, i, prev[i]);
        } else if (ops[i].has_mutation) {
            json_t *r = json_array_get(results, i);
            json_object_set_new(r, "mutation", json_integer(ops[i].mutation));
            rc = remember(d, client, ops[i].mutation, r);
            if (rc) goto done;
        }
    }
    answer = write_json(w, res, &o);
    json_object_set(answer, "results", results);
    if (nskip == n) {
        json_object_set_new(answer, "duplicate", json_true());
        res->duplicate = true;
    }
    if (has_mutation) {
        rc = remember(d, client, mutation, answer);
        if (rc) goto done;
    }
answer:
    dump_into(out, answer);
done:
    for (size_t i = 0; i < n; i++)
        json_decref(prev[i]);
    json_decref(fields);
    json_decref(results);
    json_decref(answer);
    json_decref(o.data);
    json_decref(o.changed);
    synq_docmerge_free(m);
    doc_release(&doc);
    return rc;
}

/* ---- the changes feed ---------------------------------------------------- */

typedef struct {
    json_t *changes;
    uint64_t last;
} feed_t;

static int on_change(const synq_doc_row_t *row, void *arg)
{
    feed_t *f = arg;
    json_t *data = row->data ? json_loads(row->data, 0, NULL) : NULL;
    json_t *c = doc_json(row->id, row->version, data);
    json_object_set_new(c, "deleted", json_boolean(data == NULL));
    json_decref(data);
    json_array_append_new(f->changes, c);
    f->last = row->version;
    return 0;
}

int synq_docs_changes(synq_docs_t *d, const char *collection, uint64_t since, int limit,
                      synq_buf_t *out)
{
    if (strlen(collection) > SYNQ_DOCS_COLLECTION_MAX ||
        !synq_id_valid(collection, strlen(collection)))
        return SYNQ_EINVAL;
    if (limit < 1) limit = 1;
    if (limit > SYNQ_DOCS_FEED_MAX) limit = SYNQ_DOCS_FEED_MAX;
    feed_t f = {json_array(), 0};
    int rc = d->store->ops->doc_changes(d->store, collection, since, limit, on_change, &f);
    coll_t *c = rc ? NULL : coll_get(d, collection, &rc);
    if (rc) {
        json_decref(f.changes);
        return rc;
    }
    json_t *a = json_object();
    json_object_set_new(a, "changes", f.changes);
    json_object_set_new(a, "version",
                        json_integer((json_int_t)(json_array_size(f.changes) ? f.last : c->top)));
    dump_into(out, a);
    json_decref(a);
    return 0;
}
