'use strict';
// RBAC on the emulated Kubernetes API: SubjectAccessReview / LocalSubjectAccessReview /
// SelfSubjectAccessReview answered from the stored Roles, ClusterRoles and bindings (verbs, groups,
// subresources, resourceNames, wildcards, non-resource URLs), and requests made under impersonation
// authorized by the same rules.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startK8s } = require('./k8s-helpers');

let lab;
before(async () => {
  lab = await startK8s();
  const s = lab.store;
  const rbac = 'rbac.authorization.k8s.io/v1';
  s.createObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ops' } });
  s.createObject({ apiVersion: rbac, kind: 'Role', metadata: { name: 'reader', namespace: 'ops' },
    rules: [{ apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['app-credentials'], verbs: ['get'] }] });
  s.createObject({ apiVersion: rbac, kind: 'RoleBinding', metadata: { name: 'ops-reader', namespace: 'ops' },
    subjects: [{ kind: 'ServiceAccount', name: 'ops-reader', namespace: 'ops' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' } });
  s.createObject({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: 'scaler' },
    rules: [{ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['update'] }, { nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }] });
  s.createObject({ apiVersion: rbac, kind: 'ClusterRoleBinding', metadata: { name: 'scalers' },
    subjects: [{ kind: 'Group', name: 'scalers', apiGroup: 'rbac.authorization.k8s.io' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'scaler' } });
});
after(async () => { await lab.stop(); });

async function sar(spec) {
  const r = await lab.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.kind, 'SubjectAccessReview');
  return r.body.status;
}

const SA = 'system:serviceaccount:ops:ops-reader';
const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:ops', 'system:authenticated'];
const res = (verb, resource, extra) => Object.assign({ namespace: 'ops', verb, group: '', resource }, extra || {});

test('SubjectAccessReview allowed by a RoleBinding to a ServiceAccount, with the reason', async () => {
  const st = await sar({ user: SA, groups: SA_GROUPS, resourceAttributes: res('list', 'pods') });
  assert.equal(st.allowed, true);
  assert.equal(st.reason, 'RBAC: allowed by RoleBinding "ops-reader/ops" of Role "reader" to ServiceAccount "ops-reader/ops"');
  assert.equal((await sar({ user: SA, groups: SA_GROUPS, resourceAttributes: res('get', 'pods', { subresource: 'log' }) })).allowed, true);
});

test('SubjectAccessReview denied: other verb, other namespace, other subresource, other user', async () => {
  assert.equal((await sar({ user: SA, groups: SA_GROUPS, resourceAttributes: res('delete', 'pods') })).allowed, false);
  assert.equal((await sar({ user: SA, groups: SA_GROUPS, resourceAttributes: res('list', 'pods', { namespace: 'default' }) })).allowed, false);
  assert.equal((await sar({ user: SA, groups: SA_GROUPS, resourceAttributes: res('create', 'pods', { subresource: 'exec' }) })).allowed, false);
  assert.equal((await sar({ user: 'system:serviceaccount:ops:other', resourceAttributes: res('list', 'pods') })).allowed, false);
});

test('resourceNames, */subresource wildcards, groups and non-resource URLs', async () => {
  assert.equal((await sar({ user: SA, resourceAttributes: res('get', 'secrets', { name: 'app-credentials' }) })).allowed, true);
  assert.equal((await sar({ user: SA, resourceAttributes: res('get', 'secrets', { name: 'other' }) })).allowed, false);
  assert.equal((await sar({ user: SA, resourceAttributes: res('list', 'secrets') })).allowed, false);
  const scale = { namespace: 'x', verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale' };
  assert.equal((await sar({ user: 'bob', groups: ['scalers'], resourceAttributes: scale })).allowed, true);
  assert.equal((await sar({ user: 'bob', groups: ['scalers'], resourceAttributes: Object.assign({}, scale, { subresource: '' }) })).allowed, false);
  assert.equal((await sar({ user: 'bob', groups: [], resourceAttributes: scale })).allowed, false);
  assert.equal((await sar({ user: 'bob', groups: ['scalers'], nonResourceAttributes: { path: '/debug/pprof', verb: 'get' } })).allowed, true);
  assert.equal((await sar({ user: 'bob', groups: ['scalers'], nonResourceAttributes: { path: '/healthz', verb: 'get' } })).allowed, false);
  assert.equal((await sar({ user: 'root', groups: ['system:masters'], resourceAttributes: res('delete', 'nodes') })).allowed, true);
});

test('stored RBAC changes are seen at once; LocalSubjectAccessReview must name its namespace', async () => {
  assert.equal((await sar({ user: 'carol', resourceAttributes: res('create', 'configmaps') })).allowed, false);
  lab.store.createObject({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'carol-edit', namespace: 'ops' },
    subjects: [{ kind: 'User', name: 'carol', apiGroup: 'rbac.authorization.k8s.io' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' } });
  assert.equal((await sar({ user: 'carol', resourceAttributes: res('create', 'configmaps') })).allowed, true);
  assert.equal((await sar({ user: 'carol', resourceAttributes: res('create', 'configmaps', { namespace: 'default' }) })).allowed, false);

  const local = (ns) => lab.request('POST', '/apis/authorization.k8s.io/v1/namespaces/ops/localsubjectaccessreviews', { body: {
    apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview', spec: { user: 'carol', resourceAttributes: res('get', 'pods', { namespace: ns }) } } });
  assert.equal((await local('ops')).body.status.allowed, true);
  assert.equal((await local('default')).status, 422);
});

test('SelfSubjectAccessReview answers for the caller, or for whom it impersonates', async () => {
  const ssar = (headers) => lab.request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { headers, body: {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: res('delete', 'pods') } } });
  assert.equal((await ssar({})).body.status.allowed, true);
  assert.equal((await ssar({ 'Impersonate-User': SA })).body.status.allowed, false);
  assert.equal((await ssar({ 'Impersonate-User': 'carol' })).body.status.allowed, true);
});

test('requests under impersonation are authorized by RBAC (403 Forbidden Status otherwise)', async () => {
  const h = { 'Impersonate-User': SA };
  assert.equal((await lab.request('GET', '/api/v1/namespaces/ops/pods', { headers: h })).status, 200);
  const denied = await lab.request('DELETE', '/api/v1/namespaces/ops/pods/x', { headers: h });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.reason, 'Forbidden');
  assert.equal(denied.body.message, 'pods "x" is forbidden: User "system:serviceaccount:ops:ops-reader" cannot delete resource "pods" in API group "" in the namespace "ops"');
  const groupOnly = await lab.request('GET', '/apis/apps/v1/namespaces/x/deployments', { headers: { 'Impersonate-User': 'bob', 'Impersonate-Group': 'scalers' } });
  assert.equal(groupOnly.status, 403);
  assert.match(groupOnly.body.message, /cannot list resource "deployments" in API group "apps" in the namespace "x"/);
});

test('the bootstrap roles exist: a RoleBinding to ClusterRole edit grants writes but not RBAC, view reads without secrets', async () => {
  for (const [user, role] of [['erin', 'edit'], ['vic', 'view']]) {
    lab.store.createObject({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `${user}-${role}`, namespace: 'ops' },
      subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role } });
  }
  assert.equal((await sar({ user: 'erin', resourceAttributes: res('create', 'secrets') })).allowed, true);
  assert.equal((await sar({ user: 'erin', resourceAttributes: res('create', 'pods', { subresource: 'portforward' }) })).allowed, true);
  assert.equal((await sar({ user: 'erin', resourceAttributes: res('create', 'rolebindings', { group: 'rbac.authorization.k8s.io' }) })).allowed, false);
  assert.equal((await sar({ user: 'vic', resourceAttributes: res('list', 'services') })).allowed, true);
  assert.equal((await sar({ user: 'vic', resourceAttributes: res('get', 'secrets') })).allowed, false);
  assert.equal((await sar({ user: 'vic', resourceAttributes: res('delete', 'services') })).allowed, false);
});
