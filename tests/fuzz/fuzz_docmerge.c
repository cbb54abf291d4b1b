/* Fuzz target for core/docmerge: a base document and up to three writes
 * (merge patches, replaces, deletes and intent operations) with stamps
 * taken from the input, applied in every arrival order.
 *
 * Input: lines split at '\n' (compact JSON never holds a raw newline).
 *   line 0  the base data: JSON, empty or "null" = none
 *   line 1  the base meta: JSON, empty or "null" = none (a malformed meta is
 *           replaced by none, as engine/docs.c does)
 *   line 2+ at most MAX_WRITES writes, each four header bytes then JSON:
 *           kind  'p' patch, 'u' put (replace), 'd' delete (JSON ignored),
 *                 'o' ops (a synq_docops_parse array, applied to the base
 *                 document; its changed fields are the write's patch);
 *                 any other byte: that byte % 4 in this order
 *           l     byte % 8, or SYNQ_HLC_L_MAX - byte % 8 when >= 0x80
 *           c     byte % 4, or SYNQ_HLC_C_MAX - byte % 4 when >= 0x80
 *           node  'a' + byte % 26, or "z-" when >= 0x80; then the write's
 *                 index, so two writes never share a stamp (the header's
 *                 rule: equal stamps mean the same write)
 *   e.g. "{\"a\":1}\n\np11a{\"a\":{\"b\":2}}\nd21b\n".
 *
 * Invariants (abort on violation):
 *  load       - data that is not an object (or too deep) is SYNQ_EINVAL;
 *               with no meta the loaded data is the base without nulls;
 *               save -> load -> save gives the same data and meta texts.
 *  writes     - patch/put of a non-object or of objects nested deeper than
 *               256 is SYNQ_EINVAL and changes nothing; the data is always
 *               an object or NULL (deleted), the meta an object or NULL.
 *  idempotent - applying a write again right after it, or all writes again
 *               at the end, changes neither data nor meta.
 *  converge   - every arrival order, with and without a save/load between
 *               writes, ends in the same data and meta texts; with no base
 *               meta that data is RFC 7396 applied in stamp order to the
 *               base (the oracle of tests/unit/test_docmerge.c).
 *  stamps     - max_stamp is the newest of the base's and the writes'.
 *  changed    - synq_docmerge_changed names exactly the differing fields.
 *  ops        - parse errors name "ops..."; apply is all or nothing (on an
 *               error no output and the document untouched; "<field>: "
 *               errors); the batch equals the ops applied one at a time
 *               (same error, or the same results and fields); incr stays in
 *               [min, max] and adds by; add leaves the value in the set,
 *               remove leaves it out, "changed" says whether the set did;
 *               skipped ops give null results and act as if absent. */
#include "core/docmerge.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_INPUT 4096
#define MAX_WRITES 3
#define MAX_NEST 256 /* docmerge.c's MAX_DEPTH: objects a write may nest */
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

typedef enum { W_PATCH, W_PUT, W_DELETE } wkind_t;

typedef struct {
    wkind_t kind;
    json_t *body; /* patch or document (for ops: the changed fields); NULL for delete */
    synq_hlc_ts_t stamp;
} write_t;

/* Canonical text of v ("null" for NULL); free with free(). */
static char *text(const json_t *v)
{
    if (v == NULL) return synq_strdup("null");
    char *t = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK(t != NULL);
    return t;
}

/* ---- snapshots of a state ------------------------------------------------ */

typedef struct {
    char *data, *meta;
} snap_t;

static snap_t snap(const synq_docmerge_t *m)
{
    json_t *d = synq_docmerge_data(m), *mt = synq_docmerge_meta(m);
    CHECK(d == NULL || json_is_object(d));
    CHECK(mt == NULL || json_is_object(mt));
    snap_t s = {text(d), text(mt)};
    json_decref(d);
    json_decref(mt);
    return s;
}

static void snap_free(snap_t *s)
{
    free(s->data);
    free(s->meta);
}

static void same_snap(const char *what, const snap_t *a, const snap_t *b)
{
    if (strcmp(a->data, b->data) == 0 && strcmp(a->meta, b->meta) == 0) return;
    fprintf(stderr, "%s:\n  data %s\n  meta %s\nvs\n  data %s\n  meta %s\n", what, a->data, a->meta,
            b->data, b->meta);
    abort();
}

