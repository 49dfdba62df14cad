'use strict';
// The lab's Kubernetes objects live only as long as its daemon, so a Cluster's data folder (DIR/cnpg/data) left by an
// earlier start belongs to no Cluster: `lab up` removes it, and a new Cluster of the same name (a second `make demo`,
// a test run again in the same build folder) starts on fresh data, never on the old one's with its old passwords.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { runLab, makeTempDir } = require('./helpers');

test('lab up removes Cluster data a previous start left behind', async (t) => {
  if (process.getuid && process.getuid() !== 0) { t.skip('the lab runs pods and needs root'); return; }
  const dir = makeTempDir();
  const left = path.join(dir, 'cnpg', 'data', 'tenant-a', 'pg-tenant-a', 'pg-tenant-a-1', 'pgdata');
  fs.mkdirSync(left, { recursive: true });
  fs.writeFileSync(path.join(left, 'PG_VERSION'), '15\n');
  try {
    const up = await runLab(['up', '--dir', dir, '--owner-pid', String(process.pid)]);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(!fs.existsSync(path.join(dir, 'cnpg', 'data', 'tenant-a')), 'the old Cluster data is gone');
  } finally {
    await runLab(['down', '--dir', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
