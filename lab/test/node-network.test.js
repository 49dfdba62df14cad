'use strict';
// The pod network, Services and NetworkPolicy on a lab started as root (`lab up` in a temporary directory,
// real kubectl): ClusterIP and LoadBalancer Services reach only ready endpoints (from the node and from pods),
// any other port of an LB address is refused, cluster DNS answers by short and long names and for headless
// Services; NetworkPolicy is enforced on real connections made from probe pods, for every policy shape the
// Kubernetes API defines, and for the seed's policies (fixtures/network-policies.yaml) applied as written;
// `lab down` and a `lab up` after a crash leave nothing of the lab on the host; two labs do not see each other.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const YAML = require('yaml');
const { startLab, runLab } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor, waitReady, connect, fetchFrom, serverPod, leftovers, netIndex, netnsOf, sleep } = require('./node-helpers');

const list = (items) => items.map((o) => YAML.stringify(o)).join('---\n');
const namespace = (name, labels = {}) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const policy = (name, ns, spec) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });

function netnsPids(ip) {
  return spawnSync('ip', ['netns', 'pids', netnsOf(ip)], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map(Number);
}

// A process that still runs (a zombie waiting for a parent to reap it runs nothing).
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

async function podIPs(lab, ns, names) {
  const pods = await waitReady(lab, ns, names, 60000);
  return Object.fromEntries(Object.entries(pods).map(([n, p]) => [n, p.status.podIP]));
}

// Runs every [label, from, ip, port, expected] case at once; returns the mismatches as readable lines.
async function mismatches(cases) {
  const seen = await Promise.all(cases.map(([, from, ip, port]) => connect(from, ip, port)));
  return cases.map(([label, , , port, expected], i) => (seen[i] === expected ? null : `${label}:${port} expected ${expected}, saw ${seen[i]}`))
    .filter(Boolean);
}

test('the pod network, Services, DNS and NetworkPolicy', async (t) => {
  if (!haveKubectl(t)) return;
  const lab = await startLab();
  t.after(() => lab.stop());

  await t.test('ClusterIP and LoadBalancer Services reach ready endpoints only; other LB ports are refused', async () => {
    const NS = 'svc-test';
    const notReady = serverPod('web-unready', NS, { app: 'web' });
    notReady.spec.containers[0].readinessProbe = { httpGet: { port: 7777, path: '/' }, periodSeconds: 1 };
    await apply(lab, list([namespace(NS), serverPod('web-1', NS, { app: 'web' }), serverPod('web-2', NS, { app: 'web' }), notReady,
      serverPod('client', NS, { app: 'client' }),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-lb', namespace: NS }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-headless', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 8080 }] } },
    ]));
    const ips = await podIPs(lab, NS, ['web-1', 'web-2', 'client']);
    const svc = await getJSON(lab, ['svc', '-n', NS, 'web']);
    const lb = await waitFor(async () => {
      const s = await getJSON(lab, ['svc', '-n', NS, 'web-lb']);
      return s.status.loadBalancer.ingress && s.status.loadBalancer.ingress[0].ip;
    }, { what: 'LB ingress IP' });
    const prefix = (cidr, n) => cidr.split('.').slice(0, n).join('.') + '.';
    assert.ok(svc.spec.clusterIP.startsWith(prefix(lab.env.LAB_SERVICE_CIDR, 2)), `${svc.spec.clusterIP} in ${lab.env.LAB_SERVICE_CIDR}`);
    assert.ok(lb.startsWith(prefix(lab.env.LAB_LB_CIDR, 2)), `${lb} in ${lab.env.LAB_LB_CIDR}`);

    const answers = new Set();
    for (let i = 0; i < 24; i++) {
      const from = i % 2 ? ips.client : null;
      const target = i % 3 ? `http://${svc.spec.clusterIP}/` : `http://${lb}/`;
      const r = await fetchFrom(from, target);
      assert.equal(r.code, 0, `${target} from ${from || 'the node'}`);
      answers.add(r.body.trim());
    }
    assert.deepEqual([...answers].sort(), ['web-1', 'web-2'], 'only ready endpoints answer');
    assert.equal(await connect(null, lb, 9090), 'refused', 'a port the LB does not serve is refused');
    assert.equal(await connect(null, lb, 8080), 'refused');
    assert.equal(await connect(null, ips['web-1'], 9090), 'open', 'the node reaches pod addresses directly');

    const ep = await waitFor(async () => {
      const e = await getJSON(lab, ['endpoints', '-n', NS, 'web']);
      return e && e.subsets && e.subsets[0].notReadyAddresses && e;
    }, { what: 'Endpoints with the unready pod' });
    assert.deepEqual(ep.subsets[0].addresses.map((x) => x.targetRef.name).sort(), ['web-1', 'web-2']);
    assert.deepEqual(ep.subsets[0].notReadyAddresses.map((x) => x.targetRef.name), ['web-unready']);
    assert.deepEqual(ep.subsets[0].ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const table = (await kubectl(lab, ['get', 'endpoints', '-n', NS, 'web'])).stdout;
    assert.match(table, /^NAME\s+ENDPOINTS\s+AGE/);
    assert.ok(table.includes(`${ips['web-1']}:8080`) && table.includes(`${ips['web-2']}:8080`), table);
    const slices = await getJSON(lab, ['endpointslices', '-n', NS, '-l', 'kubernetes.io/service-name=web']);
    assert.equal(slices.items.length, 1);
    assert.deepEqual(slices.items[0].endpoints.filter((e) => e.conditions.ready).map((e) => e.targetRef.name).sort(), ['web-1', 'web-2']);

    await kubectl(lab, ['delete', 'pod', '-n', NS, 'web-2']);
    for (let i = 0; i < 6; i++) assert.equal((await fetchFrom(null, `http://${svc.spec.clusterIP}/`)).body.trim(), 'web-1');
    const after = await getJSON(lab, ['endpointslices', '-n', NS, 'web-lab']);
    assert.deepEqual(after.endpoints.filter((e) => e.conditions.ready).map((e) => e.targetRef.name), ['web-1'], 'the slice follows the pods');

    await apply(lab, list([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dns-check', namespace: NS }, spec: { restartPolicy: 'Never',
      containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c',
        'for n in web web.svc-test web.svc-test.svc web.svc-test.svc.cluster.local; do echo "$n $(wget -q -O- http://$n/)"; done; ' +
        'nslookup web-headless.svc-test.svc.cluster.local | grep Address | tail -n +2'] }] } }]));
    await waitFor(async () => (await getJSON(lab, ['pod', '-n', NS, 'dns-check'])).status.phase === 'Succeeded', { what: 'dns-check done' });
    const out = (await kubectl(lab, ['logs', '-n', NS, 'dns-check'])).stdout;
    for (const n of ['web', 'web.svc-test', 'web.svc-test.svc', 'web.svc-test.svc.cluster.local']) assert.ok(out.includes(`${n} web-1\n`), out);
    assert.ok(out.includes(ips['web-1']), `the headless Service resolves to its ready pod:\n${out}`);
  });

  await t.test('NetworkPolicy: every shape, enforced on real connections, updated within a second', async () => {
    const podCIDR = lab.env.LAB_POD_CIDR;
    await apply(lab, list([namespace('np-a', { team: 'a' }), namespace('np-b', { team: 'b' }), namespace('np-c'),
      serverPod('db', 'np-a', { app: 'db' }), serverPod('api', 'np-a', { app: 'api' }), serverPod('probe', 'np-a', { app: 'probe' }),
      serverPod('db', 'np-b', { app: 'db' }), serverPod('probe', 'np-b', { app: 'probe' }), serverPod('probe', 'np-c', { app: 'probe' }),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db-lb', namespace: 'np-b' }, spec: { type: 'LoadBalancer', selector: { app: 'db' }, ports: [{ port: 80, targetPort: 8080 }] } },
    ]));
    const a = await podIPs(lab, 'np-a', ['db', 'api', 'probe']);
    const b = await podIPs(lab, 'np-b', ['db', 'probe']);
    const c = await podIPs(lab, 'np-c', ['probe']);
    const lb = await waitFor(async () => ((await getJSON(lab, ['svc', '-n', 'np-b', 'db-lb'])).status.loadBalancer.ingress || [{}])[0].ip, { what: 'LB IP' });
    assert.equal(await connect(null, lb, 80), 'open', 'before any policy the LB reaches db');
    await apply(lab, list([
      policy('default-deny-ingress', 'np-a', { podSelector: {}, policyTypes: ['Ingress'] }),
      policy('db-from-api', 'np-a', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ port: 'http' }] }] }),
      policy('api-from-b-probes', 'np-a', { podSelector: { matchLabels: { app: 'api' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'probe' } } }], ports: [{ protocol: 'TCP', port: 8000, endPort: 8100 }] }] }),
      policy('probe-egress-to-a', 'np-b', { podSelector: { matchLabels: { app: 'probe' } }, policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'np-a' } } }] }] }),
      policy('db-from-pods-but-c', 'np-b', { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: podCIDR, except: [`${c.probe}/32`] } }] }] }),
      policy('ingress-only', 'np-c', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }],
        egress: [{ to: [{ ipBlock: { cidr: '192.0.2.0/32' } }] }] }),
    ]));
    await sleep(1000);
    const cases = [
      ['a/probe → a/db', a.probe, a.db, 8080, 'blocked'],
      ['a/api → a/db (named port http)', a.api, a.db, 8080, 'open'],
      ['a/api → a/db (not http)', a.api, a.db, 9090, 'blocked'],
      ['a/probe → a/api', a.probe, a.api, 8080, 'blocked'],
      ['b/probe → a/api (ns AND pod selector, endPort range)', b.probe, a.api, 8080, 'open'],
      ['b/probe → a/api (outside the port range)', b.probe, a.api, 9090, 'blocked'],
      ['c/probe → a/api (namespace not team=b)', c.probe, a.api, 8080, 'blocked'],
      ['b/probe → b/db (egress only to np-a)', b.probe, b.db, 8080, 'blocked'],
      ['b/probe → c/probe (egress only to np-a)', b.probe, c.probe, 8080, 'blocked'],
      ['a/probe → b/db (ipBlock)', a.probe, b.db, 8080, 'open'],
      ['a/probe → b/db (ipBlock, any port)', a.probe, b.db, 9090, 'open'],
      ['c/probe → b/db (ipBlock except)', c.probe, b.db, 8080, 'blocked'],
      ['a/probe → c/probe (namespaceSelector {})', a.probe, c.probe, 8080, 'open'],
      ['c/probe → b/probe (Ingress-only policy does not restrict egress)', c.probe, b.probe, 8080, 'open'],
      ['c/probe → a/probe (default deny)', c.probe, a.probe, 8080, 'blocked'],
      ['node → a/db (the node reaches its pods)', null, a.db, 8080, 'open'],
      ['node → b/db', null, b.db, 9090, 'open'],
      ['node → LB of b/db (outside the cluster: not in the ipBlock)', null, lb, 80, 'blocked'],
    ];
    assert.deepEqual(await mismatches(cases), []);

    // changes to pod labels, namespace labels and policies take effect within a second
    await kubectl(lab, ['label', 'pod', '-n', 'np-a', 'probe', 'app=api', '--overwrite']);
    await kubectl(lab, ['label', 'namespace', 'np-c', 'team=b']);
    await kubectl(lab, ['delete', 'networkpolicy', '-n', 'np-b', 'probe-egress-to-a']);
    await sleep(1000);
    assert.deepEqual(await mismatches([
      ['a/probe relabelled api → a/db', a.probe, a.db, 8080, 'open'],
      ['c/probe, its namespace now team=b → a/api', c.probe, a.api, 8080, 'open'],
      ['b/probe → b/db (egress policy deleted)', b.probe, b.db, 8080, 'open'],
    ]), []);
  });

  await t.test("the seed's network policies, applied as written, mean what they mean on DOKS", async () => {
    const text = fs.readFileSync(path.join(__dirname, 'fixtures', 'network-policies.yaml'), 'utf8');
    const objects = [];
    for (const tenant of ['t1', 't2']) {
      objects.push(namespace(tenant));
      objects.push(serverPod('app', tenant, { app: `${tenant}-app` }), serverPod('app2', tenant, { app: `${tenant}-app` }));
      const db = serverPod('db', tenant, { 'cnpg.io/cluster': `pg-${tenant}` });
      db.spec.containers[0].command[2] = db.spec.containers[0].command[2].replace('-p 8080', '-p 5432');
      db.spec.containers[0].ports = [{ containerPort: 5432 }, { containerPort: 9090 }];
      objects.push(db);
    }
    objects.push(namespace('outside'), serverPod('probe', 'outside', { app: 'probe' }));
    await apply(lab, list(objects));
    for (const tenant of ['t1', 't2']) await apply(lab, text.replace(/\{\{TENANT_NAME\}\}/g, tenant));
    const t1 = await podIPs(lab, 't1', ['app', 'app2', 'db']);
    const t2 = await podIPs(lab, 't2', ['app', 'db']);
    const out = await podIPs(lab, 'outside', ['probe']);
    await sleep(1000);
    assert.deepEqual(await mismatches([
      ['outside → t1/app public port', out.probe, t1.app, 8080, 'open'],
      ['outside → t1/app internal port', out.probe, t1.app, 9090, 'blocked'],
      ['t1/app2 → t1/app internal port (same namespace)', t1.app2, t1.app, 9090, 'open'],
      ['outside → t1/db', out.probe, t1.db, 5432, 'blocked'],
      ['t1/app → t1/db', t1.app, t1.db, 5432, 'open'],
      ['t1/app → t2/db (another tenant)', t1.app, t2.db, 5432, 'blocked'],
      ['t2/app → t1/app public port (t2 egress is closed)', t2.app, t1.app, 8080, 'blocked'],
      ['t1/db → t1/app (db egress)', t1.db, t1.app, 8080, 'blocked'],
      ['t1/app → outside (default-deny egress)', t1.app, out.probe, 8080, 'blocked'],
      ['node → t1/db (probes, port-forward)', null, t1.db, 5432, 'open'],
    ]), []);
  });
});

