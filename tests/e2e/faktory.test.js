// The real npm Faktory client, `faktory-worker` 4.7.1, against synq's
// Faktory listener: it pushes (PUSH, PUSHB with a rejection map), works jobs
// with faktory.work()-style workers (FETCH/ACK/FAIL/BEAT), mutates the retry
// and dead sets (MUTATE), reads INFO, and proves a password in HELLO.
// Everything it does is cross-checked over REST (GET /v1/jobs/{jid},
// GET /v1/workers), and jobs cross the two interfaces both ways.
//
// Covered: push and pushBulk; 200 jobs at concurrency 20, each run once;
// failure -> retry with the Faktory `failure` object on the next run (after a
// MUTATE requeue); retry 0 (discarded) and -1 (dead at once); a reservation
// that runs out (the slow test here, ~65 s); quiet and terminate from REST
// heard in BEAT; MUTATE kill/requeue/discard; the password handshake; results
// across FWP and HTTP; kill -9 after acknowledged PUSHes; custom.unique_for
// and custom.expires_at. Every wait is bounded.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const faktory = require('faktory-worker');
const h = require('./helpers');

const servers = [];
let server; // shared by the tests that need no server of their own

async function startServer(opts) {
  const s = await h.startServer(opts);
  servers.push(s);
  return s;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const w of workers) await stopWorker(w);
  for (const c of clients) await c.close().catch(() => {});
  for (const s of servers) {
    const code = await s.stop();
    assert.doesNotMatch(s.stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, 'no sanitizer report');
    if (s.expectKilled) continue;
    assert.equal(code, 0, `server exits 0 on SIGTERM; stderr ends:\n${s.stderr.slice(-4000)}`);
  }
});

let seq = 0;
const fresh = (prefix = 'fk') => `${prefix}${process.pid}-${++seq}`;
const show = (x) => JSON.stringify(x);
const until = (fn, what, timeoutMs = 15000) => h.waitFor(fn, timeoutMs, 50, what);

// ---------------------------------------------------------------------------
// Clients and workers, closed in after() even when a test fails.

const clients = [];
async function connect(s, opts = {}) {
  const c = await faktory.connect({ url: s.faktoryUrl, ...opts });
  clients.push(c);
  return c;
}

async function closeClient(c) {
  const i = clients.indexOf(c);
  if (i >= 0) clients.splice(i, 1);
  await c.close();
}

const workers = [];

// Starts a faktory-worker Worker (what faktory.work() makes) on server s.
// registry: { jobtype: fn }. Unexpected library errors land in w.errors.
// w.stop() is wrapped so that a stop the server asks for (terminate) is seen.
async function startWorker(s, registry, opts = {}) {
  const w = new faktory.Worker({ url: s.faktoryUrl, registry, concurrency: 5, beatInterval: 1, ...opts });
  w.errors = [];
  w.on('error', (e) => w.errors.push(e));
  const stop = w.stop.bind(w);
  w.stopped = null;
  w.stop = () => { if (!w.stopped) w.stopped = stop(); return w.stopped; };
  workers.push(w);
  await w.work();
  return w;
}

// Stops a worker without ever letting faktory-worker abort its jobs: an
// aborted stop ends in process.exit(1), which would take the test runner
// down. With jobs still running after 10 s the worker is torn down by hand.
async function stopWorker(w) {
  const i = workers.indexOf(w);
  if (i >= 0) workers.splice(i, 1);
  if (w.stopped) return w.stopped;
  try { await h.waitFor(() => w.working.size === 0, 10000, 50, 'worker jobs done'); } catch { /* below */ }
  if (w.working.size === 0) return w.stop();
  w.quiet();
  clearInterval(w.pulse);
  if (w.untrapSignals) w.untrapSignals();
  await w.client.close().catch(() => {});
  return undefined;
}

// Rejects with the client's error; returns it.
async function rejection(p, what) {
  try { await p; } catch (e) { return e; }
  assert.fail(`${what}: expected the promise to reject`);
}

// An Error with a code: faktory-worker sends String(e.code) as errtype.
function boom(message, code) {
  const e = new Error(message);
  e.code = code;
  return e;
}

// GET /v1/jobs/{jid}: 404 or 410, i.e. the job is gone.
async function assertGone(s, jid, what) {
  const res = await h.api(s, 'GET', '/v1/jobs/' + jid);
  assert.ok(res.status === 404 || res.status === 410, `${what}: GET ${jid} -> ${res.status} ${show(res.body)}`);
}

