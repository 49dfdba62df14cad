-- alaris-run itself (engine/main.c): what it says when its own Lua library cannot be loaded.
local T = require "testing"

-- An install tree whose alaris/cli.lua raises: alaris-run must name it, show where (a traceback) and exit 2.
T.test("a command line module that fails to load is reported with a traceback, exit 2", function()
  local prefix = T.tmpdir() .. "/prefix"
  T.run("mkdir -p " .. T.sh_quote(prefix .. "/bin") .. " " .. T.sh_quote(prefix .. "/share/alaris/lua/alaris"))
  T.run("cp " .. T.sh_quote(T.alaris_run) .. " " .. T.sh_quote(prefix .. "/bin/alaris-run"))
  T.write_file(prefix .. "/share/alaris/lua/alaris/cli.lua", [[
    local function check_install() error("this install is broken on purpose") end
    check_install()
  ]])
  local out, err, code = T.run("cd / && env -i " .. T.sh_quote(prefix .. "/bin/alaris-run") .. " x.lua")
  T.eq(code, 2)
  T.eq(out, "")
  T.contains(err, "cannot load the command line (alaris.cli)")
  T.contains(err, "this install is broken on purpose")
  T.contains(err, "stack traceback:")
  T.contains(err, "check_install")
end)

T.run_all()
