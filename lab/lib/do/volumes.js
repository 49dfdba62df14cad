// Block storage volumes of the emulated DO API: create, list (filter by name/region, paginated),
// get, delete (by id, or by name and region). Volumes are records only; nothing is attached or
// formatted, and volume actions and snapshots are not served.
'use strict';
const crypto = require('crypto');
const { ApiError, notFound, isoNow } = require('./respond');
const { paginate } = require('./pagination');
const { regionObject, requireRegion } = require('./catalog');

const VOLUME_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const FILESYSTEMS = ['ext4', 'xfs'];
const MAX_SIZE_GIB = 16384;

function checkVolumeBody(body) {
  if (!VOLUME_NAME.test(body.name)) {
    throw new ApiError(422, 'name must be lowercase, begin with a letter, and contain only letters, numbers and "-", up to 64 characters');
  }
  requireRegion(body.region);
  if (body.size_gigabytes < 1 || body.size_gigabytes > MAX_SIZE_GIB) {
    throw new ApiError(422, `size_gigabytes must be between 1 and ${MAX_SIZE_GIB}`);
  }
  if (body.filesystem_type !== undefined && !FILESYSTEMS.includes(body.filesystem_type)) {
    throw new ApiError(422, `filesystem_type must be one of: ${FILESYSTEMS.join(', ')}`);
  }
}

function volumeView(volume) {
  return {
    id: volume.id,
    region: regionObject(volume.region),
    droplet_ids: [],
    name: volume.name,
    description: volume.description,
    size_gigabytes: volume.size_gigabytes,
    created_at: volume.created_at,
    filesystem_type: volume.filesystem_type,
    filesystem_label: volume.filesystem_label,
    tags: volume.tags,
  };
}

function createVolume({ state, projects }, body) {
  checkVolumeBody(body);
  if (state.volumes.find((v) => v.name === body.name && v.region === body.region)) {
    throw new ApiError(409, `a volume named ${body.name} already exists in ${body.region}`);
  }
  const volume = {
    id: crypto.randomUUID(),
    name: body.name,
    region: body.region,
    description: body.description || '',
    size_gigabytes: body.size_gigabytes,
    filesystem_type: body.filesystem_type || '',
    filesystem_label: body.filesystem_label || '',
    tags: body.tags || [],
    created_at: isoNow(),
  };
  state.volumes.put(volume);
  projects.assignToDefault(`do:volume:${volume.id}`);
  state.changed();
  return { status: 201, body: { volume: volumeView(volume) } };
}

function matchingVolumes(state, query) {
  const name = query.get('name');
  const region = query.get('region');
  return state.volumes.all().filter((v) => (!name || v.name === name) && (!region || v.region === region));
}

function removeVolume({ state, projects }, volume) {
  state.volumes.delete(volume.id);
  projects.unassign(`do:volume:${volume.id}`);
  state.changed();
  return { status: 204 };
}

function deleteByName(deps, query) {
  const name = query.get('name');
  const region = query.get('region');
  if (!name || !region) throw new ApiError(400, 'name and region are required to delete a volume by name');
  const volume = matchingVolumes(deps.state, query)[0];
  if (!volume) throw notFound();
  return removeVolume(deps, volume);
}

function routes(deps) {
  const { state } = deps;
  const byId = (id) => {
    const volume = state.volumes.get(id);
    if (!volume) throw notFound();
    return volume;
  };
  return [
    { method: 'POST', path: '/v2/volumes', handler: (ctx) => createVolume(deps, ctx.body) },
    { method: 'GET', path: '/v2/volumes',
      handler: (ctx) => ({ status: 200, body: paginate(matchingVolumes(state, ctx.query).map(volumeView), 'volumes', ctx) }) },
    { method: 'DELETE', path: '/v2/volumes', handler: (ctx) => deleteByName(deps, ctx.query) },
    { method: 'GET', path: '/v2/volumes/{volume_id}',
      handler: (ctx) => ({ status: 200, body: { volume: volumeView(byId(ctx.params.volume_id)) } }) },
    { method: 'DELETE', path: '/v2/volumes/{volume_id}', handler: (ctx) => removeVolume(deps, byId(ctx.params.volume_id)) },
  ];
}

module.exports = { routes, volumeView };
