/* LWW merge patches on an in-memory tree that holds, per path, the
 * stamps of the newest assignment and ensure and (for a visible leaf) its
 * value; loaded from (data, meta), written back to (data, meta). Intent
 * operations on top-level fields. See the header for the model. */
#include "core/docmerge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node_s node_t;
typedef struct kid_s {
    char *name;
    node_t *node;
} kid_t;
struct node_s {
    bool has_a, has_o;
    synq_hlc_ts_t a; /* newest assignment at this path */
    synq_hlc_ts_t o; /* newest "ensure object" at this path */
    json_t *leaf;    /* the value assigned at a when not null (a leaf: never an object) */
    kid_t *kids;     /* children, sorted by name (strcmp) */
    size_t n, cap;
};

struct synq_docmerge_s {
    node_t root;
};

static const synq_hlc_ts_t zero_ts;

/* ---- the tree ------------------------------------------------------------ */

static void node_release(node_t *n);

static void kid_free(kid_t *k)
{
    node_release(k->node);
    free(k->node);
    free(k->name);
}

static void node_release(node_t *n)
{
    for (size_t i = 0; i < n->n; i++)
        kid_free(&n->kids[i]);
    free(n->kids);
    json_decref(n->leaf);
    memset(n, 0, sizeof *n);
}

