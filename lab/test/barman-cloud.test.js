'use strict';
// The barman-cloud plugin side of the lab, end to end with real kubectl, PostgreSQL 15 and barman-cloud against the
// lab's SigV4-checking S3 (as root): a Cluster archiving through the plugin gets ContinuousArchiving True and its
// WAL segments in the bucket; a Backup completes with its status and its objects (base/<id>/backup.info, data)
// listed with a SigV4 client (boto3); recovery to targetTimes between commits brings back exactly the rows
// committed up to each; "Expected empty archive" and a target before the first recoverability point are refused
// with CNPG's reasons; a ScheduledBackup every 10 s creates Backups named as CNPG names them; retention deletes a
// backup older than the window; a wrong Spaces key makes ContinuousArchiving False with barman's message.

const test = require('node:test');
const assert = require('node:assert');
const { execFile } = require('child_process');
const { startLab } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor, sleep } = require('./node-helpers');
const h = require('./cnpg-helpers');

const NS = 'barman-e2e';
const BUCKET = 'pgbackups';
const IMAGE = 'ghcr.io/cloudnative-pg/postgresql:15.10';
const PLUGIN = 'barman-cloud.cloudnative-pg.io';

let lab = null;
let skipReason = null;

// boto3 from the host with the lab's root key: `op` is create | list | copy-info.
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
elif op == 'copy-info':
    bucket, src, dst, begin, end = args
    text = c.get_object(Bucket=bucket, Key=src + '/backup.info')['Body'].read().decode()
    lines = []
    for l in text.splitlines():
        if l.startswith('begin_time='): l = 'begin_time=' + begin
        elif l.startswith('end_time='): l = 'end_time=' + end
        elif l.startswith('backup_name='): continue
        lines.append(l)
    c.put_object(Bucket=bucket, Key=dst + '/backup.info', Body='\\n'.join(lines).encode() + b'\\n')
    c.put_object(Bucket=bucket, Key=dst + '/data.tar', Body=b'')
`;
  return new Promise((resolve, reject) => execFile('python3', ['-c', script, op, ...args], {
    env: Object.assign({}, process.env, { SPACES_ENDPOINT: lab.env.SPACES_ENDPOINT, AWS_ACCESS_KEY_ID: lab.env.SPACES_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: lab.env.SPACES_SECRET_ACCESS_KEY }), timeout: 180000 },
  (err, stdout, stderr) => (err ? reject(new Error(`boto3 ${op}: ${stderr}`)) : resolve(stdout.trim() ? JSON.parse(stdout) : null))));
}

const objectStoreYAML = (name, secret, retention = '') => `
apiVersion: barmancloud.cnpg.io/v1
kind: ObjectStore
metadata: {name: ${name}, namespace: ${NS}}
spec:
  ${retention ? `retentionPolicy: "${retention}"` : ''}
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

const recoveryYAML = (name, target, { ownServer } = {}) => clusterYAML(name, 'store', { serverName: ownServer || name, bootstrap: `
    recovery:
      source: origin
      recoveryTarget: {targetTime: "${target}"}
  externalClusters:
  - name: origin
    plugin: {name: ${PLUGIN}, parameters: {barmanObjectName: store, serverName: src}}` });

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
  process.env.LAB_BARMAN_RETENTION_MS = '5000'; // the lab daemon applies retentionPolicy every 5 s (default 5 min)
  lab = await startLab();
  await s3('create', BUCKET);
  await apply(lab, `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`);
  await apply(lab, secretYAML('spaces', lab.env.SPACES_SECRET_ACCESS_KEY) + '---' + secretYAML('wrong-spaces', 'not-the-secret') +
    '---' + objectStoreYAML('store', 'spaces', '1d') + '---' + objectStoreYAML('wrong', 'wrong-spaces'));
  await h.installOperators(lab);
});

test.after(async () => { if (lab) await lab.stop(); });

function ready(t) {
  if (!haveKubectl(t)) return false;
  if (skipReason) { t.skip(skipReason); return false; }
  return true;
}

const state = {};

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
  state.backup = b;
});

// The database's clock after a commit, as RFC 3339 with an offset.
const nowSQL = `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')`;

