'use strict';
// Helpers shared by the workload controllers (workloads.js, jobs.js) and the fake kubelet: owner references,
// pod readiness and activity as the controllers read them, conditions with the timestamps the real controllers
// keep, percent-or-count values (maxSurge), a stable template hash, and pods made from a template.

const crypto = require('crypto');

const nowISO = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const clone = (o) => (o === undefined ? undefined : JSON.parse(JSON.stringify(o)));

function controllerRef(owner, apiVersion, kind) {
  return { apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}

const controlledBy = (obj, uid) => (obj.metadata.ownerReferences || []).some((r) => r.controller && r.uid === uid);

const conditionOf = (obj, type) => (((obj && obj.status) || {}).conditions || []).find((c) => c.type === type);

const podReady = (p) => { const c = conditionOf(p, 'Ready'); return !!c && c.status === 'True'; };
const podTerminal = (p) => ['Succeeded', 'Failed'].includes(p.status && p.status.phase);
const podActive = (p) => !p.metadata.deletionTimestamp && !podTerminal(p);

// Ready for at least minReadySeconds at `now` (ms).
function podAvailable(p, minReadySeconds, now) {
  if (!podReady(p)) return false;
  if (!minReadySeconds) return true;
  const since = Date.parse(conditionOf(p, 'Ready').lastTransitionTime || 0);
  return since + minReadySeconds * 1000 <= now;
}

// Sets a condition in `conditions` (an array, changed in place). The transition time moves only when the
// status changes; the update time (for types that have one) whenever status, reason or message change, or
// when `touch` asks for it (progress made).
function setCondition(conditions, cond, { withUpdateTime = false, touch = false } = {}) {
  const t = nowISO();
  const i = conditions.findIndex((c) => c.type === cond.type);
  const old = i >= 0 ? conditions[i] : null;
  const same = old && old.status === cond.status && old.reason === cond.reason && old.message === cond.message;
  if (same && !touch) return conditions;
  const next = withUpdateTime ? { type: cond.type, status: cond.status, lastUpdateTime: t } : { type: cond.type, status: cond.status };
  next.lastTransitionTime = old && old.status === cond.status ? old.lastTransitionTime : t;
  if (!withUpdateTime && cond.lastProbeTime !== undefined) next.lastProbeTime = cond.lastProbeTime;
  next.reason = cond.reason;
  next.message = cond.message;
  if (i >= 0) conditions[i] = next;
  else conditions.push(next);
  return conditions;
}

// An int-or-percent value (maxSurge "25%") against a total, rounded up or down as the controllers do.
function scaledValue(value, total, roundUp) {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(String(value));
  if (!m) return Number(value) || 0;
  const exact = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

// JSON with sorted keys, where null and empty objects count as absent (as in the API's Go types: a client's
// `resources: {}` or `creationTimestamp: null` is the same template as none).
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const parts = Object.keys(v).sort().map((k) => [k, canonical(v[k])]).filter(([, c]) => c !== undefined);
    return parts.length ? `{${parts.map(([k, c]) => `${JSON.stringify(k)}:${c}`).join(',')}}` : undefined;
  }
  return v === null ? undefined : JSON.stringify(v);
}

// A short name-safe hash of a pod template (the pod-template-hash label's value).
function templateHash(template) {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const digest = crypto.createHash('sha256').update(canonical(template)).digest();
  let s = '';
  for (let i = 0; i < 10; i++) s += alphabet[digest[i] % alphabet.length];
  return s;
}

// A Pod object from a pod template, owned by `owner`.
function podFromTemplate(template, owner, ownerRef, extraLabels = {}) {
  const md = (template && template.metadata) || {};
  const metadata = {
    generateName: `${owner.metadata.name}-`, namespace: owner.metadata.namespace,
    labels: Object.assign({}, md.labels, extraLabels), ownerReferences: [ownerRef],
  };
  if (md.annotations) metadata.annotations = clone(md.annotations);
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: clone((template && template.spec) || {}) };
}

// Drops zero counters, as the real controllers' omitempty fields do.
function withoutZeros(status, keep = []) {
  for (const [k, v] of Object.entries(status)) if (v === 0 && !keep.includes(k)) delete status[k];
  return status;
}

module.exports = {
  nowISO, clone, controllerRef, controlledBy, conditionOf, podReady, podTerminal, podActive, podAvailable,
  setCondition, scaledValue, canonical, templateHash, podFromTemplate, withoutZeros,
};
