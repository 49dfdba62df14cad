'use strict';
// The workload controllers and the node: Deployment → ReplicaSet → Pods (scaling, rolling update step by step
// with maxSurge/maxUnavailable, Recreate, rollback, revisionHistoryLimit, status and conditions), Job → Pods
// (completions/parallelism, backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished), watches seeing the
// controllers' writes, and the real kubectl (rollout status, wait, get -o wide, scale, set image).
// Two servers: one with the readiness-only kubelet (`workloads: 'off'`), and one with no kubelet at all, where
// the test writes pod status itself (as the node runtime would) to check each controller step.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startK8s, eventually, sleep } = require('./k8s-helpers');
const { haveKubectl } = require('./kubectl');

let fake;
let manual;
before(async () => {
  fake = await startK8s({ workloads: 'off' });
  manual = await startK8s({ jobBackoffMs: 50 });
});
after(async () => {
  await fake.stop();
  await manual.stop();
});

function deployment(name, { replicas = 2, image = 'busybox:1.36', strategy, extra = {} } = {}) {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' },
    spec: Object.assign({ replicas, selector: { matchLabels: { app: name } }, strategy,
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image, command: ['sleep', '3600'] }] } } }, extra),
  };
}

function job(name, spec) {
  return {
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'default' },
    spec: Object.assign({ template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: ['true'] }] } } }, spec),
  };
}

const owned = (lab, kind, owner) => lab.store.list(kind === 'Pod' ? 'v1' : 'apps/v1', kind, 'default')
  .filter((o) => (o.metadata.ownerReferences || []).some((r) => r.uid === owner.metadata.uid && r.controller));
const get = (lab, apiVersion, kind, name) => {
  const o = lab.store.get(apiVersion, kind, 'default', name);
  if (o) o.status = o.status || {};
  return o;
};
const condition = (o, type) => ((o && o.status && o.status.conditions) || []).find((c) => c.type === type);
const activePods = (lab, rs) => owned(lab, 'Pod', rs).filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status.phase));

// Acting as the node runtime: a pod's status as the kubelet writes it.
function setPod(lab, pod, { ready = false, phase = 'Running', exitCode } = {}) {
  const fresh = lab.store.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name);
  const t = new Date().toISOString();
  const state = phase === 'Running' ? { running: { startedAt: t } } : { terminated: { exitCode, finishedAt: t, reason: exitCode ? 'Error' : 'Completed' } };
  fresh.status = { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: t }],
    containerStatuses: [{ name: 'main', ready, restartCount: 0, state }] };
  lab.store.updateStatus(fresh);
}

test('the node lab-node-1 is Ready, every new pod is bound to it, and kubectl get nodes -o wide shows it', async (t) => {
  const node = fake.store.get('v1', 'Node', '', 'lab-node-1');
  assert.equal(condition(node, 'Ready').status, 'True');
  assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.32.4');
  fake.store.createObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'lone', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  assert.equal(get(fake, 'v1', 'Pod', 'lone').spec.nodeName, 'lab-node-1');
  if (!haveKubectl(t)) return;
  const r = await fake.kubectl(['get', 'nodes', '-o', 'wide']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME\n/);
  assert.match(r.stdout, /\nlab-node-1\s+Ready\s+<none>\s+\d+s\s+v1\.32\.4\s+\S+\s+<none>/);
});

test('readiness-only: a Deployment gets a ReplicaSet and Ready pods, and becomes Available', async () => {
  fake.store.createObject(deployment('web', { replicas: 3 }));
  const d = await eventually(() => { const o = get(fake, 'apps/v1', 'Deployment', 'web'); return (o.status.availableReplicas === 3) && o; }, 5000, 'web available');
  const [rs] = owned(fake, 'ReplicaSet', d);
  const hash = rs.metadata.labels['pod-template-hash'];
  assert.equal(rs.metadata.name, `web-${hash}`);
  assert.deepEqual(rs.spec.selector.matchLabels, { app: 'web', 'pod-template-hash': hash });
  assert.equal(rs.metadata.annotations['deployment.kubernetes.io/revision'], '1');
  assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '1');
  const pods = owned(fake, 'Pod', rs);
  assert.equal(pods.length, 3);
  for (const p of pods) {
    assert.equal(p.status.phase, 'Running');
    assert.equal(condition(p, 'Ready').status, 'True');
    assert.equal(p.spec.nodeName, 'lab-node-1');
    assert.equal(p.metadata.labels['pod-template-hash'], hash);
  }
  assert.equal(d.status.observedGeneration, d.metadata.generation);
  assert.deepEqual([d.status.replicas, d.status.updatedReplicas, d.status.readyReplicas], [3, 3, 3]);
  assert.equal(condition(d, 'Available').status, 'True');
  assert.equal(condition(d, 'Progressing').reason, 'NewReplicaSetAvailable');
  assert.equal(d.spec.strategy.rollingUpdate.maxSurge, '25%', 'API defaults');
  assert.equal(d.spec.revisionHistoryLimit, 10);
});

