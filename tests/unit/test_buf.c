/* Unit tests for core/buf: the growable NUL-terminated byte buffer and the
 * JSON string escaper. Growth is exercised at every prefix length around the
 * first reallocation so a write past the end shows up under ASan. */
#include "core/buf.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The buffer's own invariant: data is NUL-terminated and len < cap. */
static void assert_buf_ok(const synq_buf_t *b)
{
    if (b->data == NULL) {
        assert_int_equal(b->len, 0);
        assert_int_equal(b->cap, 0);
        return;
    }
    assert_true(b->len < b->cap);
    assert_int_equal(b->data[b->len], '\0');
}

static void test_init_release(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    synq_buf_release(&b); /* releasing an empty buffer is fine */
    assert_null(b.data);
    synq_buf_puts(&b, "x");
    synq_buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    synq_buf_release(&b); /* and twice */
}

static void test_append_puts_putc(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "abc", 3);
    assert_buf_ok(&b);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    synq_buf_puts(&b, "def");
    synq_buf_putc(&b, 'g');
    assert_buf_ok(&b);
    assert_string_equal(b.data, "abcdefg");
    synq_buf_puts(&b, "");
    assert_int_equal(b.len, 7);
    /* binary content, NUL included */
    synq_buf_append(&b, "\0\xff\x01", 3);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "abcdefg\0\xff\x01", 10);
    assert_buf_ok(&b);
    synq_buf_putc(&b, '\0');
    assert_int_equal(b.len, 11);
    assert_buf_ok(&b);
    synq_buf_release(&b);
}

static void test_append_nothing_to_empty(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_append(&b, "", 0);
    assert_non_null(b.data); /* readable as "" afterwards */
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_buf_ok(&b);
    synq_buf_release(&b);
}

static void test_grow_byte_by_byte(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    for (size_t i = 0; i < 20000; i++) {
        synq_buf_putc(&b, (char)('a' + i % 26));
        assert_int_equal(b.len, i + 1);
        assert_buf_ok(&b);
    }
    for (size_t i = 0; i < 20000; i++) assert_int_equal(b.data[i], 'a' + i % 26);
    synq_buf_release(&b);
}

static void test_grow_big_append(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    size_t n = 1 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) big[i] = (char)(i * 7);
    synq_buf_putc(&b, '<');
    synq_buf_append(&b, big, n);
    synq_buf_putc(&b, '>');
    assert_buf_ok(&b);
    assert_int_equal(b.len, n + 2);
    assert_int_equal(b.data[0], '<');
    assert_memory_equal(b.data + 1, big, n);
    assert_int_equal(b.data[n + 1], '>');
    free(big);
    synq_buf_release(&b);
}

static void test_reserve(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_reserve(&b, 0);
    assert_non_null(b.data);
    assert_true(b.cap >= 1);
    for (size_t prefix = 0; prefix < 600; prefix += 37) {
        synq_buf_release(&b);
        for (size_t i = 0; i < prefix; i++) synq_buf_putc(&b, 'p');
        synq_buf_reserve(&b, 1000);
        assert_true(b.cap >= b.len + 1000 + 1);
        /* no reallocation while filling the reserved room */
        char *before = b.data;
        for (size_t i = 0; i < 1000; i++) synq_buf_putc(&b, 'r');
        assert_ptr_equal(b.data, before);
        assert_int_equal(b.len, prefix + 1000);
        assert_buf_ok(&b);
    }
    /* reserving less than what is free changes nothing */
    size_t cap = b.cap;
    char *data = b.data;
    synq_buf_reserve(&b, b.cap - b.len - 1);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    synq_buf_release(&b);
}

static void test_printf(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_printf(&b, "%d-%s-%c", 42, "x", 'y');
    assert_string_equal(b.data, "42-x-y");
    assert_int_equal(b.len, 6);
    synq_buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 6);
    synq_buf_printf(&b, "|%lld", (long long)INT64_MIN);
    assert_string_equal(b.data, "42-x-y|-9223372036854775808");
    assert_buf_ok(&b);
    synq_buf_release(&b);
}

/* Output lengths around the 256-byte stack buffer used by printf, appended at
 * every prefix length around the buffer's first growth. */
