'use strict';
// bootstrap.recovery through the barman-cloud plugin (barman.js's restoreBeforeStart): before the first instance
// of a recovering Cluster starts, in the daemon,
// - finds the source: `source` naming an externalClusters entry whose `plugin` gives barmanObjectName and
//   serverName, or `backup.name` (a completed Backup object);
// - refuses, as CNPG does, to archive into a server that already holds WAL: barman-cloud-check-wal-archive on the
//   new Cluster's own ObjectStore/serverName ("Expected empty archive");
// - picks the base backup: recoveryTarget.backupID, else the newest one that ended before targetTime / at or
//   before targetLSN, else the newest (barman-cloud 3.4's restore has no target option); none is CNPG's
//   "no target backup found" (a target before the first recoverability point, a store without backups);
// - barman-cloud-restore into dataDir, then restore_command (barman-cloud-wal-restore through barman-wal.js, the
//   source's credentials in a 0600 file, never argv), recovery_target_* with recovery_target_action = promote in
//   postgresql.auto.conf, and recovery.signal. PostgreSQL replays, stops at the target and promotes; a target past
//   the last archived WAL makes it stop with "recovery ended before configured recovery target was reached".
// A refusal is written to the Cluster's phaseReason and retried no more often than every RETRY_MS.

const fs = require('fs');
const path = require('path');
const os = require('./objectstore');
const catalog = require('./barman-catalog');

const GV = 'postgresql.cnpg.io/v1';
const RETRY_MS = 20000;
const WAL_SCRIPT = path.join(__dirname, 'barman-wal.js');
const MARKER = '# bootstrap.recovery (lab)';
const refused = new Map(); // cluster uid -> {message, at}

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;

class RecoveryError extends Error {}

function lsnValue(text) {
  const [hi, lo] = String(text || '0/0').split('/');
  return BigInt(`0x${hi}`) * 2n ** 32n + BigInt(`0x${lo || 0}`);
}

// {objectStore, serverName, backupID?} of the recovery source.
function sourceOf(store, cluster, recovery) {
  const ns = cluster.metadata.namespace;
  if (recovery.backup && recovery.backup.name) {
    const backup = store.get(GV, 'Backup', ns, recovery.backup.name);
    if (!backup) throw new RecoveryError(`backup "${recovery.backup.name}" not found`);
    const st = backup.status || {};
    if (st.phase !== 'completed') throw new RecoveryError(`backup "${recovery.backup.name}" is not completed`);
    const origin = store.get(GV, 'Cluster', ns, backup.spec.cluster.name);
    const plugin = origin && os.walArchiverPlugin(origin);
    if (!plugin) throw new RecoveryError(`the cluster of backup "${recovery.backup.name}" does not use the ${os.PLUGIN_NAME} plugin`);
    return { objectStore: os.resolve(store, ns, plugin.parameters.barmanObjectName), serverName: st.serverName, backupID: st.backupId };
  }
  const ext = ((cluster.spec || {}).externalClusters || []).find((e) => e.name === recovery.source);
  if (!ext) throw new RecoveryError(`missing external cluster: ${recovery.source}`);
  const params = (ext.plugin || {}).parameters || {};
  if ((ext.plugin || {}).name !== os.PLUGIN_NAME || !params.barmanObjectName) {
    throw new RecoveryError(`external cluster ${ext.name} has no ${os.PLUGIN_NAME} plugin with a barmanObjectName`);
  }
  return { objectStore: os.resolve(store, ns, params.barmanObjectName), serverName: params.serverName || ext.name };
}

function chooseBackup(backups, target, backupID) {
  const done = backups.filter((b) => b.status === 'DONE' && b.endTime);
  const id = target.backupID || backupID;
  if (id) return done.find((b) => b.backupId === id) || null;
  if (target.targetTime) {
    const t = new Date(target.targetTime);
    if (Number.isNaN(t.getTime())) throw new RecoveryError(`cannot parse targetTime ${target.targetTime}`);
    return done.filter((b) => b.endTime < t).pop() || null;
  }
  if (target.targetLSN) return done.filter((b) => lsnValue(b.endLSN) <= lsnValue(target.targetLSN)).pop() || null;
  return done.pop() || null;
}

