// Loads the lab's copy of DigitalOcean's split OpenAPI description (lab/do-openapi/specification)
// and hands out self-contained JSON schemas for an operation's request body and responses, with
// every relative $ref (other files, or pointers within a file) inlined. It does not validate;
// see validation.js.
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const DEFAULT_ROOT = path.join(__dirname, '..', '..', 'do-openapi', 'specification');
const ENTRY = 'DigitalOcean-public.v2.yaml';
const DOCUMENTATION_KEYS = new Set(['description', 'example', 'examples', 'x-codeSamples']);

class Spec {
  constructor(root = DEFAULT_ROOT) {
    this.root = root;
    this.documents = new Map();
    this.entry = this.load(path.join(root, ENTRY));
  }

  load(file) {
    if (!this.documents.has(file)) {
      this.documents.set(file, YAML.parse(fs.readFileSync(file, 'utf8')));
    }
    return this.documents.get(file);
  }

  // The operation object for METHOD on a path as the description spells it ('/v2/volumes/{volume_id}'),
  // with the file it lives in (its $refs are relative to that file).
  operation(method, specPath) {
    const item = this.entry.paths[specPath];
    const op = item && item[method.toLowerCase()];
    if (!op) throw new Error(`DigitalOcean description has no ${method} ${specPath}`);
    if (!op.$ref) return { op, file: path.join(this.root, ENTRY) };
    const target = this.follow(op.$ref, path.join(this.root, ENTRY));
    return { op: target.node, file: target.file };
  }

  follow(ref, fromFile) {
    const [filePart, pointer = ''] = ref.split('#');
    const file = filePart ? path.resolve(path.dirname(fromFile), filePart) : fromFile;
    let node = this.load(file);
    for (const raw of pointer.split('/').filter(Boolean)) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node == null || !(key in node)) throw new Error(`dangling $ref ${ref} from ${fromFile}`);
      node = node[key];
    }
    return { node, file, key: `${file}#${pointer}` };
  }

  // Returns a copy of node with $refs inlined; descriptions and examples are dropped (ajv needs
  // neither), except where they are property names. A reference cycle is cut with an empty schema.
  inline(node, file, stack = [], isPropertyMap = false) {
    if (Array.isArray(node)) return node.map((n) => this.inline(n, file, stack));
    if (!node || typeof node !== 'object') return node;
    if (typeof node.$ref === 'string') {
      const target = this.follow(node.$ref, file);
      if (stack.includes(target.key)) return {};
      return this.inline(target.node, target.file, [...stack, target.key]);
    }
    const out = {};
    for (const [key, value] of Object.entries(node)) {
      if (!isPropertyMap && DOCUMENTATION_KEYS.has(key)) continue;
      out[key] = this.inline(value, file, stack, !isPropertyMap && key === 'properties');
    }
    return out;
  }

  requestSchema(method, specPath) {
    const { op, file } = this.operation(method, specPath);
    if (!op.requestBody) return null;
    const body = this.inline(op.requestBody, file);
    const media = body.content && body.content['application/json'];
    return media && media.schema ? { schema: media.schema, required: !!body.required } : null;
  }

  // The JSON schema of the response with that status (or the 'default' response), or null when the
  // description gives none (204s, YAML bodies).
  responseSchema(method, specPath, status) {
    const { op, file } = this.operation(method, specPath);
    const responses = op.responses || {};
    const response = responses[String(status)] || responses.default;
    if (!response) return null;
    const inlined = this.inline(response, file);
    const media = inlined.content && inlined.content['application/json'];
    return media && media.schema ? media.schema : null;
  }

  // Status codes the description lists for the operation.
  documentedStatuses(method, specPath) {
    const { op } = this.operation(method, specPath);
    return Object.keys(op.responses || {});
  }
}

module.exports = { Spec, DEFAULT_ROOT };
