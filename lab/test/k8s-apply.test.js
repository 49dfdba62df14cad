// Server-side apply and field ownership: create by apply, idempotent re-apply, conflicts between managers and
// force, removal of fields no longer applied, list merging by the schema's list types, managedFields in FieldsV1.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const apply = require('../lib/k8s/apply');
const { Validator } = require('../lib/k8s/validate');

const validator = new Validator();
validator.addCRD(YAML.parse(fs.readFileSync(path.join(__dirname, '..', 'crds', 'postgresql.cnpg.io_clusters.yaml'), 'utf8')));

const T0 = '2025-11-27T08:00:00Z';
const T1 = '2025-11-27T09:00:00Z';
const clone = (o) => structuredClone(o);
const entry = (obj, manager) => obj.metadata.managedFields.find((e) => e.manager === manager);

function deployment() {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'tenant-a-app', namespace: 'tenant-a', labels: { app: 'tenant-a-app' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'tenant-a-app' } },
      template: {
        metadata: { labels: { app: 'tenant-a-app' } },
        spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }], env: [{ name: 'TENANT_NAME', value: 'tenant-a' }] }] },
      },
    },
  };
}

const applyAs = (live, cfg, manager, extra = {}) => apply.serverSideApply(live, cfg, { manager, validator, now: T0, ...extra });

test('create by apply: the object is the configuration, owned field by field by its manager', () => {
  const { object, conflicts } = applyAs(null, deployment(), 'alaris');
  assert.deepEqual(conflicts, []);
  const { managedFields, ...metadata } = object.metadata;
  assert.deepEqual({ ...object, metadata }, deployment());
  assert.deepEqual(managedFields, [{
    manager: 'alaris', operation: 'Apply', apiVersion: 'apps/v1', time: T0, fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:template': {
          'f:metadata': { 'f:labels': { 'f:app': {} } },
          'f:spec': {
            'f:containers': {
              'k:{"name":"app"}': {
                '.': {},
                'f:env': { 'k:{"name":"TENANT_NAME"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
                'f:image': {},
                'f:name': {},
                'f:ports': { 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
              },
            },
          },
        },
      },
    },
  }]);
});

test('re-applying the same configuration changes nothing, not even the time', () => {
  const first = applyAs(null, deployment(), 'alaris').object;
  const again = applyAs(first, deployment(), 'alaris', { now: T1 });
  assert.deepEqual(again.conflicts, []);
  assert.deepEqual(again.object, first);
});

test('a second manager changing an owned field conflicts; the Status names the owner and the path', () => {
  const live = applyAs(null, deployment(), 'alaris').object;
  const scale = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' }, spec: { replicas: 5 } };
  const { object, conflicts } = applyAs(live, scale, 'autoscaler');
  assert.equal(object, null);
  assert.deepEqual(conflicts, [{ manager: 'alaris', operation: 'Apply', apiVersion: 'apps/v1', field: '.spec.replicas', message: 'conflict with "alaris"' }]);
  assert.deepEqual(apply.conflictStatus(conflicts), {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
    message: 'Apply failed with 1 conflict: conflict with "alaris": .spec.replicas', reason: 'Conflict',
    details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alaris"', field: '.spec.replicas' }] },
    code: 409,
  });
});

test('applying the value a field already has is no conflict: both managers own it', () => {
  const live = applyAs(null, deployment(), 'alaris').object;
  const same = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' }, spec: { replicas: 2 } };
  const { object, conflicts } = applyAs(live, same, 'ops');
  assert.deepEqual(conflicts, []);
  assert.deepEqual(entry(object, 'ops').fieldsV1, { 'f:spec': { 'f:replicas': {} } });
  assert.ok(entry(object, 'alaris').fieldsV1['f:spec']['f:replicas']);
});

test('force takes the field and its ownership from the other manager', () => {
  const live = applyAs(null, deployment(), 'alaris').object;
  const image = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'app', image: 'app:2' }] } } },
  };
  const refused = applyAs(live, image, 'deployer');
  assert.deepEqual(refused.conflicts.map((c) => c.field), ['.spec.replicas', '.spec.template.spec.containers[name="app"].image']);
  assert.match(apply.conflictStatus(refused.conflicts).message,
    /^Apply failed with 2 conflicts: conflicts with "alaris":\n- \.spec\.replicas\n- \.spec\.template\.spec\.containers\[name="app"\]\.image$/);

  const { object, conflicts } = applyAs(live, image, 'deployer', { force: true });
  assert.equal(conflicts.length, 2);
  assert.equal(object.spec.replicas, 3);
  assert.equal(object.spec.template.spec.containers[0].image, 'app:2');
  assert.deepEqual(object.spec.template.spec.containers[0].ports, [{ containerPort: 8080 }], 'the rest of the item stays');
  const alaris = entry(object, 'alaris').fieldsV1;
  assert.equal('f:replicas' in alaris['f:spec'], false);
  assert.equal('f:image' in alaris['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"app"}'], false);
  assert.deepEqual(entry(object, 'deployer').fieldsV1['f:spec']['f:replicas'], {});

  // The former owner now conflicts in turn.
  const back = applyAs(object, deployment(), 'alaris');
  assert.deepEqual(back.conflicts.map((c) => [c.manager, c.field]), [
    ['deployer', '.spec.replicas'], ['deployer', '.spec.template.spec.containers[name="app"].image']]);
});

