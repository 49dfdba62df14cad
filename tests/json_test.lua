-- alaris.json: encoding and decoding as a playbook author relies on it (journals, API bodies, reports).
local T = require "testing"
local json = require "alaris.json"

T.test("empty arrays and empty objects stay apart through decode and encode", function()
  T.eq(json.encode(json.decode('{"a":[],"b":{}}')), '{"a":[],"b":{}}')
  T.eq(json.encode(json.decode("[]")), "[]")
  T.eq(json.encode(json.decode("{}")), "{}")
  T.eq(json.encode({}), "{}", "an unmarked empty table is an object")
  T.eq(json.encode(json.array({})), "[]")
  T.eq(json.encode(json.array()), "[]")
  T.eq(json.encode({ items = json.array {} }), '{"items":[]}')
end)

T.test("json.array returns the table it marks and refuses a table with another metatable", function()
  local t = { 1, 2 }
  T.ok(json.array(t) == t)
  T.eq(json.encode(t), "[1,2]")
  T.raises(function() json.array(setmetatable({}, {})) end, "metatable")
  T.raises(function() json.array("x") end, "table expected")
end)

T.test("tables with keys 1..n are arrays, string keys are objects with sorted keys", function()
  T.eq(json.encode({ 10, 20, 30 }), "[10,20,30]")
  T.eq(json.encode({ zeta = 1, alpha = 2, Mid = 3, ["a b"] = 4 }), '{"Mid":3,"a b":4,"alpha":2,"zeta":1}')
  T.eq(json.encode({ b = { d = 1, c = 2 }, a = { 3, 4 } }), '{"a":[3,4],"b":{"c":2,"d":1}}')
end)

