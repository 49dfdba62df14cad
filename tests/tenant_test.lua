-- alaris.tenant: the names and fields of a tenant's objects, the objects against the vendored OpenAPI schemas and
-- CRDs, name validation, and, through alaris.netpol, that two tenants' policies give exactly the intended flows.
local T = require "testing"
local alaris = require "alaris"
local json = require "alaris.json"
local yaml = require "alaris.yaml"
local netpol = require "alaris.netpol"
local tenant = require "alaris.tenant"

local STORAGE = { ip = "198.51.100.10", port = 443 }
local API_SERVER = { ip = "198.51.100.1", port = 6443 }
local OPTS = {
  bucket = "alaris-backups", endpoint = "https://nyc3.digitaloceanspaces.com", object_storage = STORAGE,
  api_server = API_SERVER, spaces = { access_key_id = "DO00KEYID", secret_access_key = "spaces-secret-4f1a9c" },
  superuser_password = "su-password-77c1e0", app_password = "app-password-0d93ab",
}

local function by_kind_name(objects)
  local found = {}
  for _, o in ipairs(objects) do found[o.kind .. "/" .. o.metadata.name] = o end
  return found
end

local function env_of(container)
  local env = {}
  for _, e in ipairs(container.env) do env[e.name] = e.value or e.valueFrom end
  return env
end

-- ---- names and fields ----

T.test("names follow the seed's table", function()
  local objects = by_kind_name(tenant.manifests("tenant-a", OPTS))
  for _, key in ipairs { "Namespace/tenant-a", "Secret/spaces-credentials", "Secret/pg-tenant-a-superuser-secret",
    "Secret/pg-tenant-a-app-secret", "ObjectStore/pg-tenant-a-store", "Cluster/pg-tenant-a",
    "ScheduledBackup/pg-tenant-a-scheduled-backup", "Deployment/tenant-a-app", "Service/tenant-a-public",
    "Service/tenant-a-internal" } do
    T.ok(objects[key], "no " .. key)
  end
  T.eq(objects["Namespace/tenant-a"].metadata.labels, { tenant = "tenant-a" })
  for key, o in pairs(objects) do
    if o.kind ~= "Namespace" then T.eq(o.metadata.namespace, "tenant-a", key .. " namespace") end
  end
end)

T.test("secrets: Spaces keys, basic-auth superuser and app user, values registered as secrets", function()
  local o = by_kind_name(tenant.manifests("tenant-a", OPTS))
  T.eq(o["Secret/spaces-credentials"].stringData,
    { ACCESS_KEY_ID = "DO00KEYID", SECRET_ACCESS_KEY = "spaces-secret-4f1a9c" })
  local app = o["Secret/pg-tenant-a-app-secret"]
  T.eq(app.type, "kubernetes.io/basic-auth")
  T.eq(app.stringData, { username = "app", password = "app-password-0d93ab" })
  T.eq(o["Secret/pg-tenant-a-superuser-secret"].type, "kubernetes.io/basic-auth")
  T.ok(alaris.is_secret("spaces-secret-4f1a9c") and alaris.is_secret("app-password-0d93ab")
    and alaris.is_secret("su-password-77c1e0"), "every secret value is masked")
  T.ok(not alaris.is_secret("app") and not alaris.is_secret("DO00KEYID"), "user names and key ids are not")
  T.eq(alaris.mask(json.encode(app)):find("app-password-0d93ab", 1, true), nil)
end)

T.test("ObjectStore: destination under backups/T/pg-T, endpoint, credentials, gzip WAL, 7d retention", function()
  local store = tenant.object_store("tenant-a", OPTS)
  local c = store.spec.configuration
  T.eq(c.destinationPath, "s3://alaris-backups/backups/tenant-a/pg-tenant-a")
  T.eq(c.endpointURL, "https://nyc3.digitaloceanspaces.com")
  T.eq(c.s3Credentials.accessKeyId, { name = "spaces-credentials", key = "ACCESS_KEY_ID" })
  T.eq(c.s3Credentials.secretAccessKey, { name = "spaces-credentials", key = "SECRET_ACCESS_KEY" })
  T.eq(c.wal.compression, "gzip")
  T.eq(store.spec.retentionPolicy, "7d")
  T.raises(function() tenant.object_store("tenant-a", { endpoint = "https://x" }) end, "bucket is required")
end)

