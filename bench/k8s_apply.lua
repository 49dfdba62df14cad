-- Benchmark: onboard N tenants (a Namespace, 2 Secrets and a ConfigMap each: 4 objects per tenant) with server-side
-- apply in four ways, in the same run against the same API server, and print wall time, CPU time and requests:
--   1. kubectl the bash way: one `kubectl apply --server-side -f -` per object, in a bash loop;
--   2. kubectl at its best: one `kubectl apply --server-side -f FILE` with every object in one multi-document file,
--      and once more with --validate=false, since kubectl's default validation decodes the OpenAPI v3 document
--      again for every object (kubernetes/kubernetes#127095), which dominates its CPU time;
--   3. alaris sequential: kc:apply(m) for each object, one after the other, in one task;
--   4. alaris concurrent: playbook.for_each(tenants, {concurrency = 10}, ...) applying each tenant's objects in turn,
--      and the same for one tenant only, to compare "N tenants" with "one".
-- Ratios are each run's seconds over run 4's. Run by hand, not by `make test`, against the lab:
--     lab/bin/lab up --dir DIR && . DIR/env
--     build/alaris-run bench/k8s_apply.lua [N [LATENCIES [REPEATS]]]          (defaults: 20 0,20 3)
-- LATENCIES are milliseconds the lab adds to every Kubernetes request (admin endpoint PUT /latency, target k8s); the
-- setting found at the start is put back at the end. Without LAB_ADMIN_URL (another cluster) only the server's own
-- latency is measured and requests are not counted. Each run is repeated REPEATS times, interleaved with the
-- others, and the medians are shown.
-- Each run is its own process(es), started cold as an SRE would start it: alaris does its discovery in every run;
-- kubectl gets a discovery and OpenAPI cache warmed before the first timed run. Wall time is taken around the
-- process(es); kubectl's CPU is the user+system time of bash and every kubectl it waited for (/usr/bin/time),
-- alaris's is its own os.clock() at exit (with a bearer-token kubeconfig it starts no child process). Not measured:
-- the API server's CPU. Every run applies new names; its objects are counted afterwards and its namespaces deleted
-- before the next run (neither is timed). kubectl reads its credentials from KUBECONFIG: no token is on a command line.
local alaris = require "alaris"
local crypto = require "alaris.crypto"
local http = require "alaris.http"
local json = require "alaris.json"
local k8s = require "alaris.k8s"
local playbook = require "alaris.playbook"
local yaml = require "alaris.yaml"
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local support = require "support"
local fail, must, sh_quote, read_file, write_file = support.fail, support.must, support.sh_quote,
  support.read_file, support.write_file
local alaris_run_path = support.alaris_run_path

local CONCURRENCY = 10
local OBJECTS_PER_TENANT = 4

-- The objects -----------------------------------------------------------------------------------------------------

local function tenant_objects(ns, label)
  local labels = { ["alaris-bench"] = label, tenant = ns }
  local function meta(name) return { name = name, namespace = ns, labels = labels } end
  return {
    { apiVersion = "v1", kind = "Namespace", metadata = { name = ns, labels = labels } },
    { apiVersion = "v1", kind = "Secret", metadata = meta("spaces-credentials"), type = "Opaque",
      data = { ACCESS_KEY_ID = crypto.base64_encode(crypto.password(20)),
        SECRET_ACCESS_KEY = crypto.base64_encode(crypto.password(40)) } },
    { apiVersion = "v1", kind = "Secret", metadata = meta("pg-app-secret"), type = "kubernetes.io/basic-auth",
      data = { username = crypto.base64_encode("app"), password = crypto.base64_encode(crypto.password()) } },
    { apiVersion = "v1", kind = "ConfigMap", metadata = meta("tenant-settings"),
      data = { tenant = ns, mode = "prod", backup_schedule = "0 0 */12 * * *" } },
  }
end

-- Writes the run's objects as one file per object (objects/NNNNN.yaml, in apply order) and as one multi-document
-- file (all.yaml); returns the folder.
local function write_manifests(dir, label, tenants)
  local folder = dir .. "/" .. label
  must(os.execute("mkdir -p " .. sh_quote(folder .. "/objects")))
  local all = {}
  for i = 1, tenants do
    for _, m in ipairs(tenant_objects(string.format("%s-t%03d", label, i), label)) do
      all[#all + 1] = m
      write_file(string.format("%s/objects/%05d.yaml", folder, #all), yaml.encode(m))
    end
  end
  write_file(folder .. "/all.yaml", yaml.encode_all(all))
  return folder
end

-- Child mode: `k8s_apply.lua apply sequential|concurrent FILE` ------------------------------------------------------

local function tenants_of(manifests)
  local tenants, by_name = {}, {}
  for _, m in ipairs(manifests) do
    local ns = m.kind == "Namespace" and m.metadata.name or m.metadata.namespace
    if not by_name[ns] then
      by_name[ns] = {}
      tenants[#tenants + 1] = by_name[ns]
    end
    table.insert(by_name[ns], m)
  end
  return tenants
end

local function apply_each(kc, manifests)
  for _, m in ipairs(manifests) do must(kc:apply(m)) end
end

local function child_apply(mode, file)
  local manifests = must(yaml.decode_all(must(read_file(file), "cannot read " .. file)))
  local kc = must(k8s.client())
  if mode == "sequential" then
    apply_each(kc, manifests)
  elseif mode == "concurrent" then
    playbook.for_each(tenants_of(manifests), { concurrency = CONCURRENCY }, function(objects)
      apply_each(kc, objects)
    end)
  else
    fail("unknown mode %s", mode)
  end
  io.stdout:write(string.format("cpu %.3f\n", os.clock()))
end

-- The lab's admin endpoint ------------------------------------------------------------------------------------------

local function admin(method, path, body)
  local url, token = os.getenv("LAB_ADMIN_URL"), os.getenv("LAB_ADMIN_TOKEN")
  alaris.secret(token)
  local resp = must(http.request { method = method, url = url .. path, timeout = 30,
    headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  if resp.status >= 300 then fail("lab admin %s %s: %d %s", method, path, resp.status, resp.body) end
  return resp.body ~= "" and json.decode(resp.body) or nil
end

local function has_admin()
  return os.getenv("LAB_ADMIN_URL") ~= nil and os.getenv("LAB_ADMIN_TOKEN") ~= nil
end

local function set_k8s_latency(ms)
  admin("PUT", "/latency", { ms = ms == nil and json.null or ms, target = "k8s" })
end

-- Watches opened by the previous run's namespace deletion are logged when they end, which can be during this run:
-- they are not counted (no run here watches).
local function k8s_request_count()
  local n = 0
  for _, r in ipairs(admin("GET", "/requests?target=k8s").requests) do
    if not r.url:find("[?&]watch=") then n = n + 1 end
  end
  return n
end

-- The four runs ---------------------------------------------------------------------------------------------------

local KUBECTL_LOOP = [[for f in "$1"/objects/*.yaml; do
  kubectl --cache-dir "$2" apply --server-side -f - <"$f" >/dev/null || exit 1
done]]

local function kubectl_loop_command(folder, cache)
  return "bash -c " .. sh_quote(KUBECTL_LOOP) .. " bench " .. sh_quote(folder) .. " " .. sh_quote(cache)
end

local function kubectl_file_command(folder, cache, flags)
  return "kubectl --cache-dir " .. sh_quote(cache) .. " apply --server-side " .. flags .. "-f " ..
    sh_quote(folder .. "/all.yaml") .. " >/dev/null"
end

local function alaris_command(mode, folder)
  return sh_quote(alaris_run_path()) .. " " .. sh_quote(arg[0]) .. " apply " .. mode .. " " ..
    sh_quote(folder .. "/all.yaml") .. " >" .. sh_quote(folder .. "/alaris.out")
end

-- Runs a shell command, timing it from here; `cpu_of(folder)` reads the CPU seconds the command used.
local function timed(command, folder, cpu_of)
  local started = alaris.now()
  local ok = os.execute(command .. " 2>" .. sh_quote(folder .. "/stderr"))
  local seconds = alaris.now() - started
  if not ok then fail("run failed: %s\n%s", command, read_file(folder .. "/stderr") or "") end
  return { seconds = seconds, cpu = cpu_of(folder) }
end

local function time_file_cpu(folder)
  local user, sys = (read_file(folder .. "/time") or ""):match("([%d.]+) ([%d.]+)%s*$")
  if not user then fail("cannot read /usr/bin/time output in %s", folder) end
  return tonumber(user) + tonumber(sys)
end

local function alaris_cpu(folder)
  return tonumber(must((read_file(folder .. "/alaris.out") or ""):match("cpu ([%d.]+)"), "no cpu line from alaris"))
end

local function under_time(folder, command)
  return "/usr/bin/time -f '%U %S' -o " .. sh_quote(folder .. "/time") .. " " .. command
end

local RUNS = {
  { name = "kubectl, one apply per object", procs = function(n) return n * OBJECTS_PER_TENANT end,
    go = function(folder, cache) return timed(under_time(folder, kubectl_loop_command(folder, cache)), folder,
      time_file_cpu) end },
  { name = "kubectl, one apply of one file", procs = function() return 1 end,
    go = function(folder, cache) return timed(under_time(folder, kubectl_file_command(folder, cache, "")), folder,
      time_file_cpu) end },
  { name = "  the same, --validate=false", procs = function() return 1 end,
    go = function(folder, cache) return timed(under_time(folder, kubectl_file_command(folder, cache,
      "--validate=false ")), folder, time_file_cpu) end },
  { name = "alaris sequential", procs = function() return 1 end,
    go = function(folder) return timed(alaris_command("sequential", folder), folder, alaris_cpu) end },
  { name = "alaris for_each, 10 at a time", procs = function() return 1 end,
    go = function(folder) return timed(alaris_command("concurrent", folder), folder, alaris_cpu) end },
  { name = "  the same, for 1 tenant only", procs = function() return 1 end, one_tenant = true,
    go = function(folder) return timed(alaris_command("concurrent", folder), folder, alaris_cpu) end },
}
local BASE_RUN = 5 -- ratios are against alaris for_each

local function count_labelled(kc, kind, label)
  local items = must(kc:list_all("v1", kind, nil, { label_selector = "alaris-bench=" .. label }))
  return #items
end

local function check_applied(kc, label, tenants)
  local want = { Namespace = tenants, Secret = 2 * tenants, ConfigMap = tenants }
  for kind, n in pairs(want) do
    local got = count_labelled(kc, kind, label)
    if got ~= n then fail("%s: %d %s objects found, %d expected", label, got, kind, n) end
  end
end

local function delete_namespaces(kc, label, tenants)
  local names = {}
  for i = 1, tenants do names[i] = string.format("%s-t%03d", label, i) end
  playbook.for_each(names, { concurrency = CONCURRENCY }, function(name)
    local ref = { apiVersion = "v1", kind = "Namespace", metadata = { name = name } }
    must(kc:delete(ref, { wait = true, timeout = 120 }))
  end)
end

local function run_one(ctx, run, index, latency, rep)
  local label = string.format("%s-%sms-r%d-%d", ctx.stamp, latency or "x", index, rep)
  local tenants = run.one_tenant and 1 or ctx.tenants
  local folder = write_manifests(ctx.dir, label, tenants)
  if ctx.admin then admin("DELETE", "/requests") end
  local m = run.go(folder, ctx.cache)
  if ctx.admin then m.requests = k8s_request_count() end
  m.procs = run.procs(tenants)
  check_applied(ctx.kc, label, tenants)
  delete_namespaces(ctx.kc, label, tenants)
  return m
end

-- Output ------------------------------------------------------------------------------------------------------------

local ROW = "  %-9s %-31s %6s %9s %9s %9s %11s %10s\n"

local function print_header(tenants)
  io.stdout:write(string.format("onboarding %d tenants (%d objects: a Namespace, 2 Secrets and a ConfigMap each) " ..
    "by server-side apply\n", tenants, tenants * OBJECTS_PER_TENANT))
  io.stdout:write(string.format(ROW, "+latency", "run", "procs", "requests", "wall s", "cpu s", "wall ratio",
    "cpu ratio"))
end

local function print_rows(latency, results)
  local base = results[BASE_RUN]
  for i, run in ipairs(RUNS) do
    local m = results[i]
    io.stdout:write(string.format(ROW, latency and (latency .. " ms") or "server's", run.name, m.procs,
      m.requests or "-", string.format("%.2f", m.seconds), string.format("%.2f", m.cpu),
      string.format("%.1fx", m.seconds / base.seconds), string.format("%.1fx", m.cpu / math.max(base.cpu, 0.001))))
  end
end

local function latency_text(latency)
  return latency and ("+" .. latency .. " ms per request") or "the server's own latency"
end

-- One line: the ratios that test the claim at the last latency measured (results by run: 1 loop, 2 file, 3 file
-- without validation, 4 sequential, 5 for_each, 6 for_each of one tenant), and what concurrency gave at the first.
local function interpretation(tenants, all)
  local last, first = all[#all], all[1]
  local r, conc = last.results, last.results[5].seconds
  local line = string.format("at %s, alaris for_each onboarded %d tenants in %.2f s; the bash kubectl loop took " ..
    "%.1fx as long, one kubectl apply of the file %.1fx (%.1fx with --validate=false), alaris sequential %.1fx; " ..
    "%d tenants took %.1fx the time of one tenant alone (%.2f s)", latency_text(last.latency), tenants, conc,
    r[1].seconds / conc, r[2].seconds / conc, r[3].seconds / conc, r[4].seconds / conc, tenants,
    conc / r[6].seconds, r[6].seconds)
  if first ~= last then
    line = line .. string.format("; at %s, alaris sequential took %.1fx for_each's time", latency_text(first.latency),
      first.results[4].seconds / first.results[5].seconds)
  end
  return line
end

-- Main ------------------------------------------------------------------------------------------------------------

local function warm_kubectl_cache(ctx)
  local folder = write_manifests(ctx.dir, ctx.stamp .. "-warm", 1)
  local ok = os.execute("kubectl --cache-dir " .. sh_quote(ctx.cache) .. " apply --server-side --dry-run=server -f " ..
    sh_quote(folder .. "/objects/00001.yaml") .. " >/dev/null")
  if not ok then fail("kubectl cannot reach the API server with KUBECONFIG") end
end

local function median(values)
  table.sort(values)
  local n = #values
  return n % 2 == 1 and values[(n + 1) // 2] or (values[n // 2] + values[n // 2 + 1]) / 2
end

-- The median wall and CPU seconds (each on its own) and the most requests of one run's repetitions.
local function medians(list)
  local seconds, cpu, requests = {}, {}, nil
  for i, m in ipairs(list) do
    seconds[i], cpu[i] = m.seconds, m.cpu
    if m.requests then requests = math.max(requests or 0, m.requests) end
  end
  return { seconds = median(seconds), cpu = median(cpu), requests = requests, procs = list[1].procs }
end

local function bench(ctx, latencies)
  warm_kubectl_cache(ctx)
  local all = {}
  print_header(ctx.tenants)
  for _, latency in ipairs(latencies) do
    if ctx.admin then set_k8s_latency(latency) end
    local samples = {}
    for rep = 1, ctx.repeats do                      -- interleaved, so a busy moment of the machine hits every run
      for i, run in ipairs(RUNS) do
        samples[i] = samples[i] or {}
        samples[i][rep] = run_one(ctx, run, i, latency, rep)
      end
    end
    local results = {}
    for i, list in ipairs(samples) do results[i] = medians(list) end
    print_rows(latency, results)
    io.stdout:flush()
    all[#all + 1] = { latency = latency, results = results }
  end
  io.stdout:write(string.format("  medians of %d runs each; ratios: each run's seconds / alaris for_each's; procs: " ..
    "processes run; requests: logged by the lab (the most of one run)\n", ctx.repeats))
  io.stdout:write(interpretation(ctx.tenants, all), "\n")
end

local function parse_latencies(text)
  local list = {}
  for ms in text:gmatch("[^,]+") do list[#list + 1] = math.tointeger(tonumber(ms)) or fail("bad latency %s", ms) end
  return list
end

local function main(tenants, latency_text, repeats)
  local ctx = { tenants = tenants, repeats = repeats, kc = must(k8s.client()), admin = has_admin(),
    stamp = string.format("bench-%x", os.time() % 0x1000000) }
  ctx.dir = io.popen("mktemp -d"):read("l")
  ctx.cache = ctx.dir .. "/kube-cache"
  local latencies = ctx.admin and parse_latencies(latency_text) or { false }
  local before = ctx.admin and admin("GET", "/latency").targets.k8s
  local ok, err = pcall(bench, ctx, latencies)
  if ctx.admin then set_k8s_latency(before) end
  os.execute("rm -rf " .. sh_quote(ctx.dir))
  if not ok then
    io.stderr:write("k8s_apply: ", tostring(err), "\n")
    os.exit(1)
  end
end

if arg[1] == "apply" then
  local ok, err = pcall(child_apply, arg[2], arg[3])
  if not ok then
    io.stderr:write("k8s_apply: ", tostring(err), "\n")
    os.exit(1)
  end
else
  local tenants = math.tointeger(tonumber(arg[1] or "20"))
  local repeats = math.tointeger(tonumber(arg[3] or "3"))
  if not tenants or tenants < 1 or not repeats or repeats < 1 then
    io.stderr:write("usage: alaris-run bench/k8s_apply.lua [TENANTS [LATENCIES_MS [REPEATS]]]   (20 0,20 3)\n")
    os.exit(2)
  end
  main(tenants, arg[2] or "0,20", repeats)
end
