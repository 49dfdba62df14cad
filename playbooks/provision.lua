-- The platform's DigitalOcean resources: a DOKS cluster (found by name or created, waited until running), the
-- container registry, a project holding the cluster, and a kubeconfig built from the cluster's credentials (0600;
-- no doctl). A rollback removes only what this run created: a cluster, registry or project that existed is kept.
--   alaris-run playbooks/provision.lua cluster=alaris region=nyc3 kubeconfig=.alaris/kubeconfig
local digitalocean = require "alaris.digitalocean"
local files = require "alaris.files"
local json = require "alaris.json"
local platform = require "alaris.platform"
local playbook = require "alaris.playbook"
local yaml = require "alaris.yaml"

local must, found = platform.must, platform.found

local function do_client()
  return must(digitalocean.client())
end

-- The project's resource URNs, as a set.
local function project_urns(dc, project_id)
  local set = {}
  for _, r in ipairs(must(dc:project_resources(project_id))) do set[r.urn] = true end
  return set
end

-- ---- the kubeconfig file ----

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- true when the file at `path` is a kubeconfig for this cluster's API server (then it is left as it is).
local function kubeconfig_for(path, server)
  local text = read_file(path)
  local cfg = text and yaml.decode(text)
  for _, c in ipairs(type(cfg) == "table" and cfg.clusters or {}) do
    if c.cluster and c.cluster.server == server then return true end
  end
  return false
end

-- Written beside the target and renamed over it, created 0600, so no reader sees a partial or readable file.
local function write_private(path, text)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then must(files.mkdir(dir, tonumber("700", 8))) end
  local tmp = path .. ".tmp"
  os.remove(tmp)
  local f = must(files.open_private(tmp))
  f:write(text)
  must(files.fsync(f))
  f:close()
  must(os.rename(tmp, path))
end

local NAME = "^[a-z][a-z0-9-]{0,62}$"

