'use strict';
// What a container's spec resolves to at start, as the kubelet resolves it: the environment (`env` values,
// `valueFrom` secretKeyRef / configMapKeyRef / fieldRef, `envFrom` with prefix) and the volumes it mounts
// (`emptyDir`, `secret`, `configMap`, `downwardAPI`, with items, subPath and readOnly), written under the pod's
// directory. A missing Secret/ConfigMap or key throws ConfigError with the kubelet's message (the container
// then waits in CreateContainerConfigError, or ContainerCreating for a volume). It starts nothing.

const fs = require('fs');
const path = require('path');

class ConfigError extends Error {
  constructor(message, reason = 'CreateContainerConfigError') {
    super(message);
    this.reason = reason;
  }
}

const KINDS = { secret: ['Secret', 'secret'], configMap: ['ConfigMap', 'configmap'] };

function sourceData(store, kind, namespace, name, optional, reason) {
  const obj = store.get('v1', KINDS[kind][0], namespace, name);
  if (!obj) {
    if (optional) return null;
    throw new ConfigError(`${KINDS[kind][1]} "${name}" not found`, reason);
  }
  const out = {};
  for (const [k, v] of Object.entries(obj.data || {})) out[k] = kind === 'secret' ? Buffer.from(v, 'base64') : Buffer.from(String(v));
  for (const [k, v] of Object.entries(obj.binaryData || {})) out[k] = Buffer.from(v, 'base64');
  return out;
}

function keyRef(store, kind, ref, namespace) {
  const data = sourceData(store, kind, namespace, ref.name, ref.optional);
  if (!data) return undefined;
  if (!(ref.key in data)) {
    if (ref.optional) return undefined;
    throw new ConfigError(`couldn't find key ${ref.key} in ${KINDS[kind][0]} ${namespace}/${ref.name}`);
  }
  return data[ref.key].toString('utf8');
}

function fieldValue(pod, fieldPath, podIP) {
  const md = pod.metadata;
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return (md[label[1]] || {})[label[2]] || '';
  const fields = {
    'metadata.name': md.name, 'metadata.namespace': md.namespace, 'metadata.uid': md.uid,
    'spec.nodeName': pod.spec.nodeName || 'lab-node-1', 'spec.serviceAccountName': pod.spec.serviceAccountName,
    'status.podIP': podIP, 'status.podIPs': podIP, 'status.hostIP': (pod.status || {}).hostIP || '',
  };
  if (fieldPath in fields) return fields[fieldPath] || '';
  const map = /^metadata\.(labels|annotations)$/.exec(fieldPath);
  if (map) return Object.entries(md[map[1]] || {}).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n');
  throw new ConfigError(`unsupported fieldPath ${fieldPath}`);
}

// $(VAR) references to earlier variables, as the kubelet expands them; $$ escapes.
function expand(value, env) {
  return String(value).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) => (m === '$$' ? '$' : (name in env ? env[name] : m)));
}

function resolveEnv(store, pod, c, podIP) {
  const ns = pod.metadata.namespace;
  const env = {};
  for (const from of c.envFrom || []) {
    const kind = from.secretRef ? 'secret' : 'configMap';
    const ref = from.secretRef || from.configMapRef;
    const data = sourceData(store, kind, ns, ref.name, ref.optional);
    for (const [k, v] of Object.entries(data || {})) env[(from.prefix || '') + k] = v.toString('utf8');
  }
  for (const e of c.env || []) {
    let value;
    const vf = e.valueFrom;
    if (!vf) value = expand(e.value || '', env);
    else if (vf.secretKeyRef) value = keyRef(store, 'secret', vf.secretKeyRef, ns);
    else if (vf.configMapKeyRef) value = keyRef(store, 'configMap', vf.configMapKeyRef, ns);
    else if (vf.fieldRef) value = fieldValue(pod, vf.fieldRef.fieldPath, podIP);
    else if (vf.resourceFieldRef) value = '0';
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

function writeFiles(dir, files, mode) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(dir, rel);
    if (!file.startsWith(dir + path.sep)) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, content, { mode });
    fs.chmodSync(file, mode);
  }
}

function projected(data, items) {
  if (!items || !items.length) return data;
  const out = {};
  for (const item of items) if (item.key in data) out[item.path] = data[item.key];
  return out;
}

function volumeFiles(store, pod, volume, podIP) {
  const ns = pod.metadata.namespace;
  if (volume.secret) {
    const data = sourceData(store, 'secret', ns, volume.secret.secretName, volume.secret.optional, 'ContainerCreating');
    return { files: projected(data || {}, volume.secret.items), mode: volume.secret.defaultMode || 0o644 };
  }
  if (volume.configMap) {
    const data = sourceData(store, 'configMap', ns, volume.configMap.name, volume.configMap.optional, 'ContainerCreating');
    return { files: projected(data || {}, volume.configMap.items), mode: volume.configMap.defaultMode || 0o644 };
  }
  if (volume.downwardAPI) {
    const files = {};
    for (const item of volume.downwardAPI.items || []) {
      if (item.fieldRef) files[item.path] = fieldValue(pod, item.fieldRef.fieldPath, podIP) + '\n';
    }
    return { files, mode: volume.downwardAPI.defaultMode || 0o644 };
  }
  return null;
}

// Writes the container's volumes under podDir/volumes and returns its bind mounts {source, target, readOnly}.
function prepareVolumes(store, pod, c, podDir, user, podIP) {
  const mounts = [];
  const volumes = new Map((pod.spec.volumes || []).map((v) => [v.name, v]));
  for (const m of c.volumeMounts || []) {
    const volume = volumes.get(m.name);
    if (!volume) throw new ConfigError(`volume "${m.name}" is not defined in the pod`, 'ContainerCreating');
    const dir = path.join(podDir, 'volumes', m.name);
    const content = volumeFiles(store, pod, volume, podIP);
    if (content) writeFiles(dir, content.files, content.mode);
    else if (volume.emptyDir) {
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
        fs.chmodSync(dir, 0o777);
      }
    } else throw new ConfigError(`the lab does not mount volumes of this kind ("${m.name}")`, 'ContainerCreating');
    const source = m.subPath ? path.join(dir, m.subPath) : dir;
    if (m.subPath && !fs.existsSync(source)) fs.mkdirSync(source, { recursive: true, mode: 0o777 });
    mounts.push({ source, target: m.mountPath, readOnly: !!m.readOnly || !volume.emptyDir });
  }
  return mounts;
}

module.exports = { resolveEnv, prepareVolumes, ConfigError, fieldValue };
