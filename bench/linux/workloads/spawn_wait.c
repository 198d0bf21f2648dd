/* spawn_wait.c: times posix_spawn + waitpid of a program (the empty program, or crun run). */
#include "bench.h"
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Usage: spawn_wait <metric> <samples> <warmup> <path> [args...]. Each sample
 * is one start-to-reaped run; a child that fails makes the whole metric fail,
 * because a failed container start is much faster than a real one. With
 * BENCH_QUIET=1 in the environment the child's stdout is /dev/null, so a
 * program that prints (hello, world) does not write into the serial results. */
int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s <metric> <samples> <warmup> <path> [args...]\n", argv[0]);
        return 2;
    }
    const char *metric = argv[1];
    long n = bench_count(argv[2], "samples"), warm = bench_count(argv[3], "warmup");
    double *s = bench_alloc(n);
    char msg[160];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_t *use_actions = NULL;
    const char *quiet = getenv("BENCH_QUIET");
    if (quiet != NULL && strcmp(quiet, "1") == 0) {
        if (posix_spawn_file_actions_init(&actions) != 0 ||
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) != 0)
            bench_fail(metric, "posix_spawn_file_actions failed");
        use_actions = &actions;
    }
    for (long k = -warm; k < n; k++) {
        pid_t pid;
        int st;
        uint64_t t0 = bench_now_ns();
        int e = posix_spawn(&pid, argv[4], use_actions, NULL, &argv[4], environ);
        if (e != 0) {
            snprintf(msg, sizeof msg, "posix_spawn %s failed: %s", argv[4], strerror(e));
            bench_fail(metric, msg);
        }
        if (waitpid(pid, &st, 0) != pid)
            bench_fail(metric, "waitpid failed");
        uint64_t t1 = bench_now_ns();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            snprintf(msg, sizeof msg, "child %s failed with wait status 0x%x at iteration %ld", argv[4], st, k);
            bench_fail(metric, msg);
        }
        if (k >= 0)
            s[k] = (double)(t1 - t0);
    }
    bench_report(metric, s, n);
    return 0;
}
