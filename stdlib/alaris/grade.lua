-- alaris.grade: the grading run CI executes (playbooks/grade.lua): the ten checks of the seed's grading script done
-- right, the static isolation proof, ops RBAC proven read-only and backup freshness, for each tenant named. Every
-- result is PASS, FAIL or ERROR (a check that could not run is never a pass); SKIP only for what the user
-- deselected. Independent checks run concurrently through alaris.check, which also writes the reports. What each
-- check looks at is in alaris.grade.checks and alaris.grade.drill; this file is the list, the command line and the
-- clean-up of what the probes and drills left.
local alaris = require "alaris"
local check = require "alaris.check"
local checks = require "alaris.grade.checks"
local crypto = require "alaris.crypto"
local drill = require "alaris.grade.drill"
local k8s = require "alaris.k8s"
local log = require "alaris.log"
local probe = require "alaris.grade.probe"
local tenant = require "alaris.tenant"
local vars = require "alaris.vars"

local grade = {}

-- name, function, description, per tenant; the order is the report's.
grade.CHECKS = {
  { "db-smoke", checks.db_smoke, "SELECT 1 as the app user on pg-T-rw" },
  { "public-endpoint", checks.public_endpoint, "GET /public through the load balancer answers the tenant's JSON" },
  { "internal-not-public", checks.internal_not_public, "the internal port and path are not reachable through the LB" },
  { "internal-from-inside", checks.internal_from_inside, "GET /internal answers from a pod in the namespace" },
  { "cross-tenant", checks.cross_tenant, "other tenants and other namespaces cannot open the database or 9090" },
  { "ops-access", checks.ops_access, "the ops client reaches the database; ops-reader reads but not Secrets" },
  { "backups-in-store", checks.backups_in_store, "a base backup with its WAL, and archived WAL, in the bucket" },
  { "dr-readiness", checks.dr_readiness, "Cluster Ready, archiving, recovery window, ScheduledBackup, Backup accepted" },
  { "dr-drill", drill.dr, "the newest backup and WAL restored into a new Cluster hold the latest row", drill = true },
  { "pitr", drill.pitr, "restored to a time between two commits, exactly the earlier row is there", drill = true },
  { "isolation-proof", checks.isolation_proof, "the allowed-flow matrix of the live NetworkPolicies, cell by cell" },
  { "ops-read-only", checks.ops_read_only, "ops-reader read-only, by SubjectAccessReviews" },
  { "backups-fresh", checks.backups_fresh, "a Backup within 13 h, WAL within archive_timeout + margin" },
}

-- Checks that must not see what the drills write (their Backup, their WAL) run before them.
local BEFORE_DRILLS = { "backups-fresh", "backups-in-store", "dr-readiness" }

grade.VARS = {
  tenants = { required = true, description = "the tenants to grade: a,b,c" },
  only = { description = "run only these checks, tenants or check/tenant (comma-separated)" },
  skip = { description = "deselect these checks, tenants or check/tenant (reported SKIP)" },
  timeout = { type = "integer", default = 180, description = "seconds each check may take (the drills: 3 x drill_timeout)" },
  drill_timeout = { type = "integer", default = 600, description = "seconds for the WAL to be archived, a restore Ready" },
  max_backup_age = { type = "number", default = 13, description = "hours since the newest completed Backup" },
  wal_margin = { type = "integer", default = 120, description = "seconds allowed beyond archive_timeout for the newest WAL" },
  concurrency = { type = "integer", default = 0, description = "checks run at once (0: all)" },
  settle = { type = "integer", default = 60, description = "seconds a Cluster not Ready is waited for (a watch) before "
    .. "it counts as not Ready" },
  probe_image = { default = probe.DEFAULT_IMAGE, pattern = "^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$",
    description = "the probe pods' image (sh and curl)" },
  neutral_namespace = { default = "default", description = "a namespace without policies of its own, where probes stand "
    .. "for any other workload of the cluster" },
}

