'use strict';
// The barman-cloud plugin's ObjectStore (barmancloud.cnpg.io/v1) as the lab reads it, and running barman-cloud:
// - resolve(store, namespace, name) -> {destinationPath, endpointURL, env, walFlags, dataFlags, retentionPolicy}
//   with the s3Credentials read from their Secret into `env` (AWS_* variables: credentials never go on argv);
// - barman(program, args, {env, netns, asPostgres, timeoutMs}) runs a barman-cloud program, from a pod's network
//   namespace when `netns` is given (`ip netns exec`), as `postgres` when asked, and resolves {code, stdout,
//   stderr, message} where `message` is barman's last error line;
// - netnsOfPod(pod): the network namespace the lab's node gave the pod (named after its address);
// - shellQuote(s): s quoted for sh (archive_command and restore_command are run by sh).

const { execFile } = require('child_process');

const GROUP_VERSION = 'barmancloud.cnpg.io/v1';
const PLUGIN_NAME = 'barman-cloud.cloudnative-pg.io';
const COMPRESSION_FLAGS = { gzip: ['-z'], bzip2: ['-j'], snappy: ['--snappy'] };

class StoreError extends Error {}

const shellQuote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

function secretValue(store, namespace, ref, what) {
  if (!ref || !ref.name || !ref.key) throw new StoreError(`${what}: a Secret name and key are required`);
  const secret = store.get('v1', 'Secret', namespace, ref.name);
  if (!secret) throw new StoreError(`${what}: Secret "${ref.name}" not found`);
  const value = (secret.data || {})[ref.key];
  if (value === undefined) throw new StoreError(`${what}: key "${ref.key}" not found in Secret "${ref.name}"`);
  return Buffer.from(value, 'base64').toString('utf8');
}

function compressionFlags(section) {
  const c = (section || {}).compression;
  return c ? COMPRESSION_FLAGS[c] || [] : [];
}

// The ObjectStore `name` in `namespace`, resolved; throws StoreError when it or its credentials are missing.
function resolve(store, namespace, name) {
  const obj = store.get(GROUP_VERSION, 'ObjectStore', namespace, name);
  if (!obj) throw new StoreError(`ObjectStore "${name}" not found in namespace "${namespace}"`);
  const conf = (obj.spec || {}).configuration || {};
  const creds = conf.s3Credentials || {};
  const env = {
    AWS_ACCESS_KEY_ID: secretValue(store, namespace, creds.accessKeyId, 's3Credentials.accessKeyId'),
    AWS_SECRET_ACCESS_KEY: secretValue(store, namespace, creds.secretAccessKey, 's3Credentials.secretAccessKey'),
    AWS_DEFAULT_REGION: creds.region ? secretValue(store, namespace, creds.region, 's3Credentials.region') : 'us-east-1',
  };
  if (creds.sessionToken) env.AWS_SESSION_TOKEN = secretValue(store, namespace, creds.sessionToken, 's3Credentials.sessionToken');
  return {
    object: obj, name, destinationPath: String(conf.destinationPath || '').replace(/\/+$/, ''), endpointURL: conf.endpointURL || null,
    env, walFlags: compressionFlags(conf.wal), dataFlags: compressionFlags(conf.data), retentionPolicy: (obj.spec || {}).retentionPolicy || null,
  };
}

// The arguments every barman-cloud program takes before its positionals.
function endpointArgs(os) {
  return os.endpointURL ? ['--endpoint-url', os.endpointURL] : [];
}

function netnsOfPod(pod) {
  const ip = pod && pod.status && pod.status.podIP;
  if (!ip) return null;
  const [, , k, s] = ip.split('.');
  return `alaris-${k}-${s}`;
}

// barman's own explanation of a failure: its last ERROR/CRITICAL line (or the last line of stderr).
function barmanMessage(stderr) {
  const lines = String(stderr || '').split('\n').map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => /\b(ERROR|CRITICAL)\b/.test(l));
  const line = errors.length ? errors[errors.length - 1] : lines[lines.length - 1] || '';
  return line.replace(/^\d{4}-\d\d-\d\d[ T][\d:,.]+\s+/, '').replace(/^\[\d+\]\s+/, '');
}

function barman(program, args, { env = {}, netns = null, asPostgres = false, timeoutMs = 120000 } = {}) {
  let argv = [program, ...args];
  if (asPostgres) argv = ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', ...argv];
  if (netns) argv = ['ip', 'netns', 'exec', netns, ...argv];
  const fullEnv = Object.assign({ PATH: '/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: '/tmp', LANG: 'C.UTF-8' }, env);
  return new Promise((done) => {
    execFile(argv[0], argv.slice(1), { env: fullEnv, timeout: timeoutMs, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const why = err && err.killed ? `${program} did not finish within ${timeoutMs / 1000} s` : `${program} exited with ${code}`;
      done({ code, stdout, stderr, message: code ? barmanMessage(stderr) || why : '' });
    });
  });
}

// The plugin entry of a Cluster that names the barman-cloud plugin as its WAL archiver, or null.
function walArchiverPlugin(cluster) {
  return (((cluster.spec || {}).plugins) || []).find((p) => p.name === PLUGIN_NAME && p.isWALArchiver !== false && p.enabled !== false) || null;
}

function serverNameOf(cluster, plugin) {
  return ((plugin && plugin.parameters) || {}).serverName || cluster.metadata.name;
}

module.exports = { shellQuote, GROUP_VERSION, PLUGIN_NAME, StoreError, resolve, endpointArgs, netnsOfPod, barman, barmanMessage, walArchiverPlugin, serverNameOf };
