/* alaris.sigv4: AWS Signature Version 4 for one HTTP request, as an Authorization header (sign) or as a presigned
 * URL (presign). This file is the Lua-facing side: sign, presign, sha256_hex and uri_encode, the signature itself
 * (HMAC-SHA256 from OpenSSL libcrypto) and the result tables; sigv4_request.c reads the argument table and
 * sigv4_canonical.c builds the canonical request. It sends nothing and knows nothing of S3 beyond the flags S3 needs
 * (normalize_path = false, double_encode = false, sign_body = true); alaris.s3 builds on it. */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800

/* ---- the signature ---- */

static void hex_encode(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void sigv4_sha256_hex(const char *s, size_t n, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)s, n, md);
  hex_encode(md, sizeof md, out);
}

static void hmac_sha256(const void *key, size_t klen, const char *data, size_t dlen, unsigned char out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, dlen, out, &len);
}

static void push_scope(lua_State *L, const request *r) {
  lua_pushfstring(L, "%s/%s/%s/aws4_request", r->date, r->region, r->service);
}

/* Pushes the string to sign and the hex signature for the canonical request on top of the stack. */
static void push_signature(lua_State *L, const request *r) {
  size_t clen;
  const char *canonical = lua_tolstring(L, -1, &clen);
  char hash[65];
  sigv4_sha256_hex(canonical, clen, hash);
  lua_pushfstring(L, ALGORITHM "\n%s\n", r->amz_date);
  push_scope(L, r);
  lua_pushfstring(L, "\n%s", hash);
  lua_concat(L, 3);
  size_t slen;
  const char *sts = lua_tolstring(L, -1, &slen);
  unsigned char k[32];
  lua_pushfstring(L, "AWS4%s", r->secret_key);
  hmac_sha256(lua_tostring(L, -1), lua_rawlen(L, -1), r->date, strlen(r->date), k);
  lua_pop(L, 1);
  hmac_sha256(k, 32, r->region, strlen(r->region), k);
  hmac_sha256(k, 32, r->service, strlen(r->service), k);
  hmac_sha256(k, 32, "aws4_request", 12, k);
  unsigned char sig[32];
  hmac_sha256(k, 32, sts, slen, sig);
  char hex[65];
  hex_encode(sig, 32, hex);
  lua_pushstring(L, hex);
}

/* ---- results and the Lua functions ---- */

static void set_string_field(lua_State *L, int t, const char *field, int index) {
  lua_pushvalue(L, index);
  lua_setfield(L, t, field);
}

static void push_header_pairs(lua_State *L, const request *r) {
  lua_createtable(L, r->nheaders, 0);
  for (int i = 0; i < r->nheaders; i++) {
    lua_createtable(L, 2, 0);
    lua_pushlstring(L, r->headers[i].name, r->headers[i].nlen);
    lua_rawseti(L, -2, 1);
    lua_pushlstring(L, r->headers[i].value, r->headers[i].vlen);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, i + 1);
  }
}

/* The fields sign and presign both return: the canonical request, the string to sign and the signature (three
 * slots in a row from `canonical`), the signed header list at `signed_list` and the request's headers. Pushes the
 * table and returns its stack index. */
static int push_result(lua_State *L, const request *r, int canonical, int signed_list) {
  lua_createtable(L, 0, 7);
  int t = lua_gettop(L);
  set_string_field(L, t, "canonical_request", canonical);
  set_string_field(L, t, "string_to_sign", canonical + 1);
  set_string_field(L, t, "signature", canonical + 2);
  set_string_field(L, t, "signed_headers", signed_list);
  push_header_pairs(L, r);
  lua_setfield(L, t, "headers");
  return t;
}

static void add_literal_header(lua_State *L, request *r, const char *name, const char *value, int is_signed) {
  lua_pushstring(L, value);
  size_t vlen;
  const char *v = sigv4_anchor_string(L, r, &vlen);
  sigv4_add_header(L, r, name, strlen(name), v, vlen, is_signed);
}

/* sigv4.sign{...} -> {canonical_request, string_to_sign, signature, authorization, headers} */
static int l_sign(lua_State *L) {
  request r;
  sigv4_read_request(L, &r);
  if (r.token)
    add_literal_header(L, &r, "X-Amz-Security-Token", r.token, !r.omit_token);
  add_literal_header(L, &r, "X-Amz-Date", r.amz_date, 1);
  if (r.sign_body)
    add_literal_header(L, &r, "x-amz-content-sha256", r.payload_hash, 1);
  params ps;
  sigv4_parse_query(L, &r, &ps, 0);
  sigv4_push_canonical_query(L, &ps);           /* 3 */
  sigv4_push_canonical_headers(L, &r);          /* 4, 5 */
  sigv4_push_canonical_request(L, &r, 3, 4, 5); /* 6 */
  push_signature(L, &r);                        /* 7 sts, 8 signature */
  lua_pushfstring(L, ALGORITHM " Credential=%s/", r.access_key);
  push_scope(L, &r);
  lua_pushfstring(L, ", SignedHeaders=%s, Signature=%s", lua_tostring(L, 5), lua_tostring(L, 8));
  lua_concat(L, 3); /* 9 */
  sigv4_add_header(L, &r, "Authorization", 13, lua_tostring(L, 9), lua_rawlen(L, 9), 0);
  int t = push_result(L, &r, 6, 5);
  set_string_field(L, t, "authorization", 9);
  lua_pushstring(L, r.payload_hash);
  lua_setfield(L, t, "payload_hash");
  return 1;
}

