/* alaris.k8s.core: the mechanism under the Kubernetes client (stdlib/alaris/k8s.lua) that Lua cannot do itself:
 * running exec credential plugins without blocking the loop (fork/exec with an environment, stdout and stderr
 * collected through pipes, a timeout), and plain TCP on 127.0.0.1 for port-forwarding (a listener, accepted
 * connections read and written in tasks). Every wait suspends only the calling task (alaris_wait_fd).
 * It speaks no HTTP and knows nothing of Kubernetes: requests go through alaris.http, WebSocket is alaris.websocket. */
#include "errors.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LISTENER_MT "alaris.k8s.listener"
#define SOCKET_MT "alaris.k8s.socket"
#define PROCESS_MT "alaris.k8s.process"
#define READ_CHUNK 65536
#define MAX_PLUGIN_OUTPUT (4 << 20)

extern char **environ;

/* --- sockets: listener and connections ------------------------------------------------------------------------ */

typedef struct {
  int fd;
} fd_handle;

static fd_handle *new_fd_handle(lua_State *L, const char *mt) {
  fd_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->fd = -1;
  luaL_setmetatable(L, mt);
  return h;
}

static fd_handle *check_open(lua_State *L, int arg, const char *mt, const char *what) {
  fd_handle *h = luaL_checkudata(L, arg, mt);
  if (h->fd < 0)
    luaL_error(L, "attempt to use a closed %s", what);
  return h;
}

static int fd_handle_close(lua_State *L, const char *mt) {
  fd_handle *h = luaL_checkudata(L, 1, mt);
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
  return 0;
}

static int listener_close(lua_State *L) {
  return fd_handle_close(L, LISTENER_MT);
}
static int socket_close(lua_State *L) {
  return fd_handle_close(L, SOCKET_MT);
}

static double opt_timeout(lua_State *L, int arg) {
  double t = luaL_optnumber(L, arg, -1);
  return t < 0 ? -1 : t;
}

static int fail_errno(lua_State *L, const char *what, int err) {
  return alaris_fail(L, err == ECONNRESET || err == EPIPE ? "reset" : "socket", "%s: %s", what, strerror(err));
}

/* core.listen(host, port) -> listener | nil, err. Non-blocking, close-on-exec; port 0 picks a free port. */
static int l_listen(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
    return luaL_argerror(L, 1, "an IPv4 address expected");
  fd_handle *h = new_fd_handle(L, LISTENER_MT);
  h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0)
    return fail_errno(L, "socket", errno);
  int one = 1;
  setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(h->fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(h->fd, 64) != 0) {
    int err = errno;
    close(h->fd);
    h->fd = -1;
    return fail_errno(L, "listen", err);
  }
  return 1;
}

/* listener:port() -> the bound port */
static int listener_port(lua_State *L) {
  fd_handle *h = check_open(L, 1, LISTENER_MT, "listener");
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
  fd_handle *h = check_open(L, 1, LISTENER_MT, "listener");
  int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    fd_handle *c = new_fd_handle(L, SOCKET_MT);
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
  fd_handle *h = check_open(L, 1, SOCKET_MT, "socket");
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

/* socket:read([max [, timeout]]) -> data | nil, err (err.code "eof" when the peer closed) */
static int socket_read(lua_State *L) {
  lua_settop(L, 3);
  luaL_argcheck(L, luaL_optinteger(L, 2, READ_CHUNK) > 0, 2, "must be positive");
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
  fd_handle *h = check_open(L, 1, SOCKET_MT, "socket");
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

/* socket:shutdown() -> no more writes (the peer reads end of file) */
static int socket_shutdown(lua_State *L) {
  fd_handle *h = check_open(L, 1, SOCKET_MT, "socket");
  shutdown(h->fd, SHUT_WR);
  return 0;
}

static int fd_closed(lua_State *L, const char *mt) {
  fd_handle *h = luaL_checkudata(L, 1, mt);
  lua_pushboolean(L, h->fd < 0);
  return 1;
}

static int listener_closed(lua_State *L) {
  return fd_closed(L, LISTENER_MT);
}
static int socket_closed(lua_State *L) {
  return fd_closed(L, SOCKET_MT);
}

/* --- exec credential plugins: a child process with collected output -------------------------------------------- */

typedef struct {
  char *data;
  size_t len, cap;
  int fd; /* the read end of the pipe, -1 at end of file */
} output;

typedef struct {
  pid_t pid; /* 0 once reaped */
  int pidfd, epfd, status;
  output out, err;
  double deadline;
} process;

static void output_close(output *o) {
  if (o->fd >= 0)
    close(o->fd);
  o->fd = -1;
}

static void process_kill_and_reap(process *p) {
  if (p->pid > 0) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &p->status, 0);
    p->pid = 0;
  }
}

