-- alaris.platform: applying a set of cluster objects the way every platform playbook needs it. Server-side apply
-- (field manager `alaris`) that tells what it created, changed or left as it was (by resourceVersion), undoes its own
-- creations when it fails half way, and returns references a rollback can delete (never an object that existed
-- before); a dry-run plan per object (server-side dry-run apply and a diff of the fields, Secret values hidden);
-- waits through watches whose timeout names the object, its conditions and its latest Events. It builds no objects:
-- alaris.operators and the playbooks do.
local alaris = require "alaris"
local playbook = require "alaris.playbook"

local platform = {}

platform.FIELD_MANAGER = "alaris"

-- value, or raises err: for calls returning `nil, err`.
function platform.must(value, err, ...)
  if value == nil then error(err, 2) end
  return value, err, ...
end

-- What a lookup found (nil when nothing), raising its error: for calls returning `nil` or `nil, err`.
function platform.found(value, err)
  if err ~= nil then error(err, 2) end
  return value
end

local must = platform.must

-- ---- references ----

-- A journal-safe reference to an object: strings only.
function platform.ref(obj)
  return { apiVersion = obj.apiVersion, kind = obj.kind, name = obj.metadata.name,
    namespace = obj.metadata.namespace }
end

local function as_object(ref)
  return { apiVersion = ref.apiVersion, kind = ref.kind, metadata = { name = ref.name, namespace = ref.namespace } }
end

function platform.describe(ref)
  local name = ref.name or (ref.metadata and ref.metadata.name)
  local ns = ref.namespace or (ref.metadata and ref.metadata.namespace)
  return string.format("%s %s", ref.kind, ns and (ns .. "/" .. name) or name)
end

-- Namespaces first, then CustomResourceDefinitions, then the rest in the order given (as kubectl apply does).
local RANK = { Namespace = 1, CustomResourceDefinition = 2 }

function platform.ordered(objects)
  local indexed = {}
  for i, obj in ipairs(objects) do indexed[i] = { obj = obj, i = i } end
  table.sort(indexed, function(a, b)
    local ra, rb = RANK[a.obj.kind] or 3, RANK[b.obj.kind] or 3
    if ra ~= rb then return ra < rb end
    return a.i < b.i
  end)
  local out = {}
  for i, item in ipairs(indexed) do out[i] = item.obj end
  return out
end

-- The live object, or nil when it does not exist; other failures raise.
function platform.live(kc, obj)
  local live, err = kc:get(obj)
  if live then return live end
  if err and err.code == "not_found" then return nil end
  error(err, 0)
end

-- ---- deleting ----

local WAIT_GONE = { Namespace = true, CustomResourceDefinition = true }

-- Deletes the objects of `refs`, newest first; objects already gone are fine.
function platform.delete(kc, refs, opts)
  opts = opts or {}
  for i = #refs, 1, -1 do
    local ref = refs[i]
    local ok, err = kc:delete(as_object(ref), { wait = WAIT_GONE[ref.kind], timeout = opts.timeout or 180 })
    if not ok and err.code ~= "not_found" then error(err, 0) end
    if opts.log then opts.log.info("deleted " .. platform.describe(ref)) end
  end
end

-- ---- waiting ----

