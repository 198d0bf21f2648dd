// files: an ordinary static Linux program (musl-gcc -static) that works with files and prints a
// deterministic transcript: a directory and files in /tmp written, read back, listed, stat'ed,
// renamed and removed; descriptors duplicated; /etc/passwd, /etc/hostname, /dev/null and
// /proc/self/exe read; and the errors a program must get (EROFS, ENOENT, EEXIST, ENAMETOOLONG,
// EFAULT, ENOTDIR, EISDIR, ENOTEMPTY, EBADF, EMFILE). With the argument "fill" it fills /tmp until
// the memory limit refuses and reports the error instead.
// Invariant: every line printed depends only on what the calls return, never on time or addresses.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char* error_name(int error) {
  switch (error) {
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOSPC: return "ENOSPC";
    case EFBIG: return "EFBIG";
    case ETXTBSY: return "ETXTBSY";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTEMPTY: return "ENOTEMPTY";
    default: return "other";
  }
}

// Prints "label result" and, for -1, the error's name.
static void show(const char* label, long result) {
  if (result == -1) printf("%s -1 %s\n", label, error_name(errno));
  else printf("%s %ld\n", label, result);
}

static int compare_names(const void* left, const void* right) {
  return strcmp(*(char* const*)left, *(char* const*)right);
}

// Lists a directory with readdir, names sorted (so the host's order does not matter).
static void list(const char* path) {
  DIR* directory = opendir(path);
  if (directory == NULL) {
    printf("ls %s: %s\n", path, error_name(errno));
    return;
  }
  char* names[32];
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(directory)) != NULL && count < 32) names[count++] = strdup(entry->d_name);
  closedir(directory);
  qsort(names, (size_t)count, sizeof names[0], compare_names);
  printf("ls %s:", path);
  for (int i = 0; i < count; ++i) {
    printf(" %s", names[i]);
    free(names[i]);
  }
  printf("\n");
}

static void print_file(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("cat %s: %s\n", path, error_name(errno));
    return;
  }
  char buffer[512];
  ssize_t length = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  buffer[length < 0 ? 0 : length] = '\0';
  printf("cat %s:\n%s", path, buffer);
}

