'use strict';
// The workload controllers: Deployment → ReplicaSet → Pods, and (jobs.js) Job → Pods. Like kube-controller-
// manager they read the store and write through it (so every change is a watch event with its own
// resourceVersion): Deployments keep one ReplicaSet per pod template (pod-template-hash), scale and roll
// (RollingUpdate with maxSurge/maxUnavailable, or Recreate), keep revisionHistoryLimit old ReplicaSets and write
// status with the Available and Progressing conditions `kubectl rollout status` reads; ReplicaSets create and
// delete Pods to match replicas and count ready/available ones. They never run a pod: the node runtime (or the
// fake kubelet) writes pod status. Work is per namespace: any change to a Deployment, ReplicaSet, Job or Pod
// marks its namespace, and a sweep on the next tick reconciles what is marked.

const u = require('./workloads-util');
const jobs = require('./jobs');

const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';
const WATCHED = new Set(['apps/deployments', 'apps/replicasets', 'batch/jobs', '/pods']);

const revisionOf = (o) => Number((o.metadata.annotations || {})[REVISION] || 0);
const specReplicas = (o) => (o.spec && o.spec.replicas !== undefined && o.spec.replicas !== null ? o.spec.replicas : 1);
const statusOf = (o, k) => (o.status && o.status[k]) || 0;
const sum = (list, f) => list.reduce((n, x) => n + f(x), 0);
const byAge = (a, b) => revisionOf(a) - revisionOf(b) || String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp));

// Admission defaults the API server gives a Deployment.
function deploymentDefaults(op, res, obj) {
  if (res.group !== 'apps' || res.resource !== 'deployments' || (op !== 'create' && op !== 'update')) return;
  const spec = (obj.spec = obj.spec || {});
  if (spec.replicas === undefined) spec.replicas = 1;
  if (spec.revisionHistoryLimit === undefined) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined) spec.progressDeadlineSeconds = 600;
  spec.strategy = spec.strategy || {};
  spec.strategy.type = spec.strategy.type || 'RollingUpdate';
  if (spec.strategy.type === 'RollingUpdate') {
    spec.strategy.rollingUpdate = Object.assign({ maxSurge: '25%', maxUnavailable: '25%' }, spec.strategy.rollingUpdate);
  }
}

class Workloads {
  // opts.jobBackoffMs: the first delay before a failed Job pod is replaced (doubling, capped at 16x).
  constructor({ store, registry, jobBackoffMs = 1000 }) {
    this.store = store;
    this.res = {
      deployments: registry.find('apps', 'v1', 'deployments'),
      replicasets: registry.find('apps', 'v1', 'replicasets'),
      jobs: registry.find('batch', 'v1', 'jobs'),
      pods: registry.find('', 'v1', 'pods'),
    };
    this.jobBackoffMs = jobBackoffMs;
    this.dirty = new Set();
    this.timers = new Map();
    this.scheduled = null;
    this.stopped = false;
    store.addHook(deploymentDefaults);
    store.addHook(jobs.jobDefaults);
    this.onEvent = (e) => {
      if (WATCHED.has(`${e.resource.group}/${e.resource.resource}`) && e.object.metadata.namespace) this.mark(e.object.metadata.namespace);
    };
    store.on('event', this.onEvent);
  }

