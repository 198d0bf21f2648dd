/* fork_exec_wait.c: times fork + execv + waitpid of a program. */
#include "bench.h"
#include <sys/wait.h>
#include <unistd.h>

/* Usage: fork_exec_wait <metric> <samples> <warmup> <path> [args...]. */
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
    for (long k = -warm; k < n; k++) {
        int st;
        uint64_t t0 = bench_now_ns();
        pid_t pid = fork();
        if (pid < 0)
            bench_fail(metric, "fork failed");
        if (pid == 0) {
            execv(argv[4], &argv[4]);
            _exit(127);
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
