// resident: a static musl C program that shows the memory limit counting resident pages, as
// cgroup memory.max does. It reserves 1 GiB PROT_NONE, makes 10 MiB of it read-write, touches
// them, gives them back with MADV_DONTNEED and unmaps the rest, printing what sysinfo's freeram
// (the memory limit minus what the invocation uses) says at each step. Input "overflow" instead
// touches 256 MiB until the limit ends the invocation. Input "fork" forks with a 1 GiB reservation
// of which 1 MiB is touched: the child sees those bytes and costs about what was touched, not the
// reservation. Input "forkcost <MiB>" times forks (child _exit, parent waitpid) with a
// reservation of that size, 1 MiB of it touched, and prints the median nanoseconds of 21 forks
// (not compared: docs/LINUX.md quotes it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PAGE = 4096, TOUCHED = 10 << 20 };
static const size_t RESERVED = (size_t)1 << 30;

static long free_ram(void) {
  struct sysinfo info;
  return sysinfo(&info) == 0 ? (long)info.freeram : -1;
}

// A figure within [low, high] pages prints as "ok", else as the page count it was.
static void figure(const char* what, long bytes, long low, long high) {
  long pages = bytes / PAGE;
  if (pages >= low && pages <= high) printf("%s ok\n", what);
  else printf("%s %ld pages\n", what, pages);
}

enum { FORK_TOUCHED_PAGES = 256 };

static char* reserve_and_touch(size_t bytes) {
  char* area = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (area == MAP_FAILED || mprotect(area, FORK_TOUCHED_PAGES * PAGE, PROT_READ | PROT_WRITE) != 0) return NULL;
  for (int page = 0; page < FORK_TOUCHED_PAGES; ++page) area[(size_t)page * PAGE] = (char)(page + 1);
  return area;
}

static int fork_and_wait(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  return child > 0 && waitpid(child, &status, 0) == child && status == 0;
}

// The child checks the parent's bytes, writes its own, and sends what sysinfo says once it exists.
static int fork_copies_touched_pages(void) {
  char* area = reserve_and_touch(RESERVED);
  if (area == NULL) return printf("reserve failed\n"), 1;
  if (!fork_and_wait()) return printf("first fork failed\n"), 1;  // Makes the shared state first.
  int report[2];
  if (pipe(report) != 0) return printf("pipe failed\n"), 1;
  long before = free_ram();
  pid_t child = fork();
  if (child < 0) return printf("fork failed\n"), 1;
  if (child == 0) {
    int same = 1;
    for (int page = 0; page < FORK_TOUCHED_PAGES; ++page) same = same && area[(size_t)page * PAGE] == (char)(page + 1);
    same = same && area[(size_t)FORK_TOUCHED_PAGES * PAGE - 1] == 0;
    long seen = free_ram();
    for (int page = 0; page < FORK_TOUCHED_PAGES; ++page) area[(size_t)page * PAGE] = 0x55;
    long message[2] = {same, seen};
    (void)!write(report[1], message, sizeof message);
    _exit(0);
  }
  long message[2] = {0, 0};
  int status = -1;
  if (read(report[0], message, sizeof message) != sizeof message || waitpid(child, &status, 0) != child)
    return printf("child lost\n"), 1;
  printf("fork-child-sees-the-touched-bytes %s\n", message[0] ? "ok" : "no");
  // The child's copy of the 256 touched pages, its share of the personality's data (about 30
  // pages), its stack, thread and task and their tables: far below the 262,144 reserved pages.
  figure("fork-child-costs-the-touched-pages-only", before - message[1], FORK_TOUCHED_PAGES, FORK_TOUCHED_PAGES + 160);
  int kept = 1;
  for (int page = 0; page < FORK_TOUCHED_PAGES; ++page) kept = kept && area[(size_t)page * PAGE] == (char)(page + 1);
  printf("parent-bytes-unchanged %s status %d\n", kept ? "ok" : "no", status);
  return 0;
}

