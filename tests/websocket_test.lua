-- alaris.websocket: the Upgrade request as a server receives it (long credentials intact, nothing injected through
-- CR/LF). The server is a task on the same event loop (the TCP listener of alaris.socket, formerly of
-- alaris.k8s.core) that keeps the raw request and answers 400, so no WebSocket server is needed to see what the
-- client sent.
local T = require "testing"
local alaris = require "alaris"
local websocket = require "alaris.websocket"
local has_socket, socket = pcall(require, "alaris.socket")
if not has_socket then socket = require "alaris.k8s.core" end

-- Starts a listener whose first connection's request head is read whole; returns the URL base and a function that
-- waits for that head (nil if no connection came within the timeout).
local function capture_server()
  local listener = assert(socket.listen("127.0.0.1", 0))
  local task = alaris.spawn(function()
    local sock = assert(listener:accept())
    local head = ""
    while not head:find("\r\n\r\n", 1, true) do
      local data = sock:read()
      if not data then break end
      head = head .. data
    end
    sock:write("HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefused")
    sock:close()
    return head
  end)
  local function received(timeout)
    local done, head = alaris.wait(task, timeout or 5)
    if done == nil then task:cancel() end
    listener:close()
    return done and head or nil
  end
  return "ws://127.0.0.1:" .. math.tointeger(listener:port()), received
end

-- The request line and a name -> value map of the header lines of a request head.
local function parse_head(head)
  local request_line = head:match("^([^\r\n]*)\r\n")
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+): ([^\r\n]*)") do headers[name] = value end
  return request_line, headers
end

T.test("a long bearer token and many headers reach the server intact, each on its own line", function()
  local base, received = capture_server()
  local token = "Bearer " .. ("x"):rep(2000)
  local headers = { Authorization = token }
  for i = 1, 40 do headers["X-Extra-" .. i] = ("v%d-"):format(i) .. ("y"):rep(100 * i) end
  local ws, err = websocket.connect { url = base .. "/api/v1/namespaces/a/pods/b/portforward?ports=5432",
    headers = headers, protocols = { "v4.channel.k8s.io", "base64.channel.k8s.io" }, timeout = 5 }
  T.eq(ws, nil)
  T.eq(err.code, "status")
  T.eq(err.status, 400)
  local head = T.ok(received(), "the server got a request")
  local request_line, seen = parse_head(head)
  T.eq(request_line, "GET /api/v1/namespaces/a/pods/b/portforward?ports=5432 HTTP/1.1")
  T.eq(seen.Authorization, token)
  for i = 1, 40 do T.eq(seen["X-Extra-" .. i], headers["X-Extra-" .. i]) end
  T.eq(seen["Sec-WebSocket-Protocol"], "v4.channel.k8s.io, base64.channel.k8s.io")
  T.eq(seen.Upgrade, "websocket")
end)

T.test("headers given as {name, value} pairs keep their order and values", function()
  local base, received = capture_server()
  local big = ("z"):rep(5000)
  websocket.connect { url = base .. "/", headers = { { "X-First", big }, { "X-Second", "2" } }, timeout = 5 }
  local head = T.ok(received())
  T.contains(head, "\r\nX-First: " .. big .. "\r\nX-Second: 2\r\n")
end)

-- Each of these would let a caller's data end a line and start a header (or a request) of its own.
T.test("a header value with CR, LF or NUL is refused before anything is sent", function()
  for _, value in ipairs { "a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b" } do
    local base, received = capture_server()
    T.raises(function() websocket.connect { url = base .. "/", headers = { Authorization = value } } end,
      "CR, LF or NUL")
    T.eq(received(0.2), nil, "no connection was made")
  end
end)

T.test("a header name that is not a token is refused", function()
  for _, name in ipairs { "X-A\r\nX-B", "X A", "X:A", "", "X\0" } do
    T.raises(function() websocket.connect { url = "ws://127.0.0.1:9/", headers = { { name, "v" } } } end,
      "invalid header name")
  end
end)