static void push_param_value(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  sigv4_add_encoded(&b, s, n, "");
  luaL_pushresult(&b);
}

/* Adds one X-Amz-* parameter: to the canonical set when signed, and to the query text being built at `text`. */
static void add_presign_param(lua_State *L, request *r, params *ps, int text, const char *name, const char *value,
                              int is_signed) {
  if (is_signed)
    sigv4_add_param(L, r, ps, name, strlen(name), value, strlen(value));
  lua_pushvalue(L, text);
  lua_pushstring(L, lua_rawlen(L, text) ? "&" : "");
  lua_pushstring(L, name);
  lua_pushliteral(L, "=");
  push_param_value(L, value, strlen(value));
  lua_concat(L, 5);
  lua_replace(L, text);
}

static lua_Integer read_expires(lua_State *L) {
  lua_getfield(L, 1, "expires");
  lua_Integer expires = lua_isnil(L, -1) ? 3600 : lua_tointeger(L, -1);
  if (expires < 1 || expires > MAX_EXPIRES)
    luaL_error(L, "sigv4: expires must be 1..%d seconds", MAX_EXPIRES);
  lua_pop(L, 1);
  return expires;
}

/* Pushes the presigned URL for the query text at `text`: scheme://authority path ? text (https and the Host
 * header when the caller gave a path instead of a url). */
static void push_presigned_url(lua_State *L, const request *r, int text) {
  if (r->scheme) {
    lua_pushfstring(L, "%s://", r->scheme);
    lua_pushlstring(L, r->authority, r->authority_len);
  } else {
    lua_pushliteral(L, "https://");
    lua_pushliteral(L, "");
    for (int i = 0; i < r->nheaders; i++)
      if (sigv4_name_is(r->headers[i].name, r->headers[i].nlen, "host")) {
        lua_pop(L, 1);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        sigv4_add_header_value(&b, r->headers[i].value, r->headers[i].vlen);
        luaL_pushresult(&b);
      }
  }
  lua_pushlstring(L, r->path, r->path_len);
  lua_pushliteral(L, "?");
  lua_pushvalue(L, text);
  lua_concat(L, 5);
}

/* sigv4.presign{..., expires = 3600} -> {url, query, canonical_request, string_to_sign, signature, headers} */
static int l_presign(lua_State *L) {
  request r;
  sigv4_read_request(L, &r);
  lua_Integer expires = read_expires(L);
  params ps;
  sigv4_parse_query(L, &r, &ps, 6);
  lua_pushlstring(L, r.query ? r.query : "", r.query ? r.query_len : 0); /* 3: the query text sent */
  sigv4_push_canonical_headers(L, &r);                                   /* 4, 5 */
  push_scope(L, &r);
  lua_pushfstring(L, "%s/%s", r.access_key, lua_tostring(L, -1));
  lua_remove(L, -2); /* 6: credential */
  add_presign_param(L, &r, &ps, 3, "X-Amz-Algorithm", ALGORITHM, 1);
  add_presign_param(L, &r, &ps, 3, "X-Amz-Credential", lua_tostring(L, 6), 1);
  add_presign_param(L, &r, &ps, 3, "X-Amz-Date", r.amz_date, 1);
  add_presign_param(L, &r, &ps, 3, "X-Amz-SignedHeaders", lua_tostring(L, 5), 1);
  char expires_text[32];
  snprintf(expires_text, sizeof expires_text, "%lld", (long long)expires);
  add_presign_param(L, &r, &ps, 3, "X-Amz-Expires", expires_text, 1);
  if (r.token)
    add_presign_param(L, &r, &ps, 3, "X-Amz-Security-Token", r.token, !r.omit_token);
  sigv4_push_canonical_query(L, &ps);           /* 7 */
  sigv4_push_canonical_request(L, &r, 7, 4, 5); /* 8 */
  push_signature(L, &r);                        /* 9 sts, 10 signature */
  add_presign_param(L, &r, &ps, 3, "X-Amz-Signature", lua_tostring(L, 10), 0);
  int t = push_result(L, &r, 8, 5);
  set_string_field(L, t, "query", 3);
  push_presigned_url(L, &r, 3);
  lua_setfield(L, t, "url");
  return 1;
}

/* sigv4.sha256_hex(s) -> lower-case hex digest (the x-amz-content-sha256 of a body). */
static int l_sha256_hex(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[65];
  sigv4_sha256_hex(s, n, hex);
  lua_pushstring(L, hex);
  return 1;
}

/* sigv4.uri_encode(s [, keep]) -> AWS UriEncode of s, leaving the characters of `keep` (e.g. "/") as they are. */
static int l_uri_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *keep = luaL_optstring(L, 2, "");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  sigv4_add_encoded(&b, s, n, keep);
  luaL_pushresult(&b);
  return 1;
}

int luaopen_alaris_sigv4(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"sign", l_sign}, {"presign", l_presign}, {"sha256_hex", l_sha256_hex}, {"uri_encode", l_uri_encode},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  return 1;
}
