/* alaris.s3.core: the mechanism under the S3 client (stdlib/alaris/s3.lua): S3's XML responses parsed with
 * expat into plain Lua tables, XML text escaping for the request bodies the client writes, and structured
 * error values. It builds no requests and knows no S3 operation; that policy lives in the Lua overlay. */
#include <expat.h>
#include <lauxlib.h>
#include <lua.h>
#include <string.h>

#include "errors.h"

#define PARSER_TYPE "alaris.s3.xml_parser"
#define MAX_DEPTH 64

/* A parser lives in a userdata so that a Lua error raised inside a callback (out of memory) cannot leak it. */
typedef struct xml_parser {
  XML_Parser parser;
  lua_State *L;
  int depth;
} xml_parser;

static void free_parser(xml_parser *x) {
  if (x->parser)
    XML_ParserFree(x->parser);
  x->parser = NULL;
}

static int parser_gc(lua_State *L) {
  free_parser(luaL_checkudata(L, 1, PARSER_TYPE));
  return 0;
}

/* An element is {tag = name, text = character data, [1..n] = child elements}; the open elements are kept on the
 * Lua stack, the innermost on top. */
static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attributes) {
  xml_parser *x = ud;
  lua_State *L = x->L;
  (void)attributes;
  if (++x->depth > MAX_DEPTH) {
    XML_StopParser(x->parser, XML_FALSE);
    return;
  }
  luaL_checkstack(L, 4, "s3: XML nesting");
  lua_createtable(L, 2, 2);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "tag");
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, (lua_Integer)lua_rawlen(L, -3) + 1);
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  xml_parser *x = ud;
  (void)name;
  x->depth--;
  lua_pop(x->L, 1);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  xml_parser *x = ud;
  lua_State *L = x->L;
  if (x->depth == 0)
    return;
  lua_getfield(L, -1, "text");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushlstring(L, s, (size_t)len);
  } else {
    lua_pushlstring(L, s, (size_t)len);
    lua_concat(L, 2);
  }
  lua_setfield(L, -2, "text");
}

/* core.parse_xml(text) -> root element | nil, err (code "xml") */
static int l_parse_xml(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  xml_parser *x = lua_newuserdatauv(L, sizeof *x, 0); /* 2 */
  x->parser = NULL;
  luaL_setmetatable(L, PARSER_TYPE);
  x->parser = XML_ParserCreate("UTF-8");
  if (!x->parser)
    return luaL_error(L, "s3: out of memory creating an XML parser");
  x->L = L;
  x->depth = 0;
  XML_SetUserData(x->parser, x);
  XML_SetElementHandler(x->parser, on_start, on_end);
  XML_SetCharacterDataHandler(x->parser, on_text);
  lua_newtable(L); /* 3: the document, whose [1] is the root element */
  enum XML_Status status = XML_Parse(x->parser, text, (int)len, XML_TRUE);
  if (status != XML_STATUS_OK || x->depth != 0) {
    const char *why = x->depth > MAX_DEPTH ? "nested too deeply" : XML_ErrorString(XML_GetErrorCode(x->parser));
    unsigned long line = XML_GetCurrentLineNumber(x->parser);
    free_parser(x);
    lua_settop(L, 1);
    return alaris_fail(L, "xml", "s3: malformed XML response (line %d): %s", (int)line, why);
  }
  free_parser(x);
  lua_rawgeti(L, 3, 1);
  if (lua_isnil(L, -1))
    return alaris_fail(L, "xml", "s3: empty XML response");
  return 1;
}

/* core.xml_escape(s) -> s with & < > " ' as entities */
static int l_xml_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&':
      luaL_addstring(&b, "&amp;");
      break;
    case '<':
      luaL_addstring(&b, "&lt;");
      break;
    case '>':
      luaL_addstring(&b, "&gt;");
      break;
    case '"':
      luaL_addstring(&b, "&quot;");
      break;
    case '\'':
      luaL_addstring(&b, "&apos;");
      break;
    default:
      luaL_addchar(&b, s[i]);
    }
  }
  luaL_pushresult(&b);
  return 1;
}

int luaopen_alaris_s3_core(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"parse_xml", l_parse_xml},
      {"xml_escape", l_xml_escape},
      {NULL, NULL},
  };
  if (luaL_newmetatable(L, PARSER_TYPE)) {
    lua_pushcfunction(L, parser_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
