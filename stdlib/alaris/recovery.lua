-- alaris.recovery: the policy behind playbooks/pitr.lua and dr-drill.lua: reading RFC 3339 times and LSNs, the
-- recovery window a tenant's archive offers (from the end of its oldest completed backup to now), checking a target
-- against it, reaching a Cluster's primary, forcing a WAL switch and waiting for that segment in the bucket, and
-- restoring into a Cluster built by tenant.recovery_cluster. Taking and verifying backups is alaris.backup's;
-- waiting on objects is alaris.cnpg's; the manifests are alaris.tenant's.
local alaris = require "alaris"
local auth = require "alaris.k8s.auth"
local backup = require "alaris.backup"
local cnpg = require "alaris.cnpg"
local k8s = require "alaris.k8s"
local onboarding = require "alaris.onboarding"
local pg = require "alaris.pg"
local tenant = require "alaris.tenant"

local recovery = {}

recovery.MAX_NAME_LENGTH = 50 -- a Cluster's Services and Secrets add up to 10 characters ("-superuser") to 63

-- Raises a usage error (exit 2, one line, nothing done).
local function invalid(fmt, ...)
  error(alaris.error("invalid", string.format(fmt, ...), { usage = true }), 0)
end
recovery.refuse = invalid

local function must(value, err)
  if value == nil then error(err, 2) end
  return value
end

-- ---- times ----

