'use strict';
// pods/NAME/portforward over WebSocket (v4.channel.k8s.io) and pods/NAME/log on the emulated Kubernetes
// API: bytes pumped both ways to a TCP server at the pod's status.podIP, port frames first, errors on the
// error channel; and, when PostgreSQL is installed, a real PostgreSQL answering a query through the
// port-forward (skipped otherwise). `kubectl logs -f` is skipped, with the reason, without kubectl (./kubectl.js).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { execFileSync, execFile } = require('child_process');
const WebSocket = require('ws');
const { startK8s, eventually } = require('./k8s-helpers');
const { haveKubectl } = require('./kubectl');

let lab;
let echo;
before(async () => {
  lab = await startK8s();
  echo = net.createServer((s) => s.pipe(s));
  await new Promise((r) => echo.listen(0, '127.0.0.1', r));
});
after(async () => {
  await new Promise((r) => echo.close(r));
  await lab.stop();
});

async function makePod(name, podIP, containers = [{ name: 'main', image: 'x' }]) {
  const r = await lab.request('POST', '/api/v1/namespaces/default/pods', { body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers } } });
  assert.equal(r.status, 201, r.text);
  if (podIP) {
    const s = await lab.request('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, { contentType: 'application/merge-patch+json', body: { status: { podIP, phase: 'Running' } } });
    assert.equal(s.status, 200, s.text);
  }
}

