'use strict';
// The barman-cloud plugin side of the lab, end to end with real kubectl, PostgreSQL 15 and barman-cloud against the
// lab's SigV4-checking S3 (as root): a Cluster archiving through the plugin gets ContinuousArchiving True and its
// WAL segments in the bucket; a wrong Spaces key makes ContinuousArchiving False with barman's message and writes
// nothing; a Backup goes pending → running → completed with its status, its objects (base/<id>/backup.info, data)
// listed with a SigV4 client (boto3), and the ObjectStore's serverRecoveryWindow follows it.

const test = require('node:test');
const assert = require('node:assert');
const { execFile } = require('child_process');
const { startLab } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor } = require('./node-helpers');
const h = require('./cnpg-helpers');

const NS = 'barman-e2e';
const BUCKET = 'pgbackups';
const IMAGE = 'ghcr.io/cloudnative-pg/postgresql:15.10';
const PLUGIN = 'barman-cloud.cloudnative-pg.io';

let lab = null;
let skipReason = null;

// boto3 from the host with the lab's root key: `op` is create | list.
function s3(op, ...args) {
  const script = `
import boto3, json, os, sys
c = boto3.client('s3', endpoint_url=os.environ['SPACES_ENDPOINT'], region_name='nyc3')
op, args = sys.argv[1], sys.argv[2:]
if op == 'create':
    c.create_bucket(Bucket=args[0])
elif op == 'list':
    keys = []
    for page in c.get_paginator('list_objects_v2').paginate(Bucket=args[0], Prefix=args[1]):
        keys += [o['Key'] for o in page.get('Contents', [])]
    print(json.dumps(keys))
`;
  return new Promise((resolve, reject) => execFile('python3', ['-c', script, op, ...args], {
    env: Object.assign({}, process.env, { SPACES_ENDPOINT: lab.env.SPACES_ENDPOINT, AWS_ACCESS_KEY_ID: lab.env.SPACES_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: lab.env.SPACES_SECRET_ACCESS_KEY }), timeout: 180000 },
  (err, stdout, stderr) => (err ? reject(new Error(`boto3 ${op}: ${stderr}`)) : resolve(stdout.trim() ? JSON.parse(stdout) : null))));
}

const objectStoreYAML = (name, secret) => `
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: {name: ${name}, namespace: ${NS}}
spec:
  configuration:
    destinationPath: s3://${BUCKET}/${name}
    endpointURL: ${lab.env.SPACES_ENDPOINT}
    s3Credentials:
      accessKeyId: {name: ${secret}, key: ACCESS_KEY_ID}
      secretAccessKey: {name: ${secret}, key: ACCESS_SECRET_KEY}
    wal: {compression: gzip}
    data: {compression: gzip}
`;

const secretYAML = (name, secretKey) => `
apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${NS}}
stringData: {ACCESS_KEY_ID: "${lab.env.SPACES_ACCESS_KEY_ID}", ACCESS_SECRET_KEY: "${secretKey}"}
`;

const clusterYAML = (name, store, { serverName, bootstrap } = {}) => `
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: ${name}, namespace: ${NS}}
spec:
  instances: 1
  imageName: ${IMAGE}
  enableSuperuserAccess: true
  storage: {size: 1Gi}
  plugins:
  - name: ${PLUGIN}
    isWALArchiver: true
    parameters: {barmanObjectName: ${store}${serverName ? `, serverName: ${serverName}` : ''}}
  bootstrap:
${bootstrap || '    initdb: {database: shop, owner: shop, postInitApplicationSQL: ["CREATE TABLE items (id int PRIMARY KEY)", "ALTER TABLE items OWNER TO shop"]}'}
`;

const condition = (o, type) => ((o && o.status && o.status.conditions) || []).find((c) => c.type === type);

async function superSQL(cluster, sql) {
  const s = await h.secretValues(lab, NS, `${cluster}-superuser`);
  const rw = await h.serviceIP(lab, NS, `${cluster}-rw`);
  const r = await h.psql({ host: rw, user: s.username, password: s.password, db: 'shop', sql });
  assert.equal(r.code, 0, `${cluster}: ${sql}: ${r.stderr}`);
  return r.out;
}

test.before(async () => {
  if (process.getuid && process.getuid() !== 0) { skipReason = 'the lab runs pods and needs root'; return; }
  if (!h.havePostgres()) { skipReason = 'PostgreSQL 15 is not installed'; return; }
  lab = await startLab();
  await s3('create', BUCKET);
  await apply(lab, `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`);
  await apply(lab, secretYAML('spaces', lab.env.SPACES_SECRET_ACCESS_KEY) + '---' + secretYAML('wrong-spaces', 'not-the-secret') +
    '---' + objectStoreYAML('store', 'spaces') + '---' + objectStoreYAML('wrong', 'wrong-spaces'));
  await h.installOperators(lab);
});

