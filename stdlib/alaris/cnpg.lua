-- alaris.cnpg: waiting on CloudNativePG objects through watches (never a sleep loop), and the error a wait gives
-- when it times out: the object, its phase and conditions, and its latest Events, so a user sees why it is stuck
-- without running kubectl describe. It builds no manifests (alaris.tenant does) and applies nothing.
local alaris = require "alaris"
local k8s = require "alaris.k8s"

local cnpg = {}

cnpg.API = "postgresql.cnpg.io/v1"
cnpg.HEALTHY = "Cluster in healthy state"

local function ref(kind, namespace, name, api)
  return { apiVersion = api or cnpg.API, kind = kind, metadata = { name = name, namespace = namespace } }
end

-- "Ready=False (Reason: message)" for each condition, or "no conditions".
function cnpg.conditions_text(obj)
  local parts = {}
  for _, c in ipairs(obj and obj.status and obj.status.conditions or {}) do
    local why = c.reason and (" (" .. c.reason .. (c.message and (": " .. c.message) or "") .. ")") or ""
    parts[#parts + 1] = string.format("%s=%s%s", tostring(c.type), tostring(c.status), why)
  end
  return #parts > 0 and table.concat(parts, "; ") or "no conditions"
end

-- The `count` latest Events about the object, newest last, one line each; "no events" when there are none.
function cnpg.events_text(kc, kind, namespace, name, count)
  local events = kc:list_all("v1", "Event", namespace,
    { field_selector = "involvedObject.name=" .. name .. ",involvedObject.kind=" .. kind })
  if not events or #events == 0 then return "no events" end
  table.sort(events, function(a, b)
    return (a.lastTimestamp or a.eventTime or "") < (b.lastTimestamp or b.eventTime or "")
  end)
  local lines = {}
  for i = math.max(1, #events - (count or 5) + 1), #events do
    local e = events[i]
    lines[#lines + 1] = string.format("%s %s: %s", tostring(e.type), tostring(e.reason), tostring(e.message))
  end
  return table.concat(lines, " | ")
end

-- A timeout error value that names the object, what it was waited for, its conditions and its latest Events.
function cnpg.timeout_error(kc, obj_ref, what, timeout, last)
  local m = obj_ref.metadata
  local phase = last and last.status and last.status.phase
  local msg = string.format("timed out after %ss waiting for %s %s/%s to be %s; %s; conditions: %s; latest events: %s",
    tostring(timeout), obj_ref.kind, tostring(m.namespace), m.name, what,
    last and ("phase " .. tostring(phase or "none")) or "it does not exist", cnpg.conditions_text(last),
    cnpg.events_text(kc, obj_ref.kind, m.namespace, m.name))
  return alaris.error("timeout", msg, { object = last })
end

-- Waits, through a watch, until `done(obj)` is true; nil and cnpg.timeout_error after `timeout` seconds.
function cnpg.wait_for(kc, obj_ref, what, done, timeout)
  local last
  local obj, err = kc:wait(obj_ref, function(o)
    last = o
    return o ~= nil and done(o)
  end, { timeout = timeout })
  if obj then return obj end
  if err and err.code ~= "timeout" then return nil, err end
  return nil, cnpg.timeout_error(kc, obj_ref, what, timeout, last)
end

local function ready(obj)
  local c = k8s.condition(obj, "Ready")
  return c ~= nil and c.status == "True"
end

-- The Cluster's Ready condition True (CloudNativePG sets it with phase "Cluster in healthy state").
function cnpg.wait_ready(kc, namespace, name, timeout)
  return cnpg.wait_for(kc, ref("Cluster", namespace, name), "Ready", ready, timeout or 600)
end

-- A Backup's phase "completed" (nil and an error naming status.error when it failed).
function cnpg.wait_backup(kc, namespace, name, timeout)
  local failed
  local obj, err = cnpg.wait_for(kc, ref("Backup", namespace, name), "completed", function(o)
    local phase = o.status and o.status.phase
    if phase == "failed" then failed = o end
    return phase == "completed" or phase == "failed"
  end, timeout or 900)
  if not obj then return nil, err end
  if failed then
    return nil, alaris.error("failed", string.format("Backup %s/%s failed: %s", namespace, name,
      tostring(failed.status.error or "no error given")), { object = failed })
  end
  return obj
end

-- A Deployment's Available condition True with every replica updated.
function cnpg.wait_available(kc, namespace, name, timeout)
  return cnpg.wait_for(kc, ref("Deployment", namespace, name, "apps/v1"), "Available", function(o)
    local c = k8s.condition(o, "Available")
    return c ~= nil and c.status == "True" and (o.status.availableReplicas or 0) >= (o.spec.replicas or 1)
  end, timeout or 300)
end

-- A LoadBalancer Service's first ingress address (ip or hostname).
function cnpg.wait_lb_address(kc, namespace, name, timeout)
  local obj, err = cnpg.wait_for(kc, ref("Service", namespace, name, "v1"), "given a load balancer address",
    function(o)
      local ingress = o.status and o.status.loadBalancer and o.status.loadBalancer.ingress
      return ingress ~= nil and ingress[1] ~= nil and (ingress[1].ip or ingress[1].hostname) ~= nil
    end, timeout or 300)
  if not obj then return nil, err end
  local first = obj.status.loadBalancer.ingress[1]
  return first.ip or first.hostname, obj
end

return cnpg
