// Durability across SIGKILL: what the server acknowledged (201 on enqueue,
// 200 on ack) is there after a restart on the same data directory, exactly
// once. The kill comes at a random moment while requests are in flight.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

const TOTAL = 20000;
const CONCURRENCY = 16;
const QUEUE = 'crash';
const seed = Number(process.env.SYNQ_CRASH_SEED || Date.now() % 1000000);
// Small deterministic PRNG so a failing run can be repeated with SYNQ_CRASH_SEED.
let rs = seed;
const rand = () => { rs = (rs * 1103515245 + 12345) % 2147483648; return rs / 2147483648; };

let server = null;
let dataDir = null;

after(async () => {
  // A server left SIGKILLed by a failed test has nothing to stop.
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
    const code = await server.stop();
    assert.equal(code, 0, 'server exits 0 on SIGTERM');
  }
});

// Runs `op(i, conn, r)` for i in [0, n) on CONCURRENCY keep-alive
// connections (runner r owns conn), one request in flight on each, until the
// server dies. op returns true when the server acknowledged. Kills the server
// with SIGKILL after `killAfterMs`, or once `killAtAcks` acknowledgements
// came, whichever is first. Raw sockets rather than fetch(): the client must
// keep the server busy, or the kill always lands between requests.
// Returns { attempted:Set<i>, acked:Set<i>, finishedBeforeKill }.
async function underKill(srv, n, op, killAfterMs, killAtAcks) {
  const conns = await Promise.all(Array.from({ length: CONCURRENCY }, () => h.RawConn.connect(srv)));
  const attempted = new Set();
  const acked = new Set();
  let dead = false;
  let killing = null;
  const kill = () => {
    if (!killing) { killing = srv.kill().then(() => { dead = true; }); }
    return killing;
  };
  const timer = setTimeout(kill, killAfterMs);
  let next = 0;
  const runner = async (conn, r) => {
    while (!killing && next < n) {
      const i = next++;
      attempted.add(i);
      let ok = false;
      let err = null;
      try { ok = await op(i, conn, r); } catch (e) { err = e; /* closed by the kill */ }
      if (ok) {
        acked.add(i);
        if (acked.size >= killAtAcks) kill();
      } else if (!killing) {
        // Before the kill every request must succeed.
        await h.sleep(50);
        if (!killing) throw new Error(`request ${i} failed while the server was up: ${err ? err.message : 'not acknowledged'}`);
      }
    }
  };
  const results = await Promise.allSettled(conns.map(runner));
  clearTimeout(timer);
  const finishedBeforeKill = !killing;
  await kill();
  assert.ok(dead);
  for (const c of conns) c.destroy();
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return { attempted, acked, finishedBeforeKill };
}

