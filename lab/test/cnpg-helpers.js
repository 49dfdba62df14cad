'use strict';
// Helpers of the CloudNativePG tests: installing the pinned operator, plugin and cert-manager CRDs from
// fixtures/operators with kubectl, waiting for a Cluster's status, reading its Secrets, and psql from the host or
// from inside a pod's network namespace (`ip netns exec`), with the password in the environment only.

const fs = require('fs');
const path = require('path');
const { execFile } = require('child_process');
const { kubectl, getJSON, waitFor, netnsOf } = require('./node-helpers');

const OPERATORS = path.join(__dirname, 'fixtures', 'operators');

async function kubectlOK(lab, args, opts) {
  const r = await kubectl(lab, args, Object.assign({ timeout: 180000 }, opts));
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

// cert-manager's CRDs, then the CNPG release manifest and the barman-cloud plugin's (server-side, as CNPG's
// documentation says: the CRDs are too big for client-side apply's annotation).
async function installOperators(lab) {
  for (const f of ['cert-manager.io_certificates.yaml', 'cert-manager.io_issuers.yaml', 'cnpg-1.28.4.yaml', 'plugin-barman-cloud-0.14.0.yaml']) {
    await kubectlOK(lab, ['apply', '--server-side', '-f', path.join(OPERATORS, f)]);
  }
}

async function clusterOf(lab, ns, name) {
  return getJSON(lab, ['clusters.postgresql.cnpg.io', '-n', ns, name]);
}

const readyCondition = (c) => ((c && c.status && c.status.conditions) || []).find((x) => x.type === 'Ready');

// Waits until the Cluster's status satisfies fn(cluster); returns the Cluster.
function waitCluster(lab, ns, name, fn, what, timeoutMs = 120000) {
  return waitFor(async () => {
    const c = await clusterOf(lab, ns, name);
    return c && fn(c) && c;
  }, { timeoutMs, what: `${ns}/${name}: ${what}`, everyMs: 500 });
}

const isHealthy = (c) => c.status && c.status.phase === 'Cluster in healthy state' && (readyCondition(c) || {}).status === 'True';

async function secretValues(lab, ns, name) {
  const s = await getJSON(lab, ['secret', '-n', ns, name]);
  return s && Object.fromEntries(Object.entries(s.data || {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

// psql -tA -c SQL against host:5432, from the node (fromIP null) or from the pod with address fromIP.
function psql({ host, user, password, db, sql, fromIP = null, timeoutS = 5 }) {
  const argv = ['psql', '-h', host, '-U', user, '-d', db, '-X', '-tA', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  const full = fromIP ? ['ip', 'netns', 'exec', netnsOf(fromIP), ...argv] : argv;
  return new Promise((resolve) => execFile(full[0], full.slice(1),
    { env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: String(timeoutS), PGSSLMODE: 'disable' }, timeout: (timeoutS + 20) * 1000 },
    (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout.trim(), stderr })));
}

async function serviceIP(lab, ns, name) {
  const s = await getJSON(lab, ['service', '-n', ns, name]);
  return s && s.spec.clusterIP;
}

const havePostgres = () => fs.existsSync('/usr/lib/postgresql/15/bin/postgres');

module.exports = { installOperators, clusterOf, waitCluster, isHealthy, readyCondition, secretValues, psql, serviceIP, kubectlOK, havePostgres };
