/* alaris.sigv4: AWS Signature Version 4 for one HTTP request, as an Authorization header (sign) or as a presigned
 * URL (presign). It canonicalises the method, path, query and headers as SigV4 says and computes the signature
 * with HMAC-SHA256 from OpenSSL libcrypto. It sends nothing and knows nothing of S3 beyond the flags S3 needs
 * (normalize_path = false, double_encode = false, sign_body = true); alaris.s3 builds on it. */
#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800

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

/* ---- bytes ---- */

static void hex_encode(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static void sha256_hex(const char *s, size_t n, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)s, n, md);
  hex_encode(md, sizeof md, out);
}

static void hmac_sha256(const void *key, size_t klen, const char *data, size_t dlen, unsigned char out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, dlen, out, &len);
}

static int is_unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* AWS UriEncode: every byte but the unreserved ones and those in `keep` becomes %XX (upper-case hex). */
static void add_encoded(luaL_Buffer *b, const char *s, size_t n, const char *keep) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c) || (c && strchr(keep, c))) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, digits[c >> 4]);
      luaL_addchar(b, digits[c & 15]);
    }
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decoding into out (at least n bytes); a '%' not followed by two hex digits stays as it is, and '+'
 * stays '+' (SigV4 is not HTML forms). Returns the decoded length. */
static size_t decode_into(const char *s, size_t n, char *out) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out[len++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out[len++] = s[i];
    }
  }
  return len;
}

/* ---- keeping values alive ---- */

/* Moves the value on top of the stack into the request's anchor table (it stays valid until the call returns). */
static const void *anchor_top(lua_State *L, request *r) {
  const void *p = lua_type(L, -1) == LUA_TSTRING ? (const void *)lua_tostring(L, -1) : lua_touserdata(L, -1);
  lua_rawseti(L, r->anchor, ++r->anchored);
  return p;
}

static const char *anchor_string(lua_State *L, request *r, size_t *len) {
  *len = lua_rawlen(L, -1);
  return anchor_top(L, r);
}

/* ---- reading the argument table ---- */

static const char *opt_string_field(lua_State *L, const char *field, size_t *len) {
  lua_getfield(L, 1, field);
  const char *s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    s = lua_tolstring(L, -1, len);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "sigv4: field '%s' must be a string", field);
  }
  lua_pop(L, 1); /* still referenced by the argument table */
  return s;
}

static const char *string_field(lua_State *L, const char *field) {
  const char *s = opt_string_field(L, field, NULL);
  if (!s)
    luaL_error(L, "sigv4: field '%s' is required", field);
  return s;
}

