-- playbooks/onboard.lua against the lab: bad input and a held Lease stop it with exit 2 before anything exists; the
-- Cluster wait's timeout names the object, its conditions and its Events; a run succeeds (the smoke check through
-- the load balancer and as the app user included), a second one changes nothing, and the generated passwords appear
-- in no output, journal or report; of two concurrent runs on one tenant, one exits 2. The Clusters become Ready for
-- real: the lab's CloudNativePG runs PostgreSQL 15 pods once the operators are installed (playbooks/operators.lua,
-- first), one instance per tenant to save CPU; the app runs for real (an image ending in tenant-app). Failures
-- injected in each step, kill -9, many tenants and transient API failures: playbook_onboard_faults_test.lua.
local T = require "testing"
local L = require "playbook_lab"
local json = require "alaris.json"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"
local platform = require "alaris.platform"

local RUN = T.alaris_run

-- A PostgreSQL image of another major version: the lab's CloudNativePG leaves its pod in ErrImagePull, so the
-- Cluster never becomes Ready.
local NEVER_READY_POSTGRES = "ghcr.io/cloudnative-pg/postgresql:16"

L.install_operators()

local kc = assert(k8s.client())

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
    L.one_line(err)
  end
  local _, err, code = T.run(string.format("SPACES_ENDPOINT=http://127.0.0.1:1 %s --journal %s/j.jsonl "
    .. "playbooks/onboard.lua tenant=pb-no-endpoint", RUN, T.tmpdir()))
  T.eq(code, 2, err)
  T.contains(err, "does not answer")
  L.nothing_left(kc, "pb-no-endpoint")
  L.nothing_left(kc, "pb-bad-image")
  T.ok(kc:get("v1", "Namespace", "pb-not-ours"), "a namespace alaris does not own is left alone")
end)

T.test("--dry-run changes nothing and says, per object, what would be created", function()
  local out, err, code = L.onboard(T.tmpdir(), "tenant=pb-dry-run", "--dry-run")
  T.eq(code, 0, out .. err)
  for _, line in ipairs { "create Namespace pb-dry-run", "create bucket alaris-pb-dry-run-backups",
    "create Cluster pb-dry-run/pg-pb-dry-run", "create NetworkPolicy pb-dry-run/db-egress" } do
    T.contains(out, line)
  end
  L.nothing_left(kc, "pb-dry-run")
end)

T.test("a Lease held by another run: exit 2 with one line naming the holder, nothing created", function()
  local lock = require "alaris.lock"
  local l <close> = assert(lock.acquire(kc, "pb-locked", { identity = "ci-runner-7 pid 4121" }))
  local _, err, code = L.onboard(T.tmpdir(), "tenant=pb-locked")
  T.eq(code, 2, err)
  T.contains(err, "ci-runner-7 pid 4121")
  L.one_line(err)
  T.eq(kc:get("v1", "Namespace", "pb-locked"), nil)
end)

T.test("the Cluster wait times out naming the Cluster, its conditions and Events, and rolls everything back", function()
  local out, err, code = L.onboard(T.tmpdir(), "tenant=pb-timeout wait_timeout=3 postgres_image="
    .. NEVER_READY_POSTGRES, nil, L.IDLE_IMAGE)
  T.eq(code, 1, out .. err)
  T.contains(out, "timed out after 3s waiting for Cluster pb-timeout/pg-pb-timeout to be Ready")
  T.contains(out, "conditions:")
  T.contains(out, "latest events:")
  L.nothing_left(kc, "pb-timeout")
end)

-- Kinds whose status a controller writes on its own time (the lab's CloudNativePG and barman-cloud, the Deployment
-- controller: a probe that times out on a loaded machine is enough), moving their resourceVersion with no run
-- involved. For them, what a run could change is compared: the generation (moved by every spec change), the labels
-- and the annotations; the run's own per-object check (its "0 changed") covers the rest.
local STATUS_WRITTEN = { Cluster = true, Deployment = true, ObjectStore = true, ScheduledBackup = true }

