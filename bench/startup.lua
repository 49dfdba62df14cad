-- Benchmark: start-up. Runs, in the same run and interleaved, the bare interpreter `lua5.4 -e ''`, alaris-run on an
-- empty one-step playbook and alaris-run on a one-line script, RUNS times each (200 by default), and prints the
-- median wall time, the mean CPU time, the median max RSS (/usr/bin/time -v) and their ratios to lua5.4's. Run by
-- hand:
--     build/alaris-run bench/startup.lua [RUNS]
-- Each child is started by /bin/sh (os.execute, `exec COMMAND`): the median of `exec true` is that cost, printed on
-- its own row and subtracted for the net ratio. The playbook runs in a fresh temporary folder and journals there
-- (the runner fsyncs each record); a second row puts its journal on tmpfs (/dev/shm), to tell start-up from disk
-- syncs. Nothing else is written.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local alaris = require "alaris"
local support = require "support"
local fail, sh_quote, read_file, write_file = support.fail, support.sh_quote, support.read_file, support.write_file

local EMPTY_PLAYBOOK = [[
local playbook = require "alaris.playbook"
return playbook { name = "empty", steps = { { name = "nothing", run = function() end } } }
]]

local function parse_runs()
  local runs = tonumber(arg[1] or "200")
  if not runs or runs < 1 or runs % 1 ~= 0 then fail("usage: alaris-run bench/startup.lua [RUNS]") end
  return runs
end

-- The first line a shell command prints.
local function output_of(line)
  local pipe = io.popen(line)
  local out = pipe:read("l")
  pipe:close()
  if not out or out == "" then fail("%s printed nothing", line) end
  return out
end

local function make_workdir()
  local dir = output_of("mktemp -d")
  write_file(dir .. "/empty.lua", EMPTY_PLAYBOOK)
  write_file(dir .. "/script.lua", 'print("hello")\n')
  return dir
end

local function require_program(name, hint)
  if not os.execute("command -v " .. sh_quote(name) .. " >/dev/null 2>&1") then fail("%s not found (%s)", name, hint) end
end

-- The commands, each a shell command line run in the work folder; the first is the baseline of the ratios, the
-- last the cost of starting a process from the shell.
local function commands(alaris_run, tmpfs_dir)
  local run = sh_quote(alaris_run)
  local journal_on_tmpfs = " --journal " .. sh_quote(tmpfs_dir .. "/journal.jsonl")
  return {
    { label = "lua5.4 -e ''", line = "lua5.4 -e ''" },
    { label = "alaris-run, empty one-step playbook", line = run .. " empty.lua" },
    { label = "  the same, journal on tmpfs", line = run .. journal_on_tmpfs .. " empty.lua" },
    { label = "alaris-run, a script (print)", line = run .. " script.lua" },
    { label = "sh: exec true (in every row)", line = "true" },
  }
end

-- User + system clock ticks of this process's waited-for children (/proc/self/stat fields 16 and 17).
local function children_ticks()
  local fields = {}
  for field in read_file("/proc/self/stat"):match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
  return tonumber(fields[14]) + tonumber(fields[15])
end

-- Wall seconds and children's CPU ticks of one run; fails when the command does.
local function timed(dir, line)
  local ticks, started = children_ticks(), alaris.now()
  local ok = os.execute("cd " .. sh_quote(dir) .. " && exec " .. line .. " >/dev/null")
  local seconds = alaris.now() - started
  if not ok then fail("failed: %s", line) end
  return seconds, children_ticks() - ticks
end

-- Max RSS in KiB of one run, from GNU time.
local function max_rss(dir, line)
  local report = dir .. "/time.txt"
  local ok = os.execute(string.format("cd %s && exec /usr/bin/time -v -o %s %s >/dev/null 2>&1", sh_quote(dir),
    sh_quote(report), line))
  if not ok then fail("failed under /usr/bin/time: %s", line) end
  local kib = (read_file(report) or ""):match("Maximum resident set size %(kbytes%): (%d+)")
  if not kib then fail("no max RSS in /usr/bin/time's report for %s", line) end
  return tonumber(kib)
