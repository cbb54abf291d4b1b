// The official Centrifugo JavaScript SDK (`centrifuge`) against synq's
// WebSocket endpoint: connecting with JWTs, subscribing and receiving
// publications made over REST; forced disconnects (SIGTERM with 3001,
// SIGKILL, a dropped connection) after which the SDK reconnects by itself and
// recovers exactly the missed publications, or is told it cannot (outside
// history, history reset); presence, presence stats and join/leave, with
// clean and dirty (TCP reset) departures; history calls; client publishing;
// channel tokens for namespaces closed to plain subscribers; and connection
// token refresh past the first token's expiry (and past the server's first
// ping, some 25 s in: the slowest test here).
//
// Clients reach the server through a TCP proxy where a test needs to hold
// reconnects (publish while the client is away) or cut connections. Every
// wait is bounded; nothing asserts how long anything took.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { Centrifuge } = require('centrifuge');
const h = require('./helpers');

const SECRET = 'cf-secret-' + process.pid;
const KEY = 'cf-key-' + process.pid;
const AUTH = { authorization: `Bearer ${KEY}` };
const NAMESPACES = 'chat:presence=true,join_leave=true,publish=true;' +
  'small:history_size=2;priv:subscribe=false';
const ARGS = ['--jwt-secret', SECRET, '--api-key', KEY, '--namespaces', NAMESPACES];

let server;
before(async () => { server = await h.startServer({ args: ARGS }); });
after(async () => { if (server) assert.equal(await server.stop(), 0); });

let seq = 0;
const fresh = (prefix = 'cf') => `${prefix}${process.pid}-${++seq}`;
const enc = encodeURIComponent;
const wsUrl = (url) => url.replace(/^http/, 'ws') + '/connection/websocket';

// HS256 JWT, as a token issuer would make it.
function sign(claims, secret = SECRET) {
  const b64 = (x) => Buffer.from(x).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64(sig)}`;
}
const nowS = () => Math.floor(Date.now() / 1000);

async function publish(s, channel, data) {
  const res = await h.api(s, 'POST', `/v1/channels/${enc(channel)}/messages`, { data }, AUTH);
  assert.equal(res.status, 200, `publish ${channel} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

const Proxy = h.TcpProxy;

// A `ws` WebSocket that also counts the server's pings ("{}" messages) in
// client.pings, for the SDK's `websocket` option.
function spyWebSocket(client) {
  return class extends WebSocket {
    constructor(...args) {
      super(...args);
      this.on('message', (d, binary) => {
        if (!binary) client.pings += d.toString().split('\n').filter((l) => l === '{}').length;
      });
    }
  };
}

// An SDK client for `user` (a connection token from getToken; tokens[] keeps
// what it handed out), recording its events in .log.
function newClient(url, { user = 'u1', info, exp, ...opts } = {}) {
  const tokens = [];
  const getToken = async () => {
    const claims = { sub: user };
    if (info !== undefined) claims.info = info;
    if (exp !== undefined) claims.exp = nowS() + exp;
    const t = sign(claims);
    tokens.push({ at: Date.now(), claims });
    return t;
  };
  const spy = { pings: 0 };
  const c = new Centrifuge(wsUrl(url), {
    websocket: spyWebSocket(spy), getToken, minReconnectDelay: 100, maxReconnectDelay: 500, timeout: 5000, ...opts,
  });
  c.tokens = tokens;
  Object.defineProperty(c, 'pings', { get: () => spy.pings });
  c.log = [];
  for (const ev of ['connecting', 'connected', 'disconnected', 'error']) c.on(ev, (ctx) => c.log.push({ ev, ctx }));
  c.events = (ev) => c.log.filter((e) => e.ev === ev).map((e) => e.ctx);
  return c;
}

// A subscription recording publications (.pubs) and events (.log).
function track(sub) {
  sub.pubs = [];
  sub.log = [];
  sub.on('publication', (ctx) => sub.pubs.push(ctx));
  for (const ev of ['subscribing', 'subscribed', 'unsubscribed', 'error', 'join', 'leave']) {
    sub.on(ev, (ctx) => sub.log.push({ ev, ctx }));
  }
  sub.events = (ev) => sub.log.filter((e) => e.ev === ev).map((e) => e.ctx);
  return sub;
}

