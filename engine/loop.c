/* The event loop: runs tasks (Lua coroutines) until the root task ends, waiting in poll(2) for descriptors,
 * timers and C sources (libcurl) between runs. Signals end the wait through a self-pipe; the first SIGINT/SIGTERM
 * interrupts the root task, the second exits at once with 130. It has no policy about what tasks do. */
#include "loop.h"
#include "errors.h"
#include "task.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOURCES 8
#define MAX_SOURCE_FDS 256

struct alaris_loop {
  alaris_task *tasks; /* every live task, oldest first */
  alaris_task *root;
  lua_State *volatile running; /* the coroutine being resumed, for the signal hook (NULL: none, or shielded) */
  alaris_source sources[MAX_SOURCES];
  int nsources;
  int wake_pipe[2];
  struct pollfd *fds;
  size_t fds_cap;
};

static alaris_loop the_loop = {.wake_pipe = {-1, -1}};
static volatile sig_atomic_t signals_seen;
static volatile sig_atomic_t last_signal;

double alaris_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

alaris_loop *alaris_loop_of(lua_State *L) {
  (void)L;
  return &the_loop;
}

alaris_task *alaris_current_task(lua_State *L) {
  return *(alaris_task **)lua_getextraspace(L);
}

int alaris_interrupted(void) {
  return signals_seen > 0;
}

int alaris_interrupt_signal(void) {
  return last_signal;
}

/* --- signals ------------------------------------------------------------------------------------------------ */

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted");
}

static void on_signal(int sig) {
  int saved = errno;
  signals_seen++;
  last_signal = sig;
  if (signals_seen > 1)
    _exit(130);
  if (the_loop.running) /* a task is running Lua code: stop it at the next safe point, as lua.c does */
    lua_sethook(the_loop.running, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  if (the_loop.wake_pipe[1] >= 0) {
    ssize_t n = write(the_loop.wake_pipe[1], "!", 1);
    (void)n;
  }
  errno = saved;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static void drain_wake_pipe(void) {
  char buf[64];
  while (read(the_loop.wake_pipe[0], buf, sizeof buf) > 0) {
  }
}

/* --- tasks -------------------------------------------------------------------------------------------------- */

/* Tasks run in the order they were spawned. */
static void add_task(alaris_task *t) {
  alaris_task **p = &the_loop.tasks;
  while (*p)
    p = &(*p)->next;
  t->next = NULL;
  *p = t;
}

/* A task's whole life is in this file: created here, resumed, finished (its outcome kept in its user values) and
 * released from the registry; the core module (alaris.c) only gives it its Lua API. */
static int next_task_id;

alaris_task *alaris_task_new(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  alaris_task *t = lua_newuserdatauv(L, sizeof *t, ALARIS_TASK_NUSER);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, ALARIS_TASK_TYPE);
  lua_State *co = lua_newthread(L);
  lua_setiuservalue(L, -2, ALARIS_TASK_THREAD);
  t->co = co;
  *(alaris_task **)lua_getextraspace(co) = t;
  lua_insert(L, base);         /* task, fn, args... */
  lua_xmove(L, co, nargs + 1); /* fn and args go to the coroutine */
  t->nargs = nargs;
  t->state = TASK_RUNNABLE;
  t->reason = ALARIS_READY;
  t->deadline = -1;
  t->id = ++next_task_id;
  lua_pushvalue(L, -1);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  add_task(t);
  return t;
}

static void task_store(lua_State *L, alaris_task *t, int slot) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
  lua_insert(L, -2);
  lua_setiuservalue(L, -2, slot);
  lua_pop(L, 1);
}

static void task_release(lua_State *L, alaris_task *t) {
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
}

static void unlink_task(alaris_task *t) {
  for (alaris_task **p = &the_loop.tasks; *p; p = &(*p)->next) {
    if (*p == t) {
      *p = t->next;
      t->next = NULL;
      return;
    }
  }
}

