-- alaris.http: HTTP(S) requests for bindings and playbooks. The C core (alaris.http.core) makes one attempt on
-- the engine's event loop; this file adds the one retry policy of alaris (which failures are worth another attempt,
-- how long to wait, Retry-After, a time budget), which the clients (k8s, digitalocean, s3) configure instead of
-- looping, and the one query-string encoder. It does not follow redirects; a request that is not idempotent is
-- tried again only when the server refused it (429) or the caller says it is safe.
local alaris = require "alaris"
local core = require "alaris.http.core"
local escape = require("alaris.escape").escape

local http = {}

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
local DEFAULT_POLICY = {
  attempts = 3, backoff = 0.2, max_delay = 30,
  statuses = { 429, 502, 503, 504 }, -- worth another attempt of an idempotent request
  errors = { "connect", "reset" },   -- the request never arrived, or its answer was lost
  refused = { 429 },                 -- the server did not act on the request: every method may try again
}

-- Retry-After as a delay in seconds: delta-seconds or an HTTP date; for a 429 without it, the widespread
-- ratelimit-reset (epoch seconds); nil when absent or unreadable.
local function retry_after(resp)
  local value = resp.headers["retry-after"]
  if not value then
    local reset = resp.status == 429 and tonumber(resp.headers["ratelimit-reset"] or "")
    return reset and reset > 1e9 and math.max(reset - os.time(), 0) or nil
  end
  local seconds = value:match("^%s*(%d+)%s*$")
  if seconds then return tonumber(seconds) end
  local at = core.parse_date(value)
  if at then return math.max(at - os.time(), 0) end
  return nil
end

--- http.backoff(attempt, base, cap) -> seconds: exponential backoff with "equal jitter", between half and all of
--- base * 2^(attempt-1), capped at cap. Callers retrying together spread out.
http.backoff = require "alaris.backoff"

-- How long to wait before the next attempt, or nil when this outcome is final.
local function retry_delay(policy, attempt, resp, err)
  if resp then
    if not policy.statuses[resp.status] then return nil end
    local asked = retry_after(resp)
    if asked then
      if asked > policy.max_wait then return nil end -- the server wants longer than we would wait
      return asked + math.random() * math.min(1, asked * 0.1) -- waiting tasks do not all wake at once
    end
    local delay = http.backoff(attempt, policy.backoff, policy.max_delay)
    if resp.status == 429 then return math.max(delay, 1) end -- too many requests: a pause, not a quick retry
    return delay
  end
  if err and policy.errors[err.code] then return http.backoff(attempt, policy.backoff, policy.max_delay) end
  return nil
end

local function as_set(list, field)
  if type(list) ~= "table" then error("http.request: retry." .. field .. " must be a list", 4) end
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end

local function check_seconds(policy, field)
  local v = policy[field]
  if v ~= nil and (type(v) ~= "number" or v < 0) then
    error("http.request: retry." .. field .. " must be a number of seconds", 4)
  end
end

-- The policy of a request: its retry table over the defaults, lists turned into sets.
local function check_policy(retry)
  if type(retry) ~= "table" then error("http.request: retry must be a table {attempts, backoff, ...}", 3) end
  local policy = {}
  for k, v in pairs(DEFAULT_POLICY) do policy[k] = v end
  for k, v in pairs(retry) do policy[k] = v end
  policy.max_wait = retry.max_wait or policy.max_delay
  if math.type(policy.attempts) ~= "integer" or policy.attempts < 1 then
    error("http.request: retry.attempts must be a positive integer", 3)
  end
  for _, field in ipairs { "backoff", "max_delay", "max_wait", "budget" } do check_seconds(policy, field) end
  for _, field in ipairs { "statuses", "errors", "refused" } do policy[field] = as_set(policy[field], field) end
  return policy
end

-- Whether this outcome may be tried again at all: an idempotent request (by its method, or because the caller
-- says so), or an answer saying the server did not act on it.
local function may_retry(policy, method, resp)
  if policy.idempotent or (policy.idempotent == nil and IDEMPOTENT[method]) then return true end
  return resp ~= nil and policy.refused[resp.status] == true
end

-- With on_data, an attempt whose body was already streamed to the caller cannot be taken back: no retry then.
local function track_streaming(opts)
  if not opts.on_data then return opts, function() return false end end
  local streamed = false
  local copy = {}
  for k, v in pairs(opts) do copy[k] = v end
  local on_data = opts.on_data
  copy.on_data = function(chunk, resp)
    streamed = true
    return on_data(chunk, resp)
  end
  return copy, function() return streamed end
