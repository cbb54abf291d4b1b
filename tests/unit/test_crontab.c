/* Unit tests for core/crontab: comments, environment lines in cronie's
 * forms, CRON_TZ/TZ, macros, @every, five-field entries, the '%' rules, the
 * name directive, errors that name their line, line endings and limits.
 * Every input is parsed from an exact-size heap copy (no NUL after it) so a
 * read past `len` shows up under ASan, and every prefix of a sample file is
 * parsed to show that no cut crashes or leaks. */
#include "core/crontab.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Parses text[0..len) from an exact-size copy. */
static int parse_n(const char *text, size_t len, synq_crontab_t *out, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    int r = synq_crontab_parse(copy, len, out, err, errlen);
    free(copy);
    return r;
}

static synq_crontab_t parse_ok(const char *text)
{
    synq_crontab_t tab;
    char err[256] = "";
    int r = parse_n(text, strlen(text), &tab, err, sizeof err);
    if (r != 0) fail_msg("unexpected error for \"%s\": %s", text, err);
    return tab;
}

/* Expects text to fail with exactly want. */
static void parse_err_n(const char *text, size_t len, const char *want)
{
    synq_crontab_t tab = {.entries = (void *)1, .n = 99};
    char err[256] = "";
    int r = parse_n(text, len, &tab, err, sizeof err);
    if (r == 0) fail_msg("expected \"%s\", parsed %zu entries", want, tab.n);
    assert_int_equal(r, SYNQ_EINVAL);
    assert_string_equal(err, want);
    assert_null(tab.entries);
    assert_int_equal(tab.n, 0);
}

static void parse_err(const char *text, const char *want)
{
    parse_err_n(text, strlen(text), want);
}

/* The one entry of text. */
static void one(const char *text, const char *expr, const char *command, const char *input)
{
    synq_crontab_t tab = parse_ok(text);
    assert_int_equal(tab.n, 1);
    assert_string_equal(tab.entries[0].expr, expr);
    assert_string_equal(tab.entries[0].command, command);
    if (input == NULL)
        assert_null(tab.entries[0].input);
    else
        assert_string_equal(tab.entries[0].input, input);
    synq_crontab_release(&tab);
}

/* The environment of e joined with '|' ("" when empty). */
static const char *env_of(const synq_crontab_entry_t *e)
{
    static char buf[1024];
    buf[0] = '\0';
    if (e->nenv == 0) assert_null(e->env);
    for (size_t i = 0; i < e->nenv; i++) {
        if (i) strcat(buf, "|");
        assert_true(strlen(buf) + strlen(e->env[i]) < sizeof buf);
        strcat(buf, e->env[i]);
    }
    return buf;
}

/* The environment of the single entry after the lines in env. */
static void env1(const char *env, const char *want)
{
    char text[512];
    snprintf(text, sizeof text, "%s\n@daily true\n", env);
    synq_crontab_t tab = parse_ok(text);
    assert_int_equal(tab.n, 1);
    assert_string_equal(env_of(&tab.entries[0]), want);
    synq_crontab_release(&tab);
}

static void test_empty_comments_blanks(void **state)
{
    static const char *const texts[] = {
        "",
        "\n",
        "\n\n\n",
        "  \t \n\t\n",
        "# only a comment",
        "#\n",
        "  # indented\n\t#tab\n",
        "\r\n",
        "# c\r\n\r\n",
    };
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(texts); i++) {
        synq_crontab_t tab = parse_ok(texts[i]);
        assert_int_equal(tab.n, 0);
        assert_null(tab.entries);
        synq_crontab_release(&tab);
    }
    /* line numbers count comments and blanks; '#' later in a line is the command's */
    synq_crontab_t tab = parse_ok("# header\n\n   # x\n0 * * * * echo a # not a comment\n"
                                  "\t\n  @hourly  b\n");
    assert_int_equal(tab.n, 2);
    assert_int_equal(tab.entries[0].line, 4);
    assert_string_equal(tab.entries[0].command, "echo a # not a comment");
    assert_int_equal(tab.entries[1].line, 6);
    assert_string_equal(tab.entries[1].expr, "@hourly");
    assert_string_equal(tab.entries[1].command, "b");
    for (size_t i = 0; i < tab.n; i++) {
        assert_null(tab.entries[i].name);
        assert_null(tab.entries[i].input);
        assert_null(tab.entries[i].tz);
        assert_int_equal(tab.entries[i].nenv, 0);
        assert_null(tab.entries[i].env);
    }
    synq_crontab_release(&tab);
    synq_crontab_release(&tab); /* releasing twice is harmless */
}

