// The Faktory Work Protocol listener (--faktory) over raw node:net sockets,
// checked against shared/reference/faktory-protocol.md: the greeting and
// the password handshake (with the reference hash vector), the 2 s
// handshake deadline, LF-only lines, pipelining and byte-by-byte commands,
// --faktory-max-line, every -ERR text the Go server sends, the replies
// that Faktory makes byte-exact (FETCH payloads, PUSHB maps, BEAT states,
// END), QUEUE, MUTATE filters, INFO's shape, FLUSH, TRACK and BATCH onto
// synq's progress and batches, the workers REST API (quiet, terminate,
// --faktory-worker-ttl) and --faktory off.
//
// The client is written here rather than taken from a library: it sends any
// bytes, splits them anywhere, and reads RESP2 replies itself (+, -, $n and
// $-1, across chunk boundaries), keeping the exact bytes of each reply.
// Queues and job types are fresh per test, so tests do not see each other's
// jobs; FLUSH and MUTATE's set-wide commands get servers of their own.
'use strict';
const { test, before, after, describe } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const h = require('./helpers');

// ---------------------------------------------------------------------------
// RESP2 reader: feed(chunk) returns the complete replies so far, each
// { t: '+' | '-' | '$', s: string (null for $-1), raw: the reply's bytes }.
// A bulk is decoded only once all of its bytes are in, so a UTF-8 sequence
// split between chunks is fine. Anything that is not valid RESP throws.

class RespReader {
  constructor() { this.buf = Buffer.alloc(0); }

  feed(chunk) {
    if (chunk && chunk.length) this.buf = Buffer.concat([this.buf, chunk]);
    const out = [];
    for (;;) {
      const r = this._one();
      if (!r) return out;
      out.push(r);
    }
  }

  _one() {
    const le = this.buf.indexOf('\r\n');
    if (le < 0) {
      if (this.buf.length && !'+-$'.includes(String.fromCharCode(this.buf[0]))) {
        throw new Error('not a RESP2 reply: ' + JSON.stringify(this.buf.toString('latin1').slice(0, 80)));
      }
      return null;
    }
    const line = this.buf.subarray(0, le).toString('utf8');
    const t = line[0];
    if (t === '+' || t === '-') {
      if (line.includes('\n') || line.includes('\r')) throw new Error('CR or LF inside a simple reply: ' + JSON.stringify(line));
      const raw = this.buf.subarray(0, le + 2).toString('utf8');
      this.buf = this.buf.subarray(le + 2);
      return { t, s: line.slice(1), raw };
    }
    if (t === '$') {
      if (!/^\$(-1|0|[1-9]\d*)$/.test(line)) throw new Error('bad bulk length line: ' + JSON.stringify(line));
      const n = Number(line.slice(1));
      if (n === -1) {
        this.buf = this.buf.subarray(le + 2);
        return { t, s: null, raw: '$-1\r\n' };
      }
      const start = le + 2;
      if (this.buf.length < start + n + 2) return null;
      if (this.buf[start + n] !== 0x0d || this.buf[start + n + 1] !== 0x0a) {
        throw new Error(`bulk of ${n} bytes not followed by CRLF: ` +
          JSON.stringify(this.buf.subarray(start, start + n + 2).toString('latin1').slice(-40)));
      }
      const s = this.buf.subarray(start, start + n).toString('utf8');
      const raw = this.buf.subarray(0, start + n + 2).toString('utf8');
      this.buf = this.buf.subarray(start + n + 2);
      return { t, s, raw };
    }
    throw new Error('not a RESP2 reply (FWP sends only +, -, $): ' + JSON.stringify(line.slice(0, 80)));
  }
}

