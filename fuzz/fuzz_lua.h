/* What the libFuzzer targets share: one Lua state per process, made as alaris-run makes it (the built-in modules
 * preloaded, package.path reaching the stdlib), and a checker per target, a Lua function that gets each input,
 * calls the code under test and raises when what it sees is a finding. It decides nothing about any parser. */
#ifndef ALARIS_FUZZ_LUA_H
#define ALARIS_FUZZ_LUA_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* The state every input of this process shares (created on first use; aborts if the stdlib cannot be found). It
 * holds the global table `fuzz` with the checkers' helpers: fuzz.finding(fmt, ...) raises a finding, and
 * fuzz.check_error(err, code, what) raises one unless err is an alaris error value (with that code, when given). */
lua_State *fuzz_lua_state(void);

/* Runs the checker chunk (Lua source returning a function of one string) on the input, in a protected call. A
 * raised error is a finding: it is printed with its traceback and the process aborts, so libFuzzer keeps the input
 * as a crash. The chunk is compiled once. */
void fuzz_lua_check(const char *checker, const uint8_t *data, size_t size);

/* The same, but the checker runs as the root task of the engine's event loop, so the bindings may wait on sockets
 * and timers. The loop's SIGINT/SIGTERM handlers are replaced by the ones libFuzzer had. */
void fuzz_lua_check_in_task(const char *checker, const uint8_t *data, size_t size);

#endif
