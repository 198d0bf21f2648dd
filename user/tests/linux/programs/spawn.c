// spawn: running other programs from a static C program (musl), in the image tree of the linux
// scenario: posix_spawn and posix_spawnp with file actions, popen for reading and for writing,
// system, vfork + execve + _exit, fexecve (execveat with AT_EMPTY_PATH), FD_CLOEXEC across
// execve, a program copied into /tmp and run from there, and every execve failure the shells
// see: ENOENT, EACCES (no x bit, a directory), ENOTDIR, ENOEXEC, ELOOP, E2BIG (one string past
// 128 KiB, all of them past 2 MiB), EFAULT. One line per check, the same bytes natively (chrooted
// in the tree by make-image-tree) and under the personality; exit status 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static void status_line(const char* what, int status) {
  if (WIFEXITED(status)) printf("%s: exited %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) printf("%s: signal %d\n", what, WTERMSIG(status));
  else printf("%s: other %d\n", what, status);
}

// Runs `path` with `arguments` in a child (fork + execve) and prints what execve said.
static void exec_error(const char* what, const char* path, char* const arguments[], char* const environment[]) {
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    execve(path, arguments, environment);
    printf("%s: %s\n", what, strerror(errno));
    fflush(stdout);
    _exit(errno);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) status_line(what, status);
}

