// Validation of objects written to the lab's Kubernetes API, reported the way the real API server reports it:
// structural validation against the vendored OpenAPI v3 schemas (built-in kinds) and CRD openAPIV3Schemas (types,
// required, enums, formats, patterns, bounds, list sets/maps), unknown fields per fieldValidation, object metadata
// rules, then a few semantic rules users meet often (validation/rules.js). `prune` gives what the server stores.
// Not done: CEL rules (`x-kubernetes-validations`) of CRDs are not evaluated beyond plain presence tests
// (validation/cel.js); defaulting is not applied; update-only
// rules (immutable fields) are the server's business.
'use strict';
const { BuiltinSchemas, compileCRDSchema, parseApiVersion, gvKey, ANY } = require('./schemas');
const E = require('./validation/errors');
const meta = require('./validation/meta');
const formats = require('./validation/formats');
const rules = require('./validation/rules');
const cel = require('./validation/cel');

const isObject = meta.isPlainObject;
const STRING_NODE = Object.freeze({ type: 'string', required: Object.freeze([]) });

function jsonTypeOf(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function typeMatches(type, v) {
  switch (type) {
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    case 'array': return Array.isArray(v);
    case 'object': return isObject(v);
    default: return true;
  }
}

function nodeAccepts(node, v) {
  if (node.intOrString) return Number.isInteger(v) || typeof v === 'string';
  if (node.anyTypes) return node.anyTypes.some((t) => typeMatches(t, v));
  return node.type === undefined || typeMatches(node.type, v);
}

// The Go type a built-in field decodes into, for "cannot unmarshal" messages.
function goTypeOf(node) {
  if (node.intOrString) return 'intstr.IntOrString';
  if (node.anyTypes) return 'resource.Quantity';
  if (node.type === 'integer') return node.format || 'int64';
  if (node.type === 'number') return 'float64';
  if (node.type === 'boolean') return 'bool';
  if (node.type === 'array') return '[]' + (node.items ? goTypeOf(node.items) : 'interface {}');
  if (node.type === 'object') {
    if (node.additional && !node.properties) return 'map[string]' + goTypeOf(node.additional);
    return node.goName ? 'v1.' + node.goName : 'map[string]interface {}';
  }
  return node.type || 'interface {}';
}

const goJsonKind = (v) =>
  typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'bool' : typeof v === 'string' ? 'string'
    : Array.isArray(v) ? 'array' : 'object';

// Walks one object against its compiled schema, collecting causes, unknown fields and (built-ins) decode errors.
class Walk {
  constructor(builtin, objectMeta) {
    this.builtin = builtin;
    this.objectMeta = objectMeta;
    this.causes = [];
    this.unknown = [];
    this.decodeErrors = [];
  }

  join(path, key) { return path ? path + '.' + key : key; }
  mapKey(path, key) { return this.builtin ? `${path}[${key}]` : this.join(path, key); }

  // goPath: the JSON keys without indexes and the innermost Go struct, as encoding/json names a field.
  value(v, node, path, go) {
    if (v === null || v === undefined || node.any) return;
    if (!nodeAccepts(node, v)) return this.typeError(v, node, path, go);
    if (Array.isArray(v)) this.array(v, node, path, go);
    else if (isObject(v)) this.object(v, node, path, go);
    else this.scalar(v, node, path, go);
    if (node.anyOf || node.oneOf || node.allOf || node.not) this.alternatives(v, node, path);
  }

  typeError(v, node, path, go) {
    const expected = node.intOrString ? 'integer,string' : node.anyTypes ? node.anyTypes.join(',') : node.type;
    const actual = jsonTypeOf(v);
    this.causes.push(E.typeInvalid(path, actual, `${path} in body must be of type ${expected}: ${E.goQuote(actual)}`));
    if (this.builtin) {
      const numeric = typeof v === 'number' && (node.type === 'integer' || node.type === 'number');
      this.decodeErrors.push(E.cannotUnmarshal(numeric ? `number ${v}` : goJsonKind(v), go, goTypeOf(node)));
    }
  }

  object(v, node, path, go) {
    const props = node.properties;
    const struct = node.goName || go.struct;
    for (const key of Object.keys(v)) {
      const child = v[key];
      const childGo = { struct, path: go.path ? go.path + '.' + key : key };
      const sub = props && props[key];
      if (sub) this.value(child, sub, this.join(path, key), childGo);
      else if (node.additional) this.value(child, node.additional, this.mapKey(path, key), childGo);
      else if (node.embedded && isEmbeddedMetaKey(key)) this.embeddedMeta(key, child, path, childGo);
      else if (!node.preserveUnknown) this.unknown.push(this.join(path, key));
    }
    this.required(v, node, path);
    this.objectBounds(v, node, path);
    if (node.celRules) cel.check(v, node.celRules, path, this.causes);
  }

  embeddedMeta(key, child, path, go) {
    this.value(child, key === 'metadata' ? this.objectMeta : STRING_NODE, this.join(path, key), go);
  }

  required(v, node, path) {
    for (const name of node.required) {
      const present = v[name];
      const missing = present === undefined || present === null || (this.builtin && present === '');
      if (missing) this.causes.push(E.required(this.join(path, name), ''));
    }
  }

  objectBounds(v, node, path) {
    const n = Object.keys(v).length;
    if (node.maxProperties !== undefined && n > node.maxProperties) this.causes.push(E.tooMany(path, n, node.maxProperties));
    if (node.minProperties !== undefined && n < node.minProperties) {
      this.causes.push(E.invalid(path, n, `${path} in body should have at least ${node.minProperties} properties`));
    }
  }

  array(v, node, path, go) {
    const items = node.items || ANY;
    for (let i = 0; i < v.length; i++) this.value(v[i], items, `${path}[${i}]`, go);
    if (node.maxItems !== undefined && v.length > node.maxItems) this.causes.push(E.tooMany(path, v.length, node.maxItems));
    if (node.minItems !== undefined && v.length < node.minItems) {
      this.causes.push(E.invalid(path, v, `${path} in body should have at least ${node.minItems} items`));
    }
    if (!this.builtin) this.listUniqueness(v, node, path);
  }

  // CRD list-type set/map (and uniqueItems): duplicates answer "Duplicate value" at the second occurrence.
  listUniqueness(v, node, path) {
    const keysOf = node.listType === 'map' && Array.isArray(node.listMapKeys) ? node.listMapKeys : null;
    if (node.listType !== 'set' && !keysOf && !node.uniqueItems) return;
    const seen = new Set();
    v.forEach((item, i) => {
      const key = keysOf && isObject(item) ? pick(item, keysOf) : item;
      const id = stableJSON(key);
      if (seen.has(id)) this.causes.push(E.duplicate(`${path}[${i}]`, key));
      seen.add(id);
    });
  }

  scalar(v, node, path, go) {
    if (node.enum && !node.enum.some((e) => e === v)) {
      this.causes.push(E.notSupported(path, v, node.enum.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))));
    }
    if (node.format) formats.check(v, node, path, go, this);
    else if (this.builtin && node.goName === 'Quantity') formats.checkQuantity(v, path, this);
    if (typeof v === 'string') this.stringBounds(v, node, path);
    else if (typeof v === 'number') this.numberBounds(v, node, path);
  }

  stringBounds(v, node, path) {
    if (node.pattern && !node.pattern.test(v)) {
      this.causes.push(E.invalid(path, v, `${path} in body should match '${node.patternSource}'`));
    }
    const len = [...v].length;
    if (node.maxLength !== undefined && len > node.maxLength) this.causes.push(E.tooLong(path, node.maxLength));
    if (node.minLength !== undefined && len < node.minLength) {
      this.causes.push(E.invalid(path, v, `${path} in body should be at least ${node.minLength} chars long`));
    }
  }

  numberBounds(v, node, path) {
    const bound = (ok, msg) => { if (!ok) this.causes.push(E.invalid(path, v, `${path} in body ${msg}`)); };
    if (node.maximum !== undefined) {
      if (node.exclusiveMaximum) bound(v < node.maximum, `should be less than ${node.maximum}`);
      else bound(v <= node.maximum, `should be less than or equal to ${node.maximum}`);
    }
    if (node.minimum !== undefined) {
      if (node.exclusiveMinimum) bound(v > node.minimum, `should be greater than ${node.minimum}`);
      else bound(v >= node.minimum, `should be greater than or equal to ${node.minimum}`);
    }
    if (node.multipleOf) bound(Number.isInteger(v / node.multipleOf), `should be a multiple of ${node.multipleOf}`);
  }

  // Value validations of CRD schemas (anyOf/oneOf/allOf/not): each branch checked quietly on its own.
  alternatives(v, node, path) {
    const passes = (sub) => {
      const w = new Walk(this.builtin, this.objectMeta);
      w.value(v, sub, path, { struct: '', path });
      return w.causes.length === 0;
    };
    if (node.anyOf && !node.anyOf.some(passes)) {
      this.causes.push(E.invalid(path, v, `${path} in body must validate at least one schema (anyOf)`));
    }
    if (node.oneOf) {
      const n = node.oneOf.filter(passes).length;
      if (n !== 1) {
        const why = n === 0 ? 'Found none valid' : 'Found more than one valid';
        this.causes.push(E.invalid(path, v, `${path} in body must validate one and only one schema (oneOf). ${why}`));
      }
    }
    if (node.allOf) for (const sub of node.allOf) this.value(v, sub, path, { struct: '', path });
    if (node.not && passes(node.not)) this.causes.push(E.invalid(path, v, `${path} in body must not validate the schema (not)`));
  }
}

