/* Fuzz target for core/crontab: synq_crontab_parse on arbitrary bytes.
 * Invariants (abort on violation):
 *  result   - 0 or SYNQ_EINVAL; on error the table is empty and the message
 *             is "line N: ..." with N a line of the input (or the file-size
 *             message); the message is the same however small the buffer
 *             (cut, NUL-terminated, never overrun) and with no buffer.
 *  entries  - line numbers strictly increase and name lines of the input
 *             whose first word is the first word of expr; expr is "@word",
 *             "@every D" or five fields joined by single spaces; command is
 *             non-empty with no newline and does not start with a blank or
 *             '*'; input is NULL, "" or ends in '\n'; names are valid and
 *             unique; tz is NULL or non-empty; env strings are NAME=value
 *             with unique names, never CRON_TZ or TZ.
 *  lines    - an error on line N: the lines before it parse, and line N on
 *             its own end fails the same way; on success, cutting after any
 *             of a few line ends gives the entries of those lines.
 *  endings  - CRLF for LF and an added final newline change nothing.
 *  release  - frees everything (the leak checker sees the rest) and leaves
 *             the table empty. */
#include "core/crontab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define ERR_MAX 512

typedef struct {
    int r;
    synq_crontab_t tab;
    char err[ERR_MAX];
} result_t;

/* Parses from an exact-size heap copy, so a read past the end is caught. */
static void parse(const char *text, size_t len, result_t *res)
{
    char *copy = malloc(len ? len : 1);
    if (copy == NULL) abort();
    if (len) memcpy(copy, text, len);
    memset(res->err, 'Z', sizeof res->err);
    res->r = synq_crontab_parse(copy, len, &res->tab, res->err, sizeof res->err);
    free(copy);
    CHECK(memchr(res->err, '\0', sizeof res->err) != NULL);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_entry(const synq_crontab_entry_t *a, const synq_crontab_entry_t *b)
{
    if (a->line != b->line || a->nenv != b->nenv) return false;
    if (!same_str(a->name, b->name) || !same_str(a->expr, b->expr) ||
        !same_str(a->command, b->command) || !same_str(a->input, b->input) ||
        !same_str(a->tz, b->tz))
        return false;
    for (size_t i = 0; i < a->nenv; i++)
        if (strcmp(a->env[i], b->env[i]) != 0) return false;
    return true;
}

static bool same_result(const result_t *a, const result_t *b)
{
    if (a->r != b->r || strcmp(a->err, b->err) != 0 || a->tab.n != b->tab.n) return false;
    for (size_t i = 0; i < a->tab.n; i++)
        if (!same_entry(&a->tab.entries[i], &b->tab.entries[i])) return false;
    return true;
}

static void release(result_t *res)
{
    synq_crontab_release(&res->tab);
    CHECK(res->tab.entries == NULL && res->tab.n == 0);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("-_.:", s[i]) != NULL))
            return false;
    return true;
}

/* Offset just past the n-th '\n' (n >= 1), or size if there are fewer. */
static size_t after_line(const char *s, size_t size, int n)
{
    for (size_t i = 0; i < size; i++)
        if (s[i] == '\n' && --n == 0) return i + 1;
    return size;
}

/* Start of line n (1-based) and its length without "\n". */
static const char *line_at(const char *s, size_t size, int n, size_t *len)
{
    size_t start = n > 1 ? after_line(s, size, n - 1) : 0;
    const char *nl = memchr(s + start, '\n', size - start);
    *len = (nl ? (size_t)(nl - s) : size) - start;
    return s + start;
}

