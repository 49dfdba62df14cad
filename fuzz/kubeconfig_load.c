/* libFuzzer target: the kubeconfig loader (stdlib/alaris/k8s/kubeconfig.lua) on any file content. Each input is the
 * kubeconfig file, read from a memory file by its path as KUBECONFIG would be. The loader must return settings (an
 * http(s) server, a namespace) or nil and a "kubeconfig" error value, never raise. Files the input names
 * (certificate-authority, client-key, tokenFile, ...) are not opened: io.open refuses every other path, so an input
 * cannot make the fuzzer read /dev/zero or a terminal; the loader sees an unreadable file. */
#include "fuzz_lua.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char CHECKER[] =
    "local kubeconfig = require 'alaris.k8s.kubeconfig'\n"
    "local open = io.open\n"
    "local function check_settings(s)\n"
    "  if type(s.server) ~= 'string' or not s.server:match('^https?://[^/]') or s.server:match('/$') then\n"
    "    fuzz.finding('kubeconfig.load: server %s', tostring(s.server))\n"
    "  end\n"
    "  if type(s.namespace) ~= 'string' or s.namespace == '' then\n"
    "    fuzz.finding('kubeconfig.load: namespace %s', tostring(s.namespace))\n"
    "  end\n"
    "  if type(s.user) ~= 'table' or type(s.context) ~= 'string' then\n"
    "    fuzz.finding('kubeconfig.load: user %s, context %s', type(s.user), type(s.context))\n"
    "  end\n"
    "end\n"
    "return function(path)\n"
    "  io.open = function(p, mode)\n"
    "    if p == path then return open(p, mode) end\n"
    "    return nil, p .. ': not opened while fuzzing'\n"
    "  end\n"
    "  local ok, settings, err = pcall(kubeconfig.load, { kubeconfig = path, in_cluster = false })\n"
    "  io.open = open\n"
    "  if not ok then fuzz.finding('kubeconfig.load raised: %s', tostring(settings)) end\n"
    "  if settings then return check_settings(settings) end\n"
    "  fuzz.check_error(err, 'kubeconfig', 'kubeconfig.load')\n"
    "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("kubeconfig", MFD_CLOEXEC);
    if (fd < 0) {
      perror("memfd_create");
      abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) {
    perror("writing the kubeconfig");
    abort();
  }
  fuzz_lua_check(CHECKER, (const uint8_t *)path, strlen(path));
  return 0;
}
