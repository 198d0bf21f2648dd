/* demand_zero.c: the cost of a demand-zero page fault. Each sample maps a fresh anonymous region
 * of <pages> pages (reserved, not populated), touches one byte of every page in order, and
 * unmaps it; the sample is the touching time divided by the pages touched, so mmap and munmap
 * are outside it. MettEagle's demand_zero_page measures the same on a lazy Memory. */
#include "bench.h"
#include <sys/mman.h>
#include <unistd.h>

/* Usage: demand_zero <samples> <warmup> <pages>. */
int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <samples> <warmup> <pages>\n", argv[0]);
        return 2;
    }
    long n = bench_count(argv[1], "samples"), warm = bench_count(argv[2], "warmup");
    long pages = bench_count(argv[3], "pages");
    long page = sysconf(_SC_PAGESIZE);
    double *s = bench_alloc(n);
    for (long k = -warm; k < n; k++) {
        volatile char *region = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE,
                                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED)
            bench_fail("demand_zero_page", "mmap failed");
        uint64_t t0 = bench_now_ns();
        for (long p = 0; p < pages; p++)
            region[p * page] = 1;
        uint64_t t1 = bench_now_ns();
        if (munmap((void *)region, (size_t)(pages * page)) != 0)
            bench_fail("demand_zero_page", "munmap failed");
        if (k >= 0)
            s[k] = (double)(t1 - t0) / (double)pages;
    }
    bench_report("demand_zero_page", s, n);
    return 0;
}
