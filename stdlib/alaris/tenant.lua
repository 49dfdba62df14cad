-- alaris.tenant: what a tenant is, as Kubernetes objects built by functions (plain Lua tables, never text
-- templates): its namespace, secrets, barman-cloud ObjectStore, CloudNativePG Cluster and ScheduledBackup, the
-- tenant app with its two Services, the NetworkPolicies that keep tenants apart, and the recovery Cluster and Backup
-- objects that backup/PITR playbooks create. It builds objects only: applying, waiting and checking belong to the
-- playbooks (k8s, cnpg) and to alaris.netpol. Names follow the seed's table (docs/modules/tenant.md).
local alaris = require "alaris"

local tenant = {}

tenant.PLUGIN = "barman-cloud.cloudnative-pg.io"
tenant.DEFAULT_IMAGE = "ghcr.io/cloudnative-pg/postgresql:15"
tenant.DEFAULT_APP_IMAGE = "registry.digitalocean.com/alaris/tenant-app:latest"
tenant.SCHEDULE = "0 0 */12 * * *" -- every 12 h; CloudNativePG's cron has a seconds field
tenant.MAX_NAME_LENGTH = 40           -- leaves room for the longest derived name (pg-T-superuser-secret) in 63

-- Namespaces a tenant may never take: Kubernetes' own, and those of the operators and the ops tooling.
tenant.RESERVED = { "kube-system", "kube-public", "kube-node-lease", "default", "cnpg-system", "cert-manager", "ops" }

local NAME_LABEL = "kubernetes.io/metadata.name"
local CLUSTER_LABEL = "cnpg.io/cluster"

local function invalid(msg)
  error(alaris.error("invalid", msg, { usage = true }), 0)
end

-- nil when `name` can be a tenant, else the one-line reason.
local function name_problem(name)
  if type(name) ~= "string" or name == "" then return "a tenant needs a name" end
  if #name > tenant.MAX_NAME_LENGTH then
    return string.format("tenant name %q is %d characters long; at most %d are allowed", name, #name,
      tenant.MAX_NAME_LENGTH)
  end
  if not name:match("^[a-z0-9][a-z0-9-]*$") or name:sub(-1) == "-" then
    return string.format("tenant name %q is not a DNS label: lowercase letters, digits and '-', starting and "
      .. "ending with a letter or digit", name)
  end
  for _, reserved in ipairs(tenant.RESERVED) do
    if name == reserved then return string.format("tenant name %q is a system namespace", name) end
  end
  if name:sub(1, 5) == "kube-" then return string.format("tenant name %q: the kube- prefix is Kubernetes' own", name) end
  return nil
end

-- true, or nil and an error value (code "invalid") whose message is one line.
function tenant.validate_name(name)
  local problem = name_problem(name)
  if problem then return nil, alaris.error("invalid", problem, { usage = true }) end
  return true
end

local function checked(name)
  local problem = name_problem(name)
  if problem then invalid(problem) end
  return name
end

-- ---- names ----

function tenant.names(t)
  checked(t)
  local pg = "pg-" .. t
  return {
    namespace = t, spaces_secret = "spaces-credentials", superuser_secret = pg .. "-superuser-secret",
    app_secret = pg .. "-app-secret", object_store = pg .. "-store", cluster = pg, rw_service = pg .. "-rw",
    scheduled_backup = pg .. "-scheduled-backup", app = t .. "-app", public_service = t .. "-public",
    internal_service = t .. "-internal",
  }
end

local function meta(t, name, extra_labels)
  local labels = { tenant = t }
  for k, v in pairs(extra_labels or {}) do labels[k] = v end
  return { name = name, namespace = t, labels = labels }
end

local function required_string(opts, key, what)
  local v = opts[key]
  if type(v) ~= "string" or v == "" then invalid(string.format("%s: %s is required", what, key)) end
  return v
end

-- ---- namespace and secrets ----

function tenant.namespace(t)
  checked(t)
  return { apiVersion = "v1", kind = "Namespace", metadata = { name = t, labels = { tenant = t } } }
end

-- Values go in stringData; those under the keys in `hidden` are registered as secrets, so nothing alaris prints shows
-- them (a user name is no secret, and masking a word as common as "app" would garble every message).
local function secret(t, name, type_, data, hidden)
  for _, key in ipairs(hidden) do alaris.secret(data[key]) end
  return { apiVersion = "v1", kind = "Secret", type = type_, metadata = meta(t, name), stringData = data }
end

