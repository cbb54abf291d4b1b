/* Reference-counted immutable byte buffer: one encoded message (an SSE
 * frame, a WebSocket frame, a publication) built once and written to many
 * sockets, each write holding a reference until it completes. The bytes
 * never change after creation and are always NUL-terminated (the NUL is not
 * counted in the length), so text can be read as a C string.
 *
 * Not thread-safe: references are taken and dropped on the loop thread. */
#ifndef SYNQ_CORE_RCBUF_H
#define SYNQ_CORE_RCBUF_H

#include "core/buf.h"
#include "core/common.h"

typedef struct synq_rcbuf_s synq_rcbuf_t;

/* A new buffer holding a copy of data[0..len) (data may be NULL when len is
 * 0), with one reference, returned to the caller (drop it with
 * synq_rcbuf_unref). */
synq_rcbuf_t *synq_rcbuf_new(const void *data, size_t len);
/* A new buffer that takes b's bytes without copying; b is left empty (as
 * after synq_buf_init) and may be reused. One reference, returned. */
synq_rcbuf_t *synq_rcbuf_from_buf(synq_buf_t *b);
/* Takes one more reference; returns rb for convenience. */
synq_rcbuf_t *synq_rcbuf_ref(synq_rcbuf_t *rb);
/* Drops one reference; the last one frees the buffer. NULL is ignored. */
void synq_rcbuf_unref(synq_rcbuf_t *rb);
/* The bytes (borrowed while the caller holds a reference; NUL-terminated)
 * and their number. */
const char *synq_rcbuf_data(const synq_rcbuf_t *rb);
size_t synq_rcbuf_len(const synq_rcbuf_t *rb);
/* Current number of references (for tests and assertions). */
size_t synq_rcbuf_refs(const synq_rcbuf_t *rb);

#endif
