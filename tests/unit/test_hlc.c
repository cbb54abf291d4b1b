/* Unit tests for core/hlc: the send and receive rules of Kulkarni et al.
 * (every branch of the receive rule), the drift limit, observing stored
 * stamps, counter overflow, the total order, and the text form (round
 * trip, fixed widths so byte order is time order, malformed input). */
#include "core/hlc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static synq_hlc_ts_t ts(int64_t l, uint32_t c, const char *node)
{
    synq_hlc_ts_t t;
    memset(&t, 0, sizeof t);
    t.l = l;
    t.c = c;
    snprintf(t.node, sizeof t.node, "%s", node);
    return t;
}

static void test_now(void **state)
{
    synq_hlc_t h;
    synq_hlc_init(&h, "n1", 0);
    assert_int_equal(h.max_drift_ms, SYNQ_HLC_DEFAULT_MAX_DRIFT_MS);
    synq_hlc_ts_t a, b, c, d;
    synq_hlc_now(&h, 1000, &a);
    assert_int_equal(a.l, 1000);
    assert_int_equal(a.c, 0);
    assert_string_equal(a.node, "n1");
    /* same physical ms: the counter moves */
    synq_hlc_now(&h, 1000, &b);
    assert_int_equal(b.l, 1000);
    assert_int_equal(b.c, 1);
    /* physical clock went backwards: l stays, counter moves */
    synq_hlc_now(&h, 900, &c);
    assert_int_equal(c.l, 1000);
    assert_int_equal(c.c, 2);
    /* physical clock moved on: counter resets */
    synq_hlc_now(&h, 1001, &d);
    assert_int_equal(d.l, 1001);
    assert_int_equal(d.c, 0);
    assert_true(synq_hlc_cmp(&a, &b) < 0 && synq_hlc_cmp(&b, &c) < 0 && synq_hlc_cmp(&c, &d) < 0);
}

static void test_recv_branches(void **state)
{
    synq_hlc_t h;
    synq_hlc_ts_t out, m;
    synq_hlc_init(&h, "me", 60000);

    /* l = l' = l.m: c = max(c, c.m) + 1 */
    h.l = 5000, h.c = 3;
    m = ts(5000, 7, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 4000, &out), 0);
    assert_int_equal(out.l, 5000);
    assert_int_equal(out.c, 8);
    assert_string_equal(out.node, "me");
    h.l = 5000, h.c = 9;
    assert_int_equal(synq_hlc_recv(&h, &m, 4000, &out), 0);
    assert_int_equal(out.c, 10);

    /* l = l' only (message older): c + 1 */
    h.l = 5000, h.c = 3;
    m = ts(4000, 99, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 4500, &out), 0);
    assert_int_equal(out.l, 5000);
    assert_int_equal(out.c, 4);

    /* l = l.m only (message ahead): c.m + 1 */
    h.l = 5000, h.c = 3;
    m = ts(6000, 2, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 5500, &out), 0);
    assert_int_equal(out.l, 6000);
    assert_int_equal(out.c, 3);

    /* physical time ahead of both: c = 0 */
    h.l = 5000, h.c = 3;
    m = ts(6000, 2, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 7000, &out), 0);
    assert_int_equal(out.l, 7000);
    assert_int_equal(out.c, 0);

    /* out may be NULL; the clock still moves */
    h.l = 5000, h.c = 3;
    m = ts(8000, 4, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 7990, NULL), 0);
    assert_int_equal(h.l, 8000);
    assert_int_equal(h.c, 5);
    /* and what it gives next is after the message */
    synq_hlc_now(&h, 7990, &out);
    assert_true(synq_hlc_cmp(&m, &out) < 0);
}

static void test_recv_drift(void **state)
{
    synq_hlc_t h;
    synq_hlc_ts_t out, m;
    synq_hlc_init(&h, "me", 60000);
    synq_hlc_now(&h, 1000000, &out);
    /* exactly the max drift ahead is accepted, one ms more is not */
    m = ts(1060000, 0, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 1000000, &out), 0);
    assert_int_equal(out.l, 1060000);
    synq_hlc_t before = h;
    m = ts(1060002, 0, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 1000001, &out), SYNQ_EINVAL);
    assert_memory_equal(&before, &h, sizeof h); /* unchanged */
    /* a message from the far past is fine */
    m = ts(1, 0, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 1000002, &out), 0);
}

