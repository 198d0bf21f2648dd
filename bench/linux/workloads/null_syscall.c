/* null_syscall.c: cost of a trivial system call (getppid), timed in batches. */
#include "bench.h"
#include <sys/syscall.h>
#include <unistd.h>

/* Usage: null_syscall <samples> <batch>. One sample is the mean over a batch,
 * because a single getppid is shorter than the clock read around it. */
int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <samples> <batch>\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], "samples"), batch = bench_count(argv[2], "batch");
    double *s = bench_alloc(n);
    /* One untimed batch warms the caches and the TCG translation cache. */
    for (long i = 0; i < batch; i++)
        syscall(SYS_getppid);
    for (long k = 0; k < n; k++) {
        uint64_t t0 = bench_now_ns();
        for (long i = 0; i < batch; i++)
            syscall(SYS_getppid);
        s[k] = (double)(bench_now_ns() - t0) / (double)batch;
    }
    bench_report("null_syscall", s, n);
    return 0;
}
