---@meta
-- LuaLS type stubs for `alaris.s3` (stdlib/alaris/s3.lua over bindings/s3.c): a client for DigitalOcean Spaces and
-- S3-compatible stores. For editors only; tests/types_test.lua checks it against the real module and a client.

---For an S3 answer `code` is the code of its status (`"not_found"`, `"forbidden"`, `"conflict"`, ...) and `reason`
---S3's code from its XML (`NoSuchKey`, `NoSuchBucket`, `BucketNotEmpty`, `AccessDenied`, ...); also `"config"`,
---`"io"`, `"xml"`; transport failures are `alaris.http` errors (`timeout`, `connect`, ...).
---@class alaris.s3.Error: alaris.Error
---@field status? integer the HTTP status of an S3 answer
---@field request_id? string
---@field resource? string
---@field curl_code? integer for transport failures

---@class alaris.s3.Options
---@field endpoint? string default `SPACES_ENDPOINT`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`
---@field region? string
---@field access_key? string default `SPACES_ACCESS_KEY_ID`, `AWS_ACCESS_KEY_ID`
---@field secret_key? string default `SPACES_SECRET_ACCESS_KEY`, `AWS_SECRET_ACCESS_KEY`; masked
---@field session_token? string
---@field path_style? boolean default true: `https://endpoint/bucket/key`
---@field multipart_threshold? integer bytes (8 MiB)
---@field part_size? integer bytes (8 MiB, at least 5 MiB)
---@field part_concurrency? integer parts going up at once (4)
---@field timeout? number seconds per request (300)
---@field connect_timeout? number seconds (15)

---@class alaris.s3.PutOptions
---@field content_type? string default `application/octet-stream`
---@field metadata? table<string, string> sent as `x-amz-meta-<name>`
---@field part_size? integer

---@class alaris.s3.PutResult
---@field etag string without quotes
---@field size integer
---@field parts? integer the number of parts of a multipart upload

---@class alaris.s3.ObjectInfo
---@field size integer
---@field etag string
---@field content_type string
---@field last_modified string
---@field metadata table<string, string>

---@class alaris.s3.Entry
---@field key string
---@field size? integer
---@field etag? string
---@field last_modified? string ISO 8601
---@field storage_class? string
---@field prefix? true a common prefix (with `delimiter`)

---@class alaris.s3.ListOptions
---@field prefix? string
---@field delimiter? string
---@field start_after? string
---@field max_keys? integer page size

---@class alaris.s3.Page
---@field entries alaris.s3.Entry[]
---@field next_token? string nil on the last page

---@class alaris.s3.Bucket
---@field name string
---@field creation_date string

---@class alaris.s3.Client
---@field region string
---@field path_style boolean
local Client = {}

---Marks the client closed; using it afterwards raises. Also run by `<close>`. Idempotent.
---@return true
function Client:close() end

---@param bucket string
---@return true|nil ok
---@return alaris.s3.Error|nil err
function Client:create_bucket(bucket) end

---@param bucket string
---@return true|nil ok
---@return alaris.s3.Error|nil err `NoSuchBucket` when it does not exist
function Client:head_bucket(bucket) end

---@param bucket string
---@return true|nil ok
---@return alaris.s3.Error|nil err `BucketNotEmpty` unless empty
function Client:delete_bucket(bucket) end

---@return alaris.s3.Bucket[]|nil buckets
---@return alaris.s3.Error|nil err
function Client:list_buckets() end

---Stores an object from a string or a file; larger than `multipart_threshold` goes up as a multipart upload.
---@param bucket string
---@param key string
---@param body string|{file: string}
---@param opts? alaris.s3.PutOptions
---@return alaris.s3.PutResult|nil result
---@return alaris.s3.Error|nil err
function Client:put(bucket, key, body, opts) end

---The object's body as a string, or with `{file = path}` streamed to that file (then the first result is `true`).
---@param bucket string
---@param key string
---@param opts? {file: string}
---@return string|true|nil body
---@return alaris.s3.ObjectInfo|alaris.s3.Error info_or_err
function Client:get(bucket, key, opts) end

---@param bucket string
---@param key string
---@return alaris.s3.ObjectInfo|nil info
---@return alaris.s3.Error|nil err `NoSuchKey` when it does not exist
function Client:head(bucket, key) end

---@param bucket string
---@param key string
---@return true|nil ok
---@return alaris.s3.Error|nil err
function Client:delete(bucket, key) end

---Every object under `opts.prefix`, in key order, one page in memory at a time. A failing page raises its error.
---@param bucket string
---@param opts? alaris.s3.ListOptions
---@return fun(): alaris.s3.Entry?
function Client:list(bucket, opts) end

---One ListObjectsV2 page.
---@param bucket string
---@param opts? alaris.s3.ListOptions
---@param token? string the previous page's `next_token`
---@return alaris.s3.Page|nil page
---@return alaris.s3.Error|nil err
function Client:list_page(bucket, opts, token) end

---A URL anyone can GET for `expires` seconds (default 3600, at most 604800).
---@param bucket string
---@param key string
---@param expires? integer
---@return string
function Client:presign_get(bucket, key, expires) end

---A URL anyone can PUT a body to for `expires` seconds.
---@param bucket string
---@param key string
---@param expires? integer
---@return string
function Client:presign_put(bucket, key, expires) end

---Internal: the URL of a bucket or key.
---@private
---@param bucket? string
---@param key? string
---@param params? [string, any][]
---@return string
function Client:url(bucket, key, params) end

---Internal: one signed request, with the retry policy.
---@private
---@param method string
---@param bucket? string
---@param key? string
---@param opts? table
---@return alaris.http.Response|nil response
---@return alaris.s3.Error|nil err
function Client:request(method, bucket, key, opts) end

---@class alaris.s3
local s3 = {}

---A client; missing options come from `SPACES_*`, then `AWS_*` variables. `nil, err` (`"config"`) without an
---endpoint or credentials.
---@param opts? alaris.s3.Options
---@return alaris.s3.Client|nil client
---@return alaris.s3.Error|nil err
function s3.client(opts) end

return s3
