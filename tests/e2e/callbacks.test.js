// Callbacks end to end (issue 4 API, "Callbacks"): a local HTTP receiver
// verifies every POST with the standardwebhooks library (Standard Webhooks
// signatures, secret rotation), and the tests check the event body and
// headers, retries with the attempt log, 410 and an exhausted schedule,
// replay, Retry-After, event filters (dead, progress, cancelled), queue-level
// callbacks, durability of a pending delivery across kill -9, and invalid
// callback specs.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const { Webhook } = require('standardwebhooks');
const h = require('./helpers');

// Four retry delays: five attempts in all, about a second end to end.
const RETRY = '200ms,200ms,200ms,200ms';
const ATTEMPTS = 5;
const QUIET_MS = 1000; // long enough for any further attempt to show up

let server;
let rx;
let seq = 0;
const uq = (name) => `${name}-${process.pid}-${++seq}`;
const newSecret = () => 'whsec_' + crypto.randomBytes(32).toString('base64');
const traceparent = () => `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`;

// ---------------------------------------------------------------------------
// Receiver: one local HTTP server with a route per test. Every request is
// verified with each secret of its route separately (so a rotation test sees
// that either secret alone verifies); failures are collected in `errors`
// and checked by every test. respond(rec, n) picks the answer to the n-th
// request (1-based) of the route: { status, headers, body }.

class Receiver {
  constructor() { this.routes = new Map(); this.errors = []; this.waiters = []; }

  async start(port = 0) {
    this.srv = http.createServer((req, res) => this._on(req, res));
    await new Promise((resolve, reject) => {
      this.srv.once('error', reject);
      this.srv.listen(port, '127.0.0.1', () => { this.srv.removeListener('error', reject); resolve(); });
    });
    this.port = this.srv.address().port;
    return this;
  }

  async close() {
    if (!this.srv) return;
    this.srv.closeAllConnections();
    await new Promise((resolve) => this.srv.close(resolve));
    this.srv = null;
  }

  // Registers a route; returns its URL.
  route(path, { secrets, respond = () => ({ status: 200 }) }) {
    assert.ok(secrets && secrets.length, 'every route verifies signatures');
    this.routes.set(path, { secrets, respond, reqs: [] });
    return `http://127.0.0.1:${this.port}${path}`;
  }

  reqs(path) { return this.routes.get(path).reqs; }

  _on(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url;
      const rec = { method: req.method, path, headers: req.headers, body, at: Date.now(), json: undefined, verified: [] };
      try { rec.json = JSON.parse(body); } catch { /* recorded as undefined */ }
      const r = this.routes.get(path);
      if (!r) {
        this.errors.push(`request to unknown path ${req.method} ${path}`);
        res.writeHead(404).end();
        return;
      }
      if (req.method !== 'POST') this.errors.push(`${path}: method ${req.method}, want POST`);
      for (const s of r.secrets) {
        try {
          new Webhook(s).verify(body, req.headers);
          rec.verified.push(true);
        } catch (e) {
          rec.verified.push(false);
          this.errors.push(`${path} attempt ${r.reqs.length + 1}: verification with ${s.slice(0, 12)}... failed: ${e.message}; headers ${JSON.stringify(req.headers)}`);
        }
      }
      r.reqs.push(rec);
      const out = r.respond(rec, r.reqs.length) || { status: 200 };
      res.writeHead(out.status, out.headers || {});
      res.end(out.body || '');
      for (const w of this.waiters.splice(0)) w();
    });
  }

  // Resolves with the route's requests once there are at least n.
  async waitCount(path, n, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    while (this.reqs(path).length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${path}: want ${n} requests within ${timeoutMs} ms, got ${this.reqs(path).length}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.reqs(path);
  }

  assertNoErrors() { assert.deepEqual(this.errors, [], 'every callback verifies'); }
}

// ---------------------------------------------------------------------------
// Job helpers.

