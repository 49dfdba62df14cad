/* alaris.escape: RFC 3986 percent-encoding of a path segment or a query component, the one encoder behind every
 * client's query strings (alaris.http's http.query). It parses no URL and decodes nothing. */
#include <lauxlib.h>
#include <lua.h>

static int is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

static void add_escaped(luaL_Buffer *b, const char *s, size_t n) {
  static const char HEX[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c)) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, HEX[c >> 4]);
      luaL_addchar(b, HEX[c & 15]);
    }
  }
}

/* escape.escape(s) -> s with every byte but A-Z a-z 0-9 - . _ ~ as %XX (a path segment or a query component) */
static int l_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  add_escaped(&b, s, n);
  luaL_pushresult(&b);
  return 1;
}

int luaopen_alaris_escape(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"escape", l_escape},
      {NULL, NULL},
  };
  luaL_newlib(L, functions);
  return 1;
}
