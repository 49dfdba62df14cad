-- What a run shows and leaves behind: the console (one line per step; on a terminal a live elapsed time and
-- colours unless NO_COLOR), the JSON document of --output json and the JUnit file of --junit. Everything written
-- here goes through secret masking, value by value before any quoting or escaping.
local alaris = require "alaris"
local json = require "alaris.json"
local log = require "alaris.log"
local prelude = require "alaris.prelude"

local report = {}

local COLORS = { ok = "32", failed = "31", ["rollback failed"] = "31", ["rolled back"] = "33", skipped = "90",
                 ["would run"] = "36", planned = "36", interrupted = "31" }

local Console = {}
Console.__index = Console

function report.console(opts)
  local tty = alaris.isatty(1)
  local self = setmetatable({
    enabled = opts.enabled ~= false,
    tty = tty and opts.enabled ~= false,
    color = tty and not os.getenv("NO_COLOR"),
    out = io.stdout,
  }, Console)
  if self.tty then
    -- log lines clear the live status line first; the ticker draws it again
    local previous = log.set_sink(function(level, line)
      self:clear_live()
      prelude.raw_write(io.stderr, line, "\n") -- masked already, field by field
    end)
    self.restore_sink = previous
  end
  return self
end

function Console:paint(status, text)
  if not self.color or not COLORS[status] then return text end
  return "\27[" .. COLORS[status] .. "m" .. text .. "\27[0m"
end

function Console:write(...)
  if self.enabled then self.out:write(...); self.out:flush() end
end

function Console:clear_live()
  if self.live then self.out:write("\r\27[K"); self.out:flush() end
end

local function seconds(d)
  if d == nil then return "" end
  if d < 10 then return string.format("%.1fs", d) end
  return string.format("%ds", math.floor(d + 0.5))
end

local function dotted(label, width)
  if #label >= width then return label .. " " end
  return label .. " " .. string.rep(".", width - #label - 1) .. " "
end

function Console:start(pb, nsteps, mode)
  self.width = 12
  for _, step in ipairs(pb.steps) do self.width = math.max(self.width, #step.name + 10) end
  self.width = math.min(self.width, 60)
  self:write(string.format("%s %s (%d step%s)%s\n", mode == "dry-run" and "PLAN" or "PLAYBOOK", pb.name, nsteps,
    nsteps == 1 and "" or "s", mode == "rollback" and " rollback" or mode == "resume" and " resumed" or ""))
end

function Console:step_started(label)
  if not self.tty then return end
  local started = alaris.now()
  self.live = label
  self.ticker = alaris.spawn(function()
    while true do
      self.out:write("\r\27[K", dotted(label, self.width), seconds(alaris.now() - started))
      self.out:flush()
      alaris.sleep(0.1)
    end
  end)
end

function Console:stop_ticker()
  if self.ticker then
    self.ticker:cancel("done")
    pcall(alaris.wait, self.ticker)
    self.ticker = nil
  end
  self:clear_live()
  self.live = nil
end

function Console:step_finished(label, status, duration, err)
  self:stop_ticker()
  local line = dotted(label, self.width) .. self:paint(status, status)
  if duration then line = line .. " (" .. seconds(duration) .. ")" end
  if err then line = line .. ": " .. err end
  self:write(line, "\n")
end

function Console:detail(text)
  self:write("      ", text, "\n")
end

function Console:summary(text, status)
  self:stop_ticker()
  self:write(self:paint(status, text), "\n")
end

function Console:close()
  self:stop_ticker()
  if self.restore_sink then log.set_sink(self.restore_sink) end
end

-- The one JSON document --output json prints at the end. Values that can carry a secret (vars, errors) are masked
-- value by value before encoding; names, statuses and keys are left alone, so the document always decodes.
function report.json_document(run)
  local steps = json.array({})
  for _, s in ipairs(run.steps) do
    steps[#steps + 1] = {
      name = s.name,
      status = s.status,
      duration_ms = s.duration and math.floor(s.duration * 1000 + 0.5) or 0,
      error = s.error and alaris.mask(s.error) or json.null,
      rollback_error = s.rollback_error and alaris.mask(s.rollback_error),
      output = s.output ~= nil and log.masked_copy(s.output) or nil, -- as journaled: secrets withheld
    }
  end
  return json.encode({
    playbook = run.playbook,
    vars = log.masked_copy(run.vars),
    steps = steps,
    result = run.result,
    exit_code = run.exit_code,
    dry_run = run.dry_run or nil,
  }, { pretty = true })
end

local function xml_escape(s) -- masks first: escaping could split a secret holding & < > " or '
  return (alaris.mask(tostring(s)):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

-- JUnit XML: one testcase per step; failed and rollback-failed steps are failures, skipped steps skipped.
function report.junit(run)
  local failures, skipped, total = 0, 0, 0
  local cases = {}
  for _, s in ipairs(run.steps) do
    total = total + (s.duration or 0)
    local body = ""
    if s.status == "failed" or s.status == "rollback_failed" then
      failures = failures + 1
      local msg = s.error or s.rollback_error or s.status
      body = string.format('\n    <failure message="%s" type="%s">%s</failure>\n  ', xml_escape(msg), s.status, xml_escape(msg))
    elseif s.status == "skipped" then
      skipped = skipped + 1
      body = "\n    <skipped/>\n  "
    elseif s.status == "rolled_back" then
      body = '\n    <system-out>rolled back after a later step failed</system-out>\n  '
    end
    cases[#cases + 1] = string.format('  <testcase classname="%s" name="%s" time="%.3f">%s</testcase>',
      xml_escape(run.playbook), xml_escape(s.name), s.duration or 0, body)
  end
  local xml = string.format('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="%s" tests="%d" failures="%d" errors="0" skipped="%d" time="%.3f">\n%s\n</testsuite>\n',
    xml_escape(run.playbook), #run.steps, failures, skipped, total, table.concat(cases, "\n"))
  return xml
end

return report
