// Results (docs/api.md, issue 4): waiting for a job's result with
// Prefer: wait / ?wait, 202 + Location, GET ?wait, 404 vs 410 for pruned
// jobs, Idempotency-Key on POST /v1/jobs and /v1/jobs/bulk (replay,
// mismatch, concurrency, restart, SIGKILL), and traceparent.
'use strict';
const { test, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let seq = 0;
// A queue (or key) name of its own for each test, so tests share one server.
const uq = (name) => `${name}-${process.pid}-${++seq}`;

const crashes = []; // names of tests under which the shared server died

const isDead = (srv) => srv.proc.exitCode !== null || srv.proc.signalCode !== null;

// The end of srv's stderr, without ASan's shadow-byte map.
function stderrTail(srv, n = 45) {
  return srv.stderr.split('\n').filter((l) => !/^\s*0x[0-9a-f]+:|Shadow|^\s{2}[A-Z][a-z].*:\s/.test(l)).slice(-n);
}

// Resolves once srv is known alive (it answers) or dead (it exited).
async function settle(srv) {
  if (isDead(srv)) return;
  try {
    await fetch(srv.url + '/v1/queues');
  } catch {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 5000);
      srv.proc.once('exit', () => { clearTimeout(timer); resolve(); });
      if (isDead(srv)) { clearTimeout(timer); resolve(); }
    });
  }
}

before(async () => {
  server = await h.startServer();
});

// A server that died under a test (a sanitizer report, say) is reported
// with that test, its stderr's end as diagnostics, and replaced, so the
// tests after it still say something of their own.
afterEach(async (t) => {
  if (!server) return;
  await settle(server);
  if (!isDead(server)) return;
  t.diagnostic(`synq died (exit ${server.proc.exitCode} ${server.proc.signalCode}); its stderr ends:`);
  for (const l of stderrTail(server)) t.diagnostic(l);
  crashes.push(t.name);
  server = null;
});

beforeEach(async () => {
  if (!server) server = await h.startServer();
});

after(async () => {
  const code = server ? await server.stop() : 0;
  assert.deepEqual(crashes, [], 'tests under which synq crashed');
  assert.equal(code, 0, `server exits 0 on SIGTERM; stderr ends:\n${server ? server.stderr.slice(-4000) : ''}`);
});

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TP2 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

const show = (res) => `${res.status} ${JSON.stringify(res.body)}`;

// Long-polls until one job of queue q is handed to `worker`; returns it.
async function fetchSoon(srv, q, worker = 'w1', timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const jobs = await h.fetchJobs(srv, { queues: [q], worker, max: 1, wait: '1s' });
    if (jobs.length) return jobs[0];
  }
  throw new Error(`no job of queue ${q} handed out within ${timeoutMs} ms`);
}

// A worker in the test: fetch one job of q, hold it delayMs, then ack it
// with `result` (or fail it with `fail`). Returns { job, answer }.
async function worker(srv, q, { delayMs = 300, result, fail, name = 'w1' } = {}) {
  const job = await fetchSoon(srv, q, name);
  await h.sleep(delayMs);
  const answer = fail
    ? await h.api(srv, 'POST', `/v1/jobs/${job.id}/fail`, { worker: name, ...fail })
    : await h.api(srv, 'POST', `/v1/jobs/${job.id}/ack`, { worker: name, result });
  assert.equal(answer.status, 200, `worker ${fail ? 'fail' : 'ack'} ${job.id} -> ${show(answer)}`);
  return { job, answer };
}

// The headers of a 202 "not done yet" answer.
function assertAccepted(res, applied, what) {
  assert.equal(res.status, 202, `${what}: ${show(res)}`);
  assert.ok(res.body && typeof res.body.id === 'string', `${what}: body is the job: ${show(res)}`);
  assert.equal(res.headers.get('location'), `/v1/jobs/${res.body.id}`, `${what}: Location`);
  assert.equal(res.headers.get('retry-after'), '1', `${what}: Retry-After`);
  assert.equal(res.headers.get('preference-applied'), applied, `${what}: Preference-Applied`);
}

const absent = (v) => v === undefined || v === null;

