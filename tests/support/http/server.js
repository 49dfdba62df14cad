// Test server for tests/http_test.lua: plain HTTP/1.1 and TLS (HTTP/2 with HTTP/1.1 fallback) on ephemeral
// 127.0.0.1 ports, with endpoints that echo, stream, sleep, fail on purpose and count connections.
// Prints one JSON line {pid, http, https, closed} on stdout, then only logs to stderr. Not a general server.
// Usage: node server.js [TLS_DIR]   (TLS_DIR holds ca.crt, server.crt, server.key; without it, no TLS server)
'use strict';
const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const net = require('net');
const path = require('path');

const stats = { connections: 0, tls_connections: 0, streams_closed: 0 };
const counts = new Map();
const PATTERN = 'alaris-http-test-pattern-0123456789abcdefghijklmnopqrstuvwxyz!?\n'; // 64 bytes

function bump(key) {
  const n = (counts.get(key) || 0) + 1;
  counts.set(key, n);
  return n;
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function peerCommonName(req) {
  const socket = req.stream ? req.stream.session.socket : req.socket;
  const cert = socket.getPeerCertificate ? socket.getPeerCertificate() : null;
  return cert && cert.subject ? cert.subject.CN : null;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const routes = {
  '/echo': async (req, res) => {
    const body = await readBody(req);
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    sendJson(res, 200, { method: req.method, url: req.url, headers, body: body.toString('latin1'), length: body.length });
  },
  '/raw': async (req, res) => {
    const body = await readBody(req);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  },
  '/headers': (req, res) => {
    res.setHeader('X-Mixed-Case', 'Value With Spaces');
    res.setHeader('X-Dup', ['a', 'b']);
    res.setHeader('Set-Cookie', ['one=1; Path=/', 'two=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('headers');
  },
  '/big': (req, res, q) => {
    const n = Number(q.get('n') || 0);
    const block = Buffer.from(PATTERN.repeat(1024)); // 64 KiB
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    let sent = 0;
    const more = () => {
      while (sent < n) {
        const piece = block.subarray(0, Math.min(block.length, n - sent));
        sent += piece.length;
        if (!res.write(piece)) return res.once('drain', more);
      }
      res.end();
    };
    more();
  },
  '/stream': (req, res, q) => {
    const interval = Number(q.get('interval') || 20);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    let i = 0;
    const timer = setInterval(() => res.write(`chunk ${++i}\n`), interval);
    res.on('close', () => {
      clearInterval(timer);
      stats.streams_closed++;
    });
  },
  '/sleep': (req, res, q) => {
    const timer = setTimeout(() => sendJson(res, 200, { slept: Number(q.get('ms')) }), Number(q.get('ms') || 1000));
    res.on('close', () => clearTimeout(timer));
  },
  '/flaky': (req, res, q) => {
    const n = bump(q.get('key'));
    if (n <= Number(q.get('fail') || 0)) {
      const headers = { 'Content-Type': 'text/plain' };
      if (q.get('retry_after')) headers['Retry-After'] = q.get('retry_after');
      res.writeHead(Number(q.get('status') || 503), headers);
      return res.end(`failure ${n}`);
    }
    sendJson(res, 200, { attempt: n });
  },
  '/reset': (req, res, q) => {
    const n = bump(q.get('key'));
    if (n <= Number(q.get('fail') || 0)) return req.socket.destroy();
    sendJson(res, 200, { attempt: n });
  },
  '/count': (req, res, q) => sendJson(res, 200, { count: counts.get(q.get('key')) || 0 }),
  '/stats': (req, res) => sendJson(res, 200, stats),
  '/client-cert': (req, res) => {
    const cn = peerCommonName(req);
    if (!cn) return sendJson(res, 401, { error: 'no client certificate' });
    sendJson(res, 200, { cn });
  },
};

function handle(req, res) {
  const url = new URL(req.url, 'http://test');
  res.setHeader('X-Client-Port', String(req.socket.remotePort));
  const status = url.pathname.match(/^\/status\/(\d{3})$/);
  if (status) {
    res.writeHead(Number(status[1]), { 'Content-Type': 'text/plain' });
    return res.end(Number(status[1]) === 204 || req.method === 'HEAD' ? undefined : `status ${status[1]}`);
  }
  const route = routes[url.pathname];
  if (!route) return sendJson(res, 404, { error: 'no such route' });
  Promise.resolve(route(req, res, url.searchParams)).catch((e) => {
    process.stderr.write(`http test server: ${e.stack}\n`);
    res.destroy();
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// A port that was just free: nothing listens there, so connecting is refused.
function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

async function main() {
  const plain = http.createServer(handle);
  plain.on('connection', () => stats.connections++);
  const ports = { pid: process.pid, http: await listen(plain), closed: await closedPort() };
  const tlsDir = process.argv[2];
  if (tlsDir) {
    const read = (f) => fs.readFileSync(path.join(tlsDir, f));
    const secure = http2.createSecureServer({
      key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt'),
      allowHTTP1: true, requestCert: true, rejectUnauthorized: false,
    }, handle);
    secure.on('secureConnection', () => stats.tls_connections++);
    ports.https = await listen(secure);
  }
  process.stdout.write(JSON.stringify(ports) + '\n');
  // Never outlive the test that started us, even if it could not kill us.
  const parent = process.ppid;
  setInterval(() => {
    try { process.kill(parent, 0); } catch { process.exit(0); }
  }, 500).unref();
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

main();
