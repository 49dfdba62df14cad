'use strict';
// Pods that really run (the lab's kubelet, `lab up` as root in a temporary directory, real kubectl): env and
// volume resolution seen from inside the container, status as a kubelet writes it, CreateContainerConfigError
// until the Secret appears, ErrImagePull → ImagePullBackOff, restart policies and CrashLoopBackOff, probes,
// graceful deletion, logs; `lab up` refused (exit 2) when not root.

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { execFile } = require('child_process');
const { startLab, makeTempDir } = require('./helpers');
const { haveKubectl } = require('./kubectl');
const { kubectl, apply, getJSON, waitFor, waitReady, netnsOf, sleep } = require('./node-helpers');

const LAB_BIN = path.resolve(__dirname, '..', 'bin', 'lab');
const NS = 'pods-test';

test('lab up as a user other than root says so in one line and exits 2', async () => {
  const dir = makeTempDir();
  fs.chmodSync(dir, 0o777);
  const r = await new Promise((resolve) => execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, LAB_BIN, 'up', '--dir', dir],
    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /root/);
});

test('pods run as processes in their own network namespace', async (t) => {
  if (!haveKubectl(t)) return;
  const lab = await startLab();
  t.after(() => lab.stop());
  await apply(lab, `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`);

  await t.test('env, envFrom, valueFrom and volumes resolve as the kubelet resolves them', async () => {
    await apply(lab, `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ${NS}}
stringData: {password: s3cr3t-value, user: app}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${NS}}
data: {greeting: hello-there, mode: fast}
---
apiVersion: v1
kind: Pod
metadata: {name: env-pod, namespace: ${NS}, labels: {tier: demo}}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.36
    workingDir: /etc/podinfo
    command: [sh, -c]
    args:
    - |
      echo "PLAIN=$PLAIN"; echo "EXPANDED=$EXPANDED"; echo "GREETING=$GREETING"; echo "POD=$POD_NAME/$POD_NS"
      echo "NODE=$NODE"; echo "IP=$MY_IP"; echo "CFG_mode=$CFG_mode"; echo "UID=$(id -u)"; echo "PWD=$(pwd)"
      echo "SECRETFILE=$(cat /var/run/lab-creds/password)"; echo "CONFIGFILE=$(cat /config/app/greeting)"
      echo "LABELS=$(cat /etc/podinfo/labels)"; echo data > /scratch/x && echo "SCRATCH=$(cat /scratch/x)"
      test -n "$PASSWORD_SET" && echo "PASSWORD_LEN=\${#PASSWORD_SET}"
      echo "HOSTNAME=$(hostname)"
    env:
    - {name: PLAIN, value: plain-value}
    - {name: EXPANDED, value: "x-$(PLAIN)"}
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    - {name: PASSWORD_SET, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    envFrom:
    - {prefix: CFG_, configMapRef: {name: settings}}
    volumeMounts:
    - {name: creds, mountPath: /var/run/lab-creds, readOnly: true}
    - {name: settings, mountPath: /config/app}
    - {name: info, mountPath: /etc/podinfo}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: creds, secret: {secretName: creds}}
  - {name: settings, configMap: {name: settings}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - {name: scratch, emptyDir: {}}
`);
    const pod = await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'env-pod']);
      return p && ['Succeeded', 'Failed'].includes(p.status.phase) && p;
    }, { what: 'env-pod finished' });
    const logs = (await kubectl(lab, ['logs', '-n', NS, 'env-pod'])).stdout;
    assert.equal(pod.status.phase, 'Succeeded', logs);
    const ip = pod.status.podIP;
    for (const line of ['PLAIN=plain-value', 'EXPANDED=x-plain-value', 'GREETING=hello-there', `POD=env-pod/${NS}`,
      'NODE=lab-node-1', `IP=${ip}`, 'CFG_mode=fast', 'UID=65534', 'PWD=/etc/podinfo', 'SECRETFILE=s3cr3t-value',
      'CONFIGFILE=hello-there', 'LABELS=tier="demo"', 'SCRATCH=data', 'PASSWORD_LEN=12', 'HOSTNAME=env-pod']) {
      assert.ok(logs.split('\n').includes(line), `${line} in:\n${logs}`);
    }
    assert.ok(!fs.existsSync('/config/app') && !fs.existsSync('/var/run/lab-creds') && !fs.existsSync('/scratch'),
      'mount points made for the container are not left on the host');
    assert.ok(ip.startsWith(lab.env.LAB_POD_CIDR.split('.').slice(0, 3).join('.') + '.'), `${ip} in ${lab.env.LAB_POD_CIDR}`);
    assert.equal(pod.spec.nodeName, 'lab-node-1');
    assert.ok(pod.status.hostIP && pod.status.startTime);
    const cs = pod.status.containerStatuses[0];
    assert.equal(cs.state.terminated.exitCode, 0);
    assert.equal(cs.state.terminated.reason, 'Completed');
  });

  await t.test('a missing Secret key is CreateContainerConfigError until the key exists', async () => {
    await apply(lab, `
apiVersion: v1
kind: Pod
metadata: {name: needs-secret, namespace: ${NS}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'echo "token has \${#TOKEN} characters"; sleep 3600']
    env: [{name: TOKEN, valueFrom: {secretKeyRef: {name: later, key: token}}}]
`);
    const waiting = await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'needs-secret']);
      const w = p && p.status.containerStatuses && p.status.containerStatuses[0].state.waiting;
      return w && w.reason === 'CreateContainerConfigError' && { p, w };
    }, { what: 'CreateContainerConfigError' });
    assert.equal(waiting.w.message, 'secret "later" not found');
    assert.equal(waiting.p.status.phase, 'Pending');
    await apply(lab, `apiVersion: v1\nkind: Secret\nmetadata: {name: later, namespace: ${NS}}\nstringData: {other: x}\n`);
    await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'needs-secret']);
      const w = p.status.containerStatuses[0].state.waiting;
      return w && w.message === `couldn't find key token in Secret ${NS}/later`;
    }, { what: 'missing key message' });
    await apply(lab, `apiVersion: v1\nkind: Secret\nmetadata: {name: later, namespace: ${NS}}\nstringData: {token: abcdef}\n`);
    await waitReady(lab, NS, ['needs-secret']);
    await waitFor(async () => (await kubectl(lab, ['logs', '-n', NS, 'needs-secret'])).stdout.includes('token has 6 characters'),
      { what: 'log line' });
  });

  await t.test('an image the lab cannot run: ErrImagePull then ImagePullBackOff, never Running', async () => {
    await apply(lab, `apiVersion: v1\nkind: Pod\nmetadata: {name: nginx, namespace: ${NS}}\nspec: {containers: [{name: web, image: nginx:1.25}]}\n`);
    const seen = new Set();
    await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'nginx']);
      assert.notEqual(p.status.phase, 'Running');
      const w = p.status.containerStatuses && p.status.containerStatuses[0].state.waiting;
      if (w) { seen.add(w.reason); assert.match(w.message, /cannot run image "nginx:1.25"/); }
      return seen.has('ImagePullBackOff');
    }, { what: 'ImagePullBackOff', everyMs: 100 });
    assert.ok(seen.has('ErrImagePull') || seen.has('ImagePullBackOff'));
    const p = await getJSON(lab, ['pod', '-n', NS, 'nginx']);
    assert.equal(p.status.phase, 'Pending');
  });

  await t.test('restart policies: CrashLoopBackOff with lastState, Never → Failed, OnFailure + exit 0 → Succeeded', async () => {
    await apply(lab, `
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: ${NS}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'n=$(cat /data/n 2>/dev/null || echo 0); echo "boom, run $n"; echo $((n + 1)) > /data/n; exit 3']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Pod
metadata: {name: once, namespace: ${NS}}
spec:
  restartPolicy: Never
  containers: [{name: main, image: busybox, command: [sh, -c, 'exit 5']}]
---
apiVersion: v1
kind: Pod
metadata: {name: ok-once, namespace: ${NS}}
spec:
  restartPolicy: OnFailure
  containers: [{name: main, image: alpine, command: [sh, -c, 'exit 0']}]
`);
    const crash = await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'crasher']);
      const cs = p.status.containerStatuses && p.status.containerStatuses[0];
      return cs && cs.state.waiting && cs.state.waiting.reason === 'CrashLoopBackOff' && cs;
    }, { what: 'CrashLoopBackOff' });
    assert.ok(crash.restartCount >= 1);
    assert.equal(crash.lastState.terminated.exitCode, 3);
    assert.equal(crash.lastState.terminated.reason, 'Error');
    const table = (await kubectl(lab, ['get', 'pod', '-n', NS, 'crasher'])).stdout;
    assert.match(table, /CrashLoopBackOff/);
    // the log is the last run's, --previous the one before (the emptyDir keeps the run counter across restarts)
    // (read between two looks at restartCount that agree: a restart may come in between on a slow machine)
    const seen = await waitFor(async () => {
      const runOf = async () => (await getJSON(lab, ['pod', '-n', NS, 'crasher'])).status.containerStatuses[0].restartCount;
      const run = await runOf();
      const current = (await kubectl(lab, ['logs', '-n', NS, 'crasher'])).stdout;
      const previous = (await kubectl(lab, ['logs', '-n', NS, 'crasher', '--previous'])).stdout;
      return (await runOf()) === run && { run, current, previous };
    }, { what: 'two logs read within one run' });
    assert.equal(seen.current, `boom, run ${seen.run}\n`);
    assert.equal(seen.previous, `boom, run ${seen.run - 1}\n`);
    const failed = await waitFor(async () => { const p = await getJSON(lab, ['pod', '-n', NS, 'once']); return p.status.phase === 'Failed' && p; }, { what: 'Failed' });
    assert.equal(failed.status.containerStatuses[0].state.terminated.exitCode, 5);
    assert.equal(failed.status.containerStatuses[0].restartCount, 0);
    const noPrevious = await kubectl(lab, ['logs', '-n', NS, 'once', '--previous']);
    assert.notEqual(noPrevious.code, 0);
    assert.match(noPrevious.stderr, /previous terminated container "main" in pod "once" not found/);
    await waitFor(async () => (await getJSON(lab, ['pod', '-n', NS, 'ok-once'])).status.phase === 'Succeeded', { what: 'Succeeded' });
  });

  await t.test('readiness gates Ready; a failing liveness probe restarts the container', async () => {
    await apply(lab, `
apiVersion: v1
kind: Pod
metadata: {name: probed, namespace: ${NS}}
spec:
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'mkdir -p /tmp/p-$HOSTNAME; echo ok > /tmp/p-$HOSTNAME/index.html; sleep 2; exec httpd -f -p 8080 -h /tmp/p-$HOSTNAME']
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: unhealthy, namespace: ${NS}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'touch /tmp/alive-$HOSTNAME; sleep 1; rm /tmp/alive-$HOSTNAME; sleep 3600']
    livenessProbe: {exec: {command: [sh, -c, 'test -f /tmp/alive-$HOSTNAME']}, periodSeconds: 1, failureThreshold: 2}
`);
    const early = await waitFor(async () => { const p = await getJSON(lab, ['pod', '-n', NS, 'probed']); return p.status.phase === 'Running' && p; }, { what: 'Running' });
    assert.ok(!early.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'), 'not Ready before the probe passes');
    await waitReady(lab, NS, ['probed']);
    const restarted = await waitFor(async () => {
      const p = await getJSON(lab, ['pod', '-n', NS, 'unhealthy']);
      return p.status.containerStatuses[0].restartCount >= 1 && p;
    }, { what: 'liveness restart' });
    assert.ok(restarted.status.containerStatuses[0].lastState.terminated);
  });

  await t.test('delete: SIGTERM, the grace period, then the object and the processes go', async () => {
    await apply(lab, `
apiVersion: v1
kind: Pod
metadata: {name: graceful, namespace: ${NS}}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'trap "echo got TERM; sleep 1; exit 0" TERM; echo started; while true; do sleep 0.1; done']
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn, namespace: ${NS}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'trap "" TERM; while true; do sleep 0.1; done']
`);
    const pods = await waitReady(lab, NS, ['graceful', 'stubborn']);
    await waitFor(async () => (await kubectl(lab, ['logs', '-n', NS, 'graceful'])).stdout.includes('started'), { what: 'started' });
    let logs = '';
    const follow = kubectl(lab, ['logs', '-f', '-n', NS, 'graceful']).then((r) => { logs = r.stdout; });
    await sleep(300);
    const t0 = Date.now();
    const del = await kubectl(lab, ['delete', 'pod', '-n', NS, 'graceful', 'stubborn', '--wait=true']);
    const took = Date.now() - t0;
    assert.equal(del.code, 0, del.stderr);
    await follow;
    assert.match(logs, /got TERM/, 'the container saw SIGTERM');
    assert.ok(took >= 1800, `stubborn was killed only after its 2 s grace period (${took} ms)`);
    assert.ok(took < 9000, `nobody waited for graceful's 10 s (${took} ms)`);
    assert.equal((await kubectl(lab, ['get', 'pod', '-n', NS, 'graceful'])).code, 1, 'the object is gone');
    for (const p of Object.values(pods)) assert.ok(!fs.existsSync(`/run/netns/${netnsOf(p.status.podIP)}`), 'its network namespace is gone');
  });
});
