'use strict';
// Watch on the emulated Kubernetes API: ADDED/MODIFIED/DELETED from a resourceVersion, selector
// transitions, BOOKMARK with allowWatchBookmarks, timeoutSeconds, and 410 Gone (an ERROR event carrying an
// Expired Status) for a resourceVersion older than the retained history (kept small here).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startK8s } = require('./k8s-helpers');

let lab;
before(async () => { lab = await startK8s({ historySize: 20, bookmarkIntervalMs: 200 }); });
after(async () => { await lab.stop(); });

const cm = (name, labels, data) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels }, data });
const put = (obj) => lab.store.updateObject(obj);

test('watch from a resourceVersion sees ADDED, MODIFIED and DELETED in order', async () => {
  const list = await lab.request('GET', '/api/v1/namespaces/default/configmaps');
  const w = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
  try {
    const created = lab.store.createObject(cm('w1', {}, { v: '1' }));
    put(Object.assign(created, { data: { v: '2' } }));
    lab.store.deleteObject('v1', 'ConfigMap', 'default', 'w1');
    await w.waitFor((e) => e.type === 'DELETED');
    const mine = w.events.filter((e) => e.object.metadata.name === 'w1');
    assert.deepEqual(mine.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
    assert.equal(mine[1].object.data.v, '2');
    assert.equal(mine[0].object.kind, 'ConfigMap');
    const rvs = mine.map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs[0] < rvs[1] && rvs[1] < rvs[2]);
  } finally {
    w.close();
  }
});

test('a watch started in the past replays what happened since; without a version it starts with the current state', async () => {
  const rv = lab.store.currentRV();
  lab.store.createObject(cm('past', {}, { v: '1' }));
  const replay = lab.watch(`/api/v1/watch/namespaces/default/configmaps?resourceVersion=${rv}`);
  const fresh = lab.watch('/api/v1/namespaces/default/configmaps?watch=1');
  try {
    await replay.waitFor((e) => e.type === 'ADDED' && e.object.metadata.name === 'past');
    await fresh.waitFor((e) => e.type === 'ADDED' && e.object.metadata.name === 'past');
  } finally {
    replay.close();
    fresh.close();
  }
});

test('label selector transitions: MODIFIED out of the selection is DELETED, into it ADDED', async () => {
  const obj = lab.store.createObject(cm('sel', { app: 'a' }, {}));
  const w = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&labelSelector=app%3Da&resourceVersion=${obj.metadata.resourceVersion}`);
  try {
    const moved = put(Object.assign(obj, { metadata: Object.assign(obj.metadata, { labels: { app: 'b' } }) }));
    put(Object.assign(moved, { metadata: Object.assign(moved.metadata, { labels: { app: 'a' } }) }));
    await w.waitFor((e) => e.type === 'ADDED');
    assert.deepEqual(w.events.map((e) => e.type), ['DELETED', 'ADDED']);
  } finally {
    w.close();
  }
});

test('BOOKMARK events when allowWatchBookmarks, and the stream ends at timeoutSeconds', async () => {
  const started = Date.now();
  const w = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${lab.store.currentRV()}`);
  const events = await w.ended;
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 4000, `ended after ${elapsed} ms`);
  const bookmarks = events.filter((e) => e.type === 'BOOKMARK');
  assert.ok(bookmarks.length >= 2, JSON.stringify(events));
  assert.equal(bookmarks[0].object.kind, 'ConfigMap');
  assert.match(bookmarks[0].object.metadata.resourceVersion, /^\d+$/);
  const plain = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=${lab.store.currentRV()}`);
  assert.equal((await plain.ended).filter((e) => e.type === 'BOOKMARK').length, 0);
});

test('410 Gone: an ERROR event with an Expired Status for a resourceVersion older than the history', async () => {
  const old = lab.store.currentRV();
  for (let i = 0; i < 30; i++) lab.store.createObject(cm(`churn-${i}`, {}, {}));
  const w = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${old}`);
  const events = await w.ended;
  assert.equal(events.length, 1);
  assert.equal(events[0].type, 'ERROR');
  const status = events[0].object;
  assert.equal(status.kind, 'Status');
  assert.equal(status.code, 410);
  assert.equal(status.reason, 'Expired');
  assert.match(status.message, /^too old resource version: \d+ \(\d+\)$/);
  const recent = lab.watch(`/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1&resourceVersion=${lab.store.currentRV()}`);
  assert.equal((await recent.ended).filter((e) => e.type === 'ERROR').length, 0);
});

test('a watch on one object (kubectl wait style) and Table-encoded watch events', async () => {
  lab.store.createObject(cm('solo', {}, { v: '1' }));
  lab.store.createObject(cm('other', {}, { v: '1' }));
  const w = lab.watch('/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dsolo');
  try {
    await w.waitFor((e) => e.type === 'ADDED');
    assert.deepEqual(w.events.map((e) => e.object.metadata.name), ['solo']);
  } finally {
    w.close();
  }
  const table = lab.watch('/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dsolo',
    { headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } });
  try {
    const e = await table.waitFor((x) => x.type === 'ADDED');
    assert.equal(e.object.kind, 'Table');
    assert.deepEqual(e.object.columnDefinitions.map((c) => c.name), ['Name', 'Data', 'Age']);
    assert.deepEqual(e.object.rows[0].cells.slice(0, 2), ['solo', 1]);
  } finally {
    table.close();
  }
});
