'use strict';
// The backups barman-cloud finds in an ObjectStore, and what the plugin derives from them:
// - listBackups(objectStore, serverName) -> [{backupId, backupName, status, beginTime, endTime (Date), beginWal,
//   endWal, beginLSN, endLSN, timeline}] oldest first (barman-cloud-backup-list --format json; barman prints its
//   times with ctime(), without a zone: the lab's PostgreSQL and barman run in UTC, so they are read as UTC);
// - retentionPolicyText("30d") -> "RECOVERY WINDOW OF 30 DAYS" (the plugin's retentionPolicy syntax);
// - RecoveryWindows: on periods, for every Cluster archiving through the plugin, applies the ObjectStore's
//   retentionPolicy (barman-cloud-backup-delete, when asked) and writes ObjectStore.status.serverRecoveryWindow[server]
//   (firstRecoverabilityPoint, lastSuccessfulBackupTime, lastFailedBackupTime) and the Cluster's
//   firstRecoverabilityPoint / lastSuccessfulBackup.

const os = require('./objectstore');

const CLUSTER_GV = 'postgresql.cnpg.io/v1';
const UNITS = { d: 'DAYS', w: 'WEEKS', m: 'MONTHS' };

const rfc3339 = (d) => d.toISOString().replace(/\.\d+Z$/, 'Z');

function parseBarmanTime(text) {
  if (!text) return null;
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text} UTC`);
  return Number.isNaN(d.getTime()) ? null : d;
}

async function listBackups(objectStore, serverName) {
  const r = await os.barman('barman-cloud-backup-list', [...os.endpointArgs(objectStore), '--format', 'json',
    objectStore.destinationPath, serverName], { env: objectStore.env, timeoutMs: 300000 });
  if (r.code) throw new Error(r.message);
  const list = JSON.parse(r.stdout || '{"backups_list":[]}').backups_list || [];
  return list.map((b) => ({
    backupId: b.backup_id, backupName: b.backup_name || null, status: b.status, beginTime: parseBarmanTime(b.begin_time),
    endTime: parseBarmanTime(b.end_time), beginWal: b.begin_wal, endWal: b.end_wal, beginLSN: b.begin_xlog, endLSN: b.end_xlog,
    timeline: b.timeline,
  })).sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
}

function retentionPolicyText(policy) {
  const m = /^([1-9][0-9]*)([dwm])$/.exec(String(policy || ''));
  return m ? `RECOVERY WINDOW OF ${m[1]} ${UNITS[m[2]]}` : null;
}

function recoveryWindow(backups) {
  const done = backups.filter((b) => b.status === 'DONE' && b.endTime);
  const failed = backups.filter((b) => b.status === 'FAILED');
  const window = {};
  if (done.length) {
    window.firstRecoverabilityPoint = rfc3339(done[0].endTime);
    window.lastSuccessfulBackupTime = rfc3339(done[done.length - 1].endTime);
  }
  const lastFailed = failed.length ? failed[failed.length - 1] : null;
  if (lastFailed && (lastFailed.endTime || lastFailed.beginTime)) window.lastFailedBackupTime = rfc3339(lastFailed.endTime || lastFailed.beginTime);
  return window;
}

class RecoveryWindows {
  constructor({ store, log }) {
    Object.assign(this, { store, log });
    this.busy = false;
  }

  async tick({ retention = false } = {}) {
    if (this.busy) return;
    this.busy = true;
    try {
      let clusters = [];
      try { clusters = this.store.list(CLUSTER_GV, 'Cluster'); } catch { /* not served */ }
      await Promise.all(clusters.filter((c) => !c.metadata.deletionTimestamp && os.walArchiverPlugin(c))
        .map((c) => this.refreshCluster(c, { retention }).catch((err) => this.log(`barman: ${c.metadata.name}: ${err.message}`))));
    } finally {
      this.busy = false;
    }
  }

  async refreshCluster(cluster, { retention = false } = {}) {
    const plugin = os.walArchiverPlugin(cluster);
    const objectStore = os.resolve(this.store, cluster.metadata.namespace, (plugin.parameters || {}).barmanObjectName);
    const server = os.serverNameOf(cluster, plugin);
    const policy = retentionPolicyText(objectStore.retentionPolicy);
    if (retention && policy) {
      const r = await os.barman('barman-cloud-backup-delete', [...os.endpointArgs(objectStore), '--retention-policy', policy,
        objectStore.destinationPath, server], { env: objectStore.env, timeoutMs: 120000 });
      if (r.code) this.log(`barman: retention of ${server}: ${r.message}`);
    }
    const window = recoveryWindow(await listBackups(objectStore, server));
    this.writeObjectStore(cluster.metadata.namespace, objectStore.name, server, window);
    this.writeCluster(cluster, window);
    return window;
  }

  writeObjectStore(namespace, name, server, window) {
    const fresh = this.store.get(os.GROUP_VERSION, 'ObjectStore', namespace, name);
    if (!fresh) return;
    const windows = Object.assign({}, (fresh.status || {}).serverRecoveryWindow);
    if (JSON.stringify(windows[server]) === JSON.stringify(window)) return;
    windows[server] = window;
    fresh.status = Object.assign({}, fresh.status, { serverRecoveryWindow: windows });
    this.store.updateStatus(fresh);
  }

  writeCluster(cluster, window) {
    const fresh = this.store.get(CLUSTER_GV, 'Cluster', cluster.metadata.namespace, cluster.metadata.name);
    if (!fresh || fresh.metadata.uid !== cluster.metadata.uid) return;
    const st = fresh.status || {};
    if (st.firstRecoverabilityPoint === window.firstRecoverabilityPoint && st.lastSuccessfulBackup === window.lastSuccessfulBackupTime) return;
    fresh.status = Object.assign({}, st);
    if (window.firstRecoverabilityPoint) fresh.status.firstRecoverabilityPoint = window.firstRecoverabilityPoint;
    else delete fresh.status.firstRecoverabilityPoint;
    if (window.lastSuccessfulBackupTime) fresh.status.lastSuccessfulBackup = window.lastSuccessfulBackupTime;
    else delete fresh.status.lastSuccessfulBackup;
    this.store.updateStatus(fresh);
  }
}

module.exports = { listBackups, retentionPolicyText, recoveryWindow, parseBarmanTime, RecoveryWindows, rfc3339 };
