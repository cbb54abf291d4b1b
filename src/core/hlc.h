/* Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical
 * Clocks", OPODIS 2014, Figure 5): a timestamp is (l, c) where l follows
 * the physical clock in milliseconds and c counts events within one l;
 * (l, c, node) ordered lexicographically is a total order consistent with
 * happened-before, which last-writer-wins merges (core/docmerge.h) use.
 *
 * Pure: the physical time is passed in by the caller; no clock, no I/O.
 *
 * Text form (headers, JSON): "<l>-<c>-<node>", l as 13 decimal digits and
 * c as 5, zero-padded, e.g. "1718000000000-00003-web-1". Byte order of the
 * text is the order of the timestamps (l and c have fixed widths; the node
 * is compared bytewise in both). Limits: l <= 9999999999999 (year 2286),
 * c <= 65535, node 1..64 bytes of A-Z a-z 0-9 _ - . : (a node may contain
 * '-': the text splits at the first two). When a counter would pass 65535
 * the clock moves l on by 1 ms instead (it stays ahead of physical time by
 * at most the counter overflows, which real traffic never reaches).
 *
 * Not done here: persisting the clock (callers observe the newest stamp
 * they load, synq_hlc_observe, before stamping). */
#ifndef SYNQ_CORE_HLC_H
#define SYNQ_CORE_HLC_H

#include "core/common.h"

#define SYNQ_HLC_NODE_MAX 64
#define SYNQ_HLC_L_MAX INT64_C(9999999999999)
#define SYNQ_HLC_C_MAX 65535u
/* Bytes of the text form, with its NUL. */
#define SYNQ_HLC_TEXT_MAX (13 + 1 + 5 + 1 + SYNQ_HLC_NODE_MAX + 1)
#define SYNQ_HLC_DEFAULT_MAX_DRIFT_MS 60000

/* A timestamp. The all-zero value (l 0, c 0, node "") is the smallest and
 * means "no stamp" where a caller needs one. */
typedef struct synq_hlc_ts_s {
    int64_t l;  /* milliseconds */
    uint32_t c; /* counter within l */
    char node[SYNQ_HLC_NODE_MAX + 1];
} synq_hlc_ts_t;

/* One node's clock. Embedded by the caller. */
typedef struct synq_hlc_s {
    int64_t l;
    uint32_t c;
    int64_t max_drift_ms; /* remote l further ahead of physical time is refused */
    char node[SYNQ_HLC_NODE_MAX + 1];
} synq_hlc_t;

/* True when node is a valid node id (1..64 bytes of A-Z a-z 0-9 _ - . :). */
bool synq_hlc_node_valid(const char *node);

/* Starts a clock at (0, 0) for node (valid: checked by the caller) that
 * refuses remote stamps more than max_drift_ms ahead of physical time
 * (<= 0: SYNQ_HLC_DEFAULT_MAX_DRIFT_MS). */
void synq_hlc_init(synq_hlc_t *h, const char *node, int64_t max_drift_ms);

/* Send or local event at physical time pt_ms: the paper's rule
 *   l' = l; l = max(l', pt); c = (l == l') ? c + 1 : 0
 * and *out gets (l, c, node), strictly greater than every stamp this clock
 * gave or observed before. */
void synq_hlc_now(synq_hlc_t *h, int64_t pt_ms, synq_hlc_ts_t *out);

/* Receive event of a message stamped m at physical time pt_ms:
 *   l' = l; l = max(l', m.l, pt)
 *   c = l == l' == m.l ? max(c, m.c) + 1 : l == l' ? c + 1 : l == m.l ? m.c + 1 : 0
 * and *out (may be NULL) gets the clock's new (l, c, node). Returns 0, or
 * SYNQ_EINVAL when m.l is more than max_drift_ms ahead of pt_ms (the clock
 * is then unchanged). */
int synq_hlc_recv(synq_hlc_t *h, const synq_hlc_ts_t *m, int64_t pt_ms, synq_hlc_ts_t *out);

/* Moves the clock to at least (m.l, m.c) without a drift check (for stamps
 * read back from storage), so the next synq_hlc_now is greater than m. */
void synq_hlc_observe(synq_hlc_t *h, const synq_hlc_ts_t *m);

/* Compares (l, c, node) lexicographically (node bytewise): <0, 0, >0. */
int synq_hlc_cmp(const synq_hlc_ts_t *a, const synq_hlc_ts_t *b);

/* Writes the text form and a NUL into out (SYNQ_HLC_TEXT_MAX bytes);
 * returns its length. */
size_t synq_hlc_format(const synq_hlc_ts_t *t, char *out);

/* Parses the text form from s[0..len): exactly 13 digits, '-', 5 digits,
 * '-', a valid node id, nothing else. Returns 0 or SYNQ_EINVAL (*out is
 * then unspecified). */
int synq_hlc_parse(const char *s, size_t len, synq_hlc_ts_t *out);

#endif