test('kubectl: rollout status, wait Available, scale, set image, rollout undo, get deploy,rs,pods,jobs,nodes -o wide', async (t) => {
  if (!haveKubectl(t)) return;
  fake.store.createObject(deployment('api', { replicas: 2 }));
  const status = await fake.kubectl(['rollout', 'status', 'deployment/api', '--timeout=20s']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /deployment "api" successfully rolled out/);
  const wait = await fake.kubectl(['wait', '--for=condition=Available', 'deployment/api', '--timeout=20s']);
  assert.equal(wait.code, 0, wait.stderr);
  assert.equal((await fake.kubectl(['scale', 'deployment/api', '--replicas=4'])).code, 0);
  await fake.kubectl(['rollout', 'status', 'deployment/api', '--timeout=20s']);
  assert.equal(get(fake, 'apps/v1', 'Deployment', 'api').status.readyReplicas, 4);
  const set = await fake.kubectl(['set', 'image', 'deployment/api', 'main=busybox:1.37']);
  assert.equal(set.code, 0, set.stderr);
  const rolled = await fake.kubectl(['rollout', 'status', 'deployment/api', '--timeout=20s']);
  assert.equal(rolled.code, 0, rolled.stderr);
  const d = get(fake, 'apps/v1', 'Deployment', 'api');
  const sets = owned(fake, 'ReplicaSet', d);
  assert.equal(sets.length, 2);
  const current = sets.find((rs) => rs.spec.template.spec.containers[0].image === 'busybox:1.37');
  assert.deepEqual([current.spec.replicas, current.metadata.annotations['deployment.kubernetes.io/revision']], [4, '2']);
  assert.equal(sets.find((rs) => rs !== current).spec.replicas, 0);
  const undo = await fake.kubectl(['rollout', 'undo', 'deployment/api']);
  assert.equal(undo.code, 0, undo.stderr);
  await fake.kubectl(['rollout', 'status', 'deployment/api', '--timeout=20s']);
  const back = get(fake, 'apps/v1', 'Deployment', 'api');
  assert.equal(back.spec.template.spec.containers[0].image, 'busybox:1.36');
  assert.equal(back.metadata.annotations['deployment.kubernetes.io/revision'], '3');
  assert.equal(owned(fake, 'ReplicaSet', back).length, 2, 'the old ReplicaSet is reused, not a third made');
  const wide = await fake.kubectl(['get', 'deploy,rs,pods,jobs,nodes', '-o', 'wide']);
  assert.equal(wide.code, 0, wide.stderr);
  assert.match(wide.stdout, /deployment\.apps\/api\s+4\/4\s+4\s+4\s+\S+\s+main\s+busybox:1\.36\s+app=api/);
  assert.match(wide.stdout, /NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR/);
  assert.match(wide.stdout, /pod\/api-\S+\s+1\/1\s+Running\s+0\s+\S+\s+\d+\.\d+\.\d+\.\d+\s+lab-node-1/);
  assert.match(wide.stdout, /node\/lab-node-1\s+Ready/);
});

