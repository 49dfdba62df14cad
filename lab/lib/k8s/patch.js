'use strict';
// The three non-apply patch formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and strategic merge patch (lists of objects merged by their patch merge key, `$patch`,
// `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…` directives). Merge keys come from the
// caller's `mergeKeyFor(path, items)` (schema-driven when available) or the built-in table below.
// Server-side apply is not here (apply.js).

const { errors } = require('./errors');

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (o) => (o === undefined ? undefined : JSON.parse(JSON.stringify(o)));

// --- RFC 7386 ---
function mergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// --- RFC 6902 ---
function decodePointer(ptr) {
  if (ptr === '') return [];
  if (ptr[0] !== '/') throw errors.badRequest(`invalid JSON pointer: "${ptr}"`);
  return ptr.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function walk(doc, parts, op) {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    const next = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
    if (next === undefined) throw errors.unprocessable(`doc is missing path: "/${parts.join('/')}": missing value`, op);
    cur = next;
  }
  return { parent: cur, last: parts[parts.length - 1] };
}

function getAt(doc, parts, op) {
  if (!parts.length) return doc;
  const { parent, last } = walk(doc, parts, op);
  const v = Array.isArray(parent) ? parent[Number(last)] : parent[last];
  if (v === undefined) throw errors.unprocessable(`doc is missing path: "/${parts.join('/')}": missing value`, op);
  return v;
}

function removeAt(doc, parts, op) {
  const { parent, last } = walk(doc, parts, op);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length)) throw errors.unprocessable(`unable to remove nonexistent key: ${last}: missing value`, op);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(last in parent)) throw errors.unprocessable(`unable to remove nonexistent key: ${last}: missing value`, op);
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc, parts, value, op, replace) {
  if (!parts.length) return clone(value);
  const { parent, last } = walk(doc, parts, op);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!(i >= 0 && i <= parent.length) || (replace && i >= parent.length)) {
      throw errors.unprocessable(`add operation does not apply: doc is missing path: "/${parts.join('/')}": missing value`, op);
    }
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else if (isObject(parent)) {
    if (replace && !(last in parent)) throw errors.unprocessable(`replace operation does not apply: doc is missing key: /${parts.join('/')}: missing value`, op);
    parent[last] = clone(value);
  } else {
    throw errors.unprocessable(`doc is missing path: "/${parts.join('/')}": missing value`, op);
  }
  return doc;
}

function jsonPatch(target, ops) {
  if (!Array.isArray(ops)) throw errors.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const op of ops) {
    const path = decodePointer(op.path || '');
    switch (op.op) {
      case 'add': doc = addAt(doc, path, op.value, op, false); break;
      case 'replace': doc = addAt(doc, path, op.value, op, true); break;
      case 'remove': removeAt(doc, path, op); break;
      case 'move': { const v = removeAt(doc, decodePointer(op.from), op); doc = addAt(doc, path, v, op, false); break; }
      case 'copy': doc = addAt(doc, path, clone(getAt(doc, decodePointer(op.from), op)), op, false); break;
      case 'test':
        if (JSON.stringify(getAt(doc, path, op)) !== JSON.stringify(op.value)) {
          throw errors.unprocessable(`testing value /${path.join('/')} failed: test failed`, op);
        }
        break;
      default: throw errors.badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

// --- strategic merge patch ---
// Field name → merge key for the built-in types (from the x-kubernetes-patch-merge-key of their schemas).
const MERGE_KEYS = {
  containers: 'name', initContainers: 'name', ephemeralContainers: 'name', env: 'name', volumes: 'name',
  imagePullSecrets: 'name', volumeMounts: 'mountPath', volumeDevices: 'devicePath', conditions: 'type',
  ownerReferences: 'uid', hostAliases: 'ip', topologySpreadConstraints: 'topologyKey', readinessGates: 'conditionType',
  resourceClaims: 'name', secrets: 'name', ephemeralContainerStatuses: 'name', containerStatuses: 'name',
};
// Primitive lists merged as sets rather than replaced.
const MERGE_PRIMITIVES = new Set(['finalizers']);

function defaultMergeKey(path, items) {
  const field = path[path.length - 1];
  if (field === 'ports') {
    const sample = items.find(isObject) || {};
    return 'containerPort' in sample ? 'containerPort' : 'port';
  }
  return MERGE_KEYS[field];
}

function strategicMerge(target, patch, options = {}) {
  const mergeKeyFor = options.mergeKeyFor || defaultMergeKey;
  return smpObject(isObject(target) ? clone(target) : {}, patch, [], mergeKeyFor);
}

function smpObject(target, patch, path, mergeKeyFor) {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const copy = clone(patch);
    delete copy.$patch;
    return stripDirectives(copy);
  }
  if (patch.$patch === 'delete') return undefined;
  let out = isObject(target) ? target : {};
  const retain = patch.$retainKeys;
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field])) out[field] = out[field].filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const sub = path.concat(k);
    if (Array.isArray(v)) out[k] = smpList(out[k], v, sub, mergeKeyFor);
    else if (isObject(v)) {
      const merged = smpObject(isObject(out[k]) ? out[k] : {}, v, sub, mergeKeyFor);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, order] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/')) {
      const field = k.slice('$setElementOrder/'.length);
      if (Array.isArray(out[field])) out[field] = reorder(out[field], order, mergeKeyFor(path.concat(field), out[field]));
    }
  }
  if (Array.isArray(retain)) out = Object.fromEntries(Object.entries(out).filter(([k]) => retain.includes(k)));
  return out;
}

function smpList(target, patch, path, mergeKeyFor) {
  const field = path[path.length - 1];
  const live = Array.isArray(target) ? target : [];
  const replaceAll = patch.find((i) => isObject(i) && i.$patch === 'replace');
  if (replaceAll) return stripDirectives(patch.filter((i) => i !== replaceAll));
  if (MERGE_PRIMITIVES.has(field) && patch.every((i) => !isObject(i))) {
    return live.concat(patch.filter((i) => !live.includes(i)));
  }
  const key = mergeKeyFor(path, patch.concat(live));
  if (!key) return stripDirectives(clone(patch));
  const out = live.slice();
  for (const item of patch) {
    if (!isObject(item)) continue;
    const idx = out.findIndex((x) => isObject(x) && x[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpObject(out[idx], item, path, mergeKeyFor);
    else out.push(stripDirectives(clone(item)));
  }
  return out;
}

function reorder(list, order, key) {
  if (!key) return list;
  const keys = order.map((o) => (isObject(o) ? o[key] : o));
  const inOrder = keys.map((k) => list.find((x) => isObject(x) && x[key] === k)).filter(Boolean);
  const rest = list.filter((x) => !inOrder.includes(x));
  return inOrder.concat(rest);
}

function stripDirectives(v) {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

const PATCH_TYPES = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+cbor': 'apply-cbor',
};

module.exports = { mergePatch, jsonPatch, strategicMerge, PATCH_TYPES, defaultMergeKey };
