-- playbooks/grade.lua on the lab: the operators, ops and two tenants onboarded for real (instances=1) with a backup
-- each; grade passes every check and leaves nothing behind. Then one fault at a time, each undone after its case:
-- a tenant's NetworkPolicies removed (the probe and the static proof both FAIL), pods/exec granted to the ops role,
-- backups stale and missing (every Backup failed), the public endpoint down, the internal port reachable through the LB (each FAIL naming
-- the check and its evidence); a tenant that does not exist and a Service without an LB address are ERRORs (exit
-- 1, never a pass). The run's time is printed per case (the machine has two cores).
local T = require "testing"
local L = require "playbook_lab"
local alaris = require "alaris"
local backup = require "alaris.backup"
local cnpg = require "alaris.cnpg"
local json = require "alaris.json"
local k8s = require "alaris.k8s"
local ob = require "alaris.onboarding"
local playbook = require "alaris.playbook"
local tenant = require "alaris.tenant"

local kc = assert(k8s.client())
local A, B = "gr-a", "gr-b"
local TENANTS = A .. "," .. B
local RUN_LABEL = "alaris.dev/grade-run"
local started = alaris.now()

local function took(what, since)
  io.stderr:write(string.format("  [%s: %.0fs; suite %.0fs]\n", what, alaris.now() - since, alaris.now() - started))
end

-- grade with the table on stdout; returns stdout, stderr and the exit code.
local function grade(args)
  local since = alaris.now()
  local out, err, code = T.run(string.format("%s playbooks/grade.lua tenants=%s settle=180 %s", T.alaris_run, TENANTS,
    args))
  took("grade " .. args, since)
  return out, err, code
end

local function grade_json(args)
  local since = alaris.now()
  local out, err, code = T.run(string.format("%s playbooks/grade.lua tenants=%s settle=180 %s --output json",
    T.alaris_run, TENANTS, args))
  took("grade " .. args, since)
  local ok, doc = pcall(json.decode, out)
  T.ok(ok and type(doc) == "table", "grade --output json printed one document: " .. out .. err)
  return doc, code, err
end

-- The result of check `name` for tenant `t` in a JSON document.
local function result(doc, name, t)
  for _, c in ipairs(doc.checks) do
    if c.name == name and c.tenant == t then return c end
  end
  error("no result for " .. name .. "/" .. t)
end

local function expect(doc, name, t, status, evidence)
  local r = result(doc, name, t)
  T.eq(r.status, status, name .. "/" .. t .. ": " .. r.evidence)
  if evidence then T.contains(r.evidence, evidence, name .. "/" .. t) end
  return r
end