const isEmbeddedMetaKey = (k) => k === 'apiVersion' || k === 'kind' || k === 'metadata';
const pick = (obj, keys) => Object.fromEntries(keys.filter((k) => k in obj).map((k) => [k, obj[k]]));

function stableJSON(v) {
  if (Array.isArray(v)) return '[' + v.map(stableJSON).join(',') + ']';
  if (isObject(v)) return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + stableJSON(v[k])).join(',') + '}';
  return JSON.stringify(v);
}

// A copy of `v` without the fields its schema does not know, nor nulls the schema does not allow.
function pruneValue(v, node, objectMeta) {
  if (node.any || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((item) => pruneValue(item, node.items || ANY, objectMeta));
  if (!node.type && !node.properties && !node.additional && !node.preserveUnknown) return v;
  const out = {};
  for (const key of Object.keys(v)) {
    const sub = (node.properties && node.properties[key]) || node.additional ||
      (node.embedded && isEmbeddedMetaKey(key) ? (key === 'metadata' ? objectMeta : STRING_NODE) : null);
    if (v[key] === null && !(sub && sub.nullable) && !(node.preserveUnknown && !sub)) continue;
    if (sub) out[key] = pruneValue(v[key], sub, objectMeta);
    else if (node.preserveUnknown) out[key] = v[key];
  }
  return out;
}

// A CRD's root node: apiVersion, kind and metadata (ObjectMeta) are always known, whatever the schema says.
function crdRootNode(compiled, objectMeta) {
  const root = Object.create(compiled);
  root.properties = Object.assign(Object.create(null), compiled.properties || {},
    { apiVersion: STRING_NODE, kind: STRING_NODE, metadata: objectMeta });
  root.type = 'object';
  return root;
}

const FIELD_VALIDATION = new Set(['Strict', 'Warn', 'Ignore']);

class Validator {
  constructor(options = {}) {
    this.builtins = new BuiltinSchemas(options.openapiDir);
    this.crds = new Map(); // CRD name -> [{apiVersion, kind}]
    this.crdKinds = new Map(); // "group/version|Kind" -> {node, info}
  }

  get objectMeta() {
    if (!this._objectMeta) this._objectMeta = this.builtins.named('v1', 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    return this._objectMeta;
  }

  // Register every version of an apiextensions.k8s.io/v1 CustomResourceDefinition that carries a schema.
  addCRD(crd) {
    const spec = (crd && crd.spec) || {};
    const name = (crd.metadata && crd.metadata.name) || `${spec.names && spec.names.plural}.${spec.group}`;
    this.removeCRD(name);
    const registered = [];
    for (const version of spec.versions || []) {
      const raw = version.schema && version.schema.openAPIV3Schema;
      const node = crdRootNode(raw ? compileCRDSchema(raw) : { preserveUnknown: true, required: [] }, this.objectMeta);
      const apiVersion = gvKey(spec.group, version.name);
      const info = {
        builtin: false, crd: name, group: spec.group, version: version.name, kind: spec.names.kind,
        plural: spec.names.plural, namespaced: spec.scope !== 'Cluster', served: version.served !== false,
        storage: Boolean(version.storage), subresources: version.subresources || {},
      };
      this.crdKinds.set(`${apiVersion}|${spec.names.kind}`, { node, info });
      registered.push({ apiVersion, kind: spec.names.kind });
    }
    this.crds.set(name, registered);
    return registered;
  }

  removeCRD(name) {
    for (const { apiVersion, kind } of this.crds.get(name) || []) this.crdKinds.delete(`${apiVersion}|${kind}`);
    return this.crds.delete(name);
  }

  hasKind(apiVersion, kind) {
    return this.crdKinds.has(`${apiVersion}|${kind}`) || this.builtins.hasKind(apiVersion, kind);
  }

  schemaFor(apiVersion, kind) {
    const crd = this.crdKinds.get(`${apiVersion}|${kind}`);
    return crd ? crd.node : this.builtins.schemaFor(apiVersion, kind);
  }

  kindInfo(apiVersion, kind) {
    const crd = this.crdKinds.get(`${apiVersion}|${kind}`);
    if (crd) return crd.info;
    if (!this.builtins.hasKind(apiVersion, kind)) return null;
    return { builtin: true, ...parseApiVersion(apiVersion), kind };
  }

  // -> {causes, warnings, unknownFields, decodeErrors}; see statusFor for the Status the server answers.
  validate(obj, options = {}) {
    const mode = FIELD_VALIDATION.has(options.fieldValidation) ? options.fieldValidation : 'Strict';
    const result = { causes: [], warnings: [], unknownFields: [], decodeErrors: [] };
    if (!isObject(obj)) {
      result.causes.push(E.invalid('', typeof obj, 'the object must be a JSON object'));
      return result;
    }
    const node = this.schemaFor(obj.apiVersion, obj.kind);
    if (!node) {
      if (!obj.kind) result.causes.push(E.required('kind', ''));
      if (!obj.apiVersion) result.causes.push(E.required('apiVersion', ''));
      if (obj.kind && obj.apiVersion) {
        const message = `no matches for kind ${E.goQuote(obj.kind)} in version ${E.goQuote(obj.apiVersion)}`;
        result.causes.push({ reason: 'FieldValueNotSupported', message, field: 'kind' });
      }
      return result;
    }
    const info = this.kindInfo(obj.apiVersion, obj.kind);
    const walk = new Walk(info.builtin, this.objectMeta);
    walk.value(obj, node, '', { struct: info.builtin ? node.goName : obj.kind, path: '' });
    result.causes.push(...walk.causes);
    result.decodeErrors = walk.decodeErrors;
    result.unknownFields = walk.unknown;
    this.reportUnknown(walk.unknown, mode, result);
    meta.validateObjectMeta(obj.kind, obj.metadata, result.causes);
    rules.validate(obj, info, result.causes, options);
    return result;
  }

  reportUnknown(paths, mode, result) {
    for (const p of paths) {
      const message = `unknown field ${E.goQuote(p)}`;
      if (mode === 'Strict') result.causes.push({ reason: 'FieldValueInvalid', message, field: p });
      else if (mode === 'Warn') result.warnings.push(message);
    }
  }

  // What the server stores: unknown fields (and disallowed nulls) dropped. Returns a copy.
  prune(obj) {
    const node = isObject(obj) && this.schemaFor(obj.apiVersion, obj.kind);
    if (!node) return structuredClone(obj);
    return pruneValue(structuredClone(obj), node, this.objectMeta);
  }

  // The Status the real server answers for a validation result, or null when the object is acceptable:
  // built-in decode errors and Strict unknown fields are 400 BadRequest (the decoder rejects them before
  // validation runs); everything else is 422 Invalid with details.causes.
  statusFor(result, obj, options = {}) {
    const mode = FIELD_VALIDATION.has(options.fieldValidation) ? options.fieldValidation : 'Strict';
    const kind = (obj && obj.kind) || '';
    const { group, version } = parseApiVersion(obj && obj.apiVersion);
    const cannotHandle = `${kind} in version ${E.goQuote(version)} cannot be handled as a ${kind}: `;
    if (result.decodeErrors.length > 0) return badRequest(cannotHandle + result.decodeErrors[0]);
    if (mode === 'Strict' && result.unknownFields.length > 0) {
      const list = result.unknownFields.map((p) => `unknown field ${E.goQuote(p)}`).join(', ');
      return badRequest(cannotHandle + 'strict decoding error: ' + list);
    }
    const unknown = new Set(result.unknownFields);
    const causes = result.causes.filter((c) => !(unknown.has(c.field) && c.message.startsWith('unknown field')));
    if (causes.length === 0) return null;
    return invalidStatus(group, kind, (obj.metadata && obj.metadata.name) || '', causes);
  }
}

function badRequest(message) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'BadRequest', code: 400 };
}

function invalidStatus(group, kind, name, causes) {
  const qualified = group ? `${kind}.${group}` : kind;
  const texts = [...new Set(causes.map(E.errorString))];
  const aggregate = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: `${qualified} ${E.goQuote(name)} is invalid: ${aggregate}`,
    reason: 'Invalid',
    details: { name, group, kind, causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })) },
    code: 422,
  };
}

module.exports = { Validator, invalidStatus, badRequest };
