'use strict';
// Backup objects (postgresql.cnpg.io/v1) taken through the barman-cloud plugin, as the lab plays them. Once the
// operator's Deployment is Available, a new Backup of a Cluster archiving through the plugin goes
// pending → running → completed | failed, one at a time per Cluster: barman-cloud-backup runs from the primary's
// pod network namespace as `postgres` (the instance's socket; --immediate-checkpoint, so a quiet server does not
// hold it for checkpoint_timeout), named after the Backup (-n, unless barman reserves the word), with the
// ObjectStore's data.compression and its credentials in the environment. Status as CNPG writes it: phase, method,
// backupId, backupName, beginWal, endWal, beginLSN, endLSN, startedAt, stoppedAt, serverName, destinationPath,
// instanceID, error. `target` is accepted; the lab always backs up the primary.

const path = require('path');
const os = require('./objectstore');
const catalog = require('./barman-catalog');
// operator.js (the operator side) is loaded when first needed, so the pure parts load on their own.
const operatorPod = (store) => require('./operator').operatorPod(store);

const GV = 'postgresql.cnpg.io/v1';
const POLL_MS = 1000;
const RESERVED_NAMES = new Set(['first', 'last', 'latest', 'oldest', 'last-failed']);

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const isReady = (pod) => !!pod && ((pod.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');

class BackupController {
  constructor(context) {
    this.ctx = context;
    this.store = context.store;
    this.running = new Set();
    this.timer = null;
  }

  start() {
    this.timer = setInterval(() => this.tick(), POLL_MS);
    this.timer.unref();
  }

  close() {
    clearInterval(this.timer);
  }

  writeStatus(backup, patch) {
    const fresh = this.store.get(GV, 'Backup', backup.metadata.namespace, backup.metadata.name);
    if (!fresh || fresh.metadata.uid !== backup.metadata.uid) return null;
    fresh.status = Object.assign({}, fresh.status, patch);
    return this.store.updateStatus(fresh);
  }

  tick() {
    if (!operatorPod(this.store)) return; // no operator: Backups are stored, nothing happens
    let backups = [];
    try { backups = this.store.list(GV, 'Backup'); } catch { return; }
    // one backup at a time per cluster, oldest first, as CNPG does; the others stay pending
    backups.sort((a, b) => (a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : 1));
    for (const b of backups) {
      const phase = (b.status || {}).phase;
      const key = `${b.metadata.namespace}/${((b.spec || {}).cluster || {}).name}`;
      if ((phase && phase !== 'pending') || this.running.has(key) || b.metadata.deletionTimestamp) continue;
      this.running.add(key);
      this.reconcile(b).catch((err) => this.writeStatus(b, { phase: 'failed', error: err.message, stoppedAt: now() }))
        .finally(() => this.running.delete(key));
    }
  }

  // Why this Backup cannot be taken (CNPG's messages), or null; `found` receives the cluster and object store.
  problem(backup, found) {
    const spec = backup.spec || {};
    const ns = backup.metadata.namespace;
    const cluster = this.store.get(GV, 'Cluster', ns, (spec.cluster || {}).name || '');
    if (!cluster) return { pending: true, reason: `Unknown cluster ${(spec.cluster || {}).name}` };
    found.cluster = cluster;
    const method = spec.method || 'barmanObjectStore';
    if (method !== 'plugin') {
      if (method === 'barmanObjectStore' && !((cluster.spec || {}).backup || {}).barmanObjectStore) return { reason: 'no barmanObjectStore section defined on the target cluster' };
      return { reason: `backup method ${method} is not played by the lab (use method: plugin with the barman-cloud plugin)` };
    }
    const pluginName = (spec.pluginConfiguration || {}).name;
    if (pluginName !== os.PLUGIN_NAME) return { reason: `unknown plugin: ${pluginName}` };
    const plugin = os.walArchiverPlugin(cluster);
    if (!plugin) return { reason: `the cluster does not use the ${os.PLUGIN_NAME} plugin` };
    found.plugin = plugin;
    try {
      found.objectStore = os.resolve(this.store, ns, (plugin.parameters || {}).barmanObjectName);
    } catch (err) {
      return { reason: err.message };
    }
    return null;
  }

  async reconcile(backup) {
    const found = {};
    const problem = this.problem(backup, found);
    if (problem && problem.pending) {
      if (!(backup.status || {}).phase) this.writeStatus(backup, { phase: 'pending' });
      return;
    }
    if (problem) { this.writeStatus(backup, { phase: 'failed', error: problem.reason, stoppedAt: now() }); return; }
    const { cluster, plugin, objectStore } = found;
    const serverName = os.serverNameOf(cluster, plugin);
    const base = { method: 'plugin', serverName, destinationPath: objectStore.destinationPath, endpointURL: objectStore.endpointURL || undefined };
    const primaryName = (cluster.status || {}).currentPrimary;
    const primary = primaryName && this.store.get('v1', 'Pod', cluster.metadata.namespace, primaryName);
    if (!isReady(primary)) {
      if (!(backup.status || {}).phase) this.writeStatus(backup, Object.assign({ phase: 'pending' }, base));
      return;
    }
    this.writeStatus(backup, Object.assign({ phase: 'running', startedAt: now(), instanceID: { podName: primaryName } }, base));
    const runDir = path.join(this.ctx.dir, 'cnpg', 'data', cluster.metadata.namespace, cluster.metadata.name, primaryName, 'run');
    const name = backup.metadata.name;
    const before = new Set((await catalog.listBackups(objectStore, serverName)).map((b) => b.backupId));
    const nameArgs = RESERVED_NAMES.has(name) ? [] : ['-n', name]; // barman refuses these as names
    const r = await os.barman('barman-cloud-backup', [...os.endpointArgs(objectStore), ...objectStore.dataFlags, '--immediate-checkpoint',
      '-h', runDir, '-p', '5432', '-U', 'postgres', ...nameArgs, objectStore.destinationPath, serverName],
    { env: objectStore.env, netns: os.netnsOfPod(primary), asPostgres: true, timeoutMs: 600000 });
    if (r.code) {
      this.writeStatus(backup, { phase: 'failed', error: r.message, stoppedAt: now() });
    } else {
      const list = await catalog.listBackups(objectStore, serverName);
      const done = list.filter((b) => b.backupName === name || (!nameArgs.length && !before.has(b.backupId))).pop();
      if (!done) throw new Error(`barman-cloud-backup succeeded but no backup named ${name} is listed`);
      this.writeStatus(backup, {
        phase: done.status === 'DONE' ? 'completed' : 'failed', backupId: done.backupId, backupName: name,
        beginWal: done.beginWal, endWal: done.endWal, beginLSN: done.beginLSN, endLSN: done.endLSN,
        startedAt: done.beginTime ? catalog.rfc3339(done.beginTime) : undefined, stoppedAt: done.endTime ? catalog.rfc3339(done.endTime) : now(),
        error: done.status === 'DONE' ? undefined : `barman reports the backup as ${done.status}`,
      });
    }
    if (this.ctx.refreshWindow) await this.ctx.refreshWindow(cluster).catch((err) => this.ctx.log(`barman: ${err.message}`));
  }
}

module.exports = { BackupController };
