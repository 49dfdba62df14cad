-- alaris.backup without a lab: WAL segment names and ranges as barman counts them (the wrap to the next log file
-- depends on the segment size), barman's backup.info lines, and where a Backup's status says its server lives.
-- Taking and verifying backups in a bucket is tested against the lab (tests/lab/playbook_backup_test.lua).
local T = require "testing"
local backup = require "alaris.backup"
local tenant = require "alaris.tenant"

T.test("a range within one log file lists every segment, both ends included", function()
  local names = assert(backup.segment_range("000000010000000000000003", "000000010000000000000006"))
  T.eq(names, { "000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
    "000000010000000000000006" })
  T.eq(assert(backup.segment_range("00000002000000000000000A", "00000002000000000000000A")),
    { "00000002000000000000000A" })
end)

T.test("16 MiB segments wrap from FF to the next log file; 1 GiB segments after 03", function()
  T.eq(assert(backup.segment_range("0000000100000000000000FE", "000000010000000100000001")),
    { "0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000", "000000010000000100000001" })
  T.eq(assert(backup.segment_range("000000010000000000000002", "000000010000000100000000", 1024 * 1024 * 1024)),
    { "000000010000000000000002", "000000010000000000000003", "000000010000000100000000" })
end)

T.test("a range that runs backwards, crosses timelines or is not made of segment names is refused", function()
  for _, case in ipairs {
    { "000000010000000000000006", "000000010000000000000003" },
    { "000000010000000000000003", "000000020000000000000006" },
    { "000000010000000000000003", "00000001000000000000006" },
    { "00000002.history", "000000020000000000000001" },
    { nil, "000000010000000000000003" },
  } do
    local names, err = backup.segment_range(case[1], case[2])
    T.eq(names, nil, tostring(case[1]) .. " to " .. tostring(case[2]))
    T.eq(err.code, "invalid")
    T.contains(err.message, "not a WAL range")
  end
end)

T.test("backup.info lines are read as barman writes them", function()
  local info = backup.parse_info(table.concat({
    "backup_id=20261203T174512", "backup_name=pg-acme-20261203174510", "begin_time=2026-12-03 17:45:12.503921+00:00",
    "begin_wal=000000010000000000000004", "begin_xlog=0/4000028", "end_wal=000000010000000000000005",
    "size=31562342", "status=DONE", "timeline=1", "xlog_segment_size=16777216", "not a field",
  }, "\n"))
  T.eq(info.backup_id, "20261203T174512")
  T.eq(info.begin_time, "2026-12-03 17:45:12.503921+00:00")
  T.eq(info.begin_xlog, "0/4000028")
  T.eq(info.xlog_segment_size, "16777216")
  T.eq(info.status, "DONE")
end)

T.test("a Backup's status names the bucket and the server's folder; the tenant's own folder matches onboarding's", function()
  local bucket, folder = backup.location { destinationPath = "s3://alaris-acme-backups/backups/acme/pg-acme",
    serverName = "pg-acme" }
  T.eq(bucket, "alaris-acme-backups")
  T.eq(folder, "backups/acme/pg-acme/pg-acme")
  T.eq(folder, backup.server_folder("acme"))
  T.eq(select(2, backup.location { destinationPath = "s3://bucket/", serverName = "srv" }), "srv")
  T.eq(backup.server_folder("acme", "pg-acme-pitr-1"), "backups/acme/pg-acme/pg-acme-pitr-1")
  T.eq(backup.location { destinationPath = "/var/lib/backups", serverName = "srv" }, nil)
  local store = tenant.object_store("acme", { bucket = "alaris-acme-backups", endpoint = "https://nyc3.example" })
  T.eq(store.spec.configuration.destinationPath, "s3://alaris-acme-backups/" .. tenant.archive_prefix("acme"))
end)

T.run_all()
