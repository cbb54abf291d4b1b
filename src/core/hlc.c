/* Hybrid logical clocks: the update rules of the paper's Figure 5, a total
 * order with the node id as the last key, and the text form. */
#include "core/hlc.h"

#include <stdio.h>
#include <string.h>

static bool node_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == ':';
}

static bool node_valid_n(const char *s, size_t n)
{
    if (n == 0 || n > SYNQ_HLC_NODE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!node_char(s[i])) return false;
    return true;
}

bool synq_hlc_node_valid(const char *node)
{
    return node && node_valid_n(node, strlen(node));
}

void synq_hlc_init(synq_hlc_t *h, const char *node, int64_t max_drift_ms)
{
    memset(h, 0, sizeof *h);
    snprintf(h->node, sizeof h->node, "%s", node);
    h->max_drift_ms = max_drift_ms > 0 ? max_drift_ms : SYNQ_HLC_DEFAULT_MAX_DRIFT_MS;
}

/* Sets the clock to (l, c), moving on to the next millisecond when the
 * counter would not fit its 5 digits: (l + 1, 0) is still greater than
 * every (l, c) before it. */
static void set_clock(synq_hlc_t *h, int64_t l, uint64_t c, synq_hlc_ts_t *out)
{
    if (c > SYNQ_HLC_C_MAX) {
        l++;
        c = 0;
    }
    h->l = l;
    h->c = (uint32_t)c;
    if (out) {
        out->l = h->l;
        out->c = h->c;
        memcpy(out->node, h->node, sizeof out->node);
    }
}

void synq_hlc_now(synq_hlc_t *h, int64_t pt_ms, synq_hlc_ts_t *out)
{
    int64_t lp = h->l;
    int64_t l = SYNQ_MAX(lp, pt_ms);
    set_clock(h, l, l == lp ? (uint64_t)h->c + 1 : 0, out);
}

int synq_hlc_recv(synq_hlc_t *h, const synq_hlc_ts_t *m, int64_t pt_ms, synq_hlc_ts_t *out)
{
    if (m->l > pt_ms && m->l - pt_ms > h->max_drift_ms) return SYNQ_EINVAL;
    int64_t lp = h->l;
    int64_t l = SYNQ_MAX(SYNQ_MAX(lp, m->l), pt_ms);
    uint64_t c;
    if (l == lp && l == m->l)
        c = (uint64_t)SYNQ_MAX(h->c, m->c) + 1;
    else if (l == lp)
        c = (uint64_t)h->c + 1;
    else if (l == m->l)
        c = (uint64_t)m->c + 1;
    else
        c = 0;
    set_clock(h, l, c, out);
    return 0;
}

void synq_hlc_observe(synq_hlc_t *h, const synq_hlc_ts_t *m)
{
    if (m->l > h->l || (m->l == h->l && m->c > h->c)) {
        h->l = m->l;
        h->c = m->c;
    }
}

int synq_hlc_cmp(const synq_hlc_ts_t *a, const synq_hlc_ts_t *b)
{
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    if (a->c != b->c) return a->c < b->c ? -1 : 1;
    int r = strcmp(a->node, b->node);
    return r < 0 ? -1 : r > 0;
}

size_t synq_hlc_format(const synq_hlc_ts_t *t, char *out)
{
    int n = snprintf(out, SYNQ_HLC_TEXT_MAX, "%013lld-%05u-%s", (long long)t->l, (unsigned)t->c,
                     t->node);
    return n < 0 ? 0 : SYNQ_MIN((size_t)n, SYNQ_HLC_TEXT_MAX - 1);
}

/* Reads exactly n decimal digits. */
static bool digits(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int synq_hlc_parse(const char *s, size_t len, synq_hlc_ts_t *out)
{
    uint64_t l, c;
    if (len < 13 + 1 + 5 + 1 + 1 || s[13] != '-' || s[19] != '-' || !digits(s, 13, &l) ||
        !digits(s + 14, 5, &c) || c > SYNQ_HLC_C_MAX || !node_valid_n(s + 20, len - 20))
        return SYNQ_EINVAL;
    out->l = (int64_t)l;
    out->c = (uint32_t)c;
    memcpy(out->node, s + 20, len - 20);
    out->node[len - 20] = '\0';
    return 0;
}
