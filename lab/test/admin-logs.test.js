'use strict';
// POST /logs on a running lab's admin endpoint (`lab up` in a temporary directory): text written there is the
// pod's log as the Kubernetes API serves it (GET pods/NAME/log with tailLines and container) and as
// `kubectl logs` prints it; a missing pod is a 404, a bad body a 400, and the bearer token is required.
// The pods are created through the API; the kubectl step is skipped, with the reason, without kubectl (./kubectl.js).

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const https = require('https');
const { execFile } = require('child_process');
const YAML = require('yaml');
const { startLab, admin } = require('./helpers');
const { KUBECTL, haveKubectl } = require('./kubectl');

const NS = 'logs-test';

function kubectl(args, lab) {
  return new Promise((resolve) => {
    execFile(KUBECTL, ['--kubeconfig', lab.env.KUBECONFIG, '--cache-dir', path.join(lab.dir, 'kube-cache'), ...args],
      { timeout: 60000, env: { ...process.env, HOME: lab.dir } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

// A request to the lab's Kubernetes API with the kubeconfig's CA and token (`body` sent as JSON);
// resolves {status, body (text)}.
function k8sRequest(env, method, urlPath, body) {
  const config = YAML.parse(fs.readFileSync(env.KUBECONFIG, 'utf8'));
  const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
  const token = config.users.find((u) => u.name === 'lab').user.token;
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = https.request(config.clusters[0].cluster.server + urlPath, { method, ca, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
const k8sGet = (env, urlPath) => k8sRequest(env, 'GET', urlPath);

// Images the lab does not run (the pods stay in ErrImagePull): only the admin endpoint writes their logs.
const PODS = `
apiVersion: v1
kind: Pod
metadata: {name: single, namespace: ${NS}}
spec:
  containers: [{name: app, image: registry.example/logs-only-app}]
---
apiVersion: v1
kind: Pod
metadata: {name: pair, namespace: ${NS}}
spec:
  containers: [{name: db, image: registry.example/logs-only-db}, {name: sidecar, image: registry.example/logs-only-sidecar}]
`;

test('pod logs written through the admin endpoint', async (t) => {
  const lab = await startLab();
  t.after(() => lab.stop());
  const { env } = lab;
  const logUrl = (pod, query = '') => `/api/v1/namespaces/${NS}/pods/${pod}/log${query}`;
  const append = (body) => admin(env, 'POST', '/logs', body);

  const namespace = await k8sRequest(env, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  assert.strictEqual(namespace.status, 201, namespace.body);
  for (const doc of YAML.parseAllDocuments(PODS)) {
    const created = await k8sRequest(env, 'POST', `/api/v1/namespaces/${NS}/pods`, doc.toJS());
    assert.strictEqual(created.status, 201, created.body);
  }

  await t.test('appended text is the pod log, in order; tailLines keeps the last lines', async () => {
    assert.strictEqual((await k8sGet(env, logUrl('single'))).body, '', 'empty before any append');
    assert.deepStrictEqual(await append({ namespace: NS, pod: 'single', text: 'line one\n' }), { status: 204, body: null });
    assert.strictEqual((await append({ namespace: NS, pod: 'single', text: 'line two\nline three\n' })).status, 204);
    const all = await k8sGet(env, logUrl('single'));
    assert.strictEqual(all.status, 200);
    assert.strictEqual(all.body, 'line one\nline two\nline three\n');
    assert.strictEqual((await k8sGet(env, logUrl('single', '?tailLines=2'))).body, 'line two\nline three\n');
    assert.strictEqual((await k8sGet(env, logUrl('single', '?tailLines=1'))).body, 'line three\n');
  });

  await t.test('a container gets its own lines plus those written without a container', async () => {
    assert.strictEqual((await append({ namespace: NS, pod: 'pair', container: 'db', text: 'db ready\n' })).status, 204);
    assert.strictEqual((await append({ namespace: NS, pod: 'pair', container: 'sidecar', text: 'sidecar ready\n' })).status, 204);
    assert.strictEqual((await append({ namespace: NS, pod: 'pair', text: 'to both\n' })).status, 204);
    assert.strictEqual((await k8sGet(env, logUrl('pair', '?container=db'))).body, 'db ready\nto both\n');
    assert.strictEqual((await k8sGet(env, logUrl('pair', '?container=sidecar'))).body, 'sidecar ready\nto both\n');
  });

  await t.test('kubectl logs shows what was written', async (t) => {
    if (!haveKubectl(t)) return;
    const single = await kubectl(['logs', '-n', NS, 'single'], lab);
    assert.strictEqual(single.code, 0, single.stderr);
    assert.strictEqual(single.stdout, 'line one\nline two\nline three\n');
    const tail = await kubectl(['logs', '-n', NS, 'single', '--tail=1'], lab);
    assert.strictEqual(tail.stdout, 'line three\n');
    const db = await kubectl(['logs', '-n', NS, 'pair', '-c', 'db'], lab);
    assert.strictEqual(db.code, 0, db.stderr);
    assert.strictEqual(db.stdout, 'db ready\nto both\n');
  });

  await t.test('a missing pod or namespace is a 404 and writes nothing', async () => {
    const missing = await append({ namespace: NS, pod: 'ghost', text: 'boo\n' });
    assert.strictEqual(missing.status, 404);
    assert.strictEqual(missing.body.error, 'not_found');
    assert.match(missing.body.message, /ghost/);
    assert.strictEqual((await append({ namespace: 'nowhere', pod: 'single', text: 'boo\n' })).status, 404);
    assert.strictEqual((await k8sGet(env, logUrl('single'))).body, 'line one\nline two\nline three\n');
  });

  await t.test('bad bodies are 400, and the bearer token is required', async () => {
    assert.strictEqual((await append({ namespace: NS, pod: 'single' })).status, 400, 'no text');
    assert.strictEqual((await append({ namespace: NS, text: 'x' })).status, 400, 'no pod');
    assert.strictEqual((await append({ namespace: NS, pod: 'pair', container: 'nope', text: 'x' })).status, 400, 'unknown container');
    const res = await fetch(`${env.LAB_ADMIN_URL}/logs`, { method: 'POST', body: JSON.stringify({ namespace: NS, pod: 'single', text: 'x' }) });
    assert.strictEqual(res.status, 401);
    assert.strictEqual((await k8sGet(env, logUrl('single'))).body, 'line one\nline two\nline three\n', 'nothing was appended');
  });
});
