/* libFuzzer target: json.decode on any bytes. It must return a value or nil and an "invalid_json" error (never raise),
 * and what it returns must survive json.encode and decode again unchanged (a fixed point after one round). */
#include "fuzz_lua.h"

static const char CHECKER[] =
    "local json = require 'alaris.json'\n"
    "local function round_trip(value)\n"
    "  local ok, text = pcall(json.encode, value)\n"
    "  if not ok then\n"
    "    if tostring(text):find('infinity', 1, true) then return end -- 1e999 reads as inf\n"
    "    fuzz.finding('json.encode refused what json.decode returned: %s', tostring(text))\n"
    "  end\n"
    "  local again, err = json.decode(text)\n"
    "  if again == nil then\n"
    "    fuzz.finding('json.decode refused what json.encode wrote (%s): %s', tostring(err), text)\n"
    "  end\n"
    "  local text2 = json.encode(again)\n"
    "  if text2 ~= text then fuzz.finding('not a fixed point: %q then %q', text, text2) end\n"
    "end\n"
    "return function(input)\n"
    "  local value, err = json.decode(input)\n"
    "  if value ~= nil then return round_trip(value) end\n"
    "  fuzz.check_error(err, 'invalid_json', 'json.decode')\n"
    "  local at = err.position\n"
    "  if math.type(at) ~= 'integer' or at < 1 or at > #input + 1 then\n"
    "    fuzz.finding('json.decode: position %s outside the input (%d bytes)', tostring(at), #input)\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_check(CHECKER, data, size);
  return 0;
}
