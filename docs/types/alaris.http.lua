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

---The one retry policy of alaris; the clients (k8s, digitalocean, s3) configure it.
---@class alaris.http.Retry
---@field attempts? integer attempts in all (default 3)
---@field backoff? number seconds (default 0.2), doubled each attempt, with jitter
---@field max_delay? number seconds (default 30): the longest backoff
---@field max_wait? number seconds (default `max_delay`); a longer `Retry-After` returns the response instead
---@field statuses? integer[] statuses worth another attempt (default `{429, 502, 503, 504}`)
---@field errors? string[] error codes worth another attempt (default `{"connect", "reset"}`)
---@field refused? integer[] statuses meaning the server did not act: retried for every method (default `{429}`)
---@field idempotent? boolean true: the caller says the request may be repeated whatever its method
---@field budget? number seconds from the first attempt after which no attempt starts

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

---A query string without `?`: a table name -> value (names sorted, a list value repeats its name, `false` left out),
---a list of `{name, value}` pairs (in order; no value: the bare name), or a string taken as already encoded.
---@param params? table|string
---@return string
function http.query(params) end

---`s` with every byte but `A-Z a-z 0-9 - . _ ~` as `%XX` (RFC 3986).
---@param s string
---@return string
function http.escape(s) end

---The error code every client gives a failed answer with this status: `"not_found"` (404, 410), `"conflict"`
---(409, 412), `"forbidden"`, `"unauthorized"`, `"invalid"` (400, 422, ...), `"rate_limited"` (429), `"unavailable"`
---(502-504), `"server_error"` (other 5xx), else `"http_<status>"`.
---@param status integer
---@return string
function http.status_code(status) end

---Seconds to wait before retry `attempt`: between half and all of `base * 2^(attempt-1)`, capped at `cap`.
---@param attempt integer
---@param base number
---@param cap number
---@return number
function http.backoff(attempt, base, cap) end

---The number of requests holding a libcurl handle (0 when none is in flight).
---@return integer
function http.pending() end

---Seconds since the epoch of an HTTP date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), or nil.
---@param s string
---@return integer|nil
function http.parse_date(s) end

return http
