#!/usr/bin/env node
// bench/sched_check.js: the scheduler benchmark's client (bench/sched.sh
// starts the server and runs this). Loopback only, node's own http module,
// bounded by a hard timeout.
//
//   node bench/sched_check.js URL SERVER_PID
//
// 1. Creates N schedules `{"every":"1s","job":{"queue":"sched-<i % Q>",...}}`
//    with PUT /v1/schedules/{name} over CONC keep-alive connections.
// 2. A worker long-polls POST /v1/fetch (max 1000) on queue sched-0 (on the
//    first SCHED_FETCH queues) and acks what it gets with POST /v1/ack; it
//    records when each batch's response headers arrived ("fetchable
//    lateness" = that instant - fire_at).
// 3. Waits SECS seconds (the window), sampling the server's CPU time
//    (utime + stime from /proc/PID/stat) at its start and end.
// 4. Stops the worker, pauses every schedule, lists every job of every
//    queue (GET /v1/jobs, 1000 a page) and checks each schedule's fires:
//    no duplicate fire_at, no gap between the first and the last, the first
//    is the one the PUT announced (next_fire_at), and the last is no older
//    than one second before the schedule's pause was sent.
//    Lateness = enqueued_at - fire_at, over the fires inside the window
//    (from 1 s after its start, so that their preparation is inside too).
//
// Note: the engine stamps enqueued_at once per due-timer turn, before it
// writes the turn's jobs, so enqueued_at - fire_at leaves out that turn's
// store writes and commit; the worker's figure includes them.
//
// Environment: SCHED_N (10000), SCHED_QUEUES (10), SCHED_SECS (60),
// SCHED_CONC (32), SCHED_FETCH (1: queues with a worker, 0 = none),
// SCHED_TIMEOUT (hard limit in seconds for the whole run, default
// SECS + 900), SCHED_VERBOSE (0; 1 = a line per fire second), CLK_TCK (100).
// Prints a report, then one `key=value` line (prefixed `result `) for
// bench/sched.sh. Exit status: 0 when every fire happened exactly once,
// 1 when not, 2 on a timeout or an HTTP failure.
'use strict';
const http = require('node:http');
const fs = require('node:fs');

const [URL_ARG, PID_ARG] = process.argv.slice(2);
if (!URL_ARG || !PID_ARG) {
  console.error('usage: node bench/sched_check.js URL SERVER_PID');
  process.exit(2);
}
const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const N = env('SCHED_N', 10000);
const NQ = env('SCHED_QUEUES', 10);
const SECS = env('SCHED_SECS', 60);
const CONC = env('SCHED_CONC', 32);
const FETCH = env('SCHED_FETCH', 1);
const TIMEOUT = env('SCHED_TIMEOUT', SECS + 900);
const CLK_TCK = env('CLK_TCK', 100);
const VERBOSE = env('SCHED_VERBOSE', 0);
const PID = Number(PID_ARG);
const { hostname: HOST, port: PORT } = new URL(URL_ARG);

setTimeout(() => {
  console.error(`sched_check: hard timeout of ${TIMEOUT} s reached`);
  process.exit(2);
}, TIMEOUT * 1000).unref();

// Wall clock in ms with sub-ms resolution (the server stamps CLOCK_REALTIME).
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// "2026-11-22T20:53:00.123456Z" -> ms since the epoch, with the microseconds.
function tms(s) {
  if (typeof s !== 'string') return NaN;
  return Date.parse(s.slice(0, 23) + 'Z') + Number(s.slice(23, 26)) / 1000;
}