// Polls GET /v1/jobs/{jid} until its state is `state`; returns the job.
async function jobInState(s, jid, state, timeoutMs = 15000) {
  let last;
  try {
    return await until(async () => {
      last = await h.getJob(s, jid);
      return last.state === state ? last : null;
    }, `job ${jid} ${state}`, timeoutMs);
  } catch (e) {
    throw new Error(`job ${jid} never became ${state}; last: ${show(last)}`);
  }
}

async function getWorker(s, wid) {
  const res = await h.api(s, 'GET', '/v1/workers');
  assert.equal(res.status, 200, `GET /v1/workers -> ${res.status} ${show(res.body)}`);
  assert.ok(Array.isArray(res.body.workers), 'workers array');
  return res.body.workers.find((w) => w.wid === wid) || null;
}

// A promise with its resolve function, for handlers that must wait.
function gate() {
  let open;
  const p = new Promise((r) => { open = r; });
  return { p, open };
}

const nearNow = (t, what, slackMs = 30000) => {
  const ms = h.parseTime(t, what);
  assert.ok(Math.abs(ms - Date.now()) < slackMs, `${what} ${t} is about now`);
  return ms;
};

// ---------------------------------------------------------------------------
// 1. push, pushBulk, INFO

test('push and pushBulk (one bad job: the rejection map); INFO queues, sets and totals match', async () => {
  const s = await startServer(); // INFO totals are server-wide: a server of its own
  const c = await connect(s);
  const q = fresh('push');
  try {
    // a single push
    const job = c.job('Adder', 1, 2, { deep: ['x'] });
    job.queue = q;
    job.custom = { tenant: 'acme' };
    const jid = await job.push();
    assert.equal(typeof jid, 'string');
    const got = await h.getJob(s, jid);
    assert.equal(got.id, jid);
    assert.equal(got.state, 'queued');
    assert.equal(got.queue, q);
    assert.equal(got.type, 'Adder');
    assert.deepEqual(got.args, [1, 2, { deep: ['x'] }]);
    assert.equal(got.retry, 25, 'the client sends retry 25');
    assert.equal(got.attempts, 0);
    assert.deepEqual(got.custom, { tenant: 'acme' });
    assert.deepEqual(got.backoff, { type: 'faktory' }, 'FWP jobs get Faktory backoff');
    nearNow(got.created_at, 'created_at');

    // a bulk push: five good jobs and two bad ones
    const good = [];
    for (let i = 0; i < 5; i++) {
      const j = c.job('Bulk', i);
      j.queue = q;
      good.push(j);
    }
    const shortJid = { jid: 'short', jobtype: 'Bulk', args: [], queue: q };
    const badQueue = c.job('Bulk', 99);
    badQueue.queue = 'no spaces allowed';
    const rejected = await c.pushBulk([...good, shortJid, badQueue]);
    assert.deepEqual(Object.keys(rejected).sort(), ['short', badQueue.jid].sort(), `rejection map ${show(rejected)}`);
    assert.equal(rejected.short.reason, 'jobs must have a reasonable jid parameter');
    assert.equal(rejected.short.payload.jid, 'short', 'the client pairs the reason with its payload');
    assert.match(rejected[badQueue.jid].reason, /^queue names must match/);
    for (const [i, j] of good.entries()) {
      const r = await h.getJob(s, j.jid);
      assert.equal(r.state, 'queued', `bulk job ${i}`);
      assert.deepEqual(r.args, [i]);
    }
    await assertGone(s, 'short', 'a rejected bulk job');
    await assertGone(s, badQueue.jid, 'a rejected bulk job');

    let info = await c.info();
    assert.equal(info.faktory.queues[q], 6, `INFO queues ${show(info.faktory.queues)}`);
    assert.deepEqual(info.faktory.sets, { scheduled: 0, retries: 0, dead: 0, working: 0 });
    assert.equal(info.faktory.total_processed, 0);
    assert.equal(info.faktory.total_failures, 0);
    assert.equal(info.faktory.total_enqueued, 6);
    assert.equal(info.faktory.total_queues, Object.keys(info.faktory.queues).length);
    assert.equal(typeof info.server.faktory_version, 'string');
    nearNow(info.now, 'INFO now');

    // work three by hand: two ACKed, one FAILed, and one held while INFO looks
    const a = await c.fetch(q);
    const b = await c.fetch(q);
    const f = await c.fetch(q);
    const held = await c.fetch(q);
    assert.ok(a && b && f && held, 'four fetched');
    assert.equal(a.jid, jid, 'oldest first');
    assert.deepEqual(a.args, [1, 2, { deep: ['x'] }]);
    assert.deepEqual(a.custom, { tenant: 'acme' });
    info = await c.info();
    assert.equal(info.faktory.sets.working, 4, `working while fetched ${show(info.faktory.sets)}`);
    await c.ack(a.jid);
    await c.ack(b.jid);
    await c.fail(f.jid, boom('nope', 'NopeError'));
    info = await c.info();
    assert.equal(info.faktory.queues[q], 2);
    assert.deepEqual(info.faktory.sets, { scheduled: 0, retries: 1, dead: 0, working: 1 });
    assert.equal(info.faktory.total_processed, 2);
    assert.equal(info.faktory.total_failures, 1);
    assert.equal(info.faktory.total_enqueued, 2);
    await c.ack(held.jid);
    info = await c.info();
    assert.equal(info.faktory.sets.working, 0);
    assert.equal(info.faktory.total_processed, 3);

    assert.equal((await h.getJob(s, a.jid)).state, 'completed');
    assert.equal((await h.getJob(s, held.jid)).state, 'completed');
    const failed = await h.getJob(s, f.jid);
    assert.equal(failed.state, 'retry');
    assert.equal(failed.error.message, 'nope');
    assert.equal(failed.error.type, 'NopeError');
  } finally { await closeClient(c); }
});