test('rolling update, step by step: maxSurge 1 / maxUnavailable 0 never drops below the wanted ready count', async () => {
  const lab = manual;
  lab.store.createObject(deployment('roll', { replicas: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } }));
  let d = await eventually(() => get(lab, 'apps/v1', 'Deployment', 'roll').status.replicas === 3 && get(lab, 'apps/v1', 'Deployment', 'roll'), 3000, 'pods');
  const [first] = owned(lab, 'ReplicaSet', d);
  for (const p of owned(lab, 'Pod', first)) setPod(lab, p, { ready: true });
  d = await eventually(() => condition(get(lab, 'apps/v1', 'Deployment', 'roll'), 'Available').status === 'True' && get(lab, 'apps/v1', 'Deployment', 'roll'), 3000, 'available');
  d.spec.template.spec.containers[0].image = 'busybox:1.37';
  lab.store.updateObject(d);
  for (let step = 1; step <= 3; step++) {
    const next = await eventually(() => owned(lab, 'ReplicaSet', d).find((rs) => rs.metadata.uid !== first.metadata.uid && activePods(lab, rs).length === step), 3000, `new pod ${step}`);
    await sleep(100);
    const old = get(lab, 'apps/v1', 'ReplicaSet', first.metadata.name);
    assert.equal(activePods(lab, next).length, step, 'one surge pod at a time');
    assert.equal(old.spec.replicas, 4 - step, 'old pods go only when new ones are ready');
    const progressing = condition(get(lab, 'apps/v1', 'Deployment', 'roll'), 'Progressing');
    assert.equal(progressing.status, 'True');
    assert.match(progressing.reason, /^(NewReplicaSetCreated|ReplicaSetUpdated)$/);
    const unready = activePods(lab, next).find((p) => p.status.phase !== 'Running');
    setPod(lab, unready, { ready: true });
  }
  const done = await eventually(() => { const o = get(lab, 'apps/v1', 'Deployment', 'roll'); return o.status.updatedReplicas === 3 && o.status.replicas === 3 && o; }, 3000, 'rolled');
  assert.equal(condition(done, 'Progressing').reason, 'NewReplicaSetAvailable');
  assert.equal(get(lab, 'apps/v1', 'ReplicaSet', first.metadata.name).spec.replicas, 0);
});

test('Recreate stops every old pod before the new ReplicaSet scales up; revisionHistoryLimit prunes old sets', async () => {
  const lab = manual;
  lab.store.createObject(deployment('re', { replicas: 2, strategy: { type: 'Recreate' }, extra: { revisionHistoryLimit: 1 } }));
  let d = await eventually(() => get(lab, 'apps/v1', 'Deployment', 're').status.replicas === 2 && get(lab, 'apps/v1', 'Deployment', 're'), 3000, 'pods');
  const podsOf = () => lab.store.list('v1', 'Pod', 'default').filter((p) => p.metadata.labels.app === 're');
  for (const image of ['busybox:2', 'busybox:3']) {
    await eventually(() => podsOf().length === 2 && podsOf().every((p) => !p.metadata.deletionTimestamp), 3000, 'two pods');
    // The old pods take time to stop (a finalizer stands in for the runtime's grace period).
    const old = podsOf();
    for (const p of old) lab.store.updateObject(Object.assign(p, { metadata: Object.assign(p.metadata, { finalizers: ['test/terminating'] }) }));
    d = get(lab, 'apps/v1', 'Deployment', 're');
    d.spec.template.spec.containers[0].image = image;
    lab.store.updateObject(d);
    const fresh = await eventually(() => owned(lab, 'ReplicaSet', d).find((rs) => rs.spec.template.spec.containers[0].image === image), 3000, 'new set');
    await eventually(() => old.every((p) => get(lab, 'v1', 'Pod', p.metadata.name).metadata.deletionTimestamp), 3000, 'old pods terminating');
    await sleep(100);
    assert.equal(activePods(lab, fresh).length, 0, 'nothing new while old pods remain');
    for (const p of old) {
      const live = get(lab, 'v1', 'Pod', p.metadata.name);
      lab.store.updateObject(Object.assign(live, { metadata: Object.assign(live.metadata, { finalizers: [] }) }));
    }
    await eventually(() => activePods(lab, fresh).length === 2, 3000, 'new pods after the old ones went');
  }
  await eventually(() => owned(lab, 'ReplicaSet', d).length === 2, 3000, 'history pruned to new + 1 old');
  const images = owned(lab, 'ReplicaSet', d).map((rs) => rs.spec.template.spec.containers[0].image).sort();
  assert.deepEqual(images, ['busybox:2', 'busybox:3']);
});

