/* A test fixture for unit tests that run the real engine on a SQLite store in
 * a temporary directory, on a loop of the test's own (test_hub.c,
 * test_mutate.c). It does not make jobs, channels or hubs; a test that needs
 * more than the engine embeds engine_fixture_t as the first member of its own
 * fixture and hooks on_close.
 *
 * Header only: everything here is static inline, and each tests/unit/test_X.c
 * is its own binary, so including it once per test file is all there is.
 * Failures are cmocka assertions.
 *
 * A "turn" is one uv_run(UV_RUN_NOWAIT): the engine commits (and prunes) its
 * open transaction at the end of it (its check handle). Closing runs the loop
 * dry and checks uv_loop_close() returns 0, so a handle left open fails the
 * test. */
#ifndef TESTS_UNIT_ENGINE_FIXTURE_H
#define TESTS_UNIT_ENGINE_FIXTURE_H

#include "core/log.h"
#include "engine/engine.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct engine_fixture_s engine_fixture_t;

struct engine_fixture_s {
    char dir[64];          /* the temporary data directory */
    uv_loop_t loop;        /* the test's own loop */
    synq_engine_t *engine; /* NULL while closed */
    bool closed;           /* set by the engine's close callback */
    /* Optional: runs in the engine's close callback, that is after its last
     * commit, before `closed` is set (test_hub closes its hub here, as main.c
     * does). */
    void (*on_close)(engine_fixture_t *ef);
};

/* Quiets the log to errors and makes the temporary directory
 * /tmp/synq_test_<name>_XXXXXX in ef (zeroed by the caller, who sets on_close
 * if it wants one). Opens nothing: engine_fixture_open does. */
static inline void engine_fixture_init(engine_fixture_t *ef, const char *name)
{
    synq_log_set_level(SYNQ_LOG_ERROR);
    snprintf(ef->dir, sizeof ef->dir, "/tmp/synq_test_%s_XXXXXX", name);
    assert_non_null(mkdtemp(ef->dir));
}

/* Inits the loop, opens the SQLite store in ef->dir (durability normal) and
 * an engine with the default config on them; the engine owns the store. */
static inline void engine_fixture_open(engine_fixture_t *ef)
{
    assert_int_equal(uv_loop_init(&ef->loop), 0);
    synq_store_t *store = synq_store_sqlite_open(ef->dir, SYNQ_DURABILITY_NORMAL);
    assert_non_null(store);
    synq_engine_config_t ecfg;
    synq_engine_config_init(&ecfg);
    ef->engine = synq_engine_new(&ef->loop, store, &ecfg);
    assert_non_null(ef->engine);
    ef->closed = false;
}

static inline void engine_fixture_on_engine_closed(void *arg)
{
    engine_fixture_t *ef = arg;
    if (ef->on_close) ef->on_close(ef);
    ef->closed = true;
}

/* Closes the engine (which commits and closes the store), runs the loop dry
 * and checks the close callback ran and nothing is left open on the loop. */
static inline void engine_fixture_close(engine_fixture_t *ef)
{
    synq_engine_close(ef->engine, engine_fixture_on_engine_closed, ef);
    ef->engine = NULL;
    uv_run(&ef->loop, UV_RUN_DEFAULT);
    assert_true(ef->closed);
    assert_int_equal(uv_loop_close(&ef->loop), 0);
}

/* Closes and opens again on the same directory: what follows reads from disk. */
static inline void engine_fixture_reopen(engine_fixture_t *ef)
{
    engine_fixture_close(ef);
    engine_fixture_open(ef);
}

/* The end of a loop turn: the engine commits and prunes. */
static inline void engine_fixture_turn(engine_fixture_t *ef)
{
    uv_run(&ef->loop, UV_RUN_NOWAIT);
}

/* Closes the engine if it is open, then removes the database files and the
 * directory. ef itself stays the caller's. */
static inline void engine_fixture_release(engine_fixture_t *ef)
{
    static const char *const names[] = {"synq.db", "synq.db-wal", "synq.db-shm"};
    if (ef->engine) engine_fixture_close(ef);
    char path[128];
    for (size_t i = 0; i < SYNQ_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", ef->dir, names[i]);
        unlink(path);
    }
    rmdir(ef->dir);
}

#endif
