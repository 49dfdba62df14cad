-- A small test library for the Lua suites: named tests, assertions that say what differed, one summary line.
-- Each tests/<module>_test.lua file is run by ctest as `alaris-run tests/<module>_test.lua` (see tests/tests.cmake).
local testing = {}

local tests = {}

function testing.test(name, fn)
  tests[#tests + 1] = { name = name, fn = fn }
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

local function deep_equal(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not deep_equal(v, b[k], seen) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
testing.deep_equal = deep_equal

function testing.eq(actual, expected, what)
  if not deep_equal(actual, expected) then
    error(string.format("%sexpected %s, got %s", what and (what .. ": ") or "", show(expected), show(actual)), 2)
  end
end

function testing.ok(value, what)
  if not value then error((what or "expected a true value") .. ", got " .. show(value), 2) end
  return value
end

function testing.contains(haystack, needle, what)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    error(string.format("%sexpected %s to contain %s", what and (what .. ": ") or "", show(haystack), show(needle)), 2)
  end
end

function testing.not_contains(haystack, needle, what)
  if type(haystack) == "string" and haystack:find(needle, 1, true) then
    error(string.format("%sexpected %s not to contain %s", what and (what .. ": ") or "", show(haystack), show(needle)), 2)
  end
end

-- Runs fn, expects it to raise; returns the error message (a string, or tostring of the error value).
function testing.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error" .. (pattern and (" matching " .. pattern) or ""), 2) end
  local msg = tostring(err)
  if pattern and not msg:find(pattern) then
    error(string.format("error %s does not match %s", show(msg), show(pattern)), 2)
  end
  return msg
end

-- A temporary directory removed at exit (by the caller through testing.cleanup).
local temps = {}
function testing.tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("l")
  p:close()
  temps[#temps + 1] = dir
  return dir
end

function testing.write_file(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

function testing.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Quote for /bin/sh.
function testing.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns its stdout, stderr and exit code.
function testing.run(cmd)
  local dir = testing.tmpdir()
  local out, errf = dir .. "/out", dir .. "/err"
  local ok, how, code = os.execute("(" .. cmd .. ") >" .. out .. " 2>" .. errf .. " </dev/null")
  if how == "signal" then code = 128 + code end
  return testing.read_file(out) or "", testing.read_file(errf) or "", code
end

-- The alaris-run binary under test (ctest sets ALARIS_RUN).
testing.alaris_run = os.getenv("ALARIS_RUN") or "build/alaris-run"

-- Writes Lua source to a temporary file (named `name`, default script.lua) and returns its path.
function testing.script(source, name)
  return testing.write_file(testing.tmpdir() .. "/" .. (name or "script.lua"), source)
end

-- Runs Lua source with alaris-run: `alaris-run OPTIONS FILE ARGS`; returns stdout, stderr, the exit code and the file.
function testing.run_script(source, options, args)
  local file = testing.script(source)
  local out, err, code = testing.run(string.format("%s %s %s %s", testing.alaris_run, options or "", file, args or ""))
  return out, err, code, file
end

function testing.cleanup()
  for _, d in ipairs(temps) do os.execute("rm -rf " .. testing.sh_quote(d)) end
  temps = {}
end

-- Runs the registered tests in order, prints one line each and the summary, exits 1 if any failed.
-- With ONLY=pattern in the environment, runs only the tests whose name matches.
function testing.run_all()
  local only = os.getenv("ONLY")
  local passed, failed = 0, 0
  for _, t in ipairs(tests) do
    if not only or t.name:find(only) then
      local started = os.clock()
      local ok, err = xpcall(t.fn, debug.traceback)
      if ok then
        passed = passed + 1
        io.stdout:write(string.format("ok   %s\n", t.name))
      else
        failed = failed + 1
        io.stdout:write(string.format("FAIL %s\n     %s\n", t.name, tostring(err):gsub("\n", "\n     ")))
      end
      io.stdout:flush()
      local _ = started
    end
  end
  testing.cleanup()
  io.stdout:write(string.format("%d passed, %d failed\n", passed, failed))
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1, true) -- close the state: finalizers run (and are checked under ASan)
end

return testing
