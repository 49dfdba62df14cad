// DOKS clusters and node pools of the emulated DO API. A created cluster is `provisioning` and
// becomes `running` clusterReadyDelayMs after creation (computed when read, so no timers); its
// nodes follow. Every cluster is served by the lab's one Kubernetes API (see kubernetes-access.js):
// clusters are records, not separate control planes, and no Droplets exist behind the nodes.
'use strict';
const crypto = require('crypto');
const { ApiError, notFound, isoNow } = require('./respond');
const { paginate } = require('./pagination');
const catalog = require('./catalog');

const MAX_POOL_NAME = 55;
const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,253}[a-z0-9])?$/;

function newNode(pool, createdMs) {
  return {
    id: crypto.randomUUID(),
    name: `${pool.name}-${crypto.randomBytes(3).toString('hex').slice(0, 5)}`,
    droplet_id: String(100000000 + crypto.randomInt(800000000)),
    created_ms: createdMs,
  };
}

function checkPoolBody(body, field) {
  if (body.name.length > MAX_POOL_NAME) {
    throw new ApiError(422, `${field}.name: pool names cannot be greater than ${MAX_POOL_NAME} characters`);
  }
  catalog.requireNodeSize(body.size, `${field}.size`);
  if (body.count < 1 && !body.auto_scale) throw new ApiError(422, `${field}.count must be at least 1`);
}

function newPool(body, nowMs) {
  const pool = {
    id: crypto.randomUUID(),
    name: body.name,
    size: body.size,
    count: body.count,
    tags: body.tags || [],
    labels: body.labels === undefined ? null : body.labels,
    taints: body.taints || [],
    auto_scale: !!body.auto_scale,
    min_nodes: body.auto_scale ? body.min_nodes || 0 : 0,
    max_nodes: body.auto_scale ? body.max_nodes || 0 : 0,
    created_ms: nowMs,
    nodes: [],
  };
  for (let i = 0; i < body.count; i++) pool.nodes.push(newNode(pool, nowMs));
  return pool;
}

class Clusters {
  constructor({ state, projects, k8s, clusterReadyDelayMs }) {
    this.state = state;
    this.projects = projects;
    this.k8s = k8s;
    this.readyDelayMs = clusterReadyDelayMs;
  }

  isReady(createdMs) {
    return Date.now() >= createdMs + this.readyDelayMs;
  }

  get(id) {
    const cluster = this.state.clusters.get(id);
    if (!cluster) throw notFound();
    return cluster;
  }

  pool(cluster, poolId) {
    const pool = cluster.node_pools.find((p) => p.id === poolId);
    if (!pool) throw notFound();
    return pool;
  }

  nodeView(node, cluster) {
    const at = isoNow(node.created_ms);
    const state = this.isReady(Math.max(node.created_ms, cluster.created_ms)) ? 'running' : 'provisioning';
    return { id: node.id, name: node.name, status: { state }, droplet_id: node.droplet_id, created_at: at, updated_at: at };
  }

  poolView(pool, cluster) {
    const { created_ms: _c, nodes, ...rest } = pool;
    return {
      ...rest,
      tags: [...pool.tags, 'k8s', `k8s:${cluster.id}`, 'k8s:worker'],
      nodes: nodes.map((n) => this.nodeView(n, cluster)),
    };
  }

  view(cluster) {
    const running = this.isReady(cluster.created_ms);
    const endpoint = running && this.k8s ? this.k8s.url : '';
    return {
      id: cluster.id,
      name: cluster.name,
      region: cluster.region,
      version: cluster.version,
      cluster_subnet: cluster.cluster_subnet,
      service_subnet: cluster.service_subnet,
      vpc_uuid: cluster.vpc_uuid,
      ipv4: endpoint ? new URL(endpoint).hostname : '',
      endpoint,
      tags: [...cluster.tags, 'k8s', `k8s:${cluster.id}`],
      node_pools: cluster.node_pools.map((p) => this.poolView(p, cluster)),
      maintenance_policy: cluster.maintenance_policy,
      auto_upgrade: cluster.auto_upgrade,
      status: running ? { state: 'running', message: '' } : { state: 'provisioning', message: 'provisioning' },
      created_at: isoNow(cluster.created_ms),
      updated_at: cluster.updated_at,
      surge_upgrade: cluster.surge_upgrade,
      registry_enabled: false,
      ha: cluster.ha,
    };
  }

  checkName(name, exceptId) {
    if (!CLUSTER_NAME.test(name)) {
      throw new ApiError(422, 'name must consist of lowercase letters, numbers and "-", and start and end with a letter or number');
    }
    if (this.state.clusters.find((c) => c.name === name && c.id !== exceptId)) {
      throw new ApiError(422, `a cluster with the name ${name} already exists`);
    }
  }

