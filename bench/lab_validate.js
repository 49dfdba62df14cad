// The lab's schema validation cost per object (a Deployment and a Service validated against the vendored OpenAPI),
// against a JSON round trip of the same object (the copy every request makes anyway), in one process.
// Run: node bench/lab_validate.js [N]   (after npm ci in lab/)
'use strict';
const { Validator } = require('../lab/lib/k8s/validate');

const objects = [
  { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'bench', labels: { app: 'web' } },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'registry.example/web:1', ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/health', port: 8080 } } }] } } } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'bench' },
    spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
];

function msPerObject(n, fn) {
  for (let i = 0; i < 50; i++) objects.forEach(fn); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) objects.forEach(fn);
  return Number(process.hrtime.bigint() - start) / 1e6 / (n * objects.length);
}

const n = Number(process.argv[2] || 2000);
const validator = new Validator();
const validate = msPerObject(n, (o) => validator.validate(o));
const copy = msPerObject(n, (o) => JSON.parse(JSON.stringify(o)));
console.log(`validate ${validate.toFixed(4)} ms/object, JSON round trip ${copy.toFixed(4)} ms/object, ratio ${(validate / copy).toFixed(1)}`);
