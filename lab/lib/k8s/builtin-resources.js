'use strict';
// The built-in resource types the emulated API server serves: one line per type with what discovery
// publishes (name, kind, scope, verbs, short names, categories) and which subresources exist.
// Behaviour specific to a type (defaults, controllers, tables) lives elsewhere; this is only the catalogue.

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const NS_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function def(group, version, resource, kind, opts = {}) {
  return {
    group,
    version,
    resource,
    kind,
    singular: opts.singular || kind.toLowerCase(),
    listKind: `${kind}List`,
    namespaced: opts.namespaced !== false,
    verbs: opts.verbs || ALL_VERBS,
    shortNames: opts.shortNames || [],
    categories: opts.categories || [],
    subresources: opts.subresources || {},
    // Resources that only answer POST with a computed status (reviews) are never stored.
    virtual: !!opts.virtual,
  };
}

const statusOnly = { status: { verbs: ['get', 'patch', 'update'] } };

const BUILTIN_RESOURCES = [
  def('', 'v1', 'namespaces', 'Namespace', {
    namespaced: false, verbs: NS_VERBS, shortNames: ['ns'],
    subresources: { status: { verbs: ['get', 'patch', 'update'] }, finalize: { verbs: ['update'] } },
  }),
  def('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'] }),
  def('', 'v1', 'secrets', 'Secret'),
  def('', 'v1', 'services', 'Service', {
    verbs: ALL_VERBS, shortNames: ['svc'], categories: ['all'], subresources: statusOnly,
  }),
  def('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'] }),
  def('', 'v1', 'pods', 'Pod', {
    shortNames: ['po'], categories: ['all'],
    subresources: {
      status: { verbs: ['get', 'patch', 'update'] },
      log: { verbs: ['get'], kind: 'Pod' },
      portforward: { verbs: ['create', 'get'], kind: 'PodPortForwardOptions' },
      exec: { verbs: ['create', 'get'], kind: 'PodExecOptions' },
    },
  }),
  def('', 'v1', 'events', 'Event', { shortNames: ['ev'] }),
  def('', 'v1', 'endpoints', 'Endpoints', { singular: 'endpoints', shortNames: ['ep'] }),
  def('apps', 'v1', 'deployments', 'Deployment', {
    shortNames: ['deploy'], categories: ['all'],
    subresources: Object.assign({ scale: { verbs: ['get', 'patch', 'update'], kind: 'Scale', group: 'autoscaling', version: 'v1' } }, statusOnly),
  }),
  def('apps', 'v1', 'replicasets', 'ReplicaSet', {
    shortNames: ['rs'], categories: ['all'],
    subresources: Object.assign({ scale: { verbs: ['get', 'patch', 'update'], kind: 'Scale', group: 'autoscaling', version: 'v1' } }, statusOnly),
  }),
  def('', 'v1', 'nodes', 'Node', { namespaced: false, shortNames: ['no'], subresources: statusOnly }),
  def('batch', 'v1', 'jobs', 'Job', { categories: ['all'], subresources: statusOnly }),
  def('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice'),
  def('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', { shortNames: ['netpol'] }),
  def('rbac.authorization.k8s.io', 'v1', 'roles', 'Role'),
  def('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'),
  def('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { namespaced: false }),
  def('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false }),
  def('coordination.k8s.io', 'v1', 'leases', 'Lease'),
  def('authorization.k8s.io', 'v1', 'subjectaccessreviews', 'SubjectAccessReview', {
    namespaced: false, verbs: ['create'], virtual: true,
  }),
  def('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', 'SelfSubjectAccessReview', {
    namespaced: false, verbs: ['create'], virtual: true,
  }),
  def('authorization.k8s.io', 'v1', 'localsubjectaccessreviews', 'LocalSubjectAccessReview', {
    verbs: ['create'], virtual: true,
  }),
  def('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', 'SelfSubjectRulesReview', {
    namespaced: false, verbs: ['create'], virtual: true,
  }),
  def('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], subresources: statusOnly,
  }),
];

module.exports = { BUILTIN_RESOURCES, ALL_VERBS, def };
