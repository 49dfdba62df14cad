'use strict';
// The node's pod network (routed, no bridge): each pod a network namespace `alaris-<k>-<slot>` holding one end
// of a veth pair (`eth0`, the pod's address as a /32, default route via 169.254.1.1), the host end
// `al<k>p<slot>` with proxy_arp and a /32 route to the pod. `k` is the lab's network index (1..250), claimed by
// creating the nftables table `ip alaris_lab_<k>` and recorded in DIR/node/net.json, so two labs with different
// DIRs never share ranges, names or rules, and a `lab up` after a crash (or `lab down`) removes exactly what
// the previous daemon of this DIR left: its netns (and their processes), links, routes and table.
// Ranges of lab k: pods 10.244.k.0/24, Services and load balancers a /20 each of 10.96.0.0/12 and 10.112.0.0/12
// (Services of lab 1: 10.96.16.0/20, its load balancers 10.112.16.0/20). They exist only on
// this machine: the Service and LB ranges are routed to a dummy link `al<k>svc`, the pod range is unreachable
// except for its /32 routes, and nft.js drops anything from a pod towards any other address.
// It does not run processes (runtime.js) or write filtering/NAT rules beyond claiming the table (nft.js).

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFile, execFileSync, spawnSync } = require('child_process');

const FORWARD_SYSCTL = '/proc/sys/net/ipv4/ip_forward';
// The value of ip_forward before the first lab turned it on, kept while any lab's table exists.
const FORWARD_SAVED = '/run/alaris-lab-ip_forward';
const TABLE_PREFIX = 'alaris_lab_';
const GATEWAY = '169.254.1.1';

function run(cmd, args, { input, allowFail = false } = {}) {
  const res = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (res.status !== 0 && !allowFail) {
    throw new Error(`${cmd} ${args.join(' ')}: ${(res.stderr || res.error || '').toString().trim()}`);
  }
  return res;
}