static void transcript(void) {
  char text[4200];
  show("umask", umask(022));
  printf("cwd %s\n", getcwd(text, sizeof text));
  show("mkdir", mkdir("/tmp/work", 0755));

  int fd = open("/tmp/work/notes.txt", O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  printf("open-create %s\n", fd >= 3 ? "ok" : error_name(errno));
  show("write", write(fd, "hello files\n", 12));
  show("write", write(fd, "second line\n", 12));
  show("close", close(fd));

  FILE* file = fopen("/tmp/work/notes.txt", "r");
  while (fgets(text, sizeof text, file) != NULL) printf("read: %s", text);
  fclose(file);

  fd = open("/tmp/work/notes.txt", O_RDWR);
  show("lseek-end", lseek(fd, 0, SEEK_END));
  show("pwrite-past-end", pwrite(fd, "XY", 2, 30));
  char bytes[8];
  show("pread", pread(fd, bytes, 8, 24));
  printf("gap %d %d %d %d %d %d %c%c\n", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6],
         bytes[7]);
  show("ftruncate", ftruncate(fd, 12));
  struct stat status;
  show("fstat", fstat(fd, &status));
  printf("size %ld\n", (long)status.st_size);
  show("lseek-set", lseek(fd, 6, SEEK_SET));
  show("dup2", dup2(fd, 10));
  show("read-dup", read(10, text, 5));  // Shares the offset: "files".
  printf("dup read %.5s, offset %ld\n", text, (long)lseek(fd, 0, SEEK_CUR));
  show("fcntl-dupfd", fcntl(fd, F_DUPFD, 20));
  show("fcntl-getfl-rdwr", fcntl(20, F_GETFL) & O_ACCMODE);
  show("fcntl-getfd", fcntl(20, F_GETFD));
  show("fcntl-setfd", fcntl(20, F_SETFD, FD_CLOEXEC));
  show("fcntl-getfd", fcntl(20, F_GETFD));
  show("close-10", close(10));
  show("close-20", close(20));
  show("close", close(fd));
  show("read-closed", read(10, text, 1));

  fd = open("/tmp/work/notes.txt", O_WRONLY | O_APPEND);
  show("append", write(fd, "tail\n", 5));
  close(fd);
  show("stat", stat("/tmp/work/notes.txt", &status));
  printf("regular %d mode %o size %ld links %ld uid %d\n", S_ISREG(status.st_mode), status.st_mode & 07777,
         (long)status.st_size, (long)status.st_nlink, status.st_uid == getuid());
  print_file("/tmp/work/notes.txt");

  close(open("/tmp/work/b.txt", O_CREAT | O_WRONLY, 0600));
  show("mkdir-sub", mkdir("/tmp/work/sub", 0700));
  list("/tmp/work");
  show("rename", rename("/tmp/work/notes.txt", "/tmp/work/sub/moved.txt"));
  show("open-old", open("/tmp/work/notes.txt", O_RDONLY));
  show("stat-new", stat("/tmp/work/sub/moved.txt", &status));
  printf("size %ld\n", (long)status.st_size);
  show("rmdir-full", rmdir("/tmp/work/sub"));
  show("unlink", unlink("/tmp/work/sub/moved.txt"));
  show("rmdir", rmdir("/tmp/work/sub"));
  show("unlink-dir", unlink("/tmp/work"));
  show("unlinkat", unlinkat(AT_FDCWD, "/tmp/work/b.txt", 0));
  list("/tmp/work");
  show("rmdir-work", rmdir("/tmp/work"));
  list("/tmp");

  // Relative paths and the working directory.
  show("chdir", chdir("/tmp"));
  printf("cwd %s\n", getcwd(text, sizeof text));
  fd = open("rel.txt", O_CREAT | O_WRONLY | O_EXCL, 0644);
  show("write-rel", write(fd, "relative\n", 9));
  close(fd);
  show("open-excl", open("/tmp/rel.txt", O_CREAT | O_WRONLY | O_EXCL, 0644));
  print_file("/tmp/rel.txt");
  show("chdir-file", chdir("rel.txt"));
  show("chdir-up", chdir(".."));
  printf("cwd %s\n", getcwd(text, sizeof text));
  show("unlink-rel", unlink("tmp/rel.txt"));
  list("/");

  // The read-only tree.
  print_file("/etc/passwd");
  print_file("/etc/hostname");
  struct passwd* user = getpwuid(getuid());
  struct group* group = getgrgid(getgid());
  printf("user %s home %s group %s\n", user ? user->pw_name : "?", user ? user->pw_dir : "?",
         group ? group->gr_name : "?");
  fd = open("/dev/null", O_RDWR);
  show("null-write", write(fd, "gone", 4));
  show("null-read", read(fd, text, sizeof text));
  close(fd);
  char exe[256] = {0};
  ssize_t link = readlink("/proc/self/exe", exe, sizeof exe - 1);
  printf("exe %s\n", link < 0 ? "?" : exe);
  // The program's own file, through the link and by its path.
  fd = open("/proc/self/exe", O_RDONLY);
  char magic[4] = {0};
  show("exe-read", read(fd, magic, 4));
  printf("exe-magic %d %.3s\n", magic[0] == 0x7f, magic + 1);
  struct stat by_link, by_path;
  show("exe-fstat", fstat(fd, &by_link));
  show("exe-stat", stat(exe, &by_path));
  printf("exe-same %d executable %d\n", by_link.st_ino == by_path.st_ino && by_link.st_size == by_path.st_size,
         (by_path.st_mode & 0111) != 0);
  close(fd);
  show("exe-write", open(exe, O_WRONLY));
  show("access-read", access("/etc/passwd", R_OK));
  show("access-write", access("/etc/passwd", W_OK));
  show("access-tmp", access("/tmp", W_OK));

  // Errors.
  show("write-etc", open("/etc/passwd", O_WRONLY));
  show("create-root", open("/newfile", O_CREAT | O_WRONLY, 0644));
  show("mkdir-etc", mkdir("/etc/new", 0755));
  show("missing", open("/etc/shadow", O_RDONLY));
  show("mkdir-tmp", mkdir("/tmp", 0755));
  show("rmdir-tmp", rmdir("/tmp"));
  show("not-dir", open("/etc/passwd/x", O_RDONLY));
  show("write-dir", open("/tmp", O_WRONLY));
  show("dir-flag", open("/etc/passwd", O_RDONLY | O_DIRECTORY));
  show("rmdir-missing", rmdir("/tmp/missing"));
  memset(text, 'a', 300);
  text[300] = '\0';
  show("long-name", open(text, O_RDONLY));
  memset(text, 'b', 4100);
  text[0] = '/';
  text[4100] = '\0';
  show("long-path", open(text, O_RDONLY));
  show("bad-pointer", open((const char*)16, O_RDONLY));
  show("bad-buffer", read(0, (void*)16, 4));
  fd = open("/etc/hostname", O_RDONLY);
  show("read-into-text", read(fd, (void*)transcript, 4));
  show("write-readonly", write(fd, "x", 1));
  close(fd);
  fd = open("/tmp/edge", O_CREAT | O_RDWR, 0600);
  show("pwrite-huge", pwrite(fd, "x", 1, 1ll << 40));
  show("ftruncate-huge", ftruncate(fd, 1ll << 40));
  show("ftruncate-past-limit", ftruncate(fd, 1ll << 30));
  show("ftruncate-negative", ftruncate(fd, -1));
  show("write-from-kernel", write(fd, (const void*)0xffff800000000000ull, 8));
  show("lseek-negative", lseek(fd, -1, SEEK_SET));
  show("fstat-size", fstat(fd, &status) == 0 ? (long)status.st_size : -2);
  close(fd);
  unlink("/tmp/edge");
  fd = open("/tmp", O_RDONLY | O_DIRECTORY);
  show("getdents-tiny", syscall(SYS_getdents64, fd, text, 8));
  show("getdents-bad", syscall(SYS_getdents64, fd, (void*)16, 256));
  show("read-dir", read(fd, text, 16));
  close(fd);
  show("close-bad", close(1023));
  show("dup2-high", dup2(1, 1023));  // RLIMIT_NOFILE is 1024: the last descriptor works.
  show("close-high", close(1023));
  show("dup2-bad", dup2(1, 1024));
  int opened = 0;
  while (open("/dev/null", O_RDONLY) >= 0) ++opened;  // Each open is a description of its own.
  printf("descriptors %d then %s\n", opened, error_name(errno));
  for (int d = 3; d < 1024; ++d) close(d);
  int duplicated = 0;
  while (dup(1) >= 0) ++duplicated;  // Duplicates share stdout's description.
  printf("duplicates %d then %s\n", duplicated, error_name(errno));
  for (int d = 3; d < 1024; ++d) close(d);
  show("stdout-still", write(1, "", 0));
}

