// Schema lookup for the lab's Kubernetes API: loads the vendored OpenAPI v3 documents (lab/openapi/) lazily, one
// group-version at a time, resolves `$ref`s and single-`allOf` wrappers, finds a kind's schema through
// `x-kubernetes-group-version-kind`, and compiles schemas (built-in or CRD `openAPIV3Schema`) into plain nodes that
// the validator and server-side apply walk. It validates nothing itself.
'use strict';
const fs = require('fs');
const path = require('path');

const DEFAULT_OPENAPI_DIR = path.join(__dirname, '..', '..', 'openapi');

// A node that accepts and keeps anything (untyped JSON).
const ANY = Object.freeze({ preserveUnknown: true, any: true, required: Object.freeze([]) });

function parseApiVersion(apiVersion) {
  const s = String(apiVersion || '');
  const i = s.lastIndexOf('/');
  return i < 0 ? { group: '', version: s } : { group: s.slice(0, i), version: s.slice(i + 1) };
}

const gvKey = (group, version) => (group ? `${group}/${version}` : version);

// "api__v1_openapi.json" -> core/v1; "apis__apps__v1_openapi.json" -> apps/v1 (the upstream file names).
function groupVersionOfFile(file) {
  const m = /^(api|apis)__(.+)_openapi\.json$/.exec(file);
  if (!m) return null;
  const parts = m[2].split('__');
  if (m[1] === 'api') return parts.length === 1 ? { group: '', version: parts[0] } : null;
  return parts.length === 2 ? { group: parts[0], version: parts[1] } : null;
}

const COPIED_KEYS = ['type', 'format', 'enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'multipleOf', 'uniqueItems',
  'nullable'];
const EXTENSIONS = {
  'x-kubernetes-list-type': 'listType',
  'x-kubernetes-list-map-keys': 'listMapKeys',
  'x-kubernetes-map-type': 'mapType',
  'x-kubernetes-patch-merge-key': 'patchMergeKey',
  'x-kubernetes-patch-strategy': 'patchStrategy',
  'x-kubernetes-preserve-unknown-fields': 'preserveUnknown',
  'x-kubernetes-embedded-resource': 'embedded',
  'x-kubernetes-int-or-string': 'intOrString',
};
const NO_REQUIRED = Object.freeze([]);

function compilePattern(source) {
  try {
    return new RegExp(source, 'u');
  } catch {
    try { return new RegExp(source); } catch { return null; }
  }
}

// Alternatives that only name a type (IntOrString: integer|string; Quantity: string|number).
const typeOnlyAlternatives = (alts) =>
  Array.isArray(alts) && alts.length > 0 && alts.every((a) => a && Object.keys(a).length === 1 && typeof a.type === 'string');

function fillNode(node, raw, ctx) {
  for (const k of COPIED_KEYS) if (raw[k] !== undefined) node[k] = raw[k];
  for (const [ext, name] of Object.entries(EXTENSIONS)) if (raw[ext] !== undefined) node[name] = raw[ext];
  if (raw.format === 'int-or-string') node.intOrString = true;
  if ('default' in raw) { node.hasDefault = true; node.default = raw.default; }
  if (typeof raw.pattern === 'string') { node.patternSource = raw.pattern; node.pattern = compilePattern(raw.pattern); }
  node.required = Array.isArray(raw.required) ? raw.required : NO_REQUIRED;
  compileAlternatives(node, raw, ctx);
  if (raw.properties) {
    node.properties = Object.create(null);
    for (const [name, sub] of Object.entries(raw.properties)) node.properties[name] = compile(sub, ctx);
  }
  if (raw.additionalProperties === true) node.additional = ANY;
  else if (raw.additionalProperties && typeof raw.additionalProperties === 'object') {
    node.additional = compile(raw.additionalProperties, ctx);
  }
  if (raw.items && typeof raw.items === 'object') node.items = compile(raw.items, ctx);
  // A built-in object schema with neither properties nor additionalProperties (FieldsV1, RawExtension) is free-form.
  if (ctx.builtin && node.type === 'object' && !node.properties && !node.additional) node.preserveUnknown = true;
  if (ctx.builtin) node.builtin = true;
  else if (Array.isArray(raw['x-kubernetes-validations'])) node.celRules = raw['x-kubernetes-validations'];
  return node;
}

function compileAlternatives(node, raw, ctx) {
  for (const key of ['oneOf', 'anyOf']) {
    if (!raw[key]) continue;
    if (typeOnlyAlternatives(raw[key])) {
      if (!node.intOrString) node.anyTypes = raw[key].map((a) => a.type);
    } else {
      node[key] = raw[key].map((sub) => compile(sub, ctx));
    }
  }
  if (Array.isArray(raw.allOf) && !(raw.allOf.length === 1 && raw.allOf[0].$ref)) {
    node.allOf = raw.allOf.map((sub) => compile(sub, ctx));
  }
  if (raw.not && typeof raw.not === 'object') node.not = compile(raw.not, ctx);
}

const OVERLAY_KEYS = ['default', 'nullable', ...Object.keys(EXTENSIONS)];

