-- alaris.runner: runs a playbook's steps in order, each as a task on the event loop with its timeout and retries;
-- journals every transition; on a failure, a timeout or an interrupt rolls back the completed steps in reverse
-- order. Also resumes and rolls back journaled runs, and plans (--dry-run). Returns the process exit code:
-- 0 ok, 1 failed and rolled back, 2 bad input, 3 rollback incomplete, 130 interrupted and rolled back.
local alaris = require "alaris"
local journal = require "alaris.journal"
local log = require "alaris.log"
local prelude = require "alaris.prelude"
local report = require "alaris.report"

local runner = {}

local EXIT = { ok = 0, failed = 1, usage = 2, incomplete = 3, interrupted = 130 }

-- The first line of an error, masked first: cut first, the first line of a multi-line secret would show.
local function one_line(err)
  return (alaris.mask(tostring(err)):match("^[^\n]*"))
end

-- Runs fn(...) as its own task and waits for it, at most `timeout` seconds. Returns ok, value_or_error, traceback.
-- If this (the root) task is interrupted while waiting, the step's task is cancelled too and unwinds first.
local function call_in_task(fn, timeout, ...)
  local task = alaris.spawn(fn, ...)
  local waited, done, value, traceback = pcall(alaris.wait, task, timeout)
  if not waited then
    task:cancel(one_line(done))
    pcall(alaris.wait, task, 30)
    return false, done
  end
  if done == nil then
    local why = string.format("timed out after %gs", timeout)
    task:cancel(why)
    pcall(alaris.wait, task, 30)
    return false, why
  end
  return done, value, traceback
end

-- The same backoff as alaris.http's retry policy, without loading the HTTP binding.
local function backoff(step, attempt)
  return require("alaris.backoff")(attempt, step.retry_delay or 1, 60)
end

-- A step's output as the journal keeps it (secrets withheld); the output itself is dropped when it cannot be
-- journaled at all, so that a resumed run sees what this one saw.
local function journaled_output(step, value)
  local stored, withheld = journal.storable(value)
  if value ~= nil and stored == nil and type(withheld) == "string" then
    log.warn(string.format("step %s: its output cannot be journaled and was dropped (%s); use tables, strings, "
      .. "numbers, booleans", step.name, withheld))
    return nil, nil, nil
  end
  return value, stored, #withheld > 0 and withheld or nil
end

local function select_steps(pb, opts)
  local selected, from_seen = {}, opts.from == nil
  for i, step in ipairs(pb.steps) do
    if step.name == opts.from then from_seen = true end
    local take = from_seen
    if opts.only and not opts.only[step.name] then take = false end
    if take and opts.tags then
      local tagged = false
      for _, tag in ipairs(step.tags or {}) do tagged = tagged or opts.tags[tag] ~= nil end
      take = tagged
    end
    selected[i] = take
  end
  return selected
end

-- Checks that --only/--from name real steps; returns nil or an error line.
function runner.check_selection(pb, opts)
  local names = {}
  for _, step in ipairs(pb.steps) do names[step.name] = true end
  for name in pairs(opts.only or {}) do
    if not names[name] then return string.format("--only: no step named '%s' in %s", name, pb.name) end
  end
  if opts.from and not names[opts.from] then return string.format("--from: no step named '%s' in %s", opts.from, pb.name) end
end

local Run = {}
Run.__index = Run

local function new_run(pb, opts)
  local self = setmetatable({ pb = pb, opts = opts, results = {}, completed = {}, outputs = {} }, Run)
  self.console = report.console { enabled = opts.output ~= "json" and opts.output ~= "none" } -- none: benchmarks
  for i, step in ipairs(pb.steps) do self.results[i] = { name = step.name, status = "skipped" } end
  self.ctx = { vars = opts.vars, log = log, dry_run = opts.dry_run or false, outputs = self.outputs, playbook = pb.name }
  return self
end

function Run:record(rec, masked)
  if self.journal then self.journal:write(rec, masked) end
end

function Run:step_ctx(step)
  return setmetatable({ step = step.name }, { __index = self.ctx })
end

