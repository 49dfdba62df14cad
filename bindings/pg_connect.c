/* alaris.pg.core's pg.connect: a PostgreSQL connection opened without blocking the event loop (PQconnectStartParams,
 * then PQconnectPoll on the socket through alaris_wait_fd, honouring connect_timeout). Every password it sees (in a
 * conninfo string, an options table, or the one libpq used) is registered as a secret, and a conninfo parse error
 * never shows quoted text that might be a password. It does not run queries (pg.c). */
#include "errors.h"
#include "pg.h"
#include "secrets.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

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
  pg_push_trimmed(L, lua_tostring(L, -1));
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
  pg_push_connect_message(L, PQerrorMessage(pc->conn), sqlstate, severity);
  pg_close_conn(pc, "the connection failed");
  alaris_fail(L, pg_code_of(sqlstate[0] ? sqlstate : NULL, "connect"), "%s", lua_tostring(L, -1));
  pg_set_field(L, "sqlstate", sqlstate);
  pg_set_field(L, "severity", severity);
  return 2;
}

static int connect_timed_out(lua_State *L, pg_conn *pc) {
  lua_pushfstring(L, "could not connect to %s port %s within connect_timeout", PQhost(pc->conn), PQport(pc->conn));
  pg_close_conn(pc, "the connection timed out");
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
    pg_close_conn(pc, "connecting was cancelled");
    return alaris_raise_cancelled(L);
  case ALARIS_TIMEOUT:
    return connect_timed_out(L, pc);
  default:
    return connect_step(L, pc, PQconnectPoll(pc->conn));
  }
}

/* pg.connect([conninfo | options]) -> conn | nil, err */
int pg_connect(lua_State *L) {
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
  PQsetNoticeReceiver(pc->conn, pg_on_notice, pc);
  if (PQstatus(pc->conn) == CONNECTION_BAD)
    return connect_failed(L, pc);
  PQsetErrorVerbosity(pc->conn, PQERRORS_VERBOSE); /* so a failure names its SQLSTATE (28P01, 3D000, ...) */
  pc->deadline = connect_deadline(pc->conn);
  return connect_step(L, pc, PGRES_POLLING_WRITING);
}
