-- alaris.process: running a program from a task, with its output collected; misuse and oversized input raise.
local T = require "testing"
local alaris = require "alaris"
local process = require "alaris.process"

T.test("run collects the exit status, stdout and stderr, with the added environment", function()
  local res = assert(process.run({ "sh", "-c", 'printf "%s" "$GREETING"; echo oops >&2; exit 3' },
    { GREETING = "hello" }, 5))
  T.eq(res.status, 3)
  T.eq(res.stdout, "hello")
  T.eq(res.stderr, "oops\n")
end)

T.test("a program that does not finish in time is killed: nil, err with code timeout", function()
  local started = alaris.now()
  local res, err = process.run({ "sleep", "5" }, nil, 0.1)
  T.eq(res, nil)
  T.ok(alaris.is_error(err))
  T.eq(err.code, "timeout")
  T.contains(tostring(err), "sleep did not finish in time")
  T.ok(alaris.now() - started < 2)
end)

T.test("a program that cannot be executed exits 127 with the reason on stderr", function()
  local res = assert(process.run({ "/nonexistent/program" }, nil, 5))
  T.eq(res.status, 127)
  T.contains(res.stderr, "cannot run /nonexistent/program")
end)

-- __len may claim anything: the argv array is sized from it, so a huge claim must be refused before allocating
-- (it overflowed (n+1)*8 into a small allocation that the arguments were then written past).
T.test("an argv whose __len claims a huge length is refused before anything is allocated", function()
  for _, claimed in ipairs { math.maxinteger, math.maxinteger - 1, 1 << 61, 4097 } do
    local argv = setmetatable({ "true", "a", "b" }, { __len = function() return claimed end })
    T.raises(function() process.run(argv, nil, 5) end, "too many arguments")
  end
  local fine = setmetatable({ "true" }, { __len = function() return 1 end })
  T.eq(assert(process.run(fine, nil, 5)).status, 0)
end)

T.test("arguments and environment entries must be strings; numbers are not converted under the table", function()
  T.raises(function() process.run({ "echo", 42 }, nil, 5) end, "must be strings")
  T.raises(function() process.run({ "true" }, { [1] = "x" }, 5) end, "environment names must be strings")
  T.raises(function() process.run({}, nil, 5) end, "a command expected")
  local env = {}
  for i = 1, 4097 do env["V" .. i] = "x" end
  T.raises(function() process.run({ "true" }, env, 5) end, "too many environment variables")
end)

T.run_all()