function subscribe(c, channel, opts = {}) {
  const sub = track(c.newSubscription(channel, opts));
  sub.subscribe();
  return sub;
}

const until = (fn, what, timeoutMs = 15000) => h.waitFor(fn, timeoutMs, 25, what);
const offsets = (sub) => sub.pubs.map((p) => p.offset);
// The n-th 'subscribed' context (1-based), once it happened.
const subscribedCtx = (sub, n, what = `subscribed #${n}`) => until(() => sub.events('subscribed')[n - 1], what);

// Rejects with the SDK's error object; returns it.
async function rejection(p, what) {
  try { await p; } catch (e) { return e; }
  assert.fail(`${what}: expected an error`);
}

// ---------------------------------------------------------------------------

describe('connecting and receiving', () => {
  test('connects with a token, subscribes, receives publications made over REST', async () => {
    const ch = fresh();
    const c = newClient(server.url, { user: 'alice' });
    try {
      c.connect();
      const conn = await until(() => c.events('connected')[0], 'connected');
      assert.match(conn.client, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(conn.transport, 'websocket');
      assert.equal(c.tokens.length, 1, 'getToken gave the connection token');
      const sub = subscribe(c, ch, { recoverable: true });
      const ctx = await subscribedCtx(sub, 1);
      assert.equal(ctx.channel, ch);
      assert.equal(ctx.recoverable, true);
      assert.equal(ctx.wasRecovering, false);
      assert.equal(ctx.streamPosition.offset, 0);
      const values = [{ n: 1 }, 'two', [3], { nested: { ok: true } }, 'x'.repeat(3000)];
      const positions = [];
      for (const v of values) positions.push(await publish(server, ch, v));
      await until(() => sub.pubs.length === values.length, 'publications');
      assert.deepEqual(sub.pubs.map((p) => p.data), values);
      assert.deepEqual(offsets(sub), [1, 2, 3, 4, 5]);
      assert.ok(positions.every((p) => p.epoch === ctx.streamPosition.epoch), 'one epoch');
      assert.ok(sub.pubs.every((p) => p.channel === ch && p.info === undefined), 'REST publications carry no client info');
      assert.deepEqual(sub.events('error'), []);
      assert.deepEqual(c.events('error'), []);
    } finally { c.disconnect(); }
  });

  test('unknown namespace (102) and anonymous-unfriendly defaults (103) end the subscription', async () => {
    const c = newClient(server.url);
    try {
      c.connect();
      const bad = subscribe(c, `nope:${fresh()}`);
      const u = await until(() => bad.events('unsubscribed')[0], 'unsubscribed');
      assert.equal(u.code, 102);
      const anon = newClient(server.url, { getToken: null });
      try {
        anon.connect();
        await until(() => anon.events('connected')[0], 'anonymous connected');
        const s2 = subscribe(anon, fresh());
        assert.equal((await until(() => s2.events('unsubscribed')[0], 'unsubscribed')).code, 103);
      } finally { anon.disconnect(); }
    } finally { c.disconnect(); }
  });
});

describe('forced disconnects and recovery', () => {
  test('SIGTERM (3001) and SIGKILL: the SDK reconnects and recovers exactly the missed publications', async () => {
    let cur = await h.startServer({ args: ARGS });
    const dataDir = cur.dataDir;
    const proxy = await new Proxy(() => cur).listen();
    const ch = fresh('restart');
    const c = newClient(proxy.url);
    try {
      c.connect();
      const sub = subscribe(c, ch, { recoverable: true });
      const first = await subscribedCtx(sub, 1);
      const epoch = first.streamPosition.epoch;
      await publish(cur, ch, { n: 1 });
      await publish(cur, ch, { n: 2 });
      await until(() => sub.pubs.length === 2, 'two live publications');

      // SIGTERM: clients are told 3001 and reconnect; new connections are held
      proxy.pause();
      assert.equal(await cur.stop(), 0, 'clean exit');
      await until(() => c.events('connecting').some((e) => e.code === 3001), '3001 shutdown');
      cur = await h.startServer({ args: ARGS, dataDir });
      for (let n = 3; n <= 5; n++) {
        const p = await publish(cur, ch, { n });
        assert.equal(p.epoch, epoch, 'the epoch survives a restart');
        assert.equal(p.offset, n, 'offsets continue');
      }
      proxy.resume();
      const second = await subscribedCtx(sub, 2);
      assert.equal(second.wasRecovering, true);
      assert.equal(second.recovered, true);
      assert.equal(second.streamPosition.epoch, epoch);
      await until(() => sub.pubs.length >= 5, 'recovered publications');
      await publish(cur, ch, { n: 6 });
      await until(() => sub.pubs.length >= 6, 'a live one after recovery');
      assert.deepEqual(offsets(sub), [1, 2, 3, 4, 5, 6], 'each once, in order');
      assert.deepEqual(sub.pubs.map((p) => p.data.n), [1, 2, 3, 4, 5, 6]);

      // SIGKILL: no goodbye; history and epoch survive kill -9 all the same
      const connecting = c.events('connecting').length;
      proxy.pause();
      await cur.kill();
      await until(() => c.events('connecting').length > connecting, 'reconnecting after kill -9');
      cur = await h.startServer({ args: ARGS, dataDir });
      for (let n = 7; n <= 9; n++) assert.equal((await publish(cur, ch, { n })).epoch, epoch);
      proxy.resume();
      const third = await subscribedCtx(sub, 3);
      assert.equal(third.wasRecovering, true);
      assert.equal(third.recovered, true);
      assert.equal(third.streamPosition.epoch, epoch);
      await until(() => sub.pubs.length >= 9, 'recovered after kill -9');
      await publish(cur, ch, { n: 10 });
      await until(() => sub.pubs.length >= 10, 'live after kill -9');
      assert.deepEqual(offsets(sub), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(c.events('connected').length, 3);
      assert.deepEqual(sub.events('error'), []);
    } finally {
      c.disconnect();
      await proxy.close();
      assert.equal(await cur.stop(), 0);
    }
  });

  test('a dropped connection within history: recovered:true, the gap exactly once', async () => {
    const proxy = await new Proxy(() => server).listen();
    const ch = fresh('drop');
    const c = newClient(proxy.url);
    try {
      c.connect();
      const sub = subscribe(c, ch, { recoverable: true });
      await subscribedCtx(sub, 1);
      await publish(server, ch, 'a');
      await until(() => sub.pubs.length === 1, 'first');
      proxy.pause();
      proxy.dropAll();
      await until(() => c.events('connecting').length >= 2, 'reconnecting');
      await publish(server, ch, 'b');
      await publish(server, ch, 'c');
      proxy.resume();
      const ctx = await subscribedCtx(sub, 2);
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true);
      assert.equal(ctx.hasRecoveredPublications, true);
      await until(() => sub.pubs.length >= 3, 'recovered');
      await publish(server, ch, 'd');
      await until(() => sub.pubs.length >= 4, 'live');
      assert.deepEqual(sub.pubs.map((p) => p.data), ['a', 'b', 'c', 'd']);
      assert.deepEqual(offsets(sub), [1, 2, 3, 4]);
    } finally { c.disconnect(); await proxy.close(); }
  });

  test('outside history (history_size=2, 5 missed): recovered:false and nothing replayed', async () => {
    const proxy = await new Proxy(() => server).listen();
    const ch = `small:${fresh()}`;
    const c = newClient(proxy.url);
    try {
      c.connect();
      const sub = subscribe(c, ch, { recoverable: true });
      const first = await subscribedCtx(sub, 1);
      assert.equal(first.recoverable, true);
      await publish(server, ch, 1);
      await until(() => sub.pubs.length === 1, 'first');
      proxy.pause();
      proxy.dropAll();
      await until(() => c.events('connecting').length >= 2, 'reconnecting');
      for (let i = 2; i <= 6; i++) await publish(server, ch, i);
      proxy.resume();
      const ctx = await subscribedCtx(sub, 2);
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, false);
      assert.equal(ctx.hasRecoveredPublications, false);
      assert.equal(ctx.streamPosition.offset, 6, 'told the current position');
      assert.equal(ctx.streamPosition.epoch, first.streamPosition.epoch);
      await publish(server, ch, 7);
      await until(() => sub.pubs.length >= 2, 'live');
      assert.deepEqual(offsets(sub), [1, 7], 'the lost ones are not replayed in part');
    } finally { c.disconnect(); await proxy.close(); }
  });

  test('a history reset: the SDK resubscribes (2500) and reports recovered:false', async () => {
    const ch = fresh('reset');
    const c = newClient(server.url);
    try {
      c.connect();
      const sub = subscribe(c, ch, { recoverable: true });
      const first = await subscribedCtx(sub, 1);
      await publish(server, ch, 'old-1');
      await publish(server, ch, 'old-2');
      await until(() => sub.pubs.length === 2, 'before the reset');
      const res = await h.api(server, 'DELETE', `/v1/channels/${enc(ch)}/messages`, undefined, AUTH);
      assert.equal(res.status, 200, `reset -> ${res.status} ${JSON.stringify(res.body)}`);
      const ctx = await subscribedCtx(sub, 2);
      assert.ok(sub.events('subscribing').some((e) => e.code === 2500), JSON.stringify(sub.events('subscribing')));
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, false);
      assert.notEqual(ctx.streamPosition.epoch, first.streamPosition.epoch, 'a new epoch');
      assert.equal(ctx.streamPosition.epoch, res.body.epoch);
      assert.equal(ctx.streamPosition.offset, 2, 'offsets go on after a reset');
      const p = await publish(server, ch, 'new-1');
      assert.equal(p.epoch, ctx.streamPosition.epoch);
      await until(() => sub.pubs.length === 3, 'after the reset');
      assert.deepEqual(sub.pubs.map((x) => x.data), ['old-1', 'old-2', 'new-1']);
      assert.equal(sub.pubs[2].offset, 3);
      assert.equal(c.events('connected').length, 1, 'the connection stayed');
    } finally { c.disconnect(); }
  });
});

