---@meta
-- LuaLS type stubs for `alaris.onboarding` (stdlib/alaris/onboarding.lua): the policy behind onboard.lua and
-- offboard.lua: input checked before anything is touched, the tenant's Lease, what existed before a run, the
-- bucket and scoped key, passwords kept only in Secrets, applying while noting what was new, many tenants as child
-- runs. For editors only; tests/types_test.lua checks it against the real module.

---Which of a tenant's things existed when a run began (journaled; what the rollback's sweep leaves alone).
---@class alaris.onboarding.Survey
---@field namespace_existed boolean
---@field bucket string
---@field bucket_existed boolean
---@field keys_before string[] access key ids of Spaces keys named after the tenant

---What `onboarding.apply` did.
---@class alaris.onboarding.Applied
---@field created alaris.k8s.Object[] references (apiVersion, kind, name, namespace) to what did not exist before
---@field changed integer
---@field unchanged integer

---@class alaris.onboarding.Credentials
---@field access_key string the key id (never the secret)
---@field created boolean whether this call created the key or Secret
---@field scoped boolean false when the SPACES_* key is used (not scoped to the tenant)

---@class alaris.onboarding.Address
---@field ip string
---@field port integer

---@class alaris.onboarding.Addresses
---@field object_storage alaris.onboarding.Address
---@field api_server alaris.onboarding.Address

---@class alaris.onboarding.ChildResult
---@field tenant string
---@field code integer the child run's exit code

---@class alaris.onboarding
---@field MANAGED_BY string `app.kubernetes.io/managed-by`
---@field LOCK_NAMESPACE string `default`
---@field LOCK_SECONDS integer how long a crashed run's Lease lasts
---@field IMAGE_PATTERN string the regex an image reference must match
local onboarding = {}

---`value, ...` when value is not nil; otherwise raises `err`.
---@generic T
---@param value T|nil
---@param err any
---@param ... any
---@return T
function onboarding.must(value, err, ...) end

---A Kubernetes client from KUBECONFIG / ~/.kube/config (raises when there is none).
---@return alaris.k8s.Client
function onboarding.kube() end

---An S3 client from the SPACES_* (or AWS_*) environment.
---@return alaris.s3.Client
function onboarding.spaces() end

---The DigitalOcean client when `DIGITALOCEAN_ACCESS_TOKEN` is set (per-tenant scoped keys), else nil.
---@return alaris.digitalocean.Client|nil
function onboarding.digitalocean() end

---The NAME=VALUE vars and the options of the command line, as a playbook sees them while it loads (`arg`);
---`flags["--journal"]` is not set, `flags.journal` holds its value.
---@param argv? table the script's `arg`
---@return table<string, string> given
---@return table<string, boolean|string> flags
function onboarding.args(argv) end

---The tenants a run names (`tenant=T` or `tenants=a,b,c`), each checked; a usage error (exit 2) for a bad name, a
---repeat, or both vars given.
---@param given table<string, string>
---@return string[]
function onboarding.tenant_list(given) end

---A usage error (exit 2) when `image` is given and is not an image reference.
---@param var string the var's name, for the message
---@param image string|nil
function onboarding.check_image(var, image) end

---A usage error (exit 2) when namespace `t` exists and alaris did not make it for that tenant, or the API does
---not answer.
---@param kc alaris.k8s.Client
---@param t string
function onboarding.check_namespace(kc, t) end

---A usage error (exit 2) when the object storage endpoint does not answer.
---@param sc alaris.s3.Client
function onboarding.check_endpoint(sc) end

---`SPACES_ENDPOINT`, else `https://<SPACES_REGION or nyc3>.digitaloceanspaces.com`.
---@return string
function onboarding.endpoint() end

---Takes (once per process) the tenant's Lease; a usage error naming the holder when another run has it.
---`after_crash` (--resume, --rollback) waits for a crashed run's Lease to expire.
---@param kc alaris.k8s.Client
---@param t string
---@param after_crash? boolean
---@return alaris.lock.Lock
function onboarding.lock(kc, t, after_crash) end