test.after(async () => { if (lab) await lab.stop(); });

function ready(t) {
  if (!haveKubectl(t)) return false;
  if (skipReason) { t.skip(skipReason); return false; }
  return true;
}

test('WAL archiving: ContinuousArchiving True with the first segment, segments in the bucket; a wrong key is False with barman\'s message', async (t) => {
  if (!ready(t)) return;
  await apply(lab, clusterYAML('src', 'store') + '---' + clusterYAML('bad', 'wrong'));
  await Promise.all(['src', 'bad'].map((n) => h.waitCluster(lab, NS, n, h.isHealthy, 'healthy', 300000)));
  await superSQL('src', 'SELECT pg_switch_wal()');
  await superSQL('bad', "CREATE TABLE t AS SELECT 1 AS x; SELECT pg_switch_wal()");
  const src = await h.waitCluster(lab, NS, 'src', (c) => (condition(c, 'ContinuousArchiving') || {}).status === 'True', 'archiving', 180000);
  assert.equal(condition(src, 'ContinuousArchiving').reason, 'ContinuousArchivingSuccess');
  const wals = await s3('list', BUCKET, 'store/src/wals/');
  assert.ok(wals.some((k) => /\/0000000100000000000000\w\w\.gz$/.test(k)), `WAL segments listed: ${wals.join(', ')}`);

  const bad = await h.waitCluster(lab, NS, 'bad', (c) => (condition(c, 'ContinuousArchiving') || {}).status === 'False', 'archiving failing', 180000);
  assert.equal(condition(bad, 'ContinuousArchiving').reason, 'ContinuousArchivingFailing');
  assert.match(condition(bad, 'ContinuousArchiving').message, /SignatureDoesNotMatch|403/);
  assert.deepEqual(await s3('list', BUCKET, 'wrong/'), [], 'nothing written with the wrong key');
  await kubectl(lab, ['delete', 'cluster', '-n', NS, 'bad', '--wait=false']);
});

test('a Backup goes pending → running → completed with its status; base/<backupId>/backup.info and data are in the bucket', async (t) => {
  if (!ready(t)) return;
  await apply(lab, `apiVersion: postgresql.cnpg.io/v1\nkind: Backup\nmetadata: {name: manual, namespace: ${NS}}\nspec:\n  cluster: {name: src}\n  method: plugin\n  pluginConfiguration: {name: ${PLUGIN}}\n`);
  const phases = new Set();
  const b = await waitFor(async () => {
    const o = await getJSON(lab, ['backups.postgresql.cnpg.io', '-n', NS, 'manual']);
    if (o && o.status && o.status.phase) phases.add(o.status.phase);
    return o && o.status && ['completed', 'failed'].includes(o.status.phase) && o;
  }, { timeoutMs: 240000, what: 'backup finished', everyMs: 300 });
  assert.equal(b.status.phase, 'completed', b.status.error);
  assert.ok(phases.has('running'), `phases seen: ${[...phases]}`);
  assert.match(b.status.backupId, /^\d{8}T\d{6}$/);
  assert.equal(b.status.serverName, 'src');
  assert.equal(b.status.destinationPath, `s3://${BUCKET}/store`);
  assert.match(b.status.beginWal, /^[0-9A-F]{24}$/);
  assert.match(b.status.endLSN, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.ok(new Date(b.status.stoppedAt) >= new Date(b.status.startedAt));
  const keys = await s3('list', BUCKET, `store/src/base/${b.status.backupId}/`);
  assert.ok(keys.includes(`store/src/base/${b.status.backupId}/backup.info`), keys.join(', '));
  assert.ok(keys.some((k) => /\/data\.tar\.gz$/.test(k)), keys.join(', '));
  const os = await waitFor(async () => {
    const o = await getJSON(lab, ['objectstores.barmancloud.cnpg.io', '-n', NS, 'store']);
    const w = o && o.status && o.status.serverRecoveryWindow && o.status.serverRecoveryWindow.src;
    return w && w.lastSuccessfulBackupTime && o;
  }, { timeoutMs: 30000, what: 'serverRecoveryWindow' });
  assert.ok(os.status.serverRecoveryWindow.src.firstRecoverabilityPoint);
  assert.equal(os.status.serverRecoveryWindow.src.lastSuccessfulBackupTime, b.status.stoppedAt);
});
