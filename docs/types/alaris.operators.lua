---@meta
-- LuaLS type stubs for `alaris.operators` (stdlib/alaris/operators.lua): the vendored operators from deploy/ as
-- parsed objects, the ops tooling and the proof that its role is read-only. For editors only;
-- tests/types_test.lua checks it against the real module.

---One SubjectAccessReview question.
---@class alaris.operators.Question
---@field verb string
---@field group string `""` for the core group
---@field resource string
---@field subresource? string e.g. `exec`
---@field namespace string

---@class alaris.operators.OpsOptions
---@field image? string the psql-client image (default `operators.PSQL_IMAGE`)

---@class alaris.operators
---@field CNPG_VERSION string `1.28.4`
---@field BARMAN_VERSION string `0.14.0`
---@field CERT_MANAGER_VERSION string `1.21.1`
---@field NAMESPACE string `cnpg-system`
---@field PLUGIN_IMAGE string the plugin's release image, pinned
---@field SIDECAR_IMAGE string the plugin sidecar's release image, pinned
---@field OPS_NAMESPACE string `ops`
---@field OPS_ACCOUNT string `ops-reader`
---@field OPS_ROLE string `alaris-ops-reader`
---@field PSQL_IMAGE string `postgres:15`
---@field WRITE_VERBS string[] the verbs the ops role must be denied
---@field OPS_READABLE table<string, string[]> API group -> the resources the ops role may get, list and watch
local operators = {}

---The vendored manifests: `deploy/` beside `stdlib/` in a checkout, `PREFIX/share/alaris/deploy` when installed.
---@return string
function operators.default_deploy_dir() end

---Every object of a multi-document YAML text (empty documents and non-objects skipped). Raises an `invalid` error
---naming `origin` when the text is not YAML.
---@param text string
---@param origin string a file or URL, for the error
---@return alaris.k8s.Object[]
function operators.parse(text, origin) end

---The objects of a manifest the user names (`var=FILE-or-URL`). Raises a usage error (exit 2, one line naming
---`var`) when the file cannot be read or is a directory, the URL does not answer 200, the text is not YAML, a
---document is not a Kubernetes object, or there is none.
---@param var string the var's name, for the message
---@param source string a file or an http(s) URL
---@return alaris.k8s.Object[]
function operators.user_manifest(var, source) end

---cert-manager's six CRDs from `dir/cert-manager/crds`.
---@param dir string
---@return alaris.k8s.Object[]
function operators.cert_manager_crds(dir) end

---CloudNativePG's release manifest; `postgres_image` becomes the operator's `POSTGRES_IMAGE_NAME`.
---@param dir string
---@param postgres_image? string
---@return alaris.k8s.Object[]
function operators.cloudnative_pg(dir, postgres_image) end

---The barman-cloud plugin's manifest with its release images in place of the committed `-testing:main` ones.
---@param dir string
---@return alaris.k8s.Object[]
function operators.barman_cloud(dir) end

---Namespace `ops`, ServiceAccount `ops-reader`, the read-only ClusterRole, its binding and the `psql-client`
---Deployment.
---@param opts? alaris.operators.OpsOptions
---@return alaris.k8s.Object[]
function operators.ops_objects(opts) end

---The questions the proof asks in `namespace`: those whose answer must be denied, and those that must be allowed.
---@param namespace string
---@return alaris.operators.Question[] denied
---@return alaris.operators.Question[] allowed
function operators.ops_questions(namespace) end

---Asks the API server (SubjectAccessReviews) about the ops ServiceAccount; raises one line listing every wrong
---answer (a write allowed, a read denied).
---@param kc alaris.k8s.Client
---@param namespace? string default `default`
---@return {asked: integer, user: string}
function operators.prove_read_only(kc, namespace) end

return operators