  stop() {
    this.stopped = true;
    this.store.removeListener('event', this.onEvent);
    if (this.scheduled) clearImmediate(this.scheduled);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  mark(namespace) {
    if (this.stopped) return;
    this.dirty.add(namespace);
    if (!this.scheduled) this.scheduled = setImmediate(() => { this.scheduled = null; this.sweep(); });
  }

  // Reconciles `namespace` again at `atMs` (deadlines, minReadySeconds, back-off, TTL); one timer per key.
  recheckAt(key, namespace, atMs) {
    if (this.stopped || this.timers.has(key)) return;
    const t = setTimeout(() => { this.timers.delete(key); this.mark(namespace); }, Math.max(0, atMs - Date.now()) + 5);
    t.unref();
    this.timers.set(key, t);
  }

  sweep() {
    const namespaces = [...this.dirty];
    this.dirty.clear();
    for (const ns of namespaces) {
      try {
        this.reconcileNamespace(ns);
      } catch (err) {
        // A concurrent write (404, 409) or a namespace being terminated: the event it caused brings us back.
        if (!err.code || err.code >= 500) throw err;
        this.recheckAt(`retry/${ns}`, ns, Date.now() + 100);
      }
    }
  }

  reconcileNamespace(ns) {
    const list = (r) => this.store.listObjects(this.res[r], ns);
    const pods = list('pods');
    for (const rs of list('replicasets')) this.reconcileReplicaSet(rs, pods);
    for (const d of list('deployments')) this.reconcileDeployment(d, list('replicasets'), pods);
    for (const job of list('jobs')) jobs.reconcileJob(this, job, pods.filter((p) => u.controlledBy(p, job.metadata.uid)));
  }

  // --- Pods (shared with jobs.js) ---
  createPod(pod) {
    return this.store.create(this.res.pods, pod);
  }

  deletePod(pod) {
    try {
      this.store.delete(this.res.pods, pod.metadata.namespace, pod.metadata.name, {});
    } catch (err) {
      if (err.code !== 404) throw err;
    }
  }

  // --- ReplicaSet ---
  reconcileReplicaSet(rs, allPods) {
    if (rs.metadata.deletionTimestamp) return;
    const now = Date.now();
    const minReady = (rs.spec && rs.spec.minReadySeconds) || 0;
    let active = allPods.filter((p) => u.controlledBy(p, rs.metadata.uid) && u.podActive(p));
    const want = specReplicas(rs);
    if (active.length < want) {
      const ref = u.controllerRef(rs, 'apps/v1', 'ReplicaSet');
      for (let i = active.length; i < want; i++) active.push(this.createPod(u.podFromTemplate(rs.spec.template, rs, ref)));
    } else if (active.length > want) {
      const doomed = [...active].sort(deletionOrder).slice(0, active.length - want);
      for (const p of doomed) this.deletePod(p);
      active = active.filter((p) => !doomed.includes(p));
    }
    for (const p of active) {
      if (minReady && u.podReady(p) && !u.podAvailable(p, minReady, now)) {
        this.recheckAt(`avail/${p.metadata.uid}`, rs.metadata.namespace, Date.parse(u.conditionOf(p, 'Ready').lastTransitionTime) + minReady * 1000);
      }
    }
    const selector = (rs.spec.selector && rs.spec.selector.matchLabels) || {};
    const status = u.withoutZeros({
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => Object.entries(selector).every(([k, v]) => (p.metadata.labels || {})[k] === v)).length,
      readyReplicas: active.filter(u.podReady).length,
      availableReplicas: active.filter((p) => u.podAvailable(p, minReady, now)).length,
      observedGeneration: rs.metadata.generation,
    }, ['replicas']);
    this.store.updateStatus(Object.assign(u.clone(rs), { status }));
  }

  // --- Deployment ---
  reconcileDeployment(d, allRS, allPods) {
    if (d.metadata.deletionTimestamp) return;
    const owned = allRS.filter((rs) => u.controlledBy(rs, d.metadata.uid) && !rs.metadata.deletionTimestamp);
    let newRS = owned.find((rs) => sameTemplate(rs.spec.template, d.spec.template));
    let created = false;
    const maxRevision = Math.max(0, ...owned.map(revisionOf));
    if (!newRS && !d.spec.paused) {
      newRS = this.createReplicaSet(d, maxRevision + 1);
      created = true;
    } else if (newRS && revisionOf(newRS) < maxRevision) {
      newRS = this.patchReplicaSet(newRS, (rs) => { rs.metadata.annotations[REVISION] = String(maxRevision + 1); });
    }
    const oldRSs = owned.filter((rs) => !newRS || rs.metadata.uid !== newRS.metadata.uid).sort(byAge);
    if (newRS && String(revisionOf(newRS)) !== (d.metadata.annotations || {})[REVISION]) {
      const upd = u.clone(d);
      upd.metadata.annotations = Object.assign({}, upd.metadata.annotations, { [REVISION]: String(revisionOf(newRS)) });
      d = this.store.update(this.res.deployments, upd, {});
    }
    if (d.spec.paused) this.scalePaused(d, owned);
    else if (newRS) newRS = this.rollOut(d, newRS, oldRSs, allPods);
    this.cleanupHistory(d, oldRSs);
    this.writeDeploymentStatus(d, newRS, oldRSs, created);
  }

