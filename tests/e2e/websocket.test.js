// WebSocket conformance (RFC 6455, RFC 7692) and the Centrifugo JSON
// protocol's framing on /connection/websocket: the opening handshake and its
// refusals (400, 426, 403 for an Origin outside --ws-origins), close codes
// for protocol errors (1002), invalid UTF-8 (1007) and messages over
// --ws-max-message, before and after inflating (1009), fragmentation with
// control frames in between, ping/pong, permessage-deflate next to plain
// clients receiving the same publications, several commands in one message,
// and the protocol-level refusals (3501 before connect, 3500 for a bad
// token, error 109 for an expired one).
//
// Two clients: the `ws` package (a real client, with and without
// permessage-deflate) and a raw one over node:net below, for what `ws` will
// not send (unmasked frames, bad UTF-8, reserved opcodes) or hides (RSV1,
// the frames themselves). Every wait is bounded; nothing asserts how long
// anything took.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const zlib = require('node:zlib');
const WebSocket = require('ws');
const h = require('./helpers');

const WS_PATH = '/connection/websocket';
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const ORIGINS = 'https://good.example,https://also.example';
const MAX = 1024; // --ws-max-message 1k

let server;
before(async () => {
  server = await h.startServer({ args: ['--ws-max-message', '1k', '--ws-origins', ORIGINS] });
});
after(async () => { if (server) assert.equal(await server.stop(), 0); });

let seq = 0;
const fresh = (prefix = 'ws') => `${prefix}${process.pid}-${++seq}`;
const wsUrl = (s, p = WS_PATH) => s.url.replace(/^http/, 'ws') + p;

// HS256 JWT, as a token issuer would make it.
function sign(claims, secret) {
  const b64 = (x) => Buffer.from(x).toString('base64url');
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64(sig)}`;
}
const nowS = () => Math.floor(Date.now() / 1000);

async function publish(s, channel, data, headers = {}) {
  const res = await h.api(s, 'POST', `/v1/channels/${encodeURIComponent(channel)}/messages`, { data }, headers);
  assert.equal(res.status, 200, `publish ${channel} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// A queue of received items; take() waits for the first one matching pred.
class Inbox {
  constructor() { this.items = []; this.waiters = []; this.ended = false; }
  push(x) {
    for (const w of this.waiters) {
      if (w.pred(x)) { this.waiters.splice(this.waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(x); return; }
    }
    this.items.push(x);
  }
  end() { this.ended = true; for (const w of this.waiters.splice(0)) { clearTimeout(w.timer); w.resolve(null); } }
  // Resolves with the item, or null when the source ended first; rejects on timeout.
  take(pred = () => true, timeoutMs = 10000, what = 'item') {
    const i = this.items.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out waiting for ${what}; have ${JSON.stringify(this.items).slice(0, 600)}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

// ---------------------------------------------------------------------------
// A raw WebSocket client over node:net: writes the handshake itself, sends
// any frame (masked or not), and keeps every server frame as it came.

function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv1 = false, rsv2 = false, mask = true } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len <= 0xffff) head.push(m | 126, len >> 8, len & 0xff);
  else { head.push(m | 127, 0, 0, 0, 0); const b = Buffer.alloc(4); b.writeUInt32BE(len); head.push(...b); }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 };

