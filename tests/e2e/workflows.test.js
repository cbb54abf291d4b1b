// Workflows over the JSON API (docs/api.md, issue 4): batches with their
// on_complete / on_success jobs and callback, dependencies between jobs
// (diamonds, failure cascades, restarts), cancelling a job while `synq work`
// runs its command, and following a job's progress and log lines as
// Server-Sent Events with the `eventsource` client.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

let server; // --callback-retry 200ms,200ms
let dir; // scripts and pid files
let EventSource; // from the ESM package, loaded in before()
let seq = 0;
// A queue (or id) name of its own for each use, so tests share one server.
const uq = (name) => `${name}-${process.pid}-${++seq}`;
const workers = new Set();
const sources = new Set();

before(async () => {
  ({ EventSource } = await import('eventsource'));
  server = await h.startServer({ args: ['--callback-retry', '200ms,200ms'] });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-flow-'));
});

after(async () => {
  for (const s of sources) s.close();
  for (const w of workers) await w.stop('SIGKILL');
  if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Helpers of this suite.

// Waits until the job reaches one of `states`; returns it. The timeout error
// carries the job (and the worker's stderr when given).
const waitState = (id, states, timeoutMs, w, srv = server) => h.waitJobState(srv, id, states, timeoutMs, w);

async function getBatch(id) {
  const res = await h.api(server, 'GET', `/v1/batches/${id}`);
  assert.equal(res.status, 200, `GET batch ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// Every job of queue q (any state).
async function jobsIn(q, srv = server) {
  return (await h.listAll(srv, `queue=${q}`)).jobs;
}

// The batch counts as they appear in GET /v1/batches/{id} and custom.batch.
function counts(b) {
  const { total, pending, succeeded, failed, dead, cancelled } = b;
  return { total, pending, succeeded, failed, dead, cancelled };
}

// `workers` concurrent API workers fetch from q and settle every job they get
// (ack with {n: args[0]}, or fail when failIf(job)) as fast as they can,
// until `n` jobs were handed out. Returns the ids handed out, in order.
async function drain(q, n, { workers: nw = 10, failIf = () => false, srv = server, timeoutMs = 30000 } = {}) {
  const handed = [];
  const deadline = Date.now() + timeoutMs;
  await Promise.all(Array.from({ length: nw }, async (_, k) => {
    const worker = `drain-${k}`;
    while (handed.length < n) {
      if (Date.now() > deadline) throw new Error(`drain ${q}: only ${handed.length} of ${n} handed out`);
      const f = await h.api(srv, 'POST', '/v1/fetch', { queues: [q], worker, max: 1, wait: '200ms' });
      if (f.status === 204) continue;
      assert.equal(f.status, 200, `fetch -> ${f.status} ${JSON.stringify(f.body)}`);
      for (const j of f.body.jobs) {
        handed.push(j.id);
        const res = failIf(j)
          ? await h.api(srv, 'POST', `/v1/jobs/${j.id}/fail`, { worker, message: 'broken on purpose', type: 'E' })
          : await h.api(srv, 'POST', `/v1/jobs/${j.id}/ack`, { worker, result: { n: Array.isArray(j.args) ? j.args[0] : null } });
        assert.equal(res.status, 200, `settle ${j.id} -> ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
  }));
  return handed;
}

// Fetches exactly one job of q for worker and returns it.
async function fetchOne(q, worker, srv = server) {
  const jobs = await h.fetchJobs(srv, { queues: [q], worker, max: 1, wait: '2s' });
  assert.equal(jobs.length, 1, `one job of ${q} handed out`);
  return jobs[0];
}

async function ack(id, worker, result, srv = server) {
  const res = await h.api(srv, 'POST', `/v1/jobs/${id}/ack`, { worker, result });
  assert.equal(res.status, 200, `ack ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// A local HTTP receiver for callbacks: records every request.
async function receiver() {
  const got = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let json;
      try { json = JSON.parse(body); } catch { json = undefined; }
      got.push({ method: req.method, url: req.url, headers: req.headers, body, json, at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    got,
    url: `http://127.0.0.1:${srv.address().port}/hook`,
    close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }),
  };
}

// Writes an executable /bin/sh script and returns its path.
function script(name, body) {
  const p = path.join(dir, `${name}-${++seq}.sh`);
  fs.writeFileSync(p, '#!/bin/sh\n' + body + '\n', { mode: 0o755 });
  return p;
}

// Starts `synq work --server URL <args> -- <cmd...>` (h.spawnWorker).
function startWorker(args, cmd) {
  return h.spawnWorker(server.url, args, cmd, { registry: workers });
}

// True once no process has this pid (kill(pid, 0) fails with ESRCH).
function gone(pid) {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    if (e.code === 'ESRCH') return true;
    throw e;
  }
}

function readPid(file) {
  const s = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  return /^\d+$/.test(s) ? Number(s) : 0;
}

// Follows GET /v1/jobs/{id}/events with an EventSource. opts.lastEventId
// goes as the Last-Event-ID header of the first request (EventSource sets it
// itself on reconnects); opts.query is appended to the URL. Every event is
// recorded in order as {type, id, data, conn} (conn: 1 for the first
// connection, 2 after a reconnect); an 'error' entry marks the end of a
// connection (readyState CONNECTING: the client will reconnect) or a failure.
function follow(id, opts = {}) {
  const requests = []; // the headers of each request made
  const es = new EventSource(`${server.url}/v1/jobs/${id}/events${opts.query || ''}`, {
    fetch: (url, init) => {
      const headers = { ...init.headers };
      if (opts.lastEventId !== undefined && requests.length === 0) headers['Last-Event-ID'] = String(opts.lastEventId);
      requests.push(headers);
      return fetch(url, { ...init, headers });
    },
  });
  sources.add(es);
  const events = [];
  for (const type of ['state', 'progress', 'log', 'done', 'message']) {
    es.addEventListener(type, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { data = ev.data; }
      events.push({ type, id: ev.lastEventId, data, conn: requests.length });
    });
  }
  es.addEventListener('error', (ev) => {
    events.push({ type: 'error', code: ev.code, message: ev.message, readyState: es.readyState, conn: requests.length });
  });
  const f = {
    es, events, requests,
    // Waits until pred(events) holds; returns the events.
    async until(pred, what, timeoutMs = 15000) {
      try {
        await h.waitFor(() => pred(events), timeoutMs, 20, what);
      } catch (e) {
        e.message += `\nevents: ${JSON.stringify(events.map((x) => [x.type, x.id, x.data && x.data.state, x.conn]))}`;
        throw e;
      }
      return events;
    },
    // The events of connection n without the 'error' marker.
    of(n) { return events.filter((x) => x.conn === n && x.type !== 'error'); },
    close() { es.close(); sources.delete(es); },
  };
  return f;
}

// Until the first connection ended after its 'done' (the server closed it).
const endedAfterDone = (evs) => {
  const d = evs.findIndex((x) => x.type === 'done');
  return d >= 0 && evs.slice(d + 1).some((x) => x.type === 'error');
};

