/* Cron expressions: parser and next-fire search. See cron.h for the syntax
 * and the day and DST rules.
 *
 * The search works on "civil seconds": a local date and time counted as if
 * it were UTC (days_from_civil * 86400 + seconds of the day). find_civil()
 * jumps field by field (month, day, hour, minute, second) to the first
 * matching civil second in a range; synq_cron_next() walks the zone's
 * constant-offset spans from the one containing t, mapping civil seconds
 * to instants with each span's offset and applying the gap and fold rules
 * at span starts. */
#include "core/cron.h"

#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- calendar ---------------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t synq_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void synq_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* 0 = Sunday. 1970-01-01 was a Thursday. */
static int weekday(int64_t days)
{
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- parser ------------------------------------------------------------ */

typedef enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MONTH, F_DOW } field_id_t;

typedef struct {
    const char *name;
    int lo, hi;
} field_def_t;

static const field_def_t fields[] = {
    [F_SEC] = {"second", 0, 59},      [F_MIN] = {"minute", 0, 59},
    [F_HOUR] = {"hour", 0, 23},       [F_DOM] = {"day-of-month", 1, 31},
    [F_MONTH] = {"month", 1, 12},     [F_DOW] = {"day-of-week", 0, 7},
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

typedef struct {
    synq_cron_t *c;
    field_id_t f;
    char *err;
    size_t errlen;
    uint64_t bits; /* plain values of the field being parsed */
} pstate_t;

static int fail(pstate_t *ps, const char *fmt, const char *a, long b, long c2)
{
    char msg[160];
    /* fmt takes either one string or two numbers, as the caller knows */
    if (a)
        snprintf(msg, sizeof msg, fmt, a);
    else
        /* cppcheck-suppress [invalidPrintfArgType_s, wrongPrintfScanfArgNum] */
        snprintf(msg, sizeof msg, fmt, b, c2);
    snprintf(ps->err, ps->errlen, "%s: %s", fields[ps->f].name, msg);
    return SYNQ_EINVAL;
}

/* Reads a number or a name at *p (advancing it). Returns 0 or SYNQ_EINVAL. */
static int parse_value(pstate_t *ps, const char **p, const char *end, int *out)
{
    const char *s = *p;
    if (s < end && *s >= '0' && *s <= '9') {
        long v = 0;
        while (s < end && *s >= '0' && *s <= '9') {
            if (v < 100000) v = v * 10 + (*s - '0');
            s++;
        }
        const field_def_t *fd = &fields[ps->f];
        if (v < fd->lo || v > fd->hi) { /* the digits as written, not the capped value */
            snprintf(ps->err, ps->errlen, "%s: %.*s is out of range %d-%d", fd->name,
                     (int)SYNQ_MIN(s - *p, 24), *p, fd->lo, fd->hi);
            return SYNQ_EINVAL;
        }
        *out = (int)v;
        *p = s;
        return 0;
    }
    const char *w = s;
    while (s < end && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) s++;
    size_t n = (size_t)(s - w);
    char word[16];
    snprintf(word, sizeof word, "%.*s", (int)SYNQ_MIN(n, 15), w);
    if (n == 3) {
        if (ps->f == F_MONTH)
            for (int i = 0; i < 12; i++)
                if (strncasecmp(w, month_names[i], 3) == 0) {
                    *out = i + 1;
                    *p = s;
                    return 0;
                }
        if (ps->f == F_DOW)
            for (int i = 0; i < 7; i++)
                if (strncasecmp(w, dow_names[i], 3) == 0) {
                    *out = i;
                    *p = s;
                    return 0;
                }
    }
    if (n == 0) {
        if (w >= end) return fail(ps, "%s", "missing value", 0, 0);
        char bad[8];
        snprintf(bad, sizeof bad, "%c", *w);
        return fail(ps, "unexpected character '%s'", bad, 0, 0);
    }
    if (ps->f == F_MONTH || ps->f == F_DOW) return fail(ps, "unknown name \"%s\"", word, 0, 0);
    return fail(ps, "names are not allowed here (\"%s\")", word, 0, 0);
}

static int parse_step(pstate_t *ps, const char **p, const char *end, int *step)
{
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9') return fail(ps, "%s", "step needs a number", 0, 0);
    long v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v < 100000) v = v * 10 + (*s - '0');
        s++;
    }
    if (v < 1) return fail(ps, "step %ld must be at least 1", NULL, v, 0);
    if (v > fields[ps->f].hi) return fail(ps, "step %ld is larger than the field's range", NULL, v, 0);
    *step = (int)v;
    *p = s;
    return 0;
}

