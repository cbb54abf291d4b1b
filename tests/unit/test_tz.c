/* Unit tests for core/tz: the built-in UTC zone; POSIX TZ strings (US,
 * European, Lord Howe's half-hour shift, southern-hemisphere DST across new
 * year, Jn and n dates, negative and over-24h times, negative DST, defaults,
 * rules that never change, rejected strings, years near the int64 limits);
 * real TZif files from /usr/share/zoneinfo checked at transition instants
 * verified with zdump, in 2300 through the footer rule, span by span over
 * 1970..2100 and against the C library's localtime_r(); name checks and
 * loading from $TZDIR; hand-built TZif files for each validation rule; and
 * every prefix and many corruptions of real files (rejected or consistent,
 * never a crash under ASan). */
#include "core/tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define ZONEINFO "/usr/share/zoneinfo"
#define HOUR 3600
#define MAX_OFFSET (26 * HOUR - 1)

/* Instant of a UTC calendar time, from the C library. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) print_error("cannot open %s\n", path);
    assert_non_null(f);
    uint8_t *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* Parses an exact-size heap copy, so a read past len shows up under ASan. */
static synq_tz_t *parse(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    synq_tz_t *tz = synq_tz_parse("test", copy, len, err, errlen);
    free(copy);
    return tz;
}

static synq_tz_t *posix_ok(const char *rule)
{
    char err[128] = "";
    synq_tz_t *tz = synq_tz_from_posix(rule, rule, err, sizeof err);
    if (tz == NULL) print_error("rejected \"%s\": %s\n", rule, err);
    assert_non_null(tz);
    assert_string_equal(synq_tz_name(tz), rule);
    return tz;
}

static synq_tz_t *load_ok(const char *name)
{
    char err[256] = "";
    synq_tz_t *tz = synq_tz_load(name, err, sizeof err);
    if (tz == NULL) print_error("cannot load %s: %s\n", name, err);
    assert_non_null(tz);
    assert_string_equal(synq_tz_name(tz), name);
    return tz;
}

/* The span at t satisfies its contract, and its neighbours meet it. */
static void check_span_at(const synq_tz_t *tz, int64_t t)
{
    synq_tz_span_t s, n;
    synq_tz_span(tz, t, &s);
    assert_true(s.start <= t);
    assert_true(t < s.end || s.end == INT64_MAX);
    assert_int_equal(synq_tz_offset(tz, t), s.offset);
    assert_int_equal(synq_tz_offset(tz, s.start), s.offset);
    assert_true(s.offset >= -MAX_OFFSET && s.offset <= MAX_OFFSET);
    if (s.start == INT64_MIN) {
        assert_int_equal(s.prev_offset, s.offset);
    } else {
        synq_tz_span(tz, s.start - 1, &n);
        assert_int_equal(n.end, s.start);
        assert_int_equal(n.offset, s.prev_offset);
        assert_int_not_equal(n.offset, s.offset);
    }
    if (s.end != INT64_MAX) {
        assert_int_equal(synq_tz_offset(tz, s.end - 1), s.offset);
        synq_tz_span(tz, s.end, &n);
        assert_int_equal(n.start, s.end);
        assert_int_equal(n.prev_offset, s.offset);
        assert_int_not_equal(n.offset, s.offset);
    }
}

/* Walks spans from `from` until `to`: each starts where the previous ended,
 * remembers its offset, differs from it (spans are maximal), and holds at
 * both ends. Returns the number of changes seen. */
static int walk(const synq_tz_t *tz, int64_t from, int64_t to)
{
    synq_tz_span_t s, n;
    int changes = 0;
    synq_tz_span(tz, from, &s);
    assert_true(s.start <= from && (from < s.end || s.end == INT64_MAX));
    while (s.end != INT64_MAX && s.end <= to) {
        assert_int_equal(synq_tz_offset(tz, s.end - 1), s.offset);
        int64_t mid = s.start + (int64_t)(((uint64_t)s.end - (uint64_t)s.start) / 2);
        assert_int_equal(synq_tz_offset(tz, mid), s.offset);
        synq_tz_span(tz, s.end, &n);
        assert_int_equal(n.start, s.end);
        assert_int_equal(n.prev_offset, s.offset);
        assert_int_not_equal(n.offset, s.offset);
        assert_true(n.end > n.start);
        s = n;
        changes++;
    }
    return changes;
}

/* The offset changes from `before` to `after` exactly at instant t. */
static void check_change(const synq_tz_t *tz, int64_t t, int32_t before, int32_t after)
{
    synq_tz_span_t s;
    assert_int_equal(synq_tz_offset(tz, t - 1), before);
    assert_int_equal(synq_tz_offset(tz, t), after);
    synq_tz_span(tz, t - 1, &s);
    assert_int_equal(s.end, t);
    assert_int_equal(s.offset, before);
    synq_tz_span(tz, t, &s);
    assert_int_equal(s.start, t);
    assert_int_equal(s.offset, after);
    assert_int_equal(s.prev_offset, before);
    check_span_at(tz, t);
}

static void check_fixed(const synq_tz_t *tz, int32_t offset)
{
    static const int64_t ts[] = {INT64_MIN, -1, 0, 1700000000, INT64_MAX};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ts); i++) {
        synq_tz_span_t s;
        synq_tz_span(tz, ts[i], &s);
        assert_int_equal(s.start, INT64_MIN);
        assert_int_equal(s.end, INT64_MAX);
        assert_int_equal(s.offset, offset);
        assert_int_equal(s.prev_offset, offset);
        assert_int_equal(synq_tz_offset(tz, ts[i]), offset);
    }
}

/* ---- UTC ---- */

static void test_utc(void **state)
{
    const synq_tz_t *tz = synq_tz_utc();
    assert_ptr_equal(tz, synq_tz_utc());
    assert_string_equal(synq_tz_name(tz), "UTC");
    check_fixed(tz, 0);
    synq_tz_free(tz); /* ignored */
    synq_tz_free(NULL);
    assert_string_equal(synq_tz_name(synq_tz_utc()), "UTC");
}

/* "UTC", "Etc/UTC" and "Z" need no file: TZDIR points nowhere. */
static void test_load_builtin_utc(void **state)
{
    setenv("TZDIR", "/nonexistent/zoneinfo", 1);
    static const char *names[] = {"UTC", "Etc/UTC", "Z"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) {
        synq_tz_t *tz = load_ok(names[i]);
        check_fixed(tz, 0);
        synq_tz_free(tz);
    }
    char err[128] = "";
    assert_null(synq_tz_load("Europe/Berlin", err, sizeof err));
    assert_string_equal(err, "unknown time zone \"Europe/Berlin\"");
    unsetenv("TZDIR");
}

/* ---- POSIX strings ---- */

