// LiveSync channels over HTTP: publishing (one channel, several, idempotency),
// history reads, long-polling (since/epoch, ETag/If-None-Match, wait, 304,
// 204, 409), Server-Sent Events on one channel and on several (ids, resume
// from Last-Event-ID or ?last_event_id=, `unrecovered`, the `position` first
// event, headers, keep-alive), history reset, the channel list, presence,
// access control (API key, JWT, channel tokens, anonymous namespaces), job
// events on jobs:{id} and queues:{name}, and a restart after SIGKILL.
//
// SSE is read two ways: with the `eventsource` package (a real client: its
// own reconnects with Last-Event-ID, through a TCP proxy this file can cut
// and hold), and with fetch() and a small WHATWG parser below, for the raw
// format (the retry line, id-only events, comments) that EventSource hides.
// Every wait is bounded; nothing asserts how long anything took.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { EventSource } = require('eventsource');
const h = require('./helpers');

const NAMESPACES = 'chat:presence=true,publish=true,history_size=5,history_ttl=1h,anonymous=true;' +
  'small:history_size=3;nohist:history_size=0;quiet:presence=true';

let server;
before(async () => { server = await h.startServer({ args: ['--namespaces', NAMESPACES] }); });
after(async () => { if (server) assert.equal(await server.stop(), 0); });

let seq = 0;
// A fresh channel name for each use, so tests do not see each other.
const fresh = (prefix = 'c') => `${prefix}${process.pid}-${++seq}`;
const enc = encodeURIComponent;
const EPOCH_RE = /^[A-Za-z0-9]{8}$/;

// ---------------------------------------------------------------------------
// REST helpers

async function publish(s, channel, data, opts = {}) {
  const body = { data };
  if (opts.key !== undefined) body.idempotency_key = opts.key;
  const res = await h.api(s, 'POST', `/v1/channels/${enc(channel)}/messages`, body, opts.headers);
  assert.equal(res.status, 200, `publish ${channel} -> ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.channel, channel);
  assert.match(res.body.epoch, EPOCH_RE);
  assert.equal(typeof res.body.offset, 'number');
  return res.body;
}

async function publishN(s, channel, n, mk = (i) => ({ i })) {
  const out = [];
  for (let i = 1; i <= n; i++) out.push(await publish(s, channel, mk(i)));
  return out;
}

function messagesPath(channel, q = {}) {
  const qs = new URLSearchParams(q).toString();
  return `/v1/channels/${enc(channel)}/messages${qs ? '?' + qs : ''}`;
}

async function history(s, channel, q = {}, headers = {}) {
  return h.api(s, 'GET', messagesPath(channel, q), undefined, headers);
}

async function position(s, channel) {
  const r = await history(s, channel, { limit: 0 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { epoch: r.body.epoch, offset: r.body.offset };
}

function etagOf(res) {
  const e = res.headers.get('etag');
  assert.ok(e, 'ETag header');
  const m = /^"([A-Za-z0-9]*):(\d+)"$/.exec(e);
  assert.ok(m, `ETag form: ${e}`);
  return { raw: e, epoch: m[1], offset: Number(m[2]) };
}

function assertUnrecovered(res, channel, pos, what = '') {
  h.assertError(res, 409, 'unrecoverable_position', undefined, what);
  assert.equal(res.body.channel, channel, what);
  assert.equal(res.body.recovered, false, what);
  assert.equal(res.body.epoch, pos.epoch, what);
  assert.equal(res.body.offset, pos.offset, what);
  assert.equal(etagOf(res).raw, `"${pos.epoch}:${pos.offset}"`, what);
}

// HS256 JWT, as a token issuer would make it.
function b64url(buf) { return Buffer.from(buf).toString('base64url'); }
function sign(claims, secret) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(sig)}`;
}
const nowS = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------
// SSE through fetch, parsed as the WHATWG algorithm does (HTML §9.2.6),
// keeping what EventSource does not show: id-only events, comments, retry.

function parseSse(text) {
  const out = { events: [], comments: [], retry: null, lastId: '' };
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // an unterminated last line is not a line yet
  let data = null; let event = ''; let sawId = false;
  for (const line of lines) {
    if (line === '') {
      if (data !== null) out.events.push({ id: out.lastId, event: event || 'message', data: data.join('\n') });
      else if (sawId) out.events.push({ id: out.lastId, event: null, data: null }); // id only
      data = null; event = ''; sawId = false;
      continue;
    }
    if (line[0] === ':') { out.comments.push(line.slice(1).trim()); continue; }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') (data = data || []).push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') { if (!value.includes('\0')) out.lastId = value; sawId = true; }
    else if (field === 'retry' && /^\d+$/.test(value)) out.retry = Number(value);
  }
  return out;
}

// The id and type of an event (a `position` event's data repeats its id).
const idEvent = (e) => ({ id: e.id, event: e.event });

// Opens an SSE stream with fetch. Resolves once the head is in.
async function openStream(url, headers = {}) {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const st = { res, status: res.status, headers: res.headers, text: '', ended: false };
  if (res.status === 200) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          st.text += dec.decode(value, { stream: true });
        }
      } catch { /* aborted */ }
      st.ended = true;
    })();
  } else {
    st.body = await res.text();
    try { st.json = JSON.parse(st.body); } catch { /* not JSON */ }
  }
  st.parsed = () => parseSse(st.text);
  // Data events (not id-only or position ones), with data parsed as JSON.
  st.events = () => st.parsed().events.filter((e) => e.data !== null && e.event !== 'position')
    .map((e) => ({ ...e, json: JSON.parse(e.data) }));
  st.waitEvents = (n, what = 'events') => h.waitFor(() => st.events().length >= n && st.events(), 10000, 20,
    `${n} ${what}; got ${JSON.stringify(st.text.slice(-500))}`);
  st.close = () => ac.abort();
  return st;
}

// An EventSource that records every message and `unrecovered` event.
// opts.headers: sent on every request (EventSource adds Last-Event-ID).
function listen(url, opts = {}) {
  const got = [];
  const errors = [];
  const init = opts.headers ? { fetch: (u, i) => fetch(u, { ...i, headers: { ...i.headers, ...opts.headers } }) } : undefined;
  const es = new EventSource(url, init);
  es.addEventListener('message', (e) => got.push({ type: 'message', id: e.lastEventId, data: JSON.parse(e.data) }));
  es.addEventListener('unrecovered', (e) => got.push({ type: 'unrecovered', id: e.lastEventId, data: JSON.parse(e.data) }));
  es.addEventListener('error', (e) => errors.push(e));
  const l = { es, got, errors };
  l.messages = () => got.filter((g) => g.type === 'message');
  l.waitFor = (n, what = 'messages') => h.waitFor(() => l.messages().length >= n, 15000, 20,
    `${n} ${what}; have ${JSON.stringify(got)}`);
  l.waitGot = (n) => h.waitFor(() => got.length >= n, 15000, 20, `${n} events; have ${JSON.stringify(got)}`);
  l.close = () => es.close();
  return l;
}

const Proxy = h.TcpProxy;

// ---------------------------------------------------------------------------
// Publishing

