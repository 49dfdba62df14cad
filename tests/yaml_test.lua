-- alaris.yaml: reading config and manifests (typed scalars, anchors, merge keys, several documents) and writing
-- YAML that kubectl and alaris.yaml itself read back as the same value.
local T = require "testing"
local yaml = require "alaris.yaml"
local json = require "alaris.json"

T.test("plain scalars are typed by the YAML 1.2 core schema", function()
  local v = assert(yaml.decode([[
nulls:
- ~
- null
- Null
- NULL
-
bools: [true, True, TRUE, false, False, FALSE]
ints: [0, 42, -17, +5, 012, 0o17, 0x1F, 0xff, 9223372036854775807, -9223372036854775808]
floats: [1.5, -0.25, .5, 1., 1e3, 6.02E+23, .inf, -.Inf, +.INF]
strings: [yes, no, on, off, y, 1_000, 12:30, 0b101, 0o8, 0xZ, 2024-01-01, hello world, .git]
]]))
  T.eq(#v.nulls, 5)
  for i = 1, 5 do T.ok(v.nulls[i] == json.null, "null #" .. i) end
  T.eq(v.bools, { true, true, true, false, false, false })
  T.eq(v.ints, { 0, 42, -17, 5, 12, 15, 31, 255, math.maxinteger, math.mininteger })
  for _, i in ipairs(v.ints) do T.eq(math.type(i), "integer") end
  T.eq(v.floats, { 1.5, -0.25, 0.5, 1.0, 1000.0, 6.02e23, math.huge, -math.huge, math.huge })
  for _, f in ipairs(v.floats) do T.eq(math.type(f), "float") end
  T.eq(v.strings, { "yes", "no", "on", "off", "y", "1_000", "12:30", "0b101", "0o8", "0xZ", "2024-01-01",
    "hello world", ".git" })
  local nan = yaml.decode("[.nan, .NaN]")
  T.ok(nan[1] ~= nan[1] and nan[2] ~= nan[2], ".nan is NaN")
end)

T.test("quoted scalars stay strings; plain yes is a string too", function()
  local v = assert(yaml.decode([[
a: "yes"
b: 'true'
c: "1"
d: yes
e: "null"
f: ''
g: "\t\u00e9\x41"
]]))
  T.eq(v, { a = "yes", b = "true", c = "1", d = "yes", e = "null", f = "", g = "\téA" })
end)

T.test("tags !!str, !!int, !!float, !!bool, !!null are honoured", function()
  local v = assert(yaml.decode([[
s: !!str 42
b: !!str true
i: !!int "0x10"
f: !!float 3
t: !!bool "true"
n: !!null ""
custom: !Ref 12
]]))
  T.eq(v.s, "42")
  T.eq(v.b, "true")
  T.eq(v.i, 16)
  T.eq(math.type(v.i), "integer")
  T.eq(math.type(v.f), "float")
  T.eq(v.f, 3.0)
  T.eq(v.t, true)
  T.ok(v.n == json.null)
  T.eq(v.custom, 12, "an unknown tag leaves the plain scalar typed as usual")
  local _, err = yaml.decode("n: !!int twelve")
  T.contains(tostring(err), "does not match its tag")
  T.eq(err.line, 1)
  T.eq(err.column, 4)
end)

T.test("anchors, aliases and << merge keys are resolved; explicit keys win", function()
  local v = assert(yaml.decode([[
defaults: &defaults
  cpu: 1
  memory: 1Gi
  labels: &labels {app: pg}
big: &big
  memory: 4Gi
  disk: 100Gi
tenant-a:
  <<: *defaults
  cpu: 2
tenant-b:
  <<: [*big, *defaults]
  name: b
same-labels: *labels
list: &l [1, 2]
again: *l
]]))
  T.eq(v["tenant-a"], { cpu = 2, memory = "1Gi", labels = { app = "pg" } })
  T.eq(v["tenant-b"], { name = "b", memory = "4Gi", disk = "100Gi", cpu = 1, labels = { app = "pg" } },
    "earlier maps in a merge list win over later ones")
  T.eq(v["same-labels"], { app = "pg" })
  T.eq(json.encode(v.again), "[1,2]", "an aliased sequence keeps its array mark")
  local _, err = yaml.decode("a: 1\nb: *missing\n")
  T.contains(tostring(err), "unknown alias *missing")
  T.eq(err.line, 2)
  T.eq(err.column, 4)
  local _, err2 = yaml.decode("a:\n  <<: 3\n")
  T.contains(tostring(err2), "merge key")
end)

T.test("a quoted << is an ordinary key", function()
  T.eq(yaml.decode('"<<": {a: 1}'), { ["<<"] = { a = 1 } })
end)

T.test("mapping keys are strings", function()
  local v = assert(yaml.decode("1: one\ntrue: yes\n~: nothing\n"))
  T.eq(v, { ["1"] = "one", ["true"] = "yes", ["~"] = "nothing" })
  T.eq(json.encode(v), '{"1":"one","true":"yes","~":"nothing"}')
  local _, err = yaml.decode("? [a, b]\n: c\n")
  T.contains(tostring(err), "mapping keys must be scalars")
end)

T.test("decode returns the first document, decode_all every document", function()
  local text = "kind: A\n---\nkind: B\n---\n- 1\n- 2\n"
  T.eq(yaml.decode(text), { kind = "A" })
  local docs = assert(yaml.decode_all(text))
  T.eq(#docs, 3)
  T.eq(docs[2], { kind = "B" })
  T.eq(json.encode(docs), '[{"kind":"A"},{"kind":"B"},[1,2]]')
  T.eq(json.encode(yaml.decode_all("")), "[]", "no documents")
  T.ok(yaml.decode("") == json.null, "an empty stream decodes to null")
  T.ok(yaml.decode("# only a comment\n") == json.null)
  local anchored = yaml.decode_all("a: &x 1\n---\nb: *x\n")
  T.eq(anchored, nil, "anchors do not cross documents")
end)

T.test("decoded arrays carry json's array mark, so [] and {} survive into JSON", function()
  local v = assert(yaml.decode("a: []\nb: {}\nc: [x]\nd:\n  - 1\n"))
  T.eq(json.encode(v), '{"a":[],"b":{},"c":["x"],"d":[1]}')
  T.ok(yaml.null == json.null, "both modules share one null")
end)

T.test("syntax errors report line and column", function()
  local v, err = yaml.decode("name: db\nitems: [1, 2\nnext: 3\n")
  T.eq(v, nil)
  T.eq(err.code, "invalid_yaml")
  T.eq(err.line, 3)
  T.ok(err.column >= 1)
  T.contains(tostring(err), "invalid YAML at line 3, column")
  local _, err2 = yaml.decode("a: 1\n  b: 2\n")
  T.eq(err2.line, 2)
  T.eq(err2.column, 4)
  T.contains(tostring(err2), "mapping values are not allowed")
  local _, err3 = yaml.decode_all("a: 1\n---\n\tb: [\n")
  T.eq(err3.line, 3)
  T.raises(function() yaml.decode(nil) end, "string expected")
end)

T.test("encode quotes strings that would read back as another type", function()
  local tricky = { "yes", "no", "on", "off", "y", "N", "true", "False", "null", "~", "", "1", "-1", "+1", "1.5",
    ".5", "1e3", "0x1F", "0o17", "0777", "1_000", "12:30", "2024-01-01", ".inf", ".nan", "<<", "=",
    "a: b", "- x", "# not a comment", "key:", "[x]", "{y}", "*star", "&amp", "!tag", "|", ">", "%", "@", "`",
    " lead", "trail ", "x #y", "quote\"s", "it's", "tab\there", "é ü", "\0nul", "\1ctrl" }
  for _, s in ipairs(tricky) do
    local text = yaml.encode({ v = s })
    T.eq(yaml.decode(text).v, s, "round trip of " .. string.format("%q", s) .. " via " .. text)
  end
  T.eq(yaml.encode({ a = "yes" }), 'a: "yes"\n')
  T.eq(yaml.encode({ a = "1" }), 'a: "1"\n')
  T.eq(yaml.encode({ a = "plain text" }), "a: plain text\n")
end)

T.test("encode writes sorted keys, block style, {} and [] for empty ones, typed scalars", function()
  local text = yaml.encode({ b = { 1, 2 }, a = { z = true, y = json.null }, e = {}, f = json.array {}, n = 3,
    x = 1.0, big = 1 << 62, neg = math.mininteger, g = 1e300 })
  T.eq(text, table.concat({
    "a:",
    '  "y": null',
    "  z: true",
    "b:",
    "- 1",
    "- 2",
    "big: 4611686018427387904",
    "e: {}",
    "f: []",
    "g: 1.0e+300",
    '"n": 3',
    "neg: -9223372036854775808",
    "x: 1.0",
    "",
  }, "\n"))
  local back = yaml.decode(text)
  T.eq(back.a.z, true)
  T.eq(back.n, 3, "keys y and n are quoted: YAML 1.1 readers take them for booleans")
  T.eq(math.type(back.x), "float")
  T.eq(back.big, 1 << 62)
  T.eq(back.neg, math.mininteger)
  T.eq(yaml.encode(0.1), "0.1\n")
  T.eq(yaml.decode(yaml.encode({ math.huge, -math.huge }))[2], -math.huge)
end)

T.test("multi-line strings are written as literal blocks and read back exactly", function()
  for _, s in ipairs { "line1\nline2\n", "line1\nline2", "a\n\n", "\n starts with newline", "  indented\nx\n",
    "trailing spaces  \nx" } do
    local text = yaml.encode({ script = s })
    T.eq(yaml.decode(text).script, s, "round trip of " .. string.format("%q", s))
  end
  T.eq(yaml.encode({ script = "echo a\necho b\n" }), "script: |\n  echo a\n  echo b\n")
end)

T.test("encode raises on values YAML cannot hold", function()
  T.raises(function() yaml.encode({ 1, x = 2 }) end, "mixed keys")
  T.raises(function() yaml.encode({ [1] = 1, [5] = 5 }) end, "sparse")
  T.raises(function() yaml.encode({ f = print }) end, "cannot encode a function")
  T.raises(function() yaml.encode({ s = "\xff\xfe" }) end, "not valid UTF%-8")
  local t = {}
  t.self = t
  T.raises(function() yaml.encode(t) end, "cycle")
end)

local function manifests()
  local deployment = {
    apiVersion = "apps/v1",
    kind = "Deployment",
    metadata = {
      name = "pgbouncer",
      namespace = "tenant-a",
      labels = { app = "pgbouncer", ["alaris.io/tenant"] = "a" },
      annotations = {
        ["alaris.io/enabled"] = "yes",
        ["alaris.io/version"] = "1.0",
        ["alaris.io/octal"] = "0777",
        ["alaris.io/count"] = "1_000",
        ["alaris.io/time"] = "12:30",
        ["alaris.io/empty"] = "",
        ["alaris.io/null"] = "null",
        ["alaris.io/note"] = "first line\nsecond: line\n",
      },
    },
    spec = {
      replicas = 2,
      selector = { matchLabels = { app = "pgbouncer" } },
      template = {
        metadata = { labels = { app = "pgbouncer" } },
        spec = {
          containers = {
            {
              name = "pgbouncer",
              image = "bitnami/pgbouncer:1.22.0",
              args = json.array {},
              ports = { { containerPort = 6432, name = "pg", protocol = "TCP" } },
              env = { { name = "PGBOUNCER_PORT", value = "6432" }, { name = "DEBUG", value = "off" } },
              resources = { limits = { cpu = "500m", memory = "128Mi" } },
            },
          },
          volumes = { { name = "tmp", emptyDir = {} } },
        },
      },
    },
  }
  local configmap = {
    apiVersion = "v1",
    kind = "ConfigMap",
    metadata = { name = "settings", namespace = "tenant-a" },
    data = { ["max_connections"] = "100", enabled = "true", ratio = "0.5", ["pgbouncer.ini"] = "[databases]\n* = host=db\n" },
  }
  return deployment, configmap
end

T.test("Kubernetes manifests round-trip through encode and decode", function()
  local deployment, configmap = manifests()
  local text = yaml.encode(deployment)
  T.eq(yaml.decode(text), deployment)
  T.eq(json.encode(yaml.decode(text)), json.encode(deployment), "[] and {} kept apart")
  local both = yaml.encode_all({ deployment, configmap })
  local docs = assert(yaml.decode_all(both))
  T.eq(docs, { deployment, configmap })
  T.contains(both, "\n---\n")
end)

local function on_path(cmd)
  local _, _, code = T.run("command -v " .. cmd)
  return code == 0
end

-- kubectl reads YAML 1.1 (yes, on, 0777 and 1_000 are not strings there): the strongest check that encode quotes
-- enough. `kubectl create --dry-run=client` needs a server for discovery, so this uses `label --local`, which parses
-- the file the same way (sigs.k8s.io/yaml) and prints it back as JSON without contacting anything.
T.test("kubectl reads encoded manifests as the same values", function()
  if not on_path("kubectl") then
    print("     skipped: kubectl is not on PATH")
    return
  end
  local deployment, configmap = manifests()
  local dir = T.tmpdir()
  local file = T.write_file(dir .. "/manifests.yaml", yaml.encode_all({ deployment, configmap }))
  local out, err, code = T.run("kubectl label --local --kubeconfig /dev/null -o json -f " .. T.sh_quote(file) ..
    " alaris-check=1")
  T.eq(code, 0, "kubectl exit code (stderr: " .. err .. ")")
  -- one JSON document per object, one after the other
  local list = assert(json.decode("[" .. out:gsub("\n}\n{", "\n},\n{") .. "]"))
  T.eq(#list, 2)
  deployment.metadata.labels["alaris-check"] = "1"
  configmap.metadata.labels = { ["alaris-check"] = "1" }
  T.eq(json.encode(list[1]), json.encode(deployment))
  T.eq(json.encode(list[2]), json.encode(configmap))
end)

-- A "billion laughs": each level aliases the one below four times, so a few hundred bytes stand for 4^levels nodes.
local function alias_bomb(levels, key)
  local lines = { "l0: &l0 [lol, lol, lol, lol]" }
  for k = 1, levels do
    lines[#lines + 1] = string.format("l%d: &l%d [*l%d, *l%d, *l%d, *l%d]", k, k, k - 1, k - 1, k - 1, k - 1)
  end
  lines[#lines + 1] = (key or "items") .. ": *l" .. levels
  return table.concat(lines, "\n") .. "\n"
end

T.test("an alias bomb is refused with nil, err naming the limit, before it expands", function()
  local text = alias_bomb(11) -- about 22 million nodes once expanded, 500 bytes of text
  for _, decode in ipairs { yaml.decode, yaml.decode_all } do
    local v, err = decode(text)
    T.eq(v, nil)
    T.eq(err.code, "too_large")
    T.contains(tostring(err), "more than 1000000 nodes once aliases are expanded")
    T.ok(err.line >= 1 and err.column >= 1, "with where it went past the limit")
  end
end)

T.test("aliases repeating a large string are refused past 64 MiB of expanded text", function()
  local mib = ("x"):rep(1024 * 1024)
  local as_value = "a: &a " .. mib .. "\nb: [" .. ("*a, "):rep(64) .. "]\n"
  local _, err = yaml.decode(as_value)
  T.eq(err.code, "too_large")
  T.contains(tostring(err), "more than 64 MiB of scalars once aliases are expanded")
  local as_key = "? &k " .. mib .. "\n: 1\nb: [" .. ("*k, "):rep(64) .. "]\n"
  local _, err2 = yaml.decode(as_key)
  T.contains(tostring(err2), "64 MiB", "an anchored mapping key counts its text too")
  local fits = "a: &a " .. mib .. "\nb: [" .. ("*a, "):rep(60) .. "]\n"
  T.eq(#assert(yaml.decode(fits)).b, 60, "60 MiB is within the limit")
end)

T.test("the limit counts every document of decode_all together", function()
  -- 50,977 nodes once expanded: the map, 8 keys, levels 0..6 (5, 21, 85, ... 21,845 nodes) and items (21,845 again)
  local doc = alias_bomb(6)
  T.eq(#assert(yaml.decode_all(doc:rep(19, "---\n"))), 19, "19 such documents fit in 1,000,000 nodes")
  local _, err = yaml.decode_all(doc:rep(20, "---\n"))
  T.eq(err.code, "too_large", "20 do not")
end)

T.test("ordinary anchors, aliases and merges up to the limit still decode", function()
  local v = assert(yaml.decode(alias_bomb(7))) -- 203,895 nodes once expanded
  T.eq(#v.items, 4)
  T.eq(v.items[1][1][1][1][1][1][1][1], "lol")
  T.ok(v.items[1] == v.items[4], "an alias is the same table, not a copy")
  T.ok(#yaml.encode(v.l6) > 4 ^ 7, "and encodes expanded")
end)

T.test("encode_all checks the list's length (__len may return anything) before reading documents", function()
  for _, n in ipairs { math.maxinteger, 1 << 31, (1 << 32) + 1, 1000001, -1, math.mininteger } do
    local docs = setmetatable({}, { __len = function() return n end })
    T.raises(function() yaml.encode_all(docs) end, "not within 0..1000000")
  end
  local proxy = setmetatable({}, { __len = function() return 2 end, __index = function(_, i) return { doc = i } end })
  T.eq(yaml.encode_all(proxy), "doc: 1\n---\ndoc: 2\n", "documents are read as # and [] read them")
  local many = {}
  for i = 1, 50000 do many[i] = i end
  local back = assert(yaml.decode_all(yaml.encode_all(many)))
  T.eq(#back, 50000, "a long list needs no stack slot per document")
  T.eq(back[50000], 50000)
end)

T.run_all()
