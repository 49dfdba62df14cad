-- A test playbook of three steps (a, b, c) that record what they do in a trace file, and fail, hang or leak
-- secrets on demand through its vars. Used by tests/runner_test.lua and tests/cli_test.lua.
local alaris = require "alaris"
local playbook = require "alaris.playbook"

local function trace(ctx, what)
  local f = assert(io.open(ctx.vars.trace, "a"))
  f:write(what, "\n")
  f:close()
end

local function step(name, tags)
  return {
    name = name,
    tags = tags,
    timeout = name == "c" and 2 or nil,
    retries = name == "b" and 2 or nil,
    retry_delay = 0.05,
    run = function(ctx)
      trace(ctx, "start " .. name)
      if ctx.vars.slow == name then alaris.sleep(ctx.vars.sleep) end
      if ctx.vars.fds == name then os.execute("ls -l /proc/self/fd/ >" .. ctx.vars.trace .. ".fds 2>&1") end
      if ctx.vars.flaky == name then
        local f = io.open(ctx.vars.trace .. ".attempts", "a+")
        local seen = #f:read("a")
        f:write("x")
        f:close()
        if seen < 2 then error("flaky failure " .. seen) end
      end
      if ctx.vars.leak == name then
        print("printing the password " .. ctx.vars.password)
        os.execute("echo a child process prints too")
        io.stderr:write("stderr has " .. ctx.vars.password .. "\n")
        ctx.log.info("log has " .. ctx.vars.password, { field = ctx.vars.password })
      end
      if ctx.vars.fail == name then
        error(ctx.vars.leak == name and ("failed with " .. ctx.vars.password) or ("step " .. name .. " failed"))
      end
      local blob
      if ctx.vars.big > 0 and name == "b" then -- an output that keeps the runner busy journaling it
        blob = {}
        for i = 1, ctx.vars.big do blob[i] = "item-" .. i end
      end
      trace(ctx, "run " .. name)
      local out = { step = name, previous = ctx.outputs.a and ctx.outputs.a.step or nil, blob = blob }
      if ctx.vars.leak == name then out.password = ctx.vars.password end
      return out
    end,
    rollback = function(ctx, out)
      trace(ctx, "undo " .. name .. " " .. tostring(out and out.step))
      if out and out.password ~= nil then
        trace(ctx, "undo " .. name .. " got the password " .. (out.password == ctx.vars.password and "in clear" or "altered"))
      end
      if ctx.vars.slow_rollback == name then alaris.sleep(ctx.vars.sleep) end
      if ctx.vars.rollback_fail == name then error("cannot undo " .. name) end
    end,
    plan = function(ctx)
      return { "would create " .. name }
    end,
  }
end

return playbook {
  name = "steps",
  description = "Three recorded steps for the runner's tests",
  vars = {
    trace = { required = true, description = "file the steps append to" },
    fail = { description = "the step that fails" },
    flaky = { description = "the step that fails twice, then works" },
    slow = { description = "the step that sleeps" },
    slow_rollback = { description = "the step whose rollback sleeps" },
    sleep = { type = "number", default = 30 },
    rollback_fail = { description = "the step whose rollback fails" },
    leak = { description = "the step that prints, raises and returns the password" },
    fds = { description = "the step that lists the descriptors a child process inherits (in TRACE.fds)" },
    password = { secret = true, default = "s3cr3t-default-pw" },
    tenant = { pattern = "^[a-z][a-z0-9-]{0,40}$", default = "acme" },
    count = { type = "integer", default = 1 },
    big = { type = "integer", default = 0, description = "entries in step b's output" },
    dry = { type = "boolean", default = false },
    items = { type = "list" },
  },
  steps = { step("a", { "setup" }), step("b", { "app" }), step("c", { "app", "slow" }) },
}
