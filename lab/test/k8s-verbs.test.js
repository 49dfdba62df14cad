'use strict';
// The emulated Kubernetes API verb by verb, kind by kind: every kind the lab serves goes through create, get,
// list, patch and delete over HTTP; dryRun=All on every mutating verb stores nothing and emits no watch event;
// fieldValidation Strict|Warn|Ignore on create, update, patch and apply; server-side apply through the server
// (CRD lists merged by their schema, conflicts with an Update owner); finalizers during deletion, Foreground.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startK8s, eventually } = require('./k8s-helpers');

let lab;
before(async () => {
  lab = await startK8s();
  const ns = await lab.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'verbs' } } });
  assert.equal(ns.status, 201, ns.text);
});
after(async () => { await lab.stop(); });

const NS = '/api/v1/namespaces/verbs';
const merge = (body) => ({ contentType: 'application/merge-patch+json', body });
const container = { name: 'c', image: 'busybox' };
const podSpec = { restartPolicy: 'Never', containers: [container] };
const rbacGroup = 'rbac.authorization.k8s.io';

// [collection URL, object] for every kind of the issue (namespaces have their own test in k8s-api).
const KINDS = [
  ['/api/v1/namespaces/verbs/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', data: { a: '1' } }],
  ['/api/v1/namespaces/verbs/secrets', { apiVersion: 'v1', kind: 'Secret', stringData: { password: 'x' } }],
  ['/api/v1/namespaces/verbs/services', { apiVersion: 'v1', kind: 'Service', spec: { ports: [{ port: 80 }] } }],
  ['/api/v1/namespaces/verbs/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount' }],
  ['/api/v1/namespaces/verbs/pods', { apiVersion: 'v1', kind: 'Pod', spec: { containers: [container] } }],
  ['/api/v1/namespaces/verbs/events', { apiVersion: 'v1', kind: 'Event', reason: 'Tested', message: 'hello', type: 'Normal',
    involvedObject: { kind: 'Pod', name: 'p', namespace: 'verbs' } }],
  ['/apis/apps/v1/namespaces/verbs/deployments', { apiVersion: 'apps/v1', kind: 'Deployment', spec: {
    selector: { matchLabels: { app: 'v' } }, template: { metadata: { labels: { app: 'v' } }, spec: { containers: [container] } } } }],
  ['/apis/batch/v1/namespaces/verbs/jobs', { apiVersion: 'batch/v1', kind: 'Job', spec: { template: { spec: podSpec } } }],
  ['/apis/networking.k8s.io/v1/namespaces/verbs/networkpolicies', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    spec: { podSelector: {}, policyTypes: ['Ingress'] } }],
  ['/apis/rbac.authorization.k8s.io/v1/namespaces/verbs/roles', { apiVersion: `${rbacGroup}/v1`, kind: 'Role',
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] }],
  ['/apis/rbac.authorization.k8s.io/v1/namespaces/verbs/rolebindings', { apiVersion: `${rbacGroup}/v1`, kind: 'RoleBinding',
    roleRef: { apiGroup: rbacGroup, kind: 'Role', name: 'r' }, subjects: [{ kind: 'User', apiGroup: rbacGroup, name: 'jane' }] }],
  ['/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: `${rbacGroup}/v1`, kind: 'ClusterRole',
    rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }] }],
  ['/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: `${rbacGroup}/v1`, kind: 'ClusterRoleBinding',
    roleRef: { apiGroup: rbacGroup, kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'Group', apiGroup: rbacGroup, name: 'g' }] }],
  ['/apis/coordination.k8s.io/v1/namespaces/verbs/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } }],
  ['/apis/postgresql.cnpg.io/v1/namespaces/verbs/clusters', { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster',
    spec: { instances: 1, storage: { size: '1Gi' } } }],
  ['/apis/postgresql.cnpg.io/v1/namespaces/verbs/backups', { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Backup',
    spec: { cluster: { name: 'pg' }, method: 'plugin', pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' } } }],
  ['/apis/postgresql.cnpg.io/v1/namespaces/verbs/scheduledbackups', { apiVersion: 'postgresql.cnpg.io/v1', kind: 'ScheduledBackup',
    spec: { schedule: '0 0 0 * * *', cluster: { name: 'pg' } } }],
  ['/apis/barmancloud.cnpg.io/v1/namespaces/verbs/objectstores', { apiVersion: 'barmancloud.cnpg.io/v1', kind: 'ObjectStore',
    spec: { configuration: { destinationPath: 's3://backups/pg' } } }],
];

test('every kind the lab serves: create, get, list, patch and delete over HTTP', async () => {
  for (const [url, template] of KINDS) {
    const what = `${template.kind} (${url})`;
    const body = Object.assign(structuredClone(template), { metadata: { name: 'every-kind', labels: { round: 'one' } } });
    const created = await lab.request('POST', url, { body });
    assert.equal(created.status, 201, `${what}: ${created.text}`);
    assert.equal(created.body.kind, template.kind, what);
    const { uid, resourceVersion } = created.body.metadata;
    const got = await lab.request('GET', `${url}/every-kind`);
    assert.equal(got.status, 200, what);
    assert.equal(got.body.metadata.uid, uid, what);
    const listed = await lab.request('GET', `${url}?labelSelector=round%3Done`);
    assert.deepEqual(listed.body.items.map((i) => i.metadata.name), ['every-kind'], what);
    const patched = await lab.request('PATCH', `${url}/every-kind`, merge({ metadata: { labels: { round: 'two' } } }));
    assert.equal(patched.status, 200, `${what}: ${patched.text}`);
    assert.equal(patched.body.metadata.labels.round, 'two', what);
    assert.ok(Number(patched.body.metadata.resourceVersion) > Number(resourceVersion), what);
    assert.equal(patched.body.metadata.generation, created.body.metadata.generation, `${what}: a label is no spec change`);
    assert.equal(patched.body.metadata.creationTimestamp, created.body.metadata.creationTimestamp, what);
    const deleted = await lab.request('DELETE', `${url}/every-kind`);
    assert.equal(deleted.status, 200, `${what}: ${deleted.text}`);
    await eventually(async () => (await lab.request('GET', `${url}/every-kind`)).status === 404, 3000, `${what} deleted`);
  }
});

test('dryRun=All on every mutating verb answers as if done, but stores nothing and emits no watch event', async () => {
  const cms = `${NS}/configmaps`;
  const live = (await lab.request('POST', cms, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry', labels: { set: 'dry' } }, data: { k: 'old' } } })).body;
  const pod = (await lab.request('POST', `${NS}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dry-pod' }, spec: { containers: [container] } } })).body;
  const w = lab.watch(`${cms}?watch=true&resourceVersion=${lab.store.currentRV()}`);
  try {
    const dry = '?dryRun=All';
    const answers = {
      create: await lab.request('POST', cms + dry, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry-new' }, data: { k: 'v' } } }),
      update: await lab.request('PUT', `${cms}/dry${dry}`, { body: Object.assign({}, live, { data: { k: 'put' } }) }),
      merge: await lab.request('PATCH', `${cms}/dry${dry}`, merge({ data: { k: 'merge' } })),
      json: await lab.request('PATCH', `${cms}/dry${dry}`, { contentType: 'application/json-patch+json', body: [{ op: 'replace', path: '/data/k', value: 'json' }] }),
      strategic: await lab.request('PATCH', `${cms}/dry${dry}`, { contentType: 'application/strategic-merge-patch+json', body: { data: { k: 'smp' } } }),
      applyExisting: await lab.request('PATCH', `${cms}/dry${dry}&fieldManager=dry&force=true`,
        { contentType: 'application/apply-patch+yaml', body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry}\ndata: {k: apply}\n' }),
      applyNew: await lab.request('PATCH', `${cms}/dry-applied${dry}&fieldManager=dry`,
        { contentType: 'application/apply-patch+yaml', body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry-applied}\ndata: {k: v}\n' }),
      delete: await lab.request('DELETE', `${cms}/dry${dry}`),
      deletecollection: await lab.request('DELETE', `${cms}${dry}&labelSelector=set%3Ddry`),
    };
    const expected = { create: 201, update: 200, merge: 200, json: 200, strategic: 200, applyExisting: 200, applyNew: 201, delete: 200, deletecollection: 200 };
    for (const [verb, code] of Object.entries(expected)) assert.equal(answers[verb].status, code, `${verb}: ${answers[verb].text}`);
    assert.deepEqual(['update', 'merge', 'json', 'strategic', 'applyExisting'].map((v) => answers[v].body.data.k), ['put', 'merge', 'json', 'smp', 'apply'],
      'each answer shows the change it would make');
    assert.deepEqual(answers.deletecollection.body.items.map((i) => i.metadata.name), ['dry']);

    const status = await lab.request('PATCH', `${NS}/pods/dry-pod/status${dry}`, merge({ status: { podIP: '127.0.0.7' } }));
    assert.equal(status.status, 200, status.text);
    assert.equal(status.body.status.podIP, '127.0.0.7');
    assert.equal((await lab.request('GET', `${NS}/pods/dry-pod`)).body.status.podIP, undefined);
    assert.equal((await lab.request('GET', `${NS}/pods/dry-pod`)).body.metadata.resourceVersion, pod.metadata.resourceVersion);

    const now = (await lab.request('GET', `${cms}/dry`)).body;
    assert.equal(now.data.k, 'old');
    assert.equal(now.metadata.resourceVersion, live.metadata.resourceVersion);
    assert.deepEqual(now.metadata.managedFields.map((m) => m.manager), live.metadata.managedFields.map((m) => m.manager));
    for (const name of ['dry-new', 'dry-applied']) assert.equal((await lab.request('GET', `${cms}/${name}`)).status, 404, name);

    // A real write afterwards is the first and only event the watch sees.
    await lab.request('POST', cms, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry-marker' } } });
    await w.waitFor((e) => e.object.metadata.name === 'dry-marker');
    assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED dry-marker']);
  } finally {
    w.close();
  }

  const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.example.com' },
    spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] } };
  assert.equal((await lab.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions?dryRun=All', { body: crd })).status, 201);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await lab.request('GET', '/apis/example.com/v1')).status, 404, 'a dry-run CRD serves nothing');

  const nsDelete = await lab.request('DELETE', '/api/v1/namespaces/verbs?dryRun=All');
  assert.equal(nsDelete.status, 200, nsDelete.text);
  await new Promise((r) => setTimeout(r, 200));
  const ns = (await lab.request('GET', '/api/v1/namespaces/verbs')).body;
  assert.equal(ns.status.phase, 'Active');
  assert.equal(ns.metadata.deletionTimestamp, undefined);
  assert.equal((await lab.request('GET', `${cms}/dry`)).status, 200, 'the contents stay');
});

test('fieldValidation Strict, Warn and Ignore on create, update, patch and apply', async () => {
  const cms = `${NS}/configmaps`;
  const seed = (name) => lab.request('POST', cms, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } } });
  const writes = {
    create: (name, q) => lab.request('POST', `${cms}?${q}`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' }, bogus: 1 } }),
    update: async (name, q) => {
      const cur = (await seed(name)).body;
      return lab.request('PUT', `${cms}/${name}?${q}`, { body: Object.assign({}, cur, { bogus: 1 }) });
    },
    patch: async (name, q) => {
      await seed(name);
      return lab.request('PATCH', `${cms}/${name}?${q}`, merge({ bogus: 1, data: { k: 'patched' } }));
    },
    apply: (name, q) => lab.request('PATCH', `${cms}/${name}?fieldManager=fv&${q}`,
      { contentType: 'application/apply-patch+yaml', body: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata: {k: v}\nbogus: 1\n` }),
  };
  for (const [verb, write] of Object.entries(writes)) {
    const strict = await write(`fv-${verb}-strict`, 'fieldValidation=Strict');
    assert.equal(strict.status, 400, `${verb} Strict: ${strict.text}`);
    assert.equal(strict.body.reason, 'BadRequest');
    assert.equal(strict.body.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"', verb);
    const kept = await lab.request('GET', `${cms}/fv-${verb}-strict`);
    if (verb === 'create' || verb === 'apply') assert.equal(kept.status, 404, `${verb} Strict stores nothing`);
    else assert.equal(kept.body.data.k, 'v', `${verb} Strict changes nothing`);

    for (const [mode, warned] of [['Warn', true], ['', true], ['Ignore', false]]) {
      const name = `fv-${verb}-${(mode || 'default').toLowerCase()}`;
      const r = await write(name, mode ? `fieldValidation=${mode}` : '');
      assert.ok(r.status === 200 || r.status === 201, `${verb} ${mode}: ${r.text}`);
      assert.equal(r.headers.warning, warned ? '299 - "unknown field \\"bogus\\""' : undefined, `${verb} ${mode || 'default'} warning`);
      const stored = lab.store.get('v1', 'ConfigMap', 'verbs', name);
      assert.equal('bogus' in stored, false, `${verb} ${mode}: the unknown field is dropped`);
      assert.ok(stored.metadata.managedFields.every((m) => !('f:bogus' in m.fieldsV1)), `${verb} ${mode}: nobody owns the dropped field`);
    }
  }
  const bad = await lab.request('POST', `${cms}?fieldValidation=Loose`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fv-bad' } } });
  assert.equal(bad.status, 400);
});

test('server-side apply through the server: CRD keyed lists merge by the CRD schema; an Update owner conflicts by name and apiVersion', async () => {
  const url = '/apis/postgresql.cnpg.io/v1/namespaces/verbs/clusters/ssa-pg';
  const apply = (manager, spec, force) => lab.request('PATCH', `${url}?fieldManager=${manager}${force ? '&force=true' : ''}`, {
    contentType: 'application/apply-patch+yaml',
    body: JSON.stringify({ apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'ssa-pg' }, spec }) });
  const base = { instances: 1, storage: { size: '1Gi' }, resources: { claims: [{ name: 'gpu' }] } };
  assert.equal((await apply('alaris', base)).status, 201);
  // spec.resources.claims is a list of type map keyed by name in the CRD: another manager adds its own item.
  const added = await apply('ops', { resources: { claims: [{ name: 'fpga' }] } });
  assert.equal(added.status, 200, added.text);
  assert.deepEqual(added.body.spec.resources.claims, [{ name: 'gpu' }, { name: 'fpga' }]);
  const ops = added.body.metadata.managedFields.find((m) => m.manager === 'ops');
  assert.deepEqual(ops.fieldsV1, { 'f:spec': { 'f:resources': { 'f:claims': { 'k:{"name":"fpga"}': { '.': {}, 'f:name': {} } } } } });

  const edited = await lab.request('PATCH', `${url}?fieldManager=editor`, merge({ spec: { instances: 3 } }));
  assert.equal(edited.status, 200, edited.text);
  const conflict = await apply('alaris', base);
  assert.equal(conflict.status, 409, conflict.text);
  assert.equal(conflict.body.message, 'Apply failed with 1 conflict: conflict with "editor" using postgresql.cnpg.io/v1: .spec.instances');
  assert.deepEqual(conflict.body.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "editor" using postgresql.cnpg.io/v1', field: '.spec.instances' }]);
  const forced = await apply('alaris', base, true);
  assert.equal(forced.status, 200, forced.text);
  assert.equal(forced.body.spec.instances, 1);
  assert.equal(forced.body.metadata.managedFields.find((m) => m.manager === 'editor'), undefined, 'the editor owned only instances');
  assert.deepEqual(forced.body.spec.resources.claims, [{ name: 'gpu' }, { name: 'fpga' }], "ops's item survives alaris's apply");
});

test('an object being deleted takes no new finalizer (422 on metadata.finalizers); Foreground deletion waits for dependents', async () => {
  const cms = `${NS}/configmaps`;
  const owner = (await lab.request('POST', cms, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fg-owner' } } })).body;
  await lab.request('POST', cms, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fg-dependent', finalizers: ['example.com/hold'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'fg-owner', uid: owner.metadata.uid, blockOwnerDeletion: true }] } } });
  const del = await lab.request('DELETE', `${cms}/fg-owner`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' } });
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.body.metadata.finalizers, ['foregroundDeletion']);
  await eventually(async () => (await lab.request('GET', `${cms}/fg-dependent`)).body.metadata.deletionTimestamp, 3000, 'dependent being deleted');

  const added = await lab.request('PATCH', `${cms}/fg-dependent`, merge({ metadata: { finalizers: ['example.com/hold', 'example.com/late'] } }));
  assert.equal(added.status, 422, added.text);
  assert.equal(added.body.reason, 'Invalid');
  assert.equal(added.body.message, 'ConfigMap "fg-dependent" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/late"}');
  assert.deepEqual(added.body.details.causes.map((c) => [c.reason, c.field]), [['FieldValueForbidden', 'metadata.finalizers']]);

  assert.equal((await lab.request('GET', `${cms}/fg-owner`)).status, 200, 'the owner waits for its dependent');
  await lab.request('PATCH', `${cms}/fg-dependent`, merge({ metadata: { finalizers: null } }));
  await eventually(async () => (await lab.request('GET', `${cms}/fg-owner`)).status === 404, 3000, 'owner gone after its dependent');
  assert.equal((await lab.request('GET', `${cms}/fg-dependent`)).status, 404);
});
