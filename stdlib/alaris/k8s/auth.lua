-- alaris.k8s.auth: the credentials of a Kubernetes client, as client-go keeps them. A static token; a token file
-- re-read every minute and at once after a 401 (service account tokens rotate); a client certificate; an exec
-- credential plugin (client.authentication.k8s.io/v1 and v1beta1) run with KUBERNETES_EXEC_INFO, its credential
-- cached until its expirationTimestamp and fetched again once after a 401. Tokens and keys are registered as
-- secrets. It does not make API requests and does not support auth-provider plugins.
local alaris = require "alaris"
local json = require "alaris.json"
local process = require "alaris.process"
local kubeconfig = require "alaris.k8s.kubeconfig"

local auth = {}

local TOKEN_FILE_TTL = 60
local EXEC_TIMEOUT = 60
local EXPIRY_MARGIN = 10 -- seconds before expirationTimestamp when a credential counts as expired

local Credentials = {}
Credentials.__index = Credentials

local function secret(value)
  if value and value ~= "" then alaris.secret(value) end
  return value
end

-- Seconds since the epoch of an RFC 3339 time ("2024-05-01T10:00:00Z", "...+02:00", fractions allowed).
local function parse_rfc3339(s)
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  -- days from civil (Howard Hinnant's algorithm)
  local yy = mo <= 2 and y - 1 or y
  local era = (yy >= 0 and yy or yy - 399) // 400
  local yoe = yy - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  rest = rest:gsub("^%.%d+", "")
  if rest == "Z" or rest == "z" then return t end
  local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
  if not sign then return nil end
  local offset = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - offset or t + offset
end
auth.parse_rfc3339 = parse_rfc3339

local function plugin_error(command, problem)
  return alaris.error("exec", "exec plugin " .. command .. ": " .. problem)
end

-- The KUBERNETES_EXEC_INFO document for a plugin.
local function exec_info(settings, exec)
  local spec = { interactive = false }
  if exec.provide_cluster_info then
    local cluster = { server = settings.server, ["insecure-skip-tls-verify"] = settings.insecure or nil,
      ["tls-server-name"] = settings.server_name }
    if settings.ca_data then cluster["certificate-authority-data"] = require("alaris.crypto").base64_encode(settings.ca_data) end
    spec.cluster = cluster
  end
  return json.encode { apiVersion = exec.api_version, kind = "ExecCredential", spec = spec }
end

-- Runs the plugin; returns the credential {token | cert_data + key_data, expires} or nil, err.
local function run_plugin(settings, exec)
  local env = {}
  for k, v in pairs(exec.env) do env[k] = v end
  env.KUBERNETES_EXEC_INFO = exec_info(settings, exec)
  local argv = { exec.command }
  for _, a in ipairs(exec.args) do argv[#argv + 1] = a end
  local res, err = process.run(argv, env, EXEC_TIMEOUT)
  if not res then return nil, plugin_error(exec.command, tostring(err)) end
  if res.status ~= 0 then
    local why = res.signal and ("killed by signal " .. res.signal) or ("exit status " .. tostring(res.status))
    local first = (res.stderr:match("[^\n]+") or ""):sub(1, 200)
    return nil, plugin_error(exec.command, why .. (first ~= "" and (": " .. first) or ""))
  end
  local doc = json.decode(res.stdout)
  if type(doc) ~= "table" or doc.kind ~= "ExecCredential" then
    return nil, plugin_error(exec.command, "did not print an ExecCredential")
  end
  if doc.apiVersion ~= exec.api_version then
    return nil, plugin_error(exec.command, "printed apiVersion " .. tostring(doc.apiVersion) .. ", expected "
      .. exec.api_version)
  end
  local status = type(doc.status) == "table" and doc.status or {}
  local cred = {
    token = secret(type(status.token) == "string" and status.token ~= "" and status.token or nil),
    cert_data = type(status.clientCertificateData) == "string" and status.clientCertificateData or nil,
    key_data = secret(type(status.clientKeyData) == "string" and status.clientKeyData or nil),
  }
  if not cred.token and not (cred.cert_data and cred.key_data) then
    return nil, plugin_error(exec.command, "gave neither status.token nor status.clientCertificateData and "
      .. "status.clientKeyData")
  end
  if type(status.expirationTimestamp) == "string" then
    cred.expires = parse_rfc3339(status.expirationTimestamp)
    if not cred.expires then
      return nil, plugin_error(exec.command, "status.expirationTimestamp is not an RFC 3339 time")
    end
  end
  return cred
end

--- auth.new(settings) -> credentials for the user of kubeconfig settings
function auth.new(settings)
  local user = settings.user or {}
  local self = setmetatable({ settings = settings, user = user }, Credentials)
  secret(user.token)
  secret(user.key_data)
  return self
end

function Credentials:read_token_file()
  local text, err = kubeconfig.read_file(self.user.token_file)
  if not text then return nil, alaris.error("credentials", "cannot read token file " .. self.user.token_file .. ": "
      .. tostring(err)) end
  local token = text:match("^%s*(.-)%s*$")
  self.file_token, self.file_read_at = secret(token), alaris.now()
  return token
end

-- The exec credential, running the plugin when there is none or it expired (one run at a time per client).
function Credentials:exec_credential()
  local cred = self.exec_cred
  if cred and (not cred.expires or cred.expires - EXPIRY_MARGIN > os.time()) then return cred end
  if not self.exec_task then
    self.exec_task = alaris.spawn(run_plugin, self.settings, self.user.exec)
  end
  local task = self.exec_task
  local ok, result, err = alaris.wait(task)
  if self.exec_task == task then self.exec_task = nil end
  if not ok then error(result, 0) end
  if not result then return nil, err end
  self.exec_cred = result
  return result
end

--- creds:apply(request) -> request with Authorization / client certificate set | nil, err
function Credentials:apply(req)
  local user = self.user
  local token = user.token
  if user.exec and not token then
    local cred, err = self:exec_credential()
    if not cred then return nil, err end
    token = cred.token
    if cred.cert_data then req.cert_data, req.key_data = cred.cert_data, cred.key_data end
  elseif user.token_file and not token then
    token = self.file_token
    if not token or alaris.now() - self.file_read_at > TOKEN_FILE_TTL then
      local err
      token, err = self:read_token_file()
      if not token then return nil, err end
    end
  end
  if user.cert_data and not req.cert_data then req.cert_data, req.key_data = user.cert_data, user.key_data end
  if token and token ~= "" then req.headers.Authorization = "Bearer " .. token end
  return req
end

--- creds:refresh() -> true when a new credential may succeed where the last one got 401
function Credentials:refresh()
  local user = self.user
  if user.exec and not user.token then
    self.exec_cred = nil
    return true
  end
  if user.token_file and not user.token then
    local before = self.file_token
    local token = self:read_token_file()
    return token ~= nil and token ~= before
  end
  return false
end

return auth
