/* Crontab files (cronie's crontab(5)) parsed into entries. Pure: bytes in,
 * entries or "line N: problem" out; no I/O, no logging, no global state. It
 * splits the time expression off the command but does not validate it (the
 * cron module does), so names, ranges and `~` in the five fields pass
 * through verbatim.
 *
 * A line is, in this order (cronie's load_user: skip_comments, load_env,
 * load_entry): blank; a comment (first non-blank is '#'); an environment
 * line if it parses as one (env.c load_env, see parse_env); otherwise an
 * entry, and an entry that does not parse is an error naming the line.
 * Lines end at '\n'; one '\r' before it (CRLF files) or at the very end is
 * dropped; a last line without '\n' is accepted (cronie calls that "rude"
 * and refuses the entry; we do not). Blanks are ' ' and '\t' as in cronie's
 * Skip_Blanks; environment lines use isspace() in the C locale, as load_env.
 *
 * Decisions where cronie has no rule or we differ on purpose:
 * - `# synq: name=NAME` (blanks allowed around '#', ':' and '=') names the
 *   next entry. Other comments between it and the entry are fine; a blank
 *   line drops it (a blank line separates it from what follows, and at the
 *   end of the file it has nothing to name); an environment line or a
 *   second name directive before the entry is an error, as the name would
 *   otherwise be lost silently. A name used by an earlier entry is an error
 *   on the directive's line. Any other `# synq: KEY=...` is an error;
 *   `# synq` without ':' is an ordinary comment.
 * - Macros are matched case-insensitively (cronie: exact lowercase) to
 *   agree with the cron module; expr keeps them as written.
 * - cronie's `-` prefix (don't log) is rejected; so is an empty name in an
 *   environment line and a quoted name containing blanks (cronie accepts
 *   both; here such a line is not an environment line and fails as an
 *   entry).
 * - CRON_TZ and TZ go to the entry's tz, never to its environment; an empty
 *   value goes back to the default zone (tz NULL).
 * - `cmd%` (nothing after the '%') gives input "" rather than NULL: there
 *   was a '%', and an empty standard input is what cronie supplies too.
 * - cronie ends the input with a newline unless the last character it
 *   wrote was one, not counting the backslash it writes for a trailing lone
 *   '\' ("x%\" gives "x\n\\"); we add it whenever the input does not end
 *   in '\n' ("x\n\\\n").
 *
 * Each entry owns a copy of the environment in force; so that a 4 MiB file
 * cannot make ~10,000 copies of a huge environment, the copies together
 * are limited to MAX_ENV_COPY_BYTES (an error on the entry that would pass
 * it). The file-size error has no line: "crontab is larger than ...". */
#include "core/crontab.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/map.h"

#define MAX_LINE_BYTES (64 * 1024) /* without the "\n" or "\r\n" */
#define MAX_FILE_BYTES (4 * 1024 * 1024)
#define MAX_ENTRIES 10000
#define MAX_NAME_BYTES 128
#define MAX_ENV_COPY_BYTES ((size_t)32 * 1024 * 1024)

/* A variable in force: str is "NAME=value", name is NAME alone (the key in
 * parser_t.var_index, so it stays put when the value is replaced). */
typedef struct {
    char *name;
    char *str;
} var_t;

typedef struct {
    synq_crontab_t tab;
    size_t cap;
    var_t *vars;
    size_t nvars, vars_cap;
    synq_map_t var_index; /* name -> index + 1 into vars */
    size_t env_cost;      /* bytes one copy of the environment takes */
    size_t env_copied;    /* bytes all entries' copies take */
    char *tz;             /* CRON_TZ / TZ in force, or NULL */
    char *pending_name;   /* from a name directive, for the next entry */
    int pending_line;
    synq_map_t names; /* entry name -> line, for duplicates */
    int line;
    char *err;
    size_t errlen;
} parser_t;

