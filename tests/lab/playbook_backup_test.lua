-- playbooks/backup.lua on the lab's CloudNativePG emulation with the real barman-cloud, on a tenant onboarded by
-- playbooks/onboard.lua (instances=1): a backup completes and is verified, and the test's own listing of the bucket
-- shows backup.info, the data and every WAL segment of the range that the run printed and the Backup's status names;
-- a segment or backup.info gone from the bucket fails the verification naming it; a store that refuses the backup's
-- writes fails the run with barman's message and keeps the failed Backup; a key that may only read stops the run
-- before any Backup with barman's archiver error; bad input exits 2 with one line.
local T = require "testing"
local L = require "playbook_lab"
local backup = require "alaris.backup"
local cnpg = require "alaris.cnpg"
local digitalocean = require "alaris.digitalocean"
local json = require "alaris.json"
local k8s = require "alaris.k8s"
local onboarding = require "alaris.onboarding"
local recovery = require "alaris.recovery"
local s3 = require "alaris.s3"

local kc = assert(k8s.client())
local sc = assert(s3.client()) -- the lab's root key: the test's own look at the bucket
local TENANT = "pb-backup"
local BUCKET = "alaris-" .. TENANT .. "-backups"
local FOLDER = "backups/" .. TENANT .. "/pg-" .. TENANT .. "/pg-" .. TENANT

-- The tenant deleted and its keys revoked (the lab keeps them across restarts); with `fresh`, waited for and its
-- bucket emptied too: a new Cluster refuses to archive into a server that holds WAL ("Expected empty archive").
local function forget(t, fresh)
  kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = t } }, { wait = fresh, timeout = 180 })
  local dc = assert(digitalocean.client())
  for _, key in ipairs(assert(dc:spaces_keys { name = "alaris-" .. t })) do
    if key.name == "alaris-" .. t then assert(dc:delete_spaces_key(key.access_key)) end
  end
  if fresh then onboarding.empty_and_delete_bucket(sc, "alaris-" .. t .. "-backups") end
end

local onboarded = false
local function tenant_ready()
  if onboarded then return TENANT end
  forget(TENANT, true)
  local out, err, code = L.run("operators", "wait_timeout=300")
  T.eq(code, 0, out .. err)
  out, err, code = L.run("onboard", "tenant=" .. TENANT .. " instances=1 smoke=no wait_timeout=300 "
    .. "app_image=registry.example/alaris/tenant-app:1")
  T.eq(code, 0, out .. err)
  onboarded = true
  return TENANT
end

-- key -> size of every object under prefix, listed by the test itself.
local function listing(prefix)
  local found = {}
  for obj in sc:list(BUCKET, { prefix = prefix }) do found[obj.key] = obj.size end
  return found
end

local function set_grant(permission)
  local id = k8s.secret_data(assert(kc:get("v1", "Secret", "spaces-credentials", TENANT))).ACCESS_KEY_ID
  assert(assert(digitalocean.client()):update_spaces_key(id, { name = "alaris-" .. TENANT,
    grants = { { bucket = BUCKET, permission = permission } } }))
end

local function backups_of(t)
  local names = {}
  for _, b in ipairs(assert(kc:list_all("postgresql.cnpg.io/v1", "Backup", t))) do names[b.metadata.name] = b end
  return names
end

T.test("bad input exits 2 with one line, and no Backup is created", function()
  assert(kc:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-backup-not-ours" } })
  assert(kc:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-backup-no-cluster",
    labels = { tenant = "pb-backup-no-cluster", ["app.kubernetes.io/managed-by"] = "alaris" } } })
  for _, case in ipairs {
    { "tenant=Bad", "not a DNS label" }, { "", "needs a name" }, { "tenant=kube-system", "system namespace" },
    { "tenant=pb-backup-not-ours", "not a tenant alaris made" }, { "tenant=pb-backup-none", "is not onboarded" },
    { "tenant=pb-backup-no-cluster", "has no Cluster pg-pb-backup-no-cluster" },
    { "tenant=pb-backup-none name=Not_A_Name", "not a Kubernetes object name" },
  } do
    local out, err, code = L.run("backup", case[1])
    T.eq(code, 2, case[1] .. ": " .. out .. err)
    T.contains(err, case[2], case[1])
    L.one_line(err)
  end
  T.eq(next(backups_of("pb-backup-no-cluster")), nil, "no Backup")
  kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-backup-not-ours" } })
  kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = "pb-backup-no-cluster" } })
end)

local taken -- the completed Backup of the next test, for the one after it

