// How clients reach a DOKS cluster of the emulated DO API: GET .../kubeconfig (YAML) and
// GET .../credentials (JSON), both pointing at the lab's one Kubernetes API (its URL, its CA, a
// bearer token it accepts), and GET /v2/kubernetes/options (versions, regions, sizes).
// The token is the lab's own; expiry_seconds only changes the reported expires_at.
'use strict';
const YAML = require('yaml');
const { ApiError } = require('./respond');
const catalog = require('./catalog');

const DEFAULT_EXPIRY_SECONDS = 7 * 24 * 3600;

function expirySeconds(query) {
  const raw = query.get('expiry_seconds');
  if (raw === null || raw === '') return DEFAULT_EXPIRY_SECONDS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'expiry_seconds must be a non-negative integer');
  return n === 0 ? DEFAULT_EXPIRY_SECONDS : n;
}

function requireK8s(k8s) {
  if (!k8s || !k8s.url) throw new ApiError(503, 'the lab has no Kubernetes API to hand out');
  return k8s;
}

function kubeconfig(cluster, k8s) {
  const name = `do-${cluster.region}-${cluster.name}`;
  const user = `${name}-admin`;
  return YAML.stringify({
    apiVersion: 'v1',
    clusters: [{
      cluster: { 'certificate-authority-data': Buffer.from(k8s.caData).toString('base64'), server: k8s.url },
      name,
    }],
    contexts: [{ context: { cluster: name, user }, name }],
    'current-context': name,
    kind: 'Config',
    preferences: {},
    users: [{ name: user, user: { token: k8s.token } }],
  });
}

function credentials(k8s, seconds) {
  return {
    server: k8s.url,
    certificate_authority_data: Buffer.from(k8s.caData).toString('base64'),
    client_certificate_data: null,
    client_key_data: null,
    token: k8s.token,
    expires_at: new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

function routes({ clusters, k8s }) {
  const C = '/v2/kubernetes/clusters';
  return [
    { method: 'GET', path: '/v2/kubernetes/options', handler: () => ({ status: 200, body: catalog.kubernetesOptions() }) },
    { method: 'GET', path: `${C}/{cluster_id}/kubeconfig`,
      handler: (ctx) => {
        const cluster = clusters.get(ctx.params.cluster_id);
        expirySeconds(ctx.query);
        return { status: 200, contentType: 'application/yaml', text: kubeconfig(cluster, requireK8s(k8s)) };
      } },
    { method: 'GET', path: `${C}/{cluster_id}/credentials`,
      handler: (ctx) => {
        clusters.get(ctx.params.cluster_id);
        return { status: 200, body: credentials(requireK8s(k8s), expirySeconds(ctx.query)) };
      } },
  ];
}

module.exports = { routes, kubeconfig, credentials };
