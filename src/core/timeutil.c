/* Duration and RFC 3339 parsing/formatting. Timestamps are UTC microseconds. */
#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t synq_time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SYNQ_US_PER_SEC + ts.tv_nsec / 1000;
}

#define MAX_DURATION_US (100LL * 365 * 86400 * SYNQ_US_PER_SEC)

int synq_duration_parse(const char *s, size_t len, int64_t *out_us)
{
    size_t i = 0;
    int64_t total = 0;
    if (len == 0) return SYNQ_EINVAL;
    while (i < len) {
        /* number: digits with an optional fraction */
        int64_t whole = 0, frac = 0, frac_div = 1;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            whole = whole * 10 + (s[i] - '0');
            if (whole > MAX_DURATION_US) return SYNQ_EINVAL;
            i++;
        }
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (frac_div < 1000000000LL) {
                    frac = frac * 10 + (s[i] - '0');
                    frac_div *= 10;
                }
                i++;
            }
        }
        if (i == start || (i == start + 1 && s[start] == '.')) return SYNQ_EINVAL;
        int64_t unit;
        if (i == len) {
            if (start != 0) return SYNQ_EINVAL; /* "1h30" is ambiguous */
            unit = SYNQ_US_PER_SEC;
        } else if (len - i >= 2 && s[i] == 'u' && s[i + 1] == 's') {
            unit = 1, i += 2;
        } else if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') {
            unit = SYNQ_US_PER_MS, i += 2;
        } else if (s[i] == 's') {
            unit = SYNQ_US_PER_SEC, i++;
        } else if (s[i] == 'm') {
            unit = 60 * SYNQ_US_PER_SEC, i++;
        } else if (s[i] == 'h') {
            unit = 3600 * SYNQ_US_PER_SEC, i++;
        } else if (s[i] == 'd') {
            unit = 86400 * SYNQ_US_PER_SEC, i++;
        } else {
            return SYNQ_EINVAL;
        }
        if (whole > MAX_DURATION_US / unit) return SYNQ_EINVAL;
        /* integer arithmetic: a double product came out 1 us short ("0.7d") */
        total += whole * unit + (int64_t)((unsigned __int128)frac * (uint64_t)unit / (uint64_t)frac_div);
        if (total > MAX_DURATION_US) return SYNQ_EINVAL;
    }
    *out_us = total;
    return 0;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

int synq_rfc3339_parse(const char *s, size_t len, int64_t *out_us)
{
    int y, mo, d, h, mi, sec;
    if (len < 20) return SYNQ_EINVAL;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return SYNQ_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return SYNQ_EINVAL;
    if (sec == 60) sec = 59; /* leap second: clamp, as most systems do */
    size_t i = 19;
    int64_t frac_us = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        int64_t scale = 100000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_us += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) return SYNQ_EINVAL;
    }
    int64_t off_s = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return SYNQ_EINVAL;
        off_s = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return SYNQ_EINVAL;
    }
    if (i != len) return SYNQ_EINVAL;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off_s;
    /* an offset may push the instant out of 0000..9999, which RFC 3339 cannot write */
    int64_t min_s = days_from_civil(0, 1, 1) * 86400, max_s = days_from_civil(10000, 1, 1) * 86400;
    if (secs < min_s || secs >= max_s) return SYNQ_EINVAL;
    *out_us = secs * SYNQ_US_PER_SEC + frac_us;
    return 0;
}

/* Inverse of days_from_civil (Howard Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Hand-rolled rather than gmtime_r + snprintf: every job in every reply
 * carries several timestamps, and this was a hot spot under load. */
size_t synq_rfc3339_format(int64_t t_us, char *out)
{
    int64_t secs = t_us / SYNQ_US_PER_SEC;
    int64_t us = t_us % SYNQ_US_PER_SEC;
    if (us < 0) us += SYNQ_US_PER_SEC, secs--;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) rem += 86400, days--;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;
    char *p = out;
    p = put_digits(p, (unsigned)y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, (unsigned)(rem / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)(rem % 60), 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)us, 6);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

void synq_buf_put_time(synq_buf_t *out, int64_t t_us)
{
    if (t_us == 0) {
        synq_buf_append(out, "null", 4);
        return;
    }
    char ts[40];
    ts[0] = '"';
    size_t n = synq_rfc3339_format(t_us, ts + 1);
    ts[n + 1] = '"';
    synq_buf_append(out, ts, n + 2);
}
