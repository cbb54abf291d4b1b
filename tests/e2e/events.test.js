'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { EventSource } = require('eventsource');
const h = require('./helpers');

let server;
before(async () => { server = await h.startServer(); });
after(async () => { assert.equal(await server.stop(), 0); });

function collect(url, headers) {
  const events = [];
  const es = new EventSource(url, headers ? { fetch: (u, init) => fetch(u, { ...init, headers: { ...init.headers, ...headers } }) } : undefined);
  const done = new Promise((resolve, reject) => {
    for (const t of ['state', 'progress', 'log', 'done']) {
      es.addEventListener(t, (e) => {
        events.push({ type: t, id: e.lastEventId, data: JSON.parse(e.data) });
        if (t === 'done') { es.close(); resolve(events); }
      });
    }
    es.onerror = (e) => { if (es.readyState === EventSource.CLOSED) reject(e); };
  });
  return { es, events, done };
}

test('unknown job: 404', async () => {
  const r = await fetch(server.url + '/v1/jobs/nope/events');
  assert.equal(r.status, 404);
});

test('live: state, progress, log, state changes, done', async () => {
  const q = 'ev-' + process.pid;
  const job = await h.enqueue(server, { queue: q, type: 't', args: [] });
  const c = collect(`${server.url}/v1/jobs/${job.id}/events`);
  await h.waitFor(() => c.events.length >= 1);
  assert.equal(c.events[0].type, 'state');
  assert.equal(c.events[0].data.state, 'queued');
  const got = await h.fetchJobs(server, { queues: [q], worker: 'w' });
  assert.equal(got.length, 1);
  let r = await h.api(server, 'POST', `/v1/jobs/${job.id}/progress`, { worker: 'w', percent: 40 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  r = await h.api(server, 'POST', `/v1/jobs/${job.id}/log`, { worker: 'w', lines: ['a', 'b\nc'] });
  assert.ok(r.status < 300, JSON.stringify(r.body));
  r = await h.api(server, 'POST', `/v1/jobs/${job.id}/ack`, { worker: 'w' });
  assert.equal(r.status, 200);
  const evs = await c.done;
  console.log(evs.map((e) => `${e.type}:${e.id}:${e.data.state || e.data.percent || e.data.line}`).join(' '));
  const types = evs.map((e) => e.type);
  assert.deepEqual(types, ['state', 'state', 'progress', 'log', 'log', 'state', 'done']);
  assert.equal(evs[2].id, '1');
  assert.equal(evs[4].data.line, 'b\nc');
  assert.equal(evs[4].id, '3');
  assert.equal(evs[6].data.state, 'completed');

  // resume after 1: the stored events after it, then done
  const c2 = collect(`${server.url}/v1/jobs/${job.id}/events?last_event_id=1`);
  const evs2 = await c2.done;
  assert.deepEqual(evs2.map((e) => e.type), ['state', 'log', 'log', 'done']);
  // the header wins
  const c3 = collect(`${server.url}/v1/jobs/${job.id}/events?last_event_id=0`, { 'Last-Event-ID': '2' });
  const evs3 = await c3.done;
  assert.deepEqual(evs3.map((e) => e.type), ['state', 'log', 'done']);
});

test('raw: head and chunked body; HEAD', async () => {
  const job = await h.enqueue(server, { queue: 'raw-' + process.pid, type: 't', args: [] });
  const conn = await h.RawConn.connect(server);
  await conn.write(`GET /v1/jobs/${job.id}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
  await h.sleep(300);
  const text = conn.received.toString('latin1');
  console.log(JSON.stringify(text.slice(0, 400)));
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nContent-Type: text\/event-stream; charset=utf-8\r\n/);
  assert.match(text, /\r\nTransfer-Encoding: chunked\r\n/);
  assert.match(text, /retry: 2000\n\n/);
  assert.match(text, /event: state\ndata: \{/);
  conn.destroy();
  const hc = await h.RawConn.connect(server);
  await hc.write(`HEAD /v1/jobs/${job.id}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.ok(await hc.waitClosed(5000));
  assert.ok(hc.received.toString('latin1').endsWith('\r\n\r\n'));
});

test('SIGTERM with open streams: they end and the server exits 0', async () => {
  const s = await h.startServer();
  const job = await h.enqueue(s, { queue: 'term-' + process.pid, type: 't', args: [] });
  const conns = [];
  for (let i = 0; i < 3; i++) {
    const c = await h.RawConn.connect(s);
    await c.write(`GET /v1/jobs/${job.id}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
    conns.push(c);
  }
  await h.sleep(300);
  const t0 = Date.now();
  assert.equal(await s.stop(), 0);
  assert.ok(Date.now() - t0 < 5000, `exit took ${Date.now() - t0} ms`);
  for (const c of conns) {
    assert.ok(await c.waitClosed(5000));
    assert.ok(c.received.toString('latin1').endsWith('0\r\n\r\n'), 'last chunk sent');
  }
});
