// Ordering, uniqueness and limits (issue 4): ordering groups ("group"),
// unique jobs ("unique"), and per-queue limits (PUT /v1/queues/{q}
// max_active and rate), driven over the JSON API by workers written in the
// test (POST /v1/fetch long-polls, ack, fail).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let seq = 0;
// A name of its own for each queue and group, so tests share one server.
// Groups and explicit unique keys are global, so they get one too.
const uq = (name) => `${name}-${process.pid}-${++seq}`;

before(async () => {
  server = await h.startServer();
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
});

const t = (s) => (s === null || s === undefined ? null : h.parseTime(s));

// A small seeded PRNG (mulberry32), so a failing run can be replayed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

async function fetchOne(srv, body) {
  const jobs = await h.fetchJobs(srv, { max: 1, ...body });
  assert.ok(jobs.length <= 1, `max 1 gave ${jobs.length}`);
  return jobs[0] || null;
}

// Long-polls until a job comes (or timeoutMs).
async function fetchSoon(srv, body, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const j = await fetchOne(srv, { wait: '1s', ...body });
    if (j) return j;
  }
  throw new Error(`no job handed out within ${timeoutMs} ms for ${JSON.stringify(body)}`);
}

async function ack(srv, id, worker, result = null) {
  const res = await h.api(srv, 'POST', `/v1/jobs/${id}/ack`, { worker, result });
  assert.equal(res.status, 200, `ack ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function fail(srv, id, worker, message = 'boom') {
  const res = await h.api(srv, 'POST', `/v1/jobs/${id}/fail`, { worker, message, type: 'E', backtrace: [] });
  assert.equal(res.status, 200, `fail ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function cancel(srv, id) {
  const res = await h.api(srv, 'POST', `/v1/jobs/${id}/cancel`);
  assert.equal(res.status, 200, `cancel ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.state, 'cancelled', `cancel ${id}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// POST /v1/jobs expecting either a new job (201) or a duplicate (200).
async function post(srv, job) {
  return h.api(srv, 'POST', '/v1/jobs', job);
}

function assertCreated(res, what) {
  assert.equal(res.status, 201, `${what}: want 201 (a new job) -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.ok(res.body.duplicate === undefined || res.body.duplicate === false,
    `${what}: a new job is not marked duplicate: ${JSON.stringify(res.body)}`);
  return res.body;
}

function assertDuplicate(res, holder, what) {
  assert.equal(res.status, 200, `${what}: want 200 (duplicate) -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.duplicate, true, `${what}: duplicate:true in ${JSON.stringify(res.body)}`);
  assert.equal(res.body.id, holder.id, `${what}: answers the holder ${holder.id}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function putQueue(srv, q, settings) {
  const res = await h.api(srv, 'PUT', `/v1/queues/${q}`, settings);
  assert.equal(res.status, 200, `PUT /v1/queues/${q} ${JSON.stringify(settings)} -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.name, q);
  assert.ok(res.body.settings && typeof res.body.settings === 'object', `settings in ${JSON.stringify(res.body)}`);
  return res.body;
}

async function getQueueOne(srv, q) {
  const res = await h.api(srv, 'GET', `/v1/queues/${q}`);
  assert.equal(res.status, 200, `GET /v1/queues/${q} -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.name, q);
  return res.body;
}

async function bulk(srv, jobs) {
  const res = await h.api(srv, 'POST', '/v1/jobs/bulk', jobs);
  assert.equal(res.status, 201, `bulk -> ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
  assert.equal(res.body.jobs.length, jobs.length);
  return res.body.jobs;
}

// The largest number of [start, end] intervals open at one instant; an
// interval that ends at the instant another starts does not overlap it.
// end null = still open.
function maxOverlap(intervals) {
  const ev = [];
  for (const [s, e] of intervals) {
    ev.push([s, 1]);
    ev.push([e === null ? Infinity : e, -1]);
  }
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) { cur += d; max = Math.max(max, cur); }
  return max;
}

// ---------------------------------------------------------------------------
// Groups

test('groups: 1,000 jobs over 50 groups, 8 workers: per-group FIFO, one at a time, a failing head holds its group', async () => {
  const q = uq('grp');
  const NG = 50;
  const PER = 20;
  const rnd = prng(4242);
  const groups = Array.from({ length: NG }, (_, i) => `${q}-g${i}`);
  // Interleave the groups at random; seq counts within each group.
  const order = [];
  for (let g = 0; g < NG; g++) for (let k = 0; k < PER; k++) order.push(g);
  for (let i = order.length - 1; i > 0; i--) {
    const k = Math.floor(rnd() * (i + 1));
    [order[i], order[k]] = [order[k], order[i]];
  }
  const FAIL_G = groups[7];
  const FAIL_SEQ = 10;
  const next = new Array(NG).fill(0);
  const specs = order.map((g) => {
    const s = next[g]++;
    const job = { queue: q, type: 'grp', group: groups[g], args: { group: groups[g], seq: s } };
    if (groups[g] === FAIL_G && s === FAIL_SEQ) Object.assign(job, { retry: 5, backoff: { type: 'fixed', base: '100ms' } });
    return job;
  });
  const made = [];
  for (let i = 0; i < specs.length; i += 250) made.push(...await bulk(server, specs.slice(i, i + 250)));
  for (const j of made) assert.equal(j.group, j.args.group, `group is stored and shown: ${JSON.stringify(j)}`);

  const TOTAL = specs.length;
  const started = new Map(groups.map((g) => [g, []])); // per group: seqs in the order they were handed out
  const active = new Map(); // group -> job id, between fetch answer and ack/fail sent
  const violations = [];
  let completed = 0;
  let maxActive = 0;
  let failsDone = 0;
  const deadline = Date.now() + 120000;

  async function worker(w) {
    const name = `w${w}`;
    while (completed < TOTAL && Date.now() < deadline) {
      const jobs = await h.fetchJobs(server, { queues: [q], worker: name, wait: '1s' });
      for (const j of jobs) {
        const g = j.args.group;
        if (j.group !== g) violations.push(`job ${j.id} handed out with group ${j.group}, args say ${g}`);
        if (active.has(g)) violations.push(`group ${g}: ${j.id} (seq ${j.args.seq}) handed out while ${active.get(g)} is active`);
        active.set(g, j.id);
        maxActive = Math.max(maxActive, active.size);
        started.get(g).push(j.args.seq);
        await h.sleep(Math.floor(rnd() * 4));
        const failing = g === FAIL_G && j.args.seq === FAIL_SEQ && j.attempts <= 2;
        // Marked idle before the answer is sent: the server may hand out
        // the group's next job only after it has seen this one.
        active.delete(g);
        if (failing) {
          const f = await fail(server, j.id, name, `attempt ${j.attempts}`);
          if (f.state !== 'retry') violations.push(`failing job went to ${f.state}, want retry`);
          failsDone++;
        } else {
          await ack(server, j.id, name, { seq: j.args.seq });
          completed++;
        }
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  assert.deepEqual(violations, [], 'no group ever had two jobs active at once');
  assert.equal(completed, TOTAL, `all ${TOTAL} jobs completed within the deadline`);
  assert.equal(failsDone, 2, 'the failing job failed twice');

  // Handed out in enqueue order; the failing job three times in a row.
  for (const g of groups) {
    const want = [];
    for (let s = 0; s < PER; s++) {
      want.push(s);
      if (g === FAIL_G && s === FAIL_SEQ) want.push(s, s);
    }
    assert.deepEqual(started.get(g), want, `group ${g} handed out in enqueue order`);
  }
  assert.ok(maxActive > 1, `different groups ran in parallel (at most ${maxActive} active at once)`);

  // The server's own record agrees: within a group each job starts no
  // earlier than the one before it finished.
  const { jobs } = await h.listAll(server, `queue=${q}`);
  assert.equal(jobs.length, TOTAL);
  const byGroup = new Map();
  for (const j of jobs) {
    assert.equal(j.state, 'completed', `job ${j.id} completed`);
    if (!byGroup.has(j.group)) byGroup.set(j.group, []);
    byGroup.get(j.group).push(j);
  }
  for (const [g, list] of byGroup) {
    list.sort((a, b) => a.args.seq - b.args.seq);
    for (let k = 1; k < list.length; k++) {
      assert.ok(t(list[k].started_at) >= t(list[k - 1].finished_at),
        `group ${g}: seq ${k} started ${list[k].started_at} before seq ${k - 1} finished ${list[k - 1].finished_at}`);
    }
    for (const j of list) {
      const want = g === FAIL_G && j.args.seq === FAIL_SEQ ? 3 : 1;
      assert.equal(j.attempts, want, `attempts of ${g}#${j.args.seq}`);
    }
  }
  const failer = byGroup.get(FAIL_G)[FAIL_SEQ];
  const after1 = byGroup.get(FAIL_G)[FAIL_SEQ + 1];
  assert.ok(t(after1.started_at) >= t(failer.finished_at), 'nothing later in the group started before the failing job completed');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, completed: TOTAL });
});

test('groups: a queued, retrying or scheduled head holds the group; priority does not reorder a group', async () => {
  const q = uq('grphold');
  const g = uq('g');
  const a = await h.enqueue(server, { queue: q, type: 't', group: g, args: ['a'], priority: 1, retry: 3, backoff: { type: 'fixed', base: '300ms' } });
  const b = await h.enqueue(server, { queue: q, type: 't', group: g, args: ['b'], priority: 9 });
  assert.equal(b.state, 'queued', 'a job behind its group head is still "queued"');
  const got = await h.fetchJobs(server, { queues: [q], max: 10, worker: 'w' });
  assert.deepEqual(got.map((j) => j.id), [a.id], 'only the head is handed out, though the next has a higher priority');
  const f = await fail(server, a.id, 'w');
  assert.equal(f.state, 'retry');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], max: 10 }), [], 'a head in retry holds its group');
  const again = await fetchSoon(server, { queues: [q], worker: 'w' });
  assert.equal(again.id, a.id, 'the retried head comes back before the next job');
  assert.equal(again.attempts, 2);
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], max: 10 }), [], 'an active head holds its group');
  await ack(server, a.id, 'w');
  const nb = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(nb && nb.id, b.id, 'the next job runs once the head completed');
  await ack(server, b.id, 'w');

  // A scheduled head: the job enqueued after it, due at once, still waits.
  const q2 = uq('grpsched');
  const g2 = uq('g');
  const s1 = await h.enqueue(server, { queue: q2, type: 't', group: g2, delay: '700ms' });
  assert.equal(s1.state, 'scheduled');
  const s2 = await h.enqueue(server, { queue: q2, type: 't', group: g2 });
  assert.deepEqual(await h.fetchJobs(server, { queues: [q2], max: 10 }), [], 'nothing before the scheduled head is due');
  const first = await fetchSoon(server, { queues: [q2], worker: 'w' });
  assert.equal(first.id, s1.id, 'the scheduled head runs first');
  assert.ok(t(first.started_at) >= t(s1.run_at), 'not before its run_at');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q2], max: 10 }), [], 'the second waits for the head');
  await ack(server, s1.id, 'w');
  assert.equal((await fetchOne(server, { queues: [q2] })).id, s2.id);
});