// Reports progress/log through the API for an active job held by worker.
async function progress(id, worker, body) {
  const res = await h.api(server, 'POST', `/v1/jobs/${id}/progress`, { worker, ...body });
  assert.equal(res.status, 200, `progress ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function log(id, worker, body) {
  const res = await h.api(server, 'POST', `/v1/jobs/${id}/log`, { worker, ...body });
  assert.equal(res.status, 200, `log ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// Checks an event's progress data against want (and its "at").
function checkProgress(data, want, what) {
  const { at, ...rest } = data;
  h.parseTime(at, `${what}.at`);
  assert.deepEqual(rest, want, what);
}

function checkLog(data, line, what) {
  assert.equal(data.line, line, what);
  h.parseTime(data.at, `${what}.at`);
  assert.deepEqual(Object.keys(data).sort(), ['at', 'line'], `${what} members`);
}

// ---------------------------------------------------------------------------
// Batches

test('batch of 20 completed by 10 racing workers: on_complete and on_success exactly once, counts done', async () => {
  const q = uq('batch');
  const qc = uq('batch-complete');
  const qs = uq('batch-success');
  const res = await h.api(server, 'POST', '/v1/batches', {
    description: 'twenty things',
    jobs: Array.from({ length: 20 }, (_, i) => ({ queue: q, type: 'item', args: [i], retry: 0 })),
    on_complete: { queue: qc, type: 'batch_done', args: ['complete'], custom: { from: 'test' } },
    on_success: { queue: qs, type: 'batch_ok', args: ['success'] },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const b = res.body.batch;
  assert.equal(typeof b.id, 'string');
  assert.equal(b.description, 'twenty things');
  assert.equal(b.state, 'committed');
  assert.deepEqual(counts(b), { total: 20, pending: 20, succeeded: 0, failed: 0, dead: 0, cancelled: 0 });
  assert.equal(res.body.jobs.length, 20);
  res.body.jobs.forEach((j, i) => {
    assert.equal(j.batch, b.id, 'each job names its batch');
    assert.equal(j.state, 'queued');
    assert.deepEqual(j.args, [i], 'jobs in the order given');
  });
  assert.deepEqual(await h.queueCounts(server, qc), h.ZERO_COUNTS, 'no follow-up before the end');

  const handed = await drain(q, 20, { workers: 10 });
  assert.equal(new Set(handed).size, 20, 'each job handed out once');

  const done = await h.waitFor(async () => {
    const x = await getBatch(b.id);
    return x.state === 'done' ? x : null;
  }, 10000, 50, 'batch done');
  assert.deepEqual(counts(done), { total: 20, pending: 0, succeeded: 20, failed: 0, dead: 0, cancelled: 0 });
  h.parseTime(done.done_at, 'done_at');
  h.parseTime(done.committed_at, 'committed_at');
  assert.ok(h.parseTime(done.done_at) >= h.parseTime(done.created_at));

  await h.sleep(500); // a second follow-up would show up by now
  const completes = await jobsIn(qc);
  const successes = await jobsIn(qs);
  assert.equal(completes.length, 1, `one on_complete job: ${JSON.stringify(completes)}`);
  assert.equal(successes.length, 1, `one on_success job: ${JSON.stringify(successes)}`);
  const c = completes[0];
  assert.equal(c.type, 'batch_done');
  assert.deepEqual(c.args, ['complete']);
  assert.equal(c.state, 'queued');
  assert.equal(c.custom.from, 'test', 'the spec custom is kept');
  assert.deepEqual(c.custom.batch,
    { id: b.id, total: 20, pending: 0, succeeded: 20, failed: 0, dead: 0, cancelled: 0 });
  assert.equal(successes[0].type, 'batch_ok');
  assert.deepEqual(successes[0].custom.batch, c.custom.batch);
  assert.deepEqual(await getBatch(b.id), done, 'a done batch stays as it was');
});

test('batch with a job that dies: on_complete once with dead 1, on_success never', async () => {
  const q = uq('batchdead');
  const qc = uq('batchdead-complete');
  const qs = uq('batchdead-success');
  const res = await h.api(server, 'POST', '/v1/batches', {
    jobs: Array.from({ length: 6 }, (_, i) => ({ queue: q, type: i === 3 ? 'bad' : 'good', args: [i], retry: 0 })),
    on_complete: { queue: qc, type: 'after' },
    on_success: { queue: qs, type: 'after' },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.batch.id;
  assert.equal(res.body.batch.description, null);
  await drain(q, 6, { workers: 3, failIf: (j) => j.type === 'bad' });
  const done = await h.waitFor(async () => {
    const x = await getBatch(id);
    return x.state === 'done' ? x : null;
  }, 10000, 50, 'batch done');
  assert.deepEqual(counts(done), { total: 6, pending: 0, succeeded: 5, failed: 0, dead: 1, cancelled: 0 });
  await h.sleep(500);
  const completes = await jobsIn(qc);
  assert.equal(completes.length, 1, JSON.stringify(completes));
  assert.deepEqual(completes[0].custom.batch,
    { id, total: 6, pending: 0, succeeded: 5, failed: 0, dead: 1, cancelled: 0 });
  assert.deepEqual(await jobsIn(qs), [], 'no on_success when a job died');
});

test('a job of a live batch that failed once counts as failed and pending', async () => {
  const q = uq('batchfailed');
  const res = await h.api(server, 'POST', '/v1/batches', {
    jobs: [{ queue: q, type: 'flaky', retry: 3 }, { queue: q, type: 'fine', retry: 0 }],
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.batch.id;
  const j = await fetchOne(q, 'wf');
  const f = await h.api(server, 'POST', `/v1/jobs/${j.id}/fail`, { worker: 'wf', message: 'try again' });
  assert.equal(f.body.state, 'retry');
  const b = await getBatch(id);
  assert.equal(b.state, 'committed');
  assert.deepEqual(counts(b), { total: 2, pending: 2, succeeded: 0, failed: 1, dead: 0, cancelled: 0 });
  // Cancelling both ends the batch: cancelled counts, not succeeded.
  for (const x of res.body.jobs) assert.equal((await h.api(server, 'POST', `/v1/jobs/${x.id}/cancel`)).status, 200);
  const done = await getBatch(id);
  assert.equal(done.state, 'done');
  assert.deepEqual(counts(done), { total: 2, pending: 0, succeeded: 0, failed: 0, dead: 0, cancelled: 2 });
});

test('batch creation is atomic: an invalid job or a duplicate id creates nothing', async () => {
  const bad = [
    { queue: 'x', type: 't', retry: -1 },
    { queue: 'x', type: '' },
    { queue: 'x' },
    { queue: 'x', type: 't', depends_on: ['no-such-job-' + process.pid] },
  ];
  for (const b of bad) {
    const q = uq('batchatomic');
    const qc = uq('batchatomic-complete');
    const jobs = Array.from({ length: 5 }, (_, i) => ({ queue: q, type: 't', args: [i] }));
    jobs[3] = { ...b, queue: q };
    const res = await h.api(server, 'POST', '/v1/batches', { jobs, on_complete: { queue: qc, type: 'c' } });
    assert.equal(res.status, 422, `${JSON.stringify(b)} -> ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, 'invalid_field');
    assert.match(res.body.error.field, /^jobs\[3\]\./, `field names the element: ${JSON.stringify(res.body)}`);
    assert.deepEqual(await jobsIn(q), [], `nothing stored for ${JSON.stringify(b)}`);
    assert.deepEqual(await jobsIn(qc), []);
  }

  // An invalid follow-up job.
  let q = uq('batchatomic');
  let res = await h.api(server, 'POST', '/v1/batches', { jobs: [{ queue: q, type: 't' }], on_complete: { queue: q } });
  h.assertError(res, 422, 'invalid_field', undefined, 'on_complete without type');
  assert.match(res.body.error.field || '', /^on_complete/);
  assert.deepEqual(await jobsIn(q), []);
  // No jobs at all (not open).
  h.assertError(await h.api(server, 'POST', '/v1/batches', { jobs: [] }), 422, 'invalid_field', 'jobs', 'empty batch');

  // The same id twice in the batch.
  q = uq('batchdup');
  const dupId = uq('dup-id');
  res = await h.api(server, 'POST', '/v1/batches', {
    jobs: [{ queue: q, type: 't' }, { queue: q, type: 't', id: dupId }, { queue: q, type: 't', id: dupId }],
  });
  h.assertError(res, 409, 'conflict', undefined, 'repeated id');
  assert.deepEqual(await jobsIn(q), []);
  // An id that exists already.
  const existing = await h.enqueue(server, { queue: uq('elsewhere'), type: 't', id: uq('taken') });
  q = uq('batchdup');
  res = await h.api(server, 'POST', '/v1/batches', {
    jobs: [{ queue: q, type: 't' }, { queue: q, type: 't', id: existing.id }],
  });
  h.assertError(res, 409, 'conflict', undefined, 'existing id');
  assert.deepEqual(await jobsIn(q), []);
  assert.equal((await h.getJob(server, existing.id)).batch, undefined, 'the existing job is untouched');

  h.assertError(await h.api(server, 'GET', '/v1/batches/no-such-batch'), 404, 'not_found', undefined, 'unknown batch');
});

test('open batch: jobs added until commit; done only after the commit; adding after commit -> 409', async () => {
  const q = uq('open');
  const qc = uq('open-complete');
  let res = await h.api(server, 'POST', '/v1/batches', {
    open: true,
    jobs: [{ queue: q, type: 't', args: [0] }, { queue: q, type: 't', args: [1] }],
    on_complete: { queue: qc, type: 'fin' },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.batch.id;
  assert.equal(res.body.batch.state, 'open');
  assert.equal(res.body.batch.committed_at, null);
  assert.equal(res.body.batch.total, 2);

  res = await h.api(server, 'POST', `/v1/batches/${id}/jobs`,
    { jobs: [2, 3, 4].map((i) => ({ queue: q, type: 't', args: [i] })) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.jobs.length, 3);
  for (const j of res.body.jobs) assert.equal(j.batch, id);
  assert.equal((await getBatch(id)).total, 5);

  await drain(q, 5, { workers: 5 });
  await h.sleep(300);
  let b = await getBatch(id);
  assert.equal(b.state, 'open', 'not done while open');
  assert.deepEqual(counts(b), { total: 5, pending: 0, succeeded: 5, failed: 0, dead: 0, cancelled: 0 });
  assert.equal(b.done_at, null);
  assert.deepEqual(await jobsIn(qc), [], 'no on_complete before the commit');

  res = await h.api(server, 'POST', `/v1/batches/${id}/commit`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.state, 'done', 'all final at commit: done at once');
  h.parseTime(res.body.committed_at, 'committed_at');
  h.parseTime(res.body.done_at, 'done_at');
  b = await getBatch(id);
  assert.equal(b.state, 'done');
  assert.deepEqual(counts(b), { total: 5, pending: 0, succeeded: 5, failed: 0, dead: 0, cancelled: 0 });
  const completes = await jobsIn(qc);
  assert.equal(completes.length, 1, JSON.stringify(completes));
  assert.equal(completes[0].custom.batch.total, 5);

  res = await h.api(server, 'POST', `/v1/batches/${id}/jobs`, { jobs: [{ queue: q, type: 't' }] });
  h.assertError(res, 409, 'batch_committed', undefined, 'add after commit');
  const freshId = uq('fresh');
  res = await h.api(server, 'POST', `/v1/batches/${id}/jobs`, { jobs: [{ queue: q, type: 't', id: freshId }] });
  assert.equal(res.status, 409, JSON.stringify(res.body));
  assert.equal((await h.api(server, 'GET', `/v1/jobs/${freshId}`)).status, 404);
  assert.equal((await jobsIn(q)).length, 5, 'nothing added after the commit');
  await h.sleep(200);
  assert.equal((await jobsIn(qc)).length, 1, 'still one on_complete');
  // A job that brings its own (unused) id is refused because the batch is
  // committed, not because of its id.
  h.assertError(res, 409, 'batch_committed', undefined, 'add a job with an id after commit');
});

test('open batch committed while jobs run: done when the last one finishes', async () => {
  const q = uq('open2');
  const qc = uq('open2-complete');
  let res = await h.api(server, 'POST', '/v1/batches', { open: true, on_complete: { queue: qc, type: 'fin' } });
  assert.equal(res.status, 201, `an open batch may start empty: ${JSON.stringify(res.body)}`);
  const id = res.body.batch.id;
  res = await h.api(server, 'POST', `/v1/batches/${id}/jobs`, { jobs: [{ queue: q, type: 'a' }, { queue: q, type: 'b' }] });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  res = await h.api(server, 'POST', `/v1/batches/${id}/commit`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.state, 'committed');
  assert.equal(res.body.pending, 2);
  await drain(q, 2, { workers: 2 });
  const b = await h.waitFor(async () => {
    const x = await getBatch(id);
    return x.state === 'done' ? x : null;
  }, 10000, 50, 'batch done');
  assert.equal(b.succeeded, 2);
  assert.equal((await jobsIn(qc)).length, 1);
});

test('batch callback: exactly one batch.complete POST', async () => {
  const rx = await receiver();
  try {
    const q = uq('batchcb');
    const res = await h.api(server, 'POST', '/v1/batches', {
      description: 'with a callback',
      jobs: Array.from({ length: 3 }, (_, i) => ({ queue: q, type: 't', args: [i] })),
      callback: { url: rx.url },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = res.body.batch.id;
    assert.equal(res.body.batch.callback.url, rx.url);
    await drain(q, 3, { workers: 3 });
    await h.waitFor(() => rx.got.length >= 1, 10000, 20, 'batch callback');
    await h.sleep(1000); // retries are 200 ms apart: a duplicate would be here by now
    assert.equal(rx.got.length, 1, `one POST: ${JSON.stringify(rx.got.map((g) => g.body))}`);
    const g = rx.got[0];
    assert.equal(g.method, 'POST');
    assert.equal(g.url, '/hook');
    assert.match(g.headers['content-type'] || '', /^application\/json/);
    assert.ok(g.headers['webhook-id'], 'webhook-id header');
    assert.match(g.headers['webhook-timestamp'] || '', /^\d+$/);
    assert.equal(g.json.type, 'batch.complete');
    h.parseTime(g.json.timestamp, 'timestamp');
    assert.equal(g.json.data.id, id);
    assert.equal(g.json.data.state, 'done');
    assert.equal(g.json.data.description, 'with a callback');
    assert.deepEqual(counts(g.json.data), { total: 3, pending: 0, succeeded: 3, failed: 0, dead: 0, cancelled: 0 });
  } finally {
    await rx.close();
  }
});

// ---------------------------------------------------------------------------
// Dependencies

test('diamond A -> (B, C) -> D: waiting until the dependencies complete, results handed on, order kept', async () => {
  const q = uq('diamond');
  const A = uq('A'); const B = uq('B'); const C = uq('C'); const D = uq('D');
  const a = await h.enqueue(server, { id: A, queue: q, type: 'a' });
  const b = await h.enqueue(server, { id: B, queue: q, type: 'b', depends_on: [A] });
  const c = await h.enqueue(server, { id: C, queue: q, type: 'c', depends_on: [A] });
  const d = await h.enqueue(server, { id: D, queue: q, type: 'd', depends_on: [B, C] });
  assert.equal(a.state, 'queued');
  for (const j of [b, c, d]) assert.equal(j.state, 'waiting', `${j.id} waits`);
  // Checked at the end, so the rest runs either way: a waiting job is not in
  // its queue yet, so (like a scheduled one) it has no enqueued_at.
  const waitingEnqueuedAt = [b, c, d].map((j) => [j.id, j.enqueued_at]);
  assert.deepEqual(b.depends_on, [A]);
  assert.deepEqual(d.depends_on, [B, C]);
  assert.equal(d.on_dependency_failure === undefined || d.on_dependency_failure === 'cancel', true,
    `default on_dependency_failure: ${d.on_dependency_failure}`);
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 1, waiting: 3 });
  const listed = await h.listAll(server, `queue=${q}&state=waiting`);
  assert.deepEqual(listed.jobs.map((j) => j.id).sort(), [B, C, D].sort(), 'list by state=waiting');

  // Only A can run.
  let got = await h.fetchJobs(server, { queues: [q], worker: 'w', max: 10 });
  assert.deepEqual(got.map((j) => j.id), [A]);
  await ack(A, 'w', { a: 1 });
  for (const id of [B, C]) {
    const j = await h.getJob(server, id);
    assert.equal(j.state, 'queued', `${id} released when A completed`);
    assert.deepEqual(j.dependency_results, { [A]: { a: 1 } });
  }
  assert.equal((await h.getJob(server, D)).state, 'waiting');

  got = await h.fetchJobs(server, { queues: [q], worker: 'w', max: 10 });
  assert.deepEqual(got.map((j) => j.id).sort(), [B, C].sort(), 'B and C, not D');
  assert.deepEqual(got[0].dependency_results, { [A]: { a: 1 } }, 'the worker gets dependency_results');
  await ack(B, 'w', 'b-result');
  await h.sleep(100);
  assert.equal((await h.getJob(server, D)).state, 'waiting', 'D waits for C too');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], worker: 'w' }), [], 'nothing runnable');
  await ack(C, 'w', ['c', 3]);

  const dq = await h.getJob(server, D);
  assert.equal(dq.state, 'queued');
  assert.deepEqual(dq.dependency_results, { [B]: 'b-result', [C]: ['c', 3] });
  h.parseTime(dq.enqueued_at, 'enqueued_at of a released job');
  const dj = await fetchOne(q, 'w');
  assert.equal(dj.id, D);
  assert.deepEqual(dj.dependency_results, { [B]: 'b-result', [C]: ['c', 3] });
  await ack(D, 'w', 'd');

  const fin = {};
  for (const id of [A, B, C, D]) fin[id] = await h.getJob(server, id);
  const t = (id, k) => h.parseTime(fin[id][k]);
  assert.ok(t(B, 'started_at') >= t(A, 'finished_at') && t(C, 'started_at') >= t(A, 'finished_at'), 'B, C after A');
  assert.ok(t(D, 'started_at') >= t(B, 'finished_at') && t(D, 'started_at') >= t(C, 'finished_at'), 'D after B and C');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, completed: 4 });
  assert.ok(t(B, 'enqueued_at') >= t(A, 'finished_at'), 'B enqueued when A completed');
  assert.ok(t(D, 'enqueued_at') >= t(C, 'finished_at'), 'D enqueued when C completed');
  assert.deepEqual(waitingEnqueuedAt, [[B, null], [C, null], [D, null]],
    'enqueued_at of the jobs as created (waiting) should be null');
});

test('a dead dependency cancels its dependants (cascading) with DependencyFailed; "run" runs anyway', async () => {
  const q = uq('depdead');
  const A = uq('A'); const B = uq('B'); const C = uq('C'); const R = uq('R'); const S = uq('S');
  await h.enqueue(server, { id: A, queue: q, type: 'a', retry: 0 });
  await h.enqueue(server, { id: B, queue: q, type: 'b', depends_on: [A] });
  await h.enqueue(server, { id: C, queue: q, type: 'c', depends_on: [B] });
  const r = await h.enqueue(server, { id: R, queue: q, type: 'r', depends_on: [A], on_dependency_failure: 'run' });
  assert.equal(r.on_dependency_failure, 'run');
  await h.enqueue(server, { id: S, queue: q, type: 's', depends_on: [R] });

  const a = await fetchOne(q, 'w');
  assert.equal(a.id, A);
  const f = await h.api(server, 'POST', `/v1/jobs/${A}/fail`, { worker: 'w', message: 'no', type: 'Boom' });
  assert.equal(f.body.state, 'dead');

  const b = await h.getJob(server, B);
  assert.equal(b.state, 'cancelled');
  assert.equal(b.error.type, 'DependencyFailed');
  assert.equal(b.error.message, `dependency ${A} is dead`);
  h.parseTime(b.finished_at, 'finished_at');
  assert.equal(b.attempts, 0);
  const c = await h.getJob(server, C);
  assert.equal(c.state, 'cancelled', 'the cancel cascades to the grandchild');
  assert.equal(c.error.type, 'DependencyFailed');
  assert.equal(c.error.message, `dependency ${B} is cancelled`);

  const rq = await h.getJob(server, R);
  assert.equal(rq.state, 'queued', '"run" runs after a failed dependency');
  assert.deepEqual(rq.dependency_results, { [A]: null });
  assert.equal((await h.getJob(server, S)).state, 'waiting');
  const rj = await fetchOne(q, 'w');
  assert.equal(rj.id, R);
  await ack(R, 'w', 'ran');
  assert.deepEqual((await h.getJob(server, S)).dependency_results, { [R]: 'ran' });
  assert.equal((await h.getJob(server, S)).state, 'queued');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, dead: 1, cancelled: 2, completed: 1, queued: 1 });
});

test('a cancelled dependency cancels its dependant; a dependant enqueued on a dead one is cancelled at once', async () => {
  const q = uq('depcancel');
  const A = uq('A'); const B = uq('B');
  await h.enqueue(server, { id: A, queue: q, type: 'a' });
  await h.enqueue(server, { id: B, queue: q, type: 'b', depends_on: [A] });
  assert.equal((await h.api(server, 'POST', `/v1/jobs/${A}/cancel`)).status, 200);
  const b = await h.getJob(server, B);
  assert.equal(b.state, 'cancelled');
  assert.equal(b.error.type, 'DependencyFailed');
  assert.equal(b.error.message, `dependency ${A} is cancelled`);
  // Created after the dependency failed.
  const late = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 'late', depends_on: [A] });
  assert.equal(late.status, 201, JSON.stringify(late.body));
  assert.equal(late.body.state, 'cancelled');
  assert.equal(late.body.error.type, 'DependencyFailed');
  // A waiting job can be cancelled itself; its dependency completing later is harmless.
  const P = uq('P'); const W = uq('W');
  await h.enqueue(server, { id: P, queue: q, type: 'p' });
  await h.enqueue(server, { id: W, queue: q, type: 'w', depends_on: [P] });
  const cw = await h.api(server, 'POST', `/v1/jobs/${W}/cancel`);
  assert.equal(cw.status, 200, JSON.stringify(cw.body));
  assert.equal(cw.body.state, 'cancelled');
  const p = await fetchOne(q, 'w');
  assert.equal(p.id, P);
  await ack(P, 'w', null);
  assert.equal((await h.getJob(server, W)).state, 'cancelled');
});

test('depends_on: unknown id -> 422; completed dependency -> queued at once; bulk by client id', async () => {
  const q = uq('depmisc');
  const unknown = 'no-such-job-' + uq('x');
  let res = await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', depends_on: [unknown] });
  h.assertError(res, 422, 'invalid_field', 'depends_on', 'unknown dependency');
  assert.deepEqual(await jobsIn(q), []);
  h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', depends_on: [] }),
    422, 'invalid_field', 'depends_on', 'empty depends_on');
  h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', depends_on: 'x' }),
    422, 'invalid_field', 'depends_on', 'depends_on not an array');
  h.assertError(await h.api(server, 'POST', '/v1/jobs', { queue: q, type: 't', on_dependency_failure: 'ignore' }),
    422, 'invalid_field', 'on_dependency_failure', 'bad on_dependency_failure');

  // A dependency that completed already.
  const X = uq('X');
  await h.enqueue(server, { id: X, queue: q, type: 'x' });
  assert.equal((await fetchOne(q, 'w')).id, X);
  await ack(X, 'w', { x: 42 });
  const y = await h.enqueue(server, { queue: q, type: 'y', depends_on: [X] });
  assert.equal(y.state, 'queued', 'nothing to wait for');
  assert.deepEqual(y.dependency_results, { [X]: { x: 42 } });
  h.parseTime(y.enqueued_at, 'enqueued_at');

  // Bulk: a later job depends on an earlier one by its client id.
  const P = uq('P'); const C = uq('C');
  const qb = uq('depbulk');
  res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { id: P, queue: qb, type: 'parent' },
    { id: C, queue: qb, type: 'child', depends_on: [P] },
    { queue: qb, type: 'grandchild', depends_on: [C, P] },
  ]);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.deepEqual(res.body.jobs.map((j) => j.state), ['queued', 'waiting', 'waiting']);
  const g = res.body.jobs[2].id;
  assert.equal((await fetchOne(qb, 'w')).id, P);
  await ack(P, 'w', 'p');
  assert.equal((await fetchOne(qb, 'w')).id, C);
  await ack(C, 'w', 'c');
  const gj = await fetchOne(qb, 'w');
  assert.equal(gj.id, g);
  assert.deepEqual(gj.dependency_results, { [C]: 'c', [P]: 'p' });
  await ack(g, 'w', null);

  // The other way round (dependant first) is an unknown id: nothing stored.
  const qr = uq('depbulkrev');
  const P2 = uq('P2');
  res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { queue: qr, type: 'child', depends_on: [P2] },
    { id: P2, queue: qr, type: 'parent' },
  ]);
  h.assertError(res, 422, 'invalid_field', 'jobs[0].depends_on', 'dependency later in the call');
  assert.deepEqual(await jobsIn(qr), []);
  res = await h.api(server, 'POST', '/v1/jobs/bulk', [
    { queue: qr, type: 'ok' },
    { queue: qr, type: 'child', depends_on: [unknown] },
  ]);
  h.assertError(res, 422, 'invalid_field', 'jobs[1].depends_on', 'unknown dependency in bulk');
  assert.deepEqual(await jobsIn(qr), [], 'bulk with a bad dependency stores nothing');
});

test('waiting jobs survive a restart and complete afterwards', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-flow-restart-'));
  let s = await h.startServer({ dataDir });
  try {
    const q = uq('deprestart');
    const P = uq('P'); const W = uq('W'); const V = uq('V');
    await h.enqueue(s, { id: P, queue: q, type: 'p' });
    await h.enqueue(s, { id: W, queue: q, type: 'w', depends_on: [P] });
    await h.enqueue(s, { id: V, queue: q, type: 'v', depends_on: [W], on_dependency_failure: 'run' });
    assert.equal(await s.stop(), 0);

    s = await h.startServer({ dataDir });
    const w = await h.getJob(s, W);
    assert.equal(w.state, 'waiting', 'still waiting after the restart');
    assert.deepEqual(w.depends_on, [P]);
    assert.equal((await h.getJob(s, V)).on_dependency_failure, 'run');
    assert.deepEqual(await h.queueCounts(s, q), { ...h.ZERO_COUNTS, queued: 1, waiting: 2 });
    assert.equal((await fetchOne(q, 'w', s)).id, P);
    assert.deepEqual(await h.fetchJobs(s, { queues: [q], worker: 'w' }), [], 'W still waits for the active P');

    // Restart again while P is active: W still waits for it.
    assert.equal(await s.stop(), 0);
    s = await h.startServer({ dataDir });
    assert.equal((await h.getJob(s, P)).state, 'active');
    assert.equal((await h.getJob(s, W)).state, 'waiting');
    await ack(P, 'w', 'p-done', s);
    const wq = await h.getJob(s, W);
    assert.equal(wq.state, 'queued', 'released after the restart');
    assert.deepEqual(wq.dependency_results, { [P]: 'p-done' });
    assert.equal((await fetchOne(q, 'w', s)).id, W);
    await ack(W, 'w', 'w-done', s);
    const vj = await fetchOne(q, 'w', s);
    assert.equal(vj.id, V);
    assert.deepEqual(vj.dependency_results, { [W]: 'w-done' });
    await ack(V, 'w', null, s);
    assert.deepEqual(await h.queueCounts(s, q), { ...h.ZERO_COUNTS, completed: 3 });
  } finally {
    await s.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('dependants released or cancelled by an ack/fail keep that state after a SIGKILL', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-flow-restart-'));
  let s = await h.startServer({ dataDir });
  try {
    const q = uq('deprestart2');
    const P = uq('P'); const W = uq('W'); const X = uq('X'); const Y = uq('Y');
    await h.enqueue(s, { id: P, queue: q, type: 'p' });
    await h.enqueue(s, { id: X, queue: q, type: 'x', retry: 0 });
    await h.enqueue(s, { id: W, queue: q, type: 'w', depends_on: [P] });
    await h.enqueue(s, { id: Y, queue: q, type: 'y', depends_on: [X] });
    // The answers come after the commit, and the dependants change in that
    // same commit: a crash right after them loses nothing.
    const got = await h.fetchJobs(s, { queues: [q], worker: 'w', max: 2 });
    assert.deepEqual(got.map((j) => j.id).sort(), [P, X].sort());
    await ack(P, 'w', 7, s);
    assert.equal((await h.api(s, 'POST', `/v1/jobs/${X}/fail`, { worker: 'w', message: 'dead' })).body.state, 'dead');
    await s.kill();
    s = await h.startServer({ dataDir });
    const w = await h.getJob(s, W);
    assert.equal(w.state, 'queued');
    assert.deepEqual(w.dependency_results, { [P]: 7 });
    const y = await h.getJob(s, Y);
    assert.equal(y.state, 'cancelled');
    assert.equal(y.error.type, 'DependencyFailed');
  } finally {
    await s.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// Cancelling running work

test('cancel a job while `synq work` runs it: the process group goes, the job stays cancelled', async () => {
  const queue = uq('cancelwork');
  const job = await h.enqueue(server, { queue, type: 'long', retry: 3 });
  const pidFile = path.join(dir, `cancel-${job.id}`);
  const kidFile = path.join(dir, `cancel-kid-${job.id}`);
  // "long" sleeps (a background grandchild too); anything else answers at once.
  const cmd = script('cancel', [
    'cat >/dev/null',
    'if [ "$SYNQ_JOB_TYPE" = long ]; then',
    `  echo $$ > "${pidFile}"`,
    `  sleep 60 & echo $! > "${kidFile}"`,
    '  sleep 60',
    'fi',
    'echo \'"quick"\'',
  ].join('\n'));
  const w = startWorker(['--queue', queue, '--heartbeat', '300ms'], [cmd]);
  await waitState(job.id, 'active', 15000, w);
  await h.waitFor(() => readPid(pidFile) && readPid(kidFile), 15000, 20, 'the command started');
  const pid = readPid(pidFile);
  const kid = readPid(kidFile);
  assert.equal(gone(pid), false, 'the command runs');

  const t0 = Date.now();
  const res = await h.api(server, 'POST', `/v1/jobs/${job.id}/cancel`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.state, 'cancelled');
  assert.equal(res.body.attempts, 1);
  h.parseTime(res.body.finished_at, 'finished_at');

  await h.waitFor(() => gone(pid), 5000, 20, `command ${pid} gone`).catch((e) => {
    e.message += `\nworker stderr:\n${w.stderr}`;
    throw e;
  });
  await h.waitFor(() => gone(kid), 5000, 20, `grandchild ${kid} gone`);
  assert.ok(Date.now() - t0 < 5000, `stopped ${Date.now() - t0} ms after the cancel`);
  await h.waitFor(() => new RegExp(`msg=job\\.cancelled job=${job.id} `).test(w.stderr), 5000, 20, 'job.cancelled logged')
    .catch((e) => { e.message += `\n${w.stderr}`; throw e; });
  assert.match(w.stderr, new RegExp(`msg=job\\.cancelled job=${job.id} .*via=(heartbeat|fetch)`));

  // Neither retried nor acked nor failed, even with retries left.
  await h.sleep(1500);
  const j = await h.getJob(server, job.id);
  assert.equal(j.state, 'cancelled');
  assert.equal(j.attempts, 1, 'not handed out again');
  assert.equal(j.result, null, 'no ack recorded');
  assert.equal(j.error, null, 'no failure recorded');
  assert.equal(j.finished_at, res.body.finished_at);
  assert.doesNotMatch(w.stderr, new RegExp(`msg=(job\\.done|job\\.failed|report\\.error) job=${job.id}`));

  // The worker goes on with the next job.
  const next = await h.enqueue(server, { queue, type: 'quick', retry: 0 });
  const n = await waitState(next.id, 'completed', 15000, w);
  assert.equal(n.result, 'quick');
  assert.deepEqual(await w.stop(), { code: 0, signal: null }, w.stderr);
});

test('cancel an active job over the raw API: long-poll hears it, heartbeat says cancel, ack/fail 409', async () => {
  const q = uq('cancelraw');
  const idle = uq('cancelraw-idle');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 5 });
  const a = await fetchOne(q, 'holder');
  assert.equal(a.id, job.id);

  // The holder and another worker wait in long polls on an empty queue.
  const t0 = Date.now();
  const holderPoll = h.api(server, 'POST', '/v1/fetch', { queues: [idle], worker: 'holder', wait: '10s' })
    .then((r) => ({ ...r, ms: Date.now() - t0 }));
  const otherPoll = h.api(server, 'POST', '/v1/fetch', { queues: [idle], worker: 'other', wait: '1s' })
    .then((r) => ({ ...r, ms: Date.now() - t0 }));
  await h.sleep(300);

  const c = await h.api(server, 'POST', `/v1/jobs/${job.id}/cancel`);
  assert.equal(c.status, 200, JSON.stringify(c.body));
  assert.equal(c.body.state, 'cancelled');
  const tCancel = Date.now() - t0;

  const hp = await holderPoll;
  assert.equal(hp.status, 200, JSON.stringify(hp.body));
  assert.deepEqual(hp.body, { jobs: [], cancel: [job.id] });
  assert.ok(hp.ms - tCancel < 1000, `the holder's long poll returned ${hp.ms - tCancel} ms after the cancel`);
  const op = await otherPoll;
  assert.equal(op.status, 204, `another worker's poll is not told: ${JSON.stringify(op.body)}`);

  const hb = await h.api(server, 'POST', `/v1/jobs/${job.id}/heartbeat`, { worker: 'holder' });
  assert.equal(hb.status, 200, JSON.stringify(hb.body));
  assert.equal(hb.body.cancel, true);
  assert.equal(hb.body.state, 'cancelled');
  assert.equal(hb.body.id, job.id);

  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/ack`, { worker: 'holder', result: 1 }),
    409, 'cancelled', undefined, 'ack of a cancelled job');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/fail`, { worker: 'holder', message: 'x' }),
    409, 'cancelled', undefined, 'fail of a cancelled job');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/ack`, { worker: 'other' }),
    409, 'lease_lost', undefined, 'ack by a worker that never held it');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/cancel`), 409, 'invalid_state', undefined, 'cancel twice');

  const j = await h.getJob(server, job.id);
  assert.equal(j.state, 'cancelled');
  assert.equal(j.attempts, 1);
  assert.equal(j.result, null);
  assert.equal(j.error, null);
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], worker: 'holder' }), [], 'never handed out again');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, cancelled: 1 });
});

