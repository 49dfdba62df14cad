-- alaris.grade without a cluster: the static isolation proof on fixture objects (tenant.network_policies for two
-- tenants passing; one tenant's policies removed, the seed's policies and a missing operator each caught, naming the
-- cell), the probe script run by sh and curl against local ports, the command line's bad input (exit 2, one line),
-- and a cluster that does not answer making every check an ERROR in the table, the JSON, JUnit and annotations.
local T = require "testing"
local grade = require "alaris.grade"
local isolation = require "alaris.grade.isolation"
local json = require "alaris.json"
local probe = require "alaris.grade.probe"
local tenant = require "alaris.tenant"
local yaml = require "alaris.yaml"

local function ns(name, labels)
  return { kind = "Namespace", metadata = { name = name, labels = labels or {} } }
end

local function pod(namespace, name, labels, ip, ports)
  local declared = {}
  for _, p in ipairs(ports or {}) do declared[#declared + 1] = { name = p[1], containerPort = p[2] } end
  return { kind = "Pod", metadata = { namespace = namespace, name = name, labels = labels },
    spec = { containers = { { name = "main", ports = declared } } }, status = { phase = "Running", podIP = ip } }
end

local ADDRESSES = { object_storage = { ip = "192.0.2.2", port = 443 }, api_server = { ip = "192.0.2.1", port = 6443 } }

-- Two onboarded tenants (their policies from alaris.tenant), the operator, the ops client and DNS.
local function world(opts)
  opts = opts or {}
  local w = {
    namespaces = { ns("tenant-a", { tenant = "tenant-a" }), ns("tenant-b", { tenant = "tenant-b" }), ns("cnpg-system"),
      ns("ops"), ns("kube-system"), ns("default") },
    pods = {
      pod("tenant-a", "tenant-a-app-1", { app = "tenant-a-app" }, "10.244.1.10", { { "public", 8080 }, { "internal", 9090 } }),
      pod("tenant-a", "pg-tenant-a-1", { ["cnpg.io/cluster"] = "pg-tenant-a" }, "10.244.1.11",
        { { "postgresql", 5432 }, { "metrics", 9187 }, { "status", 8000 } }),
      pod("tenant-b", "tenant-b-app-1", { app = "tenant-b-app" }, "10.244.1.20", { { "public", 8080 }, { "internal", 9090 } }),
      pod("tenant-b", "pg-tenant-b-1", { ["cnpg.io/cluster"] = "pg-tenant-b" }, "10.244.1.21",
        { { "postgresql", 5432 }, { "metrics", 9187 }, { "status", 8000 } }),
      pod("ops", "psql-client-1", { app = "psql-client" }, "10.244.1.40"),
      pod("kube-system", "coredns-lab", { ["k8s-app"] = "kube-dns" }, "10.244.1.50", { { "dns-tcp", 53 } }),
      pod("default", "some-job", { app = "job" }, "10.244.1.60"),
    },
    policies = {},
  }
  if not opts.no_operator then
    w.pods[#w.pods + 1] = pod("cnpg-system", "cnpg-controller-manager-1",
      { ["app.kubernetes.io/name"] = "cloudnative-pg" }, "10.244.1.30", { { "webhook-server", 9443 } })
  end
  for _, t in ipairs { "tenant-a", "tenant-b" } do
    if t ~= opts.without_policies then
      for _, p in ipairs(tenant.network_policies(t, ADDRESSES)) do w.policies[#w.policies + 1] = p end
    end
  end
  return w
end

T.test("the isolation proof passes on two tenants with the policies alaris makes", function()
  local graded = { "tenant-a", "tenant-b" }
  for _, t in ipairs(graded) do
    local verdict, lines = isolation.prove(world(), t, graded)
    T.eq(verdict, "pass", t .. ": " .. table.concat(lines, "\n"))
    T.contains(lines[1], "flows involving " .. t)
  end
end)

T.test("a Cluster restored beside the tenant's (a drill's) is not taken for its database", function()
  local w = world()
  w.pods[#w.pods + 1] = pod("tenant-a", "pg-tenant-a-dr-1", { ["cnpg.io/cluster"] = "pg-tenant-a-dr" }, "10.244.1.12",
    { { "postgresql", 5432 }, { "status", 8000 } })
  local verdict, lines = isolation.prove(w, "tenant-a", { "tenant-a", "tenant-b" })
  T.eq(verdict, "pass", table.concat(lines, "\n"))
  T.eq((isolation.prove(w, "tenant-b", { "tenant-a", "tenant-b" })), "pass", "nor does it open anything to tenant-b")
end)

T.test("a tenant whose policies are removed fails the proof, naming a cell that opens into it", function()
  local verdict, lines = isolation.prove(world { without_policies = "tenant-b" }, "tenant-b", { "tenant-a", "tenant-b" })
  T.eq(verdict, "fail")
  T.contains(lines[1], "expected denied")
  local text = table.concat(lines, "\n")
  T.contains(text, "203.0.113.7 -> tenant-b/tenant-b-app-1:9090/TCP allowed", "the internal port open to the outside")
  T.contains(text, "ops/psql-client-1 -> tenant-b/tenant-b-app-1:9090/TCP allowed")
  T.contains(text, "default/some-job -> tenant-b/pg-tenant-b-1:5432/TCP allowed", "the database open to any pod")
  -- tenant-a's proof names the flows tenant-b's pods, no longer held back, open into its public port
  local a_verdict, a_lines = isolation.prove(world { without_policies = "tenant-b" }, "tenant-a", { "tenant-a", "tenant-b" })
  T.eq(a_verdict, "fail")
  T.contains(a_lines[1], "tenant-b/tenant-b-app-1 -> tenant-a/tenant-a-app-1:8080/TCP allowed")
end)

T.test("a flow between tenants is named, whichever policy lets it through", function()
  local w = world()
  local open = { apiVersion = "networking.k8s.io/v1", kind = "NetworkPolicy",
    metadata = { name = "oops", namespace = "tenant-a" }, spec = { podSelector = {}, policyTypes = { "Ingress", "Egress" },
      ingress = { {} }, egress = { {} } } }
  w.policies[#w.policies + 1] = open
  for _, p in ipairs(tenant.network_policies("tenant-b", ADDRESSES)) do
    if p.metadata.name == "db-egress" then p.spec.egress[#p.spec.egress + 1] = {} end
  end
  local verdict, lines = isolation.prove(w, "tenant-a", { "tenant-a", "tenant-b" })
  T.eq(verdict, "fail")
  T.contains(table.concat(lines, "\n"), "tenant-a/tenant-a-app-1 -> tenant-b/")
end)

T.test("the seed's policies fail: the operator kept from the status port, the ops client from the database", function()
  local docs = assert(yaml.decode_all((T.read_file("tests/data/seed/network-policies.yaml"):gsub("{{TENANT_NAME}}",
    "tenant-a"))))
  local w = world()
  w.policies = {}
  for _, p in ipairs(docs) do
    if type(p) == "table" and p.kind then w.policies[#w.policies + 1] = p end
  end
  for _, p in ipairs(tenant.network_policies("tenant-b", ADDRESSES)) do w.policies[#w.policies + 1] = p end
  local verdict, lines = isolation.prove(w, "tenant-a", { "tenant-a", "tenant-b" })
  T.eq(verdict, "fail")
  local text = table.concat(lines, "\n")
  T.contains(text, "expected allowed: cnpg-system/cnpg-controller-manager-1 -> tenant-a/pg-tenant-a-1:8000/TCP denied")
  T.contains(text, "expected allowed: ops/psql-client-1 -> tenant-a/pg-tenant-a-1:5432/TCP denied")
end)

T.test("without the operator, the ops client or the tenant the proof is an error, not a pass", function()
  local verdict, lines = isolation.prove(world { no_operator = true }, "tenant-a", { "tenant-a" })
  T.eq(verdict, "error")
  T.contains(lines[1], "the CloudNativePG operator")
  verdict, lines = isolation.prove(world(), "tenant-c", { "tenant-a", "tenant-c" })
  T.eq(verdict, "error")
  T.contains(lines[1], "no namespace tenant-c")
  local w = world()
  table.remove(w.pods, 5) -- psql-client
  T.eq((isolation.prove(w, "tenant-a", { "tenant-a" })), "error")
end)

T.test("pods that are not running, or have no address, carry no flow", function()
  local pods = { pod("a", "up", {}, "10.0.0.1"), pod("a", "pending", {}, nil), pod("a", "done", {}, "10.0.0.3") }
  pods[3].status.phase = "Succeeded"
  local live = isolation.live_pods(pods)
  T.eq(#live, 1)
  T.eq(live[1].metadata.name, "up")
end)

-- A local HTTP server (busybox httpd) serving /internal, for the probe script run by sh with curl.
local function httpd()
  local dir = T.tmpdir()
  T.write_file(dir .. "/internal", '{"tenant":"t","internal":true}')
  local port = 20000 + math.random(0, 20000)
  local out = T.run(string.format("busybox httpd -f -p 127.0.0.1:%d -h %s >/dev/null 2>&1 & echo $!", port, dir))
  local pid = out:match("%d+")
  os.execute("sleep 0.3")
  return port, function() os.execute("kill " .. pid) end
end

T.test("the probe script says which ports open and what HTTP answers, every target at once", function()
  local port, stop = httpd()
  local targets = {
    { id = "control", host = "127.0.0.1", port = port, first = true, attempts = 3 },
    { id = "closed", host = "127.0.0.1", port = 1 },
    { id = "page", kind = "http", host = "127.0.0.1", port = port, path = "/internal" },
    { id = "missing", kind = "http", host = "127.0.0.1", port = port, path = "/nope" },
    { id = "nobody", kind = "http", host = "127.0.0.1", port = 1, path = "/", attempts = 2 },
  }
  local file = T.tmpdir() .. "/probe.sh"
  T.write_file(file, probe.script(targets))
  local started = os.time()
  local log = T.run("sh " .. file)
  stop()
  T.ok(os.time() - started < 8, "targets run concurrently")
  local r = assert(probe.parse(log, targets))
  T.eq(r.control.open, true)
  T.eq(r.closed.open, false)
  T.eq(r.page.status, 200)
  T.eq(json.decode(r.page.body).internal, true)
  T.eq(r.missing.status, 404)
  T.eq(r.nobody.status, nil, "no connection, no status")
  T.eq(probe.parse("RESULT control open\n", targets), nil, "a log without DONE is not a result")
  T.eq(probe.parse("RESULT control open\nDONE\n", targets), nil, "a target without a result is not a result")
end)

T.test("the probe Pod runs the script with no token, no restart, labelled for the sweep", function()
  local p = probe.pod("tenant-a", "alaris-grade-probe-x-1", "echo DONE", { run_id = "abc123" })
  T.eq(p.spec.restartPolicy, "Never")
  T.eq(p.spec.automountServiceAccountToken, false)
  T.eq(p.spec.containers[1].command, { "sh", "-c", "echo DONE" })
  T.eq(p.metadata.labels[probe.RUN_LABEL], "abc123")
  T.eq(p.spec.containers[1].image, probe.DEFAULT_IMAGE)
end)

local RUN = T.alaris_run

T.test("bad input: exit 2 and one line, before any cluster is asked", function()
  local cases = {
    { "", "var 'tenants' is required" }, { "tenants=Tenant-A", "not a DNS label" },
    { "tenants=a,a", "listed twice" }, { "tenants=a only=db-smok", "no check or tenant is called 'db-smok'" },
    { "tenants=a skip=b", "no check or tenant is called 'b'" }, { "tenants=a --output xml", "--output must be text or json" },
    { "tenants=a --frobnicate", "unknown option --frobnicate" }, { "tenants=a timeout=soon", "not a valid integer" },
    { "tenants=a colour=red", "unknown var 'colour'" }, { "tenants=a --junit", "--junit needs a value" },
  }
  for _, case in ipairs(cases) do
    local out, err, code = T.run(string.format("KUBECONFIG=/nonexistent %s playbooks/grade.lua %s", RUN, case[1]))
    T.eq(code, 2, case[1] .. ": " .. out .. err)
    T.contains(err, case[2], case[1])
    T.ok(not err:gsub("\n$", ""):find("\n"), case[1] .. ": one line: " .. err)
  end
  local out, _, code = T.run(RUN .. " playbooks/grade.lua --help")
  T.eq(code, 0)
  for _, c in ipairs(grade.CHECKS) do T.contains(out, c[1]) end
end)

T.test("the check list: thirteen per tenant, the drills after the checks they must not disturb", function()
  local env = grade.environment { tenants = "a,b", timeout = 5, drill_timeout = 7, max_backup_age = 13, wal_margin = 1,
    probe_image = "busybox", neutral_namespace = "default", settle = 1 }
  local defs = grade.definitions(env)
  T.eq(#defs, 26)
  local seen = {}
  for _, d in ipairs(defs) do
    seen[d.name] = (seen[d.name] or 0) + 1
    if d.name == "pitr" or d.name == "dr-drill" then
      T.eq(d.timeout, 21)
      T.contains(table.concat(d.after, ","), "backups-fresh")
    else
      T.eq(d.timeout, 5)
    end
  end
  T.eq(seen["isolation-proof"], 2)
  T.ok(env.run_id:match("^%x%x%x%x%x%x$"), env.run_id)
end)

-- A kubeconfig whose API server does not answer.
local function dead_cluster()
  local file = T.tmpdir() .. "/kubeconfig"
  T.write_file(file, [[
apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
]])
  return file
end

T.test("a cluster that does not answer: every check an ERROR, exit 1, in the table, JSON, JUnit and annotations", function()
  local kubeconfig, junit = dead_cluster(), T.tmpdir() .. "/grade.xml"
  local out, err, code = T.run(string.format("KUBECONFIG=%s GITHUB_ACTIONS=true %s playbooks/grade.lua tenants=a,b "
    .. "skip=dr-drill,pitr --junit %s", kubeconfig, RUN, junit))
  T.eq(code, 1, out .. err)
  T.contains(out, "0 passed, 0 failed, 22 errors, 4 skipped")
  T.ok(out:find("\nERROR +db%-smoke +a "), out)
  T.contains(out, "::error title=ERROR db-smoke (a)::raised: ")
  local xml = T.read_file(junit)
  T.contains(xml, 'tests="26" failures="0" errors="22" skipped="4"')
  T.contains(xml, '<testcase classname="b" name="isolation-proof"')
  local jout, jerr, jcode = T.run(string.format("KUBECONFIG=%s %s playbooks/grade.lua tenants=a only=ops-read-only "
    .. "--output json", kubeconfig, RUN))
  T.eq(jcode, 1, jout .. jerr)
  local doc = json.decode(jout)
  T.eq(doc.exit_code, 1)
  T.eq(doc.summary.errors, 1)
  T.eq(doc.summary.skipped, 12)
  for _, c in ipairs(doc.checks) do
    T.ok(c.status == "ERROR" or c.status == "SKIP", c.name .. " " .. c.status)
  end
end)

T.run_all()