test('groups: a head that dies lets the group move on and records group_blocked', async () => {
  const q = uq('grpdead');
  const g = uq('g');
  const other = uq('g');
  const head = await h.enqueue(server, { queue: q, type: 't', group: g, retry: 0, args: [0] });
  const behind = [];
  for (let i = 1; i <= 3; i++) behind.push(await h.enqueue(server, { queue: q, type: 't', group: g, args: [i] }));
  // A job of another group does not count.
  const o = await h.enqueue(server, { queue: q, type: 't', group: other, args: ['other'] });
  const got = await h.fetchJobs(server, { queues: [q], max: 10, worker: 'w' });
  assert.deepEqual(got.map((j) => j.id).sort(), [head.id, o.id].sort(), 'one head per group handed out');
  const f = await fail(server, head.id, 'w');
  assert.equal(f.state, 'dead');
  assert.equal(f.group_blocked, 3, `the fail answer shows group_blocked: ${JSON.stringify(f)}`);
  const dead = await h.getJob(server, head.id);
  assert.equal(dead.group_blocked, 3, `GET shows group_blocked = jobs waiting behind the dead head: ${JSON.stringify(dead)}`);
  assert.equal(dead.group, g);
  const n1 = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(n1 && n1.id, behind[0].id, 'the group moved on past the dead head');
  assert.equal(n1.group_blocked, undefined, 'only a dead head carries group_blocked');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], max: 10 }), [], 'still one at a time');
  await ack(server, n1.id, 'w');
  await ack(server, o.id, 'w');
  // The rest of the group runs in order; a job going to retry holds no
  // group_blocked count (only a dead head does).
  const n2 = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(n2.id, behind[1].id);
  await ack(server, n2.id, 'w');
  const n3 = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(n3.id, behind[2].id);
  const f3 = await fail(server, n3.id, 'w'); // default retry: goes to retry, holds nothing behind it
  assert.equal(f3.state, 'retry');
  assert.ok(f3.group_blocked === undefined, 'a retrying job has no group_blocked');
});

