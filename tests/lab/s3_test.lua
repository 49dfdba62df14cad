-- alaris.s3 against the lab's Spaces endpoint (s3rver behind a SigV4-verifying front with per-key grants), with
-- the lab's env (SPACES_ENDPOINT, SPACES_ACCESS_KEY_ID, ...): every operation with awkward keys, errors, presigned
-- URLs, paging, multipart, and s3cmd reading what alaris writes and the reverse. Not a test of the lab itself.
local T = require "testing"
local alaris = require "alaris"
local http = require "alaris.http"
local json = require "alaris.json"
local s3 = require "alaris.s3"

local MiB = 1024 * 1024
local RUN = string.format("%x%04x", os.time(), math.random(0, 0xffff))
local BUCKET = "s3test-" .. RUN

-- Keys a naive client gets wrong: spaces, UTF-8, '+', '~', '=', '&', '%', reserved characters, deep paths.
-- ('//' is left out: the lab's s3rver cannot store such keys, a limitation of its file-system store.)
local AWKWARD_KEYS = {
  "plain.txt", "with space.txt", "ünïcödé/ሴ.txt", "a+b.txt", "tilde~file", "q=1&r=2", "100%.txt",
  "%41literal", "dir/sub dir/x y+z.txt", "semi;colon,comma:colon", "brackets[1](2)!*'$@",
}

local client = assert(s3.client())

-- A random body of n bytes (not compressible, not repetitive at part boundaries).
local function random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local data = f:read(n)
  f:close()
  return data
end

local function must(value, err)
  if value == nil then error("unexpected failure: " .. tostring(err), 2) end
  return value
end

-- S3's own code is err.reason; err.code is the word every module uses for that status.
local CODE_OF_STATUS = { [403] = "forbidden", [404] = "not_found", [409] = "conflict" }
local function expect_error(reason, status, value, err)
  T.eq(value, nil, "result")
  T.ok(alaris.is_error(err), "an error value")
  T.eq(err.reason, reason, "err.reason (" .. tostring(err) .. ")")
  if status then
    T.eq(err.status, status, "err.status")
    T.eq(err.code, CODE_OF_STATUS[status], "err.code")
  end
end

-- Runs fn(i) for i = 1..n in `tasks` concurrent tasks; raises the first failure.
local function in_parallel(n, tasks, fn)
  local next_index, running = 1, {}
  for _ = 1, tasks do
    running[#running + 1] = alaris.spawn(function()
      while next_index <= n do
        local i = next_index
        next_index = next_index + 1
        fn(i)
      end
    end)
  end
  for _, task in ipairs(running) do
    local ok, err = alaris.wait(task)
    if not ok then error(err, 0) end
  end
end

local function s3cmd_config(dir, access_key, secret_key)
  local hostport = os.getenv("SPACES_ENDPOINT"):match("^https?://([^/]+)")
  local path = dir .. "/s3cmd.cfg"
  local f = assert(io.open(path, "w"))
  f:close()
  os.execute("chmod 600 " .. T.sh_quote(path)) -- before the secret goes in
  T.write_file(path, table.concat({
    "[default]", "access_key = " .. access_key, "secret_key = " .. secret_key, "host_base = " .. hostport,
    "host_bucket = " .. hostport, "use_https = False", "signature_v2 = False", "bucket_location = nyc3", "",
  }, "\n"))
  return path
end

local function s3cmd(cfg, args)
  return T.run("s3cmd -c " .. T.sh_quote(cfg) .. " " .. args)
end

local function do_api(method, path, body)
  local resp = must(http.request {
    method = method, url = os.getenv("DIGITALOCEAN_API_URL") .. path, body = body and json.encode(body),
    headers = { { "Authorization", "Bearer " .. os.getenv("DIGITALOCEAN_ACCESS_TOKEN") },
      { "Content-Type", "application/json" } },
  })
  return resp.status, resp.body ~= "" and json.decode(resp.body) or nil
end

local function lab_admin(method, path, body)
  return must(http.request {
    method = method, url = os.getenv("LAB_ADMIN_URL") .. path, body = body and json.encode(body),
    headers = { { "Authorization", "Bearer " .. os.getenv("LAB_ADMIN_TOKEN") },
      { "Content-Type", "application/json" } },
  })
end

-- The suite's bucket, and an object in it, for every test that uses them: each test sets up what it needs, so any
-- one of them runs alone (ONLY=...).
local bucket_ready = false
local function suite_bucket()
  if bucket_ready then return end
  if not client:head_bucket(BUCKET) then must(client:create_bucket(BUCKET)) end
  bucket_ready = true
end

local function suite_object()
  suite_bucket()
  must(client:put(BUCKET, "many/00001", "1"))
end

T.test("client configuration comes from the SPACES_* environment", function()
  T.eq(client.region, os.getenv("SPACES_REGION"))
  T.eq(client.access_key, os.getenv("SPACES_ACCESS_KEY_ID"))
  T.ok(alaris.is_secret(os.getenv("SPACES_SECRET_ACCESS_KEY")), "the secret key is registered for masking")
  local derived = must(s3.client { endpoint = "https://fra1.digitaloceanspaces.com", access_key = "DO00EXAMPLE",
    secret_key = "example-secret-for-region-derivation" })
  T.eq(derived.region, "fra1")
end)

T.test("buckets: create, head, list, and a missing one is NoSuchBucket", function()
  T.eq(must(client:create_bucket(BUCKET)), true)
  T.eq(must(client:head_bucket(BUCKET)), true)
  bucket_ready = true
  local names = {}
  for _, b in ipairs(must(client:list_buckets())) do names[b.name] = b.creation_date end
  T.ok(names[BUCKET], "the new bucket is listed")
  expect_error("NoSuchBucket", 404, client:head_bucket(BUCKET .. "-missing"))
  expect_error("NoSuchBucket", 404, client:get(BUCKET .. "-missing", "k"))
end)

T.test("every operation works with awkward keys", function()
  suite_bucket()
  for _, key in ipairs(AWKWARD_KEYS) do
    local body = "body of " .. key
    local put = must(client:put(BUCKET, "awk/" .. key, body,
      { content_type = "text/plain", metadata = { Owner = "t-1" } }))
    T.ok(put.etag and #put.etag == 32, "etag of " .. key)
    T.eq(must(client:get(BUCKET, "awk/" .. key)), body, "get " .. key)
    local info = must(client:head(BUCKET, "awk/" .. key))
    T.eq(info.size, #body, "head size of " .. key)
    T.eq(info.etag, put.etag, "head etag of " .. key)
    T.eq(info.content_type, "text/plain", "content type of " .. key)
    T.eq(info.metadata.owner, "t-1", "metadata of " .. key)
    local url = client:presign_get(BUCKET, "awk/" .. key, 120)
    local resp = must(http.request { method = "GET", url = url })
    T.eq(resp.status, 200, "presigned GET of " .. key)
    T.eq(resp.body, body, "presigned body of " .. key)
  end
  local listed = {}
  for obj in client:list(BUCKET, { prefix = "awk/" }) do listed[#listed + 1] = obj.key:sub(5) end
  local expected = {}
  for i, k in ipairs(AWKWARD_KEYS) do expected[i] = k end
  table.sort(expected)
  T.eq(listed, expected, "listed keys")
  for _, key in ipairs(AWKWARD_KEYS) do
    T.eq(must(client:delete(BUCKET, "awk/" .. key)), true)
    expect_error("NoSuchKey", 404, client:get(BUCKET, "awk/" .. key))
  end
end)

-- "." and ".." are ordinary parts of S3 keys: the client escapes them (%2E) so that nothing on the way takes them as
-- dot segments, and the key and its signature arrive unchanged. (It runs in a bucket of its own.)
T.test("keys with dot segments reach the server as they are", function()
  suite_bucket()
  local bucket = BUCKET .. "-dots"
  must(client:create_bucket(bucket))
  lab_admin("DELETE", "/requests")
  for _, key in ipairs({ "dots/../up", "./here", "dots/./there", ".." }) do
    must(client:put(bucket, key, "v " .. key))
    T.eq(must(client:get(bucket, key)), "v " .. key, "get " .. key)
    T.eq(must(client:head(bucket, key)).size, #("v " .. key), "head " .. key)
    T.eq(must(http.request { method = "GET", url = client:presign_get(bucket, key) }).status, 200, "presigned " .. key)
  end
  local log = json.decode(lab_admin("GET", "/requests?target=s3&method=PUT").body)
  local urls = {}
  for _, r in ipairs(log.requests) do urls[#urls + 1] = r.url end
  T.contains(table.concat(urls, "\n"), "/" .. bucket .. "/dots/%2E%2E/up", "the wire path keeps the dot segment")
end)

T.test("get and head of a missing key: NoSuchKey with the status", function()
  suite_bucket()
  expect_error("NoSuchKey", 404, client:get(BUCKET, "no such key"))
  local value, err = client:head(BUCKET, "no such key")
  expect_error("NoSuchKey", 404, value, err)
  expect_error("NoSuchKey", 404, client:get(BUCKET, "no such key", { file = T.tmpdir() .. "/out" }))
end)

T.test("list: delimiter gives common prefixes, start_after skips", function()
  suite_bucket()
  for _, k in ipairs({ "tree/a.txt", "tree/b/1", "tree/b/2", "tree/c/1", "tree/d.txt" }) do
    must(client:put(BUCKET, k, k))
  end
  local seen = {}
  for obj in client:list(BUCKET, { prefix = "tree/", delimiter = "/" }) do
    seen[#seen + 1] = obj.key .. (obj.prefix and " (prefix)" or "")
  end
  table.sort(seen)
  T.eq(seen, { "tree/a.txt", "tree/b/ (prefix)", "tree/c/ (prefix)", "tree/d.txt" })
  local after = {}
  for obj in client:list(BUCKET, { prefix = "tree/", start_after = "tree/b/2" }) do after[#after + 1] = obj.key end
  T.eq(after, { "tree/c/1", "tree/d.txt" })
end)

T.test("2,500 objects are listed across pages, each once, in order", function()
  suite_bucket()
  local n = 2500
  in_parallel(n, 8, function(i)
    must(client:put(BUCKET, string.format("many/%05d", i), tostring(i)))
  end)
  local count, last, pages = 0, "", 0
  for obj in client:list(BUCKET, { prefix = "many/" }) do
    count = count + 1
    T.ok(obj.key > last, "keys come in order without repeats")
    last = obj.key
    T.eq(obj.size, #tostring(tonumber(obj.key:sub(6))), "size of " .. obj.key)
    T.ok(obj.etag and obj.last_modified, "etag and last_modified")
  end
  T.eq(count, n, "objects listed")
  local page = must(client:list_page(BUCKET, { prefix = "many/" }))
  T.eq(#page.entries, 1000, "a page holds 1000 keys")
  T.ok(page.next_token, "the first page has a continuation token")
  pages = 1
  while page.next_token do
    page = must(client:list_page(BUCKET, { prefix = "many/" }, page.next_token))
    pages = pages + 1
  end
  T.eq(pages, 3, "pages")
end)

T.test("a 20 MiB body goes up as a multipart upload and comes back byte-exact", function()
  suite_bucket()
  local data = random_bytes(20 * MiB)
  lab_admin("DELETE", "/requests")
  local put = must(client:put(BUCKET, "big/twenty mib.bin", data))
  T.eq(put.parts, 3, "8 + 8 + 4 MiB parts")
  local log = json.decode(lab_admin("GET", "/requests?target=s3&method=PUT").body)
  local parts, spans = 0, {}
  for _, r in ipairs(log.requests) do
    if r.url:find("/big/twenty%20mib.bin?partNumber=", 1, true) and r.status == 200 then
      parts = parts + 1
      local h, m, sec = r.time:match("T(%d+):(%d+):([%d.]+)Z$")
      local start = (tonumber(h) * 60 + tonumber(m)) * 60 + tonumber(sec)
      spans[#spans + 1] = { start, start + r.duration_ms / 1000 }
    end
  end
  T.eq(parts, 3, "part uploads the server saw")
  local overlapped = false
  for i = 1, #spans do
    for j = i + 1, #spans do
      overlapped = overlapped or (spans[i][1] < spans[j][2] and spans[j][1] < spans[i][2])
    end
  end
  T.ok(overlapped, "the parts went up concurrently")
  local back = must(client:get(BUCKET, "big/twenty mib.bin"))
  T.eq(#back, #data, "size")
  T.ok(back == data, "bytes read back equal the bytes written")
  T.eq(must(client:head(BUCKET, "big/twenty mib.bin")).size, 20 * MiB)
end)

T.test("files: a multipart upload from a file and a streamed download to a file", function()
  suite_bucket()
  local dir = T.tmpdir()
  local data = random_bytes(11 * MiB + 123)
  T.write_file(dir .. "/in.bin", data)
  local put = must(client:put(BUCKET, "big/from file.bin", { file = dir .. "/in.bin" }, { part_size = 5 * MiB }))
  T.eq(put.parts, 3, "5 + 5 + 1 MiB parts")
  local ok, info = client:get(BUCKET, "big/from file.bin", { file = dir .. "/out.bin" })
  T.eq(ok, true)
  T.eq(info.size, #data)
  T.ok(T.read_file(dir .. "/out.bin") == data, "the downloaded file equals the uploaded one")
  T.eq(T.read_file(dir .. "/out.bin.part"), nil, "no partial file is left")
end)

T.test("a failed multipart upload is aborted", function()
  suite_bucket()
  local key = "big/aborted.bin"
  lab_admin("DELETE", "/requests")
  local rule = lab_admin("POST", "/faults", { target = "s3", method = "PUT",
    path = "^/" .. BUCKET .. "/big/aborted\\.bin$", status = 400, count = 1 })
  T.eq(rule.status, 201, "fault rule added")
  local value, err = client:put(BUCKET, key, random_bytes(9 * MiB))
  T.eq(value, nil)
  T.eq(err.status, 400)
  local log = json.decode(lab_admin("GET", "/requests?target=s3&method=DELETE").body)
  local aborted = false
  for _, r in ipairs(log.requests) do
    if r.url:find("/big/aborted.bin?uploadId=", 1, true) then aborted = true end
  end
  T.ok(aborted, "the client sent AbortMultipartUpload")
  expect_error("NoSuchKey", 404, client:head(BUCKET, key))
end)

T.test("a presigned PUT uploads without credentials; a tampered URL is refused", function()
  suite_bucket()
  local url = client:presign_put(BUCKET, "presigned/up load.txt", 300)
  local resp = must(http.request { method = "PUT", url = url, body = "sent with a presigned URL" })
  T.eq(resp.status, 200, "presigned PUT: " .. tostring(resp.body))
  T.eq(must(client:get(BUCKET, "presigned/up load.txt")), "sent with a presigned URL")
  local get = client:presign_get(BUCKET, "presigned/up load.txt", 300)
  local tampered = must(http.request { method = "GET", url = get:gsub("up%%20load", "other") })
  T.eq(tampered.status, 403)
  T.contains(tampered.body, "<Code>SignatureDoesNotMatch</Code>")
end)

T.test("a wrong secret gives SignatureDoesNotMatch and the secret never shows", function()
  suite_object()
  local bad = must(s3.client { secret_key = "not-the-right-secret" })
  local value, err = bad:get(BUCKET, "many/00001")
  expect_error("SignatureDoesNotMatch", 403, value, err)
  expect_error("SignatureDoesNotMatch", 403, bad:put(BUCKET, "sneaky", "x"))
  expect_error("NoSuchKey", 404, client:head(BUCKET, "sneaky"))
  T.not_contains(tostring(err), os.getenv("SPACES_SECRET_ACCESS_KEY"))
end)

T.test("a key without a grant on the bucket gets AccessDenied", function()
  suite_object()
  local other = "s3test-other-" .. RUN
  must(client:create_bucket(other))
  local status, body = do_api("POST", "/v2/spaces/keys", { name = "s3test-" .. RUN,
    grants = { { bucket = other, permission = "readwrite" } } })
  T.eq(status, 201, "DO API creates the key")
  local key = body.key
  local scoped = must(s3.client { access_key = key.access_key, secret_key = key.secret_key })
  expect_error("AccessDenied", 403, scoped:get(BUCKET, "many/00001"))
  expect_error("AccessDenied", 403, scoped:put(BUCKET, "denied", "x"))
  T.eq(must(scoped:put(other, "allowed", "x")).size, 1, "its own bucket works")
  T.eq(must(scoped:get(other, "allowed")), "x")
  must(client:delete(other, "allowed"))
  must(client:delete_bucket(other))
  do_api("DELETE", "/v2/spaces/keys/" .. key.access_key)
end)

T.test("s3cmd reads what alaris writes, alaris reads what s3cmd writes", function()
  suite_bucket()
  local dir = T.tmpdir()
  local cfg = s3cmd_config(dir, os.getenv("SPACES_ACCESS_KEY_ID"), os.getenv("SPACES_SECRET_ACCESS_KEY"))
  local perms = io.popen("stat -c %a " .. T.sh_quote(cfg)):read("l")
  T.eq(perms, "600", "the config holding the secret is private")
  local key = "interop/from alaris ü+=.txt"
  must(client:put(BUCKET, key, "written by alaris\n", { content_type = "text/plain" }))
  local out, err, code = s3cmd(cfg, "get --force " .. T.sh_quote("s3://" .. BUCKET .. "/" .. key) .. " " ..
    T.sh_quote(dir .. "/got.txt"))
  T.eq(code, 0, "s3cmd get: " .. err .. out)
  T.eq(T.read_file(dir .. "/got.txt"), "written by alaris\n")

  local big = random_bytes(6 * MiB + 7)
  T.write_file(dir .. "/up.bin", big)
  out, err, code = s3cmd(cfg, "put --multipart-chunk-size-mb=5 " .. T.sh_quote(dir .. "/up.bin") .. " " ..
    T.sh_quote("s3://" .. BUCKET .. "/interop/from s3cmd & co.bin"))
  T.eq(code, 0, "s3cmd put: " .. err .. out)
  T.ok(must(client:get(BUCKET, "interop/from s3cmd & co.bin")) == big, "alaris reads s3cmd's multipart object")
  out, err, code = s3cmd(cfg, "ls " .. T.sh_quote("s3://" .. BUCKET .. "/interop/"))
  T.eq(code, 0, "s3cmd ls: " .. err)
  T.contains(out, "from alaris ü+=.txt")
  T.contains(out, "from s3cmd & co.bin")
end)

T.test("misuse raises: a closed client, a bad body, a small part size", function()
  suite_bucket()
  local c = must(s3.client())
  T.raises(function() c:put(BUCKET, "k", 42) end, "body")
  T.raises(function() c:put(BUCKET, "k", "x", { part_size = MiB }) end, "part_size")
  T.eq(c:close(), true)
  T.eq(c:close(), true, "idempotent")
  T.raises(function() c:get(BUCKET, "k") end, "closed")
end)

T.test("cleanup: delete every object, then the bucket", function()
  suite_bucket()
  local keys = {}
  for obj in client:list(BUCKET) do keys[#keys + 1] = obj.key end
  in_parallel(#keys, 8, function(i) must(client:delete(BUCKET, keys[i])) end)
  T.eq(must(client:delete_bucket(BUCKET)), true)
  expect_error("NoSuchBucket", 404, client:head_bucket(BUCKET))
end)

T.run_all()