class RawWs {
  // Opens a TCP connection and sends a handshake. Resolves with the client
  // whatever the answer; .status and .headers hold it. opts.headers replace
  // or (with value null) remove the default handshake headers.
  static async open(s, { path = WS_PATH, headers = {}, method = 'GET' } = {}) {
    const { host, port } = h.hostPort(s);
    const sock = net.connect({ host, port });
    sock.setNoDelay(true);
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const ws = new RawWs(sock, method === 'HEAD');
    ws.key = crypto.randomBytes(16).toString('base64');
    const hdrs = {
      Host: `${host}:${port}`, Upgrade: 'websocket', Connection: 'Upgrade',
      'Sec-WebSocket-Key': ws.key, 'Sec-WebSocket-Version': '13', ...headers,
    };
    let req = `${method} ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(hdrs)) if (v !== null) req += `${k}: ${v}\r\n`;
    sock.write(req + '\r\n');
    await ws.headDone;
    return ws;
  }

  // Opens and asserts 101 with the right Sec-WebSocket-Accept.
  static async connect(s, opts = {}) {
    const ws = await RawWs.open(s, opts);
    assert.equal(ws.status, 101, `handshake -> ${ws.status} ${ws.body}`);
    const accept = crypto.createHash('sha1').update(ws.key + GUID).digest('base64');
    assert.equal(ws.headers['sec-websocket-accept'], accept, 'Sec-WebSocket-Accept');
    assert.match(ws.headers.upgrade, /^websocket$/i);
    assert.match(ws.headers.connection, /upgrade/i);
    return ws;
  }

  constructor(sock, head = false) {
    this.sock = sock;
    this.isHead = head;
    this.buf = Buffer.alloc(0);
    this.head = null;
    this.frames = new Inbox();
    this.violations = [];
    this.closed = new Promise((resolve) => sock.on('close', resolve));
    sock.on('close', () => this.frames.end());
    sock.on('error', () => {});
    this.headDone = new Promise((resolve, reject) => {
      this._headResolve = resolve;
      sock.once('close', () => reject(new Error('closed before the handshake answer: ' + this.buf.toString('latin1'))));
    });
    sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this._parse(); });
  }

  _parse() {
    if (!this.head) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      this.buf = this.buf.subarray(end + 4);
      this.status = Number(lines[0].split(' ')[1]);
      this.headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        this.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      this.head = lines;
      if (this.status !== 101) {
        // an HTTP error: wait for the body (Content-Length)
        const n = this.isHead ? 0 : Number(this.headers['content-length'] || 0);
        const tryBody = () => {
          if (this.buf.length < n) return false;
          this.body = this.buf.subarray(0, n).toString('utf8');
          try { this.json = JSON.parse(this.body); } catch { this.json = undefined; }
          this._headResolve();
          return true;
        };
        if (!tryBody()) this.sock.on('data', tryBody);
        return;
      }
      this._headResolve();
    }
    if (this.status !== 101) return;
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0]; const b1 = this.buf[1];
      let len = b1 & 0x7f; let off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (b1 & 0x80) this.violations.push('server frame masked'); // §5.1
      if (b1 & 0x80) off += 4;
      if (this.buf.length < off + len) return;
      const f = { fin: !!(b0 & 0x80), rsv1: !!(b0 & 0x40), opcode: b0 & 0x0f, payload: Buffer.from(this.buf.subarray(off, off + len)) };
      this.buf = this.buf.subarray(off + len);
      this.frames.push(f);
    }
  }

  write(b) { if (!this.sock.destroyed) this.sock.write(b); }
  send(opcode, payload, opts) { this.write(frame(opcode, payload, opts)); }
  sendText(s, opts) { this.send(OP.TEXT, Buffer.from(s), opts); }

  // The next frame (any opcode); null once the connection ended.
  next(pred = () => true, timeoutMs = 10000, what = 'frame') { return this.frames.take(pred, timeoutMs, what); }

  // The next text message's payload as a string (inflating RSV1 frames).
  async text(timeoutMs = 10000) {
    const f = await this.next((x) => x.opcode === OP.TEXT, timeoutMs, 'text frame');
    assert.ok(f, 'connection ended before a text message');
    assert.ok(f.fin, 'server messages are not fragmented');
    return (f.rsv1 ? inflate(f.payload) : f.payload).toString('utf8');
  }

  // The Centrifugo replies/pushes of the next text message, parsed.
  async json(timeoutMs = 10000) { return (await this.text(timeoutMs)).split('\n').map((l) => JSON.parse(l)); }

  // Waits for the server's Close; returns {code, reason}. Answers it (§5.5.1).
  async closeFrame(timeoutMs = 10000) {
    const f = await this.next((x) => x.opcode === OP.CLOSE, timeoutMs, 'close frame');
    assert.ok(f, `connection ended without a Close frame (got ${this.buf.length} unparsed bytes)`);
    const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    this.send(OP.CLOSE, f.payload.subarray(0, 2));
    return { code, reason: f.payload.subarray(2).toString('utf8') };
  }

  // Resolves true when the server closed TCP within timeoutMs.
  async ended(timeoutMs = 10000) {
    let timer;
    const r = await Promise.race([this.closed.then(() => true), new Promise((res) => { timer = setTimeout(() => res(false), timeoutMs); })]);
    clearTimeout(timer);
    return r;
  }

  destroy() { this.sock.destroy(); }
}

// RFC 7692 §7.2.2: append 00 00 ff ff and inflate.
function inflate(payload) {
  return zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}
// RFC 7692 §7.2.1: deflate with a sync flush and drop the 00 00 ff ff.
function deflate(data) {
  const z = zlib.deflateRawSync(Buffer.from(data), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual([...z.subarray(-4)], [0, 0, 0xff, 0xff]);
  return z.subarray(0, -4);
}

// A `ws` client whose Centrifugo messages (split at newlines, parsed) go to
// an Inbox; close resolves with {code, reason}.
async function wsClient(s, opts = {}, p = WS_PATH) {
  const ws = new WebSocket(wsUrl(s, p), opts);
  const inbox = new Inbox();
  const close = new Promise((resolve) => ws.on('close', (code, reason) => { inbox.end(); resolve({ code, reason: reason.toString() }); }));
  ws.on('message', (d, isBinary) => {
    assert.equal(isBinary, false, 'the JSON protocol sends text');
    for (const l of d.toString('utf8').split('\n')) inbox.push(JSON.parse(l));
  });
  ws.on('error', () => {});
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const reply = (id, timeoutMs) => inbox.take((m) => m.id === id, timeoutMs, `reply ${id}`);
  return { ws, inbox, close, reply, send: (o) => ws.send(typeof o === 'string' ? o : JSON.stringify(o)) };
}

// connect + subscribe on a `ws` client; returns the subscribe reply.
async function connectSubscribe(c, channel) {
  c.send({ id: 1, connect: {} });
  const r1 = await c.reply(1);
  assert.ok(r1.connect, `connect reply ${JSON.stringify(r1)}`);
  c.send({ id: 2, subscribe: { channel } });
  const r2 = await c.reply(2);
  assert.ok(r2.subscribe, `subscribe reply ${JSON.stringify(r2)}`);
  return r2.subscribe;
}

// ---------------------------------------------------------------------------

describe('opening handshake', () => {
  test('a good handshake: 101, Sec-WebSocket-Accept, on both paths', async () => {
    for (const p of [WS_PATH, '/v1/ws']) {
      const ws = await RawWs.connect(server, { path: p });
      assert.equal(ws.headers['sec-websocket-extensions'], undefined, 'no extension unless offered');
      ws.sendText('{"id":1,"connect":{}}');
      const [r] = await ws.json();
      assert.equal(r.id, 1);
      assert.equal(typeof r.connect.client, 'string');
      ws.send(OP.CLOSE, Buffer.from([0x03, 0xe8]));
      assert.equal((await ws.closeFrame()).code, 1000, 'the Close is echoed');
      assert.ok(await ws.ended(), 'the server closes TCP after the closing handshake');
      assert.deepEqual(ws.violations, []);
    }
  });

  test('bad handshakes get 400', async () => {
    const cases = [
      ['no Sec-WebSocket-Key', { headers: { 'Sec-WebSocket-Key': null } }],
      ['a key that is not base64', { headers: { 'Sec-WebSocket-Key': 'not a key at all!!!!!!==' } }],
      ['a key of 15 bytes', { headers: { 'Sec-WebSocket-Key': crypto.randomBytes(15).toString('base64') } }],
      ['a key of 17 bytes', { headers: { 'Sec-WebSocket-Key': crypto.randomBytes(17).toString('base64') } }],
      ['no Upgrade', { headers: { Upgrade: null } }],
      ['Upgrade: h2c', { headers: { Upgrade: 'h2c' } }],
      ['no Connection: Upgrade', { headers: { Connection: 'keep-alive' } }],
    ];
    for (const [what, opts] of cases) {
      const ws = await RawWs.open(server, opts);
      assert.equal(ws.status, 400, `${what} -> ${ws.status} ${ws.body}`);
      h.assertError({ status: ws.status, body: ws.json }, 400, ws.json && ws.json.error && ws.json.error.code, undefined, what);
      ws.destroy();
    }
    // not GET: HEAD reaches the handshake (400), other methods stop at the router (405)
    const head = await RawWs.open(server, { method: 'HEAD' });
    assert.equal(head.status, 400, 'HEAD');
    head.destroy();
    for (const method of ['POST', 'PUT']) {
      const ws = await RawWs.open(server, { method, headers: { 'Content-Length': '0' } });
      assert.equal(ws.status, 405, `${method} -> ${ws.status} ${ws.body}`);
      assert.match(ws.headers.allow, /GET/);
      ws.destroy();
    }
  });

  test('another version gets 426 with Sec-WebSocket-Version: 13', async () => {
    for (const v of ['8', '14', '12']) {
      const ws = await RawWs.open(server, { headers: { 'Sec-WebSocket-Version': v } });
      assert.equal(ws.status, 426, `version ${v} -> ${ws.status}`);
      assert.equal(ws.headers['sec-websocket-version'], '13');
      ws.destroy();
    }
  });

  test('--ws-origins: another Origin gets 403; listed ones and none pass', async () => {
    for (const origin of ['https://evil.example', 'https://good.example.evil', 'http://good.example', 'null']) {
      const ws = await RawWs.open(server, { headers: { Origin: origin } });
      assert.equal(ws.status, 403, `Origin ${origin} -> ${ws.status}`);
      h.assertError({ status: ws.status, body: ws.json }, 403, ws.json && ws.json.error && ws.json.error.code, undefined, origin);
      ws.destroy();
    }
    for (const origin of ['https://good.example', 'https://also.example', null]) {
      const ws = await RawWs.connect(server, { headers: { Origin: origin } });
      ws.destroy();
    }
    // the `ws` package sends Origin when told to
    await assert.rejects(wsClient(server, { origin: 'https://evil.example' }), /403/);
    const ok = await wsClient(server, { origin: 'https://good.example' });
    ok.ws.close();
    await ok.close;
  });
});

describe('frames and close codes', () => {
  test('an unmasked client frame is a protocol error: Close 1002', async () => {
    const ws = await RawWs.connect(server);
    ws.sendText('{"id":1,"connect":{}}', { mask: false });
    assert.equal((await ws.closeFrame()).code, 1002);
    assert.ok(await ws.ended(), 'TCP closed');
    assert.equal(ws.frames.items.filter((f) => f.opcode === OP.TEXT).length, 0, 'the unmasked message was not handled');
  });

  test('other protocol errors: reserved opcode, RSV bits, fragmented or long control frames, stray continuation', async () => {
    const cases = [
      ['reserved opcode 3', frame(3, 'x')],
      ['reserved opcode 0xB', frame(0xB, 'x')],
      ['RSV1 without an extension', frame(OP.TEXT, '{}', { rsv1: true })],
      ['RSV2', frame(OP.TEXT, '{}', { rsv2: true })],
      ['fragmented ping', frame(OP.PING, 'x', { fin: false })],
      ['ping of 126 bytes', frame(OP.PING, Buffer.alloc(126, 0x61))],
      ['continuation without a start', frame(OP.CONT, 'x')],
      ['new text inside a fragmented one', Buffer.concat([frame(OP.TEXT, 'a', { fin: false }), frame(OP.TEXT, 'b')])],
    ];
    for (const [what, bytes] of cases) {
      const ws = await RawWs.connect(server);
      ws.write(bytes);
      assert.equal((await ws.closeFrame()).code, 1002, what);
      assert.ok(await ws.ended(), `${what}: TCP closed`);
    }
  });

  test('invalid UTF-8 in a text message: Close 1007', async () => {
    const bad = [
      Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), // bad continuation
      Buffer.from('{"x":"\xed\xa0\x80"}', 'latin1'), // a surrogate
      Buffer.from([0xc0, 0xaf]), // overlong
      Buffer.from([0x61, 0xe2, 0x82]), // truncated at the end
    ];
    for (const b of bad) {
      const ws = await RawWs.connect(server);
      ws.send(OP.TEXT, b);
      assert.equal((await ws.closeFrame()).code, 1007, `bytes ${b.toString('hex')}`);
      assert.ok(await ws.ended());
    }
    // split across fragments: checked on the whole message
    const ws = await RawWs.connect(server);
    ws.send(OP.TEXT, Buffer.from([0x7b, 0xe2]), { fin: false });
    ws.send(OP.CONT, Buffer.from([0x28, 0xa1, 0x7d]));
    assert.equal((await ws.closeFrame()).code, 1007);
  });

  test('a message over --ws-max-message: Close 1009; one at the limit is handled', async () => {
    const cmd = '{"id":1,"connect":{}}';
    const atLimit = await RawWs.connect(server);
    atLimit.sendText(cmd + ' '.repeat(MAX - cmd.length));
    const [r] = await atLimit.json();
    assert.equal(r.id, 1);
    assert.ok(r.connect);
    atLimit.destroy();

    const over = await RawWs.connect(server);
    over.sendText(cmd + ' '.repeat(MAX + 1 - cmd.length));
    assert.equal((await over.closeFrame()).code, 1009);
    assert.ok(await over.ended());
    assert.equal(over.frames.items.filter((f) => f.opcode === OP.TEXT).length, 0);

    // over the limit only once reassembled from fragments
    const frag = await RawWs.connect(server);
    frag.send(OP.TEXT, Buffer.alloc(600, 0x20), { fin: false });
    frag.send(OP.CONT, Buffer.alloc(600, 0x20));
    assert.equal((await frag.closeFrame()).code, 1009);
  });

  test('a compressed message that inflates past the limit: Close 1009', async () => {
    // raw: a deflate frame of a few bytes that inflates to 8 KiB
    const raw = await RawWs.connect(server, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    assert.match(raw.headers['sec-websocket-extensions'], /^permessage-deflate/);
    const small = deflate('{"id":1,"connect":{}}' + ' '.repeat(900));
    raw.send(OP.TEXT, small, { rsv1: true });
    const [r] = await raw.json();
    assert.ok(r.connect, 'a compressed message within the limit is handled');
    const bomb = deflate(' '.repeat(8192));
    assert.ok(bomb.length < MAX, 'small on the wire');
    raw.send(OP.TEXT, bomb, { rsv1: true });
    assert.equal((await raw.closeFrame()).code, 1009);
    assert.ok(await raw.ended());

    // the `ws` package compressing everything
    const c = await wsClient(server, { perMessageDeflate: { threshold: 0 } });
    assert.match(c.ws.extensions, /permessage-deflate/);
    c.send('{"id":1,"connect":{}}' + ' '.repeat(5000));
    const closed = await c.close;
    assert.equal(closed.code, 1009);
    assert.equal(c.inbox.items.length, 0, 'nothing was handled');
  });

  test('ping gets a pong with the same payload', async () => {
    const ws = await RawWs.connect(server);
    for (const payload of [Buffer.from('hello'), Buffer.alloc(0), crypto.randomBytes(125)]) {
      ws.send(OP.PING, payload);
      const f = await ws.next((x) => x.opcode !== OP.TEXT, 10000, 'pong');
      assert.equal(f.opcode, OP.PONG);
      assert.ok(f.fin);
      assert.deepEqual(f.payload, payload);
    }
    // also before and after a Centrifugo connect, without disturbing it
    ws.sendText('{"id":1,"connect":{}}');
    assert.ok((await ws.json())[0].connect);
    ws.send(OP.PING, 'again');
    assert.equal((await ws.next((x) => x.opcode === OP.PONG)).payload.toString(), 'again');
    // an unsolicited pong is ignored (§5.5.3)
    ws.send(OP.PONG, 'unsolicited');
    ws.sendText('{"id":2,"ping":{}}');
    assert.deepEqual((await ws.json())[0], { id: 2, ping: {} });
    assert.deepEqual(ws.violations, []);
    ws.destroy();

    // the `ws` package's ping
    const c = await wsClient(server);
    const pong = new Promise((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('from ws');
    assert.equal((await pong).toString(), 'from ws');
    c.ws.close();
    await c.close;
  });

  test('a fragmented command with a ping between fragments: pong at once, then the reply', async () => {
    const ws = await RawWs.connect(server);
    // three fragments, the middle one splitting a two-byte character
    const cmd = Buffer.from('{"id":7,"connect":{"name":"żółw"}}');
    const cut1 = cmd.indexOf(Buffer.from('ż')) + 1;
    const parts = [cmd.subarray(0, 5), cmd.subarray(5, cut1), cmd.subarray(cut1)];
    ws.send(OP.TEXT, parts[0], { fin: false });
    ws.send(OP.PING, 'mid-1');
    const p1 = await ws.next((x) => x.opcode !== OP.CONT);
    assert.equal(p1.opcode, OP.PONG, 'the pong comes while the message is incomplete');
    assert.equal(p1.payload.toString(), 'mid-1');
    ws.send(OP.CONT, parts[1], { fin: false });
    ws.send(OP.PING, 'mid-2');
    const p2 = await ws.next();
    assert.equal(p2.opcode, OP.PONG);
    assert.equal(p2.payload.toString(), 'mid-2');
    ws.send(OP.CONT, parts[2]);
    const [r] = await ws.json();
    assert.equal(r.id, 7);
    assert.equal(typeof r.connect.client, 'string');
    // and in one write, all at once
    ws.write(Buffer.concat([
      frame(OP.TEXT, '{"id":8,', { fin: false }), frame(OP.PING, 'x'),
      frame(OP.CONT, '"ping"', { fin: false }), frame(OP.PING, 'y'), frame(OP.CONT, ':{}}'),
    ]));
    const got = [];
    for (let i = 0; i < 3; i++) got.push(await ws.next());
    assert.deepEqual(got.filter((f) => f.opcode === OP.PONG).map((f) => f.payload.toString()), ['x', 'y']);
    const t = got.find((f) => f.opcode === OP.TEXT);
    assert.deepEqual(JSON.parse(t.payload.toString()), { id: 8, ping: {} });
    assert.deepEqual(ws.violations, []);
    ws.destroy();
  });

  test('a binary message is refused by the JSON protocol (3501)', async () => {
    const ws = await RawWs.connect(server);
    ws.send(OP.BINARY, Buffer.from('{"id":1,"connect":{}}'));
    assert.equal((await ws.closeFrame()).code, 3501);
  });
});

describe('permessage-deflate', () => {
  test('compressed and uncompressed clients receive the same publications', async () => {
    const ch = fresh('pmd');
    const z = await wsClient(server, { perMessageDeflate: { threshold: 0 } });
    assert.match(z.ws.extensions, /permessage-deflate/, 'negotiated');
    const p = await wsClient(server, { perMessageDeflate: false });
    assert.equal(p.ws.extensions, '', 'not negotiated');
    // a raw client that shows the frames: large publications come compressed
    const raw = await RawWs.connect(server, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' } });
    const ext = raw.headers['sec-websocket-extensions'];
    assert.match(ext, /^permessage-deflate/);
    assert.match(ext, /server_no_context_takeover/, 'server_no_context_takeover is asserted');

    const s1 = await connectSubscribe(z, ch);
    const s2 = await connectSubscribe(p, ch);
    assert.deepEqual(s1, s2, 'same subscribe reply');
    raw.sendText(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${ch}"}}`);
    const replies = [];
    while (replies.length < 2) replies.push(...(await raw.json()));
    assert.deepEqual(replies.map((r) => r.id), [1, 2]);

