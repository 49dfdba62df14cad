'use strict';
// Discovery documents as the real API server serves them (/version, /api, /api/v1, /apis, /apis/G,
// /apis/G/V) computed from the registry, and the OpenAPI v3 index and per-group-version documents: the
// Kubernetes documents shipped in lab/openapi/ when present, otherwise (and for CRDs) generated ones that
// carry each type's schema and the paths/parameters kubectl inspects (it looks for `fieldValidation` on
// PATCH to decide that the server validates). Aggregated discovery (apidiscovery.k8s.io) is not served;
// clients fall back to these legacy documents. /openapi/v2 is not served.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { gvKey } = require('./registry');

const OPENAPI_DIR = path.join(__dirname, '..', '..', 'openapi');

function versionInfo() {
  return {
    major: '1', minor: '32', emulationMajor: '1', emulationMinor: '32', minCompatibilityMajor: '1', minCompatibilityMinor: '31',
    gitVersion: 'v1.32.4', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23.6', compiler: 'gc', platform: `linux/${process.arch === 'arm64' ? 'arm64' : 'amd64'}`,
  };
}

// Kubernetes version priority: GA > beta > alpha, higher numbers first.
function versionRank(v) {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return [0, 0, 0];
  const stage = m[2] === 'alpha' ? 1 : m[2] === 'beta' ? 2 : 3;
  return [stage, Number(m[1]), Number(m[3] || 0)];
}

function sortVersions(versions) {
  return versions.slice().sort((a, b) => {
    const x = versionRank(a);
    const y = versionRank(b);
    return y[0] - x[0] || y[1] - x[1] || y[2] - x[2];
  });
}

function apiVersions(serverAddress) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(registry, name) {
  const versions = sortVersions([...new Set(registry.resources.filter((r) => r.group === name).map((r) => r.version))]);
  if (!versions.length) return null;
  const gv = (v) => ({ groupVersion: `${name}/${v}`, version: v });
  return { name, versions: versions.map(gv), preferredVersion: gv(versions[0]) };
}

function apiGroupList(registry) {
  const names = [...new Set(registry.resources.filter((r) => r.group).map((r) => r.group))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: names.map((n) => apiGroup(registry, n)) };
}

function resourceEntry(r) {
  const e = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
  if (r.shortNames.length) e.shortNames = r.shortNames;
  if (r.categories.length) e.categories = r.categories;
  e.storageVersionHash = crypto.createHash('sha256').update(`${r.group}/${r.version}/${r.kind}`).digest('base64').slice(0, 11);
  return e;
}

function subresourceEntries(r) {
  return Object.entries(r.subresources).map(([name, sub]) => {
    const e = { name: `${r.resource}/${name}`, singularName: '', namespaced: r.namespaced, kind: sub.kind || r.kind, verbs: sub.verbs };
    if (sub.group) {
      e.group = sub.group;
      e.version = sub.version;
    }
    return e;
  });
}

function apiResourceList(registry, group, version) {
  const resources = registry.inGroupVersion(group, version);
  if (!resources.length) return null;
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gvKey(group, version),
    resources: resources.flatMap((r) => [resourceEntry(r)].concat(subresourceEntries(r))),
  };
}

// --- OpenAPI v3 ---
const docPathOf = (group, version) => (group ? `apis/${group}/${version}` : `api/${version}`);

