'use strict';
// DO-style pagination over a long list: 450 volumes walked through links.pages.next.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startDo } = require('./do-helpers');

const COUNT = 450;

async function createVolumes(api, count) {
  const batch = 25;
  for (let start = 0; start < count; start += batch) {
    const posts = [];
    for (let i = start; i < Math.min(start + batch, count); i++) {
      posts.push(api('POST', '/v2/volumes', { name: `vol-${i}`, region: i % 2 ? 'nyc3' : 'fra1', size_gigabytes: 1 + (i % 10) }));
    }
    for (const res of await Promise.all(posts)) assert.equal(res.status, 201);
  }
}

async function walk(api, firstUrl) {
  const seen = [];
  const totals = new Set();
  let url = firstUrl;
  let pages = 0;
  while (url) {
    const res = await api('GET', url);
    assert.equal(res.status, 200);
    totals.add(res.body.meta.total);
    seen.push(...res.body.volumes.map((v) => v.id));
    pages++;
    url = res.body.links.pages && res.body.links.pages.next;
  }
  assert.deepEqual([...totals], [seen.length], 'meta.total is the same on every page and counts them all');
  return { seen, pages };
}

test('450 volumes are paged through links.pages.next with nothing repeated or lost', async (t) => {
  const { api, srv } = await startDo(t);
  await createVolumes(api, COUNT);

  const first = await api('GET', '/v2/volumes');
  assert.equal(first.body.volumes.length, 20, 'per_page defaults to 20');
  assert.equal(first.body.meta.total, COUNT);
  assert.equal(first.body.links.pages.first, undefined, 'no first/prev on page 1');
  assert.ok(first.body.links.pages.last.startsWith(`${srv.url}/v2/volumes?`), 'links are absolute');
  assert.match(first.body.links.pages.last, /page=23/);

  const byDefault = await walk(api, '/v2/volumes');
  assert.equal(byDefault.pages, 23);
  assert.equal(byDefault.seen.length, COUNT);
  assert.equal(new Set(byDefault.seen).size, COUNT);

  const big = await walk(api, '/v2/volumes?per_page=200');
  assert.equal(big.pages, 3);
  assert.deepEqual(big.seen, byDefault.seen, 'same order whatever the page size');

  const clamped = await api('GET', '/v2/volumes?per_page=1000');
  assert.equal(clamped.body.volumes.length, 200, 'per_page is capped at 200');

  const middle = await api('GET', '/v2/volumes?page=2&per_page=200');
  const { pages } = middle.body.links;
  assert.match(pages.first, /page=1&per_page=200/);
  assert.match(pages.prev, /page=1&per_page=200/);
  assert.match(pages.next, /page=3&per_page=200/);
  assert.match(pages.last, /page=3&per_page=200/);

  const last = await api('GET', '/v2/volumes?page=3&per_page=200');
  assert.equal(last.body.volumes.length, 50);
  assert.equal(last.body.links.pages.next, undefined);
});

test('filters are kept in the page links', async (t) => {
  const { api } = await startDo(t);
  await createVolumes(api, 60);
  const { seen, pages } = await walk(api, '/v2/volumes?region=nyc3&per_page=7');
  assert.equal(seen.length, 30);
  assert.equal(pages, 5);
  const byName = await api('GET', '/v2/volumes?name=vol-7');
  assert.deepEqual(byName.body.volumes.map((v) => v.name), ['vol-7']);
  assert.deepEqual(byName.body.links, {});
});
