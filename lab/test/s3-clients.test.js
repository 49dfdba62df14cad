'use strict';
// The lab's Spaces endpoint with the real clients alaris and its users rely on: s3cmd, boto3 (directly and
// through barman-cloud-wal-archive) and presigned URLs fetched with plain fetch. Each must work with a right
// key and be refused (403) with a wrong secret. Runs a whole lab (`lab up`) in a temporary directory.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { execFile } = require('child_process');
const { startLab, makeTempDir, admin } = require('./helpers');
const { KeyStore } = require('../lib/s3/keys');

function run(cmd, args, { env = {}, input, timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...env }, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

// Runs a Python snippet with boto3; secrets travel in the environment, never on argv.
function python(code, env) {
  return run('python3', ['-c', code], { env });
}

const BOTO = `
import os, sys, boto3, botocore
def client(region=None):
    return boto3.client('s3', endpoint_url=os.environ['EP'], aws_access_key_id=os.environ['AK'],
        aws_secret_access_key=os.environ['SK'], region_name=region or os.environ.get('REGION', 'nyc3'),
        config=botocore.config.Config(retries={'max_attempts': 1}))
`;

test('real S3 clients against the lab', async (t) => {
  const lab = await startLab();
  t.after(() => lab.stop());
  const { env } = lab;
  const endpoint = env.SPACES_ENDPOINT;
  const hostPort = endpoint.replace(/^http:\/\//, '');
  const work = makeTempDir('alaris-s3-clients-');
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));

  const s3cmdConfig = (name, accessKey, secretKey) => {
    const file = path.join(work, name);
    fs.writeFileSync(file, ['[default]', `access_key = ${accessKey}`, `secret_key = ${secretKey}`,
      `host_base = ${hostPort}`, `host_bucket = ${hostPort}`, 'use_https = False', 'bucket_location = nyc3',
      'signature_v2 = False', ''].join('\n'), { mode: 0o600 });
    return file;
  };
  const good = s3cmdConfig('good.cfg', env.SPACES_ACCESS_KEY_ID, env.SPACES_SECRET_ACCESS_KEY);
  const bad = s3cmdConfig('bad.cfg', env.SPACES_ACCESS_KEY_ID, 'not-the-secret');
  const s3cmd = (cfg, ...args) => run('s3cmd', ['-c', cfg, ...args]);
  const root = { EP: endpoint, AK: env.SPACES_ACCESS_KEY_ID, SK: env.SPACES_SECRET_ACCESS_KEY };

  await t.test('s3cmd makes a bucket, puts, lists and gets with the right key', async () => {
    const mb = await s3cmd(good, 'mb', 's3://tenant-a');
    assert.strictEqual(mb.code, 0, mb.stderr);
    const local = path.join(work, 'hello.txt');
    fs.writeFileSync(local, 'hello from s3cmd\n');
    const put = await s3cmd(good, 'put', local, 's3://tenant-a/dir/hello world.txt');
    assert.strictEqual(put.code, 0, put.stderr);
    const ls = await s3cmd(good, 'ls', '-r', 's3://tenant-a');
    assert.strictEqual(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /17\s+s3:\/\/tenant-a\/dir\/hello world\.txt/);
    const back = path.join(work, 'back.txt');
    const get = await s3cmd(good, 'get', '--force', 's3://tenant-a/dir/hello world.txt', back);
    assert.strictEqual(get.code, 0, get.stderr);
    assert.strictEqual(fs.readFileSync(back, 'utf8'), 'hello from s3cmd\n');
  });

  await t.test('s3cmd with a wrong secret is refused with 403 SignatureDoesNotMatch', async () => {
    const ls = await s3cmd(bad, 'ls', 's3://tenant-a');
    assert.notStrictEqual(ls.code, 0);
    assert.match(ls.stderr, /403 \(SignatureDoesNotMatch\)/);
    const put = await s3cmd(bad, 'put', path.join(work, 'hello.txt'), 's3://tenant-a/sneaky.txt');
    assert.notStrictEqual(put.code, 0);
    const ls2 = await s3cmd(good, 'ls', 's3://tenant-a/');
    assert.doesNotMatch(ls2.stdout, /sneaky/);
  });

  await t.test('s3cmd with a read-only key can read but not write', async () => {
    const key = new KeyStore(lab.dir).create({ name: 'reader', grants: [{ bucket: 'tenant-a', permission: 'read' }] });
    const cfg = s3cmdConfig('reader.cfg', key.access_key, key.secret_key);
    const ls = await s3cmd(cfg, 'ls', '-r', 's3://tenant-a');
    assert.strictEqual(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /hello world\.txt/);
    const put = await s3cmd(cfg, 'put', path.join(work, 'hello.txt'), 's3://tenant-a/other.txt');
    assert.notStrictEqual(put.code, 0);
    assert.match(put.stderr, /403 \(AccessDenied\)/);
  });

  await t.test('barman-cloud-wal-archive -t (boto3) connects with the right key and fails with a wrong secret', async () => {
    const wal = path.join(work, '000000010000000000000001');
    const args = ['-t', '--endpoint-url', endpoint, 's3://tenant-a/backups/t1', 'pg-t1', wal];
    const awsEnv = (secret) => ({ AWS_ACCESS_KEY_ID: env.SPACES_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: env.SPACES_REGION });
    const ok = await run('barman-cloud-wal-archive', args, { env: awsEnv(env.SPACES_SECRET_ACCESS_KEY) });
    assert.strictEqual(ok.code, 0, ok.stderr);
    const refused = await run('barman-cloud-wal-archive', args, { env: awsEnv('wrong-secret') });
    assert.notStrictEqual(refused.code, 0);
    assert.match(refused.stderr, /403|Forbidden/);
  });

  await t.test('barman-cloud-wal-archive uploads a WAL segment the lab stores', async () => {
    const wal = path.join(work, '000000010000000000000002');
    fs.writeFileSync(wal, Buffer.alloc(1024 * 1024, 7));
    const res = await run('barman-cloud-wal-archive', ['-z', '--endpoint-url', endpoint, 's3://tenant-a/backups/t1', 'pg-t1', wal], {
      env: { AWS_ACCESS_KEY_ID: env.SPACES_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.SPACES_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION: 'nyc3' } });
    assert.strictEqual(res.code, 0, res.stderr);
    const ls = await s3cmd(good, 'ls', '-r', 's3://tenant-a/backups/');
    assert.match(ls.stdout, /s3:\/\/tenant-a\/backups\/t1\/pg-t1\/wals\/0000000100000000\/000000010000000000000002\.gz/);
  });

  await t.test('boto3 works signing for nyc3 and for us-east-1, and not with a wrong secret', async () => {
    const code = `${BOTO}
for region in ('nyc3', 'us-east-1'):
    c = client(region)
    c.put_object(Bucket='tenant-a', Key='boto/' + region, Body=b'signed for ' + region.encode())
    print(c.get_object(Bucket='tenant-a', Key='boto/' + region)['Body'].read().decode())
`;
    const ok = await python(code, root);
    assert.strictEqual(ok.code, 0, ok.stderr);
    assert.strictEqual(ok.stdout, 'signed for nyc3\nsigned for us-east-1\n');
    const multipart = await python(`${BOTO}
import io, hashlib
from boto3.s3.transfer import TransferConfig
data = bytes(range(256)) * (12 * 4096)
cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=3)
c = client()
c.upload_fileobj(io.BytesIO(data), 'tenant-a', 'boto/multipart', Config=cfg)
head = c.head_object(Bucket='tenant-a', Key='boto/multipart')
back = c.get_object(Bucket='tenant-a', Key='boto/multipart')['Body'].read()
print(head['ContentLength'], hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest())
`, root);
    assert.strictEqual(multipart.stdout.trim(), `${12 * 1024 * 1024} True`, multipart.stderr);
    const log = (await admin(env, 'GET', '/requests?target=s3&method=PUT')).body.requests;
    const parts = log.filter((r) => r.path === '/tenant-a/boto/multipart' && /[?&]partNumber=\d+/.test(r.url));
    assert.strictEqual(parts.length, 3, 'uploaded as three parts');
    assert.ok(parts.every((r) => r.status === 200));
    const wrong = await python(`${BOTO}
try:
    client().list_objects_v2(Bucket='tenant-a')
except botocore.exceptions.ClientError as e:
    print(e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code'])
`, { ...root, SK: 'wrong' });
    assert.strictEqual(wrong.stdout.trim(), '403 SignatureDoesNotMatch', wrong.stderr);
  });

  await t.test('a presigned GET made by boto3 is fetched by plain fetch; tampered or expired is refused', async () => {
    const presign = async (expires) => {
      const r = await python(`${BOTO}
print(client().generate_presigned_url('get_object', Params={'Bucket': 'tenant-a', 'Key': 'dir/hello world.txt'}, ExpiresIn=${expires}))
`, root);
      assert.strictEqual(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const url = await presign(300);
    assert.match(url, /X-Amz-Signature=/);
    const res = await fetch(url);
    assert.strictEqual(res.status, 200);
    assert.strictEqual(await res.text(), 'hello from s3cmd\n');

    const tampered = await fetch(url.replace('hello%20world', 'hello%20World'));
    assert.strictEqual(tampered.status, 403);
    assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);

    const short = await presign(1);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await fetch(short);
    assert.strictEqual(expired.status, 403);
    const body = await expired.text();
    assert.match(body, /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  });
});
