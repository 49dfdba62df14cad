-- playbooks/onboard.lua against the lab: bad input and a held Lease stop it with exit 2 before anything exists; a
-- failure injected into each step's API calls (the lab's fault rules) leaves nothing of the tenant; the Cluster
-- wait's timeout names the object, its conditions and its Events; a run succeeds, a second one changes no
-- resourceVersion, and the generated passwords appear in no output, journal or report. Until the lab plays the
-- CloudNativePG operator, tests/lab/support/cnpg_ready.lua writes the Cluster's Ready status (no smoke check then).
local T = require "testing"
local json = require "alaris.json"
local digitalocean = require "alaris.digitalocean"
local http = require "alaris.http"
local k8s = require "alaris.k8s"
local s3 = require "alaris.s3"

local RUN = T.alaris_run
local APP_IMAGE = "registry.example/alaris/tenant-app:1"

local function admin(method, path, body)
  local resp = assert(http.request { method = method, url = os.getenv("LAB_ADMIN_URL") .. path,
    headers = { Authorization = "Bearer " .. os.getenv("LAB_ADMIN_TOKEN"), ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  assert(resp.status < 300, resp.body)
end

-- Pods of an image the lab cannot run stay Pending: a test that never waits for the app deletes them at once.
local IDLE_IMAGE = "registry.example/alaris/not-run-by-the-lab:1"

local function onboard(dir, args, options, image)
  return T.run(string.format("%s %s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s smoke=no %s", RUN,
    options or "", dir, image or APP_IMAGE, args))
end

-- The stand-in operator for the tenant's namespace, stopped by calling or closing (<close>) what it returns.
local function operator(namespace)
  local pidfile = T.tmpdir() .. "/pid"
  os.execute(string.format("%s tests/lab/support/cnpg_ready.lua %s >/dev/null 2>&1 & echo $! > %s", RUN, namespace,
    pidfile))
  local pid = T.read_file(pidfile):match("%d+")
  local function stop() os.execute("kill " .. pid .. " 2>/dev/null") end
  return setmetatable({}, { __call = stop, __close = stop })
end

local kc = assert(k8s.client())

-- Nothing of tenant t: no namespace (or one being deleted), no bucket, no Spaces key, no Lease.
local function nothing_left(t)
  local ns = kc:get("v1", "Namespace", t)
  T.ok(ns == nil or ns.metadata.deletionTimestamp ~= nil, "namespace " .. t .. " is gone")
  local _, berr = assert(s3.client()):head_bucket("alaris-" .. t .. "-backups")
  T.ok(berr, "bucket of " .. t .. " is gone")
  local dc = assert(digitalocean.client())
  for _, key in ipairs(assert(dc:spaces_keys { name = "alaris-" .. t })) do
    T.ok(key.name ~= "alaris-" .. t, "no Spaces key alaris-" .. t .. " is left")
  end
  T.eq(kc:get("coordination.k8s.io/v1", "Lease", "alaris-lock-" .. t, "default"), nil, "the Lease was released")
end

-- A tenant a test onboarded is deleted without waiting, so its app's processes do not burden the suites after, and
-- its keys revoked (the lab keeps them across `lab down`/`up`). fresh() does it waiting, before a test.
local function forget_one(t, wait)
  kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = t } }, { wait = wait, timeout = 120 })
  local dc = assert(digitalocean.client())
  for _, key in ipairs(assert(dc:spaces_keys { name = "alaris-" .. t })) do
    if key.name == "alaris-" .. t then assert(dc:delete_spaces_key(key.access_key)) end
  end
end

local function forget(...)
  for _, t in ipairs { ... } do forget_one(t, false) end
end

local function fresh(t)
  forget_one(t, true)
  return t
end

local function one_line(text)
  return text:gsub("\n$", ""):find("\n") == nil
end

