// Shared helpers for the end-to-end suites: start the real synq binary on a
// free port with a fresh data directory, talk JSON to it, stop it.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BIN = process.env.SYNQ_BIN || path.resolve(__dirname, '../../synq');

// Starts `synq serve` on 127.0.0.1:0 (HTTP, and Faktory unless opts.args
// has --faktory) and resolves once it logs the bound addresses.
// opts.args: extra flags; opts.dataDir: reuse a data directory.
async function startServer(opts = {}) {
  const dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'synq-e2e-'));
  const extra = opts.args || [];
  // a free Faktory port too, unless the test picks one (servers run side by side)
  const faktory = extra.includes('--faktory') ? [] : ['--faktory', '127.0.0.1:0'];
  const args = ['serve', '--http', '127.0.0.1:0', '--data', dataDir,
    '--log-level', opts.logLevel || 'info', ...faktory, ...extra];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) } });
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('synq did not start:\n' + stderr)), 20000);
    proc.stderr.on('data', (d) => {
      stderr += d.toString();
      const m = stderr.match(/msg=listening\S* addr=(\S+)/);
      if (m) { clearTimeout(timer); resolve('http://' + m[1]); }
    });
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`synq exited ${code} ${sig}:\n${stderr}`)); });
  });
  proc.stdout.resume();
  const fm = stderr.match(/msg=listening\S* .*?faktory=(\S+)/);
  const faktoryAddr = fm && fm[1] !== 'off' ? fm[1] : null;
  const server = {
    url, proc, dataDir,
    // "127.0.0.1:PORT" of the Faktory listener (null when off), and its FAKTORY_URL
    faktory: faktoryAddr,
    faktoryUrl: faktoryAddr ? 'tcp://' + faktoryAddr : null,
    get stderr() { return stderr; },
    // SIGTERM and wait; resolves with the exit code.
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      return new Promise((resolve) => { proc.once('exit', (code) => resolve(code)); proc.kill(signal); });
    },
    async kill() { return server.stop('SIGKILL'); },
  };
  proc.removeAllListeners('exit');
  return server;
}

// fetch + JSON. Returns { status, headers, body } where body is parsed JSON when possible.
async function api(server, method, p, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!init.headers['content-type']) init.headers['content-type'] = 'application/json';
  }
  const res = await fetch(server.url + p, init);
  const text = await res.text();
  let parsed = text;
  try { parsed = text.length ? JSON.parse(text) : null; } catch { /* keep text */ }
  return { status: res.status, headers: res.headers, body: parsed };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Assertions shared by the suites.

const assert = require('node:assert/strict');

// RFC 3339, UTC, microseconds: "2026-11-22T20:53:00.123456Z".
const TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
// Server-made ids: 26 characters of Crockford base32 (ULID layout).
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