---Releases the tenant's Lease if this process holds it.
---@param t string
function onboarding.unlock(t) end

---`alaris-T`: the name of the tenant's Spaces key.
---@param t string
---@return string
function onboarding.key_name(t) end

---The `bucket` var, else `alaris-T-backups`.
---@param vars table
---@param t string
---@return string
function onboarding.bucket_name(vars, t) end

---Which of the tenant's things exist now.
---@param kc alaris.k8s.Client
---@param sc alaris.s3.Client
---@param dc alaris.digitalocean.Client|nil
---@param t string
---@param bucket string
---@return alaris.onboarding.Survey
function onboarding.survey(kc, sc, dc, t, bucket) end

---Deletes every object of the bucket, then the bucket; nothing when it does not exist.
---@param sc alaris.s3.Client
---@param bucket string
function onboarding.empty_and_delete_bucket(sc, bucket) end

---Removes what did not exist at the survey: the namespace (if alaris's), new keys named after the tenant, the
---bucket if the run made it. Safe to run twice, and after a crash at any point.
---@param kc alaris.k8s.Client
---@param sc alaris.s3.Client
---@param dc alaris.digitalocean.Client|nil
---@param t string
---@param before alaris.onboarding.Survey
function onboarding.sweep(kc, sc, dc, t, before) end

---The tenant's Namespace, labelled `tenant: T` and managed by alaris.
---@param t string
---@return alaris.k8s.Object
function onboarding.namespace(t) end

---Server-side applies the objects one by one; an object whose resourceVersion did not move was unchanged.
---@param kc alaris.k8s.Client
---@param objects alaris.k8s.Object[]
---@param log_? alaris.log logs `N created, N changed, N unchanged`
---@return alaris.onboarding.Applied
function onboarding.apply(kc, objects, log_) end

---What applying the objects would do (`create ...`, `change Kind ns/name: spec.x, ...`, `unchanged ...`), from a
---server-side dry-run apply. Changes nothing.
---@param kc alaris.k8s.Client
---@param objects alaris.k8s.Object[]
---@return string[]
function onboarding.plan(kc, objects) end

---Deletes what `onboarding.apply` created, newest first.
---@param kc alaris.k8s.Client
---@param out alaris.onboarding.Applied|nil
function onboarding.delete_created(kc, out) end

---Creates the Secret unless it exists (generated passwords are never rewritten); whether it created it.
---@param kc alaris.k8s.Client
---@param secret alaris.k8s.Object
---@return boolean
function onboarding.ensure_secret(kc, secret) end

---A Secret's data, decoded.
---@param kc alaris.k8s.Client
---@param t string the namespace
---@param name string
---@return table<string, string>
function onboarding.read_secret(kc, t, name) end

---The tenant's Spaces key: the one its `spaces-credentials` Secret names if DigitalOcean still has it, else a new
---key with readwrite on the bucket only, its secret written straight into that Secret. Without `dc`, the SPACES_*
---key is used and a warning logged.
---@param kc alaris.k8s.Client
---@param dc alaris.digitalocean.Client|nil
---@param t string
---@param bucket string
---@param log_ alaris.log
---@return alaris.onboarding.Credentials
function onboarding.spaces_credentials(kc, dc, t, bucket, log_) end

---The object storage endpoint's and the API server's address and port, for the NetworkPolicies.
---@param kc alaris.k8s.Client
---@return alaris.onboarding.Addresses
function onboarding.addresses(kc) end

---Runs `file` once per tenant as a child run of its own (journal beside `options.journal`, lock, rollback),
---`concurrency` at a time; each child's output is logged with its tenant.
---@param file string
---@param tenants string[]
---@param given table<string, string> the parent's vars (tenants and concurrency are not passed on)
---@param options table flags for each child, and `journal`
---@param concurrency integer
---@return alaris.onboarding.ChildResult[]
function onboarding.run_each(file, tenants, given, options, concurrency) end

return onboarding
