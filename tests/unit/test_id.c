/* Unit tests for core/id: the ULID layout (48-bit ms time then 80 bits,
 * Crockford base32), strict monotonicity within one generator (same ms,
 * clock going back, carry out of the low 64 bits), and id validation. */
#include "core/id.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int b32_value(char c)
{
    const char *p = strchr(crockford, c);
    return p && c ? (int)(p - crockford) : -1;
}

static void assert_id_shape(const char *id)
{
    assert_int_equal(strlen(id), SYNQ_ID_LEN);
    for (int i = 0; i < SYNQ_ID_LEN; i++) assert_true(b32_value(id[i]) >= 0);
    assert_true(id[0] <= '7'); /* the first character holds only 3 bits */
    assert_true(synq_id_valid(id, SYNQ_ID_LEN));
}

static uint64_t decode_time(const char *id)
{
    uint64_t t = 0;
    for (int i = 0; i < 10; i++) t = t * 32 + (uint64_t)b32_value(id[i]);
    return t;
}

static unsigned __int128 decode_random(const char *id)
{
    unsigned __int128 v = 0;
    for (int i = 10; i < SYNQ_ID_LEN; i++) v = v * 32 + (unsigned)b32_value(id[i]);
    return v;
}

static void test_alphabet_sorted(void **state)
{
    /* ids sort as strings only if the alphabet is in ASCII order */
    for (size_t i = 1; i < sizeof crockford - 1; i++) assert_true(crockford[i - 1] < crockford[i]);
}

static void test_shape_and_time(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 0x1234, 0x56789abcdef01234ULL);
    char id[SYNQ_ID_LEN + 1];
    memset(id, 'x', sizeof id);
    /* the ULID specification's example timestamp */
    synq_idgen_next(&g, 1469918176385ULL, id);
    assert_id_shape(id);
    assert_memory_equal(id, "01ARYZ6S41", 10);
    assert_int_equal(id[SYNQ_ID_LEN], '\0');
    assert_int_equal(decode_time(id), 1469918176385ULL);

    static const uint64_t times[] = {1, 31, 32, 1000, 1767225600000ULL, 0xfffffffffffeULL,
                                     0xffffffffffffULL};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(times); i++) {
        synq_idgen_init(&g, i, i * 3);
        synq_idgen_next(&g, times[i], id);
        assert_id_shape(id);
        assert_int_equal(decode_time(id), times[i]);
    }
    assert_memory_equal(id, "7ZZZZZZZZZ", 10);
}

/* Seeds go into the 80 random bits: 16 from hi, 64 from lo. In the same
 * millisecond as the last id (0 right after init) the low part is bumped. */
static void test_seed_layout(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 0xffffffffffffabcdULL, 41);
    char id[SYNQ_ID_LEN + 1];
    synq_idgen_next(&g, 0, id);
    assert_id_shape(id);
    assert_memory_equal(id, "0000000000", 10);
    unsigned __int128 want = ((unsigned __int128)0xabcd << 64) | 42;
    assert_true(decode_random(id) == want);
}

static void test_monotonic_same_ms(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 99, 12345);
    char prev[SYNQ_ID_LEN + 1], id[SYNQ_ID_LEN + 1];
    synq_idgen_next(&g, 1767225600000ULL, prev);
    for (int i = 0; i < 200000; i++) {
        synq_idgen_next(&g, 1767225600000ULL, id);
        assert_id_shape(id);
        assert_true(strcmp(prev, id) < 0);
        assert_int_equal(decode_time(id), 1767225600000ULL);
        memcpy(prev, id, sizeof id);
    }
}

static void test_monotonic_clock_back(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 5, 6);
    char prev[SYNQ_ID_LEN + 1], id[SYNQ_ID_LEN + 1];
    synq_idgen_next(&g, 5000, prev);
    static const uint64_t times[] = {4999, 1, 0, 5000, 5001, 5001, 3000, 6000, 5999, 1ULL << 40};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(times); i++) {
        synq_idgen_next(&g, times[i], id);
        assert_id_shape(id);
        assert_true(strcmp(prev, id) < 0);
        assert_true(decode_time(id) >= decode_time(prev));
        memcpy(prev, id, sizeof id);
    }
}