function Run:label(i)
  return string.format("[%d/%d] %s", i, #self.pb.steps, self.pb.steps[i].name)
end

function Run:run_step(i)
  local step, result = self.pb.steps[i], self.results[i]
  local retries = math.tointeger(step.retries) or 0
  local started = alaris.now()
  self.console:step_started(self:label(i))
  local ok, value, traceback
  for attempt = 1, retries + 1 do
    self:record { event = "step_started", step = step.name, attempt = attempt }
    ok, value, traceback = call_in_task(step.run, step.timeout, self:step_ctx(step))
    if ok or alaris.interrupted() or attempt > retries then break end
    local delay = backoff(step, attempt)
    log.warn(string.format("step %s failed (attempt %d of %d), retrying in %.1fs: %s", step.name, attempt,
      retries + 1, delay, one_line(value)))
    if not pcall(alaris.sleep, delay) then break end
  end
  result.duration = alaris.now() - started
  if ok then
    local stored, withheld
    value, stored, withheld = journaled_output(step, value)
    result.status, result.output = "ok", stored
    self.outputs[step.name] = value
    self.completed[#self.completed + 1] = { index = i, output = value }
    self:record({ event = "step_done", step = step.name, output = stored, withheld = withheld,
      duration_ms = math.floor(result.duration * 1000) }, { output = true })
    self.console:step_finished(self:label(i), "ok", result.duration)
    return true
  end
  result.status = "failed"
  result.error = one_line(value)
  self:record { event = "step_failed", step = step.name, error = tostring(value), duration_ms = math.floor(result.duration * 1000) }
  self.console:step_finished(self:label(i), "failed", result.duration, result.error)
  if traceback and log.enabled("debug") then self.console:detail(alaris.mask(tostring(traceback))) end
  return false
end

-- Undoes the completed steps, newest first. Returns true when every rollback succeeded.
function Run:rollback()
  local all_ok = true
  for k = #self.completed, 1, -1 do
    local c = self.completed[k]
    local step, result = self.pb.steps[c.index], self.results[c.index]
    local label = "undo " .. step.name
    if step.rollback then
      self.console:step_started(label)
      local started = alaris.now()
      local ok, err = call_in_task(step.rollback, step.timeout, self:step_ctx(step), c.output)
      local took = alaris.now() - started
      if ok then
        result.status = "rolled_back"
        self:record { event = "step_rolled_back", step = step.name }
        self.console:step_finished(label, "rolled back", took)
      else
        all_ok = false
        result.status = "rollback_failed"
        result.rollback_error = one_line(err)
        self:record { event = "rollback_failed", step = step.name, error = tostring(err) }
        self.console:step_finished(label, "rollback failed", took, result.rollback_error)
      end
    else
      self:record { event = "step_rolled_back", step = step.name, nothing_to_undo = true }
      self.console:step_finished(label, "ok", nil, "nothing to undo (no rollback hook)")
    end
  end
  return all_ok
end

function Run:finish(result, code)
  self.result, self.exit_code = result, code
  self:record { event = "run_finished", result = result, exit_code = code }
  local texts = {
    ok = "ok", failed = "failed; completed steps rolled back", rollback_incomplete =
      "failed; rollback incomplete: see the journal, fix the cause, then --rollback", interrupted =
      "interrupted; completed steps rolled back", failed_no_rollback = "failed; rollback skipped (--no-rollback): undo later with --rollback",
    rolled_back = "rolled back", planned = "plan complete",
  }
  self.console:summary(string.format("%s %s: %s", code == 0 and "DONE" or "FAILED", self.pb.name, texts[result] or result),
    code == 0 and "ok" or "failed")
  if self.journal and code ~= 0 then self.console:detail("journal: " .. self.journal.path) end
  self.console:close()
  if self.journal then self.journal:close() end
  self:write_reports()
  return code
end

function Run:write_reports()
  local doc = {
    playbook = self.pb.name, vars = self.opts.shown_vars, steps = self.results, result = self.result,
    exit_code = self.exit_code, dry_run = self.opts.dry_run,
  }
  if self.opts.output == "json" then prelude.document_write(report.json_document(doc), "\n") end
  if self.opts.junit then
    local f, err = io.open(self.opts.junit, "w")
    if f then f:write(report.junit(doc)); f:close() else log.error("cannot write the JUnit report: " .. err) end
  end
end

function Run:after_failure()
  if alaris.interrupted() then log.warn("interrupted: rolling back (interrupt again to stop at once)") end
  if self.opts.no_rollback then return self:finish("failed_no_rollback", EXIT.failed) end
  if not self:rollback() then return self:finish("rollback_incomplete", EXIT.incomplete) end
  if alaris.interrupted() then return self:finish("interrupted", EXIT.interrupted) end
  return self:finish("failed", EXIT.failed)
end

function Run:execute(first_index)
  local selected = select_steps(self.pb, self.opts)
  for i = first_index, #self.pb.steps do
    if selected[i] then
      if alaris.interrupted() or not self:run_step(i) then return self:after_failure() end
    end
  end
  if alaris.interrupted() then return self:after_failure() end
  return self:finish("ok", EXIT.ok)
end

local function plan_step(run, i)
  local step, result = run.pb.steps[i], run.results[i]
  if not step.plan then
    result.status = "ok"
    run.console:step_finished(run:label(i), "would run")
    return true
  end
  local started = alaris.now()
  local ok, value = call_in_task(step.plan, step.timeout, run:step_ctx(step))
  result.duration = alaris.now() - started
  if not ok then
    result.status, result.error = "failed", one_line(value)
    run.console:step_finished(run:label(i), "failed", result.duration, result.error)
    return false
  end
  result.status = "ok"
  run.console:step_finished(run:label(i), "planned")
  local lines = type(value) == "table" and value or (value ~= nil and { tostring(value) } or {})
  for _, line in ipairs(lines) do run.console:detail(tostring(line)) end
  return true
end

local function dry_run(pb, opts)
  local run = new_run(pb, opts)
  local selected = select_steps(pb, opts)
  local n = 0
  for i = 1, #pb.steps do if selected[i] then n = n + 1 end end
  run.console:start(pb, n, "dry-run")
  for i = 1, #pb.steps do
    if selected[i] and not plan_step(run, i) then return run:finish("failed", EXIT.failed) end
  end
  return run:finish("planned", EXIT.ok)
end

local function usage(msg)
  io.stderr:write("alaris-run: ", alaris.mask(msg), "\n")
  return EXIT.usage
end

local function same_vars(recorded, shown)
  for k, v in pairs(shown or {}) do
    if type(v) ~= "table" and recorded and recorded[k] ~= nil and recorded[k] ~= v then return false, k end
  end
  return true
end

-- Reads the journal for --resume/--rollback; returns the state or nil and the usage error line.
local function journaled_state(pb, opts, what)
  local records, err = journal.read(opts.journal)
  if not records then return nil, string.format("%s: %s", what, err) end
  local state, why = journal.state(records)
  if not state then return nil, string.format("%s: %s: %s", what, opts.journal, why) end
  if state.playbook ~= pb.name then
    return nil, string.format("%s: the journal %s belongs to playbook '%s', not '%s'", what, opts.journal,
      tostring(state.playbook), pb.name)
  end
  local same, var = same_vars(state.vars, opts.shown_vars)
  if not same then
    return nil, string.format("%s: var '%s' differs from the journaled run's", what, var)
  end
  return state
end

local function index_of(pb, name)
  for i, step in ipairs(pb.steps) do if step.name == name then return i end end
end

-- Says which journaled outputs were withheld (they held secrets), so that nobody takes their absence for a bug.
local function tell_withheld(c)
  if not c.withheld then return end
  local where = {}
  for _, path in ipairs(c.withheld) do where[#where + 1] = path == "" and "its whole output" or path end
  log.warn(string.format("step %s: %s withheld from the journal (it held a secret): not handed to the step again; "
    .. "a step that needs a secret it generated reads it back from where it stored it", c.step,
    table.concat(where, ", ")))
end

local function restore_completed(run, state)
  for _, c in ipairs(state.completed) do
    local i = index_of(run.pb, c.step)
    if i then
      run.completed[#run.completed + 1] = { index = i, output = c.output }
      run.outputs[c.step] = c.output
      run.results[i].status = "ok"
      tell_withheld(c)
    end
  end
end

-- The fields every record that opens a run, a resume or a rollback carries: who holds the journal, since when.
local function opener(event, pb, fields)
  fields.event, fields.playbook = event, pb.name
  fields.pid, fields.started = journal.pid(), journal.timestamp(alaris.time())
  return fields
end

local function resume(pb, opts, j)
  local state, err = journaled_state(pb, opts, "--resume")
  if not state then return usage(err) end
  if state.finished and (state.result == "ok" or #state.completed == 0) then
    return usage(string.format("--resume: the run journaled in %s has finished (%s): nothing to resume", opts.journal, state.result))
  end
  local run = new_run(pb, opts)
  restore_completed(run, state)
  local last = 0
  for _, c in ipairs(run.completed) do last = math.max(last, c.index) end
  run.journal = j
  run:record(opener("run_resumed", pb, { vars = opts.shown_vars, after = last > 0 and pb.steps[last].name or nil }))
  run.console:start(pb, #pb.steps - last, "resume")
  for i = 1, last do
    if run.results[i].status == "ok" then run.console:step_finished(run:label(i), "ok", nil, "done earlier") end
  end
  return run:execute(last + 1)
end

local function rollback_only(pb, opts, j)
  local state, err = journaled_state(pb, opts, "--rollback")
  if not state then return usage(err) end
  if state.finished and state.result == "ok" then
    return usage(string.format("--rollback: the run journaled in %s succeeded; it is not undone by --rollback", opts.journal))
  end
  local run = new_run(pb, opts)
  restore_completed(run, state)
  if #run.completed == 0 then
    run.console:summary("nothing to roll back: no completed step is recorded in " .. opts.journal, "ok")
    run.console:close()
    return EXIT.ok
  end
  run.journal = j
  run:record(opener("rollback_started", pb, {}))
  run.console:start(pb, #run.completed, "rollback")
  if run:rollback() then return run:finish("rolled_back", EXIT.ok) end
  return run:finish("rollback_incomplete", EXIT.incomplete)
end

-- Why a new run may not replace what the journal holds (steps done and not undone, by any playbook), or nil.
local function left_in_place(pb, opts)
  local records, err = journal.read(opts.journal)
  if not records then return err end
  local state = journal.state(records)
  if not state or #state.completed == 0 or (state.finished and state.result == "ok") then return nil end
  if state.playbook ~= pb.name then
    return string.format("the journal %s holds a run of playbook '%s' whose completed steps are still in place: "
      .. "undo them with that playbook's --rollback, or give another --journal", opts.journal, tostring(state.playbook))
  end
  if not state.finished then
    return string.format("an unfinished run is journaled in %s: continue it with --resume or undo it with --rollback",
      opts.journal)
  end
  return string.format("the run journaled in %s left completed steps in place (%s): undo them with --rollback first",
    opts.journal, state.result)
end

local function fresh_run(pb, opts, j)
  local refused = left_in_place(pb, opts)
  if refused then return usage(refused) end
  local run = new_run(pb, opts)
  j:truncate()
  run.journal = j
  local names = {}
  for i, step in ipairs(pb.steps) do names[i] = step.name end
  run:record(opener("run_started", pb, { vars = opts.shown_vars, steps = names }))
  local selected, n = select_steps(pb, opts), 0
  for i = 1, #pb.steps do if selected[i] then n = n + 1 end end
  run.console:start(pb, n)
  return run:execute(1)
end

-- opts.journal_sync = false: no fsync per record (bench/journal_fsync.lua measures what it costs).
function runner.run(pb, opts)
  alaris.shield_interrupts() -- a signal reaches the runner at a wait, where it can roll back, never mid-bookkeeping
  opts.journal = opts.journal or journal.default_path(pb, opts.vars)
  if opts.output == "json" then prelude.stdout_to_stderr() end -- stdout is for the document alone
  if opts.dry_run then return dry_run(pb, opts) end
  if (opts.resume or opts.rollback) and not journal.exists(opts.journal) then
    return usage(string.format("%s: no journal at %s", opts.resume and "--resume" or "--rollback", opts.journal))
  end
  local j, err = journal.open(opts.journal, { sync = opts.journal_sync })
  if not j then return usage(err) end -- another run holds it, or it cannot be made
  local mode = opts.resume and resume or opts.rollback and rollback_only or fresh_run
  local code = mode(pb, opts, j)
  j:close() -- and the lock with it
  return code
end

return runner