    const values = [{ n: 1 }, 'x'.repeat(2000), { n: 3, text: 'żółw ✓ 🐢 '.repeat(40) }, [1, 2, 3], null];
    for (const v of values) await publish(server, ch, v);
    const got = async (c) => {
      const out = [];
      for (let i = 0; i < values.length; i++) out.push(await c.inbox.take((m) => m.push && m.push.pub, 10000, `pub ${i + 1}`));
      return out;
    };
    const gz = await got(z);
    const gp = await got(p);
    assert.deepEqual(gz, gp, 'the same pushes');
    assert.deepEqual(gz.map((m) => m.push.pub.data), values);
    assert.deepEqual(gz.map((m) => m.push.pub.offset), [1, 2, 3, 4, 5]);
    assert.ok(gz.every((m) => m.push.channel === ch));

    const rawPubs = [];
    let compressed = 0;
    while (rawPubs.length < values.length) {
      const f = await raw.next((x) => x.opcode === OP.TEXT);
      if (f.rsv1) compressed++;
      const m = JSON.parse((f.rsv1 ? inflate(f.payload) : f.payload).toString());
      if (m.push && m.push.pub) rawPubs.push(m);
    }
    assert.deepEqual(rawPubs, gz);
    assert.ok(compressed >= 2, `the large publications came compressed (${compressed})`);
    assert.deepEqual(raw.violations, []);

