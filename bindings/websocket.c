/* alaris.websocket: a WebSocket client (RFC 6455) on the event loop, for Kubernetes port-forward and exec streams.
 * The connection is a non-blocking TCP socket, with TLS by OpenSSL for wss:// (CA, client certificate and key from
 * memory, server name override, or no verification); the HTTP/1.1 Upgrade handshake is written here, the framing is
 * wslay's. Every wait suspends only the calling task (alaris_wait_fd), so a sender and a receiver may be two tasks.
 * It does not follow redirects, use proxies, compress (no permessage-deflate) or stream messages in pieces: a
 * message is received whole. Name resolution (getaddrinfo) blocks, which is instant for the addresses it is given. */
#include "errors.h"
#include "loop.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <lauxlib.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WEBSOCKET_MT "alaris.websocket"
#define MAX_RESPONSE_HEAD 16384
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define DEFAULT_CONNECT_TIMEOUT 30.0
/* The largest message received whole: a frame header may announce up to 2^63 bytes, which would be allocated. */
#define MAX_MESSAGE (64 * 1024 * 1024)

enum phase { TCP_CONNECTING, TLS_HANDSHAKE, SENDING_REQUEST, READING_RESPONSE, OPEN, BROKEN, CLOSED };

typedef struct message {
  struct message *next;
  int opcode;
  size_t len;
  char data[];
} message;

typedef struct {
  enum phase phase;
  int fd;
  short want; /* poll events the last would-block asked for */
  SSL_CTX *ssl_ctx;
  SSL *ssl;
  double deadline;
  char *request;
  size_t request_len, request_sent;
  char head[MAX_RESPONSE_HEAD + 1];
  size_t head_len, head_used, leftover_at; /* bytes of head already given to wslay: leftover_at..head_len */
  char accept_key[64];
  char protocol[128];
  wslay_event_context_ptr wctx;
  message *first, *last;
  int close_code;
  char error[512];
} websocket;

/* --- transport: plain or TLS, non-blocking ---------------------------------------------------------------------- */

enum { IO_BLOCKED = -1, IO_FAILED = -2 };

static void ssl_error_text(websocket *ws, const char *what) {
  unsigned long e = ERR_get_error();
  char buf[200];
  if (e) {
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(ws->error, sizeof ws->error, "%s: %s", what, buf);
  } else {
    snprintf(ws->error, sizeof ws->error, "%s: %s", what, errno ? strerror(errno) : "the connection was closed");
  }
  ERR_clear_error();
}

static ssize_t tls_result(websocket *ws, int n, const char *what) {
  int e = SSL_get_error(ws->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ws->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return IO_BLOCKED;
  }
  if (e == SSL_ERROR_ZERO_RETURN)
    return 0;
  ssl_error_text(ws, what);
  return IO_FAILED;
}

/* Reads up to len bytes: >0 read, 0 end of stream, IO_BLOCKED or IO_FAILED (ws->error says why). */
static ssize_t io_read(websocket *ws, void *buf, size_t len) {
  if (ws->ssl) {
    ERR_clear_error();
    int n = SSL_read(ws->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    return n > 0 ? n : tls_result(ws, n, "read");
  }
  ssize_t n = recv(ws->fd, buf, len, 0);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    ws->want = POLLIN;
    return IO_BLOCKED;
  }
  snprintf(ws->error, sizeof ws->error, "read: %s", strerror(errno));
  return IO_FAILED;
}

static ssize_t io_write(websocket *ws, const void *buf, size_t len) {
  if (ws->ssl) {
    ERR_clear_error();
    int n = SSL_write(ws->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    return n > 0 ? n : tls_result(ws, n, "write");
  }
  ssize_t n = send(ws->fd, buf, len, MSG_NOSIGNAL);
  if (n >= 0)
    return n;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    ws->want = POLLOUT;
    return IO_BLOCKED;
  }
  snprintf(ws->error, sizeof ws->error, "write: %s", strerror(errno));
  return IO_FAILED;
}

/* --- wslay callbacks ------------------------------------------------------------------------------------------ */

