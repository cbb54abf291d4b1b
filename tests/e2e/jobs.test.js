// Job lifecycle over the JSON API (docs/api.md): enqueue, fetch, ack, fail,
// retries, scheduling, priorities, leases, long-poll, pause, bulk calls,
// listing, cancel/delete/purge, and every bad input with its error.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server; // default limits
let small; // --max-body 1024
let seq = 0;
// A queue (or id) name of its own for each test, so tests share one server.
const uq = (name) => `${name}-${process.pid}-${++seq}`;

before(async () => {
  server = await h.startServer();
  small = await h.startServer({ args: ['--max-body', '1024'] });
});

after(async () => {
  const codes = [];
  if (small) codes.push(await small.stop());
  if (server) codes.push(await server.stop());
  assert.deepEqual(codes, [0, 0], 'servers exit 0 on SIGTERM');
});

const FIELDS = ['id', 'queue', 'type', 'args', 'priority', 'run_at', 'retry', 'reserve_for', 'custom',
  'state', 'attempts', 'created_at', 'enqueued_at', 'started_at', 'finished_at', 'result', 'error'];
const TIMES = ['run_at', 'created_at', 'enqueued_at', 'started_at', 'finished_at'];
const STATES = ['scheduled', 'queued', 'active', 'retry', 'completed', 'dead', 'cancelled'];

// Checks the documented shape of a job, then the `want` fields exactly.
function checkJob(job, want = {}) {
  assert.ok(job && typeof job === 'object', `job object: ${JSON.stringify(job)}`);
  const ctx = JSON.stringify(job);
  for (const k of FIELDS) assert.ok(k in job, `job has "${k}": ${ctx}`);
  assert.equal(typeof job.id, 'string');
  assert.ok(/^[A-Za-z0-9_.:-]{1,128}$/.test(job.id), `id chars: ${job.id}`);
  assert.equal(typeof job.queue, 'string');
  assert.equal(typeof job.type, 'string');
  assert.ok(Number.isInteger(job.priority) && job.priority >= 1 && job.priority <= 9, `priority: ${ctx}`);
  assert.ok(Number.isInteger(job.retry), `retry: ${ctx}`);
  assert.ok(Number.isInteger(job.reserve_for), `reserve_for: ${ctx}`);
  assert.ok(Number.isInteger(job.attempts) && job.attempts >= 0, `attempts: ${ctx}`);
  assert.ok(STATES.includes(job.state), `state: ${ctx}`);
  for (const k of TIMES) if (job[k] !== null) h.parseTime(job[k], k);
  assert.notEqual(job.created_at, null, 'created_at is set');
  if (job.error !== null) {
    assert.equal(typeof job.error, 'object');
    for (const k of ['message', 'type', 'backtrace']) assert.ok(k in job.error, `error has "${k}": ${ctx}`);
  }
  if (job.state === 'active') {
    assert.equal(typeof job.worker, 'string', `active job has worker: ${ctx}`);
    h.parseTime(job.lease_expires_at, 'lease_expires_at');
  } else {
    assert.ok(job.worker === undefined || job.worker === null, `worker only when active: ${ctx}`);
    assert.ok(job.lease_expires_at === undefined || job.lease_expires_at === null,
      `lease_expires_at only when active: ${ctx}`);
  }
  for (const [k, v] of Object.entries(want)) assert.deepEqual(job[k], v, `job.${k} in ${ctx}`);
}

const t = (s) => (s === null ? null : h.parseTime(s));

// Decodes the 48-bit millisecond time of a ULID.
function ulidMs(id) {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let ms = 0;
  for (const c of id.slice(0, 10)) ms = ms * 32 + A.indexOf(c);
  return ms;
}

async function fetchOne(srv, body) {
  const jobs = await h.fetchJobs(srv, { max: 1, ...body });
  assert.ok(jobs.length <= 1);
  return jobs[0] || null;
}

// Fetches from `queues` with long-polls until a job comes (or timeoutMs).
async function fetchSoon(srv, body, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const j = await fetchOne(srv, { wait: '1s', ...body });
    if (j) return j;
  }
  throw new Error(`no job handed out within ${timeoutMs} ms for ${JSON.stringify(body)}`);
}

async function assertQueueEmpty(srv, q, what) {
  const counts = await h.queueCounts(srv, q);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  assert.equal(total, 0, `${what}: queue ${q} should hold nothing, counts ${JSON.stringify(counts)}`);
  const { jobs } = await h.listAll(srv, `queue=${q}`);
  assert.deepEqual(jobs.map((j) => j.id), [], `${what}: GET /v1/jobs?queue=${q} should be empty`);
}

// ---------------------------------------------------------------------------
// Round trips

test('enqueue, fetch, ack: every field at every step', async () => {
  const q = uq('rt');
  const t0 = Date.now();
  const res = await h.api(server, 'POST', '/v1/jobs',
    { queue: q, type: 'send_email', args: [1, 'two', { three: 3 }], custom: { tenant: 'acme' } });
  const t1 = Date.now();
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
  const j = res.body;
  checkJob(j, {
    queue: q, type: 'send_email', args: [1, 'two', { three: 3 }], custom: { tenant: 'acme' },
    priority: 5, retry: 25, reserve_for: 1800, state: 'queued', attempts: 0,
    run_at: null, started_at: null, finished_at: null, result: null, error: null,
  });
  assert.match(j.id, h.ULID_RE, 'server-made id is ULID-like');
  assert.ok(j.backoff === undefined || j.backoff === null, 'backoff only when set');
  const created = t(j.created_at);
  assert.ok(created >= t0 - 1000 && created <= t1 + 1000, `created_at ${j.created_at} near now`);
  assert.notEqual(j.enqueued_at, null, 'an immediate job is enqueued at once');
  assert.ok(t(j.enqueued_at) >= created && t(j.enqueued_at) - created < 1000, 'enqueued_at at creation');

  assert.deepEqual(await h.getJob(server, j.id), j, 'GET returns the stored job');

  const f = await h.api(server, 'POST', '/v1/fetch', { queues: [q], worker: 'w1' });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  assert.equal(f.body.jobs.length, 1);
  const a = f.body.jobs[0];
  checkJob(a, {
    id: j.id, queue: q, type: 'send_email', args: [1, 'two', { three: 3 }], custom: { tenant: 'acme' },
    state: 'active', attempts: 1, worker: 'w1', created_at: j.created_at, enqueued_at: j.enqueued_at,
    finished_at: null, result: null, error: null,
  });
  assert.ok(t(a.started_at) >= t(j.enqueued_at), 'started_at after enqueued_at');
  const leaseMs = t(a.lease_expires_at) - t(a.started_at);
  assert.ok(Math.abs(leaseMs - 1800 * 1000) < 1000, `lease is reserve_for from the fetch (${leaseMs} ms)`);
  assert.equal((await h.getJob(server, j.id)).state, 'active');

  const ack = await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, { worker: 'w1', result: { sent: true, n: [1, 2] } });
  assert.equal(ack.status, 200, JSON.stringify(ack.body));
  checkJob(ack.body, {
    id: j.id, state: 'completed', attempts: 1, result: { sent: true, n: [1, 2] }, error: null,
    started_at: a.started_at, created_at: j.created_at,
  });
  assert.ok(t(ack.body.finished_at) >= t(a.started_at), 'finished_at set at ack');
  assert.deepEqual(await h.getJob(server, j.id), ack.body, 'GET after ack');

  assert.deepEqual(await h.fetchJobs(server, { queues: [q] }), [], 'nothing left to hand out');
  const counts = await h.queueCounts(server, q);
  assert.deepEqual(counts, { ...h.ZERO_COUNTS, completed: 1 });
});

