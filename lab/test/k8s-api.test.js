'use strict';
// Direct HTTPS requests against the emulated Kubernetes API: authentication, discovery and OpenAPI,
// list with selectors and paging, the 409s, the three patch types, dryRun, status subresource and
// generation, deletion with finalizers, garbage collection and namespace deletion, error shapes.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const https = require('https');
const { startK8s, eventually } = require('./k8s-helpers');

let lab;
before(async () => { lab = await startK8s(); });
after(async () => { await lab.stop(); });

const cm = (name, labels, data) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: data || { k: name } });
const post = (p, body, opts) => lab.request('POST', p, Object.assign({ body }, opts));

function assertStatus(r, code, reason) {
  assert.equal(r.status, code, r.text);
  assert.equal(r.body.kind, 'Status');
  assert.equal(r.body.apiVersion, 'v1');
  assert.equal(r.body.status, 'Failure');
  assert.equal(r.body.reason, reason);
  assert.equal(r.body.code, code);
  assert.deepEqual(r.body.metadata, {});
}

test('missing or wrong credentials answer 401 Status; the client certificate is accepted', async () => {
  assertStatus(await lab.request('GET', '/api/v1/namespaces', { token: null }), 401, 'Unauthorized');
  assertStatus(await lab.request('GET', '/api/v1/namespaces', { token: 'wrong' }), 401, 'Unauthorized');
  const viaCert = await new Promise((resolve, reject) => {
    https.get(`${lab.k8s.url}/api/v1/namespaces/default`, { ca: lab.k8s.caData, cert: lab.k8s.clientCert, key: lab.k8s.clientKey }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(t) }));
    }).on('error', reject);
  });
  assert.equal(viaCert.status, 200);
  assert.equal(viaCert.body.metadata.name, 'default');
});

test('discovery: /version, /api, /apis and resource lists with verbs, short names and subresources', async () => {
  const version = await lab.request('GET', '/version');
  assert.equal(version.body.major, '1');
  assert.match(version.body.gitVersion, /^v1\.\d+/);
  assert.deepEqual((await lab.request('GET', '/api')).body.versions, ['v1']);
  const groups = (await lab.request('GET', '/apis')).body;
  assert.equal(groups.kind, 'APIGroupList');
  const names = groups.groups.map((g) => g.name);
  for (const g of ['apps', 'batch', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'coordination.k8s.io',
    'authorization.k8s.io', 'apiextensions.k8s.io', 'postgresql.cnpg.io', 'barmancloud.cnpg.io']) assert.ok(names.includes(g), g);
  const core = (await lab.request('GET', '/api/v1')).body;
  assert.equal(core.kind, 'APIResourceList');
  const byName = Object.fromEntries(core.resources.map((r) => [r.name, r]));
  assert.deepEqual(byName.pods.shortNames, ['po']);
  assert.equal(byName.pods.namespaced, true);
  assert.equal(byName.namespaces.namespaced, false);
  assert.ok(byName.services.verbs.includes('watch'));
  for (const sub of ['pods/log', 'pods/status', 'pods/portforward']) assert.ok(byName[sub], sub);
  const apps = (await lab.request('GET', '/apis/apps/v1')).body;
  assert.ok(apps.resources.find((r) => r.name === 'deployments/status'));
  const cnpg = (await lab.request('GET', '/apis/postgresql.cnpg.io/v1')).body;
  assert.ok(cnpg.resources.find((r) => r.name === 'clusters/status'));
});

test('OpenAPI v3 index lists each group version and serves documents kubectl can use', async () => {
  const index = (await lab.request('GET', '/openapi/v3')).body;
  assert.ok(index.paths['api/v1'].serverRelativeURL.startsWith('/openapi/v3/api/v1?hash='));
  const cnpg = await lab.request('GET', index.paths['apis/postgresql.cnpg.io/v1'].serverRelativeURL);
  const patchOp = cnpg.body.paths['/apis/postgresql.cnpg.io/v1/namespaces/{namespace}/clusters/{name}'].patch;
  assert.ok(patchOp.parameters.find((p) => p.name === 'fieldValidation'));
  assert.deepEqual(patchOp['x-kubernetes-group-version-kind'], { group: 'postgresql.cnpg.io', version: 'v1', kind: 'Cluster' });
  assert.ok((await lab.request('GET', index.paths['apis/apps/v1'].serverRelativeURL)).body.components.schemas['io.k8s.api.apps.v1.Deployment']);
});

