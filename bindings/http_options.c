/* alaris.http.core's request options: the table given to http.request becomes settings of the transfer's easy
 * handle (URL, method and body, headers, timeouts, TLS files and PEM data). Misuse raises, naming the option but never
 * a header's value. It does not start or run the transfer (http.c) nor receive its bytes (http_source.c). */
#include "http.h"

#include <lauxlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT 30.0

int http_token_char(int c) {
  return c > 32 && c < 127 && c != ':';
}

static void check_header(lua_State *L, const char *name, size_t nlen, const char *value, size_t vlen) {
  for (size_t i = 0; i < nlen; i++)
    if (!http_token_char((unsigned char)name[i]))
      luaL_error(L, "http.request: invalid header name \"%s\"", name);
  if (nlen == 0)
    luaL_error(L, "http.request: empty header name");
  for (size_t i = 0; value && i < vlen; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
      luaL_error(L, "http.request: the value of header %s contains a line break or NUL", name); /* never the value */
}

/* One header from the name and value on top of the stack (popped). A false value removes libcurl's default. */
static void add_header(lua_State *L, transfer *t, int *seen_type, int *seen_expect) {
  if (lua_type(L, -2) != LUA_TSTRING)
    luaL_error(L, "http.request: header names must be strings");
  size_t nlen, vlen = 0;
  const char *name = lua_tolstring(L, -2, &nlen), *value = NULL;
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
    value = lua_tolstring(L, -1, &vlen);
  else if (!(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
    luaL_error(L, "http.request: header %s must have a string value (or false)", name);
  check_header(L, name, nlen, value, vlen);
  *seen_type |= strcasecmp(name, "Content-Type") == 0;
  *seen_expect |= strcasecmp(name, "Expect") == 0;
  if (!value)
    lua_pushfstring(L, "%s:", name);
  else if (vlen == 0)
    lua_pushfstring(L, "%s;", name); /* libcurl's spelling of a header with an empty value */
  else
    lua_pushfstring(L, "%s: %s", name, value);
  struct curl_slist *more = curl_slist_append(t->headers, lua_tostring(L, -1));
  if (!more)
    luaL_error(L, "http.request: out of memory");
  t->headers = more;
  lua_pop(L, 3);
}

/* headers: a map {name = value} or a list of {name, value} pairs (order and duplicates kept). */
static void set_headers(lua_State *L, transfer *t, int has_body) {
  int seen_type = 0, seen_expect = 0;
  int kind = lua_getfield(L, ARG_OPTS, "headers");
  if (kind == LUA_TTABLE) {
    int h = lua_gettop(L);
    if (lua_rawlen(L, h) > 0) {
      for (lua_Integer i = 1; lua_rawgeti(L, h, i) != LUA_TNIL; i++) {
        if (!lua_istable(L, -1))
          luaL_error(L, "http.request: headers[%d] must be a {name, value} pair", (int)i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_remove(L, -3);
        add_header(L, t, &seen_type, &seen_expect);
      }
      lua_pop(L, 1);
    } else {
      for (lua_pushnil(L); lua_next(L, h);) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        add_header(L, t, &seen_type, &seen_expect);
      }
    }
  } else if (kind != LUA_TNIL) {
    luaL_error(L, "http.request: headers must be a table");
  }
  lua_pop(L, 1);
  /* No "Expect: 100-continue" round trip, and no invented form content type for a raw body. */
  const char *defaults[] = {seen_expect ? NULL : "Expect:", seen_type || !has_body ? NULL : "Content-Type:"};
  for (size_t i = 0; i < 2; i++) {
    if (defaults[i]) {
      struct curl_slist *more = curl_slist_append(t->headers, defaults[i]);
      if (!more)
        luaL_error(L, "http.request: out of memory");
      t->headers = more;
    }
  }
  SETOPT(L, t, CURLOPT_HTTPHEADER, t->headers, "headers");
}

static int needs_length(const char *method) {
  return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

/* method and body; the body string is kept alive as the transfer's user value. */
static int set_method_and_body(lua_State *L, transfer *t, const char *method) {
  size_t len = 0;
  const char *body = NULL;
  int kind = lua_getfield(L, ARG_OPTS, "body");
  if (kind == LUA_TSTRING)
    body = lua_tolstring(L, -1, &len);
  else if (kind != LUA_TNIL)
    luaL_error(L, "http.request: body must be a string");
  lua_setiuservalue(L, SLOT_TRANSFER, 1);
  if (strcmp(method, "HEAD") == 0) {
    if (body)
      luaL_error(L, "http.request: a HEAD request has no body");
    SETOPT(L, t, CURLOPT_NOBODY, 1L, "HEAD");
    return 0;
  }
  if (strcmp(method, "GET") != 0 || body)
    SETOPT(L, t, CURLOPT_CUSTOMREQUEST, method, "method");
  if (body || needs_length(method)) {
    SETOPT(L, t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len, "body");
    SETOPT(L, t, CURLOPT_POSTFIELDS, body ? body : "", "body");
  }
  return body != NULL;
}

static const char *opt_string(lua_State *L, const char *field, size_t *len) {
  lua_getfield(L, ARG_OPTS, field);
  const char *s = NULL;
  if (lua_type(L, -1) == LUA_TSTRING)
    s = lua_tolstring(L, -1, len);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "http.request: %s must be a string", field);
  lua_pop(L, 1); /* still referenced by the options table for the whole call */
  return s;
}

static double opt_seconds(lua_State *L, const char *field, double fallback) {
  int kind = lua_getfield(L, ARG_OPTS, field);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (kind == LUA_TNIL)
    return fallback;
  if (kind != LUA_TNUMBER || !(v > 0))
    luaL_error(L, "http.request: %s must be a positive number of seconds", field);
  return v;
}

static int opt_flag(lua_State *L, const char *field) {
  lua_getfield(L, ARG_OPTS, field);
  int on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return on;
}

static void set_blob(lua_State *L, transfer *t, const char *field, CURLoption opt) {
  size_t len;
  const char *pem = opt_string(L, field, &len);
  if (pem) {
    struct curl_blob blob = {.data = (void *)pem, .len = len, .flags = CURL_BLOB_COPY};
    SETOPT(L, t, opt, &blob, field);
  }
}

static void set_tls(lua_State *L, transfer *t) {
  size_t len;
  const char *path;
  if ((path = opt_string(L, "ca_file", &len)))
    SETOPT(L, t, CURLOPT_CAINFO, path, "ca_file");
  if ((path = opt_string(L, "cert_file", &len)))
    SETOPT(L, t, CURLOPT_SSLCERT, path, "cert_file");
  if ((path = opt_string(L, "key_file", &len)))
    SETOPT(L, t, CURLOPT_SSLKEY, path, "key_file");
  set_blob(L, t, "ca_data", CURLOPT_CAINFO_BLOB);
  set_blob(L, t, "cert_data", CURLOPT_SSLCERT_BLOB);
  set_blob(L, t, "key_data", CURLOPT_SSLKEY_BLOB);
  if (opt_flag(L, "insecure")) {
    SETOPT(L, t, CURLOPT_SSL_VERIFYPEER, 0L, "insecure");
    SETOPT(L, t, CURLOPT_SSL_VERIFYHOST, 0L, "insecure");
  }
}

/* connect_to = "HOST:PORT:ADDRESS:PORT" or a list of them: the TLS name and Host stay those of the URL while the
 * connection goes to ADDRESS (kubeconfig's tls-server-name, a server reached by another address). */
static void set_connect_to(lua_State *L, transfer *t) {
  int kind = lua_getfield(L, ARG_OPTS, "connect_to");
  if (kind == LUA_TSTRING) {
    lua_createtable(L, 1, 0);
    lua_insert(L, -2);
    lua_rawseti(L, -2, 1);
  } else if (kind != LUA_TTABLE) {
    if (kind != LUA_TNIL)
      luaL_error(L, "http.request: connect_to must be a string or a list of strings");
    lua_pop(L, 1);
    return;
  }
  for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "http.request: connect_to must be a string or a list of strings");
    struct curl_slist *more = curl_slist_append(t->connect_to, lua_tostring(L, -1));
    if (!more)
      luaL_error(L, "http.request: out of memory");
    t->connect_to = more;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  if (t->connect_to)
    SETOPT(L, t, CURLOPT_CONNECT_TO, t->connect_to, "connect_to");
}

static void set_timeouts(lua_State *L, transfer *t) {
  double total = opt_seconds(L, "timeout", 0), connect = opt_seconds(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  if (total > 0)
    SETOPT(L, t, CURLOPT_TIMEOUT_MS, (long)(total * 1000.0 + 0.5), "timeout");
  SETOPT(L, t, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000.0 + 0.5), "connect_timeout");
}

void http_options_apply(lua_State *L, transfer *t, const char *url, const char *method) {
  SETOPT(L, t, CURLOPT_URL, url, "url");
  SETOPT(L, t, CURLOPT_PROTOCOLS_STR, "http,https", "protocols");
  SETOPT(L, t, CURLOPT_PATH_AS_IS, 1L, "path as is"); /* "." and ".." are part of S3 keys: never squash them */
  SETOPT(L, t, CURLOPT_ERRORBUFFER, t->errbuf, "errors");
  SETOPT(L, t, CURLOPT_NOSIGNAL, 1L, "nosignal");
  SETOPT(L, t, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS, "HTTP/2");
  SETOPT(L, t, CURLOPT_PIPEWAIT, 1L, "HTTP/2"); /* concurrent requests to a new host wait to share one h2 connection */
  SETOPT(L, t, CURLOPT_TCP_KEEPALIVE, 1L, "keepalive");
  SETOPT(L, t, CURLOPT_USERAGENT, "alaris/" ALARIS_VERSION, "user agent"); /* a User-Agent header replaces it */
  /* Never join a resolver thread still waiting on DNS when a request is cancelled: that would stall the loop. */
  SETOPT(L, t, CURLOPT_QUICK_EXIT, 1L, "quick exit");
  int has_body = set_method_and_body(L, t, method);
  set_headers(L, t, has_body);
  set_timeouts(L, t);
  set_tls(L, t);
  set_connect_to(L, t);
}
