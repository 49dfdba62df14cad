-- alaris.lock: one run at a time per tenant, through a coordination.k8s.io/v1 Lease `alaris-lock-<tenant>` in a
-- namespace that exists before the tenant's does and outlives it (default `default`), so onboard and offboard lock
-- the same object. Acquiring creates the Lease or takes over an expired one with the resourceVersion it read, so two
-- racing runs cannot both win; a task on the engine's loop renews it while held; releasing deletes it only if it is
-- still ours (a delete precondition on its resourceVersion). Expiry is judged by this machine's clock against the
-- Lease's renewTime: clocks more than a lease duration apart defeat it, as they defeat client-go's leader election.
-- It is advisory: it stops alaris runs from overlapping, not kubectl.
local alaris = require "alaris"
local crypto = require "alaris.crypto"

local lock = {}

lock.DEFAULT_NAMESPACE = "default"
lock.DEFAULT_DURATION = 60 -- seconds a Lease stays ours without renewal

local API = "coordination.k8s.io/v1"

local function invalid(msg)
  error(alaris.error("invalid", msg, { usage = true }), 0)
end

-- ---- time: Kubernetes MicroTime, UTC ----

local function microtime(t)
  local seconds = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%06dZ", math.floor((t - seconds) * 1e6))
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Seconds since the epoch of an RFC 3339 time (with a zone), or nil.
function lock.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, zone = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local offset = 0
  if zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "-" and -1 or 1)
  end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) + (tonumber("0" .. frac) or 0) - offset
end

-- ---- who we are ----

local STARTED = alaris.time()

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname") or io.open("/etc/hostname")
  local name = f and f:read("l")
  if f then f:close() end
  return (name and name ~= "") and name or os.getenv("HOSTNAME") or "unknown-host"
end

local function pid()
  local f = io.open("/proc/self/stat")
  local stat = f and f:read("l")
  if f then f:close() end
  return stat and stat:match("^(%d+)") or "?"
end

-- host, pid and the run's start time, and a few random characters so two locks of one run differ.
function lock.identity()
  return string.format("%s pid %s started %s #%s", hostname(), pid(), os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(STARTED)),
    crypto.hex(crypto.random_bytes(3)))
end

-- ---- the Lease ----

local function lease_path(namespace, name)
  return string.format("/apis/%s/namespaces/%s/leases/%s", API, namespace, name)
end

local function expires_at(lease)
  local spec = lease.spec or {}
  local renewed = lock.parse_time(spec.renewTime) or lock.parse_time(spec.acquireTime)
  if not renewed or not spec.holderIdentity or spec.holderIdentity == "" then return nil end
  return renewed + (spec.leaseDurationSeconds or 0)
end

-- A Lease nobody holds: no holder, or its renewTime + leaseDurationSeconds has passed.
function lock.expired(lease, now)
  local at = expires_at(lease)
  return at == nil or at < (now or alaris.time())
end

local function held_message(tenant, lease)
  local spec, at = lease.spec or {}, expires_at(lease)
  return string.format("tenant %s is locked by %s (since %s, until %s unless renewed; Lease %s/%s)", tenant,
    tostring(spec.holderIdentity), tostring(spec.acquireTime), at and microtime(at) or "?",
    lease.metadata.namespace, lease.metadata.name)
end

local Lock = {}
Lock.__index = Lock

local function lease_object(self, previous, now)
  local spec = (previous and previous.spec) or {}
  local ours = previous and spec.holderIdentity == self.identity
  return {
    apiVersion = API, kind = "Lease",
    metadata = { name = self.name, namespace = self.namespace, labels = { ["app.kubernetes.io/managed-by"] = "alaris",
      tenant = self.tenant }, resourceVersion = previous and previous.metadata.resourceVersion or nil },
    spec = {
      holderIdentity = self.identity, leaseDurationSeconds = self.duration,
      acquireTime = ours and spec.acquireTime or microtime(now), renewTime = microtime(now),
      leaseTransitions = (spec.leaseTransitions or 0) + ((previous and not ours) and 1 or 0),
    },
  }
end

-- One attempt: true when the Lease is ours now; false, the Lease when another holds it; nil, err on failure.
local function try_acquire(self)
  local now = alaris.time()
  local created, err = self.kc:create(lease_object(self, nil, now))
  if created then self.lease = created; return true end
  if err.code ~= "conflict" then return nil, err end
  local current, gerr = self.kc:get(API, "Lease", self.name, self.namespace)
  if not current then
    if gerr.code == "not_found" then return false end -- released meanwhile: try again
    return nil, gerr
  end
  if (current.spec or {}).holderIdentity ~= self.identity and not lock.expired(current, now) then
    return false, current
  end
  local taken, rerr = self.kc:replace(lease_object(self, current, now))
  if taken then self.lease = taken; return true end
  if rerr.code == "conflict" then return false end -- someone else changed it first: look again
  return nil, rerr