typedef struct {
    const char *p;
    size_t n;
} span_t;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* isspace() in the C locale, without depending on the locale. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Writes "line N: " and the message to err; returns SYNQ_EINVAL. */
static int fail(parser_t *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser_t *ps, const char *fmt, ...)
{
    if (ps->err != NULL && ps->errlen > 0) {
        int n = snprintf(ps->err, ps->errlen, "line %d: ", ps->line);
        if (n >= 0 && (size_t)n < ps->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return SYNQ_EINVAL;
}

static bool span_eq(span_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static void entry_free(synq_crontab_entry_t *e)
{
    free(e->name);
    free(e->expr);
    free(e->command);
    free(e->input);
    free(e->tz);
    for (size_t i = 0; i < e->nenv; i++)
        free(e->env[i]);
    free(e->env);
    memset(e, 0, sizeof *e);
}

void synq_crontab_release(synq_crontab_t *tab)
{
    for (size_t i = 0; i < tab->n; i++)
        entry_free(&tab->entries[i]);
    free(tab->entries);
    tab->entries = NULL;
    tab->n = 0;
}

static void parser_release(parser_t *ps)
{
    synq_crontab_release(&ps->tab);
    for (size_t i = 0; i < ps->nvars; i++) {
        free(ps->vars[i].name);
        free(ps->vars[i].str);
    }
    free(ps->vars);
    synq_map_release(&ps->var_index);
    synq_map_release(&ps->names);
    free(ps->tz);
    free(ps->pending_name);
}

/* ---- environment lines ---- */

/* cronie's load_env state machine on one line (leading blanks removed):
 * NAME, optional spaces, '=', optional spaces, VALUE. NAME or VALUE may be
 * in matching '...' or "..." (quotes removed); a quoted value may be
 * followed only by spaces; an unquoted value runs to the end of the line
 * with trailing spaces removed and may contain spaces, quotes and '='; an
 * empty value is allowed (`FOO=`, newer cronie). A quoted name may not
 * contain '=' (cronie) nor spaces (ours). Returns false when the line is not
 * an environment line. */
static bool parse_env(const char *s, size_t n, span_t *name, span_t *value)
{
    size_t i = 0;
    if (s[0] == '"' || s[0] == '\'') {
        char q = s[0];
        size_t start = ++i;
        while (i < n && s[i] != q) {
            if (s[i] == '=' || is_space(s[i])) return false;
            i++;
        }
        if (i == n) return false; /* unterminated */
        *name = (span_t){s + start, i - start};
        i++;
    } else {
        while (i < n && !is_space(s[i]) && s[i] != '=')
            i++;
        *name = (span_t){s, i};
    }
    if (name->n == 0) return false;
    while (i < n && is_space(s[i]))
        i++;
    if (i == n || s[i] != '=') return false;
    i++;
    while (i < n && is_space(s[i]))
        i++;
    if (i < n && (s[i] == '"' || s[i] == '\'')) {
        char q = s[i];
        size_t start = ++i;
        while (i < n && s[i] != q)
            i++;
        if (i == n) return false; /* unterminated */
        *value = (span_t){s + start, i - start};
        for (i++; i < n; i++)
            if (!is_space(s[i])) return false;
    } else {
        size_t end = n;
        while (end > i && is_space(s[end - 1]))
            end--;
        *value = (span_t){s + i, end - i};
    }
    return true;
}

static void set_var(parser_t *ps, span_t name, span_t value)
{
    if (span_eq(name, "CRON_TZ") || span_eq(name, "TZ")) {
        free(ps->tz);
        ps->tz = value.n ? synq_strndup(value.p, value.n) : NULL;
        return;
    }
    char *str = synq_malloc(name.n + value.n + 2);
    memcpy(str, name.p, name.n);
    str[name.n] = '=';
    memcpy(str + name.n + 1, value.p, value.n);
    str[name.n + 1 + value.n] = '\0';
    size_t cost = name.n + value.n + 2 + sizeof(char *);

    char *key = synq_strndup(name.p, name.n);
    uintptr_t idx = (uintptr_t)synq_map_get(&ps->var_index, key);
    if (idx != 0) { /* replace in place, keeping the order of first assignment */
        var_t *v = &ps->vars[idx - 1];
        ps->env_cost -= strlen(v->str) + 1 + sizeof(char *);
        free(v->str);
        v->str = str;
        free(key);
    } else {
        if (ps->nvars == ps->vars_cap) {
            ps->vars_cap = ps->vars_cap ? ps->vars_cap * 2 : 16;
            ps->vars = synq_realloc(ps->vars, ps->vars_cap * sizeof *ps->vars);
        }
        ps->vars[ps->nvars] = (var_t){key, str};
        ps->nvars++;
        synq_map_put(&ps->var_index, key, (void *)(uintptr_t)ps->nvars);
    }
    ps->env_cost += cost;
}

/* ---- comments and the name directive ---- */

static bool valid_name(span_t v)
{
    if (v.n == 0 || v.n > MAX_NAME_BYTES) return false;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

/* s[0] is '#'. Ordinary comments are ignored; `# synq: name=NAME` sets
 * the pending name. */
static int parse_comment(parser_t *ps, const char *s, size_t n)
{
    size_t i = 1;
    while (i < n && is_blank(s[i]))
        i++;
    if (n - i < 4 || memcmp(s + i, "synq", 4) != 0) return 0;
    i += 4;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] != ':') return 0; /* "# synq is ..." is just a comment */
    i++;
    while (i < n && is_blank(s[i]))
        i++;
    size_t k = i;
    while (i < n && !is_blank(s[i]) && s[i] != '=')
        i++;
    span_t key = {s + k, i - k};
    while (i < n && is_blank(s[i]))
        i++;
    if (key.n == 0 || i == n || s[i] != '=')
        return fail(ps, "a synq directive is \"# synq: name=NAME\"");
    if (!span_eq(key, "name"))
        return fail(ps, "unknown synq directive \"%.*s\" (only name=NAME)",
                    (int)SYNQ_MIN(key.n, 32), key.p);
    i++;
    while (i < n && is_blank(s[i]))
        i++;
    size_t end = n;
    while (end > i && is_blank(s[end - 1]))
        end--;
    span_t v = {s + i, end - i};
    if (!valid_name(v))
        return fail(ps, "invalid name \"%.*s\": 1 to %d letters, digits and -_.:",
                    (int)SYNQ_MIN(v.n, 64), v.p, MAX_NAME_BYTES);
    if (ps->pending_name != NULL)
        return fail(ps, "second name directive before an entry (the first is on line %d)",
                    ps->pending_line);
    ps->pending_name = synq_strndup(v.p, v.n);
    ps->pending_line = ps->line;
    uintptr_t first = (uintptr_t)synq_map_get(&ps->names, ps->pending_name);
    if (first != 0)
        return fail(ps, "duplicate name \"%s\" (entry on line %d)", ps->pending_name, (int)first);
    return 0;
}

/* ---- entries ---- */

static const char *const macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                     "@daily",  "@midnight", "@hourly",  "@reboot"};

/* Next blank-delimited token at *i (blanks before it skipped), or n == 0. */
static span_t next_token(const char *s, size_t n, size_t *i)
{
    while (*i < n && is_blank(s[*i]))
        (*i)++;
    size_t start = *i;
    while (*i < n && !is_blank(s[*i]))
        (*i)++;
    return (span_t){s + start, *i - start};
}

/* The command text s[0..n) becomes command and input (cronie
 * do_command.c). In the command a backslash pairs with the next character:
 * "\%" is '%' and "\x" stays "\x" (so in "\\%" the '%' is unescaped); the
 * first unescaped '%' ends it. In the input "\%" is '%', every other
 * backslash is kept, '%' is a newline, and a newline is added at the end if
 * missing. */
static void split_command(const char *s, size_t n, char **command, char **input)
{
    char *c = synq_malloc(n + 1);
    size_t ci = 0, i = 0;
    bool split = false;
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n) {
            if (s[i + 1] != '%') c[ci++] = '\\';
            c[ci++] = s[i + 1];
            i += 2;
        } else if (s[i] == '%') {
            split = true;
            i++;
            break;
        } else {
            c[ci++] = s[i++];
        }
    }
    c[ci] = '\0';
    *command = c;
    *input = NULL;
    if (!split) return;
    char *in = synq_malloc(n - i + 2);
    size_t ii = 0;
    while (i < n) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] == '%') {
            in[ii++] = '%';
            i += 2;
        } else {
            in[ii++] = s[i] == '%' ? '\n' : s[i];
            i++;
        }
    }
    if (ii > 0 && in[ii - 1] != '\n') in[ii++] = '\n';
    in[ii] = '\0';
    *input = in;
}