    // the compressing client's commands are compressed too (threshold 0) and understood
    z.send({ id: 3, history: { channel: ch, limit: 10 } });
    const hz = await z.reply(3);
    assert.deepEqual(hz.history.publications.map((x) => x.data), values);
    for (const c of [z, p]) { c.ws.close(1000); assert.equal((await c.close).code, 1000); }
    raw.destroy();
  });

  test('a consumer that stops reading is cut with 3008 "slow consumer, reconnect"; others go on', async () => {
    const ch = fresh('slow');
    const slow = await wsClient(server, { perMessageDeflate: false });
    const fast = await wsClient(server, { perMessageDeflate: false });
    await connectSubscribe(slow, ch);
    await connectSubscribe(fast, ch);
    slow.ws._socket.pause(); // stops reading: the kernel buffers fill, then the server's queue
    const big = 'y'.repeat(60 * 1024);
    // 150 x 60 KiB = 9 MiB: beyond the socket buffers plus the 1 MiB queue,
    // published quickly so the reader resumes within the server's 2 s close
    // timeout and reads its way to the Close frame
    const n = 150;
    for (let i = 0; i < n; i++) await publish(server, ch, { n: i, big });
    slow.ws._socket.resume();
    const c = await Promise.race([slow.close, h.sleep(15000).then(() => null)]);
    assert.ok(c, 'the slow client was cut');
    assert.equal(c.code, 3008);
    assert.equal(c.reason, 'slow consumer, reconnect');
    // the reader that kept up got every publication, in order
    for (let i = 0; i < n; i++) {
      const m = await fast.inbox.take((x) => x.push && x.push.pub, 10000, `pub ${i}`);
      assert.equal(m.push.pub.data.n, i);
    }
    fast.ws.close(1000);
    await fast.close;
  });

  test('offers the server cannot take are declined, not failed', async () => {
    // a smaller server window than ours: no extension, plain frames
    const ws = await RawWs.connect(server, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=10' } });
    assert.equal(ws.headers['sec-websocket-extensions'], undefined);
    ws.sendText('{"id":1,"connect":{}}');
    assert.ok((await ws.json())[0].connect);
    ws.destroy();
    // an unknown extension first, then an acceptable offer
    const ws2 = await RawWs.connect(server, { headers: { 'Sec-WebSocket-Extensions': 'x-foo, permessage-deflate; client_no_context_takeover' } });
    assert.match(ws2.headers['sec-websocket-extensions'], /^permessage-deflate; server_no_context_takeover; client_no_context_takeover$/);
    // two compressed messages, each deflated on its own (no context takeover)
    ws2.send(OP.TEXT, deflate('{"id":1,"connect":{}}'), { rsv1: true });
    ws2.send(OP.TEXT, deflate('{"id":2,"ping":{}}'), { rsv1: true });
    const got = [];
    while (got.length < 2) got.push(...(await ws2.json()));
    assert.deepEqual(got.map((r) => r.id), [1, 2]);
    ws2.destroy();
  });
});

