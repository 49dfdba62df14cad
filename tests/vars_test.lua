-- alaris.vars: how NAME=VALUE values are checked against a playbook's declarations, and how a refusal reads.
local T = require "testing"
local vars = require "alaris.vars"

T.test("a refused value is quoted on one line, even with a newline in it", function()
  local resolved, err = vars.resolve({ replicas = { type = "integer" } }, { replicas = "1\n2" }, {})
  T.eq(resolved, nil)
  T.contains(err, "var 'replicas': ")
  T.contains(err, [["1\n2" is not a valid integer]])
  T.not_contains(err, "\n", "one line")
end)

T.test("a valid value is converted to the declared type", function()
  local resolved = assert(vars.resolve({ replicas = { type = "integer" } }, { replicas = "3" }, {}))
  T.eq(resolved.replicas, 3)
end)

T.run_all()
