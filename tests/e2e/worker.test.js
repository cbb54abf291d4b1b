// `synq work` (docs/cli.md): the command-running worker against the real
// server. Shell scripts stand in for the user's command: they succeed with
// JSON or text, read the job from stdin and the environment, fail, die from a
// signal, time out (the whole process group must go), outlive their lease
// only thanks to heartbeats, and get to finish when the worker is stopped.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./helpers');

let server;
let dir; // scripts and marker files
let seq = 0;
const uq = (name) => `${name}-${process.pid}-${++seq}`;
const workers = new Set();

before(async () => {
  server = await h.startServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-work-'));
});

after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Writes an executable /bin/sh script and returns its path.
function script(name, body) {
  const p = path.join(dir, `${name}-${++seq}.sh`);
  fs.writeFileSync(p, '#!/bin/sh\n' + body + '\n', { mode: 0o755 });
  return p;
}

// Starts `synq work --server URL <args> -- <cmd...>` (h.spawnWorker) with
// env added to this process's environment.
function startWorker(args, cmd, env = {}) {
  return h.spawnWorker(server.url, args, cmd, { env: { ...process.env, ...env }, registry: workers });
}

// Waits until the job reaches one of `states` (a string or an array).
const waitState = (id, states, timeoutMs, w) => h.waitJobState(server, id, states, timeoutMs, w);

// True while the process exists and is not a zombie.
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('exit 0 with JSON on stdout acks the job with that JSON as its result', async () => {
  const queue = uq('json');
  const job = await h.enqueue(server, { queue, type: 'add', args: [1, 2], retry: 0 });
  const w = startWorker(['--queue', queue], [script('json', 'cat >/dev/null; echo \'{"sum": 3, "list": [1, "x"]}\'')]);
  const done = await waitState(job.id, 'completed', 15000, w);
  assert.deepEqual(done.result, { sum: 3, list: [1, 'x'] });
  assert.equal(done.error, null);
  assert.equal(done.attempts, 1);
  assert.deepEqual(await w.stop(), { code: 0, signal: null });
  assert.match(w.stderr, /msg=worker\.start /);
  assert.match(w.stderr, new RegExp(`msg=job\\.done job=${job.id} `));
});

test('text on stdout becomes a JSON string without its trailing newline; no output is null', async () => {
  const queue = uq('text');
  const a = await h.enqueue(server, { queue, type: 'say', retry: 0, args: { say: 'hello world' } });
  const b = await h.enqueue(server, { queue, type: 'quiet', retry: 0 });
  const c = await h.enqueue(server, { queue, type: 'num', retry: 0 });
  const cmd = script('text', [
    'cat >/dev/null',
    'case "$SYNQ_JOB_TYPE" in',
    '  say) printf "hello world\\nsecond line\\n" ;;',
    '  num) echo 42 ;;',
    'esac',
  ].join('\n'));
  const w = startWorker(['--queue', queue], [cmd]);
  assert.equal((await waitState(a.id, 'completed', 15000, w)).result, 'hello world\nsecond line');
  assert.equal((await waitState(b.id, 'completed', 15000, w)).result, null);
  assert.equal((await waitState(c.id, 'completed', 15000, w)).result, 42);
  await w.stop();
});

test('the command gets the job JSON on stdin and SYNQ_* in its environment', async () => {
  const queue = uq('env');
  const job = await h.enqueue(server, { queue, type: 'inspect', args: { user: 'ünï', n: [1, 2] }, retry: 0 });
  const out = path.join(dir, `stdin-${job.id}.json`);
  // The script saves stdin to a file and reports its environment as JSON.
  const cmd = script('env', [
    `cat > "${out}"`,
    'printf \'{"id":"%s","type":"%s","queue":"%s","attempt":"%s","worker":"%s","server":"%s","extra":"%s"}\' \\',
    '  "$SYNQ_JOB_ID" "$SYNQ_JOB_TYPE" "$SYNQ_QUEUE" "$SYNQ_ATTEMPT" "$SYNQ_WORKER" "$SYNQ_SERVER" "$1"',
  ].join('\n'));
  const w = startWorker(['--queue', queue, '--worker', 'e2e-worker'], [cmd, 'arg-one'],
    { SYNQ_JOB_ID: 'inherited-and-replaced' });
  const done = await waitState(job.id, 'completed', 15000, w);
  assert.deepEqual(done.result, {
    id: job.id, type: 'inspect', queue, attempt: '1', worker: 'e2e-worker', server: server.url, extra: 'arg-one',
  });
  const seen = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(seen.id, job.id);
  assert.equal(seen.type, 'inspect');
  assert.equal(seen.queue, queue);
  assert.deepEqual(seen.args, { user: 'ünï', n: [1, 2] });
  assert.equal(seen.state, 'active', 'stdin holds the job as fetched');
  assert.equal(seen.attempts, 1);
  assert.equal(seen.worker, 'e2e-worker');
  await w.stop();
});