// Fills /tmp until the memory limit refuses, then frees and writes again.
static void fill(void) {
  static char chunk[64 * 1024];
  memset(chunk, 'x', sizeof chunk);
  int fd = open("/tmp/big", O_CREAT | O_WRONLY, 0600);
  long total = 0;
  int error = 0;
  for (int round = 0; round < 100000; ++round) {
    ssize_t written = write(fd, chunk, sizeof chunk);
    if (written < 0) {
      error = errno;
      break;
    }
    total += written;
  }
  printf("fill %s %s\n", error_name(error), total > (1 << 20) ? "after-some" : "too-little");
  struct stat status;
  fstat(fd, &status);
  printf("size-matches %d\n", status.st_size == total);
  show("unlink", unlink("/tmp/big"));
  show("close", close(fd));
  fd = open("/tmp/again", O_CREAT | O_WRONLY, 0600);
  long again = 0;
  for (int round = 0; round < 16; ++round) again += write(fd, chunk, sizeof chunk);
  printf("again %ld\n", again);
  close(fd);
  int files = 0;
  char name[32];
  for (; files < 1000; ++files) {
    snprintf(name, sizeof name, "/tmp/f%d", files);
    fd = open(name, O_CREAT | O_WRONLY, 0600);
    if (fd < 0) break;
    close(fd);
  }
  // Every one fits: the file store's node table grows with the memory limit (no table of 256).
  if (files < 1000) printf("files %d then %s\n", files, error_name(errno));
  else printf("files %d\n", files);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "fill") == 0) fill();
  else transcript();
  return 0;
}
