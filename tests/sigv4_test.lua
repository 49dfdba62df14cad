-- alaris.sigv4 against the AWS Signature Version 4 test suite (tests/data/sigv4/v4, from aws-c-auth): for every
-- case, sign (header-*) and presign (query-*) must reproduce the canonical request, the string to sign, the
-- signature and the signed request byte for byte. Plus the S3-style flags the suite does not cover.
local T = require "testing"
local sigv4 = require "alaris.sigv4"

local SUITE = "tests/data/sigv4/v4"

local function case_names()
  local names = {}
  local p = assert(io.popen("ls " .. SUITE))
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

-- context.json is flat apart from "credentials"; its fields are simple strings, numbers and booleans.
local function read_context(dir)
  local text = assert(T.read_file(dir .. "/context.json"))
  local function field(name)
    local s = text:match('"' .. name .. '"%s*:%s*"([^"]*)"')
    if s then return s end
    local v = text:match('"' .. name .. '"%s*:%s*([%w%.]+)')
    if v == "true" then return true elseif v == "false" then return false end
    return tonumber(v)
  end
  return {
    access_key = field("access_key_id"), secret_key = field("secret_access_key"), token = field("token"),
    region = field("region"), service = field("service"), time = field("timestamp"),
    normalize = field("normalize"), sign_body = field("sign_body"), omit_session_token = field("omit_session_token"),
    expires = field("expiration_in_seconds"),
  }
end

