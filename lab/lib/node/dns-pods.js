'use strict';
// Cluster DNS as a cluster has it: the Service kube-system/kube-dns (the 10th address of the Service range,
// port 53 UDP and TCP, selector k8s-app=kube-dns) and its pod kube-system/coredns-lab (image coredns, run by the
// kubelet as dns.js), recreated if deleted; the zone file the pod serves, rewritten from the live Services and
// pods on every change; and each pod's resolv.conf (its namespace first in the search list).

const fs = require('fs');
const path = require('path');
const cidr = require('./cidr');

const DOMAIN = 'cluster.local';
const LABELS = { 'k8s-app': 'kube-dns' };

function dnsServiceIP() {
  const range = process.env.LAB_SERVICE_CIDR || '10.96.0.0/20';
  const base = range.split('/')[0].split('.').map(Number);
  return `${base[0]}.${base[1]}.${base[2]}.10`;
}

function resolvConf(store, namespace) {
  return `search ${namespace}.svc.${DOMAIN} svc.${DOMAIN} ${DOMAIN}\nnameserver ${dnsServiceIP()}\noptions ndots:5\n`;
}

const service = () => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { ...LABELS, 'kubernetes.io/name': 'CoreDNS' } },
  spec: { clusterIP: dnsServiceIP(), selector: LABELS, ports: [
    { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }] } });

const pod = () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'coredns-lab', namespace: 'kube-system', labels: LABELS },
  spec: { containers: [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.1',
    ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 1 } }], priorityClassName: 'system-cluster-critical' } });

function ensure(store, obj) {
  if (store.get(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name)) return;
  try { store.createObject(obj); } catch { /* namespace going away, or raced */ }
}

function podReady(p) {
  return ((p.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function zoneOf(store) {
  const zone = {};
  const add = (name, ip) => { (zone[name] = zone[name] || []).push(ip); };
  const pods = store.list('v1', 'Pod').filter((p) => p.status && p.status.podIP);
  for (const s of store.list('v1', 'Service')) {
    const spec = s.spec || {};
    const fqdn = `${s.metadata.name}.${s.metadata.namespace}.svc.${DOMAIN}`;
    if (spec.clusterIP && spec.clusterIP !== 'None') { add(fqdn, spec.clusterIP); continue; }
    zone[fqdn] = zone[fqdn] || [];
    if (!spec.selector) continue;
    for (const p of pods) {
      if (p.metadata.namespace !== s.metadata.namespace || !podReady(p)) continue;
      if (!Object.entries(spec.selector).every(([k, v]) => (p.metadata.labels || {})[k] === v)) continue;
      add(fqdn, p.status.podIP);
      if (p.spec.hostname && p.spec.subdomain === s.metadata.name) add(`${p.spec.hostname}.${fqdn}`, p.status.podIP);
    }
  }
  for (const p of pods) add(`${p.status.podIP.replace(/\./g, '-')}.${p.metadata.namespace}.pod.${DOMAIN}`, p.status.podIP);
  return zone;
}

function start({ store, dir, log = () => {} }) {
  const file = path.join(dir, 'node', 'dns.json');
  let timer = null;
  let last = '';
  const write = () => {
    timer = null;
    ensure(store, service());
    ensure(store, pod());
    const text = JSON.stringify(zoneOf(store));
    if (text === last) return;
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
    last = text;
  };
  const onEvent = (e) => {
    if (e.resource.group || !['pods', 'services'].includes(e.resource.resource)) return;
    if (!timer) timer = setTimeout(() => { try { write(); } catch (err) { log(`dns: ${err.message}`); } }, 20);
  };
  store.on('event', onEvent);
  write();
  return { file, close() { clearTimeout(timer); store.removeListener('event', onEvent); } };
}

module.exports = { start, resolvConf, dnsServiceIP, zoneOf };
