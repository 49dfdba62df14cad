'use strict';
// pods/NAME/log: returns the log recorded for a pod with `store.appendLog(ns, name, text, container?)`
// (the emulator runs no containers; controllers and tests write the log). Supports container,
// tailLines, timestamps, limitBytes, sinceSeconds and follow (streams appended text until the client
// leaves or the pod is deleted). Text the node's kubelet records carries the run of the container that wrote it:
// the log is the current run's (plus untagged text), `previous=true` the run before it.

const { errors } = require('./errors');

function chooseContainer(pod, requested) {
  const names = ((pod.spec && pod.spec.containers) || []).map((c) => c.name);
  if (requested) {
    if (names.length && !names.includes(requested)) {
      throw errors.badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
    }
    return requested;
  }
  if (names.length > 1 && !(pod.metadata.annotations || {})['kubectl.kubernetes.io/default-container']) {
    throw errors.badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
  }
  return names[0] || '';
}

// Which run of the container a request reads: the current one (restartCount), or with `previous` the one before
// (400, as the kubelet answers, when there is none).
function runOf(pod, container, previous) {
  const status = (((pod.status || {}).containerStatuses) || []).find((s) => s.name === container);
  const run = status ? status.restartCount || 0 : 0;
  if (!previous) return { run, current: true };
  if (!status || !status.lastState || !status.lastState.terminated) {
    throw errors.badRequest(`previous terminated container "${container}" in pod "${pod.metadata.name}" not found`);
  }
  return { run: run - 1, current: false };
}

function linesOf(entries, withTimestamps) {
  const out = [];
  for (const e of entries) {
    const text = e.text.endsWith('\n') ? e.text.slice(0, -1) : e.text;
    for (const line of text.split('\n')) out.push(withTimestamps ? `${e.time.toISOString()} ${line}` : line);
  }
  return out;
}

function render(entries, query) {
  const since = query.sinceSeconds ? Date.now() - Number(query.sinceSeconds) * 1000 : 0;
  let lines = linesOf(entries.filter((e) => e.time.getTime() >= since), query.timestamps === 'true');
  if (query.tailLines !== undefined) lines = Number(query.tailLines) === 0 ? [] : lines.slice(-Number(query.tailLines));
  let text = lines.length ? lines.join('\n') + '\n' : '';
  if (query.limitBytes) text = Buffer.from(text).subarray(0, Number(query.limitBytes)).toString('utf8');
  return text;
}

function servePodLog(ctx, route) {
  if (ctx.req.method !== 'GET') throw errors.methodNotAllowed();
  const { store, query, res, req } = ctx;
  const pod = store.getObject(route.resource, route.namespace, route.name);
  if (!pod) throw errors.notFound(route.resource, route.name);
  const container = chooseContainer(pod, query.container);
  const instance = runOf(pod, container, query.previous === 'true');
  const read = () => store.readLog(route.namespace, route.name, container)
    .filter((e) => (e.instance === undefined ? instance.current : e.instance === instance.run));
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  const initial = read();
  res.write(render(initial, query));
  if (query.follow !== 'true') {
    res.end();
    return;
  }
  let sent = initial.length;
  const key = `${route.namespace}/${route.name}`;
  const onAppend = () => {
    const all = read();
    res.write(render(all.slice(sent), { timestamps: query.timestamps }));
    sent = all.length;
  };
  const onEvent = (e) => {
    if (e.type === 'DELETED' && e.resource === route.resource && e.object.metadata.namespace === route.namespace && e.object.metadata.name === route.name) stop();
  };
  function stop() {
    store.logWaiters.removeListener(key, onAppend);
    store.removeListener('event', onEvent);
    res.end();
  }
  store.logWaiters.on(key, onAppend);
  store.on('event', onEvent);
  req.on('close', stop);
}

module.exports = { servePodLog };