// Fetches the job of queue q (waiting up to 5 s) as worker 'w'.
async function take(srv, q, id) {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const jobs = await h.fetchJobs(srv, { queues: [q], worker: 'w', max: 1, wait: '1s' });
    if (jobs.length) {
      assert.equal(jobs[0].id, id, 'the fetched job');
      return jobs[0];
    }
  }
  throw new Error(`job ${id} was not handed out`);
}

async function ack(srv, id, result) {
  const res = await h.api(srv, 'POST', `/v1/jobs/${id}/ack`, { worker: 'w', result });
  assert.equal(res.status, 200, `ack ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// Enqueue, fetch and ack one job; returns the enqueued job.
async function complete(srv, job, result, headers = {}) {
  const res = await h.api(srv, 'POST', '/v1/jobs', job, headers);
  assert.equal(res.status, 201, `enqueue: ${res.status} ${JSON.stringify(res.body)}`);
  await take(srv, job.queue, res.body.id);
  await ack(srv, res.body.id, result);
  return res.body;
}

async function deliveries(srv, jobId) {
  const res = await h.api(srv, 'GET', `/v1/jobs/${jobId}/deliveries`);
  assert.equal(res.status, 200, `deliveries of ${jobId}: ${res.status} ${JSON.stringify(res.body)}`);
  assert.ok(res.body && Array.isArray(res.body.deliveries), `deliveries array: ${JSON.stringify(res.body)}`);
  return res.body.deliveries;
}

// Waits until the job has one delivery in `state`; returns it.
async function waitDelivery(srv, jobId, state, timeoutMs = 10000) {
  return h.waitFor(async () => {
    const ds = await deliveries(srv, jobId);
    return ds.length === 1 && ds[0].state === state ? ds[0] : null;
  }, timeoutMs, 50, `one ${state} delivery of ${jobId}`);
}

// The documented delivery form.
function checkDelivery(d, want) {
  const ctx = JSON.stringify(d);
  for (const k of ['id', 'job_id', 'event', 'url', 'state', 'attempts', 'next_at', 'created_at', 'updated_at', 'attempts_log'])
    assert.ok(k in d, `delivery has ${k}: ${ctx}`);
  assert.equal(typeof d.id, 'string', ctx);
  assert.ok(d.id.length > 0, ctx);
  assert.ok(['pending', 'delivered', 'failed'].includes(d.state), `state: ${ctx}`);
  h.parseTime(d.created_at, 'created_at');
  h.parseTime(d.updated_at, 'updated_at');
  if (d.state === 'pending') h.parseTime(d.next_at, 'next_at');
  else assert.equal(d.next_at, null, `next_at null unless pending: ${ctx}`);
  assert.ok(Array.isArray(d.attempts_log), ctx);
  d.attempts_log.forEach((a, i) => {
    for (const k of ['attempt', 'at', 'status', 'latency_ms', 'response', 'error'])
      assert.ok(k in a, `attempts_log[${i}] has ${k}: ${ctx}`);
    h.parseTime(a.at, `attempts_log[${i}].at`);
    assert.equal(typeof a.latency_ms, 'number', `latency_ms: ${ctx}`);
    assert.ok(a.latency_ms >= 0, `latency_ms >= 0: ${ctx}`);
  });
  if (want.job_id !== undefined) assert.equal(d.job_id, want.job_id, ctx);
  if (want.url !== undefined) assert.equal(d.url, want.url, ctx);
  if (want.event !== undefined) assert.ok(d.event === want.event || d.event === `job.${want.event}`, `event ${want.event}: ${ctx}`);
  if (want.state !== undefined) assert.equal(d.state, want.state, ctx);
  if (want.attempts !== undefined) assert.equal(d.attempts, want.attempts, ctx);
  if (want.statuses !== undefined) assert.deepEqual(d.attempts_log.map((a) => a.status), want.statuses, `statuses: ${ctx}`);
}

// The event body and the Standard Webhooks headers of one request.
function checkEvent(rec, type, jobId) {
  const ctx = `${rec.body} ${JSON.stringify(rec.headers)}`;
  assert.ok(rec.json && typeof rec.json === 'object', `JSON body: ${ctx}`);
  assert.equal(rec.json.type, type, ctx);
  assert.equal(typeof rec.json.timestamp, 'string', `timestamp: ${ctx}`);
  assert.ok(Number.isFinite(Date.parse(rec.json.timestamp)), `timestamp parses: ${ctx}`);
  assert.ok(rec.json.data && rec.json.data.id === jobId, `data.id: ${ctx}`);
  assert.match(rec.headers['content-type'] || '', /^application\/json/, ctx);
  assert.ok(rec.headers['webhook-id'] && rec.headers['webhook-id'].length > 0, `webhook-id: ${ctx}`);
  assert.match(rec.headers['webhook-timestamp'] || '', /^\d+$/, `webhook-timestamp: ${ctx}`);
  const ts = Number(rec.headers['webhook-timestamp']) * 1000;
  assert.ok(Math.abs(ts - rec.at) < 5000, `webhook-timestamp is the attempt's time: ${ctx}`);
  assert.ok(rec.verified.length > 0 && rec.verified.every(Boolean), `verified: ${ctx}`);
}

before(async () => {
  rx = await new Receiver().start();
  server = await h.startServer({ args: ['--callback-retry', RETRY] });
});
after(async () => {
  if (rx) await rx.close();
  if (server) assert.equal(await server.stop(), 0, 'server exits 0');
});

// ---------------------------------------------------------------------------

test('completed job: one verified job.completed POST with the result and the traceparent', async () => {
  const q = uq('done');
  const secret = newSecret();
  const url = rx.route('/done', { secrets: [secret] });
  const tp = traceparent();
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', callback: { url, secret } }, { traceparent: tp });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const j = res.body;
  assert.equal(j.traceparent, tp, 'the request traceparent is stored');
  assert.equal(j.callback.url, url);
  assert.deepEqual(j.callback.events, ['completed', 'dead'], 'default events');
  assert.ok(!('secret' in j.callback) && !('secrets' in j.callback), `secret never shown: ${JSON.stringify(j.callback)}`);
  assert.ok(!JSON.stringify(j).includes(secret.slice(6)), 'secret bytes never shown');
  assert.ok(!JSON.stringify(await h.getJob(server, j.id)).includes(secret.slice(6)), 'GET never shows the secret');

  await take(server, q, j.id);
  const result = { sent: 3, list: [1, 'two', null], nested: { ok: true } };
  await ack(server, j.id, result);

  const [rec] = await rx.waitCount('/done', 1);
  checkEvent(rec, 'job.completed', j.id);
  assert.equal(rec.json.data.state, 'completed');
  assert.deepEqual(rec.json.data.result, result);
  assert.equal(rec.headers.traceparent, tp, 'traceparent header is the job\'s');
  assert.ok(!rec.body.includes(secret.slice(6)), 'the payload does not carry the secret');
  const sigs = rec.headers['webhook-signature'].split(' ');
  assert.equal(sigs.length, 1, 'one secret, one signature');
  assert.match(sigs[0], /^v1,[A-Za-z0-9+/]+=*$/);

  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/done').length, 1, 'exactly one POST');
  const d = await waitDelivery(server, j.id, 'delivered');
  checkDelivery(d, { job_id: j.id, url, event: 'completed', state: 'delivered', attempts: 1, statuses: [200] });
  rx.assertNoErrors();
});

test('a job without a traceparent gets a callback without a stale one', async () => {
  const q = uq('notp');
  const secret = newSecret();
  const url = rx.route('/notp', { secrets: [secret] });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret } }, 7);
  const [rec] = await rx.waitCount('/notp', 1);
  checkEvent(rec, 'job.completed', j.id);
  assert.equal(rec.json.data.result, 7);
  if (rec.headers.traceparent !== undefined)
    assert.match(rec.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'a traceparent, if sent, is valid');
  rx.assertNoErrors();
});

