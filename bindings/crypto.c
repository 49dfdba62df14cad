/* alaris.crypto: the few primitives playbooks need — SHA-256, HMAC-SHA-256 (OpenSSL libcrypto), hex, base64 in the
 * standard and URL alphabets, random bytes from the OS, and generated passwords that are registered as secrets.
 * It is not a general crypto library: no ciphers, no keys, no certificates. */
#include "errors.h"
#include "secrets.h"

#include <errno.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

#define MAX_RANDOM_BYTES (1 << 20)
#define MAX_PASSWORD 4096
#define DEFAULT_PASSWORD 32

static const char STANDARD_ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL_ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* crypto.sha256(s) -> 32 raw bytes */
static int crypto_sha256(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(s, len, digest, &n, EVP_sha256(), NULL))
    return luaL_error(L, "SHA-256 failed");
  lua_pushlstring(L, (const char *)digest, n);
  return 1;
}

/* crypto.hmac_sha256(key, s) -> 32 raw bytes */
static int crypto_hmac_sha256(lua_State *L) {
  size_t key_len, len;
  const char *key = luaL_checklstring(L, 1, &key_len);
  const char *s = luaL_checklstring(L, 2, &len);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)s, len, mac, &n))
    return luaL_error(L, "HMAC-SHA-256 failed");
  lua_pushlstring(L, (const char *)mac, n);
  return 1;
}

/* crypto.hex(s) -> lowercase hexadecimal */
static int crypto_hex(lua_State *L) {
  static const char digits[] = "0123456789abcdef";
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len * 2);
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[s[i] >> 4];
    out[2 * i + 1] = digits[s[i] & 15];
  }
  luaL_pushresultsize(&b, len * 2);
  return 1;
}

/* The optional second argument: nil or "std" for RFC 4648 base64 with padding, "url" for base64url without. */
static int url_variant(lua_State *L, int arg) {
  static const char *const variants[] = {"std", "url", NULL};
  return luaL_checkoption(L, arg, "std", variants) == 1;
}

/* crypto.base64_encode(s [, "url"]) -> text */
static int crypto_base64_encode(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  int url = url_variant(L, 2);
  const char *alphabet = url ? URL_ALPHABET : STANDARD_ALPHABET;
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (len + 2) / 3 * 4);
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    size_t left = len - i;
    unsigned v = (unsigned)s[i] << 16 | (left > 1 ? (unsigned)s[i + 1] << 8 : 0) | (left > 2 ? s[i + 2] : 0);
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    if (left > 1)
      out[o++] = alphabet[(v >> 6) & 63];
    else if (!url)
      out[o++] = '=';
    if (left > 2)
      out[o++] = alphabet[v & 63];
    else if (!url)
      out[o++] = '=';
  }
  luaL_pushresultsize(&b, o);
  return 1;
}

static int sextet(const char *alphabet, char c) {
  const char *at = c ? strchr(alphabet, c) : NULL;
  return at ? (int)(at - alphabet) : -1;
}

/* Length of the text without its '=' padding, or -1 when the padding is malformed. */
static long unpadded_length(const char *s, size_t len) {
  size_t n = len;
  while (n > 0 && s[n - 1] == '=')
    n--;
  size_t pad = len - n;
  if (pad == 0)
    return (long)n;
  if (pad > 2 || len % 4 != 0)
    return -1;
  return (long)n;
}

/* crypto.base64_decode(s [, "url"]) -> bytes | nil, err. Padding is optional in both alphabets; any other character,
 * or a length no encoder produces, is an error (err.position is the 1-based offset of the bad character). */
static int crypto_base64_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *alphabet = url_variant(L, 2) ? URL_ALPHABET : STANDARD_ALPHABET;
  long n = unpadded_length(s, len);
  if (n < 0 || n % 4 == 1) {
    lua_pushnil(L);
    alaris_error_push(L, "invalid_base64", "invalid base64: %s", n < 0 ? "bad padding" : "truncated input");
    return 2;
  }
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, (size_t)n / 4 * 3 + 2);
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (long i = 0; i < n; i++) {
    int v = sextet(alphabet, s[i]);
    if (v < 0) {
      luaL_pushresultsize(&b, 0);
      lua_pushnil(L);
      alaris_error_push(L, "invalid_base64", "invalid base64 at byte %d", (int)i + 1);
      lua_pushinteger(L, (lua_Integer)i + 1);
      lua_setfield(L, -2, "position");
      return 2;
    }
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)((acc >> bits) & 0xFF);
    }
  }
  luaL_pushresultsize(&b, o);
  return 1;
}

static void fill_random(lua_State *L, unsigned char *out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      luaL_error(L, "cannot read random bytes from the OS: %s", strerror(errno));
    }
    done += (size_t)got;
  }
}

/* crypto.random_bytes(n) -> n bytes from the OS random source (getrandom) */
static int crypto_random_bytes(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0 && n <= MAX_RANDOM_BYTES, 1, "must be between 0 and 1048576");
  luaL_Buffer b;
  unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
  fill_random(L, out, (size_t)n);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* crypto.password([n]) -> n (default 32) characters of [A-Za-z0-9_-], each uniform (6 random bits), registered as a
 * secret so that it is masked in everything alaris writes. */
static int crypto_password(lua_State *L) {
  lua_Integer n = luaL_optinteger(L, 1, DEFAULT_PASSWORD);
  luaL_argcheck(L, n >= 1 && n <= MAX_PASSWORD, 1, "must be between 1 and 4096");
  unsigned char bytes[MAX_PASSWORD];
  char text[MAX_PASSWORD];
  fill_random(L, bytes, (size_t)n);
  for (lua_Integer i = 0; i < n; i++)
    text[i] = URL_ALPHABET[bytes[i] & 63];
  alaris_secret_add(L, text, (size_t)n);
  lua_pushlstring(L, text, (size_t)n);
  OPENSSL_cleanse(bytes, sizeof bytes);
  OPENSSL_cleanse(text, sizeof text);
  return 1;
}

int luaopen_alaris_crypto(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"sha256", crypto_sha256},
      {"hmac_sha256", crypto_hmac_sha256},
      {"hex", crypto_hex},
      {"base64_encode", crypto_base64_encode},
      {"base64_decode", crypto_base64_decode},
      {"random_bytes", crypto_random_bytes},
      {"password", crypto_password},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  return 1;
}
