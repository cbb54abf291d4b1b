/* Chained hash map with FNV-1a hashing. */
#include "core/map.h"

#include <stdlib.h>
#include <string.h>

struct synq_map_entry_s {
    const char *key;
    void *value;
    uint64_t hash;
    synq_map_entry_t *next;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void synq_map_init(synq_map_t *m)
{
    m->buckets = NULL;
    m->nbuckets = 0;
    m->len = 0;
}

void synq_map_release(synq_map_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        synq_map_entry_t *e = m->buckets[i];
        while (e) {
            synq_map_entry_t *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    synq_map_init(m);
}

static synq_map_entry_t **find(const synq_map_t *m, const char *key, uint64_t h)
{
    if (m->nbuckets == 0) return NULL;
    synq_map_entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0)) pp = &(*pp)->next;
    return pp;
}

void *synq_map_get(const synq_map_t *m, const char *key)
{
    synq_map_entry_t **pp = find(m, key, hash_str(key));
    return pp && *pp ? (*pp)->value : NULL;
}

static void grow(synq_map_t *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
    synq_map_entry_t **b = synq_calloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++) {
        synq_map_entry_t *e = m->buckets[i];
        while (e) {
            synq_map_entry_t *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *synq_map_put(synq_map_t *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    synq_map_entry_t **pp = find(m, key, h);
    if (pp && *pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        (*pp)->key = key;
        return old;
    }
    if (m->len >= m->nbuckets) grow(m);
    synq_map_entry_t *e = synq_malloc(sizeof *e);
    e->key = key;
    e->value = value;
    e->hash = h;
    size_t i = h & (m->nbuckets - 1);
    e->next = m->buckets[i];
    m->buckets[i] = e;
    m->len++;
    return NULL;
}

void *synq_map_del(synq_map_t *m, const char *key)
{
    synq_map_entry_t **pp = find(m, key, hash_str(key));
    if (pp == NULL || *pp == NULL) return NULL;
    synq_map_entry_t *e = *pp;
    void *v = e->value;
    *pp = e->next;
    free(e);
    m->len--;
    return v;
}

bool synq_map_next(const synq_map_t *m, void **it, const char **key, void **value)
{
    synq_map_entry_t *e = *it;
    size_t b = 0;
    if (e) {
        if (e->next) {
            e = e->next;
            goto found;
        }
        b = (e->hash & (m->nbuckets - 1)) + 1;
    }
    for (; b < m->nbuckets; b++) {
        if (m->buckets[b]) {
            e = m->buckets[b];
            goto found;
        }
    }
    return false;
found:
    *it = e;
    if (key) *key = e->key;
    if (value) *value = e->value;
    return true;
}
