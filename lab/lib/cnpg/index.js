'use strict';
// CloudNativePG and its barman-cloud plugin in the lab: start({dir, k8s, ranges, nodeIP, admin, log}) installs
// the webhook (webhook.js), serves the admissionregistration.k8s.io/v1 webhook configurations the release
// manifests carry (stored, not called), runs the operator's Cluster controller (cluster.js, operator.js) and the
// barman-cloud side (barman*.js, backup*.js, recovery*.js, when present), and adds the admin endpoint's
// instance faults. Returns {close()}.
//
// README-seam — the contract between the operator side (cluster.js) and the barman-cloud side:
// - barman exports archiveSettings(cluster, store) -> {archive_command, env} | null. cluster.js calls it when it
//   writes an instance's configuration; the instance manager puts archive_command in PostgreSQL's configuration
//   and `env` in the server's environment (never on argv), so barman-cloud-wal-archive runs from the instance
//   pod's network namespace, as `postgres`.
// - barman exports restoreBeforeStart(cluster, dataDir) -> Promise for bootstrap.recovery: cluster.js calls it
//   instead of initdb, in the daemon (as root; cluster.js then gives the files to `postgres`), before the first
//   instance pod is created. It leaves dataDir ready to start: restore_command, the recovery target,
//   recovery_target_action=promote and recovery.signal. The instance manager then starts PostgreSQL, which
//   replays and promotes; the Cluster becomes healthy when it answers as a primary.
// - barman writes the ContinuousArchiving condition with setClusterCondition(cluster, condition) (passed to its
//   start(); a merge by type that keeps the other conditions), and firstRecoverabilityPoint /
//   lastSuccessfulBackup with store.updateStatus on a freshly read Cluster (cluster.js re-reads before each of
//   its own status writes and only sets its own fields).
// - barman's module, if present, is `./barman` and exports start({dir, store, log, setClusterCondition, admin})
//   -> {close()} plus the two functions above.

const fs = require('fs');
const path = require('path');
const { ClusterController } = require('./cluster');
const webhook = require('./webhook');
const faults = require('./faults');

const WEBHOOK_KINDS = [['validatingwebhookconfigurations', 'ValidatingWebhookConfiguration'], ['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration']];

// The release manifests carry webhook configurations: served as stored types (the lab calls no webhook by them).
function serveWebhookConfigurations(registry, validator) {
  for (const [plural, kind] of WEBHOOK_KINDS) {
    if (registry.find('admissionregistration.k8s.io', 'v1', plural)) continue;
    const crd = { metadata: { name: `${plural}.admissionregistration.k8s.io` }, spec: {
      group: 'admissionregistration.k8s.io', scope: 'Cluster', names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] } };
    registry.addCRD(crd);
    if (validator && validator.addCRD) validator.addCRD(crd);
  }
}

function loadBarman() {
  try {
    return require('./barman');
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes("'./barman'")) return null;
    throw err;
  }
}

function start({ dir, k8s, ranges, nodeIP, admin, log = () => {} }) {
  const store = k8s.store;
  // No Cluster outlives the daemon (the API's objects are kept in memory only): data a previous start left under
  // DIR/cnpg/data belongs to none, and a new Cluster of the same name must not start on it (its old passwords).
  fs.rmSync(path.join(dir, 'cnpg', 'data'), { recursive: true, force: true });
  serveWebhookConfigurations(k8s.registry, k8s.validator);
  webhook.install(store);
  const barman = loadBarman();
  const seams = {
    archiveSettings: barman && barman.archiveSettings,
    restoreBeforeStart: barman && barman.restoreBeforeStart,
  };
  const clusters = new ClusterController({ store, dir, ranges, nodeIP, log, seams });
  clusters.start();
  const setClusterCondition = (cluster, condition) => clusters.setClusterCondition(cluster, condition);
  const barmanPart = barman && barman.start ? barman.start({ dir, store, log, setClusterCondition, admin }) : null;
  if (admin) faults.routes(admin, { store, dir });
  return {
    setClusterCondition,
    close() {
      clusters.close();
      if (barmanPart && barmanPart.close) return barmanPart.close();
      return undefined;
    },
  };
}

module.exports = { start, serveWebhookConfigurations };
