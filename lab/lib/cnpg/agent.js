'use strict';
// What the lab runs for the CloudNativePG operator's and the barman-cloud plugin's pods (operator.js maps their
// images here). It runs inside the pod's network namespace and:
// - answers on the ports the manifests probe (9443 /readyz for the operator, 9090 for the plugin, 8080 metrics);
// - serves the lab daemon on a Unix socket LAB_CNPG_AGENT_DIR/<pod IP>.sock, so that the operator's traffic to
//   the instances leaves from this pod's own address, as it does on a cluster:
//     POST /http {url, timeoutMs}        → {status, body} | {error}   (a GET made from this pod)
//     POST /tcp  {host, port, timeoutMs} → {ok: true} | {error}       (a TCP connection made from this pod)
// Errors read as the Go client's do (`dial tcp IP:PORT: i/o timeout`, `connect: connection refused`).
// Usage: node agent.js  (env LAB_CNPG_AGENT_DIR)

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const net = require('net');

const PROBE_PORTS = [8080, 9090, 9443];

function podIP() {
  const eth0 = (os.networkInterfaces().eth0 || []).find((a) => a.family === 'IPv4');
  return eth0 ? eth0.address : null;
}

function dialError(host, port, err) {
  const where = `dial tcp ${host}:${port}`;
  if (err === 'timeout') return `${where}: i/o timeout`;
  if (err.code === 'ECONNREFUSED') return `${where}: connect: connection refused`;
  if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') return `${where}: connect: no route to host`;
  return `${where}: ${err.message}`;
}

function tcpCheck({ host, port, timeoutMs = 2000 }) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (result) => { sock.destroy(); resolve(result); };
    sock.setTimeout(timeoutMs, () => done({ error: dialError(host, port, 'timeout') }));
    sock.on('connect', () => done({ ok: true }));
    sock.on('error', (err) => done({ error: dialError(host, port, err) }));
  });
}

function httpGet({ url, timeoutMs = 2000 }) {
  return new Promise((resolve) => {
    const u = new URL(url);
    let settled = false;
    const finish = (result) => { if (!settled) { settled = true; resolve(result); } };
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => finish({ status: res.statusCode, body }));
    });
    const timer = setTimeout(() => { req.destroy(); finish({ error: `Get "${url}": ${dialError(u.hostname, u.port, 'timeout')}` }); }, timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err) => finish({ error: `Get "${url}": ${dialError(u.hostname, u.port, err)}` }));
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { text += d; });
    req.on('end', () => { try { resolve(JSON.parse(text || '{}')); } catch { resolve({}); } });
  });
}

function serveDaemon(socketPath) {
  fs.rmSync(socketPath, { force: true });
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    const action = req.url === '/http' ? httpGet : req.url === '/tcp' ? tcpCheck : null;
    const result = action ? await action(body) : { error: `unknown route ${req.url}` };
    res.writeHead(action ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(result));
  });
  server.listen(socketPath, () => fs.chmodSync(socketPath, 0o600));
  return server;
}

function main() {
  for (const port of PROBE_PORTS) {
    http.createServer((req, res) => { res.writeHead(200); res.end('OK'); }).listen(port, '0.0.0.0');
  }
  const dir = process.env.LAB_CNPG_AGENT_DIR;
  const ip = podIP();
  if (!dir || !ip) {
    process.stderr.write('agent: LAB_CNPG_AGENT_DIR or the pod address is missing\n');
    process.exit(2);
  }
  const socketPath = path.join(dir, `${ip}.sock`);
  serveDaemon(socketPath);
  process.stdout.write(`lab operator agent on ${ip}, serving the lab at ${path.basename(socketPath)}\n`);
  const stop = () => { fs.rmSync(socketPath, { force: true }); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { dialError };