/* The low 64 random bits wrap: the carry goes into the top 16 bits. */
static void test_monotonic_carry(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 0x00ff, UINT64_MAX - 3);
    char prev[SYNQ_ID_LEN + 1], id[SYNQ_ID_LEN + 1];
    synq_idgen_next(&g, 0, prev);
    for (int i = 0; i < 6; i++) {
        synq_idgen_next(&g, 0, id);
        assert_id_shape(id);
        assert_true(strcmp(prev, id) < 0);
        assert_true(decode_random(id) == decode_random(prev) + 1);
        memcpy(prev, id, sizeof id);
    }
    assert_true((uint64_t)(decode_random(id) >> 64) == 0x0100);
}

/* Advancing time: ids sort in time order, whatever the random part. */
static void test_monotonic_advancing(void **state)
{
    synq_idgen_t g;
    synq_idgen_init(&g, 0xffff, UINT64_MAX);
    char prev[SYNQ_ID_LEN + 1], id[SYNQ_ID_LEN + 1];
    uint64_t t = 1700000000000ULL;
    synq_idgen_next(&g, t, prev);
    uint32_t x = 1;
    for (int i = 0; i < 100000; i++) {
        x = x * 1664525u + 1013904223u;
        t += (x >> 28) % 3; /* 0, 1 or 2 ms later */
        synq_idgen_next(&g, t, id);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
}

static void test_generators_differ(void **state)
{
    synq_idgen_t a, b;
    synq_idgen_init(&a, 1, 1);
    synq_idgen_init(&b, 1, 2);
    char ia[SYNQ_ID_LEN + 1], ib[SYNQ_ID_LEN + 1];
    for (uint64_t t = 1000; t < 1100; t++) {
        synq_idgen_next(&a, t, ia);
        synq_idgen_next(&b, t, ib);
        assert_memory_equal(ia, ib, 10);
        assert_string_not_equal(ia, ib);
    }
}

static void test_valid_chars(void **state)
{
    for (int c = 0; c < 256; c++) {
        char s[3] = {'a', (char)c, 'b'};
        bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == ':';
        assert_int_equal(synq_id_valid(s, 3), want);
        assert_int_equal(synq_id_valid(s + 1, 1), want);
    }
}

static void test_valid_lengths(void **state)
{
    char s[200];
    memset(s, 'a', sizeof s);
    assert_false(synq_id_valid(s, 0));
    assert_false(synq_id_valid("", 0));
    assert_true(synq_id_valid(s, 1));
    assert_true(synq_id_valid(s, 127));
    assert_true(synq_id_valid(s, 128));
    assert_false(synq_id_valid(s, 129));
    assert_false(synq_id_valid(s, 200));
    /* only len bytes are looked at: no NUL needed, a trailing bad byte ignored */
    char *exact = malloc(5);
    memcpy(exact, "ab:c!", 5);
    assert_true(synq_id_valid(exact, 4));
    assert_false(synq_id_valid(exact, 5));
    free(exact);
    /* an embedded NUL is not an id character */
    assert_false(synq_id_valid("ab\0cd", 5));
    assert_true(synq_id_valid("job-1.retry:2_x", 15));
    assert_false(synq_id_valid("a b", 3));
    assert_false(synq_id_valid("a/b", 3));
    assert_false(synq_id_valid("\xc3\xa9", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alphabet_sorted),
        cmocka_unit_test(test_shape_and_time),
        cmocka_unit_test(test_seed_layout),
        cmocka_unit_test(test_monotonic_same_ms),
        cmocka_unit_test(test_monotonic_clock_back),
        cmocka_unit_test(test_monotonic_carry),
        cmocka_unit_test(test_monotonic_advancing),
        cmocka_unit_test(test_generators_differ),
        cmocka_unit_test(test_valid_chars),
        cmocka_unit_test(test_valid_lengths),
    };
    return cmocka_run_group_tests_name("id", tests, NULL, NULL);
}