local USAGE = [[
grade — grade tenants: smoke, endpoints, isolation (probes and a static proof), ops access, backups, DR and PITR

usage: alaris-run playbooks/grade.lua tenants=a,b [NAME=VALUE ...] [--output text|json] [--junit FILE]

Each check is PASS, FAIL or ERROR (it could not run); SKIP only when deselected with skip= or only=.
Exit 0 only when every selected check passed; 1 otherwise; 2 for bad input.
With GITHUB_ACTIONS=true, failures and errors are also written as GitHub Actions annotations.

checks (per tenant):
%s
vars:
%s]]

local function usage_error(fmt, ...)
  error(alaris.error("usage", string.format(fmt, ...), { usage = true }), 0)
end

local function help_text()
  local lines, names = {}, {}
  for i, c in ipairs(grade.CHECKS) do lines[#lines + 1] = string.format("  %2d. %-22s %s", i, c[1], c[3]) end
  for name in pairs(grade.VARS) do names[#names + 1] = name end
  table.sort(names)
  local var_lines = {}
  for _, name in ipairs(names) do
    local d = grade.VARS[name]
    var_lines[#var_lines + 1] = string.format("  %-18s %s%s", name, d.description,
      d.default ~= nil and (" (default " .. tostring(d.default) .. ")") or "")
  end
  return string.format(USAGE, table.concat(lines, "\n") .. "\n", table.concat(var_lines, "\n") .. "\n")
end

local function words(text)
  local list = {}
  for w in tostring(text or ""):gmatch("[^,%s]+") do list[#list + 1] = w end
  return list
end

-- The tenants named, each a valid tenant name, none twice.
function grade.tenant_list(text)
  local list, seen = {}, {}
  for name in (tostring(text) .. ","):gmatch("([^,]*),") do
    local ok, err = tenant.validate_name(name)
    if not ok then usage_error("tenants: %s", err.message) end
    if seen[name] then usage_error("tenants: %q is listed twice", name) end
    seen[name], list[#list + 1] = true, name
  end
  return list
end

-- alaris-run's own options that take a value: before FILE it has checked them, and they are not grade's business.
local RUNNER_VALUED = { ["--var-file"] = true, ["--only"] = true, ["--from"] = true, ["--tags"] = true,
  ["--journal"] = true }

-- Options and NAME=VALUE pairs from the script's arguments (alaris-run leaves those before FILE in arg[-n]; of them
-- grade reads --output and --junit and passes over the runner's others).
function grade.parse_args(argv)
  local given, opts = {}, { output = "text" }
  local first = 0
  while argv[first - 1] ~= nil do first = first - 1 end
  local i = first + 1 -- arg[first] is alaris-run itself, arg[0] the script
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if i == 0 then -- the script
    elseif name == "--output" or name == "--junit" then
      if not value then i = i + 1; value = argv[i] end
      if value == nil then usage_error("option %s needs a value", name) end
      opts[name:sub(3)] = value
    elseif i < 0 and RUNNER_VALUED[name] then
      if not value then i = i + 1 end
    elseif name == "--help" or name == "-h" then
      opts.help = true
    elseif a:sub(1, 1) == "-" and (i < 0 or name:match("^%-[vq]$") or name == "--verbose" or name == "--quiet") then
      opts.runner_flag = name -- checked by alaris-run before FILE; -v/-q after it change nothing here
    elseif a:sub(1, 1) == "-" then
      usage_error("unknown option %s (grade takes --output text|json, --junit FILE, --help)", a)
    else
      local k, v = a:match("^([%a_][%w_]*)=(.*)$")
      if not k then usage_error("unexpected argument %q: vars are given as NAME=VALUE", a) end
      given[k] = v
    end
    i = i + 1
  end
  if opts.output ~= "text" and opts.output ~= "json" then usage_error("--output must be text or json, not %q", opts.output) end
  return given, opts
end

-- The check list for the tenants, bound to env.
function grade.definitions(env)
  local defs = {}
  for _, c in ipairs(grade.CHECKS) do
    local name, fn = c[1], c[2]
    for _, t in ipairs(env.tenants) do
      defs[#defs + 1] = { name = name, tenant = t, description = c[3],
        timeout = c.drill and env.drill_timeout * 3 or env.timeout, after = c.drill and BEFORE_DRILLS or nil,
        fn = function() return fn(env, t) end }
    end
  end
  return defs
end

-- Removes what this run left: probe Pods, restored Clusters and their NetworkPolicies (all labelled with its id).
-- An API that does not answer ends the sweep at once (nothing could be deleted either) with a warning.
function grade.sweep(env)
  local selector = probe.RUN_LABEL .. "=" .. env.run_id
  local kinds = { { "v1", "Pod" }, { "postgresql.cnpg.io/v1", "Cluster" }, { "networking.k8s.io/v1", "NetworkPolicy" } }
  local namespaces = { env.neutral_namespace }
  for _, t in ipairs(env.tenants) do namespaces[#namespaces + 1] = t end
  for _, ns in ipairs(namespaces) do
    for _, kind in ipairs(kinds) do
      local list, err = env.kc:list_all(kind[1], kind[2], ns, { label_selector = selector })
      if not list and err.code ~= "not_found" then
        log.warn(string.format("grade could not look for what it left (label %s): %s", selector, tostring(err)))
        return
      end
      for _, obj in ipairs(list or {}) do env.kc:delete(obj, { grace_period = kind[2] == "Pod" and 0 or nil }) end
    end
  end
end

-- The run's settings from the vars.
function grade.environment(values)
  local run_id = crypto.random_bytes(3):gsub(".", function(c) return string.format("%02x", c:byte()) end)
  return { tenants = grade.tenant_list(values.tenants), run_id = run_id, timeout = values.timeout,
    drill_timeout = values.drill_timeout, max_backup_age = values.max_backup_age * 3600, wal_margin = values.wal_margin,
    probe_image = values.probe_image, probe_timeout = math.min(values.timeout, 90),
    neutral_namespace = values.neutral_namespace, settle = values.settle }
end

local function progress(result)
  io.stderr:write(string.format("%-5s %s%s (%.1fs)\n", result.status, result.name,
    result.tenant and (" " .. result.tenant) or "", result.duration or 0))
end

-- Runs the checks the vars select (opts.on_result, opts.kc); returns the results and the run's env. Bad input raises
-- a usage error before the cluster is asked anything.
function grade.run_checks(values, opts)
  opts = opts or {}
  local env = grade.environment(values)
  local defs = grade.definitions(env)
  local run_opts = { only = words(values.only), skip = words(values.skip),
    concurrency = values.concurrency > 0 and values.concurrency or nil, on_result = opts.on_result }
  check.select(defs, run_opts) -- a typo in only= or skip= is bad input before anything runs
  local kc, kerr = opts.kc, nil
  if not kc then kc, kerr = k8s.client() end
  if not kc then usage_error("no Kubernetes API: %s", tostring(kerr)) end
  env.kc = kc
  local ok, results = pcall(check.run, defs, run_opts)
  pcall(grade.sweep, env)
  if not ok then error(results, 0) end
  return results, env
end

local function run(argv)
  local given, opts = grade.parse_args(argv)
  if opts.help then io.stdout:write(help_text()); return 0 end
  local values, err = vars.resolve(grade.VARS, given)
  if not values then usage_error("%s", err) end
  local results = grade.run_checks(values,
    { on_result = alaris.isatty(2) and opts.output == "text" and progress or nil })
  return check.report(results, { format = opts.output, junit = opts.junit, suite_name = "grade" })
end

-- The script's entry point: the exit code (2 with one line on stderr for bad input).
function grade.main(argv)
  local ok, code = pcall(run, argv)
  if ok then return code end
  local err = code
  io.stderr:write("alaris-run: grade: ", alaris.mask(tostring(alaris.is_error(err) and err.message or err)):match("^[^\n]*"),
    "\n")
  return (type(err) == "table" and err.usage) and 2 or 1
end

return grade