static int bool_field(lua_State *L, const char *field, int dflt) {
  lua_getfield(L, 1, field);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static void format_time(request *r, time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(r->amz_date, sizeof r->amz_date, "%Y%m%dT%H%M%SZ", &tm);
  memcpy(r->date, r->amz_date, 8);
  r->date[8] = '\0';
}

/* time: "2015-08-30T12:36:00Z", "20150830T123600Z" or seconds since the epoch; default now. */
static void read_time(lua_State *L, request *r) {
  lua_getfield(L, 1, "time");
  if (lua_isnil(L, -1)) {
    format_time(r, time(NULL));
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    format_time(r, (time_t)lua_tonumber(L, -1));
  } else {
    const char *s = luaL_checkstring(L, -1);
    struct tm tm = {0};
    char z = 0;
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &z);
    if (n != 7)
      n = sscanf(s, "%4d%2d%2dT%2d%2d%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                 &z);
    if (n != 7 || z != 'Z')
      luaL_error(L, "sigv4: time must look like 2015-08-30T12:36:00Z, got '%s'", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    format_time(r, timegm(&tm));
  }
  lua_pop(L, 1);
}

/* url = "scheme://authority/path?query#fragment" */
static void split_url(lua_State *L, request *r, const char *url) {
  const char *sep = strstr(url, "://");
  if (!sep)
    luaL_error(L, "sigv4: url '%s' has no scheme", url);
  lua_pushlstring(L, url, (size_t)(sep - url));
  r->scheme = anchor_top(L, r);
  const char *auth = sep + 3;
  size_t alen = strcspn(auth, "/?#");
  const char *at = memchr(auth, '@', alen);
  if (at) {
    alen -= (size_t)(at + 1 - auth);
    auth = at + 1;
  }
  r->authority = auth;
  r->authority_len = alen;
  const char *p = auth + alen;
  size_t plen = strcspn(p, "?#");
  r->path = plen ? p : "/";
  r->path_len = plen ? plen : 1;
  if (p[plen] == '?') {
    r->query = p + plen + 1;
    r->query_len = strcspn(r->query, "#");
  }
}

/* The Host header curl sends for this URL: the authority without a default port. */
static void push_host(lua_State *L, const request *r) {
  size_t n = r->authority_len;
  const char *a = r->authority;
  if (strcmp(r->scheme, "https") == 0 && n > 4 && memcmp(a + n - 4, ":443", 4) == 0)
    n -= 4;
  if (strcmp(r->scheme, "http") == 0 && n > 3 && memcmp(a + n - 3, ":80", 3) == 0)
    n -= 3;
  lua_pushlstring(L, a, n);
}

static int name_is(const char *name, size_t nlen, const char *lower) {
  return strlen(lower) == nlen && strncasecmp(name, lower, nlen) == 0;
}

/* Headers a proxy or the transport may change: never signed. */
static int is_unsignable(const char *name, size_t nlen) {
  static const char *const skip[] = {"user-agent", "x-amzn-trace-id",   "expect",
                                     "connection", "transfer-encoding", NULL};
  for (int i = 0; skip[i]; i++)
    if (name_is(name, nlen, skip[i]))
      return 1;
  return 0;
}

static void add_header(lua_State *L, request *r, const char *name, size_t nlen, const char *value, size_t vlen,
                       int is_signed) {
  if (r->nheaders == r->max_headers)
    luaL_error(L, "sigv4: too many headers");
  header *h = &r->headers[r->nheaders];
  h->name = name;
  h->nlen = nlen;
  h->value = value;
  h->vlen = vlen;
  h->order = r->nheaders++;
  h->is_signed = is_signed && !is_unsignable(name, nlen);
}

/* One header from the caller (name at -2, value at -1; both popped). The headers sign itself adds are dropped;
 * a caller's x-amz-content-sha256 becomes the payload hash. */
static void take_header(lua_State *L, request *r) {
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "sigv4: header names must be strings");
  if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
    luaL_error(L, "sigv4: header '%s' needs a string value", lua_tostring(L, -2));
  luaL_tolstring(L, -1, NULL);
  lua_remove(L, -2);
  size_t vlen, nlen;
  const char *value = anchor_string(L, r, &vlen);
  const char *name = anchor_string(L, r, &nlen);
  if (name_is(name, nlen, "x-amz-content-sha256")) {
    if (!r->payload_hash[0] && vlen < sizeof r->payload_hash)
      memcpy(r->payload_hash, value, vlen + 1);
    r->sign_body = 1;
    return;
  }
  if (name_is(name, nlen, "authorization") || name_is(name, nlen, "x-amz-date") ||
      name_is(name, nlen, "x-amz-security-token"))
    return;
  add_header(L, r, name, nlen, value, vlen, 1);
}

static int count_headers(lua_State *L, int t) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    n++;
    lua_pop(L, 1);
  }
  return n;
}