static void test_observe(void **state)
{
    synq_hlc_t h;
    synq_hlc_ts_t out, m = ts(9000, 12, "other");
    synq_hlc_init(&h, "me", 1000);
    /* no drift check: stored stamps may be far ahead of a restarted clock */
    synq_hlc_observe(&h, &m);
    synq_hlc_now(&h, 100, &out);
    assert_int_equal(out.l, 9000);
    assert_int_equal(out.c, 13);
    /* observing an older stamp changes nothing */
    synq_hlc_ts_t old = ts(10, 0, "z");
    synq_hlc_observe(&h, &old);
    synq_hlc_now(&h, 100, &out);
    assert_int_equal(out.l, 9000);
    assert_int_equal(out.c, 14);
}

static void test_counter_overflow(void **state)
{
    synq_hlc_t h;
    synq_hlc_ts_t a, b, m;
    synq_hlc_init(&h, "me", 0);
    h.l = 5000, h.c = SYNQ_HLC_C_MAX - 1;
    synq_hlc_now(&h, 5000, &a);
    assert_int_equal(a.c, SYNQ_HLC_C_MAX);
    synq_hlc_now(&h, 5000, &b);
    assert_int_equal(b.l, 5001);
    assert_int_equal(b.c, 0);
    assert_true(synq_hlc_cmp(&a, &b) < 0);
    /* a received counter at the maximum */
    h.l = 5000, h.c = 1;
    m = ts(5000, SYNQ_HLC_C_MAX, "x");
    assert_int_equal(synq_hlc_recv(&h, &m, 5000, &b), 0);
    assert_int_equal(b.l, 5001);
    assert_int_equal(b.c, 0);
    assert_true(synq_hlc_cmp(&m, &b) < 0);
}

static void test_cmp(void **state)
{
    synq_hlc_ts_t a = ts(1, 0, "b"), b = ts(1, 1, "a"), c = ts(2, 0, "a"), d = ts(1, 0, "c");
    assert_true(synq_hlc_cmp(&a, &b) < 0); /* c before node */
    assert_true(synq_hlc_cmp(&b, &c) < 0); /* l first */
    assert_true(synq_hlc_cmp(&a, &d) < 0); /* node breaks ties */
    assert_true(synq_hlc_cmp(&d, &a) > 0);
    assert_int_equal(synq_hlc_cmp(&a, &a), 0);
    synq_hlc_ts_t e = ts(1, 0, "bb");
    assert_true(synq_hlc_cmp(&a, &e) < 0); /* a prefix sorts first */
}

static void test_text_round_trip(void **state)
{
    char text[SYNQ_HLC_TEXT_MAX];
    synq_hlc_ts_t t = ts(1718000000123, 42, "web-1.eu:a_b"), back;
    size_t n = synq_hlc_format(&t, text);
    assert_string_equal(text, "1718000000123-00042-web-1.eu:a_b");
    assert_int_equal(n, strlen(text));
    assert_int_equal(synq_hlc_parse(text, n, &back), 0);
    assert_int_equal(synq_hlc_cmp(&t, &back), 0);
    /* the widest form fits */
    char node[SYNQ_HLC_NODE_MAX + 1];
    memset(node, 'z', SYNQ_HLC_NODE_MAX);
    node[SYNQ_HLC_NODE_MAX] = 0;
    t = ts(SYNQ_HLC_L_MAX, SYNQ_HLC_C_MAX, node);
    n = synq_hlc_format(&t, text);
    assert_int_equal(n, SYNQ_HLC_TEXT_MAX - 1);
    assert_int_equal(synq_hlc_parse(text, n, &back), 0);
    assert_int_equal(synq_hlc_cmp(&t, &back), 0);
    /* small values are zero-padded */
    t = ts(0, 0, "n");
    synq_hlc_format(&t, text);
    assert_string_equal(text, "0000000000000-00000-n");
}

static void test_text_order_is_time_order(void **state)
{
    /* byte order of the text = synq_hlc_cmp, over a grid of values */
    const int64_t ls[] = {0, 9, 10, 999, 1000, 1718000000000, SYNQ_HLC_L_MAX};
    const uint32_t cs[] = {0, 1, 9, 10, 65535};
    const char *nodes[] = {"a", "a-b", "ab", "b", "Z", "0"};
    synq_hlc_ts_t all[7 * 5 * 6];
    size_t n = 0;
    for (size_t i = 0; i < 7; i++)
        for (size_t j = 0; j < 5; j++)
            for (size_t k = 0; k < 6; k++)
                all[n++] = ts(ls[i], cs[j], nodes[k]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            char x[SYNQ_HLC_TEXT_MAX], y[SYNQ_HLC_TEXT_MAX];
            synq_hlc_format(&all[i], x);
            synq_hlc_format(&all[j], y);
            int t = strcmp(x, y);
            t = t < 0 ? -1 : t > 0;
            assert_int_equal(t, synq_hlc_cmp(&all[i], &all[j]));
        }
}

