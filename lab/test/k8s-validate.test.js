// Validation as the real API server reports it: built-in kinds against the vendored OpenAPI v3 documents, the
// CNPG and barman-cloud CRDs from lab/crds, unknown fields per fieldValidation, name rules, Status shapes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { Validator } = require('../lib/k8s/validate');
const { subSchema } = require('../lib/k8s/schemas');

const validator = new Validator();
for (const file of fs.readdirSync(path.join(__dirname, '..', 'crds')).filter((f) => f.endsWith('.yaml'))) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(__dirname, '..', 'crds', file), 'utf8'))) {
    validator.addCRD(doc.toJSON());
  }
}

const clone = (o) => structuredClone(o);
const fields = (r) => r.causes.map((c) => c.field);
const causeAt = (r, field) => r.causes.find((c) => c.field === field);

const pod = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web', namespace: 'tenant-a', labels: { app: 'web' } },
  spec: { containers: [{ name: 'app', image: 'nginx:1.27', ports: [{ containerPort: 8080, name: 'http' }] }] },
};

const deployment = {
  apiVersion: 'apps/v1', kind: 'Deployment',
  metadata: { name: 'tenant-a-app', namespace: 'tenant-a' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'tenant-a-app' } },
    template: {
      metadata: { labels: { app: 'tenant-a-app' } },
      spec: {
        containers: [{
          name: 'app', image: 'registry.example/app:1',
          env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'pg-tenant-a-app-secret', key: 'password' } } }],
          ports: [{ containerPort: 8080 }, { containerPort: 9090 }],
          readinessProbe: { httpGet: { path: '/health', port: 8080 } },
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
        }],
      },
    },
  },
};

const service = {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'tenant-a-public', namespace: 'tenant-a' },
  spec: { type: 'LoadBalancer', selector: { app: 'tenant-a-app' }, ports: [{ port: 80, targetPort: 8080 }] },
};

const secret = {
  apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pg-tenant-a-app-secret', namespace: 'tenant-a' },
  type: 'kubernetes.io/basic-auth', data: { username: 'YXBw', password: 'czNjcjN0' },
};

