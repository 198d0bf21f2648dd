/* fsbench: file-operation costs in TSC ticks per call, for the linux scenario's image functions
 * (dynamically linked against the image's glibc): stat of a file, open + read of 4 KiB + close,
 * and a whole listing (open, getdents64 until the end, close) of a 1,000-entry directory.
 * Prints "<name> <ticks per call> <calls>" lines; exits 1 when an operation fails. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

int main(int argc, char** argv) {
  const char* file = argc > 1 ? argv[1] : "data/page.txt";
  const char* directory = argc > 2 ? argv[2] : "bench/many";
  enum { ROUNDS = 2000, LISTINGS = 50 };
  struct stat info;
  static char buffer[4096];
  static char entries[32768];
  unsigned long long start = __rdtsc();
  for (int i = 0; i < ROUNDS; ++i)
    if (stat(file, &info) != 0) return 1;
  unsigned long long stat_ticks = (__rdtsc() - start) / ROUNDS;
  start = __rdtsc();
  for (int i = 0; i < ROUNDS; ++i) {
    int fd = open(file, O_RDONLY);
    if (fd < 0 || read(fd, buffer, sizeof buffer) != (ssize_t)sizeof buffer) return 1;
    close(fd);
  }
  unsigned long long read_ticks = (__rdtsc() - start) / ROUNDS;
  long names = 0;
  start = __rdtsc();
  for (int i = 0; i < LISTINGS; ++i) {
    int fd = open(directory, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return 1;
    for (;;) {
      long used = syscall(SYS_getdents64, fd, entries, sizeof entries);
      if (used < 0) return 1;
      if (used == 0) break;
      /* Each record: inode (8), offset (8), record length (2), type, name. */
      for (long at = 0; at < used; at += *(unsigned short*)(entries + at + 16)) ++names;
    }
    close(fd);
  }
  unsigned long long list_ticks = (__rdtsc() - start) / LISTINGS;
  printf("fs_stat %llu %d\nfs_open_read_close %llu %d\nfs_getdents_1000 %llu %d\nentries %ld\n", stat_ticks, ROUNDS,
         read_ticks, ROUNDS, list_ticks, LISTINGS, names / LISTINGS);
  return 0;
}
