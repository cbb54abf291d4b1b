// The client commands of the command line (docs/cli.md): `synq enqueue`,
// `synq job`, `synq jobs`, `synq queues` against the real server — what they
// print, what they send, and their exit codes: 0 done, 1 the server said no
// or could not be reached (reason on stderr), 2 usage error.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers');

let server;
let seq = 0;
const uq = (name) => `${name}-${process.pid}-${++seq}`;

before(async () => {
  server = await h.startServer();
});

after(async () => {
  if (server) assert.equal(await server.stop(), 0, 'server exits 0 on SIGTERM');
});

// Runs `synq <args>` against the test server (unless opts.noServer: args
// name another or none) and returns { status, stdout, stderr }. No server
// variable is passed on but those in opts.env.
function synq(args, opts = {}) {
  const withServer = opts.noServer ? args : [args[0], '--server', server.url, ...args.slice(1)];
  return h.runCli(withServer, { input: opts.input, env: h.cliEnv(opts.env) });
}

// Asserts exit 0 with nothing on stderr and returns stdout parsed as JSON.
function json(args, opts) {
  return JSON.parse(h.cliOk(synq(args, opts), args));
}

// Splits a table into rows of cells (header first).
function table(stdout) {
  return stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

test('enqueue prints the stored job as JSON', async () => {
  const queue = uq('enq');
  const job = json(['enqueue', 'send_email', '{"to":"a@example.com","n":[1,2]}', '--queue', queue]);
  assert.equal(job.type, 'send_email');
  assert.equal(job.queue, queue);
  assert.deepEqual(job.args, { to: 'a@example.com', n: [1, 2] });
  assert.equal(job.state, 'queued');
  assert.equal(job.priority, 5);
  assert.match(job.id, h.ULID_RE);
  assert.deepEqual(await h.getJob(server, job.id), job, 'what was printed is what is stored');
});

test('enqueue without ARGS_JSON sends no args (default [])', () => {
  const job = json(['enqueue', 'noargs', '-q', uq('noargs')]);
  assert.deepEqual(job.args, []);
});

test('enqueue flags set the job fields', async () => {
  const queue = uq('flags');
  const job = json(['enqueue', 'report', '[42]', '-q', queue, '-p', '8', '--retry', '3',
    '--reserve-for', '2m', '--id', `my-id-${seq}`, '--custom', '{"tenant":"acme"}']);
  assert.equal(job.id, `my-id-${seq}`);
  assert.equal(job.priority, 8);
  assert.equal(job.retry, 3);
  assert.equal(job.reserve_for, 120);
  assert.deepEqual(job.custom, { tenant: 'acme' });
  assert.deepEqual(job.args, [42]);

  const t0 = Date.now();
  const delayed = json(['enqueue', 'later', '--queue', queue, '--delay', '1h']);
  assert.equal(delayed.state, 'scheduled');
  const runAt = h.parseTime(delayed.run_at, 'run_at');
  assert.ok(Math.abs(runAt - (t0 + 3600e3)) < 60e3, `run_at an hour from now: ${delayed.run_at}`);

  const at = json(['enqueue', 'at', '--queue', queue, '--run-at', '2031-05-06T07:08:09Z']);
  assert.equal(at.state, 'scheduled');
  assert.equal(at.run_at, '2031-05-06T07:08:09.000000Z');
});

test('enqueue --print-id prints only the id; "-" reads ARGS_JSON from stdin', async () => {
  const r = synq(['enqueue', 'piped', '-', '--print-id', '-q', uq('stdin')], { input: '{"from":"stdin"}\n' });
  assert.equal(r.status, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, h.ULID_RE);
  assert.equal(r.stdout, id + '\n');
  assert.deepEqual((await h.getJob(server, id)).args, { from: 'stdin' });
});

test('enqueue: server errors go to stderr with exit 1', () => {
  const id = `dup-${process.pid}`;
  json(['enqueue', 't', '--id', id]);
  let r = synq(['enqueue', 't', '--id', id]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^synq enqueue: conflict: .+ \(.*HTTP 409\)\n$/);

  r = synq(['enqueue', 't', '--priority', '12']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid_field: .*\(field priority, HTTP 422\)/);

  r = synq(['enqueue', 't', '--retry', '-1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid_field: .*field retry/);
});

test('enqueue: usage errors exit 2 without contacting the server', async () => {
  const port = await h.closedPort(); // a request would fail with 1, not 2
  const bad = [
    [], // no TYPE
    ['t', '[1]', 'extra'],
    ['t', '{not json'],
    ['t', '--priority', 'high'],
    ['t', '--delay', 'soon'],
    ['t', '--run-at', 'tomorrow'],
    ['t', '--delay', '1m', '--run-at', '2031-01-01T00:00:00Z'],
    ['t', '--reserve-for', '1.5s'],
    ['t', '--custom', '[1]'],
    ['t', '--no-such-flag'],
    [''],
  ];
  for (const args of bad) {
    const r = synq(['enqueue', '--server', `http://127.0.0.1:${port}`, ...args], { noServer: true });
    assert.equal(r.status, 2, `enqueue ${JSON.stringify(args)}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /Try 'synq enqueue --help'/);
  }
});

test('every command has --help (exit 0, usage on stdout)', () => {
  for (const cmd of ['enqueue', 'job', 'jobs', 'queues', 'work']) {
    const r = synq([cmd, '--help'], { noServer: true });
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: synq ${cmd}`));
    assert.match(r.stdout, /--server URL/);
    assert.equal(r.stderr, '');
    const short = synq([cmd, '-h'], { noServer: true });
    assert.equal(short.status, 0);
    assert.equal(short.stdout, r.stdout);
  }
});

test('job ID prints the job as JSON; an unknown id is not_found with exit 1', async () => {
  const queue = uq('job');
  const created = await h.enqueue(server, { queue, type: 'show', args: { x: 'ü' } });
  const job = json(['job', created.id]);
  assert.deepEqual(job, await h.getJob(server, created.id));
  assert.deepEqual(job.args, { x: 'ü' });

  const odd = await h.enqueue(server, { id: `a:b.c-${seq}`, queue, type: 'odd' });
  assert.equal(json(['job', odd.id]).id, odd.id);

  let r = synq(['job', 'no-such-job']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^synq job: not_found: .*HTTP 404\)\n$/);

  r = synq(['job', 'has/slash?and#hash']); // escaped, so still one path segment
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not_found/);

  for (const args of [[], ['a', 'b'], ['--bogus', 'a']]) {
    r = synq(['job', ...args]);
    assert.equal(r.status, 2, `job ${args.join(' ')}`);
  }
});

