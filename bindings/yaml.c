/* alaris.yaml: YAML to Lua values and back, on libyaml's event parser and emitter.
 * Decoding types plain scalars by the YAML 1.2 core schema, resolves anchors, aliases and `<<` merge keys, and keeps
 * mapping keys as strings. Encoding quotes every string that a YAML 1.1 reader (kubectl) or a 1.2 reader would take
 * for another type, so what it writes reads back as the same value. It shares json.null and the array mark with
 * alaris.json. It does not keep comments, styles or tags, and does not write anchors. */
#include "errors.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define JSON_NULL_KEY "alaris.json.null" /* created by alaris.json */
#define JSON_ARRAY_MT "alaris.json.array"
#define READER_TYPE "alaris.yaml.reader"
#define WRITER_TYPE "alaris.yaml.writer"
#define MAX_DEPTH 1000
#define TAG(name) "tag:yaml.org,2002:" name

static void push_null(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, JSON_NULL_KEY);
}

static int is_null(lua_State *L, int idx) {
  push_null(L);
  int same = lua_rawequal(L, -1, idx);
  lua_pop(L, 1);
  return same;
}

static int is_marked_array(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx))
    return 0;
  luaL_getmetatable(L, JSON_ARRAY_MT);
  int marked = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return marked;
}

/* ---------- plain scalars: the YAML 1.2 core schema ---------- */

static int word_in(const char *s, const char *const *words) {
  for (; *words; words++)
    if (strcmp(s, *words) == 0)
      return 1;
  return 0;
}

