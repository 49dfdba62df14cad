'use strict';
// The lab's Spaces endpoint: a plain-HTTP front on 127.0.0.1 that checks AWS SigV4 (header and presigned
// forms, body hashes, aws-chunked chunk signatures) and per-key bucket grants, then proxies to a real s3rver
// listening on an internal port with its data under DIR/s3. Path-style and virtual-host-style requests are
// accepted (a Host of BUCKET.localhost or BUCKET.s3.lab.localhost names the bucket); s3rver always sees
// path style. s3rver does not check signatures itself, so every request it gets is one this front let
// through, re-labelled with s3rver's built-in key. Keys with "." or ".." segments are renamed on the way to
// s3rver and back (dotkeys.js), so that its file store cannot resolve them. It does not implement bucket policies,
// ACLs or browser-form POST uploads.

const fs = require('fs');
const net = require('net');
const path = require('path');
const http = require('http');
const crypto = require('crypto');
const S3rver = require('s3rver');
const { S3Error, sendS3Error, newRequestId } = require('./errors');
const { verifyRequest, parseQuery, PRESIGN_PARAMS } = require('./sigv4');
const { readBody, BodySpool } = require('./body');
const dotkeys = require('./dotkeys');

const DEFAULT_VHOST_DOMAINS = ['s3.lab.localhost', 'localhost'];
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer']);
// Request headers the front consumes; s3rver gets its own versions of them.
const NOT_FORWARDED = new Set(['authorization', 'host', 'content-length', 'expect', 'x-amz-content-sha256', 'x-amz-date',
  'x-amz-decoded-content-length', 'x-amz-security-token', ...HOP_BY_HOP]);
// Bucket sub-resources whose PUT/DELETE changes the bucket itself (an admin action).
const BUCKET_CONFIG_PARAMS = ['acl', 'cors', 'policy', 'lifecycle', 'versioning', 'website', 'tagging', 'encryption',
  'logging', 'notification', 'replication', 'accelerate', 'requestPayment'];

function hostname(hostHeader) {
  const host = String(hostHeader || '');
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

// The bucket named by a virtual-host-style Host header, or null for path style.
function vhostBucket(hostHeader, domains) {
  const name = hostname(hostHeader);
  if (!name || net.isIP(name)) return null;
  for (const domain of [...domains].sort((a, b) => b.length - a.length)) {
    if (name.endsWith('.' + domain)) return name.slice(0, -(domain.length + 1));
  }
  return null;
}

function splitUrl(url) {
  const q = url.indexOf('?');
  return { rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1) };
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

// {bucket, key} from a path-style raw path.
function bucketAndKey(rawPath) {
  const rest = rawPath.replace(/^\/+/, '');
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: safeDecode(rest), key: '' };
  return { bucket: safeDecode(rest.slice(0, slash)), key: safeDecode(rest.slice(slash + 1)) };
}

// What a request needs from the key's grant: 'read' | 'write' | 'admin'.
function requiredAction(method, bucket, key, queryNames) {
  const reading = method === 'GET' || method === 'HEAD';
  if (!bucket) return reading ? 'read' : 'admin';
  if (key) return reading ? 'read' : 'write';
  if (reading) return 'read';
  if (method === 'POST') return 'write'; // multi-object delete
  if (method === 'PUT' || method === 'DELETE') return 'admin'; // create/delete the bucket or change its configuration
  return queryNames.some((n) => BUCKET_CONFIG_PARAMS.includes(n)) ? 'admin' : 'write';
}

// "." and ".." (and names with a "/", as "%2F" can make) would name folders outside s3rver's data; S3 refuses them.
function checkBucketName(bucket) {
  if (bucket === '.' || bucket === '..' || bucket.includes('/')) {
    throw new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket });
  }
}

function accessDenied() {
  return new S3Error(403, 'AccessDenied', 'Access Denied');
}

