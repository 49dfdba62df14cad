-- alaris.k8s against the lab's emulated Kubernetes API (HTTPS with a generated CA, a bearer token and a client
-- certificate in the kubeconfig of the lab's env, LAB_ADMIN_URL for fault injection and the request log):
-- configuration and every auth form, discovery, CRUD, patches, server-side apply, paging, watch, wait, logs,
-- port-forward to a real PostgreSQL, retries. Not a test of the lab itself.
local T = require "testing"
local alaris = require "alaris"
local http = require "alaris.http"
local json = require "alaris.json"
local yaml = require "alaris.yaml"
local crypto = require "alaris.crypto"
local k8s = require "alaris.k8s"

local RUN = string.format("%x%04x", os.time(), math.random(0, 0xffff))
local NS = "k8stest-" .. RUN

local function must(value, err)
  if value == nil then error("unexpected failure: " .. tostring(err), 2) end
  return value
end

-- The lab's kubeconfig, decoded, and its parts.
local LAB_KUBECONFIG = os.getenv("KUBECONFIG")
local lab = must(yaml.decode(must(T.read_file(LAB_KUBECONFIG))))
local function entry(list, name)
  for _, e in ipairs(list) do
    if e.name == name then return e end
  end
end
local SERVER = entry(lab.clusters, "lab").cluster.server
local CA_DATA = entry(lab.clusters, "lab").cluster["certificate-authority-data"]
local TOKEN = entry(lab.users, "lab").user.token
local CERT_USER = entry(lab.users, "lab-cert").user
alaris.secret(TOKEN)

local kc = must(k8s.client())

-- A kubeconfig table with one cluster, one user and one context named `name`.
local function kubeconfig_with(user, cluster_extra, name)
  name = name or "t"
  local cluster = { server = SERVER, ["certificate-authority-data"] = CA_DATA }
  for k, v in pairs(cluster_extra or {}) do cluster[k] = v end
  return {
    apiVersion = "v1", kind = "Config", ["current-context"] = name,
    clusters = { { name = name, cluster = cluster } },
    users = { { name = name, user = user } },
    contexts = { { name = name, context = { cluster = name, user = name, namespace = "kube-system" } } },
  }
end

local function write_yaml(path, value)
  T.write_file(path, yaml.encode(value))
  return path
end

local function expect_error(reason, status, value, err)
  T.eq(value, nil, "result")
  T.ok(type(err) == "table", "an error value")
  T.eq(err.reason, reason, "err.reason (" .. tostring(err) .. ")")
  if status then T.eq(err.status, status, "err.status") end
  return err
end

