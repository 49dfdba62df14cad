/* The Lua host: a state with the standard libraries, the built-in modules in package.preload, a searcher loading
 * the other bindings from lib/alaris/ when first required, and package.path reaching the stdlib; both folders sit
 * beside the executable (build tree or install tree), so no environment is needed. */
#include "host.h"

#include <dlfcn.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char stdlib_dir[PATH_MAX];
static char module_dir[PATH_MAX]; /* empty when not found: loading a binding then says so */

const char *alaris_host_stdlib_dir(void) {
  return stdlib_dir;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The first of exe_dir + candidates[i] that is a folder, resolved into found[PATH_MAX]. */
static int find_beside(const char *exe_dir, const char *const *candidates, size_t count, char *found) {
  for (size_t i = 0; i < count; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s", exe_dir, candidates[i]);
    if (realpath(path, found) && is_dir(found))
      return 1;
  }
  found[0] = '\0';
  return 0;
}

/* Installed: PREFIX/bin/alaris-run with PREFIX/share/alaris/lua and PREFIX/lib/alaris. Source tree:
 * BUILD_DIR/alaris-run with BUILD_DIR/lib/alaris and stdlib/ beside BUILD_DIR. */
static int find_folders(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return 0;
  *slash = '\0';
  static const char *const modules[] = {"/../lib/alaris", "/lib/alaris"};
  find_beside(exe, modules, sizeof modules / sizeof *modules, module_dir);
  static const char *const stdlibs[] = {"/../share/alaris/lua", "/../stdlib"};
  if (find_beside(exe, stdlibs, sizeof stdlibs / sizeof *stdlibs, stdlib_dir))
    return 1;
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
    if (m->open) {
      lua_pushcfunction(L, m->open);
      lua_setfield(L, -2, m->name);
    }
  }
  lua_pop(L, 1);
}

/* A package.searchers entry for the bindings not built in: dlopen lib/alaris/FILE.so (kept loaded until exit) and
 * return its luaopen function with the path. Other names get the reason they are not a binding. */
static int search_binding(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const alaris_module *m = alaris_builtin_modules;
  while (m->name && (m->open || strcmp(m->name, name) != 0))
    m++;
  if (!m->name) {
    lua_pushfstring(L, "no alaris binding '%s'", name);
    return 1;
  }
  if (!module_dir[0])
    return luaL_error(L, "cannot load module '%s': no lib/alaris folder beside alaris-run", name);
  const char *path = lua_pushfstring(L, "%s/%s.so", module_dir, m->file);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return luaL_error(L, "cannot load module '%s': %s", name, dlerror());
  lua_CFunction open = (lua_CFunction)dlsym(lib, m->symbol);
  if (!open)
    return luaL_error(L, "cannot load module '%s': %s has no %s", name, path, m->symbol);
  lua_pushcfunction(L, open);
  lua_insert(L, -2);
  return 2;
}

/* Right after package.preload, so a binding is never looked for as a Lua file first. */
static void add_searcher(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_binding);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
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
  if (!find_folders()) {
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
  add_searcher(L);
  set_path(L);
  return L;
}