/* Binary search: the index of name, or where it would go (*found false). */
static size_t find(const node_t *n, const char *name, bool *found)
{
    size_t lo = 0, hi = n->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(n->kids[mid].name, name);
        if (r == 0) {
            *found = true;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void grow(node_t *n)
{
    if (n->n < n->cap) return;
    n->cap = n->cap ? n->cap * 2 : 4;
    n->kids = synq_realloc(n->kids, n->cap * sizeof *n->kids);
}

static node_t *child(node_t *n, const char *name, bool create)
{
    bool found;
    size_t i = find(n, name, &found);
    if (found) return n->kids[i].node;
    if (!create) return NULL;
    grow(n);
    memmove(n->kids + i + 1, n->kids + i, (n->n - i) * sizeof *n->kids);
    n->kids[i] = (kid_t){synq_strdup(name), synq_calloc(1, sizeof(node_t))};
    n->n++;
    return n->kids[i].node;
}

static bool node_empty(const node_t *n)
{
    return !n->has_a && !n->has_o && n->n == 0;
}

/* Removes children that record nothing (left by dropped writes). */
static void compact(node_t *n)
{
    size_t w = 0;
    for (size_t i = 0; i < n->n; i++) {
        compact(n->kids[i].node);
        if (node_empty(n->kids[i].node))
            kid_free(&n->kids[i]);
        else
            n->kids[w++] = n->kids[i];
    }
    n->n = w;
}

static int ts_cmp(const synq_hlc_ts_t *a, const synq_hlc_ts_t *b)
{
    return synq_hlc_cmp(a, b);
}

static void set_leaf(node_t *n, const json_t *v)
{
    json_decref(n->leaf);
    n->leaf = (v && !json_is_null(v)) ? json_incref((json_t *)v) : NULL;
}

/* Forgets everything in n's subtree (n included) older than s. */
static void prune(node_t *n, const synq_hlc_ts_t *s)
{
    if (n->has_a && ts_cmp(&n->a, s) < 0) {
        n->has_a = false;
        set_leaf(n, NULL);
    }
    if (n->has_o && ts_cmp(&n->o, s) < 0) n->has_o = false;
    for (size_t i = 0; i < n->n; i++)
        prune(n->kids[i].node, s);
}

static void take_max(synq_hlc_ts_t *max, bool *has_max, const synq_hlc_ts_t *t)
{
    if (!*has_max || ts_cmp(t, max) > 0) {
        *max = *t;
        *has_max = true;
    }
}

/* The value at n: a new reference, or NULL when absent. *max gets the
 * newest stamp in n's subtree, n included (*has_max false when none). */
static json_t *node_value(const node_t *n, synq_hlc_ts_t *max, bool *has_max)
{
    synq_hlc_ts_t below = zero_ts;
    bool has_below = false;
    json_t *obj = NULL;
    for (size_t i = 0; i < n->n; i++) {
        synq_hlc_ts_t km;
        bool kh;
        json_t *v = node_value(n->kids[i].node, &km, &kh);
        if (kh) take_max(&below, &has_below, &km);
        if (v == NULL) continue;
        if (obj == NULL) obj = json_object();
        json_object_set_new(obj, n->kids[i].name, v);
    }
    *has_max = has_below;
    *max = below;
    if (n->has_o) take_max(max, has_max, &n->o);
    if (n->has_a) take_max(max, has_max, &n->a);
    /* the newest assignment shows when newer than the ensure and everything
     * below; else the node is an object (RFC 7396 made it one) */
    if (n->has_a && (!n->has_o || ts_cmp(&n->a, &n->o) > 0) &&
        (!has_below || ts_cmp(&n->a, &below) > 0)) {
        json_decref(obj);
        return n->leaf ? json_incref(n->leaf) : NULL;
    }
    if (obj == NULL && (n->has_o || n->n > 0)) obj = json_object();
    return obj;
}

/* ---- writes -------------------------------------------------------------- */

/* Walks to path[0..depth) from root, creating nodes; NULL when an
 * assignment at a strict ancestor is newer than s (the write is dropped). */
static node_t *walk(node_t *root, const char *const *path, size_t depth, const synq_hlc_ts_t *s)
{
    node_t *n = root;
    for (size_t i = 0; i < depth; i++) {
        if (n->has_a && ts_cmp(&n->a, s) > 0) return NULL;
        n = child(n, path[i], true);
    }
    if (n->has_a && ts_cmp(&n->a, s) > 0) return NULL;
    return n;
}

/* Assignment of v (NULL or json null = delete) at path at stamp s. */
static void assign(node_t *root, const char *const *path, size_t depth, const json_t *v,
                   const synq_hlc_ts_t *s)
{
    node_t *n = walk(root, path, depth, s);
    if (n == NULL || (n->has_a && ts_cmp(&n->a, s) >= 0)) return; /* newer, or a replay */
    n->has_a = true;
    n->a = *s;
    set_leaf(n, v);
    if (n->has_o && ts_cmp(&n->o, s) < 0) n->has_o = false;
    for (size_t i = 0; i < n->n; i++)
        prune(n->kids[i].node, s);
}

/* "Ensure object" at path at stamp s (an empty object in a patch). */
static void ensure(node_t *root, const char *const *path, size_t depth, const synq_hlc_ts_t *s)
{
    node_t *n = walk(root, path, depth, s);
    if (n == NULL || (n->has_o && ts_cmp(&n->o, s) >= 0)) return;
    n->has_o = true;
    n->o = *s;
}

#define MAX_DEPTH 256

/* Applies the members of patch (an object) under path[0..depth). */
static void patch_into(node_t *root, const char **path, size_t depth, const json_t *patch,
                       const synq_hlc_ts_t *s)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        path[depth] = k;
        if (!json_is_object(v))
            assign(root, path, depth + 1, v, s);
        else if (json_object_size(v) == 0)
            ensure(root, path, depth + 1, s);
        else
            patch_into(root, path, depth + 1, v, s);
    }
}

/* True when v nests no deeper than MAX_DEPTH objects. */
static bool depth_ok(const json_t *v, int depth)
{
    if (!json_is_object(v)) return true;
    if (depth >= MAX_DEPTH) return false;
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)v, k, kv)
    {
        if (!depth_ok(kv, depth + 1)) return false;
    }
    return true;
}