-- Runs a Lua snippet in a child alaris-run with extra environment (values that are not secrets); returns its
-- stdout, stderr and exit code.
local function run_child(env, code)
  local dir = T.tmpdir()
  T.write_file(dir .. "/child.lua", code)
  local prefix = {}
  for k, v in pairs(env) do prefix[#prefix + 1] = k .. "=" .. T.sh_quote(v) end
  return T.run(table.concat(prefix, " ") .. " " .. T.sh_quote(T.alaris_run) .. " " .. dir .. "/child.lua")
end

-- ---- configuration and auth ----

T.test("bearer token from KUBECONFIG: the current context and its namespace", function()
  T.eq(kc.namespace, "default")
  local ns = must(kc:get("v1", "Namespace", "default"))
  T.eq(ns.metadata.name, "default")
  T.eq(ns.kind, "Namespace")
end)

T.test("client certificate (data) through a context override", function()
  local c = must(k8s.client { kubeconfig = LAB_KUBECONFIG, context = "lab-cert" })
  T.eq(c.settings.context, "lab-cert")
  T.eq(c.settings.user.token, nil, "no token in that context")
  must(c:get("v1", "Namespace", "default"))
end)

T.test("client certificate and CA from files, relative to the kubeconfig's folder", function()
  local dir = T.tmpdir()
  os.execute("mkdir -p " .. dir .. "/pki")
  T.write_file(dir .. "/pki/client.crt", must(crypto.base64_decode(CERT_USER["client-certificate-data"])))
  T.write_file(dir .. "/pki/client.key", must(crypto.base64_decode(CERT_USER["client-key-data"])))
  T.write_file(dir .. "/pki/ca.crt", must(crypto.base64_decode(CA_DATA)))
  local cfg = kubeconfig_with({ ["client-certificate"] = "pki/client.crt", ["client-key"] = "pki/client.key" },
    { ["certificate-authority-data"] = yaml.null, ["certificate-authority"] = "pki/ca.crt" })
  local path = write_yaml(dir .. "/config", cfg)
  local c = must(k8s.client { kubeconfig = path })
  T.eq(c.namespace, "kube-system")
  must(c:get("v1", "Namespace", "kube-system"))
end)

T.test("a wrong token gets Unauthorized", function()
  local c = must(k8s.client { kubeconfig = kubeconfig_with { token = "not-the-token" } })
  local err = expect_error("Unauthorized", 401, c:get("v1", "Namespace", "default"))
  T.eq(err.code, "unauthorized")
  T.not_contains(tostring(err), "not-the-token")
  T.ok(alaris.is_secret("not-the-token"), "the token is registered as a secret")
end)

T.test("tokenFile is read, and read again after a 401 when it rotated", function()
  local dir = T.tmpdir()
  T.write_file(dir .. "/token", "stale-token\n")
  local c = must(k8s.client { kubeconfig = kubeconfig_with { tokenFile = dir .. "/token" } })
  expect_error("Unauthorized", 401, c:get("v1", "Namespace", "default"))
  T.write_file(dir .. "/token", TOKEN .. "\n")
  must(c:get("v1", "Namespace", "default"))
end)

-- An exec plugin: prints an ExecCredential with the token in $TOKEN_SOURCE (a file), counts its runs, and keeps
-- the KUBERNETES_EXEC_INFO it was given.
local function exec_plugin(dir, api_version, expires)
  local script = dir .. "/plugin.sh"
  T.write_file(script, string.format([[#!/bin/sh
echo run >>"%s/runs"
printf '%%s' "$KUBERNETES_EXEC_INFO" >"%s/exec-info"
token=$(cat "$TOKEN_SOURCE")
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%%s"%s}}\n' "$token"
]], dir, dir, api_version, expires and (',"expirationTimestamp":"' .. expires .. '"') or ""))
  os.execute("chmod +x " .. script)
  return script
end

local function runs(dir)
  local text = T.read_file(dir .. "/runs") or ""
  return select(2, text:gsub("run", ""))
end

T.test("exec plugin (v1): KUBERNETES_EXEC_INFO, env, relative command, cached until it expires", function()
  local dir = T.tmpdir()
  exec_plugin(dir, "client.authentication.k8s.io/v1", "2099-01-01T00:00:00Z")
  T.write_file(dir .. "/token-source", TOKEN)
  local cfg = kubeconfig_with { exec = {
    apiVersion = "client.authentication.k8s.io/v1", command = "./plugin.sh", interactiveMode = "Never",
    env = { { name = "TOKEN_SOURCE", value = dir .. "/token-source" } }, provideClusterInfo = true,
  } }
  local c = must(k8s.client { kubeconfig = write_yaml(dir .. "/config", cfg) })
  must(c:get("v1", "Namespace", "default"))
  must(c:get("v1", "Namespace", "kube-system"))
  T.eq(runs(dir), 1, "the credential is cached")
  local info = must(json.decode(T.read_file(dir .. "/exec-info")))
  T.eq(info.kind, "ExecCredential")
  T.eq(info.apiVersion, "client.authentication.k8s.io/v1")
  T.eq(info.spec.interactive, false)
  T.eq(info.spec.cluster.server, SERVER)
end)

T.test("exec plugin (v1beta1): an expired credential is fetched again; a 401 re-runs it once", function()
  local dir = T.tmpdir()
  exec_plugin(dir, "client.authentication.k8s.io/v1beta1", "2001-01-01T00:00:00Z")
  T.write_file(dir .. "/token-source", TOKEN)
  local cfg = kubeconfig_with { exec = {
    apiVersion = "client.authentication.k8s.io/v1beta1", command = dir .. "/plugin.sh",
    env = { { name = "TOKEN_SOURCE", value = dir .. "/token-source" } },
  } }
  local c = must(k8s.client { kubeconfig = cfg })
  must(c:get("v1", "Namespace", "default"))
  must(c:get("v1", "Namespace", "default"))
  T.eq(runs(dir), 3, "expired: run for each request (discovery, then two GETs)")

  local dir2 = T.tmpdir()
  exec_plugin(dir2, "client.authentication.k8s.io/v1beta1", "2099-01-01T00:00:00Z")
  T.write_file(dir2 .. "/token-source", "revoked-token")
  local cfg2 = kubeconfig_with { exec = {
    apiVersion = "client.authentication.k8s.io/v1beta1", command = dir2 .. "/plugin.sh",
    env = { { name = "TOKEN_SOURCE", value = dir2 .. "/token-source" } },
  } }
  local c2 = must(k8s.client { kubeconfig = cfg2 })
  expect_error("Unauthorized", 401, c2:get("v1", "Namespace", "default"))
  T.eq(runs(dir2), 2, "401: run once more, then the error")
  T.write_file(dir2 .. "/token-source", TOKEN) -- the plugin now gives a good token: the cached bad one gets a 401
  must(c2:get("v1", "Namespace", "default"))
  T.eq(runs(dir2), 3)
end)

T.test("exec plugin failures say which command and why", function()
  local dir = T.tmpdir()
  T.write_file(dir .. "/bad.sh", "#!/bin/sh\necho 'no cluster selected' >&2\nexit 3\n")
  os.execute("chmod +x " .. dir .. "/bad.sh")
  local c = must(k8s.client { kubeconfig = kubeconfig_with { exec = {
    apiVersion = "client.authentication.k8s.io/v1beta1", command = dir .. "/bad.sh" } } })
  local value, err = c:get("v1", "Namespace", "default")
  T.eq(value, nil)
  T.eq(err.code, "exec")
  T.contains(tostring(err), "bad.sh")
  T.contains(tostring(err), "exit status 3: no cluster selected")
end)

T.test("in-cluster: KUBERNETES_SERVICE_HOST + the service account folder; the token re-read when it rotates", function()
  local dir = T.tmpdir()
  T.write_file(dir .. "/ca.crt", must(crypto.base64_decode(CA_DATA)))
  T.write_file(dir .. "/namespace", "kube-public\n")
  T.write_file(dir .. "/token", "old-token\n")
  local host, port = SERVER:match("^https://([^:/]+):(%d+)")
  local out, errout, code = run_child({ KUBERNETES_SERVICE_HOST = host, KUBERNETES_SERVICE_PORT = port,
    ALARIS_SERVICEACCOUNT_DIR = dir, KUBECONFIG = "/nonexistent" }, string.format([[
    local k8s = require "alaris.k8s"
    local c = assert(k8s.client())
    print(c.settings.context, c.namespace)
    local v, err = c:get("v1", "Namespace", "default")
    print(err and err.reason)
    local f = assert(io.open(%q, "w")); f:write(%q); f:close()
    print(assert(c:get("v1", "Namespace", "kube-public")).metadata.name)
  ]], dir .. "/token", TOKEN .. "\n"))
  T.eq(code, 0, "child exit (" .. errout .. ")")
  T.eq(out, "in-cluster\tkube-public\nUnauthorized\nkube-public\n")
end)

T.test("TLS with the wrong CA fails with a clear message", function()
  local dir = T.tmpdir()
  local _, _, code = T.run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-ca "
    .. "-days 1 -keyout " .. dir .. "/k.pem -out " .. dir .. "/ca.pem")
  T.eq(code, 0, "openssl")
  local other = crypto.base64_encode(T.read_file(dir .. "/ca.pem"))
  local c = must(k8s.client { kubeconfig = kubeconfig_with({ token = TOKEN },
    { ["certificate-authority-data"] = other }) })
  local value, err = c:get("v1", "Namespace", "default")
  T.eq(value, nil)
  T.eq(err.code, "tls", tostring(err))
  T.contains(tostring(err):lower(), "certificate")
end)