// ---------------------------------------------------------------------------
// Progress, log lines and the event stream

test('progress and log: validation and errors', async () => {
  const q = uq('progerr');
  const job = await h.enqueue(server, { queue: q, type: 't' });
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/progress`, { percent: 1 }),
    409, 'invalid_state', undefined, 'progress of a queued job');
  await fetchOne(q, 'w');
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/progress`, { worker: 'someone-else', percent: 1 }),
    409, 'lease_lost', undefined, 'progress from another worker');
  for (const percent of [-1, 101, '50']) {
    h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/progress`, { worker: 'w', percent }),
      422, 'invalid_field', 'percent', `percent ${JSON.stringify(percent)}`);
  }
  h.assertError(await h.api(server, 'POST', '/v1/jobs/no-such-job-zz/progress', { percent: 1 }),
    404, 'not_found', undefined, 'progress of an unknown job');
  const p = await progress(job.id, 'w', { percent: 12.5, message: 'going', data: { step: 1 } });
  const { at, ...rest } = p.progress;
  h.parseTime(at, 'progress.at');
  assert.deepEqual(rest, { percent: 12.5, message: 'going', data: { step: 1 } });
  assert.deepEqual((await h.getJob(server, job.id)).progress, p.progress);
  assert.deepEqual(await log(job.id, 'w', { line: 'one' }), { accepted: 1 });
  assert.deepEqual(await log(job.id, undefined, { lines: ['two', 'three', 'four'] }), { accepted: 3 });
  await ack(job.id, 'w', null);
  h.assertError(await h.api(server, 'POST', `/v1/jobs/${job.id}/progress`, { percent: 100 }),
    409, 'invalid_state', undefined, 'progress of a completed job');
});

test('SSE: a follower sees state, progress and log in order, then done with the result, then the end', async () => {
  const q = uq('sse');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 0 });
  await fetchOne(q, 'w');
  const f = follow(job.id);
  try {
    await f.until((e) => e.some((x) => x.type === 'state'), 'first state event');
    assert.equal(f.events[0].type, 'state');
    assert.equal(f.events[0].data.id, job.id);
    assert.equal(f.events[0].data.state, 'active');
    assert.equal(f.es.readyState, f.es.OPEN);

    await progress(job.id, 'w', { percent: 10, message: 'start' });
    await log(job.id, 'w', { line: 'first line' });
    await progress(job.id, 'w', { percent: 50, message: 'half', data: { files: 3 } });
    await log(job.id, 'w', { lines: ['second line'] });
    await progress(job.id, 'w', { percent: 90 });
    await f.until((e) => e.filter((x) => x.type === 'progress' || x.type === 'log').length === 5, 'five updates live');
    await ack(job.id, 'w', { answer: 42 });
    await f.until(endedAfterDone, 'done and the end of the stream');
    f.close();

    const evs = f.of(1);
    const numbered = evs.filter((x) => x.type === 'progress' || x.type === 'log');
    assert.deepEqual(numbered.map((x) => x.type), ['progress', 'log', 'progress', 'log', 'progress']);
    const ids = numbered.map((x) => Number(x.id));
    for (let i = 0; i < ids.length; i++) assert.ok(Number.isInteger(ids[i]) && ids[i] > 0, `id ${numbered[i].id}`);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids increase: ${ids}`);
    checkProgress(numbered[0].data, { percent: 10, message: 'start' }, 'progress 1');
    checkLog(numbered[1].data, 'first line', 'log 1');
    checkProgress(numbered[2].data, { percent: 50, message: 'half', data: { files: 3 } }, 'progress 2');
    checkLog(numbered[3].data, 'second line', 'log 2');
    checkProgress(numbered[4].data, { percent: 90 }, 'progress 3');

    assert.equal(evs[0].type, 'state');
    const last = evs[evs.length - 1];
    assert.equal(last.type, 'done', `done is last: ${JSON.stringify(evs.map((x) => x.type))}`);
    assert.equal(last.data.id, job.id);
    assert.equal(last.data.state, 'completed');
    assert.deepEqual(last.data.result, { answer: 42 });
    assert.equal(last.id, '', 'done carries no id');
    // Between the first state and done: the five updates, and state events
    // only for real changes (the completion).
    for (const x of evs.slice(1, -1)) {
      if (x.type === 'state') assert.equal(x.data.state, 'completed', `state events are changes: ${JSON.stringify(x.data)}`);
      else assert.ok(x.type === 'progress' || x.type === 'log', `unexpected ${x.type}`);
    }
    assert.ok(!evs.some((x) => x.type === 'message'), 'no unnamed events');
    // The end of the stream made the client want to reconnect.
    const end = f.events.find((x) => x.type === 'error');
    assert.equal(end.readyState, 0, 'CONNECTING after the server ended the stream');
    assert.equal(end.code, undefined, 'not an HTTP error');
  } finally {
    f.close();
  }
});

