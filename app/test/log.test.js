'use strict';
// The log lines: JSON, on the right stream, with the secrets masked in their plain and JSON-escaped forms.

const test = require('node:test');
const assert = require('node:assert');
const { createLogger, REDACTED } = require('../lib/log');

function capture() {
  const lines = [];
  return { lines, write: (s) => lines.push(s) };
}

test('requests go to stdout, errors to stderr, one JSON line each', () => {
  const stdout = capture();
  const stderr = capture();
  const log = createLogger({ stdout, stderr, secrets: ['s3cret'] });
  log.request({ method: 'GET', path: '/health', status: 200, duration_ms: 1.5 });
  log.error('database query failed', { error: 'boom' });
  assert.strictEqual(stdout.lines.length, 1);
  assert.strictEqual(stderr.lines.length, 1);
  assert.ok(stdout.lines[0].endsWith('\n') && !stdout.lines[0].slice(0, -1).includes('\n'));
  const req = JSON.parse(stdout.lines[0]);
  assert.deepStrictEqual([req.method, req.path, req.status, req.duration_ms], ['GET', '/health', 200, 1.5]);
  assert.ok(!Number.isNaN(Date.parse(req.time)));
  assert.strictEqual(JSON.parse(stderr.lines[0]).error, 'boom');
});

test('a secret is masked, also where JSON escaping changed it', () => {
  const secret = 'pa"ss\\word\n1';
  const stderr = capture();
  const log = createLogger({ stdout: capture(), stderr, secrets: [secret, ''] });
  log.error(`failed with ${secret}`, { error: `again ${secret}` });
  const line = JSON.parse(stderr.lines[0]);
  assert.strictEqual(line.msg, `failed with ${REDACTED}`);
  assert.strictEqual(line.error, `again ${REDACTED}`);
  assert.strictEqual(log.redact(`x${secret}y`), `x${REDACTED}y`);
});

test('with no secret, nothing is masked', () => {
  const log = createLogger({ stdout: capture(), stderr: capture(), secrets: [undefined, ''] });
  assert.strictEqual(log.redact('nothing to hide'), 'nothing to hide');
});