test('a ReplicaSet replaces a deleted pod and scales down not-ready pods first', async () => {
  const lab = manual;
  lab.store.createObject(deployment('keep', { replicas: 3 }));
  const d = await eventually(() => get(lab, 'apps/v1', 'Deployment', 'keep').status.replicas === 3 && get(lab, 'apps/v1', 'Deployment', 'keep'), 3000, 'pods');
  const [rs] = owned(lab, 'ReplicaSet', d);
  const pods = owned(lab, 'Pod', rs);
  setPod(lab, pods[0], { ready: true });
  setPod(lab, pods[1], { ready: true });
  lab.store.deleteObject('v1', 'Pod', 'default', pods[2].metadata.name);
  await eventually(() => activePods(lab, rs).length === 3 && !activePods(lab, rs).some((p) => p.metadata.name === pods[2].metadata.name), 3000, 'replacement');
  const upd = get(lab, 'apps/v1', 'Deployment', 'keep');
  upd.spec.replicas = 2;
  lab.store.updateObject(upd);
  await eventually(() => activePods(lab, rs).length === 2, 3000, 'scaled down');
  assert.deepEqual(activePods(lab, rs).map((p) => p.metadata.name).sort(), [pods[0].metadata.name, pods[1].metadata.name].sort());
});

test('watches see every controller write, in resourceVersion order', async () => {
  const lab = fake;
  const list = await lab.request('GET', '/apis/apps/v1/namespaces/default/deployments');
  const w = lab.watch(`/api/v1/namespaces/default/pods?watch=1&resourceVersion=${list.body.metadata.resourceVersion}&labelSelector=app%3Dwatched`);
  const wd = lab.watch(`/apis/apps/v1/namespaces/default/deployments?watch=1&resourceVersion=${list.body.metadata.resourceVersion}`);
  try {
    lab.store.createObject(deployment('watched', { replicas: 2 }));
    await wd.waitFor((e) => e.object.metadata.name === 'watched' && (e.object.status || {}).availableReplicas === 2, 5000);
    await w.waitFor((e) => e.type === 'MODIFIED' && (e.object.status || {}).phase === 'Running', 5000);
    const added = w.events.filter((e) => e.type === 'ADDED');
    assert.equal(added.length, 2);
    for (const e of added) assert.equal(e.object.status.phase, 'Pending');
    for (const events of [w.events, wd.events]) {
      const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(rvs, [...rvs].sort((a, b) => a - b));
      assert.equal(new Set(rvs).size, rvs.length);
    }
    const ours = wd.events.filter((e) => e.object.metadata.name === 'watched');
    assert.ok(ours.length >= 3, 'created, then status written as pods become ready');
    const live = get(lab, 'apps/v1', 'Deployment', 'watched');
    assert.equal(ours[ours.length - 1].object.metadata.resourceVersion, live.metadata.resourceVersion);
  } finally {
    w.close();
    wd.close();
  }
});

test('readiness-only Jobs complete with completions/parallelism; kubectl wait --for=condition=complete', async (t) => {
  fake.store.createObject(job('batch3', { completions: 3, parallelism: 2 }));
  const j = await eventually(() => { const o = get(fake, 'batch/v1', 'Job', 'batch3'); return condition(o, 'Complete') && o; }, 5000, 'complete');
  assert.equal(j.status.succeeded, 3);
  assert.ok(j.status.startTime && j.status.completionTime);
  assert.equal(j.spec.template.metadata.labels['job-name'], 'batch3');
  assert.equal(j.spec.selector.matchLabels['batch.kubernetes.io/controller-uid'], j.metadata.uid);
  if (!haveKubectl(t)) return;
  fake.store.createObject(job('once', {}));
  const wait = await fake.kubectl(['wait', '--for=condition=complete', 'job/once', '--timeout=20s']);
  assert.equal(wait.code, 0, wait.stderr);
  const table = await fake.kubectl(['get', 'job', 'once']);
  assert.match(table.stdout, /once\s+Complete\s+1\/1\s+\d+s\s+\d+s/);
});

