// posix: an ordinary static Linux program (musl-gcc -static) that walks the calls real libraries
// need beyond plain files and prints a deterministic transcript: groups, chmod/chown/utimensat on
// /tmp files with their errors, statfs, getrusage/times, sysinfo, fcntl record locks (classic and
// OFD, between threads, a blocking F_SETLKW woken by an unlock, EDEADLK, close releasing classic
// locks), flock, the wall clock (time, gettimeofday, CLOCK_REALTIME, a new file's mtime), and robust
// futex lists (a thread that exits holding a robust mutex: the next
// locker gets EOWNERDEAD). The build runs it natively (uid 1000, a private tmpfs at /tmp) and the
// scenario requires the same bytes from the personality. With the argument "readonly" it prints
// what only the personality's fixed tree can answer (EROFS, its file-system types).
// Invariant: every line printed depends only on what the calls return, never on time, addresses
// or the machine (timestamps are compared, not printed, unless the program set them).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static const char* error_name(int error) {
  switch (error) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case EDEADLK: return "EDEADLK";
    case ENOLCK: return "ENOLCK";
    case EOVERFLOW: return "EOVERFLOW";
    case EISDIR: return "EISDIR";
    case EXDEV: return "EXDEV";
    case ENOSYS: return "ENOSYS";
    default: return "other";
  }
}

static void show(const char* label, long result) {
  if (result == -1) printf("%s -1 %s\n", label, error_name(errno));
  else printf("%s %ld\n", label, result);
}

static void sleep_milliseconds(long milliseconds) {
  struct timespec duration = {milliseconds / 1000, milliseconds % 1000 * 1000000};
  nanosleep(&duration, NULL);
}

static void mode_of(const char* label, const char* path) {
  struct stat s;
  if (stat(path, &s) != 0) {
    printf("%s stat -1 %s\n", label, error_name(errno));
    return;
  }
  printf("%s mode %o uid %u gid %u\n", label, (unsigned)(s.st_mode & 07777), (unsigned)s.st_uid, (unsigned)s.st_gid);
}

// "Now" as a file system stamps it: Linux's tmpfs takes a coarse clock (up to a tick behind
// CLOCK_REALTIME), so a time counts as now within a second of the interval.
static int near(struct timespec time, struct timespec before, struct timespec after) {
  return time.tv_sec >= before.tv_sec - 1 && time.tv_sec <= after.tv_sec + 1;
}

