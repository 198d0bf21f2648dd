// ending: the other threads of a process that ends or execs go at once, as on Linux (musl). The
// input names what pid 1 does; each line printed is the same on Linux and under the personality.
//   ""            three children, each with threads busy in system calls (getpid, pipe writes),
//                 blocked (pipe read, poll, a futex) or computing, while their parent sleeps before
//                 waiting: exit from the main thread, exit_group from another thread, and execve
//                 from another thread; their wait statuses are exact, the execve'd program is
//                 alone in its process with the process's id.
//   "pid1"        pid 1's main thread exits while another thread loops on getpid: status 3.
//   "pid1-thread" another thread of pid 1 calls exit_group while the main thread loops on getpid
//                 and a third computes: status 4.
//   "pid1-exec"   another thread of pid 1 execve's itself while the main thread loops on pipe
//                 writes: status 5.
// Started as "after-exec" (by its own execve) it reports whether it is alone and exits 5: the old
// program's main thread wrote to a pipe in a loop, and nothing more arrives there after the exec.
// The test (user/tests/linux/main.cpp) also counts the machine's ThreadYield calls around the
// default run: threads of a zombie that spun for the lock its exit keeps would show there.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ready[2];     // Each helper thread writes one byte here before its loop or wait.
static int silent[2];    // Nobody ever writes here: a read or poll on it waits for good.
static int flooded[2];   // Written until full, never read: its writer loops until then, then blocks.
static int marks[2];     // The exec case's main thread writes here in a loop; the new program reads.
// The write end of `marks` at a fixed number: a thread that survived the exec would still write
// there (the new program's copy of `marks` is zero until it makes its own pipes).
enum { MARKS_WRITE_END = 100 };
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;  // Never signalled.
static volatile unsigned long computed;

static void say_ready(void) { (void)write(ready[1], "r", 1); }

static void await_ready(int count) {
  char byte;
  for (int i = 0; i < count; ++i)
    if (read(ready[0], &byte, 1) != 1) _exit(90);
}

static void* loop_on_getpid(void* unused) {
  (void)unused;
  say_ready();
  for (;;) (void)getpid();
}

// Big writes: it blocks within a few calls, and meanwhile contends little with the getpid loop.
static void* loop_on_pipe_writes(void* unused) {
  (void)unused;
  static char chunk[65536];
  say_ready();
  for (;;) (void)write(flooded[1], chunk, sizeof chunk);
}

static void* block_in_read(void* unused) {
  (void)unused;
  say_ready();
  char byte;
  (void)read(silent[0], &byte, 1);
  _exit(91);  // Never: nobody writes.
}

static void* block_in_poll(void* unused) {
  (void)unused;
  say_ready();
  struct pollfd entry = {.fd = silent[0], .events = POLLIN};
  (void)poll(&entry, 1, -1);
  _exit(92);  // Never.
}

static void* block_in_futex(void* unused) {
  (void)unused;
  pthread_mutex_lock(&mutex);
  say_ready();
  for (;;) pthread_cond_wait(&never, &mutex);
}

static void* compute(void* unused) {
  (void)unused;
  say_ready();
  for (;;) ++computed;
}

static void* exit_group_after_ready(void* status) {
  await_ready(1);  // The main thread is in its loop.
  _exit((int)(long)status);  // musl: exit_group.
}

// One byte at a time, so that it is writing, not blocked, most of the time.
static void* loop_on_marks(void* unused) {
  (void)unused;
  say_ready();
  for (;;) (void)write(MARKS_WRITE_END, "m", 1);
}

static void* exec_after_ready(void* unused) {
  (void)unused;
  await_ready(2);  // The main thread loops, the futex waiter waits.
  char descriptor[16];
  snprintf(descriptor, sizeof descriptor, "%d", marks[0]);
  char* arguments[] = {"after-exec", descriptor, (char*)0};
  char* environment[] = {(char*)0};
  execve("/proc/self/exe", arguments, environment);
  _exit(93);
}