test('groups: cancelling a head (queued or active) or a middle job moves the group on', async () => {
  const q = uq('grpcancel');
  const g = uq('g');
  const jobs = [];
  for (let i = 0; i < 4; i++) jobs.push(await h.enqueue(server, { queue: q, type: 't', group: g, args: [i] }));
  // Queued head cancelled: the second becomes fetchable.
  await cancel(server, jobs[0].id);
  const f1 = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(f1 && f1.id, jobs[1].id, 'cancelling the queued head frees the group');
  // A middle job cancelled while it waits: skipped later.
  await cancel(server, jobs[2].id);
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], max: 10 }), [], 'the active head still holds the group');
  // Active head cancelled: the next live job comes at once.
  await cancel(server, jobs[1].id);
  const f2 = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(f2 && f2.id, jobs[3].id, 'cancelling the active head frees the group, skipping the cancelled middle job');
  const late = await h.api(server, 'POST', `/v1/jobs/${jobs[1].id}/ack`, { worker: 'w' });
  h.assertError(late, 409, 'cancelled', undefined, 'ack of a cancelled job');
  await ack(server, jobs[3].id, 'w');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, cancelled: 3, completed: 1 });

  // A head waiting for its retry, cancelled: the next one runs at once.
  const q2 = uq('grpcancelretry');
  const g2 = uq('g');
  const r = await h.enqueue(server, { queue: q2, type: 't', group: g2, backoff: { type: 'fixed', base: '1h' } });
  const s = await h.enqueue(server, { queue: q2, type: 't', group: g2 });
  assert.equal((await fetchOne(server, { queues: [q2], worker: 'w' })).id, r.id);
  assert.equal((await fail(server, r.id, 'w')).state, 'retry');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q2], max: 10 }), [], 'the head in retry holds the group');
  await cancel(server, r.id);
  const f3 = await fetchOne(server, { queues: [q2], worker: 'w' });
  assert.equal(f3 && f3.id, s.id, 'cancelling the head in retry frees the group');
});

test('groups: a waiting long-poll fetch is woken when the group head completes', async () => {
  const q = uq('grpwake');
  const g = uq('g');
  const a = await h.enqueue(server, { queue: q, type: 't', group: g });
  const b = await h.enqueue(server, { queue: q, type: 't', group: g });
  assert.equal((await fetchOne(server, { queues: [q], worker: 'w1' })).id, a.id);
  const t0 = Date.now();
  const poll = h.fetchJobs(server, { queues: [q], worker: 'w2', wait: '5s' }).then((js) => ({ js, at: Date.now() }));
  await h.sleep(300);
  const tAck = Date.now();
  await ack(server, a.id, 'w1');
  const { js, at } = await poll;
  assert.deepEqual(js.map((j) => j.id), [b.id], 'the long-poll gets the next job of the group');
  assert.ok(at >= tAck, `not before the head completed (${at - t0} ms)`);
  assert.ok(at - tAck < 1000, `woken promptly (${at - tAck} ms after the ack)`);
});

test('groups: priorities still apply across groups and ungrouped jobs', async () => {
  const q = uq('grpprio');
  const g1 = uq('g');
  const g2 = uq('g');
  const g1a = await h.enqueue(server, { queue: q, type: 't', group: g1, priority: 1 });
  const g1b = await h.enqueue(server, { queue: q, type: 't', group: g1, priority: 9 });
  const g2a = await h.enqueue(server, { queue: q, type: 't', group: g2, priority: 7 });
  const u = await h.enqueue(server, { queue: q, type: 't', priority: 3 });
  const g2b = await h.enqueue(server, { queue: q, type: 't', group: g2, priority: 8 });
  const got = await h.fetchJobs(server, { queues: [q], max: 10, worker: 'w' });
  assert.deepEqual(got.map((j) => j.id), [g2a.id, u.id, g1a.id],
    'heads are handed out by priority (7, 3, 1); later group members wait whatever their priority');
  await ack(server, g1a.id, 'w');
  await ack(server, g2a.id, 'w');
  const got2 = await h.fetchJobs(server, { queues: [q], max: 10, worker: 'w' });
  assert.deepEqual(got2.map((j) => j.id), [g1b.id, g2b.id], 'the next heads, by priority (9, 8)');
});

test('groups: order survives a restart', async () => {
  const srv = await h.startServer();
  try {
    const q = uq('grprestart');
    const g = uq('g');
    // Client ids that sort against the enqueue order.
    const ids = ['zz', 'mm', 'aa'].map((x) => `${x}-${q}`);
    for (const id of ids) await h.enqueue(srv, { id, queue: q, type: 't', group: g });
    assert.equal((await fetchOne(srv, { queues: [q], worker: 'w' })).id, ids[0]);
    assert.equal(await srv.stop(), 0);
    const srv2 = await h.startServer({ dataDir: srv.dataDir });
    try {
      // The active job's lease outlives the restart: the group is still held.
      assert.deepEqual(await h.fetchJobs(srv2, { queues: [q], max: 10 }), [], 'the active head still holds the group after a restart');
      await ack(srv2, ids[0], 'w');
      const got = [];
      for (let i = 0; i < 2; i++) {
        const j = await fetchOne(srv2, { queues: [q], max: 10, worker: 'w' });
        assert.ok(j, 'one job at a time');
        assert.deepEqual(await h.fetchJobs(srv2, { queues: [q], max: 10 }), [], 'still one at a time');
        got.push(j.id);
        await ack(srv2, j.id, 'w');
      }
      assert.deepEqual(got, ids.slice(1), 'enqueue order, not id order, after a restart');
    } finally {
      await srv2.stop();
    }
  } finally {
    await srv.stop();
  }
});

