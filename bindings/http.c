/* alaris.http.core: one HTTP(S) request attempt on libcurl's multi interface, driven by the engine's event loop.
 * One process-wide multi handle is a loop source (http_source.c): its sockets and timer go into the loop's poll, a
 * request adds an easy handle set up from its options (http_options.c) and suspends its task until the transfer ends,
 * so requests in concurrent tasks overlap and connections are reused. Streamed bodies are queued by the source and
 * handed to Lua here by the task itself, never from inside libcurl. This file builds responses and errors.
 * It does not retry, follow redirects or decode content encodings: the retry policy is stdlib/alaris/http.lua. */
#include "http.h"
#include "errors.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- results ---------- */

static void push_lower(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, len);
  for (size_t i = 0; i < len; i++)
    p[i] = (char)tolower((unsigned char)s[i]);
  luaL_pushresultsize(&b, len);
}

static size_t trimmed(const char **s, size_t len) {
  while (len && (**s == ' ' || **s == '\t')) {
    (*s)++;
    len--;
  }
  while (len && ((*s)[len - 1] == ' ' || (*s)[len - 1] == '\t'))
    len--;
  return len;
}

/* map[name] = value, or joined to an earlier value (set-cookie values with "\n": they may contain commas). */
static void merge_into_map(lua_State *L, int map, int name, int value) {
  if (lua_getfield(L, map, lua_tostring(L, name)) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushvalue(L, value);
  } else {
    lua_pushstring(L, strcmp(lua_tostring(L, name), "set-cookie") == 0 ? "\n" : ", ");
    lua_pushvalue(L, value);
    lua_concat(L, 3);
  }
  lua_setfield(L, map, lua_tostring(L, name));
}

/* One "Name: value" line into the list; a folded continuation line extends the previous value. */
static void add_header_line(lua_State *L, int list, const char *line, size_t len) {
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  if ((line[0] == ' ' || line[0] == '\t') && n > 0) {
    lua_rawgeti(L, list, n);
    lua_rawgeti(L, -1, 2);
    lua_pushliteral(L, " ");
    len = trimmed(&line, len);
    lua_pushlstring(L, line, len);
    lua_concat(L, 3);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 1);
    return;
  }
  const char *colon = memchr(line, ':', len);
  if (!colon)
    return;
  push_lower(L, line, (size_t)(colon - line));
  const char *value = colon + 1;
  size_t vlen = trimmed(&value, len - (size_t)(colon - line) - 1);
  lua_pushlstring(L, value, vlen);
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, list, n + 1);
  lua_pop(L, 2);
}

/* Pushes the map and the list of the response's headers (the map is built from the complete list). */
static void push_headers(lua_State *L, const transfer *t) {
  lua_newtable(L);
  int list = lua_gettop(L);
  const char *p = t->head.data, *end = p + t->head.len;
  int first = 1;
  while (p && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    size_t len = (size_t)(stop - p);
    if (len && p[len - 1] == '\r')
      len--;
    if (!first && len)
      add_header_line(L, list, p, len);
    first = 0;
    p = nl ? nl + 1 : end;
  }
  lua_newtable(L);
  int map = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    merge_into_map(L, map, lua_gettop(L) - 1, lua_gettop(L));
    lua_pop(L, 3);
  }
  lua_insert(L, list); /* map, list */
}

static const char *http_version_name(long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0:
    return "1.0";
  case CURL_HTTP_VERSION_1_1:
    return "1.1";
  case CURL_HTTP_VERSION_2_0:
    return "2";
  case CURL_HTTP_VERSION_3:
    return "3";
  default:
    return NULL;
  }
}

/* The response table {status, headers, header_list, http_version}, built once into SLOT_RESPONSE. */
static void ensure_response(lua_State *L, transfer *t) {
  if (!lua_isnil(L, SLOT_RESPONSE))
    return;
  long status = 0, version = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "status");
  push_headers(L, t);
  lua_setfield(L, -3, "header_list");
  lua_setfield(L, -2, "headers");
  lua_pushstring(L, http_version_name(version));
  lua_setfield(L, -2, "http_version");
  lua_replace(L, SLOT_RESPONSE);
}