test('create sets metadata; a second create is 409 AlreadyExists; update with a stale resourceVersion is 409 Conflict', async () => {
  const r = await post('/api/v1/namespaces/default/configmaps', cm('meta'));
  assert.equal(r.status, 201);
  const md = r.body.metadata;
  assert.match(md.uid, /^[0-9a-f-]{36}$/);
  assert.match(md.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(md.resourceVersion, /^\d+$/);

  const again = await post('/api/v1/namespaces/default/configmaps', cm('meta'));
  assertStatus(again, 409, 'AlreadyExists');
  assert.equal(again.body.message, 'configmaps "meta" already exists');
  assert.deepEqual(again.body.details, { name: 'meta', kind: 'configmaps' });

  const fresh = Object.assign({}, r.body, { data: { k: 'v2' } });
  const ok = await lab.request('PUT', '/api/v1/namespaces/default/configmaps/meta', { body: fresh });
  assert.equal(ok.status, 200);
  assert.ok(Number(ok.body.metadata.resourceVersion) > Number(md.resourceVersion));
  const stale = await lab.request('PUT', '/api/v1/namespaces/default/configmaps/meta', { body: fresh });
  assertStatus(stale, 409, 'Conflict');
  assert.match(stale.body.message, /^Operation cannot be fulfilled on configmaps "meta": the object has been modified/);

  assertStatus(await lab.request('GET', '/api/v1/namespaces/default/configmaps/nope'), 404, 'NotFound');
  assertStatus(await post('/api/v1/namespaces/missing/configmaps', cm('x')), 404, 'NotFound');
});

test('label and field selectors', async () => {
  await post('/api/v1/namespaces/default/configmaps', cm('sel-a', { app: 'web', tier: 'front' }));
  await post('/api/v1/namespaces/default/configmaps', cm('sel-b', { app: 'db', tier: 'back' }));
  await post('/api/v1/namespaces/default/configmaps', cm('sel-c', { app: 'web' }));
  const names = async (q) => (await lab.request('GET', `/api/v1/namespaces/default/configmaps?${q}`)).body.items
    .map((i) => i.metadata.name).filter((n) => n.startsWith('sel-'));
  const enc = encodeURIComponent;
  assert.deepEqual(await names(`labelSelector=${enc('app=web')}`), ['sel-a', 'sel-c']);
  assert.deepEqual(await names(`labelSelector=${enc('app==web,tier=front')}`), ['sel-a']);
  assert.deepEqual(await names(`labelSelector=${enc('app!=web')}`), ['sel-b']);
  assert.deepEqual(await names(`labelSelector=${enc('app in (db,cache)')}`), ['sel-b']);
  assert.deepEqual(await names(`labelSelector=${enc('app notin (db),app')}`), ['sel-a', 'sel-c']);
  assert.deepEqual(await names(`labelSelector=${enc('tier')}`), ['sel-a', 'sel-b']);
  assert.deepEqual(await names(`labelSelector=${enc('app,!tier')}`), ['sel-c']);
  assert.deepEqual(await names(`fieldSelector=${enc('metadata.name=sel-b')}`), ['sel-b']);
  assert.deepEqual(await names(`fieldSelector=${enc('metadata.name!=sel-b')}&labelSelector=app`), ['sel-a', 'sel-c']);
  const all = await lab.request('GET', `/api/v1/configmaps?fieldSelector=${enc('metadata.namespace=default')}&labelSelector=app`);
  assert.equal(all.body.items.length, 3);
  assert.equal(all.body.items[0].kind, undefined, 'items of built-in lists carry no kind, as the real server writes them');
  assertStatus(await lab.request('GET', `/api/v1/configmaps?fieldSelector=${enc('data.k=x')}`), 400, 'BadRequest');
});

test('limit and continue page through a list', async () => {
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'paging' } });
  for (let i = 0; i < 7; i++) await post('/api/v1/namespaces/paging/configmaps', cm(`p${i}`));
  const seen = [];
  let next = '';
  let pages = 0;
  do {
    const r = await lab.request('GET', `/api/v1/namespaces/paging/configmaps?limit=3${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
    assert.ok(r.body.items.length <= 3);
    seen.push(...r.body.items.map((i) => i.metadata.name));
    next = r.body.metadata.continue;
    if (next) assert.equal(r.body.metadata.remainingItemCount, 7 - seen.length);
    pages++;
  } while (next);
  assert.equal(pages, 3);
  assert.deepEqual(seen.filter((n) => /^p\d$/.test(n)), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
});

test('merge patch, JSON patch and strategic merge patch (containers merged by name)', async () => {
  const dep = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'patchme', labels: { a: '1' } },
    spec: { selector: { matchLabels: { app: 'p' } }, template: { metadata: { labels: { app: 'p' } },
      spec: { containers: [{ name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }] }, { name: 'side', image: 'side:1' }] } } },
  };
  assert.equal((await post('/apis/apps/v1/namespaces/default/deployments', dep)).status, 201);
  const url = '/apis/apps/v1/namespaces/default/deployments/patchme';

  let r = await lab.request('PATCH', url, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { a: null, b: '2' } } } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.metadata.labels, { b: '2' });

  r = await lab.request('PATCH', url, { contentType: 'application/json-patch+json',
    body: [{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: 'side:2' }, { op: 'add', path: '/metadata/labels/c', value: '3' }] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.spec.template.spec.containers[1].image, 'side:2');
  assert.equal(r.body.metadata.labels.c, '3');

  r = await lab.request('PATCH', url, { contentType: 'application/strategic-merge-patch+json',
    body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '2' }] }] } } } } });
  assert.equal(r.status, 200, r.text);
  const containers = r.body.spec.template.spec.containers;
  assert.deepEqual(containers.map((c) => `${c.name}=${c.image}`), ['app=app:2', 'side=side:2']);
  assert.deepEqual(containers[0].env, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
  assert.equal(r.body.metadata.generation, 3, 'spec changed twice after creation');

  r = await lab.request('PATCH', url, { contentType: 'application/merge-patch+json', body: { metadata: { annotations: { x: 'y' } } } });
  assert.equal(r.body.metadata.generation, 3, 'metadata-only change keeps the generation');

  const failing = await lab.request('PATCH', url, { contentType: 'application/json-patch+json', body: [{ op: 'test', path: '/metadata/name', value: 'other' }] });
  assertStatus(failing, 422, 'Invalid');
  assertStatus(await lab.request('PATCH', url, { contentType: 'text/plain', body: 'x' }), 415, 'UnsupportedMediaType');
});

test('strategic merge patch is refused for custom resources (415)', async () => {
  const cluster = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'smp' }, spec: { instances: 1, storage: { size: '1Gi' } } };
  assert.equal((await post('/apis/postgresql.cnpg.io/v1/namespaces/default/clusters', cluster)).status, 201);
  const r = await lab.request('PATCH', '/apis/postgresql.cnpg.io/v1/namespaces/default/clusters/smp',
    { contentType: 'application/strategic-merge-patch+json', body: { spec: { instances: 2 } } });
  assertStatus(r, 415, 'UnsupportedMediaType');
});

test('dryRun=All validates and answers but stores nothing, on every verb', async () => {
  const created = await post('/api/v1/namespaces/default/configmaps?dryRun=All', cm('dry'));
  assert.equal(created.status, 201);
  assert.equal(created.body.metadata.name, 'dry');
  assertStatus(await lab.request('GET', '/api/v1/namespaces/default/configmaps/dry'), 404, 'NotFound');

  await post('/api/v1/namespaces/default/configmaps', cm('dry2', {}, { k: 'old' }));
  const patched = await lab.request('PATCH', '/api/v1/namespaces/default/configmaps/dry2?dryRun=All',
    { contentType: 'application/merge-patch+json', body: { data: { k: 'new' } } });
  assert.equal(patched.body.data.k, 'new');
  const live = await lab.request('GET', '/api/v1/namespaces/default/configmaps/dry2');
  assert.equal(live.body.data.k, 'old');
  const put = await lab.request('PUT', '/api/v1/namespaces/default/configmaps/dry2?dryRun=All', { body: Object.assign({}, live.body, { data: { k: 'put' } }) });
  assert.equal(put.body.data.k, 'put');
  assert.equal((await lab.request('DELETE', '/api/v1/namespaces/default/configmaps/dry2?dryRun=All')).status, 200);
  const still = await lab.request('GET', '/api/v1/namespaces/default/configmaps/dry2');
  assert.equal(still.body.data.k, 'old');
  assert.equal(still.body.metadata.resourceVersion, live.body.metadata.resourceVersion);
  assertStatus(await post('/api/v1/namespaces/default/configmaps?dryRun=Some', cm('dry3')), 400, 'BadRequest');
});

test('status subresource: the main resource ignores status, /status changes only status', async () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'st' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
  const created = (await post('/api/v1/namespaces/default/pods', pod)).body;
  assert.equal(created.status.phase, 'Pending');
  const viaMain = await lab.request('PATCH', '/api/v1/namespaces/default/pods/st', { contentType: 'application/merge-patch+json', body: { status: { podIP: '127.0.0.9' } } });
  assert.equal(viaMain.body.status.podIP, undefined);
  const viaStatus = await lab.request('PATCH', '/api/v1/namespaces/default/pods/st/status',
    { contentType: 'application/merge-patch+json', body: { status: { podIP: '127.0.0.9', phase: 'Running' }, metadata: { labels: { ignored: 'yes' } } } });
  assert.equal(viaStatus.status, 200, viaStatus.text);
  assert.equal(viaStatus.body.status.podIP, '127.0.0.9');
  assert.equal(viaStatus.body.metadata.labels, undefined);
  assert.equal(viaStatus.body.metadata.generation, created.metadata.generation);
});

test('validation failures answer 422 Invalid with causes', async () => {
  const bad = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_A_Valid_Name' } };
  const r = await post('/api/v1/namespaces/default/configmaps', bad);
  assertStatus(r, 422, 'Invalid');
  assert.equal(r.body.details.kind, 'ConfigMap');
  assert.ok(r.body.details.causes.find((c) => c.field === 'metadata.name'));
});

test('finalizers hold a deletion; removing the last one deletes the object', async () => {
  await post('/api/v1/namespaces/default/configmaps', Object.assign(cm('fin'), { metadata: { name: 'fin', finalizers: ['example.com/hold'] } }));
  const del = await lab.request('DELETE', '/api/v1/namespaces/default/configmaps/fin');
  assert.equal(del.status, 200);
  const held = (await lab.request('GET', '/api/v1/namespaces/default/configmaps/fin')).body;
  assert.ok(held.metadata.deletionTimestamp);
  await lab.request('PATCH', '/api/v1/namespaces/default/configmaps/fin', { contentType: 'application/merge-patch+json', body: { metadata: { finalizers: null } } });
  assertStatus(await lab.request('GET', '/api/v1/namespaces/default/configmaps/fin'), 404, 'NotFound');
  const status = await lab.request('DELETE', '/api/v1/namespaces/default/configmaps/meta');
  assert.equal(status.body.kind, 'Status');
  assert.equal(status.body.status, 'Success');
  assert.equal(status.body.details.name, 'meta');
});

test('garbage collection by ownerReferences: Background deletes dependents, Orphan keeps them', async () => {
  const owner = (await post('/apis/apps/v1/namespaces/default/deployments', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'owner' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
  })).body;
  const ref = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'owner', uid: owner.metadata.uid, controller: true }];
  for (const n of ['dep1', 'dep2']) await post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n, ownerReferences: ref } });
  await lab.request('DELETE', '/apis/apps/v1/namespaces/default/deployments/owner', { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' } });
  await eventually(async () => (await lab.request('GET', '/api/v1/namespaces/default/configmaps/dep1')).status === 404, 3000, 'dep1 collected');
  assert.equal((await lab.request('GET', '/api/v1/namespaces/default/configmaps/dep2')).status, 404);

  const owner2 = (await post('/api/v1/namespaces/default/configmaps', cm('owner2'))).body;
  await post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: 'orphan', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner2', uid: owner2.metadata.uid }] } });
  await lab.request('DELETE', '/api/v1/namespaces/default/configmaps/owner2?propagationPolicy=Orphan');
  await new Promise((r) => setTimeout(r, 100));
  const orphan = await lab.request('GET', '/api/v1/namespaces/default/configmaps/orphan');
  assert.equal(orphan.status, 200);
  assert.equal(orphan.body.metadata.ownerReferences, undefined);
});

test('namespace deletion: Terminating, contents removed, then gone; no new content meanwhile', async () => {
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
  await post('/api/v1/namespaces/doomed/configmaps', Object.assign(cm('held'), { metadata: { name: 'held', finalizers: ['example.com/hold'] } }));
  await post('/api/v1/namespaces/doomed/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { a: 'b' } });
  const del = await lab.request('DELETE', '/api/v1/namespaces/doomed');
  assert.equal(del.status, 200);
  assert.equal(del.body.status.phase, 'Terminating');
  await eventually(async () => (await lab.request('GET', '/api/v1/namespaces/doomed/secrets/s')).status === 404, 3000, 'secret removed');
  const ns = await lab.request('GET', '/api/v1/namespaces/doomed');
  assert.equal(ns.body.status.phase, 'Terminating', 'a finalizer still holds content');
  const refused = await post('/api/v1/namespaces/doomed/configmaps', cm('late'));
  assertStatus(refused, 403, 'Forbidden');
  assert.match(refused.body.message, /because it is being terminated/);
  await lab.request('PATCH', '/api/v1/namespaces/doomed/configmaps/held', { contentType: 'application/merge-patch+json', body: { metadata: { finalizers: null } } });
  await eventually(async () => (await lab.request('GET', '/api/v1/namespaces/doomed')).status === 404, 3000, 'namespace gone');
});

test('services get distinct cluster IPs from the Service range (not loopback); a taken IP is refused', async () => {
  const svc = (name, clusterIP) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { clusterIP, ports: [{ port: 5432 }] } });
  const a = (await post('/api/v1/namespaces/default/services', svc('svc-a'))).body;
  const b = (await post('/api/v1/namespaces/default/services', svc('svc-b'))).body;
  const range = process.env.LAB_SERVICE_CIDR || '10.96.0.0/20';
  assert.ok(require('../lib/node/cidr').contains(range, a.spec.clusterIP), `${a.spec.clusterIP} in ${range}`);
  assert.notEqual(a.spec.clusterIP, b.spec.clusterIP);
  assert.deepEqual(a.spec.clusterIPs, [a.spec.clusterIP]);
  assertStatus(await post('/api/v1/namespaces/default/services', svc('svc-c', a.spec.clusterIP)), 422, 'Invalid');
  const sa = await eventually(async () => {
    const r = await lab.request('GET', '/api/v1/namespaces/default/serviceaccounts/default');
    return r.status === 200 && r.body;
  });
  assert.equal(sa.metadata.name, 'default');
});

test('Table output for kubectl: columns and rows', async () => {
  const r = await lab.request('GET', '/api/v1/namespaces', { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
  assert.equal(r.body.kind, 'Table');
  assert.equal(r.body.apiVersion, 'meta.k8s.io/v1');
  assert.deepEqual(r.body.columnDefinitions.map((c) => c.name), ['Name', 'Status', 'Age']);
  const row = r.body.rows.find((x) => x.cells[0] === 'kube-system');
  assert.equal(row.cells[1], 'Active');
  assert.equal(row.object.kind, 'PartialObjectMetadata');
});

test('server-side apply: fieldManager required, managers conflict with 409, force moves ownership', async () => {
  const url = '/api/v1/namespaces/default/configmaps/ssa';
  const body = (v) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  shared: "${v}"\n`;
  const apply = (manager, v, force) => lab.request('PATCH', `${url}?${manager ? `fieldManager=${manager}` : ''}${force ? '&force=true' : ''}`,
    { contentType: 'application/apply-patch+yaml', body: body(v) });
  assertStatus(await apply('', 'x'), 422, 'Invalid');
  const created = await apply('alpha', 'a');
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.metadata.managedFields[0].manager, 'alpha');
  const conflict = await apply('beta', 'b');
  assertStatus(conflict, 409, 'Conflict');
  assert.match(conflict.body.message, /^Apply failed with 1 conflict: conflict with "alpha"/);
  assert.deepEqual(conflict.body.details.causes.map((c) => [c.reason, c.field]), [['FieldManagerConflict', '.data.shared']]);
  const forced = await apply('beta', 'b', true);
  assert.equal(forced.status, 200, forced.text);
  assert.equal(forced.body.data.shared, 'b');
  assert.deepEqual(forced.body.metadata.managedFields.map((m) => m.manager), ['beta']);
});

