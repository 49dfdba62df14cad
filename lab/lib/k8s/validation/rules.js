// Semantic rules of the real API server (pkg/apis/*/validation) that users meet often, for the built-in kinds the
// lab serves, plus CloudNativePG's admission webhook rule on bootstrap methods. Messages and field paths are the
// server's. Far from exhaustive: probes, security contexts, volumes' sources, update-only rules are not checked.
'use strict';
const E = require('./errors');
const meta = require('./meta');

const isObject = meta.isPlainObject;
const arr = (v) => (Array.isArray(v) ? v : []);
const obj = (v) => (isObject(v) ? v : {});

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const PORT_RANGE_MSG = 'must be between 1 and 65535, inclusive';

function checkEnum(value, supported, field, errs) {
  if (typeof value === 'string' && !supported.includes(value)) errs.push(E.notSupported(field, value, supported));
}

function checkPortNumber(value, field, errs) {
  if (Number.isInteger(value) && (value < 1 || value > 65535)) errs.push(E.invalid(field, value, PORT_RANGE_MSG));
}

// IsValidPortName (IANA_SVC_NAME).
function portNameErrors(name) {
  const errs = [];
  if (name.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(name)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(name)) errs.push('must contain at least one letter (a-z)');
  if (name.includes('--')) errs.push('must not contain consecutive hyphens');
  if (name.startsWith('-') || name.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

function checkPortName(name, field, errs) {
  if (typeof name === 'string' && name !== '') for (const m of portNameErrors(name)) errs.push(E.invalid(field, name, m));
}

function checkIntOrPortName(value, field, errs) {
  if (Number.isInteger(value)) checkPortNumber(value, field, errs);
  else checkPortName(value, field, errs);
}

function validateContainer(c, field, names, volumeNames, errs) {
  if (typeof c.name === 'string' && c.name !== '') {
    for (const m of meta.isDNS1123Label(c.name)) errs.push(E.invalid(`${field}.name`, c.name, m));
    if (names.has(c.name)) errs.push(E.duplicate(`${field}.name`, c.name));
    names.add(c.name);
  }
  if (c.image === undefined || c.image === '') errs.push(E.required(`${field}.image`, ''));
  checkEnum(c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never'], `${field}.imagePullPolicy`, errs);
  const portNames = new Set();
  arr(c.ports).forEach((p, i) => {
    const pf = `${field}.ports[${i}]`;
    if (!isObject(p)) return;
    checkPortNumber(p.containerPort, `${pf}.containerPort`, errs);
    checkPortNumber(p.hostPort, `${pf}.hostPort`, errs);
    checkEnum(p.protocol, PROTOCOLS, `${pf}.protocol`, errs);
    checkPortName(p.name, `${pf}.name`, errs);
    if (p.name && portNames.has(p.name)) errs.push(E.duplicate(`${pf}.name`, p.name));
    if (p.name) portNames.add(p.name);
  });
  arr(c.volumeMounts).forEach((m, i) => {
    if (isObject(m) && typeof m.name === 'string' && m.name && !volumeNames.has(m.name)) {
      errs.push(E.fieldError('FieldValueNotFound', `${field}.volumeMounts[${i}].name`, m.name, ''));
    }
  });
}

function validatePodSpec(spec, field, errs, restartPolicies) {
  if (!isObject(spec)) return;
  const volumeNames = new Set();
  arr(spec.volumes).forEach((v, i) => {
    if (!isObject(v) || typeof v.name !== 'string' || v.name === '') return;
    for (const m of meta.isDNS1123Label(v.name)) errs.push(E.invalid(`${field}.volumes[${i}].name`, v.name, m));
    if (volumeNames.has(v.name)) errs.push(E.duplicate(`${field}.volumes[${i}].name`, v.name));
    volumeNames.add(v.name);
  });
  const names = new Set();
  for (const list of ['initContainers', 'containers']) {
    arr(spec[list]).forEach((c, i) => isObject(c) && validateContainer(c, `${field}.${list}[${i}]`, names, volumeNames, errs));
  }
  if (Array.isArray(spec.containers) && spec.containers.length === 0) errs.push(E.required(`${field}.containers`, ''));
  if (restartPolicies) checkEnum(spec.restartPolicy, restartPolicies, `${field}.restartPolicy`, errs);
  checkEnum(spec.dnsPolicy, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'], `${field}.dnsPolicy`, errs);
}

// LabelSelector syntax (metav1validation.ValidateLabelSelector).
function validateLabelSelector(sel, field, errs) {
  if (!isObject(sel)) return;
  if (isObject(sel.matchLabels)) meta.validateLabels(sel.matchLabels, `${field}.matchLabels`, errs);
  arr(sel.matchExpressions).forEach((r, i) => {
    if (!isObject(r)) return;
    const rf = `${field}.matchExpressions[${i}]`;
    const values = arr(r.values);
    if (r.operator === 'In' || r.operator === 'NotIn') {
      if (values.length === 0) errs.push(E.required(`${rf}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
    } else if (r.operator === 'Exists' || r.operator === 'DoesNotExist') {
      if (values.length > 0) errs.push(E.forbidden(`${rf}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
    } else if (typeof r.operator === 'string') {
      errs.push(E.invalid(`${rf}.operator`, r.operator, 'not a valid selector operator'));
    }
    if (typeof r.key === 'string') for (const m of meta.isQualifiedName(r.key)) errs.push(E.invalid(`${rf}.key`, r.key, m));
  });
}

function selectorMatches(sel, labels) {
  const l = obj(labels);
  for (const [k, v] of Object.entries(obj(sel.matchLabels))) if (l[k] !== v) return false;
  for (const r of arr(sel.matchExpressions)) {
    if (!isObject(r)) continue;
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const inValues = has && arr(r.values).includes(l[r.key]);
    if (r.operator === 'In' && !inValues) return false;
    if (r.operator === 'NotIn' && inValues) return false;
    if (r.operator === 'Exists' && !has) return false;
    if (r.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const selectorEmpty = (sel) => Object.keys(obj(sel.matchLabels)).length === 0 && arr(sel.matchExpressions).length === 0;

// Deployments, ReplicaSets, StatefulSets, DaemonSets: a selector that matches the template, restartPolicy Always.
function validateWorkload(o, errs) {
  const spec = obj(o.spec);
  if (Number.isInteger(spec.replicas) && spec.replicas < 0) {
    errs.push(E.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
  }
  const template = obj(spec.template);
  if (isObject(spec.selector)) {
    validateLabelSelector(spec.selector, 'spec.selector', errs);
    if (selectorEmpty(spec.selector)) {
      errs.push(E.invalid('spec.selector', E.goRepr('v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}'),
        `empty selector is invalid for ${o.kind.toLowerCase()}`));
    } else if (!selectorMatches(spec.selector, obj(template.metadata).labels)) {
      errs.push(E.invalid('spec.template.metadata.labels', E.stringMapRepr(obj(template.metadata).labels),
        '`selector` does not match template `labels`'));
    }
  }
  validateTemplateMeta(template, errs);
  validatePodSpec(template.spec, 'spec.template.spec', errs, null);
  if (template.spec !== undefined && o.kind !== 'Job') {
    checkEnum(obj(template.spec).restartPolicy, ['Always'], 'spec.template.spec.restartPolicy', errs);
  }
}

function validateTemplateMeta(template, errs) {
  const m = obj(template.metadata);
  if (isObject(m.labels)) meta.validateLabels(m.labels, 'spec.template.metadata.labels', errs);
}

function validateJob(o, errs) {
  const template = obj(obj(o.spec).template);
  validateTemplateMeta(template, errs);
  validatePodSpec(template.spec, 'spec.template.spec', errs, null);
  const policy = obj(template.spec).restartPolicy || 'Always';
  checkEnum(policy, ['OnFailure', 'Never'], 'spec.template.spec.restartPolicy', errs);
}

function validateService(o, errs) {
  const spec = obj(o.spec);
  const type = spec.type || 'ClusterIP';
  checkEnum(type, ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'], 'spec.type', errs);
  const ports = arr(spec.ports);
  if (ports.length === 0 && spec.clusterIP !== 'None' && type !== 'ExternalName') errs.push(E.required('spec.ports', ''));
  if (type === 'ExternalName' && !spec.externalName) errs.push(E.required('spec.externalName', ''));
  const names = new Set();
  ports.forEach((p, i) => {
    if (!isObject(p)) return;
    const pf = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) errs.push(E.required(`${pf}.name`, ''));
    if (p.name) {
      for (const m of meta.isDNS1123Label(p.name)) errs.push(E.invalid(`${pf}.name`, p.name, m));
      if (names.has(p.name)) errs.push(E.duplicate(`${pf}.name`, p.name));
      names.add(p.name);
    }
    checkPortNumber(p.port, `${pf}.port`, errs);
    checkEnum(p.protocol, PROTOCOLS, `${pf}.protocol`, errs);
    if (p.targetPort !== undefined) checkIntOrPortName(p.targetPort, `${pf}.targetPort`, errs);
  });
  if (isObject(spec.selector)) meta.validateLabels(spec.selector, 'spec.selector', errs);
}

const MAX_SECRET_SIZE = 1024 * 1024;

function validateConfigKeys(map, field, errs) {
  for (const key of Object.keys(obj(map)).sort()) {
    for (const m of meta.isConfigMapKey(key)) errs.push(E.invalid(`${field}[${key}]`, key, m));
  }
}

function validateSecret(o, errs) {
  validateConfigKeys(o.data, 'data', errs);
  validateConfigKeys(o.stringData, 'stringData', errs);
  const keys = new Set([...Object.keys(obj(o.data)), ...Object.keys(obj(o.stringData))]);
  let size = 0;
  for (const v of Object.values(obj(o.data))) size += typeof v === 'string' ? Math.floor((v.length * 3) / 4) : 0;
  if (size > MAX_SECRET_SIZE) errs.push(E.tooLong('data', MAX_SECRET_SIZE));
  if (o.type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key']) if (!keys.has(k)) errs.push(E.required(`data[${k}]`, ''));
  }
  if (o.type === 'kubernetes.io/dockerconfigjson' && !keys.has('.dockerconfigjson')) {
    errs.push(E.required('data[.dockerconfigjson]', ''));
  }
}

function validateConfigMap(o, errs) {
  validateConfigKeys(o.data, 'data', errs);
  validateConfigKeys(o.binaryData, 'binaryData', errs);
  for (const key of Object.keys(obj(o.binaryData))) {
    if (key in obj(o.data)) errs.push(E.invalid(`data[${key}]`, key, 'duplicate of key present in binaryData'));
  }
}

function validateNetworkPolicyPeers(peers, field, errs) {
  arr(peers).forEach((peer, i) => {
    if (!isObject(peer)) return;
    const pf = `${field}[${i}]`;
    const n = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k] !== undefined && peer[k] !== null).length;
    if (n === 0) errs.push(E.required(pf, 'must specify a peer'));
    else if (peer.ipBlock && n > 1) errs.push(E.forbidden(pf, 'may not specify both ipBlock and another peer'));
    validateLabelSelector(peer.podSelector, `${pf}.podSelector`, errs);
    validateLabelSelector(peer.namespaceSelector, `${pf}.namespaceSelector`, errs);
    if (isObject(peer.ipBlock) && typeof peer.ipBlock.cidr === 'string' && !/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(peer.ipBlock.cidr)) {
      errs.push(E.invalid(`${pf}.ipBlock.cidr`, peer.ipBlock.cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
    }
  });
}

function validateNetworkPolicy(o, errs) {
  const spec = obj(o.spec);
  validateLabelSelector(spec.podSelector, 'spec.podSelector', errs);
  arr(spec.policyTypes).forEach((t, i) => checkEnum(t, ['Ingress', 'Egress'], `spec.policyTypes[${i}]`, errs));
  for (const [dir, peersKey] of [['ingress', 'from'], ['egress', 'to']]) {
    arr(spec[dir]).forEach((rule, i) => {
      if (!isObject(rule)) return;
      arr(rule.ports).forEach((p, j) => {
        if (!isObject(p)) return;
        const pf = `spec.${dir}[${i}].ports[${j}]`;
        checkEnum(p.protocol, PROTOCOLS, `${pf}.protocol`, errs);
        if (p.port !== undefined) checkIntOrPortName(p.port, `${pf}.port`, errs);
      });
      validateNetworkPolicyPeers(rule[peersKey], `spec.${dir}[${i}].${peersKey}`, errs);
    });
  }
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';

function validateRole(o, errs) {
  arr(o.rules).forEach((r, i) => {
    if (!isObject(r)) return;
    const rf = `rules[${i}]`;
    if (arr(r.verbs).length === 0) errs.push(E.required(`${rf}.verbs`, 'verbs must contain at least one value'));
    const namespaced = o.kind === 'Role';
    if (namespaced && arr(r.nonResourceURLs).length > 0) {
      errs.push(E.invalid(`${rf}.nonResourceURLs`, r.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
    }
    if (arr(r.nonResourceURLs).length === 0) {
      if (arr(r.apiGroups).length === 0) errs.push(E.required(`${rf}.apiGroups`, 'resource rules must supply at least one api group'));
      if (arr(r.resources).length === 0) errs.push(E.required(`${rf}.resources`, 'resource rules must supply at least one resource'));
    }
  });
}

function validateBinding(o, errs) {
  const ref = obj(o.roleRef);
  checkEnum(ref.kind, o.kind === 'ClusterRoleBinding' ? ['ClusterRole'] : ['Role', 'ClusterRole'], 'roleRef.kind', errs);
  if (typeof ref.apiGroup === 'string') checkEnum(ref.apiGroup, [RBAC_GROUP], 'roleRef.apiGroup', errs);
  arr(o.subjects).forEach((s, i) => {
    if (!isObject(s)) return;
    const sf = `subjects[${i}]`;
    if (!s.name) errs.push(E.required(`${sf}.name`, ''));
    if (s.kind === 'ServiceAccount') {
      if (s.apiGroup) checkEnum(s.apiGroup, [''], `${sf}.apiGroup`, errs);
      if (o.kind === 'ClusterRoleBinding' && !s.namespace) errs.push(E.required(`${sf}.namespace`, ''));
    } else if (s.kind === 'User' || s.kind === 'Group') {
      checkEnum(s.apiGroup || '', [RBAC_GROUP], `${sf}.apiGroup`, errs);
    } else if (typeof s.kind === 'string') {
      errs.push(E.notSupported(`${sf}.kind`, s.kind, ['ServiceAccount', 'User', 'Group']));
    }
  });
}

// CloudNativePG's validating webhook (vcluster.cnpg.io), which a real cluster with the operator runs on every
// Cluster: one bootstrap method at most.
function validateCNPGCluster(o, errs) {
  const bootstrap = obj(obj(o.spec).bootstrap);
  const methods = ['initdb', 'recovery', 'pg_basebackup'].filter((m) => isObject(bootstrap[m]));
  if (methods.length > 1) errs.push(E.invalid('spec.bootstrap', '', 'Too many bootstrap types specified'));
}

function validateCRD(o, errs) {
  const spec = obj(o.spec);
  const names = obj(spec.names);
  const want = `${names.plural}.${spec.group}`;
  const name = obj(o.metadata).name;
  if (typeof name === 'string' && name && name !== want) {
    errs.push(E.invalid('metadata.name', name, 'must be spec.names.plural+"."+spec.group'));
  }
}

const BUILTIN_RULES = {
  Pod: (o, errs) => validatePodSpec(o.spec, 'spec', errs, ['Always', 'OnFailure', 'Never']),
  Deployment: validateWorkload,
  ReplicaSet: validateWorkload,
  StatefulSet: validateWorkload,
  DaemonSet: validateWorkload,
  Job: validateJob,
  Service: validateService,
  Secret: validateSecret,
  ConfigMap: validateConfigMap,
  NetworkPolicy: validateNetworkPolicy,
  Role: validateRole,
  ClusterRole: validateRole,
  RoleBinding: validateBinding,
  ClusterRoleBinding: validateBinding,
  CustomResourceDefinition: validateCRD,
};

const CUSTOM_RULES = {
  'postgresql.cnpg.io/Cluster': validateCNPGCluster,
};

function validate(o, info, errs) {
  const rule = info.builtin ? BUILTIN_RULES[o.kind] : CUSTOM_RULES[`${info.group}/${o.kind}`];
  if (rule) rule(o, errs);
}

module.exports = { validate, selectorMatches, portNameErrors };