static ssize_t on_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
  (void)flags;
  websocket *ws = ud;
  if (ws->leftover_at < ws->head_len) { /* frames that arrived with the handshake answer */
    size_t n = ws->head_len - ws->leftover_at;
    if (n > len)
      n = len;
    memcpy(buf, ws->head + ws->leftover_at, n);
    ws->leftover_at += n;
    return (ssize_t)n;
  }
  ssize_t n = io_read(ws, buf, len);
  if (n > 0)
    return n;
  if (n == IO_BLOCKED) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
  } else {
    if (n == 0)
      snprintf(ws->error, sizeof ws->error, "the connection was closed without a close frame");
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
  }
  return -1;
}

static ssize_t on_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud) {
  (void)flags;
  ssize_t n = io_write(ud, data, len);
  if (n > 0)
    return n;
  wslay_event_set_error(ctx, n == IO_BLOCKED ? WSLAY_ERR_WOULDBLOCK : WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

static int on_wslay_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud) {
  (void)ctx;
  (void)ud;
  return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void on_wslay_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
  (void)ctx;
  websocket *ws = ud;
  if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    ws->close_code = arg->status_code ? arg->status_code : 1005;
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
    return; /* pings are answered by wslay; pongs are ignored */
  message *m = malloc(sizeof *m + arg->msg_length);
  if (!m) { /* dropping it would corrupt the stream silently */
    snprintf(ws->error, sizeof ws->error, "out of memory for a message of %zu bytes", arg->msg_length);
    ws->phase = BROKEN;
    return;
  }
  m->next = NULL;
  m->opcode = arg->opcode;
  m->len = arg->msg_length;
  if (arg->msg_length) /* an empty message has no buffer (NULL) */
    memcpy(m->data, arg->msg, arg->msg_length);
  if (ws->last)
    ws->last->next = m;
  else
    ws->first = m;
  ws->last = m;
}

/* --- handle lifetime --------------------------------------------------------------------------------------------- */

static void free_messages(websocket *ws) {
  while (ws->first) {
    message *m = ws->first;
    ws->first = m->next;
    free(m);
  }
  ws->last = NULL;
}

/* Says goodbye without waiting (a close frame and a TLS close_notify if the socket takes them now), then frees. */
static void ws_release(websocket *ws) {
  if (ws->wctx && ws->phase == OPEN) {
    wslay_event_queue_close(ws->wctx, 1000, NULL, 0);
    wslay_event_send(ws->wctx);
  }
  if (ws->ssl) {
    if (ws->phase == OPEN)
      SSL_shutdown(ws->ssl);
    SSL_free(ws->ssl);
    ws->ssl = NULL;
  }
  if (ws->ssl_ctx) {
    SSL_CTX_free(ws->ssl_ctx);
    ws->ssl_ctx = NULL;
  }
  if (ws->wctx) {
    wslay_event_context_free(ws->wctx);
    ws->wctx = NULL;
  }
  if (ws->fd >= 0) {
    close(ws->fd);
    ws->fd = -1;
  }
  free(ws->request);
  ws->request = NULL;
  free_messages(ws);
  ws->phase = CLOSED;
}

static int ws_gc(lua_State *L) {
  ws_release(luaL_checkudata(L, 1, WEBSOCKET_MT));
  return 0;
}

static websocket *check_ws(lua_State *L, int arg) {
  websocket *ws = luaL_checkudata(L, arg, WEBSOCKET_MT);
  if (ws->phase == CLOSED)
    luaL_error(L, "attempt to use a closed websocket");
  return ws;
}

/* --- TLS setup ------------------------------------------------------------------------------------------------ */

static int load_ca(SSL_CTX *ctx, const char *pem, size_t len) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int count = 0;
  X509 *cert;
  while (bio && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
    count += X509_STORE_add_cert(store, cert) == 1;
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  return count > 0 ? 0 : -1;
}

static int load_client_cert(SSL_CTX *ctx, const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len) {
  BIO *bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  int ok = cert && SSL_CTX_use_certificate(ctx, cert) == 1;
  X509 *extra;
  while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
    if (SSL_CTX_add_extra_chain_cert(ctx, extra) != 1)
      X509_free(extra);
  X509_free(cert);
  BIO_free(bio);
  ERR_clear_error();
  if (!ok)
    return -1;
  bio = BIO_new_mem_buf(key_pem, (int)key_len);
  EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  ok = key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  BIO_free(bio);
  ERR_clear_error();
  return ok ? 0 : -1;
}

static const char *opt_bytes(lua_State *L, int opts, const char *field, size_t *len) {
  lua_getfield(L, opts, field);
  const char *s = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, len);
  lua_pop(L, 1); /* the string stays referenced by opts */
  return s;
}