  createReplicaSet(d, revision) {
    const hash = u.templateHash(d.spec.template);
    const template = u.clone(d.spec.template);
    template.metadata = template.metadata || {};
    template.metadata.labels = Object.assign({}, template.metadata.labels, { [HASH_LABEL]: hash });
    const selector = u.clone(d.spec.selector) || {};
    selector.matchLabels = Object.assign({}, selector.matchLabels, { [HASH_LABEL]: hash });
    const ru = d.spec.strategy.rollingUpdate;
    return this.store.create(this.res.replicasets, {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`, namespace: d.metadata.namespace,
        labels: Object.assign({}, template.metadata.labels),
        annotations: {
          'deployment.kubernetes.io/desired-replicas': String(specReplicas(d)),
          'deployment.kubernetes.io/max-replicas': String(specReplicas(d) + (ru ? u.scaledValue(ru.maxSurge, specReplicas(d), true) : 0)),
          [REVISION]: String(revision),
        },
        ownerReferences: [u.controllerRef(d, 'apps/v1', 'Deployment')],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds || 0, selector, template },
    });
  }

  patchReplicaSet(rs, change) {
    const upd = u.clone(rs);
    upd.metadata.annotations = upd.metadata.annotations || {};
    change(upd);
    return this.store.update(this.res.replicasets, upd, {});
  }

  scaleReplicaSet(rs, replicas, d) {
    if (specReplicas(rs) === replicas && rs.metadata.annotations['deployment.kubernetes.io/desired-replicas'] === String(specReplicas(d))) return rs;
    return this.patchReplicaSet(rs, (upd) => {
      upd.spec.replicas = replicas;
      upd.metadata.annotations['deployment.kubernetes.io/desired-replicas'] = String(specReplicas(d));
    });
  }

  // One step of the rollout; returns the (possibly rescaled) new ReplicaSet. Old ones are rescaled in place.
  rollOut(d, newRS, oldRSs, allPods) {
    const replicas = specReplicas(d);
    if (d.spec.strategy.type === 'Recreate') {
      // Every old pod, terminating ones included, is gone before the new ones start.
      oldRSs.forEach((rs, i) => { oldRSs[i] = this.scaleReplicaSet(rs, 0, d); });
      const oldPods = allPods.filter((p) => !u.podTerminal(p) && oldRSs.some((rs) => u.controlledBy(p, rs.metadata.uid)));
      return oldPods.length === 0 ? this.scaleReplicaSet(newRS, replicas, d) : newRS;
    }
    if (!oldRSs.some((rs) => specReplicas(rs) > 0)) return this.scaleReplicaSet(newRS, replicas, d);
    const ru = d.spec.strategy.rollingUpdate || {};
    const surge = u.scaledValue(ru.maxSurge, replicas, true);
    let unavailable = u.scaledValue(ru.maxUnavailable, replicas, false);
    if (surge === 0 && unavailable === 0) unavailable = 1;
    const all = () => [newRS, ...oldRSs];
    if (specReplicas(newRS) < replicas) {
      const room = replicas + surge - sum(all(), specReplicas);
      if (room > 0) newRS = this.scaleReplicaSet(newRS, Math.min(replicas, specReplicas(newRS) + room), d);
    } else if (specReplicas(newRS) > replicas) {
      newRS = this.scaleReplicaSet(newRS, replicas, d);
    }
    const minAvailable = replicas - unavailable;
    // First the old pods that are not available anyway, then available ones while enough stay available.
    let budget = sum(all(), specReplicas) - minAvailable - (specReplicas(newRS) - statusOf(newRS, 'availableReplicas'));
    oldRSs.forEach((rs, i) => {
      const down = Math.min(budget, specReplicas(rs) - statusOf(rs, 'availableReplicas'));
      if (budget > 0 && down > 0) {
        oldRSs[i] = this.scaleReplicaSet(rs, specReplicas(rs) - down, d);
        budget -= down;
      }
    });
    let spare = sum(all(), (rs) => statusOf(rs, 'availableReplicas')) - minAvailable;
    oldRSs.forEach((rs, i) => {
      const down = Math.min(spare, specReplicas(rs));
      if (spare > 0 && down > 0) {
        oldRSs[i] = this.scaleReplicaSet(rs, specReplicas(rs) - down, d);
        spare -= down;
      }
    });
    return newRS;
  }

  // A paused Deployment does not roll; it still scales when one ReplicaSet alone has pods.
  scalePaused(d, owned) {
    const active = owned.filter((rs) => specReplicas(rs) > 0);
    const target = active.length === 1 ? active[0] : active.length === 0 ? owned.sort(byAge)[owned.length - 1] : null;
    if (target) this.scaleReplicaSet(target, specReplicas(d), d);
  }

  cleanupHistory(d, oldRSs) {
    const limit = d.spec.revisionHistoryLimit === undefined ? 10 : d.spec.revisionHistoryLimit;
    const idle = oldRSs.filter((rs) => specReplicas(rs) === 0 && statusOf(rs, 'replicas') === 0);
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      try {
        this.store.delete(this.res.replicasets, rs.metadata.namespace, rs.metadata.name, { propagationPolicy: 'Background' });
      } catch (err) {
        if (err.code !== 404) throw err;
      }
    }
  }

  writeDeploymentStatus(d, newRS, oldRSs, created) {
    const all = newRS ? [newRS, ...oldRSs] : oldRSs;
    const replicas = specReplicas(d);
    const ru = (d.spec.strategy && d.spec.strategy.rollingUpdate) || {};
    const maxUnavailable = d.spec.strategy.type === 'Recreate' ? 0 : u.scaledValue(ru.maxUnavailable, replicas, false);
    const old = d.status || {};
    const status = u.withoutZeros({
      observedGeneration: d.metadata.generation,
      replicas: sum(all, (rs) => statusOf(rs, 'replicas')),
      updatedReplicas: newRS ? statusOf(newRS, 'replicas') : 0,
      readyReplicas: sum(all, (rs) => statusOf(rs, 'readyReplicas')),
      availableReplicas: sum(all, (rs) => statusOf(rs, 'availableReplicas')),
      unavailableReplicas: Math.max(0, sum(all, specReplicas) - sum(all, (rs) => statusOf(rs, 'availableReplicas'))),
    });
    const conditions = u.clone(old.conditions || []);
    const available = (status.availableReplicas || 0) >= replicas - maxUnavailable;
    const availability = available
      ? { status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
      : { status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
    u.setCondition(conditions, Object.assign({ type: 'Available' }, availability), { withUpdateTime: true });
    this.setProgressing(d, conditions, status, old, newRS, created);
    status.conditions = sortConditions(conditions);
    this.store.updateStatus(Object.assign(u.clone(d), { status }));
  }

  setProgressing(d, conditions, status, old, newRS, created) {
    const set = (reason, message, touch, st = 'True') =>
      u.setCondition(conditions, { type: 'Progressing', status: st, reason, message }, { withUpdateTime: true, touch });
    if (d.spec.paused) return set('DeploymentPaused', 'Deployment is paused', false, 'Unknown');
    if (!newRS) return;
    const name = newRS.metadata.name;
    const replicas = specReplicas(d);
    const complete = ['updatedReplicas', 'replicas', 'availableReplicas'].every((k) => (status[k] || 0) === replicas);
    const progressed = ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'].some((k) => (status[k] || 0) !== (old[k] || 0));
    const current = conditions.find((c) => c.type === 'Progressing');
    if (complete) return set('NewReplicaSetAvailable', `ReplicaSet "${name}" has successfully progressed.`, false);
    if (created) return set('NewReplicaSetCreated', `Created new replica set "${name}"`, true);
    if (progressed || !current || ['NewReplicaSetAvailable', 'DeploymentPaused'].includes(current.reason)) {
      return set('ReplicaSetUpdated', `ReplicaSet "${name}" is progressing.`, true);
    }
    const deadline = Date.parse(current.lastUpdateTime) + (d.spec.progressDeadlineSeconds || 600) * 1000;
    if (current.reason !== 'ProgressDeadlineExceeded' && Date.now() >= deadline) {
      return set('ProgressDeadlineExceeded', `ReplicaSet "${name}" has timed out progressing.`, true, 'False');
    }
    this.recheckAt(`progress/${d.metadata.uid}`, d.metadata.namespace, deadline);
  }
}

function sortConditions(conditions) {
  const order = { Available: 0, Progressing: 1, ReplicaFailure: 2 };
  return conditions.sort((a, b) => (order[a.type] ?? 9) - (order[b.type] ?? 9));
}

// A ReplicaSet's template matches the Deployment's when they are equal but for the pod-template-hash label.
function sameTemplate(rsTemplate, template) {
  const t = u.clone(rsTemplate) || {};
  if (t.metadata && t.metadata.labels) {
    delete t.metadata.labels[HASH_LABEL];
  }
  return u.canonical(t) === u.canonical(template || {});
}

// Which pods a ReplicaSet deletes first when scaling down: not yet running, then not ready, then the newest.
function deletionOrder(a, b) {
  const rank = (p) => ((p.status && p.status.phase) === 'Running' ? 2 : 0) + (u.podReady(p) ? 1 : 0);
  return rank(a) - rank(b) || String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp));
}

module.exports = { Workloads, deploymentDefaults, sameTemplate, REVISION, HASH_LABEL };
