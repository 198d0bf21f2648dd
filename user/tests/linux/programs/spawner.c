/* spawner: pthreads (musl) and the adversarial cases, picked by the first word of stdin.
   "join": three threads add to a counter under a mutex, joined; distinct tids.
   "bomb": threads in a loop until pthread_create fails, each blocked on a condition variable
   that is never signalled; reports how many and the error, then exits with the others blocked.
   "fork": fork in a loop; reports the first failure's errno and exits with status 7.
   "crash": a second thread writes through a null pointer while the first waits for it.
   "timed": a condition wait with a 20 ms timeout that nobody signals (ETIMEDOUT).
   "mainexit": main leaves with pthread_exit; a worker it left behind prints and ends the program.
   "deadlock": main joins a thread that waits forever on a condition variable. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static long counter;
static long tids[3];

static void* add(void* argument) {
  long index = (long)argument;
  tids[index] = syscall(SYS_gettid);
  for (int i = 0; i < 1000; ++i) {
    pthread_mutex_lock(&mutex);
    ++counter;
    pthread_mutex_unlock(&mutex);
    if (i % 100 == 0) sched_yield();
  }
  return (void*)(index + 10);
}

static void* block(void* argument) {
  (void)argument;
  pthread_mutex_lock(&mutex);
  for (;;) pthread_cond_wait(&never, &mutex);
  return 0;
}

static void* crash(void* argument) {
  (void)argument;
  *(volatile int*)0 = 1;
  return 0;
}

static void* late(void* argument) {
  (void)argument;
  struct timespec pause = {0, 10 * 1000 * 1000};
  nanosleep(&pause, 0);
  printf("worker after main\n");
  return 0;
}

int main(void) {
  char word[16] = {0};
  ssize_t got = read(0, word, sizeof word - 1);
  if (got < 0) return 2;
  if (strncmp(word, "join", 4) == 0) {
    pthread_t threads[3];
    for (long i = 0; i < 3; ++i)
      if (pthread_create(&threads[i], 0, add, (void*)i) != 0) return 3;
    long results = 0;
    for (int i = 0; i < 3; ++i) {
      void* result;
      pthread_join(threads[i], &result);
      results += (long)result;
    }
    long self = syscall(SYS_gettid);
    int distinct = tids[0] != tids[1] && tids[1] != tids[2] && tids[0] != tids[2] && tids[0] != self &&
                   tids[1] != self && tids[2] != self;
    printf("counter %ld results %ld distinct %d main %ld\n", counter, results, distinct, self);
    return 0;
  }
  if (strncmp(word, "bomb", 4) == 0) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, 65536);
    int created = 0, error = 0;
    for (;;) {
      pthread_t thread;
      error = pthread_create(&thread, &attributes, block, 0);
      if (error != 0) break;
      ++created;
    }
    printf("created %d threads, then error %d\n", created, error);
    return 0;
  }
  if (strncmp(word, "fork", 4) == 0) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      pid_t child = fork();
      if (child == 0) _exit(0);
      if (child < 0) {
        printf("fork %d failed: errno %d\n", attempt, errno);
        return 7;
      }
    }
    printf("fork never failed\n");
    return 0;
  }
  if (strncmp(word, "crash", 5) == 0) {
    pthread_t thread;
    if (pthread_create(&thread, 0, crash, 0) != 0) return 3;
    pthread_join(thread, 0);
    printf("survived\n");
    return 0;
  }
  if (strncmp(word, "timed", 5) == 0) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 20 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_nsec -= 1000000000;
      deadline.tv_sec += 1;
    }
    pthread_mutex_lock(&mutex);
    int result = pthread_cond_timedwait(&never, &mutex, &deadline);
    pthread_mutex_unlock(&mutex);
    printf("timedwait %d\n", result);
    return 0;
  }
  if (strncmp(word, "deadlock", 8) == 0) {
    pthread_t thread;
    if (pthread_create(&thread, 0, block, 0) != 0) return 3;
    pthread_join(thread, 0);
    printf("joined the unjoinable\n");
    return 0;
  }
  if (strncmp(word, "mainexit", 8) == 0) {
    pthread_t thread;
    if (pthread_create(&thread, 0, late, 0) != 0) return 3;
    pthread_exit(0);
  }
  return 1;
}