/* Fields are copied verbatim (names, ranges, steps, cronie's '~') and joined
 * by single spaces; the command is the rest of the line, leading blanks
 * removed, trailing blanks kept. */
static void test_five_fields(void **state)
{
    one("0 2 * * * /usr/local/bin/backup --full\n", "0 2 * * *", "/usr/local/bin/backup --full",
        NULL);
    one("*/15 9-17 1,15 jan-mar mon-fri cmd", "*/15 9-17 1,15 jan-mar mon-fri", "cmd", NULL);
    one("0\t2   *\t \t*  SUN-sat   \t run  it  ", "0 2 * * SUN-sat", "run  it  ", NULL);
    one("   5 4 * * *\tx", "5 4 * * *", "x", NULL);
    one("0~30 * * * * r", "0~30 * * * *", "r", NULL);
    one("61 25 32 13 8 bad-but-not-ours", "61 25 32 13 8", "bad-but-not-ours", NULL);
    one("0 0 L * 5#3 q", "0 0 L * 5#3", "q", NULL);
    one("1 2 3 4 5 6", "1 2 3 4 5", "6", NULL); /* a sixth number is the command */
}

static void test_too_few_fields(void **state)
{
    parse_err("0 * * *\n", "line 1: 4 time fields, expected 5 and a command");
    parse_err("# c\n\n0\n", "line 3: 1 time field, expected 5 and a command");
    parse_err("0 1\t2  3", "line 1: 4 time fields, expected 5 and a command");
    parse_err("FOO\n", "line 1: 1 time field, expected 5 and a command");
    parse_err("@daily x\n\"MY VAR\"=x\n", "line 2: 2 time fields, expected 5 and a command");
}

static void test_missing_command(void **state)
{
    parse_err("0 * * * *\n", "line 1: missing command");
    parse_err("@daily true\n0 * * * *   \t\n", "line 2: missing command");
    parse_err("@daily", "line 1: missing command");
    parse_err("@reboot  \r\n", "line 1: missing command");
    parse_err("@every 5m\n", "line 1: missing command");
    parse_err("0 * * * * %only input\n", "line 1: missing command");
    parse_err("@hourly %", "line 1: missing command");
}

/* cronie rejects a command starting with '*' (six time fields by mistake),
 * and its '-' (do not log) prefix is not supported. */
static void test_rejected_forms(void **state)
{
    parse_err("* * * * * * /bin/true\n", "line 1: command starts with '*' (too many time fields?)");
    parse_err("@daily *x\n", "line 1: command starts with '*' (too many time fields?)");
    parse_err("-0 * * * * quiet\n", "line 1: the '-' prefix (do not log) is not supported");
    parse_err("-@daily quiet\n", "line 1: the '-' prefix (do not log) is not supported");
    one("0 * * * * x * y", "0 * * * *", "x * y", NULL);
}

static void test_macros(void **state)
{
    static const char *const macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                         "@daily",  "@midnight", "@hourly",  "@reboot"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(macros); i++) {
        char text[64];
        snprintf(text, sizeof text, "%s /bin/job  arg\n", macros[i]);
        one(text, macros[i], "/bin/job  arg", NULL);
        snprintf(text, sizeof text, "  %s\t\tx", macros[i]);
        one(text, macros[i], "x", NULL);
    }
    /* matched case-insensitively like the cron module, kept as written */
    one("@Daily x\n", "@Daily", "x", NULL);
    one("@REBOOT x\n", "@REBOOT", "x", NULL);
    parse_err("@fortnightly x\n", "line 1: unknown macro \"@fortnightly\"");
    parse_err("@ x\n", "line 1: unknown macro \"@\"");
    parse_err("@dailyx y\n", "line 1: unknown macro \"@dailyx\"");
    parse_err("@daily,x y\n", "line 1: unknown macro \"@daily,x\"");
}

/* The duration is not validated here (the cron module does). */
static void test_every(void **state)
{
    one("@every 5m /bin/poll\n", "@every 5m", "/bin/poll", NULL);
    one("@every\t 1h30m \t cmd  x ", "@every 1h30m", "cmd  x ", NULL);
    one("@EVERY 10s x", "@EVERY 10s", "x", NULL);
    one("@every nonsense x", "@every nonsense", "x", NULL);
    one("@every 1m cat%in", "@every 1m", "cat", "in\n");
    parse_err("@every\n", "line 1: @every needs a duration (e.g. @every 5m command)");
    parse_err("@every   \n", "line 1: @every needs a duration (e.g. @every 5m command)");
    parse_err("@every 5m  \n", "line 1: missing command");
}

