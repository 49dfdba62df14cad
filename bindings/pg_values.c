/* alaris.pg.core's values: PostgreSQL's text format to Lua and back. Result values are decoded by type OID (integers,
 * floats, booleans, bytea, one-dimensional arrays; anything else stays text), a result becomes a table of rows, and
 * Lua parameters become the text (or, for raw bytes, binary) libpq sends. It also owns the pg.null sentinel.
 * It does not talk to the server, nor decode errors (pg_errors.c). */
#include "pg.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NULL_TYPE "alaris.pg.null"

static const char NULL_KEY = 'n'; /* registry key of the pg.null sentinel */

/* --- types ---------------------------------------------------------------------------------------------------- */

enum kind { KIND_TEXT, KIND_INT, KIND_FLOAT, KIND_BOOL, KIND_BYTEA, KIND_ARRAY };

typedef struct pg_type {
  Oid oid;
  const char *name;
  enum kind kind;
  Oid element; /* arrays: the element type */
} pg_type;

static const pg_type TYPES[] = {
    {16, "bool", KIND_BOOL, 0},
    {17, "bytea", KIND_BYTEA, 0},
    {18, "char", KIND_TEXT, 0},
    {19, "name", KIND_TEXT, 0},
    {20, "int8", KIND_INT, 0},
    {21, "int2", KIND_INT, 0},
    {23, "int4", KIND_INT, 0},
    {25, "text", KIND_TEXT, 0},
    {26, "oid", KIND_INT, 0},
    {114, "json", KIND_TEXT, 0},
    {142, "xml", KIND_TEXT, 0},
    {700, "float4", KIND_FLOAT, 0},
    {701, "float8", KIND_FLOAT, 0},
    {705, "unknown", KIND_TEXT, 0},
    {790, "money", KIND_TEXT, 0},
    {869, "inet", KIND_TEXT, 0},
    {650, "cidr", KIND_TEXT, 0},
    {1042, "bpchar", KIND_TEXT, 0},
    {1043, "varchar", KIND_TEXT, 0},
    {1082, "date", KIND_TEXT, 0},
    {1083, "time", KIND_TEXT, 0},
    {1114, "timestamp", KIND_TEXT, 0},
    {1184, "timestamptz", KIND_TEXT, 0},
    {1186, "interval", KIND_TEXT, 0},
    {1266, "timetz", KIND_TEXT, 0},
    {1700, "numeric", KIND_TEXT, 0},
    {2278, "void", KIND_TEXT, 0},
    {2950, "uuid", KIND_TEXT, 0},
    {3220, "pg_lsn", KIND_TEXT, 0},
    {3802, "jsonb", KIND_TEXT, 0},
    {1000, "bool[]", KIND_ARRAY, 16},
    {1001, "bytea[]", KIND_ARRAY, 17},
    {1002, "char[]", KIND_ARRAY, 18},
    {1003, "name[]", KIND_ARRAY, 19},
    {1016, "int8[]", KIND_ARRAY, 20},
    {1005, "int2[]", KIND_ARRAY, 21},
    {1007, "int4[]", KIND_ARRAY, 23},
    {1009, "text[]", KIND_ARRAY, 25},
    {1028, "oid[]", KIND_ARRAY, 26},
    {199, "json[]", KIND_ARRAY, 114},
    {1021, "float4[]", KIND_ARRAY, 700},
    {1022, "float8[]", KIND_ARRAY, 701},
    {1014, "bpchar[]", KIND_ARRAY, 1042},
    {1015, "varchar[]", KIND_ARRAY, 1043},
    {1182, "date[]", KIND_ARRAY, 1082},
    {1183, "time[]", KIND_ARRAY, 1083},
    {1115, "timestamp[]", KIND_ARRAY, 1114},
    {1185, "timestamptz[]", KIND_ARRAY, 1184},
    {1187, "interval[]", KIND_ARRAY, 1186},
    {1270, "timetz[]", KIND_ARRAY, 1266},
    {1231, "numeric[]", KIND_ARRAY, 1700},
    {2951, "uuid[]", KIND_ARRAY, 2950},
    {3807, "jsonb[]", KIND_ARRAY, 3802},
};

static const pg_type UNKNOWN_TYPE = {0, NULL, KIND_TEXT, 0};

static const pg_type *type_of(Oid oid) {
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
    if (TYPES[i].oid == oid)
      return &TYPES[i];
  return &UNKNOWN_TYPE;
}

/* Parameter types whose binary input is their raw bytes: a string holding NUL or `\` is sent to them in binary
 * format, so bytea gets exactly those bytes and text types reject a NUL themselves. */
