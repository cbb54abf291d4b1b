/* Growable byte buffer and the JSON string escaper used by every writer. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void synq_buf_init(synq_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void synq_buf_release(synq_buf_t *b)
{
    free(b->data);
    synq_buf_init(b);
}

void synq_buf_reserve(synq_buf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->data = synq_realloc(b->data, cap);
    b->cap = cap;
}

void synq_buf_append(synq_buf_t *b, const void *p, size_t n)
{
    synq_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void synq_buf_puts(synq_buf_t *b, const char *s)
{
    synq_buf_append(b, s, strlen(s));
}

void synq_buf_putc(synq_buf_t *b, char c)
{
    synq_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void synq_buf_printf(synq_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        synq_buf_append(b, tmp, (size_t)n);
        return;
    }
    synq_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void synq_buf_put_int(synq_buf_t *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    synq_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void synq_buf_consume(synq_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data) b->data[b->len] = '\0';
}

char *synq_buf_steal(synq_buf_t *b, size_t *len)
{
    if (b->data == NULL) synq_buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len) *len = b->len;
    synq_buf_init(b);
    return p;
}

void synq_buf_json_str(synq_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    synq_buf_reserve(b, n + 2);
    synq_buf_putc(b, '"');
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        synq_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': synq_buf_append(b, "\\\"", 2); break;
        case '\\': synq_buf_append(b, "\\\\", 2); break;
        case '\n': synq_buf_append(b, "\\n", 2); break;
        case '\r': synq_buf_append(b, "\\r", 2); break;
        case '\t': synq_buf_append(b, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            synq_buf_append(b, e, 6);
        }
        }
    }
    synq_buf_append(b, s + run, n - run);
    synq_buf_putc(b, '"');
}

void synq_buf_utf8(synq_buf_t *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c != 0 && c < 0x80) {
            synq_buf_putc(out, (char)c);
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c == 0xE0)
            len = 3, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
            len = 3;
        else if (c == 0xED)
            len = 3, hi = 0x9F;
        else if (c == 0xF0)
            len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            len = 4;
        else if (c == 0xF4)
            len = 4, hi = 0x8F;
        bool ok = len > 0 && i + len <= n && s[i + 1] >= lo && s[i + 1] <= hi;
        for (size_t k = 2; ok && k < len; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (ok) {
            synq_buf_append(out, s + i, len);
            i += len;
        } else {
            synq_buf_append(out, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
}