static int is_ip_literal(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Sets up TLS for `name` (the host, or the server name override); returns NULL or the reason it failed. */
static const char *setup_tls(lua_State *L, websocket *ws, int opts, const char *name) {
  ws->ssl_ctx = SSL_CTX_new(TLS_client_method());
  if (!ws->ssl_ctx)
    return "cannot create a TLS context";
  SSL_CTX_set_min_proto_version(ws->ssl_ctx, TLS1_2_VERSION);
  size_t len, key_len;
  const char *ca = opt_bytes(L, opts, "ca_data", &len);
  if (ca ? load_ca(ws->ssl_ctx, ca, len) != 0 : SSL_CTX_set_default_verify_paths(ws->ssl_ctx) != 1)
    return "ca_data holds no PEM certificate";
  const char *cert = opt_bytes(L, opts, "cert_data", &len);
  const char *key = opt_bytes(L, opts, "key_data", &key_len);
  if ((cert != NULL) != (key != NULL))
    return "cert_data and key_data go together";
  if (cert && load_client_cert(ws->ssl_ctx, cert, len, key, key_len) != 0)
    return "the client certificate or its key could not be used";
  lua_getfield(L, opts, "insecure");
  int insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  SSL_CTX_set_verify(ws->ssl_ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  ws->ssl = SSL_new(ws->ssl_ctx);
  if (!ws->ssl || SSL_set_fd(ws->ssl, ws->fd) != 1)
    return "cannot create a TLS connection";
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_set_alpn_protos(ws->ssl, alpn, sizeof alpn - 1);
  if (is_ip_literal(name)) {
    if (!insecure)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ws->ssl), name);
  } else {
    SSL_set_tlsext_host_name(ws->ssl, name);
    if (!insecure)
      SSL_set1_host(ws->ssl, name);
  }
  SSL_set_connect_state(ws->ssl);
  return NULL;
}

/* --- the URL and the request ----------------------------------------------------------------------------------- */

typedef struct {
  int tls;
  char host[256];
  char port[8];
  const char *path; /* points into the URL; "" means "/" */
} url_parts;

static int parse_url(const char *url, url_parts *u) {
  const char *rest;
  if (!strncmp(url, "wss://", 6) || !strncmp(url, "https://", 8)) {
    u->tls = 1;
    rest = strstr(url, "://") + 3;
  } else if (!strncmp(url, "ws://", 5) || !strncmp(url, "http://", 7)) {
    u->tls = 0;
    rest = strstr(url, "://") + 3;
  } else {
    return -1;
  }
  const char *end = rest + strcspn(rest, "/?");
  const char *host_end = end, *port = NULL;
  if (*rest == '[') {
    const char *close = memchr(rest, ']', (size_t)(end - rest));
    if (!close)
      return -1;
    if (close + 1 < end && close[1] == ':')
      port = close + 2;
    rest++;
    host_end = close;
  } else {
    const char *colon = memchr(rest, ':', (size_t)(end - rest));
    if (colon) {
      port = colon + 1;
      host_end = colon;
    }
  }
  size_t hlen = (size_t)(host_end - rest), plen = port ? (size_t)(end - port) : 0;
  if (hlen == 0 || hlen >= sizeof u->host || plen >= sizeof u->port || (port && plen == 0))
    return -1;
  memcpy(u->host, rest, hlen);
  u->host[hlen] = '\0';
  if (port) {
    memcpy(u->port, port, plen);
    u->port[plen] = '\0';
  } else {
    strcpy(u->port, u->tls ? "443" : "80");
  }
  u->path = end;
  return 0;
}