T.test("Cluster: instances var, PG 15 image var, initdb app/app from the app secret, barman-cloud archiver", function()
  local c = tenant.cluster("tenant-a")
  T.eq(c.spec.instances, 2)
  T.contains(c.spec.imageName, "postgresql:15")
  T.eq(c.spec.bootstrap, { initdb = { database = "app", owner = "app", secret = { name = "pg-tenant-a-app-secret" } } })
  T.eq(c.spec.plugins, { { name = "barman-cloud.cloudnative-pg.io", isWALArchiver = true,
    parameters = { barmanObjectName = "pg-tenant-a-store", serverName = "pg-tenant-a" } } })
  T.eq(c.spec.superuserSecret, { name = "pg-tenant-a-superuser-secret" })
  T.eq(c.spec.storage.size, "1Gi")
  c = tenant.cluster("tenant-a", { instances = 3, image = "registry.example/postgresql:15.8", storage_size = "5Gi" })
  T.eq(c.spec.instances, 3)
  T.eq(c.spec.imageName, "registry.example/postgresql:15.8")
  T.eq(c.spec.storage.size, "5Gi")
  T.raises(function() tenant.cluster("tenant-a", { instances = 0 }) end, "instances must be a positive integer")
end)

T.test("ScheduledBackup every 12 h (6-field cron), method plugin; Backup on demand", function()
  local s = tenant.scheduled_backup("tenant-a")
  T.eq(s.spec.schedule, "0 0 */12 * * *")
  T.eq(s.spec.method, "plugin")
  T.eq(s.spec.pluginConfiguration, { name = "barman-cloud.cloudnative-pg.io" })
  T.eq(s.spec.cluster, { name = "pg-tenant-a" })
  local b = tenant.backup("tenant-a", { name = "before-drill" })
  T.eq(b.metadata.name, "before-drill")
  T.eq(b.spec, { method = "plugin", cluster = { name = "pg-tenant-a" },
    pluginConfiguration = { name = "barman-cloud.cloudnative-pg.io" } })
  T.ok(tenant.backup("tenant-a").metadata.name:match("^pg%-tenant%-a%-%d%d%d%d%d%d%d%d%d%d%d%d%d%d$"), "default name")
end)

T.test("Deployment: env from the seed, DB user and password from the app secret, probes, two named ports", function()
  local d = tenant.deployment("tenant-a", { app_image = "registry.example/tenant-app:3" })
  local c = d.spec.template.spec.containers[1]
  T.eq(d.metadata.name, "tenant-a-app")
  T.eq(d.spec.selector.matchLabels, { app = "tenant-a-app" })
  T.eq(c.image, "registry.example/tenant-app:3")
  local env = env_of(c)
  T.eq(env.TENANT_NAME, "tenant-a")
  T.eq(env.DB_HOST, "pg-tenant-a-rw")
  T.eq(env.DB_PORT, "5432")
  T.eq(env.DB_NAME, "app")
  T.eq(env.DB_USER, { secretKeyRef = { name = "pg-tenant-a-app-secret", key = "username" } })
  T.eq(env.DB_PASSWORD, { secretKeyRef = { name = "pg-tenant-a-app-secret", key = "password" } })
  T.eq(c.readinessProbe.httpGet, { path = "/health", port = 8080 })
  T.eq(c.livenessProbe.httpGet, { path = "/health", port = 8080 })
  T.eq(c.ports, { { name = "public", containerPort = 8080, protocol = "TCP" },
    { name = "internal", containerPort = 9090, protocol = "TCP" } })
end)

