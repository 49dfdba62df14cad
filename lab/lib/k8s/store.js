'use strict';
// The emulated API server's object store (in memory): objects per resource type, one monotonic
// resourceVersion shared by all writes, metadata rules (uid, generation bumped on non-metadata/status
// changes only, creationTimestamp, deletionTimestamp + finalizers), a bounded history of watch events,
// and pod logs kept beside the objects (`appendLog`). It emits 'event' {type, resource, object, oldObject}
// for every write. Defaulting hooks (`addHook`) run before writes; asynchronous controllers (GC, namespace
// termination) live in controllers.js. It does not validate, authorize or speak HTTP.

const { EventEmitter } = require('events');
const crypto = require('crypto');
const { errors, StatusError } = require('./errors');

const clone = (o) => (o === undefined ? undefined : JSON.parse(JSON.stringify(o)));
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const keyOf = (ns, name) => `${ns || ''}/${name}`;

function withoutVolatile(obj) {
  const o = clone(obj);
  if (o.metadata) {
    delete o.metadata.resourceVersion;
    delete o.metadata.managedFields;
    delete o.metadata.generation;
  }
  return JSON.stringify(o);
}

function specPart(obj) {
  const o = Object.assign({}, obj);
  delete o.metadata;
  delete o.status;
  return JSON.stringify(o);
}

function randomSuffix() {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (const b of crypto.randomBytes(5)) s += alphabet[b % alphabet.length];
  return s;
}

class Store extends EventEmitter {
  constructor({ registry, historySize = 1000 } = {}) {
    super();
    this.setMaxListeners(0);
    this.registry = registry;
    this.historySize = historySize;
    this.rv = 1;
    this.buckets = new Map();
    this.uids = new Map();
    this.history = [];
    this.lastDroppedRV = 0;
    this.hooks = [];
    this.logs = new Map();
    this.logWaiters = new EventEmitter();
    this.logWaiters.setMaxListeners(0);
  }

  // --- reading ---
  bucket(res) {
    const k = this.registry.storageKey(res);
    if (!this.buckets.has(k)) this.buckets.set(k, new Map());
    return this.buckets.get(k);
  }

  resourceFor(apiVersion, kind) {
    const res = this.registry.byKind(apiVersion, kind);
    if (!res) throw errors.notFound({ group: '', resource: kind }, apiVersion);
    return res;
  }

  getObject(res, namespace, name) {
    const o = this.bucket(res).get(keyOf(res.namespaced ? namespace : '', name));
    return o ? this.asVersion(res, clone(o)) : null;
  }

  listObjects(res, namespace) {
    const out = [];
    const keys = [...this.bucket(res).keys()].sort();
    for (const k of keys) {
      const o = this.bucket(res).get(k);
      if (res.namespaced && namespace && o.metadata.namespace !== namespace) continue;
      out.push(this.asVersion(res, clone(o)));
    }
    return out;
  }

  // Custom resources are stored as written; serving another version only relabels them (no conversion).
  asVersion(res, obj) {
    if (res.crd) obj.apiVersion = `${res.group}/${res.version}`;
    return obj;
  }

  get(apiVersion, kind, namespace, name) {
    return this.getObject(this.resourceFor(apiVersion, kind), namespace, name);
  }

  list(apiVersion, kind, namespace) {
    return this.listObjects(this.resourceFor(apiVersion, kind), namespace);
  }

  existsUid(uid) {
    return this.uids.has(uid);
  }

  currentRV() {
    return String(this.rv);
  }

  // --- hooks: functions (op, res, obj, old) run before a write; they may mutate obj or throw. ---
  addHook(fn) {
    this.hooks.push(fn);
  }

  runHooks(op, res, obj, old, opts) {
    for (const h of this.hooks) h(op, res, obj, old, opts || {});
  }

  // --- writing ---
  checkNamespace(res, obj) {
    if (!res.namespaced) return;
    const nsRes = this.registry.find('', 'v1', 'namespaces');
    const ns = this.bucket(nsRes).get(keyOf('', obj.metadata.namespace));
    if (!ns) throw errors.notFound(nsRes, obj.metadata.namespace);
    if (ns.metadata.deletionTimestamp) {
      const msg = `unable to create new content in namespace ${obj.metadata.namespace} because it is being terminated`;
      throw new StatusError(403, 'Forbidden', `${res.resource}${res.group ? '.' + res.group : ''} "${obj.metadata.name}" is forbidden: ${msg}`,
        { name: obj.metadata.name, group: res.group || undefined, kind: res.resource,
          causes: [{ reason: 'NamespaceTerminating', message: msg, field: 'metadata.namespace' }] });
    }
  }

