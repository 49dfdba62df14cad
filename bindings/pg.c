/* alaris.pg.core: PostgreSQL connections over libpq that never block the event loop.
 *
 * Connecting (PQconnectStart + PQconnectPoll) and every query (PQsend*, PQflush, PQconsumeInput) wait on the
 * connection's socket through alaris_wait_fd, so queries on different connections in different tasks overlap.
 * Results come back as Lua tables decoded by type OID; SQL errors as `nil, err` with the server's fields.
 * A task cancelled while its query runs sends the server a cancel request (PQcancel: a short blocking connect)
 * and closes the connection, whose state is then unknown. Policy (transactions) lives in stdlib/alaris/pg.lua.
 * Not supported: COPY data, LISTEN/NOTIFY delivery, large objects, pipelining, multi-dimensional arrays as tables. */
#include "errors.h"
#include "loop.h"
#include "secrets.h"

#include <lauxlib.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONN_TYPE "alaris.pg.conn"
#define NULL_TYPE "alaris.pg.null"
#define ESCAPER_TYPE "alaris.pg.escaper"
#define RESULT_TYPE "alaris.pg.result"
#define MAX_NOTICES 100

static const char NULL_KEY = 'n';    /* registry key of the pg.null sentinel */
static const char ESCAPER_KEY = 'e'; /* registry key of the connection-less PGconn used by pg.quote_* */

/* --- types ---------------------------------------------------------------------------------------------------- */

enum kind { KIND_TEXT, KIND_INT, KIND_FLOAT, KIND_BOOL, KIND_BYTEA, KIND_ARRAY };

typedef struct pg_type {
  Oid oid;
  const char *name;
  enum kind kind;
  Oid element; /* arrays: the element type */
} pg_type;

static const pg_type TYPES[] = {
    {16, "bool", KIND_BOOL, 0},
    {17, "bytea", KIND_BYTEA, 0},
    {18, "char", KIND_TEXT, 0},
    {19, "name", KIND_TEXT, 0},
    {20, "int8", KIND_INT, 0},
    {21, "int2", KIND_INT, 0},
    {23, "int4", KIND_INT, 0},
    {25, "text", KIND_TEXT, 0},
    {26, "oid", KIND_INT, 0},
    {114, "json", KIND_TEXT, 0},
    {142, "xml", KIND_TEXT, 0},
    {700, "float4", KIND_FLOAT, 0},
    {701, "float8", KIND_FLOAT, 0},
    {705, "unknown", KIND_TEXT, 0},
    {790, "money", KIND_TEXT, 0},
    {869, "inet", KIND_TEXT, 0},
    {650, "cidr", KIND_TEXT, 0},
    {1042, "bpchar", KIND_TEXT, 0},
    {1043, "varchar", KIND_TEXT, 0},
    {1082, "date", KIND_TEXT, 0},
    {1083, "time", KIND_TEXT, 0},
    {1114, "timestamp", KIND_TEXT, 0},
    {1184, "timestamptz", KIND_TEXT, 0},
    {1186, "interval", KIND_TEXT, 0},
    {1266, "timetz", KIND_TEXT, 0},
    {1700, "numeric", KIND_TEXT, 0},
    {2278, "void", KIND_TEXT, 0},
    {2950, "uuid", KIND_TEXT, 0},
    {3220, "pg_lsn", KIND_TEXT, 0},
    {3802, "jsonb", KIND_TEXT, 0},
    {1000, "bool[]", KIND_ARRAY, 16},
    {1001, "bytea[]", KIND_ARRAY, 17},
    {1002, "char[]", KIND_ARRAY, 18},
    {1003, "name[]", KIND_ARRAY, 19},
    {1016, "int8[]", KIND_ARRAY, 20},
    {1005, "int2[]", KIND_ARRAY, 21},
    {1007, "int4[]", KIND_ARRAY, 23},
    {1009, "text[]", KIND_ARRAY, 25},
    {1028, "oid[]", KIND_ARRAY, 26},
    {199, "json[]", KIND_ARRAY, 114},
    {1021, "float4[]", KIND_ARRAY, 700},
    {1022, "float8[]", KIND_ARRAY, 701},
    {1014, "bpchar[]", KIND_ARRAY, 1042},
    {1015, "varchar[]", KIND_ARRAY, 1043},
    {1182, "date[]", KIND_ARRAY, 1082},
    {1183, "time[]", KIND_ARRAY, 1083},
    {1115, "timestamp[]", KIND_ARRAY, 1114},
    {1185, "timestamptz[]", KIND_ARRAY, 1184},
    {1187, "interval[]", KIND_ARRAY, 1186},
    {1270, "timetz[]", KIND_ARRAY, 1266},
    {1231, "numeric[]", KIND_ARRAY, 1700},
    {2951, "uuid[]", KIND_ARRAY, 2950},
    {3807, "jsonb[]", KIND_ARRAY, 3802},
};

static const pg_type UNKNOWN_TYPE = {0, NULL, KIND_TEXT, 0};

static const pg_type *type_of(Oid oid) {
  for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
    if (TYPES[i].oid == oid)
      return &TYPES[i];
  return &UNKNOWN_TYPE;
}

/* Parameter types whose binary input is their raw bytes: a string holding NUL or `\` is sent to them in binary
 * format, so bytea gets exactly those bytes and text types reject a NUL themselves. */