/* A header field name is a token (RFC 9110); a value, a subprotocol or the request target may hold no CR, LF or
 * NUL, which would end the line early and let the rest be read as headers of its own (or a second request). */
static int is_token(const char *s, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", s[i]))
      return 0;
  return 1;
}

static int is_line_safe(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
      return 0;
  return 1;
}

/* The request target goes into the request line: no white space or control characters (they must be %-encoded). */
static int is_request_target(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
      return 0;
  return 1;
}

/* The request is built as a list of strings in the table at index `parts` (so the stack may be used freely while
 * gathering them), joined by join_parts at the end. */
static void add_part(lua_State *L, int parts) {
  lua_rawseti(L, parts, (lua_Integer)lua_rawlen(L, parts) + 1);
}

static void add_header(lua_State *L, int parts, int name_idx, int value_idx) {
  size_t name_len, value_len;
  const char *name = luaL_checklstring(L, name_idx, &name_len), *value = luaL_checklstring(L, value_idx, &value_len);
  if (!is_token(name, name_len))
    luaL_error(L, "websocket.connect: invalid header name \"%s\"", is_line_safe(name, name_len) ? name : "?");
  if (!is_line_safe(value, value_len))
    luaL_error(L, "websocket.connect: the value of header \"%s\" holds CR, LF or NUL", name);
  lua_pushfstring(L, "%s: %s\r\n", name, value);
  add_part(L, parts);
}

static void add_protocols(lua_State *L, int parts, int opts) {
  if (lua_getfield(L, opts, "protocols") == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      size_t len;
      const char *p = luaL_checklstring(L, -1, &len);
      if (len == 0 || !is_line_safe(p, len))
        luaL_error(L, "websocket.connect: invalid protocol");
      lua_pushfstring(L, i == 1 ? "Sec-WebSocket-Protocol: %s" : ", %s", p);
      add_part(L, parts);
      lua_pop(L, 1);
    }
    if (n > 0) {
      lua_pushliteral(L, "\r\n");
      add_part(L, parts);
    }
  }
  lua_pop(L, 1);
}

static void add_user_headers(lua_State *L, int parts, int opts) {
  if (lua_getfield(L, opts, "headers") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  int headers = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, headers)) {
    int pair = lua_gettop(L);
    if (lua_type(L, -2) == LUA_TNUMBER && lua_istable(L, -1)) { /* {name, value} pairs */
      lua_rawgeti(L, pair, 1);
      lua_rawgeti(L, pair, 2);
      add_header(L, parts, pair + 1, pair + 2);
      lua_pop(L, 2);
    } else {
      add_header(L, parts, pair - 1, pair);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Joins the strings of the table on top into one, which replaces it. */
static void join_parts(lua_State *L) {
  int parts = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, parts);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, parts, i); /* the only value above the buffer, as luaL_addvalue wants */
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_replace(L, parts);
}

