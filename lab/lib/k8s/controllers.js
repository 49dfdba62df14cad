'use strict';
// The few controllers and admission defaults the emulated cluster runs in this part: Namespace phase
// (Active; Terminating while its contents are deleted, then gone), a ServiceAccount `default` per
// namespace, Service clusterIP allocation from the lab's Service range (node/network.js), ownerReference
// garbage collection (Background/Foreground), CRDs becoming served types (and Established), and creating
// the bootstrap objects (bootstrap.js). Workloads are not run here.

const { StatusError } = require('./errors');
const { bootstrapObjects, DEFAULT_NAMESPACES } = require('./bootstrap');

const cidr = require('../node/cidr');

// The Service range when the server is started without one (tests of the API alone).
const DEFAULT_SERVICE_CIDR = '10.96.0.0/20';

const isCore = (res, name) => !res.group && res.resource === name;

// --- admission defaults (synchronous, run by the store before a write) ---
function namespaceDefaults(op, res, obj) {
  if (!isCore(res, 'namespaces')) return;
  obj.spec = obj.spec || {};
  obj.status = obj.status || {};
  if (op === 'create') {
    obj.spec.finalizers = ['kubernetes'];
    obj.status.phase = 'Active';
    obj.metadata.labels = Object.assign({}, obj.metadata.labels, { 'kubernetes.io/metadata.name': obj.metadata.name });
  }
  if (op === 'delete') obj.status.phase = 'Terminating';
}

function usedServiceIPs(store, res) {
  return new Set(store.listObjects(res).map((s) => s.spec && s.spec.clusterIP).filter(Boolean));
}

function allocateIP(used, range) {
  const ip = cidr.firstFree(range, used);
  if (ip) return ip;
  throw new StatusError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full');
}

