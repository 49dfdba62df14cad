/* A growable byte buffer on the C heap, for output built where a luaL_Buffer cannot be used: across calls that push
 * and pop Lua values, or inside a C library's write callback. It holds no Lua value and frees nothing by itself:
 * keep it in a userdata whose __gc calls alaris_bytes_free, so an error cannot leak it. */
#ifndef ALARIS_BYTES_H
#define ALARIS_BYTES_H

#include <stddef.h>

typedef struct alaris_bytes {
  char *data; /* NULL until the first append */
  size_t len, cap;
} alaris_bytes;

/* Appends n bytes at p; returns 1, or 0 with the buffer unchanged when memory runs out. */
int alaris_bytes_append(alaris_bytes *b, const void *p, size_t n);

/* Frees the bytes and leaves the buffer empty; calling it again is harmless. */
void alaris_bytes_free(alaris_bytes *b);

#endif