test('SSE: a late joiner gets the whole history and done; its reconnect resumes after the last id', async () => {
  const q = uq('sselate');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 0 });
  await fetchOne(q, 'w');
  await progress(job.id, 'w', { percent: 20, message: 'one' });
  await log(job.id, 'w', { line: 'l1' });
  await progress(job.id, 'w', { percent: 60, message: 'two' });
  await log(job.id, 'w', { line: 'l2' });
  await progress(job.id, 'w', { percent: 100, message: 'three' });
  await ack(job.id, 'w', 'the result');

  const f = follow(job.id);
  try {
    await f.until(endedAfterDone, 'replay, done and the end');
    const evs = f.of(1);
    assert.deepEqual(evs.map((x) => x.type), ['state', 'progress', 'log', 'progress', 'log', 'progress', 'done']);
    assert.equal(evs[0].data.state, 'completed');
    assert.equal(evs[0].data.result, 'the result');
    checkProgress(evs[1].data, { percent: 20, message: 'one' }, 'progress 1');
    checkLog(evs[2].data, 'l1', 'log 1');
    checkProgress(evs[3].data, { percent: 60, message: 'two' }, 'progress 2');
    checkLog(evs[4].data, 'l2', 'log 2');
    checkProgress(evs[5].data, { percent: 100, message: 'three' }, 'progress 3');
    assert.equal(evs[6].data.state, 'completed');
    assert.equal(evs[6].data.result, 'the result');
    assert.deepEqual(evs[6].data.progress, evs[5].data, 'the job shows its last progress');
    const lastId = evs[5].id;

    // EventSource reconnects by itself (the server's retry:) with
    // Last-Event-ID: the second connection repeats no update.
    await f.until((e) => e.some((x) => x.conn === 2 && x.type === 'done'), 'the reconnect', 10000);
    f.close();
    assert.equal(f.requests.length, 2);
    assert.equal(f.requests[0]['Last-Event-ID'], undefined);
    assert.equal(f.requests[1]['Last-Event-ID'], lastId);
    assert.deepEqual(f.of(2).map((x) => x.type), ['state', 'done'], 'nothing seen twice');
  } finally {
    f.close();
  }
});