// One raw connection to the Faktory port. Replies queue up in order;
// next() takes the oldest. Every received byte is kept in `received`.
class FwpConn {
  constructor(sock) {
    this.sock = sock;
    this.reader = new RespReader();
    this.received = Buffer.alloc(0);
    this.replies = [];
    this.waiters = [];
    this.closed = false;
    this.closedAt = null;
    this.error = null;
    this.closePromise = new Promise((resolve) => { this._resolveClose = resolve; });
    sock.on('data', (d) => {
      this.received = Buffer.concat([this.received, d]);
      let rs = [];
      try { rs = this.reader.feed(d); } catch (e) { this.error = this.error || e; }
      for (const r of rs) {
        const w = this.waiters.shift();
        if (w) { clearTimeout(w.timer); w.resolve(r); } else this.replies.push(r);
      }
      if (this.error) this._failWaiters();
    });
    sock.on('error', (e) => { this.error = this.error || e; });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this._failWaiters();
      this._resolveClose();
    });
  }

  _failWaiters() {
    const why = this.error ? this.error.message : 'connection closed before a reply';
    for (const w of this.waiters.splice(0)) { clearTimeout(w.timer); w.reject(new Error(why + `; received ${JSON.stringify(this.text().slice(-300))}`)); }
  }

  static connect(addr) {
    const [host, port] = addr.split(':');
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port: Number(port) });
      sock.setNoDelay(true);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        const c = new FwpConn(sock);
        c.connectedAt = Date.now();
        live.add(c);
        resolve(c);
      });
    });
  }

  text() { return this.received.toString('utf8'); }

  // Resolves when the bytes are handed to the kernel (false when the peer is gone).
  write(data) {
    return new Promise((resolve) => {
      if (this.sock.destroyed) { resolve(false); return; }
      this.sock.write(data, (err) => resolve(!err));
    });
  }

  send(line, eol = '\r\n') { return this.write(line + eol); }

  next(timeoutMs = 10000) {
    if (this.replies.length) return Promise.resolve(this.replies.shift());
    if (this.error) return Promise.reject(this.error);
    if (this.closed) return Promise.reject(new Error(`connection closed; received ${JSON.stringify(this.text().slice(-300))}`));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w); if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no reply within ${timeoutMs} ms; received ${JSON.stringify(this.text().slice(-300))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Sends one command line and waits for its reply.
  async cmd(line, timeoutMs) {
    await this.send(line);
    return this.next(timeoutMs);
  }

  // true once the peer closed within timeoutMs.
  async waitClosed(timeoutMs = 10000) {
    let timer;
    const t = new Promise((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    const r = await Promise.race([this.closePromise.then(() => true), t]);
    clearTimeout(timer);
    return r;
  }

  destroy() { this.sock.destroy(); live.delete(this); }
}

const live = new Set(); // every connection, destroyed after the file
after(() => { for (const c of live) c.sock.destroy(); });

// A describe's servers: one per option set ({} for the defaults), started
// side by side.
const startServers = (...opts) => Promise.all(opts.map((o) => h.startServer(o)));

// A describe's after(): destroys its connections, then stops its servers,
// each of which must exit 0. Either may be undefined when before() failed.
async function teardown(servers, conns = []) {
  for (const c of conns) if (c) c.destroy();
  for (const s of servers) if (s) assert.equal(await s.stop(), 0);
}

// ---------------------------------------------------------------------------
// Small helpers.

const OK = '+OK\r\n';
let seq = 0;
const fresh = (prefix = 'fk') => `${prefix}${process.pid}x${++seq}`;
const jidOf = (prefix = 'jid') => `${prefix}-${process.pid}-${++seq}-${crypto.randomBytes(4).toString('hex')}`;
const job = (extra = {}) => ({ jid: jidOf(), jobtype: 'Raw', args: [], ...extra });

// Faktory's password proof: SHA-256 of password+salt, then i-1 more rounds
// over the raw digest; lower-case hex.
function pwdhash(password, salt, iterations) {
  let d = crypto.createHash('sha256').update(password + salt).digest();
  for (let k = 1; k < iterations; k++) d = crypto.createHash('sha256').update(d).digest();
  return d.toString('hex');
}

// Opens a connection and reads the greeting (kept as c.greeting).
async function open(server) {
  const c = await FwpConn.connect(server.faktory);
  c.greeting = await c.next(5000);
  return c;
}

// Opens, checks the plain greeting and says HELLO (a producer unless hello has a wid).
async function client(server, hello = {}) {
  const c = await open(server);
  assert.equal(c.greeting.raw, '+HI {"v":2}\r\n', 'greeting');
  const r = await c.cmd('HELLO ' + JSON.stringify({ v: 2, hostname: 'raw-test', ...hello }));
  assert.equal(r.raw, OK, `HELLO -> ${JSON.stringify(r)}`);
  return c;
}

async function okCmd(c, line, what = line) {
  const r = await c.cmd(line);
  assert.equal(r.raw, OK, `${what.slice(0, 200)} -> ${JSON.stringify(r)}`);
}

async function push(c, j) { await okCmd(c, 'PUSH ' + JSON.stringify(j)); return j; }

// FETCH that must hand out a job: returns the parsed job (and .raw text).
async function fetchJob(c, queues, timeoutMs = 10000) {
  const r = await c.cmd('FETCH ' + queues, timeoutMs);
  assert.equal(r.t, '$', `FETCH ${queues} -> ${JSON.stringify(r)}`);
  assert.notEqual(r.s, null, `FETCH ${queues} returned no job`);
  const j = JSON.parse(r.s);
  Object.defineProperty(j, '_raw', { value: r.s });
  return j;
}

// FETCH that must come back empty after the 2 s block; returns the ms it took.
async function fetchNone(c, queues) {
  const t0 = Date.now();
  const r = await c.cmd('FETCH ' + queues, 8000);
  const ms = Date.now() - t0;
  assert.equal(r.raw, '$-1\r\n', `FETCH ${queues} should find nothing -> ${JSON.stringify(r)}`);
  return ms;
}

function bulkJSON(r, what = 'reply') {
  assert.equal(r.t, '$', `${what} should be a bulk -> ${JSON.stringify(r)}`);
  assert.notEqual(r.s, null, `${what} should not be $-1`);
  return JSON.parse(r.s);
}

async function info(c) { return bulkJSON(await c.cmd('INFO'), 'INFO'); }

// Asserts -ERR <text> (a string: exact; a RegExp: matched against the message).
function assertErr(r, want, what = '') {
  assert.equal(r.t, '-', `${what} should be an error -> ${JSON.stringify(r)}`);
  if (want instanceof RegExp) assert.match(r.s, want, what);
  else assert.equal(r.s, 'ERR ' + want, what);
}

async function restJob(server, jid) { return h.api(server, 'GET', '/v1/jobs/' + encodeURIComponent(jid)); }

async function jobState(server, jid) {
  const res = await restJob(server, jid);
  if (res.status === 404 || res.status === 410) return 'gone';
  assert.equal(res.status, 200, `GET job ${jid} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.state;
}

// Pushes j, fetches it and FAILs it once (errtype E, message boom); the job
// must then be in state `want` (why: the assertion's message).
async function pushFetchFail(server, c, j, want, why) {
  await push(c, j);
  const got = await fetchJob(c, j.queue);
  assert.equal(got.jid, j.jid);
  await okCmd(c, 'FAIL ' + JSON.stringify({ jid: j.jid, errtype: 'E', message: 'boom' }));
  assert.equal(await jobState(server, j.jid), want, why);
}

// Puts a job in the retry set: push, fetch, fail (default retry 25: the
// first retry is 15 s or more away).
async function makeRetry(server, c, j) {
  await pushFetchFail(server, c, j, 'retry', 'failed once -> retry');
  return j;
}

// Puts a job in the dead set (retry -1: dead at the first failure).
async function makeDead(server, c, j) {
  await pushFetchFail(server, c, { ...j, retry: -1 }, 'dead', 'retry -1 failed -> dead');
  return j;
}

async function makeScheduled(server, c, j) {
  await push(c, { ...j, at: new Date(Date.now() + 3600e3).toISOString() });
  assert.equal(await jobState(server, j.jid), 'scheduled', 'at in an hour -> scheduled');
  return j;
}

// ---------------------------------------------------------------------------

test('the RESP reader: every reply kind, split at every byte', () => {
  const wire = '+HI {"v":2}\r\n-ERR no\r\n$-1\r\n$0\r\n\r\n$14\r\n{"a":"h\u00e9\u2713"}\r\n+OK\r\n';
  const whole = new RespReader().feed(Buffer.from(wire));
  assert.deepEqual(whole.map((r) => [r.t, r.s]), [
    ['+', 'HI {"v":2}'], ['-', 'ERR no'], ['$', null], ['$', ''], ['$', '{"a":"h\u00e9\u2713"}'], ['+', 'OK'],
  ]);
  const r = new RespReader();
  const bytes = Buffer.from(wire);
  const split = [];
  for (let i = 0; i < bytes.length; i++) split.push(...r.feed(bytes.subarray(i, i + 1)));
  assert.deepEqual(split, whole);
  assert.equal(split.map((x) => x.raw).join(''), wire, 'raw bytes of each reply');
  assert.throws(() => new RespReader().feed(Buffer.from('$3\r\nabcd\r\n')), /not followed by CRLF/);
  assert.throws(() => new RespReader().feed(Buffer.from(':1\r\n')), /not a RESP2 reply/);
  assert.throws(() => new RespReader().feed(Buffer.from('*1\r\n')), /not a RESP2 reply/);
});

test('pwdhash helper: the reference vectors (§1.4)', () => {
  assert.equal(pwdhash('foobar', '55104dc76695721d', 1545), '6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30');
  assert.equal(pwdhash('password', '123456789abc', 1735), 'e841e9ac451ce2f737d82f1655808c5a502be91dc8a9e01ad6a1f75497912ed6');
  assert.equal(pwdhash('foobar', '123456789abc', 1), 'd30ae2acf55b9e6896725c3b4a2c1d26554ad2e1111c1b29056aa909f8260e39');
});

// ---------------------------------------------------------------------------

describe('handshake', () => {
  let server, pw;
  const PASSWORD = 's3cret-raw';
  before(async () => { [server, pw] = await startServers({}, { args: ['--faktory-password', PASSWORD] }); });
  after(() => teardown([server, pw]));

  test('the greeting is exactly +HI {"v":2}, sent before the client says anything', async () => {
    const c = await FwpConn.connect(server.faktory);
    const r = await c.next(5000);
    assert.equal(r.raw, '+HI {"v":2}\r\n');
    assert.equal(c.text(), '+HI {"v":2}\r\n', 'nothing else');
    c.destroy();
  });

  test('with --faktory-password: i in 4000..8095 and a hex salt, no spaces; HELLO with the right pwdhash -> +OK', async () => {
    const seen = new Set();
    for (let k = 0; k < 3; k++) {
      const c = await open(pw);
      const m = c.greeting.raw.match(/^\+HI (\{"v":2,"i":(\d+),"s":"([0-9a-f]+)"\})\r\n$/);
      assert.ok(m, `greeting ${JSON.stringify(c.greeting.raw)}`);
      assert.ok(!m[1].includes(' '), 'no space in the greeting JSON (Node splits on spaces)');
      const hi = JSON.parse(m[1]);
      assert.equal(hi.v, 2);
      assert.ok(Number.isInteger(hi.i) && hi.i >= 4000 && hi.i <= 8095, `i=${hi.i}`);
      seen.add(hi.s);
      const r = await c.cmd('HELLO ' + JSON.stringify({ v: 2, hostname: 'h', pwdhash: pwdhash(PASSWORD, hi.s, hi.i) }));
      assert.equal(r.raw, OK);
      assert.equal((await c.cmd('INFO')).t, '$', 'identified: INFO works');
      c.destroy();
    }
    assert.equal(seen.size, 3, 'a new salt per connection');
  });

  test('a wrong or missing pwdhash: -ERR Invalid password, then the socket closes', async () => {
    for (const extra of [{ pwdhash: '0'.repeat(64) }, {}, { pwdhash: 42 }]) {
      const c = await open(pw);
      const hi = JSON.parse(c.greeting.s.slice(3));
      // the right hash with the wrong password, or none at all
      if (extra.pwdhash === '0'.repeat(64)) extra.pwdhash = pwdhash(PASSWORD + 'x', hi.s, hi.i);
      const r = await c.cmd('HELLO ' + JSON.stringify({ v: 2, hostname: 'h', ...extra }));
      assert.equal(r.raw, '-ERR Invalid password\r\n', `HELLO ${JSON.stringify(extra)}`);
      assert.ok(await c.waitClosed(3000), 'closed after Invalid password');
      c.destroy();
    }
  });

  test('commands pipelined behind a refused HELLO do not run', async () => {
    const c = await open(pw);
    const j = job({ queue: fresh('nopw') });
    await c.write('HELLO {"v":2,"pwdhash":"bad"}\r\nPUSH ' + JSON.stringify(j) + '\r\nINFO\r\n');
    assert.equal((await c.next()).raw, '-ERR Invalid password\r\n');
    assert.ok(await c.waitClosed(3000));
    assert.equal(c.replies.length, 0, 'nothing after the error');
    assert.equal(await jobState(pw, j.jid), 'gone', 'the PUSH did not run');
  });

  test('HELLO with v < 2 is checked with a single round (the legacy path)', async () => {
    const c = await open(pw);
    const hi = JSON.parse(c.greeting.s.slice(3));
    const r = await c.cmd('HELLO ' + JSON.stringify({ v: 1, hostname: 'h', pwdhash: pwdhash(PASSWORD, hi.s, 1) }));
    assert.equal(r.raw, OK);
    c.destroy();
  });

  test('a server without a password ignores a pwdhash', async () => {
    const c = await open(server);
    assert.equal((await c.cmd('HELLO {"v":2,"pwdhash":"abc"}')).raw, OK);
    c.destroy();
  });

  test('handshake deadline: a silent client is closed after about 2 s', async () => {
    const c = await open(server);
    assert.ok(await c.waitClosed(4000), 'closed within 4 s');
    const ms = c.closedAt - c.connectedAt;
    assert.ok(ms >= 1500, `closed after ${ms} ms, not before 1.5 s`);
    assert.equal(c.text(), '+HI {"v":2}\r\n', 'nothing but the greeting');
  });

  test('handshake deadline: a HELLO trickling in without its line end is closed too', async () => {
    const c = await open(server);
    await c.write('HELLO {"v":2,');
    await h.sleep(500);
    await c.write('"hostname":"slow"');
    assert.ok(await c.waitClosed(4000), 'closed within 4 s');
    assert.ok(c.closedAt - c.connectedAt >= 1500, 'not before 1.5 s');
    assert.equal(c.text(), '+HI {"v":2}\r\n');
  });

  test('a first line that is not "HELLO {": closed at once, no reply', async () => {
    for (const first of ['INFO', 'PUSH {"jid":"abcdefgh1","jobtype":"x","args":[]}', 'GET / HTTP/1.1', 'HELLO', 'HELLO{"v":2}', 'hello {"v":2}', '\x16\x03\x01\x02\x00\x01\x00']) {
      const c = await open(server);
      await c.send(first);
      assert.ok(await c.waitClosed(1500), `closed quickly after ${JSON.stringify(first)}`);
      assert.equal(c.text(), '+HI {"v":2}\r\n', `no reply to ${JSON.stringify(first)}`);
    }
  });

  test('HELLO with bad JSON: closed, no reply', async () => {
    for (const bad of ['HELLO {"v":2', 'HELLO {nope}', 'HELLO {"v":2}}']) {
      const c = await open(server);
      await c.send(bad);
      assert.ok(await c.waitClosed(1500), `closed after ${JSON.stringify(bad)}`);
      assert.equal(c.text(), '+HI {"v":2}\r\n', `no reply to ${JSON.stringify(bad)}`);
    }
  });

  test('a second HELLO after the handshake: -ERR unknown command HELLO; the connection stays usable', async () => {
    const c = await client(server);
    assertErr(await c.cmd('HELLO {"v":2}'), 'unknown command HELLO');
    assert.equal((await c.cmd('INFO')).t, '$');
    c.destroy();
  });
});

// ---------------------------------------------------------------------------

describe('framing', () => {
  let server, small;
  before(async () => { [server, small] = await startServers({}, { args: ['--faktory-max-line', '1k'] }); });
  after(() => teardown([server, small]));

  test('LF-only lines (as Ruby sends them): HELLO, PUSH, FETCH, ACK, INFO', async () => {
    const c = await open(server);
    await c.send('HELLO {"v":2,"hostname":"ruby"}', '\n');
    assert.equal((await c.next()).raw, OK, 'HELLO ended by LF');
    const q = fresh('lf');
    const j = job({ queue: q });
    await c.send('PUSH ' + JSON.stringify(j), '\n');
    assert.equal((await c.next()).raw, OK, 'PUSH ended by LF');
    await c.send('FETCH ' + q, '\n');
    const got = JSON.parse((await c.next()).s);
    assert.equal(got.jid, j.jid);
    assert.equal(got.queue, q, 'the queue name has no stray CR');
    await c.send(`ACK {"jid":"${j.jid}"}`, '\n');
    assert.equal((await c.next()).raw, OK);
    await c.send('INFO', '\n');
    assert.equal((await c.next()).t, '$');
    // mixed endings in one write
    await c.write('INFO\nINFO\r\nINFO\n');
    for (let i = 0; i < 3; i++) assert.equal((await c.next()).t, '$');
    c.destroy();
  });

  test('several commands in one write: replies in order, an error among them included', async () => {
    const c = await client(server);
    const q = fresh('pipe');
    const a = job({ queue: q, args: [1] });
    const b = job({ queue: q, args: [2] });
    await c.write([
      'PUSH ' + JSON.stringify(a),
      'PUSH ' + JSON.stringify(b),
      'NOPE',
      'QUEUE LATENCY ' + q,
      'FETCH ' + q,
      'ACK ' + JSON.stringify({ jid: a.jid }),
      'FETCH ' + q,
      'INFO',
    ].join('\r\n') + '\r\n');
    const rs = [];
    for (let i = 0; i < 8; i++) rs.push(await c.next());
    assert.equal(rs[0].raw, OK);
    assert.equal(rs[1].raw, OK);
    assertErr(rs[2], 'unknown command NOPE');
    assert.deepEqual(Object.keys(bulkJSON(rs[3])), [q]);
    assert.equal(JSON.parse(rs[4].s).jid, a.jid, 'FIFO: a first');
    assert.equal(rs[5].raw, OK);
    assert.equal(JSON.parse(rs[6].s).jid, b.jid);
    assert.ok(bulkJSON(rs[7]).faktory, 'INFO last');
    assert.equal(c.replies.length, 0, 'nothing extra');
    c.destroy();
  });

  test('HELLO and commands in the same write; a blocking FETCH holds the commands behind it', async () => {
    const c = await open(server);
    const q = fresh('blk');
    const t0 = Date.now();
    await c.write(`HELLO {"v":2}\r\nFETCH ${q}\r\nPUSH ${JSON.stringify(job({ queue: q }))}\r\nINFO\r\n`);
    assert.equal((await c.next()).raw, OK, 'HELLO');
    assert.equal((await c.next()).raw, '$-1\r\n', 'the FETCH ran before the PUSH behind it');
    assert.ok(Date.now() - t0 >= 1500, 'after blocking');
    assert.equal((await c.next()).raw, OK, 'PUSH');
    assert.equal((await c.next()).t, '$', 'INFO');
    c.destroy();
  });

  test('a command split byte by byte works (HELLO, PUSH, FETCH, ACK)', async () => {
    const c = await open(server);
    const q = fresh('bytes');
    const j = job({ queue: q, args: ['h\u00e9\u2713'] });
    const text = `HELLO {"v":2,"hostname":"slow"}\r\nPUSH ${JSON.stringify(j)}\r\nFETCH ${q}\r\nACK {"jid":"${j.jid}"}\r\n`;
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i++) {
      await c.write(bytes.subarray(i, i + 1));
      if (i % 8 === 0) await h.sleep(1);
    }
    assert.equal((await c.next()).raw, OK);
    assert.equal((await c.next()).raw, OK);
    const got = JSON.parse((await c.next()).s);
    assert.equal(got.jid, j.jid);
    assert.deepEqual(got.args, ['h\u00e9\u2713'], 'multi-byte UTF-8 split across writes');
    assert.equal((await c.next()).raw, OK);
    c.destroy();
  });

  test('a CR-LF split between two writes ends the line once', async () => {
    const c = await client(server);
    await c.write('INFO\r');
    await h.sleep(50);
    await c.write('\nINFO\r\n');
    assert.equal((await c.next()).t, '$');
    assert.equal((await c.next()).t, '$');
    await h.sleep(100);
    assert.equal(c.replies.length, 0, 'two replies only');
    c.destroy();
  });

  test('1000 PUSHes in one write: 1000 +OK in order, then the jobs in FIFO order', async () => {
    const c = await client(server);
    const q = fresh('burst');
    const jobs = Array.from({ length: 1000 }, (_, i) => job({ queue: q, args: [i] }));
    await c.write(jobs.map((j) => 'PUSH ' + JSON.stringify(j) + '\r\n').join('') + 'QUEUE LATENCY ' + q + '\r\n');
    for (let i = 0; i < 1000; i++) assert.equal((await c.next()).raw, OK, `PUSH #${i}`);
    assert.equal((await c.next()).t, '$');
    assert.equal((await info(c)).faktory.queues[q], 1000);
    await c.write(Array.from({ length: 5 }, () => 'FETCH ' + q + '\r\n').join(''));
    for (let i = 0; i < 5; i++) assert.deepEqual(JSON.parse((await c.next()).s).args, [i]);
    await okCmd(c, 'QUEUE REMOVE ' + q);
    c.destroy();
  });

  test('a 700 KB job comes back whole: bulk length and bytes exact', async () => {
    const c = await client(server);
    const q = fresh('big');
    const big = 'ab\u00e9\u2713'.repeat(100e3); // 700 KB of UTF-8
    const j = await push(c, job({ queue: q, args: [big] }));
    const r = await c.cmd('FETCH ' + q);
    assert.equal(r.raw.startsWith(`$${Buffer.byteLength(r.s)}\r\n`), true);
    const got = JSON.parse(r.s);
    assert.equal(got.jid, j.jid);
    assert.equal(got.args[0], big);
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
    c.destroy();
  });

  test('a client that half-closes after its commands still gets every reply, then the close', async () => {
    const c = await client(server);
    const q = fresh('half');
    const j = job({ queue: q });
    await c.write('PUSH ' + JSON.stringify(j) + '\r\nINFO\r\nQUEUE LATENCY ' + q + '\r\n');
    c.sock.end();
    assert.equal((await c.next()).raw, OK);
    assert.equal((await c.next()).t, '$');
    assert.equal((await c.next()).t, '$');
    assert.ok(await c.waitClosed(3000), 'closed after the replies');
    assert.equal(await jobState(server, j.jid), 'queued');
  });

  test('an empty line after the handshake is an unknown (empty) command', async () => {
    const c = await client(server);
    assertErr(await c.cmd(''), 'unknown command ');
    assert.equal((await c.cmd('INFO')).t, '$');
    c.destroy();
  });

  test('--faktory-max-line 1k: a 2 KB PUSH gets -ERR and the socket closes', async () => {
    const c = await client(small);
    const big = job({ args: ['x'.repeat(2048)] });
    const r = await c.cmd('PUSH ' + JSON.stringify(big));
    assertErr(r, /^ERR .+/, 'oversized line');
    assert.ok(await c.waitClosed(3000), 'closed');
    assert.equal(await jobState(small, big.jid), 'gone', 'not stored');
  });

  test('--faktory-max-line 1k: an oversized line is refused before its line end arrives', async () => {
    const c = await client(small);
    await c.write('PUSH ' + JSON.stringify(job({ args: ['y'.repeat(2048)] })));
    const r = await c.next(3000);
    assertErr(r, /^ERR .+/);
    assert.ok(await c.waitClosed(3000), 'closed');
  });

  test('--faktory-max-line 1k: a line just under the limit is fine', async () => {
    const c = await client(small);
    const j = job({ queue: fresh('fit') });
    const base = 'PUSH ' + JSON.stringify({ ...j, args: [''] });
    j.args = ['z'.repeat(1024 - base.length)];
    const line = 'PUSH ' + JSON.stringify(j);
    assert.equal(line.length, 1024);
    assert.equal((await c.cmd(line)).raw, OK);
    assert.equal((await fetchJob(c, j.queue)).jid, j.jid);
    c.destroy();
  });
});

