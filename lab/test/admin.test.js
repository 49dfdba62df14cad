'use strict';
// Tests of the lab's instrumentation (lib/admin.js) through its admin endpoint, on small servers started in
// this process: bearer auth, latency (global and per target), fault rules (count, drop, probability, removal),
// the request log, and routes other parts register on the endpoint.

const test = require('node:test');
const assert = require('node:assert');
const http = require('http');
const { Instrument, startAdminServer, AdminError } = require('../lib/admin');

const TOKEN = 'admin-test-token';

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((done) => { server.close(done); server.closeAllConnections(); }),
  })));
}

async function call(adminUrl, method, path, body, token = TOKEN) {
  const res = await fetch(adminUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function timed(fn) {
  const t0 = performance.now();
  const out = await fn();
  return { out, ms: performance.now() - t0 };
}

test('instrumentation through the admin endpoint', async (t) => {
  const adminServer = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN });
  const k8s = await listen(new Instrument('k8s').wrap((req, res) => res.end(`k8s ${req.method} ${req.url}`)));
  const s3 = await listen(new Instrument('s3').wrap((req, res) => res.end('s3')));
  const A = adminServer.url;
  t.after(async () => { await k8s.close(); await s3.close(); await adminServer.close(); });

  await t.test('needs the bearer token', async () => {
    assert.strictEqual((await call(A, 'GET', '/requests', undefined, 'wrong')).status, 401);
    assert.strictEqual((await fetch(`${A}/latency`)).status, 401);
    assert.strictEqual((await call(A, 'GET', '/latency')).status, 200);
  });

  await t.test('a wrapped handler answers normally', async () => {
    const res = await fetch(`${k8s.url}/api/v1?x=1`);
    assert.strictEqual(res.status, 200);
    assert.strictEqual(await res.text(), 'k8s GET /api/v1?x=1');
  });

  await t.test('latency applies globally and per target', async () => {
    assert.strictEqual((await call(A, 'PUT', '/latency', { ms: 150 })).status, 200);
    const slow = await timed(() => fetch(`${s3.url}/`).then((r) => r.text()));
    assert.ok(slow.ms >= 145, `global latency: ${slow.ms} ms`);

    await call(A, 'PUT', '/latency', { ms: 0 });
    // A latency far above what a loopback request costs, even on a loaded machine, tells delayed from not.
    await call(A, 'PUT', '/latency', { ms: 600, target: 'k8s' });
    assert.deepStrictEqual((await call(A, 'GET', '/latency')).body, { ms: 0, targets: { k8s: 600 } });
    const k = await timed(() => fetch(`${k8s.url}/`).then((r) => r.text()));
    const s = await timed(() => fetch(`${s3.url}/`).then((r) => r.text()));
    assert.ok(k.ms >= 595, `k8s latency: ${k.ms} ms`);
    assert.ok(s.ms < 600, `s3 should not be delayed: ${s.ms} ms`);

    await call(A, 'PUT', '/latency', { ms: null, target: 'k8s' });
    const fast = await timed(() => fetch(`${k8s.url}/`).then((r) => r.text()));
    assert.ok(fast.ms < 600, `latency removed: ${fast.ms} ms`);
    assert.strictEqual((await call(A, 'PUT', '/latency', { ms: -1 })).status, 400);
  });

  await t.test('a fault rule with a count answers its status for the next N matches only', async () => {
    const rule = await call(A, 'POST', '/faults', { target: 'k8s', method: 'get', path: '^/api/v1/namespaces$', status: 503, count: 2 });
    assert.strictEqual(rule.status, 201);
    assert.ok(rule.body.id);
    assert.strictEqual((await fetch(`${k8s.url}/api/v1/pods`)).status, 200, 'other paths are not affected');
    assert.strictEqual((await fetch(`${k8s.url}/api/v1/namespaces`, { method: 'POST' })).status, 200, 'other methods are not affected');
    const first = await fetch(`${k8s.url}/api/v1/namespaces?limit=5`);
    assert.strictEqual(first.status, 503);
    const status = await first.json();
    assert.strictEqual(status.kind, 'Status');
    assert.strictEqual(status.code, 503);
    assert.strictEqual((await fetch(`${k8s.url}/api/v1/namespaces`)).status, 503);
    assert.strictEqual((await fetch(`${k8s.url}/api/v1/namespaces`)).status, 200, 'the rule is used up');
    assert.deepStrictEqual((await call(A, 'GET', '/faults')).body.faults, []);
  });

  await t.test('a fault rule can carry its own body and be removed', async () => {
    const rule = await call(A, 'POST', '/faults', { target: 's3', status: 500, body: { custom: true } });
    const res = await fetch(`${s3.url}/bucket`);
    assert.strictEqual(res.status, 500);
    assert.deepStrictEqual(await res.json(), { custom: true });
    assert.strictEqual((await fetch(`${k8s.url}/`)).status, 200, 'another target is not affected');
    assert.strictEqual((await call(A, 'DELETE', `/faults/${rule.body.id}`)).status, 204);
    assert.strictEqual((await fetch(`${s3.url}/bucket`)).status, 200);
  });

  await t.test('a drop rule closes the connection without an answer', async () => {
    await call(A, 'POST', '/faults', { target: 'k8s', path: '^/drop', drop: true, count: 1 });
    await assert.rejects(fetch(`${k8s.url}/drop/me`));
    assert.strictEqual((await fetch(`${k8s.url}/drop/me`)).status, 200);
  });

  await t.test('probability 1 always fires, probability 0 never', async () => {
    await call(A, 'POST', '/faults', { target: 'k8s', path: '^/never', status: 500, probability: 0 });
    await call(A, 'POST', '/faults', { target: 'k8s', path: '^/always', status: 429, probability: 1 });
    for (let i = 0; i < 5; i++) {
      assert.strictEqual((await fetch(`${k8s.url}/never`)).status, 200);
      assert.strictEqual((await fetch(`${k8s.url}/always`)).status, 429);
    }
    assert.strictEqual((await call(A, 'GET', '/faults')).body.faults.length, 2);
    assert.strictEqual((await call(A, 'DELETE', '/faults')).status, 204);
    assert.deepStrictEqual((await call(A, 'GET', '/faults')).body.faults, []);
    assert.strictEqual((await call(A, 'POST', '/faults', { path: '(' })).status, 400, 'a bad pattern is refused');
  });

  await t.test('the request log counts exactly the requests made, and clears', async () => {
    assert.strictEqual((await call(A, 'DELETE', '/requests')).status, 204);
    assert.strictEqual((await call(A, 'GET', '/requests')).body.count, 0);
    await call(A, 'POST', '/faults', { target: 'k8s', path: '^/fail$', status: 409, count: 1 });
    await fetch(`${k8s.url}/one`);
    await fetch(`${k8s.url}/two?watch=1`, { method: 'DELETE' });
    await fetch(`${k8s.url}/fail`);
    await fetch(`${s3.url}/bucket/key`, { method: 'PUT', body: 'x' });
    const k = (await call(A, 'GET', '/requests?target=k8s')).body;
    assert.strictEqual(k.count, 3);
    assert.deepStrictEqual(k.requests.map((r) => [r.method, r.path, r.status]),
      [['GET', '/one', 200], ['DELETE', '/two', 200], ['GET', '/fail', 409]]);
    assert.strictEqual(k.requests[1].url, '/two?watch=1');
    for (const r of k.requests) {
      assert.strictEqual(r.target, 'k8s');
      assert.ok(r.duration_ms >= 0);
      assert.ok(!Number.isNaN(Date.parse(r.time)));
    }
    const all = (await call(A, 'GET', '/requests')).body;
    assert.strictEqual(all.count, 4);
    assert.deepStrictEqual(all.requests[3], { ...all.requests[3], target: 's3', method: 'PUT', path: '/bucket/key', status: 200 });
    assert.strictEqual((await call(A, 'GET', '/requests?target=s3&method=get')).body.count, 0);
    await call(A, 'DELETE', '/requests');
    assert.strictEqual((await call(A, 'GET', '/requests')).body.count, 0);
  });
});

