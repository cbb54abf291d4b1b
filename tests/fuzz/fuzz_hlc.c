/* Fuzz target for core/hlc: the text form, and a clock driven through send,
 * receive and observe events taken from the input.
 * Invariants (abort on violation):
 *  text   - synq_hlc_parse accepts exactly the header's grammar (checked
 *           against a small reference); what parses formats back to the very
 *           same bytes; a stamp made from input bytes formats to
 *           SYNQ_HLC_TEXT_MAX - 1 bytes at most, parses back equal, and two
 *           stamps' texts compare (bytewise) as synq_hlc_cmp does.
 *  clock  - every stamp the clock gives is strictly greater than every stamp
 *           it gave, received or observed before, has l >= the physical time
 *           and the clock's node, and keeps l and c in range; a receive is
 *           refused (SYNQ_EINVAL, clock untouched) exactly when the remote l
 *           is more than max_drift_ms ahead; the (l, c) follow the paper's
 *           rules (with the counter overflow moving l on by 1 ms).
 * Event bytes (7 each, after 2 set-up bytes: node, drift):
 *   kind (% 4: now, recv, recv without out, observe), physical time step
 *   (signed 16-bit, so it may go backwards), remote l offset from the
 *   physical time (signed 16-bit, scaled by the high bit of the kind), remote
 *   c (small, or near SYNQ_HLC_C_MAX to force overflows), remote node. */
#include "core/hlc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Physical times stay this far below SYNQ_HLC_L_MAX: the clock may run
 * ahead of them by one ms per counter overflow, and an input has fewer
 * events than this. */
#define PT_HEADROOM INT64_C(1000000)
#define PT_START INT64_C(1718000000000)

static const char *const nodes[] = {"n1", "web-1", "a", "zz", "a:b.c_d-e", "n1-", "N1", "0"};

/* ---- text form ------------------------------------------------------------ */

static bool ref_node_char(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == ':';
}

/* The header's grammar, written out again. */
static bool ref_valid(const uint8_t *s, size_t len)
{
    if (len < 21 || len > 20 + SYNQ_HLC_NODE_MAX) return false;
    unsigned c = 0;
    for (size_t i = 0; i < 20; i++) {
        if (i == 13 || i == 19) {
            if (s[i] != '-') return false;
        } else if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (i >= 14 && i < 19) c = c * 10 + (unsigned)(s[i] - '0');
    }
    if (c > SYNQ_HLC_C_MAX) return false;
    for (size_t i = 20; i < len; i++)
        if (!ref_node_char(s[i])) return false;
    return true;
}

static void check_text(const uint8_t *data, size_t size)
{
    synq_hlc_ts_t t;
    int rc = synq_hlc_parse((const char *)data, size, &t);
    CHECK(rc == 0 || rc == SYNQ_EINVAL);
    if ((rc == 0) != ref_valid(data, size)) {
        fprintf(stderr, "parse \"%.*s\": %d, the grammar says %s\n", (int)size, (const char *)data,
                rc, ref_valid(data, size) ? "valid" : "invalid");
        abort();
    }
    if (rc) return;
    CHECK(t.l >= 0 && t.l <= SYNQ_HLC_L_MAX && t.c <= SYNQ_HLC_C_MAX);
    CHECK(synq_hlc_node_valid(t.node));
    char out[SYNQ_HLC_TEXT_MAX];
    size_t n = synq_hlc_format(&t, out);
    CHECK(n == size && memcmp(out, data, size) == 0 && out[n] == '\0');
}

/* A stamp in range from 16 bytes (l 8, c 2, node choice 1, node length 1,
 * node bytes from the rest). */
