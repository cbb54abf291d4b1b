/* The Faktory Work Protocol without the sockets: line reader, verbs, RESP2
 * replies, handshake and FAKTORY_URL parsing (see fwp.h for the contracts).
 * Section numbers refer to shared/reference/faktory-protocol.md. */
#include "proto/fwp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* ---- line reader ---------------------------------------------------------- */

void synq_fwp_reader_init(synq_fwp_reader_t *r, size_t max_line_bytes)
{
    memset(r, 0, sizeof *r);
    r->max_line_bytes = max_line_bytes ? max_line_bytes : SYNQ_FWP_MAX_LINE_DEFAULT;
    synq_buf_init(&r->partial);
}

void synq_fwp_reader_release(synq_fwp_reader_t *r)
{
    synq_buf_release(&r->partial);
    r->delivered = false;
}

bool synq_fwp_reader_pending(const synq_fwp_reader_t *r)
{
    return !r->delivered && r->partial.len > 0;
}

int synq_fwp_read(synq_fwp_reader_t *r, const char *data, size_t len, size_t *consumed,
                  const char **line, size_t *line_len)
{
    *consumed = 0;
    *line = NULL;
    *line_len = 0;
    if (r->error) return r->error;
    if (r->delivered) {
        r->partial.len = 0; /* the line handed out last time is done with */
        r->delivered = false;
    }
    size_t have = r->partial.len;
    size_t max = r->max_line_bytes;
    const char *lf = len ? memchr(data, '\n', len) : NULL;

    if (lf != NULL) {
        size_t before = (size_t)(lf - data);
        size_t total = have + before; /* the line with a CR that may end it */
        char last = before ? data[before - 1] : (have ? r->partial.data[have - 1] : '\0');
        /* §1.2: the Go server trims "\r\n", then "\n": one CR at most */
        size_t content = total - (total > 0 && last == '\r' ? 1 : 0);
        if (content > max) {
            r->error = SYNQ_ETOOBIG;
            return r->error;
        }
        *consumed = before + 1;
        *line_len = content;
        if (have == 0) {
            *line = data; /* the whole line is in this piece: no copy */
        } else {
            synq_buf_append(&r->partial, data, before);
            *line = r->partial.data;
            r->delivered = true;
        }
        return SYNQ_FWP_LINE;
    }

    /* No line end yet. The line is too long once it holds more than max
     * bytes, unless the byte past max is a CR that the next byte may turn
     * into the ending; checked before keeping anything beyond the bound. */
    size_t total = have + len;
    if (total > max) {
        char last = len ? data[len - 1] : r->partial.data[have - 1];
        if (total > max + 1 || last != '\r') {
            r->error = SYNQ_ETOOBIG;
            return r->error;
        }
    }
    if (len) synq_buf_append(&r->partial, data, len);
    *consumed = len;
    return SYNQ_FWP_AGAIN;
}

/* ---- commands --------------------------------------------------------------- */

void synq_fwp_split(const char *line, size_t len, const char **verb, size_t *verb_len,
                    const char **arg, size_t *arg_len)
{
    const char *sp = len ? memchr(line, ' ', len) : NULL;
    *verb = line;
    if (sp == NULL) {
        *verb_len = len;
        *arg = line + len;
        *arg_len = 0;
        return;
    }
    *verb_len = (size_t)(sp - line);
    *arg = sp + 1; /* §1.6: arguments come after exactly one space */
    *arg_len = len - *verb_len - 1;
}

bool synq_fwp_word(const char **p, size_t *len, const char **word, size_t *word_len)
{
    const char *s = *p, *end = *p + *len;
    while (s < end && *s == ' ')
        s++;
    const char *w = s;
    while (s < end && *s != ' ')
        s++;
    *word = w;
    *word_len = (size_t)(s - w);
    *p = s;
    *len = (size_t)(end - s);
    return *word_len > 0;
}

static const char *const cmd_names[SYNQ_FWP_CMD_COUNT_] = {
    [SYNQ_FWP_CMD_UNKNOWN] = "",    [SYNQ_FWP_CMD_HELLO] = "HELLO",
    [SYNQ_FWP_CMD_PUSH] = "PUSH",   [SYNQ_FWP_CMD_PUSHB] = "PUSHB",
    [SYNQ_FWP_CMD_FETCH] = "FETCH", [SYNQ_FWP_CMD_ACK] = "ACK",
    [SYNQ_FWP_CMD_FAIL] = "FAIL",   [SYNQ_FWP_CMD_BEAT] = "BEAT",
    [SYNQ_FWP_CMD_INFO] = "INFO",   [SYNQ_FWP_CMD_FLUSH] = "FLUSH",
    [SYNQ_FWP_CMD_END] = "END",     [SYNQ_FWP_CMD_MUTATE] = "MUTATE",
    [SYNQ_FWP_CMD_QUEUE] = "QUEUE", [SYNQ_FWP_CMD_TRACK] = "TRACK",
    [SYNQ_FWP_CMD_BATCH] = "BATCH",
};

