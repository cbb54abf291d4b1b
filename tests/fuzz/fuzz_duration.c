/* Fuzz target for core/timeutil: synq_duration_parse and synq_rfc3339_parse
 * on the same bytes, and synq_rfc3339_format on an integer taken from them.
 * Invariants (abort on violation):
 *  durations  - agrees exactly with a small reference parser written from the
 *               header's grammar (exact integer arithmetic, so "0.7d" is
 *               60480000000 us); result in 0..100 years; "<v>us" parses to v;
 *               split between unit groups, a ++ b parses to a + b.
 *  timestamps - what parses formats back (4-digit year, 27 bytes) and parses
 *               to the same instant; 'T'/'t'/' ' and 'Z'/'z' mean the same;
 *               a numeric offset equals the Z time shifted by it; canonical
 *               input is reproduced byte for byte; no proper prefix parses.
 *  format     - any instant in years 0000..9999 formats and parses back. */
#include "core/timeutil.h"

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

#define SEC SYNQ_US_PER_SEC
#define MAX_US (100LL * 365 * 86400 * SEC)
#define MIN_T (-62167219200LL * SEC)           /* 0000-01-01T00:00:00Z */
#define MAX_T (253402300799LL * SEC + 999999) /* 9999-12-31T23:59:59.999999Z */

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Reference duration parser: groups of <digits>[.<digits>]<unit>, units us ms
 * s m h d, a lone bare number means seconds, at most 100 years. Each group is
 * worth floor(number * unit) microseconds, computed exactly; like the real
 * parser it reads at most 9 fraction digits. */
static int ref_duration(const uint8_t *s, size_t len, int64_t *out)
{
    if (len == 0) return -1;
    __int128 total = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = i, ndigits = 0;
        __int128 whole = 0;
        while (i < len && is_digit(s[i])) {
            if (whole <= MAX_US) whole = whole * 10 + (s[i] - '0');
            i++, ndigits++;
        }
        int64_t frac = 0, div = 1;
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && is_digit(s[i])) {
                if (div < 1000000000LL) frac = frac * 10 + (s[i] - '0'), div *= 10;
                i++, ndigits++;
            }
        }
        if (ndigits == 0) return -1;
        int64_t unit;
        if (i == len) {
            if (start != 0) return -1;
            unit = SEC;
        } else if (len - i >= 2 && s[i] == 'u' && s[i + 1] == 's') {
            unit = 1, i += 2;
        } else if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') {
            unit = 1000, i += 2;
        } else if (s[i] == 's') {
            unit = SEC, i++;
        } else if (s[i] == 'm') {
            unit = 60 * SEC, i++;
        } else if (s[i] == 'h') {
            unit = 3600 * SEC, i++;
        } else if (s[i] == 'd') {
            unit = 86400 * SEC, i++;
        } else {
            return -1;
        }
        total += whole * unit + (__int128)frac * unit / div;
        if (total > MAX_US) total = MAX_US + 1; /* stays out of range, no overflow */
    }
    if (total > MAX_US) return -1;
    *out = (int64_t)total;
    return 0;
}

static bool ends_with_unit(const uint8_t *s, size_t n)
{
    return n > 0 && s[n - 1] >= 'a' && s[n - 1] <= 'z';
}

static void check_duration(const uint8_t *data, size_t size)
{
    int64_t v = -1, ref = -1;
    int r = synq_duration_parse((const char *)data, size, &v);
    int rr = ref_duration(data, size, &ref);
    if ((r == 0) != (rr == 0) || (r == 0 && v != ref)) {
        fprintf(stderr, "duration \"%.*s\": parse r=%d v=%lld, reference r=%d v=%lld\n", (int)size,
                (const char *)data, r, (long long)v, rr, (long long)ref);
        abort();
    }
    CHECK(r == 0 || r == SYNQ_EINVAL);
    if (r != 0) return;
    CHECK(v >= 0 && v <= MAX_US);

    char canon[32];
    int n = snprintf(canon, sizeof canon, "%lldus", (long long)v);
    int64_t back = -1;
    CHECK(synq_duration_parse(canon, (size_t)n, &back) == 0 && back == v);

    /* a ++ b == a + b when both halves end in a unit */
    if (size > 64 || !ends_with_unit(data, size)) return;
    for (size_t k = 1; k < size; k++) {
        int64_t a, b;
        if (!ends_with_unit(data, k)) continue;
        if (synq_duration_parse((const char *)data, k, &a) != 0) continue;
        if (synq_duration_parse((const char *)data + k, size - k, &b) != 0) continue;
        CHECK(a + b == v);
    }
}

static void check_timestamp(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int64_t t = 0;
    int r = synq_rfc3339_parse(s, size, &t);
    CHECK(r == 0 || r == SYNQ_EINVAL);
    if (r != 0) return;

    /* what parses is representable and survives format -> parse */
    if (t < MIN_T || t > MAX_T) {
        fprintf(stderr, "timestamp \"%.*s\" parsed to %lld, outside years 0000..9999\n", (int)size,
                s, (long long)t);
        abort();
    }
    char out[32];
    size_t n = synq_rfc3339_format(t, out);
    CHECK(n == 27 && strlen(out) == 27);
    int64_t back = 0;
    CHECK(synq_rfc3339_parse(out, n, &back) == 0);
    CHECK(back == t);

    /* canonical input comes back byte for byte (":60" is clamped, so not that) */
    if (size == 27 && s[10] == 'T' && s[19] == '.' && s[26] == 'Z' && !(s[17] == '6'))
        CHECK(memcmp(out, s, 27) == 0);

    /* no proper prefix is a complete time */
    if (size <= 128)
        for (size_t k = 0; k < size; k++) CHECK(synq_rfc3339_parse(s, k, &back) != 0);

    if (size > 256) return;
    char m[256];
    memcpy(m, s, size);
    /* the date-time separator's three spellings */
    static const char seps[] = "Tt ";
    for (int i = 0; i < 3; i++) {
        m[10] = seps[i];
        CHECK(synq_rfc3339_parse(m, size, &back) == 0 && back == t);
    }
    m[10] = s[10];
    if (s[size - 1] == 'Z' || s[size - 1] == 'z') {
        m[size - 1] = (char)(s[size - 1] ^ 0x20);
        CHECK(synq_rfc3339_parse(m, size, &back) == 0 && back == t);
    } else {
        /* "+hh:mm" or "-hh:mm": the same wall time in UTC is t + offset */
        CHECK(size >= 25);
        const char *o = s + size - 6;
        CHECK((o[0] == '+' || o[0] == '-') && o[3] == ':');
        int64_t off = ((o[1] - '0') * 10 + (o[2] - '0')) * 3600 + ((o[4] - '0') * 10 + (o[5] - '0')) * 60;
        if (o[0] == '-') off = -off;
        memcpy(m, s, size - 6);
        m[size - 6] = 'Z';
        int64_t z = 0;
        CHECK(synq_rfc3339_parse(m, size - 5, &z) == 0);
        CHECK(t == z - off * SEC);
    }
}

/* The first 8 bytes as an instant folded into 0000..9999. */
static void check_format(const uint8_t *data, size_t size)
{
    if (size < 8) return;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | data[i];
    int64_t t = MIN_T + (int64_t)(u % (uint64_t)(MAX_T - MIN_T + 1));
    char out[32];
    size_t n = synq_rfc3339_format(t, out);
    CHECK(n == 27);
    int64_t back = 0;
    CHECK(synq_rfc3339_parse(out, n, &back) == 0 && back == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_duration(data, size);
    check_timestamp(data, size);
    check_format(data, size);
    return 0;
}
