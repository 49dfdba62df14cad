'use strict';
// CloudNativePG and the barman-cloud plugin in the lab: the time from `kubectl apply` of a 1-instance Cluster
// (archiving through the plugin) to its Ready condition, from a Backup's creation to `completed`, and from a
// recovery Cluster's apply (bootstrap.recovery from that backup) to Ready, each against a floor: PostgreSQL's own
// start-up on this machine (initdb + start until it accepts connections, run as `postgres` in a temporary
// directory). Median of REPEATS (3). Runs as root against a lab (`lab up`, then `. DIR/env`) with kubectl and
// python3-boto3; installs the operator manifests of lab/test/fixtures/operators if they are not there. Asserts
// nothing about time: read the numbers.
//
// Usage: node bench/cnpg.js [REPEATS]

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFile } = require('child_process');

const REPEATS = Number(process.argv[2] || 3);
const NS = `bench-cnpg-${process.pid}`;
const BUCKET = 'bench-cnpg';
const PLUGIN = 'barman-cloud.cloudnative-pg.io';
const OPERATORS = path.join(__dirname, '..', 'lab', 'test', 'fixtures', 'operators');
const PG_BIN = '/usr/lib/postgresql/15/bin';

function run(cmd, args, { input, env } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20, env: Object.assign({}, process.env, env || {}) },
      (err, stdout, stderr) => resolve({ code: err ? err.code || 1 : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

// A discovery cache of its own: ~/.kube/cache may hold another lab's API at the same address.
const CACHE = require('fs').mkdtempSync(path.join(require('os').tmpdir(), 'bench-cnpg-kube-'));
const kubectl = (args, input) => run('kubectl', ['--cache-dir', CACHE, ...args], { input });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function must(p) {
  const r = await p;
  if (r.code !== 0) throw new Error(r.stderr || r.stdout);
  return r;
}

async function getJSON(args) {
  const r = await kubectl(['get', ...args, '-o', 'json']);
  return r.code === 0 ? JSON.parse(r.stdout) : null;
}

async function until(fn) {
  for (;;) {
    const v = await fn();
    if (v) return v;
    await sleep(100);
  }
}

// PostgreSQL's own start-up: initdb + start until it accepts connections, as postgres.
async function postgresFloor() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pg-'));
  fs.chmodSync(dir, 0o777);
  const as = (cmd, args) => run('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', path.join(PG_BIN, cmd), ...args]);
  try {
    const t0 = process.hrtime.bigint();
    await must(as('initdb', ['-D', path.join(dir, 'data'), '--no-sync', '-U', 'postgres', '--auth=trust']));
    await must(as('pg_ctl', ['-D', path.join(dir, 'data'), '-o', `-k ${dir} -c listen_addresses=''`, '-w', 'start', '-l', path.join(dir, 'log')]));
    const total = ms(t0);
    await as('pg_ctl', ['-D', path.join(dir, 'data'), '-m', 'immediate', 'stop']);
    return total;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function installOperators() {
  const d = await getJSON(['deployment', '-n', 'cnpg-system', 'cnpg-controller-manager']);
  if (!d) {
    for (const f of ['cert-manager.io_certificates.yaml', 'cert-manager.io_issuers.yaml', 'cnpg-1.28.4.yaml', 'plugin-barman-cloud-0.14.0.yaml']) {
      await must(kubectl(['apply', '--server-side', '-f', path.join(OPERATORS, f)]));
    }
  }
  await must(kubectl(['wait', '-n', 'cnpg-system', 'deployment/cnpg-controller-manager', '--for=condition=Available', '--timeout=120s']));
}

async function prepare() {
  await run('python3', ['-c', `import boto3, os
c = boto3.client('s3', endpoint_url=os.environ['SPACES_ENDPOINT'], region_name='nyc3',
    aws_access_key_id=os.environ['SPACES_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['SPACES_SECRET_ACCESS_KEY'])
try:
    c.create_bucket(Bucket='${BUCKET}')
except c.exceptions.BucketAlreadyOwnedByYou:
    pass`]);
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'spaces', namespace: NS },
    stringData: { ACCESS_KEY_ID: process.env.SPACES_ACCESS_KEY_ID, ACCESS_SECRET_KEY: process.env.SPACES_SECRET_ACCESS_KEY } };
  const store = { apiVersion: 'barmancloud.cnpg.io/v1', kind: 'ObjectStore', metadata: { name: 'store', namespace: NS },
    spec: { configuration: { destinationPath: `s3://${BUCKET}/${NS}`, endpointURL: process.env.SPACES_ENDPOINT,
      s3Credentials: { accessKeyId: { name: 'spaces', key: 'ACCESS_KEY_ID' }, secretAccessKey: { name: 'spaces', key: 'ACCESS_SECRET_KEY' } },
      wal: { compression: 'gzip' }, data: { compression: 'gzip' } } } };
  await must(kubectl(['create', 'namespace', NS]));
  await must(kubectl(['apply', '--server-side', '--validate=false', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [secret, store] })));
}