static void identity(void) {
  gid_t groups[8];
  printf("uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
  show("getgroups-count", getgroups(0, NULL));
  int count = getgroups(8, groups);
  printf("getgroups %d first %u\n", count, count > 0 ? (unsigned)groups[0] : 0u);
  gid_t none[1] = {0};
  show("getgroups-small", syscall(SYS_getgroups, 0 - 1, none));
  show("setgroups", syscall(SYS_setgroups, 1, none));
  show("setgroups-empty", syscall(SYS_setgroups, 0, none));
}

static void modes_and_owners(void) {
  umask(022);
  int fd = open("/tmp/work/file", O_RDWR | O_CREAT | O_TRUNC, 0666);
  show("open", fd >= 0 ? 0 : -1);
  mode_of("created", "/tmp/work/file");
  show("fchmod", fchmod(fd, 0600));
  mode_of("after-fchmod", "/tmp/work/file");
  show("chmod-setuid", chmod("/tmp/work/file", 04755));
  mode_of("after-chmod", "/tmp/work/file");
  show("fchown-keep", fchown(fd, -1, -1));
  mode_of("chown-drops-setuid", "/tmp/work/file");
  show("fchmodat-setgid", fchmodat(AT_FDCWD, "/tmp/work/file", 02750, 0));
  mode_of("after-setgid", "/tmp/work/file");
  show("chdir-tmp", chdir("/tmp"));
  show("fchmodat-relative", fchmodat(AT_FDCWD, "work/file", 0640, 0));
  mode_of("after-fchmodat", "/tmp/work/file");
  show("chmod-dir", chmod("/tmp/work", 0700));
  mode_of("dir", "/tmp/work");
  show("chmod-tmp", chmod("/tmp", 0777));
  show("chmod-missing", chmod("/tmp/work/missing", 0600));
  show("fchmod-bad", fchmod(99, 0600));
  show("chown-self", chown("/tmp/work/file", 1000, 1000));
  show("chown-root", chown("/tmp/work/file", 0, -1));
  show("chown-group-root", chown("/tmp/work/file", -1, 0));
  show("lchown-self", lchown("/tmp/work/file", -1, 1000));
  show("fchownat-bad-flags", fchownat(AT_FDCWD, "/tmp/work/file", -1, -1, 0x4));
  show("fchownat-empty", fchownat(fd, "", 1000, -1, AT_EMPTY_PATH));
  show("chown-tmp", chown("/tmp", 1000, -1));
  mode_of("owned", "/tmp/work/file");
  show("access-x", access("/tmp/work/file", X_OK));
  show("chmod-x", chmod("/tmp/work/file", 0750));
  show("access-x-again", access("/tmp/work/file", X_OK));
  close(fd);
}

// The wall clock: time(), gettimeofday and CLOCK_REALTIME agree and lie after 2025-01-01 and
// before 2100; a file created now carries that time as its mtime (within 2 s); an absolute sleep on
// CLOCK_REALTIME 50 ms ahead ends on time rather than decades later.
static void wall_clock(void) {
  time_t now = time(NULL);
  struct timeval micro;
  gettimeofday(&micro, NULL);
  struct timespec nano;
  clock_gettime(CLOCK_REALTIME, &nano);
  printf("wall clock: after 2025 and before 2100 %d, gettimeofday agrees %d, CLOCK_REALTIME agrees %d\n",
         now >= 1735689600 && now < 4102444800, labs((long)(micro.tv_sec - now)) <= 2,
         labs((long)(nano.tv_sec - now)) <= 2);
  int fd = open("/tmp/work/created-now", O_WRONLY | O_CREAT, 0644);
  show("write-created-now", write(fd, "x", 1));
  close(fd);
  struct stat s;
  stat("/tmp/work/created-now", &s);
  time_t later = time(NULL);
  printf("created file: mtime within 2 s of time() %d\n", s.st_mtime >= now - 2 && s.st_mtime <= later + 2);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 50000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_nsec -= 1000000000;
    deadline.tv_sec += 1;
  }
  show("clock_nanosleep-realtime-absolute", clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, NULL));
  struct timespec woke;
  clock_gettime(CLOCK_REALTIME, &woke);
  printf("woke after the deadline %d\n", woke.tv_sec > deadline.tv_sec ||
                                          (woke.tv_sec == deadline.tv_sec && woke.tv_nsec >= deadline.tv_nsec));
}