static void stamp_from(const uint8_t *b, synq_hlc_ts_t *t)
{
    memset(t, 0, sizeof *t);
    uint64_t l = 0;
    for (int i = 0; i < 8; i++)
        l = l << 8 | b[i];
    t->l = (int64_t)(l % (uint64_t)(SYNQ_HLC_L_MAX + 1));
    if (b[7] & 1) t->l %= 4; /* small: ties on l */
    t->c = (uint32_t)(b[8] << 8 | b[9]) % (SYNQ_HLC_C_MAX + 1);
    if (b[8] & 1) t->c %= 3; /* small: ties on c */
    if (b[10] & 0x80) {
        /* a node of 1..64 valid bytes spelled from the input */
        static const char alphabet[] = "az09AZ_-.:";
        size_t n = 1 + b[11] % SYNQ_HLC_NODE_MAX;
        for (size_t i = 0; i < n; i++)
            t->node[i] = alphabet[b[12 + i % 4] >> (i % 8) & 7];
        t->node[n] = '\0';
    } else {
        snprintf(t->node, sizeof t->node, "%s", nodes[b[10] % SYNQ_ARRAY_LEN(nodes)]);
    }
}

static int sign(int v)
{
    return v < 0 ? -1 : v > 0;
}

static void round_trip(const synq_hlc_ts_t *t, char *text)
{
    size_t n = synq_hlc_format(t, text);
    CHECK(n == strlen(text) && n >= 21 && n <= SYNQ_HLC_TEXT_MAX - 1);
    synq_hlc_ts_t back;
    CHECK(synq_hlc_parse(text, n, &back) == 0);
    CHECK(synq_hlc_cmp(&back, t) == 0 && back.l == t->l && back.c == t->c &&
          strcmp(back.node, t->node) == 0);
}

static void check_stamps(const uint8_t *data, size_t size)
{
    if (size < 32) return;
    synq_hlc_ts_t a, b;
    stamp_from(data, &a);
    stamp_from(data + 16, &b);
    char ta[SYNQ_HLC_TEXT_MAX], tb[SYNQ_HLC_TEXT_MAX];
    round_trip(&a, ta);
    round_trip(&b, tb);
    int c = synq_hlc_cmp(&a, &b);
    CHECK(c == -synq_hlc_cmp(&b, &a));
    CHECK(synq_hlc_cmp(&a, &a) == 0);
    if (sign(strcmp(ta, tb)) != c) {
        fprintf(stderr, "text order %s vs %s differs from cmp %d\n", ta, tb, c);
        abort();
    }
}

/* ---- the clock ------------------------------------------------------------ */

static int64_t s16(const uint8_t *b)
{
    return (int16_t)(uint16_t)(b[0] << 8 | b[1]);
}

static void check_given(const synq_hlc_t *h, const synq_hlc_ts_t *out, const synq_hlc_ts_t *high,
                        bool has_high, int64_t pt)
{
    CHECK(out->l == h->l && out->c == h->c && strcmp(out->node, h->node) == 0);
    CHECK(out->l >= pt && out->l <= SYNQ_HLC_L_MAX && out->c <= SYNQ_HLC_C_MAX);
    if (has_high && synq_hlc_cmp(out, high) <= 0) {
        char a[SYNQ_HLC_TEXT_MAX], b[SYNQ_HLC_TEXT_MAX];
        synq_hlc_format(out, a);
        synq_hlc_format(high, b);
        fprintf(stderr, "clock gave %s, not after %s\n", a, b);
        abort();
    }
    char text[SYNQ_HLC_TEXT_MAX];
    round_trip(out, text);
}

/* The paper's (l, c) after an event, with the overflow rule. */
static void ref_set(int64_t *l, uint32_t *c, int64_t nl, uint64_t nc)
{
    if (nc > SYNQ_HLC_C_MAX) {
        nl++;
        nc = 0;
    }
    *l = nl;
    *c = (uint32_t)nc;
}