static void make_runnable(alaris_task *t, int reason) {
  t->state = TASK_RUNNABLE;
  t->reason = reason;
}

void alaris_task_wake(alaris_task *t) {
  if (t && t->state == TASK_SUSPENDED)
    make_runnable(t, ALARIS_READY);
}

void alaris_task_cancel(alaris_task *t, const char *why) {
  if (t->state == TASK_DONE || t->cancel[0])
    return;
  snprintf(t->cancel, sizeof t->cancel, "%s", why);
  if (t->state == TASK_WAIT_FD || t->state == TASK_SUSPENDED || t->state == TASK_WAIT_TASK)
    make_runnable(t, ALARIS_CANCELLED);
}

static void wake_joiners(alaris_task *done) {
  for (alaris_task *t = the_loop.tasks; t; t = t->next)
    if (t->state == TASK_WAIT_TASK && t->joining == done)
      make_runnable(t, ALARIS_READY);
}

/* A task ended (returned or raised): keep its outcome for alaris.wait, release the loop's hold on it. */
static void finish(lua_State *L, alaris_task *t, int status, int nres) {
  lua_State *co = t->co;
  t->state = TASK_DONE;
  t->ok = (status == LUA_OK);
  if (t->ok) {
    lua_createtable(L, nres, 0);
    lua_xmove(co, L, 0);
    for (int i = nres; i >= 1; i--) {
      lua_xmove(co, L, 1);
      lua_rawseti(L, -2, i);
    }
    t->nresults = nres;
    task_store(L, t, ALARIS_TASK_RESULTS); /* pops */
  } else {
    const char *msg = lua_tostring(co, -1);
    luaL_traceback(L, co, msg ? msg : "(error object)", 0);
    task_store(L, t, ALARIS_TASK_TRACEBACK);
    lua_xmove(co, L, 1); /* the error value */
    task_store(L, t, ALARIS_TASK_ERROR);
    lua_resetthread(co); /* an error does not unwind: close the pending to-be-closed variables now */
  }
  lua_settop(co, 0);
  unlink_task(t);
  wake_joiners(t);
  task_release(L, t);
}

static void resume(lua_State *L, alaris_task *t) {
  lua_State *co = t->co;
  int nargs = t->nargs, nres = 0;
  if (!t->started && t->cancel[0]) { /* cancelled before it ever ran */
    lua_settop(co, 0);
    lua_pushstring(co, t->cancel);
    finish(L, t, LUA_ERRRUN, 0);
    return;
  }
  t->started = 1;
  t->nargs = 0;
  t->state = TASK_RUNNING;
  the_loop.running = t->shielded ? NULL : co;
  int status = lua_resume(co, L, nargs, &nres);
  the_loop.running = NULL;
  lua_sethook(co, NULL, 0, 0);
  if (status == LUA_YIELD) {
    lua_pop(co, nres);
    if (t->state == TASK_RUNNING) /* a bare coroutine.yield(): run again on the next turn */
      make_runnable(t, ALARIS_READY);
    return;
  }
  finish(L, t, status, status == LUA_OK ? nres : 0);
}

/* --- waiting ------------------------------------------------------------------------------------------------ */

static alaris_task *waiting_task(lua_State *L) {
  alaris_task *t = alaris_current_task(L);
  if (!t || t->co != L)
    luaL_error(L, "not inside an alaris task (waits cannot happen in a nested coroutine)");
  return t;
}

static double deadline_after(double timeout) {
  return timeout < 0 ? -1 : alaris_now() + timeout;
}

int alaris_wait_fd(lua_State *L, int fd, short events, double timeout, lua_KFunction k, lua_KContext ctx) {
  alaris_task *t = waiting_task(L);
  if (t->cancel[0])
    return alaris_raise_cancelled(L);
  t->state = TASK_WAIT_FD;
  t->fd = fd;
  t->events = events;
  t->revents = 0;
  t->deadline = deadline_after(timeout);
  return lua_yieldk(L, 0, ctx, k);
}

