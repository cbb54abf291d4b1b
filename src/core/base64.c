/* Base64 and base64url encoding and decoding. See base64.h. */
#include "core/base64.h"

static const char alphabets[2][65] = {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

static int value(synq_b64_t v, unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (v == SYNQ_B64_URL ? '-' : '+')) return 62;
    if (c == (v == SYNQ_B64_URL ? '_' : '/')) return 63;
    return -1;
}

size_t synq_b64_len(synq_b64_t v, size_t n)
{
    if (v == SYNQ_B64_STD) return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void synq_b64_encode(synq_b64_t v, const void *data, size_t n, synq_buf_t *out)
{
    const unsigned char *p = data;
    const char *a = alphabets[v];
    synq_buf_reserve(out, synq_b64_len(v, n));
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char q[4] = {a[x >> 18], a[(x >> 12) & 63], a[(x >> 6) & 63], a[x & 63]};
        synq_buf_append(out, q, 4);
    }
    if (i < n) {
        bool two = i + 1 < n;
        uint32_t x = (uint32_t)p[i] << 16 | (two ? (uint32_t)p[i + 1] << 8 : 0);
        char q[4] = {a[x >> 18], a[(x >> 12) & 63], two ? a[(x >> 6) & 63] : '=', '='};
        synq_buf_append(out, q, v == SYNQ_B64_STD ? 4 : two ? 3 : 2);
    }
}

long synq_b64_decode(synq_b64_t v, const char *s, size_t len, unsigned char *out, size_t max)
{
    if (v == SYNQ_B64_STD) {
        size_t pad = 0;
        while (pad < 2 && len > 0 && s[len - 1] == '=')
            len--, pad++;
        if (pad && (len + pad) % 4 != 0) return -1;
    }
    if (len % 4 == 1) return -1;
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > max) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int x = value(v, (unsigned char)s[i]);
        if (x < 0) return -1;
        acc = (acc << 6 | (uint32_t)x) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (v == SYNQ_B64_URL && (acc & ((1u << bits) - 1))) return -1;
    return (long)o;
}
