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

T.run_all()