static int takes_raw_bytes(Oid oid) {
  return oid == 17 || oid == 25 || oid == 1043 || oid == 1042 || oid == 19 || oid == 705 || oid == 18;
}

/* --- decoding values ------------------------------------------------------------------------------------------ */

static void push_null(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* bytea's text output: `\x` + hex (the default), or the old escape format (`\\`, `\ooo`). */
static void push_bytea(lua_State *L, const char *s, size_t len) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
    for (size_t i = 2; i + 1 < len; i += 2)
      luaL_addchar(&b, (char)(hex_digit(s[i]) * 16 + hex_digit(s[i + 1])));
  } else {
    for (size_t i = 0; i < len; i++) {
      if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\\') {
        luaL_addchar(&b, '\\');
        i++;
      } else if (s[i] == '\\' && i + 3 < len) {
        luaL_addchar(&b, (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
      } else {
        luaL_addchar(&b, s[i]);
      }
    }
  }
  luaL_pushresult(&b);
}

static void push_scalar(lua_State *L, const char *s, size_t len, enum kind kind) {
  switch (kind) {
  case KIND_INT:
    lua_pushinteger(L, (lua_Integer)strtoll(s, NULL, 10));
    break;
  case KIND_FLOAT:
    lua_pushnumber(L, strtod(s, NULL));
    break;
  case KIND_BOOL:
    lua_pushboolean(L, s[0] == 't');
    break;
  case KIND_BYTEA:
    push_bytea(L, s, len);
    break;
  default:
    lua_pushlstring(L, s, len);
  }
}

/* One element of an array's text form at *p: quoted (backslash escapes), NULL, or bare up to `,` or `}`. */
static void push_array_element(lua_State *L, const char **p, const char *end, enum kind kind) {
  const char *s = *p;
  if (*s == '"') {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (s++; s < end && *s != '"'; s++) {
      if (*s == '\\' && s + 1 < end)
        s++;
      luaL_addchar(&b, *s);
    }
    *p = s < end ? s + 1 : s;
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    push_scalar(L, text, len, kind);
    lua_remove(L, -2);
    return;
  }
  const char *start = s;
  while (s < end && *s != ',' && *s != '}')
    s++;
  *p = s;
  if (s - start == 4 && strncasecmp(start, "NULL", 4) == 0)
    push_null(L);
  else
    push_scalar(L, start, (size_t)(s - start), kind);
}

/* A one-dimensional array's text form ({a,"b c",NULL}, maybe after [lo:hi]=) as a Lua array; returns 0 and
 * pushes nothing for anything else (multi-dimensional arrays stay text). */
static int push_array(lua_State *L, const char *s, size_t len, enum kind kind) {
  const char *p = s, *end = s + len;
  if (*p == '[') {
    p = memchr(p, '=', len);
    if (!p || memchr(s + 1, '[', (size_t)(p - s - 1)))
      return 0;
    p++;
  }
  if (p >= end || *p != '{' || (p + 1 < end && p[1] == '{'))
    return 0;
  p++;
  lua_newtable(L);
  lua_Integer n = 0;
  while (p < end && *p != '}') {
    push_array_element(L, &p, end, kind);
    lua_rawseti(L, -2, ++n);
    if (p < end && *p == ',')
      p++;
  }
  return 1;
}

static void push_value(lua_State *L, const PGresult *r, int row, int col, const pg_type *type) {
  if (PQgetisnull(r, row, col)) {
    push_null(L);
    return;
  }
  const char *s = PQgetvalue(r, row, col);
  size_t len = (size_t)PQgetlength(r, row, col);
  if (type->kind == KIND_ARRAY) {
    if (!push_array(L, s, len, type_of(type->element)->kind))
      lua_pushlstring(L, s, len);
    return;
  }
  push_scalar(L, s, len, type->kind);
}

/* --- results -------------------------------------------------------------------------------------------------- */

/* A PGresult owned by the Lua stack while it is converted, so an allocation error cannot leak it. */
static PGresult **hold_result(lua_State *L, PGresult *r) {
  PGresult **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = r;
  luaL_setmetatable(L, RESULT_TYPE);
  return box;
}

static int result_gc(lua_State *L) {
  PGresult **box = luaL_checkudata(L, 1, RESULT_TYPE);
  PQclear(*box);
  *box = NULL;
  return 0;
}

/* res.fields: {name = ..., type = "int4" (nil for types this module does not know), oid = 23} per column. */
static void push_fields(lua_State *L, const PGresult *r, int ncols) {
  lua_createtable(L, ncols, 0);
  for (int c = 0; c < ncols; c++) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, PQfname(r, c));
    lua_setfield(L, -2, "name");
    const pg_type *t = type_of(PQftype(r, c));
    lua_pushstring(L, t->name);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)PQftype(r, c));
    lua_setfield(L, -2, "oid");
    lua_rawseti(L, -2, c + 1);
  }
}

static void push_rows(lua_State *L, const PGresult *r, int nrows, int ncols, int res) {
  const pg_type **types = lua_newuserdatauv(L, sizeof *types * (size_t)(ncols ? ncols : 1), 0);
  lua_createtable(L, ncols, 0); /* column names, pushed once */
  int names = lua_gettop(L);
  for (int c = 0; c < ncols; c++) {
    types[c] = type_of(PQftype(r, c));
    lua_pushstring(L, PQfname(r, c));
    lua_rawseti(L, names, c + 1);
  }
  for (int row = 0; row < nrows; row++) {
    lua_createtable(L, 0, ncols);
    for (int c = 0; c < ncols; c++) {
      lua_rawgeti(L, names, c + 1);
      push_value(L, r, row, c, types[c]);
      lua_rawset(L, -3);
    }
    lua_rawseti(L, res, row + 1);
  }
  lua_pop(L, 2);
}