T.test("tls-server-name: the certificate is checked against that name while connecting to the server", function()
  local by_ip = SERVER:gsub("//localhost:", "//127.0.0.1:")
  local good = must(k8s.client { kubeconfig = kubeconfig_with({ token = TOKEN },
    { server = by_ip, ["tls-server-name"] = "localhost" }) })
  T.eq(must(good:get("v1", "Namespace", "default")).metadata.name, "default")
  local bad = must(k8s.client { kubeconfig = kubeconfig_with({ token = TOKEN },
    { server = by_ip, ["tls-server-name"] = "not-the-lab.example" }) })
  local value, err = bad:get("v1", "Namespace", "default")
  T.eq(value, nil)
  T.eq(err.code, "tls", tostring(err))
end)

T.test("insecure-skip-tls-verify works and warns", function()
  local dir = T.tmpdir()
  local cfg = kubeconfig_with({ token = TOKEN },
    { ["certificate-authority-data"] = yaml.null, ["insecure-skip-tls-verify"] = true })
  write_yaml(dir .. "/config", cfg)
  local out, errout, code = run_child({ KUBECONFIG = dir .. "/config" }, [[
    local k8s = require "alaris.k8s"
    local c = assert(k8s.client())
    print(assert(c:get("v1", "Namespace", "default")).metadata.name)
  ]])
  T.eq(code, 0, errout)
  T.eq(out, "default\n")
  T.contains(errout, "insecure-skip-tls-verify")
  T.not_contains(errout, TOKEN)
end)

