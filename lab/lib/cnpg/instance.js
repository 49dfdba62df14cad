'use strict';
// The instance manager of one CloudNativePG instance pod, as the lab runs it: inside the pod's network namespace,
// as the `postgres` OS user. It reads its configuration (written by the operator, cluster.js) from
// LAB_CNPG_CONFIG, data under PGDATA, and:
// - on first start: initdb (primary; bootstrap.initdb options) or pg_basebackup from the primary (replica), or
//   nothing when the operator restored the data (bootstrap.recovery);
// - writes postgresql.conf's `custom.conf` (CNPG's fixed parameters, then the user's) and pg_hba.conf, runs
//   PostgreSQL 15 and, on a new primary, creates streaming_replica, the application owner and database and runs
//   postInitSQL / postInitApplicationSQL; keeps the replicas' slots and managed roles on the primary;
// - follows role changes in the configuration: a replica told it is primary promotes; a primary told it is a
//   replica stops, pg_rewinds from the new primary (pg_basebackup again if that fails) and follows it;
// - serves :8000 — GET /healthz, GET /readyz (PostgreSQL accepts connections), GET /pg/status (role, LSNs,
//   timeline, replication) — which the operator polls from its own pod.
// Passwords come from the configuration file and reach psql/pg_basebackup through a passfile or stdin only.

const fs = require('fs');
const path = require('path');
const http = require('http');
const { spawn, execFile } = require('child_process');

const CONFIG = process.env.LAB_CNPG_CONFIG;
const PGDATA = process.env.PGDATA;
const HOME = path.dirname(PGDATA || '.');
const RUN = path.join(HOME, 'run');
const PASSFILE = path.join(HOME, '.pgpass');
const STATUS_PORT = 8000;
const PRIMARY_RESTART_AFTER_MS = 15000;

let config = null;
let pg = null; // the postgres child
let pgAccepting = false;
let busy = null; // what the manager is doing (rewinding, cloning ...)
let postgresDiedAt = 0;
let initDone = false;
const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;
const ident = (s) => `"${String(s).replace(/"/g, '""')}"`;
const log = (line) => process.stdout.write(`${JSON.stringify({ level: 'info', ts: new Date().toISOString(), logger: 'instance-manager', msg: line })}\n`);

function readConfig() {
  return JSON.parse(fs.readFileSync(CONFIG, 'utf8'));
}

function run(cmd, args, { input, env } = {}) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: Object.assign({}, process.env, { PGPASSFILE: PASSFILE }, env || {}), maxBuffer: 16 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

