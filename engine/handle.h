/* Handle classes: the metatable of a full userdata that owns a resource (a socket, a child process, a connection).
 * One idempotent close serves `close`, `__close` and `__gc` and returns true; `closed()` says whether it ran;
 * `__tostring` shows "NAME (closed)" once closed; using a closed handle raises "attempt to use a closed WHAT".
 * The userdata is created closed (alaris_handle_new zeroes it), before its resource is acquired, so an error in
 * between can never leak the resource. */
#ifndef ALARIS_HANDLE_H
#define ALARIS_HANDLE_H

#include <lauxlib.h>
#include <lua.h>

typedef struct alaris_handle_class {
  const char *name;                        /* the metatable's registry name: "alaris.socket" */
  const char *what;                        /* for messages: "socket" */
  const luaL_Reg *methods;                 /* besides close and closed; may be NULL */
  int (*is_closed)(const void *ud);        /* true once release ran (or before the resource was acquired) */
  void (*release)(lua_State *L, void *ud); /* frees the resource; called only while open */
} alaris_handle_class;

/* Registers the class's metatable (once per state). */
void alaris_handle_register(lua_State *L, const alaris_handle_class *cls);

/* Pushes a new zeroed userdata of `size` bytes with the class's metatable; the caller sets its closed state. */
void *alaris_handle_new(lua_State *L, const alaris_handle_class *cls, size_t size);

/* The open handle at `arg`, or raises (wrong type: an argument error; closed: "attempt to use a closed WHAT"). */
void *alaris_handle_check(lua_State *L, int arg, const alaris_handle_class *cls);

#endif
