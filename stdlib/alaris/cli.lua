-- The command line of alaris-run: options, loading FILE, and the choice between running a playbook (through
-- alaris.runner) and a plain Lua script (as `lua FILE args` would). Bad usage is one line on stderr and exit 2.
require "alaris.prelude"
local alaris = require "alaris"
local log = require "alaris.log"

local cli = {}

local USAGE = [[
usage: alaris-run [options] FILE [NAME=VALUE ...]

Runs the playbook FILE returns (or FILE as a plain Lua script).

options:
  -n, --dry-run        plan: call each step's plan, change nothing
      --var-file F     read vars from a YAML or JSON file (NAME=VALUE arguments win)
      --only S[,S]     run only these steps
      --from S         start at step S
      --tags T[,T]     run only the steps with one of these tags
      --list           list the playbook's steps and vars
      --no-rollback    on failure, leave completed steps in place (undo later with --rollback)
      --journal F      the journal file (default .alaris/journal/<playbook>--<vars>.jsonl)
      --resume         continue an unfinished run after its last completed step
      --rollback       undo the completed steps of an unfinished or failed run
      --output FORMAT  text (default) or json (one document on stdout at the end)
      --junit F        write a JUnit XML report, one testcase per step
  -v, --verbose        more detail (debug logs, tracebacks)
  -q, --quiet          warnings and errors only
      --version        print the version
  -h, --help           this help; after FILE: the playbook's description, vars and steps

exit codes: 0 ok, 1 failed and rolled back, 2 bad usage or input (nothing done),
            3 failed and rollback incomplete, 130 interrupted and rolled back
]]

local function usage_error(fmt, ...)
  error(alaris.error("usage", string.format(fmt, ...), { usage = true }), 0)
end

local FLAGS = {
  ["-n"] = "dry_run", ["--dry-run"] = "dry_run", ["--list"] = "list", ["--no-rollback"] = "no_rollback",
  ["--resume"] = "resume", ["--rollback"] = "rollback", ["-v"] = "verbose", ["--verbose"] = "verbose",
  ["-q"] = "quiet", ["--quiet"] = "quiet", ["--version"] = "version", ["-h"] = "help", ["--help"] = "help",
}
local VALUED = {
  ["--var-file"] = "var_file", ["--only"] = "only", ["--from"] = "from", ["--tags"] = "tags", ["--journal"] = "journal",
  ["--output"] = "output", ["--junit"] = "junit",
}

-- Parses options from args[i..]; stops at the first non-option unless `all` (then NAME=VALUE pairs are collected).
local function parse(args, i, opts, all)
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    if FLAGS[name] and not value then
      opts[FLAGS[name]] = true
    elseif VALUED[name] then
      if not value then
        i = i + 1
        value = args[i]
        if value == nil then usage_error("option %s needs a value", name) end
      end
      opts[VALUED[name]] = value
    elseif a == "--" then
      return i + 1
    elseif a:sub(1, 1) == "-" and #a > 1 then
      usage_error("unknown option %s (see alaris-run --help)", a)
    elseif all then
      local k, v = a:match("^([%a_][%w_]*)=(.*)$")
      if not k then usage_error("unexpected argument %q: vars are given as NAME=VALUE", a) end
      opts.given[k] = v
    else
      return i
    end
    i = i + 1
  end
  return i
end

local function set_of(list)
  if not list then return nil end
  local set = {}
  for item in list:gmatch("[^,]+") do set[item:match("^%s*(.-)%s*$")] = true end
  return set
end

-- What a var file may expand to (its aliases followed): far more than vars need, far less than an alias bomb.
local VAR_FILE_LIMIT = 4 * 1024 * 1024

local function read_var_file(path)
  local f, err = io.open(path, "rb")
  if not f then usage_error("--var-file: %s", err) end
  local text, rerr = f:read("a")
  f:close()
  if not text then usage_error("--var-file %s: %s", path, tostring(rerr)) end
  local json = require "alaris.json"
  local codec = path:match("%.json$") and json or require "alaris.yaml"
  local ok, value, derr = pcall(codec.decode, text)
  if not ok or value == nil then
    usage_error("--var-file %s: %s", path, tostring(ok and derr or value):match("[^\n]*"))
  end
  if type(value) ~= "table" or value[1] ~= nil or getmetatable(value) == getmetatable(json.array({})) then
    usage_error("--var-file %s: expected a map of NAME: VALUE", path)
  end
  local fits, why = pcall(log.check_expanded_size, value, VAR_FILE_LIMIT)
  if not fits then usage_error("--var-file %s: %s", path, why) end
  return value
end