test('worker is optional on fetch and ack; ack without body stores a null result', async () => {
  const q = uq('nowkr');
  const j = await h.enqueue(server, { queue: q, type: 't' });
  const a = await fetchOne(server, { queues: [q] });
  assert.equal(a.id, j.id);
  assert.equal(a.worker, '');
  const ack = await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`);
  assert.equal(ack.status, 200, JSON.stringify(ack.body));
  checkJob(ack.body, { state: 'completed', result: null });
});

test('server ids are unique, ULID-like and sortable in creation order', async () => {
  const q = uq('ids');
  const jobs = [];
  for (let i = 0; i < 40; i++) {
    jobs.push(await h.enqueue(server, { queue: q, type: 't' }));
    if (i % 10 === 9) await h.sleep(3);
  }
  const bulk = await h.api(server, 'POST', '/v1/jobs/bulk', Array.from({ length: 50 }, () => ({ queue: q, type: 't' })));
  assert.equal(bulk.status, 201, JSON.stringify(bulk.body));
  jobs.push(...bulk.body.jobs);
  const ids = jobs.map((j) => j.id);
  for (const id of ids) assert.match(id, h.ULID_RE);
  assert.equal(new Set(ids).size, ids.length, 'ids unique');
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1] < ids[i], `ids increase: ${ids[i - 1]} < ${ids[i]}`);
  for (const j of jobs) {
    assert.ok(Math.abs(ulidMs(j.id) - t(j.created_at)) < 2000, `id time ${ulidMs(j.id)} ~ created_at ${j.created_at}`);
  }
});

test('client-given ids are kept; a second job with the same id is 409 conflict', async () => {
  const q = uq('cid');
  const id = `my-Job_1.a:${seq}`;
  const j = await h.enqueue(server, { id, queue: q, type: 't', args: { a: 1 } });
  checkJob(j, { id, args: { a: 1 } });
  const max = 'x'.repeat(120) + String(seq).padStart(8, '0');
  assert.equal(max.length, 128);
  checkJob(await h.enqueue(server, { id: max, queue: q, type: 't' }), { id: max });
  const dup = await h.api(server, 'POST', '/v1/jobs', { id, queue: uq('other'), type: 'u' });
  h.assertError(dup, 409, 'conflict', undefined, 'duplicate id');
  const again = await h.getJob(server, id);
  assert.equal(again.type, 't', 'the first job is unchanged');
  assert.equal(again.queue, q);
});

test('fail stores {message,type,backtrace}; retries, then dead; manual retry', async () => {
  const q = uq('fail');
  const j = await h.enqueue(server, { queue: q, type: 't', retry: 1, backoff: { type: 'fixed', base: '200ms' } });
  checkJob(j, { retry: 1, state: 'queued' });
  assert.equal(j.backoff.type, 'fixed');
  assert.equal(j.backoff.base, '200ms');

  const a1 = await fetchOne(server, { queues: [q], worker: 'w1' });
  assert.equal(a1.id, j.id);
  const tSend = Date.now();
  const f1 = await h.api(server, 'POST', `/v1/jobs/${j.id}/fail`,
    { worker: 'w1', message: 'boom', type: 'RuntimeError', backtrace: ['app.rb:1', 'lib.rb:2'] });
  const tRecv = Date.now();
  assert.equal(f1.status, 200, JSON.stringify(f1.body));
  checkJob(f1.body, {
    id: j.id, state: 'retry', attempts: 1,
    error: { message: 'boom', type: 'RuntimeError', backtrace: ['app.rb:1', 'lib.rb:2'] }, result: null,
  });
  const due = t(f1.body.run_at);
  assert.ok(due >= tSend + 200 - 50 && due <= tRecv + 200 + 50, `retry due 200ms after the failure: ${f1.body.run_at}`);

  const a2 = await fetchSoon(server, { queues: [q], worker: 'w2' });
  checkJob(a2, { id: j.id, state: 'active', attempts: 2, worker: 'w2' });
  assert.equal(a2.error.message, 'boom', 'the last error stays while active again');
  assert.ok(t(a2.started_at) >= due, 'not handed out before its retry time');

  // The same three fields may come wrapped in "error".
  const f2 = await h.api(server, 'POST', `/v1/jobs/${j.id}/fail`,
    { worker: 'w2', error: { message: 'bang', type: 'IOError', backtrace: ['x.py:9'] } });
  assert.equal(f2.status, 200, JSON.stringify(f2.body));
  checkJob(f2.body, { state: 'dead', attempts: 2, error: { message: 'bang', type: 'IOError', backtrace: ['x.py:9'] } });
  assert.notEqual(f2.body.finished_at, null, 'finished_at set when dead');

  const dead = await h.listAll(server, `state=dead&queue=${q}`);
  assert.deepEqual(dead.jobs.map((x) => x.id), [j.id], 'dead job listed under state=dead');
  const deadAll = await h.listAll(server, 'state=dead');
  assert.ok(deadAll.jobs.some((x) => x.id === j.id), 'listed under state=dead without a queue filter');
  assert.ok(deadAll.jobs.every((x) => x.state === 'dead'));
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, dead: 1 });
  assert.deepEqual(await h.fetchJobs(server, { queues: [q] }), [], 'a dead job is not handed out');

  const r = await h.api(server, 'POST', `/v1/jobs/${j.id}/retry`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  checkJob(r.body, { id: j.id, state: 'queued', attempts: 0 });
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 1 });

  const a3 = await fetchOne(server, { queues: [q], worker: 'w3' });
  checkJob(a3, { id: j.id, state: 'active', attempts: 1, worker: 'w3' });
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${j.id}/retry`), 409, 'invalid_state', undefined, 'retry an active job');
  const ack = await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, { worker: 'w3', result: 'ok' });
  checkJob(ack.body, { state: 'completed', result: 'ok' });
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${j.id}/retry`), 409, 'invalid_state', undefined, 'retry a completed job');
  h.assertError(await h.api(server, 'POST', '/v1/jobs/no-such-job-xyz/retry'), 404, 'not_found', undefined, 'retry unknown');
});

test('retry: 2 means three failures before dead; retry:false dies at once', async () => {
  const q = uq('retry2');
  const j = await h.enqueue(server, { queue: q, type: 't', retry: 2, backoff: { type: 'fixed', base: '200ms' } });
  const states = [];
  for (let n = 1; n <= 3; n++) {
    const a = await fetchSoon(server, { queues: [q], worker: 'w' });
    assert.equal(a.id, j.id);
    assert.equal(a.attempts, n);
    const f = await h.api(server, 'POST', `/v1/jobs/${j.id}/fail`, { worker: 'w', message: `m${n}`, type: 'E', backtrace: [] });
    assert.equal(f.status, 200, JSON.stringify(f.body));
    states.push(f.body.state);
    assert.equal(f.body.error.message, `m${n}`);
  }
  assert.deepEqual(states, ['retry', 'retry', 'dead']);

  const q2 = uq('retryfalse');
  const k = await h.enqueue(server, { queue: q2, type: 't', retry: false });
  assert.equal(k.retry, 0);
  checkJob(await h.enqueue(server, { queue: q2, type: 't', retry: true }), { retry: 25 });
  const a = await fetchOne(server, { queues: [q2], worker: 'w' });
  assert.equal(a.id, k.id);
  const f = await h.api(server, 'POST', `/v1/jobs/${k.id}/fail`, { worker: 'w', message: 'x' });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  assert.equal(f.body.state, 'dead');
});

test('retry delays: default (15-24 s), exponential with max, and manual retry of a retry job', async () => {
  const q = uq('backoff');
  // Default: (n-1)^4 + 15 + rand(0..9)*n seconds; n = 1 gives 15-24 s.
  const d = await h.enqueue(server, { queue: q, type: 'default' });
  await fetchOne(server, { queues: [q], worker: 'w' });
  let t0 = Date.now();
  let f = await h.api(server, 'POST', `/v1/jobs/${d.id}/fail`, { worker: 'w', message: 'x' });
  let t1 = Date.now();
  assert.equal(f.body.state, 'retry');
  let due = t(f.body.run_at);
  assert.ok(due >= t0 + 15000 - 50 && due <= t1 + 24000 + 50, `default first retry 15-24 s later: ${f.body.run_at}`);
  // A retry job can be sent back by hand at once, attempts reset.
  const r = await h.api(server, 'POST', `/v1/jobs/${d.id}/retry`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  checkJob(r.body, { state: 'queued', attempts: 0 });
  const again = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(again.id, d.id);
  assert.equal(again.attempts, 1);
  await h.api(server, 'POST', `/v1/jobs/${d.id}/ack`, { worker: 'w' });

  // Exponential: base * 2^(n-1), capped by max: 200ms, then min(400ms, 300ms).
  const e = await h.enqueue(server, { queue: q, type: 'exp', backoff: { type: 'exponential', base: '200ms', max: '300ms' } });
  await fetchOne(server, { queues: [q], worker: 'w' });
  t0 = Date.now();
  f = await h.api(server, 'POST', `/v1/jobs/${e.id}/fail`, { worker: 'w', message: 'x' });
  t1 = Date.now();
  due = t(f.body.run_at);
  assert.ok(due >= t0 + 200 - 50 && due <= t1 + 200 + 50, `first exponential retry after 200ms: ${f.body.run_at}`);
  await fetchSoon(server, { queues: [q], worker: 'w' });
  t0 = Date.now();
  f = await h.api(server, 'POST', `/v1/jobs/${e.id}/fail`, { worker: 'w', message: 'x' });
  t1 = Date.now();
  due = t(f.body.run_at);
  assert.ok(due >= t0 + 300 - 50 && due <= t1 + 300 + 50, `second exponential retry capped at 300ms: ${f.body.run_at}`);
});

// ---------------------------------------------------------------------------
// Scheduling and ordering

test('delayed jobs (delay and run_at) are not handed out before their time, then are', async () => {
  const q = uq('delay');
  const t0 = Date.now();
  const a = await h.enqueue(server, { queue: q, type: 'later', delay: '2s' });
  const t1 = Date.now();
  checkJob(a, { state: 'scheduled', attempts: 0, enqueued_at: null, started_at: null });
  const dueA = t(a.run_at);
  assert.ok(dueA >= t0 + 2000 - 50 && dueA <= t1 + 2000 + 50, `run_at = now + delay: ${a.run_at}`);

  const when = new Date(Date.now() + 3000);
  const b = await h.enqueue(server, { queue: q, type: 'at', run_at: when.toISOString() });
  checkJob(b, { state: 'scheduled', enqueued_at: null });
  assert.ok(Math.abs(t(b.run_at) - when.getTime()) < 1, `run_at kept: ${b.run_at} vs ${when.toISOString()}`);

  // Numeric delay in seconds.
  const c = await h.enqueue(server, { queue: uq('delaynum'), type: 'n', delay: 3600 });
  checkJob(c, { state: 'scheduled' });
  assert.ok(Math.abs(t(c.run_at) - Date.now() - 3600 * 1000) < 5000, `numeric delay: ${c.run_at}`);

  const early = await h.fetchJobs(server, { queues: [q], max: 10 });
  if (Date.now() < dueA) { // otherwise this machine was too slow to tell
    assert.deepEqual(early, [], 'nothing handed out before run_at');
    const counts = await h.queueCounts(server, q);
    if (Date.now() < dueA) assert.deepEqual(counts, { ...h.ZERO_COUNTS, scheduled: 2 });
  }

  const got = [...early];
  const deadline = Date.now() + 20000;
  while (got.length < 2 && Date.now() < deadline) got.push(...await h.fetchJobs(server, { queues: [q], max: 10, wait: '1s' }));
  assert.deepEqual(got.map((x) => x.id), [a.id, b.id], 'both handed out, earliest first');
  for (const [x, due] of [[got[0], dueA], [got[1], t(b.run_at)]]) {
    assert.ok(t(x.started_at) >= due, `started_at ${x.started_at} not before run_at`);
    assert.notEqual(x.enqueued_at, null, 'enqueued_at set once due');
    assert.ok(t(x.enqueued_at) >= due, `enqueued_at ${x.enqueued_at} not before run_at`);
  }
});

test('priorities: higher first, FIFO within a priority', async () => {
  const spec = [['a', 5], ['b', 1], ['c', 9], ['d', 5], ['e', 9], ['f', 1], ['g', 5], ['h', 3]];
  const want = ['c', 'e', 'a', 'd', 'g', 'h', 'b', 'f'];
  // One at a time.
  const q = uq('prio');
  for (const [n, p] of spec) checkJob(await h.enqueue(server, { id: `${q}-${n}`, queue: q, type: 't', priority: p }), { priority: p });
  const order = [];
  for (let i = 0; i < spec.length; i++) order.push((await fetchOne(server, { queues: [q] })).id);
  assert.deepEqual(order, want.map((n) => `${q}-${n}`));
  assert.deepEqual(await h.fetchJobs(server, { queues: [q] }), []);
  // Several at once, same order.
  const q2 = uq('prio');
  for (const [n, p] of spec) await h.enqueue(server, { id: `${q2}-${n}`, queue: q2, type: 't', priority: p });
  const some = await h.fetchJobs(server, { queues: [q2], max: 5 });
  const rest = await h.fetchJobs(server, { queues: [q2], max: 100 });
  assert.deepEqual([...some, ...rest].map((j) => j.id), want.map((n) => `${q2}-${n}`));
  assert.equal(some.length, 5, 'max is honoured');
});

test('queues are tried in the order given', async () => {
  const low = uq('low');
  const crit = uq('crit');
  const l1 = await h.enqueue(server, { queue: low, type: 't', priority: 9 });
  const l2 = await h.enqueue(server, { queue: low, type: 't' });
  const c1 = await h.enqueue(server, { queue: crit, type: 't', priority: 1 });
  const c2 = await h.enqueue(server, { queue: crit, type: 't', priority: 1 });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await fetchOne(server, { queues: [uq('absent'), crit, low] })).id);
  assert.deepEqual(ids, [c1.id, c2.id, l1.id, l2.id]);

  const l3 = await h.enqueue(server, { queue: low, type: 't' });
  const c3 = await h.enqueue(server, { queue: crit, type: 't', priority: 9 });
  const both = await h.fetchJobs(server, { queues: [low, crit], max: 10 });
  assert.deepEqual(both.map((j) => j.id), [l3.id, c3.id], 'max spans queues, in the order given');
  assert.deepEqual(both.map((j) => j.queue), [low, crit]);
});

test('default queue is "default"', async () => {
  // Other tests never use "default", so this one owns it.
  const j = await h.enqueue(server, { type: 'dflt' });
  assert.equal(j.queue, 'default');
  const a = await fetchOne(server, {});
  assert.equal(a.id, j.id, 'fetch without queues takes from "default"');
});

// ---------------------------------------------------------------------------
// Leases

test('lease expiry: retry or dead with "lease expired", attempts counted; late calls are lease_lost', async () => {
  const q = uq('lease');
  // retry 0: dead after one expiry.
  const dead = await h.enqueue(server, { queue: q, type: 'dead', reserve_for: 1, retry: 0 });
  // retry 1 with a long backoff: stays in retry after one expiry.
  const retry = await h.enqueue(server, { queue: q, type: 'retry', reserve_for: 1, retry: 1, backoff: { type: 'fixed', base: '1h' } });
  // retry 1 with a short backoff: expires twice, then dead with 2 attempts.
  const twice = await h.enqueue(server, { queue: q, type: 'twice', reserve_for: 1, retry: 1, backoff: { type: 'fixed', base: '200ms' } });
  const got = await h.fetchJobs(server, { queues: [q], max: 3, worker: 'w1' });
  assert.deepEqual(got.map((j) => j.id), [dead.id, retry.id, twice.id]);
  for (const a of got) {
    checkJob(a, { state: 'active', worker: 'w1', reserve_for: 1, attempts: 1 });
    const ms = t(a.lease_expires_at) - t(a.started_at);
    assert.ok(Math.abs(ms - 1000) < 50, `lease of 1 s: ${a.started_at} -> ${a.lease_expires_at}`);
  }
  const expired = { message: 'lease expired', type: 'LeaseExpired' };

  const d = await h.waitFor(async () => { const j = await h.getJob(server, dead.id); return j.state !== 'active' && j; }, 20000, 100, 'lease expiry');
  checkJob(d, { state: 'dead', attempts: 1 });
  assert.equal(d.error.message, expired.message);
  assert.equal(d.error.type, expired.type);
  assert.notEqual(d.finished_at, null);

  const r = await h.waitFor(async () => { const j = await h.getJob(server, retry.id); return j.state !== 'active' && j; }, 20000, 100, 'lease expiry');
  checkJob(r, { state: 'retry', attempts: 1 });
  assert.equal(r.error.message, expired.message);
  assert.equal(r.error.type, expired.type);

  // The former holder has lost the job.
  for (const id of [dead.id, retry.id]) {
    for (const op of ['ack', 'fail', 'heartbeat']) {
      const res = await h.api(server, 'POST', `/v1/jobs/${id}/${op}`, { worker: 'w1', message: 'late' });
      h.assertError(res, 409, 'lease_lost', undefined, `${op} after expiry`);
    }
  }

  // Second expiry of `twice`.
  await h.waitFor(async () => (await h.getJob(server, twice.id)).state !== 'active', 20000, 100, 'first expiry');
  const again = await fetchSoon(server, { queues: [q], worker: 'w2' });
  assert.equal(again.id, twice.id);
  assert.equal(again.attempts, 2);
  const tw = await h.waitFor(async () => { const j = await h.getJob(server, twice.id); return j.state !== 'active' && j; }, 20000, 100, 'second expiry');
  checkJob(tw, { state: 'dead', attempts: 2 });
  assert.equal(tw.error.message, 'lease expired');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${twice.id}/ack`, { worker: 'w2' }), 409, 'lease_lost', undefined, 'ack after expiry');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, dead: 2, retry: 1 });
});

