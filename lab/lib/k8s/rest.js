'use strict';
// The REST verbs of the emulated API server for one resource route: get, list (selectors, limit and
// continue, Table output), watch, create, update/replace, the four patch types, delete and
// deletecollection, with dryRun=All, fieldValidation passed to the validator, managedFields kept through
// apply.js, and status subresources. Authentication, authorization and discovery happen in server.js;
// pod logs, port-forward and access reviews have their own modules.

const { errors, successStatus, qualified, StatusError } = require('./errors');
const { selectorFor } = require('./selectors');
const { mergePatch, jsonPatch, strategicMerge, PATCH_TYPES } = require('./patch');
const { toTable, wantsTable } = require('./table');
const { serveWatch } = require('./watch');
const { readBody, mediaType, parseObject, sendJSON, warningHeaders } = require('./http');

const apiVersionOf = (r) => (r.group ? `${r.group}/${r.version}` : r.version);
// Types whose DELETE answers with the deleted object rather than a Status (as the real registries do).
const RETURNS_DELETED_OBJECT = new Set(['/pods', '/services', '/namespaces']);

function dryRunOf(query) {
  const v = query.dryRun;
  if (v === undefined || v === '') return false;
  if (v !== 'All') throw errors.badRequest(`Invalid dry run value: ${JSON.stringify(v)}`, { causes: [{ reason: 'FieldValueNotSupported', message: `Unsupported value: "${v}": supported values: "All"`, field: 'dryRun' }] });
  return true;
}

function fieldValidationOf(query) {
  const v = query.fieldValidation || 'Warn';
  if (!['Strict', 'Warn', 'Ignore'].includes(v)) {
    throw errors.badRequest(`Invalid fieldValidation value: ${v}`);
  }
  return v;
}

function fieldManagerOf(req, query) {
  if (query.fieldManager) return query.fieldManager;
  return String(req.headers['user-agent'] || 'unknown').split('/')[0].slice(0, 128);
}

// --- encoding of responses (plain, Table, PartialObjectMetadata) ---
function presentation(req) {
  const accept = String(req.headers.accept || '');
  if (wantsTable(accept)) return 'table';
  if (/as=PartialObjectMetadata/.test(accept)) return 'partial';
  return 'plain';
}

function encodeOne(ctx, route, obj) {
  const mode = presentation(ctx.req);
  if (mode === 'table') return toTable(route.resource, [obj], {}, ctx.query.includeObject);
  if (mode === 'partial') return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
  return obj;
}

function listBody(ctx, route, items, meta) {
  const res = route.resource;
  const mode = presentation(ctx.req);
  if (mode === 'table') return toTable(res, items, meta, ctx.query.includeObject);
  if (mode === 'partial') {
    return { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: meta,
      items: items.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata })) };
  }
  // The real server leaves apiVersion/kind out of the items of built-in lists.
  const out = res.crd ? items : items.map(({ apiVersion, kind, ...rest }) => rest);
  return { kind: res.listKind, apiVersion: apiVersionOf(res), metadata: meta, items: out };
}

// --- validation and field management ---
function validate(ctx, res, obj, operation) {
  const v = ctx.validator;
  const fieldValidation = fieldValidationOf(ctx.query);
  if (!v || (v.hasKind && !v.hasKind(obj.apiVersion, obj.kind))) return { obj, warnings: [] };
  const result = v.validate(obj, { fieldValidation, operation }) || {};
  if (v.statusFor) {
    const status = v.statusFor(result, obj, { fieldValidation, operation });
    if (status) throw StatusError.fromStatus(status);
  } else {
    const causes = result.causes || [];
    const unknown = causes.filter((c) => /^unknown field/.test(c.message || ''));
    if (unknown.length) {
      throw errors.badRequest(`${res.kind} in version "${res.version}" cannot be handled as a ${res.kind}: strict decoding error: ${unknown.map((c) => c.message).join(', ')}`);
    }
    if (causes.length) throw errors.invalid(res, res.kind, (obj.metadata && obj.metadata.name) || '', causes);
  }
  if (fieldValidation !== 'Strict' && v.prune) {
    const pruned = v.prune(obj);
    if (pruned && typeof pruned === 'object') obj = pruned;
  }
  return { obj, warnings: result.warnings || [] };
}

// What apply.js needs to know of the type: its schema (through the validator, which knows the CRDs) and
// whether status is a subresource.
function ssaOptions(ctx) {
  const opts = { statusSubresource: !!(ctx.route && ctx.route.resource.subresources.status) };
  if (ctx.validator) opts.validator = ctx.validator;
  return opts;
}

