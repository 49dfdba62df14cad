'use strict';
// The app's configuration, read from the environment and only from there (the variables are listed in
// ../README.md). Each value is checked here, before anything listens: a missing or malformed variable is a
// ConfigError naming it. The database password is never quoted back in a message.

const net = require('net');

class ConfigError extends Error {
  constructor(variable, problem) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

// A tenant is a Kubernetes namespace: a DNS-1123 label.
const TENANT_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SSL_MODES = ['disable', 'prefer', 'require'];
// PostgreSQL truncates identifiers to 63 bytes; a longer name would silently connect somewhere else.
const MAX_IDENTIFIER_BYTES = 63;

function text(env, name, fallback) {
  const value = env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) throw new ConfigError(name, 'is required');
    return fallback;
  }
  return value;
}

function integer(env, name, fallback, min, max, what) {
  const value = text(env, name, String(fallback));
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) throw new ConfigError(name, `must be ${what}, got ${JSON.stringify(value)}`);
  return n;
}

const port = (env, name, fallback) => integer(env, name, fallback, 1, 65535, 'a port number (1-65535)');

function identifier(env, name) {
  const value = text(env, name);
  if (Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES) {
    throw new ConfigError(name, `must be at most ${MAX_IDENTIFIER_BYTES} bytes long, got ${JSON.stringify(value)}`);
  }
  return value;
}

function tenantName(env) {
  const value = text(env, 'TENANT_NAME');
  if (!TENANT_NAME.test(value)) {
    throw new ConfigError('TENANT_NAME', `must be a DNS label (a-z, 0-9, '-', at most 63), got ${JSON.stringify(value)}`);
  }
  return value;
}

function address(env) {
  const value = text(env, 'POD_IP', '0.0.0.0');
  if (!net.isIP(value)) throw new ConfigError('POD_IP', `must be an IPv4 or IPv6 address, got ${JSON.stringify(value)}`);
  return value;
}

function hostName(env) {
  const value = text(env, 'DB_HOST');
  if (/[\s/]/.test(value)) throw new ConfigError('DB_HOST', `must be a host name or address, got ${JSON.stringify(value)}`);
  return value;
}

function sslMode(env) {
  const value = text(env, 'DB_SSLMODE', 'prefer');
  if (!SSL_MODES.includes(value)) {
    throw new ConfigError('DB_SSLMODE', `must be one of ${SSL_MODES.join('|')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

// Returns the configuration, or throws a ConfigError for the first variable that is missing or malformed.
function loadConfig(env) {
  const config = {
    tenant: tenantName(env),
    address: address(env),
    publicPort: port(env, 'PUBLIC_PORT', 8080),
    internalPort: port(env, 'INTERNAL_PORT', 9090),
    db: {
      host: hostName(env),
      port: port(env, 'DB_PORT', 5432),
      name: identifier(env, 'DB_NAME'),
      user: identifier(env, 'DB_USER'),
      password: text(env, 'DB_PASSWORD'),
      sslMode: sslMode(env),
      timeoutMs: integer(env, 'DB_TIMEOUT_MS', 2000, 1, 600000, 'a number of milliseconds (1-600000)'),
    },
  };
  if (config.internalPort === config.publicPort) {
    throw new ConfigError('INTERNAL_PORT', `must differ from PUBLIC_PORT (both are ${config.publicPort})`);
  }
  return config;
}

module.exports = { loadConfig, ConfigError };
