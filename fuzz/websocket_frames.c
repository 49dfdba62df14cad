/* libFuzzer target: the WebSocket client's reading side (bindings/websocket.c: the upgrade answer, then wslay's frame
 * reader through the binding's own callbacks and message queue). A server thread on a loopback port answers the
 * upgrade with "101 Switching Protocols" and the right Sec-WebSocket-Accept, then sends the input: more header lines,
 * the blank line and frames. An input starting with "HTTP/" is the whole answer instead, with every "{accept}" in it
 * replaced by the right key. Then the server stops writing. The client, a Lua task on the engine's loop, connects and
 * receives until an error; connect and receive must return messages or nil and an error value (never raise), and the
 * end of the stream must be noticed (a receive timeout is a finding). */
#include "fuzz_lua.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define PLACEHOLDER "{accept}"

static const char CHECKER[] =
    "local websocket = require 'alaris.websocket'\n"
    "return function(url)\n"
    "  local ws, err = websocket.connect { url = url, timeout = 5 }\n"
    "  if not ws then return fuzz.check_error(err, nil, 'websocket.connect') end\n"
    "  for _ = 1, 100000 do\n"
    "    local data, kind = ws:receive(5)\n"
    "    if data == nil then\n"
    "      fuzz.check_error(kind, nil, 'ws:receive')\n"
    "      if kind.code == 'timeout' then fuzz.finding('ws:receive missed the end of the stream') end\n"
    "      break\n"
    "    end\n"
    "    if kind ~= 'text' and kind ~= 'binary' then fuzz.finding('ws:receive: kind %s', tostring(kind)) end\n"
    "  end\n"
    "  ws:close()\n"
    "end\n";

static int listener = -1;
static char url[64];

typedef struct answer {
  const uint8_t *data;
  size_t size;
} answer;

static void fail(const char *what) {
  perror(what);
  abort();
}

static void start_listening(void) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, len) != 0 || listen(listener, 4) != 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
    fail("listening on a loopback port");
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/fuzz", ntohs(addr.sin_port));
}

/* Reads the upgrade request and computes its Sec-WebSocket-Accept into accept (empty when there is no key). */
static void read_request(int fd, char accept[64]) {
  char head[16384];
  size_t n = 0;
  head[0] = '\0';
  while (n < sizeof head - 1 && !strstr(head, "\r\n\r\n")) {
    ssize_t got = recv(fd, head + n, sizeof head - 1 - n, 0);
    if (got <= 0)
      break;
    n += (size_t)got;
    head[n] = '\0';
  }
  accept[0] = '\0';
  const char *key = strcasestr(head, "\r\nSec-WebSocket-Key: ");
  if (!key)
    return;
  key += strlen("\r\nSec-WebSocket-Key: ");
  char both[128];
  snprintf(both, sizeof both, "%.*s%s", (int)strcspn(key, "\r\n"), key, WS_GUID);
  unsigned char digest[20];
  EVP_Digest(both, strlen(both), digest, NULL, EVP_sha1(), NULL);
  EVP_EncodeBlock((unsigned char *)accept, digest, sizeof digest);
}

static void send_all(int fd, const void *data, size_t size) {
  const char *p = data;
  while (size > 0) {
    ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
    if (n <= 0)
      return; /* the client gave up: what it did with the bytes so far is what is checked */
    p += n;
    size -= (size_t)n;
  }
}

/* The whole answer given in the input, "{accept}" replaced. */
static void send_verbatim(int fd, const answer *a, const char *accept) {
  const uint8_t *p = a->data, *end = a->data + a->size;
  while (p < end) {
    const uint8_t *at = memmem(p, (size_t)(end - p), PLACEHOLDER, strlen(PLACEHOLDER));
    send_all(fd, p, (size_t)((at ? at : end) - p));
    if (!at)
      break;
    send_all(fd, accept, strlen(accept));
    p = at + strlen(PLACEHOLDER);
  }
}

static void *serve(void *arg) {
  const answer *a = arg;
  struct pollfd p = {.fd = listener, .events = POLLIN};
  if (poll(&p, 1, 10000) != 1)
    return NULL; /* the client never connected: its error was checked */
  int fd = accept(listener, NULL, NULL);
  if (fd < 0)
    return NULL;
  char accept_key[64];
  read_request(fd, accept_key);
  if (a->size >= 5 && memcmp(a->data, "HTTP/", 5) == 0) {
    send_verbatim(fd, a, accept_key);
  } else {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n",
                     accept_key);
    send_all(fd, head, (size_t)n);
    send_all(fd, a->data, a->size);
  }
  shutdown(fd, SHUT_WR);
  char sink[4096]; /* what the client sends back (pongs, a close frame) until it closes */
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (recv(fd, sink, sizeof sink, 0) > 0) {
  }
  close(fd);
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (listener < 0)
    start_listening();
  answer a = {data, size};
  pthread_t server;
  if (pthread_create(&server, NULL, serve, &a) != 0)
    fail("pthread_create");
  fuzz_lua_check_in_task(CHECKER, (const uint8_t *)url, strlen(url));
  pthread_join(server, NULL);
  return 0;
}
