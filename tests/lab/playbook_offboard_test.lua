-- playbooks/offboard.lua against the lab: a tenant onboarded (with the stand-in operator writing the Cluster's
-- status) is offboarded: namespace gone, Spaces key revoked, bucket kept, then purged with purge_backups=yes; a final
-- backup that does not complete deletes nothing; bad input exits 2.
local T = require "testing"
local digitalocean = require "alaris.digitalocean"
local k8s = require "alaris.k8s"
local s3 = require "alaris.s3"

local RUN = T.alaris_run
local kc = assert(k8s.client())

local function run(file, args)
  return T.run(string.format("%s --journal %s/journal.jsonl %s %s", RUN, T.tmpdir(), file, args))
end

local function onboarded(t)
  local pidfile = T.tmpdir() .. "/pid"
  os.execute(string.format("%s tests/lab/support/cnpg_ready.lua %s >/dev/null 2>&1 & echo $! > %s", RUN, t, pidfile))
  local out, err, code = run("playbooks/onboard.lua", "app_image=registry.example/alaris/tenant-app:1 smoke=no "
    .. "wait_timeout=60 tenant=" .. t)
  os.execute("kill " .. T.read_file(pidfile):match("%d+"))
  T.eq(code, 0, out .. err)
  return k8s.secret_data(assert(kc:get("v1", "Secret", "spaces-credentials", t))).ACCESS_KEY_ID
end

local function gone(t)
  local ns = kc:get("v1", "Namespace", t)
  return ns == nil or ns.metadata.deletionTimestamp ~= nil
end

T.test("a final backup that does not complete deletes nothing", function()
  local t = "pb-off-stuck"
  local key = onboarded(t)
  local out, err, code = run("playbooks/offboard.lua", "wait_timeout=2 tenant=" .. t)
  T.eq(code, 1, out .. err)
  T.contains(out, "waiting for Backup " .. t .. "/pg-" .. t .. "-final-")
  T.ok(not gone(t), "the namespace is still there")
  T.ok(assert(digitalocean.client()):spaces_key(key), "the key is still there")
  local _, _, code2 = run("playbooks/offboard.lua", "final_backup=no purge_backups=yes tenant=" .. t)
  T.eq(code2, 0)
end)

T.test("offboard deletes the namespace, revokes the key, keeps the bucket; purge_backups=yes deletes it", function()
  local t = "pb-off"
  local key = onboarded(t)
  local out, err, code = run("playbooks/offboard.lua", "final_backup=no tenant=" .. t)
  T.eq(code, 0, out .. err)
  T.ok(gone(t), "namespace deleted")
  T.eq(assert(digitalocean.client()):spaces_key(key), nil, "key revoked")
  local sc = assert(s3.client())
  T.ok(sc:head_bucket("alaris-" .. t .. "-backups"), "bucket kept")
  local out2, err2, code2 = run("playbooks/offboard.lua", "final_backup=no purge_backups=yes tenant=" .. t)
  T.eq(code2, 0, out2 .. err2)
  local _, berr = sc:head_bucket("alaris-" .. t .. "-backups")
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
