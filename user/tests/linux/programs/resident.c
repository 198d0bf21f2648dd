// resident: a static musl C program that shows the memory limit counting resident pages, as
// cgroup memory.max does. It reserves 1 GiB PROT_NONE, makes 10 MiB of it read-write, touches
// them, gives them back with MADV_DONTNEED and unmaps the rest, printing what sysinfo's freeram
// (the memory limit minus what the invocation uses) says at each step. Input "overflow" instead
// touches 256 MiB until the limit ends the invocation.
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
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

int main(void) {
  char mode[16] = {0};
  (void)!read(0, mode, sizeof mode - 1);
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
