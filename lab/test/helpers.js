'use strict';
// Test helpers shared by the lab's test files: start a whole lab (`lab up`) in a temporary directory and stop
// it (`lab down`) afterwards, call its admin endpoint, and sign plain S3 requests (a small SigV4 signer written
// from AWS's documentation, independent of lib/s3/sigv4.js, for requests the real clients cannot make).
// Not a client library: only what tests need.

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const http = require('http');
const { execFile, spawnSync } = require('child_process');

const LAB_BIN = path.resolve(__dirname, '..', 'bin', 'lab');

// Runs bin/lab with `args` (and `env` added to this process's environment); resolves {code, stdout, stderr}
// (never rejects on a non-zero exit).
function runLab(args, { timeout = 60000, env } = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [LAB_BIN, ...args], { timeout, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

// Parses `export NAME='value'` lines into an object.
function parseEnv(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/'\\''/g, "'");
  }
  return env;
}

function makeTempDir(prefix = 'alaris-lab-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Starts a lab in a new temporary directory. Resolves {dir, env, stop()}; stop() runs `lab down` and removes
// the directory. The lab also stops by itself if this process dies (--owner-pid), and on process exit.
async function startLab({ args = [] } = {}) {
  const dir = makeTempDir();
  const res = await runLab(['up', '--dir', dir, '--owner-pid', String(process.pid), ...args]);
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    spawnSync(process.execPath, [LAB_BIN, 'down', '--dir', dir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stopSync);
  if (res.code !== 0) {
    stopSync();
    throw new Error(`lab up failed (${res.code}):\n${res.stderr}`);
  }
  return {
    dir,
    env: parseEnv(res.stdout),
    upOutput: res,
    async stop() {
      if (stopped) return;
      await runLab(['down', '--dir', dir]);
      stopSync();
    },
  };
}

// Calls the lab's admin endpoint; resolves {status, body} (body parsed as JSON when there is one).
async function admin(env, method, urlPath, body) {
  const res = await fetch(env.LAB_ADMIN_URL + urlPath, {
    method,
    headers: { authorization: `Bearer ${env.LAB_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// A plain HTTP request (fetch cannot set Host); resolves {status, headers, body (string), raw (Buffer)}.
// `path` (with its query) is sent as it is, where `url` would have "." and ".." segments resolved.
function httpRequest({ method = 'GET', url, path: rawPath, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, ...(rawPath ? { path: rawPath } : {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: raw.toString(), raw });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- a minimal SigV4 signer for tests ----

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
const amzDateOf = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function signingKeyFor(secret, day, region) {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), 's3'), 'aws4_request');
}

// Signs a request to `url` (keys should be plain ASCII); returns the headers to send.
// `payloadHash` defaults to the body's SHA-256; `host` overrides the Host header (virtual-host tests); `path`
// (with its query) is the path as sent, unresolved (see httpRequest).
function signHeaders({ method, url, path: rawPath, headers = {}, body = '', accessKey, secretKey, region = 'nyc3',
  payloadHash, host, date = new Date() }) {
  const u = new URL(url);
  if (rawPath) {
    const q = rawPath.indexOf('?');
    u.search = q < 0 ? '' : rawPath.slice(q);
  }
  const amzDate = amzDateOf(date);
  const day = amzDate.slice(0, 8);
  const all = { ...headers, host: host || u.host, 'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash || sha256(body) };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const query = [...u.searchParams].map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).sort().join('&');
  const pathname = rawPath ? rawPath.split('?')[0] : u.pathname;
  const canonicalPath = pathname.split('/').map((s) => rfc3986(decodeURIComponent(s))).join('/');
  const canonical = [method, canonicalPath, query, names.map((n) => `${n}:${lower[n].trim()}\n`).join(''),
    names.join(';'), lower['x-amz-content-sha256']].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = signingKeyFor(secretKey, day, region);
  const signature = crypto.createHmac('sha256', key).update(toSign).digest('hex');
  const out = { ...all };
  out.authorization = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return { headers: out, signature, key, scope, amzDate };
}

// Encodes `data` as aws-chunked with chunk signatures chained from `seed` (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
function awsChunkedBody(data, chunkSize, { key, scope, amzDate, seedSignature }) {
  const parts = [];
  let previous = seedSignature;
  const frame = (chunk) => {
    const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, sha256(''), sha256(chunk)].join('\n');
    previous = crypto.createHmac('sha256', key).update(toSign).digest('hex');
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`), chunk, Buffer.from('\r\n'));
  };
  for (let i = 0; i < data.length; i += chunkSize) frame(data.subarray(i, i + chunkSize));
  frame(Buffer.alloc(0));
  return Buffer.concat(parts);
}

module.exports = { LAB_BIN, runLab, parseEnv, makeTempDir, startLab, admin, httpRequest, signHeaders, awsChunkedBody, sha256 };
