// Spaces access keys of the emulated DO API (/v2/spaces/keys), stored in the lab's shared key store
// (lab/lib/s3/keys.js), which the S3 front checks signatures and grants against. The secret is
// returned only by create. The lab's own root key is not a DO key and is invisible here.
'use strict';
const { ApiError, notFound } = require('./respond');
const { paginate } = require('./pagination');

const PERMISSIONS = ['read', 'readwrite', 'fullaccess'];

function checkGrants(grants) {
  for (const grant of grants) {
    if (!PERMISSIONS.includes(grant.permission)) {
      throw new ApiError(400, `invalid permission "${grant.permission}": must be one of ${PERMISSIONS.join(', ')}`);
    }
  }
  const full = grants.some((g) => g.permission === 'fullaccess');
  if (full && grants.some((g) => g.permission !== 'fullaccess')) {
    throw new ApiError(400, 'cannot mix fullaccess permission with scoped permissions.');
  }
}

function requireName(name) {
  if (typeof name !== 'string' || name.trim() === '') throw new ApiError(422, 'name is required');
}

function isFullAccess(grants) {
  return grants.some((g) => g.permission === 'fullaccess');
}

function keyView(key) {
  return {
    name: key.name,
    access_key: key.access_key,
    grants: (key.grants || []).map(({ bucket, permission }) => ({ bucket, permission })),
    created_at: key.created_at,
  };
}

class SpacesKeys {
  constructor(keys) {
    this.keys = keys;
  }

  store() {
    if (!this.keys) throw new ApiError(503, 'the lab has no Spaces key store');
    return this.keys;
  }

  async find(accessKey) {
    const key = await this.store().get(accessKey);
    if (!key || key.root) throw notFound();
    return key;
  }

  async create(body) {
    requireName(body.name);
    const grants = body.grants || [];
    checkGrants(grants);
    const key = await this.store().create({ name: body.name, grants });
    return { status: 201, body: { key: { ...keyView(key), secret_key: key.secret_key } } };
  }

  async list(ctx) {
    const q = ctx.query;
    const all = (await this.store().list()).filter((k) => !k.root).map(keyView);
    const filtered = all.filter((k) => (!q.get('name') || k.name === q.get('name'))
      && (!q.get('bucket') || k.grants.some((g) => g.bucket === q.get('bucket')))
      && (!q.get('permission') || k.grants.some((g) => g.permission === q.get('permission'))));
    sortKeys(filtered, q.get('sort') || 'created_at', q.get('sort_direction') || 'desc');
    return { status: 200, body: paginate(filtered, 'keys', ctx) };
  }

  async update(accessKey, body) {
    const key = await this.find(accessKey);
    if (body.name !== undefined) requireName(body.name);
    const grants = body.grants === undefined ? key.grants : body.grants;
    checkGrants(grants);
    if (isFullAccess(grants) !== isFullAccess(key.grants || [])) {
      throw new ApiError(400, 'cannot convert a fullaccess key to a scoped key or vice versa');
    }
    const name = body.name === undefined ? key.name : body.name;
    const updated = await this.store().update(accessKey, { name, grants });
    return { status: 200, body: { key: keyView(updated || { ...key, name, grants }) } };
  }

  async remove(accessKey) {
    await this.find(accessKey);
    await this.store().delete(accessKey);
    return { status: 204 };
  }
}

// Stable sort on name or created_at; equal timestamps keep creation order (oldest first when
// ascending), so paging through a list never repeats or skips a key.
function sortKeys(keys, field, direction) {
  const column = field === 'name' ? 'name' : 'created_at';
  const sign = direction === 'asc' ? 1 : -1;
  const indexed = keys.map((k, i) => [k, i]);
  indexed.sort(([a, ia], [b, ib]) => {
    const cmp = String(a[column]).localeCompare(String(b[column]));
    return cmp !== 0 ? sign * cmp : sign * (ia - ib);
  });
  indexed.forEach(([k], i) => { keys[i] = k; });
}

function routes({ keys }) {
  const spaces = new SpacesKeys(keys);
  return [
    { method: 'POST', path: '/v2/spaces/keys', handler: (ctx) => spaces.create(ctx.body) },
    { method: 'GET', path: '/v2/spaces/keys', handler: (ctx) => spaces.list(ctx) },
    { method: 'GET', path: '/v2/spaces/keys/{access_key}',
      handler: async (ctx) => ({ status: 200, body: { key: keyView(await spaces.find(ctx.params.access_key)) } }) },
    { method: 'PUT', path: '/v2/spaces/keys/{access_key}', handler: (ctx) => spaces.update(ctx.params.access_key, ctx.body) },
    { method: 'PATCH', path: '/v2/spaces/keys/{access_key}', handler: (ctx) => spaces.update(ctx.params.access_key, ctx.body) },
    { method: 'DELETE', path: '/v2/spaces/keys/{access_key}', handler: (ctx) => spaces.remove(ctx.params.access_key) },
  ];
}

module.exports = { routes, PERMISSIONS };