static const struct {
  CURLcode rc;
  const char *code;
} error_codes[] = {
    {CURLE_OPERATION_TIMEDOUT, "timeout"},
    {CURLE_COULDNT_CONNECT, "connect"},
    {CURLE_COULDNT_RESOLVE_HOST, "dns"},
    {CURLE_COULDNT_RESOLVE_PROXY, "proxy"},
    {CURLE_PROXY, "proxy"},
    {CURLE_SSL_CONNECT_ERROR, "tls"},
    {CURLE_PEER_FAILED_VERIFICATION, "tls"},
    {CURLE_SSL_CERTPROBLEM, "tls"},
    {CURLE_SSL_CIPHER, "tls"},
    {CURLE_SSL_CACERT_BADFILE, "tls"},
    {CURLE_SSL_ENGINE_NOTFOUND, "tls"},
    {CURLE_SSL_ENGINE_SETFAILED, "tls"},
    {CURLE_SSL_ENGINE_INITFAILED, "tls"},
    {CURLE_SSL_SHUTDOWN_FAILED, "tls"},
    {CURLE_SSL_CRL_BADFILE, "tls"},
    {CURLE_SSL_ISSUER_ERROR, "tls"},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, "tls"},
    {CURLE_SSL_INVALIDCERTSTATUS, "tls"},
    {CURLE_SSL_CLIENTCERT, "tls"},
    {CURLE_USE_SSL_FAILED, "tls"},
    {CURLE_RECV_ERROR, "reset"},
    {CURLE_SEND_ERROR, "reset"},
    {CURLE_GOT_NOTHING, "reset"},
    {CURLE_PARTIAL_FILE, "reset"},
    {CURLE_HTTP2, "reset"},
    {CURLE_HTTP2_STREAM, "reset"},
    {CURLE_URL_MALFORMAT, "url"},
    {CURLE_UNSUPPORTED_PROTOCOL, "url"},
    {CURLE_WEIRD_SERVER_REPLY, "protocol"},
    {CURLE_OUT_OF_MEMORY, "memory"},
    {CURLE_WRITE_ERROR, "memory"},
};

static const char *error_code(CURLcode rc) {
  for (size_t i = 0; i < sizeof error_codes / sizeof *error_codes; i++)
    if (error_codes[i].rc == rc)
      return error_codes[i].code;
  return "transport";
}

/* The URL without user info, query or fragment: presigned URLs carry signatures there. */
static void push_safe_url(lua_State *L, const char *url) {
  CURLU *u = curl_url();
  char *safe = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    curl_url_get(u, CURLUPART_URL, &safe, 0);
  }
  lua_pushstring(L, safe ? safe : "(invalid URL)");
  curl_free(safe);
  curl_url_cleanup(u);
}

static int push_failure(lua_State *L, transfer *t) {
  char detail[CURL_ERROR_SIZE];
  snprintf(detail, sizeof detail, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result));
  for (char *c = detail; *c; c++)
    if (*c == '\r' || *c == '\n')
      *c = ' ';
  push_safe_url(L, lua_tostring(L, SLOT_URL));
  alaris_fail(L, error_code(t->result), "%s %s: %s", lua_tostring(L, SLOT_METHOD), lua_tostring(L, -1), detail);
  lua_pushinteger(L, (lua_Integer)t->result);
  lua_setfield(L, -2, "curl_code");
  return 2;
}

static int finish(lua_State *L, transfer *t) {
  if (t->result != CURLE_OK && !t->aborted) {
    push_failure(L, t);
    http_transfer_close(t);
    return 2;
  }
  ensure_response(L, t);
  lua_pushvalue(L, SLOT_RESPONSE);
  if (t->aborted) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "aborted");
  } else if (!t->streaming) {
    lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
    lua_setfield(L, -2, "body");
  }
  http_transfer_close(t);
  return 1;
}

/* ---------- running a request: a small state machine over continuations ---------- */

static int step(lua_State *L);

/* After on_data returned (or raised): 1 to go on, 0 when it returned false. Errors are re-raised once cleaned. */
static int after_on_data(lua_State *L, transfer *t, int status) {
  if (status != LUA_OK && status != LUA_YIELD) {
    http_transfer_close(t);
    return lua_error(L);
  }
  int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (stop) {
    http_source_remove(t);
    t->aborted = t->done = 1;
  }
  return !stop;
}

static int on_data_k(lua_State *L, int status, lua_KContext ctx) {
  transfer *t = lua_touserdata(L, SLOT_TRANSFER);
  after_on_data(L, t, status);
  return step(L);
}

/* The wait runs as a protected call, so a cancellation (even one raised before suspending) reaches waited_k,
 * which removes the easy handle before the error goes on. */
static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  if (alaris_resume_reason(L) == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  return 0;
}

static int wait_for_transfer(lua_State *L) {
  return alaris_suspend(L, -1, wait_k, 0);
}

static int waited_k(lua_State *L, int status, lua_KContext ctx) {
  transfer *t = lua_touserdata(L, SLOT_TRANSFER);
  t->waiting = NULL;
  if (status != LUA_OK && status != LUA_YIELD) {
    http_transfer_close(t);
    return lua_error(L);
  }
  return step(L);
}

