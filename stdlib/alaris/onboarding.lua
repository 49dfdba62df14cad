-- alaris.onboarding: the policy behind playbooks/onboard.lua and offboard.lua: checking the input before anything is
-- touched, the tenant's Lease, which of its things existed before a run (so a rollback removes only what the run
-- made), its Spaces bucket and scoped key, passwords kept only in Kubernetes Secrets, applying objects while
-- noting which were new, and running many tenants as one child run each. It builds no manifests (alaris.tenant
-- does) and waits on nothing (alaris.cnpg does).
local alaris = require "alaris"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"
local lock = require "alaris.lock"
local log = require "alaris.log"
local process = require "alaris.process"
local s3 = require "alaris.s3"
local tenant = require "alaris.tenant"

local onboarding = {}

onboarding.MANAGED_BY = "app.kubernetes.io/managed-by"
onboarding.LOCK_NAMESPACE = "default"
-- An image reference: [registry[:port]/]path[:tag][@sha256:digest], lowercase path components.
local IMAGE_PATTERN = "^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?"
  .. "(@sha256:[0-9a-f]{64})?$"
onboarding.IMAGE_PATTERN = IMAGE_PATTERN

local function bad_input(fmt, ...)
  error(alaris.error("invalid", string.format(fmt, ...), { usage = true }), 0)
end

local function must(value, err, ...)
  if value == nil then error(err, 2) end
  return value, err, ...
end
onboarding.must = must

-- ---- clients ----

function onboarding.kube() return must(k8s.client()) end
function onboarding.spaces() return must(s3.client()) end

-- The DigitalOcean client when a token is set (per-tenant scoped keys), else nil.
function onboarding.digitalocean()
  if not os.getenv("DIGITALOCEAN_ACCESS_TOKEN") then return nil end
  return must(digitalocean.client())
end

-- ---- input ----

-- NAME=VALUE pairs and options of the command line (before and after FILE), as the playbook sees them on load.
function onboarding.args(argv)
  local given, flags = {}, {}
  argv = argv or {}
  local first = 1
  while argv[first - 1] ~= nil do first = first - 1 end
  for i = first, #argv do
    local a = argv[i]
    local k, v = a:match("^([%w_]+)=(.*)$")
    if argv[i - 1] == "--journal" then flags.journal = a
    elseif k then given[k] = v elseif a:sub(1, 1) == "-" then flags[a] = true end
  end
  return given, flags
end

