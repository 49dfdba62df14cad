'use strict';
// Test support for the DO API tests: starts the emulated DigitalOcean API alone (port 0, a temp
// DIR, the lab's real Spaces key store there, every response checked against DO's description)
// and gives a small JSON client. Not a test itself.
const fs = require('fs');
const os = require('os');
const path = require('path');
const doServer = require('../lib/do/server');
const { KeyStore } = require('../lib/s3/keys');

const TOKEN = 'dop_v1_test_token_0123456789';
const K8S = {
  url: 'https://127.0.0.1:6443',
  caData: '-----BEGIN CERTIFICATE-----\nMIIBfakeCAforTests\n-----END CERTIFICATE-----\n',
  token: 'lab-k8s-test-token',
};

// Starts a server for test t and stops it (and removes its DIR) when t ends.
async function startDo(t, options = {}) {
  const dir = options.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'do-api-test-'));
  const keys = new KeyStore(dir);
  const srv = await doServer.start({
    dir, token: TOKEN, k8s: K8S, keys, clusterReadyDelayMs: 200, checkResponses: true,
    log: () => {}, ...options,
  });
  t.after(async () => {
    await srv.close();
    if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { srv, dir, keys, api: client(srv.url) };
}

function client(baseUrl) {
  // → {status, headers, body (parsed JSON, or text when not JSON)}
  return async function api(method, pathOrUrl, body, { token = TOKEN, rawBody } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : baseUrl + pathOrUrl;
    const res = await fetch(url, {
      method, headers, body: rawBody !== undefined ? rawBody : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') || '').includes('json');
    return { status: res.status, headers: res.headers, body: isJson && text ? JSON.parse(text) : text };
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function clusterBody(overrides = {}) {
  return {
    name: 'tenant-a', region: 'nyc1', version: 'latest',
    node_pools: [{ name: 'workers', size: 's-2vcpu-4gb', count: 2 }],
    ...overrides,
  };
}

module.exports = { startDo, client, sleep, clusterBody, TOKEN, K8S };