static void test_posix_new_york(void **state)
{
    synq_tz_t *tz = posix_ok("EST5EDT,M3.2.0,M11.1.0");
    check_change(tz, utc(2024, 3, 10, 7, 0, 0), -5 * HOUR, -4 * HOUR);
    check_change(tz, utc(2024, 11, 3, 6, 0, 0), -4 * HOUR, -5 * HOUR);
    synq_tz_span_t s;
    synq_tz_span(tz, utc(2024, 7, 4, 12, 0, 0), &s);
    assert_int_equal(s.start, utc(2024, 3, 10, 7, 0, 0));
    assert_int_equal(s.end, utc(2024, 11, 3, 6, 0, 0));
    assert_int_equal(s.offset, -4 * HOUR);
    assert_int_equal(s.prev_offset, -5 * HOUR);
    synq_tz_span(tz, utc(2025, 1, 1, 0, 0, 0), &s);
    assert_int_equal(s.start, utc(2024, 11, 3, 6, 0, 0));
    assert_int_equal(s.end, utc(2025, 3, 9, 7, 0, 0));
    assert_int_equal(walk(tz, utc(1970, 1, 1, 0, 0, 0), utc(2100, 1, 1, 0, 0, 0)), 260);
    synq_tz_free(tz);
}

static void test_posix_berlin(void **state)
{
    synq_tz_t *tz = posix_ok("CET-1CEST,M3.5.0,M10.5.0/3");
    check_change(tz, utc(2024, 3, 31, 1, 0, 0), HOUR, 2 * HOUR);
    check_change(tz, utc(2024, 10, 27, 1, 0, 0), 2 * HOUR, HOUR);
    /* 2021: March 28 and October 31 are last Sundays */
    check_change(tz, utc(2021, 3, 28, 1, 0, 0), HOUR, 2 * HOUR);
    check_change(tz, utc(2021, 10, 31, 1, 0, 0), 2 * HOUR, HOUR);
    synq_tz_free(tz);
}

