'use strict';
// Protocol details of the lab's Spaces front that the stock clients do not exercise: S3 XML errors
// (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, skew, wrong region), per-key grants
// (read/readwrite/fullaccess), payload hash checks, aws-chunked uploads with chunk signatures,
// virtual-host-style addressing, and ListObjectsV2 paging past 1,000 keys. Runs a whole lab in a temp dir.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFile } = require('child_process');
const { startLab, admin, httpRequest, signHeaders, awsChunkedBody, sha256 } = require('./helpers');
const { KeyStore } = require('../lib/s3/keys');

function errorCode(body) {
  const m = /<Error><Code>([^<]+)<\/Code><Message>([^<]*)<\/Message>.*<RequestId>[^<]+<\/RequestId><\/Error>$/s.exec(body);
  return m ? { code: m[1], message: m[2] } : null;
}

test('the Spaces front', async (t) => {
  const lab = await startLab();
  t.after(() => lab.stop());
  const endpoint = lab.env.SPACES_ENDPOINT;
  const port = new URL(endpoint).port;
  const root = { accessKey: lab.env.SPACES_ACCESS_KEY_ID, secretKey: lab.env.SPACES_SECRET_ACCESS_KEY };
  const keys = new KeyStore(lab.dir);

  // A signed request; `opts` may override method, body, headers, key, region, date, payloadHash, host.
  const s3 = (urlPath, opts = {}) => {
    const method = opts.method || 'GET';
    const body = opts.body === undefined ? '' : opts.body;
    const url = endpoint + urlPath;
    const { headers } = signHeaders({ method, url, body, headers: opts.headers, region: opts.region, date: opts.date,
      payloadHash: opts.payloadHash, host: opts.host, ...(opts.key || root) });
    return httpRequest({ method, url, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body });
  };

  await t.test('the root key creates buckets and objects', async () => {
    assert.strictEqual((await s3('/front-a', { method: 'PUT' })).status, 200);
    assert.strictEqual((await s3('/front-b', { method: 'PUT' })).status, 200);
    assert.strictEqual((await s3('/front-a/k1', { method: 'PUT', body: 'one' })).status, 200);
    const got = await s3('/front-a/k1');
    assert.strictEqual(got.status, 200);
    assert.strictEqual(got.body, 'one');
  });

  await t.test('errors are S3 XML: anonymous, unknown key, wrong secret', async () => {
    const anonymous = await httpRequest({ url: `${endpoint}/front-a/k1` });
    assert.strictEqual(anonymous.status, 403);
    assert.match(anonymous.headers['content-type'], /application\/xml/);
    assert.ok(anonymous.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
    assert.deepStrictEqual(errorCode(anonymous.body), { code: 'AccessDenied', message: 'Access Denied' });

    const unknown = await s3('/front-a/k1', { key: { accessKey: 'DO00NOSUCHKEY0000000', secretKey: 'x' } });
    assert.strictEqual(unknown.status, 403);
    assert.strictEqual(errorCode(unknown.body).code, 'InvalidAccessKeyId');

    const wrong = await s3('/front-a/k1', { key: { accessKey: root.accessKey, secretKey: 'wrong' } });
    assert.strictEqual(wrong.status, 403);
    assert.strictEqual(errorCode(wrong.body).code, 'SignatureDoesNotMatch');
    assert.match(wrong.body, /<CanonicalRequest>GET\n\/front-a\/k1\n/);
  });

  await t.test('a request signed 20 minutes ago is refused as skewed; a wrong region is malformed', async () => {
    const skewed = await s3('/front-a/k1', { date: new Date(Date.now() - 20 * 60 * 1000) });
    assert.strictEqual(skewed.status, 403);
    assert.strictEqual(errorCode(skewed.body).code, 'RequestTimeTooSkewed');
    const region = await s3('/front-a/k1', { region: 'eu-west-9' });
    assert.strictEqual(region.status, 400);
    assert.strictEqual(errorCode(region.body).code, 'AuthorizationHeaderMalformed');
    assert.match(region.body, /<Region>nyc3<\/Region>/, 'the error names the right region (s3cmd retries with it)');
    assert.strictEqual((await s3('/front-a/k1', { region: 'us-east-1' })).status, 200);
  });

  await t.test('grants: read, readwrite and fullaccess allow what they say and nothing more', async () => {
    const reader = keys.create({ name: 'reader', grants: [{ bucket: 'front-a', permission: 'read' }] });
    const writer = keys.create({ name: 'writer', grants: [{ bucket: 'front-a', permission: 'readwrite' }] });
    const owner = keys.create({ name: 'owner', grants: [{ bucket: 'front-c', permission: 'fullaccess' }] });
    const as = (k) => ({ accessKey: k.access_key, secretKey: k.secret_key });
    const denied = (res) => res.status === 403 && errorCode(res.body).code === 'AccessDenied';

    assert.strictEqual((await s3('/front-a/k1', { key: as(reader) })).body, 'one');
    assert.strictEqual((await s3('/front-a?list-type=2', { key: as(reader) })).status, 200);
    assert.ok(denied(await s3('/front-a/r1', { method: 'PUT', body: 'x', key: as(reader) })));
    assert.ok(denied(await s3('/front-a/k1', { method: 'DELETE', key: as(reader) })));
    assert.ok(denied(await s3('/front-b/k1', { key: as(reader) })), 'no grant on front-b');
    assert.strictEqual((await s3('/', { key: as(reader) })).status, 200, 'any key may list buckets');

    assert.strictEqual((await s3('/front-a/w1', { method: 'PUT', body: 'w', key: as(writer) })).status, 200);
    assert.strictEqual((await s3('/front-a/w1', { method: 'DELETE', key: as(writer) })).status, 204);
    assert.ok(denied(await s3('/front-a', { method: 'DELETE', key: as(writer) })), 'readwrite cannot delete the bucket');
    assert.ok(denied(await s3('/front-a/copy', { method: 'PUT', key: as(writer),
      headers: { 'x-amz-copy-source': '/front-b/anything' } })), 'copying from an ungranted bucket');

    assert.strictEqual((await s3('/front-c', { method: 'PUT', key: as(owner) })).status, 200);
    assert.strictEqual((await s3('/front-c/o1', { method: 'PUT', body: 'o', key: as(owner) })).status, 200);
    assert.ok(denied(await s3('/front-d', { method: 'PUT', key: as(owner) })));
    keys.update(reader.access_key, { grants: [{ bucket: 'front-c', permission: 'read' }] });
    assert.strictEqual((await s3('/front-c/o1', { key: as(reader) })).body, 'o', 'grant changes apply at once');
    keys.delete(reader.access_key);
    assert.strictEqual(errorCode((await s3('/front-c/o1', { key: as(reader) })).body).code, 'InvalidAccessKeyId');
  });

  await t.test('a body that does not match x-amz-content-sha256 is refused and not stored', async () => {
    const res = await s3('/front-a/liar', { method: 'PUT', body: 'actual body', payloadHash: sha256('another body') });
    assert.strictEqual(res.status, 400);
    assert.strictEqual(errorCode(res.body).code, 'XAmzContentSHA256Mismatch');
    assert.strictEqual((await s3('/front-a/liar')).status, 404);
    const unsigned = await s3('/front-a/unsigned', { method: 'PUT', body: 'free', payloadHash: 'UNSIGNED-PAYLOAD' });
    assert.strictEqual(unsigned.status, 200);
  });

  await t.test('a large upload (spooled to a file while its hash is checked) round-trips and leaves no temp file', async () => {
    const data = crypto.randomBytes(12 * 1024 * 1024);
    const put = await s3('/front-a/large', { method: 'PUT', body: data });
    assert.strictEqual(put.status, 200, put.body);
    const got = await s3('/front-a/large');
    assert.ok(got.raw.equals(data));
    const liar = await s3('/front-a/large-liar', { method: 'PUT', body: data, payloadHash: sha256('other') });
    assert.strictEqual(errorCode(liar.body).code, 'XAmzContentSHA256Mismatch');
    assert.deepStrictEqual(fs.readdirSync(path.join(lab.dir, 'tmp')), []);
  });

  await t.test('aws-chunked uploads with chunk signatures are decoded; a bad chunk is refused', async () => {
    const data = crypto.randomBytes(200 * 1024);
    const put = (mangle) => {
      const url = `${endpoint}/front-a/chunked`;
      const headers = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length) };
      const signed = signHeaders({ method: 'PUT', url, headers, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', ...root });
      let body = awsChunkedBody(data, 64 * 1024, { ...signed, seedSignature: signed.signature });
      if (mangle) body = mangle(body);
      return httpRequest({ method: 'PUT', url, headers: { ...signed.headers, 'content-length': body.length }, body });
    };
    const ok = await put();
    assert.strictEqual(ok.status, 200, ok.body);
    const got = await s3('/front-a/chunked');
    assert.strictEqual(got.status, 200);
    assert.ok(got.raw.equals(data), 'the stored object is the decoded data');
    const head = await s3('/front-a/chunked', { method: 'HEAD' });
    assert.strictEqual(head.headers['content-length'], String(data.length));
    assert.strictEqual(head.headers['content-encoding'], undefined);

    const bad = await put((body) => { const b = Buffer.from(body); b[b.indexOf('\r\n') + 10] ^= 1; return b; });
    assert.strictEqual(bad.status, 403);
    assert.strictEqual(errorCode(bad.body).code, 'SignatureDoesNotMatch');
  });

  await t.test('virtual-host style: the Host header names the bucket', async () => {
    for (const host of [`front-a.localhost:${port}`, `front-a.s3.lab.localhost:${port}`]) {
      const got = await s3('/k1', { host });
      assert.strictEqual(got.status, 200, got.body);
      assert.strictEqual(got.body, 'one');
      const list = await s3('/?list-type=2&prefix=k', { host });
      assert.match(list.body, /<Key>k1<\/Key>/);
      assert.strictEqual((await s3('/vh', { method: 'PUT', body: 'via vhost', host })).status, 200);
    }
    assert.strictEqual((await s3('/front-a/vh')).body, 'via vhost');
  });

  await t.test('the admin endpoint sees every S3 request, and its faults and latency apply to S3', async () => {
    assert.strictEqual((await admin(lab.env, 'DELETE', '/requests')).status, 204);
    await s3('/front-a/k1');
    await s3('/front-a/nope');
    await s3('/front-a/k1', { key: { accessKey: root.accessKey, secretKey: 'wrong' } });
    const log = (await admin(lab.env, 'GET', '/requests?target=s3')).body;
    assert.deepStrictEqual(log.requests.map((r) => [r.method, r.path, r.status]),
      [['GET', '/front-a/k1', 200], ['GET', '/front-a/nope', 404], ['GET', '/front-a/k1', 403]]);

    await admin(lab.env, 'POST', '/faults', { target: 's3', method: 'GET', path: '^/front-a/', status: 503, count: 1 });
    const slow = await s3('/front-a/k1');
    assert.strictEqual(slow.status, 503);
    assert.strictEqual(errorCode(slow.body).code, 'SlowDown');
    assert.strictEqual((await s3('/front-a/k1')).status, 200);

    await admin(lab.env, 'PUT', '/latency', { ms: 120, target: 's3' });
    const t0 = Date.now();
    assert.strictEqual((await s3('/front-a/k1')).status, 200);
    assert.ok(Date.now() - t0 >= 115, 'latency applies');
    await admin(lab.env, 'PUT', '/latency', { ms: null, target: 's3' });
  });

  await t.test('ListObjectsV2 pages past 1,000 keys with continuation tokens', async () => {
    const total = 1100;
    const names = Array.from({ length: total }, (_, i) => `many/${String(i).padStart(5, '0')}`);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++];
        const res = await s3(`/front-b/${name}`, { method: 'PUT', body: name });
        assert.strictEqual(res.status, 200, res.body);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));

    const first = await s3('/front-b?list-type=2&prefix=many%2F');
    assert.strictEqual(first.status, 200, first.body);
    assert.match(first.body, /<IsTruncated>true<\/IsTruncated>/);
    assert.strictEqual((first.body.match(/<Key>/g) || []).length, 1000);
    const token = /<NextContinuationToken>([^<]+)<\/NextContinuationToken>/.exec(first.body)[1];
    const second = await s3(`/front-b?list-type=2&prefix=many%2F&continuation-token=${encodeURIComponent(token)}`);
    assert.strictEqual(second.status, 200, second.body);
    assert.match(second.body, /<IsTruncated>false<\/IsTruncated>/);
    assert.strictEqual((second.body.match(/<Key>/g) || []).length, 100);

    // and boto3's paginator sees every key once
    const count = await new Promise((resolve) => {
      execFile('python3', ['-c', `
import os, boto3
c = boto3.client('s3', endpoint_url=os.environ['EP'], aws_access_key_id=os.environ['AK'],
                 aws_secret_access_key=os.environ['SK'], region_name='nyc3')
keys = [o['Key'] for p in c.get_paginator('list_objects_v2').paginate(Bucket='front-b', Prefix='many/') for o in p['Contents']]
print(len(keys), len(set(keys)))
`], { env: { ...process.env, EP: endpoint, AK: root.accessKey, SK: root.secretKey } }, (err, stdout, stderr) => resolve(stdout + stderr));
    });
    assert.strictEqual(count.trim(), `${total} ${total}`);
  });
});