describe('presence and join/leave', () => {
  test('presence, presence_stats, join and leave of a second user, clean and by TCP reset', async () => {
    const ch = `chat:${fresh('room')}`;
    const alice = newClient(server.url, { user: 'alice', info: { name: 'Alice' } });
    const bob = newClient(server.url, { user: 'bob' });
    const proxy = await new Proxy(() => server).listen();
    const bob2 = newClient(proxy.url, { user: 'bob', info: { name: 'Bob again' } });
    try {
      alice.connect();
      const sa = subscribe(alice, ch, { joinLeave: true });
      await subscribedCtx(sa, 1);
      const aliceId = alice.events('connected')[0].client;
      let pr = await sa.presence();
      assert.deepEqual(Object.keys(pr.clients), [aliceId]);
      assert.equal(pr.clients[aliceId].user, 'alice');
      assert.deepEqual(pr.clients[aliceId].connInfo, { name: 'Alice' });

      bob.connect();
      const sb = subscribe(bob, ch);
      await subscribedCtx(sb, 1);
      const bobId = bob.events('connected')[0].client;
      const join = await until(() => sa.events('join').find((j) => j.info.user === 'bob'), 'join of bob');
      assert.equal(join.channel, ch);
      assert.equal(join.info.client, bobId);
      pr = await sa.presence();
      assert.deepEqual(Object.keys(pr.clients).sort(), [aliceId, bobId].sort());
      assert.equal(pr.clients[bobId].user, 'bob');
      assert.deepEqual(await sa.presenceStats(), { numClients: 2, numUsers: 2 });
      // bob asked for no join/leave: none came to him
      assert.deepEqual(sb.events('join'), []);
      // bob may ask too
      assert.equal(Object.keys((await sb.presence()).clients).length, 2);

      // clean close: gone at once
      bob.disconnect();
      const leave = await until(() => sa.events('leave').find((l) => l.info.client === bobId), 'leave of bob');
      assert.equal(leave.info.user, 'bob');
      pr = await sa.presence();
      assert.deepEqual(Object.keys(pr.clients), [aliceId], 'bob left at once');
      assert.deepEqual(await sa.presenceStats(), { numClients: 1, numUsers: 1 });

      // dirty: bob again, through the proxy, then his TCP connection is reset
      bob2.connect();
      const sb2 = subscribe(bob2, ch);
      await subscribedCtx(sb2, 1);
      const bob2Id = bob2.events('connected')[0].client;
      const join2 = await until(() => sa.events('join').find((j) => j.info.client === bob2Id), 'join of bob again');
      assert.deepEqual(join2.info.connInfo, { name: 'Bob again' });
      assert.deepEqual(await sa.presenceStats(), { numClients: 2, numUsers: 2 });
      proxy.pause(); // no reconnect for bob
      proxy.resetAll();
      await until(() => sa.events('leave').find((l) => l.info.client === bob2Id), 'leave after a reset');
      pr = await sa.presence();
      assert.deepEqual(Object.keys(pr.clients), [aliceId], 'the reset connection is gone from presence');
      assert.deepEqual(sa.events('error'), []);
    } finally {
      alice.disconnect(); bob.disconnect(); bob2.disconnect();
      await proxy.close();
    }
  });

  test('presence where the namespace keeps none: 108', async () => {
    const c = newClient(server.url);
    try {
      c.connect();
      const sub = subscribe(c, fresh('nopresence'));
      await subscribedCtx(sub, 1);
      assert.equal((await rejection(sub.presence(), 'presence')).code, 108);
      assert.equal((await rejection(sub.presenceStats(), 'presence_stats')).code, 108);
    } finally { c.disconnect(); }
  });
});

