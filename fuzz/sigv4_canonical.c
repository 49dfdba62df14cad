/* libFuzzer target: SigV4 canonicalisation (bindings/sigv4_canonical.c) through sigv4.sign and sigv4.presign. An
 * input is an HTTP request as on the wire: "METHOD target", header lines "Name: value" (a line starting with white
 * space continues the previous value, folded), a blank line, the body. It is signed by AWS's rules and by S3's
 * (no normalisation, each path segment decoded then encoded once), and presigned. Signing may raise only its own
 * "sigv4: " misuse errors; the canonical path and query must be fully encoded (unreserved bytes, '/', '=', '&' and
 * upper-case %XX only), signing twice must give the same signature, and under S3's rules a path without '%' must
 * sign as its own encoding does. The method stops at a NUL byte: the binding reads it as a C string. */
#include "fuzz_lua.h"

static const char CHECKER[] =
    "local sigv4 = require 'alaris.sigv4'\n"
    "local function parse(input)\n"
    "  local head, body = input:match('^(.-)\\r?\\n\\r?\\n(.*)$')\n"
    "  head = head or input\n"
    "  local method, target = head:match('^([^ %z\\r\\n]*) ?([^ \\r\\n]*)')\n"
    "  local headers = {}\n"
    "  for line in head:gmatch('\\n([^\\n]*)') do\n"
    "    local name, value = line:match('^([^:]*):(.*)$')\n"
    "    if line:match('^[ \\t]') and #headers > 0 then\n"
    "      headers[#headers][2] = headers[#headers][2] .. '\\n' .. line\n"
    "    elseif name then\n"
    "      headers[#headers + 1] = { name, value }\n"
    "    end\n"
    "  end\n"
    "  local path, query = target:match('^([^?]*)[?]?(.*)$')\n"
    "  return { method = method ~= '' and method or 'GET', path = path, query = query, headers = headers,\n"
    "    body = body or '', access_key = 'AKIDEXAMPLE', secret_key = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',\n"
    "    region = 'us-east-1', service = 'service', time = '2015-08-30T12:36:00Z' }\n"
    "end\n"
    "local function encoded(s, extra)\n"
    "  return not (s:gsub('%%[0-9A-F][0-9A-F]', '')):find('[^%w%-%._~' .. extra .. ']')\n"
    "end\n"
    "local function sign(request, what)\n"
    "  local ok, r = pcall(sigv4.sign, request)\n"
    "  if not ok then\n"
    "    if type(r) == 'string' and r:find('^sigv4: ') then return nil end\n"
    "    fuzz.finding('%s raised: %s', what, tostring(r))\n"
    "  end\n"
    "  local method, path, query = r.canonical_request:match('^(.-)\\n(.-)\\n(.-)\\n')\n"
    "  if method ~= request.method then fuzz.finding('%s: method %q in %q', what, method, r.canonical_request) end\n"
    "  if not encoded(path, '/') then fuzz.finding('%s: canonical path %q', what, path) end\n"
    "  if not encoded(query, '=&') then fuzz.finding('%s: canonical query %q', what, query) end\n"
    "  if sigv4.sign(request).signature ~= r.signature then fuzz.finding('%s: signed twice, two signatures', what) "
    "end\n"
    "  return r, path\n"
    "end\n"
    "local function sign_as_s3(request)\n"
    "  request.normalize_path, request.double_encode, request.sign_body = false, false, true\n"
    "  local r, path = sign(request, 'sign (S3)')\n"
    "  if r and not request.path:find('%', 1, true) then\n"
    "    request.path = sigv4.uri_encode(request.path, '/')\n"
    "    local r2, path2 = sign(request, 'sign (S3, encoded path)')\n"
    "    if path2 ~= path then fuzz.finding('S3 path %q signs as %q, encoded as %q', request.path, path, path2) end\n"
    "  end\n"
    "end\n"
    "return function(input)\n"
    "  sign(parse(input), 'sign')\n"
    "  sign_as_s3(parse(input))\n"
    "  local request = parse(input)\n"
    "  request.payload_hash = 'UNSIGNED-PAYLOAD'\n"
    "  local ok, p = pcall(sigv4.presign, request)\n"
    "  if not ok and not (type(p) == 'string' and p:find('^sigv4: ')) then\n"
    "    fuzz.finding('presign raised: %s', tostring(p))\n"
    "  end\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_check(CHECKER, data, size);
  return 0;
}
