/* alaris.http.core: one HTTP(S) request attempt on libcurl's multi interface, driven by the engine's event loop.
 * One process-wide multi handle is a loop source: its sockets and timer go into the loop's poll, a request adds an
 * easy handle and suspends its task until the transfer ends, so requests in concurrent tasks overlap and connections
 * are reused. Streamed bodies are queued here and handed to Lua by the task itself, never from inside libcurl.
 * It does not retry, follow redirects or decode content encodings: the retry policy is stdlib/alaris/http.lua. */
#include "errors.h"
#include "loop.h"

#include <ctype.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TRANSFER_TYPE "alaris.http.transfer"
#define MAX_WATCHED_FDS 256
#define MAX_TOTAL_CONNECTIONS 96 /* below MAX_WATCHED_FDS, with room for resolver sockets */
#define MAX_HOST_CONNECTIONS 16
#define CONNECTION_CACHE 32
#define STREAM_PAUSE_BYTES (1 << 20) /* queued streamed bytes above which the transfer is paused */
#define DEFAULT_CONNECT_TIMEOUT 30.0

/* Stack slots of a request while it runs (the continuations find everything there). */
enum { ARG_OPTS = 1, SLOT_TRANSFER, SLOT_ON_DATA, SLOT_RESPONSE, SLOT_URL, SLOT_METHOD };

typedef struct byte_buffer {
  char *data;
  size_t len, cap;
} byte_buffer;

typedef struct chunk {
  struct chunk *next;
  size_t len;
  char data[];
} chunk;

typedef struct transfer {
  CURL *easy;
  struct curl_slist *headers;
  int in_multi, done, paused, streaming, aborted, linked;
  CURLcode result;
  alaris_task *waiting; /* the task suspended on this transfer, NULL while it runs Lua */
  byte_buffer body;     /* the whole body, when not streaming */
  byte_buffer head;     /* raw header lines of the last response */
  chunk *first, *last;  /* streamed chunks not yet handed to on_data */
  size_t queued;
  struct transfer *prev, *next; /* every transfer holding an easy handle */
  char errbuf[CURL_ERROR_SIZE];
} transfer;

typedef struct watched_fd {
  curl_socket_t fd;
  short events;
} watched_fd;

/* The loop is process-wide, so is this; it outlives the Lua state only as an empty shell (multi == NULL). */
static struct {
  CURLM *multi;
  watched_fd fds[MAX_WATCHED_FDS];
  int nfds;
  double deadline; /* libcurl's next timeout (alaris_now() seconds); < 0: none */
  int source_added;
  transfer *transfers;
} engine = {.deadline = -1};

static const char SENTINEL_KEY = 0; /* registry key: the userdata whose __gc closes the multi handle */

/* ---------- buffers ---------- */

static int buffer_append(byte_buffer *b, const char *p, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + len)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return 0;
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, len);
  b->len += len;
  return 1;
}

static void buffer_free(byte_buffer *b) {
  free(b->data);
  *b = (byte_buffer){0};
}

static chunk *chunk_pop(transfer *t) {
  chunk *c = t->first;
  if (c) {
    t->first = c->next;
    if (!t->first)
      t->last = NULL;
    t->queued -= c->len;
  }
  return c;
}

/* ---------- transfers ---------- */

static void wake(transfer *t) {
  if (t->waiting)
    alaris_task_wake(t->waiting);
}

static void link_transfer(transfer *t) {
  t->next = engine.transfers;
  if (t->next)
    t->next->prev = t;
  engine.transfers = t;
  t->linked = 1;
}

static void unlink_transfer(transfer *t) {
  if (!t->linked)
    return;
  if (t->prev)
    t->prev->next = t->next;
  else
    engine.transfers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->prev = t->next = NULL;
  t->linked = 0;
}

/* Idempotent: removes the easy handle from the multi handle (its connection stays cached there) and frees it. */
static void transfer_close(transfer *t) {
  if (t->easy) {
    if (t->in_multi && engine.multi)
      curl_multi_remove_handle(engine.multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    t->in_multi = 0;
  }
  curl_slist_free_all(t->headers);
  t->headers = NULL;
  buffer_free(&t->body);
  buffer_free(&t->head);
  for (chunk *c; (c = chunk_pop(t));)
    free(c);
  t->waiting = NULL;
  unlink_transfer(t);
}

static int transfer_gc(lua_State *L) {
  transfer_close(luaL_checkudata(L, 1, TRANSFER_TYPE));
  return 0;
}

/* ---------- libcurl callbacks (C only: they never touch Lua, so no GC can run inside them) ---------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if (!t->streaming)
    return buffer_append(&t->body, p, len) ? len : 0;
  if (t->queued >= STREAM_PAUSE_BYTES) { /* the task is behind: libcurl keeps this data until unpaused */
    t->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  chunk *c = malloc(sizeof *c + len);
  if (!c)
    return 0;
  c->next = NULL;
  c->len = len;
  memcpy(c->data, p, len);
  if (t->last)
    t->last->next = c;
  else
    t->first = c;
  t->last = c;
  t->queued += len;
  wake(t);
  return len;
}

