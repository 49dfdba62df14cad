/* alaris.json: JSON encode/decode for Lua tables, exact for 64-bit integers and byte strings.
 * Text is first checked against RFC 8259's grammar (json_syntax.c: cJSON alone is lenient), then parsed by cJSON
 * (structure); numbers and strings are then re-read from the source text, because cJSON keeps numbers as doubles
 * and strings as C strings (it would lose integers beyond 2^53 and cut "\u0000"). Encoding is done here, since cJSON's
 * printer cannot write 64-bit integers. How Lua tables stand for arrays, objects and null (json.array, json.null) is
 * the engine's data model (datamodel.h), shared with alaris.yaml. It does not stream, and does not accept JSON
 * extensions (comments, NaN, trailing commas). */
#include "json.h"
#include "bytes.h"
#include "datamodel.h"
#include "errors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TREE_TYPE "alaris.json.tree"
#define BUFFER_TYPE "alaris.json.buffer"

/* ---------- json.array (json.null and the array mark are the engine's: datamodel.h) ---------- */

/* json.array([t]): marks t (or a new table) as an array, so it encodes as [] even when empty. */
static int json_array(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (lua_getmetatable(L, 1)) {
    if (!alaris_is_marked_array(L, 1))
      luaL_argerror(L, 1, "table already has a metatable");
    lua_pop(L, 1);
  }
  alaris_mark_array(L, 1);
  return 1;
}

/* ---------- decode ---------- */

/* Walks the source text in step with cJSON's tree: the n-th string or number met in document order is the n-th
 * string or number token of the (already validated) text. */
typedef struct scanner {
  const char *s;
  size_t len, pos;
} scanner;

static size_t next_token(scanner *sc) {
  while (sc->pos < sc->len) {
    char c = sc->s[sc->pos];
    if (c == '"' || c == '-' || (c >= '0' && c <= '9'))
      return sc->pos;
    sc->pos++;
  }
  return sc->pos;
}

static int hex_value(const char *p, size_t left, unsigned *out) {
  if (left < 4)
    return 0;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

static void add_utf8(luaL_Buffer *b, unsigned cp) {
  char out[4];
  int n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  luaL_addlstring(b, out, (size_t)n);
}

/* Decodes a \uXXXX escape (p points after "\u"), joining surrogate pairs; returns the bytes consumed after "\u". */
static size_t add_unicode_escape(luaL_Buffer *b, const char *p, size_t left) {
  unsigned cp, low;
  if (!hex_value(p, left, &cp))
    return 0;
  if (cp >= 0xD800 && cp <= 0xDBFF && left >= 10 && p[4] == '\\' && p[5] == 'u' && hex_value(p + 6, left - 6, &low) &&
      low >= 0xDC00 && low <= 0xDFFF) {
    add_utf8(b, 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00));
    return 10;
  }
  add_utf8(b, cp);
  return 4;
}

static char simple_escape(char c) {
  switch (c) {
  case 'b':
    return '\b';
  case 'f':
    return '\f';
  case 'n':
    return '\n';
  case 'r':
    return '\r';
  case 't':
    return '\t';
  default:
    return c; /* '"', '\\', '/' */
  }
}

/* Pushes the string token at the scanner's position and moves past it. */
static void push_string_token(lua_State *L, scanner *sc) {
  size_t i = next_token(sc) + 1;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (i < sc->len && sc->s[i] != '"') {
    size_t run = i;
    while (i < sc->len && sc->s[i] != '"' && sc->s[i] != '\\')
      i++;
    luaL_addlstring(&b, sc->s + run, i - run);
    if (i < sc->len && sc->s[i] == '\\') {
      if (i + 1 >= sc->len)
        break;
      char c = sc->s[i + 1];
      i += 2;
      if (c == 'u')
        i += add_unicode_escape(&b, sc->s + i, sc->len - i);
      else
        luaL_addchar(&b, simple_escape(c));
    }
  }
  sc->pos = i + 1;
  luaL_pushresult(&b);
}

/* Pushes the number token at the scanner's position: an integer when written without '.', 'e' or 'E' and it fits
 * in 64 bits, else cJSON's double. */
static void push_number_token(lua_State *L, scanner *sc, double parsed) {
  size_t start = next_token(sc), end = start;
  int integral = 1;
  while (end < sc->len && strchr("0123456789+-eE.", sc->s[end]) && sc->s[end] != '\0') {
    if (sc->s[end] == '.' || sc->s[end] == 'e' || sc->s[end] == 'E')
      integral = 0;
    end++;
  }
  sc->pos = end;
  if (integral && end - start < 32) {
    char text[32];
    memcpy(text, sc->s + start, end - start);
    text[end - start] = '\0';
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == 0) {
      lua_pushinteger(L, (lua_Integer)v);
      return;
    }
  }
  lua_pushnumber(L, (lua_Number)parsed);
}

