-- alaris.grade.isolation: grade's static isolation proof. From the live Namespaces, Pods and NetworkPolicies it
-- evaluates (with alaris.netpol) every (source, destination pod, port) that involves a tenant, and compares each
-- verdict with what a tenant's isolation requires: no flow between tenants, the tenant's internal port and its
-- database closed to everything outside it except the CloudNativePG operator (5432 and 8000) and the ops client
-- (5432), its app reaching its own database, and the public port open. It reads tables only; fetching the objects
-- belongs to the checks (alaris.grade.checks).
local netpol = require "alaris.netpol"

local isolation = {}

isolation.PUBLIC_PORT, isolation.INTERNAL_PORT = 8080, 9090
isolation.DB_PORT, isolation.STATUS_PORT = 5432, 8000
-- An address outside the cluster (TEST-NET-3): what a client reaching a load balancer looks like to a policy.
isolation.OUTSIDE = { ip = "203.0.113.7" }

local OPERATOR = { namespace = "cnpg-system", label = "app.kubernetes.io/name", value = "cloudnative-pg" }
local OPS_CLIENT = { namespace = "ops", label = "app", value = "psql-client" }
isolation.OPERATOR, isolation.OPS_CLIENT = OPERATOR, OPS_CLIENT

local function labels(obj)
  return (obj.metadata and obj.metadata.labels) or {}
end

local function namespace(obj)
  return obj.metadata and obj.metadata.namespace
end

-- The tenant a namespace belongs to: its `tenant` label, or its name when it is one of the graded tenants.
local function tenant_map(world, graded)
  local of = {}
  for _, ns in ipairs(world.namespaces or {}) do
    local t = labels(ns).tenant
    if t then of[ns.metadata.name] = t end
  end
  for _, t in ipairs(graded or {}) do of[t] = of[t] or t end
  return of
end

-- What an endpoint is to tenant t: "outside", "db" / "app" (of t: its Cluster pg-T, its app), "tenant" (another
-- tenant's pod), "operator", "ops", "own" (another pod of t, a restored Cluster's included) or "other" (any other
-- pod of the cluster).
local function role(endpoint, t, tenant_of)
  if not endpoint.metadata then return "outside" end
  local ns, l = namespace(endpoint), labels(endpoint)
  if ns == OPERATOR.namespace and l[OPERATOR.label] == OPERATOR.value then return "operator" end
  if ns == OPS_CLIENT.namespace and l[OPS_CLIENT.label] == OPS_CLIENT.value then return "ops" end
  local owner = tenant_of[ns]
  if owner == nil then return "other" end
  if owner ~= t then return "tenant" end
  if l["cnpg.io/cluster"] == "pg-" .. t then return "db" end
  if l.app == t .. "-app" then return "app" end
  return "own"
end

-- What a flow into one of t's pods must be: true (allowed), false (denied) or nil (no opinion).
local function expect_inbound(src_role, dst_role, port)
  if src_role == "tenant" then return false end
  if dst_role == "app" then
    if port == isolation.INTERNAL_PORT and src_role ~= "own" and src_role ~= "app" then return false end
    if port == isolation.PUBLIC_PORT and src_role == "outside" then return true end
    return nil
  end
  if dst_role ~= "db" then return nil end
  if src_role == "operator" and (port == isolation.DB_PORT or port == isolation.STATUS_PORT) then return true end
  if src_role == "ops" and port == isolation.DB_PORT then return true end
  if src_role == "app" and port == isolation.DB_PORT then return true end
  if src_role == "own" or src_role == "db" or src_role == "app" then return nil end
  if src_role == "operator" then return nil end
  return false -- the outside, other pods of the cluster, and the ops client beyond 5432
end

-- expect(cell) for tenant t: the verdict each cell involving t must have (nil for cells that do not concern t).
function isolation.expectation(world, t, graded)
  local tenant_of = tenant_map(world, graded)
  return function(cell)
    local dst_owner = tenant_of[namespace(cell.dst)]
    local src_role = role(cell.src, t, tenant_of)
    if dst_owner == t then return expect_inbound(src_role, role(cell.dst, t, tenant_of), cell.port) end
    if dst_owner ~= nil and cell.src.metadata and tenant_of[namespace(cell.src)] == t then return false end
    return nil
  end