// ---------------------------------------------------------------------------

describe('errors: the Go server\'s texts, and the connection goes on', () => {
  let server, c;
  before(async () => { server = await h.startServer(); c = await client(server); });
  after(() => teardown([server], [c]));

  // [line, expected error (exact text after "ERR ", or a RegExp on the whole message)]
  const cases = () => {
    const bad = (extra, drop = []) => {
      const j = job(extra);
      for (const k of drop) delete j[k];
      return 'PUSH ' + JSON.stringify(j);
    };
    const unknownJid = jidOf('nojob');
    return [
      ['push ' + JSON.stringify(job()), 'unknown command push'],
      ['Push ' + JSON.stringify(job()), 'unknown command Push'],
      ['FROB', 'unknown command FROB'],
      ['PUSH {"jid":', /^ERR invalid JSON: /],
      ['PUSH', /^ERR invalid JSON: /],
      ['PUSH []', /^ERR /],
      [bad({}, ['jid']), 'jobs must have a reasonable jid parameter'],
      [bad({ jid: 'short' }), 'jobs must have a reasonable jid parameter'],
      [bad({ jid: '1234567' }), 'jobs must have a reasonable jid parameter'],
      [bad({}, ['jobtype']), 'jobs must have a jobtype parameter'],
      [bad({ args: null }), 'jobs must have an args parameter'],
      [bad({}, ['args']), 'jobs must have an args parameter'],
      [bad({ reserve_for: 86401 }), 'jobs cannot be reserved for more than one day'],
      [bad({ at: 'tomorrow-ish' }), /^ERR invalid timestamp for 'at': "tomorrow-ish"/],
      [bad({ queue: '' }), 'queue name cannot be blank'],
      [bad({ queue: 'bad queue!' }), 'queue names must match \\A[a-zA-Z0-9._-]+\\z'],
      [bad({ queue: 'caf\u00e9' }), 'queue names must match \\A[a-zA-Z0-9._-]+\\z'],
      ['PUSHB {"jid":"abcdefgh1"}', /^ERR invalid JSON/],
      ['PUSHB [', /^ERR invalid JSON: /],
      ['ACK {}', 'invalid ACK {}'],
      ['ACK {"jid":""}', 'invalid ACK {"jid":""}'],
      ['ACK nope', 'invalid ACK nope'],
      ['FAIL ' + JSON.stringify({ jid: unknownJid, message: 'x', errtype: 'y' }), 'Job not found ' + unknownJid],
      ['FAIL {"message":"x"}', 'missing JID'],
      ['FAIL nope', 'invalid FAIL nope'],
      ['BEAT {"wid":"nosuchwid"}', 'unknown worker nosuchwid'],
      ['BEAT {"wid":', 'invalid BEAT {"wid":'],
      ['BEAT {}', 'invalid BEAT {}'],
      ['FETCH', 'must call fetch with at least one queue'],
      ['FETCH ', 'must call fetch with at least one queue'],
      ['QUEUE FOO x', 'no such QUEUE subcommand: FOO'],
      ['QUEUE LATENCY *', 'QUEUE LATENCY does not support wildcards'],
      ['QUEUE LATENCY default *', 'QUEUE LATENCY does not support wildcards'],
      ['MUTATE {"cmd":"discard","target":"dead","filter":{"regexp":"*a b*"}}', 'invalid format'],
      ['MUTATE { "cmd":"discard","target":"dead"}', 'invalid format'],
      ['MUTATE {"cmd":"discard","target":"working"}', 'invalid target for mutation command'],
      ['MUTATE {"cmd":"discard"}', 'invalid target for mutation command'],
      ['MUTATE {"cmd":"explode","target":"dead"}', 'unknown mutate operation'],
      ['MUTATE {"target":"retries"}', 'unknown mutate operation'],
      ['MUTATE {nope', /^ERR invalid JSON: /],
      ['TRACK FOO x', /^ERR \S/],
      ['TRACK', /^ERR \S/],
      ['TRACK SET {nope', /^ERR invalid JSON: /],
      ['TRACK SET {"percent":5}', /^ERR \S/],
      ['BATCH FOO x', /^ERR \S/],
      ['BATCH', /^ERR \S/],
      ['BATCH NEW {nope', /^ERR invalid JSON: /],
      ['BATCH STATUS 01JAAAAAAAAAAAAAAAAAAAAAAA', /^ERR \S/],
      ['BATCH COMMIT', /^ERR \S/],
      ['HELLO {"v":2}', 'unknown command HELLO'],
    ];
  };

  test('each -ERR text, with INFO answered after each', async () => {
    for (const [line, want] of cases()) {
      const r = await c.cmd(line);
      assertErr(r, want, line);
      assert.equal(r.raw, '-' + r.s + '\r\n');
      const i = await c.cmd('INFO');
      assert.equal(i.t, '$', `INFO after ${line} -> ${JSON.stringify(i)}`);
    }
    assert.equal(c.closed, false, 'still open');
  });

  test('every -ERR path again in one pipelined write: one reply each, in order', async () => {
    const list = cases();
    await c.write(list.map(([l]) => l + '\r\n').join('') + 'INFO\r\n');
    for (const [line, want] of list) assertErr(await c.next(), want, line);
    assert.equal((await c.next()).t, '$');
  });

  test('none of the refused PUSHes stored a job', async () => {
    const i = await info(c);
    assert.equal(i.faktory.total_enqueued, 0, JSON.stringify(i.faktory));
    assert.deepEqual(i.faktory.sets, { scheduled: 0, retries: 0, dead: 0, working: 0 });
  });
});

