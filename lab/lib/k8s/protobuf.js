'use strict';
// Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`: "k8s\0" +
// runtime.Unknown{typeMeta, raw}) into the JSON form, for the types kubectl's typed clients send that way
// (`kubectl auth can-i`, `kubectl create namespace|configmap|secret|serviceaccount|deployment|service|job|
// role|rolebinding|...`). Field numbers are those of the upstream generated.proto files; only the fields
// those commands write are known (others are dropped). Other types are refused with 415 so the caller
// knows to send JSON; responses are always JSON (clients accept it).

const { errors } = require('./errors');

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

// --- wire format ---
function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return { value: result, pos };
    shift += 7n;
  }
}

function* fields(buf) {
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    pos = tag.pos;
    const no = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (wire === 0) {
      const v = readVarint(buf, pos);
      pos = v.pos;
      yield { no, wire, value: v.value };
    } else if (wire === 2) {
      const len = readVarint(buf, pos);
      const start = len.pos;
      const end = start + Number(len.value);
      if (end > buf.length) throw new Error('truncated field');
      pos = end;
      yield { no, wire, value: buf.subarray(start, end) };
    } else if (wire === 1) {
      yield { no, wire, value: buf.subarray(pos, pos + 8) };
      pos += 8;
    } else if (wire === 5) {
      yield { no, wire, value: buf.subarray(pos, pos + 4) };
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

// --- schemas: field number → [name, type, repeated] ---
const T = {};
T.Time = { 1: ['seconds', 'int64'], 2: ['nanos', 'int32'] };
T.OwnerReference = { 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'],
  6: ['controller', 'bool'], 7: ['blockOwnerDeletion', 'bool'] };
T.ObjectMeta = { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 5: ['uid', 'string'],
  6: ['resourceVersion', 'string'], 7: ['generation', 'int64'], 11: ['labels', 'map<string,string>'],
  12: ['annotations', 'map<string,string>'], 13: ['ownerReferences', T.OwnerReference, true], 14: ['finalizers', 'string', true] };
T.ResourceAttributes = { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'],
  5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] };
T.NonResourceAttributes = { 1: ['path', 'string'], 2: ['verb', 'string'] };
T.SelfSubjectAccessReviewSpec = { 1: ['resourceAttributes', T.ResourceAttributes], 2: ['nonResourceAttributes', T.NonResourceAttributes] };
T.SubjectAccessReviewSpec = { 1: ['resourceAttributes', T.ResourceAttributes], 2: ['nonResourceAttributes', T.NonResourceAttributes],
  3: ['user', 'string'], 4: ['groups', 'string', true], 6: ['uid', 'string'] };
T.SelfSubjectRulesReviewSpec = { 1: ['namespace', 'string'] };
T.PolicyRule = { 1: ['verbs', 'string', true], 2: ['apiGroups', 'string', true], 3: ['resources', 'string', true],
  4: ['resourceNames', 'string', true], 5: ['nonResourceURLs', 'string', true] };
T.Subject = { 1: ['kind', 'string'], 2: ['apiGroup', 'string'], 3: ['name', 'string'], 4: ['namespace', 'string'] };
T.RoleRef = { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] };
T.ObjectReference = { 1: ['kind', 'string'], 2: ['namespace', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'],
  5: ['apiVersion', 'string'], 6: ['resourceVersion', 'string'], 7: ['fieldPath', 'string'] };
T.LocalObjectReference = { 1: ['name', 'string'] };

T.IntOrString = 'intOrString';
T.Quantity = 'quantity';
T.LabelSelector = { 1: ['matchLabels', 'map<string,string>'],
  2: ['matchExpressions', { 1: ['key', 'string'], 2: ['operator', 'string'], 3: ['values', 'string', true] }, true] };
T.KeySelector = { 1: ['', T.LocalObjectReference, false, 'inline'], 2: ['key', 'string'], 3: ['optional', 'bool'] };
T.EnvVar = { 1: ['name', 'string'], 2: ['value', 'string'], 3: ['valueFrom', {
  1: ['fieldRef', { 1: ['apiVersion', 'string'], 2: ['fieldPath', 'string'] }],
  3: ['configMapKeyRef', T.KeySelector], 4: ['secretKeyRef', T.KeySelector] }] };
T.ContainerPort = { 1: ['name', 'string'], 2: ['hostPort', 'int32'], 3: ['containerPort', 'int32'], 4: ['protocol', 'string'], 5: ['hostIP', 'string'] };
T.ResourceRequirements = { 1: ['limits', { map: T.Quantity }], 2: ['requests', { map: T.Quantity }] };
T.VolumeMount = { 1: ['name', 'string'], 2: ['readOnly', 'bool'], 3: ['mountPath', 'string'], 4: ['subPath', 'string'] };
T.Container = { 1: ['name', 'string'], 2: ['image', 'string'], 3: ['command', 'string', true], 4: ['args', 'string', true],
  5: ['workingDir', 'string'], 6: ['ports', T.ContainerPort, true], 7: ['env', T.EnvVar, true], 8: ['resources', T.ResourceRequirements],
  9: ['volumeMounts', T.VolumeMount, true], 13: ['terminationMessagePath', 'string'], 14: ['imagePullPolicy', 'string'],
  16: ['stdin', 'bool'], 17: ['stdinOnce', 'bool'], 18: ['tty', 'bool'], 20: ['terminationMessagePolicy', 'string'] };
T.PodSpec = { 2: ['containers', T.Container, true], 3: ['restartPolicy', 'string'], 4: ['terminationGracePeriodSeconds', 'int64'],
  6: ['dnsPolicy', 'string'], 7: ['nodeSelector', 'map<string,string>'], 8: ['serviceAccountName', 'string'],
  15: ['imagePullSecrets', T.LocalObjectReference, true], 20: ['initContainers', T.Container, true] };
T.PodTemplateSpec = { 1: ['metadata', T.ObjectMeta], 2: ['spec', T.PodSpec] };
T.DeploymentSpec = { 1: ['replicas', 'int32'], 2: ['selector', T.LabelSelector], 3: ['template', T.PodTemplateSpec],
  4: ['strategy', { 1: ['type', 'string'], 2: ['rollingUpdate', { 1: ['maxUnavailable', T.IntOrString], 2: ['maxSurge', T.IntOrString] }] }],
  5: ['minReadySeconds', 'int32'], 6: ['revisionHistoryLimit', 'int32'], 7: ['paused', 'bool'], 9: ['progressDeadlineSeconds', 'int32'] };
T.JobSpec = { 1: ['parallelism', 'int32'], 2: ['completions', 'int32'], 3: ['activeDeadlineSeconds', 'int64'], 4: ['selector', T.LabelSelector],
  5: ['manualSelector', 'bool'], 6: ['template', T.PodTemplateSpec], 7: ['backoffLimit', 'int32'], 8: ['ttlSecondsAfterFinished', 'int32'],
  9: ['completionMode', 'string'], 10: ['suspend', 'bool'] };
T.ServicePort = { 1: ['name', 'string'], 2: ['protocol', 'string'], 3: ['port', 'int32'], 4: ['targetPort', T.IntOrString],
  5: ['nodePort', 'int32'], 6: ['appProtocol', 'string'] };
T.ServiceSpec = { 1: ['ports', T.ServicePort, true], 2: ['selector', 'map<string,string>'], 3: ['clusterIP', 'string'], 4: ['type', 'string'],
  5: ['externalIPs', 'string', true], 7: ['sessionAffinity', 'string'], 8: ['loadBalancerIP', 'string'],
  9: ['loadBalancerSourceRanges', 'string', true], 10: ['externalName', 'string'], 11: ['externalTrafficPolicy', 'string'],
  13: ['publishNotReadyAddresses', 'bool'], 17: ['ipFamilyPolicy', 'string'], 18: ['clusterIPs', 'string', true],
  19: ['ipFamilies', 'string', true], 22: ['internalTrafficPolicy', 'string'] };
// Pointer fields: a zero on the wire means an explicit zero, kept in the JSON form.
const EXPLICIT_ZERO = new Set(['replicas', 'parallelism', 'completions', 'backoffLimit', 'suspend', 'manualSelector',
  'terminationGracePeriodSeconds', 'revisionHistoryLimit', 'progressDeadlineSeconds', 'ttlSecondsAfterFinished', 'activeDeadlineSeconds', 'optional']);

const withMeta = (rest) => Object.assign({ 1: ['metadata', T.ObjectMeta] }, rest);
const KINDS = {
  'authorization.k8s.io/v1/SelfSubjectAccessReview': withMeta({ 2: ['spec', T.SelfSubjectAccessReviewSpec] }),
  'authorization.k8s.io/v1/SubjectAccessReview': withMeta({ 2: ['spec', T.SubjectAccessReviewSpec] }),
  'authorization.k8s.io/v1/LocalSubjectAccessReview': withMeta({ 2: ['spec', T.SubjectAccessReviewSpec] }),
  'authorization.k8s.io/v1/SelfSubjectRulesReview': withMeta({ 2: ['spec', T.SelfSubjectRulesReviewSpec] }),
  'v1/Namespace': withMeta({ 2: ['spec', { 1: ['finalizers', 'string', true] }] }),
  'v1/ConfigMap': withMeta({ 2: ['data', 'map<string,string>'], 3: ['binaryData', 'map<string,bytes>'], 4: ['immutable', 'bool'] }),
  'v1/Secret': withMeta({ 2: ['data', 'map<string,bytes>'], 3: ['type', 'string'], 4: ['stringData', 'map<string,string>'], 5: ['immutable', 'bool'] }),
  'v1/ServiceAccount': withMeta({ 2: ['secrets', T.ObjectReference, true], 3: ['imagePullSecrets', T.LocalObjectReference, true],
    4: ['automountServiceAccountToken', 'bool'] }),
  'v1/Pod': withMeta({ 2: ['spec', T.PodSpec] }),
  'v1/Service': withMeta({ 2: ['spec', T.ServiceSpec] }),
  'apps/v1/Deployment': withMeta({ 2: ['spec', T.DeploymentSpec] }),
  'batch/v1/Job': withMeta({ 2: ['spec', T.JobSpec] }),
  'rbac.authorization.k8s.io/v1/Role': withMeta({ 2: ['rules', T.PolicyRule, true] }),
  'rbac.authorization.k8s.io/v1/ClusterRole': withMeta({ 2: ['rules', T.PolicyRule, true] }),
  'rbac.authorization.k8s.io/v1/RoleBinding': withMeta({ 2: ['subjects', T.Subject, true], 3: ['roleRef', T.RoleRef] }),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': withMeta({ 2: ['subjects', T.Subject, true], 3: ['roleRef', T.RoleRef] }),
};

function scalar(type, f) {
  switch (type) {
    case 'string': return f.value.toString('utf8');
    case 'bytes': return f.value.toString('base64');
    case 'bool': return f.value !== 0n;
    case 'int32': case 'int64': return Number(BigInt.asIntN(64, f.value));
    default: throw new Error(`unknown type ${type}`);
  }
}

function intOrString(buf) {
  const v = decodeMessage(buf, { 1: ['type', 'int64'], 2: ['intVal', 'int32'], 3: ['strVal', 'string'] });
  return v.type === 1 ? v.strVal || '' : v.intVal || 0;
}

function decodeValue(type, f) {
  if (type === T.Time) return timeOf(decodeMessage(f.value, T.Time));
  if (type === T.IntOrString) return intOrString(f.value);
  if (type === T.Quantity) return decodeMessage(f.value, { 1: ['string', 'string'] }).string || '0';
  if (typeof type === 'object') return decodeMessage(f.value, type);
  return scalar(type, f);
}

function decodeMessage(buf, schema) {
  const out = {};
  for (const f of fields(buf)) {
    const def = schema[f.no];
    if (!def) continue;
    const [name, type, repeated, inline] = def;
    if (inline) {
      Object.assign(out, decodeMessage(f.value, type));
      continue;
    }
    const mapOf = typeof type === 'string' && type.startsWith('map<') ? type.slice(type.indexOf(',') + 1, -1) : type && type.map;
    if (mapOf) {
      const entry = decodeMessage(f.value, { 1: ['key', 'string'], 2: ['value', mapOf] });
      out[name] = Object.assign(out[name] || {}, { [entry.key || '']: entry.value === undefined ? '' : entry.value });
      continue;
    }
    const value = decodeValue(type, f);
    // Go's JSON encoding omits empty optional scalars (omitempty); the protobuf form carries them.
    if (!repeated && (value === '' || value === false || value === 0) && !EXPLICIT_ZERO.has(name)) continue;
    if (repeated) (out[name] = out[name] || []).push(value);
    else out[name] = value;
  }
  return out;
}

function timeOf(t) {
  return new Date((t.seconds || 0) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

// Body bytes → plain object, or throws 415/400.
function decodeObject(buf) {
  if (buf.length < 4 || !buf.subarray(0, 4).equals(MAGIC)) throw errors.badRequest('protobuf body without the k8s envelope');
  let typeMeta = {};
  let raw = Buffer.alloc(0);
  try {
    const env = decodeMessage(buf.subarray(4), { 1: ['typeMeta', { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] }], 2: ['raw', 'bytes'] });
    typeMeta = env.typeMeta || {};
    raw = Buffer.from(env.raw || '', 'base64');
  } catch (err) {
    throw errors.badRequest(`unable to decode protobuf body: ${err.message}`);
  }
  const schema = KINDS[`${typeMeta.apiVersion}/${typeMeta.kind}`];
  if (!schema) {
    throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is not supported for ${typeMeta.kind} by this server)`);
  }
  try {
    return Object.assign({ apiVersion: typeMeta.apiVersion, kind: typeMeta.kind }, decodeMessage(raw, schema));
  } catch (err) {
    throw errors.badRequest(`unable to decode protobuf body: ${err.message}`);
  }
}

module.exports = { decodeObject };