static int process_gc(lua_State *L) {
  process *p = luaL_checkudata(L, 1, PROCESS_MT);
  process_kill_and_reap(p);
  output_close(&p->out);
  output_close(&p->err);
  if (p->pidfd >= 0)
    close(p->pidfd);
  if (p->epfd >= 0)
    close(p->epfd);
  p->pidfd = p->epfd = -1;
  free(p->out.data);
  free(p->err.data);
  p->out.data = p->err.data = NULL;
  return 0;
}

/* Reads what the pipe has now; 0 when it would block or reached end of file, -1 when the output is too large. */
static int output_drain(output *o) {
  while (o->fd >= 0) {
    if (o->cap - o->len < READ_CHUNK) {
      size_t cap = o->cap ? o->cap * 2 : READ_CHUNK * 2;
      if (cap > MAX_PLUGIN_OUTPUT)
        return -1;
      char *d = realloc(o->data, cap);
      if (!d)
        return -1;
      o->data = d;
      o->cap = cap;
    }
    ssize_t n = read(o->fd, o->data + o->len, o->cap - o->len);
    if (n > 0)
      o->len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
      output_close(o);
    else if (errno == EAGAIN)
      return 0;
  }
  return 0;
}

static size_t table_size(lua_State *L, int arg) {
  size_t n = 0;
  if (lua_istable(L, arg)) {
    lua_pushnil(L);
    while (lua_next(L, arg)) {
      n++;
      lua_pop(L, 1);
    }
  }
  return n;
}

/* Builds NAME=VALUE strings: the process environment with the table at `arg` (name -> value) added over it.
 * Pushes two values that keep the result alive (an array userdata and a table anchoring the new strings). */
static char **build_environment(lua_State *L, int arg) {
  size_t n = 0, extra = table_size(L, arg);
  while (environ[n])
    n++;
  char **env = lua_newuserdatauv(L, (n + extra + 1) * sizeof *env, 0);
  lua_createtable(L, (int)extra, 0);
  int anchor = lua_gettop(L);
  size_t k = 0;
  if (extra) {
    lua_pushnil(L);
    while (lua_next(L, arg)) {
      lua_pushfstring(L, "%s=%s", luaL_checkstring(L, -2), luaL_checkstring(L, -1));
      env[k++] = (char *)lua_tostring(L, -1);
      lua_rawseti(L, anchor, (lua_Integer)k);
      lua_pop(L, 1);
    }
  }
  size_t added = k;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t name_len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int overridden = 0;
    for (size_t j = 0; j < added && !overridden; j++)
      overridden = strncmp(env[j], environ[i], name_len) == 0 && env[j][name_len] == '=';
    if (!overridden)
      env[k++] = environ[i];
  }
  env[k] = NULL;
  return env;
}

static char **build_argv(lua_State *L, int arg) {
  lua_Integer n = luaL_len(L, arg);
  luaL_argcheck(L, n >= 1, arg, "a command expected");
  char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, arg, i);
    argv[i - 1] = (char *)luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays referenced by the table */
  }
  argv[n] = NULL;
  return argv;
}

static int nonblocking_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC) != 0)
    return -1;
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  return 0;
}

/* In the child: stdin from /dev/null, stdout and stderr into the pipes, then exec; exit 127 if that fails. */
static void exec_child(char **argv, char **env, int out, int err) {
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0)
    dup2(devnull, 0);
  dup2(out, 1);
  dup2(err, 2);
  execvpe(argv[0], argv, env);
  dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static int process_watch(process *p) {
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0)
    return -1;
  int fds[3] = {p->out.fd, p->err.fd, p->pidfd};
  for (int i = 0; i < 3; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
    if (fds[i] >= 0 && epoll_ctl(p->epfd, EPOLL_CTL_ADD, fds[i], &ev) != 0)
      return -1;
  }
  return 0;
}