  create(res, input, opts = {}) {
    const obj = clone(input);
    obj.metadata = obj.metadata || {};
    const md = obj.metadata;
    if (!md.name && md.generateName) md.name = md.generateName + randomSuffix();
    if (!res.namespaced) delete md.namespace;
    if (!md.name) {
      throw errors.invalid(res, res.kind, '', [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]);
    }
    this.checkNamespace(res, obj);
    if (this.bucket(res).has(keyOf(md.namespace, md.name))) throw errors.alreadyExists(res, md.name);
    md.uid = crypto.randomUUID();
    md.creationTimestamp = now();
    md.generation = 1;
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    delete md.resourceVersion;
    this.runHooks('create', res, obj, null, opts);
    if (opts.dryRun) return this.asVersion(res, obj);
    return this.write(res, 'ADDED', obj, null);
  }

  // Replaces an object. opts.subresource === 'status' changes only status; a main-resource write keeps the
  // stored status when the type has a status subresource (as the real server does).
  update(res, input, opts = {}) {
    const md = (input && input.metadata) || {};
    const key = keyOf(res.namespaced ? md.namespace : '', md.name);
    const stored = this.bucket(res).get(key);
    if (!stored) throw errors.notFound(res, md.name);
    const old = this.asVersion(res, clone(stored));
    if (md.resourceVersion && md.resourceVersion !== old.metadata.resourceVersion) throw errors.staleUpdate(res, md.name);
    let obj = clone(input);
    if (opts.subresource === 'status') {
      obj = Object.assign(clone(old), { status: obj.status });
      if (input.metadata && input.metadata.managedFields) obj.metadata.managedFields = input.metadata.managedFields;
    } else if (res.subresources.status) {
      if (old.status === undefined) delete obj.status;
      else obj.status = clone(old.status);
    }
    for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'namespace', 'name']) {
      if (old.metadata[f] === undefined) delete obj.metadata[f];
      else obj.metadata[f] = old.metadata[f];
    }
    if (old.metadata.deletionTimestamp) this.refuseNewFinalizers(res, old, obj);
    obj.metadata.generation = old.metadata.generation || 1;
    if (specPart(obj) !== specPart(old)) obj.metadata.generation += 1;
    this.runHooks('update', res, obj, old, opts);
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    if (withoutVolatile(obj) === withoutVolatile(old) &&
        JSON.stringify(obj.metadata.managedFields || null) === JSON.stringify(old.metadata.managedFields || null)) {
      return old;
    }
    if (opts.dryRun) return obj;
    if (obj.metadata.deletionTimestamp && this.finalizersDone(res, obj)) {
      this.remove(res, obj);
      return obj;
    }
    return this.write(res, 'MODIFIED', obj, old);
  }

  // The real server's ValidateNoNewFinalizers: 422 Invalid on metadata.finalizers, the new ones in Go syntax.
  refuseNewFinalizers(res, old, obj) {
    const before = new Set(old.metadata.finalizers || []);
    const added = [...new Set((obj.metadata.finalizers || []).filter((f) => !before.has(f)))].sort();
    if (!added.length) return;
    const goList = `[]string{${added.map((f) => JSON.stringify(f)).join(', ')}}`;
    throw errors.invalid(res, res.kind, obj.metadata.name, [{ reason: 'FieldValueForbidden', field: 'metadata.finalizers',
      message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${goList}` }]);
  }

  finalizersDone(res, obj) {
    const pending = (obj.metadata.finalizers || []).length;
    const nsPending = res.resource === 'namespaces' && !res.group ? ((obj.spec && obj.spec.finalizers) || []).length : 0;
    return pending === 0 && nsPending === 0;
  }

  // Deletes (or marks for deletion while finalizers remain). Returns {object, deleted: bool}.
  delete(res, namespace, name, opts = {}) {
    const stored = this.bucket(res).get(keyOf(res.namespaced ? namespace : '', name));
    if (!stored) throw errors.notFound(res, name);
    const obj = this.asVersion(res, clone(stored));
    this.checkPreconditions(res, obj, opts.preconditions);
    if (obj.metadata.deletionTimestamp) return { object: obj, deleted: false };
    const policy = opts.propagationPolicy || 'Background';
    obj.metadata.finalizers = obj.metadata.finalizers || [];
    if (policy === 'Foreground' && this.hasDependents(obj.metadata.uid)) obj.metadata.finalizers.push('foregroundDeletion');
    if (!obj.metadata.finalizers.length) delete obj.metadata.finalizers;
    this.runHooks('delete', res, obj, clone(stored), opts);
    if (this.finalizersDone(res, obj)) {
      if (opts.dryRun) return { object: obj, deleted: true };
      if (policy === 'Orphan') this.orphanDependents(obj.metadata.uid);
      this.remove(res, obj);
      return { object: obj, deleted: true };
    }
    obj.metadata.deletionTimestamp = now();
    obj.metadata.deletionGracePeriodSeconds = 0;
    if (opts.dryRun) return { object: obj, deleted: false };
    if (policy === 'Orphan') this.orphanDependents(obj.metadata.uid);
    return { object: this.write(res, 'MODIFIED', obj, clone(stored)), deleted: false };
  }

  checkPreconditions(res, obj, pre) {
    if (!pre) return;
    if (pre.uid && pre.uid !== obj.metadata.uid) {
      throw errors.conflict(res, obj.metadata.name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
    }
    if (pre.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw errors.conflict(res, obj.metadata.name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
    }
  }

  // --- owner references (used by GC and propagation policies) ---
  *allObjects() {
    for (const [storageKey, bucket] of this.buckets) for (const o of bucket.values()) yield { storageKey, object: o };
  }

  dependentsOf(uid) {
    const out = [];
    for (const { storageKey, object } of this.allObjects()) {
      if ((object.metadata.ownerReferences || []).some((r) => r.uid === uid)) out.push({ storageKey, object });
    }
    return out;
  }

  hasDependents(uid) {
    return this.dependentsOf(uid).length > 0;
  }

  orphanDependents(uid) {
    for (const { storageKey, object } of this.dependentsOf(uid)) {
      const res = this.resourceForStorageKey(storageKey, object);
      const upd = clone(object);
      upd.metadata.ownerReferences = upd.metadata.ownerReferences.filter((r) => r.uid !== uid);
      if (!upd.metadata.ownerReferences.length) delete upd.metadata.ownerReferences;
      this.update(res, upd, {});
    }
  }

  resourceForStorageKey(storageKey, object) {
    const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
    return this.registry.byKind(object.apiVersion, object.kind) ||
      this.registry.resources.find((r) => this.registry.storageKey(r) === storageKey && (r.group === group || r.version === version));
  }

  // --- low level ---
  write(res, type, obj, old) {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    const stored = clone(obj);
    this.bucket(res).set(keyOf(obj.metadata.namespace, obj.metadata.name), stored);
    this.uids.set(stored.metadata.uid, true);
    this.record(res, type, stored, old);
    return this.asVersion(res, clone(stored));
  }

  remove(res, obj) {
    this.rv += 1;
    const gone = clone(obj);
    gone.metadata.resourceVersion = String(this.rv);
    this.bucket(res).delete(keyOf(obj.metadata.namespace, obj.metadata.name));
    this.uids.delete(obj.metadata.uid);
    if (res.resource === 'pods' && !res.group) this.logs.delete(keyOf(obj.metadata.namespace, obj.metadata.name));
    this.record(res, 'DELETED', gone, obj);
  }

  record(res, type, object, oldObject) {
    const event = { type, rv: this.rv, storageKey: this.registry.storageKey(res), object: clone(object), oldObject: clone(oldObject) };
    this.history.push(event);
    while (this.history.length > this.historySize) this.lastDroppedRV = this.history.shift().rv;
    this.emit('event', { type, resource: res, object: clone(object), oldObject: clone(oldObject) });
  }

  // Watch events of one storage bucket after `rv`; throws 410 Expired when some were already dropped.
  eventsSince(storageKey, rv) {
    const since = Number(rv);
    if (since < this.lastDroppedRV) {
      throw errors.expired(`too old resource version: ${rv} (${this.lastDroppedRV + 1})`);
    }
    return this.history.filter((e) => e.rv > since && e.storageKey === storageKey);
  }

  // --- convenience for controllers and tests: objects addressed by apiVersion/kind ---
  createObject(obj, opts) {
    return this.create(this.resourceFor(obj.apiVersion, obj.kind), obj, opts);
  }

  updateObject(obj, opts) {
    return this.update(this.resourceFor(obj.apiVersion, obj.kind), obj, opts);
  }

  updateStatus(obj) {
    return this.update(this.resourceFor(obj.apiVersion, obj.kind), obj, { subresource: 'status' });
  }

  deleteObject(apiVersion, kind, namespace, name, opts) {
    return this.delete(this.resourceFor(apiVersion, kind), namespace, name, opts);
  }

  // --- pod logs: a side map, written by controllers/tests, read by pods/NAME/log ---
  // `instance` (optional): which run of the container wrote it (its restartCount then), for `previous`.
  appendLog(namespace, name, text, container = '', instance = undefined) {
    const k = keyOf(namespace, name);
    if (!this.logs.has(k)) this.logs.set(k, []);
    this.logs.get(k).push({ container, text: String(text), time: new Date(), instance });
    this.logWaiters.emit(k);
  }

  readLog(namespace, name, container) {
    return (this.logs.get(keyOf(namespace, name)) || []).filter((e) => !container || !e.container || e.container === container);
  }
}

module.exports = { Store, clone, now, keyOf };