/* {rows..., fields = {...}, command = "SELECT 2", count = 2}; count is the rows affected or returned. */
static void push_result(lua_State *L, const PGresult *r) {
  int nrows = PQntuples(r), ncols = PQnfields(r);
  luaL_checkstack(L, 12, "decoding a result");
  lua_createtable(L, nrows, 3);
  int res = lua_gettop(L);
  push_rows(L, r, nrows, ncols, res);
  push_fields(L, r, ncols);
  lua_setfield(L, res, "fields");
  lua_pushstring(L, PQcmdStatus((PGresult *)r));
  lua_setfield(L, res, "command");
  const char *affected = PQcmdTuples((PGresult *)r);
  lua_pushinteger(L, affected[0] ? (lua_Integer)strtoll(affected, NULL, 10) : nrows);
  lua_setfield(L, res, "count");
}

/* --- errors --------------------------------------------------------------------------------------------------- */

static void set_field(lua_State *L, const char *name, const char *value) {
  if (value && value[0]) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
  }
}

static void push_trimmed(lua_State *L, const char *s) {
  size_t len = strlen(s);
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
    len--;
  lua_pushlstring(L, s, len);
}

/* nil, err from a server error: err.sqlstate, severity, message, detail, hint, position and the object names. */
static int fail_sql(lua_State *L, const PGresult *r) {
  const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  if (primary) {
    alaris_fail(L, "sql", "%s", primary);
  } else {
    push_trimmed(L, PQresultErrorMessage(r));
    alaris_fail(L, "sql", "%s", lua_tostring(L, -1));
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
    set_field(L, fields[i].name, PQresultErrorField(r, fields[i].code));
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  set_field(L, "severity", severity ? severity : PQresultErrorField(r, PG_DIAG_SEVERITY));
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
static void push_connect_message(lua_State *L, const char *raw, char sqlstate[6], char severity[16]) {
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
  push_trimmed(L, lua_tostring(L, -1));
  lua_remove(L, -2);
}

/* --- connections ---------------------------------------------------------------------------------------------- */

/* A command's steps: SEND waits until the socket takes the first message (so a task that cannot wait, being
 * cancelled or a nested coroutine, raises before anything reaches the server); PREPARE and DESCRIBE learn the
 * parameter types when they decide the format; EXECUTE gathers the results. */
enum phase { PHASE_IDLE, PHASE_SEND, PHASE_PREPARE, PHASE_DESCRIBE, PHASE_EXECUTE };

typedef struct notice {
  char *severity, *sqlstate, *message, *detail, *hint;
} notice;

typedef struct pg_conn {
  PGconn *conn; /* NULL once closed */
  const char *closed_why;
  int busy; /* a task waits for a query on this connection */
  alaris_task *waiter;
  enum phase phase;
  int simple; /* db:exec: the simple query protocol */
  int flushing, copy_out, copy_refused;
  PGresult *result; /* the last result of the command in flight */
  PGresult *error;  /* its first error */
  double deadline;  /* connecting: when connect_timeout ends (< 0: never) */
  notice notices[MAX_NOTICES];
  int nnotices;
} pg_conn;

static char *copy_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static void free_notice(notice *n) {
  free(n->severity);
  free(n->sqlstate);
  free(n->message);
  free(n->detail);
  free(n->hint);
}

/* PQsetNoticeReceiver callback: keep the newest MAX_NOTICES notices until db:notices() takes them. */
static void on_notice(void *arg, const PGresult *r) {
  pg_conn *pc = arg;
  if (pc->nnotices == MAX_NOTICES) {
    free_notice(&pc->notices[0]);
    memmove(pc->notices, pc->notices + 1, sizeof pc->notices[0] * (MAX_NOTICES - 1));
    pc->nnotices--;
  }
  const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
  pc->notices[pc->nnotices++] = (notice){
      .severity = copy_or_null(severity ? severity : PQresultErrorField(r, PG_DIAG_SEVERITY)),
      .sqlstate = copy_or_null(PQresultErrorField(r, PG_DIAG_SQLSTATE)),
      .message = copy_or_null(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)),
      .detail = copy_or_null(PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)),
      .hint = copy_or_null(PQresultErrorField(r, PG_DIAG_MESSAGE_HINT)),
  };
}

static void clear_notices(pg_conn *pc) {
  for (int i = 0; i < pc->nnotices; i++)
    free_notice(&pc->notices[i]);
  pc->nnotices = 0;
}

static void end_command(pg_conn *pc) {
  PQclear(pc->result);
  PQclear(pc->error);
  pc->result = pc->error = NULL;
  pc->busy = pc->simple = pc->flushing = pc->copy_out = pc->copy_refused = 0;
  pc->waiter = NULL;
  pc->phase = PHASE_IDLE;
}

/* Ask the server to stop what this connection runs. PQcancel blocks while it opens a connection to the server. */
static void send_cancel(PGconn *conn) {
  PGcancel *cancel = PQgetCancel(conn);
  if (cancel) {
    char errbuf[256];
    PQcancel(cancel, errbuf, sizeof errbuf);
    PQfreeCancel(cancel);
  }
}

