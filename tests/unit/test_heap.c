/* Unit tests for core/heap: ordering, the index callback contract (every
 * item knows its slot; removed items get SYNQ_HEAP_NONE), removal and update
 * at every position, and a long random run checked against a plain array. */
#include "core/heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    int key;
    int id;
    size_t idx;
} item_t;

static bool item_less(const void *a, const void *b)
{
    return ((const item_t *)a)->key < ((const item_t *)b)->key;
}

static void item_set_index(void *item, size_t idx)
{
    ((item_t *)item)->idx = idx;
}

/* Heap order and the index contract hold for every slot. */
static void check_heap(const synq_heap_t *h)
{
    assert_true(h->len <= h->cap);
    for (size_t i = 0; i < h->len; i++) {
        const item_t *it = h->items[i];
        assert_int_equal(it->idx, i);
        if (i > 0) assert_false(item_less(it, h->items[(i - 1) / 2]));
    }
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void test_empty(void **state)
{
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    assert_null(synq_heap_peek(&h));
    assert_null(synq_heap_pop(&h));
    synq_heap_remove(&h, 0); /* nothing there: no-op */
    synq_heap_remove(&h, SYNQ_HEAP_NONE);
    assert_int_equal(h.len, 0);
    synq_heap_release(&h);
    synq_heap_release(&h);
}

static void test_single(void **state)
{
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    item_t a = {.key = 7, .idx = 12345};
    synq_heap_push(&h, &a);
    assert_int_equal(a.idx, 0);
    assert_ptr_equal(synq_heap_peek(&h), &a);
    assert_ptr_equal(synq_heap_pop(&h), &a);
    assert_int_equal(a.idx, SYNQ_HEAP_NONE);
    assert_null(synq_heap_peek(&h));
    synq_heap_release(&h);
}

/* Push n shuffled keys (n across the initial capacity of 64), pop in order. */
static void test_push_pop_sorted(void **state)
{
    uint32_t seed = 1;
    for (size_t n = 0; n <= 300; n++) {
        item_t *items = calloc(n ? n : 1, sizeof *items);
        for (size_t i = 0; i < n; i++) items[i].key = (int)i, items[i].id = (int)i;
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
            size_t j = rng_next(&seed) % i;
            item_t t = items[i - 1];
            items[i - 1] = items[j];
            items[j] = t;
        }
        synq_heap_t h;
        synq_heap_init(&h, item_less, item_set_index);
        for (size_t i = 0; i < n; i++) {
            synq_heap_push(&h, &items[i]);
            check_heap(&h);
        }
        assert_int_equal(h.len, n);
        for (size_t i = 0; i < n; i++) {
            item_t *top = synq_heap_peek(&h);
            assert_non_null(top);
            assert_int_equal(top->key, (int)i);
            assert_ptr_equal(synq_heap_pop(&h), top);
            assert_int_equal(top->idx, SYNQ_HEAP_NONE);
            check_heap(&h);
        }
        assert_null(synq_heap_pop(&h));
        synq_heap_release(&h);
        free(items);
    }
}

static void test_duplicate_keys(void **state)
{
    item_t items[100];
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    for (int i = 0; i < 100; i++) {
        items[i].key = i % 3;
        items[i].id = i;
        synq_heap_push(&h, &items[i]);
        check_heap(&h);
    }
    int last = -1, count[3] = {0};
    bool seen[100] = {false};
    while (h.len) {
        item_t *it = synq_heap_pop(&h);
        assert_true(it->key >= last);
        last = it->key;
        count[it->key]++;
        assert_false(seen[it->id]);
        seen[it->id] = true;
        check_heap(&h);
    }
    assert_int_equal(count[0], 34);
    assert_int_equal(count[1], 33);
    assert_int_equal(count[2], 33);
    synq_heap_release(&h);
}

/* Removing the item at each slot of heaps of every size 1..70 leaves a valid
 * heap holding exactly the other items. */
static void test_remove_every_position(void **state)
{
    uint32_t seed = 7;
    for (size_t n = 1; n <= 70; n++) {
        for (size_t k = 0; k < n; k++) {
            item_t items[70];
            synq_heap_t h;
            synq_heap_init(&h, item_less, item_set_index);
            for (size_t i = 0; i < n; i++) {
                items[i].key = (int)(rng_next(&seed) % 50);
                items[i].id = (int)i;
                synq_heap_push(&h, &items[i]);
            }
            item_t *victim = h.items[k];
            synq_heap_remove(&h, k);
            assert_int_equal(victim->idx, SYNQ_HEAP_NONE);
            assert_int_equal(h.len, n - 1);
            check_heap(&h);
            for (size_t i = 0; i < h.len; i++) assert_ptr_not_equal(h.items[i], victim);
            /* the rest pops in order and is everything but the victim */
            int last = -1;
            size_t popped = 0;
            while (h.len) {
                item_t *it = synq_heap_pop(&h);
                assert_ptr_not_equal(it, victim);
                assert_true(it->key >= last);
                last = it->key;
                popped++;
            }
            assert_int_equal(popped, n - 1);
            synq_heap_release(&h);
        }
    }
}

