/* Unit tests for core/cron: the parser on every syntax form (checked through
 * the bit sets) and every error message; next-fire searches on lists, steps,
 * month ends, leap years, L/L-N/NL/N#K, the day-of-month/day-of-week OR/AND
 * rule, expressions that never fire, @every and @reboot; and the DST rules
 * in America/New_York, Europe/Berlin and Australia/Lord_Howe (a 30-minute
 * shift), both on hand-derived instants and against a brute-force reference
 * that applies the rules of cron.h minute by minute around each transition.
 * Zones come from the system tz database through synq_tz_load. */
#include "core/cron.h"

#include "core/timeutil.h"
#include "core/tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- helpers ------------------------------------------------------------- */

static synq_cron_t parse_ok(const char *expr)
{
    synq_cron_t c;
    char err[256] = "";
    int r = synq_cron_parse(expr, &c, err, sizeof err);
    if (r != 0) fail_msg("unexpected error for \"%s\": %s", expr, err);
    return c;
}

/* Expects expr to fail with exactly want. */
static void parse_err(const char *expr, const char *want)
{
    synq_cron_t c;
    char err[256] = "";
    int r = synq_cron_parse(expr, &c, err, sizeof err);
    if (r == 0) fail_msg("\"%s\" parsed; expected error \"%s\"", expr, want);
    assert_int_equal(r, SYNQ_EINVAL);
    if (strcmp(err, want) != 0) fail_msg("\"%s\": got error \"%s\", want \"%s\"", expr, err, want);
}

/* Bit set of the given values, terminated by -1. */
static uint64_t bits(int first, ...)
{
    uint64_t b = 0;
    va_list ap;
    va_start(ap, first);
    for (int v = first; v >= 0; v = va_arg(ap, int))
        b |= 1ull << v;
    va_end(ap);
    return b;
}

static uint64_t range_bits(int lo, int hi, int step)
{
    uint64_t b = 0;
    for (int v = lo; v <= hi; v += step)
        b |= 1ull << v;
    return b;
}

/* RFC 3339 -> seconds since the epoch. */
static int64_t T(const char *s)
{
    int64_t us;
    if (synq_rfc3339_parse(s, strlen(s), &us) != 0) fail_msg("bad time in test: %s", s);
    return us / SYNQ_US_PER_SEC;
}

static const char *fmt(int64_t t, char *buf)
{
    synq_rfc3339_format(t * SYNQ_US_PER_SEC, buf);
    return buf;
}

static synq_tz_t *zone(const char *name)
{
    char err[200];
    synq_tz_t *tz = synq_tz_load(name, err, sizeof err);
    if (!tz) fail_msg("cannot load %s: %s", name, err);
    return tz;
}

/* Iterates synq_cron_next from `after` and expects the fires in want (NULL
 * terminated). tzname NULL = UTC. */
static void expect_fires(const char *expr, const char *tzname, const char *after,
                         const char *const *want)
{
    synq_cron_t c = parse_ok(expr);
    synq_tz_t *tz = tzname ? zone(tzname) : NULL;
    int64_t t = T(after);
    for (size_t i = 0; want[i]; i++) {
        int64_t next = 0;
        char a[32], b[32], w[32];
        int r = synq_cron_next(&c, tz, t, &next);
        if (r != 0)
            fail_msg("\"%s\" in %s after %s: fire %zu: error %d, want %s", expr,
                     tzname ? tzname : "UTC", fmt(t, a), i, r, fmt(T(want[i]), w));
        if (next != T(want[i]))
            fail_msg("\"%s\" in %s after %s: fire %zu is %s, want %s", expr,
                     tzname ? tzname : "UTC", fmt(t, a), i, fmt(next, b), fmt(T(want[i]), w));
        t = next;
    }
    synq_tz_free(tz);
}

#define FIRES(expr, tz, after, ...)                                                                \
    do {                                                                                           \
        static const char *const want_[] = {__VA_ARGS__, NULL};                                    \
        expect_fires(expr, tz, after, want_);                                                      \
    } while (0)

static void expect_never(const char *expr, const char *tzname, const char *after)
{
    synq_cron_t c = parse_ok(expr);
    synq_tz_t *tz = tzname ? zone(tzname) : NULL;
    int64_t next = 12345;
    int r = synq_cron_next(&c, tz, T(after), &next);
    char b[32];
    if (r != SYNQ_ENOTFOUND)
        fail_msg("\"%s\" in %s after %s: want SYNQ_ENOTFOUND, got %d (%s)", expr,
                 tzname ? tzname : "UTC", after, r, r == 0 ? fmt(next, b) : "-");
    synq_tz_free(tz);
}

/* ---- parser: forms ------------------------------------------------------- */

static void test_parse_stars(void **state)
{
    synq_cron_t c = parse_ok("* * * * *");
    assert_int_equal(c.sec, 1); /* 5 fields: second 0 */
    assert_int_equal(c.min, range_bits(0, 59, 1));
    assert_int_equal(c.hour, range_bits(0, 23, 1));
    assert_int_equal(c.dom, range_bits(1, 31, 1));
    assert_int_equal(c.month, range_bits(1, 12, 1));
    assert_int_equal(c.dow, range_bits(0, 6, 1));
    assert_int_equal(c.dom_last, 0);
    assert_int_equal(c.dow_last, 0);
    assert_int_equal(c.dow_nth, 0);
    assert_true(c.dom_star);
    assert_true(c.dow_star);
    assert_true(c.hour_star);
    assert_false(c.has_seconds);
    assert_false(c.reboot);
    assert_int_equal(c.every_s, 0);
}

static void test_parse_values_lists_ranges(void **state)
{
    synq_cron_t c = parse_ok("5,10-12,59 0,23 1,15,31 1-3,12 1-5");
    assert_int_equal(c.min, bits(5, 10, 11, 12, 59, -1));
    assert_int_equal(c.hour, bits(0, 23, -1));
    assert_int_equal(c.dom, bits(1, 15, 31, -1));
    assert_int_equal(c.month, bits(1, 2, 3, 12, -1));
    assert_int_equal(c.dow, bits(1, 2, 3, 4, 5, -1));
    assert_false(c.dom_star);
    assert_false(c.dow_star);
    assert_false(c.hour_star);

    /* a range of one value; leading zeros; duplicates and overlaps are fine */
    c = parse_ok("7-7 05 3,3,1-4 02 0-6");
    assert_int_equal(c.min, bits(7, -1));
    assert_int_equal(c.hour, bits(5, -1));
    assert_int_equal(c.dom, bits(1, 2, 3, 4, -1));
    assert_int_equal(c.month, bits(2, -1));
    assert_int_equal(c.dow, range_bits(0, 6, 1));
    assert_false(c.dow_star); /* spelled out, not a star */
}