static void close_conn(pg_conn *pc, const char *why) {
  if (pc->conn) {
    if (PQstatus(pc->conn) == CONNECTION_OK && PQtransactionStatus(pc->conn) == PQTRANS_ACTIVE)
      send_cancel(pc->conn);
    PQfinish(pc->conn);
    pc->conn = NULL;
    pc->closed_why = why;
  }
  end_command(pc);
  clear_notices(pc);
}

static pg_conn *check_open(lua_State *L, int idx) {
  pg_conn *pc = luaL_checkudata(L, idx, CONN_TYPE);
  if (!pc->conn)
    luaL_error(L, "attempt to use a closed connection%s%s%s", pc->closed_why ? " (" : "",
               pc->closed_why ? pc->closed_why : "", pc->closed_why ? ")" : "");
  return pc;
}

/* An open connection no other task is using. A command this very task left behind was abandoned by an error
 * raised at its wait: before anything was sent it is simply dropped, after that the connection is unusable. */
static pg_conn *check_idle(lua_State *L, int idx) {
  pg_conn *pc = check_open(L, idx);
  if (pc->busy && pc->waiter == alaris_current_task(L)) {
    if (pc->phase != PHASE_SEND) {
      close_conn(pc, "its query was interrupted");
      check_open(L, idx);
    }
    end_command(pc);
  }
  if (pc->busy)
    luaL_error(L, "the connection is busy with a query of another task");
  return pc;
}

static int conn_close(lua_State *L) {
  pg_conn *pc = luaL_checkudata(L, 1, CONN_TYPE);
  if (pc->busy && pc->waiter && pc->waiter != alaris_current_task(L))
    return luaL_error(L, "cannot close a connection while another task waits for its query");
  close_conn(pc, NULL);
  return 0;
}

static int conn_gc(lua_State *L) {
  close_conn(luaL_checkudata(L, 1, CONN_TYPE), NULL);
  return 0;
}

static int conn_tostring(lua_State *L) {
  pg_conn *pc = luaL_checkudata(L, 1, CONN_TYPE);
  if (pc->conn)
    lua_pushfstring(L, "alaris.pg.conn %s:%s/%s", PQhost(pc->conn), PQport(pc->conn), PQdb(pc->conn));
  else
    lua_pushliteral(L, "alaris.pg.conn (closed)");
  return 1;
}

static int conn_closed(lua_State *L) {
  lua_pushboolean(L, ((pg_conn *)luaL_checkudata(L, 1, CONN_TYPE))->conn == NULL);
  return 1;
}

static int conn_transaction_status(lua_State *L) {
  static const char *const names[] = {"idle", "active", "intrans", "inerror", "unknown"};
  PGTransactionStatusType s = PQtransactionStatus(check_open(L, 1)->conn);
  lua_pushstring(L, names[s <= PQTRANS_UNKNOWN ? s : PQTRANS_UNKNOWN]);
  return 1;
}

/* db:notices() -> {{severity, sqlstate, message, detail, hint}, ...}: the notices received since the last call. */
static int conn_notices(lua_State *L) {
  pg_conn *pc = check_open(L, 1);
  lua_createtable(L, pc->nnotices, 0);
  for (int i = 0; i < pc->nnotices; i++) {
    notice *n = &pc->notices[i];
    lua_createtable(L, 0, 5);
    set_field(L, "severity", n->severity);
    set_field(L, "sqlstate", n->sqlstate);
    set_field(L, "message", n->message);
    set_field(L, "detail", n->detail);
    set_field(L, "hint", n->hint);
    lua_rawseti(L, -2, i + 1);
  }
  clear_notices(pc);
  return 1;
}

/* --- connecting ----------------------------------------------------------------------------------------------- */

/* Conninfo keywords may be shown in a parse error; any other quoted text might be (part of) a password. */
static int is_conninfo_keyword(const char *s, size_t len) {
  PQconninfoOption *opts = PQconndefaults();
  int found = 0;
  for (PQconninfoOption *o = opts; o && o->keyword && !found; o++)
    found = strlen(o->keyword) == len && memcmp(o->keyword, s, len) == 0;
  PQconninfoFree(opts);
  return found;
}

/* libpq's conninfo parse error with every quoted fragment that is not a keyword replaced by "...". */
static void push_parse_error(lua_State *L, const char *msg) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "invalid connection string: ");
  const char *p = msg;
  const char *open, *close;
  while ((open = strchr(p, '"')) && (close = strchr(open + 1, '"'))) {
    luaL_addlstring(&b, p, (size_t)(open - p) + 1);
    size_t len = (size_t)(close - open - 1);
    if ((len == 1 && open[1] == '=') || is_conninfo_keyword(open + 1, len))
      luaL_addlstring(&b, open + 1, len);
    else
      luaL_addstring(&b, "...");
    luaL_addchar(&b, '"');
    p = close + 1;
  }
  luaL_addstring(&b, p);
  luaL_pushresult(&b);
  push_trimmed(L, lua_tostring(L, -1));
  lua_remove(L, -2);
}

