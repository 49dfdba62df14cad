---@meta
-- LuaLS type stubs for `alaris.http` (stdlib/alaris/http.lua over bindings/http.c): HTTP(S) requests on the event
-- loop with an optional retry policy. For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.http.Error: alaris.Error
---@field code "timeout"|"connect"|"dns"|"tls"|"reset"|"proxy"|"url"|"protocol"|"memory"|"transport"
---@field curl_code integer libcurl's CURLcode

---@class alaris.http.Response
---@field status integer the HTTP status; 4xx and 5xx are responses, not failures
---@field headers table<string, string> lower-case names; repeated headers joined with `", "` (`set-cookie`: `"\n"`)
---@field header_list [string, string][] every header as `{name, value}`, in order, duplicates kept
---@field body string|nil the body (`""` when there is none); nil with `on_data`
---@field http_version "1.0"|"1.1"|"2"
---@field aborted? true when `on_data` returned `false`

---@class alaris.http.Retry
---@field attempts? integer attempts in all (default 3)
---@field backoff? number seconds (default 0.2), doubled each attempt, with jitter
---@field max_delay? number seconds (default 30); a longer `Retry-After` returns the response instead

---@class alaris.http.Request
---@field url string `http://` or `https://`, sent as given
---@field method? string default `"GET"`
---@field headers? table<string, string|number|false>|[string, string|number][] a map or a list of `{name, value}`
---@field body? string
---@field timeout? number seconds for the whole exchange
---@field connect_timeout? number seconds to resolve and connect (default 30)
---@field ca_file? string
---@field ca_data? string PEM text
---@field cert_file? string
---@field cert_data? string
---@field key_file? string
---@field key_data? string
---@field insecure? boolean skip verification of the server's certificate
---@field connect_to? string|string[] `"HOST:PORT:ADDRESS:PORT"` (curl's `--connect-to`)
---@field on_data? fun(chunk: string, response: alaris.http.Response): boolean? streams the body; `false` stops
---@field retry? alaris.http.Retry|false retries idempotent methods on 429/502/503/504 and dropped connections

---@class alaris.http
---@field curl_version string libcurl's version string
local http = {}

---Makes one request (with `retry`, possibly several attempts) from inside a task. Misuse raises.
---@param opts alaris.http.Request
---@return alaris.http.Response|nil response
---@return alaris.http.Error|nil err
function http.request(opts) end

---The number of requests holding a libcurl handle (0 when none is in flight).
---@return integer
function http.pending() end

---Seconds since the epoch of an HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), or nil.
---@param s string
---@return integer|nil
function http.parse_date(s) end

return http
