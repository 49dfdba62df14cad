/* alaris.http.core's engine room: one process-wide libcurl multi handle run as an event-loop source. Its sockets and
 * timer go into the loop's poll (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); dispatch drives libcurl and wakes
 * the task waiting on a transfer when bytes arrive or the transfer ends. Bodies, streamed chunks and header lines are
 * received here, in C only: libcurl's callbacks never touch Lua, so no GC can run inside them.
 * It does not read request options, build responses or call Lua functions: that is http.c and http_options.c. */
#include "http.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define TRANSFER_TYPE "alaris.http.transfer"
#define MAX_WATCHED_FDS 256
#define MAX_TOTAL_CONNECTIONS 96 /* below MAX_WATCHED_FDS, with room for resolver sockets */
#define MAX_HOST_CONNECTIONS 16
#define CONNECTION_CACHE 32
#define STREAM_PAUSE_BYTES (1 << 20) /* queued streamed bytes above which the transfer is paused */

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

chunk *http_transfer_pop_chunk(transfer *t) {
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
void http_transfer_close(transfer *t) {
  if (t->easy) {
    if (t->in_multi && engine.multi)
      curl_multi_remove_handle(engine.multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    t->in_multi = 0;
  }
  curl_slist_free_all(t->headers);
  curl_slist_free_all(t->connect_to);
  t->connect_to = NULL;
  t->headers = NULL;
  alaris_bytes_free(&t->body);
  alaris_bytes_free(&t->head);
  for (chunk *c; (c = http_transfer_pop_chunk(t));)
    free(c);
  t->waiting = NULL;
  unlink_transfer(t);
}

static int transfer_gc(lua_State *L) {
  http_transfer_close(luaL_checkudata(L, 1, TRANSFER_TYPE));
  return 0;
}

/* ---------- libcurl callbacks (C only: they never touch Lua, so no GC can run inside them) ---------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  transfer *t = ud;
  size_t len = size * n;
  if (!t->streaming)
    return alaris_bytes_append(&t->body, p, len) ? len : 0;
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
  return alaris_bytes_append(&t->head, p, len) ? len : 0;
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
    http_transfer_close(engine.transfers);
  if (engine.multi) {
    curl_multi_cleanup(engine.multi);
    engine.multi = NULL;
    curl_global_cleanup();
  }
  engine.nfds = 0;
  engine.deadline = -1;
  return 0;
}

void http_source_open(lua_State *L) {
  if (luaL_newmetatable(L, TRANSFER_TYPE)) {
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
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

/* ---------- what a request does with the multi handle ---------- */

transfer *http_transfer_new(lua_State *L) {
  transfer *t = lua_newuserdatauv(L, sizeof *t, 1);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TRANSFER_TYPE);
  if (!(t->easy = curl_easy_init()))
    luaL_error(L, "http.request: cannot create a libcurl handle");
  SETOPT(L, t, CURLOPT_PRIVATE, (void *)t, "private");
  SETOPT(L, t, CURLOPT_WRITEFUNCTION, on_body, "write");
  SETOPT(L, t, CURLOPT_WRITEDATA, (void *)t, "write");
  SETOPT(L, t, CURLOPT_HEADERFUNCTION, on_header, "headers");
  SETOPT(L, t, CURLOPT_HEADERDATA, (void *)t, "headers");
  link_transfer(t);
  return t;
}

int http_source_is_open(void) {
  return engine.multi != NULL;
}

int http_source_add(transfer *t) {
  if (curl_multi_add_handle(engine.multi, t->easy) != CURLM_OK)
    return 0;
  t->in_multi = 1;
  return 1;
}

void http_source_remove(transfer *t) {
  if (t->in_multi)
    curl_multi_remove_handle(engine.multi, t->easy);
  t->in_multi = 0;
}

lua_Integer http_source_pending(void) {
  lua_Integer n = 0;
  for (transfer *t = engine.transfers; t; t = t->next)
    n++;
  return n;
}
