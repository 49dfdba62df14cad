---@meta
-- LuaLS type stubs for `alaris.crypto` (bindings/crypto.c): SHA-256, HMAC-SHA-256, hex, base64, random bytes and
-- generated passwords. For editors only; tests/types_test.lua checks it against the real module.

---@class alaris.crypto.Error: alaris.Error
---@field code "invalid_base64"
---@field position? integer 1-based offset of a character outside the alphabet

---@alias alaris.crypto.Base64Variant "std"|"url"

---@class alaris.crypto
local crypto = {}

---The SHA-256 digest of `s`, 32 raw bytes.
---@param s string
---@return string
function crypto.sha256(s) end

---HMAC-SHA-256 of `s` with `key`, 32 raw bytes.
---@param key string
---@param s string
---@return string
function crypto.hmac_sha256(key, s) end

---Two lowercase hexadecimal digits per byte.
---@param s string
---@return string
function crypto.hex(s) end

---RFC 4648 base64 (`"std"`, padded) or base64url (`"url"`, unpadded); no line breaks.
---@param s string
---@param variant? alaris.crypto.Base64Variant default `"std"`
---@return string
function crypto.base64_encode(s, variant) end

---Decodes base64 text of the alphabet `variant` names; padding optional.
---@param s string
---@param variant? alaris.crypto.Base64Variant
---@return string|nil bytes
---@return alaris.crypto.Error|nil err
function crypto.base64_decode(s, variant) end

---`n` bytes (0 to 1 MiB) from the operating system's random source.
---@param n integer
---@return string
function crypto.random_bytes(n) end

---A new password of `n` URL-safe characters (default 32, at most 4096), registered as a secret.
---@param n? integer
---@return string
function crypto.password(n) end

return crypto
