'use strict';
// The kubelet of node `lab-node-1`: it watches the store's Pods, accepts those bound to it (binding the unbound
// ones), gives each a sandbox (network.js), resolves env and volumes, runs each container's program (images.js,
// container.js) with restartPolicy and CrashLoopBackOff back-off, runs the probes (probes.js), records stdout
// and stderr as the pod log, and writes pod status as a kubelet does. Deleting a pod: a finalizer of the lab
// holds the object while its containers get SIGTERM, the grace period, then SIGKILL; then the object goes.
// execInPod() runs a command in a pod's container (for pods/exec). It does not route Services or enforce
// policies (services.js, nft.js) and does not create pods (the workload controllers do).

const fs = require('fs');
const path = require('path');
const network = require('./network');
const images = require('./images');
const container = require('./container');
const probes = require('./probes');
const { resolveEnv, prepareVolumes, ConfigError } = require('./podspec');

const NODE_NAME = 'lab-node-1';
const FINALIZER = 'lab.alaris.dev/kubelet';
const BACKOFF_BASE_MS = 10000;
const BACKOFF_MAX_MS = 300000;
const PULL_BACKOFF_AFTER_MS = 1500;
const CONFIG_RETRY_MS = 1000;

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const isPods = (res) => !res.group && res.resource === 'pods';

