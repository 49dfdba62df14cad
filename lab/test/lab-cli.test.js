'use strict';
// Tests of the lab's command line (bin/lab): up prints a working environment and writes its files with
// private modes, up twice is harmless, status and env report the running lab, kubectl works with the
// kubeconfig, down leaves no process, and a lab whose owner process died stops by itself. The kubectl step is
// skipped, with the reason, without kubectl (./kubectl.js).

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { spawn, execFile } = require('child_process');
const { runLab, parseEnv, makeTempDir, admin } = require('./helpers');
const { KUBECTL, haveKubectl } = require('./kubectl');

const ENV_NAMES = ['DIGITALOCEAN_API_URL', 'DIGITALOCEAN_ACCESS_TOKEN', 'SPACES_ENDPOINT', 'SPACES_REGION',
  'SPACES_ACCESS_KEY_ID', 'SPACES_SECRET_ACCESS_KEY', 'LAB_ADMIN_URL', 'LAB_ADMIN_TOKEN'];

function processGroup(pgid) {
  const members = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return members;
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

async function waitFor(predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return predicate();
}

// kubectl with its cache in `home` (not the user's ~/.kube).
function kubectl(args, home) {
  return new Promise((resolve) => {
    execFile(KUBECTL, args, { timeout: 60000, env: { ...process.env, HOME: home } },
      (err, stdout, stderr) => resolve({ code: err ? err.code || 1 : 0, stdout, stderr }));
  });
}

const isEmptyDir = (dir) => fs.readdirSync(dir).length === 0;

test('usage errors exit 2 and help exits 0', async () => {
  const help = await runLab(['--help']);
  assert.strictEqual(help.code, 0);
  assert.match(help.stdout, /usage: lab <command>/);
  assert.strictEqual((await runLab(['frobnicate'])).code, 2);
  assert.strictEqual((await runLab(['up', '--latency-ms', 'fast'])).code, 2);
  assert.strictEqual((await runLab(['up', '--bogus'])).code, 2);
  const status = await runLab(['status']);
  assert.ok(status.stdout.includes(`(${path.resolve(__dirname, '..', '..', '.lab')})`), `default DIR is .lab/ at the repository root: ${status.stdout}`);
});

test('lab up, up again, status, env, kubectl, down', async (t) => {
  const dir = makeTempDir();
  // Where a stray file would land: the HOME and TMPDIR `up` runs with stay empty.
  const outside = { HOME: makeTempDir('alaris-lab-home-'), TMPDIR: makeTempDir('alaris-lab-tmp-') };
  const kubeHome = makeTempDir('alaris-lab-kube-');
  t.after(async () => {
    await runLab(['down', '--dir', dir]);
    for (const d of [dir, outside.HOME, outside.TMPDIR, kubeHome]) fs.rmSync(d, { recursive: true, force: true });
  });

  const up = await runLab(['up', '--dir', dir, '--owner-pid', String(process.pid)], { env: outside });
  assert.strictEqual(up.code, 0, up.stderr);
  const env = parseEnv(up.stdout);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));

  await t.test('up prints the environment and writes private files under DIR', async () => {
    for (const name of ENV_NAMES) assert.ok(env[name], `${name} is set`);
    assert.strictEqual(env.SPACES_REGION, 'nyc3');
    // the node's address, which pods reach as well as the host (loopback only when the lab runs no pods)
    assert.match(env.SPACES_ENDPOINT, /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+$/);
    assert.strictEqual(fs.statSync(path.join(dir, 'env')).mode & 0o777, 0o600);
    assert.strictEqual(fs.readFileSync(path.join(dir, 'env'), 'utf8'), up.stdout);
    assert.strictEqual(env.KUBECONFIG, path.join(dir, 'kubeconfig'));
    assert.strictEqual(fs.statSync(env.KUBECONFIG).mode & 0o777, 0o600);
    assert.deepStrictEqual(Object.keys(state.components).sort(), ['admin', 'do', 'k8s', 's3']);
    assert.ok(alive(state.pid));
    assert.match(fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8'), /lab ready/);
    assert.doesNotMatch(fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8'), new RegExp(env.SPACES_SECRET_ACCESS_KEY.replace(/[+/]/g, '.')));
  });

  await t.test('up again finds the running lab, keeps it, and applies --latency-ms', async () => {
    const again = await runLab(['up', '--dir', dir, '--latency-ms', '25']);
    assert.strictEqual(again.code, 0, again.stderr);
    assert.match(again.stderr, /already running/);
    assert.deepStrictEqual(parseEnv(again.stdout), env);
    assert.strictEqual(JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).pid, state.pid);
    assert.strictEqual((await admin(env, 'GET', '/latency')).body.ms, 25);
    await admin(env, 'PUT', '/latency', { ms: 0 });
  });

  await t.test('status lists each endpoint as up; env prints the environment', async () => {
    const status = await runLab(['status', '--dir', dir]);
    assert.strictEqual(status.code, 0, status.stdout);
    assert.match(status.stdout, new RegExp(`s3\\s+up\\s+${env.SPACES_ENDPOINT}`));
    assert.match(status.stdout, new RegExp(`admin\\s+up\\s+${env.LAB_ADMIN_URL}`));
    assert.match(status.stdout, new RegExp(`do\\s+up\\s+${env.DIGITALOCEAN_API_URL}`));
    assert.match(status.stdout, /k8s\s+up\s+https:\/\/127\.0\.0\.1:\d+/);
    const printed = await runLab(['env', '--dir', dir]);
    assert.strictEqual(printed.code, 0);
    assert.strictEqual(printed.stdout, up.stdout);
  });

  await t.test('the kubeconfig has the lab context and both users', async () => {
    const YAML = require('yaml');
    const config = YAML.parse(fs.readFileSync(env.KUBECONFIG, 'utf8'));
    assert.strictEqual(config['current-context'], 'lab');
    assert.deepStrictEqual(config.contexts.map((c) => [c.name, c.context.user, c.context.namespace]),
      [['lab', 'lab', 'default'], ['lab-cert', 'lab-cert', 'default']]);
    assert.ok(config.clusters[0].cluster['certificate-authority-data']);
    assert.ok(config.users.find((u) => u.name === 'lab').user.token);
    assert.ok(config.users.find((u) => u.name === 'lab-cert').user['client-key-data']);
  });

  await t.test('kubectl lists the namespaces with either user of the kubeconfig', async (t) => {
    if (!haveKubectl(t)) return;
    const res = await kubectl(['--kubeconfig', env.KUBECONFIG, 'get', 'namespaces', '-o', 'name'], kubeHome);
    assert.strictEqual(res.code, 0, res.stderr);
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      assert.match(res.stdout, new RegExp(`^namespace/${ns}$`, 'm'));
    }
    const cert = await kubectl(['--kubeconfig', env.KUBECONFIG, '--context', 'lab-cert', 'get', 'namespace', 'default', '-o', 'name'], kubeHome);
    assert.strictEqual(cert.code, 0, cert.stderr);
  });

  await t.test('down stops every process of the lab and removes its runtime files', async () => {
    const members = processGroup(state.pgid);
    assert.ok(members.includes(state.pid));
    const down = await runLab(['down', '--dir', dir], { env: outside });
    assert.strictEqual(down.code, 0, down.stderr);
    assert.ok(isEmptyDir(outside.HOME) && isEmptyDir(outside.TMPDIR), 'nothing was written outside DIR');
    for (const pid of members) assert.ok(!alive(pid), `process ${pid} is gone`);
    assert.deepStrictEqual(processGroup(state.pgid), []);
    assert.ok(!fs.existsSync(path.join(dir, 'state.json')));
    assert.ok(!fs.existsSync(path.join(dir, 'env')));
    assert.ok(fs.existsSync(path.join(dir, 'daemon.log')), 'the log stays');
    const status = await runLab(['status', '--dir', dir]);
    assert.strictEqual(status.code, 1);
    assert.match(status.stdout, /not running/);
    assert.strictEqual((await runLab(['env', '--dir', dir])).code, 1);
    assert.strictEqual((await runLab(['down', '--dir', dir])).code, 0, 'down twice is harmless');
    await assert.rejects(fetch(env.SPACES_ENDPOINT));
  });

  await t.test('up after down starts again and keeps the Spaces root key', async () => {
    const again = await runLab(['up', '--dir', dir, '--owner-pid', String(process.pid)]);
    assert.strictEqual(again.code, 0, again.stderr);
    const env2 = parseEnv(again.stdout);
    assert.strictEqual(env2.SPACES_ACCESS_KEY_ID, env.SPACES_ACCESS_KEY_ID);
    assert.notStrictEqual(env2.LAB_ADMIN_TOKEN, env.LAB_ADMIN_TOKEN, 'tokens are fresh for each start');
    assert.strictEqual((await runLab(['down', '--dir', dir])).code, 0);
  });
});

