/* alaris.files: owner-only files, as the run journal needs them: opened for appending with mode 0600 and
 * close-on-exec (a child process never inherits the journal), an advisory lock held for a whole run, fsync after
 * each record, mkdir without a shell, and stdout sent to stderr (--output json). Returns Lua io files, so the rest of
 * the work stays in Lua (stdlib/alaris/journal.lua). It does no path policy: which folder, which name, what to do when
 * a lock is taken is the caller's. Not a playbook-facing module. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int close_stream(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  int ok = fclose(p->f) == 0;
  return luaL_fileresult(L, ok, NULL);
}

/* files.open_private(path) -> file | nil, err: for appending, created 0600 (an existing file is made 0600). */
static int l_open_private(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->closef = NULL; /* closed state first: an error below leaks nothing */
  luaL_setmetatable(L, LUA_FILEHANDLE);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return luaL_fileresult(L, 0, path);
  if (fchmod(fd, 0600) != 0 || !(p->f = fdopen(fd, "a"))) {
    int saved = errno;
    close(fd);
    errno = saved;
    return luaL_fileresult(L, 0, path);
  }
  p->closef = close_stream;
  return 1;
}

static FILE *check_file(lua_State *L) {
  luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (p->closef == NULL)
    luaL_error(L, "attempt to use a closed file");
  return p->f;
}

/* files.flock(file, "exclusive"|"unlock") -> true | false (held by another) | nil, err. Never waits. */
static int l_flock(lua_State *L) {
  FILE *f = check_file(L);
  static const char *const ops[] = {"exclusive", "unlock", NULL};
  int op = luaL_checkoption(L, 2, NULL, ops) == 0 ? LOCK_EX | LOCK_NB : LOCK_UN;
  if (flock(fileno(f), op) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (errno == EWOULDBLOCK) {
    lua_pushboolean(L, 0);
    return 1;
  }
  return luaL_fileresult(L, 0, NULL);
}

/* files.fsync(file) -> true | nil, err: what was written reaches the disk. */
static int l_fsync(lua_State *L) {
  FILE *f = check_file(L);
  return luaL_fileresult(L, fflush(f) == 0 && fsync(fileno(f)) == 0, NULL);
}

/* files.mkdir(path [, mode]) -> true | nil, err: one level; an existing directory is success. */
static int l_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0777);
  struct stat st;
  if (mkdir(path, mode) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (errno == EEXIST)
    errno = ENOTDIR;
  return luaL_fileresult(L, 0, path);
}

/* files.stdout_to_stderr() -> file | nil, err: from now on whatever writes to descriptor 1 (Lua, C, child
 * processes) reaches stderr; the returned file (close-on-exec) writes to the original stdout. For --output json,
 * whose stdout carries one document and nothing else. */
static int l_stdout_to_stderr(lua_State *L) {
  luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->closef = NULL;
  luaL_setmetatable(L, LUA_FILEHANDLE);
  fflush(stdout);
  int saved = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (saved < 0)
    return luaL_fileresult(L, 0, "stdout");
  if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0 || !(p->f = fdopen(saved, "w"))) {
    int err = errno;
    close(saved);
    errno = err;
    return luaL_fileresult(L, 0, "stdout");
  }
  p->closef = close_stream;
  return 1;
}

static const luaL_Reg functions[] = {
    {"open_private", l_open_private},         {"flock", l_flock}, {"fsync", l_fsync}, {"mkdir", l_mkdir},
    {"stdout_to_stderr", l_stdout_to_stderr}, {NULL, NULL},
};

int luaopen_alaris_files(lua_State *L) {
  luaL_newlib(L, functions);
  return 1;
}
