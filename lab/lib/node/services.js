'use strict';
// kube-proxy's, the cloud's and the CNI's controller for the node: on any change to a Pod, Service,
// NetworkPolicy or Namespace (debounced, well within a second) it gives each `type: LoadBalancer` Service an
// ingress IP from the LB range, keeps the Endpoints and one EndpointSlice of each selector Service current from its
// pods (ready or not), and renders the whole nftables table (nft.js) from the live objects. It runs no pod.

const nft = require('./nft');
const cidr = require('./cidr');

const DEBOUNCE_MS = 20;
const WATCHED = new Set(['pods', 'services', 'networkpolicies', 'namespaces']);

function containerPorts(pod) {
  const ports = {};
  for (const c of pod.spec.containers || []) {
    for (const p of c.ports || []) if (p.name) ports[p.name] = { port: p.containerPort, protocol: p.protocol || 'TCP' };
  }
  return ports;
}

function selected(selector, labels = {}) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function targetPort(port, pod) {
  const t = port.targetPort === undefined ? port.port : port.targetPort;
  if (typeof t === 'number' || /^\d+$/.test(String(t))) return Number(t);
  const named = containerPorts(pod)[t];
  return named ? named.port : null;
}

class NetworkController {
  constructor({ store, kubelet, ranges, log = () => {} }) {
    this.store = store;
    this.kubelet = kubelet;
    this.ranges = ranges;
    this.log = log;
    this.timer = null;
    this.onEvent = (e) => { if (!e.resource.group || e.resource.group === 'networking.k8s.io') { if (WATCHED.has(e.resource.resource)) this.schedule(); } };
    store.on('event', this.onEvent);
    kubelet.onChange = ({ now } = {}) => (now ? this.sync() : this.schedule());
    this.lastText = null;
  }

