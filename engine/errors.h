/* Structured errors for expected failures: bindings return `nil, err` where err is a table with at least
 * `message` and `code`, and tostring(err) gives the one-line message. Misuse still raises (luaL_argerror). */
#ifndef ALARIS_ERRORS_H
#define ALARIS_ERRORS_H

#include <lua.h>

/* Push a new error table {code = code, message = <formatted>}; more fields may be set on it afterwards. */
void alaris_error_push(lua_State *L, const char *code, const char *fmt, ...);

/* Push nil and a new error table; returns 2, so a binding can `return alaris_fail(L, "timeout", "...")`. */
int alaris_fail(lua_State *L, const char *code, const char *fmt, ...);

#endif