/* Hand queued chunks to on_data(chunk, response), resume a paused transfer, finish, or wait for more. */
static int step(lua_State *L) {
  transfer *t = lua_touserdata(L, SLOT_TRANSFER);
  for (;;) {
    while (t->first && !t->aborted) {
      ensure_response(L, t);
      chunk *c = http_transfer_pop_chunk(t);
      lua_pushvalue(L, SLOT_ON_DATA);
      lua_pushlstring(L, c->data, c->len);
      free(c);
      lua_pushvalue(L, SLOT_RESPONSE);
      if (!after_on_data(L, t, lua_pcallk(L, 2, 1, 0, 0, on_data_k)))
        break;
    }
    if (t->paused && !t->aborted && !t->first) {
      t->paused = 0;
      curl_easy_pause(t->easy, CURLPAUSE_CONT); /* may queue more chunks at once */
      continue;
    }
    if (t->done)
      return finish(L, t);
    t->waiting = alaris_current_task(L);
    lua_pushcfunction(L, wait_for_transfer);
    return waited_k(L, lua_pcallk(L, 0, 0, 0, 0, waited_k), 0);
  }
}

/* A URL reaches the request line: CR or LF would end it early (a pod name "db\r\nX: 1" would add a header), and
 * libcurl reads it as a C string, so a NUL would cut it (".../db\0/exec" would ask for ".../db"). Spaces and other
 * controls are refused too; they are written percent-encoded. The message never shows the URL (it may hold a token). */
static void check_url(lua_State *L) {
  size_t len;
  const unsigned char *url = (const unsigned char *)lua_tolstring(L, SLOT_URL, &len);
  for (size_t i = 0; i < len; i++)
    if (url[i] <= ' ' || url[i] == 0x7f)
      luaL_argerror(L, ARG_OPTS, "url holds white space, a control character or NUL (percent-encode it)");
}

/* request{method, url, headers, body, timeout, connect_timeout, ca_file, ca_data, cert_data, key_data, insecure,
 * on_data} -> {status, headers, header_list, http_version, body} | nil, err */
static int l_request(lua_State *L) {
  luaL_checktype(L, ARG_OPTS, LUA_TTABLE);
  lua_settop(L, ARG_OPTS);
  if (!alaris_current_task(L))
    return luaL_error(L, "http.request must run inside an alaris task");
  if (!http_source_is_open())
    return luaL_error(L, "alaris.http is closed");
  transfer *t = http_transfer_new(L);
  lua_toclose(L, SLOT_TRANSFER); /* whatever ends this call (result, error, the task reset) frees the transfer */
  lua_getfield(L, ARG_OPTS, "on_data");
  luaL_argcheck(L, lua_isnil(L, SLOT_ON_DATA) || lua_isfunction(L, SLOT_ON_DATA), ARG_OPTS,
                "on_data must be a function");
  t->streaming = !lua_isnil(L, SLOT_ON_DATA);
  lua_pushnil(L);
  if (lua_getfield(L, ARG_OPTS, "url") != LUA_TSTRING)
    return luaL_argerror(L, ARG_OPTS, "url must be a string");
  check_url(L);
  if (lua_getfield(L, ARG_OPTS, "method") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "GET");
  }
  size_t mlen;
  const char *method = lua_tolstring(L, SLOT_METHOD, &mlen);
  luaL_argcheck(L, lua_type(L, SLOT_METHOD) == LUA_TSTRING && mlen > 0, ARG_OPTS, "method must be a string");
  for (size_t i = 0; i < mlen; i++)
    luaL_argcheck(L, http_token_char((unsigned char)method[i]), ARG_OPTS, "method must be a single token");
  http_options_apply(L, t, lua_tostring(L, SLOT_URL), lua_tostring(L, SLOT_METHOD));
  if (!http_source_add(t))
    return luaL_error(L, "http.request: cannot start the transfer");
  return step(L);
}

/* Transfers holding an easy handle: 0 once every request has ended or was cancelled. */
static int l_pending(lua_State *L) {
  lua_pushinteger(L, http_source_pending());
  return 1;
}

/* parse_date("Wed, 21 Oct 2015 07:28:00 GMT") -> seconds since the epoch | nil */
static int l_parse_date(lua_State *L) {
  time_t at = curl_getdate(luaL_checkstring(L, 1), NULL);
  if (at == (time_t)-1)
    return 0;
  lua_pushinteger(L, (lua_Integer)at);
  return 1;
}

static const luaL_Reg functions[] = {
    {"request", l_request},
    {"pending", l_pending},
    {"parse_date", l_parse_date},
    {NULL, NULL},
};

int luaopen_alaris_http_core(lua_State *L) {
  http_source_open(L);
  luaL_newlib(L, functions);
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "curl_version");
  return 1;
}
