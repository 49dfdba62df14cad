'use strict';
// Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field selectors
// (`metadata.name=x`, `metadata.namespace!=y`, plus the few per-type fields the real server indexes),
// parsed into predicates over objects. Syntax errors throw a BadRequest StatusError as the server does.

const { errors } = require('./errors');

function splitTopLevel(text) {
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseRequirement(term) {
  let m = /^!\s*([^\s!=()]+)$/.exec(term);
  if (m) return { key: m[1], op: '!' };
  m = /^([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) return { key: m[1], op: m[2], values: m[3].split(',').map((v) => v.trim()) };
  m = /^([^\s!=()]+)\s*(==|!=|=)\s*([^\s!=(),]*)$/.exec(term);
  if (m) return { key: m[1], op: m[2] === '==' ? '=' : m[2], values: [m[3]] };
  m = /^([^\s!=()]+)$/.exec(term);
  if (m) return { key: m[1], op: 'exists' };
  throw errors.badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
}

function matchRequirement(req, labels) {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  const value = labels[req.key];
  switch (req.op) {
    case '=': return has && value === req.values[0];
    case '!=': return !has || value !== req.values[0];
    case 'in': return has && req.values.includes(value);
    case 'notin': return !has || !req.values.includes(value);
    case 'exists': return has;
    case '!': return !has;
    default: return false;
  }
}

function parseLabelSelector(text) {
  if (!text) return () => true;
  const reqs = splitTopLevel(text).map(parseRequirement);
  return (obj) => {
    const labels = (obj.metadata && obj.metadata.labels) || {};
    return reqs.every((r) => matchRequirement(r, labels));
  };
}

// Fields the real server accepts in a field selector, per resource (metadata.* everywhere).
const EXTRA_FIELDS = {
  pods: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase',
    'status.podIP', 'status.nominatedNodeName'],
  secrets: ['type'],
  events: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
    'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason',
    'reportingComponent', 'source', 'type'],
  namespaces: ['status.phase'],
  jobs: ['status.successful'],
};

function fieldValue(obj, path) {
  let cur = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = cur[part];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

function parseFieldSelector(text, resource) {
  if (!text) return () => true;
  const allowed = ['metadata.name', 'metadata.namespace'].concat(EXTRA_FIELDS[resource] || []);
  const reqs = splitTopLevel(text).map((term) => {
    const m = /^([^!=\s]+)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) throw errors.badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    if (!allowed.includes(m[1])) throw errors.badRequest(`field label not supported: ${m[1]}`);
    return { key: m[1], neg: m[2] === '!=', value: m[3] };
  });
  return (obj) => reqs.every((r) => (fieldValue(obj, r.key) === r.value) !== r.neg);
}

// A predicate for list/watch options (labelSelector, fieldSelector).
function selectorFor(query, resource) {
  const byLabel = parseLabelSelector(query.labelSelector);
  const byField = parseFieldSelector(query.fieldSelector, resource);
  return (obj) => byLabel(obj) && byField(obj);
}

module.exports = { parseLabelSelector, parseFieldSelector, selectorFor };
