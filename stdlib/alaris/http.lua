-- alaris.http: HTTP(S) requests for bindings and playbooks. The C core (alaris.http.core) makes one attempt on
-- the engine's event loop; this file adds the retry policy: which failures are worth another attempt and how long
-- to wait. It does not follow redirects and never retries a request that is not idempotent.
local alaris = require "alaris"
local core = require "alaris.http.core"

local http = {}

local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true }
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }
local RETRY_ERROR = { connect = true, reset = true }

-- Retry-After as a delay in seconds: delta-seconds or an HTTP date; nil when absent or unreadable.
local function retry_after(resp)
  local value = resp.headers["retry-after"]
  if not value then return nil end
  local seconds = value:match("^%s*(%d+)%s*$")
  if seconds then return tonumber(seconds) end
  local at = core.parse_date(value)
  if at then return math.max(at - os.time(), 0) end
  return nil
end

-- Exponential backoff with "equal jitter": between half and all of backoff * 2^(attempt-1), capped.
local function backoff_delay(policy, attempt)
  local full = math.min(policy.backoff * 2 ^ (attempt - 1), policy.max_delay)
  return full / 2 + math.random() * full / 2
end

-- How long to wait before the next attempt, or nil when this outcome is final.
local function retry_delay(policy, attempt, resp, err)
  if resp then
    if not RETRY_STATUS[resp.status] then return nil end
    local asked = retry_after(resp)
    if asked then
      if asked > policy.max_delay then return nil end -- the server wants longer than we would wait
      return asked
    end
    return backoff_delay(policy, attempt)
  end
  if err and RETRY_ERROR[err.code] then return backoff_delay(policy, attempt) end
  return nil
end

local function check_policy(retry)
  if type(retry) ~= "table" then error("http.request: retry must be a table {attempts, backoff}", 3) end
  local policy = { attempts = retry.attempts or 3, backoff = retry.backoff or 0.2, max_delay = retry.max_delay or 30 }
  if math.type(policy.attempts) ~= "integer" or policy.attempts < 1 then
    error("http.request: retry.attempts must be a positive integer", 3)
  end
  for _, field in ipairs { "backoff", "max_delay" } do
    if type(policy[field]) ~= "number" or policy[field] < 0 then
      error("http.request: retry." .. field .. " must be a number of seconds", 3)
    end
  end
  return policy
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
--- key_file, key_data, insecure, on_data, retry = {attempts, backoff, max_delay}}
--- -> {status, headers, header_list, http_version, body} | nil, err
function http.request(opts)
  if type(opts) ~= "table" then error("http.request expects a table of options", 2) end
  if not opts.retry then return core.request(opts) end
  local policy = check_policy(opts.retry)
  local method = opts.method or "GET"
  if not IDEMPOTENT[method] then return core.request(opts) end
  local attempt_opts, streamed = track_streaming(opts)
  for attempt = 1, policy.attempts do
    local resp, err = core.request(attempt_opts)
    local delay = attempt < policy.attempts and not streamed() and retry_delay(policy, attempt, resp, err)
    if not delay then return resp, err end
    alaris.sleep(delay)
  end
end

--- Number of requests still holding a libcurl handle (0 when every request has ended or was cancelled).
http.pending = core.pending

--- Seconds since the epoch of an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"), or nil.
http.parse_date = core.parse_date

http.curl_version = core.curl_version

return http
