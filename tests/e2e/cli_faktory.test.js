// The command line with Faktory addresses (docs/cli.md, "Faktory addresses"):
// `--server tcp://[:password@]host:port`, $FAKTORY_URL and $FAKTORY_PROVIDER
// make `synq enqueue`, `synq queues` and `synq work` speak the Faktory Work
// Protocol to the server's --faktory listener; what they did is then checked
// over the HTTP API. `job`, `jobs` and `cron` need HTTP and say so (exit 2).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

const PASSWORD = 's3cr:t@x';
let server; // no password
let locked; // --faktory-password PASSWORD
let seq = 0;
const uq = (name) => `${name}-${process.pid}-${++seq}`;
const JID_RE = /^[0-9a-f]{24}$/;

before(async () => {
  server = await h.startServer({ args: ['--faktory', '127.0.0.1:0'] });
  assert.ok(server.faktory, `no faktory= in the startup line:\n${server.stderr}`);
  server.fwp = server.faktoryUrl;
  locked = await h.startServer({ args: ['--faktory', '127.0.0.1:0', '--faktory-password', PASSWORD] });
  assert.ok(locked.faktory, `no faktory= in the startup line:\n${locked.stderr}`);
  locked.addr = locked.faktory;
});

after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
  if (locked) assert.equal(await locked.stop(), 0, 'server exits 0 on SIGTERM');
});

// Runs `synq <args>` with --server SERVER after the command name (unless
// opts.server is null) and returns { status, stdout, stderr }. No server
// variable is passed on but those in opts.env.
function synq(args, opts = {}) {
  const srv = opts.server === undefined ? server.fwp : opts.server;
  const argv = srv === null ? args : [args[0], '--server', srv, ...args.slice(1)];
  return h.runCli(argv, { input: opts.input, env: h.cliEnv(opts.env) });
}

// Asserts exit 0 with nothing on stderr; returns stdout.
function ok(args, opts) {
  return h.cliOk(synq(args, opts), args);
}