function hasBody(req) {
  return Number(req.headers['content-length'] || 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

class SpacesFront {
  constructor({ dir, keys, region, vhostDomains, upstreamPort, log }) {
    this.keys = keys;
    this.regions = region === 'us-east-1' ? [region] : [region, 'us-east-1'];
    this.vhostDomains = vhostDomains;
    this.tmpDir = path.join(dir, 'tmp');
    this.upstreamPort = upstreamPort;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.log = log;
  }

  async handle(req, res) {
    const requestId = newRequestId();
    const { rawPath, rawQuery } = splitUrl(req.url);
    const hostBucket = vhostBucket(req.headers.host, this.vhostDomains);
    const pathStyle = hostBucket ? `/${encodeURIComponent(hostBucket)}${rawPath === '/' ? '' : rawPath}` : rawPath;
    const { bucket, key } = bucketAndKey(pathStyle);
    const resource = pathStyle;
    let spool = null;
    try {
      const auth = verifyRequest({
        method: req.method, url: req.url, rawHeaders: req.rawHeaders, regions: this.regions,
        lookupSecret: (accessKey) => { const k = this.keys.get(accessKey); return k ? k.secret_key : null; },
      });
      const source = req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined
        ? dotkeys.copySource(req.headers['x-amz-copy-source']) : null;
      this.checkRequest(req, bucket, key, rawQuery, source);
      this.checkGrants(auth.accessKey, req, bucket, key, rawQuery, source);
      if (req.headers.expect && /100-continue/i.test(req.headers.expect)) res.writeContinue();
      spool = await readBody(req, { tmpDir: this.tmpDir, payloadHash: auth.payloadHash, signing: auth });
      const bodyRewritten = isDeleteObjects(req.method, key, rawQuery);
      if (bodyRewritten) {
        const rewritten = BodySpool.fromBuffer(this.tmpDir, Buffer.from(dotkeys.deleteBody(spool.buffer().toString('utf8'))));
        spool.cleanup();
        spool = rewritten;
      }
      await this.proxy(req, res, upstreamPlan(req, { rawPath, rawQuery, pathStyle, key, source, bodyRewritten }), spool);
    } catch (err) {
      if (!(err instanceof S3Error)) {
        this.log(`s3: internal error on ${req.method} ${resource}: ${err.stack || err}`);
        err = new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
      } else if (req.headers.authorization || /X-Amz-/.test(rawQuery)) {
        // anonymous requests (health probes) are not worth a line
        this.log(`s3: ${err.status} ${err.code} ${req.method} ${resource}${err.extra && err.extra.AWSAccessKeyId ? ` key=${err.extra.AWSAccessKeyId}` : ''}`);
      }
      sendS3Error(req, res, err, { requestId, resource, bodyUnread: !req.complete && hasBody(req) });
    } finally {
      if (spool) spool.cleanup();
    }
  }

  // Requests the lab refuses whoever signs them: bucket names that are paths, browser-form POST uploads (their key
  // is in the form, where the front does not rename it).
  checkRequest(req, bucket, key, rawQuery, source) {
    if (bucket) checkBucketName(bucket);
    if (source) checkBucketName(source.bucket);
    if (req.method === 'POST' && bucket && !key && !isDeleteObjects(req.method, key, rawQuery)) {
      throw new S3Error(501, 'NotImplemented', 'The lab does not accept POST Object (browser-form uploads).');
    }
  }

  checkGrants(accessKey, req, bucket, key, rawQuery, source) {
    const queryNames = parseQuery(rawQuery).map(([n]) => n);
    const action = requiredAction(req.method, bucket, key, queryNames);
    if (!this.keys.allowed(accessKey, bucket, action)) throw accessDenied();
    if (source && !this.keys.allowed(accessKey, source.bucket, 'read')) throw accessDenied();
  }

  upstreamHeaders(req, spool, plan) {
    const headers = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (NOT_FORWARDED.has(name)) continue;
      headers[name] = headers[name] === undefined ? req.rawHeaders[i + 1] : `${headers[name]}, ${req.rawHeaders[i + 1]}`;
    }
    if (headers['content-encoding']) {
      const rest = headers['content-encoding'].split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked');
      if (rest.length) headers['content-encoding'] = rest.join(', ');
      else delete headers['content-encoding'];
    }
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    headers.host = `127.0.0.1:${this.upstreamPort}`;
    headers['x-amz-date'] = amzDate;
    headers['x-amz-content-sha256'] = spool.sha256;
    // s3rver only looks the access key up; the signature was checked above.
    headers.authorization = `AWS4-HMAC-SHA256 Credential=S3RVER/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, ` +
      'SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=' + '0'.repeat(64);
    if (spool.size > 0 || ['PUT', 'POST'].includes(req.method)) headers['content-length'] = String(spool.size);
    if (plan.copySource) headers['x-amz-copy-source'] = plan.copySource.upstream;
    if (plan.bodyRewritten && headers['content-md5'] !== undefined) {
      headers['content-md5'] = crypto.createHash('md5').update(spool.buffer()).digest('base64');
    }
    return headers;
  }

  // Sends the request to s3rver as `plan` says ({path, query, copySource, bodyRewritten, rewriteXml, prefix,
  // location}) and its
  // answer to the client; XML answers that can carry keys are read whole and given the client's keys back.
  proxy(req, res, plan, spool) {
    const query = plan.query.split('&').filter((p) => p && !PRESIGN_PARAMS.includes(safeDecode(p.split('=')[0]))).join('&');
    return new Promise((resolve, reject) => {
      const upstream = http.request({
        host: '127.0.0.1', port: this.upstreamPort, method: req.method, agent: this.agent,
        path: plan.path + (query ? `?${query}` : ''), headers: this.upstreamHeaders(req, spool, plan),
      }, (up) => {
        spool.cleanup(); // s3rver has read the whole body by now
        const headers = {};
        for (let i = 0; i < up.rawHeaders.length; i += 2) {
          const name = up.rawHeaders[i];
          if (HOP_BY_HOP.has(name.toLowerCase())) continue;
          headers[name] = headers[name] === undefined ? up.rawHeaders[i + 1] : [].concat(headers[name], up.rawHeaders[i + 1]);
        }
        up.on('error', (err) => { res.destroy(); resolve(err); });
        const xml = /xml/i.test(up.headers['content-type'] || '');
        if (!xml || !(plan.rewriteXml || (up.statusCode >= 300 && req.method !== 'HEAD'))) {
          res.writeHead(up.statusCode, headers);
          up.pipe(res);
          up.on('end', resolve);
          return;
        }
        const chunks = [];
        up.on('data', (c) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.from(clientAnswer(Buffer.concat(chunks).toString('utf8'), plan));
          for (const name of Object.keys(headers)) if (name.toLowerCase() === 'content-length') delete headers[name];
          headers['content-length'] = body.length;
          res.writeHead(up.statusCode, headers);
          res.end(body);
          resolve();
        });
      });
      upstream.on('error', (err) => reject(err));
      spool.pipeTo(upstream);
    });
  }
}

