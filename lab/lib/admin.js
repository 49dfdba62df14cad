'use strict';
// Instrumentation shared by the lab's API servers (k8s, do, s3) and the admin endpoint that controls it.
//
// `new Instrument(target).wrap(handler)` gives a request handler that first waits the configured latency,
// then applies the first matching fault rule (answer a status, or drop the connection), and otherwise calls
// `handler`; every request is recorded in a process-wide log when its response finishes (or its connection
// closes). All Instrument instances share one registry, so one admin endpoint sees every target.
//
// Admin endpoint (JSON over HTTP, `Authorization: Bearer TOKEN` when a token is configured):
//   GET    /latency            → {ms, targets: {k8s: N, ...}}
//   PUT    /latency            ← {ms: N, target?: "k8s"|"do"|"s3"}   (ms: null with a target removes its override)
//   GET    /faults             → {faults: [rule...]}
//   POST   /faults             ← {target?, method?, path? (RegExp source), status?, body?, drop?, count? | probability?}
//                              → the rule with its id (201)
//   DELETE /faults[/ID]        clears all rules (or one)
//   GET    /requests?target=T&method=M  → {requests: [{target, method, path, url, status, duration_ms, time}], count}
//   DELETE /requests           clears the log
// Other parts add routes once they are up: `adminServer.route('POST /logs', handler)` (see startAdminServer).
// It does not wrap WebSocket upgrades, and it does not persist anything: state lives in this process.

const http = require('http');
const crypto = require('crypto');

const TARGETS = ['k8s', 'do', 's3'];
const MAX_LOG_ENTRIES = 50000;

// One registry per process, whatever module instance requires this file.
const REGISTRY_KEY = Symbol.for('alaris.lab.instrument.registry');
const registry = globalThis[REGISTRY_KEY] || (globalThis[REGISTRY_KEY] = {
  latency: { ms: 0, targets: {} },
  faults: [],
  requests: [],
  nextFaultId: 1,
});

function latencyFor(target) {
  const override = registry.latency.targets[target];
  return Number.isFinite(override) ? override : registry.latency.ms;
}

function setLatency({ ms, target } = {}) {
  if (target !== undefined && !TARGETS.includes(target)) throw new Error(`unknown target "${target}"`);
  if (target !== undefined && ms === null) {
    delete registry.latency.targets[target];
    return getLatency();
  }
  if (!Number.isFinite(ms) || ms < 0) throw new Error('ms must be a number >= 0');
  if (target === undefined) registry.latency.ms = ms;
  else registry.latency.targets[target] = ms;
  return getLatency();
}

function getLatency() {
  return { ms: registry.latency.ms, targets: { ...registry.latency.targets } };
}

function addFault(spec = {}) {
  const rule = normaliseFault(spec);
  rule.id = String(registry.nextFaultId++);
  registry.faults.push(rule);
  return publicFault(rule);
}

function normaliseFault(spec) {
  if (spec.target !== undefined && !TARGETS.includes(spec.target)) throw new Error(`unknown target "${spec.target}"`);
  if (spec.path !== undefined) new RegExp(spec.path); // throws on a bad pattern
  const drop = spec.drop === true;
  const status = spec.status === undefined ? 500 : spec.status;
  if (!drop && (!Number.isInteger(status) || status < 100 || status > 599)) throw new Error('status must be an HTTP status');
  if (spec.count !== undefined && (!Number.isInteger(spec.count) || spec.count < 1)) throw new Error('count must be an integer >= 1');
  if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
    throw new Error('probability must be between 0 and 1');
  }
  if (spec.count !== undefined && spec.probability !== undefined) throw new Error('give count or probability, not both');
  return {
    target: spec.target,
    method: spec.method ? String(spec.method).toUpperCase() : undefined,
    path: spec.path,
    regex: spec.path !== undefined ? new RegExp(spec.path) : null,
    status: drop ? undefined : status,
    body: spec.body,
    drop,
    count: spec.count,
    probability: spec.probability,
    remaining: spec.count,
    matched: 0,
  };
}

function publicFault(rule) {
  const { regex, ...rest } = rule;
  return JSON.parse(JSON.stringify(rest));
}

function listFaults() {
  return registry.faults.map(publicFault);
}

