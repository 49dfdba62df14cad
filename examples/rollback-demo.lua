-- A three-step playbook whose third step fails: run it to see the rollbacks of the second, then the first step.
--   alaris-run examples/rollback-demo.lua
local alaris = require "alaris"
local playbook = require "alaris.playbook"

return playbook {
  name = "rollback-demo",
  description = "Three steps; the third fails, so the first two are undone in reverse order",
  vars = {
    tenant = { default = "demo", pattern = "^[a-z][a-z0-9-]{0,40}$", description = "a tenant name" },
  },
  steps = {
    { name = "create-namespace",
      run = function(ctx)
        alaris.sleep(0.2)
        ctx.log.info("namespace created", { namespace = ctx.vars.tenant })
        return { namespace = ctx.vars.tenant }
      end,
      rollback = function(ctx, out)
        ctx.log.info("namespace deleted", { namespace = out.namespace })
      end },
    { name = "write-secret",
      run = function(ctx)
        alaris.sleep(0.2)
        return { secret = "pg-" .. ctx.vars.tenant .. "-app-secret" }
      end,
      rollback = function(ctx, out)
        ctx.log.info("secret deleted", { name = out.secret })
      end },
    { name = "deploy-app",
      run = function(ctx)
        alaris.sleep(0.2)
        error("image registry.example/app:1.0 not found")
      end },
  },
}
