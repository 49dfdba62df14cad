-- alaris.digitalocean against the lab's DigitalOcean API (DIGITALOCEAN_API_URL, DIGITALOCEAN_ACCESS_TOKEN), its
-- admin endpoint (LAB_ADMIN_URL: fault injection, request log) and, for Spaces keys, its S3 front (SPACES_*).
-- Every name carries a run id: the lab keeps its DO state between runs.
local T = require "testing"
local alaris = require "alaris"
local digitalocean = require "alaris.digitalocean"
local http = require "alaris.http"
local json = require "alaris.json"
local yaml = require "alaris.yaml"
local crypto = require "alaris.crypto"
local s3 = require "alaris.s3"
local playbook = require "alaris.playbook"

local API_URL = assert(os.getenv("DIGITALOCEAN_API_URL"), "DIGITALOCEAN_API_URL is not set: run with the lab's env")
local TOKEN = assert(os.getenv("DIGITALOCEAN_ACCESS_TOKEN"))
local ADMIN_URL, ADMIN_TOKEN = assert(os.getenv("LAB_ADMIN_URL")), assert(os.getenv("LAB_ADMIN_TOKEN"))
local RUN = string.format("t%x%04x", os.time() % 0x1000000, math.random(0, 0xffff))

local function client(opts)
  return assert(digitalocean.client(opts))
end

-- A JSON request to the lab outside the client under test (admin endpoint, rate-limit knob).
local function raw(method, url, token, body)
  local resp = assert(http.request {
    method = method, url = url, body = body and json.encode(body),
    headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/json" },
  })
  local decoded = resp.body ~= "" and json.decode(resp.body) or nil
  return resp.status, decoded
end

local function admin(method, path, body)
  local status, decoded = raw(method, ADMIN_URL .. path, ADMIN_TOKEN, body)
  assert(status < 300, "admin " .. method .. " " .. path .. " answered " .. status)
  return decoded
end

