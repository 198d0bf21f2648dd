// Asynchronous signals, as Linux delivers them: a handler interrupting a blocked read (EINTR) or
// restarting it (SA_RESTART), nanosleep, poll and waitpid interrupted, alarm and setitimer with
// pause, sigsuspend, sigtimedwait and sigqueue, a POSIX timer's SIGEV_SIGNAL, SIGCHLD, a thread
// spinning in user code stopped by a handler (its floating-point registers intact), another process
// spinning or sleeping ended by SIGTERM or running its SIGUSR1 handler (kill and tgkill), and
// pthread_cancel of threads blocked in read and in sleep. Built with musl (signals) and glibc
// (signals_glibc); each prints one line per case, the same natively and under the personality.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled, last_code, last_value;
static volatile int main_waiting, case_done;
static pthread_t main_thread;

static void count_handler(int signal, siginfo_t* info, void* context) {
  (void)signal;
  (void)context;
  handled = handled + 1;
  last_code = info->si_code;
  last_value = info->si_value.sival_int;
}

static void install(int signal, int flags) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = count_handler;
  action.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, 0);
}

static void pause_ms(int milliseconds) {
  struct timespec span = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
  while (nanosleep(&span, &span) != 0 && errno == EINTR) {
  }
}

// Sends SIGUSR1 to the main thread every 20 ms once it waits, until the case is done (a signal
// that comes before the wait only runs the handler; one during the wait interrupts it).
static void* poke_main(void* unused) {
  (void)unused;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, 0);
  while (!main_waiting) pause_ms(5);
  while (!case_done) {
    pthread_kill(main_thread, SIGUSR1);
    pause_ms(20);
  }
  return 0;
}

static pthread_t start_poker(void) {
  pthread_t poker;
  main_waiting = 0;
  case_done = 0;
  handled = 0;
  pthread_create(&poker, 0, poke_main, 0);
  return poker;
}

static void stop_poker(pthread_t poker) {
  case_done = 1;
  pthread_join(poker, 0);
}

static void read_interrupted(void) {
  int ends[2];
  pipe(ends);
  install(SIGUSR1, 0);
  pthread_t poker = start_poker();
  char byte;
  main_waiting = 1;
  ssize_t got = read(ends[0], &byte, 1);
  int error = errno;
  stop_poker(poker);
  printf("read without SA_RESTART: %zd %s, handler ran %d\n", got, error == EINTR ? "EINTR" : "?", handled > 0);
  close(ends[0]);
  close(ends[1]);
}

static int restart_pipe[2];
static void* write_later(void* unused) {
  (void)unused;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, 0);
  while (!main_waiting) pause_ms(5);
  for (int i = 0; i < 3; ++i) {
    pause_ms(20);
    pthread_kill(main_thread, SIGUSR1);
  }
  pause_ms(20);
  write(restart_pipe[1], "r", 1);
  return 0;
}

static void read_restarted(void) {
  pipe(restart_pipe);
  install(SIGUSR1, SA_RESTART);
  handled = 0;
  main_waiting = 0;
  pthread_t writer;
  pthread_create(&writer, 0, write_later, 0);
  char byte = 0;
  main_waiting = 1;
  ssize_t got = read(restart_pipe[0], &byte, 1);
  pthread_join(writer, 0);
  printf("read with SA_RESTART: %zd '%c', handler ran %d\n", got, byte, handled > 0);
  close(restart_pipe[0]);
  close(restart_pipe[1]);
}

static void nanosleep_interrupted(void) {
  install(SIGUSR1, SA_RESTART);  // Never restarted, as Linux's signal(7) says.
  pthread_t poker = start_poker();
  struct timespec span = {30, 0}, left = {0, 0};
  main_waiting = 1;
  int result = nanosleep(&span, &left);
  int error = errno;
  stop_poker(poker);
  printf("nanosleep: %d %s, time left %d\n", result, error == EINTR ? "EINTR" : "?", left.tv_sec > 20);
}

static void poll_interrupted(void) {
  int ends[2];
  pipe(ends);
  install(SIGUSR1, SA_RESTART);  // poll is never restarted either.
  pthread_t poker = start_poker();
  struct pollfd watched = {ends[0], POLLIN, 0};
  main_waiting = 1;
  int result = poll(&watched, 1, 30000);
  int error = errno;
  stop_poker(poker);
  printf("poll: %d %s\n", result, error == EINTR ? "EINTR" : "?");
  close(ends[0]);
  close(ends[1]);
}