test('jobs prints a table, newest first, filtered by queue, state and type', async () => {
  const queue = uq('list');
  const a = await h.enqueue(server, { queue, type: 'alpha' });
  const b = await h.enqueue(server, { queue, type: 'beta', priority: 9 });
  const c = await h.enqueue(server, { queue, type: 'alpha', delay: '1h' });

  let r = synq(['jobs', '--queue', queue]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  let rows = table(r.stdout);
  assert.deepEqual(rows[0], ['ID', 'STATE', 'QUEUE', 'TYPE', 'PRI', 'ATTEMPTS', 'CREATED']);
  assert.deepEqual(rows.slice(1).map((row) => row[0]), [c.id, b.id, a.id]);
  assert.deepEqual(rows[1].slice(1, 6), ['scheduled', queue, 'alpha', '5', '0']);
  assert.deepEqual(rows[2].slice(1, 6), ['queued', queue, 'beta', '9', '0']);
  assert.equal(rows[2][6], b.created_at);

  rows = table(synq(['jobs', '-q', queue, '--state', 'queued']).stdout);
  assert.deepEqual(rows.slice(1).map((row) => row[0]), [b.id, a.id]);
  rows = table(synq(['jobs', '-q', queue, '--type', 'alpha']).stdout);
  assert.deepEqual(rows.slice(1).map((row) => row[0]), [c.id, a.id]);

  const empty = synq(['jobs', '-q', uq('empty')]);
  assert.equal(empty.status, 0);
  assert.deepEqual(table(empty.stdout), [['ID', 'STATE', 'QUEUE', 'TYPE', 'PRI', 'ATTEMPTS', 'CREATED']]);
});

test('jobs --limit pages with --cursor; the next cursor is printed on stderr', async () => {
  const queue = uq('page');
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await h.enqueue(server, { queue, type: 'p' })).id);
  const seen = [];
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const args = ['jobs', '-q', queue, '--limit', '2'];
    if (cursor) args.push('--cursor', cursor);
    const r = synq(args);
    assert.equal(r.status, 0, r.stderr);
    const rows = table(r.stdout).slice(1);
    assert.ok(rows.length <= 2);
    seen.push(...rows.map((row) => row[0]));
    const m = r.stderr.match(/^more: --cursor (\S+)\n$/);
    if (!m) { assert.equal(r.stderr, ''); break; }
    cursor = m[1];
  }
  assert.deepEqual(seen, ids.reverse());
});

test('jobs --json prints the server response', async () => {
  const queue = uq('jobsjson');
  const a = await h.enqueue(server, { queue, type: 'j' });
  const body = json(['jobs', '-q', queue, '--json']);
  assert.deepEqual(body, { jobs: [await h.getJob(server, a.id)], next_cursor: null });
});