-- The tenants a run names: tenant=T, or tenants=a,b,c (each checked, no repeats).
function onboarding.tenant_list(given)
  local list = {}
  if given.tenant and given.tenants then bad_input("give tenant= or tenants=, not both") end
  local text = given.tenants or given.tenant
  if text == nil then return list end
  local seen = {}
  for name in (text .. ","):gmatch("([^,]*),") do
    must(tenant.validate_name(name))
    if seen[name] then bad_input("tenant %q is listed twice", name) end
    seen[name], list[#list + 1] = true, name
  end
  return list
end

function onboarding.check_image(var, image)
  if image ~= nil and not alaris.regex_match(IMAGE_PATTERN, image) then
    bad_input("%s %q is not an image reference (registry/path:tag)", var, image)
  end
end

local function namespace_is_ours(ns, t)
  local labels = ns.metadata.labels or {}
  return labels[onboarding.MANAGED_BY] == "alaris" and labels.tenant == t
end

-- Refuses a namespace that exists and that alaris does not own (a tenant must never take over another's objects).
function onboarding.check_namespace(kc, t)
  local ns, err = kc:get("v1", "Namespace", t)
  if ns == nil and err and err.code ~= "not_found" then bad_input("cannot reach the Kubernetes API: %s", tostring(err)) end
  if ns and not namespace_is_ours(ns, t) then
    bad_input("namespace %q exists and is not a tenant alaris made (no label %s=alaris): refusing to touch it", t,
      onboarding.MANAGED_BY)
  end
end

-- The object storage endpoint must answer before anything is created.
function onboarding.check_endpoint(sc)
  local _, err = sc:list_buckets()
  if err then bad_input("object storage endpoint %s does not answer: %s", tostring(onboarding.endpoint()), tostring(err)) end
end

function onboarding.endpoint()
  return os.getenv("SPACES_ENDPOINT") or string.format("https://%s.digitaloceanspaces.com",
    os.getenv("SPACES_REGION") or "nyc3")
end

-- The Lease that keeps runs on one tenant apart, held from load to the end of the run. A holder gives exit 2 with
-- one line naming it. A crashed run's Lease expires after LOCK_SECONDS: --resume and --rollback (`after_crash`)
-- wait that long for it.
onboarding.LOCK_SECONDS = 15
local held = {}
function onboarding.lock(kc, t, after_crash)
  if held[t] then return held[t] end
  local l, err
  for attempt = 1, 5 do -- the Lease's create is not retried by the client: a transient failure is retried here
    l, err = lock.acquire(kc, t, { namespace = onboarding.LOCK_NAMESPACE, duration = onboarding.LOCK_SECONDS,
      wait = after_crash and onboarding.LOCK_SECONDS + 5 or 0 })
    if l or err.code == "conflict" then break end
    alaris.sleep(0.2 * 2 ^ attempt)
  end
  if not l then
    if err.code == "conflict" then bad_input("%s", tostring(err.message or err)) end
    bad_input("cannot take the lock of tenant %s: %s", t, tostring(err))
  end
  held[t] = l
  -- released when the run ends however it ends (a rollback, a run whose lock step is already undone)
  held[l] = setmetatable({}, { __gc = function() if held[t] == l then pcall(l.release, l) end end })
  return l
end

function onboarding.unlock(t)
  local l = held[t]
  held[t] = nil
  if l then l:release() end
end

-- ---- what existed before ----

local function key_name(t) return "alaris-" .. t end
onboarding.key_name = key_name

function onboarding.bucket_name(vars, t)
  return vars.bucket or ("alaris-" .. t .. "-backups")
end

local function keys_named(dc, name)
  local ids = {}
  for _, k in ipairs(must(dc:spaces_keys { name = name })) do
    if k.name == name then ids[#ids + 1] = k.access_key end
  end
  return ids
end

local function bucket_exists(sc, bucket)
  local ok, err = sc:head_bucket(bucket)
  if ok then return true end
  if err and (err.code == "not_found" or tostring(err):find("NoSuchBucket")) then return false end
  error(err, 0)
end

-- Which of the tenant's things exist now: journaled by the survey step, read by the rollback's sweep.
function onboarding.survey(kc, sc, dc, t, bucket)
  local keys = dc and keys_named(dc, key_name(t)) or {}
  return { namespace_existed = kc:get("v1", "Namespace", t) ~= nil, bucket = bucket,
    bucket_existed = bucket_exists(sc, bucket), keys_before = keys }
end

local function empty_and_delete_bucket(sc, bucket)
  if not bucket_exists(sc, bucket) then return end
  local keys = {}
  for obj in sc:list(bucket) do keys[#keys + 1] = obj.key end
  for _, key in ipairs(keys) do must(sc:delete(bucket, key)) end
  must(sc:delete_bucket(bucket))
end
onboarding.empty_and_delete_bucket = empty_and_delete_bucket

-- Removes what did not exist when the survey was taken: the namespace (and all in it), keys named after the tenant
-- that are new, the bucket if the run made it. Safe to run twice, and after a crash at any point.
function onboarding.sweep(kc, sc, dc, t, before)
  if not before.namespace_existed then
    local ns = kc:get("v1", "Namespace", t)
    if ns and namespace_is_ours(ns, t) then
      must(kc:delete(tenant.namespace(t), { wait = true, timeout = 120, propagation = "Foreground" }))
    end
  end
  if dc then
    local old = {}
    for _, id in ipairs(before.keys_before or {}) do old[id] = true end
    for _, id in ipairs(keys_named(dc, key_name(t))) do
      if not old[id] then must(dc:delete_spaces_key(id)) end
    end
  end
  if not before.bucket_existed then empty_and_delete_bucket(sc, before.bucket) end
end

-- ---- objects ----

-- The tenant's namespace, labelled as alaris's so that later runs (and the sweep) know it is.
function onboarding.namespace(t)
  local ns = tenant.namespace(t)
  ns.metadata.labels[onboarding.MANAGED_BY] = "alaris"
  return ns
end

local function ref_of(m)
  return { apiVersion = m.apiVersion, kind = m.kind,
    metadata = { name = m.metadata.name, namespace = m.metadata.namespace } }
end

-- Server-side applies the objects; returns which were created and how many changed. An object whose
-- resourceVersion did not move was unchanged (a second run says so).
function onboarding.apply(kc, objects, log_)
  local created, changed, unchanged = {}, 0, 0
  for _, m in ipairs(objects) do
    local before = kc:get(ref_of(m))
    local after = must(kc:apply(m, { field_manager = "alaris" }))
    if not before then
      created[#created + 1] = ref_of(m)
    elseif before.metadata.resourceVersion ~= after.metadata.resourceVersion then
      changed = changed + 1
    else
      unchanged = unchanged + 1
    end
  end
  if log_ then
    log_.info(string.format("%d created, %d changed, %d unchanged", #created, changed, unchanged))
  end
  return { created = created, changed = changed, unchanged = unchanged }
end

local function changed_fields(current, proposed)
  local json = require "alaris.json"
  local fields = {}
  for _, part in ipairs { "spec", "data", "stringData" } do
    local a, b = current[part], proposed[part]
    for k in pairs(b or {}) do
      if json.encode((a or {})[k]) ~= json.encode(b[k]) then fields[#fields + 1] = part .. "." .. k end
    end
  end
  table.sort(fields)
  return fields
end

-- What applying the objects would do, as kubectl diff tells it: each object's server-side dry-run apply compared
-- with what is stored ("create", "change Kind name: spec.x, ...", "unchanged"). Nothing is changed.
function onboarding.plan(kc, objects)
  local lines = {}
  for _, m in ipairs(objects) do
    local what = m.kind .. " " .. (m.metadata.namespace and (m.metadata.namespace .. "/") or "") .. m.metadata.name
    local current = kc:get(ref_of(m))
    local proposed, err = kc:apply(m, { field_manager = "alaris", dry_run = true })
    if not current then
      local refused = not proposed and err.reason ~= "NotFound" -- NotFound: its namespace comes first
      lines[#lines + 1] = "create " .. what .. (refused and (": refused by the server: " .. tostring(err)) or "")
    elseif not proposed then
      lines[#lines + 1] = "change " .. what .. ": refused by the server: " .. tostring(err)
    else
      local fields = changed_fields(current, proposed)
      lines[#lines + 1] = #fields == 0 and ("unchanged " .. what) or ("change " .. what .. ": " .. table.concat(fields, ", "))
    end
  end
  return lines
end

-- Deletes what onboarding.apply created (newest first), leaving alone what existed before.
function onboarding.delete_created(kc, out)
  for i = #(out and out.created or {}), 1, -1 do
    local ok, err = kc:delete(out.created[i])
    if not ok and err.code ~= "not_found" then error(err, 0) end
  end
end

-- Secrets holding generated passwords are created once and never rewritten: a re-run or --resume reads them back.
function onboarding.ensure_secret(kc, secret)
  local m = secret.metadata
  if kc:get("v1", "Secret", m.name, m.namespace) then return false end
  must(kc:create(secret, { field_manager = "alaris" }))
  return true
end

function onboarding.read_secret(kc, t, name)
  return must(k8s.secret_data(must(kc:get("v1", "Secret", name, t))))
end

-- ---- Spaces credentials ----

-- The tenant's key: the one its spaces-credentials Secret names if DO still has it, else a new key with readwrite
-- on its bucket only, whose secret goes straight into that Secret. Without a DO token, the SPACES_* key is used
-- and the run warns that it is not scoped to the tenant.
function onboarding.spaces_credentials(kc, dc, t, bucket, log_)
  local current = kc:get("v1", "Secret", "spaces-credentials", t)
  if not dc then
    log_.warn("DIGITALOCEAN_ACCESS_TOKEN is not set: the tenant uses the SPACES_* key, which is not scoped to it")
    local s = tenant.spaces_secret(t, must(os.getenv("SPACES_ACCESS_KEY_ID"), "SPACES_ACCESS_KEY_ID is not set"),
      must(os.getenv("SPACES_SECRET_ACCESS_KEY"), "SPACES_SECRET_ACCESS_KEY is not set"))
    return { access_key = s.stringData.ACCESS_KEY_ID, created = onboarding.ensure_secret(kc, s), scoped = false }
  end
  if current then
    local id = k8s.secret_data(current).ACCESS_KEY_ID
    if dc:spaces_key(id) then return { access_key = id, created = false, scoped = true } end
  end
  local before = {}
  for _, id in ipairs(keys_named(dc, key_name(t))) do before[id] = true end
  local key, err = dc:create_spaces_key { name = key_name(t),
    grants = { { bucket = bucket, permission = "readwrite" } } }
  if not key then
    -- a create whose answer was lost may still have made the key: remove it so no key is left unaccounted for
    for _, id in ipairs(keys_named(dc, key_name(t))) do
      if not before[id] then dc:delete_spaces_key(id) end
    end
    error(err, 0)
  end
  local secret = tenant.spaces_secret(t, key.access_key, key.secret_key)
  local ok, apply_err = kc:apply(secret, { field_manager = "alaris", force = true })
  if not ok then
    dc:delete_spaces_key(key.access_key)
    error(apply_err, 0)
  end
  return { access_key = key.access_key, created = true, scoped = true }
end

-- ---- addresses for the NetworkPolicies ----

local function resolve(host)
  if host:match("^%d+%.%d+%.%d+%.%d+$") then return host end
  local r = process.run({ "getent", "ahostsv4", host }, {}, 10)
  local ip = r and r.stdout and r.stdout:match("^(%d+%.%d+%.%d+%.%d+)")
  return must(ip, "cannot resolve " .. host)
end

local function host_port(url)
  local host = tostring(url):match("^%a+://%[?([^/:%]]+)")
  return resolve(must(host, "not a URL: " .. tostring(url))), tenant.endpoint_port(url)
end

function onboarding.addresses(kc)
  local s_ip, s_port = host_port(onboarding.endpoint())
  local a_ip, a_port = host_port(kc.server)
  return { object_storage = { ip = s_ip, port = s_port }, api_server = { ip = a_ip, port = a_port } }
end

-- ---- many tenants ----

local function self_exe()
  local r = process.run({ "readlink", "/proc/" .. require("alaris.journal").pid() .. "/exe" }, {}, 10)
  return os.getenv("ALARIS_RUN") or (r and r.stdout and r.stdout:gsub("%s+$", ""))
end

-- Runs `file` once per tenant as a child run of its own (its own journal, lock and rollback), `concurrency` at a
-- time. options: flags for each child, and `journal` (the parent's: each child's goes beside it). Returns
-- {tenant, code} per tenant, in order.
function onboarding.run_each(file, tenants, given, options, concurrency)
  local playbook = require "alaris.playbook"
  local exe = must(self_exe(), "cannot find the alaris-run executable")
  return playbook.for_each(tenants, { concurrency = concurrency }, function(t)
    local argv = { exe }
    for _, o in ipairs(options) do argv[#argv + 1] = o end
    if options.journal then -- beside the parent's, one per tenant
      argv[#argv + 1], argv[#argv + 2] = "--journal", options.journal:gsub("%.jsonl$", "") .. "--tenant=" .. t .. ".jsonl"
    end
    argv[#argv + 1] = file
    for k, v in pairs(given) do
      if k ~= "tenants" and k ~= "concurrency" then argv[#argv + 1] = k .. "=" .. v end
    end
    argv[#argv + 1] = "tenant=" .. t
    local r, err = process.run(argv, {}, 7200)
    local code = r and (r.status or 128 + (r.signal or 0)) or 1
    local text = r and ((r.stdout or "") .. (r.stderr or "")) or tostring(err)
    for line in text:gmatch("[^\n]+") do log.info(line, { tenant = t }) end
    return { tenant = t, code = code }
  end)
end

return onboarding
