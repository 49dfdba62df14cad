-- alaris.k8s.kubeconfig: where a Kubernetes client's configuration comes from, with client-go's rules. The
-- in-cluster service account (KUBERNETES_SERVICE_HOST + the token folder), the files of KUBECONFIG merged (the first
-- file to set a name or the current context wins; missing files are skipped), ~/.kube/config, an explicit file, or
-- a kubeconfig table already loaded. Relative paths resolve against the folder of the file that holds them. The
-- result is one flat connection description (server, TLS material, namespace, credentials) for alaris.k8s.
-- It does not contact the server or run exec plugins (alaris.k8s.auth does), and it does not write kubeconfigs.
local yaml = require "alaris.yaml"
local crypto = require "alaris.crypto"
local alaris = require "alaris"

local kubeconfig = {}

local SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
local EXEC_API_VERSIONS = {
  ["client.authentication.k8s.io/v1"] = true,
  ["client.authentication.k8s.io/v1beta1"] = true,
}

-- An error for the caller: one line, naming the file and the field.
local function config_error(origin, field, problem)
  local where = field and (": " .. field) or ""
  return alaris.error("kubeconfig", "kubeconfig " .. origin .. where .. ": " .. problem)
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function is_absolute(path)
  return path:sub(1, 1) == "/"
end

-- A value that is not a string (null, a number) is left as it is, for the field's type check to report.
local function resolve_path(base_dir, path)
  if type(path) ~= "string" or path == "" or is_absolute(path) then return path end
  if path:sub(1, 2) == "~/" then return (os.getenv("HOME") or "") .. path:sub(2) end
  return base_dir .. "/" .. path
end

-- Checks that field `key` of table `t` is a string (or absent); returns it.
local function string_field(t, key, origin, path)
  local v = t[key]
  if v == nil or v == yaml.null then return nil end
  if type(v) ~= "string" then
    error(config_error(origin, path .. "." .. key, "expected a string, got " .. type(v)), 0)
  end
  return v
end

local function bool_field(t, key, origin, path)
  local v = t[key]
  if v == nil or v == yaml.null then return nil end
  if type(v) ~= "boolean" then error(config_error(origin, path .. "." .. key, "expected true or false"), 0) end
  return v
end

-- Paths inside a cluster or user entry made absolute against the file's folder (client-go's ResolvePaths).
local function resolve_entry_paths(kind, body, base_dir)
  if kind == "clusters" then
    body["certificate-authority"] = resolve_path(base_dir, body["certificate-authority"])
  elseif kind == "users" then
    for _, key in ipairs { "client-certificate", "client-key", "tokenFile" } do
      body[key] = resolve_path(base_dir, body[key])
    end
    local exec = body.exec
    if type(exec) == "table" and type(exec.command) == "string" and exec.command:find("/", 1, true) then
      exec.command = resolve_path(base_dir, exec.command)
    end
  end
end

local ENTRY_BODY = { clusters = "cluster", users = "user", contexts = "context" }

-- Adds the named entries of one file to the merged maps; the first definition of a name wins.
local function merge_entries(merged, doc, kind, origin, base_dir)
  local list = doc[kind]
  if list == nil or list == yaml.null then return end
  if type(list) ~= "table" then error(config_error(origin, kind, "expected a list"), 0) end
  for i, entry in ipairs(list) do
    local path = string.format("%s[%d]", kind, i)
    if type(entry) ~= "table" then error(config_error(origin, path, "expected a mapping"), 0) end
    local name = string_field(entry, "name", origin, path)
    if not name or name == "" then error(config_error(origin, path .. ".name", "missing"), 0) end
    local body = entry[ENTRY_BODY[kind]]
    if body == nil or body == yaml.null then body = {} end
    if type(body) ~= "table" then
      error(config_error(origin, path .. "." .. ENTRY_BODY[kind], "expected a mapping"), 0)
    end
    if not merged[kind][name] then
      resolve_entry_paths(kind, body, base_dir)
      merged[kind][name] = { body = body, origin = origin, path = path .. "." .. ENTRY_BODY[kind] }
    end
  end
end

local function new_merged()
  return { clusters = {}, users = {}, contexts = {}, origins = {} }
end