/* Saves m, frees it and loads the saved form back; the loaded state must
 * save to the same texts. */
static synq_docmerge_t *round_trip(synq_docmerge_t *m)
{
    snap_t before = snap(m);
    json_t *d = synq_docmerge_data(m), *mt = synq_docmerge_meta(m);
    synq_docmerge_free(m);
    synq_docmerge_t *back = NULL;
    CHECK(synq_docmerge_load(d, mt, &back) == 0 && back != NULL);
    snap_t after = snap(back);
    same_snap("save -> load -> save differs", &before, &after);
    snap_free(&before);
    snap_free(&after);
    json_decref(d);
    json_decref(mt);
    return back;
}

/* ---- JSON helpers -------------------------------------------------------- */

/* Objects nested in v, v included (0 for a non-object). */
static int nest(const json_t *v)
{
    if (!json_is_object(v)) return 0;
    int deepest = 0;
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)v, k, kv)
    {
        int d = nest(kv);
        if (d > deepest) deepest = d;
    }
    return deepest + 1;
}

/* A copy of v without null object members (the data never holds them:
 * null is delete). */
static json_t *strip_nulls(const json_t *v)
{
    if (!json_is_object(v)) return json_incref((json_t *)v);
    json_t *out = json_object();
    const char *k;
    json_t *kv;
    json_object_foreach((json_t *)v, k, kv)
    {
        if (!json_is_null(kv)) json_object_set_new(out, k, strip_nulls(kv));
    }
    return out;
}

/* RFC 7396 MergePatch(target, patch), as in its §2 pseudo code. */
static json_t *merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) return json_deep_copy(patch);
    json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (json_is_null(v))
            json_object_del(res, k);
        else
            json_object_set_new(res, k, merge_patch(json_object_get(res, k), v));
    }
    return res;
}

/* ---- writes -------------------------------------------------------------- */

static int apply_write(synq_docmerge_t *m, const write_t *w)
{
    switch (w->kind) {
    case W_PATCH:
        return synq_docmerge_patch(m, w->body, &w->stamp);
    case W_PUT:
        return synq_docmerge_put(m, w->body, &w->stamp);
    case W_DELETE:
        synq_docmerge_delete(m, &w->stamp);
        return 0;
    }
    return -1;
}

/* The document applying base then every write in stamp order gives (the
 * base's implied stamps are the zero stamp, older than every write). */
static char *oracle(const json_t *base, const write_t *w, size_t n)
{
    size_t idx[MAX_WRITES];
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort by stamp */
        for (size_t j = i; j > 0 && synq_hlc_cmp(&w[idx[j - 1]].stamp, &w[idx[j]].stamp) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    json_t *doc = base ? json_deep_copy(base) : NULL;
    for (size_t i = 0; i < n; i++) {
        const write_t *x = &w[idx[i]];
        json_t *empty = json_object();
        json_t *next = x->kind == W_PATCH ? merge_patch(doc ? doc : empty, x->body)
                       : x->kind == W_PUT ? merge_patch(empty, x->body)
                                          : NULL;
        json_decref(empty);
        json_decref(doc);
        doc = next;
    }
    char *t = text(doc);
    json_decref(doc);
    return t;
}

static bool next_perm(size_t *a, size_t n)
{
    if (n < 2) return false;
    size_t i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0) return false;
    size_t j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    size_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (size_t l = i, r = n - 1; l < r; l++, r--)
        t = a[l], a[l] = a[r], a[r] = t;
    return true;
}

/* Applies w in order from the saved base (bd, bm), checking each write is
 * idempotent; returns the final snapshot. */
static snap_t run_order(const json_t *bd, const json_t *bm, const write_t *w, const size_t *order,
                        size_t n, bool trip)
{
    synq_docmerge_t *m = NULL;
    CHECK(synq_docmerge_load(bd, bm, &m) == 0);
    for (size_t i = 0; i < n; i++) {
        const write_t *x = &w[order[i]];
        CHECK(apply_write(m, x) == 0);
        snap_t once = snap(m);
        CHECK(apply_write(m, x) == 0);
        snap_t twice = snap(m);
        same_snap("a write applied twice changed the document", &once, &twice);
        snap_free(&once);
        snap_free(&twice);
        if (trip) m = round_trip(m);
    }
    snap_t end = snap(m);
    for (size_t i = 0; i < n; i++) /* every write again: all replays */
        CHECK(apply_write(m, &w[i]) == 0);
    snap_t again = snap(m);
    same_snap("replaying the writes changed the document", &end, &again);
    snap_free(&again);
    synq_docmerge_free(m);
    return end;
}

