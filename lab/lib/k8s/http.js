'use strict';
// HTTP plumbing shared by the emulated API server's handlers: reading request bodies (JSON or YAML),
// writing JSON and Status responses, and turning a URL path into a resource route
// ({group, version, resource, namespace, name, subresource, watch}). No API semantics here.

const YAML = require('yaml');
const { errors, StatusError } = require('./errors');
const { decodeObject } = require('./protobuf');

const MAX_BODY = 10 * 1024 * 1024;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function mediaType(req) {
  return String(req.headers['content-type'] || 'application/json').split(';')[0].trim().toLowerCase();
}

// Parses an object body; YAML for application/yaml and apply patches, protobuf (some types), JSON otherwise.
function parseObject(buf, type) {
  if (type === 'application/vnd.kubernetes.protobuf') return decodeObject(Buffer.from(buf));
  const text = buf.toString('utf8');
  if (!text.trim()) throw errors.badRequest('the body of the request was empty');
  try {
    if (type === 'application/yaml' || type === 'application/apply-patch+yaml') return YAML.parse(text);
    return JSON.parse(text);
  } catch (err) {
    throw errors.badRequest(`the object provided is unrecognized (must be of type ${type}): ${err.message}`);
  }
}

function sendJSON(res, code, body, headers) {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, Object.assign({ 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Content-Length': Buffer.byteLength(text) }, headers || {}));
  res.end(text);
}

// `log(line)` receives internal errors (bugs), never expected API errors.
function sendError(res, err, log = (line) => console.error(line)) {
  if (!(err instanceof StatusError)) {
    log(`k8s: internal error: ${err && err.stack ? err.stack : err}`);
    err = errors.internal(`Internal error occurred: ${err && err.message}`);
  }
  sendJSON(res, err.code, err.toStatus());
}

function warningHeaders(warnings) {
  if (!warnings || !warnings.length) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(String(w))}`) };
}

// /api/v1/... or /apis/G/V/...  →  {group, version, rest: [...]} or null
function splitApiPath(pathname) {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'api' && parts.length >= 2) return { group: '', version: parts[1], rest: parts.slice(2) };
  if (parts[0] === 'apis' && parts.length >= 3) return { group: parts[1], version: parts[2], rest: parts.slice(3) };
  return null;
}

// Resolves the resource part of a path against the registry. Returns null when no such type is served.
function resourceRoute(registry, group, version, rest) {
  let segs = rest;
  let watch = false;
  if (segs[0] === 'watch') {
    watch = true;
    segs = segs.slice(1);
  }
  let namespace = '';
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    const candidate = registry.find(group, version, segs[2]);
    if (candidate && candidate.namespaced) {
      namespace = segs[1];
      segs = segs.slice(2);
    }
  }
  const [resourceName, name, subresource, ...extra] = segs;
  const resource = registry.find(group, version, resourceName);
  if (!resource || extra.length) return null;
  if (namespace === '' && resource.namespaced && name !== undefined) return null;
  if (subresource && !resource.subresources[subresource]) return null;
  return { resource, namespace, name, subresource, watch };
}

module.exports = { readBody, mediaType, parseObject, sendJSON, sendError, warningHeaders, splitApiPath, resourceRoute };
