/* ULID-style id generation. Monotonic: within one millisecond the random part
 * is incremented, so ids from one process sort in creation order. */
#include "core/id.h"

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void synq_idgen_init(synq_idgen_t *g, uint64_t seed_hi, uint64_t seed_lo)
{
    g->last_ms = 0;
    g->hi = seed_hi & 0xffff;
    g->lo = seed_lo;
}

void synq_idgen_next(synq_idgen_t *g, uint64_t now_ms, char out[SYNQ_ID_LEN + 1])
{
    if (now_ms <= g->last_ms) {
        now_ms = g->last_ms; /* clock went back or same ms: keep increasing */
        if (++g->lo == 0) g->hi = (g->hi + 1) & 0xffff;
    } else {
        /* new millisecond: keep randomness but reset the carry headroom */
        g->lo = (g->lo * 6364136223846793005ULL + 1442695040888963407ULL) >> 1;
    }
    g->last_ms = now_ms;
    /* 48-bit time -> 10 chars (first char holds 3 bits) */
    uint64_t t = now_ms & 0xffffffffffffULL;
    for (int i = 9; i >= 0; i--) {
        out[i] = b32[t & 31];
        t >>= 5;
    }
    /* 80 random bits -> 16 chars: hi (16 bits) and lo (64 bits) */
    uint64_t lo = g->lo, hi = g->hi;
    for (int i = 25; i >= 10; i--) {
        out[i] = b32[lo & 31];
        lo = (lo >> 5) | ((hi & 31) << 59);
        hi >>= 5;
    }
    out[SYNQ_ID_LEN] = '\0';
}

bool synq_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > 128) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return false;
    }
    return true;
}
