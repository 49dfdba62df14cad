'use strict';
// A real PostgreSQL for the app's tests and benchmark: tests/support/pg-server (the one the pg binding's suites
// use) in a temporary directory, which a test can stop, start again, freeze and thaw. Not a general PostgreSQL
// manager: only what the tests need.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const PG_SERVER = path.resolve(__dirname, '..', '..', 'tests', 'support', 'pg-server');
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
// Returns {host, port, user, database, password, stop(), start(), freeze(), thaw(), enableTls(), sql(text), down()}.
function startPostgres() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-app-pg-'));
  execFileSync(PG_SERVER, ['up', dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120000 });
  const env = readEnvFile(path.join(dir, 'env'));
  const password = fs.readFileSync(env.PGPASSFILE, 'utf8').split('\n')[0].split(':')[4];
  const dataDir = path.join(fs.readFileSync(path.join(dir, 'cluster'), 'utf8').trim(), 'data');
  const pgCtl = path.join(env.ALARIS_PG_BINDIR, 'pg_ctl');
  const psql = path.join(env.ALARIS_PG_BINDIR, 'psql');
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
      frozen.forEach((pid) => {
        try {
          process.kill(pid, 'SIGCONT');
        } catch (err) {
          if (err.code !== 'ESRCH') throw err; // a backend whose client went away while it was stopped has exited
        }
      });
      frozen = [];
    },
    // One statement as the superuser over the unix socket; returns its output, unaligned, without headers.
    sql: (text) => asServerUser(psql, ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', env.ALARIS_PG_SOCKET_DIR,
      '-p', String(server.port), '-U', env.ALARIS_PG_SUPERUSER, '-d', 'postgres', '-c', text]).trim(),
    // TLS on, with a self-signed certificate made now; the running server takes it on reload.
    enableTls: () => {
      asServerUser('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(dataDir, 'server.key'),
        '-out', path.join(dataDir, 'server.crt')]);
      asServerUser('chmod', ['600', path.join(dataDir, 'server.key')]);
      server.sql('ALTER SYSTEM SET ssl = on');
      server.sql('SELECT pg_reload_conf()');
    },
    down: () => {
      server.thaw();
      execFileSync(PG_SERVER, ['down', dir], { stdio: 'ignore', timeout: 60000 });
    },
  };
  return server;
}

module.exports = { startPostgres };