// Asserts the exit status and that stderr matches re; returns the result.
function fails(args, status, re, opts) {
  const r = synq(args, opts);
  assert.equal(r.status, status, `synq ${args.join(' ')} -> ${r.status}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, re);
  return r;
}

// ---- enqueue ---------------------------------------------------------------

test('enqueue over FWP pushes a Faktory job that the HTTP API shows', async () => {
  const queue = uq('push');
  const out = ok(['enqueue', 'send_email', '[{"to":"a@example.com"},2]', '-q', queue, '--retry', '3',
    '--reserve-for', '2m', '--custom', '{"tenant":"acme"}']);
  const pushed = JSON.parse(out);
  assert.match(out, /^\{\n {2}"jid": /, 'indented JSON');
  assert.match(pushed.jid, JID_RE);
  assert.deepEqual(pushed, {
    jid: pushed.jid, jobtype: 'send_email', args: [{ to: 'a@example.com' }, 2], queue,
    retry: 3, reserve_for: 120, custom: { tenant: 'acme' },
  });
  const job = await h.getJob(server, pushed.jid);
  assert.equal(job.id, pushed.jid);
  assert.equal(job.type, 'send_email');
  assert.equal(job.queue, queue);
  assert.deepEqual(job.args, [{ to: 'a@example.com' }, 2]);
  assert.equal(job.state, 'queued');
  assert.equal(job.retry, 3);
  assert.equal(job.reserve_for, 120);
  assert.deepEqual(job.custom, { tenant: 'acme' });
});

test('enqueue over FWP: args that are not an array become one; none is []; --id is the jid', async () => {
  const a = JSON.parse(ok(['enqueue', 'obj', '{"a":1}', '-q', uq('args')]));
  assert.deepEqual(a.args, [{ a: 1 }]);
  assert.deepEqual((await h.getJob(server, a.jid)).args, [{ a: 1 }]);
  const b = JSON.parse(ok(['enqueue', 'none', '-q', uq('args')]));
  assert.deepEqual(b.args, []);
  assert.equal('retry' in b, false, 'unset fields are not sent');
  const c = JSON.parse(ok(['enqueue', 'num', '-', '-q', uq('args')], { input: '42\n' }));
  assert.deepEqual(c.args, [42]);
  const jid = `my-jid-${process.pid}-${++seq}`;
  const d = JSON.parse(ok(['enqueue', 'named', '[1]', '--id', jid]));
  assert.equal(d.jid, jid);
  assert.equal((await h.getJob(server, jid)).type, 'named');
});

test('enqueue over FWP --print-id prints only the jid', async () => {
  const out = ok(['enqueue', 'report', '[1]', '--print-id', '-q', uq('pid')]);
  assert.match(out, /^[0-9a-f]{24}\n$/);
  const job = await h.getJob(server, out.trim());
  assert.equal(job.type, 'report');
});

test('enqueue over FWP --delay and --run-at make the job scheduled', async () => {
  const t0 = Date.now();
  const jid = ok(['enqueue', 'later', '--delay', '10m', '--print-id']).trim();
  const job = await h.getJob(server, jid);
  assert.equal(job.state, 'scheduled');
  const runAt = h.parseTime(job.run_at, 'run_at');
  assert.ok(runAt >= t0 + 600000 - 1000 && runAt <= Date.now() + 600000 + 1000, `run_at ${job.run_at}`);

  const pushed = JSON.parse(ok(['enqueue', 'at', '--run-at', '2099-01-02T03:04:05+01:00']));
  assert.equal(pushed.at, '2099-01-02T02:04:05.000000Z', 'sent as RFC 3339 UTC');
  const at = await h.getJob(server, pushed.jid);
  assert.equal(at.state, 'scheduled');
  assert.equal(at.run_at, '2099-01-02T02:04:05.000000Z');
});

test('enqueue over FWP: --priority is a usage error; a server -ERR is exit 1 with its message', () => {
  fails(['enqueue', 'x', '-p', '3'], 2, /^synq enqueue: Faktory jobs have no priority/);
  // Faktory refuses a reservation over a day
  const r = fails(['enqueue', 'x', '--reserve-for', '2d'], 1, /^synq enqueue: \S/);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
  assert.doesNotMatch(r.stderr, /^synq enqueue: ERR /, 'the ERR code is not shown');
});

// ---- addresses -------------------------------------------------------------

test('a password server: the right password works, a wrong or missing one does not', async () => {
  const right = `tcp://:${encodeURIComponent(PASSWORD)}@${locked.addr}`;
  const jid = ok(['enqueue', 'locked', '[1]', '--print-id'], { server: right }).trim();
  assert.match(jid, JID_RE);
  assert.equal((await h.getJob(locked, jid)).type, 'locked');
  // an unescaped '@' in the password works too (the last '@' ends it)
  ok(['queues'], { server: `tcp://:${PASSWORD.replace(':', '%3A')}@${locked.addr}` });

  fails(['enqueue', 'locked', '--print-id'], 1, /^synq enqueue: Invalid password\n$/,
    { server: `tcp://:wrong@${locked.addr}` });
  fails(['queues'], 1, /^synq queues: .*wants a password.*tcp:\/\/:PASSWORD@/,
    { server: `tcp://${locked.addr}` });
});

test('FAKTORY_URL is used when neither --server nor SYNQ_SERVER is set', async () => {
  const jid = ok(['enqueue', 'fromenv', '--print-id'], { server: null, env: { FAKTORY_URL: server.fwp } }).trim();
  assert.equal((await h.getJob(server, jid)).type, 'fromenv');
  // SYNQ_SERVER comes first: this goes over HTTP (a ULID, not a jid)
  const id = ok(['enqueue', 'viahttp', '--print-id'],
    { server: null, env: { FAKTORY_URL: server.fwp, SYNQ_SERVER: server.url } }).trim();
  assert.match(id, h.ULID_RE);
  // and --server before both
  const id2 = ok(['enqueue', 'viaflag', '--print-id'],
    { server: server.fwp, env: { SYNQ_SERVER: server.url } }).trim();
  assert.match(id2, JID_RE);
  // with the password in it
  const jid3 = ok(['enqueue', 'fromenv', '--print-id'], {
    server: null, env: { FAKTORY_URL: `tcp://:${encodeURIComponent(PASSWORD)}@${locked.addr}` },
  }).trim();
  assert.equal((await h.getJob(locked, jid3)).type, 'fromenv');
});

test('FAKTORY_PROVIDER names the variable that holds the URL', async () => {
  const closed = await h.closedPort();
  const jid = ok(['enqueue', 'provided', '--print-id'], {
    server: null,
    // FAKTORY_URL is not looked at when FAKTORY_PROVIDER is set
    env: { FAKTORY_PROVIDER: 'MY_FAKTORY', MY_FAKTORY: server.fwp, FAKTORY_URL: `tcp://127.0.0.1:${closed}` },
  }).trim();
  assert.equal((await h.getJob(server, jid)).type, 'provided');
  fails(['enqueue', 'x'], 2, /^synq enqueue: FAKTORY_PROVIDER names MY_FAKTORY, which is not set\n$/,
    { server: null, env: { FAKTORY_PROVIDER: 'MY_FAKTORY', FAKTORY_URL: server.fwp } });
  fails(['queues'], 2, /^synq queues: FAKTORY_PROVIDER is not a URL/,
    { server: null, env: { FAKTORY_PROVIDER: server.fwp } });
});