static void waitpid_interrupted(void) {
  install(SIGUSR1, 0);
  pid_t child = fork();
  if (child == 0) {
    pause_ms(400);
    _exit(7);
  }
  pthread_t poker = start_poker();
  int status = 0;
  main_waiting = 1;
  pid_t first = waitpid(child, &status, 0);
  int error = errno;
  stop_poker(poker);
  pid_t second = waitpid(child, &status, 0);
  printf("waitpid: %d %s, then the child %d with status %d\n", (int)first, error == EINTR ? "EINTR" : "?",
         second == child, WEXITSTATUS(status));
}

static void alarm_and_pause(void) {
  install(SIGALRM, 0);
  handled = 0;
  unsigned before = alarm(5);
  unsigned left = alarm(0);
  printf("alarm: %u before, %u left of 5\n", before, left);
  struct itimerval timer = {{0, 0}, {0, 100000}};
  setitimer(ITIMER_REAL, &timer, 0);
  int result = pause();
  int error = errno;
  printf("setitimer + pause: %d %s, SIGALRM handled %d, si_code %s\n", result, error == EINTR ? "EINTR" : "?",
         (int)handled, last_code == SI_KERNEL ? "SI_KERNEL" : "?");
  handled = 0;
  alarm(1);
  while (!handled) pause();
  printf("alarm + pause: SIGALRM handled %d\n", (int)handled);
  struct itimerval periodic = {{0, 30000}, {0, 30000}};
  setitimer(ITIMER_REAL, &periodic, 0);
  handled = 0;
  while (handled < 3) pause();
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, 0);
  printf("periodic setitimer: %d expiries seen\n", handled >= 3);
}

static void* send_usr2_later(void* unused) {
  (void)unused;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, 0);
  pause_ms(50);
  kill(getpid(), SIGUSR2);  // To the process: only the main thread can take it.
  return 0;
}

static void suspend_and_timedwait(void) {
  install(SIGUSR2, 0);
  sigset_t usr2, empty, old;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  sigemptyset(&empty);
  sigprocmask(SIG_BLOCK, &usr2, &old);
  handled = 0;
  pthread_t sender;
  pthread_create(&sender, 0, send_usr2_later, 0);
  int result = sigsuspend(&empty);
  int error = errno;
  pthread_join(sender, 0);
  printf("sigsuspend: %d %s, handler ran %d, si_code %s\n", result, error == EINTR ? "EINTR" : "?", (int)handled,
         last_code == SI_USER ? "SI_USER" : "?");

  pthread_create(&sender, 0, send_usr2_later, 0);
  siginfo_t info;
  struct timespec limit = {30, 0};
  int taken = sigtimedwait(&usr2, &info, &limit);
  pthread_join(sender, 0);
  printf("sigtimedwait: %s, si_code %s\n", taken == SIGUSR2 ? "SIGUSR2" : "?", info.si_code == SI_USER ? "SI_USER" : "?");

  union sigval value = {.sival_int = 42};
  sigqueue(getpid(), SIGUSR2, value);
  taken = sigtimedwait(&usr2, &info, &limit);
  printf("sigqueue + sigtimedwait: %s, si_code %s, value %d\n", taken == SIGUSR2 ? "SIGUSR2" : "?",
         info.si_code == SI_QUEUE ? "SI_QUEUE" : "?", info.si_value.sival_int);

  struct timespec short_limit = {0, 50000000};
  taken = sigtimedwait(&usr2, &info, &short_limit);
  error = errno;
  printf("sigtimedwait with nothing sent: %d %s\n", taken, error == EAGAIN ? "EAGAIN" : "?");
  sigprocmask(SIG_SETMASK, &old, 0);
}

static void posix_timer(void) {
  install(SIGUSR2, 0);
  handled = 0;
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGUSR2;
  event.sigev_value.sival_int = 7;
  timer_t timer;
  int created = timer_create(CLOCK_MONOTONIC, &event, &timer);
  struct itimerspec when = {{0, 0}, {0, 50000000}};
  timer_settime(timer, 0, &when, 0);
  while (!handled) pause();
  struct itimerspec left;
  timer_gettime(timer, &left);
  printf("timer_create: %d, SIGUSR2 handled %d, si_code %s, value %d, disarmed %d\n", created, (int)handled,
         last_code == SI_TIMER ? "SI_TIMER" : "?", (int)last_value, left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0);
  timer_delete(timer);
}

static void sigchld(void) {
  install(SIGCHLD, 0);
  handled = 0;
  pid_t child = fork();
  if (child == 0) _exit(3);
  while (!handled) pause();
  int status;
  waitpid(child, &status, 0);
  printf("SIGCHLD: handler ran %d, si_code %s, exit status %d\n", (int)handled,
         last_code == CLD_EXITED ? "CLD_EXITED" : "?", WEXITSTATUS(status));
  signal(SIGCHLD, SIG_DFL);
}