test('the default worker name is hostname:pid', async () => {
  const queue = uq('name');
  const job = await h.enqueue(server, { queue, type: 't', retry: 0 });
  const w = startWorker(['--queue', queue], [script('name', 'cat >/dev/null; echo "\\"$SYNQ_WORKER\\""')]);
  const done = await waitState(job.id, 'completed', 15000, w);
  assert.equal(done.result, `${os.hostname()}:${w.proc.pid}`);
  await w.stop();
});

test('a non-zero exit fails the job with the stderr tail; retry 0 makes it dead at once', async () => {
  const queue = uq('fail');
  const dead = await h.enqueue(server, { queue, type: 'boom', retry: 0 });
  const retried = await h.enqueue(server, { queue, type: 'boom', retry: 1 });
  const cmd = script('fail', 'echo "partial output"; echo "first line" >&2; echo "it broke: $SYNQ_JOB_ID" >&2; exit 3');
  const w = startWorker(['--queue', queue], [cmd]);
  const d = await waitState(dead.id, 'dead', 15000, w);
  assert.equal(d.error.type, 'ExitCode');
  assert.match(d.error.message, /exit code 3/);
  assert.match(d.error.message, new RegExp(`first line\\nit broke: ${dead.id}$`));
  assert.equal(d.result, null);
  const r = await waitState(retried.id, 'retry', 15000, w);
  assert.equal(r.error.type, 'ExitCode');
  assert.match(r.error.message, /it broke/);
  await w.stop();
});

test('only the last 4 KiB or so of a long stderr is kept', async () => {
  const queue = uq('tail');
  const job = await h.enqueue(server, { queue, type: 'noisy', retry: 0 });
  // 200 KiB of noise, then the line that matters.
  const cmd = script('tail', 'cat >/dev/null; i=0; while [ $i -lt 2000 ]; do ' +
    'echo "noise noise noise noise noise noise noise noise noise noise noise noise noise noise noise noise noise noise $i" >&2; ' +
    'i=$((i+1)); done; echo "THE REAL ERROR" >&2; exit 1');
  const w = startWorker(['--queue', queue], [cmd]);
  const d = await waitState(job.id, 'dead', 20000, w);
  assert.match(d.error.message, /THE REAL ERROR$/);
  assert.ok(!d.error.message.includes('noise 0\n'), 'the head is dropped');
  assert.ok(Buffer.byteLength(d.error.message) <= 4096 + 100, `message size ${d.error.message.length}`);
  await w.stop();
});

test('death by a signal fails the job with type Signal', async () => {
  const queue = uq('sig');
  const job = await h.enqueue(server, { queue, type: 'crash', retry: 0 });
  const w = startWorker(['--queue', queue], [script('sig', 'echo "about to crash" >&2; kill -KILL $$')]);
  const d = await waitState(job.id, 'dead', 15000, w);
  assert.equal(d.error.type, 'Signal');
  assert.match(d.error.message, /signal 9/);
  assert.match(d.error.message, /about to crash/);
  await w.stop();
});

test('a command that cannot be started fails the job', async () => {
  const queue = uq('nocmd');
  const job = await h.enqueue(server, { queue, type: 't', retry: 0 });
  const w = startWorker(['--queue', queue], [path.join(dir, 'does-not-exist')]);
  const d = await waitState(job.id, 'dead', 15000, w);
  assert.equal(d.error.type, 'SpawnError');
  assert.match(d.error.message, /does-not-exist/);
  await w.stop();
});

test('--timeout kills the whole process group and fails the job with type Timeout', async () => {
  const queue = uq('timeout');
  const job = await h.enqueue(server, { queue, type: 'slow', retry: 0 });
  const pidFile = path.join(dir, `grandchild-${job.id}`);
  // A background grandchild and a foreground sleep: both must go.
  const cmd = script('timeout', `sleep 30 & echo $! > "${pidFile}"; echo "started" >&2; sleep 30`);
  const w = startWorker(['--queue', queue, '--timeout', '1s'], [cmd]);
  const t0 = Date.now();
  const d = await waitState(job.id, 'dead', 15000, w);
  const took = Date.now() - t0;
  assert.equal(d.error.type, 'Timeout');
  assert.match(d.error.message, /timed out after 1s/);
  assert.match(d.error.message, /started/);
  assert.ok(took < 8000, `failed after ${took} ms`);
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(grandchild > 0);
  await h.waitFor(() => !alive(grandchild), 5000, 50, `grandchild ${grandchild} gone`);
  await w.stop();
});

