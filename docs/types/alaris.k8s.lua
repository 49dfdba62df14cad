---@meta
-- LuaLS type stubs for `alaris.k8s` (stdlib/alaris/k8s.lua and stdlib/alaris/k8s/*.lua over alaris.http): a
-- Kubernetes API client whose objects are plain Lua tables. For editors only; tests/types_test.lua checks it
-- against the real module, a client and a port-forward.

---A failed request: `code` is the code of its status (`"not_found"`, `"conflict"` for AlreadyExists and Conflict,
---`"invalid"`, `"forbidden"`, ...; see `alaris.http.status_code`), `reason` the Status reason; without an answer,
---`alaris.http`'s codes; also `"kubeconfig"`, `"exec"`, `"timeout"` (wait, delete with wait).
---@class alaris.k8s.Error: alaris.Error
---@field status? integer the HTTP status
---@field reason? string the Status `reason`: `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Forbidden`, ...
---@field server_message? string the Status `message`
---@field causes? {reason: string, message: string, field: string}[] `details.causes` (empty when none)
---@field details? table the whole `details`
---@field index? integer `apply_all`: the position of the manifest that failed
---@field object? table `wait` timed out: the last version seen
---@field curl_code? integer for transport failures

---A manifest or a reference: `apiVersion`, `kind`, `metadata.name` (and `metadata.namespace`).
---@class alaris.k8s.Object
---@field apiVersion string
---@field kind string
---@field metadata {name?: string, namespace?: string, labels?: table<string, string>, annotations?: table<string, string>, resourceVersion?: string}
---@field [string] any

---@class alaris.k8s.Options
---@field kubeconfig? string|table a path (that file only) or a kubeconfig table (e.g. `dc:cluster_credentials`)
---@field context? string a context instead of `current-context`
---@field in_cluster? false|{dir: string} false: ignore the in-cluster configuration
---@field timeout? number seconds per request (60)

---@class alaris.k8s.Resource
---@field name string the plural resource name, e.g. `"configmaps"`
---@field kind string
---@field namespaced boolean
---@field group string
---@field version string
---@field api_version string
---@field verbs string[]

---@class alaris.k8s.ListOptions
---@field label_selector? string
---@field field_selector? string
---@field limit? integer page size (500)

---@class alaris.k8s.WriteOptions
---@field dry_run? boolean
---@field field_manager? string
---@field subresource? string `replace`, `patch`, `apply`: e.g. `"status"`

---@class alaris.k8s.ApplyOptions: alaris.k8s.WriteOptions
---@field force? boolean take over fields another manager owns

---@class alaris.k8s.DeleteOptions
---@field propagation? "Foreground"|"Background"|"Orphan"
---@field wait? boolean return only once the object is gone
---@field timeout? number seconds for `wait` (60)
---@field dry_run? boolean
---@field grace_period? integer seconds

---@class alaris.k8s.RequestOptions
---@field query? table<string, string|number|boolean>
---@field body? table|string
---@field content_type? string
---@field accept? string
---@field idempotent? boolean retried on 429, 5xx and dropped connections
---@field on_data? fun(chunk: string, response: alaris.http.Response): boolean?
---@field timeout? number|false
---@field raw? boolean return the `alaris.http.Response` instead of the decoded body

---@class alaris.k8s.WatchOptions
---@field label_selector? string
---@field field_selector? string
---@field resource_version? string start after it; without it the existing objects come first as `ADDED`
---@field timeout? number seconds after which the iteration ends

---@class alaris.k8s.WatchEvent
---@field type "ADDED"|"MODIFIED"|"DELETED"
---@field object alaris.k8s.Object

---@class alaris.k8s.LogOptions
---@field container? string
---@field tail_lines? integer
---@field since_seconds? integer
---@field timestamps? boolean
---@field limit_bytes? integer
---@field follow? boolean stream with `on_data` until the pod goes away
---@field on_data? fun(chunk: string): boolean? `false` stops following
---@field timeout? number|false

---A local port forwarded to a pod's port: connect to `127.0.0.1:pf.local_port`.
---@class alaris.k8s.ExecOptions
---@field container? string the container (needed when the pod has several)
---@field stdin? string sent to the command, then closed
---@field timeout? number seconds for the whole command (the client's timeout, 60, by default)

---@class alaris.k8s.ExecResult
---@field stdout string
---@field stderr string
---@field exit_code integer 0 on success

---@class alaris.k8s.PortForward
---@field local_port integer
---@field errors string[] messages from the error channel
local PortForward = {}

---Stops listening and closes every forwarded connection; idempotent. Also run by `<close>`.
---@return true
function PortForward:close() end

---Internal: records and prints an error-channel message.
---@private
---@param message string
function PortForward:report(message) end

---Internal: the WebSocket of one forwarded connection.
---@private
function PortForward:open_websocket() end

---Internal: copies data both ways for one accepted connection.
---@private
---@param sock any
function PortForward:serve(sock) end

---Internal: accepts connections until closed.
---@private
function PortForward:accept_loop() end

---@class alaris.k8s.Client
---@field namespace string the context's namespace (`"default"` when it names none)
---@field server string the API server's URL
---@field settings table the resolved configuration (credentials inside, registered as secrets)
local Client = {}

---Closes the client's port-forwards. Also run by `<close>`. Idempotent.
---@return true
function Client:close() end

---An object, by `(apiVersion, kind, name [, namespace])` or by a reference table.
---@param api_version_or_ref string|alaris.k8s.Object
---@param kind? string
---@param name? string
---@param namespace? string
---@return alaris.k8s.Object|nil object
---@return alaris.k8s.Error|nil err
function Client:get(api_version_or_ref, kind, name, namespace) end

---An iterator over the objects (pages fetched as the loop reaches them; a later page's failure raises), and the
---first page's `metadata`. `namespace` nil: every namespace.
---@param api_version string
---@param kind string
---@param namespace? string
---@param opts? alaris.k8s.ListOptions
---@return (fun(): alaris.k8s.Object?)|nil iterator
---@return table|alaris.k8s.Error metadata_or_err
function Client:list(api_version, kind, namespace, opts) end

---The same as `list`, collected into an array.
---@param api_version string
---@param kind string
---@param namespace? string
---@param opts? alaris.k8s.ListOptions
---@return alaris.k8s.Object[]|nil objects
---@return table|alaris.k8s.Error metadata_or_err
function Client:list_all(api_version, kind, namespace, opts) end

---@param m alaris.k8s.Object
---@param opts? alaris.k8s.WriteOptions
---@return alaris.k8s.Object|nil object
---@return alaris.k8s.Error|nil err
function Client:create(m, opts) end

---A stale `resourceVersion` gives `Conflict`.
---@param m alaris.k8s.Object
---@param opts? alaris.k8s.WriteOptions
---@return alaris.k8s.Object|nil object
---@return alaris.k8s.Error|nil err
function Client:replace(m, opts) end

---@param ref alaris.k8s.Object
---@param patch table a merge/strategic patch, or a list of JSON-patch operations
---@param type? "merge"|"json"|"strategic" default `"merge"`
---@param opts? alaris.k8s.WriteOptions
---@return alaris.k8s.Object|nil object
---@return alaris.k8s.Error|nil err
function Client:patch(ref, patch, type, opts) end

---Server-side apply (field manager `"alaris"` by default).
---@param m alaris.k8s.Object
---@param opts? alaris.k8s.ApplyOptions
---@return alaris.k8s.Object|nil object
---@return alaris.k8s.Error|nil err
function Client:apply(m, opts) end

---Applies a list of manifests, a `List`, or multi-document YAML: Namespaces first, then CRDs (waited for until
---Established), then the rest in order; stops at the first failure (`err.index`).
---@param list_or_yaml alaris.k8s.Object[]|alaris.k8s.Object|string
---@param opts? alaris.k8s.ApplyOptions
---@return alaris.k8s.Object[]|nil objects
---@return alaris.k8s.Error|nil err
function Client:apply_all(list_or_yaml, opts) end

---@param ref alaris.k8s.Object
---@param opts? alaris.k8s.DeleteOptions
---@return true|nil ok
---@return table|alaris.k8s.Error answer_or_err the server's answer, or the error
function Client:delete(ref, opts) end

---The resource for a kind, from the server's discovery (cached per client, refreshed on a miss).
---@param api_version string
---@param kind string
---@return alaris.k8s.Resource|nil resource
---@return alaris.k8s.Error|nil err
function Client:resource(api_version, kind) end

---Any request to the API server; the decoded answer.
---@param method string
---@param path string e.g. `"/api/v1/namespaces"`
---@param opts? alaris.k8s.RequestOptions
---@return any|nil answer
---@return alaris.k8s.Error|nil err
function Client:request(method, path, opts) end

---Events for a generic `for`; leaving the loop (even by `break` or an error) stops the watch. A 410 Gone relists
---and reports what changed. Another error ends the loop by raising it.
---@param api_version string
---@param kind string
---@param namespace? string
---@param opts? alaris.k8s.WatchOptions
---@return (fun(): alaris.k8s.WatchEvent?)|nil iterator
---@return any state_or_err the iterator's state, or the error
---@return nil control
---@return any closing value that stops the stream
function Client:watch(api_version, kind, namespace, opts) end

---Waits (a list, then a watch) until `condition` holds: a condition type (`"Ready"`), `"deleted"`, or a function
---(its argument is nil while the object does not exist).
---@param ref alaris.k8s.Object
---@param condition string|fun(obj: alaris.k8s.Object?): boolean
---@param opts? {timeout?: number} seconds (300)
---@return alaris.k8s.Object|true|nil object `true` for `"deleted"`
---@return alaris.k8s.Error|nil err `"timeout"`, with `err.object`
function Client:wait(ref, condition, opts) end

---A pod's log as text; with `follow` and `on_data`, streams and returns `true`.
---@param namespace? string
---@param pod string
---@param opts? alaris.k8s.LogOptions
---@return string|true|nil log
---@return alaris.k8s.Error|nil err
function Client:logs(namespace, pod, opts) end

---Listens on 127.0.0.1 (a free port) and forwards each connection to the pod's `port` over a WebSocket.
---@param namespace? string
---@param pod string
---@param port integer
---@return alaris.k8s.PortForward|nil pf
---@return alaris.Error|nil err
function Client:port_forward(namespace, pod, port) end

---Runs `command` (a list of arguments, no shell unless you run one) in a container of the pod through
---`pods/NAME/exec` over WebSocket; returns when it has ended. A non-zero exit is a result, not an error.
---@param namespace? string
---@param pod string
---@param command string[]
---@param opts? alaris.k8s.ExecOptions
---@return alaris.k8s.ExecResult|nil result
---@return alaris.Error|nil err `exec` (refused: `err.status`), or the WebSocket's code
function Client:exec(namespace, pod, command, opts) end

---Internal: the `alaris.http` options of one attempt.
---@private
---@param method string
---@param path string
---@param opts alaris.k8s.RequestOptions
---@return alaris.http.Request|nil request
---@return alaris.k8s.Error|nil err
function Client:http_options(method, path, opts) end

---Internal: discovery of one group version (one request at a time per group version).
---@private
---@param api_version string
---@return table|nil entry
---@return alaris.k8s.Error|nil err
function Client:fetch_resources(api_version) end

---Internal: the path of a collection, an object or a subresource.
---@private
---@param res alaris.k8s.Resource
---@param namespace? string
---@param name? string
---@param subresource? string
---@return string
function Client:path(res, namespace, name, subresource) end

---Internal: resource, name, namespace of `(apiVersion, kind, name, namespace)` or a reference.
---@private
---@return alaris.k8s.Resource|nil resource
---@return string|alaris.k8s.Error|nil name_or_err
---@return string|nil namespace
function Client:locate(a, b, c, d) end

---Internal: waits until the CRDs of an `apply_all` are Established.
---@private
---@param order table
---@return true|nil ok
---@return alaris.k8s.Error|nil err
function Client:wait_established(order) end

---@class alaris.k8s
---@field Client alaris.k8s.Client the client's methods table (clients are tables with this metatable)
local k8s = {}

---A client configured as kubectl would be: in-cluster, else `KUBECONFIG`, else `~/.kube/config`.
---@param opts? alaris.k8s.Options
---@return alaris.k8s.Client|nil client
---@return alaris.k8s.Error|nil err `"kubeconfig"` naming the file and the field
function k8s.client(opts) end

---A Secret's `data` base64-decoded (and `stringData` as is); every value is registered as a secret.
---@param secret alaris.k8s.Object
---@return table<string, string>|nil data
---@return alaris.k8s.Error|nil err `"invalid_base64"`
function k8s.secret_data(secret) end

---The condition of that type in `obj.status.conditions`, or nil.
---@param obj alaris.k8s.Object?
---@param type string
---@return {type: string, status: string, reason?: string, message?: string}|nil
function k8s.condition(obj, type) end

---The error value for a failed answer (its Status body decoded): what `kc:request` returns for 4xx/5xx.
---@param method string
---@param path string
---@param resp alaris.http.Response
---@return alaris.k8s.Error
function k8s.status_error(method, path, resp) end

---A query string: `"?a=1&b=x%20y"` (keys sorted, nil/false values left out, `true` as `"true"`), or `""`.
---@param query? table<string, string|number|boolean>
---@return string
function k8s.encode_query(query) end

return k8s