static const char *const NULL_WORDS[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TRUE_WORDS[] = {"true", "True", "TRUE", NULL};
static const char *const FALSE_WORDS[] = {"false", "False", "FALSE", NULL};
static const char *const INF_WORDS[] = {".inf", ".Inf", ".INF", NULL};
static const char *const NAN_WORDS[] = {".nan", ".NaN", ".NAN", NULL};

static int all_of(const char *s, const char *set) {
  return *s && strspn(s, set) == strlen(s);
}

/* [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ ; sets *is_int=0 with *f when the decimal form overflows 64 bits. */
static int parse_core_int(const char *s, lua_Integer *out, int *is_int, double *f) {
  int base = 10;
  const char *digits = s;
  if (s[0] == '0' && s[1] == 'o') {
    base = 8;
    digits = s + 2;
    if (!all_of(digits, "01234567"))
      return 0;
  } else if (s[0] == '0' && s[1] == 'x') {
    base = 16;
    digits = s + 2;
    if (!all_of(digits, "0123456789abcdefABCDEF"))
      return 0;
  } else if (!all_of(s + (s[0] == '-' || s[0] == '+'), "0123456789")) {
    return 0;
  }
  errno = 0;
  *is_int = 1;
  if (base == 10) {
    long long v = strtoll(digits, NULL, 10);
    if (errno == ERANGE) {
      *is_int = 0;
      *f = strtod(digits, NULL);
    }
    *out = (lua_Integer)v;
  } else {
    unsigned long long v = strtoull(digits, NULL, base);
    if (errno == ERANGE)
      return 0;
    *out = (lua_Integer)v; /* 0xffffffffffffffff wraps to -1, as in Lua */
  }
  return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? | [-+]?.inf | .nan */
static int parse_core_float(const char *s, double *out) {
  const char *p = s + (s[0] == '-' || s[0] == '+');
  if (word_in(p, INF_WORDS)) {
    *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    return 1;
  }
  if (word_in(s, NAN_WORDS)) {
    *out = NAN;
    return 1;
  }
  size_t whole = strspn(p, "0123456789");
  p += whole;
  if (*p == '.') {
    size_t frac = strspn(p + 1, "0123456789");
    if (whole == 0 && frac == 0)
      return 0;
    p += 1 + frac;
  } else if (whole == 0) {
    return 0;
  }
  if (*p == 'e' || *p == 'E') {
    p += 1 + (p[1] == '-' || p[1] == '+');
    size_t exp = strspn(p, "0123456789");
    if (exp == 0)
      return 0;
    p += exp;
  }
  if (*p)
    return 0;
  *out = strtod(s, NULL);
  return 1;
}

typedef enum { AS_STRING, AS_NULL, AS_BOOL, AS_INT, AS_FLOAT } scalar_kind;

/* Pushes the value of a plain scalar and says which type it resolved to. */
static scalar_kind push_plain(lua_State *L, const char *s, size_t len) {
  lua_Integer i;
  int is_int;
  double f;
  if (strlen(s) != len) {
    lua_pushlstring(L, s, len);
    return AS_STRING;
  }
  if (word_in(s, NULL_WORDS)) {
    push_null(L);
    return AS_NULL;
  }
  if (word_in(s, TRUE_WORDS) || word_in(s, FALSE_WORDS)) {
    lua_pushboolean(L, word_in(s, TRUE_WORDS));
    return AS_BOOL;
  }
  if (parse_core_int(s, &i, &is_int, &f)) {
    if (is_int)
      lua_pushinteger(L, i);
    else
      lua_pushnumber(L, (lua_Number)f);
    return AS_INT;
  }
  if (parse_core_float(s, &f)) {
    lua_pushnumber(L, (lua_Number)f);
    return AS_FLOAT;
  }
  lua_pushlstring(L, s, len);
  return AS_STRING;
}

/* ---------- decode ---------- */

typedef struct reader {
  yaml_parser_t parser;
  yaml_event_t event;
  int has_parser, has_event;
  char problem[200];
  size_t line, column; /* 1-based */
} reader;

static void drop_event(reader *r) {
  if (r->has_event)
    yaml_event_delete(&r->event);
  r->has_event = 0;
}

static int reader_free(lua_State *L) {
  reader *r = luaL_checkudata(L, 1, READER_TYPE);
  drop_event(r);
  if (r->has_parser)
    yaml_parser_delete(&r->parser);
  r->has_parser = 0;
  return 0;
}

static int fail_at_mark(reader *r, yaml_mark_t mark, const char *fmt, const char *detail) {
  snprintf(r->problem, sizeof r->problem, fmt, detail);
  r->line = mark.line + 1;
  r->column = mark.column + 1;
  return 0;
}

static int next_event(reader *r) {
  drop_event(r);
  if (!yaml_parser_parse(&r->parser, &r->event)) {
    const char *problem = r->parser.problem ? r->parser.problem : "cannot parse";
    if (r->parser.context)
      snprintf(r->problem, sizeof r->problem, "%s %s", problem, r->parser.context);
    else
      snprintf(r->problem, sizeof r->problem, "%s", problem);
    r->line = r->parser.problem_mark.line + 1;
    r->column = r->parser.problem_mark.column + 1;
    return 0;
  }
  r->has_event = 1;
  return 1;
}

static void remember_anchor(lua_State *L, const yaml_char_t *anchor, int anchors) {
  if (!anchor)
    return;
  lua_pushvalue(L, -1);
  lua_setfield(L, anchors, (const char *)anchor);
}

/* A tagged scalar (`!!int 0x1f`, `!!str 12`): the tag decides the type; a value that does not fit it is an error. */
static int push_tagged(lua_State *L, reader *r, const char *tag, const char *s, size_t len) {
  yaml_mark_t at = r->event.start_mark;
  if (strcmp(tag, TAG("str")) == 0 || strcmp(tag, "!") == 0) {
    lua_pushlstring(L, s, len);
    return 1;
  }
  scalar_kind kind = push_plain(L, s, len);
  int fits = 1;
  if (strcmp(tag, TAG("int")) == 0)
    fits = kind == AS_INT;
  else if (strcmp(tag, TAG("float")) == 0) {
    fits = kind == AS_INT || kind == AS_FLOAT;
    if (fits) {
      lua_pushnumber(L, lua_tonumber(L, -1));
      lua_remove(L, -2);
    }
  } else if (strcmp(tag, TAG("bool")) == 0)
    fits = kind == AS_BOOL;
  else if (strcmp(tag, TAG("null")) == 0)
    fits = kind == AS_NULL;
  else if (r->event.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) { /* another tag on a quoted scalar: a string */
    lua_pop(L, 1);
    lua_pushlstring(L, s, len);
  }
  if (!fits) {
    lua_pop(L, 1);
    return fail_at_mark(r, at, "the value does not match its tag %s", tag);
  }
  return 1;
}

static int push_scalar(lua_State *L, reader *r) {
  const char *s = (const char *)r->event.data.scalar.value;
  size_t len = r->event.data.scalar.length;
  const char *tag = (const char *)r->event.data.scalar.tag;
  if (tag)
    return push_tagged(L, r, tag, s, len);
  if (r->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    push_plain(L, s, len);
  else
    lua_pushlstring(L, s, len);
  return 1;
}

static int read_node(lua_State *L, reader *r, int anchors, int depth);

static int read_sequence(lua_State *L, reader *r, int anchors, int depth) {
  lua_newtable(L);
  luaL_setmetatable(L, JSON_ARRAY_MT);
  remember_anchor(L, r->event.data.sequence_start.anchor, anchors);
  lua_Integer n = 0;
  for (;;) {
    if (!next_event(r))
      return 0;
    if (r->event.type == YAML_SEQUENCE_END_EVENT)
      return 1;
    if (!read_node(L, r, anchors, depth + 1))
      return 0;
    lua_rawseti(L, -2, ++n);
  }
}

/* Copies into the map at map_idx the entries of src (a map, or an array of maps) it does not have yet. */
static int merge_into(lua_State *L, reader *r, int map_idx, yaml_mark_t at) {
  int src = lua_gettop(L);
  if (lua_type(L, src) != LUA_TTABLE)
    return fail_at_mark(r, at, "a merge key (<<) needs a mapping or a sequence of mappings%s", "");
  if (is_marked_array(L, src)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, src);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, src, i);
      if (is_marked_array(L, -1) || !merge_into(L, r, map_idx, at))
        return fail_at_mark(r, at, "a merge key (<<) needs a mapping or a sequence of mappings%s", "");
    }
    lua_pop(L, 1);
    return 1;
  }
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    if (lua_rawget(L, map_idx) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, map_idx);
    } else {
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  return 1;
}

