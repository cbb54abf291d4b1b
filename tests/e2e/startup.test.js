// Start-up failures: a listen address that is taken ends synq with exit 1
// and a clear log line, never a crash (each failure path once closed the
// signal handles before they were initialised, and aborted).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startServer } = require('./helpers');

const BIN = process.env.SYNQ_BIN || path.resolve(__dirname, '../../synq');

// Runs `synq serve args` to its exit; resolves {code, signal, stderr}.
function serveToExit(args) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-e2e-'));
  return new Promise((resolve) => {
    const p = spawn(BIN, ['serve', '--data', dataDir, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stderr }); });
  });
}

async function takenPort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, addr: `127.0.0.1:${srv.address().port}` };
}

test('a taken Faktory port: exit 1 with "cannot listen", no crash', async () => {
  const { srv, addr } = await takenPort();
  try {
    const r = await serveToExit(['--http', '127.0.0.1:0', '--faktory', addr]);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`msg="cannot listen" addr=${addr} error="address already in use"`));
    assert.doesNotMatch(r.stderr, /Assertion|AddressSanitizer|runtime error/);
  } finally { srv.close(); }
});

test('a taken HTTP port: exit 1 with "cannot listen", no crash', async () => {
  const { srv, addr } = await takenPort();
  try {
    const r = await serveToExit(['--http', addr, '--faktory', '127.0.0.1:0']);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /msg="cannot listen"/);
    assert.doesNotMatch(r.stderr, /Assertion|AddressSanitizer|runtime error/);
  } finally { srv.close(); }
});

test('--faktory off: no Faktory listener, and the log says so', async () => {
  const s = await startServer({ args: ['--faktory', 'off'] });
  try {
    assert.equal(s.faktory, null);
    assert.match(s.stderr, /msg=listening \S+ faktory=off/);
  } finally { await s.stop(); }
});

test('bad Faktory flags are usage errors (exit 2)', async () => {
  for (const args of [['--faktory-max-line', 'lots'], ['--faktory-worker-ttl', '5ms'],
    ['--faktory-password', '/nonexistent/password-file']]) {
    const r = await serveToExit(['--http', '127.0.0.1:0', '--faktory', '127.0.0.1:0', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`invalid value for ${args[0]}`));
  }
});
