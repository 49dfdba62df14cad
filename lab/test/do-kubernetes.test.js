'use strict';
// DOKS in the emulated DO API: cluster lifecycle (provisioning -> running), kubeconfig and
// credentials pointing at the lab's Kubernetes API, options, node pools, business-rule 422s.
const test = require('node:test');
const assert = require('node:assert/strict');
const YAML = require('yaml');
const { startDo, sleep, clusterBody, K8S } = require('./do-helpers');

async function waitRunning(api, id, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api('GET', `/v2/kubernetes/clusters/${id}`);
    if (res.body.kubernetes_cluster.status.state === 'running') return res.body.kubernetes_cluster;
    if (Date.now() > deadline) throw new Error(`cluster ${id} not running after ${timeoutMs} ms`);
    await sleep(50);
  }
}

test('a created cluster is provisioning, then running after the configured delay', async (t) => {
  const { api } = await startDo(t, { clusterReadyDelayMs: 300 });
  const startedAt = Date.now(); // before the cluster exists, so however slow the machine it is running no sooner than 300 ms later
  const created = await api('POST', '/v2/kubernetes/clusters', clusterBody());
  assert.equal(created.status, 201);
  const cluster = created.body.kubernetes_cluster;
  assert.equal(cluster.status.state, 'provisioning');
  assert.equal(cluster.endpoint, '');
  assert.equal(cluster.node_pools[0].nodes.length, 2);
  assert.ok(cluster.node_pools[0].nodes.every((n) => n.status.state === 'provisioning'));
  assert.ok(cluster.tags.includes(`k8s:${cluster.id}`));

  const options = await api('GET', '/v2/kubernetes/options');
  assert.equal(cluster.version, options.body.options.versions[0].slug, '"latest" resolves to the newest version');

  const running = await waitRunning(api, cluster.id);
  assert.ok(Date.now() - startedAt >= 295, 'not running before the delay');
  assert.equal(running.endpoint, K8S.url);
  assert.equal(running.ipv4, '127.0.0.1');
  assert.ok(running.node_pools[0].nodes.every((n) => n.status.state === 'running'));
});

test('kubeconfig is YAML pointing at the lab\'s Kubernetes API with its CA and token', async (t) => {
  const { api } = await startDo(t);
  const { body } = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'kc' }));
  const id = body.kubernetes_cluster.id;
  const res = await api('GET', `/v2/kubernetes/clusters/${id}/kubeconfig?expiry_seconds=300`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /yaml/);
  const config = YAML.parse(res.body);
  assert.equal(config.kind, 'Config');
  const current = config.contexts.find((c) => c.name === config['current-context']).context;
  const cluster = config.clusters.find((c) => c.name === current.cluster).cluster;
  const user = config.users.find((u) => u.name === current.user).user;
  assert.equal(cluster.server, K8S.url);
  assert.equal(Buffer.from(cluster['certificate-authority-data'], 'base64').toString(), K8S.caData);
  assert.equal(user.token, K8S.token);
  assert.equal(config['current-context'], 'do-nyc1-kc');
});

test('credentials give server, CA, token and an expiry honouring expiry_seconds', async (t) => {
  const { api } = await startDo(t);
  const { body } = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'creds' }));
  const id = body.kubernetes_cluster.id;
  const res = await api('GET', `/v2/kubernetes/clusters/${id}/credentials?expiry_seconds=600`);
  assert.equal(res.status, 200);
  assert.equal(res.body.server, K8S.url);
  assert.equal(Buffer.from(res.body.certificate_authority_data, 'base64').toString(), K8S.caData);
  assert.equal(res.body.token, K8S.token);
  const expiresIn = (Date.parse(res.body.expires_at) - Date.now()) / 1000;
  assert.ok(expiresIn > 590 && expiresIn <= 601, `expires in ${expiresIn}s`);
  const bad = await api('GET', `/v2/kubernetes/clusters/${id}/credentials?expiry_seconds=-5`);
  assert.equal(bad.status, 400);
  const missing = await api('GET', '/v2/kubernetes/clusters/00000000-0000-4000-8000-000000000000/credentials');
  assert.equal(missing.status, 404);
});

