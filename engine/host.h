/* The Lua host: creates the state, registers the built-in modules, finds the Lua stdlib, and calls into Lua with
 * a traceback handler. It knows nothing of playbooks: that policy lives in stdlib/alaris/cli.lua. */
#ifndef ALARIS_HOST_H
#define ALARIS_HOST_H

#include <lua.h>

typedef struct alaris_module {
  const char *name;
  lua_CFunction open;
} alaris_module;

/* Generated from bindings/ (see CMakeLists.txt). */
extern const alaris_module alaris_builtin_modules[];

/* A new state with the standard libraries, the alaris modules preloaded and package.path reaching the stdlib
 * folder found next to the executable. Returns NULL (with a message on stderr) when the stdlib cannot be found. */
lua_State *alaris_host_new(const char *argv0);

/* The folder holding the Lua stdlib (…/stdlib or …/share/alaris/lua). */
const char *alaris_host_stdlib_dir(void);

/* Message handler for lua_pcall: appends a traceback to string errors, leaves error tables alone. */
int alaris_host_traceback(lua_State *L);

int luaopen_alaris(lua_State *L); /* engine/alaris.c: the core module (loop, time, secrets) */

#endif