static void read_headers(lua_State *L, request *r) {
  lua_getfield(L, 1, "headers");
  int t = lua_gettop(L);
  int n = lua_istable(L, t) ? count_headers(L, t) : 0;
  if (!lua_isnil(L, t) && !lua_istable(L, t))
    luaL_error(L, "sigv4: field 'headers' must be a table");
  r->max_headers = n + 5; /* Host, security token, date, content hash, Authorization */
  r->headers = lua_newuserdatauv(L, sizeof(header) * (size_t)r->max_headers, 0);
  anchor_top(L, r);
  if (n > 0 && lua_rawlen(L, t) > 0) {
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, t); i++) {
      lua_rawgeti(L, t, i);
      if (!lua_istable(L, -1))
        luaL_error(L, "sigv4: header %d must be a {name, value} pair", (int)i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      take_header(L, r);
      lua_pop(L, 1);
    }
  } else if (n > 0) {
    lua_pushnil(L);
    while (lua_next(L, t)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      take_header(L, r);
    }
  }
  lua_pop(L, 1);
}

static int has_header(const request *r, const char *lower) {
  for (int i = 0; i < r->nheaders; i++)
    if (name_is(r->headers[i].name, r->headers[i].nlen, lower))
      return 1;
  return 0;
}

/* Host comes first when the caller gave a url but no Host header. */
static void add_host_header(lua_State *L, request *r) {
  if (!r->scheme || has_header(r, "host"))
    return;
  memmove(r->headers + 1, r->headers, sizeof(header) * (size_t)r->nheaders);
  for (int i = 1; i <= r->nheaders; i++)
    r->headers[i].order = i;
  r->nheaders++;
  push_host(L, r);
  size_t len;
  const char *host = anchor_string(L, r, &len);
  r->headers[0] = (header){"Host", host, 4, len, 0, 1};
}

static void read_request(lua_State *L, request *r) {
  memset(r, 0, sizeof *r);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_newtable(L);
  r->anchor = 2;
  r->method = string_field(L, "method");
  const char *url = opt_string_field(L, "url", NULL);
  if (url) {
    split_url(L, r, url);
  } else {
    r->path = opt_string_field(L, "path", &r->path_len);
    if (!r->path || !r->path_len)
      r->path = "/", r->path_len = 1;
    r->query = opt_string_field(L, "query", &r->query_len);
  }
  r->body = opt_string_field(L, "body", &r->body_len);
  if (!r->body)
    r->body = "";
  r->access_key = string_field(L, "access_key");
  r->secret_key = string_field(L, "secret_key");
  r->token = opt_string_field(L, "session_token", NULL);
  if (r->token && !r->token[0])
    r->token = NULL;
  r->region = string_field(L, "region");
  r->service = string_field(L, "service");
  r->normalize = bool_field(L, "normalize_path", 1);
  r->double_encode = bool_field(L, "double_encode", 1);
  r->sign_body = bool_field(L, "sign_body", 0);
  r->omit_token = bool_field(L, "omit_session_token", 0);
  size_t hlen = 0;
  const char *hash = opt_string_field(L, "payload_hash", &hlen);
  if (hash) {
    if (hlen >= sizeof r->payload_hash)
      luaL_error(L, "sigv4: payload_hash is too long");
    memcpy(r->payload_hash, hash, hlen + 1);
  }
  read_time(L, r);
  read_headers(L, r);
  add_host_header(L, r);
  if (!r->payload_hash[0])
    sha256_hex(r->body, r->body_len, r->payload_hash);
}

/* ---- canonical request ---- */

/* Removes "." and ".." segments and empty segments (duplicate slashes), as the SigV4 suite's normalize does. */
static size_t normalize_path(const char *in, size_t n, char *out) {
  size_t len = 0, i = 0;
  int dir = 0; /* the result ends in a directory: keep a trailing slash */
  while (i < n) {
    size_t j = i;
    while (j < n && in[j] != '/')
      j++;
    size_t seg = j - i;
    if (seg == 0 || (seg == 1 && in[i] == '.')) {
      dir = seg == 1 || dir;
    } else if (seg == 2 && in[i] == '.' && in[i + 1] == '.') {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      dir = 1;
    } else {
      out[len++] = '/';
      memcpy(out + len, in + i, seg);
      len += seg;
      dir = 0;
    }
    if (j < n && seg > 0)
      dir = 1;
    i = j + 1;
  }
  if (len == 0 || dir)
    out[len++] = '/';
  return len;
}

