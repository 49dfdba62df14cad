-- DigitalOcean Kubernetes (DOKS) helpers, installed as methods of an alaris.digitalocean client: options, find /
-- create (idempotent by name) / wait / delete clusters, the kubeconfig as text and the credentials as a kubeconfig
-- table that alaris.k8s takes directly. Node pools beyond those given at creation and upgrades are left to dc:get /
-- dc:post on the raw API.
local alaris = require "alaris"
local json = require "alaris.json"

local kubernetes = {}

local CLUSTERS = "/v2/kubernetes/clusters"
local FAILED_STATES = { error = true, deleted = true, deleting = true }
local FIRST_POLL, MAX_POLL = 0.5, 10

local function cluster_path(id, suffix)
  if type(id) ~= "string" or id == "" then error("digitalocean: a cluster id (string) is required", 3) end
  return CLUSTERS .. "/" .. id .. (suffix or "")
end

local function absent(v)
  return v == nil or v == json.null
end

--- dc:options() -> {regions, versions, sizes} | nil, err
function kubernetes.options(self)
  local body, err = self:get("/v2/kubernetes/options")
  if not body then return nil, err end
  return body.options
end

-- Numeric parts of "1.33.1" for comparison.
local function version_key(v)
  local parts = {}
  for n in tostring(v):gmatch("%d+") do parts[#parts + 1] = tonumber(n) end
  return parts
end

local function newer(a, b)
  local ka, kb = version_key(a.kubernetes_version or a.slug), version_key(b.kubernetes_version or b.slug)
  for i = 1, math.max(#ka, #kb) do
    if (ka[i] or 0) ~= (kb[i] or 0) then return (ka[i] or 0) > (kb[i] or 0) end
  end
  return false
end

-- "latest" -> the newest slug offered; "1.32" -> the newest 1.32.x slug; anything else is DO's to judge.
function kubernetes.resolve_version(self, requested)
  if requested ~= "latest" and not tostring(requested):match("^%d+%.%d+$") then return requested end
  local options, err = self:options()
  if not options then return nil, err end
  local best
  for _, v in ipairs(options.versions or {}) do
    local matches = requested == "latest" or (v.kubernetes_version or ""):sub(1, #requested + 1) == requested .. "."
    if matches and (not best or newer(v, best)) then best = v end
  end
  if not best then
    return self:fail("invalid_version", "no Kubernetes version matching '" .. requested .. "' is offered")
  end
  return best.slug
end

--- dc:find_cluster(name) -> cluster | nil (none of that name) | nil, err
function kubernetes.find_cluster(self, name)
  if type(name) ~= "string" then error("digitalocean: find_cluster needs a cluster name", 2) end
  return self:find(CLUSTERS, "kubernetes_clusters", function(c) return c.name == name end)
end

local function cluster_body(self, spec)
  local body = {}
  for k, v in pairs(spec) do body[k] = v end
  local version, err = self:resolve_version(spec.version or "latest")
  if not version then return nil, err end
  body.version = version
  body.node_pools = json.array(spec.node_pools or {})
  return body
end

--- dc:create_cluster{name, region, version = "latest", node_pools = {{name, size, count}, ...}, ...}
--- -> cluster, created (false when a cluster of that name already existed) | nil, err
function kubernetes.create_cluster(self, spec)
  if type(spec) ~= "table" or type(spec.name) ~= "string" then
    error("digitalocean: create_cluster needs a table with a name", 2)
  end
  local existing, err = self:find_cluster(spec.name)
  if existing then return existing, false end
  if err then return nil, err end
  local body
  body, err = cluster_body(self, spec)
  if not body then return nil, err end
  local created
  created, err = self:post(CLUSTERS, body)
  if created then return created.kubernetes_cluster, true end
  if err.status == 422 then -- another run may have created it between our look and our POST
    existing = self:find_cluster(spec.name)
    if existing then return existing, false end
  end
  return nil, err
end

--- dc:get_cluster(id) -> cluster | nil, err
function kubernetes.get_cluster(self, id)
  local body, err = self:get(cluster_path(id))
  if not body then return nil, err end
  return body.kubernetes_cluster
end

local function state_of(cluster)
  return type(cluster.status) == "table" and cluster.status.state or "unknown"
end

--- dc:wait_cluster_running(id [, timeout = 1200]) -> cluster | nil, err (code "timeout" naming the last state,
--- or "cluster_failed" when DO reports error/deleted). Polls: DO has no watch API. Intervals grow 0.5 s -> 10 s.
function kubernetes.wait_cluster_running(self, id, timeout)
  timeout = timeout or 1200
  local deadline = alaris.now() + timeout
  local interval = FIRST_POLL
  while true do
    local cluster, err = self:get_cluster(id)
    if not cluster then return nil, err end
    local state = state_of(cluster)
    if state == "running" then return cluster end
    if FAILED_STATES[state] then
      local why = cluster.status.message
      return self:fail("cluster_failed", string.format("cluster %s is %s%s", id, state,
        (type(why) == "string" and why ~= "") and (": " .. why) or ""), { state = state, cluster = cluster })
    end
    local left = deadline - alaris.now()
    if left <= 0 then
      local what = string.format("cluster %s (%s) still %s after %g s", cluster.name, id, state, timeout)
      return self:fail("timeout", what, { state = state, cluster = cluster })
    end
    alaris.sleep(math.min(interval, left))
    interval = math.min(interval * 1.5, MAX_POLL)
  end
end

--- dc:delete_cluster(id) -> true (also when it was already gone) | nil, err
function kubernetes.delete_cluster(self, id)
  local ok, err = self:delete(cluster_path(id))
  if ok or err.status == 404 then return true end
  return nil, err
end

-- Values in kubeconfig text that must be masked: bearer tokens and private keys.
local function register_kubeconfig_secrets(text)
  for line in text:gmatch("[^\n]+") do
    local value = line:match("^%s*token:%s*[\"']?([^\"'%s]+)")
      or line:match("^%s*client%-key%-data:%s*[\"']?([^\"'%s]+)")
    if value then alaris.secret(value) end
  end
end

--- dc:kubeconfig(id [, {expiry_seconds}]) -> the cluster's kubeconfig as YAML text | nil, err
function kubernetes.kubeconfig(self, id, opts)
  local query = opts and opts.expiry_seconds and { expiry_seconds = opts.expiry_seconds } or nil
  local text, err = self:request("GET", cluster_path(id, "/kubeconfig"), { query = query, raw = true })
  if not text then return nil, err end
  register_kubeconfig_secrets(text)
  return text
end

local function kubeconfig_user(creds)
  local user = {}
  if not absent(creds.token) then
    alaris.secret(creds.token)
    user.token = creds.token
  end
  if not absent(creds.client_certificate_data) then user["client-certificate-data"] = creds.client_certificate_data end
  if not absent(creds.client_key_data) then
    alaris.secret(creds.client_key_data)
    user["client-key-data"] = creds.client_key_data
  end
  return user
end

--- dc:cluster_credentials(id [, {expiry_seconds}]) -> kubeconfig table (apiVersion, kind, clusters, users, contexts,
--- current-context; named do-REGION-NAME as doctl does), expires_at | nil, err. The token is registered as a secret.
function kubernetes.cluster_credentials(self, id, opts)
  local cluster, err = self:get_cluster(id)
  if not cluster then return nil, err end
  local query = opts and opts.expiry_seconds and { expiry_seconds = opts.expiry_seconds } or nil
  local creds
  creds, err = self:get(cluster_path(id, "/credentials"), query)
  if not creds then return nil, err end
  local name = "do-" .. cluster.region .. "-" .. cluster.name
  local user = name .. "-admin"
  local server = { server = creds.server }
  if not absent(creds.certificate_authority_data) then
    server["certificate-authority-data"] = creds.certificate_authority_data
  end
  return {
    apiVersion = "v1",
    kind = "Config",
    preferences = {},
    clusters = json.array { { name = name, cluster = server } },
    users = json.array { { name = user, user = kubeconfig_user(creds) } },
    contexts = json.array { { name = name, context = { cluster = name, user = user } } },
    ["current-context"] = name,
  }, (not absent(creds.expires_at)) and creds.expires_at or nil
end

return kubernetes
