/* alaris.sigv4's argument reading: the table given to sign or presign becomes a request (method, url or path and
 * query, body, credentials, flags, time, headers with Host added), every string it makes kept alive in an anchor
 * table on the Lua stack until the call returns. Misuse raises. It does no canonicalisation and no signing. */
#include "sigv4.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- keeping values alive ---- */

/* Moves the value on top of the stack into the request's anchor table (it stays valid until the call returns). */
const void *sigv4_anchor_top(lua_State *L, request *r) {
  const void *p = lua_type(L, -1) == LUA_TSTRING ? (const void *)lua_tostring(L, -1) : lua_touserdata(L, -1);
  lua_rawseti(L, r->anchor, ++r->anchored);
  return p;
}

const char *sigv4_anchor_string(lua_State *L, request *r, size_t *len) {
  *len = lua_rawlen(L, -1);
  return sigv4_anchor_top(L, r);
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

/* The last second with a four-digit year: X-Amz-Date has room for no more. */
#define LATEST_TIME 253402300799.0

/* Formats t as X-Amz-Date and the date of the scope; raises for a time outside 1970..9999 (or NaN), which
 * gmtime_r cannot render or renders as a date the server could only reject. */
static void format_time(lua_State *L, request *r, double seconds) {
  if (!(seconds >= 0 && seconds <= LATEST_TIME)) /* before the cast to time_t, which NaN or 1e300 would overflow */
    luaL_error(L, "sigv4: time must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z");
  struct tm tm;
  time_t t = (time_t)seconds;
  if (!gmtime_r(&t, &tm) || strftime(r->amz_date, sizeof r->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16)
    luaL_error(L, "sigv4: time %f cannot be formatted", seconds);
  memcpy(r->date, r->amz_date, 8);
  r->date[8] = '\0';
}

static int fields_in_range(const struct tm *tm) {
  return tm->tm_mon >= 1 && tm->tm_mon <= 12 && tm->tm_mday >= 1 && tm->tm_mday <= 31 && tm->tm_hour >= 0 &&
         tm->tm_hour <= 23 && tm->tm_min >= 0 && tm->tm_min <= 59 && tm->tm_sec >= 0 && tm->tm_sec <= 60;
}

/* time: "2015-08-30T12:36:00Z", "20150830T123600Z" or seconds since the epoch; default now. */
static void read_time(lua_State *L, request *r) {
  lua_getfield(L, 1, "time");
  if (lua_isnil(L, -1)) {
    format_time(L, r, (double)time(NULL));
  } else if (lua_type(L, -1) == LUA_TNUMBER) {
    format_time(L, r, (double)lua_tonumber(L, -1));
  } else {
    const char *s = luaL_checkstring(L, -1);
    struct tm tm = {0};
    char z = 0;
    int n = sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &z);
    if (n != 7)
      n = sscanf(s, "%4d%2d%2dT%2d%2d%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                 &z);
    if (n != 7 || z != 'Z' || !fields_in_range(&tm))
      luaL_error(L, "sigv4: time must look like 2015-08-30T12:36:00Z, got '%s'", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    format_time(L, r, (double)timegm(&tm));
  }
  lua_pop(L, 1);
}

/* url = "scheme://authority/path?query#fragment" */
static void split_url(lua_State *L, request *r, const char *url) {
  const char *sep = strstr(url, "://");
  if (!sep)
    luaL_error(L, "sigv4: url '%s' has no scheme", url);
  lua_pushlstring(L, url, (size_t)(sep - url));
  r->scheme = sigv4_anchor_top(L, r);
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

int sigv4_name_is(const char *name, size_t nlen, const char *lower) {
  return strlen(lower) == nlen && strncasecmp(name, lower, nlen) == 0;
}

/* Headers a proxy or the transport may change: never signed. */
static int is_unsignable(const char *name, size_t nlen) {
  static const char *const skip[] = {"user-agent", "x-amzn-trace-id",   "expect",
                                     "connection", "transfer-encoding", NULL};
  for (int i = 0; skip[i]; i++)
    if (sigv4_name_is(name, nlen, skip[i]))
      return 1;
  return 0;
}

void sigv4_add_header(lua_State *L, request *r, const char *name, size_t nlen, const char *value, size_t vlen,
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
  const char *value = sigv4_anchor_string(L, r, &vlen);
  const char *name = sigv4_anchor_string(L, r, &nlen);
  if (sigv4_name_is(name, nlen, "x-amz-content-sha256")) {
    if (!r->payload_hash[0] && vlen < sizeof r->payload_hash)
      memcpy(r->payload_hash, value, vlen + 1);
    r->sign_body = 1;
    return;
  }
  if (sigv4_name_is(name, nlen, "authorization") || sigv4_name_is(name, nlen, "x-amz-date") ||
      sigv4_name_is(name, nlen, "x-amz-security-token"))
    return;
  sigv4_add_header(L, r, name, nlen, value, vlen, 1);
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
  sigv4_anchor_top(L, r);
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
    if (sigv4_name_is(r->headers[i].name, r->headers[i].nlen, lower))
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
  const char *host = sigv4_anchor_string(L, r, &len);
  r->headers[0] = (header){"Host", host, 4, len, 0, 1};
}

/* Leaves the argument table at 1 and the anchor table at 2 as the only stack slots: sign and presign count theirs
 * from 3. */
void sigv4_read_request(lua_State *L, request *r) {
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
    sigv4_sha256_hex(r->body, r->body_len, r->payload_hash);
}
