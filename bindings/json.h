/* What the two files of alaris.json share: json_syntax.c checks that a text is strict JSON (RFC 8259) before json.c
 * hands it to cJSON, which is lenient where the RFC is not. Private to bindings/json*.c, not an API. */
#ifndef ALARIS_JSON_H
#define ALARIS_JSON_H

#include <stddef.h>

/* True when s[0..len) is one JSON value with optional white space around it, nested at most ALARIS_MAX_NESTING
 * deep, with no number beyond the range of a double. Otherwise false, with *at the 0-based byte offset of the first
 * byte that cannot be read (len when the text ends too early) and *why what was wrong there. s[len] must be '\0'
 * (as in every Lua string). */
int json_check_syntax(const char *s, size_t len, size_t *at, const char **why);

#endif