/* The Upgrade request, and the Sec-WebSocket-Accept value the server must answer with. */
static void build_request(lua_State *L, websocket *ws, int opts, const url_parts *u) {
  unsigned char nonce[16], digest[20];
  char key[32];
  RAND_bytes(nonce, sizeof nonce);
  EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
  char both[96];
  snprintf(both, sizeof both, "%s%s", key, WS_GUID);
  EVP_Digest(both, strlen(both), digest, NULL, EVP_sha1(), NULL);
  EVP_EncodeBlock((unsigned char *)ws->accept_key, digest, sizeof digest);
  int ipv6 = strchr(u->host, ':') != NULL;
  lua_newtable(L);
  int parts = lua_gettop(L);
  lua_pushfstring(L, "GET %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n", *u->path ? u->path : "/", ipv6 ? "[" : "", u->host,
                  ipv6 ? "]" : "", u->port);
  add_part(L, parts);
  lua_pushfstring(
      L, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n", key);
  add_part(L, parts);
  add_protocols(L, parts, opts);
  add_user_headers(L, parts, opts);
  lua_pushliteral(L, "\r\n");
  add_part(L, parts);
  join_parts(L);
  size_t len;
  const char *req = lua_tolstring(L, -1, &len);
  ws->request = malloc(len);
  if (!ws->request)
    luaL_error(L, "out of memory");
  memcpy(ws->request, req, len);
  ws->request_len = len;
  lua_pop(L, 1);
}

/* --- connecting: each step goes as far as it can without blocking ---------------------------------------------- */

static int start_tcp(websocket *ws, const url_parts *u) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
  int rc = getaddrinfo(u->host, u->port, &hints, &res);
  if (rc != 0) {
    snprintf(ws->error, sizeof ws->error, "cannot resolve %s: %s", u->host, gai_strerror(rc));
    return -1;
  }
  ws->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ws->fd < 0 || (connect(ws->fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)) {
    snprintf(ws->error, sizeof ws->error, "connect to %s:%s: %s", u->host, u->port, strerror(errno));
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  return 0;
}

/* 0: the phase is done; IO_BLOCKED: wait for ws->want; IO_FAILED: ws->error says why. */
static int finish_tcp(websocket *ws) {
  struct pollfd p = {.fd = ws->fd, .events = POLLOUT};
  if (poll(&p, 1, 0) == 0) {
    ws->want = POLLOUT;
    return IO_BLOCKED;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) {
    snprintf(ws->error, sizeof ws->error, "connect: %s", strerror(err));
    return IO_FAILED;
  }
  return 0;
}

static int do_tls_handshake(websocket *ws) {
  ERR_clear_error();
  int n = SSL_do_handshake(ws->ssl);
  if (n == 1)
    return 0;
  int e = SSL_get_error(ws->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    ws->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return IO_BLOCKED;
  }
  long verify = SSL_get_verify_result(ws->ssl);
  if (verify != X509_V_OK)
    snprintf(ws->error, sizeof ws->error, "TLS: the server certificate did not verify: %s",
             X509_verify_cert_error_string(verify));
  else
    ssl_error_text(ws, "TLS handshake");
  return IO_FAILED;
}

static int send_request(websocket *ws) {
  while (ws->request_sent < ws->request_len) {
    ssize_t n = io_write(ws, ws->request + ws->request_sent, ws->request_len - ws->request_sent);
    if (n < 0)
      return (int)n;
    ws->request_sent += (size_t)n;
  }
  return 0;
}

/* The value of header `name` (lower case, with the colon) in the response head, copied into out. */
static int header_value(const char *head, const char *name, char *out, size_t size) {
  for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
    const char *p = line + 2;
    size_t n = strlen(name);
    if (strncasecmp(p, name, n) != 0)
      continue;
    p += n;
    while (*p == ' ' || *p == '\t')
      p++;
    size_t len = strcspn(p, "\r\n");
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
      len--;
    if (len >= size)
      len = size - 1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
  }
  return 0;
}

/* The status of "HTTP/1.x DDD ...": three digits, else 0 (no sscanf "%d": a long number would overflow it). */
static int status_code(const char *head) {
  if (strncmp(head, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)head[7]) || head[8] != ' ')
    return 0;
  const char *d = head + 9;
  if (!isdigit((unsigned char)d[0]) || !isdigit((unsigned char)d[1]) || !isdigit((unsigned char)d[2]) ||
      isdigit((unsigned char)d[3]))
    return 0;
  return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

static int check_response(websocket *ws) {
  int status = status_code(ws->head);
  if (status != 101) {
    size_t body_len = ws->head_len - ws->head_used;
    snprintf(ws->error, sizeof ws->error, "the server answered %d instead of switching protocols%s%.*s", status,
             body_len ? ": " : "", (int)(body_len > 160 ? 160 : body_len), ws->head + ws->head_used);
    return status >= 100 ? -status : IO_FAILED; /* 1 and 2 would read as IO_BLOCKED and IO_FAILED */
  }
  char accept[64] = "";
  header_value(ws->head, "sec-websocket-accept:", accept, sizeof accept);
  if (strcmp(accept, ws->accept_key) != 0) {
    snprintf(ws->error, sizeof ws->error, "the server's Sec-WebSocket-Accept does not match the key sent");
    return IO_FAILED;
  }
  header_value(ws->head, "sec-websocket-protocol:", ws->protocol, sizeof ws->protocol);
  return 0;
}

