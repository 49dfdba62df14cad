'use strict';
// The Job controller (run by workloads.js): admission defaults (parallelism, completions, backoffLimit, the
// controller-uid selector and labels), then per Job: keep min(parallelism, remaining completions) pods active,
// replace failed pods after a back-off, fail the Job past backoffLimit or activeDeadlineSeconds (deleting its
// active pods), complete it at `completions` successes, and delete it ttlSecondsAfterFinished after it finished.
// Status as the real controller writes it: startTime, active, ready, succeeded, failed, completionTime and the
// Complete / Failed conditions `kubectl wait --for=condition=complete` reads. Indexed completion and pod
// failure policies are not emulated. The first retry waits the Workloads' jobBackoffMs (1 s; the real
// controller waits 10 s), doubling up to 16 times that.

const u = require('./workloads-util');

function jobDefaults(op, res, obj) {
  if (res.group !== 'batch' || res.resource !== 'jobs' || op !== 'create') return;
  const spec = (obj.spec = obj.spec || {});
  if (spec.completions === undefined && spec.parallelism === undefined) spec.completions = 1;
  if (spec.parallelism === undefined) spec.parallelism = 1;
  if (spec.backoffLimit === undefined) spec.backoffLimit = 6;
  spec.completionMode = spec.completionMode || 'NonIndexed';
  if (spec.suspend === undefined) spec.suspend = false;
  if (!spec.manualSelector) {
    const uid = obj.metadata.uid;
    const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': obj.metadata.name, 'controller-uid': uid, 'job-name': obj.metadata.name };
    spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
    spec.template = spec.template || {};
    spec.template.metadata = spec.template.metadata || {};
    spec.template.metadata.labels = Object.assign({}, spec.template.metadata.labels, labels);
    if (!obj.metadata.labels || !Object.keys(obj.metadata.labels).length) obj.metadata.labels = Object.assign({}, labels);
  }
}

const finishedCondition = (job) => ((job.status && job.status.conditions) || [])
  .find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

// Failures: failed pods, and container restarts of pods that restart in place (restartPolicy OnFailure).
function countFailures(pods) {
  const restarts = (p) => ((p.status && p.status.containerStatuses) || []).reduce((n, c) => n + (c.restartCount || 0), 0);
  return pods.filter((p) => p.status && p.status.phase === 'Failed').length +
    pods.filter((p) => !u.podTerminal(p)).reduce((n, p) => n + restarts(p), 0);
}

function lastFailureTime(pods) {
  const times = pods.filter((p) => p.status && p.status.phase === 'Failed').map((p) => {
    const ends = ((p.status.containerStatuses) || []).map((c) => c.state && c.state.terminated && Date.parse(c.state.terminated.finishedAt)).filter(Boolean);
    return ends.length ? Math.max(...ends) : Date.parse(p.metadata.creationTimestamp);
  });
  return times.length ? Math.max(...times) : 0;
}

// wl: the Workloads (store access, pod create/delete, timers); pods: the Job's pods.
function reconcileJob(wl, job, pods) {
  if (job.metadata.deletionTimestamp) return;
  const ns = job.metadata.namespace;
  const old = job.status || {};
  const done = finishedCondition(job);
  const active = pods.filter(u.podActive);
  if (done) {
    for (const p of active) wl.deletePod(p);
    return expireFinished(wl, job, done);
  }
  const now = Date.now();
  const spec = job.spec;
  const startTime = old.startTime || u.nowISO();
  const succeeded = Math.max(old.succeeded || 0, pods.filter((p) => p.status && p.status.phase === 'Succeeded').length);
  const failed = Math.max(old.failed || 0, countFailures(pods));
  const conditions = u.clone(old.conditions || []);
  const status = { startTime, active: active.length, ready: active.filter(u.podReady).length, succeeded, failed };
  let failure = null;
  if (failed > spec.backoffLimit) failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
  else if (spec.activeDeadlineSeconds && now >= Date.parse(startTime) + spec.activeDeadlineSeconds * 1000) {
    failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
  }
  const complete = !failure && (spec.completions !== undefined && spec.completions !== null
    ? succeeded >= spec.completions
    : succeeded > 0 && active.length === 0);
  if (failure || complete) {
    for (const p of active) wl.deletePod(p);
    status.active = 0;
    status.ready = 0;
    if (complete) status.completionTime = u.nowISO();
    const outcome = failure || { reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' };
    u.setCondition(conditions, Object.assign({ type: failure ? 'Failed' : 'Complete', status: 'True', lastProbeTime: u.nowISO() }, outcome));
  } else if (!spec.suspend) {
    status.active = runPods(wl, job, active, succeeded, failed, pods);
    if (spec.activeDeadlineSeconds) wl.recheckAt(`deadline/${job.metadata.uid}`, ns, Date.parse(startTime) + spec.activeDeadlineSeconds * 1000);
  }
  if (conditions.length) status.conditions = conditions;
  status.uncountedTerminatedPods = {};
  wl.store.updateStatus(Object.assign(u.clone(job), { status: u.withoutZeros(status, ['ready']) }));
}

// Creates or deletes pods so that the wanted number are active; returns how many are active now.
function runPods(wl, job, active, succeeded, failed, pods) {
  const spec = job.spec;
  const workQueue = spec.completions === undefined || spec.completions === null;
  // A work queue (no completions) starts nothing once a pod succeeded: the others finish their part.
  if (workQueue && succeeded > 0) return active.length;
  const remaining = workQueue ? spec.parallelism : spec.completions - succeeded;
  const want = Math.max(0, Math.min(spec.parallelism, remaining));
  if (active.length > want) {
    for (const p of active.slice(want)) wl.deletePod(p);
    return want;
  }
  if (active.length === want) return want;
  if (failed > 0) {
    const retryAt = lastFailureTime(pods) + wl.jobBackoffMs * 2 ** Math.min(failed - 1, 4);
    if (Date.now() < retryAt) {
      wl.recheckAt(`backoff/${job.metadata.uid}/${failed}`, job.metadata.namespace, retryAt);
      return active.length;
    }
  }
  const ref = u.controllerRef(job, 'batch/v1', 'Job');
  for (let i = active.length; i < want; i++) wl.createPod(u.podFromTemplate(job.spec.template, job, ref));
  return want;
}

// ttlSecondsAfterFinished: the Job (and, through garbage collection, its pods) goes that long after finishing.
function expireFinished(wl, job, done) {
  const ttl = job.spec.ttlSecondsAfterFinished;
  if (ttl === undefined || ttl === null) return;
  const finishedAt = Date.parse((job.status && job.status.completionTime) || done.lastTransitionTime);
  if (Date.now() < finishedAt + ttl * 1000) {
    wl.recheckAt(`ttl/${job.metadata.uid}`, job.metadata.namespace, finishedAt + ttl * 1000);
    return;
  }
  try {
    wl.store.delete(wl.res.jobs, job.metadata.namespace, job.metadata.name, { propagationPolicy: 'Background' });
  } catch (err) {
    if (err.code !== 404) throw err;
  }
}

module.exports = { jobDefaults, reconcileJob };