test('three 500s then 200: delivered on attempt 4, same webhook-id, every attempt verifies, attempt log', async () => {
  const q = uq('retry');
  const secret = newSecret();
  const url = rx.route('/retry', {
    secrets: [secret],
    respond: (rec, n) => (n <= 3 ? { status: 500, body: `nope ${n}` } : { status: 200, body: 'ok' }),
  });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret } }, 'r');
  const reqs = await rx.waitCount('/retry', 4);
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/retry').length, 4, 'no attempt after the 200');
  const ids = new Set(reqs.map((r) => r.headers['webhook-id']));
  assert.equal(ids.size, 1, `same webhook-id on every attempt: ${[...ids]}`);
  for (const r of reqs) checkEvent(r, 'job.completed', j.id);
  assert.ok(reqs.every((r) => r.body === reqs[0].body), 'the same payload on every attempt');
  for (let i = 1; i < 4; i++) {
    const gap = reqs[i].at - reqs[i - 1].at;
    assert.ok(gap >= 150 && gap < 3000, `retry ${i} about 200 ms after the previous attempt: ${gap} ms`);
  }

  const list = await deliveries(server, j.id);
  assert.equal(list.length, 1, `one delivery: ${JSON.stringify(list)}`);
  const d = list[0];
  checkDelivery(d, { job_id: j.id, url, event: 'completed', state: 'delivered', attempts: 4, statuses: [500, 500, 500, 200] });
  assert.equal(d.attempts_log.length, 4);
  assert.deepEqual(d.attempts_log.map((a) => a.attempt), [1, 2, 3, 4], 'attempt numbers');
  assert.ok(d.attempts_log.every((a) => a.error === null || a.error === undefined || typeof a.error === 'string'));
  const times = d.attempts_log.map((a) => h.parseTime(a.at));
  for (let i = 1; i < 4; i++) assert.ok(times[i] > times[i - 1], 'attempt times increase');
  if (d.attempts_log[0].response !== null) assert.match(d.attempts_log[0].response, /nope 1/, 'response body kept');

  const one = await h.api(server, 'GET', `/v1/deliveries/${d.id}`);
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.deepEqual(one.body, d, 'GET /v1/deliveries/{id} is the listed form');
  h.assertError(await h.api(server, 'GET', '/v1/deliveries/no-such-delivery'), 404, 'not_found', undefined, 'unknown delivery');
  h.assertError(await h.api(server, 'GET', '/v1/jobs/no-such-job/deliveries'), 404, 'not_found', undefined, 'deliveries of unknown job');
  rx.assertNoErrors();
});