function clearFaults(id) {
  if (id === undefined) {
    registry.faults.length = 0;
    return true;
  }
  const i = registry.faults.findIndex((r) => r.id === String(id));
  if (i < 0) return false;
  registry.faults.splice(i, 1);
  return true;
}

// The first rule that matches this request and fires (count left, or the dice say so); consumes one count.
function takeFault(target, method, path) {
  for (let i = 0; i < registry.faults.length; i++) {
    const rule = registry.faults[i];
    if (rule.target && rule.target !== target) continue;
    if (rule.method && rule.method !== method) continue;
    if (rule.regex && !rule.regex.test(path)) continue;
    if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
    rule.matched++;
    if (rule.remaining !== undefined) {
      rule.remaining--;
      if (rule.remaining <= 0) registry.faults.splice(i, 1);
    }
    return rule;
  }
  return null;
}

function recordRequest(entry) {
  registry.requests.push(entry);
  if (registry.requests.length > MAX_LOG_ENTRIES) registry.requests.splice(0, registry.requests.length - MAX_LOG_ENTRIES);
}

function listRequests({ target, method } = {}) {
  return registry.requests.filter((r) => (!target || r.target === target) && (!method || r.method === method.toUpperCase()));
}

function clearRequests() {
  registry.requests.length = 0;
}

function defaultFaultBody(target, status) {
  const text = http.STATUS_CODES[status] || 'Error';
  if (target === 'k8s') {
    return { type: 'application/json', body: JSON.stringify({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `injected fault: ${text}`, reason: text.replace(/\s+/g, ''), code: status }) };
  }
  if (target === 's3') {
    return { type: 'application/xml', body: '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' +
      (status === 503 ? 'SlowDown' : 'InternalError') + `</Code><Message>injected fault: ${text}</Message>` +
      `<RequestId>${crypto.randomBytes(8).toString('hex')}</RequestId></Error>` };
  }
  return { type: 'application/json', body: JSON.stringify({ id: text.toLowerCase().replace(/\s+/g, '_'),
    message: `injected fault: ${text}` }) };
}

function answerFault(target, rule, req, res) {
  if (rule.drop) {
    req.socket.destroy();
    return;
  }
  let type, body;
  if (rule.body === undefined) ({ type, body } = defaultFaultBody(target, rule.status));
  else if (typeof rule.body === 'string') { type = 'text/plain'; body = rule.body; }
  else { type = 'application/json'; body = JSON.stringify(rule.body); }
  res.writeHead(rule.status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function pathOf(url) {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

class Instrument {
  constructor(target) {
    if (!TARGETS.includes(target)) throw new Error(`unknown instrument target "${target}"`);
    this.target = target;
  }

  wrap(handler) {
    const target = this.target;
    return (req, res) => {
      const started = process.hrtime.bigint();
      const time = new Date().toISOString();
      const path = pathOf(req.url || '/');
      let recorded = false;
      const record = () => {
        if (recorded) return;
        recorded = true;
        recordRequest({
          target, method: req.method, path, url: req.url, status: res.headersSent ? res.statusCode : null,
          duration_ms: Number(process.hrtime.bigint() - started) / 1e6, time,
        });
      };
      res.on('finish', record);
      res.on('close', record);
      const proceed = () => {
        const rule = takeFault(target, req.method, path);
        if (rule) return answerFault(target, rule, req, res);
        callHandler(handler, req, res);
      };
      const ms = latencyFor(target);
      if (ms > 0) setTimeout(proceed, ms);
      else proceed();
    };
  }
}

function callHandler(handler, req, res) {
  const fail = (err) => {
    console.error(`lab: handler error on ${req.method} ${req.url}: ${err && err.stack || err}`);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    } else {
      res.destroy();
    }
  };
  try {
    const out = handler(req, res);
    if (out && typeof out.catch === 'function') out.catch(fail);
  } catch (err) {
    fail(err);
  }
}

// ---- admin endpoint ----

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readJson(req, limit = 1 << 20) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) { reject(new Error('body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve({});
      try { resolve(JSON.parse(text)); } catch (e) { reject(new Error(`invalid JSON: ${e.message}`)); }
    });
    req.on('error', reject);
  });
}