function recordManager(ctx, oldObj, newObj, subresource) {
  if (!ctx.apply || !ctx.apply.recordUpdate) return newObj;
  const r = ctx.apply.recordUpdate(oldObj, newObj, Object.assign(ssaOptions(ctx), { manager: fieldManagerOf(ctx.req, ctx.query), operation: 'Update', subresource }));
  return r && r.metadata ? r : newObj;
}

function checkTypeMeta(res, obj) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw errors.badRequest('the object provided is unrecognized');
  const expected = apiVersionOf(res);
  if (obj.apiVersion && obj.apiVersion !== expected) {
    throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`);
  }
  if (obj.kind && obj.kind !== res.kind) {
    throw errors.badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${res.kind})`);
  }
  obj.apiVersion = expected;
  obj.kind = res.kind;
  obj.metadata = obj.metadata || {};
}

function checkNamespaceAndName(route, obj) {
  const md = obj.metadata;
  if (route.resource.namespaced) {
    if (md.namespace && md.namespace !== route.namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    md.namespace = route.namespace;
  }
  if (route.name !== undefined && md.name && md.name !== route.name) {
    throw errors.badRequest(`the name of the object (${md.name}) does not match the name on the URL (${route.name})`);
  }
  if (route.name !== undefined) md.name = route.name;
}

// --- verbs ---
function get(ctx, route) {
  const obj = ctx.store.getObject(route.resource, route.namespace, route.name);
  if (!obj) throw errors.notFound(route.resource, route.name);
  sendJSON(ctx.res, 200, encodeOne(ctx, route, obj));
}

function decodeContinue(token) {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (typeof c.start !== 'string') throw new Error('bad');
    return c;
  } catch {
    throw errors.badRequest(`The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.`);
  }
}

function list(ctx, route) {
  const { query } = ctx;
  const matches = selectorFor(query, route.resource.resource);
  let items = ctx.store.listObjects(route.resource, route.namespace).filter(matches);
  const keyOf = (o) => `${o.metadata.namespace || ''}/${o.metadata.name}`;
  if (query.continue) {
    const c = decodeContinue(query.continue);
    items = items.filter((o) => keyOf(o) > c.start);
  }
  const meta = { resourceVersion: ctx.store.currentRV() };
  const limit = Number(query.limit || 0);
  if (limit > 0 && items.length > limit) {
    const rest = items.length - limit;
    items = items.slice(0, limit);
    meta.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(meta.resourceVersion), start: keyOf(items[items.length - 1]) })).toString('base64');
    if (!query.labelSelector && !query.fieldSelector) meta.remainingItemCount = rest;
  }
  sendJSON(ctx.res, 200, listBody(ctx, route, items, meta));
}

function watch(ctx, route) {
  const mode = presentation(ctx.req);
  const encode = (o) => (mode === 'table' ? toTable(route.resource, [o], {}, ctx.query.includeObject) : o);
  serveWatch({ store: ctx.store, resource: route.resource, namespace: route.namespace, name: route.name,
    query: ctx.query, req: ctx.req, res: ctx.res, encode, bookmarkIntervalMs: ctx.bookmarkIntervalMs });
}

async function create(ctx, route) {
  const res = route.resource;
  const body = parseObject(await readBody(ctx.req), mediaType(ctx.req));
  checkTypeMeta(res, body);
  checkNamespaceAndName({ resource: res, namespace: route.namespace }, body);
  const dryRun = dryRunOf(ctx.query);
  const { obj, warnings } = validate(ctx, res, body, 'create');
  const created = ctx.store.create(res, recordManager(ctx, null, obj), { dryRun, user: ctx.user });
  sendJSON(ctx.res, 201, encodeOne(ctx, route, created), warningHeaders(warnings));
}

