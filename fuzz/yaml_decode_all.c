/* libFuzzer target: yaml.decode_all on any bytes. It must return a list of documents or nil and an error value (never
 * raise, never blow up on aliases), and every document must survive yaml.encode and yaml.decode unchanged (compared
 * by their encodings: a fixed point after one round). An alias inside its own anchor decodes to a table that contains
 * itself, which yaml.encode refuses as documented: such documents are not written back. */
#include "fuzz_lua.h"

static const char CHECKER[] =
    "local yaml = require 'alaris.yaml'\n"
    "local function round_trip(i, doc)\n"
    "  local ok, text = pcall(yaml.encode, doc)\n"
    "  if not ok and tostring(text):find('cycle', 1, true) then return end -- an alias inside its own anchor\n"
    "  if not ok then fuzz.finding('yaml.encode refused document %d: %s', i, tostring(text)) end\n"
    "  local again, err = yaml.decode(text)\n"
    "  if err then fuzz.finding('yaml.decode refused what yaml.encode wrote (%s): %q', tostring(err), text) end\n"
    "  local text2 = yaml.encode(again)\n"
    "  if text2 ~= text then fuzz.finding('document %d is not a fixed point: %q then %q', i, text, text2) end\n"
    "end\n"
    "return function(input)\n"
    "  local docs, err = yaml.decode_all(input)\n"
    "  if docs == nil then return fuzz.check_error(err, nil, 'yaml.decode_all') end\n"
    "  if type(docs) ~= 'table' then fuzz.finding('yaml.decode_all returned a %s', type(docs)) end\n"
    "  for i, doc in ipairs(docs) do round_trip(i, doc) end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_check(CHECKER, data, size);
  return 0;
}
