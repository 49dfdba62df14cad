'use strict';
// The kubectl version helper of the lab's tests (./kubectl.js): it reads the client version from
// `version --client -o json` of the command it is given (fake kubectl scripts in a temporary directory here),
// tells a missing kubectl from a broken one, and gives the skip reason a too-old client gets.
// Does not run the real kubectl: the kubectl test files do.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseClientVersion, readClient, skipReason } = require('./kubectl');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alaris-kubectl-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// A fake kubectl: a shell script that answers `version --client -o json` with `json`, or exits `exitCode`.
function fakeKubectl(name, { json, exitCode = 0 }) {
  const file = path.join(dir, name);
  const answer = json === undefined ? '' : `printf '%s\\n' '${JSON.stringify(json)}'`;
  fs.writeFileSync(file, `#!/bin/sh\n[ "$*" = "version --client -o json" ] || exit 3\n${answer}\nexit ${exitCode}\n`, { mode: 0o755 });
  return file;
}

test('client versions as kubectl prints them: Debian 1.20, a "32+" minor, only a gitVersion', () => {
  assert.deepEqual(parseClientVersion('{"clientVersion":{"major":"1","minor":"20","gitVersion":"v1.20.2"}}'),
    { major: 1, minor: 20, gitVersion: 'v1.20.2' });
  assert.deepEqual(parseClientVersion('{"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.4-dispatcher"},"kustomizeVersion":"v5.5.0"}'),
    { major: 1, minor: 32, gitVersion: 'v1.32.4-dispatcher' });
  assert.deepEqual(parseClientVersion('{"clientVersion":{"major":"","minor":"","gitVersion":"v1.29.0"}}'),
    { major: 1, minor: 29, gitVersion: 'v1.29.0' });
  assert.equal(parseClientVersion('Client Version: v1.20.2'), null);
  assert.equal(parseClientVersion('{"serverVersion":{}}'), null);
});

test('readClient asks the given command for its version', () => {
  const old = readClient(fakeKubectl('kubectl-old', { json: { clientVersion: { major: '1', minor: '20' } } }));
  assert.deepEqual(old, { present: true, major: 1, minor: 20, gitVersion: 'v1.20' });
  const modern = readClient(fakeKubectl('kubectl-new', { json: { clientVersion: { major: '1', minor: '32+', gitVersion: 'v1.32.4' } } }));
  assert.equal(modern.minor, 32);
});

test('a missing kubectl is a skip reason that names it; a broken one throws instead', () => {
  const missing = readClient(path.join(dir, 'no-such-kubectl'));
  assert.equal(missing.present, false);
  assert.match(skipReason(missing), /no kubectl: ".*no-such-kubectl" was not found \(install one, or set LAB_KUBECTL to its path\)/);

  const failing = readClient(fakeKubectl('kubectl-failing', { exitCode: 1 }));
  assert.equal(failing.present, false);
  assert.throws(() => skipReason(failing), /gave no client version \(exit 1\)/);
  const garbled = readClient(fakeKubectl('kubectl-garbled', { json: 'not a version' }));
  assert.throws(() => skipReason(garbled), /gave no client version \(exit 0\)/);
});

test('a client older than a feature needs gets the reason; newer and equal ones do not', () => {
  const need = { minor: 25, feature: '--validate=strict' };
  assert.equal(skipReason({ present: true, major: 1, minor: 20 }, need), 'needs kubectl >= 1.25 for --validate=strict; this is 1.20');
  assert.equal(skipReason({ present: true, major: 1, minor: 24 }, need), 'needs kubectl >= 1.25 for --validate=strict; this is 1.24');
  assert.equal(skipReason({ present: true, major: 1, minor: 25 }, need), null);
  assert.equal(skipReason({ present: true, major: 1, minor: 32 }, need), null);
  assert.equal(skipReason({ present: true, major: 2, minor: 0 }, need), null);
  assert.equal(skipReason({ present: true, major: 1, minor: 20 }), null, 'no feature asked: any kubectl will do');
});