static int parse_entry(parser_t *ps, const char *s, size_t n)
{
    synq_crontab_entry_t e = {.line = ps->line};
    int r = 0;
    size_t i = 0;
    if (s[0] == '-') {
        r = fail(ps, "the '-' prefix (do not log) is not supported");
        goto cleanup;
    }
    if (s[0] == '@') {
        span_t m = next_token(s, n, &i);
        if (m.n == 6 && strncasecmp(m.p, "@every", 6) == 0) {
            span_t d = next_token(s, n, &i);
            if (d.n == 0) {
                r = fail(ps, "@every needs a duration (e.g. @every 5m command)");
                goto cleanup;
            }
            e.expr = synq_malloc(m.n + d.n + 2);
            memcpy(e.expr, m.p, m.n);
            e.expr[m.n] = ' ';
            memcpy(e.expr + m.n + 1, d.p, d.n);
            e.expr[m.n + 1 + d.n] = '\0';
        } else {
            for (size_t k = 0; k < SYNQ_ARRAY_LEN(macros) && e.expr == NULL; k++)
                if (m.n == strlen(macros[k]) && strncasecmp(m.p, macros[k], m.n) == 0)
                    e.expr = synq_strndup(m.p, m.n);
            if (e.expr == NULL) {
                r = fail(ps, "unknown macro \"%.*s\"", (int)SYNQ_MIN(m.n, 32), m.p);
                goto cleanup;
            }
        }
    } else {
        span_t f[5];
        size_t total = 4;
        for (int k = 0; k < 5; k++) {
            f[k] = next_token(s, n, &i);
            if (f[k].n == 0) {
                r = fail(ps, "%d time field%s, expected 5 and a command", k, k == 1 ? "" : "s");
                goto cleanup;
            }
            total += f[k].n;
        }
        e.expr = synq_malloc(total + 1);
        size_t o = 0;
        for (int k = 0; k < 5; k++) {
            if (k) e.expr[o++] = ' ';
            memcpy(e.expr + o, f[k].p, f[k].n);
            o += f[k].n;
        }
        e.expr[o] = '\0';
    }
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n) {
        r = fail(ps, "missing command");
        goto cleanup;
    }
    if (s[i] == '*') { /* cronie's check for a common typo: a sixth time field */
        r = fail(ps, "command starts with '*' (too many time fields?)");
        goto cleanup;
    }
    split_command(s + i, n - i, &e.command, &e.input);
    if (e.command[0] == '\0') {
        r = fail(ps, "missing command");
        goto cleanup;
    }
    if (ps->tab.n == MAX_ENTRIES) {
        r = fail(ps, "more than %d entries", MAX_ENTRIES);
        goto cleanup;
    }
    if (ps->env_copied + ps->env_cost > MAX_ENV_COPY_BYTES) {
        r = fail(ps, "the environment copied to every entry exceeds %zu MiB in all",
                 MAX_ENV_COPY_BYTES >> 20);
        goto cleanup;
    }
    e.name = ps->pending_name; /* unique: checked on the directive's line */
    ps->pending_name = NULL;
    e.tz = ps->tz ? synq_strdup(ps->tz) : NULL;
    if (ps->nvars > 0) {
        e.env = synq_malloc(ps->nvars * sizeof *e.env);
        for (size_t k = 0; k < ps->nvars; k++)
            e.env[k] = synq_strdup(ps->vars[k].str);
        e.nenv = ps->nvars;
    }
    ps->env_copied += ps->env_cost;

    if (ps->tab.n == ps->cap) {
        ps->cap = ps->cap ? SYNQ_MIN(ps->cap * 2, MAX_ENTRIES) : 16;
        ps->tab.entries = synq_realloc(ps->tab.entries, ps->cap * sizeof *ps->tab.entries);
    }
    ps->tab.entries[ps->tab.n++] = e;
    /* the key is the entry's own name string, which does not move */
    if (e.name != NULL) synq_map_put(&ps->names, e.name, (void *)(uintptr_t)e.line);
    return 0;