function tenant.spaces_secret(t, access_key_id, secret_access_key)
  checked(t)
  if type(access_key_id) ~= "string" or type(secret_access_key) ~= "string" then
    invalid("spaces_secret: the access key id and the secret key are required")
  end
  return secret(t, "spaces-credentials", "Opaque",
    { ACCESS_KEY_ID = access_key_id, SECRET_ACCESS_KEY = secret_access_key }, { "SECRET_ACCESS_KEY" })
end

local function basic_auth(t, name, username, password)
  if type(password) ~= "string" or password == "" then invalid(name .. ": a password is required") end
  return secret(t, name, "kubernetes.io/basic-auth", { username = username, password = password }, { "password" })
end

function tenant.superuser_secret(t, password)
  return basic_auth(t, tenant.names(t).superuser_secret, "postgres", password)
end

function tenant.app_secret(t, password)
  return basic_auth(t, tenant.names(t).app_secret, "app", password)
end

-- ---- backups: ObjectStore, ScheduledBackup, Backup ----

-- The path in the bucket under which barman-cloud keeps the tenant's servers (the ObjectStore's destinationPath).
function tenant.archive_prefix(t)
  return string.format("backups/%s/%s", t, tenant.names(t).cluster)
end

-- opts: bucket, endpoint (https://nyc3.digitaloceanspaces.com), retention (default 7d).
function tenant.object_store(t, opts)
  local n = tenant.names(t)
  local bucket = required_string(opts or {}, "bucket", "object_store")
  local endpoint = required_string(opts, "endpoint", "object_store")
  local function key(k) return { name = n.spaces_secret, key = k } end
  return {
    apiVersion = "barmancloud.cnpg.io/v1", kind = "ObjectStore", metadata = meta(t, n.object_store),
    spec = {
      retentionPolicy = opts.retention or "7d",
      configuration = {
        destinationPath = string.format("s3://%s/%s", bucket, tenant.archive_prefix(t)),
        endpointURL = endpoint,
        s3Credentials = { accessKeyId = key("ACCESS_KEY_ID"), secretAccessKey = key("SECRET_ACCESS_KEY") },
        wal = { compression = "gzip" },
        data = { compression = "gzip" },
      },
    },
  }
end

function tenant.scheduled_backup(t)
  local n = tenant.names(t)
  return {
    apiVersion = "postgresql.cnpg.io/v1", kind = "ScheduledBackup", metadata = meta(t, n.scheduled_backup),
    spec = { schedule = tenant.SCHEDULE, method = "plugin", backupOwnerReference = "self",
      cluster = { name = n.cluster }, pluginConfiguration = { name = tenant.PLUGIN } },
  }
end

-- An on-demand Backup of the tenant's cluster (or opts.cluster), named opts.name (default pg-T-<UTC time>).
function tenant.backup(t, opts)
  opts = opts or {}
  local n = tenant.names(t)
  local name = opts.name or string.format("%s-%s", n.cluster, os.date("!%Y%m%d%H%M%S"))
  return {
    apiVersion = "postgresql.cnpg.io/v1", kind = "Backup", metadata = meta(t, name),
    spec = { method = "plugin", cluster = { name = opts.cluster or n.cluster },
      pluginConfiguration = { name = tenant.PLUGIN } },
  }
end

-- ---- the database ----

local function positive_integer(v, default, what)
  if v == nil then return default end
  local n = math.tointeger(tonumber(v))
  if not n or n < 1 then invalid(string.format("%s must be a positive integer, got %s", what, tostring(v))) end
  return n
end

local function archiver(store, server_name)
  return { { name = tenant.PLUGIN, isWALArchiver = true,
    parameters = { barmanObjectName = store, serverName = server_name } } }
end

local function cluster_spec(t, opts)
  local n = tenant.names(t)
  return {
    instances = positive_integer(opts.instances, 2, "instances"),
    imageName = opts.image or tenant.DEFAULT_IMAGE,
    enableSuperuserAccess = true,
    superuserSecret = { name = n.superuser_secret },
    storage = { size = opts.storage_size or "1Gi" },
  }
end

-- opts: instances (default 2), image (a PostgreSQL 15 image), storage_size (default 1Gi).
function tenant.cluster(t, opts)
  opts = opts or {}
  local n = tenant.names(t)
  local spec = cluster_spec(t, opts)
  spec.bootstrap = { initdb = { database = "app", owner = "app", secret = { name = n.app_secret } } }
  spec.plugins = archiver(n.object_store, n.cluster)
  return { apiVersion = "postgresql.cnpg.io/v1", kind = "Cluster", metadata = meta(t, n.cluster), spec = spec }
end

-- A new Cluster restored from the tenant's archive: bootstrap.recovery only (never initdb beside it), the origin
-- as an external cluster read through the plugin, and archiving under its own serverName, as CloudNativePG
-- refuses to archive into a non-empty one. opts: name (required), target_time (RFC 3339 with zone) or target_lsn
-- (for PITR), source_server_name (default pg-T), server_name (where it archives, default its name), in_place (may
-- take the tenant's own name pg-T, so the app reconnects; it then needs a server_name other than the source's),
-- instances, image, storage_size.
function tenant.recovery_cluster(t, opts)
  opts = opts or {}
  local n = tenant.names(t)
  local name = required_string(opts, "name", "recovery_cluster")
  if name == n.cluster and not opts.in_place then
    invalid("recovery_cluster: the restored cluster needs a name other than " .. n.cluster)
  end
  local source, server = opts.source_server_name or n.cluster, opts.server_name or name
  if server == source then
    invalid("recovery_cluster: the restored cluster must archive under a serverName other than its source's, " .. source)
  end
  if opts.target_time and opts.target_lsn then invalid("recovery_cluster: give target_time or target_lsn, not both") end
  local recovery = { source = "origin", database = "app", owner = "app", secret = { name = n.app_secret } }
  if opts.target_time then recovery.recoveryTarget = { targetTime = opts.target_time } end
  if opts.target_lsn then recovery.recoveryTarget = { targetLSN = opts.target_lsn } end
  local spec = cluster_spec(t, opts)
  spec.bootstrap = { recovery = recovery }
  spec.externalClusters = { { name = "origin", plugin = { name = tenant.PLUGIN,
    parameters = { barmanObjectName = n.object_store, serverName = source } } } }
  spec.plugins = archiver(n.object_store, server)
  return { apiVersion = "postgresql.cnpg.io/v1", kind = "Cluster", metadata = meta(t, name), spec = spec }
end

-- ---- the app ----

local function from_app_secret(t, key)
  return { secretKeyRef = { name = tenant.names(t).app_secret, key = key } }
end

local function app_container(t, opts)
  local n = tenant.names(t)
  local probe = { httpGet = { path = "/health", port = 8080 }, periodSeconds = 10 }
  return {
    name = "app", image = opts.app_image or tenant.DEFAULT_APP_IMAGE,
    ports = { { name = "public", containerPort = 8080, protocol = "TCP" },
      { name = "internal", containerPort = 9090, protocol = "TCP" } },
    env = {
      { name = "TENANT_NAME", value = t }, { name = "DB_HOST", value = n.rw_service },
      { name = "DB_PORT", value = "5432" }, { name = "DB_NAME", value = "app" },
      { name = "DB_USER", valueFrom = from_app_secret(t, "username") },
      { name = "DB_PASSWORD", valueFrom = from_app_secret(t, "password") },
    },
    readinessProbe = probe, livenessProbe = probe,
  }
end

-- opts: app_image, replicas (default 2).
function tenant.deployment(t, opts)
  opts = opts or {}
  local n = tenant.names(t)
  local labels = { app = n.app, tenant = t }
  return {
    apiVersion = "apps/v1", kind = "Deployment", metadata = meta(t, n.app, { app = n.app }),
    spec = {
      replicas = positive_integer(opts.replicas, 2, "replicas"),
      selector = { matchLabels = { app = n.app } },
      template = { metadata = { labels = labels }, spec = { containers = { app_container(t, opts) } } },
    },
  }
end

local function service(t, name, type_, port, target)
  local n = tenant.names(t)
  return {
    apiVersion = "v1", kind = "Service", metadata = meta(t, name),
    spec = { type = type_, selector = { app = n.app },
      ports = { { name = target.name, port = port, targetPort = target.port, protocol = "TCP" } } },
  }
end

function tenant.public_service(t)
  return service(t, tenant.names(t).public_service, "LoadBalancer", 80, { name = "public", port = 8080 })
end

function tenant.internal_service(t)
  return service(t, tenant.names(t).internal_service, "ClusterIP", 9090, { name = "internal", port = 9090 })
end

-- ---- NetworkPolicies ----

local function in_namespace(name, pod_labels)
  return { namespaceSelector = { matchLabels = { [NAME_LABEL] = name } }, podSelector = { matchLabels = pod_labels } }
end

local function tcp(...)
  local ports = {}
  for i, p in ipairs { ... } do ports[i] = { protocol = "TCP", port = p } end
  return ports
end

local function ip_peer(endpoint, what)
  if type(endpoint) ~= "table" or type(endpoint.ip) ~= "string" or not math.tointeger(endpoint.port) then
    invalid(string.format("network_policies: %s must be {ip = ..., port = ...}", what))
  end
  return { to = { { ipBlock = { cidr = endpoint.ip .. "/32" } } }, ports = tcp(endpoint.port) }
end

local function policy(t, name, spec)
  return { apiVersion = "networking.k8s.io/v1", kind = "NetworkPolicy", metadata = meta(t, name), spec = spec }
end

local function select(labels) return { matchLabels = labels } end

-- opts: object_storage = {ip, port} and api_server = {ip, port} (required: the database's only ways out),
-- operator = {namespace, labels} (default cnpg-system, app.kubernetes.io/name=cloudnative-pg),
-- ops = {namespace, labels} (default ops, app=psql-client), dns = {namespace, labels} (kube-system, k8s-app=kube-dns).
function tenant.network_policies(t, opts)
  opts = opts or {}
  local n = tenant.names(t)
  local operator = opts.operator or { namespace = "cnpg-system", labels = { ["app.kubernetes.io/name"] = "cloudnative-pg" } }
  local ops = opts.ops or { namespace = "ops", labels = { app = "psql-client" } }
  local dns = opts.dns or { namespace = "kube-system", labels = { ["k8s-app"] = "kube-dns" } }
  local app, db = { app = n.app }, { [CLUSTER_LABEL] = n.cluster }
  local not_db = { matchExpressions = { { key = CLUSTER_LABEL, operator = "DoesNotExist" } } }
  return {
    policy(t, "default-deny", { podSelector = {}, policyTypes = { "Ingress", "Egress" } }),
    policy(t, "allow-dns-egress", { podSelector = {}, policyTypes = { "Egress" }, egress = { {
      to = { in_namespace(dns.namespace, dns.labels) },
      ports = { { protocol = "UDP", port = 53 }, { protocol = "TCP", port = 53 } } } } }),
    policy(t, "app-ingress", { podSelector = select(app), policyTypes = { "Ingress" }, ingress = {
      { ports = tcp(8080) },
      { from = { { podSelector = {} } }, ports = tcp(9090) } } }),
    policy(t, "clients-to-app-egress", { podSelector = not_db, policyTypes = { "Egress" }, egress = {
      { to = { { podSelector = select(app) } }, ports = tcp(8080, 9090) } } }),
    policy(t, "app-to-db-egress", { podSelector = select(app), policyTypes = { "Egress" }, egress = {
      { to = { { podSelector = select(db) } }, ports = tcp(5432) } } }),
    policy(t, "db-ingress", { podSelector = select(db), policyTypes = { "Ingress" }, ingress = {
      { from = { { podSelector = select(app) }, { podSelector = select(db) },
        in_namespace(ops.namespace, ops.labels) }, ports = tcp(5432) },
      { from = { in_namespace(operator.namespace, operator.labels) }, ports = tcp(5432, 8000) } } }),
    policy(t, "db-egress", { podSelector = select(db), policyTypes = { "Egress" }, egress = {
      { to = { { podSelector = select(db) } }, ports = tcp(5432) },
      ip_peer(opts.object_storage, "object_storage"),
      ip_peer(opts.api_server, "api_server") } }),
  }
end

-- The port an endpoint URL connects to: explicit, else 443 for https and 80 for http.
function tenant.endpoint_port(url)
  local scheme, rest = tostring(url):match("^(%a+)://([^/]+)")
  if not scheme then invalid(string.format("endpoint %q is not a URL", tostring(url))) end
  local port = rest:match(":(%d+)$")
  if port then return math.tointeger(tonumber(port)) end
  return scheme == "https" and 443 or 80
end

-- ---- everything ----

-- All of a tenant's objects, in the order to apply them. opts: the builders' options together, plus
-- spaces = {access_key_id, secret_access_key}, superuser_password, app_password.
function tenant.manifests(t, opts)
  opts = opts or {}
  local spaces = opts.spaces or {}
  return {
    tenant.namespace(t),
    tenant.spaces_secret(t, spaces.access_key_id, spaces.secret_access_key),
    tenant.superuser_secret(t, opts.superuser_password),
    tenant.app_secret(t, opts.app_password),
    tenant.object_store(t, opts),
    tenant.cluster(t, opts),
    tenant.scheduled_backup(t),
    tenant.deployment(t, opts),
    tenant.public_service(t),
    tenant.internal_service(t),
    table.unpack(tenant.network_policies(t, opts)),
  }
end

return tenant