static void test_parse_steps(void **state)
{
    synq_cron_t c = parse_ok("*/15 */7 */10 */5 */2");
    assert_int_equal(c.min, bits(0, 15, 30, 45, -1));
    assert_int_equal(c.hour, bits(0, 7, 14, 21, -1));
    assert_int_equal(c.dom, bits(1, 11, 21, 31, -1));
    assert_int_equal(c.month, bits(1, 6, 11, -1));
    assert_int_equal(c.dow, bits(0, 2, 4, 6, -1));
    assert_true(c.dom_star && c.dow_star && c.hour_star);

    c = parse_ok("10-50/5 1-23/11 2-30/7 2-12/3 1-5/2");
    assert_int_equal(c.min, range_bits(10, 50, 5));
    assert_int_equal(c.hour, bits(1, 12, 23, -1));
    assert_int_equal(c.dom, bits(2, 9, 16, 23, 30, -1));
    assert_int_equal(c.month, bits(2, 5, 8, 11, -1));
    assert_int_equal(c.dow, bits(1, 3, 5, -1));

    /* N/step = N-max/step; in day-of-week max is 7, i.e. Sunday */
    c = parse_ok("5/15 20/1 25/3 11/1 1/3");
    assert_int_equal(c.min, bits(5, 20, 35, 50, -1));
    assert_int_equal(c.hour, bits(20, 21, 22, 23, -1));
    assert_int_equal(c.dom, bits(25, 28, 31, -1));
    assert_int_equal(c.month, bits(11, 12, -1));
    assert_int_equal(c.dow, bits(0, 1, 4, -1)); /* 1, 4, 7 */
    assert_false(c.hour_star);

    /* a step as large as the field's maximum; steps inside lists */
    c = parse_ok("*/59 */23 */31 */12 */7");
    assert_int_equal(c.min, bits(0, 59, -1));
    assert_int_equal(c.hour, bits(0, 23, -1));
    assert_int_equal(c.dom, bits(1, -1));
    assert_int_equal(c.month, bits(1, -1));
    assert_int_equal(c.dow, bits(0, -1));
    c = parse_ok("1,*/20 0 1 1 *");
    assert_int_equal(c.min, bits(0, 1, 20, 40, -1));
}

static void test_parse_names(void **state)
{
    synq_cron_t c = parse_ok("0 0 1 jan,Feb,MAR,aPr,may,jun,jul,aug,sep,oct,nov,DEC sun");
    assert_int_equal(c.month, range_bits(1, 12, 1));
    assert_int_equal(c.dow, bits(0, -1));
    c = parse_ok("0 0 1 jan-mar,Oct-dec mon-FRI");
    assert_int_equal(c.month, bits(1, 2, 3, 10, 11, 12, -1));
    assert_int_equal(c.dow, range_bits(1, 5, 1));
    c = parse_ok("0 0 1 jan/4 Tue,thu,SAT");
    assert_int_equal(c.month, bits(1, 5, 9, -1));
    assert_int_equal(c.dow, bits(2, 4, 6, -1));
    c = parse_ok("0 0 1 feb-11/3 mon-sat/2");
    assert_int_equal(c.month, bits(2, 5, 8, 11, -1));
    assert_int_equal(c.dow, bits(1, 3, 5, -1));
    c = parse_ok("0 0 1 1 Wed-5");
    assert_int_equal(c.dow, bits(3, 4, 5, -1));
}

static void test_parse_sunday(void **state)
{
    assert_int_equal(parse_ok("0 0 * * 7").dow, bits(0, -1));
    assert_int_equal(parse_ok("0 0 * * 0,7").dow, bits(0, -1));
    assert_int_equal(parse_ok("0 0 * * 5-7").dow, bits(0, 5, 6, -1));
    assert_int_equal(parse_ok("0 0 * * 0-7").dow, range_bits(0, 6, 1));
    /* the one descending range: a weekday range ending in 0 or sun */
    assert_int_equal(parse_ok("0 0 * * 5-0").dow, bits(0, 5, 6, -1));
    assert_int_equal(parse_ok("0 0 * * fri-sun").dow, bits(0, 5, 6, -1));
    assert_int_equal(parse_ok("0 0 * * sat-SUN").dow, bits(0, 6, -1));
    assert_int_equal(parse_ok("0 0 * * 1-0/2").dow, bits(1, 3, 5, 0, -1)); /* 1-7/2 */
    assert_int_equal(parse_ok("0 0 * * 7-7").dow, bits(0, -1));
}

static void test_parse_question_mark(void **state)
{
    synq_cron_t c = parse_ok("0 12 ? * mon");
    assert_int_equal(c.dom, range_bits(1, 31, 1));
    assert_true(c.dom_star);
    assert_false(c.dow_star);
    c = parse_ok("0 12 15 * ?");
    assert_int_equal(c.dow, range_bits(0, 6, 1));
    assert_true(c.dow_star);
    assert_false(c.dom_star);
    c = parse_ok("0 12 ?/10 * ?");
    assert_int_equal(c.dom, bits(1, 11, 21, 31, -1));
    assert_true(c.dom_star);
}

static void test_parse_last_and_nth(void **state)
{
    synq_cron_t c = parse_ok("0 0 L * *");
    assert_int_equal(c.dom, 0);
    assert_int_equal(c.dom_last, bits(0, -1));
    assert_false(c.dom_star);
    c = parse_ok("0 0 l,L-2,L-0,L-30,15 * *");
    assert_int_equal(c.dom, bits(15, -1));
    assert_int_equal(c.dom_last, bits(0, 2, 30, -1));

    c = parse_ok("0 0 * * 5L");
    assert_int_equal(c.dow, 0);
    assert_int_equal(c.dow_last, bits(5, -1));
    assert_false(c.dow_star);
    c = parse_ok("0 0 * * 0L,7l,friL,1");
    assert_int_equal(c.dow, bits(1, -1));
    assert_int_equal(c.dow_last, bits(0, 5, -1));

    c = parse_ok("0 0 * * 1#1");
    assert_int_equal(c.dow, 0);
    assert_int_equal(c.dow_nth, 1ull << (1 * 5 + 0));
    c = parse_ok("0 0 * * 5#5,7#2,Sat#3,2");
    assert_int_equal(c.dow, bits(2, -1));
    assert_int_equal(c.dow_nth,
                     (1ull << (5 * 5 + 4)) | (1ull << (0 * 5 + 1)) | (1ull << (6 * 5 + 2)));
}

static void test_parse_seconds(void **state)
{
    synq_cron_t c = parse_ok("*/20 0 12 * * *");
    assert_true(c.has_seconds);
    assert_int_equal(c.sec, bits(0, 20, 40, -1));
    assert_int_equal(c.min, bits(0, -1));
    assert_int_equal(c.hour, bits(12, -1));
    assert_true(c.dom_star && c.dow_star);
    c = parse_ok("59 59 23 31 12 6");
    assert_int_equal(c.sec, bits(59, -1));
    assert_int_equal(c.dow, bits(6, -1));
    c = parse_ok("0-10/5,30 * * * * *");
    assert_int_equal(c.sec, bits(0, 5, 10, 30, -1));
    assert_true(c.hour_star);
}

