'use strict';
// The CloudNativePG operator side of the lab, end to end with real kubectl and PostgreSQL 15 (as root): a Cluster
// applied before the operator is installed stays untouched; once the pinned release manifest (and the plugin's,
// with cert-manager's CRDs) are applied and the operator's Deployment is Available, a 2-instance Cluster serves
// writes on -rw and reads on -ro from a pod and from the host, its app Secret's credentials work and replication
// lag reaches zero; killing the primary's PostgreSQL fails over with no committed row lost and the old primary
// rejoins as a replica; a NetworkPolicy keeping the operator out makes the Cluster unhealthy with the reason, and
// admitting it heals it; the webhook refuses with CNPG's messages; a PostgreSQL 16 image is ErrImagePull; deleting
// the Cluster removes its pods and data.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { startLab, admin } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor, isReady } = require('./node-helpers');
const h = require('./cnpg-helpers');

const NS = 'cnpg-e2e';
const IMAGE = 'ghcr.io/cloudnative-pg/postgresql:15.10';

const clusterYAML = (name, extra = '') => `
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: ${name}, namespace: ${NS}}
spec:
  instances: 2
  imageName: ${IMAGE}
  enableSuperuserAccess: true
  storage: {size: 1Gi}
  bootstrap:
    initdb: {database: shop, owner: shop, postInitApplicationSQL: ["CREATE TABLE items (id int PRIMARY KEY, note text)", "ALTER TABLE items OWNER TO shop"]}
${extra}`;

const CLIENT_POD = `
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ${NS}, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox:1.36, command: [sleep, '3600']}]
`;

let lab = null;
let skipReason = null;

test.before(async () => {
  if (process.getuid && process.getuid() !== 0) { skipReason = 'the lab runs pods and needs root'; return; }
  if (!h.havePostgres()) { skipReason = 'PostgreSQL 15 is not installed'; return; }
  lab = await startLab();
  await apply(lab, `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`);
});

test.after(async () => { if (lab) await lab.stop(); });

function ready(t) {
  if (!haveKubectl(t)) return false;
  if (skipReason) { t.skip(skipReason); return false; }
  return true;
}

const podOf = (name) => getJSON(lab, ['pod', '-n', NS, name]);

async function appCreds(name) {
  const app = await h.secretValues(lab, NS, `${name}-app`);
  return { user: app.username, password: app.password, db: app.dbname };
}

async function superuser(name) {
  const s = await h.secretValues(lab, NS, `${name}-superuser`);
  return { user: s.username, password: s.password, db: 'postgres' };
}

async function waitLagZero(name, replicas) {
  const su = await superuser(name);
  const rw = await h.serviceIP(lab, NS, `${name}-rw`);
  return waitFor(async () => {
    const r = await h.psql(Object.assign({ host: rw, sql: 'SELECT count(*) FROM pg_stat_replication WHERE replay_lsn = pg_current_wal_lsn()' }, su));
    return r.code === 0 && Number(r.out) === replicas;
  }, { timeoutMs: 30000, what: `${name}: replication lag 0 on ${replicas} replicas` });
}