describe('publishing', () => {
  test('offsets, epochs and any JSON data, read back in order', async () => {
    const ch = fresh();
    const values = [{ a: 1, b: [true, null] }, 'text with "quotes" and\nnewline', 42, 1.5, null, [1, 'x'], false,
      { unicode: 'żółw ✓ 🐢' }];
    const got = [];
    for (const v of values) got.push(await publish(server, ch, v));
    got.forEach((p, i) => assert.equal(p.offset, i + 1));
    assert.ok(got.every((p) => p.epoch === got[0].epoch), 'one epoch');
    assert.equal(got[0].duplicate, undefined);
    const r = await history(server, ch);
    assert.equal(r.status, 200);
    assert.equal(r.body.epoch, got[0].epoch);
    assert.equal(r.body.offset, values.length);
    assert.equal(r.body.more, false);
    assert.deepEqual(r.body.publications.map((p) => p.offset), values.map((_, i) => i + 1));
    assert.deepEqual(r.body.publications.map((p) => p.data), values);
    for (const p of r.body.publications) h.parseTime(p.time);
    // another channel has offsets of its own
    assert.equal((await publish(server, fresh(), 1)).offset, 1);
  });

  test('channel names: percent-encoded segments, bad names, unknown namespaces', async () => {
    const slash = `${fresh()}/x@y.z-_`;
    const p = await publish(server, slash, 'ok');
    assert.equal(p.channel, slash);
    assert.equal((await history(server, slash)).body.publications[0].data, 'ok');
    const nsd = `chat:${fresh()}`;
    assert.equal((await publish(server, nsd, 1)).channel, nsd);
    for (const bad of ['a%20b', 'a%23b', 'a%3Fb', 'x'.repeat(256), 'caf%C3%A9']) {
      const r = await h.api(server, 'POST', `/v1/channels/${bad}/messages`, { data: 1 });
      h.assertError(r, 400, 'bad_channel', undefined, bad);
      h.assertError(await h.api(server, 'GET', `/v1/channels/${bad}/messages`), 400, 'bad_channel', undefined, bad);
    }
    h.assertError(await h.api(server, 'POST', `/v1/channels/${enc('nons:x')}/messages`, { data: 1 }), 404, 'unknown_channel');
    h.assertError(await history(server, 'nons:x'), 404, 'unknown_channel');
    h.assertError(await h.api(server, 'DELETE', `/v1/channels/${enc('nons:x')}/messages`), 404, 'unknown_channel');
    const st = await openStream(`${server.url}/v1/channels/${enc('nons:x')}/events`);
    assert.equal(st.status, 404);
    assert.equal(st.json.error.code, 'unknown_channel');
  });

  test('bad bodies', async () => {
    const ch = fresh();
    const path = `/v1/channels/${enc(ch)}/messages`;
    h.assertError(await h.api(server, 'POST', path, '{"data":'), 400, 'malformed_json');
    h.assertError(await h.api(server, 'POST', path, {}), 422, 'invalid_field', 'data');
    h.assertError(await h.api(server, 'POST', path, [1]), 422, 'invalid_field');
    h.assertError(await h.api(server, 'POST', path, { data: 1, idempotency_key: 5 }), 422, 'invalid_field', 'idempotency_key');
    h.assertError(await h.api(server, 'POST', path, { data: 1, idempotency_key: '' }), 422, 'invalid_field', 'idempotency_key');
    h.assertError(await h.api(server, 'POST', path, { data: 1, idempotency_key: 'k'.repeat(256) }), 422, 'invalid_field', 'idempotency_key');
    // nothing was published
    assert.equal((await position(server, ch)).offset, 0);
  });

  test('idempotency key: the first result again, nothing published twice', async () => {
    const ch = fresh();
    const first = await publish(server, ch, 'one', { key: 'k-1' });
    assert.equal(first.offset, 1);
    assert.equal(first.duplicate, undefined);
    const again = await publish(server, ch, 'two', { key: 'k-1' });
    assert.equal(again.offset, 1);
    assert.equal(again.epoch, first.epoch);
    assert.equal(again.duplicate, true);
    // concurrent repeats: still one publication
    const many = await Promise.all([1, 2, 3, 4].map(() => publish(server, ch, 'x', { key: 'k-2' })));
    assert.equal(new Set(many.map((m) => m.offset)).size, 1);
    assert.equal(many.filter((m) => !m.duplicate).length, 1);
    // a null key is no key
    await publish(server, ch, 'n', { key: null });
    await publish(server, ch, 'n', { key: null });
    // the same key on another channel is another key
    const other = fresh();
    assert.equal((await publish(server, other, 'o', { key: 'k-1' })).duplicate, undefined);
    const r = await history(server, ch);
    assert.deepEqual(r.body.publications.map((p) => p.data), ['one', 'x', 'n', 'n']);
  });

  test('POST /v1/publish: one message to several channels', async () => {
    const a = fresh('pa'); const b = `chat:${fresh('pb')}`; const c = fresh('pc');
    await publish(server, b, 'earlier');
    let r = await h.api(server, 'POST', '/v1/publish', { channels: [a, b, c], data: { hello: 'all' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.results.map((x) => [x.channel, x.offset]), [[a, 1], [b, 2], [c, 1]]);
    for (const x of r.body.results) assert.match(x.epoch, EPOCH_RE);
    for (const ch of [a, b, c]) {
      const hr = await history(server, ch, { limit: 1, reverse: 'true' });
      assert.deepEqual(hr.body.publications[0].data, { hello: 'all' });
    }
    // with an idempotency key: per channel
    const body = { channels: [a, c], data: 2, idempotency_key: 'multi-1' };
    r = await h.api(server, 'POST', '/v1/publish', body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.results.map((x) => x.offset), [2, 2]);
    r = await h.api(server, 'POST', '/v1/publish', body);
    assert.deepEqual(r.body.results.map((x) => [x.offset, x.duplicate]), [[2, true], [2, true]]);
    // all or nothing: one bad name, one unknown namespace
    r = await h.api(server, 'POST', '/v1/publish', { channels: [a, 'bad name', c], data: 3 });
    assert.ok(r.status === 400 || r.status === 422, `${r.status} ${JSON.stringify(r.body)}`);
    r = await h.api(server, 'POST', '/v1/publish', { channels: [a, 'nons:x'], data: 3 });
    h.assertError(r, 404, 'unknown_channel');
    assert.equal((await position(server, a)).offset, 2);
    assert.equal((await position(server, c)).offset, 2);
    for (const bad of [{ channels: [], data: 1 }, { channels: 'a', data: 1 }, { data: 1 },
      { channels: Array.from({ length: 101 }, (_, i) => `m${i}`), data: 1 }]) {
      h.assertError(await h.api(server, 'POST', '/v1/publish', bad), 422, 'invalid_field', 'channels');
    }
    h.assertError(await h.api(server, 'POST', '/v1/publish', { channels: [a] }), 422, 'invalid_field', 'data');
  });
});

// ---------------------------------------------------------------------------
// History and long-polling

describe('history and long-poll', () => {
  test('history: since, limit, more, reverse, bad parameters', async () => {
    const ch = fresh();
    const pubs = await publishN(server, ch, 12);
    const E = pubs[0].epoch;
    let r = await history(server, ch, { limit: 5 });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
    assert.equal(r.body.more, true);
    assert.equal(r.body.offset, 12);
    assert.equal(etagOf(r).raw, `"${E}:5"`);
    r = await history(server, ch, { since: 5, epoch: E, limit: 4 });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [6, 7, 8, 9]);
    assert.equal(r.body.more, true);
    r = await history(server, ch, { since: 9, epoch: E });
    assert.deepEqual(r.body.publications.map((p) => p.data.i), [10, 11, 12]);
    assert.equal(r.body.more, false);
    assert.equal(etagOf(r).raw, `"${E}:12"`);
    // without epoch: any epoch
    r = await history(server, ch, { since: 11 });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [12]);
    // at the top: nothing, 200
    r = await history(server, ch, { since: 12, epoch: E });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.publications, []);
    assert.equal(etagOf(r).raw, `"${E}:12"`);
    r = await history(server, ch, { reverse: 'true', limit: 3 });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [12, 11, 10]);
    r = await history(server, ch, { reverse: 'true', since: 8, epoch: E });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [12, 11, 10, 9]);
    r = await history(server, ch, { limit: 0 });
    assert.deepEqual(r.body.publications, []);
    assert.equal(r.body.offset, 12);
    // a channel never published: empty, offset 0, an epoch
    r = await history(server, fresh());
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.publications, []);
    assert.equal(r.body.offset, 0);
    assert.match(r.body.epoch, EPOCH_RE);
    for (const [q, field] of [[{ limit: -1 }, 'limit'], [{ limit: 1001 }, 'limit'], [{ limit: 'x' }, 'limit'],
      [{ since: -1 }, 'since'], [{ since: 'abc' }, 'since'], [{ since: 1, wait: 'forever' }, 'wait'],
      [{ since: 1, wait: '10m' }, 'wait'], [{ since: '0'.repeat(40) + '1' }, 'since'], [{ limit: '0'.repeat(40) }, 'limit']]) {
      h.assertError(await history(server, ch, q), 422, 'invalid_field', field, JSON.stringify(q));
    }
  });

  test('long-poll: held until a publication arrives, then every newer one at once', async () => {
    const ch = fresh();
    const [p1] = await publishN(server, ch, 1);
    const E = p1.epoch;
    const waiting = history(server, ch, { since: 1, epoch: E, wait: '30s' });
    // the poll is registered before the publish: the channel shows a subscriber
    await h.waitFor(async () => {
      const l = await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`);
      return l.body.channels.length === 1 && l.body.channels[0].subscribers === 1;
    }, 10000, 20, 'the long-poll to subscribe');
    await publish(server, ch, { i: 2 });
    const r = await waiting;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.publications.map((p) => [p.offset, p.data.i]), [[2, 2]]);
    assert.equal(r.body.epoch, E);
    assert.equal(etagOf(r).raw, `"${E}:2"`);
    // older position with wait: returns at once with all that is newer
    await publishN(server, ch, 3, (i) => ({ i: i + 2 }));
    const r2 = await history(server, ch, { since: 1, epoch: E, wait: '30s' });
    assert.equal(r2.status, 200);
    assert.deepEqual(r2.body.publications.map((p) => p.offset), [2, 3, 4, 5]);
    // ... capped by limit
    const r3 = await history(server, ch, { since: 1, epoch: E, wait: '30s', limit: 2 });
    assert.deepEqual(r3.body.publications.map((p) => p.offset), [2, 3]);
    assert.equal(r3.body.more, true);
    assert.equal(etagOf(r3).raw, `"${E}:3"`);
  });

  test('long-poll woken by a commit of several publications gets them all in one answer', async () => {
    const ch = fresh();
    const [p1] = await publishN(server, ch, 1);
    const E = p1.epoch;
    const waiting = history(server, ch, { since: 1, epoch: E, wait: '30s' });
    await h.waitFor(async () => {
      const l = await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`);
      return l.body.channels.length === 1 && l.body.channels[0].subscribers === 1;
    }, 10000, 20, 'the long-poll to subscribe');
    // one request, one transaction, three publications on the channel
    const res = await h.api(server, 'POST', '/v1/publish', { channels: [ch, ch, ch], data: 'x' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const r = await waiting;
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.publications.map((p) => p.offset), [2, 3, 4]);
    assert.equal(r.body.more, false);
    assert.equal(etagOf(r).raw, `"${E}:4"`);
  });

  test('long-poll: 204 with the same ETag when the wait ends', async () => {
    const ch = fresh();
    const [p] = await publishN(server, ch, 2);
    const r = await history(server, ch, { since: 2, epoch: p.epoch, wait: '300ms' });
    assert.equal(r.status, 204);
    assert.equal(r.body, null);
    assert.equal(etagOf(r).raw, `"${p.epoch}:2"`);
    // a position without an epoch: the ETag names the current one
    const r2 = await history(server, ch, { since: 2, wait: '200ms' });
    assert.equal(r2.status, 204);
    assert.equal(etagOf(r2).raw, `"${p.epoch}:2"`);
  });

  test('ETag / If-None-Match: 304 when nothing is newer, the rest when something is', async () => {
    const ch = fresh();
    await publishN(server, ch, 3);
    const r = await history(server, ch);
    const tag = etagOf(r);
    assert.equal(tag.offset, 3);
    assert.match(r.headers.get('cache-control') || '', /no-store/);
    const nm = await history(server, ch, {}, { 'if-none-match': tag.raw });
    assert.equal(nm.status, 304);
    assert.equal(etagOf(nm).raw, tag.raw);
    await publish(server, ch, { i: 4 });
    const r2 = await history(server, ch, {}, { 'if-none-match': tag.raw });
    assert.equal(r2.status, 200);
    assert.deepEqual(r2.body.publications.map((p) => p.offset), [4]);
    const tag2 = etagOf(r2);
    assert.equal(tag2.offset, 4);
    // If-None-Match with wait holds like since does
    const held = history(server, ch, { wait: '30s' }, { 'if-none-match': tag2.raw });
    await h.waitFor(async () => (await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`)).body.channels[0].subscribers === 1,
      10000, 20, 'the poll to wait');
    await publish(server, ch, { i: 5 });
    const r3 = await held;
    assert.equal(r3.status, 200);
    assert.deepEqual(r3.body.publications.map((p) => p.offset), [5]);
    // a tag of another epoch: 409
    const r4 = await history(server, ch, {}, { 'if-none-match': `"AAAAAAAA:4"` });
    assertUnrecovered(r4, ch, { epoch: tag.epoch, offset: 5 });
  });

  test('long-poll consumer loop while publishing: every message exactly once, in order', async () => {
    const ch = fresh();
    const N = 60;
    const seen = [];
    let pos = await position(server, ch);
    const consumer = (async () => {
      let useEtag = false;
      while (seen.length < N) {
        const r = useEtag
          ? await history(server, ch, { wait: '10s', limit: 7 }, { 'if-none-match': `"${pos.epoch}:${pos.offset}"` })
          : await history(server, ch, { since: pos.offset, epoch: pos.epoch, wait: '10s', limit: 7 });
        assert.ok(r.status === 200 || r.status === 204, `poll -> ${r.status} ${JSON.stringify(r.body)}`);
        if (r.status === 200) for (const p of r.body.publications) seen.push(p.data.i);
        const t = etagOf(r);
        pos = { epoch: t.epoch, offset: t.offset };
        useEtag = !useEtag;
      }
    })();
    for (let i = 1; i <= N; i++) {
      await publish(server, ch, { i });
      if (i % 10 === 0) await h.sleep(20);
    }
    await consumer;
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i + 1));
  });

  test('unrecoverable positions: 409 with the current position', async () => {
    // small: history_size=3
    const ch = `small:${fresh()}`;
    const pubs = await publishN(server, ch, 6);
    const E = pubs[0].epoch;
    const top = { epoch: E, offset: 6 };
    let r = await history(server, ch, { since: 3, epoch: E });
    assert.deepEqual(r.body.publications.map((p) => p.offset), [4, 5, 6]);
    assertUnrecovered(await history(server, ch, { since: 2, epoch: E }), ch, top, 'evicted');
    assertUnrecovered(await history(server, ch, { since: 0, epoch: E, wait: '30s' }), ch, top, 'evicted, wait');
    assertUnrecovered(await history(server, ch, { since: 4, epoch: 'XXXXXXXX' }), ch, top, 'wrong epoch');
    assertUnrecovered(await history(server, ch, { since: 4, epoch: 'way-too-long-epoch' }), ch, top, 'long epoch');
    assertUnrecovered(await history(server, ch, { since: 7, epoch: E }), ch, top, 'ahead');
    assertUnrecovered(await history(server, ch, { since: 700, wait: '30s' }), ch, top, 'ahead, wait');
    // no history at all: only the top is a recoverable position
    const nh = `nohist:${fresh()}`;
    const np = await publishN(server, nh, 2);
    r = await history(server, nh, { since: 2, epoch: np[0].epoch });
    assert.equal(r.status, 200);
    assertUnrecovered(await history(server, nh, { since: 1, epoch: np[0].epoch }), nh, { epoch: np[0].epoch, offset: 2 });
  });

  test('a client that goes away while polling leaves the server well', async () => {
    const ch = fresh();
    const pos = await position(server, ch);
    const acs = [];
    for (let i = 0; i < 5; i++) {
      const ac = new AbortController();
      acs.push(ac);
      fetch(server.url + messagesPath(ch, { since: pos.offset, epoch: pos.epoch, wait: '60s' }), { signal: ac.signal })
        .catch(() => {});
    }
    await h.waitFor(async () => (await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`)).body.channels[0]?.subscribers === 5,
      10000, 20, '5 polls');
    for (const ac of acs) ac.abort();
    await h.waitFor(async () => {
      const l = await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`);
      return l.body.channels.length === 0 || l.body.channels[0].subscribers === 0;
    }, 10000, 20, 'the polls to go');
    await publish(server, ch, 1);
    assert.equal((await history(server, ch)).body.publications.length, 1);
  });
});

// ---------------------------------------------------------------------------
// Reset and the channel list

describe('reset and list', () => {
  test('DELETE messages: new epoch, empty history, offsets go on; old positions are told', async () => {
    const ch = fresh();
    const pubs = await publishN(server, ch, 4);
    const old = pubs[0].epoch;
    const poll = history(server, ch, { since: 4, epoch: old, wait: '30s' });
    const st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`);
    await h.waitFor(async () => (await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`)).body.channels[0].subscribers === 2,
      10000, 20, 'two subscribers');
    const r = await h.api(server, 'DELETE', `/v1/channels/${enc(ch)}/messages`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.channel, ch);
    assert.match(r.body.epoch, EPOCH_RE);
    assert.notEqual(r.body.epoch, old);
    assert.equal(r.body.offset, 4);
    const E = r.body.epoch;
    // the waiting poll: 409 with the new position
    assertUnrecovered(await poll, ch, { epoch: E, offset: 4 }, 'waiting poll');
    // the stream: an unrecovered event, then it goes on
    const evs = await st.waitEvents(1);
    assert.equal(evs[0].event, 'unrecovered');
    assert.deepEqual(evs[0].json, { channel: ch, epoch: E, offset: 4, recovered: false });
    assert.equal(evs[0].id, `${E}:4`);
    const hr = await history(server, ch);
    assert.deepEqual(hr.body.publications, []);
    assert.equal(hr.body.epoch, E);
    assert.equal(hr.body.offset, 4);
    assertUnrecovered(await history(server, ch, { since: 2, epoch: old }), ch, { epoch: E, offset: 4 });
    assertUnrecovered(await history(server, ch, { since: 4, epoch: old }), ch, { epoch: E, offset: 4 });
    const p5 = await publish(server, ch, 'after');
    assert.equal(p5.offset, 5);
    assert.equal(p5.epoch, E);
    const evs2 = await st.waitEvents(2);
    assert.equal(evs2[1].event, 'message');
    assert.equal(evs2[1].json, 'after');
    assert.equal(evs2[1].id, `${E}:5`);
    st.close();
    const r2 = await history(server, ch, { since: 4, epoch: E });
    assert.deepEqual(r2.body.publications.map((p) => p.data), ['after']);
  });

  test('GET /v1/channels: channels with history or subscribers, counts, prefix', async () => {
    const pre = fresh('list');
    const a = `${pre}-a`; const b = `${pre}-b`; const idle = `${pre}-idle`;
    await publishN(server, a, 2);
    await position(server, idle); // exists now, but neither history nor subscribers
    const s1 = await openStream(`${server.url}/v1/channels/${enc(b)}/events`);
    const s2 = await openStream(`${server.url}/v1/events?channel=${enc(b)}&channel=${enc(a)}`);
    const l1 = listen(`${server.url}/v1/channels/${enc(b)}/events`);
    await h.waitFor(async () => {
      const r = await h.api(server, 'GET', `/v1/channels?prefix=${enc(pre)}`);
      const m = Object.fromEntries(r.body.channels.map((c) => [c.name, c]));
      return m[b] && m[b].subscribers === 3 && m[a] && m[a].subscribers === 1;
    }, 10000, 20, 'subscriber counts');
    const r = await h.api(server, 'GET', `/v1/channels?prefix=${enc(pre)}`);
    assert.deepEqual(r.body.channels.map((c) => c.name), [a, b]);
    const ca = r.body.channels[0];
    assert.equal(ca.offset, 2);
    assert.equal(ca.history, 2);
    assert.match(ca.epoch, EPOCH_RE);
    assert.equal(r.body.channels[1].offset, 0);
    s1.close(); s2.close(); l1.close();
    await h.waitFor(async () => {
      const rr = await h.api(server, 'GET', `/v1/channels?prefix=${enc(pre)}`);
      return rr.body.channels.length === 1 && rr.body.channels[0].name === a && rr.body.channels[0].subscribers === 0;
    }, 10000, 20, 'streams to leave');
    const all = await h.api(server, 'GET', '/v1/channels');
    assert.ok(all.body.channels.some((c) => c.name === a));
  });
});

// ---------------------------------------------------------------------------
// Server-Sent Events

describe('SSE', () => {
  let keepalive; // a quiet stream opened early, checked at the end for a keep-alive comment

  test('head, retry, the first position event, then publications as data', async () => {
    const ch = fresh();
    const pubs = await publishN(server, ch, 2);
    const E = pubs[0].epoch;
    keepalive = await openStream(`${server.url}/v1/channels/${enc(fresh('quiet'))}/events`);
    const st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`);
    assert.equal(st.status, 200);
    assert.match(st.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(st.headers.get('cache-control'), 'no-cache');
    assert.equal(st.headers.get('x-accel-buffering'), 'no');
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'first event');
    assert.ok(st.text.startsWith('retry: 2000\n\n'), JSON.stringify(st.text));
    let p = st.parsed();
    assert.equal(p.retry, 2000);
    assert.deepEqual(p.events[0], { id: `${E}:2`, event: 'position',
      data: JSON.stringify({ channels: [{ channel: ch, epoch: E, offset: 2 }] }) });
    // no replay without a position: history stays out of a fresh stream
    await publish(server, ch, { hello: 'sse' });
    await publish(server, ch, 'two');
    const evs = await st.waitEvents(2);
    assert.deepEqual(evs.map((e) => [e.event, e.id, e.json]), [
      ['message', `${E}:3`, { hello: 'sse' }], ['message', `${E}:4`, 'two']]);
    p = st.parsed();
    assert.equal(p.lastId, `${E}:4`);
    st.close();
    // the same through EventSource
    const l = listen(`${server.url}/v1/channels/${enc(ch)}/events`);
    await h.waitFor(() => l.es.readyState === EventSource.OPEN, 10000, 20, 'open');
    await publish(server, ch, [5]);
    await l.waitFor(1);
    assert.deepEqual(l.got, [{ type: 'message', id: `${E}:5`, data: [5] }]);
    l.close();
  });

  test('HEAD: the head only', async () => {
    const conn = await h.RawConn.connect(server);
    await conn.write(`HEAD /v1/channels/${fresh()}/events HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.ok(await conn.waitClosed(5000) || /\r\n\r\n$/.test(conn.received.toString('latin1')));
    const text = conn.received.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /content-type: text\/event-stream/i);
    assert.ok(text.endsWith('\r\n\r\n'), JSON.stringify(text));
    conn.destroy();
  });

  test('resume with ?last_event_id and Last-Event-ID: the missed ones exactly once, the header wins', async () => {
    const ch = fresh();
    const pubs = await publishN(server, ch, 6);
    const E = pubs[0].epoch;
    let st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(`${E}:3`)}`);
    let evs = await st.waitEvents(3);
    assert.deepEqual(evs.map((e) => [e.id, e.json.i]), [[`${E}:4`, 4], [`${E}:5`, 5], [`${E}:6`, 6]]);
    // the position event after the replay names the same position
    await h.waitFor(() => st.parsed().events.length >= 4, 10000, 20, 'id-only event');
    assert.deepEqual(idEvent(st.parsed().events[3]), { id: `${E}:6`, event: 'position' });
    await publish(server, ch, { i: 7 });
    evs = await st.waitEvents(4);
    assert.equal(evs[3].id, `${E}:7`);
    st.close();
    // header and query: the header wins
    st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(`${E}:1`)}`,
      { 'last-event-id': `${E}:5` });
    evs = await st.waitEvents(2);
    await h.sleep(100);
    assert.deepEqual(st.events().map((e) => e.json.i), [6, 7]);
    st.close();
    // at the top: nothing replayed
    st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`, { 'last-event-id': `${E}:7` });
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'id-only');
    assert.deepEqual(st.parsed().events.map(idEvent), [{ id: `${E}:7`, event: 'position' }]);
    st.close();
    // an empty epoch matches any; the ids then name the real one
    st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`, { 'last-event-id': ':6' });
    await h.waitFor(() => st.parsed().events.length >= 2, 10000, 20, 'replay and id-only');
    assert.deepEqual(st.parsed().events.map((e) => e.id), [`${E}:7`, `${E}:7`]);
    st.close();
    st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`, { 'last-event-id': ':7' });
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'id-only');
    assert.deepEqual(st.parsed().events.map(idEvent), [{ id: `${E}:7`, event: 'position' }]);
    st.close();
    // EventSource with ?last_event_id (it cannot set headers on its first request)
    const l = listen(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(`${E}:4`)}`);
    await l.waitFor(3);
    assert.deepEqual(l.messages().map((m) => [m.id, m.data.i]), [[`${E}:5`, 5], [`${E}:6`, 6], [`${E}:7`, 7]]);
    l.close();
  });

  test('reconnect loop while publishing: every message exactly once, in order', async () => {
    const ch = fresh();
    const N = 80;
    const seen = [];
    let last = null;
    const publisher = (async () => {
      for (let i = 1; i <= N; i++) {
        await publish(server, ch, { i });
        if (i % 8 === 0) await h.sleep(15);
      }
    })();
    const start = await position(server, ch);
    last = `${start.epoch}:${start.offset}`;
    // each round: a new EventSource resuming from the last id seen, closed
    // after a few messages (or a short while)
    for (let round = 0; seen.length < N && round < 500; round++) {
      const l = listen(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(last)}`);
      const want = seen.length + 1 + (round % 5);
      const t0 = Date.now();
      await h.waitFor(() => seen.length + l.messages().length >= Math.min(want, N) || Date.now() - t0 > 300, 10000, 10);
      l.close();
      for (const m of l.got) {
        assert.equal(m.type, 'message', JSON.stringify(m));
        seen.push(m.data.i);
        last = m.id;
      }
    }
    await publisher;
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i + 1));
  });

  test('unrecoverable positions: an unrecovered event with the current position, then live', async () => {
    const ch = `small:${fresh()}`;
    const pubs = await publishN(server, ch, 5);
    const E = pubs[0].epoch;
    for (const [what, id] of [['evicted', `${E}:1`], ['wrong epoch', 'ZZZZZZZZ:4'], ['ahead', `${E}:9`]]) {
      const st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(id)}`);
      const evs = await st.waitEvents(1, what);
      assert.equal(evs[0].event, 'unrecovered', what);
      assert.deepEqual(evs[0].json, { channel: ch, epoch: E, offset: 5, recovered: false }, what);
      assert.equal(evs[0].id, `${E}:5`, what);
      st.close();
    }
    // through EventSource: the id it keeps is the current position, and it
    // gets what follows
    const l = listen(`${server.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(`${E}:1`)}`);
    await l.waitGot(1);
    assert.equal(l.got[0].type, 'unrecovered');
    assert.equal(l.got[0].id, `${E}:5`);
    await publish(server, ch, { i: 6 });
    await l.waitFor(1);
    assert.deepEqual(l.got.map((g) => g.type), ['unrecovered', 'message']);
    assert.equal(l.got[1].id, `${E}:6`);
    l.close();
    // a garbled id is a position the server cannot use: said so, not ignored
    const st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`, { 'last-event-id': 'garbage' });
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'first event');
    const first = st.parsed().events[0];
    assert.ok(first.event === 'unrecovered' || (first.event === 'position' && first.id === `${E}:6`),
      `garbled id -> ${JSON.stringify(first)}`);
    st.close();
  });

  test('several channels on one stream: compound ids, {channel,epoch,offset,data,time}, resume', async () => {
    const a = fresh('ma'); const b = `chat:${fresh('mb')}`;
    const pa = await publishN(server, a, 3);
    const pb = await publishN(server, b, 2);
    const Ea = pa[0].epoch; const Eb = pb[0].epoch;
    const url = `${server.url}/v1/events?channel=${enc(a)}&channel=${enc(b)}`;
    let st = await openStream(url);
    assert.equal(st.status, 200);
    assert.equal(st.headers.get('x-accel-buffering'), 'no');
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'first event');
    assert.deepEqual(st.parsed().events[0], { id: `${a}=${Ea}:3,${b}=${Eb}:2`, event: 'position',
      data: JSON.stringify({ channels: [{ channel: a, epoch: Ea, offset: 3 }, { channel: b, epoch: Eb, offset: 2 }] }) });
    await publish(server, b, 'b3');
    await publish(server, a, 'a4');
    let evs = await st.waitEvents(2);
    assert.equal(evs[0].id, `${a}=${Ea}:3,${b}=${Eb}:3`);
    assert.equal(evs[0].json.channel, b);
    assert.equal(evs[0].json.epoch, Eb);
    assert.equal(evs[0].json.offset, 3);
    assert.equal(evs[0].json.data, 'b3');
    h.parseTime(evs[0].json.time);
    assert.equal(evs[1].id, `${a}=${Ea}:4,${b}=${Eb}:3`);
    assert.deepEqual([evs[1].json.channel, evs[1].json.offset, evs[1].json.data], [a, 4, 'a4']);
    st.close();
    // resume with the compound id: both gaps, each exactly once
    await publish(server, a, 'a5');
    await publish(server, b, 'b4');
    st = await openStream(url, { 'last-event-id': `${a}=${Ea}:3,${b}=${Eb}:2` });
    evs = await st.waitEvents(4);
    await h.sleep(100);
    const got = st.events().map((e) => `${e.json.channel === a ? 'a' : 'b'}${e.json.offset}`);
    assert.deepEqual(got.filter((x) => x[0] === 'a'), ['a4', 'a5']);
    assert.deepEqual(got.filter((x) => x[0] === 'b'), ['b3', 'b4']);
    assert.equal(got.length, 4);
    assert.equal(st.parsed().lastId, `${a}=${Ea}:5,${b}=${Eb}:4`);
    st.close();
    // one channel named in the id: the other starts at its current position
    st = await openStream(`${url}&last_event_id=${enc(`${a}=${Ea}:4`)}`);
    evs = await st.waitEvents(1);
    await h.waitFor(() => st.parsed().events.length >= 2, 10000, 20, 'id-only');
    assert.deepEqual(st.events().map((e) => [e.json.channel, e.json.offset]), [[a, 5]]);
    // every id on the stream names a real position for every channel
    for (const e of st.parsed().events) {
      assert.match(e.id, new RegExp(`^${a}=${Ea}:\\d+,${b.replace(/[:]/g, '\\:')}=${Eb}:4$`), JSON.stringify(e));
    }
    st.close();
    // a duplicated channel counts once
    st = await openStream(`${url}&channel=${enc(a)}`);
    await h.waitFor(() => st.parsed().events.length >= 1, 10000, 20, 'first event');
    assert.equal(st.parsed().events[0].id, `${a}=${Ea}:5,${b}=${Eb}:4`);
    st.close();
  });

  test('several channels: one unrecoverable, the other recovered', async () => {
    const a = `small:${fresh('ua')}`; const b = fresh('ub');
    const pa = await publishN(server, a, 6);
    const pb = await publishN(server, b, 3);
    const Ea = pa[0].epoch; const Eb = pb[0].epoch;
    const st = await openStream(`${server.url}/v1/events?channel=${enc(a)}&channel=${enc(b)}`,
      { 'last-event-id': `${a}=${Ea}:1,${b}=${Eb}:1` });
    const evs = await st.waitEvents(3);
    await h.sleep(100);
    const all = st.events();
    assert.equal(all.length, 3, JSON.stringify(all));
    const un = all.find((e) => e.event === 'unrecovered');
    assert.deepEqual(un.json, { channel: a, epoch: Ea, offset: 6, recovered: false });
    assert.match(un.id, new RegExp(`^${a.replace(':', '\\:')}=${Ea}:6,`));
    assert.deepEqual(all.filter((e) => e.event === 'message').map((e) => [e.json.channel, e.json.offset]), [[b, 2], [b, 3]]);
    assert.equal(st.parsed().lastId, `${a}=${Ea}:6,${b}=${Eb}:3`);
    assert.ok(evs);
    st.close();
  });

  test('several channels: bad requests', async () => {
    const one = async (q) => {
      const st = await openStream(`${server.url}/v1/events${q}`);
      assert.notEqual(st.status, 200, q);
      return st;
    };
    let st = await one('');
    assert.equal(st.status, 422);
    assert.equal(st.json.error.code, 'invalid_field');
    st = await one('?channel=');
    assert.equal(st.status, 422);
    st = await one(`?channel=a&channel=${enc('bad name')}`);
    assert.equal(st.status, 400);
    assert.equal(st.json.error.code, 'bad_channel');
    st = await one(`?channel=a&channel=${enc('nons:x')}`);
    assert.equal(st.status, 404);
    st = await one('?' + Array.from({ length: 17 }, (_, i) => `channel=x${i}`).join('&'));
    assert.equal(st.status, 422);
    const ok = await openStream(`${server.url}/v1/events?` + Array.from({ length: 16 }, (_, i) => `channel=x${process.pid}-${i}`).join('&'));
    assert.equal(ok.status, 200);
    ok.close();
  });

  test('EventSource reconnects by itself with Last-Event-ID (through a proxy that drops it)', async () => {
    const ch = fresh();
    const [p1] = await publishN(server, ch, 1);
    const E = p1.epoch;
    const proxy = await new Proxy(() => server).listen();
    try {
      // the stale query position stays in the URL on every reconnect: the
      // header EventSource adds must win over it
      const l = listen(`${proxy.url}/v1/channels/${enc(ch)}/events?last_event_id=${enc(`${E}:0`)}`);
      await publish(server, ch, { i: 2 });
      await publish(server, ch, { i: 3 });
      await l.waitFor(3);
      proxy.pause();
      proxy.dropAll();
      for (let i = 4; i <= 6; i++) await publish(server, ch, { i });
      proxy.resume();
      await l.waitFor(6);
      await publish(server, ch, { i: 7 });
      await l.waitFor(7);
      assert.deepEqual(l.messages().map((m) => [m.id, m.data.i]), [1, 2, 3, 4, 5, 6, 7].map((i) => [`${E}:${i}`, i]));
      assert.ok(proxy.requests.length >= 2, 'reconnected');
      assert.match(proxy.requests[proxy.requests.length - 1], new RegExp(`\r\nlast-event-id: ${E}:3\r\n`, 'i'));
      l.close();
    } finally {
      await proxy.close();
    }
  });

  test('a keep-alive comment on a quiet stream (within 15 s)', async () => {
    assert.ok(keepalive, 'opened by the first SSE test');
    await h.waitFor(() => keepalive.parsed().comments.length > 0, 25000, 100, 'a keep-alive comment');
    assert.deepEqual(keepalive.parsed().comments.slice(0, 1), ['keep-alive']);
    keepalive.close();
  });
});