static int read_response(websocket *ws) {
  for (;;) {
    char *end = strstr(ws->head, "\r\n\r\n");
    if (end) {
      ws->head_used = (size_t)(end + 4 - ws->head);
      ws->leftover_at = ws->head_used;
      return check_response(ws);
    }
    if (ws->head_len >= MAX_RESPONSE_HEAD) {
      snprintf(ws->error, sizeof ws->error, "the server's answer to the upgrade is too long");
      return IO_FAILED;
    }
    ssize_t n = io_read(ws, ws->head + ws->head_len, MAX_RESPONSE_HEAD - ws->head_len);
    if (n == 0) {
      snprintf(ws->error, sizeof ws->error, "the server closed the connection during the upgrade");
      return IO_FAILED;
    }
    if (n < 0)
      return (int)n;
    ws->head_len += (size_t)n;
    ws->head[ws->head_len] = '\0';
  }
}

static int start_framing(websocket *ws) {
  static const struct wslay_event_callbacks callbacks = {on_wslay_recv, on_wslay_send, on_wslay_genmask, NULL,
                                                         NULL,          NULL,          on_wslay_message};
  if (wslay_event_context_client_init(&ws->wctx, &callbacks, ws) != 0) {
    snprintf(ws->error, sizeof ws->error, "out of memory");
    return IO_FAILED;
  }
  wslay_event_config_set_max_recv_msg_length(ws->wctx, MAX_MESSAGE);
  /* Leftover bytes of the answer are frames: keep them, and make them the only content of head from now on. */
  memmove(ws->head, ws->head + ws->head_used, ws->head_len - ws->head_used);
  ws->head_len -= ws->head_used;
  ws->leftover_at = 0;
  return 0;
}

static int connect_advance(websocket *ws) {
  int rc = 0;
  while (rc == 0 && ws->phase != OPEN) {
    switch (ws->phase) {
    case TCP_CONNECTING:
      if ((rc = finish_tcp(ws)) == 0)
        ws->phase = ws->ssl ? TLS_HANDSHAKE : SENDING_REQUEST;
      break;
    case TLS_HANDSHAKE:
      if ((rc = do_tls_handshake(ws)) == 0)
        ws->phase = SENDING_REQUEST;
      break;
    case SENDING_REQUEST:
      if ((rc = send_request(ws)) == 0)
        ws->phase = READING_RESPONSE;
      break;
    case READING_RESPONSE:
      if ((rc = read_response(ws)) == 0 && (rc = start_framing(ws)) == 0)
        ws->phase = OPEN;
      break;
    default:
      return IO_FAILED;
    }
  }
  return rc;
}

static int connect_fail(lua_State *L, websocket *ws, const char *code, int status) {
  char msg[sizeof ws->error];
  memcpy(msg, ws->error, sizeof msg);
  ws_release(ws);
  alaris_fail(L, code, "websocket: %s", msg);
  if (status > 0) {
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
  }
  return 2;
}

static int connect_step(lua_State *L);

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  websocket *ws = luaL_checkudata(L, 2, WEBSOCKET_MT);
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED) {
    ws_release(ws);
    return alaris_raise_cancelled(L);
  }
  if (reason == ALARIS_TIMEOUT) {
    snprintf(ws->error, sizeof ws->error, "timed out while connecting");
    return connect_fail(L, ws, "timeout", 0);
  }
  return connect_step(L);
}