// Opens a port-forward WebSocket; resolves {ws, frames, next(channel)} once open.
function openForward(pod, ports, { token = lab.k8s.token } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${lab.k8s.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/${pod}/portforward?ports=${ports}`,
      ['v4.channel.k8s.io'], { ca: lab.k8s.caData, headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const frames = [];
    const waiters = [];
    ws.on('message', (data) => {
      frames.push(Buffer.from(data));
      for (const w of waiters.slice()) w();
    });
    function next(pred, ms = 3000) {
      return new Promise((res, rej) => {
        const check = () => {
          const i = frames.findIndex(pred);
          if (i >= 0) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(check), 1);
            res(frames.splice(i, 1)[0]);
          }
        };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(check), 1); rej(new Error('no frame')); }, ms);
        waiters.push(check);
        check();
      });
    }
    ws.on('open', () => resolve({ ws, frames, next }));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
}

const portFrame = (ch, port) => Buffer.from([ch, port & 255, port >> 8]);

test('port-forward pumps bytes to the pod IP and back, after the port frames', async () => {
  await makePod('echo', '127.0.0.1');
  const port = echo.address().port;
  const { ws, next } = await openForward('echo', port);
  try {
    assert.deepEqual(await next((f) => f[0] === 0), portFrame(0, port));
    assert.deepEqual(await next((f) => f[0] === 1), portFrame(1, port));
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello through the lab')]));
    let got = '';
    while (got.length < 'hello through the lab'.length) got += (await next((f) => f[0] === 0)).subarray(1).toString();
    assert.equal(got, 'hello through the lab');
  } finally {
    ws.close();
  }
});

test('a refused connection is reported on the error channel', async () => {
  const closed = net.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const port = closed.address().port;
  await new Promise((r) => closed.close(r));
  await makePod('refused', '127.0.0.1');
  const { ws, next } = await openForward('refused', port);
  try {
    await next((f) => f[0] === 1 && f.length === 3);
    const err = await next((f) => f[0] === 1);
    assert.match(err.subarray(1).toString(), new RegExp(`error forwarding port ${port} to pod refused.*connection refused`));
  } finally {
    ws.close();
  }
});

test('port-forward is refused without credentials, for a pod without an IP, and without ports', async () => {
  await makePod('noip', null);
  await assert.rejects(openForward('echo', 80, { token: null }), (e) => e.status === 401);
  await assert.rejects(openForward('noip', 80), (e) => e.status === 400 && /does not have a host assigned/.test(e.body));
  await assert.rejects(openForward('echo', ''), (e) => e.status === 400 && /at least 1 port/.test(e.body));
  await assert.rejects(openForward('ghost', 80), (e) => e.status === 404);
});

test('pods/log returns the recorded log: tailLines, container choice, follow', async (t) => {
  await makePod('logger', null);
  lab.store.appendLog('default', 'logger', 'line 1\nline 2\n');
  lab.store.appendLog('default', 'logger', 'line 3\n');
  let r = await lab.request('GET', '/api/v1/namespaces/default/pods/logger/log');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'line 1\nline 2\nline 3\n');
  r = await lab.request('GET', '/api/v1/namespaces/default/pods/logger/log?tailLines=2');
  assert.equal(r.text, 'line 2\nline 3\n');
  r = await lab.request('GET', '/api/v1/namespaces/default/pods/logger/log?container=nope');
  assert.equal(r.status, 400);

  await makePod('two', null, [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }]);
  lab.store.appendLog('default', 'two', 'from b\n', 'b');
  r = await lab.request('GET', '/api/v1/namespaces/default/pods/two/log');
  assert.equal(r.status, 400);
  assert.match(r.body.message, /a container name must be specified for pod two, choose one of: \[a b\]/);
  assert.equal((await lab.request('GET', '/api/v1/namespaces/default/pods/two/log?container=b')).text, 'from b\n');
  assert.equal((await lab.request('GET', '/api/v1/namespaces/default/pods/two/log?container=a')).text, '');

  await t.test('kubectl logs -f prints what is appended until the pod is deleted', async (t) => {
    if (!haveKubectl(t)) return;
    const followed = lab.kubectl(['logs', '-f', 'logger', '--request-timeout=10s']);
    await new Promise((res) => setTimeout(res, 600));
    lab.store.appendLog('default', 'logger', 'line 4\n');
    await new Promise((res) => setTimeout(res, 200));
    await lab.request('DELETE', '/api/v1/namespaces/default/pods/logger');
    const out = await followed;
    assert.equal(out.stdout, 'line 1\nline 2\nline 3\nline 4\n');
  });
});

// --- optional: a real PostgreSQL behind the port-forward ---
// Debian's layout (/usr/lib/postgresql/VERSION/bin), newest version first.
function findPgBin() {
  const root = '/usr/lib/postgresql';
  let versions = [];
  try { versions = fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a); } catch { /* not installed */ }
  const found = versions.map((v) => path.join(root, v, 'bin')).find((bin) => fs.existsSync(path.join(bin, 'initdb')));
  return found || null;
}
const PG_BIN = findPgBin();
const isRoot = process.getuid && process.getuid() === 0;
// PostgreSQL refuses to run as root: as root the server runs as the postgres OS user, otherwise as us.
const havePg = PG_BIN !== null && (!isRoot || (() => {
  try { execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' }); return true; } catch { return false; }
})());

// A local TCP port that forwards each connection through the WebSocket port-forward (what a client's
// `port-forward` does).
async function bridge(pod, port) {
  const server = net.createServer(async (sock) => {
    sock.pause();
    const { ws, frames, next } = await openForward(pod, port);
    await next((f) => f[0] === 0); // the port frame; later channel-0 frames are data
    const deliver = (b) => { if (b[0] === 0 && b.length > 1) sock.write(b.subarray(1)); };
    frames.splice(0).forEach(deliver);
    ws.on('message', (d) => deliver(Buffer.from(d)));
    sock.on('data', (d) => ws.send(Buffer.concat([Buffer.from([0]), d])));
    sock.on('close', () => ws.close());
    ws.on('close', () => sock.destroy());
    sock.resume();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, Object.assign({ timeout: 20000 }, opts), (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve(stdout)));
  });
}

test('a real PostgreSQL answers a query through the port-forward', { skip: havePg ? false : 'PostgreSQL (Debian\'s postgresql package: initdb) is not installed, or we are root and there is no postgres OS user' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alaris-pf-pg-'));
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    fs.chownSync(dir, uid, gid);
  }
  const asPostgres = (bin, args) => (isRoot
    ? run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, bin), ...args], { cwd: dir })
    : run(path.join(PG_BIN, bin), args, { cwd: dir }));
  const free = net.createServer();
  await new Promise((r) => free.listen(0, '127.0.0.1', r));
  const pgPort = free.address().port;
  await new Promise((r) => free.close(r));
  const data = path.join(dir, 'data');
  let server;
  try {
    await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-o', `-p ${pgPort} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    await makePod('pg', '127.0.0.1', [{ name: 'postgres', image: 'postgres:15' }]);
    server = await bridge('pg', pgPort);
    const out = await run(path.join(PG_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(server.address().port), '-U', 'postgres', '-Atc', 'select 40 + 2']);
    assert.equal(out.trim(), '42');
  } finally {
    if (server) server.close();
    await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
