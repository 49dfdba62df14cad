/* The Lua host: a state with the standard libraries, the built-in modules in package.preload, and package.path
 * reaching the stdlib that sits beside the executable (build tree or install tree), so no environment is needed. */
#include "host.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char stdlib_dir[PATH_MAX];

const char *alaris_host_stdlib_dir(void) {
  return stdlib_dir;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Installed: PREFIX/bin/alaris-run with PREFIX/share/alaris/lua. Source tree: BUILD_DIR/alaris-run with stdlib/ beside
 * BUILD_DIR. */
static int find_stdlib(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return 0;
  *slash = '\0';
  static const char *const candidates[] = {"/../share/alaris/lua", "/../stdlib"};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", exe, candidates[i]);
    char *real = realpath(path, stdlib_dir);
    if (real && is_dir(stdlib_dir))
      return 1;
  }
#ifdef ALARIS_SOURCE_STDLIB /* a build folder outside the source tree */
  if (realpath(ALARIS_SOURCE_STDLIB, stdlib_dir) && is_dir(stdlib_dir))
    return 1;
#endif
  return 0;
}

int alaris_host_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL && !lua_isnoneornil(L, 1))
    return 1; /* an error object: keep it as it is */
  luaL_traceback(L, L, msg ? msg : "(no error message)", 1);
  return 1;
}

static void preload(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_alaris);
  lua_setfield(L, -2, "alaris");
  for (const alaris_module *m = alaris_builtin_modules; m->name; m++) {
    lua_pushcfunction(L, m->open);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
}

static void set_path(lua_State *L) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", stdlib_dir, stdlib_dir);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

lua_State *alaris_host_new(const char *argv0) {
  if (!find_stdlib()) {
    fprintf(stderr, "%s: cannot find the alaris Lua library next to the executable\n", argv0);
    return NULL;
  }
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create a Lua state (out of memory)\n", argv0);
    return NULL;
  }
  *(void **)lua_getextraspace(L) = NULL; /* threads copy it: only tasks set it (see loop.h) */
  luaL_openlibs(L);
  preload(L);
  set_path(L);
  return L;
}