// Sends the same request on n connections opened beforehand, all writes at
// once. Returns the answers as { status, headers: Map-like, body }.
async function concurrently(n, method, p, body, headers) {
  const conns = await Promise.all(Array.from({ length: n }, () => h.RawConn.connect(server)));
  try {
    const req = h.httpRequest(method, p, body, headers);
    const pending = conns.map((c) => { c.expectHead(false); return c.next(30000); });
    await Promise.all(conns.map((c) => c.write(req)));
    const raw = await Promise.all(pending);
    return raw.map((r) => ({ status: r.status, headers: { get: (k) => r.headers[k.toLowerCase()] ?? null }, body: r.json }));
  } finally {
    for (const c of conns) c.destroy();
  }
}

// ---------------------------------------------------------------------------
// 1. POST /v1/jobs with Prefer: wait

test('Prefer: wait=5 holds POST /v1/jobs until a worker acks: 200 completed with the result', async () => {
  const q = uq('wait-ack');
  const posting = h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', args: [7] }, { prefer: 'wait=5' });
  const w = worker(server, q, { delayMs: 300, result: { sum: 42, list: ['a', 1] } });
  const [res, { job, answer }] = await Promise.all([posting, w]);
  assert.equal(res.status, 200, `POST with Prefer: wait=5 -> ${show(res)}`);
  assert.equal(res.headers.get('preference-applied'), 'wait=5', 'Preference-Applied');
  assert.equal(res.body.id, job.id, 'answer names the job the worker acked');
  assert.equal(res.body.state, 'completed');
  assert.deepEqual(res.body.result, { sum: 42, list: ['a', 1] });
  assert.equal(res.body.error, null);
  assert.equal(res.body.attempts, 1);
  assert.deepEqual(res.body.args, [7]);
  assert.deepEqual(res.body, answer.body, 'the held answer is the job as the ack left it');
  assert.deepEqual(res.body, await h.getJob(server, job.id), 'and as GET shows it');
});

test('Prefer: wait=5 on a job that fails to dead (retry 0): 200 dead with its error', async () => {
  const q = uq('wait-dead');
  const posting = h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', retry: 0 }, { prefer: 'wait=5' });
  const w = worker(server, q, { fail: { message: 'boom', type: 'RuntimeError', backtrace: ['a.rb:1'] } });
  const [res, { job }] = await Promise.all([posting, w]);
  assert.equal(res.status, 200, `POST with Prefer: wait=5 -> ${show(res)}`);
  assert.equal(res.headers.get('preference-applied'), 'wait=5');
  assert.equal(res.body.id, job.id);
  assert.equal(res.body.state, 'dead');
  assert.equal(res.body.result, null);
  assert.deepEqual(res.body.error, { message: 'boom', type: 'RuntimeError', backtrace: ['a.rb:1'] });
  assert.equal(res.body.attempts, 1);
});

test('without Prefer, POST /v1/jobs answers 201 at once (no Preference-Applied)', async () => {
  const q = uq('noprefer');
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' });
  assert.equal(res.status, 201, show(res));
  assert.equal(res.headers.get('preference-applied'), null);
  assert.equal(res.body.state, 'queued');
});

// ---------------------------------------------------------------------------
// 2. Timeouts, 202 + Location, respond-async, GET ?wait

test('Prefer: wait=1 with no worker: 202 after the wait with Location, Retry-After, Preference-Applied', async () => {
  const q = uq('wait-timeout');
  const t0 = Date.now();
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { prefer: 'wait=1' });
  const took = Date.now() - t0;
  assertAccepted(res, 'wait=1', 'POST Prefer: wait=1');
  assert.ok(took >= 900, `held for the wait (${took} ms)`);
  assert.equal(res.body.state, 'queued', show(res));
  assert.equal(res.body.queue, q);

  const follow = await h.api(server, 'GET', res.headers.get('location'));
  assert.equal(follow.status, 200, `GET Location -> ${show(follow)}`);
  assert.equal(follow.body.id, res.body.id);
  assert.equal(follow.body.state, 'queued');
  assert.deepEqual(follow.body, res.body, 'Location gives the same job');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.equal(jobs.length, 1, 'one job made');
});