/* ---- intent operations --------------------------------------------------- */

static const char *op_name(synq_docop_kind_t k)
{
    return k == SYNQ_DOCOP_INCR ? "incr" : k == SYNQ_DOCOP_ADD ? "add" : "remove";
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

static bool in_array(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (json_equal(e, v)) return true;
    }
    return false;
}

/* An error text names one of the ops' fields: "<field>: problem". */
static void check_op_error(const char *err, const synq_docop_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(ops[i].field);
        if (strncmp(err, ops[i].field, fl) == 0 && strncmp(err + fl, ": ", 2) == 0) return;
    }
    fprintf(stderr, "ops error does not name a field: \"%s\"\n", err);
    abort();
}

/* One op's result r against the field's value before (NULL = absent) and
 * after it. */
static void check_op_result(const synq_docop_t *op, const json_t *r, const json_t *before,
                            const json_t *after)
{
    CHECK(json_is_object(r));
    const json_t *name = json_object_get(r, "op"), *field = json_object_get(r, "field");
    CHECK(json_is_string(name) && strcmp(json_string_value(name), op_name(op->kind)) == 0);
    CHECK(json_is_string(field) && strcmp(json_string_value(field), op->field) == 0);
    CHECK(after != NULL);
    if (op->kind == SYNQ_DOCOP_INCR) {
        const json_t *v = json_object_get(r, "value");
        CHECK(json_is_number(v) && json_equal(v, after));
        if (op->min) CHECK(num_cmp(v, op->min) >= 0);
        if (op->max) CHECK(num_cmp(v, op->max) <= 0);
        json_int_t by_i = op->by ? json_integer_value(op->by) : 1;
        bool ints =
            (before == NULL || json_is_integer(before)) && (!op->by || json_is_integer(op->by));
        if (ints) {
            json_int_t b = before ? json_integer_value(before) : 0;
            CHECK(json_is_integer(v) && json_integer_value(v) - by_i == b);
        } else {
            double b = before ? json_number_value(before) : 0;
            double by = op->by ? json_number_value(op->by) : 1;
            CHECK(json_is_real(v) && json_real_value(v) == b + by);
        }
        return;
    }
    const json_t *changed = json_object_get(r, "changed");
    CHECK(json_is_boolean(changed));
    CHECK(json_is_array(after));
    json_t *empty = json_array();
    CHECK(json_is_true(changed) == !json_equal(before ? before : empty, after));
    json_decref(empty);
    if (op->kind == SYNQ_DOCOP_ADD)
        CHECK(in_array(after, op->value));
    else
        CHECK(!in_array(after, op->value));
}

/* Applies ops to doc and checks the batch against one op at a time.
 * Returns the batch's rc; *fields gets its fields on success. */