local DAYS_IN_MONTH = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function leap(y) return (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0 end

-- Seconds since the epoch (a float when the text has a fraction) of an RFC 3339 date-time with its offset
-- ("2026-12-03T18:00:00Z", "2026-12-03T19:00:00.25+01:00"); nil and the reason otherwise. A time without an
-- offset is refused: which moment it names would depend on the server's time zone.
function recovery.parse_time(text)
  if type(text) ~= "string" then return nil, "a time is required" end
  local y, mo, d, h, mi, s, frac, zone =
    text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil, string.format("%q is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS+HH:MM)", text) end
  if frac == "." then return nil, string.format("%q has a '.' with no fraction of a second after it", text) end
  y, mo = tonumber(y), tonumber(mo)
  local month_days = (mo == 2 and leap(y)) and 29 or DAYS_IN_MONTH[mo]
  if not month_days or tonumber(d) < 1 or tonumber(d) > month_days or tonumber(h) > 23 or tonumber(mi) > 59
    or tonumber(s) > 59 then
    return nil, string.format("%q is not a valid date and time", text)
  end
  local oh, om = zone:match("^[+-](%d%d):(%d%d)$")
  if zone ~= "Z" and zone ~= "z" and not oh then
    return nil, string.format("%q has no UTC offset (end it with Z or +HH:MM)", text)
  end
  if oh and (tonumber(oh) > 23 or tonumber(om) > 59) then return nil, string.format("%q has an invalid UTC offset", text) end
  local seconds = auth.parse_rfc3339(text)
  if frac ~= "" then return seconds + tonumber("0" .. frac) end
  return seconds
end

-- A valid RFC 3339 text as PostgreSQL's recovery_target_time reads it at start-up: "T", and the offset as digits
-- ("Z" is a time zone abbreviation, and abbreviations are not loaded yet when the server checks that setting).
function recovery.postgres_time(text)
  local date, time, zone = text:match("^(%d+%-%d+%-%d+)[Tt ]([%d:.]+)(.*)$")
  if zone == "Z" or zone == "z" then zone = "+00:00" end
  return date .. "T" .. time .. zone
end

-- RFC 3339 in UTC, with milliseconds when the time has a fraction of a second.
function recovery.format_time(seconds)
  local whole = math.floor(seconds)
  local text = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  local ms = math.floor((seconds - whole) * 1000 + 0.5)
  if ms > 0 and ms < 1000 then text = text .. string.format(".%03d", ms) end
  return text .. "Z"
end

-- ---- LSNs ----

-- The 64-bit position of an LSN written as PostgreSQL does ("0/3000060"); nil and the reason otherwise.
function recovery.parse_lsn(text)
  local hi, lo = tostring(text):match("^(%x%x?%x?%x?%x?%x?%x?%x?)/(%x%x?%x?%x?%x?%x?%x?%x?)$")
  if not hi then return nil, string.format("%q is not an LSN (two hexadecimal numbers, as in 0/3000060)", tostring(text)) end
  return tonumber(hi, 16) * 4294967296 + tonumber(lo, 16)
end

function recovery.format_lsn(n)
  return string.format("%X/%X", n >> 32, n & 0xFFFFFFFF)
end

-- ---- names ----

-- The default name of a restored Cluster: pg-T-<what>-<yyyymmddhhmmss> in UTC.
function recovery.default_name(t, what, seconds)
  return string.format("%s-%s-%s", tenant.names(t).cluster, what, os.date("!%Y%m%d%H%M%S", math.floor(seconds)))
end

-- Refuses (exit 2) a Cluster name that is not a DNS label short enough for the names CloudNativePG derives from it.
function recovery.check_name(name)
  if not tostring(name):match("^[a-z][a-z0-9-]*$") or name:sub(-1) == "-" then
    invalid("cluster name %q is not a DNS label (lowercase letters, digits and '-', starting with a letter)",
      tostring(name))
  end
  if #name > recovery.MAX_NAME_LENGTH then
    invalid("cluster name %q is %d characters long; at most %d leave room for its Services and Secrets (give name=)",
      name, #name, recovery.MAX_NAME_LENGTH)
  end
  return name
end

-- The tenant named on the command line and its Cluster pg-T, checked before a run (exit 2 otherwise): a tenant
-- name, a namespace alaris made, the Cluster in it. Returns t, cluster and the Kubernetes client.
function recovery.tenant_cluster(name, what)
  local t = must(onboarding.tenant_list { tenant = name or "" })[1]
  local kc = onboarding.kube()
  onboarding.check_namespace(kc, t)
  local cluster = kc:get(cnpg.API, "Cluster", tenant.names(t).cluster, t)
  if not cluster then invalid("tenant %s has no Cluster %s to %s", t, tenant.names(t).cluster, what) end
  return t, cluster, kc
end

-- A playbook step whose run is called as run(ctx, tenant, kc), the tenant from ctx.vars.
function recovery.step(def)
  local run = def.run
  def.run = function(ctx) return run(ctx, ctx.vars.tenant, onboarding.kube()) end
  return def
end

-- ---- the recovery window ----

local function whole_second_after(seconds) return math.floor(seconds) + 1 end

-- Where a Cluster archives: {store, server_name} from its WAL archiver plugin.
function recovery.archive_of(cluster)
  for _, p in ipairs(cluster.spec and cluster.spec.plugins or {}) do
    if p.name == tenant.PLUGIN and p.parameters then
      return { store = p.parameters.barmanObjectName, server_name = p.parameters.serverName or cluster.metadata.name }
    end
  end
  return nil
end

-- bucket, folder of server `server_name` in the ObjectStore named `store` (its destinationPath s3://bucket/path).
function recovery.location(kc, namespace, store, server_name)
  local os_ = must(kc:get("barmancloud.cnpg.io/v1", "ObjectStore", store, namespace))
  local conf = os_.spec and os_.spec.configuration or {}
  local bucket, folder = backup.location { destinationPath = conf.destinationPath, serverName = server_name }
  if not bucket then error(string.format("ObjectStore %s/%s has no s3:// destinationPath", namespace, store), 0) end
  return bucket, folder
end

-- The completed Backups of server `server_name`, oldest end first.
function recovery.completed_backups(kc, namespace, server_name)
  local done = {}
  for _, b in ipairs(must(kc:list_all(cnpg.API, "Backup", namespace))) do
    local st = b.status or {}
    if st.phase == "completed" and st.stoppedAt and (st.serverName == nil or st.serverName == server_name) then
      done[#done + 1] = b
    end
  end
  table.sort(done, function(a, b) return a.status.stoppedAt < b.status.stoppedAt end)
  return done
end

-- The window from completed backups' ends (RFC 3339 texts) and now: {first, last} in seconds, or nil with no
-- backup. Backup times are written to the second, and a base backup serves only targets after its end: the first
-- point is the whole second after the oldest end.
function recovery.window_of(stopped_times, now, first_lsn)
  local first
  for _, text in ipairs(stopped_times) do
    local t = recovery.parse_time(text)
    if t and (not first or t < first) then first = t end
  end
  if not first then return nil end
  return { first = whole_second_after(first), last = now, first_lsn = first_lsn }
end

function recovery.window_text(w)
  if not w then return "none: the archive has no completed backup" end
  local text = string.format("from %s to %s (now)", recovery.format_time(w.first), recovery.format_time(w.last))
  if w.first_lsn then text = text .. string.format("; LSNs from %s", w.first_lsn) end
  return text
end

-- nil when the target {time = seconds} or {lsn = number, lsn_text} is inside the window, else the one-line reason.
function recovery.target_problem(w, target)
  if not w then return "there is nothing to recover from: the archive has no completed backup" end
  if target.time and (target.time < w.first or target.time > w.last) then
    return string.format("target %s is outside the recovery window %s", recovery.format_time(target.time),
      recovery.window_text(w))
  end
  if target.lsn then
    local first = w.first_lsn and recovery.parse_lsn(w.first_lsn)
    if first and target.lsn < first then
      return string.format("target LSN %s is before the end of the oldest backup (%s): recovery window %s",
        target.lsn_text, w.first_lsn, recovery.window_text(w))
    end
    if w.current_lsn and target.lsn > recovery.parse_lsn(w.current_lsn) then
      return string.format("target LSN %s is past the primary's current LSN %s: recovery window %s", target.lsn_text,
        w.current_lsn, recovery.window_text(w))
    end
  end
  return nil
end

-- The recovery window of the tenant's Cluster as its archive offers it now: {first, last, first_lsn, server_name,
-- backups}, or nil when no backup of its server completed.
function recovery.window(kc, t, cluster)
  local archive = must(recovery.archive_of(cluster), string.format("Cluster %s/%s does not archive WAL through %s",
    t, cluster.metadata.name, tenant.PLUGIN))
  local backups = recovery.completed_backups(kc, t, archive.server_name)
  local ends = {}
  for i, b in ipairs(backups) do ends[i] = b.status.stoppedAt end
  local w = recovery.window_of(ends, alaris.time(), backups[1] and backups[1].status.endLSN)
  if w then w.server_name, w.backups = archive.server_name, #backups end
  return w
end

-- ---- reaching a Cluster ----

-- Calls fn(db) with a connection to the Cluster's primary through a port-forward, as the superuser (default) or
-- opts.user = "app", to database opts.dbname (default app); closes both however fn ends, and returns what fn returns.
function recovery.with_db(kc, namespace, cluster_name, opts, fn)
  local cluster = must(kc:get(cnpg.API, "Cluster", cluster_name, namespace))
  local primary = must(cluster.status and cluster.status.currentPrimary,
    string.format("Cluster %s/%s names no primary", namespace, cluster_name))
  local n = tenant.names(namespace)
  local secret = opts.user == "app" and n.app_secret or n.superuser_secret
  local creds = k8s.secret_data(must(kc:get("v1", "Secret", secret, namespace)))
  local pf <close> = must(kc:port_forward(namespace, primary, 5432))
  local conn, err
  for attempt = 1, 3 do -- a connection through the API server's port-forward can time out on a loaded cluster
    conn, err = pg.connect { host = "127.0.0.1", port = pf.local_port, dbname = opts.dbname or "app",
      user = creds.username, password = creds.password, connect_timeout = 30 }
    if conn or err.code ~= "timeout" then break end
    alaris.sleep(attempt)
  end
  local db <close> = must(conn, err)
  return fn(db)
end

-- ---- WAL ----

-- A commit (so that recovery to any earlier moment or LSN finds a record past its target), then a WAL switch, so
-- the segment holding both is complete and handed to the archiver. {segment, lsn, xid, at}.
function recovery.switch_wal(db)
  local tick = must(db:query("SELECT txid_current()::text AS xid, clock_timestamp()::text AS at"))[1]
  local sw = must(db:query("SELECT pg_walfile_name(lsn) AS segment, lsn::text AS lsn FROM pg_switch_wal() AS lsn"))[1]
  return { segment = sw.segment, lsn = sw.lsn, xid = tick.xid, at = tick.at }
end

-- Waits until the bucket holds WAL segment `segment` (or a later one) in the server's `folder`; returns the last
-- archived {name, time}. Object storage has no watch: it is listed every second until `timeout`.
function recovery.wait_archived(s3c, bucket, folder, segment, timeout)
  local deadline = alaris.now() + (timeout or 120)
  local last
  repeat
    last = backup.last_archived_wal(s3c, bucket, folder)
    if last and last.name >= segment then return last end
    alaris.sleep(1)
  until alaris.now() > deadline
  return nil, alaris.error("timeout", string.format("WAL segment %s was not archived under s3://%s/%s/wals/ within "
    .. "%ss (last archived: %s)", segment, bucket, folder, tostring(timeout or 120), last and last.name or "none"))
end

-- ---- the DR drill's own table ----

-- The drill writes its commits, one row each, to alaris_drill.ticks in the app database: a marker before the
-- backup, one just before the WAL switch that becomes the last archived WAL, one after it (a commit only the
-- destroyed Cluster had, unless archiving caught it). Each row keeps its commit's time and transaction id, so what
-- a restore lost is counted, not assumed.
recovery.DRILL_SCHEMA = "alaris_drill"

function recovery.drill_prepare(db)
  must(db:exec("CREATE SCHEMA IF NOT EXISTS alaris_drill; CREATE TABLE IF NOT EXISTS alaris_drill.ticks ("
    .. "n bigserial PRIMARY KEY, run text NOT NULL, what text NOT NULL, "
    .. "at timestamptz NOT NULL DEFAULT clock_timestamp(), xid bigint NOT NULL DEFAULT txid_current())"))
end

local TICK_COLUMNS = "n, what, extract(epoch FROM at)::float8 AS at, xid"

-- One committed row; returns {n, what, at (epoch seconds), xid}.
function recovery.drill_tick(db, run, what)
  return must(db:query("INSERT INTO alaris_drill.ticks (run, what) VALUES ($1, $2) RETURNING " .. TICK_COLUMNS,
    run, what))[1]
end

-- The newest row of run `run` ({n, what, at, xid}), nil when there is none.
function recovery.drill_last_tick(db, run)
  return must(db:query("SELECT " .. TICK_COLUMNS .. " FROM alaris_drill.ticks WHERE run = $1 ORDER BY n DESC LIMIT 1",
    run))[1]
end

-- {["schema.table"] = rows} of every user table outside the drill's schema, counted in one snapshot.
function recovery.table_counts(db)
  local counts = {}
  must(db:transaction(function(tx)
    must(tx:exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    local tables = must(tx:query("SELECT schemaname, relname FROM pg_stat_user_tables WHERE schemaname <> $1 "
      .. "ORDER BY 1, 2", recovery.DRILL_SCHEMA))
    for _, r in ipairs(tables) do
      local sql = string.format("SELECT count(*) AS n FROM %s.%s", pg.quote_ident(r.schemaname), pg.quote_ident(r.relname))
      counts[r.schemaname .. "." .. r.relname] = must(tx:query(sql))[1].n
    end
  end))
  return counts
end

-- Tables with fewer rows than counted (lost rows: the drill fails) and with more (written after the count).
function recovery.compare_counts(before, after)
  local missing, extra = {}, {}
  for name, n in pairs(before) do
    local now = after[name] or 0
    if now < n then missing[#missing + 1] = string.format("%s: %d of %d rows", name, now, n) end
    if now > n then extra[#extra + 1] = string.format("%s: %d rows, %d counted", name, now, n) end
  end
  table.sort(missing)
  table.sort(extra)
  return missing, extra
end

-- RTO and RPO from the drill's facts: destroyed and ready (epoch seconds), last (the last drill commit before the
-- destruction) and restored (the newest drill commit the restored database holds), each {n, at, xid}.
function recovery.objectives(facts)
  local lost = facts.last.n - facts.restored.n
  return {
    rto = facts.ready - facts.destroyed,
    lost_commits = lost,
    lost_seconds = lost > 0 and (facts.last.at - facts.restored.at) or 0,
    lost_xids = lost > 0 and (facts.last.xid - facts.restored.xid) or 0,
  }
end

-- ---- restoring ----

-- Applies a Cluster built by tenant.recovery_cluster and waits until it is Ready; returns the Cluster.
function recovery.restore(kc, manifest, timeout)
  must(kc:apply(manifest, { field_manager = "alaris" }))
  return must(cnpg.wait_ready(kc, manifest.metadata.namespace, manifest.metadata.name, timeout))
end

local CLUSTER_LABEL = "cnpg.io/cluster"

-- A copy of `value` with every cnpg.io/cluster label equal to `from` set to `to`.
local function relabelled(value, from, to)
  if type(value) ~= "table" then return value end
  local copy = {}
  for k, v in pairs(value) do
    copy[k] = (k == CLUSTER_LABEL and v == from) and to or relabelled(v, from, to)
  end
  return copy
end

-- The tenant's database policies (tenant.network_policies' db-ingress and db-egress) for another Cluster of the
-- tenant, named <cluster>-ingress and <cluster>-egress: under the tenant's default deny, a restored Cluster's pods
-- need them to reach object storage and the API server, and for the operator and the ops client to reach them.
-- Owned by the Cluster (the live object, with its uid), they go when it is deleted. addresses: {object_storage,
-- api_server} as tenant.network_policies takes them.
function recovery.network_policies(t, cluster, addresses)
  local n, name = tenant.names(t), cluster.metadata.name
  local owner = { apiVersion = cnpg.API, kind = "Cluster", name = name, uid = cluster.metadata.uid,
    blockOwnerDeletion = true }
  local policies = {}
  for _, p in ipairs(tenant.network_policies(t, addresses)) do
    local direction = p.metadata.name:match("^db%-(%a+)$")
    if direction then
      local copy = relabelled(p, n.cluster, name)
      copy.metadata.name = name .. "-" .. direction
      copy.metadata.ownerReferences = { owner }
      policies[#policies + 1] = copy
    end
  end
  return policies
end

-- Deletes a Cluster and waits until it is gone (a missing one is fine). The wait is a series of short ones, each
-- listing before it watches: on a loaded API server a watch can miss the deletion, which then costs one round only.
function recovery.delete_cluster(kc, namespace, name, timeout)
  local ref = { apiVersion = cnpg.API, kind = "Cluster", metadata = { name = name, namespace = namespace } }
  local ok, err = kc:delete(ref, { propagation = "Foreground" })
  if not ok and err.code ~= "not_found" then error(err, 0) end
  local deadline = alaris.now() + (timeout or 300)
  repeat
    if kc:wait(ref, "deleted", { timeout = math.max(1, math.min(20, deadline - alaris.now())) }) then return true end
  until alaris.now() >= deadline
  error(alaris.error("timeout", string.format("timed out after %ss waiting for Cluster %s/%s to be deleted",
    tostring(timeout or 300), namespace, name)), 0)
end

local function value_text(v)
  if v == pg.null then return "NULL" end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = value_text(x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

-- A query's rows as lines "column=value, ...", columns in their order; "(no rows)" when there are none.
function recovery.rows_text(result)
  local lines = {}
  for i, row in ipairs(result) do
    local parts = {}
    for j, f in ipairs(result.fields or {}) do parts[j] = f.name .. "=" .. value_text(row[f.name]) end
    lines[i] = table.concat(parts, ", ")
  end
  if #lines == 0 then lines[1] = "(no rows)" end
  return lines
end

-- How to reach a Cluster: its -rw Service, its primary pod and address, and the Secrets holding the passwords.
function recovery.reach(kc, namespace, cluster)
  local primary = cluster.status and cluster.status.currentPrimary
  local pod = primary and kc:get("v1", "Pod", primary, namespace)
  local n = tenant.names(namespace)
  return { namespace = namespace, cluster = cluster.metadata.name, service = cluster.metadata.name .. "-rw",
    primary = primary, address = pod and pod.status and pod.status.podIP or nil, dbname = "app",
    app_secret = n.app_secret, superuser_secret = n.superuser_secret }
end

return recovery
