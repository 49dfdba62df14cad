'use strict';
// The DO API's rate limit: headers counting down, 429 with retry-after, success after waiting,
// and changing the limit at run time (the admin hook and /lab/ratelimit).
const test = require('node:test');
const assert = require('node:assert/strict');
const { startDo, sleep } = require('./do-helpers');

test('past the limit the API answers 429 with retry-after, and succeeds after waiting', async (t) => {
  // A 2 s window: the four requests below fit in it even on a loaded machine.
  const { api } = await startDo(t, { rateLimit: { limit: 3, windowMs: 2000 } });
  for (const remaining of [2, 1, 0]) {
    const res = await api('GET', '/v2/account');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('ratelimit-limit'), '3');
    assert.equal(Number(res.headers.get('ratelimit-remaining')), remaining);
  }
  const refused = await api('GET', '/v2/account');
  assert.equal(refused.status, 429);
  assert.deepEqual({ id: refused.body.id, message: refused.body.message },
    { id: 'too_many_requests', message: 'API Rate limit exceeded.' });
  assert.equal(refused.headers.get('ratelimit-remaining'), '0');
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 2, `a 2 s window frees a slot within 2 s (retry-after ${retryAfter})`);

  await sleep(retryAfter * 1000);
  const again = await api('GET', '/v2/account');
  assert.equal(again.status, 200);
});

test('the limit can be changed at run time through the hook and through /lab/ratelimit', async (t) => {
  const { api, srv } = await startDo(t);
  srv.setRateLimit({ limit: 1, windowMs: 60000 });
  assert.equal((await api('GET', '/v2/account')).status, 200);
  const refused = await api('GET', '/v2/account');
  assert.equal(refused.status, 429);
  assert.ok(Number(refused.headers.get('retry-after')) > 50, 'waits for the oldest request to expire');

  const denied = await api('PUT', '/lab/ratelimit', { limit: 100, windowMs: 1000 }, { token: 'nope' });
  assert.equal(denied.status, 401);
  // A window long enough that nothing expires while the test looks (a loaded machine included).
  const set = await api('PUT', '/lab/ratelimit', { limit: 100, window_ms: 60000 });
  assert.equal(set.status, 200);
  assert.deepEqual({ limit: set.body.limit, window_ms: set.body.window_ms, remaining: set.body.remaining },
    { limit: 100, window_ms: 60000, remaining: 100 });
  const ok = await api('GET', '/v2/account');
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('ratelimit-remaining'), '99');
  assert.equal((await api('GET', '/lab/ratelimit')).body.remaining, 99, 'the admin endpoint is not counted');
  assert.equal((await api('PUT', '/lab/ratelimit', { limit: -1 })).status, 422);
});
