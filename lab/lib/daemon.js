'use strict';
// The lab daemon: one Node process (started by `lab up` with --openssl-legacy-provider, in its own process
// group) that runs the admin endpoint, the Spaces front (with s3rver), the Kubernetes API server and the
// DigitalOcean API server on 127.0.0.1 ephemeral ports, then writes DIR/kubeconfig, DIR/env (0600) and
// DIR/state.json. Once the Kubernetes API is up, the admin endpoint also serves POST /logs (append to a pod's
// log), and the CloudNativePG operator side runs (lib/cnpg/, with the pod network only). On SIGTERM/SIGINT (or when
// --owner-pid dies) it closes every server and removes state.json.
// It does not daemonise itself (bin/lab does) and writes nothing outside DIR.
//
// --no-workloads: readiness-only mode (no pod runs; a fake kubelet makes pods Ready, and k8s/fake-cloud.js plays
// load-balancer addresses, cert-manager and CloudNativePG's Cluster and Backup statuses), LAB_WORKLOADS=off in DIR/env.
//
// Usage: node --openssl-legacy-provider lib/daemon.js --dir DIR [--latency-ms N] [--owner-pid PID] [--no-workloads]

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const YAML = require('yaml');
const admin = require('./admin');
const { KeyStore } = require('./s3/keys');
const s3front = require('./s3/front');
const k8sServer = require('./k8s/server');
const doServer = require('./do/server');
const nodeRuntime = require('./node');
const cnpg = require('./cnpg');

const HOST = '127.0.0.1';
const REGION = 'nyc3';
const ROOT_KEY_NAME = 'lab-root';
const CLOSE_TIMEOUT_MS = 5000;

function log(line) {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function parseArgs(argv) {
  const opts = { dir: null, latencyMs: 0, ownerPid: null, clusterReadyDelayMs: undefined, workloads: 'on' };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--dir': opts.dir = path.resolve(value()); break;
      case '--latency-ms': opts.latencyMs = Number(value()); break;
      case '--owner-pid': opts.ownerPid = Number(value()); break;
      case '--cluster-ready-delay-ms': opts.clusterReadyDelayMs = Number(value()); break;
      case '--no-workloads': opts.workloads = 'off'; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.dir) throw new Error('--dir is required');
  if (!Number.isFinite(opts.latencyMs) || opts.latencyMs < 0) throw new Error('--latency-ms must be a number >= 0');
  return opts;
}

function randomToken(prefix) {
  return prefix + crypto.randomBytes(24).toString('hex');
}

// Writes a file atomically with the given mode.
function writePrivate(file, text, mode = 0o600) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

function rootKey(keys) {
  const existing = keys.list().find((k) => k.root && k.name === ROOT_KEY_NAME);
  if (existing) return keys.get(existing.access_key);
  return keys.create({ name: ROOT_KEY_NAME, root: true });
}

function kubeconfigText(k8s) {
  const b64 = (pem) => Buffer.from(pem).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'lab', cluster: { server: k8s.url, 'certificate-authority-data': b64(k8s.caData) } }],
    users: [
      { name: 'lab', user: { token: k8s.token } },
      { name: 'lab-cert', user: { 'client-certificate-data': b64(k8s.clientCert), 'client-key-data': b64(k8s.clientKey) } },
    ],
    contexts: [
      { name: 'lab', context: { cluster: 'lab', user: 'lab', namespace: 'default' } },
      { name: 'lab-cert', context: { cluster: 'lab', user: 'lab-cert', namespace: 'default' } },
    ],
    'current-context': 'lab',
    preferences: {},
  };
  return YAML.stringify(config);
}

function shellQuote(value) {
  return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

function envText(vars) {
  return Object.entries(vars)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
    .join('\n') + '\n';
}

async function closeAll(parts) {
  for (const [name, part] of [...parts].reverse()) {
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), CLOSE_TIMEOUT_MS).unref());
    const outcome = await Promise.race([Promise.resolve().then(() => part.close()).then(() => 'closed'), timeout])
      .catch((err) => `failed: ${err.message}`);
    if (outcome !== 'closed') log(`closing ${name}: ${outcome}`);
  }
}

