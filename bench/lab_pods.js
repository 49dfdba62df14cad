'use strict';
// The lab's node under load: the time for N busybox pods (50 by default) created at once to be Running and Ready,
// and the time for a NetworkPolicy change to take effect on real connections (a deny policy applied: until a probe
// pod's connection to a server pod is dropped; the policy deleted: until it connects again), median of REPEATS (5).
// Runs against a lab started as root (`lab up`, then `. DIR/env`), with kubectl; connections are made from inside
// the probe pod's network namespace (`ip netns exec`). Asserts nothing about time: read the numbers.
//
// Usage: node bench/lab_pods.js [N [REPEATS]]

const { execFile } = require('child_process');

const N = Number(process.argv[2] || 50);
const REPEATS = Number(process.argv[3] || 5);
const NS = `bench-pods-${process.pid}`;

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && err.code === undefined) reject(err);
      else resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

const kubectl = (args, input) => run('kubectl', args, input);

function pod(name, command) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { bench: 'yes' } },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', command] }] } };
}

const asList = (items) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

async function readyCount() {
  const r = await kubectl(['get', 'pods', '-n', NS, '-o', 'json']);
  if (r.code !== 0) return 0;
  return JSON.parse(r.stdout).items.filter((p) => ((p.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True')).length;
}

async function timePodsReady() {
  const t0 = process.hrtime.bigint();
  const items = Array.from({ length: N }, (_, i) => pod(`sleeper-${i}`, 'sleep 3600'));
  const r = await kubectl(['create', '--validate=false', '-f', '-'], asList(items));
  if (r.code !== 0) throw new Error(r.stderr);
  while ((await readyCount()) < N) await new Promise((resolve) => setTimeout(resolve, 100));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await kubectl(['delete', 'pods', '-n', NS, '-l', 'bench=yes', '--wait=true']);
  return ms;
}

async function podIP(name) {
  for (;;) {
    const r = await kubectl(['get', 'pod', '-n', NS, name, '-o', 'json']);
    const p = r.code === 0 && JSON.parse(r.stdout);
    if (p && ((p.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True')) return p.status.podIP;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function connects(fromIP, toIP) {
  const [, , k, s] = fromIP.split('.');
  const r = await run('ip', ['netns', 'exec', `alaris-${k}-${s}`, 'curl', '-s', '-o', '/dev/null', '-m', '0.2', `http://${toIP}:8080/`]);
  return r.code === 0;
}

// Time from the start of `change` until connects() returns `want`.
async function timeUntil(change, from, to, want) {
  const t0 = process.hrtime.bigint();
  await change();
  while ((await connects(from, to)) !== want) { /* next probe */ }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  await kubectl(['create', 'namespace', NS]);
  try {
    const ready = [];
    for (let i = 0; i < REPEATS; i++) ready.push(await timePodsReady());
    await kubectl(['create', '--validate=false', '-f', '-'], asList([
      { ...pod('server', 'mkdir -p /tmp/s-$HOSTNAME-$$ && cd /tmp/s-$HOSTNAME-$$ && echo ok > index.html && exec httpd -f -p 8080'), metadata: { name: 'server', namespace: NS, labels: { role: 'server' } } },
      { ...pod('probe', 'sleep 3600'), metadata: { name: 'probe', namespace: NS, labels: { role: 'probe' } } },
    ]));
    const server = await podIP('server');
    const probe = await podIP('probe');
    const deny = JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: NS },
      spec: { podSelector: { matchLabels: { role: 'server' } }, policyTypes: ['Ingress'] } });
    const applied = [];
    const removed = [];
    for (let i = 0; i < REPEATS; i++) {
      applied.push(await timeUntil(() => kubectl(['apply', '-f', '-'], deny), probe, server, false));
      removed.push(await timeUntil(() => kubectl(['delete', 'networkpolicy', '-n', NS, 'deny']), probe, server, true));
    }
    const row = (what, xs) => `${what.padEnd(46)} ${median(xs).toFixed(0).padStart(7)} ms   (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    process.stdout.write(`lab node benchmark: ${N} pods, median of ${REPEATS} runs (times include kubectl's own start-up)\n`);
    process.stdout.write(row(`${N} busybox pods created → all Running and Ready`, ready) + '\n');
    process.stdout.write(row('deny policy applied → connection dropped', applied) + '\n');
    process.stdout.write(row('policy deleted → connection allowed again', removed) + '\n');
  } finally {
    await kubectl(['delete', 'namespace', NS, '--wait=false']);
  }
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
