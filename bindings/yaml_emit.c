/* alaris.yaml's encoder: Lua values to YAML text on libyaml's emitter (yaml.encode, yaml.encode_all; the module is
 * opened in yaml.c). Strings that a YAML 1.1 reader (kubectl) or a 1.2 reader would take for another type are
 * double-quoted, floats always carry a '.', map keys are written in byte order, so the text reads back as the same
 * value; which tables are sequences and which are maps is the engine's data model (datamodel.h). It does not write
 * anchors, tags, comments or flow styles, and raises on what YAML cannot hold here (functions, cycles, mixed or
 * sparse tables, invalid UTF-8). */
#include "bytes.h"
#include "yaml_schema.h"

#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define WRITER_TYPE "alaris.yaml.writer"
/* yaml.encode_all's count of documents is the array's length, which __len may make anything: it is checked
 * against this before a document is read. */
#define MAX_DOCUMENTS 1000000

typedef struct writer {
  yaml_emitter_t emitter;
  int has_emitter;
  alaris_bytes out;
  int seen; /* stack index of the tables being written (cycle detection) */
} writer;

static int writer_free(lua_State *L) {
  writer *w = luaL_checkudata(L, 1, WRITER_TYPE);
  if (w->has_emitter)
    yaml_emitter_delete(&w->emitter);
  w->has_emitter = 0;
  alaris_bytes_free(&w->out);
  return 0;
}

static int write_output(void *data, unsigned char *buffer, size_t size) {
  writer *w = data;
  return alaris_bytes_append(&w->out, buffer, size);
}

static void emit(lua_State *L, writer *w, yaml_event_t *event) {
  if (!yaml_emitter_emit(&w->emitter, event))
    luaL_error(L, "cannot encode as YAML: %s", w->emitter.problem ? w->emitter.problem : "emitter error");
}

static void emit_scalar(lua_State *L, writer *w, const char *s, size_t len, yaml_scalar_style_t style) {
  yaml_event_t event;
  if (len > INT_MAX) /* libyaml takes the length as an int */
    luaL_error(L, "cannot encode a string of more than %d bytes as YAML", INT_MAX);
  if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)s, (int)len, 1, 1, style))
    luaL_error(L, "cannot encode a string that is not valid UTF-8 as YAML");
  emit(L, w, &event);
}

static const char *const YAML11_WORDS[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",  "no", "No", "NO",
                                           "on", "On", "ON",  "off", "Off", "OFF", "<<", "=",  NULL};

/* True when a plain scalar with this text would not read back as this string: under the 1.2 core schema, or under
 * YAML 1.1 as kubectl reads it (yes/no/on/off, 0777, 1_000, 12:30, dates, .5). */
