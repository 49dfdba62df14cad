'use strict';
// Image → program: what the lab runs for a container image, as a node that has pulled it would.
// - repository ending in `tenant-app`: the repository's app/ (`node app/server.js`), as nobody;
// - `postgres` (any registry, any tag): the host's PostgreSQL 15; without a command, postgres-entrypoint.sh
//   initialises a server from POSTGRES_PASSWORD/USER/DB as the official image does; as `postgres`;
// - `busybox`, `curlimages/curl`, `alpine`: command/args with a PATH holding busybox's sh, nc, wget, sleep, cat,
//   ... and the host's curl; as nobody;
// - `coredns` (the kube-dns pods): the lab's DNS server (dns.js), as root (it binds port 53);
// - anything else: null (the kubelet reports ErrImagePull / ImagePullBackOff).
// Other parts of the lab add images with registerImages(fn): fn(container, dir) returns a program, or
// {pullError: message} (ErrImagePull with that message), or nothing to leave the container to the rules above.

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const NOBODY = { uid: 65534, gid: 65534 };

function repository(image) {
  let name = String(image || '').split('@')[0];
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) name = name.slice(0, colon);
  return name;
}

function lastPart(image) {
  const repo = repository(image);
  return repo.slice(repo.lastIndexOf('/') + 1);
}

function userOf(name) {
  try {
    return { uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })) };
  } catch { return null; }
}

// DIR/node/bin: busybox's applets plus curl, the PATH of the shell images.
function shellBin(dir) {
  const bin = path.join(dir, 'node', 'bin');
  if (fs.existsSync(path.join(bin, 'sh'))) return bin;
  fs.mkdirSync(bin, { recursive: true, mode: 0o755 });
  fs.chmodSync(path.join(dir, 'node'), 0o755);
  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p));
  if (busybox) {
    for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      try { fs.symlinkSync(busybox, path.join(bin, applet)); } catch { /* exists */ }
    }
  }
  for (const tool of ['curl']) {
    const found = ['/usr/bin', '/bin', '/usr/local/bin'].map((d) => path.join(d, tool)).find((p) => fs.existsSync(p));
    if (found) { fs.rmSync(path.join(bin, tool), { force: true }); fs.symlinkSync(found, path.join(bin, tool)); }
  }
  return bin;
}

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PG_BIN = '/usr/lib/postgresql/15/bin';

const registered = [];

function registerImages(fn) {
  registered.push(fn);
}

// Resolves {argv, user, path, defaultEnv} for a container, or null when the lab cannot run the image.
function programFor(container, dir) {
  for (const fn of registered) {
    const found = fn(container, dir);
    if (found) return found;
  }
  const repo = repository(container.image);
  const last = lastPart(container.image);
  const cmd = (container.command || []).concat(container.args || []);
  const withDefault = (def) => (container.command ? cmd : def.concat(container.args || []));
  if (repo.endsWith('tenant-app')) {
    return { argv: withDefault(['node', path.join(REPO_ROOT, 'app', 'server.js')]), user: NOBODY, path: HOST_PATH,
      workingDir: path.join(REPO_ROOT, 'app') };
  }
  if (last === 'postgres') {
    return { argv: container.command ? cmd : ['/bin/sh', path.join(__dirname, 'postgres-entrypoint.sh'), ...(container.args || [])],
      user: userOf('postgres') || NOBODY, path: `${PG_BIN}:${HOST_PATH}`, tmpfs: ['/var/run/postgresql'] };
  }
  if (repo === 'busybox' || repo.endsWith('/busybox') || repo.endsWith('curlimages/curl') || last === 'alpine') {
    // curlimages/curl has ENTRYPOINT curl (args follow it); busybox and alpine only CMD sh (args replace it).
    const argv = last === 'curl' ? withDefault(['curl']) : (container.command ? cmd : (container.args || ['sh']));
    return { argv, user: NOBODY, path: `${shellBin(dir)}:${HOST_PATH}` };
  }
  if (last === 'coredns') {
    return { argv: [process.execPath, path.join(__dirname, 'dns.js')], user: { uid: 0, gid: 0 }, path: HOST_PATH,
      env: { LAB_DNS_ZONE: path.join(dir, 'node', 'dns.json') } };
  }
  return null;
}

module.exports = { programFor, registerImages, repository, REPO_ROOT, HOST_PATH, PG_BIN, userOf };
