'use strict';
// Which kubectl the lab's tests drive and how new it is. The command is LAB_KUBECTL (a path) when set, else
// `kubectl` on PATH; its client version is read once per test process (`version --client -o json`). A test
// that drives kubectl starts with `if (!haveKubectl(t)) return;` (or `haveKubectl(t, {minor: 25, feature})`):
// with no kubectl, or one older than the feature needs, the test is reported as skipped with the reason.
// Versions before 1.20 (Debian's kubernetes-client, the oldest the project installs) are not considered.
// Not a kubectl wrapper: callers run KUBECTL themselves, with their own kubeconfig and cache directory.

const { spawnSync } = require('child_process');

const KUBECTL = process.env.LAB_KUBECTL || 'kubectl';

// Parses the output of `kubectl version --client -o json`; returns {major, minor, gitVersion} or null.
// Some builds say minor "32+"; the numbers are also in gitVersion ("v1.32.4-dispatcher").
function parseClientVersion(text) {
  let info;
  try { info = JSON.parse(text).clientVersion; } catch { return null; }
  if (!info) return null;
  const fromGit = /^v(\d+)\.(\d+)/.exec(info.gitVersion || '') || [];
  const major = parseInt(info.major, 10) || parseInt(fromGit[1], 10);
  const minor = parseInt(info.minor, 10) || parseInt(fromGit[2], 10);
  if (!Number.isInteger(major) || !Number.isInteger(minor)) return null;
  return { major, minor, gitVersion: info.gitVersion || `v${major}.${minor}` };
}

// Runs `command version --client -o json`. Returns {present: true, major, minor, gitVersion}, {present: false,
// reason} when the command does not exist, or {present: false, broken: reason} when it exists but does not
// answer with a version (a broken kubectl is a failure to notice, not a reason to skip).
function readClient(command = KUBECTL) {
  const run = spawnSync(command, ['version', '--client', '-o', 'json'], { encoding: 'utf8', timeout: 20000 });
  if (run.error && run.error.code === 'ENOENT') {
    return { present: false, reason: `no kubectl: "${command}" was not found (install one, or set LAB_KUBECTL to its path)` };
  }
  if (run.error) return { present: false, broken: `"${command} version --client -o json" failed: ${run.error.message}` };
  const version = run.status === 0 ? parseClientVersion(run.stdout) : null;
  if (!version) {
    return { present: false, broken: `"${command} version --client -o json" gave no client version (exit ${run.status}): ${run.stderr.trim() || run.stdout.trim()}` };
  }
  return { present: true, ...version };
}

let client;
// The client this process's tests drive (read on first use).
function kubectlClient() {
  if (!client) client = readClient();
  return client;
}

const atLeast = (c, major, minor) => c.major > major || (c.major === major && c.minor >= minor);

// Why a test cannot drive `client` (a readClient() result): null when it can. `minor` (with `feature`, what
// needs it) asks for kubectl >= 1.<minor>. Throws if kubectl is there but broken.
function skipReason(client, { minor, feature } = {}) {
  if (client.broken) throw new Error(client.broken);
  if (!client.present) return client.reason;
  if (minor !== undefined && !atLeast(client, 1, minor)) {
    return `needs kubectl >= 1.${minor} for ${feature}; this is ${client.major}.${client.minor}`;
  }
  return null;
}

// True when test `t` may go on driving kubectl; otherwise marks `t` skipped with the reason (skipReason above)
// and returns false.
function haveKubectl(t, need = {}) {
  const reason = skipReason(kubectlClient(), need);
  if (reason === null) return true;
  t.skip(reason);
  return false;
}

module.exports = { KUBECTL, kubectlClient, haveKubectl, skipReason, parseClientVersion, readClient };