/* Lord Howe shifts by 30 minutes: +10:30 standard, +11 summer. */
static void test_posix_lord_howe(void **state)
{
    synq_tz_t *tz = posix_ok("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
    /* 2024-04-07 02:00 +11 -> 01:30 +10:30 */
    check_change(tz, utc(2024, 4, 6, 15, 0, 0), 11 * HOUR, 10 * HOUR + 1800);
    /* 2024-10-06 02:00 +10:30 -> 02:30 +11 */
    check_change(tz, utc(2024, 10, 5, 15, 30, 0), 10 * HOUR + 1800, 11 * HOUR);
    assert_int_equal(walk(tz, 0, utc(2100, 1, 1, 0, 0, 0)), 260);
    synq_tz_free(tz);
}

/* Southern hemisphere: DST runs across new year, so the span holding
 * January 1 starts in the previous October. */
static void test_posix_southern_new_year(void **state)
{
    synq_tz_t *tz = posix_ok("AEST-10AEDT,M10.1.0,M4.1.0/3");
    synq_tz_span_t s;
    synq_tz_span(tz, utc(2024, 1, 1, 0, 0, 0), &s);
    assert_int_equal(s.start, utc(2023, 9, 30, 16, 0, 0)); /* 2023-10-01 02:00 AEST */
    assert_int_equal(s.end, utc(2024, 4, 6, 16, 0, 0));    /* 2024-04-07 03:00 AEDT */
    assert_int_equal(s.offset, 11 * HOUR);
    assert_int_equal(s.prev_offset, 10 * HOUR);
    synq_tz_span(tz, utc(2024, 7, 1, 0, 0, 0), &s);
    assert_int_equal(s.start, utc(2024, 4, 6, 16, 0, 0));
    assert_int_equal(s.end, utc(2024, 10, 5, 16, 0, 0));
    assert_int_equal(s.offset, 10 * HOUR);
    /* the span holding the instant of new year itself, local and UTC */
    check_span_at(tz, utc(2023, 12, 31, 13, 0, 0));
    check_span_at(tz, utc(2023, 12, 31, 23, 59, 59));
    synq_tz_free(tz);

    /* Santiago: "/24" is midnight at the end of the first Saturday */
    tz = posix_ok("<-04>4<-03>,M9.1.6/24,M4.1.6/24");
    check_change(tz, utc(2024, 4, 7, 3, 0, 0), -3 * HOUR, -4 * HOUR);
    check_change(tz, utc(2024, 9, 8, 4, 0, 0), -4 * HOUR, -3 * HOUR);
    synq_tz_span(tz, utc(2025, 1, 1, 0, 0, 0), &s);
    assert_int_equal(s.start, utc(2024, 9, 8, 4, 0, 0));
    assert_int_equal(s.end, utc(2025, 4, 6, 3, 0, 0));
    synq_tz_free(tz);
}

/* Jn never counts February 29; n (zero-based) does. */
static void test_posix_julian_and_zero_based(void **state)
{
    synq_tz_t *j = posix_ok("AAA3BBB,J60,J300");
    synq_tz_t *n = posix_ok("AAA3BBB,59,299");
    /* 2024 is a leap year: J60 is March 1, 59 is February 29 */
    check_change(j, utc(2024, 3, 1, 5, 0, 0), -3 * HOUR, -2 * HOUR);
    check_change(n, utc(2024, 2, 29, 5, 0, 0), -3 * HOUR, -2 * HOUR);
    check_change(j, utc(2024, 10, 27, 4, 0, 0), -2 * HOUR, -3 * HOUR);
    check_change(n, utc(2024, 10, 26, 4, 0, 0), -2 * HOUR, -3 * HOUR);
    /* 2023 is not: both name March 1 and October 27 */
    check_change(j, utc(2023, 3, 1, 5, 0, 0), -3 * HOUR, -2 * HOUR);
    check_change(n, utc(2023, 3, 1, 5, 0, 0), -3 * HOUR, -2 * HOUR);
    check_change(j, utc(2023, 10, 27, 4, 0, 0), -2 * HOUR, -3 * HOUR);
    check_change(n, utc(2023, 10, 27, 4, 0, 0), -2 * HOUR, -3 * HOUR);
    synq_tz_free(j);
    synq_tz_free(n);

    /* J365 is December 31 in every year; 364 is December 30 in leap years
     * and December 31 in common years */
    j = posix_ok("AAA3BBB,J1/0,J365/12");
    check_change(j, utc(2024, 12, 31, 14, 0, 0), -2 * HOUR, -3 * HOUR);
    check_change(j, utc(2025, 1, 1, 3, 0, 0), -3 * HOUR, -2 * HOUR);
    synq_tz_free(j);
    n = posix_ok("AAA3BBB,0/0,364/12");
    check_change(n, utc(2024, 12, 30, 14, 0, 0), -2 * HOUR, -3 * HOUR);
    check_change(n, utc(2023, 12, 31, 14, 0, 0), -2 * HOUR, -3 * HOUR);
    check_change(n, utc(2024, 1, 1, 3, 0, 0), -3 * HOUR, -2 * HOUR);
    synq_tz_free(n);

    /* Day 365 of a common year is January 1 of the next, after that year's
     * own start: changes are applied in time order, so 2024 has DST only
     * from 03:00Z to 14:00Z on January 1 (libc implementations evaluate
     * such overlapping rules year by year, and disagree with each other) */
    n = posix_ok("AAA3BBB,0/0,365/12");
    synq_tz_span_t s;
    synq_tz_span(n, utc(2024, 6, 1, 0, 0, 0), &s);
    assert_int_equal(s.start, utc(2024, 1, 1, 14, 0, 0)); /* day 365 of 2023 */
    assert_int_equal(s.end, utc(2025, 1, 1, 3, 0, 0));
    assert_int_equal(s.offset, -3 * HOUR);
    walk(n, 0, utc(2100, 1, 1, 0, 0, 0));
    synq_tz_free(n);
}

/* RFC 8536 §3.3.1: times may be negative and exceed 24 hours. */
static void test_posix_negative_and_long_times(void **state)
{
    /* Nuuk: -1:00 on the last Sunday of March is Saturday 23:00 */
    synq_tz_t *tz = posix_ok("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    check_change(tz, utc(2024, 3, 31, 1, 0, 0), -2 * HOUR, -HOUR);
    check_change(tz, utc(2024, 10, 27, 1, 0, 0), -HOUR, -2 * HOUR);
    synq_tz_free(tz);

    /* Jerusalem: 26:00 on the fourth Thursday of March is Friday 02:00 */
    tz = posix_ok("IST-2IDT,M3.4.4/26,M10.5.0");
    check_change(tz, utc(2024, 3, 29, 0, 0, 0), 2 * HOUR, 3 * HOUR);
    check_change(tz, utc(2024, 10, 26, 23, 0, 0), 3 * HOUR, 2 * HOUR);
    check_change(tz, utc(2023, 3, 24, 0, 0, 0), 2 * HOUR, 3 * HOUR);
    synq_tz_free(tz);

    /* the extremes: -167 h from Sunday March 31 is Sunday March 24 01:00,
     * +167 h from Sunday October 27 is Saturday November 2 23:00 */
    tz = posix_ok("<-03>3<-02>,M3.5.0/-167,M10.5.0/167");
    check_change(tz, utc(2024, 3, 24, 4, 0, 0), -3 * HOUR, -2 * HOUR);
    check_change(tz, utc(2024, 11, 3, 1, 0, 0), -2 * HOUR, -3 * HOUR);
    assert_int_equal(walk(tz, 0, utc(2100, 1, 1, 0, 0, 0)), 260);
    synq_tz_free(tz);

    /* minutes in a time, Chatham */
    tz = posix_ok("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45");
    check_change(tz, utc(2024, 9, 28, 14, 0, 0), 12 * HOUR + 2700, 13 * HOUR + 2700);
    check_change(tz, utc(2024, 4, 6, 14, 0, 0), 13 * HOUR + 2700, 12 * HOUR + 2700);
    synq_tz_free(tz);
}

/* Dublin's "DST" is winter, one hour behind standard time. */
static void test_posix_negative_dst(void **state)
{
    synq_tz_t *tz = posix_ok("IST-1GMT0,M10.5.0,M3.5.0/1");
    check_change(tz, utc(2024, 3, 31, 1, 0, 0), 0, HOUR);
    check_change(tz, utc(2024, 10, 27, 1, 0, 0), HOUR, 0);
    synq_tz_free(tz);
}

static void test_posix_defaults(void **state)
{
    /* no rule: the US rule, as tzcode and glibc use */
    synq_tz_t *tz = posix_ok("ABC5DEF");
    check_change(tz, utc(2024, 3, 10, 7, 0, 0), -5 * HOUR, -4 * HOUR);
    check_change(tz, utc(2024, 11, 3, 6, 0, 0), -4 * HOUR, -5 * HOUR);
    synq_tz_free(tz);
    /* an explicit DST offset, not std + 1 h (Troll) */
    tz = posix_ok("<+00>0<+02>-2,M3.5.0/1,M10.5.0/3");
    check_change(tz, utc(2024, 3, 31, 1, 0, 0), 0, 2 * HOUR);
    check_change(tz, utc(2024, 10, 27, 1, 0, 0), 2 * HOUR, 0);
    synq_tz_free(tz);
    /* signs and seconds in offsets */
    tz = posix_ok("<+0545>-5:45");
    check_fixed(tz, 5 * HOUR + 2700);
    synq_tz_free(tz);
    tz = posix_ok("LMT+0:17:30");
    check_fixed(tz, -1050);
    synq_tz_free(tz);
    tz = posix_ok("XXX-24:59:59");
    check_fixed(tz, 24 * HOUR + 3599);
    synq_tz_free(tz);
}

/* Rules that never change the offset are a fixed offset forever. */
static void test_posix_fixed(void **state)
{
    static const struct {
        const char *rule;
        int32_t offset;
    } cases[] = {
        {"UTC0", 0},
        {"<-03>3", -3 * HOUR},
        {"EST5EDT4,0/0,J365/25", -4 * HOUR},    /* DST all year */
        {"AAA3BBB3,M3.2.0,M11.1.0", -3 * HOUR}, /* same offsets */
        {"AAA3BBB,J100/2,J100/3", -3 * HOUR},   /* DST begins and ends at once */
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(cases); i++) {
        synq_tz_t *tz = posix_ok(cases[i].rule);
        check_fixed(tz, cases[i].offset);
        synq_tz_free(tz);
    }
}

static void test_posix_invalid(void **state)
{
    static const char *bad[] = {"",
                                "EST",
                                "5",
                                "EST5EDT,",
                                "EST5EDT,M3.2.0",
                                "EST5EDT,M3.2.0,",
                                "EST5EDT,M3.2.0,M11.1.0,",
                                "EST5EDT,M13.1.0,M11.1.0",
                                "EST5EDT,M0.1.0,M11.1.0",
                                "EST5EDT,M3.6.0,M11.1.0",
                                "EST5EDT,M3.0.0,M11.1.0",
                                "EST5EDT,M3.2.7,M11.1.0",
                                "EST5EDT,M3.2,M11.1.0",
                                "EST5EDT,J0,J300",
                                "EST5EDT,J366,J300",
                                "EST5EDT,366,300",
                                "EST5EDT,-1,300",
                                "EST5EDT,M3.2.0/168,M11.1.0",
                                "EST5EDT,M3.2.0/-168,M11.1.0",
                                "EST5EDT,M3.2.0/2:60,M11.1.0",
                                "EST5EDT,M3.2.0/2:00:60,M11.1.0",
                                "EST5EDT,M3.2.0/,M11.1.0",
                                "EST25",
                                "EST-25",
                                "EST5:60",
                                "EST5EDT25",
                                "EST5 ",
                                " EST5",
                                "EST5\n",
                                "<EST5",
                                "<>5",
                                "<E S>5",
                                "<EST>",
                                "EST5EDT,M3.2.0,M11.1.0x",
                                "EST5EDT;M3.2.0,M11.1.0",
                                "EST0005",
                                "EST+",
                                "EST5EDT,M03.2.0.1,M11.1.0"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char err[128] = "";
        synq_tz_t *tz = synq_tz_from_posix("x", bad[i], err, sizeof err);
        if (tz != NULL) print_error("accepted \"%s\"\n", bad[i]);
        assert_null(tz);
        assert_non_null(strstr(err, "invalid TZ string"));
    }
    char err[8];
    assert_null(synq_tz_from_posix("x", NULL, err, sizeof err));
    assert_null(synq_tz_from_posix("x", "", NULL, 0)); /* no room for a message: fine */
    /* an over-long abbreviation */
    char longname[300];
    memset(longname, 'A', 256);
    strcpy(longname + 256, "5");
    assert_null(synq_tz_from_posix("x", longname, NULL, 0));
    longname[1] = '\0';
    synq_tz_t *tz = posix_ok("A5"); /* one letter is accepted, as tzcode does */
    synq_tz_free(tz);
}

/* Far years: spans stay consistent up to the int64 limits, and beyond
 * years -100000..100000 the offset at the edge holds. */
static void test_posix_far_years(void **state)
{
    synq_tz_t *tz = posix_ok("EST5EDT,M3.2.0,M11.1.0");
    int64_t lo = utc(-100000, 1, 1, 0, 0, 0), hi = utc(100001, 1, 1, 0, 0, 0);
    const int64_t ts[] = {INT64_MIN,
                          INT64_MIN + 1,
                          -(1LL << 59),
                          lo - 1,
                          lo,
                          lo + 1,
                          utc(0, 1, 1, 0, 0, 0),
                          utc(9999, 12, 31, 23, 59, 59),
                          hi - 1,
                          hi,
                          hi + 1,
                          1LL << 59,
                          INT64_MAX - 1,
                          INT64_MAX};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(ts); i++)
        check_span_at(tz, ts[i]);
    synq_tz_span_t s;
    synq_tz_span(tz, INT64_MAX, &s);
    assert_int_equal(s.end, INT64_MAX);
    assert_true(s.start >= utc(100000, 1, 1, 0, 0, 0) && s.start < utc(100001, 1, 1, 0, 0, 0));
    synq_tz_span(tz, INT64_MIN, &s);
    assert_int_equal(s.start, INT64_MIN);
    assert_int_equal(s.prev_offset, s.offset);
    assert_true(s.end >= utc(-100000, 1, 1, 0, 0, 0) && s.end < utc(-99999, 1, 1, 0, 0, 0));
    /* constant beyond, changing within */
    synq_tz_span(tz, utc(100002, 7, 1, 0, 0, 0), &s);
    assert_int_equal(s.end, INT64_MAX);
    assert_int_equal(walk(tz, utc(99999, 1, 1, 0, 0, 0), utc(100000, 12, 31, 0, 0, 0)), 4);
    assert_int_equal(walk(tz, utc(-100000, 1, 1, 0, 0, 0), utc(-99999, 12, 31, 0, 0, 0)), 4);
    /* year 9999 still has its two changes */
    assert_int_equal(walk(tz, utc(9999, 1, 1, 0, 0, 0), utc(9999, 12, 31, 0, 0, 0)), 2);
    /* year 2300 through the rule alone */
    check_change(tz, 10419778800LL, -5 * HOUR, -4 * HOUR); /* 2300-03-11T07:00Z */
    synq_tz_free(tz);
}

/* ---- real files ---- */

static void test_file_new_york(void **state)
{
    synq_tz_t *tz = load_ok("America/New_York");
    check_change(tz, utc(2024, 3, 10, 7, 0, 0), -18000, -14400);
    check_change(tz, utc(2024, 11, 3, 6, 0, 0), -14400, -18000);
    /* 2300 is past the table (fat files stop in 2037): the footer rule */
    check_change(tz, utc(2300, 3, 11, 7, 0, 0), -18000, -14400);
    check_change(tz, utc(2300, 11, 4, 6, 0, 0), -14400, -18000);
    /* 1883-11-18 17:00 LMT (-4:56:02) became EST at noon Eastern */
    check_change(tz, utc(1883, 11, 18, 17, 0, 0), -17762, -18000);
    synq_tz_span_t s;
    synq_tz_span(tz, INT64_MIN, &s);
    assert_int_equal(s.start, INT64_MIN);
    assert_int_equal(s.offset, -17762); /* LMT, type 0 */
    assert_int_equal(s.end, utc(1883, 11, 18, 17, 0, 0));
    /* across the table's end into the rule */
    assert_int_equal(walk(tz, utc(2030, 1, 1, 0, 0, 0), utc(2045, 1, 1, 0, 0, 0)), 30);
    synq_tz_free(tz);
}

static void test_file_berlin(void **state)
{
    synq_tz_t *tz = load_ok("Europe/Berlin");
    check_change(tz, utc(2024, 3, 31, 1, 0, 0), 3600, 7200);
    check_change(tz, utc(2024, 10, 27, 1, 0, 0), 7200, 3600);
    check_change(tz, utc(2300, 3, 25, 1, 0, 0), 3600, 7200);
    check_change(tz, utc(2300, 10, 28, 1, 0, 0), 7200, 3600);
    synq_tz_free(tz);
}

static void test_file_lord_howe(void **state)
{
    synq_tz_t *tz = load_ok("Australia/Lord_Howe");
    /* 2024-04-07 02:00 +11 -> 01:30 +10:30 */
    check_change(tz, utc(2024, 4, 6, 15, 0, 0), 39600, 37800);
    /* 2024-10-06 02:00 +10:30 -> 02:30 +11 */
    check_change(tz, utc(2024, 10, 5, 15, 30, 0), 37800, 39600);
    check_change(tz, utc(2300, 3, 31, 15, 0, 0), 39600, 37800);
    check_change(tz, utc(2300, 10, 6, 15, 30, 0), 37800, 39600);
    synq_tz_free(tz);
}

static const char *walk_zones[] = {
    "America/New_York",   "Europe/Berlin",    "Australia/Lord_Howe",
    "Australia/Sydney",   "America/Nuuk",     "Asia/Jerusalem",
    "Europe/Dublin",      "America/Santiago", "Pacific/Chatham",
    "Africa/Casablanca",  "Asia/Kolkata",     "Antarctica/Troll",
    "Pacific/Kiritimati", "Etc/GMT+12",       "UTC",
};

/* Span continuity over 1970..2100 for zones with many kinds of rules. */
static void test_file_continuity(void **state)
{
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(walk_zones); i++) {
        synq_tz_t *tz = load_ok(walk_zones[i]);
        walk(tz, utc(1970, 1, 1, 0, 0, 0), utc(2100, 1, 1, 0, 0, 0));
        walk(tz, INT64_MIN, utc(1900, 1, 1, 0, 0, 0));
        check_span_at(tz, INT64_MIN);
        check_span_at(tz, INT64_MAX);
        synq_tz_free(tz);
    }
}

