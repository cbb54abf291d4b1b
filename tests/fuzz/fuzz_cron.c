/* Fuzz target for core/cron: synq_cron_parse on arbitrary bytes, then
 * synq_cron_next from a few instants in UTC and in a DST zone.
 * Invariants (abort on violation):
 *  parse    - 0 or SYNQ_EINVAL; an error message is non-empty and names a
 *             field ("minute: ...") or the expression as a whole; a smaller
 *             buffer gets a cut, NUL-terminated prefix of the same message;
 *             parsing twice gives the same result.
 *  fields   - only valid bits are set (second/minute 0-59, hour 0-23,
 *             day-of-month 1-31, month 1-12, weekday 0-6, L-N 0-30, N#K
 *             35 bits); five fields mean second 0; a field that can match is
 *             never empty.
 *  next     - 0 or SYNQ_ENOTFOUND; a fire is strictly later than its start
 *             and no later than 9999-12-31T23:59:59Z; iterating gives
 *             strictly increasing fires; after "never" it stays never.
 *  rules    - every fire is one the rules of cron.h allow: its local time
 *             matches, and it is not in the second pass of a fold unless the
 *             hour field starts with '*'; or it is a local time skipped by a
 *             gap, moved by the gap's length. Between a start and its fire
 *             no instant is such a fire (checked over a bounded window).
 *             @every fires on multiples of its interval, @reboot never.
 *             Local times after the year 9999 never fire (the search ends
 *             there, as it ends at 9999-12-31T23:59:59Z).
 * The zones are POSIX rules (America/New_York's and Australia/Lord_Howe's),
 * so the target reads no files. */
#include "core/cron.h"

#include "core/tz.h"

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

#define LAST_INSTANT ((int64_t)253402300799) /* 9999-12-31T23:59:59Z */
#define FIRES_PER_START 6

static const synq_tz_t *zone(int which)
{
    static synq_tz_t *z[2];
    static const char *const rules[2][2] = {
        {"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
        {"Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"},
    };
    if (!z[which]) {
        char err[200];
        z[which] = synq_tz_from_posix(rules[which][0], rules[which][1], err, sizeof err);
        if (!z[which]) {
            fprintf(stderr, "zone %s: %s\n", rules[which][0], err);
            abort();
        }
    }
    return z[which];
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_error(const char *expr, const char *err)
{
    static const char *const prefixes[] = {
        "second: ", "minute: ",          "hour: ",         "day-of-month: ",
        "month: ",  "day-of-week: ",     "expression is ", "expected 5 fields",
        "@every: ", "unknown macro \"@",
    };
    CHECK(err[0] != '\0');
    bool known = false;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(prefixes); i++)
        known = known || starts_with(err, prefixes[i]);
    /* "@name takes no fields" */
    known = known || (err[0] == '@' && strstr(err, " takes no fields") != NULL);
    if (!known) {
        fprintf(stderr, "error message names nothing: \"%s\" for \"%s\"\n", err, expr);
        abort();
    }
    /* a smaller buffer gets a prefix, terminated, and nothing past it */
    size_t n = strlen(err);
    for (size_t cap = 1; cap <= n; cap += 1 + n / 4) {
        char small[300];
        synq_cron_t c;
        memset(small, 'Z', sizeof small);
        CHECK(synq_cron_parse(expr, &c, small, cap) == SYNQ_EINVAL);
        CHECK(strlen(small) == cap - 1 && strncmp(small, err, cap - 1) == 0);
        CHECK(small[cap] == 'Z');
    }
}

static void check_fields(const synq_cron_t *c)
{
    CHECK((c->sec >> 60) == 0 && (c->min >> 60) == 0);
    CHECK((c->hour >> 24) == 0);
    CHECK((c->dom & 1) == 0);
    CHECK((c->dom_last >> 31) == 0);
    CHECK((c->month & 1) == 0 && (c->month >> 13) == 0);
    CHECK((c->dow >> 7) == 0 && (c->dow_last >> 7) == 0);
    CHECK((c->dow_nth >> 35) == 0);
    if (c->reboot || c->every_s) {
        CHECK(!(c->reboot && c->every_s));
        CHECK(c->every_s >= 0);
        return;
    }
    if (!c->has_seconds) CHECK(c->sec == 1);
    CHECK(c->sec && c->min && c->hour && c->month);
    CHECK(c->dom || c->dom_last || c->dow || c->dow_last || c->dow_nth);
}

/* ---- the rules of cron.h, one instant at a time ---------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool day_ok(const synq_cron_t *c, int64_t days)
{
    int64_t y;
    int m, d;
    synq_civil_from_days(days, &y, &m, &d);
    if (y > 9999 || !((c->month >> m) & 1)) return false; /* cron.c searches to 9999 */
    int last = (int)(synq_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) -
                     synq_days_from_civil(y, m, 1));
    int64_t w = (days + 4) % 7;
    int wd = (int)(w < 0 ? w + 7 : w);
    bool dom_ok = ((c->dom >> d) & 1) || ((c->dom_last >> (last - d)) & 1);
    bool dow_ok = ((c->dow >> wd) & 1) || (((c->dow_last >> wd) & 1) && d + 7 > last) ||
                  ((c->dow_nth >> (wd * 5 + (d - 1) / 7)) & 1);
    return c->dom_star || c->dow_star ? dom_ok && dow_ok : dom_ok || dow_ok;
}

