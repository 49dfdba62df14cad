-- alaris.log: leveled messages on stderr with key=value fields, secrets masked. The runner may install a sink to
-- keep its live status line tidy; the level comes from -v/-q.
local alaris = require "alaris"

local log = {}

local LEVELS = { debug = 1, info = 2, warn = 3, error = 4 }
local threshold = LEVELS.info

local function format_fields(fields)
  if type(fields) ~= "table" then return "" end
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = fields[k]
    v = type(v) == "string" and (v:find("[%s\"=]") and string.format("%q", v) or v) or tostring(v)
    parts[#parts + 1] = k .. "=" .. v
  end
  return #parts > 0 and ("  " .. table.concat(parts, " ")) or ""
end

local function default_sink(level, line)
  io.stderr:write(line, "\n")
end

local sink = default_sink

-- Replaces where formatted lines go; returns the previous sink.
function log.set_sink(fn)
  local previous = sink
  sink = fn or default_sink
  return previous
end

function log.set_level(name)
  assert(LEVELS[name], "unknown log level " .. tostring(name))
  threshold = LEVELS[name]
end

function log.level()
  for name, n in pairs(LEVELS) do if n == threshold then return name end end
end

function log.enabled(level)
  return LEVELS[level] >= threshold
end

local function emit(level, msg, fields)
  if LEVELS[level] < threshold then return end
  local line = string.format("%-5s %s%s", level, tostring(msg), format_fields(fields))
  sink(level, alaris.mask(line))
end

function log.debug(msg, fields) emit("debug", msg, fields) end
function log.info(msg, fields) emit("info", msg, fields) end
function log.warn(msg, fields) emit("warn", msg, fields) end
function log.error(msg, fields) emit("error", msg, fields) end

-- Registers a value to be masked as *** everywhere alaris writes; returns it.
function log.secret(v)
  if v ~= nil and tostring(v) ~= "" then alaris.secret(tostring(v)) end
  return v
end

return log
