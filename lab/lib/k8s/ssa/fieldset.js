// Field sets of server-side apply (sigs.k8s.io/structured-merge-diff): a trie of path elements ("f:name",
// "k:{...}", "v:...", "i:N") whose nodes may be members, converted to and from the FieldsV1 JSON of
// managedFields and printed as the server prints paths in conflicts (.spec.containers[name="app"].image).
// Pure data structure: it knows nothing about objects or schemas.
'use strict';

class FieldSet {
  constructor() {
    this.member = false;
    this.children = new Map();
  }

  child(key) {
    let c = this.children.get(key);
    if (!c) { c = new FieldSet(); this.children.set(key, c); }
    return c;
  }

  get empty() {
    if (this.member) return false;
    for (const c of this.children.values()) if (!c.empty) return false;
    return true;
  }

  clone() {
    const out = new FieldSet();
    out.member = this.member;
    for (const [k, c] of this.children) out.children.set(k, c.clone());
    return out;
  }

  // A set holding exactly the members of both.
  union(other) {
    const out = this.clone();
    mergeInto(out, other);
    return out;
  }

  // Members of this set that are not members of `other`.
  difference(other) {
    const out = new FieldSet();
    out.member = this.member && !(other && other.member);
    for (const [k, c] of this.children) {
      const d = c.difference(other ? other.children.get(k) : null);
      if (!d.empty) out.children.set(k, d);
    }
    return out;
  }

  intersection(other) {
    const out = new FieldSet();
    if (!other) return out;
    out.member = this.member && other.member;
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      if (!o) continue;
      const i = c.intersection(o);
      if (!i.empty) out.children.set(k, i);
    }
    return out;
  }

  // The node at a path of elements, or null.
  at(elements) {
    let cur = this;
    for (const e of elements) {
      cur = cur.children.get(e);
      if (!cur) return null;
    }
    return cur;
  }

  has(elements) {
    const n = this.at(elements);
    return Boolean(n && n.member);
  }

  // Every member as an array of path elements, depth first in key order.
  members(prefix = []) {
    const out = [];
    if (this.member && prefix.length > 0) out.push(prefix);
    for (const [k, c] of this.children) out.push(...c.members([...prefix, k]));
    return out;
  }

  // Drop the subtrees named by `keep(element, depth)` returning false (used to leave out stripped fields).
  filter(keep, depth = 0) {
    const out = new FieldSet();
    out.member = this.member;
    for (const [k, c] of this.children) {
      if (!keep(k, depth)) continue;
      const f = c.filter(keep, depth + 1);
      if (!f.empty) out.children.set(k, f);
    }
    return out;
  }

  // FieldsV1: a member with children carries ".": {}; a member leaf is {}; keys sorted like the server's output.
  toFieldsV1() {
    const out = {};
    if (this.member && this.children.size > 0) out['.'] = {};
    for (const k of [...this.children.keys()].sort()) {
      const c = this.children.get(k);
      if (!c.empty) out[k] = c.toFieldsV1();
    }
    return out;
  }

  static fromFieldsV1(json, isRoot = true) {
    const set = new FieldSet();
    if (!json || typeof json !== 'object') return set;
    const keys = Object.keys(json);
    set.member = !isRoot && (keys.length === 0 || '.' in json);
    for (const k of keys) if (k !== '.') set.children.set(k, FieldSet.fromFieldsV1(json[k], false));
    return set;
  }
}

function mergeInto(target, source) {
  if (!source) return;
  target.member = target.member || source.member;
  for (const [k, c] of source.children) mergeInto(target.child(k), c);
}

// JSON with object keys sorted, as structured-merge-diff writes k: and v: elements.
function sortedJSON(v) {
  if (Array.isArray(v)) return '[' + v.map(sortedJSON).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + sortedJSON(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

const fieldElement = (name) => 'f:' + name;
const keyElement = (keyFields) => 'k:' + sortedJSON(keyFields);
const valueElement = (value) => 'v:' + sortedJSON(value);
const indexElement = (i) => 'i:' + i;

// fieldpath.Path.String(): .spec.containers[name="app"].ports[containerPort=80,protocol="TCP"], [=value], [3].
function elementString(e) {
  const body = e.slice(2);
  switch (e.slice(0, 2)) {
    case 'f:': return '.' + body;
    case 'k:': {
      const keys = JSON.parse(body);
      return '[' + Object.keys(keys).sort().map((k) => `${k}=${sortedJSON(keys[k])}`).join(',') + ']';
    }
    case 'v:': return `[=${body}]`;
    case 'i:': return `[${body}]`;
    default: return e;
  }
}

const pathString = (elements) => elements.map(elementString).join('');

module.exports = { FieldSet, fieldElement, keyElement, valueElement, indexElement, pathString, sortedJSON };
