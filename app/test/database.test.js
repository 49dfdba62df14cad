'use strict';
// The app while its database comes and goes, against a real PostgreSQL stopped and started with pg_ctl, or
// frozen (SIGSTOP: connections stay open, nothing answers): /health keeps answering, the database routes answer
// 503 within DB_TIMEOUT_MS, and the app recovers by itself when the server is back. Also DB_SSLMODE against a
// server without TLS and then with it (which connections used TLS, as the server's pg_stat_ssl says), and a wrong
// password.

const { describe, it, beforeEach } = require('node:test');
const assert = require('node:assert');
const { usePostgres, startAppOn, request, waitForStatus } = require('./helpers');

const TIMEOUT = { timeout: 40000 };
let pg;

function assertPasswordAbsent(app, password) {
  assert.ok(!(app.stdout() + app.stderr()).includes(password), 'the password appears in the output');
}

async function assertHealthy(app) {
  assert.deepStrictEqual((await request(app.publicPort, '/health')).body, { status: 'ok' });
  assert.deepStrictEqual((await request(app.internalPort, '/health')).body, { status: 'ok' });
}

async function assertUnavailable(app, path) {
  const res = await request(app.publicPort, path);
  assert.strictEqual(res.status, 503, `${path}: ${JSON.stringify(res.body)}`);
  assert.strictEqual(res.body.database, 'unavailable');
  assert.ok(res.body.error, 'the 503 says why');
  return res;
}

describe('the app while its database comes and goes', () => {
  const server = usePostgres();
  beforeEach(() => { pg = server.pg; });

  it('starts with the database down, answers 503, then 200 once it is up, without a restart', TIMEOUT, async () => {
    pg.stop();
    const app = await startAppOn(pg);
    try {
      await assertHealthy(app);
      await assertUnavailable(app, '/db-health');
      await assertUnavailable(app, '/public');
      pg.start();
      const res = await waitForStatus(app.publicPort, '/db-health', 200);
      assert.deepStrictEqual([res.status, res.body], [200, { database: 'ok' }]);
      assert.strictEqual((await request(app.publicPort, '/public')).status, 200);

      // Down again while the pool holds open connections, then back.
      pg.stop();
      await assertUnavailable(app, '/db-health');
      await assertUnavailable(app, '/public');
      await assertHealthy(app);
      pg.start();
      assert.strictEqual((await waitForStatus(app.publicPort, '/public', 200)).status, 200);
      assert.strictEqual(app.child.exitCode, null);
    } finally {
      await app.stop();
    }
    assert.match(app.stderr(), /"msg":"database query failed"/);
    assertPasswordAbsent(app, pg.password);
  });

  it('a database that does not answer: 503 after DB_TIMEOUT_MS, then 200 when it answers again', TIMEOUT, async () => {
    const app = await startAppOn(pg, { DB_TIMEOUT_MS: '700' });
    try {
      assert.strictEqual((await request(app.publicPort, '/db-health')).status, 200);
      pg.freeze();
      // The first waits on a connection the pool already has, the second on a new one.
      for (const path of ['/db-health', '/public']) {
        const res = await assertUnavailable(app, path);
        assert.match(res.body.error, /did not answer within 700 ms/);
        assert.ok(res.ms >= 650 && res.ms < 3000, `${path} answered after ${res.ms} ms`);
      }
      await assertHealthy(app);
      pg.thaw();
      assert.strictEqual((await waitForStatus(app.publicPort, '/db-health', 200)).status, 200);
    } finally {
      pg.thaw();
      await app.stop();
    }
    assertPasswordAbsent(app, pg.password);
  });

  // `prefer`, the default, connects to it in every other test.
  it('DB_SSLMODE: require fails on a server without TLS, disable connects', TIMEOUT, async () => {
    for (const [mode, status] of [['require', 503], ['disable', 200]]) {
      const app = await startAppOn(pg, { DB_SSLMODE: mode });
      let res;
      try {
        res = await request(app.publicPort, '/db-health');
      } finally {
        await app.stop();
      }
      assert.strictEqual(res.status, status, `${mode}: ${JSON.stringify(res.body)}`);
      if (status === 503) assert.match(res.body.error, /SSL/);
    }
  });

  it('a wrong password: 503 saying authentication failed, and the password is in no line', TIMEOUT, async () => {
    const wrong = 'not-the-password-0d41';
    const app = await startAppOn(pg, { DB_PASSWORD: wrong });
    let res;
    try {
      res = await assertUnavailable(app, '/db-health');
      await assertHealthy(app);
    } finally {
      await app.stop();
    }
    assert.match(res.body.error, /password authentication failed for user "app"/);
    assertPasswordAbsent(app, wrong);
  });

  // The connections of an app that stopped are gone from the server's view.
  async function noAppConnections() {
    for (let i = 0; i < 50; i += 1) {
      if (pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenant-app'") === '0') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail('the connections of a stopped app are still open');
  }

  // Last: the server keeps TLS on afterwards.
  it('DB_SSLMODE with a server that offers TLS: prefer and require use it, disable does not', TIMEOUT, async () => {
    pg.enableTls();
    for (const [mode, tls] of [['prefer', 'true'], ['require', 'true'], ['disable', 'false']]) {
      await noAppConnections();
      const app = await startAppOn(pg, { DB_SSLMODE: mode });
      try {
        assert.strictEqual((await request(app.publicPort, '/db-health')).status, 200, mode);
        const used = pg.sql("SELECT string_agg(DISTINCT s.ssl::text, ',') FROM pg_stat_ssl s " +
          "JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'tenant-app'");
        assert.strictEqual(used, tls, `${mode}: the app's connections have ssl = ${used}`);
      } finally {
        await app.stop();
      }
    }
  });
});