test('a field the manager applied before and omits now is removed, unless another manager owns it', () => {
  const cfg = deployment();
  cfg.metadata.labels.tier = 'web';
  cfg.metadata.annotations = { 'alaris.io/tenant': 'tenant-a' };
  let live = applyAs(null, cfg, 'alaris').object;
  live = applyAs(live, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a', labels: { tier: 'web' } } }, 'ops').object;

  const { object } = applyAs(live, deployment(), 'alaris');
  assert.deepEqual(object.metadata.labels, { app: 'tenant-a-app', tier: 'web' }, 'tier is still owned by ops');
  assert.equal('annotations' in object.metadata, false, 'the annotation nobody else owns is gone, and its empty map');

  const released = applyAs(object, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' } }, 'ops').object;
  assert.deepEqual(released.metadata.labels, { app: 'tenant-a-app' });
  assert.equal(entry(released, 'ops'), undefined, 'a manager that owns nothing disappears');
});

test('lists of type map merge per key: two managers each own their container and their env entries', () => {
  let live = applyAs(null, deployment(), 'alaris').object;
  const sidecar = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' },
    spec: { template: { spec: { containers: [
      { name: 'app', env: [{ name: 'LOG_LEVEL', value: 'debug' }] },
      { name: 'proxy', image: 'envoy:1' },
    ] } } },
  };
  live = applyAs(live, sidecar, 'mesh').object;
  const containers = live.spec.template.spec.containers;
  assert.deepEqual(containers.map((c) => c.name), ['app', 'proxy']);
  assert.deepEqual(containers[0].env, [{ name: 'TENANT_NAME', value: 'tenant-a' }, { name: 'LOG_LEVEL', value: 'debug' }]);
  assert.deepEqual(entry(live, 'mesh').fieldsV1['f:spec']['f:template']['f:spec']['f:containers'], {
    'k:{"name":"app"}': { '.': {}, 'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} } }, 'f:name': {} },
    'k:{"name":"proxy"}': { '.': {}, 'f:image': {}, 'f:name': {} },
  });

  const upgraded = deployment();
  upgraded.spec.template.spec.containers[0].image = 'app:2';
  live = applyAs(live, upgraded, 'alaris').object;
  assert.deepEqual(live.spec.template.spec.containers.map((c) => [c.name, c.image]), [['app', 'app:2'], ['proxy', 'envoy:1']]);
  assert.equal(live.spec.template.spec.containers[0].env.length, 2, "mesh's env entry survives alaris's apply");
});

test('an item dropped from a keyed list by its only owner is removed, with fields nobody owned inside it', () => {
  const two = deployment();
  two.spec.template.spec.containers.push({ name: 'worker', image: 'worker:1' });
  let live = applyAs(null, two, 'alaris').object;
  // A field nobody manages (as if defaulted by the server) inside the item goes with it.
  live.spec.template.spec.containers[1].terminationMessagePath = '/dev/termination-log';
  const { object } = applyAs(live, deployment(), 'alaris');
  assert.deepEqual(object.spec.template.spec.containers.map((c) => c.name), ['app']);
  assert.equal('k:{"name":"worker"}' in entry(object, 'alaris').fieldsV1['f:spec']['f:template']['f:spec']['f:containers'], false);
});

test('atomic lists and maps are replaced whole and owned as one field', () => {
  const withArgs = deployment();
  withArgs.spec.template.spec.containers[0].args = ['--port', '8080'];
  const live = applyAs(null, withArgs, 'alaris').object;
  const other = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' },
    spec: { selector: { matchLabels: { app: 'tenant-a-app', extra: 'x' } }, template: { spec: { containers: [{ name: 'app', args: ['--verbose'] }] } } },
  };
  const refused = applyAs(live, other, 'ops');
  assert.deepEqual(refused.conflicts.map((c) => c.field), ['.spec.selector', '.spec.template.spec.containers[name="app"].args']);
  const forced = applyAs(live, other, 'ops', { force: true }).object;
  assert.deepEqual(forced.spec.template.spec.containers[0].args, ['--verbose']);
  assert.deepEqual(forced.spec.selector, { matchLabels: { app: 'tenant-a-app', extra: 'x' } });
});

test('set lists own each value: finalizers from two managers', () => {
  const base = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'a', finalizers: ['a.example/one'] }, data: { k: 'v' } };
  let live = applyAs(null, base, 'alpha').object;
  live = applyAs(live, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'a', finalizers: ['b.example/two'] } }, 'beta').object;
  assert.deepEqual(live.metadata.finalizers, ['a.example/one', 'b.example/two']);
  assert.deepEqual(entry(live, 'beta').fieldsV1, { 'f:metadata': { 'f:finalizers': { 'v:"b.example/two"': {} } } });
});