function cluster(name, bootstrap, externalClusters) {
  return { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name, namespace: NS },
    spec: { instances: 1, imageName: 'ghcr.io/cloudnative-pg/postgresql:15.10', storage: { size: '1Gi' }, bootstrap, externalClusters,
      plugins: [{ name: PLUGIN, isWALArchiver: true, parameters: { barmanObjectName: 'store', serverName: name } }] } };
}

const readyTrue = (o) => ((o && o.status && o.status.conditions) || []).some((c) => c.type === 'Ready' && c.status === 'True');

async function timeApplyReady(obj) {
  const t0 = process.hrtime.bigint();
  await must(kubectl(['apply', '--server-side', '--validate=false', '-f', '-'], JSON.stringify(obj)));
  await until(async () => readyTrue(await getJSON(['clusters.postgresql.cnpg.io', '-n', NS, obj.metadata.name])));
  return ms(t0);
}

async function timeBackup(clusterName, name) {
  const t0 = process.hrtime.bigint();
  await must(kubectl(['apply', '--server-side', '--validate=false', '-f', '-'], JSON.stringify({ apiVersion: 'postgresql.cnpg.io/v1', kind: 'Backup', metadata: { name, namespace: NS },
    spec: { cluster: { name: clusterName }, method: 'plugin', pluginConfiguration: { name: PLUGIN } } })));
  const b = await until(async () => {
    const o = await getJSON(['backups.postgresql.cnpg.io', '-n', NS, name]);
    return o && o.status && ['completed', 'failed'].includes(o.status.phase) && o;
  });
  if (b.status.phase !== 'completed') throw new Error(`backup ${name}: ${b.status.error}`);
  return ms(t0);
}

async function main() {
  if (!process.env.KUBECONFIG || !process.env.SPACES_ENDPOINT) throw new Error('run against a lab: . DIR/env first');
  await installOperators();
  await prepare();
  const rows = { floor: [], ready: [], backup: [], recovery: [] };
  try {
    for (let i = 0; i < REPEATS; i++) {
      rows.floor.push(await postgresFloor());
      rows.ready.push(await timeApplyReady(cluster(`src-${i}`, { initdb: { database: 'app', owner: 'app' } })));
      rows.backup.push(await timeBackup(`src-${i}`, `b-${i}`));
      rows.recovery.push(await timeApplyReady(cluster(`rec-${i}`, { recovery: { source: 'origin' } },
        [{ name: 'origin', plugin: { name: PLUGIN, parameters: { barmanObjectName: 'store', serverName: `src-${i}` } } }])));
    }
  } finally {
    await kubectl(['delete', 'namespace', NS, '--wait=false']);
  }
  const floor = median(rows.floor);
  console.log(`median of ${REPEATS}            ms      x floor`);
  for (const [label, key] of [['PostgreSQL initdb + start', 'floor'], ['Cluster apply → Ready', 'ready'], ['Backup → completed', 'backup'],
    ['recovery apply → Ready', 'recovery']]) {
    const m = median(rows[key]);
    console.log(`${label.padEnd(26)} ${m.toFixed(0).padStart(7)}  ${(m / floor).toFixed(1).padStart(7)}`);
  }
}

main().catch((err) => { console.error(`bench/cnpg.js: ${err.message}`); process.exit(1); });
