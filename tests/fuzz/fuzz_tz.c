/* libFuzzer target for core/tz. The input is parsed as TZif data and, as a
 * NUL-terminated string, as a POSIX TZ string. Whatever parses must answer
 * span queries consistently at instants from the whole int64 range: the
 * span holds the instant, its offset is the one synq_tz_offset gives at
 * both ends, its neighbours meet it with the offset it remembers, and
 * neighbouring spans differ (spans are maximal). A POSIX string that parses
 * must also parse as the footer of a TZif file without transitions and give
 * the same offsets there. */
#include "core/tz.h"

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

#define MAX_OFFSET (26 * 3600 - 1)
#define MAX_POSIX_BYTES 1024

static const int64_t fixed_instants[] = {
    INT64_MIN,
    INT64_MIN + 1,
    -(1LL << 59),     /* zic's "big bang" */
    -3217862419200LL, /* year -100000, where the rule stops being evaluated */
    -2208988800LL,    /* 1900 */
    INT32_MIN,
    -1,
    0,
    INT32_MAX,
    1711846800LL,    /* 2024-03-31T01:00Z */
    10419778800LL,   /* 2300-03-11T07:00Z */
    3093527980800LL, /* year 100000 */
    1LL << 59,
    INT64_MAX - 1,
    INT64_MAX,
};

/* The span at t and its two neighbours. */
static void check_span(const synq_tz_t *tz, int64_t t, synq_tz_span_t *out)
{
    synq_tz_span_t s, n;
    synq_tz_span(tz, t, &s);
    CHECK(s.start <= t);
    CHECK(t < s.end || s.end == INT64_MAX);
    CHECK(s.offset >= -MAX_OFFSET && s.offset <= MAX_OFFSET);
    CHECK(synq_tz_offset(tz, t) == s.offset);
    CHECK(synq_tz_offset(tz, s.start) == s.offset);
    if (s.start == INT64_MIN) {
        CHECK(s.prev_offset == s.offset);
    } else {
        synq_tz_span(tz, s.start - 1, &n);
        CHECK(n.end == s.start);
        CHECK(n.offset == s.prev_offset);
        CHECK(n.offset != s.offset);
    }
    if (s.end != INT64_MAX) {
        CHECK(synq_tz_offset(tz, s.end - 1) == s.offset);
        synq_tz_span(tz, s.end, &n);
        CHECK(n.start == s.end);
        CHECK(n.prev_offset == s.offset);
        CHECK(n.offset != s.offset);
    }
    *out = s;
}

static int64_t read_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void check_zone(const synq_tz_t *tz, const uint8_t *data, size_t size)
{
    CHECK(strcmp(synq_tz_name(tz), "fuzz") == 0);
    int64_t ts[SYNQ_ARRAY_LEN(fixed_instants) + 2];
    size_t n = 0;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(fixed_instants); i++)
        ts[n++] = fixed_instants[i];
    /* two instants from the input's last 16 bytes */
    for (size_t k = 1; k <= 2 && size >= 8 * k; k++)
        ts[n++] = read_i64(data + size - 8 * k);
    for (size_t i = 0; i < n; i++) {
        synq_tz_span_t s;
        check_span(tz, ts[i], &s);
        /* a few spans on from there */
        for (int k = 0; k < 3 && s.end != INT64_MAX; k++) {
            synq_tz_span_t next;
            check_span(tz, s.end, &next);
            CHECK(next.start == s.end);
            s = next;
        }
    }
}

/* A TZif v2 file with one type (offset 0) and no transitions, footer `rule`. */
static size_t tzif_with_footer(const char *rule, size_t len, uint8_t *out)
{
    static const uint8_t header[44] = {'T', 'Z', 'i', 'f', '2', [39] = 1, [43] = 1};
    uint8_t *p = out;
    for (int block = 0; block < 2; block++) {
        memcpy(p, header, sizeof header);
        p += sizeof header;
        memset(p, 0, 7); /* one type: offset 0, std, abbreviation 0; one char */
        p += 7;
    }
    *p++ = '\n';
    memcpy(p, rule, len);
    p += len;
    *p++ = '\n';
    return (size_t)(p - out);
}

static void check_posix(const uint8_t *data, size_t size)
{
    if (size > MAX_POSIX_BYTES) return;
    char *s = malloc(size + 1);
    CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    char err[128] = "";
    synq_tz_t *tz = synq_tz_from_posix("fuzz", s, err, sizeof err);
    CHECK(tz != NULL || err[0] != '\0');
    size_t len = strlen(s);
    if (tz != NULL) {
        check_zone(tz, data, size);
        /* the same rule as a footer answers the same */
        CHECK(len > 0 && memchr(s, '\n', len) == NULL);
        uint8_t *file = malloc(2 * 51 + len + 2);
        CHECK(file != NULL);
        size_t flen = tzif_with_footer(s, len, file);
        synq_tz_t *tz2 = synq_tz_parse("fuzz", file, flen, err, sizeof err);
        CHECK(tz2 != NULL);
        for (size_t i = 0; i < SYNQ_ARRAY_LEN(fixed_instants); i++) {
            synq_tz_span_t a, b;
            synq_tz_span(tz, fixed_instants[i], &a);
            synq_tz_span(tz2, fixed_instants[i], &b);
            CHECK(a.start == b.start && a.end == b.end && a.offset == b.offset &&
                  a.prev_offset == b.prev_offset);
        }
        synq_tz_free(tz2);
        free(file);
        synq_tz_free(tz);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128] = "";
    synq_tz_t *tz = synq_tz_parse("fuzz", data, size, err, sizeof err);
    CHECK(tz != NULL || err[0] != '\0');
    if (tz != NULL) {
        check_zone(tz, data, size);
        synq_tz_free(tz);
    }
    check_posix(data, size);
    return 0;
}
