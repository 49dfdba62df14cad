-- alaris.netpol: NetworkPolicy semantics on plain tables, including the three mistakes of the seed's policies.
local T = require "testing"
local netpol = require "alaris.netpol"
local yaml = require "alaris.yaml"

local function ns(name, labels)
  return { kind = "Namespace", metadata = { name = name, labels = labels } }
end

local function pod(namespace, name, labels, ip, ports)
  local container_ports = {}
  for _, p in ipairs(ports or {}) do
    container_ports[#container_ports + 1] = { name = p[1], containerPort = p[2], protocol = p[3] }
  end
  return { kind = "Pod", metadata = { namespace = namespace, name = name, labels = labels or {} },
    spec = { containers = { { name = "main", ports = container_ports } } }, status = { podIP = ip } }
end

local function policy(namespace, name, spec)
  return { kind = "NetworkPolicy", metadata = { namespace = namespace, name = name }, spec = spec }
end

-- Two tenants, the operator, ops and DNS, shaped as on a cluster.
local function cluster(policies)
  local world = {
    namespaces = { ns("tenant-a", { tenant = "tenant-a" }), ns("tenant-b", { tenant = "tenant-b" }), ns("cnpg-system"),
      ns("ops"), ns("kube-system") },
    pods = {
      pod("tenant-a", "tenant-a-app-1", { app = "tenant-a-app" }, "10.244.0.10", { { "http", 8080 }, { "internal", 9090 } }),
      pod("tenant-a", "pg-tenant-a-1", { ["cnpg.io/cluster"] = "pg-tenant-a" }, "10.244.0.11",
        { { "postgresql", 5432 }, { "status", 8000 } }),
      pod("tenant-a", "pg-tenant-a-2", { ["cnpg.io/cluster"] = "pg-tenant-a" }, "10.244.0.12",
        { { "postgresql", 5432 }, { "status", 8000 } }),
      pod("tenant-b", "tenant-b-app-1", { app = "tenant-b-app" }, "10.244.0.20", { { "http", 8080 }, { "internal", 9090 } }),
      pod("tenant-b", "pg-tenant-b-1", { ["cnpg.io/cluster"] = "pg-tenant-b" }, "10.244.0.21",
        { { "postgresql", 5432 }, { "status", 8000 } }),
      pod("cnpg-system", "cnpg-controller-manager-1", { ["app.kubernetes.io/name"] = "cloudnative-pg" }, "10.244.0.30",
        { { "webhook-server", 9443 } }),
      pod("ops", "psql-client-1", { app = "psql-client" }, "10.244.0.40"),
      pod("kube-system", "coredns-1", { ["k8s-app"] = "kube-dns" }, "10.244.0.50", { { "dns", 53, "UDP" }, { "dns-tcp", 53 } }),
    },
    policies = policies or {},
  }
  local by_name = {}
  for _, p in ipairs(world.pods) do by_name[p.metadata.name] = p end
  return world, by_name
end

T.test("label selectors: matchLabels, every matchExpressions operator, empty selects all, nil selects none", function()
  local labels = { app = "web", tier = "front" }
  T.ok(netpol.selector_matches({}, labels), "empty selector")
  T.ok(not netpol.selector_matches(nil, labels), "nil selector")
  T.ok(netpol.selector_matches({ matchLabels = { app = "web" } }, labels))
  T.ok(not netpol.selector_matches({ matchLabels = { app = "web", tier = "back" } }, labels))
  local function expr(op, values) return { matchExpressions = { { key = "tier", operator = op, values = values } } } end
  T.ok(netpol.selector_matches(expr("In", { "front", "mid" }), labels))
  T.ok(not netpol.selector_matches(expr("In", { "back" }), labels))
  T.ok(netpol.selector_matches(expr("NotIn", { "back" }), labels))
  T.ok(netpol.selector_matches(expr("NotIn", { "back" }), { app = "web" }), "NotIn matches a missing key")
  T.ok(netpol.selector_matches(expr("Exists"), labels))
  T.ok(not netpol.selector_matches(expr("DoesNotExist"), labels))
  T.raises(function() netpol.selector_matches(expr("Like"), labels) end, "unknown operator")
end)

T.test("policyTypes default: Ingress always, Egress only with egress rules; an explicit list is taken as written", function()
  local t = netpol.policy_types(policy("x", "p", { podSelector = {} }))
  T.ok(t.Ingress and not t.Egress)
  t = netpol.policy_types(policy("x", "p", { podSelector = {}, egress = { {} } }))
  T.ok(t.Ingress and t.Egress)
  t = netpol.policy_types(policy("x", "p", { podSelector = {}, egress = {} }))
  T.ok(t.Ingress and not t.Egress, "an empty egress list is no egress rule")
  t = netpol.policy_types(policy("x", "p", { podSelector = {}, policyTypes = { "Egress" }, ingress = { {} } }))
  T.ok(not t.Ingress and t.Egress)
end)

T.test("without policies everything is allowed; a default deny isolates both directions it names", function()
  local world, p = cluster()
  T.ok(netpol.allows(world, p["tenant-a-app-1"], p["pg-tenant-b-1"], 5432))
  world.policies = { policy("tenant-b", "deny-in", { podSelector = {}, policyTypes = { "Ingress" } }) }
  local ok, why = netpol.allows(world, p["tenant-a-app-1"], p["pg-tenant-b-1"], 5432)
  T.ok(not ok)
  T.contains(why, "ingress to tenant-b/pg-tenant-b-1 isolated by [deny-in]")
  T.ok(netpol.allows(world, p["pg-tenant-b-1"], p["tenant-a-app-1"], 8080), "egress of tenant-b is not isolated")
  T.ok(netpol.allows(world, { node = true }, p["pg-tenant-b-1"], 5432), "the node reaches its pods")
end)

T.test("a peer with namespaceSelector and podSelector is an AND; two peers are an OR", function()
  local world, p = cluster()
  local both = { namespaceSelector = { matchLabels = { ["kubernetes.io/metadata.name"] = "ops" } },
    podSelector = { matchLabels = { app = "psql-client" } } }
  world.policies = { policy("tenant-a", "db", { podSelector = { matchLabels = { ["cnpg.io/cluster"] = "pg-tenant-a" } },
    ingress = { { from = { both } } } }) }
  T.ok(netpol.allows(world, p["psql-client-1"], p["pg-tenant-a-1"], 5432), "ops client (namespace AND pod)")
  T.ok(not netpol.allows(world, p["cnpg-controller-manager-1"], p["pg-tenant-a-1"], 5432), "another namespace")
  p["psql-client-1"].metadata.labels = { app = "other" }
  T.ok(not netpol.allows(world, p["psql-client-1"], p["pg-tenant-a-1"], 5432), "ops pod without the label")
  -- the same selectors as two peers: either one admits
  world.policies[1].spec.ingress = { { from = { { namespaceSelector = both.namespaceSelector },
    { podSelector = { matchLabels = { app = "tenant-a-app" } } } } } }
  T.ok(netpol.allows(world, p["psql-client-1"], p["pg-tenant-a-1"], 5432), "any pod of ops")
  T.ok(netpol.allows(world, p["tenant-a-app-1"], p["pg-tenant-a-1"], 5432), "podSelector alone: own namespace")
  T.ok(not netpol.allows(world, p["tenant-b-app-1"], p["pg-tenant-a-1"], 5432),
    "podSelector alone never selects another namespace's pods with the same labels")
end)

T.test("ipBlock with except, for external addresses and pod addresses", function()
  local world, p = cluster()
  world.policies = { policy("tenant-a", "lb", { podSelector = { matchLabels = { app = "tenant-a-app" } },
    ingress = { { from = { { ipBlock = { cidr = "203.0.113.0/24", except = { "203.0.113.128/25" } } } } } } }) }
  local app = p["tenant-a-app-1"]
  T.ok(netpol.allows(world, { ip = "203.0.113.7" }, app, 8080))
  T.ok(not netpol.allows(world, { ip = "203.0.113.200" }, app, 8080), "excepted")
  T.ok(not netpol.allows(world, { ip = "198.51.100.1" }, app, 8080), "outside the block")
  world.policies[1].spec.ingress[1].from[1].ipBlock = { cidr = "10.244.0.16/28" }
  T.ok(netpol.allows(world, p["tenant-b-app-1"], app, 8080), "a pod address inside the block")
  T.ok(not netpol.allows(world, p["pg-tenant-a-1"], app, 8080), "a pod address outside the block")
  T.ok(netpol.cidr_contains("0.0.0.0/0", "192.0.2.1"))
  T.raises(function() netpol.cidr_contains("10.0.0.0/33", "10.0.0.1") end, "not an IPv4 CIDR")
end)

T.test("ports: protocol defaults to TCP, named ports resolve on the destination, endPort makes a range", function()
  local world, p = cluster()
  world.policies = { policy("kube-system", "dns", { podSelector = {}, ingress = { { ports = { { protocol = "UDP", port = 53 } } } } }),
    policy("tenant-a", "db", { podSelector = { matchLabels = { ["cnpg.io/cluster"] = "pg-tenant-a" } },
      ingress = { { ports = { { port = "status" } } }, { ports = { { port = 5000, endPort = 5432 } } } } }) }
  local dns, db = p["coredns-1"], p["pg-tenant-a-1"]
  T.ok(netpol.allows(world, p["tenant-a-app-1"], dns, 53, "UDP"))
  T.ok(not netpol.allows(world, p["tenant-a-app-1"], dns, 53, "TCP"), "TCP 53 not listed")
  T.ok(netpol.allows(world, p["tenant-b-app-1"], db, 8000), "named port 'status' is 8000 on the instance")
  T.ok(netpol.allows(world, p["tenant-b-app-1"], db, 5432), "5432 within 5000-5432")
  T.ok(not netpol.allows(world, p["tenant-b-app-1"], db, 5433), "5433 past endPort")
  world.policies[2].spec.ingress = { { ports = { { port = "status" } } } }
  db.spec.containers[1].ports = { { name = "postgresql", containerPort = 5432 } }
  T.ok(not netpol.allows(world, p["tenant-b-app-1"], db, 8000), "a pod without the named port is not admitted")
end)

T.test("egress isolation applies to the source; both directions must allow", function()
  local world, p = cluster()
  world.policies = {
    policy("tenant-a", "deny-all", { podSelector = {}, policyTypes = { "Ingress", "Egress" } }),
    policy("tenant-a", "app-to-db", { podSelector = { matchLabels = { app = "tenant-a-app" } }, policyTypes = { "Egress" },
      egress = { { to = { { podSelector = { matchLabels = { ["cnpg.io/cluster"] = "pg-tenant-a" } } } },
        ports = { { port = 5432 } } } } }),
  }
  local ok, why = netpol.allows(world, p["tenant-a-app-1"], p["pg-tenant-a-1"], 5432)
  T.ok(not ok, "egress allowed but ingress to the database still denied")
  T.contains(why, "ingress to tenant-a/pg-tenant-a-1")
  world.policies[3] = policy("tenant-a", "db-from-app", { podSelector = { matchLabels = { ["cnpg.io/cluster"] = "pg-tenant-a" } },
    ingress = { { from = { { podSelector = { matchLabels = { app = "tenant-a-app" } } } } } } })
  ok, why = netpol.allows(world, p["tenant-a-app-1"], p["pg-tenant-a-1"], 5432)
  T.ok(ok)
  T.contains(why, "tenant-a/app-to-db egress rule 1")
  T.contains(why, "tenant-a/db-from-app ingress rule 1")
  T.ok(not netpol.allows(world, p["tenant-a-app-1"], p["tenant-b-app-1"], 8080), "egress elsewhere denied")
end)

-- The seed's policies, as written, for one tenant: its {{TENANT_NAME}} placeholders were filled by sed.
local function seed_policies(tenant)
  local text = assert(T.read_file("tests/data/seed/network-policies.yaml"))
  local docs = assert(yaml.decode_all((text:gsub("{{TENANT_NAME}}", tenant))))
  return docs
end

T.test("seed mistake 1: the operator is kept out of the instances (a 'name: cnpg-system' label no namespace carries)", function()
  local world, p = cluster(seed_policies("tenant-a"))
  local operator, db = p["cnpg-controller-manager-1"], p["pg-tenant-a-1"]
  local ok, why = netpol.allows(world, operator, db, 8000)
  T.ok(not ok, "operator to the instance status port")
  T.contains(why, "ingress to tenant-a/pg-tenant-a-1 isolated by")
  T.ok(not netpol.allows(world, operator, db, 5432), "operator to PostgreSQL")
  -- with the label the seed expected, the same policy would have admitted it: the selector is the mistake
  world.namespaces[3].metadata.labels = { name = "cnpg-system" }
  T.ok(netpol.allows(world, operator, db, 8000), "admitted once the namespace carries name=cnpg-system")
end)

T.test("seed mistake 2: the ops client reaches no tenant database", function()
  local world, p = cluster(seed_policies("tenant-a"))
  local ok, why = netpol.allows(world, p["psql-client-1"], p["pg-tenant-a-1"], 5432)
  T.ok(not ok)
  T.contains(why, "no rule admits it")
end)

T.test("seed mistake 3: an egress rule in a policy whose policyTypes lists only Ingress does nothing", function()
  local world, p = cluster(seed_policies("tenant-a"))
  world.namespaces[3].metadata.labels = { name = "cnpg-system" } -- rule out mistake 1
  local spaces
  for _, pol in ipairs(world.policies) do
    if pol.metadata.name == "tenant-a-allow-spaces-egress" then spaces = pol end
  end
  T.ok(spaces and #spaces.spec.egress == 1, "the seed's policy has its egress rule")
  local types = netpol.policy_types(spaces)
  T.ok(types.Ingress and not types.Egress)
  local app, operator = p["tenant-a-app-1"], p["cnpg-controller-manager-1"]
  local ok, why = netpol.allows(world, app, operator, 9443)
  T.ok(not ok, "the app cannot reach the operator despite the rule")
  T.contains(why, "egress from tenant-a/tenant-a-app-1 isolated by")
  spaces.spec.policyTypes = { "Ingress", "Egress" }
  T.ok(netpol.allows(world, app, operator, 9443), "with Egress listed the same rule admits it")
end)

T.test("the seed's policies still keep tenants apart, and the matrix names every failing cell", function()
  local world = cluster()
  for _, t in ipairs { "tenant-a", "tenant-b" } do
    for _, pol in ipairs(seed_policies(t)) do world.policies[#world.policies + 1] = pol end
  end
  local cells = netpol.matrix(world)
  T.ok(#cells > 50, "a cell per (source, destination, port)")
  local tenant_of = { ["tenant-a"] = "a", ["tenant-b"] = "b" }
  local function expect(cell)
    local s, d = tenant_of[cell.src.metadata.namespace], tenant_of[cell.dst.metadata.namespace]
    if s and d and s ~= d then return false end -- nothing across tenants
    if cell.src.metadata.namespace == "cnpg-system" and d and cell.port == 8000 then return true end
    if cell.src.metadata.namespace == "ops" and d and cell.port == 5432 then return true end
    return nil
  end
  local bad = netpol.violations(cells, expect)
  local across, operator, ops = 0, 0, 0
  for _, v in ipairs(bad) do
    if v.expected == false then across = across + 1 end
    if v.cell.src.metadata.namespace == "cnpg-system" then operator = operator + 1 end
    if v.cell.src.metadata.namespace == "ops" then ops = ops + 1 end
  end
  T.eq(across, 0, "cross-tenant flows allowed")
  T.eq(operator, 3, "operator to each instance's status port: the seed's defect") -- pg-tenant-a-1, -2, pg-tenant-b-1
  T.eq(ops, 3, "ops to each instance's PostgreSQL: the seed's defect")
  T.contains(bad[1].message, "expected allowed: ")
  T.contains(bad[1].message, "denied (ingress to ")
end)

T.run_all()
