'use strict';
// The tenant app under load: requests per second and p50/p99 latency of GET /health and GET /public at a fixed
// concurrency (keep-alive connections, each sending its next request when the last answered), and the app's RSS
// at start and at its peak. Baselines, run the same way against the same PostgreSQL: a bare node:http server
// answering the same /health JSON, and one answering /public's query from its own pg pool of the same size: what
// Express, routing, logging and the app's timeout handling cost on top of Node and pg.
//   node bench/app_load.js [CONCURRENCY [SECONDS]]     (32 and 5 by default; after `npm ci` in app/)
// Starts its own PostgreSQL (tests/support/pg-server: needs the postgresql package) and stops it at the end.
// Prints numbers; asserts nothing about them.

const fs = require('fs');
const path = require('path');
const http = require('http');
const { spawn } = require('child_process');

const APP_DIR = path.resolve(__dirname, '..', 'app');
const { startPostgres } = require(path.join(APP_DIR, 'test', 'postgres'));
const { appEnv, freePort } = require(path.join(APP_DIR, 'test', 'helpers'));

const CONCURRENCY = Number(process.argv[2] || 32);
const SECONDS = Number(process.argv[3] || 5);
const WARMUP_MS = 1000;

// The baseline: node:http and pg only, the same answers, no Express, no logging, no deadline.
const BARE_SERVER = `
const http = require('http');
const pg = require('pg');
const pool = new pg.Pool({ host: process.env.DB_HOST, port: Number(process.env.DB_PORT), database: process.env.DB_NAME,
  user: process.env.DB_USER, password: process.env.DB_PASSWORD, ssl: false, max: 10 });
http.createServer(async (req, res) => {
  let body = { status: 'ok' };
  if (req.url === '/public') {
    const { rows: [row] } = await pool.query('SELECT current_database() AS name, now() AS time');
    body = { tenant: 'bench', message: 'Hello from bench', database: { name: row.name, time: row.time.toISOString() } };
  }
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}).listen(Number(process.env.PUBLIC_PORT), '127.0.0.1', () => console.log('listening'));
`;

// Starts `args` under node with `env`, resolving the child once it printed "listening"; its stdout is discarded
// after that (the app logs every request).
function startServer(args, env) {
  const child = spawn(process.execPath, args, { env, cwd: APP_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      if (out.includes('listening')) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

// Resident set size of `pid` now and at its peak, in MB (Linux /proc).
function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)[1]);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

function get(agent, port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
  });
}

// CONCURRENCY clients on keep-alive connections for `ms`; resolves {count, errors, latencies (ms)}.
async function load(port, urlPath, ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const until = Date.now() + ms;
  const latencies = [];
  let errors = 0;
  const client = async () => {
    while (Date.now() < until) {
      const start = process.hrtime.bigint();
      const ok = await get(agent, port, urlPath);
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (!ok) errors += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  agent.destroy();
  return { count: latencies.length, errors, latencies };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(port, urlPath) {
  await load(port, urlPath, WARMUP_MS);
  const { count, errors, latencies } = await load(port, urlPath, SECONDS * 1000);
  latencies.sort((a, b) => a - b);
  return { rps: count / SECONDS, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

const pad = (s, n) => String(s).padEnd(n);
const num = (x, n, digits = 1) => x.toFixed(digits).padStart(n);

async function main() {
  const pg = startPostgres();
  const servers = [];
  try {
    const env = await appEnv(pg, { TENANT_NAME: 'bench', DB_SSLMODE: 'disable' });
    const app = await startServer(['server.js'], env);
    servers.push(app);
    const rssAtStart = rss(app.pid).now;
    const bareEnv = { ...env, PUBLIC_PORT: String(await freePort()) };
    const bare = await startServer(['-e', BARE_SERVER], bareEnv);
    servers.push(bare);

    console.log(`GET at concurrency ${CONCURRENCY}, ${SECONDS} s per run after ${WARMUP_MS / 1000} s of warm-up, ` +
      'keep-alive, PostgreSQL 15 on loopback');
    console.log(`  ${pad('path', 10)}${pad('server', 22)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}` +
      `${'p99 ms'.padStart(9)}${'errors'.padStart(8)}${'vs bare'.padStart(9)}`);
    for (const urlPath of ['/health', '/public']) {
      const base = await measure(Number(bareEnv.PUBLIC_PORT), urlPath);
      const mine = await measure(Number(env.PUBLIC_PORT), urlPath);
      for (const [name, r] of [['bare node:http (+pg)', base], ['tenant app', mine]]) {
        console.log(`  ${pad(urlPath, 10)}${pad(name, 22)}${num(r.rps, 9, 0)}${num(r.p50, 9, 2)}${num(r.p99, 9, 2)}` +
          `${String(r.errors).padStart(8)}${num(r.rps / base.rps, 8, 2)}x`);
      }
    }
    const after = rss(app.pid);
    console.log(`tenant app RSS: ${rssAtStart.toFixed(1)} MB at start, ${after.now.toFixed(1)} MB after the runs, ` +
      `${after.peak.toFixed(1)} MB at its peak; the bare server's peak: ${rss(bare.pid).peak.toFixed(1)} MB`);
  } finally {
    servers.forEach((child) => child.kill('SIGTERM'));
    pg.down();
  }
}

main().catch((err) => {
  console.error(`app_load: ${err.message}`);
  process.exit(1);
});