test('a Job never runs more than parallelism pods and fails past backoffLimit, keeping its failed pods', async () => {
  const lab = manual;
  lab.store.createObject(job('flaky', { completions: 4, parallelism: 2, backoffLimit: 2 }));
  const j = await eventually(() => get(lab, 'batch/v1', 'Job', 'flaky'));
  const pods = () => lab.store.list('v1', 'Pod', 'default').filter((p) => p.metadata.labels && p.metadata.labels['job-name'] === 'flaky');
  await eventually(() => pods().length === 2, 3000, 'two pods');
  await sleep(100);
  assert.equal(pods().length, 2);
  assert.equal(get(lab, 'batch/v1', 'Job', 'flaky').status.active, 2);
  for (let failures = 1; failures <= 3; failures++) {
    const victim = await eventually(() => pods().find((p) => p.status.phase === 'Pending'), 3000, 'a pod to fail');
    setPod(lab, victim, { phase: 'Failed', exitCode: 1 });
    if (failures < 3) await eventually(() => pods().filter((p) => p.status.phase === 'Pending').length === 2, 3000, 'replacement after back-off');
  }
  const failed = await eventually(() => { const o = get(lab, 'batch/v1', 'Job', 'flaky'); return condition(o, 'Failed') && o; }, 3000, 'failed');
  assert.equal(condition(failed, 'Failed').reason, 'BackoffLimitExceeded');
  assert.equal(failed.status.failed, 3);
  assert.equal(failed.status.active, undefined);
  await eventually(() => pods().every((p) => p.status.phase === 'Failed'), 3000, 'active pods deleted');
  assert.equal(pods().length, 3);
  assert.equal(j.metadata.uid, failed.metadata.uid);
});

test('activeDeadlineSeconds fails a running Job; ttlSecondsAfterFinished deletes a finished one and its pods', async () => {
  const lab = manual;
  lab.store.createObject(job('slow', { activeDeadlineSeconds: 1 }));
  const failed = await eventually(() => { const o = get(lab, 'batch/v1', 'Job', 'slow'); return condition(o, 'Failed') && o; }, 4000, 'deadline');
  assert.equal(condition(failed, 'Failed').reason, 'DeadlineExceeded');
  const slowPods = () => lab.store.list('v1', 'Pod', 'default').filter((p) => p.metadata.labels['job-name'] === 'slow');
  await eventually(() => slowPods().length === 0, 3000, 'its pod deleted');

  lab.store.createObject(job('brief', { ttlSecondsAfterFinished: 1 }));
  const pod = await eventually(() => lab.store.list('v1', 'Pod', 'default').find((p) => p.metadata.labels['job-name'] === 'brief'), 3000, 'pod');
  setPod(lab, pod, { phase: 'Succeeded', exitCode: 0 });
  const done = await eventually(() => { const o = get(lab, 'batch/v1', 'Job', 'brief'); return condition(o, 'Complete') && o; }, 3000, 'complete');
  assert.equal(done.status.succeeded, 1);
  await sleep(400);
  assert.ok(get(lab, 'batch/v1', 'Job', 'brief'), 'still there before the TTL');
  await eventually(() => !get(lab, 'batch/v1', 'Job', 'brief'), 4000, 'job deleted after its TTL');
  await eventually(() => !lab.store.get('v1', 'Pod', 'default', pod.metadata.name), 3000, 'its pod collected');
});

test('a rollout that makes no progress for progressDeadlineSeconds is ProgressDeadlineExceeded; rollout status fails', async (t) => {
  const lab = manual;
  lab.store.createObject(deployment('stuck', { replicas: 1, extra: { progressDeadlineSeconds: 1 } }));
  const d = await eventually(() => { const o = get(lab, 'apps/v1', 'Deployment', 'stuck'); return condition(o, 'Progressing') && o; }, 3000, 'progressing');
  assert.equal(condition(d, 'Progressing').status, 'True');
  const stuck = await eventually(() => { const o = get(lab, 'apps/v1', 'Deployment', 'stuck'); return condition(o, 'Progressing').status === 'False' && o; }, 4000, 'deadline');
  assert.equal(condition(stuck, 'Progressing').reason, 'ProgressDeadlineExceeded');
  assert.match(condition(stuck, 'Progressing').message, /^ReplicaSet "stuck-\w+" has timed out progressing\.$/);
  assert.equal(condition(stuck, 'Available').status, 'False');
  if (!haveKubectl(t)) return;
  const r = await lab.kubectl(['rollout', 'status', 'deployment/stuck', '--timeout=10s']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /exceeded its progress deadline/);
});

