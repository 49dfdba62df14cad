-- alaris.k8s.watch: watch and wait for alaris.k8s clients. A watch is a stream of newline-delimited JSON events
-- read as it arrives (http's on_data) by a task of its own, handed to the loop that iterates it; BOOKMARK events
-- move the resourceVersion on without being shown; when the stream ends it is opened again from the last version
-- seen; a 410 Gone (the server forgot that version) lists again and reports what changed meanwhile, so the caller
-- misses nothing. wait() is a list followed by a watch of one object, never a polling loop.
-- It keeps no cache of objects besides the versions it needs to resume.
local alaris = require "alaris"
local json = require "alaris.json"

local watch = {}

local SERVER_TIMEOUT = 300 -- seconds a single watch request asks the server to keep the stream open
local MAX_QUEUED = 1000     -- events read ahead of the loop that iterates them; then reading waits (and http pauses)

local function key_of(obj)
  local md = obj.metadata or {}
  return (md.namespace or "") .. "/" .. (md.name or "")
end

-- The state shared by the reading task and the iterator.
local function new_stream(client, res, namespace, opts)
  return {
    client = client, res = res, namespace = namespace, opts = opts,
    queue = {}, head = 1, tail = 0, notifier = alaris.notifier(), drained = alaris.notifier(),
    seen = {}, -- key -> resourceVersion of what the caller was shown
    rv = opts.resource_version,
  }
end

local function push(stream, item)
  stream.tail = stream.tail + 1
  stream.queue[stream.tail] = item
  stream.notifier:notify()
end

-- The complete lines of what has arrived, and the unfinished rest (kept for the next chunk).
function watch.split_lines(buffer)
  local lines, consumed = {}, 1
  for line, next_at in buffer:gmatch("([^\n]*)\n()") do
    lines[#lines + 1] = line
    consumed = next_at
  end
  return lines, buffer:sub(consumed)
end

local function watch_path(stream)
  local client, res = stream.client, stream.res
  local base = client:path(res, stream.namespace)
  if res.namespaced and not stream.namespace then
    base = base:gsub("/namespaces/[^/]+/", "/")
  end
  return base
end

local function deliver(stream, ev_type, obj)
  obj.apiVersion, obj.kind = obj.apiVersion or stream.res.api_version, obj.kind or stream.res.kind
  local key = key_of(obj)
  if ev_type == "DELETED" then stream.seen[key] = nil else stream.seen[key] = obj.metadata.resourceVersion end
  push(stream, { type = ev_type, object = obj })
end

-- After a 410: list again, report the differences with what was shown, and continue from the list's version.
local function relist(stream)
  local items, md = stream.client:list_all(stream.res.api_version, stream.res.kind, stream.namespace, {
    label_selector = stream.opts.label_selector, field_selector = stream.opts.field_selector })
  if not items then return nil, md end
  local present = {}
  for _, obj in ipairs(items) do
    local key = key_of(obj)
    present[key] = true
    local before = stream.seen[key]
    if before == nil then
      deliver(stream, "ADDED", obj)
    elseif before ~= obj.metadata.resourceVersion then
      deliver(stream, "MODIFIED", obj)
    end
  end
  for key, _ in pairs(stream.seen) do
    if not present[key] then
      local ns, name = key:match("^(.-)/(.*)$")
      deliver(stream, "DELETED", { metadata = { namespace = ns ~= "" and ns or nil, name = name,
        resourceVersion = md.resourceVersion } })
    end
  end
  stream.rv = md.resourceVersion
  stream.relists = (stream.relists or 0) + 1
  return true
end

local function is_gone(status)
  return type(status) == "table" and (status.code == 410 or status.reason == "Expired" or status.reason == "Gone")
end

-- Handles one decoded event; returns "gone" for a 410 ERROR event, or raises for another ERROR.
local function on_event(stream, ev)
  local obj = ev.object
  if ev.type == "BOOKMARK" then
    stream.rv = obj and obj.metadata and obj.metadata.resourceVersion or stream.rv
    return nil
  end
  if ev.type == "ERROR" then
    if is_gone(obj) then return "gone" end
    local err = alaris.error("watch", "watch " .. stream.res.name .. ": " .. tostring(obj and obj.message))
    err.status, err.reason = obj and obj.code, obj and obj.reason
    error(err, 0)
  end
  if type(obj) == "table" and obj.metadata then
    stream.rv = obj.metadata.resourceVersion or stream.rv
    deliver(stream, ev.type, obj)
  end
  return nil
end

-- One watch request: events are parsed as chunks arrive. Returns "gone", "ended", or nil, err.
local function watch_once(stream, remaining)
  local opts = stream.opts
  local server_timeout = SERVER_TIMEOUT
  if remaining then server_timeout = math.max(1, math.min(server_timeout, math.ceil(remaining))) end
  local query = {
    watch = "true", allowWatchBookmarks = "true", resourceVersion = stream.rv,
    labelSelector = opts.label_selector, fieldSelector = opts.field_selector, timeoutSeconds = server_timeout,
  }
  local buffer, outcome = "", "ended"
  local resp, err = stream.client:request("GET", watch_path(stream), {
    query = query, idempotent = true, timeout = server_timeout + 30,
    on_data = function(chunk, r)
      if r.status >= 300 then
        buffer = buffer .. chunk
        return true
      end
      local lines
      lines, buffer = watch.split_lines(buffer .. chunk)
      for _, line in ipairs(lines) do
        if line:find("%S") then
          local ev = json.decode(line)
          if type(ev) == "table" and on_event(stream, ev) == "gone" then
            outcome = "gone"
            return false
          end
        end
      end
      while stream.tail - stream.head + 1 >= MAX_QUEUED do stream.drained:wait() end
      return true
    end,
  })
  if not resp then
    if err.status == 410 then return "gone" end
    return nil, err
  end
  if resp.status == 410 then return "gone" end
  if resp.status >= 300 then
    resp.body = buffer
    return nil, require("alaris.k8s").status_error("GET", watch_path(stream), resp)
  end
  return outcome
end

-- The reading task: watch requests one after another until the deadline; errors are handed to the iterator.
local function run_stream(stream)
  local deadline = stream.opts.timeout and (alaris.now() + stream.opts.timeout)
  local failures = 0
  while true do
    local remaining = deadline and (deadline - alaris.now())
    if remaining and remaining <= 0 then break end
    local outcome, err = watch_once(stream, remaining)
    if outcome == "gone" then
      local ok, lerr = relist(stream)
      if not ok then outcome, err = nil, lerr end
    end
    if outcome then
      failures = 0
    else
      failures = failures + 1
      if failures >= 5 or (err.status and err.status ~= 429 and err.status < 500) then
        push(stream, { error = err })
        return
      end
      alaris.sleep(math.min(0.2 * 2 ^ failures, 5))
    end
  end
  push(stream, { done = true })
end

local function start(stream)
  stream.task = alaris.spawn(function()
    local ok, err = pcall(run_stream, stream)
    if not ok then push(stream, { error = err }) end
  end)
end

local function stop(stream)
  if stream.task and not stream.task:done() then alaris.cancel(stream.task, "watch closed") end
  stream.task = nil
end

-- The iterator: the next event, waiting for one; nil at the end (timeout); raises the stream's error.
local function next_event(stream)
  while true do
    local item = stream.queue[stream.head]
    if item then
      stream.queue[stream.head] = nil
      stream.head = stream.head + 1
      stream.drained:notify()
      if item.done then
        stop(stream)
        return nil
      end
      if item.error then
        stop(stream)
        error(item.error, 0)
      end
      return item
    end
    if not stream.task then return nil end
    stream.notifier:wait()
  end
end

function watch.install(k8s, Client)
  --- client:watch(apiVersion, kind [, namespace [, {label_selector, field_selector, resource_version, timeout}]])
  --- -> iterator of events {type = "ADDED"|"MODIFIED"|"DELETED", object}, for a generic for (the watch stops when
  --- the loop ends, even by break). namespace nil: every namespace. Without resource_version, the objects that
  --- exist come first as ADDED. timeout: seconds after which the iteration ends (none: forever).
  function Client:watch(api_version, kind, namespace, opts)
    opts = opts or {}
    local res, err = self:resource(api_version, kind)
    if not res then return nil, err end
    local stream = new_stream(self, res, res.namespaced and namespace or nil, opts)
    start(stream)
    local closer = setmetatable({}, { __close = function() stop(stream) end })
    return function() return next_event(stream) end, stream, nil, closer
  end

  local function summary(obj)
    if obj == nil then return "the object does not exist" end
    local status = obj.status
    if type(status) ~= "table" then return "no status" end
    local parts = {}
    if status.phase then parts[#parts + 1] = "phase " .. tostring(status.phase) end
    for _, c in ipairs(type(status.conditions) == "table" and status.conditions or {}) do
      local s = tostring(c.type) .. "=" .. tostring(c.status)
      if c.reason and c.reason ~= "" then s = s .. " (" .. tostring(c.reason) .. ")" end
      parts[#parts + 1] = s
    end
    if #parts == 0 then return "no conditions" end
    return table.concat(parts, ", ")
  end

  local function predicate_of(cond)
    if type(cond) == "function" then return cond end
    if cond == "deleted" then return function(obj) return obj == nil end end
    if type(cond) ~= "string" then error("k8s: wait needs a condition name or a function", 3) end
    return function(obj)
      local c = obj and k8s.condition(obj, cond)
      return c ~= nil and c.status == "True"
    end
  end

  --- client:wait(manifest_or_ref, "Condition" | "deleted" | function(obj) -> bool [, {timeout = 300}])
  --- -> object (nil for "deleted") | nil, err (err.code "timeout", message with the last status seen)
  function Client:wait(ref, cond, opts)
    opts = opts or {}
    local predicate = predicate_of(cond)
    local res, name, namespace = self:locate(ref)
    if not res then return nil, name end
    if type(name) ~= "string" then error("k8s: wait needs metadata.name", 2) end
    local timeout = opts.timeout or 300
    local deadline = alaris.now() + timeout
    local selector = "metadata.name=" .. name
    local items, md = self:list_all(res.api_version, res.kind, namespace, { field_selector = selector })
    if not items then return nil, md end
    local last = items[1]
    if predicate(last) then return last or true end
    local what = string.format("%s %s%s", res.kind, namespace and (namespace .. "/") or "", name)
    for ev in self:watch(res.api_version, res.kind, namespace,
      { field_selector = selector, resource_version = md.resourceVersion, timeout = timeout }) do
      if ev.type == "DELETED" then last = nil else last = ev.object end
      if predicate(last) then return last or true end
      if alaris.now() >= deadline then break end
    end
    local label = type(cond) == "string" and cond or "the condition"
    local err = alaris.error("timeout", string.format("timed out after %gs waiting for %s to be %s; last seen: %s",
      timeout, what, label, summary(last)))
    err.object = last
    return nil, err
  end
end

return watch
