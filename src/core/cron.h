/* Cron expressions: parsing and next-fire computation in a time zone.
 * Pure: text in, bit sets out; instants in, instants out. No clock, no I/O.
 *
 * Syntax: 5 fields (minute hour day-of-month month day-of-week) or 6 with a
 * leading seconds field. In each field: `*`, numbers, names (jan-dec,
 * sun-sat, case-insensitive), ranges `a-b`, lists `a,b`, steps `*\/n`,
 * `a-b/n`, `a/n` (= a-max/n). `?` is `*` in the day fields. 0 and 7 are
 * both Sunday; a weekday range ending in 0 or 7 (`fri-sun`, `5-0`) runs to
 * Sunday; every other descending range is an error. Day-of-month also takes
 * `L` (last day) and `L-N` (N days before it); day-of-week takes `NL` (last
 * weekday N of the month) and `N#K` (K-th weekday N, K 1-5). Macros:
 * @yearly @annually @monthly @weekly @daily @midnight @hourly, `@every
 * DURATION` (whole seconds, at least 1s; fires at every multiple of the
 * interval since the Unix epoch, independent of the zone) and @reboot
 * (never fires by time; the scheduler runs it at start).
 *
 * Day matching follows Vixie cron/cronie: when both day fields are
 * restricted a day matches if either matches, otherwise both must match; a
 * day field is unrestricted when its text starts with `*` or `?`. So
 * `*\/2` in a day field counts as unrestricted here; the npm package
 * cron-parser counts only a bare `*`/`?` (docs/schedules.md).
 *
 * Time zones (see synq_cron_next): a local time skipped by a spring-forward
 * gap fires once, as far after the gap as it was into it (02:30 -> 03:30);
 * in a repeated (fall-back) interval a job with a fixed hour fires once, at
 * the first occurrence, and a job whose hour field starts with `*` fires in
 * both passes. */
#ifndef SYNQ_CORE_CRON_H
#define SYNQ_CORE_CRON_H

#include "core/common.h"
#include "core/tz.h"

#define SYNQ_CRON_MAX_LEN 1024

typedef struct synq_cron_s {
    uint64_t sec;      /* bits 0-59 */
    uint64_t min;      /* bits 0-59 */
    uint32_t hour;     /* bits 0-23 */
    uint32_t dom;      /* bits 1-31 */
    uint32_t dom_last; /* bit N: the day N days before the month's last (L-N) */
    uint16_t month;    /* bits 1-12 */
    uint8_t dow;       /* bits 0-6, Sunday = 0 */
    uint8_t dow_last;  /* bit N: last weekday N of the month (NL) */
    uint64_t dow_nth;  /* bit N*5 + K-1: K-th weekday N (N#K) */
    bool dom_star, dow_star; /* field text starts with '*' or '?' */
    bool hour_star;          /* hour field text starts with '*' */
    bool has_seconds;        /* written with 6 fields */
    bool reboot;             /* @reboot */
    int64_t every_s;         /* @every interval in seconds, else 0 */
} synq_cron_t;

/* Parses expr (NUL-terminated, at most SYNQ_CRON_MAX_LEN bytes). Returns 0,
 * or SYNQ_EINVAL with a message naming the field and the problem in err
 * ("day-of-week: 8 is out of range 0-7"). */
int synq_cron_parse(const char *expr, synq_cron_t *out, char *err, size_t errlen);

/* The first fire strictly after instant t (seconds since the epoch, UTC),
 * in zone tz (NULL = UTC). Returns 0 and sets *out, or SYNQ_ENOTFOUND when
 * the expression never fires after t (`0 0 30 2 *`, @reboot, or no fire
 * before year 9999). */
int synq_cron_next(const synq_cron_t *c, const synq_tz_t *tz, int64_t t, int64_t *out);

/* Civil-time helpers shared with the scheduler and tests: days since
 * 1970-01-01 of a proleptic Gregorian date, and the reverse. */
int64_t synq_days_from_civil(int64_t y, int m, int d);
void synq_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
