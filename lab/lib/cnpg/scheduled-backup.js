'use strict';
// ScheduledBackup objects (postgresql.cnpg.io/v1) as CNPG's controller runs them, once the operator's Deployment
// is Available: `schedule` is a 6-field cron expression with seconds (sec min hour day-of-month month
// day-of-week: `*`, `?`, lists, ranges, steps, month and day names) or a descriptor (`@every 10s`, `@hourly`,
// `@daily`, ...); `immediate` takes a Backup at once; `suspend` stops it; `backupOwnerReference` none | self |
// cluster. Each Backup is named `<scheduledbackup>-<YYYYMMDDhhmmss>` (the schedule time, UTC) with the labels
// CNPG puts on it, and status lastCheckTime, lastScheduleTime, nextScheduleTime are kept.

// operator.js (the operator side) is loaded when first needed, so the pure parts load on their own.
const operatorPod = (store) => require('./operator').operatorPod(store);

const GV = 'postgresql.cnpg.io/v1';
const POLL_MS = 500;
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const BOUNDS = [[0, 59], [0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
const DESCRIPTORS = { '@yearly': '0 0 0 1 1 *', '@annually': '0 0 0 1 1 *', '@monthly': '0 0 0 1 * *', '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *', '@midnight': '0 0 0 * * *', '@hourly': '0 0 * * * *' };
const UNIT_MS = { ms: 1, s: 1000, m: 60000, h: 3600000 };

const rfc3339 = (d) => d.toISOString().replace(/\.\d+Z$/, 'Z');
const compactISO = (d) => d.toISOString().replace(/\.\d+Z$/, '').replace(/[-:T]/g, '');

function fieldValue(text, i) {
  const names = i === 4 ? MONTHS : i === 5 ? DAYS : null;
  const idx = names ? names.indexOf(text.toUpperCase()) : -1;
  if (idx >= 0) return i === 4 ? idx + 1 : idx;
  if (!/^\d+$/.test(text)) throw new Error(`bad value "${text}"`);
  return Number(text);
}

// One cron field into the set of values it allows, and whether it was a wildcard.
function parseField(text, i) {
  const [lo, hi] = BOUNDS[i];
  const values = new Set();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`bad step in "${part}"`);
    let from;
    let to;
    if (range === '*' || range === '?') [from, to] = [lo, hi];
    else if (range.includes('-')) [from, to] = range.split('-').map((v) => fieldValue(v, i));
    else { from = fieldValue(range, i); to = stepText === undefined ? from : hi; }
    if (from < lo || to > hi || from > to) throw new Error(`"${part}" is out of range ${lo}-${hi}`);
    for (let v = from; v <= to; v += step) values.add(i === 5 && v === 7 ? 0 : v);
  }
  return { values, any: text === '*' || text === '?' };
}