/* Keeps the header lines of the last response only (a 100 Continue or a proxy's CONNECT answer come first). */
static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    t->head.len = 0;
  return buffer_append(&t->head, p, len) ? len : 0;
}

static int find_fd(curl_socket_t fd) {
  for (int i = 0; i < engine.nfds; i++)
    if (engine.fds[i].fd == fd)
      return i;
  return -1;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  int i = find_fd(fd);
  if (what == CURL_POLL_REMOVE) {
    if (i >= 0)
      engine.fds[i] = engine.fds[--engine.nfds];
    return 0;
  }
  if (i < 0) {
    if (engine.nfds == MAX_WATCHED_FDS)
      return -1;
    i = engine.nfds++;
    engine.fds[i].fd = fd;
  }
  engine.fds[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  return 0;
}

static int on_timer(CURLM *multi, long ms, void *userp) {
  engine.deadline = ms < 0 ? -1 : alaris_now() + (double)ms / 1000.0;
  return 0;
}

/* ---------- the loop source ---------- */

static int source_prepare(void *ud, struct pollfd *fds, int max, double *timeout) {
  if (!engine.multi)
    return 0;
  int n = 0;
  for (int i = 0; i < engine.nfds && n < max; i++)
    if (engine.fds[i].events)
      fds[n++] = (struct pollfd){.fd = engine.fds[i].fd, .events = engine.fds[i].events};
  if (engine.deadline >= 0) {
    double left = engine.deadline - alaris_now();
    if (left < 0)
      left = 0;
    if (*timeout < 0 || left < *timeout)
      *timeout = left;
  }
  return n;
}

static void collect_finished(void) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(engine.multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURL *easy = m->easy_handle;
    char *private = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &private);
    transfer *t = (transfer *)private;
    t->result = m->data.result;
    t->done = 1;
    t->in_multi = 0;
    curl_multi_remove_handle(engine.multi, easy);
    wake(t);
  }
}