const networkPolicy = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db-from-app', namespace: 'tenant-a' },
  spec: {
    podSelector: { matchLabels: { 'cnpg.io/cluster': 'pg-tenant-a' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'tenant-a-app' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
  },
};

const role = {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ops-read-only' },
  rules: [{ apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list', 'watch'] }],
};

const binding = {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'ops-reader' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ops-read-only' },
  subjects: [{ kind: 'ServiceAccount', name: 'ops-reader', namespace: 'ops' }],
};

const cluster = {
  apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'pg-tenant-a', namespace: 'tenant-a' },
  spec: {
    instances: 2,
    superuserSecret: { name: 'pg-tenant-a-superuser-secret' },
    storage: { size: '1Gi', storageClass: 'do-block-storage' },
    bootstrap: { initdb: { database: 'app', owner: 'app', secret: { name: 'pg-tenant-a-app-secret' } } },
    postgresql: { parameters: { max_connections: '100', shared_buffers: '128MB' } },
    plugins: [{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'pg-tenant-a-store' } }],
  },
};

const objectStore = {
  apiVersion: 'barmancloud.cnpg.io/v1', kind: 'ObjectStore', metadata: { name: 'pg-tenant-a-store', namespace: 'tenant-a' },
  spec: {
    retentionPolicy: '7d',
    configuration: {
      destinationPath: 's3://backups/backups/tenant-a/pg-tenant-a', endpointURL: 'http://127.0.0.1:9000',
      s3Credentials: {
        accessKeyId: { name: 'spaces-credentials', key: 'ACCESS_KEY_ID' },
        secretAccessKey: { name: 'spaces-credentials', key: 'SECRET_ACCESS_KEY' },
      },
      wal: { compression: 'gzip' },
    },
  },
};

test('well-formed built-in objects of every kind the lab serves validate cleanly', () => {
  const others = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant-a', labels: { tenant: 'tenant-a' } } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app.config', namespace: 'a' }, data: { 'app.yaml': 'x: 1' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ops-reader', namespace: 'ops' } },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: 'a' },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'busybox' }] } } } },
    { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader', namespace: 'a' },
      spec: { holderIdentity: 'x', leaseDurationSeconds: 15, renewTime: '2025-01-01T00:00:00.000000Z' } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'r', namespace: 'a' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' },
      subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' }] },
  ];
  for (const obj of [pod, deployment, service, secret, networkPolicy, role, binding, ...others]) {
    const r = validator.validate(obj, { fieldValidation: 'Strict' });
    assert.deepEqual(r.causes, [], `${obj.kind} ${obj.metadata.name}`);
    assert.deepEqual(r.warnings, []);
    assert.equal(validator.statusFor(r, obj, { fieldValidation: 'Strict' }), null);
  }
});

test('a Pod without containers, or a container without image, is refused with the server\'s paths', () => {
  const noContainers = clone(pod);
  delete noContainers.spec.containers;
  assert.deepEqual(causeAt(validator.validate(noContainers), 'spec.containers'),
    { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });

  const noImage = clone(deployment);
  delete noImage.spec.template.spec.containers[0].image;
  const r = validator.validate(noImage);
  assert.deepEqual(fields(r), ['spec.template.spec.containers[0].image']);
  const status = validator.statusFor(r, noImage);
  assert.equal(status.code, 422);
  assert.equal(status.reason, 'Invalid');
  assert.equal(status.message, 'Deployment.apps "tenant-a-app" is invalid: spec.template.spec.containers[0].image: Required value');
  assert.deepEqual(status.details, { name: 'tenant-a-app', group: 'apps', kind: 'Deployment', causes: r.causes });
});

test('several invalid fields aggregate into one message in brackets, each a cause', () => {
  const bad = clone(pod);
  bad.spec.containers.push({ name: 'app', image: 'x', imagePullPolicy: 'Sometimes' });
  bad.spec.containers[0].ports[0].containerPort = 70000;
  const r = validator.validate(bad);
  assert.deepEqual(r.causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive', field: 'spec.containers[0].ports[0].containerPort' },
    { reason: 'FieldValueDuplicate', message: 'Duplicate value: "app"', field: 'spec.containers[1].name' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"', field: 'spec.containers[1].imagePullPolicy' },
  ]);
  assert.match(validator.statusFor(r, bad).message, /^Pod "web" is invalid: \[spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 70000: .*, spec\.containers\[1\]\.name: Duplicate value: "app", /);
});

test('a value of the wrong type is a TypeInvalid cause; for a built-in kind the server answers 400 from decoding', () => {
  const bad = clone(deployment);
  bad.spec.replicas = 'three';
  const r = validator.validate(bad);
  assert.deepEqual(causeAt(r, 'spec.replicas'), {
    reason: 'FieldValueTypeInvalid', field: 'spec.replicas',
    message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
  });
  const status = validator.statusFor(r, bad);
  assert.equal(status.code, 400);
  assert.equal(status.message, 'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');

  const image = clone(pod);
  image.spec.containers[0].image = 5;
  assert.equal(validator.statusFor(validator.validate(image), image).message,
    'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field Container.spec.containers.image of type string');
});

test('int-or-string and quantity fields accept both forms and refuse others', () => {
  const ok = clone(service);
  ok.spec.ports[0].targetPort = 'http';
  assert.deepEqual(validator.validate(ok).causes, []);
  const bad = clone(service);
  bad.spec.ports[0].targetPort = true;
  assert.equal(causeAt(validator.validate(bad), 'spec.ports[0].targetPort').reason, 'FieldValueTypeInvalid');
  const cpu = clone(deployment);
  cpu.spec.template.spec.containers[0].resources.limits = { cpu: 'lots' };
  const r = validator.validate(cpu);
  assert.deepEqual(fields(r), ['spec.template.spec.containers[0].resources.limits[cpu]']);
  assert.match(validator.statusFor(r, cpu).message, /quantities must match the regular expression/);
});

test('unknown fields: Strict refuses, Warn warns and stores the pruned object, Ignore says nothing', () => {
  const obj = clone(deployment);
  obj.spec.foo = 1;
  obj.spec.template.spec.containers[0].imagePolicy = 'x';
  const strict = validator.validate(obj, { fieldValidation: 'Strict' });
  // In document order, as the decoder meets them.
  assert.deepEqual(strict.causes, [
    { reason: 'FieldValueInvalid', message: 'unknown field "spec.template.spec.containers[0].imagePolicy"', field: 'spec.template.spec.containers[0].imagePolicy' },
    { reason: 'FieldValueInvalid', message: 'unknown field "spec.foo"', field: 'spec.foo' },
  ]);
  const status = validator.statusFor(strict, obj, { fieldValidation: 'Strict' });
  assert.equal(status.code, 400);
  assert.equal(status.message, 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePolicy", unknown field "spec.foo"');

  const warn = validator.validate(obj, { fieldValidation: 'Warn' });
  assert.deepEqual(warn.causes, []);
  assert.deepEqual(warn.warnings, ['unknown field "spec.template.spec.containers[0].imagePolicy"', 'unknown field "spec.foo"']);
  assert.equal(validator.statusFor(warn, obj, { fieldValidation: 'Warn' }), null);

  const ignore = validator.validate(obj, { fieldValidation: 'Ignore' });
  assert.deepEqual([ignore.causes, ignore.warnings], [[], []]);

  const stored = validator.prune(obj);
  assert.equal('foo' in stored.spec, false);
  assert.equal('imagePolicy' in stored.spec.template.spec.containers[0], false);
  assert.deepEqual(stored, deployment);
  assert.equal(obj.spec.foo, 1, 'prune leaves its argument alone');
});

test('names: namespaces are RFC 1123 labels, services DNS-1035 labels, most kinds subdomains, RBAC path segments', () => {
  const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tenant.a' } };
  assert.deepEqual(validator.validate(ns).causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: "tenant.a": must not contain dots', field: 'metadata.name' }]);
  ns.metadata.name = 'Tenant_A';
  assert.equal(causeAt(validator.validate(ns), 'metadata.name').message,
    "Invalid value: \"Tenant_A\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");

  const svc = clone(service);
  svc.metadata.name = '1-public';
  assert.equal(causeAt(validator.validate(svc), 'metadata.name').message,
    "Invalid value: \"1-public\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");

  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a'.repeat(64) + '.example', namespace: 'x' } };
  assert.deepEqual(validator.validate(cm).causes, [], 'dots and long names are fine in a subdomain');
  cm.metadata.name = 'Bad.Name';
  assert.match(causeAt(validator.validate(cm), 'metadata.name').message, /a lowercase RFC 1123 subdomain must consist of/);

  const r = clone(role);
  r.metadata.name = 'system:ops/reader';
  assert.deepEqual(validator.validate(r).causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: "system:ops/reader": may not contain \'/\'', field: 'metadata.name' }]);

  const unnamed = clone(pod);
  delete unnamed.metadata.name;
  assert.deepEqual(validator.validate(unnamed).causes, [
    { reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }]);
  unnamed.metadata.generateName = 'web-';
  assert.deepEqual(validator.validate(unnamed).causes, []);
});

test('label and annotation keys and values follow the qualified-name and label-value rules', () => {
  const obj = clone(pod);
  obj.metadata.labels = { 'example.com/ok': 'yes', 'a/b/c': 'x', app: 'not valid!' };
  obj.metadata.annotations = { 'Example.COM/Anything': 'free text is fine here' };
  const r = validator.validate(obj);
  assert.deepEqual(fields(r), ['metadata.labels', 'metadata.labels']);
  assert.match(r.causes[0].message, /^Invalid value: "a\/b\/c": a qualified name must consist of/);
  assert.match(r.causes[1].message, /^Invalid value: "not valid!": a valid label must be an empty string or consist of/);
});

test('semantic rules users meet: selector vs template labels, Service ports and type, Secret data', () => {
  const mismatch = clone(deployment);
  mismatch.spec.template.metadata.labels = { app: 'other' };
  assert.deepEqual(validator.validate(mismatch).causes, [{
    reason: 'FieldValueInvalid', field: 'spec.template.metadata.labels',
    message: 'Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`',
  }]);

  const svc = clone(service);
  svc.spec.type = 'Public';
  svc.spec.ports.push({ port: 443 });
  delete svc.spec.ports[0].port;
  assert.deepEqual(validator.validate(svc).causes, [
    { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports[0].port' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "Public": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"', field: 'spec.type' },
    { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports[0].name' },
    { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.ports[1].name' },
  ]);

  const s = clone(secret);
  s.data = { 'pass word': 'c2VjcmV0', token: 'not base64!' };
  const r = validator.validate(s);
  assert.deepEqual(fields(r).sort(), ['data[pass word]', 'data[token]']);
  assert.equal(validator.statusFor(r, s).message,
    'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3');
  const tls = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 't', namespace: 'a' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' } };
  assert.deepEqual(fields(validator.validate(tls)), ['data[tls.key]']);
});

test('NetworkPolicy and RBAC rules: policy types, peers, selector operators, role references, verbs', () => {
  const np = clone(networkPolicy);
  np.spec.policyTypes = ['Ingress', 'Both'];
  np.spec.ingress[0].from.push({});
  np.spec.podSelector.matchExpressions = [{ key: 'app', operator: 'Equals', values: ['x'] }];
  assert.deepEqual(validator.validate(np).causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: "Equals": not a valid selector operator', field: 'spec.podSelector.matchExpressions[0].operator' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "Both": supported values: "Ingress", "Egress"', field: 'spec.policyTypes[1]' },
    { reason: 'FieldValueRequired', message: 'Required value: must specify a peer', field: 'spec.ingress[0].from[1]' },
  ]);

  const b = clone(binding);
  b.roleRef.kind = 'Role';
  b.subjects[0].namespace = undefined;
  assert.deepEqual(fields(validator.validate(b)), ['roleRef.kind', 'subjects[0].namespace']);
  const r = clone(role);
  r.rules[0].verbs = [];
  assert.deepEqual(validator.validate(r).causes, [
    { reason: 'FieldValueRequired', message: 'Required value: verbs must contain at least one value', field: 'rules[0].verbs' }]);
  const noVerbs = clone(role);
  delete noVerbs.rules[0].verbs;
  assert.equal(causeAt(validator.validate(noVerbs), 'rules[0].verbs').reason, 'FieldValueRequired');
});

test('CNPG Cluster and barman-cloud ObjectStore from the seed validate against their CRDs', () => {
  assert.equal(validator.hasKind('postgresql.cnpg.io/v1', 'Cluster'), true);
  assert.equal(validator.hasKind('barmancloud.cnpg.io/v1', 'ObjectStore'), true);
  for (const obj of [cluster, objectStore]) assert.deepEqual(validator.validate(obj, { fieldValidation: 'Strict' }).causes, []);
  const scheduled = {
    apiVersion: 'postgresql.cnpg.io/v1', kind: 'ScheduledBackup', metadata: { name: 'pg-tenant-a-scheduled-backup', namespace: 'tenant-a' },
    spec: { schedule: '0 0 */12 * * *', backupOwnerReference: 'self', cluster: { name: 'pg-tenant-a' }, method: 'plugin',
      pluginConfiguration: { name: 'barman-cloud.cloudnative-pg.io' } },
  };
  assert.deepEqual(validator.validate(scheduled).causes, []);
});

test('a CNPG Cluster with an unknown field under spec is refused under Strict, naming the field', () => {
  const obj = clone(cluster);
  obj.spec.foo = 'bar';
  const r = validator.validate(obj, { fieldValidation: 'Strict' });
  assert.deepEqual(r.causes, [{ reason: 'FieldValueInvalid', message: 'unknown field "spec.foo"', field: 'spec.foo' }]);
  const status = validator.statusFor(r, obj, { fieldValidation: 'Strict' });
  assert.equal(status.code, 400);
  assert.equal(status.message, 'Cluster in version "v1" cannot be handled as a Cluster: strict decoding error: unknown field "spec.foo"');
  const warn = validator.validate(obj, { fieldValidation: 'Warn' });
  assert.deepEqual(warn.warnings, ['unknown field "spec.foo"']);
  assert.equal('foo' in validator.prune(obj).spec, false);
});

test('the seed\'s broken PITR Cluster is refused: plugins under postgresql, two bootstrap methods', () => {
  const pitr = clone(cluster);
  pitr.metadata.name = 'pg-tenant-a-restore';
  pitr.spec.bootstrap.recovery = { source: 'origin', recoveryTarget: { targetTime: '2025-11-27T08:42:38Z' } };
  pitr.spec.postgresql.plugins = pitr.spec.plugins;
  delete pitr.spec.plugins;
  pitr.spec.externalClusters = [{ name: 'origin', plugin: { name: 'barman-cloud.cloudnative-pg.io', parameters: { barmanObjectName: 'pg-tenant-a-store', serverName: 'pg-tenant-a' } } }];
  const r = validator.validate(pitr, { fieldValidation: 'Strict' });
  assert.deepEqual(r.causes, [
    { reason: 'FieldValueInvalid', message: 'unknown field "spec.postgresql.plugins"', field: 'spec.postgresql.plugins' },
    { reason: 'FieldValueInvalid', message: 'Invalid value: "": Too many bootstrap types specified', field: 'spec.bootstrap' },
  ]);
  // Even where unknown fields are only warned about, the operator's webhook still refuses two bootstraps.
  const warn = validator.validate(pitr, { fieldValidation: 'Warn' });
  assert.deepEqual(warn.warnings, ['unknown field "spec.postgresql.plugins"']);
  assert.equal(validator.statusFor(warn, pitr, { fieldValidation: 'Warn' }).message,
    'Cluster.postgresql.cnpg.io "pg-tenant-a-restore" is invalid: spec.bootstrap: Invalid value: "": Too many bootstrap types specified');
});

test('CRD schemas: types, minimum, enums, patterns and required fields answer like kube-openapi', () => {
  const obj = clone(cluster);
  obj.spec.instances = 0;
  obj.spec.primaryUpdateStrategy = 'sometimes';
  obj.spec.backup = { retentionPolicy: '7 days' };
  const r = validator.validate(obj);
  assert.deepEqual(r.causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: 0: spec.instances in body should be greater than or equal to 1', field: 'spec.instances' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "sometimes": supported values: "unsupervised", "supervised"', field: 'spec.primaryUpdateStrategy' },
    { reason: 'FieldValueInvalid', message: "Invalid value: \"7 days\": spec.backup.retentionPolicy in body should match '^[1-9][0-9]*[dwm]$'", field: 'spec.backup.retentionPolicy' },
  ]);
  const status = validator.statusFor(r, obj);
  assert.equal(status.code, 422);
  assert.deepEqual([status.details.group, status.details.kind, status.details.name], ['postgresql.cnpg.io', 'Cluster', 'pg-tenant-a']);

  const typed = clone(cluster);
  typed.spec.instances = '2';
  assert.deepEqual(validator.validate(typed).causes, [{
    reason: 'FieldValueTypeInvalid', field: 'spec.instances',
    message: 'Invalid value: "string": spec.instances in body must be of type integer: "string"',
  }]);
  assert.equal(validator.statusFor(validator.validate(typed), typed).code, 422, 'custom resources fail validation, not decoding');

  const store = clone(objectStore);
  delete store.spec.configuration.destinationPath;
  store.spec.configuration.wal.compression = 'rar';
  assert.deepEqual(fields(validator.validate(store)), ['spec.configuration.wal.compression', 'spec.configuration.destinationPath']);
  const noSpec = { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'x', namespace: 'a' }, spec: {} };
  assert.deepEqual(validator.validate(noSpec).causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.instances' }]);
});