test('until the operator is Available a Cluster is stored and nothing happens; then the Cluster is set up', async (t) => {
  if (!ready(t)) return;
  await apply(lab, clusterYAML('pg'));
  await new Promise((r) => setTimeout(r, 2500));
  const before = await h.clusterOf(lab, NS, 'pg');
  assert.equal(before.status, undefined, 'no status without the operator');
  const pods = await getJSON(lab, ['pods', '-n', NS, '-l', 'cnpg.io/cluster=pg']);
  assert.equal(pods.items.length, 0, 'no instance pod without the operator');

  await h.installOperators(lab);
  for (const [ns, d] of [['cnpg-system', 'cnpg-controller-manager'], ['cnpg-system', 'barman-cloud']]) {
    const w = await kubectl(lab, ['wait', '-n', ns, `deployment/${d}`, '--for=condition=Available', '--timeout=90s']);
    assert.equal(w.code, 0, `${d}: ${w.stderr}`);
  }
  const cert = await getJSON(lab, ['certificates.cert-manager.io', '-n', 'cnpg-system', 'barman-cloud-server']);
  assert.equal(h.readyCondition(cert).status, 'True');
  const tls = await getJSON(lab, ['secret', '-n', 'cnpg-system', 'barman-cloud-server-tls']);
  assert.equal(tls.type, 'kubernetes.io/tls');
  assert.match(Buffer.from(tls.data['tls.crt'], 'base64').toString(), /BEGIN CERTIFICATE/);

  const c = await h.waitCluster(lab, NS, 'pg', h.isHealthy, 'healthy', 240000);
  assert.equal(c.status.currentPrimary, 'pg-1');
  assert.equal(c.status.targetPrimary, 'pg-1');
  assert.equal(c.status.instances, 2);
  assert.equal(c.status.readyInstances, 2);
  assert.equal(c.status.writeService, 'pg-rw');
  assert.equal(c.status.readService, 'pg-r');
  assert.deepEqual(c.status.instancesStatus.healthy.sort(), ['pg-1', 'pg-2']);
  assert.ok(c.status.timelineID >= 1);
  const p1 = await podOf('pg-1');
  const p2 = await podOf('pg-2');
  assert.deepEqual([p1.metadata.labels.role, p1.metadata.labels['cnpg.io/instanceRole'], p1.metadata.labels['cnpg.io/podRole']], ['primary', 'primary', 'instance']);
  assert.deepEqual([p2.metadata.labels.role, p2.metadata.labels['cnpg.io/instanceName']], ['replica', 'pg-2']);
});

test('a 2-instance Cluster serves writes on -rw and reads on -ro, from a pod and from the host; lag reaches 0', async (t) => {
  if (!ready(t)) return;
  await apply(lab, CLIENT_POD);
  const client = await waitFor(async () => { const p = await podOf('client'); return isReady(p) && p; }, { what: 'client pod Ready' });
  const app = await appCreds('pg');
  assert.equal(app.user, 'shop');
  assert.equal(app.db, 'shop');
  const secret = await h.secretValues(lab, NS, 'pg-app');
  assert.equal(secret.host, 'pg-rw');
  assert.equal(secret.uri, `postgresql://shop:${encodeURIComponent(app.password)}@pg-rw.${NS}.svc.cluster.local:5432/shop`);
  const rw = await h.serviceIP(lab, NS, 'pg-rw');
  const ro = await h.serviceIP(lab, NS, 'pg-ro');

  const w = await h.psql(Object.assign({ host: rw, fromIP: client.status.podIP, sql: "INSERT INTO items VALUES (1, 'from a pod') RETURNING id" }, app));
  assert.equal(w.code, 0, w.stderr);
  const w2 = await h.psql(Object.assign({ host: rw, sql: "INSERT INTO items VALUES (2, 'from the host') RETURNING id" }, app));
  assert.equal(w2.code, 0, w2.stderr);
  const refused = await h.psql(Object.assign({ host: rw, sql: 'SELECT 1' }, app, { password: 'wrong' }));
  assert.notEqual(refused.code, 0, 'a wrong password is refused (scram-sha-256)');

  await waitLagZero('pg', 1);
  const fromPod = await h.psql(Object.assign({ host: ro, fromIP: client.status.podIP, sql: 'SELECT pg_is_in_recovery(), count(*) FROM items' }, app));
  assert.equal(fromPod.out, 't|2', fromPod.stderr);
  const replica = await podOf('pg-2');
  const fromHost = await h.psql(Object.assign({ host: replica.status.podIP, sql: 'SELECT pg_is_in_recovery(), string_agg(note, \',\' ORDER BY id) FROM items' }, app));
  assert.equal(fromHost.out, 't|from a pod,from the host', fromHost.stderr);
  const ro2 = await h.psql(Object.assign({ host: ro, sql: "INSERT INTO items VALUES (3, 'x')" }, app));
  assert.match(ro2.stderr, /read-only transaction/);
});

