-- The core module: tasks, waits, cancellation, time, masking and regular expressions.
local T = require "testing"
local alaris = require "alaris"

T.test("spawn and wait return the task's results or its error with a traceback", function()
  local t = alaris.spawn(function(a, b) alaris.sleep(0.01); return a + b, "x" end, 2, 3)
  T.eq({ alaris.wait(t) }, { true, 5, "x" })
  T.ok(t:done())
  local bad = alaris.spawn(function() error("nope") end)
  local ok, err, tb = alaris.wait(bad)
  T.eq(ok, false)
  T.contains(err, "nope")
  T.contains(tb, "stack traceback")
end)

-- The timeouts of every wait are error values with code "timeout", never a bare string.
local function assert_timeout(ok, err)
  T.eq(ok, nil)
  T.ok(alaris.is_error(err), "an alaris error value")
  T.eq(err.code, "timeout")
  T.contains(tostring(err), "in time")
end

T.test("wait with a timeout gives nil, err (code timeout) and leaves the task running", function()
  local t = alaris.spawn(function() alaris.sleep(0.3); return "late" end)
  assert_timeout(alaris.wait(t, 0.05))
  T.eq({ t:wait() }, { true, "late" })
end)

T.test("alaris.error makes the one error value: fields, code and message win, tostring is one line", function()
  local err = alaris.error("not_found", "no such\nthing\r\n  here", { status = 404, reason = "NotFound", code = "x" })
  T.ok(alaris.is_error(err))
  T.eq(err.code, "not_found")
  T.eq(err.status, 404)
  T.eq(err.reason, "NotFound")
  T.eq(err.message, "no such\nthing\r\n  here", "the message is kept as given")
  T.eq(tostring(err), "no such thing   here")
  T.eq(getmetatable(err), getmetatable(alaris.error("timeout", "t")), "one metatable for every error")
  T.ok(not alaris.is_error({ code = "x", message = "y" }))
  T.ok(not alaris.is_error("timeout"))
  T.ok(not alaris.is_error(nil))
  T.raises(function() alaris.error(nil, "m") end, "string expected")
  T.raises(function() alaris.error("c", "m", "fields") end, "table expected")
end)

T.test("errors from the bindings are alaris errors too", function()
  local socket = require "alaris.socket"
  local listener = assert(socket.listen("127.0.0.1", 0))
  local _, err = listener:accept(0.01)
  T.ok(alaris.is_error(err))
  T.eq(getmetatable(err), getmetatable(alaris.error("timeout", "t")))
  listener:close()
end)

T.test("cancel raises inside the task at its wait, once", function()
  local seen
  local t = alaris.spawn(function()
    local ok, err = pcall(alaris.sleep, 10)
    seen = err
    alaris.sleep(0.01) -- delivered once: the task may wait again
    return "recovered"
  end)
  alaris.sleep(0.01)
  local started = alaris.now()
  t:cancel("stop now")
  T.eq({ t:wait() }, { true, "recovered" })
  T.eq(seen, "stop now")
  T.ok(alaris.now() - started < 1)
end)

T.test("a notifier wakes the task waiting on it; a notify with nobody waiting is kept", function()
  local n = alaris.notifier()
  assert_timeout(n:wait(0.05))
  n:notify()
  T.eq(n:wait(0), true, "kept for the next wait")
  local woke_at
  local waiter = alaris.spawn(function() n:wait(); woke_at = alaris.now() end)
  alaris.sleep(0.05)
  local notified_at = alaris.now()
  n:notify()
  waiter:wait()
  T.ok(woke_at >= notified_at)
  local first = alaris.spawn(function() return n:wait(1) end)
  alaris.yield()
  T.raises(function() n:wait(1) end, "another task is already waiting")
  n:notify()
  T.eq({ first:wait() }, { true, true })
end)

T.test("a task cancelled before it ran never runs", function()
  local ran = false
  local t = alaris.spawn(function() ran = true end)
  t:cancel()
  T.eq(select(2, t:wait()), "cancelled")
  T.eq(ran, false)
end)

T.test("waits inside a nested coroutine raise a clear error", function()
  local co = coroutine.wrap(function() return pcall(alaris.sleep, 0.01) end)
  local ok, err = co()
  T.eq(ok, false)
  T.contains(err, "not inside an alaris task")
end)

T.test("yield lets other tasks run", function()
  local order = {}
  local t = alaris.spawn(function() order[#order + 1] = "other" end)
  order[#order + 1] = "before"
  alaris.yield()
  order[#order + 1] = "after"
  t:wait()
  T.eq(order, { "before", "other", "after" })
end)

T.test("now is monotonic and time is the wall clock", function()
  local a = alaris.now()
  alaris.sleep(0.05)
  T.ok(alaris.now() - a >= 0.045)
  T.ok(math.abs(alaris.time() - os.time()) < 2)
end)

T.test("secrets are masked wherever they appear", function()
  T.eq(alaris.mask("token=abc-unregistered"), "token=abc-unregistered")
  alaris.secret("tok-9f8e7d")
  T.eq(alaris.mask("token=tok-9f8e7d; again tok-9f8e7d"), "token=***; again ***")
  T.ok(alaris.is_secret("xx tok-9f8e7d"))
  T.ok(not alaris.is_secret("clean"))
end)

T.test("regex_match uses POSIX extended expressions", function()
  T.eq(alaris.regex_match("^[a-z][a-z0-9-]{0,40}$", "tenant-a"), true)
  T.eq(alaris.regex_match("^[a-z][a-z0-9-]{0,3}$", "tenant-a"), false)
  local ok, err = alaris.regex_match("([a-z", "x")
  T.eq(ok, nil)
  T.contains(err, "invalid regular expression")
end)

T.test("a descriptor wait that times out returns nil, err; the descriptor becoming ready resumes the operation", function()
  local sockets = require "alaris.socket" -- a non-blocking TCP listener and its sockets
  local listener = assert(sockets.listen("127.0.0.1", 0))
  local started = alaris.now()
  local none, err = listener:accept(0.1)
  T.eq(none, nil)
  T.eq(err.code, "timeout")
  T.eq(err.message, "accept: timed out")
  T.ok(alaris.now() - started < 1)
  local client = alaris.spawn(function()
    alaris.sleep(0.05)
    T.run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. listener:port() .. "; printf hi >&3; sleep 0.2'")
  end)
  local conn = assert(listener:accept(5))
  T.eq(conn:read(16, 5), "hi")
  conn:close()
  listener:close()
  client:wait()
end)

T.test("version is a semantic version", function()
  T.ok(alaris.version:match("^%d+%.%d+%.%d+$"), alaris.version)
end)

T.run_all()