static void test_parse_errors(void **state)
{
    const char *bad[] = {
        "",
        "1718000000123-00042-",          /* no node */
        "1718000000123-00042",           /* no node */
        "171800000012-00042-n",          /* 12 digits */
        "17180000001234-00042-n",        /* 14 digits */
        "1718000000123-0042-n",          /* 4 digits */
        "1718000000123-65536-n",         /* counter too big */
        "1718000000123_00042-n",         /* separator */
        "1718000000123-00042_n",         /* separator */
        "17180000001x3-00042-n",         /* not a digit */
        "-718000000123-00042-n",         /* sign */
        "1718000000123-00042-n o",       /* space in node */
        "1718000000123-00042-n/",        /* bad node char */
        "1718000000123-00042-n\xc3\xa9", /* non-ASCII */
    };
    synq_hlc_ts_t t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (synq_hlc_parse(bad[i], strlen(bad[i]), &t) != SYNQ_EINVAL)
            fail_msg("accepted %s", bad[i]);
    }
    /* node too long */
    char text[200];
    snprintf(text, sizeof text, "1718000000123-00042-%065d", 0);
    assert_int_equal(synq_hlc_parse(text, strlen(text), &t), SYNQ_EINVAL);
    /* a length that stops early is honoured */
    assert_int_equal(synq_hlc_parse("1718000000123-00042-node", 21, &t), 0);
    assert_string_equal(t.node, "n");
}

static void test_node_valid(void **state)
{
    assert_true(synq_hlc_node_valid("synq"));
    assert_true(synq_hlc_node_valid("host-1.example.com"));
    assert_false(synq_hlc_node_valid(""));
    assert_false(synq_hlc_node_valid(NULL));
    assert_false(synq_hlc_node_valid("a b"));
    char n[SYNQ_HLC_NODE_MAX + 2];
    memset(n, 'x', sizeof n);
    n[SYNQ_HLC_NODE_MAX] = 0;
    assert_true(synq_hlc_node_valid(n));
    n[SYNQ_HLC_NODE_MAX] = 'x';
    n[SYNQ_HLC_NODE_MAX + 1] = 0;
    assert_false(synq_hlc_node_valid(n));
}

/* Two nodes exchanging messages: every receive is after its send, and
 * every local event after the one before (happened-before is kept). */
static void test_causality(void **state)
{
    synq_hlc_t a, b;
    synq_hlc_init(&a, "a", 1000000);
    synq_hlc_init(&b, "b", 1000000);
    int64_t pa = 100000, pb = 50000; /* b's physical clock is far behind */
    synq_hlc_ts_t last_a = {0}, last_b = {0}, t;
    uint64_t rnd = 12345;
    for (int i = 0; i < 1000; i++) {
        rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
        pa += (int64_t)(rnd >> 60);
        pb += (int64_t)((rnd >> 56) & 3);
        synq_hlc_now(&a, pa, &t);
        assert_true(synq_hlc_cmp(&last_a, &t) < 0);
        last_a = t;
        synq_hlc_ts_t got;
        assert_int_equal(synq_hlc_recv(&b, &t, pb, &got), 0);
        assert_true(synq_hlc_cmp(&t, &got) < 0);
        assert_true(synq_hlc_cmp(&last_b, &got) < 0);
        last_b = got;
        synq_hlc_now(&b, pb, &t);
        assert_true(synq_hlc_cmp(&last_b, &t) < 0);
        last_b = t;
        assert_int_equal(synq_hlc_recv(&a, &t, pa, &got), 0);
        assert_true(synq_hlc_cmp(&t, &got) < 0);
        last_a = got;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_recv_branches),
        cmocka_unit_test(test_recv_drift),
        cmocka_unit_test(test_observe),
        cmocka_unit_test(test_counter_overflow),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_text_order_is_time_order),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_node_valid),
        cmocka_unit_test(test_causality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
