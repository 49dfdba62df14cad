-- The ops tooling: namespace `ops`, ServiceAccount `ops-reader`, a ClusterRole that may only get/list/watch (no
-- Secrets, no pods/exec, no writes), its binding and a `psql-client` Deployment; then SubjectAccessReviews prove the
-- role read-only, and the run fails if any write is allowed.
--   alaris-run playbooks/bootstrap-ops.lua [kubeconfig=PATH]
local k8s = require "alaris.k8s"
local operators = require "alaris.operators"
local platform = require "alaris.platform"
local playbook = require "alaris.playbook"

local function kube(ctx)
  return assert(k8s.client { kubeconfig = ctx.vars.kubeconfig })
end

local function objects(ctx)
  return operators.ops_objects { image = ctx.vars.psql_image }
end

return playbook {
  name = "bootstrap-ops",
  description = "The read-only ops ServiceAccount with its ClusterRole and binding, and the psql-client Deployment",
  vars = {
    kubeconfig = { description = "the cluster's kubeconfig (default: KUBECONFIG, else ~/.kube/config)" },
    psql_image = { default = operators.PSQL_IMAGE, pattern = "^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$",
      description = "the psql-client image" },
    wait_timeout = { type = "integer", default = 300, description = "seconds to wait for psql-client Available" },
  },
  steps = {
    { name = "objects",
      description = "namespace ops, ServiceAccount ops-reader, ClusterRole and binding, psql-client (server-side apply)",
      timeout = 300,
      plan = function(ctx) return platform.plan(kube(ctx), objects(ctx)) end,
      run = function(ctx)
        local result = platform.apply(kube(ctx), objects(ctx))
        ctx.log.info(platform.summary(result))
        return result
      end,
      rollback = function(ctx, out) platform.delete(kube(ctx), out.created, { log = ctx.log }) end },

    { name = "psql-client-available",
      description = "the psql-client Deployment Available (a watch)",
      run = function(ctx)
        platform.wait_ready(kube(ctx), objects(ctx), ctx.vars.wait_timeout)
        return { available = "ops/psql-client" }
      end },

    { name = "prove-read-only",
      description = "SubjectAccessReviews: every write verb, Secrets, pods/exec and port-forward denied; reads allowed",
      timeout = 300,
      plan = function() return { "ask the API server about ops-reader (SubjectAccessReviews; nothing stored)" } end,
      run = function(ctx)
        local proof = operators.prove_read_only(kube(ctx))
        ctx.log.info("ops-reader is read-only", { reviews = proof.asked })
        return proof
      end },
  },
}
