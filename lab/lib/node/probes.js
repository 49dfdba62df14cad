'use strict';
// Startup, liveness and readiness probes of one container, run from the node on their periods (httpGet to the
// pod's address, tcpSocket, exec inside the container), with initialDelaySeconds, timeoutSeconds,
// successThreshold and failureThreshold. Readiness sets the container's `ready`; a failing liveness or startup
// probe kills the container (the restart policy applies). Until the startup probe succeeds the others wait.

const http = require('http');
const net = require('net');

function portOf(spec, port) {
  if (typeof port === 'number' || /^\d+$/.test(String(port))) return Number(port);
  const named = (spec.ports || []).find((p) => p.name === port);
  return named ? named.containerPort : NaN;
}

function httpProbe(ip, spec, action, timeoutMs) {
  return new Promise((resolve) => {
    const headers = {};
    for (const h of action.httpHeaders || []) headers[h.name] = h.value;
    const req = http.get({ host: action.host || ip, port: portOf(spec, action.port), path: action.path || '/', headers, timeout: timeoutMs, agent: false },
      (res) => { res.resume(); resolve(res.statusCode >= 200 && res.statusCode < 400); });
    req.on('timeout', () => { req.destroy(); resolve(false); });
    req.on('error', () => resolve(false));
  });
}

function tcpProbe(ip, spec, action, timeoutMs) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: action.host || ip, port: portOf(spec, action.port) });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

function execProbe(kubelet, ps, cs, action, timeoutMs) {
  return new Promise((resolve) => {
    let child;
    try { child = kubelet.execInPod(ps.ns, ps.name, cs.spec.name, action.command || [], { stdin: false }); } catch { resolve(false); return; }
    const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(false); }, timeoutMs);
    child.stdout.resume();
    child.stderr.resume();
    child.on('exit', (code) => { clearTimeout(timer); resolve(code === 0); });
    child.on('error', () => { clearTimeout(timer); resolve(false); });
  });
}

function runProbe(kubelet, ps, cs, probe) {
  const timeoutMs = (probe.timeoutSeconds || 1) * 1000;
  if (probe.httpGet) return httpProbe(ps.ip, cs.spec, probe.httpGet, timeoutMs);
  if (probe.tcpSocket) return tcpProbe(ps.ip, cs.spec, probe.tcpSocket, timeoutMs);
  if (probe.exec) return execProbe(kubelet, ps, cs, probe.exec, timeoutMs);
  if (probe.grpc) return tcpProbe(ps.ip, cs.spec, { port: probe.grpc.port }, timeoutMs);
  return Promise.resolve(true);
}

// One probe loop; onResult(ok) is called when the thresholds flip the outcome.
function loop(kubelet, ps, cs, probe, kind, timers, onResult) {
  let successes = 0;
  let failures = 0;
  let current = null;
  const period = (probe.periodSeconds || 10) * 1000;
  const tick = async () => {
    if (timers.stopped) return;
    if (kind !== 'startup' && !cs.started) { timers.set(kind, setTimeout(tick, 200)); return; }
    const ok = await runProbe(kubelet, ps, cs, probe);
    if (timers.stopped) return;
    if (ok) { successes += 1; failures = 0; } else { failures += 1; successes = 0; }
    if (ok && successes >= (kind === 'readiness' ? probe.successThreshold || 1 : 1) && current !== true) { current = true; onResult(true); }
    if (!ok && failures >= (probe.failureThreshold || 3) && current !== false) { current = false; onResult(false); }
    if (kind === 'startup' && current === true) return;
    timers.set(kind, setTimeout(tick, period));
  };
  timers.set(kind, setTimeout(tick, (probe.initialDelaySeconds || 0) * 1000));
}

// Starts the container's probes; returns {stop()}.
function start({ pod: ps, container: cs, kubelet }) {
  const timers = new Map();
  const spec = cs.spec;
  if (spec.startupProbe) {
    loop(kubelet, ps, cs, spec.startupProbe, 'startup', timers, (ok) => {
      if (ok) { cs.started = true; if (!spec.readinessProbe) cs.ready = true; kubelet.writeStatus(ps); } else kubelet.killContainer(ps, cs, 'startup probe failed');
    });
  }
  if (spec.livenessProbe) {
    loop(kubelet, ps, cs, spec.livenessProbe, 'liveness', timers, (ok) => { if (!ok) kubelet.killContainer(ps, cs, 'liveness probe failed'); });
  }
  if (spec.readinessProbe) {
    loop(kubelet, ps, cs, spec.readinessProbe, 'readiness', timers, (ok) => { cs.ready = ok; kubelet.writeStatus(ps); });
  } else if (cs.started) {
    cs.ready = true;
  }
  return { stop() { timers.stopped = true; for (const t of timers.values()) clearTimeout(t); } };
}

module.exports = { start, portOf };
