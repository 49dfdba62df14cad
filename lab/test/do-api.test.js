'use strict';
// The DO API's request pipeline: bearer auth, DO error bodies with request ids, rate-limit headers,
// spec validation of request bodies (422 with DO's wording), unknown paths, account.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startDo } = require('./do-helpers');

test('requests without the right bearer token get 401 in DO\'s shape', async (t) => {
  const { api } = await startDo(t);
  for (const token of [null, 'wrong-token']) {
    const res = await api('GET', '/v2/account', undefined, { token });
    assert.equal(res.status, 401);
    assert.equal(res.body.id, 'unauthorized');
    assert.equal(res.body.message, 'Unable to authenticate you');
    assert.equal(res.body.request_id, res.headers.get('x-request-id'));
    assert.ok(res.headers.get('ratelimit-limit'), 'rate-limit headers on 401 too');
  }
});

test('every response carries x-request-id and the rate-limit headers', async (t) => {
  const { api } = await startDo(t);
  const first = await api('GET', '/v2/account');
  const second = await api('GET', '/v2/account');
  assert.equal(first.status, 200);
  assert.match(first.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);
  assert.notEqual(first.headers.get('x-request-id'), second.headers.get('x-request-id'));
  const limit = Number(first.headers.get('ratelimit-limit'));
  assert.equal(Number(first.headers.get('ratelimit-remaining')), limit - 1);
  assert.equal(Number(second.headers.get('ratelimit-remaining')), limit - 2);
  const reset = Number(first.headers.get('ratelimit-reset'));
  assert.ok(reset > Date.now() / 1000, 'reset is a future epoch second');
});

test('GET /v2/account describes an active account', async (t) => {
  const { api } = await startDo(t);
  const res = await api('GET', '/v2/account');
  assert.equal(res.body.account.status, 'active');
  assert.equal(res.body.account.email_verified, true);
  assert.match(res.body.account.uuid, /^[0-9a-f-]{36}$/);
});

test('a body missing required fields is refused with 422 naming each field', async (t) => {
  const { api } = await startDo(t);
  const res = await api('POST', '/v2/kubernetes/clusters', { node_pools: [] });
  assert.equal(res.status, 422);
  assert.equal(res.body.id, 'unprocessable_entity');
  assert.equal(res.body.message, 'name is required; region is required; version is required');
  assert.equal(res.body.request_id, res.headers.get('x-request-id'));

  const typed = await api('POST', '/v2/volumes', { name: 'v', region: 'nyc1', size_gigabytes: 'ten' });
  assert.equal(typed.status, 422);
  assert.equal(typed.body.message, 'size_gigabytes must be an integer');

  const nested = await api('POST', '/v2/kubernetes/clusters', {
    name: 'x', region: 'nyc1', version: 'latest', node_pools: [{ name: 'p', size: 's-2vcpu-4gb' }],
  });
  assert.equal(nested.status, 422);
  assert.equal(nested.body.message, 'node_pools[0].count is required');
});

test('an empty body where one is required is a 422, malformed JSON a 400', async (t) => {
  const { api } = await startDo(t);
  const empty = await api('POST', '/v2/registry');
  assert.equal(empty.status, 422);
  assert.equal(empty.body.message, 'name is required; subscription_tier_slug is required');
  const broken = await api('POST', '/v2/volumes', undefined, { rawBody: '{"name": ' });
  assert.equal(broken.status, 400);
  assert.equal(broken.body.id, 'bad_request');
});

test('unknown paths answer 404 not_found, known paths with a wrong method 405', async (t) => {
  const { api } = await startDo(t);
  const missing = await api('GET', '/v2/droplets-that-do-not-exist');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.id, 'not_found');
  const wrongMethod = await api('PATCH', '/v2/account');
  assert.equal(wrongMethod.status, 405);
});