local function condition_summary(obj)
  local parts = {}
  for _, c in ipairs(obj and obj.status and obj.status.conditions or {}) do
    parts[#parts + 1] = string.format("%s=%s%s", c.type, c.status, c.reason and (" (" .. c.reason .. ")") or "")
  end
  return #parts > 0 and table.concat(parts, ", ") or "no conditions"
end

-- The latest Events about an object, newest last, as one line.
function platform.latest_events(kc, ref, n)
  local ns = ref.namespace or (ref.metadata and ref.metadata.namespace) or "default"
  local name = ref.name or ref.metadata.name
  local items = kc:list_all("v1", "Event", ns) or {}
  local mine = {}
  for _, ev in ipairs(items) do
    local io = ev.involvedObject or {}
    if io.name == name and io.kind == ref.kind then mine[#mine + 1] = ev end
  end
  local function at(ev) return ev.lastTimestamp or ev.eventTime or ev.metadata.creationTimestamp or "" end
  table.sort(mine, function(a, b) return at(a) < at(b) end)
  local lines = {}
  for i = math.max(1, #mine - (n or 3) + 1), #mine do
    lines[#lines + 1] = string.format("%s %s: %s", mine[i].type or "", mine[i].reason or "", mine[i].message or "")
  end
  return #lines > 0 and table.concat(lines, "; ") or "none"
end

-- Waits (a watch) for `condition` on the object; a timeout raises one line naming the object, its conditions and
-- its latest Events.
function platform.wait_condition(kc, ref, condition, timeout)
  local obj = as_object(ref.metadata and platform.ref(ref) or ref)
  local found, err = kc:wait(obj, condition, { timeout = timeout })
  if found then return found end
  if err.code ~= "timeout" then error(err, 0) end
  local last = err.object
  error(alaris.error("timeout", string.format("timed out after %ds waiting for %s to be %s; conditions: %s; "
    .. "latest events: %s", timeout, platform.describe(obj), condition, last and condition_summary(last)
    or "the object does not exist", platform.latest_events(kc, obj))), 0)
end

-- Every CustomResourceDefinition and Deployment among `objects` (in their order), waited for concurrently:
-- CRDs Established, Deployments Available.
function platform.wait_ready(kc, objects, timeout, kinds)
  kinds = kinds or { CustomResourceDefinition = "Established", Deployment = "Available" }
  local tasks = {}
  for _, obj in ipairs(objects) do
    local condition = kinds[obj.kind]
    if condition then
      tasks[#tasks + 1] = alaris.spawn(function() return platform.wait_condition(kc, obj, condition, timeout) end)
    end
  end
  for _, task in ipairs(tasks) do
    local done, value = alaris.wait(task)
    if not done then error(value, 0) end
  end
  return #tasks
end

-- ---- applying ----

local CONCURRENCY = 8 -- requests in flight while applying or planning a group of objects

-- The objects in groups that may go concurrently: the Namespaces, then the CRDs, then the rest.
local function groups(objects)
  local out, last = {}, nil
  for _, obj in ipairs(platform.ordered(objects)) do
    local rank = RANK[obj.kind] or 3
    if rank ~= last then out[#out + 1] = {}; last = rank end
    table.insert(out[#out], obj)
  end
  return out
end

local function apply_one(kc, obj, result, opts)
  local ref = platform.ref(obj)
  local live = platform.live(kc, obj)
  if not live then result.pending[#result.pending + 1] = ref end -- deleted on failure even if the answer is lost
  local applied = must(kc:apply(obj, { field_manager = platform.FIELD_MANAGER, force = opts.force }))
  if not live then
    result.created[#result.created + 1] = ref
  elseif applied.metadata.resourceVersion ~= live.metadata.resourceVersion then
    result.changed[#result.changed + 1] = ref
  else
    result.unchanged = result.unchanged + 1
  end
  if obj.kind == "CustomResourceDefinition" then
    platform.wait_condition(kc, obj, "Established", opts.timeout or 120)
  end
end

-- Applies the objects (Namespaces, then CRDs waited Established, then the rest; each group concurrently). Returns
-- {created = {ref...}, changed = {ref...}, unchanged = n}. When one fails, every object this call meant to create
-- is deleted again before the error is raised, so a failed step leaves nothing of its own behind.
function platform.apply(kc, objects, opts)
  opts = opts or {}
  local result = { created = {}, changed = {}, unchanged = 0, pending = {} }
  local ok, err = pcall(function()
    for _, group in ipairs(groups(objects)) do
      playbook.for_each(group, { concurrency = CONCURRENCY }, function(obj) apply_one(kc, obj, result, opts) end)
    end
  end)
  if not ok then
    pcall(platform.delete, kc, result.pending)
    error(err, 0)
  end
  result.pending = nil
  return result
end

-- One line saying what an apply did, for the log: "created 3, changed 0, unchanged 25" or "no change".
function platform.summary(result)
  if #result.created == 0 and #result.changed == 0 then
    return string.format("no change: %d objects already as wanted (no resourceVersion moved)", result.unchanged)
  end
  return string.format("created %d, changed %d, unchanged %d", #result.created, #result.changed, result.unchanged)
end

-- ---- planning: server-side dry run and a diff ----

local IGNORED = { ["metadata.managedFields"] = true, ["metadata.resourceVersion"] = true, ["metadata.uid"] = true,
  ["metadata.generation"] = true, ["metadata.creationTimestamp"] = true, status = true }

local function flatten(v, prefix, out)
  if IGNORED[prefix] then return out end
  if type(v) == "table" and next(v) ~= nil then
    for k, item in pairs(v) do
      local key = type(k) == "number" and ("[" .. k .. "]") or tostring(k)
      flatten(item, prefix == "" and key or (type(k) == "number" and prefix .. key or prefix .. "." .. key), out)
    end
  else
    out[prefix] = type(v) == "table" and "{}" or tostring(v)
  end
  return out
end

local function hidden(obj, path)
  return obj.kind == "Secret" and (path:match("^data%.") or path:match("^stringData%."))
end

local function short(s)
  return #s > 60 and (s:sub(1, 57) .. "...") or s
end

-- The changed fields between the live object and the dry-run result, as "~ path: old -> new" lines (sorted).
function platform.diff(obj, live, wanted)
  local before, after, lines = flatten(live, "", {}), flatten(wanted, "", {}), {}
  local paths = {}
  for path in pairs(before) do paths[path] = true end
  for path in pairs(after) do paths[path] = true end
  for path in pairs(paths) do
    local a, b = before[path], after[path]
    if a ~= b then
      local shown = hidden(obj, path) and "(value hidden)" or string.format("%s -> %s", short(a or "(none)"),
        short(b or "(none)"))
      lines[#lines + 1] = string.format("    ~ %s: %s", path, shown)
    end
  end
  table.sort(lines)
  return lines
end

-- What applying each object would do, one entry per object (and the diff lines under a change), from a
-- server-side dry-run apply. Changes nothing.
local function plan_one(kc, obj, opts)
  local lines, what = {}, platform.describe(obj)
  local live = platform.live(kc, obj)
  local wanted, err = kc:apply(obj, { field_manager = platform.FIELD_MANAGER, force = opts.force, dry_run = true })
  if not live then
    lines[1] = "create " .. what .. (wanted and "" or
      (" (server dry run not possible yet: " .. tostring(err.server_message or err.message or err) .. ")"))
  elseif not wanted then
    lines[1] = "change? " .. what .. " (server dry run refused: " .. tostring(err.message or err) .. ")"
  else
    local diff = platform.diff(obj, live, wanted)
    lines[1] = (#diff > 0 and "change " or "unchanged ") .. what
    for _, line in ipairs(diff) do lines[#lines + 1] = line end
  end
  return lines
end

function platform.plan(kc, objects, opts)
  opts = opts or {}
  local per_object = playbook.for_each(platform.ordered(objects), { concurrency = CONCURRENCY },
    function(obj) return plan_one(kc, obj, opts) end)
  local lines = {}
  for _, object_lines in ipairs(per_object) do
    for _, line in ipairs(object_lines) do lines[#lines + 1] = line end
  end
  return lines
end

return platform
