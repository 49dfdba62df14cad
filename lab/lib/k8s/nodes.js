'use strict';
// The lab's one node, `lab-node-1`: the Node object (labels, addresses, capacity, nodeInfo and the conditions
// `kubectl get nodes` reads), the binding of every new Pod to it (spec.nodeName, as the scheduler would), and the
// `kubectl get nodes` table (STATUS ROLES AGE VERSION; -o wide adds addresses, OS image, kernel, runtime).
// The node runtime (or the fake kubelet) runs the pods; this module only describes the node.

const os = require('os');
const fs = require('fs');
const { versionInfo } = require('./discovery');

const NODE_NAME = 'lab-node-1';

const isCore = (res, name) => !res.group && res.resource === name;

function osImage() {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1];
  } catch { /* not Linux */ }
  return `${os.type()} ${os.release()}`;
}

function condition(type, status, reason, message, time) {
  return { type, status, lastHeartbeatTime: time, lastTransitionTime: time, reason, message };
}

// The Node as a kubelet registers it. internalIP: the node's address as pods see it (their status.hostIP).
function nodeObject({ internalIP = '127.0.0.1' } = {}) {
  const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const capacity = { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110', 'ephemeral-storage': '0' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: NODE_NAME,
      labels: {
        'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': arch,
        'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': arch, 'doks.digitalocean.com/node-pool': 'lab',
      },
    },
    spec: { providerID: `lab://${NODE_NAME}` },
    status: {
      capacity,
      allocatable: Object.assign({}, capacity),
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', t),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', t),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', t),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status', t),
      ],
      addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: NODE_NAME }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: '', systemUUID: '', bootID: '', kernelVersion: os.release(), osImage: osImage(),
        containerRuntimeVersion: 'lab://1', kubeletVersion: versionInfo().gitVersion, kubeProxyVersion: versionInfo().gitVersion,
        operatingSystem: 'linux', architecture: arch,
      },
    },
  };
}

// Admission: a Pod created without spec.nodeName is bound to the lab's node.
function bindPodToNode(op, res, obj) {
  if (!isCore(res, 'pods') || op !== 'create') return;
  obj.spec = obj.spec || {};
  if (!obj.spec.nodeName) obj.spec.nodeName = NODE_NAME;
}

function registerNode(store, opts) {
  store.addHook(bindPodToNode);
  if (!store.get('v1', 'Node', '', NODE_NAME)) store.createObject(nodeObject(opts));
}

// --- kubectl get nodes ---
function nodeStatus(n) {
  const ready = ((n.status && n.status.conditions) || []).find((c) => c.type === 'Ready');
  const states = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (n.spec && n.spec.unschedulable) states.push('SchedulingDisabled');
  return states.join(',');
}

function nodeRoles(n) {
  const roles = Object.keys(n.metadata.labels || {})
    .map((k) => /^node-role\.kubernetes\.io\/(.+)$/.exec(k)).filter(Boolean).map((m) => m[1]);
  return roles.length ? roles.sort().join(',') : '<none>';
}

function address(n, type) {
  const a = ((n.status && n.status.addresses) || []).find((x) => x.type === type);
  return a ? a.address : '<none>';
}

function nodeTable({ col, NAME, AGE, age }) {
  const info = (n) => (n.status && n.status.nodeInfo) || {};
  return {
    columns: [NAME, col('Status', 'string', 'The status of the node'), col('Roles', 'string', 'The roles of the node'), AGE,
      col('Version', 'string', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'string', 'List of internal IPs.', { priority: 1 }),
      col('External-IP', 'string', 'List of external IPs.', { priority: 1 }),
      col('OS-Image', 'string', 'OS Image reported by the node.', { priority: 1 }),
      col('Kernel-Version', 'string', 'Kernel Version reported by the node.', { priority: 1 }),
      col('Container-Runtime', 'string', 'Container Runtime Version reported by the node.', { priority: 1 })],
    cells: (n) => [nodeStatus(n), nodeRoles(n), age(n.metadata.creationTimestamp), info(n).kubeletVersion || '',
      address(n, 'InternalIP'), address(n, 'ExternalIP'), info(n).osImage || '<unknown>', info(n).kernelVersion || '<unknown>',
      info(n).containerRuntimeVersion || '<unknown>'],
  };
}

module.exports = { NODE_NAME, nodeObject, registerNode, bindPodToNode, nodeTable };