cleanup:
    entry_free(&e);
    return r;
}

static int parse_line(parser_t *ps, const char *s, size_t n)
{
    if (n > MAX_LINE_BYTES) return fail(ps, "longer than %d bytes", MAX_LINE_BYTES);
    if (memchr(s, '\0', n) != NULL) return fail(ps, "NUL byte");
    size_t i = 0;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n) { /* a blank line drops a pending name directive */
        free(ps->pending_name);
        ps->pending_name = NULL;
        return 0;
    }
    if (s[i] == '#') return parse_comment(ps, s + i, n - i);
    span_t name, value;
    if (parse_env(s + i, n - i, &name, &value)) {
        if (ps->pending_name != NULL)
            return fail(ps, "the name directive on line %d must be directly above an entry",
                        ps->pending_line);
        set_var(ps, name, value);
        return 0;
    }
    return parse_entry(ps, s + i, n - i);
}

int synq_crontab_parse(const char *text, size_t len, synq_crontab_t *out, char *err, size_t errlen)
{
    parser_t ps;
    memset(&ps, 0, sizeof ps);
    synq_map_init(&ps.var_index);
    synq_map_init(&ps.names);
    ps.err = err;
    ps.errlen = errlen;
    out->entries = NULL;
    out->n = 0;
    if (err != NULL && errlen > 0) err[0] = '\0';
    int r = 0;
    if (len > MAX_FILE_BYTES) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "crontab is larger than %d bytes", MAX_FILE_BYTES);
        r = SYNQ_EINVAL;
        goto cleanup;
    }
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r') n--;
        ps.line++;
        r = parse_line(&ps, text + pos, n);
        if (r != 0) goto cleanup;
        pos = nl ? end + 1 : len;
    }
    /* a name directive on the last lines has no entry to name: dropped */
    *out = ps.tab;
    ps.tab.entries = NULL;
    ps.tab.n = 0;

cleanup:
    parser_release(&ps);
    return r;
}