/* Checks a conninfo string and registers its password as a secret; on a bad string pushes nil, err. */
static int vet_conninfo(lua_State *L, const char *conninfo) {
  char *errmsg = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
  if (!opts) {
    push_parse_error(L, errmsg ? errmsg : "out of memory");
    PQfreemem(errmsg);
    alaris_fail(L, "connect", "%s", lua_tostring(L, -1));
    lua_remove(L, -3);
    return 0;
  }
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val)
      alaris_secret_add(L, o->val, strlen(o->val));
  PQconninfoFree(opts);
  return 1;
}

static const char *want_utf8(void) {
  return getenv("PGCLIENTENCODING") ? NULL : "UTF8";
}

static PGconn *start_from_string(const char *conninfo) {
  const char *keywords[] = {"client_encoding", "dbname", NULL};
  const char *values[] = {want_utf8(), conninfo, NULL};
  return PQconnectStartParams(keywords, values, 1);
}

/* pg.connect{host = ..., port = 5432, ...}: keys and values (strings or numbers) as libpq keywords. */
static PGconn *start_from_table(lua_State *L, int idx) {
  int n = 0, has_encoding = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
  }
  const char **keywords = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 2) * 2, 0);
  const char **values = keywords + n + 2;
  lua_createtable(L, n, 0); /* keeps the strings made from numbers alive */
  int anchor = lua_gettop(L), i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
      luaL_error(L, "connection options must be name = string or number pairs");
    keywords[i] = lua_tostring(L, -2);
    values[i] = lua_tostring(L, -1);
    lua_rawseti(L, anchor, i + 1);
    if (strcmp(keywords[i], "password") == 0)
      alaris_secret_add(L, values[i], strlen(values[i]));
    has_encoding |= strcmp(keywords[i], "client_encoding") == 0;
    i++;
  }
  if (!has_encoding && want_utf8()) {
    keywords[i] = "client_encoding";
    values[i++] = want_utf8();
  }
  keywords[i] = values[i] = NULL;
  PGconn *conn = PQconnectStartParams(keywords, values, 0);
  lua_pop(L, 2);
  return conn;
}

/* connect_timeout as libpq resolved it (argument or PGCONNECT_TIMEOUT), as a deadline; libpq applies its own only
 * to blocking connects. */
static double connect_deadline(PGconn *conn) {
  double deadline = -1;
  PQconninfoOption *opts = PQconninfo(conn);
  for (PQconninfoOption *o = opts; o && o->keyword; o++) {
    if (strcmp(o->keyword, "connect_timeout") == 0 && o->val) {
      double seconds = strtod(o->val, NULL);
      if (seconds > 0)
        deadline = alaris_now() + seconds;
    }
  }
  PQconninfoFree(opts);
  return deadline;
}

static int connect_failed(lua_State *L, pg_conn *pc) {
  char sqlstate[6], severity[16];
  push_connect_message(L, PQerrorMessage(pc->conn), sqlstate, severity);
  close_conn(pc, "the connection failed");
  alaris_fail(L, "connect", "%s", lua_tostring(L, -1));
  set_field(L, "sqlstate", sqlstate);
  set_field(L, "severity", severity);
  return 2;
}

static int connect_timed_out(lua_State *L, pg_conn *pc) {
  lua_pushfstring(L, "could not connect to %s port %s within connect_timeout", PQhost(pc->conn), PQport(pc->conn));
  close_conn(pc, "the connection timed out");
  return alaris_fail(L, "timeout", "%s", lua_tostring(L, -1));
}

static int connect_done(lua_State *L, pg_conn *pc) {
  PQsetnonblocking(pc->conn, 1);
  PQsetErrorVerbosity(pc->conn, PQERRORS_DEFAULT);
  const char *password = PQpass(pc->conn);
  if (password)
    alaris_secret_add(L, password, strlen(password));
  lua_settop(L, 2);
  return 1;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx);

static int connect_step(lua_State *L, pg_conn *pc, PostgresPollingStatusType st) {
  for (;;) {
    if (st == PGRES_POLLING_OK)
      return connect_done(L, pc);
    if (st == PGRES_POLLING_FAILED)
      return connect_failed(L, pc);
    if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
      double left = pc->deadline < 0 ? -1 : pc->deadline - alaris_now();
      if (pc->deadline >= 0 && left <= 0)
        return connect_timed_out(L, pc);
      short events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
      return alaris_wait_fd(L, PQsocket(pc->conn), events, left, connect_k, 0);
    }
    st = PQconnectPoll(pc->conn);
  }
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  pg_conn *pc = luaL_checkudata(L, 2, CONN_TYPE);
  switch (alaris_resume_reason(L)) {
  case ALARIS_CANCELLED:
    close_conn(pc, "connecting was cancelled");
    return alaris_raise_cancelled(L);
  case ALARIS_TIMEOUT:
    return connect_timed_out(L, pc);
  default:
    return connect_step(L, pc, PQconnectPoll(pc->conn));
  }
}