describe('Centrifugo framing', () => {
  test('several newline-separated commands in one message: every reply', async () => {
    const ch = fresh('multi');
    await publish(server, ch, { first: true });
    const c = await wsClient(server);
    c.send([
      '{"id":1,"connect":{}}',
      `{"id":2,"subscribe":{"channel":"${ch}"}}`,
      '{"id":3,"ping":{}}',
      `{"id":4,"history":{"channel":"${ch}","limit":10}}`,
      '   ', // blank lines are skipped
      '{"id":5,"rpc":{"method":"x"}}',
      `{"id":6,"unsubscribe":{"channel":"${ch}"}}\r`,
    ].join('\n'));
    const r = {};
    for (const id of [1, 2, 3, 4, 5, 6]) r[id] = await c.reply(id);
    assert.equal(typeof r[1].connect.client, 'string');
    assert.equal(r[1].connect.pong, true);
    assert.equal(r[2].subscribe.offset, 1);
    assert.equal(r[2].subscribe.recoverable, true);
    assert.deepEqual(r[3], { id: 3, ping: {} });
    assert.deepEqual(r[4].history.publications.map((x) => x.data), [{ first: true }]);
    assert.equal(r[5].error.code, 104);
    assert.deepEqual(r[6], { id: 6, unsubscribe: {} });
    c.ws.close();
    await c.close;
  });

  test('commands before connect: disconnect 3501', async () => {
    for (const cmd of [{ id: 1, subscribe: { channel: 'x' } }, { id: 1, ping: {} }, { id: 1, history: { channel: 'x' } }]) {
      const c = await wsClient(server);
      c.send(cmd);
      const push = await c.inbox.take((m) => m.push && m.push.disconnect, 10000, 'disconnect push');
      assert.equal(push.push.disconnect.code, 3501);
      assert.equal(push.push.disconnect.reconnect, false);
      assert.equal((await c.close).code, 3501, JSON.stringify(cmd));
    }
    // so are lines that are not commands
    for (const junk of ['not json', '[1,2]', '{"id":1,"connect":[]}']) {
      const c = await wsClient(server);
      c.send(junk);
      assert.equal((await c.close).code, 3501, junk);
    }
  });
});