test('deletecollection with a label selector; namespaces/NAME/finalize releases a namespace', async () => {
  await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bulk' } });
  for (const [n, l] of [['b1', 'x'], ['b2', 'x'], ['b3', 'y']]) await post('/api/v1/namespaces/bulk/configmaps', cm(n, { batch: l }));
  const r = await lab.request('DELETE', '/api/v1/namespaces/bulk/configmaps?labelSelector=batch%3Dx');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.kind, 'ConfigMapList');
  assert.deepEqual(r.body.items.map((i) => i.metadata.name), ['b1', 'b2']);
  const left = (await lab.request('GET', '/api/v1/namespaces/bulk/configmaps?labelSelector=batch')).body.items.map((i) => i.metadata.name);
  assert.deepEqual(left, ['b3']);

  // A namespace whose spec.finalizers an outside party also holds stays Terminating until /finalize clears it.
  await lab.request('PUT', '/api/v1/namespaces/bulk/finalize', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bulk' }, spec: { finalizers: ['kubernetes', 'example.com/external'] } } });
  await lab.request('DELETE', '/api/v1/namespaces/bulk');
  await eventually(async () => (await lab.request('GET', '/api/v1/namespaces/bulk/configmaps')).body.items.length === 0, 3000, 'contents removed');
  await new Promise((res) => setTimeout(res, 100));
  const held = await lab.request('GET', '/api/v1/namespaces/bulk');
  assert.equal(held.body.status.phase, 'Terminating');
  assert.deepEqual(held.body.spec.finalizers, ['example.com/external']);
  const fin = await lab.request('PUT', '/api/v1/namespaces/bulk/finalize', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bulk' }, spec: { finalizers: [] } } });
  assert.equal(fin.status, 200, fin.text);
  assert.equal((await lab.request('GET', '/api/v1/namespaces/bulk')).status, 404);
});

test('Secret stringData is folded into data (base64) and never stored; type defaults to Opaque', async () => {
  const created = await post('/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'string-data' },
    data: { kept: Buffer.from('old').toString('base64'), both: Buffer.from('from data').toString('base64') },
    stringData: { both: 'from stringData', plain: 'päss' },
  });
  assert.equal(created.status, 201, created.text);
  const got = (await lab.request('GET', '/api/v1/namespaces/default/secrets/string-data')).body;
  assert.equal(got.stringData, undefined);
  assert.equal(got.type, 'Opaque');
  const decoded = Object.fromEntries(Object.entries(got.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  assert.deepEqual(decoded, { kept: 'old', both: 'from stringData', plain: 'päss' });
});