/* cronie's load_env forms. */
static void test_env_forms(void **state)
{
    env1("FOO=bar", "FOO=bar");
    env1("FOO = bar", "FOO=bar");
    env1("FOO\t=\tbar\t", "FOO=bar");
    env1("  \tFOO=bar", "FOO=bar");
    env1("FOO = bar baz  ", "FOO=bar baz");
    env1("FOO=  spaced  out  ", "FOO=spaced  out");
    env1("FOO='a b'", "FOO=a b");
    env1("FOO=\" x y \"  ", "FOO= x y ");
    env1("FOO=\"it's\"", "FOO=it's");
    env1("FOO='say \"hi\"'", "FOO=say \"hi\"");
    env1("FOO=a\"b", "FOO=a\"b");
    env1("FOO=", "FOO=");
    env1("FOO =   ", "FOO=");
    env1("FOO=\"\"", "FOO=");
    env1("FOO=''", "FOO=");
    env1("FOO=a=b", "FOO=a=b");
    env1("FOO==", "FOO==");
    env1("FOO=#not a comment", "FOO=#not a comment");
    env1("FOO=a%b\\c", "FOO=a%b\\c");
    env1("\"FOO\"=bar", "FOO=bar");
    env1("'FOO' = 'bar'", "FOO=bar");
    env1("PATH=/usr/local/bin:/usr/bin:/bin", "PATH=/usr/local/bin:/usr/bin:/bin");
    env1("MAILTO=\"\"\nSHELL=/bin/bash", "MAILTO=|SHELL=/bin/bash");
    env1("@daily=x", "@daily=x"); /* as in cronie: any name without blanks or '=' */
}

/* Lines that do not parse as environment lines are entries (and fail as such). */
static void test_env_not_env(void **state)
{
    parse_err("FOO=\"unterminated\n@daily x\n", "line 1: 1 time field, expected 5 and a command");
    parse_err("FOO=\"a\" b\n", "line 1: 2 time fields, expected 5 and a command");
    parse_err("FOO='a'b\n", "line 1: 1 time field, expected 5 and a command");
    parse_err("\"MY VAR\"=x\n", "line 1: 2 time fields, expected 5 and a command");
    parse_err("\"A=B\"=x\n", "line 1: 1 time field, expected 5 and a command");
    parse_err("\"\"=x\n", "line 1: 1 time field, expected 5 and a command");
    parse_err("=x\n", "line 1: 1 time field, expected 5 and a command");
    parse_err(" = x\n", "line 1: 2 time fields, expected 5 and a command");
    parse_err("FOO BAR=x\n", "line 1: 2 time fields, expected 5 and a command");
    parse_err("'FOO=x\n", "line 1: 1 time field, expected 5 and a command");
    /* a quote later in the value is an ordinary character */
    env1("FOO=x\"", "FOO=x\"");
}

/* A later assignment replaces the value in place; every entry has the
 * environment that was in force at its line. */
static void test_env_snapshots(void **state)
{
    synq_crontab_t tab = parse_ok("@daily e1\n"
                                  "A=1\n"
                                  "@daily e2\n"
                                  "B = two words\n"
                                  "@daily e3\n"
                                  "A='3'\n"
                                  "C=\n"
                                  "# comment\n"
                                  "\n"
                                  "@daily e4\n"
                                  "B=\n"
                                  "@daily e5\n");
    static const char *const want[] = {"", "A=1", "A=1|B=two words",
                                       "A=3|B=two words|C=", "A=3|B=|C="};
    assert_int_equal(tab.n, 5);
    for (size_t i = 0; i < tab.n; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "e%zu", i + 1);
        assert_string_equal(tab.entries[i].command, cmd);
        assert_string_equal(env_of(&tab.entries[i]), want[i]);
    }
    /* the copies are independent */
    assert_ptr_not_equal(tab.entries[3].env[0], tab.entries[4].env[0]);
    synq_crontab_release(&tab);
}

/* CRON_TZ and TZ set the zone of the entries below them, never their
 * environment; an empty value goes back to the default zone. */