T.test("a backup completes and is verified in the bucket; the range printed is the Backup's", function()
  local t = tenant_ready()
  local out, err, code = L.run("backup", "tenant=" .. t .. " wait_timeout=480", "--output json")
  T.eq(code, 0, out .. err)
  local doc = assert(json.decode(out), out)
  T.eq(doc.steps[3].name, "verify")
  local facts = doc.steps[3].output
  local b = assert(kc:get("postgresql.cnpg.io/v1", "Backup", facts.backup, t))
  local st = b.status
  T.eq(st.phase, "completed")
  T.eq(b.spec.method, "plugin")
  T.eq(facts.id, st.backupId)
  T.eq(facts.begin_wal, st.beginWal)
  T.eq(facts.end_wal, st.endWal)
  T.contains(err, string.format("backup %s: ", st.backupId))
  T.contains(err, string.format("WAL %s to %s (", st.beginWal, st.endWal))

  -- the test's own listing: backup.info and the data, and the bytes the run reported
  local base = listing(FOLDER .. "/base/" .. st.backupId .. "/")
  T.ok(base[FOLDER .. "/base/" .. st.backupId .. "/backup.info"], "backup.info is in the bucket")
  T.ok(base[FOLDER .. "/base/" .. st.backupId .. "/data.tar.gz"], "data.tar.gz is in the bucket")
  local bytes = 0
  for _, size in pairs(base) do bytes = bytes + size end
  T.eq(facts.size, bytes)

  -- every segment from beginWal to endWal: on this small cluster they share one log file, so the segment numbers
  -- between them are all there as <name>.gz (the ObjectStore compresses WAL with gzip)
  T.eq(st.beginWal:sub(1, 16), st.endWal:sub(1, 16))
  local first, last = tonumber(st.beginWal:sub(17), 16), tonumber(st.endWal:sub(17), 16)
  local wals = listing(FOLDER .. "/wals/" .. st.beginWal:sub(1, 16) .. "/")
  for n = first, last do
    local key = string.format("%s/wals/%s/%s%08X.gz", FOLDER, st.beginWal:sub(1, 16), st.beginWal:sub(1, 16), n)
    T.ok(wals[key], "archived: " .. key)
  end
  T.eq(facts.wal_count, last - first + 1)
  T.eq(kc:get("coordination.k8s.io/v1", "Lease", "alaris-lock-" .. t, "default"), nil, "the Lease was released")
  T.eq(assert(backup.latest(kc, t)).metadata.name, facts.backup)
  taken = st
end)

T.test("verify names a WAL segment or a backup.info missing from the bucket", function()
  local st = assert(taken, "needs the backup of the previous test")
  local tenant_key = assert(backup.tenant_spaces(kc, TENANT))
  assert(backup.verify(tenant_key, nil, nil, st))
  local seg_key = string.format("%s/wals/%s/%s.gz", FOLDER, st.endWal:sub(1, 16), st.endWal)
  local info_key = string.format("%s/base/%s/backup.info", FOLDER, st.backupId)
  for _, case in ipairs { { seg_key, "not archived", st.endWal }, { info_key, "no backup.info at", info_key } } do
    local body = assert(sc:get(BUCKET, case[1]))
    assert(sc:delete(BUCKET, case[1]))
    local facts, err = backup.verify(tenant_key, nil, nil, st)
    assert(sc:put(BUCKET, case[1], body))
    T.eq(facts, nil, case[1])
    T.eq(err.code, "not_found")
    T.contains(err.message, case[2])
    T.contains(err.message, case[3])
  end
  assert(backup.verify(tenant_key, nil, nil, st))
end)

T.test("a store that refuses the backup's writes fails the run with barman's message; the Backup is kept", function()
  local t = tenant_ready()
  local before = backups_of(t)
  local rule = { target = "s3", method = "POST", path = "^/" .. BUCKET .. "/" .. FOLDER .. "/base/",
    status = 403, body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
      .. "<Message>Access Denied</Message></Error>" }
  local out, err, code = L.with_fault(rule, function() return L.run("backup", "tenant=" .. t .. " wait_timeout=480") end)
  T.eq(code, 1, out .. err)
  local created
  for name, b in pairs(backups_of(t)) do
    if not before[name] then created = b end
  end
  T.ok(created, "the failed Backup is kept")
  T.eq(created.status.phase, "failed")
  T.contains(created.status.error, "AccessDenied")
  T.contains(created.status.error, "CreateMultipartUpload")
  T.contains(out, created.status.error)
  T.contains(out, "the failed Backup " .. t .. "/" .. created.metadata.name .. " is kept as evidence")
  T.not_contains(out, "[3/4] verify ... ok")
end)

T.test("a key that may only read: the run stops before any Backup, with barman's archiver error", function()
  local t = tenant_ready()
  local before = backups_of(t)
  set_grant("read")
  local ok, problem = pcall(function()
    recovery.with_db(kc, t, "pg-" .. t, {}, recovery.switch_wal) -- a segment to archive, refused
    assert(cnpg.wait_for(kc, { apiVersion = "postgresql.cnpg.io/v1", kind = "Cluster",
      metadata = { name = "pg-" .. t, namespace = t } }, "archiving failing",
      function(c) return backup.archiving_failure(c) ~= nil end, 120))
    local out, err, code = L.run("backup", "tenant=" .. t)
    T.eq(code, 1, out .. err)
    T.contains(out, "WAL archiving of Cluster " .. t .. "/pg-" .. t .. " is failing")
    T.contains(out, "AccessDenied")
    T.contains(out, "no Backup was created")
    for name in pairs(backups_of(t)) do T.ok(before[name], "no new Backup: " .. name) end
  end)
  set_grant("readwrite")
  if not ok then error(problem, 0) end
  forget(t, false)
end)

T.run_all()
