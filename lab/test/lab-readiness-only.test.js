'use strict';
// `lab up --no-workloads` (readiness-only mode) through the command line: the mode shows in `lab status` and as
// LAB_WORKLOADS=off in `lab env`; with the real kubectl, a Deployment rolls out and a Job completes on the fake
// kubelet's timers, pods get addresses from LAB_POD_CIDR on lab-node-1, and exec is refused with the reason. With the
// pinned operators applied (fixtures/operators), the fake cloud gives a LoadBalancer Service an address from
// LAB_LB_CIDR, makes a CloudNativePG Cluster Ready without any instance pod, and takes a Backup to completed.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const fs = require('fs');
const { execFile } = require('child_process');
const { runLab, parseEnv, startLab } = require('./helpers');
const { KUBECTL, haveKubectl } = require('./kubectl');
const { getJSON } = require('./node-helpers');
const { installOperators, kubectlOK, isHealthy } = require('./cnpg-helpers');
const cidr = require('../lib/node/cidr');

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

const TENANT = `apiVersion: v1
kind: Namespace
metadata: {name: acme}
---
apiVersion: v1
kind: Secret
metadata: {name: spaces-credentials, namespace: acme}
stringData: {ACCESS_KEY_ID: AKIAEXAMPLE, SECRET_ACCESS_KEY: not-a-real-secret}
---
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: {name: pg-acme-store, namespace: acme}
spec:
  configuration:
    destinationPath: s3://acme-backups/backups/acme/pg-acme
    endpointURL: http://127.0.0.1:1
    s3Credentials:
      accessKeyId: {name: spaces-credentials, key: ACCESS_KEY_ID}
      secretAccessKey: {name: spaces-credentials, key: SECRET_ACCESS_KEY}
---
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg-acme, namespace: acme}
spec:
  instances: 3
  storage: {size: 1Gi}
  plugins:
  - {name: barman-cloud.cloudnative-pg.io, isWALArchiver: true, parameters: {barmanObjectName: pg-acme-store}}
---
apiVersion: postgresql.cnpg.io/v1
kind: Backup
metadata: {name: first, namespace: acme}
spec: {cluster: {name: pg-acme}, method: plugin, pluginConfiguration: {name: barman-cloud.cloudnative-pg.io}}
---
apiVersion: v1
kind: Service
metadata: {name: acme-public, namespace: acme}
spec:
  type: LoadBalancer
  selector: {app: acme-app}
  ports: [{port: 80, targetPort: 8080}]
`;

test('lab up --no-workloads: a LoadBalancer gets an address, a Cluster goes Ready, a Backup completes', async (t) => {
  if (!haveKubectl(t)) return;
  const lab = await startLab({ args: ['--no-workloads'] });
  try {
    await installOperators(lab);
    const file = path.join(lab.dir, 'tenant.yaml');
    fs.writeFileSync(file, TENANT);
    await kubectlOK(lab, ['apply', '--server-side', '--validate=false', '-f', file]);
    await kubectlOK(lab, ['-n', 'acme', 'wait', '--for=condition=Ready', 'cluster/pg-acme', '--timeout=60s']);
    await kubectlOK(lab, ['-n', 'acme', 'wait', '--for=jsonpath={.status.phase}=completed', 'backup/first', '--timeout=60s']);
    await kubectlOK(lab, ['-n', 'acme', 'wait', '--for=jsonpath={.status.loadBalancer.ingress[0].ip}', 'service/acme-public', '--timeout=60s']);

    const svc = await getJSON(lab, ['service', '-n', 'acme', 'acme-public']);
    const ip = svc.status.loadBalancer.ingress[0].ip;
    assert.ok(cidr.contains(lab.env.LAB_LB_CIDR, ip), `${ip} in ${lab.env.LAB_LB_CIDR}`);

    const cluster = await getJSON(lab, ['clusters.postgresql.cnpg.io', '-n', 'acme', 'pg-acme']);
    assert.ok(isHealthy(cluster), JSON.stringify(cluster.status));
    assert.equal(cluster.status.readyInstances, 3);
    assert.equal(cluster.status.instances, 3);
    assert.equal(cluster.status.currentPrimary, 'pg-acme-1');
    assert.equal(cluster.status.targetPrimary, 'pg-acme-1');
    const pods = JSON.parse((await kubectlOK(lab, ['get', 'pods', '-A', '-l', 'cnpg.io/cluster=pg-acme', '-o', 'json'])).stdout);
    assert.equal(pods.items.length, 0, 'readiness-only: no instance pod is made');

    const backup = await getJSON(lab, ['backups.postgresql.cnpg.io', '-n', 'acme', 'first']);
    const st = backup.status;
    assert.match(st.backupId, /^\d{8}T\d{6}$/);
    assert.match(st.beginWal, /^[0-9A-F]{24}$/);
    assert.match(st.endWal, /^[0-9A-F]{24}$/);
    assert.ok(st.beginWal <= st.endWal, `${st.beginWal} .. ${st.endWal}`);
    assert.ok(Date.parse(st.startedAt) <= Date.parse(st.stoppedAt), `${st.startedAt} .. ${st.stoppedAt}`);
    assert.equal(st.method, 'plugin');
    assert.equal(st.serverName, 'pg-acme');
    assert.equal(st.destinationPath, 's3://acme-backups/backups/acme/pg-acme');

    // A second Backup of the same Cluster starts on a later WAL segment, as a real one would.
    await kubectlOK(lab, ['-n', 'acme', 'create', '-f', '-'], { input: TENANT.split('---').find((d) => /kind: Backup/.test(d)).replace('first', 'second') });
    await kubectlOK(lab, ['-n', 'acme', 'wait', '--for=jsonpath={.status.phase}=completed', 'backup/second', '--timeout=60s']);
    const second = await getJSON(lab, ['backups.postgresql.cnpg.io', '-n', 'acme', 'second']);
    assert.ok(second.status.beginWal > st.endWal, `${second.status.beginWal} after ${st.endWal}`);
  } finally {
    await lab.stop();
  }
});
