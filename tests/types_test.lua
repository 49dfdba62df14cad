-- The LuaLS type stubs in docs/types/ against the real modules, so the stubs cannot drift from the code: every
-- function a stub declares exists in the module (or on a real handle of the class), with as many parameters when
-- it is written in Lua, and every public function and field the module (or handle) has is declared in the stub.
-- It also checks the stubs' own shape: `---@meta` first, loadable in a sandbox, no globals, `---@param` names
-- matching the signatures, every alaris type named somewhere declared. It does not run lua-language-server, and needs no network: the handles are made
-- without a server (a client object makes no request until it is used).
local T = require "testing"
local alaris = require "alaris"

local ROOT = debug.getinfo(1, "S").source:match("^@(.-)tests/types_test%.lua$") or ""
local TYPES = ROOT .. "docs/types/"

local MODULES = {
  "alaris", "alaris.playbook", "alaris.log", "alaris.json", "alaris.yaml", "alaris.crypto", "alaris.http",
  "alaris.sigv4", "alaris.s3", "alaris.pg", "alaris.k8s", "alaris.digitalocean", "alaris.netpol",
  "alaris.tenant", "alaris.check", "alaris.lock", "alaris.platform", "alaris.operators", "alaris.cnpg",
  "alaris.onboarding", "alaris.recovery", "alaris.backup", "alaris.grade",
}

-- ---- reading a stub ----

local function read_stub(module)
  local path = TYPES .. module .. ".lua"
  local text = T.read_file(path)
  T.ok(text, "no stub file " .. path)
  return text, path
end

