'use strict';
// The workload controllers with the node runtime (pods as real processes; needs root, as `lab up` does), through
// the real kubectl: a rolling update (maxSurge 1, maxUnavailable 0, a readiness probe) replaces every pod while a
// watch sees the ready count never drop below the replicas; Jobs complete, or fail past backoffLimit with their
// failed pods kept; `kubectl exec` runs in the pod with stdin, output and the exit code; the Node's InternalIP
// is the hostIP of its pods.

const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('https');
const fs = require('fs');
const YAML = require('yaml');
const { startLab } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON } = require('./node-helpers');

const NS = 'wlnode';
const MANIFEST = `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NS}}
spec:
  replicas: 3
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.36
        command: [sh, -c, "sleep 3600"]
        readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
`;

const JOBS = `apiVersion: batch/v1
kind: Job
metadata: {name: works, namespace: ${NS}}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, "echo done"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails, namespace: ${NS}}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, "exit 2"]}]
`;

const podReady = (p) => !p.metadata.deletionTimestamp &&
  ((p.status && p.status.conditions) || []).some((c) => c.type === 'Ready' && c.status === 'True');

// A watch of the namespace's pods through the API (kubeconfig's server, CA and token), starting from `pods` (the
// ones listed before): after every event, how many pods labelled app=web are Ready. Returns {readyCounts, close()}.
function watchReadyPods(lab, pods) {
  const config = YAML.parse(fs.readFileSync(lab.env.KUBECONFIG, 'utf8'));
  const cluster = config.clusters.find((c) => c.name === 'lab').cluster;
  const token = config.users.find((u) => u.name === 'lab').user.token;
  const ready = new Map(pods.map((p) => [p.metadata.name, podReady(p)]));
  const readyCounts = [];
  let buf = '';
  const req = https.get(`${cluster.server}/api/v1/namespaces/${NS}/pods?watch=1&labelSelector=app%3Dweb`,
    { ca: Buffer.from(cluster['certificate-authority-data'], 'base64'), headers: { Authorization: `Bearer ${token}` } }, (res) => {
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const e = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          ready.set(e.object.metadata.name, e.type !== 'DELETED' && podReady(e.object));
          readyCounts.push([...ready.values()].filter(Boolean).length);
        }
      });
    });
  req.on('error', () => { /* closed by the test */ });
  return { readyCounts, close: () => req.destroy() };
}

test('with the node runtime: rollout without a gap in readiness, Jobs complete and fail, kubectl exec', async (t) => {
  if (process.getuid() !== 0) return t.skip('the node runtime needs root');
  if (!haveKubectl(t, { minor: 30, feature: 'exec over WebSocket' })) return;
  const lab = await startLab();
  try {
    await apply(lab, MANIFEST);
    const first = await kubectl(lab, ['-n', NS, 'rollout', 'status', 'deployment/web', '--timeout=60s']);
    assert.equal(first.code, 0, first.stderr);
    const watch = watchReadyPods(lab, (await getJSON(lab, ['-n', NS, 'pods', '-l', 'app=web'])).items);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const set = await kubectl(lab, ['-n', NS, 'set', 'image', 'deployment/web', 'web=busybox:1.37']);
    assert.equal(set.code, 0, set.stderr);
    const rolled = await kubectl(lab, ['-n', NS, 'rollout', 'status', 'deployment/web', '--timeout=90s']);
    assert.equal(rolled.code, 0, rolled.stderr);
    watch.close();
    assert.ok(watch.readyCounts.length > 6, `the watch saw the rollout (${watch.readyCounts.length} events)`);
    assert.ok(Math.min(...watch.readyCounts) >= 3, `ready pods during the rollout: ${watch.readyCounts.join(' ')}`);
    const pods = (await getJSON(lab, ['-n', NS, 'pods', '-l', 'app=web'])).items.filter((p) => !p.metadata.deletionTimestamp);
    assert.equal(pods.length, 3);
    for (const p of pods) assert.equal(p.spec.containers[0].image, 'busybox:1.37');
    const node = await getJSON(lab, ['node', 'lab-node-1']);
    assert.equal(node.status.addresses.find((a) => a.type === 'InternalIP').address, pods[0].status.hostIP, "the node's address is its pods' hostIP");

    const exec = await kubectl(lab, ['-n', NS, 'exec', '-i', pods[0].metadata.name, '--', 'sh', '-c', 'wc -l; echo "$(hostname)" >&2; exit 6'],
      { input: 'a\nb\n' });
    assert.equal(exec.code, 6);
    assert.equal(exec.stdout.trim(), '2');
    assert.match(exec.stderr, new RegExp(pods[0].metadata.name));

    await apply(lab, JOBS);
    const complete = await kubectl(lab, ['-n', NS, 'wait', '--for=condition=complete', 'job/works', '--timeout=60s']);
    assert.equal(complete.code, 0, complete.stderr);
    const failed = await kubectl(lab, ['-n', NS, 'wait', '--for=condition=failed', 'job/fails', '--timeout=60s']);
    assert.equal(failed.code, 0, failed.stderr);
    const job = await getJSON(lab, ['-n', NS, 'job', 'fails']);
    assert.equal(job.status.conditions.find((c) => c.type === 'Failed').reason, 'BackoffLimitExceeded');
    const failedPods = (await getJSON(lab, ['-n', NS, 'pods', '-l', 'job-name=fails'])).items;
    assert.equal(failedPods.length, 2);
    for (const p of failedPods) assert.equal(p.status.containerStatuses[0].state.terminated.exitCode, 2);
    assert.equal((await getJSON(lab, ['-n', NS, 'job', 'works'])).status.succeeded, 3);
  } finally {
    await lab.stop();
  }
});