static int connect_step(lua_State *L) {
  websocket *ws = luaL_checkudata(L, 2, WEBSOCKET_MT);
  int rc = connect_advance(ws);
  if (rc == 0) {
    lua_settop(L, 2);
    return 1;
  }
  if (rc == IO_BLOCKED) {
    double left = ws->deadline - alaris_now();
    return alaris_wait_fd(L, ws->fd, ws->want, left < 0 ? 0 : left, connect_k, 0);
  }
  if (rc < IO_FAILED)
    return connect_fail(L, ws, "status", -rc);
  const char *code = ws->phase == TLS_HANDSHAKE ? "tls" : ws->phase == TCP_CONNECTING ? "connect" : "protocol";
  return connect_fail(L, ws, code, 0);
}

/* websocket.connect{url, protocols, headers, ca_data, cert_data, key_data, insecure, server_name, timeout}
 * -> ws | nil, err (err.code: connect, tls, timeout, status (err.status: the HTTP answer), protocol) */
static int l_connect(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  websocket *ws = lua_newuserdatauv(L, sizeof *ws, 0); /* 2 */
  memset(ws, 0, sizeof *ws);
  ws->fd = -1;
  ws->phase = CLOSED;
  luaL_setmetatable(L, WEBSOCKET_MT);
  lua_getfield(L, 1, "url");
  size_t url_len;
  const char *url = luaL_checklstring(L, -1, &url_len);
  url_parts u;
  if (strlen(url) != url_len || parse_url(url, &u) != 0)
    return luaL_error(L, "websocket.connect: a ws://, wss://, http:// or https:// URL expected");
  if (!is_request_target(u.host) || !is_request_target(u.path))
    return luaL_error(L, "websocket.connect: the URL holds white space or control characters (encode them)");
  lua_pop(L, 1);
  lua_getfield(L, 1, "timeout");
  ws->deadline = alaris_now() + luaL_optnumber(L, -1, DEFAULT_CONNECT_TIMEOUT);
  lua_pop(L, 1);
  build_request(L, ws, 1, &u);
  lua_getfield(L, 1, "server_name");
  const char *server_name = luaL_optstring(L, -1, u.host);
  lua_pop(L, 1);
  ws->phase = TCP_CONNECTING;
  if (start_tcp(ws, &u) != 0)
    return connect_fail(L, ws, "connect", 0);
  if (u.tls) {
    const char *why = setup_tls(L, ws, 1, server_name);
    if (why) {
      snprintf(ws->error, sizeof ws->error, "%s", why);
      return connect_fail(L, ws, "tls", 0);
    }
  }
  return connect_step(L);
}

/* --- messages ----------------------------------------------------------------------------------------------- */

static int push_message(lua_State *L, websocket *ws) {
  message *m = ws->first;
  ws->first = m->next;
  if (!ws->first)
    ws->last = NULL;
  lua_pushlstring(L, m->data, m->len);
  lua_pushstring(L, m->opcode == WSLAY_TEXT_FRAME ? "text" : "binary");
  free(m);
  return 2;
}

static int closed_error(lua_State *L, websocket *ws) {
  if (ws->close_code) {
    alaris_fail(L, "closed", "websocket: the server closed the connection (%d)", ws->close_code);
    lua_pushinteger(L, ws->close_code);
    lua_setfield(L, -2, "close_code");
    return 2;
  }
  return alaris_fail(L, ws->phase == CLOSED ? "closed" : "reset", "websocket: %s",
                     ws->error[0] ? ws->error : "the connection is closed");
}

/* When wslay itself closed the connection (a message too big, a protocol error), says so. */
static void explain_close_sent(websocket *ws) {
  if (ws->error[0] || ws->close_code || !wslay_event_get_close_sent(ws->wctx))
    return;
  int code = wslay_event_get_status_code_sent(ws->wctx);
  if (code == WSLAY_CODE_MESSAGE_TOO_BIG)
    snprintf(ws->error, sizeof ws->error, "the server sent a message of more than %d MiB (the limit)",
             MAX_MESSAGE / (1024 * 1024));
  else
    snprintf(ws->error, sizeof ws->error, "the server broke the WebSocket protocol (close code %d sent)", code);
}

static int receive_step(lua_State *L);

