-- Offboard a tenant: a final Backup (waited for and verified in the bucket), then the app, the Cluster and the
-- namespace deleted and the tenant's Spaces key revoked; the bucket and its backups stay unless purge_backups=yes.
--   alaris-run playbooks/offboard.lua tenant=acme
-- Nothing is deleted until the final backup is verified, so a failed backup leaves the tenant as it was. The input
-- is checked and the tenant's Lease taken while this file loads (exit 2 on bad input or a held Lease).
local cnpg = require "alaris.cnpg"
local k8s = require "alaris.k8s"
local ob = require "alaris.onboarding"
local playbook = require "alaris.playbook"
local tenant = require "alaris.tenant"

local must = ob.must
local given, flags = ob.args(arg)
if not (flags["--help"] or flags["--list"]) then
  local t = must(ob.tenant_list { tenant = given.tenant or "" })[1]
  local kc = ob.kube()
  ob.check_namespace(kc, t)
  if not (flags["--dry-run"] or flags["-n"]) then ob.lock(kc, t, flags["--resume"] or flags["--rollback"]) end
end

local function step(def)
  local run = def.run
  def.retries, def.retry_delay = def.retries or 3, def.retry_delay or 0.5
  def.run = function(ctx) return run(ctx, ctx.vars.tenant, ob.kube()) end
  return def
end

local function delete(kc, ref, timeout)
  local ok, err = kc:delete(ref, { wait = true, timeout = timeout, propagation = "Foreground" })
  if not ok and err.code ~= "not_found" then error(err, 0) end
  return { deleted = ref.kind .. " " .. ref.metadata.name }
end

local function ref(api, kind, name, namespace)
  return { apiVersion = api, kind = kind, metadata = { name = name, namespace = namespace } }
end

-- The backup's files under <destinationPath>/<serverName>/base/<backupId>/, as barman-cloud writes them (the Backup's
-- status names all three).
local function verify_backup(status)
  local bucket, path = tostring(status.destinationPath):match("^s3://([^/]+)/?(.*)$")
  must(bucket, "the completed Backup names no s3:// destinationPath")
  local backup_id = must(status.backupId, "the completed Backup names no backupId")
  local prefix = string.format("%s%s/base/%s/", path == "" and "" or (path:gsub("/$", "") .. "/"),
    must(status.serverName, "the completed Backup names no serverName"), backup_id)
  local count = 0
  for _ in ob.spaces():list(bucket, { prefix = prefix }) do count = count + 1 end
  if count == 0 then error(string.format("the final backup %s has no files under s3://%s/%s", backup_id, bucket, prefix), 0) end
  return count
end

return playbook {
  name = "offboard",
  description = "Offboard a tenant: a final verified Backup, then its app, Cluster and namespace deleted and its "
    .. "Spaces key revoked; backups kept unless purge_backups=yes",
  vars = {
    tenant = { required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", description = "the tenant" },
    bucket = { description = "the backup bucket (default alaris-TENANT-backups)" },
    final_backup = { type = "boolean", default = true, description = "take and verify a Backup before deleting" },
    purge_backups = { type = "boolean", default = false, description = "also empty and delete the tenant's bucket" },
    wait_timeout = { type = "integer", default = 900, description = "seconds to wait for the backup and each deletion" },
  },
  steps = {
    step { name = "lock", description = "the tenant's Lease (taken when the playbook loaded), released at the end",
      run = function(_, t) return { tenant = t } end,
      rollback = function(_, out) ob.unlock(out.tenant) end },

    step { name = "inventory", description = "the tenant's Spaces key and bucket, read before anything goes",
      run = function(ctx, t, kc)
        local secret = kc:get("v1", "Secret", "spaces-credentials", t)
        return { access_key = secret and k8s.secret_data(secret).ACCESS_KEY_ID or nil,
          bucket = ob.bucket_name(ctx.vars, t) }
      end },

    step { name = "final-backup", description = "a Backup of the Cluster, waited for and its files verified",
      retries = 0,
      run = function(ctx, t, kc)
        if not ctx.vars.final_backup then return { skipped = true } end
        if not kc:get("postgresql.cnpg.io/v1", "Cluster", tenant.names(t).cluster, t) then return { no_cluster = true } end
        local backup = tenant.backup(t, { name = string.format("pg-%s-final-%s", t, os.date("!%Y%m%d%H%M%S")) })
        must(kc:apply(backup, { field_manager = "alaris" }))
        local done = must(cnpg.wait_backup(kc, t, backup.metadata.name, ctx.vars.wait_timeout))
        return { backup = backup.metadata.name, backup_id = done.status.backupId, files = verify_backup(done.status) }
      end },

    step { name = "app", description = "delete Deployment T-app",
      run = function(ctx, t, kc) return delete(kc, ref("apps/v1", "Deployment", tenant.names(t).app, t), ctx.vars.wait_timeout) end },

    step { name = "cluster", description = "delete Cluster pg-T",
      run = function(ctx, t, kc)
        return delete(kc, ref("postgresql.cnpg.io/v1", "Cluster", tenant.names(t).cluster, t), ctx.vars.wait_timeout)
      end },

    step { name = "namespace", description = "delete namespace T and everything left in it",
      run = function(ctx, t, kc) return delete(kc, ref("v1", "Namespace", t), ctx.vars.wait_timeout) end },

    step { name = "spaces-key", description = "revoke the tenant's Spaces key(s)",
      run = function(ctx, t)
        local dc = ob.digitalocean()
        if not dc then return { skipped = "DIGITALOCEAN_ACCESS_TOKEN is not set" } end
        local revoked = {}
        for _, key in ipairs(must(dc:spaces_keys { name = ob.key_name(t) })) do
          if key.name == ob.key_name(t) or key.access_key == ctx.outputs.inventory.access_key then
            must(dc:delete_spaces_key(key.access_key))
            revoked[#revoked + 1] = key.access_key
          end
        end
        return { revoked = revoked }
      end },

    step { name = "bucket", description = "with purge_backups=yes: empty and delete the bucket (kept otherwise)",
      run = function(ctx)
        if not ctx.vars.purge_backups then return { kept = ctx.outputs.inventory.bucket } end
        ob.empty_and_delete_bucket(ob.spaces(), ctx.outputs.inventory.bucket)
        return { purged = ctx.outputs.inventory.bucket }
      end },

    step { name = "unlock", description = "release the tenant's Lease",
      run = function(_, t) ob.unlock(t); return { released = t } end },
  },
}
