'use strict';
// The image's Dockerfile, checked without a container engine: every COPY source exists in the build context
// (this folder) and is not excluded by .dockerignore, the files the app loads are all copied, the runtime stage
// is Node 20 and runs as a non-root user, both ports are exposed, and nothing secret is set in the image.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { APP_DIR } = require('./helpers');

// The Dockerfile's instructions: [{keyword, args (string)}], comments dropped, continuation lines joined.
function instructions(text) {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(l);
      return { keyword: keyword.toUpperCase(), args };
    });
}

// A COPY's sources and flags: the JSON form or the plain one; the last word is the destination.
function copyArgs(args) {
  const words = args.startsWith('[') ? JSON.parse(args) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const rest = words.filter((w) => !w.startsWith('--'));
  return { flags, sources: rest.slice(0, -1), destination: rest[rest.length - 1] };
}

const dockerfile = instructions(fs.readFileSync(path.join(APP_DIR, 'Dockerfile'), 'utf8'));
const stages = dockerfile.filter((i) => i.keyword === 'FROM');
const runtime = dockerfile.slice(dockerfile.lastIndexOf(stages[stages.length - 1]));
const ignored = fs.readFileSync(path.join(APP_DIR, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const copiesFromContext = dockerfile.filter((i) => i.keyword === 'COPY').map((i) => copyArgs(i.args))
  .filter((c) => !c.flags.some((f) => f.startsWith('--from=')));

test('every COPY source from the build context exists and is not ignored', () => {
  assert.ok(copiesFromContext.length > 0);
  for (const { sources } of copiesFromContext) {
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.ok(fs.existsSync(path.join(APP_DIR, source)), `COPY names ${source}, which does not exist`);
      assert.ok(!ignored.includes(source.replace(/\/$/, '')), `COPY names ${source}, which .dockerignore excludes`);
    }
  }
});

// The files the app loads from this folder, following relative require() calls from server.js.
function localModules(file, seen = new Set()) {
  seen.add(path.relative(APP_DIR, file));
  for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/require\('(\.{1,2}\/[^']+)'\)/g)) {
    const target = require.resolve(path.resolve(path.dirname(file), spec));
    if (!seen.has(path.relative(APP_DIR, target))) localModules(target, seen);
  }
  return seen;
}

test('the runtime stage copies every file the app loads, and package.json', () => {
  const copied = runtime.filter((i) => i.keyword === 'COPY').flatMap((i) => copyArgs(i.args).sources)
    .map((s) => s.replace(/\/$/, ''));
  const needed = [...localModules(path.join(APP_DIR, 'server.js')), 'package.json'];
  assert.ok(needed.includes(path.join('lib', 'config.js')), needed.join(' '));
  for (const file of needed) {
    assert.ok(copied.some((s) => file === s || file.startsWith(`${s}/`)), `${file} is not copied into the image`);
  }
});

test('multi-stage: npm ci --omit=dev in a build stage, a slim Node 20 runtime, node_modules from the build', () => {
  assert.ok(stages.length >= 2, 'one FROM only');
  const build = dockerfile.slice(0, dockerfile.indexOf(stages[stages.length - 1]));
  assert.ok(build.some((i) => i.keyword === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)));
  assert.match(stages[stages.length - 1].args, /^node:20[-.\w]*slim\b/);
  assert.ok(runtime.some((i) => i.keyword === 'COPY' && /--from=\S+/.test(i.args) && /node_modules/.test(i.args)));
  assert.ok(!runtime.some((i) => i.keyword === 'RUN' && /npm (ci|install)/.test(i.args)), 'npm runs in the runtime');
});

test('runs as a non-root user, exposes 8080 and 9090, starts server.js, bakes in no secret', () => {
  const users = runtime.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
  assert.ok(users.length > 0, 'no USER');
  assert.ok(!['root', '0'].includes(users[users.length - 1]), `runs as ${users[users.length - 1]}`);
  const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  assert.deepStrictEqual(exposed.sort(), ['8080', '9090']);
  const cmd = runtime.filter((i) => i.keyword === 'CMD').pop();
  assert.deepStrictEqual(JSON.parse(cmd.args), ['node', 'server.js']);
  for (const i of dockerfile.filter((d) => ['ENV', 'ARG', 'LABEL'].includes(d.keyword))) {
    assert.doesNotMatch(i.args, /PASSWORD|SECRET|TOKEN|KEY/i, `${i.keyword} ${i.args}`);
  }
});