static long nanoseconds_since(const struct timespec* start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000000000L + (now.tv_nsec - start->tv_nsec);
}

// The median of 21 rounds: a loaded host stalls single rounds by seconds.
static int fork_cost(long mebibytes) {
  if (reserve_and_touch((size_t)mebibytes << 20) == NULL) return printf("reserve failed\n"), 1;
  if (!fork_and_wait()) return printf("first fork failed\n"), 1;
  enum { ROUNDS = 21 };
  long rounds[ROUNDS];
  for (int round = 0; round < ROUNDS; ++round) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (!fork_and_wait()) return printf("fork failed\n"), 1;
    long took = nanoseconds_since(&start);
    int at = round;
    for (; at > 0 && rounds[at - 1] > took; --at) rounds[at] = rounds[at - 1];
    rounds[at] = took;
  }
  printf("fork+wait %ld MiB reserved: median %ld ns\n", mebibytes, rounds[ROUNDS / 2]);
  return 0;
}

int main(void) {
  char mode[24] = {0};
  (void)!read(0, mode, sizeof mode - 1);
  if (strcmp(mode, "fork") == 0) return fork_copies_touched_pages();
  if (strncmp(mode, "forkcost ", 9) == 0) return fork_cost(atol(mode + 9));
  if (strcmp(mode, "overflow") == 0) {
    size_t bytes = (size_t)256 << 20;
    volatile char* area = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("overflow mmap %s\n", area == MAP_FAILED ? "failed" : "ok");
    fflush(stdout);
    if (area == MAP_FAILED) return 1;
    for (size_t offset = 0; offset < bytes; offset += PAGE) area[offset] = 1;
    printf("overflow survived\n");
    return 0;
  }
  long start = free_ram();
  char* area = mmap(NULL, RESERVED, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (area == MAP_FAILED) {
    printf("reserve failed\n");
    return 1;
  }
  long reserved = free_ram();
  // The reservation's bookkeeping only (kernel objects, a page of frame addresses per 2 MiB
  // touched later): under 4 pages for a whole GiB.
  figure("reserve-1GiB-costs-under-4-pages", start - reserved, 0, 3);
  printf("mprotect %d\n", mprotect(area, TOUCHED, PROT_READ | PROT_WRITE));
  long writable = free_ram();
  figure("mprotect-costs-under-2-pages", reserved - writable, 0, 1);
  for (size_t offset = 0; offset < TOUCHED; offset += PAGE) area[offset] = (char)(offset / PAGE + 1);
  long touched = free_ram();
  // 2560 pages, plus at most 6 pages of frame addresses and 8 page tables around them.
  figure("touch-10MiB-is-2560-pages-and-tables", writable - touched, 2560, 2560 + 14);
  int kept = 1;
  for (size_t offset = 0; offset < TOUCHED; offset += PAGE) kept = kept && area[offset] == (char)(offset / PAGE + 1);
  printf("contents %s\n", kept ? "kept" : "lost");
  printf("madvise %d\n", madvise(area, TOUCHED, MADV_DONTNEED));
  long advised = free_ram();
  // Every frame back, and the pages of frame addresses that the range covered whole.
  figure("dontneed-gives-back-2560-pages", advised - touched, 2560, 2560 + 6);
  int zero = 1;
  for (size_t offset = 0; offset < TOUCHED; offset += PAGE) zero = zero && area[offset] == 0;
  printf("after-dontneed %s\n", zero ? "zero" : "not-zero");
  long retouched = free_ram();
  figure("reading-again-is-2560-pages", advised - retouched, 2560, 2560 + 6);
  printf("munmap %d\n", munmap(area, RESERVED));
  long unmapped = free_ram();
  // Back where the reservation began, but for the page tables, which stay with the task.
  figure("munmap-gives-everything-back", unmapped - retouched, 2560, 2560 + 10);
  return 0;
}
