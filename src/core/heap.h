/* Binary min-heap of pointers. The caller supplies the order (less) and an
 * index callback so an element can remember its slot and be removed or
 * re-positioned in O(log n). Embedded by the caller: _init / _release. */
#ifndef SYNQ_CORE_HEAP_H
#define SYNQ_CORE_HEAP_H

#include "core/common.h"

#define SYNQ_HEAP_NONE ((size_t)-1)

typedef bool (*synq_heap_less_cb)(const void *a, const void *b);
typedef void (*synq_heap_index_cb)(void *item, size_t idx);

typedef struct synq_heap_s {
    void **items;
    size_t len;
    size_t cap;
    synq_heap_less_cb less;
    synq_heap_index_cb set_index;
} synq_heap_t;

void synq_heap_init(synq_heap_t *h, synq_heap_less_cb less, synq_heap_index_cb set_index);
/* Frees the array only; items are borrowed. */
void synq_heap_release(synq_heap_t *h);
void synq_heap_push(synq_heap_t *h, void *item);
/* Smallest item or NULL. */
void *synq_heap_peek(const synq_heap_t *h);
void *synq_heap_pop(synq_heap_t *h);
/* Removes the item at idx (as reported by set_index); its index becomes SYNQ_HEAP_NONE. */
void synq_heap_remove(synq_heap_t *h, size_t idx);
/* Restores order after the key of the item at idx changed. */
void synq_heap_update(synq_heap_t *h, size_t idx);

#endif