-- request.txt: "METHOD target HTTP/1.1", header lines ("Name:value", continued by lines starting with white
-- space), a blank line, the body. The target is raw (it may hold spaces or UTF-8).
local function read_request(dir)
  local text = assert(T.read_file(dir .. "/request.txt"))
  local head, body = text:match("^(.-)\n\n(.*)$")
  if not head then head, body = text:gsub("\n$", ""), "" end
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  local method, target = lines[1]:match("^(%S+) (.*) HTTP/1%.1$")
  local headers = {}
  for i = 2, #lines do
    local line = lines[i]
    if line:match("^%s") then
      headers[#headers][2] = headers[#headers][2] .. "\n" .. line
    else
      local name, value = line:match("^([^:]+):(.*)$")
      headers[#headers + 1] = { name, value }
    end
  end
  local path, query = target:match("^([^?]*)%??(.*)$")
  return { method = method, path = path, query = query, headers = headers, body = body }
end

local function signing_args(ctx, req)
  return {
    method = req.method, path = req.path, query = req.query, headers = req.headers, body = req.body,
    access_key = ctx.access_key, secret_key = ctx.secret_key, session_token = ctx.token,
    omit_session_token = ctx.omit_session_token, region = ctx.region, service = ctx.service, time = ctx.time,
    normalize_path = ctx.normalize, double_encode = true, sign_body = ctx.sign_body, expires = ctx.expires,
  }
end

local function signed_request(line, headers, body)
  local out = { line }
  for _, h in ipairs(headers) do out[#out + 1] = h[1] .. ":" .. h[2] end
  return table.concat(out, "\n") .. "\n\n" .. body
end

local function expect(dir, file, actual)
  T.eq(actual, T.read_file(dir .. "/" .. file), file)
end

local cases = case_names()

T.test("the suite is all there", function()
  T.eq(#cases, 38, "cases")
end)

for _, name in ipairs(cases) do
  local dir = SUITE .. "/" .. name

  T.test("sign " .. name, function()
    local ctx, req = read_context(dir), read_request(dir)
    local r = sigv4.sign(signing_args(ctx, req))
    expect(dir, "header-canonical-request.txt", r.canonical_request)
    expect(dir, "header-string-to-sign.txt", r.string_to_sign)
    expect(dir, "header-signature.txt", r.signature)
    local target = req.path .. (req.query ~= "" and ("?" .. req.query) or "")
    expect(dir, "header-signed-request.txt",
      signed_request(req.method .. " " .. target .. " HTTP/1.1", r.headers, req.body))
  end)

  T.test("presign " .. name, function()
    local ctx, req = read_context(dir), read_request(dir)
    local p = sigv4.presign(signing_args(ctx, req))
    expect(dir, "query-canonical-request.txt", p.canonical_request)
    expect(dir, "query-string-to-sign.txt", p.string_to_sign)
    expect(dir, "query-signature.txt", p.signature)
    expect(dir, "query-signed-request.txt",
      signed_request(req.method .. " " .. req.path .. "?" .. p.query .. " HTTP/1.1", p.headers, req.body))
    T.eq(p.url, "https://example.amazonaws.com" .. req.path .. "?" .. p.query, "url")
  end)
end

local S3_BASE = {
  method = "GET", access_key = "AKIAIOSFODNN7EXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  region = "us-east-1", service = "s3", time = "2013-05-24T00:00:00Z",
  normalize_path = false, double_encode = false, sign_body = true,
}

local function with(extra)
  local t = {}
  for k, v in pairs(S3_BASE) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

-- The GET Object example of the S3 SigV4 documentation ("Examples: Signature Calculations").
T.test("S3 GET object example from the AWS documentation", function()
  local r = sigv4.sign(with {
    url = "https://examplebucket.s3.amazonaws.com/test.txt",
    headers = { { "Range", "bytes=0-9" } },
  })
  T.eq(r.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
  T.contains(r.canonical_request, "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n")
  T.eq(r.headers[1][1], "Host", "Host is added from the url first")
  T.eq(r.headers[#r.headers][1], "Authorization")
end)

T.test("S3 presigned GET example from the AWS documentation", function()
  local p = sigv4.presign(with {
    url = "https://examplebucket.s3.amazonaws.com/test.txt", payload_hash = "UNSIGNED-PAYLOAD", expires = 86400,
    sign_body = false,
  })
  T.eq(p.signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
  T.contains(p.url, "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&")
  T.contains(p.url, "&X-Amz-Signature=" .. p.signature)
end)

T.test("S3 style: an encoded path is used once, never normalised", function()
  local r = sigv4.sign(with { url = "http://127.0.0.1:9000/b/a%20b/..//c%25d+e%3D" })
  local path = r.canonical_request:match("^GET\n([^\n]*)\n")
  T.eq(path, "/b/a%20b/..//c%25d%2Be%3D")
  local raw = sigv4.sign(with { path = "/b/a b/ሴ", headers = { { "Host", "h" } } })
  local encoded = sigv4.sign(with { path = "/b/a%20b/%e1%88%b4", headers = { { "Host", "h" } } })
  T.eq(raw.canonical_request:match("^GET\n([^\n]*)\n"), "/b/a%20b/%E1%88%B4", "a raw path is encoded once")
  T.eq(encoded.signature, raw.signature, "an encoded path signs like the raw one")
  local dots = sigv4.sign(with { url = "http://h/b/%2E%2E/x%2Fy" })
  T.eq(dots.canonical_request:match("^GET\n([^\n]*)\n"), "/b/../x%2Fy", "segments are decoded, then encoded")
  local double = sigv4.sign(with { url = "http://127.0.0.1:9000/b/a%20b", double_encode = true })
  T.eq(double.canonical_request:match("^GET\n([^\n]*)\n"), "/b/a%2520b")
end)

T.test("every S3 request carries x-amz-content-sha256 and a port stays in Host", function()
  local r = sigv4.sign(with { method = "PUT", url = "http://127.0.0.1:9000/b/k", body = "hello" })
  local found
  for _, h in ipairs(r.headers) do
    if h[1]:lower() == "x-amz-content-sha256" then found = h[2] end
  end
  T.eq(found, sigv4.sha256_hex("hello"))
  T.eq(found, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
  T.eq(r.headers[1][2], "127.0.0.1:9000")
  local unsigned = sigv4.sign(with { url = "http://h/b/k", payload_hash = "UNSIGNED-PAYLOAD" })
  T.contains(unsigned.canonical_request, "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n")
  T.eq(unsigned.canonical_request:sub(-17), "\nUNSIGNED-PAYLOAD")
end)

T.test("a map of headers signs like the same pairs", function()
  local map = { ["Content-Type"] = "text/plain", ["X-Amz-Meta-A"] = "1" }
  local pairs_ = { { "x-amz-meta-a", "1" }, { "content-type", "text/plain" } }
  local a = sigv4.sign(with { url = "http://h/b/k", headers = map })
  local b = sigv4.sign(with { url = "http://h/b/k", headers = pairs_ })
  T.eq(a.signature, b.signature)
end)

T.test("time as seconds since the epoch", function()
  local a = sigv4.sign(with { url = "http://h/b/k", time = 1369353600 })
  local b = sigv4.sign(with { url = "http://h/b/k" })
  T.eq(a.signature, b.signature)
  T.contains(a.string_to_sign, "\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n")
end)

T.test("a time that X-Amz-Date cannot hold is refused, not signed with a garbage date", function()
  local bad = { 0 / 0, 1 / 0, -1 / 0, -1, 2 ^ 63, 1e300, 253402300800, -62135596800 }
  for _, t in ipairs(bad) do
    T.raises(function() sigv4.sign(with { url = "http://h/b/k", time = t }) end, "time must be between")
    T.raises(function() sigv4.presign(with { url = "http://h/b/k", time = t }) end, "time must be between")
  end
  for _, t in ipairs { "2013-13-24T00:00:00Z", "2013-05-00T00:00:00Z", "20130524T250000Z", "2013-05-24T00:61:00Z" } do
    T.raises(function() sigv4.sign(with { url = "http://h/b/k", time = t }) end, "time must look like")
  end
  T.contains(sigv4.sign(with { url = "http://h/b/k", time = 0 }).string_to_sign, "\n19700101T000000Z\n")
  T.contains(sigv4.sign(with { url = "http://h/b/k", time = 253402300799 }).string_to_sign, "\n99991231T235959Z\n")
  T.contains(sigv4.sign(with { url = "http://h/b/k", time = "9999-12-31T23:59:59Z" }).string_to_sign,
    "\n99991231T235959Z\n")
end)

T.test("misuse raises", function()
  T.raises(function() sigv4.sign(with { method = false }) end, "method")
  T.raises(function() sigv4.sign(with { url = "http://h/", time = "yesterday" }) end, "time")
  T.raises(function() sigv4.presign(with { url = "http://h/", expires = 0 }) end, "expires")
  T.raises(function() sigv4.sign(with { url = "no-scheme" }) end, "scheme")
end)

T.test("uri_encode keeps only unreserved characters (and those asked for)", function()
  T.eq(sigv4.uri_encode("a b/ሴ+~=&%"), "a%20b%2F%E1%88%B4%2B~%3D%26%25")
  T.eq(sigv4.uri_encode("dir/a b", "/"), "dir/a%20b")
end)

-- Found by fuzz/sigv4_canonical: a NUL in the query ended a parameter early, so the query split into more parameters
-- than its '&'s announced and the extra ones were written past the end of the parameter array (a heap overflow).
T.test("a query with NUL bytes is signed whole, each NUL encoded as %00", function()
  local r = sigv4.sign(with { path = "/b/k", query = "a\0b\0c\0d&e=\0" })
  T.eq(r.canonical_request:match("^GET\n/b/k\n([^\n]*)\n"), "a%00b%00c%00d=&e=%00")
  local p = sigv4.presign(with { path = "/b/k", query = "x\0y\0z" })
  T.contains(p.canonical_request, "&x%00y%00z=\n")
end)

T.run_all()