test('heartbeat extends the lease by reserve_for', async () => {
  const q = uq('hb');
  const j = await h.enqueue(server, { queue: q, type: 't', reserve_for: 2, retry: 0 });
  const a = await fetchOne(server, { queues: [q], worker: 'w1' });
  assert.equal(a.id, j.id);
  const firstExpiry = t(a.lease_expires_at);
  let prev = firstExpiry;
  // 10 heartbeats 400 ms apart: 4 s in all, twice the lease.
  for (let i = 0; i < 10; i++) {
    await h.sleep(400);
    const t0 = Date.now();
    const hb = await h.api(server, 'POST', `/v1/jobs/${j.id}/heartbeat`, { worker: 'w1' });
    const t1 = Date.now();
    assert.equal(hb.status, 200, `heartbeat ${i}: ${JSON.stringify(hb.body)}`);
    checkJob(hb.body, { id: j.id, state: 'active', worker: 'w1', attempts: 1 });
    const exp = t(hb.body.lease_expires_at);
    assert.ok(exp > prev, 'lease moves forward');
    assert.ok(exp >= t0 + 2000 - 50 && exp <= t1 + 2000 + 50, `lease = now + reserve_for: ${hb.body.lease_expires_at}`);
    prev = exp;
  }
  assert.ok(Date.now() > firstExpiry + 1000, 'the test outlived the first lease');
  const still = await h.getJob(server, j.id);
  checkJob(still, { state: 'active', attempts: 1, error: null });
  const ack = await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, { worker: 'w1' });
  assert.equal(ack.status, 200, JSON.stringify(ack.body));
  assert.equal(ack.body.state, 'completed');
});