test('routes registered on the admin endpoint', async (t) => {
  const adminServer = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN });
  const A = adminServer.url;
  t.after(() => adminServer.close());
  const notes = [];
  adminServer.route('POST /notes', ({ body, parts }) => {
    if (body.text === 'missing') throw new AdminError(404, 'not_found', 'no such note');
    if (body.text === 'boom') throw new Error('handler bug');
    notes.push({ text: body.text, path: parts.slice(1) });
    return { status: 201, body: { count: notes.length } };
  });
  adminServer.route('DELETE /notes', () => { notes.length = 0; });

  await t.test('a registered route gets the parsed body and answers its status and JSON body', async () => {
    assert.deepStrictEqual(await call(A, 'POST', '/notes', { text: 'one' }), { status: 201, body: { count: 1 } });
    assert.deepStrictEqual(await call(A, 'POST', '/notes/a/b', { text: 'two' }), { status: 201, body: { count: 2 } });
    assert.deepStrictEqual(notes, [{ text: 'one', path: [] }, { text: 'two', path: ['a', 'b'] }]);
    assert.deepStrictEqual(await call(A, 'DELETE', '/notes'), { status: 204, body: null }, 'no body: 204');
    assert.deepStrictEqual(notes, []);
  });

  await t.test('it needs the bearer token like the built-in routes', async () => {
    assert.strictEqual((await call(A, 'POST', '/notes', { text: 'x' }, 'wrong')).status, 401);
    assert.deepStrictEqual(notes, [], 'the handler did not run');
  });

  await t.test('errors: AdminError status, bad JSON 400, a failing handler 500, other methods 404', async () => {
    assert.deepStrictEqual(await call(A, 'POST', '/notes', { text: 'missing' }),
      { status: 404, body: { error: 'not_found', message: 'no such note' } });
    const bad = await fetch(`${A}/notes`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{nope' });
    assert.strictEqual(bad.status, 400);
    assert.strictEqual((await bad.json()).error, 'bad_request');
    assert.strictEqual((await call(A, 'POST', '/notes', [1, 2])).status, 400, 'the body must be an object');
    assert.strictEqual((await call(A, 'POST', '/notes', { text: 'boom' })).status, 500);
    assert.strictEqual((await call(A, 'GET', '/notes')).status, 404);
  });

  await t.test('built-in routes cannot be replaced, a route is registered once, specs are checked', () => {
    assert.throws(() => adminServer.route('GET /latency', () => {}), /already served/);
    assert.throws(() => adminServer.route('POST /notes', () => {}), /already served/);
    assert.throws(() => adminServer.route('POST notes', () => {}), /METHOD \/name/);
    assert.throws(() => adminServer.route('GET /x'), /handler/);
  });
});
