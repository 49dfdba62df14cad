/* libFuzzer target: playbook vars (stdlib/alaris/vars.lua) against a fixed set of declarations, one of each type.
 * An input is NAME=VALUE lines as given on the command line, then optionally a line "---" and a var file (YAML).
 * vars.resolve must return values of the declared types that satisfy the declared pattern, or nil and a message
 * (a string); it must never raise. */
#include "fuzz_lua.h"

static const char CHECKER[] =
    "local vars = require 'alaris.vars'\n"
    "local yaml = require 'alaris.yaml'\n"
    "local log = require 'alaris.log'\n"
    "log.set_sink(function(level, line) assert(type(line) == 'string') end) -- warnings are built, not printed\n"
    "local DECLS = {\n"
    "  tenant = { required = true, pattern = '^[a-z][a-z0-9-]{0,40}$' },\n"
    "  replicas = { type = 'integer', default = 1 },\n"
    "  ratio = { type = 'number' },\n"
    "  enabled = { type = 'boolean' },\n"
    "  zones = { type = 'list' },\n"
    "  labels = { type = 'map' },\n"
    "  note = { type = 'string', description = 'free text' },\n"
    "}\n"
    "vars.check_declarations(DECLS)\n"
    "local KIND_OK = {\n"
    "  string = function(v) return type(v) == 'string' end,\n"
    "  number = function(v) return type(v) == 'number' end,\n"
    "  integer = function(v) return math.type(v) == 'integer' end,\n"
    "  boolean = function(v) return type(v) == 'boolean' end,\n"
    "  list = function(v) return type(v) == 'table' end,\n"
    "  map = function(v) return type(v) == 'table' end,\n"
    "}\n"
    "local function read_input(input)\n"
    "  local args, file_text = ('\\n' .. input):match('^\\n?(.-)\\n%-%-%-\\n(.*)$')\n"
    "  local given, file = {}, nil\n"
    "  for line in (args or input):gmatch('[^\\n]+') do\n"
    "    local name, value = line:match('^([%a_][%w_]*)=(.*)$')\n"
    "    if name then given[name] = value end\n"
    "  end\n"
    "  local decoded = file_text and yaml.decode(file_text)\n"
    "  if type(decoded) == 'table' then file = decoded end\n"
    "  return given, file\n"
    "end\n"
    "return function(input)\n"
    "  local given, file = read_input(input)\n"
    "  local values, err = vars.resolve(DECLS, given, file)\n"
    "  if values == nil then\n"
    "    if type(err) ~= 'string' then fuzz.finding('vars.resolve failed with a %s', type(err)) end\n"
    "    return\n"
    "  end\n"
    "  for name, d in pairs(DECLS) do\n"
    "    local v = values[name]\n"
    "    if v ~= nil and not KIND_OK[d.type or 'string'](v) then\n"
    "      fuzz.finding('var %s: a %s for a declared %s', name, type(v), d.type or 'string')\n"
    "    end\n"
    "  end\n"
    "  local t = values.tenant\n"
    "  if type(t) ~= 'string' or #t > 41 or not t:match('^[a-z][a-z0-9%-]*$') then\n"
    "    fuzz.finding('var tenant %q passed its pattern', tostring(t))\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_check(CHECKER, data, size);
  return 0;
}
