// procs: processes and pipes as a Linux program sees them (musl). With the input "transcript" it
// prints one line per check, the same bytes on Linux and under the personality: fork and wait
// statuses, pipes (EOF, EPIPE, SIGPIPE, O_CLOEXEC, O_NONBLOCK), dup2 plumbing, execve of itself with
// argv and envp, a missing program, kill of a blocked child, a child that faults, epoll watching a
// pipe written by a child, a pipe between two threads, a handler on its sigaltstack. With "bomb"
// it forks until fork fails
// and reports how many children it made. Started as "child-echo" (by its own execve) it prints its
// arguments and one variable. The cost of fork + exit + wait goes to stderr (TSC ticks), not stdout.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <ucontext.h>
#include <sys/wait.h>
#include <unistd.h>

static void status_line(const char* what, int status) {
  if (WIFEXITED(status)) printf("%s exited %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) printf("%s signal %d\n", what, WTERMSIG(status));
  else printf("%s other %d\n", what, status);
}

static unsigned long long ticks(void) {
  unsigned int low, high;
  __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
  return ((unsigned long long)high << 32) | low;
}

// A thread that blocks reading a pipe until the main thread writes to it (one pipe for threads
// and processes alike).
static void* pipe_reader(void* argument) {
  int* ends = argument;
  static char got[16];
  ssize_t count = read(ends[0], got, sizeof got - 1);
  got[count > 0 ? count : 0] = 0;
  return got;
}

// A handler on the alternate signal stack: where it ran, what its ucontext and siginfo said.
static char alternate_stack[16384];
static volatile int handled_signal, handled_on_alternate, handled_stack_flags, handled_query_flags,
    handled_set_error;
static void on_alternate(int signal, siginfo_t* info, void* context) {
  char local;
  handled_signal = info->si_signo == signal ? signal : -1;
  handled_on_alternate = &local >= alternate_stack && &local < alternate_stack + sizeof alternate_stack;
  handled_stack_flags = ((ucontext_t*)context)->uc_stack.ss_flags;
  stack_t now;
  sigaltstack(0, &now);
  handled_query_flags = now.ss_flags;
  stack_t again = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack};
  handled_set_error = sigaltstack(&again, 0) == -1 ? errno : 0;  // EPERM: it runs there.
}