/* The same offsets as the C library's localtime_r() reading the same files,
 * at random instants and around every change, 1971..2400 (glibc evaluates
 * POSIX rules only from 1970 on, and per UTC year). */
static void test_file_matches_libc(void **state)
{
    uint32_t seed = 12345;
    unsetenv("TZDIR");
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(walk_zones); i++) {
        synq_tz_t *tz = load_ok(walk_zones[i]);
        char env[160];
        snprintf(env, sizeof env, ":%s", walk_zones[i]);
        setenv("TZ", env, 1);
        tzset();
        int64_t lo = utc(1971, 1, 1, 0, 0, 0), hi = utc(2400, 1, 1, 0, 0, 0);
        for (int k = 0; k < 3000; k++) {
            int64_t t = lo + (int64_t)(((uint64_t)rng_next(&seed) << 32 | rng_next(&seed)) %
                                       (uint64_t)(hi - lo));
            if (k % 2) { /* next to a change */
                synq_tz_span_t s;
                synq_tz_span(tz, t, &s);
                if (s.end != INT64_MAX && s.end < hi) t = s.end - 1 + k % 3;
            }
            time_t tt = (time_t)t;
            struct tm tm;
            assert_non_null(localtime_r(&tt, &tm));
            if (tm.tm_gmtoff != synq_tz_offset(tz, t))
                print_error("%s at %lld: libc %ld, tz %d\n", walk_zones[i], (long long)t,
                            (long)tm.tm_gmtoff, synq_tz_offset(tz, t));
            assert_int_equal(tm.tm_gmtoff, synq_tz_offset(tz, t));
        }
        synq_tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

/* ---- names and loading ---- */

static void test_load_bad_names(void **state)
{
    char toolong[SYNQ_TZ_NAME_MAX + 2];
    memset(toolong, 'A', sizeof toolong - 1);
    toolong[sizeof toolong - 1] = '\0';
    const char *bad[] = {
        "../etc/passwd",
        "/etc/localtime",
        "Foo/../Bar",
        "",
        toolong,
        "Europe/./Berlin",
        "Europe//Berlin",
        "Europe/",
        "/",
        ".",
        "..",
        "Europe/Berlin ",
        "Europe\\Berlin",
        "zone.tab",
        "Europe/Berlin\n",
        "Am\xc3\xa9rica/X",
        "A:B",
        "~root",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char err[128] = "";
        synq_tz_t *tz = synq_tz_load(bad[i], err, sizeof err);
        if (tz != NULL) print_error("accepted \"%s\"\n", bad[i]);
        assert_null(tz);
        assert_non_null(strstr(err, "invalid time zone name"));
    }
    char err[128] = "";
    assert_null(synq_tz_load(NULL, err, sizeof err));
    assert_non_null(strstr(err, "invalid time zone name"));
    /* exactly SYNQ_TZ_NAME_MAX bytes is a valid name (that does not exist) */
    toolong[SYNQ_TZ_NAME_MAX] = '\0';
    assert_null(synq_tz_load(toolong, err, sizeof err));
    assert_non_null(strstr(err, "unknown time zone"));
}

static void test_load_unknown(void **state)
{
    unsetenv("TZDIR");
    char err[128] = "";
    assert_null(synq_tz_load("Mars/Base", err, sizeof err));
    assert_string_equal(err, "unknown time zone \"Mars/Base\"");
    /* a directory is not a zone */
    assert_null(synq_tz_load("America", err, sizeof err));
    assert_string_equal(err, "unknown time zone \"America\"");
    /* a path through a file */
    assert_null(synq_tz_load("Europe/Berlin/X", err, sizeof err));
    assert_string_equal(err, "unknown time zone \"Europe/Berlin/X\"");
    /* names with '+', '-' and '_' are fine */
    synq_tz_t *tz = load_ok("Etc/GMT+5");
    check_fixed(tz, -5 * HOUR);
    synq_tz_free(tz);
    tz = load_ok("America/Port-au-Prince");
    synq_tz_free(tz);
    assert_null(synq_tz_load("Mars/Base", NULL, 0));
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* $TZDIR replaces the system directory; files over 1 MiB and files that are
 * not TZif are refused with the zone's name in the message. */
static void test_load_tzdir(void **state)
{
    char dir[] = "/tmp/synq-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], sub[256];
    snprintf(sub, sizeof sub, "%s/Test", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    size_t len;
    uint8_t *ny = read_file(ZONEINFO "/America/New_York", &len);
    snprintf(path, sizeof path, "%s/Test/Zone", dir);
    write_file(path, ny, len);
    snprintf(path, sizeof path, "%s/Test/Text", dir);
    write_file(path, "hello\n", 6);
    uint8_t *big = calloc(1, (1 << 20) + 1);
    memcpy(big, ny, len);
    snprintf(path, sizeof path, "%s/Test/Big", dir);
    write_file(path, big, (1 << 20) + 1);
    snprintf(path, sizeof path, "%s/Test/Max", dir);
    write_file(path, big, 1 << 20); /* trailing zeros after a valid file: ignored */

    setenv("TZDIR", dir, 1);
    synq_tz_t *tz = load_ok("Test/Zone");
    check_change(tz, utc(2024, 3, 10, 7, 0, 0), -18000, -14400);
    synq_tz_free(tz);
    tz = load_ok("Test/Max");
    check_change(tz, utc(2024, 11, 3, 6, 0, 0), -14400, -18000);
    synq_tz_free(tz);
    char err[128] = "";
    assert_null(synq_tz_load("Test/Text", err, sizeof err));
    assert_string_equal(err, "time zone \"Test/Text\": truncated header");
    assert_null(synq_tz_load("Test/Big", err, sizeof err));
    assert_non_null(strstr(err, "time zone \"Test/Big\": file larger than"));
    assert_null(synq_tz_load("Europe/Berlin", err, sizeof err));
    assert_string_equal(err, "unknown time zone \"Europe/Berlin\"");
    /* built-in UTC does not look at the directory */
    tz = load_ok("UTC");
    synq_tz_free(tz);
    setenv("TZDIR", "", 1); /* empty: the system directory */
    tz = load_ok("Europe/Berlin");
    synq_tz_free(tz);
    unsetenv("TZDIR");

    static const char *names[] = {"Test/Zone", "Test/Text", "Test/Big", "Test/Max"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(sub);
    rmdir(dir);
    free(big);
    free(ny);
}

/* ---- malformed data ---- */

static const char *sample_files[] = {
    ZONEINFO "/Etc/UTC",
    ZONEINFO "/America/New_York",
    ZONEINFO "/Australia/Lord_Howe",
    ZONEINFO "/Europe/Berlin",
};

/* Every proper prefix is rejected (the footer must end in a newline). */
static void test_parse_prefixes(void **state)
{
    for (size_t f = 0; f < SYNQ_ARRAY_LEN(sample_files); f++) {
        size_t len;
        uint8_t *data = read_file(sample_files[f], &len);
        char err[128];
        synq_tz_t *tz = parse(data, len, err, sizeof err);
        assert_non_null(tz);
        synq_tz_free(tz);
        for (size_t k = 0; k < len; k++) {
            err[0] = '\0';
            tz = parse(data, k, err, sizeof err);
            if (tz != NULL) print_error("%s: prefix of %zu bytes accepted\n", sample_files[f], k);
            assert_null(tz);
            assert_true(err[0] != '\0');
        }
        free(data);
    }
    assert_null(synq_tz_parse("x", NULL, 0, NULL, 0));
}

/* Flipped bytes: rejected, or a zone whose spans are consistent. */
static void test_parse_corrupted(void **state)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x0a};
    size_t accepted = 0, rejected = 0;
    for (size_t f = 0; f < SYNQ_ARRAY_LEN(sample_files); f++) {
        size_t len;
        uint8_t *data = read_file(sample_files[f], &len);
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t m = 0; m < SYNQ_ARRAY_LEN(masks); m++) {
                data[pos] ^= masks[m];
                synq_tz_t *tz = parse(data, len, NULL, 0);
                data[pos] ^= masks[m];
                if (tz == NULL) {
                    rejected++;
                    continue;
                }
                accepted++;
                static const int64_t ts[] = {INT64_MIN,    -(1LL << 59),  -1,       0,
                                             1711846800LL, 10420966800LL, INT64_MAX};
                for (size_t i = 0; i < SYNQ_ARRAY_LEN(ts); i++)
                    check_span_at(tz, ts[i]);
                synq_tz_free(tz);
            }
        }
        free(data);
    }
    assert_true(accepted > 0 && rejected > 0);
}