-- Runs a stub in an empty environment: reading a global raises, assigning one is recorded.
local function load_stub(path)
  local globals = {}
  local env = setmetatable({}, {
    __index = function(_, name) error("the stub reads the global " .. tostring(name), 2) end,
    __newindex = function(_, name) globals[#globals + 1] = tostring(name) end,
  })
  local chunk, err = loadfile(path, "t", env)
  T.ok(chunk, "the stub does not parse: " .. tostring(err))
  local ok, module = pcall(chunk)
  T.ok(ok, "the stub does not run: " .. tostring(module))
  return module, globals
end

local function split_params(list)
  local params = {}
  for p in list:gmatch("[^,%s]+") do params[#params + 1] = p end
  return params
end

local function annotation(block, tag)
  local found = {}
  for _, line in ipairs(block) do
    local rest = line:match("^%-%-%-@" .. tag .. "%s+(.*)$") or (line == "---@" .. tag and "")
    if rest then found[#found + 1] = rest end
  end
  return found
end

-- The declarations of a stub, from its text: classes bound to a table (`---@class Name` block, then
-- `local Var = {}`), and functions (`function Var.name(...)` / `function Var:name(...)`) with their annotation block.
local function parse_stub(text)
  local stub = { classes = {}, by_name = {}, functions = {}, stray = {} }
  local block = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    if line:match("^%-%-%-") then
      block[#block + 1] = line
    else
      local var = line:match("^local ([%w_]+) = {}%s*$")
      local owner, sep, name, params = line:match("^function ([%w_]+)([:.])([%w_]+)%s*%((.-)%)")
      local class = annotation(block, "class")[1]
      if var and class then
        local fields = {}
        for _, f in ipairs(annotation(block, "field")) do fields[f:match("^([%w_]+)")] = true end
        local c = { name = class:match("^([%w_.]+)"), var = var, fields = fields, methods = {},
          callable = #annotation(block, "overload") > 0 }
        stub.classes[var] = c
        stub.by_name[c.name] = c
      elseif owner then
        local fn = { owner = owner, method = sep == ":", name = name, params = split_params(params),
          private = #annotation(block, "private") > 0, block = block, line = line }
        stub.functions[#stub.functions + 1] = fn
        if stub.classes[owner] then stub.classes[owner].methods[name] = fn end
      elseif not (line:match("^%s*$") or line:match("^%-%-") or line:match("^return [%w_]+%s*$")) then
        stub.stray[#stub.stray + 1] = line -- code the checks would not see: only declarations belong in a stub
      end
      block = {}
    end
  end
  stub.module_var = text:match("\nreturn ([%w_]+)%s*$")
  return stub
end

-- ---- comparing ----

local function sorted_keys(set)
  local keys = {}
  for k in pairs(set) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Names in `a` and not in `b`, sorted.
local function missing(a, b)
  local out = {}
  for _, k in ipairs(sorted_keys(a)) do
    if not b[k] then out[#out + 1] = k end
  end
  return out
end

local function public_functions(t)
  local set = {}
  for k, v in pairs(t) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) == "function" then set[k] = v end
  end
  return set
end

local function public_values(t)
  local set = {}
  for k, v in pairs(t) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and type(v) ~= "function" then set[k] = v end
  end
  return set
end

-- The problems between what a stub declares and what the real table has, as lines (empty when they agree).
local function drift(what, declared, real)
  local problems = {}
  for _, name in ipairs(missing(declared, real)) do
    problems[#problems + 1] = string.format("%s: the stub declares %s, which does not exist", what, name)
  end
  for _, name in ipairs(missing(real, declared)) do
    problems[#problems + 1] = string.format("%s: %s exists but the stub does not declare it", what, name)
  end
  return problems
end

-- A stub function written over a Lua function must take as many parameters (counting self) and `...` alike.
local function arity_problems(what, fn, real)
  local info = debug.getinfo(real, "Su")
  if info.what ~= "Lua" then return {} end
  local params = fn.params
  local vararg = params[#params] == "..."
  local n = #params - (vararg and 1 or 0) + (fn.method and 1 or 0)
  if n ~= info.nparams or vararg ~= info.isvararg then
    return { string.format("%s.%s: the stub takes %d parameter(s)%s, the module's function %d%s", what, fn.name, n,
      vararg and " and ..." or "", info.nparams, info.isvararg and " and ..." or "") }
  end
  return {}
end

-- `---@param` annotations must name the signature's parameters, in order (LuaLS ignores a misnamed one).
local function param_problems(fn)
  local annotated = {}
  for _, p in ipairs(annotation(fn.block, "param")) do annotated[#annotated + 1] = p:match("^([%w_.]+)%??") end
  if #annotated == 0 then return {} end
  if table.concat(annotated, ",") ~= table.concat(fn.params, ",") then
    return { string.format("%s: ---@param names %s, the signature (%s)", fn.line, table.concat(annotated, ", "),
      table.concat(fn.params, ", ")) }
  end
  return {}
end

local function append(into, list)
  for _, v in ipairs(list) do into[#into + 1] = v end
end

local function assert_no_problems(problems)
  if #problems > 0 then error(table.concat(problems, "\n"), 2) end
end

-- ---- real handles, made without a server ----

local TOKEN = "types-test-token-6c1f0e27b9d4"

local function kubeconfig()
  return {
    apiVersion = "v1", kind = "Config", ["current-context"] = "lab",
    clusters = { { name = "lab", cluster = { server = "https://127.0.0.1:9" } } },
    users = { { name = "admin", user = { token = TOKEN } } },
    contexts = { { name = "lab", context = { cluster = "lab", user = "admin", namespace = "tenant-a" } } },
  }
end

local function methods_of(handle)
  local mt = getmetatable(handle)
  T.ok(type(mt) == "table" and type(mt.__index) == "table", "the handle has no methods table")
  return mt.__index
end

-- Class name -> function returning the methods table of a real handle of that class.
local HANDLES = {
  ["alaris.Task"] = function()
    local task = alaris.spawn(function() end)
    alaris.wait(task)
    return methods_of(task)
  end,
  ["alaris.Notifier"] = function() return methods_of(alaris.notifier()) end,
  ["alaris.s3.Client"] = function()
    local c <close> = assert(require("alaris.s3").client {
      endpoint = "http://127.0.0.1:9", access_key = "a", secret_key = TOKEN })
    return methods_of(c)
  end,
  ["alaris.digitalocean.Client"] = function()
    local dc <close> = assert(require("alaris.digitalocean").client { token = TOKEN, api_url = "http://127.0.0.1:9" })
    return methods_of(dc)
  end,
  ["alaris.k8s.Client"] = function()
    local kc <close> = assert(require("alaris.k8s").client { kubeconfig = kubeconfig(), in_cluster = false })
    return methods_of(kc)
  end,
  -- Listening on 127.0.0.1 is all port_forward does until a connection arrives.
  ["alaris.k8s.PortForward"] = function()
    local kc <close> = assert(require("alaris.k8s").client { kubeconfig = kubeconfig(), in_cluster = false })
    local pf <close> = assert(kc:port_forward("tenant-a", "pg-1", 5432))
    return methods_of(pf)
  end,
  -- A connection needs a server; every connection gets this metatable (tests/pg checks live connections).
  ["alaris.pg.Connection"] = function()
    require "alaris.pg"
    local mt = debug.getregistry()["alaris.pg.conn"]
    T.ok(type(mt) == "table", "no alaris.pg.conn metatable")
    return mt.__index
  end,
}

-- ---- the checks ----

local function module_problems(module)
  local text, path = read_stub(module)
  local stub = parse_stub(text)
  local declared = load_stub(path)
  local real = require(module)
  local problems = drift(module, public_functions(declared), public_functions(real))
  local class = T.ok(stub.classes[stub.module_var], module .. ": the returned table is not a ---@class")
  append(problems, drift(module .. " (fields)", class.fields, public_values(real)))
  for _, fn in ipairs(stub.functions) do
    if fn.owner == stub.module_var and type(real[fn.name]) == "function" then
      append(problems, arity_problems(module, fn, real[fn.name]))
    end
  end
  local mt = getmetatable(real)
  local callable = type(mt) == "table" and mt.__call ~= nil
  if callable ~= class.callable then
    problems[#problems + 1] = string.format("%s: the module is %scallable, the stub says %s", module,
      callable and "" or "not ", class.callable and "it is (---@overload)" or "it is not")
  end
  return problems
end

local function handle_problems(class)
  local real = HANDLES[class.name]()
  local problems = drift(class.name, class.methods, public_functions(real))
  for name, fn in pairs(class.methods) do
    if type(real[name]) == "function" then append(problems, arity_problems(class.name, fn, real[name])) end
  end
  return problems
end

-- Every class of every stub that declares methods, by name.
local function stub_classes()
  local all = {}
  for _, module in ipairs(MODULES) do
    local stub = parse_stub((read_stub(module)))
    for var, class in pairs(stub.classes) do
      if var ~= stub.module_var and next(class.methods) then all[class.name] = class end
    end
  end
  return all
end

-- ---- tests ----

T.test("docs/types holds one stub per module, named after it", function()
  local p = io.popen("ls " .. T.sh_quote(TYPES))
  local files = {}
  for name in p:lines() do files[#files + 1] = name end
  p:close()
  table.sort(files)
  local expected = {}
  for _, m in ipairs(MODULES) do expected[#expected + 1] = m .. ".lua" end
  table.sort(expected)
  T.eq(table.concat(files, " "), table.concat(expected, " "))
end)

T.test("every stub starts with ---@meta, runs without globals and returns its module's class", function()
  local problems = {}
  for _, module in ipairs(MODULES) do
    local text, path = read_stub(module)
    if not text:match("^%-%-%-@meta\n") then problems[#problems + 1] = module .. ": the first line is not ---@meta" end
    local declared, globals = load_stub(path)
    if type(declared) ~= "table" then problems[#problems + 1] = module .. ": does not return a table" end
    if #globals > 0 then problems[#problems + 1] = module .. ": sets globals " .. table.concat(globals, ", ") end
    local stub = parse_stub(text)
    local class = stub.module_var and stub.classes[stub.module_var]
    if not class or class.name ~= module then
      problems[#problems + 1] = module .. ": does not end with `return M` where M is `---@class " .. module .. "`"
    end
    for _, line in ipairs(stub.stray) do problems[#problems + 1] = module .. ": not a declaration: " .. line end
    for _, fn in ipairs(stub.functions) do
      if not stub.classes[fn.owner] then
        problems[#problems + 1] = module .. ": " .. fn.owner .. " is not a ---@class table"
      end
      append(problems, param_problems(fn))
    end
  end
  assert_no_problems(problems)
end)

T.test("every alaris type an annotation names is declared by a stub (a ---@class or ---@alias)", function()
  local declared, used = {}, {}
  for _, module in ipairs(MODULES) do
    local text = read_stub(module)
    for line in text:gmatch("[^\n]+") do
      local tag, rest = line:match("^%-%-%-@(%w+)%s+(.*)$")
      if tag == "class" or tag == "alias" then declared[rest:match("^([%w_.]+)")] = true end
      if tag then
        for name in rest:gmatch("alaris[%w_.]*") do used[name:gsub("%.$", "")] = module end
      end
    end
  end
  local problems = {}
  for _, name in ipairs(missing(used, declared)) do
    problems[#problems + 1] = used[name] .. ": the type " .. name .. " is not declared"
  end
  assert_no_problems(problems)
end)

for _, module in ipairs(MODULES) do
  T.test(module .. ": the stub declares exactly the module's functions and fields", function()
    assert_no_problems(module_problems(module))
  end)
end

T.test("every class with methods in the stubs is checked against a real handle", function()
  local classes = stub_classes()
  T.eq(table.concat(sorted_keys(classes), " "), table.concat(sorted_keys(HANDLES), " "))
end)

for _, name in ipairs(sorted_keys(HANDLES)) do
  T.test(name .. ": the stub declares exactly the handle's methods", function()
    local class = stub_classes()[name]
    T.ok(class, "no stub declares the class " .. name)
    assert_no_problems(handle_problems(class))
  end)
end

T.test("the check reports a function the module lacks, one the stub lacks, and a wrong parameter count", function()
  local real = {
    keep = function(a, b) return a, b end,
    undeclared = function() end,
  }
  local stub = parse_stub(table.concat({
    "---@meta",
    "---@class fake",
    "local fake = {}",
    "---@param a string",
    "function fake.keep(a) end",
    "function fake.invented() end",
    "return fake",
  }, "\n"))
  local declared = load_stub(T.script(table.concat({ "local fake = {}", "function fake.keep(a) end",
    "function fake.invented() end", "return fake" }, "\n")))
  local problems = drift("fake", public_functions(declared), public_functions(real))
  append(problems, arity_problems("fake", stub.functions[1], real.keep))
  T.eq(problems, {
    "fake: the stub declares invented, which does not exist",
    "fake: undeclared exists but the stub does not declare it",
    "fake.keep: the stub takes 1 parameter(s), the module's function 2",
  })
  T.eq(param_problems(stub.functions[1]), {})
  stub.functions[1].params = { "b" }
  T.contains(param_problems(stub.functions[1])[1], "---@param names a")
end)

T.run_all()
