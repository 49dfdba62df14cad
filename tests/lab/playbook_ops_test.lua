-- playbooks/bootstrap-ops.lua on the lab: the ops objects made, the role proven read-only by SubjectAccessReviews
-- (and the run failing when the ServiceAccount can write), a second run changing nothing, --dry-run changing
-- nothing, a failure injected at each step leaving only what existed before, bad input refused.
local T = require "testing"
local L = require "playbook_lab"
local k8s = require "alaris.k8s"
local operators = require "alaris.operators"

local kc = assert(k8s.client())

local function objects() return operators.ops_objects() end

T.test("bad input exits 2 with one line and does nothing", function()
  local before = L.snapshot(kc, objects())
  for _, args in ipairs { "psql_image='Bad Image'", "wait_timeout=soon", "nope=1" } do
    local out, err, code = L.run("bootstrap-ops", args)
    T.eq(code, 2, args .. ": " .. out .. err)
    L.one_line(err)
  end
  L.same(before, L.snapshot(kc, objects()), true)
end)

T.test("--dry-run names each object and changes nothing", function()
  local before = L.snapshot(kc, objects())
  local out, err, code = L.run("bootstrap-ops", "", "--dry-run")
  T.eq(code, 0, out .. err)
  for _, obj in ipairs(objects()) do T.contains(out, obj.kind .. " ") end
  T.contains(out, "psql-client")
  L.same(before, L.snapshot(kc, objects()), true)
end)

-- Starts from no ops objects, so each rollback has everything to undo.
local function remove_ops()
  local objs = objects()
  for i = #objs, 1, -1 do kc:delete(objs[i], { wait = true, timeout = 120 }) end
end

local STEPS = { "objects", "psql%-client%-available", "prove%-read%-only" }

T.test("a failure at each step leaves only what existed before", function()
  remove_ops()
  local faults = {
    { target = "k8s", method = "PATCH", path = "clusterrolebindings/alaris-ops-reader$", status = 403, count = 5 },
    { target = "k8s", method = "GET", path = "^/apis/apps/v1/namespaces/ops/deployments$", status = 403, count = 50 },
    { target = "k8s", method = "POST", path = "subjectaccessreviews$", status = 403, count = 5 },
  }
  for i, rule in ipairs(faults) do
    local before = L.snapshot(kc, objects())
    local out, err, code = L.with_fault(rule, function() return L.run("bootstrap-ops", "wait_timeout=20") end)
    T.eq(code, 1, "fault " .. i .. ": " .. out .. err)
    T.ok(out:find(STEPS[i] .. " %.+ failed"), "step " .. STEPS[i] .. " failed: " .. out)
    L.same(before, L.snapshot(kc, objects()))
    T.eq(L.count(before), 0)
  end
end)

T.test("the run makes the objects and proves ops-reader read-only; a second run changes nothing", function()
  local out, err, code = L.run("bootstrap-ops", "wait_timeout=120")
  T.eq(code, 0, out .. err)
  T.contains(err, "ops-reader is read-only")
  local first = L.snapshot(kc, objects())
  T.eq(L.count(first), 5)
  local role = assert(kc:get("rbac.authorization.k8s.io/v1", "ClusterRole", operators.OPS_ROLE))
  T.eq(role.metadata.managedFields[1].manager, "alaris")
  local out2, err2, code2 = L.run("bootstrap-ops", "wait_timeout=120")
  T.eq(code2, 0, out2 .. err2)
  T.contains(err2, "no change")
  L.same(first, L.snapshot(kc, objects()), true)
end)

T.test("a run whose objects existed rolls back only what it made itself", function()
  local dep = objects()[5]
  assert(kc:delete(dep, { wait = true }))
  local kept = L.snapshot(kc, { objects()[1], objects()[2], objects()[3], objects()[4] })
  T.eq(L.count(kept), 4)
  local out, err, code = L.with_fault({ target = "k8s", method = "POST", path = "subjectaccessreviews$", status = 403,
    count = 5 }, function() return L.run("bootstrap-ops", "wait_timeout=120") end)
  T.eq(code, 1, out .. err)
  L.same(kept, L.snapshot(kc, objects()))
  T.eq(kc:get(dep), nil, "the Deployment this run made was deleted")
end)

T.test("the proof fails the run when ops-reader can write", function()
  local grant = { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
    metadata = { name = "test-ops-reader-can-edit" },
    roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "test-ops-writer" },
    subjects = { { kind = "ServiceAccount", name = "ops-reader", namespace = "ops" } } }
  local writer = { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole",
    metadata = { name = "test-ops-writer" },
    rules = { { apiGroups = { "" }, resources = { "configmaps", "secrets" }, verbs = { "get", "create" } } } }
  assert(kc:apply(writer, { field_manager = "test" }))
  assert(kc:apply(grant, { field_manager = "test" }))
  local out, err, code = L.run("bootstrap-ops", "wait_timeout=120")
  assert(kc:delete(grant))
  assert(kc:delete(writer))
  T.eq(code, 1, out .. err)
  T.contains(out .. err, "not read-only as intended")
  T.contains(out .. err, "allowed create configmaps")
  T.contains(out .. err, "allowed get secrets")
end)

T.run_all()