static void push_item(lua_State *L, const cJSON *item, scanner *sc, int depth);

static void push_array(lua_State *L, const cJSON *item, scanner *sc, int depth) {
  lua_newtable(L);
  lua_Integer n = 0;
  for (const cJSON *child = item->child; child; child = child->next) {
    push_item(L, child, sc, depth + 1);
    lua_rawseti(L, -2, ++n);
  }
  alaris_mark_array(L, -1);
}

static void push_object(lua_State *L, const cJSON *item, scanner *sc, int depth) {
  lua_newtable(L);
  for (const cJSON *child = item->child; child; child = child->next) {
    push_string_token(L, sc);
    push_item(L, child, sc, depth + 1);
    lua_rawset(L, -3);
  }
}

static void push_item(lua_State *L, const cJSON *item, scanner *sc, int depth) {
  luaL_checkstack(L, 4, "JSON nested too deeply");
  switch (item->type & 0xFF) {
  case cJSON_NULL:
    alaris_push_null(L);
    break;
  case cJSON_False:
    lua_pushboolean(L, 0);
    break;
  case cJSON_True:
    lua_pushboolean(L, 1);
    break;
  case cJSON_Number:
    push_number_token(L, sc, item->valuedouble);
    break;
  case cJSON_String:
    push_string_token(L, sc);
    break;
  case cJSON_Array:
    push_array(L, item, sc, depth);
    break;
  case cJSON_Object:
    push_object(L, item, sc, depth);
    break;
  default:
    luaL_error(L, "unexpected cJSON item type %d", item->type);
  }
}

/* The parsed tree lives in a userdata, so an error while building Lua values cannot leak it. */
static int tree_free(lua_State *L) {
  cJSON **tree = luaL_checkudata(L, 1, TREE_TYPE);
  cJSON_Delete(*tree);
  *tree = NULL;
  return 0;
}

static cJSON **new_tree_box(lua_State *L) {
  cJSON **tree = lua_newuserdatauv(L, sizeof *tree, 0);
  *tree = NULL;
  if (luaL_newmetatable(L, TREE_TYPE)) {
    lua_pushcfunction(L, tree_free);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return tree;
}

static int fail_at(lua_State *L, const char *s, size_t offset, const char *what) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; i++) {
    if (s[i] == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  lua_pushnil(L);
  alaris_error_push(L, "invalid_json", "invalid JSON at byte %I (line %I, column %I): %s", (lua_Integer)offset + 1,
                    (lua_Integer)line, (lua_Integer)column, what);
  lua_pushinteger(L, (lua_Integer)offset + 1);
  lua_setfield(L, -2, "position");
  lua_pushinteger(L, (lua_Integer)line);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)column);
  lua_setfield(L, -2, "column");
  return 2;
}

static size_t skip_space(const char *s, size_t len, size_t i) {
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    i++;
  return i;
}

/* json.decode(s) -> value | nil, err (err.position is the 1-based byte offset of the problem) */
static int json_decode(lua_State *L) {
  size_t len, at;
  const char *s = luaL_checklstring(L, 1, &len), *why;
  if (!json_check_syntax(s, len, &at, &why))
    return fail_at(L, s, at, why);
  cJSON **tree = new_tree_box(L);
  const char *end = NULL;
  *tree = cJSON_ParseWithLengthOpts(s, len, &end, 0);
  if (!*tree) {
    size_t at = end ? (size_t)(end - s) : 0;
    return fail_at(L, s, at > len ? len : at, "unexpected character or end of text");
  }
  size_t after = skip_space(s, len, (size_t)(end - s));
  if (after < len)
    return fail_at(L, s, after, "unexpected text after the value");
  scanner sc = {s, len, 0};
  push_item(L, *tree, &sc, 0);
  cJSON_Delete(*tree);
  *tree = NULL;
  return 1;
}

/* ---------- encode ---------- */

static int outbuf_free(lua_State *L) {
  alaris_bytes_free(luaL_checkudata(L, 1, BUFFER_TYPE));
  return 0;
}

