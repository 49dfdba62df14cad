-- alaris.playbook's constructor: a mistake in a definition raises the one alaris error value, marked as bad input.
local T = require "testing"
local alaris = require "alaris"
local playbook = require "alaris.playbook"

T.test("a step without a run function raises an alaris error with code invalid, marked as usage", function()
  local ok, err = pcall(playbook, { name = "p", steps = { { name = "a" } } })
  T.eq(ok, false)
  T.ok(alaris.is_error(err), "an alaris error value")
  T.eq(err.code, "invalid")
  T.eq(err.usage, true, "the CLI exits 2 for it")
  T.eq(tostring(err), "step 'a' has no run function")
end)

T.run_all()
