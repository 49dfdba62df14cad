'use strict';
// The lab's copy of DO's OpenAPI description and its use: every served route is an operation of
// the description whose schemas resolve, responses match the description's response schemas, and
// a response that does not would be caught.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Spec, DEFAULT_ROOT } = require('../lib/do/spec');
const { SchemaValidator } = require('../lib/do/validation');
const { startDo, clusterBody } = require('./do-helpers');

const spec = new Spec();
const validator = new SchemaValidator(spec);

test('the copied description carries its licence and provenance', () => {
  const dir = path.dirname(DEFAULT_ROOT);
  assert.match(fs.readFileSync(path.join(dir, 'LICENSE'), 'utf8'), /Apache License/);
  assert.match(fs.readFileSync(path.join(dir, 'PROVENANCE.txt'), 'utf8'), /github\.com\/digitalocean\/openapi/);
});

test('the operations the lab serves resolve fully in the copied description', () => {
  const served = [
    ['POST', '/v2/kubernetes/clusters'], ['PUT', '/v2/kubernetes/clusters/{cluster_id}'],
    ['POST', '/v2/kubernetes/clusters/{cluster_id}/node_pools'], ['POST', '/v2/volumes'], ['POST', '/v2/registry'],
    ['POST', '/v2/projects'], ['POST', '/v2/projects/{project_id}/resources'], ['POST', '/v2/spaces/keys'],
    ['PATCH', '/v2/spaces/keys/{access_key}'],
  ];
  for (const [method, p] of served) {
    assert.ok(spec.requestSchema(method, p), `${method} ${p} has a request schema`);
    for (const status of spec.documentedStatuses(method, p)) spec.responseSchema(method, p, status);
  }
});

test('live responses validate against the description\'s response schemas', async (t) => {
  const { api } = await startDo(t, { checkResponses: false });
  const cluster = await api('POST', '/v2/kubernetes/clusters', clusterBody());
  const checks = [
    ['POST', '/v2/kubernetes/clusters', cluster],
    ['GET', '/v2/kubernetes/clusters', await api('GET', '/v2/kubernetes/clusters')],
    ['GET', '/v2/kubernetes/options', await api('GET', '/v2/kubernetes/options')],
    ['GET', '/v2/kubernetes/clusters/{cluster_id}/credentials',
      await api('GET', `/v2/kubernetes/clusters/${cluster.body.kubernetes_cluster.id}/credentials`)],
    ['POST', '/v2/volumes', await api('POST', '/v2/volumes', { name: 'v', region: 'nyc1', size_gigabytes: 1 })],
    ['GET', '/v2/projects', await api('GET', '/v2/projects')],
    ['GET', '/v2/account', await api('GET', '/v2/account')],
  ];
  for (const [method, p, res] of checks) {
    assert.ok(res.status < 300, `${method} ${p} answered ${res.status}`);
    assert.equal(validator.checkResponse(method, p, res.status, res.body), null, `${method} ${p}`);
  }
  const unauthorized = await api('GET', '/v2/account', undefined, { token: 'x' });
  assert.equal(validator.checkResponse('GET', '/v2/account', 401, unauthorized.body), null);
});

test('a response of the wrong shape is detected', () => {
  const wrong = { kubernetes_clusters: [{ name: 'x', node_pools: 'none', status: { state: 'sleeping' } }] };
  const problems = validator.checkResponse('GET', '/v2/kubernetes/clusters', 200, wrong);
  assert.ok(problems.includes('kubernetes_clusters[0].node_pools must be an array'), problems.join('; '));
  assert.ok(problems.some((m) => m.startsWith('kubernetes_clusters[0].status.state must be one of')));
  assert.ok(problems.includes('kubernetes_clusters[0].region is required'));
});
