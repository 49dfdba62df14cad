-- Loaded before any user code: routes what Lua writes to the terminal through secret masking.
-- print, io.write and the write method of io.stdout/io.stderr mask every registered secret. Files a script opens
-- itself are written as given (a kubeconfig written to disk must keep its token). With --output json the runner
-- sends descriptor 1 to stderr (what steps and their child processes print), so that stdout carries the JSON
-- document alone.
local alaris = require "alaris"

local prelude = {}

local mask = alaris.mask
local stdout, stderr = io.stdout, io.stderr
local file_methods = getmetatable(stdout).__index
local raw_write = file_methods.write
local document_out = stdout

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

-- Writes to f as given, for text masked already value by value (JSON documents, log lines): masking the whole
-- text again would mask keys and framing that happen to contain a secret.
function prelude.raw_write(f, ...)
  return raw_write(f, ...)
end

-- From now on descriptor 1 is stderr; prelude.document_write reaches the original stdout.
function prelude.stdout_to_stderr()
  if document_out == stdout then document_out = assert(require("alaris.files").stdout_to_stderr()) end
end

-- Writes to the original stdout (the JSON document), and flushes.
function prelude.document_write(...)
  raw_write(document_out, ...)
  return document_out:flush()
end

return prelude