T.test("a pod name with CR/LF or spaces in the URL never reaches the request line", function()
  for _, pod in ipairs { "db\r\nX-Injected: 1", "db\nx", "db x", "db\0x" } do
    local base, received = capture_server()
    local url = base .. "/api/v1/namespaces/a/pods/" .. pod .. "/portforward?ports=5432"
    T.raises(function() websocket.connect { url = url } end, "URL")
    T.eq(received(0.2), nil, "no connection was made")
  end
  T.raises(function() websocket.connect { url = "ws://127.0.0.1\r\nX: 1/" } end, "URL")
end)

T.test("a subprotocol with CR/LF is refused", function()
  T.raises(function() websocket.connect { url = "ws://127.0.0.1:9/", protocols = { "v4\r\nX: 1" } } end, "protocol")
end)

-- The Sec-WebSocket-Accept answer to a key (RFC 6455: base64 of SHA-1 of key .. GUID), by the openssl CLI.
local function accept_key(key)
  local out = T.run(string.format("printf %%s %s | openssl dgst -sha1 -binary | openssl base64",
    T.sh_quote(key .. "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")))
  return (out:gsub("%s", ""))
end

-- A server that reads the upgrade request, writes answer(key) (raw bytes, from the request's Sec-WebSocket-Key) and
-- keeps the connection open until the client goes away.
local function answering_server(answer)
  local listener = assert(socket.listen("127.0.0.1", 0))
  alaris.spawn(function()
    local sock = assert(listener:accept())
    local head = ""
    while not head:find("\r\n\r\n", 1, true) do head = head .. assert(sock:read()) end
    sock:write(answer(head:match("\r\nSec%-WebSocket%-Key: ([^\r]+)\r\n")))
    while sock:read() do end
    sock:close()
    listener:close()
  end)
  return "ws://127.0.0.1:" .. math.tointeger(listener:port()) .. "/"
end

-- A server that completes the handshake and sends `frames` (raw bytes).
local function frames_server(frames)
  return answering_server(function(key)
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
      "Sec-WebSocket-Accept: " .. accept_key(key) .. "\r\n\r\n" .. frames
  end)
end

T.test("a frame announcing more than 64 MiB ends the connection at once instead of being awaited", function()
  local hello = "\x81\x05hello"                                  -- a text frame "hello"
  local huge = "\x82\x7f" .. string.pack(">I8", 65 * 1024 * 1024) .. "partial" -- a binary frame of 65 MiB, begun
  local ws = assert(websocket.connect { url = frames_server(hello .. huge), timeout = 5 })
  T.eq({ ws:receive(5) }, { "hello", "text" })
  local started = alaris.now()
  local msg, err = ws:receive(3)
  T.eq(msg, nil)
  T.ok(err.code ~= "timeout", "refused, not waited for: " .. tostring(err))
  T.contains(tostring(err), "more than 64 MiB")
  T.ok(alaris.now() - started < 2, "at once")
  ws:close()
end)


-- Found by fuzz/websocket_frames: an empty message was copied from the NULL pointer wslay gives for it (undefined
-- behaviour, which UBSan reports).
T.test("an empty binary or text message arrives as an empty string", function()
  local ws = assert(websocket.connect { url = frames_server("\x82\x00\x81\x00\x81\x02hi"), timeout = 5 })
  T.eq({ ws:receive(5) }, { "", "binary" })
  T.eq({ ws:receive(5) }, { "", "text" })
  T.eq({ ws:receive(5) }, { "hi", "text" })
  ws:close()
end)

-- Found by fuzz/websocket_frames: the answer's status came back negated, so a status of 1 read as "the socket would
-- block" and connect spun on the ready socket past its timeout, for ever (2 read as a failed connection).
-- A status past an int (sscanf "%d" overflowed on it: undefined behaviour) and one of four digits are refused alike.
T.test("an answer whose status is no HTTP status is a protocol error, at once", function()
  for _, status in ipairs { "1", "2", "99", "-2147483648", "99999999999999999999", "1010" } do
    local url = answering_server(function() return "HTTP/1.1 " .. status .. " Odd\r\n\r\n" end)
    local task = alaris.spawn(function() return websocket.connect { url = url, timeout = 2 } end)
    local done, ws, err = alaris.wait(task, 4)
    if done == nil then task:cancel() end
    T.eq(done, true, "status " .. status .. ": connect returned")
    T.eq(ws, nil)
    T.eq(err.code, "protocol", "status " .. status)
    T.contains(tostring(err), "answered")
  end
end)

T.run_all()