static void test_parse_whitespace(void **state)
{
    synq_cron_t a = parse_ok("0 12 * * mon");
    synq_cron_t b = parse_ok(" \t0\t\t12  *\r\n* \tmon\n");
    assert_memory_equal(&a, &b, sizeof a);
}

static void same_as(const char *macro, const char *expr)
{
    synq_cron_t a = parse_ok(macro), b = parse_ok(expr);
    if (memcmp(&a, &b, sizeof a) != 0) fail_msg("%s differs from %s", macro, expr);
}

static void test_parse_macros(void **state)
{
    same_as("@yearly", "0 0 1 1 *");
    same_as("@annually", "0 0 1 1 *");
    same_as("@monthly", "0 0 1 * *");
    same_as("@weekly", "0 0 * * 0");
    same_as("@daily", "0 0 * * *");
    same_as("@midnight", "0 0 * * *");
    same_as("@hourly", "0 * * * *");
    same_as("@DAILY", "0 0 * * *");
    same_as("  @Hourly\t", "0 * * * *");

    synq_cron_t c = parse_ok("@reboot");
    assert_true(c.reboot);
    assert_int_equal(c.every_s, 0);
    c = parse_ok("@every 90s");
    assert_int_equal(c.every_s, 90);
    assert_false(c.reboot);
    assert_int_equal(parse_ok("@every 1h30m").every_s, 5400);
    assert_int_equal(parse_ok("@every\t 1d").every_s, 86400);
    assert_int_equal(parse_ok("@EVERY 1s").every_s, 1);
    assert_int_equal(parse_ok("@every 1500ms500ms").every_s, 2);
}

static void test_parse_resets_output(void **state)
{
    synq_cron_t c;
    char err[64];
    memset(&c, 0xff, sizeof c);
    assert_int_equal(synq_cron_parse("0 0 1 1 *", &c, err, sizeof err), 0);
    assert_int_equal(c.dom_last, 0);
    assert_int_equal(c.dow_nth, 0);
    assert_false(c.reboot);
    assert_int_equal(c.every_s, 0);
}

/* ---- parser: errors ------------------------------------------------------ */

static void test_parse_errors_expression(void **state)
{
    parse_err("", "expression is empty");
    parse_err(" \t\r\n", "expression is empty");
    parse_err("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
                         "(with seconds first), got 4");
    parse_err("0 0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week) "
                               "or 6 (with seconds first), got 7");
    parse_err("0 0 0 * * * 2024 x y z", "expected 5 fields (minute hour day-of-month month "
                                        "day-of-week) or 6 (with seconds first), got 10");
    parse_err("*", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with "
                   "seconds first), got 1");

    char big[SYNQ_CRON_MAX_LEN + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "* * * * *", 9);
    big[SYNQ_CRON_MAX_LEN] = '\0'; /* exactly the limit: fine */
    parse_ok(big);
    big[SYNQ_CRON_MAX_LEN] = ' ';
    big[SYNQ_CRON_MAX_LEN + 1] = '\0';
    parse_err(big, "expression is longer than 1024 bytes");
}

static void test_parse_errors_range(void **state)
{
    parse_err("60 * * * *", "minute: 60 is out of range 0-59");
    parse_err("* 24 * * *", "hour: 24 is out of range 0-23");
    parse_err("* * 0 * *", "day-of-month: 0 is out of range 1-31");
    parse_err("* * 32 * *", "day-of-month: 32 is out of range 1-31");
    parse_err("* * * 0 *", "month: 0 is out of range 1-12");
    parse_err("1234567 * * * *", "minute: 1234567 is out of range 0-59");
    parse_err("* * 0032 * *", "day-of-month: 0032 is out of range 1-31");
    parse_err("* * * 13 *", "month: 13 is out of range 1-12");
    parse_err("* * * * 8", "day-of-week: 8 is out of range 0-7");
    parse_err("60 * * * * *", "second: 60 is out of range 0-59");
    parse_err("0 60 * * * *", "minute: 60 is out of range 0-59");
    parse_err("1-60 * * * *", "minute: 60 is out of range 0-59");
    parse_err("* * 1,2,40 * *", "day-of-month: 40 is out of range 1-31");
    parse_err("* * * * 1-8", "day-of-week: 8 is out of range 0-7");
    parse_err("* * * * 8L", "day-of-week: 8 is out of range 0-7");
    parse_err("* * * * 9#1", "day-of-week: 9 is out of range 0-7");
}

static void test_parse_errors_descending(void **state)
{
    parse_err("30-10 * * * *", "minute: range 30-10 is descending");
    parse_err("* 22-2 * * *", "hour: range 22-2 is descending");
    parse_err("* * 31-1 * *", "day-of-month: range 31-1 is descending");
    parse_err("* * * nov-feb *", "month: range 11-2 is descending");
    parse_err("* * * * 5-1", "day-of-week: range 5-1 is descending");
    parse_err("* * * * sat-mon", "day-of-week: range 6-1 is descending");
    parse_err("* * * * 7-1", "day-of-week: range 7-1 is descending");
    parse_err("59-0 * * * * *", "second: range 59-0 is descending");
}

