'use strict';
// The app against a real PostgreSQL: every route on both listeners, the paths each listener does not have,
// unknown paths and methods, the request log, errors that would carry the password, a port already taken, and
// stopping on SIGTERM (a request in flight completes first) and SIGINT.

const { describe, it, before, after, beforeEach } = require('node:test');
const assert = require('node:assert');
const net = require('net');
const { usePostgres, appEnv, startApp, startAppOn, request } = require('./helpers');

const TIMEOUT = { timeout: 30000 };
let pg;

// Every line `app` wrote is JSON, and none holds the database password.
function assertCleanOutput(app) {
  app.lines();
  assert.ok(!(app.stdout() + app.stderr()).includes(pg.password), 'the password appears in the output');
}

function assertJson(res) {
  assert.match(res.headers['content-type'], /^application\/json/);
}

describe('the app against a real PostgreSQL', () => {
  const server = usePostgres();
  beforeEach(() => { pg = server.pg; });

  describe('one app on both listeners', () => {
    let app;
    // PGOPTIONS would break every connection (an unknown setting) if the app took libpq's variables.
    before(async () => {
      app = await startAppOn(server.pg, { TENANT_NAME: 'tenant-b', PGOPTIONS: '-c no_such_setting=1' });
    });
    after(async () => {
      assert.strictEqual(await app.stop(), 0);
      assertCleanOutput(app);
    });

    it('the public listener: /public from the database, /health, /db-health', TIMEOUT, async () => {
      const asked = Date.now();
      const pub = await request(app.publicPort, '/public');
      assert.strictEqual(pub.status, 200);
      assertJson(pub);
      assert.strictEqual(pub.body.tenant, 'tenant-b');
      assert.match(pub.body.message, /tenant-b/);
      assert.strictEqual(pub.body.database.name, 'app');
      const dbTime = Date.parse(pub.body.database.time);
      assert.ok(Math.abs(dbTime - asked) < 60000, `database time ${pub.body.database.time} is not now`);

      const health = await request(app.publicPort, '/health');
      assert.deepStrictEqual([health.status, health.body], [200, { status: 'ok' }]);
      assertJson(health);
      const dbHealth = await request(app.publicPort, '/db-health');
      assert.deepStrictEqual([dbHealth.status, dbHealth.body], [200, { database: 'ok' }]);
      assertJson(dbHealth);
    });

    it('the internal listener: /internal and /health', TIMEOUT, async () => {
      const internal = await request(app.internalPort, '/internal');
      assert.deepStrictEqual([internal.status, internal.body], [200, { tenant: 'tenant-b', internal: true }]);
      assertJson(internal);
      const health = await request(app.internalPort, '/health');
      assert.deepStrictEqual([health.status, health.body], [200, { status: 'ok' }]);
      assertJson(health);
    });

    it('each listener answers 404 for the other one\'s paths and unknown paths, 405 for other methods', TIMEOUT,
      async () => {
        for (const [port, path] of [[app.publicPort, '/internal'], [app.internalPort, '/public'],
          [app.internalPort, '/db-health'], [app.publicPort, '/nothing'], [app.internalPort, '/nothing']]) {
          const res = await request(port, path);
          assert.strictEqual(res.status, 404, `${path} on ${port}`);
          assertJson(res);
          assert.strictEqual(res.body.error, 'not found');
        }
        for (const [port, path, method] of [[app.publicPort, '/public', 'POST'],
          [app.publicPort, '/health', 'DELETE'], [app.internalPort, '/internal', 'PUT']]) {
          const res = await request(port, path, { method });
          assert.strictEqual(res.status, 405, `${method} ${path}`);
          assertJson(res);
          assert.strictEqual(res.headers.allow, 'GET, HEAD');
        }
        const head = await request(app.publicPort, '/health', { method: 'HEAD' });
        assert.strictEqual(head.status, 200);
      });
  });

  it('one JSON line per request on stdout, one per error on stderr', TIMEOUT, async () => {
    const app = await startAppOn(pg, { DB_NAME: 'no_such_database' });
    try {
      await request(app.publicPort, '/health');
      await request(app.internalPort, '/nothing?token=abc');
      const failed = await request(app.publicPort, '/db-health');
      assert.strictEqual(failed.status, 503);
      assert.deepStrictEqual(Object.keys(failed.body), ['database', 'error']);
      assert.strictEqual(failed.body.database, 'unavailable');
      assert.match(failed.body.error, /no_such_database/);
    } finally {
      await app.stop();
    }
    const requests = app.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    assert.deepStrictEqual(requests.map((r) => [r.method, r.path, r.status]),
      [['GET', '/health', 200], ['GET', '/nothing', 404], ['GET', '/db-health', 503]]);
    for (const r of requests) {
      assert.ok(!Number.isNaN(Date.parse(r.time)), r.time);
      assert.ok(r.duration_ms >= 0 && r.duration_ms < 30000, String(r.duration_ms));
    }
    const errors = app.stderr().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.strictEqual(errors.length, 1);
    assert.strictEqual(errors[0].level, 'error');
    assert.strictEqual(errors[0].path, '/db-health');
    assert.match(errors[0].error, /no_such_database/);
    assertCleanOutput(app);
  });

  it('the password never appears, even in an error that would quote it', TIMEOUT, async () => {
    // A misconfiguration that puts the password where the server repeats it: "database "..." does not exist".
    const app = await startAppOn(pg, { DB_NAME: `x${pg.password}` });
    let res;
    try {
      res = await request(app.publicPort, '/public');
    } finally {
      await app.stop();
    }
    assert.strictEqual(res.status, 503);
    assert.match(res.body.error, /database "x\[redacted\]" does not exist/);
    assert.ok(!JSON.stringify(res.body).includes(pg.password));
    assert.match(app.stderr(), /\[redacted\]/);
    assertCleanOutput(app);
  });

  it('a port already taken: one error line, exit 1', TIMEOUT, async () => {
    const env = await appEnv(pg);
    const taken = net.createServer();
    await new Promise((resolve) => taken.listen(Number(env.INTERNAL_PORT), '127.0.0.1', resolve));
    try {
      const app = await startApp(env);
      assert.strictEqual(await app.exited, 1);
      assert.match(app.stderr(), /cannot listen.*EADDRINUSE/);
      assert.strictEqual(app.stderr().trim().split('\n').length, 1);
      assertCleanOutput(app);
    } finally {
      taken.close();
    }
  });

  it('SIGTERM: a request in flight completes, new connections are refused, exit 0', TIMEOUT, async () => {
    const app = await startAppOn(pg, { DB_TIMEOUT_MS: '5000' });
    let exitCode;
    try {
      assert.strictEqual((await request(app.publicPort, '/public')).status, 200);
      pg.freeze();
      const inFlight = request(app.publicPort, '/public');
      await new Promise((resolve) => setTimeout(resolve, 300));
      app.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await assert.rejects(request(app.publicPort, '/health'), /ECONNREFUSED/);
      assert.strictEqual(app.child.exitCode, null, 'it exited with a request in flight');
      pg.thaw();
      const res = await inFlight;
      assert.strictEqual(res.status, 200);
      assert.strictEqual(res.body.tenant, 'tenant-a');
      exitCode = await app.exited;
    } finally {
      pg.thaw();
      await app.stop();
    }
    assert.strictEqual(exitCode, 0);
    const messages = app.lines().map((l) => l.msg);
    assert.deepStrictEqual(messages.slice(-3), ['shutting down', 'request', 'stopped']);
    assertCleanOutput(app);
  });

  it('SIGTERM with a request that outlasts the drain time: cut off after 10 s, exit 0', { timeout: 40000 }, async () => {
    const app = await startAppOn(pg, { DB_TIMEOUT_MS: '30000' });
    let exitCode;
    let elapsed;
    try {
      assert.strictEqual((await request(app.publicPort, '/db-health')).status, 200);
      pg.freeze();
      const inFlight = request(app.publicPort, '/db-health').then(() => 'answered', (err) => err.message);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalled = Date.now();
      app.child.kill('SIGTERM');
      exitCode = await app.exited;
      elapsed = Date.now() - signalled;
      assert.match(await inFlight, /socket hang up|ECONNRESET/);
    } finally {
      pg.thaw();
      await app.stop();
    }
    assert.strictEqual(exitCode, 0);
    assert.ok(elapsed >= 9500 && elapsed < 14000, `it exited ${elapsed} ms after SIGTERM`);
    assert.match(app.stderr(), /requests still in flight after the drain time/);
    assertCleanOutput(app);
  });

  it('SIGINT stops it the same way', TIMEOUT, async () => {
    const app = await startAppOn(pg);
    assert.strictEqual((await request(app.internalPort, '/health')).status, 200);
    assert.strictEqual(await app.stop('SIGINT'), 0);
    assert.match(app.stdout(), /"msg":"stopped","signal":"SIGINT"/);
    await assert.rejects(request(app.internalPort, '/health'), /ECONNREFUSED/);
  });

  it('a second signal while requests drain exits at once, with 1', TIMEOUT, async () => {
    const app = await startAppOn(pg, { DB_TIMEOUT_MS: '5000' });
    try {
      assert.strictEqual((await request(app.publicPort, '/db-health')).status, 200);
      pg.freeze();
      const inFlight = request(app.publicPort, '/db-health').catch((err) => err);
      await new Promise((resolve) => setTimeout(resolve, 300));
      app.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.strictEqual(app.child.exitCode, null, 'it did not wait for the request in flight');
      app.child.kill('SIGINT');
      assert.strictEqual(await app.exited, 1);
      await inFlight;
    } finally {
      pg.thaw();
      await app.stop();
    }
    assert.match(app.stderr(), /"msg":"second signal while stopping: exiting now","signal":"SIGINT"/);
    assertCleanOutput(app);
  });
});
