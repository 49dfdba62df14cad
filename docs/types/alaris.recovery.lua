---@meta
-- LuaLS type stubs for `alaris.recovery` (stdlib/alaris/recovery.lua): recovery windows, targets, WAL switches and
-- restores for PITR and DR drills. For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.recovery.Window
---@field first number the first recoverability point (epoch seconds)
---@field last number now (epoch seconds)
---@field first_lsn? string the oldest backup's endLSN
---@field current_lsn? string the primary's current LSN, set for an LSN target
---@field server_name? string the server the Cluster archives to
---@field backups? integer completed backups of that server

---@class alaris.recovery.Target
---@field time? number epoch seconds
---@field lsn? number
---@field lsn_text? string

---@class alaris.recovery.Tick
---@field n integer the row's number
---@field what string
---@field at number its commit's clock time (epoch seconds)
---@field xid integer its transaction id

---@class alaris.recovery
---@field MAX_NAME_LENGTH integer 50
---@field DRILL_SCHEMA string the drill's schema in the app database
local recovery = {}

---Raises a usage error (exit 2, one line, nothing done).
---@param fmt string
---@param ... any
function recovery.refuse(fmt, ...) end

---The tenant named on the command line and its Cluster pg-T, checked (exit 2 otherwise).
---@param name string|nil
---@param what string what the Cluster is for, in the refusal ("recover from")
---@return string t
---@return table cluster
---@return alaris.k8s.Client kc
function recovery.tenant_cluster(name, what) end

---A playbook step whose run is called as run(ctx, tenant, kc), the tenant from ctx.vars.
---@param def table a step
---@return table
function recovery.step(def) end

---Epoch seconds of an RFC 3339 date-time with its offset; nil and the reason otherwise.
---@param text string
---@return number|nil seconds
---@return string|nil reason
function recovery.parse_time(text) end

---The same moment as PostgreSQL's recovery_target_time reads it at start-up: `T`, and `Z` written `+00:00`.
---@param text string a valid RFC 3339 date-time
---@return string
function recovery.postgres_time(text) end

---RFC 3339 in UTC (milliseconds when there is a fraction).
---@param seconds number
---@return string
function recovery.format_time(seconds) end

---@param text string `HI/LO` hexadecimal
---@return number|nil
---@return string|nil reason
function recovery.parse_lsn(text) end

---@param n number
---@return string
function recovery.format_lsn(n) end

---`pg-T-<what>-<yyyymmddhhmmss>` (UTC).
---@param t string
---@param what string
---@param seconds number
---@return string
function recovery.default_name(t, what, seconds) end

---The name, or a usage error (exit 2) when it is not a DNS label of at most MAX_NAME_LENGTH characters.
---@param name string
---@return string
function recovery.check_name(name) end

---@param cluster table a Cluster
---@return {store: string, server_name: string}|nil
function recovery.archive_of(cluster) end

---bucket, folder of a server in an ObjectStore's destinationPath.
---@param kc alaris.k8s.Client
---@param namespace string
---@param store string the ObjectStore's name
---@param server_name string
---@return string bucket
---@return string folder
function recovery.location(kc, namespace, store, server_name) end

---@param kc alaris.k8s.Client
---@param namespace string
---@param server_name string
---@return table[] completed Backups, oldest end first
function recovery.completed_backups(kc, namespace, server_name) end

---@param stopped_times string[] RFC 3339 ends of completed backups
---@param now number
---@param first_lsn? string
---@return alaris.recovery.Window|nil
function recovery.window_of(stopped_times, now, first_lsn) end

---@param w alaris.recovery.Window|nil
---@return string
function recovery.window_text(w) end

---nil when the target is inside the window, else one line naming it.
---@param w alaris.recovery.Window|nil
---@param target alaris.recovery.Target
---@return string|nil
function recovery.target_problem(w, target) end

---@param kc alaris.k8s.Client
---@param t string
---@param cluster table the tenant's Cluster
---@return alaris.recovery.Window|nil
function recovery.window(kc, t, cluster) end

---Calls fn(db) with a connection to the Cluster's primary through a port-forward; closes both.
---@param kc alaris.k8s.Client
---@param namespace string
---@param cluster_name string
---@param opts {user?: "app"|"superuser", dbname?: string}
---@param fn fun(db: alaris.pg.Connection): any
---@return any
function recovery.with_db(kc, namespace, cluster_name, opts, fn) end

---A commit, then pg_switch_wal().
---@param db alaris.pg.Connection
---@return {segment: string, lsn: string, xid: string, at: string}
function recovery.switch_wal(db) end

---Lists the bucket every second until `segment` (or a later one) is archived.
---@param s3c alaris.s3.Client
---@param bucket string
---@param folder string
---@param segment string
---@param timeout? number seconds (default 120)
---@return {name: string, time: number}|nil last
---@return alaris.Error|nil
function recovery.wait_archived(s3c, bucket, folder, segment, timeout) end

---@param db alaris.pg.Connection
function recovery.drill_prepare(db) end

---@param db alaris.pg.Connection
---@param run string
---@param what string
---@return alaris.recovery.Tick
function recovery.drill_tick(db, run, what) end

---@param db alaris.pg.Connection
---@param run string
---@return alaris.recovery.Tick|nil
function recovery.drill_last_tick(db, run) end

---@param db alaris.pg.Connection
---@return table<string, integer> rows per `schema.table`
function recovery.table_counts(db) end

---@param before table<string, integer>
---@param after table<string, integer>
---@return string[] missing tables with fewer rows
---@return string[] extra tables with more rows
function recovery.compare_counts(before, after) end

---@param facts {destroyed: number, ready: number, last: alaris.recovery.Tick, restored: alaris.recovery.Tick}
---@return {rto: number, lost_commits: integer, lost_seconds: number, lost_xids: integer}
function recovery.objectives(facts) end

---@param kc alaris.k8s.Client
---@param manifest table a Cluster
---@param timeout? number
---@return table the Ready Cluster
function recovery.restore(kc, manifest, timeout) end

---The tenant's database NetworkPolicies for another of its Clusters, owned by it.
---@param t string
---@param cluster table the live Cluster (with its uid)
---@param addresses {object_storage: alaris.tenant.Address, api_server: alaris.tenant.Address}
---@return table[]
function recovery.network_policies(t, cluster, addresses) end

---@param kc alaris.k8s.Client
---@param namespace string
---@param name string
---@param timeout? number
---@return true
function recovery.delete_cluster(kc, namespace, name, timeout) end

---@param result table a query's result
---@return string[]
function recovery.rows_text(result) end

---@param kc alaris.k8s.Client
---@param namespace string
---@param cluster table
---@return table
function recovery.reach(kc, namespace, cluster) end

return recovery
