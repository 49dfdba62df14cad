-- The run journal: JSON Lines, one record per transition, written and fsync'ed before the runner moves on, so a run
-- killed at any point can be resumed (--resume) or undone (--rollback). A run holds an exclusive lock on its journal
-- from start to end; the file is 0600 and never inherited by child processes. Every string value in a record is
-- masked before it is encoded; a step output that holds a secret is journaled without it (see journal.storable).
-- It does not decide what a run may do with a journal it finds: that is the runner's.
local alaris = require "alaris"
local files = require "alaris.files"
local json = require "alaris.json"
local log = require "alaris.log"

local journal = {}

-- What one record may expand to: a step output as large as this is dropped rather than written.
journal.RECORD_BUDGET = 128 * 1024 * 1024

-- .alaris/journal/<playbook>[--name=value...].jsonl, from the non-secret vars (sorted), in file-name-safe characters;
-- when characters had to be replaced or the name cut, a hash of the full name keeps two runs' names apart.
function journal.default_path(pb, values)
  local parts = { pb.name }
  local names = {}
  for name in pairs(values) do
    if not (pb.vars[name] and pb.vars[name].secret) and type(values[name]) ~= "table" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do parts[#parts + 1] = name .. "=" .. tostring(values[name]) end
  local full = table.concat(parts, "--")
  local base = full:gsub("[^%w._=-]", "_")
  if #base > 120 then base = base:sub(1, 120) end
  if base ~= full then
    local crypto = require "alaris.crypto" -- only here: most runs never load OpenSSL
    base = base .. "--" .. crypto.hex(crypto.sha256(full)):sub(1, 16)
  end
  return ".alaris/journal/" .. base .. ".jsonl"
end

-- Fields the runner writes itself (names, states, counts): left as they are, so that a secret that happens to be
-- "step_done" or "exit_code" cannot make the journal unreadable.
local FRAMING = { event = true, step = true, steps = true, playbook = true, result = true, exit_code = true,
                  attempt = true, duration_ms = true, time = true, pid = true, started = true, after = true,
                  nothing_to_undo = true, withheld = true }

local function timestamp(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", math.floor(t % 1 * 1000))
end
journal.timestamp = timestamp

local Writer = {}
Writer.__index = Writer

-- Appends one record and waits until it is on disk. `masked`: fields masked already (journal.storable's copy).
function Writer:write(record, masked)
  local out = {}
  for k, v in pairs(record) do
    local as_is = FRAMING[k] or (masked and masked[k])
    out[k] = as_is and v or log.masked_copy(v, { budget = journal.RECORD_BUDGET })
  end
  out.time = timestamp(alaris.time())
  local line = json.encode(out)
  assert(self.file:write(line, "\n"))
  if self.sync then assert(files.fsync(self.file)) else self.file:flush() end
end

-- Empties the journal for a new run (the lock, held on this file, stays).
function Writer:truncate()
  local f = assert(io.open(self.path, "w"))
  f:close()
end

function Writer:close()
  if self.file then self.file:close(); self.file = nil end
end
Writer.__close = Writer.close

local function make_folders(path)
  local dir = path:match("^(.*)/[^/]*$")
  if not dir or dir == "" then return true end
  local prefix = dir:sub(1, 1) == "/" and "/" or ""
  for part in dir:gmatch("[^/]+") do
    prefix = prefix .. part
    local ok, err = files.mkdir(prefix, tonumber("700", 8))
    if not ok then return nil, "cannot create the journal folder " .. err end
    prefix = prefix .. "/"
  end
  return true
end

local function ends_mid_line(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local size = f:seek("end")
  local last = size > 0 and f:seek("set", size - 1) and f:read(1)
  f:close()
  return last ~= nil and last ~= false and last ~= "\n"
end

-- The run holding the lock on a journal, as its last opening record tells: "pid N, started T" or nil.
local function holder(path)
  local records = journal.read(path) or {}
  for k = #records, 1, -1 do
    local rec = records[k]
    if rec.pid then return string.format("pid %s, started %s", tostring(rec.pid), tostring(rec.started)) end
  end
end

-- Opens the journal for appending and locks it for this run. Returns the writer, or nil and one line (another run
-- holds it, or the file or its folder cannot be made). opts.sync = false skips fsync (for the benchmark).
function journal.open(path, opts)
  local made, merr = make_folders(path)
  if not made then return nil, merr end
  local f, err = files.open_private(path)
  if not f then return nil, "cannot write the journal: " .. tostring(err) end
  local locked, lerr = files.flock(f, "exclusive")
  if not locked then
    f:close()
    if locked == nil then return nil, "cannot lock the journal " .. path .. ": " .. tostring(lerr) end
    return nil, string.format("another run holds the journal %s (%s): wait for it to end", path,
      holder(path) or "pid unknown, just starting")
  end
  local w = setmetatable({ file = f, path = path, sync = not (opts and opts.sync == false) }, Writer)
  if ends_mid_line(path) then assert(f:write("\n")) end -- a line cut short by a kill ends here, on its own
  return w
end

-- This process's id, for the opening records (who holds the lock).
function journal.pid()
  local f = io.open("/proc/self/stat", "r")
  if not f then return nil end
  local pid = f:read("n")
  f:close()
  return pid
end

-- A step output as it may be journaled: strings masked, strings holding a secret left out. Returns the copy and
-- the list of what was left out, or nil and why it cannot be journaled at all.
function journal.storable(output)
  if output == nil then return nil, {} end
  local ok, copy, withheld = pcall(log.masked_copy, output, { withhold = true, budget = journal.RECORD_BUDGET })
  if not ok then return nil, copy end
  return copy, withheld
end

function journal.exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

function journal.read(path)
  local f = io.open(path, "r")
  if not f then return nil, "no journal at " .. path end
  local records = {}
  local ok, err = pcall(function()
    for line in f:lines() do
      local rec = line ~= "" and json.decode(line)
      -- a line cut short by a kill: ignore it, everything before it was written whole
      if type(rec) == "table" then records[#records + 1] = rec end
    end
  end)
  f:close()
  if not ok then return nil, path .. ": " .. tostring(err):match("[^:]*$"):gsub("^%s+", "") end
  return records
end

-- What a journal says about its run: the playbook, whether it finished (and how), and the steps done and not
-- undone, in order, with their outputs and what of them was withheld. A journal holds one run: a new run rewrites
-- it, --resume and --rollback append to it.
local OPENERS = { run_started = true, run_resumed = true, rollback_started = true }

function journal.state(records)
  local first = records[1]
  if not first or first.event ~= "run_started" then return nil, "the journal has no run in it" end
  local state = { playbook = first.playbook, vars = first.vars, completed = {}, finished = false }
  local done, order = {}, {}
  for _, rec in ipairs(records) do
    if rec.event == "step_done" then
      if not done[rec.step] then order[#order + 1] = rec.step end
      done[rec.step] = { step = rec.step, output = rec.output, withheld = rec.withheld }
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
