/* bench.h: shared timing, statistics and result-line printing for the Linux baseline workloads. */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC goes through the vDSO and reads the TSC, so a sample costs no
 * system call; under -icount the guest TSC advances 1 ns per instruction. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses a positive count argument; a bad count is a usage error, not a zero. */
static inline long bench_count(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "bad %s: '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static inline double *bench_alloc(long n)
{
    double *p = calloc((size_t)n, sizeof *p);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    return p;
}

/* A workload that cannot run reports it in the serial format, so the parser
 * fails with the reason instead of a generic "metric missing". */
static inline void bench_fail(const char *metric, const char *why)
{
    printf("BENCH-ERROR %s %s\n", metric, why);
    fflush(stdout);
    exit(1);
}

/* Prints one result line: min, median and p99 (nearest rank) of the samples,
 * each sample being nanoseconds per operation. */
static inline void bench_report(const char *metric, double *s, long n)
{
    qsort(s, (size_t)n, sizeof *s, bench_cmp);
    double median = (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    long rank = (long)((99 * n + 99) / 100); /* ceil(0.99 n), 1-based */
    if (rank < 1)
        rank = 1;
    printf("BENCH %s ns min=%.1f median=%.1f p99=%.1f n=%ld\n", metric, s[0], median, s[rank - 1], n);
    fflush(stdout);
}

#endif
