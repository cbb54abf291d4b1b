// The HTTP/1.1 layer: keep-alive, pipelining, chunked bodies, HEAD, the
// header and idle timeouts, many concurrent connections, and a clean
// shutdown while a long-poll waits. Raw sockets where fetch() would hide
// what is on the wire.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server; // defaults
let quick; // --header-timeout 1s --idle-timeout 1s
let idle2; // --idle-timeout 2s

before(async () => {
  server = await h.startServer();
  quick = await h.startServer({ args: ['--header-timeout', '1s', '--idle-timeout', '1s'] });
  idle2 = await h.startServer({ args: ['--idle-timeout', '2s'] });
});

after(async () => {
  const codes = [];
  for (const s of [idle2, quick, server]) if (s) codes.push(await s.stop());
  assert.deepEqual(codes, [0, 0, 0], 'servers exit 0 on SIGTERM');
});

const GET = (p, extra = '') => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
let seq = 0;
const uid = (name) => `${name}-${process.pid}-${++seq}`;

test('GET /healthz: 200 {"status":"ok"}', async () => {
  const res = await h.api(server, 'GET', '/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: 'ok' });
  assert.match(res.headers.get('content-type') || '', /^application\/json/);
});

test('HEAD /healthz: 200, headers only', async () => {
  const conn = await h.RawConn.connect(server);
  const res = await conn.request('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(res.status, 200);
  assert.equal(res.body.length, 0);
  await h.sleep(300);
  const text = conn.received.toString('latin1');
  assert.ok(text.endsWith('\r\n\r\n'), `nothing after the header block: ${JSON.stringify(text)}`);
  if (res.headers['content-length'] !== undefined) {
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(JSON.stringify({ status: 'ok' })),
      'HEAD reports the GET length (or none)');
  }
  // The connection is still in step: HEAD and GET pipelined.
  conn.expectHead(true);
  conn.expectHead(false);
  await conn.write('HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const r1 = await conn.next();
  const r2 = await conn.next();
  assert.equal(r1.status, 200);
  assert.equal(r1.body.length, 0);
  assert.equal(r2.status, 200);
  assert.deepEqual(r2.json, { status: 'ok' });
  assert.equal(conn.closed, false);
  conn.destroy();
});

test('keep-alive: many requests on one socket', async () => {
  const conn = await h.RawConn.connect(server);
  const q = uid('ka');
  for (let i = 0; i < 60; i++) {
    const id = `${q}-${i}`;
    let r = await conn.request(GET('/healthz'));
    assert.equal(r.status, 200, `healthz #${i}`);
    assert.deepEqual(r.json, { status: 'ok' });
    r = await conn.request(h.httpRequest('POST', '/v1/jobs', { id, queue: q, type: 't', args: [i] }));
    assert.equal(r.status, 201, `enqueue #${i}: ${r.text}`);
    assert.equal(r.json.id, id);
    r = await conn.request(GET(`/v1/jobs/${id}`));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.args, [i]);
    r = await conn.request(GET('/v1/jobs/no-such-job-xyz'));
    assert.equal(r.status, 404, 'an error response keeps the connection');
    assert.equal(r.json.error.code, 'not_found');
  }
  assert.equal(conn.closed, false, 'still open');
  assert.equal(conn.error, null);
  conn.destroy();
  assert.equal((await h.queueCounts(server, q)).queued, 60);
});

test('Connection: close and HTTP/1.0 end the connection after the response', async () => {
  let conn = await h.RawConn.connect(server);
  let r = await conn.request(GET('/healthz', 'Connection: close\r\n'));
  assert.equal(r.status, 200);
  assert.ok(await conn.waitClosed(5000), 'closed after Connection: close');

  conn = await h.RawConn.connect(server);
  r = await conn.request('GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { status: 'ok' });
  assert.ok(await conn.waitClosed(5000), 'closed after an HTTP/1.0 request');

  // HTTP/1.0 with keep-alive asked for stays open.
  conn = await h.RawConn.connect(server);
  r = await conn.request('GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(r.status, 200);
  r = await conn.request('GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(r.status, 200);
  conn.destroy();
});

test('pipelined requests on one socket are answered in order', async () => {
  const q = uid('pipe');
  const conn = await h.RawConn.connect(server);
  let batch = '';
  const want = [];
  for (let i = 0; i < 10; i++) {
    const id = `${q}-${i}`;
    batch += h.httpRequest('POST', '/v1/jobs', { id, queue: q, type: 't', args: [i] });
    want.push([201, id]);
    batch += GET(`/v1/jobs/${id}`);
    want.push([200, id]);
    if (i % 3 === 1) { batch += GET(`/v1/jobs/${q}-missing-${i}`); want.push([404, null]); }
    if (i % 4 === 2) { batch += 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; want.push([200, 'HEAD']); }
  }
  batch += h.httpRequest('POST', '/v1/fetch', { queues: [q], max: 3, worker: 'p' });
  want.push([200, 'fetch']);
  for (const [, id] of want) conn.expectHead(id === 'HEAD');
  await conn.write(batch);
  const got = [];
  for (let i = 0; i < want.length; i++) got.push(await conn.next());
  for (let i = 0; i < want.length; i++) {
    const [status, id] = want[i];
    const r = got[i];
    assert.equal(r.status, status, `response ${i}: ${r.text}`);
    if (id === 'HEAD') assert.equal(r.body.length, 0);
    else if (id === 'fetch') assert.deepEqual(r.json.jobs.map((j) => j.id), [`${q}-0`, `${q}-1`, `${q}-2`]);
    else if (id) assert.equal(r.json.id, id, `response ${i} is for ${id}`);
    else assert.equal(r.json.error.code, 'not_found');
  }
  await h.sleep(200);
  assert.equal(conn.responses.length, 0, 'no extra responses');
  assert.equal(conn.closed, false);
  conn.destroy();
});

test('a request written a few bytes at a time', async () => {
  const q = uid('slow');
  const conn = await h.RawConn.connect(server);
  const req = Buffer.from(h.httpRequest('POST', '/v1/jobs', { id: `${q}-1`, queue: q, type: 'trickle', args: ['\u00e9\u4e2d'] }));
  conn.expectHead(false);
  for (let i = 0; i < req.length; i += 3) {
    await conn.write(req.subarray(i, i + 3));
    await h.sleep(1);
  }
  const r = await conn.next();
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json.args, ['\u00e9\u4e2d'], 'UTF-8 split across writes survives');
  conn.destroy();
});

test('chunked request bodies', async () => {
  const q = uid('chunk');
  const conn = await h.RawConn.connect(server);
  const body = JSON.stringify({ id: `${q}-1`, queue: q, type: 'chunked', args: ['x'.repeat(300)] });
  const parts = [body.slice(0, 1), body.slice(1, 40), body.slice(40, 41), body.slice(41)];
  let wire = 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (const [i, p] of parts.entries()) wire += `${Buffer.byteLength(p).toString(16)}${i === 1 ? ';name=value' : ''}\r\n${p}\r\n`;
  wire += '0\r\n\r\n';
  let r = await conn.request(wire);
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.id, `${q}-1`);
  assert.deepEqual(r.json.args, ['x'.repeat(300)]);

  // Upper-case hex sizes, a trailer, and a pipelined request right after.
  const body2 = JSON.stringify({ id: `${q}-2`, queue: q, type: 'chunked', args: ['y'.repeat(26)] });
  const a = body2.slice(0, 26);
  const b = body2.slice(26);
  wire = 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `${Buffer.byteLength(a).toString(16).toUpperCase()}\r\n${a}\r\n${Buffer.byteLength(b).toString(16).toUpperCase()}\r\n${b}\r\n` +
    '0\r\nX-Trailer: 1\r\n\r\n' + GET(`/v1/jobs/${q}-2`);
  conn.expectHead(false);
  conn.expectHead(false);
  await conn.write(wire);
  r = await conn.next();
  assert.equal(r.status, 201, r.text);
  r = await conn.next();
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.args, ['y'.repeat(26)]);

  // A chunked body written chunk by chunk, with pauses.
  conn.expectHead(false);
  const body3 = JSON.stringify({ id: `${q}-3`, queue: q, type: 'chunked' });
  await conn.write('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (const p of [body3.slice(0, 10), body3.slice(10)]) {
    await h.sleep(50);
    await conn.write(`${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`);
  }
  await h.sleep(50);
  await conn.write('0\r\n\r\n');
  r = await conn.next();
  assert.equal(r.status, 201, r.text);
  assert.equal(conn.closed, false);
  conn.destroy();
  assert.equal((await h.queueCounts(server, q)).queued, 3);
});

test('header timeout: partial headers get 408 or a close', async () => {
  const conn = await h.RawConn.connect(quick);
  conn.expectHead(false);
  await conn.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const closed = await conn.waitClosed(10000);
  assert.ok(closed, 'closed within 10 s of a 1 s header timeout');
  if (conn.responses.length) {
    assert.equal(conn.responses.length, 1);
    h.assertError({ status: conn.responses[0].status, body: conn.responses[0].json }, 408, 'request_timeout');
  }
  conn.destroy();
});

test('header timeout counts the whole header block, not the gap between bytes', async () => {
  const conn = await h.RawConn.connect(quick);
  conn.expectHead(false);
  await conn.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
  const deadline = Date.now() + 10000;
  let i = 0;
  while (!conn.closed && Date.now() < deadline) {
    await conn.write(`X-${i++}: y\r\n`);
    await h.sleep(200);
  }
  assert.ok(conn.closed, 'a slow trickle of headers is cut off');
  if (conn.responses.length) assert.equal(conn.responses[0].status, 408);
  conn.destroy();
});

test('a body that stops arriving gets 408 or a close', async () => {
  const conn = await h.RawConn.connect(quick);
  conn.expectHead(false);
  await conn.write('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type":');
  const closed = await conn.waitClosed(15000);
  assert.ok(closed, 'closed');
  if (conn.responses.length) {
    h.assertError({ status: conn.responses[0].status, body: conn.responses[0].json }, 408, 'request_timeout');
  }
  conn.destroy();
});

test('idle keep-alive connections are closed after --idle-timeout', async () => {
  const conn = await h.RawConn.connect(quick);
  const r = await conn.request(GET('/healthz'));
  assert.equal(r.status, 200);
  const closed = await conn.waitClosed(10000);
  assert.ok(closed, 'idle socket closed within 10 s of a 1 s idle timeout');
  assert.equal(conn.responses.length, 0, 'nothing sent on an idle close');

  // A connection that never sends anything is closed too.
  const silent = await h.RawConn.connect(quick);
  assert.ok(await silent.waitClosed(10000), 'silent connection closed');
  silent.destroy();
});

test('a busy keep-alive connection outlives the idle timeout', async () => {
  const conn = await h.RawConn.connect(idle2);
  const t0 = Date.now();
  let n = 0;
  // Requests 250 ms apart for 5 s: never idle for 2 s.
  while (Date.now() - t0 < 5000) {
    const r = await conn.request(GET('/healthz'));
    assert.equal(r.status, 200);
    n++;
    await h.sleep(250);
  }
  assert.ok(n >= 5);
  assert.equal(conn.closed, false, 'still open after 5 s of activity');
  assert.ok(await conn.waitClosed(15000), 'closed once idle');
});

test('1000 concurrent keep-alive connections, several requests each', async () => {
  const N = 1000;
  const q = uid('many');
  const conns = [];
  // Connect in waves so the listen backlog never overflows.
  for (let i = 0; i < N; i += 100) {
    conns.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => h.RawConn.connect(server, { timeoutMs: 30000 }))));
  }
  assert.equal(conns.length, N);
  const failures = [];
  await Promise.all(conns.map(async (c, i) => {
    try {
      const id = `${q}-${i}`;
      let r = await c.request(GET('/healthz'), { timeoutMs: 60000 });
      if (r.status !== 200) throw new Error(`healthz ${r.status}`);
      r = await c.request(h.httpRequest('POST', '/v1/jobs', { id, queue: q, type: 't', args: [i] }), { timeoutMs: 60000 });
      if (r.status !== 201 || r.json.id !== id) throw new Error(`enqueue ${r.status} ${r.text}`);
      r = await c.request(GET(`/v1/jobs/${id}`), { timeoutMs: 60000 });
      if (r.status !== 200 || r.json.args[0] !== i) throw new Error(`get ${r.status} ${r.text}`);
      r = await c.request(GET('/v1/jobs/no-such-job-xyz'), { timeoutMs: 60000 });
      if (r.status !== 404) throw new Error(`404 expected, got ${r.status}`);
      r = await c.request(GET('/healthz'), { timeoutMs: 60000 });
      if (r.status !== 200) throw new Error(`healthz ${r.status}`);
      if (c.closed) throw new Error('closed');
    } catch (e) {
      failures.push(`conn ${i}: ${e.message}`);
    }
  }));
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} connections failed`);
  assert.equal(conns.filter((c) => c.closed).length, 0, 'every connection still open');
  for (const c of conns) c.destroy();
  assert.deepEqual(await h.queueCounts(server, q), { ...h.ZERO_COUNTS, queued: N });
  assert.equal((await h.api(server, 'GET', '/healthz')).status, 200);
});

test('SIGTERM while a long-poll fetch waits: the fetch gets 204 and the server exits 0', async () => {
  const s = await h.startServer();
  const idle = await h.RawConn.connect(s); // an idle keep-alive connection must not hold up the exit
  assert.equal((await idle.request(GET('/healthz'))).status, 200);
  const conn = await h.RawConn.connect(s);
  conn.expectHead(false);
  await conn.write(h.httpRequest('POST', '/v1/fetch', { queues: [uid('term')], wait: '60s', worker: 'w' }));
  await h.sleep(500);
  assert.equal(conn.responses.length, 0, 'still waiting');
  const t0 = Date.now();
  const exited = s.stop();
  const r = await conn.next(30000);
  assert.equal(r.status, 204, `long-poll answered on shutdown: ${r.status} ${r.text}`);
  assert.equal(r.body.length, 0);
  const code = await exited;
  assert.equal(code, 0, `exit code; stderr:\n${s.stderr.slice(-2000)}`);
  assert.ok(Date.now() - t0 < 30000, 'shut down well before the wait ended');
  assert.ok(await conn.waitClosed(5000), 'connection closed');
  assert.ok(await idle.waitClosed(5000), 'idle connection closed');
});
