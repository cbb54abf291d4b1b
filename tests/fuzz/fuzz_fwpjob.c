/* Fuzz target for proto/fwpjob: Faktory job JSON -> synq job -> Faktory
 * JSON, and MUTATE's glob. The input is parsed as JSON the way PUSH does
 * (JSON_DECODE_ANY); an array is taken as a PUSHB and each element mapped.
 * Invariants (abort on violation):
 *  rejected - the error is one of the mapping's own messages, non-empty, and
 *             holds no CR or LF (it goes out as one "-ERR ..." line);
 *  accepted - jid, jobtype, args, queue (or "default") and custom are the
 *             input's; reserve_for is 60..86400, retry -1..1000000 and
 *             discard exactly for retry 0; the state is queued (run_at 0,
 *             enqueued now) or scheduled (run_at after now); every top-level
 *             key the mapping does not own is echoed with its value, and
 *             priority is not;
 *  output   - parses with duplicate keys rejected as an object with the same
 *             jid, jobtype, queue, args, custom, retry and echoed keys and no
 *             failure; fed back in it is accepted and, unless created_at was
 *             the epoch (0 means unset, so it is left out), writes the very
 *             same bytes again.
 * Then the first line of the input is a glob pattern for synq_fwp_glob
 * against the rest: it must agree with a simple dynamic-programming matcher
 * over the same pattern elements (so the star backtracking is checked), a
 * pattern without special characters matches only itself, and "*" matches
 * everything. */
#include "proto/fwpjob.h"

#include "core/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_fwpjob: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NOW 1767225600000000LL /* 2026-01-01T00:00:00Z */

static const char *const messages[] = {
    "invalid JSON: ",
    "jobs must have a reasonable jid parameter",
    "jid must be at most 128 characters",
    "jobs must have a jobtype parameter",
    "jobtype must be at most ",
    "jobs must have an args parameter",
    "queue name cannot be blank",
    "queue names must match ",
    "jobs cannot be reserved for more than one day",
    "invalid timestamp for 'at': ",
    "invalid timestamp for 'expires_at'",
    "custom.unique_for must be a positive number of seconds",
    "custom.unique_until must be \"success\" or \"start\"",
    "custom.bid must be a batch id",
};

static const char *const owned[] = {
    "jid",        "jobtype",     "args",    "queue",  "retry",
    "created_at", "enqueued_at", "failure", "custom", "priority",
};

static bool is_owned(const char *key)
{
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strcmp(key, owned[i]) == 0) return true;
    return false;
}

static void check_error(const char *err)
{
    CHECK(err[0] != '\0');
    CHECK(strchr(err, '\r') == NULL && strchr(err, '\n') == NULL);
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (strncmp(err, messages[i], strlen(messages[i])) == 0) return;
    fprintf(stderr, "unknown error text: \"%s\"\n", err);
    abort();
}

static bool same_string(const json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s) &&
           memcmp(json_string_value(v), s, strlen(s)) == 0;
}

static bool same_json_text(const json_t *v, const char *text)
{
    json_t *w = json_loads(text, JSON_DECODE_ANY, NULL);
    CHECK(w != NULL);
    bool eq = json_equal(v, w);
    json_decref(w);
    return eq;
}

static const json_t *given(const json_t *in, const char *key)
{
    const json_t *v = json_object_get(in, key);
    return v && !json_is_null(v) ? v : NULL;
}