// ---------------------------------------------------------------------------

describe('commands', () => {
  let server, c;
  before(async () => { server = await h.startServer(); c = await client(server); });
  after(() => teardown([server], [c]));

  test('PUSH -> +OK; FETCH returns exactly the Faktory fields, echoing what synq does not own; priority dropped', async () => {
    const q = fresh('exact');
    const at = '2020-01-02T03:04:05.5Z';
    const pushed = {
      jid: jidOf('exact'), jobtype: 'SendEmail', args: [42, 'h\u00e9\u2713', { k: [1, null] }], queue: q,
      priority: 5, retry: 3, backtrace: 10, reserve_for: 600, at, zzz_unknown: { a: [1, 2] },
      custom: { tenant: 'acme', n: 1.5 },
    };
    assert.equal((await c.cmd('PUSH ' + JSON.stringify(pushed))).raw, OK);
    const r = await c.cmd('FETCH ' + q);
    assert.equal(r.t, '$');
    assert.equal(r.raw, `$${Buffer.byteLength(r.s)}\r\n${r.s}\r\n`, 'bulk length is the UTF-8 byte length');
    const got = JSON.parse(r.s);
    assert.deepEqual(Object.keys(got).sort(), [
      'args', 'at', 'backtrace', 'created_at', 'custom', 'enqueued_at', 'jid', 'jobtype', 'queue', 'reserve_for', 'retry', 'zzz_unknown',
    ]);
    assert.equal(got.jid, pushed.jid);
    assert.equal(got.jobtype, 'SendEmail');
    assert.equal(got.queue, q);
    assert.deepEqual(got.args, pushed.args);
    assert.equal(got.retry, 3);
    assert.equal(got.backtrace, 10);
    assert.equal(got.reserve_for, 600);
    assert.equal(got.at, at, 'at echoed as sent');
    assert.deepEqual(got.zzz_unknown, { a: [1, 2] });
    assert.deepEqual(got.custom, { tenant: 'acme', n: 1.5 });
    for (const k of ['created_at', 'enqueued_at']) {
      assert.match(got[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, k);
      assert.ok(Math.abs(Date.parse(got[k]) - Date.now()) < 60e3, `${k} is now`);
    }
    assert.ok(!r.s.includes(' '), 'compact JSON');
    // the job as synq sees it
    const rj = await h.getJob(server, pushed.jid);
    assert.equal(rj.state, 'active');
    assert.equal(rj.type, 'SendEmail');
    assert.equal(rj.reserve_for, 600);
    assert.deepEqual(rj.custom, pushed.custom);
    assert.equal((await c.cmd(`ACK {"jid":"${pushed.jid}"}`)).raw, OK);
    assert.equal(await jobState(server, pushed.jid), 'completed');
  });

  test('defaults: queue "default", retry 25 (missing or null), created_at kept when given', async () => {
    const a = { jid: jidOf('dflt'), jobtype: 'D', args: [] };
    const b = { jid: jidOf('dflt'), jobtype: 'D', args: [], retry: null, created_at: '2021-05-06T07:08:09.123456Z' };
    await push(c, a);
    await push(c, b);
    const ga = await fetchJob(c, 'default');
    const gb = await fetchJob(c, 'default');
    assert.deepEqual([ga.jid, gb.jid], [a.jid, b.jid]);
    assert.equal(ga.queue, 'default');
    assert.equal(ga.retry, 25);
    assert.equal(gb.retry, 25);
    assert.equal(Date.parse(gb.created_at), Date.parse('2021-05-06T07:08:09.123Z'));
    assert.deepEqual(Object.keys(ga).sort(), ['args', 'created_at', 'enqueued_at', 'jid', 'jobtype', 'queue', 'retry']);
    for (const j of [a, b]) await okCmd(c, `ACK {"jid":"${j.jid}"}`);
  });

  test('FETCH on empty queues blocks about 2 s, then $-1', async () => {
    const ms = await fetchNone(c, `${fresh('empty')} ${fresh('empty')}`);
    assert.ok(ms >= 1500 && ms < 4000, `blocked ${ms} ms`);
  });

  test('a FETCH that is waiting gets a job pushed meanwhile on another connection', async () => {
    const q = fresh('wake');
    const other = await client(server);
    const t0 = Date.now();
    const pending = c.cmd(`FETCH ${fresh('none')} ${q}`);
    await h.sleep(300);
    const j = await push(other, job({ queue: q }));
    const r = await pending;
    assert.equal(JSON.parse(r.s).jid, j.jid);
    assert.ok(Date.now() - t0 < 1800, 'woken before the 2 s block ended');
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
    other.destroy();
  });

  test('FETCH honours the queue order: q1 before q2 whatever the push order', async () => {
    const q1 = fresh('q1'); const q2 = fresh('q2');
    const in2 = await push(c, job({ queue: q2 }));
    const in1 = await push(c, job({ queue: q1 }));
    assert.equal((await fetchJob(c, `${q1} ${q2}`)).jid, in1.jid);
    assert.equal((await fetchJob(c, `${q1} ${q2}`)).jid, in2.jid);
    const again2 = await push(c, job({ queue: q2 }));
    const again1 = await push(c, job({ queue: q1 }));
    assert.equal((await fetchJob(c, `${q2} ${q1}`)).jid, again2.jid, 'the other order');
    assert.equal((await fetchJob(c, `${q2} ${q1}`)).jid, again1.jid);
    for (const j of [in1, in2, again1, again2]) await okCmd(c, `ACK {"jid":"${j.jid}"}`);
  });

  test('QUEUE PAUSE skips the queue for FETCH (PUSH still works), RESUME brings it back; lower-case subcommands work', async () => {
    const q = fresh('pause'); const other = fresh('other');
    const j = await push(c, job({ queue: q }));
    await okCmd(c, `QUEUE PAUSE ${q}`);
    const j2 = await push(c, job({ queue: q }));
    const o = await push(c, job({ queue: other }));
    assert.equal((await fetchJob(c, `${q} ${other}`)).jid, o.jid, 'the paused queue is skipped');
    await fetchNone(c, q);
    assert.equal(await jobState(server, j.jid), 'queued');
    await okCmd(c, `QUEUE RESUME ${q}`);
    assert.equal((await fetchJob(c, q)).jid, j.jid);
    await okCmd(c, `QUEUE pause ${q}`);
    await fetchNone(c, q);
    await okCmd(c, `QUEUE resume ${q}`);
    assert.equal((await fetchJob(c, q)).jid, j2.jid);
    await okCmd(c, `QUEUE PAUSE ${fresh('nosuch')}`, 'pausing an unknown queue is silently fine');
    for (const x of [j, j2, o]) await okCmd(c, `ACK {"jid":"${x.jid}"}`);
  });

  test('QUEUE PAUSE * and RESUME * cover every queue', async () => {
    const q = fresh('star');
    const j = await push(c, job({ queue: q }));
    await okCmd(c, 'QUEUE PAUSE *');
    await fetchNone(c, q);
    await okCmd(c, 'QUEUE RESUME *');
    assert.equal((await fetchJob(c, q)).jid, j.jid);
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
  });

  test('QUEUE REMOVE deletes the queue\'s jobs (several queues in one command)', async () => {
    const q = fresh('rm'); const q2 = fresh('rm'); const keep = fresh('keep');
    const a = await push(c, job({ queue: q }));
    const b = await push(c, job({ queue: q }));
    const d = await push(c, job({ queue: q2 }));
    const k = await push(c, job({ queue: keep }));
    await okCmd(c, `QUEUE REMOVE ${q} ${q2}`);
    for (const x of [a, b, d]) assert.equal(await jobState(server, x.jid), 'gone', `${x.jid} removed`);
    assert.equal(await jobState(server, k.jid), 'queued', 'other queues untouched');
    const i = await info(c);
    assert.ok(!i.faktory.queues[q], `INFO has no jobs in ${q}: ${JSON.stringify(i.faktory.queues)}`);
    assert.equal((await fetchJob(c, `${q} ${keep}`)).jid, k.jid);
    await okCmd(c, `ACK {"jid":"${k.jid}"}`);
  });

  test('QUEUE LATENCY q -> bulk {"q":<seconds>}; several queues; unknown ones are 0', async () => {
    const q = fresh('lat'); const none = fresh('nolat');
    await push(c, job({ queue: q }));
    await h.sleep(300);
    const r = await c.cmd(`QUEUE LATENCY ${q}`);
    assert.match(r.raw, new RegExp(`^\\$\\d+\\r\\n\\{"${q}":-?[0-9.eE+-]+\\}\\r\\n$`));
    const l = bulkJSON(r);
    assert.deepEqual(Object.keys(l), [q]);
    assert.equal(typeof l[q], 'number');
    assert.ok(l[q] >= 0.2 && l[q] < 30, `latency ${l[q]}`);
    const both = bulkJSON(await c.cmd(`QUEUE LATENCY ${q} ${none}`));
    assert.deepEqual(Object.keys(both), [q, none]);
    assert.equal(both[none], 0);
    await okCmd(c, `QUEUE REMOVE ${q}`);
  });

  test('PUSHB: {} when all succeed; otherwise the rejection map (the reference transcript, byte for byte)', async () => {
    const q = fresh('pushb');
    const ok1 = job({ queue: q }); const ok2 = job({ queue: q });
    const r = await c.cmd('PUSHB ' + JSON.stringify([ok1, ok2]));
    assert.equal(r.raw, '$2\r\n{}\r\n');
    const good = job({ queue: q, jid: jidOf('aaaaaaaa1') });
    const r2 = await c.cmd('PUSHB ' + JSON.stringify([good, { jid: 'short', jobtype: 'X', args: [] }]));
    assert.equal(r2.raw, '$53\r\n{"short":"jobs must have a reasonable jid parameter"}\r\n');
    const bad = jidOf('bad');
    const r3 = await c.cmd('PUSHB ' + JSON.stringify([{ jid: bad, jobtype: 'X', args: null }, { jid: jidOf('bq'), jobtype: 'X', args: [], queue: 'no way' }]));
    const m = bulkJSON(r3);
    assert.equal(m[bad], 'jobs must have an args parameter');
    assert.equal(Object.keys(m).length, 2);
    assert.ok(Object.values(m).includes('queue names must match \\A[a-zA-Z0-9._-]+\\z'));
    assert.equal((await c.cmd('PUSHB []')).raw, '$2\r\n{}\r\n', 'an empty batch');
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await fetchJob(c, q)).jid);
    assert.deepEqual(got, [ok1.jid, ok2.jid, good.jid]);
    for (const jid of got) await okCmd(c, `ACK {"jid":"${jid}"}`);
  });

  test('ACK of an unknown (or not reserved) jid -> +OK; ACK twice -> +OK', async () => {
    await okCmd(c, `ACK {"jid":"${jidOf('ghost')}"}`);
    const q = fresh('ack');
    const j = await push(c, job({ queue: q }));
    await okCmd(c, `ACK {"jid":"${j.jid}"}`, 'ACK of a queued job');
    assert.equal(await jobState(server, j.jid), 'queued', 'an unreserved job is not acked');
    await fetchJob(c, q);
    await okCmd(c, `ACK {"jid":"${j.jid}","result":{"sum":3}}`);
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
    const rj = await h.getJob(server, j.jid);
    assert.equal(rj.state, 'completed');
    assert.deepEqual(rj.result, { sum: 3 }, 'the ACK result extension is stored');
  });

  test('FAIL: +OK; the job goes to retry with Faktory\'s error fields; FAIL again -> Job not found', async () => {
    const q = fresh('fail');
    const j = await push(c, job({ queue: q }));
    await fetchJob(c, q);
    const bt = Array.from({ length: 60 }, (_, i) => `line ${i}`);
    await okCmd(c, 'FAIL ' + JSON.stringify({ jid: j.jid, errtype: 'RuntimeError', message: 'boom', backtrace: bt }));
    const rj = await h.getJob(server, j.jid);
    assert.equal(rj.state, 'retry');
    assert.equal(rj.error.message, 'boom');
    assert.equal(rj.error.type, 'RuntimeError');
    assert.equal(rj.error.backtrace.length, 50, 'backtrace kept to 50 lines');
    const delay = (Date.parse(rj.run_at) - Date.now()) / 1000;
    assert.ok(delay > 10 && delay <= 45, `first retry in 15..44 s: ${delay}`);
    assertErr(await c.cmd(`FAIL {"jid":"${j.jid}"}`), 'Job not found ' + j.jid);
    // retry 0: deleted at the first failure; retry -1: dead at once
    const z = await push(c, job({ queue: q, retry: 0 }));
    await fetchJob(c, q);
    await okCmd(c, `FAIL {"jid":"${z.jid}","errtype":"","message":""}`);
    assert.equal(await jobState(server, z.jid), 'gone', 'retry 0 is thrown away');
    const d = await push(c, job({ queue: q, retry: -1 }));
    await fetchJob(c, q);
    await okCmd(c, `FAIL {"jid":"${d.jid}"}`);
    const dj = await h.getJob(server, d.jid);
    assert.equal(dj.state, 'dead');
    assert.equal(dj.error.message, 'unknown', 'an empty message becomes "unknown"');
  });

  test('scheduled jobs: at in the future is not fetched; it runs once due', async () => {
    const q = fresh('sched');
    const far = await push(c, job({ queue: q, at: new Date(Date.now() + 3600e3).toISOString() }));
    const soon = await push(c, job({ queue: q, at: new Date(Date.now() + 1000).toISOString() }));
    assert.equal(await jobState(server, far.jid), 'scheduled');
    assert.equal(await jobState(server, soon.jid), 'scheduled');
    assert.ok((await info(c)).faktory.sets.scheduled >= 2);
    let got = null;
    const deadline = Date.now() + 12000;
    while (!got && Date.now() < deadline) {
      const r = await c.cmd('FETCH ' + q, 8000);
      if (r.s !== null) got = JSON.parse(r.s);
    }
    assert.ok(got, 'the due job was fetched');
    assert.equal(got.jid, soon.jid);
    assert.equal(await jobState(server, far.jid), 'scheduled', 'the far one waits');
    await okCmd(c, `ACK {"jid":"${soon.jid}"}`);
  });

  test('custom.unique_for: a second push of the same jobtype+args+queue -> -NOTUNIQUE Job not unique', async () => {
    const q = fresh('uniq');
    const a = job({ queue: q, jobtype: 'U', args: [1], custom: { unique_for: 60 } });
    await push(c, a);
    const r = await c.cmd('PUSH ' + JSON.stringify({ ...a, jid: jidOf('uniq2') }));
    assert.equal(r.raw, '-NOTUNIQUE Job not unique\r\n');
    await push(c, { ...a, jid: jidOf('uniq3'), args: [2] });
    await okCmd(c, `QUEUE REMOVE ${q}`);
  });

  // The engine's long-poll takes at most 32 queues (as POST /v1/fetch):
  // more is an error, never a silent cut (it once dropped the rest).
  test('FETCH with more than 32 queues is refused; 32 are served, the last one too', async () => {
    const qs = Array.from({ length: 40 }, () => fresh('many'));
    const r = await c.cmd('FETCH ' + qs.join(' '), 8000);
    assert.equal(r.raw, '-ERR FETCH takes at most 32 queues\r\n');
    const j = await push(c, job({ queue: qs[31] }));
    const r2 = await c.cmd('FETCH ' + qs.slice(0, 32).join(' '), 8000);
    assert.equal(JSON.parse(r2.s).jid, j.jid);
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
  });

  // A client that goes away while its FETCH blocks must not take the next
  // job (it once did: reading stopped during the wait, so the close went
  // unseen and the job sat "active" for its whole reservation).
  test('a client that goes away while its FETCH blocks does not take the next job', async () => {
    const q = fresh('gone');
    const w = await client(server);
    await w.send('FETCH ' + q);
    await h.sleep(300);
    w.destroy();
    await h.sleep(500);
    const j = await push(c, job({ queue: q }));
    assert.equal(await jobState(server, j.jid), 'queued', 'not handed to the dead connection');
    assert.equal((await fetchJob(c, q)).jid, j.jid);
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
  });

  test('ACK and FAIL from another connection than the one that fetched (Faktory does not check)', async () => {
    const q = fresh('xack');
    const w = await client(server, { wid: fresh('xw') });
    const a = await push(c, job({ queue: q }));
    const b = await push(c, job({ queue: q }));
    await fetchJob(w, q);
    await fetchJob(w, q);
    await okCmd(c, `ACK {"jid":"${a.jid}"}`);
    await okCmd(c, `FAIL {"jid":"${b.jid}","message":"m","errtype":"t"}`);
    assert.equal(await jobState(server, a.jid), 'completed');
    assert.equal(await jobState(server, b.jid), 'retry');
    w.destroy();
  });

  test('at in RFC 3339 with nanoseconds or an offset; reserve_for 0 -> 1800 s, below 60 -> 60 s', async () => {
    const q = fresh('at');
    const past = await push(c, job({ queue: q, at: '2020-01-01T00:00:00.123456789+02:00' }));
    assert.equal(await jobState(server, past.jid), 'queued', 'a past at (ns, offset) queues at once');
    // an instant two hours ahead, written as local time at +01:00 with nanoseconds
    const when = Math.ceil(Date.now() / 1000) * 1000 + 7200e3;
    const at = new Date(when + 3600e3).toISOString().slice(0, 19) + '.250000000+01:00';
    const fut = await push(c, job({ queue: q, at }));
    const rj = await h.getJob(server, fut.jid);
    assert.equal(rj.state, 'scheduled');
    assert.equal(h.parseTime(rj.run_at), when + 250, `run_at ${rj.run_at} for ${at}`);
    const z = await push(c, job({ queue: q, reserve_for: 0 }));
    const s = await push(c, job({ queue: q, reserve_for: 30 }));
    assert.equal((await fetchJob(c, q)).jid, past.jid);
    const gz = await fetchJob(c, q);
    const gs = await fetchJob(c, q);
    assert.deepEqual([gz.jid, gs.jid], [z.jid, s.jid]);
    const lz = Date.parse((await h.getJob(server, z.jid)).lease_expires_at) - Date.now();
    const ls = Date.parse((await h.getJob(server, s.jid)).lease_expires_at) - Date.now();
    assert.ok(lz > 1790e3 && lz <= 1800e3, `reserve_for 0 -> ${lz} ms`);
    assert.ok(ls > 50e3 && ls <= 60e3, `reserve_for 30 -> ${ls} ms`);
    for (const x of [past, z, s]) await okCmd(c, `ACK {"jid":"${x.jid}"}`);
    await okCmd(c, `QUEUE REMOVE ${q}`);
  });

  test('custom.expires_at in the past: the job is not handed out', async () => {
    const q = fresh('exp');
    const old = await push(c, job({ queue: q, custom: { expires_at: new Date(Date.now() - 1000).toISOString() } }));
    const live = await push(c, job({ queue: q }));
    assert.equal((await fetchJob(c, q)).jid, live.jid);
    assert.equal(await jobState(server, old.jid), 'cancelled');
    await okCmd(c, `ACK {"jid":"${live.jid}"}`);
  });

  test('BEAT: +OK while running; current_state quiet -> $17 {"state":"quiet"} and it never goes back', async () => {
    const wid = fresh('w');
    const w = await client(server, { wid, pid: 1, labels: [] });
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}"}`)).raw, OK);
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","rss_kb":1234}`)).raw, OK);
    const quiet = '$17\r\n{"state":"quiet"}\r\n';
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","current_state":"quiet"}`)).raw, quiet);
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}"}`)).raw, quiet, 'stays quiet');
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","current_state":"running"}`)).raw, quiet, 'no way back to running');
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","current_state":"terminate"}`)).raw, '$21\r\n{"state":"terminate"}\r\n');
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","current_state":"quiet"}`)).raw, '$21\r\n{"state":"terminate"}\r\n', 'no way back to quiet');
    // a producer connection may BEAT for a known worker too
    assert.equal((await c.cmd(`BEAT {"wid":"${wid}"}`)).raw, '$21\r\n{"state":"terminate"}\r\n');
    w.destroy();
  });

  test('END: the socket closes with no reply', async () => {
    const e = await client(server);
    const had = e.received.length;
    await e.send('END');
    assert.ok(await e.waitClosed(3000), 'closed');
    assert.equal(e.received.length, had, 'no bytes after END');
    // END with commands pipelined behind it: none of them run
    const e2 = await client(server);
    const n = e2.received.length;
    const j = job({ queue: fresh('afterend') });
    await e2.write('END\r\nPUSH ' + JSON.stringify(j) + '\r\n');
    assert.ok(await e2.waitClosed(3000));
    assert.equal(e2.received.length, n);
    assert.equal(await jobState(server, j.jid), 'gone', 'the PUSH after END did not run');
  });

  test('INFO: the keys and types of §1.10', async () => {
    const q = fresh('info');
    await push(c, job({ queue: q }));
    await push(c, job({ queue: q }));
    const r = await c.cmd('INFO');
    const i = bulkJSON(r, 'INFO');
    assert.ok(!r.s.includes('\n'));
    assert.match(i.now, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(i.now) - Date.now()) < 60e3);
    assert.match(i.server_utc_time, /^\d\d:\d\d:\d\d UTC$/);
    assert.equal(typeof i.faktory, 'object');
    assert.equal(typeof i.faktory.queues, 'object');
    for (const v of Object.values(i.faktory.queues)) assert.ok(Number.isInteger(v), 'queue sizes are integers');
    assert.equal(i.faktory.queues[q], 2);
    assert.deepEqual(Object.keys(i.faktory.sets).sort(), ['dead', 'retries', 'scheduled', 'working']);
    for (const v of Object.values(i.faktory.sets)) assert.ok(Number.isInteger(v));
    assert.equal(typeof i.faktory.tasks, 'object');
    for (const k of ['total_failures', 'total_processed', 'total_enqueued', 'total_queues']) {
      assert.ok(Number.isInteger(i.faktory[k]), `faktory.${k} is an integer: ${i.faktory[k]}`);
    }
    assert.ok(i.faktory.total_enqueued >= 2);
    assert.equal(i.faktory.total_queues, Object.keys(i.faktory.queues).length);
    assert.ok(i.faktory.total_processed >= 1, 'ACKs counted');
    assert.ok(i.faktory.total_failures >= 1, 'FAILs counted');
    assert.equal(typeof i.server.description, 'string');
    assert.equal(typeof i.server.faktory_version, 'string');
    for (const k of ['uptime', 'connections', 'command_count', 'used_memory_mb']) {
      assert.ok(Number.isInteger(i.server[k]), `server.${k} is an integer: ${i.server[k]}`);
    }
    assert.ok(i.server.connections >= 1);
    assert.ok(i.server.command_count >= 3);
    await okCmd(c, `QUEUE REMOVE ${q}`);
  });

  test('TRACK SET/GET on an active job; REST shows the progress; reserve_until extends the lease', async () => {
    const q = fresh('track');
    const j = await push(c, job({ queue: q }));
    const got = await fetchJob(c, q);
    assert.equal(got.jid, j.jid);
    const prior = await h.getJob(server, j.jid);
    await okCmd(c, 'TRACK SET ' + JSON.stringify({ jid: j.jid, percent: 50, desc: 'half way' }));
    const t = bulkJSON(await c.cmd('TRACK GET ' + j.jid), 'TRACK GET');
    assert.equal(t.jid, j.jid);
    assert.equal(t.percent, 50);
    assert.equal(t.desc, 'half way');
    assert.equal(t.state, 'working');
    assert.match(t.updated_at, /^\d{4}-\d\d-\d\dT/);
    const rj = await h.getJob(server, j.jid);
    assert.equal(rj.progress.percent, 50);
    assert.equal(rj.progress.message, 'half way');
    const until = new Date(Date.now() + 2 * 3600e3);
    await okCmd(c, 'TRACK SET ' + JSON.stringify({ jid: j.jid, percent: 60, reserve_until: until.toISOString() }));
    const extended = await h.getJob(server, j.jid);
    assert.ok(Date.parse(extended.lease_expires_at) > Date.parse(prior.lease_expires_at) + 3600e3,
      `lease extended: ${prior.lease_expires_at} -> ${extended.lease_expires_at}`);
    assertErr(await c.cmd('TRACK SET ' + JSON.stringify({ jid: j.jid, reserve_until: new Date(Date.now() + 3 * 86400e3).toISOString() })), /^ERR \S/, 'more than a day ahead');
    await okCmd(c, `ACK {"jid":"${j.jid}"}`);
    assert.equal(bulkJSON(await c.cmd('TRACK GET ' + j.jid)).state, 'success');
    assertErr(await c.cmd('TRACK SET ' + JSON.stringify({ jid: j.jid, percent: 70 })), /^ERR \S/, 'TRACK SET on a finished job');
    assertErr(await c.cmd('TRACK SET ' + JSON.stringify({ jid: jidOf('ghost'), percent: 70 })), /^ERR \S/, 'TRACK SET on an unknown job');
  });

  test('BATCH NEW -> +<bid>; jobs join with custom.bid; STATUS; COMMIT; no more jobs after commit; success callback', async () => {
    const q = fresh('batch');
    const cbq = fresh('batchcb');
    const success = { jid: jidOf('cb'), jobtype: 'BatchDone', args: ['ok'], queue: cbq };
    const r = await c.cmd('BATCH NEW ' + JSON.stringify({ description: 'raw batch', success }));
    assert.equal(r.t, '+', `BATCH NEW -> ${JSON.stringify(r)}`);
    const bid = r.s;
    assert.match(bid, /^\S+$/);
    assert.equal((await c.cmd('BATCH OPEN ' + bid)).raw, `+${bid}\r\n`, 'OPEN an open batch');
    const a = await push(c, job({ queue: q, custom: { bid } }));
    const b = await push(c, job({ queue: q, custom: { bid, other: 1 } }));
    let st = bulkJSON(await c.cmd('BATCH STATUS ' + bid), 'BATCH STATUS');
    assert.deepEqual(Object.keys(st).sort(), ['bid', 'complete_st', 'created_at', 'description', 'failed', 'parent_bid', 'pending', 'success_st', 'total']);
    assert.equal(st.bid, bid);
    assert.equal(st.description, 'raw batch');
    assert.equal(st.total, 2);
    assert.equal(st.pending, 2);
    assert.equal(st.failed, 0);
    assert.equal(st.complete_st, '');
    assert.equal(st.success_st, '');
    assert.equal((await h.getJob(server, a.jid)).batch, bid, 'REST shows the batch');
    await okCmd(c, 'BATCH COMMIT ' + bid);
    assertErr(await c.cmd('PUSH ' + JSON.stringify(job({ queue: q, custom: { bid } }))), /^ERR \S/, 'push into a committed batch');
    assertErr(await c.cmd('PUSH ' + JSON.stringify(job({ queue: q, custom: { bid: '01JAAAAAAAAAAAAAAAAAAAAAAA' } }))), /^ERR \S/, 'push into an unknown batch');
    for (const x of [a, b]) {
      assert.equal((await fetchJob(c, q)).jid, x.jid);
      await okCmd(c, `ACK {"jid":"${x.jid}"}`);
    }
    st = bulkJSON(await c.cmd('BATCH STATUS ' + bid));
    assert.equal(st.total, 2);
    assert.equal(st.pending, 0);
    assert.equal(st.complete_st, '1');
    assert.equal(st.success_st, '1');
    const cb = await fetchJob(c, cbq);
    assert.equal(cb.jobtype, 'BatchDone');
    assert.deepEqual(cb.args, ['ok']);
    await okCmd(c, `ACK {"jid":"${cb.jid}"}`);
  });
});