/* S3's canonical path: each segment percent-decoded, then encoded once, so a raw key and an encoded one sign
 * alike and an escaped dot segment (%2E%2E) stays escaped on the wire but canonical as "..". */
static void add_segments_once(luaL_Buffer *b, const char *path, size_t n, char *scratch) {
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < n && path[j] != '/')
      j++;
    add_encoded(b, scratch, decode_into(path + i, j - i, scratch), "");
    if (j >= n)
      break;
    luaL_addchar(b, '/');
    i = j + 1;
  }
}

static void push_canonical_path(lua_State *L, const request *r) {
  size_t n = r->path_len;
  char *work = lua_newuserdatauv(L, 2 * n + 4, 0); /* the normalised path, then a scratch for decoding */
  const char *path = r->path;
  if (r->normalize) {
    n = normalize_path(path, n, work);
    path = work;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (r->double_encode)
    add_encoded(&b, path, n, "/");
  else
    add_segments_once(&b, path, n, work + r->path_len + 2);
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

static void push_reencoded(lua_State *L, const char *s, size_t n) {
  char *decoded = lua_newuserdatauv(L, n + 1, 0);
  size_t dlen = decode_into(s, n, decoded);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_encoded(&b, decoded, dlen, "");
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

typedef struct params {
  param *items;
  int n, max;
} params;

static void add_param(lua_State *L, request *r, params *ps, const char *name, size_t nlen, const char *value,
                      size_t vlen) {
  param *p = &ps->items[ps->n++];
  push_reencoded(L, name, nlen);
  p->name = anchor_string(L, r, &p->nlen);
  push_reencoded(L, value, vlen);
  p->value = anchor_string(L, r, &p->vlen);
}

static int compare_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? c : (an > bn) - (an < bn);
}

static int compare_params(const void *a, const void *b) {
  const param *x = a, *y = b;
  int c = compare_bytes(x->name, x->nlen, y->name, y->nlen);
  return c ? c : compare_bytes(x->value, x->vlen, y->value, y->vlen);
}

/* Splits the raw query on '&' (each part name[=value]) into ps; the parts are decoded then re-encoded. */
static void parse_query(lua_State *L, request *r, params *ps, int extra) {
  size_t n = r->query_len;
  int count = 1;
  for (size_t i = 0; i < n; i++)
    count += r->query[i] == '&';
  ps->max = count + extra;
  ps->n = 0;
  ps->items = lua_newuserdatauv(L, sizeof(param) * (size_t)ps->max, 0);
  anchor_top(L, r);
  size_t i = 0;
  while (i < n) {
    const char *part = r->query + i;
    size_t plen = strcspn(part, "&");
    if (plen > n - i)
      plen = n - i;
    if (plen > 0) {
      const char *eq = memchr(part, '=', plen);
      size_t klen = eq ? (size_t)(eq - part) : plen;
      add_param(L, r, ps, part, klen, eq ? eq + 1 : "", eq ? plen - klen - 1 : 0);
    }
    i += plen + 1;
  }
}

static void push_canonical_query(lua_State *L, params *ps) {
  qsort(ps->items, (size_t)ps->n, sizeof(param), compare_params);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < ps->n; i++) {
    if (i)
      luaL_addchar(&b, '&');
    luaL_addlstring(&b, ps->items[i].name, ps->items[i].nlen);
    luaL_addchar(&b, '=');
    luaL_addlstring(&b, ps->items[i].value, ps->items[i].vlen);
  }
  luaL_pushresult(&b);
}

static int compare_names(const header *a, const header *b) {
  size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
  for (size_t i = 0; i < n; i++) {
    int c = tolower((unsigned char)a->name[i]) - tolower((unsigned char)b->name[i]);
    if (c)
      return c;
  }
  return (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

static int compare_headers(const void *a, const void *b) {
  const header *x = *(const header *const *)a, *y = *(const header *const *)b;
  int c = compare_names(x, y);
  return c ? c : x->order - y->order;
}

/* Trimmed, with every run of white space (folded line breaks included) turned into one space. */
static void add_header_value(luaL_Buffer *b, const char *v, size_t n) {
  size_t i = 0;
  while (n > 0 && is_space(v[n - 1]))
    n--;
  while (i < n && is_space(v[i]))
    i++;
  for (; i < n; i++) {
    if (is_space(v[i])) {
      while (i + 1 < n && is_space(v[i + 1]))
        i++;
      luaL_addchar(b, ' ');
    } else {
      luaL_addchar(b, v[i]);
    }
  }
}

static void add_lower(luaL_Buffer *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    luaL_addchar(b, (char)tolower((unsigned char)s[i]));
}

/* The signed headers sorted by lower-case name (stable), in an array kept alive by the anchor. */
static const header **sorted_signed_headers(lua_State *L, request *r, int *count) {
  const header **sorted = lua_newuserdatauv(L, sizeof(header *) * (size_t)(r->nheaders + 1), 0);
  anchor_top(L, r);
  int n = 0;
  for (int i = 0; i < r->nheaders; i++)
    if (r->headers[i].is_signed)
      sorted[n++] = &r->headers[i];
  qsort(sorted, (size_t)n, sizeof(header *), compare_headers);
  *count = n;
  return sorted;
}

/* Pushes the canonical header block ("name:v1,v2\n" per name) then the signed header list ("a;b"). */
static void push_canonical_headers(lua_State *L, request *r) {
  int n;
  const header **sorted = sorted_signed_headers(L, r, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    int same = i > 0 && compare_names(sorted[i - 1], sorted[i]) == 0;
    if (same) {
      luaL_addchar(&b, ',');
    } else {
      if (i)
        luaL_addchar(&b, '\n');
      add_lower(&b, sorted[i]->name, sorted[i]->nlen);
      luaL_addchar(&b, ':');
    }
    add_header_value(&b, sorted[i]->value, sorted[i]->vlen);
  }
  if (n)
    luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    if (i > 0 && compare_names(sorted[i - 1], sorted[i]) == 0)
      continue;
    if (i)
      luaL_addchar(&b, ';');
    add_lower(&b, sorted[i]->name, sorted[i]->nlen);
  }
  luaL_pushresult(&b);
}

/* Pushes the canonical request built from the method, path, query (already on the stack at `query`), headers. */
static void push_canonical_request(lua_State *L, request *r, int query, int headers, int signed_list) {
  lua_pushfstring(L, "%s\n", r->method);
  push_canonical_path(L, r);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, query);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, headers);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, signed_list);
  lua_pushfstring(L, "\n%s", r->payload_hash);
  lua_concat(L, 9);
}