static int transcript(void) {
  int status = 0;
  // fork, exit codes, getppid.
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) _exit(getppid() == parent ? 7 : 8);
  pid_t waited = waitpid(child, &status, 0);
  printf("fork-child-positive %d waited-same %d\n", child > 0, waited == child);
  status_line("child", status);
  long none_left = (long)waitpid(-1, &status, 0);
  printf("wait-none %ld %s\n", none_left, errno == ECHILD ? "ECHILD" : "?");

  // A pipe between processes: the child upper-cases what it reads and writes it back.
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) return 1;
  child = fork();
  if (child == 0) {
    close(down[1]);
    close(up[0]);
    char buffer[64];
    ssize_t total = 0, got;
    while ((got = read(down[0], buffer + total, sizeof buffer - 1 - (size_t)total)) > 0) total += got;
    for (ssize_t i = 0; i < total; ++i)
      if (buffer[i] >= 'a' && buffer[i] <= 'z') buffer[i] -= 32;
    write(up[1], buffer, (size_t)total);
    _exit(got == 0 ? 0 : 9);  // 0: the read ended with end-of-file.
  }
  close(down[0]);
  close(up[1]);
  write(down[1], "through ", 8);
  write(down[1], "a pipe", 6);
  close(down[1]);  // The child's read sees end-of-file now.
  char answer[64] = {0};
  ssize_t total = 0, got;
  while ((got = read(up[0], answer + total, sizeof answer - 1 - (size_t)total)) > 0) total += got;
  printf("pipe-roundtrip %s eof %ld\n", answer, (long)got);
  close(up[0]);
  waitpid(child, &status, 0);
  status_line("pipe-child", status);

  // No reader: SIGPIPE ends a writer with the default action; ignored, write fails with EPIPE.
  int broken[2];
  pipe(broken);
  close(broken[0]);
  child = fork();
  if (child == 0) {
    write(broken[1], "x", 1);
    _exit(0);
  }
  waitpid(child, &status, 0);
  status_line("sigpipe-writer", status);
  signal(SIGPIPE, SIG_IGN);
  ssize_t wrote = write(broken[1], "x", 1);
  printf("epipe %ld %s\n", (long)wrote, errno == EPIPE ? "EPIPE" : "?");
  signal(SIGPIPE, SIG_DFL);
  close(broken[1]);

  // pipe2 flags: O_CLOEXEC on both descriptors, O_NONBLOCK: EAGAIN when empty and when full.
  int flagged[2];
  int made = pipe2(flagged, O_CLOEXEC | O_NONBLOCK);
  printf("pipe2 %d cloexec %d %d\n", made, fcntl(flagged[0], F_GETFD), fcntl(flagged[1], F_GETFD));
  char byte;
  ssize_t empty = read(flagged[0], &byte, 1);
  printf("nonblock-empty %ld %s\n", (long)empty, errno == EAGAIN ? "EAGAIN" : "?");
  static char block[4096];
  long filled = 0;
  while (write(flagged[1], block, sizeof block) > 0) filled += (long)sizeof block;
  printf("nonblock-full %s some %d\n", errno == EAGAIN ? "EAGAIN" : "?", filled > 0);
  printf("getfl-nonblock %d\n", (fcntl(flagged[1], F_GETFL) & O_NONBLOCK) != 0);
  close(flagged[0]);
  close(flagged[1]);

  // dup2 plumbing and execve of itself: the child's stdout is the pipe; argv and envp arrive.
  int plumbing[2];
  pipe(plumbing);
  int keep = fcntl(plumbing[0], F_DUPFD_CLOEXEC, 20);  // Closed by the exec in the child.
  child = fork();
  if (child == 0) {
    dup2(plumbing[1], 1);
    close(plumbing[0]);
    close(plumbing[1]);
    char* arguments[] = {"child-echo", "two words", (char*)0};
    char* environment[] = {"GREETING=hello from exec", (char*)0};
    execve("/proc/self/exe", arguments, environment);
    _exit(99);
  }
  close(plumbing[1]);
  char echoed[256] = {0};
  total = 0;
  while ((got = read(plumbing[0], echoed + total, sizeof echoed - 1 - (size_t)total)) > 0) total += got;
  printf("exec-output %s", echoed);
  close(plumbing[0]);
  close(keep);
  waitpid(child, &status, 0);
  status_line("exec-child", status);

  // execve failures leave the caller as it was.
  char* none[] = {"missing", (char*)0};
  int result = execve("/no/such/program", none, none + 1);
  printf("execve-missing %d %s\n", result, errno == ENOENT ? "ENOENT" : "?");

  // kill: a child blocked reading a pipe ends by SIGTERM; WNOHANG sees it running first.
  int idle[2];
  pipe(idle);
  child = fork();
  if (child == 0) {
    close(idle[1]);
    read(idle[0], &byte, 1);
    _exit(0);
  }
  printf("wnohang %ld\n", (long)waitpid(child, &status, WNOHANG));
  printf("kill %d\n", kill(child, SIGTERM));
  waitpid(child, &status, 0);
  status_line("killed-child", status);
  close(idle[0]);
  close(idle[1]);
  int gone = kill(child, 0);
  printf("kill-gone %d %s\n", gone, errno == ESRCH ? "ESRCH" : "?");

  // A child that faults ends alone, by SIGSEGV, as on Linux; its parent goes on.
  child = fork();
  if (child == 0) {
    *(volatile int*)16 = 1;
    _exit(0);
  }
  waitpid(child, &status, 0);
  status_line("faulted-child", status);

  // epoll watches a pipe another process writes: it waits for the child's byte, then sees the
  // end once every writer is gone (EPOLLHUP alone on an empty pipe, as Linux says).
  int watched[2];
  pipe(watched);
  int poller = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event event = {.events = EPOLLIN, .data.u64 = 42};
  printf("epoll-ctl %d\n", epoll_ctl(poller, EPOLL_CTL_ADD, watched[0], &event));
  struct epoll_event ready[2];
  printf("epoll-empty %d\n", epoll_wait(poller, ready, 2, 0));
  int release[2];  // The child keeps its write end open until the parent has seen the byte.
  pipe(release);
  child = fork();
  if (child == 0) {
    close(release[1]);
    usleep(20000);
    write(watched[1], "e", 1);
    read(release[0], &byte, 1);
    _exit(0);
  }
  close(watched[1]);
  close(release[0]);
  int count = epoll_wait(poller, ready, 2, 10000);
  printf("epoll-from-child %d events %#x data %llu\n", count, count > 0 ? ready[0].events : 0,
         count > 0 ? (unsigned long long)ready[0].data.u64 : 0ULL);
  read(watched[0], &byte, 1);
  close(release[1]);
  waitpid(child, &status, 0);
  count = epoll_wait(poller, ready, 2, 0);
  printf("epoll-after-writers %d events %#x byte %c\n", count, count > 0 ? ready[0].events : 0, byte);
  close(watched[0]);
  close(poller);

  // A pipe between two threads of one process: the reader blocks until the writer writes.
  int between[2];
  pipe(between);
  pthread_t reader;
  pthread_create(&reader, 0, pipe_reader, between);
  usleep(20000);
  write(between[1], "threads", 7);
  void* received = 0;
  pthread_join(reader, &received);
  printf("thread-pipe <%s>\n", (const char*)received);
  close(between[0]);
  close(between[1]);

  // sigaltstack: an SA_ONSTACK handler runs on the alternate stack with a ucontext and siginfo.
  stack_t tiny = {.ss_sp = alternate_stack, .ss_size = 1024};
  int refused = sigaltstack(&tiny, 0);
  printf("sigaltstack-tiny %d %s\n", refused, errno == ENOMEM ? "ENOMEM" : "?");
  stack_t unset;
  sigaltstack(0, &unset);
  printf("sigaltstack-none flags %d\n", unset.ss_flags);
  stack_t alternate = {.ss_sp = alternate_stack, .ss_size = sizeof alternate_stack};
  printf("sigaltstack-set %d\n", sigaltstack(&alternate, 0));
  struct sigaction onstack = {.sa_sigaction = on_alternate, .sa_flags = SA_ONSTACK | SA_SIGINFO};
  sigaction(SIGUSR1, &onstack, 0);
  kill(getpid(), SIGUSR1);
  printf("handler signal %d on-alternate %d uc-stack-flags %d query-flags %d set-inside %s\n", handled_signal,
         handled_on_alternate, handled_stack_flags, handled_query_flags,
         handled_set_error == EPERM ? "EPERM" : "?");
  stack_t after;
  sigaltstack(0, &after);
  printf("sigaltstack-after flags %d size %zu same %d\n", after.ss_flags, after.ss_size,
         after.ss_sp == alternate_stack);

  // The cost of a fork, its child's exit and the wait, on stderr (it differs between machines).
  unsigned long long before = ticks();
  child = fork();
  if (child == 0) _exit(0);
  waitpid(child, &status, 0);
  fprintf(stderr, "procs: fork+exit+wait %llu TSC ticks\n", ticks() - before);
  fflush(stdout);
  return 3;
}

static int bomb(void) {
  int hold[2];
  if (pipe(hold) != 0) return 1;
  int made = 0;
  for (;;) {
    pid_t child = fork();
    if (child < 0) break;
    if (child == 0) {
      char byte;
      close(hold[1]);
      read(hold[0], &byte, 1);  // Blocks until the bomb's end (the invocation's end, here).
      _exit(0);
    }
    ++made;
  }
  printf("forked %d then errno %d\n", made, errno);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 0 && strcmp(argv[0], "child-echo") == 0) {
    const char* greeting = getenv("GREETING");
    printf("argc %d argv1 <%s> GREETING <%s>\n", argc, argc > 1 ? argv[1] : "", greeting ? greeting : "");
    return 5;
  }
  char mode[32] = {0};
  if (fgets(mode, sizeof mode, stdin) == 0) return 2;
  if (strncmp(mode, "bomb", 4) == 0) return bomb();
  if (strncmp(mode, "transcript", 10) == 0) return transcript();
  return 2;
}
