-- alaris-run loads playbooks and scripts as text only: a precompiled (bytecode) chunk is never run, since Lua does
-- not verify bytecode and a crafted one can crash the process or worse. Refused like any bad input: exit 2, one line.
local T = require "testing"

local function refused(file, dir)
  local _, err, code = T.run(T.alaris_run .. " " .. T.sh_quote(file))
  T.eq(code, 2, "exit code")
  T.contains(err, "binary chunk")
  local _, newlines = err:gsub("\n", "")
  T.eq(newlines, 1, "one line on stderr: " .. err)
  T.eq(T.read_file(dir .. "/trace"), nil, "the chunk did not run")
end

T.test("a precompiled (bytecode) file is refused with exit 2 and does not run", function()
  local dir = T.tmpdir()
  local writes_trace = assert(load(string.format("local f = io.open(%q, 'w') f:write('ran') f:close()", dir .. "/trace")))
  local bytecode = string.dump(writes_trace)
  refused(T.write_file(dir .. "/compiled.lua", bytecode), dir)
  local garbled = bytecode:sub(1, 40) .. ("\255"):rep(64) .. bytecode:sub(41)
  refused(T.write_file(dir .. "/garbled.lua", garbled), dir)
end)

T.test("the same file as source text runs", function()
  local dir = T.tmpdir()
  local source = string.format("local f = io.open(%q, 'w') f:write('ran') f:close()", dir .. "/trace")
  local _, err, code = T.run(T.alaris_run .. " " .. T.sh_quote(T.write_file(dir .. "/source.lua", source)))
  T.eq(code, 0, err)
  T.eq(T.read_file(dir .. "/trace"), "ran")
end)

T.run_all()
