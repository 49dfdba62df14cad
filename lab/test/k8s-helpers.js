'use strict';
// Helpers for the emulated Kubernetes API tests: start the server alone in a temporary directory, write a
// kubeconfig for it, run the real kubectl (KUBECTL of ./kubectl.js) with a timeout (its discovery cache kept
// in the temp dir), make direct HTTPS requests, and read watch streams. Not a client library: only what tests need.

const fs = require('fs');
const os = require('os');
const path = require('path');
const https = require('https');
const { execFile, spawn } = require('child_process');
const { start } = require('../lib/k8s/server');
const { KUBECTL } = require('./kubectl');

const b64 = (s) => Buffer.from(s).toString('base64');

function kubeconfigText(k8s) {
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', `- name: lab`, `  cluster: {server: "${k8s.url}", certificate-authority-data: ${b64(k8s.caData)}}`,
    'users:', `- name: lab`, `  user: {token: "${k8s.token}"}`,
    `- name: lab-cert`, `  user: {client-certificate-data: ${b64(k8s.clientCert)}, client-key-data: ${b64(k8s.clientKey)}}`,
    'contexts:', `- name: lab`, `  context: {cluster: lab, user: lab}`, `- name: lab-cert`, `  context: {cluster: lab, user: lab-cert}`,
    'current-context: lab', '',
  ].join('\n');
}

async function startK8s(opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'alaris-k8s-'));
  const k8s = await start(Object.assign({ dir, host: '127.0.0.1', port: 0 }, opts));
  const kubeconfig = path.join(dir, 'kubeconfig');
  fs.writeFileSync(kubeconfig, kubeconfigText(k8s), { mode: 0o600 });
  const agent = new https.Agent({ ca: k8s.caData, keepAlive: false });

  // Runs kubectl; resolves {code, stdout, stderr}. Never hangs longer than `timeout` ms.
  function kubectl(args, { timeout = 45000, input } = {}) {
    return new Promise((resolve) => {
      const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'kube-cache'), ...args],
        { timeout, env: Object.assign({}, process.env, { HOME: dir }) }, (err, stdout, stderr) => {
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 124) : 0, stdout, stderr });
        });
      if (input !== undefined) child.stdin.end(input);
    });
  }

  // Starts a long-running kubectl (e.g. `get -w`); returns {child, output(), stop()}.
  function kubectlStream(args) {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'kube-cache'), ...args],
      { env: Object.assign({}, process.env, { HOME: dir }) });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    return { child, output: () => out, stop: async () => { if (child.exitCode === null) child.kill('SIGTERM'); await exited; } };
  }

  // Direct request; resolves {status, headers, body (parsed JSON when possible), text}.
  function request(method, urlPath, { body, contentType, headers = {}, token = k8s.token } = {}) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? null : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const h = Object.assign({ Accept: 'application/json' }, headers);
      if (token) h.Authorization = `Bearer ${token}`;
      if (payload !== null) {
        h['Content-Type'] = contentType || 'application/json';
        h['Content-Length'] = Buffer.byteLength(payload);
      }
      const req = https.request(`${k8s.url}${urlPath}`, { method, headers: h, agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          try { parsed = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed, text });
        });
      });
      req.on('error', reject);
      if (payload !== null) req.write(payload);
      req.end();
    });
  }

  // Opens a watch; collects events. Returns {events, waitFor(pred, ms), close(), ended}.
  function watch(urlPath, { headers = {} } = {}) {
    const events = [];
    const waiters = [];
    let buf = '';
    let req;
    const ended = new Promise((resolve, reject) => {
      req = https.request(`${k8s.url}${urlPath}`, { headers: Object.assign({ Authorization: `Bearer ${k8s.token}`, Accept: 'application/json' }, headers), agent }, (res) => {
        res.on('data', (d) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) events.push(JSON.parse(line));
            for (const w of waiters.slice()) w();
          }
        });
        res.on('end', () => resolve(events));
        res.on('close', () => resolve(events));
      });
      req.on('error', (err) => (req.destroyed ? resolve(events) : reject(err)));
      req.end();
    });
    function waitFor(pred, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find(pred);
          if (hit) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`watch: no matching event in ${ms} ms; got ${JSON.stringify(events.map((e) => e.type))}`));
        }, ms);
        waiters.push(check);
        check();
      });
    }
    return { events, waitFor, ended, close: () => req.destroy() };
  }

  async function stop() {
    agent.destroy();
    await k8s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return { k8s, dir, kubeconfig, kubectl, kubectlStream, request, watch, stop, store: k8s.store };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `fn` until it returns a truthy value (or throws after `ms`).
async function eventually(fn, ms = 3000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

module.exports = { startK8s, sleep, eventually };