static void check_clock(const uint8_t *data, size_t size)
{
    if (size < 2) return;
    synq_hlc_t h;
    const char *me = nodes[data[0] % SYNQ_ARRAY_LEN(nodes)];
    int64_t drift = (int64_t)(data[1] % 8) * 1000 - 1000; /* <= 0: the default */
    synq_hlc_init(&h, me, drift);
    CHECK(h.l == 0 && h.c == 0 && strcmp(h.node, me) == 0);
    CHECK(h.max_drift_ms == (drift > 0 ? drift : SYNQ_HLC_DEFAULT_MAX_DRIFT_MS));
    int64_t ref_l = 0;
    uint32_t ref_c = 0;

    synq_hlc_ts_t high; /* newest stamp given, received or observed */
    bool has_high = false;
    int64_t pt = PT_START;
    for (size_t i = 2; i + 7 <= size; i += 7) {
        const uint8_t *e = data + i;
        pt += s16(e + 1);
        if (pt < 0) pt = 0;
        if (pt > SYNQ_HLC_L_MAX - PT_HEADROOM) pt = SYNQ_HLC_L_MAX - PT_HEADROOM;
        synq_hlc_ts_t m, out;
        memset(&m, 0, sizeof m);
        int64_t off = s16(e + 3) * (e[0] & 0x80 ? 16 : 1);
        m.l = SYNQ_MAX(INT64_C(0), SYNQ_MIN(pt + off, SYNQ_HLC_L_MAX - PT_HEADROOM));
        m.c = e[5] & 0x80 ? SYNQ_HLC_C_MAX - e[5] % 4 : e[5] % 4;
        snprintf(m.node, sizeof m.node, "%s", nodes[e[6] % SYNQ_ARRAY_LEN(nodes)]);

        switch (e[0] % 4) {
        case 0: /* send or local event */
            synq_hlc_now(&h, pt, &out);
            ref_set(&ref_l, &ref_c, SYNQ_MAX(ref_l, pt),
                    SYNQ_MAX(ref_l, pt) == ref_l ? (uint64_t)ref_c + 1 : 0);
            check_given(&h, &out, &high, has_high, pt);
            high = out, has_high = true;
            break;
        case 1: /* receive */
        case 2: {
            synq_hlc_t before = h;
            bool with_out = e[0] % 4 == 1;
            int rc = synq_hlc_recv(&h, &m, pt, with_out ? &out : NULL);
            bool too_far = m.l > pt && m.l - pt > h.max_drift_ms;
            if (too_far) {
                CHECK(rc == SYNQ_EINVAL);
                CHECK(memcmp(&before, &h, sizeof h) == 0);
                break;
            }
            CHECK(rc == 0);
            int64_t nl = SYNQ_MAX(SYNQ_MAX(ref_l, m.l), pt);
            uint64_t nc = nl == ref_l && nl == m.l ? (uint64_t)SYNQ_MAX(ref_c, m.c) + 1
                          : nl == ref_l            ? (uint64_t)ref_c + 1
                          : nl == m.l              ? (uint64_t)m.c + 1
                                                   : 0;
            ref_set(&ref_l, &ref_c, nl, nc);
            if (!has_high || synq_hlc_cmp(&m, &high) > 0) high = m, has_high = true;
            if (!with_out) {
                memset(&out, 0, sizeof out);
                out.l = h.l;
                out.c = h.c;
                memcpy(out.node, h.node, sizeof out.node);
            }
            CHECK(out.l >= m.l);
            check_given(&h, &out, &high, has_high, pt);
            high = out;
            break;
        }
        default: /* a stamp read back from storage: no drift check */
            synq_hlc_observe(&h, &m);
            if (m.l > ref_l || (m.l == ref_l && m.c > ref_c)) ref_l = m.l, ref_c = m.c;
            if (!has_high || synq_hlc_cmp(&m, &high) > 0) high = m, has_high = true;
            break;
        }
        if (h.l != ref_l || h.c != ref_c) {
            fprintf(stderr, "event %zu: clock (%lld, %u), the rules give (%lld, %u)\n", (i - 2) / 7,
                    (long long)h.l, h.c, (long long)ref_l, ref_c);
            abort();
        }
    }
    /* the next stamp is after everything seen */
    synq_hlc_ts_t last;
    synq_hlc_now(&h, pt, &last);
    check_given(&h, &last, &high, has_high, pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    check_text(data, size);
    check_stamps(data, size);
    check_clock(data, size);
    return 0;
}
