/* alaris.json's strict reader: a recursive-descent check of RFC 8259's grammar that says where a text stops being
 * JSON. cJSON, which builds the values, takes leading zeros, "2.", raw control characters in strings, form feed and
 * NUL as white space, and "\uqqqq"; this check runs first, so none of those reaches it. It builds nothing and does
 * not check that strings are UTF-8: any byte but '"', '\\' and controls stands for itself, as alaris.json writes it. */
#include "datamodel.h"
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *s;
  size_t len, pos;
  const char *why;
} reader;

static int fail(reader *r, const char *why) {
  r->why = why;
  return 0;
}

static int at_end(const reader *r) {
  return r->pos >= r->len;
}

static char peek(const reader *r) {
  return at_end(r) ? '\0' : r->s[r->pos];
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 8259 white space is these four bytes only: not form feed, vertical tab, NUL or Unicode spaces. */
static void skip_space(reader *r) {
  while (!at_end(r) && strchr(" \t\n\r", r->s[r->pos]) && r->s[r->pos] != '\0')
    r->pos++;
}

static int skip_digits(reader *r) {
  size_t start = r->pos;
  while (is_digit(peek(r)))
    r->pos++;
  return r->pos > start;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?, and within the range of a double. */
static int check_number(reader *r) {
  size_t start = r->pos;
  if (peek(r) == '-')
    r->pos++;
  if (!is_digit(peek(r)))
    return fail(r, "a digit expected");
  if (peek(r) == '0') {
    r->pos++;
    if (is_digit(peek(r)))
      return fail(r, "a number does not start with 0 followed by digits");
  } else {
    skip_digits(r);
  }
  if (peek(r) == '.') {
    r->pos++;
    if (!skip_digits(r))
      return fail(r, "a digit expected after the decimal point");
  }
  if (peek(r) == 'e' || peek(r) == 'E') {
    r->pos++;
    if (peek(r) == '+' || peek(r) == '-')
      r->pos++;
    if (!skip_digits(r))
      return fail(r, "a digit expected in the exponent");
  }
  if (isinf(strtod(r->s + start, NULL))) { /* the token ends where strtod stops: the grammar checked it */
    r->pos = start;
    return fail(r, "a number beyond the range of a double");
  }
  return 1;
}

/* The escape after the backslash at r->pos - 1; a bad one is reported at its backslash. */
static int check_escape(reader *r) {
  char c = peek(r);
  int ok = 1;
  if (c == 'u') {
    for (size_t i = 1; i <= 4 && ok; i++)
      ok = r->pos + i < r->len && is_hex(r->s[r->pos + i]);
  } else {
    ok = !at_end(r) && c != '\0' && strchr("\"\\/bfnrt", c);
  }
  if (!ok) {
    r->pos--;
    return fail(r, c == 'u' ? "\\u is followed by four hexadecimal digits"
                            : "an escape is one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
  }
  r->pos += c == 'u' ? 5 : 1;
  return 1;
}

static int check_string(reader *r) {
  r->pos++; /* the opening quote */
  while (!at_end(r)) {
    unsigned char c = (unsigned char)r->s[r->pos];
    if (c == '"') {
      r->pos++;
      return 1;
    }
    if (c < 0x20)
      return fail(r, "a control character in a string (it must be written as an escape)");
    r->pos++;
    if (c == '\\' && !check_escape(r))
      return 0;
  }
  return fail(r, "the text ends inside a string");
}

static int check_literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n) != 0)
    return fail(r, "a value expected (true, false and null are written in lower case)");
  r->pos += n;
  return 1;
}

static int check_value(reader *r, int depth);

/* After an element of an array or a member of an object: ',' and more, or the closing bracket. */
static int next_item(reader *r, char close, int *done) {
  skip_space(r);
  if (peek(r) == ',') {
    r->pos++;
    skip_space(r);
    return 1;
  }
  if (peek(r) == close && !at_end(r)) {
    r->pos++;
    *done = 1;
    return 1;
  }
  if (at_end(r))
    return fail(r, close == ']' ? "the text ends inside an array" : "the text ends inside an object");
  return fail(r, close == ']' ? "',' or ']' expected" : "',' or '}' expected");
}

static int enter(reader *r, int depth, char close) {
  if (depth >= ALARIS_MAX_NESTING)
    return fail(r, "nested deeper than 1000 levels");
  r->pos++;
  skip_space(r);
  if (peek(r) == close && !at_end(r)) {
    r->pos++;
    return 2; /* empty */
  }
  return 1;
}

static int check_array(reader *r, int depth) {
  int entered = enter(r, depth, ']'), done = 0;
  if (entered != 1)
    return entered;
  while (!done)
    if (!check_value(r, depth + 1) || !next_item(r, ']', &done))
      return 0;
  return 1;
}

static int check_member(reader *r, int depth) {
  if (peek(r) != '"' || at_end(r))
    return fail(r, at_end(r) ? "the text ends inside an object" : "a member name (a string) expected");
  if (!check_string(r))
    return 0;
  skip_space(r);
  if (peek(r) != ':' || at_end(r))
    return fail(r, "':' expected after a member name");
  r->pos++;
  skip_space(r);
  return check_value(r, depth + 1);
}

static int check_object(reader *r, int depth) {
  int entered = enter(r, depth, '}'), done = 0;
  if (entered != 1)
    return entered;
  while (!done)
    if (!check_member(r, depth) || !next_item(r, '}', &done))
      return 0;
  return 1;
}

static int check_value(reader *r, int depth) {
  if (at_end(r))
    return fail(r, "a value expected, the text ends");
  switch (r->s[r->pos]) {
  case '{':
    return check_object(r, depth) != 0;
  case '[':
    return check_array(r, depth) != 0;
  case '"':
    return check_string(r);
  case 't':
    return check_literal(r, "true");
  case 'f':
    return check_literal(r, "false");
  case 'n':
    return check_literal(r, "null");
  default:
    if (r->s[r->pos] == '-' || is_digit(r->s[r->pos]))
      return check_number(r);
    return fail(r, "a value expected");
  }
}

int json_check_syntax(const char *s, size_t len, size_t *at, const char **why) {
  reader r = {s, len, 0, NULL};
  skip_space(&r);
  if (at_end(&r)) {
    r.why = "no value";
  } else if (check_value(&r, 0)) {
    skip_space(&r);
    if (at_end(&r))
      return 1;
    r.why = "unexpected text after the value";
  }
  *at = r.pos;
  *why = r.why;
  return 0;
}
