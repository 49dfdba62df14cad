/* The Lua host: creates the state, registers the built-in modules, finds the Lua stdlib, and calls into Lua with
 * a traceback handler. It knows nothing of playbooks: that policy lives in stdlib/alaris/cli.lua. */
#ifndef ALARIS_HOST_H
#define ALARIS_HOST_H

#include <lua.h>

typedef struct alaris_module {
  const char *name;   /* alaris.pg.core */
  const char *file;   /* the binding's file name: pg (bindings/pg.c, lib/alaris/pg.so) */
  const char *symbol; /* luaopen_alaris_pg_core */
  lua_CFunction open; /* built in (preloaded), or NULL: loaded from lib/alaris/FILE.so when first required */
} alaris_module;

/* Generated from bindings/ (see CMakeLists.txt), ended by a NULL name. */
extern const alaris_module alaris_builtin_modules[];

/* A new state with the standard libraries, the built-in alaris modules preloaded, the others found by a searcher in
 * the lib/alaris folder next to the executable, and package.path reaching the stdlib folder found there too.
 * Returns NULL (with a message on stderr) when the stdlib cannot be found. */
lua_State *alaris_host_new(const char *argv0);

/* The folder holding the Lua stdlib (…/stdlib or …/share/alaris/lua). */
const char *alaris_host_stdlib_dir(void);

/* Message handler for lua_pcall: appends a traceback to string errors, leaves error tables alone. */
int alaris_host_traceback(lua_State *L);

int luaopen_alaris(lua_State *L); /* engine/alaris.c: the core module (loop, time, secrets) */

#endif
