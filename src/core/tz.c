/* Time zones from TZif data (RFC 8536) and POSIX TZ strings, reduced to UTC
 * offsets over time.
 *
 * A zone is a table of the instants where the UTC offset changes, the offset
 * before the first of them, and, from the last TZif transition on, an
 * optional POSIX rule (the TZif footer, or the string given to
 * synq_tz_from_posix). Transitions that change only the abbreviation or the
 * DST flag are dropped while the table is built, so consecutive table entries
 * always differ. Abbreviations and DST flags are validated, not kept.
 *
 * The rule is evaluated on demand: for an instant t the two changes of each
 * year near t's year are computed, ordered, and scanned. Years outside
 * -100000..100000 are not evaluated: the offset in force at the edge of that
 * range holds before and after it. This keeps every computation far from
 * int64 overflow for any instant.
 *
 * Does not: apply leap seconds (records are skipped), keep abbreviations,
 * convert local times to instants (the caller does that with spans), or
 * cache anything (every query is a pure function of the zone). */
#include "core/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECS_PER_DAY 86400
#define SECS_PER_HOUR 3600
/* POSIX offsets are at most 24:59:59; a default DST offset adds an hour.
 * TZif offsets are held to the same bound (tzcode's is the same). */
#define MAX_OFFSET_S (26 * SECS_PER_HOUR - 1)
#define MAX_POSIX_HOURS 24
#define MAX_RULE_HOURS 167  /* RFC 8536 §3.3.1: transition times -167..167 h */
#define MAX_DESIG_BYTES 255 /* tzcode's TZNAME_MAXIMUM */
#define MAX_FILE_BYTES (1 << 20)
#define TZIF_HEADER_BYTES 44
#define YEAR_MIN (-100000)
#define YEAR_MAX 100000
#define DEFAULT_ZONEINFO "/usr/share/zoneinfo"

/* A rule's day: Jn (1..365, Feb 29 never counted), n (0..365, counted) or
 * Mm.w.d (day d of week w of month m, week 5 meaning the last). */
enum { DATE_JULIAN, DATE_ZERO, DATE_MONTH };

typedef struct {
    uint8_t kind;
    uint8_t month, week, wday;
    uint16_t day;
    int32_t time_s; /* local time of day of the change, -167 h .. 167 h */
} rule_date_t;

/* std_off all year unless has_dst; then DST (dst_off) from `start` (a local
 * standard time) to `end` (a local daylight time) each year. */
typedef struct {
    int32_t std_off, dst_off;
    bool has_dst;
    rule_date_t start, end;
} rule_t;

struct synq_tz_s {
    char *name;
    int64_t *at;  /* instants where the offset changes, strictly ascending */
    int32_t *off; /* off[i] holds from at[i]; off[i] != off[i - 1] */
    size_t count;
    int32_t initial;   /* offset before at[0] */
    bool has_rule;     /* the rule gives the offset at and after rule_from */
    int64_t rule_from; /* INT64_MIN: the rule holds at every instant */
    rule_t rule;
};

static char utc_name[] = "UTC";
static const synq_tz_t utc_zone = {.name = utc_name};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- calendar (proleptic Gregorian, Howard Hinnant's algorithms) ---- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The UTC year of instant t. */
static int64_t year_of(int64_t t)
{
    int64_t z = t / SECS_PER_DAY - (t % SECS_PER_DAY < 0) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    return (int64_t)yoe + era * 400 + (mp >= 10);
}

/* ---- POSIX rules ---- */

/* Day number (days since 1970-01-01) of rule date r in year y. */
static int64_t rule_day(const rule_date_t *r, int64_t y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (r->kind) {
    case DATE_JULIAN:
        return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    case DATE_ZERO:
        return jan1 + r->day; /* 365 in a common year is Jan 1 next year */
    default:
        break;
    }
    int64_t first = days_from_civil(y, r->month, 1);
    int64_t next =
        r->month == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, r->month + 1u, 1);
    int wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->wday - wd + 7) % 7 + 7 * (r->week - 1);
    while (day >= next)
        day -= 7; /* week 5: the last such weekday */
    return day;
}

