'use strict';
// The tenant app as a tenant runs it, on a lab started as root with real kubectl: PostgreSQL (image postgres,
// initialised from POSTGRES_* as the official image does) behind a ClusterIP Service, a Deployment of the tenant
// app (the repository's app/) behind a ClusterIP and a LoadBalancer Service. `curl` on the LB address port 80
// reaches /public (answered from the database), port 9090 of the LB address is refused, a busybox Job in the same
// namespace reaches `app:9090/internal` by name, `psql` on the host reaches the database pod's address, and a
// rollout to a new template replaces the pods with the Deployment never short of ready replicas.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { execFile } = require('child_process');
const { startLab } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor, connect, fetchFrom } = require('./node-helpers');

const NS = 'tenant-e2e';
const APP_READY = fs.existsSync(path.resolve(__dirname, '..', '..', 'app', 'node_modules'));

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Secret
metadata: {name: db-creds, namespace: ${NS}}
stringData: {password: "pw-e2e-4711"}
---
apiVersion: v1
kind: Pod
metadata: {name: pg-0, namespace: ${NS}, labels: {app: pg}}
spec:
  containers:
  - name: postgres
    image: registry.example/library/postgres:15
    env:
    - {name: POSTGRES_USER, value: app}
    - {name: POSTGRES_DB, value: app}
    - {name: POSTGRES_PASSWORD, valueFrom: {secretKeyRef: {name: db-creds, key: password}}}
    ports: [{name: pg, containerPort: 5432}]
    readinessProbe: {exec: {command: [pg_isready, -h, 127.0.0.1, -U, app]}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: pg, namespace: ${NS}}
spec: {selector: {app: pg}, ports: [{port: 5432, targetPort: pg}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: ${NS}}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: tenant-app}}
  template:
    metadata: {labels: {app: tenant-app}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: registry.digitalocean.com/lab/tenant-app:1
        env:
        - {name: TENANT_NAME, value: ${NS}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: DB_HOST, value: pg}
        - {name: DB_NAME, value: app}
        - {name: DB_USER, value: app}
        - {name: DB_SSLMODE, value: disable}
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db-creds, key: password}}}
        ports: [{name: public, containerPort: 8080}, {name: internal, containerPort: 9090}]
        readinessProbe: {httpGet: {path: /health, port: public}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: ${NS}}
spec: {selector: {app: tenant-app}, ports: [{name: public, port: 8080, targetPort: public}, {name: internal, port: 9090, targetPort: internal}]}
---
apiVersion: v1
kind: Service
metadata: {name: app-lb, namespace: ${NS}}
spec: {type: LoadBalancer, selector: {app: tenant-app}, ports: [{name: http, port: 80, targetPort: public}]}
`;

const JOB = `
apiVersion: batch/v1
kind: Job
metadata: {name: internal-check, namespace: ${NS}}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, 'wget -q -O- http://app:9090/internal']}]
`;

function psql(ip, password) {
  return new Promise((resolve) => execFile('psql', ['-h', ip, '-U', 'app', '-d', 'app', '-tAc', 'SELECT 40 + 2'],
    { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' } }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
}

test('the tenant app behind ClusterIP and LoadBalancer Services, with its PostgreSQL', async (t) => {
  if (!haveKubectl(t)) return;
  if (!APP_READY) { t.skip('app/node_modules is missing (run npm ci in app/)'); return; }
  const lab = await startLab();
  t.after(() => lab.stop());
  await apply(lab, MANIFESTS);
  const rollout = await kubectl(lab, ['rollout', 'status', '-n', NS, 'deployment/app', '--timeout=90s']);
  assert.equal(rollout.code, 0, rollout.stderr);
  const lb = await waitFor(async () => ((await getJSON(lab, ['svc', '-n', NS, 'app-lb'])).status.loadBalancer.ingress || [{}])[0].ip, { what: 'LB IP' });

  const body = await waitFor(async () => {
    const r = await fetchFrom(null, `http://${lb}/public`, { timeoutS: 3 });
    try { const j = JSON.parse(r.body); return j.database && j.database.name && j; } catch { return null; }
  }, { timeoutMs: 60000, what: '/public answered from the database' });
  assert.equal(body.tenant, NS);
  assert.equal(body.database.name, 'app');
  assert.equal(await connect(null, lb, 9090), 'refused', 'the internal port is not on the load balancer');

  await apply(lab, JOB);
  const done = await kubectl(lab, ['wait', '-n', NS, '--for=condition=complete', 'job/internal-check', '--timeout=60s']);
  assert.equal(done.code, 0, done.stderr);
  const logs = await kubectl(lab, ['logs', '-n', NS, 'job/internal-check']);
  assert.equal(JSON.parse(logs.stdout).internal, true, logs.stdout);

  const pg = await getJSON(lab, ['pod', '-n', NS, 'pg-0']);
  const q = await psql(pg.status.podIP, 'pw-e2e-4711');
  assert.equal(q.stdout.trim(), '42', q.stderr);

  // a rollout: new pods replace the old ones, the Deployment never has fewer than 2 ready replicas meanwhile
  const before = new Set((await getJSON(lab, ['pods', '-n', NS, '-l', 'app=tenant-app'])).items.map((p) => p.metadata.name));
  let watching = true;
  const shortfalls = [];
  const failures = [];
  const watcher = (async () => {
    while (watching) {
      const pods = (await getJSON(lab, ['pods', '-n', NS, '-l', 'app=tenant-app'])).items;
      const ready = pods.filter((p) => !p.metadata.deletionTimestamp && (p.status.conditions || []).some((c) => c.type === 'Ready' && c.status === 'True'));
      if (ready.length < 2) shortfalls.push(pods.map((p) => `${p.metadata.name}:${p.status.phase}`).join(' '));
      const r = await fetchFrom(null, `http://${lb}/health`, { timeoutS: 2 });
      if (r.code !== 0) failures.push(r.code);
    }
  })();
  const set = await kubectl(lab, ['set', 'env', '-n', NS, 'deployment/app', 'DB_TIMEOUT_MS=3000']);
  assert.equal(set.code, 0, set.stderr);
  const rolled = await kubectl(lab, ['rollout', 'status', '-n', NS, 'deployment/app', '--timeout=90s']);
  watching = false;
  await watcher;
  assert.equal(rolled.code, 0, rolled.stderr);
  const after = (await getJSON(lab, ['pods', '-n', NS, '-l', 'app=tenant-app'])).items.filter((p) => !p.metadata.deletionTimestamp);
  assert.equal(after.length, 2);
  for (const p of after) assert.ok(!before.has(p.metadata.name), `${p.metadata.name} is a new pod`);
  assert.deepEqual(shortfalls, [], 'never fewer than 2 ready pods during the rollout');
  assert.deepEqual(failures, [], 'the load balancer answered throughout');
});
