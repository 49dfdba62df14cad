'use strict';
// pods/NAME/log: returns the log recorded for a pod with `store.appendLog(ns, name, text, container?)`
// (the emulator runs no containers; controllers and tests write the log). Supports container,
// tailLines, timestamps, limitBytes, sinceSeconds and follow (streams appended text until the client
// leaves or the pod is deleted). `previous` logs are not kept.

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
  const read = () => store.readLog(route.namespace, route.name, container);
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
