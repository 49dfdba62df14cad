'use strict';
// Streams watch events (one JSON object per line: {"type","object"}) for a resource type, as the real
// server does: synthetic ADDED for the current state when no resourceVersion is given, replay from the
// bounded history after a given resourceVersion, an ERROR event with a 410 Expired Status when that
// version is older than the history, ADDED/DELETED when an object starts/stops matching the selectors,
// BOOKMARK events when allowWatchBookmarks is set (periodically and before a timeout), timeoutSeconds.

const { selectorFor } = require('./selectors');

const DEFAULT_BOOKMARK_MS = 60000;

function classify(event, matches) {
  const now = matches(event.object);
  const before = event.oldObject ? matches(event.oldObject) : false;
  if (event.type === 'DELETED') return now || before ? 'DELETED' : null;
  if (event.type === 'ADDED') return now ? 'ADDED' : null;
  if (now && before) return 'MODIFIED';
  if (now) return 'ADDED';
  if (before) return 'DELETED';
  return null;
}

// opts: {store, resource, namespace, name, query, req, res, encode(obj) → obj, bookmarkIntervalMs}
function serveWatch(opts) {
  const { store, resource, namespace, name, query, req, res } = opts;
  const encode = opts.encode || ((o) => o);
  const bySelector = selectorFor(query, resource.resource);
  const matches = (o) => (!namespace || o.metadata.namespace === namespace) && (!name || o.metadata.name === name) && bySelector(o);
  const storageKey = store.registry.storageKey(resource);
  const write = (type, object) => res.write(JSON.stringify({ type, object }) + '\n');
  const versioned = (o) => store.asVersion(resource, JSON.parse(JSON.stringify(o)));

  let backlog = [];
  let initial = [];
  const rv = query.resourceVersion;
  const sendInitial = query.sendInitialEvents === 'true' || ((rv === undefined || rv === '' || rv === '0') && query.sendInitialEvents !== 'false');
  try {
    if (rv && rv !== '0') backlog = store.eventsSince(storageKey, rv);
  } catch (err) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    write('ERROR', err.toStatus());
    res.end();
    return;
  }
  if (sendInitial) initial = store.listObjects(resource, namespace).filter(matches);

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders && res.flushHeaders();

  const bookmarks = query.allowWatchBookmarks === 'true';
  const bookmark = (annotations) => {
    const metadata = { resourceVersion: store.currentRV() };
    if (annotations) metadata.annotations = annotations;
    write('BOOKMARK', { kind: resource.kind, apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version, metadata });
  };

  for (const o of initial) write('ADDED', encode(o));
  if (sendInitial && bookmarks && query.sendInitialEvents === 'true') bookmark({ 'k8s.io/initial-events-end': 'true' });
  for (const e of backlog) {
    const type = classify(e, matches);
    if (type) write(type, encode(versioned(e.object)));
  }

  const onEvent = (e) => {
    if (store.registry.storageKey(e.resource) !== storageKey) return;
    const type = classify(e, matches);
    if (type) write(type, encode(versioned(e.object)));
  };
  store.on('event', onEvent);

  const timers = [];
  if (bookmarks) timers.push(setInterval(() => bookmark(), opts.bookmarkIntervalMs || DEFAULT_BOOKMARK_MS));
  const timeoutMs = query.timeoutSeconds ? Number(query.timeoutSeconds) * 1000 : (1800 + Math.random() * 1800) * 1000;
  timers.push(setTimeout(() => {
    if (bookmarks) bookmark();
    finish();
  }, timeoutMs));

  let done = false;
  function finish() {
    if (done) return;
    done = true;
    store.removeListener('event', onEvent);
    for (const t of timers) clearTimeout(t);
    res.end();
  }
  req.on('close', finish);
  res.on('close', finish);
}

module.exports = { serveWatch };
