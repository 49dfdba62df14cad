-- Benchmark: what fsync after each journal record costs. Runs the same playbook of N steps (each does nothing and
-- returns a small output, so the journal is all the work) through alaris.runner, alternately with an fsync per
-- record (what alaris-run does) and with a flush only, REPEATS times each, and prints the medians and their ratio.
-- Run by hand, not by `make test`:
--     build/alaris-run bench/journal_fsync.lua [N [REPEATS [DIR]]]     (200 steps, 5 repeats, .alaris/bench)
-- The journals go to DIR: give a folder on the disk whose cost you want (a tmpfs makes fsync free).
local alaris = require "alaris"
local playbook = require "alaris.playbook"
local runner = require "alaris.runner"
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local support = require "support"

local N = math.tointeger(tonumber(arg[1] or "200")) or support.fail("N must be an integer")
local REPEATS = math.tointeger(tonumber(arg[2] or "5")) or support.fail("REPEATS must be an integer")
local DIR = arg[3] or ".alaris/bench"

local function steps(n)
  local list = {}
  for i = 1, n do
    list[i] = { name = "step-" .. i, run = function() return { id = i, name = "object-" .. i } end,
                rollback = function() end }
  end
  return list
end

local pb = playbook { name = "journal-bench", steps = steps(N) }

-- One run; returns its wall time in seconds.
local function timed_run(sync)
  local path = string.format("%s/journal-%s.jsonl", DIR, sync and "fsync" or "flush")
  local started = alaris.now()
  local code = runner.run(pb, { vars = {}, shown_vars = {}, journal = path, output = "none", journal_sync = sync })
  local took = alaris.now() - started
  if code ~= 0 then support.fail("the run exited %d", code) end
  return took
end

local function median(list)
  table.sort(list)
  return list[(#list + 1) // 2]
end

local times = { [true] = {}, [false] = {} }
for _ = 1, REPEATS do
  for _, sync in ipairs { true, false } do table.insert(times[sync], timed_run(sync)) end
end
local records = 2 * N + 2
local stat = io.popen("stat -f -c %T " .. support.sh_quote(DIR))
local fs = stat:read("l") or "?"
stat:close()
local with, without = median(times[true]), median(times[false])
io.stdout:write(string.format("a playbook of %d steps (%d journal records), journal in %s (%s), medians of %d runs\n",
  N, records, DIR, fs, REPEATS))
io.stdout:write(string.format("  %-28s %9s %14s\n", "journal", "wall s", "per record ms"))
io.stdout:write(string.format("  %-28s %9.3f %14.3f\n", "fsync after each record", with, with / records * 1000))
io.stdout:write(string.format("  %-28s %9.3f %14.3f\n", "flush only", without, without / records * 1000))
io.stdout:write(string.format("fsync per record: %.1fx the time of flush only\n", with / without))