test('killing the primary PostgreSQL fails over with no committed row lost; the old primary rejoins', async (t) => {
  if (!ready(t)) return;
  const app = await appCreds('pg');
  const rw = await h.serviceIP(lab, NS, 'pg-rw');
  const ins = await h.psql(Object.assign({ host: rw, sql: 'INSERT INTO items SELECT g, \'batch\' FROM generate_series(10, 109) g' }, app));
  assert.equal(ins.code, 0, ins.stderr);
  await waitLagZero('pg', 1);
  const kill = await admin(lab.env, 'POST', '/cnpg', { namespace: NS, pod: 'pg-1', fault: 'kill-postgres' });
  assert.equal(kill.status, 200, JSON.stringify(kill.body));
  const failing = await h.waitCluster(lab, NS, 'pg', (c) => c.status.targetPrimary === 'pg-2', 'targetPrimary pg-2', 30000);
  assert.ok(['Failing over', 'Cluster in healthy state', 'Waiting for the instances to become active', 'Creating a new replica'].includes(failing.status.phase));
  const c = await h.waitCluster(lab, NS, 'pg', (x) => x.status.currentPrimary === 'pg-2' && h.isHealthy(x), 'pg-2 primary and healthy', 90000);
  assert.ok(c.status.timelineID >= 2, `timeline ${JSON.stringify(c.status)}`);
  const count = await h.psql(Object.assign({ host: rw, sql: 'SELECT pg_is_in_recovery(), count(*) FROM items' }, app));
  assert.equal(count.out, 'f|102', count.stderr);
  const old = await podOf('pg-1');
  assert.equal(old.metadata.labels.role, 'replica');
  const more = await h.psql(Object.assign({ host: rw, sql: "INSERT INTO items VALUES (200, 'after failover')" }, app));
  assert.equal(more.code, 0, more.stderr);
  await waitLagZero('pg', 1);
  const onOld = await h.psql(Object.assign({ host: old.status.podIP, sql: 'SELECT pg_is_in_recovery(), count(*) FROM items' }, app));
  assert.equal(onOld.out, 't|103', onOld.stderr);
});

test('a NetworkPolicy keeping the operator out makes the Cluster unhealthy with the reason; admitting it heals it', async (t) => {
  if (!ready(t)) return;
  await apply(lab, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-own-namespace, namespace: ${NS}}
spec:
  podSelector: {matchLabels: {cnpg.io/cluster: pg}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}]}]
`);
  const bad = await h.waitCluster(lab, NS, 'pg', (c) => (h.readyCondition(c) || {}).status === 'False', 'Ready False', 30000);
  assert.equal(bad.status.phase, 'Waiting for the instances to become active');
  assert.match(bad.status.phaseReason, /Instance status unreachable from the operator: pg-\d: .*dial tcp [\d.]+:(8000|5432): i\/o timeout/);
  await apply(lab, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: admit-operator, namespace: ${NS}}
spec:
  podSelector: {matchLabels: {cnpg.io/cluster: pg}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: cnpg-system}}}]
    ports: [{port: 8000}, {port: 5432}]
`);
  const healed = await h.waitCluster(lab, NS, 'pg', h.isHealthy, 'healthy again', 30000);
  assert.equal(healed.status.phaseReason, undefined);
  await kubectl(lab, ['delete', 'networkpolicy', '-n', NS, '--all']);
});

test('stopping a replica pod\'s network makes the Cluster wait for it; restoring it heals the Cluster', async (t) => {
  if (!ready(t)) return;
  const c0 = await h.waitCluster(lab, NS, 'pg', h.isHealthy, 'healthy', 30000);
  const replica = c0.status.instanceNames.find((n) => n !== c0.status.currentPrimary);
  const down = await admin(lab.env, 'POST', '/cnpg', { namespace: NS, pod: replica, fault: 'network-down' });
  assert.equal(down.status, 200, JSON.stringify(down.body));
  const waiting = await h.waitCluster(lab, NS, 'pg', (c) => c.status.readyInstances === 1, 'one ready instance', 30000);
  assert.equal(waiting.status.phase, 'Waiting for the instances to become active');
  assert.deepEqual(waiting.status.instancesStatus.failed, [replica]);
  assert.equal(waiting.status.currentPrimary, c0.status.currentPrimary, 'a replica going away is no failover');
  const up = await admin(lab.env, 'POST', '/cnpg', { namespace: NS, pod: replica, fault: 'network-up' });
  assert.equal(up.status, 200);
  await h.waitCluster(lab, NS, 'pg', (c) => h.isHealthy(c) && c.status.readyInstances === 2, 'healthy again', 30000);
  const unknown = await admin(lab.env, 'POST', '/cnpg', { namespace: NS, pod: 'client', fault: 'network-down' });
  assert.equal(unknown.status, 404);
});

