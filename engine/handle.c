/* Handle classes (see handle.h): the close/__close/__gc/closed/__tostring every binding's handle needs, written
 * once. The class descriptor is a static C struct, reached from the methods as a light userdata upvalue. */
#include "handle.h"

#include <string.h>

static const alaris_handle_class *class_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

static int handle_close(lua_State *L) {
  const alaris_handle_class *cls = class_of(L);
  void *ud = luaL_checkudata(L, 1, cls->name);
  if (!cls->is_closed(ud))
    cls->release(L, ud);
  lua_pushboolean(L, 1);
  return 1;
}

static int handle_closed(lua_State *L) {
  const alaris_handle_class *cls = class_of(L);
  lua_pushboolean(L, cls->is_closed(luaL_checkudata(L, 1, cls->name)));
  return 1;
}

static int handle_tostring(lua_State *L) {
  const alaris_handle_class *cls = class_of(L);
  void *ud = luaL_checkudata(L, 1, cls->name);
  if (cls->is_closed(ud))
    lua_pushfstring(L, "%s (closed)", cls->name);
  else
    lua_pushfstring(L, "%s (%p)", cls->name, ud);
  return 1;
}

static void set_method(lua_State *L, const alaris_handle_class *cls, lua_CFunction fn, const char *name) {
  lua_pushlightuserdata(L, (void *)cls);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
}

void alaris_handle_register(lua_State *L, const alaris_handle_class *cls) {
  if (!luaL_newmetatable(L, cls->name)) {
    lua_pop(L, 1);
    return;
  }
  lua_newtable(L);
  if (cls->methods)
    luaL_setfuncs(L, cls->methods, 0);
  set_method(L, cls, handle_close, "close");
  set_method(L, cls, handle_closed, "closed");
  lua_setfield(L, -2, "__index");
  set_method(L, cls, handle_close, "__close");
  set_method(L, cls, handle_close, "__gc");
  set_method(L, cls, handle_tostring, "__tostring");
  lua_pop(L, 1);
}

void *alaris_handle_new(lua_State *L, const alaris_handle_class *cls, size_t size) {
  void *ud = lua_newuserdatauv(L, size, 0);
  memset(ud, 0, size);
  luaL_setmetatable(L, cls->name);
  return ud;
}

void *alaris_handle_check(lua_State *L, int arg, const alaris_handle_class *cls) {
  void *ud = luaL_checkudata(L, arg, cls->name);
  if (cls->is_closed(ud))
    luaL_error(L, "attempt to use a closed %s", cls->what);
  return ud;
}