static void test_tz(void **state)
{
    synq_crontab_t tab = parse_ok("@daily a\n"
                                  "CRON_TZ=Europe/Berlin\n"
                                  "@daily b\n"
                                  "X=1\n"
                                  "@daily c\n"
                                  "TZ = 'America/New_York'\n"
                                  "@daily d\n"
                                  "CRON_TZ=\n"
                                  "@daily e\n"
                                  "CRON_TZ=\"UTC\"\n"
                                  "@daily f\n");
    static const char *const want[] = {
        NULL, "Europe/Berlin", "Europe/Berlin", "America/New_York", NULL, "UTC"};
    assert_int_equal(tab.n, 6);
    for (size_t i = 0; i < tab.n; i++) {
        if (want[i] == NULL)
            assert_null(tab.entries[i].tz);
        else
            assert_string_equal(tab.entries[i].tz, want[i]);
        assert_string_equal(env_of(&tab.entries[i]), i < 2 ? "" : "X=1");
    }
    synq_crontab_release(&tab);
}

/* cronie do_command.c: the first unescaped '%' ends the command; after it
 * '%' is a newline, "\%" a '%', other backslashes stay, and a final newline
 * is added if missing. */
static void test_percent(void **state)
{
    one("0 * * * * mail -s hi root%line one%line two%\n", "0 * * * *", "mail -s hi root",
        "line one\nline two\n");
    one("0 * * * * mail -s hi root%line one%line two", "0 * * * *", "mail -s hi root",
        "line one\nline two\n");
    one("@daily cat%a%%b", "@daily", "cat", "a\n\nb\n");
    one("@daily cat%%", "@daily", "cat", "\n");
    one("@daily cmd%", "@daily", "cmd", "");
    one("@daily cmd %  x  ", "@daily", "cmd ", "  x  \n");
    one("5 0 * * * date +\\%Y-\\%m-\\%d > /tmp/d", "5 0 * * *", "date +%Y-%m-%d > /tmp/d", NULL);
    one("@daily echo 50\\% done%50\\% in", "@daily", "echo 50% done", "50% in\n");
    /* other backslashes are kept as they are */
    one("@daily echo a\\b\\\\c", "@daily", "echo a\\b\\\\c", NULL);
    one("@daily cat%a\\b\\%c\\", "@daily", "cat", "a\\b%c\\\n");
    /* in the command a backslash pairs with the next character: in "\\%"
     * the '%' is not escaped */
    one("@daily printf x\\\\%y", "@daily", "printf x\\\\", "y\n");
    one("@daily printf x\\\\\\%y", "@daily", "printf x\\\\%y", NULL);
    /* in the input only the backslash right before '%' goes */
    one("@daily cat%x\\\\%y", "@daily", "cat", "x\\%y\n");
    one("@daily cmd\\", "@daily", "cmd\\", NULL);
    one("@daily cmd\\%", "@daily", "cmd%", NULL);
    one("@daily cmd%\\", "@daily", "cmd", "\\\n");
    one("@daily cmd\r\n", "@daily", "cmd", NULL);
    one("@daily cmd%in%\r\n", "@daily", "cmd", "in\n");
}

static void test_name_directive(void **state)
{
    synq_crontab_t tab = parse_ok("# synq: name=backup\n"
                                  "0 2 * * * backup\n"
                                  "@daily unnamed\n"
                                  "#synq:name=a.b:c-d_e\n"
                                  "# an ordinary comment between\n"
                                  "   # and another\n"
                                  "@hourly two\n"
                                  "  #\t synq \t:  name \t=\t x1  \n"
                                  "@hourly three\n");
    assert_int_equal(tab.n, 4);
    assert_string_equal(tab.entries[0].name, "backup");
    assert_null(tab.entries[1].name);
    assert_string_equal(tab.entries[2].name, "a.b:c-d_e");
    assert_string_equal(tab.entries[3].name, "x1");
    synq_crontab_release(&tab);

    /* a blank line drops it, and so does the end of the file */
    tab =
        parse_ok("# synq: name=lost\n\n@daily x\n# synq: name=lost\n@daily y\n# synq: name=end\n");
    assert_int_equal(tab.n, 2);
    assert_null(tab.entries[0].name);
    assert_string_equal(tab.entries[1].name, "lost");
    synq_crontab_release(&tab);

    /* names of 1 and 128 bytes */
    char text[300];
    char name[129];
    memset(name, 'n', 128);
    name[128] = '\0';
    snprintf(text, sizeof text, "# synq: name=%s\n@daily x\n# synq: name=Z\n@daily y\n", name);
    tab = parse_ok(text);
    assert_string_equal(tab.entries[0].name, name);
    assert_string_equal(tab.entries[1].name, "Z");
    synq_crontab_release(&tab);

    /* "synq" without ':' or glued to more letters is an ordinary comment */
    tab = parse_ok("# synq is nice\n#synqx: name=x\n# SYNQ: name=x\n@daily x\n");
    assert_null(tab.entries[0].name);
    synq_crontab_release(&tab);
}

