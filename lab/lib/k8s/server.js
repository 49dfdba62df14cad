'use strict';
// The lab's emulated Kubernetes API server: HTTPS with the lab CA, authentication (bearer token or client
// certificate), impersonation, RBAC authorization, discovery and OpenAPI, then the REST verbs over the
// in-memory store; pod logs, WebSocket port-forward and exec; the node lab-node-1 and the workload controllers;
// the CRDs in lab/crds/*.yaml installed at start.
// start({dir, host, port, instrument, token?, log?, historySize?, bookmarkIntervalMs?, workloads?, podCIDR?,
//        execInPod?, nodeIP?, jobBackoffMs?}): workloads 'off' runs the readiness-only kubelet (fake-kubelet.js)
//        with addresses from podCIDR; execInPod is the node runtime's exec for pods/exec; nodeIP the node's
//        InternalIP (127.0.0.1 by default).
//   → {url, port, caData, token, clientCert, clientKey, store, close()}.
// Validation (validate.js) and server-side apply (apply.js) are used when those modules are present.

const fs = require('fs');
const path = require('path');
const https = require('https');
const YAML = require('yaml');
const { ensurePki } = require('../pki');
const { Registry } = require('./registry');
const { Store } = require('./store');
const { Controllers } = require('./controllers');
const { Workloads } = require('./workloads');
const { registerNode } = require('./nodes');
const { FakeKubelet } = require('./fake-kubelet');
const discovery = require('./discovery');
const rest = require('./rest');
const { handleReview } = require('./reviews');
const { servePodLog } = require('./podlog');
const { serveScale } = require('./scale');
const { createPortForwardServer, requestedPorts, forward } = require('./portforward');
const { createExecServer, execOptions, serveExec, ExecError } = require('./exec');
const { authenticate, impersonate } = require('./auth');
const { authorize, forbiddenMessage } = require('./rbac');
const { errors, StatusError } = require('./errors');
const { sendJSON, sendError, splitApiPath, resourceRoute } = require('./http');

const CRD_DIR = path.join(__dirname, '..', '..', 'crds');

// Loads an optional sibling module (owned by another part of the lab); null when it is not there yet.
function optionalModule(name) {
  try {
    require.resolve(name);
  } catch {
    return null;
  }
  return require(name);
}

function loadValidator(log) {
  const mod = optionalModule('./validate');
  if (!mod || !mod.Validator) return null;
  try {
    return new mod.Validator();
  } catch (err) {
    log(`k8s: validation disabled: ${err.message}`);
    return null;
  }
}

function defaultInstrument() {
  const admin = optionalModule('../admin');
  if (admin && admin.Instrument) return new admin.Instrument('k8s');
  return { wrap: (h) => h };
}

// Parsed CRD files, kept per process: the CNPG Cluster CRD alone takes ~0.5 s to parse.
const crdFileCache = new Map();

function crdDocuments(file) {
  const mtime = fs.statSync(file).mtimeMs;
  const cached = crdFileCache.get(file);
  if (!cached || cached.mtime !== mtime) {
    const text = JSON.stringify(YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJSON()));
    crdFileCache.set(file, { mtime, text });
  }
  return JSON.parse(crdFileCache.get(file).text);
}

function installCRDs(store, dir) {
  let files = [];
  try {
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    return 0;
  }
  let n = 0;
  for (const f of files) {
    for (const crd of crdDocuments(path.join(dir, f))) {
      if (!crd || crd.kind !== 'CustomResourceDefinition') continue;
      store.createObject(crd);
      n++;
    }
  }
  return n;
}

function attributesFor(route, verb) {
  const r = route.resource;
  const isNamespace = !r.group && r.resource === 'namespaces';
  return { verb, group: r.group, resource: r.resource, subresource: route.subresource, name: route.name,
    namespace: isNamespace ? route.name : route.namespace };
}

function checkAccess(ctx, attrs) {
  if (authorize(ctx.store, ctx.user, attrs).allowed) return;
  const details = { kind: attrs.resource };
  if (attrs.name) details.name = attrs.name;
  if (attrs.group) details.group = attrs.group;
  throw new StatusError(403, 'Forbidden', forbiddenMessage(ctx.user, attrs), details);
}