test('ack/fail/heartbeat from a worker that does not hold the lease: 409 lease_lost', async () => {
  const q = uq('holder');
  const j = await h.enqueue(server, { queue: q, type: 't' });
  const a = await fetchOne(server, { queues: [q], worker: 'w1' });
  assert.equal(a.id, j.id);
  for (const op of ['ack', 'fail', 'heartbeat']) {
    h.assertError(await h.api(server, 'POST', `/v1/jobs/${j.id}/${op}`, { worker: 'w2', message: 'x' }), 409, 'lease_lost', undefined, `${op} by w2`);
  }
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, {}), 409, 'lease_lost', undefined, 'ack without worker');
  checkJob(await h.getJob(server, j.id), { state: 'active', worker: 'w1', error: null, result: null });

  const queued = await h.enqueue(server, { queue: uq('notfetched'), type: 't' });
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${queued.id}/ack`, { worker: 'w1' }), 409, 'lease_lost', undefined, 'ack a queued job');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${queued.id}/heartbeat`, { worker: 'w1' }), 409, 'lease_lost', undefined, 'heartbeat a queued job');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${queued.id}/fail`, { worker: 'w1', message: 'x' }), 409, 'lease_lost', undefined, 'fail a queued job');
  checkJob(await h.getJob(server, queued.id), { state: 'queued', attempts: 0 });

  assert.equal((await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, { worker: 'w1', result: 1 })).status, 200);
  for (const op of ['ack', 'fail', 'heartbeat']) {
    h.assertError(await h.api(server, 'POST', `/v1/jobs/${j.id}/${op}`, { worker: 'w1', message: 'x' }), 409, 'lease_lost', undefined, `${op} after ack`);
  }
  checkJob(await h.getJob(server, j.id), { state: 'completed', result: 1, error: null });
  for (const op of ['ack', 'fail', 'heartbeat']) {
    h.assertError(await h.api(server, 'POST', `/v1/jobs/no-such-job-xyz/${op}`, { worker: 'w1', message: 'x' }), 404, 'not_found', undefined, `${op} unknown job`);
  }
});

// ---------------------------------------------------------------------------
// Long-poll

test('long-poll fetch is woken by an enqueue', async () => {
  const q = uq('lp');
  const pending = h.api(server, 'POST', '/v1/fetch', { queues: [q], wait: '10s', worker: 'lp' });
  await h.sleep(300);
  const tEnq = Date.now();
  const j = await h.enqueue(server, { queue: q, type: 't' });
  const res = await pending;
  const took = Date.now() - tEnq;
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body.jobs.map((x) => x.id), [j.id]);
  checkJob(res.body.jobs[0], { state: 'active', worker: 'lp', attempts: 1 });
  assert.ok(took < 2000, `answered ${took} ms after the enqueue, well before the 10 s wait ends`);
});

test('two long-polls, two enqueues: each job handed out once', async () => {
  const q = uq('lp2');
  const p1 = h.api(server, 'POST', '/v1/fetch', { queues: [q], wait: '10s', worker: 'a' });
  const p2 = h.api(server, 'POST', '/v1/fetch', { queues: [q], wait: '10s', worker: 'b' });
  await h.sleep(300);
  const j1 = await h.enqueue(server, { queue: q, type: 't' });
  const j2 = await h.enqueue(server, { queue: q, type: 't' });
  const [r1, r2] = await Promise.all([p1, p2]);
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 200);
  const ids = [...r1.body.jobs, ...r2.body.jobs].map((x) => x.id).sort();
  assert.deepEqual(ids, [j1.id, j2.id].sort());
});

test('long-poll with nothing to hand out times out with 204 and no body', async () => {
  const q = uq('lpto');
  for (const wait of ['1s', 1, '500ms']) {
    const t0 = Date.now();
    const res = await h.api(server, 'POST', '/v1/fetch', { queues: [q], wait });
    const took = Date.now() - t0;
    assert.equal(res.status, 204, `wait ${wait}`);
    assert.equal(res.body, null, 'no body');
    const want = typeof wait === 'number' ? wait * 1000 : parseInt(wait, 10) * (wait.endsWith('ms') ? 1 : 1000);
    assert.ok(took >= want - 100, `waited (${took} ms for ${wait})`);
    assert.ok(took < want + 8000, `gave up after the wait (${took} ms for ${wait})`);
  }
  const t0 = Date.now();
  assert.equal((await h.api(server, 'POST', '/v1/fetch', { queues: [q] })).status, 204, 'wait 0 answers at once');
  assert.ok(Date.now() - t0 < 5000);
});

// ---------------------------------------------------------------------------
// Queues

test('pause and resume', async () => {
  const q = uq('pause');
  const other = uq('pause-other');
  const j1 = await h.enqueue(server, { queue: q, type: 't' });
  const p = await h.api(server, 'POST', `/v1/queues/${q}/pause`);
  assert.equal(p.status, 200, JSON.stringify(p.body));
  assert.equal(p.body.name, q);
  assert.equal(p.body.paused, true);
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], max: 10 }), [], 'paused queue hands out nothing');
  const lp = await h.api(server, 'POST', '/v1/fetch', { queues: [q], wait: '500ms' });
  assert.equal(lp.status, 204);
  const info = await h.getQueue(server, q);
  assert.equal(info.paused, true);
  assert.equal(info.counts.queued, 1);
  const j2 = await h.enqueue(server, { queue: q, type: 't' });
  const o = await h.enqueue(server, { queue: other, type: 't' });
  const skip = await h.fetchJobs(server, { queues: [q, other], max: 10 });
  assert.deepEqual(skip.map((x) => x.id), [o.id], 'the paused queue is skipped, the next one served');

  const r = await h.api(server, 'POST', `/v1/queues/${q}/resume`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.name, q);
  assert.equal(r.body.paused, false);
  assert.equal((await h.getQueue(server, q)).paused, false);
  const got = await h.fetchJobs(server, { queues: [q], max: 10 });
  assert.deepEqual(got.map((x) => x.id), [j1.id, j2.id]);
});

test('GET /v1/queues: counts, size and latency', async () => {
  const q = uq('stats');
  const a = await h.enqueue(server, { queue: q, type: 't' });
  await h.enqueue(server, { queue: q, type: 't' });
  await h.enqueue(server, { queue: q, type: 't', delay: '1h' });
  await h.enqueue(server, { queue: q, type: 't' });
  await h.sleep(1100);
  const info = await h.getQueue(server, q);
  assert.ok(info, 'queue listed');
  assert.equal(info.name, q);
  assert.equal(info.paused, false);
  assert.deepEqual(info.counts, { ...h.ZERO_COUNTS, queued: 3, scheduled: 1 });
  assert.equal(info.size, 3, 'size counts queued jobs');
  assert.equal(typeof info.latency, 'number');
  const age = (Date.now() - t(a.enqueued_at)) / 1000;
  assert.ok(info.latency >= 1 && info.latency <= age + 1, `latency ${info.latency} = age of the oldest queued job (~${age})`);
  await h.fetchJobs(server, { queues: [q], max: 10 });
  const after2 = await h.getQueue(server, q);
  assert.equal(after2.size, 0);
  assert.equal(after2.latency, 0, 'latency 0 when nothing queued');
  assert.deepEqual(after2.counts, { ...h.ZERO_COUNTS, active: 3, scheduled: 1 });
});

// ---------------------------------------------------------------------------
// Bulk

test('bulk enqueue: array and {"jobs":[...]} forms', async () => {
  const q = uq('bulk');
  const res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { queue: q, type: 'a', args: [1] }, { queue: q, type: 'b', priority: 9 }, { id: `${q}-c`, queue: q, type: 'c' },
  ]);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(res.body.jobs.map((j) => j.type), ['a', 'b', 'c'], 'in the order given');
  for (const j of res.body.jobs) checkJob(j, { queue: q, state: 'queued', attempts: 0 });
  assert.equal(res.body.jobs[2].id, `${q}-c`);
  assert.deepEqual(res.body.jobs[0].args, [1]);
  assert.equal(new Set(res.body.jobs.map((j) => j.id)).size, 3);
  const res2 = await h.api(server, 'POST', '/v1/jobs/bulk', { jobs: [{ queue: q, type: 'd' }] });
  assert.equal(res2.status, 201, JSON.stringify(res2.body));
  assert.equal(res2.body.jobs.length, 1);
  for (const j of [...res.body.jobs, ...res2.body.jobs]) await h.getJob(server, j.id);
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 4 });
});

test('bulk enqueue is all or nothing: one invalid element -> 422 jobs[i].field, nothing stored', async () => {
  for (const [bad, idx, field] of [
    [{}, 2, 'type'],
    [{ type: 't', priority: 0 }, 1, 'priority'],
    [{ type: 't', reserve_for: 0 }, 0, 'reserve_for'],
    [{ type: 't', id: 'a b' }, 3, 'id'],
  ]) {
    const q = uq('bulkbad');
    const jobs = [0, 1, 2, 3].map((i) => ({ id: `${q}-${i}`, queue: q, type: 't' }));
    jobs[idx] = { ...bad, queue: q, ...(bad.id ? {} : { id: `${q}-${idx}` }) };
    const res = await h.api(server, 'POST', '/v1/jobs/bulk', jobs);
    h.assertError(res, 422, 'invalid_field', `jobs[${idx}].${field}`, `bulk with bad ${field} at ${idx}`);
    for (let i = 0; i < 4; i++) {
      if (jobs[i].id === 'a b') continue;
      h.assertError(await h.api(server, 'GET', `/v1/jobs/${jobs[i].id}`), 404, 'not_found', undefined, 'not stored');
    }
    await assertQueueEmpty(server, q, `bulk with bad ${field}`);
  }
  // Same through the object form.
  const q = uq('bulkbad');
  const res = await h.api(server, 'POST', '/v1/jobs/bulk', { jobs: [{ queue: q, type: 't' }, { queue: q, type: 't', retry: -1 }] });
  h.assertError(res, 422, 'invalid_field', 'jobs[1].retry', 'object form');
  await assertQueueEmpty(server, q, 'object form');
});

test('bulk enqueue with a duplicate id -> 409, nothing stored', async () => {
  const q = uq('bulkdup');
  const elsewhere = uq('bulkdup-existing');
  const existing = await h.enqueue(server, { id: `${q}-existing`, queue: elsewhere, type: 'orig' });
  let res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { id: `${q}-new1`, queue: q, type: 't' }, { id: existing.id, queue: q, type: 't' }, { id: `${q}-new2`, queue: q, type: 't' },
  ]);
  h.assertError(res, 409, 'conflict', undefined, 'bulk with an existing id');
  for (const id of [`${q}-new1`, `${q}-new2`]) h.assertError(await h.api(server, 'GET', `/v1/jobs/${id}`), 404, 'not_found');
  await assertQueueEmpty(server, q, 'bulk with an existing id');
  const kept = await h.getJob(server, existing.id);
  assert.equal(kept.queue, elsewhere);
  assert.equal(kept.type, 'orig');

  res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { id: `${q}-x`, queue: q, type: 't' }, { id: `${q}-y`, queue: q, type: 't' }, { id: `${q}-x`, queue: q, type: 't' },
  ]);
  h.assertError(res, 409, 'conflict', undefined, 'bulk repeating an id');
  for (const id of [`${q}-x`, `${q}-y`]) h.assertError(await h.api(server, 'GET', `/v1/jobs/${id}`), 404, 'not_found');
  await assertQueueEmpty(server, q, 'bulk repeating an id');
});

test('POST /v1/ack: bulk ack with per-job outcomes in order', async () => {
  const q = uq('bulkack');
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await h.enqueue(server, { queue: q, type: 't' }));
  const got = await h.fetchJobs(server, { queues: [q], max: 3, worker: 'w1' });
  assert.equal(got.length, 3);
  const notHeld = await h.enqueue(server, { queue: q, type: 't' }); // still queued
  const res = await h.api(server, 'POST', '/v1/ack', {
    worker: 'w1',
    jobs: [{ id: held[0].id, result: 1 }, { id: notHeld.id }, { id: held[1].id }, { id: held[2].id, result: { x: [1] } }],
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.results.length, 4);
  assert.deepEqual(res.body.results.map((r) => r.id), [held[0].id, notHeld.id, held[1].id, held[2].id]);
  assert.deepEqual(res.body.results.map((r) => r.ok), [true, false, true, true]);
  const e = res.body.results[1].error;
  assert.equal(e.code, 'lease_lost');
  assert.equal(typeof e.message, 'string');
  checkJob(await h.getJob(server, held[0].id), { state: 'completed', result: 1 });
  checkJob(await h.getJob(server, held[1].id), { state: 'completed', result: null });
  checkJob(await h.getJob(server, held[2].id), { state: 'completed', result: { x: [1] } });
  checkJob(await h.getJob(server, notHeld.id), { state: 'queued' });

  // Another worker's bulk ack loses every job; acking twice loses too.
  const more = await h.enqueue(server, { queue: q, type: 't' });
  const got2 = await h.fetchJobs(server, { queues: [q], max: 10, worker: 'w1' });
  assert.deepEqual(got2.map((j) => j.id).sort(), [notHeld.id, more.id].sort());
  const res2 = await h.api(server, 'POST', '/v1/ack', { worker: 'w2', jobs: [{ id: more.id }, { id: held[0].id }] });
  assert.equal(res2.status, 200);
  assert.deepEqual(res2.body.results.map((r) => [r.id, r.ok, r.error && r.error.code]),
    [[more.id, false, 'lease_lost'], [held[0].id, false, 'lease_lost']]);
  checkJob(await h.getJob(server, more.id), { state: 'active', worker: 'w1' });
});

// ---------------------------------------------------------------------------
// Listing

test('GET /v1/jobs: filters, limit, cursor pagination newest first', async () => {
  const q = uq('list');
  const ty = uq('ltype');
  const made = [];
  for (let i = 0; i < 25; i++) made.push(await h.enqueue(server, { queue: q, type: i % 2 === 0 ? ty : `${ty}-b` }));
  const newestFirst = made.map((j) => j.id).reverse();

  const { jobs, pages } = await h.listAll(server, `queue=${q}`, 7);
  assert.deepEqual(pages.map((p) => p.length), [7, 7, 7, 4], 'pages of 7, last one short with next_cursor null');
  assert.deepEqual(jobs.map((j) => j.id), newestFirst, 'each job exactly once, newest first');
  for (const j of jobs) checkJob(j, { queue: q });

  const one = await h.api(server, 'GET', `/v1/jobs?queue=${q}&limit=1`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.jobs.map((j) => j.id), [newestFirst[0]]);
  assert.equal(typeof one.body.next_cursor, 'string');

  const typed = await h.listAll(server, `type=${ty}`, 5);
  assert.deepEqual(typed.jobs.map((j) => j.id), made.filter((j) => j.type === ty).map((j) => j.id).reverse());
  assert.equal(typed.jobs.length, 13);

  // Complete the three oldest.
  const taken = await h.fetchJobs(server, { queues: [q], max: 3, worker: 'w' });
  assert.deepEqual(taken.map((j) => j.id), made.slice(0, 3).map((j) => j.id));
  for (const j of taken) assert.equal((await h.api(server, 'POST', `/v1/jobs/${j.id}/ack`, { worker: 'w' })).status, 200);
  const done = await h.listAll(server, `queue=${q}&state=completed`, 2);
  assert.deepEqual(done.jobs.map((j) => j.id), made.slice(0, 3).map((j) => j.id).reverse());
  const queued = await h.listAll(server, `queue=${q}&state=queued`, 10);
  assert.deepEqual(queued.jobs.map((j) => j.id), made.slice(3).map((j) => j.id).reverse());
  const qt = await h.listAll(server, `queue=${q}&state=queued&type=${ty}`);
  assert.deepEqual(qt.jobs.map((j) => j.id), made.slice(3).filter((j) => j.type === ty).map((j) => j.id).reverse());
  const none = await h.listAll(server, `queue=${q}&state=dead`);
  assert.deepEqual(none.jobs, []);
  const nobody = await h.listAll(server, `queue=${uq('nobody')}`);
  assert.deepEqual(nobody.jobs, []);
});

test('GET /v1/jobs: default limit 50, limit up to 1000', async () => {
  const q = uq('listdef');
  const res = await h.api(server, 'POST', '/v1/jobs/bulk', Array.from({ length: 60 }, (_, i) => ({ queue: q, type: 't', args: [i] })));
  assert.equal(res.status, 201);
  const d = await h.api(server, 'GET', `/v1/jobs?queue=${q}`);
  assert.equal(d.status, 200);
  assert.equal(d.body.jobs.length, 50);
  assert.equal(typeof d.body.next_cursor, 'string');
  const rest = await h.api(server, 'GET', `/v1/jobs?queue=${q}&cursor=${encodeURIComponent(d.body.next_cursor)}`);
  assert.equal(rest.body.jobs.length, 10);
  assert.equal(rest.body.next_cursor, null);
  const ids = [...d.body.jobs, ...rest.body.jobs].map((j) => j.id);
  assert.deepEqual(ids, res.body.jobs.map((j) => j.id).reverse());
  const all = await h.api(server, 'GET', `/v1/jobs?queue=${q}&limit=1000`);
  assert.equal(all.body.jobs.length, 60);
  assert.equal(all.body.next_cursor, null);
});

// ---------------------------------------------------------------------------
// Cancel, delete, purge

test('cancel: scheduled, queued and retry jobs; 409 invalid_state otherwise', async () => {
  const q = uq('cancel');
  const queued = await h.enqueue(server, { queue: q, type: 't' });
  const sched = await h.enqueue(server, { queue: q, type: 't', delay: '1h' });
  const willRetry = await h.enqueue(server, { queue: q, type: 't', backoff: { type: 'fixed', base: '1h' } });
  const willComplete = await h.enqueue(server, { queue: q, type: 't' });
  const active = await h.enqueue(server, { queue: q, type: 't' });

  let res = await h.api(server, 'POST', `/v1/jobs/${queued.id}/cancel`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  checkJob(res.body, { id: queued.id, state: 'cancelled' });
  res = await h.api(server, 'POST', `/v1/jobs/${sched.id}/cancel`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  checkJob(res.body, { id: sched.id, state: 'cancelled' });

  const got = await h.fetchJobs(server, { queues: [q], max: 3, worker: 'w' });
  assert.deepEqual(got.map((j) => j.id), [willRetry.id, willComplete.id, active.id], 'cancelled jobs are not handed out');
  assert.equal((await h.api(server, 'POST', `/v1/jobs/${willRetry.id}/fail`, { worker: 'w', message: 'x' })).body.state, 'retry');
  res = await h.api(server, 'POST', `/v1/jobs/${willRetry.id}/cancel`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  checkJob(res.body, { state: 'cancelled' });

  assert.equal((await h.api(server, 'POST', `/v1/jobs/${willComplete.id}/ack`, { worker: 'w' })).status, 200);
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${willComplete.id}/cancel`), 409, 'invalid_state', undefined, 'cancel completed');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${queued.id}/cancel`), 409, 'invalid_state', undefined, 'cancel cancelled');
  h.assertError(await h.api(server, 'POST', '/v1/jobs/no-such-job-xyz/cancel'), 404, 'not_found', undefined, 'cancel unknown');
  checkJob(await h.getJob(server, willComplete.id), { state: 'completed' });
  checkJob(await h.getJob(server, active.id), { state: 'active' });

  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, cancelled: 3, completed: 1, active: 1 });
  const listed = await h.listAll(server, `queue=${q}&state=cancelled`);
  assert.deepEqual(listed.jobs.map((j) => j.id), [willRetry.id, sched.id, queued.id]);
});

test('DELETE /v1/jobs/{id}: 204, then 404', async () => {
  const q = uq('del');
  const queued = await h.enqueue(server, { queue: q, type: 't' });
  const activeJob = await h.enqueue(server, { queue: q, type: 't' });
  const done = await h.enqueue(server, { queue: q, type: 't' });
  await h.api(server, 'DELETE', `/v1/jobs/${queued.id}`).then((r) => { assert.equal(r.status, 204); assert.equal(r.body, null); });
  const got = await h.fetchJobs(server, { queues: [q], max: 2, worker: 'w' });
  assert.deepEqual(got.map((j) => j.id), [activeJob.id, done.id], 'a deleted job is not handed out');
  assert.equal((await h.api(server, 'POST', `/v1/jobs/${done.id}/ack`, { worker: 'w' })).status, 200);
  for (const j of [activeJob, done]) assert.equal((await h.api(server, 'DELETE', `/v1/jobs/${j.id}`)).status, 204);
  for (const j of [queued, activeJob, done]) {
    h.assertError(await h.api(server, 'GET', `/v1/jobs/${j.id}`), 404, 'not_found', undefined, 'GET deleted job');
    h.assertError(await h.api(server, 'DELETE', `/v1/jobs/${j.id}`), 404, 'not_found', undefined, 'DELETE deleted job');
  }
  await assertQueueEmpty(server, q, 'after deleting every job');
});

test('DELETE /v1/queues/{q} purges the queued jobs only', async () => {
  const q = uq('purge');
  const queued = [];
  for (let i = 0; i < 5; i++) queued.push(await h.enqueue(server, { queue: q, type: 't' }));
  const sched = await h.enqueue(server, { queue: q, type: 't', delay: '1h' });
  const active = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(active.id, queued[0].id);
  const res = await h.api(server, 'DELETE', `/v1/queues/${q}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, { purged: 4 });
  for (const j of queued.slice(1)) h.assertError(await h.api(server, 'GET', `/v1/jobs/${j.id}`), 404, 'not_found', undefined, 'purged job');
  checkJob(await h.getJob(server, sched.id), { state: 'scheduled' });
  checkJob(await h.getJob(server, active.id), { state: 'active' });
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, scheduled: 1, active: 1 });
  assert.deepEqual(await h.fetchJobs(server, { queues: [q] }), []);
  const again = await h.api(server, 'DELETE', `/v1/queues/${q}`);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { purged: 0 });
});