test('secret rotation: two v1 signatures; either secret alone verifies', async () => {
  const q = uq('rot');
  const oldS = newSecret();
  const newS = newSecret();
  // The route verifies with each secret separately.
  const url = rx.route('/rot', { secrets: [oldS, newS] });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret: [oldS, newS] } }, null);
  const [rec] = await rx.waitCount('/rot', 1);
  checkEvent(rec, 'job.completed', j.id);
  const sigs = rec.headers['webhook-signature'].split(' ');
  assert.equal(sigs.length, 2, `two signatures: ${rec.headers['webhook-signature']}`);
  for (const s of sigs) assert.match(s, /^v1,[A-Za-z0-9+/]+=*$/);
  assert.notEqual(sigs[0], sigs[1]);
  assert.deepEqual(rec.verified, [true, true], 'old alone and new alone verify');
  // The verifier is not vacuous: a third secret, or either signature cut out, fails.
  assert.throws(() => new Webhook(newSecret()).verify(rec.body, rec.headers), /signature/i);
  assert.throws(() => new Webhook(oldS).verify(rec.body, { ...rec.headers, 'webhook-signature': sigs[1] }));
  assert.doesNotThrow(() => new Webhook(newS).verify(rec.body, { ...rec.headers, 'webhook-signature': sigs[1] }));
  assert.throws(() => new Webhook(oldS).verify(rec.body + ' ', rec.headers), 'a changed body fails');
  rx.assertNoErrors();
});

