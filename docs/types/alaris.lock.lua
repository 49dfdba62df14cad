---@meta
-- LuaLS type stubs for `alaris.lock` (stdlib/alaris/lock.lua): a Lease per tenant so runs do not overlap.
-- For editors only; tests/types_test.lua checks it against the real module.

---A held lock: `l:held()`, `l:release()`; `local l <close> = ...` releases it at the end of the scope.
---@class alaris.lock.Lock
---@field tenant string
---@field namespace string where the Lease is
---@field name string `alaris-lock-<tenant>`
---@field identity string the holderIdentity written
---@field duration integer leaseDurationSeconds
---@field lease table the Lease as last written
---@field lost? alaris.Error set when renewal found the Lease no longer ours
---@field held fun(self: alaris.lock.Lock): boolean whether it is still ours as far as this run knows
---@field release fun(self: alaris.lock.Lock): boolean|nil, alaris.Error? deletes the Lease if still ours; `false, err` when it is not

---@class alaris.lock.Options
---@field namespace? string where the Lease lives (default `default`)
---@field duration? integer seconds the Lease stays ours without renewal (default 60)
---@field renew_every? number seconds between renewals (default duration / 3)
---@field wait? number seconds to keep trying while another run holds it (default 0)
---@field identity? string the holderIdentity (default `lock.identity()`)
---@field on_lost? fun(err: alaris.Error) called when renewal finds the Lease taken

---@class alaris.lock
---@field DEFAULT_NAMESPACE string `default`
---@field DEFAULT_DURATION integer 60
local lock = {}

---Acquires the tenant's lock: creates the Lease, or takes over an expired one (optimistic concurrency on its
---resourceVersion), then renews it in a background task. `nil, err` with `err.code == "conflict"`, `err.holder` and
---a message naming the holder when another run holds it; `nil, err` for API failures.
---@param kc alaris.k8s.Client
---@param tenant string
---@param opts? alaris.lock.Options
---@return alaris.lock.Lock|nil
---@return alaris.Error|nil
function lock.acquire(kc, tenant, opts) end

---`<host> pid <pid> started <run start, UTC> #<random>`.
---@return string
function lock.identity() end

---Whether a Lease is free: no holder, or renewTime (acquireTime) + leaseDurationSeconds before `now`.
---@param lease table
---@param now? number seconds since the epoch (default: now)
---@return boolean
function lock.expired(lease, now) end

---Seconds since the epoch of an RFC 3339 time with a zone (MicroTime included), or nil.
---@param s string
---@return number|nil
function lock.parse_time(s) end

return lock
