/* Job ids: 26-character, time-sortable, unique (ULID layout: 48-bit
 * millisecond timestamp then 80 bits, Crockford base32). Ids made by one
 * generator are strictly increasing even within a millisecond. */
#ifndef SYNQ_CORE_ID_H
#define SYNQ_CORE_ID_H

#include "core/common.h"

#define SYNQ_ID_LEN 26

typedef struct synq_idgen_s {
    uint64_t last_ms;
    uint64_t hi; /* top 16 of the 80 random bits */
    uint64_t lo; /* low 64 of the 80 random bits */
} synq_idgen_t;

/* seed: random bits for the first id (from the caller's entropy source). */
void synq_idgen_init(synq_idgen_t *g, uint64_t seed_hi, uint64_t seed_lo);
/* Writes SYNQ_ID_LEN characters and a NUL into out for time now_ms. */
void synq_idgen_next(synq_idgen_t *g, uint64_t now_ms, char out[SYNQ_ID_LEN + 1]);
/* True if s is a valid client-given id: 1-128 of [A-Za-z0-9_.:-]. */
bool synq_id_valid(const char *s, size_t len);

#endif