function shippedDocs() {
  const docs = new Map();
  let files = [];
  try {
    files = fs.readdirSync(OPENAPI_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return docs;
  }
  for (const f of files) {
    const m = /^(api|apis)__(.+)_openapi\.json$/.exec(f);
    let key = m ? `${m[1]}/${m[2].split('__').join('/')}` : null;
    if (!key) {
      try {
        const doc = JSON.parse(fs.readFileSync(path.join(OPENAPI_DIR, f), 'utf8'));
        const p = Object.keys(doc.paths || {})[0] || '';
        const pm = /^\/(api\/v\w+|apis\/[^/]+\/v\w+)/.exec(p);
        key = pm && pm[1];
      } catch { key = null; }
    }
    if (key) docs.set(key, path.join(OPENAPI_DIR, f));
  }
  return docs;
}

function reverseDomain(group) {
  return group ? group.split('.').reverse().join('.') : 'io.k8s.api.core';
}

const PARAMS = {
  dryRun: { name: 'dryRun', in: 'query', description: 'When present, indicates that modifications should not be persisted.', schema: { type: 'string', uniqueItems: true } },
  fieldManager: { name: 'fieldManager', in: 'query', description: 'fieldManager is a name associated with the actor or entity that is making these changes.', schema: { type: 'string', uniqueItems: true } },
  fieldValidation: { name: 'fieldValidation', in: 'query', description: 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.', schema: { type: 'string', uniqueItems: true } },
  force: { name: 'force', in: 'query', description: 'Force is going to "force" Apply requests.', schema: { type: 'boolean', uniqueItems: true } },
};

function generatedDoc(registry, group, version) {
  const schemas = {};
  const paths = {};
  for (const r of registry.inGroupVersion(group, version)) {
    const schemaName = `${reverseDomain(group)}.${version}.${r.kind}`;
    const gvk = { group, version, kind: r.kind };
    const schema = Object.assign({}, r.schema || { type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    schema['x-kubernetes-group-version-kind'] = [gvk];
    schemas[schemaName] = schema;
    const ref = { $ref: `#/components/schemas/${schemaName}` };
    const body = { content: { 'application/json': { schema: ref } }, required: true };
    const ok = { 200: { description: 'OK', content: { 'application/json': { schema: ref } } } };
    const op = (verb, action, params, extra) => Object.assign({ operationId: `${verb}${r.kind}`, parameters: params, responses: ok, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk }, extra || {});
    const base = `/${docPathOf(group, version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    if (r.virtual) {
      paths[base] = { post: op('create', 'post', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation], { requestBody: body }) };
      continue;
    }
    paths[base] = {
      get: op('list', 'list', []),
      post: op('create', 'post', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation], { requestBody: body }),
    };
    const item = {
      get: op('read', 'get', []),
      put: op('replace', 'put', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation], { requestBody: body }),
      patch: op('patch', 'patch', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation, PARAMS.force],
        { requestBody: { content: { 'application/json-patch+json': {}, 'application/merge-patch+json': {}, 'application/apply-patch+yaml': {} }, required: true } }),
      delete: op('delete', 'delete', [PARAMS.dryRun]),
    };
    paths[`${base}/{name}`] = item;
    if (r.subresources.status) paths[`${base}/{name}/status`] = { get: item.get, put: item.put, patch: item.patch };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.32.4' }, paths, components: { schemas } };
}

class OpenAPI {
  constructor(registry) {
    this.registry = registry;
    this.shipped = shippedDocs();
    this.cache = new Map();
    registry.on('changed', () => this.cache.clear());
  }

  document(key) {
    if (this.cache.has(key)) return this.cache.get(key);
    const gv = this.registry.groupVersions().find((g) => docPathOf(g.group, g.version) === key);
    let text = null;
    if (this.shipped.has(key)) text = fs.readFileSync(this.shipped.get(key), 'utf8');
    else if (gv) text = JSON.stringify(generatedDoc(this.registry, gv.group, gv.version));
    if (text === null) return null;
    const entry = { text, hash: crypto.createHash('sha512').update(text).digest('hex').slice(0, 128).toUpperCase() };
    this.cache.set(key, entry);
    return entry;
  }

  index() {
    const paths = {};
    for (const { group, version } of this.registry.groupVersions()) {
      const key = docPathOf(group, version);
      const doc = this.document(key);
      if (doc) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${doc.hash}` };
    }
    return { paths };
  }
}

module.exports = { versionInfo, apiVersions, apiGroupList, apiGroup, apiResourceList, OpenAPI };