test('groups: invalid group -> 422 field group', async () => {
  const q = uq('grpbad');
  for (const group of ['', 5, true, {}, ['a'], 'x'.repeat(100000)]) {
    const res = await post(server, { queue: q, type: 't', group });
    // A huge body may hit the body limit first.
    if (res.status === 413) continue;
    h.assertError(res, 422, 'invalid_field', 'group', `group ${JSON.stringify(group).slice(0, 30)}`);
  }
  const bad = await h.api(server, 'POST', '/v1/jobs/bulk', [{ queue: q, type: 't', group: 'ok' }, { queue: q, type: 't', group: 7 }]);
  h.assertError(bad, 422, 'invalid_field', 'jobs[1].group', 'bulk with a bad group');
  assert.deepEqual(await h.queueCounts(server, q), h.ZERO_COUNTS, 'nothing enqueued');
});

// ---------------------------------------------------------------------------
// Unique

test('unique: a duplicate within the window answers the holder (200, duplicate:true)', async () => {
  const q = uq('uq');
  const spec = { queue: q, type: 'report', args: { user: 1 }, unique: { for: '10m' } };
  const t0 = Date.now();
  const first = assertCreated(await post(server, spec), 'first');
  assert.equal(typeof first.unique, 'object', `unique shown: ${JSON.stringify(first)}`);
  assert.equal(first.unique.until, 'success', 'until defaults to success');
  assert.equal(typeof first.unique.key, 'string');
  assert.ok(first.unique.key.length > 0);
  const exp = t(first.unique.expires_at);
  assert.ok(Math.abs(exp - t(first.created_at) - 600000) < 5, `expires_at = created_at + 10m: ${first.unique.expires_at}`);
  assert.ok(exp >= t0 + 600000 - 1000, 'expires_at in 10 minutes');
  const dup = assertDuplicate(await post(server, spec), first, 'second');
  assert.equal(dup.state, 'queued');
  assert.deepEqual(dup.args, first.args);
  const { duplicate, ...rest } = dup;
  void duplicate;
  assert.deepEqual(rest, first, 'the duplicate answer is the holder as stored');
  // A bigger "for" on the duplicate does not matter, nor a different priority.
  assertDuplicate(await post(server, { ...spec, priority: 9, unique: { for: '1h' } }), first, 'different options');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 1 }, 'one job stored');
  // Without "unique" the same job is created normally.
  assertCreated(await post(server, { queue: q, type: 'report', args: { user: 1 } }), 'no unique');
});

test('unique until success: duplicate while queued, active and retrying; a new job after it completes', async () => {
  const q = uq('uqsucc');
  const spec = { queue: q, type: 't', args: [1], unique: { for: '10m', until: 'success' }, backoff: { type: 'fixed', base: '200ms' } };
  const holder = assertCreated(await post(server, spec), 'first');
  assert.equal(holder.unique.until, 'success');
  assertDuplicate(await post(server, spec), holder, 'queued holder');
  const a = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(a.id, holder.id);
  assert.equal(assertDuplicate(await post(server, spec), holder, 'active holder').state, 'active');
  await fail(server, holder.id, 'w');
  assert.equal(assertDuplicate(await post(server, spec), holder, 'holder in retry').state, 'retry');
  const a2 = await fetchSoon(server, { queues: [q], worker: 'w' });
  assert.equal(a2.id, holder.id);
  await ack(server, holder.id, 'w');
  const fresh = assertCreated(await post(server, spec), 'after the holder completed');
  assert.notEqual(fresh.id, holder.id);
  assertDuplicate(await post(server, spec), fresh, 'the new job holds the key now');
});

test('unique until start: duplicate while queued, a new job once the holder is fetched', async () => {
  const q = uq('uqstart');
  const spec = { queue: q, type: 't', args: { a: 1 }, unique: { for: '10m', until: 'start' } };
  const holder = assertCreated(await post(server, spec), 'first');
  assert.equal(holder.unique.until, 'start');
  assertDuplicate(await post(server, spec), holder, 'queued holder');
  const a = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(a.id, holder.id);
  const second = assertCreated(await post(server, spec), 'holder fetched');
  assert.notEqual(second.id, holder.id);
  assertDuplicate(await post(server, spec), second, 'the second holds the key while queued');
  // The first failing and coming back does not take the key again.
  await fail(server, holder.id, 'w');
  assertDuplicate(await post(server, spec), second, 'still the second');
  // A scheduled holder counts as not started.
  const q2 = uq('uqstartsched');
  const sched = assertCreated(await post(server, { ...spec, queue: q2, delay: '1h' }), 'scheduled');
  assert.equal(sched.state, 'scheduled');
  assertDuplicate(await post(server, { ...spec, queue: q2, delay: '1h' }), sched, 'scheduled holder');
});

test('unique window: "for" ends the key even while the holder is queued', async () => {
  const q = uq('uqwin');
  const spec = { queue: q, type: 't', args: [], unique: { for: '1s' } };
  const holder = assertCreated(await post(server, spec), 'first');
  assert.ok(Math.abs(t(holder.unique.expires_at) - t(holder.created_at) - 1000) < 5, 'expires_at = created_at + 1s');
  await h.sleep(400);
  if (Date.now() < t(holder.unique.expires_at) - 100) assertDuplicate(await post(server, spec), holder, 'inside the window');
  await h.sleep(Math.max(0, t(holder.created_at) + 1100 - Date.now()));
  const fresh = assertCreated(await post(server, spec), 'after 1.1 s');
  assert.notEqual(fresh.id, holder.id);
  assert.equal((await h.getJob(server, holder.id)).state, 'queued', 'the old holder is still queued');
  assertDuplicate(await post(server, spec), fresh, 'the new job holds the key for its own window');
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 2 });
});

