/* alaris.sigv4's canonical request, as SigV4 defines it: AWS UriEncode, percent-decoding, path normalisation (or
 * S3's decode-then-encode-once per segment), the sorted and re-encoded query, the sorted, trimmed and folded signed
 * headers, and the canonical request that joins them. It reads no arguments, hashes nothing and signs nothing. */
#include "sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int is_unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* AWS UriEncode: every byte but the unreserved ones and those in `keep` becomes %XX (upper-case hex). */
void sigv4_add_encoded(luaL_Buffer *b, const char *s, size_t n, const char *keep) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_unreserved(c) || (c && strchr(keep, c))) {
      luaL_addchar(b, (char)c);
    } else {
      luaL_addchar(b, '%');
      luaL_addchar(b, digits[c >> 4]);
      luaL_addchar(b, digits[c & 15]);
    }
  }
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decoding into out (at least n bytes); a '%' not followed by two hex digits stays as it is, and '+'
 * stays '+' (SigV4 is not HTML forms). Returns the decoded length. */
static size_t decode_into(const char *s, size_t n, char *out) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out[len++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out[len++] = s[i];
    }
  }
  return len;
}

/* Removes "." and ".." segments and empty segments (duplicate slashes), as the SigV4 suite's normalize does. */
static size_t normalize_path(const char *in, size_t n, char *out) {
  size_t len = 0, i = 0;
  int dir = 0; /* the result ends in a directory: keep a trailing slash */
  while (i < n) {
    size_t j = i;
    while (j < n && in[j] != '/')
      j++;
    size_t seg = j - i;
    if (seg == 0 || (seg == 1 && in[i] == '.')) {
      dir = seg == 1 || dir;
    } else if (seg == 2 && in[i] == '.' && in[i + 1] == '.') {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      dir = 1;
    } else {
      out[len++] = '/';
      memcpy(out + len, in + i, seg);
      len += seg;
      dir = 0;
    }
    if (j < n && seg > 0)
      dir = 1;
    i = j + 1;
  }
  if (len == 0 || dir)
    out[len++] = '/';
  return len;
}

/* S3's canonical path: each segment percent-decoded, then encoded once, so a raw key and an encoded one sign
 * alike and an escaped dot segment (%2E%2E) stays escaped on the wire but canonical as "..". */
static void add_segments_once(luaL_Buffer *b, const char *path, size_t n, char *scratch) {
  size_t i = 0;
  for (;;) {
    size_t j = i;
    while (j < n && path[j] != '/')
      j++;
    sigv4_add_encoded(b, scratch, decode_into(path + i, j - i, scratch), "");
    if (j >= n)
      break;
    luaL_addchar(b, '/');
    i = j + 1;
  }
}