static void test_parse_errors_syntax(void **state)
{
    /* steps */
    parse_err("*/0 * * * *", "minute: step 0 must be at least 1");
    parse_err("* 1-5/0 * * *", "hour: step 0 must be at least 1");
    parse_err("*/60 * * * *", "minute: step 60 is larger than the field's range");
    parse_err("* */24 * * *", "hour: step 24 is larger than the field's range");
    parse_err("* * * * */8", "day-of-week: step 8 is larger than the field's range");
    parse_err("*/ * * * *", "minute: step needs a number");
    parse_err("*/x * * * *", "minute: step needs a number");
    parse_err("*/5/5 * * * *", "minute: unexpected character '/'");
    /* lists and values */
    parse_err("1,,2 * * * *", "minute: empty list item");
    parse_err(",1 * * * *", "minute: empty list item");
    parse_err("* * * 1, *", "month: empty list item");
    parse_err("1- * * * *", "minute: missing value");
    parse_err("-1 * * * *", "minute: unexpected character '-'");
    parse_err("/5 * * * *", "minute: unexpected character '/'");
    parse_err("1-2-3 * * * *", "minute: unexpected character '-'");
    parse_err("*-5 * * * *", "minute: unexpected character '-'");
    parse_err("1x * * * *", "minute: unexpected character 'x'");
    parse_err("5# * * * *", "minute: unexpected character '#'");
    parse_err("** * * * *", "minute: unexpected character '*'");
    /* names */
    parse_err("* * * foo *", "month: unknown name \"foo\"");
    parse_err("* * * janu *", "month: unknown name \"janu\"");
    parse_err("* * * mon *", "month: unknown name \"mon\"");
    parse_err("* * * * jan", "day-of-week: unknown name \"jan\"");
    parse_err("* * * * sunday", "day-of-week: unknown name \"sunday\"");
    parse_err("* * * * mon-xyz", "day-of-week: unknown name \"xyz\"");
    parse_err("jan * * * *", "minute: names are not allowed here (\"jan\")");
    parse_err("* mon * * *", "hour: names are not allowed here (\"mon\")");
    parse_err("* * mon * *", "day-of-month: names are not allowed here (\"mon\")");
    parse_err("x * * * * *", "second: names are not allowed here (\"x\")");
    /* ? outside the day fields */
    parse_err("? * * * *", "minute: ? is only allowed in the day fields");
    parse_err("* ? * * *", "hour: ? is only allowed in the day fields");
    parse_err("* * * ? *", "month: ? is only allowed in the day fields");
    parse_err("? * * * * *", "second: ? is only allowed in the day fields");
    /* L, NL, N#K */
    parse_err("* * L-31 * *", "day-of-month: L-31: offset is out of range 0-30");
    parse_err("* * L- * *", "day-of-month: L takes the form L or L-N");
    parse_err("* * LW * *", "day-of-month: L takes the form L or L-N");
    parse_err("* * L-x * *", "day-of-month: L takes the form L or L-N");
    parse_err("* * 5L * *", "day-of-month: unexpected character 'L'");
    parse_err("* * * * L", "day-of-week: unknown name \"L\"");
    parse_err("* * * * 1-5L", "day-of-week: NL takes a single weekday");
    parse_err("* * * * 6#6", "day-of-week: #K needs K in 1-5");
    parse_err("* * * * 1#0", "day-of-week: #K needs K in 1-5");
    parse_err("* * * * 1#", "day-of-week: #K needs K in 1-5");
    parse_err("* * * * 1#12", "day-of-week: #K needs K in 1-5");
    parse_err("* * * * 1-2#1", "day-of-week: N#K takes a single weekday");
    parse_err("* * * * #1", "day-of-week: missing value");
    parse_err("* * 1#1 * *", "day-of-month: unexpected character '#'");
    parse_err("* * * 1L *", "month: unexpected character 'L'");
}

static void test_parse_errors_macros(void **state)
{
    parse_err("@foo", "unknown macro \"@foo\"");
    parse_err("@", "unknown macro \"@\"");
    parse_err("@dailyx", "unknown macro \"@dailyx\"");
    parse_err("@daily 5", "@daily takes no fields");
    parse_err("@reboot now", "@reboot takes no fields");
    parse_err("@every 0s", "@every: the interval must be a whole number of seconds, at least 1s");
    parse_err("@every 1.5s", "@every: the interval must be a whole number of seconds, at least 1s");
    parse_err("@every 500ms",
              "@every: the interval must be a whole number of seconds, at least 1s");
    parse_err("@every garbage", "@every: \"garbage\" is not a duration (e.g. 30s, 5m, 1h30m)");
    parse_err("@every -5s", "@every: \"-5s\" is not a duration (e.g. 30s, 5m, 1h30m)");
    parse_err("@every 5 s", "@every: \"5 s\" is not a duration (e.g. 30s, 5m, 1h30m)");
    parse_err("@every", "@every: \"\" is not a duration (e.g. 30s, 5m, 1h30m)");
    parse_err("@every   ", "@every: \"\" is not a duration (e.g. 30s, 5m, 1h30m)");
}

/* The message is cut to fit, always terminated. */
static void test_parse_error_small_buffer(void **state)
{
    synq_cron_t c;
    char err[9];
    memset(err, 'x', sizeof err);
    assert_int_equal(synq_cron_parse("* * * * 8", &c, err, sizeof err), SYNQ_EINVAL);
    assert_string_equal(err, "day-of-w");
    char one[1] = {'x'};
    assert_int_equal(synq_cron_parse("@nope", &c, one, sizeof one), SYNQ_EINVAL);
    assert_int_equal(one[0], '\0');
}

/* ---- next fire: UTC ------------------------------------------------------ */

static void test_next_basic(void **state)
{
    FIRES("* * * * *", NULL, "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z",
          "2024-01-01T00:02:00Z");
    /* strictly after: from an exact fire time, and from inside a second */
    FIRES("0 12 * * *", NULL, "2024-01-01T12:00:00Z", "2024-01-02T12:00:00Z");
    FIRES("0 12 * * *", NULL, "2024-01-01T11:59:59Z", "2024-01-01T12:00:00Z");
    FIRES("0 9-17/4 * * MON-FRI", NULL, "2024-01-05T16:00:00Z", "2024-01-05T17:00:00Z",
          "2024-01-08T09:00:00Z", "2024-01-08T13:00:00Z", "2024-01-08T17:00:00Z");
    FIRES("15,45 */6 * * *", NULL, "2024-02-28T23:50:00Z", "2024-02-29T00:15:00Z",
          "2024-02-29T00:45:00Z", "2024-02-29T06:15:00Z");
    FIRES("0 0 1 jan *", NULL, "2023-06-01T00:00:00Z", "2024-01-01T00:00:00Z",
          "2025-01-01T00:00:00Z");
    FIRES("59 23 31 12 *", NULL, "2024-12-31T23:58:00Z", "2024-12-31T23:59:00Z",
          "2025-12-31T23:59:00Z");
    /* years are crossed when no month is left */
    FIRES("0 0 1 2,3 *", NULL, "2024-03-01T00:00:00Z", "2025-02-01T00:00:00Z",
          "2025-03-01T00:00:00Z");
}

static void test_next_seconds(void **state)
{
    FIRES("*/20 * * * * *", NULL, "2024-01-01T12:00:05Z", "2024-01-01T12:00:20Z",
          "2024-01-01T12:00:40Z", "2024-01-01T12:01:00Z");
    FIRES("30 0 12 * * *", NULL, "2024-01-01T12:00:30Z", "2024-01-02T12:00:30Z");
    FIRES("59 59 23 * * *", NULL, "2024-02-29T00:00:00Z", "2024-02-29T23:59:59Z",
          "2024-03-01T23:59:59Z");
    FIRES("* * * * * *", NULL, "2024-12-31T23:59:58Z", "2024-12-31T23:59:59Z",
          "2025-01-01T00:00:00Z");
}