test('options list versions, regions and sizes, and creation refuses values outside them', async (t) => {
  const { api } = await startDo(t);
  const { body } = await api('GET', '/v2/kubernetes/options');
  const { versions, regions, sizes } = body.options;
  assert.ok(versions.length > 0 && regions.length > 0 && sizes.length > 0);

  const exact = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'exact', version: versions[1].slug }));
  assert.equal(exact.body.kubernetes_cluster.version, versions[1].slug);
  const minor = versions[1].kubernetes_version.split('.').slice(0, 2).join('.');
  const byMinor = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'minor', version: minor }));
  assert.equal(byMinor.body.kubernetes_cluster.version, versions[1].slug);

  const cases = [
    [{ version: '0.1.0-do.0' }, /version/],
    [{ region: 'mars1' }, /region/],
    [{ node_pools: [{ name: 'p', size: 'huge-1', count: 1 }] }, /size/],
    [{ node_pools: [] }, /node pool/],
    [{ name: 'Not_Valid' }, /name/],
  ];
  for (const [override, message] of cases) {
    const res = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'bad', ...override }));
    assert.equal(res.status, 422, JSON.stringify(override));
    assert.match(res.body.message, message);
  }
  const dup = await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'exact' }));
  assert.equal(dup.status, 422);
});

test('clusters are listed, updated and deleted', async (t) => {
  const { api } = await startDo(t);
  const a = (await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'one' }))).body.kubernetes_cluster;
  await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'two' }));
  const list = await api('GET', '/v2/kubernetes/clusters');
  assert.deepEqual(list.body.kubernetes_clusters.map((c) => c.name), ['one', 'two']);
  assert.equal(list.body.meta.total, 2);

  const updated = await api('PUT', `/v2/kubernetes/clusters/${a.id}`, { name: 'one-renamed', tags: ['prod'] });
  assert.equal(updated.status, 202);
  assert.equal(updated.body.kubernetes_cluster.name, 'one-renamed');
  assert.ok(updated.body.kubernetes_cluster.tags.includes('prod'));
  assert.equal((await api('PUT', `/v2/kubernetes/clusters/${a.id}`, { tags: [] })).status, 422, 'name is required on PUT');
  const taken = await api('PUT', `/v2/kubernetes/clusters/${a.id}`, { name: 'two' });
  assert.equal(taken.status, 422);
  assert.match(taken.body.message, /already exists/);

  assert.equal((await api('DELETE', `/v2/kubernetes/clusters/${a.id}`)).status, 204);
  const gone = await api('GET', `/v2/kubernetes/clusters/${a.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.id, 'not_found');
  assert.deepEqual((await api('GET', '/v2/kubernetes/clusters')).body.kubernetes_clusters.map((c) => c.name), ['two']);
});

test('node pools can be listed, fetched, added, resized and removed', async (t) => {
  const { api } = await startDo(t);
  const cluster = (await api('POST', '/v2/kubernetes/clusters', clusterBody({ name: 'pools' }))).body.kubernetes_cluster;
  const base = `/v2/kubernetes/clusters/${cluster.id}/node_pools`;

  const added = await api('POST', base, { name: 'db', size: 's-4vcpu-8gb', count: 3, labels: { role: 'db' } });
  assert.equal(added.status, 201);
  const pool = added.body.node_pool;
  assert.equal(pool.nodes.length, 3);
  assert.deepEqual(pool.labels, { role: 'db' });
  assert.ok(pool.tags.includes('k8s:worker'));

  const list = await api('GET', base);
  assert.deepEqual(list.body.node_pools.map((p) => p.name), ['workers', 'db']);
  assert.equal((await api('GET', `${base}/${pool.id}`)).body.node_pool.name, 'db');

  const resized = await api('PUT', `${base}/${pool.id}`, { name: 'db', count: 1 });
  assert.equal(resized.status, 202);
  assert.equal(resized.body.node_pool.nodes.length, 1);
  assert.equal(resized.body.node_pool.count, 1);

  const invalid = await api('POST', base, { name: 'x', size: 's-4vcpu-8gb' });
  assert.equal(invalid.status, 422);
  assert.equal(invalid.body.message, 'count is required');

  assert.equal((await api('DELETE', `${base}/${pool.id}`)).status, 204);
  assert.equal((await api('GET', `${base}/${pool.id}`)).status, 404);
  assert.equal((await api('GET', base)).body.node_pools.length, 1);
});