// Checks an error response: status, {"error":{"code","message"}} and, when
// given, the "field" of a validation error. `field` may be a string or an
// array of acceptable names. `what` labels the assertion messages.
function assertError(res, status, code, field, what = '') {
  const ctx = `${what} -> ${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, `status ${ctx}`);
  assert.ok(res.body && typeof res.body === 'object' && res.body.error && typeof res.body.error === 'object',
    `error body ${ctx}`);
  assert.equal(res.body.error.code, code, `error code ${ctx}`);
  assert.equal(typeof res.body.error.message, 'string', `error message ${ctx}`);
  assert.ok(res.body.error.message.length > 0, `error message empty ${ctx}`);
  if (field !== undefined) {
    const ok = Array.isArray(field) ? field.includes(res.body.error.field) : res.body.error.field === field;
    assert.ok(ok, `error field: want ${JSON.stringify(field)} ${ctx}`);
  }
}

// Parses a documented time field; asserts the format. Returns ms since epoch
// and the microseconds as a BigInt-free number (us since epoch, may lose
// sub-us precision, which the format does not have anyway).
function parseTime(s, what = 'time') {
  assert.equal(typeof s, 'string', `${what} should be a time string, got ${JSON.stringify(s)}`);
  assert.match(s, TIME_RE, `${what} format`);
  const ms = Date.parse(s.slice(0, 23) + 'Z');
  assert.ok(Number.isFinite(ms), `${what} parses`);
  return ms + Number(s.slice(23, 26)) / 1000;
}

// ---------------------------------------------------------------------------
// JSON API shortcuts.

// POST /v1/jobs and assert 201; returns the stored job.
async function enqueue(server, job) {
  const res = await api(server, 'POST', '/v1/jobs', job);
  assert.equal(res.status, 201, `enqueue ${JSON.stringify(job)} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// GET /v1/jobs/{id} and assert 200; returns the job. Ids are made of
// characters that are safe in a path segment, so they go in as they are.
async function getJob(server, id) {
  const res = await api(server, 'GET', '/v1/jobs/' + id);
  assert.equal(res.status, 200, `GET job ${id} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// POST /v1/fetch; returns the jobs handed out ([] on 204). Asserts 200|204.
async function fetchJobs(server, body) {
  const res = await api(server, 'POST', '/v1/fetch', body);
  assert.ok(res.status === 200 || res.status === 204, `fetch ${JSON.stringify(body)} -> ${res.status} ${JSON.stringify(res.body)}`);
  if (res.status === 204) return [];
  assert.ok(res.body && Array.isArray(res.body.jobs), `fetch body ${JSON.stringify(res.body)}`);
  assert.ok(res.body.jobs.length >= 1, 'a 200 fetch hands out at least one job');
  return res.body.jobs;
}

const ZERO_COUNTS = { scheduled: 0, queued: 0, active: 0, retry: 0, completed: 0, dead: 0, cancelled: 0, waiting: 0 };

// GET /v1/queues and return the named queue's entry, or null when absent.
async function getQueue(server, name) {
  const res = await api(server, 'GET', '/v1/queues');
  assert.equal(res.status, 200, `GET /v1/queues -> ${res.status}`);
  assert.ok(res.body && Array.isArray(res.body.queues), 'queues array');
  return res.body.queues.find((q) => q.name === name) || null;
}

// The named queue's counts; all zero when the queue is not listed.
async function queueCounts(server, name) {
  const q = await getQueue(server, name);
  return q ? q.counts : { ...ZERO_COUNTS };
}

// Lists every job matching the query string by following next_cursor.
// Returns { jobs, pages }. Guards against a cursor that never ends.
async function listAll(server, query, limit = 1000) {
  const jobs = [];
  const pages = [];
  let cursor = null;
  for (let i = 0; i < 10000; i++) {
    let p = `/v1/jobs?${query}${query ? '&' : ''}limit=${limit}`;
    if (cursor !== null) p += '&cursor=' + encodeURIComponent(cursor);
    const res = await api(server, 'GET', p);
    assert.equal(res.status, 200, `GET ${p} -> ${res.status} ${JSON.stringify(res.body)}`);
    assert.ok(Array.isArray(res.body.jobs), 'jobs array');
    assert.ok('next_cursor' in res.body, 'next_cursor present');
    assert.ok(res.body.jobs.length <= limit, 'page within limit');
    pages.push(res.body.jobs);
    jobs.push(...res.body.jobs);
    cursor = res.body.next_cursor;
    if (cursor === null) return { jobs, pages };
    assert.equal(typeof cursor, 'string', 'next_cursor is a string or null');
  }
  throw new Error('pagination did not end');
}

// Polls fn() until it returns a truthy value; returns it. Throws after
// timeoutMs with the last value seen.
async function waitFor(fn, timeoutMs = 10000, intervalMs = 50, what = 'condition') {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(intervalMs);
  }
}

// Runs worker(i) for i in [0, n) with at most `concurrency` in flight.
async function pool(n, concurrency, worker) {
  let next = 0;
  const runners = [];
  for (let c = 0; c < Math.min(concurrency, n); c++) {
    runners.push((async () => {
      while (next < n) { const i = next++; await worker(i); }
    })());
  }
  await Promise.all(runners);
}

// Waits until the job reaches one of `states` (a string or an array) on
// server; returns it. The timeout error carries the job, and worker's
// stderr when a worker (from spawnWorker) is given.
async function waitJobState(server, id, states, timeoutMs = 15000, worker = null) {
  const want = Array.isArray(states) ? states : [states];
  try {
    return await waitFor(async () => {
      const job = await getJob(server, id);
      return want.includes(job.state) ? job : null;
    }, timeoutMs, 50, `job ${id} in ${want.join('|')}`);
  } catch (e) {
    const job = await getJob(server, id);
    e.message += `\njob: ${JSON.stringify(job)}` + (worker ? `\nworker stderr:\n${worker.stderr}` : '');
    throw e;
  }
}

// ---------------------------------------------------------------------------
// The command line (docs/cli.md): `synq <command>` run to completion, and
// `synq work` running alongside a test.

// This process's environment without the variables that pick a server
// (SYNQ_SERVER, FAKTORY_URL, FAKTORY_PROVIDER), plus extra.
function cliEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of ['SYNQ_SERVER', 'FAKTORY_URL', 'FAKTORY_PROVIDER']) delete env[k];
  return Object.assign(env, extra);
}

// Runs `synq <argv>` to completion (20 s at most) with opts.input on stdin
// and opts.env as its whole environment (default: cliEnv()). Returns
// { status, stdout, stderr }; the test fails if it could not be spawned.
function runCli(argv, opts = {}) {
  const r = spawnSync(BIN, argv, { encoding: 'utf8', timeout: 20000, input: opts.input, env: opts.env || cliEnv() });
  assert.equal(r.error, undefined, `spawn ${argv.join(' ')}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Asserts a runCli result exited 0 with nothing on stderr (args name the
// command in the message); returns its stdout.
function cliOk(r, args) {
  assert.equal(r.status, 0, `synq ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

// Starts `synq work --server <url> <args> -- <cmd...>` with opts.env as its
// whole environment (default: this process's). Returns { proc, exited (a
// promise of { code, signal }), stderr, stdout (what it wrote so far),
// stop(signal = 'SIGTERM') }: stop signals it unless it has ended and
// resolves with how it ended. Until stopped the worker is in opts.registry
// (a Set) when one is given, so that an after() can kill what is left.
function spawnWorker(url, args, cmd, opts = {}) {
  const proc = spawn(BIN, ['work', '--server', url, ...args, '--', ...cmd],
    { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env || process.env });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d.toString(); });
  let stdout = '';
  proc.stdout.on('data', (d) => { stdout += d.toString(); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const w = {
    proc, exited,
    get stderr() { return stderr; },
    get stdout() { return stdout; },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      if (opts.registry) opts.registry.delete(w);
      return r;
    },
  };
  if (opts.registry) opts.registry.add(w);
  return w;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
async function closedPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over net.Socket, for what fetch() hides: pipelining, partial
// requests, malformed bytes, connection close.

const net = require('node:net');

function hostPort(server) {
  const u = new URL(server.url);
  return { host: u.hostname, port: Number(u.port) };
}

// Incremental HTTP/1.1 response parser. feed(buf) returns the complete
// responses it could parse: { status, reason, headers (lowercased, last
// wins), rawHeaders [[name,value]], body: Buffer, text, json }.
// `isHead()` is asked, per response, whether it answers a HEAD request.
class ResponseParser {
  constructor(isHead = () => false) { this.buf = Buffer.alloc(0); this.isHead = isHead; this.cur = null; }

  feed(chunk) {
    if (chunk && chunk.length) this.buf = Buffer.concat([this.buf, chunk]);
    const out = [];
    for (;;) {
      const r = this._one();
      if (!r) break;
      if (r.status >= 100 && r.status < 200) continue; // interim
      out.push(r);
    }
    return out;
  }

  // At EOF, a response delimited by close is complete.
  end() {
    if (this.cur && this.cur.mode === 'close') {
      const r = this._finish(this.buf);
      this.buf = Buffer.alloc(0);
      return [r];
    }
    return [];
  }

  _finish(body) {
    const r = this.cur; this.cur = null;
    const res = { status: r.status, reason: r.reason, headers: r.headers, rawHeaders: r.rawHeaders, body };
    res.text = body.toString('utf8');
    try { res.json = res.text.length ? JSON.parse(res.text) : null; } catch { res.json = undefined; }
    return res;
  }

  _one() {
    if (!this.cur) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = this.buf.subarray(0, end).toString('latin1');
      this.buf = this.buf.subarray(end + 4);
      const lines = head.split('\r\n');
      const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})(?: (.*))?$/);
      if (!m) throw new Error('bad status line: ' + JSON.stringify(lines[0]));
      const headers = {}; const rawHeaders = [];
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i < 0) throw new Error('bad header line: ' + JSON.stringify(l));
        const k = l.slice(0, i).trim(); const v = l.slice(i + 1).trim();
        headers[k.toLowerCase()] = v; rawHeaders.push([k, v]);
      }
      const status = Number(m[1]);
      const cur = { status, reason: m[2] || '', headers, rawHeaders };
      if (status < 200 || status === 204 || status === 304) cur.mode = 'none';
      else if (this.isHead()) cur.mode = 'none';
      else if (/chunked/i.test(headers['transfer-encoding'] || '')) { cur.mode = 'chunked'; cur.chunks = []; }
      else if (headers['content-length'] !== undefined) { cur.mode = 'length'; cur.len = Number(headers['content-length']); }
      else cur.mode = 'close';
      if (status >= 200 && this.isHead.consume) this.isHead.consume();
      this.cur = cur;
    }
    const c = this.cur;
    if (c.mode === 'none') return this._finish(Buffer.alloc(0));
    if (c.mode === 'length') {
      if (this.buf.length < c.len) return null;
      const body = this.buf.subarray(0, c.len); this.buf = this.buf.subarray(c.len);
      return this._finish(Buffer.from(body));
    }
    if (c.mode === 'chunked') {
      for (;;) {
        const le = this.buf.indexOf('\r\n');
        if (le < 0) return null;
        const size = parseInt(this.buf.subarray(0, le).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          // trailers end with an empty line
          const te = this.buf.indexOf('\r\n\r\n', le - 2 < 0 ? 0 : le - 2);
          if (te < 0) return null;
          this.buf = this.buf.subarray(te + 4);
          return this._finish(Buffer.concat(c.chunks));
        }
        if (this.buf.length < le + 2 + size + 2) return null;
        c.chunks.push(Buffer.from(this.buf.subarray(le + 2, le + 2 + size)));
        this.buf = this.buf.subarray(le + 2 + size + 2);
      }
    }
    return null; // 'close': wait for end()
  }
}

// A raw client connection. Responses are matched to expect() calls in order.
class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.heads = []; // per pending response: was it a HEAD request
    const heads = this.heads;
    const isHead = () => heads.length > 0 && heads[0];
    isHead.consume = () => { heads.shift(); };
    this.parser = new ResponseParser(isHead);
    this.responses = [];
    this.waiters = [];
    this.received = Buffer.alloc(0); // every byte, for raw checks
    this.closed = false;
    this.error = null;
    this.closedAt = null;
    this.closePromise = new Promise((resolve) => { this._resolveClose = resolve; });
    sock.on('data', (d) => {
      this.received = Buffer.concat([this.received, d]);
      let rs;
      try { rs = this.parser.feed(d); } catch (e) { this.error = e; rs = []; }
      for (const r of rs) this._push(r);
    });
    sock.on('error', (e) => { this.error = this.error || e; });
    sock.on('close', () => {
      try { for (const r of this.parser.end()) this._push(r); } catch (e) { this.error = e; }
      this.closed = true; this.closedAt = Date.now();
      for (const w of this.waiters.splice(0)) clearTimeout(w.timer), w.reject(new Error('connection closed before a response' + (this.error ? ': ' + this.error.message : '')));
      this._resolveClose();
    });
  }

  static connect(server, opts = {}) {
    const { host, port } = hostPort(server);
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      sock.setNoDelay(true);
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, opts.timeoutMs || 20000);
      sock.once('error', (e) => { clearTimeout(timer); reject(e); });
      sock.once('connect', () => { clearTimeout(timer); sock.removeAllListeners('error'); resolve(new RawConn(sock)); });
    });
  }

  _push(r) {
    const w = this.waiters.shift();
    if (w) { clearTimeout(w.timer); w.resolve(r); } else this.responses.push(r);
  }

  // Sends bytes (string or Buffer). Write errors (peer closed) are recorded, not thrown.
  write(data) {
    return new Promise((resolve) => {
      if (this.sock.destroyed) { resolve(false); return; }
      this.sock.write(data, (err) => { if (err) this.error = this.error || err; resolve(!err); });
    });
  }

  // Declares that one more response is due; isHead marks a HEAD request.
  expectHead(isHead) { this.heads.push(!!isHead); }

  // Next response, in order.
  next(timeoutMs = 20000) {
    if (this.responses.length) return Promise.resolve(this.responses.shift());
    if (this.closed) return Promise.reject(new Error('connection closed' + (this.error ? ': ' + this.error.message : '')));
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      w.timer = setTimeout(() => {
        const i = this.waiters.indexOf(w); if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no response within ${timeoutMs} ms; got so far: ${JSON.stringify(this.received.toString('latin1').slice(-300))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  // Writes one request and waits for its response.
  async request(data, opts = {}) {
    this.expectHead(opts.head || /^HEAD /.test(typeof data === 'string' ? data : data.toString('latin1', 0, 5)));
    await this.write(data);
    return this.next(opts.timeoutMs);
  }

  // Resolves true once the peer has closed (within timeoutMs), else false.
  async waitClosed(timeoutMs = 10000) {
    let timer;
    const t = new Promise((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    const r = await Promise.race([this.closePromise.then(() => true), t]);
    clearTimeout(timer);
    return r;
  }

  end() { this.sock.end(); }
  destroy() { this.sock.destroy(); }
}

// Builds an HTTP/1.1 request text. body: string/object (JSON-encoded) or undefined.
function httpRequest(method, p, body, headers = {}) {
  let b = '';
  const h = { host: '127.0.0.1', ...headers };
  if (body !== undefined) {
    b = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    h['content-length'] = String(Buffer.byteLength(b));
  }
  let s = `${method} ${p} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(h)) s += `${k}: ${v}\r\n`;
  return s + '\r\n' + b;
}

// Opens a connection, sends `data` in one write, and collects what comes back
// until the server closes or timeoutMs passes. Returns
// { responses, closed, text, error }.
async function rawExchange(server, data, timeoutMs = 10000) {
  const conn = await RawConn.connect(server);
  conn.expectHead(false);
  await conn.write(data);
  const closed = await conn.waitClosed(timeoutMs);
  const responses = conn.responses.splice(0);
  if (!closed) conn.destroy();
  return { responses, closed, text: conn.received.toString('latin1'), error: conn.error };
}

// A TCP proxy in front of a server that can drop (or reset) every connection
// and hold new ones (accepted, not forwarded) until resumed; it counts the
// connections it accepted and records the first chunk (the request head) of
// each. target() names the server to forward to, so it survives a restart
// on another port.
class TcpProxy {
  constructor(target) {
    this.target = target;
    this.paused = false;
    this.held = [];
    this.pairs = new Set();
    this.requests = [];
    this.accepted = 0;
    this.srv = net.createServer((c) => this._accept(c));
  }

  async listen() {
    await new Promise((r) => this.srv.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.srv.address().port}`;
    return this;
  }

  _accept(c) {
    this.accepted++;
    const pair = { c, u: null, buf: [], first: true };
    c.on('error', () => {});
    c.on('data', (d) => {
      if (pair.first) { this.requests.push(d.toString('latin1')); pair.first = false; }
      if (pair.u) pair.u.write(d); else pair.buf.push(d);
    });
    c.on('close', () => { if (pair.u) pair.u.destroy(); this.pairs.delete(pair); });
    this.pairs.add(pair);
    if (this.paused) this.held.push(pair); else this._forward(pair);
  }

  _forward(pair) {
    if (pair.c.destroyed) return;
    const { host, port } = hostPort(this.target());
    const u = net.connect({ host, port });
    pair.u = u;
    u.on('error', () => pair.c.destroy());
    u.on('data', (d) => pair.c.write(d));
    u.on('close', () => pair.c.destroy());
    for (const d of pair.buf.splice(0)) u.write(d);
  }

  pause() { this.paused = true; }
  resume() { this.paused = false; for (const p of this.held.splice(0)) this._forward(p); }
  dropAll() { for (const p of this.pairs) { p.c.destroy(); if (p.u) p.u.destroy(); } }
  // The server sees a TCP reset: the client vanished without a Close.
  resetAll() { for (const p of this.pairs) { if (p.u) p.u.resetAndDestroy(); p.c.destroy(); } }
  async close() { this.dropAll(); await new Promise((r) => this.srv.close(r)); }
}

module.exports = {
  BIN, startServer, api, sleep,
  TIME_RE, ULID_RE, ZERO_COUNTS, assertError, parseTime,
  enqueue, getJob, fetchJobs, getQueue, queueCounts, listAll, waitFor, pool, waitJobState,
  cliEnv, runCli, cliOk, spawnWorker, closedPort,
  hostPort, ResponseParser, RawConn, httpRequest, rawExchange, TcpProxy,
};