function recoverySettings(target) {
  // hot_standby off: no connection (so no readiness, no early pg_promote) until the target is reached and promoted
  const s = { recovery_target_action: 'promote', hot_standby: 'off' };
  if (target.targetTime) s.recovery_target_time = target.targetTime;
  else if (target.targetLSN) s.recovery_target_lsn = target.targetLSN;
  else if (target.targetXID) s.recovery_target_xid = target.targetXID;
  else if (target.targetName) s.recovery_target_name = target.targetName;
  else if (target.targetImmediate) s.recovery_target = 'immediate';
  if (target.exclusive) s.recovery_target_inclusive = 'off';
  if (target.targetTLI) s.recovery_target_timeline = target.targetTLI;
  return s;
}

// Refuses to archive into a server that already holds WAL (the new Cluster's own store).
async function checkOwnArchive(store, cluster) {
  const plugin = os.walArchiverPlugin(cluster);
  if (!plugin) return;
  const own = os.resolve(store, cluster.metadata.namespace, (plugin.parameters || {}).barmanObjectName);
  const r = await os.barman('barman-cloud-check-wal-archive', [...os.endpointArgs(own), own.destinationPath, os.serverNameOf(cluster, plugin)], { env: own.env });
  if (r.code) throw new RecoveryError(r.message);
}

async function restoreInto(cluster, dataDir, store) {
  const recovery = cluster.spec.bootstrap.recovery;
  const target = recovery.recoveryTarget || {};
  const source = sourceOf(store, cluster, recovery);
  await checkOwnArchive(store, cluster);
  const backup = chooseBackup(await catalog.listBackups(source.objectStore, source.serverName), target, source.backupID);
  if (!backup) throw new RecoveryError('no target backup found');
  const endpoint = os.endpointArgs(source.objectStore);
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const r = await os.barman('barman-cloud-restore', [...endpoint, source.objectStore.destinationPath, source.serverName, backup.backupId, dataDir],
    { env: source.objectStore.env, timeoutMs: 600000 });
  if (r.code) throw new RecoveryError(`barman-cloud-restore: ${r.message}`);
  const envFile = path.join(path.dirname(dataDir), 'restore-env.json');
  fs.writeFileSync(envFile, JSON.stringify(source.objectStore.env), { mode: 0o600 });
  const restoreArgv = [process.execPath, WAL_SCRIPT, 'restore', envFile, ...endpoint, source.objectStore.destinationPath, source.serverName];
  const settings = Object.assign({ restore_command: `${restoreArgv.map(os.shellQuote).join(' ')} %f %p` }, recoverySettings(target));
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`);
  fs.appendFileSync(path.join(dataDir, 'postgresql.auto.conf'), `\n${MARKER}\n${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(dataDir, 'recovery.signal'), '');
  fs.rmSync(path.join(dataDir, 'standby.signal'), { force: true });
  fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
  return backup;
}

function writeRefusal(store, cluster, message) {
  const fresh = store.get(GV, 'Cluster', cluster.metadata.namespace, cluster.metadata.name);
  if (!fresh) return;
  fresh.status = Object.assign({}, fresh.status, { phase: 'Setting up primary', phaseReason: `Cannot recover: ${message}` });
  store.updateStatus(fresh);
}

async function restore(context, cluster, dataDir) {
  const { store, log } = context;
  const uid = cluster.metadata.uid;
  const last = refused.get(uid);
  if (last && Date.now() - last.at < RETRY_MS) throw new Error(last.message);
  try {
    const backup = await restoreInto(cluster, dataDir, store);
    refused.delete(uid);
    log(`barman: ${cluster.metadata.namespace}/${cluster.metadata.name}: restored base backup ${backup.backupId}`);
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    const message = err instanceof RecoveryError || err instanceof os.StoreError ? err.message : `recovery failed: ${err.message}`;
    refused.set(uid, { message, at: Date.now() });
    writeRefusal(store, cluster, message);
    throw new Error(message);
  }
}

// Once the instance promoted (no recovery.signal), the recovery settings leave postgresql.auto.conf (a later
// demotion to replica must not inherit hot_standby = off).
function clearRecoverySettings(dataDir) {
  const file = path.join(dataDir, 'postgresql.auto.conf');
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return false; }
  const at = text.indexOf(MARKER);
  if (at < 0 || fs.existsSync(path.join(dataDir, 'recovery.signal'))) return false;
  fs.writeFileSync(file, text.slice(0, at).replace(/\n+$/, '\n'));
  return true;
}

module.exports = { restore, clearRecoverySettings, chooseBackup, recoverySettings };
