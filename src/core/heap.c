/* Binary min-heap with position tracking (for timers that get cancelled). */
#include "core/heap.h"

#include <stdlib.h>

void synq_heap_init(synq_heap_t *h, synq_heap_less_cb less, synq_heap_index_cb set_index)
{
    h->items = NULL;
    h->len = h->cap = 0;
    h->less = less;
    h->set_index = set_index;
}

void synq_heap_release(synq_heap_t *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}

static void put(synq_heap_t *h, size_t i, void *item)
{
    h->items[i] = item;
    h->set_index(item, i);
}

static void sift_up(synq_heap_t *h, size_t i)
{
    void *item = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->less(item, h->items[parent])) break;
        put(h, i, h->items[parent]);
        i = parent;
    }
    put(h, i, item);
}

static void sift_down(synq_heap_t *h, size_t i)
{
    void *item = h->items[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        void *best = item;
        if (l < h->len && h->less(h->items[l], best)) m = l, best = h->items[l];
        if (r < h->len && h->less(h->items[r], best)) m = r;
        if (m == i) break;
        put(h, i, h->items[m]);
        i = m;
    }
    put(h, i, item);
}

void synq_heap_push(synq_heap_t *h, void *item)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = synq_realloc(h->items, h->cap * sizeof *h->items);
    }
    h->items[h->len++] = item;
    sift_up(h, h->len - 1);
}

void *synq_heap_peek(const synq_heap_t *h)
{
    return h->len ? h->items[0] : NULL;
}

void *synq_heap_pop(synq_heap_t *h)
{
    if (h->len == 0) return NULL;
    void *top = h->items[0];
    synq_heap_remove(h, 0);
    return top;
}

void synq_heap_remove(synq_heap_t *h, size_t idx)
{
    if (idx >= h->len) return;
    void *gone = h->items[idx];
    h->len--;
    if (idx != h->len) {
        h->items[idx] = h->items[h->len];
        h->set_index(h->items[idx], idx);
        synq_heap_update(h, idx);
    }
    h->set_index(gone, SYNQ_HEAP_NONE);
}

void synq_heap_update(synq_heap_t *h, size_t idx)
{
    if (idx > 0 && h->less(h->items[idx], h->items[(idx - 1) / 2]))
        sift_up(h, idx);
    else
        sift_down(h, idx);
}