class ApiServer {
  constructor(opts) {
    this.opts = opts;
    this.log = opts.log || ((line) => console.error(line));
    this.pki = ensurePki(opts.dir, { token: opts.token });
    this.registry = new Registry();
    this.store = new Store({ registry: this.registry, historySize: opts.historySize });
    this.validator = opts.validator !== undefined ? opts.validator : loadValidator(this.log);
    this.apply = optionalModule('./apply');
    this.controllers = new Controllers({ store: this.store, registry: this.registry, validator: this.validator });
    this.controllers.bootstrap();
    registerNode(this.store, { internalIP: opts.nodeIP });
    this.workloads = new Workloads({ store: this.store, registry: this.registry, jobBackoffMs: opts.jobBackoffMs });
    // workloads 'off': the readiness-only kubelet writes pod status; otherwise the node runtime does.
    this.kubelet = opts.workloads === 'off' ? new FakeKubelet({ store: this.store, podCIDR: opts.podCIDR }) : null;
    installCRDs(this.store, opts.crdDir || CRD_DIR);
    this.openapi = new discovery.OpenAPI(this.registry);
    this.portForward = createPortForwardServer();
    this.exec = createExecServer();
    this.sockets = new Set();
  }

  context(req, res, url) {
    return { req, res, url, query: Object.fromEntries(url.searchParams), store: this.store, registry: this.registry,
      validator: this.validator, apply: this.apply, bookmarkIntervalMs: this.opts.bookmarkIntervalMs, mergeKeyFor: undefined };
  }