// Reads everything from `descriptor` to stdout.
static void drain(int descriptor) {
  char buffer[512];
  ssize_t got;
  while ((got = read(descriptor, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)got, stdout);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  // posix_spawn with a pipe on stdout (file actions: dup2 and close).
  int pipe_ends[2];
  if (pipe(pipe_ends) != 0) return 1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[0]);
  posix_spawn_file_actions_addclose(&actions, pipe_ends[1]);
  char* head[] = {"head", "-n", "2", "/data/hello.txt", NULL};
  pid_t child = 0;
  int error = posix_spawn(&child, "/usr/bin/head", &actions, NULL, head, environ);
  close(pipe_ends[1]);
  printf("posix_spawn: %s\n", strerror(error));
  drain(pipe_ends[0]);
  close(pipe_ends[0]);
  int status = 0;
  waitpid(child, &status, 0);
  status_line("posix_spawn head", status);
  posix_spawn_file_actions_destroy(&actions);
  // posix_spawnp searches PATH; a missing program is the spawn's error, as musl reports it.
  char* sum[] = {"sha256sum", "/data/page.txt", NULL};
  fflush(stdout);
  error = posix_spawnp(&child, "sha256sum", NULL, NULL, sum, environ);
  waitpid(child, &status, 0);  // Before printing: the child writes to the same stdout.
  printf("posix_spawnp: %s\n", strerror(error));
  status_line("posix_spawnp sha256sum", status);
  char* nothing[] = {"nothing", NULL};
  error = posix_spawnp(&child, "nothing", NULL, NULL, nothing, environ);
  printf("posix_spawnp nothing: %s\n", strerror(error));

  // popen and system go through /bin/sh (busybox in the tree).
  FILE* reader = popen("/usr/bin/cat /data/hello.txt | /usr/bin/head -n 3 | /usr/bin/sha256sum", "r");
  char line[256];
  while (reader != NULL && fgets(line, sizeof line, reader) != NULL) printf("popen read: %s", line);
  status_line("pclose reader", pclose(reader));
  FILE* writer = popen("/usr/bin/head -n 1; exit 6", "w");
  fputs("written to popen\nsecond line\n", writer);
  fflush(stdout);
  status_line("pclose writer", pclose(writer));
  fflush(stdout);
  status_line("system exit 7", system("exit 7"));
  fflush(stdout);
  status_line("system cat", system("/usr/bin/cat /data/missing 2>/dev/null || echo 'cat failed'"));
  fflush(stdout);
  status_line("system kill", system("kill -TERM $$"));

  // vfork + execve; the child's _exit when execve fails.
  fflush(stdout);
  child = vfork();
  if (child == 0) {
    execve("/usr/bin/cat", (char*[]){"cat", "/data/sub/inner.txt", NULL}, environ);
    _exit(99);
  }
  waitpid(child, &status, 0);
  status_line("vfork cat", status);
  child = vfork();
  if (child == 0) {
    execve("/usr/bin/nothing", (char*[]){"nothing", NULL}, environ);
    _exit(98);
  }
  waitpid(child, &status, 0);
  status_line("vfork nothing", status);

  // argv and envp reach the new program; FD_CLOEXEC descriptors are gone there, others stay.
  int kept = open("/data/hello.txt", O_RDONLY);
  int closed = open("/data/numbers.txt", O_RDONLY | O_CLOEXEC);
  if (dup2(kept, 6) != 6 || dup2(closed, 7) != 7 || fcntl(7, F_SETFD, FD_CLOEXEC) != 0) return 2;
  fflush(stdout);
  child = fork();
  if (child == 0) {
    char* shell[] = {"sh", "-c",
                     "echo \"argv: $0 $1, VARIABLE=$VARIABLE\"; read -r l <&6 && echo \"fd 6: $l\"; "
                     "if read -r l <&7; then echo \"fd 7 open\"; else echo \"fd 7 closed\"; fi 2>/dev/null",
                     "zero", "one", NULL};
    char* environment[] = {"VARIABLE=value", "PATH=/usr/bin", NULL};
    execve("/bin/sh", shell, environment);
    _exit(97);
  }
  waitpid(child, &status, 0);
  status_line("cloexec", status);

  // fexecve: execveat on a descriptor, with AT_EMPTY_PATH.
  fflush(stdout);
  child = fork();
  if (child == 0) {
    int program = open("/usr/bin/head", O_RDONLY);
    fexecve(program, (char*[]){"head", "-c", "6", "/data/hello.txt", NULL}, environ);
    _exit(96);
  }
  waitpid(child, &status, 0);
  printf("\n");
  status_line("fexecve head", status);

  // A program copied into /tmp runs from there.
  int from = open("/usr/bin/head", O_RDONLY);
  int to = open("/tmp/head", O_WRONLY | O_CREAT | O_TRUNC, 0755);
  char copy[4096];
  ssize_t got;
  while ((got = read(from, copy, sizeof copy)) > 0)
    if (write(to, copy, (size_t)got) != got) return 3;
  close(from);
  close(to);
  fflush(stdout);
  child = fork();
  if (child == 0) {
    execve("/tmp/head", (char*[]){"head", "-n", "1", "/data/numbers.txt", NULL}, environ);
    _exit(95);
  }
  waitpid(child, &status, 0);
  status_line("head from /tmp", status);
  // A script written to /tmp, run by its #! interpreter with its path as an argument.
  to = open("/tmp/script", O_WRONLY | O_CREAT | O_TRUNC, 0700);
  const char script[] = "#!/bin/sh   -e  \necho \"script in /tmp: $0 $1 $-\"\nfalse\necho never\n";
  if (write(to, script, sizeof script - 1) != (ssize_t)(sizeof script - 1)) return 4;
  close(to);
  fflush(stdout);
  child = fork();
  if (child == 0) {
    execve("/tmp/script", (char*[]){"ignored", "argument", NULL}, environ);
    _exit(94);
  }
  waitpid(child, &status, 0);
  status_line("script from /tmp", status);

  // The failures.
  char* plain[] = {"program", NULL};
  exec_error("missing", "/usr/bin/nothing", plain, environ);
  exec_error("missing directory", "/nowhere/program", plain, environ);
  exec_error("not executable", "/data/hello.txt", plain, environ);
  exec_error("directory", "/data", plain, environ);
  exec_error("not a directory", "/data/hello.txt/program", plain, environ);
  exec_error("device", "/dev/null", plain, environ);
  exec_error("no #! line", "/scripts/plain", plain, environ);
  exec_error("script loop", "/scripts/loop.sh", plain, environ);
  to = open("/tmp/garbage", O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (write(to, "\177ELF garbage", 12) != 12) return 5;
  close(to);
  exec_error("bad ELF", "/tmp/garbage", plain, environ);
  to = open("/tmp/empty-script", O_WRONLY | O_CREAT | O_TRUNC, 0755);
  if (write(to, "#!\n", 3) != 3) return 6;
  close(to);
  exec_error("#! without interpreter", "/tmp/empty-script", plain, environ);
  exec_error("missing interpreter", "/scripts/missing-interpreter.sh", plain, environ);
  static char huge[200000];
  memset(huge, 'x', sizeof huge - 1);
  exec_error("one string past 128 KiB", "/usr/bin/head", (char*[]){"head", huge, NULL}, environ);
  // Twenty copies of one 120,000-byte variable: under the per-string limit, past 2 MiB together.
  static char variable[120000];
  memset(variable, 'y', sizeof variable - 1);
  variable[0] = 'A';
  variable[1] = '=';
  char* environment[21];
  for (int i = 0; i < 20; ++i) environment[i] = variable;
  environment[20] = NULL;
  exec_error("all past 2 MiB", "/usr/bin/head", plain, environment);
  exec_error("bad argv pointer", "/usr/bin/head", (char*[]){"head", (char*)16, NULL}, environ);
  return 0;
}