test('lab down, and lab up after a crash, leave nothing of the lab on the host; two labs do not meet', async (t) => {
  if (!haveKubectl(t)) return;
  const one = await startLab();
  const two = await startLab();
  t.after(() => Promise.all([one.stop(), two.stop()]));
  assert.notEqual(one.env.LAB_POD_CIDR, two.env.LAB_POD_CIDR);
  assert.notEqual(one.env.LAB_SERVICE_CIDR, two.env.LAB_SERVICE_CIDR);
  for (const lab of [one, two]) await apply(lab, list([serverPod('srv', 'default', { app: 'srv' })]));
  const ip1 = (await podIPs(one, 'default', ['srv'])).srv;
  const ip2 = (await podIPs(two, 'default', ['srv'])).srv;
  assert.equal(await connect(ip1, ip2, 8080), 'blocked', "a pod of one lab does not reach the other lab's pods");
  assert.equal(await connect(null, ip2, 8080), 'open');

  // a crash: the daemon is killed, its pods' processes and namespaces stay until the next up of the same DIR
  const k = netIndex(one);
  const state = JSON.parse(fs.readFileSync(path.join(one.dir, 'state.json'), 'utf8'));
  const crashed = netnsPids(ip1);
  assert.ok(crashed.length > 0);
  process.kill(state.pid, 'SIGKILL');
  await sleep(300);
  assert.ok(leftovers(k).netns.length > 0, 'the crashed lab left its pods');
  const again = await runLab(['up', '--dir', one.dir, '--owner-pid', String(process.pid)]);
  assert.equal(again.code, 0, again.stderr);
  await waitFor(async () => { const p = await getJSON(one, ['pods', '-A']); return p && p.items.length === 1 && p; },
    { what: 'only the new lab\'s DNS pod' });
  assert.notEqual(await connect(null, ip1, 8080), 'open', 'the old pod is gone');
  assert.deepEqual(crashed.filter(alive), [], "the crashed lab's container processes are gone");

  const running = netnsPids(ip2);
  for (const lab of [one, two]) {
    const idx = netIndex(lab);
    const r = await runLab(['down', '--dir', lab.dir]);
    assert.equal(r.code, 0);
    assert.deepEqual(leftovers(idx), { netns: [], links: [], routes: [], tables: [] });
  }
  await waitFor(async () => !running.some(alive), { timeoutMs: 3000, what: `container processes ${running} gone` });
});

test('a start killed before state.json leaves nothing after lab down; a table whose DIR is gone is taken back', async () => {
  const network = require('../lib/node/network');
  const { makeTempDir } = require('./helpers');
  // what a daemon killed during its start leaves: the network of its DIR, no state.json
  const killed = makeTempDir();
  const k = network.setup(killed).index;
  assert.equal(leftovers(k).tables.length, 1);
  const down = await runLab(['down', '--dir', killed]);
  assert.equal(down.code, 0);
  assert.deepEqual(leftovers(k), { netns: [], links: [], routes: [], tables: [] });

  // a DIR removed with its network still claimed: another DIR that wants the same index gets it
  const gone = makeTempDir();
  const taken = network.setup(gone).index;
  fs.rmSync(gone, { recursive: true, force: true });
  let other = null;
  for (let i = 0; !other; i++) if (network.preferredIndex(`${gone}-${i}`) === taken) other = `${gone}-${i}`;
  fs.mkdirSync(other);
  assert.equal(network.setup(other).index, taken, 'the stale claim is taken back');
  network.teardown(other);
  assert.deepEqual(leftovers(taken), { netns: [], links: [], routes: [], tables: [] });
  for (const d of [killed, other]) fs.rmSync(d, { recursive: true, force: true });
});