async function update(ctx, route) {
  const res = route.resource;
  const body = parseObject(await readBody(ctx.req), mediaType(ctx.req));
  checkTypeMeta(res, body);
  checkNamespaceAndName(route, body);
  const dryRun = dryRunOf(ctx.query);
  const old = ctx.store.getObject(res, route.namespace, route.name);
  if (!old) throw errors.notFound(res, route.name);
  if (route.subresource === 'finalize') {
    // namespaces/NAME/finalize: only spec.finalizers changes (how a stuck namespace is released).
    const next = JSON.parse(JSON.stringify(old));
    next.spec = Object.assign({}, next.spec, { finalizers: (body.spec && body.spec.finalizers) || [] });
    if (body.metadata.resourceVersion) next.metadata.resourceVersion = body.metadata.resourceVersion;
    return sendJSON(ctx.res, 200, encodeOne(ctx, route, ctx.store.update(res, next, { dryRun })));
  }
  const { obj, warnings } = validate(ctx, res, body, 'update');
  const updated = ctx.store.update(res, recordManager(ctx, old, obj, route.subresource), { dryRun, subresource: route.subresource });
  sendJSON(ctx.res, 200, encodeOne(ctx, route, updated), warningHeaders(warnings));
}

function applyConflict(conflicts) {
  const byManager = new Map();
  for (const c of conflicts) {
    if (!byManager.has(c.manager)) byManager.set(c.manager, []);
    byManager.get(c.manager).push(c.field);
  }
  let message;
  if (conflicts.length === 1) message = `Apply failed with 1 conflict: conflict with "${conflicts[0].manager}": ${conflicts[0].field}`;
  else {
    message = `Apply failed with ${conflicts.length} conflicts: ` + [...byManager].map(([m, fields]) =>
      (fields.length === 1 ? `conflict with "${m}": ${fields[0]}` : `conflicts with "${m}":\n${fields.map((f) => `- ${f}`).join('\n')}`)).join('\n');
  }
  const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field }));
  return new StatusError(409, 'Conflict', message, { causes });
}

// Under Warn/Ignore the applied configuration loses its unknown fields before the merge, so the manager never
// owns them (the real server decodes an apply patch with its schema first). Returns the warnings to send.
function pruneApplied(ctx, applied) {
  const v = ctx.validator;
  const fieldValidation = fieldValidationOf(ctx.query);
  if (fieldValidation === 'Strict' || !v || !v.prune || (v.hasKind && !v.hasKind(applied.apiVersion, applied.kind))) {
    return { applied, warnings: [] };
  }
  const result = v.validate(applied, { fieldValidation, operation: 'update' }) || {};
  const unknown = new Set((result.unknownFields || []).map((p) => `unknown field "${p}"`));
  return { applied: v.prune(applied) || applied, warnings: (result.warnings || []).filter((w) => unknown.has(w)) };
}

function serverSideApply(ctx, route, live, config) {
  const manager = ctx.query.fieldManager;
  if (!manager) {
    throw errors.invalid({ group: 'meta.k8s.io' }, 'PatchOptions', '',
      [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }]);
  }
  checkTypeMeta(route.resource, config);
  checkNamespaceAndName(route, config);
  const { applied, warnings } = pruneApplied(ctx, config);
  ctx.applyWarnings = warnings;
  const force = ctx.query.force === 'true';
  if (!ctx.apply) {
    // Without apply.js: a plain merge (no managedFields, no conflicts), enough for simple applies.
    return live ? mergePatch(live, applied) : applied;
  }
  const r = ctx.apply.serverSideApply(live, applied, Object.assign(ssaOptions(ctx), { manager, force, subresource: route.subresource }));
  if (r.conflicts && r.conflicts.length && !force) {
    if (ctx.apply.conflictStatus) throw StatusError.fromStatus(ctx.apply.conflictStatus(r.conflicts));
    throw applyConflict(r.conflicts);
  }
  return r.object;
}

