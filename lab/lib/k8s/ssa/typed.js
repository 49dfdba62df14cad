// Schema-aware operations of server-side apply on plain JSON objects, after structured-merge-diff: the field set an
// applied configuration names, merging a configuration into a live object (lists by x-kubernetes-list-type: map
// per key, set per value, atomic whole; maps per key unless x-kubernetes-map-type: atomic), comparing two objects
// into added/modified/removed sets, and removing fields nobody owns any more. No ownership bookkeeping here.
'use strict';
const { ANY } = require('../schemas');
const { FieldSet, fieldElement, keyElement, valueElement } = require('./fieldset');

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isEmptyObject = (v) => isObject(v) && Object.keys(v).length === 0;
const REMOVE = Symbol('remove');

const childOf = (node, key) => (node && ((node.properties && node.properties[key]) || node.additional)) || ANY;
const declared = (node, key) => Boolean(node && node.properties && node.properties[key]);
const atomicMap = (node) => Boolean(node && node.mapType === 'atomic');

// Lists without x-kubernetes-list-type follow their patch strategy (as kube-openapi's schema conversion does),
// and are atomic otherwise, untyped ones included.
function listKind(node) {
  if (!node || node.any) return 'atomic';
  if (node.listType) return node.listType;
  if (node.patchStrategy && node.patchStrategy.includes('merge')) return node.patchMergeKey ? 'map' : 'set';
  return 'atomic';
}

function listKeys(node) {
  if (Array.isArray(node.listMapKeys) && node.listMapKeys.length) return node.listMapKeys;
  return node.patchMergeKey ? [node.patchMergeKey] : [];
}

// The path element of a list item: k:{keys} (a key field left out takes its schema default), or v:value.
function itemElement(item, node, kind) {
  if (kind === 'set' || !isObject(item)) return valueElement(item);
  const keys = {};
  const itemProps = (node.items && node.items.properties) || {};
  for (const k of listKeys(node)) {
    if (item[k] !== undefined && item[k] !== null) keys[k] = item[k];
    else if (itemProps[k] && itemProps[k].hasDefault) keys[k] = itemProps[k].default;
  }
  return keyElement(keys);
}

// The fields an applied configuration sets (typed.ToFieldSet).
function toFieldSet(value, node) {
  const set = new FieldSet();
  collect(value, node, set);
  return set;
}

function collect(value, node, set) {
  if (isObject(value)) {
    if (atomicMap(node)) { set.member = true; return; }
    for (const key of Object.keys(value)) {
      const child = value[key];
      const childSet = set.child(fieldElement(key));
      collect(child, childOf(node, key), childSet);
      if (child === null || isEmptyObject(child) || !declared(node, key)) childSet.member = true;
    }
  } else if (Array.isArray(value)) {
    const kind = listKind(node);
    if (kind === 'atomic') { set.member = true; return; }
    for (const item of value) {
      const childSet = set.child(itemElement(item, node, kind));
      if (kind === 'map') collect(item, node.items || ANY, childSet);
      childSet.member = true;
    }
  } else {
    set.member = true;
  }
}

// live.Merge(config): the configuration wins where both have a value.
function merge(live, config, node) {
  if (config === undefined) return live;
  if (live === undefined || live === null || config === null) return structuredClone(config);
  if (isObject(live) && isObject(config) && !atomicMap(node)) {
    const out = {};
    for (const k of Object.keys(live)) out[k] = k in config ? merge(live[k], config[k], childOf(node, k)) : live[k];
    for (const k of Object.keys(config)) if (!(k in live)) out[k] = structuredClone(config[k]);
    return out;
  }
  if (Array.isArray(live) && Array.isArray(config)) {
    const kind = listKind(node);
    if (kind !== 'atomic') return mergeList(live, config, node, kind);
  }
  return structuredClone(config);
}

// Items present on both sides take the configuration's order; items only live keep their place among them.
function mergeList(live, config, node, kind) {
  const lk = live.map((i) => itemElement(i, node, kind));
  const rk = config.map((i) => itemElement(i, node, kind));
  const inConfig = new Set(rk);
  const liveIndex = new Map(lk.map((k, i) => [k, i]));
  const shared = rk.filter((k) => liveIndex.has(k));
  const mergeItem = (l, r) => (kind === 'map' ? merge(l, r, node.items || ANY) : structuredClone(r));
  const out = [];
  const done = new Set();
  let li = 0;
  let ri = 0;
  let si = 0;
  const take = (k, l, r) => { out.push(mergeItem(l, r)); done.add(k); if (shared[si] === k) si++; };
  while (li < live.length || ri < config.length) {
    if (li < live.length && ri < config.length && lk[li] === rk[ri]) { take(lk[li], live[li], config[ri]); li++; ri++; continue; }
    if (li < live.length) {
      const k = lk[li];
      if (!inConfig.has(k)) { out.push(live[li]); li++; continue; }
      if (done.has(k) || (shared[si] !== undefined && shared[si] !== k) || ri >= config.length) { li++; continue; }
    }
    if (ri < config.length) {
      const k = rk[ri];
      take(k, liveIndex.has(k) ? live[liveIndex.get(k)] : undefined, config[ri]);
      ri++;
    }
  }
  return out;
}

