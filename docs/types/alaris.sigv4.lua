---@meta
-- LuaLS type stubs for `alaris.sigv4` (bindings/sigv4.c): AWS Signature Version 4 for one request, as headers or a
-- presigned URL. It sends nothing. For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.sigv4.Request
---@field method string
---@field url? string `"https://host[:port]/path?query"`; or `path` and `query`
---@field path? string default `/`
---@field query? string the raw query string
---@field headers? [string, string][]|table<string, string>
---@field body? string default `""`
---@field access_key string
---@field secret_key string
---@field session_token? string
---@field omit_session_token? boolean send the token but do not sign it
---@field region string
---@field service string
---@field time? string|number ISO 8601 / `"20150830T123600Z"` / epoch seconds; default now
---@field normalize_path? boolean default true; S3: false
---@field double_encode? boolean default true; S3: false
---@field sign_body? boolean add `x-amz-content-sha256`
---@field payload_hash? string e.g. `"UNSIGNED-PAYLOAD"`

---@class alaris.sigv4.PresignRequest: alaris.sigv4.Request
---@field expires? integer seconds, 1..604800 (default 3600)

---@class alaris.sigv4.Signed
---@field headers [string, string][] the headers to send, `Authorization` last
---@field authorization string
---@field signature string hex
---@field signed_headers string e.g. `"host;x-amz-date"`
---@field payload_hash string
---@field canonical_request string
---@field string_to_sign string

---@class alaris.sigv4.Presigned
---@field url string
---@field query string
---@field headers [string, string][]
---@field signature string
---@field signed_headers string
---@field canonical_request string
---@field string_to_sign string

---@class alaris.sigv4
local sigv4 = {}

---Signs a request; raises on misuse (a missing field, an unreadable time).
---@param request alaris.sigv4.Request
---@return alaris.sigv4.Signed
function sigv4.sign(request) end

---A URL carrying the signature in its query.
---@param request alaris.sigv4.PresignRequest
---@return alaris.sigv4.Presigned
function sigv4.presign(request) end

---Lower-case hex SHA-256 of `s`.
---@param s string
---@return string
function sigv4.sha256_hex(s) end

---AWS's UriEncode: every byte but `A-Za-z0-9-._~` and those of `keep` becomes `%XX`.
---@param s string
---@param keep? string
---@return string
function sigv4.uri_encode(s, keep) end

return sigv4