static alaris_bytes *new_outbuf(lua_State *L) {
  alaris_bytes *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  if (luaL_newmetatable(L, BUFFER_TYPE)) {
    lua_pushcfunction(L, outbuf_free);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

typedef struct encoder {
  lua_State *L;
  alaris_bytes *out;
  int seen; /* stack index of the table of tables being encoded (cycle detection) */
  int pretty;
} encoder;

static void put(encoder *e, const char *s, size_t n) {
  if (!alaris_bytes_append(e->out, s, n))
    luaL_error(e->L, "out of memory encoding JSON");
}

static void put_str(encoder *e, const char *s) {
  put(e, s, strlen(s));
}

static void put_newline(encoder *e, int depth) {
  if (!e->pretty)
    return;
  put(e, "\n", 1);
  for (int i = 0; i < depth; i++)
    put(e, "  ", 2);
}

/* Strings are written byte for byte; only '"', '\\' and control characters are escaped (NUL as \u0000).
 * Bytes that are not valid UTF-8 pass through unchanged, so decode(encode(s)) == s for every string. */
static void put_string(encoder *e, const char *s, size_t len) {
  put(e, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(e, s + run, i - run);
    run = i + 1;
    char esc[8];
    switch (c) {
    case '"':
      put(e, "\\\"", 2);
      break;
    case '\\':
      put(e, "\\\\", 2);
      break;
    case '\n':
      put(e, "\\n", 2);
      break;
    case '\r':
      put(e, "\\r", 2);
      break;
    case '\t':
      put(e, "\\t", 2);
      break;
    case '\b':
      put(e, "\\b", 2);
      break;
    case '\f':
      put(e, "\\f", 2);
      break;
    default:
      snprintf(esc, sizeof esc, "\\u%04x", c);
      put(e, esc, 6);
    }
  }
  put(e, s + run, len - run);
  put(e, "\"", 1);
}

/* The shortest of %.15g..%.17g that reads back as the same double, always looking like a float (1.0, not 1). */
static void put_float(encoder *e, double v) {
  if (isnan(v) || isinf(v))
    luaL_error(e->L, "cannot encode %s as JSON", isnan(v) ? "NaN" : "infinity");
  char text[40];
  alaris_format_double(text, sizeof text, v);
  if (!strpbrk(text, ".eE"))
    strcat(text, ".0");
  put_str(e, text);
}

static void put_number(encoder *e, int idx) {
  if (lua_isinteger(e->L, idx)) {
    char text[32];
    snprintf(text, sizeof text, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(e->L, idx));
    put_str(e, text);
  } else {
    put_float(e, (double)lua_tonumber(e->L, idx));
  }
}

static void put_value(encoder *e, int idx, int depth);

static void put_array(encoder *e, int idx, lua_Integer n, int depth) {
  if (n == 0) {
    put(e, "[]", 2);
    return;
  }
  put(e, "[", 1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1)
      put(e, ",", 1);
    put_newline(e, depth + 1);
    lua_rawgeti(e->L, idx, i);
    put_value(e, lua_gettop(e->L), depth + 1);
    lua_pop(e->L, 1);
  }
  put_newline(e, depth);
  put(e, "]", 1);
}

/* Objects are written with their keys in byte order, so the same table always gives the same text. */
static void put_object(encoder *e, int idx, lua_Integer count, int depth) {
  lua_State *L = e->L;
  if (count == 0) {
    put(e, "{}", 2);
    return;
  }
  const alaris_key *keys = alaris_sorted_keys(L, idx, count);
  put(e, "{", 1);
  for (lua_Integer i = 0; i < count; i++) {
    if (i > 0)
      put(e, ",", 1);
    put_newline(e, depth + 1);
    put_string(e, keys[i].s, keys[i].len);
    put(e, e->pretty ? ": " : ":", e->pretty ? 2 : 1);
    lua_pushlstring(L, keys[i].s, keys[i].len);
    lua_rawget(L, idx);
    put_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1); /* keys */
  put_newline(e, depth);
  put(e, "}", 1);
}

static void put_table(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  luaL_checkstack(L, 8, "JSON nested too deeply");
  alaris_enter_table(L, idx, e->seen, depth, "JSON");
  lua_Integer strings;
  lua_Integer n = alaris_table_shape(L, idx, "JSON", &strings);
  if (n >= 0)
    put_array(e, idx, n, depth);
  else
    put_object(e, idx, strings, depth);
  alaris_leave_table(L, idx, e->seen);
}

static void put_value(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    put(e, "null", 4);
    break;
  case LUA_TBOOLEAN:
    put_str(e, lua_toboolean(L, idx) ? "true" : "false");
    break;
  case LUA_TNUMBER:
    put_number(e, idx);
    break;
  case LUA_TSTRING:
    s = lua_tolstring(L, idx, &len);
    put_string(e, s, len);
    break;
  case LUA_TTABLE:
    put_table(e, idx, depth);
    break;
  default:
    if (!alaris_is_null(L, idx))
      luaL_error(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
    put(e, "null", 4);
  }
}

/* json.encode(v [, {pretty = bool}]) -> string; raises on values JSON cannot hold (functions, cycles, NaN, mixed
 * tables). */
static int json_encode(lua_State *L) {
  int pretty = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "pretty");
    pretty = lua_toboolean(L, -1);
  }
  lua_settop(L, 1);
  lua_newtable(L); /* 2: seen */
  encoder e = {L, new_outbuf(L), 2, pretty};
  put_value(&e, 1, 0);
  lua_pushlstring(L, e.out->data ? e.out->data : "", e.out->len);
  alaris_bytes_free(e.out);
  return 1;
}

int luaopen_alaris_json(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"encode", json_encode},
      {"decode", json_decode},
      {"array", json_array},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  alaris_push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}