/* One list item: *, ?, value, a-b, with optional /step, or the L/#
 * specials. */
static int parse_item(pstate_t *ps, const char *s, const char *end)
{
    synq_cron_t *c = ps->c;
    const field_def_t *fd = &fields[ps->f];
    int lo, hi, step = 1;
    size_t n = (size_t)(end - s);

    if (ps->f == F_DOM && n >= 1 && (s[0] == 'L' || s[0] == 'l')) {
        if (n == 1) {
            c->dom_last |= 1u;
            return 0;
        }
        if (s[1] != '-' || n < 3) return fail(ps, "%s", "L takes the form L or L-N", 0, 0);
        long v = 0;
        for (const char *q = s + 2; q < end; q++) {
            if (*q < '0' || *q > '9') return fail(ps, "%s", "L takes the form L or L-N", 0, 0);
            if (v < 1000) v = v * 10 + (*q - '0');
        }
        if (v > 30) return fail(ps, "L-%ld: offset is out of range 0-30", NULL, v, 0);
        c->dom_last |= 1u << v;
        return 0;
    }
    if (ps->f == F_DOW) {
        const char *hash = memchr(s, '#', n);
        if (n >= 2 && (end[-1] == 'L' || end[-1] == 'l') && !hash) {
            const char *p = s;
            int wd;
            if (parse_value(ps, &p, end - 1, &wd) != 0) return SYNQ_EINVAL;
            if (p != end - 1) return fail(ps, "%s", "NL takes a single weekday", 0, 0);
            c->dow_last |= (uint8_t)(1u << (wd % 7));
            return 0;
        }
        if (hash) {
            const char *p = s;
            int wd;
            if (parse_value(ps, &p, hash, &wd) != 0) return SYNQ_EINVAL;
            if (p != hash) return fail(ps, "%s", "N#K takes a single weekday", 0, 0);
            if (end - hash != 2 || hash[1] < '1' || hash[1] > '5')
                return fail(ps, "%s", "#K needs K in 1-5", 0, 0);
            c->dow_nth |= 1ull << ((wd % 7) * 5 + (hash[1] - '1'));
            return 0;
        }
    }

    const char *p = s;
    if (p < end && (*p == '*' || *p == '?')) {
        if (*p == '?' && ps->f != F_DOM && ps->f != F_DOW)
            return fail(ps, "%s", "? is only allowed in the day fields", 0, 0);
        p++;
        lo = fd->lo;
        hi = ps->f == F_DOW ? 6 : fd->hi;
    } else {
        if (parse_value(ps, &p, end, &lo) != 0) return SYNQ_EINVAL;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if (parse_value(ps, &p, end, &hi) != 0) return SYNQ_EINVAL;
            if (hi < lo) {
                if (ps->f == F_DOW && hi == 0)
                    hi = 7;
                else
                    return fail(ps, "range %ld-%ld is descending", NULL, lo, hi);
            }
        } else if (p < end && *p == '/') {
            hi = ps->f == F_DOW ? 7 : fd->hi; /* a/n = a-max/n */
        }
    }
    if (p < end && *p == '/') {
        p++;
        if (parse_step(ps, &p, end, &step) != 0) return SYNQ_EINVAL;
    }
    if (p != end) {
        char bad[8];
        snprintf(bad, sizeof bad, "%c", *p);
        return fail(ps, "unexpected character '%s'", bad, 0, 0);
    }
    for (int v = lo; v <= hi; v += step) ps->bits |= 1ull << v;
    return 0;
}

