/* alaris-run: creates the Lua host and runs the command line (stdlib/alaris/cli.lua) as the root task of the event
 * loop. Everything about options, playbooks and exit codes is decided in Lua; this file only starts and ends. */
#include "host.h"
#include "secrets.h"
#include "task.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static int exit_code_of(lua_State *L, int task_index, alaris_task *root) {
  if (root->ok) {
    lua_getiuservalue(L, task_index, ALARIS_TASK_RESULTS);
    lua_rawgeti(L, -1, 1);
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 2);
    return code;
  }
  lua_getiuservalue(L, task_index, ALARIS_TASK_ERROR);
  const char *msg = luaL_tolstring(L, -1, NULL);
  if (alaris_interrupted() && strstr(msg, "interrupted")) {
    fputs("alaris-run: interrupted\n", stderr);
    return 130;
  }
  lua_getiuservalue(L, task_index, ALARIS_TASK_TRACEBACK);
  size_t len;
  const char *tb = lua_tolstring(L, -1, &len);
  const char *shown = alaris_mask_push(L, tb && len ? tb : msg, tb && len ? len : strlen(msg), NULL);
  fprintf(stderr, "alaris-run: %s\n", shown);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = alaris_host_new(argv[0]);
  if (!L)
    return 2;
  lua_pushcfunction(L, alaris_host_traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "alaris.cli");
  if (lua_pcall(L, 1, 1, handler) != LUA_OK) { /* a broken install: say where, with the traceback */
    fprintf(stderr, "alaris-run: cannot load the command line (alaris.cli): %s\n", luaL_tolstring(L, -1, NULL));
    lua_close(L);
    return 2;
  }
  lua_remove(L, handler);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  alaris_task *root = alaris_task_new(L, 1);
  int task_index = lua_gettop(L);
  alaris_loop_run(L, root);
  int code = exit_code_of(L, task_index, root);
  fflush(stdout);
  lua_close(L);
  return code;
}
