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
  T.raises(function() json.encode({ [1] = 1, [3000000000] = 3 }) end, "highest index 3000000000")
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

-- Strict input: every class of must-reject text of the JSON parsing test suite (JSONTestSuite's n_* files), written
-- here as our own cases. Each is refused with nil, err and a byte position inside the text (or just past its end).
local MUST_REJECT = {
  arrays = { "[1 true]", '["": 1]', '[""],', "[,1]", "[1,,2]", '["x",,]', '["x"]]', '["",]', '["x"', "[x", "[3[4]]",
    "[1:2]", "[,]", "[-]", '[   , ""]', '["a",\n4\n,1,', "[1,]", "[1,,]", "[*]", '[""', "[1,", "[{}", "[\"a\"\n" },
  literals = { "[fals]", "[nul]", "[tru]", "True", "[True]", "nul", "[NULL]", "truth", "[ false, tru" },
  numbers = { "[++1234]", "[+1]", "[+Inf]", "[-01]", "[-1.0.]", "[-2.]", "[-NaN]", "[.-1]", "[.2e-3]", "[0.1.2]",
    "[0.3e+]", "[0.3e]", "[0.e1]", "[0E+]", "[0E]", "[0e+]", "[0e]", "[1.0e+]", "[1.0e-]", "[1.0e]", "[1 000.0]",
    "[1_000]", "[1eE2]", "[2.e+3]", "[2.e-3]", "[2.e3]", "[9.e+]", "[Inf]", "[NaN]", "[\xef\xbc\x91]", "[1+2]",
    "[0x1]", "[0x42]", "[Infinity]", "[0e+-1]", "[-123.123foo]", "[123\xe5]", "[1e1\xe5]", "[0\xe5]",
    "[-Infinity]", "[-foo]", "[- 1]", "[-012]", "[-.123]", "[-1x]", "[1ea]", "[1e\xe5]", "[1.]", "[.123]",
    "[1.2a-3]", "[1.8011670033376514H-308]", "[012]", "[00]", "[1e]", "[-]", "2@", "[1e400]", "[-1e400]" },
  objects = { '["x", truth]', '{[: "x"}', '{"x", null}', '{"x"::"b"}', "{\xf0\x9f\x87\xa8\xf0\x9f\x87\xad}",
    '{"a":"a" 123}', "{'a':0}", '{"\xb9":"0",}', '{"a" b}', '{:"b"}', '{"a" "b"}', '{"a":', '{"a"', "{1:1}",
    "{9999E9999:1}", "{null:null,null:null}", '{"id":0,,,,,}', "{'a'}", '{"id":0,}', '{"a":"b"}/**/',
    '{"a":"b"}/**', '{"a":"b"}//', '{"a":"b"}/', '{"a":"b",,"c":"d"}', '{a: "b"}', '{"a":"a', '{ "foo" : "bar", "a" }',
    '{"a":"b"}#', '{"a":/*comment*/"b"}', "{", "{]", "{,", "{[", '{"a', "{'a'", '{"asd":"asd"', "{}}", '{"":' },
  strings = { '["\\uD800\\"]', '["\\uD800\\u"]', '["\\uD800\\u1"]', '["\\uD800\\u1x"]', "[\xc3\xa9]", '["\\\0"]',
    '["\\x00"]', '["\\\\\\"]', '["\\\t"]', '["\\\xf0\x9f\x8c\x80"]', '["\\"]', '["\\u00A"]', '["\\uD834\\uDd"]',
    '["\\uD800\\uD800\\x"]', '["\\u\xe5"]', '["\\a"]', '["\\uqqqq"]', '["\\\xe5"]', '[\\u0020"asd"]', "[\\n]", '"',
    "['single quote']", "abc", '["\\', '["a\0a"]', '["new\nline"]', '["\t"]', '"\\UA66D"', '""x', '["\\u"]',
    '"\\u12"', '["a\1b"]', '["a\31b"]', '["a\rb"]' },
  ["white space"] = { "[\f]", "\f[]", "[]\f", "[\v1]", "[1]\0", "\0[1]", "[\0]", "123\0", "\0", "[\xc2\xa0]",
    "[\xe2\x81\xa0]", "[1\xe2\x81\xa01]", "\xef\xbb\xbf", "\xef\xbb\xbf[]", "\xef\xbb" },
  structure = { "", " ", "\n\t", "<.>", "[<null>]", "[1]x", "[1]]", '["asd]', "a\xc3\xa5", "]", '{"x": true,', "[][]",
    "\xe5", "[", "[\"", '["a', "[[", "\xc3\xa9", "*", '{"a":"b"}#{}', '[\\u000A""]', "[1", "[ false, nul",
    "['", "[,", "[{", '[{"":', "1 2", '"a" "b"', "{} {}", "null null", "[1] [2]", "[1]\n]", ('['):rep(100000),
    ('[{"":'):rep(50000), ('['):rep(1001) .. (']'):rep(1001) },
}

T.test("every class of must-reject input is refused with a position", function()
  local count = 0
  for class, inputs in pairs(MUST_REJECT) do
    for _, text in ipairs(inputs) do
      local v, err = json.decode(text)
      local shown = string.format("%s %q", class, text:sub(1, 60))
      T.eq(v, nil, shown .. " is refused")
      T.eq(err.code, "invalid_json", shown)
      T.ok(math.type(err.position) == "integer" and err.position >= 1 and err.position <= #text + 1,
        shown .. ": position in range")
      T.contains(tostring(err), "invalid JSON at byte " .. err.position, shown)
      count = count + 1
    end
  end
  T.ok(count >= 188, "as many cases as the suite's n_* files, got " .. count)
end)

-- The cases the lenient parser let through, each at the byte where it stops being JSON, saying why.
T.test("leading zeros, bare decimal points, control characters, form feed, NUL and bad \\u are refused where they are", function()
  local cases = {
    { "[01]", 3, "start with 0" }, { "[-01]", 4, "start with 0" }, { "[00]", 3, "start with 0" },
    { "[2.]", 4, "after the decimal point" }, { "[2.e3]", 4, "after the decimal point" },
    { "[-.123]", 3, "digit expected" }, { "[.5]", 2, "value expected" },
    { "[1e]", 4, "exponent" }, { "[1e+]", 5, "exponent" },
    { '["a\tb"]', 4, "control character" }, { '["a\0b"]', 4, "control character" },
    { '["\n"]', 3, "control character" }, { '["a\127b"]', nil },
    { "[\f1]", 2, "value expected" }, { "\f[]", 1, "value expected" }, { "[]\f", 3, "after the value" },
    { "[1]\0", 4, "after the value" }, { "\0", 1, "value expected" }, { "[1,\0 2]", 4, "value expected" },
    { '["\\uqqqq"]', 3, "four hexadecimal digits" }, { '["ab\\u12"]', 5, "four hexadecimal digits" },
    { '["\\a"]', 3, "an escape is one of" }, { '["\\\0"]', 3, "an escape is one of" },
    { "[1e400]", 2, "range of a double" }, { "[-1e400]", 2, "range of a double" },
    { "[1,]", 4, "value expected" }, { '{"a":1,}', 8, "member name" }, { '{"a" 1}', 6, "':' expected" },
    { "[1 2]", 4, "',' or ']'" }, { '{"a":1 "b":2}', 8, "',' or '}'" }, { '"abc', 5, "ends inside a string" },
    { "[1", 3, "ends inside an array" }, { '{"a":1', 7, "ends inside an object" }, { "[tru]", 2, "true, false" },
    { ('['):rep(1001) .. (']'):rep(1001), 1001, "nested deeper than 1000" },
  }
  for _, case in ipairs(cases) do
    local text, position, why = case[1], case[2], case[3]
    local v, err = json.decode(text)
    if position then
      T.eq(v, nil, string.format("%q is refused", text:sub(1, 40)))
      T.eq(err.position, position, string.format("position in %q", text:sub(1, 40)))
      T.contains(tostring(err), why)
    else
      T.ok(v, string.format("%q is accepted: %s", text, tostring(err)))
    end
  end
end)

-- Must-accept input (JSONTestSuite's y_* classes, our own cases): decoded as written and through encode and decode
-- again to the same value.
local MUST_ACCEPT = {
  { "[[]   ]", { {} } }, { '[""]', { "" } }, { "[]", {} }, { '["a"]', { "a" } }, { "[false]", { false } },
  { '[null, 1, "1", {}]', { json.null, 1, "1", {} } }, { "[1\n]", { 1 } }, { " [1]", { 1 } },
  { "[1,null,null,null,2]", { 1, json.null, json.null, json.null, 2 } }, { "[2] ", { 2 } },
  { "[123e65]", { 123e65 } }, { "[0e+1]", { 0.0 } }, { "[0e1]", { 0.0 } }, { "[ 4]", { 4 } },
  { "[-0.000000000000000000000000000000000000000000000000000000000000000000000000000001]\n", { -1e-78 } },
  { "[20e1]", { 200.0 } }, { "[-0]", { 0 } }, { "[-1]", { -1 } }, { "[-123]", { -123 } }, { "[1E22]", { 1e22 } },
  { "[1E-2]", { 0.01 } }, { "[1E+2]", { 100.0 } }, { "[123e45]", { 123e45 } }, { "[123.456e78]", { 123.456e78 } },
  { "[1e-2]", { 0.01 } }, { "[1e+2]", { 100.0 } }, { "[123]", { 123 } }, { "[123.456789]", { 123.456789 } },
  { "[-237462374673276894279832749832423479823246327846]", { -237462374673276894279832749832423479823246327846.0 } },
  { "[100000000000000000000]", { 1e20 } }, { "[9223372036854775807]", { math.maxinteger } },
  { "[-9223372036854775808]", { math.mininteger } }, { "[1e-400]", { 0.0 } }, { "[1.7976931348623157e308]", { 1.7976931348623157e308 } },
  { '{"asdf":"sdf", "dfg":"fgh"}', { asdf = "sdf", dfg = "fgh" } }, { '{"a":"b","a":"c"}', { a = "c" } },
  { "{}", {} }, { '{"":0}', { [""] = 0 } }, { '{"":{"":[""]}}', { [""] = { [""] = { "" } } } },
  { '{"foo\\u0000bar": 42}', { ["foo\0bar"] = 42 } }, { '{ "min": -1.0e+28, "max": 1.0e+28 }', { min = -1e28, max = 1e28 } },
  { '{"x":[{"id": "xxx"}], "id": "xxx"}', { x = { { id = "xxx" } }, id = "xxx" } }, { '{"a":[]}', { a = {} } },
  { '{\n"a": "b"\n}', { a = "b" } }, { '["\\u0060\\u012a\\u12AB"]', { "`\xc4\xaa\xe1\x8a\xab" } },
  { '["\\uD801\\udc37"]', { "\xf0\x90\x90\xb7" } }, { '["\\ud83d\\ude39\\ud83d\\udc8d"]', { "\xf0\x9f\x98\xb9\xf0\x9f\x92\x8d" } },
  { '["\\uD834\\uDD1E"]', { "\xf0\x9d\x84\x9e" } }, { '["\\uDBFF\\uDFFF"]', { "\xf4\x8f\xbf\xbf" } },
  { '["\\"\\\\\\/\\b\\f\\n\\r\\t"]', { "\"\\/\b\f\n\r\t" } }, { '["\\\\u0000"]', { "\\u0000" } },
  { '["a/*b*/c/*d//e"]', { "a/*b*/c/*d//e" } }, { '["\\u0012"]', { "\18" } }, { '["\\uFFFF"]', { "\xef\xbf\xbf" } },
  { '["\\u0000"]', { "\0" } }, { '["\\u002c"]', { "," } }, { '["\xcf\x80"]', { "\xcf\x80" } },
  { '["\xf4\x8f\xbf\xbf"]', { "\xf4\x8f\xbf\xbf" } }, { '["\127"]', { "\127" } }, { '" "', " " },
  { '["\\u005C"]', { "\\" } }, { '["\\u0022"]', { '"' } }, { "false", false }, { "true", true }, { "42", 42 },
  { "-0.1", -0.1 }, { '"asd"', "asd" }, { '""', "" }, { "null", json.null }, { ' [] ', {} },
  { "\t\r\n[\t\r\n1\t\r\n,\t\r\n2\t\r\n]\t\r\n", { 1, 2 } }, { '[1, "\xe2\x82\xac\xf0\x9d\x84\x9e"]', { 1, "\xe2\x82\xac\xf0\x9d\x84\x9e" } },
}

T.test("every class of must-accept input decodes as written and round-trips", function()
  for _, case in ipairs(MUST_ACCEPT) do
    local text, expected = case[1], case[2]
    local v, err = json.decode(text)
    T.ok(v ~= nil, string.format("%q accepted: %s", text, tostring(err)))
    T.eq(v, expected, string.format("%q", text))
    T.eq(json.decode(json.encode(v)), v, string.format("%q round-trips", text))
  end
end)

T.test("nesting up to the limit of 1000 levels is accepted and round-trips; one more is refused", function()
  for _, open_close in ipairs { { "[", "]" }, { '{"a":', "}" } } do
    local open, close = open_close[1], open_close[2]
    local text = open:rep(999) .. "[]" .. close:rep(999)
    local v = T.ok(json.decode(text), "1000 levels")
    T.eq(json.encode(v), text, "the same text back")
    local _, err = json.decode(open:rep(1000) .. "[]" .. close:rep(1000))
    T.eq(err.position, #open * 1000 + 1)
  end
end)

T.run_all()