test('SSE: Last-Event-ID and ?last_event_id resume after the given event', async () => {
  const q = uq('sseresume');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 0 });
  await fetchOne(q, 'w');
  await progress(job.id, 'w', { percent: 1 });
  await log(job.id, 'w', { lines: ['a', 'b'] });
  await progress(job.id, 'w', { percent: 2 });

  // Live job, resumed in the middle.
  const full = follow(job.id);
  await full.until((e) => e.filter((x) => x.type === 'progress' || x.type === 'log').length === 4, 'the replay');
  full.close();
  const ids = full.of(1).filter((x) => x.id !== '').map((x) => x.id);
  assert.equal(ids.length, 4, `four numbered events: ${ids}`);

  const live = follow(job.id, { lastEventId: ids[1] });
  try {
    await live.until((e) => e.filter((x) => x.type === 'progress' || x.type === 'log').length === 2, 'resumed replay');
    await log(job.id, 'w', { line: 'c' });
    await ack(job.id, 'w', 5);
    await live.until(endedAfterDone, 'done');
    const evs = live.of(1);
    const numbered = evs.filter((x) => x.type === 'progress' || x.type === 'log');
    assert.deepEqual(numbered.map((x) => x.id).slice(0, 2), [ids[2], ids[3]], 'starts after the given id');
    assert.deepEqual(numbered.map((x) => x.type), ['log', 'progress', 'log']);
    assert.equal(numbered[0].data.line, 'b');
    assert.equal(numbered[2].data.line, 'c');
    assert.equal(evs[0].type, 'state');
    assert.equal(evs[evs.length - 1].type, 'done');
  } finally {
    live.close();
  }

  // Final job: the header, the query parameter, and "everything seen".
  const cases = [
    [{ lastEventId: ids[0] }, ['log', 'log', 'progress', 'log']],
    [{ query: `?last_event_id=${ids[3]}` }, ['log']],
    [{ lastEventId: ids[1], query: '' }, ['log', 'progress', 'log']],
  ];
  for (const [opts, want] of cases) {
    const f = follow(job.id, opts);
    try {
      await f.until(endedAfterDone, `done for ${JSON.stringify(opts)}`);
      const evs = f.of(1);
      assert.deepEqual(evs.map((x) => x.type), ['state', ...want, 'done'], JSON.stringify(opts));
    } finally {
      f.close();
    }
  }
  const lastOfAll = (await (async () => {
    const f = follow(job.id);
    try {
      await f.until(endedAfterDone, 'full replay');
      return f.of(1).filter((x) => x.id !== '').pop().id;
    } finally {
      f.close();
    }
  })());
  const none = follow(job.id, { lastEventId: lastOfAll });
  try {
    await none.until(endedAfterDone, 'nothing after the last id');
    assert.deepEqual(none.of(1).map((x) => x.type), ['state', 'done']);
  } finally {
    none.close();
  }
});

