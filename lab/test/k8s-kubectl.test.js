'use strict';
// The real kubectl against the emulated Kubernetes API: get, create -f, apply (client-side, server-side,
// --validate=strict), delete, wait --for=condition, get -w, auth can-i (+ --as), both kubeconfig users.
// Each test is skipped, with the reason, when there is no kubectl or it is too old for what the test uses
// (./kubectl.js; LAB_KUBECTL picks the binary). Objects a test only needs in place are put in the store.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { startK8s, eventually } = require('./k8s-helpers');
const { haveKubectl, kubectlClient } = require('./kubectl');

let lab;
before(async () => { lab = await startK8s(); });
after(async () => { await lab.stop(); });

function manifest(name, text) {
  const file = path.join(lab.dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
`;

test('kubectl get namespaces lists the four default namespaces (token user and certificate user)', async (t) => {
  if (!haveKubectl(t)) return;
  for (const ctx of ['lab', 'lab-cert']) {
    const r = await lab.kubectl(['--context', ctx, 'get', 'namespaces', '-o', 'name']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(),
      ['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
  }
  const table = await lab.kubectl(['get', 'namespaces']);
  assert.match(table.stdout, /^NAME\s+STATUS\s+AGE\n/);
  assert.match(table.stdout, /kube-system\s+Active\s+\d+s/);
});

test('wrong credentials get 401 from kubectl', async (t) => {
  if (!haveKubectl(t)) return;
  const bad = path.join(lab.dir, 'bad-kubeconfig');
  fs.writeFileSync(bad, fs.readFileSync(lab.kubeconfig, 'utf8').replace(lab.k8s.token, 'not-the-token'));
  const r = await lab.kubectl(['--kubeconfig', bad, '--context', 'lab', 'get', 'ns']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Unauthorized|must be logged in/);
});

test('create -f, get, client-side apply, server-side apply and delete', async (t) => {
  if (!haveKubectl(t)) return;
  const file = manifest('web.yaml', DEPLOYMENT);
  // Clients before 1.27 validate create/apply -f against /openapi/v2, which the lab does not serve (it serves v3):
  // with such a client (Debian's 1.20) the commands run without client-side validation, the server still validates.
  const c = kubectlClient();
  const v = c.major === 1 && c.minor < 27 ? ['--validate=false'] : [];
  let r = await lab.kubectl(['create', ...v, '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment.apps\/web created/);
  assert.match(r.stdout, /service\/web created/);

  r = await lab.kubectl(['create', ...v, '-f', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /AlreadyExists|already exists/);

  r = await lab.kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
  assert.match(r.stdout, /^10\.96\.\d+\.\d+$/, 'an address of the Service range (10.96.0.0/20 without a lab network)');

  const scaled = manifest('web-3.yaml', DEPLOYMENT.replace('replicas: 2', 'replicas: 3'));
  r = await lab.kubectl(['apply', ...v, '-f', scaled]);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.kubectl(['get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas} {.metadata.generation}']);
  assert.equal(r.stdout, '3 2');

  const ssa = manifest('web-4.yaml', DEPLOYMENT.replace('replicas: 2', 'replicas: 4'));
  r = await lab.kubectl(['apply', ...v, '--server-side', '-f', ssa]);
  assert.notEqual(r.code, 0, 'replicas belongs to the client-side apply manager');
  assert.match(r.stderr, /Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps\/v1: \.spec\.replicas/);
  r = await lab.kubectl(['apply', ...v, '--server-side', '--force-conflicts', '-f', ssa]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /serverside-applied/);
  r = await lab.kubectl(['get', 'deploy', 'web', '-o', 'json']);
  const dep = JSON.parse(r.stdout);
  assert.equal(dep.spec.replicas, 4);
  const managers = lab.store.get('apps/v1', 'Deployment', 'default', 'web').metadata.managedFields;
  assert.ok(managers.find((m) => m.manager === 'kubectl' && m.operation === 'Apply' && m.fieldsV1['f:spec']['f:replicas']));

  r = await lab.kubectl(['delete', '-f', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment.apps "web" deleted/);
  r = await lab.kubectl(['get', 'deploy', 'web']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NotFound|not found/);
});

test('apply --validate=strict (client-side and server-side) rejects an unknown field of a CNPG Cluster and names it', async (t) => {
  if (!haveKubectl(t, { minor: 25, feature: '--validate=strict' })) return;
  const bad = manifest('pg.yaml', `apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: pg-strict, namespace: default}
spec:
  instances: 1
  storage: {size: 1Gi}
  bogusField: true
`);
  let r = await lab.kubectl(['apply', '--validate=strict', '-f', bad]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown field "spec\.bogusField"/);
  r = await lab.kubectl(['get', 'clusters.postgresql.cnpg.io', 'pg-strict']);
  assert.notEqual(r.code, 0, 'nothing was stored');
  r = await lab.kubectl(['apply', '--server-side', '--validate=strict', '-f', bad]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown field "spec\.bogusField"/);
  r = await lab.kubectl(['get', 'clusters.postgresql.cnpg.io', 'pg-strict']);
  assert.notEqual(r.code, 0, 'nothing was stored by the server-side apply either');

  fs.writeFileSync(bad, fs.readFileSync(bad, 'utf8').replace('  bogusField: true\n', ''));
  r = await lab.kubectl(['apply', '--validate=strict', '-f', bad]);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.kubectl(['get', 'clusters']);
  assert.match(r.stdout, /^NAME\s+AGE\s+INSTANCES\s+READY\s+STATUS\s+PRIMARY/);
  assert.match(r.stdout, /pg-strict/);
});

test('kubectl wait --for=condition returns once a controller sets the condition', async (t) => {
  if (!haveKubectl(t)) return;
  lab.store.createObject({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'once', namespace: 'default' },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] } } } });
  const waiting = lab.kubectl(['wait', '--for=condition=Complete', 'job/once', '--timeout=15s']);
  setTimeout(() => {
    const job = lab.store.get('batch/v1', 'Job', 'default', 'once');
    job.status = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] };
    lab.store.updateStatus(job);
  }, 500);
  const r = await waiting;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /job.batch\/once condition met/);
});

test('kubectl get -w prints objects as they are created', async (t) => {
  if (!haveKubectl(t)) return;
  lab.store.createObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'listed-cm', namespace: 'default' }, data: {} });
  const w = lab.kubectlStream(['get', 'configmaps', '-n', 'default', '-w', '--request-timeout=30s']);
  try {
    // Once kubectl has printed its list it watches from the list's resourceVersion: what follows comes by watch.
    await eventually(() => /listed-cm\s+0\s+\d+s/.test(w.output()), 15000, 'kubectl get -w to print its list');
    assert.doesNotMatch(w.output(), /watched-cm/);
    lab.store.createObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched-cm', namespace: 'default' }, data: { a: '1' } });
    await eventually(() => /watched-cm\s+1\s+\d+s/.test(w.output()), 15000, 'kubectl get -w to print watched-cm');
  } finally {
    await w.stop();
  }
});

test('kubectl auth can-i, with and without --as, follows stored RBAC', async (t) => {
  if (!haveKubectl(t)) return;
  let r = await lab.kubectl(['auth', 'can-i', 'delete', 'namespaces']);
  assert.equal(r.stdout.trim(), 'yes');

  lab.store.createObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ops' } });
  lab.store.createObject({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: 'ops' },
    rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] }] });
  lab.store.createObject({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'ops-reader', namespace: 'ops' },
    subjects: [{ kind: 'ServiceAccount', name: 'ops-reader', namespace: 'ops' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' } });

  const as = '--as=system:serviceaccount:ops:ops-reader';
  r = await lab.kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'ops', as]);
  assert.equal(r.stdout.trim(), 'yes');
  r = await lab.kubectl(['auth', 'can-i', 'get', 'pods/log', '-n', 'ops', as]);
  assert.equal(r.stdout.trim(), 'yes');
  r = await lab.kubectl(['auth', 'can-i', 'delete', 'pods', '-n', 'ops', as]);
  assert.equal(r.stdout.trim(), 'no');
  assert.equal(r.code, 1);
  r = await lab.kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'default', as]);
  assert.equal(r.stdout.trim(), 'no');

  r = await lab.kubectl(['get', 'secrets', '-n', 'ops', as]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /secrets is forbidden: User "system:serviceaccount:ops:ops-reader" cannot list resource "secrets" in API group "" in the namespace "ops"/);
});

test('kubectl create for typed-client kinds (protobuf bodies: namespace, configmap, secret, role binding, deployment, service, job)', async (t) => {
  if (!haveKubectl(t)) return;
  let r = await lab.kubectl(['create', 'namespace', 'typed']);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.kubectl(['-n', 'typed', 'create', 'configmap', 'cfg', '--from-literal=greeting=hello']);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.kubectl(['-n', 'typed', 'create', 'secret', 'generic', 'pw', '--from-literal=password=s3cr3t']);
  assert.equal(r.code, 0, r.stderr);
  r = await lab.kubectl(['-n', 'typed', 'create', 'rolebinding', 'view-cfg', '--clusterrole=view', '--user=alice']);
  assert.equal(r.code, 0, r.stderr);
  const cm = lab.store.get('v1', 'ConfigMap', 'typed', 'cfg');
  assert.deepEqual(cm.data, { greeting: 'hello' });
  const secret = lab.store.get('v1', 'Secret', 'typed', 'pw');
  assert.equal(Buffer.from(secret.data.password, 'base64').toString(), 's3cr3t');
  const rb = lab.store.get('rbac.authorization.k8s.io/v1', 'RoleBinding', 'typed', 'view-cfg');
  assert.deepEqual(rb.subjects, [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' }]);

  r = await lab.kubectl(['-n', 'typed', 'create', 'deployment', 'api', '--image=app:1', '--port=8080', '--replicas=2']);
  assert.equal(r.code, 0, r.stderr);
  const dep = lab.store.get('apps/v1', 'Deployment', 'typed', 'api');
  assert.equal(dep.spec.replicas, 2);
  assert.deepEqual(dep.spec.selector, { matchLabels: { app: 'api' } });
  assert.deepEqual(dep.spec.template.spec.containers[0].ports, [{ containerPort: 8080 }]);
  r = await lab.kubectl(['-n', 'typed', 'create', 'service', 'clusterip', 'api', '--tcp=80:http']);
  assert.equal(r.code, 0, r.stderr);
  const svc = lab.store.get('v1', 'Service', 'typed', 'api');
  assert.deepEqual(svc.spec.ports, [{ name: '80-http', protocol: 'TCP', port: 80, targetPort: 'http' }]);
  assert.match(svc.spec.clusterIP, /^10\.96\./);
  r = await lab.kubectl(['-n', 'typed', 'create', 'job', 'once', '--image=busybox', '--', 'echo', 'hi']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lab.store.get('batch/v1', 'Job', 'typed', 'once').spec.template.spec.containers[0].command, ['echo', 'hi']);
});

test('kubectl scale uses the scale subresource of deployments and of CNPG Clusters', async (t) => {
  if (!haveKubectl(t)) return;
  lab.store.createObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'scaled', namespace: 'default' },
    spec: { replicas: 1, selector: { matchLabels: { app: 's' } }, template: { metadata: { labels: { app: 's' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } });
  lab.store.createObject({ apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg-scale', namespace: 'default' },
    spec: { instances: 1, storage: { size: '1Gi' } } });
  let r = await lab.kubectl(['scale', 'deployment/scaled', '--replicas=3']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lab.store.get('apps/v1', 'Deployment', 'default', 'scaled').spec.replicas, 3);
  r = await lab.kubectl(['scale', 'cluster.postgresql.cnpg.io/pg-scale', '--replicas=2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lab.store.get('postgresql.cnpg.io/v1', 'Cluster', 'default', 'pg-scale').spec.instances, 2);
});
