-- alaris.check: outcomes (a check that cannot run is an ERROR, never a pass), selection, concurrency and ordering
-- on the event loop, timeouts, and the reports: text, JSON, JUnit XML, GitHub annotations, the exit code.
local T = require "testing"
local alaris = require "alaris"
local json = require "alaris.json"
local check = require "alaris.check"

local function pass(evidence) return function() return check.PASS, evidence end end
local function fail(evidence) return function() return check.FAIL, evidence end end

local function by_key(results)
  local found = {}
  for _, r in ipairs(results) do found[r.tenant and (r.name .. "/" .. r.tenant) or r.name] = r end
  return found
end

T.test("outcomes: PASS and FAIL with evidence; raising, returning nothing or anything else is ERROR", function()
  local r = by_key(check.run {
    { name = "smoke", tenant = "tenant-a", fn = pass("SELECT 1 returned 1") },
    { name = "public", tenant = "tenant-a", fn = fail { "GET /public: 502", "body: bad gateway" } },
    { name = "lb", fn = function() error("no load balancer IP for tenant-b-public") end },
    { name = "lb-err", fn = function() error(alaris.error("not_found", "services \"x\" not found")) end },
    { name = "forgot", fn = function() end },
    { name = "truthy", fn = function() return true end },
  })
  T.eq({ r["smoke/tenant-a"].status, r["smoke/tenant-a"].evidence }, { "PASS", "SELECT 1 returned 1" })
  T.eq({ r["public/tenant-a"].status, r["public/tenant-a"].evidence }, { "FAIL", "GET /public: 502\nbody: bad gateway" })
  T.eq(r.lb.status, "ERROR")
  T.contains(r.lb.evidence, "no load balancer IP for tenant-b-public")
  T.eq(r["lb-err"].status, "ERROR")
  T.contains(r["lb-err"].evidence, 'services "x" not found')
  T.eq({ r.forgot.status, r.forgot.evidence }, { "ERROR", "returned nil instead of PASS or FAIL" })
  T.eq(r.truthy.status, "ERROR")
  for _, x in pairs(r) do T.ok(x.duration >= 0, "a duration") end
end)

T.test("a check that cannot run is never counted as passed: the exit code is 1", function()
  local results = check.run {
    { name = "a", fn = pass("ok") },
    { name = "cross-tenant", fn = function() error("tenant-b does not exist") end },
  }
  T.eq(check.exit_code(results), 1)
  T.eq(check.summary(results), { total = 2, passed = 1, failed = 0, errors = 1, skipped = 0 })
  T.eq(check.exit_code(check.run { { name = "a", fn = pass("ok") }, { name = "b", fn = fail("no") } }), 1)
  T.eq(check.exit_code(check.run { { name = "a", fn = pass("ok") }, { name = "b", fn = pass("ok") } }), 0)
end)