test('?wait=1s query form on POST /v1/jobs: 202 after the wait', async () => {
  const q = uq('wait-query');
  const t0 = Date.now();
  const res = await h.api(server, 'POST', '/v1/jobs?wait=1s', { queue: q, type: 't' });
  const took = Date.now() - t0;
  assertAccepted(res, 'wait=1', 'POST ?wait=1s');
  assert.ok(took >= 900, `held for the wait (${took} ms)`);
  assert.equal(res.body.state, 'queued');

  // and the query form also returns the result when a worker is there
  const q2 = uq('wait-query-ack');
  const [done, { job }] = await Promise.all([
    h.api(server, 'POST', '/v1/jobs?wait=5s', { queue: q2, type: 't' }),
    worker(server, q2, { result: 'ok' }),
  ]);
  assert.equal(done.status, 200, `POST ?wait=5s with a worker -> ${show(done)}`);
  assert.equal(done.body.id, job.id);
  assert.equal(done.body.state, 'completed');
  assert.equal(done.body.result, 'ok');
  assert.equal(done.headers.get('preference-applied'), 'wait=5');
});

test('Prefer: respond-async: 202 at once with Location', async () => {
  const q = uq('async');
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { prefer: 'respond-async' });
  assertAccepted(res, 'respond-async', 'POST Prefer: respond-async');
  assert.equal(res.body.state, 'queued');
  const follow = await h.api(server, 'GET', res.headers.get('location'));
  assert.equal(follow.status, 200, show(follow));
  assert.equal(follow.body.id, res.body.id);

  // respond-async wins over wait: still answered at once, not after 5 s
  const both = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { prefer: 'respond-async, wait=5' });
  assertAccepted(both, 'respond-async', 'POST Prefer: respond-async, wait=5');
  assert.equal(both.body.state, 'queued');
});

test('GET /v1/jobs/{id}?wait=5s returns 200 completed when acked meanwhile', async () => {
  const q = uq('getwait');
  const j = await h.enqueue(server, { queue: q, type: 't' });
  const [res, { answer }] = await Promise.all([
    h.api(server, 'GET', `/v1/jobs/${j.id}?wait=5s`),
    worker(server, q, { result: [1, 2, 3] }),
  ]);
  assert.equal(res.status, 200, `GET ?wait=5s -> ${show(res)}`);
  assert.equal(res.body.id, j.id);
  assert.equal(res.body.state, 'completed');
  assert.deepEqual(res.body.result, [1, 2, 3]);
  assert.deepEqual(res.body, answer.body);

  // Prefer: wait on GET works the same way
  const k = await h.enqueue(server, { queue: q, type: 't' });
  const [res2] = await Promise.all([
    h.api(server, 'GET', `/v1/jobs/${k.id}`, undefined, { prefer: 'wait=5' }),
    worker(server, q, { result: 'second' }),
  ]);
  assert.equal(res2.status, 200, `GET Prefer: wait=5 -> ${show(res2)}`);
  assert.equal(res2.body.state, 'completed');
  assert.equal(res2.body.result, 'second');

  // an already-final job is answered at once
  const fin = await h.api(server, 'GET', `/v1/jobs/${j.id}?wait=5s`);
  assert.equal(fin.status, 200, show(fin));
  assert.equal(fin.body.state, 'completed');
});

test('GET /v1/jobs/{id}?wait=1s on timeout: 200 with the live state', async () => {
  const q = uq('getwait-timeout');
  const j = await h.enqueue(server, { queue: q, type: 't' });
  const t0 = Date.now();
  const res = await h.api(server, 'GET', `/v1/jobs/${j.id}?wait=1s`);
  const took = Date.now() - t0;
  assert.equal(res.status, 200, `GET ?wait=1s -> ${show(res)}`);
  assert.ok(took >= 900, `held for the wait (${took} ms)`);
  assert.equal(res.body.id, j.id);
  assert.equal(res.body.state, 'queued');

  // an active job times out as active
  const a = await fetchSoon(server, q, 'wa');
  const res2 = await h.api(server, 'GET', `/v1/jobs/${j.id}?wait=1s`);
  assert.equal(res2.status, 200, show(res2));
  assert.equal(res2.body.state, 'active');
  assert.equal(res2.body.worker, 'wa');
  assert.equal(a.id, j.id);
});