int synq_docmerge_patch(synq_docmerge_t *m, const json_t *patch, const synq_hlc_ts_t *stamp)
{
    if (!json_is_object(patch) || !depth_ok(patch, 0)) return SYNQ_EINVAL;
    const char *path[MAX_DEPTH];
    if (json_object_size(patch) == 0)
        ensure(&m->root, NULL, 0, stamp);
    else
        patch_into(&m->root, path, 0, patch, stamp);
    compact(&m->root);
    return 0;
}

int synq_docmerge_put(synq_docmerge_t *m, const json_t *data, const synq_hlc_ts_t *stamp)
{
    if (!json_is_object(data) || !depth_ok(data, 0)) return SYNQ_EINVAL;
    assign(&m->root, NULL, 0, NULL, stamp);
    return synq_docmerge_patch(m, data, stamp);
}

void synq_docmerge_delete(synq_docmerge_t *m, const synq_hlc_ts_t *stamp)
{
    assign(&m->root, NULL, 0, NULL, stamp);
    compact(&m->root);
}

/* ---- load and save ------------------------------------------------------- */

static int stamp_of(const json_t *meta, const char *key, bool *has, synq_hlc_ts_t *out)
{
    json_t *v = json_object_get(meta, key);
    if (v == NULL) return 0;
    if (!json_is_string(v) || synq_hlc_parse(json_string_value(v), json_string_length(v), out))
        return SYNQ_EINVAL;
    *has = true;
    return 0;
}

static int kid_cmp(const void *x, const void *y)
{
    return strcmp(((const kid_t *)x)->name, ((const kid_t *)y)->name);
}

/* Builds n from the value at its path (NULL = absent) and its meta node
 * (NULL = none), restoring the stamps the meta leaves out (see the
 * header). inherited: the nearest ancestor's assignment stamp or NULL. */
static int build(node_t *n, const json_t *v, const json_t *meta, const synq_hlc_ts_t *inherited,
                 int depth)
{
    if (depth > MAX_DEPTH || (meta && !json_is_object(meta))) return SYNQ_EINVAL;
    if (stamp_of(meta, "a", &n->has_a, &n->a) || stamp_of(meta, "o", &n->has_o, &n->o))
        return SYNQ_EINVAL;
    const json_t *c = json_object_get(meta, "c");
    if (c && !json_is_object(c)) return SYNQ_EINVAL;
    if (v && !json_is_object(v)) {
        if (!n->has_a) {
            n->has_a = true;
            n->a = inherited ? *inherited : zero_ts;
        }
        set_leaf(n, v);
    } else if (v && json_object_size(v) == 0 && json_object_size(c) == 0 && !n->has_o) {
        n->has_o = true;
        n->o = n->has_a ? n->a : inherited ? *inherited : zero_ts;
    }
    const char *k;
    json_t *kv;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, kv)
        {
            grow(n);
            n->kids[n->n++] = (kid_t){synq_strdup(k), synq_calloc(1, sizeof(node_t))};
        }
        if (n->n > 1) qsort(n->kids, n->n, sizeof *n->kids, kid_cmp);
    }
    json_object_foreach((json_t *)c, k, kv)
    {
        child(n, k, true);
    }
    const synq_hlc_ts_t *inh = n->has_a ? &n->a : inherited;
    for (size_t i = 0; i < n->n; i++) {
        const char *name = n->kids[i].name;
        int rc = build(n->kids[i].node, json_is_object(v) ? json_object_get(v, name) : NULL,
                       json_object_get(c, name), inh, depth + 1);
        if (rc) return rc;
    }
    return 0;
}

int synq_docmerge_load(const json_t *data, const json_t *meta, synq_docmerge_t **out)
{
    *out = NULL;
    if (data && !json_is_object(data)) return SYNQ_EINVAL;
    synq_docmerge_t *m = synq_calloc(1, sizeof *m);
    int rc = build(&m->root, data, meta, NULL, 0);
    if (rc) {
        synq_docmerge_free(m);
        return rc;
    }
    compact(&m->root);
    *out = m;
    return 0;
}

