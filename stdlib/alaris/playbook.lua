-- alaris.playbook: the playbook constructor and the helpers for concurrent work inside a step.
--   local playbook = require "alaris.playbook"
--   return playbook { name = ..., description = ..., vars = {...}, steps = {...} }
-- The constructor only checks and marks the definition; alaris.runner runs it.
local alaris = require "alaris"
local vars = require "alaris.vars"

local playbook = {}
local PLAYBOOK = {} -- metatable marking a checked playbook

-- A mistake in a playbook's definition is bad input (exit 2), not a failed run.
local function invalid(msg)
  error(alaris.error("invalid", msg, { usage = true }), 0)
end

local function check_step(i, step, seen)
  if type(step) ~= "table" then invalid(string.format("step %d must be a table", i)) end
  if type(step.name) ~= "string" or step.name == "" then invalid(string.format("step %d has no name", i)) end
  if seen[step.name] then invalid(string.format("step name '%s' is used twice", step.name)) end
  seen[step.name] = true
  if type(step.run) ~= "function" then invalid(string.format("step '%s' has no run function", step.name)) end
  for _, hook in ipairs { "rollback", "plan" } do
    if step[hook] ~= nil and type(step[hook]) ~= "function" then
      invalid(string.format("step '%s': %s must be a function", step.name, hook))
    end
  end
  if step.timeout ~= nil and (type(step.timeout) ~= "number" or step.timeout <= 0) then
    invalid(string.format("step '%s': timeout must be a positive number of seconds", step.name))
  end
  if step.retries ~= nil and math.tointeger(step.retries) == nil then
    invalid(string.format("step '%s': retries must be an integer", step.name))
  end
  if step.tags ~= nil and type(step.tags) ~= "table" then
    invalid(string.format("step '%s': tags must be a list of strings", step.name))
  end
end

local function new(def)
  if type(def) ~= "table" then invalid("playbook{...} takes a table") end
  if type(def.name) ~= "string" or not def.name:match("^[%w][%w._-]*$") then
    invalid("a playbook needs a name made of letters, digits, '.', '_' and '-'")
  end
  if type(def.steps) ~= "table" or #def.steps == 0 then invalid(string.format("playbook '%s' has no steps", def.name)) end
  local seen = {}
  for i, step in ipairs(def.steps) do check_step(i, step, seen) end
  local ok, err = pcall(vars.check_declarations, def.vars)
  if not ok then invalid(string.format("playbook '%s': %s", def.name, tostring(err))) end
  def.vars = def.vars or {}
  return setmetatable(def, PLAYBOOK)
end

function playbook.is_playbook(v)
  return getmetatable(v) == PLAYBOOK
end

-- Waits for every task; on the first failure (or when this task is cancelled) cancels the others, waits for them
-- to unwind and raises that error. Returns each task's first result, in order.
local function join(tasks)
  local results, first_err = {}, nil
  for i, task in ipairs(tasks) do
    local ok, done, value = pcall(alaris.wait, task)
    if not ok then first_err = done; break end           -- we were cancelled while waiting
    if not done then first_err = value; break end
    results[i] = value
  end
  if first_err ~= nil then
    for _, task in ipairs(tasks) do
      if not task:done() then task:cancel("cancelled: a sibling failed") end
    end
    for _, task in ipairs(tasks) do pcall(alaris.wait, task) end
    error(first_err, 0)
  end
  return results
end

-- Runs the functions concurrently on the event loop.
function playbook.parallel(fns)
  local tasks = {}
  for i, fn in ipairs(fns) do
    if type(fn) ~= "function" then error(string.format("parallel: item %d is not a function", i), 2) end
    tasks[i] = alaris.spawn(fn)
  end
  return join(tasks)
end

-- Calls fn(item, index) for every item, at most opts.concurrency at a time (default: all at once).
function playbook.for_each(items, opts, fn)
  if fn == nil then fn, opts = opts, {} end
  local n = #items
  local workers = math.min(n, math.max(1, math.tointeger(opts.concurrency) or n))
  local results, next_index = {}, 1
  local function worker()
    while next_index <= n do
      local i = next_index
      next_index = i + 1
      results[i] = fn(items[i], i)
    end
  end
  local tasks = {}
  for w = 1, workers do tasks[w] = alaris.spawn(worker) end
  join(tasks)
  return results
end

return setmetatable(playbook, { __call = function(_, def) return new(def) end })