// ---------------------------------------------------------------------------

describe('MUTATE', () => {
  let server, c;
  before(async () => { server = await h.startServer(); c = await client(server); });
  after(() => teardown([server], [c]));
  const mutate = (o) => okCmd(c, 'MUTATE ' + JSON.stringify(o));

  test('kill on retries by jobtype: only that type goes to dead', async () => {
    const q = fresh('mk');
    const a = await makeRetry(server, c, job({ queue: q, jobtype: 'KillMe' }));
    const b = await makeRetry(server, c, job({ queue: q, jobtype: 'KeepMe' }));
    await mutate({ cmd: 'kill', target: 'retries', filter: { jobtype: 'KillMe' } });
    assert.equal(await jobState(server, a.jid), 'dead');
    assert.equal(await jobState(server, b.jid), 'retry');
  });

  test('requeue on retries by jids: the job is queued at once and fetchable', async () => {
    const q = fresh('mrq');
    const a = await makeRetry(server, c, job({ queue: q, jobtype: 'Rq' }));
    const b = await makeRetry(server, c, job({ queue: q, jobtype: 'Rq' }));
    await mutate({ cmd: 'requeue', target: 'retries', filter: { jids: [b.jid] } });
    assert.equal(await jobState(server, b.jid), 'queued');
    assert.equal(await jobState(server, a.jid), 'retry');
    const got = await fetchJob(c, q);
    assert.equal(got.jid, b.jid);
    assert.equal(got.failure.retry_count, 0, 'it failed once before');
    assert.equal(got.failure.remaining, 25);
    assert.equal(got.failure.message, 'boom');
    assert.equal(got.failure.errtype, 'E');
    h.parseTime(got.failure.failed_at, 'failure.failed_at');
    assert.equal(got.retry, 25);
    await okCmd(c, `ACK {"jid":"${b.jid}"}`);
  });

  test('a jids filter wins over jobtype', async () => {
    const q = fresh('mjw');
    const a = await makeDead(server, c, job({ queue: q, jobtype: 'Jw' }));
    const b = await makeDead(server, c, job({ queue: q, jobtype: 'Jw' }));
    await mutate({ cmd: 'discard', target: 'dead', filter: { jids: [a.jid], jobtype: 'NotThisType' } });
    assert.equal(await jobState(server, a.jid), 'gone');
    assert.equal(await jobState(server, b.jid), 'dead');
  });

  test('discard on dead by regexp glob *foo*', async () => {
    const q = fresh('mgl');
    const a = await makeDead(server, c, job({ queue: q, jobtype: 'Gl', args: ['xfooy'] }));
    const b = await makeDead(server, c, job({ queue: q, jobtype: 'Gl', args: ['bar'] }));
    await mutate({ cmd: 'discard', target: 'dead', filter: { regexp: '*xfooy*' } });
    assert.equal(await jobState(server, a.jid), 'gone');
    assert.equal(await jobState(server, b.jid), 'dead');
  });

  test('requeue on dead by glob on the jid; kill on retries by glob', async () => {
    const q = fresh('mgd');
    const a = await makeDead(server, c, job({ queue: q, jobtype: 'Gd', jid: jidOf('zebra') }));
    const b = await makeRetry(server, c, job({ queue: q, jobtype: 'Gd', args: [{ tag: 'foo' }] }));
    const b2 = await makeRetry(server, c, job({ queue: q, jobtype: 'Gd', args: [{ tag: 'baz' }] }));
    await mutate({ cmd: 'requeue', target: 'dead', filter: { regexp: '*zebra*' } });
    assert.equal(await jobState(server, a.jid), 'queued');
    await mutate({ cmd: 'kill', target: 'retries', filter: { regexp: '*"tag":"foo"*' } });
    assert.equal(await jobState(server, b.jid), 'dead');
    assert.equal(await jobState(server, b2.jid), 'retry');
    assert.equal((await fetchJob(c, q)).jid, a.jid);
    await okCmd(c, `ACK {"jid":"${a.jid}"}`);
  });

  test('scheduled: requeue by jobtype, kill by jids, discard by glob', async () => {
    const q = fresh('msc');
    const a = await makeScheduled(server, c, job({ queue: q, jobtype: 'ScA' }));
    const b = await makeScheduled(server, c, job({ queue: q, jobtype: 'ScB' }));
    const d = await makeScheduled(server, c, job({ queue: q, jobtype: 'ScC', args: ['foo-sched'] }));
    const e = await makeScheduled(server, c, job({ queue: q, jobtype: 'ScC', args: ['other'] }));
    await mutate({ cmd: 'requeue', target: 'scheduled', filter: { jobtype: 'ScA' } });
    assert.equal(await jobState(server, a.jid), 'queued');
    await mutate({ cmd: 'kill', target: 'scheduled', filter: { jids: [b.jid] } });
    assert.equal(await jobState(server, b.jid), 'dead');
    await mutate({ cmd: 'discard', target: 'scheduled', filter: { regexp: '*foo-sched*' } });
    assert.equal(await jobState(server, d.jid), 'gone');
    assert.equal(await jobState(server, e.jid), 'scheduled');
    assert.equal((await fetchJob(c, q)).jid, a.jid);
    await okCmd(c, `ACK {"jid":"${a.jid}"}`);
  });

  test('a filter that matches nothing changes nothing; a MUTATE on the wrong set does not touch others', async () => {
    const q = fresh('mno');
    const a = await makeRetry(server, c, job({ queue: q, jobtype: 'Nm' }));
    await mutate({ cmd: 'discard', target: 'retries', filter: { jobtype: 'NoSuchType' } });
    await mutate({ cmd: 'discard', target: 'dead', filter: { jids: [a.jid] } });
    await mutate({ cmd: 'discard', target: 'scheduled', filter: { jobtype: 'Nm' } });
    assert.equal(await jobState(server, a.jid), 'retry');
  });

  test('clear ignores the filter and empties the set; filter {} means every job', async () => {
    const q = fresh('mcl');
    const s1 = await makeScheduled(server, c, job({ queue: q, jobtype: 'Cl1' }));
    const s2 = await makeScheduled(server, c, job({ queue: q, jobtype: 'Cl2' }));
    await mutate({ cmd: 'clear', target: 'scheduled', filter: { jobtype: 'Cl1' } });
    assert.equal(await jobState(server, s1.jid), 'gone');
    assert.equal(await jobState(server, s2.jid), 'gone');
    const r = await makeRetry(server, c, job({ queue: q, jobtype: 'Cl3' }));
    await mutate({ cmd: 'discard', target: 'retries', filter: {} });
    assert.equal(await jobState(server, r.jid), 'gone');
    await makeDead(server, c, job({ queue: q, jobtype: 'Cl4' }));
    await mutate({ cmd: 'clear', target: 'dead' });
    await mutate({ cmd: 'clear', target: 'retries' });
    const i = await info(c);
    assert.deepEqual(i.faktory.sets, { scheduled: 0, retries: 0, dead: 0, working: 0 });
  });
});

