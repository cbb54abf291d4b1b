// Schedules end to end (docs/api.md "Schedules"): timetable fires exactly
// once, catch-up policies across a restart, overlap forbid/replace with the
// built-in exec executor, failing commands retried with stderr visible,
// the http executor against a local server, crontab files (env lines, %,
// reload), alerts, the CLI, and invalid definitions.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const h = require('./helpers');

const BIN = process.env.SYNQ_BIN || path.resolve(__dirname, '../../synq');
let server;
let seq = 0;
const uq = (name) => `${name}-${process.pid}-${++seq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sec = (iso) => Math.round(Date.parse(iso) / 1000);

before(async () => { server = await h.startServer(); });
after(async () => { if (server) assert.equal(await server.stop(), 0); });

async function put(srv, name, def, want = [200, 201]) {
  const res = await h.api(srv, 'PUT', `/v1/schedules/${name}`, def);
  assert.ok(want.includes(res.status), `PUT ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function jobsOf(srv, queue) {
  return (await h.listAll(srv, `queue=${encodeURIComponent(queue)}`)).jobs;
}

async function schedule(srv, name, q = '') {
  const res = await h.api(srv, 'GET', `/v1/schedules/${name}${q}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

test('@every 1s fires once per second for 5 s: no duplicates, no gaps', async () => {
  const name = uq('tick');
  const queue = uq('q');
  await put(server, name, { every: '1s', job: { queue, type: 'tick' } });
  await sleep(5600);
  await h.api(server, 'POST', `/v1/schedules/${name}/pause`);
  // a pause within the 500 ms before a fire withdraws that prepared fire:
  // its job is cancelled and its run forgotten (it never happened)
  const all = await jobsOf(server, queue);
  const withdrawn = all.filter((j) => j.state === 'cancelled');
  assert.ok(withdrawn.length <= 1, `at most the next fire is withdrawn: ${JSON.stringify(withdrawn)}`);
  const jobs = all.filter((j) => j.state !== 'cancelled');
  const fires = jobs.map((j) => sec(j.fire_at)).sort((a, b) => a - b);
  if (withdrawn.length) assert.ok(sec(withdrawn[0].fire_at) > fires[fires.length - 1], 'the withdrawn fire is the next one');
  assert.ok(fires.length >= 5, `at least 5 fires in 5.6 s, got ${fires.length}`);
  assert.equal(new Set(fires).size, fires.length, `no duplicate fires: ${fires}`);
  for (let i = 1; i < fires.length; i++) assert.equal(fires[i] - fires[i - 1], 1, `no gap: ${fires}`);
  for (const j of jobs) {
    assert.equal(j.schedule, name);
    assert.ok(Date.parse(j.fire_at) % 1000 === 0, 'nominal fires are whole seconds');
    // the job became due at its fire time (within scheduling slack)
    const due = Date.parse(j.enqueued_at || j.run_at);
    assert.ok(due >= Date.parse(j.fire_at) - 1, `not early: ${JSON.stringify(j)}`);
  }
  const s = await schedule(server, name, '?runs=50');
  assert.equal(s.runs.length, jobs.length, 'one run per job');
  assert.ok(s.runs.every((r) => r.kind === 'scheduled'));
  const runFires = s.runs.map((r) => sec(r.fire_at));
  assert.deepEqual([...runFires].sort((a, b) => a - b), fires, 'runs list the same fires');
  assert.ok(runFires[0] > runFires[1], 'runs newest first');
});

test('catch-up after downtime: none skips, latest runs the newest, all runs each', async () => {
  const srv = await h.startServer();
  const q = { none: uq('none'), latest: uq('latest'), all: uq('all') };
  for (const [policy, queue] of Object.entries(q))
    await put(srv, `c-${policy}`, { every: '1s', catchup: policy, job: { queue, type: 't' } });
  await sleep(1500);
  assert.equal(await srv.stop(), 0);
  const stopped = Date.now();
  await sleep(4000);
  const restarted = Date.now();
  const srv2 = await h.startServer({ dataDir: srv.dataDir });
  try {
    await sleep(300);
    for (const p of Object.keys(q)) await h.api(srv2, 'POST', `/v1/schedules/c-${p}/pause`);
    // fires strictly inside the downtime (a fire prepared before the stop
    // may fall in the first second)
    const lo = Math.floor(stopped / 1000) + 1, hi = Math.floor(restarted / 1000);
    const inside = async (queue) => (await jobsOf(srv2, queue)).map((j) => sec(j.fire_at))
      .filter((f) => f > lo && f <= hi).sort((a, b) => a - b);
    const none = await inside(q.none), latest = await inside(q.latest), all = await inside(q.all);
    assert.deepEqual(none, [], `catchup none: ${none}`);
    assert.equal(latest.length, 1, `catchup latest: ${latest}`);
    assert.ok(latest[0] >= hi - 1, `latest is the newest missed: ${latest} hi=${hi}`);
    const want = []; for (let f = lo + 1; f <= hi; f++) want.push(f);
    for (const f of want.slice(0, -1)) assert.ok(all.includes(f), `catchup all has ${f}: ${all}`);
    for (const p of Object.keys(q)) {
      const fires = (await jobsOf(srv2, q[p])).map((j) => j.fire_at);
      assert.equal(new Set(fires).size, fires.length, `${p}: every fire once`);
    }
  } finally {
    assert.equal(await srv2.stop(), 0);
  }
});

test('fires are exactly once across kill -9 and restart', async () => {
  const srv = await h.startServer();
  const queue = uq('k9');
  await put(srv, 'k9', { every: '1s', catchup: 'all', job: { queue, type: 't' } });
  await sleep(1200 + Math.floor(Math.random() * 800));
  await srv.kill();
  const srv2 = await h.startServer({ dataDir: srv.dataDir });
  try {
    await sleep(2200);
    await h.api(srv2, 'POST', '/v1/schedules/k9/pause');
    const fires = (await jobsOf(srv2, queue)).map((j) => sec(j.fire_at)).sort((a, b) => a - b);
    assert.equal(new Set(fires).size, fires.length, `no fire twice: ${fires}`);
    for (let i = 1; i < fires.length; i++) assert.equal(fires[i] - fires[i - 1], 1, `no gap: ${fires}`);
  } finally {
    assert.equal(await srv2.stop(), 0);
  }
});

test('overlap forbid skips fires while a sleeping command runs', async () => {
  const name = uq('forbid');
  await put(server, name, { every: '1s', overlap: 'forbid', exec: { shell: 'sleep 2.5' } });
  await sleep(4800);
  await h.api(server, 'POST', `/v1/schedules/${name}/pause`);
  const s = await schedule(server, name, '?runs=50');
  const ran = s.runs.filter((r) => r.kind === 'scheduled');
  const skipped = s.runs.filter((r) => r.kind === 'skipped');
  assert.ok(skipped.length >= 2, `fires skipped: ${JSON.stringify(s.runs)}`);
  assert.ok(skipped.every((r) => r.job_id === null && r.state === 'skipped'));
  // no two runs were active at the same time
  const spans = [];
  for (const r of ran) {
    const j = await h.getJob(server, r.job_id);
    if (j.started_at) spans.push([Date.parse(j.started_at), j.finished_at ? Date.parse(j.finished_at) : Infinity]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], `no overlap: ${JSON.stringify(spans)}`);
});

test('overlap replace cancels the running command', async () => {
  const name = uq('replace');
  await put(server, name, { every: '2s', overlap: 'replace', exec: { shell: 'sleep 30' } });
  await sleep(4800);
  await h.api(server, 'POST', `/v1/schedules/${name}/pause`);
  const s = await schedule(server, name, '?runs=50');
  const states = s.runs.map((r) => r.state);
  assert.ok(s.runs.length >= 2, JSON.stringify(s.runs));
  assert.ok(states.slice(1).every((st) => st === 'cancelled'), `older runs cancelled: ${states}`);
  assert.ok(['active', 'queued', 'scheduled'].includes(states[0]), `newest runs: ${states}`);
  // the cancelled command was killed: its job never completes
  await sleep(300);
  const old = await h.getJob(server, s.runs[1].job_id);
  assert.equal(old.state, 'cancelled');
  await h.api(server, 'DELETE', `/v1/schedules/${name}`);
});

test('a failing command is retried, its stderr is visible, death raises an alert', async () => {
  const alerts = [];
  const hook = http.createServer((req, res) => {
    let b = ''; req.on('data', (d) => { b += d; });
    req.on('end', () => { alerts.push({ headers: req.headers, body: JSON.parse(b) }); res.end('ok'); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const srv = await h.startServer({ args: ['--alert-url', `http://127.0.0.1:${hook.address().port}/alert`] });
  try {
    await put(srv, 'fails', { cron: '0 0 1 1 *', retry: 1, backoff: { type: 'fixed', base: '1s' },
      exec: { shell: 'echo out; echo boom >&2; exit 3' } });
    const t = await h.api(srv, 'POST', '/v1/schedules/fails/trigger');
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.run.kind, 'manual');
    const id = t.body.job.id;
    const dead = await h.waitFor(async () => { const j = await h.getJob(srv, id); return j.state === 'dead' && j; }, 15000);
    assert.equal(dead.attempts, 2, 'one retry');
    assert.match(dead.error.message, /^exit status 3: boom$/);
    assert.equal(dead.error.type, 'ExitStatus');
    assert.equal(dead.error.backtrace.exit_code, 3);
    assert.equal(dead.error.backtrace.stderr, 'boom\n');
    assert.equal(dead.error.backtrace.stdout, 'out\n');
    await h.waitFor(() => alerts.length > 0, 5000);
    assert.equal(alerts[0].body.type, 'schedule.job_dead');
    assert.equal(alerts[0].body.schedule, 'fails');
    assert.equal(alerts[0].body.job_id, id);
    assert.match(srv.stderr, /level=error msg="scheduled job died" schedule=fails/);
  } finally {
    assert.equal(await srv.stop(), 0);
    hook.close();
  }
});