test('SSE: unknown job -> 404; a dead job ends with done carrying its error', async () => {
  const f = follow('no-such-job-' + uq('sse'));
  try {
    await f.until((e) => e.some((x) => x.type === 'error'), 'an error');
    const err = f.events.find((x) => x.type === 'error');
    assert.equal(err.code, 404);
    assert.equal(err.readyState, 2, 'a 404 is not retried');
  } finally {
    f.close();
  }
  const raw = await h.api(server, 'GET', '/v1/jobs/no-such-job-zz/events');
  h.assertError(raw, 404, 'not_found', undefined, 'events of an unknown job');

  const q = uq('ssedead');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 0 });
  await fetchOne(q, 'w');
  const g = follow(job.id);
  try {
    await g.until((e) => e.some((x) => x.type === 'state'), 'state');
    await h.api(server, 'POST', `/v1/jobs/${job.id}/fail`, { worker: 'w', message: 'kaput', type: 'Boom' });
    await g.until(endedAfterDone, 'done');
    const done = g.of(1).pop();
    assert.equal(done.type, 'done');
    assert.equal(done.data.state, 'dead');
    assert.equal(done.data.error.message, 'kaput');
    assert.equal(done.data.error.type, 'Boom');
  } finally {
    g.close();
  }
});

test('SSE: a queued job is followed through active to done; a cancelled one ends too', async () => {
  const q = uq('ssequeued');
  const job = await h.enqueue(server, { queue: q, type: 't', retry: 0 });
  const f = follow(job.id);
  try {
    await f.until((e) => e.some((x) => x.type === 'state'), 'state');
    assert.equal(f.events[0].data.state, 'queued');
    await fetchOne(q, 'w');
    await f.until((e) => e.some((x) => x.type === 'state' && x.data.state === 'active'), 'active');
    await ack(job.id, 'w', 'ok');
    await f.until(endedAfterDone, 'done');
    assert.deepEqual(f.of(1).map((x) => [x.type, x.data.state]),
      [['state', 'queued'], ['state', 'active'], ['state', 'completed'], ['done', 'completed']]);
  } finally {
    f.close();
  }

  const c = await h.enqueue(server, { queue: q, type: 't' });
  const g = follow(c.id);
  try {
    await g.until((e) => e.some((x) => x.type === 'state'), 'state');
    assert.equal((await h.api(server, 'POST', `/v1/jobs/${c.id}/cancel`)).status, 200);
    await g.until(endedAfterDone, 'done after cancel');
    assert.equal(g.of(1).pop().data.state, 'cancelled');
  } finally {
    g.close();
  }
});

