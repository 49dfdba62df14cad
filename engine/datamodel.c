/* Lua values as documents: the null sentinel, the array mark, table shape, sorted keys, the cycle guard and float
 * text shared by alaris.json and alaris.yaml (see datamodel.h). The registry names are the ones alaris.json first
 * gave them; the values' __name stays json.null and json.array, which is how users know them. */
#include "datamodel.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NULL_KEY "alaris.json.null"
#define ARRAY_MT "alaris.json.array"

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "null");
  return 1;
}

static void create_null(lua_State *L) {
  lua_newuserdatauv(L, 0, 0);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "json.null");
  lua_setfield(L, -2, "__name");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, NULL_KEY);
}

void alaris_push_null(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, NULL_KEY) == LUA_TNIL) {
    lua_pop(L, 1);
    create_null(L);
  }
}

int alaris_is_null(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  alaris_push_null(L);
  int same = lua_rawequal(L, -1, idx);
  lua_pop(L, 1);
  return same;
}

void alaris_mark_array(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (luaL_newmetatable(L, ARRAY_MT)) {
    lua_pushliteral(L, "json.array");
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, idx);
}

int alaris_is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx))
    return 0;
  luaL_getmetatable(L, ARRAY_MT);
  int marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

lua_Integer alaris_table_shape(lua_State *L, int idx, const char *format, lua_Integer *nstrings) {
  *nstrings = 0;
  if (alaris_is_marked_array(L, idx))
    return (lua_Integer)lua_rawlen(L, idx);
  idx = lua_absindex(L, idx);
  lua_Integer ints = 0, max = 0, strings = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      strings++;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      ints++;
      if (lua_tointeger(L, -1) > max)
        max = lua_tointeger(L, -1);
    } else {
      luaL_error(L, "cannot encode a table key of type %s as %s (keys are strings or 1..n)", luaL_typename(L, -1),
                 format);
    }
  }
  if (ints && strings)
    luaL_error(L, "cannot encode a table with mixed keys (integers and strings) as %s", format);
  if (ints && max != ints)
    luaL_error(L, "cannot encode a sparse array as %s (%I values, highest index %I); use json.null for holes", format,
               ints, max);
  *nstrings = strings;
  return ints ? ints : -1; /* an unmarked empty table is a map */
}

static int compare_keys(const void *a, const void *b) {
  const alaris_key *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

const alaris_key *alaris_sorted_keys(lua_State *L, int idx, lua_Integer count) {
  idx = lua_absindex(L, idx);
  alaris_key *keys = lua_newuserdatauv(L, sizeof(alaris_key) * (size_t)count, 0); /* freed by the GC, even on error */
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    keys[n].s = lua_tolstring(L, -1, &keys[n].len); /* stays valid: the table holds the key */
    n++;
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  return keys;
}

void alaris_enter_table(lua_State *L, int idx, int seen, int depth, const char *format) {
  idx = lua_absindex(L, idx);
  seen = lua_absindex(L, seen);
  if (depth >= ALARIS_MAX_NESTING)
    luaL_error(L, "cannot encode %s nested deeper than %d levels", format, ALARIS_MAX_NESTING);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, seen) != LUA_TNIL)
    luaL_error(L, "cannot encode a table that contains itself (a cycle) as %s", format);
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, seen);
}

void alaris_leave_table(lua_State *L, int idx, int seen) {
  idx = lua_absindex(L, idx);
  seen = lua_absindex(L, seen);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, seen);
}

void alaris_format_double(char *text, size_t size, double v) {
  for (int precision = 15; precision <= 17; precision++) {
    snprintf(text, size, "%.*g", precision, v);
    if (strtod(text, NULL) == v)
      break;
  }
}