static volatile int spin_stop;
static void stop_handler(int signal) {
  (void)signal;
  volatile double noise = 3.7;
  noise = noise * 1.3 + 0.1;  // Floating-point registers in use in the handler.
  spin_stop = 1;
}

static void* spin(void* result) {
  double sum = 0;
  long steps = 0;
  while (!spin_stop) {
    sum += 0.5;
    ++steps;
  }
  *(int*)result = sum == steps * 0.5;
  return 0;
}

static void spinning_thread(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = stop_handler;
  sigaction(SIGUSR1, &action, 0);
  int intact = 0;
  pthread_t spinner;
  pthread_create(&spinner, 0, spin, &intact);
  pause_ms(50);
  pthread_kill(spinner, SIGUSR1);
  pthread_join(spinner, 0);
  printf("spinning thread: stopped by its handler, floating point intact %d\n", intact);
}

// Signals to another process that makes no system call: a child spinning in a loop, or sleeping
// 60 s in nanosleep, is ended by SIGTERM, or runs its SIGUSR1 handler (which sets a flag; the child
// then exits 7) at once. The parent sends again every 100 ms until the child is gone: a signal
// that came just before the child's nanosleep began was taken before it (the next one interrupts
// it), and the output stays the same however the processes are scheduled.
static volatile sig_atomic_t child_flag;
static void child_flag_handler(int signal) {
  (void)signal;
  child_flag = 1;
}

static void signal_other_process(int sleeper, int signal, int by_tgkill) {
  int ready[2];
  pipe(ready);
  pid_t child = fork();
  if (child == 0) {
    close(ready[0]);
    if (signal == SIGUSR1) {
      struct sigaction action;
      memset(&action, 0, sizeof action);
      action.sa_handler = child_flag_handler;
      sigaction(SIGUSR1, &action, 0);
    }
    child_flag = 0;
    write(ready[1], "r", 1);
    if (sleeper) {
      struct timespec wait = {60, 0};
      while (!child_flag && nanosleep(&wait, &wait) == 0) {}
      _exit(child_flag ? 7 : 8);
    }
    while (!child_flag) {}
    _exit(7);
  }
  close(ready[1]);
  char byte;
  read(ready[0], &byte, 1);
  close(ready[0]);
  int status = 0;
  for (;;) {
    if (by_tgkill) syscall(SYS_tgkill, child, child, signal);
    else kill(child, signal);
    if (waitpid(child, &status, WNOHANG) != 0) break;
    pause_ms(100);
  }
  printf("%s child, %s by %s: %s %d\n", sleeper ? "sleeping" : "spinning", signal == SIGTERM ? "SIGTERM" : "SIGUSR1",
         by_tgkill ? "tgkill" : "kill", WIFSIGNALED(status) ? "killed by signal" : "exit status",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

static int cancel_pipe[2];
static void* read_forever(void* unused) {
  (void)unused;
  char byte;
  main_waiting = 1;
  read(cancel_pipe[0], &byte, 1);
  return (void*)1;
}
static void* sleep_forever(void* unused) {
  (void)unused;
  main_waiting = 1;
  sleep(100);
  return (void*)1;
}

static void cancel(void* (*body)(void*), const char* what) {
  pipe(cancel_pipe);
  main_waiting = 0;
  pthread_t thread;
  pthread_create(&thread, 0, body, 0);
  while (!main_waiting) pause_ms(5);
  pause_ms(50);
  pthread_cancel(thread);
  void* result = 0;
  pthread_join(thread, &result);
  printf("pthread_cancel of a thread blocked in %s: %s\n", what, result == PTHREAD_CANCELED ? "canceled" : "not canceled");
  close(cancel_pipe[0]);
  close(cancel_pipe[1]);
}

int main(void) {
  setvbuf(stdout, 0, _IONBF, 0);
  main_thread = pthread_self();
  read_interrupted();
  read_restarted();
  nanosleep_interrupted();
  poll_interrupted();
  waitpid_interrupted();
  alarm_and_pause();
  suspend_and_timedwait();
  posix_timer();
  sigchld();
  spinning_thread();
  signal_other_process(0, SIGTERM, 0);
  signal_other_process(1, SIGTERM, 0);
  signal_other_process(0, SIGUSR1, 0);
  signal_other_process(1, SIGUSR1, 0);
  signal_other_process(0, SIGUSR1, 1);
  cancel(read_forever, "read");
  cancel(sleep_forever, "sleep");
  return 0;
}