describe('history, publishing, channel tokens', () => {
  test('sub.history({limit, since, reverse})', async () => {
    const ch = fresh('hist');
    const c = newClient(server.url);
    try {
      c.connect();
      const sub = subscribe(c, ch);
      await subscribedCtx(sub, 1);
      let epoch;
      for (let i = 1; i <= 5; i++) epoch = (await publish(server, ch, { i })).epoch;
      let r = await sub.history({ limit: 3 });
      assert.deepEqual(r.publications.map((p) => p.offset), [1, 2, 3]);
      assert.deepEqual(r.publications.map((p) => p.data), [{ i: 1 }, { i: 2 }, { i: 3 }]);
      assert.equal(r.epoch, epoch);
      assert.equal(r.offset, 5, 'the current position');
      r = await sub.history({ limit: 2, reverse: true });
      assert.deepEqual(r.publications.map((p) => p.offset), [5, 4]);
      r = await sub.history({ limit: 10, since: { offset: 2, epoch } });
      assert.deepEqual(r.publications.map((p) => p.offset), [3, 4, 5]);
      r = await sub.history({ limit: 10, since: { offset: 5, epoch } });
      assert.deepEqual(r.publications, []);
      assert.equal(r.offset, 5);
      r = await sub.history({ limit: 100 });
      assert.equal(r.publications.length, 5);
      const e = await rejection(sub.history({ limit: 10, since: { offset: 2, epoch: 'notthat1' } }), 'wrong epoch');
      assert.equal(e.code, 112);
      // from the client too, without a subscription
      r = await c.history(ch, { limit: 1, reverse: true });
      assert.deepEqual(r.publications.map((p) => p.data), [{ i: 5 }]);
    } finally { c.disconnect(); }
  });

  test('client publish where the namespace allows it; 103 where it does not', async () => {
    const ch = `chat:${fresh('pub')}`;
    const a = newClient(server.url, { user: 'alice', info: { role: 'writer' } });
    const b = newClient(server.url, { user: 'bob' });
    try {
      a.connect(); b.connect();
      const sa = subscribe(a, ch);
      const sb = subscribe(b, ch);
      await subscribedCtx(sa, 1); await subscribedCtx(sb, 1);
      const aId = a.events('connected')[0].client;
      await sa.publish({ text: 'hi' });
      await sb.publish('from bob');
      await until(() => sa.pubs.length === 2 && sb.pubs.length === 2, 'both publications at both');
      for (const s of [sa, sb]) {
        assert.deepEqual(s.pubs.map((p) => p.data), [{ text: 'hi' }, 'from bob']);
        assert.deepEqual(offsets(s), [1, 2]);
        assert.equal(s.pubs[0].info.user, 'alice');
        assert.equal(s.pubs[0].info.client, aId);
        assert.deepEqual(s.pubs[0].info.connInfo, { role: 'writer' });
        assert.equal(s.pubs[1].info.user, 'bob');
      }
      // they are in history like any other
      const r = await h.api(server, 'GET', `/v1/channels/${enc(ch)}/messages`, undefined, AUTH);
      assert.deepEqual(r.body.publications.map((p) => p.data), [{ text: 'hi' }, 'from bob']);
      // publish=false in the default namespace
      const plain = fresh('nopub');
      const sp = subscribe(a, plain);
      await subscribedCtx(sp, 1);
      assert.equal((await rejection(sp.publish({ x: 1 }), 'publish=false')).code, 103);
      // publish=true, but not subscribed
      assert.equal((await rejection(a.publish(`chat:${fresh()}`, { x: 1 }), 'not subscribed')).code, 103);
      assert.equal((await h.api(server, 'GET', `/v1/channels/${enc(plain)}/messages`, undefined, AUTH)).body.publications.length, 0);
    } finally { a.disconnect(); b.disconnect(); }
  });

  test('a channel token (getToken on the subscription) for a namespace with subscribe=false', async () => {
    const ch = `priv:${fresh('doc')}`;
    const c = newClient(server.url, { user: 'u7' });
    try {
      c.connect();
      // without a token: permission denied, for good
      const none = subscribe(c, ch);
      assert.equal((await until(() => none.events('unsubscribed')[0], 'denied')).code, 103);
      c.removeSubscription(none);
      // a token for another channel, or another user: denied
      for (const claims of [{ sub: 'u7', channel: `${ch}x` }, { sub: 'someone-else', channel: ch }]) {
        const wrong = subscribe(c, ch, { getToken: async () => sign(claims) });
        assert.equal((await until(() => wrong.events('unsubscribed')[0], 'denied')).code, 103, JSON.stringify(claims));
        c.removeSubscription(wrong);
      }
      // the right one
      const asked = [];
      const sub = subscribe(c, ch, {
        getToken: async (ctx) => { asked.push(ctx.channel); return sign({ sub: 'u7', channel: ctx.channel, exp: nowS() + 600 }); },
      });
      const ctx = await subscribedCtx(sub, 1);
      assert.deepEqual(asked, [ch]);
      assert.equal(ctx.channel, ch);
      await publish(server, ch, 'secret');
      await until(() => sub.pubs.length === 1, 'publication');
      assert.equal(sub.pubs[0].data, 'secret');

      // a short-lived channel token is refreshed (sub_refresh) and the subscription stays
      const ch2 = `priv:${fresh('doc')}`;
      const asked2 = [];
      const short = subscribe(c, ch2, {
        getToken: async (x) => { asked2.push(nowS()); return sign({ sub: 'u7', channel: x.channel, exp: nowS() + 3 }); },
      });
      await subscribedCtx(short, 1);
      await until(() => asked2.length >= 3, 'two channel token refreshes', 20000);
      assert.equal(short.events('subscribed').length, 1, 'not resubscribed');
      assert.deepEqual(short.events('subscribing').length, 1);
      assert.deepEqual(short.events('error'), []);
      await publish(server, ch2, 'still');
      await until(() => short.pubs.length === 1, 'publication after the refreshes');
    } finally { c.disconnect(); }
  });

  test('connection token refresh: the connection outlives the first token', async () => {
    const ch = fresh('refresh');
    const c = newClient(server.url, { user: 'short', exp: 3 });
    try {
      c.connect();
      const sub = subscribe(c, ch);
      await subscribedCtx(sub, 1);
      const firstExp = c.tokens[0].claims.exp;
      // past the first token's exp, and the second's
      await until(() => nowS() >= firstExp + 4, 'time passing', 20000);
      assert.ok(c.tokens.length >= 3, `getToken asked again (${c.tokens.length} tokens)`);
      // the server looks at expiry when its timer runs, which is at its pings
      // (every 25 s): go on past one, and two token lifetimes more
      await until(() => c.pings >= 1, 'a server ping', 40000);
      const t = nowS();
      await until(() => nowS() >= t + 7, 'time passing', 20000);
      assert.equal(c.events('connected').length, 1, 'never reconnected');
      assert.deepEqual(c.events('disconnected'), []);
      assert.equal(c.events('connecting').length, 1, JSON.stringify(c.events('connecting')));
      await publish(server, ch, 'still here');
      await until(() => sub.pubs.length === 1, 'publication after the refreshes');
      assert.equal(c.state, 'connected');
    } finally { c.disconnect(); }
  });
});