static int looks_like_another_type(lua_State *L, const char *s, size_t len) {
  if (strlen(s) != len)
    return 0; /* NUL bytes: the emitter double-quotes it anyway */
  if (yaml_word_in(s, YAML11_WORDS))
    return 1;
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '.' || ((c == '-' || c == '+') && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.')))
    return 1;
  scalar_kind kind = yaml_push_plain(L, s, len);
  lua_pop(L, 1);
  return kind != AS_STRING;
}

static void emit_string(lua_State *L, writer *w, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE; /* the emitter picks plain, or quotes when plain is not allowed */
  if (looks_like_another_type(L, s, len))
    style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  else if (memchr(s, '\n', len))
    style = YAML_LITERAL_SCALAR_STYLE;
  emit_scalar(L, w, s, len, style);
}

/* Floats: the shortest text that reads back as the same double, with a '.' so that YAML 1.1 readers also see a
 * float (1.0, 1.0e+300); .inf, -.inf and .nan for the rest. */
static void emit_number(lua_State *L, writer *w, int idx) {
  char text[48];
  if (lua_isinteger(L, idx)) {
    snprintf(text, sizeof text, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
  } else {
    double v = (double)lua_tonumber(L, idx);
    if (isnan(v))
      strcpy(text, ".nan");
    else if (isinf(v))
      strcpy(text, v > 0 ? ".inf" : "-.inf");
    else {
      alaris_format_double(text, sizeof text, v);
      if (!strchr(text, '.')) {
        char *exp = strchr(text, 'e');
        char tail[16] = "";
        if (exp) {
          snprintf(tail, sizeof tail, "%s", exp);
          *exp = '\0';
        }
        strcat(text, ".0");
        strcat(text, tail);
      }
    }
  }
  emit_scalar(L, w, text, strlen(text), YAML_PLAIN_SCALAR_STYLE);
}

static void emit_value(lua_State *L, writer *w, int idx, int depth);

static void emit_sequence(lua_State *L, writer *w, int idx, lua_Integer n, int depth) {
  yaml_event_t event;
  yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
  emit(L, w, &event);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    emit_value(L, w, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  yaml_sequence_end_event_initialize(&event);
  emit(L, w, &event);
}

/* Maps are written with their keys in byte order, as alaris.json does. */
static void emit_mapping(lua_State *L, writer *w, int idx, lua_Integer count, int depth) {
  const alaris_key *keys = alaris_sorted_keys(L, idx, count);
  yaml_event_t event;
  yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
  emit(L, w, &event);
  for (lua_Integer i = 0; i < count; i++) {
    lua_pushlstring(L, keys[i].s, keys[i].len);
    emit_string(L, w, lua_gettop(L));
    lua_rawget(L, idx);
    emit_value(L, w, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  yaml_mapping_end_event_initialize(&event);
  emit(L, w, &event);
  lua_pop(L, 1);
}

static void emit_table(lua_State *L, writer *w, int idx, int depth) {
  luaL_checkstack(L, 10, "YAML nested too deeply");
  alaris_enter_table(L, idx, w->seen, depth, "YAML");
  lua_Integer strings;
  lua_Integer n = alaris_table_shape(L, idx, "YAML", &strings);
  if (n >= 0)
    emit_sequence(L, w, idx, n, depth);
  else
    emit_mapping(L, w, idx, strings, depth);
  alaris_leave_table(L, idx, w->seen);
}

static void emit_value(lua_State *L, writer *w, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
  case LUA_TNONE:
    emit_scalar(L, w, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    break;
  case LUA_TBOOLEAN:
    emit_scalar(L, w, lua_toboolean(L, idx) ? "true" : "false", lua_toboolean(L, idx) ? 4 : 5, YAML_PLAIN_SCALAR_STYLE);
    break;
  case LUA_TNUMBER:
    emit_number(L, w, idx);
    break;
  case LUA_TSTRING:
    emit_string(L, w, idx);
    break;
  case LUA_TTABLE:
    emit_table(L, w, idx, depth);
    break;
  default:
    if (!alaris_is_null(L, idx))
      luaL_error(L, "cannot encode a %s as YAML", luaL_typename(L, idx));
    emit_scalar(L, w, "null", 4, YAML_PLAIN_SCALAR_STYLE);
  }
}

static writer *open_writer(lua_State *L) {
  writer *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  if (luaL_newmetatable(L, WRITER_TYPE)) {
    lua_pushcfunction(L, writer_free);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (!yaml_emitter_initialize(&w->emitter))
    luaL_error(L, "out of memory creating a YAML emitter");
  w->has_emitter = 1;
  yaml_emitter_set_output(&w->emitter, write_output, w);
  yaml_emitter_set_unicode(&w->emitter, 1);
  yaml_emitter_set_indent(&w->emitter, 2);
  yaml_emitter_set_width(&w->emitter, -1); /* never fold long lines */
  lua_newtable(L);
  w->seen = lua_gettop(L);
  return w;
}

/* Writes n documents, each after a "---" line but the first: the value at index 1 when list is 0, else list[1..n]
 * (read one at a time, so that a long list does not need as many stack slots). */
static int encode_documents(lua_State *L, int list, lua_Integer n) {
  writer *w = open_writer(L);
  int writer_idx = lua_gettop(L) - 1; /* below the table of seen tables */
  yaml_event_t event;
  yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING);
  emit(L, w, &event);
  for (lua_Integer i = 1; i <= n; i++) {
    yaml_document_start_event_initialize(&event, NULL, NULL, NULL, i == 1);
    emit(L, w, &event);
    if (list)
      lua_geti(L, list, i);
    else
      lua_pushvalue(L, 1);
    emit_value(L, w, lua_gettop(L), 0);
    lua_pop(L, 1);
    yaml_document_end_event_initialize(&event, 1);
    emit(L, w, &event);
  }
  yaml_stream_end_event_initialize(&event);
  emit(L, w, &event);
  lua_pushlstring(L, w->out.data ? w->out.data : "", w->out.len);
  lua_pushcfunction(L, writer_free);
  lua_pushvalue(L, writer_idx);
  lua_call(L, 1, 0);
  return 1;
}

/* yaml.encode(v) -> string; raises on values YAML cannot hold here (functions, cycles, mixed tables, bad UTF-8). */
int yaml_encode(lua_State *L) {
  lua_settop(L, 1);
  return encode_documents(L, 0, 1);
}

/* yaml.encode_all(docs) -> one string with every document of the array, separated by "---". */
int yaml_encode_all(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_Integer n = (lua_Integer)luaL_len(L, 1);
  if (n < 0 || n > MAX_DOCUMENTS)
    return luaL_error(L, "yaml.encode_all: %I documents (the length of the list) is not within 0..%d", n,
                      MAX_DOCUMENTS);
  if (n == 0)
    return lua_pushliteral(L, ""), 1;
  return encode_documents(L, 1, n);
}