test('managed roles are created with their password and memberships, reported in the status, and dropped', async (t) => {
  if (!ready(t)) return;
  await apply(lab, `
apiVersion: v1
kind: Secret
metadata: {name: reporter-pw, namespace: ${NS}}
type: kubernetes.io/basic-auth
stringData: {username: reporter, password: "r3port-pw"}
`);
  const roles = (list) => ['patch', 'clusters.postgresql.cnpg.io', '-n', NS, 'pg', '--type=merge', '-p', JSON.stringify({ spec: { managed: { roles: list } } })];
  const patched = await kubectl(lab, roles([{ name: 'reporter', ensure: 'present', login: true, passwordSecret: { name: 'reporter-pw' }, inRoles: ['pg_read_all_data'] }]));
  assert.equal(patched.code, 0, patched.stderr);
  const c = await h.waitCluster(lab, NS, 'pg', (x) => ((x.status.managedRolesStatus || {}).byStatus || {}).reconciled?.includes('reporter'), 'reporter reconciled', 30000);
  assert.deepEqual(c.status.managedRolesStatus.cannotReconcile, {});
  const rw = await h.serviceIP(lab, NS, 'pg-rw');
  const login = await h.psql({ host: rw, user: 'reporter', password: 'r3port-pw', db: 'shop',
    sql: "SELECT pg_has_role('pg_read_all_data', 'member'), (SELECT count(*) FROM items) >= 0" });
  assert.equal(login.out, 't|t', login.stderr);
  // an idle Cluster writes no WAL: roles are applied when they change, not on every reconcile
  const su = await superuser('pg');
  const lsn = async () => (await h.psql(Object.assign({ host: rw, sql: 'SELECT pg_current_wal_lsn()' }, su))).out;
  const before = await lsn();
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await lsn(), before, 'WAL position of an idle primary');
  // a role PostgreSQL refuses is reported, and its password does not reach the pod's log
  const leaky = await kubectl(lab, roles([{ name: 'reporter', ensure: 'present', login: true, passwordSecret: { name: 'reporter-pw' }, inRoles: ['pg_read_all_data'] },
    { name: 'leaky', ensure: 'present', login: true, connectionLimit: -5, passwordSecret: { name: 'reporter-pw' } }]));
  assert.equal(leaky.code, 0, leaky.stderr);
  const refused = await h.waitCluster(lab, NS, 'pg', (x) => (((x.status.managedRolesStatus || {}).cannotReconcile) || {}).leaky, 'leaky not reconciled', 30000);
  assert.match(refused.status.managedRolesStatus.cannotReconcile.leaky[0], /invalid connection limit/);
  const logs = await kubectl(lab, ['logs', '-n', NS, refused.status.currentPrimary]);
  assert.match(logs.stdout, /invalid connection limit/);
  assert.ok(!logs.stdout.includes('r3port-pw'), 'the role password is not in the pod log');
  const dropped = await kubectl(lab, roles([{ name: 'reporter', ensure: 'absent' }]));
  assert.equal(dropped.code, 0, dropped.stderr);
  await waitFor(async () => {
    const r = await h.psql({ host: rw, user: 'reporter', password: 'r3port-pw', db: 'shop', sql: 'SELECT 1' });
    return r.code !== 0 && /password authentication failed|does not exist/.test(r.stderr);
  }, { timeoutMs: 30000, what: 'reporter dropped' });
});

test('a change of postgresql.parameters reaches the running instances', async (t) => {
  if (!ready(t)) return;
  const patched = await kubectl(lab, ['patch', 'clusters.postgresql.cnpg.io', '-n', NS, 'pg', '--type=merge', '-p',
    JSON.stringify({ spec: { postgresql: { parameters: { work_mem: '7MB' } } } })]);
  assert.equal(patched.code, 0, patched.stderr);
  const app = await appCreds('pg');
  for (const svc of ['pg-rw', 'pg-ro']) {
    const ip = await h.serviceIP(lab, NS, svc);
    await waitFor(async () => (await h.psql(Object.assign({ host: ip, sql: 'SHOW work_mem' }, app))).out === '7MB',
      { timeoutMs: 20000, what: `work_mem 7MB behind ${svc}` });
  }
});

