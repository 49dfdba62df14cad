/* alaris.process: runs a program without blocking the loop and collects what it wrote: fork/exec with an
 * environment added to the process's own (values never on a command line), stdin from /dev/null, stdout and stderr
 * through pipes (at most 4 MiB each), a timeout, and the child killed when the task is cancelled. Every wait
 * suspends only the calling task (alaris_wait_fd). It has no shell: argv is exec'd as given. */
#include "errors.h"
#include "handle.h"
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_OUTPUT (4 << 20)
#define MAX_ARGS 4096 /* argv and added environment entries: far above any command, far below an overflow */

extern char **environ;

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
  int released;
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

static int process_is_closed(const void *ud) {
  return ((const process *)ud)->released;
}

static void process_release(lua_State *L, void *ud) {
  (void)L;
  process *p = ud;
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
  p->released = 1;
}

static const alaris_handle_class PROCESS = {"alaris.process", "process", NULL, process_is_closed, process_release};

/* Reads what the pipe has now; 0 when it would block or reached end of file, -1 when the output is too large. */
static int output_drain(output *o) {
  while (o->fd >= 0) {
    if (o->cap - o->len < READ_CHUNK) {
      size_t cap = o->cap ? o->cap * 2 : READ_CHUNK * 2;
      if (cap > MAX_OUTPUT)
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

/* The number of entries of the table at `arg` (0 when it is nil); more than MAX_ARGS raises. */
static size_t table_size(lua_State *L, int arg) {
  size_t n = 0;
  if (lua_istable(L, arg)) {
    lua_pushnil(L);
    while (lua_next(L, arg)) {
      luaL_argcheck(L, ++n <= MAX_ARGS, arg, "too many environment variables");
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
      luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING, arg, "environment names must be strings");
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), luaL_checkstring(L, -1));
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
  lua_Integer n = luaL_len(L, arg); /* __len may say anything: bound it before sizing the array */
  luaL_argcheck(L, n >= 1, arg, "a command expected");
  luaL_argcheck(L, n <= MAX_ARGS, arg, "too many arguments");
  char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, arg, i);
    luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, arg, "the command and its arguments must be strings");
    argv[i - 1] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1); /* a string (not a converted number): the table keeps it alive */
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
  process *p = luaL_checkudata(L, 4, PROCESS.name);
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_READY)
    return run_step(L);
  process_kill_and_reap(p);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  return alaris_fail(L, "timeout", "%s did not finish in time", lua_tostring(L, 5));
}

static int run_step(lua_State *L) {
  process *p = luaL_checkudata(L, 4, PROCESS.name);
  if (output_drain(&p->out) != 0 || output_drain(&p->err) != 0) {
    process_kill_and_reap(p);
    return alaris_fail(L, "exec", "%s wrote more than %d bytes", lua_tostring(L, 5), MAX_OUTPUT);
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

/* process.run(argv, env, timeout) -> {status | signal, stdout, stderr} | nil, err
 * argv: a list (argv[1] searched in PATH); env: name -> value added to the environment (values never on a command
 * line); timeout: seconds (nil: none). stdin is /dev/null. The child is killed when the task is cancelled. */
static int l_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  double timeout = luaL_optnumber(L, 3, -1);
  if (timeout < 0)
    timeout = -1;
  lua_settop(L, 3);
  process *p = alaris_handle_new(L, &PROCESS, sizeof *p); /* 4 */
  p->pidfd = p->epfd = p->out.fd = p->err.fd = -1;
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

int luaopen_alaris_process(lua_State *L) {
  static const luaL_Reg functions[] = {{"run", l_run}, {NULL, NULL}};
  alaris_handle_register(L, &PROCESS);
  luaL_newlib(L, functions);
  return 1;
}
