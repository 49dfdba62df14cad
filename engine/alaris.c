/* The core module `alaris`: tasks on the event loop (spawn, wait, cancel, sleep, wait_fd), time, the interrupt
 * flag and the secret registry. Scheduling policy (parallel, for_each) is Lua, in stdlib/alaris/playbook.lua. */
#include "errors.h"
#include "host.h"
#include "secrets.h"
#include "task.h"

#include <lauxlib.h>
#include <regex.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static alaris_task *check_task(lua_State *L, int arg) {
  return luaL_checkudata(L, arg, ALARIS_TASK_TYPE);
}

/* true, results... | false, err, traceback */
static int push_outcome(lua_State *L, int arg) {
  alaris_task *t = check_task(L, arg);
  if (t->ok) {
    lua_pushboolean(L, 1);
    lua_getiuservalue(L, arg, ALARIS_TASK_RESULTS);
    int n = t->nresults;
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++)
      lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n + 1;
  }
  lua_pushboolean(L, 0);
  lua_getiuservalue(L, arg, ALARIS_TASK_ERROR);
  lua_getiuservalue(L, arg, ALARIS_TASK_TRACEBACK);
  return 3;
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  alaris_task_new(L, lua_gettop(L) - 1);
  return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (alaris_resume_reason(L) == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (check_task(L, 1)->state != TASK_DONE)
    return alaris_fail(L, "timeout", "wait: the task did not end in time");
  return push_outcome(L, 1);
}

/* alaris.wait(task [, timeout]) */
static int l_wait(lua_State *L) {
  alaris_task *t = check_task(L, 1);
  double timeout = luaL_optnumber(L, 2, -1);
  lua_settop(L, 1);
  if (t->state == TASK_DONE)
    return push_outcome(L, 1);
  if (t == alaris_current_task(L))
    return luaL_error(L, "a task cannot wait for itself");
  return alaris_wait_task(L, t, timeout, wait_k, 0);
}

static int l_cancel(lua_State *L) {
  alaris_task *t = check_task(L, 1);
  const char *why = luaL_optstring(L, 2, "cancelled");
  if (t == alaris_current_task(L))
    return luaL_error(L, "%s", why);
  alaris_task_cancel(t, why);
  return 0;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (alaris_resume_reason(L) == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  return 0;
}

static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  return alaris_suspend(L, s < 0 ? 0 : s, sleep_k, 0);
}

static int l_yield(lua_State *L) {
  return alaris_suspend(L, 0, sleep_k, 0);
}

static int wait_fd_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (reason == ALARIS_TIMEOUT)
    return alaris_fail(L, "timeout", "wait_fd: timed out");
  short rev = alaris_revents(L);
  int r = (rev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0, w = (rev & (POLLOUT | POLLERR | POLLNVAL)) != 0;
  lua_pushstring(L, r && w ? "rw" : r ? "r" : "w");
  return 1;
}

/* alaris.wait_fd(fd, "r"|"w"|"rw" [, timeout]) -> "r"|"w"|"rw" | nil, err (err.code "timeout") */
static int l_wait_fd(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  const char *mode = luaL_checkstring(L, 2);
  double timeout = luaL_optnumber(L, 3, -1);
  short events = 0;
  if (strchr(mode, 'r'))
    events |= POLLIN;
  if (strchr(mode, 'w'))
    events |= POLLOUT;
  luaL_argcheck(L, fd >= 0 && events, 1, "a descriptor and a mode of \"r\", \"w\" or \"rw\"");
  return alaris_wait_fd(L, fd, events, timeout, wait_fd_k, 0);
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, alaris_now());
  return 1;
}

static int l_interrupted(lua_State *L) {
  lua_pushboolean(L, alaris_interrupted());
  return 1;
}

/* alaris.shield_interrupts(): from now on a signal does not stop the calling task in the middle of its Lua code;
 * it gets "interrupted" at its next wait instead (and alaris.interrupted() turns true at once). The runner uses it so
 * that an interrupt always reaches it where it can roll back. */
static int l_shield_interrupts(lua_State *L) {
  alaris_task *t = alaris_current_task(L);
  if (!t)
    return luaL_error(L, "not inside an alaris task");
  t->shielded = 1;
  return 0;
}

static int l_secret(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  alaris_secret_add(L, s, len);
  lua_settop(L, 1);
  return 1;
}

static int l_mask(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  alaris_mask_push(L, s, len, NULL);
  return 1;
}

static int l_is_secret(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_pushboolean(L, alaris_secret_in(L, s, len));
  return 1;
}

