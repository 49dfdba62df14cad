-- Start-up: alaris-run links only Lua and libc; each binding, with its libraries, is loaded from lib/alaris/ beside
-- the executable when a playbook or script first requires it, so one that uses no network binding never loads
-- libcurl, libpq or OpenSSL.
local T = require "testing"

-- Libraries of the bindings a playbook that uses none of them never loads (the runner itself uses only JSON).
local UNUSED_LIBRARIES = { "libcurl", "libpq", "libssl", "libcrypto", "libwslay", "libexpat", "libyaml" }

-- Lua source of a function listing the shared objects mapped into the running process, one per line.
local MAPPED = [[
local function mapped()
  local seen, names = {}, {}
  for line in io.lines("/proc/self/maps") do
    local path = line:match("%s(/%S+%.so[%.%d]*)$")
    if path and not seen[path] then seen[path] = true; names[#names + 1] = path end
  end
  return table.concat(names, "\n") .. "\n"
end
]]

local function assert_none_loaded(listing, libraries, what)
  for _, lib in ipairs(libraries) do
    T.not_contains(listing, "/" .. lib, what .. " loads no " .. lib)
  end
end

local function real_dir_of_alaris_run()
  local out, err, code = T.run("realpath -- " .. T.sh_quote(T.alaris_run))
  T.eq(code, 0, err)
  return out:match("^(.*)/[^/]*\n$")
end

T.test("alaris-run itself links none of the bindings' libraries (ldd)", function()
  local out, err, code = T.run("LD_TRACE_LOADED_OBJECTS=1 " .. T.sh_quote(T.alaris_run))
  T.eq(code, 0, err)
  T.contains(out, "liblua5.4", "it links Lua")
  assert_none_loaded(out, UNUSED_LIBRARIES, "alaris-run")
  T.not_contains(out, "/libcjson", "alaris-run links no libcjson")
end)

T.test("an empty one-step playbook loads no network binding, no OpenSSL", function()
  local playbook = T.script(MAPPED .. [[
    local playbook = require "alaris.playbook"
    return playbook { name = "empty", steps = { { name = "nothing", run = function() io.write(mapped()) end } } }
  ]], "empty.lua")
  local out, err, code = T.run("cd " .. T.sh_quote(T.tmpdir()) .. " && " .. T.alaris_run .. " " .. playbook)
  T.eq(code, 0, err)
  T.contains(out, "DONE empty: ok")
  T.contains(out, "/liblua5.4", "the listing is real")
  assert_none_loaded(out, UNUSED_LIBRARIES, "the playbook")
end)

T.test("a binding and its library are loaded on its first require, from lib/alaris beside alaris-run", function()
  local out, err, code = T.run_script(MAPPED .. [[
    io.write("before\n", mapped())
    local http, where = require "alaris.http.core"
    io.write("after ", type(http), " ", where, "\n", mapped())
  ]])
  T.eq(code, 0, err)
  local before, after = out:match("^before\n(.*)after (.*)$")
  T.ok(before, out)
  T.not_contains(before, "/libcurl", "libcurl is not loaded before the require")
  T.not_contains(before, "/lib/alaris/http.so", "the binding is not loaded before the require")
  local module = real_dir_of_alaris_run() .. "/lib/alaris/http.so"
  T.contains(after, "table " .. module .. "\n", "require returns the module and where it came from")
  T.contains(after, "/libcurl", "libcurl is loaded with the binding")
end)

T.test("a name that is no binding still gets Lua's not-found message", function()
  local out, err, code = T.run_script([[print(select(2, pcall(require, "alaris.nonexistent")))]])
  T.eq(code, 0, err)
  T.contains(out, "module 'alaris.nonexistent' not found")
  T.contains(out, "no alaris binding 'alaris.nonexistent'")
end)

T.run_all()
