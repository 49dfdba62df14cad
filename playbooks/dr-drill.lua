-- A disaster-recovery drill on a tenant: its database destroyed and restored from Spaces, with what came back proven
-- and the recovery objectives measured.
--   alaris-run playbooks/dr-drill.lua tenant=acme                 (restores into a new Cluster)
--   alaris-run playbooks/dr-drill.lua tenant=acme in_place=yes    (under the original name: the app reconnects)
-- A marker row, a verified Backup, every table counted and a WAL switch waited for in the bucket (the last archived
-- WAL), one more commit after it; then the Cluster is deleted, restored from the archive and waited Ready; the marker
-- and every table's rows are checked, and RTO (destruction to Ready) and RPO (the drill's commits lost, in time and
-- in transaction ids) printed. The destruction is not undone by a rollback: the restore is the way back. The input
-- is checked and the tenant's Lease taken while this file loads (exit 2 on bad input or a held Lease).
local alaris = require "alaris"
local backup = require "alaris.backup"
local cnpg = require "alaris.cnpg"
local crypto = require "alaris.crypto"
local ob = require "alaris.onboarding"
local playbook = require "alaris.playbook"
local recovery = require "alaris.recovery"
local tenant = require "alaris.tenant"

local must = ob.must
local given, flags = ob.args(arg)

local refuse = recovery.refuse

-- Everything checked before any step: the tenant and its Cluster, where it archives, the restored Cluster's name.
-- --resume and --rollback check the name only: the run's facts are in its journal (the survey step), and after the
-- destroy step there is no Cluster to check.
local function checked_request()
  local again = flags["--resume"] or flags["--rollback"]
  if again then
    local t = must(ob.tenant_list { tenant = given.tenant or "" })[1]
    ob.lock(ob.kube(), t, true)
    return { tenant = t }
  end
  local t, cluster, kc = recovery.tenant_cluster(given.tenant, "drill on")
  local n = tenant.names(t)
  local archive = recovery.archive_of(cluster)
  if not archive then refuse("Cluster %s/%s does not archive WAL through %s", t, n.cluster, tenant.PLUGIN) end
  local in_place = given.in_place == "yes" or given.in_place == "true"
  local fresh = recovery.check_name(given.name or recovery.default_name(t, "drill", alaris.time()))
  if in_place and given.name then refuse("in_place=yes restores under %s: give no name=", n.cluster) end
  if not in_place and kc:get(cnpg.API, "Cluster", fresh, t) then refuse("Cluster %s/%s exists already", t, fresh) end
  if not (flags["--dry-run"] or flags["-n"]) then ob.lock(kc, t, false) end
  return { tenant = t, source = archive.server_name, store = archive.store, in_place = in_place,
    name = in_place and n.cluster or fresh, server_name = fresh, run = crypto.hex(crypto.random_bytes(6)) }
end

local request = {}
if not (flags["--help"] or flags["--list"]) then request = checked_request() end

local step = recovery.step

local function on_tenant(kc, t, fn) return recovery.with_db(kc, t, tenant.names(t).cluster, {}, fn) end

-- The drill's facts as the survey step journaled them (a resumed run keeps the first run's).
local function drill(ctx) return ctx.outputs.survey end

local function seconds(x) return string.format("%.1f s", x) end

