-- alaris.recovery without a lab: RFC 3339 times with their offsets (and the ones refused), LSNs, the recovery window
-- and a target checked against it, the restored Cluster's default name and its limits, a query's rows as text, the DR
-- drill's verdicts (lost rows, RTO, RPO), a restored Cluster's NetworkPolicies, and tenant.recovery_cluster's LSN
-- target and in-place form.
local T = require "testing"
local pg = require "alaris.pg"
local recovery = require "alaris.recovery"
local tenant = require "alaris.tenant"

local NOON = 1796299200 -- 2026-12-03T12:00:00Z

T.test("RFC 3339 times: Z, offsets east and west, fractions, lowercase t and z", function()
  T.eq(recovery.parse_time("2026-12-03T12:00:00Z"), NOON)
  T.eq(recovery.parse_time("2026-12-03T13:00:00+01:00"), NOON)
  T.eq(recovery.parse_time("2026-12-03T06:30:00-05:30"), NOON)
  T.eq(recovery.parse_time("2026-12-04T01:45:00+13:45"), NOON)
  T.eq(recovery.parse_time("2026-12-03t12:00:00z"), NOON)
  T.eq(recovery.parse_time("2026-12-03T12:00:00.250Z"), NOON + 0.25)
  T.eq(recovery.parse_time("2026-12-03T13:00:00.5+01:00"), NOON + 0.5)
  T.eq(recovery.parse_time("1970-01-01T00:00:00Z"), 0)
  T.eq(recovery.parse_time("2024-02-29T00:00:00Z"), 1709164800)
  T.eq(recovery.parse_time("2000-03-01T00:00:00+00:00") - recovery.parse_time("2000-02-28T00:00:00+00:00"), 2 * 86400)
end)

T.test("times refused, each with its reason: no offset, not a date, impossible dates and offsets", function()
  local cases = {
    { "2026-12-03T12:00:00", "no UTC offset" }, { "2026-12-03 12:00:00 CET", "no UTC offset" },
    { "2026-12-03T12:00:00+0100", "no UTC offset" }, { "yesterday", "not an RFC 3339 date%-time" },
    { "2026-12-03", "not an RFC 3339" }, { "2026-13-01T00:00:00Z", "not a valid date" },
    { "2026-02-29T00:00:00Z", "not a valid date" }, { "2026-04-31T00:00:00Z", "not a valid date" },
    { "2026-12-03T24:00:00Z", "not a valid date" }, { "2026-12-03T12:60:00Z", "not a valid date" },
    { "2026-12-03T12:00:00.Z", "no fraction" }, { "2026-12-03T12:00:00+24:00", "invalid UTC offset" },
  }
  for _, c in ipairs(cases) do
    local v, err = recovery.parse_time(c[1])
    T.eq(v, nil, c[1])
    T.ok(tostring(err):find(c[2]), c[1] .. ": " .. tostring(err))
  end
  T.eq(recovery.postgres_time("2026-12-03T12:00:00.25Z"), "2026-12-03T12:00:00.25+00:00")
  T.eq(recovery.postgres_time("2026-12-03t12:00:00z"), "2026-12-03T12:00:00+00:00")
  T.eq(recovery.postgres_time("2026-12-03 17:30:00-05:30"), "2026-12-03T17:30:00-05:30")
  T.eq(recovery.format_time(NOON), "2026-12-03T12:00:00Z")
  T.eq(recovery.format_time(NOON + 0.25), "2026-12-03T12:00:00.250Z")
end)

T.test("LSNs read and written as PostgreSQL does", function()
  T.eq(recovery.parse_lsn("0/3000060"), 0x3000060)
  T.eq(recovery.parse_lsn("1/0"), 4294967296)
  T.eq(recovery.parse_lsn("a/ff"), 10 * 4294967296 + 255)
  T.eq(recovery.format_lsn(10 * 4294967296 + 255), "A/FF")
  for _, bad in ipairs { "3000060", "0/", "g/1", "0/123456789", "" } do
    local v, err = recovery.parse_lsn(bad)
    T.eq(v, nil, bad)
    T.ok(tostring(err):find("not an LSN"), tostring(err))
  end
end)

T.test("the window starts the whole second after the oldest completed backup's end and ends now", function()
  local w = recovery.window_of({ "2026-12-03T11:00:05Z", "2026-12-03T10:00:07Z" }, NOON, "0/2000100")
  T.eq(w.first, recovery.parse_time("2026-12-03T10:00:08Z"))
  T.eq(w.last, NOON)
  T.eq(recovery.window_text(w), "from 2026-12-03T10:00:08Z to 2026-12-03T12:00:00Z (now); LSNs from 0/2000100")
  T.eq(recovery.window_of({}, NOON), nil)
end)

T.test("a target outside the window is refused naming the window; inside it is accepted", function()
  local w = recovery.window_of({ "2026-12-03T10:00:07Z" }, NOON, "0/2000100")
  local function time(text) return { time = recovery.parse_time(text) } end
  T.eq(recovery.target_problem(w, time("2026-12-03T10:00:08Z")), nil)
  T.eq(recovery.target_problem(w, time("2026-12-03T13:00:00+01:00")), nil)
  local early = recovery.target_problem(w, time("2026-12-03T10:00:07Z"))
  T.contains(early, "target 2026-12-03T10:00:07Z is outside the recovery window from 2026-12-03T10:00:08Z")
  T.contains(recovery.target_problem(w, time("2026-12-03T12:00:01Z")), "outside the recovery window")
  T.contains(recovery.target_problem(nil, time("2026-12-03T11:00:00Z")), "no completed backup")
  w.current_lsn = "0/5000000"
  T.eq(recovery.target_problem(w, { lsn = recovery.parse_lsn("0/3000000"), lsn_text = "0/3000000" }), nil)
  T.contains(recovery.target_problem(w, { lsn = recovery.parse_lsn("0/2000000"), lsn_text = "0/2000000" }),
    "before the end of the oldest backup (0/2000100)")
  T.contains(recovery.target_problem(w, { lsn = recovery.parse_lsn("0/6000000"), lsn_text = "0/6000000" }),
    "past the primary's current LSN 0/5000000")
end)