end

-- The pods the proof stands on; a missing one makes the proof impossible (an error, not a pass).
local function required_pods(world, t, tenant_of)
  local found = {}
  for _, pod in ipairs(world.pods or {}) do
    local r = role(pod, t, tenant_of)
    found[r] = found[r] or pod
  end
  local missing = {}
  if not found.db then missing[#missing + 1] = "a database pod of " .. t end
  if not found.app then missing[#missing + 1] = "an app pod of " .. t end
  if not found.operator then
    missing[#missing + 1] = string.format("the CloudNativePG operator (%s pod labelled %s=%s)", OPERATOR.namespace,
      OPERATOR.label, OPERATOR.value)
  end
  if not found.ops then
    missing[#missing + 1] = string.format("the ops client (%s pod labelled %s=%s)", OPS_CLIENT.namespace,
      OPS_CLIENT.label, OPS_CLIENT.value)
  end
  return missing
end

-- The ports tried on a destination: its declared container ports, plus the ones the proof is about when the pod
-- does not declare them (a probe must not pass because a port was left out of the spec).
local function ports_of(pod)
  local ports, seen = {}, {}
  local function add(port, protocol)
    local key = port .. "/" .. protocol
    if not seen[key] then seen[key], ports[#ports + 1] = true, { port = port, protocol = protocol } end
  end
  for _, c in ipairs((pod.spec or {}).containers or {}) do
    for _, p in ipairs(c.ports or {}) do add(p.containerPort, p.protocol or "TCP") end
  end
  local l = labels(pod)
  if l["cnpg.io/cluster"] then add(isolation.DB_PORT, "TCP"); add(isolation.STATUS_PORT, "TCP") end
  if l.app and l.app:match("%-app$") then add(isolation.PUBLIC_PORT, "TCP"); add(isolation.INTERNAL_PORT, "TCP") end
  return ports
end

-- Only running pods with an address carry traffic.
function isolation.live_pods(pods)
  local live = {}
  for _, pod in ipairs(pods or {}) do
    local s = pod.status or {}
    if s.podIP and (s.phase == nil or s.phase == "Running") and not pod.metadata.deletionTimestamp then
      live[#live + 1] = pod
    end
  end
  return live
end

-- Proves tenant t isolated in the world. Returns "pass" | "fail" | "error" and the evidence (a list of lines, the
-- first naming the first failing cell, or what the proof lacks).
function isolation.prove(world, t, graded)
  local tenant_of = tenant_map(world, graded)
  local known = false
  for _, ns in ipairs(world.namespaces or {}) do known = known or ns.metadata.name == t end
  if not known then return "error", { "no namespace " .. t .. ": the tenant does not exist" } end
  local missing = required_pods(world, t, tenant_of)
  if #missing > 0 then return "error", { "cannot prove isolation without " .. table.concat(missing, ", ") } end
  local cells = netpol.matrix(world, { sources = { isolation.OUTSIDE }, ports = ports_of })
  local expect = isolation.expectation(world, t, graded)
  local judged = 0
  for _, cell in ipairs(cells) do
    if expect(cell) ~= nil then judged = judged + 1 end
  end
  local bad = netpol.violations(cells, expect)
  if #bad == 0 then
    return "pass", { string.format("%d flows involving %s over %d pods and %d policies hold: no flow to or from another "
      .. "tenant, the internal port and the database closed to the rest, the operator reaching 5432 and 8000, the app "
      .. "and the ops client reaching the database", judged, t, #(world.pods or {}), #(world.policies or {})) }
  end
  local lines = { string.format("%d of %d flows involving %s are wrong; first: %s", #bad, judged, t, bad[1].message) }
  for i = 2, #bad do lines[#lines + 1] = bad[i].message end
  return "fail", lines
end

return isolation