function insert(set, path) {
  let cur = set;
  for (const e of path) cur = cur.child(e);
  cur.member = true;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => deepEqual(a[k], b[k]));
}

// typed.Compare: which fields `after` added, modified or removed relative to `before`. A map, struct or list that
// appears or disappears is itself a member ("."), except where the Go type of a built-in kind always has the field
// (a non-pointer struct, schema default {}, or a field without omitempty, listed in `required`).
function compare(before, after, node) {
  const diff = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  compareValues(norm(before), norm(after), node, [], diff, true);
  return diff;
}

const norm = (v) => (v === null ? undefined : v);

function compareLeaf(l, r, path, diff) {
  if (l === undefined && r === undefined) return;
  if (l === undefined) insert(diff.added, path);
  else if (r === undefined) insert(diff.removed, path);
  else if (!deepEqual(l, r)) insert(diff.modified, path);
}

function alwaysPresent(parent, key, child) {
  if (!child || !child.builtin) return false;
  return (child.hasDefault && isEmptyObject(child.default)) || Boolean(parent && parent.required && parent.required.includes(key));
}

function compareValues(l, r, node, path, diff, implicit) {
  if (l === undefined && r === undefined) return;
  const objects = (isObject(l) || l === undefined) && (isObject(r) || r === undefined);
  if (objects && !atomicMap(node)) return compareObjects(l, r, node, path, diff, implicit);
  const lists = (Array.isArray(l) || l === undefined) && (Array.isArray(r) || r === undefined);
  if (lists && listKind(node) !== 'atomic') return compareLists(l, r, node, path, diff, implicit);
  return compareLeaf(l, r, path, diff);
}

function appearsOrGoes(l, r, path, diff, implicit) {
  if (path.length === 0 || implicit) return;
  if (l === undefined) insert(diff.added, path);
  else if (r === undefined) insert(diff.removed, path);
}

function compareObjects(l, r, node, path, diff, implicit) {
  if (implicit) { l = l || {}; r = r || {}; }
  if ((l === undefined || isEmptyObject(l)) && (r === undefined || isEmptyObject(r))) return compareLeaf(l, r, path, diff);
  appearsOrGoes(l, r, path, diff, implicit);
  const keys = new Set([...Object.keys(l || {}), ...Object.keys(r || {})]);
  for (const key of keys) {
    const child = childOf(node, key);
    path.push(fieldElement(key));
    compareValues(norm(l && l[key]), norm(r && r[key]), child, path, diff, l !== undefined && r !== undefined && alwaysPresent(node, key, child));
    path.pop();
  }
}

function compareLists(l, r, node, path, diff, implicit) {
  appearsOrGoes(l, r, path, diff, implicit);
  const kind = listKind(node);
  const index = (list) => new Map((list || []).map((item) => [itemElement(item, node, kind), item]));
  const li = index(l);
  const ri = index(r);
  for (const e of new Set([...li.keys(), ...ri.keys()])) {
    path.push(e);
    if (kind === 'set') compareLeaf(li.get(e), ri.get(e), path, diff);
    else {
      if (!li.has(e)) insert(diff.added, path);
      else if (!ri.has(e)) insert(diff.removed, path);
      compareValues(li.get(e), ri.get(e), node.items || ANY, path, diff, false);
    }
    path.pop();
  }
}

// Remove the fields of `last` (what a manager applied before) that no set in `keep` still holds, with what lies
// under them; a struct that only held such fields goes too.
function removeUnowned(value, last, keep, node) {
  const out = prune(value, last, keep, node);
  return out === REMOVE ? {} : out;
}

function prune(value, last, keep, node) {
  const kept = keep && !keep.empty;
  if (last.member && !kept) return REMOVE;
  if (last.children.size === 0) return value;
  if (isObject(value)) return pruneObject(value, last, keep, node);
  if (Array.isArray(value)) return pruneList(value, last, keep, node);
  return value;
}

function pruneObject(value, last, keep, node) {
  const out = { ...value };
  let removed = false;
  for (const [e, lastChild] of last.children) {
    const key = e.slice(2);
    if (!e.startsWith('f:') || !(key in out)) continue;
    const r = prune(out[key], lastChild, keep && keep.children.get(e), childOf(node, key));
    if (r === REMOVE) { delete out[key]; removed = true; } else out[key] = r;
  }
  return removed && Object.keys(out).length === 0 && !(keep && !keep.empty) ? REMOVE : out;
}

function pruneList(value, last, keep, node) {
  const kind = listKind(node);
  if (kind === 'atomic') return value;
  const out = [];
  for (const item of value) {
    const e = itemElement(item, node, kind);
    const lastChild = last.children.get(e);
    if (!lastChild) { out.push(item); continue; }
    const r = prune(item, lastChild, keep && keep.children.get(e), node.items || ANY);
    if (r !== REMOVE) out.push(r);
  }
  return out.length === 0 && value.length > 0 && !(keep && !keep.empty) ? REMOVE : out;
}

module.exports = { toFieldSet, merge, compare, removeUnowned, listKind, itemElement, isObject };
