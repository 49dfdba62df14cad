-- Tears the platform down: shows every DOKS cluster, registry, bucket (with its object count), Spaces key and project
-- it would delete, and deletes them only with approve=yes; without it, it exits 0 having changed nothing. Buckets and
-- keys are those whose names start with the given prefixes (alaris- by default: the tenants' backup buckets and
-- keys). Deletions cannot be undone, so nothing here has a rollback; a second run finds nothing left to delete.
--   alaris-run playbooks/destroy.lua                 # the plan only
--   alaris-run playbooks/destroy.lua approve=yes     # delete
local digitalocean = require "alaris.digitalocean"
local platform = require "alaris.platform"
local playbook = require "alaris.playbook"
local s3 = require "alaris.s3"

local must, found = platform.must, platform.found

local function starts(s, prefix)
  return s:sub(1, #prefix) == prefix
end

local function count_objects(spaces, bucket)
  local n = 0
  for _ in spaces:list(bucket) do n = n + 1 end
  return n
end

-- What this run would delete, as journal-safe tables (names, ids and counts; never a secret).
local function inventory(vars)
  local dc, spaces = must(digitalocean.client()), must(s3.client())
  local inv = { buckets = {}, keys = {} }
  local cluster = found(dc:find_cluster(vars.cluster))
  if cluster then inv.cluster = { id = cluster.id, name = cluster.name, region = cluster.region } end
  local registry = found(dc:registry())
  if registry and registry.name == vars.registry then inv.registry = registry.name end
  for _, b in ipairs(must(spaces:list_buckets())) do
    if starts(b.name, vars.bucket_prefix) then
      inv.buckets[#inv.buckets + 1] = { name = b.name, objects = count_objects(spaces, b.name) }
    end
  end
  for _, k in ipairs(must(dc:spaces_keys())) do
    if starts(k.name, vars.key_prefix) then inv.keys[#inv.keys + 1] = { name = k.name, access_key = k.access_key } end
  end
  local project = found(dc:find_project(vars.project))
  if project and not project.is_default then inv.project = { id = project.id, name = project.name } end
  return inv
end

local function describe(inv)
  local lines = {}
  if inv.cluster then
    lines[#lines + 1] = string.format("delete DOKS cluster %s (%s, %s)", inv.cluster.name, inv.cluster.id, inv.cluster.region)
  end
  if inv.registry then lines[#lines + 1] = "delete container registry " .. inv.registry .. " and its images" end
  for _, b in ipairs(inv.buckets) do
    lines[#lines + 1] = string.format("delete Spaces bucket %s with its %d objects", b.name, b.objects)
  end
  for _, k in ipairs(inv.keys) do lines[#lines + 1] = string.format("revoke Spaces key %s (%s)", k.name, k.access_key) end
  if inv.project then lines[#lines + 1] = "delete project " .. inv.project.name .. " once empty" end
  if #lines == 0 then lines[1] = "nothing to delete" end
  return lines
end

local function approved(ctx)
  return ctx.vars.approve == "yes"
end

-- A deletion step: skipped (and says so) without approve=yes.
local function deletion(name, description, fn)
  return { name = name, description = description,
    plan = function() return { "would " .. description .. " (with approve=yes)" } end,
    run = function(ctx)
      if not approved(ctx) then return { deleted = 0, approved = false } end
      local n = fn(ctx, ctx.outputs.plan)
      ctx.log.info(string.format("%s: %d deleted", name, n))
      return { deleted = n, approved = true }
    end }
end

local function empty_bucket(spaces, bucket)
  local keys = {}
  for obj in spaces:list(bucket) do keys[#keys + 1] = obj.key end
  for _, key in ipairs(keys) do must(spaces:delete(bucket, key)) end
end

return playbook {
  name = "destroy",
  description = "Show, then (with approve=yes) delete the cluster, registry, tenant buckets and keys, and the project",
  vars = {
    approve = { default = "no", pattern = "^(yes|no)$", description = "yes: delete what the plan shows" },
    cluster = { default = "alaris", pattern = "^[a-z][a-z0-9-]{0,62}$", description = "the DOKS cluster's name" },
    registry = { default = "alaris", pattern = "^[a-z][a-z0-9-]{0,62}$",
      description = "the registry, deleted only when the account's registry has this name" },
    project = { default = "alaris", pattern = "^[A-Za-z0-9][A-Za-z0-9 _.-]{0,174}$", description = "the DO project" },
    bucket_prefix = { default = "alaris-", pattern = "^[a-z0-9][a-z0-9.-]{2,62}$",
      description = "buckets whose names start with this are deleted, with their objects" },
    key_prefix = { default = "alaris-", pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{2,62}$",
      description = "Spaces keys whose names start with this are revoked" },
  },
  steps = {
    { name = "plan",
      description = "every cluster, registry, bucket (with its object count), Spaces key and project to delete",
      plan = function(ctx) return describe(inventory(ctx.vars)) end,
      run = function(ctx)
        local inv = inventory(ctx.vars)
        for _, line in ipairs(describe(inv)) do io.stdout:write("  ", line, "\n") end
        if not approved(ctx) then io.stdout:write("  not approved: nothing deleted (run again with approve=yes)\n") end
        return inv
      end },

    deletion("spaces-keys", "revoke the Spaces keys", function(_, inv)
      local dc = must(digitalocean.client())
      for _, k in ipairs(inv.keys) do must(dc:delete_spaces_key(k.access_key)) end
      return #inv.keys
    end),

    deletion("buckets", "delete the buckets and their objects", function(_, inv)
      local spaces = must(s3.client())
      for _, b in ipairs(inv.buckets) do
        empty_bucket(spaces, b.name)
        must(spaces:delete_bucket(b.name))
      end
      return #inv.buckets
    end),

    deletion("cluster", "delete the DOKS cluster", function(_, inv)
      if not inv.cluster then return 0 end
      must(must(digitalocean.client()):delete_cluster(inv.cluster.id))
      return 1
    end),

    deletion("registry", "delete the container registry", function(_, inv)
      if not inv.registry then return 0 end
      must(must(digitalocean.client()):delete_registry())
      return 1
    end),

    deletion("project", "delete the project once it holds nothing", function(ctx, inv)
      if not inv.project then return 0 end
      local dc = must(digitalocean.client())
      local left = must(dc:project_resources(inv.project.id))
      if #left > 0 then
        ctx.log.warn("project kept: it still holds resources alaris did not delete", { count = #left })
        return 0
      end
      must(dc:delete_project(inv.project.id))
      return 1
    end),
  },
}
