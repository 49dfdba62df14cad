/* alaris.yaml: YAML to Lua values and back, on libyaml's event parser and emitter. This file opens the module and
 * decodes; the encoder is yaml_emit.c, and plain-scalar typing is shared with it through yaml_schema.h.
 * Decoding types plain scalars by the YAML 1.2 core schema, resolves anchors, aliases and `<<` merge keys, keeps
 * mapping keys as strings, and bounds what the value stands for once aliases are expanded (nodes and bytes). Encoding
 * quotes every string that a YAML 1.1 reader (kubectl) or a 1.2 reader would take for another type, so what it writes
 * reads back as the same value. json.null and the array mark, shared with alaris.json, are the engine's data model
 * (datamodel.h). It does not keep comments, styles or tags, and does not write anchors. */
#include "errors.h"
#include "yaml_schema.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define READER_TYPE "alaris.yaml.reader"
#define TAG(name) "tag:yaml.org,2002:" name

/* What one decode may produce once every alias is expanded (as encoding or walking the value would): a few hundred
 * bytes of nested aliases (a "billion laughs") would otherwise stand for gigabytes. */
#define MAX_EXPANDED_NODES 1000000
#define MAX_EXPANDED_BYTES (64 * 1024 * 1024)

/* ---------- plain scalars: the YAML 1.2 core schema ---------- */