/* A version 1 file: the first block of New York's file on its own. */
static void test_parse_v1(void **state)
{
    size_t len;
    uint8_t *data = read_file(ZONEINFO "/America/New_York", &len);
    const uint8_t *h = data;
#define BE32(p) ((uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (p)[3])
    size_t v1 = 44 + BE32(h + 32) * 5 + BE32(h + 36) * 6 + BE32(h + 40) + BE32(h + 28) * 8 +
                BE32(h + 24) + BE32(h + 20);
#undef BE32
    assert_true(v1 < len);
    uint8_t *one = malloc(v1);
    memcpy(one, data, v1);
    one[4] = 0;
    char err[128] = "";
    synq_tz_t *tz1 = parse(one, v1, err, sizeof err);
    if (tz1 == NULL) print_error("v1: %s\n", err);
    assert_non_null(tz1);
    synq_tz_t *tz2 = parse(data, len, err, sizeof err);
    assert_non_null(tz2);
    /* the same offsets within the 32-bit range, the last type after it */
    for (int64_t t = INT32_MIN; t < INT32_MAX; t += 86400 / 4)
        assert_int_equal(synq_tz_offset(tz1, t), synq_tz_offset(tz2, t));
    assert_int_equal(synq_tz_offset(tz1, utc(2300, 7, 1, 0, 0, 0)), -18000);
    walk(tz1, INT64_MIN, INT64_MAX);
    for (size_t k = 0; k < v1; k++)
        assert_null(parse(one, k, NULL, 0));
    synq_tz_free(tz1);
    synq_tz_free(tz2);
    free(one);
    free(data);
}

