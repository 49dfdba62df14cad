-- alaris.check: the checking framework of the grade playbook and of any playbook that proves something. A check has
-- a name, a tenant (or none) and a function that returns PASS or FAIL with evidence; a check that raises, returns
-- anything else or runs out of time is an ERROR, never a pass. SKIP means only that the user deselected it.
-- Independent checks run concurrently on the engine's event loop; the results become a text table, a JSON
-- document, JUnit XML and GitHub Actions annotations, and an exit code that is 0 only when every selected check
-- passed. It does not know what any particular check looks at.
local alaris = require "alaris"
local json = require "alaris.json"
local playbook = require "alaris.playbook"

local check = {}

check.PASS, check.FAIL, check.ERROR, check.SKIP = "PASS", "FAIL", "ERROR", "SKIP"

local function invalid(msg)
  error(alaris.error("invalid", msg, { usage = true }), 0)
end

-- ---- definitions ----

local function check_definition(def)
  if type(def) ~= "table" then invalid("a check is a table {name = ..., fn = ...}") end
  if type(def.name) ~= "string" or not def.name:match("^[%w][%w._-]*$") then
    invalid("a check needs a name made of letters, digits, '.', '_' and '-'")
  end
  if type(def.fn) ~= "function" then invalid(string.format("check '%s' has no fn", def.name)) end
  if def.tenant ~= nil and type(def.tenant) ~= "string" then
    invalid(string.format("check '%s': tenant must be a string", def.name))
  end
  if def.timeout ~= nil and (type(def.timeout) ~= "number" or def.timeout <= 0) then
    invalid(string.format("check '%s': timeout must be a positive number of seconds", def.name))
  end
  if def.after ~= nil and type(def.after) ~= "table" then
    invalid(string.format("check '%s': after must be a list of check names", def.name))
  end
end

local function key_of(c)
  return c.tenant and (c.name .. "/" .. c.tenant) or c.name
end

-- A list of checks: each {name, tenant, fn(c) -> PASS|FAIL, evidence, description, timeout, after = {names}}.
-- `after` orders checks (those names finish first: of the same tenant or without one; for a check without a tenant,
-- of every tenant); it does not make a check depend on another's outcome. Returns the checked list.
function check.define(defs)
  if type(defs) ~= "table" then invalid("check.define takes a list of checks") end
  local seen, names = {}, {}
  for _, def in ipairs(defs) do
    check_definition(def)
    local key = key_of(def)
    if seen[key] then invalid(string.format("check '%s' is defined twice", key)) end
    seen[key], names[def.name] = true, true
  end
  for _, def in ipairs(defs) do
    for _, name in ipairs(def.after or {}) do
      if not names[name] then invalid(string.format("check '%s' runs after '%s', which is not defined", def.name, name)) end
    end
  end
  return defs
end

