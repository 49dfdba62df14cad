/* What the three files of alaris.http.core share: a transfer (one request attempt holding a libcurl easy handle) and
 * the stack slots of a running request. http.c is the Lua-facing request function and builds responses,
 * http_options.c turns the options table into easy-handle settings, http_source.c runs the process-wide multi handle
 * as an event-loop source and receives the bytes. It is private to bindings/http*.c, not an API. */
#ifndef ALARIS_HTTP_H
#define ALARIS_HTTP_H

#include "bytes.h"
#include "loop.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

/* Stack slots of a request while it runs (the continuations find everything there). */
enum { ARG_OPTS = 1, SLOT_TRANSFER, SLOT_ON_DATA, SLOT_RESPONSE, SLOT_URL, SLOT_METHOD };

#define SETOPT(L, t, opt, value, what)                                                                                 \
  do {                                                                                                                 \
    if (curl_easy_setopt((t)->easy, opt, value) != CURLE_OK)                                                           \
      luaL_error(L, "http.request: %s is not supported by this libcurl", what);                                        \
  } while (0)

typedef struct chunk {
  struct chunk *next;
  size_t len;
  char data[];
} chunk;

typedef struct transfer {
  CURL *easy;
  struct curl_slist *headers;
  struct curl_slist *connect_to; /* CURLOPT_CONNECT_TO entries, "HOST:PORT:ADDRESS:PORT" */
  int in_multi, done, paused, streaming, aborted, linked;
  CURLcode result;
  alaris_task *waiting; /* the task suspended on this transfer, NULL while it runs Lua */
  alaris_bytes body;    /* the whole body, when not streaming */
  alaris_bytes head;    /* raw header lines of the last response */
  chunk *first, *last;  /* streamed chunks not yet handed to on_data */
  size_t queued;
  struct transfer *prev, *next; /* every transfer holding an easy handle */
  char errbuf[CURL_ERROR_SIZE];
} transfer;

/* http_source.c: the multi handle and the transfers it drives. */
void http_source_open(lua_State *L); /* registers the transfer type, creates the multi handle and the loop source */
int http_source_is_open(void);
int http_source_add(transfer *t);            /* starts the transfer: 0 when libcurl refuses it */
void http_source_remove(transfer *t);        /* stops it; the easy handle is kept */
lua_Integer http_source_pending(void);       /* transfers holding an easy handle */
transfer *http_transfer_new(lua_State *L);   /* pushed as a userdata whose __gc and __close close it */
void http_transfer_close(transfer *t);       /* idempotent */
chunk *http_transfer_pop_chunk(transfer *t); /* the oldest streamed chunk not yet handed to Lua (free it), or NULL */

/* http_options.c: the request options table at ARG_OPTS. */
int http_token_char(int c);
void http_options_apply(lua_State *L, transfer *t, const char *url, const char *method);

#endif