static void times_of_files(void) {
  struct stat s;
  int fd = open("/tmp/work/timed", O_RDWR | O_CREAT, 0644);
  struct timespec set[2] = {{1000000000, 500}, {1234567890, 999999999}};
  show("utimensat", utimensat(AT_FDCWD, "/tmp/work/timed", set, 0));
  fstat(fd, &s);
  printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)s.st_atim.tv_sec, s.st_atim.tv_nsec, (long)s.st_mtim.tv_sec,
         s.st_mtim.tv_nsec);
  struct timespec omit_atime[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
  show("utimensat-omit", utimensat(AT_FDCWD, "/tmp/work/timed", omit_atime, 0));
  stat("/tmp/work/timed", &s);
  printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)s.st_atim.tv_sec, s.st_atim.tv_nsec, (long)s.st_mtim.tv_sec,
         s.st_mtim.tv_nsec);
  struct timespec before, after;
  clock_gettime(CLOCK_REALTIME, &before);
  struct timespec now_mtime[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  show("utimensat-now", utimensat(AT_FDCWD, "/tmp/work/timed", now_mtime, 0));
  clock_gettime(CLOCK_REALTIME, &after);
  stat("/tmp/work/timed", &s);
  printf("mtime-now %d atime-kept %d ctime-now %d\n", near(s.st_mtim, before, after), s.st_atim.tv_sec == 1000000000,
         near(s.st_ctim, before, after));
  show("futimens", futimens(fd, set));
  show("futimens-null", futimens(fd, NULL));
  clock_gettime(CLOCK_REALTIME, &after);
  fstat(fd, &s);
  printf("both-now %d\n", near(s.st_atim, before, after) && near(s.st_mtim, before, after));
  struct timeval micro[2] = {{300, 7}, {400, 999999}};
  show("utimes", utimes("/tmp/work/timed", micro));
  stat("/tmp/work/timed", &s);
  printf("atime %ld.%09ld mtime %ld.%09ld\n", (long)s.st_atim.tv_sec, s.st_atim.tv_nsec, (long)s.st_mtim.tv_sec,
         s.st_mtim.tv_nsec);
  struct timeval bad_micro[2] = {{300, 1000000}, {400, 0}};
  show("utimes-bad", utimes("/tmp/work/timed", bad_micro));
  show("futimesat", syscall(SYS_futimesat, AT_FDCWD, "work/timed", micro));
  struct timespec bad[2] = {{1, 1000000000}, {1, 0}};
  show("utimensat-bad-nsec", utimensat(AT_FDCWD, "/tmp/work/timed", bad, 0));
  struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
  show("utimensat-omit-missing", utimensat(AT_FDCWD, "/tmp/work/absent", omit, 0));
  show("utimensat-missing", utimensat(AT_FDCWD, "/tmp/work/absent", set, 0));
  show("utimensat-bad-flags", utimensat(AT_FDCWD, "/tmp/work/timed", set, 0x2));
  show("utimensat-null-path", syscall(SYS_utimensat, AT_FDCWD, NULL, set, 0));
  show("utimensat-fd-flags", syscall(SYS_utimensat, fd, NULL, set, AT_SYMLINK_NOFOLLOW));
  show("utimensat-bad-fd", syscall(SYS_utimensat, 77, NULL, set, 0));
  show("utimensat-tmp-explicit", utimensat(AT_FDCWD, "/tmp", set, 0));
  show("utimensat-tmp-now", utimensat(AT_FDCWD, "/tmp", NULL, 0));
  show("utimensat-bad-pointer", syscall(SYS_utimensat, AT_FDCWD, "/tmp/work/timed", (void*)16, 0));
  // A write moves mtime and ctime to now.
  utimensat(AT_FDCWD, "/tmp/work/timed", set, 0);
  clock_gettime(CLOCK_REALTIME, &before);
  show("write", write(fd, "x", 1));
  clock_gettime(CLOCK_REALTIME, &after);
  fstat(fd, &s);
  printf("write-mtime-now %d ctime-now %d atime-kept %d\n", near(s.st_mtim, before, after),
         near(s.st_ctim, before, after), s.st_atim.tv_sec == 1000000000);
  // musl 1.2.3 has no statx(): the raw call; stx_atime is at offset 64 of struct statx.
  unsigned char x[256];
  show("statx", syscall(SYS_statx, AT_FDCWD, "/tmp/work/timed", 0, 0x7ff, x));
  long long atime_seconds;
  unsigned atime_nanoseconds;
  memcpy(&atime_seconds, x + 64, 8);
  memcpy(&atime_nanoseconds, x + 72, 4);
  printf("statx-atime %lld.%09u\n", atime_seconds, atime_nanoseconds);
  close(fd);
}