static void source_dispatch(void *ud, const struct pollfd *fds, int nfds) {
  if (!engine.multi)
    return;
  int running;
  for (int i = 0; i < nfds; i++) {
    short rev = fds[i].revents;
    if (!rev)
      continue;
    int mask = ((rev & (POLLIN | POLLHUP)) ? CURL_CSELECT_IN : 0) | ((rev & POLLOUT) ? CURL_CSELECT_OUT : 0) |
               ((rev & (POLLERR | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
    curl_multi_socket_action(engine.multi, fds[i].fd, mask, &running);
  }
  if (engine.deadline >= 0 && alaris_now() >= engine.deadline) {
    engine.deadline = -1; /* libcurl sets the next one from inside the call */
    curl_multi_socket_action(engine.multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  collect_finished();
}

/* ---------- the multi handle's lifetime ---------- */

static int sentinel_gc(lua_State *L) {
  while (engine.transfers)
    transfer_close(engine.transfers);
  if (engine.multi) {
    curl_multi_cleanup(engine.multi);
    engine.multi = NULL;
    curl_global_cleanup();
  }
  engine.nfds = 0;
  engine.deadline = -1;
  return 0;
}

static void open_engine(lua_State *L) {
  if (engine.multi)
    return;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(engine.multi = curl_multi_init()))
    luaL_error(L, "alaris.http: cannot initialise libcurl");
  curl_multi_setopt(engine.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(engine.multi, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(engine.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_HOST_CONNECTIONS);
  curl_multi_setopt(engine.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_TOTAL_CONNECTIONS);
  curl_multi_setopt(engine.multi, CURLMOPT_MAXCONNECTS, (long)CONNECTION_CACHE);
  curl_multi_setopt(engine.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  if (!engine.source_added) {
    alaris_source source = {.prepare = source_prepare, .dispatch = source_dispatch, .ud = NULL};
    alaris_loop_add_source(alaris_loop_of(L), &source);
    engine.source_added = 1;
  }
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, sentinel_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);
}

/* ---------- request options ---------- */

#define SETOPT(L, t, opt, value, what)                                                                                 \
  do {                                                                                                                 \
    if (curl_easy_setopt((t)->easy, opt, value) != CURLE_OK)                                                           \
      luaL_error(L, "http.request: %s is not supported by this libcurl", what);                                        \
  } while (0)

static int token_char(int c) {
  return c > 32 && c < 127 && c != ':';
}

static void check_header(lua_State *L, const char *name, size_t nlen, const char *value, size_t vlen) {
  for (size_t i = 0; i < nlen; i++)
    if (!token_char((unsigned char)name[i]))
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

static void set_timeouts(lua_State *L, transfer *t) {
  double total = opt_seconds(L, "timeout", 0), connect = opt_seconds(L, "connect_timeout", DEFAULT_CONNECT_TIMEOUT);
  if (total > 0)
    SETOPT(L, t, CURLOPT_TIMEOUT_MS, (long)(total * 1000.0 + 0.5), "timeout");
  SETOPT(L, t, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000.0 + 0.5), "connect_timeout");
}

static void configure(lua_State *L, transfer *t, const char *url, const char *method) {
  SETOPT(L, t, CURLOPT_URL, url, "url");
  SETOPT(L, t, CURLOPT_PROTOCOLS_STR, "http,https", "protocols");
  SETOPT(L, t, CURLOPT_PRIVATE, (void *)t, "private");
  SETOPT(L, t, CURLOPT_ERRORBUFFER, t->errbuf, "errors");
  SETOPT(L, t, CURLOPT_NOSIGNAL, 1L, "nosignal");
  SETOPT(L, t, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS, "HTTP/2");
  SETOPT(L, t, CURLOPT_PIPEWAIT, 1L, "HTTP/2"); /* concurrent requests to a new host wait to share one h2 connection */
  SETOPT(L, t, CURLOPT_TCP_KEEPALIVE, 1L, "keepalive");
  SETOPT(L, t, CURLOPT_USERAGENT, "alaris/" ALARIS_VERSION, "user agent"); /* a User-Agent header replaces it */
  /* Never join a resolver thread still waiting on DNS when a request is cancelled: that would stall the loop. */
  SETOPT(L, t, CURLOPT_QUICK_EXIT, 1L, "quick exit");
  SETOPT(L, t, CURLOPT_WRITEFUNCTION, on_body, "write");
  SETOPT(L, t, CURLOPT_WRITEDATA, (void *)t, "write");
  SETOPT(L, t, CURLOPT_HEADERFUNCTION, on_header, "headers");
  SETOPT(L, t, CURLOPT_HEADERDATA, (void *)t, "headers");
  int has_body = set_method_and_body(L, t, method);
  set_headers(L, t, has_body);
  set_timeouts(L, t);
  set_tls(L, t);
}

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
    transfer_close(t);
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
  transfer_close(t);
  return 1;
}

/* ---------- running a request: a small state machine over continuations ---------- */

static int step(lua_State *L);

/* After on_data returned (or raised): 1 to go on, 0 when it returned false. Errors are re-raised once cleaned. */
static int after_on_data(lua_State *L, transfer *t, int status) {
  if (status != LUA_OK && status != LUA_YIELD) {
    transfer_close(t);
    return lua_error(L);
  }
  int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (stop) {
    if (t->in_multi)
      curl_multi_remove_handle(engine.multi, t->easy);
    t->in_multi = 0;
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
    transfer_close(t);
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
      chunk *c = chunk_pop(t);
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

static transfer *new_transfer(lua_State *L) {
  transfer *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TRANSFER_TYPE);
  if (!(t->easy = curl_easy_init()))
    luaL_error(L, "http.request: cannot create a libcurl handle");
  link_transfer(t);
  return t;
}

/* request{method, url, headers, body, timeout, connect_timeout, ca_file, ca_data, cert_data, key_data, insecure,
 * on_data} -> {status, headers, header_list, http_version, body} | nil, err */
static int l_request(lua_State *L) {
  luaL_checktype(L, ARG_OPTS, LUA_TTABLE);
  lua_settop(L, ARG_OPTS);
  if (!alaris_current_task(L))
    return luaL_error(L, "http.request must run inside an alaris task");
  if (!engine.multi)
    return luaL_error(L, "alaris.http is closed");
  transfer *t = new_transfer(L);
  lua_toclose(L, SLOT_TRANSFER); /* whatever ends this call (result, error, the task reset) frees the transfer */
  lua_getfield(L, ARG_OPTS, "on_data");
  luaL_argcheck(L, lua_isnil(L, SLOT_ON_DATA) || lua_isfunction(L, SLOT_ON_DATA), ARG_OPTS,
                "on_data must be a function");
  t->streaming = !lua_isnil(L, SLOT_ON_DATA);
  lua_pushnil(L);
  if (lua_getfield(L, ARG_OPTS, "url") != LUA_TSTRING)
    return luaL_argerror(L, ARG_OPTS, "url must be a string");
  if (lua_getfield(L, ARG_OPTS, "method") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "GET");
  }
  size_t mlen;
  const char *method = lua_tolstring(L, SLOT_METHOD, &mlen);
  luaL_argcheck(L, lua_type(L, SLOT_METHOD) == LUA_TSTRING && mlen > 0, ARG_OPTS, "method must be a string");
  for (size_t i = 0; i < mlen; i++)
    luaL_argcheck(L, token_char((unsigned char)method[i]), ARG_OPTS, "method must be a single token");
  configure(L, t, lua_tostring(L, SLOT_URL), lua_tostring(L, SLOT_METHOD));
  if (curl_multi_add_handle(engine.multi, t->easy) != CURLM_OK)
    return luaL_error(L, "http.request: cannot start the transfer");
  t->in_multi = 1;
  return step(L);
}

/* Transfers holding an easy handle: 0 once every request has ended or was cancelled. */
static int l_pending(lua_State *L) {
  lua_Integer n = 0;
  for (transfer *t = engine.transfers; t; t = t->next)
    n++;
  lua_pushinteger(L, n);
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
  if (luaL_newmetatable(L, TRANSFER_TYPE)) {
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
  open_engine(L);
  luaL_newlib(L, functions);
  lua_pushstring(L, curl_version());
  lua_setfield(L, -2, "curl_version");
  return 1;
}
