-- The runner as a user meets it through alaris-run: step order, rollbacks, journal, resume, interrupts, retries,
-- timeouts, dry-run, step selection, reports and secret masking.
local T = require "testing"
local json = require "alaris.json"

local RUN = T.alaris_run
local PB = "tests/playbooks/steps.lua"

local function setup()
  local dir = T.tmpdir()
  return dir, dir .. "/trace", dir .. "/journal.jsonl"
end

local function run(dir, args)
  return T.run(string.format("%s %s %s --journal %s/journal.jsonl trace=%s/trace", RUN, args.before or "", PB, dir, dir)
    .. " " .. (args.vars or ""))
end

local function lines(path)
  local out = {}
  for line in (T.read_file(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function journal_events(path)
  local events = {}
  for _, line in ipairs(lines(path)) do
    local rec = json.decode(line)
    events[#events + 1] = rec.event .. (rec.step and (" " .. rec.step) or "")
  end
  return events
end

-- Starts alaris-run in the background, waits until the trace shows `marker`, sends the signals, returns the exit code
-- and how long the process lived after the last signal.
local function interrupt(dir, vars, marker, signals)
  local script = string.format([[
%s %s --journal %s/journal.jsonl trace=%s/trace %s >%s/out 2>%s/err &
pid=$!
i=0
while ! grep -q %s %s/trace 2>/dev/null; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.05; done
for s in %s; do kill -$s $pid; sleep 0.3; done
start=$(date +%%s%%N)
wait $pid
code=$?
end=$(date +%%s%%N)
echo "$code $(( (end - start) / 1000000 ))"
]], RUN, PB, dir, dir, vars, dir, dir, T.sh_quote(marker), dir, signals)
  local out = T.run(script)
  local code, ms = out:match("(%d+) (%d+)")
  return tonumber(code), tonumber(ms)
end

T.test("steps run in order and succeed", function()
  local dir, trace, journal = setup()
  local out, err, code = run(dir, {})
  T.eq(code, 0, err)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "run c" })
  T.contains(out, "[1/3] a")
  T.contains(out, "DONE steps")
  T.eq(journal_events(journal), { "run_started", "step_started a", "step_done a", "step_started b", "step_done b",
    "step_started c", "step_done c", "run_finished" })
  local b_done = json.decode(lines(journal)[5])
  T.eq(b_done.output, { step = "b", previous = "a" }, "a step sees earlier outputs in ctx.outputs")
end)

T.test("the default journal is named after the playbook and its non-secret vars", function()
  local dir = T.tmpdir()
  local here = T.run("pwd"):gsub("\n$", "")
  local _, err, code = T.run(string.format("cd %s && %s %s/%s trace=%s/trace password=hidden-pw-123", dir, RUN,
    here, PB, dir))
  T.eq(code, 0, err)
  local listing = T.run("ls " .. dir .. "/.alaris/journal/")
  T.contains(listing, "steps--")
  T.contains(listing, "tenant=acme")
  T.not_contains(listing, "hidden-pw-123")
  T.not_contains(listing, "password")
end)

T.test("a failing step rolls back the completed steps in reverse order and exits 1", function()
  local dir, trace, journal = setup()
  local out, err, code = run(dir, { vars = "fail=c" })
  T.eq(code, 1)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
  T.contains(out, "failed")
  T.contains(out, "step c failed")
  local events = journal_events(journal)
  T.eq(events[#events], "run_finished")
  T.eq(events[#events - 2], "step_rolled_back b")
  T.eq(events[#events - 1], "step_rolled_back a")
end)

T.test("a failing rollback is reported, the others still run, exit 3", function()
  local dir, trace = setup()
  local out, _, code = run(dir, { vars = "fail=c rollback_fail=b" })
  T.eq(code, 3)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
  T.contains(out, "rollback failed")
  T.contains(out, "cannot undo b")
end)

T.test("--no-rollback leaves completed steps, and --rollback undoes them later", function()
  local dir, trace = setup()
  local _, _, code = run(dir, { before = "--no-rollback", vars = "fail=c" })
  T.eq(code, 1)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c" })
  local _, err2, code2 = run(dir, {})
  T.eq(code2, 2, "a new run over a run with steps left in place is refused")
  T.contains(err2, "--rollback")
  local _, _, code3 = run(dir, { before = "--rollback" })
  T.eq(code3, 0)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
end)

T.test("a step timeout fails the step and rolls back", function()
  local dir, trace = setup()
  local out, _, code = run(dir, { vars = "slow=c sleep=10" })
  T.eq(code, 1)
  T.contains(out, "timed out after 2s")
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
end)

T.test("retries run a failing step again until it succeeds", function()
  local dir, trace = setup()
  local _, err, code = run(dir, { vars = "flaky=b" })
  T.eq(code, 0, err)
  T.eq(lines(trace), { "start a", "run a", "start b", "start b", "start b", "run b", "start c", "run c" })
  T.contains(err, "retrying")
end)

T.test("SIGINT in the middle of a step rolls back and exits 130", function()
  local dir, trace = setup()
  local code = interrupt(dir, "slow=b", "start b", "INT")
  T.eq(code, 130)
  T.eq(lines(trace), { "start a", "run a", "start b", "undo a a" })
  local events = journal_events(dir .. "/journal.jsonl")
  T.eq(events[#events], "run_finished")
end)

T.test("a signal while the runner itself is busy (journaling a big output) still rolls back", function()
  local dir, trace = setup()
  local code = interrupt(dir, "big=2000000", "run b", "INT")
  T.eq(code, 130)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "undo b b", "undo a a" })
end)

T.test("SIGTERM is handled like SIGINT", function()
  local dir, trace = setup()
  local code = interrupt(dir, "slow=b", "start b", "TERM")
  T.eq(code, 130)
  T.eq(lines(trace), { "start a", "run a", "start b", "undo a a" })
end)

T.test("a second signal stops at once with 130 and keeps the journal", function()
  local dir, trace = setup()
  local code, ms = interrupt(dir, "slow=b slow_rollback=a sleep=20", "start b", "INT INT")
  T.eq(code, 130)
  T.ok(ms < 3000, "stopped at once, not after the slow rollback (took " .. tostring(ms) .. " ms)")
  T.eq(lines(trace), { "start a", "run a", "start b", "undo a a" })
  local events = journal_events(dir .. "/journal.jsonl")
  T.ok(events[#events] ~= "run_finished", "the journal shows the run unfinished")
end)

T.test("kill -9 then --resume continues after the last completed step", function()
  local dir, trace = setup()
  local code = interrupt(dir, "slow=b", "start b", "KILL")
  T.eq(code, 137)
  T.eq(lines(trace), { "start a", "run a", "start b" })
  local out, err, code2 = run(dir, { before = "--resume" })
  T.eq(code2, 0, err)
  T.eq(lines(trace), { "start a", "run a", "start b", "start b", "run b", "start c", "run c" })
  T.contains(out, "done earlier")
  local records = lines(dir .. "/journal.jsonl")
  local last_b
  for _, line in ipairs(records) do
    local rec = json.decode(line)
    if rec.event == "step_done" and rec.step == "b" then last_b = rec end
  end
  T.eq(last_b.output.previous, "a", "outputs of steps done before the crash are restored from the journal")
  local _, err3, code3 = run(dir, { before = "--resume" })
  T.eq(code3, 2, "nothing left to resume")
  T.contains(err3, "nothing to resume")
end)

T.test("kill -9 then --rollback undoes the completed steps", function()
  local dir, trace = setup()
  T.eq(interrupt(dir, "slow=c", "start c", "KILL"), 137)
  local _, err, code = run(dir, { before = "--rollback" })
  T.eq(code, 0, err)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
  local _, _, again = run(dir, { before = "--rollback" })
  T.eq(again, 0, "a second --rollback finds nothing to undo")
  T.eq(#lines(trace), 7)
end)

T.test("a fresh run refuses to start over an unfinished journaled run", function()
  local dir = setup()
  T.eq(interrupt(dir, "slow=b", "start b", "KILL"), 137)
  local _, err, code = run(dir, {})
  T.eq(code, 2)
  T.contains(err, "--resume")
end)

T.test("--resume and --rollback refuse a journal of another playbook", function()
  local dir = setup()
  T.write_file(dir .. "/journal.jsonl", json.encode({ event = "run_started", playbook = "other", vars = {} }) .. "\n")
  local _, err, code = run(dir, { before = "--resume" })
  T.eq(code, 2)
  T.contains(err, "belongs to playbook 'other'")
  local _, err2, code2 = run(dir, { before = "--rollback" })
  T.eq(code2, 2)
  T.contains(err2, "belongs to playbook 'other'")
end)

T.test("--dry-run calls plan and changes nothing", function()
  local dir, trace, journal = setup()
  local out, _, code = run(dir, { before = "--dry-run" })
  T.eq(code, 0)
  T.contains(out, "would create b")
  T.eq(T.read_file(trace), nil, "no step ran")
  T.eq(T.read_file(journal), nil, "no journal written")
end)

T.test("--only, --from and --tags select steps", function()
  local dir, trace = setup()
  T.eq(select(3, run(dir, { before = "--only b" })), 0)
  T.eq(lines(trace), { "start b", "run b" })
  dir, trace = setup()
  T.eq(select(3, run(dir, { before = "--from b" })), 0)
  T.eq(lines(trace), { "start b", "run b", "start c", "run c" })
  dir, trace = setup()
  T.eq(select(3, run(dir, { before = "--tags slow,setup" })), 0)
  T.eq(lines(trace), { "start a", "run a", "start c", "run c" })
  local _, err, code = run(dir, { before = "--only nope" })
  T.eq(code, 2)
  T.contains(err, "no step named 'nope'")
end)

T.test("--output json prints one document with every step's status", function()
  local dir = setup()
  local out, _, code = run(dir, { before = "--output json", vars = "fail=c" })
  T.eq(code, 1)
  local doc = json.decode(out)
  T.ok(doc, "stdout is one JSON document: " .. out)
  T.eq(doc.playbook, "steps")
  T.eq(doc.result, "failed")
  T.eq(#doc.steps, 3)
  T.eq(doc.steps[1].status, "rolled_back")
  T.eq(doc.steps[3].status, "failed")
  T.contains(doc.steps[3].error, "step c failed")
  T.ok(math.type(doc.steps[1].duration_ms) == "integer")
  T.eq(doc.vars.password, "***")
  T.eq(doc.vars.tenant, "acme")
end)

T.test("--output json gives each completed step's output, as the journal keeps it", function()
  local dir = setup()
  local out, err, code = run(dir, { before = "--output json" })
  T.eq(code, 0, err)
  local doc = json.decode(out)
  T.eq(doc.steps[2].output, { step = "b", previous = "a" })
  T.eq(doc.steps[3].output, json.decode(lines(dir .. "/journal.jsonl")[7]).output)
end)

T.test("--junit writes one testcase per step", function()
  local dir = setup()
  local _, _, code = run(dir, { before = "--only a,b --junit " .. dir .. "/junit.xml", vars = "fail=b" })
  T.eq(code, 1)
  local xml = T.read_file(dir .. "/junit.xml")
  T.contains(xml, '<testsuite name="steps" tests="3" failures="1"')
  T.contains(xml, 'name="b"')
  T.contains(xml, "<failure")
  T.contains(xml, "<skipped/>")
end)

T.test("a secret printed, raised and returned never shows in output, journal or reports", function()
  local dir = setup()
  local pw = "Sup3rS3cretValue-42"
  local out, err, code = run(dir, {
    before = "--junit " .. dir .. "/junit.xml",
    vars = "leak=b fail=c password=" .. pw,
  })
  T.eq(code, 1)
  local out2, err2 = run(dir, { before = "--output json --journal " .. dir .. "/j2.jsonl", vars = "leak=b fail=b password=" .. pw })
  for what, text in pairs { stdout = out, stderr = err, journal = T.read_file(dir .. "/journal.jsonl"),
    junit = T.read_file(dir .. "/junit.xml"), json = out2, stderr2 = err2, journal2 = T.read_file(dir .. "/j2.jsonl") } do
    T.not_contains(text, pw, what)
  end
  T.contains(out, "printing the password ***")
  T.contains(err, "stderr has ***")
  T.contains(err, "log has ***")
  T.contains(out2, "failed with ***")
  T.contains(T.read_file(dir .. "/journal.jsonl"), '"password":"***"')
end)

-- Starts alaris-run in the background and waits until the trace shows `marker`; returns its pid.
local function start_background(dir, vars, marker)
  local out = T.run(string.format([[
%s %s --journal %s/journal.jsonl trace=%s/trace %s >%s/out 2>%s/err &
i=0
while ! grep -q %s %s/trace 2>/dev/null; do i=$((i+1)); [ $i -gt 600 ] && break; sleep 0.05; done
echo $!
]], RUN, PB, dir, dir, vars, dir, dir, T.sh_quote(marker), dir))
  return tonumber(out:match("%d+"))
end

T.test("a second run on the same journal exits 2 naming the holder, and runs nothing", function()
  local dir, trace, journal = setup()
  local pid = start_background(dir, "slow=b sleep=20", "start b")
  local _, err, code = run(dir, {})
  T.run("kill -9 " .. pid)
  T.eq(code, 2, err)
  T.contains(err, "pid " .. pid)
  T.ok(err:match("started %d%d%d%d%-%d%d%-%d%dT"), "the holder's start time: " .. err)
  T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  T.eq(lines(trace), { "start a", "run a", "start b" }, "the second run ran nothing")
  T.eq(journal_events(journal), { "run_started", "step_started a", "step_done a", "step_started b" },
    "the holder's journal is untouched")
  local _, err2, code2 = run(dir, { before = "--rollback", vars = "slow=b sleep=20" })
  T.eq(code2, 0, "once the holder is gone its run can be undone: " .. err2)
end)

T.test("a journal holding another playbook's unfinished run is refused, not overwritten", function()
  local dir, trace, journal = setup()
  local before = json.encode({ event = "run_started", playbook = "other", vars = {} }) .. "\n"
    .. json.encode({ event = "step_done", step = "x", output = { id = 7 } }) .. "\n"
  T.write_file(journal, before)
  local _, err, code = run(dir, {})
  T.eq(code, 2)
  T.contains(err, "'other'")
  T.eq(T.read_file(journal), before)
  T.eq(T.read_file(trace), nil)
end)

T.test("default journal names differ when the vars differ only in characters a file name cannot carry", function()
  local dir = T.tmpdir()
  local here = T.run("pwd"):gsub("\n$", "")
  for _, value in ipairs { "acme corp", "acme_corp", "acme/corp" } do
    local _, err, code = T.run(string.format("cd %s && %s %s/%s trace=%s/trace fail=%s", dir, RUN, here, PB, dir,
      T.sh_quote(value)))
    T.eq(code, 0, err)
  end
  local listing = T.run("ls " .. dir .. "/.alaris/journal/")
  T.eq(select(2, listing:gsub("\n", "")), 3, listing)
end)

T.test("the journal is 0600 and not inherited by child processes", function()
  local dir, trace, journal = setup()
  local _, err, code = run(dir, { vars = "fds=b" })
  T.eq(code, 0, err)
  T.eq(T.run("stat -c %a " .. journal), "600\n")
  local fds = T.read_file(trace .. ".fds")
  T.contains(fds, "/proc/")
  T.not_contains(fds, "journal.jsonl")
end)

T.test("a record appended after a truncated last line starts on its own line", function()
  local dir, trace, journal = setup()
  T.write_file(journal, json.encode({ event = "run_started", playbook = "steps", vars = {} }) .. "\n"
    .. json.encode({ event = "step_done", step = "a", output = { step = "a" } }) .. "\n" .. '{"event":"step_do')
  local _, err, code = run(dir, { before = "--rollback" })
  T.eq(code, 0, err)
  T.eq(lines(trace), { "undo a a" })
  local text = T.read_file(journal)
  T.contains(text, '{"event":"step_do\n{')
  local last = json.decode(text:match("([^\n]+)\n$"))
  T.eq(last.event, "run_finished")
end)

T.test("secrets with quotes, backslashes, newlines and tabs are masked in the journal and the JSON output", function()
  local dir = setup()
  local pw = 'q"uo\\te\nnew\tline-secret'
  local out, err, code = run(dir, { before = "--output json", vars = "leak=b fail=c password=" .. T.sh_quote(pw) })
  T.eq(code, 1, err)
  local encoded = json.encode(pw):sub(2, -2)
  local journal = T.read_file(dir .. "/journal.jsonl")
  for what, text in pairs { journal = journal, json = out, stderr = err } do
    T.not_contains(text, encoded, what)
    T.not_contains(text, "line-secret", what)
    T.not_contains(text, 'q\\"uo', what)
  end
  T.ok(json.decode(out), "the JSON document still decodes")
end)

T.test("the first line of a multi-line secret does not leak through errors or log fields", function()
  local dir = setup()
  local pw = "first-line-secret\nsecond-line-secret"
  local out, err, code = run(dir, { before = "--junit " .. dir .. "/junit.xml",
    vars = "leak=b fail=b password=" .. T.sh_quote(pw) })
  T.eq(code, 1, err)
  for what, text in pairs { stdout = out, stderr = err, junit = T.read_file(dir .. "/junit.xml"),
    journal = T.read_file(dir .. "/journal.jsonl") } do
    T.not_contains(text, "first-line-secret", what)
    T.not_contains(text, "second-line-secret", what)
  end
  T.contains(out, "failed with ***")
end)

T.test("a secret that is part of a key or an event name leaves the JSON and the journal intact", function()
  local dir, trace = setup()
  local out, err, code = run(dir, { before = "--output json --journal " .. dir .. "/j2.jsonl", vars = "fail=c password=exit_code" })
  T.eq(code, 1, err)
  local doc = json.decode(out)
  T.ok(doc, "stdout is one JSON document: " .. out)
  T.eq(doc.exit_code, 1)
  T.eq(doc.result, "failed")
  T.eq(select(3, run(dir, { before = "--no-rollback", vars = "fail=c password=step_done" })), 1)
  local _, err2, code2 = run(dir, { before = "--rollback", vars = "password=step_done" })
  T.eq(code2, 0, err2)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a",
    "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
end)

T.test("a secret step output is withheld from the journal: --rollback hands the step no ***", function()
  local dir, trace, journal = setup()
  T.eq(interrupt(dir, "leak=b slow=c password=withheld-pw-1234", "start c", "KILL"), 137)
  T.not_contains(T.read_file(journal), "withheld-pw-1234")
  local _, err, code = run(dir, { before = "--rollback", vars = "leak=b password=withheld-pw-1234" })
  T.eq(code, 0, err)
  T.eq(lines(trace), { "start a", "run a", "start b", "run b", "start c", "undo b b", "undo a a" })
  T.contains(err, "withheld")
  T.contains(err, "password")
end)

T.test("a step output that expands past what a journal record may hold is dropped, not encoded", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/bomb.lua", [[
    local playbook = require "alaris.playbook"
    return playbook { name = "bomb", steps = { { name = "a", run = function()
      local t = { string.rep("x", 1 << 20) }
      for _ = 1, 12 do t = { t, t } end -- 1 MiB in memory, 4 GiB once written out
      return t
    end } } }
  ]])
  local _, err, code = T.run(string.format("timeout -k 5 60 %s --journal %s/j.jsonl %s", RUN, dir, file))
  T.eq(code, 0, err)
  T.contains(err, "its output cannot be journaled and was dropped")
  T.ok(#T.read_file(dir .. "/j.jsonl") < 10000, "the journal stays small")
end)

T.test("--output json: stdout carries only the document; what steps print goes to stderr", function()
  local dir = setup()
  local out, err, code = run(dir, { before = "--output json", vars = "leak=b" })
  T.eq(code, 0, err)
  local doc = json.decode(out)
  T.ok(doc, "stdout is one JSON document: " .. out)
  T.eq(doc.exit_code, 0)
  T.contains(err, "printing the password ***")
  T.contains(err, "a child process prints too")
end)

T.test("two alaris.sleep(1) in playbook.parallel overlap", function()
  local out, err, code = T.run_script([[
    local alaris = require "alaris"
    local playbook = require "alaris.playbook"
    local events = {}
    local t0 = alaris.now()
    local results = playbook.parallel {
      function() events[#events + 1] = "start1"; alaris.sleep(1); events[#events + 1] = "end1"; return 1 end,
      function() events[#events + 1] = "start2"; alaris.sleep(1); events[#events + 1] = "end2"; return 2 end,
    }
    print(table.concat(events, ","), results[1], results[2], string.format("%.2f", alaris.now() - t0))
  ]])
  T.eq(code, 0, err)
  local order, r1, r2, took = out:match("^(%S+)%s+(%d)%s+(%d)%s+([%d.]+)")
  T.eq(order, "start1,start2,end1,end2")
  T.eq({ r1, r2 }, { "1", "2" })
  T.ok(tonumber(took) < 1.5, "both sleeps overlapped: " .. tostring(took))
end)

T.test("playbook.parallel propagates the first error and cancels the rest", function()
  local out, err, code = T.run_script([[
    local alaris = require "alaris"
    local playbook = require "alaris.playbook"
    local cleaned = false
    local t0 = alaris.now()
    local ok, err = pcall(playbook.parallel, {
      function() alaris.sleep(0.1); error("boom") end,
      function()
        local guard <close> = setmetatable({}, { __close = function() cleaned = true end })
        alaris.sleep(10)
      end,
    })
    print(ok, err, cleaned, alaris.now() - t0 < 2)
  ]])
  T.eq(code, 0, err)
  T.contains(out, "false")
  T.contains(out, "boom")
  T.contains(out, "true\ttrue")
end)

T.test("for_each limits concurrency and keeps results in order", function()
  local out, err, code = T.run_script([[
    local alaris = require "alaris"
    local playbook = require "alaris.playbook"
    local running, peak = 0, 0
    local out = playbook.for_each({ 1, 2, 3, 4, 5, 6 }, { concurrency = 2 }, function(x)
      running = running + 1
      peak = math.max(peak, running)
      alaris.sleep(0.05)
      running = running - 1
      return x * 10
    end)
    print(table.concat(out, ","), peak)
  ]])
  T.eq(code, 0, err)
  T.eq(out, "10,20,30,40,50,60\t2\n")
end)

T.test("on a terminal a live elapsed time is drawn; NO_COLOR and pipes get plain text", function()
  local dir = setup()
  local cmd = string.format("%s %s --journal %s/j.jsonl trace=%s/trace slow=a sleep=0.5", RUN, PB, dir, dir)
  local out, _, code = T.run("TERM=xterm script -qfec " .. T.sh_quote("env -u NO_COLOR " .. cmd) .. " /dev/null")
  T.eq(code, 0)
  T.contains(out, "\r\27[K")
  T.contains(out, "\27[32mok")
  local dir2 = setup()
  local cmd2 = string.format("%s %s --journal %s/j.jsonl trace=%s/trace", RUN, PB, dir2, dir2)
  local out2 = T.run("NO_COLOR=1 script -qfec " .. T.sh_quote(cmd2) .. " /dev/null")
  T.not_contains(out2, "\27[32m")
  local piped = run(setup(), {})
  T.not_contains(piped, "\27[")
end)

T.run_all()
