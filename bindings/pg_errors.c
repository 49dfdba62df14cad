/* alaris.pg.core's errors: what libpq reports, as the fields of an alaris error value. A server error result keeps
 * its SQLSTATE, severity, detail, hint, position and object names; a failed connection's verbose message is cleaned
 * (its SQLSTATE moves to a field, LOCATION lines go). It does not decide what is a failure (pg.c, pg_connect.c). */
#include "errors.h"
#include "pg.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_set_field(lua_State *L, const char *name, const char *value) {
  if (value && value[0]) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
  }
}

void pg_push_trimmed(lua_State *L, const char *s) {
  size_t len = strlen(s);
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
    len--;
  lua_pushlstring(L, s, len);
}

/* The code every alaris module uses for the condition a SQLSTATE names (docs/modules/alaris.md), else `otherwise`. */
const char *pg_code_of(const char *sqlstate, const char *otherwise) {
  static const struct {
    const char *prefix, *code;
  } codes[] = {
      {"23505", "conflict"},  {"40001", "conflict"},  {"40P01", "conflict"},  {"42P01", "not_found"},
      {"42703", "not_found"}, {"42704", "not_found"}, {"42883", "not_found"}, {"3D000", "not_found"},
      {"3F000", "not_found"}, {"42501", "forbidden"}, {"28", "unauthorized"}, {"57014", "timeout"},
      {"55P03", "timeout"},   {"42601", "invalid"},   {"22", "invalid"},      {"23502", "invalid"},
      {"23503", "invalid"},   {"23514", "invalid"},
  };
  if (sqlstate)
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
      if (strncmp(sqlstate, codes[i].prefix, strlen(codes[i].prefix)) == 0)
        return codes[i].code;
  return otherwise;
}

/* nil, err from a server error: err.code from the SQLSTATE ("sql" when no common code fits), err.sqlstate,
 * severity, message, detail, hint, position and the object names. */
int pg_fail_sql(lua_State *L, const PGresult *r) {
  const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  const char *code = pg_code_of(PQresultErrorField(r, PG_DIAG_SQLSTATE), "sql");
  if (primary) {
    alaris_fail(L, code, "%s", primary);
  } else {
    pg_push_trimmed(L, PQresultErrorMessage(r));
    alaris_fail(L, code, "%s", lua_tostring(L, -1));
    lua_remove(L, -3);
  }
  static const struct {
    const char *name;
    int code;
  } fields[] = {
      {"sqlstate", PG_DIAG_SQLSTATE},  {"detail", PG_DIAG_MESSAGE_DETAIL},  {"hint", PG_DIAG_MESSAGE_HINT},
      {"context", PG_DIAG_CONTEXT},    {"schema", PG_DIAG_SCHEMA_NAME},     {"table", PG_DIAG_TABLE_NAME},
      {"column", PG_DIAG_COLUMN_NAME}, {"datatype", PG_DIAG_DATATYPE_NAME}, {"constraint", PG_DIAG_CONSTRAINT_NAME},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    pg_set_field(L, fields[i].name, PQresultErrorField(r, fields[i].code));
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  pg_set_field(L, "severity", severity ? severity : PQresultErrorField(r, PG_DIAG_SEVERITY));
  const char *position = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
  if (position) {
    lua_pushinteger(L, (lua_Integer)strtol(position, NULL, 10));
    lua_setfield(L, -2, "position");
  }
  return 2;
}

static int is_sqlstate(const char *s) {
  for (int i = 0; i < 5; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
      return 0;
  return s[5] == ':' && s[6] == ' ';
}

/* A connection failure in libpq's verbose form, cleaned: "FATAL:  28P01: msg" loses its code (kept in
 * err.sqlstate, severity in err.severity) and LOCATION lines go. Pushes the message. */
void pg_push_connect_message(lua_State *L, const char *raw, char sqlstate[6], char severity[16]) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  sqlstate[0] = severity[0] = '\0';
  for (const char *line = raw; *line;) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    if (strncmp(line, "LOCATION:", 9) != 0) {
      const char *mark = line;
      while ((mark = strstr(mark, ":  ")) && mark < line + len && !is_sqlstate(mark + 3))
        mark++;
      if (mark && mark < line + len) {
        const char *word = mark;
        while (word > line && word[-1] != ' ')
          word--;
        if (!sqlstate[0]) {
          memcpy(sqlstate, mark + 3, 5);
          sqlstate[5] = '\0';
          snprintf(severity, 16, "%.*s", (int)(mark - word), word);
        }
        luaL_addlstring(&b, line, (size_t)(mark - line) + 3);
        luaL_addlstring(&b, mark + 10, len - (size_t)(mark + 10 - line));
      } else {
        luaL_addlstring(&b, line, len);
      }
      luaL_addchar(&b, ' ');
    }
    line += len + (eol ? 1 : 0);
  }
  luaL_pushresult(&b);
  pg_push_trimmed(L, lua_tostring(L, -1));
  lua_remove(L, -2);
}