/* ---- hand-built TZif ---- */

typedef struct {
    uint8_t version;  /* the byte: 0, '2', '3', '4', ... */
    uint8_t version2; /* the second header's, 0 = same */
    size_t timecnt;
    const int64_t *times;
    const uint8_t *idx;
    size_t typecnt;
    const int32_t *utoff;
    const uint8_t *isdst; /* NULL: all 0 */
    const uint8_t *desig; /* NULL: all 0 */
    size_t charcnt;       /* abbreviation bytes, all "X\0X\0..." */
    size_t leapcnt;
    size_t isstdcnt, isutcnt;
    uint8_t indicator;  /* value of every isstd/isut byte */
    const char *footer; /* between the newlines; NULL: no footer at all */
} spec_t;

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    *p++ = (uint8_t)(v >> 24), *p++ = (uint8_t)(v >> 16), *p++ = (uint8_t)(v >> 8),
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_header(uint8_t *p, uint8_t version, const spec_t *s, size_t timecnt)
{
    memcpy(p, "TZif", 4);
    p[4] = version;
    memset(p + 5, 0, 15);
    p += 20;
    p = put32(p, (uint32_t)s->isutcnt);
    p = put32(p, (uint32_t)s->isstdcnt);
    p = put32(p, (uint32_t)s->leapcnt);
    p = put32(p, (uint32_t)timecnt);
    p = put32(p, (uint32_t)s->typecnt);
    return put32(p, (uint32_t)s->charcnt);
}

/* Types, abbreviations, leap records and indicators of one block. */
static uint8_t *put_rest(uint8_t *p, const spec_t *s, int tsize)
{
    for (size_t i = 0; i < s->typecnt; i++) {
        p = put32(p, (uint32_t)s->utoff[i]);
        *p++ = s->isdst ? s->isdst[i] : 0;
        *p++ = s->desig ? s->desig[i] : 0;
    }
    for (size_t i = 0; i < s->charcnt; i++)
        *p++ = i % 2 ? 0 : 'X';
    for (size_t i = 0; i < s->leapcnt; i++) { /* 1972-07-01, 27 records' worth of junk */
        if (tsize == 8) p = put32(p, 0);
        p = put32(p, (uint32_t)(78796800 + i * 15768000));
        p = put32(p, (uint32_t)(i + 1));
    }
    memset(p, s->indicator, s->isstdcnt + s->isutcnt);
    return p + s->isstdcnt + s->isutcnt;
}