-- The same check for each tenant: `make(tenant)` returns its fn.
function check.for_tenants(def, tenants)
  local list = {}
  for _, t in ipairs(tenants) do
    local c = {}
    for k, v in pairs(def) do c[k] = v end
    c.tenant, c.fn = t, def.make(t)
    list[#list + 1] = c
  end
  return list
end

-- ---- selection ----

local function set_of(list, what, known)
  local set = {}
  for _, v in ipairs(list or {}) do
    if known and not known[v] then invalid(string.format("%s: no check or tenant is called '%s'", what, v)) end
    set[v] = true
  end
  return set
end

local function known_names(checks)
  local known = {}
  for _, c in ipairs(checks) do
    known[c.name] = true
    if c.tenant then known[c.tenant] = true; known[key_of(c)] = true end
  end
  return known
end

local function matches(set, c)
  return set[c.name] or (c.tenant ~= nil and (set[c.tenant] or set[key_of(c)]))
end

-- Whether each check is selected: opts.only and opts.skip are lists of check names, tenants or name/tenant;
-- a name no check has is bad input (a typo must not silently select nothing).
function check.select(checks, opts)
  opts = opts or {}
  local known = known_names(checks)
  local only, skip = set_of(opts.only, "only", known), set_of(opts.skip, "skip", known)
  local selected = {}
  for i, c in ipairs(checks) do
    selected[i] = (next(only) == nil or matches(only, c)) and not matches(skip, c)
  end
  return selected
end

-- ---- running ----

local function evidence_text(evidence)
  if evidence == nil then return "" end
  if type(evidence) == "table" and not alaris.is_error(evidence) then
    local lines = {}
    for i, v in ipairs(evidence) do lines[i] = tostring(v) end
    return table.concat(lines, "\n")
  end
  return tostring(evidence)
end

local function outcome(ok, status, evidence)
  if not ok then return check.ERROR, "raised: " .. evidence_text(status) end
  if status == check.PASS or status == check.FAIL then return status, evidence_text(evidence) end
  return check.ERROR, string.format("returned %s instead of PASS or FAIL", tostring(status))
end

-- Runs one check in a task of its own, so a timeout can cancel it; always returns a result.
local function run_one(c)
  local started = alaris.now()
  local task = alaris.spawn(function() return c.fn(c) end)
  local done, a, b = alaris.wait(task, c.timeout)
  local status, evidence
  if done == nil then
    task:cancel("timed out")
    pcall(alaris.wait, task)
    status, evidence = check.ERROR, string.format("timed out after %gs", c.timeout)
  else
    status, evidence = outcome(done, a, b)
  end
  return { name = c.name, tenant = c.tenant, description = c.description, status = status, evidence = evidence,
    duration = alaris.now() - started }
end

-- For each check, the indices of the checks its `after` names (a deselected check is not waited for).
local function prerequisites(checks)
  local deps = {}
  for i, c in ipairs(checks) do
    deps[i] = {}
    for _, name in ipairs(c.after or {}) do
      for j, other in ipairs(checks) do
        local same_scope = other.tenant == nil or c.tenant == nil or other.tenant == c.tenant
        if other.name == name and same_scope and j ~= i then deps[i][#deps[i] + 1] = j end
      end
    end
  end
  return deps
end

-- The indices in an order where every check comes after its prerequisites; raises on a cycle.
local function start_order(deps)
  local placed, order = {}, {}
  local function ready(i)
    for _, j in ipairs(deps[i]) do
      if not placed[j] then return false end
    end
    return true
  end
  while #order < #deps do
    local progress = false
    for i = 1, #deps do
      if not placed[i] and ready(i) then placed[i], order[#order + 1], progress = true, i, true end
    end
    if not progress then invalid("the checks' `after` lists form a cycle") end
  end
  return order
end

-- Lets tasks wait until some checks have finished: each waiter gets a notifier, woken when any check finishes.
local function completion()
  local finished, waiters = {}, {}
  local c = {}
  function c.finish(i)
    finished[i] = true
    local woken = waiters
    waiters = {}
    for _, n in ipairs(woken) do n:notify() end
  end
  function c.wait_all(indices)
    local function all_done()
      for _, j in ipairs(indices) do
        if not finished[j] then return false end
      end
      return true
    end
    while not all_done() do
      local n = alaris.notifier()
      waiters[#waiters + 1] = n
      n:wait()
    end
  end
  return c
end

-- Runs the selected checks (opts.only, opts.skip as in select), opts.concurrency at a time (default: all), each as
-- soon as its prerequisites have finished, and returns the results in definition order: {name, tenant, description,
-- status, evidence, duration}. Checks are started in an order that puts prerequisites first, so a limited number of
-- workers can never all wait on checks that no worker has started.
function check.run(checks, opts)
  opts = opts or {}
  check.define(checks)
  local selected = check.select(checks, opts)
  local chosen, index_of, results = {}, {}, {}
  for i, c in ipairs(checks) do
    if selected[i] then
      chosen[#chosen + 1] = c
      index_of[#chosen] = i
    else
      results[i] = { name = c.name, tenant = c.tenant, description = c.description, status = check.SKIP,
        evidence = "deselected", duration = 0 }
    end
  end
  local deps = prerequisites(chosen)
  local done = completion()
  playbook.for_each(start_order(deps), { concurrency = opts.concurrency }, function(i)
    done.wait_all(deps[i])
    local result = run_one(chosen[i])
    results[index_of[i]] = result
    done.finish(i)
    if opts.on_result then opts.on_result(result) end
  end)
  return results
end

-- ---- results ----

function check.summary(results)
  local s = { total = #results, passed = 0, failed = 0, errors = 0, skipped = 0 }
  for _, r in ipairs(results) do
    if r.status == check.PASS then s.passed = s.passed + 1
    elseif r.status == check.FAIL then s.failed = s.failed + 1
    elseif r.status == check.ERROR then s.errors = s.errors + 1
    else s.skipped = s.skipped + 1 end
  end
  return s
end

-- 0 only when at least one check was selected and every selected check passed; 1 otherwise.
function check.exit_code(results)
  local s = check.summary(results)
  if s.passed > 0 and s.passed == s.total - s.skipped then return 0 end
  return 1
end

local function first_line(s)
  return (s:match("^[^\n]*"))
end

local function label(r)
  return r.tenant and (r.name .. " (" .. r.tenant .. ")") or r.name
end

local function summary_line(results)
  local s = check.summary(results)
  return string.format("%d passed, %d failed, %d errors, %d skipped", s.passed, s.failed, s.errors, s.skipped)
end

local function column_widths(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, utf8.len(cell) or #cell) end
  end
  return widths
end

local function pad(s, width)
  return s .. string.rep(" ", width - (utf8.len(s) or #s))
end

-- A table, one row per result (the first line of the evidence), then the summary. Masked.
function check.text(results)
  local rows = { { "STATUS", "CHECK", "TENANT", "TIME", "EVIDENCE" } }
  for _, r in ipairs(results) do
    rows[#rows + 1] = { r.status, r.name, r.tenant or "-", string.format("%.2fs", r.duration or 0),
      first_line(alaris.mask(r.evidence or "")) }
  end
  local widths = column_widths(rows)
  local lines = {}
  for _, row in ipairs(rows) do
    local cells = {}
    for i = 1, 4 do cells[i] = pad(row[i], widths[i]) end
    cells[5] = row[5]
    lines[#lines + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  lines[#lines + 1] = summary_line(results)
  return table.concat(lines, "\n") .. "\n"
end

-- One JSON document: {checks = [...], summary = {...}, exit_code}. Evidence masked value by value.
function check.json(results)
  local list = json.array {}
  for _, r in ipairs(results) do
    list[#list + 1] = { name = r.name, tenant = r.tenant or json.null, status = r.status,
      evidence = alaris.mask(r.evidence or ""), duration_ms = math.floor((r.duration or 0) * 1000 + 0.5) }
  end
  return json.encode({ checks = list, summary = check.summary(results), exit_code = check.exit_code(results) },
    { pretty = true })
end

-- Masks first (escaping could split a secret), then escapes markup and drops what XML 1.0 cannot hold.
local function xml_text(s)
  s = alaris.mask(tostring(s)):gsub("[%z\1-\8\11\12\14-\31]", "?")
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

local function junit_case(r)
  local body = ""
  if r.status == check.FAIL then
    body = string.format('\n      <failure message="%s" type="FAIL">%s</failure>\n    ', xml_text(r.evidence),
      xml_text(r.evidence))
  elseif r.status == check.ERROR then
    body = string.format('\n      <error message="%s" type="ERROR">%s</error>\n    ', xml_text(r.evidence),
      xml_text(r.evidence))
  elseif r.status == check.SKIP then
    body = '\n      <skipped message="deselected"/>\n    '
  elseif r.evidence and r.evidence ~= "" then
    body = string.format("\n      <system-out>%s</system-out>\n    ", xml_text(r.evidence))
  end
  return string.format('    <testcase classname="%s" name="%s" time="%.3f">%s</testcase>', xml_text(r.tenant or "-"),
    xml_text(r.name), r.duration or 0, body)
end

-- JUnit XML: one testcase per check and tenant (classname = the tenant, name = the check).
function check.junit(results, suite_name)
  local s = check.summary(results)
  local time, cases = 0, {}
  for _, r in ipairs(results) do
    time = time + (r.duration or 0)
    cases[#cases + 1] = junit_case(r)
  end
  local attrs = string.format('name="%s" tests="%d" failures="%d" errors="%d" skipped="%d" time="%.3f"',
    xml_text(suite_name or "checks"), s.total, s.failed, s.errors, s.skipped, time)
  return string.format('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites %s>\n  <testsuite %s>\n%s\n  </testsuite>\n'
    .. "</testsuites>\n", attrs, attrs, table.concat(cases, "\n"))
end

-- GitHub's workflow-command escaping: data escapes % CR LF; a property value also : and ,.
local function gh_data(s)
  return (alaris.mask(s):gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A"))
end

local function gh_property(s)
  return (gh_data(s):gsub(":", "%%3A"):gsub(",", "%%2C"))
end

-- `::error title=...::evidence` lines for the failed and errored checks.
function check.annotations(results)
  local lines = {}
  for _, r in ipairs(results) do
    if r.status == check.FAIL or r.status == check.ERROR then
      lines[#lines + 1] = string.format("::error title=%s::%s", gh_property(r.status .. " " .. label(r)),
        gh_data(r.evidence or ""))
    end
  end
  return lines
end

-- Writes the reports opts asks for and returns the exit code: the text table to opts.out (default io.stdout) or,
-- with opts.format == "json", the JSON document; JUnit XML to the file opts.junit; annotations to opts.out when
-- GITHUB_ACTIONS is "true". Raises when the JUnit file cannot be written (a caller doing os.exit(check.report(...))
-- must not exit 0 on a `nil`).
function check.report(results, opts)
  opts = opts or {}
  local out = opts.out or io.stdout
  out:write(opts.format == "json" and check.json(results) or check.text(results))
  if os.getenv("GITHUB_ACTIONS") == "true" then
    for _, line in ipairs(check.annotations(results)) do out:write(line, "\n") end
  end
  if opts.junit then
    local f, err = io.open(opts.junit, "w")
    if not f then error(alaris.error("io", "cannot write the JUnit report: " .. tostring(err)), 0) end
    f:write(check.junit(results, opts.suite_name))
    f:close()
  end
  out:flush()
  return check.exit_code(results)
end

return check