// The asynchronous form, for what runs while the daemon serves (pods come and go): the event loop stays free.
function runAsync(cmd, args, { input, allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err, stdout, stderr) => {
      if (err && !allowFail) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr || err.message).trim()}`));
      else resolve({ status: err ? err.code : 0, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function rangesOf(k) {
  return {
    index: k,
    podCIDR: `10.244.${k}.0/24`,
    serviceCIDR: `10.${96 + (k >> 4)}.${(k & 15) << 4}.0/20`,
    lbCIDR: `10.${112 + (k >> 4)}.${(k & 15) << 4}.0/20`,
    table: `${TABLE_PREFIX}${k}`,
    dummy: `al${k}svc`,
    netnsPrefix: `alaris-${k}-`,
    vethPrefix: `al${k}p`,
  };
}

function netFile(dir) {
  return path.join(dir, 'node', 'net.json');
}

function readRecorded(dir) {
  try { return JSON.parse(fs.readFileSync(netFile(dir), 'utf8')); } catch { return null; }
}

function labTables() {
  const out = run('nft', ['list', 'tables'], { allowFail: true }).stdout || '';
  return out.split('\n').map((l) => /^table ip (alaris_lab_\d+)$/.exec(l.trim())).filter(Boolean).map((m) => m[1]);
}

function preferredIndex(dir) {
  return crypto.createHash('sha256').update(path.resolve(dir)).digest().readUInt16BE(0) % 250 + 1;
}

// The table's comment names the DIR that holds it (nft.js keeps it when it rewrites the table).
const ownerComment = (dir) => `{ comment ${JSON.stringify(path.resolve(dir))} ; }`;

// Whether the lab of `owner` (a DIR) still records index k; a DIR that is gone or moved on does not.
function stillOwned(owner, k) {
  try { return JSON.parse(fs.readFileSync(netFile(owner), 'utf8')).index === k; } catch { return false; }
}

function tableOwner(k) {
  const out = run('nft', ['list', 'table', 'ip', `${TABLE_PREFIX}${k}`], { allowFail: true }).stdout || '';
  const m = /comment "((?:[^"\\]|\\.)*)"/.exec(out);
  return m ? JSON.parse(`"${m[1]}"`) : null;
}

// Claims an index: `nft create table` fails when another lab holds it. A table left by a lab whose DIR no
// longer records it (a start that was killed, its DIR then removed) is removed and the index taken.
function claimIndex(dir) {
  const first = preferredIndex(dir);
  const create = (k) => run('nft', ['create', 'table', 'ip', `${TABLE_PREFIX}${k}`, ownerComment(dir)], { allowFail: true }).status === 0;
  for (let i = 0; i < 250; i++) {
    const k = (first - 1 + i) % 250 + 1;
    if (create(k)) return k;
    const owner = tableOwner(k);
    if (owner && !stillOwned(owner, k)) {
      removeIndex(k);
      if (create(k)) return k;
    }
  }
  throw new Error('no free lab network index (250 labs running?)');
}

function netnsList() {
  try { return fs.readdirSync('/run/netns'); } catch { return []; }
}

function linkNames() {
  const out = run('ip', ['-o', 'link', 'show'], { allowFail: true }).stdout || '';
  return out.split('\n').map((l) => /^\d+: ([^:@]+)[@:]/.exec(l)).filter(Boolean).map((m) => m[1]);
}

// The processes whose network namespace is one of the named ones (read from /proc: no process per namespace).
function processesIn(names) {
  const inodes = new Set();
  for (const name of names) { try { inodes.add(`net:[${fs.statSync(`/run/netns/${name}`).ino}]`); } catch { /* gone */ } }
  if (!inodes.size) return [];
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try { if (inodes.has(fs.readlinkSync(`/proc/${entry}/ns/net`))) pids.push(Number(entry)); } catch { /* gone */ }
  }
  return pids;
}

function killNetnsProcesses(names) {
  for (let round = 0; round < 20; round++) {
    const pids = processesIn(names);
    if (!pids.length) return;
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    execFileSync('sleep', ['0.05']);
  }
}

// Removes everything of network index k: processes in its netns, the netns (with their veth pairs), the link
// of the Service range, the routes, the table. One `ip` and one `nft` run whatever the number of pods.
function removeIndex(k) {
  const r = rangesOf(k);
  const namespaces = netnsList().filter((n) => n.startsWith(r.netnsPrefix));
  killNetnsProcesses(namespaces);
  run('ip', ['-force', '-batch', '-'], { allowFail: true, input: [
    ...namespaces.map((ns) => `netns del ${ns}`),
    `link del ${r.dummy}`,
    `route del unreachable ${r.podCIDR}`,
  ].join('\n') + '\n' });
  run('nft', ['delete', 'table', 'ip', r.table], { allowFail: true });
}

function enableForwarding() {
  if (!fs.existsSync(FORWARD_SAVED)) fs.writeFileSync(FORWARD_SAVED, fs.readFileSync(FORWARD_SYSCTL, 'utf8'));
  fs.writeFileSync(FORWARD_SYSCTL, '1\n');
}

// Puts ip_forward back to what it was once no lab is left (each running lab has its link `al<k>svc`).
function restoreForwarding() {
  if (linkNames().some((l) => /^al\d+svc$/.test(l)) || !fs.existsSync(FORWARD_SAVED)) return;
  fs.writeFileSync(FORWARD_SYSCTL, fs.readFileSync(FORWARD_SAVED, 'utf8'));
  fs.rmSync(FORWARD_SAVED, { force: true });
}

// Removes what a previous daemon of DIR recorded (after a crash, or at `lab down`).
function cleanupDir(dir) {
  const rec = readRecorded(dir);
  if (!rec) return false;
  removeIndex(rec.index);
  fs.rmSync(netFile(dir), { force: true });
  restoreForwarding();
  return true;
}

// Sets up the node side of the network for DIR; returns the ranges.
function setup(dir) {
  cleanupDir(dir);
  fs.mkdirSync(path.join(dir, 'node'), { recursive: true, mode: 0o700 });
  const k = claimIndex(dir);
  const r = { ...rangesOf(k), owner: path.resolve(dir) };
  fs.writeFileSync(netFile(dir), JSON.stringify({ index: k, dir: path.resolve(dir) }) + '\n', { mode: 0o600 });
  enableForwarding();
  run('ip', ['-batch', '-'], { input: [
    `link add ${r.dummy} type veth peer name ${r.dummy}x`,
    `link set ${r.dummy}x up`,
    `link set ${r.dummy} up`,
    `route add ${r.serviceCIDR} dev ${r.dummy}`,
    `route add ${r.lbCIDR} dev ${r.dummy}`,
    `route add unreachable ${r.podCIDR}`,
  ].join('\n') + '\n' });
  return r;
}

function teardown(dir) {
  cleanupDir(dir);
}

function podAddress(r, slot) {
  return `10.244.${r.index}.${slot}`;
}

// Creates the network namespace and link of pod `slot` (2..254); resolves {netns, ip, veth}. Two `ip -batch` runs.
async function addPod(r, slot) {
  const netns = `${r.netnsPrefix}${slot}`;
  const veth = `${r.vethPrefix}${slot}`;
  const ip = podAddress(r, slot);
  await runAsync('ip', ['-batch', '-'], { input: [
    `netns add ${netns}`,
    `link add ${veth} type veth peer name eth0 netns ${netns}`,
    `link set ${veth} up`,
    `route add ${ip}/32 dev ${veth}`,
  ].join('\n') + '\n' });
  fs.writeFileSync(`/proc/sys/net/ipv4/conf/${veth}/proxy_arp`, '1\n');
  await runAsync('ip', ['-n', netns, '-batch', '-'], { input: [
    'link set lo up',
    `addr add ${ip}/32 dev eth0`,
    'link set eth0 up',
    `route add ${GATEWAY} dev eth0 scope link`,
    `route add default via ${GATEWAY} dev eth0`,
  ].join('\n') + '\n' });
  return { netns, ip, veth };
}

// Removes pod `slot`'s namespace (SIGKILL to whatever still runs in it) and link.
async function removePod(r, slot) {
  const netns = `${r.netnsPrefix}${slot}`;
  for (let round = 0; round < 20; round++) {
    const pids = ((await runAsync('ip', ['netns', 'pids', netns], { allowFail: true })).stdout || '').split(/\s+/).filter(Boolean);
    if (!pids.length) break;
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await runAsync('ip', ['-batch', '-'], { input: `link del ${r.vethPrefix}${slot}\nnetns del ${netns}\n`, allowFail: true });
}

// The host's own address pods see node traffic from (the source of a host→pod connection).
function hostIP() {
  const out = run('ip', ['-o', '-4', 'route', 'get', '1.1.1.1'], { allowFail: true }).stdout || '';
  const m = /src (\S+)/.exec(out);
  return m ? m[1] : '127.0.0.1';
}

function isRoot() {
  return typeof process.getuid !== 'function' || process.getuid() === 0;
}

module.exports = { preferredIndex, setup, teardown, cleanupDir, addPod, removePod, rangesOf, readRecorded, labTables, hostIP, isRoot,
  netnsList, linkNames, GATEWAY };
