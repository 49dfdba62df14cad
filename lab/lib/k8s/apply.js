// Server-side apply and field ownership as the real API server keeps them (managedFields, FieldsV1): an Apply
// merges the configuration into the live object by the schema's list and map types, removes fields the manager
// applied before and no longer applies (when nobody else owns them), and refuses to change a field another manager
// owns unless forced (ownership then moves). recordUpdate gives the fields changed by create/update/patch to the
// writer. It does not validate (validate.js does), version objects, nor cap the number of Update managers.
'use strict';
const { ANY } = require('./schemas');
const { FieldSet, pathString } = require('./ssa/fieldset');
const typed = require('./ssa/typed');

const isObject = typed.isObject;
const BEFORE_FIRST_APPLY = 'before-first-apply';
// Metadata the server manages itself: never owned, never taken from an applied configuration.
const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'selfLink', 'managedFields',
  'deletionTimestamp', 'deletionGracePeriodSeconds'];
const UNOWNED_METADATA = ['name', 'namespace', ...SERVER_METADATA];

let sharedValidator = null;

// The schema to merge with: options.schema, else the validator's (or a shared built-in one), else untyped.
function schemaOf(obj, options) {
  if (options.schema) return options.schema;
  if (!obj || !obj.apiVersion || !obj.kind) return ANY;
  let validator = options.validator;
  if (!validator) {
    if (!sharedValidator) sharedValidator = new (require('./validate').Validator)();
    validator = sharedValidator;
  }
  return validator.schemaFor(obj.apiVersion, obj.kind) || ANY;
}

// Whether `status` belongs to the status subresource (reset on the main resource, and the reverse).
function hasStatusSubresource(node, options) {
  if (typeof options.statusSubresource === 'boolean') return options.statusSubresource;
  return Boolean(node && node.properties && node.properties.status);
}

// The part of an object a write to (sub)resource may change and own.
function scopeSet(set, options, statusSub) {
  const out = set.clone();
  out.children.delete('f:apiVersion');
  out.children.delete('f:kind');
  const metadata = out.children.get('f:metadata');
  if (metadata) for (const f of UNOWNED_METADATA) metadata.children.delete('f:' + f);
  if (options.subresource === 'status') {
    for (const k of [...out.children.keys()]) if (k !== 'f:status') out.children.delete(k);
  } else if (statusSub) {
    out.children.delete('f:status');
  }
  return out;
}

function scopeConfig(applied, live, options, statusSub) {
  const config = structuredClone(applied);
  if (isObject(config.metadata)) for (const f of SERVER_METADATA) delete config.metadata[f];
  if (options.subresource === 'status') {
    const base = structuredClone(live || {});
    delete base.status;
    return { ...base, status: config.status };
  }
  if (statusSub) {
    if (live && live.status !== undefined) config.status = structuredClone(live.status);
    else delete config.status;
  }
  return config;
}

const identity = (e) => JSON.stringify([e.manager, e.operation, e.subresource || '', e.operation === 'Apply' ? '' : e.apiVersion]);

function decodeManagers(obj) {
  const entries = (obj && obj.metadata && Array.isArray(obj.metadata.managedFields)) ? obj.metadata.managedFields : [];
  return entries.map((e) => ({
    manager: e.manager || '', operation: e.operation || 'Update', apiVersion: e.apiVersion || '',
    time: e.time, subresource: e.subresource || '', set: FieldSet.fromFieldsV1(e.fieldsV1 || {}),
  }));
}

