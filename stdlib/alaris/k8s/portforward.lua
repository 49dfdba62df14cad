-- alaris.k8s.portforward: client:port_forward(namespace, pod, port) listens on 127.0.0.1 (a free port) and gives
-- each accepted TCP connection its own WebSocket to pods/NAME/portforward?ports=PORT (subprotocol
-- v4.channel.k8s.io: channel 0 carries data, channel 1 errors, and the first frame of each channel starts with the
-- port as a little-endian uint16, which is skipped). Tasks on the event loop pump both directions while other
-- coroutines run. Errors from the error channel are kept in pf.errors and logged as warnings.
-- It forwards one port per call and does not speak SPDY.
local alaris = require "alaris"
local socket = require "alaris.socket"
local websocket = require "alaris.websocket"

local portforward = {}

local DATA, ERRORS = 0, 1

local Forward = {}
Forward.__index = Forward

local function websocket_url(server, path)
  return (server:gsub("^https://", "wss://"):gsub("^http://", "ws://")) .. path
end

function Forward:report(message)
  self.errors[#self.errors + 1] = message
  io.stderr:write("warning: port-forward ", self.pod, ":", self.port, ": ", message, "\n")
end

-- Opens the WebSocket of one connection, with the client's TLS settings and credentials.
function Forward:open_websocket()
  local client = self.client
  local s = client.settings
  local req, err = client.credentials:apply({ headers = {} })
  if not req then return nil, err end
  local path = string.format("/api/v1/namespaces/%s/pods/%s/portforward?ports=%d", self.namespace, self.pod, self.port)
  return websocket.connect {
    url = websocket_url(s.server, path), protocols = { "v4.channel.k8s.io" }, headers = req.headers,
    ca_data = s.ca_data, cert_data = req.cert_data, key_data = req.key_data, insecure = s.insecure,
    server_name = s.server_name, timeout = 30,
  }
end

-- WebSocket -> TCP: data frames to the socket, error frames reported; the port prefix of each channel skipped.
local function pump_from_pod(fwd, ws, sock)
  local prefixed = { [DATA] = false, [ERRORS] = false }
  while true do
    local msg = ws:receive()
    if not msg then break end
    local channel = msg:byte(1)
    local payload = msg:sub(2)
    if channel ~= nil and prefixed[channel] == false then
      prefixed[channel] = true
      payload = payload:sub(3)
    end
    if channel == DATA and #payload > 0 then
      if not sock:write(payload) then break end
    elseif channel == ERRORS and #payload > 0 then
      fwd:report(payload)
    end
  end
  if not sock:closed() then sock:shutdown() end -- the local client reads end of file, then closes its side
end

-- TCP -> WebSocket, on channel 0.
local function pump_to_pod(ws, sock)
  while true do
    local data = sock:read()
    if not data then break end
    if not ws:send(string.char(DATA) .. data) then break end
  end
  ws:close()
end

function Forward:serve(sock)
  local ws, err = self:open_websocket()
  if not ws then
    self:report("cannot open the stream: " .. tostring(err))
    sock:close()
    return
  end
  local conn = { ws = ws, sock = sock }
  self.connections[conn] = true
  conn.reader = alaris.spawn(pump_from_pod, self, ws, sock)
  pump_to_pod(ws, sock)
  alaris.wait(conn.reader)
  self.connections[conn] = nil
  sock:close()
end

function Forward:accept_loop()
  while true do
    local sock = self.listener:accept()
    if not sock then break end
    self.tasks[#self.tasks + 1] = alaris.spawn(function() self:serve(sock) end)
  end
end

--- pf:close(): stops listening, closes every forwarded connection. Idempotent.
function Forward:close()
  if self.closed then return true end
  self.closed = true
  self.client.closers[self] = nil
  for _, t in ipairs(self.tasks) do
    if not t:done() then alaris.cancel(t, "port-forward closed") end
  end
  for conn in pairs(self.connections) do
    if conn.reader and not conn.reader:done() then alaris.cancel(conn.reader, "port-forward closed") end
    conn.ws:close()
    conn.sock:close()
  end
  self.connections = {}
  return self.listener:close()
end
Forward.__close = Forward.close
Forward.__gc = Forward.close

function portforward.install(k8s, Client)
  --- client:port_forward(namespace, pod, port) -> pf {local_port, errors, close} | nil, err
  function Client:port_forward(namespace, pod, port)
    if type(pod) ~= "string" or math.type(port) ~= "integer" then
      error("k8s: port_forward(namespace, pod, port) needs a pod name and an integer port", 2)
    end
    local listener, err = socket.listen("127.0.0.1", 0)
    if not listener then return nil, err end
    local fwd = setmetatable({
      client = self, namespace = namespace or self.namespace, pod = pod, port = port, listener = listener,
      local_port = listener:port(), errors = {}, tasks = {}, connections = {},
    }, Forward)
    self.closers[fwd] = true
    fwd.tasks[1] = alaris.spawn(function() fwd:accept_loop() end)
    return fwd
  end
end

return portforward
