/*
 * child-init: a per-child init that dies with the wrapper and takes the command's
 * processes with it. The wrapper spawns it in the command's place, as the leader of
 * the command's process group:
 *
 *   child-init <wrapper-pid> [--await] <command> [args...]
 *
 * With --await it is spawned ahead, while the wrapper follows, so that a handover does not
 * wait for the wrapper's fork (its cost grows with the wrapper's memory): it waits on fd 3 for
 * the go, the variables to add to its environment as NUL-terminated KEY=VALUE entries and an
 * empty one, and starts the command then; the end of fd 3 before the go ends it quietly.
 *
 * As PID 1 of a container the kernel kills everything when the wrapper dies; outside
 * PID 1 (under tini, with shareProcessNamespace, on a laptop) it does not, and a
 * SIGKILLed or OOM-killed wrapper would leave its child running while the lease runs
 * out and another replica starts a second one. child-init asks the kernel for a
 * signal when its parent dies (PR_SET_PDEATHSIG, which a set-uid command would clear
 * were it set on the command itself; the "parent" is the thread that spawned us,
 * Node's main thread, which lives as long as the wrapper), and is a child subreaper,
 * so that whatever the command orphans (setsid daemons included) is re-parented to
 * it and stays findable.
 *
 * On fd 3, when the wrapper passes one, it reports "pid <n>" once the command is
 * exec'd, or "errno <n>" when it could not be (fork or exec failed), then closes it:
 * the wrapper says "cannot start" with the very errno, as when it spawned the
 * command itself. While the command runs it ignores the signals the wrapper sends
 * to the group (the command gets them), and reaps every child. When the command
 * ends it ends the same way: the same code, or the same signal. When the wrapper
 * dies it SIGKILLs every descendant, then its own process group.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_FD 3

/* What the wrapper sends to the child's group: stop signals and forwarded ones. */
static const int group_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGWINCH};

static void report(const char *what, long value) {
  char line[32];
  int n = snprintf(line, sizeof line, "%s %ld\n", what, value);
  /* Not passed (run by hand): nothing to tell. */
  if (write(REPORT_FD, line, (size_t)n) < 0) return;
}

/*
 * Wait for the go on fd 3 and add its variables to the environment; 0 when fd 3 ends first (the wrapper
 * gave up on this one, or died). Kept for the command's life, as putenv() keeps the strings.
 */
static int await_go(void) {
  static char message[65536];
  size_t len = 0;
  for (;;) {
    if (len == sizeof message) return 0;
    ssize_t got = read(REPORT_FD, message + len, sizeof message - len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return 0;
    len += (size_t)got;
    /* The end: an empty entry, first or after a NUL-terminated one. */
    if (message[0] == '\0' || (len >= 2 && message[len - 1] == '\0' && message[len - 2] == '\0')) break;
  }
  for (char *entry = message; *entry != '\0'; entry += strlen(entry) + 1) putenv(entry);
  return 1;
}

/* Each child of `pid`: every thread's list, or a scan of /proc where the kernel lacks those files. */
static void for_each_child(pid_t pid, void (*each)(pid_t)) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *tasks = opendir(path);
  int listed = 0;
  struct dirent *t;
  while (tasks != NULL && (t = readdir(tasks)) != NULL) {
    if (t->d_name[0] == '.') continue;
    char file[320];
    snprintf(file, sizeof file, "/proc/%d/task/%s/children", (int)pid, t->d_name);
    FILE *f = fopen(file, "r");
    if (f == NULL) continue;
    listed = 1;
    int child;
    while (fscanf(f, "%d", &child) == 1) each((pid_t)child);
    fclose(f);
  }
  if (tasks != NULL) closedir(tasks);
  if (listed) return;
  DIR *proc = opendir("/proc");
  struct dirent *p;
  while (proc != NULL && (p = readdir(proc)) != NULL) {
    char file[300], stat[512];
    if (p->d_name[0] < '1' || p->d_name[0] > '9') continue;
    snprintf(file, sizeof file, "/proc/%s/stat", p->d_name);
    FILE *f = fopen(file, "r");
    if (f == NULL) continue;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* The name in parentheses may hold anything; the parent's pid is the second field after the last ')'. */
    char *close = strrchr(stat, ')');
    int ppid;
    if (close != NULL && sscanf(close + 1, " %*c %d", &ppid) == 1 && ppid == pid) each((pid_t)atoi(p->d_name));
  }
  if (proc != NULL) closedir(proc);
}

