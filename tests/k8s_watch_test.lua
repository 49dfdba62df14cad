-- The watch stream's framing, offline: events are newline-delimited JSON that arrive in arbitrary chunks.
local T = require "testing"
local watch = require "alaris.k8s.watch"

T.test("complete lines are taken, the unfinished rest is kept for the next chunk", function()
  local lines, rest = watch.split_lines('{"a":1}\n{"b":2}\n{"c":')
  T.eq(lines, { '{"a":1}', '{"b":2}' })
  T.eq(rest, '{"c":')
  lines, rest = watch.split_lines(rest .. '3}\n')
  T.eq(lines, { '{"c":3}' })
  T.eq(rest, "")
end)

T.test("a chunk without a newline is all kept; empty lines pass through", function()
  T.eq({ watch.split_lines('{"partial"') }, { {}, '{"partial"' })
  T.eq({ watch.split_lines("\n\nx\n") }, { { "", "", "x" }, "" })
end)

T.test("any chunking of a stream gives back the same lines", function()
  local events = {}
  for i = 1, 200 do events[i] = string.format('{"type":"ADDED","n":%d,"pad":"%s"}', i, string.rep("x", i % 37)) end
  local stream = table.concat(events, "\n") .. "\n"
  for _, size in ipairs { 1, 7, 64, 1000, #stream } do
    local got, buffer = {}, ""
    for at = 1, #stream, size do
      local lines
      lines, buffer = watch.split_lines(buffer .. stream:sub(at, at + size - 1))
      for _, line in ipairs(lines) do got[#got + 1] = line end
    end
    T.eq(buffer, "", "nothing left over with chunks of " .. size)
    T.eq(got, events, "chunks of " .. size)
  end
end)

T.run_all()