static void start(void* (*body)(void*), void* argument) {
  pthread_t thread;
  if (pthread_create(&thread, 0, body, argument) != 0) _exit(94);
}

static void status_line(const char* what, int status) {
  if (WIFEXITED(status)) printf("%s: exited %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) printf("%s: signal %d\n", what, WTERMSIG(status));
  else printf("%s: other %d\n", what, status);
  fflush(stdout);
}

// Forks a child that runs `body`; the parent sleeps while the child ends (its threads would spin or
// run on if they were not stopped), then waits and prints the status.
static void child_case(const char* what, void (*body)(void)) {
  pid_t child = fork();
  if (child < 0) _exit(95);
  if (child == 0) {
    body();
    _exit(96);
  }
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, 0);
  int status = 0;
  if (waitpid(child, &status, 0) != child) _exit(97);
  status_line(what, status);
}

// The main thread exits with every kind of other thread alive.
static void exit_with_busy_threads(void) {
  start(loop_on_getpid, 0);
  start(loop_on_pipe_writes, 0);
  start(block_in_read, 0);
  start(block_in_poll, 0);
  start(block_in_futex, 0);
  start(compute, 0);
  await_ready(6);
  exit(7);
}

// Another thread calls exit_group while the main thread loops on getpid.
static void exit_group_from_another_thread(void) {
  start(exit_group_after_ready, (void*)9L);
  (void)loop_on_getpid(0);
}

// Another thread execs while the main thread loops on pipe writes and a third waits on a futex.
static void exec_from_another_thread(void) {
  if (dup2(marks[1], MARKS_WRITE_END) != MARKS_WRITE_END) _exit(98);
  start(block_in_futex, 0);
  start(exec_after_ready, 0);
  (void)loop_on_marks(0);
}

// The exec'ing thread took the process's id. What the old main thread wrote before the exec is
// taken (at most 64 reads of up to 4 KiB, so a writer still looping cannot keep it here); then,
// after 0.1 s in which a surviving writer would have written, nothing more has come.
static int after_exec(const char* descriptor) {
  printf("after exec: tid is pid %s\n", syscall(SYS_gettid) == getpid() ? "yes" : "no");
  int pipe_end = atoi(descriptor);
  if (fcntl(pipe_end, F_SETFL, O_NONBLOCK) != 0) return 99;
  char buffer[4096];
  for (int i = 0; i < 64 && read(pipe_end, buffer, sizeof buffer) > 0; ++i) continue;
  struct timespec pause = {0, 100 * 1000 * 1000};
  nanosleep(&pause, 0);
  printf("after exec: the old main thread %s\n", read(pipe_end, buffer, 1) > 0 ? "still writes" : "is gone");
  return 5;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[0], "after-exec") == 0) return after_exec(argv[1]);
  if (pipe(ready) != 0 || pipe(silent) != 0 || pipe(flooded) != 0 || pipe(marks) != 0) return 98;
  char mode[32] = {0};
  ssize_t length = read(0, mode, sizeof mode - 1);
  if (length > 0 && mode[length - 1] == '\n') mode[length - 1] = 0;
  if (strcmp(mode, "pid1") == 0) {
    start(loop_on_getpid, 0);
    await_ready(1);
    printf("pid 1 exits with 3\n");
    exit(3);
  }
  if (strcmp(mode, "pid1-thread") == 0) {
    printf("another thread of pid 1 exits with 4\n");
    fflush(stdout);
    start(compute, 0);
    await_ready(1);
    start(exit_group_after_ready, (void*)4L);
    (void)loop_on_getpid(0);
  }
  if (strcmp(mode, "pid1-exec") == 0) exec_from_another_thread();
  child_case("exit with busy threads", exit_with_busy_threads);
  child_case("exit_group from another thread", exit_group_from_another_thread);
  child_case("exec from another thread", exec_from_another_thread);
  printf("every child reaped\n");
  return 0;
}
