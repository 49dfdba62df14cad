-- Onboard a tenant: namespace, Spaces bucket and scoped key, database passwords, ObjectStore, CloudNativePG
-- Cluster (waited Ready), ScheduledBackup, the tenant app and its Services, NetworkPolicies, then a smoke check.
-- Every step undoes what it made; the survey step's rollback removes whatever of the tenant a crashed run left.
--   alaris-run playbooks/onboard.lua tenant=acme           (or tenants=a,b,c concurrency=2)
-- The input is checked and the tenant's Lease taken while this file loads, so bad input and a tenant another run
-- holds both stop the run with exit 2 before any step.
local cnpg = require "alaris.cnpg"
local crypto = require "alaris.crypto"
local http = require "alaris.http"
local ob = require "alaris.onboarding"
local pg = require "alaris.pg"
local playbook = require "alaris.playbook"
local tenant = require "alaris.tenant"

local must = ob.must
local given, flags = ob.args(arg)
local tenants = ob.tenant_list(given)
ob.check_image("app_image", given.app_image)
ob.check_image("postgres_image", given.postgres_image)
local planning = flags["--help"] or flags["--list"]
if #tenants == 0 and not planning then must(nil, "give tenant=NAME or tenants=a,b,c (see --help)") end
if #tenants == 1 and given.tenant and not planning then
  local kc = ob.kube()
  ob.check_namespace(kc, given.tenant)
  ob.check_endpoint(ob.spaces())
  if not (flags["--dry-run"] or flags["-n"]) then ob.lock(kc, given.tenant, flags["--resume"] or flags["--rollback"]) end
end

-- A step that works on one tenant; with tenants=... the "tenants" step runs one child run per tenant instead.
-- Every step is idempotent, so a transient API failure is retried by running the step again.
local function step(def)
  local run = def.run
  def.retries, def.retry_delay = def.retries or 3, def.retry_delay or 0.5
  def.run = function(ctx)
    if not ctx.vars.tenant then return { skipped = "tenants= runs each tenant as a run of its own" } end
    return run(ctx, ctx.vars.tenant, ob.kube())
  end
  return def
end

local function undo_created(ctx, out)
  if out.created then ob.delete_created(ob.kube(), out) end
end

local function apply_step(name, build, description)
  return step { name = name, description = description,
    plan = function(ctx)
      if not ctx.vars.tenant then return {} end
      return ob.plan(ob.kube(), build(ctx, ctx.vars.tenant))
    end,
    run = function(ctx, t, kc) return ob.apply(kc, build(ctx, t), ctx.log) end,
    rollback = undo_created }
end

local function timeout(ctx) return ctx.vars.wait_timeout end