/* Mapping keys are kept as strings (the key's text), so `1: a` and `"1": a` are the same key and every decoded
 * map can be encoded to JSON. Pushes the key, or sets *merge for a `<<` merge key. */
static int read_key(lua_State *L, reader *r, int anchors, int *merge) {
  yaml_event_t *e = &r->event;
  *merge = 0;
  if (e->type == YAML_SCALAR_EVENT) {
    const char *s = (const char *)e->data.scalar.value;
    const char *tag = (const char *)e->data.scalar.tag;
    *merge = (e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag && strcmp(s, "<<") == 0) ||
             (tag && strcmp(tag, TAG("merge")) == 0);
    lua_pushlstring(L, s, e->data.scalar.length);
    remember_anchor(L, e->data.scalar.anchor, anchors);
    return 1;
  }
  if (e->type == YAML_ALIAS_EVENT) {
    lua_getfield(L, anchors, (const char *)e->data.alias.anchor);
    if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
      lua_tostring(L, -1);
      return 1;
    }
  }
  return fail_at_mark(r, e->start_mark, "mapping keys must be scalars%s", "");
}

static int read_mapping(lua_State *L, reader *r, int anchors, int depth) {
  lua_newtable(L);
  int map_idx = lua_gettop(L);
  remember_anchor(L, r->event.data.mapping_start.anchor, anchors);
  lua_newtable(L); /* merge sources, applied at the end so that explicit keys win */
  int merges = lua_gettop(L);
  yaml_mark_t merge_mark = r->event.start_mark;
  for (;;) {
    int merge;
    if (!next_event(r))
      return 0;
    if (r->event.type == YAML_MAPPING_END_EVENT)
      break;
    if (!read_key(L, r, anchors, &merge) || !next_event(r))
      return 0;
    if (merge)
      merge_mark = r->event.start_mark;
    if (!read_node(L, r, anchors, depth + 1))
      return 0;
    if (merge) {
      lua_rawseti(L, merges, (lua_Integer)lua_rawlen(L, merges) + 1);
      lua_pop(L, 1);
    } else {
      lua_rawset(L, map_idx);
    }
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, merges);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, merges, i);
    if (!merge_into(L, r, map_idx, merge_mark))
      return 0;
  }
  lua_pop(L, 1);
  return 1;
}

/* Reads the node whose first event is current and pushes its value. */
static int read_node(lua_State *L, reader *r, int anchors, int depth) {
  yaml_event_t *e = &r->event;
  if (depth >= MAX_DEPTH)
    return fail_at_mark(r, e->start_mark, "nesting deeper than %s levels", "1000");
  luaL_checkstack(L, 8, "YAML nested too deeply");
  switch (e->type) {
  case YAML_ALIAS_EVENT:
    if (lua_getfield(L, anchors, (const char *)e->data.alias.anchor) == LUA_TNIL) {
      lua_pop(L, 1);
      return fail_at_mark(r, e->start_mark, "unknown alias *%s", (const char *)e->data.alias.anchor);
    }
    return 1;
  case YAML_SCALAR_EVENT:
    if (!push_scalar(L, r))
      return 0;
    remember_anchor(L, e->data.scalar.anchor, anchors);
    return 1;
  case YAML_SEQUENCE_START_EVENT:
    return read_sequence(L, r, anchors, depth);
  case YAML_MAPPING_START_EVENT:
    return read_mapping(L, r, anchors, depth);
  default:
    return fail_at_mark(r, e->start_mark, "unexpected YAML event%s", "");
  }
}