T.test("restored Cluster names: pg-T-<what>-<UTC yyyymmddhhmmss>, DNS labels short enough for derived names", function()
  T.eq(recovery.default_name("acme", "pitr", NOON + 3723), "pg-acme-pitr-20261203130203")
  T.eq(recovery.check_name("pg-acme-pitr-20261203130203"), "pg-acme-pitr-20261203130203")
  T.raises(function() recovery.check_name("PG-acme") end, "not a DNS label")
  T.raises(function() recovery.check_name("pg-acme-") end, "not a DNS label")
  T.raises(function() recovery.check_name(recovery.default_name(string.rep("a", 40), "pitr", NOON)) end,
    "at most 50")
end)

T.test("rows as text: columns in their order, NULL and arrays shown", function()
  local result = { { id = 1, name = "a", tags = { "x", pg.null } }, { id = 2, name = pg.null, tags = {} },
    fields = { { name = "id" }, { name = "name" }, { name = "tags" } } }
  T.eq(recovery.rows_text(result), { "id=1, name=a, tags={x,NULL}", "id=2, name=NULL, tags={}" })
  T.eq(recovery.rows_text { fields = { { name = "id" } } }, { "(no rows)" })
end)

T.test("the drill's verdicts: tables with lost rows, tables written after the count, RTO and RPO", function()
  local missing, extra = recovery.compare_counts({ ["public.orders"] = 250, ["shop.events"] = 7, ["public.x"] = 1 },
    { ["public.orders"] = 249, ["shop.events"] = 9 })
  T.eq(missing, { "public.orders: 249 of 250 rows", "public.x: 0 of 1 rows" })
  T.eq(extra, { "shop.events: 9 rows, 7 counted" })
  local last = { n = 7, at = NOON + 30.5, xid = 912 }
  local lost = recovery.objectives { destroyed = NOON + 40, ready = NOON + 81.25, last = last,
    restored = { n = 5, at = NOON + 28, xid = 905 } }
  T.eq(lost, { rto = 41.25, lost_commits = 2, lost_seconds = 2.5, lost_xids = 7 })
  local none = recovery.objectives { destroyed = NOON + 40, ready = NOON + 50, last = last, restored = last }
  T.eq(none, { rto = 10, lost_commits = 0, lost_seconds = 0, lost_xids = 0 })
end)

T.test("a restored Cluster gets the tenant's database policies, selecting its pods, owned by it", function()
  local cluster = { metadata = { name = "pg-acme-pitr-1", uid = "0f1e" } }
  local policies = recovery.network_policies("acme", cluster,
    { object_storage = { ip = "10.0.0.1", port = 443 }, api_server = { ip = "10.0.0.2", port = 6443 } })
  T.eq(#policies, 2)
  local ingress, egress = policies[1], policies[2]
  T.eq({ ingress.metadata.name, egress.metadata.name }, { "pg-acme-pitr-1-ingress", "pg-acme-pitr-1-egress" })
  for _, p in ipairs(policies) do
    T.eq(p.spec.podSelector, { matchLabels = { ["cnpg.io/cluster"] = "pg-acme-pitr-1" } })
    T.eq(p.metadata.ownerReferences, { { apiVersion = "postgresql.cnpg.io/v1", kind = "Cluster",
      name = "pg-acme-pitr-1", uid = "0f1e", blockOwnerDeletion = true } })
  end
  local from = ingress.spec.ingress[1].from
  T.eq(from[1].podSelector, { matchLabels = { app = "acme-app" } }, "the tenant's app may connect")
  T.eq(from[2].podSelector, { matchLabels = { ["cnpg.io/cluster"] = "pg-acme-pitr-1" } }, "its own instances")
  T.eq(egress.spec.egress[2].to[1].ipBlock.cidr, "10.0.0.1/32", "object storage, to read the archive")
  local original = tenant.network_policies("acme", { object_storage = { ip = "10.0.0.1", port = 443 },
    api_server = { ip = "10.0.0.2", port = 6443 } })
  T.eq(original[6].spec.podSelector, { matchLabels = { ["cnpg.io/cluster"] = "pg-acme" } }, "the tenant's own untouched")
end)

T.test("recovery_cluster: an LSN target; in place under the tenant's name, archiving under another serverName", function()
  local r = tenant.recovery_cluster("acme", { name = "pg-acme-pitr", target_lsn = "0/3000060" })
  T.eq(r.spec.bootstrap.recovery.recoveryTarget, { targetLSN = "0/3000060" })
  local inplace = tenant.recovery_cluster("acme", { name = "pg-acme", in_place = true, server_name = "pg-acme-r1" })
  T.eq(inplace.metadata.name, "pg-acme")
  T.eq(inplace.spec.externalClusters[1].plugin.parameters.serverName, "pg-acme")
  T.eq(inplace.spec.plugins[1].parameters.serverName, "pg-acme-r1")
  T.raises(function() tenant.recovery_cluster("acme", { name = "pg-acme", in_place = true }) end,
    "serverName other than its source's, pg%-acme")
  T.raises(function()
    tenant.recovery_cluster("acme", { name = "pg-acme-x", target_lsn = "0/1", target_time = "2026-12-03T12:00:00Z" })
  end, "not both")
end)

T.run_all()
