-- The command line: options, help, plain scripts, vars and var files, and every bad-input path (exit 2, one line,
-- nothing run).
local T = require "testing"

local RUN = T.alaris_run
local PB = "tests/playbooks/steps.lua"

local function bad(args, expect, dir)
  dir = dir or T.tmpdir()
  local out, err, code = T.run(string.format("%s %s", RUN, args:gsub("TRACE", dir .. "/trace")))
  T.eq(code, 2, "exit code for: " .. args)
  T.contains(err, expect)
  local _, newlines = err:gsub("\n", "")
  T.eq(newlines, 1, "one line on stderr: " .. err)
  T.eq(T.read_file(dir .. "/trace"), nil, "no step ran for: " .. args)
  return out, err
end

T.test("--version and --help", function()
  local out, _, code = T.run(RUN .. " --version")
  T.eq(code, 0)
  T.ok(out:match("^alaris%-run %d+%.%d+%.%d+ %(Lua 5%.4%)"), out)
  local help, _, code2 = T.run(RUN .. " --help")
  T.eq(code2, 0)
  for _, opt in ipairs { "--dry-run", "--var-file", "--only", "--from", "--tags", "--list", "--no-rollback", "--journal",
    "--resume", "--rollback", "--output", "--junit", "--verbose", "--quiet", "--version" } do
    T.contains(help, opt)
  end
  T.contains(help, "130")
end)

T.test("FILE --help describes the playbook's vars and steps", function()
  local out, _, code = T.run(RUN .. " " .. PB .. " --help")
  T.eq(code, 0)
  T.contains(out, "steps — Three recorded steps")
  T.contains(out, "trace")
  T.contains(out, "required")
  T.contains(out, "password             string, secret, default ***")
  T.contains(out, "pattern ^[a-z][a-z0-9-]{0,40}$")
  T.contains(out, "tags: app,slow")
  T.not_contains(out, "s3cr3t-default-pw")
end)

T.test("--list shows steps and vars", function()
  local out, _, code = T.run(RUN .. " --list " .. PB)
  T.eq(code, 0)
  T.contains(out, " 1. a")
  T.contains(out, " 3. c")
  T.contains(out, "vars:")
end)

T.test("bad input exits 2 with one line and runs nothing", function()
  bad("--frobnicate " .. PB .. " trace=TRACE", "unknown option --frobnicate")
  bad(PB, "var 'trace' is required")
  bad(PB .. " trace=TRACE tenant=Not_Valid", "var 'tenant': \"Not_Valid\" does not match ^[a-z][a-z0-9-]{0,40}$")
  bad(PB .. " trace=TRACE count=many", "var 'count': \"many\" is not a valid integer")
  bad(PB .. " trace=TRACE dry=perhaps", "var 'dry': \"perhaps\" is not a valid boolean")
  bad(PB .. " trace=TRACE nosuch=1", "unknown var 'nosuch'")
  bad(PB .. " trace=TRACE stray", "vars are given as NAME=VALUE")
  bad("tests/does-not-exist.lua", "cannot open tests/does-not-exist.lua")
  bad("", "no FILE given")
  bad("--output yaml " .. PB .. " trace=TRACE", "--output must be text or json")
  bad("--journal", "option --journal needs a value")
  bad("--var-file /nonexistent.yaml " .. PB .. " trace=TRACE", "--var-file")
  bad("--resume --rollback " .. PB .. " trace=TRACE", "exclude one another")
end)

T.test("a Lua syntax error in the playbook exits 2 and names the line", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/broken.lua", "local playbook = require 'alaris.playbook'\nreturn playbook {\n  name = 'x'\n  steps = {}\n}\n")
  local _, err = bad(file, "broken.lua:4:", dir)
  T.contains(err, "'}' expected")
end)

T.test("a malformed playbook definition exits 2", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/nosteps.lua",
    "local playbook = require 'alaris.playbook'\nreturn playbook { name = 'x', steps = { { name = 'a' } } }\n")
  bad(file, "step 'a' has no run function", dir)
end)

T.test("a secret var given badly is not echoed", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/pw.lua", [[
    local playbook = require "alaris.playbook"
    return playbook { name = "pw", vars = { pw = { secret = true, type = "integer" } },
      steps = { { name = "a", run = function() end } } }
  ]])
  local _, err = bad(file .. " pw=hunter2hunter2", "var 'pw': the value is not a valid integer", dir)
  T.not_contains(err, "hunter2")
end)