/* pg.connect([conninfo | options]) -> conn | nil, err */
static int l_connect(lua_State *L) {
  int t = lua_type(L, 1);
  luaL_argexpected(L, t == LUA_TNONE || t == LUA_TNIL || t == LUA_TSTRING || t == LUA_TTABLE, 1, "string or table");
  lua_settop(L, 1);
  pg_conn *pc = lua_newuserdatauv(L, sizeof *pc, 0); /* index 2, closed until the connection exists */
  memset(pc, 0, sizeof *pc);
  luaL_setmetatable(L, CONN_TYPE);
  if (t == LUA_TSTRING && !vet_conninfo(L, lua_tostring(L, 1)))
    return 2;
  pc->conn = t == LUA_TTABLE ? start_from_table(L, 1) : start_from_string(t == LUA_TSTRING ? lua_tostring(L, 1) : "");
  if (!pc->conn)
    return alaris_fail(L, "connect", "out of memory");
  PQsetNoticeReceiver(pc->conn, on_notice, pc);
  if (PQstatus(pc->conn) == CONNECTION_BAD)
    return connect_failed(L, pc);
  PQsetErrorVerbosity(pc->conn, PQERRORS_VERBOSE); /* so a failure names its SQLSTATE (28P01, 3D000, ...) */
  pc->deadline = connect_deadline(pc->conn);
  return connect_step(L, pc, PGRES_POLLING_WRITING);
}

/* --- parameters ----------------------------------------------------------------------------------------------- */

typedef struct params {
  const char **values;
  int *lengths, *formats;
  char (*text)[32];
  int raw; /* some string holds NUL or `\`: its parameter type decides its format */
} params;

static const char *null_or_text(lua_State *L, int idx, char *buf) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return NULL;
  case LUA_TBOOLEAN:
    return lua_toboolean(L, idx) ? "t" : "f";
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      snprintf(buf, 32, LUA_INTEGER_FMT, lua_tointeger(L, idx));
    } else {
      double d = lua_tonumber(L, idx);
      if (isnan(d))
        return "NaN";
      if (isinf(d))
        return d > 0 ? "Infinity" : "-Infinity";
      for (int prec = 15; prec <= 17; prec++) { /* the shortest text that reads back as the same double */
        snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
          break;
      }
    }
    return buf;
  default:
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    int is_null = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    if (!is_null)
      luaL_argerror(L, idx, "nil, pg.null, boolean, number or string expected");
    return NULL;
  }
}

/* The parameters at stack indices first..first+n-1, in a userdata left on the stack. Numbers, booleans and plain
 * strings go as text of an unspecified type (the server infers it); see takes_raw_bytes for the rest. */
static params *build_params(lua_State *L, int first, int n, const PGresult *described) {
  size_t each = sizeof(char *) + 2 * sizeof(int) + 32;
  params *p = lua_newuserdatauv(L, sizeof *p + each * (size_t)n, 0);
  p->values = (const char **)(p + 1);
  p->text = (char(*)[32])(p->values + n);
  p->lengths = (int *)(p->text + n);
  p->formats = p->lengths + n;
  p->raw = 0;
  for (int i = 0; i < n; i++) {
    int idx = first + i;
    p->lengths[i] = p->formats[i] = 0;
    if (lua_type(L, idx) != LUA_TSTRING) {
      p->values[i] = null_or_text(L, idx, p->text[i]);
      continue;
    }
    size_t len;
    p->values[i] = lua_tolstring(L, idx, &len);
    p->lengths[i] = (int)len;
    int raw = memchr(p->values[i], '\0', len) || memchr(p->values[i], '\\', len);
    p->raw |= raw;
    if (raw && described && takes_raw_bytes(PQparamtype(described, i)))
      p->formats[i] = 1;
  }
  return p;
}

/* A NUL byte that would go as text (where libpq would cut the string short): the 1-based parameter, or 0. */
static int nul_in_text_param(lua_State *L, const params *p, int first, int n) {
  for (int i = 0; i < n; i++)
    if (lua_type(L, first + i) == LUA_TSTRING && p->formats[i] == 0 &&
        memchr(p->values[i], '\0', (size_t)p->lengths[i]))
      return i + 1;
  return 0;
}

/* --- running commands ----------------------------------------------------------------------------------------- */

#define FIRST_PARAM 3

static int nparams(lua_State *L) {
  return lua_gettop(L) - FIRST_PARAM + 1;
}

static void keep_result(pg_conn *pc, PGresult *r) {
  switch (PQresultStatus(r)) {
  case PGRES_COPY_IN: /* COPY FROM STDIN: end it with an error, which the server reports back */
    PQputCopyEnd(pc->conn, "COPY FROM STDIN is not supported by alaris.pg");
    pc->flushing = 1;
    PQclear(r);
    break;
  case PGRES_COPY_OUT: /* COPY TO STDOUT: read and drop the data, then report the command as unsupported */
    pc->copy_out = pc->copy_refused = 1;
    PQclear(r);
    break;
  case PGRES_FATAL_ERROR:
  case PGRES_BAD_RESPONSE:
  case PGRES_NONFATAL_ERROR:
    if (pc->error)
      PQclear(r);
    else
      pc->error = r;
    break;
  default:
    PQclear(pc->result);
    pc->result = r;
  }
}

/* 1 when the copy data is all read, 0 when more must arrive, -1 on a broken connection. */
static int drain_copy_out(pg_conn *pc) {
  for (;;) {
    char *buf = NULL;
    int n = PQgetCopyData(pc->conn, &buf, 1);
    if (n > 0) {
      PQfreemem(buf);
      continue;
    }
    if (n == 0)
      return 0;
    pc->copy_out = 0;
    return n == -1 ? 1 : -1;
  }
}

/* Moves the command in flight as far as it goes without blocking: 1 when every result is in, 0 when it must wait
 * for *events on the socket, -1 when the connection broke. */
