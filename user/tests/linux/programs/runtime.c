// runtime: an ordinary static Linux program (musl-gcc -static) that probes what managed runtimes
// ask of the kernel besides memory and threads: mincore over touched, untouched, decommitted,
// PROT_NONE and unmapped pages with its errors; /proc/self/auxv read whole and checked against
// getauxval; eventfd2 (counting and semaphore modes, non-blocking errors, the counter's ceiling,
// a blocking read woken by another thread's write) watched by poll and epoll. The build runs it
// natively (uid 1000, a private tmpfs at /tmp) and the scenario requires the same bytes from the
// personality.
// Invariant: every line printed depends only on what the calls return, never on time, addresses
// or the machine.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char* error_name(int error) {
  switch (error) {
    case EAGAIN: return "EAGAIN";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EBADF: return "EBADF";
    default: return "other";
  }
}

// "-1 ENAME" or the result.
static void show(const char* what, long result) {
  if (result < 0) printf("%s -1 %s\n", what, error_name(errno));
  else printf("%s %ld\n", what, result);
}

static void show_vector(const char* what, const unsigned char* vector, int pages) {
  printf("%s ", what);
  for (int i = 0; i < pages; ++i) putchar('0' + (vector[i] & 1));
  putchar('\n');
}

static void mincore_cases(void) {
  enum { PAGES = 16 };
  long page = sysconf(_SC_PAGESIZE);
  unsigned char vector[PAGES];
  char* area = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return;
  show("mincore-fresh", mincore(area, PAGES * page, vector));
  show_vector("fresh", vector, PAGES);
  area[0] = 1;
  area[3 * page + 100] = 2;
  area[9 * page] = 3;
  area[15 * page + page - 1] = 4;
  volatile char read_only = area[5 * page];  // A read makes a page resident too (Linux's zero page).
  (void)read_only;
  show("mincore-touched", mincore(area, PAGES * page, vector));
  show_vector("touched", vector, PAGES);
  show("madvise-dontneed", madvise(area + 3 * page, 2 * page, MADV_DONTNEED));
  show("mincore-after-dontneed", mincore(area, PAGES * page, vector));
  show_vector("after-dontneed", vector, PAGES);
  // A length that is not a multiple of the page counts its last partial page.
  memset(vector, 7, sizeof vector);
  show("mincore-partial", mincore(area + 8 * page, page + 1, vector));
  show_vector("partial", vector, 3);
  show("mincore-unaligned", mincore(area + 1, page, vector));
  show("mincore-zero-length", mincore(area, 0, vector));
  show("mincore-bad-vector", syscall(SYS_mincore, area, page, (void*)8));
  show("munmap-middle", munmap(area + 4 * page, 4 * page));
  show("mincore-over-hole", mincore(area, PAGES * page, vector));
  show("mincore-after-hole", mincore(area + 8 * page, 8 * page, vector));
  show_vector("after-hole", vector, 8);
  munmap(area, PAGES * page);
  show("mincore-unmapped", mincore(area, page, vector));
  // A PROT_NONE reservation (Go's arenas, thread stacks' guards): mapped, nothing resident.
  char* reserved = mmap(NULL, 64 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  unsigned char reserved_vector[64];
  show("mincore-reserved", mincore(reserved, 64 * page, reserved_vector));
  show_vector("reserved", reserved_vector, 64);
  munmap(reserved, 64 * page);
  // The program's own stack and text are resident.
  char local = 0;
  unsigned char one = 0;
  show("mincore-stack", mincore((void*)((uintptr_t)&local & ~(uintptr_t)(page - 1)), 1, &one));
  printf("stack-resident %d\n", one & 1);
  one = 0;
  show("mincore-text", mincore((void*)((uintptr_t)&mincore_cases & ~(uintptr_t)(page - 1)), 1, &one));
  printf("text-resident %d\n", one & 1);
}

// Address hints, as Go's runtime reserves its heap arenas: a free hint is taken as given, mapped
// over with MAP_FIXED inside, and a hint over a mapping is placed elsewhere.
static void hint_cases(void) {
  long page = sysconf(_SC_PAGESIZE);
  size_t size = 64 << 20;
  char* hint = (char*)0xc000000000;
  char* reserved = mmap(hint, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("hint-taken %d\n", reserved == hint);
  if (reserved == MAP_FAILED) return;
  char* used = mmap(reserved + (4 << 20), 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  printf("fixed-inside %d\n", used == reserved + (4 << 20));
  used[0] = 'g';
  used[(1 << 20) - 1] = 'o';
  unsigned char vector[4];
  show("mincore-inside", mincore(used, 4 * page, vector));
  show_vector("inside", vector, 4);
  char* other = mmap(hint + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  printf("hint-over-mapping-elsewhere %d\n", other != MAP_FAILED && (other < reserved || other >= reserved + size));
  printf("bytes %c%c\n", used[0], used[(1 << 20) - 1]);
  munmap(other, page);
  show("munmap-reservation", munmap(reserved, size));
  char* again = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  printf("hint-taken-again %d zero %d\n", again == hint, again != MAP_FAILED && again[(4 << 20)] == 0);
  if (again != MAP_FAILED) munmap(again, size);
}

static void auxv_cases(void) {
  int descriptor = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) {
    printf("auxv open -1 %s\n", error_name(errno));
    return;
  }
  unsigned long pairs[128];
  size_t bytes = 0;
  for (;;) {  // Small reads, as a runtime reading it in pieces would.
    ssize_t got = read(descriptor, (char*)pairs + bytes, bytes + 40 <= sizeof pairs ? 40 : sizeof pairs - bytes);
    if (got <= 0) break;
    bytes += (size_t)got;
  }
  close(descriptor);
  size_t count = bytes / 16;
  printf("auxv whole-pairs %d ends-with-null %d\n", bytes % 16 == 0,
         count > 0 && pairs[2 * (count - 1)] == AT_NULL && pairs[2 * (count - 1) + 1] == 0);
  int mismatches = 0, nulls = 0;
  for (size_t i = 0; i < count; ++i) {
    if (pairs[2 * i] == AT_NULL) {
      ++nulls;
      continue;
    }
    if (getauxval(pairs[2 * i]) != pairs[2 * i + 1]) ++mismatches;
  }
  printf("auxv entries-match-getauxval %d nulls %d\n", mismatches == 0, nulls);
  static const struct {
    unsigned long type;
    const char* name;
  } shown[] = {{AT_PAGESZ, "AT_PAGESZ"}, {AT_UID, "AT_UID"},       {AT_EUID, "AT_EUID"},     {AT_GID, "AT_GID"},
               {AT_EGID, "AT_EGID"},     {AT_SECURE, "AT_SECURE"}, {AT_CLKTCK, "AT_CLKTCK"}, {AT_FLAGS, "AT_FLAGS"}};
  for (size_t j = 0; j < sizeof shown / sizeof shown[0]; ++j) {
    int found = 0;
    unsigned long value = 0;
    for (size_t i = 0; i < count && !found; ++i)
      if (pairs[2 * i] == shown[j].type) {
        found = 1;
        value = pairs[2 * i + 1];
      }
    printf("auxv %s found %d value %lu\n", shown[j].name, found, value);
  }
  int has_entry = 0, has_phdr = 0, has_random = 0;
  for (size_t i = 0; i < count; ++i) {
    has_entry |= pairs[2 * i] == AT_ENTRY && pairs[2 * i + 1] != 0;
    has_phdr |= pairs[2 * i] == AT_PHDR && pairs[2 * i + 1] != 0;
    has_random |= pairs[2 * i] == AT_RANDOM && pairs[2 * i + 1] != 0;
  }
  printf("auxv entry %d phdr %d random %d\n", has_entry, has_phdr, has_random);
}

static int blocking_event = -1;

static void* event_writer(void* unused) {
  (void)unused;
  uint64_t value = 42;
  usleep(20000);  // The main thread is (most likely) blocked in its read by now.
  write(blocking_event, &value, sizeof value);
  return NULL;
}

static void show_epoll(const char* what, int epoll, int descriptor) {
  struct epoll_event events[4];
  int ready = epoll_wait(epoll, events, 4, 0);
  printf("%s ready %d", what, ready);
  for (int i = 0; i < ready; ++i)
    printf(" fd-matches %d in %d out %d", events[i].data.fd == descriptor, (events[i].events & EPOLLIN) != 0,
           (events[i].events & EPOLLOUT) != 0);
  putchar('\n');
}

static void eventfd_cases(void) {
  uint64_t value = 0;
  int counter = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
  printf("eventfd %d cloexec %d nonblock %d\n", counter >= 0, (fcntl(counter, F_GETFD) & FD_CLOEXEC) != 0,
         (fcntl(counter, F_GETFL) & O_NONBLOCK) != 0);
  struct stat status;
  show("fstat", fstat(counter, &status));
  printf("mode %o uid %u size %lld\n", (unsigned)status.st_mode, (unsigned)status.st_uid, (long long)status.st_size);
  show("read-initial", read(counter, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  show("read-empty", read(counter, &value, sizeof value));
  value = 5;
  show("write-5", write(counter, &value, sizeof value));
  value = 7;
  show("write-7", write(counter, &value, sizeof value));
  show("read-short", read(counter, &value, 4));
  show("read-sum", read(counter, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  value = UINT64_MAX;
  show("write-max", write(counter, &value, sizeof value));
  show("write-short", write(counter, &value, 4));
  show("write-bad-pointer", write(counter, (void*)8, 8));

  int epoll = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event watch = {.events = EPOLLIN | EPOLLOUT, .data.fd = counter};
  show("epoll-add", epoll_ctl(epoll, EPOLL_CTL_ADD, counter, &watch));
  show_epoll("epoll-empty", epoll, counter);
  value = 1;
  show("write-1", write(counter, &value, sizeof value));
  show_epoll("epoll-one", epoll, counter);
  show("read-one", read(counter, &value, sizeof value));
  value = 0xfffffffffffffffeull;  // The ceiling: readable, no longer writable.
  show("write-ceiling", write(counter, &value, sizeof value));
  show_epoll("epoll-full", epoll, counter);
  value = 1;
  show("write-over-ceiling", write(counter, &value, sizeof value));
  struct pollfd poll_entry = {.fd = counter, .events = POLLIN | POLLOUT};
  show("poll-full", poll(&poll_entry, 1, 0));
  printf("poll-revents in %d out %d\n", (poll_entry.revents & POLLIN) != 0, (poll_entry.revents & POLLOUT) != 0);
  show("read-ceiling", read(counter, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  show("epoll-del", epoll_ctl(epoll, EPOLL_CTL_DEL, counter, NULL));
  close(epoll);
  close(counter);
  show("read-closed", read(counter, &value, sizeof value));

  int semaphore = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
  show("semaphore-read", read(semaphore, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  show("semaphore-read", read(semaphore, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  show("semaphore-read", read(semaphore, &value, sizeof value));
  close(semaphore);
  show("eventfd2-bad-flags", syscall(SYS_eventfd2, 0, 0x40));
  show("eventfd-plain", syscall(SYS_eventfd, 9) >= 0 ? 0 : -1);

  // A blocking read returns once another thread writes.
  blocking_event = eventfd(0, 0);
  pthread_t writer;
  pthread_create(&writer, NULL, event_writer, NULL);
  value = 0;
  show("blocking-read", read(blocking_event, &value, sizeof value));
  printf("value %llu\n", (unsigned long long)value);
  pthread_join(writer, NULL);
  close(blocking_event);
}

int main(void) {
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  mincore_cases();
  hint_cases();
  auxv_cases();
  eventfd_cases();
  return 0;
}