-- Merges one decoded kubeconfig document into `merged`.
local function merge_document(merged, doc, origin, base_dir)
  if doc == nil or doc == yaml.null then return end -- an empty file adds nothing
  if type(doc) ~= "table" then error(config_error(origin, nil, "not a kubeconfig (expected a mapping)"), 0) end
  for kind in pairs(ENTRY_BODY) do merge_entries(merged, doc, kind, origin, base_dir) end
  local current = string_field(doc, "current-context", origin, "")
  if current and current ~= "" and not merged.current_context then
    merged.current_context = current
    merged.current_origin = origin
  end
  merged.origins[#merged.origins + 1] = origin
end

local function load_file_into(merged, path, required)
  local text, err = read_file(path)
  if not text then
    if not required then return false end
    error(config_error(path, nil, "cannot read: " .. tostring(err)), 0)
  end
  local doc, derr = yaml.decode(text)
  if derr then error(config_error(path, nil, "not valid YAML: " .. tostring(derr)), 0) end
  merge_document(merged, doc, path, dirname(path))
  return true
end

local function split_list(value)
  local paths = {}
  for p in (value .. ":"):gmatch("([^:]*):") do
    if p ~= "" then paths[#paths + 1] = p end
  end
  return paths
end

-- The merged configuration of the KUBECONFIG list, or of ~/.kube/config.
local function load_default()
  local merged = new_merged()
  local list = os.getenv("KUBECONFIG")
  if list and list ~= "" then
    for _, path in ipairs(split_list(list)) do load_file_into(merged, path, false) end
    if #merged.origins == 0 then
      error(config_error(list, nil, "none of the files in KUBECONFIG can be read"), 0)
    end
    return merged
  end
  local home = os.getenv("HOME") or ""
  load_file_into(merged, home .. "/.kube/config", true)
  return merged
end

-- base64 *-data fields decoded; file fields read.
local function material(body, data_key, file_key, origin, path)
  local data = string_field(body, data_key, origin, path)
  if data then
    local decoded = crypto.base64_decode((data:gsub("%s", "")))
    if not decoded then error(config_error(origin, path .. "." .. data_key, "not valid base64"), 0) end
    return decoded
  end
  local file = string_field(body, file_key, origin, path)
  if file then
    local text, err = read_file(file)
    if not text then error(config_error(origin, path .. "." .. file_key, "cannot read: " .. tostring(err)), 0) end
    return text
  end
  return nil
end

local function check_server(server, origin, path)
  if not server or server == "" then error(config_error(origin, path .. ".server", "missing"), 0) end
  if not server:match("^https?://[^/]") then
    error(config_error(origin, path .. ".server", "expected an http:// or https:// URL"), 0)
  end
  return (server:gsub("/+$", ""))
end

local function cluster_settings(entry)
  local body, origin, path = entry.body, entry.origin, entry.path
  local insecure = bool_field(body, "insecure-skip-tls-verify", origin, path) or false
  return {
    server = check_server(string_field(body, "server", origin, path), origin, path),
    ca_data = material(body, "certificate-authority-data", "certificate-authority", origin, path),
    insecure = insecure,
    server_name = string_field(body, "tls-server-name", origin, path),
  }
end

local function exec_settings(exec, origin, path)
  path = path .. ".exec"
  if type(exec) ~= "table" then error(config_error(origin, path, "expected a mapping"), 0) end
  local api = string_field(exec, "apiVersion", origin, path)
  if not EXEC_API_VERSIONS[api or ""] then
    error(config_error(origin, path .. ".apiVersion", "expected client.authentication.k8s.io/v1 or v1beta1, got "
      .. tostring(api)), 0)
  end
  local command = string_field(exec, "command", origin, path)
  if not command or command == "" then error(config_error(origin, path .. ".command", "missing"), 0) end
  local mode = string_field(exec, "interactiveMode", origin, path)
  if api == "client.authentication.k8s.io/v1" and not mode then
    error(config_error(origin, path .. ".interactiveMode", "required by client.authentication.k8s.io/v1"), 0)
  end
  if mode == "Always" then
    error(config_error(origin, path .. ".interactiveMode", "Always needs a terminal, which alaris does not give"), 0)
  end
  local args, env = {}, {}
  for i, a in ipairs(type(exec.args) == "table" and exec.args or {}) do
    if type(a) ~= "string" then error(config_error(origin, string.format("%s.args[%d]", path, i), "expected a string"), 0) end
    args[i] = a
  end
  for i, e in ipairs(type(exec.env) == "table" and exec.env or {}) do
    local epath = string.format("%s.env[%d]", path, i)
    if type(e) ~= "table" or type(e.name) ~= "string" or type(e.value) ~= "string" then
      error(config_error(origin, epath, "expected {name, value} strings"), 0)
    end
    env[e.name] = e.value
  end
  return {
    api_version = api, command = command, args = args, env = env,
    provide_cluster_info = bool_field(exec, "provideClusterInfo", origin, path) or false,
  }
end

local function user_settings(entry)
  local body, origin, path = entry.body, entry.origin, entry.path
  local user = {
    token = string_field(body, "token", origin, path),
    token_file = string_field(body, "tokenFile", origin, path),
    cert_data = material(body, "client-certificate-data", "client-certificate", origin, path),
    key_data = material(body, "client-key-data", "client-key", origin, path),
  }
  if (user.cert_data == nil) ~= (user.key_data == nil) then
    error(config_error(origin, path, "a client certificate needs its key (and a key its certificate)"), 0)
  end
  if user.token == "" then user.token = nil end
  if body.exec ~= nil and body.exec ~= yaml.null then user.exec = exec_settings(body.exec, origin, path) end
  if user.token_file and not user.token then
    local f = io.open(user.token_file, "rb")
    if not f then error(config_error(origin, path .. ".tokenFile", "cannot read " .. user.token_file), 0) end
    f:close()
  end
  for _, unsupported in ipairs { "auth-provider", "username" } do
    if body[unsupported] ~= nil then
      error(config_error(origin, path .. "." .. unsupported, "not supported by alaris (use a token, a client "
        .. "certificate or an exec plugin)"), 0)
    end
  end
  return user
end

-- The flat settings of context `name` (nil: the current context) in a merged configuration.
local function settings_of(merged, name)
  local origin = merged.origins[1] or "(none)"
  name = name or merged.current_context
  if not name or name == "" then error(config_error(origin, "current-context", "not set (and no context given)"), 0) end
  local ctx = merged.contexts[name]
  if not ctx then error(config_error(merged.current_origin or origin, "contexts", "no context named " .. name), 0) end
  local cluster_name = string_field(ctx.body, "cluster", ctx.origin, ctx.path)
  local cluster = merged.clusters[cluster_name or ""]
  if not cluster then
    error(config_error(ctx.origin, ctx.path .. ".cluster", "no cluster named " .. tostring(cluster_name)), 0)
  end
  local user_name = string_field(ctx.body, "user", ctx.origin, ctx.path)
  local user_entry = merged.users[user_name or ""]
  if user_name and user_name ~= "" and not user_entry then
    error(config_error(ctx.origin, ctx.path .. ".user", "no user named " .. user_name), 0)
  end
  local settings = cluster_settings(cluster)
  settings.user = user_entry and user_settings(user_entry) or {}
  settings.namespace = string_field(ctx.body, "namespace", ctx.origin, ctx.path)
  if not settings.namespace or settings.namespace == "" then settings.namespace = "default" end
  settings.context = name
  settings.origin = ctx.origin
  return settings
end

-- The in-cluster settings from a service account folder, or nil when it is not there.
local function in_cluster_settings(dir)
  local host, port = os.getenv("KUBERNETES_SERVICE_HOST"), os.getenv("KUBERNETES_SERVICE_PORT")
  if not host or host == "" then return nil end
  local token_file = dir .. "/token"
  local f = io.open(token_file, "rb")
  if not f then return nil end
  f:close()
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  local namespace = read_file(dir .. "/namespace")
  namespace = namespace and namespace:match("^%s*(.-)%s*$") or ""
  return {
    server = "https://" .. host .. ":" .. (port ~= nil and port ~= "" and port or "443"),
    ca_data = read_file(dir .. "/ca.crt"),
    insecure = false,
    user = { token_file = token_file },
    namespace = namespace ~= "" and namespace or "default",
    context = "in-cluster",
    origin = "in-cluster (" .. dir .. ")",
  }
end

--- kubeconfig.load{kubeconfig = path | table, context = name, in_cluster = {dir = ...} | false}
--- -> settings | nil, err (err.code "kubeconfig", one line naming the file and the field)
function kubeconfig.load(opts)
  opts = opts or {}
  local ok, result = pcall(function()
    if opts.kubeconfig == nil and opts.in_cluster ~= false then
      local dir = type(opts.in_cluster) == "table" and opts.in_cluster.dir or os.getenv("ALARIS_SERVICEACCOUNT_DIR")
      local settings = in_cluster_settings(dir or SERVICE_ACCOUNT_DIR)
      if settings then return settings end
    end
    local merged = new_merged()
    if type(opts.kubeconfig) == "string" then
      load_file_into(merged, opts.kubeconfig, true)
    elseif type(opts.kubeconfig) == "table" then
      merge_document(merged, opts.kubeconfig, "(table)", ".")
    else
      merged = load_default()
    end
    return settings_of(merged, opts.context)
  end)
  if ok then return result end
  if type(result) == "table" and result.code == "kubeconfig" then return nil, result end
  error(result, 0)
end

kubeconfig.read_file = read_file

return kubeconfig