// What to send s3rver and what to do with its answer (see proxy): keys with dot segments renamed in the path, the
// list parameters and the copy source; XML answers of bucket requests, POSTs and errors read for keys to rename
// back; the Location of a completed multipart upload is the client's URL (not s3rver's internal one).
function upstreamPlan(req, { rawPath, rawQuery, pathStyle, key, source, bodyRewritten }) {
  return {
    path: dotkeys.upstreamPath(pathStyle, key),
    query: dotkeys.upstreamQuery(rawQuery),
    copySource: source,
    bodyRewritten,
    rewriteXml: req.method !== 'HEAD' && (!key || req.method === 'POST'),
    prefix: key ? null : listPrefix(rawQuery),
    location: key && req.method === 'POST' ? `http://${req.headers.host}${rawPath}` : null,
  };
}

function clientAnswer(text, plan) {
  const out = dotkeys.clientXml(text, { prefix: plan.prefix });
  if (!plan.location) return out;
  return out.replace(/<Location>[^<]*<\/Location>/, `<Location>${dotkeys.xmlEscape(plan.location)}</Location>`);
}

function isDeleteObjects(method, key, rawQuery) {
  return method === 'POST' && !key && parseQuery(rawQuery).some(([n]) => n === 'delete');
}

// The prefix of a listing as s3rver reads it (Node's querystring: '+' is a space), or null.
function listPrefix(rawQuery) {
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && safeDecode(pair.slice(0, eq)) === 'prefix') return safeDecode(pair.slice(eq + 1).replace(/\+/g, ' '));
  }
  return null;
}

async function start({ dir, host = '127.0.0.1', port = 0, instrument, keys, region = 'nyc3',
  vhostDomains = DEFAULT_VHOST_DOMAINS, log = (line) => console.error(line) }) {
  const s3dir = path.join(dir, 's3');
  fs.mkdirSync(s3dir, { recursive: true });
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: s3dir, silent: true, vhostBuckets: false });
  const upstreamAddress = await s3rver.run();
  const front = new SpacesFront({ dir, keys, region, vhostDomains, upstreamPort: upstreamAddress.port, log });
  const handler = (req, res) => front.handle(req, res);
  const wrapped = instrument ? instrument.wrap(handler) : handler;
  const server = http.createServer(wrapped);
  server.on('checkContinue', wrapped);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;
  return {
    endpoint: `http://${host}:${actualPort}`,
    port: actualPort,
    upstreamPort: upstreamAddress.port,
    async close() {
      await new Promise((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
      front.agent.destroy();
      if (s3rver.httpServer) s3rver.httpServer.closeAllConnections();
      await s3rver.close().catch(() => {});
    },
  };
}

module.exports = { start, vhostBucket, requiredAction, bucketAndKey };
