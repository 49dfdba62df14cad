-- What the benchmarks share: failing with one line, shell quoting, whole-file reads and writes. A bench script
-- finds it with `package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path`.
local support = {}

-- Raises a one-line error (the bench stops with it).
function support.fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end

function support.must(value, err)
  if value == nil then support.fail("%s", tostring(err)) end
  return value
end

function support.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function support.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function support.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The alaris-run that runs this script (arg's lowest index, as lua sets it), for starting child runs.
function support.alaris_run_path()
  local lowest = 0
  while arg[lowest - 1] do lowest = lowest - 1 end
  return arg[lowest]
end

return support
