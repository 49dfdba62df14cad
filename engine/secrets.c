/* The secret registry and the masking of text. Secrets are kept longest first, so a secret that contains another
 * is masked whole. Registered values live until the process ends: masking must outlast every handle. */
#include "secrets.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

typedef struct secret {
  char *value;
  size_t len;
} secret;

static secret *secrets;
static size_t nsecrets, capsecrets;
static unsigned char first_bytes[256];

static int known(const char *v, size_t len) {
  for (size_t i = 0; i < nsecrets; i++)
    if (secrets[i].len == len && memcmp(secrets[i].value, v, len) == 0)
      return 1;
  return 0;
}

void alaris_secret_add(lua_State *L, const char *value, size_t len) {
  if (len == 0 || known(value, len))
    return;
  if (nsecrets == capsecrets) {
    size_t cap = capsecrets ? capsecrets * 2 : 16;
    secret *p = realloc(secrets, cap * sizeof *p);
    if (!p)
      luaL_error(L, "out of memory registering a secret");
    secrets = p;
    capsecrets = cap;
  }
  char *copy = malloc(len);
  if (!copy)
    luaL_error(L, "out of memory registering a secret");
  memcpy(copy, value, len);
  size_t at = 0; /* keep longest first */
  while (at < nsecrets && secrets[at].len >= len)
    at++;
  memmove(secrets + at + 1, secrets + at, (nsecrets - at) * sizeof *secrets);
  secrets[at] = (secret){copy, len};
  nsecrets++;
  first_bytes[(unsigned char)value[0]] = 1;
}

static const secret *secret_at(const char *s, size_t left) {
  if (!first_bytes[(unsigned char)*s])
    return NULL;
  for (size_t i = 0; i < nsecrets; i++)
    if (secrets[i].len <= left && memcmp(secrets[i].value, s, secrets[i].len) == 0)
      return &secrets[i];
  return NULL;
}

int alaris_secret_in(lua_State *L, const char *s, size_t len) {
  (void)L;
  for (size_t i = 0; i < len; i++)
    if (secret_at(s + i, len - i))
      return 1;
  return 0;
}

const char *alaris_mask_push(lua_State *L, const char *s, size_t len, size_t *out_len) {
  if (nsecrets == 0 || !alaris_secret_in(L, s, len)) {
    lua_pushlstring(L, s, len);
    return lua_tolstring(L, -1, out_len);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t i = 0;
  while (i < len) {
    const secret *hit = secret_at(s + i, len - i);
    if (hit) {
      luaL_addstring(&b, ALARIS_MASK);
      i += hit->len;
    } else {
      luaL_addchar(&b, s[i]);
      i++;
    }
  }
  luaL_pushresult(&b);
  return lua_tolstring(L, -1, out_len);
}
