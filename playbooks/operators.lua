-- The operators every tenant needs: cert-manager (its CRDs, and its install manifest when given), CloudNativePG
-- 1.28.4 and the barman-cloud plugin 0.14.0, from the pinned manifests vendored in deploy/, applied server-side
-- (field manager alaris); then waits for CRDs Established, Deployments Available and the plugin's Certificates Ready.
--   alaris-run playbooks/operators.lua [cert_manager_manifest=FILE-or-URL] [kubeconfig=PATH]
local k8s = require "alaris.k8s"
local onboarding = require "alaris.onboarding" -- for its reading of the command line's vars and options
local operators = require "alaris.operators"
local platform = require "alaris.platform"
local playbook = require "alaris.playbook"
local tenant = require "alaris.tenant"

local IMAGE = "^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$"

-- A manifest given on the command line is read while this file loads: one that cannot be read or holds no
-- Kubernetes object stops the run with exit 2 before anything is applied (a rollback needs none).
local given, flags = onboarding.args(arg)
if given.cert_manager_manifest and not (flags["--help"] or flags["--list"] or flags["--rollback"]) then
  operators.user_manifest("cert_manager_manifest", given.cert_manager_manifest)
end

local function kube(ctx)
  return assert(k8s.client { kubeconfig = ctx.vars.kubeconfig })
end

local function deploy_dir(ctx)
  return ctx.vars.deploy_dir or operators.default_deploy_dir()
end

-- cert-manager's install manifest, from a file or an http(s) URL; nil when none is given.
local function cert_manager_manifest(ctx)
  local source = ctx.vars.cert_manager_manifest
  return source and operators.user_manifest("cert_manager_manifest", source)
end

local function cert_manager_objects(ctx)
  local objects = operators.cert_manager_crds(deploy_dir(ctx))
  for _, obj in ipairs(cert_manager_manifest(ctx) or {}) do objects[#objects + 1] = obj end
  return objects
end

local PARTS = {
  ["cert-manager"] = cert_manager_objects,
  ["cloudnative-pg"] = function(ctx) return operators.cloudnative_pg(deploy_dir(ctx), ctx.vars.postgres_image) end,
  ["barman-cloud"] = function(ctx) return operators.barman_cloud(deploy_dir(ctx)) end,
}

-- A step applying one part: its plan is the server's dry run, its rollback deletes what it created.
local function apply_step(name, description)
  return { name = name, description = description,
    timeout = 900, -- a hung API server fails the step (and rolls back) instead of holding the run forever
    plan = function(ctx) return platform.plan(kube(ctx), PARTS[name](ctx), { force = true }) end,
    run = function(ctx)
      local result = platform.apply(kube(ctx), PARTS[name](ctx), { force = true, timeout = ctx.vars.wait_timeout })
      ctx.log.info(name .. ": " .. platform.summary(result))
      return result
    end,
    rollback = function(ctx, out) platform.delete(kube(ctx), out.created, { log = ctx.log }) end }
end

local function certificates(ctx)
  local out = {}
  for _, obj in ipairs(PARTS["barman-cloud"](ctx)) do
    if obj.kind == "Certificate" then out[#out + 1] = obj end
  end
  return out
end

return playbook {
  name = "operators",
  description = "cert-manager, CloudNativePG " .. operators.CNPG_VERSION .. " and plugin-barman-cloud "
    .. operators.BARMAN_VERSION .. " from the vendored manifests, applied server-side and waited for",
  vars = {
    kubeconfig = { description = "the cluster's kubeconfig (default: KUBECONFIG, else ~/.kube/config)" },
    cert_manager_manifest = { pattern = "^(https?://[^[:space:]]+|[^[:space:]]+\\.ya?ml)$",
      description = "cert-manager's install manifest (a .yaml file or an http(s) URL); without it, cert-manager "
        .. "must be running already" },
    postgres_image = { default = tenant.DEFAULT_IMAGE, pattern = IMAGE,
      description = "the PostgreSQL 15 image the operator gives Clusters that name none" },
    deploy_dir = { description = "the vendored manifests (default: " .. operators.default_deploy_dir() .. ")" },
    wait_timeout = { type = "integer", default = 300,
      description = "seconds to wait for CRDs Established, Deployments Available and Certificates Ready" },
  },
  steps = {
    apply_step("cert-manager", "cert-manager's CRDs (vendored), and its install manifest when given"),
    apply_step("cloudnative-pg", "CloudNativePG " .. operators.CNPG_VERSION .. " (deploy/cloudnative-pg)"),
    apply_step("barman-cloud", "plugin-barman-cloud " .. operators.BARMAN_VERSION .. " with its release images"),

    { name = "available",
      description = "every Deployment Available and the plugin's Certificates Ready (watches)",
      run = function(ctx)
        local kc, all = kube(ctx), {}
        for _, part in ipairs { "cert-manager", "cloudnative-pg", "barman-cloud" } do
          for _, obj in ipairs(PARTS[part](ctx)) do all[#all + 1] = obj end
        end
        local n = platform.wait_ready(kc, all, ctx.vars.wait_timeout, { Deployment = "Available" })
        platform.wait_ready(kc, certificates(ctx), ctx.vars.wait_timeout, { Certificate = "Ready" })
        ctx.log.info("operators available", { deployments = n })
        return { deployments = n }
      end },
  },
}
