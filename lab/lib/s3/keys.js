'use strict';
// Spaces access keys of the lab: who may sign S3 requests, and on which buckets.
//
// Keys are kept in DIR/spaces-keys.json (mode 0600; it holds secrets) and re-read when that file changes, so
// every server of the lab sees the same keys. A key has per-bucket grants as DigitalOcean's spaces keys API
// describes them: `read` (GET/HEAD/list), `readwrite` (adds PUT/DELETE/multipart), `fullaccess` (adds bucket
// create/delete); a grant with an empty bucket name applies to every bucket. A root key may do everything.
// It does not verify signatures (see sigv4.js) nor talk HTTP.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const PERMISSIONS = ['read', 'readwrite', 'fullaccess'];
// Which permissions allow an action.
const ACTION_NEEDS = {
  read: ['read', 'readwrite', 'fullaccess'],
  write: ['readwrite', 'fullaccess'],
  admin: ['fullaccess'],
};
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomAccessKey() {
  // DigitalOcean's access keys look like DO00 followed by 16 upper-case letters/digits.
  const bytes = crypto.randomBytes(16);
  let s = 'DO00';
  for (const b of bytes) s += ACCESS_KEY_ALPHABET[b % ACCESS_KEY_ALPHABET.length];
  return s;
}

function randomSecretKey() {
  return crypto.randomBytes(32).toString('base64').replace(/=+$/, '');
}

function checkGrants(grants) {
  if (!Array.isArray(grants)) throw new Error('grants must be an array');
  return grants.map((g) => {
    if (!g || typeof g.bucket !== 'string') throw new Error('each grant needs a bucket (string)');
    if (!PERMISSIONS.includes(g.permission) && g.permission !== '') {
      throw new Error(`permission must be one of ${PERMISSIONS.join(', ')}`);
    }
    return { bucket: g.bucket, permission: g.permission };
  });
}

class KeyStore {
  constructor(dir) {
    this.file = path.join(dir, 'spaces-keys.json');
    this.keys = new Map();
    this.loadedStamp = null;
    fs.mkdirSync(dir, { recursive: true });
    this.reloadIfChanged();
  }

  reloadIfChanged() {
    let stat;
    try { stat = fs.statSync(this.file); } catch { return; }
    const stamp = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
    if (stamp === this.loadedStamp) return;
    const list = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    this.keys = new Map(list.map((k) => [k.access_key, k]));
    this.loadedStamp = stamp;
  }

  save() {
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify([...this.keys.values()], null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    const stat = fs.statSync(this.file);
    this.loadedStamp = `${stat.ino}:${stat.mtimeMs}:${stat.size}`;
  }

  create({ name, grants = [], root = false } = {}) {
    if (typeof name !== 'string' || name === '') throw new Error('a key needs a name');
    this.reloadIfChanged();
    const key = {
      name,
      access_key: randomAccessKey(),
      secret_key: randomSecretKey(),
      grants: checkGrants(grants),
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    if (root) key.root = true;
    this.keys.set(key.access_key, key);
    this.save();
    return { ...key, grants: key.grants.map((g) => ({ ...g })) };
  }

  // The full record, secret included (the S3 front needs it); null when unknown.
  get(accessKey) {
    this.reloadIfChanged();
    const key = this.keys.get(accessKey);
    return key ? { ...key, grants: key.grants.map((g) => ({ ...g })) } : null;
  }

  // Every key without its secret (as DigitalOcean lists them).
  list() {
    this.reloadIfChanged();
    return [...this.keys.values()].map(({ secret_key, ...rest }) => ({ ...rest, grants: rest.grants.map((g) => ({ ...g })) }));
  }

  update(accessKey, { name, grants } = {}) {
    this.reloadIfChanged();
    const key = this.keys.get(accessKey);
    if (!key) return null;
    if (name !== undefined) {
      if (typeof name !== 'string' || name === '') throw new Error('a key needs a name');
      key.name = name;
    }
    if (grants !== undefined) key.grants = checkGrants(grants);
    this.save();
    const { secret_key, ...rest } = key;
    return { ...rest, grants: rest.grants.map((g) => ({ ...g })) };
  }

  delete(accessKey) {
    this.reloadIfChanged();
    const existed = this.keys.delete(accessKey);
    if (existed) this.save();
    return existed;
  }

  // May this key do `action` ('read'|'write'|'admin') on `bucket`? An empty bucket is ListBuckets: any key may.
  allowed(accessKey, bucket, action) {
    const key = this.get(accessKey);
    if (!key) return false;
    if (key.root) return true;
    if (!bucket) return action === 'read';
    const accepted = ACTION_NEEDS[action];
    if (!accepted) return false;
    return key.grants.some((g) => (g.bucket === bucket || g.bucket === '') && accepted.includes(g.permission));
  }
}

module.exports = { KeyStore, PERMISSIONS };
