-- Playbook variables: declarations checked against the values given on the command line (NAME=VALUE, strings to
-- convert) and in var files (already typed by YAML/JSON). Command-line values win. Returns the typed values, or
-- nil and one line naming the var and why. Secret vars are registered for masking before anything can print them:
-- every string inside them, and none shorter than MIN_SECRET (masking "e" would mangle every word with an e).
local alaris = require "alaris"
local json = require "alaris.json"
local log = require "alaris.log"

local vars = {}

local MIN_SECRET = 4

-- Every string (or number) in a secret var's value, a map's and a list's members included.
local function secret_strings(v, out)
  out = out or {}
  if type(v) == "table" then
    for _, item in pairs(v) do secret_strings(item, out) end
  elseif type(v) == "string" or type(v) == "number" then
    out[#out + 1] = tostring(v)
  end
  return out
end

-- Registers a secret var's value; returns nil and why when a part of it is too short to mask safely.
local function register_secret(name, v)
  local parts = secret_strings(v)
  for _, text in ipairs(parts) do
    if #text < MIN_SECRET then
      return nil, string.format("var '%s': a secret must be at least %d characters (masking a shorter one would "
        .. "mangle ordinary words in every output)", name, MIN_SECRET)
    end
  end
  for _, text in ipairs(parts) do alaris.secret(text) end
  return true
end

local TYPES = { string = true, number = true, integer = true, boolean = true, list = true, map = true }

-- Checks a playbook's var declarations; raises on a malformed one (a bug in the playbook).
function vars.check_declarations(decls)
  for name, d in pairs(decls or {}) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      error(string.format("var name %q: use letters, digits and underscores", tostring(name)), 0)
    end
    if type(d) ~= "table" then error(string.format("var '%s': the declaration must be a table", name), 0) end
    if d.type ~= nil and not TYPES[d.type] then
      error(string.format("var '%s': unknown type %q (string, number, integer, boolean, list, map)", name, tostring(d.type)), 0)
    end
  end
end

local BOOLEANS = { ["true"] = true, yes = true, on = true, ["1"] = true,
                   ["false"] = false, no = false, off = false, ["0"] = false }

local function from_text(kind, text)
  if kind == "string" then return text end
  if kind == "number" then return tonumber(text) end
  if kind == "integer" then return math.tointeger(tonumber(text)) end
  if kind == "boolean" then return BOOLEANS[text:lower()] end
  if kind == "list" then
    if text:match("^%s*%[") then
      local v = json.decode(text)
      return type(v) == "table" and v or nil
    end
    local items = json.array({})
    for item in text:gmatch("[^,]+") do items[#items + 1] = item:match("^%s*(.-)%s*$") end
    return items
  end
  if kind == "map" then
    local v = json.decode(text)
    return type(v) == "table" and v or nil
  end
end

local function typed(kind, v)
  if kind == "string" then
    return (type(v) == "string" or type(v) == "number") and tostring(v) or nil
  elseif kind == "number" then
    return type(v) == "number" and v or nil
  elseif kind == "integer" then
    return math.tointeger(v)
  elseif kind == "boolean" then
    return type(v) == "boolean" and v or nil
  elseif kind == "list" or kind == "map" then
    return type(v) == "table" and v or nil
  end
end

-- Quoted on one line: %q writes a newline as a backslash and a real newline, which would split the message.
local function describe(v)
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  return tostring(v)
end

-- decls: the playbook's vars; given: map name -> string from NAME=VALUE; file: map name -> value from --var-file.
function vars.resolve(decls, given, file)
  decls = decls or {}
  for name in pairs(given) do
    if not decls[name] then
      local known = {}
      for k in pairs(decls) do known[#known + 1] = k end
      table.sort(known)
      return nil, string.format("unknown var '%s' (this playbook takes: %s)", name,
        #known > 0 and table.concat(known, ", ") or "no vars")
    end
  end
  for name in pairs(file or {}) do
    if not decls[name] then -- a var file may serve several playbooks: say so, but go on
      log.warn(string.format("the var file sets '%s', which this playbook does not take (ignored)", tostring(name)))
    end
  end
  local values = {}
  local names = {}
  for name in pairs(decls) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local d = decls[name]
    local kind = d.type or "string"
    local v
    local short
    if given[name] ~= nil then
      if d.secret then short = select(2, register_secret(name, given[name])) end
      if short then return nil, short end
      v = from_text(kind, given[name])
      if v == nil then
        return nil, string.format("var '%s': %s is not a valid %s", name, d.secret and "the value" or describe(given[name]), kind)
      end
    elseif file and file[name] ~= nil then
      if d.secret then short = select(2, register_secret(name, file[name])) end
      if short then return nil, short end
      v = typed(kind, file[name])
      if v == nil then
        return nil, string.format("var '%s': %s in the var file is not a valid %s", name,
          d.secret and "the value" or describe(file[name]), kind)
      end
    elseif d.default ~= nil then
      v = d.default
    elseif d.required then
      return nil, string.format("var '%s' is required%s", name, d.description and (": " .. d.description) or "")
    end
    if kind == "string" and type(v) == "string" and v:find("\0", 1, true) then
      return nil, string.format("var '%s': contains a NUL byte", name)
    end
    if v ~= nil and d.pattern and kind == "string" then
      local ok, err = alaris.regex_match(d.pattern, v)
      if ok == nil then error(string.format("var '%s': %s", name, err), 0) end
      if not ok then
        return nil, string.format("var '%s': %s does not match %s", name, d.secret and "the value" or describe(v), d.pattern)
      end
    end
    if v ~= nil and d.secret then
      short = select(2, register_secret(name, v))
      if short then return nil, short end
    end
    values[name] = v
  end
  return values
end

-- The vars as they may be shown: secrets replaced by ***.
function vars.shown(decls, values)
  local out = {}
  for name, v in pairs(values) do
    out[name] = (decls[name] and decls[name].secret) and "***" or v
  end
  return out
end

return vars
