-- Account, container registry, projects, block storage volumes and Spaces access keys: helpers installed as
-- methods of an alaris.digitalocean client. Creations are idempotent by name where DO allows it (projects,
-- volumes per region, the registry); deletions treat "already gone" (404) as done. Spaces keys are not: DO lets
-- several keys share a name and shows a secret only once.
local alaris = require "alaris"
local json = require "alaris.json"

local resources = {}

local function required_string(value, what)
  if type(value) ~= "string" or value == "" then error("digitalocean: " .. what .. " (a string) is required", 3) end
  return value
end

-- body[name] of a successful answer, or nil, err (the answer comes last: field("key", dc:get(...))).
local function field(name, body, err)
  if not body then return nil, err end
  return body[name]
end

-- DELETE that counts a 404 as done.
local function delete_idempotent(self, path, query)
  local ok, err = self:delete(path, query)
  if ok or err.status == 404 then return true end
  return nil, err
end

-- GET that turns a 404 into "none" (nil without an error).
local function get_optional(self, path, key)
  local body, err = self:get(path)
  if body then return body[key] end
  if err.status == 404 then return nil end
  return nil, err
end

--- dc:account() -> account | nil, err
function resources.account(self)
  return field("account", self:get("/v2/account"))
end

-- ---- container registry ----

--- dc:registry() -> registry | nil (the account has none) | nil, err
function resources.registry(self)
  return get_optional(self, "/v2/registry", "registry")
end

--- dc:create_registry{name, subscription_tier_slug = "basic", region} -> registry, created | nil, err
--- An account has one registry: the existing one is returned when it has that name, an error otherwise.
function resources.create_registry(self, spec)
  if type(spec) ~= "table" then error("digitalocean: create_registry needs a table", 2) end
  required_string(spec.name, "registry name")
  local existing, err = self:registry()
  if err then return nil, err end
  if existing then
    if existing.name == spec.name then return existing, false end
    return self:fail("conflict", "the account already has a registry named '" .. existing.name .. "'",
      { registry = existing })
  end
  local body = {
    name = spec.name, subscription_tier_slug = spec.subscription_tier_slug or "basic", region = spec.region,
  }
  local created
  created, err = self:post("/v2/registry", body)
  if created then return created.registry, true end
  return nil, err
end

--- dc:delete_registry() -> true | nil, err
function resources.delete_registry(self)
  return delete_idempotent(self, "/v2/registry")
end

--- dc:docker_credentials([{read_write = false, expiry_seconds}]) -> Docker config {auths = {...}} | nil, err
--- Every auth value is registered as a secret.
function resources.docker_credentials(self, opts)
  opts = opts or {}
  local creds, err = self:get("/v2/registry/docker-credentials",
    { read_write = opts.read_write and true or nil, expiry_seconds = opts.expiry_seconds })
  if not creds then return nil, err end
  for _, entry in pairs(type(creds.auths) == "table" and creds.auths or {}) do
    if type(entry) == "table" and type(entry.auth) == "string" then alaris.secret(entry.auth) end
  end
  return creds
end

-- ---- projects ----

--- dc:projects() -> list | nil, err
function resources.projects(self)
  return self:list("/v2/projects", "projects")
end

--- dc:find_project(name) -> project | nil | nil, err
function resources.find_project(self, name)
  required_string(name, "project name")
  return self:find("/v2/projects", "projects", function(p) return p.name == name end)
end

--- dc:default_project() -> project | nil, err
function resources.default_project(self)
  return field("project", self:get("/v2/projects/default"))
end

--- dc:create_project{name, purpose, environment, description} -> project, created | nil, err
function resources.create_project(self, spec)
  if type(spec) ~= "table" then error("digitalocean: create_project needs a table", 2) end
  required_string(spec.name, "project name")
  local existing, err = self:find_project(spec.name)
  if existing then return existing, false end
  if err then return nil, err end
  local body = { name = spec.name, purpose = spec.purpose or "Service or API", environment = spec.environment,
                 description = spec.description }
  local created
  created, err = self:post("/v2/projects", body)
  if created then return created.project, true end
  if err.status == 409 then
    existing = self:find_project(spec.name)
    if existing then return existing, false end
  end
  return nil, err
end

local function project_path(id, suffix)
  return "/v2/projects/" .. required_string(id, "project id") .. (suffix or "")
end

--- dc:delete_project(id) -> true | nil, err (DO refuses to delete a project that still holds resources)
function resources.delete_project(self, id)
  return delete_idempotent(self, project_path(id))
end

--- dc:project_resources(id_or_"default") -> list of {urn, assigned_at, status, links} | nil, err
function resources.project_resources(self, id)
  return self:list(project_path(id, "/resources"), "resources")