test('bad ?wait=abc: 422 on POST and GET; unknown Prefer values are ignored', async () => {
  const q = uq('badwait');
  h.assertError(await h.api(server, 'POST', '/v1/jobs?wait=abc', { queue: q, type: 't' }), 422, 'invalid_field', 'wait', 'POST ?wait=abc');
  h.assertError(await h.api(server, 'POST', '/v1/jobs?wait=10m', { queue: q, type: 't' }), 422, 'invalid_field', 'wait', 'POST ?wait=10m (over 5m)');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.equal(jobs.length, 0, 'a rejected ?wait makes no job');
  const j = await h.enqueue(server, { queue: q, type: 't' });
  h.assertError(await h.api(server, 'GET', `/v1/jobs/${j.id}?wait=abc`), 422, 'invalid_field', 'wait', 'GET ?wait=abc');
  // RFC 7240: preferences the server does not know, or bad values, are ignored
  const odd = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { prefer: 'handling=lenient, wait=abc' });
  assert.equal(odd.status, 201, show(odd));
});

// ---------------------------------------------------------------------------
// 3. 404 vs 410, expires_at

test('404 for an unknown id; 410 expired with expired_at for a pruned one; expires_at once final', async () => {
  h.assertError(await h.api(server, 'GET', '/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV'), 404, 'not_found', undefined, 'GET unknown ULID');
  h.assertError(await h.api(server, 'GET', `/v1/jobs/${uq('nope')}`), 404, 'not_found', undefined, 'GET unknown id');

  const q = uq('prune');
  const j = await h.enqueue(server, { queue: q, type: 't', keep_for: '1s' });
  assert.equal(j.keep_for, 1, `keep_for shown in seconds: ${JSON.stringify(j)}`);
  assert.ok(absent(j.expires_at), `no expires_at while live: ${JSON.stringify(j)}`);
  const { answer } = await worker(server, q, { delayMs: 0, result: 'done' });
  const done = answer.body;
  assert.equal(done.state, 'completed');
  const fin = h.parseTime(done.finished_at, 'finished_at');
  const exp = h.parseTime(done.expires_at, 'expires_at');
  assert.ok(Math.abs(exp - fin - 1000) < 1, `expires_at = finished_at + keep_for: ${done.finished_at} ${done.expires_at}`);
  assert.equal((await h.getJob(server, j.id)).expires_at, done.expires_at, 'GET shows expires_at');

  // A completed job without keep_for also tells when it goes (default 7d).
  const k = await h.enqueue(server, { queue: q, type: 'long' });
  const { answer: a2 } = await worker(server, q, { delayMs: 0 });
  assert.equal(a2.body.id, k.id);
  const exp2 = h.parseTime(a2.body.expires_at, 'expires_at (default)') - h.parseTime(a2.body.finished_at);
  assert.ok(Math.abs(exp2 - 7 * 86400e3) < 1, `default keep is 7d, got ${exp2} ms`);

  await h.sleep(2500);
  const gone = await h.waitFor(async () => {
    const r = await h.api(server, 'GET', `/v1/jobs/${j.id}`);
    return r.status === 200 ? null : r;
  }, 10000, 200, `job ${j.id} pruned`);
  h.assertError(gone, 410, 'expired', undefined, 'GET pruned job');
  assert.equal(gone.body.error.expired_at, done.expires_at, 'expired_at is when it expired');
  // the other job is still there; the unknown id is still 404
  assert.equal((await h.getJob(server, k.id)).state, 'completed');
  h.assertError(await h.api(server, 'GET', `/v1/jobs/${j.id}?wait=1s`), 410, 'expired', undefined, 'GET ?wait on a pruned job');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.deepEqual(jobs.map((x) => x.id), [k.id], 'the pruned job is no longer listed');
});

// ---------------------------------------------------------------------------
// 4. Idempotency-Key on POST /v1/jobs

