/* What the two halves of alaris.yaml share (yaml.c opens the module and decodes, yaml_emit.c encodes): how a plain
 * scalar is typed under the YAML 1.2 core schema (json.null and the array mark are the engine's: datamodel.h).
 * It is private to bindings/yaml*.c, not an API. It is not named yaml.h because bindings/ is on the include path,
 * where that name would hide libyaml's <yaml.h>. */
#ifndef ALARIS_YAML_SCHEMA_H
#define ALARIS_YAML_SCHEMA_H

#include "datamodel.h"

#include <lua.h>
#include <stddef.h>

typedef enum { AS_STRING, AS_NULL, AS_BOOL, AS_INT, AS_FLOAT } scalar_kind;

/* True when s is one of the NULL-terminated words. */
int yaml_word_in(const char *s, const char *const *words);

/* Pushes the value of a plain scalar and says which type it resolved to. */
scalar_kind yaml_push_plain(lua_State *L, const char *s, size_t len);

/* yaml.encode and yaml.encode_all (yaml_emit.c). */
int yaml_encode(lua_State *L);
int yaml_encode_all(lua_State *L);

#endif
