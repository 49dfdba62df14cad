-- Point-in-time recovery of a tenant's database into a NEW Cluster, the tenant's own left untouched:
--   alaris-run playbooks/pitr.lua tenant=acme target=2026-12-03T18:04:05+01:00   (or lsn=0/3000060)
-- The target is checked against the recovery window (from the end of the oldest completed backup to now) while this
-- file loads, so a target outside it stops the run with exit 2, the window shown, before anything is created. Then
-- a WAL switch on the primary and a wait until that segment is in the bucket, the recovery Cluster (bootstrap
-- recovery only, archiving under its own serverName), its wait for Ready, how to reach it, and verify_sql's answer.
-- A rollback deletes the new Cluster.
local alaris = require "alaris"
local cnpg = require "alaris.cnpg"
local ob = require "alaris.onboarding"
local playbook = require "alaris.playbook"
local recovery = require "alaris.recovery"
local tenant = require "alaris.tenant"

local must = ob.must
local given, flags = ob.args(arg)

local refuse = recovery.refuse

-- The target as given: {time = seconds, text} or {lsn = number, lsn_text}; exit 2 when missing or unreadable.
local function requested_target()
  if given.target and given.lsn then refuse("give target= or lsn=, not both") end
  if given.lsn then
    local lsn, err = recovery.parse_lsn(given.lsn)
    if not lsn then refuse("lsn=%s", err) end
    return { lsn = lsn, lsn_text = given.lsn:upper() }
  end
  if not given.target then refuse("give target=TIME (RFC 3339 with its offset) or lsn=LSN (see --help)") end
  local time, err = recovery.parse_time(given.target)
  if not time then refuse("target=%s", err) end
  return { time = time, text = given.target }
end

-- The tenant's current LSN, for an lsn= target's upper bound.
local function current_lsn(kc, t)
  return recovery.with_db(kc, t, tenant.names(t).cluster, {}, function(db)
    return must(db:query("SELECT pg_current_wal_lsn()::text AS lsn"))[1].lsn
  end)
end

-- Everything checked before any step: the tenant, its Cluster, the new name, and the target inside the window (not
-- again for --resume and --rollback: the journal's run made its Cluster already, and the window has moved on).
local function checked_request()
  local t, cluster, kc = recovery.tenant_cluster(given.tenant, "recover from")
  local target = requested_target()
  local name = recovery.check_name(given.name or recovery.default_name(t, "pitr", alaris.time()))
  local window = recovery.window(kc, t, cluster)
  local request = { tenant = t, name = name, window = recovery.window_text(window),
    server_name = recovery.archive_of(cluster) and recovery.archive_of(cluster).server_name }
  if flags["--resume"] or flags["--rollback"] then return request end
  if kc:get(cnpg.API, "Cluster", name, t) then refuse("Cluster %s/%s exists already: give another name=", t, name) end
  if window and target.lsn then window.current_lsn = current_lsn(kc, t) end
  local problem = recovery.target_problem(window, target)
  if problem then refuse("%s", problem) end
  return request
end

local request = {}
if not (flags["--help"] or flags["--list"]) then request = checked_request() end

local step = recovery.step

-- The new Cluster's name as the cluster step journaled it (a resumed run keeps it), else the one checked on load.
local function new_name(ctx) return ctx.outputs.cluster and ctx.outputs.cluster.cluster or request.name end

local function target_of(vars)
  if vars.lsn then return { target_lsn = vars.lsn:upper() } end
  return { target_time = recovery.postgres_time(vars.target) }
end

return playbook {
  name = "pitr",
  description = "Point-in-time recovery of a tenant's database into a new Cluster (the tenant's own is not touched)",
  vars = {
    tenant = { required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", description = "the tenant" },
    target = { description = "the moment to recover to: RFC 3339 with its offset (2026-12-03T18:04:05+01:00)" },
    lsn = { description = "or the LSN to recover to (0/3000060)" },
    name = { description = "the new Cluster (default pg-T-pitr-<yyyymmddhhmmss>, UTC)" },
    instances = { type = "integer", default = 1, description = "instances of the new Cluster" },
    verify_sql = { description = "a query run on the restored database as the app user; its rows are printed" },
    wal_timeout = { type = "integer", default = 120, description = "seconds to wait for the WAL switch's segment in the bucket" },
    wait_timeout = { type = "integer", default = 600, description = "seconds to wait for the new Cluster to be Ready" },
  },
  steps = {
    step { name = "window", description = "the target inside the recovery window (checked when the playbook loaded)",
      run = function(ctx)
        ctx.log.info("recovery window " .. request.window)
        return { window = request.window, name = request.name }
      end },

    step { name = "wal-switch", description = "a commit and a WAL switch on the primary, the segment waited for in the bucket",
      retries = 2, retry_delay = 1,
      run = function(ctx, t, kc)
        local switched = recovery.with_db(kc, t, tenant.names(t).cluster, {}, recovery.switch_wal)
        local bucket, folder = recovery.location(kc, t, tenant.names(t).object_store, request.server_name)
        local last = must(recovery.wait_archived(ob.spaces(), bucket, folder, switched.segment, ctx.vars.wal_timeout))
        ctx.log.info(string.format("WAL through segment %s is archived (switch at LSN %s)", last.name, switched.lsn))
        return { segment = switched.segment, lsn = switched.lsn, last_archived = last.name }
      end },

    step { name = "cluster", description = "the new Cluster (bootstrap recovery to the target) and its database NetworkPolicies",
      plan = function(ctx)
        return { string.format("create Cluster %s/%s recovering %s", ctx.vars.tenant, request.name,
          ctx.vars.lsn and ("to LSN " .. ctx.vars.lsn) or ("to " .. tostring(ctx.vars.target))) }
      end,
      run = function(ctx, t, kc)
        local opts = target_of(ctx.vars)
        opts.name, opts.instances = request.name, ctx.vars.instances
        opts.source_server_name = request.server_name
        local cluster = must(kc:apply(tenant.recovery_cluster(t, opts), { field_manager = "alaris" }))
        ob.apply(kc, recovery.network_policies(t, cluster, ob.addresses(kc)))
        return { cluster = request.name, namespace = t }
      end,
      rollback = function(ctx, out) recovery.delete_cluster(ob.kube(), out.namespace, out.cluster, ctx.vars.wait_timeout) end },

    step { name = "ready", description = "the new Cluster Ready (a watch; wait_timeout)",
      run = function(ctx, t, kc)
        local c = must(cnpg.wait_ready(kc, t, new_name(ctx), ctx.vars.wait_timeout))
        local reach = recovery.reach(kc, t, c)
        ctx.log.info(string.format("restored into Cluster %s/%s: connect to Service %s (primary %s at %s), database %s, "
          .. "passwords in Secrets %s and %s", t, reach.cluster, reach.service, tostring(reach.primary),
          tostring(reach.address), reach.dbname, reach.app_secret, reach.superuser_secret))
        return reach
      end },

    step { name = "verify", description = "verify_sql run on the restored database as the app user, its rows printed",
      run = function(ctx, t, kc)
        if not ctx.vars.verify_sql then return { skipped = "no verify_sql" } end
        local lines = recovery.with_db(kc, t, new_name(ctx), { user = "app" }, function(db)
          return recovery.rows_text(must(db:query(ctx.vars.verify_sql)))
        end)
        for _, line in ipairs(lines) do ctx.log.info("verify_sql: " .. line) end
        return { rows = #lines, result = table.concat(lines, "\n") }
      end },
  },
}