describe('tokens at connect (--jwt-secret)', () => {
  const SECRET = 'ws-secret-' + process.pid;
  let s;
  before(async () => { s = await h.startServer({ args: ['--jwt-secret', SECRET, '--api-key', 'k' + process.pid] }); });
  after(async () => { if (s) assert.equal(await s.stop(), 0); });

  test('a bad token: close 3500', async () => {
    const bad = [sign({ sub: 'u1' }, 'another-secret'), 'garbage', 'a.b.c',
      sign({ sub: 'u1' }, SECRET).slice(0, -2) + 'AA', sign({ sub: 5 }, SECRET)];
    for (const token of bad) {
      const c = await wsClient(s);
      c.send({ id: 1, connect: { token } });
      const closed = await c.close;
      assert.equal(closed.code, 3500, token);
      assert.equal(c.inbox.items.filter((m) => m.id === 1 && m.connect).length, 0, 'no connect reply');
    }
  });

  test('an expired token: error 109, and the connection stays to try again', async () => {
    const c = await wsClient(s);
    c.send({ id: 1, connect: { token: sign({ sub: 'u1', exp: nowS() - 5 }, SECRET) } });
    const r = await c.reply(1);
    assert.equal(r.error.code, 109, JSON.stringify(r));
    c.send({ id: 2, connect: { token: sign({ sub: 'u1', exp: nowS() + 600 }, SECRET) } });
    const ok = await c.reply(2);
    assert.equal(typeof ok.connect.client, 'string', JSON.stringify(ok));
    assert.equal(ok.connect.expires, true);
    assert.ok(ok.connect.ttl > 500 && ok.connect.ttl <= 600, `ttl ${ok.connect.ttl}`);
    c.send({ id: 3, connect: {} });
    assert.equal((await c.reply(3)).error.code, 107, 'connect twice is a bad request');
    c.ws.close();
    assert.equal((await c.close).code, 1005);
  });

  test('a good token without exp, and no token (anonymous)', async () => {
    const c = await wsClient(s);
    c.send({ id: 1, connect: { token: sign({ sub: 'u1' }, SECRET) } });
    const r = await c.reply(1);
    assert.equal(typeof r.connect.client, 'string');
    assert.equal(r.connect.expires, undefined);
    // the default namespace is not anonymous: u1 may subscribe, an anonymous client may not
    c.send({ id: 2, subscribe: { channel: fresh('tok') } });
    assert.ok((await c.reply(2)).subscribe);
    const a = await wsClient(s);
    a.send({ id: 1, connect: {} });
    assert.ok((await a.reply(1)).connect);
    a.send({ id: 2, subscribe: { channel: fresh('tok') } });
    assert.equal((await a.reply(2)).error.code, 103);
    for (const x of [c, a]) { x.ws.close(); await x.close; }
  });
});
