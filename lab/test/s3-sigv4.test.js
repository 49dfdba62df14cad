'use strict';
// The Spaces front's SigV4 canonicalisation and signing (lib/s3/sigv4.js) against AWS's own signing test
// suite: header values trimmed and folded, duplicate headers joined, query parameters encoded and sorted, paths
// encoded once and not normalised; for both the Authorization-header and the presigned-URL forms.
// The suite is the repository's copy in tests/data/sigv4 (licence, notice and provenance beside it), shared with
// the C binding's tests; this file reads only the cases listed in S3_CASES.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const sigv4 = require('../lib/s3/sigv4');

const SUITE = path.resolve(__dirname, '..', '..', 'tests', 'data', 'sigv4');
const DATA = path.join(SUITE, 'v4');
// The cases whose expected canonical request is also what S3 computes (no path normalisation, no double
// encoding of an already-encoded path, the session token signed) and whose request this file can parse (no
// folded header lines, no raw UTF-8 in the request line). Left out: the *-normalized cases,
// get-relative-relative-unnormalized, get-slash-pointless-dot-unnormalized, get-header-value-multiline,
// get-utf8, get-vanilla-utf8-query, post-sts-header-after, post-sts-header-before.
const S3_CASES = [
  'get-header-key-duplicate', 'get-header-value-order', 'get-header-value-trim', 'get-relative-unnormalized',
  'get-slash-dot-slash-unnormalized', 'get-slash-unnormalized', 'get-slashes-unnormalized', 'get-space-unnormalized',
  'get-unreserved', 'get-vanilla', 'get-vanilla-empty-query-key', 'get-vanilla-query', 'get-vanilla-query-order-encoded',
  'get-vanilla-query-order-key-case', 'get-vanilla-query-unreserved', 'get-vanilla-with-session-token',
  'post-header-key-case', 'post-header-key-sort', 'post-header-value-case', 'post-vanilla',
  'post-vanilla-empty-query-value', 'post-vanilla-query', 'post-x-www-form-urlencoded',
  'post-x-www-form-urlencoded-parameters',
];
const CASES = S3_CASES.filter((name) => fs.existsSync(path.join(DATA, name, 'context.json')));

function read(name, file) {
  return fs.readFileSync(path.join(DATA, name, file), 'utf8');
}

// A raw HTTP request as the suite writes it → {method, url, rawHeaders, body}.
function parseRequest(text) {
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text.replace(/\n$/, '') : text.slice(0, blank);
  const body = blank < 0 ? '' : text.slice(blank + 2);
  const [requestLine, ...headerLines] = head.split('\n');
  const m = /^(\S+) (.*) HTTP\/1\.1$/.exec(requestLine);
  const rawHeaders = [];
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1));
  }
  return { method: m[1], url: m[2], rawHeaders, body };
}

function headerOf(rawHeaders, name) {
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

function signatureFor(context, amzDate, canonical) {
  const scope = `${amzDate.slice(0, 8)}/${context.region}/${context.service}/aws4_request`;
  const key = sigv4.signingKey(context.credentials.secret_access_key, amzDate.slice(0, 8), context.region, context.service);
  return sigv4.sign(key, sigv4.stringToSign(amzDate, scope, canonical));
}

test('the suite has the expected cases, with its licence and provenance', () => {
  assert.deepStrictEqual(CASES, S3_CASES, 'every listed case is in the suite');
  assert.match(fs.readFileSync(path.join(SUITE, 'LICENSE'), 'utf8'), /Apache License/);
  assert.match(fs.readFileSync(path.join(SUITE, 'PROVENANCE.txt'), 'utf8'), /aws-c-auth/);
  assert.strictEqual(read('get-vanilla', 'header-signature.txt').trim(),
    '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
});

for (const name of CASES) {
  test(`Authorization header form: ${name}`, () => {
    const context = JSON.parse(read(name, 'context.json'));
    const req = parseRequest(read(name, 'header-signed-request.txt'));
    const auth = headerOf(req.rawHeaders, 'authorization');
    const signedHeaders = /SignedHeaders=([^,\s]+)/.exec(auth)[1].split(';');
    const q = req.url.indexOf('?');
    const canonical = sigv4.buildCanonicalRequest({
      method: req.method,
      rawPath: q < 0 ? req.url : req.url.slice(0, q),
      queryParams: sigv4.parseQuery(q < 0 ? '' : req.url.slice(q + 1)),
      excludeQuery: [],
      headers: sigv4.headerValues(req.rawHeaders),
      signedHeaders,
      payloadHash: sigv4.sha256Hex(req.body),
    });
    assert.strictEqual(canonical, read(name, 'header-canonical-request.txt'));
    const amzDate = headerOf(req.rawHeaders, 'x-amz-date');
    assert.strictEqual(signatureFor(context, amzDate, canonical), read(name, 'header-signature.txt').trim());
  });

  test(`presigned URL form: ${name}`, () => {
    const context = JSON.parse(read(name, 'context.json'));
    const req = parseRequest(read(name, 'query-signed-request.txt'));
    const q = req.url.indexOf('?');
    const queryParams = sigv4.parseQuery(req.url.slice(q + 1));
    const query = new Map(queryParams);
    const canonical = sigv4.buildCanonicalRequest({
      method: req.method,
      rawPath: req.url.slice(0, q),
      queryParams,
      excludeQuery: ['X-Amz-Signature'],
      headers: sigv4.headerValues(req.rawHeaders),
      signedHeaders: query.get('X-Amz-SignedHeaders').split(';'),
      payloadHash: sigv4.sha256Hex(req.body),
    });
    assert.strictEqual(canonical, read(name, 'query-canonical-request.txt'));
    const signature = signatureFor(context, query.get('X-Amz-Date'), canonical);
    assert.strictEqual(signature, read(name, 'query-signature.txt').trim());
    assert.strictEqual(signature, query.get('X-Amz-Signature'));
  });
}

test('S3 encodes each path segment once and never normalises it', () => {
  assert.strictEqual(sigv4.canonicalPath('/bucket/a b/c%2Bd/./../e'), '/bucket/a%20b/c%2Bd/./../e');
  assert.strictEqual(sigv4.canonicalPath('/bucket/x(1)!*\''), '/bucket/x%281%29%21%2A%27');
  assert.strictEqual(sigv4.canonicalPath('/bucket//k~_.-'), '/bucket//k~_.-');
  assert.strictEqual(sigv4.canonicalPath('/b/%E2%82%AC'), '/b/%E2%82%AC');
});
