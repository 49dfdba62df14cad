/* What the files of alaris.pg.core share: the connection handle and the declarations that cross files. pg.c holds
 * the handle and runs commands, pg_connect.c opens connections, pg_values.c converts values and results,
 * pg_errors.c turns libpq's errors into error values. It is private to bindings/pg*.c, not an API. */
#ifndef ALARIS_PG_H
#define ALARIS_PG_H

#include "loop.h"

#include <libpq-fe.h>
#include <lua.h>

#define CONN_TYPE "alaris.pg.conn"
#define MAX_NOTICES 100

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

typedef struct params {
  const char **values;
  int *lengths, *formats;
  char (*text)[32];
  int raw; /* some string holds NUL or `\`: its parameter type decides its format */
} params;

/* pg.c: the connection handle. */
void pg_close_conn(pg_conn *pc, const char *why); /* idempotent; why: shown when the closed handle is used */
void pg_on_notice(void *arg, const PGresult *r);  /* PQsetNoticeReceiver callback, arg: the pg_conn */

/* pg_connect.c */
int pg_connect(lua_State *L); /* pg.connect([conninfo | options]) -> conn | nil, err */

/* pg_values.c */
void pg_create_null(lua_State *L); /* once per Lua state, before pg_push_null */
void pg_push_null(lua_State *L);   /* the pg.null sentinel (nil before pg_create_null) */
void pg_push_result(lua_State *L, const PGresult *r);
params *pg_build_params(lua_State *L, int first, int n, const PGresult *described);
int pg_nul_in_text_param(lua_State *L, const params *p, int first, int n);

/* pg_errors.c */
void pg_set_field(lua_State *L, const char *name, const char *value); /* on the table on top, unless empty */
void pg_push_trimmed(lua_State *L, const char *s);
int pg_fail_sql(lua_State *L, const PGresult *r);
const char *pg_code_of(const char *sqlstate, const char *otherwise); /* "conflict" for 23505, ... */
void pg_push_connect_message(lua_State *L, const char *raw, char sqlstate[6], char severity[16]);

#endif