// ---------------------------------------------------------------------------
// Bad input on POST /v1/jobs: status, error body, nothing stored.

const future = () => new Date(Date.now() + 60000).toISOString();
const BAD_JOBS = [
  // [name, body (object, or string sent as is; Q is replaced by the queue), status, code, field]
  ['malformed JSON', '{"queue":"Q","type":', 400, 'malformed_json'],
  ['not JSON at all', 'queue=Q&type=t', 400, 'malformed_json'],
  ['trailing garbage after JSON', '{"queue":"Q","type":"t"} x', 400, 'malformed_json'],
  ['missing type', {}, 422, 'invalid_field', 'type'],
  ['empty type', { type: '' }, 422, 'invalid_field', 'type'],
  ['type not a string', { type: 5 }, 422, 'invalid_field', 'type'],
  ['type over 256 bytes', { type: 'x'.repeat(257) }, 422, 'invalid_field', 'type'],
  ['priority 0', { type: 't', priority: 0 }, 422, 'invalid_field', 'priority'],
  ['priority 10', { type: 't', priority: 10 }, 422, 'invalid_field', 'priority'],
  ['priority "x"', { type: 't', priority: 'x' }, 422, 'invalid_field', 'priority'],
  ['priority 2.5', { type: 't', priority: 2.5 }, 422, 'invalid_field', 'priority'],
  ['bad run_at', { type: 't', run_at: 'tomorrow' }, 422, 'invalid_field', 'run_at'],
  ['run_at without zone', { type: 't', run_at: '2030-01-01 10:00' }, 422, 'invalid_field', 'run_at'],
  ['both run_at and delay', () => ({ type: 't', run_at: future(), delay: '1s' }), 422, 'invalid_field', ['run_at', 'delay']],
  ['bad delay', { type: 't', delay: 'soon' }, 422, 'invalid_field', 'delay'],
  ['id with a space', { type: 't', id: 'a b' }, 422, 'invalid_field', 'id'],
  ['id with a slash', { type: 't', id: 'a/b' }, 422, 'invalid_field', 'id'],
  ['id with non-ASCII', { type: 't', id: 'caf\u00e9' }, 422, 'invalid_field', 'id'],
  ['empty id', { type: 't', id: '' }, 422, 'invalid_field', 'id'],
  ['id of 129 chars', { type: 't', id: 'x'.repeat(129) }, 422, 'invalid_field', 'id'],
  ['id not a string', { type: 't', id: 7 }, 422, 'invalid_field', 'id'],
  ['retry -1', { type: 't', retry: -1 }, 422, 'invalid_field', 'retry'],
  ['retry 1001', { type: 't', retry: 1001 }, 422, 'invalid_field', 'retry'],
  ['retry "x"', { type: 't', retry: 'x' }, 422, 'invalid_field', 'retry'],
  ['reserve_for 0', { type: 't', reserve_for: 0 }, 422, 'invalid_field', 'reserve_for'],
  ['reserve_for 604801', { type: 't', reserve_for: 604801 }, 422, 'invalid_field', 'reserve_for'],
  ['backoff of unknown type', { type: 't', backoff: { type: 'linear', base: '1s' } }, 422, 'invalid_field', ['backoff', 'backoff.type']],
  ['backoff with a bad base', { type: 't', backoff: { type: 'fixed', base: 'soon' } }, 422, 'invalid_field', ['backoff', 'backoff.base']],
  ['custom not an object', { type: 't', custom: [1] }, 422, 'invalid_field', 'custom'],
];
const BAD_QUEUES = [
  ['queue with a space', 'a b'],
  ['empty queue', ''],
  ['queue of 129 chars', 'q'.repeat(129)],
];