test('410 stops retries at once', async () => {
  const q = uq('gone');
  const secret = newSecret();
  const url = rx.route('/gone', { secrets: [secret], respond: () => ({ status: 410, body: 'gone' }) });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret } }, 1);
  await rx.waitCount('/gone', 1);
  const d = await waitDelivery(server, j.id, 'failed');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/gone').length, 1, 'no retry after 410');
  const [now] = await deliveries(server, j.id);
  checkDelivery(now, { job_id: j.id, state: 'failed', attempts: 1, statuses: [410] });
  assert.equal(now.id, d.id);
  rx.assertNoErrors();
});

test('an always failing receiver: failed after the schedule; replay after the fix delivers', async () => {
  const q = uq('down');
  const secret = newSecret();
  let fixed = false;
  const url = rx.route('/down', {
    secrets: [secret],
    respond: () => (fixed ? { status: 204 } : { status: 500, body: 'broken' }),
  });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret } }, 'x');
  await rx.waitCount('/down', ATTEMPTS);
  const d = await waitDelivery(server, j.id, 'failed');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/down').length, ATTEMPTS, `${ATTEMPTS} attempts for a schedule of ${ATTEMPTS - 1} delays`);
  const [now] = await deliveries(server, j.id);
  checkDelivery(now, { job_id: j.id, state: 'failed', attempts: ATTEMPTS, statuses: Array(ATTEMPTS).fill(500) });

  fixed = true;
  const rp = await h.api(server, 'POST', `/v1/deliveries/${d.id}/replay`);
  assert.equal(rp.status, 200, `replay: ${rp.status} ${JSON.stringify(rp.body)}`);
  assert.equal(rp.body.id, d.id, 'replay answers the delivery');
  assert.ok(['pending', 'delivered'].includes(rp.body.state), `replayed delivery pending: ${JSON.stringify(rp.body)}`);
  const reqs = await rx.waitCount('/down', ATTEMPTS + 1);
  checkEvent(reqs[ATTEMPTS], 'job.completed', j.id);
  const after = await waitDelivery(server, j.id, 'delivered');
  checkDelivery(after, { job_id: j.id, state: 'delivered' });
  assert.equal(after.attempts_log[after.attempts_log.length - 1].status, 204, 'the last attempt got the 204');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/down').length, ATTEMPTS + 1, 'one POST for the replay');
  h.assertError(await h.api(server, 'POST', '/v1/deliveries/no-such-delivery/replay'), 404, 'not_found', undefined, 'replay unknown');
  rx.assertNoErrors();
});

test('Retry-After (seconds, then an HTTP-date) puts the next attempt later than the 200 ms schedule', async () => {
  const q = uq('ra');
  const secret = newSecret();
  const url = rx.route('/ra', {
    secrets: [secret],
    respond: (rec, n) => {
      if (n === 1) return { status: 503, headers: { 'retry-after': '1' } };
      // RFC 9110 section 10.2.3: an HTTP-date 2 s ahead (whole seconds, so 1-2 s).
      if (n === 2) return { status: 429, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } };
      return { status: 200 };
    },
  });
  const j = await complete(server, { queue: q, type: 't', callback: { url, secret } }, 1);
  const reqs = await rx.waitCount('/ra', 3, 15000);
  const gap1 = reqs[1].at - reqs[0].at;
  assert.ok(gap1 >= 900, `second attempt honours Retry-After: 1 (gap ${gap1} ms, the schedule says 200 ms)`);
  assert.ok(gap1 < 3000, `second attempt not much later than Retry-After: 1 (gap ${gap1} ms)`);
  const gap2 = reqs[2].at - reqs[1].at;
  assert.ok(gap2 >= 900, `third attempt honours a Retry-After HTTP-date 2 s ahead (gap ${gap2} ms)`);
  assert.ok(gap2 < 4000, `third attempt not much later than the HTTP-date (gap ${gap2} ms)`);
  for (const r of reqs) checkEvent(r, 'job.completed', j.id);
  checkDelivery(await waitDelivery(server, j.id, 'delivered'), { attempts: 3, statuses: [503, 429, 200] });
  rx.assertNoErrors();
});

