-- alaris.k8s.exec: client:exec(namespace, pod, command, opts) runs a command in a pod's container through
-- pods/NAME/exec over WebSocket (subprotocol v5.channel.k8s.io, or v4.channel.k8s.io when the server only speaks
-- that), as `kubectl exec` does: every frame starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 the final
-- metav1.Status, 255 close on v5). It collects stdout and stderr and reads the exit code from the Status; stdin,
-- when given, is sent and then closed (v5; a v4 server is never told the input ended). No terminal (tty) and no
-- streaming: the output is returned when the command has ended.
local alaris = require "alaris"
local json = require "alaris.json"
local websocket = require "alaris.websocket"

local exec = {}

local new_error = alaris.error

local STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255
local V5 = "v5.channel.k8s.io"

local function websocket_url(server, path)
  return (server:gsub("^https://", "wss://"):gsub("^http://", "ws://")) .. path
end

-- The request path: options first, then one command= per argument, in order.
local function exec_path(k8s, namespace, pod, command, opts)
  local path = string.format("/api/v1/namespaces/%s/pods/%s/exec", namespace, pod) .. k8s.encode_query {
    container = opts.container, stdin = opts.stdin ~= nil, stdout = true, stderr = true,
  }
  for _, arg in ipairs(command) do path = path .. "&" .. k8s.encode_query({ command = arg }):sub(2) end
  return path
end

local function open(client, path, timeout)
  local s = client.settings
  local req, err = client.credentials:apply({ headers = {} })
  if not req then return nil, err end
  return websocket.connect {
    url = websocket_url(s.server, path), protocols = { V5, "v4.channel.k8s.io" }, headers = req.headers,
    ca_data = s.ca_data, cert_data = req.cert_data, key_data = req.key_data, insecure = s.insecure,
    server_name = s.server_name, timeout = timeout,
  }
end

-- The exit code a final Status carries: 0 for Success, the ExitCode cause for NonZeroExitCode; nil, err otherwise.
local function exit_code(status, where)
  if type(status) ~= "table" then return nil, new_error("exec", where .. ": the stream ended without a status") end
  if status.status == "Success" then return 0 end
  if status.reason == "NonZeroExitCode" then
    for _, cause in ipairs(status.details and status.details.causes or {}) do
      if cause.reason == "ExitCode" then return tonumber(cause.message) end
    end
  end
  return nil, new_error("exec", where .. ": " .. tostring(status.message or status.reason or "failed"))
end

-- The error for an upgrade the server refused (its Status message when the answer carries one) or a failed connect.
local function refused(err, where)
  local text = tostring(err.message or err)
  local message = text:match('"message":"(.-)","reason"')
  message = message and message:gsub('\\"', '"')
  if err.code ~= "status" or not message then return new_error(err.code or "exec", where .. ": " .. text) end
  local e = new_error("exec", string.format("%s: %d %s: %s", where, err.status, text:match('"reason":"(%w+)"') or "", message))
  e.status = err.status
  return e
end

local function send_stdin(ws, data)
  if #data > 0 and not ws:send(string.char(STDIN) .. data, "binary") then return end
  if ws:protocol() == V5 then ws:send(string.char(CLOSE, STDIN), "binary") end
end

-- Reads frames until the server closes; returns stdout, stderr, the decoded Status (or nil), err.
local function collect(ws, deadline)
  local out, errout, status = {}, {}, nil
  while true do
    local msg, err = ws:receive(math.max(deadline - alaris.now(), 0))
    if not msg then
      if err and err.code ~= "closed" then return nil, nil, nil, err end
      break
    end
    local channel, payload = msg:byte(1), msg:sub(2)
    if channel == STDOUT then out[#out + 1] = payload
    elseif channel == STDERR then errout[#errout + 1] = payload
    elseif channel == STATUS then status = json.decode(payload) end
  end
  return table.concat(out), table.concat(errout), status
end

function exec.install(k8s, Client)
  --- client:exec(namespace, pod, command, {container, stdin, timeout}) -> {stdout, stderr, exit_code} | nil, err
  --- command: a list of strings (no shell unless you run one). A non-zero exit is a result, not an error.
  function Client:exec(namespace, pod, command, opts)
    opts = opts or {}
    if type(pod) ~= "string" or type(command) ~= "table" or #command == 0 then
      error("k8s: exec(namespace, pod, command, opts) needs a pod name and a non-empty list of arguments", 2)
    end
    if opts.stdin ~= nil and type(opts.stdin) ~= "string" then error("k8s: exec: opts.stdin must be a string", 2) end
    namespace = namespace or self.namespace
    local where = string.format("exec %s in %s/%s", command[1], namespace, pod)
    local timeout = opts.timeout or self.timeout
    local deadline = alaris.now() + timeout
    local ws, err = open(self, exec_path(k8s, namespace, pod, command, opts), timeout)
    if not ws then return nil, refused(err, where) end
    local writer = opts.stdin and alaris.spawn(send_stdin, ws, opts.stdin)
    local stdout, stderr, status, rerr = collect(ws, deadline)
    if writer and not writer:done() then alaris.cancel(writer, "exec ended") end
    ws:close()
    if not stdout then return nil, new_error(rerr.code or "exec", where .. ": " .. tostring(rerr.message or rerr)) end
    local code, cerr = exit_code(status, where)
    if not code then return nil, cerr end
    return { stdout = stdout, stderr = stderr, exit_code = code }
  end
end

return exec