// copy_file_range and sendfile (Rust's std::fs::copy and busybox's cat use them).
static void copies(void) {
  int source = open("/tmp/work/source", O_RDWR | O_CREAT | O_TRUNC, 0644);
  int target = open("/tmp/work/target", O_RDWR | O_CREAT | O_TRUNC, 0644);
  write(source, "0123456789abcdefghij", 20);
  lseek(source, 0, SEEK_SET);
  show("copy-file-range", syscall(SYS_copy_file_range, source, NULL, target, NULL, 8, 0));
  off_t in = 12, out = 30;
  show("copy-file-range-offsets", syscall(SYS_copy_file_range, source, &in, target, &out, 100, 0));
  printf("offsets %ld %ld source-at %ld target-at %ld\n", (long)in, (long)out, (long)lseek(source, 0, SEEK_CUR),
         (long)lseek(target, 0, SEEK_CUR));
  char buffer[64] = {0};
  long got = pread(target, buffer, sizeof buffer, 0);
  for (long i = 0; i < got; ++i) if (buffer[i] == 0) buffer[i] = '.';
  printf("target %ld %.*s\n", got, (int)got, buffer);
  show("copy-file-range-at-end", syscall(SYS_copy_file_range, source, &in, target, NULL, 5, 0));
  off_t a = 0, b = 4;
  show("copy-file-range-overlap", syscall(SYS_copy_file_range, source, &a, source, &b, 8, 0));
  show("copy-file-range-flags", syscall(SYS_copy_file_range, source, NULL, target, NULL, 1, 1));
  show("copy-file-range-bad-fd", syscall(SYS_copy_file_range, 99, NULL, target, NULL, 1, 0));
  int appending = open("/tmp/work/target", O_WRONLY | O_APPEND);
  show("copy-file-range-append", syscall(SYS_copy_file_range, source, NULL, appending, NULL, 1, 0));
  off_t negative = -1;
  show("copy-file-range-negative", syscall(SYS_copy_file_range, source, &negative, target, NULL, 1, 0));
  show("copy-file-range-dir", syscall(SYS_copy_file_range, open("/tmp/work", O_RDONLY), NULL, target, NULL, 1, 0));
  off_t from = 10;
  fflush(stdout);
  show("\nsendfile-stdout", syscall(SYS_sendfile, 1, source, &from, 6));
  printf("sendfile-offset %ld\n", (long)from);
  lseek(source, 2, SEEK_SET);
  show("sendfile-file", syscall(SYS_sendfile, target, source, NULL, 3));
  printf("source-at %ld\n", (long)lseek(source, 0, SEEK_CUR));
  show("sendfile-append", syscall(SYS_sendfile, appending, source, NULL, 3));
  show("sendfile-bad-fd", syscall(SYS_sendfile, target, 99, NULL, 3));
  close(appending);
  close(source);
  close(target);
}

static void file_systems(void) {
  struct statfs s;
  show("statfs-tmp", statfs("/tmp", &s));
  printf("tmp type %lx bsize %ld namelen %ld rdonly %d free<=total %d\n", (unsigned long)s.f_type, (long)s.f_bsize,
         (long)s.f_namelen, (int)(s.f_flags & ST_RDONLY), s.f_bfree <= s.f_blocks);
  int fd = open("/tmp/work/file", O_RDONLY);
  struct statfs t;
  show("fstatfs", fstatfs(fd, &t));
  printf("same-type %d\n", t.f_type == s.f_type);
  close(fd);
  show("statfs-missing", statfs("/tmp/nothing", &s));
  show("statfs-bad-pointer", syscall(SYS_statfs, "/tmp", (void*)16));
  show("fstatfs-bad", fstatfs(99, &s));
}

static volatile unsigned long sink;

static void busy(long milliseconds) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    for (int i = 0; i < 100000; ++i) sink += (unsigned long)i * 2654435761u;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < milliseconds);
}

static long microseconds(struct timeval t) { return t.tv_sec * 1000000L + t.tv_usec; }

