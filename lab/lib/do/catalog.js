// The fixed catalogue the emulated DO account offers: regions, Droplet/node sizes, DOKS versions
// and container registry tiers, in the shapes DO's API returns them. Values are modelled on DO's
// public offering; they are not fetched from anywhere.
'use strict';
const { ApiError } = require('./respond');

const REGIONS = [
  ['nyc1', 'New York 1'], ['nyc3', 'New York 3'], ['sfo3', 'San Francisco 3'], ['ams3', 'Amsterdam 3'],
  ['sgp1', 'Singapore 1'], ['lon1', 'London 1'], ['fra1', 'Frankfurt 1'], ['tor1', 'Toronto 1'],
  ['blr1', 'Bangalore 1'], ['syd1', 'Sydney 1'], ['atl1', 'Atlanta 1'],
].map(([slug, name]) => ({ slug, name }));

const NODE_SIZES = [
  's-1vcpu-2gb', 's-2vcpu-2gb', 's-2vcpu-4gb', 's-4vcpu-8gb', 's-8vcpu-16gb',
  'c-2', 'c-4', 'g-2vcpu-8gb', 'g-4vcpu-16gb', 'm-2vcpu-16gb',
].map((slug) => ({ slug, name: slug }));

const DROPLET_SIZES = ['s-1vcpu-1gb', ...NODE_SIZES.map((s) => s.slug)];

const REGION_FEATURES = ['backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer'];

// Newest first: "latest" resolves to the first entry.
const KUBERNETES_VERSIONS = [
  { slug: '1.33.1-do.3', kubernetes_version: '1.33.1' },
  { slug: '1.32.5-do.3', kubernetes_version: '1.32.5' },
  { slug: '1.31.9-do.3', kubernetes_version: '1.31.9' },
].map((v) => ({ ...v, supported_features: ['cluster-autoscaler', 'docr-integration', 'ha-control-plane', 'token-authentication'] }));

const GIB = 1024 ** 3;
const REGISTRY_TIERS = {
  starter: { name: 'Starter', slug: 'starter', included_repositories: 1, included_storage_bytes: 524288000, allow_storage_overage: false, included_bandwidth_bytes: 524288000, monthly_price_in_cents: 0, storage_overage_price_in_cents: 0 },
  basic: { name: 'Basic', slug: 'basic', included_repositories: 5, included_storage_bytes: 5 * GIB, allow_storage_overage: true, included_bandwidth_bytes: 5 * GIB, monthly_price_in_cents: 500, storage_overage_price_in_cents: 2 },
  professional: { name: 'Professional', slug: 'professional', included_repositories: 0, included_storage_bytes: 100 * GIB, allow_storage_overage: true, included_bandwidth_bytes: 100 * GIB, monthly_price_in_cents: 2000, storage_overage_price_in_cents: 2 },
};

function regionObject(slug) {
  const region = REGIONS.find((r) => r.slug === slug);
  return region && { name: region.name, slug: region.slug, sizes: DROPLET_SIZES, features: REGION_FEATURES, available: true };
}

function requireRegion(slug) {
  if (!REGIONS.some((r) => r.slug === slug)) throw new ApiError(422, `invalid region: ${slug}`);
  return slug;
}

function requireNodeSize(slug, field) {
  if (!NODE_SIZES.some((s) => s.slug === slug)) throw new ApiError(422, `${field}: invalid size ${slug}`);
  return slug;
}

// "latest", an exact slug, or a minor version ("1.32") resolve to a slug; anything else is refused.
function resolveKubernetesVersion(requested) {
  if (requested === 'latest') return KUBERNETES_VERSIONS[0].slug;
  const exact = KUBERNETES_VERSIONS.find((v) => v.slug === requested);
  if (exact) return exact.slug;
  const minor = KUBERNETES_VERSIONS.find((v) => v.kubernetes_version.startsWith(`${requested}.`));
  if (minor && /^\d+\.\d+$/.test(requested)) return minor.slug;
  throw new ApiError(422, `invalid version slug: ${requested}`);
}

function kubernetesOptions() {
  return { options: { regions: REGIONS, versions: KUBERNETES_VERSIONS, sizes: NODE_SIZES } };
}

module.exports = {
  REGIONS, NODE_SIZES, KUBERNETES_VERSIONS, REGISTRY_TIERS,
  regionObject, requireRegion, requireNodeSize, resolveKubernetesVersion, kubernetesOptions,
};
