-- playbooks/dr-drill.lua against the lab's CloudNativePG emulation (real PostgreSQL and barman-cloud): a tenant with
-- two tables of rows is drilled (its Cluster destroyed, restored from the bucket into a new Cluster); nothing
-- committed before the last archived WAL is lost (every table's rows and the drill's archived row are back), and the
-- RTO and RPO it prints agree with the journal's timestamps and with what the restored database holds. Bad input
-- exits 2 before anything is touched.
local T = require "testing"
local L = require "playbook_lab"
local json = require "alaris.json"
local k8s = require "alaris.k8s"
local recovery = require "alaris.recovery"

local kc = assert(k8s.client())
local TENANT = "pb-drill"

-- The journal's records, and per step its step_started and step_done records.
local function read_journal(path)
  local steps = {}
  for line in io.lines(path) do
    local rec = json.decode(line)
    if rec.step then
      steps[rec.step] = steps[rec.step] or {}
      steps[rec.step][rec.event] = rec
    end
  end
  return steps
end

local function at(rec) return recovery.parse_time(rec.time) end

T.test("bad input: exit 2, one line, nothing touched", function()
  for _, case in ipairs { { "tenant=Bad", "not a DNS label" }, { "tenant=pb-drill-none", "" },
    { "", "needs a name" } } do
    local out, err, code = L.run("dr-drill", case[1])
    T.eq(code, 2, case[1] .. ": " .. out .. err)
    L.one_line(err)
    T.contains(err, case[2])
  end
end)

T.test("the drill loses nothing committed before the last archived WAL; RTO and RPO agree with the journal", function()
  L.forget_tenant(kc, TENANT, true)
  L.install_operators()
  local out, err, code = L.run("onboard", "tenant=" .. TENANT .. " instances=1 smoke=no "
    .. "app_image=registry.example/alaris/tenant-app:1")
  T.eq(code, 0, out .. err)
  recovery.with_db(kc, TENANT, "pg-" .. TENANT, {}, function(db)
    assert(db:exec("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 250);"
      .. "CREATE SCHEMA shop; CREATE TABLE shop.events (id int); INSERT INTO shop.events SELECT generate_series(1, 7)"))
  end)
  local dir = T.tmpdir()
  -- a short name: the lab's instance keeps its Unix socket under data/<namespace>/<cluster>/<pod>/, which
  -- PostgreSQL refuses past 107 bytes
  out, err, code = T.run(string.format("%s --journal %s/journal.jsonl playbooks/dr-drill.lua tenant=%s name=pg-%s-r",
    T.alaris_run, dir, TENANT, TENANT))
  local text = out .. err
  T.eq(code, 0, text)
  T.contains(text, "marker found; 2 tables with every row counted before the destruction")
  local steps = read_journal(dir .. "/journal.jsonl")
  local destroyed = steps.destroy.step_done.output.destroyed
  local ready = steps.restore.step_done.output.ready
  -- RTO: from the destruction to Ready, inside the journal's own window for those steps
  local rto = tonumber(text:match("RTO ([%d.]+) s"))
  T.ok(rto, text)
  T.ok(math.abs(rto - (ready - destroyed)) < 0.06, "RTO is Ready minus destroyed")
  T.ok(destroyed >= at(steps.destroy.step_started) - 0.001, "destroyed after the destroy step started")
  T.ok(ready <= at(steps.restore.step_done) + 0.001, "Ready before the restore step ended")
  T.ok(rto >= steps.restore.step_done.duration_ms / 1000 - 0.5, "RTO covers the whole restore")
  -- RPO: what the restored database holds against the drill's commits in the journal
  local run = steps.survey.step_done.output.run
  local archived = steps.archive.step_done.output.archived
  local last = steps["after-archive"].step_done.output.last
  local newest = recovery.with_db(kc, TENANT, "pg-" .. TENANT .. "-r", {}, function(db)
    T.eq(assert(db:query("SELECT count(*) AS n FROM orders"))[1].n, 250)
    T.eq(assert(db:query("SELECT count(*) AS n FROM shop.events"))[1].n, 7)
    T.eq(assert(db:query("SELECT count(*) AS n FROM alaris_drill.ticks WHERE run = $1 AND n <= $2::bigint", run,
      archived.n))[1].n, 2, "the marker and the archived commit are back")
    return recovery.drill_last_tick(db, run)
  end)
  local lost = last.n - newest.n
  T.ok(lost == 0 or lost == 1, "at most the commit after the last archived WAL is lost")
  local commits, xids = text:match("(%d+) commit%(s%) lost, (%d+) transaction id%(s%)")
  T.eq(tonumber(commits), lost, text)
  T.eq(tonumber(xids), lost > 0 and (last.xid - newest.xid) or 0)
  local rpo = tonumber(text:match("RPO ([%d.]+) s"))
  T.ok(math.abs(rpo - (lost > 0 and (last.at - newest.at) or 0)) < 0.06, "RPO in time: " .. tostring(rpo))
  T.ok(rpo <= destroyed - archived.at, "RPO is within the time from the last archived commit to the destruction")
  T.contains(text, "last archived WAL " .. steps.archive.step_done.output.last_wal)
  T.eq(kc:get("postgresql.cnpg.io/v1", "Cluster", "pg-" .. TENANT, TENANT), nil, "the tenant's Cluster was destroyed")
  L.forget_tenant(kc, TENANT, false)
end)

T.run_all()
