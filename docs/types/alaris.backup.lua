---@meta
-- LuaLS type stubs for `alaris.backup` (stdlib/alaris/backup.lua): taking a tenant's Backup and proving it in the
-- bucket as barman-cloud lays it out. For editors only; tests/types_test.lua checks it against the real module.

---What backup.verify found in the bucket.
---@class alaris.backup.Facts
---@field id string barman's backup id
---@field name? string the Backup's name (status.backupName)
---@field server_name? string
---@field bucket string
---@field folder string the server's folder in the bucket
---@field size integer bytes stored under base/<id>/
---@field data_size? integer barman's own size, when backup.info gives one
---@field files integer objects under base/<id>/
---@field data string[] the data tarballs' names
---@field began? number epoch seconds
---@field ended? number epoch seconds
---@field duration? number seconds
---@field begin_wal string
---@field end_wal string
---@field wal_count integer segments in the range, all archived
---@field begin_lsn? string
---@field end_lsn? string
---@field timeline? integer

---The newest archived WAL segment of a server.
---@class alaris.backup.Wal
---@field name string the segment name, without compression suffix
---@field time number LastModified, epoch seconds
---@field key string
---@field size integer

---@class alaris.backup.TakeOptions
---@field name? string default `pg-T-YYYYMMDDhhmmss` (UTC)
---@field cluster? string default `pg-T`
---@field timeout? number seconds, default 900

---@class alaris.backup
---@field DEFAULT_TIMEOUT integer 900
---@field DEFAULT_SEGMENT_SIZE integer 16 MiB
---@field COMPRESSION_SUFFIXES string[] `""`, `.gz`, `.bz2`, `.snappy`, `.xz`, `.lz4`, `.zst`
local backup = {}

---The server's folder in the tenant's bucket: `backups/T/pg-T/<server_name or pg-T>`.
---@param t string
---@param server_name? string
---@return string
function backup.server_folder(t, server_name) end

---The bucket and the server's folder a Backup's status names (destinationPath, serverName); nil when it names none.
---@param status table
---@return string|nil bucket
---@return string|nil folder
function backup.location(status) end

---An S3 client for the tenant's store as its pods see it: the ObjectStore's endpointURL, the key in Secret
---spaces-credentials.
---@param kc alaris.k8s.Client
---@param t string
---@return alaris.s3.Client|nil
---@return alaris.Error|nil
function backup.tenant_spaces(kc, t) end

---Timeline, log and segment numbers of a WAL segment name; nil for anything else.
---@param name string
---@return integer|nil timeline
---@return integer|nil log
---@return integer|nil segment
function backup.parse_segment(name) end

---Every segment name from first to last inclusive; `nil, err` (invalid) for a backwards or cross-timeline range.
---@param first string
---@param last string
---@param segment_size? integer bytes, default 16 MiB
---@return string[]|nil
---@return alaris.Error|nil
function backup.segment_range(first, last, segment_size) end

---backup.info's key=value lines as a table of strings.
---@param text string
---@return table<string, string>
function backup.parse_info(text) end

---Checks the backup in the bucket: backup.info (DONE), the data, every WAL segment from beginWal to endWal.
---@param s3c alaris.s3.Client
---@param bucket? string default: from status.destinationPath
---@param folder? string default: from status.destinationPath and status.serverName
---@param status table a Backup's status, or at least {backupId = ...}
---@return alaris.backup.Facts|nil
---@return alaris.Error|nil err (not_found) naming what is missing
function backup.verify(s3c, bucket, folder, status) end

---The newest archived WAL segment of a server; nil when it has none.
---@param s3c alaris.s3.Client
---@param bucket string
---@param folder string
---@return alaris.backup.Wal|nil
---@return alaris.Error|nil
function backup.last_archived_wal(s3c, bucket, folder) end

---"Reason: message" of the Cluster's ContinuousArchiving condition when it is False, else nil.
---@param cluster table a Cluster object
---@return string|nil
function backup.archiving_failure(cluster) end

---Creates an on-demand Backup of the tenant's Cluster and waits through a watch until it completes.
---@param kc alaris.k8s.Client
---@param t string
---@param opts? alaris.backup.TakeOptions
---@return table|nil backup the completed Backup
---@return alaris.Error|nil err `failed` (status.error, err.object; or archiving failing, err.archiving), `timeout`
---or `not_found` (no Cluster)
function backup.take(kc, t, opts) end

---The newest completed Backup of the tenant's Cluster (opts.cluster, default pg-T); nil when none.
---@param kc alaris.k8s.Client
---@param t string
---@param opts? {cluster?: string}
---@return table|nil
---@return alaris.Error|nil
function backup.latest(kc, t, opts) end

return backup
