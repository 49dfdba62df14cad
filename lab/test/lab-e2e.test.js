'use strict';
// The three APIs of one running lab (`lab up` in a temporary directory) working together, as alaris uses them:
// a Spaces key made through the DO API is a key of the S3 front with its grants enforced (and gone once deleted);
// the kubeconfig of a DOKS cluster made through the DO API works with kubectl; the admin request log counts
// exactly the requests made to the Kubernetes and DO APIs; a fault rule answers 429 once, then requests succeed.
// The kubectl step is skipped, with the reason, without kubectl (./kubectl.js).

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const https = require('https');
const { execFile } = require('child_process');
const YAML = require('yaml');
const { startLab, admin, httpRequest, signHeaders } = require('./helpers');
const { KUBECTL, haveKubectl } = require('./kubectl');

function kubectl(args, env) {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { timeout: 60000, env: { ...process.env, HOME: env.HOME } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

test('one lab: DO, Spaces and Kubernetes together', async (t) => {
  const lab = await startLab();
  t.after(() => lab.stop());
  const { env } = lab;
  const doApi = async (method, urlPath, body) => {
    const res = await fetch(env.DIGITALOCEAN_API_URL + urlPath, {
      method, body: body === undefined ? undefined : JSON.stringify(body),
      headers: { authorization: `Bearer ${env.DIGITALOCEAN_ACCESS_TOKEN}`, 'content-type': 'application/json' },
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const s3 = (urlPath, { method = 'GET', body = '', key }) => {
    const url = env.SPACES_ENDPOINT + urlPath;
    const { headers } = signHeaders({ method, url, body, accessKey: key.access_key, secretKey: key.secret_key });
    return httpRequest({ method, url, headers, body: method === 'GET' ? undefined : body });
  };
  const code = (res) => (/<Code>([^<]+)<\/Code>/.exec(res.body) || [])[1];
  const root = { access_key: env.SPACES_ACCESS_KEY_ID, secret_key: env.SPACES_SECRET_ACCESS_KEY };

  await t.test('a Spaces key made through the DO API signs S3 requests, within its grants, until deleted', async () => {
    for (const bucket of ['e2e-backups', 'e2e-other']) assert.strictEqual((await s3(`/${bucket}`, { method: 'PUT', key: root })).status, 200);
    assert.strictEqual((await s3('/e2e-other/secret.txt', { method: 'PUT', body: 'not yours', key: root })).status, 200);
    const made = await doApi('POST', '/v2/spaces/keys', { name: 'tenant-e2e', grants: [{ bucket: 'e2e-backups', permission: 'readwrite' }] });
    assert.strictEqual(made.status, 201);
    const key = made.body.key;

    const put = await s3('/e2e-backups/wal/0001', { method: 'PUT', body: 'segment', key });
    assert.strictEqual(put.status, 200, put.body);
    assert.strictEqual((await s3('/e2e-backups/wal/0001', { key })).body, 'segment');
    const other = await s3('/e2e-other/secret.txt', { key });
    assert.strictEqual(other.status, 403);
    assert.strictEqual(code(other), 'AccessDenied');
    assert.strictEqual(code(await s3('/e2e-backups', { method: 'DELETE', key })), 'AccessDenied', 'readwrite cannot delete the bucket');

    const regrant = await doApi('PUT', `/v2/spaces/keys/${key.access_key}`, { name: 'tenant-e2e', grants: [{ bucket: 'e2e-backups', permission: 'read' }] });
    assert.strictEqual(regrant.status, 200);
    assert.strictEqual(code(await s3('/e2e-backups/wal/0002', { method: 'PUT', body: 'x', key })), 'AccessDenied', 'now read only');
    assert.strictEqual((await s3('/e2e-backups/wal/0001', { key })).status, 200);

    assert.strictEqual((await doApi('DELETE', `/v2/spaces/keys/${key.access_key}`)).status, 204);
    const gone = await s3('/e2e-backups/wal/0001', { key });
    assert.strictEqual(gone.status, 403);
    assert.strictEqual(code(gone), 'InvalidAccessKeyId');
  });

  await t.test('the kubeconfig of a cluster made through the DO API works with kubectl', async (t) => {
    if (!haveKubectl(t)) return;
    const made = await doApi('POST', '/v2/kubernetes/clusters', { name: 'e2e', region: 'nyc1', version: 'latest',
      node_pools: [{ name: 'workers', size: 's-2vcpu-4gb', count: 1 }] });
    assert.strictEqual(made.status, 201);
    const res = await fetch(`${env.DIGITALOCEAN_API_URL}/v2/kubernetes/clusters/${made.body.kubernetes_cluster.id}/kubeconfig`,
      { headers: { authorization: `Bearer ${env.DIGITALOCEAN_ACCESS_TOKEN}` } });
    assert.strictEqual(res.status, 200);
    const file = path.join(lab.dir, 'doks-kubeconfig');
    fs.writeFileSync(file, await res.text(), { mode: 0o600 });
    const r = await kubectl(['--kubeconfig', file, 'get', 'namespaces', '-o', 'name'], { HOME: lab.dir });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.deepStrictEqual(r.stdout.trim().split('\n').sort(),
      ['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
  });

  // Direct HTTPS to the lab's Kubernetes API with the kubeconfig's CA and token.
  const config = YAML.parse(fs.readFileSync(env.KUBECONFIG, 'utf8'));
  const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
  const token = config.users.find((u) => u.name === 'lab').user.token;
  const k8s = (method, urlPath) => new Promise((resolve, reject) => {
    const req = https.request(config.clusters[0].cluster.server + urlPath,
      { method, ca, agent: false, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      });
    req.on('error', reject);
    req.end();
  });

  await t.test('the request log counts exactly the Kubernetes and DO requests made', async () => {
    assert.strictEqual((await admin(env, 'DELETE', '/requests')).status, 204);
    assert.strictEqual((await k8s('GET', '/api/v1/namespaces/default')).status, 200);
    assert.strictEqual((await k8s('GET', '/api/v1/namespaces/nope')).status, 404);
    assert.strictEqual((await k8s('GET', '/apis/postgresql.cnpg.io/v1/namespaces/default/clusters')).status, 200);
    assert.strictEqual((await doApi('GET', '/v2/account')).status, 200);
    assert.strictEqual((await doApi('GET', '/v2/volumes?per_page=5')).status, 200);
    const k = (await admin(env, 'GET', '/requests?target=k8s')).body;
    assert.deepStrictEqual(k.requests.map((r) => [r.method, r.path, r.status]), [
      ['GET', '/api/v1/namespaces/default', 200], ['GET', '/api/v1/namespaces/nope', 404],
      ['GET', '/apis/postgresql.cnpg.io/v1/namespaces/default/clusters', 200]]);
    assert.strictEqual(k.count, 3);
    const d = (await admin(env, 'GET', '/requests?target=do')).body;
    assert.deepStrictEqual(d.requests.map((r) => [r.method, r.path, r.status]), [['GET', '/v2/account', 200], ['GET', '/v2/volumes', 200]]);
    assert.strictEqual((await admin(env, 'GET', '/requests')).body.count, 5, 'nothing else was logged');
  });

  await t.test('a fault rule answers 429 for the next request only; the Kubernetes and DO APIs then succeed', async () => {
    await admin(env, 'POST', '/faults', { target: 'k8s', method: 'GET', path: '^/api/v1/namespaces$', status: 429, count: 1 });
    await admin(env, 'POST', '/faults', { target: 'do', method: 'GET', path: '^/v2/account$', status: 429, count: 1 });
    const limited = await k8s('GET', '/api/v1/namespaces');
    assert.strictEqual(limited.status, 429);
    assert.strictEqual(JSON.parse(limited.body).kind, 'Status');
    assert.strictEqual((await k8s('GET', '/api/v1/namespaces')).status, 200);
    assert.strictEqual((await doApi('GET', '/v2/account')).status, 429);
    assert.strictEqual((await doApi('GET', '/v2/account')).status, 200);
    assert.deepStrictEqual((await admin(env, 'GET', '/faults')).body.faults, [], 'spent rules are gone');
  });
});