T.test("bad input: exit 2, one line, nothing created", function()
  assert(kc:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-not-ours" } })
  local cases = {
    { "tenant=Tenant-A", "not a DNS label" }, { "tenant=a.b", "not a DNS label" }, { "tenant=..", "not a DNS label" },
    { "tenant=" .. string.rep("a", 41), "at most 40" }, { "tenant=", "needs a name" },
    { "tenant=kube-system", "system namespace" }, { "tenant=pb-not-ours", "not a tenant alaris made" },
    { "tenant=pb-bad-image app_image=Not//An:Image:", "not an image reference" },
    { "tenants=pb-ok,Bad", "not a DNS label" },
  }
  for _, case in ipairs(cases) do
    local out, err, code = T.run(string.format("%s --journal %s/j.jsonl playbooks/onboard.lua %s", RUN, T.tmpdir(),
      case[1]))
    T.eq(code, 2, case[1] .. ": " .. out .. err)
    T.contains(err, case[2], case[1])
    T.ok(one_line(err), case[1] .. ": one line: " .. err)
  end
  local _, err, code = T.run(string.format("SPACES_ENDPOINT=http://127.0.0.1:1 %s --journal %s/j.jsonl "
    .. "playbooks/onboard.lua tenant=pb-no-endpoint", RUN, T.tmpdir()))
  T.eq(code, 2, err)
  T.contains(err, "does not answer")
  nothing_left("pb-no-endpoint")
  nothing_left("pb-bad-image")
  T.ok(kc:get("v1", "Namespace", "pb-not-ours"), "a namespace alaris does not own is left alone")
end)

T.test("--dry-run changes nothing and says, per object, what would be created", function()
  local out, err, code = onboard(T.tmpdir(), "tenant=pb-dry-run", "--dry-run")
  T.eq(code, 0, out .. err)
  for _, line in ipairs { "create Namespace pb-dry-run", "create bucket alaris-pb-dry-run-backups",
    "create Cluster pb-dry-run/pg-pb-dry-run", "create NetworkPolicy pb-dry-run/db-egress" } do
    T.contains(out, line)
  end
  nothing_left("pb-dry-run")
end)

T.test("a Lease held by another run: exit 2 with one line naming the holder, nothing created", function()
  local lock = require "alaris.lock"
  local l <close> = assert(lock.acquire(kc, "pb-locked", { identity = "ci-runner-7 pid 4121" }))
  local _, err, code = onboard(T.tmpdir(), "tenant=pb-locked")
  T.eq(code, 2, err)
  T.contains(err, "ci-runner-7 pid 4121")
  T.ok(one_line(err), err)
  T.eq(kc:get("v1", "Namespace", "pb-locked"), nil)
end)

T.test("the Cluster wait times out naming the Cluster, its conditions and Events, and rolls everything back", function()
  local out, err, code = onboard(T.tmpdir(), "tenant=pb-timeout wait_timeout=2", nil, IDLE_IMAGE)
  T.eq(code, 1, out .. err)
  T.contains(out, "timed out after 2s waiting for Cluster pb-timeout/pg-pb-timeout to be Ready")
  T.contains(out, "conditions:")
  T.contains(out, "latest events:")
  nothing_left("pb-timeout")
end)

-- Each step's API call refused (403: not retried by the clients; the step's own retries meet it again).
local FAULTS = {
  { "namespace", "k8s", "PATCH", "^/api/v1/namespaces/%s$" },
  { "bucket", "s3", "PUT", "^/alaris-%s-backups/?$" },
  { "spaces-key", "do", "POST", "^/v2/spaces/keys" },
  { "database-passwords", "k8s", "POST", "^/api/v1/namespaces/%s/secrets$" },
  { "object-store", "k8s", "PATCH", "/namespaces/%s/objectstores/" },
  { "cluster", "k8s", "PATCH", "/namespaces/%s/clusters/" },
  { "scheduled-backup", "k8s", "PATCH", "/namespaces/%s/scheduledbackups/" },
  { "app", "k8s", "PATCH", "/namespaces/%s/deployments/" },
  { "services", "k8s", "PATCH", "/namespaces/%s/services/.*-internal$" },
  { "network-policies", "k8s", "PATCH", "/namespaces/%s/networkpolicies/db-egress$" },
}