// ---------------------------------------------------------------------------

describe('FLUSH', () => {
  let server;
  before(async () => { server = await h.startServer(); });
  after(() => teardown([server]));

  test('FLUSH -> +OK and INFO shows nothing afterwards', async () => {
    const c = await client(server);
    const q = fresh('fl');
    const queued = await push(c, job({ queue: fresh('flq') }));
    await makeScheduled(server, c, job({ queue: q }));
    await makeRetry(server, c, job({ queue: q }));
    await makeDead(server, c, job({ queue: q }));
    const working = await push(c, job({ queue: q }));
    assert.equal((await fetchJob(c, q)).jid, working.jid);
    let i = await info(c);
    assert.equal(i.faktory.sets.working, 1);
    assert.equal(i.faktory.queues[queued.queue], 1);
    await okCmd(c, 'FLUSH');
    i = await info(c);
    assert.deepEqual(i.faktory.sets, { scheduled: 0, retries: 0, dead: 0, working: 0 }, JSON.stringify(i.faktory));
    for (const [name, n] of Object.entries(i.faktory.queues)) assert.equal(n, 0, `queue ${name} after FLUSH`);
    assert.equal(i.faktory.total_enqueued, 0);
    assert.equal(i.faktory.total_processed, 0);
    assert.equal(i.faktory.total_failures, 0);
    for (const j of [queued, working]) assert.equal(await jobState(server, j.jid), 'gone');
    await fetchNone(c, `${q} ${queued.queue}`);
    c.destroy();
  });
});

