-- alaris.lock against the lab's Kubernetes API: a Lease per tenant, acquired by one run at a time (also when runs
-- race), taken over once expired, kept by renewal, released only while ours.
local T = require "testing"
local alaris = require "alaris"
local k8s = require "alaris.k8s"
local lock = require "alaris.lock"

local RUN = string.format("%x%04x", os.time(), math.random(0, 0xffff))
local NS = "locktest-" .. RUN

local function must(value, err)
  if value == nil then error("unexpected failure: " .. tostring(err), 2) end
  return value
end

local kc = must(k8s.client())
must(kc:apply { apiVersion = "v1", kind = "Namespace", metadata = { name = NS } })

local function lease_of(tenant)
  return kc:get("coordination.k8s.io/v1", "Lease", "alaris-lock-" .. tenant, NS)
end

local function acquire(tenant, opts)
  opts = opts or {}
  opts.namespace = NS
  return lock.acquire(kc, tenant, opts)
end

T.test("acquire creates alaris-lock-<tenant> holding host, pid and start time; release deletes it", function()
  local l = must(acquire("t-create"))
  local lease = must(lease_of("t-create"))
  T.eq(lease.spec.holderIdentity, l.identity)
  T.ok(l.identity:match("^%S+ pid %d+ started %d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ #%x+$"), l.identity)
  T.eq(lease.spec.leaseDurationSeconds, 60)
  T.ok(math.abs(lock.parse_time(lease.spec.renewTime) - alaris.time()) < 5, "renewTime is now: " .. lease.spec.renewTime)
  T.eq(lease.metadata.labels.tenant, "t-create")
  T.ok(l:held())
  T.eq(l:release(), true)
  T.ok(not l:held())
  local _, err = lease_of("t-create")
  T.eq(err.code, "not_found")
  T.eq(l:release(), true, "release is idempotent")
end)

T.test("a second acquirer is refused with a message naming the holder", function()
  local a = must(acquire("t-two"))
  local b, err = acquire("t-two", { identity = "other-host pid 42 started 2026-12-03T10:00:00Z" })
  T.eq(b, nil)
  T.eq(err.code, "conflict")
  T.eq(err.holder, a.identity)
  T.contains(tostring(err), "tenant t-two is locked by " .. a.identity)
  T.contains(tostring(err), "Lease " .. NS .. "/alaris-lock-t-two")
  T.eq(must(lease_of("t-two")).spec.holderIdentity, a.identity, "the refused run changed nothing")
  must(a:release())
  local c = must(acquire("t-two"))
  c:release()
end)

T.test("racing acquirers: exactly one wins, for a new Lease and for the takeover of an expired one", function()
  local function race(tenant, n)
    local tasks, winners = {}, {}
    for i = 1, n do
      tasks[i] = alaris.spawn(function()
        local l = acquire(tenant, { identity = "racer-" .. i, renew_every = 100 })
        if l then winners[#winners + 1] = l end
      end)
    end
    for _, t in ipairs(tasks) do assert(alaris.wait(t)) end
    return winners
  end
  local winners = race("t-race", 6)
  T.eq(#winners, 1, "winners of a new Lease")
  T.eq(must(lease_of("t-race")).spec.holderIdentity, winners[1].identity)
  -- make it expired, as a run that crashed an hour ago leaves it
  local lease = must(lease_of("t-race"))
  winners[1].renewal:cancel("stop")
  lease.spec.renewTime = "2026-01-01T00:00:00.000000Z"
  lease.spec.holderIdentity = "crashed-run"
  must(kc:replace(lease))
  winners = race("t-race", 6)
  T.eq(#winners, 1, "winners of the takeover")
  lease = must(lease_of("t-race"))
  T.eq(lease.spec.holderIdentity, winners[1].identity)
  T.eq(lease.spec.leaseTransitions, 1)
  winners[1]:release()
end)

T.test("an expired Lease is taken over; the old holder's release then leaves the new holder's Lease alone", function()
  local old = must(acquire("t-expire", { duration = 1, renew_every = 100 }))
  local refused = acquire("t-expire", { identity = "early" })
  T.eq(refused, nil, "not yet expired")
  alaris.sleep(1.5)
  local new = must(acquire("t-expire", { identity = "late" }))
  T.eq(must(lease_of("t-expire")).spec.holderIdentity, "late")
  local ok, err = old:release()
  T.eq(ok, false)
  T.contains(tostring(err), "no longer ours")
  T.eq(must(lease_of("t-expire")).spec.holderIdentity, "late", "still the new holder's")
  T.eq(new:release(), true)
end)

-- Seen on a loaded machine: a renewal's PUT reached the server while release was stopping the renewal task, so the
-- DELETE carried the resourceVersion before it, got 409, and the Lease stayed until it expired (the next run on the
-- tenant exited 2 naming this one as the holder).
T.test("release deletes the Lease when its own renewal wrote it after the version the holder last saw", function()
  local l = must(acquire("t-renewed", { renew_every = 100 }))
  local lease = must(lease_of("t-renewed"))
  lease.metadata.annotations = { ["test/written-by"] = "the holder's renewal, its answer never read" }
  must(kc:replace(lease))
  T.eq(l:release(), true)
  local _, err = lease_of("t-renewed")
  T.eq(err and err.code, "not_found", "the Lease is gone")
end)

T.test("renewal keeps the Lease past its duration; losing it is noticed", function()
  local lost
  local l = must(acquire("t-renew", { duration = 1, renew_every = 0.3, on_lost = function(e) lost = e end }))
  local first = lock.parse_time(must(lease_of("t-renew")).spec.renewTime)
  alaris.sleep(2.2)
  local b = acquire("t-renew", { identity = "intruder" })
  T.eq(b, nil, "still held after twice its duration")
  local lease = must(lease_of("t-renew"))
  T.ok(lock.parse_time(lease.spec.renewTime) > first + 1, "renewTime moved on")
  T.ok(l:held())
  -- another writer takes it (as an expired takeover would): the next renewal sees a conflict
  lease.spec.holderIdentity = "intruder"
  must(kc:replace(lease))
  alaris.sleep(0.8)
  T.ok(not l:held(), "the lock knows it is lost")
  T.ok(lost and lost.code == "conflict", "on_lost was called")
  T.eq(must(lease_of("t-renew")).spec.holderIdentity, "intruder", "the renewal did not overwrite the new holder")
  T.eq((l:release()), false)
  must(kc:delete(lease))
end)

T.test("wait: a second run gets the lock once the first releases it; <close> releases", function()
  local first = must(acquire("t-wait"))
  alaris.spawn(function()
    alaris.sleep(0.5)
    first:release()
  end)
  local started = alaris.now()
  do
    local second <close> = must(acquire("t-wait", { identity = "waiter", wait = 5 }))
    T.ok(alaris.now() - started >= 0.4, "it waited")
    T.eq(must(lease_of("t-wait")).spec.holderIdentity, "waiter")
  end
  local _, err = lease_of("t-wait")
  T.eq(err.code, "not_found", "released by <close>")
end)

T.test("bad input: a tenant name that is no DNS label, a duration that is no whole number", function()
  T.raises(function() acquire("Not A Tenant") end, "is not a tenant name")
  T.raises(function() acquire("t-bad", { duration = 0.5 }) end, "duration")
  T.eq(lock.parse_time("1970-01-01T00:00:00Z"), 0)
  T.eq(lock.parse_time("2026-12-03T15:00:00.500000+01:00"), 1796306400.5)
  T.eq(lock.parse_time("yesterday"), nil)
end)

T.test("cleanup: the test namespace is deleted", function()
  must(kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }))
end)

T.run_all()
