'use strict';
// The app's PostgreSQL: a node-postgres pool, and `query`, which never waits longer than the configured timeout
// (for a connection and the answer together). It does not connect at start: the database may be down then, and
// may come and go; a failed query rejects, the connection it used is thrown away, and the next query opens a new
// one. DB_SSLMODE follows libpq: `disable` never uses TLS, `require` always does (without verifying the server's
// certificate, as libpq's `require`), `prefer` tries TLS first and stays without it once the server says it
// has none.

const pg = require('pg');

const APPLICATION_NAME = 'tenant-app';
const POOL_SIZE = 10;
const IDLE_MS = 10000;
const NO_SSL = /does not support SSL/;

class TimeoutError extends Error {
  constructor(ms) {
    super(`the database did not answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

const TLS_WITHOUT_VERIFY = { rejectUnauthorized: false };

// A pg.Client whose TLS setting is read from `state` when each connection is made (so `prefer` can change it).
// The pool keeps the password out of its options' enumerable properties (so it is never printed): copied the same way.
function clientClass(state) {
  return class TenantClient extends pg.Client {
    constructor(options) {
      const config = { ...options, ssl: state.ssl };
      Object.defineProperty(config, 'password', { value: options.password, enumerable: false });
      super(config);
    }
  };
}

// Settles like `promise`, or rejects with a TimeoutError at `deadline` (ms since the epoch); `late` gets the
// value of a promise that resolves after the deadline, so nothing it holds leaks.
const PG_CONNECT_TIMEOUT = /connection timeout|timeout exceeded when trying to connect/i;

function beforeDeadline(promise, deadline, timeoutMs, late) {
  let timer;
  let expired = false;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new TimeoutError(timeoutMs));
    }, Math.max(0, deadline - Date.now()));
  });
  promise.then((value) => expired && late(value), () => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Database {
  // `db`: the `db` part of the configuration (lib/config.js); `log`: a logger (lib/log.js).
  constructor(db, log) {
    this.timeoutMs = db.timeoutMs;
    this.sslMode = db.sslMode;
    this.state = { ssl: db.sslMode === 'disable' ? false : TLS_WITHOUT_VERIFY };
    this.pool = new pg.Pool({
      Client: clientClass(this.state),
      host: db.host,
      port: db.port,
      database: db.name,
      user: db.user,
      password: db.password,
      application_name: APPLICATION_NAME,
      max: POOL_SIZE,
      idleTimeoutMillis: IDLE_MS,
      connectionTimeoutMillis: db.timeoutMs,
      statement_timeout: db.timeoutMs,
      keepAlive: true,
    });
    // An idle connection that breaks (the server stopped, say) is dropped by the pool; it must not crash the app.
    this.pool.on('error', (err) => log.error('idle database connection lost', { error: err.message }));
  }

  async connect(deadline) {
    const connecting = this.pool.connect();
    try {
      return await beforeDeadline(connecting, deadline, this.timeoutMs, (client) => client.release());
    } catch (err) {
      if (this.sslMode === 'prefer' && this.state.ssl && NO_SSL.test(err.message) && Date.now() < deadline) {
        this.state.ssl = false;
        return this.connect(deadline);
      }
      // node-postgres's own connect timeout (the same length) may fire first: it is the same condition.
      if (PG_CONNECT_TIMEOUT.test(err.message)) throw new TimeoutError(this.timeoutMs);
      throw err;
    }
  }

  // Runs one statement; resolves its rows, or rejects within the timeout.
  async query(text, values) {
    const deadline = Date.now() + this.timeoutMs;
    const client = await this.connect(deadline);
    try {
      const result = await beforeDeadline(client.query(text, values), deadline, this.timeoutMs, () => {});
      client.release();
      return result.rows;
    } catch (err) {
      // The connection may still be busy with the statement, or broken: never hand it out again.
      client.release(err);
      throw err;
    }
  }

  // Closes the pool: idle connections at once, the others as they are released.
  close() {
    return this.pool.end();
  }
}

module.exports = { Database, TimeoutError };
