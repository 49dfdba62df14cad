/* The error value shared by the core, the bindings and the stdlib: a table {code, message, ...} with the metatable
 * "alaris.error" (one registry entry, so separately loaded bindings share it). tostring gives one line. */
#include "errors.h"

#include <lauxlib.h>
#include <stdarg.h>

static const char ERROR_TYPE[] = "alaris.error";

/* The message on one line (a server's multi-line text must not break logs and journals), else the code. */
static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, 1, "code");
  }
  if (!lua_isstring(L, -1)) {
    lua_pushliteral(L, "error");
    return 1;
  }
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  int space = 0;
  for (size_t i = 0; i < len; i++) {
    int blank = s[i] == '\n' || s[i] == '\r';
    if (blank && !space)
      luaL_addchar(&b, ' ');
    else if (!blank)
      luaL_addchar(&b, s[i]);
    space = blank;
  }
  luaL_pushresult(&b);
  return 1;
}

static void set_error_metatable(lua_State *L) {
  if (luaL_newmetatable(L, ERROR_TYPE)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}

static void push_error(lua_State *L, const char *code, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  set_error_metatable(L);
}

void alaris_error_push(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_error(L, code, fmt, ap);
  va_end(ap);
}

int alaris_fail(lua_State *L, const char *code, const char *fmt, ...) {
  va_list ap;
  lua_pushnil(L);
  va_start(ap, fmt);
  push_error(L, code, fmt, ap);
  va_end(ap);
  return 2;
}

/* alaris.error(code, message [, fields]) -> err: the fields are copied first, so code and message always win. */
int alaris_error_new(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  lua_createtable(L, 0, 4);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -4);
    }
  }
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "code");
  luaL_tolstring(L, 2, NULL);
  lua_setfield(L, -2, "message");
  set_error_metatable(L);
  return 1;
}

/* alaris.is_error(v) -> true when v is an error value made by alaris.error or a binding */
int alaris_error_is(lua_State *L) {
  int is = lua_getmetatable(L, 1);
  if (is) {
    luaL_getmetatable(L, ERROR_TYPE);
    is = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, is);
  return 1;
}
