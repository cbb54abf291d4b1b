/* Unit tests for core/docmerge. Convergence: for sets of concurrent writes
 * (different fields, one field, nested against parent, replace and delete
 * among patches, empty objects) every arrival order — with the state saved
 * to (data, meta) and loaded back between writes, as the store does — ends
 * in the same data and meta, and the data is what applying the writes in
 * stamp order with plain RFC 7396 gives (the oracle). Fixed cases check
 * every permutation; random sets check many. Also: meta compression, load
 * errors, replays, changed fields, and the intent operations. */
#include "core/docmerge.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (v == NULL) fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

/* Canonical text of v ("null" for NULL); caller frees. */
static char *text(const json_t *v)
{
    if (v == NULL) return strdup("null");
    return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

static synq_hlc_ts_t ts(int64_t l, uint32_t c, const char *node)
{
    synq_hlc_ts_t t;
    memset(&t, 0, sizeof t);
    t.l = l;
    t.c = c;
    snprintf(t.node, sizeof t.node, "%s", node);
    return t;
}

static void assert_json(const json_t *v, const char *want)
{
    char *got = text(v);
    json_t *w = J(want);
    char *wt = text(json_is_null(w) ? NULL : w);
    if (strcmp(got, wt) != 0) fail_msg("got %s, want %s", got, wt);
    free(got);
    free(wt);
    json_decref(w);
}

/* ---- writes and the oracle ------------------------------------------------ */

typedef enum { W_PATCH, W_PUT, W_DELETE } wkind_t;

typedef struct {
    wkind_t kind;
    json_t *body; /* patch or document; NULL for delete */
    synq_hlc_ts_t stamp;
} write_t;

static void apply_write(synq_docmerge_t *m, const write_t *w)
{
    switch (w->kind) {
    case W_PATCH:
        assert_int_equal(synq_docmerge_patch(m, w->body, &w->stamp), 0);
        break;
    case W_PUT:
        assert_int_equal(synq_docmerge_put(m, w->body, &w->stamp), 0);
        break;
    case W_DELETE:
        synq_docmerge_delete(m, &w->stamp);
        break;
    }
}

/* Saves to (data, meta) and loads back, as a store round trip does. */
static synq_docmerge_t *round_trip(synq_docmerge_t *m)
{
    json_t *data = synq_docmerge_data(m);
    json_t *meta = synq_docmerge_meta(m);
    synq_docmerge_free(m);
    synq_docmerge_t *back;
    assert_int_equal(synq_docmerge_load(data, meta, &back), 0);
    /* the loaded state saves to the same texts */
    json_t *d2 = synq_docmerge_data(back), *m2 = synq_docmerge_meta(back);
    char *a = text(data), *b = text(d2), *c = text(meta), *d = text(m2);
    if (strcmp(a, b) || strcmp(c, d)) fail_msg("round trip: %s %s -> %s %s", a, c, b, d);
    free(a), free(b), free(c), free(d);
    json_decref(data), json_decref(meta), json_decref(d2), json_decref(m2);
    return back;
}

/* Applies writes in the given order from an empty document; returns the
 * canonical data and meta texts (caller frees). */
static void run_order(const write_t *w, const size_t *order, size_t n, bool trip, char **data,
                      char **meta)
{
    synq_docmerge_t *m;
    assert_int_equal(synq_docmerge_load(NULL, NULL, &m), 0);
    for (size_t i = 0; i < n; i++) {
        apply_write(m, &w[order[i]]);
        if (trip) m = round_trip(m);
    }
    json_t *d = synq_docmerge_data(m), *mt = synq_docmerge_meta(m);
    *data = text(d);
    *meta = text(mt);
    json_decref(d);
    json_decref(mt);
    synq_docmerge_free(m);
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

/* The document applying every write in stamp order gives. */
static char *oracle(const write_t *w, size_t n)
{
    size_t idx[16];
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort by stamp */
        for (size_t j = i; j > 0 && synq_hlc_cmp(&w[idx[j - 1]].stamp, &w[idx[j]].stamp) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    json_t *doc = NULL;
    for (size_t i = 0; i < n; i++) {
        const write_t *x = &w[idx[i]];
        /* a patch on no document patches {}; a put is a patch of {} (so
         * null members are absent, as RFC 7396 has it) */
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

/* Every permutation converges to the oracle's data and to one meta.
 * Returns how many orders were checked. */
static size_t check_all_orders(const write_t *w, size_t n, const char *want)
{
    char *want_data = oracle(w, n);
    if (want) {
        json_t *wj = J(want);
        char *wt = text(json_is_null(wj) ? NULL : wj);
        if (strcmp(wt, want_data)) fail_msg("oracle %s, test expects %s", want_data, wt);
        free(wt);
        json_decref(wj);
    }
    size_t order[16];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    char *first_meta = NULL;
    size_t count = 0;
    do {
        for (int trip = 0; trip < 2; trip++) {
            char *data, *meta;
            run_order(w, order, n, trip, &data, &meta);
            if (strcmp(data, want_data)) {
                char o[64] = "";
                for (size_t i = 0; i < n; i++)
                    snprintf(o + strlen(o), sizeof o - strlen(o), "%zu ", order[i]);
                fail_msg("order %s(trip %d): data %s, want %s", o, trip, data, want_data);
            }
            if (first_meta == NULL)
                first_meta = strdup(meta);
            else if (strcmp(meta, first_meta))
                fail_msg("meta differs by order: %s vs %s", meta, first_meta);
            free(data);
            free(meta);
        }
        count++;
    } while (next_perm(order, n));
    free(first_meta);
    free(want_data);
    return count;
}

static write_t P(const char *body, int64_t l, const char *node)
{
    return (write_t){W_PATCH, J(body), ts(l, 0, node)};
}
static write_t PUT(const char *body, int64_t l)
{
    return (write_t){W_PUT, J(body), ts(l, 0, "srv")};
}
static write_t DEL(int64_t l)
{
    return (write_t){W_DELETE, NULL, ts(l, 0, "srv")};
}
static void free_writes(write_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(w[i].body);
}

/* ---- convergence --------------------------------------------------------- */

static void test_different_fields(void **state)
{
    write_t w[] = {P("{\"a\":1}", 10, "c1"), P("{\"b\":2}", 10, "c2"),
                   P("{\"c\":{\"d\":3}}", 9, "c3")};
    assert_int_equal(check_all_orders(w, 3, "{\"a\":1,\"b\":2,\"c\":{\"d\":3}}"), 6);
    free_writes(w, 3);
}

static void test_same_field(void **state)
{
    /* the newest stamp wins; node id breaks the tie of equal (l, c) */
    write_t w[] = {P("{\"a\":1}", 10, "c1"), P("{\"a\":2}", 10, "c2"), P("{\"a\":3}", 9, "c3"),
                   P("{\"a\":null,\"b\":1}", 8, "c4")};
    check_all_orders(w, 4, "{\"a\":2,\"b\":1}");
    free_writes(w, 4);
    /* a delete that is newest removes the field for good */
    write_t d[] = {P("{\"a\":1}", 1, "c1"), P("{\"a\":null}", 3, "c2"), P("{\"a\":2}", 2, "c3")};
    check_all_orders(d, 3, "{}");
    free_writes(d, 3);
}

static void test_nested_vs_parent(void **state)
{
    /* the case a naive "newest at path, ancestors or descendants" rule gets
     * wrong: the scalar at 2 replaced {b:1} (1), then {c:3} (3) re-created a */
    write_t w[] = {P("{\"a\":{\"b\":1}}", 1, "c"), P("{\"a\":5}", 2, "c"),
                   P("{\"a\":{\"c\":3}}", 3, "c")};
    check_all_orders(w, 3, "{\"a\":{\"c\":3}}");
    free_writes(w, 3);
    write_t x[] = {P("{\"a\":{\"b\":{\"c\":1}}}", 1, "n"), P("{\"a\":{\"b\":7}}", 2, "n"),
                   P("{\"a\":{\"b\":{\"d\":2},\"e\":1}}", 3, "n"),
                   P("{\"a\":{\"b\":null}}", 4, "n"), P("{\"a\":[1,2]}", 5, "n")};
    check_all_orders(x, 5, "{\"a\":[1,2]}");
    free_writes(x, 5);
    write_t y[] = {P("{\"a\":{\"b\":{\"c\":1}}}", 5, "n"), P("{\"a\":{\"b\":7}}", 2, "n"),
                   P("{\"a\":{\"b\":{\"d\":2},\"e\":1}}", 3, "n"),
                   P("{\"a\":{\"b\":null}}", 4, "n"), P("{\"a\":[1,2]}", 1, "n")};
    check_all_orders(y, 5, "{\"a\":{\"b\":{\"c\":1},\"e\":1}}");
    free_writes(y, 5);
}

static void test_empty_objects(void **state)
{
    /* {} makes a path an object (RFC 7396) without removing its members */
    write_t w[] = {P("{\"a\":{}}", 3, "n"), P("{\"a\":5}", 2, "n"), P("{\"a\":{\"b\":1}}", 1, "n"),
                   P("{\"a\":{\"c\":2}}", 4, "n")};
    check_all_orders(w, 4, "{\"a\":{\"c\":2}}");
    free_writes(w, 4);
    write_t x[] = {P("{\"a\":{}}", 3, "n"), P("{\"a\":{\"b\":1}}", 4, "n"), P("{\"a\":5}", 1, "n")};
    check_all_orders(x, 3, "{\"a\":{\"b\":1}}");
    free_writes(x, 3);
    /* an empty patch creates the empty document */
    write_t y[] = {P("{}", 1, "n")};
    check_all_orders(y, 1, "{}");
    free_writes(y, 1);
}

static void test_put_and_delete(void **state)
{
    write_t w[] = {PUT("{\"x\":1,\"y\":{\"z\":2}}", 2), P("{\"y\":{\"w\":3}}", 3, "c"),
                   P("{\"x\":9}", 1, "c"), DEL(4), P("{\"q\":1}", 5, "c")};
    check_all_orders(w, 5, "{\"q\":1}");
    free_writes(w, 5);
    /* a patch older than the delete stays deleted */
    write_t d[] = {PUT("{\"x\":1}", 1), DEL(3), P("{\"x\":2}", 2, "c")};
    check_all_orders(d, 3, "null");
    free_writes(d, 3);
    /* a put replaces what came before it, keeps what came after */
    write_t p[] = {P("{\"a\":1,\"b\":{\"c\":1}}", 1, "c"), PUT("{\"b\":{\"d\":2},\"e\":{}}", 2),
                   P("{\"b\":{\"c\":3}}", 3, "c"), P("{\"e\":{\"f\":null}}", 0, "c")};
    check_all_orders(p, 4, "{\"b\":{\"c\":3,\"d\":2},\"e\":{}}");
    free_writes(p, 4);
}

/* Random write sets over a small key space, so paths collide often. */
static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static json_t *rand_value(int depth);

static json_t *rand_object(int depth, bool nonempty)
{
    static const char *keys[] = {"a", "b", "c"};
    json_t *o = json_object();
    uint32_t n = nonempty ? 1 + rnd(2) : rnd(3);
    for (uint32_t i = 0; i < n; i++)
        json_object_set_new(o, keys[rnd(3)], rand_value(depth + 1));
    return o;
}

static json_t *rand_value(int depth)
{
    uint32_t r = rnd(100);
    if (r < 35) return json_integer(rnd(10));
    if (r < 50) return json_null();
    if (r < 58) return json_object();
    if (r < 62) return json_pack("[i,i]", rnd(3), rnd(3));
    if (depth >= 3) return json_integer(rnd(10));
    return rand_object(depth, true);
}

static void test_random_sets(void **state)
{
    size_t orders = 0;
    for (int trial = 0; trial < 400; trial++) {
        write_t w[6];
        size_t n = 3 + rnd(4);
        for (size_t i = 0; i < n; i++) {
            uint32_t k = rnd(100);
            /* distinct stamps; equal l with different nodes often */
            for (;;) {
                w[i].stamp = ts(1 + rnd((uint32_t)n), 0, rnd(2) ? "x" : "y");
                size_t j = 0;
                while (j < i && synq_hlc_cmp(&w[j].stamp, &w[i].stamp))
                    j++;
                if (j == i) break;
            }
            if (k < 80) {
                w[i].kind = W_PATCH;
                w[i].body = rand_object(1, true);
            } else if (k < 92) {
                w[i].kind = W_PUT;
                w[i].body = rand_object(1, false);
            } else {
                w[i].kind = W_DELETE;
                w[i].body = NULL;
            }
        }
        if (n <= 5) {
            orders += check_all_orders(w, n, NULL);
        } else {
            /* 720 orders of 6: check a sample against the oracle */
            char *want = oracle(w, n);
            char *meta0 = NULL;
            for (int s = 0; s < 40; s++) {
                size_t order[6];
                for (size_t i = 0; i < n; i++)
                    order[i] = i;
                for (size_t i = n - 1; i > 0; i--) {
                    size_t j = rnd((uint32_t)i + 1), t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
                char *data, *meta;
                run_order(w, order, n, s & 1, &data, &meta);
                if (strcmp(data, want)) fail_msg("trial %d: %s, want %s", trial, data, want);
                if (meta0 == NULL)
                    meta0 = strdup(meta);
                else if (strcmp(meta, meta0))
                    fail_msg("trial %d: meta %s vs %s", trial, meta, meta0);
                free(data);
                free(meta);
                orders++;
            }
            free(meta0);
            free(want);
        }
        free_writes(w, n);
    }
    print_message("checked %zu arrival orders\n", orders);
}

/* ---- state details ------------------------------------------------------- */

/* Data loaded without meta (a malformed meta is reset that way) has zero
 * stamps; a patch beside them must still save to a meta that loads back.
 * It used to save the zero stamp as "...-", which load refused. */
static void test_no_meta_round_trip(void **state)
{
    json_t *data = J("{\"x\":1,\"a\":{}}");
    synq_docmerge_t *m;
    assert_int_equal(synq_docmerge_load(data, NULL, &m), 0);
    json_t *p = J("{\"a\":{\"b\":1}}");
    synq_hlc_ts_t s = ts(1718000000000, 0, "cli");
    assert_int_equal(synq_docmerge_patch(m, p, &s), 0);
    m = round_trip(m);
    json_t *d = synq_docmerge_data(m);
    assert_json(d, "{\"x\":1,\"a\":{\"b\":1}}");
    json_decref(d), json_decref(p), json_decref(data);
    synq_docmerge_free(m);
}

static void test_meta_compression(void **state)
{
    synq_docmerge_t *m;
    assert_int_equal(synq_docmerge_load(NULL, NULL, &m), 0);
    json_t *meta = synq_docmerge_meta(m);
    assert_null(meta); /* never written */
    json_t *data = synq_docmerge_data(m);
    assert_null(data);
    synq_hlc_ts_t s = ts(1718000000000, 1, "srv");
    json_t *doc = J("{\"x\":1,\"y\":{\"z\":[1,2]},\"e\":{},\"s\":\"t\"}");
    assert_int_equal(synq_docmerge_put(m, doc, &s), 0);
    /* a put records one stamp, at the root */
    meta = synq_docmerge_meta(m);
    assert_json(meta, "{\"a\":\"1718000000000-00001-srv\"}");
    json_decref(meta);
    data = synq_docmerge_data(m);
    assert_true(json_equal(data, doc));
    json_decref(data);
    /* a patch adds its own stamps; deletes stay as tombstones */
    synq_hlc_ts_t s2 = ts(1718000000005, 0, "cli");
    json_t *p = J("{\"x\":2,\"y\":{\"z\":null}}");
    assert_int_equal(synq_docmerge_patch(m, p, &s2), 0);
    meta = synq_docmerge_meta(m);
    assert_json(
        meta, "{\"a\":\"1718000000000-00001-srv\",\"c\":{\"x\":{\"a\":\"1718000000005-00000-cli\"},"
              "\"y\":{\"c\":{\"z\":{\"a\":\"1718000000005-00000-cli\"}}}}}");
    data = synq_docmerge_data(m);
    assert_json(data, "{\"x\":2,\"y\":{},\"e\":{},\"s\":\"t\"}");
    synq_hlc_ts_t max;
    assert_true(synq_docmerge_max_stamp(m, &max));
    assert_int_equal(synq_hlc_cmp(&max, &s2), 0);
    /* reload and replay the same patch: nothing changes */
    synq_docmerge_t *m2;
    assert_int_equal(synq_docmerge_load(data, meta, &m2), 0);
    assert_int_equal(synq_docmerge_patch(m2, p, &s2), 0);
    json_t *d2 = synq_docmerge_data(m2), *mt2 = synq_docmerge_meta(m2);
    assert_true(json_equal(d2, data));
    assert_true(json_equal(mt2, meta));
    json_decref(d2), json_decref(mt2), json_decref(data), json_decref(meta);
    /* delete: the data goes, a root stamp stays */
    synq_hlc_ts_t s3 = ts(1718000000009, 0, "srv");
    synq_docmerge_delete(m2, &s3);
    assert_null(synq_docmerge_data(m2));
    meta = synq_docmerge_meta(m2);
    assert_json(meta, "{\"a\":\"1718000000009-00000-srv\"}");
    json_decref(meta);
    synq_docmerge_free(m2);
    synq_docmerge_free(m);
    json_decref(doc);
    json_decref(p);
}

static void test_load_errors(void **state)
{
    synq_docmerge_t *m = (synq_docmerge_t *)1;
    json_t *d = J("{\"a\":1}");
    const char *bad[] = {"[]",
                         "{\"a\":1}",
                         "{\"a\":\"nope\"}",
                         "{\"o\":\"1-2-3\"}",
                         "{\"c\":[]}",
                         "{\"c\":{\"a\":5}}",
                         "{\"c\":{\"a\":{\"a\":true}}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *meta = J(bad[i]);
        if (synq_docmerge_load(d, meta, &m) != SYNQ_EINVAL) fail_msg("accepted meta %s", bad[i]);
        assert_null(m);
        json_decref(meta);
    }
    json_t *arr = J("[1]");
    assert_int_equal(synq_docmerge_load(arr, NULL, &m), SYNQ_EINVAL);
    /* data without meta: every leaf gets the oldest stamp, so any write wins */
    assert_int_equal(synq_docmerge_load(d, NULL, &m), 0);
    synq_hlc_ts_t s = ts(1, 0, "n");
    json_t *p = J("{\"a\":2}");
    assert_int_equal(synq_docmerge_patch(m, p, &s), 0);
    json_t *out = synq_docmerge_data(m);
    assert_json(out, "{\"a\":2}");
    /* not an object: refused */
    assert_int_equal(synq_docmerge_patch(m, arr, &s), SYNQ_EINVAL);
    assert_int_equal(synq_docmerge_put(m, arr, &s), SYNQ_EINVAL);
    json_decref(out), json_decref(p), json_decref(arr), json_decref(d);
    synq_docmerge_free(m);
}

static void test_too_deep(void **state)
{
    synq_docmerge_t *m;
    assert_int_equal(synq_docmerge_load(NULL, NULL, &m), 0);
    json_t *deep = json_integer(1);
    for (int i = 0; i < 300; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "k", deep);
        deep = o;
    }
    synq_hlc_ts_t s = ts(1, 0, "n");
    assert_int_equal(synq_docmerge_patch(m, deep, &s), SYNQ_EINVAL);
    assert_int_equal(synq_docmerge_put(m, deep, &s), SYNQ_EINVAL);
    json_decref(deep);
    synq_docmerge_free(m);
}

static void test_changed(void **state)
{
    json_t *a = J("{\"x\":1,\"y\":{\"z\":1},\"k\":true}");
    json_t *b = J("{\"x\":1,\"y\":{\"z\":2},\"n\":null}");
    json_t *c = synq_docmerge_changed(a, b);
    assert_json(c, "{\"y\":{\"z\":2},\"k\":null,\"n\":null}");
    json_decref(c);
    c = synq_docmerge_changed(NULL, b);
    assert_json(c, "{\"x\":1,\"y\":{\"z\":2},\"n\":null}");
    json_decref(c);
    c = synq_docmerge_changed(a, NULL);
    assert_json(c, "{\"x\":null,\"y\":null,\"k\":null}");
    json_decref(c);
    c = synq_docmerge_changed(a, a);
    assert_int_equal(json_object_size(c), 0);
    json_decref(c);
    json_decref(a), json_decref(b);
}

/* ---- intent operations --------------------------------------------------- */

typedef struct {
    json_t *req;
    synq_docop_t ops[SYNQ_DOCOPS_MAX];
    size_t n;
} parsed_t;

static void parse_ok(parsed_t *p, const char *ops)
{
    char err[256];
    p->req = J(ops);
    int rc = synq_docops_parse(p->req, p->ops, &p->n, err, sizeof err);
    if (rc) fail_msg("parse %s: %s", ops, err);
}

static void parse_bad(const char *ops, const char *want_err)
{
    char err[256] = "";
    synq_docop_t out[SYNQ_DOCOPS_MAX];
    size_t n;
    json_t *req = J(ops);
    assert_int_equal(synq_docops_parse(req, out, &n, err, sizeof err), SYNQ_EINVAL);
    if (strncmp(err, want_err, strlen(want_err)))
        fail_msg("%s: error %s, want %s", ops, err, want_err);
    json_decref(req);
}

static void test_ops_parse(void **state)
{
    parsed_t p;
    parse_ok(&p, "[{\"op\":\"incr\",\"field\":\"count\",\"by\":-1,\"min\":0,\"mutation\":17},"
                 "{\"op\":\"add\",\"field\":\"tags\",\"value\":{\"k\":1}},{\"op\":\"remove\","
                 "\"field\":\"t\",\"value\":null}]");
    assert_int_equal(p.n, 3);
    assert_int_equal(p.ops[0].kind, SYNQ_DOCOP_INCR);
    assert_string_equal(p.ops[0].field, "count");
    assert_int_equal(json_integer_value(p.ops[0].by), -1);
    assert_int_equal(json_integer_value(p.ops[0].min), 0);
    assert_null(p.ops[0].max);
    assert_true(p.ops[0].has_mutation);
    assert_int_equal(p.ops[0].mutation, 17);
    assert_int_equal(p.ops[1].kind, SYNQ_DOCOP_ADD);
    assert_false(p.ops[1].has_mutation);
    assert_int_equal(p.ops[2].kind, SYNQ_DOCOP_REMOVE);
    assert_true(json_is_null(p.ops[2].value));
    json_decref(p.req);

    parse_bad("{}", "ops:");
    parse_bad("[]", "ops:");
    parse_bad("[1]", "ops[0]:");
    parse_bad("[{\"op\":\"mul\",\"field\":\"a\"}]", "ops[0].op:");
    parse_bad("[{\"field\":\"a\"}]", "ops[0].op:");
    parse_bad("[{\"op\":\"incr\"}]", "ops[0].field:");
    parse_bad("[{\"op\":\"incr\",\"field\":\"\"}]", "ops[0].field:");
    parse_bad("[{\"op\":\"incr\",\"field\":\"a\"},{\"op\":\"incr\",\"field\":\"a\",\"by\":\"1\"}]",
              "ops[1].by:");
    parse_bad("[{\"op\":\"incr\",\"field\":\"a\",\"min\":5,\"max\":1}]", "ops[0].min:");
    parse_bad("[{\"op\":\"incr\",\"field\":\"a\",\"value\":1}]", "ops[0].value:");
    parse_bad("[{\"op\":\"add\",\"field\":\"a\"}]", "ops[0].value:");
    parse_bad("[{\"op\":\"add\",\"field\":\"a\",\"value\":1,\"by\":2}]", "ops[0].by:");
    parse_bad("[{\"op\":\"add\",\"field\":\"a\",\"value\":1,\"mutation\":-1}]", "ops[0].mutation:");
    parse_bad("[{\"op\":\"add\",\"field\":\"a\",\"value\":1,\"mutation\":1.5}]",
              "ops[0].mutation:");
    /* too many */
    json_t *many = json_array();
    for (int i = 0; i <= SYNQ_DOCOPS_MAX; i++)
        json_array_append_new(many, json_pack("{s:s,s:s}", "op", "incr", "field", "a"));
    char *t = json_dumps(many, 0);
    parse_bad(t, "ops:");
    free(t);
    json_decref(many);
}

/* Applies ops to doc; returns rc and fills the texts. */
static int apply_ops(const char *doc, const char *ops, const bool *skip, char **fields,
                     char **results, char *err)
{
    parsed_t p;
    parse_ok(&p, ops);
    json_t *d = doc ? J(doc) : NULL;
    json_t *f = NULL, *r = NULL;
    int rc = synq_docops_apply(d, p.ops, p.n, skip, &f, &r, err, 256);
    *fields = rc ? NULL : text(f);
    *results = rc ? NULL : text(r);
    if (rc) {
        assert_null(f);
        assert_null(r);
    }
    json_decref(f), json_decref(r), json_decref(d), json_decref(p.req);
    return rc;
}

static void expect_ops(const char *doc, const char *ops, const char *fields, const char *results)
{
    char *f, *r, err[256];
    int rc = apply_ops(doc, ops, NULL, &f, &r, err);
    if (rc) fail_msg("%s: %s", ops, err);
    json_t *wf = J(fields), *wr = J(results);
    char *wft = text(wf), *wrt = text(wr);
    if (strcmp(f, wft)) fail_msg("%s: fields %s, want %s", ops, f, wft);
    if (strcmp(r, wrt)) fail_msg("%s: results %s, want %s", ops, r, wrt);
    free(f), free(r), free(wft), free(wrt);
    json_decref(wf), json_decref(wr);
}

static void expect_ops_error(const char *doc, const char *ops, int want_rc, const char *want_err)
{
    char *f, *r, err[256] = "";
    int rc = apply_ops(doc, ops, NULL, &f, &r, err);
    assert_int_equal(rc, want_rc);
    if (strncmp(err, want_err, strlen(want_err)))
        fail_msg("%s: error %s, want %s", ops, err, want_err);
}

static void test_ops_incr(void **state)
{
    expect_ops("{\"count\":5}", "[{\"op\":\"incr\",\"field\":\"count\"}]", "{\"count\":6}",
               "[{\"op\":\"incr\",\"field\":\"count\",\"value\":6}]");
    /* absent = 0; several ops on one field run in order */
    expect_ops(
        NULL,
        "[{\"op\":\"incr\",\"field\":\"n\",\"by\":5},{\"op\":\"incr\",\"field\":\"n\",\"by\":-2}]",
        "{\"n\":3}",
        "[{\"op\":\"incr\",\"field\":\"n\",\"value\":5},{\"op\":\"incr\",\"field\":\"n\",\"value\":"
        "3}]");
    /* reals */
    expect_ops("{\"p\":1.5}", "[{\"op\":\"incr\",\"field\":\"p\",\"by\":1}]", "{\"p\":2.5}",
               "[{\"op\":\"incr\",\"field\":\"p\",\"value\":2.5}]");
    /* bounds: reaching a bound is fine, crossing it is not */
    expect_ops("{\"stock\":1}", "[{\"op\":\"incr\",\"field\":\"stock\",\"by\":-1,\"min\":0}]",
               "{\"stock\":0}", "[{\"op\":\"incr\",\"field\":\"stock\",\"value\":0}]");
    expect_ops_error("{\"stock\":0}", "[{\"op\":\"incr\",\"field\":\"stock\",\"by\":-1,\"min\":0}]",
                     SYNQ_ETOOBIG, "stock: would go below min 0");
    expect_ops_error("{\"s\":9}", "[{\"op\":\"incr\",\"field\":\"s\",\"by\":2,\"max\":10}]",
                     SYNQ_ETOOBIG, "s: would go above max 10");
    expect_ops_error("{\"s\":0.5}", "[{\"op\":\"incr\",\"field\":\"s\",\"by\":-1,\"min\":0}]",
                     SYNQ_ETOOBIG, "s: would go below min 0");
    /* all or nothing: the second op fails, nothing is returned */
    expect_ops_error(
        "{\"a\":1,\"b\":0}",
        "[{\"op\":\"incr\",\"field\":\"a\"},{\"op\":\"incr\",\"field\":\"b\",\"by\":-1,\"min\":0}]",
        SYNQ_ETOOBIG, "b:");
    /* wrong type names the field */
    expect_ops_error("{\"a\":\"x\"}", "[{\"op\":\"incr\",\"field\":\"a\"}]", SYNQ_EINVAL,
                     "a: holds a string, not a number");
    /* overflow */
    expect_ops_error("{\"a\":9223372036854775807}", "[{\"op\":\"incr\",\"field\":\"a\"}]",
                     SYNQ_EINVAL, "a: the result overflows");
    expect_ops_error("{\"a\":1e308}", "[{\"op\":\"incr\",\"field\":\"a\",\"by\":1e308}]",
                     SYNQ_EINVAL, "a: the result overflows");
    /* by 0 changes nothing */
    expect_ops("{\"a\":1}", "[{\"op\":\"incr\",\"field\":\"a\",\"by\":0}]", "{}",
               "[{\"op\":\"incr\",\"field\":\"a\",\"value\":1}]");
}

static void test_ops_sets(void **state)
{
    expect_ops("{\"t\":[\"a\"]}",
               "[{\"op\":\"add\",\"field\":\"t\",\"value\":\"b\"},{\"op\":\"add\",\"field\":\"t\","
               "\"value\":\"a\"}]",
               "{\"t\":[\"a\",\"b\"]}",
               "[{\"op\":\"add\",\"field\":\"t\",\"changed\":true},{\"op\":\"add\",\"field\":\"t\","
               "\"changed\":false}]");
    expect_ops(NULL, "[{\"op\":\"add\",\"field\":\"t\",\"value\":{\"k\":[1]}}]",
               "{\"t\":[{\"k\":[1]}]}", "[{\"op\":\"add\",\"field\":\"t\",\"changed\":true}]");
    expect_ops("{\"t\":[1,{\"k\":1},2]}",
               "[{\"op\":\"remove\",\"field\":\"t\",\"value\":{\"k\":1}}]", "{\"t\":[1,2]}",
               "[{\"op\":\"remove\",\"field\":\"t\",\"changed\":true}]");
    expect_ops("{\"t\":[1]}", "[{\"op\":\"remove\",\"field\":\"t\",\"value\":3}]", "{}",
               "[{\"op\":\"remove\",\"field\":\"t\",\"changed\":false}]");
    expect_ops(NULL, "[{\"op\":\"remove\",\"field\":\"t\",\"value\":3}]", "{\"t\":[]}",
               "[{\"op\":\"remove\",\"field\":\"t\",\"changed\":false}]");
    expect_ops_error("{\"t\":{}}", "[{\"op\":\"add\",\"field\":\"t\",\"value\":1}]", SYNQ_EINVAL,
                     "t: holds an object, not an array");
    /* the document passed in is not modified */
    json_t *doc = J("{\"t\":[1]}");
    parsed_t p;
    parse_ok(&p, "[{\"op\":\"add\",\"field\":\"t\",\"value\":2}]");
    json_t *f, *r;
    char err[256];
    assert_int_equal(synq_docops_apply(doc, p.ops, p.n, NULL, &f, &r, err, sizeof err), 0);
    assert_json(doc, "{\"t\":[1]}");
    json_decref(f), json_decref(r), json_decref(doc), json_decref(p.req);
}

static void test_ops_skip(void **state)
{
    bool skip[] = {true, false};
    char *f, *r, err[256];
    assert_int_equal(
        apply_ops("{\"a\":1}",
                  "[{\"op\":\"incr\",\"field\":\"a\"},{\"op\":\"incr\",\"field\":\"a\",\"by\":10}]",
                  skip, &f, &r, err),
        0);
    assert_string_equal(f, "{\"a\":11}");
    assert_string_equal(r, "[null,{\"field\":\"a\",\"op\":\"incr\",\"value\":11}]");
    free(f), free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_different_fields), cmocka_unit_test(test_same_field),
        cmocka_unit_test(test_nested_vs_parent), cmocka_unit_test(test_empty_objects),
        cmocka_unit_test(test_put_and_delete),   cmocka_unit_test(test_random_sets),
        cmocka_unit_test(test_meta_compression), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_no_meta_round_trip),
        cmocka_unit_test(test_too_deep),         cmocka_unit_test(test_changed),
        cmocka_unit_test(test_ops_parse),        cmocka_unit_test(test_ops_incr),
        cmocka_unit_test(test_ops_sets),         cmocka_unit_test(test_ops_skip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
