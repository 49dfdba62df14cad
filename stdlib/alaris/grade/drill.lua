-- alaris.grade.drill: grade's DR drill and PITR check, proven on real restores that leave the tenant's own
-- Cluster alone, from what a disaster would leave: the newest completed base backup and the WAL archived after it.
-- Once per tenant and run: a row "before" is written, the target time read from the server's clock, a row "after"
-- written, the WAL switched and the switched segment waited for in the bucket. The DR drill restores the newest
-- state into a new Cluster and finds "before"; PITR restores to the target and finds "before" and not "after". Each
-- restore is a Cluster of one instance without archiving, admitted by
-- copies of the tenant's database NetworkPolicies, and deleted with them afterwards (grade's final sweep removes
-- whatever a timeout left).
local alaris = require "alaris"
local backup = require "alaris.backup"
local check = require "alaris.check"
local cnpg = require "alaris.cnpg"
local facts = require "alaris.grade.facts"
local probe = require "alaris.grade.probe"
local tenant = require "alaris.tenant"

local drill = {}

drill.TABLE = "alaris_grade_drill"
local CLUSTER_LABEL = "cnpg.io/cluster"
local cannot = facts.cannot

local function labelled(obj, env)
  obj.metadata.labels = obj.metadata.labels or {}
  obj.metadata.labels[probe.RUN_LABEL] = env.run_id
  obj.metadata.labels["app.kubernetes.io/managed-by"] = "alaris"
  return obj
end

local function sql(db, query, ...)
  local rows, err = db:query(query, ...)
  if not rows then cannot("%s: %s", query:match("^%S+ %S+"), tostring(err)) end
  return rows
end

local function with_session(env, t, opts, fn)
  local db <close>, why = facts.connect(env, t, opts)
  if not db then cannot("%s", why) end
  return fn(db)
end

-- Waits until the bucket holds `segment` (or a later one) for the tenant's server.
local function wait_archived(env, t, segment, timeout)
  local store = facts.store(env, t)
  local deadline, delay = alaris.now() + timeout, 0.5
  while true do
    local wal = backup.last_archived_wal(facts.spaces(env), store.bucket, store.folder)
    if wal and wal.name >= segment then return wal end
    if alaris.now() > deadline then
      cannot("WAL segment %s was not archived within %ds (newest in the bucket: %s)", segment, timeout,
        wal and wal.name or "none")
    end
    alaris.sleep(delay)
    delay = math.min(delay * 1.5, 5)
  end
end

-- The newest completed Backup, which the restores start from (with the WAL archived after it).
local function newest_backup(env, t)
  local b, err = backup.latest(env.kc, t)
  if err then cannot("cannot list the Backups of %s: %s", t, tostring(err)) end
  return b
end

-- The rows, the base backup and the target time the restores are checked against; once per tenant. Nothing is
-- backed up for the drill: what is restored is what a disaster would have, the newest base backup and the WAL.
function drill.prepare(env, t)
  return facts.once(env, "drill/" .. t, function()
    facts.tenant(env, t)
    local base = newest_backup(env, t)
    if not base then return { missing = "no completed Backup of pg-" .. t .. " to restore from" } end
    with_session(env, t, nil, function(db)
      sql(db, "create table if not exists " .. drill.TABLE .. " (run text, label text, at timestamptz default clock_timestamp())")
      sql(db, "insert into " .. drill.TABLE .. " (run, label) values ($1, 'before')", env.run_id)
    end)
    local target = with_session(env, t, nil, function(db)
      local at = sql(db, "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
        .. "|| '+00:00' as t")[1].t -- a numeric offset: PostgreSQL reads no zone abbreviation in its settings
      alaris.sleep(0.05) -- the next commit is after the target whatever the clocks' resolution
      sql(db, "insert into " .. drill.TABLE .. " (run, label) values ($1, 'after')", env.run_id)
      return at
    end)
    local segment = with_session(env, t, { role = "superuser" }, function(db)
      return sql(db, "select pg_walfile_name(pg_switch_wal()) as seg")[1].seg
    end)
    facts.timed(env, "wal archived", wait_archived, env, t, segment, env.drill_timeout)
    return { backup = base.metadata.name, backup_id = base.status.backupId, target = target, segment = segment }
  end)
end

