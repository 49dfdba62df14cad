-- The run journal: JSON Lines, one record per transition, flushed before the runner moves on, so a run killed at
-- any point can be resumed (--resume) or undone (--rollback). Secrets are masked in every record.
local alaris = require "alaris"
local json = require "alaris.json"

local journal = {}

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- .alaris/journal/<playbook>[--name=value...].jsonl, from the non-secret vars (sorted), in file-name-safe characters.
function journal.default_path(pb, values)
  local parts = { pb.name }
  local names = {}
  for name in pairs(values) do
    if not (pb.vars[name] and pb.vars[name].secret) and type(values[name]) ~= "table" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do parts[#parts + 1] = name .. "=" .. tostring(values[name]) end
  local base = table.concat(parts, "--"):gsub("[^%w._=-]", "_")
  if #base > 120 then base = base:sub(1, 120) end
  return ".alaris/journal/" .. base .. ".jsonl"
end

local Writer = {}
Writer.__index = Writer

function Writer:write(record)
  record.time = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(alaris.time())) .. string.format(".%03dZ", math.floor(alaris.time() % 1 * 1000))
  self.file:write(alaris.mask(json.encode(record)), "\n")
  self.file:flush()
end

function Writer:close()
  if self.file then self.file:close(); self.file = nil end
end
Writer.__close = Writer.close

-- Opens the journal for writing: mode "w" starts a new run, "a" continues one.
function journal.open(path, mode)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then os.execute("mkdir -p " .. shell_quote(dir)) end
  local f, err = io.open(path, mode)
  if not f then return nil, err end
  return setmetatable({ file = f, path = path }, Writer)
end

function journal.read(path)
  local f = io.open(path, "r")
  if not f then return nil, "no journal at " .. path end
  local records, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line ~= "" then
      local rec = json.decode(line)
      -- a line cut short by a kill is the last one: ignore it, everything before it was flushed whole
      if type(rec) == "table" then records[#records + 1] = rec end
    end
  end
  f:close()
  return records
end

-- What a journal says about its run: the playbook, whether it finished (and how), and the steps done and not
-- undone, in order, with their outputs. A journal holds one run: a new run rewrites it, --resume and --rollback
-- append to it.
local OPENERS = { run_started = true, run_resumed = true, rollback_started = true }

function journal.state(records)
  local first = records[1]
  if not first or first.event ~= "run_started" then return nil, "the journal has no run in it" end
  local state = { playbook = first.playbook, vars = first.vars, completed = {}, finished = false }
  local done, order = {}, {}
  for _, rec in ipairs(records) do
    if rec.event == "step_done" then
      if not done[rec.step] then order[#order + 1] = rec.step end
      done[rec.step] = { step = rec.step, output = rec.output }
    elseif rec.event == "step_rolled_back" then
      done[rec.step] = nil
    elseif rec.event == "run_finished" then
      state.finished, state.result = true, rec.result
    elseif OPENERS[rec.event] then
      state.finished, state.result = false, nil
    end
  end
  for _, name in ipairs(order) do
    if done[name] then state.completed[#state.completed + 1] = done[name] end
  end
  return state
end

return journal