  async handle(req, res) {
    try {
      const url = new URL(req.url, 'https://lab');
      const pathname = url.pathname.replace(/\/+$/, '') || '/';
      if (['/healthz', '/livez', '/readyz'].includes(pathname)) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
        return;
      }
      const ctx = this.context(req, res, url);
      ctx.user = impersonate(this.store, authenticate(req, this.pki.token), req);
      if (this.serveNonResource(ctx, pathname)) return;
      const api = splitApiPath(pathname);
      if (!api) throw errors.pathNotFound();
      if (!api.rest.length) return this.serveResourceList(ctx, api);
      const route = resourceRoute(this.registry, api.group, api.version, api.rest);
      if (!route) throw errors.pathNotFound();
      ctx.route = route;
      checkAccess(ctx, attributesFor(route, rest.verbOf(req.method, route, ctx.query)));
      if (route.resource.virtual) return await handleReview(ctx, route);
      if (route.subresource === 'log') return servePodLog(ctx, route);
      if (route.subresource === 'scale') return await serveScale(ctx, route);
      if (route.subresource === 'portforward' || route.subresource === 'exec') throw errors.badRequest('Upgrade request required');
      await rest.handle(ctx, route);
    } catch (err) {
      sendError(res, err, this.log);
    }
  }

  serveNonResource(ctx, pathname) {
    const { res } = ctx;
    if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') return false;
    if (pathname === '/version') return sendJSON(res, 200, discovery.versionInfo()) || true;
    if (pathname === '/api') return sendJSON(res, 200, discovery.apiVersions(`127.0.0.1:${this.port}`)) || true;
    if (pathname === '/apis') return sendJSON(res, 200, discovery.apiGroupList(this.registry)) || true;
    if (pathname === '/openapi/v3') return sendJSON(res, 200, this.openapi.index()) || true;
    if (pathname.startsWith('/openapi/v3/')) {
      const doc = this.openapi.document(pathname.slice('/openapi/v3/'.length));
      if (!doc) throw errors.pathNotFound();
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'public, immutable', Etag: `"${doc.hash}"` });
      res.end(doc.text);
      return true;
    }
    const m = /^\/apis\/([^/]+)$/.exec(pathname);
    if (m) {
      const group = discovery.apiGroup(this.registry, m[1]);
      if (!group) throw errors.pathNotFound();
      return sendJSON(res, 200, Object.assign({ kind: 'APIGroup', apiVersion: 'v1' }, group)) || true;
    }
    return false;
  }

  serveResourceList(ctx, api) {
    const list = discovery.apiResourceList(this.registry, api.group, api.version);
    if (!list || ctx.req.method !== 'GET') throw errors.pathNotFound();
    sendJSON(ctx.res, 200, list);
  }

  upgrade(req, socket, head) {
    try {
      const url = new URL(req.url, 'https://lab');
      const ctx = this.context(req, null, url);
      ctx.user = impersonate(this.store, authenticate(req, this.pki.token), req);
      const api = splitApiPath(url.pathname);
      const route = api && resourceRoute(this.registry, api.group, api.version, api.rest);
      if (!route || !['portforward', 'exec'].includes(route.subresource)) throw errors.pathNotFound();
      checkAccess(ctx, attributesFor(route, 'create'));
      const pod = this.store.getObject(route.resource, route.namespace, route.name);
      if (!pod) throw errors.notFound(route.resource, route.name);
      if (route.subresource === 'exec') return this.upgradeExec(req, socket, head, url, pod);
      if (!pod.status || !pod.status.podIP) throw errors.badRequest(`pod ${route.name} does not have a host assigned`);
      let ports;
      try {
        ports = requestedPorts(url.searchParams);
      } catch (err) {
        throw errors.badRequest(err.message);
      }
      if (!ports.length) throw errors.badRequest('at least 1 port must be specified');
      forward(this.portForward, req, socket, head, pod, ports);
    } catch (err) {
      const status = err instanceof StatusError ? err.toStatus() : errors.internal(String(err && err.message)).toStatus();
      const body = JSON.stringify(status);
      socket.end(`HTTP/1.1 ${status.code} ${require('http').STATUS_CODES[status.code] || 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
  }

  // The node runtime's exec function (opts.execInPod, given by whoever runs the pods); none in readiness-only mode.
  execFunction() {
    if (this.opts.workloads === 'off') return null;
    return typeof this.opts.execInPod === 'function' ? this.opts.execInPod : null;
  }

  upgradeExec(req, socket, head, url, pod) {
    let opts;
    try {
      opts = execOptions(url.searchParams, pod);
    } catch (err) {
      if (err instanceof ExecError) throw errors.badRequest(err.message);
      throw err;
    }
    const execFn = this.execFunction();
    if (!execFn) {
      throw errors.badRequest(this.opts.workloads === 'off'
        ? `cannot exec in pod ${pod.metadata.name}: the lab runs no containers in readiness-only mode (lab up --no-workloads)`
        : `cannot exec in pod ${pod.metadata.name}: this lab has no node runtime`);
    }
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      throw errors.badRequest('pods/exec speaks WebSocket (v5.channel.k8s.io, v4.channel.k8s.io), not SPDY');
    }
    serveExec(this.exec, req, socket, head, pod, opts, execFn);
  }

  async listen() {
    const { host = '127.0.0.1', port = 0 } = this.opts;
    const instrument = this.opts.instrument || defaultInstrument();
    this.server = https.createServer({
      key: this.pki.serverKey, cert: this.pki.serverCert, ca: [this.pki.caCert], requestCert: true, rejectUnauthorized: false,
    }, instrument.wrap((req, res) => this.handle(req, res)));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    this.server.on('secureConnection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, resolve);
    });
    this.port = this.server.address().port;
    return this.port;
  }

  async close() {
    this.controllers.stop();
    this.workloads.stop();
    if (this.kubelet) this.kubelet.stop();
    for (const c of this.portForward.clients) c.terminate();
    for (const c of this.exec.clients) c.terminate();
    const closed = new Promise((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

async function start(opts = {}) {
  if (!opts.dir) throw new Error('k8s server: dir is required');
  const api = new ApiServer(opts);
  const port = await api.listen();
  const host = opts.host || '127.0.0.1';
  return {
    url: `https://${host}:${port}`,
    port,
    caData: api.pki.caCert,
    token: api.pki.token,
    clientCert: api.pki.clientCert,
    clientKey: api.pki.clientKey,
    store: api.store,
    registry: api.registry,
    validator: api.validator,
    close: () => api.close(),
  };
}

module.exports = { start, ApiServer };
