'use strict';
// Test helpers for the app's suites: a real PostgreSQL (tests/support/pg-server, the one the pg binding's suites
// use) that a test can stop, start again, freeze and thaw; the app itself started as a child process
// (`node server.js`) with an environment of the test's choosing; and plain HTTP requests to it.
// Not a client library: only what the tests need.

const fs = require('fs');
const os = require('os');
const path = require('path');
const net = require('net');
const http = require('http');
const { spawn, execFileSync } = require('child_process');
const { before, after } = require('node:test');

const APP_DIR = path.resolve(__dirname, '..');
const PG_SERVER = path.resolve(APP_DIR, '..', 'tests', 'support', 'pg-server');
const IS_ROOT = process.getuid() === 0;

// Runs a PostgreSQL command as the server's OS user (PostgreSQL refuses to run as root), as pg-server does.
function asServerUser(command, args) {
  const [file, argv] = IS_ROOT ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return execFileSync(file, argv, { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }).toString();
}

function readEnvFile(file) {
  const env = {};
  for (const m of fs.readFileSync(file, 'utf8').matchAll(/([A-Z_]+)=(\S+)/g)) env[m[1]] = m[2];
  return env;
}

// The pids of the server's postmaster and of all its children (backends, checkpointer, ...).
function serverPids(dataDir) {
  const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = [postmaster];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) pids.push(Number(entry));
  }
  return pids;
}

// Starts a PostgreSQL 15 server (role and database `app`, password over TCP) in a new temporary directory.
// Resolves {host, port, user, database, password, stop(), start(), freeze(), thaw(), down()}.
function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-app-pg-'));
  execFileSync(PG_SERVER, ['up', dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120000 });
  const env = readEnvFile(path.join(dir, 'env'));
  const password = fs.readFileSync(env.PGPASSFILE, 'utf8').split('\n')[0].split(':')[4];
  const dataDir = path.join(fs.readFileSync(path.join(dir, 'cluster'), 'utf8').trim(), 'data');
  const pgCtl = path.join(env.ALARIS_PG_BINDIR, 'pg_ctl');
  let frozen = [];
  const server = {
    host: '127.0.0.1',
    port: Number(env.PGPORT),
    user: 'app',
    database: 'app',
    password,
    // Fast shutdown: open connections are closed, as when the database's pod goes away.
    stop: () => asServerUser(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop']),
    start: () => asServerUser(pgCtl, ['-D', dataDir, '-l', path.join(dataDir, '..', 'server.log'),
      '-o', `-p ${server.port}`, '-w', '-t', '30', 'start']),
    // SIGSTOP to every server process: connections stay open, nothing answers (a hung database).
    freeze: () => {
      frozen = serverPids(dataDir);
      frozen.forEach((pid) => process.kill(pid, 'SIGSTOP'));
    },
    thaw: () => {
      frozen.forEach((pid) => process.kill(pid, 'SIGCONT'));
      frozen = [];
    },
    down: () => {
      server.thaw();
      execFileSync(PG_SERVER, ['down', dir], { stdio: 'ignore', timeout: 60000 });
    },
  };
  return server;
}

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

module.exports = { APP_DIR, usePostgres, startPostgres, appEnv, startApp, killApps, request, waitForStatus, freePort };
