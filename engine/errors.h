/* The one error value of alaris: expected failures return `nil, err` where err is a table with at least `code`
 * (machine-readable, the same word for the same condition in every module: see docs/modules/alaris.md) and
 * `message`, plus `status`, `reason` and `details` where the failure has them. Every error value shares the
 * metatable "alaris.error"; tostring(err) is one line. Misuse still raises (luaL_argerror). */
#ifndef ALARIS_ERRORS_H
#define ALARIS_ERRORS_H

#include <lua.h>

/* Push a new error table {code = code, message = <formatted>}; more fields may be set on it afterwards. */
void alaris_error_push(lua_State *L, const char *code, const char *fmt, ...);

/* Push nil and a new error table; returns 2, so a binding can `return alaris_fail(L, "timeout", "...")`. */
int alaris_fail(lua_State *L, const char *code, const char *fmt, ...);

/* alaris.error(code, message [, fields]) and alaris.is_error(v), for the core module. */
int alaris_error_new(lua_State *L);
int alaris_error_is(lua_State *L);

#endif