static void test_name_directive_errors(void **state)
{
    parse_err("# synq: name=\n@daily x\n",
              "line 1: invalid name \"\": 1 to 128 letters, digits and -_.:");
    parse_err("# synq: name=a b\n@daily x\n",
              "line 1: invalid name \"a b\": 1 to 128 letters, digits and -_.:");
    parse_err("@daily x\n# synq: name=a/b\n@daily x\n",
              "line 2: invalid name \"a/b\": 1 to 128 letters, digits and -_.:");
    parse_err("# synq: name=caf\xc3\xa9\n",
              "line 1: invalid name \"caf\xc3\xa9\": 1 to 128 letters, digits and -_.:");
    char text[300];
    memset(text, 0, sizeof text);
    strcpy(text, "# synq: name=");
    memset(text + strlen(text), 'n', 129);
    parse_err(text,
              "line 1: invalid name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
              "nnnn\": 1 to 128 letters, digits and -_.:");
    parse_err("# synq: nmae=x\n@daily x\n",
              "line 1: unknown synq directive \"nmae\" (only name=NAME)");
    parse_err("# synq: name\n", "line 1: a synq directive is \"# synq: name=NAME\"");
    parse_err("# synq:\n", "line 1: a synq directive is \"# synq: name=NAME\"");
    parse_err("# synq: =x\n", "line 1: a synq directive is \"# synq: name=NAME\"");
    parse_err("# synq: name=a\n# synq: name=b\n@daily x\n",
              "line 2: second name directive before an entry (the first is on line 1)");
    parse_err("# synq: name=a\nMAILTO=x\n@daily x\n",
              "line 2: the name directive on line 1 must be directly above an entry");
    parse_err("# synq: name=a\n@daily x\n\n# synq: name=b\n@daily y\n# synq: name=a\n@daily z\n",
              "line 6: duplicate name \"a\" (entry on line 2)");
    /* an error in the entry after a directive is the entry's */
    parse_err("# synq: name=a\n@bogus x\n", "line 2: unknown macro \"@bogus\"");
    /* a dropped name may be used again */
    synq_crontab_t tab = parse_ok("# synq: name=a\n\n# synq: name=a\n@daily x\n");
    assert_string_equal(tab.entries[0].name, "a");
    synq_crontab_release(&tab);
}

static void test_nul_byte(void **state)
{
    parse_err_n("@daily a\0b\n", 11, "line 1: NUL byte");
    parse_err_n("@daily a\n# \0\n", 13, "line 2: NUL byte");
    parse_err_n("\n\n\0", 3, "line 3: NUL byte");
    parse_err_n("FOO=\0\n", 6, "line 1: NUL byte");
    parse_err_n("\0", 1, "line 1: NUL byte");
}

/* CRLF files parse like LF files; a '\r' elsewhere is part of the line. */
static void test_crlf(void **state)
{
    const char *lf = "A = 'x y'\nCRON_TZ=UTC\n# synq: name=n\n0 1 * * * cmd%in\n\n@daily b \n";
    const char *crlf =
        "A = 'x y'\r\nCRON_TZ=UTC\r\n# synq: name=n\r\n0 1 * * * cmd%in\r\n\r\n@daily b \r\n";
    synq_crontab_t a = parse_ok(lf), b = parse_ok(crlf);
    assert_int_equal(a.n, 2);
    assert_int_equal(b.n, 2);
    for (size_t i = 0; i < a.n; i++) {
        const synq_crontab_entry_t *x = &a.entries[i], *y = &b.entries[i];
        assert_int_equal(x->line, y->line);
        assert_string_equal(x->expr, y->expr);
        assert_string_equal(x->command, y->command);
        assert_string_equal(env_of(x), env_of(y));
        assert_string_equal(x->tz, y->tz);
    }
    assert_string_equal(b.entries[0].name, "n");
    assert_string_equal(b.entries[0].input, "in\n");
    assert_string_equal(b.entries[1].command, "b ");
    synq_crontab_release(&a);
    synq_crontab_release(&b);

    one("@daily a\rb\n", "@daily", "a\rb", NULL);
    one("@daily a\r", "@daily", "a", NULL);
    one("@daily a\r\r\n", "@daily", "a\r", NULL);
    one("\r\n\r\n@daily a", "@daily", "a", NULL);
}

