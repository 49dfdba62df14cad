'use strict';
// `lab up --no-workloads` (readiness-only mode) through the command line: the mode shows in `lab status` and as
// LAB_WORKLOADS=off in `lab env`; with the real kubectl, a Deployment rolls out and a Job completes on the fake
// kubelet's timers, pods get addresses from LAB_POD_CIDR on lab-node-1, and exec is refused with the reason.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const fs = require('fs');
const { execFile } = require('child_process');
const { runLab, parseEnv, startLab } = require('./helpers');
const { KUBECTL, haveKubectl } = require('./kubectl');

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.example/tenant-app:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: default}
spec:
  completions: 2
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox, command: ["true"]}]}
`;

test('lab up --no-workloads: status and env say so; Deployments roll out, Jobs complete, exec is refused', async (t) => {
  const lab = await startLab({ args: ['--no-workloads'] });
  try {
    assert.equal(lab.env.LAB_WORKLOADS, 'off');
    const status = await runLab(['status', '--dir', lab.dir]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^workloads: off \(readiness-only/m);
    const env = parseEnv((await runLab(['env', '--dir', lab.dir])).stdout);
    assert.equal(env.LAB_WORKLOADS, 'off');
    if (!haveKubectl(t)) return;
    const home = path.join(lab.dir, 'home');
    fs.mkdirSync(home);
    const file = path.join(lab.dir, 'm.yaml');
    fs.writeFileSync(file, MANIFEST);
    const kubectl = (args) => new Promise((resolve) => {
      execFile(KUBECTL, ['--kubeconfig', lab.env.KUBECONFIG, ...args], { timeout: 60000, env: { ...process.env, HOME: home } },
        (err, stdout, stderr) => resolve({ code: err ? err.code || 1 : 0, stdout, stderr }));
    });
    const applied = await kubectl(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    const rolled = await kubectl(['rollout', 'status', 'deployment/web', '--timeout=30s']);
    assert.equal(rolled.code, 0, rolled.stderr);
    const waited = await kubectl(['wait', '--for=condition=complete', 'job/once', '--timeout=30s']);
    assert.equal(waited.code, 0, waited.stderr);
    const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout).items;
    assert.equal(pods.length, 3);
    const prefix = lab.env.LAB_POD_CIDR ? lab.env.LAB_POD_CIDR.split('.').slice(0, 3).join('.') + '.' : '';
    for (const p of pods) {
      assert.equal(p.status.phase, 'Running');
      assert.equal(p.spec.nodeName, 'lab-node-1');
      assert.ok(p.status.podIP.startsWith(prefix), `${p.status.podIP} in ${lab.env.LAB_POD_CIDR}`);
    }
    const exec = await kubectl(['exec', pods[0].metadata.name, '--', 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /readiness-only mode/);
  } finally {
    await lab.stop();
  }
});