T.test("Services: public LoadBalancer 80 -> 8080, internal ClusterIP 9090, both selecting the app", function()
  local pub, int = tenant.public_service("tenant-a"), tenant.internal_service("tenant-a")
  T.eq(pub.spec.type, "LoadBalancer")
  T.eq({ pub.spec.ports[1].port, pub.spec.ports[1].targetPort }, { 80, 8080 })
  T.eq(int.spec.type, "ClusterIP")
  T.eq({ int.spec.ports[1].port, int.spec.ports[1].targetPort }, { 9090, 9090 })
  T.eq(pub.spec.selector, { app = "tenant-a-app" })
  T.eq(int.spec.selector, pub.spec.selector)
end)

T.test("recovery Cluster: recovery bootstrap only, origin read through the plugin, archives under its own name", function()
  local r = tenant.recovery_cluster("tenant-a", { name = "pg-tenant-a-pitr", target_time = "2026-12-03T15:00:00+00:00" })
  T.eq(r.metadata.name, "pg-tenant-a-pitr")
  T.eq(r.spec.bootstrap.initdb, nil)
  T.eq(r.spec.bootstrap.recovery.source, "origin")
  T.eq(r.spec.bootstrap.recovery.recoveryTarget, { targetTime = "2026-12-03T15:00:00+00:00" })
  T.eq(r.spec.externalClusters, { { name = "origin", plugin = { name = "barman-cloud.cloudnative-pg.io",
    parameters = { barmanObjectName = "pg-tenant-a-store", serverName = "pg-tenant-a" } } } })
  T.eq(r.spec.plugins[1].parameters.serverName, "pg-tenant-a-pitr")
  T.eq(r.spec.postgresql, nil)
  T.eq(tenant.recovery_cluster("tenant-a", { name = "pg-tenant-a-dr" }).spec.bootstrap.recovery.recoveryTarget, nil)
  T.raises(function() tenant.recovery_cluster("tenant-a", { name = "pg-tenant-a" }) end, "other than pg%-tenant%-a")
end)

-- ---- names ----

T.test("tenant names: DNS labels of at most 40 characters, never a system namespace, one-line reasons", function()
  T.ok(tenant.validate_name("tenant-a"))
  T.ok(tenant.validate_name(string.rep("a", 40)))
  local cases = {
    [string.rep("a", 41)] = "41 characters long; at most 40",
    ["Tenant-A"] = "not a DNS label", ["-a"] = "not a DNS label", ["a-"] = "not a DNS label",
    ["a_b"] = "not a DNS label", ["a.b"] = "not a DNS label", [""] = "needs a name",
    ["kube-system"] = "system namespace", ["default"] = "system namespace", ["cnpg-system"] = "system namespace",
    ["cert-manager"] = "system namespace", ["ops"] = "system namespace", ["kube-public"] = "system namespace",
    ["kube-node-lease"] = "system namespace", ["kube-anything"] = "kube- prefix",
  }
  for name, reason in pairs(cases) do
    local ok, err = tenant.validate_name(name)
    T.eq(ok, nil, name)
    T.eq(err.code, "invalid", name)
    T.contains(err.message, reason, name)
    T.ok(not err.message:find("\n"), "one line")
  end
  local msg = T.raises(function() tenant.cluster("kube-system") end)
  T.contains(msg, 'tenant name "kube-system" is a system namespace')
end)

T.test("a builder given a bad tenant name is bad input: alaris-run exits 2 with one line", function()
  local out, err, code = T.run_script('require("alaris.tenant").namespace("Bad_Name")')
  T.eq(code, 2, "exit code (" .. out .. err .. ")")
  T.contains(err, 'tenant name "Bad_Name" is not a DNS label')
end)

-- ---- schemas ----