T.test("a failure injected in each step leaves nothing of the tenant", function()
  for i, f in ipairs(FAULTS) do
    local t = "pb-fault-" .. i
    local stop <close> = operator(t)
    admin("POST", "/faults", { target = f[2], method = f[3], path = f[4]:format(t), status = 403 })
    local out, err, code = onboard(T.tmpdir(), "tenant=" .. t .. " wait_timeout=30", nil, IDLE_IMAGE)
    admin("DELETE", "/faults")
    stop()
    T.eq(code, 1, f[1] .. ": " .. out .. err)
    T.contains(out, "] " .. f[1] .. " ", f[1])
    T.contains(out, "failed; completed steps rolled back", f[1])
    nothing_left(t)
  end
end)

local function versions(t)
  local seen = {}
  for _, kind in ipairs { { "v1", "Secret" }, { "v1", "Service" }, { "apps/v1", "Deployment" },
    { "networking.k8s.io/v1", "NetworkPolicy" }, { "postgresql.cnpg.io/v1", "Cluster" },
    { "barmancloud.cnpg.io/v1", "ObjectStore" }, { "postgresql.cnpg.io/v1", "ScheduledBackup" } } do
    for _, o in ipairs(assert(kc:list_all(kind[1], kind[2], t))) do
      seen[kind[2] .. "/" .. o.metadata.name] = o.metadata.resourceVersion
    end
  end
  return seen
end

