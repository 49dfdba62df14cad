'use strict';
// The readiness-only kubelet (`lab up --no-workloads`): no process, namespace or rule is created. A Pod bound to
// the lab's node goes Running and Ready `readyDelayMs` after it appears (every container "running", an address
// from the pod range (podCIDR, default DEFAULT_POD_CIDR) that nothing answers on, reused round-robin past its
// size); a pod whose restartPolicy is not Always (a Job's) then goes Succeeded `completeDelayMs` later, its
// containers terminated with exit code 0. The status is written through
// store.updateStatus, as the node runtime does, so controllers and watches see the same transitions. It is for
// benchmarks that measure the client, not for checking what a pod does.

const { NODE_NAME } = require('./nodes');
const u = require('./workloads-util');

const DEFAULT_POD_CIDR = '10.244.0.0/24';

// The n-th host address of an IPv4 range, skipping the network address and the first host (the gateway).
function hostAddress(cidr, n) {
  const [ip, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const base = Math.floor(ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0) / size) * size;
  const addr = base + 2 + (n % Math.max(1, size - 3));
  return [24, 16, 8, 0].map((shift) => Math.floor(addr / 2 ** shift) % 256).join('.');
}

class FakeKubelet {
  constructor({ store, podCIDR = DEFAULT_POD_CIDR, readyDelayMs = 50, completeDelayMs = 100 }) {
    this.podCIDR = podCIDR;
    this.store = store;
    this.readyDelayMs = readyDelayMs;
    this.completeDelayMs = completeDelayMs;
    this.timers = new Set();
    this.allocated = 0;
    this.stopped = false;
    this.onEvent = (e) => {
      if (e.type === 'ADDED' && !e.resource.group && e.resource.resource === 'pods') this.admit(e.object);
    };
    store.on('event', this.onEvent);
    for (const pod of store.list('v1', 'Pod')) this.admit(pod);
  }

  stop() {
    this.stopped = true;
    this.store.removeListener('event', this.onEvent);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  after(ms, fn) {
    const t = setTimeout(() => { this.timers.delete(t); if (!this.stopped) fn(); }, ms);
    this.timers.add(t);
  }

  admit(pod) {
    if ((pod.spec && pod.spec.nodeName) !== NODE_NAME || pod.metadata.deletionTimestamp) return;
    const { namespace, name, uid } = pod.metadata;
    const ip = this.allocateIP();
    this.after(this.readyDelayMs, () => {
      if (!this.transition(namespace, name, uid, (p) => runningStatus(p, ip))) return;
      if (pod.spec.restartPolicy && pod.spec.restartPolicy !== 'Always') {
        this.after(this.completeDelayMs, () => this.transition(namespace, name, uid, succeededStatus));
      }
    });
  }

  allocateIP() {
    return hostAddress(this.podCIDR, this.allocated++);
  }

  // Writes the status `make(pod)` for the pod if it is still the same live pod; false when it is gone.
  transition(namespace, name, uid, make) {
    const pod = this.store.get('v1', 'Pod', namespace, name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return false;
    try {
      this.store.updateStatus(Object.assign(pod, { status: make(pod) }));
      return true;
    } catch (err) {
      if (err.code === 404 || err.code === 409) return false;
      throw err;
    }
  }
}

function podConditions(pod, ready, reason) {
  const conditions = u.clone((pod.status && pod.status.conditions) || []);
  const set = (type, status, why) => u.setCondition(conditions, { type, status, reason: why, message: undefined, lastProbeTime: null });
  set('PodReadyToStartContainers', 'True');
  set('Initialized', 'True');
  set('Ready', ready ? 'True' : 'False', reason);
  set('ContainersReady', ready ? 'True' : 'False', reason);
  set('PodScheduled', 'True');
  return JSON.parse(JSON.stringify(conditions));
}

function containerStatuses(pod, state, ready) {
  return ((pod.spec && pod.spec.containers) || []).map((c) => ({
    name: c.name, image: c.image, imageID: '', containerID: `lab://${pod.metadata.uid}/${c.name}`,
    ready, started: !state.terminated, restartCount: 0, state, lastState: {},
  }));
}

function runningStatus(pod, ip) {
  const t = u.nowISO();
  return {
    phase: 'Running', conditions: podConditions(pod, true), hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }],
    podIP: ip, podIPs: [{ ip }], startTime: t, qosClass: (pod.status && pod.status.qosClass) || 'BestEffort',
    containerStatuses: containerStatuses(pod, { running: { startedAt: t } }, true),
  };
}

function succeededStatus(pod) {
  const t = u.nowISO();
  const started = (pod.status && pod.status.startTime) || t;
  return Object.assign({}, pod.status, {
    phase: 'Succeeded', conditions: podConditions(pod, false, 'PodCompleted'),
    containerStatuses: containerStatuses(pod, { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: t } }, false),
  });
}

module.exports = { FakeKubelet, hostAddress, DEFAULT_POD_CIDR };