test('Idempotency-Key: replay gives the same job (200, Idempotent-Replayed), one job exists', async () => {
  const q = uq('idem');
  const key = uq('key');
  const body = { queue: q, type: 't', args: [1] };
  const first = await h.api(server, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
  assert.equal(first.status, 201, show(first));
  assert.equal(first.headers.get('idempotent-replayed'), null, 'the first answer is not a replay');

  const again = await h.api(server, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
  assert.equal(again.status, 200, `replay -> ${show(again)}`);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.body.id, first.body.id, 'same job');
  assert.deepEqual(again.body, first.body);
  let { jobs } = await h.listAll(server, `queue=${q}`);
  assert.deepEqual(jobs.map((x) => x.id), [first.body.id], 'exactly one job');

  // The replay shows the job as it is now.
  await worker(server, q, { delayMs: 0, result: 'r' });
  const later = await h.api(server, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
  assert.equal(later.status, 200, show(later));
  assert.equal(later.headers.get('idempotent-replayed'), 'true');
  assert.equal(later.body.id, first.body.id);
  assert.equal(later.body.state, 'completed');
  assert.equal(later.body.result, 'r');

  // A different key makes a new job.
  const other = await h.api(server, 'POST', '/v1/jobs', body, { 'idempotency-key': key + '-2' });
  assert.equal(other.status, 201, show(other));
  assert.notEqual(other.body.id, first.body.id);
  ({ jobs } = await h.listAll(server, `queue=${q}`));
  assert.equal(jobs.length, 2);
});

test('Idempotency-Key with a different body: 422 idempotency_key_reused, nothing made', async () => {
  const q = uq('idem-diff');
  const key = uq('key');
  const first = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', args: [1] }, { 'idempotency-key': key });
  assert.equal(first.status, 201, show(first));
  h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', args: [2] }, { 'idempotency-key': key }),
    422, 'idempotency_key_reused', undefined, 'same key, other args');
  // byte-different body is a different request, even when it means the same JSON
  h.assertError(await h.api(server, 'POST', '/v1/jobs', `{"queue":"${q}", "type":"t","args":[1]}`, { 'idempotency-key': key }),
    422, 'idempotency_key_reused', undefined, 'same key, other bytes');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.deepEqual(jobs.map((x) => x.id), [first.body.id]);
});

test('bad Idempotency-Key: 400 invalid_idempotency_key (empty, too long, not visible ASCII)', async () => {
  const q = uq('idem-bad');
  for (const [key, what] of [['', 'empty'], ['k'.repeat(256), '256 chars'], ['a b', 'space'], ['a\tb', 'tab']]) {
    h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { 'idempotency-key': key }),
      400, 'invalid_idempotency_key', undefined, `key ${what}`);
  }
  // bytes fetch() will not send: non-ASCII (obs-text, allowed in a field
  // value, so the key check must see it) and DEL (a control character the
  // HTTP parser may already refuse with 400 bad_request)
  for (const [key, enc, what] of [['caf\xe9', 'latin1', 'latin-1 e-acute'], ['caf\u00e9', 'utf8', 'UTF-8 e-acute'], ['a\x7fb', 'latin1', 'DEL']]) {
    const req = h.httpRequest('POST', '/v1/jobs', { queue: q, type: 't' }, { 'idempotency-key': key, connection: 'close' });
    const r = await h.rawExchange(server, Buffer.from(req, enc));
    assert.equal(r.responses.length, 1, `key ${what}: one answer, got ${JSON.stringify(r.text.slice(0, 300))}`);
    const res = { status: r.responses[0].status, body: r.responses[0].json };
    const codes = what === 'DEL' ? ['invalid_idempotency_key', 'bad_request'] : ['invalid_idempotency_key'];
    assert.ok(res.body && res.body.error && codes.includes(res.body.error.code), `key ${what}: code in ${codes}: ${show(res)}`);
    h.assertError(res, 400, res.body.error.code, undefined, `key ${what}`);
  }
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.equal(jobs.length, 0, 'no job made with a bad key');
  // 255 visible characters are fine
  const ok = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { 'idempotency-key': `${seq}-`.padEnd(255, '~') });
  assert.equal(ok.status, 201, `255-char key -> ${show(ok)}`);
});