static void push_scope(lua_State *L, const request *r) {
  lua_pushfstring(L, "%s/%s/%s/aws4_request", r->date, r->region, r->service);
}

/* Pushes the string to sign and the hex signature for the canonical request on top of the stack. */
static void push_signature(lua_State *L, const request *r) {
  size_t clen;
  const char *canonical = lua_tolstring(L, -1, &clen);
  char hash[65];
  sha256_hex(canonical, clen, hash);
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

static void add_literal_header(lua_State *L, request *r, const char *name, const char *value, int is_signed) {
  lua_pushstring(L, value);
  size_t vlen;
  const char *v = anchor_string(L, r, &vlen);
  add_header(L, r, name, strlen(name), v, vlen, is_signed);
}

/* sigv4.sign{...} -> {canonical_request, string_to_sign, signature, authorization, headers} */
static int l_sign(lua_State *L) {
  request r;
  read_request(L, &r);
  if (r.token)
    add_literal_header(L, &r, "X-Amz-Security-Token", r.token, !r.omit_token);
  add_literal_header(L, &r, "X-Amz-Date", r.amz_date, 1);
  if (r.sign_body)
    add_literal_header(L, &r, "x-amz-content-sha256", r.payload_hash, 1);
  params ps;
  parse_query(L, &r, &ps, 0);
  push_canonical_query(L, &ps);           /* 3 */
  push_canonical_headers(L, &r);          /* 4, 5 */
  push_canonical_request(L, &r, 3, 4, 5); /* 6 */
  push_signature(L, &r);                  /* 7 sts, 8 signature */
  lua_pushfstring(L, ALGORITHM " Credential=%s/", r.access_key);
  push_scope(L, &r);
  lua_pushfstring(L, ", SignedHeaders=%s, Signature=%s", lua_tostring(L, 5), lua_tostring(L, 8));
  lua_concat(L, 3); /* 9 */
  add_header(L, &r, "Authorization", 13, lua_tostring(L, 9), lua_rawlen(L, 9), 0);
  lua_createtable(L, 0, 7);
  int t = lua_gettop(L);
  set_string_field(L, t, "canonical_request", 6);
  set_string_field(L, t, "string_to_sign", 7);
  set_string_field(L, t, "signature", 8);
  set_string_field(L, t, "authorization", 9);
  set_string_field(L, t, "signed_headers", 5);
  lua_pushstring(L, r.payload_hash);
  lua_setfield(L, t, "payload_hash");
  push_header_pairs(L, &r);
  lua_setfield(L, t, "headers");
  return 1;
}

static void push_param_value(lua_State *L, const char *s, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_encoded(&b, s, n, "");
  luaL_pushresult(&b);
}

/* Adds one X-Amz-* parameter: to the canonical set when signed, and to the query text being built at `text`. */
static void add_presign_param(lua_State *L, request *r, params *ps, int text, const char *name, const char *value,
                              int is_signed) {
  if (is_signed)
    add_param(L, r, ps, name, strlen(name), value, strlen(value));
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
      if (name_is(r->headers[i].name, r->headers[i].nlen, "host")) {
        lua_pop(L, 1);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        add_header_value(&b, r->headers[i].value, r->headers[i].vlen);
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
  read_request(L, &r);
  lua_Integer expires = read_expires(L);
  params ps;
  parse_query(L, &r, &ps, 6);
  lua_pushlstring(L, r.query ? r.query : "", r.query ? r.query_len : 0); /* 3: the query text sent */
  push_canonical_headers(L, &r);                                         /* 4, 5 */
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
  push_canonical_query(L, &ps);           /* 7 */
  push_canonical_request(L, &r, 7, 4, 5); /* 8 */
  push_signature(L, &r);                  /* 9 sts, 10 signature */
  add_presign_param(L, &r, &ps, 3, "X-Amz-Signature", lua_tostring(L, 10), 0);
  lua_createtable(L, 0, 7);
  int t = lua_gettop(L);
  set_string_field(L, t, "query", 3);
  set_string_field(L, t, "canonical_request", 8);
  set_string_field(L, t, "string_to_sign", 9);
  set_string_field(L, t, "signature", 10);
  set_string_field(L, t, "signed_headers", 5);
  push_presigned_url(L, &r, 3);
  lua_setfield(L, t, "url");
  push_header_pairs(L, &r);
  lua_setfield(L, t, "headers");
  return 1;
}

/* sigv4.sha256_hex(s) -> lower-case hex digest (the x-amz-content-sha256 of a body). */
static int l_sha256_hex(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[65];
  sha256_hex(s, n, hex);
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
  add_encoded(&b, s, n, keep);
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