// SQL through the local socket as postgres (peer); the SQL goes on stdin. The server does not log the statement of
// a failing command of these sessions (some carry passwords: the server's log is the pod's log).
async function psql(sql, db = 'postgres') {
  const input = `SET log_min_error_statement = panic;\n${sql}`;
  const r = await run('psql', ['-h', RUN, '-U', 'postgres', '-d', db, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { input });
  if (r.code !== 0) throw new Error(r.stderr.trim());
  return r.stdout.trim();
}

function writePassfile() {
  const line = (host, db) => `${host}:5432:${db}:streaming_replica:${config.replicationPassword.replace(/[:\\]/g, (c) => `\\${c}`)}\n`;
  fs.writeFileSync(PASSFILE, line('*', 'replication') + line('*', 'postgres'), { mode: 0o600 });
}

function conninfo() {
  return `host=${config.primaryIP} port=5432 user=streaming_replica application_name=${config.podName} sslmode=disable passfile=${PASSFILE}`;
}

const slotName = (pod) => `_cnpg_${pod.replace(/-/g, '_')}`;

function hbaText() {
  const lines = ['# written by the lab instance manager', 'local all all peer',
    `host replication streaming_replica ${config.podCIDR} scram-sha-256`,
    `host postgres streaming_replica ${config.podCIDR} scram-sha-256`];
  lines.push(...(config.pgHBA || []));
  for (const net of [config.podCIDR, `${config.nodeIP}/32`].filter((n) => n && !n.startsWith('undefined'))) lines.push(`host all all ${net} scram-sha-256`);
  return lines.join('\n') + '\n';
}

function confText() {
  const fixed = {
    listen_addresses: '*', port: 5432, unix_socket_directories: RUN, wal_level: 'logical', hot_standby: 'on',
    wal_log_hints: 'on', full_page_writes: 'on', max_wal_senders: 10, max_replication_slots: 32, archive_mode: 'on',
    archive_command: config.archive ? config.archive.archive_command : ':', archive_timeout: '60s',
    cluster_name: config.cluster, log_destination: 'stderr', logging_collector: 'off', shared_preload_libraries: '',
  };
  const defaults = { shared_buffers: '16MB', max_connections: 50, wal_keep_size: '64MB', fsync: 'off', synchronous_commit: 'on' };
  const all = Object.assign(defaults, config.parameters || {}, fixed);
  if (config.parameters && config.parameters.archive_timeout) all.archive_timeout = config.parameters.archive_timeout;
  if (config.role === 'replica') {
    all.primary_conninfo = conninfo();
    all.primary_slot_name = slotName(config.podName);
  }
  return Object.entries(all).map(([k, v]) => `${k} = ${quote(v)}`).join('\n') + '\n';
}

function writeConfiguration() {
  const conf = path.join(PGDATA, 'postgresql.conf');
  if (!fs.readFileSync(conf, 'utf8').includes("include 'custom.conf'")) fs.appendFileSync(conf, "\ninclude 'custom.conf'\n");
  fs.writeFileSync(path.join(PGDATA, 'custom.conf'), confText(), { mode: 0o600 });
  fs.writeFileSync(path.join(PGDATA, 'pg_hba.conf'), hbaText(), { mode: 0o600 });
  const standby = path.join(PGDATA, 'standby.signal');
  if (config.role === 'replica') fs.writeFileSync(standby, '');
  else fs.rmSync(standby, { force: true });
}

async function initdb() {
  const i = config.initdb || {};
  const args = ['-D', PGDATA, '-U', 'postgres', '--auth-local=peer', '--auth-host=scram-sha-256', '--no-sync'];
  if (i.encoding) args.push('--encoding', i.encoding);
  if (i.localeCollate) args.push('--lc-collate', i.localeCollate);
  if (i.localeCType) args.push('--lc-ctype', i.localeCType);
  if (i.dataChecksums) args.push('--data-checksums');
  const r = await run('initdb', args);
  if (r.code !== 0) throw new Error(`initdb failed: ${r.stderr.trim()}`);
}

async function cloneFromPrimary() {
  fs.rmSync(PGDATA, { recursive: true, force: true });
  const r = await run('pg_basebackup', ['-d', conninfo(), '-D', PGDATA, '-X', 'stream', '--no-sync', '-c', 'fast']);
  if (r.code !== 0) throw new Error(`pg_basebackup failed: ${r.stderr.trim()}`);
}

// A new primary's roles and databases (bootstrap.initdb), once.
async function bootstrapSQL() {
  const i = config.initdb || {};
  const enc = i.encoding ? ` ENCODING ${quote(i.encoding)}` : '';
  const locale = (i.localeCollate ? ` LC_COLLATE ${quote(i.localeCollate)}` : '') + (i.localeCType ? ` LC_CTYPE ${quote(i.localeCType)}` : '');
  await psql([
    `CREATE ROLE streaming_replica LOGIN REPLICATION PASSWORD ${quote(config.replicationPassword)};`,
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO streaming_replica;',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO streaming_replica;',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO streaming_replica;',
    'GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO streaming_replica;',
    `CREATE ROLE ${ident(i.owner)} LOGIN PASSWORD ${quote(i.ownerPassword)};`,
  ].join('\n'));
  await psql(`CREATE DATABASE ${ident(i.database)} OWNER ${ident(i.owner)} TEMPLATE template0${enc}${locale};`);
  if ((i.postInitSQL || []).length) await psql(i.postInitSQL.join(';\n') + ';');
  if ((i.postInitApplicationSQL || []).length) await psql(i.postInitApplicationSQL.join(';\n') + ';', i.database);
}

async function applySuperuser() {
  await psql(config.superuserPassword ? `ALTER ROLE postgres PASSWORD ${quote(config.superuserPassword)};` : 'ALTER ROLE postgres PASSWORD NULL;');
}

async function ensureSlots() {
  const wanted = (config.replicas || []).map(slotName);
  const have = (await psql("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE '\\_cnpg\\_%'")).split('\n').filter(Boolean);
  for (const s of wanted) if (!have.includes(s)) await psql(`SELECT pg_create_physical_replication_slot(${quote(s)}, true);`);
  for (const s of have) if (!wanted.includes(s)) await psql(`SELECT pg_drop_replication_slot(${quote(s)}) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${quote(s)} AND active);`);
}

// managed.roles: create, alter and drop declaratively; returns the status CNPG writes for them.
async function ensureManagedRoles() {
  const status = { byStatus: { reconciled: [], 'not-managed': [], 'pending-reconciliation': [], reserved: ['postgres', 'streaming_replica'] }, cannotReconcile: {} };
  for (const role of config.managedRoles || []) {
    try {
      const exists = (await psql(`SELECT 1 FROM pg_roles WHERE rolname = ${quote(role.name)}`)) === '1';
      if (role.ensure === 'absent') {
        if (exists) await psql(`DROP ROLE ${ident(role.name)};`);
        continue;
      }
      const attrs = [role.login ? 'LOGIN' : 'NOLOGIN', role.superuser ? 'SUPERUSER' : 'NOSUPERUSER', role.createdb ? 'CREATEDB' : 'NOCREATEDB',
        role.createrole ? 'CREATEROLE' : 'NOCREATEROLE', role.inherit === false ? 'NOINHERIT' : 'INHERIT',
        role.replication ? 'REPLICATION' : 'NOREPLICATION', `CONNECTION LIMIT ${role.connectionLimit === undefined ? -1 : role.connectionLimit}`];
      if (role.password !== undefined) attrs.push(role.password === null ? 'PASSWORD NULL' : `PASSWORD ${quote(role.password)}`);
      await psql(`${exists ? 'ALTER' : 'CREATE'} ROLE ${ident(role.name)} ${attrs.join(' ')};`);
      for (const parent of role.inRoles || []) await psql(`GRANT ${ident(parent)} TO ${ident(role.name)};`);
      status.byStatus.reconciled.push(role.name);
    } catch (err) {
      status.cannotReconcile[role.name] = [err.message];
    }
  }
  return status;
}

function startPostgres() {
  fs.mkdirSync(RUN, { recursive: true, mode: 0o700 });
  writeConfiguration();
  const env = Object.assign({}, process.env, (config.archive && config.archive.env) || {});
  delete env.LAB_CNPG_CONFIG;
  pg = spawn('postgres', ['-D', PGDATA], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const child = pg;
  child.on('exit', (code, signal) => {
    if (pg !== child) return;
    pg = null;
    pgAccepting = false;
    postgresDiedAt = Date.now();
    log(`postgres exited (${signal || code})`);
  });
  return waitAccepting();
}

async function waitAccepting(timeoutMs = Infinity) { // a recovery may replay WAL for long: wait while postgres lives
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && pg) {
    const r = await run('pg_isready', ['-h', RUN, '-p', '5432', '-q']);
    if (r.code === 0) { pgAccepting = true; return true; }
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

function stopPostgres() {
  return new Promise((resolve) => {
    if (!pg) return resolve();
    const child = pg;
    pg = null;
    pgAccepting = false;
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}

async function inRecovery() {
  return (await psql('SELECT pg_is_in_recovery()')) === 't';
}

// A primary told to follow another instance: stop, rewind (or clone), start as a replica.
async function demote() {
  busy = 'rewinding';
  log(`demoting: following ${config.primaryIP}`);
  await stopPostgres();
  writePassfile();
  const source = `host=${config.primaryIP} port=5432 user=streaming_replica dbname=postgres sslmode=disable passfile=${PASSFILE}`;
  const r = await run('pg_rewind', ['-D', PGDATA, `--source-server=${source}`, '--no-sync']);
  if (r.code !== 0) {
    log(`pg_rewind failed (${r.stderr.trim().split('\n').pop()}); cloning the primary again`);
    busy = 'cloning';
    await cloneFromPrimary();
  }
  await startPostgres();
  busy = null;
}

async function firstStart() {
  writePassfile();
  let fresh = false;
  if (!fs.existsSync(path.join(PGDATA, 'PG_VERSION'))) {
    if (config.role === 'primary') {
      busy = 'initdb';
      await initdb();
      fresh = true;
    } else {
      busy = 'cloning';
      await cloneFromPrimary();
    }
  } else if (config.role === 'replica' && !fs.existsSync(path.join(PGDATA, 'standby.signal'))) {
    await demote(); // a former primary starting as a replica
    return;
  } else if (config.role === 'fenced') {
    busy = null;
    return;
  }
  await startPostgres();
  if (fresh) await bootstrapSQL();
  busy = null;
}

let managedRolesStatus = null;
let appliedRoles = null;
async function primaryDuties() {
  if (!initDone) {
    await psql(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'streaming_replica') THEN CREATE ROLE streaming_replica LOGIN REPLICATION; END IF; END $$;
ALTER ROLE streaming_replica PASSWORD ${quote(config.replicationPassword)};`);
    initDone = true;
  }
  await ensureSlots();
  // roles are written only when what is wanted changed: an ALTER ROLE per tick would make WAL all the time
  const wanted = JSON.stringify([config.superuserPassword, config.managedRoles]);
  if (wanted === appliedRoles) return;
  await applySuperuser();
  managedRolesStatus = await ensureManagedRoles();
  if (!Object.keys(managedRolesStatus.cannotReconcile).length) appliedRoles = wanted;
}

async function tick() {
  config = readConfig();
  if (busy) return;
  if (config.role === 'fenced') {
    if (pg) { log('fenced: stopping PostgreSQL until the new primary is promoted'); await stopPostgres(); }
    return;
  }
  if (!pg) {
    const isPrimaryConfig = config.role === 'primary';
    if (!isPrimaryConfig || Date.now() - postgresDiedAt > PRIMARY_RESTART_AFTER_MS) {
      if (isPrimaryConfig || fs.existsSync(path.join(PGDATA, 'standby.signal'))) await startPostgres();
      else await demote();
    }
    return;
  }
  if (!pgAccepting) return;
  const recovering = await inRecovery();
  if (config.role === 'primary' && recovering) {
    log('promoting');
    await psql('SELECT pg_promote(true, 60)');
    writeConfiguration();
    await psql('SELECT pg_reload_conf()');
  } else if (config.role === 'replica' && !recovering) {
    await demote();
  } else {
    if (configurationChanged()) {
      // parameters, pg_hba, the archive command or the primary followed changed: reload (what needs a restart waits)
      writeConfiguration();
      await psql('SELECT pg_reload_conf()');
    }
    if (config.role === 'primary') await primaryDuties();
  }
}

function configurationChanged() {
  const read = (f) => { try { return fs.readFileSync(path.join(PGDATA, f), 'utf8'); } catch { return null; } };
  return read('custom.conf') !== confText() || read('pg_hba.conf') !== hbaText();
}

async function status() {
  const base = { podName: config.podName, isPrimary: config.role === 'primary', busy, isPostgresRunning: !!pg, ready: pgAccepting && !busy };
  if (!pgAccepting) return base;
  const row = (await psql(`SELECT pg_is_in_recovery(),
      CASE WHEN pg_is_in_recovery() THEN COALESCE(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END,
      COALESCE(pg_last_wal_replay_lsn()::text, ''),
      (SELECT timeline_id FROM pg_control_checkpoint()), (SELECT system_identifier FROM pg_control_system())`)).split('|');
  const s = Object.assign(base, { isPrimary: row[0] === 'f', currentLsn: row[1], replayLsn: row[2] || null,
    timeLineID: Number(row[3]), systemID: row[4], managedRoles: managedRolesStatus });
  if (s.isPrimary) {
    const timeline = await psql("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)");
    s.timeLineID = parseInt(timeline, 16);
    s.replication = (await psql(`SELECT application_name, state, sent_lsn, replay_lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)
        FROM pg_stat_replication`)).split('\n').filter(Boolean).map((l) => {
      const [applicationName, state, sentLsn, replayLsn, lag] = l.split('|');
      return { applicationName, state, sentLsn, replayLsn, lagBytes: Number(lag) };
    });
  }
  return s;
}

function serve() {
  http.createServer(async (req, res) => {
    const send = (code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    try {
      if (req.url === '/healthz') return send(200, { ok: true });
      if (req.url === '/readyz') return send(pgAccepting && !busy ? 200 : 503, { ready: pgAccepting && !busy });
      if (req.url === '/pg/status') return send(200, await status());
      send(404, { error: 'not found' });
    } catch (err) {
      send(500, { error: err.message });
    }
  }).listen(STATUS_PORT, '0.0.0.0');
}

async function main() {
  config = readConfig();
  serve();
  try {
    await firstStart();
  } catch (err) {
    log(err.message);
    process.exit(1);
  }
  const loop = async () => {
    try { await tick(); } catch (err) { log(`reconcile: ${err.message}`); busy = null; }
    setTimeout(loop, 500);
  };
  loop();
  const stop = async () => { await stopPostgres(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();
