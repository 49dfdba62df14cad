-- alaris.s3: an S3 client for DigitalOcean Spaces and any S3-compatible store (the policy over alaris.s3.core):
-- request building and SigV4 signing (alaris.sigv4), S3 error values, ListObjectsV2 pagination, multipart uploads,
-- presigned URLs. Requests go through alaris.http. It does not do versioning, ACLs, bucket policies or lifecycle.
local alaris = require "alaris"
local core = require "alaris.s3.core"
local sigv4 = require "alaris.sigv4"

local s3 = {}

local MiB = 1024 * 1024
local MIN_PART_SIZE = 5 * MiB
local DEFAULTS = { multipart_threshold = 8 * MiB, part_size = 8 * MiB, part_concurrency = 4, timeout = 300,
  connect_timeout = 15 }

local Client = {}
Client.__index = Client

local function http()
  return require "alaris.http"
end

-- ---- configuration ----

local function env(...)
  for _, name in ipairs({ ... }) do
    local v = os.getenv(name)
    if v and v ~= "" then return v end
  end
end

-- {scheme, authority, base} from "https://nyc3.digitaloceanspaces.com[/base]" (https when no scheme is given).
local function parse_endpoint(endpoint)
  if not endpoint:find("://", 1, true) then endpoint = "https://" .. endpoint end
  local scheme, authority, base = endpoint:match("^(%a[%w+.-]*)://([^/?#]+)([^?#]*)")
  if not scheme then return nil end
  return { scheme = scheme:lower(), authority = authority, base = base:gsub("/+$", "") }
end

-- "nyc3" from nyc3.digitaloceanspaces.com (or BUCKET.nyc3.digitaloceanspaces.com).
local function spaces_region(authority)
  local host = authority:gsub(":%d+$", ""):lower()
  return host:match("([%w-]+)%.digitaloceanspaces%.com$")
end

local function config_error(message)
  return nil, alaris.error("config", "s3: " .. message)
end