static void test_printf_long_every_prefix(void **state)
{
    char arg[2000];
    for (size_t i = 0; i < sizeof arg - 1; i++) arg[i] = (char)('A' + i % 26);
    static const size_t lens[] = {0, 1, 254, 255, 256, 257, 511, 512, 513, 1999};
    for (size_t li = 0; li < SYNQ_ARRAY_LEN(lens); li++) {
        size_t n = lens[li];
        for (size_t prefix = 0; prefix < 600; prefix++) {
            synq_buf_t b;
            synq_buf_init(&b);
            for (size_t i = 0; i < prefix; i++) synq_buf_putc(&b, '.');
            synq_buf_printf(&b, "[%.*s]", (int)n, arg);
            assert_int_equal(b.len, prefix + n + 2);
            assert_buf_ok(&b);
            assert_int_equal(b.data[prefix], '[');
            assert_memory_equal(b.data + prefix + 1, arg, n);
            assert_int_equal(b.data[prefix + n + 1], ']');
            synq_buf_putc(&b, '!');
            assert_int_equal(b.data[prefix + n + 2], '!');
            assert_buf_ok(&b);
            synq_buf_release(&b);
        }
    }
}

static void test_consume(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_consume(&b, 0); /* on a never-used buffer */
    synq_buf_consume(&b, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    synq_buf_puts(&b, "hello world");
    synq_buf_consume(&b, 0);
    assert_string_equal(b.data, "hello world");
    synq_buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    assert_int_equal(b.len, 5);
    assert_buf_ok(&b);
    synq_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    synq_buf_puts(&b, "abc");
    synq_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_buf_ok(&b);
    /* still usable */
    synq_buf_puts(&b, "xyz");
    assert_string_equal(b.data, "xyz");
    synq_buf_release(&b);
}

/* A reader consuming a stream in chunks of every size sees every byte once. */
static void test_consume_every_chunk_size(void **state)
{
    char src[300];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i & 0xff);
    for (size_t chunk = 1; chunk <= sizeof src; chunk++) {
        synq_buf_t b;
        synq_buf_init(&b);
        synq_buf_append(&b, src, sizeof src);
        size_t seen = 0;
        while (b.len) {
            size_t k = SYNQ_MIN(chunk, b.len);
            assert_memory_equal(b.data, src + seen, k);
            synq_buf_consume(&b, k);
            seen += k;
            assert_buf_ok(&b);
        }
        assert_int_equal(seen, sizeof src);
        synq_buf_release(&b);
    }
}

static void test_steal(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "owned");
    size_t len = 99;
    char *p = synq_buf_steal(&b, &len);
    assert_string_equal(p, "owned");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(p);

    /* from an empty buffer: "" that can be freed */
    p = synq_buf_steal(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    assert_null(b.data);
    free(p);

    /* len may be NULL; the buffer is reusable after a steal */
    synq_buf_puts(&b, "again");
    p = synq_buf_steal(&b, NULL);
    assert_string_equal(p, "again");
    free(p);
    synq_buf_puts(&b, "third");
    assert_string_equal(b.data, "third");
    synq_buf_release(&b);
}

static char *escape(const char *s, size_t n)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_json_str(&b, s, n);
    return synq_buf_steal(&b, NULL);
}

static void test_json_str_exact(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 5, "\"plain\""},
        {"\"", 1, "\"\\\"\""},
        {"\\", 1, "\"\\\\\""},
        {"\n", 1, "\"\\n\""},
        {"\r", 1, "\"\\r\""},
        {"\t", 1, "\"\\t\""},
        {"\b", 1, "\"\\u0008\""},
        {"\f", 1, "\"\\u000c\""},
        {"\x1f", 1, "\"\\u001f\""},
        {"\x01", 1, "\"\\u0001\""},
        {"\0", 1, "\"\\u0000\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x7f", 1, "\"\x7f\""},
        {"/", 1, "\"/\""},
        {" ", 1, "\" \""},
        {"\xc3\xa9\xe2\x82\xac", 5, "\"\xc3\xa9\xe2\x82\xac\""}, /* é€ kept as UTF-8 */
        {"a\"b\\c\nd", 7, "\"a\\\"b\\\\c\\nd\""},
        {"\"\"", 2, "\"\\\"\\\"\""},
        {"x\n", 2, "\"x\\n\""},
        {"\nx", 2, "\"\\nx\""},
        {"only n bytes", 4, "\"only\""},
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        char *got = escape(cases[i].in, cases[i].n);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

/* Every single ASCII byte, and each at the start, middle and end of a run of
 * plain bytes, decodes back to itself with a real JSON parser. */