static void push_canonical_path(lua_State *L, const request *r) {
  size_t n = r->path_len;
  char *work = lua_newuserdatauv(L, 2 * n + 4, 0); /* the normalised path, then a scratch for decoding */
  const char *path = r->path;
  if (r->normalize) {
    n = normalize_path(path, n, work);
    path = work;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (r->double_encode)
    sigv4_add_encoded(&b, path, n, "/");
  else
    add_segments_once(&b, path, n, work + r->path_len + 2);
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

static void push_reencoded(lua_State *L, const char *s, size_t n) {
  char *decoded = lua_newuserdatauv(L, n + 1, 0);
  size_t dlen = decode_into(s, n, decoded);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  sigv4_add_encoded(&b, decoded, dlen, "");
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

void sigv4_add_param(lua_State *L, request *r, params *ps, const char *name, size_t nlen, const char *value,
                     size_t vlen) {
  param *p = &ps->items[ps->n++];
  push_reencoded(L, name, nlen);
  p->name = sigv4_anchor_string(L, r, &p->nlen);
  push_reencoded(L, value, vlen);
  p->value = sigv4_anchor_string(L, r, &p->vlen);
}

static int compare_bytes(const char *a, size_t an, const char *b, size_t bn) {
  int c = memcmp(a, b, an < bn ? an : bn);
  return c ? c : (an > bn) - (an < bn);
}

static int compare_params(const void *a, const void *b) {
  const param *x = a, *y = b;
  int c = compare_bytes(x->name, x->nlen, y->name, y->nlen);
  return c ? c : compare_bytes(x->value, x->vlen, y->value, y->vlen);
}

/* Splits the raw query on '&' (each part name[=value]) into ps; the parts are decoded then re-encoded. */
void sigv4_parse_query(lua_State *L, request *r, params *ps, int extra) {
  size_t n = r->query_len;
  int count = 1;
  for (size_t i = 0; i < n; i++)
    count += r->query[i] == '&';
  ps->max = count + extra;
  ps->n = 0;
  ps->items = lua_newuserdatauv(L, sizeof(param) * (size_t)ps->max, 0);
  sigv4_anchor_top(L, r);
  size_t i = 0;
  while (i < n) {
    const char *part = r->query + i;
    const char *amp = memchr(part, '&', n - i); /* not strcspn: a NUL in the query is a byte like any other */
    size_t plen = amp ? (size_t)(amp - part) : n - i;
    if (plen > 0) {
      const char *eq = memchr(part, '=', plen);
      size_t klen = eq ? (size_t)(eq - part) : plen;
      sigv4_add_param(L, r, ps, part, klen, eq ? eq + 1 : "", eq ? plen - klen - 1 : 0);
    }
    i += plen + 1;
  }
}

void sigv4_push_canonical_query(lua_State *L, params *ps) {
  qsort(ps->items, (size_t)ps->n, sizeof(param), compare_params);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < ps->n; i++) {
    if (i)
      luaL_addchar(&b, '&');
    luaL_addlstring(&b, ps->items[i].name, ps->items[i].nlen);
    luaL_addchar(&b, '=');
    luaL_addlstring(&b, ps->items[i].value, ps->items[i].vlen);
  }
  luaL_pushresult(&b);
}

static int compare_names(const header *a, const header *b) {
  size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
  for (size_t i = 0; i < n; i++) {
    int c = tolower((unsigned char)a->name[i]) - tolower((unsigned char)b->name[i]);
    if (c)
      return c;
  }
  return (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

static int compare_headers(const void *a, const void *b) {
  const header *x = *(const header *const *)a, *y = *(const header *const *)b;
  int c = compare_names(x, y);
  return c ? c : x->order - y->order;
}

/* Trimmed, with every run of white space (folded line breaks included) turned into one space. */
void sigv4_add_header_value(luaL_Buffer *b, const char *v, size_t n) {
  size_t i = 0;
  while (n > 0 && is_space(v[n - 1]))
    n--;
  while (i < n && is_space(v[i]))
    i++;
  for (; i < n; i++) {
    if (is_space(v[i])) {
      while (i + 1 < n && is_space(v[i + 1]))
        i++;
      luaL_addchar(b, ' ');
    } else {
      luaL_addchar(b, v[i]);
    }
  }
}

static void add_lower(luaL_Buffer *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    luaL_addchar(b, (char)tolower((unsigned char)s[i]));
}

/* The signed headers sorted by lower-case name (stable), in an array kept alive by the anchor. */
static const header **sorted_signed_headers(lua_State *L, request *r, int *count) {
  const header **sorted = lua_newuserdatauv(L, sizeof(header *) * (size_t)(r->nheaders + 1), 0);
  sigv4_anchor_top(L, r);
  int n = 0;
  for (int i = 0; i < r->nheaders; i++)
    if (r->headers[i].is_signed)
      sorted[n++] = &r->headers[i];
  qsort(sorted, (size_t)n, sizeof(header *), compare_headers);
  *count = n;
  return sorted;
}

/* Pushes the canonical header block ("name:v1,v2\n" per name) then the signed header list ("a;b"). */
void sigv4_push_canonical_headers(lua_State *L, request *r) {
  int n;
  const header **sorted = sorted_signed_headers(L, r, &n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    int same = i > 0 && compare_names(sorted[i - 1], sorted[i]) == 0;
    if (same) {
      luaL_addchar(&b, ',');
    } else {
      if (i)
        luaL_addchar(&b, '\n');
      add_lower(&b, sorted[i]->name, sorted[i]->nlen);
      luaL_addchar(&b, ':');
    }
    sigv4_add_header_value(&b, sorted[i]->value, sorted[i]->vlen);
  }
  if (n)
    luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  luaL_buffinit(L, &b);
  for (int i = 0; i < n; i++) {
    if (i > 0 && compare_names(sorted[i - 1], sorted[i]) == 0)
      continue;
    if (i)
      luaL_addchar(&b, ';');
    add_lower(&b, sorted[i]->name, sorted[i]->nlen);
  }
  luaL_pushresult(&b);
}

/* Pushes the canonical request built from the method, path, query (already on the stack at `query`), headers. */
void sigv4_push_canonical_request(lua_State *L, request *r, int query, int headers, int signed_list) {
  lua_pushfstring(L, "%s\n", r->method);
  push_canonical_path(L, r);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, query);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, headers);
  lua_pushliteral(L, "\n");
  lua_pushvalue(L, signed_list);
  lua_pushfstring(L, "\n%s", r->payload_hash);
  lua_concat(L, 9);
}
