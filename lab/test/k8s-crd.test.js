'use strict';
// CustomResourceDefinitions on the emulated Kubernetes API: creating one makes its type appear in discovery
// and be served (schema validation, status subresource, printer columns, short names, categories, kubectl
// get/wait); deleting it removes the type and its objects. Also fieldValidation=Warn on a custom resource.
// The kubectl steps are skipped, with the reason, when there is no kubectl (./kubectl.js); the API steps still run.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { startK8s, eventually } = require('./k8s-helpers');
const { haveKubectl } = require('./kubectl');

let lab;
before(async () => { lab = await startK8s(); });
after(async () => { await lab.stop(); });

const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com', scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wg'], categories: ['all'] },
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {} },
      additionalPrinterColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' },
        { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' }],
      schema: { openAPIV3Schema: { type: 'object', properties: {
        spec: { type: 'object', required: ['size'], properties: { size: { type: 'integer', minimum: 1 }, color: { type: 'string', enum: ['red', 'blue'] } } },
        status: { type: 'object', properties: { conditions: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { type: 'string' } } } } } },
      } } },
    }],
  },
};
const widget = (name, spec) => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name }, spec });
const WIDGETS = '/apis/example.com/v1/namespaces/default/widgets';

test('a created CRD is served: discovery, validation, status subresource, kubectl get and wait', async (t) => {
  assert.equal((await lab.request('GET', '/apis/example.com/v1')).status, 404);
  const created = await lab.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: CRD });
  assert.equal(created.status, 201, created.text);
  await t.test('kubectl wait sees it Established', async (t) => {
    if (!haveKubectl(t)) return;
    const wait = await lab.kubectl(['wait', '--for=condition=Established', 'crd/widgets.example.com', '--timeout=10s']);
    assert.equal(wait.code, 0, wait.stderr);
  });

  const list = (await lab.request('GET', '/apis/example.com/v1')).body;
  const entry = list.resources.find((r) => r.name === 'widgets');
  assert.deepEqual([entry.kind, entry.namespaced, entry.shortNames, entry.categories], ['Widget', true, ['wg'], ['all']]);
  assert.ok(list.resources.find((r) => r.name === 'widgets/status'));

  assert.equal((await lab.request('POST', WIDGETS, { body: widget('w1', { size: 3, color: 'red' }) })).status, 201);
  const invalid = await lab.request('POST', WIDGETS, { body: widget('w2', { size: 0, color: 'green' }) });
  assert.equal(invalid.status, 422, invalid.text);
  assert.deepEqual(invalid.body.details.causes.map((c) => c.field).sort(), ['spec.color', 'spec.size']);

  const st = await lab.request('PATCH', `${WIDGETS}/w1/status`, { contentType: 'application/merge-patch+json',
    body: { status: { conditions: [{ type: 'Ready', status: 'True' }] }, spec: { size: 99 } } });
  assert.equal(st.status, 200, st.text);
  assert.equal(st.body.spec.size, 3, 'the status subresource ignores spec');

  await t.test('kubectl get by short name (printer columns) and by category', async (t) => {
    if (!haveKubectl(t)) return;
    const get = await lab.kubectl(['get', 'wg']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^NAME\s+SIZE\s+READY\n/);
    assert.match(get.stdout, /w1\s+3\s+True/);
    const all = await lab.kubectl(['get', 'all', '-o', 'name']);
    assert.match(all.stdout, /widget.example.com\/w1/);
  });
});

test('fieldValidation=Warn keeps the object, drops the unknown field and warns', async () => {
  const r = await lab.request('POST', `${WIDGETS}?fieldValidation=Warn`, { body: widget('w3', { size: 1, extra: 'x' }) });
  assert.equal(r.status, 201, r.text);
  assert.match(String(r.headers.warning), /unknown field \\"spec.extra\\"/);
  assert.equal(r.body.spec.extra, undefined);
  const strict = await lab.request('POST', `${WIDGETS}?fieldValidation=Strict`, { body: widget('w4', { size: 1, extra: 'x' }) });
  assert.equal(strict.status, 400);
  assert.match(strict.body.message, /strict decoding error: unknown field "spec.extra"/);
});

test('deleting the CRD removes its objects and its type', async (t) => {
  if (!haveKubectl(t)) return;
  const del = await lab.kubectl(['delete', 'crd', 'widgets.example.com']);
  assert.equal(del.code, 0, del.stderr);
  await eventually(async () => (await lab.request('GET', '/apis/example.com/v1')).status === 404, 3000, 'group gone');
  assert.equal((await lab.request('GET', WIDGETS)).status, 404);
  const again = await lab.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: CRD });
  assert.equal(again.status, 201);
  await eventually(async () => (await lab.request('GET', WIDGETS)).status === 200, 3000, 'served again');
  assert.deepEqual((await lab.request('GET', WIDGETS)).body.items, [], 'old objects did not come back');
});

test('the CNPG and barman-cloud CRDs from lab/crds are installed at start', async (t) => {
  if (!haveKubectl(t)) return;
  const files = fs.readdirSync(path.join(__dirname, '..', 'crds')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 4);
  const r = await lab.kubectl(['get', 'crd', '-o', 'name']);
  for (const n of ['clusters.postgresql.cnpg.io', 'backups.postgresql.cnpg.io', 'scheduledbackups.postgresql.cnpg.io', 'objectstores.barmancloud.cnpg.io']) {
    assert.match(r.stdout, new RegExp(`customresourcedefinition.apiextensions.k8s.io/${n.replace(/\./g, '\\.')}`));
  }
});