test('exec captures exit status, output and honours env, cwd, input and timeout', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-exec-'));
  const ok = await h.enqueue(server, { type: 'synq.exec', args: [{ argv: ['sh', '-c', 'pwd; echo "$FOO"; cat'], env: { FOO: 'bar' }, cwd: dir, input: 'in\n' }] });
  assert.equal(ok.queue, 'synq.exec', 'built-in types default to their queue');
  const done = await h.waitFor(async () => { const j = await h.getJob(server, ok.id); return j.state === 'completed' && j; });
  assert.equal(done.result.exit_code, 0);
  assert.equal(done.result.stdout, `${fs.realpathSync(dir)}\nbar\nin\n`);
  const slow = await h.enqueue(server, { type: 'synq.exec', retry: 0, args: [{ shell: 'sleep 20', timeout: '300ms' }] });
  const dead = await h.waitFor(async () => { const j = await h.getJob(server, slow.id); return j.state === 'dead' && j; });
  assert.equal(dead.error.type, 'Timeout');
  assert.ok(dead.error.backtrace.duration_ms < 10000);
  const res = await h.api(server, 'POST', '/v1/jobs', { type: 'synq.exec', args: [{ shell: 'x', argv: ['y'] }] });
  h.assertError(res, 422, 'invalid_field', undefined, 'argv and shell');
  const res2 = await h.api(server, 'POST', '/v1/jobs', { type: 'synq.http', args: [{ url: 'ftp://x' }] });
  h.assertError(res2, 422, 'invalid_field', undefined, 'ftp url');
});

