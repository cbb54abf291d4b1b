/* logfmt lines to stderr, one write(2) per line so lines never interleave. */
#include "core/log.h"

#include "core/buf.h"
#include "core/timeutil.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static synq_log_level_t min_level = SYNQ_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

int synq_log_level_parse(const char *s, synq_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (synq_log_level_t)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = SYNQ_LOG_WARN;
        return 0;
    }
    return SYNQ_EINVAL;
}

void synq_log_set_level(synq_log_level_t level)
{
    min_level = level;
}

int synq_log_enabled(synq_log_level_t level)
{
    return level >= min_level;
}

static void put_value(synq_buf_t *b, const char *v)
{
    if (v == NULL) v = "";
    bool quote = *v == '\0' || strpbrk(v, " =\"\t\n\r\\") != NULL;
    if (quote)
        synq_buf_json_str(b, v, strlen(v));
    else
        synq_buf_puts(b, v);
}

void synq_log(synq_log_level_t level, const char *msg, ...)
{
    if (level < min_level) return;
    synq_buf_t b;
    synq_buf_init(&b);
    char ts[32];
    synq_rfc3339_format(synq_time_now_us(), ts);
    synq_buf_printf(&b, "ts=%s level=%s msg=", ts, names[level]);
    put_value(&b, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) break;
        const char *v = va_arg(ap, const char *);
        synq_buf_putc(&b, ' ');
        synq_buf_puts(&b, k);
        synq_buf_putc(&b, '=');
        put_value(&b, v);
    }
    va_end(ap);
    synq_buf_putc(&b, '\n');
    ssize_t off = 0;
    while ((size_t)off < b.len) {
        ssize_t n = write(2, b.data + off, b.len - (size_t)off);
        if (n <= 0) break;
        off += n;
    }
    synq_buf_release(&b);
}