T.test("selection: only and skip by check, tenant or check/tenant; deselected checks alone are SKIP", function()
  local ran = {}
  local function recording(key) return function() ran[#ran + 1] = key; return check.PASS, "" end end
  local function defs()
    ran = {}
    return {
      { name = "db", tenant = "tenant-a", fn = recording("db/tenant-a") },
      { name = "db", tenant = "tenant-b", fn = recording("db/tenant-b") },
      { name = "ops", fn = recording("ops") },
    }
  end
  local r = by_key(check.run(defs(), { only = { "tenant-b" } }))
  T.eq({ r["db/tenant-a"].status, r["db/tenant-b"].status, r.ops.status }, { "SKIP", "PASS", "SKIP" })
  T.eq(ran, { "db/tenant-b" })
  r = by_key(check.run(defs(), { skip = { "db/tenant-a" } }))
  T.eq({ r["db/tenant-a"].status, r["db/tenant-b"].status, r.ops.status }, { "SKIP", "PASS", "PASS" })
  r = by_key(check.run(defs(), { only = { "db" }, skip = { "tenant-a" } }))
  T.eq({ r["db/tenant-a"].status, r["db/tenant-b"].status, r.ops.status }, { "SKIP", "PASS", "SKIP" })
  T.eq(check.exit_code(check.run(defs(), { only = { "ops" } })), 0, "deselected checks do not fail the run")
  T.eq(check.exit_code(check.run(defs(), { skip = { "db", "ops" } })), 1, "nothing selected proves nothing")
  local err = T.raises(function() check.run(defs(), { only = { "tenant-c" } }) end, "no check or tenant is called 'tenant%-c'")
  T.ok(not err:find("\n"), "one line")
end)

T.test("bad definitions are bad input, with the check named", function()
  T.raises(function() check.define { { name = "x" } } end, "check 'x' has no fn")
  T.raises(function() check.define { { name = "x", fn = pass "" }, { name = "x", fn = pass "" } } end, "defined twice")
  T.raises(function() check.define { { name = "x", fn = pass "", after = { "y" } } } end, "runs after 'y', which is not defined")
  T.raises(function() check.define { { name = "x y", fn = pass "" } } end, "needs a name")
  local ok, err = pcall(check.define, { { name = "x", fn = pass "", timeout = -1 } })
  T.ok(not ok and err.code == "invalid" and err.usage, "an invalid error marked as usage")
  local out, stderr, code = T.run_script('require("alaris.check").run { { name = "x" } }')
  T.eq(code, 2, "exit code (" .. out .. stderr .. ")")
  T.contains(stderr, "check 'x' has no fn")
end)

T.test("independent checks run concurrently on the event loop; concurrency limits them", function()
  local function sleeper() alaris.sleep(0.2); return check.PASS, "slept" end
  local defs = {}
  for i = 1, 5 do defs[i] = { name = "c" .. i, fn = sleeper } end
  local started = alaris.now()
  local results = check.run(defs)
  local together = alaris.now() - started
  T.eq(check.exit_code(results), 0)
  T.ok(together < 0.9, string.format("5 checks of 0.2 s took %.2f s together (1 s one by one)", together))
  started = alaris.now()
  check.run(defs, { concurrency = 1 })
  local one_by_one = alaris.now() - started
  T.ok(one_by_one >= 0.95, string.format("one at a time took %.2f s", one_by_one))
  for _, r in ipairs(results) do T.ok(r.duration >= 0.19 and r.duration < 0.9, "duration " .. r.duration) end
end)

T.test("`after` orders checks per tenant; results stay in definition order", function()
  local log = {}
  local function step(key, delay)
    return function(c)
      log[#log + 1] = "start " .. key .. (c.tenant and ("/" .. c.tenant) or "")
      alaris.sleep(delay)
      log[#log + 1] = "end " .. key .. (c.tenant and ("/" .. c.tenant) or "")
      return check.PASS, ""
    end
  end
  local results = check.run {
    { name = "restore", tenant = "a", after = { "backup" }, fn = step("restore", 0) },
    { name = "backup", tenant = "a", fn = step("backup", 0.1) },
    { name = "unrelated", fn = step("unrelated", 0) },
    { name = "backup", tenant = "b", fn = step("backup", 0.2) },
    { name = "summary", after = { "backup" }, fn = step("summary", 0) },
  }
  T.eq({ results[1].name, results[2].name, results[3].name }, { "restore", "backup", "unrelated" })
  local pos = {}
  for i, line in ipairs(log) do pos[line] = i end
  T.ok(pos["start restore/a"] > pos["end backup/a"], table.concat(log, ", "))
  T.ok(pos["start unrelated"] < pos["end backup/a"], "unrelated ran beside backup: " .. table.concat(log, ", "))
  T.ok(pos["start restore/a"] < pos["end backup/b"], "restore/a did not wait for tenant b: " .. table.concat(log, ", "))
  T.ok(pos["start summary"] > pos["end backup/b"], "a check without tenant waits for every tenant's")
  local serial = check.run({ { name = "second", after = { "first" }, fn = pass "" }, { name = "first", fn = pass "" } },
    { concurrency = 1 })
  T.eq({ serial[1].status, serial[2].status }, { "PASS", "PASS" }, "one worker, prerequisite defined later")
  T.raises(function()
    check.run { { name = "x", after = { "y" }, fn = pass "" }, { name = "y", after = { "x" }, fn = pass "" } }
  end, "cycle")
  local r = by_key(check.run({ { name = "x", after = { "y" }, fn = pass "" }, { name = "y", fn = pass "" } },
    { only = { "x" } }))
  T.eq({ r.x.status, r.y.status }, { "PASS", "SKIP" }, "a deselected prerequisite is not waited for")
end)

T.test("a check past its timeout is cancelled and is an ERROR", function()
  local started = alaris.now()
  local r = check.run { { name = "slow", timeout = 0.1, fn = function() alaris.sleep(5); return check.PASS, "" end } }
  T.ok(alaris.now() - started < 1, "did not wait for the check")
  T.eq({ r[1].status, r[1].evidence }, { "ERROR", "timed out after 0.1s" })
end)

local SECRET = "hunter2-secret-5e0c71"
alaris.secret(SECRET)

local function sample()
  return {
    { name = "smoke", tenant = "tenant-a", status = "PASS", evidence = "SELECT 1 returned 1", duration = 0.25 },
    { name = "isolation", tenant = "tenant-b", status = "FAIL",
      evidence = "tenant-a -> tenant-b:5432 <open> & \"reachable\"\nsecond line, password " .. SECRET, duration = 1.5 },
    { name = "ops", status = "ERROR", evidence = "raised: 100% broken: a, b\1", duration = 0 },
    { name = "pitr", tenant = "tenant-a", status = "SKIP", evidence = "deselected", duration = 0 },
  }
end

T.test("text: one aligned row per result with the evidence's first line, and the summary", function()
  local text = check.text(sample())
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.eq(#lines, 6)
  T.ok(lines[1]:match("^STATUS%s+CHECK%s+TENANT%s+TIME%s+EVIDENCE$"), lines[1])
  T.ok(lines[2]:match("^PASS%s+smoke%s+tenant%-a%s+0%.25s%s+SELECT 1 returned 1$"), lines[2])
  T.eq(lines[3]:find("tenant-b", 1, true), lines[2]:find("tenant-a", 1, true), "aligned columns")
  T.not_contains(text, "second line")
  T.contains(lines[4], "ops")
  T.contains(lines[4], " - ")
  T.eq(lines[6], "1 passed, 1 failed, 1 errors, 1 skipped")
end)

T.test("JSON: every result with its evidence masked, the summary and the exit code", function()
  local doc = json.decode(check.json(sample()))
  T.eq(#doc.checks, 4)
  T.eq(doc.checks[2].name, "isolation")
  T.eq(doc.checks[2].status, "FAIL")
  T.eq(doc.checks[2].duration_ms, 1500)
  T.contains(doc.checks[2].evidence, "second line, password ***")
  T.eq(doc.checks[3].tenant, json.null)
  T.eq(doc.summary, { total = 4, passed = 1, failed = 1, errors = 1, skipped = 1 })
  T.eq(doc.exit_code, 1)
end)

T.test("JUnit: one testcase per check and tenant, evidence in the failure message, escaped and masked", function()
  local xml = check.junit(sample(), "grade")
  T.contains(xml, '<testsuite name="grade" tests="4" failures="1" errors="1" skipped="1" time="1.750">')
  local cases = 0
  for _ in xml:gmatch("<testcase ") do cases = cases + 1 end
  T.eq(cases, 4)
  T.contains(xml, '<testcase classname="tenant-b" name="isolation" time="1.500">')
  T.contains(xml, '<failure message="tenant-a -&gt; tenant-b:5432 &lt;open&gt; &amp; &quot;reachable&quot;\nsecond line, password ***"')
  T.contains(xml, '<error message="raised: 100% broken: a, b?"')
  T.contains(xml, '<skipped message="deselected"/>')
  T.not_contains(xml, SECRET)
  T.not_contains(xml, "\1")
  -- every tag opened is closed
  local opened, closed = 0, 0
  for _ in xml:gmatch("<testcase[^>]->") do opened = opened + 1 end
  for _ in xml:gmatch("</testcase>") do closed = closed + 1 end
  T.eq(opened, closed)
end)

T.test("GitHub annotations: ::error title=...:: for FAIL and ERROR, escaped as workflow commands, masked", function()
  local lines = check.annotations(sample())
  T.eq(#lines, 2)
  T.eq(lines[1], "::error title=FAIL isolation (tenant-b)::tenant-a -> tenant-b:5432 <open> & \"reachable\"%0Asecond"
    .. " line, password ***")
  T.eq(lines[2], "::error title=ERROR ops::raised: 100%25 broken: a, b\1")
  local titled = check.annotations { { name = "a:b,c", tenant = "t", status = "FAIL", evidence = "" } }
  T.eq(titled[1], "::error title=FAIL a%3Ab%2Cc (t)::")
end)

local REPORT_SCRIPT = [[
local check = require "alaris.check"
local results = check.run {
  { name = "up", tenant = "tenant-a", fn = function() return check.PASS, "200 OK" end },
  { name = "down", tenant = "tenant-a", fn = function() return check.FAIL, "connection refused" end },
}
os.exit(check.report(results, { junit = arg[1], format = arg[2] }))
]]

T.test("report: the table, annotations only under GitHub Actions, the JUnit file, the exit code", function()
  local dir = T.tmpdir()
  local script = T.script(REPORT_SCRIPT, "report.lua")
  local function run(env, format)
    return T.run(string.format("%s %s %s %s %s", env, T.alaris_run, script, dir .. "/junit.xml", format or ""))
  end
  local out, err, code = run("GITHUB_ACTIONS=true")
  T.eq(code, 1, "exit code (" .. err .. ")")
  T.contains(out, "1 passed, 1 failed, 0 errors, 0 skipped")
  T.contains(out, "::error title=FAIL down (tenant-a)::connection refused")
  T.contains(T.read_file(dir .. "/junit.xml"), '<failure message="connection refused"')
  out = run("GITHUB_ACTIONS=")
  T.not_contains(out, "::error")
  out = run("GITHUB_ACTIONS=", "json")
  T.eq(json.decode(out).summary.failed, 1)
  local _, _, failed = T.run(string.format("GITHUB_ACTIONS= %s %s /nonexistent/dir/junit.xml", T.alaris_run, script))
  T.ok(failed ~= 0, "an unwritable JUnit path is not a success")
  local ok = check.report({ { name = "x", status = "PASS", evidence = "", duration = 0 } },
    { out = { write = function() end, flush = function() end } })
  T.eq(ok, 0)
end)

T.run_all()