for (const [name, body0, status, code, field] of BAD_JOBS) {
  test(`POST /v1/jobs rejects ${name}: ${status} ${code}${field ? ' ' + field : ''}, nothing stored`, async () => {
    const q = uq('bad');
    let body = typeof body0 === 'function' ? body0() : body0;
    if (typeof body === 'string') body = body.replace('Q', q);
    else body = { queue: q, ...body };
    const res = await h.api(server, 'POST', '/v1/jobs', body);
    h.assertError(res, status, code, field, name);
    await assertQueueEmpty(server, q, name);
    // The same element in a bulk request names jobs[1].field.
    if (typeof body === 'object') {
      const bq = uq('badbulk');
      const rb = await h.api(server, 'POST', '/v1/jobs/bulk', [{ queue: bq, type: 'ok' }, { ...body, queue: bq }]);
      h.assertError(rb, status, code, Array.isArray(field) ? field.map((f) => `jobs[1].${f}`) : `jobs[1].${field}`, `bulk ${name}`);
      await assertQueueEmpty(server, bq, `bulk ${name}`);
    }
  });
}

for (const [name, queue] of BAD_QUEUES) {
  test(`POST /v1/jobs rejects ${name}: 422 queue`, async () => {
    const id = uq('badq');
    h.assertError(await h.api(server, 'POST', '/v1/jobs', { id, queue, type: 't' }), 422, 'invalid_field', 'queue', name);
    h.assertError(await h.api(server, 'GET', `/v1/jobs/${id}`), 404, 'not_found', undefined, 'not stored');
  });
}