/* After STREAM_START or a DOCUMENT_END: reads the next document, if any, and pushes its value. Returns 1 with a
 * value, 0 with none left (nothing pushed), -1 on error. Anchors do not cross documents. */
static int read_document(lua_State *L, reader *r) {
  if (!next_event(r))
    return -1;
  if (r->event.type == YAML_STREAM_END_EVENT)
    return 0;
  lua_newtable(L);
  int anchors = lua_gettop(L);
  if (!next_event(r) || !read_node(L, r, anchors, 0) || !next_event(r))
    return -1;
  lua_remove(L, anchors);
  return 1;
}

static reader *open_reader(lua_State *L, const char *s, size_t len) {
  reader *r = lua_newuserdatauv(L, sizeof *r, 0);
  memset(r, 0, sizeof *r);
  if (luaL_newmetatable(L, READER_TYPE)) {
    lua_pushcfunction(L, reader_free);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  if (!yaml_parser_initialize(&r->parser))
    luaL_error(L, "out of memory creating a YAML parser");
  r->has_parser = 1;
  yaml_parser_set_input_string(&r->parser, (const unsigned char *)s, len);
  return r;
}

static int fail_reader(lua_State *L, reader *r) {
  lua_pushnil(L);
  alaris_error_push(L, "invalid_yaml", "invalid YAML at line %d, column %d: %s", (int)r->line, (int)r->column,
                    r->problem);
  lua_pushinteger(L, (lua_Integer)r->line);
  lua_setfield(L, -2, "line");
  lua_pushinteger(L, (lua_Integer)r->column);
  lua_setfield(L, -2, "column");
  return 2;
}

/* yaml.decode(s) -> value of the first document (json.null when there is none) | nil, err */
static int yaml_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  reader *r = open_reader(L, s, len);
  int got = next_event(r) ? read_document(L, r) : -1;
  if (got < 0)
    return fail_reader(L, r);
  if (got == 0)
    push_null(L);
  return 1;
}

/* yaml.decode_all(s) -> array of every document's value | nil, err */
static int yaml_decode_all(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  reader *r = open_reader(L, s, len);
  lua_newtable(L);
  luaL_setmetatable(L, JSON_ARRAY_MT);
  if (!next_event(r))
    return fail_reader(L, r);
  for (lua_Integer n = 1;; n++) {
    int got = read_document(L, r);
    if (got < 0)
      return fail_reader(L, r);
    if (got == 0)
      return 1;
    lua_rawseti(L, -2, n);
  }
}

/* ---------- encode ---------- */

typedef struct writer {
  yaml_emitter_t emitter;
  int has_emitter;
  char *data;
  size_t len, cap;
  int seen; /* stack index of the tables being written (cycle detection) */
} writer;

static int writer_free(lua_State *L) {
  writer *w = luaL_checkudata(L, 1, WRITER_TYPE);
  if (w->has_emitter)
    yaml_emitter_delete(&w->emitter);
  w->has_emitter = 0;
  free(w->data);
  w->data = NULL;
  return 0;
}

static int write_output(void *data, unsigned char *buffer, size_t size) {
  writer *w = data;
  if (w->len + size > w->cap) {
    size_t cap = w->cap ? w->cap : 512;
    while (cap < w->len + size)
      cap *= 2;
    char *p = realloc(w->data, cap);
    if (!p)
      return 0;
    w->data = p;
    w->cap = cap;
  }
  memcpy(w->data + w->len, buffer, size);
  w->len += size;
  return 1;
}

static void emit(lua_State *L, writer *w, yaml_event_t *event) {
  if (!yaml_emitter_emit(&w->emitter, event))
    luaL_error(L, "cannot encode as YAML: %s", w->emitter.problem ? w->emitter.problem : "emitter error");
}

static void emit_scalar(lua_State *L, writer *w, const char *s, size_t len, yaml_scalar_style_t style) {
  yaml_event_t event;
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
  if (word_in(s, YAML11_WORDS))
    return 1;
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '.' || ((c == '-' || c == '+') && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.')))
    return 1;
  scalar_kind kind = push_plain(L, s, len);
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
      for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, v);
        if (strtod(text, NULL) == v)
          break;
      }
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