static int check_ops(const json_t *doc, const synq_docop_t *ops, size_t n, json_t **fields_out)
{
    json_t *copy = doc ? json_deep_copy(doc) : NULL;
    json_t *fields = NULL, *results = NULL;
    char err[512] = "";
    int rc = synq_docops_apply(doc, ops, n, NULL, &fields, &results, err, sizeof err);
    CHECK(doc == NULL || json_equal(doc, copy)); /* borrowed, not modified */
    if (rc) {
        CHECK(rc == SYNQ_EINVAL || rc == SYNQ_ETOOBIG);
        CHECK(fields == NULL && results == NULL);
        check_op_error(err, ops, n);
    } else {
        CHECK(json_is_object(fields) && json_is_array(results) && json_array_size(results) == n);
    }

    /* the same ops one at a time, each on the fields the ones before left */
    json_t *cur = copy ? json_deep_copy(copy) : json_object();
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        json_t *f1 = NULL, *r1 = NULL;
        char err1[512] = "";
        int rc1 = synq_docops_apply(cur, &ops[i], 1, NULL, &f1, &r1, err1, sizeof err1);
        if (rc1) {
            if (rc != rc1 || strcmp(err, err1) != 0) {
                fprintf(stderr, "ops[%zu] alone: %d \"%s\"; the batch: %d \"%s\"\n", i, rc1, err1,
                        rc, err);
                abort();
            }
            failed = true;
            break;
        }
        CHECK(json_is_array(r1) && json_array_size(r1) == 1);
        if (rc == 0) CHECK(json_equal(json_array_get(r1, 0), json_array_get(results, i)));
        json_t *before = json_object_get(cur, ops[i].field);
        if (before) json_incref(before);
        const char *k;
        json_t *v;
        json_object_foreach(f1, k, v)
        {
            CHECK(strcmp(k, ops[i].field) == 0);
            json_object_set(cur, k, v);
        }
        check_op_result(&ops[i], json_array_get(r1, 0), before, json_object_get(cur, ops[i].field));
        json_decref(before);
        json_decref(f1);
        json_decref(r1);
    }
    CHECK(failed == (rc != 0));
    if (rc == 0) {
        /* fields: exactly the op fields whose final value differs from doc */
        const char *k;
        json_t *v;
        json_object_foreach(fields, k, v)
        {
            CHECK(json_equal(v, json_object_get(cur, k)));
            CHECK(!json_equal(v, json_object_get(copy, k)));
        }
        for (size_t i = 0; i < n; i++) {
            const json_t *now = json_object_get(cur, ops[i].field);
            if (!json_equal(now, json_object_get(copy, ops[i].field)))
                CHECK(json_object_get(fields, ops[i].field) != NULL);
        }
    }
    json_decref(cur);
    json_decref(copy);
    json_decref(results);
    *fields_out = fields;
    return rc;
}

/* Skipped ops act as if absent; their results are null. */
static void check_skip(const json_t *doc, const synq_docop_t *ops, size_t n, uint32_t mask)
{
    bool skip[SYNQ_DOCOPS_MAX];
    synq_docop_t kept[SYNQ_DOCOPS_MAX];
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        skip[i] = (mask >> (i % 32)) & 1;
        if (!skip[i]) kept[nk++] = ops[i];
    }
    json_t *fa = NULL, *ra = NULL, *fb = NULL, *rb = NULL;
    char ea[512] = "", eb[512] = "";
    int a = synq_docops_apply(doc, ops, n, skip, &fa, &ra, ea, sizeof ea);
    int b = synq_docops_apply(doc, kept, nk, NULL, &fb, &rb, eb, sizeof eb);
    CHECK(a == b);
    if (a == 0) {
        CHECK(json_equal(fa, fb));
        CHECK(json_array_size(ra) == n);
        for (size_t i = 0, j = 0; i < n; i++) {
            if (skip[i])
                CHECK(json_is_null(json_array_get(ra, i)));
            else
                CHECK(json_equal(json_array_get(ra, i), json_array_get(rb, j++)));
        }
    } else {
        CHECK(strcmp(ea, eb) == 0);
    }
    json_decref(fa);
    json_decref(ra);
    json_decref(fb);
    json_decref(rb);
}

/* Parses and checks ops; returns the fields they change (the write's
 * patch), or NULL when they fail or change nothing. */
static json_t *ops_write(const json_t *doc, const json_t *arr, uint32_t mask)
{
    synq_docop_t ops[SYNQ_DOCOPS_MAX];
    size_t n = 99;
    char err[512] = "";
    if (synq_docops_parse(arr, ops, &n, err, sizeof err)) {
        CHECK(n == 0 && strncmp(err, "ops", 3) == 0);
        return NULL;
    }
    CHECK(n >= 1 && n <= SYNQ_DOCOPS_MAX && n == json_array_size(arr));
    check_skip(doc, ops, n, mask);
    json_t *fields = NULL;
    if (check_ops(doc, ops, n, &fields) || json_object_size(fields) == 0) {
        json_decref(fields);
        return NULL; /* engine/docs.c writes nothing then */
    }
    return fields;
}

/* ---- the input ------------------------------------------------------------ */