// Daemons serving `dir`, whatever their process group (a second daemon would be a group of its own).
function daemonsOf(dir) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('--dir');
      if (argv.some((a) => a.endsWith('daemon.js')) && at >= 0 && argv[at + 1] === dir && alive(Number(entry))) pids.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

// Each `up` may wait for another's whole start (30 s at most each), so give them room on a slow machine.
const SLOW_UP = { timeout: 150000 };

test('three concurrent ups start one lab; a killed daemon or a dead up\'s lock does not block the next up', async (t) => {
  const dir = makeTempDir();
  t.after(async () => {
    await runLab(['down', '--dir', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const owner = ['--owner-pid', String(process.pid)];
  const ups = await Promise.all([1, 2, 3].map(() => runLab(['up', '--dir', dir, ...owner], SLOW_UP)));
  for (const r of ups) assert.strictEqual(r.code, 0, r.stderr);
  for (const r of ups.slice(1)) assert.deepStrictEqual(parseEnv(r.stdout), parseEnv(ups[0].stdout), 'all print the same lab');
  const { pid } = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  assert.deepStrictEqual(daemonsOf(dir), [pid], 'one daemon');
  assert.ok(!fs.existsSync(path.join(dir, 'up.lock')), 'the lock is released');

  process.kill(pid, 'SIGKILL');
  assert.ok(await waitFor(() => !alive(pid), 10000));
  assert.ok(fs.existsSync(path.join(dir, 'state.json')), 'a stale state.json is left behind');
  const status = await runLab(['status', '--dir', dir]);
  assert.strictEqual(status.code, 1);
  // An `up` that died holding the lock: its pid is gone.
  const dead = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => dead.on('exit', r));
  fs.writeFileSync(path.join(dir, 'up.lock'), String(dead.pid));
  const again = await runLab(['up', '--dir', dir, ...owner], SLOW_UP);
  assert.strictEqual(again.code, 0, again.stderr);
  const fresh = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  assert.notStrictEqual(fresh.pid, pid);
  assert.ok(alive(fresh.pid));
  assert.deepStrictEqual(daemonsOf(dir), [fresh.pid]);
});

test('a lab whose --owner-pid exits stops by itself', async (t) => {
  const dir = makeTempDir();
  const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(async () => {
    owner.kill('SIGKILL');
    await runLab(['down', '--dir', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const up = await runLab(['up', '--dir', dir, '--owner-pid', String(owner.pid)]);
  assert.strictEqual(up.code, 0, up.stderr);
  const { pid } = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  owner.kill('SIGKILL');
  // It notices within a second, then closes its servers (bounded): 30 s is room for a loaded machine.
  assert.ok(await waitFor(() => !alive(pid), 30000), 'the daemon exited after its owner');
  assert.ok(!fs.existsSync(path.join(dir, 'state.json')));
});
