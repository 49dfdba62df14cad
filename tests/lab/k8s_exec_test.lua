-- client:exec against the lab with its node runtime: a busybox pod runs, and a command executed in it through
-- pods/exec (WebSocket, v5.channel.k8s.io) gives back stdout, stderr and the exit code, reads stdin when given,
-- and runs inside the pod (its environment and hostname), as `kubectl exec` does with the same pod.
-- The refusals: a pod that does not exist, a container that is not in the pod, an empty command.
local T = require "testing"
local k8s = require "alaris.k8s"

local RUN = string.format("%x%04x", os.time(), math.random(0, 0xffff))
local NS = "exectest-" .. RUN

local function must(value, err)
  if value == nil then error("unexpected failure: " .. tostring(err), 2) end
  return value
end

local kc = must(k8s.client())

local function busybox(name)
  return {
    apiVersion = "v1", kind = "Pod", metadata = { name = name, namespace = NS },
    spec = {
      terminationGracePeriodSeconds = 1,
      containers = { { name = "main", image = "busybox:1.36", command = { "sleep", "3600" },
        env = { { name = "GREETING", value = "from the pod" } } } },
    },
  }
end

must(kc:create({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }))
must(kc:create(busybox("box")))
must(kc:wait(busybox("box"), "Ready", { timeout = 60 }))

T.test("exec returns stdout, stderr and the exit code of the command", function()
  local r = must(kc:exec(NS, "box", { "sh", "-c", "echo out; echo err >&2; exit 3" }))
  T.eq(r.stdout, "out\n")
  T.eq(r.stderr, "err\n")
  T.eq(r.exit_code, 3)
  local ok = must(kc:exec(NS, "box", { "true" }))
  T.eq(ok.exit_code, 0)
  T.eq(ok.stdout, "")
end)

T.test("exec sends stdin and closes it, so a command reading to the end finishes", function()
  local text = string.rep("line of input\n", 2000)
  local r = must(kc:exec(NS, "box", { "sh", "-c", "tr a-z A-Z | wc -l; echo done" }, { stdin = text }))
  T.eq(r.stdout, "2000\ndone\n")
  T.eq(r.exit_code, 0)
end)

T.test("the command runs in the pod: its environment and its own hostname", function()
  local r = must(kc:exec(NS, "box", { "sh", "-c", "echo \"$GREETING\"; hostname" }, { container = "main" }))
  T.eq(r.stdout, "from the pod\nbox\n")
end)

-- kubectl speaks WebSocket for exec from 1.30 on (before, SPDY, which the lab does not serve).
local function kubectl_minor()
  local out, _, code = T.run("kubectl version --client -o json")
  return code == 0 and tonumber(out:match('"minor"%s*:%s*"(%d+)')) or nil
end

T.test("kubectl exec on the same pod: output and exit code", function()
  local minor = kubectl_minor()
  if not minor or minor < 30 then
    print("     (kubectl exec not checked: needs kubectl >= 1.30, found " .. tostring(minor and "1." .. minor or "none") .. ")")
    return
  end
  local out, err, code = T.run(string.format("kubectl exec -n %s box -- sh -c 'echo via kubectl; exit 4'", NS))
  T.eq(out, "via kubectl\n")
  T.eq(code, 4, err)
  T.contains(err, "command terminated with exit code 4")
end)

T.test("refusals: no such pod, a container not in the pod, an empty command", function()
  local r, err = kc:exec(NS, "no-such-pod", { "true" })
  T.eq(r, nil)
  T.contains(tostring(err), "404")
  r, err = kc:exec(NS, "box", { "true" }, { container = "sidecar" })
  T.eq(r, nil)
  T.contains(tostring(err), "400")
  T.raises(function() kc:exec(NS, "box", {}) end, "non%-empty list")
end)

T.test("the namespace and its pod go", function()
  must(kc:delete({ apiVersion = "v1", kind = "Namespace", metadata = { name = NS } }))
end)

T.run_all()