test('recovery to targetTimes between commits brings back exactly the rows committed up to each, and archives to its own server', async (t) => {
  if (!ready(t)) return;
  assert.ok(state.backup, 'needs the completed backup');
  const targets = [];
  for (let id = 1; id <= 3; id++) {
    await superSQL('src', `INSERT INTO items VALUES (${id})`);
    await sleep(300);
    targets.push([id, await superSQL('src', nowSQL)]);
    await sleep(300);
  }
  await superSQL('src', 'INSERT INTO items VALUES (4)');
  await superSQL('src', 'SELECT pg_switch_wal()');
  await waitFor(async () => (await superSQL('src', "SELECT last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) FROM pg_stat_archiver")) === 't',
    { timeoutMs: 300000, what: 'the last segment archived', everyMs: 2000 });
  const picked = [targets[0], targets[2]];
  await apply(lab, picked.map(([id, at]) => recoveryYAML(`rec-${id}`, at)).join('---'));
  for (const [id] of picked) {
    await h.waitCluster(lab, NS, `rec-${id}`, h.isHealthy, 'healthy after recovery', 300000);
    const rows = await superSQL(`rec-${id}`, 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM items');
    assert.equal(rows, Array.from({ length: id }, (_, i) => i + 1).join(','), `rec-${id}: rows up to the target`);
    assert.equal(await superSQL(`rec-${id}`, 'SELECT pg_is_in_recovery()'), 'f', 'promoted');
  }
  await superSQL('rec-1', 'SELECT pg_switch_wal()');
  const c = await h.waitCluster(lab, NS, 'rec-1', (x) => (condition(x, 'ContinuousArchiving') || {}).status === 'True', 'archiving', 180000);
  assert.ok(c);
  const own = await s3('list', BUCKET, 'store/rec-1/wals/');
  assert.ok(own.some((k) => /\/00000002\.history\.gz$|\/000000020000/.test(k)), `rec-1 archives its new timeline: ${own.join(', ')}`);
});

test('recovery refusals: "Expected empty archive", a target before the first recoverability point', async (t) => {
  if (!ready(t)) return;
  assert.ok(state.backup, 'needs the completed backup');
  const early = new Date(new Date(state.backup.status.startedAt).getTime() - 3600e3).toISOString().replace(/\.\d+Z$/, '+00:00');
  await apply(lab, recoveryYAML('same-server', new Date().toISOString(), { ownServer: 'src' }) + '---' + recoveryYAML('too-early', early));
  const same = await h.waitCluster(lab, NS, 'same-server', (c) => c.status && /Expected empty archive/.test(c.status.phaseReason || ''), 'refused', 180000);
  assert.equal(same.status.phase, 'Setting up primary');
  const early1 = await h.waitCluster(lab, NS, 'too-early', (c) => c.status && /no target backup found/.test(c.status.phaseReason || ''), 'refused', 180000);
  assert.notEqual(early1.status.phase, 'Cluster in healthy state');
  const pods = await getJSON(lab, ['pods', '-n', NS, '-l', 'cnpg.io/cluster in (same-server,too-early)']);
  assert.equal(pods.items.length, 0, 'no instance started');
  await kubectl(lab, ['delete', 'cluster', '-n', NS, 'same-server', 'too-early', 'rec-3', '--wait=false']);
});

test('a ScheduledBackup every 10 s creates Backups named as CNPG names them; suspend stops it', async (t) => {
  if (!ready(t)) return;
  await apply(lab, `apiVersion: postgresql.cnpg.io/v1\nkind: ScheduledBackup\nmetadata: {name: every10, namespace: ${NS}}\nspec:
  schedule: "*/10 * * * * *"\n  immediate: true\n  backupOwnerReference: self\n  cluster: {name: src}\n  method: plugin\n  pluginConfiguration: {name: ${PLUGIN}}\n`);
  const list = () => getJSON(lab, ['backups.postgresql.cnpg.io', '-n', NS, '-l', 'cnpg.io/scheduled-backup=every10']);
  const got = await waitFor(async () => {
    const l = await list();
    return l && l.items.length >= 3 && l.items.some((b) => (b.status || {}).phase === 'completed') && l;
  }, { timeoutMs: 240000, what: 'three scheduled backups, one completed', everyMs: 1000 });
  const scheduled = got.items.filter((b) => !(b.metadata.labels || {})['cnpg.io/immediateBackup']);
  assert.ok(got.items.some((b) => b.metadata.labels['cnpg.io/immediateBackup'] === 'true'), 'the immediate backup');
  for (const b of got.items) {
    assert.match(b.metadata.name, /^every10-\d{14}$/);
    assert.equal(b.metadata.ownerReferences[0].kind, 'ScheduledBackup');
    assert.equal(b.spec.cluster.name, 'src');
  }
  for (const b of scheduled) assert.equal(Number(b.metadata.name.slice(-2)) % 10, 0, `${b.metadata.name} on a 10 s boundary`);
  const sb = await getJSON(lab, ['scheduledbackups.postgresql.cnpg.io', '-n', NS, 'every10']);
  assert.ok(sb.status.lastScheduleTime && sb.status.lastCheckTime);
  assert.ok(new Date(sb.status.nextScheduleTime) > new Date(sb.status.lastCheckTime));
  assert.equal(new Date(sb.status.nextScheduleTime).getUTCSeconds() % 10, 0);
  await kubectl(lab, ['patch', 'scheduledbackups.postgresql.cnpg.io', '-n', NS, 'every10', '--type=merge', '-p', '{"spec":{"suspend":true}}']);
  await sleep(1000);
  const before = (await list()).items.length;
  await sleep(11000);
  assert.equal((await list()).items.length, before, 'no Backup while suspended');
});

test('retention (retentionPolicy 1d) deletes the backup that fell out of the recovery window', async (t) => {
  if (!ready(t)) return;
  assert.ok(state.backup, 'needs the completed backup');
  const src = `store/src/base/${state.backup.status.backupId}`;
  const day = 86400e3;
  const stamp = (ms) => new Date(Date.now() - ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '+00:00');
  const id = (ms) => new Date(Date.now() - ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').slice(0, 15);
  const oldest = id(3 * day);
  const older = id(2 * day);
  await s3('copy-info', BUCKET, src, `store/src/base/${oldest}`, stamp(3 * day + 60e3), stamp(3 * day));
  await s3('copy-info', BUCKET, src, `store/src/base/${older}`, stamp(2 * day + 60e3), stamp(2 * day));
  await waitFor(async () => {
    const keys = await s3('list', BUCKET, 'store/src/base/');
    return !keys.some((k) => k.includes(`/${oldest}/`)) && keys;
  }, { timeoutMs: 40000, what: `backup ${oldest} deleted by retention`, everyMs: 1000 });
  const keys = await s3('list', BUCKET, 'store/src/base/');
  assert.ok(keys.some((k) => k.includes(`/${older}/`)), 'the newest backup before the window is kept (needed to recover its start)');
  assert.ok(keys.some((k) => k.includes(`/${state.backup.status.backupId}/`)), 'backups inside the window are kept');
});