static void test_next_macros(void **state)
{
    FIRES("@yearly", NULL, "2024-05-05T00:00:00Z", "2025-01-01T00:00:00Z");
    FIRES("@monthly", NULL, "2024-01-31T10:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z");
    FIRES("@weekly", NULL, "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z");
    FIRES("@daily", NULL, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z");
    FIRES("@hourly", NULL, "2024-01-01T00:30:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z");
}

static void test_next_month_ends(void **state)
{
    /* the 31st skips the short months */
    FIRES("0 0 31 * *", NULL, "2024-01-31T00:00:00Z", "2024-03-31T00:00:00Z",
          "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z",
          "2024-10-31T00:00:00Z", "2024-12-31T00:00:00Z", "2025-01-31T00:00:00Z");
    FIRES("0 0 30 * *", NULL, "2024-01-30T00:00:00Z", "2024-03-30T00:00:00Z",
          "2024-04-30T00:00:00Z");
    FIRES("0 0 29 * *", NULL, "2023-01-29T00:00:00Z", "2023-03-29T00:00:00Z");
    FIRES("0 0 29 * *", NULL, "2024-01-29T00:00:00Z", "2024-02-29T00:00:00Z");
    FIRES("0 0 31 1-6 *", NULL, "2024-05-31T00:00:00Z", "2025-01-31T00:00:00Z");
}

static void test_next_leap_years(void **state)
{
    FIRES("0 0 29 2 *", NULL, "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z",
          "2032-02-29T00:00:00Z");
    /* 2100 is not a leap year, 2000 and 2400 are */
    FIRES("0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z");
    FIRES("0 0 29 2 *", NULL, "1999-01-01T00:00:00Z", "2000-02-29T00:00:00Z",
          "2004-02-29T00:00:00Z");
    FIRES("0 0 29 2 *", NULL, "2397-01-01T00:00:00Z", "2400-02-29T00:00:00Z");
    FIRES("0 0 L 2 *", NULL, "2023-01-01T00:00:00Z", "2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z",
          "2025-02-28T00:00:00Z", "2026-02-28T00:00:00Z");
    FIRES("0 0 L 2 *", NULL, "2100-01-01T00:00:00Z", "2100-02-28T00:00:00Z");
    /* a leap day that is also a weekday: 2024-02-29 is a Thursday */
    FIRES("0 0 29 2 4", NULL, "2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z",
          "2025-02-06T00:00:00Z");
}

static void test_next_last_day(void **state)
{
    FIRES("0 0 L * *", NULL, "2024-01-15T00:00:00Z", "2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z",
          "2024-03-31T00:00:00Z", "2024-04-30T00:00:00Z");
    FIRES("0 0 L-2 * *", NULL, "2024-01-15T00:00:00Z", "2024-01-29T00:00:00Z",
          "2024-02-27T00:00:00Z", "2024-03-29T00:00:00Z", "2024-04-28T00:00:00Z");
    FIRES("0 0 L-0 * *", NULL, "2023-02-01T00:00:00Z", "2023-02-28T00:00:00Z");
    /* L-30 is the 1st of 31-day months only */
    FIRES("0 0 L-30 * *", NULL, "2024-01-02T00:00:00Z", "2024-03-01T00:00:00Z",
          "2024-05-01T00:00:00Z", "2024-07-01T00:00:00Z", "2024-08-01T00:00:00Z");
    /* L-28 of February: the 1st in leap years only; 28-day Februaries have
     * no day 0 */
    FIRES("0 0 L-28 2 *", NULL, "2023-01-01T00:00:00Z", "2024-02-01T00:00:00Z",
          "2028-02-01T00:00:00Z");
    FIRES("0 0 1,L * *", NULL, "2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z",
          "2024-03-01T00:00:00Z", "2024-03-31T00:00:00Z");
}

static void test_next_last_and_nth_weekday(void **state)
{
    /* last Fridays of 2024 */
    FIRES("0 0 * * 5L", NULL, "2024-01-01T00:00:00Z", "2024-01-26T00:00:00Z",
          "2024-02-23T00:00:00Z", "2024-03-29T00:00:00Z", "2024-04-26T00:00:00Z");
    /* last Sundays (7L) are the EU's DST days */
    FIRES("0 1 * 3,10 7L", NULL, "2024-01-01T00:00:00Z", "2024-03-31T01:00:00Z",
          "2024-10-27T01:00:00Z", "2025-03-30T01:00:00Z");
    /* first Mondays */
    FIRES("0 0 * * 1#1", NULL, "2023-12-31T00:00:00Z", "2024-01-01T00:00:00Z",
          "2024-02-05T00:00:00Z", "2024-03-04T00:00:00Z", "2024-04-01T00:00:00Z",
          "2024-05-06T00:00:00Z");
    /* fifth Fridays: only months that have one */
    FIRES("0 0 * * 5#5", NULL, "2024-01-01T00:00:00Z", "2024-03-29T00:00:00Z",
          "2024-05-31T00:00:00Z", "2024-08-30T00:00:00Z", "2024-11-29T00:00:00Z",
          "2025-01-31T00:00:00Z");
    /* US Thanksgiving, and a list of nth weekdays */
    FIRES("0 12 * nov thu#4", NULL, "2024-01-01T00:00:00Z", "2024-11-28T12:00:00Z",
          "2025-11-27T12:00:00Z");
    FIRES("0 0 * * 2#2,4#4", NULL, "2024-01-01T00:00:00Z", "2024-01-09T00:00:00Z",
          "2024-01-25T00:00:00Z", "2024-02-13T00:00:00Z");
    /* 5th Monday in February: leap years starting on a Monday (2016, 2044) */
    FIRES("0 0 * 2 1#5", NULL, "2017-01-01T00:00:00Z", "2044-02-29T00:00:00Z");
}

/* When both day fields are restricted a day matches if either does;
 * otherwise both must (cronie's star rule: a field starting with * or ?). */
static void test_next_day_or_and(void **state)
{
    /* OR: the 1st and 15th, plus every Friday (2024-03-01 is a Friday) */
    FIRES("30 4 1,15 * 5", NULL, "2024-02-29T00:00:00Z", "2024-03-01T04:30:00Z",
          "2024-03-08T04:30:00Z", "2024-03-15T04:30:00Z", "2024-03-22T04:30:00Z",
          "2024-03-29T04:30:00Z", "2024-04-01T04:30:00Z", "2024-04-05T04:30:00Z");
    /* AND: `*\/2` starts with * so it is unrestricted: odd-numbered Fridays */
    FIRES("0 9 */2 * 5", NULL, "2024-03-01T00:00:00Z", "2024-03-01T09:00:00Z",
          "2024-03-15T09:00:00Z", "2024-03-29T09:00:00Z", "2024-04-05T09:00:00Z",
          "2024-04-19T09:00:00Z");
    /* AND the other way round: 1sts that fall on Sun, Tue, Thu or Sat */
    FIRES("0 9 1 * */2", NULL, "2024-01-01T00:00:00Z", "2024-02-01T09:00:00Z",
          "2024-06-01T09:00:00Z", "2024-08-01T09:00:00Z", "2024-09-01T09:00:00Z",
          "2024-10-01T09:00:00Z");
    /* `?` and `*` are unrestricted */
    FIRES("0 9 ? * 5", NULL, "2024-03-01T10:00:00Z", "2024-03-08T09:00:00Z",
          "2024-03-15T09:00:00Z");
    FIRES("0 9 13 * ?", NULL, "2024-03-01T10:00:00Z", "2024-03-13T09:00:00Z",
          "2024-04-13T09:00:00Z");
    /* spelled-out full ranges are restricted: OR, so every day */
    FIRES("0 9 1-31 * 5", NULL, "2024-03-01T10:00:00Z", "2024-03-02T09:00:00Z",
          "2024-03-03T09:00:00Z");
    /* Friday the 13th is not "Friday AND 13th" with both restricted */
    FIRES("0 0 13 * 5", NULL, "2024-09-01T00:00:00Z", "2024-09-06T00:00:00Z",
          "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z");
    /* L and NL combine with OR as well */
    FIRES("0 0 L * 1#1", NULL, "2024-01-02T00:00:00Z", "2024-01-31T00:00:00Z",
          "2024-02-05T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-04T00:00:00Z");
    FIRES("0 0 15 * 5L", NULL, "2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z",
          "2024-01-26T00:00:00Z", "2024-02-15T00:00:00Z", "2024-02-23T00:00:00Z");
    /* a restricted dom with a * dow: only the dom (AND) */
    FIRES("0 0 */10 * *", NULL, "2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z",
          "2024-01-21T00:00:00Z", "2024-01-31T00:00:00Z", "2024-02-01T00:00:00Z");
}

static void test_next_never(void **state)
{
    expect_never("0 0 30 2 *", NULL, "2024-01-01T00:00:00Z");
    expect_never("0 0 31 4 *", NULL, "2024-01-01T00:00:00Z");
    expect_never("0 0 31 2,4,6,9,11 *", NULL, "2024-01-01T00:00:00Z");
    expect_never("0 0 L-30 2 *", NULL, "2024-01-01T00:00:00Z");
    expect_never("0 0 30,31 feb ?", NULL, "1970-01-01T00:00:00Z");
    expect_never("0 0 30 2 *", "America/New_York", "2024-01-01T00:00:00Z");
    expect_never("0 0 31 4 *", "Australia/Lord_Howe", "2024-01-01T00:00:00Z");
    expect_never("@reboot", NULL, "2024-01-01T00:00:00Z");
    expect_never("@reboot", "Europe/Berlin", "2024-01-01T00:00:00Z");
    /* nothing after 9999-12-31T23:59:59Z */
    expect_never("0 0 1 1 *", NULL, "9999-06-01T00:00:00Z");
    expect_never("* * * * * *", NULL, "9999-12-31T23:59:59Z");
    FIRES("0 0 1 1 *", NULL, "9998-06-01T00:00:00Z", "9999-01-01T00:00:00Z");
    FIRES("59 59 23 31 12 *", NULL, "9999-12-31T00:00:00Z", "9999-12-31T23:59:59Z");
    /* but a restricted dow rescues a dom that never happens (OR) */
    FIRES("0 0 30 2 1", NULL, "2024-02-01T00:00:00Z", "2024-02-05T00:00:00Z");
}

static void test_next_every(void **state)
{
    synq_cron_t c = parse_ok("@every 90s");
    int64_t n;
    assert_int_equal(synq_cron_next(&c, NULL, 100, &n), 0);
    assert_int_equal(n, 180);
    assert_int_equal(synq_cron_next(&c, NULL, 180, &n), 0);
    assert_int_equal(n, 270);
    assert_int_equal(synq_cron_next(&c, NULL, 0, &n), 0);
    assert_int_equal(n, 90);
    assert_int_equal(synq_cron_next(&c, NULL, -1, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(synq_cron_next(&c, NULL, -91, &n), 0);
    assert_int_equal(n, -90);

    /* multiples since the epoch, whatever the zone: 1h fires on UTC hours
     * even in Lord Howe (+10:30) */
    synq_tz_t *lh = zone("Australia/Lord_Howe");
    c = parse_ok("@every 1h");
    assert_int_equal(synq_cron_next(&c, lh, T("2024-04-06T14:59:59Z"), &n), 0);
    assert_int_equal(n, T("2024-04-06T15:00:00Z"));
    assert_int_equal(synq_cron_next(&c, lh, n, &n), 0);
    assert_int_equal(n, T("2024-04-06T16:00:00Z"));
    synq_tz_free(lh);

    FIRES("@every 1d", NULL, "2024-03-10T12:00:00Z", "2024-03-11T00:00:00Z",
          "2024-03-12T00:00:00Z");
    FIRES("@every 7s", "America/New_York", "2024-03-10T06:59:58Z", "2024-03-10T07:00:03Z",
          "2024-03-10T07:00:10Z");
    expect_never("@every 1s", NULL, "9999-12-31T23:59:59Z");
}

/* ---- next fire: DST ------------------------------------------------------- */

static void test_dst_new_york(void **state)
{
    const char *ny = "America/New_York";
    /* gap 2024-03-10 02:00 EST -> 03:00 EDT (07:00Z): 02:30 fires at 03:30 */
    FIRES("30 2 * * *", ny, "2024-03-09T12:00:00Z", "2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z");
    FIRES("0 2 * * *", ny, "2024-03-09T12:00:00Z", "2024-03-10T07:00:00Z", "2024-03-11T06:00:00Z");
    FIRES("59 59 2 * * *", ny, "2024-03-09T12:00:00Z", "2024-03-10T07:59:59Z",
          "2024-03-11T06:59:59Z");
    /* from inside the landing hour the skipped time is still ahead */
    FIRES("30 2 * * *", ny, "2024-03-10T07:10:00Z", "2024-03-10T07:30:00Z");
    FIRES("30 2 * * *", ny, "2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z");
    /* a gap time and a real time that map to one instant fire once */
    FIRES("30 * * * *", ny, "2024-03-10T05:00:00Z", "2024-03-10T05:30:00Z", "2024-03-10T06:30:00Z",
          "2024-03-10T07:30:00Z", "2024-03-10T08:30:00Z");
    FIRES("30 2,3 * * *", ny, "2024-03-09T12:00:00Z", "2024-03-10T07:30:00Z",
          "2024-03-11T06:30:00Z");
    /* fold 2024-11-03 02:00 EDT -> 01:00 EST (06:00Z): a fixed hour once,
     * at the first 01:30 */
    FIRES("30 1 * * *", ny, "2024-11-02T12:00:00Z", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z");
    FIRES("*/30 1 * * *", ny, "2024-11-02T12:00:00Z", "2024-11-03T05:00:00Z",
          "2024-11-03T05:30:00Z", "2024-11-04T06:00:00Z");
    FIRES("30 1,2 * * *", ny, "2024-11-03T05:00:00Z", "2024-11-03T05:30:00Z",
          "2024-11-03T07:30:00Z");
    /* from inside the second pass, a fixed hour waits for the next day */
    FIRES("30 1 * * *", ny, "2024-11-03T06:10:00Z", "2024-11-04T06:30:00Z");
    /* an hour field that is `*` fires in both passes */
    FIRES("0 * * * *", ny, "2024-11-03T04:30:00Z", "2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z",
          "2024-11-03T07:00:00Z");
    FIRES("30 * * * *", ny, "2024-11-03T04:00:00Z", "2024-11-03T04:30:00Z", "2024-11-03T05:30:00Z",
          "2024-11-03T06:30:00Z", "2024-11-03T07:30:00Z");
    FIRES("30 * * * *", ny, "2024-11-03T06:10:00Z", "2024-11-03T06:30:00Z");
    FIRES("@hourly", ny, "2024-11-03T05:30:00Z", "2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z");
    /* spelled-out full hours are a fixed hour */
    FIRES("0 0-23 * * *", ny, "2024-11-03T04:30:00Z", "2024-11-03T05:00:00Z",
          "2024-11-03T07:00:00Z");
    /* days are local days */
    FIRES("0 0 * * *", ny, "2024-03-09T12:00:00Z", "2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z");
    FIRES("0 0 * * *", ny, "2024-11-02T12:00:00Z", "2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z");
}

static void test_dst_berlin(void **state)
{
    const char *be = "Europe/Berlin";
    /* gap 2024-03-31 02:00 CET -> 03:00 CEST (01:00Z) */
    FIRES("30 2 * * *", be, "2024-03-30T12:00:00Z", "2024-03-31T01:30:00Z", "2024-04-01T00:30:00Z");
    FIRES("0,15 2 * * *", be, "2024-03-30T12:00:00Z", "2024-03-31T01:00:00Z",
          "2024-03-31T01:15:00Z", "2024-04-01T00:00:00Z");
    FIRES("*/20 * * * *", be, "2024-03-31T00:30:00Z", "2024-03-31T00:40:00Z",
          "2024-03-31T01:00:00Z", "2024-03-31T01:20:00Z", "2024-03-31T01:40:00Z",
          "2024-03-31T02:00:00Z");
    /* fold 2024-10-27 03:00 CEST -> 02:00 CET (01:00Z) */
    FIRES("30 2 * * *", be, "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z");
    FIRES("0 * * * *", be, "2024-10-26T23:30:00Z", "2024-10-27T00:00:00Z", "2024-10-27T01:00:00Z",
          "2024-10-27T02:00:00Z");
    /* an hour field starting with `*` is a wildcard hour (cron.h) */
    FIRES("0 */2 * * *", be, "2024-10-26T21:30:00Z", "2024-10-26T22:00:00Z", "2024-10-27T00:00:00Z",
          "2024-10-27T01:00:00Z", "2024-10-27T03:00:00Z");
    FIRES("0 2-3 * * *", be, "2024-10-26T23:30:00Z", "2024-10-27T00:00:00Z",
          "2024-10-27T02:00:00Z");
    FIRES("*/30 2 * * *", be, "2024-10-26T23:59:00Z", "2024-10-27T00:00:00Z",
          "2024-10-27T00:30:00Z", "2024-10-28T01:00:00Z");
}

/* Lord Howe moves by 30 minutes (zdump -v Australia/Lord_Howe):
 *   2024-04-06T15:00:00Z  02:00 +11 -> 01:30 +1030 (01:30-01:59 twice)
 *   2024-10-05T15:30:00Z  02:00 +1030 -> 02:30 +11 (02:00-02:29 missing) */
static void test_dst_lord_howe(void **state)
{
    const char *lh = "Australia/Lord_Howe";
    /* gap: 02:15 is 15 minutes into it and fires 15 minutes after it, at
     * 02:45 +11 */
    FIRES("15 2 * * *", lh, "2024-10-05T12:00:00Z", "2024-10-05T15:45:00Z", "2024-10-06T15:15:00Z");
    FIRES("0 2 * * *", lh, "2024-10-05T12:00:00Z", "2024-10-05T15:30:00Z", "2024-10-06T15:00:00Z");
    FIRES("*/15 2 * * *", lh, "2024-10-05T12:00:00Z", "2024-10-05T15:30:00Z",
          "2024-10-05T15:45:00Z", "2024-10-06T15:00:00Z");
    /* 02:31 exists and is not moved */
    FIRES("31 0,2 * * *", lh, "2024-10-05T12:00:00Z", "2024-10-05T14:01:00Z",
          "2024-10-05T15:31:00Z", "2024-10-06T13:31:00Z");
    /* from 01:30 +1030: 01:40; 02:00 and 02:20 are in the gap (-> 02:30
     * and 02:50 +11); 02:40 is real */
    FIRES("*/20 * * * *", lh, "2024-10-05T15:00:00Z", "2024-10-05T15:10:00Z",
          "2024-10-05T15:30:00Z", "2024-10-05T15:40:00Z", "2024-10-05T15:50:00Z",
          "2024-10-05T16:00:00Z");
    /* fold: 01:45 once for a fixed hour (the +11 one) */
    FIRES("45 1 * * *", lh, "2024-04-06T12:00:00Z", "2024-04-06T14:45:00Z", "2024-04-07T15:15:00Z");
    FIRES("*/15 1 * * *", lh, "2024-04-06T14:40:00Z", "2024-04-06T14:45:00Z",
          "2024-04-07T14:30:00Z");
    /* 01:00-01:29 happen once; the hour after 01:59 +11 is 01:30 +1030 */
    FIRES("0,40 1,2 * * *", lh, "2024-04-06T13:00:00Z", "2024-04-06T14:00:00Z",
          "2024-04-06T14:40:00Z", "2024-04-06T15:30:00Z", "2024-04-06T16:10:00Z");
    /* an hour field `*`: both passes of 01:30-01:59 */
    FIRES("*/15 * * * *", lh, "2024-04-06T14:40:00Z", "2024-04-06T14:45:00Z",
          "2024-04-06T15:00:00Z", "2024-04-06T15:15:00Z", "2024-04-06T15:30:00Z");
    FIRES("*/20 * * * *", lh, "2024-04-06T14:00:00Z", "2024-04-06T14:20:00Z",
          "2024-04-06T14:40:00Z", "2024-04-06T15:10:00Z", "2024-04-06T15:30:00Z");
}

/* ---- DST against a brute-force reference ---------------------------------- */

/* The rules of cron.h applied to every minute around a transition: an
 * instant u fires when its local time matches, unless u is in the second
 * pass of a fold and the hour is fixed; a local time x in a gap fires at
 * x - old offset. */
static bool ref_day(const synq_cron_t *c, int64_t days)
{
    int64_t y;
    int m, d;
    synq_civil_from_days(days, &y, &m, &d);
    int last = (int)(synq_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) -
                     synq_days_from_civil(y, m, 1));
    int wd = (int)(((days + 4) % 7 + 7) % 7);
    bool dom_ok = ((c->dom >> d) & 1) || ((c->dom_last >> (last - d)) & 1);
    bool dow_ok = ((c->dow >> wd) & 1) || (((c->dow_last >> wd) & 1) && d + 7 > last) ||
                  ((c->dow_nth >> (wd * 5 + (d - 1) / 7)) & 1);
    if (!((c->month >> m) & 1)) return false;
    return c->dom_star || c->dow_star ? dom_ok && dow_ok : dom_ok || dow_ok;
}

static bool ref_match(const synq_cron_t *c, int64_t civil)
{
    int64_t days = civil >= 0 ? civil / 86400 : -((-civil + 86399) / 86400);
    int64_t sod = civil - days * 86400;
    return ((c->sec >> (sod % 60)) & 1) && ((c->min >> (sod / 60 % 60)) & 1) &&
           ((c->hour >> (sod / 3600)) & 1) && ref_day(c, days);
}

static void check_against_reference(const char *expr, const synq_tz_t *tz, int64_t from, int64_t to)
{
    synq_cron_t c = parse_ok(expr);
    enum { MAXF = 4096 };
    static int64_t want[MAXF];
    size_t nw = 0;
    /* spans overlapping [from, to) */
    for (int64_t u = from; u < to; u += 60) {
        synq_tz_span_t sp;
        synq_tz_span(tz, u, &sp);
        int64_t civil = u + sp.offset;
        bool second_pass =
            sp.prev_offset > sp.offset && u < sp.start + (sp.prev_offset - sp.offset);
        if (ref_match(&c, civil) && (!second_pass || c.hour_star)) want[nw++] = u;
        /* a gap starting at sp.start: local times [start+po, start+o) */
        if (u == sp.start && sp.offset > sp.prev_offset) {
            for (int64_t x = sp.start + sp.prev_offset; x < sp.start + sp.offset; x += 60)
                if (ref_match(&c, x)) want[nw++] = x - sp.prev_offset;
        }
        assert_true(nw < MAXF - 200);
    }
    /* sort and dedupe */
    for (size_t i = 1; i < nw; i++)
        for (size_t j = i; j > 0 && want[j - 1] > want[j]; j--) {
            int64_t tmp = want[j];
            want[j] = want[j - 1];
            want[j - 1] = tmp;
        }
    size_t k = 0;
    for (size_t i = 0; i < nw; i++)
        if (k == 0 || want[k - 1] != want[i]) want[k++] = want[i];
    nw = k;

    int64_t t = from - 1;
    for (size_t i = 0;; i++) {
        int64_t next;
        int r = synq_cron_next(&c, tz, t, &next);
        char a[32], b[32], w[32];
        if (i == nw) {
            if (r == 0 && next < to)
                fail_msg("\"%s\" in %s: extra fire %s", expr, synq_tz_name(tz), fmt(next, a));
            break;
        }
        if (r != 0 || next != want[i])
            fail_msg("\"%s\" in %s after %s: got %s, want %s", expr, synq_tz_name(tz), fmt(t, a),
                     r == 0 ? fmt(next, b) : "none", fmt(want[i], w));
        t = next;
    }
}

static void test_dst_reference(void **state)
{
    static const char *const exprs[] = {
        "* * * * *",    "*/7 * * * *",    "30 2 * * *",       "15 2 * * *",   "45 1 * * *",
        "0 1-3 * * *",  "*/20 1 * * *",   "*/20 2 * * *",     "0,30 * * * *", "10 */2 * * *",
        "5 0-23 * * *", "59 1,2,3 * * *", "0 3 * * *",        "30 1 * * sun", "20,50 2 L * *",
        "0 2 * * 0#1",  "*/15 1-2 * * *", "1-59/2 */3 * * *", "0 0 * * *",    "@hourly",
    };
    static const struct {
        const char *zone;
        const char *at[2];
    } zones[] = {
        {"America/New_York", {"2024-03-10T07:00:00Z", "2024-11-03T06:00:00Z"}},
        {"Europe/Berlin", {"2024-03-31T01:00:00Z", "2024-10-27T01:00:00Z"}},
        {"Australia/Lord_Howe", {"2024-04-06T15:00:00Z", "2024-10-05T15:30:00Z"}},
    };
    for (size_t z = 0; z < SYNQ_ARRAY_LEN(zones); z++) {
        synq_tz_t *tz = zone(zones[z].zone);
        for (int k = 0; k < 2; k++) {
            int64_t at = T(zones[z].at[k]);
            /* the transition is where the test thinks it is */
            assert_int_not_equal(synq_tz_offset(tz, at - 1), synq_tz_offset(tz, at));
            for (size_t e = 0; e < SYNQ_ARRAY_LEN(exprs); e++)
                check_against_reference(exprs[e], tz, at - 30 * 3600, at + 30 * 3600);
        }
        synq_tz_free(tz);
    }
}

/* ---- calendar helpers ------------------------------------------------------ */

static void test_civil_days(void **state)
{
    assert_int_equal(synq_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(synq_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(synq_days_from_civil(1969, 12, 31), -1);
    for (int64_t z = -800000; z < 3000000; z += 997) {
        int64_t y;
        int m, d;
        synq_civil_from_days(z, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(synq_days_from_civil(y, m, d), z);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stars),
        cmocka_unit_test(test_parse_values_lists_ranges),
        cmocka_unit_test(test_parse_steps),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_parse_sunday),
        cmocka_unit_test(test_parse_question_mark),
        cmocka_unit_test(test_parse_last_and_nth),
        cmocka_unit_test(test_parse_seconds),
        cmocka_unit_test(test_parse_whitespace),
        cmocka_unit_test(test_parse_macros),
        cmocka_unit_test(test_parse_resets_output),
        cmocka_unit_test(test_parse_errors_expression),
        cmocka_unit_test(test_parse_errors_range),
        cmocka_unit_test(test_parse_errors_descending),
        cmocka_unit_test(test_parse_errors_syntax),
        cmocka_unit_test(test_parse_errors_macros),
        cmocka_unit_test(test_parse_error_small_buffer),
        cmocka_unit_test(test_next_basic),
        cmocka_unit_test(test_next_seconds),
        cmocka_unit_test(test_next_macros),
        cmocka_unit_test(test_next_month_ends),
        cmocka_unit_test(test_next_leap_years),
        cmocka_unit_test(test_next_last_day),
        cmocka_unit_test(test_next_last_and_nth_weekday),
        cmocka_unit_test(test_next_day_or_and),
        cmocka_unit_test(test_next_never),
        cmocka_unit_test(test_next_every),
        cmocka_unit_test(test_dst_new_york),
        cmocka_unit_test(test_dst_berlin),
        cmocka_unit_test(test_dst_lord_howe),
        cmocka_unit_test(test_dst_reference),
        cmocka_unit_test(test_civil_days),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