/* Stamps in a meta tree ("a", "o", children in "c"); true when one equals t. */
static bool meta_has_stamp(const json_t *meta, const synq_hlc_ts_t *t)
{
    if (!json_is_object(meta)) return false;
    static const char *const keys[] = {"a", "o"};
    for (int i = 0; i < 2; i++) {
        const json_t *s = json_object_get(meta, keys[i]);
        synq_hlc_ts_t got;
        if (json_is_string(s) &&
            synq_hlc_parse(json_string_value(s), json_string_length(s), &got) == 0 &&
            synq_hlc_cmp(&got, t) == 0)
            return true;
    }
    const char *k;
    json_t *kv;
    json_object_foreach(json_object_get(meta, "c"), k, kv)
    {
        if (meta_has_stamp(kv, t)) return true;
    }
    return false;
}

static synq_hlc_ts_t stamp_from(const uint8_t *h, size_t index)
{
    synq_hlc_ts_t t;
    memset(&t, 0, sizeof t);
    t.l = h[1] >= 0x80 ? SYNQ_HLC_L_MAX - h[1] % 8 : h[1] % 8;
    t.c = h[2] >= 0x80 ? SYNQ_HLC_C_MAX - h[2] % 4 : h[2] % 4;
    if (h[3] >= 0x80)
        snprintf(t.node, sizeof t.node, "z-%zu", index);
    else
        snprintf(t.node, sizeof t.node, "%c%zu", 'a' + h[3] % 26, index);
    CHECK(synq_hlc_node_valid(t.node));
    return t;
}

/* Parses a line: empty or "null" gives NULL with *ok true; bad JSON gives
 * *ok false. */
