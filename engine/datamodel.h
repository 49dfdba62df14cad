/* Lua values as documents: how Lua tables stand for the arrays, maps and null of JSON and YAML, shared by the
 * bindings that read and write such text (alaris.json, alaris.yaml). It holds the null sentinel (json.null), the
 * metatable marking a table as an array (json.array), the rules that tell an array from a map, and the pieces of
 * walking a table to write it out. It does not parse or print any format: the bindings do. */
#ifndef ALARIS_DATAMODEL_H
#define ALARIS_DATAMODEL_H

#include <lua.h>
#include <stddef.h>

/* How deeply a document may nest, when decoding and encoding, in every format. */
#define ALARIS_MAX_NESTING 1000

/* Pushes the null sentinel (json.null, also yaml.null), creating it on first use. */
void alaris_push_null(lua_State *L);

/* True when the value at idx is the null sentinel. */
int alaris_is_null(lua_State *L, int idx);

/* Gives the table at idx the array mark (replacing any metatable it has). */
void alaris_mark_array(lua_State *L, int idx);

/* True when the table at idx carries the array mark. */
int alaris_is_marked_array(lua_State *L, int idx);

/* The shape of the table at idx: its array length when it carries the array mark or its keys are exactly 1..n, or
 * -1 for a map (string keys, or none) with *nstrings keys. Raises, naming the format ("JSON", "YAML"), on keys of
 * other types, on integer and string keys mixed, and on sparse arrays. */
lua_Integer alaris_table_shape(lua_State *L, int idx, const char *format, lua_Integer *nstrings);

typedef struct alaris_key {
  const char *s;
  size_t len;
} alaris_key;

/* The count string keys of the map at idx in byte order, so a map is always written the same way. Pushes the
 * userdata that holds them (pop it when done); each key stays valid while the table holds it. */
const alaris_key *alaris_sorted_keys(lua_State *L, int idx, lua_Integer count);

/* Cycle and depth guard for writing nested tables: seen is the stack index of a table of the tables being written.
 * Enter raises, naming the format, when the table at idx is already being written or depth reaches
 * ALARIS_MAX_NESTING; leave forgets it, so a table used twice but not inside itself is fine. */
void alaris_enter_table(lua_State *L, int idx, int seen, int depth, const char *format);
void alaris_leave_table(lua_State *L, int idx, int seen);

/* Writes into text the shortest of %.15g..%.17g that reads back as the same double v (finite). The format then
 * decides how a float that looks like an integer shows it is one (1.0). */
void alaris_format_double(char *text, size_t size, double v);

#endif
