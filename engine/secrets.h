/* Secret masking: values registered here are replaced by "***" in everything alaris writes (terminal output,
 * logs, error messages, the journal, reports). It masks text; it cannot reach what child processes print. */
#ifndef ALARIS_SECRETS_H
#define ALARIS_SECRETS_H

#include <lua.h>
#include <stddef.h>

#define ALARIS_MASK "***"

/* Register a value to mask (empty values are ignored). */
void alaris_secret_add(lua_State *L, const char *value, size_t len);

/* Push a copy of s with every registered secret replaced by ALARIS_MASK; returns it. */
const char *alaris_mask_push(lua_State *L, const char *s, size_t len, size_t *out_len);

/* True if s contains a registered secret. */
int alaris_secret_in(lua_State *L, const char *s, size_t len);

#endif