T.test("vars come from a YAML or JSON var file, and arguments win", function()
  local dir = T.tmpdir()
  local yaml_file = T.write_file(dir .. "/vars.yaml", "trace: " .. dir .. "/trace\ntenant: from-file\ncount: 3\nitems: [x, y]\n")
  local json_file = T.write_file(dir .. "/vars.json", '{"trace": "' .. dir .. '/trace", "tenant": "json-tenant"}')
  local show = T.write_file(dir .. "/show.lua", [[
    local playbook = require "alaris.playbook"
    return playbook { name = "show",
      vars = { trace = {}, tenant = { required = true }, count = { type = "integer", default = 1 }, items = { type = "list" } },
      steps = { { name = "a", run = function(ctx)
        print(ctx.vars.tenant, ctx.vars.count, math.type(ctx.vars.count), ctx.vars.items and #ctx.vars.items or 0)
      end } } }
  ]])
  local journal = " --journal " .. dir .. "/j.jsonl "
  local out, err, code = T.run(RUN .. journal .. "--var-file " .. yaml_file .. " " .. show)
  T.eq(code, 0, err)
  T.contains(out, "from-file\t3\tinteger\t2")
  out = T.run(RUN .. journal .. "--var-file " .. yaml_file .. " " .. show .. " tenant=from-args items=a,b,c")
  T.contains(out, "from-args\t3\tinteger\t3")
  out = T.run(RUN .. journal .. "--var-file=" .. json_file .. " " .. show)
  T.contains(out, "json-tenant\t1\tinteger\t0")
  local extra = T.write_file(dir .. "/extra.yaml", "tenant: t\nunused: 1\n")
  local out2, err2, code2 = T.run(RUN .. journal .. "--var-file " .. extra .. " " .. show)
  T.eq(code2, 0, err2)
  T.contains(out2, "t\t1")
  T.contains(err2, "the var file sets 'unused', which this playbook does not take (ignored)")
end)

T.test("a secret var shorter than 4 characters is refused, and says why", function()
  bad(PB .. " trace=TRACE password=e", "var 'password': a secret must be at least 4 characters")
end)

T.test("every string inside a secret map or list var is masked", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/creds.lua", [[
    local playbook = require "alaris.playbook"
    return playbook { name = "creds", vars = { creds = { type = "map", secret = true }, keys = { type = "list", secret = true } },
      steps = { { name = "a", run = function(ctx)
        print("user " .. ctx.vars.creds.user .. " password " .. ctx.vars.creds.password .. " key " .. ctx.vars.keys[2])
      end } } }
  ]])
  local var_file = T.write_file(dir .. "/creds.yaml", "creds: {user: admin-user, password: map-member-secret}\n"
    .. "keys: [first-key-secret, second-key-secret]\n")
  local out, err, code = T.run(string.format("%s --journal %s/j.jsonl --var-file %s %s", RUN, dir, var_file, file))
  T.eq(code, 0, err)
  T.eq(out:match("user %S+ password %S+ key %S+"), "user *** password *** key ***")
  T.not_contains(T.read_file(dir .. "/j.jsonl"), "secret")
end)

T.test("a NUL byte in a string var is refused, even where the pattern would pass", function()
  local dir = T.tmpdir()
  local var_file = T.write_file(dir .. "/nul.json", '{"tenant": "acme\\u0000; drop"}')
  bad("--var-file " .. var_file .. " " .. PB .. " trace=TRACE", "var 'tenant': contains a NUL byte", dir)
end)

T.test("a var file whose aliases expand past the limit is refused with one line", function()
  local dir = T.tmpdir()
  local doc = { "l0: &l0 [lol, lol, lol, lol]" }
  for k = 1, 11 do
    doc[#doc + 1] = string.format("l%d: &l%d [*l%d, *l%d, *l%d, *l%d]", k, k, k - 1, k - 1, k - 1, k - 1)
  end
  doc[#doc + 1] = "items: *l11"
  local var_file = T.write_file(dir .. "/bomb.yaml", table.concat(doc, "\n") .. "\n")
  bad("--journal " .. dir .. "/j.jsonl --var-file " .. var_file .. " " .. PB .. " trace=TRACE", "--var-file", dir)
  T.eq(T.read_file(dir .. "/j.jsonl"), nil, "no journal written")
end)

T.test("more bad input: exit 2, one line, nothing run", function()
  local dir = T.tmpdir()
  local list = T.write_file(dir .. "/list.yaml", "- trace\n- tenant\n")
  bad("--var-file " .. list .. " " .. PB .. " trace=TRACE", "expected a map of NAME: VALUE", dir)
  bad("--var-file " .. dir .. " " .. PB .. " trace=TRACE", "Is a directory", dir)
  bad("--journal " .. dir .. " " .. PB .. " trace=TRACE", "Is a directory", dir)
  T.write_file(dir .. "/plain", "")
  local _, err = bad("--journal " .. dir .. "/plain/sub/j.jsonl " .. PB .. " trace=TRACE",
    "cannot create the journal folder " .. dir .. "/plain", dir)
  T.not_contains(err, "mkdir:")
  local raising = T.write_file(dir .. "/raising.lua", "local playbook = require 'alaris.playbook'\n"
    .. "local missing = require 'alaris.no_such_module'\nreturn playbook { name = 'x', steps = {} }\n")
  bad(raising, "raising.lua:2:", dir)
  local raising_table = T.write_file(dir .. "/raising_table.lua", "local playbook = require 'alaris.playbook'\n"
    .. "error(setmetatable({ message = 'an error value' }, { __tostring = function(e) return e.message end }))\n")
  bad(raising_table, "cannot load the playbook: an error value", dir)
end)

T.test("-v and -q work after FILE too", function()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/logs.lua", [[
    local playbook = require "alaris.playbook"
    return playbook { name = "logs", steps = { { name = "a", run = function(ctx)
      ctx.log.debug("debug line"); ctx.log.info("info line")
    end } } }
  ]])
  local journal = " --journal " .. dir .. "/j.jsonl"
  local _, err, code = T.run(RUN .. journal .. " " .. file .. " -q")
  T.eq(code, 0, err)
  T.not_contains(err, "info line")
  _, err = T.run(RUN .. journal .. " " .. file .. " -v")
  T.contains(err, "debug line")
