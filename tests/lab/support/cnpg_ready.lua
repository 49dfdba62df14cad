-- A stand-in for the CloudNativePG operator's status writes, for playbook tests that run before (or without) the
-- lab's CNPG emulation: every Cluster in namespace `arg[1]` is marked Ready (phase healthy, a current primary) as
-- soon as it appears, through the status subresource, as the operator would. It creates no pods: tests that use it
-- skip the smoke check. Runs until killed.
local k8s = require "alaris.k8s"
local kc = assert(k8s.client())
local namespace = arg[1]
for ev in kc:watch("postgresql.cnpg.io/v1", "Cluster", namespace) do
  local c = ev.object
  local ready = k8s.condition(c, "Ready")
  if ev.type ~= "DELETED" and not (ready and ready.status == "True") then
    kc:patch(c, { status = { phase = "Cluster in healthy state", currentPrimary = c.metadata.name .. "-1",
      conditions = { { type = "Ready", status = "True", reason = "ClusterIsReady", message = "Cluster is Ready",
        lastTransitionTime = os.date("!%Y-%m-%dT%H:%M:%SZ") } } } }, "merge", { subresource = "status" })
  end
end
