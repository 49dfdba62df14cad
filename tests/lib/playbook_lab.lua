-- Helpers for the platform playbooks' lab suites (tests/lab/playbook_*_test.lua): running a playbook with its own
-- journal, the lab's admin fault rules, and snapshots of objects (uid and resourceVersion) to prove that a run
-- changed nothing, or that a rollback left exactly what existed before.
local T = require "testing"
local http = require "alaris.http"
local json = require "alaris.json"
local platform = require "alaris.platform"

local M = {}

function M.admin(method, path, body)
  local resp = assert(http.request { method = method, url = os.getenv("LAB_ADMIN_URL") .. path,
    headers = { Authorization = "Bearer " .. os.getenv("LAB_ADMIN_TOKEN"), ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  assert(resp.status < 300, resp.body)
  return resp.body ~= "" and json.decode(resp.body) or nil
end

-- Adds a fault rule for the duration of fn, then removes every rule.
function M.with_fault(rule, fn)
  M.admin("POST", "/faults", rule)
  local ok, a, b, c = pcall(fn)
  M.admin("DELETE", "/faults")
  if not ok then error(a, 0) end
  return a, b, c
end

-- Runs `alaris-run [options] playbooks/NAME.lua ARGS` with a journal in a fresh folder; returns out, err, code.
function M.run(name, args, options)
  local dir = T.tmpdir()
  return T.run(string.format("%s --journal %s/journal.jsonl %s playbooks/%s.lua %s", T.alaris_run, dir,
    options or "", name, args or ""))
end

-- ---- tenants, for the onboard and offboard suites ----

M.APP_IMAGE = "registry.example/alaris/tenant-app:1" -- the lab runs app/server.js for a repository ending in tenant-app
-- Pods of an image the lab cannot run stay Pending: a test that never waits for the app deletes them at once.
M.IDLE_IMAGE = "registry.example/alaris/not-run-by-the-lab:1"

-- Runs playbooks/onboard.lua with its journal in `dir`: one PostgreSQL instance and no smoke check unless `args`
-- says otherwise (a var given twice: the last one counts).
function M.onboard(dir, args, options, image)
  return T.run(string.format("%s %s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s instances=1 "
    .. "smoke=no %s", T.alaris_run, options or "", dir, image or M.APP_IMAGE, args))
end

-- Asserts nothing of tenant t is left: no namespace (or one being deleted), no bucket, no Spaces key, no Lease.
function M.nothing_left(kc, t)
  local onboarding = require "alaris.onboarding"
  local ns = kc:get("v1", "Namespace", t)
  T.ok(ns == nil or ns.metadata.deletionTimestamp ~= nil, "namespace " .. t .. " is gone")
  local _, berr = onboarding.spaces():head_bucket(onboarding.bucket_name({}, t))
  T.ok(berr, "bucket of " .. t .. " is gone")
  for _, key in ipairs(assert(assert(onboarding.digitalocean()):spaces_keys { name = onboarding.key_name(t) })) do
    T.ok(key.name ~= onboarding.key_name(t), "no Spaces key " .. onboarding.key_name(t) .. " is left")
  end
  T.eq(kc:get("coordination.k8s.io/v1", "Lease", "alaris-lock-" .. t, "default"), nil, "the Lease was released")
end

-- Removes what a lab test left of tenant t: its namespace (waited until gone with `wait`), its Spaces keys (the lab
-- keeps them across `lab down`/`up`) and, with `wait` (nothing of the tenant runs any more to write into it), its
-- bucket: a new Cluster's WAL archive must start empty, as barman-cloud checks.
function M.forget_tenant(kc, t, wait)
  local onboarding = require "alaris.onboarding"
  kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = t } }, { wait = wait, timeout = 180 })
  local dc = assert(onboarding.digitalocean())
  for _, key in ipairs(assert(dc:spaces_keys { name = onboarding.key_name(t) })) do
    if key.name == onboarding.key_name(t) then assert(dc:delete_spaces_key(key.access_key)) end
  end
  if wait then onboarding.empty_and_delete_bucket(onboarding.spaces(), onboarding.bucket_name({}, t)) end
end

-- Tenants a test onboarded are deleted without waiting, so their app's and PostgreSQL's processes do not burden the
-- suites after, and their keys revoked.
function M.forget(kc, ...)
  for _, t in ipairs { ... } do M.forget_tenant(kc, t, false) end
end

-- Before a test: what an earlier run left of tenant t is removed, waiting, its bucket included; returns t.
function M.fresh(kc, t)
  M.forget_tenant(kc, t, true)
  return t
end

-- Installs the operators with playbooks/operators.lua (changing nothing when they are there) and waits until they
-- are Available: until then the lab's CloudNativePG leaves Clusters and Backups as they were stored.
function M.install_operators()
  local out, err, code = M.run("operators", "wait_timeout=300")
  assert(code == 0, "playbooks/operators.lua: " .. out .. err)
end

local function key(obj)
  return string.format("%s/%s/%s/%s", obj.apiVersion, obj.kind, obj.metadata.namespace or "", obj.metadata.name)
end

-- {key -> {uid, rv}} for the objects that exist (a terminating object counts as gone).
function M.snapshot(kc, objects)
  local snap = {}
  for _, obj in ipairs(objects) do
    local live = platform.live(kc, obj)
    if live and not live.metadata.deletionTimestamp then
      snap[key(obj)] = { uid = live.metadata.uid, rv = live.metadata.resourceVersion }
    end
  end
  return snap
end

-- Asserts two snapshots list the same objects (same uid); with `same_rv`, also the same resourceVersions.
function M.same(before, after, same_rv)
  for k, v in pairs(before) do
    T.ok(after[k], "existed before and must still exist: " .. k)
    T.eq(after[k].uid, v.uid, "the same object (uid) " .. k)
    if same_rv then T.eq(after[k].rv, v.rv, "resourceVersion of " .. k) end
  end
  for k in pairs(after) do T.ok(before[k], "created by the run and left behind: " .. k) end
end

function M.count(snap)
  local n = 0
  for _ in pairs(snap) do n = n + 1 end
  return n
end

-- Asserts that stderr holds exactly one line.
function M.one_line(err)
  local text = err:gsub("\n$", "")
  T.ok(text ~= "" and not text:find("\n"), "one line on stderr, got: " .. err)
end

return M
