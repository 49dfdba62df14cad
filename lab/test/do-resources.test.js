'use strict';
// Container registry, projects (default project, assigning by URN) and volumes of the emulated DO
// API, and the account state surviving a restart on the same DIR.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startDo, clusterBody, TOKEN } = require('./do-helpers');

test('registry: create, get, docker credentials, delete', async (t) => {
  const { api } = await startDo(t);
  assert.equal((await api('GET', '/v2/registry')).status, 404);
  assert.equal((await api('GET', '/v2/registry/docker-credentials')).status, 404);

  const created = await api('POST', '/v2/registry', { name: 'alaris-lab', subscription_tier_slug: 'basic', region: 'fra1' });
  assert.equal(created.status, 201);
  assert.equal(created.body.registry.name, 'alaris-lab');
  assert.equal(created.body.registry.subscription.tier.slug, 'basic');
  assert.equal((await api('POST', '/v2/registry', { name: 'other', subscription_tier_slug: 'basic' })).status, 409);
  assert.equal((await api('POST', '/v2/registry', { name: 'Bad Name', subscription_tier_slug: 'basic' })).status, 422);

  const got = await api('GET', '/v2/registry');
  assert.equal(got.body.registry.region, 'fra1');

  const creds = await api('GET', '/v2/registry/docker-credentials?read_write=true');
  assert.equal(creds.status, 200);
  const { auth } = creds.body.auths['registry.digitalocean.com'];
  assert.equal(Buffer.from(auth, 'base64').toString(), `${TOKEN}:${TOKEN}`);

  assert.equal((await api('DELETE', '/v2/registry')).status, 204);
  assert.equal((await api('GET', '/v2/registry')).status, 404);
});

test('projects: a default project exists and new clusters and volumes land in it', async (t) => {
  const { api } = await startDo(t);
  const list = await api('GET', '/v2/projects');
  assert.equal(list.body.meta.total, 1);
  const def = (await api('GET', '/v2/projects/default')).body.project;
  assert.equal(def.is_default, true);
  assert.deepEqual((await api('GET', `/v2/projects/${def.id}`)).body.project, def);

  const cluster = (await api('POST', '/v2/kubernetes/clusters', clusterBody())).body.kubernetes_cluster;
  const volume = (await api('POST', '/v2/volumes', { name: 'pgdata', region: 'nyc1', size_gigabytes: 5 })).body.volume;
  const resources = await api('GET', `/v2/projects/${def.id}/resources`);
  assert.deepEqual(resources.body.resources.map((r) => r.urn), [`do:kubernetes:${cluster.id}`, `do:volume:${volume.id}`]);
  assert.ok(resources.body.resources.every((r) => r.status === 'ok'));
  assert.equal(resources.body.meta.total, 2);
});

test('projects: assigning by URN moves resources, unknown ids are reported not_found', async (t) => {
  const { api } = await startDo(t);
  const created = await api('POST', '/v2/projects', { name: 'tenant-a', purpose: 'Service or API', environment: 'Production' });
  assert.equal(created.status, 201);
  const project = created.body.project;
  assert.equal(project.is_default, false);
  assert.equal((await api('POST', '/v2/projects', { name: 'tenant-a', purpose: 'Web Application' })).status, 409);

  const cluster = (await api('POST', '/v2/kubernetes/clusters', clusterBody())).body.kubernetes_cluster;
  const urns = [`do:kubernetes:${cluster.id}`, 'do:space:tenant-a-backups', 'do:volume:00000000-0000-4000-8000-000000000000'];
  const assigned = await api('POST', `/v2/projects/${project.id}/resources`, { resources: urns });
  assert.equal(assigned.status, 200);
  assert.deepEqual(assigned.body.resources.map((r) => r.status), ['assigned', 'assigned', 'not_found']);

  const inProject = await api('GET', `/v2/projects/${project.id}/resources`);
  assert.deepEqual(inProject.body.resources.map((r) => r.urn), urns.slice(0, 2));
  const inDefault = await api('GET', '/v2/projects/default/resources');
  assert.deepEqual(inDefault.body.resources, [], 'the cluster moved out of the default project');

  const badUrn = await api('POST', `/v2/projects/${project.id}/resources`, { resources: ['cluster-1'] });
  assert.equal(badUrn.status, 422);
  assert.equal(badUrn.body.message, 'resources[0] is invalid');

  assert.equal((await api('DELETE', `/v2/projects/${project.id}`)).status, 412, 'a project with resources stays');
  await api('DELETE', `/v2/kubernetes/clusters/${cluster.id}`);
  const after = await api('GET', `/v2/projects/${project.id}/resources`);
  assert.deepEqual(after.body.resources.map((r) => r.urn), ['do:space:tenant-a-backups'], 'deleted resources leave the project');
  assert.equal((await api('GET', '/v2/projects/00000000-0000-4000-8000-000000000000')).status, 404);
});

test('volumes: create, get, list by name, delete; names and regions are checked', async (t) => {
  const { api } = await startDo(t);
  const created = await api('POST', '/v2/volumes', {
    name: 'tenant-a-data', region: 'fra1', size_gigabytes: 20, filesystem_type: 'ext4', description: 'pg data',
  });
  assert.equal(created.status, 201);
  const volume = created.body.volume;
  assert.equal(volume.region.slug, 'fra1');
  assert.equal(volume.size_gigabytes, 20);
  assert.equal(volume.filesystem_type, 'ext4');

  assert.deepEqual((await api('GET', `/v2/volumes/${volume.id}`)).body.volume, volume);
  assert.equal((await api('POST', '/v2/volumes', { name: 'tenant-a-data', region: 'fra1', size_gigabytes: 1 })).status, 409);
  assert.equal((await api('POST', '/v2/volumes', { name: 'Upper_Case', region: 'fra1', size_gigabytes: 1 })).status, 422);
  const badRegion = await api('POST', '/v2/volumes', { name: 'x', region: 'mars1', size_gigabytes: 1 });
  assert.equal(badRegion.status, 422);
  assert.match(badRegion.body.message, /region/);

  const byName = await api('GET', '/v2/volumes?name=tenant-a-data&region=fra1');
  assert.deepEqual(byName.body.volumes.map((v) => v.id), [volume.id]);
  assert.equal((await api('DELETE', `/v2/volumes/${volume.id}`)).status, 204);
  assert.equal((await api('GET', `/v2/volumes/${volume.id}`)).status, 404);
  assert.equal((await api('DELETE', `/v2/volumes/${volume.id}`)).status, 404);
});

test('the account state survives a restart on the same DIR', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'do-api-restart-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let cluster;
  let projectId;
  await t.test('first run', async (t1) => {
    const { api } = await startDo(t1, { dir });
    cluster = (await api('POST', '/v2/kubernetes/clusters', clusterBody())).body.kubernetes_cluster;
    projectId = (await api('GET', '/v2/projects/default')).body.project.id;
  });
  await t.test('second run', async (t2) => {
    const { api } = await startDo(t2, { dir });
    const again = await api('GET', `/v2/kubernetes/clusters/${cluster.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.kubernetes_cluster.name, cluster.name);
    assert.equal((await api('GET', '/v2/projects/default')).body.project.id, projectId);
    assert.equal((await api('GET', '/v2/projects')).body.meta.total, 1);
  });
});
