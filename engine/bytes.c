/* The growable byte buffer of bytes.h: doubling growth from 256 bytes, so appends cost amortised constant time. */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

int alaris_bytes_append(alaris_bytes *b, const void *p, size_t n) {
  if (n == 0)
    return 1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
      return 0;
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 1;
}

void alaris_bytes_free(alaris_bytes *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