static size_t build(const spec_t *s, uint8_t *out)
{
    uint8_t *p = out;
    if (s->version == 0) {
        p = put_header(p, 0, s, s->timecnt);
        for (size_t i = 0; i < s->timecnt; i++)
            p = put32(p, (uint32_t)(int32_t)s->times[i]);
        memcpy(p, s->idx, s->timecnt);
        p += s->timecnt;
        p = put_rest(p, s, 4);
        return (size_t)(p - out);
    }
    /* a v1 block without transitions, as zic -b slim writes */
    p = put_header(p, s->version, s, 0);
    p = put_rest(p, s, 4);
    p = put_header(p, s->version2 ? s->version2 : s->version, s, s->timecnt);
    for (size_t i = 0; i < s->timecnt; i++) {
        p = put32(p, (uint32_t)((uint64_t)s->times[i] >> 32));
        p = put32(p, (uint32_t)s->times[i]);
    }
    memcpy(p, s->idx, s->timecnt);
    p += s->timecnt;
    p = put_rest(p, s, 8);
    if (s->footer != NULL) {
        size_t n = strlen(s->footer);
        *p++ = '\n';
        memcpy(p, s->footer, n);
        p += n;
        *p++ = '\n';
    }
    return (size_t)(p - out);
}

static synq_tz_t *build_parse(const spec_t *s, char *err, size_t errlen)
{
    static uint8_t buf[8192];
    size_t len = build(s, buf);
    return parse(buf, len, err, errlen);
}

static synq_tz_t *build_ok(const spec_t *s)
{
    char err[128] = "";
    synq_tz_t *tz = build_parse(s, err, sizeof err);
    if (tz == NULL) print_error("rejected: %s\n", err);
    assert_non_null(tz);
    return tz;
}

static void build_bad(const spec_t *s, const char *want)
{
    char err[128] = "";
    synq_tz_t *tz = build_parse(s, err, sizeof err);
    assert_null(tz);
    if (strstr(err, want) == NULL) print_error("error \"%s\", wanted \"%s\"\n", err, want);
    assert_non_null(strstr(err, want));
}

static const int32_t offs3[] = {-17762, -18000, -14400};
static const uint8_t dst3[] = {0, 0, 1};
static const int64_t times4[] = {-2717650800LL, 1710054000LL, 1730613600LL, 1741503600LL};
static const uint8_t idx4[] = {1, 2, 1, 2};

static spec_t base_spec(void)
{
    return (spec_t){.version = '2',
                    .timecnt = 4,
                    .times = times4,
                    .idx = idx4,
                    .typecnt = 3,
                    .utoff = offs3,
                    .isdst = dst3,
                    .charcnt = 4,
                    .footer = "EST5EDT,M3.2.0,M11.1.0"};
}

static void test_built_valid(void **state)
{
    spec_t s = base_spec();
    for (uint8_t v = '2'; v <= '4'; v++) {
        s.version = v;
        synq_tz_t *tz = build_ok(&s);
        check_change(tz, 1710054000LL, -18000, -14400);
        check_change(tz, utc(2300, 3, 11, 7, 0, 0), -18000, -14400); /* footer */
        assert_int_equal(synq_tz_offset(tz, INT64_MIN), -17762);     /* type 0 */
        walk(tz, INT64_MIN, utc(2100, 1, 1, 0, 0, 0));
        synq_tz_free(tz);
    }
    /* version 1: no footer, the last type forever */
    s.version = 0;
    synq_tz_t *tz = build_ok(&s);
    check_change(tz, 1741503600LL, -18000, -14400);
    synq_tz_span_t sp;
    synq_tz_span(tz, utc(2300, 1, 1, 0, 0, 0), &sp);
    assert_int_equal(sp.start, 1741503600LL);
    assert_int_equal(sp.end, INT64_MAX);
    synq_tz_free(tz);
    /* leap-second records and indicators are skipped */
    s = base_spec();
    s.leapcnt = 27;
    s.isstdcnt = s.isutcnt = 3;
    s.indicator = 1;
    tz = build_ok(&s);
    check_change(tz, 1710054000LL, -18000, -14400);
    check_change(tz, 1730613600LL, -14400, -18000);
    synq_tz_free(tz);
    /* an empty footer: the last type forever */
    s = base_spec();
    s.footer = "";
    tz = build_ok(&s);
    synq_tz_span(tz, utc(2300, 1, 1, 0, 0, 0), &sp);
    assert_int_equal(sp.start, 1741503600LL);
    assert_int_equal(sp.end, INT64_MAX);
    assert_int_equal(sp.offset, -14400);
    synq_tz_free(tz);
    /* bytes after the footer are ignored */
    s = base_spec();
    s.footer = "EST5EDT,M3.2.0,M11.1.0\nextra";
    tz = build_ok(&s);
    check_change(tz, utc(2300, 3, 11, 7, 0, 0), -18000, -14400);
    synq_tz_free(tz);
}

/* No transitions: the footer rule holds at every instant (RFC 8536 §3.2);
 * without one, type 0. */
static void test_built_no_transitions(void **state)
{
    spec_t s = base_spec();
    s.timecnt = 0;
    synq_tz_t *tz = build_ok(&s);
    check_change(tz, utc(1900, 3, 11, 7, 0, 0), -18000, -14400);
    check_change(tz, utc(2024, 3, 10, 7, 0, 0), -18000, -14400);
    walk(tz, utc(1800, 1, 1, 0, 0, 0), utc(1900, 1, 1, 0, 0, 0));
    synq_tz_free(tz);
    s.footer = "";
    tz = build_ok(&s);
    check_fixed(tz, -17762);
    synq_tz_free(tz);
    s.version = 0;
    tz = build_ok(&s);
    check_fixed(tz, -17762);
    synq_tz_free(tz);
}

/* Transitions that change only the abbreviation or DST flag are merged. */
static void test_built_merge(void **state)
{
    static const int32_t offs[] = {3600, 3600, 7200, 7200};
    static const uint8_t dst[] = {0, 1, 1, 0};
    static const int64_t times[] = {100, 200, 300, 400, 500, 600};
    static const uint8_t idx[] = {1, 0, 2, 3, 1, 0};
    spec_t s = base_spec();
    s.typecnt = 4, s.utoff = offs, s.isdst = dst;
    s.timecnt = 6, s.times = times, s.idx = idx;
    s.footer = "";
    synq_tz_t *tz = build_ok(&s);
    synq_tz_span_t sp;
    synq_tz_span(tz, 0, &sp);
    assert_int_equal(sp.start, INT64_MIN);
    assert_int_equal(sp.end, 300);
    assert_int_equal(sp.offset, 3600);
    synq_tz_span(tz, 450, &sp);
    assert_int_equal(sp.start, 300);
    assert_int_equal(sp.end, 500);
    assert_int_equal(sp.offset, 7200);
    assert_int_equal(sp.prev_offset, 3600);
    synq_tz_span(tz, 1000, &sp);
    assert_int_equal(sp.start, 500);
    assert_int_equal(sp.end, INT64_MAX);
    synq_tz_free(tz);

    /* the footer agreeing with the last type: no change at the table's end */
    s.footer = "<+01>-1";
    tz = build_ok(&s);
    synq_tz_span(tz, 1000, &sp);
    assert_int_equal(sp.start, 500);
    assert_int_equal(sp.end, INT64_MAX);
    synq_tz_free(tz);
    /* disagreeing (not allowed by RFC 8536, but possible): the footer holds
     * from the last transition on */
    s.footer = "<+03>-3";
    tz = build_ok(&s);
    synq_tz_span(tz, 1000, &sp);
    assert_int_equal(sp.start, 600);
    assert_int_equal(sp.offset, 3 * HOUR);
    assert_int_equal(sp.prev_offset, 3600);
    synq_tz_free(tz);
}