static void check_entries(const char *s, size_t size, int nlines, const synq_crontab_t *tab)
{
    CHECK((tab->n == 0) == (tab->entries == NULL));
    int last = 0;
    for (size_t i = 0; i < tab->n; i++) {
        const synq_crontab_entry_t *e = &tab->entries[i];
        CHECK(e->line > last && e->line <= nlines);
        last = e->line;

        /* expr */
        CHECK(e->expr != NULL && e->expr[0] != '\0');
        size_t xl = strlen(e->expr);
        CHECK(!is_blank(e->expr[0]) && !is_blank(e->expr[xl - 1]));
        CHECK(strchr(e->expr, '\n') == NULL && strstr(e->expr, "  ") == NULL);
        size_t spaces = 0;
        for (size_t k = 0; k < xl; k++) {
            CHECK(e->expr[k] != '\t');
            spaces += e->expr[k] == ' ';
        }
        if (e->expr[0] == '@')
            CHECK(spaces == 0 || (spaces == 1 && strncasecmp(e->expr, "@every ", 7) == 0));
        else
            CHECK(spaces == 4);

        /* the entry's line starts with the first word of expr */
        size_t ll;
        const char *l = line_at(s, size, e->line, &ll);
        while (ll > 0 && is_blank(*l))
            l++, ll--;
        size_t w = strcspn(e->expr, " ");
        CHECK(ll >= w && memcmp(l, e->expr, w) == 0);

        CHECK(e->command != NULL && e->command[0] != '\0');
        CHECK(!is_blank(e->command[0]) && e->command[0] != '*');
        CHECK(strchr(e->command, '\n') == NULL);
        if (e->input != NULL) {
            size_t il = strlen(e->input);
            CHECK(il == 0 || e->input[il - 1] == '\n');
        }

        if (e->name != NULL) {
            CHECK(valid_name(e->name));
            for (size_t j = 0; j < i; j++)
                CHECK(tab->entries[j].name == NULL || strcmp(tab->entries[j].name, e->name) != 0);
        }
        CHECK(e->tz == NULL || e->tz[0] != '\0');

        CHECK((e->nenv == 0) == (e->env == NULL));
        for (size_t j = 0; j < e->nenv; j++) {
            const char *eq = strchr(e->env[j], '=');
            CHECK(eq != NULL && eq > e->env[j]);
            size_t nl = (size_t)(eq - e->env[j]);
            CHECK(!(nl == 7 && memcmp(e->env[j], "CRON_TZ", 7) == 0));
            CHECK(!(nl == 2 && memcmp(e->env[j], "TZ", 2) == 0));
            for (size_t k = 0; k < j; k++)
                CHECK(strncmp(e->env[k], e->env[j], nl + 1) != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int nlines = 0;
    for (size_t i = 0; i < size; i++)
        nlines += s[i] == '\n';
    if (size > 0 && s[size - 1] != '\n') nlines++;

    static result_t res, other;
    parse(s, size, &res);
    CHECK(res.r == 0 || res.r == SYNQ_EINVAL);

    /* the same answer with a cut message buffer and with none */
    char small[9];
    for (size_t n = 0; n <= sizeof small && res.r != 0; n += 3) {
        synq_crontab_t tab;
        memset(small, 'Z', sizeof small);
        CHECK(synq_crontab_parse(s, size, &tab, n ? small : NULL, n) == res.r);
        CHECK(tab.entries == NULL && tab.n == 0);
        if (n) {
            CHECK(memchr(small, '\0', n) != NULL);
            CHECK(strncmp(small, res.err, n - 1) == 0);
            CHECK(n == sizeof small || small[n] == 'Z');
        }
    }

    if (res.r != 0) {
        CHECK(res.tab.entries == NULL && res.tab.n == 0);
        int line = 0;
        if (strncmp(res.err, "crontab is larger than", 22) == 0) {
            CHECK(size > 4 * 1024 * 1024);
        } else {
            CHECK(sscanf(res.err, "line %d: ", &line) == 1 && line >= 1 && line <= nlines);
            CHECK(strstr(res.err, ": ") != NULL && strlen(res.err) > strlen("line 1: "));
            /* the lines before it parse; line N without its newline fails alike */
            parse(s, line > 1 ? after_line(s, size, line - 1) : 0, &other);
            CHECK(other.r == 0);
            release(&other);
            size_t ll;
            const char *l = line_at(s, size, line, &ll);
            parse(s, (size_t)(l - s) + ll, &other);
            CHECK(other.r == res.r && strcmp(other.err, res.err) == 0);
            release(&other);
        }
    } else {
        CHECK(res.err[0] == '\0');
        check_entries(s, size, nlines, &res.tab);
        /* cut after the first, middle and last complete line */
        int cuts[3] = {1, nlines / 2, nlines - 1};
        for (int c = 0; c < 3; c++) {
            if (cuts[c] < 1 || cuts[c] >= nlines) continue;
            parse(s, after_line(s, size, cuts[c]), &other);
            CHECK(other.r == 0);
            size_t want = 0;
            while (want < res.tab.n && res.tab.entries[want].line <= cuts[c])
                want++;
            CHECK(other.tab.n == want);
            for (size_t i = 0; i < want; i++)
                CHECK(same_entry(&other.tab.entries[i], &res.tab.entries[i]));
            release(&other);
        }
    }

    /* CRLF line ends and a final newline change nothing */
    if (size <= 64 * 1024 && memchr(s, '\r', size) == NULL) {
        char *crlf = malloc(2 * size + 2);
        if (crlf == NULL) abort();
        size_t n = 0;
        for (size_t i = 0; i < size; i++) {
            if (s[i] == '\n') crlf[n++] = '\r';
            crlf[n++] = s[i];
        }
        parse(crlf, n, &other);
        CHECK(same_result(&res, &other));
        release(&other);
        if (size == 0 || s[size - 1] != '\n') {
            crlf[n++] = '\r';
            crlf[n++] = '\n';
            parse(crlf, n, &other);
            CHECK(same_result(&res, &other));
            release(&other);
        }
        free(crlf);
    }
    if (size > 0 && s[size - 1] != '\n' && size <= 64 * 1024) {
        char *nl = malloc(size + 1);
        if (nl == NULL) abort();
        memcpy(nl, s, size);
        nl[size] = '\n';
        parse(nl, size + 1, &other);
        CHECK(same_result(&res, &other));
        release(&other);
        free(nl);
    }

    release(&res);
    return 0;
}