// ---------------------------------------------------------------------------

describe('workers', () => {
  let server, ttl;
  before(async () => { [server, ttl] = await startServers({}, { args: ['--faktory-worker-ttl', '2s'] }); });
  after(() => teardown([server, ttl]));

  const findWorker = async (s, wid) => {
    const res = await h.api(s, 'GET', '/v1/workers');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(Array.isArray(res.body.workers));
    return res.body.workers.find((w) => w.wid === wid) || null;
  };

  // A long wid once lost its tail as the lease holder's name, so the
  // worker's jobs did not show; past 135 bytes HELLO is refused.
  test('a 100-byte wid holds its jobs under its whole name; a 200-byte one is refused', async () => {
    const wid = fresh('long').padEnd(100, 'x');
    const w = await client(server, { wid });
    const producer = await client(server);
    const q = fresh('lq');
    const j = await push(producer, job({ queue: q }));
    await fetchJob(w, q);
    const rec = await findWorker(server, wid);
    assert.deepEqual(rec.jobs.map((x) => x.jid), [j.jid]);
    assert.equal((await h.getJob(server, j.jid)).worker, wid);
    await okCmd(w, `ACK {"jid":"${j.jid}"}`);
    const big = await open(server);
    const r = await big.cmd('HELLO ' + JSON.stringify({ v: 2, hostname: 'h', wid: 'w'.repeat(200) }));
    assert.equal(r.raw, '-ERR wid must be at most 135 bytes\r\n');
    assert.ok(await big.waitClosed(3000), "closed after the refusal");
    for (const x of [w, producer]) x.destroy();
  });

  test('GET /v1/workers lists a HELLO\'d worker and the job it holds after FETCH', async () => {
    const wid = fresh('wk');
    const w = await client(server, { wid, hostname: 'box-1', pid: 4242, labels: ['node', 'raw'] });
    const producer = await client(server);
    let rec = await findWorker(server, wid);
    assert.ok(rec, 'listed');
    assert.equal(rec.hostname, 'box-1');
    assert.equal(rec.pid, 4242);
    assert.deepEqual(rec.labels, ['node', 'raw']);
    assert.equal(rec.state, 'running');
    assert.equal(rec.connections, 1);
    h.parseTime(rec.started_at, 'started_at');
    h.parseTime(rec.last_beat_at, 'last_beat_at');
    assert.deepEqual(rec.jobs, []);
    const q = fresh('wq');
    const j = await push(producer, job({ queue: q, jobtype: 'Busy' }));
    await fetchJob(w, q);
    rec = await findWorker(server, wid);
    assert.equal(rec.jobs.length, 1);
    assert.equal(rec.jobs[0].jid, j.jid);
    assert.equal(rec.jobs[0].queue, q);
    assert.equal(rec.jobs[0].jobtype, 'Busy');
    h.parseTime(rec.jobs[0].started_at);
    assert.ok(h.parseTime(rec.jobs[0].reserved_until) > Date.now() + 1700e3, 'reserved for 1800 s');
    assert.equal((await h.getJob(server, j.jid)).worker, wid, 'REST names the worker as the holder');
    // a second connection with the same wid is one worker with two connections
    const w2 = await client(server, { wid, hostname: 'box-1', pid: 4242, labels: ['node', 'raw'] });
    assert.equal((await findWorker(server, wid)).connections, 2);
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}","rss_kb":2048}`)).raw, OK);
    assert.equal((await findWorker(server, wid)).rss_kb, 2048);
    await okCmd(w, `ACK {"jid":"${j.jid}"}`);
    assert.deepEqual((await findWorker(server, wid)).jobs, []);
    assert.equal(await findWorker(server, 'producer-has-no-wid'), null);
    for (const x of [w, w2, producer]) x.destroy();
  });

  test('POST /v1/workers/{wid}/quiet: next BEAT says quiet; FETCH gives $-1 after ~2 s with jobs queued, on every connection of the worker', async () => {
    const wid = fresh('wq');
    const w = await client(server, { wid, pid: 1, labels: [] });
    const w2 = await client(server, { wid, pid: 1, labels: [] });
    const q = fresh('quietq');
    const j = await push(w, job({ queue: q }));
    const res = await h.api(server, 'POST', `/v1/workers/${wid}/quiet`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.wid, wid);
    assert.equal(res.body.state, 'quiet');
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}"}`)).raw, '$17\r\n{"state":"quiet"}\r\n');
    for (const conn of [w, w2]) {
      const ms = await fetchNone(conn, q);
      assert.ok(ms >= 1500 && ms < 4000, `quiet FETCH blocked ${ms} ms`);
    }
    assert.equal(await jobState(server, j.jid), 'queued', 'the job stays queued');
    // quiet again is fine; the worker still ACKs/FAILs what it holds (none here), PUSH works
    assert.equal((await h.api(server, 'POST', `/v1/workers/${wid}/quiet`)).status, 200);
    await push(w, job({ queue: q }));
    const res2 = await h.api(server, 'POST', `/v1/workers/${wid}/terminate`);
    assert.equal(res2.status, 200);
    assert.equal(res2.body.state, 'terminate');
    assert.equal((await w2.cmd(`BEAT {"wid":"${wid}"}`)).raw, '$21\r\n{"state":"terminate"}\r\n');
    assert.equal((await h.api(server, 'POST', `/v1/workers/${wid}/quiet`)).body.state, 'terminate', 'never back to quiet');
    await fetchNone(w, q);
    // a new connection of the same worker inherits its state
    const w3 = await client(server, { wid, pid: 1, labels: [] });
    assert.equal((await w3.cmd(`BEAT {"wid":"${wid}"}`)).raw, '$21\r\n{"state":"terminate"}\r\n');
    await fetchNone(w3, q);
    w.destroy(); w2.destroy(); w3.destroy();
  });

  test('POST /v1/workers/{wid}/terminate on a running worker; unknown wid -> 404', async () => {
    const wid = fresh('wt');
    const w = await client(server, { wid });
    const res = await h.api(server, 'POST', `/v1/workers/${wid}/terminate`);
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'terminate');
    assert.equal((await w.cmd(`BEAT {"wid":"${wid}"}`)).raw, '$21\r\n{"state":"terminate"}\r\n');
    for (const act of ['quiet', 'terminate']) {
      const r = await h.api(server, 'POST', `/v1/workers/nosuch${process.pid}/${act}`);
      h.assertError(r, 404, 'not_found', undefined, act);
    }
    w.destroy();
  });

  test('a worker whose connections all closed stays listed (0 connections) until the reaper drops it', async () => {
    // Faktory keeps the record until the heartbeat reaper drops it
    const wid = fresh('wgone');
    const w = await client(ttl, { wid });
    w.destroy();
    await h.sleep(200);
    const rec = await findWorker(ttl, wid);
    assert.ok(rec, 'still listed');
    assert.equal(rec.connections, 0);
    await h.waitFor(async () => (await findWorker(ttl, wid)) === null, 6000, 100, 'the reaper to drop it');
  });

  test('--faktory-worker-ttl 2s: a worker that does not BEAT is dropped and its connections closed; a BEATing one stays', async () => {
    const lazy = fresh('lazy'); const busy = fresh('busy');
    const l1 = await client(ttl, { wid: lazy });
    const l2 = await client(ttl, { wid: lazy });
    const b = await client(ttl, { wid: busy });
    const t0 = Date.now();
    let beating = true;
    const beats = (async () => {
      while (beating) {
        const r = await b.cmd(`BEAT {"wid":"${busy}"}`).catch((e) => e);
        if (beating) assert.equal(r.raw, OK, `BEAT of the live worker -> ${r.message || JSON.stringify(r)}`);
        await h.sleep(400);
      }
    })();
    // FETCH is no heartbeat: the second connection keeps fetching and is closed all the same
    const fetching = (async () => {
      for (;;) {
        const r = await l2.cmd(`FETCH ${fresh('lz')}`, 5000).catch(() => null);
        if (r === null) return;
        assert.equal(r.raw, '$-1\r\n');
      }
    })();
    assert.ok(await l1.waitClosed(5000), 'the lazy worker\'s first connection is closed within 5 s');
    assert.ok(await l2.waitClosed(1000), 'and its second, in the middle of a FETCH');
    await fetching;
    const ms = l1.closedAt - t0;
    assert.ok(ms >= 1500, `not before the ttl: ${ms} ms`);
    assert.equal(await findWorker(ttl, lazy), null, 'no longer listed');
    const p = await client(ttl);
    assertErr(await p.cmd(`BEAT {"wid":"${lazy}"}`), `unknown worker ${lazy}`);
    await h.sleep(2500);
    beating = false;
    await beats;
    assert.equal(b.closed, false, 'the BEATing worker is kept');
    assert.ok(await findWorker(ttl, busy));
    b.destroy(); p.destroy();
  });
});

