-- playbooks/onboard.lua against the lab, when things go wrong: a failure injected into each step's API calls (the
-- lab's fault rules) leaves nothing of the tenant; kill -9 at a random moment, then --rollback leaves nothing and
-- --resume finishes; tenants=a,b,c with one failing undoes that one only; 10 % of API calls failing transiently
-- still onboards, with no duplicate objects or keys. The Clusters become Ready for real (the lab's CloudNativePG,
-- the operators installed first), one PostgreSQL instance per tenant to save CPU.
local T = require "testing"
local L = require "playbook_lab"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"

local RUN = T.alaris_run

L.install_operators()

local kc = assert(k8s.client())

-- Each step's API call refused (403: not retried by the clients; the step's own retries meet it again).
local FAULTS = {
  { "namespace", "k8s", "PATCH", "^/api/v1/namespaces/%s$" },
  { "bucket", "s3", "PUT", "^/alaris-%s-backups/?$" },
  { "spaces-key", "do", "POST", "^/v2/spaces/keys" },
  { "database-passwords", "k8s", "POST", "^/api/v1/namespaces/%s/secrets$" },
  { "object-store", "k8s", "PATCH", "/namespaces/%s/objectstores/" },
  { "cluster", "k8s", "PATCH", "/namespaces/%s/clusters/" },
  { "scheduled-backup", "k8s", "PATCH", "/namespaces/%s/scheduledbackups/" },
  { "app", "k8s", "PATCH", "/namespaces/%s/deployments/" },
  { "services", "k8s", "PATCH", "/namespaces/%s/services/.*-internal$" },
  { "network-policies", "k8s", "PATCH", "/namespaces/%s/networkpolicies/db-egress$" },
}

T.test("a failure injected in each step leaves nothing of the tenant", function()
  for i, f in ipairs(FAULTS) do
    local t = "pb-fault-" .. i
    L.admin("POST", "/faults", { target = f[2], method = f[3], path = f[4]:format(t), status = 403 })
    local out, err, code = L.onboard(T.tmpdir(), "tenant=" .. t .. " wait_timeout=300", nil, L.IDLE_IMAGE)
    L.admin("DELETE", "/faults")
    T.eq(code, 1, f[1] .. ": " .. out .. err)
    T.contains(out, "] " .. f[1] .. " ", f[1])
    T.contains(out, "failed; completed steps rolled back", f[1])
    L.nothing_left(kc, t)
  end
end)

T.test("kill -9 at a random moment, then --rollback leaves nothing; again, then --resume finishes", function()
  math.randomseed(os.time())
  for _, mode in ipairs { "--rollback", "--resume" } do
    local t = L.fresh(kc, "pb-kill" .. (mode == "--resume" and "-resume" or ""))
    local dir = T.tmpdir()
    local delay = math.random() * 1.5 -- after the run has started (its journal exists)
    local image = mode == "--rollback" and L.IDLE_IMAGE or L.APP_IMAGE
    T.run(string.format("%s --journal %s/journal.jsonl playbooks/onboard.lua app_image=%s instances=1 smoke=no "
      .. "tenant=%s wait_timeout=300 >/dev/null 2>&1 & i=0; while [ ! -s %s/journal.jsonl ] && [ $i -lt 200 ]; do sleep 0.05; "
      .. "i=$((i+1)); done; sleep %.2f; kill -9 $!", RUN, dir, image, t, dir, delay))
    local out, err, code = L.onboard(dir, "tenant=" .. t .. " wait_timeout=300", mode, image)
    T.eq(code, 0, string.format("%s after %.2fs: %s%s", mode, delay, out, err))
    if mode == "--rollback" then L.nothing_left(kc, t) else T.ok(kc:get("v1", "Service", t .. "-public", t)); L.forget(kc, t) end
  end
end)

T.test("tenants=a,b,c with one failing: that one is undone, the others onboarded, each named", function()
  for _, t in ipairs { "pb-many-a", "pb-many-b", "pb-many-c" } do L.fresh(kc, t) end
  L.admin("POST", "/faults", { target = "k8s", method = "PATCH", path = "/namespaces/pb-many-b/clusters/", status = 403 })
  local out, err, code = L.onboard(T.tmpdir(), "tenants=pb-many-a,pb-many-b,pb-many-c concurrency=3 wait_timeout=300")
  L.admin("DELETE", "/faults")
  T.eq(code, 1, out .. err)
  T.contains(out .. err, "tenant pb-many-a: ok")
  T.contains(out .. err, "tenant pb-many-b: failed")
  T.contains(out .. err, "tenant pb-many-c: ok")
  T.contains(out, "1 of 3 tenants failed: pb-many-b")
  L.nothing_left(kc, "pb-many-b")
  T.ok(kc:get("v1", "Service", "pb-many-a-public", "pb-many-a"))
  T.ok(kc:get("v1", "Service", "pb-many-c-public", "pb-many-c"))
  L.forget(kc, "pb-many-a", "pb-many-c")
end)

T.test("10% of API calls failing transiently: onboarding succeeds with no duplicate objects or keys", function()
  local t = L.fresh(kc, "pb-flaky")
  for _, target in ipairs { "k8s", "do", "s3" } do
    L.admin("POST", "/faults", { target = target, status = 503, probability = 0.05 })
    L.admin("POST", "/faults", { target = target, drop = true, probability = 0.05 })
  end
  local out, err, code = L.onboard(T.tmpdir(), "tenant=" .. t .. " wait_timeout=300")
  L.admin("DELETE", "/faults")
  T.eq(code, 0, out .. err)
  T.eq(#assert(assert(digitalocean.client()):spaces_keys { name = "alaris-" .. t }), 1, "one Spaces key")
  T.eq(#assert(kc:list_all("v1", "Secret", t)), 3)
  T.eq(#assert(kc:list_all("apps/v1", "Deployment", t)), 1)
  L.forget(kc, t)
end)

T.run_all()