test('unique keys: default key is queue+type+canonical args; an explicit key ignores them', async () => {
  const q = uq('uqkey');
  const q2 = uq('uqkey');
  const base = { queue: q, type: 'sync', args: { b: [1, { y: 2, x: 1 }], a: 'z' }, unique: { for: '10m' } };
  const holder = assertCreated(await post(server, base), 'first');
  assertDuplicate(await post(server, { ...base, args: { a: 'z', b: [1, { x: 1, y: 2 }] } }), holder,
    'same args with keys in another order (canonical JSON)');
  assertDuplicate(await post(server, { queue: q, type: 'sync', unique: { for: '10m' }, args: JSON.parse('{ "a" : "z", "b":[1,{"x":1,"y":2}]}') }), holder, 'whitespace does not matter');
  assertCreated(await post(server, { ...base, queue: q2 }), 'same args in another queue');
  assertCreated(await post(server, { ...base, type: 'sync2' }), 'same args, another type');
  assertCreated(await post(server, { ...base, args: { a: 'z', b: [{ y: 2, x: 1 }, 1] } }), 'array order matters');
  assertCreated(await post(server, { ...base, args: { a: 'z', b: [1, { y: 2, x: 1 }], c: null } }), 'an extra member matters');
  assertCreated(await post(server, { ...base, args: { a: 'z', b: [1, { y: '2', x: 1 }] } }), 'a string is not a number');

  // Explicit key: args do not matter.
  const key = uq('key');
  const k1 = assertCreated(await post(server, { queue: q, type: 'sync', args: [1], unique: { key, for: '10m' } }), 'explicit key');
  assertDuplicate(await post(server, { queue: q, type: 'sync', args: [2], unique: { key, for: '10m' } }), k1, 'same key, other args');
  assertDuplicate(await post(server, { queue: q, type: 'other', args: { z: 1 }, unique: { key, for: '5m' } }), k1, 'same key, other type');
  assertCreated(await post(server, { queue: q, type: 'sync', args: [1], unique: { key: key + 'x', for: '10m' } }), 'another key');
  // An explicit key and the default key of the same job are different keys.
  assertCreated(await post(server, { queue: q, type: 'sync', args: [1], unique: { for: '10m' } }), 'default key beside an explicit one');
});

test('unique: the job shows an explicit key as given', async () => {
  const q = uq('uqshow');
  const key = uq('order-42');
  const j = assertCreated(await post(server, { queue: q, type: 't', unique: { key, for: '10m', until: 'start' } }), 'explicit key');
  assert.deepEqual({ key: j.unique.key, until: j.unique.until }, { key, until: 'start' },
    `unique.key in the job JSON is the client's key: ${JSON.stringify(j.unique)}`);
  assert.deepEqual((await h.getJob(server, j.id)).unique, j.unique, 'GET shows the same');
});

test('unique: the holder dead or cancelled frees the key', async () => {
  const q = uq('uqfree');
  const spec = { queue: q, type: 't', args: ['x'], retry: 0, unique: { for: '10m' } };
  const holder = assertCreated(await post(server, spec), 'first');
  await fetchOne(server, { queues: [q], worker: 'w' });
  const f = await fail(server, holder.id, 'w');
  assert.equal(f.state, 'dead');
  const second = assertCreated(await post(server, spec), 'holder dead');
  assertDuplicate(await post(server, spec), second, 'second holds');
  await cancel(server, second.id);
  const third = assertCreated(await post(server, spec), 'holder cancelled while queued');
  await fetchOne(server, { queues: [q], worker: 'w' });
  await cancel(server, third.id);
  const fourth = assertCreated(await post(server, spec), 'holder cancelled while active');
  // Deleting the holder frees it too.
  const del = await h.api(server, 'DELETE', `/v1/jobs/${fourth.id}`);
  if (del.status === 200 || del.status === 204) assertCreated(await post(server, spec), 'holder deleted');
});

test('unique in a bulk call: the second one in the same call is a duplicate', async () => {
  const q = uq('uqbulk');
  const u = { queue: q, type: 't', args: { n: 1 }, unique: { for: '10m' } };
  const res = await h.api(server, 'POST', '/v1/jobs/bulk', [u, { queue: q, type: 't', args: { n: 2 } }, { ...u, args: { n: 1 } }]);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const [a, b, c] = res.body.jobs;
  assert.ok(a.duplicate === undefined || a.duplicate === false, 'the first is new');
  assert.ok(b.duplicate === undefined || b.duplicate === false);
  assert.equal(c.duplicate, true, `the third duplicates the first: ${JSON.stringify(c)}`);
  assert.equal(c.id, a.id);
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: 2 });
  // A later bulk call finds the holder too.
  const again = await bulk(server, [u]);
  assert.equal(again[0].duplicate, true);
  assert.equal(again[0].id, a.id);
});

test('unique survives a restart', async () => {
  const srv = await h.startServer();
  try {
    const q = uq('uqrestart');
    const spec = { queue: q, type: 't', args: [1], unique: { for: '10m' } };
    const startSpec = { queue: q, type: 's', args: [1], unique: { for: '10m', until: 'start' } };
    const holder = assertCreated(await post(srv, spec), 'first');
    const sh = assertCreated(await post(srv, startSpec), 'until start');
    const sh2 = assertCreated(await post(srv, { ...startSpec, queue: q + 'b' }), 'until start, to be fetched');
    assert.equal((await fetchOne(srv, { queues: [q + 'b'], worker: 'w' })).id, sh2.id);
    const win = assertCreated(await post(srv, { ...spec, type: 'w', unique: { for: '2s' } }), 'short window');
    assert.equal(await srv.stop(), 0);
    const srv2 = await h.startServer({ dataDir: srv.dataDir });
    try {
      const d = assertDuplicate(await post(srv2, spec), holder, 'after a restart');
      assert.equal(d.unique.expires_at, holder.unique.expires_at, 'the window is kept');
      assertDuplicate(await post(srv2, startSpec), sh, 'until start, still queued');
      assertCreated(await post(srv2, { ...startSpec, queue: q + 'b' }), 'until start, fetched before the restart');
      const left = t(win.unique.expires_at) - Date.now();
      if (left > 100) assertDuplicate(await post(srv2, { ...spec, type: 'w', unique: { for: '2s' } }), win, 'short window, inside');
      await h.sleep(Math.max(0, t(win.unique.expires_at) - Date.now() + 100));
      assertCreated(await post(srv2, { ...spec, type: 'w', unique: { for: '2s' } }), 'short window, over');
    } finally {
      await srv2.stop();
    }
  } finally {
    await srv.stop();
  }
});