static void test_no_trailing_newline(void **state)
{
    synq_crontab_t tab = parse_ok("A=1\n@daily a\nB=2");
    assert_int_equal(tab.n, 1);
    synq_crontab_release(&tab);
    tab = parse_ok("A=1\n0 * * * * last line");
    assert_int_equal(tab.n, 1);
    assert_int_equal(tab.entries[0].line, 2);
    assert_string_equal(tab.entries[0].command, "last line");
    assert_string_equal(env_of(&tab.entries[0]), "A=1");
    synq_crontab_release(&tab);
    parse_err("@daily a\n0 * * *", "line 2: 4 time fields, expected 5 and a command");
}

static char *repeat_lines(const char *line, size_t count, size_t *len)
{
    size_t n = strlen(line);
    char *s = malloc(n * count + 1);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * n, line, n);
    s[n * count] = '\0';
    *len = n * count;
    return s;
}

static void test_limits(void **state)
{
    synq_crontab_t tab;
    char err[256];

    /* a line of 64 KiB (without its "\n" or "\r\n") is fine, one byte more is not */
    enum { LINE = 64 * 1024 };
    char *s = malloc(LINE + 32);
    size_t prefix = strlen("@daily true\n");
    memcpy(s, "@daily true\n", prefix);
    memcpy(s + prefix, "@daily ", 7);
    memset(s + prefix + 7, 'x', LINE - 7);
    size_t len = prefix + LINE;
    assert_int_equal(parse_n(s, len, &tab, err, sizeof err), 0);
    assert_int_equal(tab.n, 2);
    assert_int_equal(strlen(tab.entries[1].command), LINE - 7);
    synq_crontab_release(&tab);
    memcpy(s + len, "\r\n", 2);
    assert_int_equal(parse_n(s, len + 2, &tab, err, sizeof err), 0);
    synq_crontab_release(&tab);
    s[len] = 'x';
    parse_err_n(s, len + 1, "line 2: longer than 65536 bytes");
    s[len + 1] = '\n';
    parse_err_n(s, len + 2, "line 2: longer than 65536 bytes");
    /* a long comment or env line is held to the same limit */
    memset(s, '#', LINE + 1);
    parse_err_n(s, LINE + 1, "line 1: longer than 65536 bytes");
    free(s);

    /* a file of 4 MiB is fine, one byte more is not */
    enum { FILE_MAX = 4 * 1024 * 1024 };
    s = malloc(FILE_MAX + 1);
    for (size_t i = 0; i < FILE_MAX; i += 1024) {
        memset(s + i, '#', 1023);
        s[i + 1023] = '\n';
    }
    assert_int_equal(parse_n(s, FILE_MAX, &tab, err, sizeof err), 0);
    assert_int_equal(tab.n, 0);
    s[FILE_MAX] = '\n';
    parse_err_n(s, FILE_MAX + 1, "crontab is larger than 4194304 bytes");
    free(s);

    /* 10,000 entries are fine, the 10,001st is not */
    s = repeat_lines("@daily x\n", 10001, &len);
    assert_int_equal(parse_n(s, len - 9, &tab, err, sizeof err), 0);
    assert_int_equal(tab.n, 10000);
    assert_int_equal(tab.entries[9999].line, 10000);
    synq_crontab_release(&tab);
    parse_err_n(s, len, "line 10001: more than 10000 entries");
    free(s);

    /* comments, blanks and env lines do not count as entries */
    s = repeat_lines("# c\nA=1\n\n@daily x\n", 10000, &len);
    assert_int_equal(parse_n(s, len, &tab, err, sizeof err), 0);
    assert_int_equal(tab.n, 10000);
    synq_crontab_release(&tab);
    free(s);

    /* the copies of a large environment are capped in all (32 MiB): a 60,000
     * byte variable may be copied to 559 entries but not 560 */
    size_t big = 60000;
    size_t entries = 600;
    s = malloc(big + 16 + entries * 9);
    memcpy(s, "A=", 2);
    memset(s + 2, 'v', big - 2);
    s[big] = '\n';
    len = big + 1;
    for (size_t i = 0; i < entries; i++, len += 9)
        memcpy(s + len, "@daily x\n", 9);
    size_t per = big + 1 + sizeof(char *);
    size_t fit = (size_t)32 * 1024 * 1024 / per;
    assert_int_equal(parse_n(s, big + 1 + fit * 9, &tab, err, sizeof err), 0);
    assert_int_equal(tab.n, fit);
    synq_crontab_release(&tab);
    char want[128];
    snprintf(want, sizeof want,
             "line %zu: the environment copied to every entry exceeds 32 MiB in all", fit + 2);
    parse_err_n(s, len, want);
    free(s);
}