static json_t *parse_line(const uint8_t *s, size_t len, bool *ok)
{
    *ok = true;
    if (len == 0) return NULL;
    json_error_t e;
    json_t *v = json_loadb((const char *)s, len, LOAD_FLAGS, &e);
    if (v == NULL) *ok = false;
    if (json_is_null(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

static void check_changed(const json_t *before, const json_t *after)
{
    json_t *ch = synq_docmerge_changed(before, after);
    CHECK(json_is_object(ch));
    const char *k;
    json_t *v;
    json_object_foreach(ch, k, v)
    {
        const json_t *b = json_object_get(before, k), *a = json_object_get(after, k);
        CHECK(!json_equal(b, a) && (b || a));
        CHECK(a ? json_equal(v, a) : json_is_null(v));
    }
    json_object_foreach((json_t *)before, k, v)
    {
        if (!json_equal(v, json_object_get(after, k))) CHECK(json_object_get(ch, k) != NULL);
    }
    json_object_foreach((json_t *)after, k, v)
    {
        if (!json_equal(v, json_object_get(before, k))) CHECK(json_object_get(ch, k) != NULL);
    }
    json_decref(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    const uint8_t *line[2 + MAX_WRITES];
    size_t len[2 + MAX_WRITES], nlines = 0, start = 0;
    for (size_t i = 0; i <= size && nlines < 2 + MAX_WRITES; i++) {
        if (i == size || data[i] == '\n') {
            line[nlines] = data + start;
            len[nlines++] = i - start;
            start = i + 1;
        }
    }
    bool ok;
    json_t *base = parse_line(line[0], len[0], &ok);
    if (!ok) return 0;
    json_t *meta = nlines > 1 ? parse_line(line[1], len[1], &ok) : NULL;
    write_t w[MAX_WRITES];
    size_t nw = 0;
    synq_docmerge_t *m = NULL, *scratch = NULL;
    json_t *bd = NULL, *bm = NULL, *stripped = NULL;
    snap_t first = {NULL, NULL};
    if (!ok) goto done;

    /* load as engine/docs.c does: a malformed meta is dropped */
    int rc = synq_docmerge_load(base, meta, &m);
    if (rc) {
        CHECK(rc == SYNQ_EINVAL && m == NULL);
        json_decref(meta);
        meta = NULL;
        rc = synq_docmerge_load(base, NULL, &m);
        if (rc) {
            CHECK(rc == SYNQ_EINVAL && m == NULL);
            CHECK(!json_is_object(base) || nest(base) > MAX_NEST);
            goto done;
        }
    }
    CHECK(base == NULL || json_is_object(base));
    stripped = base ? strip_nulls(base) : NULL;
    m = round_trip(m);
    bd = synq_docmerge_data(m);
    bm = synq_docmerge_meta(m);
    if (meta == NULL) CHECK(base == NULL ? bd == NULL : json_equal(bd, stripped));
    synq_hlc_ts_t newest;
    bool has_newest = synq_docmerge_max_stamp(m, &newest);
    check_changed(bd, bd);

    /* the writes; ones the merge refuses are checked and left out */
    for (size_t i = 2; i < nlines; i++) {
        if (len[i] < 4) continue;
        const uint8_t *h = line[i];
        write_t x = {W_PATCH, NULL, stamp_from(h, i - 2)};
        json_t *body = parse_line(h + 4, len[i] - 4, &ok);
        if (!ok) continue;
        int kind = h[0] == 'p' ? 0 : h[0] == 'u' ? 1 : h[0] == 'd' ? 2 : h[0] == 'o' ? 3 : h[0] % 4;
        if (kind == 3) {
            uint32_t mask = (uint32_t)h[1] * 0x9E3779B1u ^ (uint32_t)h[3] << 7;
            x.body = ops_write(bd, body, mask);
            json_decref(body);
            if (x.body == NULL) continue;
        } else {
            x.kind = kind == 0 ? W_PATCH : kind == 1 ? W_PUT : W_DELETE;
            if (x.kind == W_DELETE)
                json_decref(body);
            else
                x.body = body;
        }
        if (meta && meta_has_stamp(bm, &x.stamp)) { /* one stamp, two writes: not allowed */
            json_decref(x.body);
            continue;
        }
        if (x.kind != W_DELETE) {
            /* the merge's own refusals: nothing changes */
            CHECK(synq_docmerge_load(bd, bm, &scratch) == 0);
            snap_t before = snap(scratch);
            rc = apply_write(scratch, &x);
            snap_t after = snap(scratch);
            synq_docmerge_free(scratch);
            scratch = NULL;
            bool bad = !json_is_object(x.body) || nest(x.body) > MAX_NEST;
            CHECK(bad ? rc == SYNQ_EINVAL : rc == 0);
            if (rc) same_snap("a refused write changed the document", &before, &after);
            snap_free(&before);
            snap_free(&after);
            if (rc) {
                json_decref(x.body);
                continue;
            }
        }
        w[nw++] = x;
    }

    /* every arrival order converges */
    size_t order[MAX_WRITES];
    for (size_t i = 0; i < nw; i++)
        order[i] = i;
    do {
        for (int trip = 0; trip < 2; trip++) {
            snap_t s = run_order(bd, bm, w, order, nw, trip);
            if (first.data == NULL) {
                first = s;
                continue;
            }
            same_snap("arrival orders differ", &first, &s);
            snap_free(&s);
        }
    } while (next_perm(order, nw));

    if (meta == NULL) {
        char *want = oracle(stripped, w, nw);
        if (strcmp(want, first.data) != 0) {
            fprintf(stderr, "merged %s, RFC 7396 in stamp order gives %s\n", first.data, want);
            abort();
        }
        free(want);
    }

    /* the newest stamp survives */
    for (size_t i = 0; i < nw; i++)
        if (!has_newest || synq_hlc_cmp(&w[i].stamp, &newest) > 0) {
            newest = w[i].stamp;
            has_newest = true;
        }
    CHECK(synq_docmerge_load(bd, bm, &scratch) == 0);
    for (size_t i = 0; i < nw; i++)
        CHECK(apply_write(scratch, &w[i]) == 0);
    synq_hlc_ts_t got;
    CHECK(synq_docmerge_max_stamp(scratch, &got) == has_newest);
    if (has_newest) CHECK(synq_hlc_cmp(&got, &newest) == 0);
    json_t *final = synq_docmerge_data(scratch);
    check_changed(bd, final);
    json_decref(final);
    synq_docmerge_free(scratch);

done:
    snap_free(&first);
    for (size_t i = 0; i < nw; i++)
        json_decref(w[i].body);
    json_decref(bd);
    json_decref(bm);
    json_decref(stripped);
    synq_docmerge_free(m);
    json_decref(base);
    json_decref(meta);
    return 0;
}