function tokenMatches(header, token) {
  const m = /^Bearer\s+(.+)$/i.exec(header || '');
  if (!m) return false;
  const a = Buffer.from(m[1].trim());
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

// An error a registered route throws to answer `status` with {error, message}.
class AdminError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

const BUILTIN_ROUTES = ['GET /latency', 'PUT /latency', 'GET /faults', 'POST /faults', 'DELETE /faults', 'GET /requests',
  'DELETE /requests', 'GET /healthz'];

// Runs a registered route: handler({method, url, parts, body}) → {status?, body?} (status 200 by default; no body:
// 204). body is the parsed JSON request body ({} when there is none).
async function callRoute(handler, req, res, url, parts) {
  const body = ['GET', 'HEAD', 'DELETE'].includes(req.method) ? {} : await readJson(req);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('the body must be a JSON object');
  try {
    const out = (await handler({ method: req.method, url, parts, body })) || {};
    const status = out.status || (out.body === undefined ? 204 : 200);
    if (out.body === undefined) { res.writeHead(status); return res.end(); }
    return sendJson(res, status, out.body);
  } catch (err) {
    if (err instanceof AdminError) return sendJson(res, err.status, { error: err.error, message: err.message });
    console.error(`lab: admin route ${req.method} ${url.pathname} failed: ${err && err.stack || err}`);
    return sendJson(res, 500, { error: 'internal', message: String(err && err.message || err) });
  }
}

async function handleAdmin(req, res, token, routes) {
  if (token && !tokenMatches(req.headers.authorization, token)) {
    return sendJson(res, 401, { error: 'unauthorized', message: 'a valid bearer token is required' });
  }
  const url = new URL(req.url, 'http://admin');
  const parts = url.pathname.split('/').filter(Boolean);
  const route = `${req.method} /${parts[0] || ''}`;
  try {
    if (routes.has(route)) return await callRoute(routes.get(route), req, res, url, parts);
    switch (route) {
      case 'GET /latency': return sendJson(res, 200, getLatency());
      case 'PUT /latency': return sendJson(res, 200, setLatency(await readJson(req)));
      case 'GET /faults': return sendJson(res, 200, { faults: listFaults() });
      case 'POST /faults': return sendJson(res, 201, addFault(await readJson(req)));
      case 'DELETE /faults':
        if (!clearFaults(parts[1])) return sendJson(res, 404, { error: 'not_found', message: `no fault rule ${parts[1]}` });
        res.writeHead(204); return res.end();
      case 'GET /requests': {
        const requests = listRequests({ target: url.searchParams.get('target'), method: url.searchParams.get('method') });
        return sendJson(res, 200, { requests, count: requests.length });
      }
      case 'DELETE /requests': clearRequests(); res.writeHead(204); return res.end();
      case 'GET /healthz': return sendJson(res, 200, { ok: true });
      default: return sendJson(res, 404, { error: 'not_found', message: `no route ${route}` });
    }
  } catch (err) {
    return sendJson(res, 400, { error: 'bad_request', message: err.message });
  }
}

// Starts the admin endpoint. The result's `route('METHOD /name', handler)` adds a route for requests whose path
// starts with /name (after the bearer check; see callRoute for the handler's contract); the built-in routes cannot
// be replaced and a route is registered once.
function startAdminServer({ host = '127.0.0.1', port = 0, token } = {}) {
  const routes = new Map();
  const route = (spec, handler) => {
    const m = /^(GET|PUT|POST|PATCH|DELETE) \/([A-Za-z0-9_-]+)$/.exec(spec);
    if (!m) throw new Error(`admin route "${spec}" must be "METHOD /name"`);
    if (BUILTIN_ROUTES.includes(spec) || routes.has(spec)) throw new Error(`admin route "${spec}" is already served`);
    if (typeof handler !== 'function') throw new Error(`admin route "${spec}" needs a handler function`);
    routes.set(spec, handler);
  };
  const server = http.createServer((req, res) => {
    handleAdmin(req, res, token, routes).catch((err) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: err.message });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = server.address().port;
      resolve({
        port: actual,
        url: `http://${host}:${actual}`,
        route,
        close: () => new Promise((done) => { server.close(() => done()); server.closeAllConnections(); }),
      });
    });
  });
}

module.exports = {
  Instrument, startAdminServer, AdminError, TARGETS,
  setLatency, getLatency, addFault, listFaults, clearFaults, listRequests, clearRequests,
};