static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  websocket *ws = luaL_checkudata(L, 1, WEBSOCKET_MT);
  int reason = alaris_resume_reason(L);
  if (reason == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  if (ws->first)
    return push_message(L, ws);
  if (ws->phase != OPEN)
    return closed_error(L, ws);
  if (reason == ALARIS_TIMEOUT)
    return alaris_fail(L, "timeout", "websocket: no message in time");
  return receive_step(L);
}

static int receive_step(lua_State *L) {
  websocket *ws = luaL_checkudata(L, 1, WEBSOCKET_MT);
  if (ws->first)
    return push_message(L, ws);
  if (ws->phase != OPEN)
    return closed_error(L, ws);
  ws->want = 0;
  if (wslay_event_recv(ws->wctx) != 0)
    ws->phase = BROKEN;
  else if (wslay_event_want_write(ws->wctx) && wslay_event_send(ws->wctx) != 0)
    ws->phase = BROKEN;
  if (ws->first)
    return push_message(L, ws);
  if (ws->phase != OPEN || !wslay_event_want_read(ws->wctx)) {
    if (ws->phase == OPEN)
      ws->phase = BROKEN; /* a close frame was received, or wslay closed on a protocol error */
    explain_close_sent(ws);
    return closed_error(L, ws);
  }
  short events = POLLIN | (wslay_event_want_write(ws->wctx) ? POLLOUT : 0) | ws->want;
  double timeout = luaL_optnumber(L, 2, -1);
  return alaris_wait_fd(L, ws->fd, events, timeout, receive_k, 0);
}

/* ws:receive([timeout]) -> data, "binary"|"text" | nil, err (err.code "closed" with err.close_code, "reset",
 * "timeout") */
static int ws_receive(lua_State *L) {
  check_ws(L, 1);
  lua_settop(L, 2);
  return receive_step(L);
}

static int send_step(lua_State *L);

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (alaris_resume_reason(L) == ALARIS_CANCELLED)
    return alaris_raise_cancelled(L);
  return send_step(L);
}

static int send_step(lua_State *L) {
  websocket *ws = luaL_checkudata(L, 1, WEBSOCKET_MT);
  if (ws->phase != OPEN)
    return closed_error(L, ws);
  ws->want = 0;
  if (wslay_event_send(ws->wctx) != 0) {
    ws->phase = BROKEN;
    return closed_error(L, ws);
  }
  if (wslay_event_want_write(ws->wctx))
    return alaris_wait_fd(L, ws->fd, ws->want ? ws->want : POLLOUT, -1, send_k, 0);
  lua_pushboolean(L, 1);
  return 1;
}

/* ws:send(data [, "binary"|"text"]) -> true | nil, err; returns once the frame is written to the socket. */
static int ws_send(lua_State *L) {
  static const char *const kinds[] = {"binary", "text", NULL};
  websocket *ws = check_ws(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int text = luaL_checkoption(L, 3, "binary", kinds);
  lua_settop(L, 1);
  if (ws->phase != OPEN)
    return closed_error(L, ws);
  struct wslay_event_msg msg = {text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, (const uint8_t *)data, len};
  if (wslay_event_queue_msg(ws->wctx, &msg) != 0) /* wslay copies the data */
    return alaris_fail(L, "closed", "websocket: the connection is closing");
  return send_step(L);
}

/* ws:protocol() -> the subprotocol the server chose ("" if none) */
static int ws_protocol(lua_State *L) {
  websocket *ws = check_ws(L, 1);
  lua_pushstring(L, ws->protocol);
  return 1;
}

static int ws_closed(lua_State *L) {
  websocket *ws = luaL_checkudata(L, 1, WEBSOCKET_MT);
  lua_pushboolean(L, ws->phase == CLOSED);
  return 1;
}

int luaopen_alaris_websocket(lua_State *L) {
  static const luaL_Reg methods[] = {{"send", ws_send}, {"receive", ws_receive}, {"protocol", ws_protocol},
                                     {"close", ws_gc},  {"closed", ws_closed},   {NULL, NULL}};
  static const luaL_Reg functions[] = {{"connect", l_connect}, {NULL, NULL}};
  luaL_newmetatable(L, WEBSOCKET_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ws_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, ws_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newlib(L, functions);
  return 1;
}
