'use strict';
// The tenant app: a public listener (PUBLIC_PORT: /public, /health, /db-health) and an internal one
// (INTERNAL_PORT: /internal, /health), both on POD_IP, answering JSON from the tenant's PostgreSQL.
// Configured from the environment only (README.md); a bad variable stops it before it listens, with exit code 2.
// SIGTERM or SIGINT: stop accepting, let requests in flight finish (10 s at most), close the pool, exit 0.

const http = require('http');
const { loadConfig, ConfigError } = require('./lib/config');
const { createLogger } = require('./lib/log');

const DRAIN_MS = 10000;
const SWEEP_MS = 100;

// node-postgres falls back to PG* variables for what it is not given: the app's only configuration is its own.
function forgetLibpqEnvironment(env) {
  for (const name of Object.keys(env)) {
    if (name.startsWith('PG')) delete env[name];
  }
}

function listen(app, port, address) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

// Stops both servers: no new connections, in-flight requests finish (until DRAIN_MS), then the pool closes
// (until DRAIN_MS as well: a handler cut off at the drain time may still hold a connection).
async function stop(signal, servers, db, log) {
  log.info('shutting down', { signal });
  const deadline = Date.now() + DRAIN_MS;
  const closed = servers.map((server) => new Promise((resolve) => server.close(resolve)));
  const closeIdle = () => servers.forEach((server) => server.closeIdleConnections());
  closeIdle();
  const sweep = setInterval(closeIdle, SWEEP_MS);
  const drainLimit = setTimeout(() => {
    log.error('requests still in flight after the drain time; closing their connections', { drain_ms: DRAIN_MS });
    servers.forEach((server) => server.closeAllConnections());
  }, DRAIN_MS);
  await Promise.all(closed);
  clearInterval(sweep);
  clearTimeout(drainLimit);
  const poolClosed = await Promise.race([db.close().then(() => true), delay(Math.max(0, deadline - Date.now()))]);
  if (!poolClosed) log.error('database connections still busy after the drain time; exiting without them');
  log.info('stopped', { signal });
}

async function main() {
  const env = process.env;
  const log = createLogger({ secrets: [env.DB_PASSWORD] });
  process.on('uncaughtException', (err) => {
    log.error('crashed', { error: err.message, stack: err.stack });
    process.exit(1);
  });
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error(`configuration: ${err.message}`, { variable: err.variable });
    process.exit(2);
  }
  forgetLibpqEnvironment(env);
  // Loaded only now: Express and pg take most of the start-up time, which a bad variable need not wait for.
  const { Database } = require('./lib/database');
  const { publicApp, internalApp } = require('./lib/routes');

  let stopping = false;
  const db = new Database(config.db, log);
  const ctx = { tenant: config.tenant, db, log, stopping: () => stopping };
  let servers;
  try {
    servers = [
      await listen(publicApp(ctx), config.publicPort, config.address),
      await listen(internalApp(ctx), config.internalPort, config.address),
    ];
  } catch (err) {
    log.error('cannot listen', { error: err.message });
    process.exit(1);
  }
  const shutdown = (signal) => {
    if (stopping) {
      log.error('second signal while stopping: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    stop(signal, servers, db, log)
      .catch((err) => log.error('closing the database pool failed', { error: err.message }))
      .then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  const bound = (server) => `${config.address}:${server.address().port}`;
  log.info('listening', { tenant: config.tenant, public: bound(servers[0]), internal: bound(servers[1]) });
}

main();
