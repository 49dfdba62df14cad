'use strict';
// The CloudNativePG operator, the barman-cloud plugin and cert-manager as installed on a cluster:
// - images: a container whose image repository is `cloudnative-pg/cloudnative-pg` or
//   `cloudnative-pg/plugin-barman-cloud` (and the plugin's `-testing` builds), whatever the tag, runs agent.js in
//   its pod (so the pods of the release manifests become Ready and their Deployments Available);
// - operatorPod(store): the Ready pod of an Available operator Deployment, or null: until there is one, nothing
//   happens to Cluster objects (cluster.js checks it);
// - knownPlugins(store, operatorPod): the plugin names the operator discovers (Services labelled cnpg.io/pluginName);
// - agentCall(dir, pod, route, body): a request made from that pod's network namespace (agent.js);
// - cert-manager: once its CRDs are served, Issuers become Ready and Certificates Ready with their TLS Secret
//   (a self-signed certificate made with the openssl command, key never on argv).

const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { execFileSync } = require('child_process');
const images = require('../node/images');

const OPERATOR_REPO = 'cloudnative-pg/cloudnative-pg';
const PLUGIN_REPO = /(^|\/)cloudnative-pg\/plugin-barman-cloud(-testing)?$/;
const CERT_GROUP = 'cert-manager.io';

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const isOperatorImage = (image) => images.repository(image).endsWith(OPERATOR_REPO);
const isPluginImage = (image) => PLUGIN_REPO.test(images.repository(image));

function agentDir(dir) {
  const d = path.join(dir, 'cnpg', 'agents');
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
}

function registerImages(dir) {
  images.registerImages((container) => {
    if (!isOperatorImage(container.image) && !isPluginImage(container.image)) return null;
    return { argv: [process.execPath, path.join(__dirname, 'agent.js')], user: { uid: 0, gid: 0 }, path: images.HOST_PATH,
      env: { LAB_CNPG_AGENT_DIR: agentDir(dir) } };
  });
}

const condition = (o, type) => ((o.status && o.status.conditions) || []).find((c) => c.type === type);
const isTrue = (o, type) => { const c = condition(o, type); return !!c && c.status === 'True'; };

function deploymentImages(d) {
  return (((d.spec || {}).template || {}).spec || {}).containers || [];
}

// The Ready pod of an Available operator Deployment (any namespace), or null.
function operatorPod(store) {
  for (const d of store.list('apps/v1', 'Deployment')) {
    if (!deploymentImages(d).some((c) => isOperatorImage(c.image)) || !isTrue(d, 'Available')) continue;
    const labels = ((d.spec.selector || {}).matchLabels) || {};
    const pod = store.list('v1', 'Pod', d.metadata.namespace).find((p) => !p.metadata.deletionTimestamp &&
      Object.entries(labels).every(([k, v]) => (p.metadata.labels || {})[k] === v) && isTrue(p, 'Ready') && p.status.podIP);
    if (pod) return pod;
  }
  return null;
}

// The plugins the operator has discovered, as CNPG does: Services of its namespace labelled cnpg.io/pluginName with
// a Ready pod behind them.
function knownPlugins(store, op) {
  const ns = op.metadata.namespace;
  const pods = store.list('v1', 'Pod', ns).filter((p) => isTrue(p, 'Ready'));
  return new Set(store.list('v1', 'Service', ns)
    .filter((svc) => (svc.metadata.labels || {})['cnpg.io/pluginName'] && svc.spec && svc.spec.selector &&
      pods.some((p) => Object.entries(svc.spec.selector).every(([k, v]) => (p.metadata.labels || {})[k] === v)))
    .map((svc) => svc.metadata.labels['cnpg.io/pluginName']));
}

// POST route to the agent of `pod`: the request leaves from that pod's network namespace.
function agentCall(dir, pod, route, body, timeoutMs = 5000) {
  const socketPath = path.join(dir, 'cnpg', 'agents', `${pod.status.podIP}.sock`);
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: route, method: 'POST', headers: { 'content-type': 'application/json' }, timeout: timeoutMs },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => { try { resolve(JSON.parse(text)); } catch { resolve({ error: `bad answer from the operator pod: ${text.slice(0, 80)}` }); } });
      });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: `the operator pod ${pod.metadata.name} does not answer: ${err.message}` }));
    req.end(JSON.stringify(body));
  });
}

// --- cert-manager ---
function selfSignedSecret(cert) {
  const spec = cert.spec || {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-cert-'));
  try {
    const cn = spec.commonName || (spec.dnsNames || [])[0] || cert.metadata.name;
    const sans = (spec.dnsNames || []).map((n) => `DNS:${n}`).concat((spec.ipAddresses || []).map((a) => `IP:${a}`));
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '90',
      '-keyout', path.join(tmp, 'tls.key'), '-out', path.join(tmp, 'tls.crt'), '-subj', `/CN=${cn}`];
    if (sans.length) args.push('-addext', `subjectAltName=${sans.join(',')}`);
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const crt = fs.readFileSync(path.join(tmp, 'tls.crt'));
    const key = fs.readFileSync(path.join(tmp, 'tls.key'));
    return { 'tls.crt': crt.toString('base64'), 'tls.key': key.toString('base64'), 'ca.crt': crt.toString('base64') };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function readyCondition(reason, message, generation) {
  return { type: 'Ready', status: 'True', reason, message, lastTransitionTime: now(), observedGeneration: generation };
}

function reconcileCertManager(store, log) {
  const served = (kind) => { try { return store.list(`${CERT_GROUP}/v1`, kind); } catch { return []; } };
  for (const issuer of served('Issuer').concat(served('ClusterIssuer'))) {
    if (isTrue(issuer, 'Ready')) continue;
    issuer.status = Object.assign({}, issuer.status, { conditions: [readyCondition('IsReady', issuer.spec && issuer.spec.selfSigned ? '' : 'Signing CA verified', issuer.metadata.generation)] });
    store.updateStatus(issuer);
  }
  for (const cert of served('Certificate')) {
    if (isTrue(cert, 'Ready') || !cert.spec || !cert.spec.secretName) continue;
    const ns = cert.metadata.namespace;
    try {
      if (!store.get('v1', 'Secret', ns, cert.spec.secretName)) {
        store.createObject({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', data: selfSignedSecret(cert),
          metadata: { name: cert.spec.secretName, namespace: ns, annotations: { 'cert-manager.io/certificate-name': cert.metadata.name } } });
      }
      const notAfter = new Date(Date.now() + 90 * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
      cert.status = Object.assign({}, cert.status, { notBefore: now(), notAfter, renewalTime: notAfter, revision: 1,
        conditions: [readyCondition('Ready', 'Certificate is up to date and has not expired', cert.metadata.generation)] });
      store.updateStatus(cert);
    } catch (err) {
      log(`cert-manager: ${ns}/${cert.metadata.name}: ${err.message}`);
    }
  }
}

module.exports = { registerImages, operatorPod, knownPlugins, agentCall, reconcileCertManager, isOperatorImage, isPluginImage };
