-- Loaded before any user code: routes what Lua writes to the terminal through secret masking.
-- print, io.write and the write method of io.stdout/io.stderr mask every registered secret. Files a script opens
-- itself are written as given (a kubeconfig written to disk must keep its token).
local alaris = require "alaris"

local mask = alaris.mask
local stdout, stderr = io.stdout, io.stderr
local file_methods = getmetatable(stdout).__index
local raw_write = file_methods.write

local function masked(...)
  local n = select("#", ...)
  local out = table.pack(...)
  for i = 1, n do
    local v = out[i]
    if type(v) == "string" or type(v) == "number" then out[i] = mask(tostring(v)) end
  end
  return table.unpack(out, 1, n)
end

function file_methods.write(f, ...)
  if f == stdout or f == stderr then return raw_write(f, masked(...)) end
  return raw_write(f, ...)
end

function io.write(...)
  return io.output():write(...)
end

function print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  stdout:write(table.concat(parts, "\t"), "\n")
end

return true
