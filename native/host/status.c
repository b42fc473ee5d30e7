/* status.c — a container's status and the guards every command checks, in
 * one place for both front doors (the C front and the addon, which exports
 * them to TypeScript): runc's rules and runc's words.
 *
 * The process the create started is alive when /proc/<pid>/stat still has
 * its start time (a reused pid has another) and it is neither a zombie nor
 * dead: the one liveness rule, for status, delete's wait and `ps`. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "host.h"

const char *const tsrun_status_names[4] = {"created", "running", "paused", "stopped"};

int tsrun_pid_alive(pid_t pid, unsigned long long start_time) {
  if (pid <= 0) return 0;
  char st = 0;
  unsigned long long t = tsrun_proc_start_time(pid, &st);
  return t != 0 && t == start_time && st != 'Z' && st != 'X';
}

enum tsrun_status tsrun_state_status(const struct tsrun_state *s) {
  if (!tsrun_pid_alive(s->pid, s->pid_start_time)) return TSRUN_STOPPED;
  if (s->cgroup.version && tsrun_cgroup_frozen(&s->cgroup)) return TSRUN_PAUSED;
  char fifo[4200];
  snprintf(fifo, sizeof fifo, "%s/" TSRUN_FIFO_FILE, s->dir);
  return access(fifo, F_OK) == 0 ? TSRUN_CREATED : TSRUN_RUNNING;
}

int tsrun_can_start(enum tsrun_status st, const char *id, struct tsrun_err *e) {
  switch (st) {
    case TSRUN_CREATED: return 0;
    case TSRUN_STOPPED: return tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot start a container that has stopped");
    case TSRUN_RUNNING: return tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot start an already running container");
    default: return tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot start a container in the paused state (%s)", id);
  }
}

int tsrun_can_kill(enum tsrun_status st, int all, struct tsrun_err *e) {
  if (st != TSRUN_STOPPED) return 1;
  /* runc: kill --all of a stopped container succeeds quietly */
  return all ? 0 : tsrun_err_set(e, TSRUN_CODE(ESTATE), "container not running");
}

int tsrun_can_delete(enum tsrun_status st, const char *id, int force, struct tsrun_err *e) {
  /* a created container goes without --force, as runc's does (engines rely on it) */
  if (st == TSRUN_STOPPED || st == TSRUN_CREATED || force) return 0;
  return tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot delete container %s that is not stopped: %s", id,
                       tsrun_status_names[st]);
}

int tsrun_can_exec(enum tsrun_status st, int ignore_paused, struct tsrun_err *e) {
  if (st == TSRUN_CREATED || st == TSRUN_RUNNING) return 0;
  if (st == TSRUN_PAUSED)
    return ignore_paused ? 0
                         : tsrun_err_set(e, TSRUN_CODE(ESTATE),
                                         "cannot exec in a paused container (use --ignore-paused to override)");
  return tsrun_err_set(e, TSRUN_CODE(ESTATE), "cannot exec in a %s container", tsrun_status_names[st]);
}

int tsrun_can_pause(enum tsrun_status st, struct tsrun_err *e) {
  return st == TSRUN_RUNNING || st == TSRUN_CREATED ? 0 : tsrun_err_set(e, TSRUN_CODE(ESTATE), "container not running");
}

int tsrun_can_resume(enum tsrun_status st, struct tsrun_err *e) {
  return st == TSRUN_PAUSED ? 0 : tsrun_err_set(e, TSRUN_CODE(ESTATE), "container not paused");
}
