'use strict';
// AWS Signature Version 4 verification for the lab's Spaces front, with S3's canonicalisation: the path is
// URI-encoded once per segment and never normalised; query parameters are decoded, re-encoded and sorted;
// signed header values are trimmed with inner white space collapsed. Handles the Authorization-header form and
// the presigned-URL (query) form, and the per-chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies.
// It does not read request bodies (front.js and chunked.js do) nor know about grants (keys.js).

const crypto = require('crypto');
const { S3Error } = require('./errors');

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_EXPIRES = 604800;

function sha256Hex(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

// RFC 3986 encoding as AWS defines UriEncode: everything but A-Z a-z 0-9 - . _ ~ is %XX (upper case).
function uriEncode(str) {
  return encodeURIComponent(str).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

function canonicalPath(rawPath) {
  if (!rawPath) return '/';
  return rawPath.split('/').map((segment) => uriEncode(safeDecode(segment))).join('/');
}

// [[name, value]] decoded, in order of appearance; a parameter without '=' has an empty value.
function parseQuery(rawQuery) {
  if (!rawQuery) return [];
  return rawQuery.split('&').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? [safeDecode(pair), ''] : [safeDecode(pair.slice(0, eq)), safeDecode(pair.slice(eq + 1))];
  });
}

function canonicalQuery(params, exclude = []) {
  return params
    .filter(([name]) => !exclude.includes(name))
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

// Values of each header (lower-cased name) as sent, from Node's rawHeaders [name, value, name, value...].
function headerValues(rawHeaders) {
  const values = new Map();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!values.has(name)) values.set(name, []);
    values.get(name).push(rawHeaders[i + 1]);
  }
  return values;
}

function canonicalHeaderValue(values) {
  return values.map((v) => String(v).trim().replace(/\s+/g, ' ')).join(',');
}

function buildCanonicalRequest({ method, rawPath, queryParams, excludeQuery, headers, signedHeaders, payloadHash }) {
  const headerLines = signedHeaders.map((name) => `${name}:${canonicalHeaderValue(headers.get(name) || [])}\n`).join('');
  return [
    method,
    canonicalPath(rawPath),
    canonicalQuery(queryParams, excludeQuery),
    headerLines,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
}

function signingKey(secret, date, region, service) {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
}

function stringToSign(amzDate, scope, canonicalRequest) {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
}

function chunkStringToSign(amzDate, scope, previousSignature, chunkHash) {
  return ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previousSignature, EMPTY_SHA256, chunkHash].join('\n');
}

function sign(key, text) {
  return crypto.createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

function signaturesEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || '');
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function parseCredential(text, malformed) {
  const parts = String(text || '').split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request') {
    throw malformed(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  }
  const [accessKey, date, region, service] = parts;
  return { accessKey, date, region, service, scope: parts.slice(1).join('/') };
}

