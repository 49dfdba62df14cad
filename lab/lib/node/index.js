'use strict';
// The node `lab-node-1` as the daemon starts it: prepare(dir) sets up the pod network of this DIR (removing
// what a crashed daemon of the same DIR left) and returns its ranges before the API server starts (its
// Service addresses come from them); start(store) then runs the kubelet (runtime.js), the Service/LB/policy
// rules (services.js) and cluster DNS (dns-pods.js); close() stops the pods and removes everything from the host.

const network = require('./network');
const { Kubelet } = require('./runtime');
const { NetworkController } = require('./services');
const clusterDns = require('./dns-pods');

function prepare(dir) {
  if (!network.isRoot()) throw new Error('the lab runs pods in network namespaces and needs root');
  const ranges = network.setup(dir);
  process.env.LAB_SERVICE_CIDR = ranges.serviceCIDR;
  return ranges;
}

// Ranges for the readiness-only mode: named the same way, nothing created on the host.
function rangesOnly(dir) {
  return network.rangesOf(network.preferredIndex(dir));
}

function start({ dir, store, ranges, log }) {
  const kubelet = new Kubelet({ store, dir, ranges, log, resolvConf: (ns) => clusterDns.resolvConf(store, ns) });
  const net = new NetworkController({ store, kubelet, ranges, log });
  kubelet.start();
  const dns = clusterDns.start({ store, dir, log });
  net.schedule();
  return {
    ranges,
    execInPod: (...args) => kubelet.execInPod(...args),
    async close() {
      dns.close();
      await net.close();
      await kubelet.close();
      network.teardown(dir);
    },
  };
}

module.exports = { prepare, start, rangesOnly, cleanup: network.cleanupDir };
