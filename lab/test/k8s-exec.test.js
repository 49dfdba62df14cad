'use strict';
// pods/exec over WebSocket (lib/k8s/exec.js) with an injected exec function: a real child process stands in for
// the container (the node runtime gives the real one). Checked with a raw WebSocket client for both
// subprotocols (channels, stdin close on v5, the Status on channel 3 with the exit code) and with the real
// `kubectl exec` (stdout, stderr, stdin, exit code); then the refusals: bad options, a completed pod, no runtime,
// readiness-only mode, and RBAC.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const WebSocket = require('ws');
const { startK8s } = require('./k8s-helpers');
const { haveKubectl } = require('./kubectl');

const calls = [];
// The stand-in container: the command runs as a child of the test, in a scratch directory.
function standInExec(namespace, pod, container, argv, opts) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: lab.dir });
  calls.push({ namespace, pod, container, argv, opts, child });
  return child;
}

let lab;
before(async () => {
  lab = await startK8s({ execInPod: standInExec });
  for (const name of ['box', 'done', 'pending']) {
    lab.store.createObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
      spec: { containers: [{ name: 'main', image: 'busybox' }] } });
  }
  running('box');
  const done = lab.store.get('v1', 'Pod', 'default', 'done');
  lab.store.updateStatus(Object.assign(done, { status: { phase: 'Succeeded' } }));
});
after(async () => { await lab.stop(); });

// Writes the status a kubelet writes for a running pod.
function running(name) {
  const pod = lab.store.get('v1', 'Pod', 'default', name);
  pod.status = { phase: 'Running', podIP: '127.0.0.1',
    containerStatuses: [{ name: 'main', ready: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } }] };
  lab.store.updateStatus(pod);
}

function execURL(pod, command, params = 'stdout=true&stderr=true') {
  const u = new URL(lab.k8s.url.replace('https:', 'wss:') + `/api/v1/namespaces/default/pods/${pod}/exec?${params}`);
  for (const c of command) u.searchParams.append('command', c);
  return u.toString();
}

// Runs one exec session; resolves {protocol, channels: {1: text, 2: text}, status (parsed), closeCode}.
function session(pod, command, { protocols = ['v5.channel.k8s.io'], params, stdin } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(execURL(pod, command, params), protocols, { ca: lab.k8s.caData, headers: { Authorization: `Bearer ${lab.k8s.token}` } });
    const channels = { 1: '', 2: '' };
    let status = null;
    ws.on('open', () => {
      if (stdin === undefined) return;
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
      if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 0]));
    });
    ws.on('message', (m) => {
      if (m[0] === 3) status = JSON.parse(m.subarray(1).toString());
      else channels[m[0]] = (channels[m[0]] || '') + m.subarray(1).toString();
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ httpStatus: res.statusCode, body: JSON.parse(body) }));
    });
    ws.on('close', (closeCode) => resolve({ protocol: ws.protocol, channels, status, closeCode }));
    ws.on('error', (err) => { if (!/Unexpected server response/.test(err.message)) reject(err); });
  });
}

test('exec over v5.channel.k8s.io: stdout on 1, stderr on 2, a Success status on 3, then a normal close', async () => {
  const r = await session('box', ['sh', '-c', 'echo out; echo err >&2']);
  assert.equal(r.protocol, 'v5.channel.k8s.io');
  assert.equal(r.channels[1], 'out\n');
  assert.equal(r.channels[2], 'err\n');
  assert.deepEqual(r.status, { metadata: {}, status: 'Success' });
  assert.equal(r.closeCode, 1000);
  const call = calls[calls.length - 1];
  assert.deepEqual([call.namespace, call.pod, call.container, call.argv], ['default', 'box', 'main', ['sh', '-c', 'echo out; echo err >&2']]);
});