test('a command that ignores SIGTERM is killed with SIGKILL after --kill-after', async () => {
  const queue = uq('stubborn');
  const job = await h.enqueue(server, { queue, type: 'stubborn', retry: 0 });
  const pidFile = path.join(dir, `stubborn-${job.id}`);
  // Ignored signals stay ignored across exec, so the sleeps ignore TERM too.
  const cmd = script('stubborn', `trap "" TERM; sleep 30 & echo $! > "${pidFile}"; sleep 30; echo "survived"`);
  const w = startWorker(['--queue', queue, '--timeout', '500ms', '--kill-after', '1s'], [cmd]);
  const t0 = Date.now();
  const d = await waitState(job.id, 'dead', 15000, w);
  const took = Date.now() - t0;
  assert.equal(d.error.type, 'Timeout');
  assert.ok(took >= 1000, `SIGKILL came after the grace period (${took} ms)`);
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  await h.waitFor(() => !alive(grandchild), 5000, 50, `grandchild ${grandchild} gone`);
  await w.stop();
});

test('heartbeats keep the lease of a command that runs longer than reserve_for', async () => {
  const queue = uq('hb');
  const job = await h.enqueue(server, { queue, type: 'long', retry: 0, reserve_for: 1 });
  const w = startWorker(['--queue', queue], [script('hb', 'cat >/dev/null; sleep 3; echo \'"made it"\'')]);
  const d = await waitState(job.id, ['completed', 'dead'], 20000, w);
  assert.equal(d.state, 'completed', `lease held: ${JSON.stringify(d.error)}`);
  assert.equal(d.result, 'made it');
  assert.equal(d.attempts, 1);
  await w.stop();
});

test('SIGTERM stops fetching, lets the running command finish and exits 0', async () => {
  const queue = uq('stop');
  const marker = path.join(dir, `stop-${seq}`);
  const running = await h.enqueue(server, { queue, type: 'slow', retry: 0 });
  const cmd = script('stop', `cat >/dev/null; touch "${marker}"; sleep 1.5; echo '"finished"'`);
  const w = startWorker(['--queue', queue], [cmd]);
  await h.waitFor(() => fs.existsSync(marker), 15000, 20, 'the command started');
  w.proc.kill('SIGTERM');
  const later = await h.enqueue(server, { queue, type: 'later', retry: 0 });
  const exit = await w.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, w.stderr);
  const d = await h.getJob(server, running.id);
  assert.equal(d.state, 'completed');
  assert.equal(d.result, 'finished');
  assert.equal((await h.getJob(server, later.id)).state, 'queued', 'no fetch after SIGTERM');
  assert.match(w.stderr, /msg=worker\.stopping signal=SIGTERM running=1/);
  workers.delete(w);
});

test('an idle worker exits 0 promptly on SIGINT', async () => {
  const queue = uq('idle');
  const w = startWorker(['--queue', queue], ['true']);
  await h.waitFor(() => /msg=worker\.start/.test(w.stderr), 10000, 20, 'worker start');
  await h.sleep(200); // now inside its long-poll fetch
  const t0 = Date.now();
  const exit = await w.stop('SIGINT');
  assert.deepEqual(exit, { code: 0, signal: null }, w.stderr);
  assert.ok(Date.now() - t0 < 5000, 'the long poll is abandoned');
});

test('a second signal ends running commands and fails their jobs', async () => {
  const queue = uq('twice');
  const marker = path.join(dir, `twice-${seq}`);
  const job = await h.enqueue(server, { queue, type: 'slow', retry: 0 });
  const w = startWorker(['--queue', queue], [script('twice', `cat >/dev/null; touch "${marker}"; sleep 30`)]);
  await h.waitFor(() => fs.existsSync(marker), 15000, 20, 'the command started');
  w.proc.kill('SIGTERM');
  await h.waitFor(() => /worker\.stopping/.test(w.stderr), 5000, 20, 'stopping logged');
  w.proc.kill('SIGTERM');
  const exit = await w.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, w.stderr);
  const d = await h.getJob(server, job.id);
  assert.equal(d.state, 'dead');
  assert.equal(d.error.type, 'Interrupted');
  workers.delete(w);
});

