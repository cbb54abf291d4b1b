// Shared helpers for the end-to-end suites: start the real synq binary on a
// free port with a fresh data directory, talk JSON to it, stop it.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const BIN = process.env.SYNQ_BIN || path.resolve(__dirname, '../../synq');

// Starts `synq serve` on 127.0.0.1:0 and resolves once it logs the bound
// address. opts.args: extra flags; opts.dataDir: reuse a data directory.
async function startServer(opts = {}) {
  const dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'synq-e2e-'));
  const args = ['serve', '--http', '127.0.0.1:0', '--data', dataDir,
    '--log-level', opts.logLevel || 'info', ...(opts.args || [])];
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
  const server = {
    url, proc, dataDir,
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

module.exports = { BIN, startServer, api, sleep };