T.test("KUBECONFIG lists merge as client-go does: the first file to set a name wins", function()
  local dir = T.tmpdir()
  -- a.yaml: current context "first", user "shared" with a bad token, cluster "shared" that is the lab
  write_yaml(dir .. "/a.yaml", {
    ["current-context"] = "first",
    clusters = { { name = "shared", cluster = { server = SERVER, ["certificate-authority-data"] = CA_DATA } } },
    users = { { name = "shared", user = { token = "from-a-but-wrong" } } },
    contexts = { { name = "first", context = { cluster = "shared", user = "good", namespace = "ns-a" } } },
  })
  -- b.yaml: its own current context (ignored), user "shared" (ignored: a set it first), user "good" (used)
  write_yaml(dir .. "/b.yaml", {
    ["current-context"] = "second",
    clusters = { { name = "shared", cluster = { server = "https://127.0.0.1:1" } } },
    users = { { name = "shared", user = { token = TOKEN } }, { name = "good", user = { token = TOKEN } } },
    contexts = { { name = "second", context = { cluster = "shared", user = "shared", namespace = "ns-b" } },
      { name = "first", context = { cluster = "nowhere", user = "nobody" } } },
  })
  local out, errout, code = run_child({ KUBECONFIG = dir .. "/missing.yaml:" .. dir .. "/a.yaml:" .. dir .. "/b.yaml" }, [[
    local k8s = require "alaris.k8s"
    local c = assert(k8s.client())
    print(c.settings.context, c.namespace, assert(c:get("v1", "Namespace", "default")).metadata.name)
    local c2 = assert(k8s.client { context = "second" })
    local v, err = c2:get("v1", "Namespace", "default")
    print(c2.settings.context, c2.namespace, err and err.reason)
  ]])
  T.eq(code, 0, errout)
  T.eq(out, "first\tns-a\tdefault\nsecond\tns-b\tUnauthorized\n")
end)

T.test("a broken kubeconfig gives one line naming the file and the field", function()
  local dir = T.tmpdir()
  local path = write_yaml(dir .. "/config", {
    ["current-context"] = "x",
    clusters = { { name = "c", cluster = { server = "not a url" } } },
    users = { { name = "u", user = { token = "t" } } },
    contexts = { { name = "x", context = { cluster = "c", user = "u" } } },
  })
  local value, err = k8s.client { kubeconfig = path }
  T.eq(value, nil)
  T.eq(err.code, "kubeconfig")
  T.eq(tostring(err), "kubeconfig " .. path .. ": clusters[1].cluster.server: expected an http:// or https:// URL")
  T.write_file(path, "clusters: [\n")
  value, err = k8s.client { kubeconfig = path }
  T.contains(tostring(err), "kubeconfig " .. path .. ": not valid YAML")
  T.not_contains(tostring(err), "\n")
  write_yaml(path, kubeconfig_with { exec = { apiVersion = "client.authentication.k8s.io/v1alpha1", command = "x" } })
  value, err = k8s.client { kubeconfig = path }
  T.contains(tostring(err), path .. ": users[1].user.exec.apiVersion: expected client.authentication.k8s.io/v1 or v1beta1")
  value, err = k8s.client { kubeconfig = path, context = "nope" }
  T.contains(tostring(err), "no context named nope")
end)

-- ---- objects ----

