-- alaris.backup: a tenant's base backups as barman-cloud stores them. Taking an on-demand Backup (method plugin) and
-- waiting for it through a watch; proving it IN THE BUCKET (backup.info, the data, every WAL segment from beginWal
-- to endWal archived) with the SigV4 client rather than trusting the Backup's status; the newest archived WAL
-- segment (freshness, RPO); the newest completed Backup. Layout followed: barman-cloud's, under the ObjectStore's
-- destinationPath: <server>/base/<backupId>/{backup.info,data.tar[.gz|...]} and <server>/wals/<TTTTTTTTLLLLLLLL>/
-- <segment>[.gz|.bz2|.snappy|.xz|.lz4|.zst]. It builds no manifest (alaris.tenant does) and never deletes.
local alaris = require "alaris"
local auth = require "alaris.k8s.auth"
local cnpg = require "alaris.cnpg"
local k8s = require "alaris.k8s"
local s3 = require "alaris.s3"
local tenant = require "alaris.tenant"

local backup = {}

backup.DEFAULT_TIMEOUT = 900
-- What barman-cloud appends to a WAL segment or a data tarball for each compression it knows.
backup.COMPRESSION_SUFFIXES = { "", ".gz", ".bz2", ".snappy", ".xz", ".lz4", ".zst" }
backup.DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
local MAX_SEGMENTS = 1000000 -- a range this long is a misread name, not a backup

local SEGMENT = string.rep("%x", 24)
local KNOWN_SUFFIX = {}
for _, s in ipairs(backup.COMPRESSION_SUFFIXES) do KNOWN_SUFFIX[s] = true end

local function missing(fmt, ...)
  return nil, alaris.error("not_found", string.format(fmt, ...))
end

-- ---- where things are ----

