'use strict';
// pods/NAME/exec over WebSocket, as the kubelet streams it behind the API server: subprotocol
// `v5.channel.k8s.io` (preferred) or `v4.channel.k8s.io`; every binary frame starts with its channel byte:
// 0 stdin (client → pod), 1 stdout, 2 stderr, 3 error/status (one metav1.Status JSON when the command ends:
// Success, or Failure with reason NonZeroExitCode and the exit code in details.causes[ExitCode]), 4 resize
// (ignored: no terminal is allocated here), and with v5 only 255 close (payload: the channel the client
// closed; closing 0 ends the command's stdin). The command runs through an exec function
// `(namespace, pod, container, argv, {stdin, tty}) -> ChildProcess` given by the node runtime; without one
// (readiness-only mode, or no runtime) the request fails with a Status saying why. SPDY is not spoken.

const os = require('os');
const { WebSocketServer, WebSocket } = require('ws');

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const CLOSE = 255;

class ExecError extends Error {}

function createExecServer() {
  return new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) || false,
  });
}

const flag = (params, name) => ['true', '1'].includes(String(params.get(name)).toLowerCase());

// The exec request's options, checked against the pod as the API server and kubelet check them.
// Throws ExecError (a 400 Bad Request) with the real server's wording.
function execOptions(params, pod) {
  const command = params.getAll('command');
  const opts = { command, stdin: flag(params, 'stdin'), stdout: flag(params, 'stdout'), stderr: flag(params, 'stderr'), tty: flag(params, 'tty') };
  if (!command.length) throw new ExecError('you must specify at least one command for the container');
  if (!opts.stdin && !opts.stdout && !opts.stderr) throw new ExecError('you must specify at least 1 of stdin, stdout, stderr');
  const names = ((pod.spec && pod.spec.containers) || []).map((c) => c.name);
  const name = pod.metadata.name;
  opts.container = params.get('container') || '';
  if (!opts.container) {
    if (names.length !== 1) throw new ExecError(`a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`);
    opts.container = names[0];
  }
  if (!names.includes(opts.container)) throw new ExecError(`container ${opts.container} is not valid for pod ${name}`);
  const phase = pod.status && pod.status.phase;
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw new ExecError(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  }
  const status = ((pod.status && pod.status.containerStatuses) || []).find((c) => c.name === opts.container);
  if (!status || !status.state || !status.state.running) {
    throw new ExecError(`unable to upgrade connection: container not found ("${opts.container}")`);
  }
  return opts;
}

function successStatus() {
  return { metadata: {}, status: 'Success' };
}

function exitStatus(argv, code) {
  return {
    metadata: {}, status: 'Failure', reason: 'NonZeroExitCode',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${code}`,
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

function internalStatus(message) {
  return { metadata: {}, status: 'Failure', reason: 'InternalError', code: 500,
    message: `Internal error occurred: error executing command in container: ${message}` };
}

// Upgrades the request and runs the command. opts: execOptions(); execFn: the runtime's exec function.
function serveExec(wss, req, socket, head, pod, opts, execFn) {
  wss.handleUpgrade(req, socket, head, (ws) => runSession(ws, pod, opts, execFn));
}

function runSession(ws, pod, opts, execFn) {
  const send = (channel, payload) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]));
  };
  const finish = (status) => {
    send(STATUS, JSON.stringify(status));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  };
  let child;
  try {
    child = execFn(pod.metadata.namespace, pod.metadata.name, opts.container, opts.command, { stdin: opts.stdin, tty: opts.tty });
  } catch (err) {
    finish(internalStatus(err.message));
    return;
  }
  let spawnError = null;
  let done = false;
  child.on('error', (err) => { spawnError = spawnError || err; });
  if (child.stdout) child.stdout.on('data', (d) => { if (opts.stdout) send(STDOUT, d); });
  if (child.stderr) child.stderr.on('data', (d) => { if (opts.stderr) send(opts.tty ? STDOUT : STDERR, d); });
  if (child.stdin) {
    child.stdin.on('error', () => { /* the command stopped reading */ });
    if (!opts.stdin) child.stdin.end();
  }
  child.on('close', (code, signal) => {
    done = true;
    if (spawnError && code === null && !signal) return finish(internalStatus(spawnError.message));
    const exit = code !== null && code !== undefined ? code : 128 + (os.constants.signals[signal] || 0);
    finish(exit === 0 ? successStatus() : exitStatus(opts.command, exit));
  });
  ws.on('message', (msg) => {
    const buf = Buffer.isBuffer(msg) ? msg : Buffer.from(msg);
    if (!buf.length || !child.stdin) return;
    if (buf[0] === STDIN && opts.stdin && buf.length > 1) child.stdin.write(buf.subarray(1));
    else if (buf[0] === CLOSE && ws.protocol === 'v5.channel.k8s.io' && buf[1] === STDIN) child.stdin.end();
    // RESIZE: no terminal to resize.
  });
  const abandon = () => { if (!done) child.kill('SIGKILL'); };
  ws.on('close', abandon);
  ws.on('error', abandon);
}

module.exports = { createExecServer, execOptions, serveExec, ExecError, PROTOCOLS, STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE };
