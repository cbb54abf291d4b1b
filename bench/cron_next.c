/* bench/cron_next: how many next-fire computations (synq_cron_next) per
 * second, for a few representative cron expressions. Linked against the
 * project's objects by the Makefile (`make build/bench/cron_next`, see
 * the bench-sched target); bench/sched.sh runs it.
 *
 *   cron_next [SECS_PER_CASE]      default 0.5
 *
 * Two figures per expression, each over at least SECS_PER_CASE of CPU time:
 *  - random: the next fire after 4096 instants spread over 2026-2030 (the
 *    cost of answering "when next?" from anywhere, e.g. at start-up);
 *  - chained: next after the previous fire, as the scheduler does after each
 *    fire, over the same years (back to 2026 once past 2030). Far-future
 *    years cost more in a zone with DST: beyond its last TZif transition
 *    (2037) every span comes from the POSIX footer rule.
 * Prints one `key=value` line per expression and mode. Pure CPU, no I/O
 * beyond loading the time zone file once. */
#include "core/cron.h"
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NSTARTS 4096
#define T2026 1767225600LL /* 2026-01-01T00:00:00Z */
#define T2031 1924992000LL /* 2031-01-01T00:00:00Z */

typedef struct {
    const char *expr;
    const char *tz; /* NULL = UTC */
} cron_case_t;

static const cron_case_t cases[] = {
    {"*/5 * * * *", NULL}, {"0 2 * * *", "America/New_York"},
    {"0 0 29 2 *", NULL},  {"30 4 1,15 * 5", NULL},
    {"0 0 L * *", NULL},   {"*/10 * * * * *", NULL},
    {"@every 1s", NULL},
};

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double min_secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (min_secs <= 0 || min_secs > 60) {
        fprintf(stderr, "usage: cron_next [SECS_PER_CASE (0-60]]\n");
        return 2;
    }
    static int64_t starts[NSTARTS];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < NSTARTS; i++) { /* xorshift: fixed, reproducible instants */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        starts[i] = T2026 + (int64_t)(x % (uint64_t)(T2031 - T2026));
    }
    int64_t sink = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const cron_case_t *cc = &cases[k];
        synq_cron_t c;
        char err[256];
        if (synq_cron_parse(cc->expr, &c, err, sizeof err) != 0) {
            fprintf(stderr, "cron_next: %s: %s\n", cc->expr, err);
            return 1;
        }
        synq_tz_t *zone = NULL;
        if (cc->tz && !(zone = synq_tz_load(cc->tz, err, sizeof err))) {
            fprintf(stderr, "cron_next: %s: %s\n", cc->tz, err);
            return 1;
        }
        for (int chained = 0; chained <= 1; chained++) {
            long calls = 0;
            int64_t t = T2026;
            double t0 = cpu_now(), el;
            do {
                for (int i = 0; i < NSTARTS; i++) {
                    int64_t out;
                    int64_t from = chained ? t : starts[i];
                    if (synq_cron_next(&c, zone, from, &out) == 0) {
                        sink += out;
                        t = out < T2031 ? out : T2026;
                    } else {
                        t = T2026;
                    }
                }
                calls += NSTARTS;
            } while ((el = cpu_now() - t0) < min_secs);
            printf("expr=\"%s\" tz=%s mode=%s calls=%ld secs=%.3f calls_per_sec=%.0f "
                   "ns_per_call=%.1f\n",
                   cc->expr, cc->tz ? cc->tz : "UTC", chained ? "chained" : "random", calls, el,
                   (double)calls / el, el * 1e9 / (double)calls);
        }
        synq_tz_free(zone);
    }
    return sink == 42 ? 3 : 0; /* keeps the results live */
}
