// The emulated DigitalOcean API: plain HTTP on loopback under /v2, bearer-token auth, request
// bodies validated against DO's OpenAPI description, DO's error bodies and pagination, rate-limit
// headers and 429s, and an x-request-id on every response. Resource behaviour lives in the
// modules next to this one; this file wires them and runs the request pipeline. It does not serve
// TLS, and covers only the API families the lab needs (see the routes below).
//
// start({dir, host, port, instrument, token, k8s: {url, caData, token}, keys, clusterReadyDelayMs,
//        rateLimit: {limit, windowMs}, checkResponses}) -> Promise<{url, port, close(),
//        setRateLimit({limit, windowMs}), rateLimitStatus()}>
'use strict';
const http = require('http');
const crypto = require('crypto');
const { ApiError, notFound, sendJson, sendText, sendNoContent, sendError, readJsonBody } = require('./respond');
const { Router } = require('./router');
const { Spec } = require('./spec');
const { SchemaValidator } = require('./validation');
const { RateLimiter } = require('./ratelimit');
const { State } = require('./state');
const { Projects } = require('./projects');
const { Clusters } = require('./kubernetes');
const account = require('./account');

const RESOURCE_MODULES = [
  account, require('./kubernetes'), require('./kubernetes-access'), require('./registry'),
  require('./projects'), require('./volumes'), require('./spaces-keys'),
];
const DEFAULT_CLUSTER_READY_DELAY_MS = 3000;
const ADMIN_RATELIMIT_PATH = '/lab/ratelimit';

function bearerMatches(req, token) {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization || '');
  if (!m) return false;
  const given = Buffer.from(m[1].trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

function setRateHeaders(res, status) {
  res.setHeader('ratelimit-limit', status.limit);
  res.setHeader('ratelimit-remaining', status.remaining);
  res.setHeader('ratelimit-reset', status.reset);
}

function loadKeyStore(dir) {
  if (!dir) return null;
  try {
    const { KeyStore } = require('../s3/keys');
    return new KeyStore(dir);
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
}

function rateLimitView(limiter) {
  const s = limiter.status();
  return { limit: s.limit, window_ms: s.windowMs, remaining: s.remaining, reset: s.reset };
}

async function handleRateLimitAdmin(req, res, limiter) {
  if (req.method === 'PUT' || req.method === 'POST') {
    const body = (await readJsonBody(req)) || {};
    const windowMs = body.windowMs !== undefined ? body.windowMs : body.window_ms;
    try {
      limiter.set({ limit: body.limit, windowMs });
    } catch (e) {
      throw new ApiError(422, e.message);
    }
  } else if (req.method !== 'GET') {
    throw new ApiError(405, `${req.method} is not allowed on ${ADMIN_RATELIMIT_PATH}`);
  }
  setRateHeaders(res, limiter.status());
  sendJson(res, 200, rateLimitView(limiter));
}

function sendResult(res, result) {
  if (result.status === 204) return sendNoContent(res);
  if (result.text !== undefined) return sendText(res, result.status, result.contentType, result.text);
  return sendJson(res, result.status, result.body);
}

function createHandler({ router, validator, limiter, token, checkResponses, log }) {
  async function dispatch(req, res, url, requestId) {
    if (!bearerMatches(req, token)) {
      setRateHeaders(res, limiter.status());
      throw new ApiError(401, 'Unable to authenticate you');
    }
    if (url.pathname === ADMIN_RATELIMIT_PATH) return handleRateLimitAdmin(req, res, limiter);
    const taken = limiter.take();
    setRateHeaders(res, taken);
    if (!taken.allowed) {
      res.setHeader('retry-after', taken.retryAfter);
      throw new ApiError(429, 'API Rate limit exceeded.');
    }
    const match = router.match(req.method, url.pathname);
    if (!match) throw notFound();
    if (match.methodNotAllowed) throw new ApiError(405, `${req.method} is not allowed on ${url.pathname}`);
    const { route, params } = match;
    const body = await readJsonBody(req);
    const problems = validator.checkRequest(route.method, route.path, body);
    if (problems) throw new ApiError(422, problems.join('; '));
    const ctx = {
      params, body: body === undefined ? {} : body, query: url.searchParams, pathname: url.pathname,
      baseUrl: `http://${req.headers.host || `${req.socket.localAddress}:${req.socket.localPort}`}`, requestId,
    };
    const result = await route.handler(ctx);
    if (checkResponses && result.body !== undefined) {
      const mismatch = validator.checkResponse(route.method, route.path, result.status, result.body);
      if (mismatch) throw new Error(`response to ${route.method} ${route.path} does not match DO's description: ${mismatch.join('; ')}`);
    }
    sendResult(res, result);
  }

  return async function handle(req, res) {
    const requestId = crypto.randomUUID();
    res.setHeader('x-request-id', requestId);
    try {
      const url = new URL(req.url, `http://${req.headers.host || '127.0.0.1'}`);
      await dispatch(req, res, url, requestId);
    } catch (err) {
      let apiError = err;
      if (!(err instanceof ApiError)) {
        log(`do-api: ${req.method} ${req.url.split('?')[0]} failed: ${err.stack || err}`);
        apiError = new ApiError(500, checkResponses ? err.message : 'Server Error');
      }
      if (!res.headersSent) sendError(res, apiError, requestId);
      else res.destroy();
    }
  };
}

// The description is parsed and the request schemas compiled once per process: several servers
// (tests, restarts) share them.
let sharedValidator = null;
function validatorFor(routes) {
  if (!sharedValidator) sharedValidator = new SchemaValidator(new Spec());
  for (const route of routes) sharedValidator.compileRequest(route.method, route.path);
  return sharedValidator;
}

function buildRouter(deps) {
  const router = new Router();
  for (const mod of RESOURCE_MODULES) router.addAll(mod.routes(deps));
  return router;
}

function listen(server, host, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
  });
}

async function start(options = {}) {
  const {
    dir, host = '127.0.0.1', port = 0, instrument, token, k8s, clusterReadyDelayMs = DEFAULT_CLUSTER_READY_DELAY_MS,
    rateLimit, checkResponses = false, log = (line) => process.stderr.write(`${line}\n`),
  } = options;
  if (!token) throw new Error('do/server: a token is required');
  const state = new State(dir);
  account.ensureAccount(state);
  const projects = new Projects(state);
  const clusters = new Clusters({ state, projects, k8s, clusterReadyDelayMs });
  const keys = options.keys || loadKeyStore(dir);
  const router = buildRouter({ state, projects, clusters, k8s, keys, token });
  const validator = validatorFor(router.routes);
  const limiter = new RateLimiter(rateLimit);
  const handle = createHandler({ router, validator, limiter, token, checkResponses, log });
  const server = http.createServer(instrument ? instrument.wrap(handle) : handle);
  const boundPort = await listen(server, host, port);
  return {
    url: `http://${host}:${boundPort}`,
    port: boundPort,
    setRateLimit: (limits) => limiter.set(limits),
    rateLimitStatus: () => rateLimitView(limiter),
    close: () => new Promise((resolve) => {
      state.flush();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

module.exports = { start, ADMIN_RATELIMIT_PATH };
