-- playbooks/pitr.lua against the lab's CloudNativePG emulation (real PostgreSQL and barman-cloud): a tenant onboarded
-- with one instance, a row before a backup, then a run of commits a second apart; recovery to three moments between
-- them (given with different UTC offsets, the last one after the final commit) brings back exactly the rows
-- committed at or before each, as verify_sql prints them; a target before the first recoverability point or in the
-- future is refused with exit 2 and the window before anything is created. Each restored Cluster is deleted after.
local T = require "testing"
local L = require "playbook_lab"
local alaris = require "alaris"
local backup = require "alaris.backup"
local k8s = require "alaris.k8s"
local recovery = require "alaris.recovery"

local kc = assert(k8s.client())
local TENANT = "pb-pitr"
local COMMITS = 5
local IDS = "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') AS ids FROM ledger"

local function clusters(t)
  local names = {}
  for _, c in ipairs(assert(kc:list_all("postgresql.cnpg.io/v1", "Cluster", t))) do names[#names + 1] = c.metadata.name end
  table.sort(names)
  return table.concat(names, ",")
end

-- The server's clock right after a commit, in the zone `zone`, as RFC 3339 with that zone's offset.
local function moment(db, zone, offset)
  local sql = string.format([[SELECT to_char(clock_timestamp() AT TIME ZONE '%s', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS t]],
    zone)
  return assert(db:query(sql))[1].t .. offset
end

-- The tenant with row 0 before a completed backup, then rows 1..COMMITS, one commit each, a second apart; returns
-- the backup's end and, per row, a moment after its commit and before the next.
local function tenant_with_history()
  L.forget_tenant(kc, TENANT, true)
  L.install_operators()
  local out, err, code = L.run("onboard", "tenant=" .. TENANT .. " instances=1 smoke=no "
    .. "app_image=registry.example/alaris/tenant-app:1")
  T.eq(code, 0, out .. err)
  recovery.with_db(kc, TENANT, "pg-" .. TENANT, { user = "app" }, function(db)
    assert(db:query("CREATE TABLE ledger (id int PRIMARY KEY, note text)"))
    assert(db:query("INSERT INTO ledger VALUES (0, 'before the backup')"))
  end)
  local done = assert(backup.take(kc, TENANT, { timeout = 300 }))
  alaris.sleep(1.5) -- past the first whole second after the backup's end
  local zones = { { "UTC", "Z" }, { "Asia/Kolkata", "+05:30" }, { "America/New_York", "-05:00" } }
  local moments = {}
  recovery.with_db(kc, TENANT, "pg-" .. TENANT, {}, function(db)
    for i = 1, COMMITS do
      assert(db:query("INSERT INTO ledger VALUES ($1::int, 'commit')", i))
      local zone = zones[i % #zones + 1]
      moments[i] = moment(db, zone[1], zone[2])
      alaris.sleep(1)
    end
  end)
  return done.status.stoppedAt, moments
end

local function expected_ids(upto)
  local ids = {}
  for i = 0, upto do ids[#ids + 1] = tostring(i) end
  return table.concat(ids, ",")
end

local history
local function prepared()
  history = history or table.pack(tenant_with_history())
  return table.unpack(history, 1, 2)
end

T.test("a target outside the recovery window: exit 2 with the window, nothing created", function()
  local stopped_at = prepared()
  local before = clusters(TENANT)
  local too_early = recovery.format_time(recovery.parse_time(stopped_at) - 5)
  local too_late = recovery.format_time(alaris.time() + 3600)
  for _, target in ipairs { too_early, too_late } do
    local out, err, code = L.run("pitr", "tenant=" .. TENANT .. " target=" .. target)
    T.eq(code, 2, target .. ": " .. out .. err)
    L.one_line(err)
    T.contains(err, "is outside the recovery window from ")
    T.contains(err, recovery.format_time(recovery.parse_time(stopped_at) + 1))
  end
  local _, err, code = L.run("pitr", "tenant=" .. TENANT .. " target=2026-12-03T12:00:00")
  T.eq(code, 2, err)
  T.contains(err, "no UTC offset")
  T.eq(clusters(TENANT), before, "no Cluster was created")
end)

-- The three runs go at once (each restore mostly waits on barman-cloud), each with its own journal and output.
T.test("recovery to moments between commits brings back exactly the rows committed at or before each", function()
  local _, moments = prepared()
  local dir, commands, names = T.tmpdir(), {}, {}
  for _, i in ipairs { 1, 3, COMMITS } do
    names[i] = string.format("pg-%s-at-%d", TENANT, i)
    commands[#commands + 1] = string.format("(%s --journal %s/%d.jsonl playbooks/pitr.lua tenant=%s target=%s name=%s "
      .. "wait_timeout=1500 verify_sql=%s > %s/%d.out 2>&1; echo $? > %s/%d.code) &", T.alaris_run, dir, i, TENANT,
      moments[i], names[i], T.sh_quote(IDS), dir, i, dir, i)
  end
  T.run(table.concat(commands, " ") .. " wait")
  for i, name in pairs(names) do
    local out = T.read_file(string.format("%s/%d.out", dir, i))
    T.eq(T.read_file(string.format("%s/%d.code", dir, i)), "0\n", out)
    T.contains(out, "verify_sql: ids=" .. expected_ids(i) .. "\n", "rows restored for target " .. moments[i])
    T.contains(out, "restored into Cluster " .. TENANT .. "/" .. name .. ": connect to Service " .. name .. "-rw")
  end
  for _, name in pairs(names) do assert(recovery.delete_cluster(kc, TENANT, name, 300)) end
  T.eq(clusters(TENANT), "pg-" .. TENANT, "only the tenant's own Cluster is left")
  L.forget_tenant(kc, TENANT, false)
end)

T.run_all()
