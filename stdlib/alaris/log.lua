-- alaris.log: leveled messages on stderr with key=value fields, secrets masked. The runner may install a sink to
-- keep its live status line tidy; the level comes from -v/-q. Also the structural masking every writer of JSON
-- uses (log.masked_copy): values are masked before they are quoted or escaped, never keys or framing.
local alaris = require "alaris"
local prelude = require "alaris.prelude"

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
    local v = alaris.mask(tostring(fields[k])) -- before quoting: %q would split a secret holding " or a newline
    if type(fields[k]) == "string" and v:find("[%s\"=]") then v = string.format("%q", v) end
    parts[#parts + 1] = k .. "=" .. v
  end
  return #parts > 0 and ("  " .. table.concat(parts, " ")) or ""
end

local function default_sink(level, line)
  prelude.raw_write(io.stderr, line, "\n") -- masked already, field by field
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
  sink(level, string.format("%-5s %s%s", level, alaris.mask(tostring(msg)), format_fields(fields)))
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

-- Raises when `value` would take more than `limit` bytes written out, its shared tables (YAML aliases) expanded,
-- as an encoder would. Allocates nothing, so an alias bomb is refused before it costs memory.
function log.check_expanded_size(value, limit)
  local left = limit
  local function walk(v, depth)
    left = left - (type(v) == "string" and #v + 2 or 8)
    if left < 0 then error(string.format("larger than %d bytes once expanded", limit), 0) end
    if type(v) == "table" then
      if depth > 1000 then error("nested deeper than 1000 levels (a table containing itself?)", 0) end
      for _, item in pairs(v) do walk(item, depth + 1) end
    end
  end
  walk(value, 0)
end

-- A copy of `value` fit to write out: every string value masked; keys, other values, structure and metatables (a
-- json.array stays an array) as they are. Raises, before anything is written, on what JSON cannot carry (functions,
-- userdata other than json.null) and past `opts.budget` bytes expanded (see log.check_expanded_size). With
-- opts.withhold, a string holding a secret is left out instead of masked (json.null in an array), and the second
-- result lists where ("password", "db.url", "" for the value itself).
function log.masked_copy(value, opts)
  opts = opts or {}
  log.check_expanded_size(value, opts.budget or math.huge)
  local withhold, withheld, keys = opts.withhold, {}, {}
  local is_secret, mask, null = alaris.is_secret, alaris.mask, require("alaris.json").null -- loaded when needed
  local function copy(v, depth)
    local kind = type(v)
    if kind == "string" then
      if not withhold then return mask(v) end
      if not is_secret(v) then return v end
      withheld[#withheld + 1] = table.concat(keys, ".", 1, depth)
      return nil
    elseif kind == "table" then
      local out = setmetatable({}, getmetatable(v))
      for k, item in pairs(v) do
        keys[depth + 1] = k
        local c = copy(item, depth + 1)
        if c == nil and math.type(k) == "integer" then c = null end -- an array keeps its length
        out[k] = c
      end
      return out
    elseif kind == "function" or kind == "thread" or (kind == "userdata" and v ~= null) then
      error("a " .. kind .. " cannot be written as JSON", 0)
    end
    return v
  end
  return copy(value, 0), withheld
end

return log