async function startParts(opts, tokens, keys) {
  const parts = [];
  const components = {};
  const adminServer = await admin.startAdminServer({ host: HOST, port: 0, token: tokens.admin });
  parts.push(['admin', adminServer]);
  components.admin = { url: adminServer.url, port: adminServer.port };

  // With the pod network, the Spaces front listens on the node's address, which pods reach as well as the host.
  const s3Host = opts.ranges.podNetwork ? require('./node/network').hostIP() : HOST;
  const s3 = await s3front.start({ dir: opts.dir, host: s3Host, port: 0, instrument: new admin.Instrument('s3'), keys,
    region: REGION, log: (line) => log(line) });
  parts.push(['s3', s3]);
  components.s3 = { url: s3.endpoint, port: s3.port };

  const node = {};
  const k8s = await k8sServer.start({ dir: opts.dir, host: HOST, port: 0, instrument: new admin.Instrument('k8s'),
    token: tokens.k8s, log: (line) => log(line), workloads: opts.workloads, podCIDR: opts.ranges.podCIDR,
    nodeIP: opts.ranges.podNetwork ? require('./node/network').hostIP() : undefined,
    execInPod: (...args) => node.execInPod(...args) });
  parts.push(['k8s', k8s]);
  if (opts.ranges.podNetwork) {
    Object.assign(node, nodeRuntime.start({ dir: opts.dir, store: k8s.store, ranges: opts.ranges, log }));
    parts.push(['node', node]);
  }
  components.k8s = { url: k8s.url, port: k8s.port };
  adminServer.route('POST /logs', (request) => appendPodLog(k8s.store, request.body));
  if (opts.ranges.podNetwork) {
    parts.push(['cnpg', cnpg.start({ dir: opts.dir, k8s, ranges: opts.ranges, nodeIP: require('./node/network').hostIP(), log,
      admin: { route: adminServer.route, AdminError: admin.AdminError } })]);
  } else {
    parts.push(['fake-cloud', require('./k8s/fake-cloud').start({ store: k8s.store, registry: k8s.registry,
      validator: k8s.validator, ranges: opts.ranges, log })]);
  }

  const api = await doServer.start({
    dir: opts.dir, host: HOST, port: 0, instrument: new admin.Instrument('do'), token: tokens.do,
    k8s: { url: k8s.url, caData: k8s.caData, token: k8s.token }, keys,
    clusterReadyDelayMs: opts.clusterReadyDelayMs, log: (line) => log(line),
  });
  parts.push(['do', api]);
  components.do = { url: api.url, port: api.port };
  return { parts, components, k8s, s3 };
}

