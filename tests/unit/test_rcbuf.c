/* Unit tests for core/rcbuf: the reference-counted immutable byte buffer
 * behind fan-out (one frame written to many sockets). Leaks and double
 * frees show up under ASan's leak checker. */
#include "core/rcbuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_new_copies(void **state)
{
    char src[] = "hello";
    synq_rcbuf_t *rb = synq_rcbuf_new(src, 5);
    src[0] = 'J'; /* the buffer has its own copy */
    assert_int_equal(synq_rcbuf_len(rb), 5);
    assert_string_equal(synq_rcbuf_data(rb), "hello");
    assert_int_equal(synq_rcbuf_refs(rb), 1);
    synq_rcbuf_unref(rb);
}

static void test_new_empty_and_binary(void **state)
{
    synq_rcbuf_t *rb = synq_rcbuf_new(NULL, 0);
    assert_int_equal(synq_rcbuf_len(rb), 0);
    assert_string_equal(synq_rcbuf_data(rb), ""); /* NUL-terminated even when empty */
    synq_rcbuf_unref(rb);
    rb = synq_rcbuf_new("a\0b", 3);
    assert_int_equal(synq_rcbuf_len(rb), 3);
    assert_memory_equal(synq_rcbuf_data(rb), "a\0b\0", 4);
    synq_rcbuf_unref(rb);
}

static void test_from_buf_steals(void **state)
{
    synq_buf_t b;
    synq_buf_init(&b);
    synq_buf_puts(&b, "event: x\ndata: y\n\n");
    const char *bytes = b.data;
    synq_rcbuf_t *rb = synq_rcbuf_from_buf(&b);
    assert_null(b.data); /* left empty ... */
    assert_int_equal(b.len, 0);
    assert_ptr_equal(synq_rcbuf_data(rb), bytes); /* ... and not copied */
    assert_string_equal(synq_rcbuf_data(rb), "event: x\ndata: y\n\n");
    synq_buf_puts(&b, "reused"); /* the buf can be used again */
    assert_string_equal(b.data, "reused");
    synq_buf_release(&b);
    synq_rcbuf_unref(rb);

    synq_buf_init(&b); /* an empty buf gives an empty buffer */
    rb = synq_rcbuf_from_buf(&b);
    assert_int_equal(synq_rcbuf_len(rb), 0);
    assert_string_equal(synq_rcbuf_data(rb), "");
    synq_rcbuf_unref(rb);
}

static void test_refs(void **state)
{
    synq_rcbuf_t *rb = synq_rcbuf_new("x", 1);
    synq_rcbuf_t *held[100];
    for (int i = 0; i < 100; i++)
        held[i] = synq_rcbuf_ref(rb);
    assert_ptr_equal(held[7], rb);
    assert_int_equal(synq_rcbuf_refs(rb), 101);
    synq_rcbuf_unref(rb); /* the creator lets go first; the holders keep it */
    for (int i = 0; i < 99; i++)
        synq_rcbuf_unref(held[i]);
    assert_int_equal(synq_rcbuf_refs(rb), 1);
    assert_string_equal(synq_rcbuf_data(rb), "x");
    synq_rcbuf_unref(held[99]); /* freed here (ASan: no leak, no double free) */
    synq_rcbuf_unref(NULL);     /* ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_copies),
        cmocka_unit_test(test_new_empty_and_binary),
        cmocka_unit_test(test_from_buf_steals),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests_name("rcbuf", tests, NULL, NULL);
}