test('a Job without completions (work queue) completes once a pod succeeded and none is running', async () => {
  const lab = manual;
  lab.store.createObject(job('queue', { parallelism: 2 }));
  const j = get(lab, 'batch/v1', 'Job', 'queue');
  assert.equal(j.spec.completions, undefined);
  const pods = () => lab.store.list('v1', 'Pod', 'default').filter((p) => p.metadata.labels['job-name'] === 'queue');
  await eventually(() => pods().length === 2, 3000, 'two workers');
  setPod(lab, pods()[0], { phase: 'Succeeded', exitCode: 0 });
  await sleep(100);
  assert.equal(condition(get(lab, 'batch/v1', 'Job', 'queue'), 'Complete'), undefined, 'one worker still running');
  setPod(lab, pods().find((p) => p.status.phase !== 'Succeeded'), { phase: 'Succeeded', exitCode: 0 });
  const done = await eventually(() => { const o = get(lab, 'batch/v1', 'Job', 'queue'); return condition(o, 'Complete') && o; }, 3000, 'complete');
  assert.equal(done.status.succeeded, 2);
  assert.equal(pods().length, 2, 'no replacement worker was started');
});

test('kubectl rollout pause: a template change waits, scaling still happens; resume rolls out', async (t) => {
  if (!haveKubectl(t)) return;
  fake.store.createObject(deployment('held', { replicas: 2 }));
  assert.equal((await fake.kubectl(['rollout', 'status', 'deployment/held', '--timeout=20s'])).code, 0);
  assert.equal((await fake.kubectl(['rollout', 'pause', 'deployment/held'])).code, 0);
  assert.equal((await fake.kubectl(['set', 'image', 'deployment/held', 'main=busybox:9'])).code, 0);
  assert.equal((await fake.kubectl(['scale', 'deployment/held', '--replicas=3'])).code, 0);
  const d = await eventually(() => { const o = get(fake, 'apps/v1', 'Deployment', 'held'); return o.status.readyReplicas === 3 && o; }, 5000, 'scaled while paused');
  const sets = owned(fake, 'ReplicaSet', d);
  assert.equal(sets.length, 1, 'no new ReplicaSet while paused');
  assert.equal(sets[0].spec.template.spec.containers[0].image, 'busybox:1.36');
  assert.deepEqual([condition(d, 'Progressing').status, condition(d, 'Progressing').reason], ['Unknown', 'DeploymentPaused']);
  assert.equal((await fake.kubectl(['rollout', 'resume', 'deployment/held'])).code, 0);
  const rolled = await fake.kubectl(['rollout', 'status', 'deployment/held', '--timeout=20s']);
  assert.equal(rolled.code, 0, rolled.stderr);
  const after = get(fake, 'apps/v1', 'Deployment', 'held');
  const current = owned(fake, 'ReplicaSet', after).find((rs) => rs.spec.replicas === 3);
  assert.equal(current.spec.template.spec.containers[0].image, 'busybox:9');
  assert.equal(condition(after, 'Progressing').reason, 'NewReplicaSetAvailable');
});

test('minReadySeconds: a ready pod counts as available only after that long', async () => {
  const lab = manual;
  lab.store.createObject(deployment('slowready', { replicas: 1, extra: { minReadySeconds: 1 } }));
  const d = await eventually(() => get(lab, 'apps/v1', 'Deployment', 'slowready').status.replicas === 1 && get(lab, 'apps/v1', 'Deployment', 'slowready'), 3000, 'pod');
  const [rs] = owned(lab, 'ReplicaSet', d);
  assert.equal(rs.spec.minReadySeconds, 1);
  const readyAt = Date.now();
  setPod(lab, owned(lab, 'Pod', rs)[0], { ready: true });
  const ready = await eventually(() => { const o = get(lab, 'apps/v1', 'ReplicaSet', rs.metadata.name); return o.status.readyReplicas === 1 && o; }, 3000, 'ready');
  assert.equal(ready.status.availableReplicas, undefined, 'not yet available');
  await eventually(() => get(lab, 'apps/v1', 'Deployment', 'slowready').status.availableReplicas === 1, 4000, 'available');
  assert.ok(Date.now() - readyAt >= 1000, 'available no sooner than a second after ready');
});