/* One change of offset: from instant `at`, `off` holds. */
typedef struct {
    int64_t at;
    int32_t off;
} event_t;

/* The two changes of year y, in rule order: into DST, then out of it. Each
 * lies within about 10 days of year y (the day is in y or is Jan 1 of y + 1,
 * the time of day within ±167 h, the offset within ±26 h). */
static void year_events(const rule_t *r, int64_t y, event_t ev[2])
{
    ev[0].at = rule_day(&r->start, y) * SECS_PER_DAY + r->start.time_s - r->std_off;
    ev[0].off = r->dst_off;
    ev[1].at = rule_day(&r->end, y) * SECS_PER_DAY + r->end.time_s - r->dst_off;
    ev[1].off = r->std_off;
}

/* The rule is a sequence of changes applied in time order, each setting its
 * offset, as tzcode's expansion of a rule into transitions does. Changes at
 * the same instant apply in generation order (year, then into-DST before
 * out-of-DST), and the last one wins. So a rule whose DST ends at the very
 * instant next year's begins (the all-year DST idiom "EST5EDT,0/0,J365/25")
 * stays in DST, and one whose DST starts and ends at the same instant never
 * leaves standard time. For every ordinary rule this agrees with evaluating
 * each year on its own (glibc); they differ only when changes of different
 * years interleave (day 365 of a common year, times far beyond 24 h), where
 * glibc jumps at the UTC new year and we keep the last change in force. */

/* Offset under rule r at instant t (years unclamped). The last change at or
 * before t is among years y-2 .. y+1 (y = t's year): year y-2's changes are
 * all before t and each later change of the same rule date is later still. */
static int32_t rule_offset_raw(const rule_t *r, int64_t t)
{
    if (!r->has_dst) return r->std_off;
    int64_t y = year_of(t);
    event_t best = {INT64_MIN, r->std_off};
    for (int64_t yy = y - 2; yy <= y + 1; yy++) {
        event_t ev[2];
        year_events(r, yy, ev);
        for (int k = 0; k < 2; k++)
            if (ev[k].at <= t && ev[k].at >= best.at) best = ev[k];
    }
    return best.off;
}

#define CHUNK_S (4LL * 365 * SECS_PER_DAY)
/* 440 years: longer than the Gregorian 400-year cycle after which a rule
 * repeats exactly, so a rule that changes at all changes within any window
 * of MAX_CHUNKS chunks. */
#define MAX_CHUNKS 110
#define CHUNK_EVENTS 16 /* a chunk touches at most 5 years, plus one each side */

/* Fills ev with the changes whose instant is in (a, b], ordered as above;
 * b - a <= CHUNK_S. Returns how many. */
static size_t events_in(const rule_t *r, int64_t a, int64_t b, event_t *ev)
{
    size_t n = 0;
    for (int64_t y = year_of(a) - 1; y <= year_of(b) + 1; y++) {
        event_t two[2];
        year_events(r, y, two);
        for (int k = 0; k < 2; k++) {
            if (two[k].at <= a || two[k].at > b || n == CHUNK_EVENTS) continue;
            size_t j = n++;
            while (j > 0 && ev[j - 1].at > two[k].at) { /* stable: ties keep order */
                ev[j] = ev[j - 1];
                j--;
            }
            ev[j] = two[k];
        }
    }
    return n;
}

/* Scans the changes in (a, b] with `cur` in force at a, for the first (or
 * the last, if want_last) instant where the offset really changes. */
static bool scan_changes(const rule_t *r, int64_t a, int64_t b, int32_t cur, bool want_last,
                         int64_t *out)
{
    event_t ev[CHUNK_EVENTS];
    size_t n = events_in(r, a, b, ev);
    bool found = false;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && ev[j + 1].at == ev[i].at)
            j++;
        if (ev[j].off != cur) {
            cur = ev[j].off;
            *out = ev[i].at;
            found = true;
            if (!want_last) break;
        }
        i = j + 1;
    }
    return found;
}

/* First instant > t where the offset changes (years unclamped). */
static bool rule_next_raw(const rule_t *r, int64_t t, int64_t *out)
{
    if (!r->has_dst) return false;
    int32_t cur = rule_offset_raw(r, t);
    for (int i = 0; i < MAX_CHUNKS; i++, t += CHUNK_S)
        if (scan_changes(r, t, t + CHUNK_S, cur, false, out)) return true;
    return false;
}

