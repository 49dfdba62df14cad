-- Back up a tenant: an on-demand Backup (method plugin) of its Cluster, waited for through a watch until
-- `completed`, then proven IN THE BUCKET with the tenant's own Spaces key: backup.info and the data under
-- base/<backupId>/, and every WAL segment from beginWal to endWal archived. Prints the backup id, size, duration and
-- WAL range (the verify step's output; `--output json` carries it).
--   alaris-run playbooks/backup.lua tenant=acme
-- The input is checked and the tenant's Lease taken while this file loads (exit 2 on bad input, a tenant that is not
-- onboarded, or a held Lease). A Backup the run created is never deleted, whatever its phase
-- (docs/playbooks/backup.md).
local alaris = require "alaris"
local backup = require "alaris.backup"
local ob = require "alaris.onboarding"
local playbook = require "alaris.playbook"
local tenant = require "alaris.tenant"

local must = ob.must
local given, flags = ob.args(arg)

local function bad_input(fmt, ...)
  error(alaris.error("invalid", string.format(fmt, ...), { usage = true }), 0)
end

-- A tenant alaris onboarded, with its Cluster: anything else is bad input, before any step.
local function check_tenant(kc, t)
  ob.check_namespace(kc, t)
  if not kc:get("v1", "Namespace", t) then bad_input("tenant %s is not onboarded: there is no namespace %s", t, t) end
  local cluster = tenant.names(t).cluster
  local live, err = kc:get("postgresql.cnpg.io/v1", "Cluster", cluster, t)
  if not live and err and err.code ~= "not_found" then
    bad_input("cannot read Cluster %s/%s: %s", t, cluster, tostring(err))
  end
  if not live then bad_input("tenant %s has no Cluster %s to back up", t, cluster) end
end

if not (flags["--help"] or flags["--list"]) then
  local t = must(ob.tenant_list { tenant = given.tenant or "" })[1]
  if given.name and not given.name:match("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$") then
    bad_input("name %q is not a Kubernetes object name (lowercase letters, digits, '-' and '.')", given.name)
  end
  local kc = ob.kube()
  check_tenant(kc, t)
  if not (flags["--dry-run"] or flags["-n"]) then ob.lock(kc, t, flags["--resume"] or flags["--rollback"]) end
end

local function step(def)
  local run = def.run
  def.run = function(ctx) return run(ctx, ctx.vars.tenant, ob.kube()) end
  return def
end

-- "4.1 MB" for people; the exact byte count is in the output beside it.
local function human_size(bytes)
  local units, size, i = { "B", "kB", "MB", "GB", "TB" }, bytes, 1
  while size >= 1000 and i < #units do size, i = size / 1000, i + 1 end
  return i == 1 and string.format("%d B", bytes) or string.format("%.1f %s", size, units[i])
end

-- Why the Backup step failed, and what became of the Backup: it is kept (see the header).
local function take_failure(t, name, err)
  if err.archiving or err.code == "not_found" then return tostring(err.message or err) end -- nothing was created
  local kept = err.code == "failed"
    and string.format("the failed Backup %s/%s is kept as evidence (kubectl -n %s get backup %s -o yaml)", t, name, t,
      name)
    or string.format("Backup %s/%s is left as it is: it may still complete", t, name)
  return string.format("%s; %s", tostring(err.message or err), kept)
end

return playbook {
  name = "backup",
  description = "Back up a tenant: an on-demand Backup of its Cluster, waited to completed, then verified in the "
    .. "bucket (backup.info, data, every WAL segment of its range); prints id, size, duration and WAL range",
  vars = {
    tenant = { required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", description = "the tenant" },
    bucket = { description = "the backup bucket to verify in (default alaris-TENANT-backups)" },
    name = { description = "the Backup's name (default pg-TENANT-YYYYMMDDhhmmss, UTC)" },
    wait_timeout = { type = "integer", default = 900, description = "seconds to wait for the Backup to complete" },
  },
  steps = {
    step { name = "lock", description = "the tenant's Lease (taken when the playbook loaded), released at the end",
      run = function(_, t) return { tenant = t } end,
      rollback = function(_, out) ob.unlock(out.tenant) end },

    step { name = "backup", description = "an on-demand Backup (method plugin) of Cluster pg-T, waited for through a "
      .. "watch until completed; a failed one ends the run with the operator's status.error and is kept",
      plan = function(ctx)
        return { string.format("create Backup %s/%s of Cluster %s and wait up to %ds", ctx.vars.tenant,
          ctx.vars.name or ("pg-" .. ctx.vars.tenant .. "-<UTC time>"), tenant.names(ctx.vars.tenant).cluster,
          ctx.vars.wait_timeout) }
      end,
      run = function(ctx, t, kc)
        local name = ctx.vars.name or tenant.backup(t).metadata.name
        local done, err = backup.take(kc, t, { name = name, timeout = ctx.vars.wait_timeout })
        if not done then error(take_failure(t, name, err), 0) end
        ctx.log.info(string.format("Backup %s/%s completed: backup id %s", t, name, done.status.backupId))
        return { name = name, status = done.status }
      end },

    step { name = "verify", description = "in the bucket, with the tenant's Spaces key: base/<backupId>/backup.info "
      .. "and data, every WAL segment from beginWal to endWal", retries = 4, retry_delay = 3,
      plan = function(ctx)
        return { string.format("verify the backup under s3://%s/%s/", ob.bucket_name(ctx.vars, ctx.vars.tenant),
          backup.server_folder(ctx.vars.tenant)) }
      end,
      run = function(ctx, t, kc)
        local status = ctx.outputs.backup.status
        local facts = must(backup.verify(backup.tenant_spaces(kc, t), ob.bucket_name(ctx.vars, t), nil, status))
        ctx.log.info(string.format("backup %s: %s (%d bytes) in s3://%s/%s/base/%s/, took %s, WAL %s to %s "
          .. "(%d segment%s, all archived)", facts.id, human_size(facts.size), facts.size, facts.bucket, facts.folder,
          facts.id, facts.duration and string.format("%ds", facts.duration) or "an unknown time", facts.begin_wal,
          facts.end_wal, facts.wal_count,
          facts.wal_count == 1 and "" or "s"))
        facts.backup = ctx.outputs.backup.name
        return facts
      end },

    step { name = "unlock", description = "release the tenant's Lease",
      run = function(_, t) ob.unlock(t); return { released = t } end },
  },
}
