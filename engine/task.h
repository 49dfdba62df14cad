/* Tasks as the loop and the core module share them (bindings use only loop.h). A task is a full userdata of type
 * "alaris.task" that owns its coroutine; the loop keeps it alive in the registry until it ends. Its lifecycle
 * (creation, resumption, outcome, release) is engine/loop.c's alone. */
#ifndef ALARIS_TASK_H
#define ALARIS_TASK_H

#include "loop.h"

#define ALARIS_TASK_TYPE "alaris.task"

enum task_state { TASK_RUNNABLE, TASK_RUNNING, TASK_WAIT_FD, TASK_SUSPENDED, TASK_WAIT_TASK, TASK_DONE };

/* Slots of the task's user values. */
enum { ALARIS_TASK_THREAD = 1, ALARIS_TASK_RESULTS, ALARIS_TASK_ERROR, ALARIS_TASK_TRACEBACK, ALARIS_TASK_NUSER = 4 };

struct alaris_task {
  lua_State *co;
  int ref; /* registry reference held by the loop while the task lives */
  int id;
  enum task_state state;
  int started, ok, nargs, nresults;
  int shielded; /* a signal never stops its Lua code: it sees the interrupt at its next wait */
  int reason;
  int fd;
  short events, revents;
  double deadline;      /* < 0: none */
  alaris_task *joining; /* the task this one waits for */
  char cancel[128];     /* non-empty once cancelled: the error raised at its next wait */
  alaris_task *next;
};

void alaris_task_cancel(alaris_task *t, const char *why);
int alaris_wait_task(lua_State *L, alaris_task *target, double timeout, lua_KFunction k, lua_KContext ctx);
int alaris_loop_run(lua_State *L, alaris_task *root);
int alaris_interrupted(void);
int alaris_interrupt_signal(void);

/* A new runnable task: the function and nargs arguments on top of L move to its coroutine; pushes the task. */
alaris_task *alaris_task_new(lua_State *L, int nargs);

#endif