test('20 concurrent POSTs with one Idempotency-Key and the same body make exactly one job', async (t) => {
  const q = uq('idem-race');
  const key = uq('key');
  const body = JSON.stringify({ queue: q, type: 't', args: ['race'] });
  // 20 connections opened first, then all requests written at once, so
  // they reach the server together rather than one connect at a time.
  const answers = await concurrently(20, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
  const statuses = answers.map((r) => r.status);
  t.diagnostic(`statuses: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 201).length, 1, `exactly one 201: ${statuses}`);
  for (const r of answers) {
    assert.ok([200, 201, 409].includes(r.status), `status 201, 200 or 409: ${show(r)}`);
    if (r.status === 409) h.assertError(r, 409, 'idempotency_in_flight', undefined, 'concurrent repeat');
    if (r.status === 200) assert.equal(r.headers.get('idempotent-replayed'), 'true');
  }
  const id = answers.find((r) => r.status === 201).body.id;
  for (const r of answers.filter((x) => x.status === 200)) assert.equal(r.body.id, id, 'replays name the one job');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.deepEqual(jobs.map((x) => x.id), [id], 'exactly one job exists');
  // once settled, the repeat is a plain replay
  const settled = await h.api(server, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
  assert.equal(settled.status, 200, show(settled));
  assert.equal(settled.body.id, id);
});

// Enqueues with a key on a server of its own, stops it with `stop`, restarts
// on the same data directory and checks the key is remembered.
async function keysSurvive(stop, what) {
  const srv = await h.startServer();
  let srv2 = null;
  try {
    const q = uq('idem-restart');
    const key = uq('key');
    const body = { queue: q, type: 't', args: [what] };
    const first = await h.api(srv, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
    assert.equal(first.status, 201, show(first));
    const bulkKey = key + '-bulk';
    const bulkBody = [{ queue: q, type: 'b1' }, { queue: q, type: 'b2' }];
    const bulk = await h.api(srv, 'POST', '/v1/jobs/bulk', bulkBody, { 'idempotency-key': bulkKey });
    assert.equal(bulk.status, 201, show(bulk));
    await stop(srv);

    srv2 = await h.startServer({ dataDir: srv.dataDir });
    const again = await h.api(srv2, 'POST', '/v1/jobs', body, { 'idempotency-key': key });
    assert.equal(again.status, 200, `${what}: replay after restart -> ${show(again)}`);
    assert.equal(again.headers.get('idempotent-replayed'), 'true', what);
    assert.equal(again.body.id, first.body.id, `${what}: same job after restart`);
    h.assertError(await h.api(srv2, 'POST', '/v1/jobs', { ...body, args: ['other'] }, { 'idempotency-key': key }),
      422, 'idempotency_key_reused', undefined, `${what}: other body after restart`);
    const bulkAgain = await h.api(srv2, 'POST', '/v1/jobs/bulk', bulkBody, { 'idempotency-key': bulkKey });
    assert.equal(bulkAgain.status, 200, `${what}: bulk replay after restart -> ${show(bulkAgain)}`);
    assert.deepEqual(bulkAgain.body, bulk.body, `${what}: bulk replay gives the stored body`);
    const { jobs } = await h.listAll(srv2, `queue=${q}`);
    assert.equal(jobs.length, 3, `${what}: nothing made twice`);
  } finally {
    if (srv2) assert.equal(await srv2.stop(), 0, `restarted server exits 0; stderr ends:\n${stderrTail(srv2).join('\n')}`);
    if (srv.proc.exitCode === null && srv.proc.signalCode === null) await srv.stop();
  }
}

test('Idempotency-Keys survive a restart (SIGTERM)', async () => {
  await keysSurvive(async (srv) => {
    const code = await srv.stop();
    assert.equal(code, 0, `exits 0 on SIGTERM; stderr ends:\n${stderrTail(srv).join('\n')}`);
  }, 'SIGTERM');
});

test('Idempotency-Keys survive kill -9', async () => {
  await keysSurvive(async (srv) => { await srv.kill(); assert.equal(srv.proc.signalCode, 'SIGKILL'); }, 'SIGKILL');
});

// ---------------------------------------------------------------------------
// 5. traceparent

test('traceparent header is stored on the job and handed to the worker on fetch', async () => {
  const q = uq('tp');
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { traceparent: TP });
  assert.equal(res.status, 201, show(res));
  assert.equal(res.body.traceparent, TP, 'in the enqueue answer');
  assert.equal((await h.getJob(server, res.body.id)).traceparent, TP, 'in GET');
  const got = await fetchSoon(server, q);
  assert.equal(got.id, res.body.id);
  assert.equal(got.traceparent, TP, 'fetch gives it to the worker');

  // the body's own traceparent wins over the header
  const own = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', traceparent: TP2 }, { traceparent: TP });
  assert.equal(own.status, 201, show(own));
  assert.equal(own.body.traceparent, TP2);
  // and the body field alone works
  const bodyOnly = await h.enqueue(server, { queue: q, type: 't', traceparent: TP2 });
  assert.equal(bodyOnly.traceparent, TP2);

  // bulk: every job of the request gets the header
  const bulk = await h.api(server, 'POST', '/v1/jobs/bulk', [{ queue: q, type: 'a' }, { queue: q, type: 'b', traceparent: TP2 }], { traceparent: TP });
  assert.equal(bulk.status, 201, show(bulk));
  assert.deepEqual(bulk.body.jobs.map((j) => j.traceparent), [TP, TP2]);

  // without the header nothing is stored
  const none = await h.enqueue(server, { queue: q, type: 't' });
  assert.ok(absent(none.traceparent), JSON.stringify(none));
});

test('an invalid traceparent header is ignored, not stored; the job is still made', async () => {
  const q = uq('tp-bad');
  const bad = [
    '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', // uppercase
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero parent id
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // short trace id
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
    'garbage',
  ];
  for (const tp of bad) {
    const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't' }, { traceparent: tp });
    assert.equal(res.status, 201, `traceparent ${tp} -> ${show(res)}`);
    assert.ok(absent(res.body.traceparent), `invalid ${tp} not stored: ${show(res)}`);
    assert.ok(absent((await h.getJob(server, res.body.id)).traceparent), `GET: invalid ${tp} not stored`);
  }
  const got = await fetchSoon(server, q);
  assert.ok(absent(got.traceparent), 'fetch: no traceparent');
});

test('body field traceparent is validated: 422 invalid_field', async () => {
  const q = uq('tp-field');
  for (const tp of ['garbage', 42, '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '']) {
    h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', traceparent: tp }), 422, 'invalid_field', 'traceparent', `traceparent ${JSON.stringify(tp)}`);
  }
  h.assertError(await h.api(server, 'POST', '/v1/jobs/bulk', [{ queue: q, type: 't' }, { queue: q, type: 't', traceparent: 'x' }]),
    422, 'invalid_field', 'jobs[1].traceparent', 'bulk traceparent');
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.equal(jobs.length, 0, 'no job made');
});

// ---------------------------------------------------------------------------
// 6. Bulk with Idempotency-Key

test('bulk with Idempotency-Key replays the stored body; other body 422', async () => {
  const q = uq('idem-bulk');
  const key = uq('key');
  const body = { jobs: [{ queue: q, type: 'a' }, { queue: q, type: 'b', args: [2] }, { queue: q, type: 'c' }] };
  const first = await h.api(server, 'POST', '/v1/jobs/bulk', body, { 'idempotency-key': key });
  assert.equal(first.status, 201, show(first));
  assert.equal(first.body.jobs.length, 3);
  assert.equal(first.headers.get('idempotent-replayed'), null);

  // a job changes state; the bulk replay still gives the stored answer
  await worker(server, q, { delayMs: 0, result: 'x' });
  const again = await h.api(server, 'POST', '/v1/jobs/bulk', body, { 'idempotency-key': key });
  assert.equal(again.status, 200, `bulk replay -> ${show(again)}`);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(again.body, first.body, 'the stored body, byte for byte as JSON');
  assert.match(again.headers.get('content-type') || '', /^application\/json/);

  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.deepEqual(jobs.map((j) => j.id).sort(), first.body.jobs.map((j) => j.id).sort(), 'no jobs made twice');

  h.assertError(await h.api(server, 'POST', '/v1/jobs/bulk', { jobs: body.jobs.slice(0, 2) }, { 'idempotency-key': key }),
    422, 'idempotency_key_reused', undefined, 'bulk, same key, other body');
  h.assertError(await h.api(server, 'POST', '/v1/jobs/bulk', body, { 'idempotency-key': '' }),
    400, 'invalid_idempotency_key', undefined, 'bulk, empty key');

  // concurrent bulk repeats: exactly one set of jobs
  const q2 = uq('idem-bulk-race');
  const key2 = uq('key');
  const body2 = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ queue: q2, type: 't', args: [i] })));
  const answers = await concurrently(10, 'POST', '/v1/jobs/bulk', body2, { 'idempotency-key': key2 });
  const statuses = answers.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 201).length, 1, `one 201: ${statuses}`);
  assert.ok(statuses.every((s) => [200, 201, 409].includes(s)), `statuses ${statuses}`);
  const made = answers.find((r) => r.status === 201).body;
  for (const r of answers.filter((x) => x.status === 200)) assert.deepEqual(r.body, made);
  const { jobs: jobs2 } = await h.listAll(server, `queue=${q2}`);
  assert.equal(jobs2.length, 5, 'five jobs, made once');
});