int yaml_word_in(const char *s, const char *const *words) {
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
  if (yaml_word_in(p, INF_WORDS)) {
    *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    return 1;
  }
  if (yaml_word_in(s, NAN_WORDS)) {
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

/* Pushes the value of a plain scalar and says which type it resolved to. */
scalar_kind yaml_push_plain(lua_State *L, const char *s, size_t len) {
  lua_Integer i;
  int is_int;
  double f;
  if (strlen(s) != len) {
    lua_pushlstring(L, s, len);
    return AS_STRING;
  }
  if (yaml_word_in(s, NULL_WORDS)) {
    alaris_push_null(L);
    return AS_NULL;
  }
  if (yaml_word_in(s, TRUE_WORDS) || yaml_word_in(s, FALSE_WORDS)) {
    lua_pushboolean(L, yaml_word_in(s, TRUE_WORDS));
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
  const char *code; /* of the error: invalid_yaml, or too_large past the limits above */
  char problem[200];
  size_t line, column;            /* 1-based */
  size_t nodes, bytes;            /* produced so far by this decode, aliases counted at their expanded size */
  int anchor_nodes, anchor_bytes; /* stack indexes: anchor name -> expanded size of its node, in this document */
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

/* Counts a node (or an alias standing for `nodes` nodes and `bytes` bytes of scalars); fails past the limits. */
static int charge(reader *r, size_t nodes, size_t bytes, yaml_mark_t at) {
  r->nodes += nodes;
  r->bytes += bytes;
  if (r->nodes <= MAX_EXPANDED_NODES && r->bytes <= MAX_EXPANDED_BYTES)
    return 1;
  r->code = "too_large";
  return fail_at_mark(r, at, "%s",
                      r->nodes > MAX_EXPANDED_NODES
                          ? "more than 1000000 nodes once aliases are expanded (the limit of a decoded value)"
                          : "more than 64 MiB of scalars once aliases are expanded (the limit of a decoded value)");
}

/* Charges what the alias `name` stands for: the expanded size of its node (1 node if that node is not complete). */
static int charge_alias(lua_State *L, reader *r, const char *name, yaml_mark_t at) {
  lua_getfield(L, r->anchor_nodes, name);
  lua_getfield(L, r->anchor_bytes, name);
  size_t nodes = lua_isinteger(L, -2) ? (size_t)lua_tointeger(L, -2) : 1;
  size_t bytes = lua_isinteger(L, -1) ? (size_t)lua_tointeger(L, -1) : 0;
  lua_pop(L, 2);
  return charge(r, nodes, bytes, at);
}

static void remember_size(lua_State *L, reader *r, const char *anchor, size_t nodes, size_t bytes) {
  lua_pushinteger(L, (lua_Integer)nodes);
  lua_setfield(L, r->anchor_nodes, anchor);
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, r->anchor_bytes, anchor);
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
  scalar_kind kind = yaml_push_plain(L, s, len);
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
    yaml_push_plain(L, s, len);
  else
    lua_pushlstring(L, s, len);
  return 1;
}

static int read_node(lua_State *L, reader *r, int anchors, int depth);

static int read_sequence(lua_State *L, reader *r, int anchors, int depth) {
  lua_newtable(L);
  alaris_mark_array(L, -1);
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
  if (alaris_is_marked_array(L, src)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, src);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, src, i);
      if (alaris_is_marked_array(L, -1) || !merge_into(L, r, map_idx, at))
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
    if (!charge(r, 1, e->data.scalar.length, e->start_mark))
      return 0;
    lua_pushlstring(L, s, e->data.scalar.length);
    remember_anchor(L, e->data.scalar.anchor, anchors);
    if (e->data.scalar.anchor)
      remember_size(L, r, (const char *)e->data.scalar.anchor, 1, e->data.scalar.length);
    return 1;
  }
  if (e->type == YAML_ALIAS_EVENT) {
    if (!charge_alias(L, r, (const char *)e->data.alias.anchor, e->start_mark))
      return 0;
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

static int read_value(lua_State *L, reader *r, int anchors, int depth) {
  yaml_event_t *e = &r->event;
  switch (e->type) {
  case YAML_ALIAS_EVENT:
    if (!charge_alias(L, r, (const char *)e->data.alias.anchor, e->start_mark))
      return 0;
    if (lua_getfield(L, anchors, (const char *)e->data.alias.anchor) == LUA_TNIL) {
      lua_pop(L, 1);
      return fail_at_mark(r, e->start_mark, "unknown alias *%s", (const char *)e->data.alias.anchor);
    }
    return 1;
  case YAML_SCALAR_EVENT:
    if (!charge(r, 1, e->data.scalar.length, e->start_mark) || !push_scalar(L, r))
      return 0;
    remember_anchor(L, e->data.scalar.anchor, anchors);
    return 1;
  case YAML_SEQUENCE_START_EVENT:
    return charge(r, 1, 0, e->start_mark) && read_sequence(L, r, anchors, depth);
  case YAML_MAPPING_START_EVENT:
    return charge(r, 1, 0, e->start_mark) && read_mapping(L, r, anchors, depth);
  default:
    return fail_at_mark(r, e->start_mark, "unexpected YAML event%s", "");
  }
}

static const yaml_char_t *anchor_of(const yaml_event_t *e) {
  switch (e->type) {
  case YAML_SCALAR_EVENT:
    return e->data.scalar.anchor;
  case YAML_SEQUENCE_START_EVENT:
    return e->data.sequence_start.anchor;
  case YAML_MAPPING_START_EVENT:
    return e->data.mapping_start.anchor;
  default:
    return NULL;
  }
}

/* Reads the node whose first event is current and pushes its value. An anchored node's expanded size is kept for
 * the aliases to it (the event, and its anchor name, is gone once the node's children are read). */
static int read_node(lua_State *L, reader *r, int anchors, int depth) {
  yaml_event_t *e = &r->event;
  if (depth >= ALARIS_MAX_NESTING)
    return fail_at_mark(r, e->start_mark, "nesting deeper than %s levels", "1000");
  luaL_checkstack(L, 8, "YAML nested too deeply");
  const yaml_char_t *anchor = anchor_of(e);
  if (!anchor)
    return read_value(L, r, anchors, depth);
  lua_pushstring(L, (const char *)anchor);
  int name = lua_gettop(L);
  size_t nodes = r->nodes, bytes = r->bytes;
  if (!read_value(L, r, anchors, depth))
    return 0;
  remember_size(L, r, lua_tostring(L, name), r->nodes - nodes, r->bytes - bytes);
  lua_remove(L, name);
  return 1;
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
  lua_newtable(L);
  r->anchor_nodes = lua_gettop(L);
  lua_newtable(L);
  r->anchor_bytes = lua_gettop(L);
  if (!next_event(r) || !read_node(L, r, anchors, 0) || !next_event(r))
    return -1;
  lua_replace(L, anchors); /* the value, in place of the three tables */
  lua_settop(L, anchors);
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
  alaris_error_push(L, r->code ? r->code : "invalid_yaml", "invalid YAML at line %I, column %I: %s",
                    (lua_Integer)r->line, (lua_Integer)r->column, r->problem);
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
    alaris_push_null(L);
  return 1;
}

/* yaml.decode_all(s) -> array of every document's value | nil, err */
static int yaml_decode_all(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  reader *r = open_reader(L, s, len);
  lua_newtable(L);
  alaris_mark_array(L, -1);
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

int luaopen_alaris_yaml(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"decode", yaml_decode},
      {"decode_all", yaml_decode_all},
      {"encode", yaml_encode},
      {"encode_all", yaml_encode_all},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  alaris_push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}
