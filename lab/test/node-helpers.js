'use strict';
// Helpers of the node tests (pods that run, the pod network, Services, NetworkPolicy): kubectl against a lab,
// polling pod status, and real connections made from inside a pod's network namespace (`ip netns exec` of the
// namespace the lab made for that pod, so the packet leaves from the pod's own address and meets the rules).

const fs = require('fs');
const path = require('path');
const { execFile, spawnSync } = require('child_process');
const { KUBECTL } = require('./kubectl');

function kubectl(lab, args, { input, timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', lab.env.KUBECONFIG, '--cache-dir', path.join(lab.dir, 'kube-cache'), ...args],
      { timeout, env: { ...process.env, HOME: lab.dir } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

async function apply(lab, yamlText) {
  const r = await kubectl(lab, ['apply', '-f', '-'], { input: yamlText });
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
  return r;
}

async function getJSON(lab, args) {
  const r = await kubectl(lab, ['get', ...args, '-o', 'json']);
  return r.code === 0 ? JSON.parse(r.stdout) : null;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls fn until it returns a truthy value; throws with `what` and the last value after timeoutMs.
async function waitFor(fn, { timeoutMs = 60000, what = 'condition', everyMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

const isReady = (pod) => !!pod && ((pod.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');

async function waitReady(lab, ns, names, timeoutMs = 60000) {
  const pods = {};
  for (const name of names) {
    pods[name] = await waitFor(async () => {
      const pod = await getJSON(lab, ['pod', '-n', ns, name]);
      return isReady(pod) && pod;
    }, { timeoutMs, what: `pod ${ns}/${name} Ready` });
  }
  return pods;
}

// The network namespace the lab made for the pod with address `ip` (10.244.K.S → alaris-K-S).
function netnsOf(ip) {
  const [, , k, s] = ip.split('.');
  return `alaris-${k}-${s}`;
}

// A TCP connection + HTTP GET from `fromIP`'s pod (or from the node when fromIP is null) to ip:port:
// 'open' (answered), 'refused' (reset) or 'blocked' (no answer within the timeout).
function connect(fromIP, ip, port, { timeoutS = 3 } = {}) {
  const curl = ['curl', '-s', '-o', '/dev/null', '-m', String(timeoutS), `http://${ip}:${port}/`];
  const argv = fromIP ? ['ip', 'netns', 'exec', netnsOf(fromIP), ...curl] : curl;
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: (timeoutS + 5) * 1000 }, (err) => {
      const code = err ? err.code : 0;
      resolve(code === 0 ? 'open' : code === 7 ? 'refused' : code === 28 ? 'blocked' : `curl exit ${code}`);
    });
  });
}

// The body of GET url from `fromIP`'s pod (or the node): {code, body}.
function fetchFrom(fromIP, url, { timeoutS = 5 } = {}) {
  const curl = ['curl', '-s', '-m', String(timeoutS), url];
  const argv = fromIP ? ['ip', 'netns', 'exec', netnsOf(fromIP), ...curl] : curl;
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: (timeoutS + 5) * 1000 }, (err, stdout) => resolve({ code: err ? err.code : 0, body: stdout }));
  });
}

// A pod serving HTTP on 8080 (port name http) and 9090 (admin) with busybox httpd; each answers its own name.
function serverPod(name, namespace, labels = {}, extra = {}) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels },
    spec: Object.assign({ terminationGracePeriodSeconds: 1, containers: [{
      name: 'srv', image: 'busybox:1.36',
      command: ['sh', '-c', 'd=/tmp/www-$POD_UID; mkdir -p $d; echo "$HOSTNAME" > $d/index.html; httpd -p 8080 -h $d; exec httpd -f -p 9090 -h $d'],
      env: [{ name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } }],
      ports: [{ name: 'http', containerPort: 8080 }, { name: 'admin', containerPort: 9090 }],
      readinessProbe: { tcpSocket: { port: 9090 }, periodSeconds: 1 },
    }] }, extra),
  };
}

// What of the lab with network index k is left on the host: netns, links, routes, nft table, processes.
function leftovers(k) {
  const netns = (() => { try { return fs.readdirSync('/run/netns').filter((n) => n.startsWith(`alaris-${k}-`)); } catch { return []; } })();
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n')
    .map((l) => (/^\d+: ([^:@]+)/.exec(l) || [])[1]).filter((n) => n && n.startsWith(`al${k}`));
  const routes = spawnSync('ip', ['route', 'show'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`10.244.${k}.`));
  const tables = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.trim() === `table ip alaris_lab_${k}`);
  return { netns, links, routes, tables };
}

function netIndex(lab) {
  return Number(lab.env.LAB_POD_CIDR.split('.')[2]);
}

module.exports = { kubectl, apply, getJSON, waitFor, waitReady, isReady, connect, fetchFrom, serverPod, netnsOf, leftovers, netIndex, sleep };