void synq_docmerge_free(synq_docmerge_t *m)
{
    if (m == NULL) return;
    node_release(&m->root);
    free(m);
}

json_t *synq_docmerge_data(const synq_docmerge_t *m)
{
    synq_hlc_ts_t max;
    bool has;
    json_t *v = node_value(&m->root, &max, &has);
    if (v && !json_is_object(v)) { /* cannot happen: root writes are objects or null */
        json_decref(v);
        v = NULL;
    }
    return v;
}

static void put_stamp(json_t *obj, const char *key, const synq_hlc_ts_t *t)
{
    char text[SYNQ_HLC_TEXT_MAX];
    size_t n = synq_hlc_format(t, text);
    json_object_set_new(obj, key, json_stringn(text, n));
}

/* The meta of n's subtree (new reference, or NULL when it records nothing
 * the data does not imply). inherited: as for build. */
static json_t *save(const node_t *n, const synq_hlc_ts_t *inherited)
{
    const synq_hlc_ts_t *inh = n->has_a ? &n->a : inherited;
    json_t *kids = NULL;
    for (size_t i = 0; i < n->n; i++) {
        json_t *km = save(n->kids[i].node, inh);
        if (km == NULL) continue;
        if (kids == NULL) kids = json_object();
        json_object_set_new(kids, n->kids[i].name, km);
    }
    synq_hlc_ts_t max;
    bool has;
    json_t *v = node_value(n, &max, &has);
    json_t *meta = json_object();
    /* The zero stamp (data loaded without meta) has no text form (its node
     * is empty) and is never written: load gives it back to a leaf and to a
     * bare empty object, and elsewhere every write is newer, so it decides
     * nothing. */
    bool leaf_shows = v && !json_is_object(v);
    if (n->has_a && ts_cmp(&n->a, &zero_ts) != 0 &&
        !(leaf_shows && inherited && ts_cmp(&n->a, inherited) == 0))
        put_stamp(meta, "a", &n->a);
    bool bare_empty = json_is_object(v) && json_object_size(v) == 0 && kids == NULL;
    if (n->has_o && ts_cmp(&n->o, &zero_ts) != 0 && !(bare_empty && inh && ts_cmp(&n->o, inh) == 0))
        put_stamp(meta, "o", &n->o);
    json_decref(v);
    if (kids) json_object_set_new(meta, "c", kids);
    if (json_object_size(meta) == 0) {
        json_decref(meta);
        return NULL;
    }
    return meta;
}

json_t *synq_docmerge_meta(const synq_docmerge_t *m)
{
    return save(&m->root, NULL);
}

static void max_stamp(const node_t *n, synq_hlc_ts_t *max, bool *has)
{
    if (n->has_a) take_max(max, has, &n->a);
    if (n->has_o) take_max(max, has, &n->o);
    for (size_t i = 0; i < n->n; i++)
        max_stamp(n->kids[i].node, max, has);
}

bool synq_docmerge_max_stamp(const synq_docmerge_t *m, synq_hlc_ts_t *out)
{
    bool has = false;
    *out = zero_ts;
    max_stamp(&m->root, out, &has);
    return has;
}

json_t *synq_docmerge_changed(const json_t *before, const json_t *after)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)before, k, v)
    {
        json_t *nv = json_object_get(after, k);
        if (nv == NULL)
            json_object_set_new(out, k, json_null());
        else if (!json_equal(v, nv))
            json_object_set(out, k, nv);
    }
    json_object_foreach((json_t *)after, k, v)
    {
        if (json_object_get(before, k) == NULL) json_object_set(out, k, v);
    }
    return out;
}

