/* alaris.socket: plain TCP on IPv4 for code that must carry bytes itself (port-forwarding): a non-blocking
 * listener, and the connections it accepts, read and written in tasks. Every wait suspends only the calling task
 * (alaris_wait_fd). It speaks no protocol and does no DNS; HTTP is alaris.http, WebSocket alaris.websocket. */
#include "errors.h"
#include "handle.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536

typedef struct {
  int fd; /* -1: closed */
} fd_handle;

static int fd_is_closed(const void *ud) {
  return ((const fd_handle *)ud)->fd < 0;
}

static void fd_release(lua_State *L, void *ud) {
  (void)L;
  fd_handle *h = ud;
  close(h->fd);
  h->fd = -1;
}

static int listener_accept(lua_State *L);
static int listener_port(lua_State *L);
static int socket_read(lua_State *L);
static int socket_write(lua_State *L);
static int socket_shutdown(lua_State *L);

static const luaL_Reg listener_methods[] = {{"accept", listener_accept}, {"port", listener_port}, {NULL, NULL}};
static const luaL_Reg socket_methods[] = {
    {"read", socket_read}, {"write", socket_write}, {"shutdown", socket_shutdown}, {NULL, NULL}};
static const alaris_handle_class LISTENER = {"alaris.socket.listener", "listener", listener_methods, fd_is_closed,
                                             fd_release};
static const alaris_handle_class SOCKET = {"alaris.socket", "socket", socket_methods, fd_is_closed, fd_release};

static fd_handle *new_fd_handle(lua_State *L, const alaris_handle_class *cls) {
  fd_handle *h = alaris_handle_new(L, cls, sizeof *h);
  h->fd = -1;
  return h;
}

static double opt_timeout(lua_State *L, int arg) {
  double t = luaL_optnumber(L, arg, -1);
  return t < 0 ? -1 : t;
}

static int fail_errno(lua_State *L, const char *what, int err) {
  const char *code = err == ECONNRESET || err == EPIPE ? "reset" : err == ECONNREFUSED ? "connect" : "socket";
  return alaris_fail(L, code, "%s: %s", what, strerror(err));
}

/* socket.listen(host, port) -> listener | nil, err. Non-blocking, close-on-exec; port 0 picks a free port. */
static int l_listen(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
    return luaL_argerror(L, 1, "an IPv4 address expected");
  fd_handle *h = new_fd_handle(L, &LISTENER);
  h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0)
    return fail_errno(L, "socket", errno);
  int one = 1;
  setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(h->fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(h->fd, 64) != 0) {
    int err = errno;
    fd_release(L, h);
    return fail_errno(L, "listen", err);
  }
  return 1;
}

/* listener:port() -> the bound port */
static int listener_port(lua_State *L) {
  fd_handle *h = alaris_handle_check(L, 1, &LISTENER);
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  if (getsockname(h->fd, (struct sockaddr *)&addr, &len) != 0)
    return fail_errno(L, "getsockname", errno);
  lua_pushinteger(L, ntohs(addr.sin_port));
  return 1;
}

static int listener_accept_step(lua_State *L);
static const alaris_retry accept_retry = {listener_accept_step, "accept"};

static int listener_accept_step(lua_State *L) {
  fd_handle *h = alaris_handle_check(L, 1, &LISTENER);
  int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    fd_handle *c = new_fd_handle(L, &SOCKET);
    c->fd = fd;
    return 1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
    return alaris_wait_fd_retry(L, h->fd, POLLIN, opt_timeout(L, 2), &accept_retry);
  return fail_errno(L, "accept", errno);
}

/* listener:accept([timeout]) -> socket | nil, err */
static int listener_accept(lua_State *L) {
  lua_settop(L, 2);
  return listener_accept_step(L);
}

static int socket_read_step(lua_State *L);
static const alaris_retry read_retry = {socket_read_step, "read"};

static int socket_read_step(lua_State *L) {
  fd_handle *h = alaris_handle_check(L, 1, &SOCKET);
  lua_Integer max = luaL_optinteger(L, 2, READ_CHUNK);
  luaL_Buffer b;
  char *buf = luaL_buffinitsize(L, &b, (size_t)max);
  ssize_t n = recv(h->fd, buf, (size_t)max, 0);
  if (n > 0) {
    luaL_pushresultsize(&b, (size_t)n);
    return 1;
  }
  if (n == 0)
    return alaris_fail(L, "eof", "the connection was closed by the peer");
  int err = errno;
  lua_pop(L, 1); /* the buffer */
  if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
    return alaris_wait_fd_retry(L, h->fd, POLLIN, opt_timeout(L, 3), &read_retry);
  return fail_errno(L, "read", err);
}

/* socket:read([max [, timeout]]) -> data | nil, err (err.code "eof" when the peer closed). max is at most 16 MiB:
 * the buffer is allocated before anything arrives. */
static int socket_read(lua_State *L) {
  lua_settop(L, 3);
  lua_Integer max = luaL_optinteger(L, 2, READ_CHUNK);
  luaL_argcheck(L, max > 0 && max <= (16 << 20), 2, "must be 1..16777216");
  return socket_read_step(L);
}

static int socket_write_step(lua_State *L, size_t done);

static int socket_write_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (reason == ALARIS_TIMEOUT)
    return alaris_fail(L, "timeout", "write: timed out");
  return socket_write_step(L, (size_t)ctx);
}

static int socket_write_step(lua_State *L, size_t done) {
  fd_handle *h = alaris_handle_check(L, 1, &SOCKET);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  while (done < len) {
    ssize_t n = send(h->fd, data + done, len - done, MSG_NOSIGNAL);
    if (n >= 0) {
      done += (size_t)n;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return alaris_wait_fd(L, h->fd, POLLOUT, opt_timeout(L, 3), socket_write_k, (lua_KContext)done);
    return fail_errno(L, "write", errno);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* socket:write(data [, timeout]) -> true | nil, err */
static int socket_write(lua_State *L) {
  lua_settop(L, 3);
  luaL_checkstring(L, 2);
  return socket_write_step(L, 0);
}

/* socket:shutdown() -> true: no more writes (the peer reads end of file) */
static int socket_shutdown(lua_State *L) {
  fd_handle *h = alaris_handle_check(L, 1, &SOCKET);
  shutdown(h->fd, SHUT_WR);
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_alaris_socket(lua_State *L) {
  static const luaL_Reg functions[] = {{"listen", l_listen}, {NULL, NULL}};
  alaris_handle_register(L, &LISTENER);
  alaris_handle_register(L, &SOCKET);
  luaL_newlib(L, functions);
  return 1;
}
