/* Unit tests for engine/hub on a real engine and SQLite store in a temporary
 * directory, on a loop of the test's own.
 *
 * A "turn" is one uv_run(UV_RUN_NOWAIT): the engine commits its open
 * transaction at the end of it (its check handle) and the hub then moves
 * what was published into history and hands it to the sinks. Checked here:
 * offsets per channel, publish-after-commit (nothing is seen, read or
 * reported before the turn ends), history reads (since, limit, reverse,
 * limit 0), recovery all or nothing (epoch mismatch, an evicted or expired
 * gap, a position ahead of the top, more than recovery_max), publish
 * idempotency (also across a restart and after its TTL), reset (new epoch,
 * offsets go on, the reset callback, a publication pending across a reset
 * is dropped), namespace specs good and bad, channel names, the subscribe
 * rule, presence JSON and join/leave, shared encodings, unsubscribing from
 * inside a delivery, the channel list, and a reopen from the store
 * (history, epoch, offsets and keys survive; memory-only namespaces do
 * not). Every test closes the hub and the engine, runs the loop dry and
 * checks uv_loop_close() returns 0. */
#include "engine/hub.h"

#include "core/log.h"
#include "core/rcbuf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine_fixture.h"

/* ---- fixture: loop + store + engine (engine_fixture.h) + hub ------------------ */

typedef struct {
    engine_fixture_t ef; /* first: close_hub casts back */
    synq_hub_t *hub;
    synq_hub_config_t cfg;
} fixture_t;

/* The engine fixture's on_close: after the engine's last commit, as main.c does. */
static void close_hub(engine_fixture_t *ef)
{
    fixture_t *f = (fixture_t *)ef;
    synq_hub_close(f->hub);
    f->hub = NULL;
}

/* Opens the engine (engine_fixture_open) and a hub on it with f->cfg. */
static void open_all(fixture_t *f)
{
    engine_fixture_open(&f->ef);
    f->hub = synq_hub_new(f->ef.engine, &f->cfg);
    assert_non_null(f->hub);
}

/* Closes the hub and the engine (which commits and closes the store), runs
 * the loop dry and checks nothing is left open. */
static void close_all(fixture_t *f)
{
    engine_fixture_close(&f->ef);
}

/* Closes and opens everything again on the same directory and config. */
static void reopen(fixture_t *f)
{
    close_all(f);
    open_all(f);
}

/* The end of a loop turn: the engine commits, the hub delivers. */
static void turn(fixture_t *f)
{
    engine_fixture_turn(&f->ef);
}

/* Creates the fixture with the default config plus the namespaces in
 * specs (';'-separated, as --namespaces); the test opens it. */
static fixture_t *fixture_new(const char *specs)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    engine_fixture_init(&f->ef, "hub");
    f->ef.on_close = close_hub;
    synq_hub_config_init(&f->cfg);
    if (specs) {
        char *all = strdup(specs);
        char err[200] = "";
        for (char *save = NULL, *s = strtok_r(all, ";", &save); s; s = strtok_r(NULL, ";", &save))
            if (synq_hub_config_namespace(&f->cfg, s, err, sizeof err) != 0) fail_msg("%s", err);
        free(all);
    }
    return f;
}

