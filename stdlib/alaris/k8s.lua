-- alaris.k8s: a Kubernetes API client for playbooks. Objects are plain Lua tables (manifests); every call returns
-- the object (or list) or nil, err with the server's Status (err.status, err.reason, err.message, err.causes).
-- Configuration and credentials come from alaris.k8s.kubeconfig and alaris.k8s.auth; apiVersion + kind map to
-- resource paths through discovery (cached per client, refreshed on a miss); watch and wait live in
-- alaris.k8s.watch, port-forward in alaris.k8s.portforward, exec in alaris.k8s.exec. Requests go through
-- alaris.http, so they yield to the event loop and reuse connections. Idempotent requests (GET, server-side apply)
-- are retried on 429, 5xx and dropped connections. It does not cache objects (no informers) and speaks JSON only
-- (no protobuf).
local alaris = require "alaris"
local http = require "alaris.http"
local json = require "alaris.json"
local yaml = require "alaris.yaml"
local crypto = require "alaris.crypto"
local kubeconfig = require "alaris.k8s.kubeconfig"
local auth = require "alaris.k8s.auth"

local k8s = {}

local Client = {}
Client.__index = Client

-- alaris.http's retry policy for the requests the caller marks idempotent (GET, server-side apply).
local RETRY = { attempts = 5, backoff = 0.2, max_delay = 10, statuses = { 429, 500, 502, 503, 504 },
  idempotent = true }
local PATCH_TYPES = {
  merge = "application/merge-patch+json",
  json = "application/json-patch+json",
  strategic = "application/strategic-merge-patch+json",
}

-- ---- client ----

local function warn(message)
  io.stderr:write("warning: ", message, "\n")
end

