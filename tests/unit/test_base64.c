/* Unit tests for core/base64: the RFC 4648 §10 vectors in both alphabets,
 * round trips of every byte value, and what decoding refuses. */
#include "core/base64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < 7; i++) {
        synq_buf_t b;
        synq_buf_init(&b);
        synq_b64_encode(SYNQ_B64_STD, plain[i], strlen(plain[i]), &b);
        assert_int_equal(b.len, synq_b64_len(SYNQ_B64_STD, strlen(plain[i])));
        assert_memory_equal(b.data ? b.data : "", std[i], strlen(std[i]));
        b.len = 0;
        synq_b64_encode(SYNQ_B64_URL, plain[i], strlen(plain[i]), &b);
        assert_int_equal(b.len, strlen(url[i]));
        assert_int_equal(b.len, synq_b64_len(SYNQ_B64_URL, strlen(plain[i])));
        assert_memory_equal(b.data ? b.data : "", url[i], strlen(url[i]));
        synq_buf_release(&b);
        unsigned char out[16];
        assert_int_equal(synq_b64_decode(SYNQ_B64_STD, std[i], strlen(std[i]), out, sizeof out),
                         (long)strlen(plain[i]));
        assert_memory_equal(out, plain[i], strlen(plain[i]));
        /* padding is optional on standard input */
        assert_int_equal(synq_b64_decode(SYNQ_B64_STD, url[i], strlen(url[i]), out, sizeof out),
                         (long)strlen(plain[i]));
        assert_int_equal(synq_b64_decode(SYNQ_B64_URL, url[i], strlen(url[i]), out, sizeof out),
                         (long)strlen(plain[i]));
        assert_memory_equal(out, plain[i], strlen(plain[i]));
    }
}

static void test_round_trip_all_bytes(void **state)
{
    (void)state;
    unsigned char in[256], out[256];
    for (int i = 0; i < 256; i++) in[i] = (unsigned char)(255 - i);
    for (int v = SYNQ_B64_STD; v <= SYNQ_B64_URL; v++) {
        for (size_t n = 0; n <= sizeof in; n += 37) {
            synq_buf_t b;
            synq_buf_init(&b);
            synq_b64_encode((synq_b64_t)v, in, n, &b);
            assert_int_equal(synq_b64_decode((synq_b64_t)v, b.data ? b.data : "", b.len, out,
                                             sizeof out),
                             (long)n);
            assert_memory_equal(out, in, n);
            synq_buf_release(&b);
        }
    }
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned char out[16];
    /* a lone sextet, characters of the other alphabet, padding in url */
    assert_int_equal(synq_b64_decode(SYNQ_B64_STD, "Zm9vY", 5, out, sizeof out), -1);
    assert_int_equal(synq_b64_decode(SYNQ_B64_URL, "Zm9vY", 5, out, sizeof out), -1);
    assert_int_equal(synq_b64_decode(SYNQ_B64_STD, "ab-_", 4, out, sizeof out), -1);
    assert_int_equal(synq_b64_decode(SYNQ_B64_URL, "ab+/", 4, out, sizeof out), -1);
    assert_int_equal(synq_b64_decode(SYNQ_B64_URL, "Zg==", 4, out, sizeof out), -1);
    /* padding must make the length a multiple of 4 */
    assert_int_equal(synq_b64_decode(SYNQ_B64_STD, "Zg=", 3, out, sizeof out), -1);
    /* url is strict about the unused bits of the last character: "Zh" is
     * a second spelling of "Zg" */
    assert_int_equal(synq_b64_decode(SYNQ_B64_URL, "Zh", 2, out, sizeof out), -1);
    /* too much for out */
    assert_int_equal(synq_b64_decode(SYNQ_B64_STD, "Zm9vYmFy", 8, out, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_round_trip_all_bytes),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
