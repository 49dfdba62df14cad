'use strict';
// Instance faults for drills, on the admin endpoint:
//   POST /cnpg {namespace, pod, fault}   fault: `kill-postgres` (SIGKILL to the instance's postmaster: a replica
//        restarts, a primary is failed over), `network-down` (the pod's network namespace drops every packet but
//        loopback: the kubelet's probes fail, so does replication), `network-up` (undoes it)
//   → 200 {namespace, pod, fault, done: true}; 404 for an unknown pod, 400 for a bad body.
// What follows is visible in the Cluster's status as CNPG shows it (cluster.js).

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const FAULT_TABLE = 'lab_cnpg_fault';

function netnsOf(ip) {
  const [, , k, s] = String(ip).split('.');
  return `alaris-${k}-${s}`;
}

function killPostgres(dir, pod) {
  const labels = pod.metadata.labels || {};
  const pidFile = path.join(dir, 'cnpg', 'data', pod.metadata.namespace, labels['cnpg.io/cluster'], pod.metadata.name, 'pgdata', 'postmaster.pid');
  let pid;
  try { pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]); } catch { pid = 0; }
  if (!pid) return false;
  try { process.kill(pid, 'SIGKILL'); return true; } catch { return false; }
}

function setNetwork(pod, up) {
  const ns = netnsOf(pod.status.podIP);
  const nft = (script) => execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  try { nft(`delete table inet ${FAULT_TABLE}\n`); } catch { /* not there */ }
  if (up) return;
  nft(`table inet ${FAULT_TABLE} {
  chain in { type filter hook input priority -10; policy drop; iif "lo" accept; }
  chain out { type filter hook output priority -10; policy drop; oif "lo" accept; }
}
`);
}

function routes(admin, { store, dir }) {
  admin.route('POST /cnpg', ({ body }) => {
    const { namespace, pod: name, fault } = body || {};
    const bad = (message) => { throw new admin.AdminError(400, 'bad_request', message); };
    if (typeof namespace !== 'string' || !namespace || typeof name !== 'string' || !name) bad('namespace and pod must be non-empty strings');
    if (!['kill-postgres', 'network-down', 'network-up'].includes(fault)) bad('fault must be kill-postgres, network-down or network-up');
    const pod = store.get('v1', 'Pod', namespace, name);
    if (!pod || ((pod.metadata.labels || {})['cnpg.io/podRole']) !== 'instance') {
      throw new admin.AdminError(404, 'not_found', `no CloudNativePG instance pod "${name}" in namespace "${namespace}"`);
    }
    if (!pod.status || !pod.status.podIP) bad(`pod "${name}" has no address yet`);
    if (fault === 'kill-postgres' && !killPostgres(dir, pod)) throw new admin.AdminError(409, 'conflict', `PostgreSQL is not running in pod "${name}"`);
    if (fault !== 'kill-postgres') setNetwork(pod, fault === 'network-up');
    return { status: 200, body: { namespace, pod: name, fault, done: true } };
  });
}

module.exports = { routes };
