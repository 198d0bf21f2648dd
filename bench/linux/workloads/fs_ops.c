/* fs_ops.c: file-operation costs (issue 11): fs_stat (stat of a 4 KiB file), fs_open_read_close
 * (open, read of its 4 KiB, close) and fs_getdents_1000 (open of a 1,000-entry directory,
 * getdents64 to the end, close). The same source runs in the Linux guest (static, on the
 * initramfs) and on MettEagle (dynamically linked, from an image tree, as an image function).
 *
 * Usage: fs_ops <metric> <samples> <batch> <file> <directory>. A sample is the mean over a batch
 * of calls (listings); a failed call or a listing without exactly 1,002 names (1,000 entries,
 * "." and "..") is a BENCH-ERROR. */
#include "bench.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buffer[4096];
static char entries[32768];

static int stat_once(const char *file, const char *directory)
{
    (void)directory;
    struct stat info;
    return stat(file, &info) == 0 && info.st_size == (off_t)sizeof buffer;
}

static int open_read_close_once(const char *file, const char *directory)
{
    (void)directory;
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return 0;
    int ok = read(fd, buffer, sizeof buffer) == (ssize_t)sizeof buffer;
    return close(fd) == 0 && ok;
}

static int list_once(const char *file, const char *directory)
{
    (void)file;
    int fd = open(directory, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return 0;
    long names = 0;
    for (;;) {
        long used = syscall(SYS_getdents64, fd, entries, sizeof entries);
        if (used < 0) {
            close(fd);
            return 0;
        }
        if (used == 0)
            break;
        /* Each record: inode (8), offset (8), record length (2), type, name. */
        for (long at = 0; at < used; at += *(unsigned short *)(entries + at + 16))
            ++names;
    }
    return close(fd) == 0 && names == 1002;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s <metric> <samples> <batch> <file> <directory>\n", argv[0]);
        return 2;
    }
    const char *metric = argv[1];
    long n = bench_count(argv[2], "samples"), batch = bench_count(argv[3], "batch");
    int (*operation)(const char *, const char *);
    if (strcmp(metric, "fs_stat") == 0)
        operation = stat_once;
    else if (strcmp(metric, "fs_open_read_close") == 0)
        operation = open_read_close_once;
    else if (strcmp(metric, "fs_getdents_1000") == 0)
        operation = list_once;
    else
        bench_fail(metric, "unknown metric");
    double *s = bench_alloc(n);
    if (!operation(argv[4], argv[5]))
        bench_fail(metric, "the operation failed (warm-up)");
    for (long i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        for (long j = 0; j < batch; j++)
            if (!operation(argv[4], argv[5]))
                bench_fail(metric, "the operation failed");
        s[i] = (double)(bench_now_ns() - t0) / (double)batch;
    }
    bench_report(metric, s, n);
    free(s);
    return 0;
}
