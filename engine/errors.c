/* Structured error values shared by the bindings: a table {code, message, ...} whose tostring is its message. */
#include "errors.h"

#include <lauxlib.h>
#include <stdarg.h>

static const char ERROR_TYPE[] = "alaris.error";

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, 1, "code");
  }
  if (!lua_isstring(L, -1))
    lua_pushliteral(L, "error");
  return 1;
}

static void push_error(lua_State *L, const char *code, const char *fmt, va_list ap) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushvfstring(L, fmt, ap);
  lua_setfield(L, -2, "message");
  if (luaL_newmetatable(L, ERROR_TYPE)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
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