local function describe_vars(pb)
  local names = {}
  for name in pairs(pb.vars) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    local d = pb.vars[name]
    local facts = { d.type or "string" }
    if d.required then facts[#facts + 1] = "required" end
    if d.secret then facts[#facts + 1] = "secret" end
    if d.default ~= nil then facts[#facts + 1] = "default " .. (d.secret and "***" or tostring(d.default)) end
    if d.pattern then facts[#facts + 1] = "pattern " .. d.pattern end
    lines[#lines + 1] = string.format("  %-20s %s%s", name, table.concat(facts, ", "),
      d.description and ("\n  " .. string.rep(" ", 21) .. d.description) or "")
  end
  return #lines > 0 and table.concat(lines, "\n") or "  (none)"
end

local function describe_steps(pb)
  local lines = {}
  for i, step in ipairs(pb.steps) do
    local extra = {}
    if step.tags and #step.tags > 0 then extra[#extra + 1] = "tags: " .. table.concat(step.tags, ",") end
    if step.timeout then extra[#extra + 1] = "timeout " .. step.timeout .. "s" end
    if step.retries then extra[#extra + 1] = "retries " .. step.retries end
    if not step.rollback then extra[#extra + 1] = "no rollback" end
    lines[#lines + 1] = string.format("  %2d. %-28s %s%s", i, step.name, table.concat(extra, "; "),
      step.description and ("\n      " .. step.description) or "")
  end
  return table.concat(lines, "\n")
end

local function playbook_help(pb, file)
  return string.format("%s — %s\n\nusage: alaris-run [options] %s [NAME=VALUE ...]\n\nvars:\n%s\n\nsteps:\n%s\n",
    pb.name, pb.description or "(no description)", file, describe_vars(pb), describe_steps(pb))
end

local function run_playbook(pb, file, opts)
  local vars = require "alaris.vars"
  local runner = require "alaris.runner"
  if opts.help then io.stdout:write(playbook_help(pb, file)); return 0 end
  if opts.list then
    io.stdout:write(string.format("steps:\n%s\n\nvars:\n%s\n", describe_steps(pb), describe_vars(pb)))
    return 0
  end
  if opts.output and opts.output ~= "text" and opts.output ~= "json" then
    usage_error("--output must be text or json, not %q", opts.output)
  end
  if (opts.resume and opts.rollback) or ((opts.resume or opts.rollback) and opts.dry_run) then
    usage_error("--resume, --rollback and --dry-run exclude one another")
  end
  local file_values = opts.var_file and read_var_file(opts.var_file) or nil
  local values, err = vars.resolve(pb.vars, opts.given, file_values)
  if not values then usage_error("%s", err) end
  local run_opts = {
    vars = values, shown_vars = vars.shown(pb.vars, values), dry_run = opts.dry_run, only = set_of(opts.only),
    from = opts.from, tags = set_of(opts.tags), no_rollback = opts.no_rollback, journal = opts.journal,
    resume = opts.resume, rollback = opts.rollback, output = opts.output or "text", junit = opts.junit,
  }
  local bad = runner.check_selection(pb, run_opts)
  if bad then usage_error("%s", bad) end
  return runner.run(pb, run_opts)
end

local function load_file(file)
  local f = io.open(file, "rb")
  if not f then usage_error("cannot open %s", file) end
  f:close()
  local chunk, err = loadfile(file, "t")
  if not chunk then usage_error("%s", err) end
  return chunk
end

-- Runs FILE's chunk. An error raised while a playbook loads (it requires alaris.playbook) is bad input: one line,
-- exit 2, nothing run. A plain script's error is its own failure and stays one (exit 1).
local function run_chunk(chunk, file, script_args)
  local results = table.pack(xpcall(chunk, debug.traceback, table.unpack(script_args, 1, #script_args)))
  if results[1] then return table.unpack(results, 2, results.n) end
  local f = io.open(file, "rb")
  local source = f and f:read("a") or ""
  if f then f:close() end
  local err = results[2]
  local usage = type(err) == "table" and err.usage -- a malformed playbook definition says so itself
  if not usage and source:find("alaris%.playbook") and not alaris.interrupted() then
    usage_error("cannot load the playbook: %s", alaris.mask(tostring(err)):match("^[^\n]*"))
  end
  error(err, 0)
end

local function apply_log_level(opts)
  if opts.verbose then log.set_level("debug") elseif opts.quiet then log.set_level("warn") end
end

local function main(argv)
  local opts = { given = {} }
  local i = parse(argv, 1, opts, false)
  if opts.version then io.stdout:write("alaris-run ", alaris.version, " (", _VERSION, ")\n"); return 0 end
  local file = argv[i]
  if not file then
    if opts.help then io.stdout:write(USAGE); return 0 end
    usage_error("no FILE given (see alaris-run --help)")
  end
  apply_log_level(opts)
  local chunk = load_file(file)
  local script_args = { [0] = file }
  for k = 0, i - 1 do script_args[k - i] = argv[k] end
  for k = i + 1, #argv do script_args[k - i] = argv[k] end
  _G.arg = script_args
  local pb = run_chunk(chunk, file, script_args)
  local playbook = require "alaris.playbook"
  if not playbook.is_playbook(pb) then return 0 end
  parse(argv, i + 1, opts, true)
  if opts.version then usage_error("--version goes before FILE") end
  apply_log_level(opts)
  return run_playbook(pb, file, opts)
end

function cli.main(argv)
  local ok, result = xpcall(main, function(e)
    if type(e) == "table" and e.usage then return e end
    return debug.traceback(e, 2)
  end, argv)
  if ok then return math.tointeger(result) or 0 end
  if type(result) == "table" and result.usage then
    io.stderr:write("alaris-run: ", alaris.mask(tostring(result.message)), "\n")
    return 2
  end
  if alaris.interrupted() then
    io.stderr:write("alaris-run: interrupted\n")
    return 130
  end
  local msg = alaris.mask(tostring(result)) -- before cutting: the cut could fall inside a secret
  if not log.enabled("debug") then msg = msg:match("^(.-)\nstack traceback:") or msg end
  io.stderr:write("alaris-run: ", msg, "\n")
  return 1
end

return cli