return playbook {
  name = "dr-drill",
  description = "A DR drill: a tenant's Cluster destroyed and restored from Spaces, its rows verified, RTO and RPO measured",
  vars = {
    tenant = { required = true, pattern = "^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", description = "the tenant" },
    in_place = { type = "boolean", default = false, description = "restore under the original name pg-T (the app reconnects)" },
    name = { description = "the restored Cluster when not in place (default pg-T-drill-<yyyymmddhhmmss>, UTC)" },
    wal_timeout = { type = "integer", default = 120, description = "seconds to wait for the switched WAL segment in the bucket" },
    wait_timeout = { type = "integer", default = 900, description = "seconds to wait for the backup, the deletion and Ready" },
  },
  steps = {
    step { name = "lock", description = "the tenant's Lease (taken when the playbook loaded), released at the end",
      run = function(_, t) return { tenant = t } end,
      rollback = function(_, out) ob.unlock(out.tenant) end },

    step { name = "survey", description = "the drill's facts: where the Cluster archives, the restored Cluster's name, a run id",
      run = function(ctx)
        ctx.log.info(string.format("drill %s: restoring %s from server %s", request.run,
          request.in_place and "in place" or ("into Cluster " .. request.name), request.source))
        return { source = request.source, store = request.store, in_place = request.in_place, name = request.name,
          server_name = request.server_name, run = request.run }
      end },

    step { name = "marker", description = "the drill's marker row, committed in alaris_drill.ticks",
      run = function(ctx, t, kc)
        local tick = on_tenant(kc, t, function(db)
          recovery.drill_prepare(db)
          return recovery.drill_tick(db, drill(ctx).run, "marker")
        end)
        ctx.log.info(string.format("marker: row %d", tick.n))
        return { marker = tick }
      end },

    step { name = "backup", description = "an on-demand Backup, waited for and verified in the bucket",
      run = function(ctx, t, kc)
        local done = must(backup.take(kc, t, { timeout = ctx.vars.wait_timeout }))
        local facts = must(backup.verify(ob.spaces(), nil, nil, done.status))
        ctx.log.info(string.format("backup %s verified: %d bytes, WAL %s to %s", facts.id, facts.size, facts.begin_wal,
          facts.end_wal))
        return { backup = done.metadata.name, id = facts.id, stopped = done.status.stoppedAt }
      end },

    step { name = "archive", description = "every table counted, a commit, a WAL switch waited for in the bucket",
      run = function(ctx, t, kc)
        local counts, tick, switched = on_tenant(kc, t, function(db)
          local c = recovery.table_counts(db)
          return c, recovery.drill_tick(db, drill(ctx).run, "archived"), recovery.switch_wal(db)
        end)
        local bucket, folder = recovery.location(kc, t, drill(ctx).store, drill(ctx).source)
        local last = must(recovery.wait_archived(ob.spaces(), bucket, folder, switched.segment, ctx.vars.wal_timeout))
        ctx.log.info(string.format("last archived WAL %s; row %d is in it", last.name, tick.n))
        return { counts = counts, archived = tick, last_wal = last.name, last_wal_time = last.time }
      end },

    step { name = "after-archive", description = "one commit after the last archived WAL: what a disaster now would put at risk",
      run = function(ctx, t, kc)
        return { last = on_tenant(kc, t, function(db) return recovery.drill_tick(db, drill(ctx).run, "after-archive") end) }
      end },

    step { name = "destroy", description = "delete Cluster pg-T and wait until it is gone (not undone: the restore is the way back)",
      run = function(ctx, t, kc)
        local destroyed = alaris.time()
        recovery.delete_cluster(kc, t, tenant.names(t).cluster, ctx.vars.wait_timeout)
        ctx.log.info(string.format("Cluster %s/%s destroyed at %s", t, tenant.names(t).cluster,
          recovery.format_time(destroyed)))
        return { destroyed = destroyed }
      end },

    step { name = "restore", description = "a Cluster restored from the archive (new, or pg-T with in_place=yes), waited Ready",
      run = function(ctx, t, kc)
        local d = drill(ctx)
        local manifest = tenant.recovery_cluster(t, { name = d.name, in_place = d.in_place, server_name = d.server_name,
          source_server_name = d.source, instances = 1 })
        local applied = must(kc:apply(manifest, { field_manager = "alaris" }))
        if not d.in_place then ob.apply(kc, recovery.network_policies(t, applied, ob.addresses(kc))) end
        local ready = must(cnpg.wait_ready(kc, t, d.name, ctx.vars.wait_timeout))
        local at = alaris.time()
        ctx.log.info(string.format("Cluster %s/%s restored and Ready at %s", t, d.name, recovery.format_time(at)))
        return { ready = at, reach = recovery.reach(kc, t, ready), namespace = t, cluster = d.name, in_place = d.in_place }
      end,
      rollback = function(ctx, out)
        if not out.in_place then recovery.delete_cluster(ob.kube(), out.namespace, out.cluster, ctx.vars.wait_timeout) end
      end },

    step { name = "verify", description = "the marker and every table's rows in the restored database",
      run = function(ctx, t, kc)
        local counts, restored, marker = recovery.with_db(kc, t, drill(ctx).name, {}, function(db)
          return recovery.table_counts(db), recovery.drill_last_tick(db, drill(ctx).run),
            db:query("SELECT n FROM alaris_drill.ticks WHERE run = $1 AND what = 'marker'", drill(ctx).run)
        end)
        if not (marker and marker[1]) then error("the marker row of run " .. drill(ctx).run .. " was not restored", 0) end
        local missing, extra = recovery.compare_counts(ctx.outputs.archive.counts, counts)
        if #missing > 0 then error("rows committed before the last archived WAL were lost: " .. table.concat(missing, "; "), 0) end
        for _, e in ipairs(extra) do ctx.log.info("written after the count: " .. e) end
        local tables = 0
        for _ in pairs(counts) do tables = tables + 1 end
        ctx.log.info(string.format("marker found; %d tables with every row counted before the destruction", tables))
        return { restored = restored, tables = tables }
      end },

    step { name = "report", description = "RTO and RPO, and how to reach the restored database",
      run = function(ctx, t)
        local o = recovery.objectives { destroyed = ctx.outputs.destroy.destroyed, ready = ctx.outputs.restore.ready,
          last = ctx.outputs["after-archive"].last, restored = ctx.outputs.verify.restored }
        local reach = ctx.outputs.restore.reach
        ctx.log.info(string.format("RTO %s (destroyed %s, Ready %s)", seconds(o.rto),
          recovery.format_time(ctx.outputs.destroy.destroyed), recovery.format_time(ctx.outputs.restore.ready)))
        ctx.log.info(string.format("RPO %s: %d commit(s) lost, %d transaction id(s) after the last restored commit "
          .. "(last archived WAL %s)", seconds(o.lost_seconds), o.lost_commits, o.lost_xids, ctx.outputs.archive.last_wal))
        ctx.log.info(string.format("the restored database: Cluster %s/%s, Service %s, database %s", t, reach.cluster,
          reach.service, reach.dbname))
        return o
      end },

    step { name = "unlock", description = "release the tenant's Lease",
      run = function(_, t) ob.unlock(t); return { released = t } end },
  },
}