T.test("onboarding succeeds, a second run changes nothing, the passwords are in no output, journal or report", function()
  local t = fresh("pb-ok")
  local stop <close> = operator(t)
  local dir = T.tmpdir()
  local out, err, code = onboard(dir, "tenant=" .. t .. " wait_timeout=60", "--output json")
  T.eq(code, 0, out .. err)
  T.eq(json.decode(out).result, "ok")
  local ns = assert(kc:get("v1", "Namespace", t))
  T.eq(ns.metadata.labels.tenant, t)
  local svc = assert(kc:get("v1", "Service", t .. "-public", t))
  T.ok(svc.status.loadBalancer.ingress[1].ip, "the LB has an address")
  T.eq(#assert(kc:list_all("networking.k8s.io/v1", "NetworkPolicy", t)), 7)
  local creds = k8s.secret_data(assert(kc:get("v1", "Secret", "spaces-credentials", t)))
  local key = assert(assert(digitalocean.client()):spaces_key(creds.ACCESS_KEY_ID))
  T.eq(#key.grants, 1)
  T.eq(key.grants[1].bucket, "alaris-" .. t .. "-backups")
  T.eq(key.grants[1].permission, "readwrite")
  local before = versions(t)
  local out2, err2, code2 = onboard(T.tmpdir(), "tenant=" .. t .. " wait_timeout=60")
  stop()
  T.eq(code2, 0, out2 .. err2)
  T.not_contains(out2, " created, 1 changed")
  T.eq(versions(t), before, "no resourceVersion moved")
  local journal = T.read_file(dir .. "/journal.jsonl")
  for _, name in ipairs { "pg-" .. t .. "-app-secret", "pg-" .. t .. "-superuser-secret" } do
    local password = k8s.secret_data(assert(kc:get("v1", "Secret", name, t))).password
    T.eq(#password, 32)
    for _, text in ipairs { out, err, out2, err2, journal } do T.not_contains(text, password, name) end
  end
  for _, text in ipairs { out, err, journal } do T.not_contains(text, creds.SECRET_ACCESS_KEY, "the Spaces secret") end
  forget(t)
end)

T.test("kill -9 at a random moment, then --rollback leaves nothing; again, then --resume finishes", function()
  math.randomseed(os.time())
  for _, mode in ipairs { "--rollback", "--resume" } do
    local t = fresh("pb-kill" .. (mode == "--resume" and "-resume" or ""))
    local stop <close> = operator(t)
    local dir = T.tmpdir()
    local delay = math.random() * 1.5 -- after the run has started (its journal exists)
    local image = mode == "--rollback" and IDLE_IMAGE or APP_IMAGE
    T.run(string.format("%s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s smoke=no tenant=%s "
      .. "wait_timeout=60 >/dev/null 2>&1 & i=0; while [ ! -s %s/journal.jsonl ] && [ $i -lt 200 ]; do sleep 0.05; "
      .. "i=$((i+1)); done; sleep %.2f; kill -9 $!", RUN, dir, image, t, dir, delay))
    local out, err, code = onboard(dir, "tenant=" .. t .. " wait_timeout=60", mode, image)
    stop()
    T.eq(code, 0, string.format("%s after %.2fs: %s%s", mode, delay, out, err))
    if mode == "--rollback" then nothing_left(t) else T.ok(kc:get("v1", "Service", t .. "-public", t)); forget(t) end
  end
end)

T.test("two concurrent runs on one tenant: one exits 2 naming the holder", function()
  local t = fresh("pb-twice")
  local stop <close> = operator(t)
  local a, b = T.tmpdir(), T.tmpdir()
  local cmd = "%s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s smoke=no tenant=%s wait_timeout=60 "
    .. ">%s/out 2>&1; echo $? > %s/code"
  T.run(string.format("(" .. cmd .. ") & (" .. cmd .. "); wait", RUN, a, APP_IMAGE, t, a, a, RUN, b, APP_IMAGE, t, b, b))
  stop()
  local codes = { tonumber(T.read_file(a .. "/code")), tonumber(T.read_file(b .. "/code")) }
  table.sort(codes)
  T.eq(codes, { 0, 2 })
  local loser = tonumber(T.read_file(a .. "/code")) == 2 and a or b
  T.contains(T.read_file(loser .. "/out"), "is locked by")
  forget(t)
end)

T.test("tenants=a,b,c with one failing: that one is undone, the others onboarded, each named", function()
  for _, t in ipairs { "pb-many-a", "pb-many-b", "pb-many-c" } do fresh(t) end
  local a <close> = operator("pb-many-a")
  local b <close> = operator("pb-many-b")
  local c <close> = operator("pb-many-c")
  admin("POST", "/faults", { target = "k8s", method = "PATCH", path = "/namespaces/pb-many-b/clusters/", status = 403 })
  local out, err, code = onboard(T.tmpdir(), "tenants=pb-many-a,pb-many-b,pb-many-c concurrency=3 wait_timeout=60")
  admin("DELETE", "/faults")
  T.eq(code, 1, out .. err)
  T.contains(out .. err, "tenant pb-many-a: ok")
  T.contains(out .. err, "tenant pb-many-b: failed")
  T.contains(out .. err, "tenant pb-many-c: ok")
  T.contains(out, "1 of 3 tenants failed: pb-many-b")
  nothing_left("pb-many-b")
  T.ok(kc:get("v1", "Service", "pb-many-a-public", "pb-many-a"))
  T.ok(kc:get("v1", "Service", "pb-many-c-public", "pb-many-c"))
  forget("pb-many-a", "pb-many-c")
end)

T.test("10% of API calls failing transiently: onboarding succeeds with no duplicate objects or keys", function()
  local t = fresh("pb-flaky")
  local stop <close> = operator(t)
  for _, target in ipairs { "k8s", "do", "s3" } do
    admin("POST", "/faults", { target = target, status = 503, probability = 0.05 })
    admin("POST", "/faults", { target = target, drop = true, probability = 0.05 })
  end
  local out, err, code = onboard(T.tmpdir(), "tenant=" .. t .. " wait_timeout=60")
  admin("DELETE", "/faults")
  stop()
  T.eq(code, 0, out .. err)
  T.eq(#assert(assert(digitalocean.client()):spaces_keys { name = "alaris-" .. t }), 1, "one Spaces key")
  T.eq(#assert(kc:list_all("v1", "Secret", t)), 3)
  T.eq(#assert(kc:list_all("apps/v1", "Deployment", t)), 1)
  forget(t)
end)

T.run_all()
