'use strict';
// Spaces keys through the DO API: created in the lab's shared key store (so the S3 front enforces
// their grants), secret shown only on create, list/get/update/delete, DO's grant rules.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startDo } = require('./do-helpers');

test('a key is created with per-bucket grants; its secret is shown once', async (t) => {
  const { api, keys } = await startDo(t);
  const created = await api('POST', '/v2/spaces/keys', {
    name: 'tenant-a', grants: [{ bucket: 'tenant-a-backups', permission: 'readwrite' }],
  });
  assert.equal(created.status, 201);
  const key = created.body.key;
  assert.match(key.access_key, /^\S{16,}$/);
  assert.ok(key.secret_key && key.secret_key.length >= 20, 'secret returned on create');
  assert.deepEqual(key.grants, [{ bucket: 'tenant-a-backups', permission: 'readwrite' }]);

  // The key is the S3 front's: its secret and grants are what signatures and access are checked against.
  assert.equal(keys.get(key.access_key).secret_key, key.secret_key);
  assert.equal(keys.allowed(key.access_key, 'tenant-a-backups', 'write'), true);
  assert.equal(keys.allowed(key.access_key, 'tenant-b-backups', 'read'), false);

  const got = await api('GET', `/v2/spaces/keys/${key.access_key}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.key.name, 'tenant-a');
  assert.equal(got.body.key.secret_key, undefined, 'no secret on get');
  const list = await api('GET', '/v2/spaces/keys');
  assert.equal(list.body.meta.total, 1);
  assert.ok(list.body.keys.every((k) => k.secret_key === undefined), 'no secret in the list');
  assert.ok(!JSON.stringify(list.body).includes(key.secret_key));
});

test('keys can be renamed and regranted with PUT/PATCH, and deleted', async (t) => {
  const { api, keys } = await startDo(t);
  const key = (await api('POST', '/v2/spaces/keys', { name: 'k', grants: [{ bucket: 'b1', permission: 'read' }] })).body.key;
  const renamed = await api('PATCH', `/v2/spaces/keys/${key.access_key}`, { name: 'k-renamed' });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.key.name, 'k-renamed');
  assert.deepEqual(renamed.body.key.grants, [{ bucket: 'b1', permission: 'read' }], 'grants kept when not given');
  assert.equal(renamed.body.key.secret_key, undefined);

  const regranted = await api('PUT', `/v2/spaces/keys/${key.access_key}`, {
    name: 'k-renamed', grants: [{ bucket: 'b1', permission: 'readwrite' }, { bucket: 'b2', permission: 'read' }],
  });
  assert.equal(regranted.status, 200);
  assert.equal(keys.allowed(key.access_key, 'b1', 'write'), true);
  assert.equal(keys.allowed(key.access_key, 'b2', 'read'), true);

  assert.equal((await api('PATCH', `/v2/spaces/keys/${key.access_key}`, { name: '' })).status, 422);

  const toFull = await api('PUT', `/v2/spaces/keys/${key.access_key}`, { name: 'k', grants: [{ bucket: '', permission: 'fullaccess' }] });
  assert.equal(toFull.status, 400, 'a scoped key cannot become a fullaccess key');

  assert.equal((await api('DELETE', `/v2/spaces/keys/${key.access_key}`)).status, 204);
  assert.equal((await api('GET', `/v2/spaces/keys/${key.access_key}`)).status, 404);
  assert.equal(keys.get(key.access_key), null, 'gone from the S3 key store too');
  assert.equal((await api('DELETE', `/v2/spaces/keys/${key.access_key}`)).status, 404);
});

test('grant rules: known permissions only, fullaccess not mixed with scoped grants, a name required', async (t) => {
  const { api } = await startDo(t);
  const bad = await api('POST', '/v2/spaces/keys', { name: 'x', grants: [{ bucket: 'b', permission: 'write' }] });
  assert.equal(bad.status, 400);
  assert.match(bad.body.message, /permission/);
  const mixed = await api('POST', '/v2/spaces/keys', {
    name: 'x', grants: [{ bucket: '', permission: 'fullaccess' }, { bucket: 'b', permission: 'read' }],
  });
  assert.equal(mixed.status, 400);
  assert.equal(mixed.body.message, 'cannot mix fullaccess permission with scoped permissions.');
  const noBucket = await api('POST', '/v2/spaces/keys', { name: 'x', grants: [{ permission: 'read' }] });
  assert.equal(noBucket.status, 422);
  assert.equal(noBucket.body.message, 'grants[0].bucket is required');
  assert.equal((await api('POST', '/v2/spaces/keys', { grants: [] })).status, 422);
  const full = await api('POST', '/v2/spaces/keys', { name: 'admin', grants: [{ bucket: '', permission: 'fullaccess' }] });
  assert.equal(full.status, 201);
});

test('the list filters by bucket and permission, pages, and hides the lab\'s root key', async (t) => {
  const { api, keys } = await startDo(t);
  const root = keys.create({ name: 'lab-root', root: true });
  for (let i = 0; i < 5; i++) {
    await api('POST', '/v2/spaces/keys', { name: `k${i}`, grants: [{ bucket: i % 2 ? 'odd' : 'even', permission: 'read' }] });
  }
  const all = await api('GET', '/v2/spaces/keys?per_page=2');
  assert.equal(all.body.meta.total, 5);
  assert.equal(all.body.keys.length, 2);
  assert.ok(all.body.links.pages.next);
  const odd = await api('GET', '/v2/spaces/keys?bucket=odd&sort=name&sort_direction=asc');
  assert.deepEqual(odd.body.keys.map((k) => k.name), ['k1', 'k3']);
  assert.equal((await api('GET', `/v2/spaces/keys/${root.access_key}`)).status, 404);
  assert.equal((await api('DELETE', `/v2/spaces/keys/${root.access_key}`)).status, 404);
  assert.ok(keys.get(root.access_key), 'the root key is untouched');
});
