'use strict';
// Starting one container process: a shell script (written under the pod's directory) run inside the pod's
// network namespace and a new mount + UTS namespace sets the hostname, bind-mounts resolv.conf, hosts and the
// pod's volumes at their mountPath (a missing mount point is made on a tmpfs laid over its nearest existing
// parent, whose entries are bound back, so nothing is created on the host), then execs the program as the
// container's user (setpriv) in its working directory. The container's environment is passed as the
// environment, never in argv. The mounts live only as long as the container's mount namespace.
// It does not decide what to run (images.js) or watch the process (runtime.js).

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

// Shell functions of the script. ensure_dir makes a mount point without touching the host's file system: the
// nearest existing parent gets a tmpfs whose entries are bound back to the originals; when that parent is `/`
// the tmpfs becomes the container's root (ROOT, entered with chroot at the end).
const PRELUDE = `set -eu
ROOT=
overlay_dir() {
  /usr/bin/mount -t tmpfs -o mode=755 tmpfs "$2"
  for e in "$1"/* "$1"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=$(basename "$e")
    if [ -L "$e" ]; then cp -P "$e" "$2/$n"
    elif [ -d "$e" ]; then mkdir "$2/$n"; /usr/bin/mount --rbind "$e" "$2/$n"
    else : > "$2/$n"; /usr/bin/mount --bind "$e" "$2/$n"; fi
  done
}
ensure_dir() {
  [ -e "$ROOT$1" ] && return 0
  anc=$(dirname "$1")
  while [ ! -d "$ROOT$anc" ]; do anc=$(dirname "$anc"); done
  mkdir -p "$2"
  if [ "$anc" = / ] && [ -z "$ROOT" ]; then overlay_dir / "$2"; ROOT="$2"
  elif [ "$anc" != / ]; then overlay_dir "$ROOT$anc" "$2"; /usr/bin/mount --move "$2" "$ROOT$anc"; fi
  mkdir -p "$ROOT$1"
}
bind() {
  ensure_dir "$2" "$4"
  /usr/bin/mount --bind "$1" "$ROOT$2"
  [ "$3" = ro ] && /usr/bin/mount -o remount,bind,ro "$ROOT$2"
  return 0
}
`;

// The script text for a container; `mounts` are {source, target, readOnly} or {tmpfs: target}.
function scriptText({ hostname, mounts, workingDir, user, stageDir }) {
  const lines = [PRELUDE, `/usr/bin/hostname ${q(hostname)}`];
  mounts.forEach((m, i) => {
    const stage = path.join(stageDir, `m${i}`);
    if (m.tmpfs) lines.push(`ensure_dir ${q(m.tmpfs)} ${q(stage)}`, `/usr/bin/mount -t tmpfs -o mode=1777 tmpfs "$ROOT"${q(m.tmpfs)}`);
    else lines.push(`bind ${q(m.source)} ${q(m.target)} ${m.readOnly ? 'ro' : 'rw'} ${q(stage)}`);
  });
  const setpriv = `/usr/bin/setpriv --reuid=${user.uid} --regid=${user.gid} --clear-groups --`;
  lines.push(`[ -z "$ROOT" ] && cd ${q(workingDir || '/')} && exec ${setpriv} "$@"`);
  lines.push(`exec /usr/sbin/chroot "$ROOT" ${setpriv} /bin/sh -c 'cd "$0" && exec "$@"' ${q(workingDir || '/')} "$@"`);
  return lines.join('\n') + '\n';
}

// Spawns the container; returns the ChildProcess (its own process group, pid = the program's pid).
function startContainer({ netns, script, argv, env, stdin }) {
  return spawn('/usr/bin/nsenter', [`--net=/run/netns/${netns}`, '--', '/usr/bin/unshare', '--mount', '--uts',
    '--propagation', 'private', '--', '/bin/sh', script, ...argv], {
    env, detached: true, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
}

// Runs argv inside a running container's namespaces (network, mount, UTS) as its user, with its environment.
function execIn({ pid, user, env, workingDir, argv, stdin = true }) {
  return spawn('/usr/bin/nsenter', ['-t', String(pid), '-n', '-m', '-u', '-r', `--wd=${workingDir || '/'}`, '--',
    '/usr/bin/setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...argv], {
    env, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
}

function writeScript(file, text) {
  fs.writeFileSync(file, text, { mode: 0o700 });
}

module.exports = { scriptText, startContainer, execIn, writeScript };