static int setup(void **state)
{
    fixture_t *f = fixture_new("small:history_size=5;none:history_size=0;"
                               "chat:presence=true,join_leave=true;"
                               "quiet:presence=true");
    open_all(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    engine_fixture_release(&f->ef);
    free(f);
    return 0;
}

/* ---- a recording sink ----------------------------------------------------------- */

#define MAX_SEEN 64

typedef struct {
    char channel[SYNQ_CHANNEL_MAX + 1];
    char epoch[SYNQ_EPOCH_LEN + 1];
    uint64_t offset;
    char data[64];
} seen_t;

typedef struct {
    seen_t pubs[MAX_SEEN];
    int npubs;
    synq_pos_t resets[8];
    char reset_channel[SYNQ_CHANNEL_MAX + 1];
    int nresets;
    char joins[8][32]; /* "+client" or "-client" */
    int njoins;
    /* optional behaviour */
    synq_hub_t *hub;
    synq_hub_sub_t *unsub[2]; /* unsubscribed on the first publication */
    synq_hub_sub_t *self;
} rec_t;

static void rec_pub(synq_hub_sub_t *sub, synq_hub_pub_t *p, void *arg)
{
    rec_t *r = arg;
    assert_true(r->npubs < MAX_SEEN);
    seen_t *s = &r->pubs[r->npubs++];
    assert_string_equal(synq_hub_sub_channel(sub), p->channel);
    snprintf(s->channel, sizeof s->channel, "%s", p->channel);
    snprintf(s->epoch, sizeof s->epoch, "%s", p->epoch);
    s->offset = p->offset;
    assert_true(p->len < sizeof s->data);
    memcpy(s->data, p->data, p->len);
    s->data[p->len] = '\0';
    assert_int_equal(strlen(p->data), p->len);
    for (int i = 0; i < 2; i++) {
        if (r->unsub[i]) {
            synq_hub_unsubscribe(r->hub, r->unsub[i]);
            r->unsub[i] = NULL;
        }
    }
}

static void rec_reset(synq_hub_sub_t *sub, const char *channel, const synq_pos_t *pos, void *arg)
{
    (void)sub;
    rec_t *r = arg;
    assert_true(r->nresets < 8);
    r->resets[r->nresets++] = *pos;
    snprintf(r->reset_channel, sizeof r->reset_channel, "%s", channel);
}

static void rec_join(synq_hub_sub_t *sub, const char *channel, const synq_hub_client_t *who,
                     bool leave, void *arg)
{
    (void)sub, (void)channel;
    rec_t *r = arg;
    assert_true(r->njoins < 8);
    snprintf(r->joins[r->njoins++], sizeof r->joins[0], "%c%s", leave ? '-' : '+', who->client);
}

static const synq_hub_sink_t rec_sink = {.pub = rec_pub, .reset = rec_reset, .join = rec_join};

/* ---- helpers ------------------------------------------------------------------- */

static synq_pos_t pub(fixture_t *f, const char *channel, const char *data)
{
    synq_pos_t pos;
    bool dup = true;
    assert_int_equal(synq_hub_publish(f->hub, channel, data, strlen(data), NULL, NULL, &pos, &dup),
                     0);
    assert_false(dup);
    return pos;
}

/* Collects what synq_hub_history reports. */
typedef struct {
    uint64_t offsets[128];
    char data[128][32];
    int n;
} hist_t;

static void on_hist(synq_hub_pub_t *p, void *arg)
{
    hist_t *h = arg;
    assert_true(h->n < 128);
    h->offsets[h->n] = p->offset;
    snprintf(h->data[h->n], sizeof h->data[0], "%.*s", (int)p->len, p->data);
    h->n++;
}

/* History of channel after since (NULL, or epoch/offset) into h; returns rc. */
static int hist(fixture_t *f, const char *channel, const char *epoch, long long since, int limit,
                bool reverse, hist_t *h, synq_pos_t *top)
{
    memset(h, 0, sizeof *h);
    synq_pos_t s = {.offset = since < 0 ? 0 : (uint64_t)since};
    snprintf(s.epoch, sizeof s.epoch, "%s", epoch ? epoch : "");
    return synq_hub_history(f->hub, channel, since < 0 ? NULL : &s, limit, reverse, on_hist, h,
                            top);
}

static void assert_offsets(const hist_t *h, const uint64_t *want, int n)
{
    assert_int_equal(h->n, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(h->offsets[i], want[i]);
}

static bool epoch_ok(const char *e)
{
    if (strlen(e) != SYNQ_EPOCH_LEN) return false;
    for (const char *p = e; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* ---- offsets and publish-after-commit ------------------------------------------------ */

static void test_offsets(void **state)
{
    fixture_t *f = *state;
    synq_pos_t a1 = pub(f, "a", "1"), a2 = pub(f, "a", "2"), b1 = pub(f, "b", "{\"x\":1}");
    synq_pos_t a3 = pub(f, "a", "3");
    assert_int_equal(a1.offset, 1);
    assert_int_equal(a2.offset, 2);
    assert_int_equal(a3.offset, 3);
    assert_int_equal(b1.offset, 1);
    assert_true(epoch_ok(a1.epoch));
    assert_true(epoch_ok(b1.epoch));
    assert_string_equal(a1.epoch, a3.epoch);
    turn(f);
    synq_pos_t pos;
    assert_int_equal(synq_hub_position(f->hub, "a", &pos), 0);
    assert_string_equal(pos.epoch, a1.epoch);
    assert_int_equal(pos.offset, 3);
    /* a channel never published starts at offset 0 with an epoch of its own */
    assert_int_equal(synq_hub_position(f->hub, "fresh", &pos), 0);
    assert_int_equal(pos.offset, 0);
    assert_true(epoch_ok(pos.epoch));
    assert_int_equal(synq_hub_position(f->hub, "fresh", &a1), 0);
    assert_string_equal(pos.epoch, a1.epoch);
    assert_int_equal(pub(f, "fresh", "1").offset, 1);
    /* any JSON text goes through as it is */
    assert_int_equal(pub(f, "a", "\"s\"").offset, 4);
    assert_int_equal(pub(f, "a", "null").offset, 5);
    synq_hub_stats_t st;
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.published, 7);
}

static void test_publish_after_commit(void **state)
{
    fixture_t *f = *state;
    rec_t r = {0};
    synq_pos_t at;
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "live", NULL, false, &rec_sink, &r, &at);
    assert_non_null(s);
    assert_int_equal(at.offset, 0);
    pub(f, "live", "1");
    pub(f, "live", "2");
    pub(f, "live", "3");
    /* before the commit nothing is seen, read, or reported as the position */
    assert_int_equal(r.npubs, 0);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "live", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 0);
    assert_int_equal(synq_hub_position(f->hub, "live", &top), 0);
    assert_int_equal(top.offset, 0);
    /* a recovery from 0 is fine (nothing committed after it) and empty */
    assert_int_equal(hist(f, "live", at.epoch, 0, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    /* and a position at the uncommitted top is ahead of what exists */
    assert_int_equal(hist(f, "live", at.epoch, 3, -1, false, &h, &top), SYNQ_EGONE);
    turn(f);
    assert_int_equal(r.npubs, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r.pubs[i].offset, (uint64_t)i + 1);
        assert_string_equal(r.pubs[i].channel, "live");
        assert_string_equal(r.pubs[i].epoch, at.epoch);
    }
    assert_string_equal(r.pubs[2].data, "3");
    assert_int_equal(synq_hub_position(f->hub, "live", &top), 0);
    assert_int_equal(top.offset, 3);
    /* a turn with nothing new delivers nothing again */
    turn(f);
    assert_int_equal(r.npubs, 3);
    synq_hub_stats_t st;
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.subscribers, 1);
    synq_hub_unsubscribe(f->hub, s);
    pub(f, "live", "4");
    turn(f);
    assert_int_equal(r.npubs, 3);
}

/* Several subscribers of one channel each get it; other channels' do not. */
static void test_fanout(void **state)
{
    fixture_t *f = *state;
    rec_t r1 = {0}, r2 = {0}, r3 = {0};
    synq_hub_sub_t *s1 = synq_hub_subscribe(f->hub, "fan", NULL, false, &rec_sink, &r1, NULL);
    synq_hub_sub_t *s2 = synq_hub_subscribe(f->hub, "fan", NULL, false, &rec_sink, &r2, NULL);
    synq_hub_sub_t *s3 = synq_hub_subscribe(f->hub, "other", NULL, false, &rec_sink, &r3, NULL);
    pub(f, "fan", "1");
    pub(f, "other", "x");
    pub(f, "fan", "2");
    turn(f);
    assert_int_equal(r1.npubs, 2);
    assert_int_equal(r2.npubs, 2);
    assert_int_equal(r3.npubs, 1);
    assert_string_equal(r1.pubs[1].data, "2");
    assert_string_equal(r3.pubs[0].data, "x");
    synq_hub_unsubscribe(f->hub, s1);
    synq_hub_unsubscribe(f->hub, s2);
    synq_hub_unsubscribe(f->hub, s3);
}

/* ---- history ------------------------------------------------------------------- */

static void test_history(void **state)
{
    fixture_t *f = *state;
    char d[16];
    synq_pos_t first = {0};
    for (int i = 1; i <= 10; i++) {
        snprintf(d, sizeof d, "%d", i);
        synq_pos_t p = pub(f, "h", d);
        if (i == 1) first = p;
    }
    turn(f);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "h", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10);
    assert_string_equal(h.data[9], "10");
    assert_int_equal(top.offset, 10);
    assert_string_equal(top.epoch, first.epoch);
    /* limit from the oldest */
    assert_int_equal(hist(f, "h", NULL, -1, 3, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){1, 2, 3}, 3);
    /* since */
    assert_int_equal(hist(f, "h", first.epoch, 5, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){6, 7, 8, 9, 10}, 5);
    assert_int_equal(hist(f, "h", first.epoch, 5, 2, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){6, 7}, 2);
    assert_int_equal(hist(f, "h", first.epoch, 0, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 10);
    /* an empty epoch matches any */
    assert_int_equal(hist(f, "h", "", 8, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){9, 10}, 2);
    /* at the top: nothing, fine */
    assert_int_equal(hist(f, "h", first.epoch, 10, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    /* reverse: newest first, and never older than since */
    assert_int_equal(hist(f, "h", NULL, -1, 3, true, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){10, 9, 8}, 3);
    assert_int_equal(hist(f, "h", first.epoch, 6, 100, true, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){10, 9, 8, 7}, 4);
    assert_int_equal(hist(f, "h", first.epoch, 6, 2, true, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){10, 9}, 2);
    /* limit 0: just the position */
    memset(&top, 0, sizeof top);
    assert_int_equal(hist(f, "h", NULL, -1, 0, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 10);
    /* cb NULL: only the check and the position */
    assert_int_equal(synq_hub_history(f->hub, "h", NULL, -1, false, NULL, NULL, &top), 0);
    /* bad names and namespaces */
    assert_int_equal(hist(f, "bad name", NULL, -1, -1, false, &h, &top), SYNQ_EINVAL);
    assert_int_equal(hist(f, "nons:x", NULL, -1, -1, false, &h, &top), SYNQ_ENOTFOUND);
}

/* ---- recovery: all or nothing -------------------------------------------------- */

static void test_recovery_evicted(void **state)
{
    fixture_t *f = *state;
    /* small: history_size=5 */
    synq_pos_t p = {0};
    for (int i = 1; i <= 8; i++)
        p = pub(f, "small:r", "x");
    turn(f);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "small:r", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){4, 5, 6, 7, 8}, 5);
    /* the gap after 3 is 4..8: all kept */
    assert_int_equal(hist(f, "small:r", p.epoch, 3, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){4, 5, 6, 7, 8}, 5);
    /* after 2 it needs 3, evicted: nothing at all, and the current position */
    memset(&top, 0, sizeof top);
    assert_int_equal(hist(f, "small:r", p.epoch, 2, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 8);
    assert_string_equal(top.epoch, p.epoch);
    assert_int_equal(hist(f, "small:r", p.epoch, 0, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
    /* a limited read is no less strict */
    assert_int_equal(hist(f, "small:r", p.epoch, 2, 2, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
    /* wrong epoch, even at a kept offset */
    assert_int_equal(hist(f, "small:r", "XXXXXXXX", 6, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
    assert_int_equal(hist(f, "small:r", "short", 8, -1, false, &h, &top), SYNQ_EGONE);
    /* a position ahead of the top */
    assert_int_equal(hist(f, "small:r", p.epoch, 9, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(hist(f, "small:r", "", 1000, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
}

static void test_recovery_no_history(void **state)
{
    fixture_t *f = *state;
    /* none: history_size=0 — only a position at the top is recoverable */
    synq_pos_t p = pub(f, "none:x", "1");
    pub(f, "none:x", "2");
    turn(f);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "none:x", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 2);
    assert_int_equal(hist(f, "none:x", p.epoch, 2, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(hist(f, "none:x", p.epoch, 1, -1, false, &h, &top), SYNQ_EGONE);
    /* a subscriber still gets live publications */
    rec_t r = {0};
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "none:x", NULL, false, &rec_sink, &r, NULL);
    pub(f, "none:x", "3");
    turn(f);
    assert_int_equal(r.npubs, 1);
    assert_int_equal(r.pubs[0].offset, 3);
    synq_hub_unsubscribe(f->hub, s);
}

static void test_recovery_expired(void **state)
{
    fixture_t *f = *state;
    close_all(f);
    assert_int_equal(synq_hub_config_namespace(&f->cfg, "brief:history_ttl=1ms", NULL, 0), 0);
    open_all(f);
    synq_pos_t p = pub(f, "brief:x", "1");
    pub(f, "brief:x", "2");
    turn(f);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "brief:x", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 2);
    assert_int_equal(hist(f, "brief:x", p.epoch, 1, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(hist(f, "brief:x", p.epoch, 2, -1, false, &h, &top), 0);
}

static void test_recovery_max(void **state)
{
    fixture_t *f = *state;
    close_all(f);
    f->cfg.recovery_max = 3;
    open_all(f);
    synq_pos_t p = {0};
    for (int i = 0; i < 5; i++)
        p = pub(f, "m", "x");
    turn(f);
    hist_t h;
    synq_pos_t top;
    /* a recovery of more than recovery_max is refused as a whole */
    assert_int_equal(hist(f, "m", p.epoch, 0, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(h.n, 0);
    assert_int_equal(hist(f, "m", p.epoch, 1, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(hist(f, "m", p.epoch, 2, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){3, 4, 5}, 3);
    /* a plain read is capped, not refused; an explicit limit is a page */
    assert_int_equal(hist(f, "m", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){1, 2, 3}, 3);
    assert_int_equal(hist(f, "m", p.epoch, 0, 4, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){1, 2, 3, 4}, 4);
}

/* ---- idempotency ------------------------------------------------------------------ */

static void test_idempotency(void **state)
{
    fixture_t *f = *state;
    rec_t r = {0};
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "i", NULL, false, &rec_sink, &r, NULL);
    synq_pos_t p1, p2, p3, p4;
    bool dup = true;
    assert_int_equal(synq_hub_publish(f->hub, "i", "1", 1, NULL, "k1", &p1, &dup), 0);
    assert_false(dup);
    /* the repeat, even before the commit: the first position, nothing published */
    assert_int_equal(synq_hub_publish(f->hub, "i", "2", 1, NULL, "k1", &p2, &dup), 0);
    assert_true(dup);
    assert_int_equal(p2.offset, p1.offset);
    assert_string_equal(p2.epoch, p1.epoch);
    turn(f);
    assert_int_equal(synq_hub_publish(f->hub, "i", "3", 1, NULL, "k1", &p2, &dup), 0);
    assert_true(dup);
    assert_int_equal(p2.offset, 1);
    /* another key publishes; the same key on another channel too */
    assert_int_equal(synq_hub_publish(f->hub, "i", "4", 1, NULL, "k2", &p3, &dup), 0);
    assert_false(dup);
    assert_int_equal(p3.offset, 2);
    assert_int_equal(synq_hub_publish(f->hub, "j", "5", 1, NULL, "k1", &p4, &dup), 0);
    assert_false(dup);
    assert_int_equal(p4.offset, 1);
    /* without a key nothing is deduplicated */
    assert_int_equal(pub(f, "i", "6").offset, 3);
    turn(f);
    assert_int_equal(r.npubs, 3);
    assert_string_equal(r.pubs[0].data, "1");
    assert_string_equal(r.pubs[1].data, "4");
    assert_string_equal(r.pubs[2].data, "6");
    synq_hub_unsubscribe(f->hub, s);
    /* keys survive a restart */
    reopen(f);
    assert_int_equal(synq_hub_publish(f->hub, "i", "7", 1, NULL, "k2", &p2, &dup), 0);
    assert_true(dup);
    assert_int_equal(p2.offset, 2);
    assert_string_equal(p2.epoch, p1.epoch);
    hist_t h;
    synq_pos_t top;
    turn(f);
    assert_int_equal(hist(f, "i", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 3);
}

static void test_idempotency_ttl(void **state)
{
    fixture_t *f = *state;
    close_all(f);
    f->cfg.idempotency_ttl_us = 1000 * 1000;
    open_all(f);
    synq_pos_t p1, p2;
    bool dup;
    assert_int_equal(synq_hub_publish(f->hub, "t", "1", 1, NULL, "k", &p1, &dup), 0);
    turn(f);
    struct timespec ts = {1, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    /* past the TTL the key is free again, though its stored twin may not
     * have been pruned yet */
    assert_int_equal(synq_hub_publish(f->hub, "t", "2", 1, NULL, "k", &p2, &dup), 0);
    assert_false(dup);
    assert_int_equal(p2.offset, 2);
    assert_int_equal(synq_hub_publish(f->hub, "t", "3", 1, NULL, "k", &p2, &dup), 0);
    assert_true(dup);
    assert_int_equal(p2.offset, 2);
    turn(f);
    /* the new key is the one stored: a restart within its TTL keeps it
     * (this assumes the reopen takes well under a second) */
    reopen(f);
    assert_int_equal(synq_hub_publish(f->hub, "t", "4", 1, NULL, "k", &p2, &dup), 0);
    assert_true(dup);
    assert_int_equal(p2.offset, 2);
    turn(f);
}

/* ---- reset ---------------------------------------------------------------------- */

static void test_reset(void **state)
{
    fixture_t *f = *state;
    rec_t r = {0};
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "rs", NULL, false, &rec_sink, &r, NULL);
    synq_pos_t old = pub(f, "rs", "1");
    pub(f, "rs", "2");
    pub(f, "rs", "3");
    turn(f);
    synq_pos_t pos;
    assert_int_equal(synq_hub_reset(f->hub, "rs", &pos), 0);
    assert_true(epoch_ok(pos.epoch));
    assert_string_not_equal(pos.epoch, old.epoch);
    assert_int_equal(pos.offset, 3); /* offsets go on after the old top */
    assert_int_equal(r.nresets, 1);
    assert_string_equal(r.reset_channel, "rs");
    assert_string_equal(r.resets[0].epoch, pos.epoch);
    assert_int_equal(r.resets[0].offset, 3);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "rs", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_string_equal(top.epoch, pos.epoch);
    assert_int_equal(top.offset, 3);
    /* the old epoch is void at any offset; the new one recovers from the reset */
    assert_int_equal(hist(f, "rs", old.epoch, 3, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(hist(f, "rs", old.epoch, 1, -1, false, &h, &top), SYNQ_EGONE);
    assert_int_equal(hist(f, "rs", pos.epoch, 3, -1, false, &h, &top), 0);
    /* the subscription stays and continues at the new epoch */
    synq_pos_t p4 = pub(f, "rs", "4");
    assert_int_equal(p4.offset, 4);
    assert_string_equal(p4.epoch, pos.epoch);
    turn(f);
    assert_int_equal(r.npubs, 4);
    assert_int_equal(r.pubs[3].offset, 4);
    assert_string_equal(r.pubs[3].epoch, pos.epoch);
    assert_int_equal(hist(f, "rs", pos.epoch, 3, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){4}, 1);
    /* a publication still waiting for its commit when the reset comes
     * belongs to the old stream: nobody gets it */
    pub(f, "rs", "5");
    synq_pos_t pos2;
    assert_int_equal(synq_hub_reset(f->hub, "rs", &pos2), 0);
    assert_int_equal(pos2.offset, 5);
    assert_string_not_equal(pos2.epoch, pos.epoch);
    turn(f);
    assert_int_equal(r.npubs, 4);
    assert_int_equal(r.nresets, 2);
    assert_int_equal(hist(f, "rs", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 5);
    assert_int_equal(pub(f, "rs", "6").offset, 6);
    turn(f);
    assert_int_equal(r.npubs, 5);
    synq_hub_unsubscribe(f->hub, s);
    /* reset of a channel never seen: a stream at 0; bad names refused */
    assert_int_equal(synq_hub_reset(f->hub, "never", &pos), 0);
    assert_int_equal(pos.offset, 0);
    assert_int_equal(synq_hub_reset(f->hub, "a b", &pos), SYNQ_EINVAL);
    assert_int_equal(synq_hub_reset(f->hub, "nons:a", &pos), SYNQ_ENOTFOUND);
    /* the new epoch and the offsets survive a restart */
    reopen(f);
    assert_int_equal(synq_hub_position(f->hub, "rs", &top), 0);
    assert_string_equal(top.epoch, pos2.epoch);
    assert_int_equal(top.offset, 6);
    assert_int_equal(hist(f, "rs", pos2.epoch, 5, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){6}, 1);
}

/* ---- configuration ------------------------------------------------------------- */

static const synq_ns_t *cfg_ns(const synq_hub_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nns; i++)
        if (strcmp(cfg->ns[i].name, name) == 0) return &cfg->ns[i];
    return NULL;
}

static void test_config_defaults(void **state)
{
    (void)state;
    synq_hub_config_t cfg;
    synq_hub_config_init(&cfg);
    assert_int_equal(cfg.nns, 4);
    assert_int_equal(cfg.idempotency_ttl_us, 300LL * 1000000);
    assert_int_equal(cfg.recovery_max, 1000);
    const synq_ns_t *d = cfg_ns(&cfg, "");
    assert_non_null(d);
    assert_int_equal(d->history_size, 100);
    assert_int_equal(d->history_ttl_us, 3600LL * 1000000);
    assert_false(d->anonymous);
    assert_true(d->subscribe);
    assert_false(d->publish);
    assert_false(d->presence);
    assert_false(d->join_leave);
    assert_false(d->memory_only);
    for (int i = 0; i < 2; i++) {
        const synq_ns_t *j = cfg_ns(&cfg, i ? "queues" : "jobs");
        assert_non_null(j);
        assert_true(j->memory_only);
        assert_int_equal(j->history_size, 50);
        assert_int_equal(j->history_ttl_us, 600LL * 1000000);
    }
    assert_non_null(cfg_ns(&cfg, "docs"));
    assert_false(cfg_ns(&cfg, "docs")->memory_only);
}

static void test_config_namespace(void **state)
{
    (void)state;
    synq_hub_config_t cfg;
    synq_hub_config_init(&cfg);
    char err[200];
    assert_int_equal(synq_hub_config_namespace(&cfg,
                                               "chat:presence=true,publish=true,history_size=5,"
                                               "history_ttl=1h,anonymous=true",
                                               err, sizeof err),
                     0);
    const synq_ns_t *c = cfg_ns(&cfg, "chat");
    assert_non_null(c);
    assert_int_equal(cfg.nns, 5);
    assert_true(c->presence);
    assert_true(c->publish);
    assert_true(c->anonymous);
    assert_true(c->subscribe); /* untouched keys keep their defaults */
    assert_false(c->join_leave);
    assert_int_equal(c->history_size, 5);
    assert_int_equal(c->history_ttl_us, 3600LL * 1000000);
    /* naming it again changes only the keys given */
    assert_int_equal(synq_hub_config_namespace(&cfg,
                                               "chat:history_size=7,join_leave=1,"
                                               "subscribe=no,publish=off",
                                               err, sizeof err),
                     0);
    assert_int_equal(cfg.nns, 5);
    c = cfg_ns(&cfg, "chat");
    assert_int_equal(c->history_size, 7);
    assert_true(c->presence);
    assert_true(c->join_leave);
    assert_false(c->subscribe);
    assert_false(c->publish);
    /* the default namespace has the empty name; the built-ins can be tuned */
    assert_int_equal(
        synq_hub_config_namespace(&cfg, ":history_ttl=10m,anonymous=yes", err, sizeof err), 0);
    assert_int_equal(cfg.nns, 5);
    assert_int_equal(cfg_ns(&cfg, "")->history_ttl_us, 600LL * 1000000);
    assert_true(cfg_ns(&cfg, "")->anonymous);
    assert_int_equal(synq_hub_config_namespace(&cfg, "jobs:history_size=10", err, sizeof err), 0);
    assert_int_equal(cfg_ns(&cfg, "jobs")->history_size, 10);
    assert_true(cfg_ns(&cfg, "jobs")->memory_only);
    /* no options: the defaults; history_size 0 and the edges of the range */
    assert_int_equal(synq_hub_config_namespace(&cfg, "Plain_1-x:", err, sizeof err), 0);
    assert_int_equal(cfg_ns(&cfg, "Plain_1-x")->history_size, 100);
    assert_int_equal(synq_hub_config_namespace(&cfg, "n0:history_size=0", err, sizeof err), 0);
    assert_int_equal(cfg_ns(&cfg, "n0")->history_size, 0);
    assert_int_equal(
        synq_hub_config_namespace(&cfg, "nmax:history_size=100000,history_ttl=0s", err, sizeof err),
        0);
    assert_int_equal(cfg_ns(&cfg, "nmax")->history_size, 100000);
    assert_int_equal(cfg_ns(&cfg, "nmax")->history_ttl_us, 0);
}

static void test_config_namespace_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "nocolon",
        "bad name:history_size=1",
        "bad.name:history_size=1",
        "a:history_size=-1",
        "a:history_size=",
        "a:history_size=abc",
        "a:history_size=12x",
        "a:history_size=100001",
        "a:history_ttl=bogus",
        "a:history_ttl=",
        "a:presence=maybe",
        "a:anonymous=",
        "a:unknown=1",
        "a:presence",
        "a:presence=true,,x",
        "a:presence=true,publish",
        "0123456789012345678901234567890123456789012345678901234567890123:presence=true",
    };
    synq_hub_config_t cfg;
    synq_hub_config_init(&cfg);
    assert_int_equal(synq_hub_config_namespace(&cfg, "a:history_size=9", NULL, 0), 0);
    synq_hub_config_t before = cfg;
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++) {
        char err[200] = "";
        if (synq_hub_config_namespace(&cfg, bad[i], err, sizeof err) != SYNQ_EINVAL)
            fail_msg("accepted %s", bad[i]);
        if (!err[0]) fail_msg("no message for %s", bad[i]);
        /* a failed spec changes nothing, even after good keys */
        if (memcmp(&cfg, &before, sizeof cfg) != 0) fail_msg("%s changed the config", bad[i]);
    }
    /* a name of 63 characters is the longest */
    char name[80];
    memset(name, 'n', 63);
    snprintf(name + 63, sizeof name - 63, ":presence=true");
    assert_int_equal(synq_hub_config_namespace(&cfg, name, NULL, 0), 0);
    /* at most SYNQ_HUB_MAX_NS namespaces */
    synq_hub_config_init(&cfg);
    char err[200] = "";
    for (size_t i = cfg.nns; i < SYNQ_HUB_MAX_NS; i++) {
        snprintf(name, sizeof name, "ns%zu:presence=true", i);
        assert_int_equal(synq_hub_config_namespace(&cfg, name, err, sizeof err), 0);
    }
    assert_int_equal(synq_hub_config_namespace(&cfg, "onemore:presence=true", err, sizeof err),
                     SYNQ_EINVAL);
    assert_non_null(strstr(err, "too many"));
    /* replacing one still works when full */
    assert_int_equal(synq_hub_config_namespace(&cfg, "ns4:presence=false", err, sizeof err), 0);
}

/* ---- names and the subscribe rule ------------------------------------------------- */

static void test_channel_names(void **state)
{
    fixture_t *f = *state;
    char longest[SYNQ_CHANNEL_MAX + 2];
    memset(longest, 'c', SYNQ_CHANNEL_MAX);
    longest[SYNQ_CHANNEL_MAX] = '\0';
    static const char *const good[] = {"a",  "Z9", "chat:room-1_2.3/4@x", "a:b:c",
                                       ":x", "x:", "docs:stock/42"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(good); i++)
        if (!synq_channel_valid(good[i])) fail_msg("refused %s", good[i]);
    assert_true(synq_channel_valid(longest));
    static const char *const bad[] = {"",     "a b", "a\n", "a\t", "caf\xc3\xa9", "a#",  "a?",
                                      "a%20", "a+b", "a*",  "a,b", "a=b",         "a\"", "a\\"};
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(bad); i++)
        if (synq_channel_valid(bad[i])) fail_msg("accepted %s", bad[i]);
    longest[SYNQ_CHANNEL_MAX] = 'c';
    longest[SYNQ_CHANNEL_MAX + 1] = '\0';
    assert_false(synq_channel_valid(longest));

    /* the namespace is the part before the first ':' */
    assert_string_equal(synq_hub_ns(f->hub, "plain")->name, "");
    assert_string_equal(synq_hub_ns(f->hub, "chat:room")->name, "chat");
    assert_string_equal(synq_hub_ns(f->hub, "chat:room:sub")->name, "chat");
    assert_string_equal(synq_hub_ns(f->hub, "jobs:01ABC")->name, "jobs");
    assert_string_equal(synq_hub_ns(f->hub, ":x")->name, "");
    assert_null(synq_hub_ns(f->hub, "nons:x"));
    assert_null(synq_hub_ns(f->hub, "room:chat"));

    /* publish and subscribe check names and namespaces */
    synq_pos_t pos;
    bool dup;
    assert_int_equal(synq_hub_publish(f->hub, "a b", "1", 1, NULL, NULL, &pos, &dup), SYNQ_EINVAL);
    assert_int_equal(synq_hub_publish(f->hub, "", "1", 1, NULL, NULL, &pos, &dup), SYNQ_EINVAL);
    assert_int_equal(synq_hub_publish(f->hub, longest, "1", 1, NULL, NULL, &pos, &dup),
                     SYNQ_EINVAL);
    assert_int_equal(synq_hub_publish(f->hub, "nons:x", "1", 1, NULL, NULL, &pos, &dup),
                     SYNQ_ENOTFOUND);
    assert_int_equal(synq_hub_position(f->hub, "nons:x", &pos), SYNQ_ENOTFOUND);
    assert_int_equal(synq_hub_position(f->hub, "a#", &pos), SYNQ_EINVAL);
    rec_t r = {0};
    assert_null(synq_hub_subscribe(f->hub, "a b", NULL, false, &rec_sink, &r, &pos));
    assert_null(synq_hub_subscribe(f->hub, "nons:x", NULL, false, &rec_sink, &r, &pos));
    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_hub_presence(f->hub, "nons:x", &b), SYNQ_ENOTFOUND);
    assert_int_equal(synq_hub_presence_stats(f->hub, "a b", &b), SYNQ_EINVAL);
    assert_int_equal(b.len, 0);
    synq_buf_release(&b);
    synq_hub_stats_t st;
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.published, 0);
}

static void test_may_subscribe(void **state)
{
    (void)state;
    synq_ns_t ns = {.subscribe = true, .anonymous = false};
    assert_true(synq_hub_may_subscribe(&ns, "c", "u1", NULL));
    assert_false(synq_hub_may_subscribe(&ns, "c", "", NULL));
    assert_false(synq_hub_may_subscribe(&ns, "c", NULL, NULL));
    ns.anonymous = true;
    assert_true(synq_hub_may_subscribe(&ns, "c", NULL, NULL));
    assert_true(synq_hub_may_subscribe(&ns, "c", "", NULL));
    ns.subscribe = false;
    ns.anonymous = false;
    assert_false(synq_hub_may_subscribe(&ns, "c", "u1", NULL));
    /* a channel token for this very channel always lets in */
    assert_true(synq_hub_may_subscribe(&ns, "c", "u1", "c"));
    assert_true(synq_hub_may_subscribe(&ns, "c", NULL, "c"));
    assert_false(synq_hub_may_subscribe(&ns, "c", "u1", "d"));
    assert_false(synq_hub_may_subscribe(&ns, "c", "u1", "c2"));
    assert_false(synq_hub_may_subscribe(&ns, "c2", "u1", "c"));
}

/* ---- presence ----------------------------------------------------------------------- */

static json_t *parse_buf(const synq_buf_t *b)
{
    json_error_t je;
    json_t *v = json_loadb(b->data, b->len, 0, &je);
    if (!v) fail_msg("bad JSON (%s): %.*s", je.text, (int)b->len, b->data);
    return v;
}

static void test_presence(void **state)
{
    fixture_t *f = *state;
    rec_t watcher = {0}, r = {0};
    /* a subscriber without `who` (SSE, long-poll) that asked for join/leave */
    synq_hub_sub_t *w = synq_hub_subscribe(f->hub, "chat:p", NULL, true, &rec_sink, &watcher, NULL);
    synq_hub_client_t c1 = {
        .client = "c1", .user = "u1", .conn_info = "{\"name\":\"Ann\"}", .chan_info = "[1,2]"};
    synq_hub_client_t c2 = {.client = "c\"2\\", .user = "u1"};
    synq_hub_client_t c3 = {.client = "c3", .user = ""};
    synq_hub_sub_t *s1 = synq_hub_subscribe(f->hub, "chat:p", &c1, false, &rec_sink, &r, NULL);
    synq_hub_sub_t *s2 = synq_hub_subscribe(f->hub, "chat:p", &c2, true, &rec_sink, &r, NULL);
    synq_hub_sub_t *s3 = synq_hub_subscribe(f->hub, "chat:p", &c3, false, &rec_sink, &r, NULL);
    assert_non_null(s1);
    /* the watcher saw three joins; s2 saw the one after it, not its own */
    assert_int_equal(watcher.njoins, 3);
    assert_string_equal(watcher.joins[0], "+c1");
    assert_string_equal(watcher.joins[1], "+c\"2\\");
    assert_string_equal(watcher.joins[2], "+c3");
    assert_int_equal(r.njoins, 1);
    assert_string_equal(r.joins[0], "+c3");

    synq_buf_t b;
    synq_buf_init(&b);
    assert_int_equal(synq_hub_presence(f->hub, "chat:p", &b), 0);
    json_t *v = parse_buf(&b);
    json_t *clients = json_object_get(v, "clients");
    assert_true(json_is_object(clients));
    assert_int_equal(json_object_size(clients), 3); /* not the watcher */
    json_t *e1 = json_object_get(clients, "c1");
    assert_non_null(e1);
    assert_string_equal(json_string_value(json_object_get(e1, "client")), "c1");
    assert_string_equal(json_string_value(json_object_get(e1, "user")), "u1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e1, "conn_info"), "name")), "Ann");
    assert_int_equal(json_array_size(json_object_get(e1, "chan_info")), 2);
    json_t *e2 = json_object_get(clients, "c\"2\\");
    assert_non_null(e2);
    assert_string_equal(json_string_value(json_object_get(e2, "client")), "c\"2\\");
    assert_null(json_object_get(e2, "conn_info"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(clients, "c3"), "user")),
                        "");
    json_decref(v);

    synq_buf_release(&b);
    synq_buf_init(&b);
    assert_int_equal(synq_hub_presence_stats(f->hub, "chat:p", &b), 0);
    v = parse_buf(&b);
    assert_int_equal(json_integer_value(json_object_get(v, "num_clients")), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "num_users")), 2); /* u1 and "" */
    json_decref(v);

    /* leaving: the others that asked hear it; presence forgets it */
    synq_hub_unsubscribe(f->hub, s1);
    assert_int_equal(watcher.njoins, 4);
    assert_string_equal(watcher.joins[3], "-c1");
    assert_int_equal(r.njoins, 2);
    assert_string_equal(r.joins[1], "-c1");
    synq_hub_unsubscribe(f->hub, s2);
    synq_hub_unsubscribe(f->hub, s3);
    synq_buf_release(&b);
    synq_buf_init(&b);
    assert_int_equal(synq_hub_presence(f->hub, "chat:p", &b), 0);
    v = parse_buf(&b);
    assert_int_equal(json_object_size(json_object_get(v, "clients")), 0);
    json_decref(v);
    synq_buf_release(&b);
    synq_buf_init(&b);
    assert_int_equal(synq_hub_presence_stats(f->hub, "chat:p", &b), 0);
    assert_string_equal(b.data, "{\"num_clients\":0,\"num_users\":0}");
    synq_buf_release(&b);
    synq_hub_unsubscribe(f->hub, w);

    /* presence without join_leave: nobody is told */
    rec_t q = {0};
    synq_hub_sub_t *qw = synq_hub_subscribe(f->hub, "quiet:p", NULL, true, &rec_sink, &q, NULL);
    synq_hub_sub_t *q1 = synq_hub_subscribe(f->hub, "quiet:p", &c1, true, &rec_sink, &q, NULL);
    synq_hub_unsubscribe(f->hub, q1);
    assert_int_equal(q.njoins, 0);
    synq_hub_unsubscribe(f->hub, qw);
}

/* ---- encodings, unsubscribing while delivering, the list --------------------------- */

static int builds;

static synq_rcbuf_t *build_upper(const synq_hub_pub_t *p, void *arg)
{
    (void)arg;
    builds++;
    return synq_rcbuf_new(p->data, p->len);
}

typedef struct {
    const void *seen[4];
    int n;
} enc_rec_t;

static void enc_pub(synq_hub_sub_t *sub, synq_hub_pub_t *p, void *arg)
{
    (void)sub;
    enc_rec_t *e = arg;
    synq_rcbuf_t *rb = synq_hub_pub_encoded(p, SYNQ_ENC_SSE, build_upper, NULL);
    assert_non_null(rb);
    assert_memory_equal(synq_rcbuf_data(rb), p->data, p->len);
    e->seen[e->n++] = rb;
}

static void test_encoded_once(void **state)
{
    fixture_t *f = *state;
    static const synq_hub_sink_t sink = {.pub = enc_pub};
    enc_rec_t e1 = {0}, e2 = {0}, e3 = {0};
    synq_hub_sub_t *s1 = synq_hub_subscribe(f->hub, "enc", NULL, false, &sink, &e1, NULL);
    synq_hub_sub_t *s2 = synq_hub_subscribe(f->hub, "enc", NULL, false, &sink, &e2, NULL);
    synq_hub_sub_t *s3 = synq_hub_subscribe(f->hub, "enc", NULL, false, &sink, &e3, NULL);
    builds = 0;
    pub(f, "enc", "{\"a\":1}");
    turn(f);
    assert_int_equal(builds, 1);
    assert_ptr_equal(e1.seen[0], e2.seen[0]);
    assert_ptr_equal(e1.seen[0], e3.seen[0]);
    pub(f, "enc", "2");
    turn(f);
    assert_int_equal(builds, 2);
    assert_ptr_not_equal(e1.seen[1], e1.seen[0]);
    synq_hub_unsubscribe(f->hub, s1);
    synq_hub_unsubscribe(f->hub, s2);
    synq_hub_unsubscribe(f->hub, s3);
}

static void test_unsubscribe_in_delivery(void **state)
{
    fixture_t *f = *state;
    rec_t a = {0}, b = {0}, c = {0};
    /* subscribers are kept newest first: c, b, a */
    synq_hub_sub_t *sa = synq_hub_subscribe(f->hub, "u", NULL, false, &rec_sink, &a, NULL);
    synq_hub_sub_t *sb = synq_hub_subscribe(f->hub, "u", NULL, false, &rec_sink, &b, NULL);
    synq_hub_sub_t *sc = synq_hub_subscribe(f->hub, "u", NULL, false, &rec_sink, &c, NULL);
    /* the first to be called removes itself and the next one */
    c.hub = b.hub = a.hub = f->hub;
    c.unsub[0] = sc;
    c.unsub[1] = sb;
    pub(f, "u", "1");
    pub(f, "u", "2");
    turn(f);
    assert_int_equal(c.npubs, 1);
    assert_int_equal(b.npubs, 0);
    assert_int_equal(a.npubs, 2);
    synq_hub_stats_t st;
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.subscribers, 1);
    /* and the last removing itself during the delivery of the first of two */
    a.unsub[0] = sa;
    pub(f, "u", "3");
    pub(f, "u", "4");
    turn(f);
    assert_int_equal(a.npubs, 3);
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.subscribers, 0);
}

static void test_channels_list(void **state)
{
    fixture_t *f = *state;
    rec_t r = {0};
    pub(f, "chat:b", "1");
    pub(f, "chat:b", "2");
    pub(f, "none:n", "1"); /* no history, no subscriber: not listed */
    synq_pos_t pos;
    synq_hub_position(f->hub, "idle", &pos); /* exists, but nothing to list */
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "chat:a", NULL, false, &rec_sink, &r, NULL);
    turn(f);
    synq_buf_t b;
    synq_buf_init(&b);
    synq_hub_channels(f->hub, NULL, &b);
    json_t *v = parse_buf(&b);
    json_t *list = json_object_get(v, "channels");
    assert_int_equal(json_array_size(list), 2);
    json_t *a = json_array_get(list, 0), *bb = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "chat:a");
    assert_int_equal(json_integer_value(json_object_get(a, "subscribers")), 1);
    assert_int_equal(json_integer_value(json_object_get(a, "offset")), 0);
    assert_string_equal(json_string_value(json_object_get(bb, "name")), "chat:b");
    assert_int_equal(json_integer_value(json_object_get(bb, "subscribers")), 0);
    assert_int_equal(json_integer_value(json_object_get(bb, "offset")), 2);
    assert_int_equal(json_integer_value(json_object_get(bb, "history")), 2);
    assert_true(epoch_ok(json_string_value(json_object_get(bb, "epoch"))));
    json_decref(v);
    synq_buf_release(&b);
    synq_buf_init(&b);
    synq_hub_channels(f->hub, "chat:b", &b);
    v = parse_buf(&b);
    assert_int_equal(json_array_size(json_object_get(v, "channels")), 1);
    json_decref(v);
    synq_buf_release(&b);
    synq_buf_init(&b);
    synq_hub_channels(f->hub, "zzz", &b);
    assert_string_equal(b.data, "{\"channels\":[]}");
    synq_buf_release(&b);
    synq_hub_unsubscribe(f->hub, s);
}

/* ---- publish_if_watched --------------------------------------------------------------- */

static void test_publish_if_watched(void **state)
{
    fixture_t *f = *state;
    synq_hub_stats_t st;
    /* nobody ever looked: nothing is created or published */
    assert_int_equal(synq_hub_publish_if_watched(f->hub, "jobs:x", "1", 1), 0);
    synq_hub_stats(f->hub, &st);
    assert_int_equal(st.published, 0);
    assert_int_equal(st.channels, 0);
    rec_t r = {0};
    synq_hub_sub_t *s = synq_hub_subscribe(f->hub, "jobs:x", NULL, false, &rec_sink, &r, NULL);
    assert_int_equal(synq_hub_publish_if_watched(f->hub, "jobs:x", "{\"n\":1}", 7), 0);
    turn(f);
    assert_int_equal(r.npubs, 1);
    assert_int_equal(r.pubs[0].offset, 1);
    synq_hub_unsubscribe(f->hub, s);
    /* still watched (within the history age): kept and readable */
    assert_int_equal(synq_hub_publish_if_watched(f->hub, "jobs:x", "{\"n\":2}", 7), 0);
    turn(f);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "jobs:x", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){1, 2}, 2);
}

/* ---- restart --------------------------------------------------------------------------- */

static void test_reopen(void **state)
{
    fixture_t *f = *state;
    synq_pos_t p = {0};
    char d[32];
    for (int i = 1; i <= 7; i++) {
        snprintf(d, sizeof d, "{\"i\":%d}", i);
        p = pub(f, "keep", d);
    }
    for (int i = 1; i <= 8; i++)
        pub(f, "small:keep", "1");
    synq_pos_t small;
    pub(f, "jobs:mem", "1");
    turn(f);
    assert_int_equal(synq_hub_position(f->hub, "small:keep", &small), 0);
    synq_pos_t jobs;
    assert_int_equal(synq_hub_position(f->hub, "jobs:mem", &jobs), 0);
    assert_int_equal(jobs.offset, 1);
    reopen(f);
    synq_pos_t top;
    assert_int_equal(synq_hub_position(f->hub, "keep", &top), 0);
    assert_string_equal(top.epoch, p.epoch);
    assert_int_equal(top.offset, 7);
    hist_t h;
    assert_int_equal(hist(f, "keep", p.epoch, 2, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){3, 4, 5, 6, 7}, 5);
    assert_string_equal(h.data[0], "{\"i\":3}");
    assert_string_equal(h.data[4], "{\"i\":7}");
    /* the size bound holds after loading too */
    assert_int_equal(hist(f, "small:keep", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){4, 5, 6, 7, 8}, 5);
    assert_string_equal(top.epoch, small.epoch);
    assert_int_equal(hist(f, "small:keep", small.epoch, 2, -1, false, &h, &top), SYNQ_EGONE);
    /* offsets continue in the same epoch */
    synq_pos_t p8 = pub(f, "keep", "8");
    assert_int_equal(p8.offset, 8);
    assert_string_equal(p8.epoch, p.epoch);
    turn(f);
    assert_int_equal(hist(f, "keep", p.epoch, 7, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){8}, 1);
    /* memory-only namespaces start over */
    assert_int_equal(hist(f, "jobs:mem", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 0);
    assert_int_equal(top.offset, 0);
    assert_string_not_equal(top.epoch, jobs.epoch);
    /* a second restart straight away changes nothing */
    reopen(f);
    assert_int_equal(synq_hub_position(f->hub, "keep", &top), 0);
    assert_string_equal(top.epoch, p.epoch);
    assert_int_equal(top.offset, 8);
    assert_int_equal(hist(f, "keep", NULL, -1, -1, false, &h, &top), 0);
    assert_int_equal(h.n, 8);
}

/* A restart with a smaller history_size: what is loaded obeys the new bound. */
static void test_reopen_smaller(void **state)
{
    fixture_t *f = *state;
    synq_pos_t p = {0};
    for (int i = 0; i < 6; i++)
        p = pub(f, "shrink", "1");
    turn(f);
    close_all(f);
    assert_int_equal(synq_hub_config_namespace(&f->cfg, ":history_size=2", NULL, 0), 0);
    open_all(f);
    hist_t h;
    synq_pos_t top;
    assert_int_equal(hist(f, "shrink", NULL, -1, -1, false, &h, &top), 0);
    assert_offsets(&h, (uint64_t[]){5, 6}, 2);
    assert_string_equal(top.epoch, p.epoch);
    assert_int_equal(hist(f, "shrink", p.epoch, 4, -1, false, &h, &top), 0);
    assert_int_equal(hist(f, "shrink", p.epoch, 3, -1, false, &h, &top), SYNQ_EGONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_evicted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_no_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_namespace),
        cmocka_unit_test(test_config_namespace_bad),
        cmocka_unit_test_setup_teardown(test_channel_names, setup, teardown),
        cmocka_unit_test(test_may_subscribe),
        cmocka_unit_test_setup_teardown(test_presence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encoded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsubscribe_in_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channels_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_if_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_smaller, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
