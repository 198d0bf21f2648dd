/* pipe_roundtrip.c: 1-byte ping-pong between two processes over two pipes on one CPU. */
#include "bench.h"
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void must_rw(ssize_t r, const char *what)
{
    if (r != 1)
        bench_fail("pipe_roundtrip", what);
}

/* Usage: pipe_roundtrip <samples> <batch>. Both processes are pinned to CPU 0
 * so the figure is a same-CPU round trip, the case MettEagle's
 * ipc_roundtrip_same_cpu measures; a sample is the mean over a batch. */
int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <samples> <batch>\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], "samples"), batch = bench_count(argv[2], "batch");
    double *s = bench_alloc(n);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        bench_fail("pipe_roundtrip", "sched_setaffinity failed");
    int ping[2], pong[2];
    if (pipe(ping) || pipe(pong))
        bench_fail("pipe_roundtrip", "pipe failed");
    pid_t child = fork();
    if (child < 0)
        bench_fail("pipe_roundtrip", "fork failed");
    char c = 'x';
    if (child == 0) {
        /* The child echoes every byte until the parent closes its end; it
         * drops its copy of that end so the close is seen as end-of-file. */
        close(ping[1]);
        close(pong[0]);
        for (;;) {
            if (read(ping[0], &c, 1) != 1)
                _exit(0);
            if (write(pong[1], &c, 1) != 1)
                _exit(1);
        }
    }
    close(ping[0]);
    close(pong[1]);
    /* Untimed round trips let both processes settle on the CPU first. */
    for (long i = 0; i < batch; i++) {
        must_rw(write(ping[1], &c, 1), "write failed");
        must_rw(read(pong[0], &c, 1), "read failed");
    }
    for (long k = 0; k < n; k++) {
        uint64_t t0 = bench_now_ns();
        for (long i = 0; i < batch; i++) {
            must_rw(write(ping[1], &c, 1), "write failed");
            must_rw(read(pong[0], &c, 1), "read failed");
        }
        s[k] = (double)(bench_now_ns() - t0) / (double)batch;
    }
    close(ping[1]);
    int st;
    waitpid(child, &st, 0);
    bench_report("pipe_roundtrip", s, n);
    return 0;
}