test('updates take ownership of what they change; a later apply of another value conflicts with the updater', () => {
  const applied = applyAs(null, deployment(), 'alaris').object;
  const edited = clone(applied);
  edited.spec.replicas = 4;
  edited.metadata.annotations = { note: 'scaled by hand' };
  const updated = apply.recordUpdate(applied, edited, { manager: 'kubectl-edit', operation: 'Update', validator, now: T1 });
  assert.deepEqual(entry(updated, 'kubectl-edit'), {
    manager: 'kubectl-edit', operation: 'Update', apiVersion: 'apps/v1', time: T1, fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } }, 'f:spec': { 'f:replicas': {} } },
  });
  assert.equal('f:replicas' in entry(updated, 'alaris').fieldsV1['f:spec'], false);
  assert.deepEqual(updated.metadata.managedFields.map((e) => e.operation), ['Apply', 'Update'], 'Apply entries sort first');

  const { conflicts } = applyAs(updated, deployment(), 'alaris');
  assert.deepEqual(conflicts, [{ manager: 'kubectl-edit', operation: 'Update', apiVersion: 'apps/v1', field: '.spec.replicas', message: 'conflict with "kubectl-edit" using apps/v1' }]);
});

test('recordUpdate on create owns every field written; sending managedFields: [] resets ownership', () => {
  const created = apply.recordUpdate(null, deployment(), { manager: 'kubectl-create', validator, now: T0 });
  const fields = entry(created, 'kubectl-create').fieldsV1;
  assert.deepEqual(fields['f:metadata'], { 'f:labels': { '.': {}, 'f:app': {} } });
  assert.deepEqual(fields['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"app"}']['f:ports'],
    { '.': {}, 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } });
  assert.equal('.' in fields['f:spec'], false, 'a Deployment always has a spec');

  const reset = clone(created);
  reset.metadata.managedFields = [];
  reset.spec.replicas = 9;
  const after = apply.recordUpdate(created, reset, { manager: 'admin', validator, now: T1 });
  assert.deepEqual(after.metadata.managedFields.map((e) => e.manager), ['admin']);
});

test('an object that never had managedFields is owned by before-first-apply when first applied', () => {
  const live = deployment();
  const changed = deployment();
  changed.spec.replicas = 3;
  const { conflicts } = applyAs(live, changed, 'alaris');
  assert.deepEqual(conflicts.map((c) => c.message), ['conflict with "before-first-apply" using apps/v1']);
  const forced = applyAs(live, changed, 'alaris', { force: true }).object;
  assert.deepEqual(forced.metadata.managedFields.map((e) => [e.manager, e.operation]), [['alaris', 'Apply'], ['before-first-apply', 'Update']]);
});

test('status is left to the status subresource, and an apply to status owns only status', () => {
  const withStatus = deployment();
  withStatus.status = { replicas: 7 };
  const created = applyAs(null, withStatus, 'alaris').object;
  assert.equal(created.status, undefined);
  assert.equal('f:status' in entry(created, 'alaris').fieldsV1, false);
  const status = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'tenant-a-app', namespace: 'tenant-a' }, status: { readyReplicas: 2 } };
  const { object } = applyAs(created, status, 'controller', { subresource: 'status' });
  assert.deepEqual(object.status, { readyReplicas: 2 });
  assert.deepEqual(object.spec, created.spec);
  assert.deepEqual(entry(object, 'controller'), {
    manager: 'controller', operation: 'Apply', apiVersion: 'apps/v1', time: T0, fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:readyReplicas': {} } }, subresource: 'status',
  });
});

test('custom resources merge by their CRD schema: maps per key, lists without a list type atomic', () => {
  const cluster = {
    apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg-tenant-a', namespace: 'tenant-a' },
    spec: {
      instances: 2, storage: { size: '1Gi' },
      postgresql: { parameters: { max_connections: '100' } },
      plugins: [{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'pg-tenant-a-store' } }],
    },
  };
  let live = applyAs(null, cluster, 'alaris').object;
  assert.deepEqual(entry(live, 'alaris').fieldsV1['f:spec']['f:plugins'], {});
  const tuning = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg-tenant-a', namespace: 'tenant-a' },
    spec: { postgresql: { parameters: { shared_buffers: '256MB' } } } };
  live = applyAs(live, tuning, 'dba').object;
  assert.deepEqual(live.spec.postgresql.parameters, { max_connections: '100', shared_buffers: '256MB' });
  const plugins = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg-tenant-a', namespace: 'tenant-a' },
    spec: { plugins: [{ name: 'other' }] } };
  assert.deepEqual(applyAs(live, plugins, 'dba').conflicts.map((c) => c.field), ['.spec.plugins']);
});

test('a manager is required', () => {
  assert.throws(() => apply.serverSideApply(null, deployment(), {}), /manager/);
});