// ---------------------------------------------------------------------------

describe('restart', () => {
  test('a reservation, a paused queue and the jobs survive a restart; ACK and FAIL after it work', async () => {
    let server = await h.startServer();
    const dataDir = server.dataDir;
    try {
      let c = await client(server);
      const q = fresh('rs'); const pq = fresh('rsp');
      const a = await push(c, job({ queue: q }));
      const b = await push(c, job({ queue: q }));
      const p = await push(c, job({ queue: pq }));
      assert.equal((await fetchJob(c, q)).jid, a.jid);
      assert.equal((await fetchJob(c, q)).jid, b.jid);
      await okCmd(c, `QUEUE PAUSE ${pq}`);
      c.destroy();
      assert.equal(await server.stop(), 0);
      server = await h.startServer({ dataDir });
      c = await client(server);
      assert.equal(await jobState(server, a.jid), 'active', 'still reserved');
      await okCmd(c, `ACK {"jid":"${a.jid}"}`);
      assert.equal(await jobState(server, a.jid), 'completed');
      await okCmd(c, `FAIL {"jid":"${b.jid}","message":"after restart","errtype":"E"}`);
      assert.equal(await jobState(server, b.jid), 'retry');
      await fetchNone(c, pq);
      await okCmd(c, `QUEUE RESUME ${pq}`);
      assert.equal((await fetchJob(c, pq)).jid, p.jid);
      c.destroy();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

// ---------------------------------------------------------------------------

test('--faktory off: the log says faktory=off and GET /v1/workers -> 404', async () => {
  const server = await h.startServer({ args: ['--faktory', 'off'] });
  try {
    assert.match(server.stderr, /msg=listening\S* .*faktory=off/);
    assert.equal(server.faktory, null);
    const res = await h.api(server, 'GET', '/v1/workers');
    h.assertError(res, 404, 'not_found');
    h.assertError(await h.api(server, 'POST', '/v1/workers/abc/quiet'), 404, 'not_found');
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