static void resource_usage(void) {
  struct rusage first, second, thread, children;
  busy(30);
  show("getrusage-self", getrusage(RUSAGE_SELF, &first));
  busy(30);
  getrusage(RUSAGE_SELF, &second);
  printf("cpu-nonzero %d monotonic %d\n", microseconds(first.ru_utime) + microseconds(first.ru_stime) > 0,
         microseconds(second.ru_utime) + microseconds(second.ru_stime) >=
             microseconds(first.ru_utime) + microseconds(first.ru_stime));
  show("getrusage-thread", getrusage(RUSAGE_THREAD, &thread));
  printf("thread-nonzero %d\n", microseconds(thread.ru_utime) + microseconds(thread.ru_stime) > 0);
  show("getrusage-children", getrusage(RUSAGE_CHILDREN, &children));
  printf("children %ld %ld\n", microseconds(children.ru_utime), microseconds(children.ru_stime));
  show("getrusage-bad", getrusage(5, &first));
  show("getrusage-bad-pointer", syscall(SYS_getrusage, RUSAGE_SELF, (void*)16));
  struct tms t;
  clock_t elapsed = times(&t);
  printf("times %d children %ld %ld\n", elapsed != (clock_t)-1, (long)t.tms_cutime, (long)t.tms_cstime);
  struct sysinfo info;
  show("sysinfo", sysinfo(&info));
  printf("sysinfo uptime>0 %d free<=total %d total>0 %d procs>0 %d unit %u\n", info.uptime > 0,
         info.freeram <= info.totalram, info.totalram > 0, info.procs > 0, info.mem_unit);
  show("sysinfo-bad", syscall(SYS_sysinfo, (void*)16));
}

// ---- Record locks ------------------------------------------------------------------------------

static const char* LOCKED = "/tmp/work/locked";

static long set_lock(int fd, int command, short type, short whence, off_t start, off_t length) {
  struct flock lock = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = length, .l_pid = 0};
  return fcntl(fd, command, &lock);
}

// Asks (command F_GETLK or F_OFD_GETLK) who would block a write lock of [start, start + 1).
static void query(const char* label, int fd, int command, off_t start) {
  struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = 1, .l_pid = 0};
  if (fcntl(fd, command, &lock) != 0) {
    printf("%s -1 %s\n", label, error_name(errno));
    return;
  }
  if (lock.l_type == F_UNLCK) {
    printf("%s unlocked\n", label);
    return;
  }
  printf("%s %s start %ld len %ld owner %s\n", label, lock.l_type == F_WRLCK ? "write" : "read", (long)lock.l_start,
         (long)lock.l_len, lock.l_pid == getpid() ? "self" : lock.l_pid == -1 ? "ofd" : "other");
}

static int waiter_ready;
static int unlocked;
static int waiter_fd;

