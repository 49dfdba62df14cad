'use strict';
// Server-side printing: turns objects into a meta.k8s.io/v1 Table (what `kubectl get` asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`). Columns per built-in type follow the real
// server's printers (a useful subset); custom resources use their CRD's additionalPrinterColumns.
// Not a JSONPath engine beyond simple paths and `[?(@.k=="v")]` filters.

function humanDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  const days = Math.floor(hours / 24) % 365;
  return hours < 24 * 365 * 8 && days ? `${years}y${days}d` : `${years}y`;
}

const age = (ts) => (ts ? humanDuration(Date.now() - Date.parse(ts)) : '<unknown>');

function jsonPath(obj, expr) {
  const tokens = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]|\[\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)\]/g;
  let m;
  while ((m = re.exec(expr))) tokens.push(m);
  let cur = [obj];
  for (const t of tokens) {
    const next = [];
    for (const c of cur) {
      if (c === undefined || c === null) continue;
      if (t[1] !== undefined) next.push(c[t[1]]);
      else if (t[2] !== undefined) next.push(Array.isArray(c) ? c[Number(t[2])] : undefined);
      else if (Array.isArray(c)) next.push(...c.filter((x) => x && String(jsonPath(x, '.' + t[3])) === t[4]));
    }
    cur = next;
  }
  const found = cur.filter((x) => x !== undefined && x !== null);
  return found.length ? found[0] : undefined;
}

const col = (name, type, description, extra) => Object.assign({ name, type, format: '', description: description || '', priority: 0 }, extra || {});
const NAME = col('Name', 'string', 'Name must be unique within a namespace.', { format: 'name' });
const AGE = col('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.');

// kubectl's STATUS of a pod: a container's waiting or terminated reason (CrashLoopBackOff, ErrImagePull,
// Completed, Error) over the phase, Terminating while it is deleted.
function podStatusColumn(p, statuses) {
  let reason = (p.status && (p.status.reason || p.status.phase)) || 'Pending';
  for (const s of statuses) {
    const st = s.state || {};
    if (st.waiting && st.waiting.reason && st.waiting.reason !== 'ContainerCreating') reason = st.waiting.reason;
    else if (st.waiting && st.waiting.reason && reason === 'Pending') reason = st.waiting.reason;
    else if (st.terminated && reason !== 'Running') reason = st.terminated.reason || `ExitCode:${st.terminated.exitCode}`;
  }
  return p.metadata.deletionTimestamp ? 'Terminating' : reason;
}

function podCells(p) {
  const statuses = (p.status && p.status.containerStatuses) || [];
  const total = ((p.spec && p.spec.containers) || []).length;
  const ready = statuses.filter((s) => s.ready).length;
  const restarts = statuses.reduce((n, s) => n + (s.restartCount || 0), 0);
  return [`${ready}/${total}`, podStatusColumn(p, statuses), restarts, age(p.metadata.creationTimestamp),
    (p.status && p.status.podIP) || '<none>', (p.spec && p.spec.nodeName) || '<none>'];
}

// kubectl's way of listing endpoints: the first three, then "+ N more...", or <none>.
function endpointList(items) {
  if (!items.length) return '<none>';
  return items.slice(0, 3).join(',') + (items.length > 3 ? ` + ${items.length - 3} more...` : '');
}

