// Files shared by the processes of one invocation: a child writes, renames and deletes files in
// /tmp and in a directory of the image (/work: the writable layer in the guest, a directory owned by
// the user natively), creates 2,000 files in each and lists them; its parent reads all of it after
// wait. Then open file descriptions shared across fork and dup (one offset, O_APPEND, FD_CLOEXEC
// per descriptor), and more pipes and open files than fixed tables held. Prints a transcript that
// must equal the native run's byte for byte (names are sorted: directory order differs).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MANY = 2000 };

static void result(const char* what, long value) {
  if (value < 0) printf("%s: -1 errno %d\n", what, errno);
  else printf("%s: %ld\n", what, value);
}

static void write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
    printf("write %s failed: errno %d\n", path, errno);
    exit(2);
  }
}

static void show_file(const char* path) {
  char buffer[256];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    printf("%s: open errno %d\n", path, errno);
    return;
  }
  ssize_t count = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  buffer[count < 0 ? 0 : count] = '\0';
  printf("%s: \"%s\"\n", path, buffer);
}

static int compare(const void* left, const void* right) {
  return strcmp(*(char* const*)left, *(char* const*)right);
}

// The directory's names (without . and ..), sorted, on one line; or its count and the sum of the
// numbers the names carry when there are many.
static void list(const char* path) {
  DIR* directory = opendir(path);
  if (directory == NULL) {
    printf("list %s: errno %d\n", path, errno);
    return;
  }
  static char* names[MANY + 16];
  size_t count = 0;
  long sum = 0;
  struct dirent* entry;
  while ((entry = readdir(directory)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (count < MANY + 16) names[count++] = strdup(entry->d_name);
    sum += atol(entry->d_name + 1);
  }
  closedir(directory);
  qsort(names, count, sizeof names[0], compare);
  if (count > 16) {
    printf("list %s: %zu entries, first %s, last %s, sum %ld\n", path, count, names[0], names[count - 1], sum);
  } else {
    printf("list %s:", path);
    for (size_t i = 0; i < count; ++i) printf(" %s", names[i]);
    printf("\n");
  }
  for (size_t i = 0; i < count; ++i) free(names[i]);
}

static void make_many(const char* directory) {
  char path[64];
  if (mkdir(directory, 0755) != 0) printf("mkdir %s: errno %d\n", directory, errno);
  for (int i = 0; i < MANY; ++i) {
    snprintf(path, sizeof path, "%s/f%d", directory, i);
    char text[16];
    snprintf(text, sizeof text, "%d\n", i * 7);
    write_file(path, text);
  }
}

// Reads every file make_many wrote and sums their numbers.
static void read_many(const char* directory) {
  char path[64], text[16];
  long sum = 0;
  int missing = 0;
  for (int i = 0; i < MANY; ++i) {
    snprintf(path, sizeof path, "%s/f%d", directory, i);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
      ++missing;
      continue;
    }
    ssize_t count = read(fd, text, sizeof text - 1);
    close(fd);
    text[count < 0 ? 0 : count] = '\0';
    sum += atol(text);
  }
  printf("read %s: %d missing, sum %ld\n", directory, missing, sum);
}

static void child_changes_files(void) {
  write_file("/tmp/a.txt", "from the child\n");
  if (rename("/tmp/a.txt", "/tmp/b.txt") != 0) printf("rename /tmp: errno %d\n", errno);
  if (mkdir("/tmp/d", 0700) != 0) printf("mkdir /tmp/d: errno %d\n", errno);
  write_file("/tmp/d/x", "nested\n");
  write_file("/work/new.txt", "new in the image\n");
  if (rename("/work/seed.txt", "/work/moved.txt") != 0) printf("rename /work: errno %d\n", errno);
  if (unlink("/work/gone.txt") != 0) printf("unlink /work/gone.txt: errno %d\n", errno);
  if (mkdir("/work/sub", 0755) != 0) printf("mkdir /work/sub: errno %d\n", errno);
  write_file("/work/sub/f", "in a new directory\n");
  if (mkdir("/work/sub/deeper", 0755) != 0) printf("mkdir /work/sub/deeper: errno %d\n", errno);
  if (rename("/work/sub/deeper", "/work/renamed") != 0) printf("rename directory: errno %d\n", errno);
  make_many("/tmp/many");
  make_many("/work/many");
  list("/tmp/many");
  list("/work/many");
  fflush(stdout);
}