static void* blocking_ofd_waiter(void* argument) {
  (void)argument;
  int fd = open(LOCKED, O_RDWR);
  __atomic_store_n(&waiter_ready, 1, __ATOMIC_SEQ_CST);
  long result = set_lock(fd, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
  printf("thread ofd-setlkw %ld after-unlock %d\n", result, __atomic_load_n(&unlocked, __ATOMIC_SEQ_CST));
  close(fd);
  return NULL;
}

static void* ofd_holder(void* argument) {
  (void)argument;
  int fd = open(LOCKED, O_RDWR);
  printf("thread ofd-lock %ld\n", set_lock(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 200, 10));
  __atomic_store_n(&waiter_ready, 1, __ATOMIC_SEQ_CST);
  sleep_milliseconds(100);
  __atomic_store_n(&unlocked, 1, __ATOMIC_SEQ_CST);
  close(fd);  // Releases its OFD lock: the main thread's F_SETLKW goes on.
  return NULL;
}

static void* classic_in_thread(void* argument) {
  (void)argument;
  waiter_fd = open(LOCKED, O_RDWR);
  printf("thread classic %ld\n", set_lock(waiter_fd, F_SETLK, F_WRLCK, SEEK_SET, 300, 100));
  return NULL;
}

static void* deadlock_partner(void* argument) {
  (void)argument;
  int fd = open(LOCKED, O_RDWR);
  printf("thread ofd-own %ld\n", set_lock(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 501, 1));
  __atomic_store_n(&waiter_ready, 1, __ATOMIC_SEQ_CST);
  long result = set_lock(fd, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 500, 1);  // Behind the main thread's lock.
  printf("thread ofd-wait %ld\n", result);
  close(fd);
  return NULL;
}

static void wait_ready(void) {
  while (!__atomic_load_n(&waiter_ready, __ATOMIC_SEQ_CST)) sleep_milliseconds(1);
  __atomic_store_n(&waiter_ready, 0, __ATOMIC_SEQ_CST);
}

static void record_locks(void) {
  int fd = open(LOCKED, O_RDWR | O_CREAT | O_TRUNC, 0644);
  char zeros[100] = {0};
  write(fd, zeros, sizeof zeros);
  int other = open(LOCKED, O_RDWR);
  show("classic-write", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
  query("getlk-own", fd, F_GETLK, 5);
  query("ofd-getlk", other, F_OFD_GETLK, 5);
  show("ofd-conflict", set_lock(other, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
  show("ofd-read", set_lock(other, F_OFD_SETLK, F_RDLCK, SEEK_SET, 20, 10));
  query("getlk-sees-ofd", fd, F_GETLK, 25);
  show("classic-over-ofd", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 25, 1));
  show("classic-adjacent", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10));
  query("merged", other, F_OFD_GETLK, 15);
  show("classic-unlock-middle", set_lock(fd, F_SETLK, F_UNLCK, SEEK_SET, 5, 5));
  query("split-low", other, F_OFD_GETLK, 0);
  query("split-hole", other, F_OFD_GETLK, 7);
  query("split-high", other, F_OFD_GETLK, 12);
  show("classic-read", set_lock(fd, F_SETLK, F_RDLCK, SEEK_SET, 40, 10));
  show("ofd-shared-read", set_lock(other, F_OFD_SETLK, F_RDLCK, SEEK_SET, 45, 1));
  show("ofd-upgrade", set_lock(other, F_OFD_SETLK, F_WRLCK, SEEK_SET, 45, 1));
  show("classic-downgrade", set_lock(fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10));
  query("downgraded", other, F_OFD_GETLK, 12);
  show("negative-length", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 70, -5));
  query("negative-range", other, F_OFD_GETLK, 66);
  show("from-end", set_lock(fd, F_SETLK, F_WRLCK, SEEK_END, -10, 10));
  query("end-range", other, F_OFD_GETLK, 95);
  lseek(fd, 80, SEEK_SET);
  show("from-current", set_lock(fd, F_SETLK, F_WRLCK, SEEK_CUR, 2, 3));
  query("current-range", other, F_OFD_GETLK, 83);
  show("to-eof", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 1000, 0));
  query("eof-range", other, F_OFD_GETLK, 1 << 30);
  show("negative-start", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 2, -5));
  show("bad-whence", set_lock(fd, F_SETLK, F_WRLCK, 9, 0, 1));
  show("bad-type", set_lock(fd, F_SETLK, 7, SEEK_SET, 0, 1));
  show("overflow", set_lock(fd, F_SETLK, F_WRLCK, SEEK_END, 0x7fffffffffffffffL, 1));
  struct flock unlock_query = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
  show("getlk-unlck", fcntl(fd, F_GETLK, &unlock_query));
  struct flock with_pid = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 7};
  show("ofd-pid", fcntl(other, F_OFD_SETLK, &with_pid));
  int reader = open(LOCKED, O_RDONLY), writer = open(LOCKED, O_WRONLY);
  show("write-lock-readonly", set_lock(reader, F_SETLK, F_WRLCK, SEEK_SET, 900, 1));
  show("read-lock-writeonly", set_lock(writer, F_SETLK, F_RDLCK, SEEK_SET, 900, 1));
  show("bad-fd", set_lock(99, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
  show("bad-pointer", fcntl(fd, F_SETLK, (struct flock*)16));
  // Closing any descriptor of the file drops every classic lock of the process on it.
  close(reader);
  query("after-close-low", other, F_OFD_GETLK, 0);
  query("after-close-read", other, F_OFD_GETLK, 45);
  query("ofd-stays", fd, F_GETLK, 25);
  // OFD locks belong to the description: a duplicate keeps them, the last close drops them.
  int duplicate = dup(other);
  close(other);
  query("ofd-dup-holds", fd, F_GETLK, 25);
  close(duplicate);
  query("ofd-last-close", fd, F_GETLK, 25);
  close(writer);

  // Threads: classic locks of one process never conflict; a blocking OFD wait ends with the unlock.
  pthread_t thread;
  show("classic-hold", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
  pthread_create(&thread, NULL, blocking_ofd_waiter, NULL);
  wait_ready();
  sleep_milliseconds(100);
  __atomic_store_n(&unlocked, 1, __ATOMIC_SEQ_CST);
  long released = set_lock(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
  pthread_join(thread, NULL);  // Before printing: the woken thread prints first.
  show("classic-release", released);
  __atomic_store_n(&unlocked, 0, __ATOMIC_SEQ_CST);
  pthread_create(&thread, NULL, ofd_holder, NULL);
  wait_ready();
  show("classic-setlkw", set_lock(fd, F_SETLKW, F_WRLCK, SEEK_SET, 205, 1));
  printf("after-holder-closed %d\n", __atomic_load_n(&unlocked, __ATOMIC_SEQ_CST));
  pthread_join(thread, NULL);
  pthread_create(&thread, NULL, classic_in_thread, NULL);
  pthread_join(thread, NULL);
  show("classic-same-process", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 350, 1));
  int probe = open(LOCKED, O_RDWR);
  query("thread-classic", probe, F_OFD_GETLK, 320);
  close(waiter_fd);  // The thread's descriptor: every classic lock on the file goes, the main thread's too.
  query("thread-close-releases", probe, F_OFD_GETLK, 350);
  query("thread-close-releases-main", probe, F_OFD_GETLK, 205);
  close(probe);
  // EDEADLK: the main thread would wait for an OFD owner that waits for the main thread.
  show("classic-for-deadlock", set_lock(fd, F_SETLK, F_WRLCK, SEEK_SET, 500, 1));
  pthread_create(&thread, NULL, deadlock_partner, NULL);
  wait_ready();
  // The case needs the partner waiting; a blocked partner cannot be observed, so give it ample time
  // (were it still running, both threads would wait forever: Linux detects only this direction).
  sleep_milliseconds(2000);
  show("deadlock", set_lock(fd, F_SETLKW, F_WRLCK, SEEK_SET, 501, 1));
  released = set_lock(fd, F_SETLK, F_UNLCK, SEEK_SET, 500, 1);
  pthread_join(thread, NULL);
  show("deadlock-resolved", released);
  close(fd);
}

// ---- flock -------------------------------------------------------------------------------------


static void* flock_waiter(void* argument) {
  (void)argument;
  int fd = open("/tmp/work/flocked", O_RDONLY);
  __atomic_store_n(&waiter_ready, 1, __ATOMIC_SEQ_CST);
  long result = flock(fd, LOCK_EX);
  printf("thread flock-ex %ld after-unlock %d\n", result, __atomic_load_n(&unlocked, __ATOMIC_SEQ_CST));
  close(fd);
  return NULL;
}

static void flocks(void) {
  int first = open("/tmp/work/flocked", O_RDWR | O_CREAT, 0644);
  int second = open("/tmp/work/flocked", O_RDONLY);
  show("flock-sh", flock(first, LOCK_SH));
  show("flock-sh-other", flock(second, LOCK_SH | LOCK_NB));
  show("flock-ex-other", flock(second, LOCK_EX | LOCK_NB));
  // Linux converts by releasing first: the failed upgrade lost the shared lock.
  show("flock-ex-first", flock(first, LOCK_EX | LOCK_NB));
  show("flock-sh-blocked", flock(second, LOCK_SH | LOCK_NB));
  show("flock-same-again", flock(first, LOCK_EX));
  int duplicate = dup(first);
  close(first);
  show("flock-dup-holds", flock(second, LOCK_EX | LOCK_NB));
  close(duplicate);
  show("flock-last-close", flock(second, LOCK_EX | LOCK_NB));
  show("flock-and-fcntl", set_lock(second, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
  show("flock-unlock", flock(second, LOCK_UN));
  show("flock-unlock-again", flock(second, LOCK_UN));
  show("flock-bad-op", flock(second, 0));
  show("flock-both", flock(second, LOCK_SH | LOCK_EX));
  show("flock-bad-fd", flock(99, LOCK_SH));
  show("flock-hold", flock(second, LOCK_SH));
  __atomic_store_n(&unlocked, 0, __ATOMIC_SEQ_CST);
  pthread_t thread;
  pthread_create(&thread, NULL, flock_waiter, NULL);
  wait_ready();
  sleep_milliseconds(100);
  __atomic_store_n(&unlocked, 1, __ATOMIC_SEQ_CST);
  long released = flock(second, LOCK_UN);
  pthread_join(thread, NULL);
  show("flock-release", released);
  close(second);
}

// ---- Robust futex lists ------------------------------------------------------------------------

struct robust_list_head_abi {
  void* next;
  long futex_offset;
  void* pending;
};

static pthread_mutex_t robust;
static int robust_held;

static void* robust_owner(void* argument) {
  (void)argument;
  pthread_mutex_lock(&robust);
  __atomic_store_n(&robust_held, 1, __ATOMIC_SEQ_CST);
  // Straight to the kernel's exit, past libc's own clean-up: only the robust list can say it died.
  syscall(SYS_exit, 0);
  return NULL;
}

static void robust_lists(void) {
  static struct robust_list_head_abi head = {&head, 0, NULL};
  show("set-robust-list", syscall(SYS_set_robust_list, &head, sizeof head));
  show("set-robust-list-bad-length", syscall(SYS_set_robust_list, &head, sizeof head - 1));
  void* got = NULL;
  size_t length = 0;
  show("get-robust-list", syscall(SYS_get_robust_list, 0, &got, &length));
  printf("robust-head-same %d length %zu\n", got == &head, length);
  show("get-robust-list-self-tid", syscall(SYS_get_robust_list, getpid(), &got, &length));
  show("get-robust-list-missing", syscall(SYS_get_robust_list, 0x3ffffff0, &got, &length));
  show("get-robust-list-bad-pointer", syscall(SYS_get_robust_list, 0, (void*)16, &length));
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  // Process-shared: musl hands only those to the kernel's robust list (private ones it cleans up
  // itself in pthread_exit, which the owner below never reaches).
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutex_init(&robust, &attributes);
  pthread_t thread;
  pthread_create(&thread, NULL, robust_owner, NULL);
  while (!__atomic_load_n(&robust_held, __ATOMIC_SEQ_CST)) sleep_milliseconds(1);
  int result = pthread_mutex_lock(&robust);
  printf("robust-lock %s\n", result == EOWNERDEAD ? "EOWNERDEAD" : result == 0 ? "0" : "other");
  show("robust-consistent", pthread_mutex_consistent(&robust));
  show("robust-unlock", pthread_mutex_unlock(&robust));
  show("robust-again", pthread_mutex_lock(&robust));
  pthread_mutex_unlock(&robust);
  // The dead thread is not joined: it left through the kernel, not through pthread_exit.
}

static void read_only_tree(void) {
  struct statfs s;
  show("chmod-etc", chmod("/etc/passwd", 0600));
  show("chown-etc", chown("/etc/passwd", 1000, 1000));
  show("utimensat-etc", utimensat(AT_FDCWD, "/etc/passwd", NULL, 0));
  show("lchown-proc-exe", lchown("/proc/self/exe", -1, -1));
  show("fchmod-stdin", fchmod(0, 0600));
  statfs("/", &s);
  printf("root type %lx rdonly %d\n", (unsigned long)s.f_type, (int)(s.f_flags & ST_RDONLY));
  statfs("/proc/self", &s);
  printf("proc type %lx rdonly %d\n", (unsigned long)s.f_type, (int)(s.f_flags & ST_RDONLY));
  fstatfs(1, &s);
  printf("stdout type %lx\n", (unsigned long)s.f_type);
  struct sysinfo info;
  struct rlimit limit;
  sysinfo(&info);
  getrlimit(RLIMIT_AS, &limit);
  printf("totalram-is-limit %d procs %u\n", info.totalram == limit.rlim_cur, info.procs);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "readonly") == 0) {
    read_only_tree();
    return 0;
  }
  show("mkdir", mkdir("/tmp/work", 0755));
  identity();
  modes_and_owners();
  times_of_files();
  wall_clock();
  copies();
  file_systems();
  resource_usage();
  record_locks();
  flocks();
  robust_lists();
  fflush(stdout);
  return 3;  // The status must match too.
}