-- Copies of the tenant's database policies selecting the restored cluster's pods (the operator must reach them).
local function admit(env, t, cluster_name)
  local own = tenant.names(t).cluster
  local made = {}
  for _, p in ipairs(env.kc:list_all("networking.k8s.io/v1", "NetworkPolicy", t) or {}) do
    local sel = p.spec.podSelector and p.spec.podSelector.matchLabels
    if sel and sel[CLUSTER_LABEL] == own then
      local copy = labelled({ apiVersion = "networking.k8s.io/v1", kind = "NetworkPolicy",
        metadata = { name = cluster_name .. "-" .. p.metadata.name, namespace = t }, spec = p.spec }, env)
      copy.spec.podSelector = { matchLabels = { [CLUSTER_LABEL] = cluster_name } }
      local ok, err = env.kc:apply(copy, { field_manager = "alaris" })
      if not ok then cannot("cannot admit the restored cluster: %s", tostring(err)) end
      made[#made + 1] = copy
    end
  end
  return made
end

local function remove(env, objects)
  for _, obj in ipairs(objects) do env.kc:delete(obj) end
end

-- Restores into a new Cluster (to opts.target_time when given) and returns the labels of this run's rows in it.
local function restore(env, t, suffix, target_time)
  local f = facts.tenant(env, t)
  local name = string.format("pg-%s-%s-%s", t, suffix, env.run_id)
  -- from the server the tenant's Cluster archives to now (after an in-place restore, not pg-T's first one)
  local cluster = labelled(tenant.recovery_cluster(t, { name = name, target_time = target_time, instances = 1,
    image = f.cluster.spec.imageName, source_server_name = facts.store(env, t).server }), env)
  cluster.spec.plugins = nil -- a drill's copy archives nothing
  local policies = admit(env, t, name)
  local ok, result = pcall(function()
    local made, err = env.kc:apply(cluster, { field_manager = "alaris" })
    if not made then cannot("cannot create the restored Cluster %s: %s", name, tostring(err)) end
    local started = alaris.now()
    local ready, werr = facts.timed(env, "restore ready", cnpg.wait_ready, env.kc, t, name, env.drill_timeout)
    if not ready then return { failed = tostring(werr), name = name } end
    local rows = with_session(env, t, { pod = ready.status.currentPrimary or (name .. "-1") }, function(db)
      return sql(db, "select label from " .. drill.TABLE .. " where run = $1 order by at", env.run_id)
    end)
    local labels = {}
    for _, r in ipairs(rows) do labels[#labels + 1] = r.label end
    return { name = name, labels = table.concat(labels, ","), seconds = alaris.now() - started }
  end)
  remove(env, { cluster })
  remove(env, policies)
  if not ok then error(result, 0) end
  return result
end

-- 9. DR drill: the newest state restored into a new Cluster (the newest base backup and the WAL after it) holds the
-- row written just before.
function drill.dr(env, t)
  local prep = drill.prepare(env, t)
  if prep.missing then return check.FAIL, prep.missing end
  local r = restore(env, t, "dr", nil)
  if r.failed then return check.FAIL, "the restore did not become Ready: " .. r.failed end
  if not (("," .. r.labels .. ","):find(",before,", 1, true)) then
    return check.FAIL, string.format("restored %s from Backup %s and the WAL to %s: the row written before the switch "
      .. "is missing (rows: %s)", r.name, prep.backup, prep.segment, r.labels == "" and "none" or r.labels)
  end
  return check.PASS, string.format("restored %s from Backup %s (%s) and the WAL to %s, Ready in %.0fs: rows %s", r.name,
    prep.backup, tostring(prep.backup_id), prep.segment, r.seconds, r.labels)
end

-- 10. PITR: restored to a time between two commits, exactly the earlier row is there.
function drill.pitr(env, t)
  local prep = drill.prepare(env, t)
  if prep.missing then return check.FAIL, prep.missing end
  local r = restore(env, t, "pitr", prep.target)
  if r.failed then return check.FAIL, "the restore to " .. prep.target .. " did not become Ready: " .. r.failed end
  if r.labels ~= "before" then
    return check.FAIL, string.format("restored %s to %s: expected only the row before the target, found: %s", r.name,
      prep.target, r.labels == "" and "none" or r.labels)
  end
  return check.PASS, string.format("restored %s to %s (WAL to %s archived) Ready in %.0fs: the row before the target "
    .. "is there, the one after is not", r.name, prep.target, prep.segment, r.seconds)
end

return drill
