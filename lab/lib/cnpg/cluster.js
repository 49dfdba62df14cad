'use strict';
// The CloudNativePG operator's Cluster controller, as the lab plays it. For each Cluster (postgresql.cnpg.io/v1),
// once the operator's Deployment is Available (operator.js), it keeps:
// - Secrets `<cluster>-app` (unless bootstrap.initdb.secret names one) and `<cluster>-superuser` (when
//   enableSuperuserAccess), Services `-rw` (primary), `-ro` (replicas), `-r` (every instance);
// - instance Pods `<cluster>-<n>` (CNPG's labels) running instance.js: PostgreSQL 15 as `postgres` in the pod's
//   network namespace, data under DIR/cnpg/<namespace>/<cluster>/<pod>/ (the lab's PVC), configured by a JSON
//   file the operator writes there (role, primary address, parameters, passwords: never in the pod spec or argv);
//   the primary first, then every replica at once (pg_basebackup from the primary);
// - the status as CNPG writes it (phase, phaseReason, Ready, instances, readyInstances, instancesStatus,
//   currentPrimary, targetPrimary, timelineID, writeService, readService, ...), from the instances' status
//   endpoints polled on :8000 *from the operator pod* (a NetworkPolicy keeping it out makes the Cluster unhealthy);
// - failover: the primary's pod not Ready (PostgreSQL killed, network stopped, pod gone) → the most advanced Ready
//   replica is promoted, `-rw` follows it, and the old primary rejoins as a replica (pg_rewind);
// - deletion: the pods go with the Cluster (owner references, graceful), then its data.
// A Cluster whose image is not PostgreSQL 15 gets its pods in ErrImagePull saying so.
// Seams for the barman-cloud side (index.js): archiveSettings(cluster, store) and restoreBeforeStart(cluster,
// dataDir) are called when set; setClusterCondition(cluster, condition) lets them write a condition.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const images = require('../node/images');
const operator = require('./operator');

const GROUP_VERSION = 'postgresql.cnpg.io/v1';
const DEFAULT_IMAGE = 'ghcr.io/cloudnative-pg/postgresql:18.1-system-trixie';
const MANAGER = '/controller/manager';
const LAB_MAJOR = 15;
const POLL_MS = 1000;

