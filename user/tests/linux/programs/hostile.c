// hostile: a static musl C program that attacks the Linux personality: unknown system-call
// numbers, pointers into the kernel half, across the end of user space and into the personality,
// and an mmap flood of reservations past the address space. Prints one line per check; exits 0.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void line(const char* what, long result) { printf("%s %ld %d\n", what, result, result < 0 ? errno : 0); }

int main(void) {
  char buffer[64] = "x";
  line("enosys-999", syscall(999));
  line("enosys-100000", syscall(100000, 1, 2, 3));
  line("efault-write-kernel", syscall(SYS_write, 1, (void*)0xffff800000000000ul, 8));
  line("efault-read-kernel", syscall(SYS_read, 0, (void*)0xffffffff80000000ul, 8));
  line("efault-write-null", syscall(SYS_write, 1, (void*)0, 8));
  line("efault-write-end", syscall(SYS_write, 1, (void*)0x7ffffffff000ul, 0x2000));
  line("efault-write-wrap", syscall(SYS_write, 1, buffer, ~0ul - 16));
  line("efault-personality", syscall(SYS_write, 1, (void*)0x7e0000000000ul, 16));
  line("efault-uname", syscall(SYS_uname, (void*)0xffff900000000000ul));
  line("efault-clock", syscall(SYS_clock_gettime, 0, (void*)0xfffffffffffff000ul));
  line("ebadf-write-7", syscall(SYS_write, 7, buffer, 1));
  line("einval-arch-gs", syscall(SYS_arch_prctl, 0x1001, 0));
  line("eperm-fs-kernel", syscall(SYS_arch_prctl, 0x1002, 0xffff800000000000ul));

  // Flood: 1 GiB reservations at a time, never touched (they cost no memory, as on Linux), until
  // the address space or the capability slots say no.
  enum { CHUNK = 1 << 20, MAX = 256 };
  static void* chunks[MAX];
  int count = 0;
  int error = 0;
  while (count < MAX) {
    void* chunk = mmap(NULL, (size_t)1 << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED) {
      error = errno;
      break;
    }
    chunks[count++] = chunk;
  }
  printf("flood %s %s\n", error == ENOMEM ? "ENOMEM" : "no-ENOMEM", count >= 2 && count < MAX ? "after-some" : "odd");
  for (int i = 0; i < count; ++i) munmap(chunks[i], (size_t)1 << 30);
  char* again = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int zero = again != MAP_FAILED && again[0] == 0 && again[CHUNK - 1] == 0;
  printf("reuse %s\n", zero ? "zeroed" : "bad");
  struct timespec pause = {0, 1000000};
  printf("nanosleep %d\n", nanosleep(&pause, NULL));
  return 0;
}
