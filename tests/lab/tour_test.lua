-- examples/lab-tour.lua end to end against the lab: it succeeds and what it made is there; when a step fails, the
-- rollbacks undo everything the run made (cluster, namespace, secrets, bucket), in the real APIs.
local T = require "testing"
local json = require "alaris.json"
local digitalocean = require "alaris.digitalocean"
local http = require "alaris.http"
local k8s = require "alaris.k8s"
local s3 = require "alaris.s3"

local RUN = T.alaris_run

local function admin(method, path, body)
  local resp = assert(http.request { method = method, url = os.getenv("LAB_ADMIN_URL") .. path,
    headers = { Authorization = "Bearer " .. os.getenv("LAB_ADMIN_TOKEN"), ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  assert(resp.status < 300, resp.body)
end

local function tour(dir, args)
  return T.run(string.format("%s --journal %s/journal.jsonl examples/lab-tour.lua %s", RUN, dir, args))
end

local function kube(cluster_name)
  local dc = assert(digitalocean.client())
  local cluster = assert(dc:find_cluster(cluster_name))
  return assert(k8s.client { kubeconfig = assert(dc:cluster_credentials(cluster.id)) }), dc, cluster
end

T.test("the tour makes a cluster, a namespace with secrets, a bucket and a scoped key", function()
  local dir = T.tmpdir()
  local out, err, code = tour(dir, "tenant=tour-ok cluster=tour-ok")
  T.eq(code, 0, out .. err)
  local kc = kube("tour-ok")
  local ns = assert(kc:get("v1", "Namespace", "tour-ok"))
  T.eq(ns.metadata.labels.tenant, "tour-ok")
  local app = k8s.secret_data(assert(kc:get("v1", "Secret", "pg-tour-ok-app-secret", "tour-ok")))
  T.eq(app.username, "app")
  T.eq(#app.password, 32)
  T.not_contains(out .. err, app.password)
  T.ok(assert(s3.client()):head_bucket("alaris-tour-ok-backups"))
  -- a second run changes nothing that exists: the passwords stay
  local _, err2, code2 = tour(T.tmpdir(), "tenant=tour-ok cluster=tour-ok")
  T.eq(code2, 0, err2)
  T.eq(k8s.secret_data(assert(kc:get("v1", "Secret", "pg-tour-ok-app-secret", "tour-ok"))).password, app.password)
end)

T.test("a failing step rolls back the cluster, namespace, secrets and bucket the run made", function()
  local dir = T.tmpdir()
  admin("POST", "/faults", { target = "do", method = "POST", path = "^/v2/spaces/keys", status = 500, count = 1 })
  local out, err, code = tour(dir, "tenant=tour-fail cluster=tour-fail")
  admin("DELETE", "/faults")
  T.eq(code, 1, out .. err)
  T.contains(out, "spaces-key")
  T.contains(out, "undo backup-bucket")
  T.contains(out, "undo cluster")
  local dc = assert(digitalocean.client())
  T.eq(dc:find_cluster("tour-fail"), nil, "the cluster was deleted")
  local _, berr = assert(s3.client()):head_bucket("alaris-tour-fail-backups")
  T.ok(berr, "the bucket was deleted")
  -- the lab's Kubernetes API outlives the DOKS cluster record: the namespace must be gone from it too
  local kc = assert(k8s.client())
  local ns = kc:get("v1", "Namespace", "tour-fail")
  T.ok(ns == nil or ns.metadata.deletionTimestamp ~= nil, "the namespace was deleted")
end)

T.run_all()