static int pump(pg_conn *pc, short *events) {
  for (;;) {
    if (pc->flushing) {
      int f = PQflush(pc->conn);
      if (f < 0)
        return -1;
      if (f > 0) {
        *events = POLLIN | POLLOUT; /* the server may need us to read before it reads more */
        return 0;
      }
      pc->flushing = 0;
    }
    if (pc->copy_out) {
      int c = drain_copy_out(pc);
      if (c <= 0) {
        *events = POLLIN;
        return c;
      }
    }
    if (PQisBusy(pc->conn)) {
      *events = POLLIN;
      return 0;
    }
    PGresult *r = PQgetResult(pc->conn);
    if (!r)
      return 1;
    keep_result(pc, r);
  }
}

/* The connection broke under a command: nil, err, and the handle is closed (its state is unknown). */
static int fail_connection(lua_State *L, pg_conn *pc) {
  push_trimmed(L, pc->conn ? PQerrorMessage(pc->conn) : "the connection was closed");
  close_conn(pc, "the connection to the server was lost");
  alaris_fail(L, "connection", "%s", lua_tostring(L, -1));
  lua_remove(L, -3);
  return 2;
}

/* The command is over; a connection the server ended meanwhile (57P01 ...) is closed, not left half-alive. */
static void end_or_close(pg_conn *pc) {
  if (PQstatus(pc->conn) == CONNECTION_BAD)
    close_conn(pc, "the connection to the server was lost");
  end_command(pc);
}

static int finish_error(lua_State *L, pg_conn *pc) {
  PGresult **held = hold_result(L, pc->error);
  pc->error = NULL;
  end_or_close(pc);
  fail_sql(L, *held);
  PQclear(*held);
  *held = NULL;
  lua_remove(L, -3);
  return 2;
}

static int finish_result(lua_State *L, pg_conn *pc) {
  if (pc->copy_refused) {
    end_command(pc);
    return alaris_fail(L, "unsupported", "COPY is not supported by alaris.pg");
  }
  PGresult **held = hold_result(L, pc->result);
  pc->result = NULL;
  end_or_close(pc);
  if (!*held)
    return alaris_fail(L, "connection", "the server sent no result");
  push_result(L, *held);
  PQclear(*held);
  *held = NULL;
  return 1;
}

static int run_phase(lua_State *L, pg_conn *pc);

static int send_first(lua_State *L, pg_conn *pc);

static int command_k(lua_State *L, int status, lua_KContext ctx) {
  pg_conn *pc = luaL_checkudata(L, 1, CONN_TYPE);
  if (!pc->conn)
    return fail_connection(L, pc);
  if (alaris_resume_reason(L) == ALARIS_CANCELLED) {
    if (pc->phase == PHASE_SEND)
      end_command(pc); /* nothing was sent: the connection is as it was */
    else
      close_conn(pc, "its query was cancelled");
    return alaris_raise_cancelled(L);
  }
  if ((alaris_revents(L) & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pc->conn))
    return fail_connection(L, pc);
  if (pc->phase == PHASE_SEND)
    return send_first(L, pc);
  return run_phase(L, pc);
}

/* Sends the next message of the command (nothing for the first phase, sent by the caller) after its results. */
static int send_describe(lua_State *L, pg_conn *pc) {
  pc->phase = PHASE_DESCRIBE;
  if (!PQsendDescribePrepared(pc->conn, ""))
    return fail_connection(L, pc);
  pc->flushing = 1;
  return run_phase(L, pc);
}

static int send_execute(lua_State *L, pg_conn *pc) {
  int n = nparams(L);
  params *p = build_params(L, FIRST_PARAM, n, pc->result);
  int bad = nul_in_text_param(L, p, FIRST_PARAM, n);
  if (bad) {
    lua_pop(L, 1);
    end_command(pc);
    return alaris_fail(L, "param", "parameter $%d holds a NUL byte, which only bytea and text types accept", bad);
  }
  pc->phase = PHASE_EXECUTE;
  int sent = PQsendQueryPrepared(pc->conn, "", n, p->values, p->lengths, p->formats, 0);
  lua_pop(L, 1);
  if (!sent)
    return fail_connection(L, pc);
  pc->flushing = 1;
  return run_phase(L, pc);
}

static int run_phase(lua_State *L, pg_conn *pc) {
  short events = 0;
  int r = pump(pc, &events);
  if (r < 0)
    return fail_connection(L, pc);
  if (r == 0)
    return alaris_wait_fd(L, PQsocket(pc->conn), events, -1, command_k, 0);
  if (pc->error)
    return finish_error(L, pc);
  if (pc->phase == PHASE_PREPARE)
    return send_describe(L, pc);
  if (pc->phase == PHASE_DESCRIBE)
    return send_execute(L, pc);
  return finish_result(L, pc);
}

/* The first message: the simple protocol for exec; for query, Parse/Bind/Execute at once, or only Parse (then
 * Describe) when a string parameter holds NUL or `\` and its type must decide how it is sent. */
static int send_first(lua_State *L, pg_conn *pc) {
  const char *sql = lua_tostring(L, 2);
  int sent;
  if (pc->simple) {
    pc->phase = PHASE_EXECUTE;
    sent = PQsendQuery(pc->conn, sql);
  } else {
    int n = nparams(L);
    params *p = build_params(L, FIRST_PARAM, n, NULL);
    pc->phase = p->raw ? PHASE_PREPARE : PHASE_EXECUTE;
    if (p->raw)
      sent = PQsendPrepare(pc->conn, "", sql, n, NULL);
    else
      sent = PQsendQueryParams(pc->conn, sql, n, NULL, p->values, p->lengths, p->formats, 0);
    lua_pop(L, 1);
  }
  if (!sent)
    return fail_connection(L, pc);
  pc->flushing = 1;
  return run_phase(L, pc);
}