/* Removing the last slot and out-of-range slots. */
static void test_remove_edges(void **state)
{
    item_t items[10];
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    for (int i = 0; i < 10; i++) {
        items[i].key = i;
        synq_heap_push(&h, &items[i]);
    }
    item_t *last = h.items[9];
    synq_heap_remove(&h, 9);
    assert_int_equal(last->idx, SYNQ_HEAP_NONE);
    assert_int_equal(h.len, 9);
    check_heap(&h);
    synq_heap_remove(&h, 9); /* now out of range */
    synq_heap_remove(&h, 1000);
    synq_heap_remove(&h, SYNQ_HEAP_NONE);
    assert_int_equal(h.len, 9);
    check_heap(&h);
    /* removal through the index the item remembers */
    item_t *five = &items[5];
    synq_heap_remove(&h, five->idx);
    assert_int_equal(five->idx, SYNQ_HEAP_NONE);
    check_heap(&h);
    assert_int_equal(h.len, 8);
    synq_heap_release(&h);
}

/* Changing the key of the item at each slot (up and down) then update. */
static void test_update_every_position(void **state)
{
    uint32_t seed = 99;
    static const int deltas[] = {-1000, -1, 0, 1, 1000};
    for (size_t n = 1; n <= 50; n++) {
        for (size_t k = 0; k < n; k++) {
            for (size_t d = 0; d < SYNQ_ARRAY_LEN(deltas); d++) {
                item_t items[50];
                synq_heap_t h;
                synq_heap_init(&h, item_less, item_set_index);
                for (size_t i = 0; i < n; i++) {
                    items[i].key = (int)(rng_next(&seed) % 100);
                    synq_heap_push(&h, &items[i]);
                }
                item_t *it = h.items[k];
                it->key += deltas[d];
                synq_heap_update(&h, it->idx);
                check_heap(&h);
                assert_int_equal(h.len, n);
                if (deltas[d] < 0 && it->key < 0) assert_ptr_equal(synq_heap_peek(&h), it);
                int last = INT32_MIN;
                bool found = false;
                while (h.len) {
                    item_t *p = synq_heap_pop(&h);
                    assert_true(p->key >= last);
                    last = p->key;
                    if (p == it) found = true;
                }
                assert_true(found);
                synq_heap_release(&h);
            }
        }
    }
}

/* A long random mix of push, pop, remove and update, against a reference
 * array that tracks which items are in. */
static void test_random_against_model(void **state)
{
    enum { N = 500 };
    static item_t items[N];
    bool in[N] = {false};
    size_t count = 0;
    uint32_t seed = 2024;
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    for (int i = 0; i < N; i++) items[i].id = i, items[i].idx = SYNQ_HEAP_NONE;
    for (int step = 0; step < 40000; step++) {
        uint32_t op = rng_next(&seed) % 4;
        int i = (int)(rng_next(&seed) % N);
        if (op == 0 && !in[i]) {
            items[i].key = (int)(rng_next(&seed) % 1000);
            synq_heap_push(&h, &items[i]);
            in[i] = true, count++;
        } else if (op == 1 && count) {
            int min = INT32_MAX;
            for (int j = 0; j < N; j++)
                if (in[j] && items[j].key < min) min = items[j].key;
            item_t *top = synq_heap_pop(&h);
            assert_non_null(top);
            assert_int_equal(top->key, min);
            assert_true(in[top->id]);
            in[top->id] = false, count--;
        } else if (op == 2 && in[i]) {
            synq_heap_remove(&h, items[i].idx);
            assert_int_equal(items[i].idx, SYNQ_HEAP_NONE);
            in[i] = false, count--;
        } else if (op == 3 && in[i]) {
            items[i].key = (int)(rng_next(&seed) % 1000);
            synq_heap_update(&h, items[i].idx);
        }
        assert_int_equal(h.len, count);
        if (step % 97 == 0) check_heap(&h);
        for (int j = 0; j < N; j += 50)
            if (!in[j]) assert_int_equal(items[j].idx, SYNQ_HEAP_NONE);
    }
    check_heap(&h);
    synq_heap_release(&h);
}

/* After release the heap can be initialised and used again. */
static void test_release_reuse(void **state)
{
    item_t items[200];
    synq_heap_t h;
    synq_heap_init(&h, item_less, item_set_index);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++) {
            items[i].key = 200 - i;
            synq_heap_push(&h, &items[i]);
        }
        assert_int_equal(((item_t *)synq_heap_peek(&h))->key, 1);
        synq_heap_release(&h);
        assert_int_equal(h.len, 0);
        assert_null(synq_heap_peek(&h));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_push_pop_sorted),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_remove_every_position),
        cmocka_unit_test(test_remove_edges),
        cmocka_unit_test(test_update_every_position),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_release_reuse),
    };
    return cmocka_run_group_tests_name("heap", tests, NULL, NULL);
}
