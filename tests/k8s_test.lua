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

T.run_all()