// parse(expr) -> {next(after: Date) -> Date}; throws on a bad expression.
function parse(expr) {
  const text = String(expr).trim();
  const every = /^@every\s+((?:\d+(?:ms|s|m|h))+)$/.exec(text);
  if (every) {
    let ms = 0;
    for (const m of every[1].matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
    if (ms < 1000) throw new Error('@every needs at least one second');
    return { next: (after) => new Date(Math.floor(after.getTime() / 1000) * 1000 + ms) };
  }
  const fields = (DESCRIPTORS[text] || text).split(/\s+/);
  if (fields.length !== 6) throw new Error(`expected exactly 6 fields, found ${fields.length}: ${text}`);
  const [sec, min, hour, dom, month, dow] = fields.map(parseField);
  const dayMatches = (d) => {
    const a = dom.values.has(d.getUTCDate());
    const b = dow.values.has(d.getUTCDay());
    return dom.any || dow.any ? a && b : a || b;
  };
  return {
    next(after) {
      const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
      const limit = after.getTime() + 5 * 366 * 86400e3;
      while (t.getTime() < limit) {
        if (!month.values.has(t.getUTCMonth() + 1)) { t.setUTCMonth(t.getUTCMonth() + 1, 1); t.setUTCHours(0, 0, 0); continue; }
        if (!dayMatches(t)) { t.setUTCDate(t.getUTCDate() + 1); t.setUTCHours(0, 0, 0); continue; }
        if (!hour.values.has(t.getUTCHours())) { t.setUTCHours(t.getUTCHours() + 1, 0, 0); continue; }
        if (!min.values.has(t.getUTCMinutes())) { t.setUTCMinutes(t.getUTCMinutes() + 1, 0); continue; }
        if (!sec.values.has(t.getUTCSeconds())) { t.setUTCSeconds(t.getUTCSeconds() + 1); continue; }
        return t;
      }
      return null;
    },
  };
}

class ScheduledBackupController {
  constructor({ store, log }) {
    Object.assign(this, { store, log });
    this.timer = null;
  }

  start() {
    this.timer = setInterval(() => {
      try { this.tick(); } catch (err) { this.log(`scheduled backups: ${err.message}`); }
    }, POLL_MS);
    this.timer.unref();
  }

  close() {
    clearInterval(this.timer);
  }

  tick() {
    if (!operatorPod(this.store)) return;
    let list = [];
    try { list = this.store.list(GV, 'ScheduledBackup'); } catch { return; }
    for (const sb of list) if (!sb.metadata.deletionTimestamp && !(sb.spec || {}).suspend) this.reconcile(sb, new Date());
  }

  ownerReferences(sb) {
    const mode = (sb.spec || {}).backupOwnerReference || 'none';
    if (mode === 'self') return [{ apiVersion: GV, kind: 'ScheduledBackup', name: sb.metadata.name, uid: sb.metadata.uid, controller: true, blockOwnerDeletion: true }];
    if (mode === 'cluster') {
      const cluster = this.store.get(GV, 'Cluster', sb.metadata.namespace, sb.spec.cluster.name);
      if (cluster) return [{ apiVersion: GV, kind: 'Cluster', name: cluster.metadata.name, uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true }];
    }
    return undefined;
  }

  createBackup(sb, when, immediate) {
    const spec = sb.spec || {};
    const labels = { 'cnpg.io/cluster': spec.cluster.name, 'cnpg.io/scheduled-backup': sb.metadata.name };
    if (immediate) labels['cnpg.io/immediateBackup'] = 'true';
    const backupSpec = { cluster: { name: spec.cluster.name } };
    for (const k of ['method', 'pluginConfiguration', 'target', 'online', 'onlineConfiguration']) if (spec[k] !== undefined) backupSpec[k] = spec[k];
    const backup = { apiVersion: GV, kind: 'Backup', spec: backupSpec,
      metadata: { name: `${sb.metadata.name}-${compactISO(when)}`, namespace: sb.metadata.namespace, labels, ownerReferences: this.ownerReferences(sb) } };
    if (!backup.metadata.ownerReferences) delete backup.metadata.ownerReferences;
    try {
      this.store.createObject(backup);
    } catch (err) {
      if (err.code !== 409) throw err;
    }
  }

  writeStatus(sb, patch) {
    const fresh = this.store.get(GV, 'ScheduledBackup', sb.metadata.namespace, sb.metadata.name);
    if (!fresh) return;
    fresh.status = Object.assign({}, fresh.status, patch);
    this.store.updateStatus(fresh);
  }

  reconcile(sb, at) {
    let schedule;
    try { schedule = parse(sb.spec.schedule); } catch (err) { this.log(`scheduled backup ${sb.metadata.name}: ${err.message}`); return; }
    const st = sb.status || {};
    if (!st.lastCheckTime) {
      // first sight: an immediate backup, then wait for the schedule
      const patch = { lastCheckTime: rfc3339(at), nextScheduleTime: rfc3339(schedule.next(at)) };
      if (sb.spec.immediate) {
        this.createBackup(sb, at, true);
        patch.lastScheduleTime = rfc3339(at);
      }
      return this.writeStatus(sb, patch);
    }
    const due = schedule.next(new Date(st.lastCheckTime));
    if (!due || due > at) return undefined;
    this.createBackup(sb, due, false);
    return this.writeStatus(sb, { lastCheckTime: rfc3339(at), lastScheduleTime: rfc3339(at), nextScheduleTime: rfc3339(schedule.next(at)) });
  }
}

module.exports = { ScheduledBackupController, parse, compactISO };
