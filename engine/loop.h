/* The event loop: Lua coroutines ("tasks") scheduled over poll(2).
 *
 * A binding that must wait (a socket, a timer, a libcurl transfer) suspends the running task instead of blocking
 * the process; the loop resumes it when the wait is over, so waits in concurrent tasks overlap. This file is the
 * whole contract between the loop and the bindings; it does no I/O of its own besides poll(2). */
#ifndef ALARIS_LOOP_H
#define ALARIS_LOOP_H

#include <lua.h>
#include <poll.h>

typedef struct alaris_loop alaris_loop;
typedef struct alaris_task alaris_task;

/* Why a suspended task was resumed: what the continuation sees from alaris_resume_reason(). */
enum alaris_reason {
  ALARIS_READY = 1, /* the fd is ready (alaris_wait_fd), or the task was woken (alaris_suspend) */
  ALARIS_TIMEOUT,   /* the timeout given to the wait passed */
  ALARIS_CANCELLED, /* the task was cancelled or interrupted: clean up, then alaris_raise_cancelled(L) */
};

/* Monotonic time in seconds. */
double alaris_now(void);

/* The loop of this Lua state (created by the engine at start-up). */
alaris_loop *alaris_loop_of(lua_State *L);

/* The task running in L, or NULL when L is not a task (then nothing may suspend). */
alaris_task *alaris_current_task(lua_State *L);

/* Suspend the running task until fd is ready for `events` (POLLIN and/or POLLOUT) or `timeout` seconds pass
 * (timeout < 0: none). Use only as a tail call from a lua_CFunction:
 *     return alaris_wait_fd(L, fd, POLLIN, 5.0, k, ctx);
 * When the task resumes, k(L, LUA_YIELD, ctx) runs; alaris_resume_reason(L) says why and alaris_revents(L) gives
 * the poll revents. Raises "not inside an alaris task" when L is not a task. */
int alaris_wait_fd(lua_State *L, int fd, short events, double timeout, lua_KFunction k, lua_KContext ctx);

/* The common case of alaris_wait_fd: a non-blocking operation `step` (a lua_CFunction working on the current stack)
 * that could not complete waits for its descriptor, then runs again. A cancellation raises; a timeout makes the
 * operation return `nil, err` with err.code "timeout" and err.message "WHAT: timed out". Declare the retry once:
 *     static const alaris_retry read_retry = {socket_read_step, "read"};
 *     ... return alaris_wait_fd_retry(L, fd, POLLIN, timeout, &read_retry);  */
typedef struct alaris_retry {
  lua_CFunction step;
  const char *what;
} alaris_retry;

int alaris_wait_fd_retry(lua_State *L, int fd, short events, double timeout, const alaris_retry *retry);

/* Suspend the running task until alaris_task_wake(), a timeout or a cancellation; same calling rules as above.
 * The task is returned by alaris_current_task(L) before the call; the waker keeps it and stores its results in its
 * own structure for k to read. A task pointer stays valid until the task is resumed. */
int alaris_suspend(lua_State *L, double timeout, lua_KFunction k, lua_KContext ctx);

/* Make a task suspended by alaris_suspend runnable again (ALARIS_READY). Safe to call from a source's dispatch. */
void alaris_task_wake(alaris_task *t);

/* In a continuation: why the task was resumed (enum alaris_reason), and the poll revents for alaris_wait_fd. */
int alaris_resume_reason(lua_State *L);
short alaris_revents(lua_State *L);

/* Raise the cancellation error of the current task ("cancelled", "interrupted", "timeout", ...). Never returns. */
int alaris_raise_cancelled(lua_State *L);

/* C event sources, for libraries that own several descriptors and timers (libcurl multi). Every loop iteration
 * calls prepare() to add descriptors (at most `max`) and lower *timeout (seconds, already set to the loop's own
 * bound; leave it to keep it), then dispatch() with the same descriptors and their revents after poll returns or
 * times out. A source lives as long as the loop. */
typedef struct alaris_source {
  int (*prepare)(void *ud, struct pollfd *fds, int max, double *timeout);
  void (*dispatch)(void *ud, const struct pollfd *fds, int nfds);
  void *ud;
} alaris_source;

void alaris_loop_add_source(alaris_loop *loop, const alaris_source *source);

#endif
