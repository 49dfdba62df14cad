-- alaris.grade.checks: what each of grade's checks looks at and how it judges, one function per check taking
-- (env, tenant) and returning PASS or FAIL with evidence. A check that cannot look (the tenant, its Service or its
-- load balancer address missing, the API refusing) raises, which alaris.check reports as an ERROR. The DR drill and
-- PITR live in alaris.grade.drill, the isolation proof's rules in alaris.grade.isolation.
local alaris = require "alaris"
local backup = require "alaris.backup"
local check = require "alaris.check"
local cnpg = require "alaris.cnpg"
local facts = require "alaris.grade.facts"
local http = require "alaris.http"
local isolation = require "alaris.grade.isolation"
local json = require "alaris.json"
local k8s = require "alaris.k8s"
local operators = require "alaris.operators"
local probe = require "alaris.grade.probe"
local tenant = require "alaris.tenant"

local checks = {}

local PASS, FAIL = check.PASS, check.FAIL
local cannot = facts.cannot
local CNPG = "postgresql.cnpg.io/v1"

-- A probe Pod in `namespace` (its lifetime counted as waiting on the cluster).
local function run_probe(env, namespace, targets)
  return facts.timed(env, "probe pod", probe.run, env.kc, namespace, targets,
    { image = env.probe_image, run_id = env.run_id, timeout = env.probe_timeout })
end

-- 1. SELECT 1 as the app user on pg-T-rw.
function checks.db_smoke(env, t)
  local db <close>, why = facts.connect(env, t)
  if not db then return FAIL, why end
  local rows, err = db:query("select 1 as one")
  if not rows then return FAIL, "SELECT 1 on pg-" .. t .. "-rw failed: " .. tostring(err) end
  if rows[1].one ~= 1 then return FAIL, "SELECT 1 on pg-" .. t .. "-rw returned " .. tostring(rows[1].one) end
  return PASS, string.format("SELECT 1 as app on %s (pod %s) returned 1", tenant.names(t).rw_service,
    facts.rw_pod(env, t))
end

local function get(url, timeout)
  return http.request { url = url, timeout = timeout or 10, connect_timeout = 3 }
end

-- 2. GET /public through the load balancer: 200 and the tenant's JSON with a database answer.
function checks.public_endpoint(env, t)
  local address, svc = facts.load_balancer(env, t)
  local url = string.format("http://%s:%d/public", address, svc.spec.ports[1].port)
  local resp, err = get(url)
  if not resp then return FAIL, string.format("GET %s: %s", url, tostring(err)) end
  if resp.status ~= 200 then return FAIL, string.format("GET %s answered %d: %s", url, resp.status, resp.body:sub(1, 200)) end
  local ok, doc = pcall(json.decode, resp.body)
  if not ok or type(doc) ~= "table" then return FAIL, string.format("GET %s answered non-JSON: %s", url, resp.body:sub(1, 200)) end
  if doc.tenant ~= t then return FAIL, string.format("GET %s answered tenant %s, not %s", url, tostring(doc.tenant), t) end
  if type(doc.database) ~= "table" or not doc.database.time then
    return FAIL, string.format("GET %s answered without a database result: %s", url, resp.body:sub(1, 200))
  end
  return PASS, string.format("GET %s: 200, tenant %s, database %s answered %s", url, t, tostring(doc.database.name),
    tostring(doc.database.time))
end