test('`synq work` forwards "progress:" and "log:" stderr lines: progress field and SSE replay', async () => {
  const queue = uq('workprog');
  const job = await h.enqueue(server, { queue, type: 'reporting', retry: 0 });
  const marker = path.join(dir, `prog-${job.id}`);
  const cmd = script('prog', [
    'cat >/dev/null',
    'echo "progress: 50 half" >&2',
    'echo "log: hello" >&2',
    'echo "an ordinary stderr line" >&2',
    // wait until the test has seen the progress while running (at most ~10 s)
    `i=0; while [ ! -e "${marker}" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`,
    'echo "progress: 100" >&2',
    'echo \'"reported"\'',
  ].join('\n'));
  const w = startWorker(['--queue', queue, '--heartbeat', '300ms'], [cmd]);
  const running = await h.waitFor(async () => {
    const j = await h.getJob(server, job.id);
    return j.state === 'active' && j.progress ? j : null;
  }, 15000, 50, 'progress while running').catch(async (e) => {
    e.message += `\njob: ${JSON.stringify(await h.getJob(server, job.id))}\nworker stderr:\n${w.stderr}`;
    throw e;
  });
  const { at, ...p } = running.progress;
  h.parseTime(at, 'progress.at');
  assert.deepEqual(p, { percent: 50, message: 'half' });
  fs.writeFileSync(marker, '');

  const done = await waitState(job.id, ['completed', 'dead'], 15000, w);
  assert.equal(done.state, 'completed', JSON.stringify(done.error));
  assert.equal(done.result, 'reported');
  assert.equal(done.progress.percent, 100);

  const f = follow(job.id);
  try {
    await f.until(endedAfterDone, 'replay and done');
    const evs = f.of(1);
    assert.deepEqual(evs.map((x) => x.type), ['state', 'progress', 'log', 'progress', 'done']);
    checkProgress(evs[1].data, { percent: 50, message: 'half' }, 'progress from stderr');
    checkLog(evs[2].data, 'hello', 'log from stderr');
    checkProgress(evs[3].data, { percent: 100 }, 'second progress');
    assert.equal(evs[4].data.result, 'reported');
  } finally {
    f.close();
  }
  assert.deepEqual(await w.stop(), { code: 0, signal: null }, w.stderr);
  assert.doesNotMatch(w.stderr, /report\.error/);
});