end

--- http.request{method, url, headers, body, timeout, connect_timeout, ca_file, ca_data, cert_file, cert_data,
--- key_file, key_data, insecure, on_data, retry = {attempts, backoff, max_delay, max_wait, statuses, errors, refused,
--- idempotent, budget}} -> {status, headers, header_list, http_version, body} | nil, err
function http.request(opts)
  if type(opts) ~= "table" then error("http.request expects a table of options", 2) end
  if not opts.retry then return core.request(opts) end
  local policy = check_policy(opts.retry)
  local method = opts.method or "GET"
  local attempt_opts, streamed = track_streaming(opts)
  local started = alaris.now()
  for attempt = 1, policy.attempts do
    local resp, err = core.request(attempt_opts)
    local delay = attempt < policy.attempts and not streamed() and may_retry(policy, method, resp)
      and retry_delay(policy, attempt, resp, err)
    if delay and policy.budget and alaris.now() + delay - started > policy.budget then delay = nil end
    if not delay then return resp, err end
    alaris.sleep(delay)
  end
end

-- ---- query strings ----

local function query_value(name, v)
  if v == true then return "true" end
  local t = type(v)
  if t ~= "string" and t ~= "number" and t ~= "boolean" then
    error("http.query: query parameter " .. tostring(name) .. " must be a string, number or boolean", 4)
  end
  return tostring(v)
end

-- A list of {name, value} pairs, in order; a nil value gives the bare name (S3's "?uploads").
local function query_of_pairs(params)
  local parts = {}
  for _, p in ipairs(params) do
    parts[#parts + 1] = p[2] == nil and escape(p[1]) or (escape(p[1]) .. "=" .. escape(query_value(p[1], p[2])))
  end
  return table.concat(parts, "&")
end

-- A table name -> value: names sorted, a list value repeats its name, false leaves the name out.
local function query_of_table(params)
  local names = {}
  for k, v in pairs(params) do
    if type(k) ~= "string" then error("http.query: query keys must be strings", 3) end
    if v ~= false then names[#names + 1] = k end
  end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do
    local v = params[k]
    for _, item in ipairs(type(v) == "table" and v or { v }) do
      parts[#parts + 1] = escape(k) .. "=" .. escape(query_value(k, item))
    end
  end
  return table.concat(parts, "&")
end

--- http.query(params) -> "a=1&b=x%20y" (without "?"): every name and value percent-encoded (RFC 3986). params is
--- a table name -> value (names sorted; a list value repeats its name; false is left out), a list of {name, value}
--- pairs (kept in order; a nil value gives the bare name), nil (""), or a string taken as already encoded.
function http.query(params)
  if params == nil then return "" end
  if type(params) == "string" then return params end
  if type(params) ~= "table" then error("http.query: query must be a table or a string", 2) end
  if type(params[1]) == "table" then return query_of_pairs(params) end
  return query_of_table(params)
end

--- http.escape(s): s with every byte but A-Z a-z 0-9 - . _ ~ as %XX (a path segment or a query component).
http.escape = escape

-- ---- error codes ----

local STATUS_CODES = {
  [400] = "invalid", [401] = "unauthorized", [403] = "forbidden", [404] = "not_found", [405] = "invalid",
  [409] = "conflict", [410] = "not_found", [412] = "conflict", [413] = "invalid", [415] = "invalid",
  [422] = "invalid", [429] = "rate_limited", [500] = "server_error", [501] = "invalid", [502] = "unavailable",
  [503] = "unavailable", [504] = "unavailable",
}

--- http.status_code(status) -> the error code every client gives a failed answer with this status ("not_found",
--- "conflict", "forbidden", "unauthorized", "invalid", "rate_limited", "unavailable", "server_error"; "http_<status>"
--- for the rest). The service's own word for it goes in err.reason.
function http.status_code(status)
  return STATUS_CODES[status] or (status >= 500 and "server_error") or ("http_" .. tostring(status))
end

--- Number of requests still holding a libcurl handle (0 when every request has ended or was cancelled).
http.pending = core.pending

--- Seconds since the epoch of an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"), or nil.
http.parse_date = core.parse_date

http.curl_version = core.curl_version

return http