function timeOf(e) {
  const t = e.time ? Date.parse(e.time) : 0;
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

// Entries ordered as the server writes them: operation, time (seconds), manager, apiVersion, subresource.
function encodeManagers(entries) {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return entries
    .filter((e) => !e.set.empty)
    .sort((a, b) => cmp(a.operation, b.operation) || timeOf(a) - timeOf(b) || cmp(a.manager, b.manager) ||
      cmp(a.apiVersion, b.apiVersion) || cmp(a.subresource, b.subresource))
    .map((e) => {
      const out = { manager: e.manager, operation: e.operation, apiVersion: e.apiVersion };
      if (e.time) out.time = e.time;
      out.fieldsType = 'FieldsV1';
      out.fieldsV1 = e.set.toFieldsV1();
      if (e.subresource) out.subresource = e.subresource;
      return out;
    });
}

const formatTime = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const nowOf = (options) => formatTime(options.now ? new Date(options.now) : new Date());

const sameSet = (a, b) => JSON.stringify(a.toFieldsV1()) === JSON.stringify(b.toFieldsV1());

// printManager: Update managers are named with their apiVersion.
function managerText(e) {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion}`;
  return s;
}

function conflictsOf(entries, me, changed) {
  const conflicts = [];
  for (const e of entries) {
    if (e === me) continue;
    const overlap = e.set.intersection(changed);
    for (const elements of overlap.members()) {
      conflicts.push({
        manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, subresource: e.subresource || undefined,
        field: pathString(elements), message: `conflict with ${managerText(e)}`, entry: e, elements,
      });
    }
  }
  conflicts.sort((a, b) => (a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  return conflicts;
}

function withManagedFields(obj, entries) {
  const out = obj;
  if (!isObject(out.metadata)) out.metadata = {};
  const encoded = encodeManagers(entries);
  if (encoded.length > 0) out.metadata.managedFields = encoded;
  else delete out.metadata.managedFields;
  return out;
}

function dropNulls(v) {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (!isObject(v)) return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

// Apply `applied` (a configuration) by options.manager to `live` (null when creating).
// -> {object, conflicts}; object is null when there are conflicts and options.force is not set.
function serverSideApply(live, applied, options = {}) {
  if (!options.manager) throw new Error('serverSideApply: options.manager (fieldManager) is required');
  const node = schemaOf(applied, options);
  const statusSub = hasStatusSubresource(node, options);
  const subresource = options.subresource || '';
  const entries = decodeManagers(live);
  if (live && entries.length === 0) {
    const owned = scopeSet(typed.toFieldSet(live, node), options, statusSub);
    entries.push({ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion: live.apiVersion, subresource, set: owned });
  }
  const key = identity({ manager: options.manager, operation: 'Apply', subresource });
  let me = entries.find((e) => identity(e) === key);
  const lastSet = me ? me.set : new FieldSet();
  const config = scopeConfig(applied, live, options, statusSub);
  const newSet = scopeSet(typed.toFieldSet(config, node), options, statusSub);

  const before = live ? structuredClone(live) : {};
  const merged = typed.merge(before, config, node);
  const others = entries.filter((e) => e !== me).reduce((acc, e) => acc.union(e.set), new FieldSet());
  const object = dropNulls(typed.removeUnowned(merged, lastSet.difference(newSet), newSet.union(others), node));

  const diff = typed.compare(live || {}, object, node);
  const changed = scopeSet(diff.modified.union(diff.added), options, statusSub);
  const conflicts = conflictsOf(entries, me, changed);
  if (conflicts.length > 0 && !options.force) return { object: null, conflicts: conflicts.map(publicConflict) };

  for (const c of conflicts) c.entry.set = c.entry.set.difference(pathSet(c.elements));
  const removed = scopeSet(diff.removed, options, statusSub);
  for (const e of entries) if (e !== me) e.set = e.set.difference(removed);
  if (!me) {
    me = { manager: options.manager, operation: 'Apply', subresource, set: new FieldSet() };
    entries.push(me);
  }
  if (!me.time || !sameSet(me.set, newSet) || me.apiVersion !== applied.apiVersion) me.time = nowOf(options);
  me.apiVersion = applied.apiVersion;
  me.set = newSet;
  if (object.metadata) delete object.metadata.managedFields;
  return { object: withManagedFields(object, entries), conflicts: conflicts.map(publicConflict) };
}

function pathSet(elements) {
  const set = new FieldSet();
  let cur = set;
  for (const e of elements) cur = cur.child(e);
  cur.member = true;
  return set;
}

const publicConflict = ({ manager, operation, apiVersion, subresource, field, message }) =>
  ({ manager, operation, apiVersion, ...(subresource ? { subresource } : {}), field, message });

// Ownership after a create/update/patch by options.manager (operation Update): the fields it changed become its
// own and no longer anyone else's; removed fields are nobody's. -> a copy of newObj with managedFields.
function recordUpdate(oldObj, newObj, options = {}) {
  const manager = options.manager || 'unknown';
  const node = schemaOf(newObj, options);
  const statusSub = hasStatusSubresource(node, options);
  const subresource = options.subresource || '';
  const entries = decodeManagers(managedSource(oldObj, newObj));
  const diff = typed.compare(oldObj || {}, newObj, node);
  const changed = scopeSet(diff.modified.union(diff.added), options, statusSub);
  const removed = scopeSet(diff.removed, options, statusSub);
  const key = identity({ manager, operation: 'Update', subresource, apiVersion: newObj.apiVersion });
  let me = entries.find((e) => identity(e) === key);
  for (const e of entries) if (e !== me) e.set = e.set.difference(changed).difference(removed);
  const previous = me ? me.set : new FieldSet();
  const next = previous.difference(removed).union(changed);
  if (!me) {
    me = { manager, operation: 'Update', apiVersion: newObj.apiVersion, subresource, set: next };
    entries.push(me);
  }
  if (!me.time || !sameSet(previous, next)) me.time = nowOf(options);
  me.set = next;
  const object = structuredClone(newObj);
  if (object.metadata) delete object.metadata.managedFields;
  return withManagedFields(object, entries);
}

// A writer may replace managedFields by sending them (an empty list resets them); otherwise the live ones stay.
function managedSource(oldObj, newObj) {
  const sent = newObj && newObj.metadata && newObj.metadata.managedFields;
  if (Array.isArray(sent)) return newObj;
  return oldObj;
}

// The 409 Status the server answers for apply conflicts.
function conflictStatus(conflicts) {
  const message = conflicts.length === 1
    ? `Apply failed with 1 conflict: ${conflicts[0].message}: ${conflicts[0].field}`
    : `Apply failed with ${conflicts.length} conflicts: ` + groupedConflicts(conflicts);
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Conflict',
    details: { causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: c.message, field: c.field })) },
    code: 409,
  };
}

function groupedConflicts(conflicts) {
  const byManager = new Map();
  for (const c of conflicts) {
    const k = c.message.replace(/^conflict with /, '');
    if (!byManager.has(k)) byManager.set(k, []);
    byManager.get(k).push(c.field);
  }
  const lines = [];
  for (const k of [...byManager.keys()].sort()) lines.push(`conflicts with ${k}:`, ...byManager.get(k).map((f) => `- ${f}`));
  return lines.join('\n');
}

// The field set of an entry, decoded, for callers that inspect ownership.
const fieldSetOf = (entry) => FieldSet.fromFieldsV1(entry.fieldsV1 || {});

module.exports = { serverSideApply, recordUpdate, conflictStatus, fieldSetOf, BEFORE_FIRST_APPLY };