/* Last instant <= t where the offset changes (years unclamped). */
static bool rule_prev_raw(const rule_t *r, int64_t t, int64_t *out)
{
    if (!r->has_dst) return false;
    for (int i = 0; i < MAX_CHUNKS; i++, t -= CHUNK_S)
        if (scan_changes(r, t - CHUNK_S, t, rule_offset_raw(r, t - CHUNK_S), true, out))
            return true;
    return false;
}

/* The rule is evaluated in years YEAR_MIN..YEAR_MAX only: before, the offset
 * at rule_tmin() holds; after, the offset at rule_tmax(). */
static int64_t rule_tmin(void)
{
    return days_from_civil(YEAR_MIN, 1, 1) * SECS_PER_DAY;
}

static int64_t rule_tmax(void)
{
    return days_from_civil(YEAR_MAX + 1, 1, 1) * SECS_PER_DAY;
}

static int32_t rule_offset(const rule_t *r, int64_t t)
{
    int64_t lo = rule_tmin(), hi = rule_tmax();
    return rule_offset_raw(r, t < lo ? lo : t > hi ? hi : t);
}

static bool rule_next_change(const rule_t *r, int64_t t, int64_t *out)
{
    int64_t lo = rule_tmin(), hi = rule_tmax();
    if (t >= hi) return false;
    return rule_next_raw(r, t < lo ? lo : t, out) && *out <= hi;
}

static bool rule_prev_change(const rule_t *r, int64_t t, int64_t *out)
{
    int64_t lo = rule_tmin(), hi = rule_tmax();
    if (t <= lo) return false;
    return rule_prev_raw(r, t > hi ? hi : t, out) && *out > lo;
}

/* ---- POSIX TZ strings ---- */

typedef struct {
    const char *s;
    size_t len, i;
} cursor_t;