static int retry_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  const alaris_retry *retry = (const alaris_retry *)ctx;
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (reason == ALARIS_TIMEOUT)
    return alaris_fail(L, "timeout", "%s: timed out", retry->what);
  return retry->step(L);
}

int alaris_wait_fd_retry(lua_State *L, int fd, short events, double timeout, const alaris_retry *retry) {
  return alaris_wait_fd(L, fd, events, timeout, retry_k, (lua_KContext)retry);
}

int alaris_suspend(lua_State *L, double timeout, lua_KFunction k, lua_KContext ctx) {
  alaris_task *t = waiting_task(L);
  if (t->cancel[0])
    return alaris_raise_cancelled(L);
  t->state = TASK_SUSPENDED;
  t->deadline = deadline_after(timeout);
  return lua_yieldk(L, 0, ctx, k);
}

int alaris_wait_task(lua_State *L, alaris_task *target, double timeout, lua_KFunction k, lua_KContext ctx) {
  alaris_task *t = waiting_task(L);
  if (t->cancel[0])
    return alaris_raise_cancelled(L);
  t->state = TASK_WAIT_TASK;
  t->joining = target;
  t->deadline = deadline_after(timeout);
  return lua_yieldk(L, 0, ctx, k);
}

int alaris_resume_reason(lua_State *L) {
  alaris_task *t = alaris_current_task(L);
  return t ? t->reason : 0;
}

short alaris_revents(lua_State *L) {
  alaris_task *t = alaris_current_task(L);
  return t ? t->revents : 0;
}

/* Delivered once: a task that catches its cancellation (a runner rolling back after an interrupt) may wait again. */
int alaris_raise_cancelled(lua_State *L) {
  alaris_task *t = alaris_current_task(L);
  char why[sizeof t->cancel] = "cancelled";
  if (t && t->cancel[0]) {
    memcpy(why, t->cancel, sizeof why);
    t->cancel[0] = '\0';
  }
  lua_pushstring(L, why);
  return lua_error(L);
}

void alaris_loop_add_source(alaris_loop *loop, const alaris_source *source) {
  if (loop->nsources < MAX_SOURCES)
    loop->sources[loop->nsources++] = *source;
}

/* --- the loop ----------------------------------------------------------------------------------------------- */

static struct pollfd *reserve_fds(size_t n) {
  if (n > the_loop.fds_cap) {
    size_t cap = n * 2;
    struct pollfd *p = realloc(the_loop.fds, cap * sizeof *p);
    if (!p)
      abort();
    the_loop.fds = p;
    the_loop.fds_cap = cap;
  }
  return the_loop.fds;
}

static int run_runnable(lua_State *L) {
  int ran = 0;
  /* A resumed task may spawn or finish others: restart the scan after each resume. */
  for (;;) {
    alaris_task *t = the_loop.tasks;
    while (t && t->state != TASK_RUNNABLE)
      t = t->next;
    if (!t)
      return ran;
    resume(L, t);
    ran++;
    if (the_loop.root->state == TASK_DONE)
      return ran;
  }
}

static double lower_timeout(double current, double deadline, double now) {
  if (deadline < 0)
    return current;
  double left = deadline - now;
  if (left < 0)
    left = 0;
  return current < 0 || left < current ? left : current;
}

static void deliver_interrupt(void) {
  alaris_task *root = the_loop.root;
  if (root->state != TASK_DONE && !root->cancel[0])
    alaris_task_cancel(root, "interrupted");
}

/* Everything waits and nothing could ever wake it: fail the root instead of hanging forever. */
static void break_deadlock(void) {
  alaris_task_cancel(the_loop.root, "deadlock: every task is waiting and nothing can wake them");
}