test('unique: invalid specs -> 422 with the field', async () => {
  const q = uq('uqbad');
  const cases = [
    ['x', ['unique']],
    [true, ['unique']],
    [[], ['unique']],
    [{}, ['unique.for', 'unique']],
    [{ until: 'start' }, ['unique.for', 'unique']],
    [{ for: 'soon' }, ['unique.for', 'unique']],
    [{ for: '' }, ['unique.for', 'unique']],
    [{ for: '0s' }, ['unique.for', 'unique']],
    [{ for: -5 }, ['unique.for', 'unique']],
    [{ for: '-1m' }, ['unique.for', 'unique']],
    [{ for: '10m', until: 'finish' }, ['unique.until', 'unique']],
    [{ for: '10m', until: 1 }, ['unique.until', 'unique']],
    [{ for: '10m', key: '' }, ['unique.key', 'unique']],
    [{ for: '10m', key: 42 }, ['unique.key', 'unique']],
    [{ for: '10m', key: ['a'] }, ['unique.key', 'unique']],
  ];
  for (const [unique, field] of cases) {
    const res = await post(server, { queue: q, type: 't', unique });
    h.assertError(res, 422, 'invalid_field', field, `unique ${JSON.stringify(unique)}`);
  }
  const b = await h.api(server, 'POST', '/v1/jobs/bulk', [{ queue: q, type: 't', unique: { for: '1m' } }, { queue: q, type: 't', unique: { for: 'x' } }]);
  h.assertError(b, 422, 'invalid_field', ['jobs[1].unique.for', 'jobs[1].unique'], 'bulk with a bad unique');
  assert.deepEqual(await h.queueCounts(server, q), h.ZERO_COUNTS, 'nothing enqueued');
  // Accepted forms.
  assertCreated(await post(server, { queue: q, type: 't', unique: { for: 60 } }), 'numeric seconds');
  assertCreated(await post(server, { queue: q, type: 't', args: [1], unique: { for: '1m', until: null, key: null } }), 'nulls mean defaults');
});

// ---------------------------------------------------------------------------
// Limits

test('queue settings: PUT shows and GET returns them; {} clears; invalid -> 422 and nothing changes', async () => {
  const q = uq('qset');
  const put = await putQueue(server, q, { max_active: 3, rate: { limit: 10, per: '2s' }, keep_for: '1h' });
  const want = (s) => {
    assert.equal(s.max_active, 3, `max_active in ${JSON.stringify(s)}`);
    assert.equal(s.rate.limit, 10, `rate.limit in ${JSON.stringify(s)}`);
    assert.ok(s.rate.per === 2 || s.rate.per === '2s', `rate.per in ${JSON.stringify(s)}`);
    assert.ok(s.keep_for === 3600 || s.keep_for === '1h', `keep_for in ${JSON.stringify(s)}`);
  };
  want(put.settings);
  const got = await getQueueOne(server, q);
  want(got.settings);
  assert.deepEqual(got.counts, h.ZERO_COUNTS, 'a configured queue with no jobs');
  const listed = await h.getQueue(server, q);
  assert.ok(listed, 'a configured queue is listed');
  want(listed.settings);

  const bad = [
    [{ max_active: 0 }, 'max_active'],
    [{ max_active: -1 }, 'max_active'],
    [{ max_active: 1.5 }, 'max_active'],
    [{ max_active: '2' }, 'max_active'],
    [{ max_active: true }, 'max_active'],
    [{ rate: 5 }, ['rate', 'rate.limit']],
    [{ rate: {} }, ['rate', 'rate.limit']],
    [{ rate: { limit: 0, per: '1s' } }, ['rate.limit', 'rate']],
    [{ rate: { limit: -3, per: '1s' } }, ['rate.limit', 'rate']],
    [{ rate: { limit: 2.5, per: '1s' } }, ['rate.limit', 'rate']],
    [{ rate: { limit: '5', per: '1s' } }, ['rate.limit', 'rate']],
    [{ rate: { limit: 5, per: 'soon' } }, ['rate.per', 'rate']],
    [{ rate: { limit: 5, per: '0s' } }, ['rate.per', 'rate']],
    [{ rate: { limit: 5, per: -1 } }, ['rate.per', 'rate']],
    [{ keep_for: 'x' }, 'keep_for'],
    [{ keep_for: '0s' }, 'keep_for'],
    [{ max_active: 1, rate: { limit: 0 } }, ['rate.limit', 'rate']],
  ];
  for (const [body, field] of bad) {
    const res = await h.api(server, 'PUT', `/v1/queues/${q}`, body);
    h.assertError(res, 422, 'invalid_field', field, `PUT ${JSON.stringify(body)}`);
  }
  want((await getQueueOne(server, q)).settings);

  // PUT replaces: only max_active now.
  const only = await putQueue(server, q, { max_active: 5 });
  assert.deepEqual(only.settings, { max_active: 5 }, 'PUT replaces the settings');
  assert.deepEqual((await putQueue(server, q, {})).settings, {}, '{} clears them');
  assert.deepEqual((await getQueueOne(server, q)).settings, {});
  h.assertError(await h.api(server, 'PUT', '/v1/queues/bad%20name', { max_active: 1 }), 422, 'invalid_field', 'queue', 'bad queue name');
});