static int takes_raw_bytes(Oid oid) {
  return oid == 17 || oid == 25 || oid == 1043 || oid == 1042 || oid == 19 || oid == 705 || oid == 18;
}

/* --- decoding values ------------------------------------------------------------------------------------------ */

void pg_push_null(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* bytea's text output: `\x` + hex (the default), or the old escape format (`\\`, `\ooo`). */
static void push_bytea(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
    for (size_t i = 2; i + 1 < len; i += 2)
      luaL_addchar(&b, (char)(hex_digit(s[i]) * 16 + hex_digit(s[i + 1])));
  } else {
    for (size_t i = 0; i < len; i++) {
      if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\\') {
        luaL_addchar(&b, '\\');
        i++;
      } else if (s[i] == '\\' && i + 3 < len) {
        luaL_addchar(&b, (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
      } else {
        luaL_addchar(&b, s[i]);
      }
    }
  }
  luaL_pushresult(&b);
}

static void push_scalar(lua_State *L, const char *s, size_t len, enum kind kind) {
  switch (kind) {
  case KIND_INT:
    lua_pushinteger(L, (lua_Integer)strtoll(s, NULL, 10));
    break;
  case KIND_FLOAT:
    lua_pushnumber(L, strtod(s, NULL));
    break;
  case KIND_BOOL:
    lua_pushboolean(L, s[0] == 't');
    break;
  case KIND_BYTEA:
    push_bytea(L, s, len);
    break;
  default:
    lua_pushlstring(L, s, len);
  }
}

/* One element of an array's text form at *p: quoted (backslash escapes), NULL, or bare up to `,` or `}`. */
static void push_array_element(lua_State *L, const char **p, const char *end, enum kind kind) {
  const char *s = *p;
  if (*s == '"') {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (s++; s < end && *s != '"'; s++) {
      if (*s == '\\' && s + 1 < end)
        s++;
      luaL_addchar(&b, *s);
    }
    *p = s < end ? s + 1 : s;
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    push_scalar(L, text, len, kind);
    lua_remove(L, -2);
    return;
  }
  const char *start = s;
  while (s < end && *s != ',' && *s != '}')
    s++;
  *p = s;
  if (s - start == 4 && strncasecmp(start, "NULL", 4) == 0)
    pg_push_null(L);
  else
    push_scalar(L, start, (size_t)(s - start), kind);
}

/* A one-dimensional array's text form ({a,"b c",NULL}, maybe after [lo:hi]=) as a Lua array; returns 0 and
 * pushes nothing for anything else (multi-dimensional arrays stay text). */
static int push_array(lua_State *L, const char *s, size_t len, enum kind kind) {
  const char *p = s, *end = s + len;
  if (*p == '[') {
    p = memchr(p, '=', len);
    if (!p || memchr(s + 1, '[', (size_t)(p - s - 1)))
      return 0;
    p++;
  }
  if (p >= end || *p != '{' || (p + 1 < end && p[1] == '{'))
    return 0;
  p++;
  lua_newtable(L);
  lua_Integer n = 0;
  while (p < end && *p != '}') {
    push_array_element(L, &p, end, kind);
    lua_rawseti(L, -2, ++n);
    if (p < end && *p == ',')
      p++;
  }
  return 1;
}

static void push_value(lua_State *L, const PGresult *r, int row, int col, const pg_type *type) {
  if (PQgetisnull(r, row, col)) {
    pg_push_null(L);
    return;
  }
  const char *s = PQgetvalue(r, row, col);
  size_t len = (size_t)PQgetlength(r, row, col);
  if (type->kind == KIND_ARRAY) {
    if (!push_array(L, s, len, type_of(type->element)->kind))
      lua_pushlstring(L, s, len);
    return;
  }
  push_scalar(L, s, len, type->kind);
}

/* --- results -------------------------------------------------------------------------------------------------- */

/* res.fields: {name = ..., type = "int4" (nil for types this module does not know), oid = 23} per column. */
static void push_fields(lua_State *L, const PGresult *r, int ncols) {
  lua_createtable(L, ncols, 0);
  for (int c = 0; c < ncols; c++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, PQfname(r, c));
    lua_setfield(L, -2, "name");
    const pg_type *t = type_of(PQftype(r, c));
    lua_pushstring(L, t->name);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)PQftype(r, c));
    lua_setfield(L, -2, "oid");
    lua_rawseti(L, -2, c + 1);
  }
}