// ---------------------------------------------------------------------------
// Presence

describe('presence', () => {
  test('presence and presence_stats; SSE and long-poll subscribers are not in it', async () => {
    const ch = `quiet:${fresh()}`;
    const st = await openStream(`${server.url}/v1/channels/${enc(ch)}/events`);
    const poll = history(server, ch, { since: 0, wait: '30s' });
    await h.waitFor(async () => (await h.api(server, 'GET', `/v1/channels?prefix=${enc(ch)}`)).body.channels[0]?.subscribers === 2,
      10000, 20, 'two subscribers');
    let r = await h.api(server, 'GET', `/v1/channels/${enc(ch)}/presence`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { clients: {} });
    r = await h.api(server, 'GET', `/v1/channels/${enc(ch)}/presence_stats`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { num_clients: 0, num_users: 0 });
    await publish(server, ch, 'end');
    assert.equal((await poll).status, 200);
    st.close();
    // presence off: 409; bad names and namespaces as everywhere
    h.assertError(await h.api(server, 'GET', `/v1/channels/${fresh()}/presence`), 409, 'presence_off');
    h.assertError(await h.api(server, 'GET', `/v1/channels/${fresh()}/presence_stats`), 409, 'presence_off');
    h.assertError(await h.api(server, 'GET', `/v1/channels/${enc('nons:x')}/presence`), 404, 'unknown_channel');
    h.assertError(await h.api(server, 'GET', '/v1/channels/a%20b/presence'), 400, 'bad_channel');
  });

  test('a WebSocket (Centrifugo) subscriber is in presence while subscribed', async () => {
    const { Centrifuge } = require('centrifuge');
    const WebSocket = require('ws');
    const ch = `quiet:${fresh()}`;
    const c = new Centrifuge(server.url.replace(/^http/, 'ws') + '/connection/websocket', { websocket: WebSocket });
    try {
      const sub = c.newSubscription(ch);
      const subscribed = new Promise((resolve, reject) => {
        sub.on('subscribed', resolve);
        sub.on('error', (e) => reject(new Error(JSON.stringify(e))));
      });
      sub.subscribe();
      c.connect();
      await Promise.race([subscribed, h.sleep(10000).then(() => { throw new Error('not subscribed'); })]);
      const r = await h.api(server, 'GET', `/v1/channels/${enc(ch)}/presence`);
      assert.equal(r.status, 200);
      const ids = Object.keys(r.body.clients);
      assert.equal(ids.length, 1, JSON.stringify(r.body));
      assert.equal(r.body.clients[ids[0]].client, ids[0]);
      assert.equal(r.body.clients[ids[0]].user, '');
      const s = await h.api(server, 'GET', `/v1/channels/${enc(ch)}/presence_stats`);
      assert.deepEqual(s.body, { num_clients: 1, num_users: 1 });
      sub.unsubscribe();
      await h.waitFor(async () => Object.keys((await h.api(server, 'GET', `/v1/channels/${enc(ch)}/presence`)).body.clients).length === 0,
        10000, 20, 'presence to empty');
    } finally {
      c.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------
// Job events

describe('job events', () => {
  test('subscribe first, then enqueue, fetch, progress, ack: state events in order', async () => {
    const q = fresh('jq');
    const id = fresh('job');
    const jobCh = `jobs:${id}`; const qCh = `queues:${q}`;
    const l = listen(`${server.url}/v1/events?channel=${enc(jobCh)}&channel=${enc(qCh)}`);
    const one = listen(`${server.url}/v1/channels/${enc(jobCh)}/events`);
    await h.waitFor(async () => {
      const r = await h.api(server, 'GET', '/v1/channels?prefix=jobs%3A');
      return r.body.channels.some((c) => c.name === jobCh && c.subscribers === 2);
    }, 10000, 20, 'watchers');
    await h.enqueue(server, { id, queue: q, type: 't', args: [1] });
    const [job] = await h.fetchJobs(server, { queues: [q], worker: 'w1' });
    assert.equal(job.id, id);
    let r = await h.api(server, 'POST', `/v1/jobs/${id}/progress`, { worker: 'w1', percent: 50, message: 'half' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r = await h.api(server, 'POST', `/v1/jobs/${id}/ack`, { worker: 'w1', result: { ok: true } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await l.waitFor(7, 'job events');
    await h.sleep(100);
    const onJob = l.messages().map((m) => m.data).filter((d) => d.channel === jobCh);
    const onQueue = l.messages().map((m) => m.data).filter((d) => d.channel === qCh);
    assert.deepEqual(onJob.map((d) => d.data.type === 'state' ? d.data.state : d.data.type),
      ['queued', 'active', 'progress', 'completed']);
    assert.deepEqual(onJob.map((d) => d.offset), [1, 2, 3, 4]);
    const done = onJob[3].data;
    assert.equal(done.id, id);
    assert.equal(done.queue, q);
    assert.deepEqual(done.result, { ok: true });
    assert.equal(onJob[2].data.id, id);
    assert.equal(onJob[2].data.progress.percent, 50);
    assert.deepEqual(onQueue.map((d) => d.data.state), ['queued', 'active', 'completed']);
    assert.ok(onQueue.every((d) => d.data.id === id && d.data.type === 'state' && !('result' in d.data)),
      JSON.stringify(onQueue));
    // the one-channel stream has the job's events as they are
    await one.waitFor(4);
    assert.deepEqual(one.messages().map((m) => m.data.state || m.data.type), ['queued', 'active', 'progress', 'completed']);
    l.close(); one.close();
    // they are history for a while: a late reader gets them from the start
    const hr = await history(server, jobCh);
    assert.deepEqual(hr.body.publications.map((p) => p.data.state || p.data.type), ['queued', 'active', 'progress', 'completed']);
  });

  test('jobs nobody watches publish nothing', async () => {
    const q = fresh('jn');
    const job = await h.enqueue(server, { queue: q, type: 't', args: [] });
    await h.fetchJobs(server, { queues: [q], worker: 'w' });
    await h.api(server, 'POST', `/v1/jobs/${job.id}/ack`, { worker: 'w' });
    const r = await h.api(server, 'GET', '/v1/channels?prefix=jobs%3A');
    assert.ok(!r.body.channels.some((c) => c.name === `jobs:${job.id}`), JSON.stringify(r.body));
    const r2 = await h.api(server, 'GET', '/v1/channels?prefix=queues%3A');
    assert.ok(!r2.body.channels.some((c) => c.name === `queues:${q}`), JSON.stringify(r2.body));
  });
});

// ---------------------------------------------------------------------------
// Restart

describe('restart', () => {
  test('SIGKILL: history, epoch, offsets and idempotency keys survive; a reset epoch too', async () => {
    const s = await h.startServer({ args: ['--namespaces', NAMESPACES] });
    let s2; let s3;
    try {
      const ch = fresh('rk'); const rch = fresh('rr');
      const pubs = await publishN(s, ch, 4);
      const k = await publish(s, ch, { i: 5 }, { key: 'restart-key' });
      const E = pubs[0].epoch;
      await publishN(s, rch, 3);
      const reset = await h.api(s, 'DELETE', `/v1/channels/${enc(rch)}/messages`);
      await publish(s, rch, 'after-reset');
      await s.kill();
      s2 = await h.startServer({ dataDir: s.dataDir, args: ['--namespaces', NAMESPACES] });
      let r = await history(s2, ch);
      assert.equal(r.body.epoch, E);
      assert.equal(r.body.offset, 5);
      assert.deepEqual(r.body.publications.map((p) => p.data.i), [1, 2, 3, 4, 5]);
      r = await history(s2, ch, { since: 3, epoch: E });
      assert.deepEqual(r.body.publications.map((p) => p.offset), [4, 5]);
      const again = await publish(s2, ch, { i: 'dup' }, { key: 'restart-key' });
      assert.deepEqual([again.offset, again.epoch, again.duplicate], [k.offset, E, true]);
      const p6 = await publish(s2, ch, { i: 6 });
      assert.deepEqual([p6.offset, p6.epoch], [6, E]);
      r = await history(s2, rch);
      assert.equal(r.body.epoch, reset.body.epoch);
      assert.equal(r.body.offset, 4);
      assert.deepEqual(r.body.publications.map((p) => [p.offset, p.data]), [[4, 'after-reset']]);
      assert.equal((await s2.stop()), 0);
      // a clean stop keeps it all the same
      s3 = await h.startServer({ dataDir: s.dataDir, args: ['--namespaces', NAMESPACES] });
      r = await history(s3, ch, { since: 5, epoch: E });
      assert.deepEqual(r.body.publications.map((p) => p.data.i), [6]);
    } finally {
      await s.stop();
      if (s2) await s2.stop();
      if (s3) assert.equal(await s3.stop(), 0);
    }
  });

  test('EventSource through a server SIGKILL and restart: resumes in the same epoch, nothing lost or doubled', async () => {
    let s = await h.startServer({ args: ['--namespaces', NAMESPACES] });
    const first = s;
    const proxy = await new Proxy(() => s).listen();
    try {
      const ch = fresh('ek');
      const l = listen(`${proxy.url}/v1/channels/${enc(ch)}/events`);
      await h.waitFor(() => l.es.readyState === EventSource.OPEN, 10000, 20, 'open');
      const pubs = [];
      for (let i = 1; i <= 3; i++) pubs.push(await publish(s, ch, { i }));
      const E = pubs[0].epoch;
      await l.waitFor(3);
      proxy.pause();
      await s.kill();
      proxy.dropAll();
      s = await h.startServer({ dataDir: first.dataDir, args: ['--namespaces', NAMESPACES] });
      for (let i = 4; i <= 6; i++) {
        const p = await publish(s, ch, { i });
        assert.deepEqual([p.epoch, p.offset], [E, i]);
      }
      proxy.resume();
      await l.waitFor(6);
      await publish(s, ch, { i: 7 });
      await l.waitFor(7);
      assert.deepEqual(l.messages().map((m) => [m.id, m.data.i]), [1, 2, 3, 4, 5, 6, 7].map((i) => [`${E}:${i}`, i]));
      assert.match(proxy.requests[proxy.requests.length - 1], new RegExp(`\r\nlast-event-id: ${E}:3\r\n`, 'i'));
      assert.ok(!l.got.some((g) => g.type === 'unrecovered'));
      l.close();
    } finally {
      await proxy.close();
      await first.stop();
      if (s !== first) assert.equal(await s.stop(), 0);
    }
  });
  test('SIGTERM with streams and polls open: they end, the server exits 0', async () => {
    const s = await h.startServer({ args: ['--namespaces', NAMESPACES] });
    try {
      const ch = fresh('term');
      await publish(s, ch, 1);
      const one = await openStream(`${s.url}/v1/channels/${enc(ch)}/events`);
      const multi = await openStream(`${s.url}/v1/events?channel=${enc(ch)}&channel=${enc(`chat:${ch}`)}`);
      const l = listen(`${s.url}/v1/channels/${enc(ch)}/events`);
      const poll = history(s, ch, { since: 1, wait: '60s' });
      await h.waitFor(async () => (await h.api(s, 'GET', `/v1/channels?prefix=${enc(ch)}`)).body.channels[0]?.subscribers === 4,
        10000, 20, 'four subscribers');
      l.close();
      assert.equal(await s.stop(), 0);
      const r = await poll;
      assert.equal(r.status, 204);
      await h.waitFor(() => one.ended && multi.ended, 10000, 20, 'streams to end');
    } finally {
      await s.stop();
    }
  });
});

// ---------------------------------------------------------------------------
// Access control

describe('auth', () => {
  const KEY = 'test-api-key-' + process.pid;
  const SECRET = 'jwt-secret-' + process.pid;
  let s;
  before(async () => {
    s = await h.startServer({
      args: ['--api-key', KEY, '--jwt-secret', SECRET,
        '--namespaces', 'pub:anonymous=true;priv:subscribe=false;pres:presence=true'],
    });
  });
  after(async () => { if (s) assert.equal(await s.stop(), 0); });
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  const admin = () => bearer(KEY);

  test('publishing, reset, list and multi-publish need the API key', async () => {
    const ch = fresh();
    const path = `/v1/channels/${enc(ch)}/messages`;
    const user = sign({ sub: 'u1' }, SECRET);
    for (const headers of [{}, bearer('wrong'), bearer(user), { authorization: KEY }, { authorization: `Basic ${KEY}` }]) {
      const what = JSON.stringify(headers);
      h.assertError(await h.api(s, 'POST', path, { data: 1 }, headers), 401, 'unauthorized', undefined, what);
      h.assertError(await h.api(s, 'POST', '/v1/publish', { channels: [ch], data: 1 }, headers), 401, 'unauthorized', undefined, what);
      h.assertError(await h.api(s, 'DELETE', path, undefined, headers), 401, 'unauthorized', undefined, what);
      h.assertError(await h.api(s, 'GET', '/v1/channels', undefined, headers), 401, 'unauthorized', undefined, what);
    }
    const r401 = await h.api(s, 'POST', path, { data: 1 });
    assert.match(r401.headers.get('www-authenticate') || '', /^Bearer/);
    // the key in the query string does not count for writes
    h.assertError(await h.api(s, 'POST', `${path}?token=${KEY}`, { data: 1 }), 401, 'unauthorized');
    const p = await publish(s, ch, 'ok', { headers: admin() });
    assert.equal(p.offset, 1);
    let r = await h.api(s, 'POST', '/v1/publish', { channels: [ch], data: 2 }, admin());
    assert.equal(r.status, 200);
    r = await h.api(s, 'GET', '/v1/channels', undefined, admin());
    assert.equal(r.status, 200);
    assert.ok(r.body.channels.some((c) => c.name === ch));
    r = await h.api(s, 'DELETE', path, undefined, admin());
    assert.equal(r.status, 200);
    // nothing got through without the key
    assert.equal(r.body.offset, 2);
  });

  test('reading: API key, JWT (header or ?token=), anonymous namespaces', async () => {
    const ch = fresh();
    await publish(s, ch, 'x', { headers: admin() });
    const path = messagesPath(ch);
    const user = sign({ sub: 'u1', exp: nowS() + 600 }, SECRET);
    // anonymous in a namespace that does not admit anonymous clients
    h.assertError(await h.api(s, 'GET', path), 403, 'permission_denied');
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({ sub: '' }, SECRET))), 403, 'permission_denied', undefined, 'empty sub');
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({}, SECRET))), 403, 'permission_denied', undefined, 'no sub');
    for (const headers of [admin(), bearer(user)]) {
      const r = await h.api(s, 'GET', path, undefined, headers);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.publications[0].data, 'x');
    }
    for (const token of [KEY, user]) {
      const r = await h.api(s, 'GET', messagesPath(ch, { token }));
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // long-poll with a token
    const r = await h.api(s, 'GET', messagesPath(ch, { since: 1, wait: '200ms', token: user }));
    assert.equal(r.status, 204);
    // anonymous=true: no credential needed
    const pubCh = `pub:${fresh()}`;
    await publish(s, pubCh, 'open', { headers: admin() });
    const ra = await history(s, pubCh);
    assert.equal(ra.status, 200);
    assert.equal(ra.body.publications[0].data, 'open');
    const sa = await openStream(`${s.url}/v1/channels/${enc(pubCh)}/events`);
    assert.equal(sa.status, 200);
    sa.close();
  });

  test('bad and expired tokens: 401; unknown namespace 404; bad name 400', async () => {
    const ch = fresh();
    const path = messagesPath(ch);
    const expired = sign({ sub: 'u1', exp: nowS() - 10 }, SECRET);
    let r = await h.api(s, 'GET', path, undefined, bearer(expired));
    h.assertError(r, 401, 'token_expired');
    h.assertError(await h.api(s, 'GET', messagesPath(ch, { token: expired })), 401, 'token_expired');
    // even in a namespace open to anonymous clients, a bad token is refused
    h.assertError(await h.api(s, 'GET', messagesPath(`pub:${fresh()}`, { token: expired })), 401, 'token_expired');
    for (const bad of [sign({ sub: 'u1' }, 'other-secret'), 'garbage', 'a.b.c', sign({ sub: 5 }, SECRET)]) {
      h.assertError(await h.api(s, 'GET', path, undefined, bearer(bad)), 401, 'unauthorized', undefined, bad);
    }
    const st = await openStream(`${s.url}/v1/channels/${enc(ch)}/events?token=${enc(expired)}`);
    assert.equal(st.status, 401);
    assert.equal(st.json.error.code, 'token_expired');
    const user = sign({ sub: 'u1' }, SECRET);
    h.assertError(await h.api(s, 'GET', messagesPath('nons:x', { token: user })), 404, 'unknown_channel');
    h.assertError(await h.api(s, 'GET', `/v1/channels/a%20b/messages?token=${enc(user)}`), 400, 'bad_channel');
    const st2 = await openStream(`${s.url}/v1/events?channel=${enc('nons:x')}&token=${enc(user)}`);
    assert.equal(st2.status, 404);
  });

  test('subscribe=false: only a channel token for that channel', async () => {
    const ch = `priv:${fresh()}`;
    await publish(s, ch, 'secret', { headers: admin() });
    const path = messagesPath(ch);
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({ sub: 'u1' }, SECRET))), 403, 'permission_denied');
    h.assertError(await h.api(s, 'GET', path), 403, 'permission_denied');
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({ sub: 'u1', channel: `${ch}x` }, SECRET))),
      403, 'permission_denied');
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({ sub: 'u1', channel: `priv:other` }, SECRET))),
      403, 'permission_denied');
    const grant = sign({ sub: 'u1', channel: ch, exp: nowS() + 600 }, SECRET);
    let r = await h.api(s, 'GET', path, undefined, bearer(grant));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.publications[0].data, 'secret');
    r = await h.api(s, 'GET', messagesPath(ch, { token: grant }));
    assert.equal(r.status, 200);
    assert.equal((await h.api(s, 'GET', path, undefined, admin())).status, 200);
    // a channel token for another channel of a normal namespace is still a user's token
    const other = fresh();
    r = await h.api(s, 'GET', messagesPath(other), undefined, bearer(sign({ sub: 'u1', channel: ch }, SECRET)));
    assert.equal(r.status, 200);
    // an expired channel token
    h.assertError(await h.api(s, 'GET', path, undefined, bearer(sign({ sub: 'u1', channel: ch, exp: nowS() - 1 }, SECRET))),
      401, 'token_expired');
  });

  test('SSE: ?token= with EventSource; a refused stream is not retried; several channels all checked', async () => {
    const ch = fresh();
    const user = sign({ sub: 'u1' }, SECRET);
    const l = listen(`${s.url}/v1/channels/${enc(ch)}/events?token=${enc(user)}`);
    await h.waitFor(() => l.es.readyState === EventSource.OPEN, 10000, 20, 'open');
    await publish(s, ch, { hi: 1 }, { headers: admin() });
    await l.waitFor(1);
    assert.deepEqual(l.messages()[0].data, { hi: 1 });
    l.close();
    // the same with the token in a header
    const lh = listen(`${s.url}/v1/channels/${enc(ch)}/events`, { headers: bearer(user) });
    await h.waitFor(() => lh.es.readyState === EventSource.OPEN, 10000, 20, 'open');
    lh.close();
    const denied = listen(`${s.url}/v1/channels/${enc(ch)}/events`);
    await h.waitFor(() => denied.es.readyState === EventSource.CLOSED, 10000, 20, 'refused');
    assert.equal(denied.errors[0].code, 403);
    denied.close();
    const expired = listen(`${s.url}/v1/channels/${enc(ch)}/events?token=${enc(sign({ sub: 'u1', exp: nowS() - 5 }, SECRET))}`);
    await h.waitFor(() => expired.es.readyState === EventSource.CLOSED, 10000, 20, 'refused');
    assert.equal(expired.errors[0].code, 401);
    // several channels: one forbidden refuses the stream
    const priv = `priv:${fresh()}`;
    let st = await openStream(`${s.url}/v1/events?channel=${enc(ch)}&channel=${enc(priv)}&token=${enc(user)}`);
    assert.equal(st.status, 403);
    assert.equal(st.json.error.code, 'permission_denied');
    st = await openStream(`${s.url}/v1/events?channel=${enc(ch)}&channel=${enc(`pub:${fresh()}`)}&token=${enc(user)}`);
    assert.equal(st.status, 200);
    st.close();
  });

  test('presence needs a reader too', async () => {
    const ch = `pres:${fresh()}`;
    h.assertError(await h.api(s, 'GET', `/v1/channels/${enc(ch)}/presence`), 403, 'permission_denied');
    h.assertError(await h.api(s, 'GET', `/v1/channels/${enc(ch)}/presence_stats`), 403, 'permission_denied');
    const user = sign({ sub: 'u1' }, SECRET);
    let r = await h.api(s, 'GET', `/v1/channels/${enc(ch)}/presence`, undefined, bearer(user));
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { clients: {} });
    r = await h.api(s, 'GET', `/v1/channels/${enc(ch)}/presence_stats?token=${enc(user)}`);
    assert.deepEqual(r.body, { num_clients: 0, num_users: 0 });
    h.assertError(await h.api(s, 'GET', `/v1/channels/${enc(ch)}/presence`, undefined, bearer(sign({ sub: 'u', exp: nowS() - 3 }, SECRET))),
      401, 'token_expired');
  });
});