// Greedy workers: fetch (long-poll, max `max`), hold each job holdMs, ack.
// Tracks how many jobs the test holds at once (a lower bound of what the
// server has active: each is released before its ack is sent).
async function greedy(srv, q, { workers, total, max = 1, holdMs = 0, deadlineMs = 30000 }) {
  const st = { done: 0, held: 0, maxHeld: 0, maxBatch: 0, starts: [], jobs: [] };
  const deadline = Date.now() + deadlineMs;
  async function run(w) {
    while (st.done < total && Date.now() < deadline) {
      const js = await h.fetchJobs(srv, { queues: [q], worker: `g${w}`, wait: '1s', max });
      st.maxBatch = Math.max(st.maxBatch, js.length);
      st.held += js.length;
      st.maxHeld = Math.max(st.maxHeld, st.held);
      for (const j of js) { st.starts.push(t(j.started_at)); st.jobs.push(j); }
      if (holdMs) await h.sleep(holdMs);
      for (const j of js) {
        st.held--;
        await ack(srv, j.id, `g${w}`);
        st.done++;
      }
    }
  }
  await Promise.all(Array.from({ length: workers }, (_, w) => run(w)));
  assert.equal(st.done, total, `all ${total} jobs done before the deadline`);
  return st;
}

async function serverIntervals(srv, ids) {
  const out = [];
  for (const id of ids) {
    const j = await h.getJob(srv, id);
    assert.equal(j.state, 'completed');
    out.push([t(j.started_at), t(j.finished_at)]);
  }
  return out;
}

test('max_active: at most N active with greedy workers; raising the limit takes effect', async () => {
  const q = uq('maxact');
  await putQueue(server, q, { max_active: 2 });
  const jobs = [];
  for (let i = 0; i < 6; i++) jobs.push(await h.enqueue(server, { queue: q, type: 't', args: [i] }));
  const st = await greedy(server, q, { workers: 4, total: 6, max: 3, holdMs: 150 });
  assert.ok(st.maxHeld <= 2, `the test never held more than 2 (held ${st.maxHeld})`);
  assert.ok(st.maxBatch <= 2, `a fetch never got more than 2 (got ${st.maxBatch})`);
  const iv = await serverIntervals(server, jobs.map((j) => j.id));
  assert.equal(maxOverlap(iv), 2, `started_at..finished_at: at most 2 at once, and 2 reached: ${JSON.stringify(iv)}`);

  // A single fetch of many gets only what the limit allows; then nothing.
  for (let i = 0; i < 6; i++) await h.enqueue(server, { queue: q, type: 't', args: [i] });
  const two = await h.fetchJobs(server, { queues: [q], worker: 'x', max: 10 });
  assert.equal(two.length, 2, 'fetch max 10 gets 2');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], worker: 'x', max: 10 }), [], 'then nothing');
  const counts = await getQueueOne(server, q);
  assert.equal(counts.counts.active, 2);
  assert.equal(counts.counts.queued, 4, 'enqueues are never rejected, the rest wait');
  // Raising the limit: two more at once.
  await putQueue(server, q, { max_active: 4 });
  const more = await h.fetchJobs(server, { queues: [q], worker: 'x', max: 10 });
  assert.equal(more.length, 2, 'raised to 4: two more');
  assert.deepEqual(await h.fetchJobs(server, { queues: [q], worker: 'x', max: 10 }), []);
  for (const j of [...two, ...more]) await ack(server, j.id, 'x');
  // The remaining 2 plus 6 more with 4 greedy workers: 4 at once, never 5.
  const ids2 = [];
  for (let i = 0; i < 6; i++) ids2.push((await h.enqueue(server, { queue: q, type: 't' })).id);
  const st2 = await greedy(server, q, { workers: 6, total: 8, max: 1, holdMs: 250 });
  assert.ok(st2.maxHeld <= 4, `at most 4 held (held ${st2.maxHeld})`);
  const iv2 = await serverIntervals(server, st2.jobs.map((j) => j.id));
  assert.equal(maxOverlap(iv2), 4, `raised limit: 4 at once, never more: ${JSON.stringify(iv2)}`);
  // Clearing the limit: everything at once.
  await putQueue(server, q, {});
  for (let i = 0; i < 6; i++) await h.enqueue(server, { queue: q, type: 't' });
  assert.equal((await h.fetchJobs(server, { queues: [q], max: 10 })).length, 6, 'no limit after {}');
});

test('max_active: a failing or cancelled active job frees its slot too', async () => {
  const q = uq('maxfree');
  await putQueue(server, q, { max_active: 1 });
  const a = await h.enqueue(server, { queue: q, type: 't', backoff: { type: 'fixed', base: '1h' } });
  const b = await h.enqueue(server, { queue: q, type: 't' });
  const c = await h.enqueue(server, { queue: q, type: 't' });
  assert.equal((await fetchOne(server, { queues: [q], worker: 'w' })).id, a.id);
  assert.equal(await fetchOne(server, { queues: [q] }), null);
  await fail(server, a.id, 'w');
  assert.equal((await fetchOne(server, { queues: [q], worker: 'w' })).id, b.id, 'a fail frees the slot');
  assert.equal(await fetchOne(server, { queues: [q] }), null);
  await cancel(server, b.id);
  assert.equal((await fetchOne(server, { queues: [q], worker: 'w' })).id, c.id, 'a cancel frees the slot');
});

test('max_active: a waiting long-poll fetch is woken when a slot frees or the limit is raised', async () => {
  const q = uq('maxwake');
  await putQueue(server, q, { max_active: 1 });
  const a = await h.enqueue(server, { queue: q, type: 't' });
  const b = await h.enqueue(server, { queue: q, type: 't' });
  const c = await h.enqueue(server, { queue: q, type: 't' });
  assert.equal((await fetchOne(server, { queues: [q], worker: 'w1' })).id, a.id);
  const poll = h.fetchJobs(server, { queues: [q], worker: 'w2', wait: '5s', max: 5 }).then((js) => ({ js, at: Date.now() }));
  await h.sleep(300);
  const tAck = Date.now();
  await ack(server, a.id, 'w1');
  const r = await poll;
  assert.deepEqual(r.js.map((j) => j.id), [b.id], 'the waiting fetch gets the freed slot (and only one)');
  assert.ok(r.at >= tAck && r.at - tAck < 1000, `woken ${r.at - tAck} ms after the ack`);

  const poll2 = h.fetchJobs(server, { queues: [q], worker: 'w3', wait: '5s', max: 5 }).then((js) => ({ js, at: Date.now() }));
  await h.sleep(300);
  const tPut = Date.now();
  await putQueue(server, q, { max_active: 2 });
  const r2 = await poll2;
  assert.deepEqual(r2.js.map((j) => j.id), [c.id], 'raising the limit wakes the waiting fetch');
  assert.ok(r2.at >= tPut && r2.at - tPut < 1000, `woken ${r2.at - tPut} ms after the PUT`);
});

