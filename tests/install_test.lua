-- `make install PREFIX=...` gives a binary that finds its Lua library beside itself, with no environment.
local T = require "testing"

T.test("an installed alaris-run finds its stdlib under PREFIX/share/alaris/lua", function()
  local build = T.alaris_run:match("^(.*)/[^/]+$")
  local prefix = T.tmpdir() .. "/prefix"
  local _, err, code = T.run("cmake --install " .. T.sh_quote(build) .. " --prefix " .. T.sh_quote(prefix))
  T.eq(code, 0, err)
  local script = T.write_file(T.tmpdir() .. "/where.lua", [[
    local playbook = require "alaris.playbook"
    print(package.searchpath("alaris.playbook", package.path))
  ]])
  local out, err2, code2 = T.run("cd / && env -i " .. prefix .. "/bin/alaris-run " .. script)
  T.eq(code2, 0, err2)
  T.eq(out, prefix .. "/share/alaris/lua/alaris/playbook.lua\n")
  T.ok(T.read_file(prefix .. "/share/alaris/types/alaris.k8s.lua"), "the editor stubs are installed too")
end)

T.run_all()
