// Benchmark statistics and result lines: min, median and p99 of per-operation samples, printed as
// "BENCH <metric> ns min=<> median=<> p99=<> n=<>" exactly like the Linux baseline's workloads.
// Invariant: samples are tenths of nanoseconds per operation (integers: user code has no FPU).
#pragma once

#include "sys/sys.hpp"

namespace bench {

using sys::u64;

// Converts a TSC interval to tenths of nanoseconds per operation.
u64 tenths_of_nanoseconds(u64 ticks, u64 operations, u64 tsc_hertz);

// Sorts samples in place and prints the result line.
void report(sys::Console console, const char* metric, u64* samples, u64 count);
void report_error(sys::Console console, const char* metric, const char* reason);

inline u64 read_tsc() {
  sys::u32 low, high;
  asm volatile("rdtsc" : "=a"(low), "=d"(high));
  return (u64{high} << 32) | low;
}

}  // namespace bench