-- The lab's log of DO requests matching method and path (without query), in order.
local function logged(method, path)
  local out = {}
  for _, r in ipairs(admin("GET", "/requests?target=do&method=" .. method).requests) do
    if r.path == path then out[#out + 1] = r end
  end
  return out
end

local function statuses(entries)
  local out = {}
  for i, r in ipairs(entries) do out[i] = r.status == json.null and "drop" or r.status end
  return out
end

-- Runs fn with the lab's DO rate limit set to {limit, windowMs}, restoring the previous one afterwards.
local function with_rate_limit(limit, window_ms, fn)
  local _, before = raw("GET", API_URL .. "/lab/ratelimit", TOKEN)
  raw("PUT", API_URL .. "/lab/ratelimit", TOKEN, { limit = limit, windowMs = window_ms })
  local ok, err = pcall(fn)
  raw("PUT", API_URL .. "/lab/ratelimit", TOKEN, { limit = before.limit, windowMs = before.window_ms })
  if not ok then error(err, 0) end
end

-- Runs fn with fault rules installed and the request log cleared, removing the rules afterwards.
local function with_faults(rules, fn)
  admin("DELETE", "/faults")
  for _, rule in ipairs(rules) do admin("POST", "/faults", rule) end
  admin("DELETE", "/requests")
  local ok, err = pcall(fn)
  admin("DELETE", "/faults")
  if not ok then error(err, 0) end
end

-- ---- client, errors ----

T.test("client() reads the token and URL from the environment; the token is registered as a secret", function()
  local dc = client()
  T.eq(dc.api_url, API_URL)
  T.ok(alaris.is_secret(TOKEN), "token registered")
  T.not_contains(tostring(dc), TOKEN)
  local account = assert(dc:account())
  T.eq(account.status, "active")
  T.ok(account.uuid and account.email, "account has uuid and email")
end)

T.test("client{token, api_url} overrides the environment", function()
  local dc = client { token = TOKEN, api_url = API_URL .. "/" }
  T.eq(dc.api_url, API_URL, "trailing slash dropped")
  T.ok(dc:account())
end)

T.test("a wrong token gives one clear line with the status and DO's message, never the token", function()
  local wrong = "dop_v1_" .. string.rep("0badc0de", 8)
  local dc = client { token = wrong }
  local account, err = dc:account()
  T.eq(account, nil)
  T.eq(err.status, 401)
  T.eq(err.id, "unauthorized")
  T.eq(err.code, "unauthorized")
  T.eq(err.reason, "unauthorized")
  T.eq(err.server_message, "Unable to authenticate you")
  T.eq(err.message, tostring(err))
  T.ok(err.request_id and #err.request_id > 0, "request id")
  local line = tostring(err)
  T.not_contains(line, "\n")
  T.not_contains(line, wrong)
  T.not_contains(line, "0badc0de")
  T.contains(line, "GET /v2/account: 401")
  T.contains(line, "Unable to authenticate you")
  T.contains(line, err.request_id)
end)

T.test("a 422 surfaces DO's message", function()
  local dc = client()
  local volume, err = dc:create_volume { name = "Not_Valid", region = "nyc3", size_gigabytes = 1 }
  T.eq(volume, nil)
  T.eq(err.status, 422)
  T.eq(err.id, "unprocessable_entity")
  T.eq(err.code, "invalid", "the same code as every module gives a 422")
  T.eq(err.reason, "unprocessable_entity")
  T.contains(err.server_message, "name must be lowercase")
  T.contains(tostring(err), "POST /v2/volumes: 422 unprocessable_entity: name must be lowercase")
end)

T.test("an unreachable API gives a transport error naming the request", function()
  local dc = client { api_url = "http://127.0.0.1:1", attempts = 2, backoff = 0.01 }
  local account, err = dc:account()
  T.eq(account, nil)
  T.eq(err.code, "connect")
  T.eq(err.status, nil)
  T.contains(tostring(err), "GET /v2/account")
end)

T.test("raw verbs: get with a query, post, put, delete", function()
  local dc = client()
  local name = RUN .. "-raw"
  local created = assert(dc:post("/v2/volumes", { name = name, region = "nyc3", size_gigabytes = 2 }))
  local id = created.volume.id
  local found = assert(dc:get("/v2/volumes", { name = name, region = "nyc3" }))
  T.eq(#found.volumes, 1)
  T.eq(found.volumes[1].id, id)
  T.eq(dc:delete("/v2/volumes/" .. id), true, "204 gives true")
  local _, err = dc:get("/v2/volumes/" .. id)
  T.eq(err.status, 404)
  local key = assert(dc:post("/v2/spaces/keys", { name = RUN .. "-raw", grants = json.array {} })).key
  local path = "/v2/spaces/keys/" .. key.access_key
  local updated = assert(dc:put(path, { name = RUN .. "-renamed", grants = json.array {} }))
  T.eq(updated.key.name, RUN .. "-renamed")
  local patched = assert(dc:patch(path, { name = RUN .. "-patched" }))
  T.eq(patched.key.name, RUN .. "-patched")
  T.eq(dc:delete(path), true)
end)

-- ---- retries and rate limits ----

T.test("503 twice then success: an idempotent request is retried, each attempt in the request log", function()
  local dc = client { backoff = 0.05 }
  with_faults({ { target = "do", method = "GET", path = "^/v2/account$", status = 503, count = 2 } }, function()
    T.ok(dc:account())
    T.eq(statuses(logged("GET", "/v2/account")), { 503, 503, 200 })
  end)
end)

T.test("dropped connections are retried for idempotent requests", function()
  local dc = client { backoff = 0.05 }
  with_faults({ { target = "do", method = "GET", path = "^/v2/account$", drop = true, count = 2 } }, function()
    T.ok(dc:account())
    T.eq(statuses(logged("GET", "/v2/account")), { "drop", "drop", 200 })
  end)
end)

T.test("a POST answered 503 is not retried, and a lasting 503 ends after the attempts", function()
  local dc = client { backoff = 0.02, attempts = 3 }
  with_faults({ { target = "do", method = "POST", path = "^/v2/volumes$", status = 503 },
                { target = "do", method = "GET", path = "^/v2/account$", status = 503 } }, function()
    local volume, err = dc:create_volume { name = RUN .. "-never", region = "nyc3", size_gigabytes = 1 }
    T.eq(volume, nil)
    T.eq(err.status, 503)
    T.eq(#logged("POST", "/v2/volumes"), 1, "POST sent once")
    local account, aerr = dc:account()
    T.eq(account, nil)
    T.eq(aerr.status, 503)
    T.eq(statuses(logged("GET", "/v2/account")), { 503, 503, 503 })
  end)
end)

T.test("a 429 waits for retry-after and then succeeds", function()
  with_rate_limit(3, 2000, function()
    for _ = 1, 3 do T.eq((raw("GET", API_URL .. "/v2/account", TOKEN)), 200) end -- use up the window elsewhere
    admin("DELETE", "/requests")
    local dc = client()
    local started = alaris.now()
    local account, err = dc:account()
    T.ok(account, "account after a 429: " .. tostring(err))
    T.eq(statuses(logged("GET", "/v2/account")), { 429, 200 })
    T.ok(alaris.now() - started >= 1, "waited for retry-after")
  end)
end)

T.test("a 429 without retry-after is retried after a pause, for a POST too (DO did not act on it)", function()
  local dc = client()
  with_faults({ { target = "do", method = "POST", path = "^/v2/volumes$", status = 429, count = 1 } }, function()
    local started = alaris.now()
    local volume, created = assert(dc:create_volume { name = RUN .. "-after-429", region = "nyc3", size_gigabytes = 1 })
    T.eq(created, true)
    T.eq(statuses(logged("POST", "/v2/volumes")), { 429, 201 })
    T.ok(alaris.now() - started >= 0.9, "paused about a second")
    assert(dc:delete_volume(volume.id))
  end)
end)

T.test("when the remaining budget runs low, requests slow down instead of getting 429s", function()
  with_rate_limit(10, 3000, function()
    admin("DELETE", "/requests")
    local dc = client()
    local started = alaris.now()
    for i = 1, 15 do T.ok(dc:account(), "request " .. i) end
    local elapsed = alaris.now() - started
    local seen = statuses(logged("GET", "/v2/account"))
    T.eq(#seen, 15, "no request was repeated")
    for i, s in ipairs(seen) do T.eq(s, 200, "request " .. i) end
    T.ok(elapsed >= 2, "spread over the window (" .. elapsed .. " s)")
  end)
end)

T.test("tasks sharing a client under a low limit all succeed", function()
  with_rate_limit(5, 1500, function()
    admin("DELETE", "/requests")
    local dc = client()
    local started = alaris.now()
    local done = playbook.parallel {
      function() for _ = 1, 4 do assert(dc:account()) end return 4 end,
      function() for _ = 1, 4 do assert(dc:account()) end return 4 end,
      function() for _ = 1, 4 do assert(dc:account()) end return 4 end,
    }
    T.eq(done, { 4, 4, 4 })
    local ok = 0
    for _, s in ipairs(statuses(logged("GET", "/v2/account"))) do
      if s == 200 then ok = ok + 1 else T.eq(s, 429, "only 429s were repeated") end
    end
    T.eq(ok, 12)
    T.ok(alaris.now() - started >= 1.4, "12 requests at 5 per 1.5 s cannot all go at once")
  end)
end)

T.test("a 429 asking for longer than max_rate_wait is returned, not waited for", function()
  with_rate_limit(1, 600000, function()
    raw("GET", API_URL .. "/v2/account", TOKEN)
    local dc = client { max_rate_wait = 5 }
    local started = alaris.now()
    local account, err = dc:account()
    T.eq(account, nil)
    T.eq(err.status, 429)
    T.eq(err.id, "too_many_requests")
    T.ok(err.retry_after and err.retry_after > 5, "retry_after given")
    T.ok(alaris.now() - started < 2, "did not wait")
  end)
end)

-- ---- pagination ----

T.test("pages() follows links.pages.next over 450 volumes created concurrently", function()
  local dc = client()
  local prefix = RUN .. "-page-"
  local names = {}
  for i = 1, 450 do names[i] = string.format("%s%03d", prefix, i) end
  local created = playbook.for_each(names, { concurrency = 10 }, function(name)
    local v, was_created = assert(dc:create_volume { name = name, region = "nyc3", size_gigabytes = 1 })
    T.eq(was_created, true)
    return v.id
  end)
  T.eq(#created, 450)
  admin("DELETE", "/requests")
  local seen, count = {}, 0
  for v in dc:pages("/v2/volumes", "volumes", { per_page = 200 }) do
    if v.name:sub(1, #prefix) == prefix then
      T.eq(seen[v.name], nil, "listed once: " .. v.name)
      seen[v.name] = true
      count = count + 1
    end
  end
  T.eq(count, 450)
  local total = assert(dc:get("/v2/volumes", { per_page = 1 })).meta.total
  T.eq(#logged("GET", "/v2/volumes"), math.ceil(total / 200) + 1, "one request per page of 200")
  local again = assert(dc:create_volume { name = names[1], region = "nyc3", size_gigabytes = 1 })
  T.eq(again.id, created[1], "create_volume is idempotent by name and region")
  local listed = assert(dc:volumes { name = names[7], region = "nyc3" })
  T.eq(#listed, 1)
  T.eq(listed[1].id, created[7])
  playbook.for_each(created, { concurrency = 10 }, function(id) assert(dc:delete_volume(id)) end)
  local left = 0
  for v in dc:pages("/v2/volumes", "volumes") do
    if v.name:sub(1, #prefix) == prefix then left = left + 1 end
  end
  T.eq(left, 0)
  T.eq(dc:delete_volume(created[1]), true, "deleting a deleted volume is done")
end)

T.test("list() gathers every page; a failing page raises through pages() and returns nil, err from list()", function()
  local dc = client { backoff = 0.02, attempts = 2 }
  local projects = assert(dc:list("/v2/projects", "projects", { per_page = 1 }))
  T.ok(#projects >= 1)
  with_faults({ { target = "do", method = "GET", path = "^/v2/projects$", status = 500 } }, function()
    local list, err = dc:list("/v2/projects", "projects")
    T.eq(list, nil)
    T.eq(err.status, 500)
    local ok, raised = pcall(function() for _ in dc:pages("/v2/projects", "projects") do end end)
    T.eq(ok, false)
    T.eq(raised.status, 500)
  end)
end)

-- ---- Kubernetes ----

T.test("options() lists versions; 'latest' and '1.32' resolve to slugs", function()
  local dc = client()
  local options = assert(dc:options())
  T.ok(#options.versions >= 1 and #options.regions >= 1 and #options.sizes >= 1)
  local newest = assert(dc:resolve_version("latest"))
  local found = false
  for _, v in ipairs(options.versions) do
    if v.slug == newest then found = true end
    local a, b = newest:match("^(%d+)%.(%d+)")
    local c, d = v.slug:match("^(%d+)%.(%d+)")
    T.ok(tonumber(a) * 1000 + tonumber(b) >= tonumber(c) * 1000 + tonumber(d),
      newest .. " is not older than " .. v.slug)
  end
  T.ok(found, "latest is one of the offered slugs")
  local minor = options.versions[#options.versions].kubernetes_version:match("^%d+%.%d+")
  T.contains(assert(dc:resolve_version(minor)), minor .. ".")
  local _, err = dc:resolve_version("0.1")
  T.eq(err.code, "invalid_version")
end)

T.test("a cluster is created (idempotently by name), waited to running, and its credentials reach the Kubernetes API",
  function()
    local dc = client()
    local name = RUN .. "-doks"
    T.eq(dc:find_cluster(name), nil)
    local spec = { name = name, region = "nyc3", version = "latest",
                   node_pools = { { name = "pool-1", size = "s-2vcpu-4gb", count = 2 } } }
    local cluster, created = assert(dc:create_cluster(spec))
    T.eq(created, true)
    T.eq(cluster.status.state, "provisioning")
    T.eq(cluster.version, assert(dc:resolve_version("latest")))
    local again, created_again = assert(dc:create_cluster(spec))
    T.eq(created_again, false)
    T.eq(again.id, cluster.id)
    T.eq(assert(dc:find_cluster(name)).id, cluster.id)

    local _, early = dc:wait_cluster_running(cluster.id, 0.3)
    T.eq(early.code, "timeout")
    T.contains(tostring(early), "provisioning")

    admin("DELETE", "/requests")
    local running = assert(dc:wait_cluster_running(cluster.id, 30))
    T.eq(running.status.state, "running")
    local polls = #logged("GET", "/v2/kubernetes/clusters/" .. cluster.id)
    T.ok(polls >= 3 and polls <= 10, "polled at short, growing intervals (" .. polls .. " polls over ~3 s)")
    T.ok(running.endpoint ~= "", "endpoint once running")

    local kc, expires_at = assert(dc:cluster_credentials(cluster.id))
    T.ok(expires_at, "expiry reported")
    T.eq(kc.kind, "Config")
    T.eq(kc["current-context"], "do-nyc3-" .. name)
    local token = kc.users[1].user.token
    T.ok(alaris.is_secret(token), "cluster token registered as a secret")
    -- the table is the same kubeconfig as the YAML DO hands out
    local text = assert(dc:kubeconfig(cluster.id))
    local from_yaml = assert(yaml.decode(text))
    T.eq(from_yaml.clusters, kc.clusters)
    T.eq(from_yaml.users, kc.users)
    T.eq(from_yaml.contexts, kc.contexts)
    T.eq(from_yaml["current-context"], kc["current-context"])
    -- the table goes straight to alaris.k8s: no doctl, no file
    local k8s = require "alaris.k8s"
    local client = assert(k8s.client { kubeconfig = kc })
    local names = {}
    for ns in client:list("v1", "Namespace") do names[ns.metadata.name] = true end
    T.ok(names.default and names["kube-system"], "default and kube-system namespaces")

    local pools = assert(dc:get("/v2/kubernetes/clusters/" .. cluster.id .. "/node_pools"))
    T.eq(pools.node_pools[1].count, 2)

    T.eq(dc:delete_cluster(cluster.id), true)
    T.eq(dc:delete_cluster(cluster.id), true, "deleting twice is fine")
    T.eq(dc:find_cluster(name), nil)
    local _, gone = dc:wait_cluster_running(cluster.id, 5)
    T.eq(gone.status, 404)
    local _, nocreds = dc:cluster_credentials(cluster.id)
    T.eq(nocreds.status, 404)
  end)

T.test("create_cluster refuses a bad spec with DO's message", function()
  local dc = client()
  local cluster, err = dc:create_cluster { name = RUN .. "-bad", region = "nowhere1", version = "latest",
                                           node_pools = { { name = "p", size = "s-2vcpu-4gb", count = 1 } } }
  T.eq(cluster, nil)
  T.eq(err.status, 422)
  T.contains(err.message, "nowhere1")
end)

-- ---- registry, projects, account ----

T.test("registry: create (idempotent by name), docker credentials, delete", function()
  local dc = client()
  T.eq(dc:delete_registry(), true) -- the lab keeps state between runs: start without one
  T.eq(dc:registry(), nil)
  local name = RUN .. "-reg"
  local registry, created = assert(dc:create_registry {
    name = name, subscription_tier_slug = "basic", region = "fra1",
  })
  T.eq(created, true)
  T.eq(registry.name, name)
  T.eq(registry.subscription.tier.slug, "basic")
  local again, created_again = assert(dc:create_registry { name = name })
  T.eq(created_again, false)
  T.eq(again.name, name)
  local _, conflict = dc:create_registry { name = RUN .. "-other" }
  T.eq(conflict.code, "conflict")
  T.contains(tostring(conflict), name)
  local creds = assert(dc:docker_credentials { read_write = true })
  local auth = creds.auths["registry.digitalocean.com"].auth
  T.ok(alaris.is_secret(auth), "docker auth registered as a secret")
  T.ok(crypto.base64_decode(auth):find(":", 1, true), "auth is base64 of user:password")
  T.eq(dc:delete_registry(), true)
  T.eq(dc:registry(), nil)
  T.eq(dc:delete_registry(), true, "deleting twice is fine")
  local _, err = dc:docker_credentials()
  T.eq(err.status, 404)
end)

T.test("projects: create (idempotent by name), find, assign a volume by URN, list its resources", function()
  local dc = client()
  local name = RUN .. "-project"
  local project, created = assert(dc:create_project { name = name, purpose = "Service or API",
                                                      environment = "Development", description = "alaris test" })
  T.eq(created, true)
  local again, created_again = assert(dc:create_project { name = name, environment = "Development" })
  T.eq(created_again, false)
  T.eq(again.id, project.id)
  T.eq(assert(dc:find_project(name)).id, project.id)
  T.eq(dc:find_project(RUN .. "-no-such-project"), nil)
  T.eq(assert(dc:default_project()).is_default, true)

  local volume = assert(dc:create_volume { name = RUN .. "-assigned", region = "nyc3", size_gigabytes = 1 })
  local urn = digitalocean.urn("volume", volume.id)
  local assigned = assert(dc:assign_resources(project.id, { urn }))
  T.eq(assigned[1].urn, urn)
  T.eq(assigned[1].status, "assigned")
  local listed = assert(dc:project_resources(project.id))
  T.eq(#listed, 1)
  T.eq(listed[1].urn, urn)
  local missing = digitalocean.urn("volume", "00000000-0000-0000-0000-000000000000")
  local _, refused = dc:assign_resources(project.id, { missing })
  T.eq(refused.code, "not_assigned")
  T.contains(tostring(refused), "not_found")

  local _, busy = dc:delete_project(project.id)
  T.eq(busy.status, 412, "a project holding resources is not deleted")
  assert(dc:delete_volume(volume.id))
  T.eq(dc:delete_project(project.id), true)
  T.eq(dc:find_project(name), nil)
  T.eq(dc:delete_project(project.id), true, "deleting twice is fine")
end)

-- ---- Spaces keys ----

T.test("a Spaces key granted one bucket writes there through alaris.s3 and is refused on another", function()
  local dc = client()
  local root = assert(s3.client())
  local allowed, other = RUN .. "-granted", RUN .. "-other"
  assert(root:create_bucket(allowed))
  assert(root:create_bucket(other))

  local key = assert(dc:create_spaces_key { name = RUN .. "-key",
                                            grants = { { bucket = allowed, permission = "readwrite" } } })
  T.ok(key.access_key and key.secret_key, "access key and secret")
  T.ok(alaris.is_secret(key.secret_key), "secret registered as a secret")
  T.eq(key.grants, { { bucket = allowed, permission = "readwrite" } })

  local listed = assert(dc:spaces_keys { name = RUN .. "-key" })
  T.eq(#listed, 1)
  T.eq(listed[1].access_key, key.access_key)
  T.eq(listed[1].secret_key, nil, "the secret is shown only once")
  T.eq(assert(dc:spaces_key(key.access_key)).name, RUN .. "-key")

  local scoped = assert(s3.client { endpoint = os.getenv("SPACES_ENDPOINT"), region = os.getenv("SPACES_REGION"),
                                    access_key = key.access_key, secret_key = key.secret_key, path_style = true })
  assert(scoped:put(allowed, "hello.txt", "written with a scoped key"))
  T.eq(assert(root:get(allowed, "hello.txt")), "written with a scoped key")
  local denied, err = scoped:put(other, "hello.txt", "must not land")
  T.eq(denied, nil)
  T.eq(err.code, "forbidden")
  T.eq(err.reason, "AccessDenied")
  T.eq(err.status, 403)

  local renamed = assert(dc:update_spaces_key(key.access_key, {
    name = RUN .. "-key2", grants = { { bucket = allowed, permission = "read" } },
  }))
  T.eq(renamed.name, RUN .. "-key2")
  local _, readonly = scoped:put(allowed, "again.txt", "x")
  T.eq(readonly.reason, "AccessDenied", "grant lowered to read")

  T.eq(dc:delete_spaces_key(key.access_key), true)
  T.eq(dc:spaces_key(key.access_key), nil)
  T.eq(dc:delete_spaces_key(key.access_key), true, "deleting twice is fine")
  local _, revoked = scoped:put(allowed, "late.txt", "x")
  T.eq(revoked.status, 403, "a deleted key is refused")

  assert(root:delete(allowed, "hello.txt"))
  assert(root:delete_bucket(allowed))
  assert(root:delete_bucket(other))
end)

T.run_all()