/* A process first, so that it forks no more, then what it started (what its death re-parents comes to us). */
static void kill_tree(pid_t pid) {
  kill(pid, SIGKILL);
  for_each_child(pid, kill_tree);
}

/* The wrapper is gone: nothing it started may outlive it. */
static void die_with_wrapper(void) {
  const struct timespec tick = {0, 5 * 1000 * 1000};
  for (;;) {
    for_each_child(getpid(), kill_tree);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) break;
    nanosleep(&tick, NULL);
  }
  /* Anything left in the group, and this process with it. */
  kill(0, SIGKILL);
  _exit(137);
}

/* End as the command ended: its code, or death by its signal (without a core file of our own). */
static void mirror(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig);
}

int main(int argc, char **argv) {
  int awaiting = argc > 3 && strcmp(argv[2], "--await") == 0;
  char **command_argv = argv + (awaiting ? 3 : 2);
  if (argc < (awaiting ? 4 : 3)) {
    fputs("usage: child-init <wrapper-pid> [--await] <command> [args...]\n", stderr);
    return 125;
  }
  pid_t wrapper = (pid_t)atoi(argv[1]);
  prctl(PR_SET_NAME, "child-init", 0, 0, 0);
  /* A realtime signal, which the wrapper never sends: only the kernel, when the wrapper dies. */
  int death = SIGRTMIN + 1;
  sigset_t waited, empty;
  sigemptyset(&empty);
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, death);
  sigprocmask(SIG_BLOCK, &waited, NULL);
  for (size_t i = 0; i < sizeof group_signals / sizeof group_signals[0]; i++) signal(group_signals[i], SIG_IGN);
  /* A report to a wrapper that died must not kill us before we kill what it started. */
  signal(SIGPIPE, SIG_IGN);

  prctl(PR_SET_PDEATHSIG, death, 0, 0, 0);
  /* The wrapper may have died before the request took effect: then nothing is started. */
  if (getppid() != wrapper) return 137;
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
  if (awaiting && !await_go()) return 0;

  /* The command's exec error comes back on this pipe; a successful exec closes it. */
  int execed[2];
  if (pipe2(execed, O_CLOEXEC) != 0) {
    report("errno", errno);
    return 126;
  }
  pid_t command = fork();
  if (command < 0) {
    report("errno", errno);
    return 126;
  }
  if (command == 0) {
    /* The command starts as the wrapper would have started it: default dispositions, nothing blocked. */
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execvp(command_argv[0], command_argv);
    int e = errno;
    if (write(execed[1], &e, sizeof e) < 0) _exit(126);
    _exit(e == ENOENT ? 127 : 126);
  }
  close(execed[1]);
  int error = 0;
  ssize_t got;
  do {
    got = read(execed[0], &error, sizeof error);
  } while (got < 0 && errno == EINTR);
  close(execed[0]);
  if (got == (ssize_t)sizeof error) {
    report("errno", error);
    close(REPORT_FD);
    int status;
    while (waitpid(command, &status, 0) < 0 && errno == EINTR) {
    }
    return error == ENOENT ? 127 : 126;
  }
  report("pid", command);
  close(REPORT_FD);

  for (;;) {
    siginfo_t info;
    if (sigwaitinfo(&waited, &info) < 0) continue;
    /* Only the kernel's signal counts: the wrapper is no longer our parent. */
    if (info.si_signo == death && getppid() != wrapper) die_with_wrapper();
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == command) mirror(status);
    }
  }
}