/* The array length when the table's keys are exactly 1..n, or -1 for a map (string keys, or no keys). */
static lua_Integer classify_keys(lua_State *L, int idx, lua_Integer *nstrings) {
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
      luaL_error(L, "cannot encode a table key of type %s as YAML (keys are strings or 1..n)", luaL_typename(L, -1));
    }
  }
  if (ints && strings)
    luaL_error(L, "cannot encode a table with mixed keys (integers and strings) as YAML");
  if (ints && max != ints)
    luaL_error(L, "cannot encode a sparse array as YAML (%d values, highest index %d); use json.null for holes",
               (int)ints, (int)max);
  *nstrings = strings;
  return ints ? ints : -1;
}

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

typedef struct key {
  const char *s;
  size_t len;
} key;

static int compare_keys(const void *a, const void *b) {
  const key *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Maps are written with their keys in byte order, as alaris.json does. */
static void emit_mapping(lua_State *L, writer *w, int idx, lua_Integer count, int depth) {
  key *keys = lua_newuserdatauv(L, sizeof(key) * (size_t)count, 0); /* freed by the GC, even on error */
  lua_Integer n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    keys[n].s = lua_tolstring(L, -1, &keys[n].len); /* stays valid: the table holds the key */
    n++;
  }
  qsort(keys, (size_t)n, sizeof *keys, compare_keys);
  yaml_event_t event;
  yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
  emit(L, w, &event);
  for (lua_Integer i = 0; i < n; i++) {
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
  if (depth >= MAX_DEPTH)
    luaL_error(L, "cannot encode YAML nested deeper than %d levels", MAX_DEPTH);
  luaL_checkstack(L, 10, "YAML nested too deeply");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, w->seen) != LUA_TNIL)
    luaL_error(L, "cannot encode a table that contains itself (a cycle) as YAML");
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushboolean(L, 1);
  lua_rawset(L, w->seen);
  lua_Integer strings = 0;
  lua_Integer n = is_marked_array(L, idx) ? (lua_Integer)lua_rawlen(L, idx) : classify_keys(L, idx, &strings);
  if (n >= 0)
    emit_sequence(L, w, idx, n, depth);
  else
    emit_mapping(L, w, idx, strings, depth);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, w->seen);
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
    if (!is_null(L, idx))
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

/* Writes the documents at stack indexes first..last, each after a "---" line but the first. */
static int encode_documents(lua_State *L, int first, int last) {
  writer *w = open_writer(L);
  int writer_idx = lua_gettop(L) - 1; /* below the table of seen tables */
  yaml_event_t event;
  yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING);
  emit(L, w, &event);
  for (int i = first; i <= last; i++) {
    yaml_document_start_event_initialize(&event, NULL, NULL, NULL, i == first);
    emit(L, w, &event);
    emit_value(L, w, i, 0);
    yaml_document_end_event_initialize(&event, 1);
    emit(L, w, &event);
  }
  yaml_stream_end_event_initialize(&event);
  emit(L, w, &event);
  lua_pushlstring(L, w->data ? w->data : "", w->len);
  lua_pushcfunction(L, writer_free);
  lua_pushvalue(L, writer_idx);
  lua_call(L, 1, 0);
  return 1;
}

/* yaml.encode(v) -> string; raises on values YAML cannot hold here (functions, cycles, mixed tables, bad UTF-8). */
static int yaml_encode(lua_State *L) {
  lua_settop(L, 1);
  return encode_documents(L, 1, 1);
}

/* yaml.encode_all(docs) -> one string with every document of the array, separated by "---". */
static int yaml_encode_all(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer n = (lua_Integer)luaL_len(L, 1);
  if (n == 0)
    return lua_pushliteral(L, ""), 1;
  luaL_checkstack(L, (int)n + 4, "too many YAML documents");
  for (lua_Integer i = 1; i <= n; i++)
    lua_rawgeti(L, 1, i);
  return encode_documents(L, 2, (int)n + 1);
}

int luaopen_alaris_yaml(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"decode", yaml_decode},
      {"decode_all", yaml_decode_all},
      {"encode", yaml_encode},
      {"encode_all", yaml_encode_all},
      {NULL, NULL},
  };
  lua_getglobal(L, "require"); /* alaris.json owns json.null and the array mark */
  lua_pushliteral(L, "alaris.json");
  lua_call(L, 1, 0);
  luaL_newlib(L, functions);
  push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}