local function left_by_grade()
  local left = {}
  for _, kind in ipairs { { "v1", "Pod" }, { "postgresql.cnpg.io/v1", "Cluster" },
    { "networking.k8s.io/v1", "NetworkPolicy" } } do
    for _, obj in ipairs(assert(kc:list_all(kind[1], kind[2], nil, { label_selector = RUN_LABEL }))) do
      if not obj.metadata.deletionTimestamp then left[#left + 1] = kind[2] .. " " .. obj.metadata.name end
    end
  end
  return left
end

T.test("set-up: operators, ops, two tenants onboarded (one instance each), a backup each", function()
  local since = alaris.now()
  L.fresh(kc, A) -- the lab keeps buckets: a new Cluster must not find the last run's WAL ("Expected empty archive")
  L.fresh(kc, B)
  L.install_operators()
  local out, err, code = L.run("bootstrap-ops", "wait_timeout=300")
  T.eq(code, 0, out .. err)
  out, err, code = L.run("onboard", "tenants=" .. TENANTS .. " instances=1 wait_timeout=600 "
    .. "app_image=registry.example/alaris/tenant-app:1")
  T.eq(code, 0, out .. err)
  took("onboarding", since)
  since = alaris.now()
  playbook.for_each({ A, B }, {}, function(t) assert(backup.take(kc, t, { timeout = 900 })) end)
  took("backups", since)
end)

T.test("grade passes every check of both tenants, and leaves nothing of its own", function()
  local junit = T.tmpdir() .. "/grade.xml"
  local out, err, code = grade("drill_timeout=1500 --junit " .. junit)
  T.eq(code, 0, out .. err)
  T.contains(out, "26 passed, 0 failed, 0 errors, 0 skipped")
  for _, name in ipairs { "isolation-proof", "cross-tenant", "dr-drill", "pitr", "backups-fresh" } do
    T.ok(out:find("\nPASS +" .. name:gsub("%-", "%%-") .. " +" .. A:gsub("%-", "%%-")), name .. ": " .. out)
  end
  local xml = T.read_file(junit)
  T.contains(xml, 'tests="26" failures="0" errors="0" skipped="0"')
  T.eq(left_by_grade(), {}, "probe pods, restored Clusters and their policies are gone")
end)

T.test("a tenant's NetworkPolicies removed: the probe and the static proof both FAIL, naming what opened", function()
  local policies = assert(kc:list_all("networking.k8s.io/v1", "NetworkPolicy", B))
  T.ok(#policies >= 7, "the tenant has its policies")
  for _, p in ipairs(policies) do assert(kc:delete(p)) end
  local doc, code = grade_json("only=cross-tenant/" .. B .. ",isolation-proof/" .. B)
  for _, p in ipairs(tenant.network_policies(B, ob.addresses(kc))) do assert(kc:apply(p, { field_manager = "alaris" })) end
  T.eq(code, 1)
  expect(doc, "cross-tenant", B, "FAIL", "opened from outside it")
  expect(doc, "cross-tenant", B, "FAIL", "default -> " .. B .. "/pg-" .. B .. "-1:5432")
  expect(doc, "isolation-proof", B, "FAIL", "expected denied: ")
  expect(doc, "isolation-proof", B, "FAIL", B .. "/")
  T.eq(doc.summary.skipped, 24)
end)

T.test("the ops role gains pods/exec: ops-read-only FAILs naming it", function()
  local role = { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole", metadata = { name = "test-grade-exec" },
    rules = { { apiGroups = { "" }, resources = { "pods/exec" }, verbs = { "create", "get" } } } }
  local binding = { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRoleBinding",
    metadata = { name = "test-grade-exec" },
    roleRef = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "test-grade-exec" },
    subjects = { { kind = "ServiceAccount", name = "ops-reader", namespace = "ops" } } }
  assert(kc:apply(role, { field_manager = "test" }))
  assert(kc:apply(binding, { field_manager = "test" }))
  local doc, code = grade_json("only=ops-read-only")
  assert(kc:delete(binding))
  assert(kc:delete(role))
  T.eq(code, 1)
  expect(doc, "ops-read-only", A, "FAIL", "allowed create pods/exec")
  expect(doc, "ops-read-only", B, "FAIL", "allowed create pods/exec")
end)

local function set_stopped(b, when)
  assert(kc:patch(b, { status = { stoppedAt = when } }, "merge", { subresource = "status" }))
end

-- The tenant's completed Backups (at least one).
local function completed_backups(t)
  local completed = {}
  for _, b in ipairs(assert(kc:list_all("postgresql.cnpg.io/v1", "Backup", t))) do
    if b.status and b.status.phase == "completed" then completed[#completed + 1] = b end
  end
  T.ok(#completed > 0, "a completed Backup of " .. t)
  return completed
end

T.test("backups stale: backups-fresh FAILs with the newest Backup's age", function()
  local completed = completed_backups(A)
  local old = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 20 * 3600)
  for _, b in ipairs(completed) do set_stopped(b, old) end
  local doc, code = grade_json("only=backups-fresh/" .. A)
  for _, b in ipairs(completed) do set_stopped(b, b.status.stoppedAt) end
  T.eq(code, 1)
  expect(doc, "backups-fresh", A, "FAIL", "finished 20.0 h ago (limit 13.0 h)")
end)

T.test("the public endpoint down (the app scaled to 0): public-endpoint FAILs naming the URL", function()
  local dep = { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = A .. "-app", namespace = A } }
  assert(kc:patch(dep, { spec = { replicas = 0 } }))
  for _ = 1, 120 do -- until no pod of the app is left, terminating ones included (they still answer)
    if #assert(kc:list_all("v1", "Pod", A, { label_selector = "app=" .. A .. "-app" })) == 0 then break end
    alaris.sleep(1)
  end
  local doc, code = grade_json("only=public-endpoint/" .. A)
  assert(kc:patch(dep, { spec = { replicas = 2 } }))
  assert(cnpg.wait_available(kc, A, A .. "-app", 300))
  T.eq(code, 1)
  expect(doc, "public-endpoint", A, "FAIL", "/public")
end)

T.test("the internal port reachable through the LB: internal-not-public FAILs with what answered", function()
  local svc = assert(kc:get("v1", "Service", A .. "-public", A))
  local ports = svc.spec.ports
  local open = json.array {}
  for _, p in ipairs(ports) do open[#open + 1] = p end
  open[#open + 1] = { name = "internal", port = 9090, targetPort = 9090, protocol = "TCP" }
  assert(kc:patch(svc, { spec = { ports = open } }))
  local allow = { apiVersion = "networking.k8s.io/v1", kind = "NetworkPolicy",
    metadata = { name = "test-internal-from-anywhere", namespace = A },
    spec = { podSelector = { matchLabels = { app = A .. "-app" } }, policyTypes = { "Ingress" },
      ingress = { { from = { { ipBlock = { cidr = "0.0.0.0/0" } } }, ports = { { port = 9090, protocol = "TCP" } } } } } }
  assert(kc:apply(allow, { field_manager = "test" }))
  alaris.sleep(2) -- the node applies policy and Service changes within a second
  local doc, code = grade_json("only=internal-not-public/" .. A)
  assert(kc:delete(allow))
  assert(kc:patch(svc, { spec = { ports = ports } }))
  T.eq(code, 1)
  expect(doc, "internal-not-public", A, "FAIL", ":9090/internal answered 200")
end)

T.test("a tenant that does not exist: every one of its checks is an ERROR, exit 1", function()
  local out, err, code = T.run(string.format("%s playbooks/grade.lua tenants=%s,gr-missing only=gr-missing "
    .. "skip=dr-drill,pitr --output json", T.alaris_run, A))
  T.eq(code, 1, out .. err)
  local doc = json.decode(out)
  T.eq(doc.summary.errors, 11)
  T.eq(doc.summary.passed, 0)
  expect(doc, "db-smoke", "gr-missing", "ERROR", "tenant gr-missing does not exist")
end)

T.test("a Service without an LB address: public-endpoint and internal-not-public are ERRORs, exit 1", function()
  local svc = { apiVersion = "v1", kind = "Service", metadata = { name = B .. "-public", namespace = B } }
  assert(kc:patch(svc, { spec = { type = "ClusterIP" } }))
  local doc, code = grade_json("only=public-endpoint/" .. B .. ",internal-not-public/" .. B)
  assert(kc:patch(svc, { spec = { type = "LoadBalancer" } }))
  T.eq(code, 1)
  expect(doc, "public-endpoint", B, "ERROR", "has no load balancer address")
  expect(doc, "internal-not-public", B, "ERROR", "has no load balancer address")
  assert(cnpg.wait_lb_address(kc, B, B .. "-public", 120))
end)

T.test("backups missing (every Backup failed): backups-fresh FAILs saying there is no completed one", function()
  local completed = completed_backups(B)
  for _, b in ipairs(completed) do
    assert(kc:patch(b, { status = { phase = "failed", error = "test: the store refused" } }, "merge", { subresource = "status" }))
  end
  local doc, code = grade_json("only=backups-fresh/" .. B)
  for _, b in ipairs(completed) do
    assert(kc:patch(b, { status = { phase = "completed", error = json.null } }, "merge", { subresource = "status" }))
  end
  T.eq(code, 1)
  expect(doc, "backups-fresh", B, "FAIL", "no completed Backup of pg-" .. B)
end)

T.test("the tenants are removed", function()
  L.forget(kc, A, B)
  took("suite", started)
end)

T.run_all()
