-- playbooks/provision.lua on the lab's DigitalOcean: a cluster, the registry, a project holding the cluster and a
-- 0600 kubeconfig that reaches the cluster; a second run changes nothing; --dry-run creates nothing; a failure at
-- each step removes what the run created and keeps what existed; bad input is refused.
local T = require "testing"
local L = require "playbook_lab"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"

local dc = assert(digitalocean.client())

local function state(cluster)
  local c = dc:find_cluster(cluster)
  local registry = dc:registry()
  local project = dc:find_project("alaris-" .. cluster)
  return { cluster = c and c.id, registry = registry and registry.name, project = project and project.id }
end

local function args(cluster, kubeconfig)
  return string.format("cluster=%s project=alaris-%s kubeconfig=%s wait_timeout=120", cluster, cluster, kubeconfig)
end

T.test("bad input exits 2 with one line and creates nothing", function()
  for _, a in ipairs { "cluster=Bad_Name", "node_count=three", "region=mars", "version=newest", "cluster=" } do
    local out, err, code = L.run("provision", a .. " kubeconfig=" .. T.tmpdir() .. "/kc")
    T.eq(code, 2, a .. ": " .. out .. err)
    L.one_line(err)
  end
  T.eq(dc:find_cluster("Bad_Name"), nil)
end)

T.test("--dry-run says what it would create and creates nothing", function()
  local kc_path = T.tmpdir() .. "/kc"
  local out, err, code = L.run("provision", args("pv-dry", kc_path), "--dry-run")
  T.eq(code, 0, out .. err)
  T.contains(out, "create DOKS cluster pv-dry")
  T.contains(out, "project alaris-pv-dry")
  T.contains(out, "write " .. kc_path)
  T.eq(dc:find_cluster("pv-dry"), nil)
  T.eq(dc:find_project("alaris-pv-dry"), nil)
  T.eq(io.open(kc_path), nil)
end)

T.test("a failure at each step removes what the run created and keeps what existed", function()
  local faults = {
    { step = "cluster", rule = { target = "do", method = "POST", path = "^/v2/kubernetes/clusters$", status = 403 } },
    { step = "cluster%-running", rule = { target = "do", method = "GET", path = "^/v2/kubernetes/clusters/[^/]+$",
      status = 403 } },
    { step = "registry", rule = { target = "do", method = "GET", path = "^/v2/registry$", status = 403 } },
    { step = "project", rule = { target = "do", method = "POST", path = "^/v2/projects/[^/]+/resources$",
      status = 403 } },
    { step = "kubeconfig", rule = { target = "do", method = "GET", path = "/credentials$", status = 403 } },
  }
  for i, f in ipairs(faults) do
    local name = "pv-fail" .. i
    local before = state(name)
    local kc_path = T.tmpdir() .. "/kc"
    local out, err, code = L.with_fault(f.rule, function() return L.run("provision", args(name, kc_path)) end)
    T.eq(code, 1, f.step .. ": " .. out .. err)
    T.ok(out:find(f.step .. " %.+ failed"), "step " .. f.step .. " failed: " .. out)
    T.eq(state(name), before, f.step .. ": only what existed before remains")
    T.eq(io.open(kc_path), nil, "no kubeconfig left")
  end
end)

T.test("the run makes the cluster, registry, project and a 0600 kubeconfig; a second run changes nothing", function()
  local kc_path = T.tmpdir() .. "/conf/kubeconfig"
  local out, err, code = L.run("provision", args("pv-ok", kc_path))
  T.eq(code, 0, out .. err)
  local cluster = assert(dc:find_cluster("pv-ok"))
  T.eq(cluster.status.state, "running")
  T.ok(dc:registry(), "a registry exists")
  local project = assert(dc:find_project("alaris-pv-ok"))
  local urns = {}
  for _, r in ipairs(assert(dc:project_resources(project.id))) do urns[r.urn] = true end
  T.ok(urns[digitalocean.urn("kubernetes", cluster.id)], "the project holds the cluster")
  local p = io.popen("stat -c %a " .. T.sh_quote(kc_path))
  T.eq(p:read("l"), "600")
  p:close()
  local kc = assert(k8s.client { kubeconfig = kc_path })
  T.ok(kc:get("v1", "Namespace", "default"), "the kubeconfig reaches the cluster")
  local text = T.read_file(kc_path)
  local token = text:match("token: ([^\n]+)")
  T.ok(token, "the kubeconfig holds a token")
  T.not_contains(out .. err, token)
  local again_out, again_err, again = L.run("provision", args("pv-ok", kc_path))
  T.eq(again, 0, again_out .. again_err)
  T.contains(again_err, "cluster exists: kept")
  T.contains(again_err, "kubeconfig already for this cluster: kept")
  T.eq(T.read_file(kc_path), text)
  local names = 0
  for _, c in ipairs(assert(dc:list("/v2/kubernetes/clusters", "kubernetes_clusters"))) do
    if c.name == "pv-ok" then names = names + 1 end
  end
  T.eq(names, 1, "one cluster of that name")
end)

T.test("a kubeconfig path holding another file is refused and the run rolled back", function()
  local kc_path = T.write_file(T.tmpdir() .. "/kc", "not a kubeconfig\n")
  local before = state("pv-taken")
  local out, err, code = L.run("provision", args("pv-taken", kc_path))
  T.eq(code, 1, out .. err)
  T.contains(out .. err, "is not a kubeconfig for cluster pv-taken")
  T.eq(T.read_file(kc_path), "not a kubeconfig\n")
  T.eq(state("pv-taken"), before)
end)

T.run_all()