local function admin(method, path, body)
  local resp = must(http.request { method = method, url = os.getenv("LAB_ADMIN_URL") .. path,
    headers = { Authorization = "Bearer " .. os.getenv("LAB_ADMIN_TOKEN"), ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  T.ok(resp.status < 300, "admin " .. method .. " " .. path .. ": " .. resp.status .. " " .. resp.body)
  return resp.body ~= "" and json.decode(resp.body) or nil
end

local function configmap(name, data)
  return { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = NS }, data = data or {} }
end

local GROUP = "t" .. RUN .. ".alaris.test"
local WIDGET_API = GROUP .. "/v1"

local function widget_crd()
  return {
    apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition",
    metadata = { name = "widgets." .. GROUP },
    spec = {
      group = GROUP, scope = "Namespaced",
      names = { plural = "widgets", singular = "widget", kind = "Widget", listKind = "WidgetList" },
      versions = { {
        name = "v1", served = true, storage = true, subresources = { status = {} },
        schema = { openAPIV3Schema = { type = "object", properties = {
          spec = { type = "object", properties = { size = { type = "integer" } } },
          status = { type = "object", ["x-kubernetes-preserve-unknown-fields"] = true },
        } } },
      } },
    },
  }
end

local function widget(name, size)
  return { apiVersion = WIDGET_API, kind = "Widget", metadata = { name = name, namespace = NS }, spec = { size = size } }
end

local function set_ready(name, status)
  return must(kc:patch(widget(name), { status = { conditions = { { type = "Ready", status = status,
    reason = status == "True" and "Done" or "Working", lastTransitionTime = "2024-01-01T00:00:00Z", message = "" } } } },
    "merge", { subresource = "status" }))
end

-- The suite's namespace and Widget CRD, for every test that works in them: each test sets up what it needs, so any
-- one of them runs alone (ONLY=...). Server-side apply makes this a no-op when they exist.
local namespace_ready = false
local function suite_namespace()
  if namespace_ready then return end
  must(kc:apply_all { { apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }, widget_crd() })
  namespace_ready = true
end

T.test("apply_all: a YAML stream, the Namespace and the CRD first, a kind created a moment ago usable at once", function()
  local text = yaml.encode_all {
    widget("first", 1),
    { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "settings", namespace = NS }, data = { a = "1" } },
    widget_crd(),
    { apiVersion = "v1", kind = "Namespace", metadata = { name = NS } },
  }
  local applied = must(kc:apply_all(text))
  T.eq(#applied, 4)
  T.eq(applied[1].kind, "Widget")
  T.eq(applied[1].spec.size, 1)
  T.eq(applied[4].metadata.name, NS)
  local res = must(kc:resource(WIDGET_API, "Widget"))
  T.eq(res.name, "widgets")
  T.eq(res.namespaced, true)
  T.eq(must(kc:get(WIDGET_API, "Widget", "first", NS)).spec.size, 1)
end)

T.test("CRUD: create, get, replace, delete; NotFound, AlreadyExists, Conflict as Status errors", function()
  suite_namespace()
  local created = must(kc:create(configmap("crud", { a = "1" })))
  T.eq(created.data.a, "1")
  T.ok(created.metadata.uid, "uid")
  expect_error("AlreadyExists", 409, kc:create(configmap("crud")))
  local got = must(kc:get(configmap("crud")))
  got.data.a = "2"
  local replaced = must(kc:replace(got))
  T.eq(replaced.data.a, "2")
  got.data.a = "3" -- the old resourceVersion: a conflict
  local err = expect_error("Conflict", 409, kc:replace(got))
  T.contains(err.message, "crud")
  local ok, status = kc:delete(configmap("crud"), { wait = true, timeout = 10 })
  T.eq(ok, true, tostring(status))
  err = expect_error("NotFound", 404, kc:get("v1", "ConfigMap", "crud", NS))
  T.eq(err.code, "not_found")
  expect_error("NotFound", 404, kc:delete(configmap("crud")))
  local pair = must(kc:apply_all { configmap("listed-1"), configmap("listed-2") })
  T.eq(pair[2].metadata.name, "listed-2")
  local value, rerr = kc:get("v1", "NoSuchKind", "x", NS)
  T.eq(value, nil)
  T.eq(rerr.status, 404)
end)

T.test("patch: merge, json and strategic", function()
  suite_namespace()
  must(kc:create({ apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "web", namespace = NS },
    spec = { replicas = 1, selector = { matchLabels = { app = "web" } }, template = {
      metadata = { labels = { app = "web" } },
      spec = { containers = { { name = "app", image = "nginx:1", env = { { name = "A", value = "1" } } } } } } } }))
  local ref = { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "web", namespace = NS } }
  local m = must(kc:patch(ref, { metadata = { labels = { tier = "front" } }, spec = { replicas = 2 } }, "merge"))
  T.eq(m.spec.replicas, 2)
  T.eq(m.metadata.labels.tier, "front")
  local j = must(kc:patch(ref, { { op = "replace", path = "/spec/replicas", value = 3 },
    { op = "remove", path = "/metadata/labels/tier" } }, "json"))
  T.eq(j.spec.replicas, 3)
  T.eq((j.metadata.labels or {}).tier, nil)
  -- strategic: containers merge by name (a merge patch would replace the list)
  local s = must(kc:patch(ref, { spec = { template = { spec = { containers = {
    { name = "sidecar", image = "busybox:1" } } } } } }, "strategic"))
  local names = {}
  for _, c in ipairs(s.spec.template.spec.containers) do names[#names + 1] = c.name end
  table.sort(names)
  T.eq(names, { "app", "sidecar" })
  T.raises(function() kc:patch(ref, {}, "yaml") end, "patch type")
end)

T.test("server-side apply: field ownership, a conflict between managers, force", function()
  suite_namespace()
  local m = configmap("ssa", { owner = "alaris" })
  local a = must(kc:apply(m))
  T.eq(a.data.owner, "alaris")
  local found = false
  for _, f in ipairs(a.metadata.managedFields or {}) do found = found or f.manager == "alaris" end
  T.ok(found, "alaris manages fields")
  must(kc:apply(m)) -- the same apply again: nothing to change, no error
  local err = expect_error("Conflict", 409, kc:apply(configmap("ssa", { owner = "other" }), { field_manager = "other" }))
  T.ok(#err.causes >= 1, "conflict causes")
  T.contains(json.encode(err.causes), "data.owner")
  local forced = must(kc:apply(configmap("ssa", { owner = "other" }), { field_manager = "other", force = true }))
  T.eq(forced.data.owner, "other")
end)

T.test("a dry-run apply answers the object and stores nothing", function()
  suite_namespace()
  local obj = must(kc:apply(configmap("dry", { x = "1" }), { dry_run = true }))
  T.eq(obj.data.x, "1")
  expect_error("NotFound", 404, kc:get("v1", "ConfigMap", "dry", NS))
  local created = must(kc:create(configmap("dry2"), { dry_run = true }))
  T.eq(created.metadata.name, "dry2")
  expect_error("NotFound", 404, kc:get("v1", "ConfigMap", "dry2", NS))
end)

T.test("Invalid: the causes name the fields", function()
  suite_namespace()
  local bad = { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = "Bad_Name", namespace = NS },
    spec = { replicas = -1, selector = { matchLabels = { app = "x" } },
      template = { metadata = { labels = { app = "x" } }, spec = { containers = json.array {} } } } }
  local err = expect_error("Invalid", 422, kc:create(bad))
  T.eq(err.code, "invalid")
  T.ok(#err.causes >= 2, "several causes: " .. json.encode(err.causes))
  local fields = {}
  for _, c in ipairs(err.causes) do fields[c.field] = true end
  T.ok(fields["metadata.name"], "metadata.name among " .. json.encode(err.causes))
  T.ok(fields["spec.replicas"], "spec.replicas among " .. json.encode(err.causes))
end)

T.test("2,000 ConfigMaps created concurrently, listed in pages", function()
  suite_namespace()
  local playbook = require "alaris.playbook"
  local names = {}
  for i = 1, 2000 do names[i] = string.format("page-%04d", i) end
  admin("DELETE", "/requests")
  playbook.for_each(names, { concurrency = 16 }, function(name)
    must(kc:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = NS,
      labels = { paged = "yes" } }, data = { n = name } }))
  end)
  local seen, count = {}, 0
  for obj in must(kc:list("v1", "ConfigMap", NS, { label_selector = "paged=yes", limit = 300 })) do
    T.eq(obj.kind, "ConfigMap")
    T.ok(not seen[obj.metadata.name], "no duplicates")
    seen[obj.metadata.name] = true
    count = count + 1
  end
  T.eq(count, 2000)
  local log = admin("GET", "/requests?target=k8s&method=GET")
  local pages = 0
  for _, r in ipairs(log.requests) do
    if r.path == "/api/v1/namespaces/" .. NS .. "/configmaps" then pages = pages + 1 end
  end
  T.eq(pages, 7, "ceil(2000/300) pages")
