-- alaris.digitalocean: a client for DigitalOcean's API v2 on top of alaris.http and alaris.json. This file is the
-- transport policy: configuration, errors, retries (5xx and dropped connections for idempotent requests), rate
-- limits (429 waits, slowing down when the budget runs low) and pagination. The resource helpers (DOKS clusters,
-- registry, projects, volumes, Spaces keys) live in alaris/digitalocean/*.lua and are methods of the same client.
-- It does not cache resources and never prints or logs the token.
local alaris = require "alaris"
local http = require "alaris.http"
local json = require "alaris.json"

local digitalocean = {}

local DEFAULT_API_URL = "https://api.digitalocean.com"
local RETRY_ERRORS = { "connect", "reset" } -- the request never reached DO, or its answer was lost
local DEFAULTS = {
  timeout = 60,         -- seconds per attempt
  attempts = 5,         -- for 5xx and dropped connections (idempotent requests only)
  backoff = 0.5,        -- first retry delay, doubled each time (with jitter)
  max_backoff = 10,
  max_rate_wait = 3600, -- a 429 asking to wait longer than this is returned as an error
  rate_reserve = 0.1,   -- below this fraction of the limit, requests are spread over the time to reset
}

-- ---- errors ----

local function one_line(s)
  return (tostring(s):gsub("[\r\n]+", " "):gsub("%s+$", ""))
end

-- One line: what was asked, what DO answered (its id and message) and the request id to quote to DO's support.
local function error_line(message, fields)
  local line = "DigitalOcean API"
  if fields.method then line = line .. ": " .. fields.method .. " " .. fields.path end
  if fields.status then line = string.format("%s: %d %s", line, fields.status, fields.id or "") end
  line = line .. ": " .. one_line(message)
  if fields.request_id then line = line .. " (request " .. fields.request_id .. ")" end
  return line
end

-- An alaris error value: code (machine-readable), message (the whole line); status, reason and id (DO's id),
-- server_message, request_id for answers from DO.
local function new_error(code, message, fields)
  fields = fields or {}
  return alaris.error(code, error_line(message, fields), fields)
end
digitalocean.is_error = alaris.is_error

local function http_error(method, path, resp)
  local body = resp.body ~= "" and json.decode(resp.body)
  if type(body) ~= "table" then body = {} end
  local id = type(body.id) == "string" and body.id or ("http_" .. resp.status)
  local message = type(body.message) == "string" and body.message or ("HTTP status " .. resp.status)
  local request_id = type(body.request_id) == "string" and body.request_id or resp.headers["x-request-id"]
  return new_error(http.status_code(resp.status), message, {
    status = resp.status, id = id, reason = id, server_message = one_line(message), request_id = request_id,
    method = method, path = path, retry_after = tonumber(resp.headers["retry-after"]),
  })
end

local function transport_error(method, path, err)
  return new_error(err.code or "http", tostring(err), { method = method, path = path, cause = err })
end

-- ---- configuration ----

local Client = {}
Client.__index = Client
digitalocean.Client = Client

-- Tokens are kept out of the client table, so dumping a client never shows one.
local tokens = setmetatable({}, { __mode = "k" })

local function env(name)
  local v = os.getenv(name)
  if v ~= nil and v ~= "" then return v end
  return nil
end

local function config_error(message)
  return nil, new_error("config", message)
end

local function check_number(opts, name)
  local v = opts[name]
  if v == nil then return DEFAULTS[name] end
  if type(v) ~= "number" or v < 0 then error("digitalocean.client: " .. name .. " must be a non-negative number", 3) end
  return v
end

local function normalise_api_url(url)
  if type(url) ~= "string" or not url:match("^https?://[^/%s]+") then return nil end
  return (url:gsub("/+$", ""))
end

--- digitalocean.client([{token, api_url, timeout, attempts, backoff, max_backoff, max_rate_wait, rate_reserve}])
--- -> client | nil, err (no token, or an API URL that is not http(s))
function digitalocean.client(opts)
  if opts ~= nil and type(opts) ~= "table" then error("digitalocean.client: expected a table of options", 2) end
  opts = opts or {}
  local token = opts.token or env("DIGITALOCEAN_ACCESS_TOKEN") or env("DIGITALOCEAN_TOKEN")
  if token == nil or token == "" then
    return config_error("no API token: set DIGITALOCEAN_ACCESS_TOKEN (or DIGITALOCEAN_TOKEN) or pass {token = ...}")
  end
  if type(token) ~= "string" then error("digitalocean.client: token must be a string", 2) end
  if token:find("[%c%s]") then return config_error("the API token contains white space or control characters") end
  alaris.secret(token)
  local raw_url = opts.api_url or env("DIGITALOCEAN_API_URL") or DEFAULT_API_URL
  local api_url = normalise_api_url(raw_url)
  if not api_url then return config_error("API URL '" .. tostring(raw_url) .. "' is not an http(s) URL") end
  local client = setmetatable({
    api_url = api_url,
    rate = {},        -- the last ratelimit-* headers seen: limit, remaining, reset (epoch seconds)
    next_slot = 0,    -- alaris.now() before which no request may start while the budget is low
  }, Client)
  for name in pairs(DEFAULTS) do client[name] = check_number(opts, name) end
  client.attempts = math.max(1, math.floor(client.attempts))
  tokens[client] = token
  return client
end

function Client:__tostring()
  return "digitalocean client (" .. self.api_url .. (tokens[self] and ")" or ", closed)")
end

--- client:close(): forgets the token; later requests raise. Idempotent; also run by <close>.
function Client:close()
  tokens[self] = nil
  return true
end
Client.__close = Client.close

local function token_of(client)
  if getmetatable(client) ~= Client then error("digitalocean: expected a client (use dc:method(...))", 3) end
  local token = tokens[client]
  if not token then error("attempt to use a closed digitalocean client", 3) end
  return token
end

-- ---- URLs ----

digitalocean.encode_query = http.query
digitalocean.escape = http.escape

-- The URL for a path ("/v2/...") or for an absolute link DO returned (links.pages.next). A link to another origin
-- is re-based on api_url: the token only ever goes to api_url.
function Client:url_for(path, query)
  if type(path) ~= "string" then error("digitalocean: path must be a string", 3) end
  local url
  if path:sub(1, #self.api_url + 1) == self.api_url .. "/" then
    url = path
  elseif path:match("^https?://") then
    url = self.api_url .. (path:match("^https?://[^/]+(/.*)$") or "/")
  elseif path:sub(1, 1) == "/" then
    url = self.api_url .. path
  else
    error("digitalocean: path must start with / (got '" .. path .. "')", 3)
  end
  local q = http.query(query)
  if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  return url
end

-- The path of a URL without scheme, host and query: what error messages show.
local function display_path(url)
  return (url:match("^https?://[^/]+(/[^?]*)") or url)
end

-- ---- rate limits and retries ----

function Client:observe_rate(headers)
  local limit, remaining = tonumber(headers["ratelimit-limit"]), tonumber(headers["ratelimit-remaining"])
  local reset = tonumber(headers["ratelimit-reset"])
  if limit and remaining and reset then self.rate = { limit = limit, remaining = remaining, reset = reset } end
end

-- When the remaining budget is low, each request takes the next slot of an even spread of what remains over the
-- time until the window resets; tasks sharing the client queue one behind the other.
function Client:throttle()
  local r = self.rate
  if not r.limit then return end
  local to_reset = r.reset - alaris.time()
  if to_reset <= 0 or r.remaining > r.limit * self.rate_reserve then return end
  local interval = to_reset / math.max(r.remaining, 1)
  local now = alaris.now()
  local slot = math.max(self.next_slot, now) + interval
  if slot - now > self.max_rate_wait then return end -- longer than we would wait for a 429: let DO answer
  self.next_slot = slot
  alaris.sleep(slot - now)
end

-- alaris.http's retry policy with this client's settings: 5xx and dropped connections for idempotent methods, a
-- 429 (DO did not act on it) for every method, after retry-after or until ratelimit-reset.
local function retry_policy(self)
  return {
    attempts = self.attempts, backoff = self.backoff, max_delay = self.max_backoff, max_wait = self.max_rate_wait,
    statuses = { 429, 500, 502, 503, 504, 507, 508 }, errors = RETRY_ERRORS,
  }
end

-- One request with the retry policy: the final response (any status) or nil, http error.
function Client:send(method, url, headers, body)
  self:throttle()
  local resp, err = http.request {
    method = method, url = url, headers = headers, body = body, timeout = self.timeout, retry = retry_policy(self),
  }
  if resp then self:observe_rate(resp.headers) end
  return resp, err
end

-- ---- requests ----

local function is_json(resp)
  local ct = resp.headers["content-type"] or ""
  return ct:find("json", 1, true) ~= nil
end

-- The result of a successful answer: decoded JSON, the text when raw (or not JSON), true when there is no body.
local function result_of(method, path, resp, raw)
  if raw then return resp.body end
  if resp.status == 204 or resp.body == "" then return true end
  if not is_json(resp) then return resp.body end
  local value, err = json.decode(resp.body)
  if value == nil then
    return nil, new_error("invalid_response", "answer is not valid JSON: " .. tostring(err),
      { status = resp.status, method = method, path = path, request_id = resp.headers["x-request-id"] })
  end
  return value
end

--- dc:request(method, path, {query, body, raw}) -> decoded JSON | text (raw) | true (no body) | nil, err
function Client:request(method, path, opts)
  local token = token_of(self)
  if type(method) ~= "string" then error("digitalocean: method must be a string", 2) end
  opts = opts or {}
  method = method:upper()
  local url = self:url_for(path, opts.query)
  local headers = {
    { "Authorization", "Bearer " .. token },
    { "Accept", opts.raw and "*/*" or "application/json" },
    { "User-Agent", "alaris/" .. alaris.version },
  }
  local body
  if opts.body ~= nil then
    body = type(opts.body) == "string" and opts.body or json.encode(opts.body)
    headers[#headers + 1] = { "Content-Type", "application/json" }
  end
  local shown = display_path(url)
  local resp, err = self:send(method, url, headers, body)
  if not resp then return nil, transport_error(method, shown, err) end
  if resp.status >= 400 then return nil, http_error(method, shown, resp) end
  return result_of(method, shown, resp, opts.raw)
end

function Client:get(path, query) return Client.request(self, "GET", path, { query = query }) end
function Client:post(path, body) return Client.request(self, "POST", path, { body = body }) end
function Client:put(path, body) return Client.request(self, "PUT", path, { body = body }) end
function Client:patch(path, body) return Client.request(self, "PATCH", path, { body = body }) end
function Client:delete(path, query) return Client.request(self, "DELETE", path, { query = query }) end

--- dc:fail(code, message [, fields]) -> nil, err: an error of this module, for helpers.
function Client:fail(code, message, fields)
  return nil, new_error(code, message, fields)
end

-- ---- pagination ----

--- for item in dc:pages(path, key [, {per_page = 200, query = {...}}]) do ... end
--- Follows links.pages.next, one page in memory at a time; raises the error value when a page fails.
function Client:pages(path, key, opts)
  token_of(self)
  if type(key) ~= "string" then error("digitalocean: pages needs the key of the list in each page", 2) end
  opts = opts or {}
  local query = {}
  for k, v in pairs(opts.query or {}) do query[k] = v end
  query.per_page = opts.per_page or query.per_page or 200
  local next_url, items, i = self:url_for(path, query), nil, 0
  local seen = {}
  return function()
    while true do
      if items and i < #items then
        i = i + 1
        return items[i]
      end
      if not next_url then return nil end
      seen[next_url] = true
      local page, err = self:get(next_url)
      if not page then error(err, 0) end
      items, i = page[key], 0
      if type(items) ~= "table" then
        local what = "the answer to " .. display_path(next_url) .. " has no list '" .. key .. "'"
        error(new_error("invalid_response", what), 0)
      end
      local pages = type(page.links) == "table" and type(page.links.pages) == "table" and page.links.pages
      next_url = pages and type(pages.next) == "string" and pages.next or nil
      if next_url and seen[next_url] then next_url = nil end -- a server repeating a link must not loop us forever
    end
  end
end

--- dc:list(path, key [, opts]) -> every item of every page as a list | nil, err
function Client:list(path, key, opts)
  local all = {}
  local ok, err = pcall(function()
    for item in self:pages(path, key, opts) do all[#all + 1] = item end
  end)
  if not ok then
    if digitalocean.is_error(err) then return nil, err end
    error(err, 0)
  end
  return all
end

-- The first item of a listing for which match(item) is true, nil when none, or nil, err.
function Client:find(path, key, match, opts)
  local found
  local ok, err = pcall(function()
    for item in self:pages(path, key, opts) do
      if match(item) then
        found = item
        return
      end
    end
  end)
  if not ok then
    if digitalocean.is_error(err) then return nil, err end
    error(err, 0)
  end
  return found
end

--- digitalocean.urn(kind, id) -> "do:kind:id", the form projects use for resources.
function digitalocean.urn(kind, id)
  return "do:" .. kind .. ":" .. tostring(id)
end

for _, name in ipairs { "kubernetes", "resources" } do
  for method, fn in pairs(require("alaris.digitalocean." .. name)) do Client[method] = fn end
end

return digitalocean