return playbook {
  name = "onboard",
  description = "Onboard a tenant: its namespace, Spaces bucket and key, PostgreSQL cluster with backups, app, "
    .. "Services and NetworkPolicies; every step undone on failure",
  vars = {
    tenant = { pattern = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", description = "the tenant (a DNS label, at most 40 characters)" },
    tenants = { description = "several tenants, a,b,c: each onboarded as a run of its own, concurrently" },
    concurrency = { type = "integer", default = 4, description = "with tenants=: how many run at once" },
    instances = { type = "integer", default = 2, description = "PostgreSQL instances" },
    app_image = { default = tenant.DEFAULT_APP_IMAGE, description = "the tenant app's image" },
    postgres_image = { default = tenant.DEFAULT_IMAGE, description = "a PostgreSQL 15 image" },
    bucket = { description = "the backup bucket (default alaris-TENANT-backups)" },
    storage = { default = "1Gi", description = "each instance's volume size" },
    backup_schedule = { default = tenant.SCHEDULE, description = "ScheduledBackup cron (6 fields, seconds first)" },
    wait_timeout = { type = "integer", default = 600, description = "seconds to wait for the Cluster, the app and the LB" },
    smoke = { type = "boolean", default = true, description = "check /public through the LB and SELECT 1 as the app user" },
  },
  steps = {
    { name = "tenants",
      description = "with tenants=a,b,c: one run per tenant, concurrently, each with its own rollback",
      run = function(ctx)
        if not ctx.vars.tenants then return { single = ctx.vars.tenant } end
        local results = ob.run_each(arg[0], tenants, given,
          { flags["--dry-run"] and "--dry-run" or nil, journal = flags.journal }, ctx.vars.concurrency)
        local failed = {}
        for _, r in ipairs(results) do
          ctx.log.info(string.format("tenant %s: %s", r.tenant, r.code == 0 and "ok" or "failed (exit " .. r.code .. ")"))
          if r.code ~= 0 then failed[#failed + 1] = r.tenant .. " (exit " .. r.code .. ")" end
        end
        if #failed > 0 then error(string.format("%d of %d tenants failed: %s", #failed, #results, table.concat(failed, ", ")), 0) end
        return { onboarded = #results }
      end },

    step { name = "lock", description = "the tenant's Lease (taken when the playbook loaded), released at the end",
      run = function(_, t) return { tenant = t } end,
      rollback = function(_, out) ob.unlock(out.tenant) end },

    step { name = "survey", description = "what of the tenant exists already (never deleted by a rollback)",
      run = function(ctx, t, kc) return ob.survey(kc, ob.spaces(), ob.digitalocean(), t, ob.bucket_name(ctx.vars, t)) end,
      rollback = function(ctx, out) ob.sweep(ob.kube(), ob.spaces(), ob.digitalocean(), ctx.vars.tenant, out) end },

    apply_step("namespace", function(_, t) return { ob.namespace(t) } end, "namespace T, labelled tenant: T"),

    step { name = "bucket", description = "the tenant's Spaces bucket",
      plan = function(ctx)
        local bucket = ob.bucket_name(ctx.vars, ctx.vars.tenant or "T")
        return { (ob.spaces():head_bucket(bucket) and "unchanged" or "create") .. " bucket " .. bucket }
      end,
      run = function(ctx, t)
        local sc, bucket = ob.spaces(), ob.bucket_name(ctx.vars, t)
        if sc:head_bucket(bucket) then return { bucket = bucket, created = false } end
        must(sc:create_bucket(bucket))
        return { bucket = bucket, created = true }
      end,
      rollback = function(_, out) if out.created then ob.empty_and_delete_bucket(ob.spaces(), out.bucket) end end },

    step { name = "spaces-key", description = "a Spaces key with readwrite on that bucket only, in Secret spaces-credentials",
      run = function(ctx, t, kc)
        return ob.spaces_credentials(kc, ob.digitalocean(), t, ob.bucket_name(ctx.vars, t), ctx.log)
      end,
      rollback = function(_, out)
        local dc = ob.digitalocean()
        if out.created and out.scoped and dc then must(dc:delete_spaces_key(out.access_key)) end
      end },

    step { name = "database-passwords", description = "generated passwords, kept only in the tenant's Secrets",
      run = function(_, t, kc)
        local created = {}
        for _, s in ipairs { tenant.superuser_secret(t, crypto.password(32)), tenant.app_secret(t, crypto.password(32)) } do
          if ob.ensure_secret(kc, s) then created[#created + 1] = { apiVersion = "v1", kind = "Secret",
            metadata = { name = s.metadata.name, namespace = t } } end
        end
        return { created = created }
      end,
      rollback = undo_created },

    apply_step("object-store", function(ctx, t)
      return { tenant.object_store(t, { bucket = ob.bucket_name(ctx.vars, t), endpoint = ob.endpoint() }) }
    end, "barman-cloud ObjectStore pg-T-store"),

    apply_step("cluster", function(ctx, t)
      return { tenant.cluster(t, { instances = ctx.vars.instances, image = ctx.vars.postgres_image,
        storage_size = ctx.vars.storage }) }
    end, "CloudNativePG Cluster pg-T"),

    step { name = "cluster-ready", description = "the Cluster Ready (a watch; wait_timeout)", retries = 0,
      run = function(ctx, t, kc)
        local c = must(cnpg.wait_ready(kc, t, tenant.names(t).cluster, timeout(ctx)))
        return { phase = c.status and c.status.phase, primary = c.status and c.status.currentPrimary }
      end },

    apply_step("scheduled-backup", function(ctx, t)
      local sb = tenant.scheduled_backup(t)
      sb.spec.schedule = ctx.vars.backup_schedule
      return { sb }
    end, "ScheduledBackup every 12 h"),

    apply_step("app", function(ctx, t) return { tenant.deployment(t, { app_image = ctx.vars.app_image }) } end,
      "the tenant app's Deployment"),

    apply_step("services", function(_, t) return { tenant.public_service(t), tenant.internal_service(t) } end,
      "Services T-public (LoadBalancer) and T-internal (ClusterIP)"),

    apply_step("network-policies", function(_, t)
      return tenant.network_policies(t, ob.addresses(ob.kube()))
    end, "default deny, DNS, app, database and egress policies"),

    step { name = "app-ready", description = "the app Available and the LB address given", retries = 0,
      run = function(ctx, t, kc)
        local names = tenant.names(t)
        must(cnpg.wait_available(kc, t, names.app, timeout(ctx)))
        return { address = must(cnpg.wait_lb_address(kc, t, names.public_service, timeout(ctx))) }
      end },

    step { name = "smoke", description = "/public through the LB address, SELECT 1 as the app user",
      run = function(ctx, t, kc)
        if not ctx.vars.smoke then return { skipped = true } end
        local resp = must(http.request { url = "http://" .. ctx.outputs["app-ready"].address .. "/public", timeout = 30 })
        if resp.status ~= 200 or not resp.body:find(t, 1, true) then
          error(string.format("/public answered %d: %s", resp.status, resp.body:sub(1, 200)), 0)
        end
        local primary = must(ctx.outputs["cluster-ready"].primary, "the Cluster names no primary")
        local creds = ob.read_secret(kc, t, tenant.names(t).app_secret)
        local pf <close> = must(kc:port_forward(t, primary, 5432))
        local db <close> = must(pg.connect { host = "127.0.0.1", port = pf.local_port, dbname = "app",
          user = creds.username, password = creds.password })
        must(db:query("SELECT 1"))
        return { public = resp.status }
      end },

    step { name = "unlock", description = "release the tenant's Lease",
      run = function(_, t) ob.unlock(t); return { released = t } end },
  },
}
