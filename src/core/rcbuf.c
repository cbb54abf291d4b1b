/* Reference-counted immutable byte buffer. A copy lives in the same
 * allocation as the header; a stolen synq_buf_t keeps its own block. */
#include "core/rcbuf.h"

#include <stdlib.h>
#include <string.h>

struct synq_rcbuf_s {
    size_t refs;
    size_t len;
    char *data;     /* inline, or the stolen block */
    bool owns_data; /* data is a separate block to free */
    char inline_data[];
};

synq_rcbuf_t *synq_rcbuf_new(const void *data, size_t len)
{
    synq_rcbuf_t *rb = synq_malloc(sizeof *rb + len + 1);
    rb->refs = 1;
    rb->len = len;
    rb->data = rb->inline_data;
    rb->owns_data = false;
    if (len) memcpy(rb->data, data, len);
    rb->data[len] = '\0';
    return rb;
}

synq_rcbuf_t *synq_rcbuf_from_buf(synq_buf_t *b)
{
    if (b->data == NULL) return synq_rcbuf_new(NULL, 0);
    synq_rcbuf_t *rb = synq_malloc(sizeof *rb);
    rb->refs = 1;
    rb->data = synq_buf_steal(b, &rb->len); /* NUL-terminated by synq_buf_t */
    rb->owns_data = true;
    return rb;
}

synq_rcbuf_t *synq_rcbuf_ref(synq_rcbuf_t *rb)
{
    rb->refs++;
    return rb;
}

void synq_rcbuf_unref(synq_rcbuf_t *rb)
{
    if (rb == NULL || --rb->refs > 0) return;
    if (rb->owns_data) free(rb->data);
    free(rb);
}

const char *synq_rcbuf_data(const synq_rcbuf_t *rb)
{
    return rb->data;
}

size_t synq_rcbuf_len(const synq_rcbuf_t *rb)
{
    return rb->len;
}

size_t synq_rcbuf_refs(const synq_rcbuf_t *rb)
{
    return rb->refs;
}