/* On error *out is empty whatever it held, err may be NULL or tiny, and
 * the message is cut, not overrun. */
static void test_error_reporting(void **state)
{
    synq_crontab_t tab = {.entries = (void *)1, .n = 5};
    assert_int_equal(synq_crontab_parse("@nope x", 7, &tab, NULL, 0), SYNQ_EINVAL);
    assert_null(tab.entries);
    assert_int_equal(tab.n, 0);
    char err[8];
    memset(err, 'Z', sizeof err);
    assert_int_equal(synq_crontab_parse("@nope x", 7, &tab, err, 1), SYNQ_EINVAL);
    assert_int_equal(err[0], '\0');
    assert_int_equal(err[1], 'Z');
    assert_int_equal(synq_crontab_parse("@nope x", 7, &tab, err, sizeof err), SYNQ_EINVAL);
    assert_string_equal(err, "line 1:");
    assert_int_equal(synq_crontab_parse("@daily x\n@nope x", 16, &tab, err, 4), SYNQ_EINVAL);
    assert_string_equal(err, "lin");
    /* errors after entries were built free them (ASan checks the leak) */
    parse_err("A=1\n# synq: name=a\n@daily x\nB=2\n@daily y\n0 0 *\n",
              "line 6: 3 time fields, expected 5 and a command");
    /* success clears err */
    char msg[32] = "stale";
    assert_int_equal(synq_crontab_parse("", 0, &tab, msg, sizeof msg), 0);
    assert_string_equal(msg, "");
    /* long tokens are cut in messages */
    char text[200];
    snprintf(text, sizeof text, "@%0100d x", 0);
    parse_err(text, "line 1: unknown macro \"@0000000000000000000000000000000\"");
}

static const char sample[] =
    "# m h  dom mon dow   command\n"
    "SHELL=/bin/bash\n"
    "PATH = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "MAILTO=\"ops@example.com\"\n"
    "\n"
    "# synq: name=nightly-backup\n"
    "30 2 * * *   /usr/local/bin/backup --all >> /var/log/backup.log 2>&1\r\n"
    "*/5 * * * * /usr/bin/flock -n /tmp/poll.lock /opt/app/poll\n"
    "CRON_TZ=Europe/Berlin\n"
    "# synq: name=report\n"
    "# (weekdays at nine, Berlin time)\n"
    "0 9 * * mon-fri mail -s \"daily report\" team%Hello,%report attached.%\n"
    "@reboot /opt/app/start\n"
    "MAILTO=\n"
    "@every 90s curl -fsS http://localhost:8080/health\n"
    "0 0 1 * * find /tmp -mtime +\\%d -delete\n"
    "TZ='America/New_York'\n"
    "15 4 * jan,jul sun echo \"half year\"";