local function versions(t)
  local seen = {}
  for _, kind in ipairs { { "v1", "Secret" }, { "v1", "Service" }, { "apps/v1", "Deployment" },
    { "networking.k8s.io/v1", "NetworkPolicy" }, { "postgresql.cnpg.io/v1", "Cluster" },
    { "barmancloud.cnpg.io/v1", "ObjectStore" }, { "postgresql.cnpg.io/v1", "ScheduledBackup" } } do
    for _, o in ipairs(assert(kc:list_all(kind[1], kind[2], t))) do
      local m = o.metadata
      seen[kind[2] .. "/" .. m.name] = STATUS_WRITTEN[kind[2]]
        and { generation = m.generation, labels = m.labels or {}, annotations = m.annotations or {} }
        or m.resourceVersion
    end
  end
  return seen
end

T.test("onboarding succeeds, a second run changes nothing, the passwords are in no output, journal or report", function()
  -- A name of its own per run: the lab may keep a deleted Cluster's data directory, and a new Cluster of the same
  -- name would start on it with the old run's passwords (the smoke check's login then fails).
  local t = L.fresh(kc, string.format("pb-ok-%x", os.time() % 0x1000000))
  local dir = T.tmpdir()
  local out, err, code = L.onboard(dir, "tenant=" .. t .. " smoke=yes wait_timeout=300", "--output json")
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
  -- WAL reaches the tenant's bucket with its own key; once the operator has said so, it writes no more status.
  platform.wait_condition(kc, { apiVersion = "postgresql.cnpg.io/v1", kind = "Cluster",
    metadata = { name = "pg-" .. t, namespace = t } }, "ContinuousArchiving", 300)
  local before = versions(t)
  local out2, err2, code2 = L.onboard(T.tmpdir(), "tenant=" .. t .. " smoke=yes wait_timeout=300")
  T.eq(code2, 0, out2 .. err2)
  T.not_contains(out2, " created, 1 changed")
  for created, changed in (out2 .. err2):gmatch("(%d+) created, (%d+) changed") do
    T.eq(created .. "/" .. changed, "0/0", "the second run created or changed nothing")
  end
  T.eq(versions(t), before, "no resourceVersion moved")
  local journal = T.read_file(dir .. "/journal.jsonl")
  for _, name in ipairs { "pg-" .. t .. "-app-secret", "pg-" .. t .. "-superuser-secret" } do
    local password = k8s.secret_data(assert(kc:get("v1", "Secret", name, t))).password
    T.eq(#password, 32)
    for _, text in ipairs { out, err, out2, err2, journal } do T.not_contains(text, password, name) end
  end
  for _, text in ipairs { out, err, journal } do T.not_contains(text, creds.SECRET_ACCESS_KEY, "the Spaces secret") end
  L.forget(kc, t)
end)

T.test("two concurrent runs on one tenant: one exits 2 naming the holder", function()
  local t = L.fresh(kc, "pb-twice")
  local a, b = T.tmpdir(), T.tmpdir()
  local cmd = "%s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s instances=1 smoke=no tenant=%s "
    .. "wait_timeout=300 >%s/out 2>&1; echo $? > %s/code"
  T.run(string.format("(" .. cmd .. ") & (" .. cmd .. "); wait", RUN, a, L.APP_IMAGE, t, a, a, RUN, b, L.APP_IMAGE, t, b, b))
  local codes = { tonumber(T.read_file(a .. "/code")), tonumber(T.read_file(b .. "/code")) }
  table.sort(codes)
  T.eq(codes, { 0, 2 })
  local loser = tonumber(T.read_file(a .. "/code")) == 2 and a or b
  T.contains(T.read_file(loser .. "/out"), "is locked by")
  L.forget(kc, t)
end)

T.run_all()