test('tcp+tls is refused, a closed port is exit 1, a malformed address exit 2', async () => {
  fails(['enqueue', 'x'], 2, /^synq enqueue: TLS is not supported/, { server: 'tcp+tls://' + server.faktory });
  fails(['work', '--', 'true'], 2, /^synq work: TLS is not supported/, { server: 'tcp+tls://127.0.0.1:1' });
  const port = await h.closedPort();
  fails(['queues'], 1, new RegExp(`^synq queues: cannot reach tcp://127\\.0\\.0\\.1:${port}: Connection refused\\n$`),
    { server: `tcp://127.0.0.1:${port}` });
  fails(['work', '--', 'true'], 1, /^synq work: cannot reach /, { server: `tcp://127.0.0.1:${port}` });
  fails(['queues'], 2, /not a Faktory address/, { server: 'tcp://host:99999' });
});

test('job, jobs and cron need the HTTP API: exit 2 with a tcp:// server', () => {
  fails(['job', 'abc'], 2, /^synq job: needs the HTTP API \(http:\/\/\.\.\.\)/);
  fails(['jobs'], 2, /^synq jobs: needs the HTTP API \(http:\/\/\.\.\.\)/);
  fails(['cron', 'ls'], 2, /^synq cron: needs the HTTP API \(http:\/\/\.\.\.\)/);
  fails(['jobs'], 2, /needs the HTTP API/, { server: null, env: { FAKTORY_URL: server.fwp } });
  // the password is not echoed
  const r = fails(['jobs'], 2, /needs the HTTP API/, { server: `tcp://:hush@${server.faktory}` });
  assert.doesNotMatch(r.stderr, /hush/);
  // `cron next` needs no server at all
  const out = ok(['cron', 'next', '0 9 * * *', '-n', '1', '--after', '2026-01-01T00:00:00Z']);
  assert.equal(out, '2026-01-01T09:00:00.000000Z\n');
});

// ---- queues ----------------------------------------------------------------

test('queues over FWP lists each queue and its size from INFO', () => {
  const queue = uq('qsize');
  for (let i = 0; i < 3; i++) ok(['enqueue', 'q', '-q', queue, '--print-id']);
  const out = ok(['queues']);
  const rows = out.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
  assert.deepEqual(rows[0], ['QUEUE', 'SIZE']);
  assert.deepEqual(rows.find((r) => r[0] === queue), [queue, '3']);
  const names = rows.slice(1).map((r) => r[0]);
  assert.deepEqual(names, [...names].sort(), 'by name');

  const info = JSON.parse(ok(['queues', '--json']));
  assert.equal(info.faktory.queues[queue], 3);
});

// ---- work ------------------------------------------------------------------

const workers = new Set();

// `synq work` against opts.server (default: server's FWP address), with no
// server variable in its environment but those in opts.env.
function startWorker(args, cmd, opts = {}) {
  return h.spawnWorker(opts.server || server.fwp, args, cmd, { env: h.cliEnv(opts.env), registry: workers });
}

const waitState = (srv, id, state, w, timeoutMs) => h.waitJobState(srv, id, state, timeoutMs, w);

