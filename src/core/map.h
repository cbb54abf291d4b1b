/* String-keyed hash map (chaining, power-of-two buckets, grows at load 1).
 * Keys are borrowed: the caller keeps each key alive while it is in the map
 * (typically the key is a field of the value). Values are borrowed too. */
#ifndef SYNQ_CORE_MAP_H
#define SYNQ_CORE_MAP_H

#include "core/common.h"

typedef struct synq_map_entry_s synq_map_entry_t;

typedef struct synq_map_s {
    synq_map_entry_t **buckets;
    size_t nbuckets;
    size_t len;
} synq_map_t;

void synq_map_init(synq_map_t *m);
/* Frees the map's own memory; keys and values are the caller's. */
void synq_map_release(synq_map_t *m);
void *synq_map_get(const synq_map_t *m, const char *key);
/* Inserts or replaces. Returns the previous value or NULL. */
void *synq_map_put(synq_map_t *m, const char *key, void *value);
/* Removes key. Returns its value or NULL. */
void *synq_map_del(synq_map_t *m, const char *key);
/* Iteration: call with *it = NULL first; returns false at the end. Do not
 * modify the map while iterating. */
bool synq_map_next(const synq_map_t *m, void **it, const char **key, void **value);

#endif
