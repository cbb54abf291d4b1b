/* Structured logging: one logfmt line per event on stderr,
 *   ts=2026-11-22T20:53:00.123456Z level=info msg=listening addr=127.0.0.1:7700
 * The only module in core/ that does I/O (a write to fd 2), kept here because
 * every layer logs. Pure modules (parsers, job, cron) never call it. */
#ifndef SYNQ_CORE_LOG_H
#define SYNQ_CORE_LOG_H

typedef enum { SYNQ_LOG_DEBUG, SYNQ_LOG_INFO, SYNQ_LOG_WARN, SYNQ_LOG_ERROR } synq_log_level_t;

/* Parses "debug", "info", "warn" or "error". Returns 0 or SYNQ_EINVAL. */
int synq_log_level_parse(const char *s, synq_log_level_t *out);
void synq_log_set_level(synq_log_level_t level);
/* True if a message at level would be printed. */
int synq_log_enabled(synq_log_level_t level);

/* Logs msg with key/value pairs given as alternating const char* arguments,
 * terminated by NULL: synq_log(SYNQ_LOG_INFO, "listening", "addr", a, NULL).
 * Values with spaces, quotes or '=' are quoted. */
void synq_log(synq_log_level_t level, const char *msg, ...);

#endif