function compile(raw, ctx) {
  if (!raw || typeof raw !== 'object') return ANY;
  if (typeof raw.$ref === 'string') return ctx.resolveRef(raw.$ref);
  if (Array.isArray(raw.allOf) && raw.allOf.length === 1 && typeof raw.allOf[0].$ref === 'string') {
    const base = ctx.resolveRef(raw.allOf[0].$ref);
    if (!OVERLAY_KEYS.some((k) => k in raw)) return base;
    // The field's own default or extensions sit beside the allOf: layer them over the shared node.
    const node = Object.create(base);
    for (const [ext, name] of Object.entries(EXTENSIONS)) if (raw[ext] !== undefined) node[name] = raw[ext];
    if ('default' in raw) { node.hasDefault = true; node.default = raw.default; }
    if (raw.nullable !== undefined) node.nullable = raw.nullable;
    return node;
  }
  return fillNode({}, raw, ctx);
}

// Compile a CRD version's openAPIV3Schema (structural schema, no $ref).
function compileCRDSchema(openAPIV3Schema) {
  return compile(openAPIV3Schema, { builtin: false, resolveRef: () => ANY });
}

// One OpenAPI v3 document per group-version, parsed on first use and cached.
class BuiltinSchemas {
  constructor(dir = DEFAULT_OPENAPI_DIR) {
    this.dir = dir;
    this.groupVersions = new Map();
    for (const file of fs.readdirSync(dir).sort()) {
      const gv = groupVersionOfFile(file);
      if (gv) this.groupVersions.set(gvKey(gv.group, gv.version), { ...gv, file, loaded: null });
    }
  }

  // The parsed document of a group-version with its kind index, or null when the lab has none for it.
  load(group, version) {
    const entry = this.groupVersions.get(gvKey(group, version));
    if (!entry) return null;
    if (!entry.loaded) entry.loaded = this.parse(entry);
    return entry.loaded;
  }

  parse(entry) {
    const doc = JSON.parse(fs.readFileSync(path.join(this.dir, entry.file), 'utf8'));
    const schemas = (doc.components && doc.components.schemas) || {};
    const kinds = new Map();
    for (const [name, schema] of Object.entries(schemas)) {
      for (const gvk of schema['x-kubernetes-group-version-kind'] || []) {
        if (gvk.group === entry.group && gvk.version === entry.version && !kinds.has(gvk.kind)) kinds.set(gvk.kind, name);
      }
    }
    const loaded = { doc, schemas, kinds, nodes: new Map(), paths: doc.paths || {} };
    loaded.ctx = { builtin: true, resolveRef: (ref) => this.refNode(loaded, ref) };
    return loaded;
  }

  refNode(loaded, ref) {
    const name = ref.replace(/^#\/components\/schemas\//, '');
    let node = loaded.nodes.get(name);
    if (node) return node;
    const raw = loaded.schemas[name];
    if (!raw) return ANY;
    node = { goName: name.slice(name.lastIndexOf('.') + 1), schemaName: name };
    loaded.nodes.set(name, node); // before filling: schemas may refer to themselves
    return fillNode(node, raw, loaded.ctx);
  }

  hasKind(apiVersion, kind) {
    const { group, version } = parseApiVersion(apiVersion);
    const loaded = this.load(group, version);
    return Boolean(loaded && loaded.kinds.has(kind));
  }

  kinds(apiVersion) {
    const { group, version } = parseApiVersion(apiVersion);
    const loaded = this.load(group, version);
    return loaded ? [...loaded.kinds.keys()] : [];
  }

  // The compiled root node of a kind, or null.
  schemaFor(apiVersion, kind) {
    const { group, version } = parseApiVersion(apiVersion);
    const loaded = this.load(group, version);
    const name = loaded && loaded.kinds.get(kind);
    return name ? this.refNode(loaded, name) : null;
  }

  // A named schema of a group-version's document, e.g. ('v1', 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta').
  named(apiVersion, schemaName) {
    const { group, version } = parseApiVersion(apiVersion);
    const loaded = this.load(group, version);
    return loaded && loaded.schemas[schemaName] ? this.refNode(loaded, schemaName) : null;
  }

  apiVersions() {
    return [...this.groupVersions.values()].map((e) => gvKey(e.group, e.version));
  }
}

// Split "spec.template.spec.containers[0].image" or "spec.containers[].image" into segments; arrays as '[]'.
function splitFieldPath(fieldPath) {
  if (Array.isArray(fieldPath)) return fieldPath;
  const segs = [];
  for (const part of String(fieldPath).replace(/^\./, '').split('.')) {
    const m = /^([^[]*)((?:\[[^\]]*\])*)$/.exec(part);
    if (!m) { segs.push(part); continue; }
    if (m[1]) segs.push(m[1]);
    for (let i = 0; i < (m[2].match(/\[/g) || []).length; i++) segs.push('[]');
  }
  return segs;
}

// The sub-schema at a field path; map values and array items are stepped into transparently. Null when unknown.
function subSchema(node, fieldPath) {
  let cur = node;
  for (const seg of splitFieldPath(fieldPath)) {
    if (!cur) return null;
    if (cur.any) return ANY;
    const isIndex = seg === '[]' || seg === '*' || typeof seg === 'number' || /^\d+$/.test(seg);
    if (isIndex && cur.items) cur = cur.items;
    else if (cur.properties && cur.properties[seg]) cur = cur.properties[seg];
    else if (cur.additional) cur = cur.additional;
    else if (cur.preserveUnknown) return ANY;
    else return null;
  }
  return cur;
}

module.exports = {
  ANY, DEFAULT_OPENAPI_DIR, BuiltinSchemas, compileCRDSchema, subSchema, splitFieldPath, parseApiVersion, gvKey,
};