static void poll_once(void) {
  double now = alaris_now(), timeout = -1;
  size_t n = 1, ntasks = 0;
  for (alaris_task *t = the_loop.tasks; t; t = t->next)
    ntasks++;
  struct pollfd *fds = reserve_fds(1 + ntasks + (size_t)the_loop.nsources * MAX_SOURCE_FDS);
  fds[0] = (struct pollfd){.fd = the_loop.wake_pipe[0], .events = POLLIN};
  for (alaris_task *t = the_loop.tasks; t; t = t->next) {
    if (t->state == TASK_WAIT_FD)
      fds[n++] = (struct pollfd){.fd = t->fd, .events = t->events};
    if (t->state == TASK_WAIT_FD || t->state == TASK_SUSPENDED || t->state == TASK_WAIT_TASK)
      timeout = lower_timeout(timeout, t->deadline, now);
  }
  size_t source_at[MAX_SOURCES], source_n[MAX_SOURCES];
  for (int i = 0; i < the_loop.nsources; i++) {
    alaris_source *s = &the_loop.sources[i];
    source_at[i] = n;
    source_n[i] = (size_t)s->prepare(s->ud, fds + n, MAX_SOURCE_FDS, &timeout);
    n += source_n[i];
  }
  if (n == 1 && timeout < 0) {
    break_deadlock();
    return;
  }
  int ms = timeout < 0 ? -1 : (int)(timeout * 1000.0 + 0.999);
  int rc = poll(fds, (nfds_t)n, ms);
  if (rc < 0 && errno != EINTR)
    abort(); /* only EFAULT/EINVAL/ENOMEM remain: a bug or an exhausted machine */
  if (fds[0].revents & POLLIN)
    drain_wake_pipe();
  now = alaris_now();
  size_t i = 1;
  for (alaris_task *t = the_loop.tasks; t; t = t->next) {
    if (t->state != TASK_WAIT_FD)
      continue;
    short rev = rc > 0 ? fds[i].revents : 0;
    i++;
    if (rev) {
      t->revents = rev;
      make_runnable(t, ALARIS_READY);
    }
  }
  for (int s = 0; s < the_loop.nsources; s++)
    the_loop.sources[s].dispatch(the_loop.sources[s].ud, fds + source_at[s], (int)source_n[s]);
  for (alaris_task *t = the_loop.tasks; t; t = t->next) {
    int waiting = t->state == TASK_WAIT_FD || t->state == TASK_SUSPENDED || t->state == TASK_WAIT_TASK;
    if (waiting && t->deadline >= 0 && t->deadline <= now)
      make_runnable(t, ALARIS_TIMEOUT);
  }
}

int alaris_loop_run(lua_State *L, alaris_task *root) {
  if (the_loop.wake_pipe[0] < 0) {
    if (pipe(the_loop.wake_pipe) != 0)
      return luaL_error(L, "cannot create the loop's wake pipe");
    for (int i = 0; i < 2; i++) {
      fcntl(the_loop.wake_pipe[i], F_SETFL, O_NONBLOCK);
      fcntl(the_loop.wake_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    install_signals();
  }
  the_loop.root = root;
  int delivered = 0;
  while (root->state != TASK_DONE) {
    if (signals_seen && !delivered) {
      delivered = 1;
      deliver_interrupt();
    }
    if (run_runnable(L) && root->state == TASK_DONE)
      break;
    if (root->state == TASK_DONE)
      break;
    int any_runnable = 0;
    for (alaris_task *t = the_loop.tasks; t; t = t->next)
      any_runnable |= t->state == TASK_RUNNABLE;
    if (!any_runnable)
      poll_once();
  }
  /* The root is done: whatever it left running is closed, running its pending to-be-closed variables. */
  while (the_loop.tasks) {
    alaris_task *t = the_loop.tasks;
    unlink_task(t);
    t->state = TASK_DONE;
    lua_resetthread(t->co); /* lua_closethread from 5.4.6 on */
    task_release(L, t);
  }
  the_loop.root = NULL;
  return root->ok;
}
