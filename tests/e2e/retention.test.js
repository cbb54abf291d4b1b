// Retention of finished jobs: dead and completed jobs are kept for review,
// bounded by count (--dead-max, --completed-max) and age (--dead-ttl); the
// oldest go first and the queue counts follow. Also: a job active when the
// server stops is still active, with its lease, after a restart.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

// Enqueues a job with retry 0, fetches and fails it: it goes straight to dead.
async function killJob(server, queue, id) {
  await h.enqueue(server, { id, queue, type: 'doomed', retry: 0 });
  const res = await h.api(server, 'POST', '/v1/fetch', { queues: [queue], worker: 'w' });
  assert.equal(res.status, 200);
  assert.equal(res.body.jobs[0].id, id);
  const f = await h.api(server, 'POST', `/v1/jobs/${id}/fail`, { worker: 'w', message: 'boom' });
  assert.equal(f.status, 200);
  assert.equal(f.body.state, 'dead');
}

test('--dead-max keeps only the newest dead jobs', async () => {
  const server = await h.startServer({ args: ['--dead-max', '3'] });
  try {
    for (let i = 1; i <= 5; i++) await killJob(server, 'dm', `dead-${i}`);
    await h.waitFor(async () => (await h.queueCounts(server, 'dm')).dead === 3, 5000, 50, 'dead count 3');
    for (const id of ['dead-1', 'dead-2']) assert.equal((await h.api(server, 'GET', `/v1/jobs/${id}`)).status, 410, 'pruned ids answer 410 Gone');
    for (const id of ['dead-3', 'dead-4', 'dead-5']) assert.equal((await h.getJob(server, id)).state, 'dead');
    const listed = await h.api(server, 'GET', '/v1/jobs?state=dead');
    assert.deepEqual(listed.body.jobs.map((j) => j.id), ['dead-5', 'dead-4', 'dead-3']);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('--dead-ttl drops dead jobs older than the limit', async () => {
  const server = await h.startServer({ args: ['--dead-ttl', '2s'] });
  try {
    await killJob(server, 'dt', 'old-dead');
    await h.sleep(2600);
    await killJob(server, 'dt', 'new-dead');
    await h.waitFor(async () => (await h.api(server, 'GET', '/v1/jobs/old-dead')).status === 410, 5000);
    assert.equal((await h.getJob(server, 'new-dead')).state, 'dead');
    assert.equal((await h.queueCounts(server, 'dt')).dead, 1);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('--completed-max keeps only the newest completed jobs', async () => {
  const server = await h.startServer({ args: ['--completed-max', '2'] });
  try {
    for (let i = 1; i <= 4; i++) {
      await h.enqueue(server, { id: `done-${i}`, queue: 'cm', type: 't' });
      const f = await h.api(server, 'POST', '/v1/fetch', { queues: ['cm'], worker: 'w' });
      assert.equal(f.body.jobs[0].id, `done-${i}`);
      assert.equal((await h.api(server, 'POST', `/v1/jobs/done-${i}/ack`, { worker: 'w' })).status, 200);
    }
    await h.waitFor(async () => (await h.queueCounts(server, 'cm')).completed === 2, 5000, 50, 'completed 2');
    assert.equal((await h.api(server, 'GET', '/v1/jobs/done-1')).status, 410);
    assert.equal((await h.getJob(server, 'done-4')).state, 'completed');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('an active job keeps its lease across a restart and can still be acked', async () => {
  const server = await h.startServer();
  const dataDir = server.dataDir;
  await h.enqueue(server, { id: 'survivor', queue: 'rs', type: 't' });
  const f = await h.api(server, 'POST', '/v1/fetch', { queues: ['rs'], worker: 'w9' });
  assert.equal(f.body.jobs[0].id, 'survivor');
  assert.equal(await server.stop(), 0);
  const again = await h.startServer({ dataDir });
  try {
    const job = await h.getJob(again, 'survivor');
    assert.equal(job.state, 'active');
    assert.equal(job.worker, 'w9');
    assert.equal(job.lease_expires_at, f.body.jobs[0].lease_expires_at);
    const ack = await h.api(again, 'POST', '/v1/jobs/survivor/ack', { worker: 'w9', result: 7 });
    assert.equal(ack.status, 200);
    assert.equal(ack.body.result, 7);
  } finally {
    assert.equal(await again.stop(), 0);
  }
});