static int parse_field(pstate_t *ps, const char *s, const char *end)
{
    if (s == end) return fail(ps, "%s", "empty", 0, 0);
    ps->bits = 0;
    const char *item = s;
    for (const char *p = s; p <= end; p++) {
        if (p == end || *p == ',') {
            if (p == item) return fail(ps, "%s", "empty list item", 0, 0);
            if (parse_item(ps, item, p) != 0) return SYNQ_EINVAL;
            item = p + 1;
        }
    }
    synq_cron_t *c = ps->c;
    switch (ps->f) {
    case F_SEC: c->sec = ps->bits; break;
    case F_MIN: c->min = ps->bits; break;
    case F_HOUR:
        c->hour = (uint32_t)ps->bits;
        c->hour_star = *s == '*';
        break;
    case F_DOM:
        c->dom = (uint32_t)ps->bits;
        c->dom_star = *s == '*' || *s == '?';
        break;
    case F_MONTH: c->month = (uint16_t)ps->bits; break;
    case F_DOW:
        if (ps->bits & 0x80) ps->bits |= 1; /* 7 = Sunday */
        c->dow = (uint8_t)(ps->bits & 0x7f);
        c->dow_star = *s == '*' || *s == '?';
        break;
    }
    return 0;
}

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int synq_cron_parse(const char *expr, synq_cron_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(expr);
    if (len > SYNQ_CRON_MAX_LEN) {
        snprintf(err, errlen, "expression is longer than %d bytes", SYNQ_CRON_MAX_LEN);
        return SYNQ_EINVAL;
    }
    const char *s = expr, *e = expr + len;
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    if (s == e) {
        snprintf(err, errlen, "expression is empty");
        return SYNQ_EINVAL;
    }
    if (*s == '@') {
        const char *w = s;
        while (w < e && !is_space(*w)) w++;
        size_t n = (size_t)(w - s);
        if (n == 6 && strncasecmp(s, "@every", 6) == 0) {
            while (w < e && is_space(*w)) w++;
            int64_t us;
            if (w == e || synq_duration_parse(w, (size_t)(e - w), &us) != 0) {
                snprintf(err, errlen, "@every: \"%.*s\" is not a duration (e.g. 30s, 5m, 1h30m)",
                         (int)SYNQ_MIN(e - w, 64), w);
                return SYNQ_EINVAL;
            }
            if (us < SYNQ_US_PER_SEC || us % SYNQ_US_PER_SEC != 0) {
                snprintf(err, errlen, "@every: the interval must be a whole number of seconds, "
                                      "at least 1s");
                return SYNQ_EINVAL;
            }
            out->every_s = us / SYNQ_US_PER_SEC;
            return 0;
        }
        if (w != e) {
            snprintf(err, errlen, "%.*s takes no fields", (int)SYNQ_MIN(n, 32), s);
            return SYNQ_EINVAL;
        }
        if (n == 7 && strncasecmp(s, "@reboot", 7) == 0) {
            out->reboot = true;
            return 0;
        }
        for (size_t i = 0; i < SYNQ_ARRAY_LEN(macros); i++)
            if (strlen(macros[i].name) == n && strncasecmp(s, macros[i].name, n) == 0)
                return synq_cron_parse(macros[i].expr, out, err, errlen);
        snprintf(err, errlen, "unknown macro \"%.*s\"", (int)SYNQ_MIN(n, 32), s);
        return SYNQ_EINVAL;
    }

    const char *fs[7], *fe[7];
    int nf = 0;
    for (const char *p = s; p < e;) {
        while (p < e && is_space(*p)) p++;
        if (p == e) break;
        const char *q = p;
        while (q < e && !is_space(*q)) q++;
        if (nf < 7) {
            fs[nf] = p;
            fe[nf] = q;
        }
        nf++;
        p = q;
    }
    if (nf != 5 && nf != 6) {
        snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month day-of-week) "
                              "or 6 (with seconds first), got %d", nf);
        return SYNQ_EINVAL;
    }
    pstate_t ps = {.c = out, .err = err, .errlen = errlen};
    int first = nf == 6 ? F_SEC : F_MIN;
    for (int i = 0; i < nf; i++) {
        ps.f = (field_id_t)(first + i);
        if (parse_field(&ps, fs[i], fe[i]) != 0) return SYNQ_EINVAL;
    }
    if (nf == 5) out->sec = 1; /* second 0 */
    out->has_seconds = nf == 6;
    return 0;
}

/* ---- search ------------------------------------------------------------ */

/* Lowest set bit >= n, or -1. */
static int next_bit(uint64_t mask, int n)
{
    if (n >= 64) return -1;
    mask &= ~0ull << n;
    return mask ? __builtin_ctzll(mask) : -1;
}