end)

T.test("watch survives a 410 Gone: the history is forgotten, the watch lists again and goes on", function()
  suite_namespace()
  -- 2,000 writes above overflowed the lab's event history: version "1" is too old.
  local it, stream = kc:watch("v1", "ConfigMap", NS, { resource_version = "1", label_selector = "late=yes",
    timeout = 20 })
  must(it, stream)
  local later = alaris.spawn(function()
    alaris.sleep(0.3)
    must(kc:create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = "after-410", namespace = NS,
      labels = { late = "yes" } } }))
  end)
  local got
  for ev in it, stream do
    if ev.object.metadata.name == "after-410" then
      got = ev
      break
    end
  end
  must(later:wait())
  T.ok(got, "the event after the 410")
  T.eq(got.type, "ADDED")
  T.ok((stream.relists or 0) >= 1, "listed again after the 410")
end)

T.test("watch: initial objects, changes, deletions, selectors; break stops the stream", function()
  suite_namespace()
  local changes = alaris.spawn(function()
    alaris.sleep(0.2)
    must(kc:create(configmap("w1", { v = "1" })))
    must(kc:patch(configmap("w1"), { data = { v = "2" } }, "merge"))
    must(kc:create(configmap("other")))
    must(kc:delete(configmap("w1")))
  end)
  local types = {}
  for ev in kc:watch("v1", "ConfigMap", NS, { field_selector = "metadata.name=w1", timeout = 10 }) do
    types[#types + 1] = ev.type
    T.eq(ev.object.metadata.name, "w1")
    if ev.type == "DELETED" then break end
  end
  must(changes:wait())
  T.eq(types, { "ADDED", "MODIFIED", "DELETED" })
end)

T.test("watch: a burst of 1,500 events, read by a slow consumer, arrives whole and in order", function()
  suite_namespace()
  local label = "burst-" .. math.random(1e9)
  local writer = alaris.spawn(function()
    alaris.sleep(0.2)
    require("alaris.playbook").for_each({}, {}, function() end)
    for i = 1, 1500 do
      local cm = configmap(label .. "-" .. i, { i = tostring(i) })
      cm.metadata.labels = { burst = label }
      must(kc:create(cm))
    end
  end)
  local seen = {}
  for ev in kc:watch("v1", "ConfigMap", NS, { label_selector = "burst=" .. label, timeout = 60 }) do
    seen[#seen + 1] = tonumber(ev.object.data.i)
    if #seen % 100 == 0 then alaris.sleep(0.01) end -- slower than the stream: reading must wait, not pile up
    if #seen == 1500 then break end
  end
  must(writer:wait())
  T.eq(#seen, 1500)
  for i = 1, 1500 do
    if seen[i] ~= i then T.eq(seen[i], i, "event " .. i) end
  end
end)

T.test("wait: a condition set by another task through the status subresource", function()
  suite_namespace()
  must(kc:apply(widget("waited", 2)))
  set_ready("waited", "False")
  local setter = alaris.spawn(function()
    alaris.sleep(0.3)
    set_ready("waited", "True")
  end)
  local started = alaris.now()
  local obj = must(kc:wait(widget("waited"), "Ready", { timeout = 10 }))
  T.eq(k8s.condition(obj, "Ready").status, "True")
  T.ok(alaris.now() - started < 5, "returned when the condition came")
  must(setter:wait())
  local by_fn = must(kc:wait(widget("waited"), function(o) return o.spec.size == 2 end, { timeout = 5 }))
  T.eq(by_fn.metadata.name, "waited")
end)

T.test("wait: a timeout says what it saw last", function()
  suite_namespace()
  must(kc:apply(widget("never", 1)))
  set_ready("never", "False")
  local started = alaris.now()
  local value, err = kc:wait(widget("never"), "Ready", { timeout = 1 })
  T.eq(value, nil)
  T.eq(err.code, "timeout")
  T.contains(tostring(err), "Ready=False (Working)")
  T.ok(alaris.now() - started < 4, "about the timeout")
end)

T.test("tasks that need the same discovery document at once share one request", function()
  local fresh = must(k8s.client())
  admin("DELETE", "/requests")
  require("alaris.playbook").for_each({ 1, 2, 3, 4, 5, 6, 7, 8 }, { concurrency = 8 }, function()
    must(fresh:get("apps/v1", "Deployment", "absent-" .. math.random(1e9), "default") or true)
  end)
  local discovery = 0
  for _, r in ipairs(admin("GET", "/requests?target=k8s").requests) do
    if r.path == "/apis/apps/v1" then discovery = discovery + 1 end
  end
  T.eq(discovery, 1)
end)

T.test("two waits in playbook.parallel overlap", function()
  suite_namespace()
  local playbook = require "alaris.playbook"
  must(kc:apply(widget("pa", 1)))
  must(kc:apply(widget("pb", 1)))
  local setter = alaris.spawn(function()
    alaris.sleep(0.5)
    set_ready("pa", "True")
    set_ready("pb", "True")
  end)
  local started = alaris.now()
  local results = playbook.parallel {
    function() return must(kc:wait(widget("pa"), "Ready", { timeout = 10 })) end,
    function() return must(kc:wait(widget("pb"), "Ready", { timeout = 10 })) end,
  }
  T.eq(results[1].metadata.name, "pa")
  T.eq(results[2].metadata.name, "pb")
  T.ok(alaris.now() - started < 3, "concurrent")
  must(setter:wait())
end)

T.test("retries: 503 twice, then the GET succeeds (three requests in the lab's log)", function()
  suite_namespace()
  must(kc:apply(configmap("flaky", { v = "1" })))
  local path = "/api/v1/namespaces/" .. NS .. "/configmaps/flaky"
  admin("DELETE", "/requests")
  admin("POST", "/faults", { target = "k8s", method = "GET", path = "^" .. path:gsub("%.", "\\.") .. "$",
    status = 503, count = 2 })
  local obj = must(kc:get(configmap("flaky")))
  T.eq(obj.data.v, "1")
  local log = admin("GET", "/requests?target=k8s&method=GET")
  local statuses = {}
  for _, r in ipairs(log.requests) do
    if r.path == path then statuses[#statuses + 1] = r.status end
  end
  T.eq(statuses, { 503, 503, 200 })
  -- a create (POST) is not retried
  admin("POST", "/faults", { target = "k8s", method = "POST", path = "/configmaps$", status = 503, count = 1 })
  local value, err = kc:create(configmap("once"))
  T.eq(value, nil)
  T.eq(err.status, 503)
  admin("DELETE", "/faults")
end)

T.test("logs: the pod's log, NotFound for a missing pod", function()
  suite_namespace()
  must(kc:create({ apiVersion = "v1", kind = "Pod", metadata = { name = "logger", namespace = NS },
    spec = { containers = { { name = "main", image = "busybox:1" } } } }))
  T.eq(must(kc:logs(NS, "logger", { tail_lines = 10 })), "", "nothing logged yet")
  -- the lab runs no containers: its admin endpoint writes the pod's log
  admin("POST", "/logs", { namespace = NS, pod = "logger", text = "first line " .. RUN .. "\n" })
  admin("POST", "/logs", { namespace = NS, pod = "logger", container = "main", text = "second line\n" })
  T.eq(must(kc:logs(NS, "logger")), "first line " .. RUN .. "\nsecond line\n")
  T.eq(must(kc:logs(NS, "logger", { tail_lines = 1 })), "second line\n")
  T.eq(must(kc:logs(NS, "logger", { container = "main", tail_lines = 2 })), "first line " .. RUN .. "\nsecond line\n")
  expect_error("NotFound", 404, kc:logs(NS, "no-such-pod"))
  expect_error("BadRequest", 400, kc:logs(NS, "logger", { container = "nope" }))
end)

T.test("secret_data decodes values and registers them as secrets", function()
  suite_namespace()
  local value = "s3cr3t-" .. RUN
  must(kc:apply({ apiVersion = "v1", kind = "Secret", metadata = { name = "creds", namespace = NS },
    data = { password = crypto.base64_encode(value) } }))
  local data = must(k8s.secret_data(must(kc:get("v1", "Secret", "creds", NS))))
  T.eq(data.password, value)
  T.ok(alaris.is_secret(value), "registered")
  T.eq(alaris.mask("pw=" .. value), "pw=***")
end)

T.test("port-forward to a real PostgreSQL through the lab, used by alaris.pg", function()
  suite_namespace()
  local pg = require "alaris.pg"
  local dir = T.tmpdir() .. "/pg"
  local _, perr, code = T.run("tests/support/pg-server up " .. dir)
  T.eq(code, 0, "pg-server up: " .. perr)
  local ok, err = pcall(function()
    local env = T.read_file(dir .. "/env")
    local port = tonumber(env:match("PGPORT='?(%d+)"))
    local passfile = env:match("PGPASSFILE='?([^'\n]+)")
    local password = T.read_file(passfile):match("[^\n]+"):match("([^:]*)$")
    alaris.secret(password)
    -- bound to a node other than the lab's: its kubelet leaves it alone, the status below stays as written
    must(kc:create({ apiVersion = "v1", kind = "Pod", metadata = { name = "db", namespace = NS },
      spec = { nodeName = "elsewhere", containers = { { name = "postgres", image = "postgres:15" } } } }))
    must(kc:patch({ apiVersion = "v1", kind = "Pod", metadata = { name = "db", namespace = NS } },
      { status = { phase = "Running", podIP = "127.0.0.1", podIPs = { { ip = "127.0.0.1" } } } }, "merge",
      { subresource = "status" }))
    local pf <close> = must(kc:port_forward(NS, "db", port))
    T.ok(pf.local_port > 0 and pf.local_port ~= port, "a local port of its own")
    local function query()
      local db <close> = must(pg.connect { host = "127.0.0.1", port = pf.local_port, dbname = "app", user = "app",
        password = password, connect_timeout = 10 })
      return must(db:query("SELECT 1 AS one, current_database() AS db"))[1]
    end
    local a = alaris.spawn(query)
    local b = alaris.spawn(query)
    local oka, ra = a:wait(20)
    local okb, rb = b:wait(20)
    T.ok(oka, tostring(ra))
    T.ok(okb, tostring(rb))
    T.eq(ra.one, 1)
    T.eq(rb.db, "app")
    -- a port nothing listens on: the error channel is reported
    local bad <close> = must(kc:port_forward(NS, "db", 1))
    local probe = pg.connect { host = "127.0.0.1", port = bad.local_port, dbname = "app", user = "app",
      password = password, connect_timeout = 5 }
    T.eq(probe, nil, "nothing answers behind port 1")
    T.ok(#bad.errors >= 1, "an error from the error channel")
    T.contains(bad.errors[1], "connection refused")
    -- a pod that does not exist: the upgrade is refused, and said so
    local missing <close> = must(kc:port_forward(NS, "no-such-pod", port))
    T.eq(pg.connect { host = "127.0.0.1", port = missing.local_port, dbname = "app", user = "app",
      password = password, connect_timeout = 5 }, nil)
    T.ok(#missing.errors >= 1, "an error for the refused stream")
    T.contains(missing.errors[1], "404")
  end)
  T.run("tests/support/pg-server down " .. dir)
  if not ok then error(err, 0) end
end)

T.test("delete with propagation and wait; the namespace goes at the end", function()
  suite_namespace()
  local ok, err = kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } },
    { propagation = "Foreground", wait = true, timeout = 60 })
  T.eq(ok, true, tostring(err))
  expect_error("NotFound", 404, kc:get("v1", "Namespace", NS))
end)

T.run_all()