test('events filter: dead gives job.dead with the error, completed gives nothing', async () => {
  const q = uq('dead');
  const secret = newSecret();
  const url = rx.route('/dead', { secrets: [secret] });
  const cb = { url, secret, events: ['dead'] };

  const ok = await complete(server, { queue: q, type: 't', callback: cb }, 'fine');
  assert.deepEqual(ok.callback.events, ['dead']);

  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', retry: false, callback: cb });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const bad = res.body;
  await take(server, q, bad.id);
  const f = await h.api(server, 'POST', `/v1/jobs/${bad.id}/fail`, { worker: 'w', message: 'kaput', type: 'KaputError' });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  assert.equal(f.body.state, 'dead');

  const [rec] = await rx.waitCount('/dead', 1);
  checkEvent(rec, 'job.dead', bad.id);
  assert.equal(rec.json.data.state, 'dead');
  assert.equal(rec.json.data.error.message, 'kaput');
  assert.equal(rec.json.data.error.type, 'KaputError');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/dead').length, 1, 'nothing for the completed job');
  assert.deepEqual(await deliveries(server, ok.id), [], 'no delivery for the completed job');
  checkDelivery(await waitDelivery(server, bad.id, 'delivered'), { event: 'dead', attempts: 1 });
  rx.assertNoErrors();
});

test('events filter: progress gives job.progress; cancelled gives job.cancelled', async () => {
  const q = uq('prog');
  const secret = newSecret();
  const url = rx.route('/prog', { secrets: [secret] });
  const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', callback: { url, secret, events: ['progress'] } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const j = res.body;
  await take(server, q, j.id);
  const p = await h.api(server, 'POST', `/v1/jobs/${j.id}/progress`, { worker: 'w', percent: 40, message: 'halfway', data: { step: 2 } });
  assert.equal(p.status, 200, JSON.stringify(p.body));
  const [rec] = await rx.waitCount('/prog', 1);
  checkEvent(rec, 'job.progress', j.id);
  assert.equal(rec.json.data.progress.percent, 40);
  assert.equal(rec.json.data.progress.message, 'halfway');
  assert.deepEqual(rec.json.data.progress.data, { step: 2 });
  await ack(server, j.id, 'done');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/prog').length, 1, 'no job.completed when only progress is asked for');
  checkDelivery(await waitDelivery(server, j.id, 'delivered'), { event: 'progress' });

  const cq = uq('canc');
  const curl = rx.route('/canc', { secrets: [secret] });
  const c = await h.enqueue(server, { queue: cq, type: 't', callback: { url: curl, secret, events: ['cancelled'] } });
  const cr = await h.api(server, 'POST', `/v1/jobs/${c.id}/cancel`);
  assert.equal(cr.status, 200, JSON.stringify(cr.body));
  const [crec] = await rx.waitCount('/canc', 1);
  checkEvent(crec, 'job.cancelled', c.id);
  assert.equal(crec.json.data.state, 'cancelled');
  rx.assertNoErrors();
});

