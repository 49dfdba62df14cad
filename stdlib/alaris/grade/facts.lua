-- alaris.grade.facts: what grade's checks read about a tenant, fetched once per run and shared between concurrent
-- checks: its namespace and Cluster (a missing one raises, so the check is an ERROR, never a pass), its load
-- balancer address, the pod behind pg-T-rw, SQL sessions through a port-forward, and where its WAL and base
-- backups are in the bucket (from the live ObjectStore and Cluster, not from naming conventions). It judges nothing.
local alaris = require "alaris"
local backup = require "alaris.backup"
local cnpg = require "alaris.cnpg"
local crypto = require "alaris.crypto"
local pg = require "alaris.pg"
local s3 = require "alaris.s3"
local tenant = require "alaris.tenant"

local facts = {}

local CNPG = "postgresql.cnpg.io/v1"

-- Raises an error that makes the check an ERROR: it could not look at what it grades.
function facts.cannot(fmt, ...)
  error(alaris.error("cannot_check", string.format(fmt, ...)), 0)
end
local cannot = facts.cannot

-- fn's results, computed once per env and key; concurrent callers wait for the first one. An error is shared too.
function facts.once(env, key, fn)
  env.cache = env.cache or {}
  local entry = env.cache[key]
  if not entry then
    entry = { waiters = {} }
    env.cache[key] = entry
    entry.ok, entry.a, entry.b = pcall(fn)
    entry.done = true
    for _, n in ipairs(entry.waiters) do n:notify() end
  end
  while not entry.done do
    local n = alaris.notifier()
    entry.waiters[#entry.waiters + 1] = n
    n:wait()
  end
  if not entry.ok then error(entry.a, 0) end
  return entry.a, entry.b
end

-- fn's results; the time it took is recorded in env.waits as {what, from, to} (alaris.now()): time spent waiting on
-- the cluster (probe pods, the operator, barman), which bench/grade.lua tells apart from grade's own.
function facts.timed(env, what, fn, ...)
  local from = alaris.now()
  local results = table.pack(pcall(fn, ...))
  env.waits = env.waits or {}
  env.waits[#env.waits + 1] = { what = what, from = from, to = alaris.now() }
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

local function must_get(env, what, api, kind, name, namespace)
  local obj, err = env.kc:get(api, kind, name, namespace)
  if obj then return obj end
  if err and err.code == "not_found" then cannot("%s %s/%s does not exist", what, namespace, name) end
  cannot("cannot read %s %s/%s: %s", what, namespace, name, tostring(err))
end

-- The tenant's Namespace and Cluster; raises when the tenant does not exist.
function facts.tenant(env, t)
  return facts.once(env, "tenant/" .. t, function()
    local ns, err = env.kc:get("v1", "Namespace", t)
    if not ns then
      if err and err.code == "not_found" then cannot("tenant %s does not exist: no namespace %s", t, t) end
      cannot("cannot read namespace %s: %s", t, tostring(err))
    end
    local n = tenant.names(t)
    return { namespace = ns, names = n, cluster = must_get(env, "Cluster", CNPG, "Cluster", n.cluster, t) }
  end)
end

-- The public Service's load balancer address and port; raises when it has none.
function facts.load_balancer(env, t)
  facts.tenant(env, t)
  local name = tenant.names(t).public_service
  local svc = must_get(env, "Service", "v1", "Service", name, t)
  if svc.spec.type ~= "LoadBalancer" then
    cannot("Service %s/%s has no load balancer address: its type is %s", t, name, tostring(svc.spec.type))
  end
  local ingress = svc.status and svc.status.loadBalancer and svc.status.loadBalancer.ingress
  local address = ingress and ingress[1] and (ingress[1].ip or ingress[1].hostname)
  if not address then cannot("Service %s/%s has no load balancer address (type %s)", t, name, tostring(svc.spec.type)) end
  return address, svc
end

-- The ready pods behind a Service, from its Endpoints.
function facts.endpoint_pods(env, namespace, service)
  local ep = env.kc:get("v1", "Endpoints", service, namespace)
  local pods = {}
  for _, subset in ipairs(ep and ep.subsets or {}) do
    for _, a in ipairs(subset.addresses or {}) do
      pods[#pods + 1] = { name = a.targetRef and a.targetRef.name, ip = a.ip }
    end
  end
  return pods
end

-- The Cluster once Ready (a watch, up to env.settle seconds: a loaded cluster's readiness can flicker), or nil and
-- the timeout naming its phase, conditions and events.
function facts.ready_cluster(env, t)
  return facts.timed(env, "cluster ready", cnpg.wait_ready, env.kc, t, tenant.names(t).cluster, env.settle or 60)
end

-- The pod pg-T-rw sends to (waiting for the Cluster Ready when it has none); nil and why when it has none.
function facts.rw_pod(env, t)
  facts.tenant(env, t)
  local rw = tenant.names(t).rw_service
  local pods = facts.endpoint_pods(env, t, rw)
  if #pods == 0 or not pods[1].name then
    local ready, err = facts.ready_cluster(env, t)
    if not ready then return nil, string.format("Service %s/%s has no ready endpoint: %s", t, rw, tostring(err)) end
    pods = facts.endpoint_pods(env, t, rw)
  end
  if #pods == 0 or not pods[1].name then return nil, string.format("Service %s/%s has no ready endpoint", t, rw) end
  return pods[1].name
end

-- A basic-auth Secret's username and password; only the password is registered as a secret (masking a user name
-- as common as "app" would garble every line that says "app").
function facts.credentials(secret)
  local function field(key)
    if secret.stringData and secret.stringData[key] then return secret.stringData[key] end
    local v = secret.data and secret.data[key]
    return v and crypto.base64_decode(v)
  end
  local username, password = field("username"), field("password")
  if not username or not password then
    cannot("Secret %s/%s has no username and password", secret.metadata.namespace, secret.metadata.name)
  end
  alaris.secret(password)
  return { username = username, password = password }
end

local Session = {}
Session.__index = Session
Session.__close = function(self) self:close() end

function Session:query(...) return self.db:query(...) end

function Session:close()
  if self.db then self.db:close(); self.db = nil end
  if self.forward then self.forward:close(); self.forward = nil end
end

-- One port-forward and connection attempt: db, forward, or nil, why.
local function attempt(env, t, pod, creds, dbname)
  local pf, err = env.kc:port_forward(t, pod, 5432)
  if not pf then return nil, nil, string.format("port-forward to %s/%s:5432: %s", t, pod, tostring(err)) end
  local db, cerr = pg.connect { host = "127.0.0.1", port = pf.local_port, dbname = dbname or "app",
    user = creds.username, password = creds.password, connect_timeout = 30 }
  if db then return db, pf end
  pf:close()
  return nil, nil, string.format("connecting as %s to %s/%s: %s", creds.username, t, pod, tostring(cerr))
end

-- A SQL session on a pod of tenant t (default: the one behind pg-T-rw) through a port-forward, as the app user (or
-- opts.role = "superuser"): an object with :query(...) and :close() (also to-be-closed), or nil, why. A connection
-- that fails is tried once more through a new port-forward (one lost connection on a loaded cluster says little); a
-- refused password is not.
function facts.connect(env, t, opts)
  opts = opts or {}
  local pod, why = opts.pod, nil
  if not pod then pod, why = facts.rw_pod(env, t) end
  if not pod then return nil, why end
  local n = tenant.names(t)
  local secret_name = opts.role == "superuser" and n.superuser_secret or n.app_secret
  local creds = facts.credentials(must_get(env, "Secret", "v1", "Secret", secret_name, t))
  local db, pf, err = attempt(env, t, pod, creds, opts.dbname)
  if not db and not err:find("password authentication failed", 1, true) then
    db, pf, err = attempt(env, t, pod, creds, opts.dbname)
  end
  if not db then return nil, err end
  return setmetatable({ db = db, forward = pf, pod = pod }, Session)
end

-- The object store client (SPACES_* from the environment).
function facts.spaces(env)
  return facts.once(env, "spaces", function()
    local c, err = s3.client()
    if not c then cannot("no object storage client: %s", tostring(err)) end
    return c
  end)
end

-- Where the tenant's server archives: bucket and folder (the ObjectStore's destinationPath and the Cluster's
-- serverName, as barman-cloud lays them out), and the ObjectStore.
function facts.store(env, t)
  return facts.once(env, "store/" .. t, function()
    local f = facts.tenant(env, t)
    local archiver
    for _, p in ipairs(f.cluster.spec.plugins or {}) do
      if p.isWALArchiver then archiver = p end
    end
    if not archiver then cannot("Cluster %s/%s archives no WAL: no plugin with isWALArchiver", t, f.names.cluster) end
    local params = archiver.parameters or {}
    local store_name = params.barmanObjectName or f.names.object_store
    local store = must_get(env, "ObjectStore", "barmancloud.cnpg.io/v1", "ObjectStore", store_name, t)
    local dest = store.spec and store.spec.configuration and store.spec.configuration.destinationPath
    local server = params.serverName or f.names.cluster
    local bucket, folder = backup.location { destinationPath = dest, serverName = server }
    if not bucket then cannot("ObjectStore %s/%s: destinationPath %s is not s3://bucket/path", t, store_name, tostring(dest)) end
    return { bucket = bucket, folder = folder, server = server, object_store = store }
  end)
end

return facts