return playbook {
  name = "provision",
  description = "A DOKS cluster, the container registry, a project holding them, and a kubeconfig for the cluster",
  vars = {
    cluster = { default = "alaris", pattern = NAME, description = "the DOKS cluster's name (kept if it exists)" },
    region = { default = "nyc3", pattern = "^[a-z]{3}[0-9]$", description = "DigitalOcean region" },
    version = { default = "latest", pattern = "^(latest|[0-9]+\\.[0-9]+(\\.[0-9]+-do\\.[0-9]+)?)$",
      description = "Kubernetes version: latest, 1.32 (newest 1.32.x) or an exact slug" },
    node_size = { default = "s-2vcpu-4gb", pattern = "^[a-z0-9-]+$", description = "the node pool's droplet size" },
    node_count = { type = "integer", default = 3, description = "nodes in the pool" },
    registry = { default = "alaris", pattern = NAME, description = "the container registry's name (one per account)" },
    project = { default = "alaris", pattern = "^[A-Za-z0-9][A-Za-z0-9 _.-]{0,174}$", description = "the DO project" },
    kubeconfig = { default = ".alaris/kubeconfig", pattern = "^[^[:space:]]+$",
      description = "where the cluster's kubeconfig is written (0600)" },
    wait_timeout = { type = "integer", default = 1800, description = "seconds to wait for the cluster to run" },
  },
  steps = {
    { name = "cluster",
      description = "the DOKS cluster, found by name or created",
      plan = function(ctx)
        local existing = found(do_client():find_cluster(ctx.vars.cluster))
        if existing then return { string.format("keep DOKS cluster %s (%s, %s)", existing.name, existing.id, existing.region) } end
        return { string.format("create DOKS cluster %s in %s: Kubernetes %s, %d x %s", ctx.vars.cluster,
          ctx.vars.region, ctx.vars.version, ctx.vars.node_count, ctx.vars.node_size) }
      end,
      run = function(ctx)
        local cluster, created = must(do_client():create_cluster {
          name = ctx.vars.cluster, region = ctx.vars.region, version = ctx.vars.version,
          node_pools = { { name = ctx.vars.cluster .. "-pool", size = ctx.vars.node_size, count = ctx.vars.node_count } },
        })
        ctx.log.info(created and "cluster created" or "cluster exists: kept", { id = cluster.id })
        return { id = cluster.id, created = created }
      end,
      rollback = function(ctx, out)
        if out.created then must(do_client():delete_cluster(out.id)) end
      end },

    { name = "cluster-running",
      description = "the cluster's state running",
      run = function(ctx)
        local cluster = must(do_client():wait_cluster_running(ctx.outputs.cluster.id, ctx.vars.wait_timeout))
        return { version = cluster.version, endpoint = cluster.endpoint }
      end },

    { name = "registry",
      description = "the account's container registry, found or created",
      plan = function(ctx)
        local existing = found(do_client():registry())
        if existing then return { "keep container registry " .. existing.name } end
        return { "create container registry " .. ctx.vars.registry .. " (basic tier)" }
      end,
      run = function(ctx)
        local registry, created = must(do_client():create_registry {
          name = ctx.vars.registry, subscription_tier_slug = "basic", region = ctx.vars.region })
        ctx.log.info(created and "registry created" or "registry exists: kept", { name = registry.name })
        return { name = registry.name, created = created }
      end,
      rollback = function(ctx, out)
        if out.created then must(do_client():delete_registry()) end
      end },

    { name = "project",
      description = "the project, found or created, holding the cluster",
      plan = function(ctx)
        local dc = do_client()
        local existing = found(dc:find_project(ctx.vars.project))
        local lines = { (existing and "keep" or "create") .. " project " .. ctx.vars.project }
        local cluster = found(dc:find_cluster(ctx.vars.cluster))
        if not cluster or not existing or not project_urns(dc, existing.id)[digitalocean.urn("kubernetes", cluster.id)] then
          lines[#lines + 1] = "assign the cluster " .. ctx.vars.cluster .. " to it"
        end
        return lines
      end,
      run = function(ctx)
        local dc = do_client()
        local project, created = must(dc:create_project { name = ctx.vars.project, purpose = "Service or API",
          description = "alaris: multi-tenant PostgreSQL" })
        local urn = digitalocean.urn("kubernetes", ctx.outputs.cluster.id)
        local assigned = json.array {}
        local ok, err = pcall(function()
          if not project_urns(dc, project.id)[urn] then
            must(dc:assign_resources(project.id, { urn }))
            assigned[1] = urn
          end
        end)
        if not ok then -- the step failed: its rollback will not run, so undo the project it made here
          if created then pcall(dc.delete_project, dc, project.id) end
          error(err, 0)
        end
        ctx.log.info(created and "project created" or "project exists: kept", { name = project.name })
        return { id = project.id, created = created, assigned = assigned }
      end,
      rollback = function(ctx, out)
        local dc = do_client()
        if #out.assigned > 0 and not out.created then must(dc:assign_resources("default", out.assigned)) end
        if out.created then
          if #out.assigned > 0 then must(dc:assign_resources("default", out.assigned)) end
          must(dc:delete_project(out.id))
        end
      end },

    { name = "kubeconfig",
      description = "a kubeconfig built from the cluster's credentials, written 0600",
      plan = function(ctx)
        local cluster = found(do_client():find_cluster(ctx.vars.cluster))
        if cluster and kubeconfig_for(ctx.vars.kubeconfig, cluster.endpoint) then
          return { "keep " .. ctx.vars.kubeconfig .. " (already for this cluster)" }
        end
        return { "write " .. ctx.vars.kubeconfig .. " (0600) from the cluster's credentials" }
      end,
      run = function(ctx)
        local path, dc = ctx.vars.kubeconfig, do_client()
        local cluster = must(dc:get_cluster(ctx.outputs.cluster.id))
        if kubeconfig_for(path, cluster.endpoint) then
          ctx.log.info("kubeconfig already for this cluster: kept", { path = path })
          return { path = path, written = false }
        end
        if read_file(path) then
          error(string.format("%s exists and is not a kubeconfig for cluster %s: give another kubeconfig=PATH",
            path, ctx.vars.cluster), 0)
        end
        write_private(path, yaml.encode((must(dc:cluster_credentials(cluster.id)))))
        ctx.log.info("kubeconfig written", { path = path })
        return { path = path, written = true }
      end,
      rollback = function(_, out)
        if out.written then os.remove(out.path) end
      end },
  },
}
