#!/usr/bin/env node
// bench/faktory_node.js: the Faktory benchmark with a real third-party
// client, npm `faktory-worker` (the version pinned in tests/e2e/package.json,
// loaded from tests/e2e/node_modules; run `npm ci` there first). bench/faktory.sh
// runs it; it connects to FAKTORY_URL (tcp://127.0.0.1:PORT).
//
//   node bench/faktory_node.js [-p push|work|all] [-q QUEUE] [-t TIMEOUT_S] N [CONCURRENCY] [BATCH]
//
// -p runs one phase (faktory.sh runs them as two processes so that it can
// measure the server's CPU per phase); the default runs both.
//
// 1. push: N jobs {"jobtype":"bench.noop","queue":QUEUE,"args":[{"seq":N,"pad":"..."}]}
//    (~100 bytes of args, the client's own uuid jids) with client.pushBulk,
//    BATCH (1000) jobs per PUSHB, one after another on one connection;
//    every job must be accepted.
// 2. work: faktory.work({concurrency: CONCURRENCY (50), queues: [QUEUE]})
//    with a no-op handler that counts the jobs, until N jobs are processed
//    and acked; then worker.stop(). The worker fetches on one loop (one
//    FETCH at a time) and runs up to CONCURRENCY handlers, each ending in an
//    ACK on a pooled connection: that is how faktory-worker works.
//
// It prints one key=value line per phase, like bench/fwpgen:
//
//   phase=node-push jobs=100000 secs=1.234 jobs_per_sec=81037 requests=100 client_cpu_secs=...
//   phase=node-work jobs=100000 secs=... jobs_per_sec=... concurrency=50 dups=0 errors=0 ...
//
// The work phase is timed from faktory.work() to the N-th ACK's reply. The
// ACKs are counted by wrapping Client.prototype.ack, because the handler
// runs before its ACK is sent. A job seen twice (by its args' seq) is
// counted in dups=. Exit status: 0, 1 when a job was refused, seen twice or
// the worker reported an error, 2 on the hard timeout (-t, default 120 s)
// or another failure.
"use strict";

const path = require("node:path");

const MODULES = path.join(__dirname, "..", "tests", "e2e", "node_modules");
let faktory;
try {
  faktory = require(path.join(MODULES, "faktory-worker"));
} catch (e) {
  console.error(`faktory_node: cannot load faktory-worker from ${MODULES} (run npm ci in tests/e2e): ${e.message}`);
  process.exit(2);
}

const PAD = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abc";

function usage() {
  console.error("usage: FAKTORY_URL=tcp://127.0.0.1:PORT node bench/faktory_node.js [-p push|work|all] [-q QUEUE] [-t TIMEOUT_S] N [CONCURRENCY] [BATCH]");
  process.exit(64);
}

function int(s, what, lo, hi) {
  if (!/^[0-9]+$/.test(s || "") || Number(s) < lo || Number(s) > hi) {
    console.error(`faktory_node: ${what}: must be an integer from ${lo} to ${hi}, not '${s}'`);
    process.exit(64);
  }
  return Number(s);
}

let queue = "bench-node";
let timeoutS = 120;
let only = "all";
const rest = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "-q") queue = argv[++i];
  else if (argv[i] === "-p") only = argv[++i];
  else if (argv[i] === "-t") timeoutS = int(argv[++i], "-t", 1, 3600);
  else if (argv[i].startsWith("-")) usage();
  else rest.push(argv[i]);
}
if (rest.length < 1 || rest.length > 3 || !/^[A-Za-z0-9._-]{1,128}$/.test(queue || "")) usage();
if (!["push", "work", "all"].includes(only)) usage();
const N = int(rest[0], "N", 1, 10000000);
const CONCURRENCY = rest[1] === undefined ? 50 : int(rest[1], "CONCURRENCY", 1, 1000);
const BATCH = rest[2] === undefined ? 1000 : int(rest[2], "BATCH", 1, 5000);

const url = process.env.FAKTORY_URL || "";
const m = /^tcp:\/\/(127\.[0-9.]+):([0-9]+)\/?$/.exec(url);
if (!m) {
  console.error(`faktory_node: FAKTORY_URL must be tcp://127.x.x.x:PORT, not '${url}'`);
  process.exit(64);
}

setTimeout(() => {
  console.error("faktory_node: hard timeout reached, giving up");
  process.exit(2);
}, timeoutS * 1000).unref();

const now = () => Number(process.hrtime.bigint()) / 1e9;
function cpuSecs() {
  const u = process.cpuUsage();
  return ((u.user + u.system) / 1e6).toFixed(2);
}

function report(phase, secs, extra) {
  if (secs <= 0) secs = 1e-9;
  console.log(`phase=${phase} jobs=${N} secs=${secs.toFixed(3)} jobs_per_sec=${Math.round(N / secs)}` + ` ${extra} client_cpu_secs=${cpuSecs()}`);
}

async function push() {
  const client = await faktory.connect({ url });
  const t0 = now();
  let requests = 0;
  for (let first = 0; first < N; first += BATCH) {
    const jobs = [];
    for (let seq = first; seq < Math.min(N, first + BATCH); seq++) {
      jobs.push({ jobtype: "bench.noop", queue, args: [{ seq, pad: PAD }] });
    }
    const rejected = await client.pushBulk(jobs);
    requests++;
    const bad = Object.keys(rejected);
    if (bad.length) {
      console.error(`faktory_node: PUSHB refused ${bad.length} jobs, the first: ${bad[0]}: ${rejected[bad[0]].reason}`);
      process.exit(1);
    }
  }
  report("node-push", now() - t0, `requests=${requests} batch=${BATCH}`);
  await client.close();
}

async function work() {
  const seen = new Uint8Array(N);
  let processed = 0;
  let dups = 0;
  let acked = 0;
  let errors = 0;
  let firstError = "";
  let tEnd = 0;
  let allAcked;
  const done = new Promise((resolve) => {
    allAcked = resolve;
  });

  const ack = faktory.Client.prototype.ack;
  faktory.Client.prototype.ack = async function (jid) {
    const r = await ack.call(this, jid);
    if (++acked === N) {
      tEnd = now();
      allAcked();
    }
    return r;
  };

  faktory.register("bench.noop", ({ seq }) => {
    if (seen[seq]) dups++;
    seen[seq] = 1;
    processed++;
  });

  const t0 = now();
  const worker = await faktory.work({ concurrency: CONCURRENCY, queues: [queue], labels: ["bench"] });
  worker.on("error", (e) => {
    errors++;
    if (!firstError) firstError = String(e && e.message ? e.message : e).split("\n")[0];
  });
  await done;
  const secs = tEnd - t0;
  // stop() waits for the handlers (all done by now) and for the pool to
  // drain: a FETCH still blocked in the server (up to 2 s) ends first.
  const s0 = now();
  await faktory.stop();
  const stopSecs = now() - s0;
  report("node-work", secs, `concurrency=${CONCURRENCY} processed=${processed} dups=${dups} errors=${errors} stop_secs=${stopSecs.toFixed(3)}`);
  if (firstError) console.error(`faktory_node: first worker error: ${firstError}`);
  return dups || errors ? 1 : 0;
}

(async () => {
  if (only !== "work") await push();
  // exit now rather than wait for whatever handle the client leaves behind
  process.exit(only === "push" ? 0 : await work());
})().catch((e) => {
  console.error(`faktory_node: ${e && e.stack ? e.stack : e}`);
  process.exit(2);
});