test('a queue-level callback applies to jobs without their own', async () => {
  const q = uq('qcb');
  const qs = newSecret();
  const js = newSecret();
  const qurl = rx.route('/qcb-queue', { secrets: [qs] });
  const jurl = rx.route('/qcb-job', { secrets: [js] });
  const put = await h.api(server, 'PUT', `/v1/queues/${q}`, { callback: { url: qurl, secret: qs } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.ok(!JSON.stringify(put.body).includes(qs.slice(6)), `queue settings never show the secret: ${JSON.stringify(put.body)}`);

  const plain = await complete(server, { queue: q, type: 't' }, 'from-queue');
  const own = await complete(server, { queue: q, type: 't', callback: { url: jurl, secret: js } }, 'own');
  const [qrec] = await rx.waitCount('/qcb-queue', 1);
  const [jrec] = await rx.waitCount('/qcb-job', 1);
  checkEvent(qrec, 'job.completed', plain.id);
  assert.equal(qrec.json.data.result, 'from-queue');
  checkEvent(jrec, 'job.completed', own.id);
  assert.equal(jrec.json.data.result, 'own');
  await h.sleep(QUIET_MS);
  assert.equal(rx.reqs('/qcb-queue').length, 1, 'the job with its own callback does not use the queue one');
  assert.equal(rx.reqs('/qcb-job').length, 1);
  rx.assertNoErrors();
});

test('a pending delivery survives kill -9 and is delivered after the restart', { timeout: 60000 }, async () => {
  // A port with nothing listening yet: the receiver is down at first.
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const args = ['--callback-retry', '1s,1s,1s,1s,1s,1s,1s,1s,1s,1s'];
  const srv = await h.startServer({ args });
  let srv2 = null;
  const late = new Receiver();
  try {
    const secret = newSecret();
    const url = `http://127.0.0.1:${port}/durable`;
    const q = uq('dur');
    // A: the first attempt failed (connection refused) before the kill.
    const tp = traceparent();
    const a = await complete(srv, { queue: q, type: 't', callback: { url, secret } }, 'a', { traceparent: tp });
    const da = await h.waitFor(async () => {
      const ds = await deliveries(srv, a.id);
      return ds.length === 1 && ds[0].attempts >= 1 ? ds[0] : null;
    }, 10000, 50, 'a failed first attempt');
    checkDelivery(da, { job_id: a.id, url, state: 'pending' });
    assert.equal(da.attempts_log[0].status, null, `no status for a refused connection: ${JSON.stringify(da)}`);
    assert.equal(typeof da.attempts_log[0].error, 'string', 'the network error is logged');
    // B: acknowledged right before the kill.
    const b = await complete(srv, { queue: q, type: 't', callback: { url, secret } }, 'b');
    await srv.kill();

    await late.start(port);
    late.route('/durable', { secrets: [secret] });
    srv2 = await h.startServer({ dataDir: srv.dataDir, args });
    const reqs = await late.waitCount('/durable', 2, 20000);
    const byId = new Map(reqs.map((r) => [r.json && r.json.data && r.json.data.id, r]));
    for (const [j, result] of [[a, 'a'], [b, 'b']]) {
      const rec = byId.get(j.id);
      assert.ok(rec, `${j.id} delivered after the restart: ${reqs.map((r) => r.body)}`);
      checkEvent(rec, 'job.completed', j.id);
      assert.equal(rec.json.data.result, result);
    }
    const after = await waitDelivery(srv2, a.id, 'delivered');
    assert.equal(after.id, da.id, 'the same delivery, not a new one');
    assert.equal(byId.get(a.id).headers.traceparent, tp, 'the traceparent survives the restart too');
    assert.ok(after.attempts >= 2, `attempts counted across the restart: ${JSON.stringify(after)}`);
    await waitDelivery(srv2, b.id, 'delivered');
    late.assertNoErrors();
  } finally {
    await late.close();
    if (srv.proc.exitCode === null && srv.proc.signalCode === null) await srv.stop();
    if (srv2) assert.equal(await srv2.stop(), 0, 'restarted server exits 0');
  }
});

test('invalid callback specs: 422 with the field', async () => {
  const q = uq('bad');
  const ok = newSecret();
  const cases = [
    [{ url: 'ftp://127.0.0.1/x', secret: ok }, 'callback.url', 'ftp url'],
    [{ url: 'javascript:alert(1)' }, 'callback.url', 'javascript url'],
    [{ url: '127.0.0.1:9/x' }, 'callback.url', 'no scheme'],
    [{ secret: ok }, 'callback.url', 'missing url'],
    [{ url: 42 }, 'callback.url', 'url not a string'],
    [{ url: 'http://127.0.0.1/x', secret: 'not-a-secret' }, 'callback.secret', 'secret without whsec_'],
    [{ url: 'http://127.0.0.1/x', secret: 'whsec_***not base64***' }, 'callback.secret', 'secret not base64'],
    [{ url: 'http://127.0.0.1/x', secret: 'whsec_' }, 'callback.secret', 'empty secret'],
    // Standard Webhooks: keys of 24 to 64 bytes.
    [{ url: 'http://127.0.0.1/x', secret: 'whsec_' + crypto.randomBytes(8).toString('base64') }, 'callback.secret', '8-byte secret'],
    [{ url: 'http://127.0.0.1/x', secret: [] }, 'callback.secret', 'empty rotation list'],
    [{ url: 'http://127.0.0.1/x', secret: [ok, 'bad'] }, 'callback.secret', 'one bad secret in a rotation list'],
    [{ url: 'http://127.0.0.1/x', secret: 7 }, 'callback.secret', 'secret not a string'],
    [{ url: 'http://127.0.0.1/x', events: ['finished'] }, 'callback.events', 'unknown event'],
    [{ url: 'http://127.0.0.1/x', events: ['completed', 'job.dead'] }, 'callback.events', 'prefixed event name'],
    [{ url: 'http://127.0.0.1/x', events: 'completed' }, 'callback.events', 'events not an array'],
    [{ url: 'http://127.0.0.1/x', events: [] }, 'callback.events', 'no events'],
  ];
  for (const [cb, field, what] of cases) {
    const id = uq('badjob');
    const res = await h.api(server, 'POST', '/v1/jobs', { id, queue: q, type: 't', callback: cb });
    h.assertError(res, 422, 'invalid_field', field, `job: ${what}`);
    h.assertError(await h.api(server, 'GET', `/v1/jobs/${id}`), 404, 'not_found', undefined, `${what}: not stored`);
  }
  h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', callback: 'http://127.0.0.1/x' }),
    422, 'invalid_field', 'callback', 'callback not an object');

  // The same checks on queue settings and in bulk.
  h.assertError(await h.api(server, 'PUT', `/v1/queues/${q}`, { callback: { url: 'ftp://x/y' } }),
    422, 'invalid_field', 'callback.url', 'queue: ftp url');
  h.assertError(await h.api(server, 'PUT', `/v1/queues/${q}`, { callback: { url: 'http://127.0.0.1/x', events: ['nope'] } }),
    422, 'invalid_field', 'callback.events', 'queue: unknown event');
  h.assertError(await h.api(server, 'PUT', `/v1/queues/${q}`, { callback: { url: 'http://127.0.0.1/x', secret: 'whsec_%%' } }),
    422, 'invalid_field', 'callback.secret', 'queue: bad secret');
  const bulk = await h.api(server, 'POST', '/v1/jobs/bulk', { jobs: [
    { queue: q, type: 't' },
    { queue: q, type: 't', callback: { url: 'http://127.0.0.1/x', secret: 'nope' } },
  ] });
  h.assertError(bulk, 422, 'invalid_field', 'jobs[1].callback.secret', 'bulk: bad secret');
  assert.deepEqual(await h.queueCounts(server, q), h.ZERO_COUNTS, 'nothing stored by the rejected requests');
  rx.assertNoErrors();
});

test('a callback url that can never be requested is refused at enqueue (422 callback.url)', async () => {
  // Each of these is taken today and fails only later, at delivery time,
  // with "invalid input" in the attempt log.
  const q = uq('badurl');
  const taken = [];
  for (const url of ['http://', 'http://exa mple.com/hook', 'http://127.0.0.1:99999/hook', 'http://[::1/hook']) {
    const res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', callback: { url } });
    if (res.status !== 422 || !res.body.error || res.body.error.field !== 'callback.url')
      taken.push(`${JSON.stringify(url)} -> ${res.status} ${res.status === 201 ? 'stored' : JSON.stringify(res.body)}`);
  }
  assert.deepEqual(taken, [], 'each url refused with 422 invalid_field callback.url');
});