T.test("nulls inside arrays and objects decode to json.null and keep array length", function()
  local v = json.decode('{"a":[1,null,3,null],"b":null}')
  T.eq(#v.a, 4)
  T.ok(v.a[2] == json.null and v.a[4] == json.null)
  T.ok(v.b == json.null, "a null member is kept as json.null")
  T.eq(json.encode(v), '{"a":[1,null,3,null],"b":null}')
  T.ok(json.decode("null") == json.null, "top-level null")
  T.eq(tostring(json.null), "null")
  T.eq(json.encode(nil), "null")
  T.eq(json.encode({ x = json.null }), '{"x":null}')
end)

T.test("integers encode exactly: 2^53-1, 2^62, -2^63, maxinteger", function()
  T.eq(json.encode(9007199254740991), "9007199254740991")
  T.eq(json.encode(1 << 62), "4611686018427387904")
  T.eq(json.encode(math.mininteger), "-9223372036854775808")
  T.eq(json.encode(math.maxinteger), "9223372036854775807")
  T.eq(json.encode({ 0, -1, 42 }), "[0,-1,42]")
end)

T.test("integers decode to Lua integers, exactly across the 64-bit range", function()
  local v = json.decode("[9007199254740991, 4611686018427387904, -9223372036854775808, 9007199254740993, 7]")
  T.eq(math.type(v[1]), "integer")
  T.eq(v[1], 9007199254740991)
  T.eq(v[2], 1 << 62)
  T.eq(v[3], math.mininteger)
  T.eq(v[4], 9007199254740993, "beyond 2^53 still exact")
  T.eq(math.type(v[5]), "integer")
  local big = json.decode("123456789012345678901234567890")
  T.eq(math.type(big), "float", "beyond 64 bits falls back to a float")
end)

T.test("floats round-trip and always look like floats", function()
  T.eq(json.encode(1.0), "1.0")
  T.eq(json.encode(-0.0), "-0.0")
  T.eq(json.encode(0.1), "0.1")
  T.eq(json.encode(1e300), "1e+300")
  for _, x in ipairs { 0.1, 1 / 3, math.pi, -2.5e-310, 1e22, 123456.789, 2 ^ 60 } do
    local back = json.decode(json.encode(x))
    T.eq(math.type(back), "float")
    T.ok(back == x, "round trip of " .. string.format("%.17g", x))
  end
  T.eq(math.type(json.decode("1.0")), "float")
  T.eq(math.type(json.decode("1e2")), "float")
  T.raises(function() json.encode(0 / 0) end, "NaN")
  T.raises(function() json.encode({ math.huge }) end, "infinity")
end)

T.test("unicode escapes decode to UTF-8, surrogate pairs joined", function()
  T.eq(json.decode('"\\u00e9"'), "é")
  T.eq(json.decode('"\\u20AC"'), "€")
  T.eq(json.decode('"\\ud83d\\ude00"'), "😀")
  T.eq(json.decode('"a\\"b\\\\c\\/d\\n\\t\\r\\b\\f"'), 'a"b\\c/d\n\t\r\b\f')
  T.eq(json.encode("é😀"), '"é😀"', "UTF-8 is written as is")
end)

T.test("strings are byte-exact, NUL bytes included", function()
  T.eq(json.encode("a\0b"), '"a\\u0000b"')
  T.eq(json.decode('"a\\u0000b"'), "a\0b")
  T.eq(json.decode('{"k\\u0000ey":"v"}'), { ["k\0ey"] = "v" })
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  local bytes = table.concat(all)
  T.eq(json.decode(json.encode(bytes)), bytes, "every byte value, invalid UTF-8 included, survives")
  T.eq(json.encode("\1\31\127"), '"\\u0001\\u001f\127"')
end)

T.test("invalid JSON returns nil and an error with the byte position", function()
  local v, err = json.decode('{"name": "db", "size": ,}')
  T.eq(v, nil)
  T.eq(err.position, 24)
  T.eq(err.code, "invalid_json")
  T.contains(tostring(err), "invalid JSON at byte 24")
  local _, err2 = json.decode('{\n  "a": [1, 2\n}')
  T.eq(err2.line, 3)
  T.eq(err2.column, 1)
  local _, err3 = json.decode("[1] x")
  T.eq(err3.position, 5)
  T.contains(tostring(err3), "after the value")
  local _, err4 = json.decode("   ")
  T.contains(tostring(err4), "no value")
  local _, err5 = json.decode('"unterminated')
  T.ok(err5 and err5.position, "unterminated string")
  local _, err6 = json.decode("[1,]")
  T.eq(err6.position, 4)
  T.raises(function() json.decode({}) end, "string expected")
end)

T.test("mixed, sparse and odd-keyed tables, cycles and functions raise", function()
  T.raises(function() json.encode({ 1, 2, x = 3 }) end, "mixed keys")
  T.raises(function() json.encode({ [1] = 1, [3] = 3 }) end, "sparse")
  T.raises(function() json.encode({ [1.5] = 1 }) end, "key of type number")
  T.raises(function() json.encode({ [true] = 1 }) end, "key of type boolean")
  local t = { a = {} }
  t.a.back = t
  T.raises(function() json.encode(t) end, "cycle")
  T.raises(function() json.encode({ f = print }) end, "cannot encode a function")
  local shared = { 1 }
  T.eq(json.encode({ a = shared, b = shared }), '{"a":[1],"b":[1]}', "a table used twice is not a cycle")
end)

T.test("pretty output is indented, stable and decodes to the same value", function()
  local v = { name = "pg", replicas = 3, labels = { app = "db" }, ports = { 5432 }, empty = json.array {}, none = {} }
  local text = json.encode(v, { pretty = true })
  T.eq(text, table.concat({
    "{",
    '  "empty": [],',
    '  "labels": {',
    '    "app": "db"',
    "  },",
    '  "name": "pg",',
    '  "none": {},',
    '  "ports": [',
    "    5432",
    "  ],",
    '  "replicas": 3',
    "}",
  }, "\n"))
  T.eq(json.decode(text), v)
  T.eq(json.encode(v, { pretty = false }), json.encode(v))
end)

T.test("nested structures round-trip", function()
  local text = '{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"a","labels":{}},"spec":{"n":[1,2.5,true,false,null,"s"]}}]}'
  local v = json.decode(text)
  T.eq(v.items[1].spec.n[3], true)
  T.eq(v.items[1].spec.n[4], false)
  T.eq(json.decode(json.encode(v)), v)
  T.eq(json.encode(v), json.encode(json.decode(json.encode(v))))
end)

T.test("deep nesting is refused instead of crashing", function()
  local deep = string.rep("[", 5000) .. string.rep("]", 5000)
  local v, err = json.decode(deep)
  T.eq(v, nil)
  T.ok(err.position, "nesting limit reported with a position")
  local t = {}
  local cur = t
  for _ = 1, 2000 do
    cur[1] = {}
    cur = cur[1]
  end
  T.raises(function() json.encode(t) end, "nested deeper")
end)

T.run_all()