function parseAuthorizationHeader(value) {
  const malformed = (msg) => new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${msg}`);
  const m = /^(\S+)\s+(.*)$/s.exec(value.trim());
  if (!m || m[1] !== ALGORITHM) {
    throw new S3Error(400, 'InvalidArgument', 'Unsupported Authorization Type');
  }
  const fields = {};
  for (const part of m[2].split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields[name]) throw malformed(`missing ${name}.`);
  }
  return {
    credential: parseCredential(fields.Credential, malformed),
    signedHeaders: fields.SignedHeaders.split(';'),
    signature: fields.Signature,
  };
}

function checkScope(credential, amzDate, regions, malformed) {
  if (!regions.includes(credential.region)) {
    // S3 names the right region in the error; clients such as s3cmd retry with it
    const err = malformed(`the region '${credential.region}' is wrong; expecting '${regions[0]}'`);
    err.extra.Region = regions[0];
    throw err;
  }
  if (credential.service !== 's3') throw malformed(`incorrect service "${credential.service}". This endpoint belongs to "s3".`);
  if (!amzDate.startsWith(credential.date)) {
    throw malformed(`incorrect date "${credential.date}"; the date in the Credential must match the request date`);
  }
}

// Verifies the signature of a request (not its body). `lookupSecret(accessKey)` returns the secret or null.
// Returns what the body check needs: {accessKey, mode, payloadHash, seedSignature, key, scope, amzDate}.
// Throws S3Error for every failure.
function verifyRequest({ method, url, rawHeaders, lookupSecret, regions, now = new Date() }) {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const queryParams = parseQuery(q < 0 ? '' : url.slice(q + 1));
  const query = new Map(queryParams);
  const headers = headerValues(rawHeaders);
  const header = (name) => (headers.has(name) ? canonicalHeaderValue(headers.get(name)) : undefined);

  const hasHeaderAuth = headers.has('authorization');
  const hasQueryAuth = query.has('X-Amz-Algorithm') || query.has('X-Amz-Signature');
  if (hasHeaderAuth && hasQueryAuth) {
    throw new S3Error(400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
  }
  if (!hasHeaderAuth && !hasQueryAuth) {
    throw new S3Error(403, 'AccessDenied', 'Access Denied');
  }
  const ctx = hasHeaderAuth ? headerAuth(header, now) : queryAuth(query, now);
  checkScope(ctx.credential, ctx.amzDate, regions, ctx.malformed);
  if (!ctx.signedHeaders.includes('host')) {
    throw ctx.malformed('SignedHeaders must include host');
  }
  const secret = lookupSecret(ctx.credential.accessKey);
  if (secret == null) {
    throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.',
      { AWSAccessKeyId: ctx.credential.accessKey });
  }
  const canonicalRequest = buildCanonicalRequest({
    method, rawPath, queryParams, excludeQuery: ctx.mode === 'query' ? ['X-Amz-Signature'] : [],
    headers, signedHeaders: ctx.signedHeaders, payloadHash: ctx.payloadHash,
  });
  const toSign = stringToSign(ctx.amzDate, ctx.credential.scope, canonicalRequest);
  const key = signingKey(secret, ctx.credential.date, ctx.credential.region, ctx.credential.service);
  const expected = sign(key, toSign);
  if (!signaturesEqual(expected, ctx.signature)) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: ctx.credential.accessKey, StringToSign: toSign, SignatureProvided: ctx.signature,
        CanonicalRequest: canonicalRequest });
  }
  return {
    accessKey: ctx.credential.accessKey, mode: ctx.mode, payloadHash: ctx.payloadHash, seedSignature: expected,
    key, scope: ctx.credential.scope, amzDate: ctx.amzDate,
  };
}

function headerAuth(header, now) {
  const auth = parseAuthorizationHeader(header('authorization'));
  const malformed = (msg) => new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; ${msg}`);
  const payloadHash = header('x-amz-content-sha256');
  if (payloadHash === undefined) {
    throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  if (!/^(UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+|[0-9a-f]{64})$/.test(payloadHash)) {
    throw new S3Error(400, 'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.',
      { ArgumentName: 'x-amz-content-sha256', ArgumentValue: payloadHash });
  }
  const amzDate = header('x-amz-date') || toAmzDate(header('date'));
  const requestTime = parseAmzDate(amzDate);
  if (!requestTime) throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  if (Math.abs(now - requestTime) > MAX_SKEW_MS) {
    throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: now.toISOString().replace(/\.\d+Z$/, 'Z'), MaxAllowedSkewMilliseconds: MAX_SKEW_MS });
  }
  return { mode: 'header', ...auth, amzDate, payloadHash, malformed };
}

function toAmzDate(httpDate) {
  if (!httpDate) return undefined;
  const d = new Date(httpDate);
  return isNaN(d) ? undefined : d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function queryAuth(query, now) {
  const queryError = (msg) => new S3Error(400, 'AuthorizationQueryParametersError', msg);
  if (query.get('X-Amz-Algorithm') !== ALGORITHM) throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  for (const name of ['X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires']) {
    if (!query.has(name)) {
      throw queryError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
    }
  }
  const malformed = (msg) => queryError(`Error parsing the X-Amz-Credential parameter; ${msg}`);
  const credential = parseCredential(query.get('X-Amz-Credential'), malformed);
  const amzDate = query.get('X-Amz-Date');
  const signedAt = parseAmzDate(amzDate);
  if (!signedAt) throw queryError('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
  const expiresText = query.get('X-Amz-Expires');
  const expires = Number(expiresText);
  if (!/^\d+$/.test(expiresText)) throw queryError('X-Amz-Expires should be a number');
  if (expires > MAX_PRESIGN_EXPIRES) {
    throw queryError('X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds');
  }
  if (signedAt - now > MAX_SKEW_MS) throw new S3Error(403, 'AccessDenied', 'Request is not valid yet');
  if (now > new Date(signedAt.getTime() + expires * 1000)) {
    throw new S3Error(403, 'AccessDenied', 'Request has expired', {
      'X-Amz-Expires': expiresText,
      Expires: new Date(signedAt.getTime() + expires * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      ServerTime: now.toISOString().replace(/\.\d+Z$/, 'Z'),
    });
  }
  return {
    mode: 'query', credential, amzDate, malformed,
    signedHeaders: query.get('X-Amz-SignedHeaders').split(';'),
    signature: query.get('X-Amz-Signature'),
    payloadHash: query.get('X-Amz-Content-Sha256') || 'UNSIGNED-PAYLOAD',
  };
}

// The query parameters that carry a presigned URL's authentication (removed before proxying).
const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders',
  'X-Amz-Signature', 'X-Amz-Security-Token', 'X-Amz-Content-Sha256'];

module.exports = {
  verifyRequest, parseQuery, canonicalPath, canonicalQuery, buildCanonicalRequest, headerValues, signingKey,
  stringToSign, chunkStringToSign, sign, signaturesEqual, sha256Hex, uriEncode, EMPTY_SHA256, PRESIGN_PARAMS,
};
