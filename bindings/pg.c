/* alaris.pg.core: PostgreSQL connections over libpq that never block the event loop.
 *
 * Connecting (PQconnectStart + PQconnectPoll, pg_connect.c) and every query (PQsend*, PQflush, PQconsumeInput, here)
 * wait on the connection's socket through alaris_wait_fd, so queries on different connections in different tasks
 * overlap. Results come back as Lua tables decoded by type OID (pg_values.c); SQL errors as `nil, err` with the
 * server's fields (pg_errors.c). A task cancelled while its query runs sends the server a cancel request (PQcancel:
 * a short blocking connect) and closes the connection, whose state is then unknown. This file holds the connection
 * handle, runs commands and opens the module. Policy (transactions) lives in stdlib/alaris/pg.lua.
 * Not supported: COPY data, LISTEN/NOTIFY delivery, large objects, pipelining, multi-dimensional arrays as tables. */
#include "pg.h"
#include "errors.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define ESCAPER_TYPE "alaris.pg.escaper"
#define RESULT_TYPE "alaris.pg.result"

static const char ESCAPER_KEY = 'e'; /* registry key of the connection-less PGconn used by pg.quote_* */

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

/* --- connections ---------------------------------------------------------------------------------------------- */

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
void pg_on_notice(void *arg, const PGresult *r) {
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

void pg_close_conn(pg_conn *pc, const char *why) {
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
      pg_close_conn(pc, "its query was interrupted");
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
  pg_close_conn(pc, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static int conn_gc(lua_State *L) {
  pg_close_conn(luaL_checkudata(L, 1, CONN_TYPE), NULL);
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
    pg_set_field(L, "severity", n->severity);
    pg_set_field(L, "sqlstate", n->sqlstate);
    pg_set_field(L, "message", n->message);
    pg_set_field(L, "detail", n->detail);
    pg_set_field(L, "hint", n->hint);
    lua_rawseti(L, -2, i + 1);
  }
  clear_notices(pc);
  return 1;
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
  pg_push_trimmed(L, pc->conn ? PQerrorMessage(pc->conn) : "the connection was closed");
  pg_close_conn(pc, "the connection to the server was lost");
  alaris_fail(L, "connection", "%s", lua_tostring(L, -1));
  lua_remove(L, -3);
  return 2;
}

/* The command is over; a connection the server ended meanwhile (57P01 ...) is closed, not left half-alive. */
static void end_or_close(pg_conn *pc) {
  if (PQstatus(pc->conn) == CONNECTION_BAD)
    pg_close_conn(pc, "the connection to the server was lost");
  end_command(pc);
}

static int finish_error(lua_State *L, pg_conn *pc) {
  PGresult **held = hold_result(L, pc->error);
  pc->error = NULL;
  end_or_close(pc);
  pg_fail_sql(L, *held);
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
  pg_push_result(L, *held);
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
      pg_close_conn(pc, "its query was cancelled");
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
  params *p = pg_build_params(L, FIRST_PARAM, n, pc->result);
  int bad = pg_nul_in_text_param(L, p, FIRST_PARAM, n);
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
    params *p = pg_build_params(L, FIRST_PARAM, n, NULL);
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
  pg_build_params(L, FIRST_PARAM, n, NULL); /* raises now for a parameter of the wrong type */
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
    {"connect", pg_connect},
    {"quote_ident", l_quote_ident},
    {"quote_literal", l_quote_literal},
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
  pg_create_null(L);
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
  pg_push_null(L);
  int first = lua_isnil(L, -1);
  lua_pop(L, 1);
  if (first) {
    create_metatables(L);
    create_sentinels(L);
  }
  luaL_newlib(L, functions);
  pg_push_null(L);
  lua_setfield(L, -2, "null");
  luaL_getmetatable(L, CONN_TYPE);
  lua_getfield(L, -1, "__index");
  lua_setfield(L, -3, "connection_methods");
  lua_pop(L, 1);
  return 1;
}
