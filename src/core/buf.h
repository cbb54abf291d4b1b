/* Growable byte buffer, always NUL-terminated so it can be read as a string.
 * Embedded by the caller: synq_buf_init / synq_buf_release. */
#ifndef SYNQ_CORE_BUF_H
#define SYNQ_CORE_BUF_H

#include "core/common.h"

typedef struct synq_buf_s {
    char *data;
    size_t len;
    size_t cap;
} synq_buf_t;

void synq_buf_init(synq_buf_t *b);
void synq_buf_release(synq_buf_t *b);
/* Ensures room for n more bytes (plus the terminating NUL). */
void synq_buf_reserve(synq_buf_t *b, size_t n);
void synq_buf_append(synq_buf_t *b, const void *p, size_t n);
void synq_buf_puts(synq_buf_t *b, const char *s);
void synq_buf_putc(synq_buf_t *b, char c);
void synq_buf_printf(synq_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a decimal integer. */
void synq_buf_put_int(synq_buf_t *b, int64_t v);
/* Removes the first n bytes. */
void synq_buf_consume(synq_buf_t *b, size_t n);
/* Hands the bytes to the caller (free with free()) and leaves b empty. */
char *synq_buf_steal(synq_buf_t *b, size_t *len);
/* Appends s (n bytes) as a quoted JSON string with the escapes RFC 8259 needs. */
void synq_buf_json_str(synq_buf_t *b, const char *s, size_t n);

/* Appends s[0..n) with every byte that is not part of a well-formed UTF-8
 * sequence (Table 3-7 of the Unicode Standard: no overlongs, surrogates or
 * values above U+10FFFF), and every NUL, replaced by U+FFFD, one byte at a
 * time; the result can go into JSON and C strings. */
void synq_buf_utf8(synq_buf_t *b, const char *s, size_t n);

#endif
