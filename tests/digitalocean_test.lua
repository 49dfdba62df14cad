-- alaris.digitalocean without a network: configuration, URL building, error values, misuse. Requests against the
-- lab's DigitalOcean API are in tests/lab/digitalocean_test.lua.
local T = require "testing"
local alaris = require "alaris"
local digitalocean = require "alaris.digitalocean"
local escape = require("alaris.escape").escape

local TOKEN = "dop_v1_" .. string.rep("5eed", 16)

-- Runs a Lua script in a child alaris-run with only the given DIGITALOCEAN_* variables set.
local function run_child(script, vars)
  local dir = T.tmpdir()
  local path = T.write_file(dir .. "/child.lua", script)
  local env = { "env -u DIGITALOCEAN_ACCESS_TOKEN -u DIGITALOCEAN_TOKEN -u DIGITALOCEAN_API_URL" }
  for name, value in pairs(vars or {}) do env[#env + 1] = name .. "=" .. T.sh_quote(value) end
  return T.run(table.concat(env, " ") .. " " .. T.sh_quote(T.alaris_run) .. " " .. T.sh_quote(path))
end

T.test("alaris.escape percent-encodes everything but RFC 3986 unreserved bytes", function()
  T.eq(escape("AZaz09-._~"), "AZaz09-._~")
  T.eq(escape("a b/c?d=e&f+g%"), "a%20b%2Fc%3Fd%3De%26f%2Bg%25")
  T.eq(escape("é\0"), "%C3%A9%00")
  T.eq(escape(""), "")
  T.raises(function() escape({}) end, "string expected")
end)

T.test("encode_query sorts keys, repeats list values and encodes components", function()
  local q = digitalocean.encode_query
  T.eq(q { per_page = 200, page = 2 }, "page=2&per_page=200")
  T.eq(q { tag_name = { "a b", "c&d" }, name = "x" }, "name=x&tag_name=a%20b&tag_name=c%26d")
  T.eq(q { read_write = true }, "read_write=true")
  T.eq(q {}, "")
  T.eq(q(nil), "")
  T.eq(q "already=encoded%20", "already=encoded%20")
  T.raises(function() q { [1] = "x" } end, "query keys must be strings")
  T.raises(function() q { f = print } end, "query parameter f")
end)

T.test("a missing token is nil, err with one line naming the variables", function()
  local out, _, code = run_child([[
    local digitalocean = require "alaris.digitalocean"
    local dc, err = digitalocean.client()
    print(dc, err.code, tostring(err))
  ]])
  T.eq(code, 0)
  T.eq(out, "nil\tconfig\tDigitalOcean API: no API token: set DIGITALOCEAN_ACCESS_TOKEN "
    .. "(or DIGITALOCEAN_TOKEN) or pass {token = ...}\n")
end)

T.test("client() takes DIGITALOCEAN_TOKEN too, and masks the token in what the script prints", function()
  local out, _, code = run_child([[
    local digitalocean = require "alaris.digitalocean"
    local dc = assert(digitalocean.client())
    print(dc.api_url)
    print("token: " .. os.getenv("DIGITALOCEAN_TOKEN"))
  ]], { DIGITALOCEAN_TOKEN = TOKEN })
  T.eq(code, 0)
  T.eq(out, "https://api.digitalocean.com\ntoken: ***\n")
end)

T.test("DIGITALOCEAN_API_URL points the client elsewhere; a URL that is not http(s) is refused", function()
  local out, _, code = run_child([[
    local digitalocean = require "alaris.digitalocean"
    print(assert(digitalocean.client()).api_url)
    local dc, err = digitalocean.client { api_url = "ftp://example.com" }
    print(dc, err.code, err.message)
  ]], { DIGITALOCEAN_ACCESS_TOKEN = TOKEN, DIGITALOCEAN_API_URL = "http://127.0.0.1:9/proxy/" })
  T.eq(code, 0)
  T.eq(out, "http://127.0.0.1:9/proxy\nnil\tconfig\tDigitalOcean API: API URL 'ftp://example.com' is not an http(s) URL\n")
end)

T.test("the token is never in the client's fields or its tostring", function()
  local dc = assert(digitalocean.client { token = TOKEN, api_url = "http://127.0.0.1:9" })
  for k, v in pairs(dc) do
    T.not_contains(tostring(v), TOKEN, "field " .. tostring(k))
  end
  T.eq(tostring(dc), "digitalocean client (http://127.0.0.1:9)")
  T.ok(alaris.is_secret(TOKEN))
  local _, err = digitalocean.client { token = "two words" }
  T.eq(err.code, "config")
  T.not_contains(tostring(err), "two words")
end)

T.test("url_for joins paths and queries, and re-bases links to another origin on api_url", function()
  local dc = assert(digitalocean.client { token = TOKEN, api_url = "http://127.0.0.1:9/proxy" })
  T.eq(dc:url_for("/v2/volumes", { name = "a b" }), "http://127.0.0.1:9/proxy/v2/volumes?name=a%20b")
  T.eq(dc:url_for("/v2/volumes?page=2", { per_page = 5 }), "http://127.0.0.1:9/proxy/v2/volumes?page=2&per_page=5")
  T.eq(dc:url_for("http://127.0.0.1:9/proxy/v2/volumes?page=3"), "http://127.0.0.1:9/proxy/v2/volumes?page=3")
  T.eq(dc:url_for("https://evil.example/v2/volumes?page=3"), "http://127.0.0.1:9/proxy/v2/volumes?page=3",
    "the token only goes to api_url")
  T.raises(function() dc:url_for("v2/volumes") end, "path must start with /")
  T.raises(function() dc:url_for(42) end, "path must be a string")
end)

T.test("a closed client raises on use; close is idempotent and runs on <close>", function()
  local dc = assert(digitalocean.client { token = TOKEN, api_url = "http://127.0.0.1:9" })
  do
    local scoped <close> = dc
    T.ok(scoped)
  end
  T.eq(dc:close(), true)
  T.eq(dc:close(), true, "idempotent")
  T.eq(tostring(dc), "digitalocean client (http://127.0.0.1:9, closed)")
  T.raises(function() dc:get("/v2/account") end, "attempt to use a closed digitalocean client")
  T.raises(function() dc:pages("/v2/volumes", "volumes") end, "closed digitalocean client")
end)

T.test("misuse raises: bad options, helpers without their required arguments", function()
  T.raises(function() digitalocean.client("token") end, "expected a table of options")
  T.raises(function() digitalocean.client { token = 42 } end, "token must be a string")
  T.raises(function() digitalocean.client { token = TOKEN, timeout = "soon" } end, "timeout must be")
  local dc = assert(digitalocean.client { token = TOKEN, api_url = "http://127.0.0.1:9" })
  T.raises(function() dc:create_cluster "name" end, "create_cluster needs a table with a name")
  T.raises(function() dc:delete_cluster(nil) end, "cluster id")
  T.raises(function() dc:create_spaces_key { name = "k", grants = { "bucket" } } end, "grants%[1%]")
  T.raises(function() dc:pages("/v2/volumes") end, "key of the list")
  T.raises(function() digitalocean.Client.get({}, "/v2/account") end, "expected a client")
end)

T.test("error values: fields, and a message of one line with method, path, status, id and request id", function()
  local dc = assert(digitalocean.client { token = TOKEN, api_url = "http://127.0.0.1:9" })
  local _, err = dc:fail("not_found", "no such\nthing", { status = 404, id = "not_found", method = "GET",
                                                          path = "/v2/x", request_id = "r-1" })
  T.ok(digitalocean.is_error(err))
  T.ok(alaris.is_error(err), "the one error value of alaris")
  T.eq(err.message, "DigitalOcean API: GET /v2/x: 404 not_found: no such thing (request r-1)")
  T.eq(tostring(err), err.message)
  T.eq(digitalocean.urn("kubernetes", "abc"), "do:kubernetes:abc")
end)

T.run_all()
