'use strict';
// The barman-cloud plugin's side of the lab (index.js loads it; the contract is described there):
// - archiveSettings(cluster, store): archive_command running barman-cloud-wal-archive (through barman-wal.js)
//   with the ObjectStore's destinationPath, endpointURL and wal.compression, and the s3Credentials as env;
// - restoreBeforeStart(cluster, dataDir): bootstrap.recovery (recovery.js);
// - start({dir, store, log, setClusterCondition}): keeps each archiving Cluster's ContinuousArchiving condition
//   from its primary's last archive outcome (True with the first archived segment, False with barman's message),
//   each ObjectStore's status.serverRecoveryWindow and the Cluster's firstRecoverabilityPoint /
//   lastSuccessfulBackup from the backups in the bucket (every 30 s and after each Backup), applies retentionPolicy
//   (barman-cloud-backup-delete) every 5 minutes (LAB_BARMAN_RETENTION_MS in the daemon's environment), and runs
//   the Backup (backup.js) and ScheduledBackup (scheduled-backup.js) controllers.

const fs = require('fs');
const path = require('path');
const os = require('./objectstore');
const catalog = require('./barman-catalog');
const recovery = require('./recovery');
const { BackupController } = require('./backup');
const { ScheduledBackupController } = require('./scheduled-backup');

const CLUSTER_GV = 'postgresql.cnpg.io/v1';
const ARCHIVE_POLL_MS = 1000;
const WINDOW_PERIOD_MS = 30000;
const RETENTION_PERIOD_MS = Number(process.env.LAB_BARMAN_RETENTION_MS) || 300000;
const WAL_SCRIPT = path.join(__dirname, 'barman-wal.js');


function clusterDir(dir, cluster) {
  return path.join(dir, 'cnpg', 'data', cluster.metadata.namespace, cluster.metadata.name);
}

function archiveSettings(cluster, store) {
  const plugin = os.walArchiverPlugin(cluster);
  if (!plugin) return null;
  let objectStore;
  try {
    objectStore = os.resolve(store, cluster.metadata.namespace, (plugin.parameters || {}).barmanObjectName);
  } catch {
    return null; // the ContinuousArchiving condition says why
  }
  const argv = [process.execPath, WAL_SCRIPT, 'archive', ...os.endpointArgs(objectStore), ...objectStore.walFlags,
    objectStore.destinationPath, os.serverNameOf(cluster, plugin)];
  return { archive_command: `${argv.map(os.shellQuote).join(' ')} %p`, env: objectStore.env };
}

function restoreBeforeStart(cluster, dataDir) {
  return recovery.restore(module.exports.context, cluster, dataDir);
}

const condition = (c, type) => (((c.status || {}).conditions) || []).find((x) => x.type === type);

class ArchivingWatcher {
  constructor({ dir, store, setClusterCondition }) {
    Object.assign(this, { dir, store, setClusterCondition });
  }

  archivingClusters() {
    let list = [];
    try { list = this.store.list(CLUSTER_GV, 'Cluster'); } catch { /* not served */ }
    return list.filter((c) => !c.metadata.deletionTimestamp && os.walArchiverPlugin(c));
  }

  wanted(cluster) {
    const plugin = os.walArchiverPlugin(cluster);
    try {
      os.resolve(this.store, cluster.metadata.namespace, (plugin.parameters || {}).barmanObjectName);
    } catch (err) {
      return { status: 'False', reason: 'ContinuousArchivingFailing', message: err.message };
    }
    const primary = (cluster.status || {}).currentPrimary;
    if (!primary) return null;
    let outcome;
    try { outcome = JSON.parse(fs.readFileSync(path.join(clusterDir(this.dir, cluster), primary, 'archive-status.json'), 'utf8')); } catch { return null; }
    if (outcome.ok) return { status: 'True', reason: 'ContinuousArchivingSuccess', message: 'Continuous archiving is working' };
    return { status: 'False', reason: 'ContinuousArchivingFailing', message: outcome.message };
  }

  // Once the archive of a cluster was checked and written to, no instance checks it again (a promoted replica
  // archives into the same server).
  markChecked(cluster) {
    const base = clusterDir(this.dir, cluster);
    let pods = [];
    try { pods = fs.readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()); } catch { return; }
    for (const d of pods) {
      const marker = path.join(base, d.name, 'archive-checked');
      if (!fs.existsSync(marker)) { try { fs.writeFileSync(marker, ''); } catch { /* pod gone */ } }
    }
  }

  clearRecovery() {
    let list = [];
    try { list = this.store.list(CLUSTER_GV, 'Cluster'); } catch { return; }
    for (const c of list) {
      const primary = (c.status || {}).currentPrimary;
      if (primary && ((c.spec || {}).bootstrap || {}).recovery) recovery.clearRecoverySettings(path.join(clusterDir(this.dir, c), primary, 'pgdata'));
    }
  }

  tick() {
    this.clearRecovery();
    for (const cluster of this.archivingClusters()) {
      const want = this.wanted(cluster);
      if (!want) continue;
      if (want.status === 'True') this.markChecked(cluster);
      const have = condition(cluster, 'ContinuousArchiving');
      if (have && have.status === want.status && have.message === want.message) continue;
      this.setClusterCondition(cluster, Object.assign({ type: 'ContinuousArchiving' }, want));
    }
  }
}

function start({ dir, store, log = () => {}, setClusterCondition }) {
  const context = { dir, store, log, setClusterCondition };
  module.exports.context = context;
  const watcher = new ArchivingWatcher(context);
  const windows = new catalog.RecoveryWindows(context);
  context.refreshWindow = (cluster) => windows.refreshCluster(cluster);
  const backups = new BackupController(context);
  const scheduled = new ScheduledBackupController(context);
  const timers = [
    setInterval(() => { try { watcher.tick(); } catch (err) { log(`barman: archiving: ${err.message}`); } }, ARCHIVE_POLL_MS),
    setInterval(() => windows.tick(), WINDOW_PERIOD_MS),
    setInterval(() => windows.tick({ retention: true }), RETENTION_PERIOD_MS),
  ];
  for (const t of timers) t.unref();
  backups.start();
  scheduled.start();
  return {
    close() {
      for (const t of timers) clearInterval(t);
      backups.close();
      scheduled.close();
    },
  };
}

module.exports = { start, archiveSettings, restoreBeforeStart, context: null };