local function load_openapi(file)
  return assert(json.decode(assert(T.read_file("lab/openapi/" .. file))))
end

local function load_crd(file)
  local crd = assert(yaml.decode_all(assert(T.read_file("lab/crds/" .. file))))
  for _, doc in ipairs(crd) do
    if type(doc) == "table" and doc.kind == "CustomResourceDefinition" then
      for _, v in ipairs(doc.spec.versions) do
        if v.name == "v1" then return v.schema.openAPIV3Schema end
      end
    end
  end
  error("no v1 schema in " .. file)
end

local function is_array(v)
  return type(v) == "table" and (getmetatable(v) == getmetatable(json.array {}) or #v > 0 or next(v) == nil)
end

local function type_ok(schema, v)
  local t = schema.type
  if schema.format == "int-or-string" or schema["x-kubernetes-int-or-string"] then
    return type(v) == "string" or math.type(v) == "integer"
  end
  if t == nil then return true end
  if t == "integer" then return math.type(v) == "integer" end
  if t == "number" then return type(v) == "number" end
  if t == "string" then return type(v) == "string" end
  if t == "boolean" then return type(v) == "boolean" end
  if t == "array" then return is_array(v) end
  if t == "object" then return type(v) == "table" and (next(v) == nil or #v == 0) end
  return false
end

-- Structural validation as the API server does it before any CEL rule: types, required fields, enums, and no field
-- the schema does not know (unless it keeps unknown fields). Appends "path: problem" lines to `problems`.
local function validate(schema, value, path, components, problems)
  local ref = schema["$ref"]
  if ref then schema = components[ref:match("([^/]+)$")] end
  for _, part in ipairs(schema.allOf or {}) do validate(part, value, path, components, problems) end
  if not type_ok(schema, value) then
    problems[#problems + 1] = string.format("%s: expected %s, got %s", path, tostring(schema.type), type(value))
    return
  end
  if schema.enum then
    local found = false
    for _, e in ipairs(schema.enum) do found = found or e == value end
    if not found then problems[#problems + 1] = string.format("%s: %s is not one of the allowed values", path, tostring(value)) end
  end
  if type(value) ~= "table" then return end
  if schema.items then
    for i, item in ipairs(value) do validate(schema.items, item, path .. "[" .. i .. "]", components, problems) end
  end
  for _, key in ipairs(schema.required or {}) do
    if value[key] == nil then problems[#problems + 1] = path .. ": missing required field " .. key end
  end
  if schema.properties then
    for key, v in pairs(value) do
      local sub = schema.properties[key]
      if sub then
        validate(sub, v, path .. "." .. key, components, problems)
      elseif not schema["x-kubernetes-preserve-unknown-fields"] and not schema.additionalProperties then
        problems[#problems + 1] = path .. ": unknown field " .. tostring(key)
      end
    end
  elseif type(schema.additionalProperties) == "table" then
    for key, v in pairs(value) do validate(schema.additionalProperties, v, path .. "." .. key, components, problems) end
  end
end

local OPENAPI = {
  v1 = "api__v1_openapi.json", ["apps/v1"] = "apis__apps__v1_openapi.json",
  ["networking.k8s.io/v1"] = "apis__networking.k8s.io__v1_openapi.json",
}
local CRDS = {
  ObjectStore = "barmancloud.cnpg.io_objectstores.yaml", Cluster = "postgresql.cnpg.io_clusters.yaml",
  ScheduledBackup = "postgresql.cnpg.io_scheduledbackups.yaml", Backup = "postgresql.cnpg.io_backups.yaml",
}

local loaded = {}
local function schema_for(obj)
  if CRDS[obj.kind] then
    loaded[obj.kind] = loaded[obj.kind] or load_crd(CRDS[obj.kind])
    return loaded[obj.kind], {}
  end
  local file = assert(OPENAPI[obj.apiVersion], "no vendored schema for " .. obj.apiVersion)
  loaded[file] = loaded[file] or load_openapi(file).components.schemas
  local components = loaded[file]
  for _, s in pairs(components) do
    for _, gvk in ipairs(s["x-kubernetes-group-version-kind"] or {}) do
      local api = gvk.group == "" and gvk.version or (gvk.group .. "/" .. gvk.version)
      if api == obj.apiVersion and gvk.kind == obj.kind then return s, components end
    end
  end
  error("no schema for " .. obj.kind)
end

local function schema_problems(obj)
  local schema, components = schema_for(obj)
  local problems = {}
  validate(schema, obj, obj.kind .. "/" .. obj.metadata.name, components, problems)
  return problems
end

T.test("the validator itself: it reports a missing required field, an unknown field and a wrong type", function()
  local bad = tenant.cluster("tenant-a")
  bad.spec.instances = "two"
  bad.spec.postgresql = { plugins = bad.spec.plugins }
  bad.spec.plugins[1].name = nil
  local problems = table.concat(schema_problems(bad), "\n")
  T.contains(problems, "Cluster/pg-tenant-a.spec.instances: expected integer, got string")
  T.contains(problems, "Cluster/pg-tenant-a.spec.postgresql: unknown field plugins")
  T.contains(problems, "Cluster/pg-tenant-a.spec.plugins[1]: missing required field name")
  local svc = tenant.public_service("tenant-a")
  svc.spec.ports[1].port = nil
  T.contains(table.concat(schema_problems(svc), "\n"), "missing required field port")
end)

T.test("every object built validates against the vendored OpenAPI schemas and CRDs", function()
  local objects = tenant.manifests("tenant-a", OPTS)
  objects[#objects + 1] = tenant.recovery_cluster("tenant-a", { name = "pg-tenant-a-pitr", target_time = "2026-12-03T15:00:00Z" })
  objects[#objects + 1] = tenant.backup("tenant-a", { name = "manual" })
  T.ok(#objects >= 17, "all objects")
  local problems = {}
  for _, o in ipairs(objects) do
    for _, p in ipairs(schema_problems(o)) do problems[#problems + 1] = p end
  end
  T.eq(problems, {})
end)

T.test("a Cluster has exactly one bootstrap method and plugins at spec level, never under postgresql", function()
  local methods = { "initdb", "recovery", "pg_basebackup" }
  for _, c in ipairs { tenant.cluster("tenant-a"), tenant.recovery_cluster("tenant-a", { name = "pg-tenant-a-dr" }) } do
    local n = 0
    for _, m in ipairs(methods) do if c.spec.bootstrap[m] then n = n + 1 end end
    T.eq(n, 1, c.metadata.name .. " bootstrap methods")
    T.eq(#c.spec.plugins, 1)
    T.eq(c.spec.postgresql, nil)
  end
end)

-- ---- the isolation proof ----

local function pod(namespace, name, labels, ip, ports)
  return { kind = "Pod", metadata = { namespace = namespace, name = name, labels = labels },
    spec = { containers = { { name = "main", ports = ports or {} } } }, status = { podIP = ip } }
end

local function port(n, protocol) return { containerPort = n, protocol = protocol or "TCP" } end

-- Pods as the tenant's objects make them: the app from the Deployment's template, instances labelled by CNPG.
local function tenant_pods(t, subnet)
  local d = tenant.deployment(t)
  local cluster = tenant.cluster(t)
  local pods = { pod(t, t .. "-app-1", d.spec.template.metadata.labels, subnet .. ".10",
    d.spec.template.spec.containers[1].ports), pod(t, "probe", { run = "probe" }, subnet .. ".9",
    { port(7000) }) }
  for i = 1, cluster.spec.instances do
    pods[#pods + 1] = pod(t, cluster.metadata.name .. "-" .. i, { ["cnpg.io/cluster"] = cluster.metadata.name,
      ["cnpg.io/instanceName"] = cluster.metadata.name .. "-" .. i }, subnet .. "." .. (10 + i), { port(5432), port(8000) })
  end
  return pods
end

local function two_tenants(drop)
  local world = { namespaces = {}, pods = {}, policies = {} }
  for i, t in ipairs { "tenant-a", "tenant-b" } do
    table.insert(world.namespaces, tenant.namespace(t))
    for _, p in ipairs(tenant_pods(t, "10.244." .. i)) do table.insert(world.pods, p) end
    for _, p in ipairs(tenant.network_policies(t, OPTS)) do
      if p.metadata.name ~= drop then table.insert(world.policies, p) end
    end
  end
  for _, n in ipairs { "cnpg-system", "ops", "kube-system" } do
    table.insert(world.namespaces, { kind = "Namespace", metadata = { name = n } })
  end
  table.insert(world.pods, pod("cnpg-system", "cnpg-controller-manager", { ["app.kubernetes.io/name"] = "cloudnative-pg" },
    "10.244.9.1", { port(9443) }))
  table.insert(world.pods, pod("ops", "psql-client", { app = "psql-client" }, "10.244.9.2"))
  table.insert(world.pods, pod("ops", "other", { app = "other" }, "10.244.9.3"))
  table.insert(world.pods, pod("kube-system", "coredns", { ["k8s-app"] = "kube-dns" }, "10.244.9.4",
    { port(53, "UDP"), port(53) }))
  return world
end

local INTERNET = { ip = "203.0.113.7" }

local function ns_of(e) return e.metadata and e.metadata.namespace end
local function tenant_of(e)
  local ns = ns_of(e)
  if ns == "tenant-a" or ns == "tenant-b" then return ns end
end
local function is_db(e) return e.metadata and e.metadata.labels["cnpg.io/cluster"] ~= nil end
local function is_app(e) return e.metadata and e.metadata.labels.app ~= nil and tenant_of(e) ~= nil end
local function named(e, ns, label, value) return ns_of(e) == ns and e.metadata.labels[label] == value end

-- The intended matrix, stated from the requirements, independently of how the policies are written.
local function intended(cell)
  local src, dst, p = cell.src, cell.dst, cell.port
  local st, dt = tenant_of(src), tenant_of(dst)
  if named(dst, "kube-system", "k8s-app", "kube-dns") then return p == 53 end
  if not dt then return st == nil end -- non-tenant pods have no policies; tenant pods may not leave their namespace
  if is_app(dst) then
    local inside_client = st == dt and not is_db(src)
    if p == 8080 then return st == nil or inside_client end
    if p == 9090 then return inside_client end
  end
  if not is_db(dst) then return false end -- other pods of a tenant (the probe) admit nothing
  local operator = named(src, "cnpg-system", "app.kubernetes.io/name", "cloudnative-pg")
  if p == 8000 then return operator end
  if p == 5432 then
    return operator or named(src, "ops", "app", "psql-client") or (st == dt and (is_app(src) or is_db(src)))
  end
  error("no intention stated for " .. netpol.describe_cell(cell))
end

local function matrix(world)
  return netpol.matrix(world, { sources = { INTERNET } })
end

T.test("two tenants' policies give exactly the intended matrix", function()
  local cells = matrix(two_tenants())
  T.ok(#cells > 200, "a real matrix: " .. #cells .. " cells")
  local lines = {}
  for _, v in ipairs(netpol.violations(cells, intended)) do lines[#lines + 1] = v.message end
  T.eq(table.concat(lines, "\n"), "")
end)

T.test("no flow between tenants, in either direction, on any port", function()
  local across = 0
  for _, cell in ipairs(matrix(two_tenants())) do
    local st, dt = tenant_of(cell.src), tenant_of(cell.dst)
    if st and dt and st ~= dt then
      across = across + 1
      T.ok(not cell.allowed, netpol.describe_cell(cell))
    end
  end
  T.ok(across > 50, "cross-tenant cells: " .. across)
end)

T.test("the named flows: operator to 5432 and 8000, app to its DB, ops client to the DBs, 9090 inside only", function()
  local world = two_tenants()
  local p = {}
  for _, x in ipairs(world.pods) do p[x.metadata.name] = x end
  local function allowed(src, dst, n) return (netpol.allows(world, src, dst, n)) end
  for _, t in ipairs { "tenant-a", "tenant-b" } do
    local db = p["pg-" .. t .. "-1"]
    T.ok(allowed(p["cnpg-controller-manager"], db, 5432) and allowed(p["cnpg-controller-manager"], db, 8000), "operator")
    T.ok(allowed(p[t .. "-app-1"], db, 5432), "app to its DB")
    T.ok(allowed(p["pg-" .. t .. "-2"], db, 5432), "instances to each other")
    T.ok(allowed(p["psql-client"], db, 5432), "ops client")
    T.ok(not allowed(p.other, db, 5432), "another ops pod")
    T.ok(not allowed(p["psql-client"], db, 8000), "ops client on the status port")
    T.ok(allowed(p.probe, p[t .. "-app-1"], 9090) or ns_of(p.probe) ~= t, "probe inside")
    T.ok(not allowed(INTERNET, p[t .. "-app-1"], 9090), "9090 from outside")
    T.ok(allowed(INTERNET, p[t .. "-app-1"], 8080), "8080 from outside")
    T.ok(allowed(p[t .. "-app-1"], p.coredns, 53, "UDP") and allowed(db, p.coredns, 53, "TCP"), "DNS")
  end
end)

T.test("instances reach object storage and the API server, at that address and port only; the app does not", function()
  local world = two_tenants()
  local p = {}
  for _, x in ipairs(world.pods) do p[x.metadata.name] = x end
  local db, app = p["pg-tenant-a-1"], p["tenant-a-app-1"]
  T.ok(netpol.allows(world, db, { ip = STORAGE.ip }, STORAGE.port), "storage")
  T.ok(netpol.allows(world, db, { ip = API_SERVER.ip }, API_SERVER.port), "API server")
  T.ok(not netpol.allows(world, db, { ip = STORAGE.ip }, 80), "storage, another port")
  T.ok(not netpol.allows(world, db, { ip = "198.51.100.11" }, 443), "another address")
  T.ok(not netpol.allows(world, app, { ip = STORAGE.ip }, STORAGE.port), "the app to storage")
  T.ok(not netpol.allows(world, db, INTERNET, 443), "the internet")
end)

T.test("the proof is not vacuous: without any one policy, the matrix departs from the intention", function()
  for _, policy in ipairs(tenant.network_policies("tenant-a", OPTS)) do
    local name = policy.metadata.name
    T.ok(#netpol.violations(matrix(two_tenants(name)), intended) > 0, "dropping " .. name .. " changed nothing")
  end
end)

T.test("policies: namespaces matched by kubernetes.io/metadata.name, storage and API given as ip/port", function()
  local text = json.encode(tenant.network_policies("tenant-a", OPTS))
  T.contains(text, '"kubernetes.io/metadata.name":"cnpg-system"')
  T.contains(text, '"kubernetes.io/metadata.name":"ops"')
  T.contains(text, '"kubernetes.io/metadata.name":"kube-system"')
  T.not_contains(text, '"name":"cnpg-system"')
  T.contains(text, '"cidr":"198.51.100.10/32"')
  T.raises(function() tenant.network_policies("tenant-a", { api_server = API_SERVER }) end,
    "object_storage must be {ip = ..., port = ...}")
  T.eq(tenant.endpoint_port("https://nyc3.digitaloceanspaces.com"), 443)
  T.eq(tenant.endpoint_port("http://127.0.0.1:9000/"), 9000)
  T.eq(tenant.endpoint_port("http://s3.local"), 80)
end)

T.run_all()