end

-- The background renewal: every `renew_every` seconds, write a new renewTime with the last resourceVersion. A
-- conflict means someone else wrote the Lease, so it is no longer ours; other failures are retried until the Lease
-- would have expired.
local function renew_once(self)
  local now = alaris.time()
  local renewed, err = self.kc:replace(lease_object(self, self.lease, now))
  if renewed then self.lease = renewed; return true end
  if err.code == "conflict" or err.code == "not_found" then return false, err end
  if lock.expired(self.lease, now) then return false, err end
  return true -- a passing failure: the next round tries again
end

local function renewer(self)
  while true do
    alaris.sleep(self.renew_every)
    local ok, err = renew_once(self)
    if not ok then
      self.lost = alaris.error("conflict", string.format("lost the lock of tenant %s: %s", self.tenant, tostring(err)))
      if self.on_lost then self.on_lost(self.lost) end
      return
    end
  end
end

-- opts: namespace (default "default"), duration (seconds, default 60), renew_every (default duration / 3),
-- wait (seconds to keep trying while another holds it; default 0), identity, on_lost(err).
-- Returns the lock, or nil and an error: code "conflict" with err.holder and a message naming who holds it.
function lock.acquire(kc, tenant, opts)
  opts = opts or {}
  if type(tenant) ~= "string" or not tenant:match("^[a-z0-9][a-z0-9-]*$") then
    invalid(string.format("lock: %q is not a tenant name", tostring(tenant)))
  end
  local duration = math.tointeger(opts.duration or lock.DEFAULT_DURATION)
  if not duration or duration < 1 then invalid("lock: duration must be a whole number of seconds, at least 1") end
  local self = setmetatable({
    kc = kc, tenant = tenant, namespace = opts.namespace or lock.DEFAULT_NAMESPACE, name = "alaris-lock-" .. tenant,
    duration = duration, renew_every = opts.renew_every or duration / 3, identity = opts.identity or lock.identity(),
    on_lost = opts.on_lost,
  }, Lock)
  local deadline = alaris.now() + (opts.wait or 0)
  while true do
    local ok, holder = try_acquire(self)
    if ok then
      self.renewal = alaris.spawn(renewer, self)
      return self
    end
    if ok == nil then return nil, holder end
    if holder and alaris.now() >= deadline then
      return nil, alaris.error("conflict", held_message(tenant, holder),
        { holder = holder.spec.holderIdentity, lease = holder })
    end
    if holder then alaris.sleep(math.min(1, math.max(0, deadline - alaris.now()))) end
  end
end

-- Whether the Lease is still ours as far as this run knows (renewal has not failed, not released).
function Lock:held()
  return not self.released and not self.lost
end

local function stop_renewal(self)
  if self.renewal and not self.renewal:done() then
    self.renewal:cancel("released")
    pcall(alaris.wait, self.renewal)
  end
end

-- Deletes the Lease if it is still ours (precondition: the resourceVersion we last wrote). true when it was ours
-- and is gone, or was already gone; false, err when someone else holds it now. Idempotent.
function Lock:release()
  if self.released then return true end
  stop_renewal(self)
  self.released = true
  local body = { apiVersion = "v1", kind = "DeleteOptions",
    preconditions = { uid = self.lease.metadata.uid, resourceVersion = self.lease.metadata.resourceVersion } }
  local ok, err = self.kc:request("DELETE", lease_path(self.namespace, self.name), { body = body, idempotent = true })
  if not ok and err.code == "conflict" then
    -- A renewal stopped while its PUT was in flight may have written the Lease after the version we last saw: if it
    -- still names us, it is ours at its current version.
    local current = self.kc:get(API, "Lease", self.name, self.namespace)
    if current and (current.spec or {}).holderIdentity == self.identity then
      body.preconditions.resourceVersion = current.metadata.resourceVersion
      ok, err = self.kc:request("DELETE", lease_path(self.namespace, self.name), { body = body, idempotent = true })
    end
  end
  if ok or err.code == "not_found" then return true end
  if err.code == "conflict" then
    return false, alaris.error("conflict", string.format("not releasing the lock of tenant %s: it is no longer ours (%s)",
      self.tenant, tostring(err)))
  end
  return nil, err
end

Lock.__close = function(self) self:release() end

return lock
