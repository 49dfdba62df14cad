-- alaris.socket: the TCP listener and connections as handles: close is idempotent and returns true, a closed handle
-- says so in tostring and refuses to be used, <close> closes it.
local T = require "testing"
local alaris = require "alaris"
local socket = require "alaris.socket"

T.test("a listener is a handle: close returns true every time, tostring shows closed, use raises", function()
  local listener = assert(socket.listen("127.0.0.1", 0))
  T.ok(listener:port() > 0)
  T.eq(listener:closed(), false)
  T.not_contains(tostring(listener), "closed")
  T.eq(listener:close(), true)
  T.eq(listener:close(), true, "idempotent")
  T.eq(listener:closed(), true)
  T.eq(tostring(listener), "alaris.socket.listener (closed)")
  T.raises(function() listener:port() end, "attempt to use a closed listener")
end)

T.test("<close> closes an accepted connection; a closed one refuses reads", function()
  local listener <close> = assert(socket.listen("127.0.0.1", 0))
  local client = alaris.spawn(function()
    alaris.sleep(0.05)
    T.run("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" .. listener:port() .. "; printf hi >&3'")
  end)
  local kept
  do
    local conn <close> = assert(listener:accept(5))
    kept = conn
    T.eq(conn:read(16, 5), "hi")
  end
  client:wait()
  T.eq(kept:closed(), true)
  T.eq(tostring(kept), "alaris.socket (closed)")
  T.raises(function() kept:read(16, 1) end, "attempt to use a closed socket")
  T.raises(function() kept:read(1 << 40, 1) end, "must be 1..16777216")
end)

T.run_all()
