/* The Lua side of the fuzz targets: one host state per process (inputs reuse it, as a long alaris-run does), the
 * checkers' helpers, and the protected call that turns a raised error into an abort libFuzzer records. */
#include "fuzz_lua.h"

#include "host.h"
#include "task.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static const char HELPERS[] =
    "local fuzz = {}\n"
    "function fuzz.finding(fmt, ...)\n"
    "  error('finding: ' .. string.format(fmt, ...), 2)\n"
    "end\n"
    "function fuzz.check_error(err, code, what)\n"
    "  local shaped = type(err) == 'table' and type(err.code) == 'string' and type(err.message) == 'string'\n"
    "  if not shaped then\n"
    "    fuzz.finding('%s: the failure is not an alaris error value: %s', what, tostring(err))\n"
    "  end\n"
    "  if code and err.code ~= code then\n"
    "    fuzz.finding('%s: error code %q, expected %q (%s)', what, err.code, code, err.message)\n"
    "  end\n"
    "end\n"
    "return fuzz\n";

static lua_State *state;
static int checker_ref = LUA_NOREF;

static void die(lua_State *L, const char *what) {
  fprintf(stderr, "fuzz: %s: %s\n", what, luaL_tolstring(L, -1, NULL));
  abort();
}

lua_State *fuzz_lua_state(void) {
  if (state)
    return state;
  state = alaris_host_new("fuzz");
  if (!state)
    abort();
  if (luaL_loadbuffer(state, HELPERS, sizeof HELPERS - 1, "=fuzz") != LUA_OK || lua_pcall(state, 0, 1, 0) != LUA_OK)
    die(state, "the helpers");
  lua_setglobal(state, "fuzz");
  return state;
}

/* Pushes the checker function, compiling the chunk on first use. */
static void push_checker(lua_State *L, const char *checker) {
  if (checker_ref == LUA_NOREF) {
    if (luaL_loadstring(L, checker) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
      die(L, "the checker");
    if (!lua_isfunction(L, -1))
      die(L, "the checker did not return a function");
    checker_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, checker_ref);
}

void fuzz_lua_check(const char *checker, const uint8_t *data, size_t size) {
  lua_State *L = fuzz_lua_state();
  lua_pushcfunction(L, alaris_host_traceback);
  push_checker(L, checker);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 0, -3) != LUA_OK)
    die(L, "finding");
  lua_settop(L, 0);
}

void fuzz_lua_check_in_task(const char *checker, const uint8_t *data, size_t size) {
  lua_State *L = fuzz_lua_state();
  push_checker(L, checker);
  lua_pushlstring(L, (const char *)data, size);
  alaris_task *root = alaris_task_new(L, 1);
  int task_index = lua_gettop(L);
  struct sigaction on_int, on_term;
  sigaction(SIGINT, NULL, &on_int);
  sigaction(SIGTERM, NULL, &on_term);
  alaris_loop_run(L, root);
  sigaction(SIGINT, &on_int, NULL);
  sigaction(SIGTERM, &on_term, NULL);
  if (!root->ok) {
    lua_getiuservalue(L, task_index, ALARIS_TASK_TRACEBACK);
    die(L, "finding");
  }
  lua_settop(L, 0);
}