const PHASE = {
  firstPrimary: 'Setting up primary',
  creatingReplica: 'Creating a new replica',
  healthy: 'Cluster in healthy state',
  failingOver: 'Failing over',
  waiting: 'Waiting for the instances to become active',
  unknownPlugin: 'Cluster cannot proceed to reconciliation due to an unknown plugin being required',
};

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const b64 = (s) => Buffer.from(String(s), 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(String(s || ''), 'base64').toString('utf8');
const randomPassword = () => crypto.randomBytes(24).toString('base64url');
const isReady = (pod) => !!pod && ((pod.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
const serialOf = (name) => Number(name.slice(name.lastIndexOf('-') + 1));

function imageOf(cluster) {
  return (cluster.spec && cluster.spec.imageName) || DEFAULT_IMAGE;
}

function majorOf(image) {
  const tag = String(image).split('@')[0].split('/').pop().split(':')[1] || '';
  const m = /^(\d+)/.exec(tag);
  return m ? Number(m[1]) : null;
}

// Instance pods (command /controller/manager): PostgreSQL 15 runs instance.js; another major is ErrImagePull.
function registerImages(dir) {
  images.registerImages((container) => {
    if ((container.command || [])[0] !== MANAGER) return null;
    const major = majorOf(container.image);
    if (major !== LAB_MAJOR) {
      return { pullError: `the lab runs PostgreSQL ${LAB_MAJOR} only: image "${container.image}" is ` +
        `${major ? `PostgreSQL ${major}` : 'of an unknown PostgreSQL major version'}; set spec.imageName to a PostgreSQL ${LAB_MAJOR} image` };
    }
    const env = Object.fromEntries((container.env || []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    const home = instanceDir(dir, env.NAMESPACE, env.CLUSTER_NAME, env.POD_NAME);
    return { argv: [process.execPath, path.join(__dirname, 'instance.js')], user: images.userOf('postgres'),
      path: `${images.PG_BIN}:${images.HOST_PATH}`, env: { LAB_CNPG_CONFIG: path.join(home, 'config.json'), PGDATA: path.join(home, 'pgdata') } };
  });
}

function instanceDir(dir, namespace, cluster, pod) {
  return path.join(dir, 'cnpg', 'data', namespace || '_', cluster || '_', pod || '_');
}

class ClusterController {
  constructor({ store, dir, ranges, nodeIP, log = () => {}, seams = {} }) {
    this.store = store;
    this.dir = dir;
    this.ranges = ranges || {};
    this.nodeIP = nodeIP;
    this.log = log;
    this.seams = seams;
    this.lastStatus = new Map(); // `${ns}/${pod}` → last status from the instance manager
    this.secrets = new Map(); // `${ns}/${cluster}` → internal passwords
    this.running = new Set();
    this.timer = null;
    this.onEvent = (e) => this.handle(e);
  }

  start() {
    registerImages(this.dir);
    operator.registerImages(this.dir);
    this.store.on('event', this.onEvent);
    this.timer = setInterval(() => this.reconcileAll(), POLL_MS);
    this.timer.unref();
  }

  close() {
    clearInterval(this.timer);
    this.store.removeListener('event', this.onEvent);
  }

  handle(e) {
    if (e.resource.group === 'postgresql.cnpg.io' && e.resource.resource === 'clusters' && e.type === 'DELETED') {
      this.removeData(e.object);
    }
  }

  clusters() {
    try { return this.store.list(GROUP_VERSION, 'Cluster'); } catch { return []; }
  }

  reconcileAll() {
    try { operator.reconcileCertManager(this.store, this.log); } catch (err) { this.log(`cert-manager: ${err.message}`); }
    const op = operator.operatorPod(this.store);
    if (!op) return; // as on a cluster without the operator: the objects are stored, nothing happens
    for (const cluster of this.clusters()) {
      const key = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
      if (this.running.has(key) || cluster.metadata.deletionTimestamp) continue;
      this.running.add(key);
      this.reconcile(cluster, op)
        .catch((err) => this.log(`cnpg: ${key}: ${err.stack || err.message}`))
        .finally(() => this.running.delete(key));
    }
  }

  // --- objects the Cluster owns ---
  owner(cluster) {
    return [{ apiVersion: GROUP_VERSION, kind: 'Cluster', name: cluster.metadata.name, uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true }];
  }

  ensure(obj) {
    const existing = this.store.get(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    if (existing) return existing;
    return this.store.createObject(obj);
  }

  internalSecrets(cluster) {
    const key = `${cluster.metadata.namespace}/${cluster.metadata.name}`;
    const file = path.join(this.dir, 'cnpg', 'data', cluster.metadata.namespace, cluster.metadata.name, 'internal.json');
    if (!this.secrets.has(key)) {
      let value;
      try { value = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { value = { replication: randomPassword(), superuser: randomPassword() }; }
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o711 });
      fs.writeFileSync(file, JSON.stringify(value), { mode: 0o600 });
      this.secrets.set(key, value);
    }
    return this.secrets.get(key);
  }

  initdbSpec(cluster) {
    const initdb = ((cluster.spec || {}).bootstrap || {}).initdb || {};
    const database = initdb.database || 'app';
    return Object.assign({}, initdb, { database, owner: initdb.owner || database });
  }

  secretData(cluster, username, password, dbname) {
    const ns = cluster.metadata.namespace;
    const host = `${cluster.metadata.name}-rw`;
    const fqdn = `${host}.${ns}.svc.cluster.local`;
    const enc = encodeURIComponent;
    return {
      username: b64(username), user: b64(username), password: b64(password), host: b64(host), port: b64('5432'), dbname: b64(dbname),
      uri: b64(`postgresql://${enc(username)}:${enc(password)}@${fqdn}:5432/${enc(dbname)}`),
      'jdbc-uri': b64(`jdbc:postgresql://${fqdn}:5432/${enc(dbname)}?password=${enc(password)}&user=${enc(username)}`),
      pgpass: b64(`${fqdn}:5432:${dbname}:${username}:${password}\n`),
      fqdn_uri: b64(`postgresql://${enc(username)}:${enc(password)}@${fqdn}:5432/${enc(dbname)}`),
    };
  }

  readSecret(namespace, name, key) {
    const s = this.store.get('v1', 'Secret', namespace, name);
    return s && s.data && s.data[key] !== undefined ? unb64(s.data[key]) : null;
  }

  // The owner's and the superuser's passwords, creating `-app` and `-superuser` as CNPG does.
  ensureSecrets(cluster) {
    const ns = cluster.metadata.namespace;
    const name = cluster.metadata.name;
    const spec = cluster.spec || {};
    const init = this.initdbSpec(cluster);
    const labels = { 'cnpg.io/cluster': name, 'cnpg.io/reload': 'true' };
    let ownerPassword;
    if (init.secret && init.secret.name) {
      ownerPassword = this.readSecret(ns, init.secret.name, 'password');
    } else {
      const created = this.ensure({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/basic-auth',
        metadata: { name: `${name}-app`, namespace: ns, labels, ownerReferences: this.owner(cluster) },
        data: this.secretData(cluster, init.owner, randomPassword(), init.database) });
      ownerPassword = unb64(created.data.password);
    }
    let superuserPassword = null;
    if (spec.enableSuperuserAccess) {
      if (spec.superuserSecret && spec.superuserSecret.name) {
        superuserPassword = this.readSecret(ns, spec.superuserSecret.name, 'password');
      } else {
        const created = this.ensure({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/basic-auth',
          metadata: { name: `${name}-superuser`, namespace: ns, labels, ownerReferences: this.owner(cluster) },
          data: this.secretData(cluster, 'postgres', this.internalSecrets(cluster).superuser, '*') });
        superuserPassword = unb64(created.data.password);
      }
    }
    return { ownerPassword, superuserPassword };
  }

  ensureServices(cluster) {
    const name = cluster.metadata.name;
    const selectors = {
      rw: { 'cnpg.io/cluster': name, 'cnpg.io/instanceRole': 'primary' },
      ro: { 'cnpg.io/cluster': name, 'cnpg.io/instanceRole': 'replica' },
      r: { 'cnpg.io/cluster': name, 'cnpg.io/podRole': 'instance' },
    };
    for (const [suffix, selector] of Object.entries(selectors)) {
      this.ensure({ apiVersion: 'v1', kind: 'Service',
        metadata: { name: `${name}-${suffix}`, namespace: cluster.metadata.namespace, labels: { 'cnpg.io/cluster': name }, ownerReferences: this.owner(cluster) },
        spec: { type: 'ClusterIP', selector, ports: [{ name: 'postgres', port: 5432, protocol: 'TCP', targetPort: 5432 }] } });
    }
  }

  // --- instances ---
  pods(cluster) {
    return this.store.list('v1', 'Pod', cluster.metadata.namespace)
      .filter((p) => (p.metadata.labels || {})['cnpg.io/cluster'] === cluster.metadata.name && (p.metadata.labels || {})['cnpg.io/podRole'] === 'instance')
      .sort((a, b) => serialOf(a.metadata.name) - serialOf(b.metadata.name));
  }

  managedRoles(cluster) {
    const ns = cluster.metadata.namespace;
    return (((cluster.spec || {}).managed || {}).roles || []).map((r) => {
      const role = Object.assign({}, r);
      delete role.passwordSecret;
      if (r.passwordSecret && r.passwordSecret.name) role.password = this.readSecret(ns, r.passwordSecret.name, 'password');
      if (r.disablePassword) role.password = null;
      return role;
    });
  }

  writeConfig(cluster, podName, role, primaryIP, passwords, names) {
    const ns = cluster.metadata.namespace;
    const home = instanceDir(this.dir, ns, cluster.metadata.name, podName);
    const pg = images.userOf('postgres');
    for (const d of [path.join(this.dir, 'cnpg'), path.join(this.dir, 'cnpg', 'data'), path.dirname(path.dirname(home)), path.dirname(home)]) {
      fs.mkdirSync(d, { recursive: true, mode: 0o711 });
      fs.chmodSync(d, 0o711);
    }
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.chownSync(home, pg.uid, pg.gid);
    const spec = cluster.spec || {};
    const init = this.initdbSpec(cluster);
    const config = {
      cluster: cluster.metadata.name, namespace: ns, podName, role, primaryIP, podCIDR: this.ranges.podCIDR, nodeIP: this.nodeIP,
      initdb: Object.assign({}, init, { ownerPassword: passwords.ownerPassword, secret: undefined }),
      superuserPassword: passwords.superuserPassword, replicationPassword: this.internalSecrets(cluster).replication,
      parameters: (spec.postgresql || {}).parameters || {}, pgHBA: (spec.postgresql || {}).pg_hba || [],
      replicas: names.filter((n) => n !== podName), managedRoles: this.managedRoles(cluster),
      archive: this.seams.archiveSettings ? this.seams.archiveSettings(cluster, this.store) : null,
    };
    const file = path.join(home, 'config.json');
    const text = JSON.stringify(config);
    let before = null;
    try { before = fs.readFileSync(file, 'utf8'); } catch { /* new */ }
    if (before !== text) {
      fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
      fs.chownSync(`${file}.tmp`, pg.uid, pg.gid);
      fs.renameSync(`${file}.tmp`, file);
    }
    return home;
  }

  podObject(cluster, podName, role) {
    const name = cluster.metadata.name;
    const ns = cluster.metadata.namespace;
    const labels = { 'cnpg.io/cluster': name, 'cnpg.io/instanceName': podName, 'cnpg.io/podRole': 'instance',
      'cnpg.io/instanceRole': role, role };
    const probe = (p) => ({ httpGet: { path: p, port: 8000, scheme: 'HTTP' }, periodSeconds: 1, timeoutSeconds: 2, failureThreshold: 2 });
    return {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: podName, namespace: ns, labels, annotations: { 'cnpg.io/podEnvHash': '', 'cnpg.io/operatorVersion': '1.28.4' }, ownerReferences: this.owner(cluster) },
      spec: {
        hostname: podName, subdomain: `${name}-any`, terminationGracePeriodSeconds: 10,
        containers: [{
          name: 'postgres', image: imageOf(cluster), command: [MANAGER, 'instance', 'run', '--status-port-tls=false', '--log-level=info'],
          env: [{ name: 'PGHOST', value: '/controller/run' }, { name: 'POD_NAME', value: podName }, { name: 'NAMESPACE', value: ns },
            { name: 'CLUSTER_NAME', value: name }, { name: 'PGPORT', value: '5432' }],
          ports: [{ name: 'postgresql', containerPort: 5432, protocol: 'TCP' }, { name: 'metrics', containerPort: 9187, protocol: 'TCP' },
            { name: 'status', containerPort: 8000, protocol: 'TCP' }],
          readinessProbe: probe('/readyz'),
        }],
      },
    };
  }

  async createInstance(cluster, podName, role, primaryIP, passwords, names) {
    const home = this.writeConfig(cluster, podName, role, primaryIP, passwords, names);
    const recovery = ((cluster.spec || {}).bootstrap || {}).recovery;
    if (role === 'primary' && recovery && this.seams.restoreBeforeStart && !fs.existsSync(path.join(home, 'pgdata', 'PG_VERSION'))) {
      await this.seams.restoreBeforeStart(cluster, path.join(home, 'pgdata'));
      const pg = images.userOf('postgres');
      require('child_process').execFileSync('chown', ['-R', `${pg.uid}:${pg.gid}`, home]);
    }
    try {
      this.store.createObject(this.podObject(cluster, podName, role));
    } catch (err) {
      if (err.code !== 409) throw err;
    }
  }

  // Polls each instance's status endpoint from the operator pod.
  async pollStatuses(cluster, pods, op) {
    const out = {};
    await Promise.all(pods.filter((p) => p.status && p.status.podIP).map(async (p) => {
      const url = `http://${p.status.podIP}:8000/pg/status`;
      const r = await operator.agentCall(this.dir, op, '/http', { url, timeoutMs: 2000 });
      let result;
      if (r.error) result = { error: r.error };
      else if (r.status !== 200) result = { error: `status ${r.status} from ${url}` };
      else { try { result = JSON.parse(r.body); } catch { result = { error: `bad status document from ${url}` }; } }
      if (!result.error) {
        const pgConn = await operator.agentCall(this.dir, op, '/tcp', { host: p.status.podIP, port: 5432, timeoutMs: 2000 });
        if (pgConn.error) result = { error: `failed to connect to PostgreSQL: ${pgConn.error}` };
      }
      out[p.metadata.name] = result;
      if (!result.error) this.lastStatus.set(`${cluster.metadata.namespace}/${p.metadata.name}`, result);
    }));
    return out;
  }

  relabel(pod, role) {
    const labels = pod.metadata.labels || {};
    if (labels['cnpg.io/instanceRole'] === role && labels.role === role) return;
    const fresh = this.store.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name);
    if (!fresh) return;
    fresh.metadata.labels = Object.assign({}, fresh.metadata.labels, { 'cnpg.io/instanceRole': role, role });
    this.store.updateObject(fresh);
  }

  chooseNewPrimary(cluster, pods, current) {
    const ns = cluster.metadata.namespace;
    const lsn = (s) => { const [hi, lo] = String((s && (s.replayLsn || s.currentLsn)) || '0/0').split('/'); return BigInt(`0x${hi}`) * 2n ** 32n + BigInt(`0x${lo}`); };
    const candidates = pods.filter((p) => p.metadata.name !== current && isReady(p) && !p.metadata.deletionTimestamp);
    candidates.sort((a, b) => {
      const d = lsn(this.lastStatus.get(`${ns}/${b.metadata.name}`)) - lsn(this.lastStatus.get(`${ns}/${a.metadata.name}`));
      return d > 0n ? 1 : d < 0n ? -1 : serialOf(a.metadata.name) - serialOf(b.metadata.name);
    });
    return candidates[0] || null;
  }

  async reconcile(cluster, op) {
    const ns = cluster.metadata.namespace;
    const name = cluster.metadata.name;
    const spec = cluster.spec || {};
    const wanted = Math.max(1, spec.instances || 1);
    const st = Object.assign({}, cluster.status || {});
    const known = operator.knownPlugins(this.store, op);
    const unknown = (spec.plugins || []).find((p) => p.enabled !== false && !known.has(p.name));
    if (unknown) {
      return this.writeStatus(cluster, { phase: PHASE.unknownPlugin, phaseReason: `Unknown plugin: '${unknown.name}'. ` +
        'This may be caused by the plugin not being loaded correctly by the operator. Check the operator and plugin logs for errors' });
    }
    const passwords = this.ensureSecrets(cluster);
    if (passwords.ownerPassword === null) return this.writeStatus(cluster, { phase: 'Setting up primary', phaseReason: `secret ${this.initdbSpec(cluster).secret.name} not found or without a password` });
    this.ensureServices(cluster);
    let pods = this.pods(cluster);
    const names = [];
    for (let n = 1; n <= Math.max(wanted, st.latestGeneratedNode || 0); n++) if (n <= wanted || pods.some((p) => serialOf(p.metadata.name) === n)) names.push(`${name}-${n}`);
    const byName = new Map(pods.map((p) => [p.metadata.name, p]));
    const patch = { instanceNames: names.filter((n) => byName.has(n)), writeService: `${name}-rw`, readService: `${name}-r`, image: imageOf(cluster) };

    // the first primary
    if (!st.currentPrimary) {
      const first = `${name}-1`;
      if (!byName.has(first)) await this.createInstance(cluster, first, 'primary', null, passwords, names);
      const pod = this.store.get('v1', 'Pod', ns, first);
      if (isReady(pod)) {
        Object.assign(patch, { currentPrimary: first, targetPrimary: first, currentPrimaryTimestamp: now(), targetPrimaryTimestamp: now(), latestGeneratedNode: 1 });
      } else {
        return this.writeStatus(cluster, Object.assign(patch, { phase: PHASE.firstPrimary, phaseReason: 'Creating primary instance', targetPrimary: first,
          latestGeneratedNode: 1, instances: pods.length, readyInstances: 0 }, this.podProblems(pods)));
      }
    }
    const current = patch.currentPrimary || st.currentPrimary;
    const currentPod = byName.get(current) || this.store.get('v1', 'Pod', ns, current);
    let target = patch.targetPrimary || st.targetPrimary || current;

    // failover
    if (target === current && (!currentPod || !isReady(currentPod) || currentPod.metadata.deletionTimestamp)) {
      const next = this.chooseNewPrimary(cluster, pods, current);
      if (next) {
        target = next.metadata.name;
        this.log(`cnpg: ${ns}/${name}: failing over from ${current} to ${target}`);
        patch.targetPrimary = target;
        patch.targetPrimaryTimestamp = now();
        patch.phase = PHASE.failingOver;
        patch.phaseReason = `Failing over from ${current} to ${target}`;
      }
    }
    const targetPod = byName.get(target);
    const primaryIP = targetPod && targetPod.status && targetPod.status.podIP;
    // while failing over the old primary is fenced (stopped) until the new one is promoted, then it follows it
    for (const p of pods) {
      const n = p.metadata.name;
      const role = n === target ? 'primary' : (target !== current && n === current ? 'fenced' : 'replica');
      this.writeConfig(cluster, n, role, role === 'replica' ? primaryIP : null, passwords, names);
    }
    if (!byName.has(current) && current === target) {
      // the primary's pod is gone and nobody can take over: recreate it from its data
      await this.createInstance(cluster, current, 'primary', null, passwords, names);
    }
    const statuses = await this.pollStatuses(cluster, pods, op);
    if (target !== current) {
      const s = statuses[target];
      if (s && !s.error && s.isPrimary) {
        patch.currentPrimary = target;
        patch.currentPrimaryTimestamp = now();
      } else {
        patch.phase = PHASE.failingOver;
        patch.phaseReason = `Failing over from ${current} to ${target}`;
      }
    }
    const primaryNow = patch.currentPrimary || current;
    for (const p of pods) this.relabel(p, p.metadata.name === primaryNow ? 'primary' : 'replica');

    // replicas, all at once, once there is a Ready primary
    const primaryPod = byName.get(primaryNow);
    let creating = false;
    if (isReady(primaryPod) && primaryNow === (patch.targetPrimary || target)) {
      for (const n of names.slice(0, wanted)) {
        if (byName.has(n)) continue;
        await this.createInstance(cluster, n, 'replica', primaryPod.status.podIP, passwords, names);
        creating = true;
      }
      patch.latestGeneratedNode = Math.max(st.latestGeneratedNode || 0, ...names.map(serialOf));
    }
    // scale down: the highest replicas beyond `instances`
    for (const p of pods) if (serialOf(p.metadata.name) > wanted && p.metadata.name !== primaryNow && !p.metadata.deletionTimestamp) {
      this.store.deleteObject('v1', 'Pod', ns, p.metadata.name);
    }
    pods = this.pods(cluster);
    this.writeStatus(cluster, Object.assign(patch, this.summary(cluster, pods, statuses, primaryNow, creating, patch)));
  }

  podProblems(pods) {
    for (const p of pods) {
      for (const cs of (p.status && p.status.containerStatuses) || []) {
        const w = cs.state && cs.state.waiting;
        if (w && /ErrImagePull|ImagePullBackOff/.test(w.reason)) return { phaseReason: `${p.metadata.name}: ${w.reason}: ${w.message}` };
      }
    }
    return {};
  }

  summary(cluster, pods, statuses, primary, creating, patch) {
    const ready = pods.filter(isReady);
    const unreachable = Object.entries(statuses).filter(([, s]) => s.error);
    const out = {
      instances: pods.length, readyInstances: ready.length,
      instancesStatus: { healthy: ready.map((p) => p.metadata.name), failed: pods.filter((p) => !isReady(p)).map((p) => p.metadata.name) },
      instancesReportedState: Object.fromEntries(Object.entries(statuses).filter(([, s]) => !s.error)
        .map(([n, s]) => [n, { isPrimary: !!s.isPrimary, timeLineID: s.timeLineID }])),
    };
    if (!out.instancesStatus.failed.length) delete out.instancesStatus.failed;
    const ps = statuses[primary];
    if (ps && !ps.error && ps.timeLineID) out.timelineID = ps.timeLineID;
    if (ps && !ps.error && ps.managedRoles) out.managedRolesStatus = ps.managedRoles;
    if (patch.phase === PHASE.failingOver) return out;
    const wanted = Math.max(1, (cluster.spec || {}).instances || 1);
    if (unreachable.length) {
      out.phase = PHASE.waiting;
      out.phaseReason = `Some instances are not yet active. Please wait. Instance status unreachable from the operator: ${unreachable.map(([n, s]) => `${n}: ${s.error}`).join('; ')}`;
    } else if (creating || pods.length < wanted || ready.length < pods.length) {
      Object.assign(out, { phase: creating || pods.length < wanted ? PHASE.creatingReplica : PHASE.waiting,
        phaseReason: creating || pods.length < wanted ? 'Creating replica' : 'Some instances are not yet active. Please wait.' }, this.podProblems(pods));
    } else {
      out.phase = PHASE.healthy;
      out.phaseReason = '';
    }
    return out;
  }

  // Writes the fields given (and the Ready condition from the phase), keeping what others wrote.
  writeStatus(cluster, patch) {
    const fresh = this.store.get(GROUP_VERSION, 'Cluster', cluster.metadata.namespace, cluster.metadata.name);
    if (!fresh || fresh.metadata.uid !== cluster.metadata.uid) return;
    const status = Object.assign({}, fresh.status || {}, patch);
    if (status.phaseReason === '') delete status.phaseReason;
    const healthy = status.phase === PHASE.healthy;
    status.conditions = mergeCondition(status.conditions, healthy
      ? { type: 'Ready', status: 'True', reason: 'ClusterIsReady', message: 'Cluster is Ready' }
      : { type: 'Ready', status: 'False', reason: 'ClusterIsNotReady', message: 'Cluster Is Not Ready' });
    fresh.status = status;
    this.store.updateStatus(fresh);
  }

  // For the barman side: set one condition on a Cluster's status.
  setClusterCondition(cluster, condition) {
    const fresh = this.store.get(GROUP_VERSION, 'Cluster', cluster.metadata.namespace, cluster.metadata.name);
    if (!fresh) return;
    fresh.status = Object.assign({}, fresh.status || {});
    fresh.status.conditions = mergeCondition(fresh.status.conditions, condition);
    this.store.updateStatus(fresh);
  }

  // After a Cluster is deleted: wait for its pods to be gone, then remove its data.
  removeData(cluster) {
    const ns = cluster.metadata.namespace;
    const name = cluster.metadata.name;
    const check = () => {
      const left = this.store.list('v1', 'Pod', ns).filter((p) => (p.metadata.labels || {})['cnpg.io/cluster'] === name);
      if (left.length) return setTimeout(check, 500).unref();
      fs.rmSync(path.join(this.dir, 'cnpg', 'data', ns, name), { recursive: true, force: true });
      this.secrets.delete(`${ns}/${name}`);
      for (const k of [...this.lastStatus.keys()]) if (k.startsWith(`${ns}/${name}-`)) this.lastStatus.delete(k);
    };
    check();
  }
}

function mergeCondition(list, condition) {
  const conditions = (list || []).slice();
  const i = conditions.findIndex((c) => c.type === condition.type);
  const old = i >= 0 ? conditions[i] : null;
  const lastTransitionTime = old && old.status === condition.status ? old.lastTransitionTime : now();
  const merged = Object.assign({ lastTransitionTime }, condition);
  if (i >= 0) conditions[i] = merged; else conditions.push(merged);
  return conditions;
}

module.exports = { ClusterController, PHASE, majorOf, DEFAULT_IMAGE, mergeCondition };