static bool day_matches(const synq_cron_t *c, int64_t y, int m, int d, int64_t days)
{
    int last = month_days(y, m);
    int wd = weekday(days);
    bool dom_ok = ((c->dom >> d) & 1) || ((c->dom_last >> (last - d)) & 1 && last - d <= 30);
    bool dow_ok = ((c->dow >> wd) & 1) || (((c->dow_last >> wd) & 1) && d + 7 > last) ||
                  ((c->dow_nth >> (wd * 5 + (d - 1) / 7)) & 1);
    if (c->dom_star || c->dow_star) return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

enum { FOUND = 0, OUT_OF_RANGE = 1, NEVER = 2 };

#define CIVIL_MAX_YEAR 9999

/* The first civil second x in [lo, hi) whose fields match. */
static int find_civil(const synq_cron_t *c, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t days = floor_div(lo, 86400);
    int64_t sod = lo - days * 86400;
    int64_t y;
    int mo, d;
    synq_civil_from_days(days, &y, &mo, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    int64_t ylimit = y + 401; /* the Gregorian calendar repeats every 400 years */

    for (;;) {
        if (y > ylimit || y > CIVIL_MAX_YEAR) return NEVER;
        days = synq_days_from_civil(y, mo, d);
        int64_t x = days * 86400 + h * 3600 + mi * 60 + s;
        if (x >= hi) return OUT_OF_RANGE;
        if (!((c->month >> mo) & 1)) {
            int nm = next_bit(c->month, mo + 1);
            if (nm < 0) {
                y++;
                nm = next_bit(c->month, 1);
            }
            mo = nm;
            d = 1;
            h = mi = s = 0;
            continue;
        }
        if (!day_matches(c, y, mo, d, days)) goto next_day;
        if (!((c->hour >> h) & 1)) {
            int nh = next_bit(c->hour, h + 1);
            if (nh < 0) goto next_day;
            h = nh;
            mi = s = 0;
            continue;
        }
        if (!((c->min >> mi) & 1)) {
            int nmin = next_bit(c->min, mi + 1);
            if (nmin < 0) goto next_hour;
            mi = nmin;
            s = 0;
            continue;
        }
        if (!((c->sec >> s) & 1)) {
            int ns = next_bit(c->sec, s + 1);
            if (ns < 0) goto next_minute;
            s = ns;
            continue;
        }
        *out = x;
        return FOUND;

    next_minute:
        s = 0;
        if (++mi < 60) continue;
    next_hour:
        mi = s = 0;
        if (++h < 24) continue;
    next_day:
        h = mi = s = 0;
        if (++d > month_days(y, mo)) {
            d = 1;
            if (++mo > 12) {
                mo = 1;
                y++;
            }
        }
    }
}

/* Saturating add for civil bounds of unbounded spans. */
static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

#define LAST_INSTANT ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */

int synq_cron_next(const synq_cron_t *c, const synq_tz_t *tz, int64_t t, int64_t *out)
{
    if (c->reboot || t >= LAST_INSTANT) return SYNQ_ENOTFOUND;
    if (c->every_s > 0) {
        int64_t n = floor_div(t, c->every_s) + 1;
        *out = n * c->every_s;
        return *out > LAST_INSTANT ? SYNQ_ENOTFOUND : 0;
    }
    if (!tz) tz = synq_tz_utc();

    synq_tz_span_t sp;
    synq_tz_span(tz, t, &sp);
    bool checked = false;
    for (;;) {
        int64_t o = sp.offset, po = sp.prev_offset;
        int64_t best = INT64_MAX;
        int64_t x;

        /* Regular fires in this span: civil seconds after t's. */
        int64_t lo = SYNQ_MAX(t + 1 + o, sat_add(sp.start, o));
        /* Fold: civil times up to start + prev_offset were already lived
         * through at the end of the previous span; a fixed-hour job does
         * not fire in the second pass. */
        if (po > o && !c->hour_star && sp.start != INT64_MIN)
            lo = SYNQ_MAX(lo, sp.start + po);
        int r = find_civil(c, lo, sat_add(sp.end, o), &x);
        if (r == NEVER) return SYNQ_ENOTFOUND;
        if (r == FOUND) best = x - o;

        /* Gap: civil times in [start + prev_offset, start + offset) never
         * happened; each fires as far after the gap as it was into it,
         * i.e. mapped with the old offset. */
        if (o > po && sp.start != INT64_MIN) {
            int64_t glo = SYNQ_MAX(sp.start + po, t + 1 + po);
            int64_t ghi = SYNQ_MIN(sp.start + o, sat_add(sp.end, po));
            if (glo < ghi && find_civil(c, glo, ghi, &x) == FOUND && x - po < best)
                best = x - po;
        }
        if (best != INT64_MAX) {
            if (best > LAST_INSTANT) return SYNQ_ENOTFOUND;
            *out = best;
            return 0;
        }
        if (sp.end == INT64_MAX || sp.end > LAST_INSTANT) return SYNQ_ENOTFOUND;
        /* Before walking more spans, make sure the fields can match at all
         * (`0 0 30 2 *` never does): one unbounded search decides. */
        if (!checked && find_civil(c, lo, INT64_MAX, &x) == NEVER) return SYNQ_ENOTFOUND;
        checked = true;
        synq_tz_span(tz, sp.end, &sp);
    }
}