// One JSON request. onHeaders (optional) runs when the response headers arrive.
function request(agent, method, path, body, onHeaders) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = data ? { 'content-type': 'application/json', 'content-length': data.length } : {};
    const req = http.request({ host: HOST, port: PORT, method, path, agent, headers }, (res) => {
      const t = nowMs();
      if (onHeaders) onHeaders(t);
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed = null;
        try { parsed = text.length ? JSON.parse(text) : null; } catch { parsed = text; }
        resolve({ status: res.statusCode, body: parsed, t });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

function must(res, ok, what) {
  if (!ok.includes(res.status)) {
    console.error(`sched_check: ${what} -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    process.exit(2);
  }
  return res.body;
}

// Runs fn(i) for i in [0, n) with `conc` at a time.
async function pool(n, conc, fn) {
  let next = 0;
  const lanes = [];
  for (let c = 0; c < Math.min(conc, n); c++)
    lanes.push((async () => { for (let i; (i = next++) < n;) await fn(i); })());
  await Promise.all(lanes);
}

function serverCpuSecs() {
  const st = fs.readFileSync(`/proc/${PID}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function serverStatusKb(key) {
  const m = fs.readFileSync(`/proc/${PID}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'));
  return m ? Number(m[1]) : 0;
}

// CPU seconds the whole machine was busy (as bench/run.sh counts them).
function machineBusySecs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (f[1] + f[2] + f[3] + f[6] + f[7] + f[8]) / CLK_TCK;
}

// The server's write traffic: bytes it asked to write (wchar) and bytes that
// went to the block layer (write_bytes).
function serverIo() {
  const t = fs.readFileSync(`/proc/${PID}/io`, 'utf8');
  const get = (k) => Number((t.match(new RegExp(`^${k}: (\\d+)`, 'm')) || [0, 0])[1]);
  return { wchar: get('wchar'), wbytes: get('write_bytes') };
}

function clientCpuSecs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// Percentile (nearest rank) of a sorted Float64Array.
function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

function stats(values) {
  const a = Float64Array.from(values).sort();
  return { n: a.length, p50: pct(a, 50), p99: pct(a, 99), p999: pct(a, 99.9), max: a.length ? a[a.length - 1] : NaN };
}

const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : 'nan');
const name = (i) => `bench-${String(i).padStart(5, '0')}`;
const queueOf = (i) => `sched-${i % NQ}`;

async function main() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });

  // ---- workers on sched-0 .. sched-(FETCH-1), started first: no backlog
  // at the window start
  const recv = []; // [fire_at ms, received ms, enqueued_at ms]
  let workerOn = FETCH > 0, workerBatches = 0;
  const workers = [];
  for (let w = 0; w < Math.min(FETCH, NQ); w++) {
    const wagent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const worker = `bench-w${w}`;
    workers.push((async () => {
      while (workerOn) {
        const res = await request(wagent, 'POST', '/v1/fetch',
          { queues: [`sched-${w}`], max: 1000, wait: '1s', worker });
        must(res, [200, 204], 'fetch');
        if (res.status !== 200) continue;
        workerBatches++;
        const acks = [];
        for (const j of res.body.jobs) {
          recv.push([tms(j.fire_at), res.t, tms(j.enqueued_at)]);
          acks.push({ id: j.id });
        }
        must(await request(wagent, 'POST', '/v1/ack', { worker, jobs: acks }), [200], 'ack');
      }
      wagent.destroy();
    })());
  }
  const workerDone = Promise.all(workers);

  // ---- create
  const firstFire = new Float64Array(N);
  const cpuC0 = serverCpuSecs();
  const tc0 = nowMs();
  await pool(N, CONC, async (i) => {
    const b = must(await request(agent, 'PUT', `/v1/schedules/${name(i)}`,
      { every: '1s', job: { queue: queueOf(i), type: 'bench.tick' } }), [200, 201], `PUT ${name(i)}`);
    firstFire[i] = tms(b.next_fire_at);
  });
  const tc1 = nowMs();
  const cpuC1 = serverCpuSecs();

  // ---- the window
  const w0 = nowMs(), cpu0 = serverCpuSecs(), busy0 = machineBusySecs(), cli0 = clientCpuSecs(), io0 = serverIo();
  const perSec = [];
  let last = cpu0, ioFirst = io0, ioLast = io0;
  for (let s = 1; s <= SECS; s++) {
    await sleep(w0 + s * 1000 - nowMs());
    const c = serverCpuSecs();
    perSec.push(c - last);
    last = c;
    if (s === Math.min(10, SECS)) ioFirst = serverIo();
    if (s === Math.max(SECS - 10, 0)) ioLast = serverIo();
  }
  // fires inside the window: prepared (500 ms ahead) and due within it
  const wf = w0 + 1000;
  const w1 = nowMs(), cpu1 = serverCpuSecs(), busy1 = machineBusySecs(), cli1 = clientCpuSecs(), io1 = serverIo();
  const hwmWindow = serverStatusKb('VmHWM');
  const rssWindow = serverStatusKb('VmRSS');

  // ---- stop the worker, pause everything
  workerOn = false;
  await workerDone;
  const pauseSent = new Float64Array(N);
  const tp0 = nowMs();
  await pool(N, CONC, async (i) => {
    pauseSent[i] = nowMs();
    must(await request(agent, 'POST', `/v1/schedules/${name(i)}/pause`), [200], `pause ${name(i)}`);
  });
  const tp1 = nowMs();

  // ---- read every job back
  const idx = new Map();
  for (let i = 0; i < N; i++) idx.set(name(i), i);
  const fires = Array.from({ length: N }, () => []);
  const late = [];      // enqueued_at - fire_at, fires inside the window
  const lateAll = [];   // the same over every fire
  const prep = new Map(); // fire second -> [min created_at, max created_at, max lateness, n]
  const states = {};
  let jobsRead = 0, pages = 0, foreign = 0;
  const tl0 = nowMs();
  for (let q = 0; q < NQ; q++) {
    let cursor = null;
    for (let guard = 0; guard < 100000; guard++) {
      let p = `/v1/jobs?queue=${encodeURIComponent(`sched-${q}`)}&limit=1000`;
      if (cursor !== null) p += `&cursor=${encodeURIComponent(cursor)}`;
      const body = must(await request(agent, 'GET', p), [200], `GET ${p}`);
      pages++;
      for (const j of body.jobs) {
        jobsRead++;
        states[j.state] = (states[j.state] || 0) + 1;
        const i = idx.get(j.schedule);
        if (i === undefined) { foreign++; continue; }
        const fa = tms(j.fire_at);
        if (j.state === 'cancelled') continue; // a prepared fire withdrawn by the pause
        fires[i].push(fa);
        const ea = tms(j.enqueued_at);
        if (!Number.isFinite(ea)) continue;
        const l = ea - fa;
        lateAll.push(l);
        if (fa >= wf && fa <= w1) late.push(l);
        const ca = tms(j.created_at);
        let e = prep.get(fa);
        if (!e) prep.set(fa, (e = [Infinity, -Infinity, -Infinity, 0]));
        if (ca < e[0]) e[0] = ca;
        if (ca > e[1]) e[1] = ca;
        if (l > e[2]) e[2] = l;
        e[3]++;
      }
      cursor = body.next_cursor;
      if (cursor === null || cursor === undefined) break;
    }
  }
  const tl1 = nowMs();

  // ---- exactly once
  let total = 0, dups = 0, gaps = 0, offGrid = 0, badFirst = 0, shortTail = 0, none = 0, schedsBad = 0;
  const examples = [];
  for (let i = 0; i < N; i++) {
    const f = fires[i].sort((a, b) => a - b);
    total += f.length;
    let bad = false;
    if (f.length === 0) { none++; bad = true; }
    for (let k = 1; k < f.length; k++) {
      const d = f[k] - f[k - 1];
      if (d === 0) { dups++; bad = true; }
      else if (d % 1000 !== 0) { offGrid++; bad = true; } // not a whole-second step
      else if (d !== 1000) { gaps += d / 1000 - 1; bad = true; }
    }
    if (f.length && f[0] !== firstFire[i]) { badFirst++; bad = true; }
    if (f.length && f[f.length - 1] < Math.floor(pauseSent[i] / 1000) * 1000 - 1000) { shortTail++; bad = true; }
    if (bad) {
      schedsBad++;
      if (examples.length < 5) examples.push(`${name(i)}: ${f.length} fires, first ${new Date(f[0]).toISOString()} (want ${new Date(firstFire[i]).toISOString()}), last ${new Date(f[f.length - 1]).toISOString()}`);
    }
  }
  const exactlyOnce = schedsBad === 0;

  // ---- figures
  const L = stats(late), LA = stats(lateAll);
  const recvWin = recv.filter((r) => r[0] >= wf && r[0] <= w1);
  const FL = stats(recvWin.map((r) => r[1] - r[0]));
  const FQ = stats(recvWin.map((r) => r[1] - r[2]));
  const winSecs = (w1 - w0) / 1000;
  const cpuPct = ((cpu1 - cpu0) / winSecs) * 100;
  const other = Math.max(0, busy1 - busy0 - (cpu1 - cpu0) - (cli1 - cli0));
  // per fire second inside the window: how long the prepare turn ran
  // (spread of the jobs' created_at), how far ahead it started, its worst lateness
  const secs = [...prep.entries()].filter(([fa]) => fa >= wf && fa <= w1).sort((a, b) => a[0] - b[0]);
  const spread = stats(secs.map(([, e]) => e[1] - e[0]));
  const lead = stats(secs.map(([fa, e]) => fa - e[0]));
  const lastPrep = stats(secs.map(([fa, e]) => e[1] - fa)); // > 0: the last fire was prepared late
  const worst = [...secs].sort((a, b) => b[1][2] - a[1][2]).slice(0, 5)
    .map(([fa, e]) => `${new Date(fa).toISOString().slice(11, 19)} ${f3(e[2])}ms`);
  const cpuSorted = [...perSec].sort((a, b) => a - b);

  const out = (s) => process.stdout.write(s + '\n');
  out(`schedules: ${N} x every 1s over ${NQ} queues; created in ${f3((tc1 - tc0) / 1000)} s ` +
      `(${Math.round(N / ((tc1 - tc0) / 1000))}/s, ${CONC} connections, server CPU ${f3(cpuC1 - cpuC0)} s)`);
  out(`window: ${f3(winSecs)} s; server CPU ${f3(cpu1 - cpu0)} s = ${cpuPct.toFixed(1)}% of one core ` +
      `(per second: median ${f3(cpuSorted[cpuSorted.length >> 1] * 100)}%, max ${f3(cpuSorted[cpuSorted.length - 1] * 100)}%); ` +
      `client CPU ${f3(cli1 - cli0)} s; other CPU ${f3(other)} s`);
  const mib = (b) => (b / 1048576).toFixed(1);
  out(`server writes in the window: ${mib(io1.wchar - io0.wchar)} MiB written (wchar), ` +
      `${mib(io1.wbytes - io0.wbytes)} MiB to the disk (write_bytes); ` +
      `first 10 s ${mib(ioFirst.wchar - io0.wchar)} MiB, last 10 s ${mib(io1.wchar - ioLast.wchar)} MiB`);
  out(`server memory at the window end: VmRSS ${(rssWindow / 1024).toFixed(1)} MiB, VmHWM ${(hwmWindow / 1024).toFixed(1)} MiB`);
  out(`paused ${N} in ${f3((tp1 - tp0) / 1000)} s; read ${jobsRead} jobs in ${pages} pages in ${f3((tl1 - tl0) / 1000)} s; ` +
      `states ${JSON.stringify(states)}`);
  out(`exactly once: ${exactlyOnce ? 'yes' : 'NO'}: ${total} fires of ${N} schedules, duplicates ${dups}, ` +
      `missing inside the runs ${gaps}, off the 1 s grid ${offGrid}, wrong first fire ${badFirst}, stopped early ${shortTail}, no fires ${none}` +
      (foreign ? `, ${foreign} jobs of unknown schedules` : ''));
  for (const e of examples) out(`  ${e}`);
  out(`lateness (enqueued_at - fire_at), ${L.n} fires in the window: p50 ${f3(L.p50)} ms, p99 ${f3(L.p99)} ms, ` +
      `p99.9 ${f3(L.p999)} ms, max ${f3(L.max)} ms (all ${LA.n} fires: p99 ${f3(LA.p99)}, max ${f3(LA.max)})`);
  if (FETCH > 0)
    out(`fetchable lateness (a worker on sched-0${FETCH > 1 ? `..${Math.min(FETCH, NQ) - 1}` : ''} got the response - fire_at), ${FL.n} jobs in ${workerBatches} batches: ` +
        `p50 ${f3(FL.p50)} ms, p99 ${f3(FL.p99)} ms, max ${f3(FL.max)} ms; ` +
        `(got - enqueued_at: p50 ${f3(FQ.p50)} ms, max ${f3(FQ.max)} ms)`);
  out(`prepare turns (${secs.length} fire seconds): first job prepared ${f3(lead.p50)} ms ahead (p50); ` +
      `turn length (created_at spread) p50 ${f3(spread.p50)} ms, max ${f3(spread.max)} ms; ` +
      `last job prepared ${f3(-lastPrep.p50)} ms ahead (p50), worst ${f3(-lastPrep.max)} ms`);
  out(`worst seconds by max lateness: ${worst.join(', ')}`);
  if (VERBOSE) {
    // per fire second: lateness, the prepare turn, the worker's lateness
    const fetchBySec = new Map();
    for (const r of recvWin) fetchBySec.set(r[0], Math.max(fetchBySec.get(r[0]) || -Infinity, r[1] - r[0]));
    out('fire_second  fires  late_max_ms  prep_first_ahead_ms  prep_spread_ms  prep_last_ahead_ms  fetch_max_ms');
    for (const [fa, e] of secs)
      out(`${new Date(fa).toISOString().slice(11, 19)}  ${String(e[3]).padStart(6)}  ${f3(e[2]).padStart(11)}  ` +
          `${f3(fa - e[0]).padStart(19)}  ${f3(e[1] - e[0]).padStart(14)}  ${f3(fa - e[1]).padStart(18)}  ` +
          `${f3(fetchBySec.get(fa)).padStart(12)}`);
  }
  out(`result n=${N} queues=${NQ} fetch_queues=${Math.min(FETCH, NQ)} window_secs=${f3(winSecs)} fires=${total} exactly_once=${exactlyOnce ? 1 : 0} ` +
      `dups=${dups} gaps=${gaps} off_grid=${offGrid} bad_first=${badFirst} stopped_early=${shortTail} ` +
      `late_p50_ms=${f3(L.p50)} late_p99_ms=${f3(L.p99)} late_max_ms=${f3(L.max)} ` +
      `fetch_p50_ms=${f3(FL.p50)} fetch_p99_ms=${f3(FL.p99)} fetch_max_ms=${f3(FL.max)} ` +
      `server_cpu_secs=${f3(cpu1 - cpu0)} server_cpu_pct=${cpuPct.toFixed(1)} other_cpu_secs=${f3(other)} ` +
      `create_secs=${f3((tc1 - tc0) / 1000)} prep_spread_p50_ms=${f3(spread.p50)} prep_spread_max_ms=${f3(spread.max)} ` +
      `vm_hwm_window_kb=${hwmWindow} wchar_mib=${mib(io1.wchar - io0.wchar)} write_bytes_mib=${mib(io1.wbytes - io0.wbytes)}`);
  agent.destroy();
  process.exitCode = exactlyOnce ? 0 : 1;
}

main().catch((e) => {
  console.error('sched_check:', e);
  process.exit(2);
});
