-- alaris.grade.probe: network probes run from inside the cluster, as short-lived Pods in the namespace whose view
-- is being tested. One Pod runs every target of a probe at once (a shell script of curl calls, each bounded by a
-- connect timeout), prints one result line per target and exits; its log is read and the Pod deleted, whatever
-- happened. A probe reports what connected, never a verdict: the checks (alaris.grade.checks) judge.
local alaris = require "alaris"

local probe = {}

probe.DEFAULT_IMAGE = "curlimages/curl:8.11.1" -- sh and curl, on any cluster
probe.LABEL = "app.kubernetes.io/name"
probe.NAME = "alaris-grade-probe"
probe.RUN_LABEL = "alaris.dev/grade-run"
probe.CONNECT_TIMEOUT = 2

local ID_PATTERN = "^[%w_.-]+$"

-- Single quotes for sh.
local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function url_of(target)
  return string.format("http://%s:%d%s", target.host, target.port, target.path or "/")
end

-- One target's shell: `tcp` says whether a TCP connection opened (curl's time_connect is 0 when none did, whatever
-- the service on the port speaks); `http` gives the status code and the body on one line. A target with `attempts` > 1 is tried
-- again, a second apart, until it connects (a new Pod's policies can take a moment to admit it).
local function target_shell(target)
  assert(tostring(target.id):match(ID_PATTERN), "probe target ids are words")
  local curl = string.format("curl -s --noproxy '*' --connect-timeout %d -m %d", probe.CONNECT_TIMEOUT, probe.CONNECT_TIMEOUT + 8)
  local attempts = target.attempts or 1
  local try, connected, report
  if target.kind == "http" then
    try = string.format("r=$(%s -w ' HTTP=%%{http_code}' %s 2>/dev/null | tr '\\r\\n' '  ')", curl, quote(url_of(target)))
    connected = '! case "$r" in *HTTP=000) true;; *) false;; esac'
    report = string.format('echo "RESULT %s $r"', target.id)
  else
    try = string.format("r=$(%s -o /dev/null -w '%%{time_connect}' %s 2>/dev/null)", curl, quote(url_of(target)))
    connected = [[case "$r" in ''|0|0.000000) false;; *) true;; esac]]
    report = string.format("if %s; then echo 'RESULT %s open'; else echo 'RESULT %s closed'; fi", connected, target.id,
      target.id)
  end
  return string.format("i=1; while :; do %s; if %s || [ $i -ge %d ]; then break; fi; i=$((i+1)); sleep 1; done; %s",
    try, connected, attempts, report)
end

-- The script a probe Pod runs: the targets marked `first` one after the other (controls that must connect before
-- the rest means anything), then every other target at once, then `DONE`.
function probe.script(targets)
  local lines = {}
  for _, target in ipairs(targets) do
    if target.first then lines[#lines + 1] = target_shell(target) end
  end
  for _, target in ipairs(targets) do
    if not target.first then lines[#lines + 1] = "( " .. target_shell(target) .. " ) &" end
  end
  lines[#lines + 1] = "wait"
  lines[#lines + 1] = "echo DONE"
  return table.concat(lines, "\n") .. "\n"
end

-- {id -> result} from the Pod's log: tcp targets give {open = bool}; http targets {status = n | nil, body}.
-- nil and why when the log is not a complete run of the script.
function probe.parse(log, targets)
  if not tostring(log):find("\nDONE%s*$") and not tostring(log):match("^DONE%s*$") then
    return nil, "the probe did not finish its script; its log: " .. tostring(log):sub(1, 300)
  end
  local results = {}
  for line in tostring(log):gmatch("[^\n]+") do
    local id, rest = line:match("^RESULT ([%w_.-]+) ?(.*)$")
    if id then
      local body, code = rest:match("^(.-) ?HTTP=(%d+)$")
      if code then
        local status = tonumber(code)
        results[id] = { status = status ~= 0 and status or nil, body = body }
      else
        results[id] = { open = rest == "open" }
      end
    end
  end
  for _, target in ipairs(targets) do
    if not results[target.id] then return nil, "the probe printed no result for " .. target.id end
  end
  return results
end

-- The Pod: no service account token, no restart, no grace period; labelled so a sweep finds it.
function probe.pod(namespace, name, script, opts)
  opts = opts or {}
  return {
    apiVersion = "v1", kind = "Pod",
    metadata = { name = name, namespace = namespace,
      labels = { [probe.LABEL] = probe.NAME, [probe.RUN_LABEL] = opts.run_id, ["app.kubernetes.io/managed-by"] = "alaris" } },
    spec = { restartPolicy = "Never", terminationGracePeriodSeconds = 0, automountServiceAccountToken = false,
      containers = { { name = "probe", image = opts.image or probe.DEFAULT_IMAGE, command = { "sh", "-c", script } } } },
  }
end

-- How the probe container ended, for an error message.
function probe.exit_text(pod)
  local st = pod.status and pod.status.containerStatuses and pod.status.containerStatuses[1]
  local term = st and st.state and st.state.terminated
  if not term then return "no exit code" end
  return string.format("exit code %s%s", tostring(term.exitCode), term.reason and (", " .. term.reason) or "")
end

local function finished(pod)
  local phase = pod and pod.status and pod.status.phase
  return phase == "Succeeded" or phase == "Failed"
end

local counter = 0

local function raise(fmt, ...)
  error(alaris.error("probe", string.format(fmt, ...)), 0)
end

-- Runs the targets from a Pod in `namespace`; returns {id -> result}. Raises when the probe itself could not run
-- (the namespace is missing, the Pod never finished, its log is incomplete). opts: image, run_id, timeout, label.
function probe.run(kc, namespace, targets, opts)
  opts = opts or {}
  counter = counter + 1
  local name = string.format("%s-%s-%d", probe.NAME, opts.run_id or "x", counter)
  local pod = probe.pod(namespace, name, probe.script(targets), opts)
  local created, err = kc:create(pod)
  if not created then raise("cannot start a probe Pod in namespace %s: %s", namespace, tostring(err)) end
  local ok, result, why = pcall(function()
    local done, werr = kc:wait(pod, finished, { timeout = opts.timeout or 60 })
    if not done then raise("probe Pod %s/%s did not finish: %s", namespace, name, tostring(werr)) end
    local parsed, perr
    for _ = 1, 3 do -- the log can trail the Pod's phase by a moment
      local log, lerr = kc:logs(namespace, name)
      if not log then raise("cannot read the log of probe Pod %s/%s: %s", namespace, name, tostring(lerr)) end
      parsed, perr = probe.parse(log, targets)
      if parsed then return parsed end
      alaris.sleep(1)
    end
    return nil, string.format("%s (phase %s, %s)", perr, tostring(done.status.phase), probe.exit_text(done))
  end)
  kc:delete(pod, { grace_period = 0 })
  if not ok then error(result, 0) end
  if not result then raise("probe Pod %s/%s: %s", namespace, name, why) end
  return result
end

return probe
