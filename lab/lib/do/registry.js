// The container registry of the emulated DO account (the single-registry /v2/registry API): create,
// get, delete, and docker-credentials (a Docker config.json whose auth for registry.digitalocean.com
// is base64("TOKEN:TOKEN") with the lab's API token). There is no image store behind it.
'use strict';
const { ApiError, notFound, isoNow } = require('./respond');
const { REGISTRY_TIERS } = require('./catalog');

const REGISTRY_HOST = 'registry.digitalocean.com';
const DEFAULT_REGION = 'nyc3';

function registryView(registry) {
  return {
    name: registry.name,
    created_at: registry.created_at,
    region: registry.region,
    storage_usage_bytes: 0,
    storage_usage_bytes_updated_at: registry.created_at,
    subscription: {
      tier: REGISTRY_TIERS[registry.tier],
      created_at: registry.created_at,
      updated_at: registry.created_at,
    },
  };
}

function existing(state) {
  if (!state.registry) throw notFound('registry not found');
  return state.registry;
}

function createRegistry(state, body) {
  if (state.registry) throw new ApiError(409, 'a registry already exists for this account');
  state.registry = {
    name: body.name,
    region: body.region || DEFAULT_REGION,
    tier: body.subscription_tier_slug,
    created_at: isoNow(),
  };
  state.changed();
  return { status: 201, body: { registry: registryView(state.registry) } };
}

function deleteRegistry(state) {
  existing(state);
  state.registry = null;
  state.changed();
  return { status: 204 };
}

function dockerCredentials(state, token) {
  existing(state);
  const auth = Buffer.from(`${token}:${token}`).toString('base64');
  return { status: 200, body: { auths: { [REGISTRY_HOST]: { auth } } } };
}

function routes({ state, token }) {
  return [
    { method: 'POST', path: '/v2/registry', handler: (ctx) => createRegistry(state, ctx.body) },
    { method: 'GET', path: '/v2/registry', handler: () => ({ status: 200, body: { registry: registryView(existing(state)) } }) },
    { method: 'DELETE', path: '/v2/registry', handler: () => deleteRegistry(state) },
    { method: 'GET', path: '/v2/registry/docker-credentials', handler: () => dockerCredentials(state, token) },
  ];
}

module.exports = { routes, REGISTRY_HOST };