static void push_rows(lua_State *L, const PGresult *r, int nrows, int ncols, int res) {
  const pg_type **types = lua_newuserdatauv(L, sizeof *types * (size_t)(ncols ? ncols : 1), 0);
  lua_createtable(L, ncols, 0); /* column names, pushed once */
  int names = lua_gettop(L);
  for (int c = 0; c < ncols; c++) {
    types[c] = type_of(PQftype(r, c));
    lua_pushstring(L, PQfname(r, c));
    lua_rawseti(L, names, c + 1);
  }
  for (int row = 0; row < nrows; row++) {
    lua_createtable(L, 0, ncols);
    for (int c = 0; c < ncols; c++) {
      lua_rawgeti(L, names, c + 1);
      push_value(L, r, row, c, types[c]);
      lua_rawset(L, -3);
    }
    lua_rawseti(L, res, row + 1);
  }
  lua_pop(L, 2);
}

/* {rows..., fields = {...}, command = "SELECT 2", count = 2}; count is the rows affected or returned. */
void pg_push_result(lua_State *L, const PGresult *r) {
  int nrows = PQntuples(r), ncols = PQnfields(r);
  luaL_checkstack(L, 12, "decoding a result");
  lua_createtable(L, nrows, 3);
  int res = lua_gettop(L);
  push_rows(L, r, nrows, ncols, res);
  push_fields(L, r, ncols);
  lua_setfield(L, res, "fields");
  lua_pushstring(L, PQcmdStatus((PGresult *)r));
  lua_setfield(L, res, "command");
  const char *affected = PQcmdTuples((PGresult *)r);
  lua_pushinteger(L, affected[0] ? (lua_Integer)strtoll(affected, NULL, 10) : nrows);
  lua_setfield(L, res, "count");
}

/* --- the pg.null sentinel ------------------------------------------------------------------------------------- */

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "pg.null");
  return 1;
}

void pg_create_null(lua_State *L) {
  lua_newuserdatauv(L, 1, 0);
  luaL_newmetatable(L, NULL_TYPE);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
}

/* --- parameters ----------------------------------------------------------------------------------------------- */

static const char *null_or_text(lua_State *L, int idx, char *buf) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return NULL;
  case LUA_TBOOLEAN:
    return lua_toboolean(L, idx) ? "t" : "f";
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      snprintf(buf, 32, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    } else {
      double d = lua_tonumber(L, idx);
      if (isnan(d))
        return "NaN";
      if (isinf(d))
        return d > 0 ? "Infinity" : "-Infinity";
      for (int prec = 15; prec <= 17; prec++) { /* the shortest text that reads back as the same double */
        snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
          break;
      }
    }
    return buf;
  default:
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    int is_null = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    if (!is_null)
      luaL_argerror(L, idx, "nil, pg.null, boolean, number or string expected");
    return NULL;
  }
}

/* The parameters at stack indices first..first+n-1, in a userdata left on the stack. Numbers, booleans and plain
 * strings go as text of an unspecified type (the server infers it); see takes_raw_bytes for the rest. */
params *pg_build_params(lua_State *L, int first, int n, const PGresult *described) {
  size_t each = sizeof(char *) + 2 * sizeof(int) + 32;
  params *p = lua_newuserdatauv(L, sizeof *p + each * (size_t)n, 0);
  p->values = (const char **)(p + 1);
  p->text = (char(*)[32])(p->values + n);
  p->lengths = (int *)(p->text + n);
  p->formats = p->lengths + n;
  p->raw = 0;
  for (int i = 0; i < n; i++) {
    int idx = first + i;
    p->lengths[i] = p->formats[i] = 0;
    if (lua_type(L, idx) != LUA_TSTRING) {
      p->values[i] = null_or_text(L, idx, p->text[i]);
      continue;
    }
    size_t len;
    p->values[i] = lua_tolstring(L, idx, &len);
    p->lengths[i] = (int)len;
    int raw = memchr(p->values[i], '\0', len) || memchr(p->values[i], '\\', len);
    p->raw |= raw;
    if (raw && described && takes_raw_bytes(PQparamtype(described, i)))
      p->formats[i] = 1;
  }
  return p;
}

/* A NUL byte that would go as text (where libpq would cut the string short): the 1-based parameter, or 0. */
int pg_nul_in_text_param(lua_State *L, const params *p, int first, int n) {
  for (int i = 0; i < n; i++)
    if (lua_type(L, first + i) == LUA_TSTRING && p->formats[i] == 0 &&
        memchr(p->values[i], '\0', (size_t)p->lengths[i]))
      return i + 1;
  return 0;
}