static void parent_reads_files(void) {
  struct stat status;
  show_file("/tmp/b.txt");
  result("stat /tmp/a.txt", stat("/tmp/a.txt", &status));
  show_file("/tmp/d/x");
  show_file("/work/new.txt");
  show_file("/work/moved.txt");
  result("stat /work/seed.txt", stat("/work/seed.txt", &status));
  result("stat /work/gone.txt", stat("/work/gone.txt", &status));
  show_file("/work/sub/f");
  result("stat /work/renamed is a directory", stat("/work/renamed", &status) == 0 && S_ISDIR(status.st_mode));
  list("/work");
  list("/work/sub");
  list("/tmp");
  read_many("/tmp/many");
  read_many("/work/many");
  // Directories: not empty, then emptied; the image's own directory once its file is gone.
  result("rmdir /work/sub", rmdir("/work/sub"));
  result("unlink /work/sub/f", unlink("/work/sub/f"));
  result("rmdir /work/sub", rmdir("/work/sub"));
  result("rmdir /work/old", rmdir("/work/old"));
  result("unlink /work/old/f", unlink("/work/old/f"));
  result("rmdir /work/old", rmdir("/work/old"));
  result("stat /work/old", stat("/work/old", &status));
  result("mkdir /work/old", mkdir("/work/old", 0755));
  list("/work/old");
  result("rmdir /tmp/d", rmdir("/tmp/d"));
  result("unlink a directory", unlink("/work/renamed"));
  result("rename across file systems", rename("/work/moved.txt", "/tmp/moved.txt"));
  result("rename /tmp to the image", rename("/tmp/b.txt", "/work/b.txt"));
  result("rename onto a directory", rename("/work/new.txt", "/work/renamed"));
  result("rename a directory onto a file", rename("/work/renamed", "/work/new.txt"));
  result("mkdir existing", mkdir("/work/keep.txt", 0755));
  // Copy-up on write, then ftruncate and stat of the copy.
  int fd = open("/work/keep.txt", O_RDWR);
  result("open /work/keep.txt read-write", fd >= 0);
  result("ftruncate", ftruncate(fd, 4));
  result("fstat size", fstat(fd, &status) == 0 ? (long)status.st_size : -1);
  result("append", write(fd, "...", 3) > 0 ? lseek(fd, 0, SEEK_CUR) : -1);
  close(fd);
  result("stat size", stat("/work/keep.txt", &status) == 0 ? (long)status.st_size : -1);
  show_file("/work/keep.txt");
  // By path: truncate of the layer's file and of a directory, access of a new file.
  result("truncate new.txt", truncate("/work/new.txt", 3));
  show_file("/work/new.txt");
  result("truncate a directory", truncate("/work/old", 0));
  result("access x of new.txt", access("/work/new.txt", X_OK));
  result("access w of new.txt", access("/work/new.txt", W_OK));
  list("/work");
}

// Parent and child write in turn through one description: the writes follow each other in the file.
static void shared_offset(void) {
  int fd = open("/tmp/shared", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int to_child[2], to_parent[2];
  if (fd < 0 || pipe(to_child) != 0 || pipe(to_parent) != 0) {
    printf("shared offset setup: errno %d\n", errno);
    return;
  }
  int copy = dup(fd);
  fcntl(copy, F_SETFD, FD_CLOEXEC);
  printf("FD_CLOEXEC: dup %d, original %d\n", fcntl(copy, F_GETFD), fcntl(fd, F_GETFD));
  pid_t child = fork();
  char token = 't';
  if (child == 0) {
    for (int round = 1; round <= 5; ++round) {
      char text[8];
      snprintf(text, sizeof text, "c%d ", round);
      write(round % 2 == 0 ? copy : fd, text, strlen(text));
      write(to_parent[1], &token, 1);
      read(to_child[0], &token, 1);
    }
    fcntl(fd, F_SETFL, O_APPEND);
    lseek(fd, 2, SEEK_SET);
    write(to_parent[1], &token, 1);
    _exit(0);
  }
  for (int round = 1; round <= 5; ++round) {
    char text[8];
    read(to_parent[0], &token, 1);
    snprintf(text, sizeof text, "p%d ", round);
    write(fd, text, strlen(text));
    write(to_child[1], &token, 1);
  }
  read(to_parent[0], &token, 1);
  int status = 0;
  waitpid(child, &status, 0);
  printf("child status %d; parent sees O_APPEND %d, offset %ld\n", status, (fcntl(fd, F_GETFL) & O_APPEND) != 0,
         (long)lseek(copy, 0, SEEK_CUR));
  write(fd, "end\n", 4);  // O_APPEND (set by the child): at the end, whatever the offset.
  close(fd);
  close(copy);
  show_file("/tmp/shared");
}

// More pipes and open files at once than the old fixed tables held (16 pipes, 128 descriptions).
static void many_descriptors(void) {
  enum { PIPES = 200, FILES = 300 };
  static int pipes[PIPES][2];
  int made = 0, echoed = 0;
  for (int i = 0; i < PIPES; ++i) {
    if (pipe(pipes[i]) != 0) break;
    ++made;
    char byte = (char)i, back = 0;
    if (write(pipes[i][1], &byte, 1) == 1 && read(pipes[i][0], &back, 1) == 1 && back == byte) ++echoed;
  }
  for (int i = 0; i < made; ++i) {
    close(pipes[i][0]);
    close(pipes[i][1]);
  }
  printf("pipes: %d made, %d echoed\n", made, echoed);
  static int files[FILES];
  int opened = 0;
  for (int i = 0; i < FILES; ++i) {
    char path[32];
    snprintf(path, sizeof path, "/tmp/many/f%d", i);
    files[i] = open(path, O_RDONLY);
    if (files[i] < 0) break;
    ++opened;
  }
  for (int i = 0; i < opened; ++i) close(files[i]);
  printf("files open at once: %d\n", opened);
}

int main(void) {
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  pid_t child = fork();
  if (child == 0) {
    child_changes_files();
    _exit(0);
  }
  int status = 0;
  result("wait", waitpid(child, &status, 0) == child ? status : -1);
  parent_reads_files();
  shared_offset();
  fflush(stdout);
  many_descriptors();
  return 0;
}