/* Transitions at the ends of time. */
static void test_built_extreme_times(void **state)
{
    static const int64_t times[] = {INT64_MIN, 0, INT64_MAX};
    static const uint8_t idx[] = {2, 1, 2};
    spec_t s = base_spec();
    s.timecnt = 3, s.times = times, s.idx = idx, s.footer = "";
    synq_tz_t *tz = build_ok(&s);
    synq_tz_span_t sp;
    synq_tz_span(tz, INT64_MIN, &sp);
    assert_int_equal(sp.start, INT64_MIN);
    assert_int_equal(sp.offset, -14400); /* the INT64_MIN transition's type */
    assert_int_equal(sp.prev_offset, -14400);
    assert_int_equal(sp.end, 0);
    synq_tz_span(tz, INT64_MAX, &sp);
    assert_int_equal(sp.start, 0);
    assert_int_equal(sp.end, INT64_MAX);
    assert_int_equal(sp.offset, -18000); /* a change at INT64_MAX never happens */
    synq_tz_free(tz);
    s.footer = "EST5EDT,M3.2.0,M11.1.0";
    tz = build_ok(&s);
    walk(tz, INT64_MIN, utc(2100, 1, 1, 0, 0, 0));
    check_span_at(tz, INT64_MAX);
    synq_tz_free(tz);
}

static void test_built_invalid(void **state)
{
    spec_t s = base_spec();
    s.version = '5';
    build_bad(&s, "unsupported TZif version");
    s.version = '1';
    build_bad(&s, "unsupported TZif version");
    s = base_spec();
    s.version2 = '3';
    build_bad(&s, "second header's version differs");
    s = base_spec();
    s.typecnt = 0;
    build_bad(&s, "no local time types");
    s = base_spec();
    s.charcnt = 0;
    build_bad(&s, "no abbreviation characters");
    s = base_spec();
    s.isutcnt = 2;
    build_bad(&s, "bad UT/local indicator count");
    s = base_spec();
    s.isstdcnt = 1;
    build_bad(&s, "bad standard/wall indicator count");
    s = base_spec();
    s.isstdcnt = s.isutcnt = 3;
    s.indicator = 2;
    build_bad(&s, "bad standard/wall indicator");

    static const uint8_t bad_idx[] = {1, 2, 3, 2};
    s = base_spec();
    s.idx = bad_idx;
    build_bad(&s, "transition type out of range");
    static const int64_t unsorted[] = {0, 100, 100, 200};
    s = base_spec();
    s.times = unsorted;
    build_bad(&s, "transition times not ascending");
    static const int64_t descending[] = {300, 200, 100, 0};
    s.times = descending;
    build_bad(&s, "transition times not ascending");
    s.version = 0;
    build_bad(&s, "transition times not ascending");

    static const int32_t min_off[] = {INT32_MIN, -18000, -14400};
    static const int32_t big_off[] = {0, -18000, 26 * HOUR};
    s = base_spec();
    s.utoff = min_off;
    build_bad(&s, "UTC offset out of range");
    s.utoff = big_off;
    build_bad(&s, "UTC offset out of range");
    static const uint8_t dst_bad[] = {0, 2, 1};
    s = base_spec();
    s.isdst = dst_bad;
    build_bad(&s, "bad DST flag");
    static const uint8_t desig_bad[] = {0, 2, 4};
    s = base_spec();
    s.desig = desig_bad;
    build_bad(&s, "abbreviation index out of range");

    s = base_spec();
    s.footer = NULL;
    build_bad(&s, "missing footer");
    s.footer = "EST5EDT,M3.2.0,M13.1.0";
    build_bad(&s, "invalid footer TZ string");
    s.footer = "EST5\rEDT";
    build_bad(&s, "invalid footer TZ string");

    /* not TZif at all */
    char err[64] = "";
    assert_null(synq_tz_parse("x", (const uint8_t *)"TZjf2", 5, err, sizeof err));
    assert_string_equal(err, "truncated header");
    static uint8_t junk[64];
    memcpy(junk, "TZjf2", 5);
    assert_null(synq_tz_parse("x", junk, sizeof junk, err, sizeof err));
    assert_string_equal(err, "not a TZif file");
    /* huge counts must not be trusted */
    uint8_t buf[200];
    s = base_spec();
    size_t len = build(&s, buf);
    assert_true(len <= sizeof buf);
    for (int field = 0; field < 6; field++) {
        uint8_t copy[200];
        memcpy(copy, buf, len);
        put32(copy + 20 + 4 * field, 0xffffffffu);
        assert_null(parse(copy, len, err, sizeof err));
        put32(copy + 20 + 4 * field, 0x7fffffffu);
        assert_null(parse(copy, len, err, sizeof err));
    }
    /* an empty name is fine, and a NULL one reads as "" */
    synq_tz_t *tz = synq_tz_parse(NULL, buf, len, NULL, 0);
    assert_non_null(tz);
    assert_string_equal(synq_tz_name(tz), "");
    synq_tz_free(tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_load_builtin_utc),
        cmocka_unit_test(test_posix_new_york),
        cmocka_unit_test(test_posix_berlin),
        cmocka_unit_test(test_posix_lord_howe),
        cmocka_unit_test(test_posix_southern_new_year),
        cmocka_unit_test(test_posix_julian_and_zero_based),
        cmocka_unit_test(test_posix_negative_and_long_times),
        cmocka_unit_test(test_posix_negative_dst),
        cmocka_unit_test(test_posix_defaults),
        cmocka_unit_test(test_posix_fixed),
        cmocka_unit_test(test_posix_invalid),
        cmocka_unit_test(test_posix_far_years),
        cmocka_unit_test(test_file_new_york),
        cmocka_unit_test(test_file_berlin),
        cmocka_unit_test(test_file_lord_howe),
        cmocka_unit_test(test_file_continuity),
        cmocka_unit_test(test_file_matches_libc),
        cmocka_unit_test(test_load_bad_names),
        cmocka_unit_test(test_load_unknown),
        cmocka_unit_test(test_load_tzdir),
        cmocka_unit_test(test_parse_prefixes),
        cmocka_unit_test(test_parse_corrupted),
        cmocka_unit_test(test_parse_v1),
        cmocka_unit_test(test_built_valid),
        cmocka_unit_test(test_built_no_transitions),
        cmocka_unit_test(test_built_merge),
        cmocka_unit_test(test_built_extreme_times),
        cmocka_unit_test(test_built_invalid),
    };
    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