-- s3.client{endpoint, region, access_key, secret_key, session_token, path_style, multipart_threshold, part_size,
-- part_concurrency, timeout, connect_timeout} -> client | nil, err. Missing fields come from SPACES_* then AWS_* variables; the
-- region of a *.digitaloceanspaces.com endpoint given here is its first label.
function s3.client(opts)
  opts = opts or {}
  local endpoint = opts.endpoint or env("SPACES_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
  if not endpoint then return config_error("no endpoint (set SPACES_ENDPOINT or AWS_ENDPOINT_URL_S3)") end
  local parsed = parse_endpoint(endpoint)
  if not parsed then return config_error("endpoint '" .. endpoint .. "' is not a URL") end
  local access_key = opts.access_key or env("SPACES_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
  local secret_key = opts.secret_key or env("SPACES_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")
  if not access_key or not secret_key then
    return config_error("no credentials (set SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY)")
  end
  local token = opts.session_token or env("SPACES_SESSION_TOKEN", "AWS_SESSION_TOKEN")
  alaris.secret(secret_key)
  if token then alaris.secret(token) end
  local self = setmetatable({
    endpoint = parsed, access_key = access_key, secret_key = secret_key, session_token = token,
    region = opts.region or (opts.endpoint and spaces_region(parsed.authority))
      or env("SPACES_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") or spaces_region(parsed.authority) or "us-east-1",
    path_style = opts.path_style ~= false,
  }, Client)
  for name, default in pairs(DEFAULTS) do self[name] = opts[name] or default end
  if self.part_size < MIN_PART_SIZE then error("s3.client: part_size must be at least 5 MiB", 2) end
  return self
end

function Client:close()
  self.closed = true
  return true
end
Client.__close = Client.close

local function check_open(self)
  if getmetatable(self) ~= Client then error("s3: expected a client (use c:method(...))", 3) end
  if self.closed then error("attempt to use a closed s3 client", 3) end
end

-- ---- URLs ----

-- Keys are encoded once, segment by segment: "/" stays, everything but A-Za-z0-9-._~ becomes %XX. A "." or ".."
-- segment is escaped too (%2E): anything on the way that normalises URL paths (a proxy, a server's router) would
-- otherwise take it as a dot segment and name another key.
local function encode_key(key)
  local segments = {}
  for segment in (key .. "/"):gmatch("(.-)/") do
    if segment == "." or segment == ".." then
      segments[#segments + 1] = (segment:gsub("%.", "%%2E"))
    else
      segments[#segments + 1] = sigv4.uri_encode(segment)
    end
  end
  return table.concat(segments, "/")
end

function Client:url(bucket, key, params)
  local e = self.endpoint
  local url
  if not bucket then
    url = e.scheme .. "://" .. e.authority .. e.base .. "/"
  elseif self.path_style then
    url = e.scheme .. "://" .. e.authority .. e.base .. "/" .. sigv4.uri_encode(bucket)
    if key then url = url .. "/" .. encode_key(key) end
  else
    url = e.scheme .. "://" .. bucket .. "." .. e.authority .. e.base .. "/" .. (key and encode_key(key) or "")
  end
  local query = http().query(params)
  if query ~= "" then url = url .. "?" .. query end
  return url
end

-- ---- errors ----

local function child(element, tag)
  for _, c in ipairs(element) do
    if c.tag == tag then return c end
  end
end

local function child_text(element, tag)
  local c = child(element, tag)
  return c and (c.text or "") or nil
end

local STATUS_CODES = { [301] = "PermanentRedirect", [400] = "BadRequest", [403] = "AccessDenied",
  [404] = "NotFound", [409] = "Conflict", [412] = "PreconditionFailed", [416] = "InvalidRange",
  [500] = "InternalError", [503] = "SlowDown" }

-- The error value for an S3 answer: code and message from its <Error> body, or from the status when there is none
-- (HEAD answers have no body).
local function s3_error(what, status, body, headers, not_found)
  local code, message, fields = nil, nil, { status = status }
  local root = body and body ~= "" and core.parse_xml(body)
  if root and root.tag == "Error" then
    code, message = child_text(root, "Code"), child_text(root, "Message")
    fields.request_id = child_text(root, "RequestId")
    fields.resource = child_text(root, "Resource")
  end
  if not code and status == 404 and not_found then code = not_found end
  code = code or STATUS_CODES[status] or ("HTTP" .. tostring(status))
  fields.request_id = fields.request_id or (headers and headers["x-amz-request-id"])
  local text = string.format("s3: %s: %s%s (HTTP %d)", what, code, message and (": " .. message) or "", status)
  fields.reason = code
  return alaris.error(http().status_code(status), text, fields)
end

-- ---- requests ----

-- alaris.http's retry policy, with 500 too: S3 asks clients to retry InternalError ("Please try again"), as the AWS
-- SDKs do. Only idempotent methods (not the POSTs of multipart uploads) unless S3 refused the request (429).
local RETRY = { attempts = 3, backoff = 0.2, statuses = { 429, 500, 502, 503, 504 } }

-- One signed request. opts: query (list of {name, value}), headers (list of pairs), body, on_data,
-- read_error_body (for a body streamed elsewhere), not_found (the code of a bodiless 404).
-- Idempotent requests are retried on connection resets, 429, 500, 502-504. Returns the response (status < 300)
-- or nil, err.
function Client:request(method, bucket, key, opts)
  opts = opts or {}
  local url = self:url(bucket, key, opts.query)
  local body = opts.body or ""
  local signed = sigv4.sign {
    method = method, url = url, headers = opts.headers or {}, body = body,
    access_key = self.access_key, secret_key = self.secret_key, session_token = self.session_token,
    region = self.region, service = "s3", normalize_path = false, double_encode = false, sign_body = true,
  }
  local request = {
    method = method, url = url, headers = signed.headers, body = body ~= "" and body or nil,
    timeout = self.timeout, connect_timeout = self.connect_timeout, on_data = opts.on_data,
    retry = RETRY,
  }
  local resp, err = http().request(request)
  if not resp then return nil, err end
  if resp.status >= 300 then
    local text = resp.body
    if (not text or text == "") and opts.read_error_body then text = opts.read_error_body() end
    local what = method .. " " .. (bucket and ("/" .. bucket .. (key and ("/" .. key) or "")) or "/")
    return nil, s3_error(what, resp.status, text, resp.headers, opts.not_found)
  end
  return resp
end

local function parse_body(resp)
  local root, err = core.parse_xml(resp.body or "")
  if not root then return nil, err end
  if root.tag == "Error" then return nil, s3_error("response", resp.status, resp.body, resp.headers) end
  return root
end

local function strip_quotes(etag)
  return etag and (etag:gsub('^"(.*)"$', "%1")) or nil
end

-- ---- buckets ----

function Client:create_bucket(bucket)
  check_open(self)
  local resp, err = self:request("PUT", bucket)
  if not resp then return nil, err end
  return true
end

function Client:head_bucket(bucket)
  check_open(self)
  local resp, err = self:request("HEAD", bucket, nil, { not_found = "NoSuchBucket" })
  if not resp then return nil, err end
  return true
end

function Client:delete_bucket(bucket)
  check_open(self)
  local resp, err = self:request("DELETE", bucket)
  if not resp then return nil, err end
  return true
end

-- -> list of {name, creation_date}
function Client:list_buckets()
  check_open(self)
  local resp, err = self:request("GET")
  if not resp then return nil, err end
  local root, perr = parse_body(resp)
  if not root then return nil, perr end
  local buckets = {}
  for _, b in ipairs(child(root, "Buckets") or {}) do
    if b.tag == "Bucket" then
      buckets[#buckets + 1] = { name = child_text(b, "Name"), creation_date = child_text(b, "CreationDate") }
    end
  end
  return buckets
end

-- ---- objects ----

local function object_headers(opts)
  local headers = { { "Content-Type", opts.content_type or "application/octet-stream" } }
  for name, value in pairs(opts.metadata or {}) do
    headers[#headers + 1] = { "x-amz-meta-" .. name:lower(), tostring(value) }
  end
  return headers
end

local function put_single(self, bucket, key, body, opts)
  local resp, err = self:request("PUT", bucket, key, { body = body, headers = object_headers(opts) })
  if not resp then return nil, err end
  return { etag = strip_quotes(resp.headers["etag"]), size = #body }
end

local function abort_multipart(self, bucket, key, upload_id)
  self:request("DELETE", bucket, key, { query = { { "uploadId", upload_id } } })
end

local function start_multipart(self, bucket, key, opts)
  local resp, err = self:request("POST", bucket, key, { query = { { "uploads" } }, headers = object_headers(opts) })
  if not resp then return nil, err end
  local root, perr = parse_body(resp)
  if not root then return nil, perr end
  local id = child_text(root, "UploadId")
  if not id or id == "" then return nil, alaris.error("xml", "s3: InitiateMultipartUpload answer has no UploadId") end
  return id
end

local function complete_body(etags)
  local parts = { "<CompleteMultipartUpload>" }
  for n, etag in ipairs(etags) do
    parts[#parts + 1] = string.format("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n,
      core.xml_escape(etag))
  end
  parts[#parts + 1] = "</CompleteMultipartUpload>"
  return table.concat(parts)
end

-- Runs fns as tasks and waits for all; the first failure (or this task's own cancellation) cancels the others.
local function join_tasks(tasks)
  local failure
  for _, task in ipairs(tasks) do
    local waited, ok, err = pcall(alaris.wait, task)
    if not waited or not ok then
      failure = waited and err or ok
      break
    end
  end
  if failure == nil then return end
  for _, task in ipairs(tasks) do
    if not task:done() then task:cancel("cancelled: another part failed") end
  end
  for _, task in ipairs(tasks) do pcall(alaris.wait, task) end
  error(failure, 0)
end

-- Uploads the parts read by read_part(n) (in order; nil after the last), part_concurrency at a time (each part is
-- in memory while it goes up), then completes. Returns nil, err on the first failure; the caller aborts.
local function upload_parts(self, bucket, key, upload_id, read_part)
  local etags, size, next_n, failure = {}, 0, 1, nil
  local function uploader()
    while failure == nil do
      local n = next_n
      local part, rerr = read_part(n) -- reading does not yield: parts are taken strictly in order
      if rerr then failure = alaris.error("io", "s3: reading part " .. n .. ": " .. tostring(rerr)) end
      if not part then return end
      next_n = n + 1
      local resp, err = self:request("PUT", bucket, key, {
        body = part, query = { { "partNumber", n }, { "uploadId", upload_id } },
        headers = { { "Content-Type", "application/octet-stream" } },
      })
      if not resp then failure = failure or err return end
      etags[n] = resp.headers["etag"] or ""
      size = size + #part
    end
  end
  local tasks = {}
  for i = 1, self.part_concurrency do tasks[i] = alaris.spawn(uploader) end
  join_tasks(tasks)
  if failure then return nil, failure end
  local resp, err = self:request("POST", bucket, key, {
    body = complete_body(etags), query = { { "uploadId", upload_id } },
    headers = { { "Content-Type", "application/xml" } },
  })
  if not resp then return nil, err end
  local root, perr = parse_body(resp) -- a 200 answer may still carry an <Error>
  if not root then return nil, perr end
  return { etag = strip_quotes(child_text(root, "ETag")), size = size, parts = #etags }
end

local function put_multipart(self, bucket, key, read_part, opts)
  local upload_id, err = start_multipart(self, bucket, key, opts)
  if not upload_id then return nil, err end
  local ok, result, uerr = pcall(upload_parts, self, bucket, key, upload_id, read_part)
  if ok and result then return result end
  abort_multipart(self, bucket, key, upload_id)
  if not ok then error(result, 0) end
  return nil, uerr
end

local function string_parts(body, part_size)
  return function(n)
    local first = (n - 1) * part_size + 1
    if first > #body then return nil end
    return body:sub(first, first + part_size - 1)
  end
end

local function file_parts(f, part_size)
  return function()
    local chunk, err = f:read(part_size)
    if err then return nil, err end
    return chunk
  end
end

local function put_file(self, bucket, key, path, opts, part_size)
  local f, oerr = io.open(path, "rb")
  if not f then return nil, alaris.error("io", "s3: " .. tostring(oerr)) end
  local size = f:seek("end")
  f:seek("set", 0)
  local result, err
  if size > self.multipart_threshold then
    result, err = put_multipart(self, bucket, key, file_parts(f, part_size), opts)
  else
    result, err = put_single(self, bucket, key, f:read("a") or "", opts)
  end
  f:close()
  return result, err
end

-- c:put(bucket, key, body | {file = path}, {content_type, metadata, part_size}) -> {etag, size} | nil, err
function Client:put(bucket, key, body, opts)
  check_open(self)
  opts = opts or {}
  local part_size = opts.part_size or self.part_size
  if part_size < MIN_PART_SIZE then error("s3.put: part_size must be at least 5 MiB", 2) end
  if type(body) == "table" and body.file then return put_file(self, bucket, key, body.file, opts, part_size) end
  if type(body) ~= "string" then error("s3.put: body must be a string or {file = path}", 2) end
  if #body > self.multipart_threshold then
    return put_multipart(self, bucket, key, string_parts(body, part_size), opts)
  end
  return put_single(self, bucket, key, body, opts)
end

local function object_info(headers)
  local metadata = {}
  for name, value in pairs(headers or {}) do
    local meta = name:match("^x%-amz%-meta%-(.+)$")
    if meta then metadata[meta] = value end
  end
  return {
    size = tonumber(headers["content-length"]), etag = strip_quotes(headers["etag"]),
    content_type = headers["content-type"], last_modified = headers["last-modified"], metadata = metadata,
  }
end

-- Streams the object into path (through path .. ".part", renamed when complete); an error answer's body is kept
-- in memory instead, to read its code.
local function get_to_file(self, bucket, key, path)
  local partial = path .. ".part"
  local f, oerr = io.open(partial, "wb")
  if not f then return nil, alaris.error("io", "s3: " .. tostring(oerr)) end
  local error_body, write_err = {}, nil
  local resp, err = self:request("GET", bucket, key, {
    not_found = "NoSuchKey",
    on_data = function(chunk, response)
      if response and response.status >= 300 then
        error_body[#error_body + 1] = chunk
      elseif not write_err then
        local ok, werr = f:write(chunk)
        if not ok then write_err = werr end
      end
    end,
    read_error_body = function() return table.concat(error_body) end,
  })
  f:close()
  if not resp or write_err then
    os.remove(partial)
    return nil, err or alaris.error("io", "s3: writing " .. path .. ": " .. tostring(write_err))
  end
  local ok, rerr = os.rename(partial, path)
  if not ok then return nil, alaris.error("io", "s3: " .. tostring(rerr)) end
  return true, object_info(resp.headers)
end

-- c:get(bucket, key [, {file = path}]) -> body, info | true, info (to a file) | nil, err
function Client:get(bucket, key, opts)
  check_open(self)
  if opts and opts.file then return get_to_file(self, bucket, key, opts.file) end
  local resp, err = self:request("GET", bucket, key, { not_found = "NoSuchKey" })
  if not resp then return nil, err end
  return resp.body or "", object_info(resp.headers)
end

-- c:head(bucket, key) -> {size, etag, content_type, last_modified, metadata} | nil, err
function Client:head(bucket, key)
  check_open(self)
  local resp, err = self:request("HEAD", bucket, key, { not_found = "NoSuchKey" })
  if not resp then return nil, err end
  return object_info(resp.headers)
end

function Client:delete(bucket, key)
  check_open(self)
  local resp, err = self:request("DELETE", bucket, key)
  if not resp then return nil, err end
  return true
end

-- ---- listing ----

local function list_params(opts, token)
  local params = { { "list-type", 2 } }
  if opts.prefix then params[#params + 1] = { "prefix", opts.prefix } end
  if opts.delimiter then params[#params + 1] = { "delimiter", opts.delimiter } end
  if opts.start_after and not token then params[#params + 1] = { "start-after", opts.start_after } end
  if opts.max_keys then params[#params + 1] = { "max-keys", opts.max_keys } end
  if token then params[#params + 1] = { "continuation-token", token } end
  return params
end

local function page_entries(root)
  local entries = {}
  for _, c in ipairs(root) do
    if c.tag == "Contents" then
      entries[#entries + 1] = {
        key = child_text(c, "Key"), size = tonumber(child_text(c, "Size")), etag = strip_quotes(child_text(c, "ETag")),
        last_modified = child_text(c, "LastModified"), storage_class = child_text(c, "StorageClass"),
      }
    elseif c.tag == "CommonPrefixes" then
      entries[#entries + 1] = { key = child_text(c, "Prefix"), prefix = true }
    end
  end
  return entries
end

-- c:list_page(bucket, {prefix, delimiter, start_after, max_keys}, token) -> {entries, next_token} | nil, err
function Client:list_page(bucket, opts, token)
  check_open(self)
  opts = opts or {}
  local resp, err = self:request("GET", bucket, nil, { query = list_params(opts, token) })
  if not resp then return nil, err end
  local root, perr = parse_body(resp)
  if not root then return nil, perr end
  local truncated = child_text(root, "IsTruncated") == "true"
  local next_token = truncated and child_text(root, "NextContinuationToken") or nil
  if truncated and not next_token then
    return nil, alaris.error("xml", "s3: a truncated listing without NextContinuationToken")
  end
  return { entries = page_entries(root), next_token = next_token }
end

-- for obj in c:list(bucket, {prefix, delimiter, start_after}) do ... end: every object (and common prefix, with
-- obj.prefix = true) across ListObjectsV2 pages, one page in memory at a time. A failed page raises its err.
function Client:list(bucket, opts)
  check_open(self)
  opts = opts or {}
  local page, index, done = nil, 0, false
  return function()
    while true do
      if page and index < #page.entries then
        index = index + 1
        return page.entries[index]
      end
      if done then return nil end
      local token = page and page.next_token
      local next_page, err = self:list_page(bucket, opts, token)
      if not next_page then error(err, 0) end
      page, index, done = next_page, 0, next_page.next_token == nil
    end
  end
end

-- ---- presigned URLs ----

local function presign(self, method, bucket, key, expires)
  return sigv4.presign {
    method = method, url = self:url(bucket, key), expires = expires or 3600, payload_hash = "UNSIGNED-PAYLOAD",
    access_key = self.access_key, secret_key = self.secret_key, session_token = self.session_token,
    region = self.region, service = "s3", normalize_path = false, double_encode = false,
  }.url
end

function Client:presign_get(bucket, key, expires)
  check_open(self)
  return presign(self, "GET", bucket, key, expires)
end

function Client:presign_put(bucket, key, expires)
  check_open(self)
  return presign(self, "PUT", bucket, key, expires)
end

return s3