test('a body that is not a JSON object is rejected, nothing stored', async () => {
  for (const body of ['[1,2]', '"job"', '42', 'null']) {
    const before = await h.listAll(server, 'limit=1000');
    const res = await h.api(server, 'POST', '/v1/jobs', body);
    assert.ok([400, 422].includes(res.status), `${body} -> ${res.status}`);
    h.assertError(res, res.status, res.status === 400 ? 'malformed_json' : 'invalid_field', undefined, body);
    const after2 = await h.listAll(server, 'limit=1000');
    assert.equal(after2.jobs.length, before.jobs.length, 'nothing stored');
  }
});

test('bad fetch and list parameters: 422 with the field', async () => {
  const q = uq('badfetch');
  await h.enqueue(server, { queue: q, type: 't' });
  for (const [body, field] of [
    [{ queues: [q], max: 0 }, 'max'],
    [{ queues: [q], max: 1001 }, 'max'],
    [{ queues: [q], wait: '6m' }, 'wait'],
    [{ queues: [q], wait: 'soon' }, 'wait'],
    [{ queues: q }, 'queues'],
    [{ queues: [q, 'a b'] }, ['queues', 'queues[1]']],
  ]) {
    h.assertError(await h.api(server, 'POST', '/v1/fetch', body), 422, 'invalid_field', field, JSON.stringify(body));
  }
  h.assertError(await h.api(server, 'POST', '/v1/fetch', '{"queues":'), 400, 'malformed_json', undefined, 'fetch malformed');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 1 }, 'no bad fetch handed the job out');
  for (const [qs, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=x', 'limit'], ['state=bogus', 'state']]) {
    h.assertError(await h.api(server, 'GET', `/v1/jobs?${qs}`), 422, 'invalid_field', field, qs);
  }
});