test('a non-zero exit is a NonZeroExitCode Failure with the code in details.causes (v4 too)', async () => {
  for (const protocols of [['v5.channel.k8s.io'], ['v4.channel.k8s.io']]) {
    const r = await session('box', ['sh', '-c', 'exit 7'], { protocols });
    assert.equal(r.protocol, protocols[0]);
    assert.equal(r.status.status, 'Failure');
    assert.equal(r.status.reason, 'NonZeroExitCode');
    assert.deepEqual(r.status.details.causes, [{ reason: 'ExitCode', message: '7' }]);
  }
});

test('stdin reaches the command and the v5 close frame ends it', async () => {
  const r = await session('box', ['sh', '-c', 'tr a-z A-Z; echo "[eof]"'], { params: 'stdin=true&stdout=true&stderr=true', stdin: 'hello\n' });
  assert.equal(r.channels[1], 'HELLO\n[eof]\n');
  assert.equal(r.status.status, 'Success');
});

test('closing the WebSocket kills the command', async () => {
  const ws = new WebSocket(execURL('box', ['sleep', '30']), ['v5.channel.k8s.io'], { ca: lab.k8s.caData, headers: { Authorization: `Bearer ${lab.k8s.token}` } });
  await new Promise((resolve) => ws.on('open', resolve));
  const { child } = calls[calls.length - 1];
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal)));
  ws.close();
  assert.equal(await exited, 'SIGKILL');
});

test('bad requests are refused before the upgrade, with the server wording', async () => {
  const cases = [
    ['box', [], 'stdout=true', /you must specify at least one command/],
    ['box', ['true'], 'tty=false', /at least 1 of stdin, stdout, stderr/],
    ['box', ['true'], 'stdout=true&container=nope', /container nope is not valid for pod box/],
    ['done', ['true'], 'stdout=true', /cannot exec into a container in a completed pod; current phase is Succeeded/],
    ['pending', ['true'], 'stdout=true', /container not found \("main"\)/],
  ];
  for (const [pod, command, params, message] of cases) {
    const r = await session(pod, command, { params });
    assert.equal(r.httpStatus, 400, JSON.stringify(r));
    assert.match(r.body.message, message);
  }
  const missing = await session('ghost', ['true']);
  assert.equal(missing.httpStatus, 404);
  const plain = await lab.request('POST', '/api/v1/namespaces/default/pods/box/exec?command=true&stdout=true');
  assert.equal(plain.status, 400);
  assert.match(plain.body.message, /Upgrade request required/);
});

test('kubectl exec: output, stderr, stdin and the exit code of the command', async (t) => {
  if (!haveKubectl(t, { minor: 30, feature: 'exec over WebSocket' })) return;
  const ok = await lab.kubectl(['exec', 'box', '--', 'sh', '-c', 'echo hello; echo oops >&2']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'hello\n');
  assert.match(ok.stderr, /oops/);
  const failed = await lab.kubectl(['exec', 'box', '--', 'sh', '-c', 'exit 3']);
  assert.equal(failed.code, 3);
  assert.match(failed.stderr, /command terminated with exit code 3/);
  const piped = await lab.kubectl(['exec', '-i', 'box', '--', 'wc', '-c'], { input: 'twelve bytes' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout.trim(), '12');
  const completed = await lab.kubectl(['exec', 'done', '--', 'true']);
  assert.notEqual(completed.code, 0);
  assert.match(completed.stderr, /completed pod/);
});

test('without a node runtime, and in readiness-only mode, exec says why it cannot run', async () => {
  for (const [opts, message] of [[{}, /no node runtime/], [{ workloads: 'off' }, /readiness-only mode/]]) {
    const other = await startK8s(opts);
    try {
      other.store.createObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
      const pod = other.store.get('v1', 'Pod', 'default', 'p');
      pod.status = { phase: 'Running', containerStatuses: [{ name: 'c', state: { running: {} } }] };
      other.store.updateStatus(pod);
      const r = await other.request('GET', '/api/v1/namespaces/default/pods/p/exec?command=true&stdout=true',
        { headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io' } });
      assert.equal(r.status, 400);
      assert.match(r.body.message, message);
    } finally {
      await other.stop();
    }
  }
});