end)

T.test("--dry-run reports steps without a plan as 'would run'", function()
  local out, _, code = T.run(RUN .. " --dry-run examples/rollback-demo.lua")
  T.eq(code, 0)
  T.contains(out, "PLAN rollback-demo")
  T.contains(out, "would run")
  T.not_contains(out, "rolled back")
end)

T.test("values registered with log.secret are masked in print, io.write, stderr and logs", function()
  local out, err, code = T.run_script([[
    local log = require "alaris.log"
    local token = "tok_" .. string.rep("z", 3) .. "_abc123"
    log.secret(token)
    print("print " .. token)
    io.write("write ", token, "\n")
    io.stdout:write("stdout ", token, "\n")
    io.stderr:write("stderr ", token, "\n")
    log.warn("log " .. token, { t = token })
    error("raised " .. token)
  ]])
  T.eq(code, 1)
  T.not_contains(out .. err, "tok_zzz_abc123")
  T.eq(out, "print ***\nwrite ***\nstdout ***\n")
  T.contains(err, "stderr ***")
  T.contains(err, "log ***  t=***")
  T.contains(err, "raised ***")
end)

T.test("log lines mask field values, never field names", function()
  local _, err, code = T.run_script([[
    local log = require "alaris.log"
    log.secret("tenant")
    log.warn("for tenant", { tenant = "tenant-a", count = 2 })
  ]])
  T.eq(code, 0, err)
  T.contains(err, "warn  for ***  count=2 tenant=***-a")
end)

T.test("a plain script runs with arg and ... as lua sets them", function()
  local out, _, code = T.run_script([[
    local a, b = ...
    print(arg[0]:match("script.lua$"), arg[1], arg[2], a, b, #arg)
    local alaris = require "alaris"
    alaris.sleep(0.01)
    os.exit(tonumber(arg[3] or 0))
  ]], "", "one two 7")
  T.eq(code, 7)
  T.eq(out, "script.lua\tone\ttwo\tone\ttwo\t3\n")
end)

T.test("a plain script's runtime error exits 1 with the message", function()
  local _, err, code = T.run_script("local x = nil\nprint(x.field)\n")
  T.eq(code, 1)
  T.contains(err, "script.lua:2: attempt to index a nil value")
end)

T.test("-q hides info logs, -v shows debug logs", function()
  local file = T.script([[
    local log = require "alaris.log"
    log.debug("debug line"); log.info("info line", { k = "v w" }); log.warn("warn line")
  ]])
  local _, err = T.run(RUN .. " " .. file)
  T.contains(err, 'info  info line  k="v w"')
  T.not_contains(err, "debug line")
  _, err = T.run(RUN .. " -q " .. file)
  T.not_contains(err, "info line")
  T.contains(err, "warn line")
  _, err = T.run(RUN .. " -v " .. file)
  T.contains(err, "debug line")
end)

T.test("examples/rollback-demo.lua fails its third step and rolls back the second, then the first", function()
  local dir = T.tmpdir()
  local out, _, code = T.run(RUN .. " --journal " .. dir .. "/j.jsonl examples/rollback-demo.lua")
  T.eq(code, 1)
  local third = out:find("deploy%-app .- failed")
  local undo2 = out:find("undo write%-secret .- rolled back")
  local undo1 = out:find("undo create%-namespace .- rolled back")
  T.ok(third and undo2 and undo1 and third < undo2 and undo2 < undo1, out)
end)

T.run_all()