test('--concurrency N runs N commands at once; queues are tried in order', async () => {
  const qa = uq('conc-a');
  const qb = uq('conc-b');
  const jobs = [];
  for (let i = 0; i < 3; i++) jobs.push(await h.enqueue(server, { queue: qb, type: 'nap', retry: 0 }));
  const cmd = script('conc', 'cat >/dev/null; sleep 1; echo "\\"$SYNQ_QUEUE\\""');
  const t0 = Date.now();
  const w = startWorker(['--queue', `${qa},${qb}`, '--concurrency', '3'], [cmd]);
  const done = [];
  for (const j of jobs) done.push(await waitState(j.id, 'completed', 15000, w));
  const took = Date.now() - t0;
  for (const d of done) assert.equal(d.result, qb);
  const firstEnd = Math.min(...done.map((d) => h.parseTime(d.finished_at)));
  for (const d of done) assert.ok(h.parseTime(d.started_at) < firstEnd, 'all three ran together');
  assert.ok(took < 2900, `three 1 s commands took ${took} ms`);
  await w.stop();
});

test('stdout over 1 MiB completes the job with a null result', async () => {
  const queue = uq('big');
  const job = await h.enqueue(server, { queue, type: 'big', retry: 0 });
  const w = startWorker(['--queue', queue], [script('big', 'cat >/dev/null; head -c 2000000 /dev/zero | tr "\\0" a')]);
  const d = await waitState(job.id, ['completed', 'dead'], 15000, w);
  assert.equal(d.state, 'completed');
  assert.equal(d.result, null);
  assert.match(w.stderr, /msg=job\.result_dropped/);
  await w.stop();
});

test('a command that never reads its stdin does not block the worker', async () => {
  const queue = uq('noread');
  const job = await h.enqueue(server, { queue, type: 'big-args', retry: 0, args: { blob: 'x'.repeat(300000) } });
  const w = startWorker(['--queue', queue], [script('noread', 'sleep 0.2; echo \'"ignored stdin"\'')]);
  const d = await waitState(job.id, ['completed', 'dead'], 15000, w);
  assert.equal(d.state, 'completed', JSON.stringify(d.error));
  assert.equal(d.result, 'ignored stdin');
  await w.stop();
});

test('a job deleted while it runs: the heartbeat notices, the command is stopped', async () => {
  const queue = uq('deleted');
  const job = await h.enqueue(server, { queue, type: 'doomed', retry: 0, reserve_for: 1 });
  const pidFile = path.join(dir, `doomed-${job.id}`);
  const w = startWorker(['--queue', queue], [script('doomed', `cat >/dev/null; echo $$ > "${pidFile}"; sleep 30`)]);
  await h.waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim(), 15000, 20, 'started');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.equal((await h.api(server, 'DELETE', `/v1/jobs/${job.id}`)).status, 204);
  await h.waitFor(() => /msg=job\.abandoned/.test(w.stderr), 10000, 50, 'job abandoned');
  await h.waitFor(() => !alive(pid), 10000, 50, 'command stopped');
  assert.match(w.stderr, new RegExp(`msg=heartbeat\\.lease_lost job=${job.id}`));
  assert.deepEqual(await w.stop(), { code: 0, signal: null }, w.stderr);
});

test('an unreachable server: the worker logs, backs off, keeps going and still stops on SIGTERM', async () => {
  const port = await h.closedPort();
  const w = h.spawnWorker(`http://127.0.0.1:${port}`, [], ['true'], { registry: workers });
  await h.waitFor(() => /msg=fetch\.error/.test(w.stderr), 10000, 20, 'fetch error logged');
  await h.sleep(300);
  assert.equal(w.proc.exitCode, null, 'still running');
  const t0 = Date.now();
  assert.deepEqual(await w.stop('SIGTERM'), { code: 0, signal: null }, w.stderr);
  assert.ok(Date.now() - t0 < 3000, 'the back-off sleep is interrupted');
});

test('usage errors exit 2; --help exits 0', () => {
  const run = (args) => h.runCli(args);
  let r = run(['work']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /missing COMMAND/);
  r = run(['work', '--concurrency', '0', '--', 'true']);
  assert.equal(r.status, 2, r.stderr);
  r = run(['work', '--timeout', 'soon', '--', 'true']);
  assert.equal(r.status, 2, r.stderr);
  r = run(['work', '--no-such-flag', '--', 'true']);
  assert.equal(r.status, 2, r.stderr);
  r = run(['work', '--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: synq work /);
});