static bool at_char(const cursor_t *c, char ch)
{
    return c->i < c->len && c->s[c->i] == ch;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* A decimal of 1..maxdigits digits (not followed by another) up to maxval. */
static bool parse_num(cursor_t *c, int maxdigits, int maxval, int *out)
{
    int v = 0, nd = 0;
    while (c->i < c->len && is_digit(c->s[c->i])) {
        if (++nd > maxdigits) return false;
        v = v * 10 + (c->s[c->i++] - '0');
    }
    if (nd == 0 || v > maxval) return false;
    *out = v;
    return true;
}

/* An abbreviation: letters, or <...> holding letters, digits, '+' and '-'.
 * POSIX wants at least 3 characters; like tzcode we accept 1 or more. */
static bool parse_desig(cursor_t *c)
{
    size_t start, n;
    if (at_char(c, '<')) {
        start = ++c->i;
        while (c->i < c->len && (is_alpha(c->s[c->i]) || is_digit(c->s[c->i]) ||
                                 c->s[c->i] == '+' || c->s[c->i] == '-'))
            c->i++;
        n = c->i - start;
        if (!at_char(c, '>')) return false;
        c->i++;
    } else {
        start = c->i;
        while (c->i < c->len && is_alpha(c->s[c->i]))
            c->i++;
        n = c->i - start;
    }
    return n >= 1 && n <= MAX_DESIG_BYTES;
}

/* [+-]hh[:mm[:ss]] in seconds, hh <= max_hours. */
static bool parse_hms(cursor_t *c, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (at_char(c, '+') || at_char(c, '-')) sign = c->s[c->i++] == '-' ? -1 : 1;
    if (!parse_num(c, 3, max_hours, &h)) return false;
    if (at_char(c, ':')) {
        c->i++;
        if (!parse_num(c, 2, 59, &m)) return false;
        if (at_char(c, ':')) {
            c->i++;
            if (!parse_num(c, 2, 59, &s)) return false;
        }
    }
    *out = sign * (h * SECS_PER_HOUR + m * 60 + s);
    return true;
}

/* Jn | n | Mm.w.d, then [/time] (default 02:00). */
static bool parse_date(cursor_t *c, rule_date_t *d)
{
    int a, b, e;
    memset(d, 0, sizeof *d);
    if (at_char(c, 'J')) {
        c->i++;
        if (!parse_num(c, 3, 365, &a) || a < 1) return false;
        d->kind = DATE_JULIAN, d->day = (uint16_t)a;
    } else if (at_char(c, 'M')) {
        c->i++;
        if (!parse_num(c, 2, 12, &a) || a < 1 || !at_char(c, '.')) return false;
        c->i++;
        if (!parse_num(c, 1, 5, &b) || b < 1 || !at_char(c, '.')) return false;
        c->i++;
        if (!parse_num(c, 1, 6, &e)) return false;
        d->kind = DATE_MONTH, d->month = (uint8_t)a, d->week = (uint8_t)b, d->wday = (uint8_t)e;
    } else {
        if (!parse_num(c, 3, 365, &a)) return false;
        d->kind = DATE_ZERO, d->day = (uint16_t)a;
    }
    d->time_s = 2 * SECS_PER_HOUR;
    if (at_char(c, '/')) {
        c->i++;
        if (!parse_hms(c, MAX_RULE_HOURS, &d->time_s)) return false;
    }
    return true;
}

/* Parses s[0..len) as "std offset [dst [offset] [,start[/time],end[/time]]]".
 * Offsets are west-positive in the string ("EST5" is UTC-5) and east-positive
 * in r. Without a DST offset DST is std + 1 h; without a rule, the US rule
 * ",M3.2.0,M11.1.0" (as tzcode and glibc do). Returns the byte position of
 * the error, or -1 if none. */
static long parse_posix(const char *s, size_t len, rule_t *r)
{
    cursor_t c = {s, len, 0};
    int32_t off;
    memset(r, 0, sizeof *r);
    if (!parse_desig(&c) || !parse_hms(&c, MAX_POSIX_HOURS, &off)) goto bad;
    r->std_off = r->dst_off = -off;
    if (c.i == len) return -1;
    if (!parse_desig(&c)) goto bad;
    r->has_dst = true;
    r->dst_off = r->std_off + SECS_PER_HOUR;
    if (c.i < len && s[c.i] != ',') {
        if (!parse_hms(&c, MAX_POSIX_HOURS, &off)) goto bad;
        r->dst_off = -off;
    }
    if (c.i == len) {
        r->start = (rule_date_t){.kind = DATE_MONTH, .month = 3, .week = 2, .time_s = 7200};
        r->end = (rule_date_t){.kind = DATE_MONTH, .month = 11, .week = 1, .time_s = 7200};
    } else {
        if (!at_char(&c, ',')) goto bad;
        c.i++;
        if (!parse_date(&c, &r->start) || !at_char(&c, ',')) goto bad;
        c.i++;
        if (!parse_date(&c, &r->end) || c.i != len) goto bad;
    }
    /* A rule that never changes the offset (same offsets, all-year DST,
     * empty DST) is a fixed offset; finding out once here keeps queries
     * from searching a whole 400-year cycle for a change. */
    int64_t dummy;
    if (!rule_next_raw(r, 0, &dummy)) {
        r->std_off = r->dst_off = rule_offset_raw(r, 0);
        r->has_dst = false;
    }
    return -1;
bad:
    return (long)c.i;
}

/* ---- zones ---- */

static synq_tz_t *zone_new(const char *name, size_t cap)
{
    synq_tz_t *tz = synq_calloc(1, sizeof *tz);
    tz->name = synq_strdup(name != NULL ? name : "");
    tz->at = synq_calloc(cap, sizeof *tz->at);
    tz->off = synq_calloc(cap, sizeof *tz->off);
    return tz;
}

const synq_tz_t *synq_tz_utc(void)
{
    return &utc_zone;
}

void synq_tz_free(const synq_tz_t *tz)
{
    if (tz == NULL || tz == &utc_zone) return;
    synq_tz_t *z = (synq_tz_t *)tz;
    free(z->name);
    free(z->at);
    free(z->off);
    free(z);
}

const char *synq_tz_name(const synq_tz_t *tz)
{
    return tz->name;
}

synq_tz_t *synq_tz_from_posix(const char *name, const char *rule, char *err, size_t errlen)
{
    rule_t r;
    if (rule == NULL) {
        set_err(err, errlen, "no TZ string");
        return NULL;
    }
    long pos = parse_posix(rule, strlen(rule), &r);
    if (pos >= 0) {
        set_err(err, errlen, "invalid TZ string at byte %ld", pos);
        return NULL;
    }
    synq_tz_t *tz = zone_new(name, 0);
    tz->initial = r.std_off;
    tz->has_rule = true;
    tz->rule_from = INT64_MIN;
    tz->rule = r;
    return tz;
}

/* ---- TZif (RFC 8536) ---- */

typedef struct {
    int version; /* 1..4 */
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header_t;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* RFC 8536 §3.1. Returns NULL or what is wrong. */
static const char *read_header(const uint8_t *p, size_t avail, tzif_header_t *h)
{
    if (avail < TZIF_HEADER_BYTES) return "truncated header";
    if (memcmp(p, "TZif", 4) != 0) return "not a TZif file";
    if (p[4] == 0)
        h->version = 1;
    else if (p[4] >= '2' && p[4] <= '4')
        h->version = p[4] - '0';
    else
        return "unsupported TZif version";
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0) return "no local time types";
    if (h->charcnt == 0) return "no abbreviation characters";
    if (h->isutcnt != 0 && h->isutcnt != h->typecnt) return "bad UT/local indicator count";
    if (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) return "bad standard/wall indicator count";
    return NULL;
}

/* Bytes of the data block after a header, times of tsize bytes (4 or 8).
 * Counts are 32-bit, so this cannot overflow 64 bits. */
static uint64_t block_bytes(const tzif_header_t *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

synq_tz_t *synq_tz_parse(const char *name, const uint8_t *data, size_t len, char *err,
                         size_t errlen)
{
    tzif_header_t h;
    const char *why;
    size_t pos = 0;
    unsigned tsize = 4;

    if (data == NULL) len = 0;
    if ((why = read_header(data, len, &h)) != NULL) goto bad;
    pos = TZIF_HEADER_BYTES;
    if (h.version >= 2) {
        /* the version 1 block is for old readers: skip it (RFC 8536 §4) */
        uint64_t skip = block_bytes(&h, 4);
        why = "truncated version 1 data";
        if (skip > len - pos) goto bad;
        pos += (size_t)skip;
        tzif_header_t h2;
        if ((why = read_header(data + pos, len - pos, &h2)) != NULL) goto bad;
        why = "second header's version differs";
        if (h2.version != h.version) goto bad;
        h = h2;
        pos += TZIF_HEADER_BYTES;
        tsize = 8;
    }
    why = "truncated data";
    if (block_bytes(&h, tsize) > len - pos) goto bad;
    const uint8_t *times = data + pos;
    const uint8_t *idx = times + (size_t)h.timecnt * tsize;
    const uint8_t *types = idx + h.timecnt;
    const uint8_t *isstd =
        types + (size_t)h.typecnt * 6 + h.charcnt + (size_t)h.leapcnt * (tsize + 4);
    const uint8_t *isut = isstd + h.isstdcnt;
    pos += (size_t)block_bytes(&h, tsize);

    for (uint32_t i = 0; i < h.typecnt; i++) {
        const uint8_t *tt = types + (size_t)i * 6;
        int32_t utoff = (int32_t)be32(tt);
        why = "UTC offset out of range";
        if (utoff < -MAX_OFFSET_S || utoff > MAX_OFFSET_S) goto bad;
        why = "bad DST flag";
        if (tt[4] > 1) goto bad;
        why = "abbreviation index out of range";
        if (tt[5] >= h.charcnt) goto bad;
    }
    why = "bad standard/wall indicator";
    for (uint32_t i = 0; i < h.isstdcnt; i++)
        if (isstd[i] > 1) goto bad;
    why = "bad UT/local indicator";
    for (uint32_t i = 0; i < h.isutcnt; i++)
        if (isut[i] > 1) goto bad;
    for (uint32_t i = 0; i < h.timecnt; i++) {
        why = "transition type out of range";
        if (idx[i] >= h.typecnt) goto bad;
        why = "transition times not ascending";
        if (i > 0) {
            int64_t a = tsize == 8 ? be64(times + (size_t)(i - 1) * 8)
                                   : (int32_t)be32(times + (size_t)(i - 1) * 4);
            int64_t b =
                tsize == 8 ? be64(times + (size_t)i * 8) : (int32_t)be32(times + (size_t)i * 4);
            if (b <= a) goto bad;
        }
    }

    /* Footer (RFC 8536 §3.3): "\n" TZ-string "\n"; an empty string means
     * no rule. Anything after it is ignored. */
    rule_t rule = {0};
    bool has_rule = false;
    if (h.version >= 2) {
        why = "missing footer";
        if (pos >= len || data[pos] != '\n') goto bad;
        const uint8_t *f = data + pos + 1;
        const uint8_t *nl = memchr(f, '\n', len - pos - 1);
        why = "unterminated footer";
        if (nl == NULL) goto bad;
        if (nl > f) {
            long at = parse_posix((const char *)f, (size_t)(nl - f), &rule);
            if (at >= 0) {
                set_err(err, errlen, "invalid footer TZ string at byte %ld", at);
                return NULL;
            }
            has_rule = true;
        }
    }

    /* Build the table of real changes. RFC 8536 §3.2: before the first
     * transition, type 0 holds. A transition at INT64_MIN is where time
     * begins, so it sets the initial offset; one at INT64_MAX could never
     * start a span (end == INT64_MAX means "forever"), so it is dropped. */
    synq_tz_t *tz = zone_new(name, h.timecnt);
    tz->initial = (int32_t)be32(types);
    tz->has_rule = has_rule;
    tz->rule_from = INT64_MIN;
    if (has_rule) tz->rule = rule;
    int32_t prev = tz->initial;
    for (uint32_t i = 0; i < h.timecnt; i++) {
        int64_t t = tsize == 8 ? be64(times + (size_t)i * 8) : (int32_t)be32(times + (size_t)i * 4);
        int32_t o = (int32_t)be32(types + (size_t)idx[i] * 6);
        if (t == INT64_MAX) break;
        tz->rule_from = t;
        if (t == INT64_MIN) {
            tz->initial = prev = o;
            continue;
        }
        if (o == prev) continue;
        tz->at[tz->count] = t;
        tz->off[tz->count++] = o;
        prev = o;
    }
    return tz;

bad:
    set_err(err, errlen, "%s", why);
    return NULL;
}

/* ---- queries ---- */

/* Number of table changes at or before t. */
static size_t changes_upto(const synq_tz_t *tz, int64_t t)
{
    size_t lo = 0, hi = tz->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int32_t table_offset(const synq_tz_t *tz, int64_t t)
{
    size_t i = changes_upto(tz, t);
    return i > 0 ? tz->off[i - 1] : tz->initial;
}

static bool in_rule(const synq_tz_t *tz, int64_t t)
{
    return tz->has_rule && t >= tz->rule_from;
}

int32_t synq_tz_offset(const synq_tz_t *tz, int64_t t)
{
    return in_rule(tz, t) ? rule_offset(&tz->rule, t) : table_offset(tz, t);
}

/* Last instant c <= t where the offset differs from the one at c - 1. The
 * table holds before rule_from, the rule from it on (RFC 8536 §3.2), so
 * rule_from itself is a change when the two disagree there. */
static bool last_change(const synq_tz_t *tz, int64_t t, int64_t *out)
{
    if (in_rule(tz, t)) {
        if (rule_prev_change(&tz->rule, t, out) && *out > tz->rule_from) return true;
        if (tz->rule_from == INT64_MIN) return false;
        if (rule_offset(&tz->rule, tz->rule_from) != table_offset(tz, tz->rule_from - 1)) {
            *out = tz->rule_from;
            return true;
        }
        t = tz->rule_from - 1;
    }
    size_t i = changes_upto(tz, t);
    if (i == 0) return false;
    *out = tz->at[i - 1];
    return true;
}

/* First instant c > t where the offset differs from the one at c - 1. */
static bool next_change(const synq_tz_t *tz, int64_t t, int64_t *out)
{
    if (in_rule(tz, t)) return rule_next_change(&tz->rule, t, out);
    size_t i = changes_upto(tz, t);
    if (i < tz->count && (!tz->has_rule || tz->at[i] < tz->rule_from)) {
        *out = tz->at[i];
        return true;
    }
    if (!tz->has_rule) return false;
    /* no table change in (t, rule_from): the offset there is the one at t */
    if (rule_offset(&tz->rule, tz->rule_from) != table_offset(tz, t)) {
        *out = tz->rule_from;
        return true;
    }
    return rule_next_change(&tz->rule, tz->rule_from, out);
}

void synq_tz_span(const synq_tz_t *tz, int64_t t, synq_tz_span_t *out)
{
    int64_t c;
    out->offset = synq_tz_offset(tz, t);
    out->start = last_change(tz, t, &c) ? c : INT64_MIN;
    out->end = next_change(tz, t, &c) ? c : INT64_MAX;
    out->prev_offset = out->start == INT64_MIN ? out->offset : synq_tz_offset(tz, out->start - 1);
}

/* ---- loading ---- */

/* The characters of IANA zone names. '.' is not among them, so no component
 * can be "." or "..", and no leading '/' means no absolute path. Returns NULL
 * or what is wrong. */
static const char *check_name(const char *name)
{
    size_t n = strnlen(name, SYNQ_TZ_NAME_MAX + 1);
    if (n == 0) return "empty";
    if (n > SYNQ_TZ_NAME_MAX) return "too long";
    size_t comp = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch == '/') {
            if (comp == 0) return "empty component";
            comp = 0;
            continue;
        }
        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '-' && ch != '+')
            return "bad character";
        comp++;
    }
    if (comp == 0) return "empty component";
    return NULL;
}

