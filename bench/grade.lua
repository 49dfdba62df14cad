-- Benchmark: grade's own overhead, beyond the time the probes and the operator need. Runs the grade of tenants
-- already onboarded on a cluster (the lab: `lab/bin/lab up --dir DIR && . DIR/env`, then operators, bootstrap-ops,
-- onboard and a backup per tenant), in this process, REPEATS times, and splits each run's wall time into the time
-- when at least one wait on the cluster was in flight (probe pods from create to delete, exec in psql-client,
-- the WAL reaching the bucket, restores, a Cluster becoming Ready: env.waits) and the rest, which is grade's
-- own (its requests, SubjectAccessReviews, bucket listings, the isolation proof, the reports). Run by hand:
--     build/alaris-run bench/grade.lua tenants=a,b [skip=dr-drill,pitr] [repeats=3]
-- The target is an overhead of at most 2 s (the seed's script slept for over 40 s in fixed sleeps).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local alaris = require "alaris"
local check = require "alaris.check"
local grade = require "alaris.grade"
local http = require "alaris.http"
local json = require "alaris.json"
local support = require "support"
local vars = require "alaris.vars"

local fail = support.fail

local function parse()
  local given, repeats = {}, 3
  for i = 1, #arg do
    local k, v = arg[i]:match("^([%a_][%w_]*)=(.*)$")
    if not k then fail("usage: alaris-run bench/grade.lua tenants=a,b [NAME=VALUE ...] [repeats=N]") end
    if k == "repeats" then repeats = math.tointeger(tonumber(v)) or fail("repeats must be an integer") else given[k] = v end
  end
  local values, err = vars.resolve(grade.VARS, given)
  if not values then fail("%s", err) end
  return values, repeats
end

-- The total length of the union of intervals {from, to}.
local function union_length(waits)
  table.sort(waits, function(a, b) return a.from < b.from end)
  local total, from, to = 0, nil, nil
  for _, w in ipairs(waits) do
    if not to or w.from > to then
      if to then total = total + (to - from) end
      from, to = w.from, w.to
    elseif w.to > to then
      to = w.to
    end
  end
  if to then total = total + (to - from) end
  return total
end

-- The lab's request log (cleared with reset): its count, or nil when not on a lab.
local function lab_requests(reset)
  local url, token = os.getenv("LAB_ADMIN_URL"), os.getenv("LAB_ADMIN_TOKEN")
  if not url then return nil end
  local resp = http.request { method = reset and "DELETE" or "GET", url = url .. "/requests",
    headers = { Authorization = "Bearer " .. token } }
  if not resp or resp.status >= 300 or reset then return nil end
  return json.decode(resp.body).count
end

local function one_run(values)
  lab_requests(true)
  local cpu0, started = os.clock(), alaris.now()
  local results, env = grade.run_checks(values)
  local wall, cpu = alaris.now() - started, os.clock() - cpu0
  local waited = union_length(env.waits or {})
  local by_kind = {}
  for _, w in ipairs(env.waits or {}) do by_kind[w.what] = (by_kind[w.what] or 0) + 1 end
  return { wall = wall, cpu = cpu, waited = waited, overhead = wall - waited, summary = check.summary(results),
    requests = lab_requests(false), waits = by_kind }
end

local function median(list, key)
  local values = {}
  for i, r in ipairs(list) do values[i] = r[key] end
  table.sort(values)
  return values[(#values + 1) // 2]
end

local values, repeats = parse()
local runs = {}
print(string.format("grade tenants=%s only=%s skip=%s, %d runs", values.tenants, tostring(values.only),
  tostring(values.skip), repeats))
print(string.format("  %-4s %8s %9s %10s %7s %9s  %s", "run", "wall s", "waited s", "overhead s", "cpu s", "requests",
  "checks (passed/failed/errors) and waits"))
for i = 1, repeats do
  local r = one_run(values)
  runs[i] = r
  local kinds = {}
  for what, n in pairs(r.waits) do kinds[#kinds + 1] = string.format("%d %s", n, what) end
  table.sort(kinds)
  print(string.format("  %-4d %8.2f %9.2f %10.2f %7.2f %9s  %d/%d/%d; %s", i, r.wall, r.waited, r.overhead, r.cpu,
    tostring(r.requests or "-"), r.summary.passed, r.summary.failed, r.summary.errors, table.concat(kinds, ", ")))
end
print(string.format("median overhead %.2f s beyond the waits on the cluster (target <= 2 s); median wall %.2f s, "
  .. "cpu %.2f s", median(runs, "overhead"), median(runs, "wall"), median(runs, "cpu")))