  schedule() {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => { this.timer = null; this.sync(); }, DEBOUNCE_MS);
  }

  // Pods with an address on this node, as the rules see them.
  podModel() {
    const out = [];
    for (const ps of this.kubelet.runningPods()) {
      const pod = this.store.get('v1', 'Pod', ps.ns, ps.name);
      if (!pod || pod.metadata.uid !== ps.uid) continue;
      const ready = ((pod.status || {}).conditions || []).some((c) => c.type === 'Ready' && c.status === 'True');
      out.push({ ip: ps.ip, namespace: ps.ns, name: ps.name, labels: pod.metadata.labels || {}, ports: containerPorts(pod), ready, pod });
    }
    return out;
  }

  assignLoadBalancers(services) {
    const used = new Set();
    for (const s of services) for (const i of ((s.status || {}).loadBalancer || {}).ingress || []) used.add(i.ip);
    for (const s of services) {
      if (s.spec.type !== 'LoadBalancer' || (((s.status || {}).loadBalancer || {}).ingress || []).length) continue;
      const ip = cidr.firstFree(this.ranges.lbCIDR, used);
      if (!ip) continue;
      used.add(ip);
      s.status = Object.assign({}, s.status, { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } });
      delete s.metadata.resourceVersion;
      try { this.store.updateStatus(s); } catch (err) { this.log(`services: load balancer of ${s.metadata.name}: ${err.message}`); }
    }
  }

  serviceModel(services, pods) {
    const out = [];
    for (const s of services) {
      const spec = s.spec || {};
      if (!spec.clusterIP || spec.clusterIP === 'None' || !spec.selector || spec.type === 'ExternalName') continue;
      const ips = [spec.clusterIP];
      const lb = (((s.status || {}).loadBalancer || {}).ingress || [])[0];
      if (lb && lb.ip && cidr.contains(this.ranges.lbCIDR, lb.ip)) ips.push(lb.ip);
      const backends = pods.filter((p) => p.ready && p.namespace === s.metadata.namespace && selected(spec.selector, p.labels));
      const ports = (spec.ports || []).map((port) => ({
        port: port.port, protocol: port.protocol || 'TCP',
        endpoints: backends.map((p) => ({ ip: p.ip, port: targetPort(port, p.pod) })).filter((e) => e.port),
      }));
      out.push({ ips, ports });
    }
    return out;
  }

  // Endpoints and EndpointSlice of each selector Service: its pods with an address, ready or not, and the ports.
  writeEndpoints(services, pods) {
    const wanted = new Set();
    for (const s of services) {
      const spec = s.spec || {};
      if (!spec.selector || spec.type === 'ExternalName') continue;
      const { name, namespace } = s.metadata;
      wanted.add(`${namespace}/${name}`);
      const members = pods.filter((p) => p.namespace === namespace && selected(spec.selector, p.labels));
      const ports = (spec.ports || []).map((port) => ({ name: port.name, protocol: port.protocol || 'TCP',
        port: members.length ? targetPort(port, members[0].pod) : (typeof port.targetPort === 'number' ? port.targetPort : port.port) }))
        .filter((p) => p.port).map((p) => (p.name ? p : { port: p.port, protocol: p.protocol }));
      const ref = (p) => ({ kind: 'Pod', namespace, name: p.name, uid: p.pod.metadata.uid });
      const address = (p) => ({ ip: p.ip, nodeName: p.pod.spec.nodeName, targetRef: ref(p) });
      const ready = members.filter((p) => p.ready);
      const notReady = members.filter((p) => !p.ready);
      const subset = { addresses: ready.map(address), notReadyAddresses: notReady.map(address), ports };
      for (const k of ['addresses', 'notReadyAddresses']) if (!subset[k].length) delete subset[k];
      this.upsert({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels: s.metadata.labels },
        subsets: members.length ? [subset] : [] });
      this.upsert({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
        metadata: { name: `${name}-lab`, namespace, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: s.metadata.uid, controller: true, blockOwnerDeletion: true }] },
        endpoints: members.map((p) => ({ addresses: [p.ip], conditions: { ready: p.ready, serving: p.ready, terminating: false }, nodeName: p.pod.spec.nodeName, targetRef: ref(p) })),
        ports });
    }
    for (const e of this.store.list('v1', 'Endpoints')) {
      if (!wanted.has(`${e.metadata.namespace}/${e.metadata.name}`) && !(e.metadata.namespace === 'default' && e.metadata.name === 'kubernetes')) {
        try { this.store.deleteObject('v1', 'Endpoints', e.metadata.namespace, e.metadata.name); } catch { /* gone */ }
      }
    }
  }

  // Creates or replaces an object the controller owns, only when its content changed.
  upsert(obj) {
    const current = this.store.get(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
    const content = (o) => JSON.stringify([o.subsets, o.endpoints, o.ports, o.metadata.labels || {}]);
    try {
      if (!current) this.store.createObject(obj);
      else if (content(current) !== content(obj)) this.store.updateObject({ ...obj, metadata: { ...current.metadata, labels: obj.metadata.labels } });
    } catch (err) {
      if (err.code !== 404 && err.code !== 403 && err.code !== 409) this.log(`services: ${obj.kind} ${obj.metadata.name}: ${err.message}`);
    }
  }

  // Brings the rules up to date; resolves once the kernel has them. Calls while one runs join it (and make it
  // run once more), so the rules are loaded one table at a time, the last one from the latest objects.
  sync() {
    if (this.stopped) return Promise.resolve();
    if (this.running) { this.again = true; return this.running; }
    this.running = (async () => {
      do { this.again = false; await this.syncOnce(); } while (this.again && !this.stopped);
    })().finally(() => { this.running = null; });
    return this.running;
  }

  async syncOnce() {
    try {
      const services = this.store.list('v1', 'Service');
      this.assignLoadBalancers(services);
      const pods = this.podModel();
      this.writeEndpoints(services.filter((s) => !s.metadata.deletionTimestamp), pods);
      const model = {
        pods,
        services: this.serviceModel(this.store.list('v1', 'Service'), pods),
        policies: this.store.list('networking.k8s.io/v1', 'NetworkPolicy'),
        namespaces: this.store.list('v1', 'Namespace').map((n) => ({ name: n.metadata.name, labels: n.metadata.labels || {} })),
      };
      const text = nft.render(this.ranges, model);
      if (text === this.lastText) return;
      await nft.load(text);
      this.lastText = text;
    } catch (err) {
      this.log(`services: ${err.message}`);
    }
  }

  // Resolves once no rule load is in flight (so none lands after the table is removed).
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.store.removeListener('event', this.onEvent);
    return this.running || Promise.resolve();
  }
}

module.exports = { NetworkController };
