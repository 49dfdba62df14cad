'use strict';
// The lab's nftables table `ip alaris_lab_<k>`, rendered whole from a model of the cluster and replaced in one
// transaction (`nft -f`), so a change to a Service, an endpoint, a pod or a NetworkPolicy takes effect at
// once and established connections (conntrack) survive it:
// - kube-proxy's part: DNAT of ClusterIP and LoadBalancer `IP:port` to a ready endpoint (random choice), in
//   prerouting (pods) and output (the node); any other port of a Service or LB address is refused (TCP reset).
// - the CNI's part: NetworkPolicy per pod and direction (Kubernetes semantics, see policyChains); replies of
//   allowed connections pass (ct established); node→pod traffic passes, except that traffic that came in
//   through a load balancer counts as from outside the cluster and meets the destination's ingress policy.
// - containment: a packet from the pod range to anything but a pod of this lab is dropped, and a packet from
//   outside the pod range (another lab's pods) to this lab's pods too.
// It does not decide what is ready or selected (runtime.js builds the model) and creates no links (network.js).

const { execFile, spawnSync } = require('child_process');

// Does a LabelSelector (matchLabels + matchExpressions) select these labels? An empty selector selects all.
function selects(selector, labels = {}) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values || [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

const set = (items) => (items.length === 1 ? items[0] : `{ ${items.join(', ')} }`);

function policyTypes(policy) {
  const spec = policy.spec || {};
  if (spec.policyTypes && spec.policyTypes.length) return spec.policyTypes;
  return spec.egress && spec.egress.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

// Pods a peer (podSelector / namespaceSelector / both) selects, from the namespace of the policy.
function peerPods(peer, policyNs, model) {
  const nsLabels = new Map(model.namespaces.map((n) => [n.name, n.labels || {}]));
  return model.pods.filter((p) => {
    if (peer.namespaceSelector) {
      if (!selects(peer.namespaceSelector, nsLabels.get(p.namespace))) return false;
    } else if (p.namespace !== policyNs) return false;
    return peer.podSelector ? selects(peer.podSelector, p.labels) : true;
  });
}

// Match expressions for one side (`saddr` or `daddr`) of a rule's peers; [''] when the rule names no peer.
function peerMatches(peers, side, policyNs, model) {
  if (!peers || !peers.length) return [{ expr: '', pods: null }];
  const out = [];
  for (const peer of peers) {
    if (peer.ipBlock) {
      const except = peer.ipBlock.except || [];
      out.push({ expr: `ip ${side} ${peer.ipBlock.cidr}${except.length ? ` ip ${side} != ${set(except)}` : ''}`, pods: null });
      continue;
    }
    const pods = peerPods(peer, policyNs, model);
    if (pods.length) out.push({ expr: `ip ${side} ${set(pods.map((p) => p.ip))}`, pods });
  }
  return out;
}

function portExpr(protocol, number, endPort) {
  const proto = (protocol || 'TCP').toLowerCase();
  if (number === undefined) return `meta l4proto ${proto}`;
  return `${proto} dport ${endPort ? `${number}-${endPort}` : number}`;
}

// Port expressions of a rule; a named port is resolved on the pod that serves it (`servers`).
function portMatches(ports, servers, side) {
  if (!ports || !ports.length) return [''];
  const out = [];
  for (const p of ports) {
    if (p.port === undefined || typeof p.port === 'number' || /^\d+$/.test(String(p.port))) {
      out.push(portExpr(p.protocol, p.port === undefined ? undefined : Number(p.port), p.endPort));
      continue;
    }
    for (const pod of servers) {
      const named = pod.ports[p.port];
      if (named && named.protocol === (p.protocol || 'TCP')) out.push(`ip ${side} ${pod.ip} ${portExpr(named.protocol, named.port)}`);
    }
  }
  return out;
}

// The rules of one pod's chain in one direction: each allowed (peer, port) returns to the caller; the rest drops.
function directionRules(pod, direction, model) {
  const rules = [];
  const key = direction === 'Ingress' ? 'ingress' : 'egress';
  for (const policy of model.policies) {
    if (policy.metadata.namespace !== pod.namespace || !selects(policy.spec.podSelector || {}, pod.labels)) continue;
    if (!policyTypes(policy).includes(direction)) continue;
    for (const rule of policy.spec[key] || []) {
      const peers = direction === 'Ingress' ? rule.from : rule.to;
      const side = direction === 'Ingress' ? 'saddr' : 'daddr';
      for (const peer of peerMatches(peers, side, pod.namespace, model)) {
        const servers = direction === 'Ingress' ? [pod] : (peer.pods || model.pods);
        for (const port of portMatches(rule.ports, servers, 'daddr')) {
          rules.push(`${peer.expr} ${port} return`.trim().replace(/\s+/g, ' '));
        }
      }
    }
  }
  return rules;
}

function isolated(pod, direction, model) {
  return model.policies.some((p) => p.metadata.namespace === pod.namespace && selects(p.spec.podSelector || {}, pod.labels) &&
    policyTypes(p).includes(direction));
}

function policyChains(model) {
  const chains = [];
  const ingress = [];
  const egress = [];
  model.pods.forEach((pod, i) => {
    if (isolated(pod, 'Ingress', model)) {
      chains.push(chain(`ingress_${i}`, [...directionRules(pod, 'Ingress', model), 'drop']));
      ingress.push(`${pod.ip} : jump ingress_${i}`);
    }
    if (isolated(pod, 'Egress', model)) {
      chains.push(chain(`egress_${i}`, [...directionRules(pod, 'Egress', model), 'drop']));
      egress.push(`${pod.ip} : jump egress_${i}`);
    }
  });
  return { chains, ingress, egress };
}

function chain(name, rules, head) {
  return `  chain ${name} {\n${head ? `    ${head}\n` : ''}${rules.map((r) => `    ${r}\n`).join('')}  }\n`;
}

function serviceChains(model) {
  const chains = [];
  const dispatch = [];
  model.services.forEach((svc, i) => {
    svc.ports.forEach((port, j) => {
      if (!port.endpoints.length) return;
      const name = `svc_${i}_${j}`;
      const proto = (port.protocol || 'TCP').toLowerCase();
      for (const ip of svc.ips) dispatch.push(`ip daddr ${ip} ${proto} dport ${port.port} jump ${name}`);
      const targets = port.endpoints.map((e, n) => `${n} : jump ${name}_${n}`);
      chains.push(chain(name, [`numgen random mod ${port.endpoints.length} vmap { ${targets.join(', ')} }`]));
      port.endpoints.forEach((e, n) => chains.push(chain(`${name}_${n}`, [`meta l4proto ${proto} dnat to ${e.ip}:${e.port}`])));
    });
  });
  return { chains, dispatch };
}

// The whole table text for `nft -f`.
function render(ranges, model) {
  const svc = serviceChains(model);
  const pol = policyChains(model);
  const virtual = `{ ${ranges.serviceCIDR}, ${ranges.lbCIDR} }`;
  const refuse = [`ip daddr ${virtual} meta l4proto tcp reject with tcp reset`, `ip daddr ${virtual} reject`];
  const vmapRule = (side, entries) => (entries.length ? [`ip ${side} vmap { ${entries.join(', ')} }`] : []);
  const lbIngress = pol.ingress.length ? [`ct original ip daddr ${ranges.lbCIDR} ip daddr vmap { ${pol.ingress.join(', ')} }`] : [];
  const owner = ranges.owner ? `  comment ${JSON.stringify(ranges.owner)}\n` : '';
  return `table ip ${ranges.table} {}\ndelete table ip ${ranges.table}\ntable ip ${ranges.table} {\n${owner}` +
    chain('services', svc.dispatch) +
    svc.chains.join('') +
    pol.chains.join('') +
    chain('nat_prerouting', ['jump services'], 'type nat hook prerouting priority dstnat; policy accept;') +
    chain('nat_output', ['jump services'], 'type nat hook output priority -100; policy accept;') +
    chain('forward_filter', [
      ...refuse,
      `ip saddr ${ranges.podCIDR} ip daddr != ${ranges.podCIDR} drop`,
      `ip daddr ${ranges.podCIDR} ip saddr != ${ranges.podCIDR} drop`,
      'ct state established,related accept',
      ...vmapRule('saddr', pol.egress),
      ...vmapRule('daddr', pol.ingress),
    ], 'type filter hook forward priority filter; policy accept;') +
    chain('output_filter', ['ct state established,related accept', ...lbIngress, ...refuse],
      'type filter hook output priority filter; policy accept;') +
    '}\n';
}

function apply(ranges, model) {
  const text = render(ranges, model);
  const res = spawnSync('nft', ['-f', '-'], { input: text, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`nft: ${res.stderr.trim()}\n${text}`);
  return text;
}

// Loads a rendered table without blocking the event loop.
function load(text) {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], (err, stdout, stderr) => (err ? reject(new Error(`nft: ${String(stderr).trim()}`)) : resolve()));
    child.stdin.end(text);
  });
}

module.exports = { render, apply, load, selects, policyTypes };
