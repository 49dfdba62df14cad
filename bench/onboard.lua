-- Benchmark: onboarding tenants with playbooks/onboard.lua on a lab of its own in readiness-only mode
-- (`lab up --no-workloads`: no pod runs; the lab's fake kubelet and fake cloud write the statuses the waits look
-- for, so what is measured is the client, its requests and its waits, not what a database does):
--   a. one tenant with 20 ms added to every API request (the lab's admin endpoint, PUT /latency): alaris
--      (`onboard.lua tenant=T smoke=no`) against the seed system's way on the same lab: one `kubectl apply -f` per
--      manifest of the seed's manifests folder, with the {{...}} markers substituted, then `kubectl wait` on the
--      conditions alaris waits for (Cluster Ready, Deployment Available, a load-balancer address). The folder is
--      read where it is, from SEED_MANIFESTS=DIR (or the first argument); without it, part a is skipped;
--   b. 1, 10 and 50 tenants (`tenants=...` with `concurrency=` the number of tenants) with no added latency.
-- It prints wall time, processes and API requests (the admin endpoint's request log, cleared before each run) per
-- run, then the ratios the targets are about: the seed's way / alaris (target >= 5x), wall(10)/wall(1) and
-- wall(50)/wall(1) (target <= 3x), with the load average. Run by hand, from the repository's root:
--     SEED_MANIFESTS=DIR build/alaris-run bench/onboard.lua
-- It starts its lab under a new temporary folder and stops it at the end, also after an error. Nothing is asserted
-- about time. Credentials stay in the lab's 0600 env file and kubeconfig, sourced by each child's shell: none is on
-- a command line, and the seed's Secrets get random stand-ins (the seed piped real ones through sed).
local alaris = require "alaris"
local crypto = require "alaris.crypto"
local http = require "alaris.http"
local json = require "alaris.json"
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local support = require "support"
local fail, must, sh_quote = support.fail, support.must, support.sh_quote
local read_file, write_file = support.read_file, support.write_file

local APP_IMAGE = "registry.example/alaris/tenant-app:1"
local LATENCY_MS = 20
local SCALES = { 1, 10, 50 }
local WAIT_TIMEOUT = 600
-- The seed's manifests, the namespace first and the objects that others name before them.
local SEED_FILES = { "namespace.yaml", "secrets.yaml", "database.yaml", "application.yaml", "services.yaml",
  "network-policies.yaml" }

local function capture(command)
  local p = must(io.popen(command))
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end

local function absolute(path)
  return capture("realpath " .. sh_quote(path))
end

local function load_average()
  return (read_file("/proc/loadavg") or "? ? ?"):match("^(%S+ %S+ %S+)")
end

-- The lab ------------------------------------------------------------------------------------------------------------

-- The value of `export NAME='...'` in the lab's env file (written by lab/lib/daemon.js, single-quoted).
local function env_value(text, name)
  local quoted = text:match("\nexport " .. name .. "=('[^\n]*')") or text:match("^export " .. name .. "=('[^\n]*')")
  if not quoted then fail("the lab's env file has no %s", name) end
  return (quoted:sub(2, -2):gsub("'\\''", "'"))
end

local function start_lab(ctx)
  local owner = capture("echo $PPID") -- this process: the lab stops by itself if the bench dies
  local ok = os.execute(string.format("%s up --dir %s --no-workloads --owner-pid %s >%s 2>&1", sh_quote(ctx.lab_bin),
    sh_quote(ctx.lab_dir), owner, sh_quote(ctx.dir .. "/lab-up.log")))
  if not ok then fail("lab up failed: %s", read_file(ctx.dir .. "/lab-up.log") or "") end
  local env = must(read_file(ctx.lab_dir .. "/env"), "lab up wrote no env file")
  ctx.admin_url, ctx.admin_token = env_value(env, "LAB_ADMIN_URL"), env_value(env, "LAB_ADMIN_TOKEN")
  alaris.secret(ctx.admin_token)
  ctx.lab_pid = must(json.decode(must(read_file(ctx.lab_dir .. "/state.json"), "lab up wrote no state.json")).pid)
  ctx.clock_ticks = tonumber(capture("getconf CLK_TCK"))
end

local function stop_lab(ctx)
  os.execute(string.format("%s down --dir %s >/dev/null 2>&1", sh_quote(ctx.lab_bin), sh_quote(ctx.lab_dir)))
end

local function admin(ctx, method, path, body)
  local resp = must(http.request { method = method, url = ctx.admin_url .. path, timeout = 30,
    headers = { Authorization = "Bearer " .. ctx.admin_token, ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  if resp.status >= 300 then fail("lab admin %s %s: %d %s", method, path, resp.status, resp.body) end
  return resp.body ~= "" and json.decode(resp.body) or nil
end

-- A shell command run in the bench's folder with the lab's environment (KUBECONFIG, DIGITALOCEAN_*, SPACES_*).
local function in_lab(ctx, command)
  return string.format("cd %s && . %s && %s", sh_quote(ctx.dir), sh_quote(ctx.lab_dir .. "/env"), command)
end

-- Runs a command, timed from here, with its output in LOG; stops the bench with the output's tail if it fails.
-- Returns {seconds, cpu}: cpu is the user + system time of the command and every process it waited for.
local function timed(ctx, command, log)
  local times = log .. ".time"
  local started = alaris.now()
  local ok = os.execute(string.format("/usr/bin/time -f '%%U %%S' -o %s sh -c %s >%s 2>&1", sh_quote(times),
    sh_quote(in_lab(ctx, command)), sh_quote(log)))
  local seconds = alaris.now() - started
  if not ok then fail("failed: %s\n%s", command:sub(1, 300), (read_file(log) or ""):sub(-2000)) end
  local user, sys = (read_file(times) or ""):match("([%d.]+) ([%d.]+)%s*$")
  return { seconds = seconds, cpu = tonumber(user or 0) + tonumber(sys or 0) }
end

-- The CPU seconds the lab's daemon (the API servers, the fake kubelet and cloud) has used so far.
local function lab_cpu(ctx)
  local stat = must(read_file("/proc/" .. ctx.lab_pid .. "/stat"), "the lab's daemon is gone")
  local fields = {}
  for f in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = f end
  -- after the command name: state is field 3 of the line, utime..cstime are fields 14..17
  return (tonumber(fields[12]) + tonumber(fields[13]) + tonumber(fields[14]) + tonumber(fields[15])) / ctx.clock_ticks
end

-- One run: the request log cleared before, counted after, and the lab's CPU time over it.
local function measure(ctx, run)
  admin(ctx, "DELETE", "/requests")
  local cpu_before = lab_cpu(ctx)
  local m = run()
  m.lab_cpu = lab_cpu(ctx) - cpu_before
  m.requests = admin(ctx, "GET", "/requests").count
  return m
end

local function kubectl(ctx)
  return "kubectl --cache-dir " .. sh_quote(ctx.dir .. "/kube-cache")
end

-- The tenants' namespaces deleted, and waited for, between runs (not timed).
local function delete_tenants(ctx, names)
  timed(ctx, kubectl(ctx) .. " delete namespace --wait=true --timeout=300s " .. table.concat(names, " "),
    ctx.dir .. "/delete.log")
end

-- alaris --------------------------------------------------------------------------------------------------------------

local function onboard(ctx, vars, log)
  return timed(ctx, string.format("%s %s %s smoke=no app_image=%s wait_timeout=%d", sh_quote(ctx.alaris_run),
    sh_quote(ctx.repo .. "/playbooks/onboard.lua"), vars, APP_IMAGE, WAIT_TIMEOUT), log)
end

local function tenant_names(prefix, n)
  local names = {}
  for i = 1, n do names[i] = string.format("%s-%03d", prefix, i) end
  return names
end

-- The seed's way ------------------------------------------------------------------------------------------------------

-- What the seed's scripts put in place of its {{...}} markers; the Secrets' values are random stand-ins.
local function seed_markers(tenant, endpoint)
  local b64 = crypto.base64_encode
  return { TENANT_NAME = tenant, DO_SPACES_BUCKET = "alaris-" .. tenant .. "-backups", DO_SPACES_ENDPOINT = endpoint,
    DO_SPACES_ACCESS_KEY = b64(crypto.password(20)), DO_SPACES_SECRET_KEY = b64(crypto.password(40)),
    DB_SUPERUSER_USERNAME = b64("postgres"), DB_SUPERUSER_PASSWORD = b64(crypto.password(32)),
    DB_USERNAME = b64("app"), DB_PASSWORD = b64(crypto.password(32)) }
end

-- The seed's manifests with the markers substituted, one file each under the bench's 0700 folder.
local function seed_manifests(ctx, tenant)
  local markers = seed_markers(tenant, ctx.spaces_host)
  local files = {}
  for i, name in ipairs(SEED_FILES) do
    local text = must(read_file(ctx.seed_dir .. "/" .. name), "cannot read " .. ctx.seed_dir .. "/" .. name)
    text = text:gsub("{{([%w_]+)}}", function(key)
      return markers[key] or fail("%s: unknown marker {{%s}}", name, key)
    end)
    files[i] = string.format("%s/seed-%s-%s", ctx.dir, tenant, name)
    write_file(files[i], text)
  end
  return files
end

local function seed_command(ctx, tenant, files)
  local lines = {}
  for _, f in ipairs(files) do lines[#lines + 1] = kubectl(ctx) .. " apply --validate=false -f " .. sh_quote(f) end
  local wait = string.format("%s -n %s wait --timeout=%ds ", kubectl(ctx), tenant, WAIT_TIMEOUT)
  lines[#lines + 1] = wait .. "--for=condition=Ready cluster.postgresql.cnpg.io/pg-" .. tenant
  lines[#lines + 1] = wait .. "--for=condition=Available deployment/" .. tenant .. "-app"
  lines[#lines + 1] = wait .. "--for=jsonpath='{.status.loadBalancer.ingress[0].ip}' service/" .. tenant .. "-public"
  return table.concat(lines, " && "), #lines
end

-- kubectl's discovery cache filled before the timed run, as on an SRE's machine.
local function warm_kubectl(ctx)
  timed(ctx, kubectl(ctx) .. " api-resources", ctx.dir .. "/warm.log")
end

-- Output -------------------------------------------------------------------------------------------------------------

local ROW = "  %-4s %-52s %7s %7s %5s %8s %11s %9s %8s %10s\n"

local function row(part, name, latency, tenants, procs, m)
  io.stdout:write(string.format(ROW, part, name, latency .. " ms", tenants, procs, string.format("%.2f", m.seconds),
    string.format("%.2f", m.cpu), string.format("%.2f", m.lab_cpu), m.requests,
    string.format("%.1f", m.requests / tenants)))
  io.stdout:flush()
end

-- The parts ----------------------------------------------------------------------------------------------------------

local function part_a(ctx)
  if not ctx.seed_dir then
    io.stdout:write("  a    skipped: give the seed's manifests folder as SEED_MANIFESTS=DIR (or the first argument)\n")
    return nil
  end
  admin(ctx, "PUT", "/latency", { ms = LATENCY_MS })
  warm_kubectl(ctx)
  local seed, procs = seed_command(ctx, "bench-seed", seed_manifests(ctx, "bench-seed"))
  local s = measure(ctx, function() return timed(ctx, seed, ctx.dir .. "/seed.log") end)
  row("a", "seed's way: kubectl apply -f per manifest, kubectl wait", LATENCY_MS, 1, procs, s)
  local a = measure(ctx, function() return onboard(ctx, "tenant=bench-alaris", ctx.dir .. "/alaris-a.log") end)
  row("a", "alaris onboard.lua tenant=T", LATENCY_MS, 1, 1, a)
  admin(ctx, "PUT", "/latency", { ms = 0 })
  delete_tenants(ctx, { "bench-seed", "bench-alaris" })
  return s.seconds / a.seconds
end

local function part_b(ctx)
  local walls = {}
  for _, n in ipairs(SCALES) do
    local names = tenant_names("bench-b" .. n, n)
    local vars = string.format("tenants=%s concurrency=%d", table.concat(names, ","), n)
    local m = measure(ctx, function() return onboard(ctx, vars, string.format("%s/alaris-b%d.log", ctx.dir, n)) end)
    row("b", string.format("alaris onboard.lua tenants=(%d) concurrency=%d", n, n), 0, n, 1 + n, m)
    walls[n] = m.seconds
    delete_tenants(ctx, names)
  end
  return walls
end

local function report(ctx, seed_ratio, walls, load_before)
  io.stdout:write("  procs: processes started (alaris: one run, plus one child run per tenant with tenants=); " ..
    "client cpu: user + system time of those processes; lab cpu: the lab daemon's over the run; requests: the lab's " ..
    "request log (Kubernetes, DigitalOcean and Spaces)\n")
  if seed_ratio then
    io.stdout:write(string.format("the seed's way took %.1fx alaris's time for one tenant at +%d ms per request " ..
      "(target: >= 5x)\n", seed_ratio, LATENCY_MS))
  end
  io.stdout:write(string.format("wall(10)/wall(1) = %.1fx, wall(50)/wall(1) = %.1fx (target: wall(50) <= 3x wall(1))\n",
    walls[10] / walls[1], walls[50] / walls[1]))
  io.stdout:write(string.format("load average %s at the start, %s at the end (%s)\n", load_before, load_average(),
    capture("nproc") .. " cores"))
end

local function bench(ctx)
  local load_before = load_average()
  io.stdout:write(string.format("onboarding on a lab in readiness-only mode (lab up --no-workloads), %s\n",
    os.date("!%Y-%m-%d %H:%M UTC")))
  start_lab(ctx)
  timed(ctx, sh_quote(ctx.alaris_run) .. " " .. sh_quote(ctx.repo .. "/playbooks/operators.lua"),
    ctx.dir .. "/operators.log")
  io.stdout:write(string.format(ROW, "part", "run", "latency", "tenants", "procs", "wall s", "client cpu s",
    "lab cpu s", "requests", "req/tenant"))
  local seed_ratio = part_a(ctx)
  report(ctx, seed_ratio, part_b(ctx), load_before)
end

-- The seed's manifests folder from the argument or SEED_MANIFESTS, nil when neither is given; exit 2 when it is not
-- a folder holding the seed's manifests.
local function seed_folder(given)
  local seed = given or os.getenv("SEED_MANIFESTS")
  if not seed or seed == "" then return nil end
  if not read_file(seed .. "/" .. SEED_FILES[1]) then
    io.stderr:write(string.format("onboard bench: %s has no %s: give the seed's manifests folder\n", seed,
      SEED_FILES[1]))
    os.exit(2)
  end
  return absolute(seed)
end

local function main(seed_arg)
  local here = arg[0]:match("^(.*)/") or "."
  local ctx = { repo = absolute(here .. "/.."), alaris_run = absolute(support.alaris_run_path()),
    seed_dir = seed_folder(seed_arg), dir = capture("mktemp -d -t alaris-bench-onboard.XXXXXX") }
  ctx.lab_bin, ctx.lab_dir = ctx.repo .. "/lab/bin/lab", ctx.dir .. "/lab"
  ctx.spaces_host = "nyc3.digitaloceanspaces.com" -- the seed's endpoint marker: a host name, used by no request here
  local ok, err = pcall(bench, ctx)
  stop_lab(ctx)
  if ok then
    os.execute("rm -rf " .. sh_quote(ctx.dir))
  else
    io.stderr:write("onboard bench: ", tostring(err), "\n(its folder, with the runs' logs, is kept: ", ctx.dir, ")\n")
    os.exit(1)
  end
end

main(arg[1])
