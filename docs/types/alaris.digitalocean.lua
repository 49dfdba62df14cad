---@meta
-- LuaLS type stubs for `alaris.digitalocean` (stdlib/alaris/digitalocean.lua and stdlib/alaris/digitalocean/*.lua
-- over alaris.http): a client for DigitalOcean's API v2 and its helpers (DOKS, registry, projects,
-- volumes, Spaces keys). For editors only; tests/types_test.lua checks it against the real module and a client.

---For an answer from DO, `code` is the code of its status (`"not_found"`, `"invalid"`, `"rate_limited"`, ...) and
---`reason` and `id` DO's `id` (`"unprocessable_entity"`, ...); for a transport failure `alaris.http`'s code. Helpers add `"config"`,
---`"timeout"`, `"cluster_failed"`, `"invalid_version"`, `"conflict"`, `"not_assigned"`, `"invalid_response"`.
---@class alaris.digitalocean.Error: alaris.Error
---@field status? integer the HTTP status of an answer from DO
---@field id? string DO's `id` (also `reason`)
---@field server_message? string DO's `message`
---@field request_id? string
---@field method? string
---@field path? string the request's path, without query
---@field retry_after? number seconds, on a 429
---@field cause? alaris.http.Error the transport failure
---@field state? string `wait_cluster_running`: the last state seen
---@field cluster? table `wait_cluster_running`: the last cluster seen
---@field resources? table[] `assign_resources`: each URN's outcome

---@class alaris.digitalocean.Options
---@field token? string default `DIGITALOCEAN_ACCESS_TOKEN`, else `DIGITALOCEAN_TOKEN`; masked
---@field api_url? string default `DIGITALOCEAN_API_URL`, else `https://api.digitalocean.com`
---@field timeout? number seconds per attempt (60)
---@field attempts? integer for 5xx and dropped connections, idempotent requests only (5)
---@field backoff? number first retry delay in seconds (0.5)
---@field max_backoff? number (10)
---@field max_rate_wait? number a 429 asking to wait longer is returned instead (3600)
---@field rate_reserve? number below this fraction of the rate limit, requests are spread out (0.1)

---@alias alaris.digitalocean.Query table<string, string|number|boolean|(string|number)[]>|string

---@class alaris.digitalocean.PageOptions
---@field per_page? integer (200)
---@field query? alaris.digitalocean.Query

---@class alaris.digitalocean.ClusterSpec
---@field name string
---@field region string
---@field version? string `"latest"` (default), `"1.32"` (newest 1.32.x) or a slug
---@field node_pools {name: string, size: string, count: integer}[]
---@field [string] any other fields (`tags`, `ha`, `auto_upgrade`, `vpc_uuid`, ...) are passed to DO as given

---@class alaris.digitalocean.Client
---@field api_url string
local Client = {}

---Forgets the token; later calls raise. Also run by `<close>`. Idempotent.
---@return true
function Client:close() end

---Any request; `raw = true` returns the body text undecoded.
---@param method string
---@param path string `"/v2/..."` or an absolute link DO returned
---@param opts? {query?: alaris.digitalocean.Query, body?: any, raw?: boolean}
---@return any|nil answer decoded JSON, `true` for an answer without a body, or text
---@return alaris.digitalocean.Error|nil err
function Client:request(method, path, opts) end

---@param path string
---@param query? alaris.digitalocean.Query
---@return any|nil answer
---@return alaris.digitalocean.Error|nil err
function Client:get(path, query) end

---@param path string
---@param body any encoded by `alaris.json`, or a string sent as is
---@return any|nil answer
---@return alaris.digitalocean.Error|nil err
function Client:post(path, body) end

---@param path string
---@param body any
---@return any|nil answer
---@return alaris.digitalocean.Error|nil err
function Client:put(path, body) end

---@param path string
---@param body any
---@return any|nil answer
---@return alaris.digitalocean.Error|nil err
function Client:patch(path, body) end

---@param path string
---@param query? alaris.digitalocean.Query
---@return any|nil answer
---@return alaris.digitalocean.Error|nil err
function Client:delete(path, query) end

---The items under `key` of every page, following `links.pages.next`; a failing page raises its error.
---@param path string
---@param key string e.g. `"volumes"`, `"kubernetes_clusters"`
---@param opts? alaris.digitalocean.PageOptions
---@return fun(): table?
function Client:pages(path, key, opts) end

---Every item of every page.
---@param path string
---@param key string
---@param opts? alaris.digitalocean.PageOptions
---@return table[]|nil items
---@return alaris.digitalocean.Error|nil err
function Client:list(path, key, opts) end

---The first item for which `predicate(item)` is true (nil when none); stops reading pages at the first match.
---@param path string
---@param key string
---@param predicate fun(item: table): boolean
---@param opts? alaris.digitalocean.PageOptions
---@return table|nil item
---@return alaris.digitalocean.Error|nil err
function Client:find(path, key, predicate, opts) end

---@return table|nil account
---@return alaris.digitalocean.Error|nil err
function Client:account() end

---@return {regions: table[], versions: table[], sizes: table[]}|nil options
---@return alaris.digitalocean.Error|nil err
function Client:options() end

---A DOKS version slug: `"latest"` is the newest offered, `"1.32"` the newest 1.32.x.
---@param v string
---@return string|nil slug
---@return alaris.digitalocean.Error|nil err `"invalid_version"`
function Client:resolve_version(v) end

---@param name string
---@return table|nil cluster nil (and no error) when none has that name
---@return alaris.digitalocean.Error|nil err
function Client:find_cluster(name) end

---@param id string
---@return table|nil cluster
---@return alaris.digitalocean.Error|nil err
function Client:get_cluster(id) end

---Creates a DOKS cluster; idempotent by name (the existing one, `created == false`).
---@param spec alaris.digitalocean.ClusterSpec
---@return table|nil cluster
---@return boolean|alaris.digitalocean.Error created_or_err
function Client:create_cluster(spec) end

---Polls until the cluster is running.
---@param id string
---@param timeout? number seconds (1200)
---@return table|nil cluster
---@return alaris.digitalocean.Error|nil err `"timeout"` (`err.state`) or `"cluster_failed"`
function Client:wait_cluster_running(id, timeout) end

---`true` also when it was already gone.
---@param id string
---@return true|nil ok
---@return alaris.digitalocean.Error|nil err
function Client:delete_cluster(id) end

---The kubeconfig DO hands out, as YAML text; its token and client key are registered as secrets.
---@param id string
---@param opts? {expiry_seconds?: integer}
---@return string|nil yaml
---@return alaris.digitalocean.Error|nil err
function Client:kubeconfig(id, opts) end

---A kubeconfig table for `k8s.client{kubeconfig = t}`, and when its credentials expire.
---@param id string
---@param opts? {expiry_seconds?: integer}
---@return table|nil kubeconfig
---@return string|alaris.digitalocean.Error|nil expires_at_or_err
function Client:cluster_credentials(id, opts) end

---@return table|nil registry nil (and no error) when the account has none
---@return alaris.digitalocean.Error|nil err
function Client:registry() end

---Idempotent by name; a registry of another name is `"conflict"`.
---@param spec {name: string, subscription_tier_slug?: string, region?: string}
---@return table|nil registry
---@return boolean|alaris.digitalocean.Error created_or_err
function Client:create_registry(spec) end

---@return true|nil ok
---@return alaris.digitalocean.Error|nil err
function Client:delete_registry() end

---A Docker `config.json` table; every `auth` is registered as a secret.
---@param opts? {read_write?: boolean, expiry_seconds?: integer}
---@return {auths: table<string, {auth: string}>}|nil config
---@return alaris.digitalocean.Error|nil err
function Client:docker_credentials(opts) end

---@return table[]|nil projects
---@return alaris.digitalocean.Error|nil err
function Client:projects() end

---@param name string
---@return table|nil project nil (and no error) when none has that name
---@return alaris.digitalocean.Error|nil err
function Client:find_project(name) end

---@return table|nil project
---@return alaris.digitalocean.Error|nil err
function Client:default_project() end

---Idempotent by name.
---@param spec {name: string, purpose?: string, environment?: string, description?: string}
---@return table|nil project
---@return boolean|alaris.digitalocean.Error created_or_err
function Client:create_project(spec) end

---DO answers 412 while the project holds resources.
---@param id string
---@return true|nil ok
---@return alaris.digitalocean.Error|nil err
function Client:delete_project(id) end

---@param id string a project id or `"default"`
---@return {urn: string, assigned_at: string, status: string, links: table}[]|nil resources
---@return alaris.digitalocean.Error|nil err
function Client:project_resources(id) end

---Assigns resources (URNs, see `digitalocean.urn`) to a project.
---@param id string a project id or `"default"`
---@param urns string[]
---@return table[]|nil resources
---@return alaris.digitalocean.Error|nil err `"not_assigned"` (with `err.resources`)
function Client:assign_resources(id, urns) end

---Idempotent by name and region.
---@param spec {name: string, region: string, size_gigabytes: integer, description?: string, filesystem_type?: string, tags?: string[], [string]: any}
---@return table|nil volume
---@return boolean|alaris.digitalocean.Error created_or_err
function Client:create_volume(spec) end

---@param filter? {name?: string, region?: string}
---@return table[]|nil volumes
---@return alaris.digitalocean.Error|nil err
function Client:volumes(filter) end

---@param name string
---@param region string
---@return table|nil volume nil (and no error) when there is none
---@return alaris.digitalocean.Error|nil err
function Client:find_volume(name, region) end

---@param id string
---@return true|nil ok
---@return alaris.digitalocean.Error|nil err
function Client:delete_volume(id) end

---A new Spaces access key; its secret (shown only in this answer) is registered as a secret. Not idempotent.
---@param spec {name: string, grants: {bucket: string, permission: "read"|"readwrite"|"fullaccess"}[]}
---@return {name: string, access_key: string, secret_key: string, grants: table[], created_at: string}|nil key
---@return alaris.digitalocean.Error|nil err
function Client:create_spaces_key(spec) end

---@param filter? {name?: string, bucket?: string, permission?: string}
---@return table[]|nil keys without secrets
---@return alaris.digitalocean.Error|nil err
function Client:spaces_keys(filter) end

---@param access_key string
---@return table|nil key nil (and no error) when there is no such key
---@return alaris.digitalocean.Error|nil err
function Client:spaces_key(access_key) end

---@param access_key string
---@param spec {name?: string, grants?: table[]}
---@return table|nil key
---@return alaris.digitalocean.Error|nil err
function Client:update_spaces_key(access_key, spec) end

---@param access_key string
---@return true|nil ok
---@return alaris.digitalocean.Error|nil err
function Client:delete_spaces_key(access_key) end

---Internal: `nil, err` with an error of this module, for the helpers.
---@private
---@param code string
---@param message string
---@param fields? table
---@return nil
---@return alaris.digitalocean.Error
function Client:fail(code, message, fields) end

---Internal: the URL of a path or a link DO returned (always on `api_url`).
---@private
---@param path string
---@param query? alaris.digitalocean.Query
---@return string
function Client:url_for(path, query) end

---Internal: remembers the rate-limit headers of an answer.
---@private
---@param headers table<string, string>
function Client:observe_rate(headers) end

---Internal: spreads requests out when the rate-limit budget is low.
---@private
function Client:throttle() end

---Internal: one request with the retry and rate-limit policy.
---@private
---@param method string
---@param url string
---@param headers [string, string][]
---@param body? string
---@return alaris.http.Response|nil response
---@return alaris.http.Error|nil err
function Client:send(method, url, headers, body) end

---@class alaris.digitalocean
---@field Client alaris.digitalocean.Client the client's methods table (clients are tables with this metatable)
local digitalocean = {}

---A client; `nil, err` (`"config"`) without a token or with an `api_url` that is not http(s).
---@param opts? alaris.digitalocean.Options
---@return alaris.digitalocean.Client|nil client
---@return alaris.digitalocean.Error|nil err
function digitalocean.client(opts) end

---Whether `v` is an error value of this module.
---@param v any
---@return boolean
function digitalocean.is_error(v) end

---`"do:KIND:ID"`, the form projects use for resources.
---@param kind string e.g. `"kubernetes"`, `"volume"`, `"space"`
---@param id string|integer
---@return string
function digitalocean.urn(kind, id) end

---A query string (without `?`): keys sorted and percent-encoded, a list value repeats its key.
---@param query? alaris.digitalocean.Query
---@return string
function digitalocean.encode_query(query) end

---RFC 3986 percent-encoding.
---@param s string
---@return string
function digitalocean.escape(s) end

return digitalocean