class Kubelet {
  constructor({ store, dir, ranges, log = () => {}, resolvConf }) {
    this.store = store;
    this.dir = dir;
    this.ranges = ranges;
    this.log = log;
    this.resolvConf = resolvConf || (() => 'nameserver 127.0.0.1\n');
    this.pods = new Map(); // uid → pod state
    this.freeSlots = [];
    for (let s = 2; s <= 254; s++) this.freeSlots.push(s);
    this.graces = new Map();
    this.hostIP = network.hostIP();
    this.listeners = [];
    this.stopped = false;
    this.podsDir = path.join(dir, 'pods');
    fs.rmSync(this.podsDir, { recursive: true, force: true });
    fs.mkdirSync(this.podsDir, { recursive: true, mode: 0o711 });
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.join(dir, 'node'), 0o711);
  }

  start() {
    this.store.addHook((op, res, obj, old, opts) => this.deleteHook(op, res, obj, opts));
    const onEvent = (e) => { if (isPods(e.resource)) this.onPodEvent(e); };
    this.store.on('event', onEvent);
    this.listeners.push(['event', onEvent]);
    for (const pod of this.store.list('v1', 'Pod')) this.onPodEvent({ type: 'ADDED', object: pod });
  }

  // A pod this node runs keeps a finalizer while it terminates; the grace period asked for is remembered.
  deleteHook(op, res, obj, opts) {
    if (op !== 'delete' || !isPods(res) || !this.pods.has(obj.metadata.uid) || opts.dryRun) return;
    obj.metadata.finalizers = obj.metadata.finalizers || [];
    if (!obj.metadata.finalizers.includes(FINALIZER)) obj.metadata.finalizers.push(FINALIZER);
    const grace = opts.gracePeriodSeconds !== undefined ? Number(opts.gracePeriodSeconds)
      : (obj.spec.terminationGracePeriodSeconds !== undefined ? obj.spec.terminationGracePeriodSeconds : 30);
    this.graces.set(obj.metadata.uid, grace);
  }

  onPodEvent(e) {
    if (this.stopped) return;
    const pod = e.object;
    const uid = pod.metadata.uid;
    if (pod.spec && pod.spec.nodeName && pod.spec.nodeName !== NODE_NAME) return;
    const ps = this.pods.get(uid);
    if (e.type === 'DELETED') {
      if (ps) this.terminate(ps, 0);
      return;
    }
    if (ps) {
      ps.pod = pod;
      if (pod.metadata.deletionTimestamp && !ps.terminating) this.terminate(ps, this.graces.get(uid));
      return;
    }
    if (pod.metadata.deletionTimestamp) return;
    if ((pod.metadata.finalizers || []).includes(FINALIZER)) return;
    this.accept(pod);
  }

  podRes() {
    return this.store.resourceFor('v1', 'Pod');
  }

  accept(pod) {
    const slot = this.freeSlots.shift();
    if (slot === undefined) {
      this.log(`kubelet: no pod address left for ${pod.metadata.namespace}/${pod.metadata.name}`);
      return;
    }
    const ps = { pod, uid: pod.metadata.uid, ns: pod.metadata.namespace, name: pod.metadata.name, slot,
      containers: new Map(), startTime: now(), conditions: {}, dir: path.join(this.podsDir, pod.metadata.uid) };
    this.pods.set(ps.uid, ps);
    if (!pod.spec.nodeName) {
      const bound = JSON.parse(JSON.stringify(pod));
      bound.spec.nodeName = NODE_NAME;
      delete bound.metadata.resourceVersion;
      try { ps.pod = this.store.update(this.podRes(), bound, {}); } catch (err) { this.log(`kubelet: binding ${ps.name}: ${err.message}`); }
    }
    network.addPod(this.ranges, slot).then((net) => this.sandboxReady(ps, net), (err) => {
      this.log(`kubelet: sandbox of ${ps.ns}/${ps.name}: ${err.message}`);
      ps.net = { failed: true };
      this.removeSandbox(ps);
    });
  }

  // The pod's network is there: its files, then its containers (unless it was deleted meanwhile).
  sandboxReady(ps, net) {
    ps.net = net;
    if (ps.terminating || this.stopped) return this.maybeFinished(ps);
    ps.ip = ps.net.ip;
    fs.mkdirSync(ps.dir, { recursive: true, mode: 0o711 });
    fs.writeFileSync(path.join(ps.dir, 'hosts'), `127.0.0.1\tlocalhost\n${ps.ip}\t${this.hostname(ps)}\n`, { mode: 0o644 });
    this.writeResolvConf(ps);
    for (const c of ps.pod.spec.containers || []) {
      ps.containers.set(c.name, { spec: c, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } }, ready: false, started: false });
    }
    this.writeStatus(ps);
    for (const cs of ps.containers.values()) this.startContainer(ps, cs);
  }

  hostname(ps) {
    return ps.pod.spec.hostname || ps.name;
  }

  writeResolvConf(ps) {
    fs.writeFileSync(path.join(ps.dir, 'resolv.conf'), this.resolvConf(ps.ns), { mode: 0o644 });
  }

  startContainer(ps, cs) {
    if (ps.terminating || this.stopped) return;
    const c = cs.spec;
    const program = images.programFor(c, this.dir);
    if (!program || program.pullError) return this.imagePullFailed(ps, cs, program && program.pullError);
    let env;
    let volumes;
    try {
      env = resolveEnv(this.store, ps.pod, c, ps.ip);
      volumes = prepareVolumes(this.store, ps.pod, c, ps.dir, program.user, ps.ip);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      cs.state = { waiting: { reason: err.reason, message: err.message } };
      this.writeStatus(ps);
      cs.retry = setTimeout(() => this.startContainer(ps, cs), CONFIG_RETRY_MS);
      return;
    }
    const fullEnv = Object.assign({ PATH: program.path, HOSTNAME: this.hostname(ps), HOME: '/' }, program.env || {}, env);
    if (images.repository(c.image).endsWith('postgres') && !fullEnv.PGDATA) {
      const pgdata = path.join(ps.dir, 'pgdata');
      fs.mkdirSync(pgdata, { recursive: true, mode: 0o700 });
      fs.chownSync(pgdata, program.user.uid, program.user.gid);
      fullEnv.PGDATA = path.join(pgdata, 'data');
    }
    const mounts = [
      { source: path.join(ps.dir, 'resolv.conf'), target: '/etc/resolv.conf', readOnly: true },
      { source: path.join(ps.dir, 'hosts'), target: '/etc/hosts', readOnly: true },
      ...volumes,
      ...(program.tmpfs || []).map((t) => ({ tmpfs: t })),
    ];
    const script = path.join(ps.dir, `${c.name}.sh`);
    container.writeScript(script, container.scriptText({ hostname: this.hostname(ps), mounts,
      workingDir: c.workingDir || program.workingDir, user: program.user, stageDir: path.join(ps.dir, `stage-${c.name}`) }));
    const child = container.startContainer({ netns: ps.net.netns, script, argv: program.argv, env: fullEnv, stdin: c.stdin });
    cs.proc = child;
    cs.user = program.user;
    cs.env = fullEnv;
    cs.workingDir = c.workingDir || program.workingDir;
    cs.containerID = `lab://${ps.uid.slice(0, 8)}-${c.name}-${cs.restartCount}`;
    cs.state = { running: { startedAt: now() } };
    cs.ready = false;
    cs.started = !c.startupProbe;
    const run = cs.restartCount;
    const record = (chunk) => { if (this.pods.has(ps.uid)) this.store.appendLog(ps.ns, ps.name, chunk.toString('utf8'), c.name, run); };
    child.stdout.on('data', record);
    child.stderr.on('data', record);
    child.on('error', (err) => this.log(`kubelet: ${ps.ns}/${ps.name}/${c.name}: ${err.message}`));
    child.on('exit', (code, signal) => this.containerExited(ps, cs, child, code, signal));
    cs.probes = probes.start({ pod: ps, container: cs, kubelet: this });
    this.writeStatus(ps);
  }

  imagePullFailed(ps, cs, reason) {
    const message = reason || `the lab cannot run image "${cs.spec.image}": it runs tenant-app, postgres, busybox, curlimages/curl, alpine and coredns images only`;
    cs.state = { waiting: { reason: 'ErrImagePull', message } };
    this.writeStatus(ps);
    cs.retry = setTimeout(() => {
      cs.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${cs.spec.image}": ${message}` } };
      this.writeStatus(ps);
    }, PULL_BACKOFF_AFTER_MS);
  }

  containerExited(ps, cs, child, code, signal) {
    if (cs.proc !== child) return;
    cs.proc = null;
    if (cs.probes) cs.probes.stop();
    const exitCode = code !== null ? code : 128 + (require('os').constants.signals[signal] || 9);
    const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: cs.state.running ? cs.state.running.startedAt : now(),
      finishedAt: now(), containerID: cs.containerID };
    if (signal) terminated.signal = require('os').constants.signals[signal];
    cs.ready = false;
    cs.state = { terminated };
    if (ps.terminating) return this.maybeFinished(ps);
    const policy = ps.pod.spec.restartPolicy || 'Always';
    if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return this.writeStatus(ps);
    // The first restart is immediate, then the back-off doubles from 10 s up to 5 min (CrashLoopBackOff meanwhile);
    // restartCount counts restarts made, as the kubelet's does.
    const delay = cs.restartCount === 0 ? 0 : Math.min(BACKOFF_BASE_MS * 2 ** (cs.restartCount - 1), BACKOFF_MAX_MS);
    cs.lastState = { terminated };
    if (delay > 0) {
      cs.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${delay / 1000}s restarting failed container=${cs.spec.name} pod=${ps.name}_${ps.ns}(${ps.uid})` } };
    }
    this.writeStatus(ps);
    cs.retry = setTimeout(() => { cs.restartCount += 1; this.startContainer(ps, cs); }, delay);
  }

  // Stops a container for a failed liveness/startup probe: the restart policy then applies.
  killContainer(ps, cs, why) {
    if (!cs.proc) return;
    this.store.appendLog(ps.ns, ps.name, '', cs.spec.name);
    this.log(`kubelet: ${ps.ns}/${ps.name}/${cs.spec.name}: ${why}, killing it`);
    signalGroup(cs.proc, 'SIGTERM');
    const proc = cs.proc;
    setTimeout(() => { if (cs.proc === proc) signalGroup(proc, 'SIGKILL'); }, 2000).unref();
  }

  terminate(ps, graceSeconds = 30) {
    if (ps.terminating) return;
    ps.terminating = true;
    for (const cs of ps.containers.values()) {
      clearTimeout(cs.retry);
      if (cs.probes) cs.probes.stop();
    }
    // The pod leaves its Services' endpoints before its containers hear SIGTERM, so no new connection reaches a
    // process that is closing its listeners.
    Promise.resolve(this.changed({ now: true })).catch(() => {}).then(() => {
      for (const cs of ps.containers.values()) if (cs.proc) signalGroup(cs.proc, graceSeconds > 0 ? 'SIGTERM' : 'SIGKILL');
      ps.killTimer = setTimeout(() => {
        for (const cs of ps.containers.values()) if (cs.proc) signalGroup(cs.proc, 'SIGKILL');
      }, Math.max(0, graceSeconds) * 1000);
      this.maybeFinished(ps);
    });
  }

  maybeFinished(ps) {
    if (!ps.net || [...ps.containers.values()].some((cs) => cs.proc)) return; // sandboxReady() calls again
    clearTimeout(ps.killTimer);
    this.removeSandbox(ps);
    const current = this.store.get('v1', 'Pod', ps.ns, ps.name);
    if (!current || current.metadata.uid !== ps.uid) return;
    current.metadata.finalizers = (current.metadata.finalizers || []).filter((f) => f !== FINALIZER);
    if (!current.metadata.finalizers.length) delete current.metadata.finalizers;
    delete current.metadata.resourceVersion;
    try { this.store.update(this.podRes(), current, {}); } catch (err) { this.log(`kubelet: releasing ${ps.name}: ${err.message}`); }
  }

  removeSandbox(ps) {
    if (ps.removed) return;
    ps.removed = true;
    this.pods.delete(ps.uid);
    this.graces.delete(ps.uid);
    fs.rmSync(ps.dir, { recursive: true, force: true });
    this.changed();
    network.removePod(this.ranges, ps.slot).catch((err) => this.log(`kubelet: removing the sandbox of ${ps.name}: ${err.message}`))
      .then(() => this.freeSlots.push(ps.slot));
  }

  // --- status ---
  containerStatus(cs) {
    const s = { name: cs.spec.name, image: cs.spec.image, imageID: `lab://${images.repository(cs.spec.image)}`, ready: cs.ready, restartCount: cs.restartCount,
      started: !!(cs.state.running && cs.started), state: cs.state, lastState: cs.lastState || {} };
    if (cs.containerID && !cs.state.waiting) s.containerID = cs.containerID;
    return s;
  }

  phase(ps) {
    const all = [...ps.containers.values()];
    const policy = ps.pod.spec.restartPolicy || 'Always';
    if (all.every((cs) => cs.state.terminated)) {
      if (policy === 'Always') return 'Running';
      return all.every((cs) => cs.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
    }
    if (all.some((cs) => cs.state.running) || all.every((cs) => cs.restartCount > 0 || cs.state.running || cs.state.terminated)) return 'Running';
    return 'Pending';
  }

  condition(ps, type, status) {
    const prev = ps.conditions[type];
    if (!prev || prev.status !== status) ps.conditions[type] = { type, status, lastProbeTime: null, lastTransitionTime: now() };
    return ps.conditions[type];
  }

  writeStatus(ps) {
    if (ps.statusPending) return;
    ps.statusPending = true;
    setImmediate(() => {
      ps.statusPending = false;
      if (!this.pods.has(ps.uid)) return;
      const current = this.store.get('v1', 'Pod', ps.ns, ps.name);
      if (!current || current.metadata.uid !== ps.uid) return;
      const ready = [...ps.containers.values()].every((cs) => cs.ready);
      const phase = this.phase(ps);
      current.status = Object.assign({}, current.status, {
        phase,
        conditions: [
          this.condition(ps, 'PodReadyToStartContainers', 'True'),
          this.condition(ps, 'Initialized', 'True'),
          this.condition(ps, 'Ready', ready && phase === 'Running' ? 'True' : 'False'),
          this.condition(ps, 'ContainersReady', ready ? 'True' : 'False'),
          this.condition(ps, 'PodScheduled', 'True'),
        ],
        hostIP: this.hostIP, hostIPs: [{ ip: this.hostIP }],
        podIP: ps.ip, podIPs: [{ ip: ps.ip }],
        startTime: ps.startTime,
        containerStatuses: [...ps.containers.values()].map((cs) => this.containerStatus(cs)),
      });
      delete current.metadata.resourceVersion;
      try { this.store.updateStatus(current); } catch (err) { this.log(`kubelet: status of ${ps.name}: ${err.message}`); }
      this.changed();
    });
  }

  // Something the Service/policy rules depend on changed (a pod's IP or readiness).
  changed(opts = {}) {
    return this.onChange ? this.onChange(opts) : undefined;
  }

  // --- for pods/exec ---
  execInPod(namespace, podName, containerName, argv, { stdin = true } = {}) {
    const ps = [...this.pods.values()].find((p) => p.ns === namespace && p.name === podName);
    if (!ps) throw new Error(`pod ${namespace}/${podName} is not running on ${NODE_NAME}`);
    const cs = containerName ? ps.containers.get(containerName) : ps.containers.values().next().value;
    if (!cs || !cs.proc) throw new Error(`container ${containerName || ''} of pod ${podName} is not running`);
    return container.execIn({ pid: cs.proc.pid, user: cs.user, env: cs.env, workingDir: cs.workingDir, argv, stdin });
  }

  runningPods() {
    return [...this.pods.values()].filter((ps) => !ps.terminating && ps.ip);
  }

  async close() {
    this.stopped = true;
    for (const [name, fn] of this.listeners) this.store.removeListener(name, fn);
    const all = [...this.pods.values()];
    for (const ps of all) for (const cs of ps.containers.values()) { clearTimeout(cs.retry); if (cs.probes) cs.probes.stop(); if (cs.proc) signalGroup(cs.proc, 'SIGTERM'); }
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && all.some((ps) => [...ps.containers.values()].some((cs) => cs.proc))) await new Promise((r) => setTimeout(r, 50));
    for (const ps of all) for (const cs of ps.containers.values()) if (cs.proc) signalGroup(cs.proc, 'SIGKILL');
  }
}

function signalGroup(child, signal) {
  try { process.kill(-child.pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
}

module.exports = { Kubelet, NODE_NAME, FINALIZER };
