-- playbooks/offboard.lua against the lab: a tenant onboarded (its Cluster real PostgreSQL under the lab's
-- CloudNativePG, the operators installed first) is offboarded: a final backup that does not complete in time
-- deletes nothing; a final Backup taken by barman-cloud and found in the bucket, namespace gone, Spaces key
-- revoked, bucket kept with the backup, then purged with purge_backups=yes; bad input exits 2.
local T = require "testing"
local L = require "playbook_lab"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"
local s3 = require "alaris.s3"

local RUN = T.alaris_run
local kc = assert(k8s.client())

local function run(file, args)
  return T.run(string.format("%s --journal %s/journal.jsonl %s %s", RUN, T.tmpdir(), file, args))
end

L.install_operators()

-- From a clean start (the lab may keep a bucket of an earlier run, which barman-cloud would refuse to archive to),
-- with one PostgreSQL instance (a final backup needs no more) and the tenant app the lab runs.
local function onboarded(t)
  L.forget_tenant(kc, t, true)
  local out, err, code = run("playbooks/onboard.lua", "app_image=registry.example/alaris/tenant-app:1 instances=1 "
    .. "smoke=no wait_timeout=180 tenant=" .. t)
  T.eq(code, 0, out .. err)
  return k8s.secret_data(assert(kc:get("v1", "Secret", "spaces-credentials", t))).ACCESS_KEY_ID
end

local function gone(t)
  local ns = kc:get("v1", "Namespace", t)
  return ns == nil or ns.metadata.deletionTimestamp ~= nil
end

-- The final backup runs for real (barman-cloud) and cannot complete in 2 s; deleting the Cluster afterwards (the
-- second run) stops it.
T.test("a final backup that does not complete deletes nothing", function()
  local t = "pb-off-stuck"
  local key = onboarded(t)
  local out, err, code = run("playbooks/offboard.lua", "wait_timeout=2 tenant=" .. t)
  T.eq(code, 1, out .. err)
  T.contains(out, "waiting for Backup " .. t .. "/pg-" .. t .. "-final-")
  T.ok(not gone(t), "the namespace is still there")
  T.ok(assert(digitalocean.client()):spaces_key(key), "the key is still there")
  local out2, err2, code2 = run("playbooks/offboard.lua", "final_backup=no purge_backups=yes tenant=" .. t)
  T.eq(code2, 0, out2 .. err2)
end)

T.test("offboard takes a final backup, deletes the namespace, revokes the key, keeps the bucket with the backup; "
  .. "purge_backups=yes deletes it", function()
  local t = "pb-off"
  local key = onboarded(t)
  local out, err, code = run("playbooks/offboard.lua", "wait_timeout=600 tenant=" .. t)
  T.eq(code, 0, out .. err)
  T.contains(out, "final-backup ... ok")
  T.ok(gone(t), "namespace deleted")
  T.eq(assert(digitalocean.client()):spaces_key(key), nil, "key revoked")
  local sc = assert(s3.client())
  local bucket = "alaris-" .. t .. "-backups"
  T.ok(sc:head_bucket(bucket), "bucket kept")
  local infos = 0
  for obj in sc:list(bucket) do
    if obj.key:match("/base/[^/]+/backup%.info$") then infos = infos + 1 end
  end
  T.eq(infos, 1, "the final backup (its backup.info) is in the kept bucket")
  local out2, err2, code2 = run("playbooks/offboard.lua", "final_backup=no purge_backups=yes tenant=" .. t)
  T.eq(code2, 0, out2 .. err2)
  local _, berr = sc:head_bucket(bucket)
  T.ok(berr, "bucket purged")
  T.eq(kc:get("coordination.k8s.io/v1", "Lease", "alaris-lock-" .. t, "default"), nil, "the Lease was released")
end)

T.test("offboard bad input: exit 2, one line", function()
  assert(kc:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-off-not-ours" } })
  for _, args in ipairs { "tenant=Bad", "tenant=kube-system", "tenant=pb-off-not-ours", "" } do
    local _, err, code = run("playbooks/offboard.lua", args)
    T.eq(code, 2, args .. ": " .. err)
    T.ok(not err:gsub("\n$", ""):find("\n"), err)
  end
  T.ok(kc:get("v1", "Namespace", "pb-off-not-ours"))
end)

T.run_all()