--- k8s.client{kubeconfig = path | table, context = name, in_cluster = {dir} | false, timeout = seconds}
--- -> client | nil, err
function k8s.client(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("k8s.client expects a table of options", 2) end
  local settings, err = kubeconfig.load(opts)
  if not settings then return nil, err end
  if settings.insecure then
    warn("k8s: insecure-skip-tls-verify is set for " .. settings.server .. ": the server's certificate is not checked")
  end
  return setmetatable({
    settings = settings,
    namespace = settings.namespace,
    server = settings.server,
    credentials = auth.new(settings),
    resources = {}, -- apiVersion -> {by_kind = {Kind = resource}, fetched = true}
    timeout = opts.timeout or 60,
    closers = {},
  }, Client)
end

--- client:close(): stops the port-forwards the client opened.
function Client:close()
  for c in pairs(self.closers) do c:close() end
  self.closers = {}
  return true
end
Client.__close = Client.close

-- ---- errors ----

-- An error from a Status body (or whatever the server sent) for a failed request.
local function status_error(method, path, resp)
  local status = type(resp.body) == "string" and json.decode(resp.body) or nil
  if type(status) ~= "table" or status.kind ~= "Status" then status = nil end
  local reason = status and status.reason or nil
  if reason == "" then reason = nil end
  local message = status and status.message or (resp.body or ""):sub(1, 300)
  local err = alaris.error(http.status_code(resp.status), string.format("%s %s: %d %s%s",
    method, path, resp.status, reason or "", message ~= "" and (": " .. message) or ""))
  err.status = resp.status
  err.reason = reason
  err.server_message = message
  err.details = status and status.details or nil
  err.causes = status and status.details and status.details.causes or json.array {}
  return err
end
k8s.status_error = status_error

-- ---- requests ----

local function encode_query(query)
  local q = http.query(query)
  return q ~= "" and ("?" .. q) or ""
end
k8s.encode_query = encode_query

-- With tls-server-name, the URL names that server (so TLS checks its certificate against it) and the connection
-- goes to the kubeconfig's server address, whose host:port is still sent as Host, as client-go does.
local function addressed(settings, path)
  local scheme, host, port, rest = settings.server:match("^(https?)://([^/:]+):?(%d*)(.*)$")
  if not settings.server_name or not scheme then return settings.server .. path end
  port = port ~= "" and port or (scheme == "https" and "443" or "80")
  return scheme .. "://" .. settings.server_name .. ":" .. port .. rest .. path,
    settings.server_name .. ":" .. port .. ":" .. host .. ":" .. port, host .. ":" .. port
end

-- The http.request options for one attempt (TLS material, credentials), or nil, err.
function Client:http_options(method, path, opts)
  local s = self.settings
  local url, connect_to, host = addressed(s, path .. encode_query(opts.query))
  local req = {
    method = method,
    url = url,
    connect_to = connect_to,
    headers = { Accept = opts.accept or "application/json", ["User-Agent"] = "alaris/" .. alaris.version, Host = host },
    ca_data = s.ca_data,
    insecure = s.insecure or nil,
    timeout = opts.timeout == nil and self.timeout or opts.timeout or nil,
    on_data = opts.on_data,
    retry = opts.idempotent and RETRY or nil,
  }
  if opts.body ~= nil then
    req.body = type(opts.body) == "string" and opts.body or json.encode(opts.body)
    req.headers["Content-Type"] = opts.content_type or "application/json"
  end
  return self.credentials:apply(req)
end

--- client:request(method, path, {query, body, content_type, accept, idempotent, on_data, timeout, raw})
--- -> decoded body (or the response with raw = true) | nil, err
--- Idempotent requests are tried up to 5 times on 429/5xx/dropped connections; a 401 refreshes the credential
--- (token file, exec plugin) and is tried once more.
function Client:request(method, path, opts)
  opts = opts or {}
  local refreshed = false
  while true do
    local req, rerr = self:http_options(method, path, opts)
    if not req then return nil, rerr end
    local resp, err = http.request(req)
    if resp and resp.status == 401 and not refreshed and self.credentials:refresh() then
      refreshed = true
    else
      if not resp then
        err.message = tostring(err.message)
        return nil, err
      end
      if resp.status >= 400 then return nil, status_error(method, path, resp) end
      if opts.raw or opts.on_data then return resp end
      if resp.body == "" then return {} end
      local body, derr = json.decode(resp.body)
      if derr then return resp.body end
      return body
    end
  end
end

-- ---- discovery ----

local function group_version_path(api_version)
  if api_version:find("/", 1, true) then return "/apis/" .. api_version end
  return "/api/" .. api_version
end

local function fetch_resources_now(self, api_version)
  local list, err = self:request("GET", group_version_path(api_version), { idempotent = true })
  if not list then
    if err.status == 404 then list = { resources = {} } else return nil, err end
  end
  local group, version = api_version:match("^(.-)/([^/]+)$")
  if not group then group, version = "", api_version end
  local entry = { by_kind = {}, by_name = {} }
  for _, r in ipairs(list.resources or {}) do
    local res = { name = r.name, kind = r.kind, namespaced = r.namespaced, verbs = r.verbs, group = group,
      version = version, api_version = api_version }
    if not r.name:find("/", 1, true) then
      entry.by_kind[r.kind] = entry.by_kind[r.kind] or res
      entry.by_name[r.name] = res
    end
  end
  self.resources[api_version] = entry
  return entry
end

-- One discovery request per group version at a time: tasks that need it while it is on the way wait for that one.
function Client:fetch_resources(api_version)
  self.fetching = self.fetching or {}
  local pending = self.fetching[api_version]
  if not pending then
    pending = alaris.spawn(fetch_resources_now, self, api_version)
    self.fetching[api_version] = pending
  end
  local ok, entry, err = alaris.wait(pending)
  if self.fetching[api_version] == pending then self.fetching[api_version] = nil end
  if not ok then error(entry, 0) end
  return entry, err
end

--- client:resource(apiVersion, kind) -> {name, kind, namespaced, group, version, api_version} | nil, err
--- From the client's discovery cache, fetched again when the kind is not in it (a CRD created a moment ago).
function Client:resource(api_version, kind)
  if type(api_version) ~= "string" or type(kind) ~= "string" then
    error("k8s: apiVersion and kind must be strings", 3)
  end
  local cached = self.resources[api_version]
  if cached and cached.by_kind[kind] then return cached.by_kind[kind] end
  local entry, err = self:fetch_resources(api_version)
  if not entry then return nil, err end
  local res = entry.by_kind[kind]
  if res then return res end
  local e = alaris.error("not_found", string.format("the server has no resource for kind %s in %s", kind, api_version))
  e.status, e.reason, e.causes = 404, "NotFound", json.array {}
  return nil, e
end

-- The path of a resource: its collection, or one object (name), or a subresource of it.
function Client:path(res, namespace, name, subresource)
  local p = group_version_path(res.api_version)
  if res.namespaced then p = p .. "/namespaces/" .. (namespace or self.namespace) end
  p = p .. "/" .. res.name
  if name then p = p .. "/" .. name end
  if subresource then p = p .. "/" .. subresource end
  return p
end

-- (apiVersion, kind, name, namespace) or a manifest-like table -> resource, name, namespace | nil, err
function Client:locate(a, b, c, d)
  local api_version, kind, name, namespace
  if type(a) == "table" then
    local md = a.metadata or {}
    api_version, kind, name, namespace = a.apiVersion, a.kind, md.name, md.namespace
  else
    api_version, kind, name, namespace = a, b, c, d
  end
  if type(api_version) ~= "string" or type(kind) ~= "string" then
    error("k8s: an object needs apiVersion and kind", 3)
  end
  local res, err = self:resource(api_version, kind)
  if not res then return nil, err end
  if res.namespaced and (namespace == nil or namespace == "") then namespace = self.namespace end
  if not res.namespaced then namespace = nil end
  return res, name, namespace
end

local function need_name(name, what)
  if type(name) ~= "string" or name == "" then error("k8s: " .. what .. " needs metadata.name", 3) end
end

-- ---- objects ----

--- client:get(apiVersion, kind, name [, namespace]) | client:get(manifest) -> object | nil, err
function Client:get(a, b, c, d)
  local res, name, namespace = self:locate(a, b, c, d)
  if not res then return nil, name end
  need_name(name, "get")
  return self:request("GET", self:path(res, namespace, name), { idempotent = true })
end

local function list_query(opts)
  return {
    labelSelector = opts.label_selector, fieldSelector = opts.field_selector, limit = opts.limit or 500,
    resourceVersion = opts.resource_version,
  }
end

--- client:list(apiVersion, kind [, namespace [, opts]]) -> iterator over objects, the first page's metadata | nil, err
--- opts: label_selector, field_selector, limit (page size, 500). namespace nil: every namespace. Later pages are
--- fetched as the loop goes (`continue`); a failure there raises the error.
function Client:list(api_version, kind, namespace, opts)
  opts = opts or {}
  local res, err = self:resource(api_version, kind)
  if not res then return nil, err end
  local base = group_version_path(res.api_version)
  if res.namespaced and namespace then base = base .. "/namespaces/" .. namespace end
  local path = base .. "/" .. res.name
  local query = list_query(opts)
  local page, perr = self:request("GET", path, { query = query, idempotent = true })
  if not page then return nil, perr end
  local i = 0
  local item_kind = kind
  local function next_item()
    while true do
      i = i + 1
      local item = page.items and page.items[i]
      if item then
        item.apiVersion, item.kind = item.apiVersion or api_version, item.kind or item_kind
        return item
      end
      local token = page.metadata and page.metadata["continue"]
      if not token or token == "" then return nil end
      query["continue"] = token
      local nxt, nerr = self:request("GET", path, { query = query, idempotent = true })
      if not nxt then error(nerr, 0) end
      page, i = nxt, 0
    end
  end
  return next_item, page.metadata
end

--- client:list_all(...) -> array of objects, the list's metadata | nil, err (the same as list, collected)
function Client:list_all(api_version, kind, namespace, opts)
  local iter, md = self:list(api_version, kind, namespace, opts)
  if not iter then return nil, md end
  local items = json.array {}
  local ok, err = pcall(function()
    for item in iter do items[#items + 1] = item end
  end)
  if not ok then return nil, err end
  return items, md
end

local function write_query(opts)
  return { dryRun = opts.dry_run and "All" or nil, fieldManager = opts.field_manager }
end

--- client:create(manifest [, {dry_run, field_manager}]) -> object | nil, err
function Client:create(m, opts)
  opts = opts or {}
  local res, _, namespace = self:locate(m)
  if not res then return nil, _ end
  return self:request("POST", self:path(res, namespace), { body = m, query = write_query(opts) })
end

--- client:replace(manifest [, {dry_run, field_manager, subresource}]) -> object | nil, err
function Client:replace(m, opts)
  opts = opts or {}
  local res, name, namespace = self:locate(m)
  if not res then return nil, name end
  need_name(name, "replace")
  return self:request("PUT", self:path(res, namespace, name, opts.subresource), { body = m, query = write_query(opts) })
end

--- client:patch(manifest_or_ref, patch, "merge"|"json"|"strategic" [, {dry_run, field_manager, subresource}])
--- -> object | nil, err
function Client:patch(ref, patch, kind, opts)
  opts = opts or {}
  kind = kind or "merge"
  local content_type = PATCH_TYPES[kind]
  if not content_type then error("k8s: patch type must be merge, json or strategic", 2) end
  local res, name, namespace = self:locate(ref)
  if not res then return nil, name end
  need_name(name, "patch")
  return self:request("PATCH", self:path(res, namespace, name, opts.subresource),
    { body = patch, content_type = content_type, query = write_query(opts) })
end

--- client:apply(manifest [, {field_manager = "alaris", force = false, dry_run = false, subresource}])
--- -> object | nil, err. Server-side apply; retried like a GET (it is idempotent).
function Client:apply(m, opts)
  opts = opts or {}
  local res, name, namespace = self:locate(m)
  if not res then return nil, name end
  need_name(name, "apply")
  local query = { fieldManager = opts.field_manager or "alaris", force = opts.force and "true" or nil,
    dryRun = opts.dry_run and "All" or nil }
  return self:request("PATCH", self:path(res, namespace, name, opts.subresource),
    { body = m, content_type = "application/apply-patch+yaml", query = query, idempotent = true })
end

local function apply_rank(m)
  if m.kind == "Namespace" then return 1 end
  if m.kind == "CustomResourceDefinition" then return 2 end
  return 3
end

local function manifests_of(input)
  if type(input) == "string" then
    local docs, err = yaml.decode_all(input)
    if not docs then return nil, err end
    local list = {}
    for _, d in ipairs(docs) do
      if type(d) == "table" then list[#list + 1] = d end -- empty documents are skipped
    end
    return list
  end
  if type(input) ~= "table" then error("k8s: apply_all expects a list of manifests or YAML text", 3) end
  if input.kind == "List" and input.items then return input.items end
  return input
end

--- client:apply_all(list_or_yaml [, apply opts]) -> array of applied objects | nil, err (err.index: which manifest)
--- Namespaces first, then CustomResourceDefinitions (waited for until Established), then the rest in order.
function Client:apply_all(input, opts)
  local list, err = manifests_of(input)
  if not list then return nil, err end
  local order = {}
  for i, m in ipairs(list) do order[#order + 1] = { rank = apply_rank(m), index = i, m = m } end
  table.sort(order, function(a, b)
    if a.rank ~= b.rank then return a.rank < b.rank end
    return a.index < b.index
  end)
  local results = json.array {}
  for n, item in ipairs(order) do
    local obj, aerr = self:apply(item.m, opts)
    if not obj then
      aerr.index = item.index
      return nil, aerr
    end
    results[item.index] = obj
    local next_item = order[n + 1]
    if item.rank == 2 and (not next_item or next_item.rank > 2) and not (opts and opts.dry_run) then
      local ok, werr = self:wait_established(order)
      if not ok then return nil, werr end
    end
  end
  return results
end

function Client:wait_established(order)
  for _, item in ipairs(order) do
    if item.rank == 2 then
      local ok, err = self:wait(item.m, "Established", { timeout = 60 })
      if not ok then return nil, err end
    end
  end
  return true
end

--- client:delete(manifest_or_ref [, {propagation, wait, timeout, dry_run, grace_period}]) -> true, object | nil, err
--- With wait = true, returns once the object is gone (or nil, err with err.code "timeout").
function Client:delete(ref, opts)
  opts = opts or {}
  local res, name, namespace = self:locate(ref)
  if not res then return nil, name end
  need_name(name, "delete")
  local body = { apiVersion = "v1", kind = "DeleteOptions", propagationPolicy = opts.propagation,
    gracePeriodSeconds = opts.grace_period, dryRun = opts.dry_run and json.array { "All" } or nil }
  local path = self:path(res, namespace, name)
  local obj, err = self:request("DELETE", path, { body = body, idempotent = true })
  if not obj then return nil, err end
  if opts.wait and not opts.dry_run then
    local ref_obj = { apiVersion = res.api_version, kind = res.kind, metadata = { name = name, namespace = namespace } }
    local gone, werr = self:wait(ref_obj, "deleted", { timeout = opts.timeout or 60 })
    if not gone then return nil, werr end
  end
  return true, obj
end

-- ---- logs ----

--- client:logs(namespace, pod [, {container, tail_lines, since_seconds, timestamps, limit_bytes, follow, on_data}])
--- -> text | nil, err. With follow = true and on_data(chunk), streams until the pod goes or on_data returns false.
function Client:logs(namespace, pod, opts)
  opts = opts or {}
  local path = string.format("/api/v1/namespaces/%s/pods/%s/log", namespace or self.namespace, pod)
  local query = { container = opts.container, tailLines = opts.tail_lines, sinceSeconds = opts.since_seconds,
    timestamps = opts.timestamps and "true" or nil, limitBytes = opts.limit_bytes,
    follow = opts.follow and "true" or nil }
  if opts.follow then
    if type(opts.on_data) ~= "function" then error("k8s: logs with follow needs on_data", 2) end
    local resp, err = self:request("GET", path, { query = query, accept = "*/*", on_data = opts.on_data,
      timeout = opts.timeout or false })
    if not resp then return nil, err end
    return true
  end
  local resp, err = self:request("GET", path, { query = query, accept = "*/*", idempotent = true, raw = true })
  if not resp then return nil, err end
  return resp.body
end

-- ---- secrets ----

--- k8s.secret_data(secret) -> {key = decoded value} (each value registered as a secret) | nil, err
function k8s.secret_data(secret)
  if type(secret) ~= "table" then error("k8s.secret_data expects a Secret object", 2) end
  local out = {}
  for key, value in pairs(type(secret.data) == "table" and secret.data or {}) do
    local decoded = crypto.base64_decode(value)
    if not decoded then return nil, alaris.error("invalid_base64", "secret data key " .. key .. " is not base64") end
    out[key] = decoded
  end
  for key, value in pairs(type(secret.stringData) == "table" and secret.stringData or {}) do out[key] = value end
  for _, v in pairs(out) do
    if v ~= "" then alaris.secret(v) end
  end
  return out
end

--- k8s.condition(obj, type) -> the condition table of that type in obj.status.conditions, or nil
function k8s.condition(obj, ctype)
  local status = type(obj) == "table" and obj.status
  for _, c in ipairs(type(status) == "table" and type(status.conditions) == "table" and status.conditions or {}) do
    if c.type == ctype then return c end
  end
  return nil
end

k8s.Client = Client
require("alaris.k8s.watch").install(k8s, Client)
require("alaris.k8s.portforward").install(k8s, Client)
require("alaris.k8s.exec").install(k8s, Client)

return k8s