static void check_job(const synq_job_t *job, const json_t *in)
{
    CHECK(json_is_object(in));
    CHECK(same_string(json_object_get(in, "jid"), job->id));
    CHECK(strlen(job->id) >= SYNQ_FWP_MIN_JID);
    CHECK(same_string(json_object_get(in, "jobtype"), job->type));
    CHECK(same_json_text(json_object_get(in, "args"), job->args));
    CHECK(job->args[0] == '[');
    if (given(in, "queue"))
        CHECK(same_string(given(in, "queue"), job->queue));
    else
        CHECK(strcmp(job->queue, "default") == 0);
    CHECK(synq_fwp_queue_valid(job->queue, strlen(job->queue)));
    CHECK(job->reserve_for >= SYNQ_FWP_RESERVE_MIN && job->reserve_for <= SYNQ_FWP_RESERVE_MAX);
    CHECK(job->retry >= -1 && job->retry <= 1000000);
    const json_t *r = given(in, "retry");
    CHECK(job->discard == (r != NULL && json_integer_value(r) == 0));
    if (r == NULL) CHECK(job->retry == SYNQ_JOB_DEFAULT_RETRY);
    CHECK(job->backoff.type == SYNQ_BACKOFF_FAKTORY);
    CHECK(job->priority == SYNQ_JOB_DEFAULT_PRIORITY);
    CHECK(job->attempts == 0 && job->failed_at == 0 && job->err_message == NULL);
    if (job->state == SYNQ_JOB_SCHEDULED)
        CHECK(job->run_at > NOW && job->enqueued_at == 0);
    else
        CHECK(job->state == SYNQ_JOB_QUEUED && job->run_at == 0 && job->enqueued_at == NOW);
    const json_t *custom = given(in, "custom");
    CHECK((custom != NULL) == (job->custom != NULL));
    if (custom) CHECK(same_json_text(custom, job->custom));
    if (job->unique_key) CHECK(job->unique_until_us > NOW);
    if (job->batch) CHECK(custom != NULL);

    /* the echo: exactly the keys the mapping does not own */
    json_t *echo = job->fwp ? json_loads(job->fwp, 0, NULL) : NULL;
    CHECK(job->fwp == NULL || json_is_object(echo));
    size_t want = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)in, key, val)
    {
        if (is_owned(key)) {
            CHECK(echo == NULL || json_object_get(echo, key) == NULL);
            continue;
        }
        want++;
        CHECK(echo != NULL && json_equal(json_object_get(echo, key), val));
    }
    CHECK(want == (echo ? json_object_size(echo) : 0));
    CHECK(job->fwp == NULL || want > 0);
    json_decref(echo);
}

static void check_output(const json_t *o, const synq_job_t *job, const json_t *in)
{
    CHECK(json_is_object(o));
    CHECK(json_equal(json_object_get(o, "jid"), json_object_get(in, "jid")));
    CHECK(json_equal(json_object_get(o, "jobtype"), json_object_get(in, "jobtype")));
    CHECK(same_string(json_object_get(o, "queue"), job->queue));
    CHECK(json_equal(json_object_get(o, "args"), json_object_get(in, "args")));
    const json_t *r = json_object_get(o, "retry");
    CHECK(json_is_integer(r) && json_integer_value(r) == (job->discard ? 0 : job->retry));
    const json_t *custom = given(in, "custom");
    if (custom)
        CHECK(json_equal(json_object_get(o, "custom"), custom));
    else
        CHECK(json_object_get(o, "custom") == NULL);
    CHECK(json_object_get(o, "failure") == NULL);
    CHECK(json_object_get(o, "priority") == NULL);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)in, key, val) if (!is_owned(key))
        CHECK(json_equal(json_object_get(o, key), val));
    if (job->created_at) {
        const json_t *c = json_object_get(o, "created_at");
        int64_t t;
        CHECK(json_is_string(c) &&
              synq_rfc3339_parse(json_string_value(c), json_string_length(c), &t) == 0 &&
              t == job->created_at);
    }
}

static void map_one(const json_t *in)
{
    char err[256];
    err[0] = '\0';
    synq_job_t *job = synq_fwp_job_from_json(in, NOW, err, sizeof err);
    if (job == NULL) {
        check_error(err);
        return;
    }
    check_job(job, in);

    synq_buf_t out;
    synq_buf_init(&out);
    synq_fwp_job_to_json(job, &out);
    json_error_t e;
    json_t *o = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &e);
    if (o == NULL) {
        fprintf(stderr, "to_json output does not parse (%s): %.*s\n", e.text, (int)out.len,
                out.data);
        abort();
    }
    check_output(o, job, in);

    synq_job_t *again = synq_fwp_job_from_json(o, NOW, err, sizeof err);
    if (again == NULL) {
        fprintf(stderr, "to_json output rejected (%s): %.*s\n", err, (int)out.len, out.data);
        abort();
    }
    check_job(again, o);
    synq_buf_t out2;
    synq_buf_init(&out2);
    synq_fwp_job_to_json(again, &out2);
    if (job->created_at != 0 &&
        (out2.len != out.len || memcmp(out2.data, out.data, out.len) != 0)) {
        fprintf(stderr, "round trip differs:\n%.*s\n%.*s\n", (int)out.len, out.data, (int)out2.len,
                out2.data);
        abort();
    }
    synq_buf_release(&out2);
    synq_job_free(again);
    json_decref(o);
    synq_buf_release(&out);
    synq_job_free(job);
}

/* ---- a reference glob matcher ----------------------------------------------------- */

