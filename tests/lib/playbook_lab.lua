-- Helpers for the platform playbooks' lab suites (tests/lab/playbook_*_test.lua): running a playbook with its own
-- journal, the lab's admin fault rules, and snapshots of objects (uid and resourceVersion) to prove that a run
-- changed nothing, or that a rollback left exactly what existed before.
local T = require "testing"
local http = require "alaris.http"
local json = require "alaris.json"
local platform = require "alaris.platform"

local M = {}

function M.admin(method, path, body)
  local resp = assert(http.request { method = method, url = os.getenv("LAB_ADMIN_URL") .. path,
    headers = { Authorization = "Bearer " .. os.getenv("LAB_ADMIN_TOKEN"), ["Content-Type"] = "application/json" },
    body = body and json.encode(body) or nil })
  assert(resp.status < 300, resp.body)
  return resp.body ~= "" and json.decode(resp.body) or nil
end

-- Adds a fault rule for the duration of fn, then removes every rule.
function M.with_fault(rule, fn)
  M.admin("POST", "/faults", rule)
  local ok, a, b, c = pcall(fn)
  M.admin("DELETE", "/faults")
  if not ok then error(a, 0) end
  return a, b, c
end

-- Runs `alaris-run [options] playbooks/NAME.lua ARGS` with a journal in a fresh folder; returns out, err, code.
function M.run(name, args, options)
  local dir = T.tmpdir()
  return T.run(string.format("%s --journal %s/journal.jsonl %s playbooks/%s.lua %s", T.alaris_run, dir,
    options or "", name, args or ""))
end

local function key(obj)
  return string.format("%s/%s/%s/%s", obj.apiVersion, obj.kind, obj.metadata.namespace or "", obj.metadata.name)
end

-- {key -> {uid, rv}} for the objects that exist (a terminating object counts as gone).
function M.snapshot(kc, objects)
  local snap = {}
  for _, obj in ipairs(objects) do
    local live = platform.live(kc, obj)
    if live and not live.metadata.deletionTimestamp then
      snap[key(obj)] = { uid = live.metadata.uid, rv = live.metadata.resourceVersion }
    end
  end
  return snap
end

-- Asserts two snapshots list the same objects (same uid); with `same_rv`, also the same resourceVersions.
function M.same(before, after, same_rv)
  for k, v in pairs(before) do
    T.ok(after[k], "existed before and must still exist: " .. k)
    T.eq(after[k].uid, v.uid, "the same object (uid) " .. k)
    if same_rv then T.eq(after[k].rv, v.rv, "resourceVersion of " .. k) end
  end
  for k in pairs(after) do T.ok(before[k], "created by the run and left behind: " .. k) end
end

function M.count(snap)
  local n = 0
  for _ in pairs(snap) do n = n + 1 end
  return n
end

-- Asserts that stderr holds exactly one line.
function M.one_line(err)
  local text = err:gsub("\n$", "")
  T.ok(text ~= "" and not text:find("\n"), "one line on stderr, got: " .. err)
end

return M