/* ---- intent operations --------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

int synq_docops_parse(const json_t *ops, synq_docop_t *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (!json_is_array(ops) || json_array_size(ops) == 0 ||
        json_array_size(ops) > SYNQ_DOCOPS_MAX) {
        snprintf(err, errlen, "ops: must be an array of 1 to %d operations", SYNQ_DOCOPS_MAX);
        return SYNQ_EINVAL;
    }
    size_t i;
    json_t *o;
    json_array_foreach(ops, i, o)
    {
        synq_docop_t *op = &out[i];
        memset(op, 0, sizeof *op);
        if (!json_is_object(o)) {
            snprintf(err, errlen, "ops[%zu]: must be an object", i);
            return SYNQ_EINVAL;
        }
        const char *name = json_string_value(json_object_get(o, "op"));
        if (name && strcmp(name, "incr") == 0)
            op->kind = SYNQ_DOCOP_INCR;
        else if (name && strcmp(name, "add") == 0)
            op->kind = SYNQ_DOCOP_ADD;
        else if (name && strcmp(name, "remove") == 0)
            op->kind = SYNQ_DOCOP_REMOVE;
        else {
            snprintf(err, errlen, "ops[%zu].op: must be \"incr\", \"add\" or \"remove\"", i);
            return SYNQ_EINVAL;
        }
        json_t *f = json_object_get(o, "field");
        if (!json_is_string(f) || json_string_length(f) == 0 ||
            json_string_length(f) > SYNQ_DOCOPS_FIELD_MAX ||
            strlen(json_string_value(f)) != json_string_length(f)) {
            snprintf(err, errlen, "ops[%zu].field: must be a field name of 1 to %d bytes", i,
                     SYNQ_DOCOPS_FIELD_MAX);
            return SYNQ_EINVAL;
        }
        op->field = json_string_value(f);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            bool num = strcmp(k, "by") == 0 || strcmp(k, "min") == 0 || strcmp(k, "max") == 0;
            if (strcmp(k, "op") == 0 || strcmp(k, "field") == 0) continue;
            if (num && op->kind == SYNQ_DOCOP_INCR) {
                if (!json_is_number(v)) {
                    snprintf(err, errlen, "ops[%zu].%s: must be a number", i, k);
                    return SYNQ_EINVAL;
                }
                if (k[0] == 'b')
                    op->by = v;
                else if (k[1] == 'i')
                    op->min = v;
                else
                    op->max = v;
            } else if (strcmp(k, "value") == 0 && op->kind != SYNQ_DOCOP_INCR) {
                op->value = v;
            } else if (strcmp(k, "mutation") == 0) {
                if (!json_is_integer(v) || json_integer_value(v) < 0) {
                    snprintf(err, errlen, "ops[%zu].mutation: must be a non-negative integer", i);
                    return SYNQ_EINVAL;
                }
                op->has_mutation = true;
                op->mutation = json_integer_value(v);
            } else {
                snprintf(err, errlen, "ops[%zu].%s: unknown for \"%s\"", i, k, name);
                return SYNQ_EINVAL;
            }
        }
        if (op->kind != SYNQ_DOCOP_INCR && op->value == NULL) {
            snprintf(err, errlen, "ops[%zu].value: required", i);
            return SYNQ_EINVAL;
        }
        if (op->min && op->max && json_number_value(op->min) > json_number_value(op->max)) {
            snprintf(err, errlen, "ops[%zu].min: greater than max", i);
            return SYNQ_EINVAL;
        }
    }
    *n = json_array_size(ops);
    return 0;
}

/* Compares two numbers: exactly when both are integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

/* field += by; a new number, or NULL and err. */
static json_t *incr(const synq_docop_t *op, const json_t *cur, char *err, size_t errlen, int *rc)
{
    json_t *one = json_integer(1);
    const json_t *by = op->by ? op->by : one;
    json_t *r = NULL;
    if (json_is_integer(cur) && json_is_integer(by)) {
        long long s;
        if (__builtin_add_overflow((long long)json_integer_value(cur),
                                   (long long)json_integer_value(by), &s)) {
            snprintf(err, errlen, "%s: the result overflows", op->field);
            *rc = SYNQ_EINVAL;
        } else {
            r = json_integer(s);
        }
    } else {
        double s = json_number_value(cur) + json_number_value(by);
        if (!isfinite(s)) {
            snprintf(err, errlen, "%s: the result overflows", op->field);
            *rc = SYNQ_EINVAL;
        } else {
            r = json_real(s);
        }
    }
    json_decref(one);
    if (r && op->min && num_cmp(r, op->min) < 0) {
        char *t = json_dumps(op->min, JSON_ENCODE_ANY);
        snprintf(err, errlen, "%s: would go below min %s", op->field, t ? t : "?");
        free(t);
        *rc = SYNQ_ETOOBIG;
    } else if (r && op->max && num_cmp(r, op->max) > 0) {
        char *t = json_dumps(op->max, JSON_ENCODE_ANY);
        snprintf(err, errlen, "%s: would go above max %s", op->field, t ? t : "?");
        free(t);
        *rc = SYNQ_ETOOBIG;
    }
    if (*rc) {
        json_decref(r);
        return NULL;
    }
    return r;
}

