/* Time values in synq are int64 microseconds since the Unix epoch (UTC).
 * This module parses and formats them: durations ("30s", "1h30m", "250ms")
 * and RFC 3339 timestamps. Pure except synq_time_now_us(). */
#ifndef SYNQ_CORE_TIMEUTIL_H
#define SYNQ_CORE_TIMEUTIL_H

#include "core/buf.h"
#include "core/common.h"

#define SYNQ_US_PER_MS 1000LL
#define SYNQ_US_PER_SEC 1000000LL

/* Wall clock now, in microseconds since the epoch. */
int64_t synq_time_now_us(void);

/* Parses a duration: one or more <number><unit> groups, units us, ms, s, m,
 * h, d (e.g. "30s", "1h30m", "1.5s", "250ms"); a bare number means seconds.
 * Returns 0 and sets *out_us, or SYNQ_EINVAL (also for negative values or
 * values over 100 years). */
int synq_duration_parse(const char *s, size_t len, int64_t *out_us);

/* Parses an RFC 3339 date-time ("2026-11-22T10:00:00Z", fractional seconds
 * and numeric offsets allowed; 't', 'z' and a space separator accepted).
 * Returns 0 and sets *out_us, or SYNQ_EINVAL. */
int synq_rfc3339_parse(const char *s, size_t len, int64_t *out_us);

/* Formats t as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out (at least 32 bytes).
 * Returns the length written. */
size_t synq_rfc3339_format(int64_t t_us, char *out);

/* Appends t as a JSON string in that form, or null when t is 0 (unset). */
void synq_buf_put_time(synq_buf_t *out, int64_t t_us);

#endif