// ---------------------------------------------------------------------------
// 2. concurrency

test('200 jobs at concurrency 20: each handled exactly once, all completed over REST', async () => {
  const c = await connect(server);
  const q = fresh('conc');
  const N = 200;
  const seen = new Map();
  let running = 0;
  let peak = 0;
  let w;
  try {
    const jobs = [];
    for (let i = 0; i < N; i++) {
      const j = c.job('Conc', i);
      j.queue = q;
      jobs.push(j);
    }
    assert.deepEqual(await c.pushBulk(jobs), {}, 'no rejections');
    w = await startWorker(server, {
      Conc: (i) => async ({ job }) => {
        running++;
        peak = Math.max(peak, running);
        seen.set(job.jid, (seen.get(job.jid) || 0) + 1);
        assert.equal(job.args[0], i);
        await h.sleep(10 + (i % 7) * 5);
        running--;
      },
    }, { queues: [q], concurrency: 20 });
    await until(() => seen.size === N, `${N} jobs handled`, 60000);
    const done = await until(async () => {
      const { jobs: list } = await h.listAll(server, `queue=${q}&state=completed`);
      return list.length === N ? list : null;
    }, 'all completed over REST', 30000);
    assert.equal(new Set(done.map((j) => j.id)).size, N);
    assert.ok(done.every((j) => j.attempts === 1), 'one attempt each');
    await h.sleep(500); // a duplicate delivery would show up here
    assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'no job handled twice');
    assert.deepEqual(new Set(seen.keys()), new Set(jobs.map((j) => j.jid)));
    assert.ok(peak > 1 && peak <= 20, `ran concurrently, at most 20 at once (peak ${peak})`);
    const counts = await h.queueCounts(server, q);
    assert.equal(counts.completed, N);
    assert.equal(counts.queued + counts.active + counts.retry, 0);
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});

// ---------------------------------------------------------------------------
// 3. failure and the failure object

