-- `make install PREFIX=...` gives a binary that finds its Lua library and its bindings beside itself, with no
-- environment.
local T = require "testing"

-- Installs the build alaris_run belongs to under a new temporary PREFIX; returns PREFIX.
local function install()
  local build = T.alaris_run:match("^(.*)/[^/]+$")
  local prefix = T.tmpdir() .. "/prefix"
  local _, err, code = T.run("cmake --install " .. T.sh_quote(build) .. " --prefix " .. T.sh_quote(prefix))
  T.eq(code, 0, err)
  return prefix
end

-- Runs a script with the installed alaris-run from /, with an empty environment.
local function run_installed(prefix, source)
  local script = T.write_file(T.tmpdir() .. "/installed.lua", source)
  return T.run("cd / && env -i " .. prefix .. "/bin/alaris-run " .. script)
end

T.test("an installed alaris-run finds its stdlib under PREFIX/share/alaris/lua", function()
  local prefix = install()
  local out, err, code = run_installed(prefix, [[
    local playbook = require "alaris.playbook"
    print(package.searchpath("alaris.playbook", package.path))
  ]])
  T.eq(code, 0, err)
  T.eq(out, prefix .. "/share/alaris/lua/alaris/playbook.lua\n")
  T.ok(T.read_file(prefix .. "/share/alaris/types/alaris.k8s.lua"), "the editor stubs are installed too")
end)

T.test("an installed alaris-run loads its bindings from PREFIX/lib/alaris", function()
  local prefix = install()
  local out, err, code = run_installed(prefix, [[
    local http, where = require "alaris.http.core"
    print(type(http.request), where)
    local json = require "alaris.json"
    print(json.encode({ loaded = true }))
    for line in io.lines("/proc/self/maps") do
      if line:find("/lib/alaris/json.so", 1, true) then print(line:match("%s(/%S+)$")); break end
    end
  ]])
  T.eq(code, 0, err)
  T.eq(out, "function\t" .. prefix .. "/lib/alaris/http.so\n" .. '{"loaded":true}\n' .. prefix .. "/lib/alaris/json.so\n")
end)

T.test("a binding missing from PREFIX/lib/alaris is one clear error when required, not at start", function()
  local prefix = install()
  T.eq(os.remove(prefix .. "/lib/alaris/yaml.so"), true)
  local out, err, code = run_installed(prefix, [[
    print("started")
    local ok, message = pcall(require, "alaris.yaml")
    print(ok, message)
  ]])
  T.eq(code, 0, err)
  T.eq(out, "started\nfalse\tcannot load module 'alaris.yaml': " .. prefix ..
    "/lib/alaris/yaml.so: cannot open shared object file: No such file or directory\n")
end)

-- The operators playbook reads deploy/ beside stdlib/ in a checkout; installed, there is no checkout to be beside.
T.test("an installed operators playbook reads the vendored manifests from PREFIX/share/alaris/deploy", function()
  local operators = require "alaris.operators"
  local prefix = install()
  local deploy = prefix .. "/share/alaris/deploy"
  local help, herr, hcode = T.run("cd / && env -i " .. prefix .. "/bin/alaris-run " .. prefix
    .. "/share/alaris/playbooks/operators.lua --help")
  T.eq(hcode, 0, herr)
  T.contains(help, "(default: " .. deploy .. ")")
  local source = operators.default_deploy_dir()
  local expected = string.format("%s\n%d %d %d\n", deploy, #operators.cert_manager_crds(source),
    #operators.cloudnative_pg(source), #operators.barman_cloud(source))
  local out, err, code = run_installed(prefix, [[
    local operators = require "alaris.operators"
    local dir = operators.default_deploy_dir()
    print(dir)
    print(#operators.cert_manager_crds(dir), #operators.cloudnative_pg(dir), #operators.barman_cloud(dir))
  ]])
  T.eq(code, 0, err)
  T.eq(out:gsub("\t", " "), expected)
  local _, serr, scode = T.run("cd " .. T.sh_quote(deploy) .. " && sha256sum --quiet --strict -c SHA256SUMS")
  T.eq(scode, 0, "the manifests and their licences, as SHA256SUMS lists them: " .. serr)
end)

T.run_all()
