-- A tour of what alaris drives today, run by `make demo` against the lab (or against DigitalOcean itself, with
-- DIGITALOCEAN_ACCESS_TOKEN and SPACES_* set): a DOKS cluster, a tenant namespace with its secrets, a Spaces bucket
-- for backups and a Spaces key that may write only there. Every step can be undone; run it with --dry-run first.
--   alaris-run examples/lab-tour.lua tenant=demo
local crypto = require "alaris.crypto"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"
local playbook = require "alaris.playbook"
local s3 = require "alaris.s3"

local function must(value, err, ...)
  if value == nil then error(err, 2) end
  return value, err, ...
end

local function do_client()
  return must(digitalocean.client())
end

local function kube(ctx)
  local dc = do_client()
  return must(k8s.client { kubeconfig = must(dc:cluster_credentials(ctx.outputs.cluster.id)) })
end

local function namespace(ctx)
  return { apiVersion = "v1", kind = "Namespace",
    metadata = { name = ctx.vars.tenant, labels = { tenant = ctx.vars.tenant } } }
end

local function secret(name, ns, data)
  return { apiVersion = "v1", kind = "Secret", type = "Opaque",
    metadata = { name = name, namespace = ns, labels = { ["app.kubernetes.io/managed-by"] = "alaris" } },
    stringData = data }
end

local function bucket_name(ctx)
  return ctx.vars.bucket or ("alaris-" .. ctx.vars.tenant .. "-backups")
end

return playbook {
  name = "lab-tour",
  description = "A DOKS cluster, a tenant namespace with secrets, a backup bucket and a Spaces key scoped to it",
  vars = {
    tenant = { default = "demo", pattern = "^[a-z][a-z0-9-]{0,40}$", description = "the tenant's name" },
    cluster = { default = "alaris-lab", pattern = "^[a-z][a-z0-9-]{0,62}$", description = "the DOKS cluster's name" },
    region = { default = "nyc3", description = "DigitalOcean region" },
    bucket = { description = "the backup bucket (default alaris-TENANT-backups)" },
  },
  steps = {
    { name = "cluster",
      description = "a DOKS cluster of two nodes (kept if it exists)",
      timeout = 120,
      plan = function(ctx) return { "create DOKS cluster " .. ctx.vars.cluster .. " in " .. ctx.vars.region } end,
      run = function(ctx)
        local cluster, created = must(do_client():create_cluster {
          name = ctx.vars.cluster, region = ctx.vars.region, version = "latest",
          node_pools = { { name = "pool-1", size = "s-2vcpu-4gb", count = 2 } },
        })
        ctx.log.info(created and "cluster created" or "cluster exists", { id = cluster.id })
        return { id = cluster.id, created = created }
      end,
      rollback = function(ctx, out)
        if out.created then must(do_client():delete_cluster(out.id)) end
      end },

    { name = "cluster-running",
      timeout = 1800,
      run = function(ctx)
        local cluster = must(do_client():wait_cluster_running(ctx.outputs.cluster.id, 1800))
        return { version = cluster.version }
      end },

    { name = "namespace",
      plan = function(ctx) return { "apply Namespace " .. ctx.vars.tenant } end,
      run = function(ctx)
        local kc = kube(ctx)
        local existed = kc:get(namespace(ctx)) ~= nil
        must(kc:apply(namespace(ctx)))
        return { name = ctx.vars.tenant, created = not existed }
      end,
      rollback = function(ctx, out)
        if out.created then must(kube(ctx):delete(namespace(ctx), { wait = true, timeout = 120 })) end
      end },

    { name = "database-secrets",
      plan = function(ctx) return { "apply Secrets pg-" .. ctx.vars.tenant .. "-app-secret and -superuser-secret" } end,
      run = function(ctx)
        local kc, t = kube(ctx), ctx.vars.tenant
        for _, s in ipairs { { "pg-" .. t .. "-app-secret", "app" }, { "pg-" .. t .. "-superuser-secret", "postgres" } } do
          if not kc:get("v1", "Secret", s[1], t) then -- a password is made once, never rotated by a re-run
            must(kc:apply(secret(s[1], t, { username = s[2], password = crypto.password(32) })))
          end
        end
        return { secrets = { "pg-" .. t .. "-app-secret", "pg-" .. t .. "-superuser-secret" } }
      end,
      rollback = function(ctx, out)
        local kc = kube(ctx)
        for _, name in ipairs(out.secrets) do must(kc:delete({ apiVersion = "v1", kind = "Secret",
          metadata = { name = name, namespace = ctx.vars.tenant } })) end
      end },

    { name = "backup-bucket",
      plan = function(ctx) return { "create Spaces bucket " .. bucket_name(ctx) } end,
      run = function(ctx)
        local spaces = must(s3.client())
        local exists = spaces:head_bucket(bucket_name(ctx))
        if not exists then must(spaces:create_bucket(bucket_name(ctx))) end
        return { bucket = bucket_name(ctx), created = not exists }
      end,
      rollback = function(ctx, out)
        if out.created then must(must(s3.client()):delete_bucket(out.bucket)) end
      end },

    { name = "spaces-key",
      description = "a Spaces key that may read and write the backup bucket only, kept in a Secret",
      plan = function(ctx) return { "create a Spaces key with readwrite on " .. bucket_name(ctx) } end,
      run = function(ctx)
        local key = must(do_client():create_spaces_key {
          name = "alaris-" .. ctx.vars.tenant,
          grants = { { bucket = bucket_name(ctx), permission = "readwrite" } },
        })
        must(kube(ctx):apply(secret("spaces-credentials", ctx.vars.tenant,
          { ACCESS_KEY_ID = key.access_key, SECRET_ACCESS_KEY = key.secret_key })))
        return { access_key = key.access_key }
      end,
      rollback = function(ctx, out)
        must(do_client():delete_spaces_key(out.access_key))
      end },

    { name = "check-key",
      description = "the tenant's key writes and reads its bucket, and is refused elsewhere",
      run = function(ctx)
        local creds = k8s.secret_data(must(kube(ctx):get("v1", "Secret", "spaces-credentials", ctx.vars.tenant)))
        local tenant = must(s3.client { access_key = creds.ACCESS_KEY_ID, secret_key = creds.SECRET_ACCESS_KEY })
        local key = "backups/" .. ctx.vars.tenant .. "/connectivity-check"
        must(tenant:put(bucket_name(ctx), key, "written by alaris"))
        local body = must(tenant:get(bucket_name(ctx), key))
        must(tenant:delete(bucket_name(ctx), key))
        if body ~= "written by alaris" then error("read back " .. #body .. " bytes, not what was written") end
        local _, err = tenant:put(bucket_name(ctx) .. "-elsewhere", key, "x")
        if not err or err.code ~= "forbidden" then
          error("the tenant's key was not refused on another bucket: " .. tostring(err or "it was allowed"))
        end
        return { checked = key }
      end },
  },
}
