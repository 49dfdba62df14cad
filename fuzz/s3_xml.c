/* libFuzzer target: the S3 XML parser (bindings/s3.c, alaris.s3.core.parse_xml) on any response body. It must
 * return an element tree ({tag, text, children...}, no deeper than its limit) or nil and an "xml" error value, never
 * raise. The input's text, escaped by xml_escape as the client escapes keys in request bodies, must parse back to
 * itself whenever XML can carry it (valid UTF-8, no control characters, no carriage returns, which XML normalises). */
#include "fuzz_lua.h"

static const char CHECKER[] =
    "local core = require 'alaris.s3.core'\n"
    "local MAX_DEPTH = 64\n"
    "local function check_element(e, depth)\n"
    "  if depth > MAX_DEPTH then fuzz.finding('an element %d deep', depth) end\n"
    "  if type(e.tag) ~= 'string' or e.tag == '' then fuzz.finding('an element without a tag') end\n"
    "  if e.text ~= nil and type(e.text) ~= 'string' then fuzz.finding('<%s> text is a %s', e.tag, type(e.text)) end\n"
    "  for _, child in ipairs(e) do check_element(child, depth + 1) end\n"
    "end\n"
    "local function xml_can_carry(s)\n"
    "  return utf8.len(s) and not s:find('[%z\\1-\\8\\11\\12\\13\\14-\\31]') and not s:find('\\239\\191[\\190\\191]')\n"
    "end\n"
    "local function check_escape(input)\n"
    "  if not xml_can_carry(input) then return end\n"
    "  local root, err = core.parse_xml('<Key>' .. core.xml_escape(input) .. '</Key>')\n"
    "  if not root then fuzz.finding('escaped text does not parse: %s', tostring(err)) end\n"
    "  if (root.text or '') ~= input then fuzz.finding('%q escaped parses back as %q', input, root.text or '') end\n"
    "end\n"
    "return function(input)\n"
    "  local root, err = core.parse_xml(input)\n"
    "  if root then check_element(root, 1) else fuzz.check_error(err, 'xml', 'parse_xml') end\n"
    "  check_escape(input)\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_check(CHECKER, data, size);
  return 0;
}
