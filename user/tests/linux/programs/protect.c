/* protect: mprotect on anonymous memory, as a Linux program sees it. Reads "hello" on stdin and
 * prints one line per step: the call, its result and errno (0 on success). With the input
 * "write-read-only" or "read-none" it faults on purpose at a fixed address instead (the caller
 * checks that the invocation crashed there). On Linux the transcript is the same except that
 * mprotect-exec succeeds there (the personality gives no anonymous memory PROT_EXEC). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define FIXED ((char*)0x200000000000)

/* The system call itself: libc's clock_gettime may use the vDSO, which would fault, not fail. */
static long clock_into(void* target) { return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, target); }

static void step(const char* name, long result) { printf("%s %ld %d\n", name, result, result < 0 ? errno : 0); }

static int fault(const char* how) {
  char* fixed = mmap(FIXED, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (fixed != FIXED) return 2;
  memset(fixed, 'f', 3 * PAGE);
  if (mprotect(fixed + PAGE, PAGE, PROT_READ) != 0 || mprotect(fixed + 2 * PAGE, PAGE, PROT_NONE) != 0) return 3;
  volatile char* target = strcmp(how, "write-read-only") == 0 ? fixed + PAGE + 8 : fixed + 2 * PAGE + 16;
  fprintf(stderr, "protect: touching %p\n", (void*)target);
  if (strcmp(how, "write-read-only") == 0) *target = 'x';
  else if (*target == 'f') return 4;
  return 5;  /* Not reached: the touch faults. */
}

int main(void) {
  char input[32] = {0};
  if (read(0, input, 1) != 1) return 1;
  if (input[0] != 'h') {
    if (read(0, input + 1, sizeof input - 2) < 0) return 1;
    return fault(input);
  }
  /* A file, not /dev/sink: Linux reads the bytes of a write only when it keeps them. */
  int sink = open("/tmp/sink", O_WRONLY | O_CREAT | O_TRUNC, 0600);

  char* p = mmap(0, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(p, 'a', 3 * PAGE);
  step("mprotect-read", mprotect(p + PAGE, PAGE, PROT_READ));
  printf("read-back %c%c\n", p[PAGE], p[2 * PAGE - 1]);
  step("read-into-read-only", read(0, p + PAGE, 4));  /* Nothing consumed. */
  step("clock-into-read-only", clock_into(p + PAGE));
  step("write-from-read-only", write(sink, p + PAGE, 16));
  step("read-into-neighbour", read(0, p, 4));
  printf("neighbour-got %.4s\n", p);
  step("neighbour-still-writable", clock_into(p));
  step("mprotect-read-write", mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE));
  p[PAGE] = 'b';
  step("clock-into-writable-again", clock_into(p + PAGE + 64));
  printf("wrote-again %c\n", p[PAGE]);

  step("mprotect-none", mprotect(p + 2 * PAGE, PAGE, PROT_NONE));
  step("write-from-none", write(sink, p + 2 * PAGE, 1));
  step("mprotect-exec", mprotect(p, PAGE, PROT_READ | PROT_EXEC));
  step("mprotect-unaligned", syscall(SYS_mprotect, p + 1, PAGE, PROT_READ));
  step("mprotect-unmapped", mprotect((void*)0x300000000000, PAGE, PROT_READ));
  step("munmap-with-guard", munmap(p, 3 * PAGE));

  /* As musl and glibc make thread stacks: all PROT_NONE, then the stack read-write. */
  char* q = mmap(0, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  step("write-from-none-mapping", write(sink, q, 1));
  step("mprotect-stack", mprotect(q + PAGE, PAGE, PROT_READ | PROT_WRITE));
  q[PAGE] = 's';
  step("write-from-stack", write(sink, q + PAGE, 1));
  step("write-from-guard", write(sink, q, 1));

  /* mremap keeps the protection of what it moves. */
  step("mprotect-before-mremap", mprotect(q + PAGE, PAGE, PROT_READ));
  char* moved = mremap(q + PAGE, PAGE, 4 * PAGE, MREMAP_MAYMOVE);
  step("mremap", moved == MAP_FAILED ? -1 : 0);
  printf("moved-keeps %c\n", moved[0]);
  step("clock-into-moved", clock_into(moved + 3 * PAGE));
  step("write-from-moved", write(sink, moved, 4 * PAGE));

  /* MADV_DONTNEED zeroes a read-only page, which stays read-only. */
  step("madvise-dontneed", madvise(moved, PAGE, MADV_DONTNEED));
  printf("dontneed-zeroes %d\n", moved[0]);
  step("clock-into-dontneed", clock_into(moved));
  step("munmap-moved", munmap(moved, 4 * PAGE));
  step("munmap-guard", munmap(q, PAGE));

  /* Freed memory comes back read-write and zero. */
  char* r = mmap(0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int zero = 1;
  for (int i = 0; i < 4 * PAGE; ++i) zero = zero && r[i] == 0;
  memset(r, 'r', 4 * PAGE);
  printf("reused zero=%d\n", zero);
  step("clock-into-reused", clock_into(r + 3 * PAGE));
  return 0;
}
