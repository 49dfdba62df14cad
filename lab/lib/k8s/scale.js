'use strict';
// The `scale` subresource (autoscaling/v1 Scale) of deployments and of custom resources whose CRD declares
// one (specReplicasPath, statusReplicasPath, labelSelectorPath): get, update and merge/JSON patch, as
// `kubectl scale` uses them. Writes only the replicas field of the parent object.

const { errors } = require('./errors');
const { mergePatch, jsonPatch, PATCH_TYPES } = require('./patch');
const { readBody, mediaType, parseObject, sendJSON } = require('./http');

const BUILTIN_PATHS = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

const segments = (p) => p.replace(/^\./, '').split('.');

function getPath(obj, p) {
  return segments(p).reduce((cur, k) => (cur && typeof cur === 'object' ? cur[k] : undefined), obj);
}

function setPath(obj, p, value) {
  const parts = segments(p);
  let cur = obj;
  for (const k of parts.slice(0, -1)) cur = cur[k] = cur[k] && typeof cur[k] === 'object' ? cur[k] : {};
  cur[parts[parts.length - 1]] = value;
}

function selectorString(sel) {
  if (typeof sel === 'string') return sel;
  return Object.entries((sel && sel.matchLabels) || {}).map(([k, v]) => `${k}=${v}`).join(',');
}

function pathsOf(res) {
  return res.crd ? res.subresources.scale.paths : BUILTIN_PATHS;
}

function toScale(res, obj) {
  const paths = pathsOf(res);
  const status = { replicas: getPath(obj, paths.statusReplicasPath) || 0 };
  const selector = paths.labelSelectorPath ? getPath(obj, paths.labelSelectorPath) : undefined;
  const fallback = !res.crd && obj.spec ? obj.spec.selector : undefined;
  if (selector !== undefined || fallback !== undefined) status.selector = selectorString(selector !== undefined ? selector : fallback);
  const md = obj.metadata;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion, creationTimestamp: md.creationTimestamp },
    spec: { replicas: getPath(obj, paths.specReplicasPath) || 0 },
    status,
  };
}

async function newScale(ctx, current) {
  const buf = await readBody(ctx.req);
  if (ctx.req.method === 'PUT') return parseObject(buf, mediaType(ctx.req));
  const kind = PATCH_TYPES[mediaType(ctx.req)];
  const patch = parseObject(buf, 'application/json');
  if (kind === 'json') return jsonPatch(current, patch);
  if (kind === 'merge' || kind === 'strategic') return mergePatch(current, patch);
  throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
}

async function serveScale(ctx, route) {
  const res = route.resource;
  const obj = ctx.store.getObject(res, route.namespace, route.name);
  if (!obj) throw errors.notFound(res, route.name);
  const current = toScale(res, obj);
  if (ctx.req.method === 'GET') return sendJSON(ctx.res, 200, current);
  if (ctx.req.method !== 'PUT' && ctx.req.method !== 'PATCH') throw errors.methodNotAllowed();
  const wanted = await newScale(ctx, current);
  const replicas = wanted && wanted.spec && wanted.spec.replicas;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw errors.invalid({ group: 'autoscaling' }, 'Scale', route.name, [{ reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, field: 'spec.replicas' }]);
  }
  const rv = wanted.metadata && wanted.metadata.resourceVersion;
  if (rv && rv !== obj.metadata.resourceVersion) throw errors.staleUpdate(res, route.name);
  setPath(obj, pathsOf(res).specReplicasPath, replicas);
  const dryRun = ctx.query.dryRun === 'All';
  const updated = ctx.store.update(res, obj, { dryRun });
  sendJSON(ctx.res, 200, toScale(res, updated));
}

module.exports = { serveScale };
