/* Crontab files: the user-crontab format of cronie (crontab(5)), parsed
 * into entries that the scheduler turns into `exec` schedules. Pure: text
 * in, entries out; it does not validate the time expression itself (the
 * cron module does) beyond splitting it off the command.
 *
 * What it understands:
 * - blank lines and lines whose first non-blank character is '#';
 * - environment lines `NAME = value` (spaces around '=' optional; a value
 *   in matching single or double quotes has them removed). CRON_TZ and TZ
 *   set the zone of the entries below them; every other variable (SHELL,
 *   PATH, HOME, MAILTO, ...) is part of the environment of the entries
 *   below it (a later assignment of the same name replaces the earlier);
 * - entries `m h dom mon dow command` (exactly five fields), `@macro
 *   command` (@yearly @annually @monthly @weekly @daily @midnight @hourly
 *   @reboot) and `@every DURATION command`;
 * - in the command, an unescaped '%' ends the command: the rest is the
 *   command's standard input with every further unescaped '%' turned into
 *   a newline (and a final newline added, as cronie does); "\%" is a
 *   literal '%' (the backslash is removed);
 * - a comment `# synq: name=NAME` directly above an entry names it;
 *   otherwise the entry has no name (the caller names it after its line).
 *
 * Not supported (rejected with an error naming the line): the system
 * crontab's user field cannot be told apart and is not special-cased;
 * cronie's `~` random ranges are left to the cron parser. */
#ifndef SYNQ_CORE_CRONTAB_H
#define SYNQ_CORE_CRONTAB_H

#include "core/common.h"

typedef struct synq_crontab_entry_s {
    int line;        /* 1-based line number of the entry */
    char *name;      /* from "# synq: name=..." or NULL */
    char *expr;      /* "0 2 * * *", "@daily", "@reboot", "@every 5m" */
    char *command;   /* shell command, '%' processing done */
    char *input;     /* standard input text or NULL (no '%') */
    char *tz;        /* CRON_TZ / TZ in force, or NULL */
    char **env;      /* "NAME=value" strings in force, in order of first
                        assignment; nenv of them */
    size_t nenv;
} synq_crontab_entry_t;

typedef struct synq_crontab_s {
    synq_crontab_entry_t *entries;
    size_t n;
} synq_crontab_t;

/* Parses text[0..len) (need not be NUL-terminated; NUL bytes are an
 * error). On success fills *out (release with synq_crontab_release) and
 * returns 0. On error returns SYNQ_EINVAL, leaves *out empty and writes
 * "line N: problem" to err (errlen bytes). Lines longer than 64 KiB and
 * files over 4 MiB or with over 10,000 entries are errors. */
int synq_crontab_parse(const char *text, size_t len, synq_crontab_t *out, char *err,
                       size_t errlen);

/* Frees every entry and string; *tab becomes empty. */
void synq_crontab_release(synq_crontab_t *tab);

#endif
