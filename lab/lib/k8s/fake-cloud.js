'use strict';
// The readiness-only cloud and operators (`lab up --no-workloads`), beside the fake kubelet: what the cloud's
// load-balancer controller, cert-manager and CloudNativePG would write into statuses, without a pod, a network
// rule, a PostgreSQL or a byte in a bucket (the one process it runs is openssl, for cert-manager's TLS Secrets).
// Each pass runs `delayMs` (tens of ms) after a change to an object it plays, so a client sees the same transitions,
// through store.updateStatus and watches, as with workloads:
// - a `type: LoadBalancer` Service gets an ingress IP from the LB range (lbCIDR), by the node's own allocation
//   (node/services.js); nothing answers on that address;
// - cert-manager's Issuers and Certificates go Ready, with their TLS Secrets (cnpg/operator.js);
// - once the CloudNativePG operator's Deployment is Available (its pods made Ready by the fake kubelet), a Cluster
//   is given CNPG's healthy status: phase "Cluster in healthy state", Ready True, currentPrimary and targetPrimary
//   `<cluster>-1`, readyInstances = instances. No instance pod, `-rw`/`-ro`/`-r` Service or `-app` Secret is
//   created, so nothing can connect to it: skip smoke checks. A Cluster naming a plugin the operator does not know
//   gets CNPG's unknown-plugin phase instead (not Ready);
// - a Backup (method plugin, barman-cloud) goes pending → running (once its Cluster is Ready) → completed, with a
//   backupId, beginWal/endWal, beginLSN/endLSN, startedAt/stoppedAt, serverName and destinationPath as barman
//   would report them. NOTHING IS WRITTEN TO THE BUCKET: a client that lists it finds no base backup and no WAL,
//   and a recovery from such a Backup has nothing to restore. Backups of ScheduledBackups are made on schedule
//   (cnpg/scheduled-backup.js), and CNPG's validating webhooks refuse what CNPG refuses (cnpg/webhook.js).
// Like the fake kubelet, it is for benchmarks that measure the client, not for checking what a database does.

const { NetworkController } = require('../node/services');
const operator = require('../cnpg/operator');
const webhook = require('../cnpg/webhook');
const { ClusterController, PHASE } = require('../cnpg/cluster');
const { BackupController } = require('../cnpg/backup');
const { ScheduledBackupController } = require('../cnpg/scheduled-backup');
const { serveWebhookConfigurations } = require('../cnpg');
const objectStore = require('../cnpg/objectstore');

const CNPG = 'postgresql.cnpg.io/v1';
// The resources whose changes call for each part of a pass; the operator's own (pods, Deployments, the plugin's
// Services) only in the operator's namespace once it is found, so tenants' pods do not wake the CloudNativePG part.
const CERT_MANAGER = new Set(['certificates', 'issuers', 'clusterissuers']);
const CNPG_OBJECTS = new Set(['clusters', 'backups', 'objectstores', 'secrets']);
const OPERATOR_OBJECTS = new Set(['pods', 'deployments', 'services']);
const WAL_SEGMENTS_PER_BACKUP = 2; // a backup's checkpoint and its WAL switch: each backup starts on a new segment

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const backupId = (d) => d.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '');
const hex = (n, width) => n.toString(16).toUpperCase().padStart(width, '0');

class FakeCloud {
  constructor({ store, registry, validator, ranges, delayMs = 30, log = () => {} }) {
    Object.assign(this, { store, ranges, delayMs, log });
    this.timer = null;
    this.stopped = false;
    this.due = new Set(['loadBalancers', 'certManager', 'cnpg']);
    this.operatorNamespace = null; // where the operator's pod was found, so other pods' changes do not wake the CNPG part
    this.walSegment = new Map(); // Cluster uid → the last WAL segment number a fake backup used
    serveWebhookConfigurations(registry, validator);
    webhook.install(store);
    this.scheduled = new ScheduledBackupController({ store, log });
    this.scheduled.start();
    this.onEvent = (e) => this.changed(e);
    store.on('event', this.onEvent);
    this.schedule();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.scheduled.close();
    this.store.removeListener('event', this.onEvent);
  }

  changed(e) {
    const resource = e.resource.resource;
    const nearOperator = !this.operatorNamespace || e.object.metadata.namespace === this.operatorNamespace;
    if (resource === 'services') this.due.add('loadBalancers');
    if (CERT_MANAGER.has(resource)) this.due.add('certManager');
    if (CNPG_OBJECTS.has(resource) || (OPERATOR_OBJECTS.has(resource) && nearOperator)) this.due.add('cnpg');
    if (this.due.size) this.schedule();
  }

  attempt(name, fn) {
    try { fn(); } catch (err) { this.log(`fake cloud: ${name}: ${err.message}`); }
  }