  create(body) {
    this.checkName(body.name);
    catalog.requireRegion(body.region);
    const version = catalog.resolveKubernetesVersion(body.version);
    if (body.node_pools.length === 0) throw new ApiError(422, 'at least one node pool is required');
    body.node_pools.forEach((p, i) => checkPoolBody(p, `node_pools[${i}]`));
    const nowMs = Date.now();
    const cluster = {
      id: crypto.randomUUID(),
      name: body.name,
      region: body.region,
      version,
      cluster_subnet: body.cluster_subnet || '10.244.0.0/16',
      service_subnet: body.service_subnet || '10.245.0.0/16',
      vpc_uuid: body.vpc_uuid || crypto.randomUUID(),
      tags: body.tags || [],
      node_pools: body.node_pools.map((p) => newPool(p, nowMs)),
      maintenance_policy: { start_time: '00:00', duration: '4h0m0s', day: 'any', ...(body.maintenance_policy || {}) },
      auto_upgrade: !!body.auto_upgrade,
      surge_upgrade: !!body.surge_upgrade,
      ha: !!body.ha,
      created_ms: nowMs,
      updated_at: isoNow(nowMs),
    };
    this.state.clusters.put(cluster);
    this.projects.assignToDefault(`do:kubernetes:${cluster.id}`);
    this.state.changed();
    return { status: 201, body: { kubernetes_cluster: this.view(cluster) } };
  }

  update(id, body) {
    const cluster = this.get(id);
    this.checkName(body.name, id);
    for (const field of ['name', 'tags', 'auto_upgrade', 'surge_upgrade']) {
      if (body[field] !== undefined) cluster[field] = body[field];
    }
    if (body.ha !== undefined) {
      if (cluster.ha && !body.ha) throw new ApiError(422, 'ha cannot be disabled once enabled');
      cluster.ha = body.ha;
    }
    if (body.maintenance_policy) cluster.maintenance_policy = { ...cluster.maintenance_policy, ...body.maintenance_policy };
    cluster.updated_at = isoNow();
    this.state.changed();
    return { status: 202, body: { kubernetes_cluster: this.view(cluster) } };
  }

  remove(id) {
    this.get(id);
    this.state.clusters.delete(id);
    this.projects.unassign(`do:kubernetes:${id}`);
    this.state.changed();
    return { status: 204 };
  }

  list(ctx) {
    const views = this.state.clusters.all().map((c) => this.view(c));
    return { status: 200, body: paginate(views, 'kubernetes_clusters', ctx) };
  }

  addPool(id, body) {
    const cluster = this.get(id);
    checkPoolBody(body, 'node_pool');
    const pool = newPool(body, Date.now());
    cluster.node_pools.push(pool);
    this.state.changed();
    return { status: 201, body: { node_pool: this.poolView(pool, cluster) } };
  }

  updatePool(id, poolId, body) {
    const cluster = this.get(id);
    const pool = this.pool(cluster, poolId);
    for (const field of ['name', 'tags', 'labels', 'taints', 'auto_scale', 'min_nodes', 'max_nodes']) {
      if (body[field] !== undefined) pool[field] = body[field];
    }
    const nowMs = Date.now();
    while (pool.nodes.length < body.count) pool.nodes.push(newNode(pool, nowMs));
    pool.nodes.length = Math.min(pool.nodes.length, body.count);
    pool.count = body.count;
    this.state.changed();
    return { status: 202, body: { node_pool: this.poolView(pool, cluster) } };
  }

  removePool(id, poolId) {
    const cluster = this.get(id);
    this.pool(cluster, poolId);
    cluster.node_pools = cluster.node_pools.filter((p) => p.id !== poolId);
    this.state.changed();
    return { status: 204 };
  }
}

function routes({ clusters }) {
  const C = '/v2/kubernetes/clusters';
  return [
    { method: 'POST', path: C, handler: (ctx) => clusters.create(ctx.body) },
    { method: 'GET', path: C, handler: (ctx) => clusters.list(ctx) },
    { method: 'GET', path: `${C}/{cluster_id}`,
      handler: (ctx) => ({ status: 200, body: { kubernetes_cluster: clusters.view(clusters.get(ctx.params.cluster_id)) } }) },
    { method: 'PUT', path: `${C}/{cluster_id}`, handler: (ctx) => clusters.update(ctx.params.cluster_id, ctx.body) },
    { method: 'DELETE', path: `${C}/{cluster_id}`, handler: (ctx) => clusters.remove(ctx.params.cluster_id) },
    { method: 'GET', path: `${C}/{cluster_id}/node_pools`,
      handler: (ctx) => {
        const cluster = clusters.get(ctx.params.cluster_id);
        return { status: 200, body: { node_pools: cluster.node_pools.map((p) => clusters.poolView(p, cluster)) } };
      } },
    { method: 'POST', path: `${C}/{cluster_id}/node_pools`, handler: (ctx) => clusters.addPool(ctx.params.cluster_id, ctx.body) },
    { method: 'GET', path: `${C}/{cluster_id}/node_pools/{node_pool_id}`,
      handler: (ctx) => {
        const cluster = clusters.get(ctx.params.cluster_id);
        return { status: 200, body: { node_pool: clusters.poolView(clusters.pool(cluster, ctx.params.node_pool_id), cluster) } };
      } },
    { method: 'PUT', path: `${C}/{cluster_id}/node_pools/{node_pool_id}`,
      handler: (ctx) => clusters.updatePool(ctx.params.cluster_id, ctx.params.node_pool_id, ctx.body) },
    { method: 'DELETE', path: `${C}/{cluster_id}/node_pools/{node_pool_id}`,
      handler: (ctx) => clusters.removePool(ctx.params.cluster_id, ctx.params.node_pool_id) },
  ];
}

module.exports = { Clusters, routes };