static void test_json_str_every_ascii_byte(void **state)
{
    for (int c = 0; c < 0x80; c++) {
        for (int pos = 0; pos < 3; pos++) {
            char in[5] = "abcd";
            size_t n = 4;
            size_t at = pos == 0 ? 0 : pos == 1 ? 2 : 3;
            in[at] = (char)c;
            char *out = escape(in, n);
            json_error_t e;
            json_t *v = json_loads(out, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
            assert_non_null(v);
            assert_true(json_is_string(v));
            assert_int_equal(json_string_length(v), n);
            assert_memory_equal(json_string_value(v), in, n);
            /* control characters are never written raw (RFC 8259 section 7) */
            for (const char *p = out; *p; p++) assert_true((unsigned char)*p >= 0x20);
            json_decref(v);
            free(out);
        }
    }
}

/* A string full of escapes, written after every prefix length so the
 * escaper's reallocation happens at every position inside it. */
static void test_json_str_every_prefix(void **state)
{
    char in[200];
    for (size_t i = 0; i < sizeof in; i++) {
        static const char pool[] = "ab\"\\\n\r\t\x01\x1f /\x7f";
        in[i] = pool[i % (sizeof pool - 1)];
    }
    char *ref = escape(in, sizeof in);
    size_t reflen = strlen(ref);
    for (size_t prefix = 0; prefix < 700; prefix++) {
        synq_buf_t b;
        synq_buf_init(&b);
        for (size_t i = 0; i < prefix; i++) synq_buf_putc(&b, '#');
        synq_buf_json_str(&b, in, sizeof in);
        assert_buf_ok(&b);
        assert_int_equal(b.len, prefix + reflen);
        assert_memory_equal(b.data + prefix, ref, reflen);
        synq_buf_release(&b);
    }
    free(ref);
}

/* Random UTF-8 text with controls: escape then parse gives the same bytes. */
static void test_json_str_random_round_trip(void **state)
{
    uint32_t x = 12345;
    for (int iter = 0; iter < 2000; iter++) {
        char in[64];
        size_t n = 0;
        size_t want = (size_t)(x % 60);
        while (n < want) {
            x = x * 1103515245u + 12345u;
            unsigned r = (x >> 16) % 10;
            if (r < 5) {
                in[n++] = (char)((x >> 8) & 0x7f);
            } else if (r < 7 && n + 2 <= want) {
                in[n++] = (char)0xc3, in[n++] = (char)0xa9; /* é */
            } else if (r < 8 && n + 3 <= want) {
                in[n++] = (char)0xe2, in[n++] = (char)0x82, in[n++] = (char)0xac; /* € */
            } else {
                in[n++] = "\"\\\n"[(x >> 20) % 3];
            }
        }
        char *out = escape(in, n);
        json_error_t e;
        json_t *v = json_loads(out, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        assert_non_null(v);
        assert_int_equal(json_string_length(v), n);
        assert_memory_equal(json_string_value(v), in, n);
        json_decref(v);
        free(out);
    }
}

/* synq_buf_utf8 keeps well-formed UTF-8 and replaces each bad byte (and NUL)
 * by U+FFFD. */
static void check_utf8(const char *in, size_t n, const char *want)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_utf8(&b, in, n);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data ? b.data : "", want, b.len);
    synq_buf_release(&b);
}

static void test_utf8_clean(void **state)
{
    (void)state;
    check_utf8("", 0, "");
    check_utf8("plain ascii", 11, "plain ascii");
    check_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    check_utf8("\xff\xfe ok", 5, "\xef\xbf\xbd\xef\xbf\xbd ok");
    check_utf8("a\0b", 3, "a\xef\xbf\xbd" "b");
    check_utf8("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");             /* overlong '/' */
    check_utf8("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    check_utf8("\xf4\x90\x80\x80", 4,
               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
    check_utf8("x\xe2\x82", 3, "x\xef\xbf\xbd\xef\xbf\xbd");           /* cut at the end */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_release),
        cmocka_unit_test(test_append_puts_putc),
        cmocka_unit_test(test_append_nothing_to_empty),
        cmocka_unit_test(test_grow_byte_by_byte),
        cmocka_unit_test(test_grow_big_append),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_long_every_prefix),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_consume_every_chunk_size),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_json_str_exact),
        cmocka_unit_test(test_json_str_every_ascii_byte),
        cmocka_unit_test(test_json_str_every_prefix),
        cmocka_unit_test(test_json_str_random_round_trip),
        cmocka_unit_test(test_utf8_clean),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
