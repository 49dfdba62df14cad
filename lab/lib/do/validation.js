// Validates request bodies (and, for tests, response bodies) against the schemas of DO's OpenAPI
// description with ajv, and words failures the way DigitalOcean's API does: short, lowercase,
// naming the field ("name is required", "node_pools[0].count must be an integer"). It does not
// check business rules (known regions, sizes, versions); the resource modules do.
'use strict';
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

// DO uses a "cidr" format the JSON-schema format set lacks.
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
function isCidr(value) {
  const m = CIDR.exec(value);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

function newAjv() {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('cidr', { type: 'string', validate: isCidr });
  return ajv;
}

// '/node_pools/0/size' -> 'node_pools[0].size'
function fieldName(instancePath, child) {
  const parts = instancePath.split('/').filter(Boolean);
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const part of parts) {
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out || 'body';
}

const ARTICLE_TYPES = { integer: 'an integer', array: 'an array', object: 'an object' };

function describeError(err) {
  const field = fieldName(err.instancePath);
  const p = err.params;
  switch (err.keyword) {
    case 'required':
      return `${fieldName(err.instancePath, p.missingProperty)} is required`;
    case 'type': {
      const type = String(p.type).split(',')[0];
      return `${field} must be ${ARTICLE_TYPES[type] || `a ${type}`}`;
    }
    case 'enum':
      return `${field} must be one of: ${p.allowedValues.join(', ')}`;
    case 'pattern':
      return `${field} is invalid`;
    case 'format':
      return `${field} must be a valid ${p.format}`;
    case 'maxLength':
      return `${field} must be at most ${p.limit} characters`;
    case 'minLength':
      return `${field} must be at least ${p.limit} characters`;
    case 'minimum':
    case 'maximum':
      return `${field} must be ${err.keyword === 'minimum' ? 'at least' : 'at most'} ${p.limit}`;
    case 'minItems':
      return `${field} must have at least ${p.limit} items`;
    default:
      return `${field} ${err.message}`;
  }
}

// For anyOf/oneOf failures ajv reports every branch; keep the errors of the branch that came
// closest (fewest errors), as a person reading the message would expect.
function closestBranchErrors(errors) {
  const branchOf = (e) => {
    const m = /^(.*?\/(?:anyOf|oneOf))\/(\d+)\//.exec(e.schemaPath);
    return m ? `${m[1]}/${m[2]}` : null;
  };
  const counts = new Map();
  for (const e of errors) {
    const b = branchOf(e);
    if (b) counts.set(b, (counts.get(b) || 0) + 1);
  }
  if (counts.size === 0) return errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const best = [...counts.entries()].sort((a, b) => a[1] - b[1])[0][0];
  const bestGroup = best.replace(/\/\d+$/, '');
  return errors.filter((e) => {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') return false;
    const b = branchOf(e);
    return !b || !b.startsWith(`${bestGroup}/`) || b === best;
  });
}

function messagesFor(errors) {
  const messages = closestBranchErrors(errors).map(describeError);
  return [...new Set(messages)];
}

class SchemaValidator {
  constructor(spec) {
    this.spec = spec;
    this.ajv = newAjv();
    this.requestCache = new Map();
    this.responseCache = new Map();
  }

  compileRequest(method, specPath) {
    const key = `${method} ${specPath}`;
    if (!this.requestCache.has(key)) {
      const found = this.spec.requestSchema(method, specPath);
      this.requestCache.set(key, found && { validate: this.ajv.compile(found.schema), required: found.required });
    }
    return this.requestCache.get(key);
  }

  // Returns null when the body is acceptable, else the list of DO-style messages.
  checkRequest(method, specPath, body) {
    const compiled = this.compileRequest(method, specPath);
    if (!compiled) return null;
    if (body === undefined) {
      if (!compiled.required) return null;
      body = {};
    }
    if (compiled.validate(body)) return null;
    return messagesFor(compiled.validate.errors);
  }

  // Same for a response body; null when the description has no schema for that status.
  checkResponse(method, specPath, status, body) {
    const key = `${method} ${specPath} ${status}`;
    if (!this.responseCache.has(key)) {
      const schema = this.spec.responseSchema(method, specPath, status);
      this.responseCache.set(key, schema && this.ajv.compile(schema));
    }
    const validate = this.responseCache.get(key);
    if (!validate || validate(body)) return null;
    return messagesFor(validate.errors);
  }
}

module.exports = { SchemaValidator, fieldName, isCidr };