function servicePorts(s) {
  const ports = (s.spec && s.spec.ports) || [];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol || 'TCP'}`).join(',');
}

const BUILTIN_TABLES = {
  namespaces: {
    columns: [NAME, col('Status', 'string', 'The status of the namespace'), AGE],
    cells: (o) => [(o.status && o.status.phase) || '', age(o.metadata.creationTimestamp)],
  },
  pods: {
    columns: [NAME, col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'string', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'string', 'The number of times the containers in this pod have been restarted.'), AGE,
      col('IP', 'string', 'IP address allocated to the pod.', { priority: 1 }),
      col('Node', 'string', 'Name of the Node this pod is assigned to.', { priority: 1 })],
    cells: podCells,
  },
  services: {
    columns: [NAME, col('Type', 'string', 'The type of the service.'), col('Cluster-IP', 'string', 'The IP address of the service.'),
      col('External-IP', 'string', 'The external IP address of the service.'), col('Port(s)', 'string', 'The ports of the service.'), AGE,
      col('Selector', 'string', 'The selector of the service.', { priority: 1 })],
    cells: (s) => [(s.spec && s.spec.type) || 'ClusterIP', (s.spec && s.spec.clusterIP) || '<none>',
      ((s.status && s.status.loadBalancer && s.status.loadBalancer.ingress) || []).map((i) => i.ip || i.hostname).join(',') || '<none>',
      servicePorts(s), age(s.metadata.creationTimestamp),
      Object.entries((s.spec && s.spec.selector) || {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>'],
  },
  endpoints: {
    columns: [NAME, col('Endpoints', 'string', 'Endpoints is the list of endpoints in the endpoints.'), AGE],
    cells: (e) => [endpointList((e.subsets || []).flatMap((sub) => (sub.addresses || []).flatMap((a) => (sub.ports || [{}]).map((p) => (p.port ? `${a.ip}:${p.port}` : a.ip))))),
      age(e.metadata.creationTimestamp)],
  },
  endpointslices: {
    columns: [NAME, col('AddressType', 'string', 'The address type of the endpoint slice.'), col('Ports', 'string', 'The ports of the endpoint slice.'),
      col('Endpoints', 'string', 'The endpoints of the endpoint slice.'), AGE],
    cells: (e) => [e.addressType || '', (e.ports || []).map((p) => p.port).join(',') || '<unset>',
      endpointList((e.endpoints || []).flatMap((x) => x.addresses || [])), age(e.metadata.creationTimestamp)],
  },
  configmaps: {
    columns: [NAME, col('Data', 'string', 'Data contains the configuration data.'), AGE],
    cells: (c) => [Object.keys(c.data || {}).length + Object.keys(c.binaryData || {}).length, age(c.metadata.creationTimestamp)],
  },
  secrets: {
    columns: [NAME, col('Type', 'string', 'The type of the secret'), col('Data', 'string', 'The number of entries in the data'), AGE],
    cells: (s) => [s.type || 'Opaque', Object.keys(s.data || {}).length, age(s.metadata.creationTimestamp)],
  },
  events: {
    columns: [col('Last Seen', 'string', 'Time when last event occurred'), col('Type', 'string', 'Type of event'),
      col('Reason', 'string', 'Reason of event'), col('Object', 'string', 'Object this event is about'),
      col('Message', 'string', 'Message of event')],
    nameless: true,
    cells: (e) => [age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp), e.type || '', e.reason || '',
      e.involvedObject ? `${(e.involvedObject.kind || '').toLowerCase()}/${e.involvedObject.name}` : '', e.message || ''],
  },
  customresourcedefinitions: {
    columns: [NAME, col('Created At', 'date', 'CreationTimestamp')],
    cells: (c) => [c.metadata.creationTimestamp],
  },
};

// Printers of types whose modules describe their own columns (the node, the workload types), by group/resource.
const MODULE_TABLES = {
  '/nodes': () => require('./nodes').nodeTable({ col, NAME, AGE, age }),
  'apps/replicasets': () => require('./workloads-tables').replicaSetTable({ col, NAME, AGE, age }),
  'apps/deployments': () => require('./workloads-tables').deploymentTable({ col, NAME, AGE, age }),
  'batch/jobs': () => require('./workloads-tables').jobTable({ col, NAME, AGE, age, humanDuration }),
};

function printerFor(res) {
  const own = !res.crd && MODULE_TABLES[`${res.group}/${res.resource}`];
  if (own) return own();
  if (res.crd) {
    const cols = res.printerColumns && res.printerColumns.length
      ? res.printerColumns.map((c) => col(c.name, c.type, c.description, { priority: c.priority || 0, format: c.format || '' }))
      : [AGE];
    return {
      columns: [NAME].concat(cols),
      cells: (o) => (res.printerColumns && res.printerColumns.length
        ? res.printerColumns.map((c) => cellValue(jsonPath(o, c.jsonPath), c.type))
        : [age(o.metadata.creationTimestamp)]),
    };
  }
  return (!res.group && BUILTIN_TABLES[res.resource]) || (res.group === 'apps' && BUILTIN_TABLES[res.resource]) ||
    (res.group === 'batch' && BUILTIN_TABLES[res.resource]) ||
    (res.group === 'apiextensions.k8s.io' && BUILTIN_TABLES[res.resource]) ||
    { columns: [NAME, AGE], cells: (o) => [age(o.metadata.creationTimestamp)] };
}

function cellValue(v, type) {
  if (v === undefined || v === null) return null;
  if (type === 'date') return age(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return v;
}

function partialMetadata(obj) {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

// includeObject: 'None' | 'Metadata' (default) | 'Object'
function toTable(res, objects, listMeta, includeObject) {
  const printer = printerFor(res);
  const rows = objects.map((o) => {
    const cells = printer.nameless ? printer.cells(o) : [o.metadata.name].concat(printer.cells(o));
    const row = { cells };
    if (includeObject === 'Object') row.object = o;
    else if (includeObject !== 'None') row.object = partialMetadata(o);
    return row;
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta || {}, columnDefinitions: printer.columns, rows };
}

function wantsTable(accept) {
  return /as=Table/.test(accept || '') && /g=meta\.k8s\.io/.test(accept || '');
}

module.exports = { toTable, wantsTable, humanDuration, jsonPath };