end

--- dc:assign_resources(id_or_"default", {urn, ...}) -> resources | nil, err (err.resources lists each outcome
--- when DO did not assign all of them)
function resources.assign_resources(self, id, urns)
  if type(urns) ~= "table" then error("digitalocean: assign_resources needs a list of URNs", 2) end
  local body, err = self:post(project_path(id, "/resources"), { resources = json.array(urns) })
  if not body then return nil, err end
  local refused = {}
  for _, r in ipairs(body.resources or {}) do
    if r.status ~= "assigned" then refused[#refused + 1] = tostring(r.urn) .. " (" .. tostring(r.status) .. ")" end
  end
  if #refused > 0 then
    return self:fail("not_assigned", "not assigned to project " .. id .. ": " .. table.concat(refused, ", "),
      { resources = body.resources })
  end
  return body.resources
end

-- ---- volumes ----

--- dc:volumes([{name, region}]) -> list | nil, err
function resources.volumes(self, filter)
  filter = filter or {}
  return self:list("/v2/volumes", "volumes", { query = { name = filter.name, region = filter.region } })
end

--- dc:find_volume(name, region) -> volume | nil | nil, err
function resources.find_volume(self, name, region)
  required_string(name, "volume name")
  local list, err = self:get("/v2/volumes", { name = name, region = region })
  if not list then return nil, err end
  return (list.volumes or {})[1]
end

--- dc:create_volume{name, region, size_gigabytes, description, filesystem_type, tags, ...} -> volume, created
--- | nil, err. A volume of that name in that region is returned as it is (DO answers 409 for it).
function resources.create_volume(self, spec)
  if type(spec) ~= "table" then error("digitalocean: create_volume needs a table", 2) end
  required_string(spec.name, "volume name")
  local created, err = self:post("/v2/volumes", spec)
  if created then return created.volume, true end
  if err.status == 409 or err.status == 422 then -- the lab (and DO) answer 409 for a taken name; 422 is checked too
    local existing, ferr = self:find_volume(spec.name, spec.region)
    if existing then return existing, false end
    if ferr then return nil, ferr end
  end
  return nil, err
end

--- dc:delete_volume(id) -> true | nil, err
function resources.delete_volume(self, id)
  return delete_idempotent(self, "/v2/volumes/" .. required_string(id, "volume id"))
end

-- ---- Spaces access keys ----

local function check_grants(grants)
  if type(grants) ~= "table" then error("digitalocean: grants must be a list of {bucket, permission}", 4) end
  local list = json.array {}
  for i, g in ipairs(grants) do
    if type(g) ~= "table" or type(g.permission) ~= "string" then
      error("digitalocean: grants[" .. i .. "] must be {bucket = name, permission = read|readwrite|fullaccess}", 4)
    end
    list[i] = { bucket = g.bucket or "", permission = g.permission }
  end
  return list
end

--- dc:create_spaces_key{name, grants = {{bucket, permission}}} -> key (with secret_key, registered as a secret;
--- DO shows it only here) | nil, err
function resources.create_spaces_key(self, spec)
  if type(spec) ~= "table" then error("digitalocean: create_spaces_key needs a table", 2) end
  required_string(spec.name, "key name")
  local body, err = self:post("/v2/spaces/keys", { name = spec.name, grants = check_grants(spec.grants or {}) })
  if not body then return nil, err end
  if type(body.key) == "table" and type(body.key.secret_key) == "string" then alaris.secret(body.key.secret_key) end
  return body.key
end

--- dc:spaces_keys([{name, bucket, permission}]) -> list (without secrets) | nil, err
function resources.spaces_keys(self, filter)
  filter = filter or {}
  return self:list("/v2/spaces/keys", "keys",
    { query = { name = filter.name, bucket = filter.bucket, permission = filter.permission } })
end

local function key_path(access_key)
  return "/v2/spaces/keys/" .. required_string(access_key, "access key")
end

--- dc:spaces_key(access_key) -> key | nil (no such key) | nil, err
function resources.spaces_key(self, access_key)
  return get_optional(self, key_path(access_key), "key")
end

--- dc:update_spaces_key(access_key, {name, grants}) -> key | nil, err
function resources.update_spaces_key(self, access_key, spec)
  local body = { name = spec.name, grants = spec.grants and check_grants(spec.grants) or nil }
  return field("key", self:put(key_path(access_key), body))
end

--- dc:delete_spaces_key(access_key) -> true | nil, err
function resources.delete_spaces_key(self, access_key)
  return delete_idempotent(self, key_path(access_key))
end

return resources
