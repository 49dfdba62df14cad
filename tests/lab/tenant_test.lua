-- alaris.tenant against the lab's Kubernetes API: every object a tenant is made of, and the recovery Cluster and
-- Backup, pass the server's validation (server-side apply with dryRun=All and fieldValidation=Strict, as kubectl
-- sends it, against the official schemas and the CloudNativePG/barman-cloud CRDs). Only the namespace is created.
local T = require "testing"
local k8s = require "alaris.k8s"
local tenant = require "alaris.tenant"

local RUN = string.format("%x%04x", os.time(), math.random(0, 0xffff))
local NAME = "tenant-" .. RUN

local function must(value, err)
  if value == nil then error("unexpected failure: " .. tostring(err), 2) end
  return value
end

local kc = must(k8s.client())

local OPTS = {
  bucket = "alaris-backups", endpoint = "https://nyc3.digitaloceanspaces.com",
  object_storage = { ip = "198.51.100.10", port = 443 }, api_server = { ip = "198.51.100.1", port = 6443 },
  spaces = { access_key_id = "DO00LABKEY", secret_access_key = "lab-secret-key-9b1e" },
  superuser_password = "lab-su-password-41d2", app_password = "lab-app-password-c7e8",
}

-- Server-side apply, dry run, unknown fields refused rather than dropped.
local function strict_dry_run(o)
  local res, name, namespace = kc:locate(o)
  if not res then return nil, name end
  return kc:request("PATCH", kc:path(res, namespace, name), { body = o, content_type = "application/apply-patch+yaml",
    query = { fieldManager = "alaris-test", dryRun = "All", fieldValidation = "Strict" } })
end

T.test("the namespace is created with its tenant label", function()
  local ns = must(kc:apply(tenant.namespace(NAME)))
  T.eq(ns.metadata.labels.tenant, NAME)
  T.eq(ns.metadata.labels["kubernetes.io/metadata.name"], NAME)
end)

T.test("every object of the tenant passes the server's validation (dry run)", function()
  local objects = tenant.manifests(NAME, OPTS)
  objects[#objects + 1] = tenant.recovery_cluster(NAME, { name = "pg-" .. NAME .. "-pitr",
    target_time = "2026-12-03T15:00:00Z" })
  objects[#objects + 1] = tenant.backup(NAME, { name = "manual" })
  local checked = 0
  for _, o in ipairs(objects) do
    if o.kind ~= "Namespace" then
      local out, err = strict_dry_run(o)
      T.ok(out, string.format("%s/%s refused: %s", o.kind, o.metadata.name, tostring(err)))
      T.eq(out.kind, o.kind)
      checked = checked + 1
    end
  end
  T.eq(checked, #objects - 1)
end)

T.test("the server refuses a Cluster the seed's way (plugins under postgresql), so the dry run is a real check", function()
  local bad = tenant.cluster(NAME)
  bad.spec.postgresql = { plugins = bad.spec.plugins }
  bad.spec.plugins = nil
  local out, err = strict_dry_run(bad)
  T.eq(out, nil)
  T.eq(err.code, "invalid")
  T.contains(tostring(err), "plugins")
end)

T.test("cleanup: the namespace is deleted", function()
  must(kc:delete(tenant.namespace(NAME)))
end)

T.run_all()