/* --- notifiers: one task waits until another says something happened ------------------------------------------ */

#define NOTIFIER_TYPE "alaris.notifier"

typedef struct notifier {
  alaris_task *waiter; /* valid until it is resumed */
  int pending;         /* notified while nobody waited: the next wait returns at once */
} notifier;

/* alaris.notifier() -> n, with n:wait([timeout]) -> true | nil, err (err.code "timeout") and n:notify() */
static int l_notifier(lua_State *L) {
  notifier *n = lua_newuserdatauv(L, sizeof *n, 0);
  n->waiter = NULL;
  n->pending = 0;
  luaL_setmetatable(L, NOTIFIER_TYPE);
  return 1;
}

static int notifier_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  notifier *n = luaL_checkudata(L, 1, NOTIFIER_TYPE);
  n->waiter = NULL;
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (reason == ALARIS_TIMEOUT && !n->pending)
    return alaris_fail(L, "timeout", "notifier: not notified in time");
  n->pending = 0;
  lua_pushboolean(L, 1);
  return 1;
}

static int notifier_wait(lua_State *L) {
  notifier *n = luaL_checkudata(L, 1, NOTIFIER_TYPE);
  double timeout = luaL_optnumber(L, 2, -1);
  if (n->pending) {
    n->pending = 0;
    lua_pushboolean(L, 1);
    return 1;
  }
  if (n->waiter)
    return luaL_error(L, "another task is already waiting on this notifier");
  n->waiter = alaris_current_task(L);
  lua_settop(L, 1);
  return alaris_suspend(L, timeout, notifier_wait_k, 0);
}

static int notifier_notify(lua_State *L) {
  notifier *n = luaL_checkudata(L, 1, NOTIFIER_TYPE);
  n->pending = 1;
  if (n->waiter) {
    alaris_task_wake(n->waiter);
    n->waiter = NULL;
  }
  return 0;
}

/* Wall-clock time in seconds since the epoch, with a fraction (journals and reports stamp it). */
static int l_time(lua_State *L) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  lua_pushnumber(L, (double)tv.tv_sec + (double)tv.tv_usec / 1e6);
  return 1;
}

static int l_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* alaris.regex_match(re, s) -> boolean | nil, err: POSIX extended regular expressions, as users of grep -E expect
 * (Lua patterns have no {m,n}). */
static int l_regex_match(lua_State *L) {
  const char *re = luaL_checkstring(L, 1);
  const char *s = luaL_checkstring(L, 2);
  regex_t compiled;
  int rc = regcomp(&compiled, re, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char msg[256];
    regerror(rc, &compiled, msg, sizeof msg);
    regfree(&compiled);
    lua_pushnil(L);
    lua_pushfstring(L, "invalid regular expression %s: %s", re, msg);
    return 2;
  }
  rc = regexec(&compiled, s, 0, NULL, 0);
  regfree(&compiled);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int task_done(lua_State *L) {
  lua_pushboolean(L, check_task(L, 1)->state == TASK_DONE);
  return 1;
}

static int task_tostring(lua_State *L) {
  alaris_task *t = check_task(L, 1);
  static const char *const states[] = {"runnable", "running", "waiting", "waiting", "waiting", "done"};
  lua_pushfstring(L, "alaris.task %d (%s)", t->id, states[t->state]);
  return 1;
}

static const luaL_Reg task_methods[] = {
    {"wait", l_wait},
    {"cancel", l_cancel},
    {"done", task_done},
    {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"spawn", l_spawn},
    {"error", alaris_error_new},
    {"is_error", alaris_error_is},
    {"notifier", l_notifier},
    {"wait", l_wait},
    {"cancel", l_cancel},
    {"sleep", l_sleep},
    {"yield", l_yield},
    {"wait_fd", l_wait_fd},
    {"now", l_now},
    {"time", l_time},
    {"isatty", l_isatty},
    {"regex_match", l_regex_match},
    {"interrupted", l_interrupted},
    {"shield_interrupts", l_shield_interrupts},
    {"secret", l_secret},
    {"mask", l_mask},
    {"is_secret", l_is_secret},
    {NULL, NULL},
};

int luaopen_alaris(lua_State *L) {
  if (luaL_newmetatable(L, ALARIS_TASK_TYPE)) {
    luaL_newlib(L, task_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, task_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, NOTIFIER_TYPE)) {
    static const luaL_Reg notifier_methods[] = {{"wait", notifier_wait}, {"notify", notifier_notify}, {NULL, NULL}};
    luaL_newlib(L, notifier_methods);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  lua_pushliteral(L, ALARIS_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