typedef struct {
    int kind; /* 0 literal, 1 any, 2 star, 3 class */
    unsigned char lit;
    bool set[256];
} elem_t;

/* Splits a pattern into elements with the documented class rules: `^`
 * negates, `\x` is x, `a-z` is a range (either order) unless the `-` ends
 * the class, an unterminated class ends the pattern. */
static size_t elements(const char *p, elem_t *v)
{
    size_t n = 0;
    while (*p) {
        elem_t *el = &v[n++];
        memset(el, 0, sizeof *el);
        if (*p == '*') {
            el->kind = 2;
            p++;
        } else if (*p == '?') {
            el->kind = 1;
            p++;
        } else if (*p == '[') {
            el->kind = 3;
            p++;
            bool negate = *p == '^';
            if (negate) p++;
            while (*p && *p != ']') {
                if (*p == '\\' && p[1]) {
                    p++;
                    el->set[(unsigned char)*p] = true;
                } else if (p[1] == '-' && p[2] && p[2] != ']') {
                    signed char lo = (signed char)p[0], hi = (signed char)p[2];
                    if (lo > hi) {
                        signed char t = lo;
                        lo = hi;
                        hi = t;
                    }
                    for (int c = lo; c <= hi; c++)
                        el->set[(unsigned char)(signed char)c] = true;
                    p += 2;
                } else {
                    el->set[(unsigned char)*p] = true;
                }
                p++;
            }
            if (*p) p++;
            if (negate)
                for (int c = 0; c < 256; c++)
                    el->set[c] = !el->set[c];
        } else {
            el->kind = 0;
            if (*p == '\\' && p[1]) p++;
            el->lit = (unsigned char)*p++;
        }
    }
    return n;
}

static bool ref_glob(const elem_t *v, size_t n, const unsigned char *s, size_t len)
{
    /* dp[j]: the elements so far match s[0..j) */
    bool *dp = calloc(len + 1, 1), *nx = calloc(len + 1, 1);
    CHECK(dp && nx);
    dp[0] = true;
    for (size_t i = 0; i < n; i++) {
        const elem_t *el = &v[i];
        if (el->kind == 2) {
            bool any = false;
            for (size_t j = 0; j <= len; j++)
                nx[j] = any = any || dp[j];
        } else {
            nx[0] = false;
            for (size_t j = 1; j <= len; j++) {
                unsigned char c = s[j - 1];
                bool ok = el->kind == 1 || (el->kind == 0 && el->lit == c) ||
                          (el->kind == 3 && el->set[c]);
                nx[j] = dp[j - 1] && ok;
            }
        }
        bool *t = dp;
        dp = nx;
        nx = t;
    }
    bool r = dp[len];
    free(dp);
    free(nx);
    return r;
}

static void check_glob(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pattern = malloc(plen + 1);
    CHECK(pattern != NULL);
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    plen = strlen(pattern); /* a NUL ends the C string */
    size_t toff = nl ? (size_t)(nl - data) + 1 : size;
    size_t tlen = size - toff;
    char *text = malloc(tlen ? tlen : 1); /* exact size: an overread shows */
    CHECK(text != NULL);
    if (tlen) memcpy(text, data + toff, tlen);

    bool got = synq_fwp_glob(pattern, text, tlen);
    CHECK(synq_fwp_glob("*", text, tlen));
    if (plen * (tlen + 1) <= (1u << 22)) {
        elem_t *v = malloc((plen + 1) * sizeof *v);
        CHECK(v != NULL);
        size_t n = elements(pattern, v);
        bool want = ref_glob(v, n, (const unsigned char *)text, tlen);
        if (got != want) {
            fprintf(stderr, "glob(\"%s\", %zu bytes) = %d, reference %d\n", pattern, tlen, got,
                    want);
            abort();
        }
        free(v);
    }
    if (strpbrk(pattern, "*?[\\") == NULL)
        CHECK(got == (tlen == plen && memcmp(text, pattern, plen) == 0));
    /* the pattern matches its own text when it has no specials */
    if (strpbrk(pattern, "*?[\\") == NULL) CHECK(synq_fwp_glob(pattern, pattern, plen));
    free(text);
    free(pattern);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (in) {
        if (json_is_array(in)) {
            size_t i;
            json_t *el;
            json_array_foreach(in, i, el) map_one(el);
        } else {
            map_one(in);
        }
        json_decref(in);
    }
    check_glob(data, size);
    return 0;
}