-- The folder of a barman server in the tenant's bucket: <destinationPath's path>/<server_name> (server_name defaults
-- to the tenant's own, pg-T; a recovered cluster archives under its own name).
function backup.server_folder(t, server_name)
  return tenant.archive_prefix(t) .. "/" .. (server_name or tenant.names(t).cluster)
end

-- bucket, folder of the server a Backup's status names (destinationPath s3://bucket[/path] and serverName).
function backup.location(status)
  local bucket, path = tostring(status and status.destinationPath):match("^s3://([^/]+)/?(.*)$")
  if not bucket or not status.serverName then return nil end
  path = path:gsub("/+$", "")
  return bucket, (path == "" and "" or path .. "/") .. status.serverName
end

-- An S3 client as barman-cloud in the tenant's pods sees the store: the ObjectStore's endpointURL and the tenant's
-- own key from its spaces-credentials Secret (so a verified backup is one the tenant's restore can read).
function backup.tenant_spaces(kc, t)
  local n = tenant.names(t)
  local store, err = kc:get("barmancloud.cnpg.io/v1", "ObjectStore", n.object_store, t)
  if not store then return nil, err or alaris.error("not_found", "no ObjectStore " .. t .. "/" .. n.object_store) end
  local secret, serr = kc:get("v1", "Secret", n.spaces_secret, t)
  if not secret then return nil, serr or alaris.error("not_found", "no Secret " .. t .. "/" .. n.spaces_secret) end
  local creds, cerr = k8s.secret_data(secret)
  if not creds then return nil, cerr end
  return s3.client { endpoint = store.spec.configuration.endpointURL, access_key = creds.ACCESS_KEY_ID,
    secret_key = creds.SECRET_ACCESS_KEY }
end

-- ---- WAL segment names ----

-- timeline, log, segment numbers of a segment name ("000000010000000200000003"), or nil.
function backup.parse_segment(name)
  if type(name) ~= "string" or #name ~= 24 or not name:match("^" .. SEGMENT .. "$") then return nil end
  return tonumber(name:sub(1, 8), 16), tonumber(name:sub(9, 16), 16), tonumber(name:sub(17, 24), 16)
end

local function segment_name(tli, log, seg)
  return string.format("%08X%08X%08X", tli, log, seg)
end

-- Every segment name from `first` to `last` inclusive, for segments of `segment_size` bytes (barman's
-- generate_segment_names): the segment number wraps to the next log file after 4 GiB / segment_size.
function backup.segment_range(first, last, segment_size)
  local t1, l1, s1 = backup.parse_segment(first)
  local t2, l2, s2 = backup.parse_segment(last)
  if not t1 or not t2 then return nil, alaris.error("invalid", string.format("not a WAL range: %s to %s",
    tostring(first), tostring(last))) end
  if t1 ~= t2 or l1 * 2 ^ 32 + s1 > l2 * 2 ^ 32 + s2 then
    return nil, alaris.error("invalid", string.format("not a WAL range: %s to %s", first, last))
  end
  local per_log = (1 << 32) // (segment_size or backup.DEFAULT_SEGMENT_SIZE)
  local names, log, seg = {}, l1, s1
  while log < l2 or (log == l2 and seg <= s2) do
    names[#names + 1] = segment_name(t1, log, seg)
    if #names > MAX_SEGMENTS then
      return nil, alaris.error("invalid", "WAL range too long: " .. first .. " to " .. last)
    end
    seg = seg + 1
    if seg >= per_log then log, seg = log + 1, 0 end
  end
  return names
end

-- segment name, suffix of a key under wals/ when it is a segment with a known compression suffix (not a .history,
-- .backup or .partial file), else nil.
local function segment_of_key(key)
  local name, suffix = key:match("/(" .. SEGMENT .. ")([^/]*)$")
  if name and KNOWN_SUFFIX[suffix] then return name, suffix end
  return nil
end

-- ---- the bucket ----

-- Calls visit(obj) for each object of a listing; true, or nil, err when a page failed (c:list raises it).
local function each_object(s3c, bucket, opts, visit)
  local ok, err = pcall(function()
    for obj in s3c:list(bucket, opts) do visit(obj) end
  end)
  if ok then return true end
  return nil, alaris.is_error(err) and err or alaris.error("server_error", tostring(err))
end

-- backup.info's key=value lines as a table.
function backup.parse_info(text)
  local info = {}
  for line in tostring(text):gmatch("[^\r\n]+") do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then info[k] = v end
  end
  return info
end

-- The objects under base/<id>/: backup.info's text, the data tarballs, all files and their bytes.
local function read_base(s3c, bucket, base)
  local found = { files = 0, bytes = 0, data = {} }
  local ok, err = each_object(s3c, bucket, { prefix = base }, function(obj)
    found.files, found.bytes = found.files + 1, found.bytes + (obj.size or 0)
    local rest = obj.key:sub(#base + 1)
    if rest:match("^data%.tar") and KNOWN_SUFFIX[rest:sub(9)] then found.data[#found.data + 1] = rest end
  end)
  if not ok then return nil, err end
  return found
end

-- The set of archived segment names among `names` (all in one timeline, in order), listing each log folder once.
local function archived_set(s3c, bucket, folder, names)
  local set, listed = {}, {}
  for _, name in ipairs(names) do
    local dir = name:sub(1, 16)
    if not listed[dir] then
      listed[dir] = true
      local ok, err = each_object(s3c, bucket, { prefix = folder .. "/wals/" .. dir .. "/" }, function(obj)
        local seg = segment_of_key(obj.key)
        if seg then set[seg] = true end
      end)
      if not ok then return nil, err end
    end
  end
  return set
end

local function epoch(text)
  return type(text) == "string" and auth.parse_rfc3339(text) or nil
end

local function first_missing(names, set, limit)
  local list = {}
  for _, name in ipairs(names) do
    if not set[name] then list[#list + 1] = name end
  end
  local shown = { table.unpack(list, 1, math.min(#list, limit)) }
  return #list, table.concat(shown, ", ") .. (#list > limit and ", ..." or "")
end

-- Checks the backup in the bucket; returns its facts or nil, err naming what is missing. bucket and folder default to
-- what status names (destinationPath, serverName); folder is the server's folder in the bucket (server_folder).
function backup.verify(s3c, bucket, folder, status)
  status = status or {}
  local s_bucket, s_folder = backup.location(status)
  bucket, folder = bucket or s_bucket, folder or s_folder
  local id = status.backupId
  if not bucket or not folder or not id then
    return nil, alaris.error("invalid", "backup.verify: the Backup's status names no backupId, bucket or server")
  end
  local base = string.format("%s/base/%s/", folder, id)
  local where = string.format("s3://%s/%s", bucket, base)
  local text, err = s3c:get(bucket, base .. "backup.info")
  if not text then
    if err.code == "not_found" then return missing("backup %s: no backup.info at %sbackup.info", id, where) end
    return nil, err
  end
  local info = backup.parse_info(text)
  if info.status and info.status ~= "DONE" then
    return missing("backup %s: backup.info at %s says status %s, not DONE", id, where, info.status)
  end
  local found, lerr = read_base(s3c, bucket, base)
  if not found then return nil, lerr end
  if #found.data == 0 then return missing("backup %s: no data.tar under %s", id, where) end
  local begin_wal, end_wal = status.beginWal or info.begin_wal, status.endWal or info.end_wal
  local names, rerr = backup.segment_range(begin_wal, end_wal, tonumber(info.xlog_segment_size))
  if not names then return nil, rerr end
  local set, werr = archived_set(s3c, bucket, folder, names)
  if not set then return nil, werr end
  local count, shown = first_missing(names, set, 5)
  if count > 0 then
    return missing("backup %s: %d of %d WAL segments from %s to %s are not archived under s3://%s/%s/wals/: %s", id,
      count, #names, begin_wal, end_wal, bucket, folder, shown)
  end
  local began = epoch(status.startedAt) or epoch(info.begin_time)
  local ended = epoch(status.stoppedAt) or epoch(info.end_time)
  return {
    id = id, name = status.backupName, bucket = bucket, folder = folder, server_name = status.serverName,
    size = found.bytes, data_size = tonumber(info.size), files = found.files, data = found.data,
    began = began, ended = ended, duration = began and ended and (ended - began) or nil,
    begin_wal = begin_wal, end_wal = end_wal, wal_count = #names, begin_lsn = status.beginLSN or info.begin_xlog,
    end_lsn = status.endLSN or info.end_xlog, timeline = tonumber(info.timeline),
  }
end

-- The folders wals/<TTTTTTTTLLLLLLLL>/ of a server, in key order.
local function wal_dirs(s3c, bucket, folder)
  local dirs = {}
  local ok, err = each_object(s3c, bucket, { prefix = folder .. "/wals/", delimiter = "/" }, function(obj)
    if obj.prefix and obj.key:match("/%x+/$") then dirs[#dirs + 1] = obj.key end
  end)
  if not ok then return nil, err end
  return dirs
end

-- {name, time (LastModified, epoch seconds), key, size} of the newest archived segment of a server (by name, which
-- orders timelines and positions), nil when it has none, nil, err when the bucket cannot be listed.
function backup.last_archived_wal(s3c, bucket, folder)
  local dirs, err = wal_dirs(s3c, bucket, folder)
  if not dirs then return nil, err end
  for i = #dirs, 1, -1 do
    local newest
    local ok, lerr = each_object(s3c, bucket, { prefix = dirs[i] }, function(obj)
      local name = segment_of_key(obj.key)
      if name and (not newest or name >= newest.name) then
        newest = { name = name, key = obj.key, size = obj.size, time = epoch(obj.last_modified) }
      end
    end)
    if not ok then return nil, lerr end
    if newest then return newest end
  end
  return nil
end

-- ---- Backup objects ----

-- The Cluster's ContinuousArchiving condition when it is False (barman's error line in its message), else nil.
-- PostgreSQL ends a base backup only once its last WAL segment is archived, so a backup taken while archiving fails
-- would wait until the store takes writes again.
function backup.archiving_failure(cluster)
  local c = k8s.condition(cluster, "ContinuousArchiving")
  if c and c.status == "False" then return string.format("%s: %s", tostring(c.reason), tostring(c.message)) end
  return nil
end

-- Creates an on-demand Backup of tenant t's Cluster and waits, through a watch, until it completes. opts: name
-- (default pg-T-YYYYMMDDhhmmss, UTC), cluster (default pg-T), timeout (seconds, default 900). Returns the completed
-- Backup, or nil, err: a failed Backup gives err.code "failed" with the operator's status.error and err.object; a
-- Cluster whose WAL archiving is failing gives "failed" naming barman's error, and no Backup is created.
function backup.take(kc, t, opts)
  opts = opts or {}
  local obj = tenant.backup(t, { name = opts.name, cluster = opts.cluster })
  local cluster = obj.spec.cluster.name
  local live, gerr = kc:get(cnpg.API, "Cluster", cluster, t)
  if not live then
    if gerr and gerr.code ~= "not_found" then return nil, gerr end
    return nil, alaris.error("not_found", string.format("tenant %s has no Cluster %s to back up", t, cluster))
  end
  local failing = backup.archiving_failure(live)
  if failing then
    return nil, alaris.error("failed", string.format("WAL archiving of Cluster %s/%s is failing (%s): a backup could "
      .. "not complete until the store takes writes again; no Backup was created", t, cluster, failing),
      { object = live, archiving = true })
  end
  local created, err = kc:apply(obj, { field_manager = "alaris" })
  if not created then return nil, err end
  return cnpg.wait_backup(kc, t, obj.metadata.name, opts.timeout or backup.DEFAULT_TIMEOUT)
end

local function completed_at(b)
  return epoch(b.status and b.status.stoppedAt) or epoch(b.metadata.creationTimestamp) or 0
end

-- The newest completed Backup of tenant t's Cluster (by status.stoppedAt), nil when there is none.
function backup.latest(kc, t, opts)
  local cluster = (opts and opts.cluster) or tenant.names(t).cluster
  local list, err = kc:list_all(cnpg.API, "Backup", t)
  if not list then return nil, err end
  local newest
  for _, b in ipairs(list) do
    local done = b.status and b.status.phase == "completed" and b.spec and b.spec.cluster
      and b.spec.cluster.name == cluster
    if done and (not newest or completed_at(b) > completed_at(newest)) then newest = b end
  end
  return newest
end

return backup