/* Reads at most MAX_FILE_BYTES + 1 bytes of fd into *out. */
static int read_all(int fd, uint8_t **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    uint8_t *buf = synq_malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = synq_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, SYNQ_MIN(cap - n, (size_t)MAX_FILE_BYTES + 1 - n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = -errno;
            free(buf);
            return e;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > MAX_FILE_BYTES) break;
    }
    *out = buf;
    *len = n;
    return 0;
}

synq_tz_t *synq_tz_load(const char *name, char *err, size_t errlen)
{
    synq_tz_t *tz = NULL;
    char *path = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int fd = -1, r;
    char why[128];

    const char *bad = name == NULL ? "empty" : check_name(name);
    if (bad != NULL) {
        set_err(err, errlen, "invalid time zone name (%s)", bad);
        goto cleanup;
    }
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 || strcmp(name, "Z") == 0) {
        tz = zone_new(name, 0);
        goto cleanup;
    }
    const char *dir = getenv("TZDIR");
    if (dir == NULL || dir[0] == '\0') dir = DEFAULT_ZONEINFO;
    size_t plen = strlen(dir) + strlen(name) + 2;
    path = synq_malloc(plen);
    snprintf(path, plen, "%s/%s", dir, name);

    /* O_NONBLOCK: a FIFO where a zone should be must not hang us */
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    while (fd < 0 && errno == EINTR);
    struct stat st;
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) goto unknown;
    if (fd < 0 || fstat(fd, &st) != 0) {
        set_err(err, errlen, "time zone \"%s\": %s", name, synq_strerror(-errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) goto unknown; /* "America" is a directory */
    if (st.st_size > MAX_FILE_BYTES) goto too_big;
    if ((r = read_all(fd, &data, &len)) != 0) {
        set_err(err, errlen, "time zone \"%s\": %s", name, synq_strerror(r));
        goto cleanup;
    }
    if (len > MAX_FILE_BYTES) goto too_big;
    tz = synq_tz_parse(name, data, len, why, sizeof why);
    if (tz == NULL) set_err(err, errlen, "time zone \"%s\": %s", name, why);
    goto cleanup;

unknown:
    set_err(err, errlen, "unknown time zone \"%s\"", name);
    goto cleanup;
too_big:
    set_err(err, errlen, "time zone \"%s\": file larger than %d bytes", name, MAX_FILE_BYTES);
cleanup:
    if (fd >= 0) close(fd);
    free(data);
    free(path);
    return tz;
}