int synq_docops_apply(const json_t *doc, const synq_docop_t *ops, size_t n, const bool *skip,
                      json_t **fields, json_t **results, char *err, size_t errlen)
{
    *fields = NULL;
    *results = NULL;
    json_t *work = json_object(); /* field -> value after the ops so far */
    json_t *res = json_array();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const synq_docop_t *op = &ops[i];
        if (skip && skip[i]) {
            json_array_append_new(res, json_null());
            continue;
        }
        json_t *cur = json_object_get(work, op->field);
        if (cur == NULL) cur = json_object_get(doc, op->field);
        json_t *r = json_object();
        json_object_set_new(r, "op",
                            json_string(op->kind == SYNQ_DOCOP_INCR  ? "incr"
                                        : op->kind == SYNQ_DOCOP_ADD ? "add"
                                                                     : "remove"));
        json_object_set_new(r, "field", json_string(op->field));
        if (op->kind == SYNQ_DOCOP_INCR) {
            json_t *zero = json_integer(0);
            json_t *nv = NULL;
            if (cur && !json_is_number(cur)) {
                snprintf(err, errlen, "%s: holds %s, not a number", op->field, type_name(cur));
                rc = SYNQ_EINVAL;
            } else {
                nv = incr(op, cur ? cur : zero, err, errlen, &rc);
            }
            json_decref(zero);
            if (nv) {
                json_object_set(r, "value", nv);
                json_object_set_new(work, op->field, nv);
            }
        } else if (cur && !json_is_array(cur)) {
            snprintf(err, errlen, "%s: holds %s, not an array (a set)", op->field, type_name(cur));
            rc = SYNQ_EINVAL;
        } else {
            json_t *set = cur ? json_copy(cur) : json_array(); /* shallow: elements shared */
            bool changed = false;
            size_t j = 0;
            while (j < json_array_size(set)) {
                if (json_equal(json_array_get(set, j), op->value)) {
                    changed = op->kind == SYNQ_DOCOP_REMOVE;
                    if (op->kind == SYNQ_DOCOP_ADD) break;
                    json_array_remove(set, j);
                    continue;
                }
                j++;
            }
            if (op->kind == SYNQ_DOCOP_ADD && j == json_array_size(set)) {
                json_array_append(set, (json_t *)op->value);
                changed = true;
            }
            json_object_set_new(r, "changed", json_boolean(changed));
            json_object_set_new(work, op->field, set);
        }
        json_array_append_new(res, r);
    }
    if (rc) {
        json_decref(work);
        json_decref(res);
        return rc;
    }
    /* only what differs from the document goes into the patch */
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(work, k, v)
    {
        json_t *old = json_object_get(doc, k);
        if (old == NULL || !json_equal(old, v)) json_object_set(out, k, v);
    }
    json_decref(work);
    *fields = out;
    *results = res;
    return 0;
}
