'use strict';
// Keys with "." and ".." segments through the Spaces front, sent raw ("d/../k") and percent-encoded ("d/%2E%2E/k"):
// each is a key of its own as in S3 (distinct from "k"), listed, copied, uploaded in parts and deleted as itself,
// and none can touch a file outside its bucket's folder or another object — checked on disk. Bucket names that
// are paths ("..", "%2F") are refused. Runs a whole lab in a temporary directory.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { startLab, httpRequest, signHeaders } = require('./helpers');

// Every file under `dir`, relative to it.
function filesUnder(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const xmlValues = (body, tag) => [...body.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => m[1]);
const errorCode = (body) => (/<Code>([^<]+)<\/Code>/.exec(body) || [])[1];

test('keys with dot segments', async (t) => {
  const lab = await startLab();
  t.after(() => lab.stop());
  const endpoint = lab.env.SPACES_ENDPOINT;
  const root = { accessKey: lab.env.SPACES_ACCESS_KEY_ID, secretKey: lab.env.SPACES_SECRET_ACCESS_KEY };
  const s3dir = path.join(lab.dir, 's3');
  const outside = `dotkeys-${crypto.randomBytes(4).toString('hex')}`; // a name no other run uses

  // A signed request whose path (and query) is sent exactly as written: "." and ".." are not resolved.
  const s3 = (rawPath, { method = 'GET', body = '', headers = {} } = {}) => {
    const signed = signHeaders({ method, url: endpoint, path: rawPath, body, headers, ...root });
    return httpRequest({ method, url: endpoint, path: rawPath, headers: signed.headers,
      body: method === 'GET' || method === 'HEAD' ? undefined : body });
  };
  const list = async (query = '') => {
    const res = await s3(`/dots?list-type=2${query}`);
    assert.strictEqual(res.status, 200, res.body);
    const prefixes = [...res.body.matchAll(/<CommonPrefixes><Prefix>([^<]*)<\/Prefix><\/CommonPrefixes>/g)].map((m) => m[1]);
    return { keys: xmlValues(res.body, 'Key'), prefixes, body: res.body };
  };

  let before;
  let neighbourBefore;
  await t.test('setup: plain objects beside the ones with dot keys', async () => {
    for (const bucket of ['dots', 'neighbour']) assert.strictEqual((await s3(`/${bucket}`, { method: 'PUT' })).status, 200);
    for (const [p, body] of [['/dots/k', 'plain k'], ['/dots/x', 'plain x'], ['/neighbour/x', 'neighbour x']]) {
      assert.strictEqual((await s3(p, { method: 'PUT', body })).status, 200);
    }
    before = filesUnder(lab.dir);
    neighbourBefore = filesUnder(path.join(s3dir, 'neighbour'));
  });

  await t.test('raw and percent-encoded dot segments name the same key, distinct from the resolved one', async () => {
    assert.strictEqual((await s3('/dots/d/../k', { method: 'PUT', body: 'dot k' })).status, 200);
    assert.strictEqual((await s3('/dots/%2E%2E/%2E%2E/x', { method: 'PUT', body: 'up x' })).status, 200);
    assert.strictEqual((await s3(`/dots/../../../${outside}`, { method: 'PUT', body: 'far up' })).status, 200);
    assert.strictEqual((await s3('/dots/a/./b', { method: 'PUT', body: 'dot b' })).status, 200);

    assert.strictEqual((await s3('/dots/d/%2E%2E/k')).body, 'dot k', 'd/%2E%2E/k is d/../k');
    assert.strictEqual((await s3('/dots/../../x')).body, 'up x', '../../x is %2E%2E/%2E%2E/x');
    assert.strictEqual((await s3(`/dots/%2e%2e/%2e%2e/%2e%2e/${outside}`)).body, 'far up');
    assert.strictEqual((await s3('/dots/a/%2E/b')).body, 'dot b');
    assert.strictEqual((await s3('/dots/d/../k', { method: 'HEAD' })).headers['content-length'], '5');
    assert.strictEqual((await s3('/dots/k')).body, 'plain k', 'k is untouched');
    assert.strictEqual((await s3('/dots/x')).body, 'plain x', 'x is untouched');
    assert.strictEqual((await s3('/neighbour/x')).body, 'neighbour x', 'another bucket is untouched');
    assert.strictEqual(errorCode((await s3('/dots/b')).body), 'NoSuchKey', 'a/./b is not b');
    const missing = await s3('/dots/q/../missing');
    assert.strictEqual(missing.status, 404);
    assert.deepStrictEqual(xmlValues(missing.body, 'Key'), ['q/../missing'], 'the error names the key as asked');
  });

  await t.test('on disk, everything written is inside the bucket\'s folder', () => {
    const added = filesUnder(lab.dir).filter((f) => !before.includes(f));
    assert.ok(added.length >= 4, `files were written: ${added}`);
    for (const f of added) assert.ok(f.startsWith(`s3${path.sep}dots${path.sep}`), `${f} is inside s3/dots`);
    for (const dir of [lab.dir, s3dir, path.dirname(lab.dir)]) {
      const strays = fs.readdirSync(dir).filter((n) => n.startsWith('x._S3rver') || n.startsWith(outside));
      assert.deepStrictEqual(strays, [], `nothing written in ${dir}`);
    }
  });

  await t.test('listings give the keys back as written; prefix, start-after and delimiter work on them', async () => {
    assert.deepStrictEqual((await list()).keys.sort(),
      ['../../../' + outside, '../../x', 'a/./b', 'd/../k', 'k', 'x'].sort());
    assert.deepStrictEqual((await list('&prefix=d%2F..%2F')).keys, ['d/../k']);
    assert.deepStrictEqual((await list('&prefix=d%2F.')).keys, ['d/../k'], 'a partial last segment');
    assert.deepStrictEqual((await list('&prefix=..%2F..%2F')).keys.sort(), ['../../../' + outside, '../../x'].sort());
    // (s3rver reports a common prefix only when an object lies directly under it, so "../" and "d/" are not listed.)
    assert.deepStrictEqual((await list('&delimiter=%2F')).keys.sort(), ['k', 'x']);
    assert.deepStrictEqual((await list('&prefix=d%2F&delimiter=%2F')).prefixes, ['d/../']);
    assert.deepStrictEqual((await list('&prefix=..%2F&delimiter=%2F')).prefixes, ['../../']);
    const after = await list('&start-after=..%2F..%2Fx');
    assert.ok(!after.keys.includes('../../x') && after.keys.includes('d/../k'), after.keys.join(','));
  });

  await t.test('copy to and from dot keys', async () => {
    const copied = await s3('/dots/c/../copy', { method: 'PUT', headers: { 'x-amz-copy-source': '/dots/a/%2E/b' } });
    assert.strictEqual(copied.status, 200, copied.body);
    assert.strictEqual((await s3('/dots/c/%2E%2E/copy')).body, 'dot b');
    assert.strictEqual(errorCode((await s3('/dots/copy')).body), 'NoSuchKey');
  });

  await t.test('a multipart upload to a dot key', async () => {
    const started = await s3('/dots/m/../n?uploads', { method: 'POST' });
    assert.strictEqual(started.status, 200, started.body);
    assert.deepStrictEqual(xmlValues(started.body, 'Key'), ['m/../n']);
    const uploadId = xmlValues(started.body, 'UploadId')[0];
    const part = await s3(`/dots/m/../n?partNumber=1&uploadId=${uploadId}`, { method: 'PUT', body: 'in parts' });
    assert.strictEqual(part.status, 200);
    const done = await s3(`/dots/m/%2E%2E/n?uploadId=${uploadId}`, { method: 'POST',
      body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${part.headers.etag}</ETag></Part></CompleteMultipartUpload>` });
    assert.strictEqual(done.status, 200, done.body);
    assert.deepStrictEqual(xmlValues(done.body, 'Key'), ['m/../n']);
    assert.deepStrictEqual(xmlValues(done.body, 'Location'), [`${endpoint}/dots/m/%2E%2E/n`], 'the client\'s URL');
    assert.strictEqual((await s3('/dots/m/../n')).body, 'in parts');
    assert.strictEqual(errorCode((await s3('/dots/n')).body), 'NoSuchKey');
  });

  await t.test('deleting d/../k deletes that key only: k and the bucket\'s folder stay', async () => {
    assert.strictEqual((await s3('/dots/d/../k', { method: 'DELETE' })).status, 204);
    assert.strictEqual(errorCode((await s3('/dots/d/%2E%2E/k')).body), 'NoSuchKey');
    assert.strictEqual((await s3('/dots/k')).body, 'plain k');
    assert.ok(fs.existsSync(path.join(s3dir, 'dots', 'k._S3rver_object')), 'k is on disk');
    assert.strictEqual((await s3('/dots/%2E%2E/%2E%2E/x', { method: 'DELETE' })).status, 204);
    assert.strictEqual((await s3('/dots/x')).body, 'plain x');
    assert.strictEqual((await s3('/neighbour/x')).body, 'neighbour x');
    assert.ok(!(await list()).keys.includes('d/../k'));
  });

  await t.test('multi-object delete: dot keys (even written as character references) are themselves', async () => {
    assert.strictEqual((await s3('/dots/d/../k', { method: 'PUT', body: 'again' })).status, 200);
    const body = '<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Object><Key>d/../k</Key></Object><Object><Key>&#46;&#46;/&#x2E;&#x2e;/&#46;&#46;/' + outside + '</Key></Object>' +
      '<Object><Key><![CDATA[a/./b]]></Key></Object><Quiet>false</Quiet></Delete>';
    const res = await s3('/dots?delete', { method: 'POST', body, headers: {
      'content-md5': crypto.createHash('md5').update(body).digest('base64') } });
    assert.strictEqual(res.status, 200, res.body);
    assert.deepStrictEqual(xmlValues(res.body, 'Key').sort(), ['../../../' + outside, 'a/./b', 'd/../k'].sort());
    assert.deepStrictEqual((await list()).keys.sort(), ['c/../copy', 'k', 'm/../n', 'x']);
    assert.ok(fs.existsSync(path.join(s3dir, 'dots')), 'the bucket folder is there');
    const bad = await s3('/dots?delete', { method: 'POST', body: '<Delete><Object><Key>&period;&period;/k</Key></Object></Delete>' });
    assert.strictEqual(errorCode(bad.body), 'MalformedXML', 'entities XML does not define are refused');
    assert.strictEqual((await s3('/dots/k')).body, 'plain k');
  });

  await t.test('bucket names that are paths are refused', async () => {
    for (const p of ['/../x', '/%2E%2E/x', '/%2E%2E', '/./x', '/a%2F..%2F..%2Fx/y']) {
      const res = await s3(p, { method: 'PUT', body: 'nope' });
      assert.strictEqual(res.status, 400, p);
      assert.strictEqual(errorCode(res.body), 'InvalidBucketName', p);
    }
    const copy = await s3('/dots/y', { method: 'PUT', headers: { 'x-amz-copy-source': '/%2E%2E/dots/k' } });
    assert.strictEqual(errorCode(copy.body), 'InvalidBucketName');
    assert.strictEqual(errorCode((await s3('/dots', { method: 'POST', body: 'key=../x' })).body), 'NotImplemented',
      'browser-form POST uploads are refused');
  });

  await t.test('finally, nothing was written outside the buckets\' folders', () => {
    const added = filesUnder(lab.dir).filter((f) => !before.includes(f));
    for (const f of added) assert.ok(f.startsWith(`s3${path.sep}dots${path.sep}`), `${f} is inside s3/dots`);
    assert.deepStrictEqual(filesUnder(path.join(s3dir, 'neighbour')), neighbourBefore, 'the other bucket is as it was');
    assert.ok(fs.readdirSync(path.dirname(lab.dir)).every((n) => !n.startsWith(outside)));
  });
});

test('the renaming is reversible and leaves no dot segment before the last "/"', () => {
  const { MARK, storedKey, clientKey, deleteBody, clientXml } = require('../lib/s3/dotkeys');
  const keys = ['k', '..', '.', 'a/..', '../x', './x', 'a/../b', `..${MARK}/x`, `..${MARK}${MARK}/x`, `.${MARK}/x`,
    '.../x', '..a/x', 'a/./../.', `x/..${MARK}`, '', '/', '../'];
  const stored = keys.map(storedKey);
  assert.strictEqual(new Set(stored).size, keys.length, 'distinct keys stay distinct');
  for (let i = 0; i < keys.length; i++) {
    assert.strictEqual(clientKey(stored[i]), keys[i], `round trip of ${JSON.stringify(keys[i])}`);
    assert.ok(stored[i].split('/').slice(0, -1).every((s) => s !== '.' && s !== '..'), `no dot segment in ${stored[i]}`);
  }
  assert.strictEqual(storedKey('plain/key.txt'), 'plain/key.txt', 'other keys are unchanged');

  // s3rver's XML reader trims values: white space around a key is sent as character references, so that " ../x "
  // (no dot segment) does not become "../x"; "../x" itself is renamed.
  assert.match(deleteBody('<Delete><Object><Key> ../x </Key></Object></Delete>'), /<Key>&#32;\.\.\/x&#32;<\/Key>/);
  assert.match(deleteBody('<Delete><Object><Key>../x</Key></Object></Delete>'), /<Key>\.\.\uE000\/x<\/Key>/);
  // A prefix with MARK in its last segment must not select a renamed key it does not prefix.
  const listing = `<ListBucketResult><Prefix>a/..${MARK}</Prefix><KeyCount>2</KeyCount>` +
    `<Contents><Key>a/..${MARK}/b</Key></Contents><Contents><Key>a/..${MARK}${MARK}/c</Key></Contents></ListBucketResult>`;
  const out = clientXml(listing, { prefix: `a/..${MARK}` });
  assert.deepStrictEqual(xmlValues(out, 'Key'), [`a/..${MARK}/c`]);
  assert.match(out, /<KeyCount>1<\/KeyCount>/);
});
