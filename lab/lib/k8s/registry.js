'use strict';
// The set of resource types currently served: the built-ins plus one entry per served version of each
// established CustomResourceDefinition. Answers "which type is this URL / this apiVersion+kind?".
// It stores no objects (store.js does) and knows nothing of HTTP.

const { EventEmitter } = require('events');
const { BUILTIN_RESOURCES, ALL_VERBS } = require('./builtin-resources');

const gvKey = (group, version) => (group ? `${group}/${version}` : version);

function splitApiVersion(apiVersion) {
  const i = (apiVersion || '').indexOf('/');
  return i < 0 ? { group: '', version: apiVersion || '' } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

class Registry extends EventEmitter {
  constructor() {
    super();
    this.resources = [];
    for (const r of BUILTIN_RESOURCES) this.resources.push(r);
  }

  // Storage is per group+resource (all versions of a CRD share it).
  storageKey(res) {
    return `${res.group}/${res.resource}`;
  }

  find(group, version, resource) {
    return this.resources.find((r) => r.group === group && r.version === version && r.resource === resource);
  }

  byKind(apiVersion, kind) {
    const { group, version } = splitApiVersion(apiVersion);
    return this.resources.find((r) => r.group === group && r.version === version && r.kind === kind);
  }

  groupVersions() {
    const seen = new Map();
    for (const r of this.resources) {
      const key = gvKey(r.group, r.version);
      if (!seen.has(key)) seen.set(key, { group: r.group, version: r.version });
    }
    return [...seen.values()];
  }

  inGroupVersion(group, version) {
    return this.resources.filter((r) => r.group === group && r.version === version);
  }

  // --- CRDs ---
  addCRD(crd) {
    this.removeCRD(crd.metadata.name, true);
    const spec = crd.spec;
    for (const v of spec.versions || []) {
      if (v.served === false) continue;
      const subresources = {};
      if (v.subresources && v.subresources.status) subresources.status = { verbs: ['get', 'patch', 'update'] };
      if (v.subresources && v.subresources.scale) {
        subresources.scale = { verbs: ['get', 'patch', 'update'], kind: 'Scale', group: 'autoscaling', version: 'v1', paths: v.subresources.scale };
      }
      this.resources.push({
        group: spec.group,
        version: v.name,
        resource: spec.names.plural,
        kind: spec.names.kind,
        singular: spec.names.singular || spec.names.kind.toLowerCase(),
        listKind: spec.names.listKind || `${spec.names.kind}List`,
        namespaced: spec.scope !== 'Cluster',
        verbs: ALL_VERBS,
        shortNames: spec.names.shortNames || [],
        categories: spec.names.categories || [],
        subresources,
        printerColumns: v.additionalPrinterColumns || [],
        schema: v.schema && v.schema.openAPIV3Schema,
        storage: !!v.storage,
        crd: crd.metadata.name,
      });
    }
    this.emit('changed');
  }

  removeCRD(name, quiet) {
    const before = this.resources.length;
    this.resources = this.resources.filter((r) => r.crd !== name);
    if (!quiet && before !== this.resources.length) this.emit('changed');
  }
}

module.exports = { Registry, splitApiVersion, gvKey };
