'use strict';
// Test helpers for the app's suites: a real PostgreSQL for a describe() (./postgres.js); the app itself started
// as a child process (`node server.js`) with an environment of the test's choosing; and plain HTTP requests to it.
// Not a client library: only what the tests need.

const path = require('path');
const net = require('net');
const http = require('http');
const { spawn } = require('child_process');
const { before, after } = require('node:test');
const { startPostgres } = require('./postgres');

const APP_DIR = path.resolve(__dirname, '..');

// A TCP port nothing listens on now.
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// The environment that runs the app against `pg` on loopback, on two free ports, with `extra` added (a value of
// undefined removes a variable).
async function appEnv(pg, extra = {}) {
  const env = {
    PATH: process.env.PATH,
    TENANT_NAME: 'tenant-a',
    POD_IP: '127.0.0.1',
    PUBLIC_PORT: String(await freePort()),
    INTERNAL_PORT: String(await freePort()),
    DB_HOST: pg.host,
    DB_PORT: String(pg.port),
    DB_NAME: pg.database,
    DB_USER: pg.user,
    DB_PASSWORD: pg.password,
    ...extra,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env;
}

// Runs `node server.js` with exactly `env`. Resolves once it says it listens (or exits), with
// {child, publicPort, internalPort, stdout(), stderr(), lines(), exited (a promise of the exit code), stop(signal)}.
const running = new Set();
// Kills whatever a failed test left running (the test process would otherwise wait for it).
function killApps() {
  running.forEach((child) => child.kill('SIGKILL'));
}
process.on('exit', killApps);

function startApp(env) {
  const child = spawn(process.execPath, [path.join(APP_DIR, 'server.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  let err = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ? `signal ${signal}` : code)));
  const app = {
    child,
    exited,
    publicPort: Number(env.PUBLIC_PORT),
    internalPort: Number(env.INTERNAL_PORT),
    stdout: () => out,
    stderr: () => err,
    // Every line the process wrote, on both streams, parsed as JSON (a line that is not JSON fails the test).
    lines: () => (out + err).split('\n').filter(Boolean).map((line) => JSON.parse(line)),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  return new Promise((resolve) => {
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      if (/"msg":"listening"/.test(out)) resolve(app);
    });
    exited.then(() => resolve(app));
  });
}

// The app against `pg` on two free ports (appEnv, with `extra`), started again on others when a process elsewhere
// took one of them between the probe and the app's listen.
async function startAppOn(pg, extra) {
  for (let attempt = 1; ; attempt += 1) {
    const app = await startApp(await appEnv(pg, extra));
    if (attempt === 3 || app.child.exitCode !== 1 || !/EADDRINUSE/.test(app.stderr())) return app;
  }
}

// GET (or `method`) http://127.0.0.1:port/path on a new connection. Resolves {status, headers, body (parsed
// JSON when the response says it is JSON, else text), ms}.
function request(port, urlPath, { method = 'GET', timeout = 30000 } = {}) {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent: false, timeout }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const json = /^application\/json/.test(res.headers['content-type'] || '');
        resolve({ status: res.statusCode, headers: res.headers, body: json && text ? JSON.parse(text) : text, ms: Date.now() - start });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${urlPath} within ${timeout} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// Asks `urlPath` every 100 ms until it answers `status`; resolves that response, or the last one after `ms`.
async function waitForStatus(port, urlPath, status, ms = 15000) {
  const until = Date.now() + ms;
  for (;;) {
    const res = await request(port, urlPath);
    if (res.status === status || Date.now() > until) return res;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Inside a describe(): a PostgreSQL started before its tests and removed after them, with any app a failed test
// left running killed. Returns {pg}, filled in once the server is up.
function usePostgres() {
  const shared = { pg: null };
  before(() => { shared.pg = startPostgres(); });
  after(() => {
    killApps();
    if (shared.pg) shared.pg.down();
  });
  return shared;
}

module.exports = { APP_DIR, usePostgres, appEnv, startApp, startAppOn, killApps, request, waitForStatus, freePort };