  schedule() {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => { this.timer = null; this.sync(); }, this.delayMs);
  }

  // One pass over every object of the parts a change called for; each writes only what changed, so its own writes
  // settle it.
  sync() {
    if (this.stopped) return;
    const due = this.due;
    this.due = new Set();
    const step = (name, fn) => { if (due.has(name)) this.attempt(name, fn); };
    // NetworkController's allocation reads only store, ranges and log, which this object has too.
    step('loadBalancers', () => NetworkController.prototype.assignLoadBalancers.call(this, this.store.list('v1', 'Service')));
    step('certManager', () => operator.reconcileCertManager(this.store, this.log));
    step('cnpg', () => this.playOperator());
  }

  playOperator() {
    const op = operator.operatorPod(this.store);
    this.operatorNamespace = op ? op.metadata.namespace : null;
    if (!op) return; // as on a cluster without the operator: the objects are stored, nothing happens
    this.attempt('clusters', () => {
      const known = operator.knownPlugins(this.store, op);
      for (const c of this.served('Cluster')) this.reconcileCluster(c, known);
    });
    this.attempt('backups', () => { for (const b of this.served('Backup')) this.reconcileBackup(b); });
  }

  served(kind) {
    try { return this.store.list(CNPG, kind).filter((o) => !o.metadata.deletionTimestamp); } catch { return []; }
  }

  reconcileCluster(cluster, known) {
    const unknown = ((cluster.spec || {}).plugins || []).find((p) => p.enabled !== false && !known.has(p.name));
    const want = unknown ? unknownPluginStatus(unknown) : healthyStatus(cluster);
    const st = cluster.status || {};
    const same = (a, b) => JSON.stringify(a === '' ? undefined : a) === JSON.stringify(b === '' ? undefined : b);
    if (Object.entries(want).every(([k, v]) => same(st[k], v))) return;
    const stamps = st.currentPrimaryTimestamp ? {} : { currentPrimaryTimestamp: now(), targetPrimaryTimestamp: now() };
    // The operator's own status write: the Ready condition follows the phase.
    ClusterController.prototype.writeStatus.call(this, cluster, Object.assign(stamps, want));
  }

  reconcileBackup(backup) {
    const phase = (backup.status || {}).phase;
    if (phase && phase !== 'pending' && phase !== 'running') return;
    const write = (patch) => BackupController.prototype.writeStatus.call(this, backup, patch);
    const found = {};
    const problem = BackupController.prototype.problem.call(this, backup, found);
    if (problem && problem.pending) return phase ? undefined : write({ phase: 'pending' });
    if (problem) return write({ phase: 'failed', error: problem.reason, stoppedAt: now() });
    const { cluster, plugin } = found;
    const base = { method: 'plugin', serverName: objectStore.serverNameOf(cluster, plugin),
      destinationPath: found.objectStore.destinationPath, endpointURL: found.objectStore.endpointURL || undefined };
    if (!phase || !isReady(cluster)) return phase ? undefined : write(Object.assign({ phase: 'pending' }, base));
    if (phase === 'pending') {
      return write(Object.assign({ phase: 'running', startedAt: now(), instanceID: { podName: cluster.status.currentPrimary } }, base));
    }
    return write(Object.assign(this.completed(backup, cluster), base));
  }

  // What barman-cloud-backup would report for a backup of an idle server: it starts on a fresh WAL segment and ends
  // in it (timeline 1); the segments of one Cluster's backups increase.
  completed(backup, cluster) {
    const segment = (this.walSegment.get(cluster.metadata.uid) || 0) + WAL_SEGMENTS_PER_BACKUP;
    this.walSegment.set(cluster.metadata.uid, segment);
    const wal = `00000001${hex(Math.floor(segment / 256), 8)}${hex(segment % 256, 8)}`;
    const lsn = (offset) => `${hex(Math.floor(segment / 256), 1)}/${hex((segment % 256) * 0x1000000 + offset, 1)}`;
    const started = new Date(backup.status.startedAt || Date.now());
    return { phase: 'completed', backupId: backupId(started), backupName: backup.metadata.name, beginWal: wal, endWal: wal,
      beginLSN: lsn(0x28), endLSN: lsn(0x138), startedAt: backup.status.startedAt || now(), stoppedAt: now() };
  }
}

function isReady(cluster) {
  return ((cluster.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function healthyStatus(cluster) {
  const name = cluster.metadata.name;
  const instances = Math.max(1, (cluster.spec || {}).instances || 1);
  const names = Array.from({ length: instances }, (_, i) => `${name}-${i + 1}`);
  return {
    phase: PHASE.healthy, phaseReason: '', instances, readyInstances: instances, instanceNames: names, instancesStatus: { healthy: names },
    currentPrimary: names[0], targetPrimary: names[0], latestGeneratedNode: instances, timelineID: 1,
    writeService: `${name}-rw`, readService: `${name}-r`,
  };
}

function unknownPluginStatus(plugin) {
  return { phase: PHASE.unknownPlugin, phaseReason: `Unknown plugin: '${plugin.name}'` };
}

function start(opts) {
  return new FakeCloud(opts);
}

module.exports = { FakeCloud, start };
