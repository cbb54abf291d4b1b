/* Time zones: the IANA tz database's compiled TZif files (RFC 8536) and
 * POSIX TZ rule strings, reduced to what a scheduler needs: the UTC offset
 * in force at an instant and the span of instants sharing that offset.
 *
 * synq_tz_parse() and the span queries are pure (bytes in, answers out, no
 * clock, no global state); synq_tz_load() is the one function that reads a
 * file. Times are int64 seconds since the Unix epoch (UTC); offsets are
 * seconds east of UTC. Leap-second records are ignored (the system database
 * is the "posix" variant). Transitions that change only the abbreviation or
 * the DST flag but not the offset are merged: a span is a maximal run of
 * instants with one offset. */
#ifndef SYNQ_CORE_TZ_H
#define SYNQ_CORE_TZ_H

#include "core/common.h"

typedef struct synq_tz_s synq_tz_t;

/* A maximal interval [start, end) of UTC instants with one UTC offset.
 * start is INT64_MIN when the offset holds since the beginning of time,
 * end is INT64_MAX when it holds forever. prev_offset is the offset in
 * force just before start (== offset when start is INT64_MIN). */
typedef struct synq_tz_span_s {
    int64_t start;
    int64_t end;
    int32_t offset;
    int32_t prev_offset;
} synq_tz_span_t;

#define SYNQ_TZ_NAME_MAX 128

/* The UTC zone (offset 0 forever). Static: never freed (synq_tz_free
 * ignores it). */
const synq_tz_t *synq_tz_utc(void);

/* Parses TZif data (versions 1-4; for v2+ the 64-bit block and the footer
 * rule are used). name is copied. Returns a zone freed with synq_tz_free(),
 * or NULL with a message in err (errlen bytes). */
synq_tz_t *synq_tz_parse(const char *name, const uint8_t *data, size_t len, char *err,
                         size_t errlen);

/* Parses a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0",
 * "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0" or "UTC0" (forms Mm.w.d, Jn, n,
 * with optional /time, including negative and >24h times as RFC 8536 §3.3.1
 * allows). Returns a zone or NULL with a message in err. */
synq_tz_t *synq_tz_from_posix(const char *name, const char *rule, char *err, size_t errlen);

/* Loads zone `name` ("Europe/Berlin", "UTC") from $TZDIR or
 * /usr/share/zoneinfo. Names are checked first: ASCII letters, digits and
 * "/_-+", no empty component, no "." or ".." component, no leading '/',
 * at most SYNQ_TZ_NAME_MAX bytes. "UTC", "Etc/UTC" and "Z" need no file.
 * Returns a zone freed with synq_tz_free(), or NULL with a message in err
 * ("unknown time zone \"Mars/Base\""). */
synq_tz_t *synq_tz_load(const char *name, char *err, size_t errlen);

/* Frees a zone. NULL and synq_tz_utc() are fine. */
void synq_tz_free(const synq_tz_t *tz);

/* The name given at creation ("UTC" for synq_tz_utc()). */
const char *synq_tz_name(const synq_tz_t *tz);

/* Fills *out with the span containing instant t. The next span starts at
 * out->end: call again with t = out->end. */
void synq_tz_span(const synq_tz_t *tz, int64_t t, synq_tz_span_t *out);

/* The UTC offset in force at instant t. */
int32_t synq_tz_offset(const synq_tz_t *tz, int64_t t);

#endif