synq_fwp_cmd_t synq_fwp_cmd_lookup(const char *verb, size_t len)
{
    if (len == 0) return SYNQ_FWP_CMD_UNKNOWN;
    for (int c = SYNQ_FWP_CMD_UNKNOWN + 1; c < SYNQ_FWP_CMD_COUNT_; c++)
        if (strlen(cmd_names[c]) == len && memcmp(cmd_names[c], verb, len) == 0)
            return (synq_fwp_cmd_t)c;
    return SYNQ_FWP_CMD_UNKNOWN;
}

const char *synq_fwp_cmd_name(synq_fwp_cmd_t cmd)
{
    if ((int)cmd <= SYNQ_FWP_CMD_UNKNOWN || (int)cmd >= SYNQ_FWP_CMD_COUNT_) return "";
    return cmd_names[cmd];
}

/* ---- replies ------------------------------------------------------------------ */

/* Appends s[0..len) with the bytes that would end or cut a RESP line (CR,
 * LF; NUL for C clients) as spaces. */
static void put_line_safe(synq_buf_t *out, const char *s, size_t len)
{
    synq_buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        out->data[out->len++] = (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
    }
    out->data[out->len] = '\0';
}

void synq_fwp_reply_ok(synq_buf_t *out)
{
    synq_buf_append(out, "+OK\r\n", 5);
}

void synq_fwp_reply_simple(synq_buf_t *out, const char *s, size_t len)
{
    synq_buf_putc(out, '+');
    put_line_safe(out, s, len);
    synq_buf_append(out, "\r\n", 2);
}

void synq_fwp_reply_error(synq_buf_t *out, const char *code, const char *msg, size_t len)
{
    if (code == NULL || code[0] == '\0') code = "ERR";
    synq_buf_putc(out, '-');
    put_line_safe(out, code, strlen(code));
    if (len > 0) {
        synq_buf_putc(out, ' ');
        put_line_safe(out, msg, len);
    }
    synq_buf_append(out, "\r\n", 2);
}

void synq_fwp_reply_errorf(synq_buf_t *out, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof small) {
        synq_fwp_reply_error(out, code, small, (size_t)n);
        return;
    }
    char *big = synq_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    synq_fwp_reply_error(out, code, big, (size_t)n);
    free(big);
}

void synq_fwp_reply_bulk(synq_buf_t *out, const char *data, size_t len)
{
    synq_buf_printf(out, "$%zu\r\n", len);
    if (len) synq_buf_append(out, data, len);
    synq_buf_append(out, "\r\n", 2);
}

void synq_fwp_reply_null(synq_buf_t *out)
{
    synq_buf_append(out, "$-1\r\n", 5);
}

/* ---- handshake ------------------------------------------------------------------ */

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int synq_fwp_hi(synq_buf_t *out, int iterations, const char *salt)
{
    if (salt == NULL) {
        synq_buf_puts(out, "+HI {\"v\":2}\r\n");
        return 0;
    }
    if (salt[0] == '\0' || iterations < 1 || iterations > SYNQ_FWP_MAX_ITERATIONS)
        return SYNQ_EINVAL;
    for (const char *s = salt; *s; s++)
        if (!is_alnum(*s)) return SYNQ_EINVAL;
    /* no spaces anywhere: Node reads the JSON as response.split(" ")[1] */
    synq_buf_printf(out, "+HI {\"v\":2,\"i\":%d,\"s\":\"%s\"}\r\n", iterations, salt);
    return 0;
}

int synq_fwp_pwdhash(const char *password, const char *salt, int iterations, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    if (iterations < 1 || iterations > SYNQ_FWP_MAX_ITERATIONS) return SYNQ_EINVAL;
    if (password == NULL) password = "";
    if (salt == NULL) salt = "";
    int rc = SYNQ_EINVAL;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = EVP_sha256();
    if (ctx == NULL) goto done;
    /* round 1 over the password and the salt's text (§1.4) */
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, password, strlen(password)) != 1 ||
        EVP_DigestUpdate(ctx, salt, strlen(salt)) != 1 || EVP_DigestFinal_ex(ctx, d, &dlen) != 1 ||
        dlen != 32)
        goto done;
    /* then i - 1 rounds over the raw 32-byte digest */
    for (int i = 1; i < iterations; i++)
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, d, 32) != 1 ||
            EVP_DigestFinal_ex(ctx, d, &dlen) != 1 || dlen != 32)
            goto done;
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0x0f];
    }
    out[64] = '\0';
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(d, sizeof d);
    return rc;
}

