/* Unit tests of secret masking: longest secrets first, adjacent and repeated secrets, binary data, no false hits. */
#include "secrets.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

static void expect_mask(lua_State *L, const char *in, size_t len, const char *want, const char *what) {
  size_t out_len;
  const char *out = alaris_mask_push(L, in, len, &out_len);
  if (out_len == strlen(want) && memcmp(out, want, out_len) == 0) {
    passed++;
  } else {
    failed++;
    printf("FAIL %s: got \"%.*s\", want \"%s\"\n", what, (int)out_len, out, want);
  }
  lua_pop(L, 1);
}

int main(void) {
  lua_State *L = luaL_newstate();
  expect_mask(L, "nothing registered", 18, "nothing registered", "no secrets, text unchanged");
  alaris_secret_add(L, "", 0);
  expect_mask(L, "empty secrets are ignored", 25, "empty secrets are ignored", "empty secret");
  alaris_secret_add(L, "pass", 4);
  alaris_secret_add(L, "password123", 11);
  expect_mask(L, "pw=password123!", 15, "pw=***!", "longest secret wins over its prefix");
  expect_mask(L, "pass pass", 9, "*** ***", "repeated secret");
  expect_mask(L, "passpass", 8, "******", "adjacent secrets");
  expect_mask(L, "pas s", 5, "pas s", "no partial match");
  alaris_secret_add(L, "a\0b", 3);
  expect_mask(L, "x a\0b y", 7, "x *** y", "secrets with NUL bytes");
  alaris_secret_add(L, "pass", 4);
  expect_mask(L, "pass", 4, "***", "registering twice is harmless");
  if (!alaris_secret_in(L, "my password123", 14) || alaris_secret_in(L, "clean", 5)) {
    failed++;
    printf("FAIL alaris_secret_in\n");
  } else {
    passed++;
  }
  lua_close(L);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