end

local function median(values)
  local sorted = table.move(values, 1, #values, 1, {})
  table.sort(sorted)
  local mid = #sorted // 2
  if #sorted % 2 == 1 then return sorted[mid + 1] end
  return (sorted[mid] + sorted[mid + 1]) / 2
end

-- Interleaved: each round runs every command once timed and once under /usr/bin/time, so load hits all alike.
local function measure(dir, cmds, runs)
  local ticks_per_second = tonumber(output_of("getconf CLK_TCK"))
  for _, c in ipairs(cmds) do c.walls, c.rss, c.ticks = {}, {}, 0 end
  for _ = 1, runs do
    for _, c in ipairs(cmds) do
      local wall, ticks = timed(dir, c.line)
      c.walls[#c.walls + 1], c.ticks = wall, c.ticks + ticks
      c.rss[#c.rss + 1] = max_rss(dir, c.line)
    end
  end
  for _, c in ipairs(cmds) do
    c.wall, c.max_rss, c.cpu = median(c.walls), median(c.rss), c.ticks / ticks_per_second / runs
  end
end

local function ratio(value, base)
  return string.format("%.1fx", value / base)
end

local function print_table(cmds, runs)
  local base, spawn = cmds[1], cmds[#cmds]
  local base_net, base_cpu = base.wall - spawn.wall, base.cpu - spawn.cpu
  print(string.format("start-up, %d runs of each command, interleaved", runs))
  print(string.format("  %-36s %8s %8s %7s %8s %8s %7s %8s %6s", "run", "wall ms", "net ms", "ratio", "cpu ms",
    "net ms", "ratio", "RSS KiB", "ratio"))
  for _, c in ipairs(cmds) do
    local net, net_cpu = c.wall - spawn.wall, c.cpu - spawn.cpu
    local shown = c ~= spawn
    print(string.format("  %-36s %8.2f %8.2f %7s %8.2f %8.2f %7s %8d %6s", c.label, c.wall * 1000, net * 1000,
      shown and ratio(net, base_net) or "", c.cpu * 1000, net_cpu * 1000, shown and ratio(net_cpu, base_cpu) or "",
      c.max_rss, shown and ratio(c.max_rss, base.max_rss) or ""))
  end
  print("  wall: median; cpu: mean user+system of the child; net: minus the shell's `exec true`; RSS: median max")
  print("  resident set (/usr/bin/time -v); ratios: net times and RSS over lua5.4 -e ''s")
  for i = 2, #cmds - 1 do
    local c = cmds[i]
    print(string.format("%s: %s lua5.4's net wall time, %s its net CPU time, %s its max RSS (%.1f MiB)", c.label,
      ratio(c.wall - spawn.wall, base_net), ratio(c.cpu - spawn.cpu, base_cpu), ratio(c.max_rss, base.max_rss),
      c.max_rss / 1024))
  end
end

local function main()
  local runs = parse_runs()
  require_program("lua5.4", "scripts/install-deps installs it")
  if not os.execute("test -x /usr/bin/time") then fail("/usr/bin/time not found (scripts/install-deps installs it)") end
  local dir, tmpfs_dir = make_workdir(), output_of("mktemp -d -p /dev/shm")
  local alaris_run = output_of("realpath -- " .. sh_quote(support.alaris_run_path())) -- the runs cd elsewhere
  local cmds = commands(alaris_run, tmpfs_dir)
  local ok, err = pcall(measure, dir, cmds, runs)
  os.execute("rm -rf " .. sh_quote(dir) .. " " .. sh_quote(tmpfs_dir))
  if not ok then error(err, 0) end
  print_table(cmds, runs)
end

main()