static int process_start(process *p, char **argv, char **env) {
  int out[2], err[2];
  if (nonblocking_pipe(out) != 0)
    return -1;
  if (nonblocking_pipe(err) != 0) {
    close(out[0]);
    close(out[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0)
    exec_child(argv, env, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  p->out.fd = out[0];
  p->err.fd = err[0];
  if (pid < 0)
    return -1;
  p->pid = pid;
  p->pidfd = pidfd_open(pid, 0);
  return process_watch(p);
}

static void push_process_result(lua_State *L, process *p) {
  lua_createtable(L, 0, 3);
  if (WIFEXITED(p->status)) {
    lua_pushinteger(L, WEXITSTATUS(p->status));
    lua_setfield(L, -2, "status");
  } else if (WIFSIGNALED(p->status)) {
    lua_pushinteger(L, WTERMSIG(p->status));
    lua_setfield(L, -2, "signal");
  }
  lua_pushlstring(L, p->out.data ? p->out.data : "", p->out.len);
  lua_setfield(L, -2, "stdout");
  lua_pushlstring(L, p->err.data ? p->err.data : "", p->err.len);
  lua_setfield(L, -2, "stderr");
}

static int run_step(lua_State *L);

static int run_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  process *p = luaL_checkudata(L, 4, PROCESS_MT);
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_READY)
    return run_step(L);
  process_kill_and_reap(p);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  return alaris_fail(L, "timeout", "%s did not finish in time", lua_tostring(L, 5));
}

static int run_step(lua_State *L) {
  process *p = luaL_checkudata(L, 4, PROCESS_MT);
  if (output_drain(&p->out) != 0 || output_drain(&p->err) != 0) {
    process_kill_and_reap(p);
    return alaris_fail(L, "exec", "%s wrote more than %d bytes", lua_tostring(L, 5), MAX_PLUGIN_OUTPUT);
  }
  if (p->pid > 0 && waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
    p->pid = 0;
    output_drain(&p->out); /* what it wrote just before exiting */
    output_drain(&p->err);
  }
  if (p->pid > 0 && p->pidfd < 0 && p->out.fd < 0 && p->err.fd < 0) { /* no pidfd: its output ended, it is exiting */
    waitpid(p->pid, &p->status, 0);
    p->pid = 0;
  }
  if (p->pid == 0 && p->out.fd < 0 && p->err.fd < 0) {
    push_process_result(L, p);
    return 1;
  }
  if (p->pid == 0) { /* exited, but a grandchild may hold the pipes: stop reading them */
    output_close(&p->out);
    output_close(&p->err);
    push_process_result(L, p);
    return 1;
  }
  double left = p->deadline < 0 ? -1 : p->deadline - alaris_now();
  if (p->deadline >= 0 && left < 0)
    left = 0;
  return alaris_wait_fd(L, p->epfd, POLLIN, left, run_k, 0);
}

/* core.run(argv, env, timeout) -> {status | signal, stdout, stderr} | nil, err
 * argv: a list (argv[1] searched in PATH); env: name -> value added to the environment (values never on a command
 * line); timeout: seconds (nil: none). stdin is /dev/null. The child is killed when the task is cancelled. */
static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  double timeout = opt_timeout(L, 3);
  lua_settop(L, 3);
  process *p = lua_newuserdatauv(L, sizeof *p, 0); /* 4 */
  memset(p, 0, sizeof *p);
  p->pidfd = p->epfd = p->out.fd = p->err.fd = -1;
  luaL_setmetatable(L, PROCESS_MT);
  lua_rawgeti(L, 1, 1); /* 5: the command, for messages */
  char **argv = build_argv(L, 1);
  char **env = build_environment(L, 2);
  int started = process_start(p, argv, env);
  int err = errno;
  lua_settop(L, 5);
  if (started != 0) {
    process_kill_and_reap(p);
    return alaris_fail(L, "exec", "cannot run %s: %s", lua_tostring(L, 5), strerror(err));
  }
  p->deadline = timeout < 0 ? -1 : alaris_now() + timeout;
  return run_step(L);
}

/* core.error(code, message) -> an error value like the ones bindings return (tostring gives the message) */
static int l_error(lua_State *L) {
  const char *code = luaL_checkstring(L, 1);
  const char *message = luaL_checkstring(L, 2);
  alaris_error_push(L, code, "%s", message);
  return 1;
}

/* --- module ------------------------------------------------------------------------------------------------- */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
}

int luaopen_alaris_k8s_core(lua_State *L) {
  static const luaL_Reg listener_methods[] = {{"accept", listener_accept},
                                              {"port", listener_port},
                                              {"close", listener_close},
                                              {"closed", listener_closed},
                                              {NULL, NULL}};
  static const luaL_Reg socket_methods[] = {{"read", socket_read},         {"write", socket_write},
                                            {"shutdown", socket_shutdown}, {"close", socket_close},
                                            {"closed", socket_closed},     {NULL, NULL}};
  static const luaL_Reg no_methods[] = {{NULL, NULL}};
  static const luaL_Reg functions[] = {{"listen", l_listen}, {"run", l_run}, {"error", l_error}, {NULL, NULL}};
  new_class(L, LISTENER_MT, listener_methods, listener_close);
  new_class(L, SOCKET_MT, socket_methods, socket_close);
  new_class(L, PROCESS_MT, no_methods, process_gc);
  luaL_newlib(L, functions);
  return 1;
}
