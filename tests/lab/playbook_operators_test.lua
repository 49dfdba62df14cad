-- playbooks/operators.lua on the lab: the vendored manifests applied server-side by field manager alaris, with the
-- barman-cloud release images pinned; CRDs Established; Deployments Available where the lab runs the operators'
-- images (lab/lib/cnpg), else a timeout naming the Deployment, its conditions and events; --dry-run and a second
-- run changing nothing; a failure injected in the first, the third and the last step leaving exactly what existed
-- before.
local T = require "testing"
local L = require "playbook_lab"
local k8s = require "alaris.k8s"
local operators = require "alaris.operators"
local platform = require "alaris.platform"

local kc = assert(k8s.client())
local DIR = operators.default_deploy_dir()
local APPLY_STEPS = "--only cert-manager,cloudnative-pg,barman-cloud"
local STATUS_WRITTEN = { Deployment = true, Certificate = true, Issuer = true }

-- Whether this lab runs the operators' images (their Deployments can become Available).
local function lab_runs_operators()
  return io.open("lab/lib/cnpg/operator.js") ~= nil
end

local function all_objects()
  local all = operators.cert_manager_crds(DIR)
  for _, obj in ipairs(operators.cloudnative_pg(DIR)) do all[#all + 1] = obj end
  for _, obj in ipairs(operators.barman_cloud(DIR)) do all[#all + 1] = obj end
  return all
end

T.test("bad input exits 2 with one line", function()
  for _, a in ipairs { "postgres_image='not an image'", "cert_manager_manifest=notes.txt", "wait_timeout=x" } do
    local out, err, code = L.run("operators", a)
    T.eq(code, 2, a .. ": " .. out .. err)
    L.one_line(err)
  end
end)

-- A cert-manager manifest that cannot be used is refused before the first step, not found out by it (exit 1).
T.test("a cert_manager_manifest that is missing, a directory or not Kubernetes YAML: exit 2, nothing applied",
  function()
    local dir = T.tmpdir()
    os.execute("mkdir " .. T.sh_quote(dir .. "/folder.yaml"))
    local cases = {
      { "/no/such/file.yaml", "cannot read /no/such/file.yaml: No such file or directory" },
      { dir .. "/folder.yaml", "Is a directory" },
      { T.write_file(dir .. "/broken.yaml", "kind: [Deployment\n"), "is not YAML" },
      { T.write_file(dir .. "/notes.yaml", "remember to install cert-manager\n"), "not a Kubernetes object" },
      { T.write_file(dir .. "/empty.yaml", "---\n---\n"), "holds no Kubernetes object" },
      { "http://127.0.0.1:1/cert-manager.yaml", "cert_manager_manifest: " },
    }
    local objects = all_objects()
    local before = L.snapshot(kc, objects)
    for _, case in ipairs(cases) do
      local out, err, code = L.run("operators", "cert_manager_manifest=" .. case[1])
      T.eq(code, 2, case[1] .. ": " .. out .. err)
      T.contains(err, case[2], case[1])
      L.one_line(err)
      T.eq(out, "", "no step started: " .. case[1])
    end
    L.same(before, L.snapshot(kc, objects), true)
  end)

T.test("--dry-run names every object and changes nothing", function()
  local objects = all_objects()
  local before = L.snapshot(kc, objects)
  local out, err, code = L.run("operators", "", "--dry-run")
  T.eq(code, 0, out .. err)
  for _, obj in ipairs(objects) do T.contains(out, platform.describe(obj)) end
  L.same(before, L.snapshot(kc, objects), true)
end)

-- A failure in barman-cloud also rolls back what the cloudnative-pg and cert-manager steps made.
T.test("a failure at a step leaves exactly what existed before", function()
  local faults = {
    { step = "cert%-manager", rule = { target = "k8s", method = "PATCH",
      path = "customresourcedefinitions/issuers.cert%-manager.io$" } },
    { step = "barman%-cloud", rule = { target = "k8s", method = "PATCH",
      path = "^/apis/cert%-manager.io/v1/namespaces/cnpg%-system/issuers/selfsigned%-issuer$" } },
    { step = "available", rule = { target = "k8s", method = "GET", path = "^/apis/apps/v1/namespaces/cnpg%-system/deployments$" } },
  }
  local objects = all_objects()
  for _, f in ipairs(faults) do
    f.rule.status = 403
    f.rule.path = f.rule.path:gsub("%%", "\\")
    local before = L.snapshot(kc, objects)
    local out, err, code = L.with_fault(f.rule, function() return L.run("operators", "wait_timeout=60") end)
    T.eq(code, 1, f.step .. ": " .. out .. err)
    T.ok(out:find(f.step .. " %.+ failed"), "step " .. f.step .. " failed: " .. out)
    L.same(before, L.snapshot(kc, objects))
  end
end)

T.test("applied server-side by alaris; a second run moves no resourceVersion and says so", function()
  local out, err, code = L.run("operators", "wait_timeout=60", APPLY_STEPS)
  T.eq(code, 0, out .. err)
  local objects = all_objects()
  local first = L.snapshot(kc, objects)
  T.eq(L.count(first), #objects)
  local dep = assert(kc:get("apps/v1", "Deployment", "barman-cloud", "cnpg-system"))
  T.eq(dep.spec.template.spec.containers[1].image, operators.PLUGIN_IMAGE)
  local managers = {}
  for _, m in ipairs(dep.metadata.managedFields) do managers[m.manager] = true end
  T.ok(managers.alaris, "field manager alaris")
  local cnpg = assert(kc:get("apps/v1", "Deployment", "cnpg-controller-manager", "cnpg-system"))
  local env = {}
  for _, e in ipairs(cnpg.spec.template.spec.containers[1].env) do env[e.name] = e.value end
  T.eq(env.POSTGRES_IMAGE_NAME, "ghcr.io/cloudnative-pg/postgresql:15")
  for _, obj in ipairs(objects) do
    if obj.kind == "CustomResourceDefinition" then
      T.eq(k8s.condition(assert(kc:get(obj)), "Established").status, "True", obj.metadata.name)
    end
  end
  -- Controllers write the status of Deployments, Certificates and Issuers (moving their resourceVersion) on their
  -- own time; for those the run's own per-object check ("no change") is the proof, for the rest the snapshot too.
  local quiet = {}
  for _, obj in ipairs(objects) do
    if not STATUS_WRITTEN[obj.kind] then quiet[#quiet + 1] = obj end
  end
  local before_second = L.snapshot(kc, quiet)
  local out2, err2, code2 = L.run("operators", "wait_timeout=60", APPLY_STEPS)
  T.eq(code2, 0, out2 .. err2)
  T.contains(err2, "cert-manager: no change")
  T.contains(err2, "cloudnative-pg: no change")
  T.contains(err2, "barman-cloud: no change")
  L.same(before_second, L.snapshot(kc, quiet), true)
end)

T.test("the operators become Available, or the wait times out naming the Deployment", function()
  if lab_runs_operators() then
    local out, err, code = L.run("operators", "wait_timeout=180")
    T.eq(code, 0, out .. err)
    T.contains(err, "operators available")
    for _, name in ipairs { "cnpg-controller-manager", "barman-cloud" } do
      local dep = assert(kc:get("apps/v1", "Deployment", name, "cnpg-system"))
      T.eq(k8s.condition(dep, "Available").status, "True", name)
    end
  else
    local out, err, code = L.run("operators", "wait_timeout=5")
    T.eq(code, 1, out .. err)
    T.contains(out .. err, "waiting for Deployment cnpg-system/")
    T.contains(out .. err, "conditions:")
    T.contains(out .. err, "latest events:")
  end
end)

T.test("a wait that times out names the object, its conditions and its latest events", function()
  local ns = { apiVersion = "v1", kind = "Namespace", metadata = { name = "optest-wait" } }
  local dep = { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "never", namespace = "optest-wait" },
    spec = { replicas = 1, selector = { matchLabels = { app = "never" } },
      template = { metadata = { labels = { app = "never" } },
        spec = { containers = { { name = "c", image = "example.invalid/never-pulled:1" } } } } } }
  assert(kc:apply(ns))
  assert(kc:apply(dep))
  local ok, err = pcall(platform.wait_condition, kc, dep, "Available", 3)
  kc:delete(ns)
  T.ok(not ok, "the wait timed out")
  local msg = tostring(err.message or err)
  T.contains(msg, "timed out after 3s waiting for Deployment optest-wait/never to be Available")
  T.contains(msg, "conditions: ")
  T.contains(msg, "latest events: ")
  T.not_contains(msg, "\n")
end)

T.run_all()
