#!/usr/bin/env node
// Copies the parts of DigitalOcean's split OpenAPI description that the lab's DO API uses.
// Usage: node copy-spec.js UPSTREAM_SPECIFICATION_DIR
// It copies the entry file unmodified plus every file reachable through relative $refs from the
// operations listed in PATHS below, keeping the relative layout. It does not follow code samples
// (x-codeSamples) or examples, so those $refs stay dangling in the copy; nothing resolves them.
'use strict';
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');

const ENTRY = 'DigitalOcean-public.v2.yaml';
const PATHS = [
  '/v2/account',
  '/v2/kubernetes/clusters', '/v2/kubernetes/clusters/{cluster_id}',
  '/v2/kubernetes/clusters/{cluster_id}/kubeconfig', '/v2/kubernetes/clusters/{cluster_id}/credentials',
  '/v2/kubernetes/clusters/{cluster_id}/node_pools', '/v2/kubernetes/clusters/{cluster_id}/node_pools/{node_pool_id}',
  '/v2/kubernetes/options',
  '/v2/registry', '/v2/registry/docker-credentials',
  '/v2/projects', '/v2/projects/default', '/v2/projects/{project_id}', '/v2/projects/{project_id}/resources',
  '/v2/projects/default/resources',
  '/v2/volumes', '/v2/volumes/{volume_id}',
  '/v2/spaces/keys', '/v2/spaces/keys/{access_key}',
];
const SKIPPED_KEYS = new Set(['x-codeSamples', 'examples', 'example']);

function collectRefs(node, out) {
  if (Array.isArray(node)) { node.forEach((n) => collectRefs(n, out)); return; }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    if (SKIPPED_KEYS.has(key)) continue;
    if (key === '$ref' && typeof value === 'string') out.push(value);
    else collectRefs(value, out);
  }
}

function copyClosure(srcRoot, dstRoot, startFiles) {
  const seen = new Set();
  const queue = [...startFiles];
  while (queue.length) {
    const rel = queue.shift();
    if (seen.has(rel)) continue;
    seen.add(rel);
    const text = fs.readFileSync(path.join(srcRoot, rel), 'utf8');
    fs.mkdirSync(path.dirname(path.join(dstRoot, rel)), { recursive: true });
    fs.writeFileSync(path.join(dstRoot, rel), text);
    const refs = [];
    collectRefs(YAML.parse(text), refs);
    for (const ref of refs) {
      const file = ref.split('#')[0];
      if (file) queue.push(path.normalize(path.join(path.dirname(rel), file)));
    }
  }
  return [...seen].sort();
}

function main() {
  const srcRoot = process.argv[2];
  if (!srcRoot) { console.error('usage: copy-spec.js UPSTREAM_SPECIFICATION_DIR'); process.exit(2); }
  const dstRoot = path.join(__dirname, 'specification');
  const entry = YAML.parse(fs.readFileSync(path.join(srcRoot, ENTRY), 'utf8'));
  const opFiles = [];
  for (const p of PATHS) {
    const item = entry.paths[p];
    if (!item) throw new Error(`path ${p} not in ${ENTRY}`);
    for (const op of Object.values(item)) if (op.$ref) opFiles.push(op.$ref);
  }
  fs.mkdirSync(dstRoot, { recursive: true });
  fs.copyFileSync(path.join(srcRoot, ENTRY), path.join(dstRoot, ENTRY));
  const copied = copyClosure(srcRoot, dstRoot, opFiles);
  console.log(`${ENTRY}\n${copied.join('\n')}`);
}

main();