test('CRD presence rules (x-kubernetes-validations) of the CNPG and barman-cloud CRDs are enforced', () => {
  const store = clone(objectStore);
  store.spec.configuration.serverName = 'pg-tenant-a';
  assert.deepEqual(validator.validate(store).causes, [{
    reason: 'FieldValueForbidden', field: 'spec.configuration.serverName',
    message: "Forbidden: use the 'serverName' plugin parameter in the Cluster resource",
  }]);
  const both = clone(cluster);
  both.spec.imageName = 'ghcr.io/cloudnative-pg/postgresql:16';
  both.spec.imageCatalogRef = { apiGroup: 'postgresql.cnpg.io', kind: 'ImageCatalog', name: 'pg', major: 16 };
  assert.deepEqual(validator.validate(both).causes, [{
    reason: 'FieldValueInvalid', field: 'spec', message: 'Invalid value: "object": imageName and imageCatalogRef are mutually exclusive',
  }]);
});

test('custom resources get ObjectMeta checks and subdomain names; removeCRD takes the kind away', () => {
  const obj = clone(objectStore);
  obj.metadata.name = 'PG_Store';
  obj.metadata.bogus = true;
  const r = validator.validate(obj, { fieldValidation: 'Strict' });
  assert.deepEqual(fields(r), ['metadata.bogus', 'metadata.name']);
  const v = new Validator();
  const crd = YAML.parse(fs.readFileSync(path.join(__dirname, '..', 'crds', 'barmancloud.cnpg.io_objectstores.yaml'), 'utf8'));
  v.addCRD(crd);
  assert.equal(v.hasKind('barmancloud.cnpg.io/v1', 'ObjectStore'), true);
  assert.equal(v.removeCRD('objectstores.barmancloud.cnpg.io'), true);
  assert.equal(v.hasKind('barmancloud.cnpg.io/v1', 'ObjectStore'), false);
  const unknownKind = v.validate(objectStore);
  assert.deepEqual(unknownKind.causes.map((c) => c.message), ['no matches for kind "ObjectStore" in version "barmancloud.cnpg.io/v1"']);
});

test('schemaFor exposes list types and map keys that server-side apply merges with', () => {
  const d = validator.schemaFor('apps/v1', 'Deployment');
  const containers = subSchema(d, 'spec.template.spec.containers');
  assert.equal(containers.listType, 'map');
  assert.deepEqual(containers.listMapKeys, ['name']);
  assert.deepEqual(subSchema(d, 'spec.template.spec.containers[].ports').listMapKeys, ['containerPort', 'protocol']);
  assert.equal(subSchema(d, 'spec.selector').mapType, 'atomic');
  assert.equal(subSchema(validator.schemaFor('postgresql.cnpg.io/v1', 'Cluster'), 'spec.instances').type, 'integer');
  assert.equal(validator.schemaFor('v1', 'Nope'), null);
});
