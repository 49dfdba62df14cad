---@meta
-- LuaLS type stubs for `alaris.tenant` (stdlib/alaris/tenant.lua): a tenant's Kubernetes objects as plain tables.
-- For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.tenant.Names
---@field namespace string `T`
---@field spaces_secret string `spaces-credentials`
---@field superuser_secret string `pg-T-superuser-secret`
---@field app_secret string `pg-T-app-secret`
---@field object_store string `pg-T-store`
---@field cluster string `pg-T`
---@field rw_service string `pg-T-rw`
---@field scheduled_backup string `pg-T-scheduled-backup`
---@field app string `T-app`
---@field public_service string `T-public`
---@field internal_service string `T-internal`

---@class alaris.tenant.Address
---@field ip string an IPv4 address
---@field port integer

---@class alaris.tenant.Peer
---@field namespace string
---@field labels table<string, string> the pods' labels

---@class alaris.tenant.Options
---@field bucket? string the Spaces bucket of the backups (object_store, manifests)
---@field endpoint? string the Spaces endpoint URL (object_store, manifests)
---@field retention? string the ObjectStore's retentionPolicy (default `7d`)
---@field instances? integer PostgreSQL instances (default 2)
---@field image? string a PostgreSQL 15 image (default `tenant.DEFAULT_IMAGE`)
---@field storage_size? string each instance's volume (default `1Gi`)
---@field app_image? string the tenant app's image (default `tenant.DEFAULT_APP_IMAGE`)
---@field replicas? integer the app's replicas (default 2)
---@field object_storage? alaris.tenant.Address where the instances send backups (network_policies, manifests)
---@field api_server? alaris.tenant.Address the Kubernetes API server (network_policies, manifests)
---@field operator? alaris.tenant.Peer default cnpg-system, `app.kubernetes.io/name=cloudnative-pg`
---@field ops? alaris.tenant.Peer default ops, `app=psql-client`
---@field dns? alaris.tenant.Peer default kube-system, `k8s-app=kube-dns`
---@field spaces? {access_key_id: string, secret_access_key: string} (manifests)
---@field superuser_password? string (manifests)
---@field app_password? string (manifests)

---@class alaris.tenant.RecoveryOptions
---@field name string the new Cluster's name (not pg-T unless in_place)
---@field target_time? string RFC 3339 with a zone, for point-in-time recovery
---@field target_lsn? string an LSN (`0/3000060`), instead of target_time
---@field source_server_name? string the archive to restore from (default pg-T)
---@field server_name? string where it archives (default its name; never the source's)
---@field in_place? boolean may take the tenant's own name pg-T (then server_name is required)
---@field instances? integer
---@field image? string
---@field storage_size? string

---@class alaris.tenant
---@field PLUGIN string `barman-cloud.cloudnative-pg.io`
---@field DEFAULT_IMAGE string the default PostgreSQL 15 image
---@field DEFAULT_APP_IMAGE string the default tenant app image
---@field SCHEDULE string the ScheduledBackup's cron: `0 0 */12 * * *` (seconds first)
---@field MAX_NAME_LENGTH integer 40
---@field RESERVED string[] namespaces a tenant may not take
local tenant = {}

---`true`, or `nil, err` (`err.code == "invalid"`) with a one-line message: not a DNS label, longer than 40, or a
---system namespace.
---@param name string
---@return true|nil
---@return alaris.Error|nil
function tenant.validate_name(name) end

---The names of a tenant's objects. Every builder raises an `invalid` error (exit 2) for a bad tenant name.
---@param t string
---@return alaris.tenant.Names
function tenant.names(t) end

---@param t string
---@return table Namespace labelled `tenant: T`
function tenant.namespace(t) end

---@param t string
---@param access_key_id string
---@param secret_access_key string registered as a secret
---@return table Secret `spaces-credentials`
function tenant.spaces_secret(t, access_key_id, secret_access_key) end

---@param t string
---@param password string registered as a secret
---@return table Secret `pg-T-superuser-secret` (basic-auth, user postgres)
function tenant.superuser_secret(t, password) end

---@param t string
---@param password string registered as a secret
---@return table Secret `pg-T-app-secret` (basic-auth, user app)
function tenant.app_secret(t, password) end

---The path in the bucket under which barman-cloud keeps the tenant's servers: the ObjectStore's destinationPath
---without `s3://BUCKET/`.
---@param t string
---@return string `backups/T/pg-T`
function tenant.archive_prefix(t) end

---@param t string
---@param opts alaris.tenant.Options bucket and endpoint required
---@return table ObjectStore `pg-T-store`
function tenant.object_store(t, opts) end

---@param t string
---@return table ScheduledBackup `pg-T-scheduled-backup`
function tenant.scheduled_backup(t) end

---@param t string
---@param opts? {name?: string, cluster?: string}
---@return table Backup (method plugin) of pg-T
function tenant.backup(t, opts) end

---@param t string
---@param opts? alaris.tenant.Options
---@return table Cluster `pg-T` (initdb, barman-cloud WAL archiver)
function tenant.cluster(t, opts) end

---@param t string
---@param opts alaris.tenant.RecoveryOptions
---@return table Cluster restored from pg-T's archive (bootstrap.recovery only)
function tenant.recovery_cluster(t, opts) end

---@param t string
---@param opts? alaris.tenant.Options
---@return table Deployment `T-app`
function tenant.deployment(t, opts) end

---@param t string
---@return table Service `T-public` (LoadBalancer 80 -> 8080)
function tenant.public_service(t) end

---@param t string
---@return table Service `T-internal` (ClusterIP 9090)
function tenant.internal_service(t) end

---@param t string
---@param opts alaris.tenant.Options object_storage and api_server required
---@return table[] NetworkPolicies
function tenant.network_policies(t, opts) end

---The port a URL connects to (explicit, else 443 for https, 80 for http).
---@param url string
---@return integer
function tenant.endpoint_port(url) end

---Every object of a tenant, in the order to apply them.
---@param t string
---@param opts alaris.tenant.Options
---@return table[]
function tenant.manifests(t, opts) end

return tenant