test('SIGKILL during enqueues and during acks loses nothing acknowledged', { timeout: 120000 }, async (t) => {
  t.diagnostic(`seed ${seed} (rerun with SYNQ_CRASH_SEED=${seed})`);
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;
  server = await h.startServer();
  dataDir = server.dataDir;
  const idOf = (i) => `crash-${i}`;

  // --- Phase 1: enqueues, then SIGKILL. ---
  const killAfter1 = 1000 + Math.floor(rand() * 2000);
  const killAt1 = Math.floor(TOTAL * (0.25 + rand() * 0.5));
  const enq = await underKill(server, TOTAL, async (i, conn) => {
    const r = await conn.request(h.httpRequest('POST', '/v1/jobs', { id: idOf(i), queue: QUEUE, type: 'crash', args: [i] }), { timeoutMs: 30000 });
    if (r.status !== 201 && r.status !== 503) throw new Error(`enqueue ${i}: ${r.status} ${r.text}`);
    return r.status === 201;
  }, killAfter1, killAt1);
  t.diagnostic(`${at()} enqueue phase: ${enq.attempted.size} attempted, ${enq.acked.size} acknowledged, kill after ${killAfter1} ms or ${killAt1} acks`);
  assert.ok(enq.acked.size > 0, 'some enqueues were acknowledged before the kill');
  assert.ok(!enq.finishedBeforeKill, 'the kill came while enqueues were still going');

  // --- Restart and check; the ack phase runs with --durability normal,
  // which must survive kill -9 as well. ---
  server = await h.startServer({ dataDir, args: ['--durability', 'normal'] });
  const missing = [];
  const ackedList = [...enq.acked];
  await h.pool(ackedList.length, CONCURRENCY, async (k) => {
    const i = ackedList[k];
    const res = await h.api(server, 'GET', '/v1/jobs/' + idOf(i));
    if (res.status !== 200) missing.push(`${idOf(i)}: ${res.status}`);
    else if (res.body.id !== idOf(i) || res.body.args[0] !== i || res.body.state !== 'queued') missing.push(`${idOf(i)}: ${JSON.stringify(res.body)}`);
  });
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} acknowledged jobs missing or wrong after restart`);

  const counts = await h.queueCounts(server, QUEUE);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  t.diagnostic(`${at()} after restart: ${total} jobs stored, counts ${JSON.stringify(counts)}`);
  assert.equal(total, counts.queued, 'every stored job is queued');
  assert.ok(total >= enq.acked.size, `stored ${total} >= acknowledged ${enq.acked.size}`);
  assert.ok(total <= enq.attempted.size, `stored ${total} <= attempted ${enq.attempted.size}`);
  const { jobs } = await h.listAll(server, `queue=${QUEUE}`, 1000);
  const ids = jobs.map((j) => j.id);
  assert.equal(ids.length, total, 'the list and the counts agree');
  assert.equal(new Set(ids).size, ids.length, 'no job listed twice');
  const attemptedIds = new Set([...enq.attempted].map(idOf));
  assert.deepEqual(ids.filter((id) => !attemptedIds.has(id)), [], 'only attempted ids are stored');

  // --- Phase 2: fetch in batches and ack, then SIGKILL. ---
  const killAfter2 = 500 + Math.floor(rand() * 1500);
  const killAt2 = Math.floor(total * (0.2 + rand() * 0.4));
  const batches = Array.from({ length: CONCURRENCY }, () => []); // per runner: ids handed out, not yet acked
  const ackedIds = [];
  const ackPhase = await underKill(server, total, async (i, conn, r) => {
    const mine = batches[r];
    if (mine.length === 0) {
      const f = await conn.request(h.httpRequest('POST', '/v1/fetch', { queues: [QUEUE], max: 20, worker: 'crash-worker' }), { timeoutMs: 30000 });
      if (f.status === 204) throw new Error('fetch 204: the queue ran dry before the kill');
      if (f.status !== 200) throw new Error(`fetch: ${f.status} ${f.text}`);
      for (const j of f.json.jobs) mine.push(j.id);
    }
    const id = mine.shift();
    const res = await conn.request(h.httpRequest('POST', `/v1/jobs/${id}/ack`, { worker: 'crash-worker', result: { done: id } }), { timeoutMs: 30000 });
    if (res.status !== 200 && res.status !== 503) throw new Error(`ack ${id}: ${res.status} ${res.text}`);
    if (res.status === 200) ackedIds.push(id);
    return res.status === 200;
  }, killAfter2, killAt2);
  t.diagnostic(`${at()} ack phase (--durability normal): ${ackPhase.attempted.size} attempted, ${ackedIds.length} acknowledged, kill after ${killAfter2} ms or ${killAt2} acks`);
  assert.ok(ackedIds.length > 0, 'some acks were acknowledged before the kill');
  assert.ok(!ackPhase.finishedBeforeKill, 'the kill came while acks were still going');

  // --- Restart and check. ---
  server = await h.startServer({ dataDir });
  const wrong = [];
  await h.pool(ackedIds.length, CONCURRENCY, async (k) => {
    const id = ackedIds[k];
    const res = await h.api(server, 'GET', '/v1/jobs/' + id);
    if (res.status !== 200 || res.body.state !== 'completed') wrong.push(`${id}: ${res.status} ${res.body && res.body.state}`);
    else if (!res.body.result || res.body.result.done !== id) wrong.push(`${id}: result ${JSON.stringify(res.body.result)}`);
  });
  assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} acknowledged acks lost after restart`);
  const counts2 = await h.queueCounts(server, QUEUE);
  const total2 = Object.values(counts2).reduce((a, b) => a + b, 0);
  t.diagnostic(`${at()} after second restart: counts ${JSON.stringify(counts2)}`);
  assert.equal(total2, total, 'no job lost or added by the second crash');
  assert.ok(counts2.completed >= ackedIds.length, 'completed >= acknowledged acks');
  const done = await h.listAll(server, `queue=${QUEUE}&state=completed`, 1000);
  assert.equal(done.jobs.length, counts2.completed);
  const doneIds = new Set(done.jobs.map((j) => j.id));
  assert.equal(doneIds.size, done.jobs.length, 'no completed job listed twice');
  for (const id of ackedIds) assert.ok(doneIds.has(id), `${id} listed as completed`);
});
