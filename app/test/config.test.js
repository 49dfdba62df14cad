'use strict';
// Configuration from the environment: the defaults, and each missing or malformed variable stopping the app
// before it listens, with exit code 2 and one line naming the variable (never quoting the password).

const test = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { spawn } = require('child_process');
const { loadConfig } = require('../lib/config');
const { APP_DIR } = require('./helpers');

const PASSWORD = 'pw-7c1e-do-not-print';
const VALID = {
  TENANT_NAME: 'tenant-a',
  DB_HOST: 'pg-tenant-a-rw',
  DB_NAME: 'app',
  DB_USER: 'app',
  DB_PASSWORD: PASSWORD,
};

// Runs server.js with `env`; resolves {code, stdout, stderr}; kills it after 20 s (it should not listen).
function run(env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(APP_DIR, 'server.js')], { env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('defaults for everything but the tenant and the database', () => {
  const config = loadConfig(VALID);
  assert.deepStrictEqual(
    [config.tenant, config.address, config.publicPort, config.internalPort],
    ['tenant-a', '0.0.0.0', 8080, 9090]);
  assert.deepStrictEqual(config.db, {
    host: 'pg-tenant-a-rw', port: 5432, name: 'app', user: 'app', password: PASSWORD, sslMode: 'prefer', timeoutMs: 2000,
  });
  const set = loadConfig({ ...VALID, POD_IP: '10.244.0.7', PUBLIC_PORT: '8000', INTERNAL_PORT: '9000', DB_PORT: '6432',
    DB_SSLMODE: 'require', DB_TIMEOUT_MS: '500' });
  assert.deepStrictEqual([set.address, set.publicPort, set.internalPort, set.db.port, set.db.sslMode, set.db.timeoutMs],
    ['10.244.0.7', 8000, 9000, 6432, 'require', 500]);
});

const BAD = [
  ['TENANT_NAME', undefined],
  ['TENANT_NAME', 'Tenant A'],
  ['POD_IP', 'pod.local'],
  ['PUBLIC_PORT', '80a'],
  ['PUBLIC_PORT', '0'],
  ['INTERNAL_PORT', '65536'],
  ['INTERNAL_PORT', '8080'], // the same as PUBLIC_PORT's default
  ['DB_HOST', undefined],
  ['DB_HOST', 'pg host'],
  ['DB_PORT', '-1'],
  ['DB_NAME', ''],
  ['DB_USER', 'u'.repeat(64)],
  ['DB_PASSWORD', undefined],
  ['DB_SSLMODE', 'verify-full'],
  ['DB_TIMEOUT_MS', '2s'],
];

test('a missing or malformed variable: one line naming it, exit 2, nothing listens', async () => {
  const results = [];
  for (let i = 0; i < BAD.length; i += 4) {
    const batch = BAD.slice(i, i + 4).map(([name, value]) => run({ ...VALID, [name]: value }));
    results.push(...await Promise.all(batch));
  }
  BAD.forEach(([name, value], i) => {
    const { code, stdout, stderr } = results[i];
    const what = `${name}=${JSON.stringify(value)}`;
    assert.strictEqual(code, 2, `${what}: exit ${code}, ${stderr}`);
    assert.strictEqual(stdout, '', `${what}: it wrote ${stdout}`);
    const lines = stderr.trim().split('\n');
    assert.strictEqual(lines.length, 1, `${what}: ${stderr}`);
    const line = JSON.parse(lines[0]);
    assert.strictEqual(line.variable, name);
    assert.ok(line.msg.includes(name), `${what}: ${line.msg}`);
    assert.ok(!stderr.includes(PASSWORD), `${what}: the password is in ${stderr}`);
  });
});

test('a malformed variable never quotes the password, wherever it sits', async () => {
  // The password put where a malformed value is quoted back: the message masks it.
  const { code, stderr } = await run({ ...VALID, DB_PORT: PASSWORD });
  assert.strictEqual(code, 2);
  assert.match(stderr, /DB_PORT must be a port number/);
  assert.match(stderr, /\[redacted\]/);
  assert.ok(!stderr.includes(PASSWORD));
});
