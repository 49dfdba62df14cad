-- Tests for alaris.http against a local Node.js server (tests/support/http/server.js): plain HTTP/1.1 and TLS
-- (HTTP/2) on ephemeral 127.0.0.1 ports, with a throw-away CA made by the openssl CLI. The server is always stopped.
local T = require "testing"
local alaris = require "alaris"
local http = require "alaris.http"
local json = require "alaris.json"

local HERE = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests"
local SERVER_SCRIPT = HERE .. "/support/http/server.js"
local PATTERN = "alaris-http-test-pattern-0123456789abcdefghijklmnopqrstuvwxyz!?\n" -- as the server's /big

local function sh(cmd)
  local _, err, code = T.run(cmd)
  if code ~= 0 then error(cmd .. " failed: " .. err) end
end

-- A CA, a server certificate for localhost and 127.0.0.1, a client certificate, and an unrelated CA.
local function make_pki(dir)
  local function openssl(args) sh("cd " .. T.sh_quote(dir) .. " && openssl " .. args) end
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local sign = "-CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
  openssl("req -x509 " .. ec .. " -days 2 -subj /CN=alaris-test-ca -keyout ca.key -out ca.crt")
  openssl("req -x509 " .. ec .. " -days 2 -subj /CN=other-ca -keyout other-ca.key -out other-ca.crt")
  T.write_file(dir .. "/server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
  openssl("req " .. ec .. " -subj /CN=localhost -keyout server.key -out server.csr")
  openssl("x509 -req -in server.csr " .. sign .. " -extfile server.ext -out server.crt")
  T.write_file(dir .. "/client.ext", "extendedKeyUsage=clientAuth\n")
  openssl("req " .. ec .. " -subj /CN=alaris-client -keyout client.key -out client.csr")
  openssl("x509 -req -in client.csr " .. sign .. " -extfile client.ext -out client.crt")
end

local server -- {pid, http, https, closed, pipe}

local function start_server(tls_dir)
  local pipe = assert(io.popen("exec node " .. T.sh_quote(SERVER_SCRIPT) .. " " .. T.sh_quote(tls_dir), "r"))
  local line = pipe:read("l")
  if not line then
    pipe:close()
    error("the test server did not start")
  end
  local s = json.decode(line)
  s.pipe = pipe
  return s
end

local function stop_server()
  if not server then return end
  os.execute("kill " .. math.tointeger(server.pid) .. " 2>/dev/null")
  server.pipe:close()
  server = nil
end

local pki = T.tmpdir()
local started, start_err = pcall(function()
  make_pki(pki)
  server = start_server(pki)
end)
if not started then
  stop_server()
  T.cleanup()
  error(start_err)
end
-- T.run_all ends the process with os.exit: stop the server first, whatever the outcome.
local exit = os.exit
os.exit = function(...) -- luacheck: ignore
  stop_server()
  return exit(...)
end

local function url(path) return "http://127.0.0.1:" .. math.tointeger(server.http) .. path end
local function https_url(path) return "https://localhost:" .. math.tointeger(server.https) .. path end
local function pem(name) return T.read_file(pki .. "/" .. name) end

local function get_json(path)
  local r = assert(http.request { url = url(path) })
  return json.decode(r.body)
end

local function count_of(key) return get_json("/count?key=" .. key).count end

local unique = 0
local function new_key()
  unique = unique + 1
  return string.format("k%d-%d", unique, math.random(1e9))
end

local function x_headers(echoed)
  local out = {}
  for _, pair in ipairs(echoed.headers) do
    if pair[1]:lower():match("^x%-") then out[#out + 1] = pair end
  end
  return out
end

local function find_header(echoed, name)
  for _, pair in ipairs(echoed.headers) do
    if pair[1]:lower() == name then return pair[2] end
  end
end

-- ---------------------------------------------------------------------------------------------------------------

T.test("GET returns the status, lower-cased headers and the body", function()
  local r = assert(http.request { url = url("/headers") })
  T.eq(r.status, 200)
  T.eq(r.body, "headers")
  T.eq(r.http_version, "1.1")
  T.eq(r.headers["x-mixed-case"], "Value With Spaces")
  T.eq(r.headers["x-dup"], "a, b", "duplicate headers joined")
  T.eq(r.headers["set-cookie"], "one=1; Path=/\ntwo=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT")
  for name in pairs(r.headers) do T.eq(name, name:lower()) end
  local cookies = {}
  for _, pair in ipairs(r.header_list) do
    if pair[1] == "set-cookie" then cookies[#cookies + 1] = pair[2] end
  end
  T.eq(cookies, { "one=1; Path=/", "two=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT" })
end)

T.test("the URL's path is sent as given: dot segments are not squashed", function()
  local e = json.decode(assert(http.request { url = url("/keys/../echo") }).body)
  T.eq(e.url, "/keys/../echo")
end)

T.test("POST sends the body and headers given as a map", function()
  local r = assert(http.request {
    method = "POST", url = url("/echo?a=1"), body = '{"n":1}',
    headers = { ["X-Token"] = "abc", ["Content-Type"] = "application/json", ["X-Number"] = 42 },
  })
  local e = json.decode(r.body)
  T.eq(e.method, "POST")
  T.eq(e.url, "/echo?a=1")
  T.eq(e.body, '{"n":1}')
  T.eq(find_header(e, "x-token"), "abc")
  T.eq(find_header(e, "x-number"), "42")
  T.eq(find_header(e, "content-type"), "application/json")
  T.eq(find_header(e, "content-length"), "7")
  T.eq(find_header(e, "expect"), nil, "no Expect: 100-continue round trip")
  T.eq(find_header(e, "accept"), "*/*", "libcurl's default Accept")
  T.ok(find_header(e, "user-agent"):match("^alaris/%d"), "alaris' User-Agent")
  e = json.decode(assert(http.request { url = url("/echo"), headers = { Accept = false } }).body)
  T.eq(find_header(e, "accept"), nil, "a false value removes a default header")
end)

T.test("headers given as a list keep their order and duplicates", function()
  local r = assert(http.request {
    method = "PUT", url = url("/echo"), body = "b",
    headers = { { "X-Order", "1" }, { "X-Other", "x" }, { "X-Order", "2" }, { "X-Empty", "" } },
  })
  local e = json.decode(r.body)
  T.eq(e.method, "PUT")
  T.eq(x_headers(e), { { "X-Order", "1" }, { "X-Other", "x" }, { "X-Order", "2" }, { "X-Empty", "" } })
  T.eq(find_header(e, "content-type"), nil, "a raw body is not announced as a form")
end)

T.test("PUT and POST without a body send Content-Length: 0; DELETE is sent as DELETE", function()
  local e = json.decode(assert(http.request { method = "PUT", url = url("/echo") }).body)
  T.eq(find_header(e, "content-length"), "0")
  e = json.decode(assert(http.request { method = "DELETE", url = url("/echo") }).body)
  T.eq(e.method, "DELETE")
  T.eq(e.length, 0)
end)

T.test("HTTP error statuses are responses, not failures", function()
  local r = assert(http.request { url = url("/status/404") })
  T.eq(r.status, 404)
  T.eq(r.body, "status 404")
  r = assert(http.request { url = url("/status/500") })
  T.eq(r.status, 500)
  r = assert(http.request { url = url("/status/204") })
  T.eq(r.status, 204)
  T.eq(r.body, "")
  r = assert(http.request { method = "HEAD", url = url("/big?n=1000") })
  T.eq(r.status, 200)
  T.eq(r.headers["content-length"], "1000")
  T.eq(r.body, "")
end)

T.test("a 2 MB body comes down whole and goes up whole", function()
  local n = 2 * 1024 * 1024
  local r = assert(http.request { url = url("/big?n=" .. n) })
  T.eq(#r.body, n)
  T.ok(r.body == string.rep(PATTERN, n // #PATTERN), "the body is byte-exact")
  local parts = {}
  for i = 0, 255 do parts[#parts + 1] = string.char(i) end
  local up = string.rep(table.concat(parts), n // 256) -- every byte value, NUL included
  r = assert(http.request { method = "POST", url = url("/raw"), body = up })
  T.eq(#r.body, n)
  T.ok(r.body == up, "the echoed body is byte-exact")
end)

T.test("on_data streams an endless body and returning false stops it", function()
  local before = get_json("/stats").streams_closed
  local chunks = {}
  local r = assert(http.request {
    url = url("/stream?interval=20"), timeout = 10,
    on_data = function(chunk, head)
      T.eq(head.status, 200)
      chunks[#chunks + 1] = chunk
      if #chunks == 5 then return false end
    end,
  })
  T.eq(#chunks, 5)
  T.eq(r.status, 200)
  T.eq(r.aborted, true)
  T.eq(r.body, nil, "a streamed body is not buffered")
  T.contains(table.concat(chunks), "chunk 1\nchunk 2\n")
  local closed
  for _ = 1, 40 do
    closed = get_json("/stats").streams_closed
    if closed > before then break end
    alaris.sleep(0.05)
  end
  T.eq(closed, before + 1, "the server saw the stream closed")
  T.eq(http.pending(), 0)
end)

T.test("on_data may wait, and a streamed body arrives in order", function()
  local n = 3 * 1024 * 1024 -- more than the queue holds before the transfer is paused
  local got, calls = {}, 0
  local r = assert(http.request {
    url = url("/big?n=" .. n),
    on_data = function(chunk)
      calls = calls + 1
      got[#got + 1] = chunk
      if calls == 1 then alaris.sleep(0.3) end -- let libcurl fill the queue meanwhile
    end,
  })
  T.eq(r.status, 200)
  T.eq(r.aborted, nil)
  local body = table.concat(got)
  T.eq(#body, n)
  T.ok(body == string.rep(PATTERN, n // #PATTERN), "the streamed body is byte-exact")
end)

T.test("a total timeout gives code timeout", function()
  local t0 = alaris.now()
  local r, err = http.request { url = url("/sleep?ms=3000"), timeout = 0.3 }
  T.eq(r, nil)
  T.eq(err.code, "timeout")
  T.ok(alaris.now() - t0 < 2, "it gave up near the timeout")
end)

T.test("connection refused gives code connect; an unknown host gives dns", function()
  local r, err = http.request { url = "http://127.0.0.1:" .. math.tointeger(server.closed) .. "/" }
  T.eq(r, nil)
  T.eq(err.code, "connect")
  T.eq(tostring(err), err.message)
  r, err = http.request { url = "http://no-such-host.invalid/", connect_timeout = 5 }
  T.eq(r, nil)
  T.eq(err.code, "dns")
end)

T.test("error messages are one line without header values, user info or query", function()
  local _, err = http.request {
    url = "http://user:hunter2@127.0.0.1:" .. math.tointeger(server.closed) .. "/bucket/key?X-Amz-Signature=sig0123",
    headers = { Authorization = "Bearer top-secret-token" },
  }
  T.eq(err.code, "connect")
  T.contains(err.message, "/bucket/key")
  T.not_contains(err.message, "top-secret-token")
  T.not_contains(err.message, "sig0123")
  T.not_contains(err.message, "hunter2")
  T.not_contains(err.message, "\n")
end)

T.test("TLS verified with ca_file or ca_data, over HTTP/2", function()
  local r = assert(http.request { url = https_url("/echo"), ca_file = pki .. "/ca.crt" })
  T.eq(r.status, 200)
  T.eq(r.http_version, "2")
  r = assert(http.request { url = https_url("/headers"), ca_data = pem("ca.crt") })
  T.eq(r.status, 200)
  T.eq(r.headers["x-dup"], "a, b")
end)

T.test("TLS with the wrong CA fails with code tls; insecure = true skips verification", function()
  local r, err = http.request { url = https_url("/echo"), ca_data = pem("other-ca.crt") }
  T.eq(r, nil)
  T.eq(err.code, "tls")
  r, err = http.request { url = https_url("/echo"), ca_file = pki .. "/other-ca.crt" }
  T.eq(err and err.code, "tls")
  r = assert(http.request { url = https_url("/echo"), insecure = true })
  T.eq(r.status, 200)
  r, err = http.request { url = https_url("/echo") }
  T.eq(err and err.code, "tls", "the unverified connection is not reused for a verifying request")
end)

T.test("a client certificate and key given in memory", function()
  local r = assert(http.request {
    url = https_url("/client-cert"), ca_data = pem("ca.crt"), cert_data = pem("client.crt"), key_data = pem("client.key"),
  })
  T.eq(r.status, 200)
  T.eq(json.decode(r.body).cn, "alaris-client")
  r = assert(http.request {
    url = https_url("/client-cert"), ca_file = pki .. "/ca.crt", cert_file = pki .. "/client.crt",
    key_file = pki .. "/client.key",
  })
  T.eq(json.decode(r.body).cn, "alaris-client", "from files")
  r = assert(http.request { url = https_url("/client-cert"), ca_data = pem("ca.crt") })
  T.eq(r.status, 401, "without a certificate")
  local _, err = http.request {
    url = https_url("/client-cert"), ca_data = pem("ca.crt"), cert_data = "not a certificate", key_data = pem("client.key"),
  }
  T.eq(err and err.code, "tls", "an unreadable certificate")
end)

T.test("the http_proxy environment variable is honoured", function()
  local dir = T.tmpdir()
  local script = T.write_file(dir .. "/via_proxy.lua", [[
    local http = require "alaris.http"
    local r, err = http.request { url = "http://proxied.invalid/echo?via=proxy" }
    io.write(r and r.body or ("failed: " .. err.code))
  ]])
  local proxy = "http://127.0.0.1:" .. math.tointeger(server.http)
  local out, err, code = T.run("env -u no_proxy -u NO_PROXY http_proxy=" .. proxy .. " " .. T.sh_quote(T.alaris_run) ..
    " " .. T.sh_quote(script))
  T.eq(code, 0, err)
  T.eq(json.decode(out).url, "http://proxied.invalid/echo?via=proxy", "the proxy got the absolute URL")
end)

T.test("ten sequential requests use one connection", function()
  local before = get_json("/stats").connections
  local ports = {}
  for _ = 1, 10 do
    local r = assert(http.request { url = url("/echo") })
    ports[r.headers["x-client-port"]] = true
  end
  local distinct = 0
  for _ in pairs(ports) do distinct = distinct + 1 end
  T.eq(distinct, 1, "every request came from the same client port")
  T.ok(get_json("/stats").connections - before <= 1, "at most one new connection")
end)

T.test("requests in concurrent tasks overlap", function()
  local t0 = alaris.now()
  local tasks = {}
  for i = 1, 5 do
    tasks[i] = alaris.spawn(function() return http.request { url = url("/sleep?ms=1000") } end)
  end
  for i = 1, 5 do
    local ok, r = alaris.wait(tasks[i])
    T.ok(ok, "task " .. i .. " ended")
    T.eq(r.status, 200)
  end
  T.ok(alaris.now() - t0 < 2.5, "5 requests of 1 s took " .. (alaris.now() - t0) .. " s")
end)

T.test("concurrent HTTPS requests share one HTTP/2 connection", function()
  local before = get_json("/stats").tls_connections
  local ca = pem("ca.crt") .. "\n" -- TLS settings no earlier request used: no cached connection fits
  assert(http.request { url = https_url("/echo"), ca_data = ca })
  local t0 = alaris.now()
  local tasks = {}
  for i = 1, 5 do
    tasks[i] = alaris.spawn(function() return http.request { url = https_url("/sleep?ms=500"), ca_data = ca } end)
  end
  for i = 1, 5 do
    local ok, r = alaris.wait(tasks[i])
    T.ok(ok, "task " .. i .. " ended")
    T.eq(r.status, 200)
    T.eq(r.http_version, "2")
  end
  T.ok(alaris.now() - t0 < 2.2, "they overlapped")
  T.eq(get_json("/stats").tls_connections - before, 1, "one new TLS connection for all six")
end)

T.test("retry: 503 twice then 200", function()
  local key = new_key()
  local r = assert(http.request { url = url("/flaky?fail=2&status=503&key=" .. key), retry = { attempts = 3, backoff = 0.05 } })
  T.eq(r.status, 200)
  T.eq(count_of(key), 3)
  key = new_key()
  r = assert(http.request { url = url("/flaky?fail=2&status=503&key=" .. key) })
  T.eq(r.status, 503, "without retry")
  T.eq(count_of(key), 1)
  key = new_key()
  r = assert(http.request { url = url("/flaky?fail=5&status=502&key=" .. key), retry = { attempts = 2, backoff = 0.01 } })
  T.eq(r.status, 502, "the last answer once attempts are spent")
  T.eq(count_of(key), 2)
end)

T.test("retry honours Retry-After: 1 on 429", function()
  local key = new_key()
  local t0 = alaris.now()
  local r = assert(http.request {
    url = url("/flaky?fail=1&status=429&retry_after=1&key=" .. key), retry = { attempts = 3, backoff = 0.01 },
  })
  T.eq(r.status, 200)
  T.ok(alaris.now() - t0 >= 0.95, "waited the second asked for")
  T.eq(count_of(key), 2)
  T.eq(http.parse_date("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480)
end)

T.test("retry honours Retry-After given as an HTTP date", function()
  local key = new_key()
  local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2):gsub(" ", "%%20")
  local t0 = alaris.now()
  local r = assert(http.request {
    url = url("/flaky?fail=1&status=503&retry_after=" .. when .. "&key=" .. key), retry = { attempts = 2, backoff = 0.01 },
  })
  T.eq(r.status, 200)
  T.ok(alaris.now() - t0 >= 0.9, "waited until the date")
  T.eq(count_of(key), 2)
  key = new_key()
  r = assert(http.request {
    url = url("/flaky?fail=1&status=503&retry_after=3600&key=" .. key), retry = { attempts = 2, max_delay = 5 },
  })
  T.eq(r.status, 503, "a Retry-After beyond max_delay is not waited for")
  T.eq(count_of(key), 1)
end)

T.test("POST is never retried", function()
  local key = new_key()
  local r = assert(http.request {
    method = "POST", body = "x", url = url("/flaky?fail=1&status=503&key=" .. key), retry = { attempts = 3, backoff = 0.01 },
  })
  T.eq(r.status, 503)
  T.eq(count_of(key), 1)
end)

T.test("retry policy: a 429 is retried for every method; idempotent = true and statuses widen it", function()
  local key = new_key()
  local r = assert(http.request {
    method = "POST", body = "x", url = url("/flaky?fail=1&status=429&retry_after=0&key=" .. key),
    retry = { attempts = 3, backoff = 0.01 },
  })
  T.eq(r.status, 200, "the server did not act on a 429: a POST may try again")
  T.eq(count_of(key), 2)
  key = new_key()
  r = assert(http.request {
    method = "POST", body = "x", url = url("/flaky?fail=2&status=503&key=" .. key),
    retry = { attempts = 3, backoff = 0.01, idempotent = true },
  })
  T.eq(r.status, 200, "the caller said the POST may be repeated")
  T.eq(count_of(key), 3)
  key = new_key()
  r = assert(http.request { url = url("/flaky?fail=1&status=500&key=" .. key), retry = { attempts = 3, backoff = 0.01 } })
  T.eq(r.status, 500, "500 is not in the default statuses")
  T.eq(count_of(key), 1)
  key = new_key()
  r = assert(http.request {
    url = url("/flaky?fail=1&status=500&key=" .. key), retry = { attempts = 3, backoff = 0.01, statuses = { 500 } },
  })
  T.eq(r.status, 200, "statuses = {500}")
  T.eq(count_of(key), 2)
end)

T.test("retry policy: no attempt starts once the budget is spent", function()
  local key = new_key()
  local t0 = alaris.now()
  local r = assert(http.request {
    url = url("/flaky?fail=100&status=503&key=" .. key),
    retry = { attempts = 50, backoff = 0.2, max_delay = 0.2, budget = 0.6 },
  })
  local spent = alaris.now() - t0
  T.eq(r.status, 503)
  T.ok(spent < 1.2, "stopped near the budget, not after 50 attempts: " .. spent)
  T.ok(count_of(key) >= 2 and count_of(key) <= 7, "a few attempts: " .. count_of(key))
  T.raises(function() http.request { url = url("/"), retry = { budget = -1 } } end, "retry.budget")
  T.raises(function() http.request { url = url("/"), retry = { statuses = 503 } } end, "retry.statuses must be a list")
end)

T.test("one query encoder: sorted names, repeated list values, ordered pairs, everything escaped", function()
  T.eq(http.query { b = "x y", a = 1, flag = true, off = false }, "a=1&b=x%20y&flag=true")
  T.eq(http.query { tag = { "a&b", "c" } }, "tag=a%26b&tag=c")
  T.eq(http.query { { "uploads" }, { "prefix", "a/b c" }, { "max-keys", 5 } }, "uploads&prefix=a%2Fb%20c&max-keys=5")
  T.eq(http.query "kept=as%20is", "kept=as%20is")
  T.eq(http.query(nil), "")
  T.eq(http.escape("é ~"), "%C3%A9%20~")
  T.raises(function() http.query { [1] = "x" } end, "query keys must be strings")
  T.raises(function() http.query { f = print } end, "query parameter f")
end)

T.test("status_code: the same code for the same HTTP status in every client", function()
  T.eq(http.status_code(404), "not_found")
  T.eq(http.status_code(409), "conflict")
  T.eq(http.status_code(403), "forbidden")
  T.eq(http.status_code(401), "unauthorized")
  T.eq(http.status_code(422), "invalid")
  T.eq(http.status_code(429), "rate_limited")
  T.eq(http.status_code(503), "unavailable")
  T.eq(http.status_code(507), "server_error")
  T.eq(http.status_code(418), "http_418")
end)

-- libcurl itself resends once when a reused connection turns out dead, so the server may count one hit more.
T.test("a reset connection gives code reset, and GET is retried after it", function()
  local key = new_key()
  local r, err = http.request { url = url("/reset?fail=100&key=" .. key) }
  T.eq(r, nil)
  T.eq(err.code, "reset")
  key = new_key()
  r = assert(http.request { url = url("/reset?fail=2&key=" .. key), retry = { attempts = 3, backoff = 0.01 } })
  T.eq(r.status, 200)
  T.eq(count_of(key), 3)
end)

T.test("a cancelled request leaves no easy handle behind", function()
  local task = alaris.spawn(function() return http.request { url = url("/sleep?ms=5000") } end)
  alaris.sleep(0.2)
  T.eq(http.pending(), 1, "the request is in flight")
  alaris.cancel(task)
  local ok, err = alaris.wait(task)
  T.eq(ok, false)
  T.contains(tostring(err), "cancelled")
  T.eq(http.pending(), 0)
  local r = assert(http.request { url = url("/echo") })
  T.eq(r.status, 200, "the next request works")
end)

T.test("cancelling a task inside on_data, or an error in on_data, cleans up", function()
  local task = alaris.spawn(function()
    return http.request { url = url("/stream?interval=20"), on_data = function() alaris.sleep(10) end }
  end)
  alaris.sleep(0.3)
  alaris.cancel(task)
  local ok, err = alaris.wait(task)
  T.eq(ok, false)
  T.contains(tostring(err), "cancelled")
  T.eq(http.pending(), 0)
  T.raises(function()
    http.request { url = url("/stream?interval=20"), on_data = function() error("stop here") end }
  end, "stop here")
  T.eq(http.pending(), 0)
end)

-- A pod or object name goes into the URL: CR/LF there would end the request line and add headers of its own, and a
-- NUL would cut the URL short (libcurl reads a C string), so a request for ".../db\0/exec" went to ".../db".
T.test("a URL with CR, LF, NUL, spaces or controls is refused and never reaches the server", function()
  for _, junk in ipairs { "\r\nX-Injected: 1", "\n", "\r", "\0/other", " HTTP/1.1", "\t", "\127", "\1" } do
    local key = new_key()
    local msg = T.raises(function() http.request { url = url("/flaky?key=" .. key .. junk) } end, "url holds")
    T.not_contains(msg, key, "the message does not show the URL")
    T.eq(count_of(key), 0, string.format("no request for %q", junk))
  end
  local key = new_key()
  T.eq(http.request { url = url("/flaky?key=" .. key .. "%0D%0A%00") }.status, 200, "percent-encoded they are fine")
  T.eq(count_of(key), 0, "and are part of the key")
  T.eq(http.pending(), 0)
end)

T.test("misuse raises", function()
  T.raises(function() http.request {} end, "url")
  T.raises(function() http.request { url = url("/"), timeout = -1 } end, "timeout")
  T.raises(function() http.request { url = url("/"), method = "GET /x HTTP/1.1\r\n" } end, "method")
  local msg = T.raises(function() http.request { url = url("/"), headers = { ["X-A"] = "v\r\nInjected: 1" } } end)
  T.not_contains(msg, "Injected")
  T.raises(function() http.request { url = url("/"), retry = { attempts = 0 } } end, "attempts")
  T.raises(function() http.request { url = url("/"), method = "HEAD", body = "x" } end, "HEAD")
  T.raises(function() http.request { url = url("/"), headers = { ["Bad Name"] = "x" } } end, "header name")
  local _, err = http.request { url = "ftp://127.0.0.1/file" }
  T.eq(err and err.code, "url", "only http and https")
  T.eq(http.pending(), 0, "no handle left by the failed calls")
end)

T.run_all()