test('the webhook refuses what CNPG refuses, with its messages', async (t) => {
  if (!ready(t)) return;
  const cases = [
    [clusterYAML('w1', '  postgresql: {parameters: {port: "5433", work_mem: "4MB"}}'),
      /The Cluster "w1" is invalid: spec.postgresql.parameters.port: Forbidden: Can't set fixed configuration parameter/],
    [clusterYAML('w2').replace(/ {4}initdb: .*/, '    recovery: {source: origin}'),
    /The Cluster "w2" is invalid: spec.bootstrap.recovery.source: Invalid value: "origin": External cluster origin not found/],
    [`apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata: {name: nightly, namespace: ${NS}}
spec: {schedule: "0 0 * * *", cluster: {name: pg}, method: plugin, pluginConfiguration: {name: barman-cloud.cloudnative-pg.io}}
`, /The ScheduledBackup "nightly" is invalid: spec.schedule: Invalid value: "0 0 \* \* \*": expected exactly 6 fields, found 5: \[0 0 \* \* \*\]/],
  ];
  for (const [yaml, message] of cases) {
    const r = await kubectl(lab, ['apply', '-f', '-'], { input: yaml });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
  }
  const ok = await kubectl(lab, ['apply', '--dry-run=server', '-f', '-'], { input: clusterYAML('w3', '  postgresql: {parameters: {work_mem: "4MB"}}') });
  assert.equal(ok.code, 0, ok.stderr);
});

test('a Cluster on another PostgreSQL major gets its pod in ErrImagePull, saying so', async (t) => {
  if (!ready(t)) return;
  await apply(lab, clusterYAML('pg16').replace(IMAGE, 'ghcr.io/cloudnative-pg/postgresql:16.4').replace('instances: 2', 'instances: 1'));
  const pod = await waitFor(async () => {
    const p = await podOf('pg16-1');
    const w = p && ((p.status.containerStatuses || [])[0] || {}).state;
    return w && w.waiting && /ErrImagePull|ImagePullBackOff/.test(w.waiting.reason) && p;
  }, { timeoutMs: 30000, what: 'pg16-1 in ErrImagePull' });
  assert.match(pod.status.containerStatuses[0].state.waiting.message, /PostgreSQL 15 only: image "ghcr.io\/cloudnative-pg\/postgresql:16.4" is PostgreSQL 16/);
  const c = await h.waitCluster(lab, NS, 'pg16', (x) => /ErrImagePull|ImagePullBackOff/.test(x.status && x.status.phaseReason || ''), 'phaseReason', 15000);
  assert.equal(c.status.phase, 'Setting up primary');
  assert.equal(h.readyCondition(c).status, 'False');
});

test('a Cluster requiring a plugin the operator does not know stops with CNPG\'s phase and reason', async (t) => {
  if (!ready(t)) return;
  await apply(lab, clusterYAML('nope').replace('instances: 2', 'instances: 1') + '  plugins: [{name: backup.example.com}]\n');
  const c = await h.waitCluster(lab, NS, 'nope', (x) => x.status && x.status.phase, 'a phase', 15000);
  assert.equal(c.status.phase, 'Cluster cannot proceed to reconciliation due to an unknown plugin being required');
  assert.match(c.status.phaseReason, /^Unknown plugin: 'backup.example.com'\. /);
  const pods = await getJSON(lab, ['pods', '-n', NS, '-l', 'cnpg.io/cluster=nope']);
  assert.equal(pods.items.length, 0);
  await kubectl(lab, ['delete', 'clusters.postgresql.cnpg.io', '-n', NS, 'nope']);
});

test('deleting a Cluster deletes its pods and its data', async (t) => {
  if (!ready(t)) return;
  const dataDir = path.join(lab.dir, 'cnpg', 'data', NS, 'pg');
  assert.ok(fs.existsSync(dataDir));
  const r = await kubectl(lab, ['delete', 'clusters.postgresql.cnpg.io', '-n', NS, 'pg', 'pg16', '--wait=true']);
  assert.equal(r.code, 0, r.stderr);
  await waitFor(async () => {
    const pods = await getJSON(lab, ['pods', '-n', NS, '-l', 'cnpg.io/podRole=instance']);
    return pods.items.length === 0;
  }, { timeoutMs: 60000, what: 'instance pods gone' });
  await waitFor(() => !fs.existsSync(dataDir), { timeoutMs: 10000, what: 'data removed' });
  const svc = await getJSON(lab, ['services', '-n', NS, '-l', 'cnpg.io/cluster=pg']);
  assert.equal(svc.items.length, 0);
});
