'use strict';
// The objects a fresh cluster has before anyone writes to it: the four default namespaces, the
// `kubernetes` Service, and the bootstrap RBAC roles users bind to (cluster-admin, admin, edit, view,
// system:basic-user, system:discovery) with their default bindings. The role rules are a faithful subset
// of the real ones, covering the resource types this lab serves; aggregation is not emulated.

const RBAC = 'rbac.authorization.k8s.io/v1';
const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const labels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

const viewRules = [
  { apiGroups: [''], resources: ['configmaps', 'endpoints', 'persistentvolumeclaims', 'pods', 'pods/log', 'pods/status', 'services', 'services/status', 'serviceaccounts', 'events'], verbs: READ },
  { apiGroups: [''], resources: ['namespaces', 'namespaces/status'], verbs: READ },
  { apiGroups: ['apps'], resources: ['deployments', 'deployments/status', 'deployments/scale', 'replicasets', 'statefulsets'], verbs: READ },
  { apiGroups: ['batch'], resources: ['jobs', 'jobs/status', 'cronjobs'], verbs: READ },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: READ },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: READ },
];
const editRules = viewRules.concat([
  { apiGroups: [''], resources: ['configmaps', 'persistentvolumeclaims', 'pods', 'services', 'serviceaccounts', 'secrets'], verbs: READ.concat(WRITE) },
  { apiGroups: [''], resources: ['pods/portforward', 'pods/exec', 'pods/attach'], verbs: ['create', 'get'] },
  { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'statefulsets', 'replicasets'], verbs: READ.concat(WRITE) },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: READ.concat(WRITE) },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: READ.concat(WRITE) },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: READ.concat(WRITE) },
]);
const adminRules = editRules.concat([
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: READ.concat(WRITE) },
  { apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create'] },
]);

function clusterRole(name, rules) {
  return { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, labels }, rules };
}

function groupBinding(name, role, group) {
  return { apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }] };
}

function bootstrapObjects() {
  return [
    ...DEFAULT_NAMESPACES.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })),
    clusterRole('cluster-admin', [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }]),
    clusterRole('admin', adminRules),
    clusterRole('edit', editRules),
    clusterRole('view', viewRules),
    clusterRole('system:basic-user', [{ apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] }]),
    clusterRole('system:discovery', [{ nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'], verbs: ['get'] }]),
    groupBinding('cluster-admin', 'cluster-admin', 'system:masters'),
    groupBinding('system:basic-user', 'system:basic-user', 'system:authenticated'),
    groupBinding('system:discovery', 'system:discovery', 'system:authenticated'),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }] } },
  ];
}

module.exports = { bootstrapObjects, DEFAULT_NAMESPACES };
