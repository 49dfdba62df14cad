-- alaris.platform and alaris.operators without a cluster: the apply order, the dry-run diff (Secret values never
-- shown), the ops role's rules (reads only, no Secrets, no exec) and the questions that prove it, the vendored
-- manifests parsed with the barman-cloud release images pinned and the operator's default PostgreSQL image set.
local T = require "testing"
local crypto = require "alaris.crypto"
local json = require "alaris.json"
local operators = require "alaris.operators"
local platform = require "alaris.platform"

local DIR = operators.default_deploy_dir()

T.test("Namespaces go first, then CRDs, then the rest in the order given", function()
  local objs = {
    { kind = "Deployment", metadata = { name = "d" } }, { kind = "CustomResourceDefinition", metadata = { name = "c" } },
    { kind = "Service", metadata = { name = "s" } }, { kind = "Namespace", metadata = { name = "n" } },
  }
  local names = {}
  for i, obj in ipairs(platform.ordered(objs)) do names[i] = obj.metadata.name end
  T.eq(table.concat(names, ","), "n,c,d,s")
end)

T.test("the diff lists changed fields and hides Secret values", function()
  local cm = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "x", resourceVersion = "1" },
    data = { mode = "dev", same = "1" } }
  local wanted = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "x", resourceVersion = "2" },
    data = { mode = "prod", same = "1", added = "y" } }
  T.eq(platform.diff(cm, cm, wanted), { "    ~ data.added: (none) -> y", "    ~ data.mode: dev -> prod" })
  local secret = { apiVersion = "v1", kind = "Secret", metadata = { name = "s" }, data = { password = "b2xk" } }
  local lines = platform.diff(secret, secret, { apiVersion = "v1", kind = "Secret", metadata = { name = "s" },
    data = { password = "bmV3c2VjcmV0" } })
  T.eq(lines, { "    ~ data.password: (value hidden)" })
end)

T.test("the ops role only reads, never Secrets, never a subresource but logs", function()
  local objs = operators.ops_objects()
  local role
  for _, obj in ipairs(objs) do if obj.kind == "ClusterRole" then role = obj end end
  for _, rule in ipairs(role.rules) do
    T.eq(rule.verbs, { "get", "list", "watch" })
    for _, resource in ipairs(rule.resources) do
      T.ok(resource ~= "secrets" and resource ~= "*", "no Secrets and no wildcard: " .. resource)
      T.ok(not resource:find("/") or resource == "pods/log", "no subresource: " .. resource)
    end
  end
  local denied = operators.ops_questions("t")
  local asked = {}
  for _, q in ipairs(denied) do asked[q.verb .. " " .. q.resource .. (q.subresource and "/" .. q.subresource or "")] = true end
  for _, q in ipairs { "get secrets", "create pods/exec", "create pods/portforward", "delete pods", "patch deployments",
    "create clusters", "deletecollection configmaps" } do
    T.ok(asked[q], "asks that this is denied: " .. q)
  end
end)

T.test("the vendored manifests parse; the plugin runs its release images; the operator gets postgres_image", function()
  T.eq(#operators.cert_manager_crds(DIR), 6)
  local cnpg = operators.cloudnative_pg(DIR, "example.org/pg:15.8")
  T.eq(#cnpg, 25)
  for _, obj in ipairs(cnpg) do
    if obj.kind == "Deployment" then
      local env = {}
      for _, e in ipairs(obj.spec.template.spec.containers[1].env) do env[e.name] = e.value end
      T.eq(env.POSTGRES_IMAGE_NAME, "example.org/pg:15.8")
      T.eq(obj.spec.template.spec.containers[1].image, "ghcr.io/cloudnative-pg/cloudnative-pg:1.28.4")
    end
  end
  local barman = operators.barman_cloud(DIR)
  T.eq(#barman, 17)
  T.not_contains(json.encode(barman), "testing:main")
  for _, obj in ipairs(barman) do
    if obj.kind == "Deployment" then
      T.eq(obj.spec.template.spec.containers[1].image, "ghcr.io/cloudnative-pg/plugin-barman-cloud:v0.14.0")
    elseif obj.kind == "Secret" then
      T.eq(crypto.base64_decode(obj.data.SIDECAR_IMAGE), "ghcr.io/cloudnative-pg/plugin-barman-cloud-sidecar:v0.14.0")
    end
  end
end)

T.test("the vendored files are the upstream release files (SHA256SUMS)", function()
  local ok = os.execute("cd " .. T.sh_quote(DIR) .. " && sha256sum --quiet -c SHA256SUMS >/dev/null")
  T.ok(ok, "deploy/SHA256SUMS matches")
end)

T.run_all()
