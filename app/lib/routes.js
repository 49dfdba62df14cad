'use strict';
// The two Express apps: `publicApp` (GET /public, /health, /db-health) and `internalApp` (GET /internal,
// /health). Each answers only its own paths: anything else is a JSON 404, another method on a known path a JSON
// 405 (with Allow). Every request is logged once when it ends; a database failure is a 503 and an error line.

const express = require('express');

const ALLOWED = 'GET, HEAD';

// Logs each request once, when its response has been sent or its connection closed.
function requestLog(listener, log) {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const fields = {
        listener,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        duration_ms: Math.round(Number(process.hrtime.bigint() - start) / 1e3) / 1e3,
      };
      if (!res.writableFinished) fields.aborted = true;
      log.request(fields);
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}

function methodNotAllowed(req, res) {
  res.set('allow', ALLOWED).status(405).json({ error: 'method not allowed', method: req.method, allow: ALLOWED });
}

function notFound(req, res) {
  res.status(404).json({ error: 'not found', path: req.path });
}

// Express's own handler would answer in HTML and print the stack: a JSON 500 and one error line instead.
function internalError(log) {
  // eslint-disable-next-line no-unused-vars
  return (err, req, res, next) => {
    log.error('request failed', { path: req.path, error: err.message });
    if (res.headersSent) return res.destroy();
    const status = err.status >= 400 && err.status < 500 ? err.status : 500;
    return res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
  };
}

// An Express app answering `routes` ({path: async handler(req, res)}) with GET (and HEAD), and JSON errors.
function jsonApp(listener, routes, { log, stopping }) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(requestLog(listener, log));
  app.use((req, res, next) => {
    // While the app stops, a kept-alive connection is closed after its response instead of waiting for the next.
    if (stopping()) res.set('connection', 'close');
    next();
  });
  for (const [path, handler] of Object.entries(routes)) {
    app.route(path).get((req, res, next) => Promise.resolve(handler(req, res)).catch(next)).all(methodNotAllowed);
  }
  app.use(notFound);
  app.use(internalError(log));
  return app;
}

const health = (req, res) => res.json({ status: 'ok' });

// A 503 for a database route whose query failed, and the error line saying why.
function unavailable(req, res, err, log) {
  const error = log.redact(err.message);
  log.error('database query failed', { path: req.path, error });
  res.status(503).json({ database: 'unavailable', error });
}

// `ctx`: {tenant, db (lib/database.js), log (lib/log.js), stopping() (true once shutdown began)}.
function publicApp(ctx) {
  const { tenant, db, log } = ctx;
  return jsonApp('public', {
    '/public': async (req, res) => {
      let row;
      try {
        [row] = await db.query('SELECT current_database() AS name, now() AS time');
      } catch (err) {
        return unavailable(req, res, err, log);
      }
      return res.json({
        tenant,
        message: `Hello from ${tenant}`,
        database: { name: row.name, time: row.time.toISOString() },
      });
    },
    '/health': health,
    '/db-health': async (req, res) => {
      try {
        await db.query('SELECT 1');
      } catch (err) {
        return unavailable(req, res, err, log);
      }
      return res.json({ database: 'ok' });
    },
  }, ctx);
}

function internalApp(ctx) {
  const { tenant } = ctx;
  return jsonApp('internal', {
    '/internal': (req, res) => res.json({ tenant, internal: true }),
    '/health': health,
  }, ctx);
}

module.exports = { publicApp, internalApp };