test('rate: 5 per 1s, 20 jobs fetched greedily: a burst of 5, then at most 5 starts per second', async () => {
  const q = uq('rate');
  await putQueue(server, q, { rate: { limit: 5, per: '1s' } });
  const ids = [];
  for (let i = 0; i < 20; i++) {
    const res = await post(server, { queue: q, type: 't', args: [i] });
    assert.equal(res.status, 201, `enqueue is never rejected: ${res.status}`);
    ids.push(res.body.id);
  }
  const st = await greedy(server, q, { workers: 4, total: 20, max: 10 });
  const s = [...st.starts].sort((x, y) => x - y);
  assert.equal(s.length, 20);
  const TOL = 50;
  // Beyond the burst: any 6 consecutive starts span at least a second.
  for (let i = 5; i + 5 < s.length; i++) {
    assert.ok(s[i + 5] - s[i] >= 1000 - TOL,
      `starts ${i}..${i + 5} within ${(s[i + 5] - s[i]).toFixed(1)} ms: more than 5 in a second after the burst`);
  }
  // Token bucket: in any span d, at most 5 + 5*d/1s starts.
  for (let i = 0; i < s.length; i++) {
    for (let k = i; k < s.length; k++) {
      const allowed = 5 + (5 * (s[k] - s[i] + TOL)) / 1000;
      assert.ok(k - i + 1 <= allowed + 1e-9, `${k - i + 1} starts in ${(s[k] - s[i]).toFixed(1)} ms (bucket allows ${allowed.toFixed(2)})`);
    }
  }
  assert.ok(s[4] - s[0] < 500, `the full bucket gives a burst of 5 (${(s[4] - s[0]).toFixed(1)} ms)`);
  const span = s[19] - s[0];
  assert.ok(span >= 3000 - TOL, `15 refills at 5/s take 3 s (took ${span.toFixed(0)} ms)`);
  assert.ok(span < 3000 + 1500, `waiting fetches are woken as tokens come (took ${span.toFixed(0)} ms)`);
  const iv = await serverIntervals(server, ids);
  assert.deepEqual(iv.map((x) => x[0]).sort((x, y) => x - y), s, 'the job records show the same starts');
});

test('rate: a waiting long-poll fetch is woken when a token is due; enqueues are never rejected', async () => {
  const q = uq('ratewake');
  await putQueue(server, q, { rate: { limit: 1, per: '1s' } });
  const a = await h.enqueue(server, { queue: q, type: 't' });
  const b = await h.enqueue(server, { queue: q, type: 't' });
  const fa = await fetchOne(server, { queues: [q], worker: 'w' });
  assert.equal(fa.id, a.id);
  assert.equal(await fetchOne(server, { queues: [q] }), null, 'the bucket is empty');
  // More enqueues while the bucket is empty are fine.
  for (let i = 0; i < 5; i++) await h.enqueue(server, { queue: q, type: 't' });
  const t0 = Date.now();
  const fb = await h.fetchJobs(server, { queues: [q], worker: 'w', wait: '5s', max: 10 });
  const waited = Date.now() - t0;
  assert.deepEqual(fb.map((j) => j.id), [b.id], 'one token, one job');
  const gap = t(fb[0].started_at) - t(fa.started_at);
  assert.ok(gap >= 1000 - 50, `the next start a second after the first (${gap.toFixed(1)} ms)`);
  assert.ok(gap < 1600, `woken when the token came (${gap.toFixed(1)} ms, waited ${waited} ms)`);
  const counts = (await getQueueOne(server, q)).counts;
  assert.equal(counts.queued, 5);
  assert.equal(counts.active, 2);
});

test('limits: max_active and rate together; other queues are not limited', async () => {
  const q = uq('both');
  const free = uq('free');
  await putQueue(server, q, { max_active: 2, rate: { limit: 3, per: '1s' } });
  for (let i = 0; i < 5; i++) await h.enqueue(server, { queue: q, type: 't' });
  for (let i = 0; i < 5; i++) await h.enqueue(server, { queue: free, type: 't' });
  const got = await h.fetchJobs(server, { queues: [q, free], worker: 'w', max: 20 });
  assert.equal(got.filter((j) => j.queue === q).length, 2, 'max_active bounds the limited queue');
  assert.equal(got.filter((j) => j.queue === free).length, 5, 'the other queue is not limited');
  for (const j of got.filter((x) => x.queue === q)) await ack(server, j.id, 'w');
  const one = await h.fetchJobs(server, { queues: [q], worker: 'w', max: 20 });
  assert.equal(one.length, 1, 'the third token of the burst; max_active allows 2 but the bucket holds 1');
});

test('queue settings survive a restart', async () => {
  const srv = await h.startServer();
  try {
    const q = uq('qsetrestart');
    await putQueue(srv, q, { max_active: 1, rate: { limit: 7, per: '1m' } });
    for (let i = 0; i < 3; i++) await h.enqueue(srv, { queue: q, type: 't' });
    assert.equal(await srv.stop(), 0);
    const srv2 = await h.startServer({ dataDir: srv.dataDir });
    try {
      const s = (await getQueueOne(srv2, q)).settings;
      assert.equal(s.max_active, 1, JSON.stringify(s));
      assert.equal(s.rate.limit, 7, JSON.stringify(s));
      assert.equal((await h.fetchJobs(srv2, { queues: [q], max: 10 })).length, 1, 'max_active applies after a restart');
    } finally {
      await srv2.stop();
    }
  } finally {
    await srv.stop();
  }
});