test('http schedule calls a local server; non-2xx is retried after Retry-After', async () => {
  const seen = [];
  let fail = 1;
  const target = http.createServer((req, res) => {
    let b = ''; req.on('data', (d) => { b += d; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: b, at: Date.now() });
      if (fail-- > 0) { res.writeHead(503, { 'Retry-After': '1' }); res.end('busy'); return; }
      res.writeHead(200, { 'content-type': 'application/json', 'x-test': 'yes' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${target.address().port}/hook?x=1`;
  try {
    const name = uq('http');
    await put(server, name, { cron: '0 0 1 1 *', http: { url, method: 'POST', headers: { 'X-Key': 'k1' }, body: { hello: 'world' } } });
    const t = await h.api(server, 'POST', `/v1/schedules/${name}/trigger`);
    const done = await h.waitFor(async () => { const j = await h.getJob(server, t.body.job.id); return j.state === 'completed' && j; }, 15000);
    assert.equal(seen.length, 2, 'one failure, one success');
    assert.equal(seen[0].method, 'POST');
    assert.equal(seen[0].url, '/hook?x=1');
    assert.equal(seen[0].headers['x-key'], 'k1');
    assert.equal(seen[0].headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(seen[0].body), { hello: 'world' });
    assert.ok(seen[1].at - seen[0].at >= 900, 'Retry-After: 1 honoured');
    assert.equal(done.attempts, 2);
    assert.equal(done.result.status, 200);
    assert.equal(done.result.body, '{"ok":true}');
    assert.equal(done.result.headers['x-test'], 'yes');
  } finally {
    target.close();
  }
});

test('crontab file: env lines, CRON_TZ, % input, @reboot, reload on SIGHUP', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synq-cron-'));
  const file = path.join(dir, 'jobs.cron');
  const out = path.join(dir, 'out.txt');
  fs.writeFileSync(file, [
    '# a comment', '',
    'FOO = "hello world"',
    'CRON_TZ=Europe/Berlin',
    '# synq: name=greet',
    `0 2 * * * echo "$FOO" >> ${out}; cat >> ${out}%line one%line two`,
    `@reboot echo booted >> ${out}`,
    '',
  ].join('\n'));
  const srv = await h.startServer({ args: ['--crontab', file] });
  try {
    const list = (await h.api(srv, 'GET', '/v1/schedules')).body.schedules;
    const names = list.map((s) => s.name).sort();
    assert.deepEqual(names, ['greet', 'jobs.cron:7']);
    const greet = list.find((s) => s.name === 'greet');
    assert.equal(greet.cron, '0 2 * * *');
    assert.equal(greet.tz, 'Europe/Berlin');
    assert.equal(greet.exec.env.FOO, 'hello world');
    assert.equal(greet.exec.input, 'line one\nline two\n');
    assert.match(greet.source, /^crontab:/);
    // 02:00 Berlin is 00:00 or 01:00 UTC
    assert.ok([0, 1].includes(new Date(greet.next_fire_at).getUTCHours()), greet.next_fire_at);
    await h.waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('booted'), 5000, 50, '@reboot ran');
    const t = await h.api(srv, 'POST', '/v1/schedules/greet/trigger');
    await h.waitFor(async () => (await h.getJob(srv, t.body.job.id)).state === 'completed');
    assert.equal(fs.readFileSync(out, 'utf8'), 'booted\nhello world\nline one\nline two\n');
    // an API schedule is left alone by reloads
    await put(srv, 'mine', { cron: '@daily', job: { type: 't' } });
    fs.writeFileSync(file, 'CRON_TZ=UTC\n# synq: name=greet\n30 3 * * * echo changed\n*/5 * * * * echo new\n');
    srv.proc.kill('SIGHUP');
    await h.waitFor(async () => {
      const l = (await h.api(srv, 'GET', '/v1/schedules')).body.schedules;
      return l.length === 3 && l.find((s) => s.name === 'greet').cron === '30 3 * * *' && l;
    }, 5000, 50, 'reload applied');
    const l = (await h.api(srv, 'GET', '/v1/schedules')).body.schedules.map((s) => s.name).sort();
    assert.deepEqual(l, ['greet', 'jobs.cron:4', 'mine']);
    // a broken file is refused whole: nothing changes
    fs.writeFileSync(file, '# synq: name=greet\n61 * * * * echo bad\n');
    srv.proc.kill('SIGHUP');
    await h.waitFor(() => /invalid crontab/.test(srv.stderr), 5000);
    assert.match(srv.stderr, /minute: 61 is out of range 0-59/);
    assert.equal((await h.api(srv, 'GET', '/v1/schedules')).body.schedules.length, 3);
    // synq cron import does the same through the API
    fs.writeFileSync(file, '@hourly echo only\n');
    const outText = execFileSync(BIN, ['cron', 'import', file, '-s', srv.url]).toString();
    const r = JSON.parse(outText);
    assert.deepEqual(r.added, ['jobs.cron:1']);
    assert.deepEqual(r.removed.sort(), ['greet', 'jobs.cron:4']);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('invalid definitions are rejected with 400 and nothing is stored', async () => {
  const cases = [
    [{ cron: '0 0 * * 8', job: { type: 't' } }, 'cron', /day-of-week: 8 is out of range 0-7/],
    [{ cron: '5-1 * * * *', job: { type: 't' } }, 'cron', /descending/],
    [{ cron: '* * * *', job: { type: 't' } }, 'cron', /5 fields/],
    [{ cron: '@every 0s', job: { type: 't' } }, 'cron', /at least 1s/],
    [{ cron: '0 * * * *', tz: 'Mars/Base', job: { type: 't' } }, 'tz', /unknown time zone/],
    [{ cron: '0 * * * *', tz: '../../etc/passwd', job: { type: 't' } }, 'tz', /./],
    [{ cron: '0 * * * *', every: '1s', job: { type: 't' } }, 'cron', /exactly one/],
    [{ cron: '0 * * * *' }, 'job', /exactly one of job, exec or http/],
    [{ cron: '0 * * * *', job: { type: 't' }, exec: { shell: 'x' } }, 'job', /exactly one/],
    [{ cron: '0 * * * *', job: { type: 't' }, overlap: 'sometimes' }, 'overlap', /allow/],
    [{ cron: '0 * * * *', job: { type: 't' }, catchup: 'everything' }, 'catchup', /none/],
    [{ cron: '0 * * * *', job: { type: 't' }, jitter: 'soon' }, 'jitter', /duration/],
    [{ cron: '0 * * * *', job: { type: 't' }, colour: 'red' }, 'colour', /unknown field/],
    [{ cron: '0 * * * *', job: { type: 't', priority: 42 } }, 'job.priority', /priority/],
    [{ cron: '0 * * * *', exec: { argv: [] } }, 'exec.argv', /argv/],
    [{ cron: '0 * * * *', http: { url: 'file:///etc/passwd' } }, 'http.url', /http/],
    [{ at: 'tomorrow', job: { type: 't' } }, 'at', /RFC 3339/],
  ];
  for (const [def, field, msg] of cases) {
    const name = uq('bad');
    const res = await h.api(server, 'PUT', `/v1/schedules/${name}`, def);
    h.assertError(res, 400, 'invalid_schedule', field, JSON.stringify(def));
    assert.match(res.body.error.message, msg);
    const got = await h.api(server, 'GET', `/v1/schedules/${name}`);
    assert.equal(got.status, 404, 'nothing stored');
  }
  h.assertError(await h.api(server, 'PUT', '/v1/schedules/x', '{bad'), 400, 'malformed_json');
  h.assertError(await h.api(server, 'PUT', '/v1/schedules/bad%20name', { cron: '@daily', job: { type: 't' } }), 400, 'invalid_schedule', 'name');
  // a replace that fails keeps the old definition
  const name = uq('keep');
  await put(server, name, { cron: '@daily', job: { type: 't' } });
  h.assertError(await h.api(server, 'PUT', `/v1/schedules/${name}`, { cron: 'nope', job: { type: 't' } }), 400, 'invalid_schedule', 'cron');
  assert.equal((await schedule(server, name)).cron, '@daily');
  const list = (await h.api(server, 'GET', '/v1/schedules')).body.schedules;
  assert.ok(!list.some((s) => s.name.startsWith('bad-')), 'no bad schedule listed');
  h.assertError(await h.api(server, 'GET', '/v1/schedules/nope'), 404, 'not_found');
  h.assertError(await h.api(server, 'POST', '/v1/schedules/nope/trigger'), 404, 'not_found');
  h.assertError(await h.api(server, 'DELETE', '/v1/schedules/nope'), 404, 'not_found');
});

test('create, replace, pause, resume, next, trigger, delete', async () => {
  const name = uq('crud');
  const queue = uq('q');
  const created = await h.api(server, 'PUT', `/v1/schedules/${name}`, {
    cron: '30 2 * * *', tz: 'America/New_York', description: 'nightly', job: { queue, type: 'backup', args: [1] },
    start_at: '2024-03-01T00:00:00Z', end_at: '2099-01-01T00:00:00Z' });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, name);
  assert.equal(created.body.overlap, 'allow');
  assert.equal(created.body.catchup, 'latest');
  assert.equal(created.body.next.length, 5);
  const replaced = await h.api(server, 'PUT', `/v1/schedules/${name}`, { cron: '0 12 * * *', job: { queue, type: 'backup' } });
  assert.equal(replaced.status, 200);
  assert.equal(new Date(replaced.body.next_fire_at).getUTCHours(), 12, 'replacement takes effect at once');
  const nx = await h.api(server, 'GET', `/v1/schedules/${name}/next?n=10`);
  assert.equal(nx.body.next.length, 10);
  for (let i = 1; i < 10; i++) assert.equal(Date.parse(nx.body.next[i]) - Date.parse(nx.body.next[i - 1]), 86400000);
  h.assertError(await h.api(server, 'GET', `/v1/schedules/${name}/next?n=0`), 422, 'invalid_field', 'n');
  const paused = await h.api(server, 'POST', `/v1/schedules/${name}/pause`);
  assert.equal(paused.body.paused, true);
  assert.equal(paused.body.next_fire_at, null);
  const trig = await h.api(server, 'POST', `/v1/schedules/${name}/trigger`);
  assert.equal(trig.status, 200, 'a paused schedule can still be run by hand');
  assert.equal(trig.body.job.queue, queue);
  assert.equal(trig.body.job.state, 'queued');
  assert.equal(trig.body.job.schedule, name);
  const resumed = await h.api(server, 'POST', `/v1/schedules/${name}/resume`);
  assert.equal(resumed.body.paused, false);
  assert.ok(resumed.body.next_fire_at);
  const shown = await schedule(server, name);
  assert.equal(shown.runs[0].kind, 'manual');
  assert.equal(shown.runs[0].job_id, trig.body.job.id);
  assert.equal(shown.runs[0].state, 'queued');
  const del = await h.api(server, 'DELETE', `/v1/schedules/${name}`);
  assert.equal(del.status, 204);
  assert.equal((await h.api(server, 'GET', `/v1/schedules/${name}`)).status, 404);
});

test('at fires once; jitter delays within its bound', async () => {
  const queue = uq('at');
  const at = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000).toISOString();
  await put(server, uq('once'), { at, job: { queue, type: 'once' } });
  await put(server, uq('jit'), { every: '2s', jitter: '1500ms', job: { queue, type: 'jit' } });
  await sleep(4500);
  const jobs = await jobsOf(server, queue);
  const once = jobs.filter((j) => j.type === 'once');
  assert.equal(once.length, 1);
  assert.equal(Date.parse(once[0].fire_at), Date.parse(at));
  const jit = jobs.filter((j) => j.type === 'jit');
  assert.ok(jit.length >= 1);
  for (const j of jit) {
    const delay = Date.parse(j.run_at || j.enqueued_at) - Date.parse(j.fire_at);
    assert.ok(delay >= 0 && delay < 1500, `jitter within bound: ${delay}`);
  }
});

test('cron preview endpoint and synq cron next agree', async () => {
  const res = await h.api(server, 'GET', '/v1/cron/next?expr=' + encodeURIComponent('30 2 * * *') + '&tz=America/New_York&n=2&after=2024-03-09T12:00:00Z');
  assert.deepEqual(res.body.next, ['2024-03-10T07:30:00.000000Z', '2024-03-11T06:30:00.000000Z']);
  const cli = execFileSync(BIN, ['cron', 'next', '30 2 * * *', '--tz', 'America/New_York', '-n', '2', '--after', '2024-03-09T12:00:00Z']).toString();
  assert.equal(cli, '2024-03-10T07:30:00.000000Z\n2024-03-11T06:30:00.000000Z\n');
  const never = await h.api(server, 'GET', '/v1/cron/next?expr=' + encodeURIComponent('0 0 30 2 *'));
  assert.deepEqual(never.body.next, []);
  h.assertError(await h.api(server, 'GET', '/v1/cron/next?expr=' + encodeURIComponent('0 0 * * 8')), 400, 'invalid_schedule', 'cron');
});

test('synq cron add, ls, show, run, pause, rm', async () => {
  const run = (...a) => execFileSync(BIN, ['cron', '-s', server.url, ...a]).toString();
  const name = uq('cli');
  const added = JSON.parse(run('add', name, '*/5 * * * *', '--tz', 'Europe/Berlin', '--overlap', 'forbid', '--', 'echo', 'hi there'));
  assert.deepEqual(added.exec.argv, ['echo', 'hi there']);
  assert.equal(added.overlap, 'forbid');
  assert.match(run('ls'), new RegExp(`${name}\\s+\\*/5 \\* \\* \\* \\*\\s+Europe/Berlin\\s+no`));
  const ran = JSON.parse(run('run', name));
  await h.waitFor(async () => (await h.getJob(server, ran.job.id)).state === 'completed');
  const shown = JSON.parse(run('show', name));
  assert.equal(shown.runs[0].state, 'completed');
  assert.equal(JSON.parse(run('pause', name)).paused, true);
  run('rm', name);
  assert.equal((await h.api(server, 'GET', `/v1/schedules/${name}`)).status, 404);
});

test('a replaced or paused schedule withdraws its prepared fire at once', async () => {
  const name = uq('swap');
  const qa = uq('qa'), qb = uq('qb');
  await put(server, name, { every: '1s', job: { queue: qa, type: 'a' } });
  // replace in the half second before a fire, when that fire is prepared
  await h.waitFor(() => (Date.now() % 1000) > 600 && (Date.now() % 1000) < 800, 3000, 5);
  await sleep(1000);
  const replacedAt = Date.now();
  await put(server, name, { every: '1s', job: { queue: qb, type: 'b' } });
  await sleep(2300);
  await h.api(server, 'POST', `/v1/schedules/${name}/pause`);
  const a = await jobsOf(server, qa), b = await jobsOf(server, qb);
  for (const j of a) {
    if (Date.parse(j.fire_at) > replacedAt) assert.equal(j.state, 'cancelled', `old definition withdrawn: ${JSON.stringify(j)}`);
  }
  assert.ok(a.some((j) => Date.parse(j.fire_at) > replacedAt && j.state === 'cancelled'), 'a prepared fire was withdrawn');
  const bf = b.map((j) => sec(j.fire_at));
  assert.ok(bf.length >= 2, `new definition fires: ${bf}`);
  const allFires = [...a.filter((j) => j.state !== 'cancelled'), ...b].map((j) => sec(j.fire_at));
  assert.equal(new Set(allFires).size, allFires.length, 'each instant fired once');
  // pause withdraws too
  const s = await schedule(server, name, '?runs=100');
  assert.equal(s.paused, true);
  const later = (await jobsOf(server, qb)).filter((j) => Date.parse(j.fire_at) > Date.now());
  assert.ok(later.every((j) => j.state === 'cancelled'), 'no live job after pause');
});