function applyPatchDocument(ctx, route, live, kind, text) {
  const res = route.resource;
  if (kind === 'apply') return serverSideApply(ctx, route, live, parseObject(text, 'application/apply-patch+yaml'));
  if (kind === 'apply-cbor') throw errors.unsupportedMediaType('the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  const patch = parseObject(text, 'application/json');
  if (kind === 'json') return jsonPatch(live, patch);
  if (kind === 'merge') return mergePatch(live, patch);
  if (res.crd) {
    throw errors.unsupportedMediaType('the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  }
  return strategicMerge(live, patch, { mergeKeyFor: ctx.mergeKeyFor });
}

async function patch(ctx, route) {
  const res = route.resource;
  const kind = PATCH_TYPES[mediaType(ctx.req)];
  if (!kind) {
    throw errors.unsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${res.crd ? '' : ', application/strategic-merge-patch+json'}`);
  }
  const text = await readBody(ctx.req);
  const dryRun = dryRunOf(ctx.query);
  const live = ctx.store.getObject(res, route.namespace, route.name);
  if (!live && kind !== 'apply') throw errors.notFound(res, route.name);
  let patched = applyPatchDocument(ctx, route, live, kind, text);
  if (!patched || typeof patched !== 'object' || Array.isArray(patched)) throw errors.badRequest('the patch did not produce an object');
  checkTypeMeta(res, patched);
  checkNamespaceAndName(route, patched);
  const { obj, warnings } = validate(ctx, res, patched, live ? 'update' : 'create');
  patched = kind === 'apply' ? obj : recordManager(ctx, live, obj, route.subresource);
  const out = live
    ? ctx.store.update(res, patched, { dryRun, subresource: route.subresource })
    : ctx.store.create(res, patched, { dryRun, user: ctx.user });
  const all = [...(ctx.applyWarnings || []), ...warnings.filter((w) => !(ctx.applyWarnings || []).includes(w))];
  sendJSON(ctx.res, live ? 200 : 201, encodeOne(ctx, route, out), warningHeaders(all));
}

async function deleteOptions(ctx) {
  const buf = await readBody(ctx.req);
  let opts = {};
  if (buf.length && buf.toString().trim()) opts = parseObject(buf, 'application/json') || {};
  const q = ctx.query;
  const policy = opts.propagationPolicy || q.propagationPolicy ||
    (opts.orphanDependents === true || q.orphanDependents === 'true' ? 'Orphan' : undefined);
  if (policy && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw errors.invalid({ group: 'meta.k8s.io' }, 'DeleteOptions', '', [{ reason: 'FieldValueNotSupported', message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`, field: 'propagationPolicy' }]);
  }
  const dryRun = (opts.dryRun && opts.dryRun.includes('All')) || dryRunOf(q);
  return { propagationPolicy: policy, preconditions: opts.preconditions, dryRun };
}

function deletedResponse(route, result) {
  const res = route.resource;
  if (!result.deleted || res.crd || RETURNS_DELETED_OBJECT.has(`${res.group}/${res.resource}`)) return result.object;
  const details = { name: result.object.metadata.name, kind: res.resource, uid: result.object.metadata.uid };
  if (res.group) details.group = res.group;
  return successStatus(details);
}

async function remove(ctx, route) {
  const opts = await deleteOptions(ctx);
  const result = ctx.store.delete(route.resource, route.namespace, route.name, opts);
  sendJSON(ctx.res, 200, deletedResponse(route, result));
}

async function removeCollection(ctx, route) {
  const opts = await deleteOptions(ctx);
  const matches = selectorFor(ctx.query, route.resource.resource);
  const items = [];
  for (const o of ctx.store.listObjects(route.resource, route.namespace).filter(matches)) {
    try {
      items.push(ctx.store.delete(route.resource, o.metadata.namespace, o.metadata.name, opts).object);
    } catch (err) {
      if (err.code !== 404) throw err;
    }
  }
  sendJSON(ctx.res, 200, listBody(ctx, route, items, { resourceVersion: ctx.store.currentRV() }));
}

// The verb the authorizer sees for a request (RBAC's names).
function verbOf(method, route, query) {
  const single = route.name !== undefined;
  switch (method) {
    case 'GET': case 'HEAD':
      if (route.watch || query.watch === 'true' || query.watch === '1') return 'watch';
      return single ? 'get' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return single ? 'delete' : 'deletecollection';
    default: return method.toLowerCase();
  }
}

async function handle(ctx, route) {
  const verb = verbOf(ctx.req.method, route, ctx.query);
  const allowed = route.subresource ? route.resource.subresources[route.subresource].verbs : route.resource.verbs;
  if (!allowed.includes(verb) && !(verb === 'watch' && route.name && allowed.includes('watch'))) throw errors.methodNotAllowed();
  if (route.subresource && route.subresource !== 'status' && route.subresource !== 'finalize') throw errors.methodNotAllowed();
  switch (verb) {
    case 'get': return get(ctx, route);
    case 'list': return list(ctx, route);
    case 'watch': return watch(ctx, route);
    case 'create':
      if (route.name !== undefined) throw errors.methodNotAllowed();
      return create(ctx, route);
    case 'update': return update(ctx, route);
    case 'patch': return patch(ctx, route);
    case 'delete': return remove(ctx, route);
    case 'deletecollection': return removeCollection(ctx, route);
    default: throw errors.methodNotAllowed();
  }
}

module.exports = { handle, verbOf, apiVersionOf, qualified };