test('work over FWP: exit 0 completes the job, exit 1 leaves it in retry with the error', async () => {
  const queue = uq('work');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-fwp-work-'));
  const good = ok(['enqueue', 'good', '[1,"two"]', '-q', queue, '--print-id']).trim();
  const bad = ok(['enqueue', 'bad', '[2]', '-q', queue, '--print-id']).trim();
  const script = `cat > "${dir}/$SYNQ_JOB_ID.json"; env | grep '^SYNQ_' | sort > "${dir}/$SYNQ_JOB_ID.env";
    if [ "$SYNQ_JOB_TYPE" = good ]; then echo done; exit 0; fi
    echo "first line" >&2; echo "it went wrong" >&2; exit 1`;
  const w = startWorker(['-q', 'nothing-here', '-q', queue, '-w', `wid-${process.pid}`], ['sh', '-c', script]);
  const done = await waitState(server, good, 'completed', w);
  assert.equal(done.attempts, 1);
  const failed = await waitState(server, bad, 'retry', w);
  assert.equal(failed.error.type, 'ExitCode');
  assert.equal(failed.error.message, 'exit code 1\nfirst line\nit went wrong');
  assert.deepEqual(failed.error.backtrace, ['first line', 'it went wrong']);

  // stdin: the Faktory job as fetched
  const stdin = JSON.parse(fs.readFileSync(path.join(dir, `${good}.json`), 'utf8'));
  assert.equal(stdin.jid, good);
  assert.equal(stdin.jobtype, 'good');
  assert.deepEqual(stdin.args, [1, 'two']);
  assert.equal(stdin.queue, queue);
  const env = fs.readFileSync(path.join(dir, `${good}.env`), 'utf8');
  assert.match(env, new RegExp(`^SYNQ_JOB_ID=${good}$`, 'm'));
  assert.match(env, /^SYNQ_JOB_TYPE=good$/m);
  assert.match(env, new RegExp(`^SYNQ_QUEUE=${queue}$`, 'm'));
  assert.match(env, /^SYNQ_ATTEMPT=1$/m);
  assert.match(env, new RegExp(`^SYNQ_WORKER=wid-${process.pid}$`, 'm'));
  assert.match(env, new RegExp(`^SYNQ_SERVER=${server.fwp.replace(/\./g, '\\.')}$`, 'm'));

  // the worker is known to the server under its wid, with our label
  const list = await h.api(server, 'GET', '/v1/workers');
  const me = list.body.workers.find((x) => x.wid === `wid-${process.pid}`);
  assert.ok(me, JSON.stringify(list.body));
  assert.deepEqual(me.labels, ['synq-work']);

  const r = await w.stop();
  assert.deepEqual(r, { code: 0, signal: null }, w.stderr);
  assert.match(w.stderr, /msg=worker\.start worker=wid-\d+ server=tcp:\/\/127\.0\.0\.1:\d+ queues=nothing-here,\S+ concurrency=1 protocol=fwp/);
  assert.match(w.stderr, /msg=job\.done job=[0-9a-f]{24} type=good attempt=1 ms=\d+ reported=yes/);
  assert.match(w.stderr, /msg=job\.failed job=[0-9a-f]{24} type=bad attempt=1 ms=\d+ error=ExitCode reported=yes/);
  assert.match(w.stderr, /msg=worker\.stopped/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('work over FWP with a password, several threads, and a generated wid', async () => {
  const queue = uq('pwwork');
  const url = `tcp://:${encodeURIComponent(PASSWORD)}@${locked.addr}`;
  const jids = [];
  for (let i = 0; i < 4; i++) jids.push(ok(['enqueue', 'p', `[${i}]`, '-q', queue, '--print-id'], { server: url }).trim());
  const w = startWorker(['-q', queue, '-c', '2'], ['sh', '-c', 'sleep 0.2'], { server: url });
  for (const jid of jids) await waitState(locked, jid, 'completed', w);
  const m = w.stderr.match(/msg=worker\.start worker=([0-9a-f]{16}) server=(\S+)/);
  assert.ok(m, w.stderr);
  assert.doesNotMatch(w.stderr, /s3cr/, 'the password is not logged');
  assert.deepEqual(await w.stop(), { code: 0, signal: null });
});

test('work over FWP obeys quiet and terminate from its BEAT replies', async () => {
  const queue = uq('beat');
  const wid = `beat-${process.pid}`;
  const first = ok(['enqueue', 'long', '-q', queue, '--print-id']).trim();
  const w = startWorker(['-q', queue, '-w', wid, '--heartbeat', '300ms'], ['sh', '-c', 'sleep 60']);
  await waitState(server, first, 'active', w);

  let res = await h.api(server, 'POST', `/v1/workers/${wid}/quiet`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  await h.waitFor(() => /msg=worker\.quiet/.test(w.stderr), 5000, 50, 'worker.quiet');
  // quiet: nothing more is fetched, the running command goes on
  const second = ok(['enqueue', 'later', '-q', queue, '--print-id']).trim();
  await h.sleep(2500);
  assert.equal((await h.getJob(server, second)).state, 'queued');
  assert.equal((await h.getJob(server, first)).state, 'active');
  assert.equal(w.proc.exitCode, null, 'still running');

  res = await h.api(server, 'POST', `/v1/workers/${wid}/terminate`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const r = await w.exited;
  assert.deepEqual(r, { code: 0, signal: null }, w.stderr);
  workers.delete(w);
  const job = await h.getJob(server, first);
  assert.equal(job.state, 'retry');
  assert.equal(job.error.type, 'Interrupted');
  assert.match(w.stderr, /msg=worker\.terminating/);
  assert.equal((await h.getJob(server, second)).state, 'queued');
});