bool synq_fwp_pwdhash_check(const char *expected_hex, const char *given, size_t len)
{
    size_t elen = strlen(expected_hex);
    if (elen == 0 || len != elen) return false;
    return CRYPTO_memcmp(expected_hex, given, len) == 0;
}

static int random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t got = getrandom(b, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        b += got;
        n -= (size_t)got;
    }
    return 0;
}

int synq_fwp_salt(char out[17])
{
    uint64_t v;
    out[0] = '\0';
    int rc = random_bytes(&v, sizeof v);
    if (rc < 0) return rc;
    v &= INT64_MAX; /* Go's rand.Int63 */
    snprintf(out, 17, "%llx", (unsigned long long)v);
    return 0;
}

int synq_fwp_iterations(int *out)
{
    uint16_t v;
    int rc = random_bytes(&v, sizeof v);
    if (rc < 0) return rc;
    *out = 4000 + (int)(v % 4096); /* rand.Intn(4096) + 4000; 4096 divides 65536: no bias */
    return 0;
}

/* ---- addresses ------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL for a bad escape or a
 * decoded NUL (RFC 3986 §2.1). */
static char *pct_decode(const char *s, size_t n)
{
    char *o = synq_malloc(n + 1), *w = o;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) goto bad;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) goto bad;
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (c == '\0') goto bad;
        *w++ = c;
    }
    *w = '\0';
    return o;
bad:
    free(o);
    return NULL;
}

static bool host_byte_ok(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '@' && c != '[' && c != ']' && c != '/' && c != '?' &&
           c != '#' && c != ':';
}

int synq_fwp_url_parse(const char *url, synq_fwp_url_t *u)
{
    memset(u, 0, sizeof *u);
    if (url == NULL) return SYNQ_EINVAL;
    const char *p;
    if (strncasecmp(url, "tcp://", 6) == 0) {
        p = url + 6;
    } else if (strncasecmp(url, "tcp+tls://", 10) == 0) {
        p = url + 10;
        u->tls = true;
    } else {
        return SYNQ_EINVAL;
    }
    /* the authority ends at the path, query or fragment (RFC 3986 §3.2) */
    const char *end = p + strcspn(p, "/?#");
    if (*end == '?' || *end == '#') goto bad;
    if (*end == '/' && end[1] != '\0') goto bad;

    /* userinfo: up to the last '@', as Go's net/url does */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q;
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (uend > p) {
            u->username = pct_decode(p, (size_t)(uend - p));
            if (u->username == NULL) goto bad;
        }
        if (colon != NULL) {
            u->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
            if (u->password == NULL) goto bad;
        }
        p = at + 1;
    }

    /* host: a name or IPv4 address, or a bracketed IPv6 address */
    const char *hstart = p, *hend;
    if (p < end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL || rb == p + 1) goto bad;
        /* hex digits, ':' and '.' (an embedded IPv4), then perhaps a zone
         * ("%25eth0", RFC 6874) that is passed on as it is */
        bool zone = false;
        for (const char *q = p + 1; q < rb; q++) {
            char c = *q;
            if (c == '%') zone = true;
            if (zone ? !(is_alnum(c) || c == '%' || c == '-' || c == '_' || c == '.')
                     : !(hexval(c) >= 0 || c == ':' || c == '.'))
                goto bad;
        }
        hstart = p + 1;
        hend = rb;
        p = rb + 1;
    } else {
        while (p < end && *p != ':') {
            if (!host_byte_ok((unsigned char)*p)) goto bad;
            p++;
        }
        hend = p;
    }
    u->port = SYNQ_FWP_PORT;
    if (p < end) {
        if (*p != ':') goto bad;
        p++;
        if (p == end) goto bad; /* "host:" */
        long port = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9') goto bad;
            port = port * 10 + (*p - '0');
            if (port > 65535) goto bad;
        }
        if (port < 1) goto bad;
        u->port = (int)port;
    }
    u->host =
        hend > hstart ? synq_strndup(hstart, (size_t)(hend - hstart)) : synq_strdup("localhost");
    return 0;
bad:
    synq_fwp_url_release(u);
    return SYNQ_EINVAL;
}

void synq_fwp_url_release(synq_fwp_url_t *u)
{
    free(u->host);
    free(u->username);
    free(u->password);
    memset(u, 0, sizeof *u);
}