/* Does local time `civil` (seconds, counted as if UTC) match the fields? */
static bool civil_ok(const synq_cron_t *c, int64_t civil)
{
    int64_t days = floor_div(civil, 86400);
    int64_t sod = civil - days * 86400;
    return ((c->sec >> (sod % 60)) & 1) && ((c->min >> (sod / 60 % 60)) & 1) &&
           ((c->hour >> (sod / 3600)) & 1) && day_ok(c, days);
}

/* Is instant u a fire by the rules? */
static bool is_fire(const synq_cron_t *c, const synq_tz_t *tz, int64_t u)
{
    synq_tz_span_t sp;
    synq_tz_span(tz, u, &sp);
    int64_t o = sp.offset, po = sp.prev_offset;
    bool second_pass = sp.start != INT64_MIN && po > o && u < sp.start + (po - o);
    if (civil_ok(c, u + o) && (!second_pass || c->hour_star)) return true;
    /* a gap local time x in [start+po, start+o) fires at x - po */
    return sp.start != INT64_MIN && o > po && u < sp.start + (o - po) && civil_ok(c, u + po);
}

static void fail_fire(const char *what, const char *expr, const synq_tz_t *tz, int64_t t, int64_t n)
{
    fprintf(stderr, "%s: \"%s\" in %s, start %lld, fire %lld\n", what, expr, synq_tz_name(tz),
            (long long)t, (long long)n);
    abort();
}

/* No fire in (t, n) (or after t when !found), looked for in a window. */
static void check_none_between(const synq_cron_t *c, const synq_tz_t *tz, const char *expr,
                               int64_t t, bool found, int64_t n)
{
    int64_t step = c->has_seconds ? 1 : 60;
    int64_t window = c->has_seconds ? 300 : 6 * 3600;
    int64_t hi = t + window;
    if (found && n < hi) hi = n;
    if (hi > LAST_INSTANT + 1) hi = LAST_INSTANT + 1;
    for (int64_t u = floor_div(t, step) * step + step; u < hi; u += step)
        if (is_fire(c, tz, u)) fail_fire("missed a fire before", expr, tz, t, u);
}

static void check_next(const synq_cron_t *c, const synq_tz_t *tz, const char *expr, int64_t t)
{
    int64_t prev = t;
    for (int i = 0; i < FIRES_PER_START; i++) {
        int64_t n = 0;
        int r = synq_cron_next(c, tz, prev, &n);
        CHECK(r == 0 || r == SYNQ_ENOTFOUND);
        if (c->reboot) CHECK(r == SYNQ_ENOTFOUND);
        if (r != 0) {
            /* never stays never */
            int64_t later = prev + 86400 * 400;
            if (later < LAST_INSTANT) CHECK(synq_cron_next(c, tz, later, &n) == SYNQ_ENOTFOUND);
            if (!c->reboot && !c->every_s && i == 0)
                check_none_between(c, tz, expr, prev, false, 0);
            return;
        }
        if (n <= prev) fail_fire("fire not after its start", expr, tz, prev, n);
        if (n > LAST_INSTANT) fail_fire("fire after 9999", expr, tz, prev, n);
        if (c->every_s) {
            CHECK(n % c->every_s == 0 && n - prev <= c->every_s);
        } else {
            if (!is_fire(c, tz, n)) fail_fire("not a fire by the rules", expr, tz, prev, n);
            if (i == 0) check_none_between(c, tz, expr, prev, true, n);
        }
        prev = n;
    }
}

/* FNV-1a, to pick instants from the input without spending its bytes. */
static uint64_t hash(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > SYNQ_CRON_MAX_LEN + 8) return 0;
    char *expr = malloc(size + 1); /* exact size, NUL-terminated */
    if (!expr) abort();
    memcpy(expr, data, size);
    expr[size] = '\0';

    synq_cron_t c, again;
    char err[300], err2[300];
    int r = synq_cron_parse(expr, &c, err, sizeof err);
    CHECK(r == 0 || r == SYNQ_EINVAL);
    CHECK(synq_cron_parse(expr, &again, err2, sizeof err2) == r);
    if (r != 0) {
        CHECK(strcmp(err, err2) == 0);
        check_error(expr, err);
        free(expr);
        return 0;
    }
    CHECK(memcmp(&c, &again, sizeof c) == 0);
    check_fields(&c);

    uint64_t h = hash(data, size);
    /* instants near the zones' transitions, the epoch, the end of time, and
     * two picked by the input in 1900..2100 */
    const int64_t span_1900_2100 = 6311433600LL;
    const int64_t starts[] = {
        1710052200,   /* 2024-03-10T06:30:00Z, New York gap ahead */
        1730612700,   /* 2024-11-03T05:45:00Z, New York first pass */
        1728141000,   /* 2024-10-05T15:10:00Z, Lord Howe gap ahead */
        1712415000,   /* 2024-04-06T14:50:00Z, Lord Howe first pass */
        -1,           /* 1969-12-31T23:59:59Z */
        951782399,    /* 2000-02-28T23:59:59Z */
        253402257600, /* 9999-12-31T12:00:00Z */
        -2208988800 + (int64_t)(h % (uint64_t)span_1900_2100),
        -2208988800 + (int64_t)((h >> 20) % (uint64_t)span_1900_2100),
    };
    const synq_tz_t *dst = zone((int)(h >> 63));
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(starts); i++) {
        check_next(&c, synq_tz_utc(), expr, starts[i]);
        check_next(&c, dst, expr, starts[i]);
    }
    free(expr);
    return 0;
}