test('unknown paths: 404 not_found', async () => {
  for (const [m, p] of [['GET', '/v1/nope'], ['GET', '/nothing'], ['POST', '/v1/jobs/x/explode'],
    ['GET', '/v1/jobs/no-such-job-xyz'], ['POST', '/v2/jobs']]) {
    h.assertError(await h.api(server, m, p, m === 'POST' ? {} : undefined), 404, 'not_found', undefined, `${m} ${p}`);
  }
});

test('wrong method on a known path: 405 method_not_allowed with Allow', async () => {
  for (const [m, p, allow] of [
    ['DELETE', '/v1/fetch', ['POST']],
    ['GET', '/v1/fetch', ['POST']],
    ['PUT', '/v1/jobs', ['GET', 'POST']],
    ['GET', '/v1/ack', ['POST']],
    ['POST', '/v1/queues', ['GET']],
    ['PATCH', '/v1/jobs/some-id', ['GET', 'DELETE']],
    ['GET', '/v1/jobs/some-id/ack', ['POST']],
    ['DELETE', '/v1/jobs/some-id/cancel', ['POST']],
    ['GET', '/v1/queues/some-q/pause', ['POST']],
    ['POST', '/v1/queues/some-q', ['DELETE', 'GET', 'PUT']],
    ['POST', '/healthz', ['GET']],
  ]) {
    const res = await h.api(server, m, p, m === 'GET' ? undefined : {});
    h.assertError(res, 405, 'method_not_allowed', undefined, `${m} ${p}`);
    const got = (res.headers.get('allow') || '').split(',').map((s) => s.trim()).filter(Boolean);
    for (const a of allow) assert.ok(got.includes(a), `${m} ${p}: Allow "${res.headers.get('allow')}" lists ${a}`);
    assert.ok(!got.includes(m), `${m} ${p}: Allow does not list ${m}`);
  }
});

// ---------------------------------------------------------------------------
// HTTP-level limits (raw sockets)

test('body over --max-body: 413 payload_too_large, then close, nothing stored', async () => {
  const q = uq('big');
  const pad = 'x'.repeat(1100);
  // Declared length over the limit, body sent.
  let r = await h.rawExchange(small, h.httpRequest('POST', '/v1/jobs', { queue: q, type: 't', args: [pad] }));
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  assert.equal(r.responses[0].status, 413);
  h.assertError({ status: 413, body: r.responses[0].json }, 413, 'payload_too_large');
  assert.ok(r.closed, 'connection closed after 413');

  // Declared length far over the limit, body never sent: answered at once.
  r = await h.rawExchange(small, 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"type":');
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 413, 'payload_too_large');
  assert.ok(r.closed, 'connection closed after 413');

  // Chunked body that grows over the limit.
  const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  const json = JSON.stringify({ queue: q, type: 't', args: [pad] });
  r = await h.rawExchange(small, 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
    chunk(json.slice(0, 600)) + chunk(json.slice(600)) + '0\r\n\r\n');
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 413, 'payload_too_large');
  assert.ok(r.closed, 'connection closed after 413');

  await assertQueueEmpty(small, q, 'after 413s');

  // Just under the limit is fine.
  const ok = { queue: q, type: 't', args: [] };
  ok.args.push('y'.repeat(1000 - JSON.stringify(ok).length - 2));
  assert.equal(JSON.stringify(ok).length, 1000);
  const res = await h.api(small, 'POST', '/v1/jobs', ok);
  assert.equal(res.status, 201, JSON.stringify(res.body));

  // Default limit: 1 MiB.
  const q2 = uq('big');
  r = await h.rawExchange(server, h.httpRequest('POST', '/v1/jobs', { queue: q2, type: 't', args: ['z'.repeat(1100 * 1024)] }));
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 413, 'payload_too_large');
  assert.ok(r.closed);
  await assertQueueEmpty(server, q2, 'after 413 on the default limit');
});

test('header block over 16 KiB: 431 headers_too_large, then close', async () => {
  const big = 'a'.repeat(17 * 1024);
  let r = await h.rawExchange(server, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 431, 'headers_too_large');
  assert.ok(r.closed, 'connection closed after 431');

  // Many small headers add up.
  let many = '';
  for (let i = 0; i < 400; i++) many += `X-H${i}: ${'b'.repeat(40)}\r\n`;
  r = await h.rawExchange(server, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 431, 'headers_too_large');
  assert.ok(r.closed);

  // A long request target counts too.
  r = await h.rawExchange(server, `GET /v1/jobs/${'c'.repeat(17 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(r.responses.length, 1, `one response: ${r.text.slice(0, 300)}`);
  assert.ok([414, 431].includes(r.responses[0].status), `long target: ${r.responses[0].status}`);
  assert.ok(r.closed);

  // 12 KiB of headers is fine.
  const conn = await h.RawConn.connect(server);
  const res = await conn.request(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Ok: ${'d'.repeat(12 * 1024)}\r\n\r\n`);
  assert.equal(res.status, 200);
  conn.destroy();
});

test('malformed request line: 400 bad_request, then close', async () => {
  for (const bad of [
    'GARBAGE\r\n\r\n',
    'GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n',
    'GET /healthz FTP/1.0\r\nHost: x\r\n\r\n',
    '\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n',
    'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
  ]) {
    // A valid request follows in the same write: it must not be answered.
    const r = await h.rawExchange(server, bad + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(r.responses.length >= 1, `${JSON.stringify(bad)}: a response, got ${JSON.stringify(r.text.slice(0, 200))}`);
    assert.equal(r.responses.length, 1, `${JSON.stringify(bad)}: only one response`);
    h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 400, 'bad_request', undefined, JSON.stringify(bad));
    assert.ok(r.closed, `${JSON.stringify(bad)}: connection closed after 400`);
  }
  // The server is still fine.
  assert.equal((await h.api(server, 'GET', '/healthz')).status, 200);
});

test('request line without an HTTP version (HTTP/0.9): 400 bad_request, then close', async () => {
  const r = await h.rawExchange(server, 'GET /healthz\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r.responses.length, 1, `one response: ${JSON.stringify(r.text.slice(0, 300))}`);
  h.assertError({ status: r.responses[0].status, body: r.responses[0].json }, 400, 'bad_request', undefined, 'GET /healthz (no version)');
  assert.ok(r.closed, 'connection closed after 400');
});

test('percent-encoded path segments are decoded', async () => {
  const q = uq('pct');
  const id = `${q}-a:b`;
  await h.enqueue(server, { id, queue: q, type: 't' });
  for (const p of [encodeURIComponent(id), id.replace('-a', '%2Da')]) {
    const res = await h.api(server, 'GET', `/v1/jobs/${p}`);
    assert.equal(res.status, 200, `GET /v1/jobs/${p} -> ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.id, id);
  }
  const p = await h.api(server, 'POST', `/v1/queues/${encodeURIComponent(q).replace('-', '%2D')}/pause`);
  assert.equal(p.status, 200);
  assert.equal(p.body.name, q, 'queue name decoded');
  assert.equal((await h.getQueue(server, q)).paused, true);
  const c = await h.api(server, 'POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  assert.equal(c.status, 200, `cancel via encoded id -> ${c.status} ${JSON.stringify(c.body)}`);
  assert.equal(c.body.state, 'cancelled');
});
