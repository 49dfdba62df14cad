'use strict';
// What an instance's PostgreSQL runs (as `postgres`, in the instance pod's network namespace) for its WAL:
//   node barman-wal.js archive [barman-cloud-wal-archive options] DESTINATION SERVER %p
//     Before the first segment of an instance whose archive was never checked (no HOME/archive-checked), runs
//     barman-cloud-check-wal-archive as CNPG does ("Expected empty archive" when the server already holds WAL);
//     then barman-cloud-wal-archive. Each outcome is written to HOME/archive-status.json ({ok, wal, message,
//     time}, barman's own error line on failure), which the lab's barman side turns into ContinuousArchiving.
//   node barman-wal.js restore ENV_FILE [barman-cloud-wal-restore options] DESTINATION SERVER %f %p
//     barman-cloud-wal-restore with the source store's credentials read from ENV_FILE (JSON), never argv.
// HOME is the directory above PGDATA. Credentials for archiving come from the server's environment.

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { barmanMessage } = require('./objectstore');

const HOME = path.dirname(process.env.PGDATA || process.cwd());

function runBarman(program, args, env) {
  const r = spawnSync(program, args, { env, encoding: 'utf8', timeout: 120000 });
  if (r.stderr) process.stderr.write(r.stderr);
  const code = r.status === null ? 1 : r.status;
  return { code, message: code ? barmanMessage(r.stderr) || `${program} exited with ${r.status === null ? r.signal : code}` : '' };
}

function writeStatus(status) {
  const file = path.join(HOME, 'archive-status.json');
  try {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(Object.assign({ time: new Date().toISOString() }, status)));
    fs.renameSync(`${file}.tmp`, file);
  } catch { /* the status is advisory */ }
}

function archive(args) {
  const walPath = args[args.length - 1];
  const wal = path.basename(walPath);
  const marker = path.join(HOME, 'archive-checked');
  if (!fs.existsSync(marker)) {
    const check = runBarman('barman-cloud-check-wal-archive', args.slice(0, -1).filter((a) => !/^(-z|-j|--snappy|--gzip|--bzip2)$/.test(a)), process.env);
    if (check.code) {
      writeStatus({ ok: false, wal, message: check.message });
      return 1;
    }
    try { fs.writeFileSync(marker, ''); } catch { /* checked again next time */ }
  }
  const r = runBarman('barman-cloud-wal-archive', args, process.env);
  writeStatus(r.code ? { ok: false, wal, message: r.message } : { ok: true, wal });
  return r.code;
}

function restore(envFile, args) {
  const env = Object.assign({}, process.env, JSON.parse(fs.readFileSync(envFile, 'utf8')));
  return runBarman('barman-cloud-wal-restore', args, env).code;
}

function main(argv) {
  const [mode, ...rest] = argv;
  if (mode === 'archive' && rest.length >= 3) return archive(rest);
  if (mode === 'restore' && rest.length >= 5) return restore(rest[0], rest.slice(1));
  process.stderr.write('usage: barman-wal.js archive OPTIONS DEST SERVER WAL_PATH | restore ENV_FILE OPTIONS DEST SERVER WAL_NAME WAL_PATH\n');
  return 2;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
