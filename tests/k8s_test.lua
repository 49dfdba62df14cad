-- alaris.k8s without a server: a client made from a kubeconfig table, its query strings and its close.
-- Requests against the lab's Kubernetes API are in tests/lab/k8s_test.lua.
local T = require "testing"
local k8s = require "alaris.k8s"

local KUBECONFIG = {
  apiVersion = "v1", kind = "Config", ["current-context"] = "c",
  clusters = { { name = "k", cluster = { server = "https://127.0.0.1:9" } } },
  users = { { name = "u", user = { token = "not-a-real-token" } } },
  contexts = { { name = "c", context = { cluster = "k", user = "u", namespace = "ns" } } },
}

T.test("close returns true, every time", function()
  local kc = assert(k8s.client { kubeconfig = KUBECONFIG })
  T.eq(kc:close(), true)
  T.eq(kc:close(), true, "idempotent")
end)

T.test("query strings come from alaris.http's one encoder: sorted, escaped, false left out", function()
  T.eq(k8s.encode_query { labelSelector = "app in (a,b)", limit = 500, watch = true, dryRun = false },
    "?labelSelector=app%20in%20%28a%2Cb%29&limit=500&watch=true")
  T.eq(k8s.encode_query(nil), "")
  T.eq(k8s.encode_query {}, "")
end)

-- Found by fuzz/kubeconfig_load: a file field with no value (certificate-authority:) or a value that is not a
-- string made the loader raise "attempt to index a json.null value" instead of returning a kubeconfig error.
T.test("a kubeconfig file field left empty is absent; one that is not a string is a kubeconfig error", function()
  local path = T.tmpdir() .. "/config"
  local function config(cluster_extra, user_extra)
    return "current-context: c\n" ..
      "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:9'" .. cluster_extra .. "}}]\n" ..
      "users: [{name: u, user: {token: t" .. user_extra .. "}}]\n" ..
      "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
  end
  T.write_file(path, config(", certificate-authority: ", ", client-certificate: , client-key: , tokenFile: "))
  local kc, err = k8s.client { kubeconfig = path }
  T.ok(kc, "a client without a CA file: " .. tostring(err))
  kc:close()
  T.write_file(path, config(", certificate-authority: 5", ""))
  kc, err = k8s.client { kubeconfig = path }
  T.eq(kc, nil)
  T.eq(err.code, "kubeconfig")
  T.eq(tostring(err), "kubeconfig " .. path .. ": clusters[1].cluster.certificate-authority: expected a string, got number")
end)

T.run_all()