test('a job that throws goes to retry with its error; MUTATE requeue brings it back with job.failure filled in', async () => {
  const c = await connect(server);
  const q = fresh('fail');
  const type = fresh('Flaky');
  const runs = [];
  let w;
  try {
    w = await startWorker(server, {
      [type]: () => async ({ job }) => {
        runs.push({ at: Date.now(), job });
        if (runs.length === 1) throw boom('flaky the first time', 'FlakyError');
      },
    }, { queues: [q] });
    const job = c.job(type, 'x');
    job.queue = q;
    const jid = await job.push();
    const pushedAt = Date.now();

    const r = await jobInState(server, jid, 'retry');
    assert.equal(r.attempts, 1);
    assert.equal(r.error.message, 'flaky the first time');
    assert.equal(r.error.type, 'FlakyError', 'errtype is String(e.code)');
    assert.ok(Array.isArray(r.error.backtrace) && r.error.backtrace[0] === 'Error: flaky the first time',
      `backtrace ${show(r.error.backtrace)}`);
    const due = h.parseTime(r.run_at, 'run_at') - pushedAt;
    assert.ok(due >= 14000 && due <= 46000, `first retry due in 15-44 s (Faktory backoff), got ${due} ms`);
    assert.equal(runs.length, 1, 'not run again before it is due');
    assert.equal(runs[0].job.failure, undefined, 'no failure object on the first run');

    // MUTATE requeue, through the client's mutation API
    await c.retries.ofType(type).requeue();
    await until(() => runs.length === 2, 'second run after requeue', 10000);
    const failure = runs[1].job.failure;
    assert.ok(failure && typeof failure === 'object', `job.failure on the second run: ${show(runs[1].job)}`);
    assert.equal(failure.retry_count, 0);
    assert.equal(failure.remaining, 25);
    assert.equal(failure.message, 'flaky the first time');
    assert.equal(failure.errtype, 'FlakyError');
    assert.ok(Array.isArray(failure.backtrace) && failure.backtrace[0] === 'Error: flaky the first time',
      `failure.backtrace ${show(failure.backtrace)}`);
    const failedAt = nearNow(failure.failed_at, 'failure.failed_at');
    assert.ok(failedAt >= pushedAt - 1000 && failedAt <= runs[1].at, 'failed_at is when it failed');
    assert.ok('next_at' in failure, `failure.next_at is kept after a requeue: ${show(failure)}`);
    const nextAt = h.parseTime(failure.next_at, 'failure.next_at');
    assert.ok(nextAt - failedAt >= 14000, 'next_at was the scheduled retry');
    assert.equal(runs[1].job.jid, jid);
    assert.deepEqual(runs[1].job.args, ['x']);

    const done = await jobInState(server, jid, 'completed');
    assert.equal(done.attempts, 2);
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});

// ---------------------------------------------------------------------------
// 4. retry 0 and -1

test('retry: 0 is discarded after one failure; retry: -1 is dead at once', async () => {
  const s = await startServer(); // INFO counts
  const c = await connect(s);
  const q = fresh('noretry');
  const runs = [];
  let w;
  try {
    w = await startWorker(s, {
      Doomed: (tag) => { runs.push(tag); throw boom(`doomed ${tag}`, 'DoomError'); },
    }, { queues: [q] });
    const zero = c.job('Doomed', 'zero');
    zero.queue = q;
    zero.retry = 0;
    const neg = c.job('Doomed', 'neg');
    neg.queue = q;
    neg.retry = -1;
    const zjid = await zero.push();
    const njid = await neg.push();

    const dead = await jobInState(s, njid, 'dead');
    assert.equal(dead.attempts, 1);
    assert.equal(dead.error.message, 'doomed neg');
    assert.equal(dead.error.type, 'DoomError');
    await until(async () => {
      const res = await h.api(s, 'GET', '/v1/jobs/' + zjid);
      return res.status === 404 || res.status === 410;
    }, 'retry 0 job gone over REST');
    await assertGone(s, zjid, 'retry 0 after its failure');
    await h.sleep(2500); // neither comes back
    assert.deepEqual(runs.sort(), ['neg', 'zero'], 'each ran once');

    const info = await c.info();
    assert.equal(info.faktory.sets.dead, 1, `INFO sets ${show(info.faktory.sets)}`);
    assert.equal(info.faktory.sets.retries, 0);
    assert.equal(info.faktory.total_failures, 2, 'both FAILs count, the discarded one too');
    assert.equal(info.faktory.total_processed, 0);
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});

// ---------------------------------------------------------------------------
// 5. reservation expiry (slow: ~65 s)

// reserve_for 60 is the least Faktory allows, so this test waits a minute
// for the reservation to run out: it takes about 65 s and is bounded at 90 s.
test('a job that outlives its reservation (reserveFor 60) comes back with failure.errtype ReservationExpired', { timeout: 90000 }, async () => {
  const c = await connect(server);
  const q = fresh('expire');
  const runs = [];
  const hang = gate();
  let w;
  try {
    w = await startWorker(server, {
      Slow: () => async ({ job }) => {
        runs.push({ at: Date.now(), job });
        if (runs.length === 1) await hang.p; // the first run never finishes (until the end)
      },
    }, { queues: [q], concurrency: 2, beatInterval: 5 });
    const job = c.job('Slow');
    job.queue = q;
    job.reserveFor = 60;
    const jid = await job.push();
    await until(() => runs.length === 1, 'first run');
    const fetchedAt = runs[0].at;
    assert.equal(runs[0].job.reserve_for, 60);

    const held = await h.getJob(server, jid);
    assert.equal(held.state, 'active');
    assert.equal(held.reserve_for, 60);
    const ww = await getWorker(server, w.wid);
    assert.ok(ww, 'the worker is listed');
    const entry = ww.jobs.find((j) => j.jid === jid);
    assert.ok(entry, `GET /v1/workers lists the held job: ${show(ww.jobs)}`);
    const until60 = h.parseTime(entry.reserved_until, 'reserved_until') - fetchedAt;
    assert.ok(until60 > 55000 && until60 < 65000, `reserved ~60 s, got ${until60} ms`);

    // the reservation runs out (BEATs every 5 s must not extend it)
    const r = await jobInState(server, jid, 'retry', 80000);
    const lapsed = Date.now() - fetchedAt;
    assert.ok(lapsed >= 59000, `not before 60 s (${lapsed} ms)`);
    assert.equal(r.attempts, 1);
    // REST speaks synq's words for it (docs/api.md); the Faktory view maps them
    assert.equal(r.error && r.error.type, 'LeaseExpired', `REST error ${show(r.error)}`);
    assert.equal(r.error.message, 'lease expired');
    assert.equal(runs.length, 1, 'not handed out again before its retry');

    // the retry would be 15-44 s away: requeue it now and look at what the worker gets
    await c.retries.withJids(jid).requeue();
    await until(() => runs.length === 2, 'fetched again', 8000);
    const failure = runs[1].job.failure;
    assert.ok(failure, `job.failure after the expiry: ${show(runs[1].job)}`);
    assert.equal(failure.errtype, 'ReservationExpired');
    assert.equal(failure.message, 'Faktory job reservation expired');
    assert.equal(failure.retry_count, 0);
    assert.equal(failure.remaining, 25);
    nearNow(failure.failed_at, 'failure.failed_at');
    const done = await jobInState(server, jid, 'completed');
    assert.equal(done.attempts, 2);
  } finally {
    hang.open(); // the first run ends; its late ACK is for a job no longer reserved (+OK)
    if (w) await stopWorker(w);
    await closeClient(c);
  }
  assert.deepEqual(w.errors, [], 'the late ACK is answered +OK');
});

// ---------------------------------------------------------------------------
// 6. quiet and terminate from REST, heard in BEAT

test('POST /v1/workers/{wid}/quiet stops fetching; terminate stops the worker (END)', async () => {
  const c = await connect(server);
  const q = fresh('life');
  const wid = ('w' + process.pid).slice(0, 8);
  const runs = [];
  let w;
  try {
    w = await startWorker(server, {
      Life: (n) => { runs.push(n); },
    }, { queues: [q], wid, labels: ['e2e', 'node'], beatInterval: 1 });
    assert.equal(w.wid, wid);

    const info = await getWorker(server, wid);
    assert.ok(info, 'GET /v1/workers lists the worker');
    assert.equal(info.state, 'running');
    assert.equal(info.pid, process.pid);
    assert.deepEqual(info.labels, ['e2e', 'node']);
    assert.ok(info.connections >= 1, `connections ${info.connections}`);
    h.parseTime(info.last_beat_at, 'last_beat_at');

    // it works
    const j1 = c.job('Life', 1);
    j1.queue = q;
    const jid1 = await j1.push();
    await jobInState(server, jid1, 'completed');
    assert.deepEqual(runs, [1]);

    // BEATs keep coming (every 1 s here)
    const beat0 = h.parseTime((await getWorker(server, wid)).last_beat_at);
    await until(async () => h.parseTime((await getWorker(server, wid)).last_beat_at) > beat0, 'a later BEAT', 5000);

    const nope = await h.api(server, 'POST', '/v1/workers/no-such-wid/quiet');
    assert.equal(nope.status, 404, `unknown wid -> ${nope.status}`);

    const quiet = await h.api(server, 'POST', `/v1/workers/${wid}/quiet`);
    assert.equal(quiet.status, 200, `quiet -> ${quiet.status} ${show(quiet.body)}`);
    assert.equal(quiet.body.wid, wid);
    assert.equal(quiet.body.state, 'quiet');
    await until(() => w.quieted, 'the worker hears quiet in a BEAT reply', 5000);
    await h.sleep(2500); // a FETCH that was blocking when quiet came ends with $-1

    const j2 = c.job('Life', 2);
    j2.queue = q;
    const jid2 = await j2.push();
    await h.sleep(3000);
    assert.equal((await h.getJob(server, jid2)).state, 'queued', 'a quiet worker takes nothing');
    assert.deepEqual(runs, [1]);
    assert.equal((await getWorker(server, wid)).state, 'quiet');

    const term = await h.api(server, 'POST', `/v1/workers/${wid}/terminate`);
    assert.equal(term.status, 200, `terminate -> ${term.status} ${show(term.body)}`);
    assert.equal(term.body.state, 'terminate');
    await until(() => w.stopped !== null, 'the worker stops on terminate', 5000);
    await w.stopped; // pool drained: END on every connection
    await until(async () => {
      const x = await getWorker(server, wid);
      return !x || x.connections === 0;
    }, 'the worker gone or without connections', 5000);
    const again = await h.api(server, 'POST', `/v1/workers/${wid}/quiet`);
    assert.ok(again.status === 404 || (again.status === 200 && again.body.state === 'terminate'),
      `state never goes back: ${again.status} ${show(again.body)}`);
    assert.equal((await h.getJob(server, jid2)).state, 'queued', 'still queued after the worker left');
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});

// ---------------------------------------------------------------------------
// 7. MUTATE

test('MUTATE through the client: kill (retries -> dead), requeue (dead -> queued), discard', async () => {
  const s = await startServer(); // INFO sets are server-wide
  const c = await connect(s);
  const q = fresh('mut');
  try {
    // three Mut jobs and one Other in the retry set
    const jids = [];
    for (const [type, arg] of [['Mut', 1], ['Mut', 2], ['Mut', 3], ['Other', 4]]) {
      const j = c.job(type, arg);
      j.queue = q;
      jids.push(await j.push());
    }
    for (let i = 0; i < 4; i++) {
      const f = await c.fetch(q);
      assert.ok(f, `fetch ${i}`);
      await c.fail(f.jid, boom(`failed ${f.args[0]}`, 'MutError'));
    }
    const [m1, m2, m3, other] = jids;
    for (const jid of jids) assert.equal((await h.getJob(s, jid)).state, 'retry');
    let info = await c.info();
    assert.deepEqual(info.faktory.sets, { scheduled: 0, retries: 4, dead: 0, working: 0 });
    assert.equal(info.faktory.total_failures, 4);

    // kill: only the Mut jobs
    await c.retries.ofType('Mut').kill();
    for (const jid of [m1, m2, m3]) {
      const j = await h.getJob(s, jid);
      assert.equal(j.state, 'dead', `killed ${jid}`);
      assert.equal(j.error.type, 'MutError', 'the error stays');
    }
    assert.equal((await h.getJob(s, other)).state, 'retry', 'ofType spares other jobtypes');
    info = await c.info();
    assert.deepEqual(info.faktory.sets, { scheduled: 0, retries: 1, dead: 3, working: 0 });
    const failuresAfterKill = info.faktory.total_failures; // checked at the end

    // requeue one dead job by jid
    await c.dead.withJids(m1).requeue();
    const back = await h.getJob(s, m1);
    assert.equal(back.state, 'queued');
    info = await c.info();
    assert.equal(info.faktory.queues[q], 1);
    assert.equal(info.faktory.sets.dead, 2);
    const f = await c.fetch(q);
    assert.equal(f.jid, m1, 'the requeued job is fetched');
    assert.equal(f.failure.errtype, 'MutError');
    await c.ack(m1);
    assert.equal((await h.getJob(s, m1)).state, 'completed');

    // discard one by a glob on its JSON, then the rest of the dead set by jobtype
    await c.dead.matching('*"args":\\[2\\]*').discard(); // Redis glob: [ ] escaped
    await assertGone(s, m2, 'discarded by glob');
    assert.equal((await h.getJob(s, m3)).state, 'dead', 'the glob spares the other');
    info = await c.info();
    assert.equal(info.faktory.sets.dead, 1);
    await c.dead.ofType('Mut').discard();
    await assertGone(s, m3, 'discarded by jobtype');

    // requeue the retry set: Other goes back to its queue
    await c.retries.requeue();
    assert.equal((await h.getJob(s, other)).state, 'queued');
    info = await c.info();
    assert.deepEqual(info.faktory.sets, { scheduled: 0, retries: 0, dead: 0, working: 0 });
    assert.equal(info.faktory.queues[q], 1);

    // scheduled: clear
    const later = c.job('Mut', 'later');
    later.queue = q;
    later.at = new Date(Date.now() + 3600e3);
    const ljid = await later.push();
    assert.equal((await h.getJob(s, ljid)).state, 'scheduled');
    assert.equal((await c.info()).faktory.sets.scheduled, 1);
    await c.scheduled.clear();
    await assertGone(s, ljid, 'scheduled set cleared');
    info = await c.info();
    assert.equal(info.faktory.sets.scheduled, 0);
    assert.equal(info.faktory.total_processed, 1, 'the one ACK');

    // Faktory bumps the failure counter only on FAIL or an expired
    // reservation; moving retries to dead is no failure (a kill once counted).
    assert.equal(failuresAfterKill, 4, 'a kill is not a failure');
    assert.equal(info.faktory.total_failures, 4, 'nor is a requeue, a discard or a clear');
  } finally { await closeClient(c); }
});

// ---------------------------------------------------------------------------
// 8. password

test('password: the right one in the URL works; a wrong or missing one is refused with "Invalid password"', async () => {
  const s = await startServer({ args: ['--faktory-password', 'secret'] });
  const [host, port] = s.faktory.split(':');
  const c = await connect(s, { url: `tcp://:secret@${host}:${port}` });
  try {
    const j = c.job('Guarded', 'ok');
    const jid = await j.push();
    assert.equal((await h.getJob(s, jid)).state, 'queued');
    assert.equal((await c.info()).faktory.queues.default, 1);

    const wrong = await rejection(faktory.connect({ url: `tcp://:wrong@${host}:${port}` }), 'wrong password');
    assert.match(String(wrong.message), /Invalid password/, `wrong password: ${wrong.message}`);
    const none = await rejection(faktory.connect({ url: `tcp://${host}:${port}` }), 'no password');
    assert.match(String(none.message), /Invalid password/, `no password: ${none.message}`);
    const opt = await connect(s, { url: `tcp://${host}:${port}`, password: 'secret' });
    await closeClient(opt);

    // a worker with the password in its URL works jobs
    const runs = [];
    const w = await startWorker(s, { Guarded: (x) => { runs.push(x); } }, { url: `tcp://:secret@${host}:${port}` });
    try {
      await jobInState(s, jid, 'completed');
      assert.deepEqual(runs, ['ok']);
    } finally { await stopWorker(w); }
  } finally { await closeClient(c); }
});

// ---------------------------------------------------------------------------
// 9. across the two interfaces

test('pushed over FWP, worked over HTTP (result read over REST); posted over HTTP, worked by faktory-worker', async () => {
  const c = await connect(server);
  const q = fresh('cross');
  let w;
  try {
    // FWP -> HTTP
    const j = c.job('Cross', { n: 21 });
    j.queue = q;
    const jid = await j.push();
    const fetched = await h.fetchJobs(server, { queues: [q], worker: 'http-w', max: 1, wait: '2s' });
    assert.equal(fetched.length, 1);
    assert.equal(fetched[0].id, jid);
    assert.deepEqual(fetched[0].args, [{ n: 21 }]);
    assert.equal(fetched[0].type, 'Cross');
    const ack = await h.api(server, 'POST', `/v1/jobs/${jid}/ack`, { worker: 'http-w', result: { doubled: 42 } });
    assert.equal(ack.status, 200, `ack -> ${ack.status} ${show(ack.body)}`);
    const done = await h.getJob(server, jid);
    assert.equal(done.state, 'completed');
    assert.deepEqual(done.result, { doubled: 42 });
    assert.equal(done.attempts, 1);

    // FWP -> FWP with synq's ACK "result" extension, read over REST
    const j2 = c.job('Cross', { n: 5 });
    j2.queue = q;
    const jid2 = await j2.push();
    const f2 = await c.fetch(q);
    assert.equal(f2.jid, jid2);
    assert.equal(await c.sendWithAssert(['ACK', JSON.stringify({ jid: jid2, result: { doubled: 10 } })], 'OK'), 'OK');
    const done2 = await h.getJob(server, jid2);
    assert.equal(done2.state, 'completed');
    assert.deepEqual(done2.result, { doubled: 10 });

    // HTTP -> FWP
    const seen = [];
    w = await startWorker(server, {
      FromHttp: (...args) => async ({ job }) => { seen.push({ args, job }); },
    }, { queues: [q] });
    const args = [1, 'two', { three: [3] }, null, true];
    const posted = await h.enqueue(server, { queue: q, type: 'FromHttp', args, custom: { from: 'http' } });
    await until(() => seen.length === 1, 'the worker ran the HTTP job');
    assert.deepEqual(seen[0].args, args, 'args arrive as given');
    assert.equal(seen[0].job.jid, posted.id);
    assert.equal(seen[0].job.jobtype, 'FromHttp');
    assert.equal(seen[0].job.queue, q);
    assert.deepEqual(seen[0].job.custom, { from: 'http' });
    const fin = await jobInState(server, posted.id, 'completed');
    assert.equal(fin.attempts, 1);
    assert.equal(fin.error, null);

    // a scalar args over HTTP arrives wrapped in an array
    const one = await h.enqueue(server, { queue: q, type: 'FromHttp', args: { k: 'v' } });
    await until(() => seen.length === 2, 'the second HTTP job');
    assert.deepEqual(seen[1].args, [{ k: 'v' }]);
    await jobInState(server, one.id, 'completed');
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});

// ---------------------------------------------------------------------------
// 10. crash safety

test('kill -9 after 100 acknowledged PUSHes: all 100 are there after a restart', async () => {
  const s = await startServer();
  s.expectKilled = true;
  const c = await connect(s);
  const q = fresh('crash');
  const jids = [];
  try {
    await h.pool(100, 10, async (i) => {
      const j = c.job('Durable', i);
      j.queue = q;
      jids.push(await j.push()); // resolves on +OK
    });
  } finally {
    await closeClient(c).catch(() => {});
  }
  assert.equal(jids.length, 100);
  await s.kill();
  const s2 = await startServer({ dataDir: s.dataDir });
  const c2 = await connect(s2);
  try {
    for (const jid of jids) {
      const j = await h.getJob(s2, jid);
      assert.equal(j.state, 'queued', `job ${jid} after kill -9`);
      assert.equal(j.queue, q);
    }
    const { jobs } = await h.listAll(s2, `queue=${q}`);
    assert.equal(jobs.length, 100);
    assert.deepEqual(jobs.map((j) => j.args[0]).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    assert.equal((await c2.info()).faktory.queues[q], 100);
    const f = await c2.fetch(q);
    assert.ok(jids.includes(f.jid), 'fetchable after the restart');
    await c2.ack(f.jid);
  } finally { await closeClient(c2); }
});

// ---------------------------------------------------------------------------
// 11. custom: unique_for, expires_at

test('custom.unique_for: a second push is refused with NOTUNIQUE; custom.expires_at: an expired job never runs', async () => {
  const c = await connect(server);
  const q = fresh('ent');
  const runs = [];
  let w;
  try {
    const make = (args, custom) => {
      const j = c.job('Uniq', ...args);
      j.queue = q;
      j.custom = custom;
      return j;
    };
    const first = await make([7, 'a'], { unique_for: 60 }).push();
    const err = await rejection(make([7, 'a'], { unique_for: 60 }).push(), 'duplicate push');
    assert.match(String(err.message), /NOTUNIQUE/, `message: ${err.message}`);
    assert.match(String(err.message), /Job not unique/, `message: ${err.message}`);
    const dupe = make([7, 'a'], { unique_for: 60 });
    const rej = await c.pushBulk([dupe]);
    assert.equal(rej[dupe.jid] && rej[dupe.jid].reason, 'Job not unique', `PUSHB ${show(rej)}`);
    await assertGone(server, dupe.jid, 'the refused duplicate');
    const other = await make([7, 'b'], { unique_for: 60 }).push(); // other args: not a duplicate
    assert.equal((await h.getJob(server, first)).state, 'queued');
    assert.equal((await h.getJob(server, other)).state, 'queued');

    // expires_at: one in the past, one far ahead
    const stale = await make(['stale'], { expires_at: new Date(Date.now() - 1000).toISOString() }).push();
    const fresh1 = await make(['fresh'], { expires_at: new Date(Date.now() + 3600e3).toISOString() }).push();
    w = await startWorker(server, { Uniq: (...args) => { runs.push(args); } }, { queues: [q] });
    await jobInState(server, fresh1, 'completed');
    const cancelled = await jobInState(server, stale, 'cancelled');
    assert.ok(cancelled.finished_at, 'cancelled jobs are final');
    await jobInState(server, first, 'completed');
    await jobInState(server, other, 'completed');
    await h.sleep(500);
    assert.ok(!runs.some((a) => a[0] === 'stale'), `the expired job never ran: ${show(runs)}`);
    assert.equal(runs.length, 3, `ran: ${show(runs)}`);

    // once the unique job completed the key is free again (unique_until success)
    const again = await make([7, 'a'], { unique_for: 60 }).push();
    await jobInState(server, again, 'completed');
    assert.deepEqual(w.errors, []);
  } finally {
    if (w) await stopWorker(w);
    await closeClient(c);
  }
});