-- 3. The internal port and path are not reachable through the load balancer.
function checks.internal_not_public(env, t)
  local address, svc = facts.load_balancer(env, t)
  local problems, tried = {}, {}
  local internal = string.format("http://%s:%d/internal", address, isolation.INTERNAL_PORT)
  tried[#tried + 1] = internal
  local resp, err = get(internal, 5)
  if resp then
    problems[#problems + 1] = string.format("GET %s answered %d: %s", internal, resp.status, resp.body:sub(1, 120))
  elseif err.code ~= "connect" and err.code ~= "timeout" then
    problems[#problems + 1] = string.format("%s:%d accepted a connection (%s)", address, isolation.INTERNAL_PORT, tostring(err))
  end
  for _, p in ipairs(svc.spec.ports or {}) do
    local url = string.format("http://%s:%d/internal", address, p.port)
    tried[#tried + 1] = url
    local r = get(url, 5)
    if r and r.status == 200 then problems[#problems + 1] = string.format("GET %s answered 200: %s", url, r.body:sub(1, 120)) end
  end
  if #problems > 0 then return FAIL, problems end
  return PASS, "not reachable from outside: " .. table.concat(tried, ", ")
end

-- 4. From a probe Pod in the tenant's namespace, the internal endpoint answers.
function checks.internal_from_inside(env, t)
  facts.tenant(env, t)
  local n = tenant.names(t)
  local svc = env.kc:get("v1", "Service", n.internal_service, t)
  if not svc then return FAIL, string.format("Service %s/%s does not exist", t, n.internal_service) end
  local host = svc.spec.clusterIP
  local target = { id = "internal", kind = "http", host = host, port = isolation.INTERNAL_PORT, path = "/internal",
    attempts = 5 }
  local r = run_probe(env, t, { target }).internal
  local url = string.format("http://%s:%d/internal (%s)", host, isolation.INTERNAL_PORT, n.internal_service)
  if r.status ~= 200 then
    return FAIL, string.format("from a pod in %s, GET %s: %s", t, url, r.status and ("status " .. r.status) or "no answer")
  end
  local ok, doc = pcall(json.decode, r.body)
  if not ok or type(doc) ~= "table" or doc.tenant ~= t or doc.internal ~= true then
    return FAIL, string.format("from a pod in %s, GET %s answered: %s", t, url, tostring(r.body):sub(1, 120))
  end
  return PASS, string.format("from a pod in %s, GET %s: 200 {tenant %s, internal true}", t, url, t)
end

local function pods_of(env, namespace, selector)
  local list = env.kc:list_all("v1", "Pod", namespace, { label_selector = selector })
  return isolation.live_pods(list or {})
end

-- What must stay closed to tenant t from outside it: its database pods (5432, 8000), pg-T-rw, its app pods' and
-- T-internal's internal port.
local function closed_targets(env, t)
  local n = tenant.names(t)
  local targets = {}
  for i, pod in ipairs(pods_of(env, t, "cnpg.io/cluster=" .. n.cluster)) do
    targets[#targets + 1] = { id = "db" .. i, name = pod.metadata.name .. ":5432", host = pod.status.podIP, port = 5432 }
    targets[#targets + 1] = { id = "status" .. i, name = pod.metadata.name .. ":8000", host = pod.status.podIP, port = 8000 }
  end
  local apps = pods_of(env, t, "app=" .. n.app)
  for i, pod in ipairs(apps) do
    targets[#targets + 1] = { id = "internal" .. i, name = pod.metadata.name .. ":9090", host = pod.status.podIP, port = 9090 }
  end
  for _, svc in ipairs { { n.rw_service, 5432 }, { n.internal_service, 9090 } } do
    local s = env.kc:get("v1", "Service", svc[1], t)
    if s and s.spec.clusterIP then
      targets[#targets + 1] = { id = "svc_" .. svc[2], name = svc[1] .. ":" .. svc[2], host = s.spec.clusterIP, port = svc[2] }
    end
  end
  if #targets == 0 then cannot("tenant %s has no running database or app pod to probe", t) end
  return targets, apps
end

-- A probe from `namespace` with a control target that must connect (else the probe cannot tell anything).
local function probe_closed(env, namespace, t, targets, control)
  control.first, control.attempts = true, 10
  local all = { control }
  for _, target in ipairs(targets) do all[#all + 1] = target end
  local results = run_probe(env, namespace, all)
  if not results.control.open then
    cannot("the probe in %s could not reach %s, which it must: it cannot tell open from closed", namespace, control.name)
  end
  local open = {}
  for _, target in ipairs(targets) do
    if results[target.id].open then
      open[#open + 1] = string.format("%s -> %s/%s (%s)", namespace, t, target.name, target.host)
    end
  end
  return open
end

-- 5. Nothing of the tenant's database or internal port opens from another tenant's namespace, nor from a namespace
-- without policies of its own (any other workload of the cluster).
function checks.cross_tenant(env, t)
  facts.tenant(env, t)
  local targets, apps = closed_targets(env, t)
  if #apps == 0 then cannot("tenant %s has no running app pod (the control target of the probe)", t) end
  local open, sources = {}, {}
  for _, other in ipairs(env.tenants) do
    if other ~= t then
      facts.tenant(env, other)
      local own_apps = pods_of(env, other, "app=" .. tenant.names(other).app)
      if #own_apps == 0 then cannot("tenant %s has no running app pod (the control target of its probe)", other) end
      local control = { id = "control", name = own_apps[1].metadata.name .. ":8080", host = own_apps[1].status.podIP, port = 8080 }
      for _, line in ipairs(probe_closed(env, other, t, targets, control)) do open[#open + 1] = line end
      sources[#sources + 1] = other
    end
  end
  local control = { id = "control", name = apps[1].metadata.name .. ":8080", host = apps[1].status.podIP, port = 8080 }
  for _, line in ipairs(probe_closed(env, env.neutral_namespace, t, targets, control)) do open[#open + 1] = line end
  sources[#sources + 1] = env.neutral_namespace
  if #open > 0 then
    table.insert(open, 1, string.format("%d connections into %s opened from outside it: %s", #open, t, open[1]))
    return FAIL, open
  end
  return PASS, string.format("from probe pods in %s: %d targets of %s refused (database 5432/8000, pg-%s-rw, internal "
    .. "9090), the control reached", table.concat(sources, ", "), #targets, t, t)
end

local function review(env, namespace, verb, resource, group)
  local user = string.format("system:serviceaccount:%s:%s", operators.OPS_NAMESPACE, operators.OPS_ACCOUNT)
  local answer, err = env.kc:create { apiVersion = "authorization.k8s.io/v1", kind = "SubjectAccessReview",
    spec = { user = user, groups = { "system:serviceaccounts", "system:serviceaccounts:" .. operators.OPS_NAMESPACE,
      "system:authenticated" },
      resourceAttributes = { namespace = namespace, verb = verb, resource = resource, group = group or "" } } }
  if not answer then cannot("SubjectAccessReview: %s", tostring(err)) end
  return answer.status and answer.status.allowed == true
end

-- 6. The ops client reaches the tenant's database from its pod, and ops-reader may read the tenant's pods and
-- Clusters but not its Secrets.
function checks.ops_access(env, t)
  facts.tenant(env, t)
  local clients = pods_of(env, operators.OPS_NAMESPACE, "app=psql-client")
  if #clients == 0 then cannot("no running psql-client pod in namespace %s (bootstrap-ops makes it)", operators.OPS_NAMESPACE) end
  local rw = env.kc:get("v1", "Service", tenant.names(t).rw_service, t)
  if not rw then cannot("Service %s/%s does not exist", t, tenant.names(t).rw_service) end
  local problems = {}
  local client = clients[1].metadata.name
  local r, err = facts.timed(env, "exec in psql-client", env.kc.exec, env.kc, operators.OPS_NAMESPACE, client,
    { "pg_isready", "-h", rw.spec.clusterIP, "-p", "5432", "-t", "5" }, { timeout = 20 })
  if not r then cannot("exec in %s/%s: %s", operators.OPS_NAMESPACE, client, tostring(err)) end
  if r.exit_code ~= 0 then
    problems[#problems + 1] = string.format("%s/%s: pg_isready -h %s (%s) exited %d: %s", operators.OPS_NAMESPACE,
      client, rw.spec.clusterIP, rw.metadata.name, r.exit_code, (r.stdout .. r.stderr):gsub("%s+$", ""))
  end
  for _, q in ipairs { { "get", "pods", "", true }, { "list", "clusters", "postgresql.cnpg.io", true },
    { "get", "secrets", "", false } } do
    if review(env, t, q[1], q[2], q[3]) ~= q[4] then
      problems[#problems + 1] = string.format("ops-reader %s %s %s in %s", q[4] and "may not" or "may", q[1], q[2], t)
    end
  end
  if #problems > 0 then return FAIL, problems end
  return PASS, string.format("%s/%s reaches %s:5432 (pg_isready); ops-reader may get pods and list clusters in %s, "
    .. "not get secrets", operators.OPS_NAMESPACE, client, rw.metadata.name, t)
end

local function list_keys(s3c, bucket, prefix, opts, limit)
  local found = {}
  local ok, err = pcall(function()
    for obj in s3c:list(bucket, { prefix = prefix, delimiter = opts and opts.delimiter }) do
      found[#found + 1] = obj
      if limit and #found >= limit then break end
    end
  end)
  if not ok then cannot("cannot list s3://%s/%s: %s", bucket, prefix, tostring(err)) end
  return found
end

-- 7. In the bucket: a base backup with backup.info, its data and its WAL range, and archived WAL segments.
function checks.backups_in_store(env, t)
  local store = facts.store(env, t)
  local s3c = facts.spaces(env)
  local where = string.format("s3://%s/%s/", store.bucket, store.folder)
  local ids = {}
  for _, obj in ipairs(list_keys(s3c, store.bucket, store.folder .. "/base/", { delimiter = "/" })) do
    local id = obj.prefix and obj.key:match("/base/([^/]+)/$")
    if id then ids[#ids + 1] = id end
  end
  table.sort(ids)
  local wal = backup.last_archived_wal(s3c, store.bucket, store.folder)
  local problems = {}
  if not wal then problems[#problems + 1] = "no WAL segment under " .. where .. "wals/" end
  if #ids == 0 then problems[#problems + 1] = "no base backup under " .. where .. "base/" end
  local newest
  if #ids > 0 then
    local verified, err = backup.verify(s3c, store.bucket, store.folder, { backupId = ids[#ids] })
    if verified then newest = verified else problems[#problems + 1] = tostring(err) end
  end
  if #problems > 0 then return FAIL, problems end
  return PASS, string.format("%s: %d base backups, the newest %s (%d files, %d bytes, WAL %s to %s archived); newest "
    .. "WAL segment %s", where, #ids, newest.id, newest.files, newest.size, newest.begin_wal, newest.end_wal, wal.name)
end

local function recoverability_point(object_store, server)
  local windows = object_store and object_store.status and object_store.status.serverRecoveryWindow or {}
  return (windows[server] or {}).firstRecoverabilityPoint
end

-- The plugin lists a server's recovery window in its ObjectStore's status a little after a first Backup completes:
-- waited for (a watch) up to env.settle seconds, as a Cluster's readiness is.
local function wait_recoverability_point(env, store)
  local os_ = store.object_store
  local ref = { apiVersion = os_.apiVersion, kind = os_.kind,
    metadata = { name = os_.metadata.name, namespace = os_.metadata.namespace } }
  local seen = facts.timed(env, "recovery window", cnpg.wait_for, env.kc, ref, "given a recovery window",
    function(o) return recoverability_point(o, store.server) ~= nil end, env.settle or 60)
  return seen and recoverability_point(seen, store.server)
end

-- 8. Ready to recover: the Cluster healthy, WAL archiving working, a recovery window, the ScheduledBackup active, and
-- a Backup the API server accepts (a server-side dry run: nothing is stored).
function checks.dr_readiness(env, t)
  local f = facts.tenant(env, t)
  local store = facts.store(env, t)
  local problems = {}
  local cluster, err = facts.ready_cluster(env, t)
  if not cluster then
    cluster = f.cluster
    problems[#problems + 1] = tostring(err)
  end
  local status = cluster.status or {}
  local archiving = k8s.condition(cluster, "ContinuousArchiving")
  if not (archiving and archiving.status == "True") then
    problems[#problems + 1] = string.format("WAL archiving is not working: ContinuousArchiving %s%s",
      archiving and archiving.status or "absent", archiving and archiving.message and (" (" .. archiving.message .. ")") or "")
  end
  local first = recoverability_point(store.object_store, store.server) or status.firstRecoverabilityPoint
  if not first then first = wait_recoverability_point(env, store) end
  if not first then problems[#problems + 1] = "no recovery window: no base backup is listed for " .. store.server end
  local scheduled = env.kc:list_all(CNPG, "ScheduledBackup", t) or {}
  local active
  for _, sb in ipairs(scheduled) do
    if sb.spec.cluster and sb.spec.cluster.name == f.names.cluster and not sb.spec.suspend then active = sb end
  end
  if not active then problems[#problems + 1] = "no active ScheduledBackup of " .. f.names.cluster end
  local trial = tenant.backup(t, { name = f.names.cluster .. "-grade-" .. env.run_id })
  local accepted, berr = env.kc:create(trial, { dry_run = true })
  if not accepted then problems[#problems + 1] = "a Backup would be refused: " .. tostring(berr) end
  if #problems > 0 then return FAIL, problems end
  return PASS, string.format("Cluster Ready, archiving working, recoverable from %s, ScheduledBackup %s (%s), a Backup "
    .. "accepted (dry run)", first, active.metadata.name, active.spec.schedule)
end

-- 11. The static isolation proof over the live objects (fetched once for every tenant).
function checks.isolation_proof(env, t)
  facts.tenant(env, t)
  local world = facts.once(env, "world", function()
    local function all(api, kind)
      local list, err = env.kc:list_all(api, kind)
      if not list then cannot("cannot list %s: %s", kind, tostring(err)) end
      return list
    end
    return { namespaces = all("v1", "Namespace"), pods = isolation.live_pods(all("v1", "Pod")),
      policies = all("networking.k8s.io/v1", "NetworkPolicy") }
  end)
  local verdict, lines = isolation.prove(world, t, env.tenants)
  if verdict == "error" then cannot("%s", lines[1]) end
  return verdict == "pass" and PASS or FAIL, lines
end

-- 12. ops-reader read-only, by SubjectAccessReviews in the tenant's namespace (a RoleBinding there counts).
function checks.ops_read_only(env, t)
  facts.tenant(env, t)
  local ok, proof = pcall(operators.prove_read_only, env.kc, t)
  if ok then
    return PASS, string.format("%d SubjectAccessReviews for %s in %s: every write, Secrets, pods/exec and "
      .. "pods/portforward denied; reads allowed", proof.asked, proof.user, t)
  end
  if alaris.is_error(proof) and proof.code == "failed" then return FAIL, proof.message end
  error(proof, 0)
end

local function age_text(seconds)
  if seconds >= 3600 then return string.format("%.1f h", seconds / 3600) end
  if seconds >= 60 then return string.format("%.1f min", seconds / 60) end
  return string.format("%.0f s", seconds)
end

-- The primary's archive_timeout, WAL segment size and the segment it is writing.
local function wal_position(env, t)
  local db <close>, why = facts.connect(env, t)
  if not db then cannot("%s", why) end
  local rows, err = db:query("select pg_walfile_name(pg_current_wal_lsn()) as current, "
    .. "(select setting::int from pg_settings where name = 'archive_timeout') as archive_timeout, "
    .. "(select setting::bigint from pg_settings where name = 'wal_segment_size') as segment_size")
  if not rows then cannot("reading the primary's WAL position: %s", tostring(err)) end
  return rows[1]
end

local function segment_index(name, segment_size)
  local tli, log, seg = backup.parse_segment(name)
  if not tli then return nil end
  return tli, log * ((1 << 32) // segment_size) + seg
end

-- 13. A completed Backup within max_backup_age, and WAL archived within archive_timeout + margin, unless the primary
-- has written nothing since (an idle database has nothing to archive).
function checks.backups_fresh(env, t)
  local f = facts.tenant(env, t)
  local now = alaris.time()
  local problems, lines = {}, {}
  local latest, err = backup.latest(env.kc, t)
  if err then cannot("cannot list the Backups of %s: %s", t, tostring(err)) end
  local stopped = latest and latest.status.stoppedAt and require("alaris.k8s.auth").parse_rfc3339(latest.status.stoppedAt)
  if not latest then
    problems[#problems + 1] = "no completed Backup of " .. f.names.cluster
  elseif not stopped or now - stopped > env.max_backup_age then
    problems[#problems + 1] = string.format("the newest completed Backup %s finished %s ago (limit %s)",
      latest.metadata.name, stopped and age_text(now - stopped) or "at an unknown time", age_text(env.max_backup_age))
  else
    lines[#lines + 1] = string.format("Backup %s completed %s ago", latest.metadata.name, age_text(now - stopped))
  end
  local store = facts.store(env, t)
  local wal, werr = backup.last_archived_wal(facts.spaces(env), store.bucket, store.folder)
  if werr then cannot("cannot list the WAL of %s: %s", t, tostring(werr)) end
  local pos = wal_position(env, t)
  local limit = pos.archive_timeout + env.wal_margin
  if not wal then
    problems[#problems + 1] = string.format("no WAL archived under s3://%s/%s/wals/", store.bucket, store.folder)
  elseif wal.time and now - wal.time <= limit then
    lines[#lines + 1] = string.format("WAL %s archived %s ago (limit %s)", wal.name, age_text(now - wal.time), age_text(limit))
  else
    local _, archived = segment_index(wal.name, pos.segment_size)
    local _, current = segment_index(pos.current, pos.segment_size)
    if archived and current and current <= archived + 1 then
      lines[#lines + 1] = string.format("WAL %s archived %s ago; the primary has written nothing to archive since "
        .. "(at %s)", wal.name, wal.time and age_text(now - wal.time) or "?", pos.current)
    else
      problems[#problems + 1] = string.format("the newest archived WAL %s is %s old (limit archive_timeout %ds + %ds) "
        .. "while the primary writes %s", wal.name, wal.time and age_text(now - wal.time) or "of unknown age",
        pos.archive_timeout, env.wal_margin, pos.current)
    end
  end
  if #problems > 0 then return FAIL, problems end
  return PASS, table.concat(lines, "; ")
end

return checks