/* The realistic sample, entry by entry. */
static void test_sample(void **state)
{
    synq_crontab_t tab = parse_ok(sample);
    const char *env3 = "SHELL=/bin/bash|PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin|MAILTO=ops@example.com";
    const char *env4 = "SHELL=/bin/bash|PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin|MAILTO=";
    static const struct {
        int line;
        const char *name, *expr, *command, *input, *tz;
        int env;
    } want[] = {
        {7, "nightly-backup", "30 2 * * *",
         "/usr/local/bin/backup --all >> /var/log/backup.log 2>&1", NULL, NULL, 3},
        {8, NULL, "*/5 * * * *", "/usr/bin/flock -n /tmp/poll.lock /opt/app/poll", NULL, NULL, 3},
        {12, "report", "0 9 * * mon-fri", "mail -s \"daily report\" team",
         "Hello,\nreport attached.\n", "Europe/Berlin", 3},
        {13, NULL, "@reboot", "/opt/app/start", NULL, "Europe/Berlin", 3},
        {15, NULL, "@every 90s", "curl -fsS http://localhost:8080/health", NULL, "Europe/Berlin",
         4},
        {16, NULL, "0 0 1 * *", "find /tmp -mtime +%d -delete", NULL, "Europe/Berlin", 4},
        {18, NULL, "15 4 * jan,jul sun", "echo \"half year\"", NULL, "America/New_York", 4},
    };
    assert_int_equal(tab.n, SYNQ_ARRAY_LEN(want));
    for (size_t i = 0; i < tab.n; i++) {
        const synq_crontab_entry_t *e = &tab.entries[i];
        assert_int_equal(e->line, want[i].line);
        if (want[i].name)
            assert_string_equal(e->name, want[i].name);
        else
            assert_null(e->name);
        assert_string_equal(e->expr, want[i].expr);
        assert_string_equal(e->command, want[i].command);
        if (want[i].input)
            assert_string_equal(e->input, want[i].input);
        else
            assert_null(e->input);
        if (want[i].tz)
            assert_string_equal(e->tz, want[i].tz);
        else
            assert_null(e->tz);
        assert_string_equal(env_of(e), want[i].env == 3 ? env3 : env4);
    }
    synq_crontab_release(&tab);
}

static bool same_entry(const synq_crontab_entry_t *a, const synq_crontab_entry_t *b)
{
#define SAME_STR(x, y) (((x) == NULL && (y) == NULL) || ((x) && (y) && strcmp((x), (y)) == 0))
    if (a->line != b->line || a->nenv != b->nenv) return false;
    if (!SAME_STR(a->name, b->name) || !SAME_STR(a->expr, b->expr) ||
        !SAME_STR(a->command, b->command) || !SAME_STR(a->input, b->input) ||
        !SAME_STR(a->tz, b->tz))
        return false;
    for (size_t i = 0; i < a->nenv; i++)
        if (strcmp(a->env[i], b->env[i]) != 0) return false;
    return true;
#undef SAME_STR
}

/* Every prefix of the sample parses or fails cleanly (ASan and the leak
 * checker watch). A prefix that ends at a line's end gives exactly the
 * entries of its lines; one that cuts a line may add an entry for it. */
static void test_every_prefix(void **state)
{
    synq_crontab_t full = parse_ok(sample);
    size_t len = strlen(sample), ok = 0, failed = 0;
    for (size_t k = 0; k <= len; k++) {
        synq_crontab_t tab;
        char err[256] = "";
        int r = parse_n(sample, k, &tab, err, sizeof err);
        if (r != 0) {
            assert_int_equal(r, SYNQ_EINVAL);
            assert_null(tab.entries);
            assert_int_equal(tab.n, 0);
            assert_memory_equal(err, "line ", 5);
            failed++;
            continue;
        }
        ok++;
        int done = 0; /* complete lines in the prefix */
        for (size_t i = 0; i < k; i++)
            done += sample[i] == '\n';
        bool cut = k > 0 && sample[k - 1] != '\n';
        bool whole = !cut || k == len || sample[k] == '\n';
        int lines = done + (cut && whole);
        size_t want = 0;
        while (want < full.n && full.entries[want].line <= lines)
            want++;
        for (size_t i = 0; i < want; i++)
            assert_true(same_entry(&tab.entries[i], &full.entries[i]));
        if (whole) {
            assert_int_equal(tab.n, want);
        } else if (tab.n != want) {
            assert_int_equal(tab.n, want + 1);
            assert_int_equal(tab.entries[want].line, done + 1);
            assert_int_equal(full.entries[want].line, done + 1);
        }
        synq_crontab_release(&tab);
    }
    assert_true(ok > len / 2);
    assert_true(failed > 0);
    synq_crontab_release(&full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_comments_blanks),
        cmocka_unit_test(test_five_fields),
        cmocka_unit_test(test_too_few_fields),
        cmocka_unit_test(test_missing_command),
        cmocka_unit_test(test_rejected_forms),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_every),
        cmocka_unit_test(test_env_forms),
        cmocka_unit_test(test_env_not_env),
        cmocka_unit_test(test_env_snapshots),
        cmocka_unit_test(test_tz),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_name_directive),
        cmocka_unit_test(test_name_directive_errors),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_no_trailing_newline),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_error_reporting),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_every_prefix),
    };
    return cmocka_run_group_tests_name("crontab", tests, NULL, NULL);
}
