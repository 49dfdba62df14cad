-- alaris.crypto: digests and MACs against published test vectors, hex and base64 in both alphabets, random bytes,
-- and generated passwords that never show in what alaris prints.
local T = require "testing"
local crypto = require "alaris.crypto"
local alaris = require "alaris"

T.test("sha256 matches the FIPS 180-2 vectors and returns 32 raw bytes", function()
  T.eq(#crypto.sha256("abc"), 32)
  T.eq(crypto.hex(crypto.sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.eq(crypto.hex(crypto.sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  T.eq(crypto.hex(crypto.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  T.ok(crypto.sha256("a\0b") ~= crypto.sha256("a"), "bytes after a NUL count")
end)

T.test("hmac_sha256 matches RFC 4231 test cases 1, 2 and 6", function()
  T.eq(crypto.hex(crypto.hmac_sha256(string.rep("\x0b", 20), "Hi There")),
    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
  T.eq(crypto.hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
  T.eq(crypto.hex(crypto.hmac_sha256(string.rep("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First")),
    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
  T.eq(#crypto.hmac_sha256("k", "m"), 32)
end)

T.test("hex writes two lowercase digits per byte", function()
  T.eq(crypto.hex(""), "")
  T.eq(crypto.hex("\0\1\15\16\127\128\255"), "00010f107f80ff")
  T.eq(crypto.hex("AZ"), "415a")
end)

T.test("base64 standard alphabet: RFC 4648 vectors with padding", function()
  local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==", fooba = "Zm9vYmE=",
    foobar = "Zm9vYmFy" }
  for plain, encoded in pairs(vectors) do
    T.eq(crypto.base64_encode(plain), encoded)
    T.eq(crypto.base64_encode(plain, "std"), encoded)
    T.eq(crypto.base64_decode(encoded), plain)
  end
  T.eq(crypto.base64_encode("\xfb\xff"), "+/8=")
  T.eq(crypto.base64_decode("Zm8"), "fo", "padding is optional")
end)

T.test("base64 URL alphabet: - and _, no padding", function()
  T.eq(crypto.base64_encode("\xfb\xff", "url"), "-_8")
  T.eq(crypto.base64_encode("f", "url"), "Zg")
  T.eq(crypto.base64_decode("-_8", "url"), "\xfb\xff")
  T.eq(crypto.base64_decode("-_8=", "url"), "\xfb\xff")
  local v, err = crypto.base64_decode("-_8", "std")
  T.eq(v, nil, "URL characters are not standard base64")
  T.eq(err.position, 1)
  T.raises(function() crypto.base64_encode("x", "hex") end, "invalid option")
end)

T.test("base64 round-trips every byte value in both alphabets", function()
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  local bytes = table.concat(all)
  for len = 0, 7 do
    local s = bytes:sub(1, 250 + len)
    T.eq(crypto.base64_decode(crypto.base64_encode(s)), s)
    T.eq(crypto.base64_decode(crypto.base64_encode(s, "url"), "url"), s)
    T.ok(not crypto.base64_encode(s, "url"):find("[+/=]"), "url output has no + / =")
  end
end)

T.test("base64 decode of invalid input returns nil and an error", function()
  local v, err = crypto.base64_decode("Zm9v!mFy")
  T.eq(v, nil)
  T.eq(err.code, "invalid_base64")
  T.eq(err.position, 5)
  T.contains(tostring(err), "invalid base64 at byte 5")
  T.eq(select(2, crypto.base64_decode("Zm9vY")).code, "invalid_base64", "a length no encoder produces")
  T.contains(tostring(select(2, crypto.base64_decode("Zg="))), "padding")
  T.contains(tostring(select(2, crypto.base64_decode("Zg==Zg=="))), "byte 3")
  T.eq(crypto.base64_decode("Zm9v\n"), nil, "whitespace is not base64")
end)

T.test("random_bytes gives the length asked, different each time", function()
  T.eq(#crypto.random_bytes(0), 0)
  T.eq(#crypto.random_bytes(1), 1)
  local a, b = crypto.random_bytes(32), crypto.random_bytes(32)
  T.eq(#a, 32)
  T.ok(a ~= b, "two draws of 32 bytes differ")
  local seen = {}
  for c in crypto.random_bytes(4096):gmatch(".") do seen[c] = true end
  local distinct = 0
  for _ in pairs(seen) do distinct = distinct + 1 end
  T.ok(distinct > 200, "4096 random bytes use most byte values (got " .. distinct .. ")")
  T.raises(function() crypto.random_bytes(-1) end, "between")
end)

T.test("password is URL-safe, 32 characters by default, and registered as a secret", function()
  local pw = crypto.password()
  T.eq(#pw, 32)
  T.ok(pw:match("^[A-Za-z0-9_-]+$"), "URL-safe characters only: " .. alaris.mask(pw))
  T.eq(#crypto.password(12), 12)
  T.ok(crypto.password() ~= pw, "each call gives a new password")
  T.eq(alaris.mask(pw), "***")
  T.eq(alaris.mask("user:" .. pw .. "@db"), "user:***@db")
  T.raises(function() crypto.password(0) end, "between")
end)

T.test("a printed password shows as *** in alaris-run output", function()
  local dir = T.tmpdir()
  local script = T.write_file(dir .. "/print-password.lua", [[
local crypto = require "alaris.crypto"
local pw = crypto.password(24)
local f = assert(io.open(arg[1], "w")) -- files a script writes itself are not masked: the test learns the value
f:write(pw)
f:close()
print("password is " .. pw)
io.write("again: ", pw, "\n")
io.stderr:write("stderr: " .. pw .. "\n")
]])
  local secret_file = dir .. "/pw"
  local out, err, code = T.run(T.sh_quote(T.alaris_run) .. " " .. T.sh_quote(script) .. " " .. T.sh_quote(secret_file))
  T.eq(code, 0, "exit code (stderr: " .. err .. ")")
  local pw = T.read_file(secret_file)
  T.eq(#pw, 24)
  T.not_contains(out, pw)
  T.not_contains(err, pw)
  T.contains(out, "password is ***\n")
  T.contains(out, "again: ***\n")
  T.contains(err, "stderr: ***")
end)

T.run_all()
