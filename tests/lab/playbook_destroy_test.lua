-- playbooks/destroy.lua on the lab: the plan names the cluster, each bucket with its object count, each Spaces key
-- and the project, and changes nothing without approve=yes (nor with --dry-run); approve=yes deletes exactly those,
-- never printing a key's secret; a second run finds nothing; bad input is refused.
local T = require "testing"
local L = require "playbook_lab"
local digitalocean = require "alaris.digitalocean"
local s3 = require "alaris.s3"

local dc = assert(digitalocean.client())
local spaces = assert(s3.client())

-- prefixes of this suite only, so the lab's other suites' buckets and keys are never in the plan
local ARGS = "cluster=dtest project=dtest-project registry=dtest-no-such-registry bucket_prefix=dtest- key_prefix=dtest-"

local function setup()
  assert(dc:create_cluster { name = "dtest", region = "nyc3", version = "latest",
    node_pools = { { name = "p", size = "s-2vcpu-4gb", count = 1 } } })
  local project = assert(dc:create_project { name = "dtest-project", purpose = "Service or API" })
  assert(dc:assign_resources(project.id, { digitalocean.urn("kubernetes", assert(dc:find_cluster("dtest")).id) }))
  assert(spaces:create_bucket("dtest-backups"))
  for i = 1, 3 do assert(spaces:put("dtest-backups", "wal/" .. i, "x")) end
  assert(spaces:create_bucket("dtest-empty"))
  if not spaces:head_bucket("keep-dtest") then assert(spaces:create_bucket("keep-dtest")) end -- a lab reused
  local key = assert(dc:create_spaces_key { name = "dtest-tenant",
    grants = { { bucket = "dtest-backups", permission = "readwrite" } } })
  return key
end

local function present()
  local keys = 0
  for _, k in ipairs(assert(dc:spaces_keys())) do if k.name == "dtest-tenant" then keys = keys + 1 end end
  return { cluster = dc:find_cluster("dtest") ~= nil, project = dc:find_project("dtest-project") ~= nil,
    backups = spaces:head_bucket("dtest-backups") == true, empty = spaces:head_bucket("dtest-empty") == true,
    keys = keys }
end

local key

T.test("bad input exits 2 with one line", function()
  for _, a in ipairs { "approve=maybe", "bucket_prefix=A", "cluster=Bad.Name" } do
    local out, err, code = L.run("destroy", a)
    T.eq(code, 2, a .. ": " .. out .. err)
    L.one_line(err)
  end
end)

T.test("without approve=yes it shows the plan and changes nothing; --dry-run too", function()
  key = setup()
  local all = { cluster = true, project = true, backups = true, empty = true, keys = 1 }
  T.eq(present(), all)
  local out, err, code = L.run("destroy", ARGS)
  T.eq(code, 0, out .. err)
  T.contains(out, "delete DOKS cluster dtest")
  T.contains(out, "delete Spaces bucket dtest-backups with its 3 objects")
  T.contains(out, "delete Spaces bucket dtest-empty with its 0 objects")
  T.contains(out, "revoke Spaces key dtest-tenant (" .. key.access_key .. ")")
  T.contains(out, "delete project dtest-project")
  T.contains(out, "nothing deleted")
  T.eq(present(), all)
  local dout, derr, dcode = L.run("destroy", ARGS .. " approve=yes", "--dry-run")
  T.eq(dcode, 0, dout .. derr)
  T.contains(dout, "delete Spaces bucket dtest-backups with its 3 objects")
  T.eq(present(), all)
end)

T.test("approve=yes deletes exactly what the plan showed; a second run finds nothing", function()
  local out, err, code = L.run("destroy", ARGS .. " approve=yes")
  T.eq(code, 0, out .. err)
  T.not_contains(out .. err, key.secret_key)
  T.eq(present(), { cluster = false, project = false, backups = false, empty = false, keys = 0 })
  T.eq(spaces:head_bucket("keep-dtest"), true, "a bucket outside the prefix is kept")
  local again, again_err, code2 = L.run("destroy", ARGS .. " approve=yes")
  T.eq(code2, 0, again .. again_err)
  T.contains(again, "nothing to delete")
end)

T.run_all()