// POST /logs {namespace, pod, container?, text} on the admin endpoint: appends to the pod's log (what
// `GET pods/NAME/log` and `kubectl logs` show). 404 when the pod does not exist.
function appendPodLog(store, { namespace, pod, container, text }) {
  for (const [name, value] of Object.entries({ namespace, pod })) {
    if (typeof value !== 'string' || !value) throw new admin.AdminError(400, 'bad_request', `${name} must be a non-empty string`);
  }
  if (typeof text !== 'string') throw new admin.AdminError(400, 'bad_request', 'text must be a string');
  if (container !== undefined && (typeof container !== 'string' || !container)) {
    throw new admin.AdminError(400, 'bad_request', 'container, when given, must be a non-empty string');
  }
  const found = store.get('v1', 'Pod', namespace, pod);
  if (!found) throw new admin.AdminError(404, 'not_found', `pod "${pod}" not found in namespace "${namespace}"`);
  const names = ((found.spec && found.spec.containers) || []).map((c) => c.name);
  if (container !== undefined && names.length && !names.includes(container)) {
    throw new admin.AdminError(400, 'bad_request', `container "${container}" is not in pod "${pod}" (containers: ${names.join(', ')})`);
  }
  store.appendLog(namespace, pod, text, container);
  return { status: 204 };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(opts.dir, 'tmp'), { recursive: true, mode: 0o700 });
  const statePath = path.join(opts.dir, 'state.json');
  log(`lab daemon ${process.pid} starting in ${opts.dir}`);

  const tokens = { admin: randomToken('lab-admin-'), do: randomToken('dop_v1_'), k8s: randomToken('lab-k8s-') };
  const keys = new KeyStore(opts.dir);
  const root = rootKey(keys);
  if (opts.latencyMs > 0) admin.setLatency({ ms: opts.latencyMs });

  let started;
  try {
    opts.ranges = opts.workloads === 'off' ? nodeRuntime.rangesOnly(opts.dir) : { ...nodeRuntime.prepare(opts.dir), podNetwork: true };
    process.env.LAB_SERVICE_CIDR = opts.ranges.serviceCIDR;
    started = await startParts(opts, tokens, keys);
  } catch (err) {
    log(`start failed: ${err.stack || err}`);
    process.exit(1);
  }
  const { parts, components, k8s } = started;

  writePrivate(path.join(opts.dir, 'kubeconfig'), kubeconfigText(k8s));
  writePrivate(path.join(opts.dir, 'env'), envText({
    KUBECONFIG: path.join(opts.dir, 'kubeconfig'),
    DIGITALOCEAN_API_URL: components.do.url,
    DIGITALOCEAN_ACCESS_TOKEN: tokens.do,
    SPACES_ENDPOINT: components.s3.url,
    SPACES_REGION: REGION,
    SPACES_ACCESS_KEY_ID: root.access_key,
    SPACES_SECRET_ACCESS_KEY: root.secret_key,
    LAB_ADMIN_URL: components.admin.url,
    LAB_ADMIN_TOKEN: tokens.admin,
    LAB_POD_CIDR: opts.ranges.podCIDR,
    LAB_SERVICE_CIDR: opts.ranges.serviceCIDR,
    LAB_LB_CIDR: opts.ranges.lbCIDR,
    LAB_WORKLOADS: opts.workloads,
  }));
  const state = {
    pid: process.pid, pgid: process.pid, dir: opts.dir, started_at: new Date().toISOString(),
    node: process.version, latency_ms: opts.latencyMs, workloads: opts.workloads, components,
  };
  writePrivate(statePath, JSON.stringify(state, null, 2) + '\n');
  for (const [name, c] of Object.entries(components)) log(`${name} listening on ${c.url}`);
  log('lab ready');

  let stopping = false;
  const stop = async (why) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    await closeAll(parts);
    try {
      const current = JSON.parse(fs.readFileSync(statePath, 'utf8'));
      if (current.pid === process.pid) fs.rmSync(statePath, { force: true });
    } catch { /* already gone */ }
    log('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  if (opts.ownerPid) watchOwner(opts.ownerPid, stop);
}

// Stops the lab when the process that asked for it (a test run) is gone, so a crashed test leaves nothing.
function watchOwner(pid, stop) {
  setInterval(() => {
    try { process.kill(pid, 0); } catch (err) { if (err.code === 'ESRCH') stop(`owner ${pid} exited`); }
  }, 1000).unref();
}

process.on('uncaughtException', (err) => log(`uncaught exception (the lab keeps running): ${err.stack || err}`));
process.on('unhandledRejection', (err) => log(`unhandled rejection (the lab keeps running): ${err && err.stack || err}`));

if (require.main === module) {
  main().catch((err) => {
    log(`fatal: ${err.stack || err}`);
    process.exit(1);
  });
}

module.exports = { parseArgs, kubeconfigText, envText, shellQuote, appendPodLog };