function serviceDefaults(store, range) {
  return (op, res, obj, old) => {
    if (!isCore(res, 'services') || (op !== 'create' && op !== 'update')) return;
    const spec = (obj.spec = obj.spec || {});
    spec.type = spec.type || 'ClusterIP';
    spec.sessionAffinity = spec.sessionAffinity || 'None';
    for (const p of spec.ports || []) {
      p.protocol = p.protocol || 'TCP';
      if (p.targetPort === undefined) p.targetPort = p.port;
    }
    if (spec.type === 'ExternalName') return;
    if (op === 'update' && old.spec && old.spec.clusterIP && !spec.clusterIP) spec.clusterIP = old.spec.clusterIP;
    if (op === 'create' && spec.clusterIP !== 'None') {
      const used = usedServiceIPs(store, res);
      if (spec.clusterIP && used.has(spec.clusterIP)) {
        throw new StatusError(422, 'Invalid', `Service "${obj.metadata.name}" is invalid: spec.clusterIPs: Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`,
          { name: obj.metadata.name, kind: 'Service', causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: []string{"${spec.clusterIP}"}: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated`, field: 'spec.clusterIPs' }] });
      }
      spec.clusterIP = spec.clusterIP || allocateIP(used, range);
    }
    spec.clusterIPs = [spec.clusterIP];
    if (spec.clusterIP !== 'None') {
      spec.ipFamilies = spec.ipFamilies || ['IPv4'];
      spec.ipFamilyPolicy = spec.ipFamilyPolicy || 'SingleStack';
    }
    if (op === 'create') obj.status = obj.status || { loadBalancer: {} };
  };
}

function podDefaults(op, res, obj) {
  if (!isCore(res, 'pods') || op !== 'create') return;
  obj.spec = obj.spec || {};
  obj.spec.restartPolicy = obj.spec.restartPolicy || 'Always';
  obj.spec.serviceAccountName = obj.spec.serviceAccountName || 'default';
  obj.status = Object.assign({ phase: 'Pending', qosClass: 'BestEffort' }, obj.status || {});
}

// stringData is write-only: the API server folds it into data (base64), its keys winning, and never stores it.
function secretStringData(op, res, obj) {
  if (!isCore(res, 'secrets') || (op !== 'create' && op !== 'update')) return;
  if (!obj.type) obj.type = 'Opaque';
  if (!obj.stringData || typeof obj.stringData !== 'object') return;
  obj.data = Object.assign({}, obj.data || {});
  for (const [key, value] of Object.entries(obj.stringData)) {
    obj.data[key] = Buffer.from(String(value), 'utf8').toString('base64');
  }
  delete obj.stringData;
}

// --- asynchronous controllers ---
class Controllers {
  constructor({ store, registry, validator, serviceCIDR = process.env.LAB_SERVICE_CIDR || DEFAULT_SERVICE_CIDR }) {
    this.store = store;
    this.registry = registry;
    this.validator = validator;
    this.scheduled = null;
    this.stopped = false;
    store.addHook(namespaceDefaults);
    store.addHook(serviceDefaults(store, serviceCIDR));
    store.addHook(podDefaults);
    store.addHook(secretStringData);
    store.addHook((op, res, obj) => this.crdHook(op, res, obj));
    this.onEvent = (e) => this.handle(e);
    store.on('event', this.onEvent);
  }

  stop() {
    this.stopped = true;
    this.store.removeListener('event', this.onEvent);
    if (this.scheduled) clearImmediate(this.scheduled);
  }

  bootstrap() {
    for (const obj of bootstrapObjects()) this.store.createObject(obj);
    this.sweep();
  }

  handle(e) {
    if (this.stopped) return;
    if (isCore(e.resource, 'namespaces') && e.type === 'ADDED') this.ensureDefaultServiceAccount(e.object.metadata.name);
    if (e.resource.group === 'apiextensions.k8s.io' && e.resource.resource === 'customresourcedefinitions') this.crdChanged(e);
    if (!this.scheduled) this.scheduled = setImmediate(() => { this.scheduled = null; this.sweep(); });
  }

  ensureDefaultServiceAccount(namespace) {
    setImmediate(() => {
      if (this.stopped || this.store.get('v1', 'ServiceAccount', namespace, 'default')) return;
      try {
        this.store.createObject({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } });
      } catch { /* namespace already terminating or gone */ }
    });
  }

  // --- CRDs ---
  crdHook(op, res, obj) {
    if (res.group !== 'apiextensions.k8s.io' || res.resource !== 'customresourcedefinitions' || op !== 'create') return;
    const n = obj.spec && obj.spec.names;
    obj.status = { conditions: [], acceptedNames: n ? Object.assign({}, n) : {}, storedVersions: ((obj.spec && obj.spec.versions) || []).filter((v) => v.storage).map((v) => v.name) };
  }

  crdChanged(e) {
    const crd = e.object;
    if (e.type === 'DELETED') {
      const served = this.registry.resources.filter((r) => r.crd === crd.metadata.name);
      if (served.length) for (const o of this.store.listObjects(served[0])) this.store.remove(served[0], o);
      this.registry.removeCRD(crd.metadata.name);
      if (this.validator && this.validator.removeCRD) this.validator.removeCRD(crd.metadata.name);
      return;
    }
    if (crd.metadata.deletionTimestamp) return;
    this.registry.addCRD(crd);
    if (this.validator && this.validator.addCRD) this.validator.addCRD(crd);
    const established = ((crd.status && crd.status.conditions) || []).some((c) => c.type === 'Established' && c.status === 'True');
    if (!established) setImmediate(() => this.establish(crd.metadata.name));
  }

  establish(name) {
    if (this.stopped) return;
    const crd = this.store.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', '', name);
    if (!crd) return;
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    crd.status = crd.status || {};
    crd.status.acceptedNames = Object.assign({}, crd.spec.names);
    crd.status.conditions = [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: t, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: t, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ];
    this.store.updateStatus(crd);
  }

  // --- GC and namespace termination ---
  sweep() {
    if (this.stopped) return;
    try {
      this.collectGarbage();
      this.terminateNamespaces();
    } catch (err) {
      if (!(err instanceof StatusError)) throw err;
    }
  }

  resourceOf(storageKey, obj) {
    return this.store.resourceForStorageKey(storageKey, obj);
  }

  collectGarbage() {
    const s = this.store;
    for (const { storageKey, object } of [...s.allObjects()]) {
      const refs = object.metadata.ownerReferences || [];
      if (refs.length && refs.every((r) => !s.existsUid(r.uid)) && !object.metadata.deletionTimestamp) {
        this.tryDelete(storageKey, object, 'Background');
      }
      const fin = object.metadata.finalizers || [];
      if (object.metadata.deletionTimestamp && fin.includes('foregroundDeletion')) {
        const deps = s.dependentsOf(object.metadata.uid);
        for (const d of deps) if (!d.object.metadata.deletionTimestamp) this.tryDelete(d.storageKey, d.object, 'Foreground');
        if (!deps.length) this.dropFinalizer(storageKey, object, 'foregroundDeletion');
      }
    }
  }

  tryDelete(storageKey, object, propagationPolicy) {
    try {
      this.store.delete(this.resourceOf(storageKey, object), object.metadata.namespace, object.metadata.name, { propagationPolicy });
    } catch (err) {
      if (err.code !== 404) throw err;
    }
  }

  dropFinalizer(storageKey, object, finalizer) {
    const upd = JSON.parse(JSON.stringify(object));
    upd.metadata.finalizers = upd.metadata.finalizers.filter((f) => f !== finalizer);
    this.store.update(this.resourceOf(storageKey, object), upd, {});
  }

  terminateNamespaces() {
    const s = this.store;
    const nsRes = this.registry.find('', 'v1', 'namespaces');
    for (const ns of s.listObjects(nsRes)) {
      if (!ns.metadata.deletionTimestamp) continue;
      let remaining = 0;
      for (const { storageKey, object } of [...s.allObjects()]) {
        if (object.metadata.namespace !== ns.metadata.name || storageKey === '/namespaces') continue;
        const res = this.resourceOf(storageKey, object);
        if (!res || !res.namespaced) continue;
        remaining++;
        if (!object.metadata.deletionTimestamp) this.tryDelete(storageKey, object, 'Background');
      }
      if (remaining === 0 && (ns.spec.finalizers || []).includes('kubernetes')) {
        ns.spec.finalizers = ns.spec.finalizers.filter((f) => f !== 'kubernetes');
        s.update(nsRes, ns, {});
      } else if (remaining > 0) {
        this.retryLater();
      }
    }
  }

  retryLater() {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.sweep(); }, 50);
    this.retryTimer.unref();
  }
}

module.exports = { Controllers, DEFAULT_NAMESPACES };