test('jobs: a bad filter is the server error with exit 1; bad flags exit 2', () => {
  let r = synq(['jobs', '--state', 'sleeping']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^synq jobs: invalid_field: .*field state, HTTP 422\)\n$/);
  r = synq(['jobs', '--limit', '5000']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /field limit/);
  for (const args of [['--limit', 'ten'], ['--limit', '0'], ['extra'], ['--nope']]) {
    r = synq(['jobs', ...args]);
    assert.equal(r.status, 2, `jobs ${args.join(' ')}: ${r.stderr}`);
  }
});

test('queues prints a table of queues and their counts', async () => {
  const queue = uq('qs');
  await h.enqueue(server, { queue, type: 'q' });
  await h.enqueue(server, { queue, type: 'q' });
  await h.enqueue(server, { queue, type: 'q', delay: '1h' });
  const [fetched] = await h.fetchJobs(server, { queues: [queue], worker: 'w' });
  assert.ok(fetched);
  await h.enqueue(server, { queue, type: 'q' });
  const paused = uq('paused');
  await h.enqueue(server, { queue: paused, type: 'q' });
  assert.equal((await h.api(server, 'POST', `/v1/queues/${paused}/pause`)).status, 200);

  const r = synq(['queues']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const rows = table(r.stdout);
  assert.deepEqual(rows[0], ['QUEUE', 'PAUSED', 'SIZE', 'LATENCY', 'SCHEDULED', 'QUEUED', 'ACTIVE', 'RETRY',
    'DEAD', 'COMPLETED', 'CANCELLED']);
  const row = rows.find((x) => x[0] === queue);
  assert.ok(row, r.stdout);
  // queued 2 (one of the first two fetched, then one more), scheduled 1, active 1
  assert.equal(row[1], 'no');
  assert.equal(row[2], '2');
  assert.match(row[3], /^\d+\.\d\ds$/);
  assert.deepEqual(row.slice(4), ['1', '2', '1', '0', '0', '0', '0']);
  const prow = rows.find((x) => x[0] === paused);
  assert.ok(prow, r.stdout);
  assert.equal(prow[1], 'yes');

  const body = json(['queues', '--json']);
  const q = body.queues.find((x) => x.name === queue);
  assert.deepEqual(q.counts, { ...h.ZERO_COUNTS, scheduled: 1, queued: 2, active: 1 });

  assert.equal(synq(['queues', 'extra']).status, 2);
});

test('SYNQ_SERVER picks the server; --server wins over it', async () => {
  const port = await h.closedPort();
  const { id } = json(['enqueue', 'env'], { noServer: true, env: { SYNQ_SERVER: server.url } });
  assert.match(id, h.ULID_RE);
  const r = synq(['job', '--server', server.url, id], { noServer: true, env: { SYNQ_SERVER: `http://127.0.0.1:${port}` } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).id, id);
  const trailing = synq(['job', '--server', server.url + '/', id], { noServer: true });
  assert.equal(trailing.status, 0, 'a trailing slash on the URL is fine');
});

test('connection refused: exit 1 with the reason on stderr, for every command', async () => {
  const port = await h.closedPort();
  const url = `http://127.0.0.1:${port}`;
  for (const args of [['enqueue', 't'], ['job', 'x'], ['jobs'], ['queues']]) {
    const viaFlag = synq([args[0], '--server', url, ...args.slice(1)], { noServer: true });
    assert.equal(viaFlag.status, 1, `${args[0]}: ${viaFlag.stderr}`);
    assert.equal(viaFlag.stdout, '');
    assert.match(viaFlag.stderr, new RegExp(`^synq ${args[0]}: cannot reach ${url}: .*\\n$`));
    const viaEnv = synq(args, { noServer: true, env: { SYNQ_SERVER: url } });
    assert.equal(viaEnv.status, 1);
    assert.match(viaEnv.stderr, /cannot reach/);
  }
});

test('a response that is not a synq error is still reported with exit 1', async () => {
  // A plain HTTP server that answers everything with 500 and text.
  const http = require('node:http');
  const srv = http.createServer((req, res) => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('oops\n'); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${srv.address().port}`;
    const r = await new Promise((resolve) => {
      // spawnSync would block the event loop this server runs on.
      const { execFile } = require('node:child_process');
      execFile(h.BIN, ['queues', '--server', url], { encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ status: err ? err.code : 0, stdout, stderr }));
    });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'synq queues: HTTP 500: oops\n');
  } finally {
    await new Promise((r) => srv.close(r));
  }
});