static int begin_command(lua_State *L, pg_conn *pc, int simple) {
  size_t len;
  const char *sql = luaL_checklstring(L, 2, &len);
  luaL_argcheck(L, strlen(sql) == len, 2, "SQL text cannot contain a NUL byte");
  if (!alaris_current_task(L))
    return luaL_error(L, "not inside an alaris task (waits cannot happen in a nested coroutine)");
  pc->busy = 1;
  pc->waiter = alaris_current_task(L);
  pc->phase = PHASE_SEND;
  pc->simple = simple;
  return alaris_wait_fd(L, PQsocket(pc->conn), POLLOUT, -1, command_k, 0);
}

/* db:query(sql, ...) -> result | nil, err: one statement, parameters $1..$n. */
static int conn_query(lua_State *L) {
  pg_conn *pc = check_idle(L, 1);
  luaL_checkstring(L, 2);
  int n = nparams(L);
  luaL_argcheck(L, n <= 65535, FIRST_PARAM + 65535, "at most 65535 parameters");
  build_params(L, FIRST_PARAM, n, NULL); /* raises now for a parameter of the wrong type */
  lua_pop(L, 1);
  return begin_command(L, pc, 0);
}

/* db:exec(sql) -> result of the last statement | nil, err: any number of statements, no parameters. */
static int conn_exec(lua_State *L) {
  pg_conn *pc = check_idle(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  return begin_command(L, pc, 1);
}

/* --- quoting -------------------------------------------------------------------------------------------------- */

typedef char *(*escape_fn)(PGconn *, const char *, size_t);

static int push_escaped(lua_State *L, PGconn *conn, escape_fn escape, int arg) {
  size_t len;
  const char *s = luaL_checklstring(L, arg, &len);
  char *quoted = escape(conn, s, len);
  if (!quoted)
    return luaL_error(L, "cannot quote: %s", PQerrorMessage(conn));
  lua_pushstring(L, quoted + (quoted[0] == ' ')); /* libpq puts a space before E'...' */
  PQfreemem(quoted);
  return 1;
}

/* pg.quote_* work without a server: a PGconn that never connects, so libpq escapes for any server setting. */
static PGconn *escaper(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ESCAPER_KEY);
  PGconn *conn = *(PGconn **)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return conn;
}

static int escaper_gc(lua_State *L) {
  PGconn **box = luaL_checkudata(L, 1, ESCAPER_TYPE);
  if (*box)
    PQfinish(*box);
  *box = NULL;
  return 0;
}

static int l_quote_ident(lua_State *L) {
  return push_escaped(L, escaper(L), PQescapeIdentifier, 1);
}

static int l_quote_literal(lua_State *L) {
  return push_escaped(L, escaper(L), PQescapeLiteral, 1);
}

static int conn_quote_ident(lua_State *L) {
  return push_escaped(L, check_open(L, 1)->conn, PQescapeIdentifier, 2);
}

static int conn_quote_literal(lua_State *L) {
  return push_escaped(L, check_open(L, 1)->conn, PQescapeLiteral, 2);
}

/* pg.error(code, message) -> an error value like the ones this module returns (for the Lua overlay). */
static int l_error(lua_State *L) {
  alaris_error_push(L, luaL_checkstring(L, 1), "%s", luaL_checkstring(L, 2));
  return 1;
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "pg.null");
  return 1;
}

/* --- module --------------------------------------------------------------------------------------------------- */

static const luaL_Reg conn_methods[] = {
    {"query", conn_query},
    {"exec", conn_exec},
    {"close", conn_close},
    {"closed", conn_closed},
    {"notices", conn_notices},
    {"transaction_status", conn_transaction_status},
    {"quote_ident", conn_quote_ident},
    {"quote_literal", conn_quote_literal},
    {NULL, NULL},
};

static const luaL_Reg functions[] = {
    {"connect", l_connect}, {"quote_ident", l_quote_ident}, {"quote_literal", l_quote_literal}, {"error", l_error},
    {NULL, NULL},
};

static void create_metatables(lua_State *L) {
  luaL_newmetatable(L, CONN_TYPE);
  luaL_newlib(L, conn_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, conn_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, conn_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, conn_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, RESULT_TYPE);
  lua_pushcfunction(L, result_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

static void create_sentinels(lua_State *L) {
  lua_newuserdatauv(L, 1, 0);
  luaL_newmetatable(L, NULL_TYPE);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
  PGconn **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_newmetatable(L, ESCAPER_TYPE);
  lua_pushcfunction(L, escaper_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  *box = PQconnectStart("alaris_never_connects=1"); /* an invalid option: parsed, never dialled */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ESCAPER_KEY);
  if (!*box)
    luaL_error(L, "out of memory");
}

int luaopen_alaris_pg_core(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
  int first = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (first) {
    create_metatables(L);
    create_sentinels(L);
  }
  luaL_newlib(L, functions);
  push_null(L);
  lua_setfield(L, -2, "null");
  luaL_getmetatable(L, CONN_TYPE);
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "connection_methods");
  lua_pop(L, 1);
  return 1;
}
