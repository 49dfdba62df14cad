/* What the three files of alaris.sigv4 share: the request being signed and the declarations that cross files.
 * sigv4.c is the Lua-facing sign/presign functions, the signature and the result tables; sigv4_request.c reads the
 * argument table into a request; sigv4_canonical.c encodes URIs and builds the canonical path, query, headers and
 * request. It is private to bindings/sigv4*.c, not an API. */
#ifndef ALARIS_SIGV4_H
#define ALARIS_SIGV4_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

typedef struct header {
  const char *name, *value;
  size_t nlen, vlen;
  int order;     /* position in the request: ties between equal names keep it */
  int is_signed; /* part of the canonical request */
} header;

typedef struct param {
  const char *name, *value; /* URI-encoded */
  size_t nlen, vlen;
} param;

typedef struct params {
  param *items;
  int n, max;
} params;

typedef struct request {
  const char *method, *scheme, *authority, *path, *query, *body;
  size_t authority_len, path_len, query_len, body_len;
  const char *access_key, *secret_key, *token, *region, *service;
  int normalize, double_encode, sign_body, omit_token;
  char amz_date[17], date[9];
  char payload_hash[128];
  header *headers;
  int nheaders, max_headers;
  int anchor; /* stack index of a table keeping every string and array we make alive */
  int anchored;
} request;

/* sigv4.c */
void sigv4_sha256_hex(const char *s, size_t n, char out[65]);

/* sigv4_request.c */
void sigv4_read_request(lua_State *L, request *r);
const void *sigv4_anchor_top(lua_State *L, request *r);
const char *sigv4_anchor_string(lua_State *L, request *r, size_t *len);
int sigv4_name_is(const char *name, size_t nlen, const char *lower);
void sigv4_add_header(lua_State *L, request *r, const char *name, size_t nlen, const char *value, size_t vlen,
                      int is_signed);

/* sigv4_canonical.c */
void sigv4_add_encoded(luaL_Buffer *b, const char *s, size_t n, const char *keep);
void sigv4_add_header_value(luaL_Buffer *b, const char *v, size_t n);
void sigv4_parse_query(lua_State *L, request *r, params *ps, int extra);
void sigv4_add_param(lua_State *L, request *r, params *ps, const char *name, size_t nlen, const char *value,
                     size_t vlen);
void sigv4_push_canonical_query(lua_State *L, params *ps);
void sigv4_push_canonical_headers(lua_State *L, request *r);
void sigv4_push_canonical_request(lua_State *L, request *r, int query, int headers, int signed_list);

#endif
